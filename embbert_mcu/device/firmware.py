"""The firmware's sources: harness, port files, the export's C, and the glue between them.

Used by ``flash`` (PlatformIO projects) and by the host build of the harness that the
protocol tests run under AddressSanitizer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..ccompile import compile_c
from ..errors import UsageError
from ..export.manifest import Manifest
from ..fileio import write_text
from ..resources import resource_dir
from .render import render

SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1")
BIND_HEADER = "emb_model_bind.h"


def bind_header(manifest: Manifest, board_id: str) -> str:
    """emb_model_bind.h: the harness's fixed EMB_MODEL_* names for this export's prefix."""
    p = manifest.prefix
    up = p.upper()
    names = [("RUN", f"{p}_run"), ("ARENA_BYTES", f"{up}_ARENA_BYTES"),
             ("MAX_LEN", f"{up}_MAX_LEN"), ("N_CLASSES", f"{up}_N_CLASSES"),
             ("VOCAB_SIZE", f"{up}_VOCAB_SIZE"), ("N_STAGES", f"{up}_N_STAGES"),
             ("SHA256", f"{up}_MODEL_SHA256"), ("STAGE_NAMES", f"{p}_stage_names"),
             ("PREFIX", json.dumps(p))]
    if manifest.windows > 1:  # TEXT reads a long text as windows, as the export's API does
        names += [("WINDOWS", f"{up}_WINDOWS"), ("WINDOW_STRIDE", f"{up}_WINDOW_STRIDE"),
                  ("TEXT_IDS", f"{up}_TEXT_IDS")]
    # exports since the library layout have prefixed files and a tokenizer (TEXT requests)
    tokenizer = bool(manifest.tokenizer)
    return render("emb_model_bind.h.j2", BIND_HEADER, board_id, manifest.model_sha256,
                  names=names, model_header=f"{p}_model.h" if tokenizer else "model.h",
                  tokenizer_header=f"{p}_tokenizer.h" if tokenizer else "",
                  tokenize=f"{p}_tokenize")


def harness_sources() -> list[Path]:
    """Harness .c and .h files (portable, shared by every port)."""
    return sorted(p for p in (resource_dir("firmware") / "harness").iterdir()
                  if p.suffix in (".c", ".h"))


def port_dir(port: str) -> Path:
    path = resource_dir("firmware") / "ports" / port
    if not path.is_dir():
        raise UsageError(f"no firmware port {port!r}", hint=f"ports live in {path.parent}")
    return path


def model_sources(model_dir: str | Path) -> list[Path]:
    """The export's C and headers (src/, or the top level of an older export; host/ holds
    the host build's cache)."""
    from ..export.layout import source_dir

    return sorted(p for p in source_dir(model_dir).iterdir()
                  if p.is_file() and p.suffix in (".c", ".h"))


def staged_names(model_dir: str | Path, port: str) -> set[str]:
    """The file names ``stage_sources`` (and the board's extras) write into src/."""
    names = {p.name for p in harness_sources() + sorted(port_dir(port).iterdir())
             + model_sources(model_dir) if p.is_file() and p.suffix in (".c", ".h")}
    return names | {BIND_HEADER, "CMakeLists.txt"}


def stage_sources(dest: Path, model_dir: str | Path, port: str, manifest: Manifest,
                  board_id: str) -> list[Path]:
    """Copy harness, port and model sources into ``dest``; write the bind header."""
    model = model_sources(model_dir)
    if "emb_contract.h" not in {p.name for p in model}:  # the harness's codes and layouts
        raise UsageError(f"{model_dir} was exported before emb_contract.h, which the harness "
                         "needs", hint="re-export it: embbert-mcu export ckpt.pt -o DIR")
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for src in harness_sources() + sorted(port_dir(port).iterdir()) + model:
        if src.is_file() and src.suffix in (".c", ".h"):
            shutil.copyfile(src, dest / src.name)
            copied.append(dest / src.name)
    write_text(dest / BIND_HEADER, bind_header(manifest, board_id))
    return copied + [dest / BIND_HEADER]


def build_host_harness(model_dir: str | Path, out_dir: str | Path, sanitize: bool = True,
                       board: str = "host") -> Path:
    """Compile the harness with the host port and the export's C; returns the executable."""
    manifest = Manifest.load(model_dir)
    out = Path(out_dir)
    sources = stage_sources(out / "src", model_dir, "host", manifest, board)
    flags = (*(SANITIZE_FLAGS if sanitize else ()), f'-DEMB_BOARD="{board}"')
    return compile_c([s for s in sources if s.suffix == ".c"], out / "emb_harness_host",
                     [out / "src"], extra_flags=flags)
