"""The TEXT request: the harness tokenizes UTF-8 on the device and infers; ids and logits
match the Python tokenizer and the host C build (host harness under AddressSanitizer)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from embbert_mcu.device import protocol as P
from embbert_mcu.device.link import Device, PipeTransport
from embbert_mcu.errors import DeviceError
from embbert_mcu.export.host import HostModel
from embbert_mcu.export.tokfuzz import fuzz_texts
from embbert_mcu.export.tokhost import python_ids
from embbert_mcu.tokenizer import EmbTokenizer

from _device_util import tiny_export


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the harness for the host")
    from embbert_mcu.device.firmware import build_host_harness

    root = tmp_path_factory.mktemp("text")
    model = tiny_export(root)
    return model, build_host_harness(model, root / "host", sanitize=True)


def test_text_request_matches_python_ids_and_host_logits(harness):
    model, exe = harness
    manifest = json.loads((model / "manifest.json").read_text())
    tok = EmbTokenizer.from_json((model / "tokenizer.json").read_text())
    rows = [json.loads(line) for line in (model / "testset.jsonl").read_text().splitlines()]
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    device = Device(PipeTransport(proc), timeout_s=10.0)
    try:
        info = device.hello()
        fuzz = [t for t in fuzz_texts(200, seed=4) if len(P.encode_text(t)) <= info.max_payload]
        # a literal "[PAD]" in the text is token 0, which the model refuses
        pad = [0 in s for s in python_ids(tok, fuzz, manifest["max_len"])]
        texts = [r["text"] for r in rows] + [t for t, p in zip(fuzz, pad) if not p]
        results = [device.text(t) for t in texts]
        beyond = [t for t, p in zip(fuzz, pad) if p][:3]
        for t in beyond:
            with pytest.raises(DeviceError, match="EMB_ERR_TOKEN"):
                device.text(t)
        with pytest.raises(DeviceError):  # one byte over the limit is refused, not cut
            device.text(b"a" * (info.max_payload + 1))
        assert device.hello().model_sha256 == manifest["model_sha256"]  # still answering
    finally:
        device.shutdown()
        device.close()
        proc.wait(timeout=10)
    want = python_ids(tok, texts, manifest["max_len"])
    assert [r.ids for r in results] == want
    host = HostModel(model).run_many(want)
    assert max(abs(a - b) for r, h in zip(results, host) for a, b in zip(r.logits, h)) < 1e-5
    assert all(r.tokenizer_ticks >= 0 and r.ticks > 0 for r in results)
    assert len(texts) > len(rows) + 20 and beyond


def test_decode_text_checks_lengths():
    good = (P._TEXT_FIXED.pack(n=2, n_classes=1, ticks=5, tokenizer_ticks=3)
            + P._LOGIT.pack(value=0.0) + P._TOKEN.array(2).pack(2, 7))
    assert P.decode_text(good).ids == [2, 7]
    for bad in (good[:-1], good + b"\0", good[:5]):
        with pytest.raises(DeviceError):
            P.decode_text(bad)


def test_cut_utf8_never_splits_a_character():
    from embbert_mcu.device.textbench import cut_utf8

    data = "aé中😀".encode()  # 1 + 2 + 3 + 4 bytes
    assert [cut_utf8(data, n).decode() for n in range(11)] == [
        "", "a", "a", "aé", "aé", "aé", "aé中", "aé中", "aé中", "aé中", "aé中😀"]


def test_text_samples_from_the_export_and_from_a_file(harness, tmp_path):
    from embbert_mcu.device.textbench import text_samples
    from embbert_mcu.errors import UsageError

    model, _ = harness
    rows = text_samples(model, limit=3)
    assert len(rows) == 3 and all(isinstance(r["text"], str) for r in rows)
    (tmp_path / "t.csv").write_text("text,label\nhello there,class1\nbye,class0\n")
    assert text_samples(model, tmp_path / "t.csv") == [{"text": "hello there", "label": 1},
                                                       {"text": "bye", "label": 0}]
    (tmp_path / "bad.csv").write_text("text,label\nhello,nope\n")
    with pytest.raises(UsageError, match="nope"):
        text_samples(model, tmp_path / "bad.csv")
