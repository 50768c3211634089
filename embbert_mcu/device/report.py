"""`bench --report DIR`: the bench JSON, a Markdown summary and PNG plots in one folder.

The folder is written whole into a temporary folder beside DIR and swapped in, so DIR is
either the previous report or the new one, never half of each. DIR must be new, empty, or a
report this module wrote (report.json names the bench as its producer and every file is one
of REPORT_FILES); anything else is refused before the bench starts and nothing is touched.
Python computes every figure here (``summarize``); templates/bench_report.md.j2 lays them
out and device/plots.py draws them.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..units import UNIT_NOTE, fmt_kb
from .bench import TOOL

PLOTS = {  # file -> caption (also the image's alt text)
    "latency.png": "Latency per inference against input length, with the model's MAC count",
    "stages.png": "Mean time per stage of the model",
    "arena.png": "Arena plan: which buffer lives where, per op",
    "memory.png": "Flash and RAM against the board's limits and the budget",
}
REPORT_FILES = ("report.json", "report.md", *PLOTS)


@dataclass(frozen=True)
class ReportTarget:
    out: Path  # the report folder (replaced at the end)
    tmp: Path  # the temporary folder beside it that is written first


def is_report_dir(path: Path) -> bool:
    """True when every entry of ``path`` is a report file and report.json is a bench's."""
    names = {p.name for p in path.iterdir()}
    if "report.json" not in names or not names <= set(REPORT_FILES):
        return False
    try:
        doc = json.loads((path / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("tool") == TOOL


def prepare(out: str | Path) -> ReportTarget:
    """Check DIR before any work and make the temporary folder (so an unwritable place fails
    now, not after the bench)."""
    out = Path(out).absolute()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--report {out} is a file, not a folder", hint="give a folder name")
    if out.is_dir():
        if Path.cwd().resolve().is_relative_to(out.resolve()):
            raise UsageError(f"--report {out} is the current folder or holds it",
                             hint="give a new folder, e.g. --report build/report")
        entries = sorted(p.name for p in out.iterdir())
        if entries and not is_report_dir(out):
            raise UsageError(
                f"--report {out} is not empty and is not a bench report (it holds "
                f"{', '.join(entries[:3])}{', ...' if len(entries) > 3 else ''}); nothing was written",
                hint="give a new or empty folder (an earlier report of bench is replaced)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; a report is an ordinary folder
    except OSError as exc:
        raise UsageError(f"cannot write the report beside {out}: {exc.strerror or exc}",
                         hint="choose a writable place for --report") from None
    return ReportTarget(out, tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def discard(target: ReportTarget) -> None:
    """Remove the temporary folder (the bench failed before a report existed)."""
    shutil.rmtree(target.tmp, ignore_errors=True)


def write_report(target: ReportTarget, report: dict, manifest: dict) -> list[Path]:
    """Write report.json, the plots and report.md, then swap the folder in; returns the files."""
    from . import plots

    try:
        summary = summarize(report, manifest)
        (target.tmp / "report.json").write_text(
            json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        drawn = plots.draw_all(summary, target.tmp)
        summary["figures"] = [{"file": f, "caption": PLOTS[f]} for f in PLOTS if f in drawn]
        (target.tmp / "report.md").write_text(render_markdown(summary), encoding="utf-8")
        for f in target.tmp.iterdir():
            os.chmod(f, 0o666 & ~_umask())
        _swap(target)
    except OSError as exc:
        raise UsageError(f"cannot write the report in {target.out}: {exc.strerror or exc}",
                         hint="check the folder's permissions and free space") from None
    finally:
        discard(target)
    return [target.out / name for name in REPORT_FILES if (target.out / name).exists()]


def _swap(target: ReportTarget) -> None:
    out, old = target.out, None
    if out.is_dir():
        if any(out.iterdir()):
            if not is_report_dir(out):  # changed while the bench ran: touch nothing
                raise UsageError(f"{out} is no longer a bench report; the report was not written",
                                 hint="give a new or empty folder")
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / out.name)
        else:
            out.rmdir()
    os.replace(target.tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def render_markdown(summary: dict) -> str:
    from ..export.render import environment

    return environment().get_template("bench_report.md.j2").render(**summary)


# --- figures -------------------------------------------------------------------------------

def macs_at(manifest: dict, n: int) -> dict[str, int] | None:
    """Stage -> MACs of one inference over n tokens, from the export's MAC polynomial."""
    poly = manifest.get("macs_per_stage")
    if not poly:
        return None
    return {stage: a + b * n + c * n * n for stage, (a, b, c) in poly.items()}


def fmt_count(x: float) -> str:
    """58_312_345 -> '58.3 M'; 3_012 -> '3.0 k'; 12 -> '12'."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.1f} {suffix}"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.3g}"


def time_axis(report: dict) -> dict:
    """How latency is shown: instructions on the emulator, ms at the board clock on boards."""
    unit, clock = report["tick_unit"], report.get("clock_hz") or 0
    if unit == "cycles" and clock:
        return {"label": f"ms at {clock / 1e6:g} MHz", "scale": 1e3 / clock, "per_mac": "cycles",
                "name": "time"}
    return {"label": unit, "scale": 1.0, "per_mac": unit, "name": unit}


def summarize(report: dict, manifest: dict) -> dict:
    """Every figure the Markdown and the plots show, computed once."""
    axis = time_axis(report)
    per = report.get("per_sample") or {"n_tokens": [], "latency": []}
    lengths, ticks = per["n_tokens"], per["latency"]
    macs = [macs_at(manifest, n) for n in lengths] if manifest.get("macs_per_stage") else []
    total_macs = [sum(m.values()) for m in macs]
    return {
        "tool": report.get("tool", TOOL), "version": report.get("version", ""),
        "board": report.get("board") or report.get("device_board"), "report": report,
        "manifest": _manifest_view(manifest), "axis": axis, "unit_note": UNIT_NOTE,
        "accuracy": _accuracy(report),
        "latency": _latency(report, axis, lengths, ticks, total_macs),
        "samples": {"n_tokens": lengths, "ticks": ticks, "macs": total_macs},
        "mac_curve": _mac_curve(manifest, lengths),
        "stages": _stages(report, manifest, lengths, macs),
        "memory": _memory(report, manifest),
        "arena": manifest.get("arena_plan"),
        "buffers": _buffers(manifest.get("arena_plan")),
    }


def _manifest_view(manifest: dict) -> dict:
    keys = ("model_sha256", "prefix", "max_len", "d_model", "n_layers", "n_classes",
            "vocab_size", "act_dtype", "test_split")
    view = {k: manifest.get(k) for k in keys}
    view["labels"] = ", ".join(str(x) for x in manifest.get("labels", [])) or "-"
    return view


def _accuracy(r: dict) -> dict:
    n = r["n"]
    return {"device": f"{r['accuracy']:.2%}", "host": f"{r['host_accuracy']:.2%}",
            "agreement": f"{r['agreement']:.2%}",
            "agree_count": n - len(r["disagreements"]), "n": n,
            "max_logit_diff": f"{r['max_logit_diff']:.3g}",
            "logit_tolerance": (f"{r['logit_tolerance']:.3g}" if "logit_tolerance" in r
                                else "-"),
            "disagreements": r["disagreements"][:20]}


def _latency(r: dict, axis: dict, lengths, ticks, total_macs) -> dict:
    lat = r["latency"]
    rows = [{"what": f"{r['tick_unit']} per inference",
             "min": fmt_count(lat["min"]), "mean": fmt_count(lat["mean"]),
             "max": fmt_count(lat["max"])}]
    if "latency_us" in r:
        us = r["latency_us"]
        rows.append({"what": f"µs per inference at {r['clock_hz'] / 1e6:g} MHz",
                     **{k: f"{us[k]:,.0f}" for k in ("min", "mean", "max")}})
    per_mac = None
    if total_macs and ticks:
        rows.append({"what": "MACs per inference (model)", "min": fmt_count(min(total_macs)),
                     "mean": fmt_count(statistics.mean(total_macs)),
                     "max": fmt_count(max(total_macs))})
        ratios = [t / m for t, m in zip(ticks, total_macs) if m]
        per_mac = sum(ticks) / sum(total_macs)
        rows.append({"what": f"{r['tick_unit']} per MAC", "min": f"{min(ratios):.2f}",
                     "mean": f"{per_mac:.2f} (total / total)", "max": f"{max(ratios):.2f}"})
    shortest = min(lengths) if lengths else None
    longest = max(lengths) if lengths else None
    return {"rows": rows, "per_mac": per_mac, "shortest": shortest, "longest": longest,
            "mean_len": f"{r['mean_len']:.1f}"}


def _mac_curve(manifest: dict, lengths) -> dict | None:
    if not manifest.get("macs_per_stage") or not lengths:
        return None
    top = max(max(lengths), 1)
    ns = list(range(1, top + 1))
    return {"n": ns, "macs": [sum(macs_at(manifest, n).values()) for n in ns]}


def _stages(r: dict, manifest: dict, lengths, macs) -> list[dict]:
    order = list(manifest.get("stages") or r["stages"])
    order += [s for s in r["stages"] if s not in order]
    total = sum(r["stages"].values()) or 1
    rows = []
    for name in order:
        if name not in r["stages"]:
            continue
        value = r["stages"][name]
        mean_macs = statistics.mean(m[name] for m in macs) if macs and name in macs[0] else None
        rows.append({"name": name, "value": value, "text": fmt_count(value),
                     "share": value / total,
                     "share_text": f"{value / total:.1%}" if value / total >= 0.001 else "<0.1%",
                     "macs": mean_macs, "macs_text": fmt_count(mean_macs) if mean_macs else "-",
                     "per_mac": f"{value / mean_macs:.2f}" if mean_macs else "-"})
    return rows


def _memory(r: dict, manifest: dict) -> dict:
    flash, weights = r.get("flash_bytes"), r.get("weights_bytes") or manifest.get("weights_bytes")
    rows = [
        ("arena (planned, static)", r["arena_bytes"], None),
        (f"stack (painted peak of {fmt_kb(r['stack_reserved_bytes'])} reserved)",
         r["stack_bytes"], None),
        ("harness buffers (serial, logits, timing)", r["static_buffer_bytes"], None),
        ("**peak RAM**", r["peak_ram_bytes"], ("board RAM", r.get("board_ram_bytes"))),
    ]
    if flash is not None:
        if weights is not None and weights <= flash:
            rows += [("weights (flash)", weights, None),
                     ("code, constants and .data image (flash)", flash - weights, None)]
        rows.append(("**flash**", flash, ("board flash", r.get("board_flash_bytes"))))
    if r.get("total_bytes") is not None:
        rows.append(("**flash + peak RAM**", r["total_bytes"], ("budget", r.get("budget_bytes"))))
    table = []
    for label, used, limit in rows:
        name, cap = limit if limit else ("", None)
        share = f"{used / cap:.1%}" if cap else ""
        verdict = ("within" if used <= cap else "OVER") if cap else ""
        table.append({"label": label, "bytes": f"{used:,}", "kb": fmt_kb(used),
                      "limit": f"{fmt_kb(cap)} ({name})" if cap else "",
                      "share": f"{share}: {verdict}" if cap else ""})
    return {"rows": table, "flash_bytes": flash, "weights_bytes": weights,
            "arena_bytes": r["arena_bytes"], "stack_bytes": r["stack_bytes"],
            "static_buffer_bytes": r["static_buffer_bytes"],
            "peak_ram_bytes": r["peak_ram_bytes"], "board_ram_bytes": r.get("board_ram_bytes"),
            "board_flash_bytes": r.get("board_flash_bytes"), "budget_bytes": r.get("budget_bytes"),
            "total_bytes": r.get("total_bytes"), "board": r.get("board")}


def _buffers(plan: dict | None) -> list[dict]:
    if not plan:
        return []
    ops = plan["ops"]
    out = []
    for b in plan["buffers"]:
        stages = sorted({ops[i]["stage"] for i in range(b["first"], b["last"] + 1)},
                        key=[o["stage"] for o in ops].index)
        out.append({"name": b["name"], "offset": f"{b['offset']:,}", "nbytes": f"{b['nbytes']:,}",
                    "end": f"{b['offset'] + b['nbytes']:,}", "ops": f"{b['first']}-{b['last']}",
                    "stages": ", ".join(stages) if len(stages) < 3 else f"{stages[0]} to {stages[-1]}",
                    "shape": b["shape"]})
    return out
