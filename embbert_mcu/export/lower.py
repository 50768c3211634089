"""Stage 2: lower the graph IR onto the C runtime's kernels.

Every IR node must belong to a module whose ops the lowering knows (``SUPPORTED``); anything
else is an ExportError naming the op and the module. The IR's nodes, grouped by module, then
map onto row loops of kernel calls:

- embed: for each of the n rows, gather + project the token and position rows, add the
  segment row, store the row into X;
- block b: pass 1 stores H = RMSNorm(X) for all n rows; pass 2 computes each output row from
  H (fused streaming attention with K = V = H, causal conv over H, weighted difference) and
  stores it into X; the last block computes row 0 only, the one the head reads;
- head: logits = W x0 + b.

Every linear runs either in float (``mac_dtype`` "f32": emb_linear_f32, float input times the
dequantized weights) or in integers ("int8": the input row quantized once by the activation
rule into a shared code buffer, then emb_linear_q8: int8 x int8 products summed in int32 per
weight block, one scale per block). On the integer path attention runs on the int8 H rows, and
when the conv weights are whole int8 tap blocks the conv runs on integers too: between the two
passes one statement takes the sequence's int16 window scale and clears a ring of k rows
(emb_conv_q16_begin); the ring lives across pass 2 (emb_conv1d_dw_causal_q8).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..config import N_SEGMENTS
from ..errors import ExportError
from .graph import GraphIR
from .schedule import Buffer, Loop, Op, Schedule, Stage
from .symbols import lambda_symbol, tensor_symbol

# module class -> aten ops the lowering implements for nodes owned by that module.
SUPPORTED: dict[str, frozenset[str]] = {
    "EmbBertForClassification": frozenset({"aten.select", "aten.slice"}),
    # segment ids and the key mask, computed inline from the ids in C
    "EmbBERT": frozenset({"aten.eq", "aten._assert_tensor_metadata", "aten.to", "aten.cumsum",
                          "aten.sub", "aten.gt", "aten.where", "aten.ne"}),
    "NanoEmbedder": frozenset({"aten.arange", "aten.add"}),
    "Embedding": frozenset({"aten.embedding"}),
    "Linear": frozenset({"aten.linear"}),
    "RMSNorm": frozenset({"aten.rms_norm"}),
    "Dropout": frozenset({"aten.dropout"}),  # identity at inference
    "Conv1d": frozenset({"aten.conv1d"}),
    "EfficientEncoder": frozenset({
        "aten.mul", "aten.sum", "aten.exp", "aten.select",  # lambdas, folded at export
        "aten.transpose", "aten.matmul", "aten.div", "aten.unsqueeze", "aten.bitwise_not",
        "aten.masked_fill", "aten.softmax", "aten.nan_to_num",  # fused attention row
        "aten.slice", "aten.silu", "aten.sub",  # causal conv, SiLU, weighted difference
    }),
}
ROOT_TYPE = "EmbBertForClassification"
# The ops that carry the computation, per group of modules: the graph must contain exactly
# these, or a kernel call would be missing (e.g. a forward that skips the conv branch).
EXPECTED_OPS: dict[str, dict[str, int]] = {
    "embedder": {"aten.embedding": 3, "aten.linear": 2, "aten.add": 2},
    "block": {"aten.rms_norm": 1, "aten.linear": 3, "aten.matmul": 2, "aten.softmax": 1,
              "aten.conv1d": 1, "aten.silu": 1, "aten.exp": 1, "aten.sub": 1},
    "head": {"aten.linear": 1},
}
BLOCK_LINEARS = ("q", "out", "contract")


def check_supported(ir: GraphIR) -> None:
    """Raise ExportError for the first node the C kernels cannot run."""
    for node in ir.nodes:
        owner = node.module_type or ir.modules.get("", "")
        allowed = SUPPORTED.get(owner)
        if allowed is None or node.op not in allowed:
            where = node.module or "<root>"
            raise ExportError(
                f"cannot lower op {node.op} (node {node.name}) in module {where} "
                f"({owner or 'root'}): no C kernel implements it there",
                hint="the C runtime implements EmbBERT's ops only; remove the op or add a "
                     "kernel to firmware/runtime and a lowering rule to embbert_mcu/export/lower.py",
            )
    if ir.modules.get("") != ROOT_TYPE:
        raise ExportError(f"cannot export a {ir.modules.get('')}: only {ROOT_TYPE} is lowered",
                          hint="export a fine-tuned classifier checkpoint")


def _check_group(ir: GraphIR, prefix: str, kind: str, linears: tuple[str, ...]) -> None:
    nodes = ir.by_module(prefix)
    wrong = []
    for op, count in EXPECTED_OPS[kind].items():
        found = sum(1 for n in nodes if n.op == op)
        if found != count:
            wrong.append(f"{op} {found} time(s) (expected {count})")
    if wrong:
        raise ExportError(f"module {prefix} runs " + ", ".join(wrong),
                          hint="the exporter lowers EmbBERT's forward as embbert_mcu.model defines it")
    order = tuple(n.module for n in nodes if n.op == "aten.linear")
    if order != linears:
        raise ExportError(f"module {prefix} applies its linears as {order}, expected {linears}",
                          hint="the exporter lowers EmbBERT's forward as embbert_mcu.model defines it")


def check_structure(ir: GraphIR, n_layers: int) -> None:
    """Every block, the embedder and the head hold the ops their kernel calls implement."""
    emb = "backbone.embedder"
    _check_group(ir, emb, "embedder", (f"{emb}.tok_proj", f"{emb}.pos_proj"))
    for i in range(n_layers):
        m = f"backbone.blocks.{i}"
        _check_group(ir, m, "block", tuple(f"{m}.{name}" for name in BLOCK_LINEARS))
    _check_group(ir, "head", "head", ("head",))


class _Builder:
    """Collects buffers and ops while the stages are laid out."""

    def __init__(self, model: torch.nn.Module, prefix: str, act_dtype: str, mac_dtype: str,
                 conv_q8: bool = False):
        self.cfg, self.prefix, self.act_dtype = model.cfg, prefix, act_dtype
        self.mac_dtype = mac_dtype
        # the conv on integers: int8 H rows, integer MACs, conv weights in whole int8 tap blocks
        self.integer_conv = conv_q8 and act_dtype == "int8" and mac_dtype == "int8"
        self.shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        self.schedule = Schedule(act_dtype=act_dtype)
        if mac_dtype == "int8":  # one linear's input codes and scale at a time
            widest = max(s[1] for k, s in self.shapes.items()
                         if k.endswith(".weight") and len(s) == 2 and not _is_table(k))
            self.schedule.buffers["mac_codes"] = Buffer("mac_codes", "int8_t", widest,
                                                        f"(widest linear input,) = ({widest},)")
            self.schedule.buffers["mac_scale"] = Buffer("mac_scale", "float", 1, "(1,)")
        self.last_row = ""  # the float row the head reads, set by the last block

    def sym(self, key: str) -> str:
        return tensor_symbol(self.prefix, key)

    def vec(self, name: str, count: int, what: str) -> str:
        self.schedule.buffers[name] = Buffer(name, "float", count, f"({what},) = ({count},)")
        return name

    def act(self, name: str, transposed: bool = False) -> str:
        """An l x d activation buffer, int8 rows + row scales or float rows; ``transposed``:
        int8 rows also keep their codes as (d, l) columns, for a sum over rows (the
        attention's weighted sum on the integer path reads H that way)."""
        l, d = self.cfg.max_len, self.cfg.d_model
        b = self.schedule.buffers
        if self.act_dtype == "int8":
            b[f"{name}_q8"] = Buffer(f"{name}_q8", "int8_t", l * d, f"(l, d) = ({l}, {d})")
            b[f"{name}_scales"] = Buffer(f"{name}_scales", "float", l, f"(l,) = ({l},)")
            self.schedule.acts[name] = {"q8": f"{name}_q8", "scales": f"{name}_scales"}
            if transposed:
                b[f"{name}_t8"] = Buffer(f"{name}_t8", "int8_t", d * l, f"(d, l) = ({d}, {l})")
                self.schedule.acts[name]["t8"] = f"{name}_t8"
        else:
            b[f"{name}_f32"] = Buffer(f"{name}_f32", "float", l * d, f"(l, d) = ({l}, {d})")
            self.schedule.acts[name] = {"f32": f"{name}_f32"}
        return name

    def act_bufs(self, name: str) -> tuple[str, ...]:
        return tuple(self.schedule.acts[name].values())


def _is_table(key: str) -> bool:
    """Embedding tables are (rows, width) too, but gathered, not multiplied."""
    return key.rsplit(".", 2)[-2] in ("tok", "pos", "seg")


def _linear(b: _Builder, module: str, x: str, y: str) -> list[Op]:
    w = b.sym(f"{module}.weight")
    bias_arg = b.sym(f"{module}.bias") if f"{module}.bias" in b.shapes else "NULL"
    shape = b.shapes[f"{module}.weight"]  # (out, in)
    macs = (shape[0] * shape[1], 0)
    if b.mac_dtype != "int8":
        return [Op(f"emb_linear_f32(&{w}, {bias_arg}, {x}, {y})", module, "aten.linear",
                   reads=(x,), writes=(y,), status=True, macs=macs)]
    return [
        Op(f"mac_scale[0] = emb_quantize_row_q8({x}, {shape[1]}u, mac_codes)", module,
           "quantize the input row (int8 MACs)", reads=(x,), writes=("mac_codes", "mac_scale")),
        Op(f"emb_linear_q8(&{w}, {bias_arg}, mac_codes, mac_scale[0], {y})", module,
           "aten.linear", reads=("mac_codes", "mac_scale"), writes=(y,), status=True, macs=macs),
    ]


def _embed_stage(b: _Builder) -> Stage:
    cfg, m = b.cfg, "backbone.embedder"
    rd, d = cfg.d_embed, cfg.d_model
    e, x, t = b.vec("emb_e", rd, "rd"), b.vec("emb_x", d, "d"), b.vec("emb_t", d, "d")
    ops = [
        Op("seg = emb_segment_u16(ids[i], &after_sep)", "backbone", "segment_ids"),
        Op(f"emb_gather_row_f32(&{b.sym(m + '.tok.weight')}, ids[i], {e})", m + ".tok",
           "aten.embedding", writes=(e,), status=True),
        *_linear(b, m + ".tok_proj", e, x),
        Op(f"emb_gather_row_f32(&{b.sym(m + '.pos.weight')}, (uint32_t)i, {e})", m + ".pos",
           "aten.embedding", writes=(e,), status=True),
        *_linear(b, m + ".pos_proj", e, t),
        Op(f"emb_add_f32({x}, {t}, {d}u)", m, "aten.add", reads=(x, t), writes=(x,)),
        Op(f"emb_gather_row_f32(&{b.sym(m + '.seg.weight')}, seg, {t})", m + ".seg",
           "aten.embedding", writes=(t,), status=True),
        Op(f"emb_add_f32({x}, {t}, {d}u)", m, "aten.add", reads=(x, t), writes=(x,)),
        Op(f"emb_act_store_row(&act_x, (uint32_t)i, {x})", m, "store X (act)",
           reads=(x,), writes=b.act_bufs("act_x")),
    ]
    return Stage("embed", m, (Loop("n", tuple(ops), "X[i] = tok + pos + seg"),))


def _norm_loop(b: _Builder, layer: int, eps: float) -> Loop:
    """H[i] = RMSNorm(X[i]) for every row: attention and conv read all of H afterwards."""
    m, d = f"backbone.blocks.{layer}", b.cfg.d_model
    xr, hr = b.vec(f"b{layer}_x", d, "d"), b.vec(f"b{layer}_h", d, "d")
    return Loop("n", (
        Op(f"emb_act_load_row(&act_x, (uint32_t)i, {xr})", m, "load X (act)",
           reads=b.act_bufs("act_x"), writes=(xr,)),
        Op(f"emb_rmsnorm_f32({xr}, {b.sym(m + '.norm.weight')}, {d}u, {eps!r}f, {hr})",
           m + ".norm", "aten.rms_norm", reads=(xr,), writes=(hr,), inplace=((hr, xr),)),
        Op(f"emb_act_store_row(&act_h, (uint32_t)i, {hr})", m + ".norm", "store H (act)",
           reads=(hr,), writes=b.act_bufs("act_h")),
    ), "H = RMSNorm(X)")


def conv_ring_len(k: int, d: int) -> int:
    """int16 values of the integer conv's ring: EMB_CONV_RING_LEN(k, d) of emb_runtime.h."""
    return (k + 4) * d


def _conv_begin_loop(b: _Builder, layer: int) -> Loop:
    """The integer conv's window scale over all of H, and its ring of k int16 rows cleared:
    one statement between the H loop and the row loop (the ring lives across the row loop)."""
    m, cfg = f"backbone.blocks.{layer}", b.cfg
    ring = f"b{layer}_conv_ring"
    count = conv_ring_len(cfg.conv_kernel, cfg.d_model)
    b.schedule.buffers[ring] = Buffer(ring, "int16_t", count,
                                      f"(d, k + 4) = ({cfg.d_model}, {cfg.conv_kernel + 4})")
    b.schedule.buffers["conv_hs"] = Buffer("conv_hs", "float", 1, "(1,)")
    return Loop("1", (
        Op(f"conv_hs[0] = emb_conv_q16_begin(&act_h, (uint32_t)n, {ring}, {count}u)", m + ".conv",
           "int16 window scale of H, ring cleared (integer conv)", reads=b.act_bufs("act_h"),
           writes=("conv_hs", ring)),
    ), "the integer conv's window scale")


def _row_ops(b: _Builder, layer: int) -> list[Op]:
    """Output row i from H: streaming attention row, causal conv row, weighted difference."""
    cfg, m, p = b.cfg, f"backbone.blocks.{layer}", f"b{layer}_"
    d, width, H = cfg.d_model, cfg.d_model * cfg.conv_expansion, b.act_bufs("act_h")
    h2, q, ctx = b.vec(p + "hrow", d, "d"), b.vec(p + "q", d, "d"), b.vec(p + "ctx", d, "d")
    a1 = b.vec(p + "a1", d, "d")
    row = "" if b.integer_conv else b.vec(p + "convrow", d, "d")  # the float conv's taps
    c, a2 = b.vec(p + "c", width, "alpha*d"), b.vec(p + "a2", d, "d")
    scores, lam = b.vec(p + "scores", cfg.max_len, "l"), lambda_symbol(b.prefix, layer)
    if b.mac_dtype == "int8":  # integer scores and weighted sum (float kv rows: the float row)
        width_nd = max(cfg.max_len, d)
        codes = p + "att_codes"
        b.schedule.buffers[codes] = Buffer(codes, "int8_t", width_nd, f"(max(l, d),) = ({width_nd},)")
        sums = p + "att_sums"
        b.schedule.buffers[sums] = Buffer(sums, "int32_t", width_nd, f"(max(l, d),) = ({width_nd},)")
        attention = Op(f"emb_attention_row_q8({q}, &act_h, (uint32_t)n, {scores}, {codes}, {sums}, "
                       f"{ctx})", m, "aten.matmul/div/masked_fill/softmax/nan_to_num/matmul "
                       "(fused row, int8 MACs)", reads=(q,) + H,
                       writes=(ctx, scores, codes, sums), macs=(0, 2 * d))
    else:
        attention = Op(f"emb_attention_row_f32({q}, &act_h, (uint32_t)n, {scores}, {ctx})", m,
                       "aten.matmul/div/masked_fill/softmax/nan_to_num/matmul (fused row)",
                       reads=(q,) + H, writes=(ctx, scores), macs=(0, 2 * d))
    if b.mac_dtype == "int8" and b.act_dtype == "int8":  # q's input: H's stored row as it is
        q_ops = [_linear_stored(b, m + ".q", "act_h", "(size_t)i", q)]
        b.schedule.buffers.pop(h2)
    else:
        q_ops = [Op(f"emb_act_load_row(&act_h, (uint32_t)i, {h2})", m, "load H (act)", reads=H,
                    writes=(h2,)), *_linear(b, m + ".q", h2, q)]
    return [
        *q_ops,
        attention,
        *_linear(b, m + ".out", ctx, a1),
        _conv(b, layer, row, c),
        Op(f"emb_silu_f32({c}, {width}u)", m, "aten.silu", reads=(c,), writes=(c,)),
        *_linear(b, m + ".contract", c, a2),
        Op(f"emb_wdiff_f32({lam}[0], {a1}, {lam}[1], {a2}, {d}u, {a1})", m,
           "aten.mul/mul/sub (lambda1 * a1 - lambda2 * a2)", reads=(a1, a2), writes=(a1,)),
    ]


def _conv(b: _Builder, layer: int, row: str, c: str, t: str = "(uint32_t)i") -> Op:
    cfg, m = b.cfg, f"backbone.blocks.{layer}"
    w, bias = b.sym(m + ".conv.weight"), b.sym(m + ".conv.bias")
    macs = (cfg.d_model * cfg.conv_expansion * cfg.conv_kernel, 0)
    if b.integer_conv:
        ring = f"b{layer}_conv_ring"
        return Op(f"emb_conv1d_dw_causal_q8(&{w}, {bias}, &act_h, {t}, conv_hs[0], {ring}, "
                  f"{c})", m + ".conv", "aten.conv1d/slice (causal, int8 x int16 MACs)",
                  reads=b.act_bufs("act_h") + ("conv_hs", ring), writes=(ring, c), status=True,
                  macs=macs)
    return Op(f"emb_conv1d_dw_causal_f32(&{w}, {bias}, &act_h, {t}, "
              f"{cfg.conv_expansion}u, {row}, {c})", m + ".conv", "aten.conv1d/slice (causal)",
              reads=b.act_bufs("act_h"), writes=(row, c), status=True, macs=macs)


def _linear_stored(b: _Builder, module: str, act: str, row: str, y: str) -> Op:
    """The linear of a row stored int8 in ``act``: its codes and scale as they are (the rule
    already made them), no float row and no second quantization."""
    w = b.sym(f"{module}.weight")
    bias_arg = b.sym(f"{module}.bias") if f"{module}.bias" in b.shapes else "NULL"
    shape = b.shapes[f"{module}.weight"]
    return Op(f"emb_linear_q8(&{w}, {bias_arg}, {act}_q8 + {row} * {shape[1]}u, "
              f"{act}_scales[{row}], {y})", module, "aten.linear (input: the stored row)",
              reads=b.act_bufs(act), writes=(y,), status=True, macs=(shape[0] * shape[1], 0))


def _linear2(b: _Builder, module: str, xa: str, xb: str, ya: str, yb: str) -> list[Op]:
    """The linear of rows i and i + 1: both inputs quantized, then one pass over the weights."""
    w = b.sym(f"{module}.weight")
    bias_arg = b.sym(f"{module}.bias") if f"{module}.bias" in b.shapes else "NULL"
    shape = b.shapes[f"{module}.weight"]  # (out, in)
    return [
        Op(f"mac_scale[0] = emb_quantize_row_q8({xa}, {shape[1]}u, mac_codes)", module,
           "quantize the input row (int8 MACs)", reads=(xa,), writes=("mac_codes", "mac_scale")),
        Op(f"mac_scale_b[0] = emb_quantize_row_q8({xb}, {shape[1]}u, mac_codes_b)", module,
           "quantize row i + 1's input (int8 MACs)", reads=(xb,),
           writes=("mac_codes_b", "mac_scale_b")),
        Op(f"emb_linear2_q8(&{w}, {bias_arg}, mac_codes, mac_scale[0], mac_codes_b, "
           f"mac_scale_b[0], {ya}, {yb})", module, "aten.linear (rows i and i + 1)",
           reads=("mac_codes", "mac_scale", "mac_codes_b", "mac_scale_b"), writes=(ya, yb),
           status=True, macs=(2 * shape[0] * shape[1], 0)),
    ]


def _pair_ops(b: _Builder, layer: int) -> list[Op]:
    """Rows i and i + 1 from H (the integer MAC path): the linears and the attention take both
    rows in one pass over their weights (or H), the conv and the element-wise ops one row after
    the other; the same arithmetic per row as _row_ops."""
    cfg, m, p = b.cfg, f"backbone.blocks.{layer}", f"b{layer}_"
    d, width, H = cfg.d_model, cfg.d_model * cfg.conv_expansion, b.act_bufs("act_h")
    lam, rows2 = lambda_symbol(b.prefix, layer), "(uint32_t)(i + 1u)"
    # rows i and i + 1 have their own scratch (…_a, …_b), apart from the odd row's: a buffer
    # shared with the loop after would stay alive across both loops
    qa, qb = b.vec(p + "q_a", d, "d"), b.vec(p + "q_b", d, "d")
    ca, cb = b.vec(p + "ctx_a", d, "d"), b.vec(p + "ctx_b", d, "d")
    a1a, a1b = b.vec(p + "a1_a", d, "d"), b.vec(p + "a1_b", d, "d")
    ta, tb = b.vec(p + "c_a", width, "alpha*d"), b.vec(p + "c_b", width, "alpha*d")
    a2a, a2b = b.vec(p + "a2_a", d, "d"), b.vec(p + "a2_b", d, "d")
    rowa = "" if b.integer_conv else b.vec(p + "convrow_a", d, "d")
    rowb = "" if b.integer_conv else b.vec(p + "convrow_b", d, "d")
    width_nd = max(cfg.max_len, d)
    scores = b.vec(p + "scores", cfg.max_len, "l")  # the two rows' scores one after the other
    codes, sums = p + "att_codes_2", p + "att_sums_2"
    b.schedule.buffers[codes] = Buffer(codes, "int8_t", 2 * width_nd,
                                       f"(2 max(l, d),) = ({2 * width_nd},)")
    b.schedule.buffers[sums] = Buffer(sums, "int32_t", 2 * width_nd,
                                      f"(2 max(l, d),) = ({2 * width_nd},)")
    widest = b.schedule.buffers["mac_codes"].count
    b.schedule.buffers["mac_codes_b"] = Buffer("mac_codes_b", "int8_t", widest,
                                               f"(widest linear input,) = ({widest},)")
    b.schedule.buffers["mac_scale_b"] = Buffer("mac_scale_b", "float", 1, "(1,)")

    def wdiff(a1: str, a2: str) -> Op:
        return Op(f"emb_wdiff_f32({lam}[0], {a1}, {lam}[1], {a2}, {d}u, {a1})", m,
                  "aten.mul/mul/sub (lambda1 * a1 - lambda2 * a2)", reads=(a1, a2), writes=(a1,))

    def silu(c: str) -> Op:
        return Op(f"emb_silu_f32({c}, {width}u)", m, "aten.silu", reads=(c,), writes=(c,))

    wq = b.sym(m + ".q.weight")
    bq = b.sym(m + ".q.bias") if m + ".q.bias" in b.shapes else "NULL"
    return [
        # q's inputs: H's stored rows i and i + 1 as they are
        Op(f"emb_linear2_q8(&{wq}, {bq}, act_h_q8 + (size_t)i * {d}u, act_h_scales[i], "
           f"act_h_q8 + (size_t)(i + 1u) * {d}u, act_h_scales[i + 1u], {qa}, {qb})", m + ".q",
           "aten.linear (rows i and i + 1; input: the stored rows)", reads=H, writes=(qa, qb),
           status=True, macs=(2 * d * d, 0)),
        Op(f"emb_attention_rows2_q8({qa}, {qb}, &act_h, (uint32_t)n, {scores}, {codes}, {sums}, "
           f"{ca}, {cb})", m, "aten.matmul/div/masked_fill/softmax/nan_to_num/matmul "
           "(fused rows i and i + 1, int8 MACs)", reads=(qa, qb) + H,
           writes=(ca, cb, scores, codes, sums), inplace=((ca, qa), (cb, qb)), macs=(0, 4 * d)),
        *_linear2(b, m + ".out", ca, cb, a1a, a1b),
        _conv(b, layer, rowa, ta), silu(ta),
        _conv(b, layer, rowb, tb, rows2), silu(tb),
        *_linear2(b, m + ".contract", ta, tb, a2a, a2b),
        wdiff(a1a, a2a), wdiff(a1b, a2b),
        Op(f"emb_act_store_row(&act_x, (uint32_t)i, {a1a})", m, "store X (act)",
           reads=(a1a,), writes=b.act_bufs("act_x")),
        Op(f"emb_act_store_row(&act_x, {rows2}, {a1b})", m, "store X row i + 1 (act)",
           reads=(a1b,), writes=b.act_bufs("act_x")),
    ]


def _block_stage(b: _Builder, layer: int, eps: float) -> Stage:
    m, rows = f"backbone.blocks.{layer}", _row_ops(b, layer)
    out = f"b{layer}_a1"
    row_loops: tuple[Loop, ...]
    if layer == b.cfg.n_layers - 1:
        b.last_row = out  # the head reads row 0 in float32, not stored
        row_loops = (Loop("1", tuple(rows), "last block: row 0 only (the head reads it)"),)
    else:
        rows.append(Op(f"emb_act_store_row(&act_x, (uint32_t)i, {out})", m, "store X (act)",
                       reads=(out,), writes=b.act_bufs("act_x")))
        what = "X[i] = lambda1 * attn(H)[i] - lambda2 * conv(H)[i]"
        if b.mac_dtype == "int8" and b.act_dtype == "int8":  # two rows a trip, then an odd last
            row_loops = (Loop("n", tuple(_pair_ops(b, layer)), what + ", rows i and i + 1",
                              kind="pairs"),
                         Loop("n", tuple(rows), "the last row when n is odd", kind="odd"))
        else:
            row_loops = (Loop("n", tuple(rows), what),)
    if b.integer_conv:
        return Stage(f"block{layer}", m,
                     (_norm_loop(b, layer, eps), _conv_begin_loop(b, layer), *row_loops))
    return Stage(f"block{layer}", m, (_norm_loop(b, layer, eps), *row_loops))


def _head_stage(b: _Builder) -> Stage:
    ops = _linear(b, "head", b.last_row, "logits")
    last = ops[-1]
    ops[-1] = Op(last.code, last.module, "aten.select/linear (first-token pooling)",
                 reads=last.reads, status=True, macs=last.macs)
    return Stage("head", "head", (Loop("1", tuple(ops), "logits = W x0 + b"),))


def lambda_nodes(ir: GraphIR) -> set[str]:
    """The nodes computing lambda_i = exp(<lq_i, lk_i>) and selecting them: folded at export."""
    by_name = {n.name: n for n in ir.nodes}
    folded: set[str] = set()
    for node in ir.nodes:
        if node.op != "aten.exp":
            continue
        stack = [node.name]
        while stack:  # the exp and what feeds it inside the block (mul, sum)
            name = stack.pop()
            if name in by_name and name not in folded and by_name[name].module == node.module:
                folded.add(name)
                stack.extend(by_name[name].inputs)
        folded |= {n.name for n in ir.nodes if node.name in n.inputs and n.op == "aten.select"}
    return folded


def _take(free: dict, module: str, op: str) -> str | None:
    """The first unassigned node ``op`` of ``module`` or of the nearest module above it."""
    while True:
        names = free.get((module, op))
        if names:
            return names.pop(0)
        if not module:
            return None
        module = module.rsplit(".", 1)[0] if "." in module else ""


def _annotate(stages: list[Stage], ir: GraphIR) -> list[Stage]:
    """Name, on each kernel call, the IR nodes it implements (in graph order)."""
    folded = lambda_nodes(ir)
    free: dict[tuple[str, str], list[str]] = {}
    for node in ir.nodes:
        if node.name not in folded:
            free.setdefault((node.module, node.op), []).append(node.name)
    out = []
    for stage in stages:
        loops = []
        for loop in stage.loops:
            if loop.kind == "pairs":  # named after the one-row loop that follows it
                loops.append(loop)
                continue
            ops = []
            for op in loop.ops:
                names = [_take(free, op.module, a) for a in op.aten_ops]
                ops.append(replace(op, nodes=tuple(n for n in names if n)))
            loops.append(replace(loop, ops=tuple(ops)))
        named = {(op.module, tuple(op.aten_ops)): op.nodes for loop in loops for op in loop.ops
                 if loop.kind == "odd"}
        loops = [replace(loop, ops=tuple(replace(op, nodes=named.get(
                     (op.module, tuple(op.aten_ops)), ())) for op in loop.ops))
                 if loop.kind == "pairs" else loop for loop in loops]
        out.append(replace(stage, loops=tuple(loops)))
    return out


def rmsnorm_eps(model: torch.nn.Module) -> float:
    """The float32 eps every block's RMSNorm uses (torch's default is float32 eps)."""
    eps = {blk.norm.eps for blk in model.backbone.blocks}
    if len(eps) != 1:
        raise ExportError("blocks use different RMSNorm eps values", hint="use one eps")
    value = eps.pop()
    return float(torch.finfo(torch.float32).eps if value is None else value)


def lower_graph(ir: GraphIR, model: torch.nn.Module, prefix: str, act_dtype: str,
                mac_dtype: str = "f32", conv_q8: bool = False, h_columns: bool = True) -> Schedule:
    """IR -> schedule of kernel calls (see the module doc); ``h_columns``: on the integer path
    H keeps its codes as (d, l) columns too, which the attention's weighted sum reads."""
    check_supported(ir)
    cfg = model.cfg
    check_structure(ir, cfg.n_layers)
    if cfg.max_len != ir.max_len:
        raise ExportError(f"graph traced at l={ir.max_len}, config says {cfg.max_len}")
    b = _Builder(model, prefix, act_dtype, mac_dtype, conv_q8)
    b.act("act_x")
    b.act("act_h", transposed=h_columns and mac_dtype == "int8")
    eps = rmsnorm_eps(model)
    stages = [_embed_stage(b)] + [_block_stage(b, i, eps) for i in range(cfg.n_layers)]
    stages.append(_head_stage(b))
    b.schedule.stages = _annotate(stages, ir)
    _check_segments(model)
    return b.schedule


def _check_segments(model: torch.nn.Module) -> None:
    # The inline segment rule in model.c (1 up to and including the first [SEP], 2 after)
    # mirrors model.segment_ids and indexes a table of exactly N_SEGMENTS rows.
    rows = model.backbone.embedder.seg.num_embeddings
    if rows != N_SEGMENTS:
        raise ExportError(f"the segment table has {rows} rows; the C rule needs {N_SEGMENTS}",
                          hint="use the segment layout of embbert_mcu.model")
