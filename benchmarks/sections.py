"""docs/results.md: one section per record, its figures as tables (benchmarks/readme.py).

A section's tables come from the function named for the record's kind (the part of its name
before the first '-'); a transcribed passage ({"tables": [...], "notes": [...]}) shows its
tables and notes as they were; any other kind shows the document's top-level values.
"""

from __future__ import annotations

from figures import recipe_labels
from units import comma, kb, mega, pct, sci, seconds_text


def table(title: str, columns: list[str], rows: list[list]) -> dict:
    return {"title": title, "columns": columns, "rows": [[str(c) for c in r] for r in rows]}


def memory(doc: dict) -> list[dict]:
    p = doc["paper"]
    rows = [["parameters", comma(doc["params_total"]), ""],
            ["weights", f"{comma(doc['weights_bytes'])} B", f"{comma(p['weights_bytes'])} B"],
            ["activations", f"{comma(doc['activations_bytes'])} B",
             f"{comma(p['activations_bytes'])} B"],
            ["total", f"{comma(doc['total_bytes'])} B", f"{comma(p['total_bytes'])} B"],
            ["fp32 weights", f"{comma(doc['fp32']['weights_bytes'])} B", ""],
            ["budget, fits", f"{comma(doc['budget_bytes'])} B, {doc['fits']}", ""]]
    parts = [[c["name"], comma(c["params"]), comma(c["ours_bytes"]), comma(c["paper_bytes"])]
             for c in doc["components"]]
    return [table("", ["", "ours", "paper's accounting"], rows),
            table("per component", ["component", "parameters", "ours (B)", "paper (B)"], parts)]


def export(doc: dict) -> list[dict]:
    t = doc["tokenizer"]
    stages = ", ".join(f"{s['after']} {s['max_abs_diff']:.2g}" for s in doc["worst_stages"])
    rows = [["test texts (mean length)", f"{comma(doc['n'])} ({doc['mean_len']:.1f} tokens)"],
            ["accuracy: C / simulated / float", " / ".join(
                pct(doc[k]) for k in ("c_accuracy", "torch_accuracy", "float_accuracy"))],
            ["argmax agreement, max logit difference",
             f"{pct(doc['agreement'])}, {sci(doc['max_abs_logit_diff'])}"],
            [f"worst text #{doc['worst_index']}: max X difference after", stages],
            ["activations, MAC path", f"{doc['act_dtype']}, {doc['mac_dtype']}"],
            ["arena (without reuse)",
             f"{comma(doc['arena_bytes'])} B ({comma(doc['arena_bytes_without_reuse'])} B)"],
            ["weights", f"{comma(doc['weights_bytes'])} B"],
            [f"code ({doc['code']['target']}, -Os), export flash",
             f"{comma(doc['code']['code_bytes'])} B, {comma(doc['flash_bytes'])} B"],
            ["MACs at n = l / at the mean n",
             f"{comma(doc['macs_at_max_len'])} / {comma(doc['macs_at_mean_len'])}"],
            ["C tokenizer: tables, code + tables, scratch",
             f"{comma(t['table_bytes'])} B, {comma(t['flash_bytes'])} B, {comma(t['scratch_bytes'])} B"],
            ["tokenizer = Python: test texts, generated strings",
             f"{pct(doc['tokenizer_agreement'])} of {comma(doc['tokenizer_n'])}, "
             f"{pct(doc['tokenizer_fuzz_agreement'])} of {comma(doc['tokenizer_fuzz_n'])}"],
            ["export / verify time", f"{doc['export_seconds']:.1f} s / {doc['verify_seconds']:.1f} s"]]
    return [table("", ["", ""], rows)]


def stage_text(ticks: float) -> str:
    return mega(ticks, 2) if ticks >= 10_000 else comma(ticks)


def bench(doc: dict) -> list[dict]:
    lat, unit = doc["latency"], doc["latency"]["unit"]
    # records store keys sorted; show the stages in pipeline order
    order = sorted(doc["stages"], key=lambda k: (k != "embed", k == "head", k))
    stages = ", ".join(f"{k} {stage_text(doc['stages'][k])}" for k in order)
    rows = [["board (port), texts", f"{doc['board']} ({doc['port']}), {comma(doc['n'])}"],
            ["accuracy: device / host C", f"{pct(doc['accuracy'])} / {pct(doc['host_accuracy'])}"],
            ["agreement, max logit difference (tolerance)",
             f"{pct(doc['agreement'])}, {sci(doc['max_logit_diff'])} ({sci(doc['logit_tolerance'])})"],
            [f"{unit} per inference: min / mean / max",
             " / ".join(mega(lat[k]) for k in ("min", "mean", "max"))],
            [f"mean {unit} per stage", stages],
            ["peak RAM = arena + stack + harness buffers",
             f"{comma(doc['peak_ram_bytes'])} B = {comma(doc['arena_bytes'])} + "
             f"{comma(doc['stack_bytes'])} + {comma(doc['static_buffer_bytes'])}, "
             f"of {comma(doc['board_ram_bytes'])}"],
            ["flash (code + weights + .data)",
             f"{comma(doc['flash_bytes'])} B of {comma(doc['board_flash_bytes'])}"],
            ["flash + peak RAM vs budget",
             f"{comma(doc['total_bytes'])} B of {comma(doc['budget_bytes'])}"
             if doc["budget_bytes"] is not None else f"{comma(doc['total_bytes'])} B (no --budget)"]]
    per_mac = doc.get(f"{unit}_per_mac")
    if per_mac is not None:  # benches since the per-MAC figures
        stage = doc.get(f"stage_{unit}_per_mac", {})
        rows.insert(4, [f"{unit} per MAC (total / total; mean MACs)",
                        f"{per_mac:.2f} ({mega(doc['macs_per_inference'])} MACs)"])
        rows.insert(5, [f"{unit} per MAC per stage",
                        ", ".join(f"{k} {stage[k]:.2f}" for k in order if k in stage)])
    return [table("", ["", ""], rows)]


def host(doc: dict) -> list[dict]:
    rows = [[r["sample"], f"{r['c_ms']:.3f}", f"{r['onnxruntime_ms']:.3f}",
             f"{r['c_over_onnxruntime']:.2f}"] for r in doc["rows"]]
    return [table(f"one thread, medians of {doc['rounds']} interleaved rounds of {doc['reps']} "
                  f"inferences; {doc['mac_dtype']} MACs; onnxruntime {doc['onnxruntime']}",
                  ["sample", "C (ms)", "onnxruntime (ms)", "C / onnxruntime"], rows)]


def profile(doc: dict) -> list[dict]:
    tables = []
    for r in doc["runs"]:
        kernels = sorted(r["kernels"].items(), key=lambda kv: -kv[1])  # records sort keys
        rows = [[k, mega(v), pct(v / r["instructions"])] for k, v in kernels]
        per_mac = f", {r['instructions_per_mac']:.2f} per MAC" if r.get("instructions_per_mac") else ""
        tables.append(table(f"n = {r['n']} on {doc['core']}: {mega(r['instructions'])} "
                            f"instructions{per_mac} ({doc['mac_dtype']} MACs)",
                            ["kernel", "instructions", "share"], rows))
    return tables


def training(doc: dict) -> list[dict]:
    rows = [[r["data"], *recipe_labels(r),
             f"{pct(r['correct'] / r['n'])} ({r['correct']}/{r['n']})",
             f"{r['best_epoch']} of {r['epochs']}", pct(doc["floor_accuracy"][r["data"]]),
             f"{r['minutes']:.1f} min", r["commit"], f"`{r['command']}`"] for r in doc["rows"]]
    pre = doc["pretrain"]
    notes = [["pretraining", f"{comma(pre['steps'])} MLM+NSP steps, {pre['minutes']} min, "
              f"MLM {pre['mlm_nats']} nats (`{pre['command']}`, {pre['commit']})"],
             ["n-gram teacher (test)", ", ".join(f"{k} {pct(v)}" for k, v in
                                                 doc["teacher_accuracy"].items())],
             ["n-gram recipe, seeds " + ", ".join(doc["seeds"]["accuracy"]),
              ", ".join(pct(v) for v in doc["seeds"]["accuracy"].values())
              + f" ({doc['seeds']['command']})"],
             ["default, quantized", pct(doc["quantized_accuracy"])]]
    return [table("", ["data", "pretraining", "distillation", "test accuracy", "best epoch",
                       "TF-IDF floor", "time", "commit", "command"], rows),
            table("", ["", ""], notes)]


def intmac(doc: dict) -> list[dict]:
    f, i = doc["f32"], doc["int8"]

    def row(label, key, fmt):
        return [label, fmt(f[key]), fmt(i[key])]

    rows = [row(f"export --verify accuracy ({comma(doc['verify_n'])} texts, float "
                f"{pct(doc['float_accuracy'])})", "verify_accuracy", pct),
            row("agreement C vs simulated", "agreement", pct),
            row("max logit difference", "max_logit_diff", sci),
            row("arena (B)", "arena_bytes", comma),
            row(f"bench --limit {doc['bench_limit']}: device accuracy", "device_accuracy", pct),
            row("device vs host max logit difference", "device_max_logit_diff", sci),
            row("instructions per inference, mean", "instructions_mean", mega),
            row("instructions per MAC", "instructions_per_mac", str),
            row(f"n = {doc['long_n']}: instructions per inference", "long_instructions", mega),
            row(f"n = {doc['long_n']}: instructions per MAC", "long_instructions_per_mac", str),
            row("flash", "flash_bytes", kb), row("peak RAM", "peak_ram_bytes", kb)]
    return [table(doc["board"], ["", "--mac f32", "--mac int8"], rows)]


def tokenizer(doc: dict) -> list[dict]:
    bt, cm = doc["bench_text"], doc["cmake_example"]
    rows = [["C = Python ids: test splits", " + ".join(comma(n) for n in doc["test_set_sizes"])],
            ["generated strings (comparisons), differing",
             f"{comma(doc['generated_strings'])} ({comma(doc['comparisons'])}), {doc['differ']}"],
            ["stack at most (-fstack-usage)", f"about {doc['stack_bytes_max']} B"],
            ["CMake example = predict --engine c / torch", f"{comma(cm['agree_c'])} / "
             f"{comma(cm['agree_torch'])} of {comma(cm['texts'])} texts"],
            ["CMake example, predict c, predict torch", ", ".join(seconds_text(cm[k]) for k in (
                "seconds_classify", "seconds_predict_c", "seconds_predict_torch"))],
            [f"bench --text on {bt['board']}, {comma(bt['n'])} texts: device / host",
             f"{pct(bt['accuracy'])} / {pct(bt['host_accuracy'])}, agreement "
             f"{pct(bt['agreement'])}, max logit difference {sci(bt['max_logit_diff'])}"],
            ["tokenizer instructions per text min / mean / max (share)",
             " / ".join(comma(bt[f"tokenizer_instructions_{k}"]) for k in ("min", "mean", "max"))
             + f" ({pct(bt['tokenizer_share'])})"],
            ["peak RAM (harness buffers), flash", f"{kb(bt['peak_ram_bytes'])} "
             f"({kb(bt['static_buffer_bytes'])}), {kb(bt['flash_bytes'])}"]]
    return [table("", ["", ""], rows)]


def fuzz(doc: dict) -> list[dict]:
    rows = [[c["case"], c["sessions"], c["outcome"], f"{c['slowest_s']:.2f} s"] for c in doc["cases"]]
    rows.append(["total", doc["sessions"], f"findings {doc['findings']}", ""])
    return [table(f"{doc['seconds']} s, {doc['request_wait_seconds']} s per request wait",
                  ["case", "sessions", "outcome", "slowest"], rows)]


def plain(doc: dict) -> list[dict]:
    rows = [[k, v] for k, v in doc.items() if isinstance(v, (int, float, str, bool))]
    return [table("", ["", ""], rows)]


KINDS = {"memory": memory, "export": export, "bench": bench, "host": host, "profile": profile,
         "training": training,
         "intmac": intmac, "tokenizer": tokenizer, "fuzz": fuzz}


def transcribed_tables(doc: dict) -> list[dict]:
    """A passage moved from the docs as it was: its tables, cell by cell."""
    return [table(t["title"], t["columns"], t["rows"]) for t in doc["tables"]]


def record_section(record: dict) -> dict:
    kind = record["name"].split("-")[0]
    doc = record["document"]
    tables = transcribed_tables(doc) if "tables" in doc else KINDS.get(kind, plain)(doc)
    return {"name": record["name"], "date": record["date"], "commit": record["commit"],
            "command": record["command"], "machine": record["machine"],
            "source": record["source"], "note": record.get("note", ""),
            "seconds": seconds_text(record["seconds"]) if "seconds" in record else "",
            "dirty": record.get("dirty", False), "tables": tables,
            "notes": doc.get("notes", []) if "tables" in doc else []}


def kernels(doc: dict) -> list[dict]:
    cores = list(next(iter(doc.values())))
    columns = ["kernel"] + [f"{core} {v}" for core in cores for v in ("ref", "twin")]
    rows = [[name] + [f"{doc[name][core][v]:.2f}" if doc[name][core][v] is not None else ""
                      for core in cores for v in ("ref", "opt")] for name in doc]
    return [table("instructions per MAC", columns, rows)]


KINDS["kernels"] = kernels


def quantize(doc: dict) -> list[dict]:
    p = doc["policy"]
    history = ", ".join(f"epoch {h['epoch']} {pct(h['val_accuracy'])}"
                        for h in doc["recovery"]["history"])
    rows = [["policy", f"block {p['block']}, fallback {p['fallback']}, threshold "
             f"{p['threshold']}, activations {p['act_dtype']}, MACs {p['mac_dtype']}"],
            [f"accuracy on {doc['test_split']} test ({comma(doc['n_test'])}): fp32 / quantized "
             "/ recovered", " / ".join(pct(doc[k]) for k in
                                       ("fp32_accuracy", "quant_accuracy", "recovered_accuracy"))],
            ["drop after recovery", f"{doc['drop_points']:.2f} points"],
            ["recovery, validation accuracy per epoch", history],
            ["weights (+ folded lambdas)",
             f"{comma(doc['weights_bytes'])} B (+ {doc['lambda_bytes']} B)"]]
    shares = [[kind, comma(doc[f"{kind}_params"]), pct(doc[f"{kind}_param_share"])]
              for kind in ("int8", "f16", "f32")]
    shares.append(["packed total", comma(doc["params"]), pct(1.0)])
    sweep = [[str(r["threshold"]), pct(r["f16_param_share"]), comma(r["weights_bytes"]),
              pct(r["val_accuracy"])] for r in doc.get("threshold_sweep") or []]
    tables = [table("", ["", ""], rows), table("parameters", ["", "parameters", "share"], shares)]
    if sweep:
        tables.append(table("threshold sweep (--threshold auto), on the validation slice",
                            ["threshold", "fp16 share", "weights (B)", "validation accuracy"],
                            sweep))
    return tables


KINDS["quantize"] = quantize
