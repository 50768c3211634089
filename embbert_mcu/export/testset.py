"""The export's test set, ``testset.jsonl``: the checkpoint's test split tokenized as the
device sees it, one JSON object per line: {"ids": [int], "label": int, "text": str}
(+ "text_pair": str for sentence pairs).

``tokenized_testset`` makes the records, ``testset_jsonl`` lays them out, and
``load_testset`` reads them back for every reader (verify, bench, bench --text) with one set
of errors: a ``UsageError`` naming the file (and the line) with a hint.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..checkpoint import Checkpoint
from ..errors import CheckpointError, ExportError, UsageError
from ..reading import text_cap
from ..tokenizer import EmbTokenizer

FILE = "testset.jsonl"
HINT = "re-export the checkpoint with `embbert-mcu export`, or pass --test FILE (CSV/JSONL)"


def tokenized_testset(ckpt: Checkpoint) -> list[dict]:
    """One record per test text (or pair), [CLS] first, cut to what the model reads
    (``reading.text_cap``: max_len, or more for a model that reads windows); [] without a
    test split."""
    split = ckpt.test_split
    if not split:
        return []
    texts, labels = split.get("texts"), split.get("labels")
    if not isinstance(texts, list) or not isinstance(labels, list) or len(texts) != len(labels):
        raise CheckpointError("the checkpoint's test split is malformed (texts and labels differ)",
                              hint="re-create the checkpoint with `embbert-mcu train`")
    pairs = split.get("pairs")
    tok = checkpoint_tokenizer(ckpt)
    ids = tok.encode_many(texts, max_len=text_cap(ckpt.config), pairs=pairs)
    top = max((max(s) for s in ids if s), default=0)
    if top >= ckpt.config.vocab_size:
        raise ExportError(f"the tokenizer yields id {top} but the model has "
                          f"{ckpt.config.vocab_size} tokens", hint="checkpoint and tokenizer differ")
    rows = [{"ids": list(map(int, s)), "label": int(y), "text": str(t)}
            for s, y, t in zip(ids, labels, texts)]
    for row, b in zip(rows, pairs or []):
        row["text_pair"] = str(b)
    return rows


def testset_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def load_testset(model_dir: str | Path, limit: int | None = None,
                 need_text: bool = False) -> list[dict]:
    """The export's records (the first ``limit``); ``need_text`` refuses records without text
    (exports from before the C tokenizer wrote ids only)."""
    path = Path(model_dir) / FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(f"{model_dir} has no {FILE}", hint=HINT) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
                         hint=HINT) from None
    rows = [_record(line, path, i + 1) for i, line in enumerate(lines) if line.strip()]
    if not rows:
        raise UsageError(f"{path} holds no test texts (the checkpoint had no test split)",
                         hint=HINT)
    if need_text and any("text" not in r for r in rows):
        raise UsageError(f"{path} has no texts",
                         hint="re-export with this version of embbert-mcu")
    return rows[:limit] if limit else rows


def _record(line: str, path: Path, number: int) -> dict:
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise UsageError(f"line {number} of {path} is not JSON: {exc}", hint=HINT) from None
    ok = (isinstance(row, dict) and _ints(row.get("ids")) and _int(row.get("label"))
          and isinstance(row.get("text", ""), str) and isinstance(row.get("text_pair", ""), str))
    if not ok:
        raise UsageError(f"line {number} of {path} is not a test record "
                         f'{{"ids": [int], "label": int, "text": str}}', hint=HINT)
    return row


def _int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _ints(v: object) -> bool:
    return isinstance(v, list) and all(_int(x) for x in v)


def checkpoint_tokenizer(ckpt: Checkpoint) -> EmbTokenizer:
    """The checkpoint's own tokenizer (the default one for checkpoints without a copy)."""
    return EmbTokenizer.from_json(ckpt.tokenizer_json) if ckpt.tokenizer_json \
        else EmbTokenizer.default()
