import os

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture
def tiny_cfg():
    """A small config that still exercises every part of the model."""
    from embbert_mcu.config import preset

    return preset("base", vocab_size=300, max_len=24, d_model=32, d_embed=8, n_layers=2,
                  conv_kernel=4)


@pytest.fixture
def minilm_cache(tmp_path, monkeypatch):
    """A fresh cache whose teacher folder is the real MiniLM (fetched once into the user cache)."""
    from embbert_mcu.training.teacher import model_folder

    real = model_folder()
    root = tmp_path / "cache"
    (root / "teachers").mkdir(parents=True)
    (root / "teachers" / real.name).symlink_to(real, target_is_directory=True)
    monkeypatch.setenv("EMBBERT_MCU_CACHE", str(root))
    return root
