"""`embbert-mcu quantize` end to end on a tiny classifier, and its errors."""

import csv
import json

import pytest

from embbert_mcu.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from embbert_mcu.cli import main
from embbert_mcu.config import preset
from embbert_mcu.model import build_classifier
from embbert_mcu.quant import pack_model, simulated_model
from embbert_mcu.tokenizer import EmbTokenizer

GOOD = ["a good film", "great fun", "a fine and good story", "lovely acting", "great and warm"]
BAD = ["a bad film", "awful mess", "a dull and bad story", "poor acting", "awful and cold"]


@pytest.fixture
def tiny_ckpt(tmp_path):
    tok = EmbTokenizer.default()
    cfg = preset("base", vocab_size=tok.vocab_size, max_len=16, d_model=32, d_embed=8,
                 n_layers=2, conv_kernel=4)
    texts, labels = GOOD + BAD, [1] * 5 + [0] * 5
    ckpt = Checkpoint.from_model(
        build_classifier(cfg, 0), tokenizer_json=tok.to_json(), labels=["neg", "pos"],
        metrics={"dataset": "toy"}, test_split={"name": "toy", "texts": texts, "labels": labels},
    )
    path = tmp_path / "tiny.pt"
    save_checkpoint(ckpt, path)
    train = tmp_path / "train.csv"
    with open(train, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(4):
            w.writerows([[t, "pos"] for t in GOOD] + [[t, "neg"] for t in BAD])
    return path, train


def _run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def test_quantize_json_and_repack(tiny_ckpt, tmp_path, capsys):
    path, train = tiny_ckpt
    out = tmp_path / "q.pt"
    code, stdout, _ = _run(["quantize", str(path), "-o", str(out), "--block", "8",
                            "--recover-epochs", "1", "--train", str(train), "--json"], capsys)
    assert code == 0
    doc = json.loads(stdout)  # stdout holds only the JSON document
    for key in ("fp32_accuracy", "quant_accuracy", "recovered_accuracy", "int8_param_share",
                "weights_bytes", "tensors"):
        assert key in doc
    q = load_checkpoint(out)
    packed = pack_model(q)
    assert doc["weights_bytes"] == sum(t.nbytes() for t in packed.values())
    assert q.quant["policy"]["block"] == 8
    assert {t["name"] for t in doc["tensors"]} == set(packed)
    # the stored accuracy is what the simulated model of the written checkpoint measures
    from embbert_mcu.training.evaluate import evaluate

    tok = EmbTokenizer.from_json(q.tokenizer_json)
    acc = evaluate(simulated_model(q), tok, q.test_split["texts"], q.test_split["labels"])
    assert acc["accuracy"] == doc["recovered_accuracy"]
    assert len(q.quant["recovery"]["history"]) == 2  # epoch 0 and one recovery epoch


def test_quantize_table_without_recovery(tiny_ckpt, tmp_path, capsys):
    path, _ = tiny_ckpt
    code, stdout, err = _run(["quantize", str(path), "-o", str(tmp_path / "q.pt"), "--block", "8",
                              "--recover-epochs", "0", "--fallback", "none"], capsys)
    assert code == 0 and stdout == ""
    assert "embedder.tok.weight" in err and "recovered" in err


def test_corrupt_checkpoint_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    code, stdout, err = _run(["quantize", str(bad), "-o", str(tmp_path / "q.pt"), "--json"], capsys)
    assert code == 3 and stdout == ""
    assert "error:" in err and "corrupt" in err and "Traceback" not in err
    assert not (tmp_path / "q.pt").exists()


def test_recovery_without_data_is_a_usage_error(tiny_ckpt, tmp_path, capsys):
    path, _ = tiny_ckpt  # metrics name "toy", which is no dataset
    code, _, err = _run(["quantize", str(path), "-o", str(tmp_path / "q.pt")], capsys)
    assert code == 4 and "--train" in err and "Traceback" not in err


def test_threshold_auto_picks_on_validation(tiny_ckpt, tmp_path, capsys):
    path, train = tiny_ckpt
    out = tmp_path / "q.pt"
    code, stdout, _ = _run(["quantize", str(path), "-o", str(out), "--block", "8", "--threshold",
                            "auto", "--recover-epochs", "0", "--train", str(train), "--json"], capsys)
    assert code == 0
    doc = json.loads(stdout)
    sweep = doc["threshold_sweep"]
    assert [r["threshold"] for r in sweep] == sorted(r["threshold"] for r in sweep)
    # a lower threshold never keeps fewer values in fp16
    shares = [r["f16_param_share"] for r in sweep]
    assert shares == sorted(shares, reverse=True)
    assert load_checkpoint(out).quant["policy"]["threshold"] == doc["policy"]["threshold"]
    assert doc["policy"]["threshold"] in [r["threshold"] for r in sweep]


def test_pick_threshold_respects_the_budget():
    from embbert_mcu.errors import BudgetError
    from embbert_mcu.quant.sweep import pick_threshold

    rows = [{"threshold": 0.01, "val_accuracy": 0.80, "weights_bytes": 500},
            {"threshold": 0.02, "val_accuracy": 0.79, "weights_bytes": 400},
            {"threshold": 0.05, "val_accuracy": 0.79, "weights_bytes": 390}]
    assert pick_threshold(rows, 450)["threshold"] == 0.05
    assert pick_threshold(rows, 600)["threshold"] == 0.01
    with pytest.raises(BudgetError):
        pick_threshold(rows, 100)


def test_train_file_with_unknown_labels_is_a_data_error(tiny_ckpt, tmp_path, capsys):
    path, _ = tiny_ckpt
    other = tmp_path / "other.csv"
    other.write_text("text,label\nfine,pos\nodd,maybe\n")
    code, _, err = _run(["quantize", str(path), "-o", str(tmp_path / "q.pt"), "--train",
                         str(other)], capsys)
    assert code == 4 and "maybe" in err and "Traceback" not in err
