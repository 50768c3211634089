"""Flash taken by the generated code: each C file compiled alone with -Os, measured with
``size`` (host) or ``arm-none-eabi-size`` (Cortex-M4F) when the cross compiler is present.
text + data of weights.o is the weights' flash; the other objects are the code."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ..ccompile import compile_c, find_compiler, target as compile_target
from ..errors import BuildError
from .layout import source_dir


def _text_data(size_tool: str, obj: Path) -> int:
    proc = subprocess.run([size_tool, str(obj)], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise BuildError(f"{size_tool} failed on {obj.name}", hint=proc.stderr.strip()[:200])
    text, data = proc.stdout.splitlines()[1].split()[:2]  # berkeley: text data bss dec hex
    return int(text) + int(data)


def code_size(model_dir: str | Path, target: str | None = None) -> dict:
    """{"target", "code_bytes", "weights_object_bytes", "files": {name: bytes}}."""
    if target is None:
        target = "cortex-m4f" if find_compiler("arm-none-eabi-gcc") else "host"
    size_tool = compile_target(target).size_tool
    src_dir = source_dir(model_dir)
    files = {}
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted(src_dir.glob("*.c")):
            obj = compile_c([src], Path(tmp) / (src.stem + ".o"), include_dirs=[src_dir],
                            target_name=target, extra_flags=("-c", "-Os"))
            files[src.name] = _text_data(size_tool, obj)
    weights = sum(v for k, v in files.items() if k == "weights.c" or k.endswith("_weights.c"))
    return {"target": target, "code_bytes": sum(files.values()) - weights,
            "weights_object_bytes": weights, "files": files}
