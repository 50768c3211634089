"""Distillation from the n-gram teacher: augmentation, cross-fitting, the mixed loss, the CLI."""

import copy
import json
import random

import numpy as np
import pytest
import torch

from embbert_mcu.checkpoint import load_checkpoint
from embbert_mcu.config import preset
from embbert_mcu.training.distill import NgramTeacher, Teaching, augment, crossfit_proba
from embbert_mcu.model import build_classifier
from embbert_mcu.training.steps import train_epoch
from test_train import make_csv, run_ok


def test_augment_keeps_words_in_order_and_never_empties():
    rng = np.random.default_rng(0)
    text = "one two three four five six seven eight nine ten"
    words = text.split()
    outputs = [augment(text, rng, p_drop=0.3, p_span=0.5) for _ in range(200)]
    for out in outputs:
        kept = out.split()
        assert kept, "an augmented text is never empty"
        positions = [words.index(w) for w in kept]
        assert positions == sorted(positions)
    assert len(set(outputs)) > 50  # it does perturb
    assert augment("solo", rng, p_drop=1.0) == "solo"
    again = np.random.default_rng(0)
    assert [augment(text, again, p_drop=0.3, p_span=0.5) for _ in range(200)] == outputs


def test_crossfit_targets_come_from_a_teacher_that_did_not_see_the_row():
    # Each row is one unique nonsense word: memorisable, not learnable.
    rng = random.Random(0)
    texts = ["".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(10)) for _ in range(200)]
    labels = [i % 2 for i in range(200)]
    in_sample = NgramTeacher(c=64.0).fit(texts, labels).predict_proba(texts, 2)
    held_out = crossfit_proba(texts, labels, 2, c=64.0)
    assert np.allclose(held_out.sum(1), 1.0)
    assert (in_sample.argmax(1) == labels).mean() == 1.0
    assert 0.3 < (held_out.argmax(1) == labels).mean() < 0.7


def test_teacher_gives_zero_to_classes_it_never_saw():
    teacher = NgramTeacher().fit(["good fun", "bad dull", "great fun", "awful dull"], [0, 2, 0, 2])
    proba = teacher.predict_proba(["fun", "dull"], 3)
    assert proba.shape == (2, 3)
    assert np.all(proba[:, 1] == 0.0) and np.allclose(proba.sum(1), 1.0)
    assert proba[0, 0] > proba[0, 2] and proba[1, 2] > proba[1, 0]


def test_teacher_c_is_chosen_by_validation_log_loss():
    # Separable: every C is right on validation, only the confidence differs.
    texts = ["good fun film", "bad dull film", "great fun plot", "awful dull plot"] * 5
    labels = [0, 1, 0, 1] * 5
    val_texts, val_labels = ["fun", "dull", "good film", "awful plot"], [0, 1, 0, 1]
    teaching = Teaching.prepare(texts, labels, val_texts, val_labels, 2)
    losses = {c: NgramTeacher(c).fit(texts, labels).log_loss(val_texts, val_labels, 2)
              for c in (0.25, 1.0, 4.0, 16.0, 64.0)}
    assert all(NgramTeacher(c).fit(texts, labels).accuracy(val_texts, val_labels) == 1.0 for c in losses)
    assert teaching.teacher.c == min(losses, key=losses.get) == 64.0
    assert teaching.train_targets.shape == (20, 2)


def test_one_hot_soft_targets_with_no_gold_weight_equal_plain_cross_entropy():
    cfg = preset("nano", max_len=12, n_classes=3, vocab_size=64, attn_dropout=0.0)  # deterministic
    gen = torch.Generator().manual_seed(0)
    ids = [torch.randint(5, 64, (int(n),), generator=gen).tolist() for n in torch.randint(2, 12, (40,))]
    labels = torch.randint(0, 3, (40,), generator=gen)
    results = []
    for soft in (None, torch.nn.functional.one_hot(labels, 3).float()):
        model = build_classifier(cfg, 0)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
        loss = train_epoch(model, ids, labels, opt, sched, np.random.default_rng(0), 8, "", False,
                           soft=soft, gold_weight=None if soft is None else torch.zeros(40))
        results.append((loss, copy.deepcopy(model.state_dict())))
    (loss_a, state_a), (loss_b, state_b) = results
    assert abs(loss_a - loss_b) < 1e-6
    for key in state_a:
        assert torch.allclose(state_a[key], state_b[key], atol=1e-6), key


def test_logit_matching_loss_is_the_squared_distance_of_centred_logits():
    """--soft-loss mse: zero when the student's logits are the teacher's over the temperature
    plus any constant; otherwise the squared distance of the centred logits. ce is the
    cross-entropy to the probabilities."""
    from embbert_mcu.training.steps import soft_loss_of

    teacher = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]], dtype=torch.float64)
    temperature = 2.0
    soft = torch.softmax(teacher / temperature, -1)
    assert torch.allclose(soft_loss_of(teacher / temperature + 7.0, soft, "mse"),
                          torch.zeros(2, dtype=torch.float64), atol=1e-12)
    student = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    centred = lambda z: z - z.mean(-1, keepdim=True)  # noqa: E731
    expected = (centred(student) - centred(teacher / temperature)).pow(2).sum(-1)
    assert torch.allclose(soft_loss_of(student, soft, "mse"), expected)
    ce = -(soft * torch.log_softmax(student, -1)).sum(-1)
    assert torch.allclose(soft_loss_of(student, soft, "ce"), ce)
    with pytest.raises(ValueError):
        soft_loss_of(student, soft, "kl")


def test_train_distill_through_the_cli(tmp_path, capsys):
    train_csv, test_csv = make_csv(tmp_path / "train.csv", 120, 0), make_csv(tmp_path / "test.csv", 40, 1)
    out = tmp_path / "d.pt"
    args = ["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
            "--epochs", "2", "--max-len", "16", "--lr", "3e-3", "--distill", "--augment", "1",
            "-o", str(out), "--json"]
    doc = json.loads(run_ok(args, capsys).out)
    assert 0.0 <= doc["teacher_accuracy"] <= 1.0
    ckpt = load_checkpoint(out)
    assert ckpt.metrics["options"]["distill"] is True and ckpt.metrics["options"]["augment"] == 1
    assert ckpt.metrics["options"]["soft_loss"] == "ce"
    mse = json.loads(run_ok(args[:-3] + ["--soft-loss", "mse", "-o", str(tmp_path / "m.pt"), "--json"],
                            capsys).out)
    assert load_checkpoint(tmp_path / "m.pt").metrics["options"]["soft_loss"] == "mse"
    assert mse["teacher_accuracy"] == doc["teacher_accuracy"]  # the same teacher, another loss
    assert ckpt.metrics["teacher_C"] in (0.25, 1.0, 4.0, 16.0, 64.0)
    assert doc["accuracy"] == ckpt.metrics["accuracy"]
    evaluated = json.loads(run_ok(["eval", str(out), "--test", str(test_csv), "--json"], capsys).out)
    assert evaluated["accuracy"] == doc["accuracy"]


def test_distill_options_without_distill_or_out_of_range_are_clear_errors(tmp_path, capsys):
    from test_train import run_cli
    train_csv, test_csv = make_csv(tmp_path / "train.csv", 40, 0), make_csv(tmp_path / "test.csv", 20, 1)
    base = ["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
            "--epochs", "1", "-o", str(tmp_path / "x.pt")]
    code, _, err = run_cli(base + ["--augment", "3"], capsys)
    assert code == 2 and "only apply with --distill" in err and "Traceback" not in err
    code, _, err = run_cli(base + ["--distill", "--alpha", "1.5"], capsys)
    assert code == 2 and "'--alpha': 1.5 is out of range" in err
    code, _, err = run_cli(base + ["--soft-loss", "mse"], capsys)
    assert code == 2 and "--soft-loss only applies with --distill or --teacher" in err
    assert not (tmp_path / "x.pt").exists()
