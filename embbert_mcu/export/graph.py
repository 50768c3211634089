"""Stage 1: walk the classifier's graph (torch.export at a fixed (1, l) input) into a small IR.

The IR is an ordered tuple of nodes with stable names (torch.export's, deterministic for a
given model), shapes, dtypes and the PyTorch module each came from (the innermost entry of
``nn_module_stack``). Parameters are not copied: the lowering reads them from the checkpoint
by module path.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ExportError


@dataclass(frozen=True)
class Node:
    name: str  # torch.export node name, e.g. "linear_2"
    op: str  # "aten.linear" (overload dropped)
    inputs: tuple[str, ...]  # names of the nodes / placeholders it reads
    shape: tuple[int, ...]  # shape of its (first) output; () for scalars
    dtype: str  # "float32", "int64", "bool"
    module: str  # module path, e.g. "backbone.blocks.0.q"; "" for the root
    module_type: str  # class name, e.g. "Linear"


@dataclass(frozen=True)
class GraphIR:
    max_len: int  # l, the fixed input length the graph was traced at
    nodes: tuple[Node, ...]
    modules: dict[str, str]  # module path -> class name, for every submodule
    program: object = None  # the torch.export ExportedProgram (reused for ONNX)

    def by_module(self, prefix: str) -> list[Node]:
        """Nodes whose module is ``prefix`` or lies under it, in order."""
        return [n for n in self.nodes if n.module == prefix or n.module.startswith(prefix + ".")]


def _op_name(target) -> str:
    name = getattr(target, "name", None)
    text = name() if callable(name) else str(target)  # "aten::linear" or "aten.linear.default"
    text = text.replace("::", ".")
    parts = text.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else text


def _out_meta(node) -> tuple[tuple[int, ...], str]:
    val = node.meta.get("val")
    if isinstance(val, (tuple, list)):
        val = val[0] if val else None
    if isinstance(val, torch.Tensor):
        return tuple(int(s) for s in val.shape), str(val.dtype).replace("torch.", "")
    return (), type(val).__name__ if val is not None else "none"


def _module_of(node) -> tuple[str, str]:
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", ""
    path, cls = list(stack.values())[-1]
    cls_name = cls if isinstance(cls, str) else cls.__name__
    return str(path), cls_name.rsplit(".", 1)[-1]


def _trace(model: nn.Module, max_len: int):
    ids = torch.full((1, max_len), 5, dtype=torch.long)  # any non-special id: no padding
    try:
        with torch.no_grad():
            return torch.export.export(model, (ids,))
    except Exception as exc:  # torch raises many types; the user gets one typed error
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ExportError(
            f"torch.export could not trace the model ({type(exc).__name__}: {first})",
            hint="the exporter supports the EmbBERT classifier as embbert_mcu.model defines it",
        ) from None


def build_ir(model: nn.Module, max_len: int) -> GraphIR:
    """The model's ops in execution order, traced at input shape (1, max_len)."""
    program = _trace(model.eval(), max_len)
    nodes = []
    for fx_node in program.graph.nodes:
        if fx_node.op != "call_function":
            continue
        shape, dtype = _out_meta(fx_node)
        module, module_type = _module_of(fx_node)
        inputs = tuple(a.name for a in fx_node.all_input_nodes)
        nodes.append(Node(fx_node.name, _op_name(fx_node.target), inputs, shape, dtype,
                          module, module_type))
    modules = {name: type(m).__name__ for name, m in model.named_modules()}
    return GraphIR(max_len=max_len, nodes=tuple(nodes), modules=modules, program=program)


def ir_summary(ir: GraphIR) -> list[str]:
    """One line per node: name, op, shape, module (for --json and debugging)."""
    return [f"{n.name} {n.op} {list(n.shape)} {n.dtype} @{n.module or '<root>'}" for n in ir.nodes]
