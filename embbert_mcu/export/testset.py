"""The checkpoint's test split, tokenized as the device sees it:
{"ids": [int], "label": int, "text": str} (+ "text_pair": str for sentence pairs)."""

from __future__ import annotations

from ..checkpoint import Checkpoint
from ..errors import CheckpointError, ExportError
from ..tokenizer import EmbTokenizer


def tokenized_testset(ckpt: Checkpoint) -> list[dict]:
    """One record per test text (or pair), [CLS] first, truncated to max_len; [] without a
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
    ids = tok.encode_many(texts, max_len=ckpt.config.max_len, pairs=pairs)
    top = max((max(s) for s in ids if s), default=0)
    if top >= ckpt.config.vocab_size:
        raise ExportError(f"the tokenizer yields id {top} but the model has "
                          f"{ckpt.config.vocab_size} tokens", hint="checkpoint and tokenizer differ")
    rows = [{"ids": list(map(int, s)), "label": int(y), "text": str(t)}
            for s, y, t in zip(ids, labels, texts)]
    for row, b in zip(rows, pairs or []):
        row["text_pair"] = str(b)
    return rows


def checkpoint_tokenizer(ckpt: Checkpoint) -> EmbTokenizer:
    """The checkpoint's own tokenizer (the default one for checkpoints without a copy)."""
    return EmbTokenizer.from_json(ckpt.tokenizer_json) if ckpt.tokenizer_json \
        else EmbTokenizer.default()
