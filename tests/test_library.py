"""The export as a library: the CMake example on the host gives the labels of `predict`
(engine c: all; the PyTorch simulation of the export's quantization: >= 99.9%), `predict` itself (CLI, inputs, JSON, errors),
and a fresh PlatformIO project builds with the export as a library for an emulated board."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from embbert_mcu.cli import main
from embbert_mcu.export.tokfuzz import fuzz_texts
from embbert_mcu.predict import load

from _device_util import connect, tiny_export


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("lib")
    return tiny_export(root, max_len=32, n_test=24)


def _texts(model: Path) -> list[str]:
    rows = [json.loads(line) for line in (model / "testset.jsonl").read_text().splitlines()]
    extra = [t for t in fuzz_texts(300, seed=9) if isinstance(t, str)
             and not any(c in t for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
             and "[PAD]" not in t]  # one text per line; [PAD] is refused by the model
    return [r["text"] for r in rows] + extra


def test_cmake_example_gives_the_labels_of_predict(export, tmp_path):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    build = tmp_path / "build"
    for cmd in (["cmake", "-S", str(export), "-B", str(build)],
                ["cmake", "--build", str(build)]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    texts = _texts(export)
    (tmp_path / "texts.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    with open(tmp_path / "texts.txt", "rb") as stdin:
        out = subprocess.run([str(build / "classify")], stdin=stdin, capture_output=True,
                             timeout=600)
    assert out.returncode == 0
    labels = out.stdout.decode("utf-8").splitlines()
    assert len(labels) == len(texts) > 100
    c = [p.label for p in load(export, engine="c").predict(texts)]
    assert labels == c
    # The float checkpoint in PyTorch as the C computes it (the export's quantization):
    assert len(set(labels)) > 1  # a model that labels everything alike would agree by luck
    same = sum(a == b for a, b in zip(labels, _simulated_labels(export.parent / "tiny.pt",
                                                                texts))) / len(texts)
    assert same >= 0.999


def _simulated_labels(ckpt_path: Path, texts: list[str]) -> list[str]:
    import torch

    from embbert_mcu.checkpoint import load_checkpoint
    from embbert_mcu.export.testset import checkpoint_tokenizer
    from embbert_mcu.quant import simulated_model
    from embbert_mcu.training.evaluate import predict_logits

    ckpt = load_checkpoint(ckpt_path)
    ids = checkpoint_tokenizer(ckpt).encode_many(texts, max_len=ckpt.config.max_len)
    with torch.no_grad():
        logits = predict_logits(simulated_model(ckpt), ids)
    return [str(ckpt.labels[i]) for i in logits.argmax(-1).tolist()]


def test_label_names_and_api_header(export):
    src = export / "src"
    api = (src / "embbert_api.c").read_text()
    assert '"class0",' in api and '"class1",' in api
    header = (src / "embbert.h").read_text()
    for name in ("embbert_init(", "embbert_classify_text(", "embbert_classify_ids(", "-lm",
                 "-std=c99"):
        assert name in header
    manifest = json.loads((export / "library.json").read_text())
    assert manifest["build"]["srcDir"] == "src" and manifest["headers"] == "embbert.h"
    props = (export / "library.properties").read_text()
    assert "name=embbert" in props and "includes=embbert.h" in props
    cmake = (export / "CMakeLists.txt").read_text()
    assert "idf_component_register" in cmake and "add_executable(classify" in cmake


def test_c_string_escapes():
    from embbert_mcu.export.library import c_string

    assert c_string('a"b\\c??=é\n') == '"a\\"b\\\\c\\?\\?=\\303\\251\\012"'


def test_predict_cli_inputs_and_json(export, tmp_path, capsys):
    ckpt = export.parent / "tiny.pt"
    (tmp_path / "a.csv").write_text("text,label\nfirst text,class0\n\"second, quoted\",class1\n")
    (tmp_path / "a.jsonl").write_text('{"text": "first text"}\n{"text": "second, quoted"}\n')
    (tmp_path / "a.txt").write_text("first text\nsecond, quoted\n")
    docs = []
    for name in ("a.csv", "a.jsonl", "a.txt"):
        main(["predict", str(ckpt), "--input", str(tmp_path / name), "--json"])
        docs.append(json.loads(capsys.readouterr().out))
    assert docs[0] == docs[1] == docs[2]
    preds = docs[0]["predictions"]
    assert len(preds) == 2 and set(preds[0]["probabilities"]) == {"class0", "class1"}
    assert abs(sum(preds[0]["probabilities"].values()) - 1) < 1e-9
    main(["predict", str(ckpt), "second, quoted", "--input", str(tmp_path / "a.txt"), "--json"])
    order = json.loads(capsys.readouterr().out)["predictions"]
    # arguments first, then the file (other batches pad to other lengths: float noise only)
    assert [o["label"] for o in order] == [preds[1]["label"]] + [p["label"] for p in preds]
    for got, want in zip(order, [preds[1]] + preds):
        for name, prob in want["probabilities"].items():
            assert abs(got["probabilities"][name] - prob) < 1e-6
    main(["predict", str(export), "first text", "--engine", "c", "--json"])
    c = json.loads(capsys.readouterr().out)["predictions"]
    assert c[0]["label"] == preds[0]["label"]


@pytest.mark.parametrize("args, code", [([], 2), (["--engine", "torch"], 2)])
def test_predict_errors_are_one_line(export, args, code, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(export), *args] + (["x"] if args else []))
    assert exc.value.code != 0
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


@pytest.mark.slow
def test_platformio_project_with_the_export_as_a_library(export, tmp_path):
    from embbert_mcu.device import emulator
    from embbert_mcu.device.boards import load_board
    from embbert_mcu.device.flash import firmware_elf, run_pio
    from embbert_mcu.device.libproject import library_project

    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is needed")
    board = load_board("qemu_f446")
    project = library_project(board, export, tmp_path / "app")
    assert sorted(p.name for p in (project / "src").iterdir()) == [
        "emb_contract.h", "emb_port.h", "emb_proto.h", "main.c", "port.c"]
    assert (project / "lib" / "embbert" / "library.json").is_file()
    run_pio(project, board, ["upload"])  # builds, then starts QEMU with the serial socket
    elf = firmware_elf(project, board)
    state_path = elf.with_name("emulator.json")
    try:
        nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True)
        assert " embbert_classify_text" in nm.stdout and " embbert_tokenize" in nm.stdout
        texts = _texts(export)[:12]
        labels = _serial_lines(emulator.load_state(state_path)["url"], texts)
    finally:
        emulator.stop(state_path)
    assert labels == [p.label for p in load(export, engine="c").predict(texts)]


def _serial_lines(url: str, texts: list[str], timeout_s: float = 120.0) -> list[str]:
    """Send one text per line over the emulator's serial socket, read one line back each."""
    import time

    with connect(int(url.rsplit(":", 1)[1])) as sock:
        sock.sendall("".join(t + "\n" for t in texts).encode("utf-8"))
        data, deadline = b"", time.monotonic() + timeout_s
        while data.count(b"\n") < len(texts) and time.monotonic() < deadline:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode("utf-8").splitlines()


def test_export_verify_test_file_reports_tokenizer_agreement(export, tmp_path, capsys):
    ckpt = export.parent / "tiny.pt"
    texts = list(_texts(export)[:40])
    (tmp_path / "mine.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    main(["export", str(ckpt), "-o", str(tmp_path / "m"), "--no-onnx", "--verify", "--test",
          str(tmp_path / "mine.jsonl"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["tokenizer_agreement"] == 1.0 and doc["tokenizer_n"] == len(texts)
    assert doc["tokenizer_fuzz_agreement"] == 1.0 and doc["tokenizer_fuzz_n"] == 2000
    assert doc["n"] == len(texts) and doc["c_accuracy"] is None and doc["agreement"] == 1.0
    assert doc["tokenizer"]["table_bytes"] > 0 and doc["tokenizer"]["flash_bytes"] > 0
    with pytest.raises(SystemExit):
        main(["export", str(ckpt), "-o", str(tmp_path / "n"), "--test",
              str(tmp_path / "mine.jsonl")])
    assert "--test needs --verify" in capsys.readouterr().err
