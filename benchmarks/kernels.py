"""Micro benchmark of emb_linear_f32: instructions per multiply-accumulate on a 128 x 128 matrix.

Builds a small host program (strict flags, -O2) holding a seeded q8 matrix as const data and
runs emb_linear_f32 REPS times. Under valgrind's callgrind the instructions executed inside
emb_linear_f32 (its callees included) are counted; without valgrind the wall time is printed.
Figures are host (x86-64) instructions: a guide to the loop's cost, not Cortex-M cycles.

    .venv/bin/python benchmarks/kernels.py [--encoding q8|f16|f32|mixed ...] [--reps N]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embbert_mcu.ccompile import compile_c  # noqa: E402
from embbert_mcu.quant.blocks import pack_tensor  # noqa: E402

ROWS = COLS = 128
BLOCK = 32
SEED = 7  # numpy.random.default_rng(SEED), PCG64
ENC_IDS = {"q8": 0, "f16": 1, "mixed": 2, "f32": 3}


def c_array(ctype: str, name: str, values) -> str:
    body = ", ".join(str(int(v)) if ctype != "float" else f"{float(v)!r}f" for v in values)
    return f"static const {ctype} {name}[] = {{{body or '0'}}};\n"


def bench_source(encoding: str, reps: int) -> str:
    """The C program: the packed matrix as const arrays and a loop over emb_linear_f32."""
    rng = np.random.default_rng(SEED)
    w = rng.normal(0, 0.2, (ROWS, COLS)).astype(np.float32)
    fallback = (np.arange(ROWS * COLS // BLOCK) % 12 == 0) if encoding == "mixed" else None
    t = pack_tensor("w", w, encoding, BLOCK, fallback=fallback)
    blocks = ", ".join(
        f"{{{int(d)}u, {{{', '.join(str(int(q)) for q in qs)}}}}}" for d, qs in zip(t.scales, t.qs)
    )
    return (
        '#include <stdio.h>\n#include "emb_runtime.h"\n'
        f"static const emb_block_q8_t blocks[] = {{{blocks or '{0u, {0}}'}}};\n"
        + c_array("uint16_t", "f16", t.f16) + c_array("uint8_t", "mask", t.mask)
        + c_array("float", "f32", t.f32)
        + f"""
static float x[{COLS}], y[{ROWS}];
int main(void)
{{
    const emb_qtensor_t w = {{{ENC_IDS[encoding]}u, {ROWS}u, {COLS}u, blocks, f16, mask, f32}};
    float sink = 0.0f;
    for (unsigned i = 0; i < {COLS}u; ++i) {{
        x[i] = (float)((int)(i * 37u % 19u) - 9) * 0.125f;
    }}
    for (unsigned r = 0; r < {reps}u; ++r) {{
        if (emb_linear_f32(&w, NULL, x, y) != EMB_OK) {{
            return 1;
        }}
        sink += y[r % {ROWS}u];
        x[r % {COLS}u] += 1e-3f; /* keeps the calls from being merged */
    }}
    printf("%f\\n", (double)sink);
    return 0;
}}
"""
    )


def build(encoding: str, reps: int, work: Path) -> Path:
    src = work / f"bench_{encoding}.c"
    src.write_text(bench_source(encoding, reps))
    (work / "emb_config.h").write_text(f"#define EMB_QBLOCK {BLOCK}\n")
    runtime = ROOT / "firmware" / "runtime"
    sources = [src, *sorted(runtime.glob("emb_*.c"))]
    return compile_c(sources, work / f"bench_{encoding}", [work, runtime], extra_flags=("-g",))


def callgrind_ir(exe: Path, work: Path) -> int:
    """Instructions executed inside emb_linear_f32 and its callees."""
    out = work / f"{exe.name}.callgrind"
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--toggle-collect=emb_linear_f32",
         f"--callgrind-out-file={out}", str(exe)],
        check=True, capture_output=True, timeout=600,
    )
    summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
    return int(summary.group(1))


def wall_ns(exe: Path) -> float:
    import time

    start = time.perf_counter_ns()
    subprocess.run([str(exe)], check=True, capture_output=True, timeout=600)
    return float(time.perf_counter_ns() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoding", nargs="+", default=["q8", "mixed", "f16", "f32"],
                        choices=sorted(ENC_IDS))
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    macs = ROWS * COLS * args.reps
    use_valgrind = shutil.which("valgrind") is not None
    print(f"emb_linear_f32, {ROWS}x{COLS}, EMB_QBLOCK {BLOCK}, {args.reps} calls, "
          f"gcc -O2 host build; weights from numpy.random.default_rng({SEED})")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for encoding in args.encoding:
            exe = build(encoding, args.reps, work)
            if use_valgrind:
                ir = callgrind_ir(exe, work)
                print(f"  {encoding:6s} {ir / macs:6.2f} instructions per MAC (callgrind)")
            else:
                print(f"  {encoding:6s} {wall_ns(exe) / macs:6.2f} ns per MAC wall time "
                      "(process start included; valgrind not installed)")


if __name__ == "__main__":
    main()
