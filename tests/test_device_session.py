"""The device commands called from Python (device/session.py), without the CLI."""

from __future__ import annotations

import pytest

from embbert_mcu.device import session
from embbert_mcu.errors import UsageError

from _device_util import tiny_export


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_export(tmp_path_factory.mktemp("session"), max_len=16, n_test=4)


def test_flash_board_generate_only_writes_the_project(model, tmp_path):
    project = tmp_path / "fw"
    r = session.flash_board("qemu_f446", model, project, generate_only=True)
    assert r.to_dict() == {"board": "qemu_f446", "project_dir": str(project), "built": False}
    ini = (project / "platformio.ini").read_text()
    assert "[env:qemu_f446]" in ini
    src = {p.name for p in (project / "src").iterdir()}
    assert {"emb_model_bind.h", "embbert_model.c", "embbert_weights.c"} <= src


def test_stop_emulators_with_nothing_running(tmp_path):
    search = session.stop_emulators(project_dir=tmp_path / "none")
    assert search.results == [] and search.explicit and search.where == tmp_path / "none"


def test_bench_samples_and_the_target_check(model):
    ids = session.bench_samples(model, limit=3)
    texts = session.bench_samples(model, limit=3, text=True)
    assert len(ids) == len(texts) == 3
    assert [r["label"] for r in ids] == [r["label"] for r in texts]
    assert all(isinstance(r["text"], str) and "ids" not in r for r in texts)
    with pytest.raises(UsageError, match="give --port"):
        session.bench_device(ids, model)
    with pytest.raises(UsageError, match="is a real board"):
        session.bench_device(ids, model, board_id="nucleo_f446re")
