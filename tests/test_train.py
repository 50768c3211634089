"""Fine-tuning and evaluation end to end on a tiny generated CSV, through the CLI."""

import json
import random

import pytest
import torch

from embbert_mcu.checkpoint import Checkpoint, load_checkpoint
from embbert_mcu.cli import main
from embbert_mcu.config import preset
from embbert_mcu.errors import UsageError
from embbert_mcu.training.evaluate import pad_batch, predict_logits
from embbert_mcu.model import EmbBertForPretraining, build_classifier
from embbert_mcu.training.steps import bucketed_batches
from embbert_mcu.training.train import load_backbone

GOOD = ["great", "wonderful", "superb", "lovely", "brilliant"]
BAD = ["awful", "terrible", "boring", "dreadful", "poor"]
FILLER = ["the", "film", "was", "plot", "acting", "really", "quite", "story"]


def make_csv(path, n, seed):
    rng = random.Random(seed)
    lines = ["text,label"]
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = rng.sample(FILLER, 4) + [rng.choice(GOOD if label == "pos" else BAD)]
        rng.shuffle(words)
        lines.append(f"{' '.join(words)},{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def run_ok(args, capsys):
    try:
        main(args)
    except SystemExit as exc:  # click may exit 0 explicitly
        assert exc.code in (0, None), capsys.readouterr().err
    return capsys.readouterr()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny training run shared by the tests below: (checkpoint path, train JSON, test csv)."""
    tmp = tmp_path_factory.mktemp("train")
    train_csv, test_csv = make_csv(tmp / "train.csv", 160, 0), make_csv(tmp / "test.csv", 40, 1)
    out = tmp / "x.pt"
    args = ["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
            "--epochs", "2", "--max-len", "16", "--lr", "3e-3", "-o", str(out), "--json"]
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None)
    return out, test_csv


def test_train_writes_a_complete_checkpoint(trained):
    out, _ = trained
    ckpt = load_checkpoint(out)
    assert ckpt.kind == "classifier" and ckpt.labels == ["neg", "pos"]
    assert ckpt.config.max_len == 16 and ckpt.config.n_classes == 2
    assert ckpt.test_split["name"] == "test.csv" and len(ckpt.test_split["texts"]) == 40
    for key in ("accuracy", "n", "floor_accuracy", "val_accuracy", "best_epoch", "history"):
        assert key in ckpt.metrics
    assert ckpt.metrics["n"] == 40 and ckpt.tokenizer_json and ckpt.version


def test_eval_reproduces_training_accuracy(trained, capsys):
    out, test_csv = trained
    stored = load_checkpoint(out).metrics
    doc = json.loads(run_ok(["eval", str(out), "--json"], capsys).out)
    assert doc["accuracy"] == stored["accuracy"] and doc["n"] == stored["n"] == 40
    doc = json.loads(run_ok(["eval", str(out), "--test", str(test_csv), "--json"], capsys).out)
    assert doc["accuracy"] == stored["accuracy"]


def test_train_json_has_the_promised_keys(tmp_path, capsys):
    train_csv, test_csv = make_csv(tmp_path / "a.csv", 40, 2), make_csv(tmp_path / "b.csv", 10, 3)
    out = run_ok(["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
                  "--epochs", "1", "--max-len", "12", "-o", str(tmp_path / "y.pt"), "--json"], capsys)
    doc = json.loads(out.out)  # stdout is the JSON document only
    assert {"accuracy", "n", "floor_accuracy"} <= set(doc) and doc["n"] == 10
    assert 0.0 <= doc["accuracy"] <= 1.0 and 0.0 <= doc["floor_accuracy"] <= 1.0


def test_eval_unknown_label_and_bad_options(trained, tmp_path, capsys):
    out, _ = trained
    odd = tmp_path / "odd.csv"
    odd.write_text("text,label\nfine film,maybe\n", encoding="utf-8")
    code, stdout, err = run_cli(["eval", str(out), "--test", str(odd)], capsys)
    assert code == 4 and "does not know: maybe" in err and stdout == ""
    code, _, err = run_cli(["train", "--data", "rt-polarity", "--train", str(odd), "-o", "z.pt"], capsys)
    assert code == 2 and "either --data" in err


def test_corrupt_checkpoint_exits_cleanly(trained, tmp_path, capsys):
    out, _ = trained
    broken = tmp_path / "broken.pt"
    broken.write_bytes(out.read_bytes()[:5000])
    code, stdout, err = run_cli(["eval", str(broken), "--json"], capsys)
    assert code == 3 and stdout == ""
    assert err.startswith("error:") and "corrupt or truncated" in err and "Traceback" not in err


def test_padding_does_not_change_predictions():
    model = build_classifier(preset("nano", vocab_size=50, max_len=20), seed=1).eval()
    seqs = [[2, 7, 9, 11, 13, 17], [2, 5], [2, 30, 31, 32]]
    with torch.no_grad():
        alone = torch.cat([model(torch.tensor([s])) for s in seqs])
        padded = model(pad_batch(seqs))
    assert torch.allclose(alone, padded, atol=1e-5)
    assert torch.allclose(predict_logits(model, seqs, batch_size=2), alone, atol=1e-5)


def test_bucketed_batches_cover_every_row_once():
    import numpy as np

    lengths = [random.Random(i).randint(1, 50) for i in range(203)]
    batches = bucketed_batches(lengths, 8, np.random.default_rng(0))
    assert sorted(i for b in batches for i in b) == list(range(203))
    assert batches == bucketed_batches(lengths, 8, np.random.default_rng(0))


def test_init_loads_the_pretrained_backbone():
    cfg = preset("nano", vocab_size=60, max_len=24)
    torch.manual_seed(3)
    pre = Checkpoint.from_model(EmbBertForPretraining(cfg).eval())
    model = build_classifier(cfg.with_(max_len=16, n_classes=3), seed=0)
    load_backbone(model, pre)
    state = model.backbone.state_dict()
    assert torch.equal(state["embedder.pos.weight"], pre.state_dict["backbone.embedder.pos.weight"][:16])
    assert torch.equal(state["blocks.1.q.weight"], pre.state_dict["backbone.blocks.1.q.weight"])
    with pytest.raises(UsageError, match="pretrain or backbone checkpoint"):
        load_backbone(model, Checkpoint.from_model(model))


def test_weight_average_is_the_exponential_moving_average():
    from embbert_mcu.training.train import _averaged

    model = build_classifier(preset("nano", vocab_size=50, max_len=20), seed=0)
    assert _averaged(model, 0, 100) is None
    averaged = _averaged(model, 0.5, 4)  # over half an epoch of 4 steps: decay 1 - 1/2
    for value in (1.0, 3.0, -2.0):
        with torch.no_grad():
            model.head.weight.fill_(value)
        averaged.update_parameters(model)
    expected = 0.5 * (0.5 * 1.0 + 0.5 * 3.0) + 0.5 * -2.0  # the first update copies
    assert torch.allclose(averaged.module.head.weight, torch.full_like(model.head.weight, expected))
    pos = model.backbone.embedder.pos.weight  # never changed: its average is itself
    assert torch.allclose(averaged.module.backbone.embedder.pos.weight, pos)


def test_ema_training_keeps_the_average_and_eval_reproduces_it(trained, tmp_path, capsys):
    plain, test_csv = trained
    train_csv = make_csv(tmp_path / "train.csv", 160, 0)  # the fixture's data and options
    out = tmp_path / "ema.pt"
    args = ["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
            "--epochs", "2", "--max-len", "16", "--lr", "3e-3", "-o", str(out), "--json"]
    doc = json.loads(run_ok(args + ["--ema", "1"], capsys).out)
    ckpt = load_checkpoint(out)
    assert ckpt.metrics["options"]["ema"] == 1.0
    same_run = load_checkpoint(plain).state_dict  # same seed and batches, last-step weights
    assert any(not torch.equal(v, same_run[k]) for k, v in ckpt.state_dict.items())
    again = json.loads(run_ok(["eval", str(out), "--json"], capsys).out)
    assert again["accuracy"] == doc["accuracy"]
    code, _, err = run_cli(args + ["--ema", "-1"], capsys)
    assert code == 2 and "'--ema': -1 is out of range" in err


def test_without_a_validation_slice_the_last_epoch_is_kept(tmp_path, capsys):
    from embbert_mcu.datasets import load_files

    train_csv, test_csv = make_csv(tmp_path / "a.csv", 4, 5), make_csv(tmp_path / "b.csv", 6, 6)
    assert len(load_files(train_csv, test_csv).val) == 0  # too small to cut a slice from
    out = tmp_path / "last.pt"
    run_ok(["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
            "--epochs", "3", "--max-len", "12", "-o", str(out), "--json"], capsys)
    assert load_checkpoint(out).metrics["best_epoch"] == 3



def test_training_learns_a_separable_set(tmp_path, capsys):
    # One sentiment word decides each label: training that learns separates the test split
    # (measured: 100% from epoch 4 on, 3 s); without optimizer steps or with a broken loss
    # it stays near 50%.
    train_csv, test_csv = make_csv(tmp_path / "a.csv", 320, 0), make_csv(tmp_path / "b.csv", 60, 1)
    out = run_ok(["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
                  "--epochs", "6", "--max-len", "16", "--lr", "3e-3", "-o", str(tmp_path / "z.pt"),
                  "--json"], capsys)
    doc = json.loads(out.out)
    assert doc["n"] == 60 and doc["accuracy"] >= 0.9, doc


def test_the_teachers_seed_is_teacher_seed_or_seed(tmp_path):
    """The n-gram teacher's cross-fitted targets follow --teacher-seed, not the student's
    --seed, once it is given (the MiniLM side: test_teacher.py)."""
    import numpy as np

    from embbert_mcu.datasets import load_files
    from embbert_mcu.training.train import TrainOptions, _teacher

    ds = load_files(make_csv(tmp_path / "a.csv", 60, 0), make_csv(tmp_path / "b.csv", 20, 1), seed=0)

    def targets(**kw):
        return _teacher(ds, TrainOptions(distill=True, progress=False, **kw))[0].train_targets

    fixed = targets(seed=0)
    assert TrainOptions(seed=3).teachers_seed == 3 and TrainOptions(seed=3, teacher_seed=0).teachers_seed == 0
    assert np.array_equal(targets(seed=1, teacher_seed=0), fixed)
    assert not np.array_equal(targets(seed=1), fixed)  # the folds move with the seed otherwise
