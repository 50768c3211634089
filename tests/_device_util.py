"""Shared by the device tests: a tiny real export (nano preset, random weights), and a
connection to an emulator's serial socket."""

from __future__ import annotations

import socket
import time
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


def connect(port: int, timeout_s: float = 20.0) -> socket.socket:
    """A TCP connection to an emulator's serial socket on 127.0.0.1. ``emulator.start``
    returns once QEMU listens where it can read /proc/net/tcp; elsewhere QEMU may listen a
    moment later, so a refused connection is retried until ``timeout_s``, as the project's
    own SerialTransport does."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
