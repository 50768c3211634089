"""Where training runs: the device, mixed precision, and data-parallel processes.

``--device auto`` picks CUDA, then Apple's MPS, then the CPU. On CUDA the forward pass runs
under float16 autocast with a gradient scaler; elsewhere everything stays float32.

Under ``torchrun`` (``WORLD_SIZE`` > 1) every process builds the same global batch from
(seed, step) and keeps rows ``rank::world`` of it. Each process's loss is its rows' share of
the global batch's loss (summed, divided by the global count), gradients are summed over the
processes, so every process takes the same optimizer step as one process with the whole
batch would (up to float summation order). Rank 0 alone writes files.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import UsageError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "cpu", local_rank: int = 0) -> torch.device:
    """The torch device for ``--device``; a clear error when the accelerator is absent."""
    if name not in DEVICES:
        raise UsageError(f"unknown device {name!r}", hint=f"one of: {', '.join(DEVICES)}")
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is visible to torch",
                             hint="install a CUDA build of torch, or use --device cpu")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "mps" and not has_mps:
        raise UsageError("--device mps: Apple's Metal backend is not available",
                         hint="use --device cpu")
    return torch.device(name)


def autocast(device: torch.device):
    """float16 autocast on CUDA, nothing elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return nullcontext()


def grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    return torch.amp.GradScaler("cuda", enabled=device.type == "cuda")


@dataclass
class Processes:
    """This process's place among the data-parallel processes (1 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, rows: list[int]) -> list[int]:
        """This process's rows of a global batch."""
        return rows[self.rank :: self.world]

    def sum_gradients(self, params) -> None:
        """Sum every parameter's gradient over the processes (absent gradients count as 0)."""
        if not self.distributed:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)

    def sum_value(self, value: float) -> float:
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return float(t.item())

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


_CURRENT = Processes()


def processes() -> Processes:
    return _CURRENT


def init_processes(device_name: str = "cpu") -> tuple[Processes, torch.device]:
    """Join the torchrun process group if there is one (gloo on CPU, NCCL on CUDA)."""
    global _CURRENT
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world > 1 and not dist.is_initialized():
        if device.type == "mps":
            raise UsageError("data-parallel training does not support --device mps",
                             hint="run one process, or use cuda/cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if world > 1:
        _CURRENT = Processes(dist.get_rank(), dist.get_world_size(), local_rank)
    return _CURRENT, device
