"""One checkpoint file: config, tokenizer, labels, weights, metrics, test split, tool version.

The file is a ``torch.save`` dictionary read back with ``weights_only=True`` (no pickled code
runs on load). A missing, truncated, corrupt or foreign file raises ``CheckpointError``.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import __version__
from .config import EmbBertConfig
from .errors import CheckpointError, UsageError
from .fileio import atomic_path
from .model import EmbBertBackbone, EmbBertForClassification, EmbBertForPretraining

FORMAT = "embbert-mcu-checkpoint"
FORMAT_VERSION = 1
KINDS = {"classifier": EmbBertForClassification, "pretrain": EmbBertForPretraining,
         "backbone": EmbBertBackbone}


@dataclass
class Checkpoint:
    config: EmbBertConfig
    state_dict: dict[str, torch.Tensor]
    kind: str = "classifier"  # "classifier" | "pretrain" | "backbone" (KINDS)
    tokenizer_json: str = ""  # the tokenizers library's JSON
    labels: list[str] = field(default_factory=list)  # class index -> label name
    metrics: dict = field(default_factory=dict)  # training metrics (accuracy, floor, ...)
    test_split: dict | None = None  # {"name": str, "texts": [str], "labels": [int]} (+ "pairs": [str])
    quant: dict | None = None  # quantization policy and decisions, set by `quantize`
    version: str = __version__  # tool version that wrote the file

    def model(self) -> nn.Module:
        """A fresh module of this checkpoint's kind with its weights loaded, in eval mode."""
        check_state_dict(self.state_dict, self.kind, self.config)
        module = KINDS[self.kind](self.config)
        try:
            module.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise CheckpointError(
                "checkpoint weights do not match its config",
                hint=str(exc).splitlines()[0],
            ) from None
        return module.eval()

    @classmethod
    def from_model(cls, module: nn.Module, **fields) -> "Checkpoint":
        kind = next((k for k, t in KINDS.items() if isinstance(module, t)), None)
        if kind is None:
            raise CheckpointError(f"cannot checkpoint a {type(module).__name__}")
        state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        return cls(config=module.cfg, state_dict=state, kind=kind, **fields)


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> None:
    """Write ``ckpt`` atomically; weights with NaN or infinity are never written."""
    bad = first_non_finite(ckpt.state_dict)
    if bad is not None:
        raise CheckpointError(
            f"training diverged: tensor {bad} holds NaN or infinite values; nothing was written",
            hint="lower --lr (or check the data), then train again")
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": ckpt.version,
        "kind": ckpt.kind,
        "config": ckpt.config.to_dict(),
        "state_dict": ckpt.state_dict,
        "tokenizer_json": ckpt.tokenizer_json,
        "labels": list(ckpt.labels),
        "metrics": ckpt.metrics,
        "test_split": ckpt.test_split,
        "quant": ckpt.quant,
    }
    buffer = io.BytesIO()
    torch.save(document, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint written by ``save_checkpoint``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}", hint="check the path")
    document = _read_document(path)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not an embbert-mcu checkpoint",
            hint="train one with `embbert-mcu train` (foreign PyTorch files are not read)",
        )
    if document.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {document.get('format_version')}, "
            f"this tool reads format {FORMAT_VERSION}"
        )
    try:
        config = document["config"]
        if not isinstance(config, dict):
            raise TypeError(f"config is a {type(config).__name__}, not a dictionary")
        config = EmbBertConfig.from_dict(config)
    except UsageError as exc:
        raise CheckpointError(f"{path} has an invalid config: {exc.message}",
                              hint="the file was edited or written by another tool; "
                                   "re-create it with `embbert-mcu train`") from None
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} is missing or has a malformed field: {exc}") from None
    try:
        ckpt = Checkpoint(
            config=config,
            state_dict=document["state_dict"],
            kind=document["kind"],
            tokenizer_json=document["tokenizer_json"],
            labels=list(document["labels"]),
            metrics=dict(document["metrics"]),
            test_split=document["test_split"],
            quant=document["quant"],
            version=document["version"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} is missing or has a malformed field: {exc}") from None
    if not isinstance(ckpt.kind, str) or ckpt.kind not in KINDS:
        raise CheckpointError(f"{path} has unknown kind {ckpt.kind!r}")
    try:
        _check_fields(ckpt)
        check_state_dict(ckpt.state_dict, ckpt.kind, ckpt.config)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc.message}", hint=exc.hint) from None
    ckpt.model()  # weights must load into the config's model
    return ckpt


def _check_fields(ckpt: Checkpoint) -> None:
    """Types and sizes of everything but the weights (the commands read them unchecked)."""
    if not isinstance(ckpt.tokenizer_json, str):
        raise CheckpointError("its tokenizer is not JSON text")
    if not all(isinstance(x, str) for x in ckpt.labels):
        raise CheckpointError("its labels are not all strings")
    if ckpt.kind == "classifier" and ckpt.labels and len(ckpt.labels) != ckpt.config.n_classes:
        raise CheckpointError(f"it names {len(ckpt.labels)} labels for "
                              f"{ckpt.config.n_classes} classes")
    split = ckpt.test_split
    if split is None:
        return
    texts, labels = (split.get("texts"), split.get("labels")) if isinstance(split, dict) \
        else (None, None)
    if not isinstance(texts, list) or not isinstance(labels, list) or len(texts) != len(labels):
        raise CheckpointError("its test split lacks `texts` and `labels` lists of one length",
                              hint="pass --test FILE, or re-create it with `embbert-mcu train`")
    if not all(isinstance(t, str) for t in texts) or not all(
            isinstance(y, int) and not isinstance(y, bool) and 0 <= y < ckpt.config.n_classes
            for y in labels):
        raise CheckpointError("its test split holds a non-text or an out-of-range label",
                              hint="pass --test FILE, or re-create it with `embbert-mcu train`")
    pairs = split.get("pairs")
    if pairs is not None and (not isinstance(pairs, list) or len(pairs) != len(texts)
                              or not all(isinstance(t, str) for t in pairs)):
        raise CheckpointError("its test split's `pairs` are not one text per test text",
                              hint="pass --test FILE, or re-create it with `embbert-mcu train`")


def check_state_dict(state: object, kind: str, config: EmbBertConfig) -> None:
    """Raise CheckpointError naming the first tensor that is missing, extra or misshapen.

    The expected shapes come from the model built on the meta device: no memory is spent
    on a config the weights do not match.
    """
    if not isinstance(state, dict):
        raise CheckpointError(f"its state_dict is a {type(state).__name__}, not a dictionary "
                              "of tensors", hint="re-create it with `embbert-mcu train`")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in KINDS[kind](config).state_dict().items()}
    for name, value in state.items():
        if name not in expected:
            raise CheckpointError(f"its weights have a tensor {name!r} the {kind} model has not",
                                  hint="the weights do not belong to this config")
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"its weight {name} is a {type(value).__name__}, not a tensor")
        if tuple(value.shape) != expected[name]:
            raise CheckpointError(
                f"its weight {name} has shape {tuple(value.shape)}, the config makes "
                f"{expected[name]}", hint="the weights do not belong to this config")
    missing = [k for k in expected if k not in state]
    if missing:
        raise CheckpointError(f"its weights lack {missing[0]}"
                              + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""),
                              hint="the weights do not belong to this config")


def first_non_finite(state: dict) -> str | None:
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() \
                and not bool(torch.isfinite(value).all()):
            return name
    return None


def _read_document(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (zipfile.BadZipFile, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path} is corrupt or truncated ({type(exc).__name__})",
            hint="re-create it; a checkpoint is written atomically, so a partial file is not ours",
        ) from None
    except Exception as exc:  # pickle.UnpicklingError for foreign objects, among others
        raise CheckpointError(
            f"{path} is not a readable embbert-mcu checkpoint ({type(exc).__name__})",
            hint="pass a .pt file written by `embbert-mcu train`, `pretrain` or `quantize`",
        ) from None
