"""Atomic file writes: a reader never sees half a file, a failed write loses nothing."""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step."""
    from .errors import UsageError

    target = Path(path)
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        os.replace(tmp, target)
    except OSError as exc:  # read-only, missing or full: the boundary where it happens
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}",
                         hint="check the location is writable and has free space") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_writable(path: str | os.PathLike, what: str = "output", min_free_bytes: int = 0,
                   directory: bool = False) -> None:
    """Raise UsageError now, before long work, if ``path`` cannot be written.

    Writes (and removes) a small probe file where the output will go, so a read-only,
    missing or full location fails before a training run instead of after it. ``directory``
    says the output is a folder (its parent gets the probe).
    """
    from .errors import UsageError

    target = Path(path)
    hint = f"choose a writable location for the {what}"
    if target.exists() and not directory and not target.is_file():
        raise UsageError(f"the {what} {target} exists and is not a regular file", hint=hint)
    if target.exists() and directory and not target.is_dir():
        raise UsageError(f"the {what} {target} exists and is not a directory", hint=hint)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(b"\0" * 4096)  # a full disk takes an empty file but not a block
                f.flush()
                os.fsync(f.fileno())
        finally:
            os.unlink(probe)
        free = _free_bytes(parent)
    except OSError as exc:
        raise UsageError(f"cannot write the {what} {target}: {exc.strerror or exc}",
                         hint=hint) from None
    if free is not None and free < min_free_bytes:
        raise UsageError(f"only {free:,} bytes free at {parent}, the {what} needs about "
                         f"{min_free_bytes:,}", hint=f"free some space or {hint}")


def _free_bytes(folder: Path) -> int | None:
    try:
        import shutil

        return shutil.disk_usage(folder).free
    except OSError:
        return None
