"""A long-input test set for the device bench: texts of at least l tokens, made by joining the
export's test texts in order (each long text takes the label of its first part), written as a
CSV that `embbert-mcu bench --test` reads. With l = 256 every text runs the model at n = 256,
where attention's n^2 work dominates.

    python benchmarks/longset.py --model build/model -o build/long256.csv [--count 40]
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embbert_mcu.export.manifest import Manifest  # noqa: E402
from embbert_mcu.export.testset import load_testset  # noqa: E402
from embbert_mcu.fileio import write_text  # noqa: E402
from embbert_mcu.tokenizer import EmbTokenizer  # noqa: E402


def long_texts(model_dir: Path, count: int) -> list[tuple[str, str]]:
    """(text, label name) pairs: each the next test texts joined until it has >= l tokens."""
    manifest = Manifest.load(model_dir)
    tok = EmbTokenizer.from_json((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    rows = load_testset(model_dir, need_text=True)
    out, i = [], 0
    while len(out) < count:
        parts, label = [], manifest.labels[rows[i % len(rows)]["label"]]
        while len(tok.encode(" ".join(parts))) < manifest.max_len:
            parts.append(rows[i % len(rows)]["text"])
            i += 1
            if i > 100 * len(rows):
                raise SystemExit("error: the test texts never reach l tokens")
        out.append((" ".join(parts), str(label)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(ROOT / "build" / "model"))
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--count", type=int, default=40)
    args = parser.parse_args()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["text", "label"])
    writer.writerows(long_texts(Path(args.model), args.count))
    write_text(Path(args.output), buf.getvalue())
    print(f"{args.count} texts of >= l tokens -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
