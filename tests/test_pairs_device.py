"""A sentence-pair model on the emulated qemu_f446: the token-id path runs pair ids
([CLS] a [SEP] b [SEP], the segment derived in the C) and agrees with the host C; the TEXT
path refuses pairs before touching the device."""

from __future__ import annotations

import json
import shutil

import pytest

from embbert_mcu.cli import main
from embbert_mcu.config import SEP_ID

from test_pairs import pair_csv

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pair_export(tmp_path_factory):
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm", "gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    tmp = tmp_path_factory.mktemp("pairdev")
    train, test = pair_csv(tmp / "train.csv", 120, 0), pair_csv(tmp / "test.csv", 12, 1)
    for args in (["train", "--train", str(train), "--test", str(test), "--preset", "nano",
                  "--epochs", "1", "--max-len", "24", "-o", str(tmp / "p.pt"), "--json"],
                 ["export", str(tmp / "p.pt"), "-o", str(tmp / "model"), "--no-onnx", "--json"]):
        try:
            main(args)
        except SystemExit as exc:
            assert exc.code in (0, None)
    return tmp / "model", test


def test_pair_ids_bench_on_qemu_f446(tmp_path, pair_export, capsys):
    model, test = pair_export
    rows = [json.loads(x) for x in (model / "testset.jsonl").read_text().splitlines()]
    assert all(r["ids"].count(SEP_ID) == 2 and "text_pair" in r for r in rows)
    capsys.readouterr()
    main(["bench", "--board", "qemu_f446", "--model", str(model), "--project-dir",
          str(tmp_path / "fw"), "--limit", "8", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 8 and report["agreement"] == 1.0
    assert report["accuracy"] == report["host_accuracy"]
    assert report["mean_len"] == sum(len(r["ids"]) for r in rows[:8]) / 8
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--board", "qemu_f446", "--model", str(model), "--project-dir",
              str(tmp_path / "fw2"), "--text", "--test", str(test)])
    assert exc.value.code == 2 and "sentence pairs" in capsys.readouterr().err
