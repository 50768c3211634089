"""Stage-by-stage comparison of the host C with the simulated model: where do they part?

The C's X buffer is read (dequantized) at the start of each block's stage (1..N), i.e. after
the embedder and after blocks 0..N-2; the simulated model's own forward is run with a capture
hook at the same points (``model.ForwardHooks``). The last block ends in logits, compared by
verify.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..quant import SimulatedClassifier
from .host import HostModel


@torch.no_grad()
def simulated_stage_outputs(sim: SimulatedClassifier, ids: Sequence[int]) -> dict[int, np.ndarray]:
    """{stage index: X (n, d)} of the simulated model on one unpadded sequence."""
    t = torch.tensor([list(ids)], dtype=torch.long)  # (1, n), no padding
    out: dict[int, np.ndarray] = {}

    def capture(stage: int, x: torch.Tensor) -> None:
        out[stage] = x[0].numpy().copy()  # (n, d)

    sim.net(t, None, sim.hooks(capture))
    return out


def stage_diffs(host: HostModel, sim: SimulatedClassifier, ids: Sequence[int]) -> list[dict]:
    """Per stage: its name and the max |C - simulated| over X's n x d values."""
    names = host.manifest.stages
    c_out, t_out = host.stage_outputs(ids), simulated_stage_outputs(sim, ids)
    return [{"after": names[s - 1], "max_abs_diff": float(np.abs(c_out[s] - t_out[s]).max())}
            for s in sorted(t_out)]
