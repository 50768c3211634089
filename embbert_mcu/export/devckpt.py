"""A checkpoint of random weights and a test split of random token texts, for exercising the
exporter before (or without) a fine-tuned model: accuracy figures on it mean nothing, the
agreement between the C and the simulated model does."""

from __future__ import annotations

import random
from pathlib import Path

from ..checkpoint import Checkpoint, save_checkpoint
from ..config import EmbBertConfig
from ..model import build_classifier
from ..tokenizer import EmbTokenizer


def random_texts(tok: EmbTokenizer, n: int, seed: int, max_words: int) -> list[str]:
    """n texts of 1..max_words words drawn from the tokenizer's vocabulary."""
    rng = random.Random(seed)
    vocab = sorted(w for w in tok.tok.get_vocab() if w.isalpha() and len(w) > 2)
    return [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, max_words)))
            for _ in range(n)]


def dev_checkpoint(cfg: EmbBertConfig, path: str | Path, seed: int = 0, n_test: int = 64,
                   max_words: int | None = None, labels: list[str] | None = None) -> Checkpoint:
    tok = EmbTokenizer.default()
    texts = random_texts(tok, n_test, seed, max_words=max_words or cfg.max_len)
    rng = random.Random(seed + 1)
    ys = [rng.randrange(cfg.n_classes) for _ in texts]
    ckpt = Checkpoint.from_model(
        build_classifier(cfg, seed), tokenizer_json=tok.to_json(),
        labels=labels or [f"class{i}" for i in range(cfg.n_classes)],
        test_split={"name": "random-dev", "texts": texts, "labels": ys},
    )
    save_checkpoint(ckpt, path)
    return ckpt
