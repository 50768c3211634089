"""Stage 3: plan one static arena over the schedule's buffers, by lifetime.

A buffer lives from the first to the last op (in schedule order) that touches it; scratch
vectors are written before they are read in every loop iteration, so this interval is exact
for them, and X / H are touched from their first store to their last read. Ops that allow an
output to alias an input (RMSNorm, weighted difference) share the input's bytes when the
input dies there. Placement is greedy by size (largest first, lowest offset that does not
overlap a placed buffer alive at the same time), as tflite-micro's greedy planner does.
"""

from __future__ import annotations

from dataclasses import dataclass

from .schedule import Schedule

ALIGN = 8  # every buffer starts 8-byte aligned (floats need 4; doubles never appear)


@dataclass(frozen=True)
class Placement:
    name: str
    offset: int
    nbytes: int
    first: int  # first op index
    last: int  # last op index


@dataclass(frozen=True)
class ArenaPlan:
    placements: dict[str, Placement]  # buffer name -> placement
    arena_bytes: int  # planned peak: end of the highest placed buffer
    naive_bytes: int  # sum of all buffers (no reuse), for the report


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def loop_ranges(schedule: Schedule) -> list[tuple[int, int]]:
    """(first op index, last op index) of every loop, in order."""
    ranges, start = [], 0
    for stage in schedule.stages:
        for loop in stage.loops:
            ranges.append((start, start + len(loop.ops) - 1))
            start += len(loop.ops)
    return ranges


def lifetimes(schedule: Schedule) -> dict[str, tuple[int, int]]:
    """buffer name -> (first op index, last op index).

    A buffer alive on entry to a loop or on exit from it holds data across iterations, so it
    is alive for the whole loop; one touched only inside a loop body is written before it is
    read in every iteration (all scratch vectors are), so its own span is exact.
    """
    spans: dict[str, tuple[int, int]] = {}
    for index, op in enumerate(schedule.flat_ops()):
        for name in op.reads + op.writes:
            if name in schedule.buffers:
                first, _ = spans.get(name, (index, index))
                spans[name] = (first, index)
    for name, (first, last) in spans.items():
        for start, end in loop_ranges(schedule):
            crosses = first < start <= last or first <= end < last
            if crosses:
                first, last = min(first, start), max(last, end)
        spans[name] = (first, last)
    return spans


def _inplace_groups(schedule: Schedule, spans) -> dict[str, str]:
    """buffer -> the buffer whose bytes it reuses (itself when none)."""
    root = {name: name for name in spans}
    for index, op in enumerate(schedule.flat_ops()):
        for out, inp in op.inplace:
            r_in = root[inp]
            fits = schedule.buffers[out].nbytes <= schedule.buffers[r_in].nbytes
            if spans[inp][1] == index and spans[out][0] == index and fits:
                root[out] = r_in
    return root


def plan_arena(schedule: Schedule) -> ArenaPlan:
    spans = lifetimes(schedule)
    root = _inplace_groups(schedule, spans)
    groups: dict[str, list[str]] = {}
    for name in sorted(spans):
        groups.setdefault(root[name], []).append(name)
    items = []  # (bytes, first, last, root)
    for r, members in groups.items():
        first = min(spans[m][0] for m in members)
        last = max(spans[m][1] for m in members)
        items.append((_align(schedule.buffers[r].nbytes), first, last, r))
    items.sort(key=lambda it: (-it[0], it[1], it[3]))  # deterministic order
    placed: list[tuple[int, int, int, int]] = []  # (offset, bytes, first, last)
    offsets: dict[str, int] = {}
    for nbytes, first, last, r in items:
        offsets[r] = _first_fit(placed, nbytes, first, last)
        placed.append((offsets[r], nbytes, first, last))
    placements = {
        name: Placement(name, offsets[root[name]], schedule.buffers[name].nbytes, *spans[name])
        for name in sorted(spans)
    }
    peak = max((o + n for o, n, _, _ in placed), default=0)
    naive = sum(_align(schedule.buffers[n].nbytes) for n in spans)
    return ArenaPlan(placements, peak, naive)


def _first_fit(placed, nbytes: int, first: int, last: int) -> int:
    """Lowest aligned offset where [offset, offset + nbytes) meets no live placed buffer."""
    live = sorted((o, o + n) for o, n, f, l in placed if not (l < first or f > last))
    offset = 0
    for start, end in live:
        if offset + nbytes <= start:
            break
        offset = max(offset, _align(end))
    return offset


def plan_record(schedule: Schedule, plan: ArenaPlan) -> dict:
    """The plan as JSON for the export's manifest: where each buffer lives (byte offset, size)
    and when (first and last op index), and the stage of every op, for reports."""
    ops = [{"stage": stage.name, "module": op.module}
           for stage in schedule.stages for loop in stage.loops for op in loop.ops]
    buffers = [{"name": p.name, "offset": p.offset, "nbytes": p.nbytes, "first": p.first,
                "last": p.last, "shape": schedule.buffers[p.name].shape}
               for p in sorted(plan.placements.values(), key=lambda p: (p.offset, p.first, p.name))]
    return {"arena_bytes": plan.arena_bytes, "naive_bytes": plan.naive_bytes, "ops": ops,
            "buffers": buffers}
