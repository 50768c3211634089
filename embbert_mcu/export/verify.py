"""Stage 6: run the exported C on the host over the test split and compare it with the
simulated-quantized PyTorch model (the same weights and activation rounding the C uses).

Tolerance policy: the C and the simulation agree to float32 rounding (different summation
orders), so logits differ by ~1e-6 and argmaxes agree except on near ties; ``--verify``
fails below ``MIN_AGREEMENT`` argmax agreement.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..checkpoint import Checkpoint
from ..errors import VerificationError
from ..training.evaluate import predict_logits
from ..quant import simulated_model
from .host import HostModel
from .testset import load_testset
from .stages import stage_diffs

MIN_AGREEMENT = 0.999
N_SHOW = 4  # logits printed per side, llm.c check_tensor style


@dataclass
class VerifyReport:
    n: int
    act_dtype: str
    agreement: float  # fraction of sequences where C and PyTorch argmax agree
    max_abs_logit_diff: float
    c_accuracy: float | None  # None for texts without labels
    torch_accuracy: float | None
    float_accuracy: float | None  # the unquantized float32 model, for reference
    first_logits_c: list[float]
    first_logits_torch: list[float]
    mean_len: float
    worst_index: int = -1  # the test sequence with the largest logit difference
    worst_stages: list[dict] = field(default_factory=list)  # its X, stage by stage

    def to_dict(self) -> dict:
        return asdict(self)


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float | None:
    if bool((labels < 0).any()):  # texts without labels (export --verify --test FILE)
        return None
    return float((logits.argmax(dim=1) == labels).float().mean())


def verify_export(ckpt: Checkpoint, model_dir: str | Path, limit: int | None = None,
                  host: HostModel | None = None, rows: list[dict] | None = None) -> VerifyReport:
    """``rows`` ({"ids", "label"}, label -1 when unknown) replace the export's test split."""
    host = host or HostModel(model_dir)
    act_dtype, mac_dtype = host.manifest.act_dtype, host.manifest.mac_dtype
    rows = load_testset(model_dir, limit) if rows is None else rows[:limit] if limit else rows
    ids = [r["ids"] for r in rows]
    labels = torch.tensor([r["label"] for r in rows])
    with ThreadPoolExecutor(max_workers=1) as pool:  # the C runs while PyTorch computes
        c_future = pool.submit(host.run_many, ids)
        sim = simulated_model(ckpt)
        sim.act_dtype = act_dtype  # the export may override the policy's activation storage
        sim.mac_dtype = mac_dtype  # and its MAC path
        t_logits = predict_logits(sim, ids)  # (N, C)
        f_logits = predict_logits(ckpt.model(), ids)
        c_logits = torch.tensor(c_future.result(), dtype=torch.float32)  # (N, C)
    agree = float((c_logits.argmax(1) == t_logits.argmax(1)).float().mean())
    worst = int((c_logits - t_logits).abs().max(dim=1).values.argmax())
    return VerifyReport(
        n=len(ids), act_dtype=act_dtype, agreement=agree,
        max_abs_logit_diff=float((c_logits - t_logits).abs().max()),
        c_accuracy=_accuracy(c_logits, labels), torch_accuracy=_accuracy(t_logits, labels),
        float_accuracy=_accuracy(f_logits, labels),
        first_logits_c=[float(v) for v in c_logits.reshape(-1)[:N_SHOW]],
        first_logits_torch=[float(v) for v in t_logits.reshape(-1)[:N_SHOW]],
        mean_len=sum(len(s) for s in ids) / len(ids),
        worst_index=worst, worst_stages=stage_diffs(host, sim, ids[worst][:host.manifest.max_len]),  # its first window
    )


def check_agreement(report: VerifyReport) -> None:
    if report.agreement < MIN_AGREEMENT:
        raise VerificationError(
            f"C and PyTorch agree on {report.agreement:.2%} of {report.n} argmaxes "
            f"(need {MIN_AGREEMENT:.1%}); max logit difference {report.max_abs_logit_diff:.3g}",
            hint="the C kernels and the simulated model diverge; compare stage by stage",
        )
