"""Micro benchmark of the MAC-heavy kernels: instructions per multiply-accumulate, the
reference (`_ref`) and the optimized twin side by side, on the host and two emulated cores.

Kernels: the float path emb_linear_f32 (q8 weights, float x) as the baseline; emb_linear_q8
at 128 x 128 with q8 and mixed weights (1 block in 12 fp16), the quantization of x (the rule
of emb_quant.h) included in each call; emb_attn_scores_q8 and emb_attn_wsum_q8 at d = 128
for n = 256 and n = 29, and the weighted sum on H's columns (emb_attn_wsum_q8t); the pair
kernels (two inputs per pass: emb_linear2_q8, emb_attn_scores2_q8, emb_attn_wsum2_q8t), whose
reference is the one-row reference twice. Weights and inputs from
numpy.random.default_rng(7) (PCG64).

- host: gcc -O2, x86-64 instructions counted by valgrind's callgrind inside the timed
  function (its callees included); the optimized twins there are the portable ones.
- Cortex-M4F (QEMU mps2-an386) and Cortex-M7 (mps2-an500): arm-none-eabi-gcc -O2 with the
  DSP twins (firmware/runtime/arm_dsp/), linked as the emulated boards qemu_f446 and
  qemu_h743 are (their port, linker script and flags: embbert_mcu/device/semihost.py);
  QEMU -icount shift=0, the port's SysTick ticks calibrated against a loop of known length:
  Thumb-2 instructions, not cycles.

    .venv/bin/python benchmarks/kernels.py [--reps N] [--json]
"""

from __future__ import annotations

import argparse
import json
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
from embbert_mcu.device import semihost  # noqa: E402
from embbert_mcu.export.weights import ENC_MACRO  # noqa: E402
from embbert_mcu.quant.blocks import pack_tensor  # noqa: E402

ROWS = COLS = 128
D = 128
BLOCK = 32
SEED = 7
RUNTIME = ROOT / "firmware" / "runtime"
DSP = RUNTIME / "arm_dsp"

# name -> (label, MACs per call, reference function, optimized function or None)
BENCHES = {
    "linear_f32": ("emb_linear_f32, q8 weights, float x, 128x128", ROWS * COLS),
    "linear_q8": ("emb_linear_q8, q8 weights, 128x128 (+ x quantization)", ROWS * COLS),
    "linear_mixed": ("emb_linear_q8, mixed weights, 128x128 (+ x quantization)", ROWS * COLS),
    "scores_256": ("emb_attn_scores_q8, n=256, d=128", 256 * D),
    "wsum_256": ("emb_attn_wsum_q8, n=256, d=128", 256 * D),
    "scores_29": ("emb_attn_scores_q8, n=29, d=128", 29 * D),
    "wsum_29": ("emb_attn_wsum_q8, n=29, d=128", 29 * D),
    "wsumt_256": ("emb_attn_wsum_q8t (H as columns), n=256, d=128", 256 * D),
    "wsumt_29": ("emb_attn_wsum_q8t (H as columns), n=29, d=128", 29 * D),
    "linear2_q8": ("emb_linear2_q8, 2 inputs, 128x128 (+ x quantization)",
                   2 * ROWS * COLS),
    "scores2_256": ("emb_attn_scores2_q8, 2 queries, n=256, d=128", 2 * 256 * D),
    "wsum2t_256": ("emb_attn_wsum2_q8t, 2 queries, n=256, d=128", 2 * 256 * D),
    "conv_q8": ("emb_conv1d_dw_causal_q8, d=128, k=32 (+ its ring row)", D * BLOCK),
}


def c_array(ctype: str, name: str, values) -> str:
    body = ", ".join(str(int(v)) if ctype != "float" else f"{float(v)!r}f" for v in values)
    return f"static const {ctype} {name}[] = {{{body or '0'}}};\n"


def tensor_source(name: str, encoding: str, w: np.ndarray) -> str:
    fallback = (np.arange(w.size // BLOCK) % 12 == 0) if encoding == "mixed" else None
    t = pack_tensor("w", w, encoding, BLOCK, fallback=fallback)
    blocks = ", ".join(
        f"{{{int(d)}u, {{{', '.join(str(int(q)) for q in qs)}}}}}" for d, qs in zip(t.scales, t.qs))
    enc = ENC_MACRO[encoding]
    return (f"static const emb_block_q8_t {name}_blocks[] = {{{blocks or '{0u, {0}}'}}};\n"
            + c_array("uint16_t", f"{name}_f16", t.f16) + c_array("uint8_t", f"{name}_mask", t.mask)
            + f"static const emb_qtensor_t {name} = {{{enc}, {ROWS}u, {COLS}u, {name}_blocks, "
            f"{name}_f16, {name}_mask, NULL}};\n")


def conv_source(rng: np.random.Generator) -> str:
    """A (d, 32) q8 conv weight (one block per channel), 64 int8 rows of H with their scales,
    a ring of 32 rows: each call computes one output row at t >= k (all 32 taps)."""
    wc = rng.normal(0, 0.2, (D, BLOCK)).astype(np.float32)
    t = pack_tensor("wc", wc, "q8", BLOCK)
    blocks = ", ".join(
        f"{{{int(d)}u, {{{', '.join(str(int(q)) for q in qs)}}}}}" for d, qs in zip(t.scales, t.qs))
    rows = rng.integers(-127, 128, (64, D)).astype(np.int8)
    scales = rng.uniform(0.01, 0.02, 64).astype(np.float32)
    return (f"static const emb_block_q8_t wc_blocks[] EMB_BLOCKS_ALIGN = {{{blocks}}};\n"
            f"static const emb_qtensor_t w_conv = {{EMB_QT_Q8, {D}u, {BLOCK}u, wc_blocks, NULL, "
            f"NULL, NULL}};\n"
            + c_array("int8_t", "conv_q", rows.reshape(-1)).replace("static const", "static")
            + c_array("float", "conv_scales", scales).replace("static const", "static")
            + f"static const emb_act_t conv_x = {{NULL, (int8_t *)conv_q, (float *)conv_scales, "
            f"{D}u, NULL, 0u}};\nstatic int16_t conv_ring[EMB_CONV_RING_LEN({BLOCK}u, {D}u)];\n"
            f"static const float conv_hs = 0.02f * 127.0f / 32767.0f;\n")


def bench_source(reps: int) -> str:
    """The C program: const weights and inputs, one noinline function per (bench, variant)."""
    rng = np.random.default_rng(SEED)
    w = rng.normal(0, 0.2, (ROWS, COLS)).astype(np.float32)
    rows = rng.integers(-127, 128, (256, D)).astype(np.int8)
    vec = rng.integers(-127, 128, 256).astype(np.int8)
    src = ['#include "emb_quant.h"\n', tensor_source("w_q8", "q8", w),
           tensor_source("w_mixed", "mixed", w), c_array("int8_t", "h_rows", rows.reshape(-1)),
           c_array("int8_t", "h_cols", rows.T.reshape(-1)),  # (d, 256): the rows transposed
           c_array("int8_t", "vec", vec),
           f"static float x[{COLS}], y[{ROWS}];\nstatic int8_t xq[{COLS}];\n"
           f"static int32_t iout[256];\nvolatile float sink;\n",
           conv_source(rng)]
    src.append(f"""
static void init_x(void)
{{
    for (unsigned i = 0; i < {COLS}u; ++i) {{
        x[i] = (float)((int)(i * 37u % 19u) - 9) * 0.125f;
    }}
}}
#define LINEAR_Q8(quantize, fn, w) \\
    for (unsigned r = 0; r < {reps}u; ++r) {{ \\
        const float xs = quantize(x, {COLS}u, xq); \\
        if (fn(&(w), NULL, xq, xs, y) != EMB_OK) {{ sink = -1.0f; }} \\
        sink += y[r % {ROWS}u]; \\
        x[r % {COLS}u] += 1e-3f; \\
    }}
#define ATTN(fn, n) \\
    for (unsigned r = 0; r < {reps}u; ++r) {{ \\
        fn(vec, h_rows, (n), {D}u, iout); \\
        sink += (float)iout[r % (n)]; \\
    }}
#define ATTN_T(n) \\
    for (unsigned r = 0; r < {reps}u; ++r) {{ \\
        emb_attn_wsum_q8t(vec, h_cols, 256u, (n), {D}u, iout); \\
        sink += (float)iout[r % (n)]; \\
    }}
__attribute__((noinline)) void bench_linear_f32_ref(void)
{{
    for (unsigned r = 0; r < {reps}u; ++r) {{
        if (emb_linear_f32(&w_q8, NULL, x, y) != EMB_OK) {{ sink = -1.0f; }}
        sink += y[r % {ROWS}u];
        x[r % {COLS}u] += 1e-3f;
    }}
}}
#define REF_Q emb_quantize_row_q8_ref
#define OPT_Q emb_quantize_row_q8
__attribute__((noinline)) void bench_linear_q8_ref(void) {{ LINEAR_Q8(REF_Q, emb_linear_q8_ref, w_q8) }}
__attribute__((noinline)) void bench_linear_q8_opt(void) {{ LINEAR_Q8(OPT_Q, emb_linear_q8, w_q8) }}
__attribute__((noinline)) void bench_linear_mixed_ref(void) {{ LINEAR_Q8(REF_Q, emb_linear_q8_ref, w_mixed) }}
__attribute__((noinline)) void bench_linear_mixed_opt(void) {{ LINEAR_Q8(OPT_Q, emb_linear_q8, w_mixed) }}
static float y2[{ROWS}];
static int8_t xq2[{COLS}];
__attribute__((noinline)) void bench_linear2_q8_ref(void)
{{
    for (unsigned r = 0; r < {reps}u; ++r) {{
        const float xs = REF_Q(x, {COLS}u, xq), xs2 = REF_Q(y, {COLS}u, xq2);
        if (emb_linear_q8_ref(&w_q8, NULL, xq, xs, y) != EMB_OK) {{ sink = -1.0f; }}
        if (emb_linear_q8_ref(&w_q8, NULL, xq2, xs2, y2) != EMB_OK) {{ sink = -1.0f; }}
        sink += y[r % {ROWS}u] + y2[r % {ROWS}u];
        x[r % {COLS}u] += 1e-3f;
    }}
}}
__attribute__((noinline)) void bench_linear2_q8_opt(void)
{{
    for (unsigned r = 0; r < {reps}u; ++r) {{
        const float xs = OPT_Q(x, {COLS}u, xq), xs2 = OPT_Q(y, {COLS}u, xq2);
        if (emb_linear2_q8(&w_q8, NULL, xq, xs, xq2, xs2, y, y2) != EMB_OK) {{ sink = -1.0f; }}
        sink += y[r % {ROWS}u] + y2[r % {ROWS}u];
        x[r % {COLS}u] += 1e-3f;
    }}
}}
#define ATTN2(body) \\
    for (unsigned r = 0; r < {reps}u; ++r) {{ \\
        body; \\
        sink += (float)iout[r % 256u] + (float)iout2[r % 256u]; \\
    }}
static int32_t iout2[256];
__attribute__((noinline)) void bench_scores2_256_ref(void)
{{ ATTN2(emb_attn_scores_q8_ref(vec, h_rows, 256u, {D}u, iout); emb_attn_scores_q8_ref(vec + 128, h_rows, 256u, {D}u, iout2)) }}
__attribute__((noinline)) void bench_scores2_256_opt(void)
{{ ATTN2(emb_attn_scores2_q8(vec, vec + 128, h_rows, 256u, {D}u, iout, iout2)) }}
__attribute__((noinline)) void bench_wsum2t_256_ref(void)
{{ ATTN2(emb_attn_wsum_q8_ref(vec, h_rows, 256u, {D}u, iout); emb_attn_wsum_q8_ref(vec, h_rows, 256u, {D}u, iout2)) }}
__attribute__((noinline)) void bench_wsum2t_256_opt(void)
{{ ATTN2(emb_attn_wsum2_q8t(vec, vec, h_cols, 256u, 256u, {D}u, iout, iout2)) }}
""")
    src.append(f"""#define CONV(fn) \\
    for (unsigned r = 0; r < {reps}u; ++r) {{ \\
        if (fn(&w_conv, NULL, &conv_x, 32u + r, conv_hs, conv_ring, y) != EMB_OK) {{ sink = -1.0f; }} \\
        sink += y[r % {D}u]; \\
    }}
__attribute__((noinline)) void bench_conv_q8_ref(void) {{ CONV(emb_conv1d_dw_causal_q8_ref) }}
__attribute__((noinline)) void bench_conv_q8_opt(void) {{ CONV(emb_conv1d_dw_causal_q8) }}
""")
    for n in (256, 29):
        for kind in ("scores", "wsum"):
            for v, fn in (("ref", f"emb_attn_{kind}_q8_ref"), ("opt", f"emb_attn_{kind}_q8")):
                src.append(f"__attribute__((noinline)) void bench_{kind}_{n}_{v}(void) "
                           f"{{ ATTN({fn}, {n}u) }}\n")
        src.append(f"__attribute__((noinline)) void bench_wsumt_{n}_ref(void) "
                   f"{{ ATTN(emb_attn_wsum_q8_ref, {n}u) }}\n"
                   f"__attribute__((noinline)) void bench_wsumt_{n}_opt(void) {{ ATTN_T({n}u) }}\n")
    names = [f"bench_{b}_{v}" for b in BENCHES for v in ("ref", "opt")
             if not (b == "linear_f32" and v == "opt")]
    src.append("typedef struct { const char *name; void (*fn)(void); } bench_t;\n")
    src.append("static const bench_t benches[] = {"
               + ", ".join(f'{{"{n}", {n}}}' for n in names) + "};\n")
    src.append("#define N_BENCHES (sizeof benches / sizeof benches[0])\n")
    return "".join(src)


HOST_MAIN = r"""
#include <stdio.h>
#include <string.h>
__attribute__((noinline)) void bench_run(void (*fn)(void)) { fn(); }
int main(int argc, char **argv)
{
    init_x();
    for (size_t i = 0; i < N_BENCHES; ++i) {
        if (argc == 2 && strcmp(argv[1], benches[i].name) == 0) {
            bench_run(benches[i].fn);
            printf("%f\n", (double)sink);
            return 0;
        }
    }
    return 2;
}
"""

BM_MAIN = r"""
void emb_bm_put(const char *s);
uint64_t emb_bm_ticks(void);
int emb_bm_main(void);
static void put_line(const char *name, uint32_t v)
{
    char buf[80], digits[12];
    unsigned n = 0, k = 0;
    while (name[n] != '\0' && n < 60u) { buf[n] = name[n]; ++n; }
    buf[n++] = '=';
    do { digits[k++] = (char)('0' + v % 10u); v /= 10u; } while (v != 0u);
    while (k > 0u) { buf[n++] = digits[--k]; }
    buf[n++] = '\n';
    buf[n] = '\0';
    emb_bm_put(buf);
}
int emb_bm_main(void)
{
    init_x();
    for (size_t i = 0; i < N_BENCHES; ++i) {
        const uint64_t t0 = emb_bm_ticks();
        benches[i].fn();
        put_line(benches[i].name, (uint32_t)(emb_bm_ticks() - t0));
    }
    return sink == -1.0f;
}
"""


def config(work: Path) -> None:
    (work / "emb_config.h").write_text(f"#define EMB_QBLOCK {BLOCK}\n")


def runtime_sources() -> list[Path]:
    return [*sorted(RUNTIME.glob("emb_*.c")), *sorted(DSP.glob("emb_*.c"))]


def host_figures(reps: int, work: Path) -> dict[str, float] | None:
    """bench name -> x86-64 instructions per MAC (callgrind), None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    src = work / "bench_host.c"
    src.write_text(bench_source(reps) + HOST_MAIN)
    config(work)
    exe = compile_c([src, *runtime_sources()], work / "bench_host", [work, RUNTIME, DSP],
                    extra_flags=("-g",))
    figures = {}
    for name in re.findall(r'\{"(bench_\w+)"', src.read_text()):
        out = work / f"{name}.callgrind"
        subprocess.run(["valgrind", "--tool=callgrind", "--toggle-collect=bench_run",
                        f"--callgrind-out-file={out}", str(exe), name],
                       check=True, capture_output=True, timeout=600)
        ir = int(re.search(r"^summary:\s+(\d+)", out.read_text(), re.M).group(1))
        figures[name] = ir
    return figures


def core_figures(core: str, reps: int, work: Path) -> dict[str, float]:
    """bench name -> Thumb-2 instructions executed (QEMU -icount shift=0)."""
    src = work / f"bench_{core}.c"
    src.write_text(bench_source(reps) + BM_MAIN)
    config(work)
    elf = semihost.build([src, *runtime_sources()], work / f"bench_{core}.elf",
                         [work, RUNTIME, DSP], core)
    out, per_tick = semihost.run(elf, core)
    return {k: int(v) * per_tick for k, v in re.findall(r"^(bench_\w+)=(\d+)", out, re.M)}


def per_mac(figures: dict | None, bench: str, variant: str, reps: int) -> float | None:
    if figures is None or f"bench_{bench}_{variant}" not in figures:
        return None
    return figures[f"bench_{bench}_{variant}"] / (BENCHES[bench][1] * reps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        targets = {"host x86-64": host_figures(args.reps, work)}
        for core, label in (("m4f", "Cortex-M4F"), ("m7", "Cortex-M7")):
            targets[label] = core_figures(core, args.reps, work) if semihost.available() else None
    table = {b: {t: {v: per_mac(f, b, v, args.reps) for v in ("ref", "opt")}
                 for t, f in targets.items()} for b in BENCHES}
    if args.json:
        print(json.dumps(table, indent=2))
        return
    print(f"Instructions per MAC, {args.reps} calls each, EMB_QBLOCK {BLOCK}, gcc -O2; "
          f"ref = the _ref kernel, opt = its twin (host: portable, Cortex-M: DSP)")
    head = f"{'kernel':58s}" + "".join(f" | {t:>15s}" for t in targets)
    print(head)
    print(f"{'':58s}" + "".join(f" | {'ref':>7s} {'opt':>7s}" for _ in targets))
    for b, (label, _) in BENCHES.items():
        cells = []
        for t in targets:
            vals = table[b][t]
            cells.append(" | " + " ".join("      -" if vals[v] is None else f"{vals[v]:7.2f}"
                                          for v in ("ref", "opt")))
        print(f"{label:58s}" + "".join(cells))
    missing = [t for t, f in targets.items() if f is None]
    if missing:
        print("skipped: " + ", ".join(missing)
              + " (needs valgrind / arm-none-eabi-gcc and qemu-system-arm)")


if __name__ == "__main__":
    main()
