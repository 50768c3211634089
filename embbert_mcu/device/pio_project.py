"""The text of a generated PlatformIO project: platformio.ini and per-board extra files.

Emulated boards name the local platform (firmware/platform/) and get a PlatformIO board
file and linker scripts. Real STM32 boards get two envs compiling the same sources with the
same flags (the row of the board's compile target in embbert_mcu.ccompile, hard float) and
the same generated linker script:
``<board>`` on the local platform (offline: Debian's arm-none-eabi-gcc, upload with
openocd) and ``<board>_ststm32`` on PlatformIO's official platform, version pinned. ESP32
boards name the official platform and ESP-IDF. Every file with room for a comment is
rendered from templates/firmware/ with the provenance banner (device/render.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .boards import Board
from ..ccompile import BARE_METAL_LINK_FLAGS, SECTION_FLAGS, STRICT_FLAGS
from ..fileio import write_text
from ..resources import resource_dir
from .render import render

LINK_FLAGS = [*BARE_METAL_LINK_FLAGS, "-Wl,--print-memory-usage"]
ESP_SDKCONFIG = [
    ("CONFIG_ESP_MAIN_TASK_STACK_SIZE", "16384"), ("CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_240", "y"),
    ("CONFIG_ESP32_DEFAULT_CPU_FREQ_240", "y"), ("CONFIG_ESP32S3_DEFAULT_CPU_FREQ_240", "y"),
    ("CONFIG_LOG_DEFAULT_LEVEL_ERROR", "y"), ("CONFIG_BOOTLOADER_LOG_LEVEL_ERROR", "y"),
    ("CONFIG_ESP_TASK_WDT_INIT", "n"), ("CONFIG_ESP_TASK_WDT", "n"),
    ("CONFIG_COMPILER_OPTIMIZATION_PERF", "y"), ("CONFIG_FREERTOS_WATCHPOINT_END_OF_STACK", "y"),
    ("CONFIG_ESPTOOLPY_FLASHMODE_QIO", "y"), ("CONFIG_ESPTOOLPY_FLASHFREQ_80M", "y"),
]


def is_bare_stm32(board: Board) -> bool:
    """A real board built bare metal with the project's startup code and linker script."""
    return not board.emulated and board.port == "stm32"


def pio_board_id(board: Board) -> str:
    """The local platform's board file for a real board (boards/emb_<id>.json)."""
    return f"emb_{board.id}"


def official_env(board: Board) -> str:
    return f"{board.id}_{board.platformio['platform']}"


def ldscript_name(board: Board) -> str:
    return f"emb_{board.id}.ld"


def _opt(key: str, value) -> dict:
    """One option of platformio.ini: a list value is laid out one entry per line."""
    if isinstance(value, list):
        return {"key": key, "value": None, "lines": value}
    return {"key": key, "value": value, "lines": None}


def platformio_ini(board: Board, core_dir: Path | None = None, model_sha256: str | None = None,
                   defines: list[str] | None = None) -> str:
    """platformio.ini; ``defines`` come first in build_flags (a library project's)."""
    defines = [*(defines or []), f'-DEMB_BOARD=\\"{board.id}\\"',
               *board.platformio.get("build_flags", [])]
    # Our sources only: framework code is not held to our warning set.
    src_flags = list(STRICT_FLAGS)
    head = [_opt("core_dir", str(core_dir or ".pio-core")), _opt("default_envs", board.id)]
    if board.emulated or is_bare_stm32(board):
        head.append(_opt("boards_dir", "boards"))
    if is_bare_stm32(board):
        sections, notes = _stm32_sections(board, defines, src_flags), _stm32_notes(board)
    else:
        sections, notes = [_env_section(board, defines, src_flags)], []
    return render("platformio.ini.j2", "platformio.ini", board.id, model_sha256, notes=notes,
                  sections=[{"name": "platformio", "options": head}, *sections])


def _env_section(board: Board, defines: list[str], src_flags: list[str]) -> dict:
    """The one env of an emulated board (the local platform) or an ESP32 board."""
    pio = board.platformio
    if board.emulated:
        platform = resource_dir("firmware") / "platform"
        opts = [_opt("platform", f"symlink://{platform.resolve()}"), _opt("board", board.id)]
    else:
        opts = [_opt("platform", pio["platform"]), _opt("board", pio["board"]),
                _opt("framework", pio["framework"])]
        if pio.get("upload_protocol"):
            opts.append(_opt("upload_protocol", pio["upload_protocol"]))
        opts += [_opt(f"board_build.{k}", v) for k, v in sorted(pio.get("board_build", {}).items())]
        opts.append(_opt("monitor_speed", pio.get("monitor_speed", 115200)))
    opts += [_opt("build_flags", defines), _opt("build_src_flags", src_flags)]
    return {"name": f"env:{board.id}", "options": opts}


def _stm32_notes(board: Board) -> list[str]:
    pio = board.platformio
    return ["Two envs, the same sources, flags and linker script:",
            f"  {board.id}: offline, the project's local platform, Debian's arm-none-eabi-gcc,",
            "    upload with Debian's openocd (ST-Link);",
            f"  {official_env(board)}: PlatformIO's {pio['platform']} platform (needs its registry)."]


def _stm32_sections(board: Board, defines: list[str], src_flags: list[str]) -> list[dict]:
    pio = board.platformio
    platform = (resource_dir("firmware") / "platform").resolve()
    common = [_opt("build_flags", [*defines, *board.cflags, *SECTION_FLAGS]),
              _opt("build_src_flags", src_flags),
              _opt("board_build.ldscript", f"ld/{ldscript_name(board)}"),
              _opt("extra_scripts", "pre:emb_link_flags.py"),
              _opt("monitor_speed", pio.get("monitor_speed", 115200))]
    local = [_opt("platform", f"symlink://{platform}"), _opt("board", pio_board_id(board)),
             _opt("extends", "emb"), _opt("upload_protocol", "openocd")]
    official = [_opt("platform", f"platformio/{pio['platform']}@{pio['platform_version']}"),
                _opt("board", pio["board"]), _opt("extends", "emb"),
                _opt("upload_protocol", pio.get("upload_protocol", "stlink"))]
    return [{"name": "emb", "options": common}, {"name": f"env:{board.id}", "options": local},
            {"name": f"env:{official_env(board)}", "options": official}]


def stm32_board_json(board: Board) -> dict:
    """The local platform's board definition for a real STM32 board."""
    ocd = board.extra.get("openocd", {})
    return {
        "name": board.name, "url": "https://www.st.com", "vendor": "ST", "frameworks": [],
        "build": {"cpu": board.core, "mcu": board.mcu, "f_cpu": f"{board.clock_hz}L"},
        "upload": {"maximum_size": board.flash_bytes, "maximum_ram_size": board.ram_bytes,
                   "protocol": "openocd", "protocols": ["openocd"],
                   "emb_openocd_args": ["-f", ocd["interface"], "-f", ocd["target"]]},
    }


def stm32_ldscript(board: Board, model_sha256: str | None = None) -> str:
    """The linker script with the board's real memory map and the manifest's placement."""
    reason = board.extra.get("placement_reason", "")
    lines, line = [], ""
    for word in reason.split():
        if len(line) + len(word) + 1 > 92:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines += [line] if line else []
    return render("stm32.ld.j2", ldscript_name(board), board.id, model_sha256,
                  regions=board.memory(), place=board.extra["placement"],
                  stack_bytes=board.stack_bytes, reason=lines)


def pio_board_json(board: Board) -> dict:
    """PlatformIO's board definition for an emulated board (project boards/ folder)."""
    return {
        "name": board.name,
        "url": "https://www.qemu.org/docs/master/system/arm/mps2.html",
        "vendor": "QEMU",
        "frameworks": [],
        "build": {
            "cpu": board.core, "mcu": board.mcu, "f_cpu": f"{board.clock_hz}L",
            "emb_cc_flags": [*board.cflags, *SECTION_FLAGS],
            "emb_link_flags": [*board.cflags, *LINK_FLAGS],
            "emb_qemu_machine": board.qemu["machine"], "emb_qemu_cpu": board.qemu["cpu"],
            "emb_stack_bytes": board.stack_bytes,
        },
        "upload": {"maximum_size": board.flash_bytes, "maximum_ram_size": board.ram_bytes,
                   "protocol": "qemu", "protocols": ["qemu"]},
    }


def memory_ld(board: Board, model_sha256: str | None = None,
              ram_bytes: int | None = None) -> str:
    """emb_memory.ld of an emulated board: FLASH and RAM with the real board's sizes, or
    ``ram_bytes`` of RAM for a test program that is no model (the machine has more)."""
    regions = [{**r, "bytes": ram_bytes} if ram_bytes and r["name"] == "RAM" else r
               for r in board.memory()]
    return render("emb_memory.ld.j2", "emb_memory.ld", board.id, model_sha256,
                  regions=regions)


# JSON cannot hold a comment: the PlatformIO board files carry no banner.
def write_board_files(project: Path, board: Board, model_sha256: str | None = None) -> None:
    sha = model_sha256
    if board.emulated:
        write_text(project / "boards" / f"{board.id}.json",
                   json.dumps(pio_board_json(board), indent=2) + "\n")
        (project / "ld").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(resource_dir("firmware") / "ld" / "mps2_sections.ld",
                        project / "ld" / "mps2_sections.ld")
        write_text(project / "ld" / "emb_memory.ld", memory_ld(board, sha))
    elif is_bare_stm32(board):
        write_text(project / "boards" / f"{pio_board_id(board)}.json",
                   json.dumps(stm32_board_json(board), indent=2) + "\n")
        write_text(project / "ld" / ldscript_name(board), stm32_ldscript(board, sha))
        write_text(project / "emb_link_flags.py",
                   render("emb_link_flags.py.j2", "emb_link_flags.py", board.id, sha,
                          flags=repr(board.cflags + LINK_FLAGS)))
    elif board.port == "esp32":
        # ESP-IDF wants CMake files
        write_text(project / "CMakeLists.txt",
                   render("esp_root_cmake.txt.j2", "CMakeLists.txt", board.id, sha))
        write_text(project / "src" / "CMakeLists.txt",
                   render("esp_src_cmake.txt.j2", "src/CMakeLists.txt", board.id, sha))
        write_text(project / "sdkconfig.defaults",
                   render("sdkconfig.defaults.j2", "sdkconfig.defaults", board.id, sha,
                          options=ESP_SDKCONFIG))
