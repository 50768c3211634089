"""The generated C: determinism, strict compiles (gcc and arm-none-eabi-gcc), host logits
against the simulated-quantized model, edge lengths and error statuses.

Tolerance (written policy): the C and the simulated model compute the same float32 ops in
different summation orders, so logits agree to LOGIT_TOL relative to the largest |logit| (at
least 1): float32 rounding grows with the values summed. An int8 activation that lands on a
rounding tie can flip by one step, which stays far below it on these tiny models. On the
integer MAC path every linear input, query and attention weight row is quantized, so such a
flip is far more frequent and the next layers carry it: LOGIT_TOL_INT there (measured on the
act-int8-mac-int8 model: 6.8e-3 with the largest |logit| 10.1, 6.7e-4 of it).
"""

import json
import shutil

import pytest
import torch

from embbert_mcu.checkpoint import load_checkpoint
from embbert_mcu.cli import main
from embbert_mcu.config import preset
from embbert_mcu.contract import CONTRACT
from embbert_mcu.errors import ExportError
from embbert_mcu.training.evaluate import predict_logits
from embbert_mcu.export.devckpt import dev_checkpoint
from embbert_mcu.export.exporter import export_checkpoint
from embbert_mcu.export.host import HostModel
from embbert_mcu.export.sizes import code_size
from embbert_mcu.quant import simulated_model
from embbert_mcu.model import EfficientEncoder

L = 32
LOGIT_TOL = 1e-4
LOGIT_TOL_INT = 1e-2


def _close(c: torch.Tensor, t: torch.Tensor, mac: str = "f32") -> bool:
    tol = LOGIT_TOL_INT if mac == "int8" else LOGIT_TOL
    return (c - t).abs().max().item() < tol * max(1.0, t.abs().max().item())
EMB_OK, EMB_ERR_LENGTH, EMB_ERR_TOKEN, EMB_ERR_ARENA = (
    CONTRACT.value(n) for n in ("EMB_OK", "EMB_ERR_LENGTH", "EMB_ERR_TOKEN", "EMB_ERR_ARENA"))


@pytest.fixture(scope="module")
def ckpt_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "nano.pt"
    dev_checkpoint(preset("nano", max_len=L), path, seed=7, n_test=24)
    return path


@pytest.fixture(scope="module", params=[("int8", "f32"), ("f32", "f32"), ("int8", "int8")],
                ids=["act-int8", "act-f32", "act-int8-mac-int8"])
def exported(request, ckpt_path, tmp_path_factory):
    act, mac = request.param
    out = tmp_path_factory.mktemp(f"exp_{act}_{mac}") / "model"
    if mac == "int8":  # a head spread over the features the integer path computes; k = 32 taps
        ckpt_path = tmp_path_factory.mktemp("ckpt_mac") / "nano.pt"  # = one block: integer conv
        dev_checkpoint(preset("nano", max_len=L, conv_kernel=32), ckpt_path, seed=7, n_test=24,
                       mac_dtype=mac)
    result = export_checkpoint(ckpt_path, out, act_dtype=act, mac_dtype=mac, onnx=False)
    return result, HostModel(out), ckpt_path


def _sim_logits(ckpt_path, act, ids, mac="f32"):
    """One sequence at a time, as the C runs: in a padded batch, float noise of ~1e-8 in the
    batched matmuls can move a stored int8 code by one step, which a random nano model carries
    to its logits (measured: one text of 24, 0.6 on a logit, C = unpadded simulation to 1e-6)."""
    sim = simulated_model(load_checkpoint(ckpt_path))
    sim.act_dtype, sim.mac_dtype = act, mac
    return predict_logits(sim, ids, batch_size=1)


def test_host_logits_match_simulated_model(exported):
    result, host, ckpt_path = exported
    rows = [json.loads(line) for line in (result.out_dir / "testset.jsonl").read_text().splitlines()]
    ids = [r["ids"] for r in rows]
    c = torch.tensor(host.run_many(ids))
    t = _sim_logits(ckpt_path, result.manifest.act_dtype, ids, result.manifest.mac_dtype)
    assert _close(c, t, result.manifest.mac_dtype)
    assert torch.equal(c.argmax(1), t.argmax(1))
    assert len(set(t.argmax(1).tolist())) > 1  # predictions vary: agreement can fail


def test_integer_path_runs_the_integer_conv(exported):
    result, _, _ = exported
    model_c = (result.out_dir / "src" / "embbert_model.c").read_text()
    integer = result.manifest.mac_dtype == "int8" and result.manifest.act_dtype == "int8"
    assert ("emb_conv1d_dw_causal_q8(" in model_c) == integer
    assert ("emb_conv1d_dw_causal_f32(" in model_c) != integer


def test_one_token_and_full_length(exported):
    result, host, ckpt_path = exported
    full = [2] + [7 + (13 * i) % 900 for i in range(L - 1)]
    pair = [2, 10, 11, 4, 12, 13, 4]  # [CLS] a [SEP] b [SEP]: segments 1 then 2
    for ids in ([2], full, pair):
        c = torch.tensor(host.run(ids))
        t = _sim_logits(ckpt_path, result.manifest.act_dtype, [ids],
                        result.manifest.mac_dtype)[0]
        assert _close(c, t, result.manifest.mac_dtype)


def test_bad_inputs_return_error_status(exported):
    result, host, ckpt_path = exported
    vocab = result.manifest.vocab_size
    assert host.status([2, 5]) == EMB_OK
    assert host.status([2, vocab]) == EMB_ERR_TOKEN
    assert host.status([2, 0, 5]) == EMB_ERR_TOKEN  # [PAD] is not a token of a real input
    assert host.status([]) == EMB_ERR_LENGTH
    assert host.status([2] * (L + 1)) == EMB_ERR_LENGTH
    small = HostModel(result.out_dir, arena_bytes=result.arena_bytes - 8)
    assert small.status([2, 5]) == EMB_ERR_ARENA
    with pytest.raises(ExportError, match="status 3"):
        host.run([2, vocab + 1])


def test_generated_c_compiles_for_cortex_m4f(exported):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    result, _, ckpt_path = exported
    sizes = code_size(result.out_dir, target="cortex-m4f")
    assert sizes["code_bytes"] > 0
    assert sizes["weights_object_bytes"] >= result.weights_bytes  # const data lands in flash


def test_two_exports_give_identical_bytes(ckpt_path, tmp_path):
    export_checkpoint(ckpt_path, tmp_path / "a", onnx=True)
    export_checkpoint(ckpt_path, tmp_path / "b", onnx=True)
    names = sorted(p.relative_to(tmp_path / "a").as_posix()
                   for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(tmp_path / "b").as_posix()
                           for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert {"src/embbert_model.c", "src/embbert_model.h", "src/embbert_weights.c",
            "src/embbert_tokenizer.c", "src/embbert_tokenizer.h", "src/embbert.h",
            "src/embbert_api.c", "src/emb_config.h", "model.onnx", "manifest.json",
            "testset.jsonl", "tokenizer.json", "library.json", "library.properties",
            "CMakeLists.txt", "examples/classify/main.c"} <= set(names)
    assert not {"model.c", "model.h", "weights.c"} & {n.split("/")[-1] for n in names}
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    text = (tmp_path / "a" / "src" / "embbert_model.c").read_text()
    assert "do not edit" in text and load_checkpoint(ckpt_path) is not None
    assert "/* backbone.blocks.1.q: aten.linear (input: the stored row) [linear_5] */" in text


def test_failed_export_leaves_previous_intact(ckpt_path, tmp_path, monkeypatch):
    out = tmp_path / "model"
    export_checkpoint(ckpt_path, out, onnx=False)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    monkeypatch.setattr(EfficientEncoder, "forward",
                        lambda self, x, m: torch.nn.functional.gelu(x))
    with pytest.raises(ExportError):
        export_checkpoint(ckpt_path, out, prefix="other", onnx=False)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temp dir left


def test_cli_verify_json(ckpt_path, tmp_path, capsys):
    main(["export", str(ckpt_path), "-o", str(tmp_path / "m"), "--verify", "--json",
          "--limit", "8", "--prefix", "tiny"])
    doc = json.loads(capsys.readouterr().out)  # stdout holds only JSON, even with ONNX on
    for key in ("agreement", "max_abs_logit_diff", "c_accuracy", "torch_accuracy",
                "arena_bytes", "weights_bytes", "macs_at_max_len"):
        assert key in doc
    assert doc["n"] == 8 and doc["agreement"] == 1.0
    header = (tmp_path / "m" / "src" / "tiny_model.h").read_text()
    assert f"#define TINY_ARENA_BYTES {doc['arena_bytes']}u" in header
    assert "tiny_run(" in header


def test_fp16_fallback_encodings_run_in_c(tmp_path):
    """Mixed (block-level fp16) linear weights and whole-tensor fp16 tables / conv."""
    from embbert_mcu.checkpoint import save_checkpoint
    from embbert_mcu.quant import QuantPolicy, decide, tensor_kinds

    ckpt = dev_checkpoint(preset("nano", max_len=L), tmp_path / "a.pt", seed=11, n_test=12)
    policy = QuantPolicy()
    decisions = decide(ckpt.state_dict, tensor_kinds(ckpt.model()), policy)
    decisions["backbone.blocks.0.q.weight"] = {"encoding": "mixed", "fallback_blocks": [0, 3, 5]}
    decisions["head.weight"] = {"encoding": "mixed", "fallback_blocks": [1]}
    for name in ("backbone.embedder.tok.weight", "backbone.blocks.1.conv.weight",
                 "backbone.blocks.0.contract.weight"):
        decisions[name] = {"encoding": "f16", "fallback_blocks": []}
    ckpt.quant = {"policy": policy.to_dict(), "tensors": decisions}
    save_checkpoint(ckpt, tmp_path / "b.pt")
    result = export_checkpoint(tmp_path / "b.pt", tmp_path / "m", onnx=False)
    weights = (result.out_dir / "src" / "embbert_weights.c").read_text()
    assert "EMB_QT_MIXED" in weights and "EMB_QT_F16" in weights
    block = policy.block
    whole = sum(ckpt.state_dict[name].numel() for name in
                ("backbone.embedder.tok.weight", "backbone.blocks.1.conv.weight",
                 "backbone.blocks.0.contract.weight"))
    assert result.quantized and result.fp16_weights >= whole + 4 * block
    ids = [json.loads(line)["ids"] for line in
           (result.out_dir / "testset.jsonl").read_text().splitlines()]
    c = torch.tensor(HostModel(result.out_dir).run_many(ids))
    mac = result.manifest.mac_dtype  # the default policy's path
    t = _sim_logits(tmp_path / "b.pt", "int8", ids, mac)
    assert _close(c, t, mac)


def test_export_of_a_float_checkpoint_with_fp16_blocks_says_how_to_make_them_int8(tmp_path, capsys):
    """A checkpoint `quantize` never saw is packed under the default policy, whose fp16
    fallback blocks run at float speed: export says so and names the command; a checkpoint
    quantized with --fallback none gets no note and has no fp16 weights."""
    from embbert_mcu.checkpoint import save_checkpoint
    from embbert_mcu.quant import QuantPolicy

    ckpt = dev_checkpoint(preset("nano", max_len=L), tmp_path / "a.pt", seed=11, n_test=4)
    ckpt.state_dict["backbone.blocks.0.q.weight"][0, 0] = 50.0  # one block int8 cannot hold
    ckpt.quant = None
    save_checkpoint(ckpt, tmp_path / "float.pt")
    main(["export", str(tmp_path / "float.pt"), "-o", str(tmp_path / "f"), "--no-onnx"])
    err = capsys.readouterr().err
    assert "is not quantized" in err and "quantize" in err and "--fallback none" in err

    ckpt.quant = {"policy": QuantPolicy(fallback="none").to_dict()}
    save_checkpoint(ckpt, tmp_path / "int8.pt")
    main(["export", str(tmp_path / "int8.pt"), "-o", str(tmp_path / "i"), "--no-onnx", "--json"])
    out = capsys.readouterr()
    assert json.loads(out.out)["fp16_weights"] == 0 and "not quantized" not in out.err


def test_low_agreement_is_a_verification_error():
    from embbert_mcu.errors import VerificationError
    from embbert_mcu.export.verify import VerifyReport, check_agreement

    report = VerifyReport(n=1000, act_dtype="int8", agreement=0.998, max_abs_logit_diff=0.5,
                          c_accuracy=0.8, torch_accuracy=0.8, float_accuracy=0.8,
                          first_logits_c=[], first_logits_torch=[], mean_len=20.0)
    with pytest.raises(VerificationError, match="99.80%"):
        check_agreement(report)
    check_agreement(VerifyReport(**{**report.to_dict(), "agreement": 0.999}))


HOOK_DRIVER = r"""
#include <stdio.h>
#include "embbert_model.h"
static uint64_t arena[(EMBBERT_ARENA_BYTES + 7u) / 8u];
static void record(void *ctx, unsigned stage) { (void)ctx; printf("%u %s\n", stage,
    stage < EMBBERT_N_STAGES ? embbert_stage_names[stage] : "end"); }
int main(void) {
    const uint16_t ids[3] = {2u, 10u, 11u};
    float logits[EMBBERT_N_CLASSES];
    return (int)embbert_run(arena, sizeof(arena), ids, 3u, logits, record, NULL);
}
"""


def test_stage_hook_is_called_per_stage_and_at_the_end(exported, tmp_path):
    import subprocess

    from embbert_mcu.ccompile import compile_c

    result, _, ckpt_path = exported
    driver = tmp_path / "hook_main.c"
    driver.write_text(HOOK_DRIVER)
    exe = compile_c(sorted((result.out_dir / "src").glob("*.c")) + [driver], tmp_path / "hook",
                    include_dirs=[result.out_dir / "src"])
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    stages = result.manifest.stages
    expected = [f"{i} {name}" for i, name in enumerate(stages)] + [f"{len(stages)} end"]
    assert proc.stdout.splitlines() == expected


def test_bad_prefix_is_a_usage_error(ckpt_path, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(ckpt_path), "-o", str(tmp_path / "m"), "--prefix", "Bad-Name"])
    assert exit_info.value.code == 2
    assert "error: prefix 'Bad-Name'" in capsys.readouterr().err


def test_stage_outputs_match_simulated_x(exported):
    from embbert_mcu.export.stages import simulated_stage_outputs, stage_diffs

    result, host, ckpt_path = exported
    sim = simulated_model(load_checkpoint(ckpt_path))
    sim.act_dtype, sim.mac_dtype = result.manifest.act_dtype, result.manifest.mac_dtype
    ids = [2, 40, 41, 4, 42, 43, 44]
    c_out = host.stage_outputs(ids)
    assert sorted(c_out) == [1, 2]  # X at the start of block0 and block1 (nano: 2 blocks)
    t_out = simulated_stage_outputs(sim, ids)
    for stage in (1, 2):
        assert c_out[stage].shape == t_out[stage].shape == (len(ids), result.manifest.d_model)
        tol = 1e-5 if result.manifest.mac_dtype == "f32" else 1e-2 * abs(t_out[stage]).max()
        assert abs(c_out[stage] - t_out[stage]).max() < tol
    assert [r["after"] for r in stage_diffs(host, sim, ids)] == ["embed", "block0"]


def test_the_integer_mac_path_calls_the_integer_kernels(exported):
    result, _, ckpt_path = exported
    code = next(result.out_dir.rglob("*_model.c")).read_text()
    n_linears = 2 + 3 * load_checkpoint(ckpt_path).config.n_layers + 1
    if result.manifest.mac_dtype == "int8":
        n_layers = load_checkpoint(ckpt_path).config.n_layers
        # one-row loops: every linear; the pairs loops of all blocks but the last: 3 pair calls
        assert code.count("emb_linear_q8(") == n_linears and "emb_linear_f32(" not in code
        assert code.count("emb_linear2_q8(") == 3 * (n_layers - 1)
        # every input quantized once, but q's: H's stored rows (codes and scale) as they are
        assert code.count("emb_quantize_row_q8(") == n_linears - n_layers + 4 * (n_layers - 1)
        assert code.count("act_h_q8 + ") == n_layers + 2 * (n_layers - 1)
        assert "emb_attention_row_q8(" in code and "emb_attention_row_f32(" not in code
    else:
        assert code.count("emb_linear_f32(") == n_linears and "emb_linear_q8(" not in code


def test_h_columns_change_the_arena_not_the_logits(exported, tmp_path):
    """--no-h-columns: the weighted sum reads H's rows instead of its transposed copy; the
    integer sums are the same, so the logits are the same bits, in d x l fewer arena bytes."""
    result, host, ckpt_path = exported
    if result.manifest.mac_dtype != "int8":
        pytest.skip("the columns exist on the integer path only")
    rows = export_checkpoint(ckpt_path, tmp_path / "rows", onnx=False, h_columns=False)
    cfg = load_checkpoint(ckpt_path).config
    assert result.arena_bytes - rows.arena_bytes == cfg.d_model * cfg.max_len
    assert "act_h_t8" in (result.out_dir / "src" / "embbert_model.c").read_text()
    assert "act_h_t8" not in (rows.out_dir / "src" / "embbert_model.c").read_text()
    ids = [json.loads(line)["ids"]
           for line in (result.out_dir / "testset.jsonl").read_text().splitlines()]
    assert HostModel(rows.out_dir).run_many(ids) == host.run_many(ids)
