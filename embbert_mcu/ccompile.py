"""Compile C with the project's strict flags: the kernel tests and the exporter's verify step.

Every C file the project ships or generates must build warning-free with ``STRICT_FLAGS`` on
the host gcc and on arm-none-eabi-gcc; a failure raises BuildError carrying the compiler's
own message, so the user sees the line at fault.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Iterable, Sequence

from .errors import BuildError

STRICT_FLAGS = (
    "-std=c99", "-Wall", "-Wextra", "-Werror", "-Wdouble-promotion", "-Wfloat-conversion", "-O2",
)
CORTEX_M4_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")
CORTEX_M7_FLAGS = ("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard")
TIMEOUT_S = 300


def find_compiler(cc: str) -> str | None:
    """The compiler's full path, or None when it is not installed."""
    return shutil.which(cc)


def compile_c(
    sources: Sequence[str | Path],
    out: str | Path,
    include_dirs: Iterable[str | Path] = (),
    cc: str = "gcc",
    extra_flags: Sequence[str] = (),
) -> Path:
    """Build ``sources`` into ``out`` (an executable, or an object file with ``-c``).

    Links libm for executables. Raises BuildError when the compiler is missing or fails.
    """
    exe = find_compiler(cc)
    if exe is None:
        raise BuildError(f"C compiler {cc!r} not found", hint=f"install {cc} or put it on PATH")
    sources = [Path(s) for s in sources]
    if not sources:
        raise BuildError("no C sources to compile", hint="pass at least one .c file")
    object_only = "-c" in extra_flags
    if object_only and len(sources) != 1:
        raise BuildError(
            f"-c compiles one source at a time, got {len(sources)}",
            hint="call compile_c once per source file",
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [exe, *STRICT_FLAGS, *extra_flags]
    cmd += [f"-I{d}" for d in include_dirs]
    cmd += [str(s) for s in sources] + ["-o", str(out)]
    if not object_only:
        cmd.append("-lm")  # after the sources, as the linker resolves left to right
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
