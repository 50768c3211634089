"""A fresh PlatformIO project that uses an export as a library dependency: what a user's
own firmware looks like. src/ holds only the board's port file (with emb_port.h, and
emb_proto.h and emb_contract.h for the tick units it reports) and the export's example
(examples/classify/main.c, built with -DEMB_CLASSIFY_PORT so it reads and writes the serial
line through emb_port.h); lib/<prefix>/ is the export itself (library.json)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..fileio import write_text
from ..resources import resource_dir
from .boards import Board
from ..export.manifest import Manifest
from .firmware import port_dir
from .pio_project import platformio_ini, write_board_files


def library_project(board: Board, model_dir: str | Path, project_dir: str | Path) -> Path:
    """Write the project; build it with ``flash.run_pio(project, board, [])``."""
    model_dir, project = Path(model_dir), Path(project_dir).resolve()
    manifest = Manifest.load(model_dir)
    example = model_dir / "examples" / "classify" / "main.c"
    if not (model_dir / "library.json").is_file() or not example.is_file():
        from ..errors import UsageError

        raise UsageError(f"{model_dir} is not a library export (no library.json)",
                         hint="re-export with this version of embbert-mcu")
    for sub in ("src", "lib"):
        if (project / sub).exists():
            shutil.rmtree(project / sub)
    src = project / "src"
    src.mkdir(parents=True)
    for path in sorted(port_dir(board.port).iterdir()):
        if path.suffix in (".c", ".h"):
            shutil.copyfile(path, src / path.name)
    # the port's interface and its tick units (emb_proto.h, defined in emb_contract.h)
    for folder, name in (("harness", "emb_port.h"), ("harness", "emb_proto.h"),
                         ("runtime", "emb_contract.h")):
        shutil.copyfile(resource_dir("firmware") / folder / name, src / name)
    shutil.copyfile(example, src / "main.c")
    shutil.copytree(model_dir, project / "lib" / manifest.prefix,
                    ignore=shutil.ignore_patterns("host", "*.onnx", "testset.jsonl"))
    sha = manifest.model_sha256
    write_board_files(project, board, sha)
    write_text(project / "platformio.ini",
               platformio_ini(board, model_sha256=sha, defines=["-DEMB_CLASSIFY_PORT"]))
    return project
