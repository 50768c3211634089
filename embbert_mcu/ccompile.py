"""The one place C gets compiled, and the one flags table per compile target.

Every C file the project ships or generates must build warning-free with ``STRICT_FLAGS`` on
the host gcc and on arm-none-eabi-gcc. The export's host builds, the kernel tests, the
emulator (semihosting) builds, benchmarks/kernels.py and the PlatformIO projects all take
their flags from here; a failure raises BuildError carrying the compiler's own message, so
the user sees the line at fault.

The table is keyed by target (a core with its FPU), and a board manifest names its target
(``"target": "cortex-m7"``) instead of listing flags: four Cortex-M boards share two flag
sets, and the kernel tests and benchmarks build for a core with no board at all, so keying
by target writes each flag set once where keying by board would copy it or point from board
to board.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .errors import BuildError, UsageError

WARNING_FLAGS = (
    "-std=c99", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-Wfloat-conversion",
)
OPT_FLAGS = ("-O2",)
STRICT_FLAGS = WARNING_FLAGS + OPT_FLAGS
# Bare metal: unused functions and data dropped at link time, our startup code (no crt0),
# newlib-nano without system calls. The same for the emulator builds and the boards' images.
SECTION_FLAGS = ("-ffunction-sections", "-fdata-sections")
BARE_METAL_LINK_FLAGS = ("-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
                         "-Wl,--gc-sections")
TIMEOUT_S = 300


@dataclass(frozen=True)
class Target:
    name: str
    cc: str
    size_tool: str
    cpu_flags: tuple[str, ...]  # CPU and float ABI: compile and link alike
    bare_metal: bool


TARGETS = {t.name: t for t in (
    Target("host", "gcc", "size", (), False),
    Target("cortex-m4f", "arm-none-eabi-gcc", "arm-none-eabi-size",
           ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"), True),
    Target("cortex-m7", "arm-none-eabi-gcc", "arm-none-eabi-size",
           ("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard"), True),
)}


def target(name: str) -> Target:
    """The target called ``name``; UsageError naming the known ones otherwise."""
    if name not in TARGETS:
        raise UsageError(f"unknown compile target {name!r}",
                         hint=f"choose one of: {', '.join(sorted(TARGETS))}")
    return TARGETS[name]


def find_compiler(cc: str) -> str | None:
    """The compiler's full path, or None when it is not installed."""
    return shutil.which(cc)


def compile_command(sources: Sequence[Path], out: Path, include_dirs: Iterable[str | Path],
                    cc_path: str, tgt: Target, extra_flags: Sequence[str]) -> list[str]:
    """The compiler's argument list: strict flags, the target's CPU flags, then the caller's
    (later flags win, so a caller's -O1 or -Os overrides -O2)."""
    cmd = [cc_path, *STRICT_FLAGS, *tgt.cpu_flags, *extra_flags]
    cmd += [f"-I{d}" for d in include_dirs]
    cmd += [str(s) for s in sources] + ["-o", str(out)]
    if "-c" not in extra_flags:
        cmd.append("-lm")  # after the sources, as the linker resolves left to right
    return cmd


def compile_c(
    sources: Sequence[str | Path],
    out: str | Path,
    include_dirs: Iterable[str | Path] = (),
    target_name: str = "host",
    extra_flags: Sequence[str] = (),
    cc: str | None = None,
) -> Path:
    """Build ``sources`` into ``out`` (an executable, or an object file with ``-c``) for the
    target ``target_name``; ``cc`` overrides the target's compiler (tests of a missing one).

    Links libm for executables. Raises BuildError when the compiler is missing or fails.
    """
    tgt = target(target_name)
    cc = cc or tgt.cc
    exe = find_compiler(cc)
    if exe is None:
        raise BuildError(f"C compiler {cc!r} not found", hint=f"install {cc} or put it on PATH")
    sources = [Path(s) for s in sources]
    if not sources:
        raise BuildError("no C sources to compile", hint="pass at least one .c file")
    if "-c" in extra_flags and len(sources) != 1:
        raise BuildError(
            f"-c compiles one source at a time, got {len(sources)}",
            hint="call compile_c once per source file",
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = compile_command(sources, out, include_dirs, exe, tgt, extra_flags)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise BuildError(
            f"{cc} timed out after {TIMEOUT_S} s", hint="check the size of the sources"
        ) from exc
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip()
        raise BuildError(
            f"{cc} failed on {', '.join(s.name for s in sources)}:\n{message}",
            hint="the command was: " + " ".join(cmd),
        )
    return out
