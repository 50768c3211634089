"""Stage 2: lower the graph IR onto the C runtime's kernels.

The IR is first checked against what the kernels implement (irmap.py); its nodes, grouped by
module, then map onto row loops of kernel calls:

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

import torch

from ..errors import ExportError
from .graph import GraphIR
from .irmap import annotate, check_segments, check_structure, check_supported
from .schedule import Buffer, Loop, Op, Schedule, Stage
from .symbols import lambda_symbol, tensor_symbol

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

    def linear_args(self, module: str) -> tuple[str, str, tuple[int, ...]]:
        """A linear's weight symbol, bias argument ("NULL" without one) and (out, in) shape."""
        bias = self.sym(f"{module}.bias") if f"{module}.bias" in self.shapes else "NULL"
        return self.sym(f"{module}.weight"), bias, self.shapes[f"{module}.weight"]

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
    w, bias_arg, shape = b.linear_args(module)
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
    q, ctx, a1 = b.vec(p + "q", d, "d"), b.vec(p + "ctx", d, "d"), b.vec(p + "a1", d, "d")
    row = "" if b.integer_conv else b.vec(p + "convrow", d, "d")  # the float conv's taps
    c, a2 = b.vec(p + "c", width, "alpha*d"), b.vec(p + "a2", d, "d")
    scores = b.vec(p + "scores", cfg.max_len, "l")
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
        q_ops = [_linear_stored(b, m + ".q", ("(size_t)i",), (q,))]
    else:
        h2 = b.vec(p + "hrow", d, "d")
        q_ops = [Op(f"emb_act_load_row(&act_h, (uint32_t)i, {h2})", m, "load H (act)", reads=H,
                    writes=(h2,)), *_linear(b, m + ".q", h2, q)]
    return [
        *q_ops,
        attention,
        *_linear(b, m + ".out", ctx, a1),
        _conv(b, layer, row, c),
        _silu(b, layer, c),
        *_linear(b, m + ".contract", c, a2),
        _wdiff(b, layer, a1, a2),
    ]


def _silu(b: _Builder, layer: int, c: str) -> Op:
    width = b.cfg.d_model * b.cfg.conv_expansion
    return Op(f"emb_silu_f32({c}, {width}u)", f"backbone.blocks.{layer}", "aten.silu",
              reads=(c,), writes=(c,))


def _wdiff(b: _Builder, layer: int, a1: str, a2: str) -> Op:
    lam = lambda_symbol(b.prefix, layer)
    return Op(f"emb_wdiff_f32({lam}[0], {a1}, {lam}[1], {a2}, {b.cfg.d_model}u, {a1})",
              f"backbone.blocks.{layer}", "aten.mul/mul/sub (lambda1 * a1 - lambda2 * a2)",
              reads=(a1, a2), writes=(a1,))


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


def _linear_stored(b: _Builder, module: str, rows: tuple[str, ...], ys: tuple[str, ...]) -> Op:
    """The linear of one or two rows stored int8 in H (``rows``: their index expressions): the
    codes and scales as they are (the rule already made them), no float row and no second
    quantization; two rows go through emb_linear2_q8."""
    w, bias_arg, shape = b.linear_args(module)
    ins = ", ".join(f"act_h_q8 + {r} * {shape[1]}u, act_h_scales[{r}]" for r in rows)
    kernel = "emb_linear_q8" if len(rows) == 1 else "emb_linear2_q8"
    what = "aten.linear (input: the stored row)" if len(rows) == 1 else \
        "aten.linear (rows i and i + 1; input: the stored rows)"
    return Op(f"{kernel}(&{w}, {bias_arg}, {ins}, {', '.join(ys)})", module, what,
              reads=b.act_bufs("act_h"), writes=ys, status=True,
              macs=(len(rows) * shape[0] * shape[1], 0))


def _linear2(b: _Builder, module: str, xa: str, xb: str, ya: str, yb: str) -> list[Op]:
    """The linear of rows i and i + 1: both inputs quantized, then one pass over the weights."""
    w, bias_arg, shape = b.linear_args(module)
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
    rows2 = "(uint32_t)(i + 1u)"
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

    return [
        _linear_stored(b, m + ".q", ("(size_t)i", "(size_t)(i + 1u)"), (qa, qb)),
        Op(f"emb_attention_rows2_q8({qa}, {qb}, &act_h, (uint32_t)n, {scores}, {codes}, {sums}, "
           f"{ca}, {cb})", m, "aten.matmul/div/masked_fill/softmax/nan_to_num/matmul "
           "(fused rows i and i + 1, int8 MACs)", reads=(qa, qb) + H,
           writes=(ca, cb, scores, codes, sums), inplace=((ca, qa), (cb, qb)), macs=(0, 4 * d)),
        *_linear2(b, m + ".out", ca, cb, a1a, a1b),
        _conv(b, layer, rowa, ta), _silu(b, layer, ta),
        _conv(b, layer, rowb, tb, rows2), _silu(b, layer, tb),
        *_linear2(b, m + ".contract", ta, tb, a2a, a2b),
        _wdiff(b, layer, a1a, a2a), _wdiff(b, layer, a1b, a2b),
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
    b.schedule.stages = annotate(stages, ir)
    check_segments(model)
    return b.schedule
