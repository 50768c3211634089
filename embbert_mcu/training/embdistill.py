"""General distillation: the backbone learns a sentence encoder's embeddings.

all-MiniLM-L6-v2 as it ships (not fine-tuned; ``teacher.py`` fetches it) maps a sentence to a
unit vector of 384 numbers: mean pooling over its last hidden state, normalized. Its authors
trained it on a billion sentence pairs for exactly that, so the vector holds what the
sentence means, which 9 M tokens of masked-word prediction teach a 357 k-parameter model only
in part. Here the student's first-token output, through a linear map d -> 384 that is dropped
afterwards, is trained towards the teacher's vector (loss 1 - cosine) over sentences of the
built-in unlabelled text (every evaluation text removed). What comes out is a backbone
checkpoint; ``train --init`` fine-tunes it as it does an MLM+NSP backbone, and ``--init``
here starts from one (MLM first, then this).

No label is involved: this is pretraining, not the task teacher of ``train --teacher``. The
teacher's vectors are computed once and cached (``<cache>/teachers/minilm-embeddings/``),
keyed by the sentences and the teacher's token limit. Batches are a function of
(seed, step), as in MLM pretraining.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .. import __version__
from ..checkpoint import Checkpoint
from ..config import preset
from ..datasets.fetch import cache_dir
from ..errors import DataError, UsageError
from ..fileio import atomic_path
from ..model import EmbBertBackbone
from ..tokenizer import EmbTokenizer
from .accel import autocast, grad_scaler, resolve_device
from .evaluate import pad_batch

EMBED_DIM = 384  # all-MiniLM-L6-v2's hidden size
WORDS = (4, 64)  # sentence lengths drawn from the unlabelled text, in words


@dataclass
class EmbedDistillOptions:
    preset: str = "base"
    max_len: int | None = None
    sentences: int = 100_000
    steps: int = 10_000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: float = 0.05
    seed: int = 0
    teacher_max_len: int = 128
    dropout: float | None = None  # attention dropout; None: the preset's (or --init's)
    progress: bool = True


def teacher_embeddings(texts: Sequence[str], max_len: int = 128, cache: Path | None = None,
                       batch_size: int = 64, progress: bool = True,
                       device: torch.device | None = None) -> np.ndarray:
    """(len(texts), 384) float32 unit vectors of the shipped all-MiniLM-L6-v2, cached."""
    from .teacher import PACKAGE, mean_pool, model_folder, require_transformers

    h = hashlib.sha256(json.dumps([PACKAGE.pin, max_len, list(texts)], ensure_ascii=False).encode())
    path = (cache or cache_dir()) / "teachers" / "minilm-embeddings" / f"{h.hexdigest()[:20]}.npy"
    if path.is_file():
        try:
            return np.load(path).astype(np.float32)
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read the cached teacher embeddings {path}: {exc}",
                            hint=f"delete {path} to compute them again") from None
    transformers = require_transformers()
    folder = model_folder(cache)
    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    device = device or torch.device("cpu")
    model = transformers.AutoModel.from_pretrained(str(folder)).eval().to(device)
    out = np.zeros((len(texts), EMBED_DIM), np.float16)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    started = time.monotonic()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            enc = tok([texts[i] for i in rows], truncation=True, max_length=max_len, padding=True,
                      return_tensors="pt")
            enc = {k: v.to(device) for k, v in enc.items()}
            with autocast(device):
                hidden = model(**enc).last_hidden_state.float()
            pooled = mean_pool(hidden, enc["attention_mask"])
            out[rows] = F.normalize(pooled, dim=-1).cpu().numpy().astype(np.float16)
            done = start + len(rows)
            if progress and (done // batch_size) % 200 == 0:
                print(f"teacher embeddings: {done:,}/{len(texts):,}, "
                      f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:  # np.save on a name would append .npy
            np.save(fh, out)
    return out.astype(np.float32)


class _Student(nn.Module):
    def __init__(self, backbone: EmbBertBackbone):
        super().__init__()
        self.body = backbone
        self.proj = nn.Linear(backbone.cfg.d_model, EMBED_DIM)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.proj(self.body(ids)[:, 0])


def distill_backbone(texts: Sequence[str], tokenizer: EmbTokenizer, opts: EmbedDistillOptions,
                     init: Checkpoint | None = None, cache: Path | None = None,
                     device: str = "cpu") -> Checkpoint:
    """Train a backbone towards the teacher's embeddings of ``texts``; a backbone checkpoint.
    One process (under torchrun it is refused): the teacher's forward passes dominate and
    are cached."""
    from .steps import warmup_linear

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UsageError("pretrain --teacher runs in one process",
                         hint="run it without torchrun (--device cuda uses one GPU)")
    dev = resolve_device(device)
    if opts.steps < 1 or opts.batch_size < 1 or opts.lr <= 0:
        raise UsageError("steps, batch size and learning rate must be positive")
    if not texts:
        raise DataError("no sentence to distil on", hint="check the unlabelled text")
    targets = torch.from_numpy(teacher_embeddings(texts, opts.teacher_max_len, cache,
                                                  progress=opts.progress, device=dev))
    if init is not None:
        if init.kind not in ("pretrain", "backbone"):
            raise UsageError(f"--init needs a pretrain or backbone checkpoint, this one is {init.kind!r}")
        cfg = init.config
    else:
        cfg = preset(opts.preset, max_len=opts.max_len, vocab_size=tokenizer.vocab_size, n_classes=2)
    if opts.dropout is not None:
        cfg = cfg.with_(attn_dropout=opts.dropout)
    torch.manual_seed(opts.seed)
    backbone = EmbBertBackbone(cfg)
    if init is not None:
        backbone.load_state_dict({k: v for k, v in init.state_dict.items() if k.startswith("backbone.")})
    student = _Student(backbone).to(dev)
    ids = tokenizer.encode_many(texts, max_len=cfg.max_len)
    optimizer = torch.optim.AdamW(student.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    scaler = grad_scaler(dev)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear(opts.steps, opts.warmup))
    history, window, started = [], [], time.monotonic()
    student.train()
    bar = tqdm(range(opts.steps), desc="distil embeddings", disable=not opts.progress, unit="step")
    for step in bar:
        rows = np.random.default_rng([opts.seed, step]).choice(len(ids), opts.batch_size,
                                                                replace=len(ids) < opts.batch_size)
        with autocast(dev):
            out = student(pad_batch([ids[i] for i in rows]).to(dev)).float()
        loss = (1.0 - F.cosine_similarity(out, targets[rows].to(dev), dim=-1)).mean()
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        window.append(loss.item())
        if (step + 1) % 50 == 0 or step + 1 == opts.steps:
            history.append({"step": step + 1, "cosine_loss": float(np.mean(window))})
            window = []
            bar.set_postfix(loss=f"{history[-1]['cosine_loss']:.4f}")
    backbone.eval().cpu()
    metrics = {"objective": "minilm-embeddings", "options": asdict(opts), "history": history,
               "step": opts.steps, "last": history[-1], "sentences": len(texts),
               "init": init.metrics.get("objective", "mlm+nsp") if init is not None else None,
               "device": str(dev),
               "seconds_this_run": round(time.monotonic() - started, 1)}
    return Checkpoint.from_model(backbone, tokenizer_json=tokenizer.to_json(), metrics=metrics,
                                 version=__version__)
