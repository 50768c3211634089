"""The per-tensor error report: what each tensor became, its bytes and its rounding error."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .blocks import QTensor
from .decide import packed_view, relative_errors

LAMBDA_BYTES_PER_BLOCK = 8  # two float32 lambdas per encoder block, folded by the exporter


@dataclass
class TensorReport:
    name: str
    kind: str  # linear | table | conv | vector
    shape: list[int]
    encoding: str  # q8 | f16 | mixed | f32
    numel: int
    f16_values: int  # values stored in fp16 (whole tensor or fallback blocks)
    bytes: int  # QTensor.nbytes()
    max_abs_err: float
    mean_abs_err: float
    rel_err: float  # RMS error / RMS of the tensor

    @property
    def int8_values(self) -> int:
        return self.numel - self.f16_values if self.encoding in ("q8", "mixed") else 0


@dataclass
class QuantReport:
    tensors: list[TensorReport] = field(default_factory=list)
    lambda_bytes: int = 0

    def totals(self) -> dict:
        n = sum(t.numel for t in self.tensors)
        int8 = sum(t.int8_values for t in self.tensors)
        f16 = sum(t.f16_values for t in self.tensors)
        return {
            "params": n,
            "int8_params": int8,
            "f16_params": f16,
            "f32_params": n - int8 - f16,
            "int8_param_share": int8 / n if n else 0.0,
            "f16_param_share": f16 / n if n else 0.0,
            "f32_param_share": (n - int8 - f16) / n if n else 0.0,
            "weights_bytes": sum(t.bytes for t in self.tensors),
            "lambda_bytes": self.lambda_bytes,
        }

    def to_dict(self) -> dict:
        return {**self.totals(), "tensors": [asdict(t) for t in self.tensors]}


def build_report(state_dict: dict[str, torch.Tensor], kinds: dict[str, str],
                 packed: dict[str, QTensor]) -> QuantReport:
    """Compare each packed tensor with the float weights it came from."""
    report = QuantReport(lambda_bytes=LAMBDA_BYTES_PER_BLOCK * sum(
        1 for k, kind in kinds.items() if kind == "lambda" and k.endswith("lambda_q")))
    for name, qt in packed.items():
        x = packed_view(state_dict[name].detach().to(torch.float32).numpy(), kinds[name])
        x_hat = qt.dequantize()
        diff = np.abs(x.astype(np.float64) - x_hat)
        _, rel = relative_errors(x, x_hat, qt.block if qt.encoding in ("q8", "mixed") else 1)
        report.tensors.append(TensorReport(
            name=name, kind=kinds[name], shape=list(qt.shape), encoding=qt.encoding,
            numel=qt.numel, f16_values=int(qt.f16.size), bytes=qt.nbytes(),
            max_abs_err=float(diff.max()) if diff.size else 0.0,
            mean_abs_err=float(diff.mean()) if diff.size else 0.0, rel_err=rel,
        ))
    return report
