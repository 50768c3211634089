"""Pretraining: masking statistics, pair layout, determinism, resumption."""

import numpy as np
import pytest
import torch

from embbert_mcu.checkpoint import load_checkpoint
from embbert_mcu.config import CLS_ID, MASK_ID, PAD_ID, SEP_ID
from embbert_mcu.errors import UsageError
from embbert_mcu.training.pretrain import (
    IGNORE, PairSampler, PretrainOptions, make_batch, mask_tokens, resume_path, run_pretraining,
)
from embbert_mcu.tokenizer import EmbTokenizer

VOCAB = 1000


def test_masking_statistics_and_specials():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, VOCAB, (400, 250), generator=gen)
    ids[:, 0] = CLS_ID
    ids[:, 100] = SEP_ID
    ids[:, 200:] = PAD_ID
    inputs, targets = mask_tokens(ids, VOCAB, torch.Generator().manual_seed(1))
    special = ids < 5
    chosen = targets != IGNORE
    assert not chosen[special].any() and torch.equal(inputs[special], ids[special])
    assert torch.equal(targets[chosen], ids[chosen])
    rate = chosen.sum().item() / (~special).sum().item()
    assert abs(rate - 0.15) < 0.005
    n = chosen.sum().item()
    masked = (inputs[chosen] == MASK_ID).sum().item() / n
    kept = (inputs[chosen] == ids[chosen]).sum().item() / n
    replaced = 1 - masked - kept
    assert abs(masked - 0.8) < 0.015 and abs(kept - 0.1) < 0.015 and abs(replaced - 0.1) < 0.015
    assert (inputs[chosen] >= 5).logical_or(inputs[chosen] == MASK_ID).all()  # noise is ordinary
    assert torch.equal(inputs[~chosen], ids[~chosen])


def docs_of(n_docs=6, n_segments=8):
    rng = np.random.default_rng(0)
    return [[rng.integers(5, VOCAB, int(rng.integers(3, 12))).tolist() for _ in range(n_segments)]
            for _ in range(n_docs)]


def test_pair_layout_and_lengths():
    sampler = PairSampler(docs_of(), max_len=40, seq_len=24)
    rng = np.random.default_rng(3)
    labels = set()
    for _ in range(300):
        ids, is_next = sampler.draw(rng, long=bool(rng.random() < 0.2))
        labels.add(is_next)
        assert ids[0] == CLS_ID and ids[-1] == SEP_ID and ids.count(SEP_ID) == 2
        assert ids.index(SEP_ID) >= 2 and 5 <= len(ids) <= 40
    assert labels == {0, 1}


def test_batches_are_a_function_of_seed_and_step():
    sampler = PairSampler(docs_of(), max_len=40, seq_len=24)
    a = make_batch(sampler, VOCAB, seed=5, step=17, batch_size=8)
    b = make_batch(sampler, VOCAB, seed=5, step=17, batch_size=8)
    c = make_batch(sampler, VOCAB, seed=5, step=18, batch_size=8)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0]) or a[0].shape != c[0].shape


def test_resumed_run_matches_an_uninterrupted_one(tmp_path):
    tok = EmbTokenizer.default()
    sentences = ("the cat sat on the mat.", "then it slept all day.", "dogs bark at night.",
                 "birds sing in the morning.", "rain fell on the town.")
    docs = [[tok.pieces(s) for s in sentences[i:] + sentences[:i]] for i in range(4)]
    opts = PretrainOptions(preset="nano", max_len=32, steps=4, batch_size=4, seq_len=16,
                           save_every=100, progress=False)
    straight = run_pretraining(docs, tok, opts, tmp_path / "a.pt")
    stopped = run_pretraining(docs, tok, opts, tmp_path / "b.pt", stop_at=2)
    assert stopped.metrics["step"] == 2
    assert torch.load(resume_path(tmp_path / "b.pt"), weights_only=True)["step"] == 2
    resumed = run_pretraining(docs, tok, opts, tmp_path / "b.pt", resume=True)
    assert resumed.metrics["step"] == 4
    for k, v in straight.state_dict.items():
        assert torch.equal(v, resumed.state_dict[k]), k
    ckpt = load_checkpoint(tmp_path / "b.pt")
    assert ckpt.kind == "pretrain" and ckpt.metrics["step"] == 4
    assert [h["step"] for h in ckpt.metrics["history"]] == [2, 4]  # logged at the stop too


def test_resume_refuses_changed_options(tmp_path):
    tok = EmbTokenizer.default()
    docs = [[tok.pieces("one two three four."), tok.pieces("five six seven.")]] * 2
    opts = PretrainOptions(preset="nano", max_len=32, steps=2, batch_size=2, seq_len=16, progress=False)
    run_pretraining(docs, tok, opts, tmp_path / "p.pt", stop_at=1)
    changed = PretrainOptions(**{**opts.__dict__, "lr": 0.5})
    with pytest.raises(UsageError, match="different options: lr"):
        run_pretraining(docs, tok, changed, tmp_path / "p.pt", resume=True)


def test_the_backbone_alone_is_written_and_starts_fine_tuning_like_the_full_checkpoint(
        tmp_path, capsys):
    import json

    from embbert_mcu.model import build_classifier
    from embbert_mcu.training.train import load_backbone
    from test_train import run_cli, run_ok

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat.\nthen it slept all day.\n\n"
                      "dogs bark at night.\nbirds sing in the morning.\n", encoding="utf-8")
    base = ["pretrain", "--corpus", str(corpus), "--preset", "nano", "--max-len", "32",
            "--steps", "3", "--batch-size", "2", "--seq-len", "16", "-o", str(tmp_path / "p.pt")]
    run_ok(base + ["--stop-at", "2"], capsys)
    assert not (tmp_path / "b.pt").exists()
    # Resuming the run to its end writes the backbone too.
    doc = json.loads(run_ok(base + ["--resume", "--backbone", str(tmp_path / "b.pt"), "--json"],
                            capsys).out)
    assert doc["step"] == 3 and doc["backbone"] == str(tmp_path / "b.pt")
    full, alone = load_checkpoint(tmp_path / "p.pt"), load_checkpoint(tmp_path / "b.pt")
    assert alone.kind == "backbone" and alone.metrics["step"] == 3
    assert set(alone.state_dict) == {k for k in full.state_dict if k.startswith("backbone.")}
    assert (tmp_path / "b.pt").stat().st_size < (tmp_path / "p.pt").stat().st_size / 2
    a, b = build_classifier(full.config.with_(n_classes=2)), build_classifier(full.config.with_(n_classes=2))
    load_backbone(a, full)
    load_backbone(b, alone)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    code, _, err = run_cli(base + ["--backbone", str(tmp_path / "p.pt")], capsys)
    assert code == 2 and "another file" in err
