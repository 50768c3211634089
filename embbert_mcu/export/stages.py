"""Stage-by-stage comparison of the host C with the simulated model: where do they part?

The C's X buffer is read (dequantized) at the start of each block's stage (1..N), i.e. after
the embedder and after blocks 0..N-2; the simulated model is run the same way, rounding the
same rows, and its X captured at the same points. The last block ends in logits, compared by
verify.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..model import segment_ids
from ..quant import SimulatedClassifier
from .host import HostModel


@torch.no_grad()
def simulated_stage_outputs(sim: SimulatedClassifier, ids: Sequence[int]) -> dict[int, np.ndarray]:
    """{stage index: X (n, d)} of the simulated model on one unpadded sequence."""
    backbone = sim.net.backbone
    t = torch.tensor([list(ids)], dtype=torch.long)  # (1, n)
    key_mask = torch.ones_like(t, dtype=torch.bool)
    x = sim.store(backbone.embedder(t, segment_ids(t)))  # (1, n, d)
    out = {1: x[0].numpy().copy()}
    for b, block in enumerate(backbone.blocks[:-1]):
        h = sim.store(block.norm(x))
        lam = block.lambdas()
        x = sim.store(lam[0] * block.attention(h, key_mask) - lam[1] * block.convolution(h))
        out[b + 2] = x[0].numpy().copy()
    return out


def stage_diffs(host: HostModel, sim: SimulatedClassifier, ids: Sequence[int]) -> list[dict]:
    """Per stage: its name and the max |C - simulated| over X's n x d values."""
    names = host.manifest["stages"]
    c_out, t_out = host.stage_outputs(ids), simulated_stage_outputs(sim, ids)
    return [{"after": names[s - 1], "max_abs_diff": float(np.abs(c_out[s] - t_out[s]).max())}
            for s in sorted(t_out)]
