"""Bare-metal C programs on the emulated boards, for the golden tests and the kernel micro
benchmarks.

A program defines ``int emb_bm_main(void)`` and may call ``emb_bm_put(const char *)`` (a
line to the host) and ``emb_bm_ticks()`` (port ticks since reset, 64-bit). It is linked the
way ``flash`` links the firmware of the emulated board it runs on (qemu_f446 for "m4f",
qemu_h743 for "m7"): the board's compile target from the one flags table, the port
firmware/ports/qemu_mps2/port.c (startup, vectors, SysTick, UART, stack guard), the
sections script firmware/ld/mps2_sections.ld with the board's emb_memory.ld, and
firmware/bm/emb_bm.c in the serving harness's place. Output comes on the port's UART (QEMU's
stdout); the exit code through semihosting. Under ``-icount shift=0`` a tick is a fixed
number of executed instructions, which ``calib_ticks`` (a loop of 2,000,000 known
instructions, printed before emb_bm_main runs) measures.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from ..ccompile import BARE_METAL_LINK_FLAGS, SECTION_FLAGS, compile_c, find_compiler
from ..errors import DeviceError
from ..fileio import write_text
from ..resources import resource_dir
from .boards import Board, load_board
from .pio_project import memory_ld

# core name -> the emulated board whose build and machine it uses
CORES = {"m4f": "qemu_f446", "m7": "qemu_h743"}
MACHINE_RAM_BYTES = 4 << 20  # MPS2 AN386/AN500 SSRAM at 0x20000000
CALIB_INSTRUCTIONS = 2_000_000  # CALIB_LOOPS x (subs, bne)
TIMEOUT_S = 600


def core_board(core: str) -> Board:
    if core not in CORES:
        raise DeviceError(f"unknown core {core!r}", hint=f"choose one of: {', '.join(CORES)}")
    return load_board(CORES[core])


def available() -> bool:
    return bool(find_compiler("arm-none-eabi-gcc") and find_compiler("qemu-system-arm"))


def bm_sources(board: Board) -> list[Path]:
    """The board's port and the bare-metal stand-in for the harness."""
    firmware = resource_dir("firmware")
    return [firmware / "ports" / board.port / "port.c", firmware / "bm" / "emb_bm.c"]


def build(sources: Sequence[str | Path], out: Path, include_dirs: Sequence[str | Path],
          core: str, extra_flags: Sequence[str] = (), ram_bytes: int | None = None) -> Path:
    """Link ``sources`` with the port into an ELF for ``core`` ("m4f" or "m7"), with
    -DEMB_ARM_DSP: the sources include firmware/runtime/arm_dsp/. RAM is the board's unless
    ``ram_bytes`` is given (a test whose fixtures outgrow it; MPS2 has 4 MB at 0x20000000)."""
    board = core_board(core)
    if ram_bytes is not None and not 0 < ram_bytes <= MACHINE_RAM_BYTES:
        raise DeviceError(f"ram_bytes {ram_bytes} is outside the machine's RAM",
                          hint=f"choose at most {MACHINE_RAM_BYTES} bytes")
    ld_dir = out.parent / f"ld_{board.id}"
    ld_dir.mkdir(parents=True, exist_ok=True)
    write_text(ld_dir / "emb_memory.ld", memory_ld(board, ram_bytes=ram_bytes))
    shutil.copyfile(resource_dir("firmware") / "ld" / "mps2_sections.ld",
                    ld_dir / "mps2_sections.ld")
    flags = (*SECTION_FLAGS, "-DEMB_ARM_DSP", f'-DEMB_BOARD="{board.id}"',
             *BARE_METAL_LINK_FLAGS, f"-L{ld_dir}",
             # before the script: its DEFINED() test sees only symbols defined earlier
             f"-Wl,--defsym=__emb_stack_bytes={board.stack_bytes}", "-Wl,-T,mps2_sections.ld",
             *extra_flags)
    firmware = resource_dir("firmware")  # the port's headers: emb_port.h, emb_contract.h
    return compile_c([*bm_sources(board), *sources], out,
                     [*include_dirs, firmware / "harness", firmware / "runtime"],
                     target_name=board.target, extra_flags=flags)


def run(elf: Path, core: str) -> tuple[str, float]:
    """Run ``elf`` to its exit: (its output, instructions per tick)."""
    board = core_board(core)
    machine = board.qemu["machine"]
    cmd = ["qemu-system-arm", "-M", machine, "-cpu", board.qemu["cpu"], "-display", "none",
           "-monitor", "none", "-serial", "stdio", "-icount", "shift=0",
           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise DeviceError(f"{elf.name} did not finish on {machine} in {TIMEOUT_S} s",
                          hint="the program never returned from emb_bm_main, or loops") from exc
    out = proc.stdout + proc.stderr  # the port reports faults through semihosting (stderr)
    calib = re.search(r"calib_ticks=(\d+)", out)
    if "embbert-mcu:" in proc.stderr or calib is None or "exit=" not in out:
        raise DeviceError(f"{elf.name} failed on {machine}: {out.strip()[-400:]}",
                          hint="run the command by hand: " + " ".join(cmd))
    return out, CALIB_INSTRUCTIONS / int(calib.group(1))
