"""`embbert-mcu flash`: a PlatformIO project for a board and an export, built and uploaded.

Real boards use the official platforms and frameworks (ststm32 + stm32cube, espressif32 +
espidf). Emulated boards use the local platform in firmware/platform/, which builds offline
with arm-none-eabi-gcc from PATH; its upload starts QEMU (embbert_mcu.device.emulator).
PlatformIO's core folder is kept inside the project (``.pio-core``), never the user's home.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import elfsize, emulator
from .boards import Board
from ..errors import BudgetError, BuildError
from ..fileio import write_text
from .firmware import STRICT_FLAGS, read_manifest, stage_sources, staged_names
from .owned import clear_generated, record_generated
from .pio_project import platformio_ini, write_board_files
from .registry import check_registry, raise_http_error
from ..resources import resource_dir

SCONS_VERSION = "4.41101.0"  # what PlatformIO 6.x asks for (dependencies.py)
OVERFLOW = re.compile(r"region [`']?(\w+)'? overflowed by (\d+) bytes")


@dataclass
class FlashResult:
    board: str
    project_dir: Path
    elf: Path | None
    url: str | None  # emulated boards after upload: socket://127.0.0.1:PORT
    state_path: Path | None  # emulator state file (for stop)
    sizes: dict | None  # elfsize.firmware_sizes of the ELF


def generate_project(board: Board, model_dir: str | Path, project_dir: str | Path) -> Path:
    """Write platformio.ini, src/ (harness, port, export) and the board's extras."""
    project = Path(project_dir).resolve()
    manifest = read_manifest(model_dir)
    src = project / "src"
    # A previous model's files must not linger, and nobody else's may be lost.
    clear_generated(project, staged_names(model_dir, board.port))
    stage_sources(src, model_dir, board.port, manifest)
    write_board_files(project, board)
    write_text(project / "platformio.ini", platformio_ini(board, STRICT_FLAGS))
    record_generated(src)
    return project


def core_dir(project: Path) -> Path:
    return project / ".pio-core"


def ensure_scons(core: Path) -> None:
    """PlatformIO runs SCons from its tool-scons package; offline, a stand-in that calls the
    pip-installed SCons takes its place."""
    pkg = core / "packages" / "tool-scons"
    if (pkg / "scons.py").is_file():
        return
    pkg.mkdir(parents=True, exist_ok=True)
    write_text(pkg / "package.json", json.dumps({"name": "tool-scons", "version": SCONS_VERSION}))
    spec = {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None,
            "uri": None}
    write_text(pkg / ".piopm", json.dumps({"type": "tool", "name": "tool-scons",
                                           "version": SCONS_VERSION, "spec": spec}))
    write_text(pkg / "scons.py", "import sys\nfrom SCons.Script import main\n"
               "sys.exit(main())\n")


def pio_env(project: Path) -> dict:
    env = dict(os.environ)
    env["PLATFORMIO_CORE_DIR"] = str(core_dir(project))
    env["PLATFORMIO_SETTING_ENABLE_TELEMETRY"] = "No"
    env["PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL"] = "3650"
    env["PLATFORMIO_NO_ANSI"] = "true"
    # The emulated platform's upload runs `python -m embbert_mcu.device.emulator`: make it importable.
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


def pio_command() -> list[str]:
    exe = Path(sys.executable).with_name("pio")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "platformio"]


def run_pio(project: Path, board: Board, targets: list[str], timeout_s: float = 900) -> str:
    """Run `pio run` in the project; a link overflow becomes a BudgetError with the figures."""
    if board.emulated:
        ensure_scons(core_dir(project))
    else:
        check_registry(board.platformio["platform"], board.id, core_dir(project))
    cmd = pio_command() + ["run", "-d", str(project), "-e", board.id]
    for t in targets:
        cmd += ["-t", t]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, env=pio_env(project),
                                timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BuildError(f"pio run did not finish in {timeout_s:.0f} s") from None
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise_overflow(output, board)
        if not board.emulated:
            raise_http_error(output, board.platformio["platform"], board.id, core_dir(project))
        raise BuildError(f"pio run failed for {board.id} (exit {result.returncode})",
                         hint=_tail(output))
    return output


def raise_overflow(output: str, board: Board) -> None:
    """`region 'RAM' overflowed by N bytes` -> BudgetError: needed vs available."""
    overflows = {m.group(1): int(m.group(2)) for m in OVERFLOW.finditer(output)}
    if not overflows:
        return
    limits = {"RAM": board.ram_bytes, "FLASH": board.flash_bytes}
    parts = []
    for region, over in sorted(overflows.items()):
        have = limits.get(region.upper())
        if have is None:
            parts.append(f"{region} overflowed by {over} bytes")
        else:
            parts.append(f"{region} needs {have + over} bytes, {board.id} has {have} "
                         f"(over by {over})")
    raise BudgetError(f"the model does not fit {board.name}: " + "; ".join(parts),
                      hint="export a smaller preset or a shorter max_len, or pick a larger board")


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def firmware_elf(project: Path, board: Board) -> Path:
    return project / ".pio" / "build" / board.id / "firmware.elf"


def flash(board: Board, model_dir: str | Path, project_dir: str | Path,
          upload: bool = True) -> FlashResult:
    """Generate, build and (unless upload is False) upload; emulated boards start QEMU."""
    project = generate_project(board, model_dir, project_dir)
    run_pio(project, board, ["upload"] if upload else [])
    elf = firmware_elf(project, board)
    sizes = elfsize.firmware_sizes(elf) if elf.is_file() else None
    if not (board.emulated and upload):
        return FlashResult(board.id, project, elf, None, None, sizes)
    state_path = elf.with_name("emulator.json")
    state = emulator.load_state(state_path)
    if not state:
        raise BuildError("the upload did not start the emulator", hint=f"see {project}")
    return FlashResult(board.id, project, elf, state["url"], state_path, sizes)


def default_project_dir(board_id: str) -> Path:
    return Path("build") / "fw" / board_id


def platform_dir() -> Path:
    return resource_dir("firmware") / "platform"
