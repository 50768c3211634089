"""The float model as ONNX (``model.onnx``), for interop: the same traced program as the IR."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path

from ..errors import ExportError
from .graph import GraphIR


def write_onnx(ir: GraphIR, path: Path) -> None:
    """Write ``ir.program`` as one self-contained ONNX file (no external data)."""
    import torch

    try:
        # torch.onnx prints progress on stdout; keep stdout clean for --json
        logger = logging.getLogger("torch.onnx")
        level = logger.level
        logger.setLevel(logging.ERROR)  # it warns about torchvision ops we never use
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(ir.program, (), str(path), dynamo=True, external_data=False,
                              input_names=["ids"], output_names=["logits"], verbose=False)
        logger.setLevel(level)
    except Exception as exc:  # the ONNX exporter raises many types
        raise ExportError(f"ONNX export failed ({type(exc).__name__}: {str(exc)[:160]})",
                          hint="export with --no-onnx to skip model.onnx") from None
    if not path.is_file() or os.path.getsize(path) == 0:
        raise ExportError("ONNX export wrote no file", hint="export with --no-onnx")
