"""The memory report: counts, accountings, JSON on stdout only, budget parsing."""

import json
import subprocess
import sys

import pytest

from embbert_mcu.config import preset
from embbert_mcu.errors import UsageError
from embbert_mcu.memory import memory_report
from embbert_mcu.units import parse_bytes


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "embbert_mcu", *args],
                          capture_output=True, text=True)


def test_base_report_matches_hand_counts():
    r = memory_report(preset("base"))
    assert r.params_total == 357_248
    assert [c.params for c in r.components] == [139_648] + [54_400] * 4
    d = r.to_dict()
    assert d["fp32"]["weights_bytes"] == 4 * 357_248
    # paper: Linear weights int8 + fp16 row scale, the rest fp16; activations 2 (l^2 + 2ld)
    linear_w = 4 * 3 * 128 * 128 + 2 * 16 * 128
    linear_rows = 4 * 3 * 128 + 2 * 128
    assert d["paper"]["weights_bytes"] == linear_w + 2 * linear_rows + 2 * (357_248 - linear_w)
    assert d["paper"]["activations_bytes"] == 2 * (256 * 256 + 2 * 256 * 128)
    # ours: matrices int8 + fp16 scale per 32, vectors fp32, lambdas 2 floats per block
    matrices = 131_072 + 4_096 + 2 * 2_048 + 384 + 4 * (3 * 16_384 + 4_096)
    vectors = 4 * 5 * 128
    assert r.weights_bytes == matrices + 2 * matrices // 32 + 4 * vectors + 4 * 2 * 4
    assert r.total_bytes == r.weights_bytes + r.activations_bytes < r.budget_bytes


def test_int8_activations_are_smaller_than_f32():
    cfg = preset("base")
    assert memory_report(cfg, act="int8").activations_bytes < 128 * 1024
    assert memory_report(cfg, act="f32").activations_bytes > 2 * 256 * 128 * 4


def test_json_goes_to_stdout_alone():
    out = run_cli("memory", "--preset", "base", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    for key in ("params_total", "weights_bytes", "activations_bytes", "total_bytes",
                "budget_bytes"):
        assert isinstance(doc[key], int)
    assert doc["params_total"] == 357_248 and doc["budget_bytes"] == 781_000


def test_human_report_goes_to_stderr():
    out = run_cli("memory", "--preset", "nano", "--budget", "100kB")
    assert out.returncode == 0 and out.stdout == ""
    assert "budget" in out.stderr


def test_bad_budget_is_a_clear_error():
    out = run_cli("memory", "--budget", "lots")
    assert out.returncode == 2
    assert "error: cannot read 'lots'" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("text,expected", [("781kB", 781_000), ("2MB", 2_000_000),
                                           ("128KiB", 131_072), ("4096", 4096)])
def test_parse_bytes(text, expected):
    assert parse_bytes(text) == expected


def test_parse_bytes_rejects_nonsense():
    with pytest.raises(UsageError):
        parse_bytes("12 parsecs")
