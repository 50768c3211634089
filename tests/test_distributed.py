"""Data-parallel training under torchrun (gloo, 2 CPU processes) against one process with the
same global batch: the loss curves agree within 1e-4 (float summation order only; attention
dropout is 0 so both runs compute the same function), rank 0 writes a checkpoint that loads."""

import json
import os
import subprocess
import sys

import pytest

from embbert_mcu.checkpoint import load_checkpoint
from test_train import make_csv, run_ok

TOLERANCE = 1e-4  # absolute, on each logged loss

CORPUS = "\n\n".join(
    "\n".join(f"sentence {d} {i} about the {w} and the town." for i, w in
              enumerate(["cat", "dog", "rain", "sun", "river", "hill"]))
    for d in range(6))


def _torchrun(args, tmp_path):
    """``torchrun --standalone --nproc_per_node 2 -m embbert_mcu ARGS``; its stdout."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", "2", "-m", "embbert_mcu", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _one(args, capsys):
    """The same command in this process (one process, no process group)."""
    return run_ok(args, capsys).out


@pytest.mark.slow  # three torchrun launches
def test_pretrain_and_train_under_torchrun_match_one_process(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    base = ["pretrain", "--corpus", str(corpus), "--preset", "nano", "--max-len", "32",
            "--steps", "6", "--batch-size", "8", "--seq-len", "16", "--dropout", "0",
            "--save-every", "3", "--json"]
    # Each stopped at step 3 and resumed: one process, then two under torchrun.
    _one(base + ["-o", str(tmp_path / "pre1.pt"), "--stop-at", "3"], capsys)
    _one(base + ["-o", str(tmp_path / "pre1.pt"), "--resume"], capsys)
    out = tmp_path / "pre2.pt"
    _torchrun(base + ["-o", str(out), "--stop-at", "3"], tmp_path)
    _torchrun(base + ["-o", str(out), "--resume"], tmp_path)
    one, two = load_checkpoint(tmp_path / "pre1.pt"), load_checkpoint(out)
    assert one.kind == two.kind == "pretrain" and one.metrics["step"] == two.metrics["step"] == 6
    curves = [[(h["step"], h["mlm"], h["nsp"]) for h in c.metrics["history"]] for c in (one, two)]
    assert [c[0] for c in curves[0]] == [c[0] for c in curves[1]] == [3, 6]
    for (_, m1, n1), (_, m2, n2) in zip(*curves):
        assert abs(m1 - m2) < TOLERANCE and abs(n1 - n2) < TOLERANCE
    for k, v in one.state_dict.items():
        assert (v - two.state_dict[k]).abs().max() < 1e-4, k

    train_csv, test_csv = make_csv(tmp_path / "train.csv", 64, 0), make_csv(tmp_path / "test.csv", 20, 1)
    args = ["train", "--train", str(train_csv), "--test", str(test_csv), "--init",
            str(tmp_path / "pre1.pt"), "--epochs", "2", "--batch-size", "16", "--lr", "3e-3",
            "--json"]
    docs, losses = {}, {}
    for nproc in (1, 2):
        out = tmp_path / f"cls{nproc}.pt"
        run = _one if nproc == 1 else lambda a, _: _torchrun(a, tmp_path)
        docs[nproc] = json.loads(run(args + ["-o", str(out)], capsys))  # rank 0 alone prints
        ckpt = load_checkpoint(out)
        assert ckpt.kind == "classifier" and ckpt.metrics["processes"] == nproc
        losses[nproc] = [h["train_loss"] for h in ckpt.metrics["history"]]
    for a, b in zip(losses[1], losses[2]):
        assert abs(a - b) < TOLERANCE
    assert docs[1]["accuracy"] == docs[2]["accuracy"]


def test_unavailable_device_is_a_clear_error(tmp_path, capsys):
    import torch

    from test_train import run_cli

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    train_csv, test_csv = make_csv(tmp_path / "train.csv", 20, 0), make_csv(tmp_path / "test.csv", 10, 1)
    code, _, err = run_cli(["train", "--train", str(train_csv), "--test", str(test_csv),
                            "--preset", "nano", "--epochs", "1", "--device", "cuda",
                            "-o", str(tmp_path / "x.pt")], capsys)
    assert code == 2 and "no CUDA device" in err and "Traceback" not in err
