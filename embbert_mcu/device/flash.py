"""`embbert-mcu flash`: a PlatformIO project for a board and an export, built and uploaded.

Emulated boards use the local platform in firmware/platform/, which builds offline with
arm-none-eabi-gcc from PATH; its upload starts QEMU (embbert_mcu.device.emulator). Real STM32
boards build offline too: their default env uses the same local platform and uploads with
openocd (an env for PlatformIO's ststm32 sits beside it, see pio_project). ESP32 boards use
espressif32 + espidf, which need PlatformIO's registry. PlatformIO's core folder is one shared folder (``build/pio-core`` under the
working directory, or $EMBBERT_MCU_PIO_CORE), never the user's home and not one per project.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from . import elfsize, emulator
from .boards import Board
from ..errors import BudgetError, BuildError
from ..fileio import write_text
from ..export.manifest import Manifest
from .firmware import stage_sources, staged_names
from .owned import clear_generated, record_generated
from .pio_project import platformio_ini, write_board_files
from .registry import check_registry, raise_http_error
from .render import render
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
    built: bool = True  # False: the project was only written (flash --generate-only)

    def to_dict(self) -> dict:
        """The JSON record of `flash --json`."""
        if not self.built:
            return {"board": self.board, "project_dir": str(self.project_dir), "built": False}
        return {"board": self.board, "project_dir": str(self.project_dir), "built": True,
                "elf": str(self.elf) if self.elf else None, "url": self.url,
                "emulator_state": str(self.state_path) if self.state_path else None,
                **(self.sizes or {})}


def generate_project(board: Board, model_dir: str | Path, project_dir: str | Path) -> Path:
    """Write platformio.ini, src/ (harness, port, export) and the board's extras."""
    project = Path(project_dir).resolve()
    manifest = Manifest.load(model_dir)
    src = project / "src"
    # A previous model's files must not linger, and nobody else's may be lost.
    clear_generated(project, staged_names(model_dir, board.port))
    stage_sources(src, model_dir, board.port, manifest, board.id)
    sha = manifest.model_sha256
    write_board_files(project, board, sha)
    write_text(project / "platformio.ini", platformio_ini(board, core_dir(project), sha))
    record_generated(src)
    return project


def core_dir(project: Path | None = None) -> Path:
    """The PlatformIO core folder every generated project shares (packages, platforms)."""
    configured = os.environ.get("EMBBERT_MCU_PIO_CORE")
    return Path(configured).resolve() if configured else Path.cwd().resolve() / "build" / "pio-core"


def ensure_scons(core: Path) -> None:
    """PlatformIO runs SCons from its tool-scons package; offline, a stand-in that calls the
    pip-installed SCons takes its place."""
    pkg = core / "packages" / "tool-scons"
    if (pkg / "scons.py").is_file():
        return
    pkg.mkdir(parents=True, exist_ok=True)
    # JSON cannot hold a comment: PlatformIO's package records carry no banner.
    write_text(pkg / "package.json", json.dumps({"name": "tool-scons", "version": SCONS_VERSION}))
    spec = {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None,
            "uri": None}
    write_text(pkg / ".piopm", json.dumps({"type": "tool", "name": "tool-scons",
                                           "version": SCONS_VERSION, "spec": spec}))
    write_text(pkg / "scons.py", render("scons.py.j2", "scons.py", None))


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
    if board.emulated or board.port == "stm32":  # the local platform's envs
        ensure_scons(core_dir(project))
    else:
        check_registry(board.platformio["platform"], board.id, core_dir(project))
    cmd = pio_command() + ["run", "-d", str(project), "-e", board.id]
    for t in targets:
        cmd += ["-t", t]
    returncode, output = run_streamed(cmd, pio_env(project), timeout_s)
    if returncode != 0:
        raise_overflow(output, board)
        if not (board.emulated or board.port == "stm32"):  # only registry platforms fetch
            raise_http_error(output, board.platformio["platform"], board.id, core_dir(project))
        raise BuildError(f"pio run failed for {board.id} (exit {returncode})",
                         hint=_tail(output))
    return output


def run_streamed(cmd: list[str], env: dict, timeout_s: float) -> tuple[int, str]:
    """Run cmd with its output passed on line by line to stderr (stdout may carry --json)
    and kept for the error message; (exit code, output). A silent hang ends at timeout_s."""
    lines: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, errors="replace") as proc:
        def pump() -> None:
            for line in proc.stdout:
                lines.append(line)
                sys.stderr.write(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            returncode = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise BuildError(f"pio run did not finish in {timeout_s:.0f} s",
                             hint=_tail("".join(lines))) from None
        reader.join()
    return returncode, "".join(lines)


def raise_overflow(output: str, board: Board) -> None:
    """`region 'RAM' overflowed by N bytes` -> BudgetError: needed vs available."""
    overflows = {m.group(1): int(m.group(2)) for m in OVERFLOW.finditer(output)}
    if not overflows:
        return
    limits = {**board.region_limits(), "RAM": board.ram_bytes, "FLASH": board.flash_bytes}
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
    if board.image_of:
        return flash_image_of(board, model_dir, project_dir, upload)
    if upload and not board.emulated and board.port == "stm32" and shutil.which("openocd") is None:
        raise BuildError("openocd is not installed: the offline env uploads with it",
                         hint="apt-get install openocd, or build only with --no-upload")
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


def flash_image_of(board: Board, model_dir: str | Path, project_dir: str | Path,
                   upload: bool = True) -> FlashResult:
    """An emulated board that runs a real board's image unmodified (qemu_netduino_f446: the
    nucleo_f446re ELF on QEMU's netduinoplus2): build that board's project, start QEMU."""
    from .boards import load_board

    real = load_board(board.image_of)
    project = generate_project(real, model_dir, project_dir)
    run_pio(project, real, [])
    elf = firmware_elf(project, real)
    sizes = elfsize.firmware_sizes(elf)
    if not upload:
        return FlashResult(board.id, project, elf, None, None, sizes)
    state_path = elf.with_name("emulator.json")
    state = emulator.start(elf, board.qemu["machine"], board.qemu["cpu"], state_path,
                           serial_index=int(board.qemu.get("serial_index", 0)))
    return FlashResult(board.id, project, elf, state["url"], state_path, sizes)


def default_project_dir(board_id: str) -> Path:
    return Path("build") / "fw" / board_id


def platform_dir() -> Path:
    return resource_dir("firmware") / "platform"
