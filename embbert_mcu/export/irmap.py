"""What the lowering accepts from the graph IR, and which IR nodes each kernel call implements.

Every IR node must belong to a module whose ops the lowering knows (``SUPPORTED``); each
group of modules (embedder, block, head) must hold exactly the ops its kernel calls implement
(``EXPECTED_OPS``), or a call would be missing; anything else is an ExportError naming the op
and the module. ``annotate`` names, on each call of a lowered schedule, the nodes it
implements, in graph order (the comments of the generated model.c).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..config import N_SEGMENTS
from ..errors import ExportError
from .graph import GraphIR
from .schedule import Stage

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
                     "kernel to firmware/runtime, the op to SUPPORTED in embbert_mcu/export/irmap.py "
                     "and a lowering rule to embbert_mcu/export/lower.py",
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


def check_segments(model: torch.nn.Module) -> None:
    # The inline segment rule in model.c (1 up to and including the first [SEP], 2 after)
    # mirrors model.segment_ids and indexes a table of exactly N_SEGMENTS rows.
    rows = model.backbone.embedder.seg.num_embeddings
    if rows != N_SEGMENTS:
        raise ExportError(f"the segment table has {rows} rows; the C rule needs {N_SEGMENTS}",
                          hint="use the segment layout of embbert_mcu.model")


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


def annotate(stages: list[Stage], ir: GraphIR) -> list[Stage]:
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
