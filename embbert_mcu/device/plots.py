"""The bench report's PNG plots, drawn from the records report.summarize computed.

matplotlib with the Agg backend (no display needed); PNGs carry no timestamp or software
tag, so the same bench gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from ..units import fmt_kb

DPI = 100
COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
          "#8C8C8C", "#CCB974", "#64B5CD")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    _pyplot().close(fig)


def draw_all(summary: dict, folder: Path) -> list[str]:
    """Draw every plot the summary has data for; returns the file names written."""
    drawn = []
    if summary["samples"]["n_tokens"]:
        latency_plot(summary, folder / "latency.png")
        drawn.append("latency.png")
    if summary["stages"]:
        stages_plot(summary, folder / "stages.png")
        drawn.append("stages.png")
    if summary["arena"]:
        arena_plot(summary, folder / "arena.png")
        drawn.append("arena.png")
    memory_plot(summary, folder / "memory.png")
    drawn.append("memory.png")
    return drawn


def _subtitle(summary: dict) -> str:
    r = summary["report"]
    return f"{summary['board']}, {r['n']} test texts, model {r['model_sha256'][:12]}"


# --- (a) latency against input length ------------------------------------------------------

def latency_plot(summary: dict, path: Path) -> None:
    plt = _pyplot()
    axis, samples = summary["axis"], summary["samples"]
    lengths, scale = samples["n_tokens"], axis["scale"]
    values = [t * scale for t in samples["ticks"]]
    has_macs = bool(samples["macs"]) and summary["mac_curve"] is not None
    fig, axes = plt.subplots(2 if has_macs else 1, 1, figsize=(9, 7.5 if has_macs else 4.5),
                             sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2] if has_macs else [1]})
    top = axes[0][0]
    top.scatter(lengths, values, s=14, color=COLORS[0], alpha=0.7,
                label=f"measured on the device, one point per text ({len(values)})")
    top.set_ylabel(f"{axis['name']} per inference ({axis['label']})"
                   if axis["name"] == "time" else f"{axis['label']} per inference")
    what = "Time" if axis["name"] == "time" else axis["label"].capitalize()
    top.set_title(f"{what} per inference against input length\n{_subtitle(summary)}")
    top.set_xlim(left=0)
    top.set_ylim(0, max(values) * 1.08)
    if has_macs:
        _mac_line(top, summary)
        _per_mac_panel(axes[1][0], summary)
    if axis["name"] != "time":
        _millions(top.yaxis)
    axes[-1][0].set_xlabel("input length n (tokens, with [CLS] and [SEP])")
    top.legend(loc="upper left", fontsize=9)
    top.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


def _mac_line(top, summary: dict) -> None:
    """The model's MACs(n) scaled by the mean ticks per MAC; the right axis reads it in MACs."""
    axis, curve, per_mac = summary["axis"], summary["mac_curve"], summary["latency"]["per_mac"]
    scale = axis["scale"]
    top.plot(curve["n"], [m * per_mac * scale for m in curve["macs"]], color=COLORS[3],
             label=f"model MACs(n) x {per_mac:.2f} (mean {axis['per_mac']} per MAC)")
    mac_axis = top.twinx()
    lo, hi = top.get_ylim()
    mac_axis.set_ylim(lo / (per_mac * scale), hi / (per_mac * scale))
    mac_axis.set_ylabel("MACs per inference (same line)")
    _millions(mac_axis.yaxis)


def _per_mac_panel(ax, summary: dict) -> None:
    axis, samples, per_mac = summary["axis"], summary["samples"], summary["latency"]["per_mac"]
    pairs = [(n, t / m) for n, t, m in zip(samples["n_tokens"], samples["ticks"], samples["macs"])
             if m]
    ratios = [r for _, r in pairs]
    ax.scatter([n for n, _ in pairs], ratios, s=14, color=COLORS[2], alpha=0.7,
               label="each text")
    ax.axhline(per_mac, color=COLORS[3], linestyle="--",
               label=f"mean {per_mac:.2f} (total {axis['per_mac']} / total MACs)")
    ax.set_ylabel(f"{axis['per_mac']} per MAC")
    lo, hi = min(ratios + [per_mac]), max(ratios + [per_mac])
    ax.set_ylim(lo - 0.25 * (hi - lo) - 0.05, hi + 0.6 * (hi - lo) + 0.05)
    ax.legend(loc="upper left", fontsize=9, ncol=2)
    ax.grid(alpha=0.3)


def _millions(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1e6:g} M"))


# --- (b) per-stage time --------------------------------------------------------------------

def stages_plot(summary: dict, path: Path) -> None:
    plt = _pyplot()
    axis, rows = summary["axis"], summary["stages"]
    scale = axis["scale"]
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.5 * len(rows)))
    names = [r["name"] for r in rows][::-1]
    values = [r["value"] * scale for r in rows][::-1]
    label = (f"mean time per inference ({axis['label']})" if axis["name"] == "time"
             else f"mean {axis['label']} per inference")
    bars = ax.barh(names, values, color=COLORS[0], label=label)
    top = max(values) or 1
    for bar, row in zip(bars, rows[::-1]):
        value = row["text"] if axis["name"] != "time" else f"{row['value'] * scale:.3g} ms"
        note = f" {value}  ({row['share_text']})"
        if row["macs"]:
            note += f", {row['per_mac']} {axis['per_mac']}/MAC"
        ax.text(bar.get_width() + top * 0.01, bar.get_y() + bar.get_height() / 2, note,
                va="center", fontsize=9)
    ax.set_xlim(0, top * 1.55)
    if axis["name"] != "time":
        _millions(ax.xaxis)
    ax.set_xlabel(label)
    ax.set_ylabel("stage (in run order, top first)")
    mean_len = summary["latency"]["mean_len"]
    what = "Time" if axis["name"] == "time" else axis["label"].capitalize()
    ax.set_title(f"{what} per stage, mean over the texts (mean length {mean_len} tokens)\n"
                 f"{_subtitle(summary)}")
    ax.legend(loc="lower right", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


# --- (c) arena timeline --------------------------------------------------------------------

def _kind(name: str) -> str:
    """b2_hrow -> hrow: the same scratch role in every block gets one colour."""
    head, _, tail = name.partition("_")
    return tail if head[:1] == "b" and head[1:].isdigit() and tail else name


def zoom_windows(buffers: list[dict], arena: int, max_windows: int = 3) -> list[tuple[int, int]]:
    """Byte ranges holding the small buffers (under 4% of the arena, too thin to read at full
    scale), merged when close; each gets its own zoomed panel."""
    small = sorted((b["offset"], b["offset"] + b["nbytes"]) for b in buffers
                   if b["nbytes"] < 0.04 * arena)
    merged: list[list[int]] = []
    for lo, hi in small:
        if merged and lo <= merged[-1][1] + 0.02 * arena:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    while len(merged) > max_windows:  # join the two closest neighbours
        gaps = [merged[i + 1][0] - merged[i][1] for i in range(len(merged) - 1)]
        i = gaps.index(min(gaps))
        merged[i:i + 2] = [[merged[i][0], merged[i + 1][1]]]
    return [(lo, hi) for lo, hi in merged][::-1]  # highest addresses first, as drawn


def arena_plot(summary: dict, path: Path) -> None:
    plt = _pyplot()
    plan = summary["arena"]
    buffers, ops, arena = plan["buffers"], plan["ops"], plan["arena_bytes"]
    windows = zoom_windows(buffers, arena)
    kinds = list(dict.fromkeys(_kind(b["name"]) for b in sorted(buffers, key=lambda b: b["first"])))
    cmap = plt.get_cmap("tab20")
    colour = {k: cmap(i % 20) for i, k in enumerate(kinds)}
    heights = [4.2] + [2.5] * len(windows)
    fig, axes = plt.subplots(1 + len(windows), 1, figsize=(13, sum(heights) + 1.6),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    panels = [(axes[0][0], 0, arena, "whole arena, to scale")]
    panels += [(axes[i + 1][0], lo, hi, "zoomed in") for i, (lo, hi) in enumerate(windows)]
    for ax, lo, hi, what in panels:
        _arena_panel(ax, buffers, ops, colour, lo, hi)
        ax.set_ylabel(f"arena offset (bytes)\n{what}")
    axes[0][0].axhline(arena, color="black", linewidth=1)
    axes[0][0].text(0, arena, f"planned peak {arena:,} B ({fmt_kb(arena)}); "
                    f"{plan['naive_bytes']:,} B without reuse", ha="left", va="bottom", fontsize=9)
    axes[0][0].set_ylim(0, arena * 1.08)
    _stage_marks(axes, ops)
    axes[-1][0].set_xlabel("op index (C kernel calls in schedule order)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[k]) for k in kinds]
    fig.legend(handles, kinds, loc="lower center", ncol=min(9, len(kinds)), fontsize=8,
               title="buffer (bN_ prefix dropped: the same role in every block)",
               title_fontsize=8, frameon=False)
    fig.suptitle(f"Arena plan: where each buffer lives (byte offset) while it is alive (ops)\n"
                 f"{_subtitle(summary)}")
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    _save(fig, path)


def _arena_panel(ax, buffers, ops, colour, lo: int, hi: int) -> None:
    from matplotlib.ticker import FuncFormatter

    span = hi - lo
    for b in buffers:
        start, end = b["offset"], b["offset"] + b["nbytes"]
        if end <= lo or start >= hi:
            continue
        y0, y1 = max(start, lo), min(end, hi)
        x0, width = b["first"] - 0.5, b["last"] - b["first"] + 1
        ax.add_patch(_rect(x0, y0, width, y1 - y0, colour[_kind(b["name"])]))
        _label(ax, _kind(b["name"]), x0, y0, width, y1 - y0, span, len(ops))
    ax.set_xlim(-0.5, len(ops) - 0.5)
    ax.set_ylim(lo, hi)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.grid(axis="x", alpha=0.2)


def _rect(x, y, w, h, color):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=color, edgecolor="black", linewidth=0.4)


def _label(ax, name, x0, y0, width, height, span, n_ops) -> None:
    """The buffer's name inside its rectangle, horizontal or vertical, when it fits."""
    wide = width / n_ops * 13 * 72 / 7.0  # characters that fit across at 7 pt (13 in wide)
    tall = height / span * 1.9 * 72 / 7.0  # characters that fit up (a panel is ~1.9 in)
    cx, cy = x0 + width / 2, y0 + height / 2
    if wide >= len(name) * 0.62 and tall >= 1.3:
        ax.text(cx, cy, name, ha="center", va="center", fontsize=7)
    elif tall >= len(name) * 0.62 and wide >= 1.3:
        ax.text(cx, cy, name, ha="center", va="center", fontsize=7, rotation=90)


def _stage_marks(axes, ops) -> None:
    """Dashed lines between stages and the stage names along the top panel."""
    starts = [i for i, op in enumerate(ops) if i == 0 or op["stage"] != ops[i - 1]["stage"]]
    bounds = starts + [len(ops)]
    for row in axes:
        ax = row[0]
        for s in starts[1:]:
            ax.axvline(s - 0.5, color="grey", linestyle="--", linewidth=0.8)
        for a, b in zip(bounds, bounds[1:]):
            ax.text((a + b - 1) / 2, 1.01, ops[a]["stage"], transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=8)


# --- (d) flash and RAM against the limits --------------------------------------------------

def memory_plot(summary: dict, path: Path) -> None:
    plt = _pyplot()
    m = summary["memory"]
    rows = [("RAM (peak)", [("arena", m["arena_bytes"]), ("stack (painted peak)", m["stack_bytes"]),
                            ("harness buffers", m["static_buffer_bytes"])],
             ("board RAM", m["board_ram_bytes"]))]
    if m["flash_bytes"] is not None:
        parts = [("weights", m["weights_bytes"]),
                 ("code, constants, .data", m["flash_bytes"] - m["weights_bytes"])] \
            if m["weights_bytes"] is not None and m["weights_bytes"] <= m["flash_bytes"] \
            else [("flash", m["flash_bytes"])]
        rows.append(("flash", parts, ("board flash", m["board_flash_bytes"])))
        rows.append(("flash + peak RAM", [("peak RAM", m["peak_ram_bytes"]),
                                          ("flash", m["flash_bytes"])],
                     ("budget", m["budget_bytes"])))
    fig, axes = plt.subplots(len(rows), 1, figsize=(11, 1.3 + 1.6 * len(rows)), squeeze=False)
    for ax, (title, parts, (limit_name, limit)) in zip((a[0] for a in axes), rows):
        _memory_row(ax, title, parts, limit_name, limit)
    axes[-1][0].set_xlabel("kB (1 kB = 1000 bytes)")
    board = m["board"] or "the device"
    budget = f" and the {fmt_kb(m['budget_bytes'])} budget" if m["budget_bytes"] else ""
    fig.suptitle(f"Flash and RAM against {board}'s limits{budget}\n{_subtitle(summary)}")
    fig.tight_layout()
    _save(fig, path)


PART_COLORS = {"arena": COLORS[0], "stack (painted peak)": COLORS[1],
               "harness buffers": COLORS[2], "weights": COLORS[3],
               "code, constants, .data": COLORS[4], "flash": COLORS[5], "peak RAM": COLORS[9]}


def _memory_row(ax, title, parts, limit_name, limit) -> None:
    left = 0.0
    for name, nbytes in parts:
        ax.barh([0], [nbytes / 1000], left=left, color=PART_COLORS.get(name, COLORS[7]),
                height=0.6, label=f"{name}: {fmt_kb(nbytes)}")
        left += nbytes / 1000
    used = left
    top = max(used, (limit or 0) / 1000) * 1.12 or 1
    if limit:
        ax.axvline(limit / 1000, color="black", linewidth=1.5, label=f"{limit_name}: {fmt_kb(limit)}")
        verdict = "within" if used <= limit / 1000 else "OVER"
        ax.text(limit / 1000, 0.45, f"{limit_name} ", ha="right", va="bottom", fontsize=9)
        ax.text(used, -0.45, f" {fmt_kb(used * 1000)} = {used * 1000 / limit:.1%} of the "
                f"{limit_name}: {verdict}", ha="left" if used < top * 0.45 else "right",
                va="top", fontsize=9)
    ax.set_xlim(0, top)
    ax.set_ylim(-1, 1)
    ax.set_yticks([])
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
