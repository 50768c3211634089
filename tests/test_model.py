"""Behaviour of the PyTorch model: the paper's counts, causality, padding, lambdas, seeding."""

import pytest
import torch

from embbert_mcu.config import PAD_ID, PRESETS, SEP_ID, preset
from embbert_mcu.model import (
    EmbBERT,
    EmbBertForClassification,
    EmbBertForPretraining,
    build_classifier,
    segment_ids,
)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_base_preset_has_the_papers_parameter_counts():
    model = EmbBERT(preset("base"))
    assert n_params(model) == 357_248
    assert n_params(model.embedder) == 139_648
    block = model.blocks[0]
    assert [n_params(m) for m in (block.norm, block.q, block.out, block.conv, block.contract)] == [
        128, 16_512, 16_512, 4_224, 16_512,
    ]
    assert block.lambda_q.numel() + block.lambda_k.numel() == 512
    assert all(n_params(b) == 54_400 for b in model.blocks)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds(name):
    cfg = PRESETS[name]
    with torch.device("meta"):
        model = EmbBertForClassification(cfg)
    assert len(model.backbone.blocks) == cfg.n_layers
    assert model.head.out_features == cfg.n_classes


def test_conv_branch_is_causal(tiny_cfg):
    block = EmbBERT(tiny_cfg).blocks[0].eval()
    h = torch.randn(1, 10, tiny_cfg.d_model)
    changed = h.clone()
    changed[0, 7] += 5.0
    before, after = block.convolution(h), block.convolution(changed)
    assert torch.equal(before[0, :7], after[0, :7])
    assert not torch.allclose(before[0, 7:], after[0, 7:])


def test_padding_does_not_change_real_positions(tiny_cfg):
    model = build_classifier(tiny_cfg, seed=1).eval()
    ids = torch.tensor([[2, 17, 42, 99, 7]])
    padded = torch.cat([ids, torch.full((1, 6), PAD_ID)], dim=1)
    with torch.no_grad():
        short = model.backbone(ids)
        long = model.backbone(padded)
        assert torch.allclose(short, long[:, :5], atol=1e-5)
        assert torch.allclose(model(ids), model(padded), atol=1e-5)


def test_lambdas_start_near_one(tiny_cfg):
    for seed in range(5):
        model = build_classifier(preset("base"), seed=seed)
        lambdas = torch.stack([b.lambdas() for b in model.backbone.blocks])
        assert torch.all((lambdas > 0.5) & (lambdas < 2.0)), lambdas


def test_same_seed_same_outputs(tiny_cfg):
    ids = torch.randint(5, tiny_cfg.vocab_size, (3, 12))
    a, b, c = (build_classifier(tiny_cfg, seed=s).eval() for s in (7, 7, 8))
    with torch.no_grad():
        assert torch.equal(a(ids), b(ids))
        assert not torch.equal(a(ids), c(ids))


def test_segments_follow_the_first_sep():
    ids = torch.tensor([[2, 9, 9, SEP_ID, 8, 8, SEP_ID, PAD_ID]])
    assert segment_ids(ids).tolist() == [[1, 1, 1, 1, 2, 2, 2, 0]]


def test_attention_ignores_padded_keys_and_fully_masked_rows_are_zero(tiny_cfg):
    block = EmbBERT(tiny_cfg).blocks[0].eval()
    h = torch.randn(1, 6, tiny_cfg.d_model)
    mask = torch.tensor([[True, True, True, False, False, False]])
    altered = h.clone()
    altered[0, 3:] = 100.0
    assert torch.allclose(block.attention(h, mask)[0, :3], block.attention(altered, mask)[0, :3])
    none = torch.zeros_like(mask)
    assert torch.equal(block.attention(h, none)[0], block.out.bias.expand(6, -1))


def test_pretraining_heads_shapes(tiny_cfg):
    model = EmbBertForPretraining(tiny_cfg)
    mlm, nsp = model(torch.randint(5, tiny_cfg.vocab_size, (2, 9)))
    assert mlm.shape == (2, 9, tiny_cfg.vocab_size) and nsp.shape == (2, 2)


def test_embedding_pad_row_is_zero(tiny_cfg):
    model = EmbBERT(tiny_cfg)
    assert torch.count_nonzero(model.embedder.tok.weight[PAD_ID]) == 0


def test_linear_and_embedding_weights_start_bert_style_and_norms_and_lambdas_keep_their_init():
    torch.manual_seed(0)
    model = EmbBertForPretraining(preset("base"))
    emb, block = model.backbone.embedder, model.backbone.blocks[0]
    for weight in (emb.tok.weight[1:], emb.tok_proj.weight, block.q.weight, block.out.weight,
                   model.mlm.weight):
        assert abs(weight.std().item() - 0.02) < 0.002
        assert abs(weight.mean().item()) < 0.002
    assert torch.count_nonzero(emb.tok.weight[PAD_ID]) == 0
    assert torch.count_nonzero(block.q.bias) == 0 and torch.count_nonzero(model.nsp.bias) == 0
    assert torch.equal(block.norm.weight, torch.ones(128))  # RMSNorm keeps its unit weight
    assert abs(block.lambda_q.std().item() - 0.1) < 0.02


@pytest.mark.parametrize("expansion", [1, 2])
def test_conv_branch_starts_as_a_skip_path(expansion):
    """-conv(h) is SiLU(h) up to the N(0, 0.02) noise, whatever the expansion alpha."""
    torch.manual_seed(0)
    cfg = preset("base", conv_expansion=expansion)
    block = EmbBERT(cfg).blocks[0]
    h = block.norm(torch.randn(2, 40, cfg.d_model))
    with torch.no_grad():
        got, want = -block.convolution(h), torch.nn.functional.silu(h)
    err = (got - want).norm() / want.norm()
    assert err < 0.5  # noise only: 31 other taps and the off-diagonal contraction
    cos = torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0)
    assert cos > 0.85


@torch.no_grad()
def test_block_output_is_the_weighted_difference_of_its_branches(tiny_cfg):
    """EMBBERT.md: x' = lambda1 * attention(h) - lambda2 * conv(h), h = RMSNorm(x), no residual."""
    block = EmbBERT(tiny_cfg).blocks[0].eval()
    x = torch.randn(2, 12, tiny_cfg.d_model)
    mask = torch.ones(2, 12, dtype=torch.bool)
    h = torch.nn.functional.rms_norm(x, (tiny_cfg.d_model,), block.norm.weight, block.norm.eps)
    att, conv = block.attention(h, mask), block.convolution(h)
    lam = torch.exp((block.lambda_q * block.lambda_k).sum(-1))
    assert not torch.allclose(att, torch.zeros_like(att)) and not torch.allclose(conv, att)
    assert torch.allclose(block(x, mask), lam[0] * att - lam[1] * conv, atol=1e-6)
