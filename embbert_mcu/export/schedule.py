"""The lowered schedule: stages of loops of C kernel calls, and the buffers they touch.

Produced by ``lower.lower_graph`` (IR -> schedule), consumed by ``plan.plan_arena`` (buffers ->
arena offsets) and by the model.c template, which only lays the records out.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Buffer:
    """A region of the arena: an activation buffer (l rows) or a per-row scratch vector."""

    name: str  # C identifier of the pointer, e.g. "b0_q"
    ctype: str  # "float" | "int32_t" | "int16_t" | "int8_t"
    count: int  # elements
    shape: str  # shape comment, e.g. "(d,) = (128,)"

    @property
    def nbytes(self) -> int:
        return self.count * {"int8_t": 1, "int16_t": 2}.get(self.ctype, 4)


@dataclass(frozen=True)
class Op:
    """One C statement: a kernel call (or a short inline statement) from one PyTorch module."""

    code: str  # the C expression, without the trailing semicolon
    module: str  # PyTorch module path it came from, e.g. "backbone.blocks.0.q"
    what: str  # the PyTorch ops it implements, e.g. "aten.linear"
    reads: tuple[str, ...] = ()  # buffer names read
    writes: tuple[str, ...] = ()  # buffer names written
    inplace: tuple[tuple[str, str], ...] = ()  # (out, in) pairs the kernel allows to alias
    status: bool = False  # returns emb_status_t (wrapped in EMB_TRY)
    macs: tuple[int, int] = (0, 0)  # multiply-accumulates per call: const + per_n * n
    nodes: tuple[str, ...] = ()  # names of the IR nodes this call implements

    @property
    def aten_ops(self) -> list[str]:
        """"aten.mul/mul/sub (...)" -> ["aten.mul", "aten.mul", "aten.sub"]."""
        head = self.what.split(" ")[0]
        if not head.startswith("aten."):
            return []
        return ["aten." + name for name in head[len("aten."):].split("/")]

    @property
    def comment(self) -> str:
        nodes = f" [{', '.join(self.nodes)}]" if self.nodes else ""
        return f"{self.module}: {self.what}{nodes}"


@dataclass(frozen=True)
class Loop:
    """A row loop ``for (i = 0; i < bound; ++i)``; bound "n" or "1" (the last block's row 0).
    ``kind`` "pairs": rows i and i + 1 per trip (``for (i = 0; i + 1 < n; i += 2)``), the ops
    doing both; "odd": the last row when n is odd (the one-row ops after a "pairs" loop)."""

    bound: str  # "n" | "1"
    ops: tuple[Op, ...]
    comment: str = ""
    kind: str = "rows"  # "rows" | "pairs" | "odd"

    @property
    def header(self) -> str:
        if self.kind == "pairs":
            return "for (i = 0; i + 1u < n; i += 2u)"
        if self.kind == "odd":
            return "for (i = n - n % 2u; i < n; ++i)"
        return f"for (i = 0; i < {self.bound}; ++i)"

    def trips(self, n: int) -> int:
        if self.kind == "pairs":
            return n // 2
        if self.kind == "odd":
            return n % 2
        return n if self.bound == "n" else int(self.bound)


@dataclass(frozen=True)
class Stage:
    name: str  # "embed", "block0", ..., "head"
    module: str  # PyTorch module path of the stage
    loops: tuple[Loop, ...]


@dataclass
class Schedule:
    stages: list[Stage] = field(default_factory=list)
    buffers: dict[str, Buffer] = field(default_factory=dict)
    acts: dict[str, dict] = field(default_factory=dict)  # "act_x" -> {"f32"|"q8"|"scales": buf}
    act_dtype: str = "int8"

    def flat_ops(self) -> list[Op]:
        return [op for s in self.stages for loop in s.loops for op in loop.ops]

    def macs(self, n: int) -> int:
        """Multiply-accumulates of one inference over n tokens (linear, attention, conv)."""
        return sum(self.stage_macs(n).values())

    def stage_macs(self, n: int) -> dict[str, int]:
        """Stage name -> multiply-accumulates of that stage over n tokens."""
        out = {}
        for stage in self.stages:
            total = 0
            for loop in stage.loops:
                total += loop.trips(n) * sum(c + per_n * n for c, per_n in (op.macs for op in loop.ops))
            out[stage.name] = total
        return out

    def macs_polynomial(self) -> dict[str, list[int]]:
        """Stage name -> [a, b, c] with MACs(n) = a + b n + c n^2 (exact: a row loop of n trips
        over ops costing const + per_n * n is at most quadratic in n)."""
        f0, f1, f2 = (self.stage_macs(n) for n in (0, 1, 2))
        out = {}
        for name in f0:
            c = (f2[name] - 2 * f1[name] + f0[name]) // 2
            out[name] = [f0[name], f1[name] - f0[name] - c, c]
        return out
