"""The figures README.md shows, computed from the results records (benchmarks/readme.py).

Each region function takes the newest record of every name and returns the values its
template lays out, already formatted: the templates hold no arithmetic. A region reads only
the records it names, so a missing one is a KeyError naming it.
"""

from __future__ import annotations

import math
import re

from units import comma, kb, mega, pct, sci, seconds_text

SCRIPT_DIR_RE = re.compile(r"^\S*/(embbert-mcu|python3?)(?= )")


def cite(record: dict) -> dict:
    """Where a figure comes from: date, short commit, command, and whether it was transcribed."""
    command = SCRIPT_DIR_RE.sub(r"\1", record["command"])  # .venv/bin/embbert-mcu -> embbert-mcu
    return {"date": record["date"][:10], "commit": record["commit"][:7],
            "command": command, "transcribed": record["source"] == "transcribed"}


def memory_figures(doc: dict) -> dict:
    paper = doc["paper"]
    return {"params": comma(doc["params_total"]),
            "paper_weights": kb(paper["weights_bytes"]),
            "paper_acts": kb(paper["activations_bytes"]), "paper_total": kb(paper["total_bytes"]),
            "ours_weights": kb(doc["weights_bytes"]), "ours_acts": kb(doc["activations_bytes"]),
            "ours_total": kb(doc["total_bytes"])}


def config_figures(doc: dict) -> dict:
    c = doc["config"]
    return {"v": c["vocab_size"], "l": c["max_len"], "d": c["d_model"], "layers": c["n_layers"]}


def export_figures(doc: dict) -> dict:
    return {"n": comma(doc["n"]), "agreement": pct(doc["agreement"]),
            "max_diff": sci(doc["max_abs_logit_diff"]), "c_acc": pct(doc["c_accuracy"]),
            "torch_acc": pct(doc["torch_accuracy"]), "float_acc": pct(doc["float_accuracy"]),
            "export_s": f"{doc['export_seconds']:.1f} s",
            "verify_s": f"{doc['verify_seconds']:.1f} s",
            "arena": comma(doc["arena_bytes"]),
            "arena_no_reuse": comma(doc["arena_bytes_without_reuse"]),
            "weights": comma(doc["weights_bytes"]),
            "macs_max": mega(doc["macs_at_max_len"]), "macs_mean": mega(doc["macs_at_mean_len"], 2),
            "max_len": doc["max_len"], "mean_len": f"{doc['mean_len']:.0f}",
            "tok_tables": comma(doc["tokenizer"]["table_bytes"]),
            "tok_tables_kb": kb(doc["tokenizer"]["table_bytes"]),
            "tok_flash": comma(doc["tokenizer"]["flash_bytes"]),
            "tok_flash_kb": kb(doc["tokenizer"]["flash_bytes"]),
            "tok_scratch": comma(doc["tokenizer"]["scratch_bytes"]),
            "tok_n": comma(doc["tokenizer_n"]), "tok_agree": pct(doc["tokenizer_agreement"]),
            "tok_fuzz_n": comma(doc["tokenizer_fuzz_n"]),
            "tok_fuzz_agree": pct(doc["tokenizer_fuzz_agreement"]),
            "flash_kb": kb(doc["flash_bytes"])}


def bench_figures(doc: dict) -> dict:
    lat = doc["latency"]
    return {"board": doc["board"], "n": comma(doc["n"]), "acc": pct(doc["accuracy"]),
            "host_acc": pct(doc["host_accuracy"]), "agreement": pct(doc["agreement"]),
            "max_diff": sci(doc["max_logit_diff"]), "unit": lat["unit"],
            "lat_min": mega(lat["min"]), "lat_mean": mega(lat["mean"]), "lat_max": mega(lat["max"]),
            "arena_kb": kb(doc["arena_bytes"]), "stack": comma(doc["stack_bytes"]),
            "buffers_kb": kb(doc["static_buffer_bytes"]), "peak_kb": kb(doc["peak_ram_bytes"]),
            "flash_kb": kb(doc["flash_bytes"]), "total_kb": kb(doc["total_bytes"]),
            "ram_kb": kb(doc["board_ram_bytes"]), "board_flash_kb": kb(doc["board_flash_bytes"]),
            "budget_kb": kb(doc["budget_bytes"]),
            "fits": "within" if doc["total_bytes"] <= doc["budget_bytes"] else "over",
            "acc_rel": "=" if doc["accuracy"] == doc["host_accuracy"] else "vs",
            "agree_text": ("are identical to those of" if doc["agreement"] == 1.0
                           else f"agree {pct(doc['agreement'])} with")}


def demo(recs: dict) -> dict:
    mem, exp, dev = recs["memory-base"], recs["export-default"], recs["bench-qemu_h743"]
    quant = recs["quantize-default"]
    wall = sum(r.get("seconds", 0.0) for r in (mem, exp, dev))
    shares = {k: pct(quant["document"][f"{k}_param_share"]) for k in ("int8", "f16", "f32")}
    return {"mem": memory_figures(mem["document"]), "cfg": config_figures(mem["document"]),
            "shares": shares, "quant_cite": cite(quant),
            "exp": export_figures(exp["document"]), "dev": bench_figures(dev["document"]),
            "wall": seconds_text(wall), "cites": [cite(r) for r in (mem, exp, dev)]}


def f446(recs: dict) -> dict:
    rec = recs["bench-qemu_f446"]
    return {"dev": bench_figures(rec["document"]), "cite": cite(rec)}


def intmac(recs: dict) -> dict:
    """The integer MAC path on the emulated boards: instructions per MAC at n = l (the long
    set) and at the test split's lengths, beside the float path of the same weights."""
    def side(name: str) -> dict:
        doc = recs[name]["document"]
        return {"per_mac": f"{doc['instructions_per_mac']:.2f}",
                "mean": mega(doc["instructions_per_inference"]), "n": comma(doc["n"]),
                "mean_len": f"{doc['mean_len']:.1f}", "agreement": pct(doc["agreement"]),
                "board": doc["board"]}

    names = ("bench-long-qemu_f446", "bench-long-qemu_h743", "bench-qemu_f446",
             "bench-f32-long-qemu_f446", "bench-f32-qemu_f446", "host-onnx")
    host = recs["host-onnx"]["document"]["rows"]
    long_worst = max(recs[n]["document"]["instructions_per_mac"] for n in names[:2])
    mean_worst = recs[names[2]]["document"]["instructions_per_mac"]
    met = long_worst <= 2.0 and mean_worst <= 2.5
    return {"long_f446": side(names[0]), "long_h743": side(names[1]), "f446": side(names[2]),
            "f32_long": side(names[3]), "f32": side(names[4]),
            "aim": "both met" if met else "not reached yet",
            "host": [{"sample": r["sample"], "ratio": f"{r['c_over_onnxruntime']:.2f}"}
                     for r in host],
            "cites": [cite(recs[n]) for n in names]}


def recipe_labels(row: dict) -> tuple[str, str]:
    """(pretraining, distillation) of a training-recipes row: the first rows are booleans
    (MLM+NSP, n-gram teacher); the MiniLM recipe names its start and its teacher."""
    pretraining = {"minilm-embeddings": "MiniLM sentence embeddings (6,000 steps)",
                   "mlm-15k": "15,000 MLM+NSP steps",
                   True: "10,000 MLM+NSP steps", False: "none"}[row["pretraining"]]
    teacher = {"both": "MiniLM + n-gram teachers", "minilm": "MiniLM teacher", True: "n-gram teacher",
               False: ""}[row["distill"]]
    if not teacher:
        return pretraining, "none"
    return pretraining, teacher + (" + averaged weights" if row["ema"] else "")


MAX_LEN_RE = re.compile(r"--max-len (\d+)")
WINDOWS_RE = re.compile(r"--windows (\d+)")


def accuracy_row(row: dict, floor: dict, best: dict) -> dict:
    """One recipe; a run that reads more or fewer tokens than the preset's l, or reads a
    long text as windows, says so."""
    pretraining, distill = recipe_labels(row)
    reads = MAX_LEN_RE.search(row["command"])
    windows = WINDOWS_RE.search(row["command"])
    length = reads.group(1) if reads else "256"
    data = row["data"] + (f" (up to {windows.group(1)} windows of {length} tokens a text)"
                          if windows and windows.group(1) != "1"
                          else f" ({length} tokens a text)" if reads else "")
    return {"set": row["data"], "data": data, "pretraining": pretraining,
            "distill": distill, "acc": pct(row["correct"] / row["n"]), "n": comma(row["n"]),
            "default": row.get("default", False), "floor": pct(floor[row["data"]]),
            "command": row["command"], "best": row["correct"] == best[row["data"]]}


def accuracy(recs: dict) -> dict:
    rec = recs["training-recipes"]
    doc = rec["document"]
    best: dict[str, int] = {}
    for r in doc["rows"]:
        best[r["data"]] = max(best.get(r["data"], 0), r["correct"])
    rows = [accuracy_row(r, doc["floor_accuracy"], best) for r in doc["rows"]]
    seen: set[str] = set()
    for r in rows:  # the n of a data set is shown on its first row only
        r["show_n"] = r["set"] not in seen
        seen.add(r["set"])
    default = next(r for r in doc["rows"] if r.get("default"))
    margins = []  # the best row of each data set against its floor, in texts
    for data, correct in best.items():
        n = next(r["n"] for r in doc["rows"] if r["data"] == data)
        texts = round(correct - doc["floor_accuracy"][data] * n)
        side = "above" if texts >= 0 else "under"
        margins.append({"data": data, "acc": pct(correct / n), "texts": abs(texts),
                        "n": comma(n), "side": side})
    p = default["correct"] / default["n"]
    return {"rows": rows, "margins": margins, "taught": taught(recs), "backbones": backbones(recs),
            "mlm_nats": doc["pretrain"]["mlm_nats"],
            "pretrain_min": doc["pretrain"]["minutes"],
            "pretrain_steps": comma(doc["pretrain"]["steps"]),
            "teachers": {k: pct(v) for k, v in doc["teacher_accuracy"].items()},
            "seeds": ", ".join(f"{pct(v)} (seed {k})" for k, v in doc["seeds"]["accuracy"].items()),
            "se_points": f"{100 * math.sqrt(p * (1 - p) / default['n']):.1f}",
            "default_n": comma(default["n"]),
            "quantized": pct(doc["quantized_accuracy"]), "float": pct(p), "cite": cite(rec)}


INIT_RE = re.compile(r"--init (\S+)")


def taught(recs: dict) -> list[dict]:
    """The MiniLM-teacher runs (records named teacher-*, measured with `train --json`), by
    data set, then by the student's margin over the floor; each with its command."""
    rows = []
    for name, rec in recs.items():
        doc = rec["document"]
        if not name.startswith("teacher-") or "teacher_accuracy" not in doc or "accuracy" not in doc:
            continue
        c = cite(rec)
        init = INIT_RE.search(c["command"])
        data = doc["dataset"]
        if data.endswith((".csv", ".jsonl")):  # a user's own files: the record names the set
            data = f"{name[len('teacher-'):]} (`--train`/`--test` files)"
        teacher = pct(doc["teacher_accuracy"])
        if "ngram_teacher_accuracy" in doc:  # both teachers (`--teacher minilm --distill`)
            teacher = (f"MiniLM {teacher}, n-gram {pct(doc['ngram_teacher_accuracy'])}"
                       + (f", their mean {pct(doc['teachers_mean_accuracy'])}"
                          if "teachers_mean_accuracy" in doc else ""))
        rows.append({"data": data, "n": comma(doc["n"]), "acc": pct(doc["accuracy"]),
                     "teacher": teacher, "floor": pct(doc["floor_accuracy"]),
                     "margin": f"{100 * (doc['accuracy'] - doc['floor_accuracy']):+.2f}",
                     "backbone": init.group(1) if init else "none",
                     "command": c["command"], "date": c["date"], "commit": c["commit"],
                     "key": (data, -(doc["accuracy"] - doc["floor_accuracy"]))})
    return sorted(rows, key=lambda r: r["key"])


def backbones(recs: dict) -> list[dict]:
    """The backbones the teacher table's `--init` names, from records named pretrain-*."""
    out = []
    for name, rec in sorted(recs.items()):
        if name.startswith("pretrain-") and "checkpoint" in rec["document"]:
            c = cite(rec)
            what = ("general distillation of the shipped MiniLM's sentence embeddings"
                    if "--teacher minilm" in c["command"] else "MLM+NSP pretraining")
            path = re.search(r"--backbone (\S+)", c["command"]) or re.search(r"-o (\S+)", c["command"])
            out.append({"path": path.group(1), "what": what, **c})
    return out


def library(recs: dict) -> dict:
    """The export as a library. `bench --text` on the current default comes from its own
    record; the tokenizer's comparisons and the CMake example from tokenizer-c."""
    exp, tok, text = recs["export-default"], recs["tokenizer-c"], recs["bench-text-qemu_f446"]
    t, b = tok["document"], text["document"]
    return {"exp": export_figures(exp["document"]),
            "sets": " + ".join(comma(n) for n in t["test_set_sizes"]),
            "generated": comma(t["generated_strings"]), "comparisons": comma(t["comparisons"]),
            "differ": comma(t["differ"]), "stack": comma(t["stack_bytes_max"]),
            "cmake": {k: (seconds_text(v) if k.startswith("seconds") else comma(v))
                      for k, v in t["cmake_example"].items()},
            "text": {"board": b["board"], "n": comma(b["n"]), "acc": pct(b["accuracy"]),
                     "host_acc": pct(b["host_accuracy"]), "agreement": pct(b["agreement"]),
                     "max_diff": sci(b["max_logit_diff"]),
                     "ids": comma(round(b["tokenizer_agreement"] * b["n"])),
                     "tok": " / ".join(comma(round(b["tokenizer_per_text"][k]))
                                       for k in ("min", "mean", "max")),
                     "share": pct(b["tokenizer_share"]), "peak_kb": kb(b["peak_ram_bytes"]),
                     "buffers_kb": kb(b["static_buffer_bytes"]), "flash_kb": kb(b["flash_bytes"])},
            "cites": [cite(exp), cite(tok), cite(text)]}


# What builds where: a fact of this workplace, not a figure (docs/device.md has the detail).
BUILDS = {
    "qemu_h743": "yes (local PlatformIO platform, Debian toolchain)",
    "qemu_f446": "yes", "qemu_netduino_f446": "yes",
    "nucleo_h743": "yes, offline (local platform; upload with openocd); an env for PlatformIO's "
                   "ststm32 beside it",
    "nucleo_f446re": "yes, offline (local platform; upload with openocd); an env for "
                     "PlatformIO's ststm32 beside it",
    "esp32dev": "needs PlatformIO's registry (espressif32, espidf)",
    "esp32s3": "needs PlatformIO's registry (espressif32, espidf)",
}
CORES = {"cortex-m7": "Cortex-M7", "cortex-m4": "Cortex-M4F", "xtensa-lx6": "Xtensa LX6",
         "xtensa-lx7": "Xtensa LX7"}


def boards(_recs: dict) -> dict:
    """The board manifests (boards/*.json) as a table: the limits are the manifests' bytes."""
    import json
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "boards"
    rows = []
    for path in sorted(folder.glob("*.json"), key=lambda p: (not p.stem.startswith("qemu"), p.stem)):
        b = json.loads(path.read_text(encoding="utf-8"))
        clock = "" if b.get("emulated") else f", {b['clock_hz'] / 1e6:g} MHz"
        rows.append({"id": b["id"], "name": b["name"], "core": CORES.get(b["core"], b["core"])
                     + clock, "flash": kb(b["flash_bytes"]), "ram": kb(b["ram_bytes"]),
                     "builds": BUILDS.get(b["id"], "not yet built here")})
    return {"boards": rows}


REGIONS = {"boards": boards, "demo": demo, "f446": f446, "intmac": intmac, "accuracy": accuracy, "library": library}
