"""A model that reads long texts as windows, exported: the C API's classify_text averages the
windows on the device exactly as Python does, export --verify and predict read windows too,
and the generated C builds strictly on gcc and arm-none-eabi-gcc."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from embbert_mcu.ccompile import compile_c
from embbert_mcu.config import preset
from embbert_mcu.export.devckpt import dev_checkpoint
from embbert_mcu.export.exporter import export_checkpoint
from embbert_mcu.export.host import HostModel
from embbert_mcu.export.manifest import Manifest
from embbert_mcu.predict import load
from embbert_mcu.reading import split, text_cap
from embbert_mcu.tokenizer import EmbTokenizer

CFG = preset("nano", max_len=16, windows=3, window_stride=10)

# Prints each line's logits as the float32 bit patterns classify_text gives (one text a line).
MAIN = r"""
#include <stdio.h>
#include <string.h>
#include "tiny.h"
static union { unsigned long long align; unsigned char bytes[TINY_ARENA_BYTES]; } arena;
static char line[1 << 16];
int main(void)
{
    unsigned first;
    if (tiny_init(arena.bytes, sizeof arena.bytes) != EMB_OK) return 1;
    if (tiny_classify_ids(NULL, 40u, &first, NULL) != EMB_ERR_ARG) return 3; /* no ids: an error */
    while (fgets(line, sizeof line, stdin) != NULL) {
        float logits[TINY_N_CLASSES];
        unsigned label, k;
        size_t len = strlen(line);
        if (len > 0u && line[len - 1u] == '\n') len--;
        if (tiny_classify_text(line, len, &label, logits) != EMB_OK) return 2;
        for (k = 0u; k < TINY_N_CLASSES; k++) {
            unsigned bits;
            memcpy(&bits, &logits[k], sizeof bits);
            printf("%08x ", bits);
        }
        printf("%u\n", label);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("win")
    dev_checkpoint(CFG, root / "tiny.pt", seed=3, n_test=40, max_words=60)
    export_checkpoint(root / "tiny.pt", root / "model", onnx=False, prefix="tiny")
    return root / "model"


def _rows(model: Path) -> list[dict]:
    return [json.loads(line) for line in (model / "testset.jsonl").read_text().splitlines()]


def test_manifest_macros_and_testset_keep_what_the_windows_read(export):
    m = Manifest.load(export)
    assert (m.windows, m.window_stride) == (3, 10)
    header = (export / "src" / "tiny_model.h").read_text()
    assert "#define TINY_WINDOWS 3u" in header and "#define TINY_WINDOW_STRIDE 10u" in header
    assert f"#define TINY_TEXT_IDS {text_cap(CFG)}u" in header
    lengths = [len(r["ids"]) for r in _rows(export)]
    assert max(lengths) == text_cap(CFG) == 36  # cut to what three windows read
    assert sum(n > CFG.max_len for n in lengths) >= 20  # most texts need a second window


def test_classify_text_in_c_equals_python_windows_bit_for_bit(export, tmp_path):
    src = export / "src"
    (tmp_path / "main.c").write_text(MAIN)
    exe = compile_c(sorted(src.glob("*.c")) + [tmp_path / "main.c"], tmp_path / "classify",
                    include_dirs=[src])
    texts = [r["text"] for r in _rows(export)]
    out = subprocess.run([str(exe)], input="".join(t + "\n" for t in texts).encode(),
                         capture_output=True, timeout=300, check=True).stdout.decode().splitlines()
    c_logits = [[struct.unpack("<f", bytes.fromhex(h)[::-1])[0] for h in line.split()[:-1]]
                for line in out]
    # Python: the tokenizer's ids cut to TEXT_IDS, each window run by the host C model, the
    # logits averaged in float32 (reading.mean_by_owner).
    py = load(export, engine="c").logits(texts)
    assert len(c_logits) == len(texts) == 40
    assert c_logits == py  # bit for bit: the same float32 sums and division
    host = HostModel(export)
    rows = _rows(export)
    long_row = next(r for r in rows if len(split(r["ids"], CFG)) == 3)
    first = host._run_each([split(long_row["ids"], CFG)[0]])[0]
    assert host.run(long_row["ids"]) != first  # the later windows count


def test_a_failing_window_is_named_by_its_text(export):
    """An error status in a later window names the text it belongs to, not its place among
    all the windows run."""
    from embbert_mcu.errors import ExportError

    host = HostModel(export)
    rows = _rows(export)
    good = rows[0]["ids"]
    bad = list(next(r for r in rows if len(split(r["ids"], CFG)) == 3)["ids"])
    bad[17] = CFG.vocab_size  # past the vocabulary; window 2 alone reads ids 16..20
    with pytest.raises(ExportError, match=r"on sequence 1 \(window 2\)"):
        host.run_many([good, bad])


def test_export_verify_reads_windows(export, tmp_path):
    from embbert_mcu.checkpoint import load_checkpoint
    from embbert_mcu.export.verify import verify_export

    report = verify_export(load_checkpoint(export.parent / "tiny.pt"), export)
    assert report.n == 40 and report.agreement == 1.0
    assert report.max_abs_logit_diff < 1e-2  # int8 activations: a code may move by one step
    assert report.mean_len > CFG.max_len


def test_windowed_api_builds_strictly_for_cortex_m(export, tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    src = export / "src"
    for name in ("tiny_api.c", "tiny_model.c", "tiny_tokenizer.c"):
        compile_c([src / name], tmp_path / (name + ".o"), include_dirs=[src],
                  target_name="cortex-m4f", extra_flags=["-c"])


def test_the_same_checkpoint_exports_the_same_bytes(export, tmp_path):
    again = tmp_path / "again"
    export_checkpoint(export.parent / "tiny.pt", again, onnx=False, prefix="tiny")
    for name in ("tiny_api.c", "tiny.h", "tiny_model.h"):
        assert (again / "src" / name).read_bytes() == (export / "src" / name).read_bytes()


def test_the_harness_text_request_reads_windows(export, tmp_path):
    # The serial harness (host build under AddressSanitizer) tokenizes a TEXT request to
    # TEXT_IDS ids and averages the windows: the logits of classify_text, bit for bit.
    from embbert_mcu.device.firmware import build_host_harness
    from embbert_mcu.device.link import Device, PipeTransport

    exe = build_host_harness(export, tmp_path / "host", sanitize=True)
    from embbert_mcu.device.textbench import cut_utf8

    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    device = Device(PipeTransport(proc), timeout_s=10.0)
    try:
        limit = device.hello().max_payload  # 8 bytes an id: TEXT_IDS * 8
        sent = [cut_utf8(r["text"].encode(), limit) for r in _rows(export)]
        results = [device.text(t) for t in sent]
    finally:
        device.shutdown()
        device.close()
        proc.wait(timeout=10)
    texts = [t.decode() for t in sent]
    tok = EmbTokenizer.from_json((export / "tokenizer.json").read_text())
    want = tok.encode_many(texts, max_len=text_cap(CFG))
    assert [r.ids for r in results] == want
    assert sum(len(w) > CFG.max_len for w in want) >= 10  # read as windows
    assert [r.logits for r in results] == load(export, engine="c").logits(texts)


@pytest.mark.slow
def test_bench_and_bench_text_on_qemu_read_windows(export, tmp_path, capsys):
    from embbert_mcu.cli import main

    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    reports = []
    for extra in ([], ["--text"]):
        main(["bench", "--board", "qemu_f446", "--model", str(export), "--project-dir",
              str(tmp_path / "fw"), "--limit", "12", "--json", *extra])
        reports.append(json.loads(capsys.readouterr().out))
    ids, text = reports
    windows = sum(len(split(r["ids"], CFG)) for r in _rows(export)[:12])
    assert ids["n"] == 12 and ids["inferences"] == windows > 12 and ids["windows"] == 3
    assert ids["agreement"] == 1.0 and ids["max_logit_diff"] < 1e-3
    assert text["n"] == 12 and text["agreement"] == 1.0 and text["tokenizer_agreement"] == 1.0
    # a TEXT request carries 8 x l = 128 bytes here: the longer texts are cut, read as
    # fewer windows, and the host reads the same cut bytes
    assert text["texts_cut"] > 0 and text["accuracy"] == text["host_accuracy"]
