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
from .errors import CheckpointError
from .fileio import atomic_path
from .model import EmbBertForClassification, EmbBertForPretraining

FORMAT = "embbert-mcu-checkpoint"
FORMAT_VERSION = 1
KINDS = {"classifier": EmbBertForClassification, "pretrain": EmbBertForPretraining}


@dataclass
class Checkpoint:
    config: EmbBertConfig
    state_dict: dict[str, torch.Tensor]
    kind: str = "classifier"  # "classifier" | "pretrain"
    tokenizer_json: str = ""  # the tokenizers library's JSON
    labels: list[str] = field(default_factory=list)  # class index -> label name
    metrics: dict = field(default_factory=dict)  # training metrics (accuracy, floor, ...)
    test_split: dict | None = None  # {"name": str, "texts": [str], "labels": [int]}
    quant: dict | None = None  # quantization policy and decisions, set by `quantize`
    version: str = __version__  # tool version that wrote the file

    def model(self) -> nn.Module:
        """A fresh module of this checkpoint's kind with its weights loaded, in eval mode."""
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
    """Write ``ckpt`` atomically."""
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
        ckpt = Checkpoint(
            config=EmbBertConfig.from_dict(document["config"]),
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
    if ckpt.kind not in KINDS:
        raise CheckpointError(f"{path} has unknown kind {ckpt.kind!r}")
    ckpt.model()  # weights must match the config
    return ckpt


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
            f"{path} is not a readable embbert-mcu checkpoint ({type(exc).__name__})"
        ) from None
