"""Reading a text longer than l as windows: the windows, the mean of their logits, training."""

import json
import random

import pytest
import torch

from embbert_mcu.checkpoint import load_checkpoint
from embbert_mcu.cli import main
from embbert_mcu.config import CLS_ID, preset
from embbert_mcu.errors import UsageError
from embbert_mcu.model import build_classifier
from embbert_mcu.reading import mean_by_owner, split, split_many, text_cap
from embbert_mcu.training.evaluate import predict_logits

CFG = preset("nano", max_len=8, windows=3, n_classes=2)


def seq(n):
    return [CLS_ID, *range(100, 100 + n)]


def test_windows_are_cls_and_l_minus_1_tokens_each():
    assert text_cap(CFG) == 8 + 2 * 7
    assert split(seq(20), CFG) == [[CLS_ID, *range(100, 107)], [CLS_ID, *range(107, 114)],
                                   [CLS_ID, *range(114, 120)]]


def test_a_window_is_read_only_if_the_one_before_did_not_reach_the_end():
    assert split(seq(7), CFG) == [seq(7)]  # fits one window
    assert len(split(seq(8), CFG)) == 2  # one token more
    assert len(split(seq(14), CFG)) == 2  # two full windows, no empty third
    assert split(seq(15), CFG)[-1] == [CLS_ID, 114]


def test_overlapping_windows_and_one_window_models():
    cfg = CFG.with_(window_stride=4)
    assert text_cap(cfg) == 8 + 2 * 4
    assert split(seq(15), cfg) == [[CLS_ID, *range(100, 107)], [CLS_ID, *range(104, 111)],
                                   [CLS_ID, *range(108, 115)]]
    assert split(seq(30), CFG.with_(windows=1)) == [seq(30)]  # as given: the caller cut it


def test_a_stride_that_skips_tokens_is_refused():
    with pytest.raises(UsageError, match="window_stride must be below l = 8"):
        CFG.with_(window_stride=8)


def test_mean_is_the_float32_sum_in_window_order_over_the_count():
    logits = torch.tensor([[1.0, 2.0], [3.0, 5.0], [0.1, 0.2], [0.3, 0.3], [0.7, 0.6]])
    out = mean_by_owner(logits, [0, 0, 1, 1, 1], 2)
    assert torch.equal(out[0], torch.tensor([2.0, 3.5]))
    expect = ((torch.tensor([0.1, 0.2]) + torch.tensor([0.3, 0.3])) + torch.tensor([0.7, 0.6])) / 3
    assert torch.equal(out[1], expect)


def test_predict_logits_averages_the_windows_of_a_windowed_model():
    torch.manual_seed(0)
    net = build_classifier(CFG, 0).eval()
    seqs = [seq(3), seq(20), seq(11)]
    flat, owner = split_many(seqs, CFG)
    assert owner == [0, 1, 1, 1, 2, 2]
    with torch.no_grad():
        each = torch.cat([net(torch.tensor([w])) for w in flat])
    got = predict_logits(net, seqs)
    assert torch.allclose(got, mean_by_owner(each, owner, 3), atol=1e-6)
    assert torch.allclose(got[1], each[1:4].mean(0), atol=1e-6)
    one = build_classifier(CFG.with_(windows=1), 0).eval()
    one.load_state_dict(net.state_dict())
    assert torch.allclose(predict_logits(one, [seq(3)]), each[0:1], atol=1e-6)


GOOD, BAD = ["great", "wonderful", "superb"], ["awful", "terrible", "boring"]
FILLER = ["the", "film", "was", "plot", "acting", "really", "quite", "story", "and", "then"]


def late_word_csv(path, n, seed):
    """Twenty filler words, then the one word that decides the label: past l = 16 tokens."""
    rng = random.Random(seed)
    lines = ["text,label"]
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = [rng.choice(FILLER) for _ in range(20)] + [rng.choice(GOOD if i % 2 else BAD)]
        lines.append(f"{' '.join(words)},{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train_json(tmp_path, extra, capsys):
    train_csv = late_word_csv(tmp_path / "a.csv", 320, 0)
    test_csv = late_word_csv(tmp_path / "b.csv", 60, 1)
    try:
        main(["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
              "--epochs", "6", "--max-len", "16", "--lr", "3e-3", "-o", str(tmp_path / "m.pt"),
              "--json", *extra])
    except SystemExit as exc:
        assert exc.code in (0, None), capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_windows_let_training_read_past_the_first_l_tokens(tmp_path, capsys):
    # The deciding word sits after the first 16 tokens: the first window never sees it
    # (measured 53%: chance), two windows do (measured 100%).
    first = train_json(tmp_path, [], capsys)
    windows = train_json(tmp_path, ["--windows", "2"], capsys)
    assert first["accuracy"] <= 0.7, first
    assert windows["accuracy"] >= 0.9, windows
    assert load_checkpoint(tmp_path / "m.pt").config.windows == 2
    # Quantization recovery trains on the windows too and keeps what they read.
    try:
        main(["quantize", str(tmp_path / "m.pt"), "-o", str(tmp_path / "q.pt"),
              "--recover-epochs", "1", "--json"])
    except SystemExit as exc:
        assert exc.code in (0, None), capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    assert doc["recovered_accuracy"] >= 0.9, doc


def test_windows_on_a_pair_set_are_refused(tmp_path, capsys):
    path = tmp_path / "p.csv"
    path.write_text("text,text_pair,label\n" + "".join(f"a {i},b {i},{i % 2}\n" for i in range(20)),
                    encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["train", "--train", str(path), "--test", str(path), "--preset", "nano",
              "--windows", "2", "-o", str(tmp_path / "p.pt")])
    err = capsys.readouterr().err
    assert exc.value.code != 0 and "windows read one long text" in err, err
    assert "Traceback" not in err and not (tmp_path / "p.pt").exists()


def test_a_stride_past_l_is_a_one_line_error_before_training(tmp_path, capsys):
    csv = late_word_csv(tmp_path / "a.csv", 40, 0)
    with pytest.raises(SystemExit) as exc:
        main(["train", "--train", str(csv), "--test", str(csv), "--preset", "nano",
              "--max-len", "16", "--windows", "2", "--window-stride", "16",
              "-o", str(tmp_path / "m.pt")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "window_stride must be below l = 16" in err, err
    assert "hint: use at most 15" in err and "Traceback" not in err
    assert not (tmp_path / "m.pt").exists()
