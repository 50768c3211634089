"""Where the instructions of one inference go: every kernel call of an export's model.c timed
on an emulated core, summed per kernel.

The export's `<prefix>_model.c` is copied with each kernel call statement wrapped in two reads
of the port's tick counter (QEMU `-icount shift=0`: ticks are a fixed number of instructions,
calibrated by the bare-metal stand-in of the harness), then linked with the export's src/ and
run once per length on a text of n token ids. The wrapping adds about 20 instructions a call
(~0.01% of an inference at n = 256); the model itself is the export's code, unchanged.

    python benchmarks/profile.py [--model build/model] [--n 256 29] [--core m4f] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embbert_mcu.device import semihost  # noqa: E402
from embbert_mcu.export.layout import source_dir  # noqa: E402
from embbert_mcu.export.manifest import Manifest  # noqa: E402

# One kernel call statement of the generated model.c: `emb_x(...);`, `EMB_TRY(emb_x(...));`
# or `dst[0] = emb_x(...);`, alone on its line.
CALL = re.compile(r"^(\s+)((?:EMB_TRY\()?(?:[\w\[\]]+ = )?(emb_\w+)\(.*;)\s*$")

MAIN = """
#include <stdint.h>
#include "{prefix}_model.h"
void emb_bm_put(const char *s);
uint64_t emb_bm_ticks(void);
uint64_t emb_prof_ticks[{n_kernels}];
static const char *const names[{n_kernels}] = {{{names}}};
static uint64_t arena[({macro}_ARENA_BYTES + 7u) / 8u];
static const uint16_t ids[] = {{{ids}}};

static void put(const char *key, uint64_t v)
{{
    char buf[24];
    int i = 23;
    buf[i] = 0;
    buf[--i] = '\\n';
    do {{ buf[--i] = (char)('0' + v % 10u); v /= 10u; }} while (v != 0u);
    buf[--i] = '=';
    emb_bm_put("prof ");
    emb_bm_put(key);
    emb_bm_put(buf + i);
}}

int emb_bm_main(void)
{{
    float logits[{macro}_N_CLASSES];
    const uint64_t t0 = emb_bm_ticks();
    const int st = (int){prefix}_run(arena, sizeof arena, ids, {n}u, logits, 0, 0);
    put("total", emb_bm_ticks() - t0);
    for (unsigned i = 0; i < {n_kernels}u; ++i) put(names[i], emb_prof_ticks[i]);
    return st;
}}
"""


def instrument(model_c: str) -> tuple[str, list[str]]:
    """model.c with each kernel call timed into emb_prof_ticks[kernel], and the kernels' names."""
    names: list[str] = []
    out = ["#include <stdint.h>", "uint64_t emb_bm_ticks(void);",
           "extern uint64_t emb_prof_ticks[];"]
    for line in model_c.splitlines():
        m = CALL.match(line)
        if m is None or "static" in line:
            out.append(line)
            continue
        indent, stmt, name = m.groups()
        if name not in names:
            names.append(name)
        out.append(f"{indent}{{ const uint64_t t0_ = emb_bm_ticks(); {stmt} "
                   f"emb_prof_ticks[{names.index(name)}] += emb_bm_ticks() - t0_; }}")
    return "\n".join(out) + "\n", names


def profile(model_dir: Path, n: int, core: str, work: Path) -> dict:
    manifest = Manifest.load(model_dir)
    src = source_dir(model_dir)
    model_c = src / f"{manifest.prefix}_model.c"
    text, names = instrument(model_c.read_text(encoding="utf-8"))
    (work / "model_prof.c").write_text(text)
    ids = [2] + [5 + (7 * i + 100) % (manifest.vocab_size - 5) for i in range(n - 1)]
    (work / "prof_main.c").write_text(MAIN.format(
        prefix=manifest.prefix, macro=manifest.prefix.upper(), n_kernels=len(names), n=n,
        names=", ".join(f'"{k}"' for k in names), ids=", ".join(map(str, ids))))
    sources = [p for p in sorted(src.glob("*.c")) if p != model_c and p.name != "main.c"]
    elf = semihost.build([work / "model_prof.c", work / "prof_main.c", *sources],
                         work / f"prof_{n}.elf", [src], core, ram_bytes=1 << 20)
    out, per_tick = semihost.run(elf, core)
    found = {k: int(v) * per_tick for k, v in re.findall(r"^prof (\w+)=(\d+)", out, re.M)}
    macs = sum(a + b * n + c * n * n for a, b, c in (manifest.macs_per_stage or {}).values())
    total = found.pop("total")
    return {"n": n, "instructions": total, "macs": macs,
            "instructions_per_mac": total / macs if macs else None,
            "kernels": dict(sorted(found.items(), key=lambda kv: -kv[1]))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(ROOT / "build" / "model"))
    parser.add_argument("--n", type=int, nargs="+", default=[256, 29])
    parser.add_argument("--core", choices=sorted(semihost.CORES), default="m4f")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model_dir = Path(args.model)
    manifest = Manifest.load(model_dir)
    if any(not 1 <= n <= manifest.max_len for n in args.n):
        print(f"error: --n must be in 1..{manifest.max_len}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="embbert-profile-") as tmp:
        runs = [profile(model_dir, n, args.core, Path(tmp)) for n in args.n]
    doc = {"model": str(model_dir), "mac_dtype": manifest.mac_dtype, "core": args.core,
           "runs": runs}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    for r in runs:
        per_mac = f", {r['instructions_per_mac']:.2f} per MAC" if r["macs"] else ""
        print(f"n = {r['n']} on {args.core}: {r['instructions'] / 1e6:.1f} M instructions"
              f"{per_mac} ({manifest.mac_dtype} MACs)")
        for name, v in r["kernels"].items():
            print(f"  {name:36s} {v / 1e6:9.2f} M  {100 * v / r['instructions']:5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
