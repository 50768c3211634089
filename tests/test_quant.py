"""Packing, fallback decisions and the simulated-quantized model."""

import numpy as np
import pytest
import torch

from embbert_mcu.checkpoint import Checkpoint
from embbert_mcu.model import build_classifier
from embbert_mcu.quant import (
    QuantPolicy, decide, pack_model, pack_tensor, simulated_model, tensor_kinds,
)
from embbert_mcu.quant.decide import decide_tensor
from embbert_mcu.quant.fake import row_values, weight_values


def _ckpt(cfg, quant=None, seed=0):
    return Checkpoint.from_model(build_classifier(cfg, seed), quant=quant)


def test_round_trip_within_half_step():
    rng = np.random.default_rng(0)
    scales = rng.uniform(0.01, 10, size=(8, 1)).astype(np.float32)
    x = rng.normal(size=(8, 64)).astype(np.float32) * scales  # (8, 64): 16 blocks of 32
    qt = pack_tensor("w", x, "q8", 32)
    blocks = x.reshape(-1, 32)
    step = qt.scales.view(np.float16).astype(np.float32)[:, None]  # (16, 1) the fp16 scale
    err = np.abs(qt.dequantize().reshape(-1, 32) - blocks)
    # half a step; the clamp at 127 adds at most the fp16 rounding of the scale (2^-11 relative)
    absmax = np.abs(blocks).max(axis=1, keepdims=True)
    assert np.all(err <= 0.5 * step + absmax * 2.0**-11)
    assert np.all(err <= 0.5 * step * 1.01)
    assert qt.nbytes() == 16 * (32 + 2)


def test_fallback_triggers_on_planted_outlier():
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.05, size=(64, 128)).astype(np.float32)
    w[10, 70] = 8.0  # block 10 * 4 + 2 = 42
    policy = QuantPolicy(fallback="block", threshold=0.05)
    decision = decide_tensor("w", "linear", w, policy)
    assert decision == {"encoding": "mixed", "fallback_blocks": [42]}
    qt = pack_tensor("w", w, "mixed", 32, np.isin(np.arange(256), [42]))
    assert qt.dequantize()[10, 70] == np.float32(8.0)
    # the same outlier in a table falls back as a whole tensor, or not at all
    assert decide_tensor("t", "table", w, policy)["encoding"] in ("f16", "q8")
    assert decide_tensor("w", "linear", w, policy.with_(fallback="none"))["encoding"] == "q8"


def test_zero_block_does_not_divide_by_zero():
    x = np.zeros((2, 32), dtype=np.float32)
    x[1] = np.linspace(-1, 1, 32)
    with np.errstate(all="raise"):
        qt = pack_tensor("z", x, "q8", 32)
    assert qt.scales[0] == 0 and not qt.qs[0].any()
    assert np.all(qt.dequantize()[0] == 0)
    assert weight_values(torch.from_numpy(x), "q8", 32).isfinite().all()


def test_torch_rounding_matches_packed_bytes(tiny_cfg):
    ckpt = _ckpt(tiny_cfg)
    for name, qt in pack_model(ckpt).items():
        mask = torch.from_numpy(qt.fallback_blocks()) if qt.encoding == "mixed" else None
        values = weight_values(ckpt.state_dict[name], qt.encoding, qt.block, mask)
        assert np.array_equal(values.reshape(qt.shape).numpy(), qt.dequantize()), name


def test_simulated_f32_equals_dequantized_forward(tiny_cfg):
    policy = QuantPolicy(block=8, act_dtype="f32", mac_dtype="f32")  # the float path throughout
    ckpt = _ckpt(tiny_cfg, quant={"policy": policy.to_dict()})
    plain = ckpt.model()
    with torch.no_grad():
        for name, qt in pack_model(ckpt).items():
            plain.state_dict()[name].copy_(torch.from_numpy(qt.dequantize()).reshape(
                plain.state_dict()[name].shape))
    ids = torch.randint(5, tiny_cfg.vocab_size, (3, 12))
    ids[:, 0] = 2
    ids[2, 7:] = 0  # padding
    with torch.no_grad():
        assert torch.equal(simulated_model(ckpt)(ids), plain(ids))
        assert not torch.equal(ckpt.model()(ids), plain(ids))  # the weights really were rounded


def _numpy_rows(x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    for i, row in enumerate(x.reshape(-1, x.shape[-1])):
        scale = np.float32(np.abs(row).max()) / np.float32(127)
        if scale == 0:
            continue
        q = np.clip(np.rint(row / scale), -127, 127).astype(np.int8)
        out.reshape(-1, x.shape[-1])[i] = q.astype(np.float32) * scale
    return out


def test_int8_rows_match_numpy_reference():
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(3, 5, 16)) * rng.uniform(1e-3, 1e3, size=(3, 5, 1))).astype(np.float32)
    x[1, 2] = 0.0  # a zero row
    x[0, 0, :4] = [0.5, 1.5, -2.5, 127.0]  # ties: round half to even
    assert np.array_equal(row_values(torch.from_numpy(x)).numpy(), _numpy_rows(x))


def test_int8_activations_change_but_track_f32(tiny_cfg):
    # As many classes as features, so the logits carry the whole [CLS] row: with two random
    # head rows a logit is a near-cancelling sum and its relative error says little.
    cfg = tiny_cfg.with_(n_classes=tiny_cfg.d_model)
    ckpt = _ckpt(cfg, quant={"policy": QuantPolicy(block=8).to_dict()})
    ids = torch.randint(5, cfg.vocab_size, (4, 10))
    ids[:, 0] = 2
    with torch.no_grad():
        a = simulated_model(ckpt)(ids)
        ckpt.quant["policy"]["act_dtype"] = "f32"
        b = simulated_model(ckpt)(ids)
    assert not torch.equal(a, b)
    assert (a - b).norm() < 0.03 * b.norm()  # ~0.8% measured: int8 rows, two blocks


def test_pack_model_is_deterministic(tiny_cfg):
    quant = {"policy": QuantPolicy(block=8, threshold=0.004).to_dict()}
    first, second = pack_model(_ckpt(tiny_cfg, quant)), pack_model(_ckpt(tiny_cfg, quant))
    assert list(first) == list(second)
    assert "backbone.blocks.0.lambda_q" not in first
    for name in first:
        a, b = first[name], second[name]
        assert (a.encoding, a.shape) == (b.encoding, b.shape)
        for field in ("scales", "qs", "f16", "mask", "f32"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), (name, field)


def test_stored_decisions_are_repacked(tiny_cfg):
    ckpt = _ckpt(tiny_cfg)
    kinds = tensor_kinds(ckpt.model())
    policy = QuantPolicy(block=8)
    tensors = decide(ckpt.state_dict, kinds, policy)
    tensors["backbone.blocks.0.q.weight"] = {"encoding": "mixed", "fallback_blocks": [0, 5]}
    tensors["backbone.embedder.tok.weight"] = {"encoding": "f16", "fallback_blocks": []}
    ckpt.quant = {"policy": policy.to_dict(), "tensors": tensors}
    packed = pack_model(ckpt)
    assert np.flatnonzero(packed["backbone.blocks.0.q.weight"].fallback_blocks()).tolist() == [0, 5]
    assert packed["backbone.embedder.tok.weight"].encoding == "f16"
    assert packed["backbone.blocks.0.conv.weight"].shape == (tiny_cfg.d_model, tiny_cfg.conv_kernel)


def test_bad_decisions_are_rejected(tiny_cfg):
    from embbert_mcu.errors import CheckpointError, UsageError

    ckpt = _ckpt(tiny_cfg)
    tensors = decide(ckpt.state_dict, tensor_kinds(ckpt.model()), QuantPolicy(block=8))
    tensors["backbone.embedder.tok.weight"] = {"encoding": "mixed", "fallback_blocks": [0]}
    ckpt.quant = {"policy": QuantPolicy(block=8).to_dict(), "tensors": tensors}
    with pytest.raises(CheckpointError, match="cannot be stored"):
        pack_model(ckpt)
    with pytest.raises(UsageError):
        QuantPolicy(block=24)


def test_training_view_equals_simulated_model(tiny_cfg):
    from embbert_mcu.quant import FakeQuantClassifier, SimulatedClassifier

    policy = QuantPolicy(block=8, threshold=0.004)
    ckpt = _ckpt(tiny_cfg, quant={"policy": policy.to_dict()})
    net = ckpt.model()
    kinds = tensor_kinds(net)
    decisions = decide(ckpt.state_dict, kinds, policy)
    assert any(d["encoding"] == "mixed" for d in decisions.values())  # the mixed path is covered
    sim = SimulatedClassifier(net, policy.act_dtype, policy.mac_dtype)  # the integer path
    train_view = FakeQuantClassifier(sim, kinds, decisions, 8)
    ids = torch.randint(5, tiny_cfg.vocab_size, (3, 10))
    ids[:, 0] = 2
    with torch.no_grad():
        assert torch.equal(train_view.eval()(ids), simulated_model(ckpt)(ids))
    # straight-through: every packed float weight receives a gradient
    train_view(ids).sum().backward()
    for name, p in net.named_parameters():
        if name in decisions and "bias" not in name and "norm" not in name:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_report_counts_every_value_once(tiny_cfg):
    from embbert_mcu.quant.report import build_report

    policy = QuantPolicy(block=8, threshold=0.004)
    ckpt = _ckpt(tiny_cfg, quant={"policy": policy.to_dict()})
    kinds = tensor_kinds(ckpt.model())
    packed = pack_model(ckpt)
    totals = build_report(ckpt.state_dict, kinds, packed).totals()
    n_lambda = sum(p.numel() for k, p in ckpt.state_dict.items() if "lambda" in k)
    assert totals["params"] + n_lambda == sum(p.numel() for p in ckpt.state_dict.values())
    assert totals["int8_params"] + totals["f16_params"] + totals["f32_params"] == totals["params"]
    assert totals["f16_params"] == sum(q.f16.size for q in packed.values()) > 0
    assert totals["weights_bytes"] == sum(q.nbytes() for q in packed.values())
    assert totals["lambda_bytes"] == 8 * tiny_cfg.n_layers


def test_training_view_runs_the_integer_conv_as_the_simulation():
    """With k a multiple of the block (k = 8, blocks of 8) the convs are int8 tap blocks, so
    recovery's training view and the simulated model both run the conv on the int16 window."""
    from dataclasses import replace as dc_replace

    from embbert_mcu.config import preset
    from embbert_mcu.quant import FakeQuantClassifier, SimulatedClassifier, conv_blocks_integer

    cfg = preset("base", vocab_size=300, max_len=24, d_model=32, d_embed=8, n_layers=2,
                 conv_kernel=8)
    policy = QuantPolicy(block=8)
    ckpt = _ckpt(cfg, quant={"policy": policy.to_dict()})
    net = ckpt.model()
    kinds = tensor_kinds(net)
    decisions = decide(ckpt.state_dict, kinds, policy)
    assert conv_blocks_integer(cfg, policy.block, kinds, decisions)
    sim = simulated_model(ckpt)
    assert sim.integer_conv
    view = FakeQuantClassifier(SimulatedClassifier(net, "int8", "int8", True), kinds, decisions, 8)
    ids = torch.randint(5, cfg.vocab_size, (3, 20))
    ids[:, 0] = 2
    ids[1, 12:] = 0  # padding stays out of the window scale
    with torch.no_grad():
        assert torch.equal(view.eval()(ids), sim(ids))
        plain_conv = dc_replace(sim.hooks(), conv_in=lambda h, _m: h)
        assert not torch.equal(sim.net(ids, None, plain_conv), sim(ids))  # the hook acts
