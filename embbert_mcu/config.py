"""The model's shape as one dataclass, with the paper's size presets.

``base`` is the configuration of EmbBERT-Q in arXiv 2502.10001 (357,248 parameters without
the classifier head). The other presets scale width, depth and vocabulary around it to land
near the paper's Nano / Tiny / Med / Big memory points; their exact shapes are ours.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from .errors import UsageError

PAD_ID, UNK_ID, CLS_ID, MASK_ID, SEP_ID = 0, 1, 2, 3, 4
N_SEGMENTS = 3  # 0 = pad, 1 = first segment, 2 = after the first [SEP]
BLOCK_SIZES = (8, 16, 32, 64, 128)  # values per int8 weight block the kernels implement
DEFAULT_BUDGET_BYTES = 781_000  # the paper's total for the base model
MAX_LEN_LIMIT = 4096  # positions; the C kernel and the serial protocol count tokens in u16

# Inclusive ranges per field: well beyond every preset, small enough that a model is built
# in memory. Token ids travel as u16, so the vocabulary stays below 2**16.
LIMITS = {
    "vocab_size": (1, 65535), "max_len": (1, MAX_LEN_LIMIT), "d_model": (1, 4096),
    "d_embed": (1, 4096), "n_layers": (1, 128), "conv_kernel": (1, 1024),
    "conv_expansion": (1, 16), "n_classes": (1, 4096), "attn_dropout": (0.0, 0.99),
    "lambda_init_std": (0.0, 10.0), "windows": (1, 64), "window_stride": (0, MAX_LEN_LIMIT),
}


@dataclass(frozen=True)
class EmbBertConfig:
    vocab_size: int = 8192  # v
    max_len: int = 256  # l
    d_model: int = 128  # d
    d_embed: int = 16  # rd, the Nano Embedder's reduced width
    n_layers: int = 4  # N
    conv_kernel: int = 32  # k
    conv_expansion: int = 1  # alpha
    n_classes: int = 2
    attn_dropout: float = 0.1
    lambda_init_std: float = 0.1
    # How a text longer than l is read (reading.py): up to ``windows`` windows of l tokens,
    # one every ``window_stride`` tokens of text (0: l - 1, windows that do not overlap),
    # their logits averaged. 1 reads the first l tokens only.
    windows: int = 1
    window_stride: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            low, high = LIMITS[f.name]
            if f.type in ("int", int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise UsageError(f"config field {f.name} must be an integer, "
                                     f"got {value!r} ({type(value).__name__})")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise UsageError(f"config field {f.name} must be a finite number, got {value!r}")
            if not low <= value <= high:
                raise UsageError(f"config field {f.name} must be within [{low}, {high}], "
                                 f"got {value}")
        if self.window_stride >= self.max_len:
            raise UsageError(f"window_stride must be below l = {self.max_len} so the windows "
                             f"leave no token out, got {self.window_stride}",
                             hint=f"use at most {self.max_len - 1}, or 0 for windows that do not overlap")
        if self.vocab_size <= SEP_ID:
            raise UsageError(f"vocab_size must exceed the {SEP_ID + 1} special tokens")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "EmbBertConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown config fields: {', '.join(unknown)}")
        return cls(**data)

    def with_(self, **changes) -> "EmbBertConfig":
        return replace(self, **changes)


PRESETS: dict[str, EmbBertConfig] = {
    "nano": EmbBertConfig(d_model=64, d_embed=8, n_layers=2, conv_kernel=16),
    "tiny": EmbBertConfig(d_model=96, d_embed=16, n_layers=3, conv_kernel=32),
    "base": EmbBertConfig(),
    "med": EmbBertConfig(max_len=512, d_model=256, d_embed=32, n_layers=8, conv_kernel=32),
    "big": EmbBertConfig(
        vocab_size=16384, max_len=512, d_model=512, d_embed=64, n_layers=12, conv_kernel=32
    ),
}


def preset(name: str, **overrides) -> EmbBertConfig:
    """The named preset, with any field overridden (``None`` values are ignored)."""
    if name not in PRESETS:
        raise UsageError(
            f"unknown preset {name!r}", hint=f"choose one of: {', '.join(PRESETS)}"
        )
    changes = {k: v for k, v in overrides.items() if v is not None}
    return PRESETS[name].with_(**changes)
