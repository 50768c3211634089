"""Pretraining: masked-language modelling (15%, 80/10/10) and next-sentence prediction.

Batches are a pure function of (seed, step), so a run resumed from its saved state sees the
same data as one that never stopped. The resume state (weights, optimizer, step) is a separate
file beside the output checkpoint: ``<output>.resume``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import __version__
from ..checkpoint import Checkpoint, save_checkpoint
from ..config import CLS_ID, MASK_ID, SEP_ID, preset
from ..errors import CheckpointError, UsageError
from .accel import autocast, grad_scaler, init_processes
from .evaluate import pad_batch
from ..fileio import atomic_path
from ..model import EmbBertForPretraining
from ..tokenizer import EmbTokenizer

N_SPECIALS = SEP_ID + 1  # ids below this are special and never masked nor drawn as noise
IGNORE = -100  # cross_entropy's ignore_index: positions without an MLM target


@dataclass
class PretrainOptions:
    preset: str = "base"
    max_len: int | None = None
    steps: int = 10000
    batch_size: int = 32
    seq_len: int = 64  # typical example length; 10% of batches use the full max_len
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: float = 0.05
    seed: int = 0
    save_every: int = 250
    progress: bool = True
    dropout: float | None = None  # attention dropout; None: the preset's


def mask_tokens(ids: torch.Tensor, vocab_size: int, gen: torch.Generator,
                prob: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of (B, L) ids: (inputs, targets), targets IGNORE where not chosen.

    Each non-special token is chosen with ``prob``; a chosen token becomes [MASK] 80% of the
    time, a random ordinary token 10%, and stays itself 10%.
    """
    maskable = ids >= N_SPECIALS
    chosen = (torch.rand(ids.shape, generator=gen) < prob) & maskable
    targets = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    action = torch.rand(ids.shape, generator=gen)
    noise = torch.randint(N_SPECIALS, vocab_size, ids.shape, generator=gen)
    inputs = torch.where(chosen & (action < 0.8), torch.full_like(ids, MASK_ID), ids)
    inputs = torch.where(chosen & (action >= 0.8) & (action < 0.9), noise, inputs)
    return inputs, targets


class PairSampler:
    """Sentence-pair examples from tokenized documents: (ids, is_next) per draw."""

    def __init__(self, docs: list[list[list[int]]], max_len: int, seq_len: int):
        self.docs = [d for d in docs if d]
        if len(self.docs) < 2:
            raise UsageError("pretraining needs at least two non-empty documents")
        self.max_len, self.seq_len = max_len, min(seq_len, max_len)

    def draw(self, rng: np.random.Generator, long: bool = False) -> tuple[list[int], int]:
        """One example of at most ``seq_len`` ids (``max_len`` if ``long``)."""
        target = self.max_len if long else self.seq_len
        budget = target - 3  # [CLS] a [SEP] b [SEP]
        d = int(rng.integers(len(self.docs)))
        doc = self.docs[d]
        start = int(rng.integers(len(doc)))
        a, used = self._take(doc, start, int(rng.integers(1, max(2, budget))))  # 1..budget-1
        is_next = int(rng.random() < 0.5 and start + used < len(doc))
        if is_next:
            b, _ = self._take(doc, start + used, budget - len(a))
        else:
            other = self.docs[(d + 1 + int(rng.integers(len(self.docs) - 1))) % len(self.docs)]
            b, _ = self._take(other, int(rng.integers(len(other))), budget - len(a))
        return [CLS_ID, *a, SEP_ID, *b, SEP_ID], is_next  # at most `target` ids

    @staticmethod
    def _take(doc: list[list[int]], start: int, want: int) -> tuple[list[int], int]:
        """Whole segments from ``start`` until ``want`` tokens (at least one segment)."""
        out: list[int] = []
        i = start
        while i < len(doc) and (not out or len(out) + len(doc[i]) <= want):
            out.extend(doc[i])
            i += 1
        return out[: max(1, want)], i - start


def make_batch(sampler: PairSampler, vocab_size: int, seed: int, step: int, batch_size: int):
    """(inputs, targets, is_next) of one step; a pure function of (seed, step)."""
    rng = np.random.default_rng([seed, step])
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    long = bool(rng.random() < 0.1)  # per batch, so short batches stay short after padding
    examples = [sampler.draw(rng, long) for _ in range(batch_size)]
    ids = pad_batch([e[0] for e in examples])
    inputs, targets = mask_tokens(ids, vocab_size, gen)
    return inputs, targets, torch.tensor([e[1] for e in examples])


def pretrain_loss(model: EmbBertForPretraining, inputs, targets, is_next) -> tuple[torch.Tensor, dict]:
    """MLM cross-entropy on the masked positions only (the v-wide head is the costly part)."""
    x = model.backbone(inputs)  # (B, L, d)
    picked = targets != IGNORE
    mlm = F.cross_entropy(model.mlm(x[picked]), targets[picked]) if picked.any() else x.sum() * 0
    nsp_logits = model.nsp(x[:, 0])
    nsp = F.cross_entropy(nsp_logits, is_next)
    nsp_acc = (nsp_logits.argmax(1) == is_next).float().mean()
    return mlm + nsp, {"mlm": mlm.item(), "nsp": nsp.item(), "nsp_acc": nsp_acc.item()}


def sharded_loss(model: EmbBertForPretraining, inputs, targets, is_next, rows: list[int],
                 device) -> tuple[torch.Tensor, dict]:
    """This process's share of the global batch's MLM + NSP loss: sums over ``rows``
    divided by the global batch's counts, so the shares add up to ``pretrain_loss``.
    The parts are this share's contributions (sum them over the processes)."""
    n_masked = max(1, int((targets != IGNORE).sum()))
    n = len(is_next)
    if not rows:
        zero = sum(p.sum() * 0.0 for p in model.parameters())
        return zero, {"mlm": 0.0, "nsp": 0.0, "nsp_acc": 0.0}
    inputs, targets, is_next = inputs[rows].to(device), targets[rows].to(device), is_next[rows].to(device)
    with autocast(device):
        x = model.backbone(inputs)  # (b, L, d)
        picked = targets != IGNORE
        mlm_logits = model.mlm(x[picked]).float()
        nsp_logits = model.nsp(x[:, 0]).float()
    mlm = F.cross_entropy(mlm_logits, targets[picked], reduction="sum") / n_masked
    nsp = F.cross_entropy(nsp_logits, is_next, reduction="sum") / n
    nsp_acc = (nsp_logits.argmax(1) == is_next).float().sum() / n
    return mlm + nsp, {"mlm": mlm.item(), "nsp": nsp.item(), "nsp_acc": nsp_acc.item()}


def tokenize_documents(docs: list[list[str]], tokenizer: EmbTokenizer) -> list[list[list[int]]]:
    """Each document's segments as token ids (no specials); empty segments dropped."""
    flat = tokenizer.pieces_many(s for d in docs for s in d)
    out, i = [], 0
    for d in docs:
        out.append([ids for ids in flat[i : i + len(d)] if ids])
        i += len(d)
    return out


def read_corpus_file(path: str | Path) -> list[list[str]]:
    """Documents from a text file: one segment per line, blank lines between documents."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the corpus {path}: {exc}",
                         hint="a UTF-8 text file, one segment per line") from None
    docs = [[line.strip() for line in block.splitlines() if line.strip()]
            for block in text.split("\n\n")]
    return [d for d in docs if d]


def resume_path(output: str | Path) -> Path:
    return Path(f"{output}.resume")


def run_pretraining(docs: list[list[list[int]]], tokenizer: EmbTokenizer, opts: PretrainOptions,
                    output: str | Path, resume: bool = False, stop_at: int | None = None,
                    device: str = "cpu") -> Checkpoint:
    """Train MLM + NSP for ``opts.steps`` steps, saving checkpoint and resume state as it goes.

    ``stop_at`` ends this run early after that step (saved; continue later with ``resume``).
    Under torchrun each process takes its rows of every global batch (``accel.py``); every
    process reads the resume state, rank 0 alone writes.
    """
    if opts.steps < 1 or opts.batch_size < 1 or opts.seq_len < 8:
        raise UsageError("steps and batch size must be positive and seq_len at least 8")
    cfg = preset(opts.preset, max_len=opts.max_len, vocab_size=tokenizer.vocab_size, n_classes=2)
    if opts.dropout is not None:
        if not 0.0 <= opts.dropout < 1.0:
            raise UsageError(f"--dropout must be within [0, 1), got {opts.dropout}")
        cfg = cfg.with_(attn_dropout=opts.dropout)
    procs, dev = init_processes(device)
    torch.manual_seed(opts.seed)
    model = EmbBertForPretraining(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    from .steps import warmup_linear  # shared schedule

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear(opts.steps, opts.warmup))
    start, history = 0, []
    if resume and resume_path(output).is_file():
        start, history = _load_state(resume_path(output), opts, model, optimizer, schedule)
    model.to(dev)
    _optimizer_to(optimizer, dev)
    scaler = grad_scaler(dev)
    sampler = PairSampler(docs, cfg.max_len, opts.seq_len)
    model.train()
    end = min(opts.steps, stop_at) if stop_at else opts.steps
    bar = tqdm(range(start, end), initial=start, total=opts.steps, desc="pretrain",
               disable=not opts.progress or not procs.main, unit="step")
    window: list[dict] = []
    started = time.monotonic()
    for step in bar:
        inputs, targets, is_next = make_batch(sampler, cfg.vocab_size, opts.seed, step, opts.batch_size)
        # dropout, also a function of the step (and of the rank: its rows differ)
        torch.manual_seed(opts.seed * 1_000_003 + step + 7919 * procs.rank)
        loss, parts = sharded_loss(model, inputs, targets, is_next,
                                   procs.shard(list(range(len(is_next)))), dev)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if scaler.is_enabled():
            scaler.unscale_(optimizer)
        procs.sum_gradients(model.parameters())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        parts = {k: procs.sum_value(v) for k, v in parts.items()}
        window.append(parts)
        bar.set_postfix(mlm=f"{parts['mlm']:.3f}", nsp=f"{parts['nsp']:.3f}")
        done = step + 1
        if done % 50 == 0 or done == end:
            history.append({"step": done, **{k: float(np.mean([w[k] for w in window])) for k in parts}})
            window = []
        if (done % opts.save_every == 0 or done == end) and procs.main:
            ckpt = _checkpoint(model, tokenizer, opts, history, done, time.monotonic() - started)
            save_checkpoint(ckpt, output)
            _save_state(resume_path(output), opts, model, optimizer, schedule, done, history)
    return _checkpoint(model, tokenizer, opts, history, max(start, end), time.monotonic() - started)


def _optimizer_to(optimizer, device) -> None:
    """Move a (resumed) optimizer's state tensors to ``device``."""
    for state in optimizer.state.values():
        for k, v in state.items():
            if torch.is_tensor(v) and k != "step":
                state[k] = v.to(device)


def backbone_checkpoint(ckpt: Checkpoint) -> Checkpoint:
    """The backbone of a pretrain checkpoint alone (kind "backbone"), its metrics kept."""
    state = {k: v for k, v in ckpt.state_dict.items() if k.startswith("backbone.")}
    return Checkpoint(config=ckpt.config, state_dict=state, kind="backbone",
                      tokenizer_json=ckpt.tokenizer_json, metrics=ckpt.metrics, version=ckpt.version)


def _checkpoint(model, tokenizer, opts, history, step, seconds) -> Checkpoint:
    metrics = {"step": step, "history": history, "options": asdict(opts),
               "last": history[-1] if history else {}, "seconds_this_run": round(seconds, 1)}
    return Checkpoint.from_model(model, tokenizer_json=tokenizer.to_json(),
                                 metrics=metrics, version=__version__)


def _save_state(path: Path, opts, model, optimizer, schedule, step: int, history) -> None:
    state = {"format": "embbert-mcu-pretrain-state", "options": asdict(opts), "step": step,
             "history": history, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "schedule": schedule.state_dict()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


_FREE_OPTIONS = ("progress", "save_every")  # may change between a run and its resumption


def _load_state(path: Path, opts, model, optimizer, schedule) -> tuple[int, list]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved = {k: v for k, v in state["options"].items() if k not in _FREE_OPTIONS}
    except Exception as exc:  # truncated, foreign or older files
        raise CheckpointError(f"cannot resume from {path} ({type(exc).__name__})",
                              hint="delete it to start over") from None
    wanted = {k: v for k, v in asdict(opts).items() if k not in _FREE_OPTIONS}
    if saved != wanted:
        diff = sorted(k for k in wanted if saved.get(k) != wanted[k])
        raise UsageError(f"{path} was saved with different options: {', '.join(diff)}",
                         hint="resume with the same options, or delete the file to start over")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    return int(state["step"]), list(state["history"])
