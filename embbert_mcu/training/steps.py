"""The optimisation steps every trainer shares: one epoch over length-bucketed batches
(gold labels, or gold mixed with a teacher's soft targets; sharded under torchrun), the
distillation loss, and the warm-up + linear-decay schedule. Fine-tuning (``train.py``), the
teacher's fine-tune, pretraining, general distillation and quantization recovery use them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .accel import autocast, processes
from .evaluate import pad_batch


def train_epoch(model, train_ids, labels, optimizer, schedule, rng, batch_size: int, desc: str,
                progress: bool, soft: torch.Tensor | None = None,
                gold_weight: torch.Tensor | None = None, after_step=None,
                device: torch.device | None = None, scaler=None, soft_loss: str = "ce") -> float:
    """One pass over the training rows in length-bucketed batches; the mean training loss.

    With ``soft`` targets each row's loss is ``w * CE(gold) + (1 - w) * L(soft)``,
    ``w = gold_weight[row]``, ``L`` = ``soft_loss_of``. ``after_step()`` is called after every optimizer step.
    Under torchrun each process takes its shard of every global batch (``accel.py``).
    """
    device = device or torch.device("cpu")
    procs = processes()
    model.train()
    batches = bucketed_batches([len(s) for s in train_ids], batch_size, rng)
    bar = tqdm(batches, desc=desc, disable=not progress or not procs.main, leave=False, unit="batch")
    total = 0.0
    for batch in bar:
        rows = procs.shard(batch)
        local = _batch_loss(model, train_ids, rows, labels, soft, gold_weight, device,
                            soft_loss) / len(batch)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(local).backward()
            scaler.unscale_(optimizer)
        else:
            local.backward()
        procs.sum_gradients(model.parameters())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if scaler is not None and scaler.is_enabled():
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        schedule.step()
        if after_step is not None:
            after_step()
        loss = procs.sum_value(local.item())
        total += loss * len(batch)
        bar.set_postfix(loss=f"{loss:.3f}")
    model.eval()
    return total / len(train_ids)


def soft_loss_of(logits: torch.Tensor, soft: torch.Tensor, how: str = "ce") -> torch.Tensor:
    """Per row, how far the student's ``logits`` are from the teacher's probabilities
    ``soft``: "ce", cross-entropy; "mse", the squared distance between the two as centred
    logits (the teacher's: its log-probabilities, i.e. its logits over the temperature, less
    their mean), the logit matching Tang et al. (2019) distil BERT into small students with."""
    if how == "ce":
        return -(soft * F.log_softmax(logits, -1)).sum(-1)
    if how == "mse":
        target = torch.log(soft.clamp_min(1e-7))
        diff = (logits - logits.mean(-1, keepdim=True)) - (target - target.mean(-1, keepdim=True))
        return diff.pow(2).sum(-1)
    raise ValueError(f"unknown soft loss {how!r}")


def _batch_loss(model, train_ids, rows, labels, soft, gold_weight, device,
                soft_loss: str = "ce") -> torch.Tensor:
    """The summed loss of ``rows`` (a zero that still reaches every parameter if empty)."""
    if not rows:
        return sum(p.sum() * 0.0 for p in model.parameters())
    with autocast(device):
        logits = model(pad_batch([train_ids[i] for i in rows]).to(device)).float()
    gold = labels[rows].to(device)
    if soft is None:
        return F.cross_entropy(logits, gold, reduction="sum")
    w = gold_weight[rows].to(device)
    hard = F.cross_entropy(logits, gold, reduction="none")
    taught = soft_loss_of(logits, soft[rows].to(device), soft_loss)
    return (w * hard + (1 - w) * taught).sum()


def warmup_linear(total_steps: int, warmup: float):
    """lr multiplier: linear 0 -> 1 over the warm-up steps, then linear 1 -> 0."""
    warm = max(1, int(warmup * total_steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    return factor


def bucketed_batches(lengths: list[int], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Shuffled batches of similar-length rows: shuffle, sort within pools of 50 batches."""
    order = rng.permutation(len(lengths)).tolist()
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]
