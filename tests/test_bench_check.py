"""bench's compare, check and identity on crafted inputs: each verdict can go either way."""

from __future__ import annotations

import dataclasses

import pytest

from embbert_mcu.device.bench import LOGIT_TOLERANCE, check, check_identity, compare
from embbert_mcu.device.protocol import DeviceInfo
from embbert_mcu.errors import BudgetError, VerificationError
from embbert_mcu.export.manifest import Manifest

SHA = "ab" * 32
INFO = DeviceInfo(proto_version=1, max_len=64, n_classes=2, n_stages=6, arena_bytes=1024,
                  vocab_size=512, clock_hz=16_000_000, tick_scale=1, stack_bytes=8192,
                  max_payload=4096, static_bytes=100, tick_unit="instructions",
                  stack_guard=True, board="qemu_f446", port="qemu", model_sha256=SHA,
                  prefix="embbert")
MANIFEST = Manifest(prefix="embbert", model_sha256=SHA, arena_bytes=1024, weights_bytes=0,
                    max_len=64, n_classes=2, vocab_size=512, d_model=16, n_layers=1,
                    labels=("a", "b"), act_dtype="f32", stages=("s",) * 6, version="0",
                    quant={}, macs_at_max_len=0, test_split=None)


class _Hello:
    """What check_identity reads of a device: its HELLO reply."""

    def __init__(self, info: DeviceInfo):
        self.info = info

    def hello(self) -> DeviceInfo:
        return self.info


def _samples(labels):
    return [{"ids": [2, 5, 3], "label": y} for y in labels]


def _report(agreement=1.0, diff=0.0, tolerance=1e-3, total=500, budget=781):
    return {"n": 4, "agreement": agreement, "disagreements": [] if agreement == 1.0 else [2],
            "max_logit_diff": diff, "logit_tolerance": tolerance,
            "total_bytes": total, "budget_bytes": budget}


def test_compare_counts_each_side_against_the_labels_and_the_other():
    host = [[1.0, 0.0], [0.0, 2.0], [3.0, 1.0], [0.5, 0.4]]
    dev = [[1.0, 0.0], [0.0, 2.0], [1.0, 3.0], [0.5, 0.4]]  # sample 2 flips
    r = compare(_samples([0, 1, 0, 1]), dev, host)
    assert r["n"] == 4
    assert r["host_accuracy"] == 0.75 and r["accuracy"] == 0.5
    assert r["agreement"] == 0.75 and r["disagreements"] == [2]
    assert r["max_logit_diff"] == 2.0
    assert r["logit_tolerance"] == pytest.approx(LOGIT_TOLERANCE["f32"] * 3.0)
    r = compare(_samples([0, 1, 0, 1]), dev, host, "int8")
    assert r["logit_tolerance"] == pytest.approx(LOGIT_TOLERANCE["int8"] * 3.0)


def test_compare_of_identical_logits_agrees_and_the_tolerance_floor_is_absolute():
    host = [[0.25, -0.5], [-0.1, 0.2]]
    r = compare(_samples([0, 1]), [row[:] for row in host], host)
    assert (r["agreement"], r["disagreements"], r["max_logit_diff"]) == (1.0, [], 0.0)
    assert r["accuracy"] == r["host_accuracy"] == 1.0
    assert r["logit_tolerance"] == LOGIT_TOLERANCE["f32"]  # max(1, largest |logit| = 0.5)


@pytest.mark.parametrize("mac", ["f32", "int8"])
def test_halved_device_logits_keep_every_argmax_but_fail_the_check(mac):
    host = [[4.0, -2.0], [-3.0, 5.0], [2.0, 1.0]]
    dev = [[v / 2 for v in row] for row in host]
    r = compare(_samples([0, 1, 0]), dev, host, mac)
    r.update(total_bytes=None, budget_bytes=None)
    assert r["agreement"] == 1.0
    with pytest.raises(VerificationError, match="logits differ"):
        check(r)


def test_rounding_sized_differences_pass_the_check():
    host = [[4.0, -2.0], [-3.0, 5.0]]
    dev = [[v + 2.6e-4 for v in row] for row in host]  # float MACs on the M4F
    r = compare(_samples([0, 1]), dev, host)
    r.update(total_bytes=None, budget_bytes=None)
    check(r)
    host = [[2.05, -1.0], [-1.5, 1.2]]
    dev = [[v + 4.5e-3 for v in row] for row in host]  # integer MACs on the M4F
    r = compare(_samples([0, 1]), dev, host, "int8")
    r.update(total_bytes=None, budget_bytes=None)
    check(r)
    with pytest.raises(VerificationError, match="logits differ"):
        check({**r, **compare(_samples([0, 1]), dev, host, "f32")})


def test_check_rejects_disagreement_unless_allowed():
    with pytest.raises(VerificationError, match="disagree on 1 of 4"):
        check(_report(agreement=0.75))
    check(_report(agreement=0.75), min_agreement=0.75)


@pytest.mark.parametrize("total,budget,over", [(782, 781, True), (781, 781, False),
                                               (500, 781, False), (10**6, 781_000, True)])
def test_check_compares_the_total_with_the_budget(total, budget, over):
    if over:
        with pytest.raises(BudgetError, match="exceeds the budget"):
            check(_report(total=total, budget=budget))
    else:
        check(_report(total=total, budget=budget))


def test_check_without_a_flash_figure_cannot_check_a_budget():
    with pytest.raises(BudgetError, match="cannot check the budget"):
        check(_report(total=None, budget=781))
    check(_report(total=None, budget=None))


def test_identity_accepts_the_exported_model_only():
    check_identity(_Hello(INFO), MANIFEST)
    other = dataclasses.replace(INFO, model_sha256="cd" * 32)
    with pytest.raises(VerificationError, match="runs model cdcdcdcdcdcd, the export is abababababab"):
        check_identity(_Hello(other), MANIFEST)


@pytest.mark.parametrize("field,value", [("max_len", 128), ("n_classes", 3)])
def test_identity_rejects_a_different_shape(field, value):
    with pytest.raises(VerificationError, match="max_len or n_classes"):
        check_identity(_Hello(dataclasses.replace(INFO, **{field: value})), MANIFEST)


def test_mac_figures_total_over_total_and_per_stage():
    from types import SimpleNamespace

    from embbert_mcu.device.bench import mac_figures

    manifest = SimpleNamespace(macs_per_stage={"embed": [0, 10, 0], "block0": [5, 0, 1]})
    # n = 2: embed 20, block0 9 (29); n = 4: embed 40, block0 21 (61)
    out = mac_figures(manifest, [2, 4], [58.0, 183.0], {"embed": 90.0, "block0": 30.0},
                      "instructions")
    assert out["macs_per_inference"] == 45
    assert out["instructions_per_mac"] == (58.0 + 183.0) / (29 + 61)
    assert out["stage_instructions_per_mac"] == {"embed": 90.0 / 30, "block0": 30.0 / 15}
    assert mac_figures(SimpleNamespace(macs_per_stage=None), [2], [1.0], {}, "cycles") == {}
