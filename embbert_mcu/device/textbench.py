"""`bench --text`: stream raw text to the device, which tokenizes and infers (TEXT requests).

Besides what ``bench`` reports, it checks the device's ids against the Python tokenizer
(``tokenizer_agreement``), and reports the tokenizer's share of the instructions (or
cycles), its flash (const tables + code, from the export) and RAM (the static scratch and
the id buffer of the harness; its stack is inside the painted stack peak).

Sentence pairs are refused: a TEXT request carries one text, and the device tokenizer
encodes one text as ``[CLS] text``. Splitting a payload at a separator byte would give a
control character a meaning it has nowhere else in the C tokenizer, and BERT's
longest-first cut needs both texts tokenized before either is cut, which the streaming
tokenizer does not do; plain ``bench`` runs pair ids on the device as they are.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Callable, Iterable

from ..errors import UsageError
from .bench import check_identity, compare, latency, memory
from ..export.manifest import Manifest
from ..export.testset import load_testset
from .link import Device
from ..reading import text_cap


PAIR_REFUSAL = "bench --text sends one text per request; this test set holds sentence pairs"
PAIR_HINT = "run bench without --text: the device runs the pairs' token ids ([CLS] a [SEP] b [SEP])"


def cut_utf8(data: bytes, limit: int) -> bytes:
    """The longest prefix of at most ``limit`` bytes that does not split a character."""
    if len(data) <= limit:
        return data
    cut = limit
    while cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return data[:cut]


def text_samples(model_dir: str | Path, test: str | Path | None = None,
                 limit: int | None = None) -> list[dict]:
    """[{text, label}]: the export's test texts, or a CSV/JSONL file's (labels by name)."""
    model_dir = Path(model_dir)
    manifest = Manifest.load(model_dir)
    if test is None:
        rows = load_testset(model_dir, need_text=True)
        if any("text_pair" in r for r in rows):
            raise UsageError(PAIR_REFUSAL, hint=PAIR_HINT)
        samples = [{"text": r["text"], "label": r["label"]} for r in rows]
    else:
        from ..datasets.files import read_rows

        texts, pairs, names = read_rows(test)
        if pairs is not None:
            raise UsageError(PAIR_REFUSAL, hint=PAIR_HINT)
        index = {str(n): i for i, n in enumerate(manifest.labels)}
        missing = sorted({n for n in names if n not in index})
        if missing:
            raise UsageError(f"label {missing[0]!r} of {test} is not one of the model's labels",
                             hint=f"labels: {', '.join(index)}")
        samples = [{"text": t, "label": index[n]} for t, n in zip(texts, names)]
    samples = samples[:limit] if limit else samples
    if not samples:
        raise UsageError("no test samples to run", hint="check --test and --limit")
    if not manifest.tokenizer:
        raise UsageError(f"{model_dir} has no C tokenizer",
                         hint="re-export with this version of embbert-mcu")
    return samples


def run_text_bench(device: Device, model_dir: str | Path, samples: list[dict],
                   sizes: dict | None = None, budget_bytes: int | None = None, board=None,
                   progress: Callable[[Iterable], Iterable] = iter) -> dict:
    from ..export.host import HostModel
    from ..export.tokhost import python_ids
    from ..tokenizer import EmbTokenizer

    model_dir = Path(model_dir)
    manifest = Manifest.load(model_dir)
    check_identity(device, manifest)
    info = device.info
    sent = [cut_utf8(s["text"].encode("utf-8"), info.max_payload) for s in samples]
    tok = EmbTokenizer.from_json((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    want = python_ids(tok, sent, text_cap(manifest))  # a model reading windows: all they read
    host = HostModel(model_dir).run_many(want)
    dev, ids, ticks, tok_ticks, stages = [], [], [], [], {}
    for data in progress(sent):
        r = device.text(data)
        dev.append(r.logits)
        ids.append(r.ids)
        ticks.append(r.ticks + r.tokenizer_ticks)
        tok_ticks.append(r.tokenizer_ticks)
        for name, t in device.stages():
            stages[name] = stages.get(name, 0) + t
    stages["tokenizer"] = sum(tok_ticks)
    stats = device.stats()
    rows = [{"ids": w, "label": s["label"]} for w, s in zip(want, samples)]
    report = {"model_sha256": manifest.model_sha256, "device_board": info.board,
              "port": info.port, "clock_hz": info.clock_hz, "text": True,
              "mean_len": statistics.mean(len(w) for w in want),
              "weights_bytes": manifest.weights_bytes,
              "texts_cut": sum(len(d) < len(s["text"].encode("utf-8"))
                               for d, s in zip(sent, samples)),
              "text_max_bytes": info.max_payload}
    report.update(compare(rows, dev, host, manifest.mac_dtype))
    report.update(latency(info, ticks, stages, len(samples)))
    report.update(memory(info, stats, sizes, budget_bytes, board))
    report.update(_tokenizer_figures(manifest, ids, want, ticks, tok_ticks, info))
    report["device_errors"] = stats.n_errors
    return report


def _tokenizer_figures(manifest: Manifest, ids, want, ticks, tok_ticks, info) -> dict:
    tok = manifest.tokenizer
    differ = [i for i, (a, b) in enumerate(zip(ids, want)) if a != b]
    return {
        "tokenizer_agreement": 1 - len(differ) / len(want),
        "tokenizer_disagreements": differ[:20],
        "tokenizer_share": sum(tok_ticks) / sum(ticks) if sum(ticks) else 0.0,
        "tokenizer_per_text": {"min": min(tok_ticks) * info.tick_scale,
                               "mean": statistics.mean(tok_ticks) * info.tick_scale,
                               "max": max(tok_ticks) * info.tick_scale, "unit": info.tick_unit},
        "tokenizer_table_bytes": tok["table_bytes"],
        "tokenizer_ram_bytes": tok["scratch_bytes"] + 2 * text_cap(manifest),
    }


def check_text(report: dict) -> None:
    from ..errors import VerificationError

    if report["tokenizer_agreement"] < 1.0:
        raise VerificationError(
            f"the device's tokenizer differs from Python's on "
            f"{1 - report['tokenizer_agreement']:.2%} of {report['n']} texts",
            hint=f"first differing texts: {report['tokenizer_disagreements'][:10]}")


def format_text_lines(r: dict) -> str:
    unit = r["tokenizer_per_text"]["unit"]
    per = r["tokenizer_per_text"]
    rows = [
        ("tokenizer agreement", f"{r['tokenizer_agreement']:.2%} (device ids = Python ids)"),
        (f"tokenizer {unit}/text", f"min {per['min']:,.0f}  mean {per['mean']:,.0f}  "
                                   f"max {per['max']:,.0f}  ({r['tokenizer_share']:.2%} of all)"),
        ("tokenizer flash", f"{r['tokenizer_table_bytes']:,} B const tables (+ code)"),
        ("tokenizer RAM", f"{r['tokenizer_ram_bytes']:,} B static (scratch + ids)"),
        ("texts cut to fit", f"{r['texts_cut']} (at {r['text_max_bytes']} bytes)"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
