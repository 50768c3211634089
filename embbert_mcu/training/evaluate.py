"""Accuracy of a PyTorch classifier on texts, and the batching helpers training shares.

Batches are padded on the right to their longest sequence only. Padding does not change a
prediction: keys at [PAD] are masked, the convolution is causal and pooling reads position 0.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import nn

from ..config import PAD_ID
from ..reading import text_cap, windowed
from ..tokenizer import EmbTokenizer


def encode_batch(tokenizer: EmbTokenizer, texts: Iterable[str], max_len: int,
                 pairs: Iterable[str] | None = None) -> list[list[int]]:
    """Each text as ``[CLS] tokens`` (a pair as ``[CLS] a [SEP] b [SEP]``), at most ``max_len``
    ids (for a model that reads windows: ``reading.text_cap`` of its config)."""
    return tokenizer.encode_many(texts, max_len=max_len, pairs=pairs)


def pad_batch(seqs: Sequence[Sequence[int]]) -> torch.Tensor:
    """(B, L) long tensor, L the longest sequence, padded on the right with [PAD]."""
    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Row indices grouped into batches of similar length (less padding, same results)."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.no_grad()
def predict_logits(model: nn.Module, ids: Sequence[Sequence[int]], batch_size: int = 64) -> torch.Tensor:
    """(N, n_classes) logits in the order of ``ids``; the model is left in eval mode. A model
    that reads windows (``cfg.windows > 1``) averages them (``reading.py``)."""
    cfg = getattr(model, "cfg", None)
    if cfg is not None and cfg.windows > 1:
        return windowed(lambda flat: _logits(model, flat, batch_size), ids, cfg)
    return _logits(model, ids, batch_size)


def _logits(model: nn.Module, ids: Sequence[Sequence[int]], batch_size: int) -> torch.Tensor:
    model.eval()
    n_classes = model.head.out_features
    device = next(model.parameters()).device
    logits = torch.zeros(len(ids), n_classes)
    for rows in length_sorted_batches([len(s) for s in ids], batch_size):
        logits[rows] = model(pad_batch([ids[i] for i in rows]).to(device)).float().cpu()
    return logits


def accuracy_report(predicted: Sequence[int], labels: Sequence[int], n_classes: int) -> dict:
    """accuracy, n, correct and macro-F1 from class indices."""
    n = len(labels)
    correct = sum(int(p == y) for p, y in zip(predicted, labels))
    f1s = []
    for c in range(n_classes):
        tp = sum(1 for p, y in zip(predicted, labels) if p == c and y == c)
        fp = sum(1 for p, y in zip(predicted, labels) if p == c and y != c)
        fn = sum(1 for p, y in zip(predicted, labels) if p != c and y == c)
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return {
        "accuracy": correct / n if n else 0.0,
        "n": n,
        "correct": correct,
        "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0,
    }


def evaluate(
    model: nn.Module,
    tokenizer: EmbTokenizer,
    texts: Sequence[str],
    labels: Sequence[int],
    max_len: int | None = None,
    batch_size: int = 64,
    pairs: Sequence[str] | None = None,
) -> dict:
    """{"accuracy", "n", "correct", "macro_f1"} of ``model`` on labelled texts.

    ``max_len`` defaults to what the model reads of a text (``reading.text_cap``); ``pairs``
    are the second texts of sentence pairs.
    """
    max_len = max_len or text_cap(model.cfg)
    ids = encode_batch(tokenizer, texts, max_len, pairs)
    predicted = predict_logits(model, ids, batch_size).argmax(dim=1).tolist()
    return accuracy_report(predicted, list(labels), model.cfg.n_classes)
