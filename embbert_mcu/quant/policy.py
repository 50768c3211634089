"""The quantization policy a user sets: block size, fp16 fallback rule and threshold, activations.

Stored as ``ckpt.quant["policy"]`` (a plain dict) so the exporter and ``pack_model`` read back
exactly what was measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..config import BLOCK_SIZES
from ..errors import UsageError


FALLBACK_RULES = ("none", "tensor", "block")
ACT_DTYPES = ("int8", "f32")
# How the kernels multiply: "f32" = float activations times dequantized weights; "int8" = each
# linear's input row quantized by the activation rule, int8 x int8 products summed in int32
# (attention too; the conv int8 x int16), the default.
MAC_DTYPES = ("f32", "int8")
# Relative RMS error (block or tensor error over the tensor's RMS) above which values go fp16.
# `--threshold auto` (the most accurate candidate within 400 kB on the validation slice, fewest
# bytes on a tie) picked it for the first rt-polarity base default; on the integer path it keeps
# 8.4% of the default model's parameters in fp16 (the contractions' diagonal blocks) at no test
# cost, and the committed default uses `auto` (every weight int8; docs/quantization.md).
DEFAULT_THRESHOLD = 0.008


@dataclass(frozen=True)
class QuantPolicy:
    block: int = 32  # values per int8 block (one fp16 scale each), along the input dimension
    fallback: str = "block"  # "none" | "tensor" | "block" (block-level only for nn.Linear weights)
    threshold: float = DEFAULT_THRESHOLD  # relative RMS error that triggers the fp16 fallback
    act_dtype: str = "int8"  # how the kernel stores activation rows: "int8" | "f32"
    redecide: bool = True  # re-run the fallback decision on the recovered weights
    # how the kernels multiply (MAC_DTYPES): the integer path by default; on rt-polarity and
    # bbc-news its C scores what the float model scores (docs/results.md: quantize-default,
    # export-bbc-news-int8)
    mac_dtype: str = "int8"

    def __post_init__(self) -> None:
        if self.block not in BLOCK_SIZES:
            raise UsageError(f"block size {self.block} is not supported",
                             hint=f"choose one of {', '.join(map(str, BLOCK_SIZES))}")
        if self.fallback not in FALLBACK_RULES:
            raise UsageError(f"unknown fallback rule {self.fallback!r}",
                             hint=f"choose one of {', '.join(FALLBACK_RULES)}")
        if not self.threshold > 0:
            raise UsageError(f"the fallback threshold must be positive, got {self.threshold}")
        if self.act_dtype not in ACT_DTYPES:
            raise UsageError(f"unknown activation dtype {self.act_dtype!r}",
                             hint=f"choose one of {', '.join(ACT_DTYPES)}")
        if self.mac_dtype not in MAC_DTYPES:
            raise UsageError(f"unknown MAC dtype {self.mac_dtype!r}",
                             hint=f"choose one of {', '.join(MAC_DTYPES)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "QuantPolicy":
        if not isinstance(data, dict):
            raise UsageError(f"a quantization policy must be a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown quantization policy fields: {', '.join(unknown)}")
        return cls(**data)

    def with_(self, **changes) -> "QuantPolicy":
        values = {**self.to_dict(), **{k: v for k, v in changes.items() if v is not None}}
        return QuantPolicy(**values)
