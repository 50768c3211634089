"""Mutation check of the test suite: deliberate bugs, one at a time, each must be caught.

Each mutation replaces one snippet in one file of a scratch copy of the work tree (the snippet
must occur exactly once, so a stale entry fails loudly instead of testing nothing), then runs
the tests that guard that place. A mutation the tests do not catch is a failure of the suite.

    .venv/bin/python tests/mutate.py [--list] [NAME ...]

Prints one line per mutation (caught or MISSED, the tests run, seconds) and exits 1 when any
was missed, 2 when an entry no longer matches the code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # file in the repository
    old: str  # snippet that occurs exactly once
    new: str
    tests: tuple[str, ...]  # pytest arguments: the tests that guard this place


MUTATIONS = (
    Mutation("weighted-difference sign", "embbert_mcu/model.py",
             "                - lam[1] * self.convolution(h, key_mask, hooks))",
             "                + lam[1] * self.convolution(h, key_mask, hooks))",
             ("tests/test_model.py",)),
    Mutation("conv window (not causal)", "embbert_mcu/model.py",
             "c = self.conv(hooks.conv_in(h, key_mask).transpose(1, 2))[:, :, :length]",
             "c = self.conv(hooks.conv_in(h, key_mask).transpose(1, 2))[:, :, -length:]",
             ("tests/test_model.py",)),
    Mutation("attention mask ignored", "embbert_mcu/model.py",
             'scores = scores.masked_fill(~key_mask[:, None, :], float("-inf"))',
             "scores = scores",
             ("tests/test_model.py",)),
    Mutation("segment ids from the last [SEP]", "embbert_mcu/model.py",
             "after_first_sep = (torch.cumsum(is_sep, dim=1) - is_sep) > 0",
             "after_first_sep = torch.cumsum(is_sep, dim=1) > 1",
             ("tests/test_model.py",)),
    Mutation("rounding mode (floor)", "embbert_mcu/quant/blocks.py",
             "qs = np.clip(np.rint(values / safe), -QMAX, QMAX)",
             "qs = np.clip(np.floor(values / safe), -QMAX, QMAX)",
             ("tests/test_quant.py",)),
    Mutation("block scale over 128", "embbert_mcu/quant/blocks.py",
             "scale_bits = f16_bits(absmax / np.float32(QMAX))",
             "scale_bits = f16_bits(absmax / np.float32(QMAX + 1))",
             ("tests/test_quant.py",)),
    Mutation("arena reuse across loop iterations", "embbert_mcu/export/plan.py",
             "crosses = first < start <= last or first <= end < last",
             "crosses = False",
             ("tests/test_export_plan.py",)),
    Mutation("optimizer step skipped", "embbert_mcu/training/steps.py",
             "        optimizer.step()\n",
             "        pass\n",
             ("tests/test_train.py",)),
    Mutation("device CRC not checked", "firmware/harness/emb_proto.c",
             "if (crc != emb_get_u32(buf + total - EMB_PROTO_CRC_BYTES + EMB_PROTO_CRC_CRC32)) {",
             "if (0 && crc != emb_get_u32(buf + total - EMB_PROTO_CRC_BYTES + EMB_PROTO_CRC_CRC32)) {",
             ("tests/test_device_protocol.py",)),
    Mutation("host CRC not checked", "embbert_mcu/device/protocol.py",
             "if crc32(body) != CRC.unpack(self.buf, total - CRC.size)[\"crc32\"]:",
             "if False:",
             ("tests/test_device_protocol.py",)),
    Mutation("device logits halved", "firmware/harness/emb_harness.c",
             "emb_put_f32(p + EMB_INFER_BYTES + EMB_LOGIT_BYTES * i, emb_logits[i]);",
             "emb_put_f32(p + EMB_INFER_BYTES + EMB_LOGIT_BYTES * i, 0.5f * emb_logits[i]);",
             ("tests/test_device_e2e.py",)),
    Mutation("budget comparison flipped", "embbert_mcu/device/bench.py",
             "        if total > budget:\n",
             "        if total < budget:\n",
             ("tests/test_bench_check.py",)),
    Mutation("agreement device vs device", "embbert_mcu/device/bench.py",
             '"agreement": sum(a == b for a, b in zip(dev_pred, host_pred)) / n,',
             '"agreement": sum(a == b for a, b in zip(dev_pred, dev_pred)) / n,',
             ("tests/test_bench_check.py",)),
    Mutation("model-hash check skipped", "embbert_mcu/device/bench.py",
             'if info.model_sha256 != manifest.model_sha256:',
             "if False:",
             ("tests/test_bench_check.py",)),
    Mutation("logit tolerance not enforced", "embbert_mcu/device/bench.py",
             'if report["max_logit_diff"] > report["logit_tolerance"]:',
             "if False:",
             ("tests/test_bench_check.py",)),
)


def _scratch_copy(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for raw in files:
        if not raw:
            continue
        rel = raw.decode()
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _apply(root: Path, m: Mutation) -> None:
    path = root / m.path
    text = path.read_text()
    count = text.count(m.old)
    if count != 1:
        raise LookupError(f"{m.name}: the snippet occurs {count} times in {m.path}")
    path.write_text(text.replace(m.old, m.new))


def run_one(m: Mutation) -> tuple[bool, float]:
    """True when the tests caught the mutation (they failed)."""
    with tempfile.TemporaryDirectory(prefix="embbert-mutate-") as tmp:
        root = Path(tmp)
        _scratch_copy(root)
        _apply(root, m)
        env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                               *m.tests], cwd=root, env=env, capture_output=True, text=True)
        return proc.returncode != 0, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="run only these mutations (default: all)")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    if args.list or not chosen:
        for m in MUTATIONS:
            print(f"{m.name:36s} {m.path}")
        return 0 if chosen or args.list else 2
    for m in chosen:  # every entry must still match before anything runs
        try:
            _apply_check(m)
        except LookupError as exc:
            print(f"error: {exc}\nhint: update the entry in tests/mutate.py", file=sys.stderr)
            return 2
    missed = 0
    for m in chosen:
        caught, seconds = run_one(m)
        missed += not caught
        print(f"{'caught' if caught else 'MISSED':6s}  {m.name:36s} {' '.join(m.tests)}  "
              f"({seconds:.0f} s)", flush=True)
    print(f"{len(chosen) - missed} caught, {missed} missed")
    return 1 if missed else 0


def _apply_check(m: Mutation) -> None:
    count = (ROOT / m.path).read_text().count(m.old)
    if count != 1:
        raise LookupError(f"{m.name}: the snippet occurs {count} times in {m.path}")


if __name__ == "__main__":
    sys.exit(main())
