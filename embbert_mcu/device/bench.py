"""`embbert-mcu bench`: run the exported model's test set on the device and prove it.

Checks the device runs this export (model hash in HELLO vs manifest), streams every sample,
compares each prediction and logit with the host build of the same C (HostModel), and
reports accuracy, agreement, latency (instructions on the emulator, cycles and µs on
boards), per-stage timing, stack, arena, flash and peak RAM against a budget.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Callable, Iterable

from .. import __version__
from ..errors import BudgetError, UsageError, VerificationError
from ..export.manifest import Manifest
from ..export.testset import load_testset
from ..reading import text_cap
from .link import Device
from ..units import fmt_bytes

TOOL = "embbert-mcu bench"  # names the report's producer (report.json, bench --report)


def load_samples(model_dir: str | Path, test: str | Path | None = None,
                 limit: int | None = None) -> list[dict]:
    """[{ids, label}]: the export's testset.jsonl, or a CSV/JSONL file tokenized with the
    export's tokenizer.json (labels by name, as in the manifest)."""
    model_dir = Path(model_dir)
    manifest = Manifest.load(model_dir)
    if test is None:
        samples = load_testset(model_dir)
    else:
        samples = _tokenize_file(model_dir, manifest, test)
    if limit is not None:
        samples = samples[:limit]
    if not samples:
        raise UsageError("no test samples to run", hint="check --test and --limit")
    return samples


def _tokenize_file(model_dir: Path, manifest: Manifest, test: str | Path) -> list[dict]:
    from ..datasets.files import read_rows
    from ..tokenizer import EmbTokenizer

    texts, pairs, names = read_rows(test)  # pairs: [CLS] a [SEP] b [SEP], the ids as trained
    tok = EmbTokenizer.from_json((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    ids = tok.encode_many(texts, max_len=text_cap(manifest), pairs=pairs)
    labels = [str(x) for x in manifest.labels]
    index = {name: i for i, name in enumerate(labels)}
    out = []
    for seq, name in zip(ids, names):
        if name in index:
            label = index[name]
        elif name.strip().isdigit() and int(name) < manifest.n_classes:
            label = int(name)
        else:
            raise UsageError(f"label {name!r} of {test} is not one of the model's labels",
                             hint=f"labels: {', '.join(labels)}")
        out.append({"ids": list(seq), "label": label})
    return out


def check_identity(device: Device, manifest: Manifest) -> None:
    info = device.hello()
    if info.model_sha256 != manifest.model_sha256:
        raise VerificationError(
            f"the device runs model {info.model_sha256[:12]}, the export is "
            f"{manifest.model_sha256[:12]}", hint="flash this export: embbert-mcu flash")
    if (info.max_len, info.n_classes) != (manifest.max_len, manifest.n_classes):
        raise VerificationError("device and export disagree on max_len or n_classes")


def run_device(device: Device, samples: list[dict],
               progress: Callable[[Iterable], Iterable] = iter) -> tuple[list, list, dict]:
    """(logits per sample, ticks per sample, summed ticks per stage name)."""
    logits, ticks, stages = [], [], {}
    for sample in progress(samples):
        result = device.infer(sample["ids"])
        logits.append(result.logits)
        ticks.append(result.ticks)
        for name, t in device.stages():
            stages[name] = stages.get(name, 0) + t
    return logits, ticks, stages


def _argmax(row: list[float]) -> int:
    return max(range(len(row)), key=row.__getitem__)


# Device logits must match the host C build's within this fraction of max(1, the largest
# |host logit|): the same C on another FPU and compiler differs by float rounding only
# (measured on the default checkpoint, float MACs: 5e-9 on the emulated M7, 2.6e-4 on the
# emulated M4F over 1,280 texts). On the integer MAC path such a difference can move an
# activation code by one step, which the next layers carry (measured: 4.5e-3 with the largest
# |logit| 2.05 on the M4F, 100 texts), so that path gets ten times the room. A wrong kernel
# (halved logits, a missing term) is far outside either.
LOGIT_TOLERANCE = {"f32": 1e-3, "int8": 1e-2}


def compare(samples: list[dict], dev: list[list[float]], host: list[list[float]],
            mac_dtype: str = "f32") -> dict:
    """Device vs host: accuracy of each, argmax agreement, the largest logit difference."""
    labels = [s["label"] for s in samples]
    dev_pred = [_argmax(r) for r in dev]
    host_pred = [_argmax(r) for r in host]
    n = len(samples)
    diff = max(abs(a - b) for d, h in zip(dev, host) for a, b in zip(d, h))
    return {
        "n": n,
        "accuracy": sum(p == y for p, y in zip(dev_pred, labels)) / n,
        "host_accuracy": sum(p == y for p, y in zip(host_pred, labels)) / n,
        "agreement": sum(a == b for a, b in zip(dev_pred, host_pred)) / n,
        "disagreements": [i for i, (a, b) in enumerate(zip(dev_pred, host_pred)) if a != b],
        "max_logit_diff": diff,
        "logit_tolerance": LOGIT_TOLERANCE[mac_dtype] * max(1.0, max(abs(v) for h in host for v in h)),
    }


def latency(info, ticks: list[int], stages: dict, n: int) -> dict:
    """Ticks -> the device's unit; cycles also as µs at the reported clock."""
    units = [t * info.tick_scale for t in ticks]
    key = {"instructions": "instructions_per_inference",
           "cycles": "cycles_per_inference"}.get(info.tick_unit, f"{info.tick_unit}_per_inference")
    out = {"tick_unit": info.tick_unit, key: statistics.mean(units),
           "latency": {"min": min(units), "mean": statistics.mean(units), "max": max(units),
                       "unit": info.tick_unit},
           "stages": {name: t * info.tick_scale / n for name, t in stages.items()}}
    if info.tick_unit == "cycles" and info.clock_hz:
        out["latency_us"] = {k: out["latency"][k] / info.clock_hz * 1e6
                             for k in ("min", "mean", "max")}
    return out


def mac_figures(manifest: Manifest, lengths: list[int], units: list[float],
                stage_units: dict[str, float], unit: str) -> dict:
    """MACs of each inference at its own length (the export's MAC polynomial) and the device's
    units per MAC: the whole model (total / total) and per stage (mean / mean)."""
    poly = manifest.macs_per_stage
    if not poly or not lengths:
        return {}
    per_stage = [{name: a + b * n + c * n * n for name, (a, b, c) in poly.items()}
                 for n in lengths]
    macs = [sum(m.values()) for m in per_stage]
    stage_macs = {name: statistics.mean(m[name] for m in per_stage) for name in poly}
    return {"macs_per_inference": statistics.mean(macs),
            f"{unit}_per_mac": sum(units) / sum(macs),
            f"stage_{unit}_per_mac": {name: stage_units[name] / stage_macs[name]
                                      for name in stage_macs
                                      if stage_macs[name] and name in stage_units}}


def memory(info, stats, sizes: dict | None, budget_bytes: int | None, board=None) -> dict:
    peak_ram = stats.arena_bytes + stats.stack_peak_bytes + stats.static_bytes
    flash = sizes["flash_bytes"] if sizes else None
    out = {"arena_bytes": stats.arena_bytes, "stack_bytes": stats.stack_peak_bytes,
           "stack_reserved_bytes": stats.stack_bytes, "static_buffer_bytes": stats.static_bytes,
           "peak_ram_bytes": peak_ram, "flash_bytes": flash,
           "ram_static_bytes": sizes["ram_static_bytes"] if sizes else None,
           "total_bytes": peak_ram + flash if flash is not None else None,
           "budget_bytes": budget_bytes, "stack_guard": info.stack_guard}
    if board is not None:
        out.update(board=board.id, board_ram_bytes=board.ram_bytes,
                   board_flash_bytes=board.flash_bytes)
    return out


def check(report: dict, min_agreement: float = 1.0) -> None:
    """Raise when the device disagrees with the host build or the budget is exceeded."""
    if report["agreement"] < min_agreement:
        raise VerificationError(
            f"device and host C disagree on {len(report['disagreements'])} of {report['n']} "
            f"samples (agreement {report['agreement']:.2%})",
            hint=f"first differing samples: {report['disagreements'][:10]}")
    if report["max_logit_diff"] > report["logit_tolerance"]:
        raise VerificationError(
            f"device logits differ from the host C build's by up to "
            f"{report['max_logit_diff']:.3g} (tolerance {report['logit_tolerance']:.3g})",
            hint="the device computes something else than the host build: reflash this export")
    budget, total = report["budget_bytes"], report["total_bytes"]
    if budget is not None:
        if total is None:
            raise BudgetError("no firmware ELF to measure flash: cannot check the budget",
                              hint="pass --elf or --project-dir")
        if total > budget:
            raise BudgetError(f"flash + peak RAM = {fmt_bytes(total)} exceeds the budget of "
                              f"{fmt_bytes(budget)}", hint="export a smaller preset")


def run_bench(device: Device, model_dir: str | Path, samples: list[dict],
              sizes: dict | None = None, budget_bytes: int | None = None, board=None,
              progress: Callable[[Iterable], Iterable] = iter) -> dict:
    """The whole bench on a connected device; returns the report (checked by ``check``).

    An export that reads a long text as windows (``reading.py``) has each window run as one
    inference: latency and MAC figures are per inference (window), accuracy and agreement
    per text, from the mean of its windows' device logits, as the export's classify
    functions compute it."""
    import torch

    from ..export.host import HostModel
    from ..reading import mean_by_owner, split_many

    manifest = Manifest.load(model_dir)
    check_identity(device, manifest)
    info = device.info
    host = HostModel(model_dir).run_many([s["ids"] for s in samples])
    windows, owner = split_many([s["ids"] for s in samples], manifest)
    runs = samples if len(windows) == len(samples) else [{"ids": w} for w in windows]
    dev, ticks, stages = run_device(device, runs, progress)
    if runs is not samples:
        dev = mean_by_owner(torch.tensor(dev, dtype=torch.float32), owner, len(samples)).tolist()
    stats = device.stats()
    report = {"tool": TOOL, "version": __version__,
              "model_sha256": manifest.model_sha256, "device_board": info.board,
              "port": info.port, "clock_hz": info.clock_hz,
              "mean_len": statistics.mean(len(s["ids"]) for s in runs),
              "weights_bytes": manifest.weights_bytes}
    if runs is not samples:
        report.update(windows=manifest.windows, inferences=len(runs),
                      text_mean_len=statistics.mean(len(s["ids"]) for s in samples))
    report.update(compare(samples, dev, host, manifest.mac_dtype))
    report.update(latency(info, ticks, stages, len(runs)))
    report.update(mac_figures(manifest, [len(s["ids"]) for s in runs],
                              [t * info.tick_scale for t in ticks], report["stages"],
                              info.tick_unit))
    report.update(memory(info, stats, sizes, budget_bytes, board))
    report["device_errors"] = stats.n_errors
    report["per_sample"] = {"n_tokens": [len(s["ids"]) for s in runs],
                            "latency": [t * info.tick_scale for t in ticks],
                            "unit": info.tick_unit}
    return report


def format_report(r: dict) -> str:
    """The human table (stderr)."""
    unit = r["tick_unit"]
    lat = r["latency"]
    rows = [
        ("samples", f"{r['n']} (mean length {r['mean_len']:.1f} tokens)" if "windows" not in r
         else f"{r['n']} texts (mean {r['text_mean_len']:.1f} tokens) as {r['inferences']} "
              f"windows of up to {r['windows']} a text (mean {r['mean_len']:.1f} tokens)"),
        ("accuracy (device)", f"{r['accuracy']:.4f}"),
        ("accuracy (host C)", f"{r['host_accuracy']:.4f}"),
        ("agreement", f"{r['agreement']:.2%}   max |logit diff| {r['max_logit_diff']:.3g}"),
        (f"{unit}/inference", f"min {lat['min']:,.0f}  mean {lat['mean']:,.0f}  max {lat['max']:,.0f}"),
    ]
    if "latency_us" in r:
        us = r["latency_us"]
        rows.append(("µs/inference", f"min {us['min']:,.0f}  mean {us['mean']:,.0f}  max {us['max']:,.0f}"))
    if f"{unit}_per_mac" in r:
        rows.append((f"{unit}/MAC", f"{r[f'{unit}_per_mac']:.2f} (total / total; "
                     f"{r['macs_per_inference']:,.0f} MACs per inference, mean)"))
    per_mac = r.get(f"stage_{unit}_per_mac", {})
    for name, v in r["stages"].items():
        extra = f", {per_mac[name]:.2f} per MAC" if name in per_mac else ""
        rows.append((f"  stage {name}", f"{v:,.0f} {unit} (mean){extra}"))
    rows += [
        ("arena", fmt_bytes(r["arena_bytes"])),
        ("stack (peak, painted)", f"{fmt_bytes(r['stack_bytes'])} of {fmt_bytes(r['stack_reserved_bytes'])}"
         + ("  MPU guard on" if r["stack_guard"] else "")),
        ("harness buffers", fmt_bytes(r["static_buffer_bytes"])),
        ("peak RAM", fmt_bytes(r["peak_ram_bytes"]) + (f" of {fmt_bytes(r['board_ram_bytes'])} on {r['board']}" if r.get("board") else "")),
        ("flash", (fmt_bytes(r["flash_bytes"]) if r["flash_bytes"] is not None else "unknown (no ELF)")
         + (f" of {fmt_bytes(r['board_flash_bytes'])}" if r.get("board") else "")),
        ("total (flash + peak RAM)", fmt_bytes(r["total_bytes"]) if r["total_bytes"] is not None else "unknown"),
        ("budget", fmt_bytes(r["budget_bytes"]) if r["budget_bytes"] is not None else "none given"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
