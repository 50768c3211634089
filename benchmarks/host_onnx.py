"""The exported C against onnxruntime on the export's model.onnx, on this host, side by side.

One process, one thread each, interleaved rounds (the machine is shared and noisy: the ratio
is the figure to trust, not the milliseconds): each round times R inferences of the C (a
driver linked with the export's src/, gcc -O2, the portable twins; clock_gettime around the
calls) and R of onnxruntime (intra- and inter-op threads 1) on the same ids, at n = 256 and
at the export test set's mean length. model.onnx takes a fixed (1, l) input, so onnxruntime
computes all l positions even for a short text (its ids padded with [PAD] = 0); the C runs n.

    python benchmarks/host_onnx.py [--model build/model] [--rounds 15] [--reps 20] [--json]

onnxruntime is a benchmark dependency only (`pip install onnxruntime`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embbert_mcu.ccompile import compile_c  # noqa: E402
from embbert_mcu.export.layout import source_dir  # noqa: E402
from embbert_mcu.export.manifest import Manifest  # noqa: E402
from embbert_mcu.export.testset import load_testset  # noqa: E402

DRIVER = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "%(prefix)s_model.h"

static uint64_t arena[(%(macro)s_ARENA_BYTES + 7u) / 8u];

/* argv: reps n id_0 .. id_{n-1}; prints the nanoseconds of each of reps inferences' mean. */
int main(int argc, char **argv)
{
    static uint16_t ids[%(macro)s_MAX_LEN];
    float logits[%(macro)s_N_CLASSES];
    struct timespec t0, t1;
    const long reps = strtol(argv[1], NULL, 10);
    const long n = strtol(argv[2], NULL, 10);
    long r, i;
    (void)argc;
    for (i = 0; i < n; ++i) ids[i] = (uint16_t)strtol(argv[3 + i], NULL, 10);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (r = 0; r < reps; ++r) {
        if (%(prefix)s_run(arena, sizeof arena, ids, (size_t)n, logits, NULL, NULL) != EMB_OK) return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%%.1f %%.6f\n", ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / (double)reps,
           (double)logits[0]);
    return 0;
}
"""


def build_driver(model_dir: Path, manifest: Manifest, work: Path) -> Path:
    src = source_dir(model_dir)
    driver = work / "host_onnx_driver.c"
    driver.write_text(DRIVER % {"prefix": manifest.prefix, "macro": manifest.prefix.upper()})
    sources = sorted(p for p in src.glob("*.c") if p.name != "main.c")
    return compile_c([*sources, driver], work / "host_onnx_driver", [src])


def sample_ids(model_dir: Path, max_len: int) -> dict[str, list[int]]:
    """n = l: test texts' ids joined ([CLS] once) up to l; mean: the test text closest to the
    test set's mean length."""
    rows = load_testset(model_dir)
    lengths = [len(r["ids"]) for r in rows]
    mean = statistics.mean(lengths)
    near = min(rows, key=lambda r: abs(len(r["ids"]) - mean))["ids"]
    joined = [rows[0]["ids"][0]]
    for r in rows:
        joined += r["ids"][1:]
        if len(joined) >= max_len:
            break
    return {f"n={max_len}": joined[:max_len], f"n={len(near)} (mean {mean:.1f})": near}


def time_c(exe: Path, ids: list[int], reps: int) -> float:
    out = subprocess.run([str(exe), str(reps), str(len(ids)), *map(str, ids)], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]) / 1e6  # ms


def time_ort(session, ids: list[int], max_len: int, reps: int) -> float:
    import numpy as np

    x = np.zeros((1, max_len), dtype=np.int64)
    x[0, :len(ids)] = ids
    t0 = time.perf_counter()
    for _ in range(reps):
        session.run(None, {"ids": x})
    return (time.perf_counter() - t0) / reps * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(ROOT / "build" / "model"))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    try:
        import onnxruntime as ort
    except ImportError:
        print("error: onnxruntime is not installed\nhint: pip install onnxruntime", file=sys.stderr)
        return 2
    model_dir = Path(args.model)
    manifest = Manifest.load(model_dir)
    if not (model_dir / "model.onnx").is_file():
        print(f"error: {model_dir} has no model.onnx\nhint: export without --no-onnx",
              file=sys.stderr)
        return 2
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_dir / "model.onnx"), opts,
                                   providers=["CPUExecutionProvider"])
    rows = []
    with tempfile.TemporaryDirectory(prefix="embbert-host-onnx-") as tmp:
        exe = build_driver(model_dir, manifest, Path(tmp))
        for name, ids in sample_ids(model_dir, manifest.max_len).items():
            c_ms, ort_ms = [], []
            for _ in range(args.rounds):  # interleaved: both see the same machine load
                c_ms.append(time_c(exe, ids, args.reps))
                ort_ms.append(time_ort(session, ids, manifest.max_len, args.reps))
            c, o = statistics.median(c_ms), statistics.median(ort_ms)
            rows.append({"sample": name, "n": len(ids), "c_ms": c, "onnxruntime_ms": o,
                         "c_over_onnxruntime": c / o})
    doc = {"model": str(model_dir), "mac_dtype": manifest.mac_dtype, "rounds": args.rounds,
           "reps": args.reps, "onnxruntime": ort.__version__, "rows": rows}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"host, one thread, medians of {args.rounds} interleaved rounds of {args.reps} "
          f"inferences ({manifest.mac_dtype} MACs; onnxruntime {ort.__version__}, fp32, "
          f"fixed l = {manifest.max_len} input)")
    print(f"{'sample':28s} {'C ms':>9s} {'onnxruntime ms':>15s} {'C / ORT':>8s}")
    for r in rows:
        print(f"{r['sample']:28s} {r['c_ms']:9.3f} {r['onnxruntime_ms']:15.3f} "
              f"{r['c_over_onnxruntime']:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
