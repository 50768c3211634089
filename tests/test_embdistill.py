"""pretrain --teacher minilm: the backbone learns the shipped MiniLM's sentence embeddings."""

import json

import numpy as np
import pytest

from embbert_mcu.checkpoint import load_checkpoint
from test_train import make_csv, run_cli, run_ok

pytest.importorskip("transformers", reason="the [teacher] extra is not installed")

SENTENCES = [
    "The council met on Monday to vote on the new budget for the town.",
    "Heavy rain fell across the north of the country overnight and roads closed.",
    "The film was a delight from start to finish, with a wonderful cast.",
    "Prices rose again in March as the cost of fuel went up sharply.",
    "The striker scored twice in the second half to win the cup final.",
    "A new phone with a faster chip and a better camera went on sale today.",
]


@pytest.fixture
def cache(minilm_cache):
    return minilm_cache


def test_teacher_embeddings_are_unit_vectors_and_cached(cache):
    from embbert_mcu.training.embdistill import teacher_embeddings

    first = teacher_embeddings(SENTENCES, max_len=32, progress=False)
    assert first.shape == (6, 384) and np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=2e-3)
    sims = first @ first.T
    assert sims[0, 3] > sims[0, 4]  # budget ~ prices closer than budget ~ football
    (path,) = cache.glob("teachers/minilm-embeddings/*.npy")
    stamp = path.stat().st_mtime_ns
    assert np.array_equal(teacher_embeddings(SENTENCES, max_len=32, progress=False), first)
    assert path.stat().st_mtime_ns == stamp  # read, not computed again
    teacher_embeddings(SENTENCES, max_len=16, progress=False)  # other settings, other file
    assert len(list(cache.glob("teachers/minilm-embeddings/*.npy"))) == 2


def test_the_distilled_backbone_learns_and_fine_tunes(tmp_path, cache, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    out = tmp_path / "b.pt"
    doc = json.loads(run_ok(["pretrain", "--teacher", "minilm", "--corpus", str(corpus),
                             "--preset", "nano", "--max-len", "32", "--steps", "60",
                             "--batch-size", "6", "--lr", "3e-3", "-o", str(out), "--json"],
                            capsys).out)
    assert doc["kind"] == "backbone" and doc["sentences"] == 6 and doc["step"] == 60
    ckpt = load_checkpoint(out)
    history = ckpt.metrics["history"]
    assert ckpt.kind == "backbone" and ckpt.metrics["objective"] == "minilm-embeddings"
    assert history[-1]["cosine_loss"] < 0.75 * history[0]["cosine_loss"]  # it does learn them
    assert not any(k.startswith("proj") for k in ckpt.state_dict)  # the map to 384 is dropped
    train_csv, test_csv = make_csv(tmp_path / "train.csv", 40, 0), make_csv(tmp_path / "test.csv", 20, 1)
    run_ok(["train", "--train", str(train_csv), "--test", str(test_csv), "--init", str(out),
            "--epochs", "1", "--max-len", "16", "-o", str(tmp_path / "c.pt")], capsys)
    assert load_checkpoint(tmp_path / "c.pt").config.d_model == ckpt.config.d_model


def test_teacher_pretraining_refuses_what_does_not_apply(tmp_path, cache, capsys, monkeypatch):
    base = ["pretrain", "--preset", "nano", "-o", str(tmp_path / "x.pt")]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, _, err = run_cli(base + ["--teacher", "minilm", "--corpus", str(corpus)], capsys)
    assert code == 2 and "one process" in err
    monkeypatch.delenv("WORLD_SIZE")
    code, _, err = run_cli(base + ["--teacher", "minilm", "--resume"], capsys)
    assert code == 2 and "--resume does not apply with --teacher" in err
    code, _, err = run_cli(base + ["--init", str(tmp_path / "p.pt")], capsys)
    assert code == 2 and "--init applies with --teacher only" in err
    assert not (tmp_path / "x.pt").exists()


def _committed(model: str, record: str):
    """A committed backbone and the document of the one record that names its run."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    ckpt = load_checkpoint(root / "models" / model)
    (path,) = sorted((root / "docs" / "results").glob(f"{record}-*.json"))
    doc = json.loads(path.read_text(encoding="utf-8"))["document"]
    assert ckpt.kind == "backbone"
    assert sum(v.numel() for v in ckpt.state_dict.values()) == 357_248  # EmbBERT base, no head
    return ckpt, doc


def test_the_committed_backbone_is_the_recorded_run():
    ckpt, doc = _committed("embbert-base-backbone-minilm.pt", "pretrain-minilm-embeddings-100k")
    assert ckpt.metrics["objective"] == "minilm-embeddings"
    assert ckpt.metrics["step"] == doc["step"] == 6000 and ckpt.metrics["sentences"] == doc["sentences"]
    assert ckpt.metrics["last"]["cosine_loss"] == doc["cosine_loss"]


def test_the_committed_mlm_backbone_is_the_recorded_run():
    """The longer MLM+NSP run (15,000 steps), backbone only, as its record says."""
    ckpt, doc = _committed("embbert-base-backbone-mlm15k.pt", "pretrain-mlm-15k")
    assert ckpt.metrics["step"] == doc["step"] == 15_000
    assert ckpt.metrics["last"]["mlm"] == doc["mlm"] and ckpt.metrics["last"]["nsp_acc"] == doc["nsp_acc"]
