"""Shared by the device tests: a tiny real export (nano preset, random weights)."""

from __future__ import annotations

from pathlib import Path


def tiny_export(root: Path, max_len: int = 32, n_test: int = 8, seed: int = 0) -> Path:
    """Export a nano classifier saved with Checkpoint.from_model; returns the export dir."""
    from embbert_mcu.config import preset
    from embbert_mcu.export.devckpt import dev_checkpoint
    from embbert_mcu.export.exporter import export_checkpoint

    cfg = preset("nano", max_len=max_len)
    dev_checkpoint(cfg, root / "tiny.pt", seed=seed, n_test=n_test, max_words=max_len // 2)
    export_checkpoint(root / "tiny.pt", root / "model", onnx=False)
    return root / "model"
