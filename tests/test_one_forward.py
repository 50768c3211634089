"""One forward: the simulation and the stage capture run the model's own block math.

An edit to ``EfficientEncoder.forward`` must reach the simulated model (which quantize scores
and export --verify compares the C against) and the stage capture with no other edit.
"""

import torch

from embbert_mcu.config import preset
from embbert_mcu.export.stages import simulated_stage_outputs
from embbert_mcu.model import PLAIN, EfficientEncoder, build_classifier
from embbert_mcu.quant import SimulatedClassifier
from embbert_mcu.quant.fake import round_rows

L = 24


def _summed_forward(self, x, key_mask, hooks=None):
    """The block with the weighted difference's sign flipped: lambda1 * attn + lambda2 * conv."""
    hooks = hooks or PLAIN
    h = hooks.store(self.norm(x))
    lam = self.lambdas()
    return (lam[0] * self.attention(h, key_mask, hooks.mac_in, hooks)
            + lam[1] * self.convolution(h, key_mask, hooks))


def _by_hand(net, ids, sign):
    """X at each stage start and the logits, written out here: int8 rows at the C's store points."""
    bb = net.backbone
    key_mask = torch.ones_like(ids, dtype=torch.bool)
    x = round_rows(bb.embedder(ids, torch.ones_like(ids)))
    stages = {}
    for b, block in enumerate(bb.blocks):
        stages[b + 1] = x[0].numpy()
        h = round_rows(block.norm(x))
        lam = block.lambdas()
        y = lam[0] * block.attention(h, key_mask) + sign * lam[1] * block.convolution(h)
        x = round_rows(y) if b < len(bb.blocks) - 1 else y
    return stages, net.head(x[:, 0])


@torch.no_grad()
def test_simulation_and_stage_capture_follow_an_edit_of_the_block(monkeypatch):
    net = build_classifier(preset("nano", max_len=L), seed=5).eval()
    sim = SimulatedClassifier(net, "int8").eval()
    ids = torch.randint(5, net.cfg.vocab_size, (1, 19))

    before_stages, before_logits = _by_hand(net, ids, sign=-1.0)
    assert torch.allclose(sim(ids), before_logits, atol=1e-6)
    got = simulated_stage_outputs(sim, ids[0].tolist())
    assert sorted(got) == sorted(before_stages) == list(range(1, net.cfg.n_layers + 1))
    for s in got:
        assert torch.allclose(torch.from_numpy(got[s]), torch.from_numpy(before_stages[s]), atol=1e-6)

    monkeypatch.setattr(EfficientEncoder, "forward", _summed_forward)  # the only edit
    after_stages, after_logits = _by_hand(net, ids, sign=+1.0)
    assert not torch.allclose(after_logits, before_logits, atol=1e-3)  # the edit matters
    assert torch.allclose(sim(ids), after_logits, atol=1e-6)  # the simulation followed
    got = simulated_stage_outputs(sim, ids[0].tolist())
    assert not torch.allclose(torch.from_numpy(got[2]), torch.from_numpy(before_stages[2]), atol=1e-3)
    for s in got:  # the stage capture followed
        assert torch.allclose(torch.from_numpy(got[s]), torch.from_numpy(after_stages[s]), atol=1e-6)


@torch.no_grad()
def test_float_simulation_is_the_model():
    net = build_classifier(preset("nano", max_len=L), seed=6).eval()
    ids = torch.randint(5, net.cfg.vocab_size, (3, L))
    ids[1, 10:] = 0  # padding in one row
    assert torch.equal(SimulatedClassifier(net, "f32")(ids), net(ids))


@torch.no_grad()
def test_integer_q_reads_the_stored_rows_as_they_are():
    """The C's q linear takes H's stored codes and scale, not a second quantization of them:
    the simulation's q input is H itself on the integer path, mac_in elsewhere."""
    net = build_classifier(preset("nano", max_len=L), seed=7).eval()
    h = round_rows(torch.randn(1, L, net.cfg.d_model) * 3.0)
    integer = SimulatedClassifier(net, "int8", mac_dtype="int8").hooks()
    assert integer.q_in is not None and integer.q_in(h) is h
    assert SimulatedClassifier(net, "int8", mac_dtype="f32").hooks().q_in is None
    seen = []
    block = net.backbone.blocks[0]
    block.q.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    block.attention(h, torch.ones(1, L, dtype=torch.bool), integer.mac_in, integer)
    assert torch.equal(seen[0], h)
