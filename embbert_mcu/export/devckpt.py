"""A checkpoint of random weights and a test split of random token texts, for exercising the
exporter before (or without) a fine-tuned model: accuracy figures on it mean nothing, the
agreement between the C and the simulated model does.

A random backbone gives nearly the same [CLS] features for every text, so a random head
predicts one class for all of them and any device agrees with any host. The head is therefore
set from the test texts' own features: random directions in the span of their top principal
components, scaled to a logit spread of a few units, so predictions vary over the inputs (and
an agreement figure can fail). For the integer MAC path the head's input row is quantized to
int8 first, which rounds away most of that small spread: ``mac_dtype="int8"`` sets the head from
the features as the integer path computes them (rows stored and linear inputs quantized)."""

from __future__ import annotations

import random
from pathlib import Path

import torch

from ..checkpoint import Checkpoint, save_checkpoint
from ..config import EmbBertConfig
from ..model import EmbBertForClassification, build_classifier
from ..tokenizer import EmbTokenizer

LOGIT_SPREAD = 4.0  # std of each logit over the test texts


def random_texts(tok: EmbTokenizer, n: int, seed: int, max_words: int) -> list[str]:
    """n texts of 1..max_words words drawn from the tokenizer's vocabulary."""
    rng = random.Random(seed)
    vocab = sorted(w for w in tok.tok.get_vocab() if w.isalpha() and len(w) > 2)
    return [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, max_words)))
            for _ in range(n)]


@torch.no_grad()
def spread_head(net: EmbBertForClassification, ids: list[list[int]], seed: int,
                mac_dtype: str = "f32") -> None:
    """Set the head so its argmax varies over ``ids`` (see the module docstring)."""
    from ..model import ForwardHooks
    from ..quant.fake import round_rows
    from ..training.evaluate import pad_batch

    net.eval()
    if mac_dtype == "int8":
        hooks = ForwardHooks(store=round_rows, mac_in=round_rows)
        feats = round_rows(net.backbone(pad_batch(ids), None, hooks)[:, 0])  # what the head reads
    else:
        feats = net.backbone(pad_batch(ids))[:, 0]  # (n, d) [CLS] features
    mean = feats.mean(0)
    _, s, vt = torch.linalg.svd(feats - mean, full_matrices=False)
    k = max(1, min(4, int((s > 1e-3 * s[0]).sum())))  # components the texts really spread over
    scale = ((feats - mean) @ vt[:k].T).std(0).clamp_min(1e-12)  # (k,) spread per component
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(net.cfg.n_classes, k, generator=gen) * LOGIT_SPREAD / k ** 0.5  # (C, k)
    weight = mix @ (vt[:k] / scale[:, None])  # (C, d)
    net.head.weight.copy_(weight)
    net.head.bias.copy_(-weight @ mean)  # (C,) centred on the texts' mean feature


def dev_checkpoint(cfg: EmbBertConfig, path: str | Path, seed: int = 0, n_test: int = 64,
                   max_words: int | None = None, labels: list[str] | None = None,
                   mac_dtype: str = "f32") -> Checkpoint:
    tok = EmbTokenizer.default()
    texts = random_texts(tok, n_test, seed, max_words=max_words or cfg.max_len)
    rng = random.Random(seed + 1)
    ys = [rng.randrange(cfg.n_classes) for _ in texts]
    net = build_classifier(cfg, seed)
    spread_head(net, [tok.encode(x, max_len=cfg.max_len) for x in texts], seed, mac_dtype)
    ckpt = Checkpoint.from_model(
        net, tokenizer_json=tok.to_json(),
        labels=labels or [f"class{i}" for i in range(cfg.n_classes)],
        test_split={"name": "random-dev", "texts": texts, "labels": ys},
    )
    if mac_dtype == "int8":  # decided under the integer path's policy: the convs int8 too
        from ..quant.policy import QuantPolicy

        ckpt.quant = {"policy": QuantPolicy(mac_dtype="int8").to_dict()}
    save_checkpoint(ckpt, path)
    return ckpt
