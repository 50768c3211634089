"""Which directories an export may replace, and the clean-up of its own leftovers.

An export replaces ``-o DIR`` as a whole, so it only does that to a directory it made: one
holding an export manifest (and, for newer exports, nothing beyond the files that manifest
lists). Anything else, or a directory holding the checkpoint or the working directory, is a
``UsageError`` and nothing is touched. Temporary folders carry our pid and a marker file, so
the ones a killed export left behind can be told apart from anyone else's and removed.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from ..errors import ManifestError, UsageError
from .manifest import Manifest

MARKER = ".embbert-mcu-export"  # inside every temporary folder an export writes
KEEP = {"host"}  # the host build's cache, written into an export by --verify and bench
LEGACY_AGE_S = 3600.0  # an unmarked temp folder (older versions) this old is abandoned
_OUR_FILE = re.compile(r"^(emb_\w+\.[ch]|model\.[ch]|weights\.c|manifest\.json|testset\.jsonl"
                       r"|tokenizer\.json|model\.onnx)$")


def temp_prefix(out: Path) -> str:
    return f".{out.name}.{os.getpid()}."


def read_export_manifest(path: Path) -> Manifest | None:
    """The manifest of the export in ``path``, or None when ``path`` is not an export (or
    one this version cannot read: it is not replaced either)."""
    try:
        return Manifest.load(path)
    except ManifestError:
        return None


def check_replaceable(out: Path, checkpoint: Path) -> None:
    """Raise UsageError unless ``out`` is absent, empty, or an export of ours."""
    if not out.exists() and not out.is_symlink():
        return
    hint = "choose a new or empty folder for -o (the default is build/model)"
    if out.is_symlink() or not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory", hint=hint)
    real = out.resolve()
    if real == Path.cwd().resolve() or real in Path.cwd().resolve().parents:
        raise UsageError(f"-o {out} is the working directory (or holds it); it is never replaced",
                         hint=hint)
    if real in checkpoint.resolve().parents:
        raise UsageError(f"-o {out} holds the checkpoint {checkpoint}; it is never replaced",
                         hint=hint)
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    manifest = read_export_manifest(out)
    if manifest is None:
        raise UsageError(f"{out} is not an export directory (no export manifest.json) and "
                         f"holds {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, e.g. "
                         f"{entries[0]}; nothing was changed", hint=hint)
    if manifest.files is not None:
        ours = set(manifest.files)
        foreign = [rel for rel in _files_below(out)
                   if rel not in ours and rel.split("/")[0] not in KEEP]
        if foreign:
            raise UsageError(f"{out} is an export but also holds {', '.join(foreign[:3])}, "
                             f"which the export did not write; nothing was changed",
                             hint="move those files out, or choose another -o")


def _files_below(out: Path) -> list[str]:
    """Every file and symlink under ``out`` as a relative POSIX path (symlinks not followed)."""
    found = []
    for path in sorted(out.rglob("*")):
        if path.is_symlink() or not path.is_dir():
            found.append(path.relative_to(out).as_posix())
    return found


def clean_stale(parent: Path, name: str, now: float | None = None) -> list[Path]:
    """Remove temporary folders of earlier exports to ``parent/name`` that were killed.

    Only folders named like ours are looked at; one is removed when it holds our marker and
    the pid in its name is no longer running, or (older versions, no marker) when it is older
    than an hour and holds nothing but files an export writes.
    """
    now = time.time() if now is None else now
    pattern = re.compile(rf"^\.{re.escape(name)}\.(?:(\d+)\.)?[^./]+\.(?:tmp|old)$")
    removed = []
    for path in sorted(parent.glob(f".{name}.*")):
        match = pattern.match(path.name)
        if not match or path.is_symlink() or not path.is_dir():
            continue
        pid = int(match.group(1)) if match.group(1) else None
        if (path / MARKER).is_file():
            if pid is None or pid == os.getpid() or _alive(pid):
                continue
        elif not _legacy_leftover(path, now):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _legacy_leftover(path: Path, now: float) -> bool:
    try:
        if now - path.stat().st_mtime < LEGACY_AGE_S:
            return False
        return all(p.is_file() and _OUR_FILE.match(p.name) for p in path.iterdir())
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: leave its folder alone
    return True
