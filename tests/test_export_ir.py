"""The graph IR and the lowering's refusal of ops it has no kernel for."""

import types

import pytest
import torch.nn.functional as F
from torch import nn

from embbert_mcu.cli import main
from embbert_mcu.checkpoint import Checkpoint, save_checkpoint
from embbert_mcu.config import preset
from embbert_mcu.errors import ExportError
from embbert_mcu.export.graph import build_ir
from embbert_mcu.export.irmap import check_supported
from embbert_mcu.export.lower import lower_graph
from embbert_mcu.model import EfficientEncoder, build_classifier

L = 16


@pytest.fixture(scope="module")
def nano():
    return build_classifier(preset("nano", max_len=L), seed=3)


def test_ir_names_shapes_and_modules_are_stable(nano):
    a, b = build_ir(nano, L), build_ir(nano, L)
    assert [n.name for n in a.nodes] == [n.name for n in b.nodes]
    linears = [n for n in a.nodes if n.op == "aten.linear"]
    assert [n.module for n in linears] == [
        "backbone.embedder.tok_proj", "backbone.embedder.pos_proj",
        "backbone.blocks.0.q", "backbone.blocks.0.out", "backbone.blocks.0.contract",
        "backbone.blocks.1.q", "backbone.blocks.1.out", "backbone.blocks.1.contract", "head",
    ]
    d = nano.cfg.d_model
    assert linears[2].shape == (1, L, d) and linears[2].dtype == "float32"
    assert linears[-1].shape == (1, nano.cfg.n_classes)
    conv = next(n for n in a.nodes if n.op == "aten.conv1d")
    assert conv.module == "backbone.blocks.0.conv" and conv.module_type == "Conv1d"
    assert a.by_module("backbone.blocks.1")[0].op == "aten.rms_norm"


def _gelu_forward(self, x, key_mask, hooks=None):
    h = self.norm(x)
    lam = self.lambdas()
    y = lam[0] * self.attention(h, key_mask) - lam[1] * self.convolution(h)
    return F.gelu(y)


def test_gelu_in_a_block_names_op_and_module(nano):
    model = build_classifier(preset("nano", max_len=L), seed=3)
    model.backbone.blocks[1].forward = types.MethodType(_gelu_forward, model.backbone.blocks[1])
    with pytest.raises(ExportError) as err:
        check_supported(build_ir(model, L))
    assert "aten.gelu" in err.value.message and "backbone.blocks.1" in err.value.message


def test_extra_module_names_op_and_module():
    model = build_classifier(preset("nano", max_len=L), seed=3)
    block = model.backbone.blocks[0]
    block.act = nn.GELU()
    block.forward = types.MethodType(
        lambda self, x, m, hooks=None: self.act(EfficientEncoder.forward(self, x, m)), block)
    ir = build_ir(model, L)
    with pytest.raises(ExportError) as err:
        lower_graph(ir, model, "embbert", "int8")
    assert "aten.gelu" in err.value.message
    assert "backbone.blocks.0.act" in err.value.message and "GELU" in err.value.message


def test_cli_reports_unsupported_op_without_traceback(tmp_path, monkeypatch, capsys):
    ckpt = Checkpoint.from_model(build_classifier(preset("nano", max_len=L)))
    save_checkpoint(ckpt, tmp_path / "m.pt")
    monkeypatch.setattr(EfficientEncoder, "forward", _gelu_forward)
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(tmp_path / "m.pt"), "-o", str(tmp_path / "out"), "--no-onnx"])
    err = capsys.readouterr().err
    assert exit_info.value.code == ExportError.exit_code
    assert "error: cannot lower op aten.gelu" in err and "backbone.blocks.0" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_lowering_maps_each_module_to_kernels(nano):
    sched = lower_graph(build_ir(nano, L), nano, "embbert", "int8")
    assert [s.name for s in sched.stages] == ["embed", "block0", "block1", "head"]
    last = sched.stages[-2]
    assert [loop.bound for loop in last.loops] == ["n", "1"]  # the last block: row 0 only
    modules = {op.module for op in sched.flat_ops()}
    assert {"backbone.blocks.0.q", "backbone.blocks.1.conv", "head"} <= modules
    attn = [op for op in sched.flat_ops() if op.code.startswith("emb_attention_row_f32")]
    assert len(attn) == nano.cfg.n_layers
    d = nano.cfg.d_model
    # no l x l buffer exists: the largest float scratch is l scores or a d-vector
    floats = [b.count for b in sched.buffers.values() if b.name.startswith("b")]
    assert max(floats) == max(L, d)


def test_a_block_missing_its_conv_branch_is_refused():
    model = build_classifier(preset("nano", max_len=L), seed=3)
    block = model.backbone.blocks[0]

    def attention_only(self, x, key_mask, hooks=None):
        h = self.norm(x)
        return self.lambdas()[0] * self.attention(h, key_mask)

    block.forward = types.MethodType(attention_only, block)
    with pytest.raises(ExportError, match=r"backbone.blocks.0 runs .*aten.conv1d 0 time"):
        lower_graph(build_ir(model, L), model, "embbert", "int8")


def test_every_compute_node_is_named_by_a_kernel_call(nano):
    from embbert_mcu.export.irmap import lambda_nodes

    ir = build_ir(nano, L)
    sched = lower_graph(ir, nano, "embbert", "int8")
    covered = [name for op in sched.flat_ops() for name in op.nodes]
    assert len(covered) == len(set(covered))  # no node is claimed twice
    layout = {"aten.transpose", "aten.unsqueeze", "aten.bitwise_not", "aten.dropout",
              "aten.arange"}  # views, the key mask, identity at inference
    prelude = {n.name for n in ir.nodes if n.module == "backbone"}  # segment ids, key mask
    rest = {n.name for n in ir.nodes if n.op not in layout} - prelude - lambda_nodes(ir)
    assert rest == set(covered)
    assert {"exp", "sum_1", "select", "select_1"} <= lambda_nodes(ir)
