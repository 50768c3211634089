"""`embbert-mcu export`: a checkpoint to a C inference kernel, optionally verified on the host."""

from __future__ import annotations

import time

import click

from ..errors import UsageError
from ..units import fmt_bytes
from . import cli, emit_json, info
from .options import COUNT


def _command_line(checkpoint: str, prefix: str, act: str | None, mac: str | None,
                  no_onnx: bool, h_columns: bool = True) -> str:
    # Only the options that change the output: the banner must not vary with -o or --json.
    parts = ["embbert-mcu export", checkpoint, "--prefix", prefix]
    parts += ["--act", act] if act else []
    parts += ["--mac", mac] if mac else []
    parts += ["--no-h-columns"] if not h_columns else []
    parts += ["--no-onnx"] if no_onnx else []
    return " ".join(parts)


@cli.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_dir", default="build/model", show_default=True,
              type=click.Path(file_okay=False), help="Export directory (replaced atomically).")
@click.option("--prefix", default="embbert", show_default=True, help="C symbol prefix.")
@click.option("--act", type=click.Choice(["int8", "f32"]), default=None,
              help="Activation storage (default: the checkpoint's quantization policy).")
@click.option("--mac", type=click.Choice(["f32", "int8"]), default=None,
              help="How the kernels multiply: int8 x int8 summed in int32, or float "
                   "(default: the checkpoint's quantization policy; int8 unless it says f32).")
@click.option("--h-columns/--no-h-columns", default=True, show_default=True,
              help="On the integer path, keep H's codes as columns too, for the attention's "
                   "weighted sum: faster, d x max_len more bytes of arena (32 kB for the base "
                   "model); --no-h-columns for a board short of RAM.")
@click.option("--verify", is_flag=True, help="Compile on the host and compare with PyTorch.")
@click.option("--limit", type=COUNT, help="Verify on the first N test texts.")
@click.option("--no-onnx", is_flag=True, help="Do not write model.onnx.")
@click.option("--test", "test_file", type=click.Path(dir_okay=False),
              help="Verify on this CSV/JSONL (text column, text_pair for pairs, label optional) "
                   "or text file.")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON document on stdout.")
def export(checkpoint, out_dir, prefix, act, mac, h_columns, verify, limit, no_onnx, test_file,
           as_json):
    """Export CHECKPOINT as a C library (model, weights, tokenizer, runtime, manifests)."""
    from ..checkpoint import load_checkpoint
    from ..export.exporter import export_checkpoint
    from ..export.sizes import code_size
    from ..export.tokhost import check_tokenizer
    from ..export.verify import check_agreement, verify_export

    import torch

    from ..fileio import check_writable

    check_writable(out_dir, "export directory", min_free_bytes=16 << 20, directory=True)
    # One intra-op thread: the host C runs beside PyTorch in its own process, and small
    # batches gain nothing from more threads (on a shared 2-core host they lose 3x).
    torch.set_num_threads(1)
    if test_file and not verify:
        raise UsageError("--test needs --verify", hint="add --verify")
    user_texts = _read_test(test_file) if test_file else None
    ckpt = rows = None
    if user_texts:  # a --test file of the wrong kind fails before anything is written
        ckpt = load_checkpoint(checkpoint)
        rows = _user_rows(ckpt, *user_texts)
        _check_pairs(ckpt, rows)
    start = time.monotonic()
    result = export_checkpoint(checkpoint, out_dir, prefix=prefix, act_dtype=act, mac_dtype=mac,
                               command=_command_line(checkpoint, prefix, act, mac, no_onnx,
                                                     h_columns),
                               onnx=not no_onnx, h_columns=h_columns)
    doc = {
        "out_dir": str(result.out_dir), "files": result.files,
        "arena_bytes": result.arena_bytes, "arena_bytes_without_reuse": result.naive_arena_bytes,
        "weights_bytes": result.weights_bytes, "macs_at_max_len": result.macs_at_max_len,
        "macs_at_mean_len": result.macs_at_mean_len, "mean_len": result.mean_len,
        "act_dtype": result.manifest.act_dtype, "mac_dtype": result.manifest.mac_dtype,
        "max_len": result.manifest.max_len,
        "export_seconds": round(time.monotonic() - start, 2),
        "fp16_weights": result.fp16_weights,
        # a copy: the flash figure is added below
        "tokenizer": dict(result.manifest.tokenizer) if result.manifest.tokenizer else None,
    }
    info(f"exported {checkpoint} -> {result.out_dir} in {doc['export_seconds']} s")
    if result.fp16_weights and not result.quantized:
        info(f"note: {checkpoint} is not quantized, so the default policy kept "
             f"{result.fp16_weights:,} weights in fp16 blocks, which run at float speed; "
             f"`embbert-mcu quantize {checkpoint} --fallback none -o q.pt` makes them all int8")
    if verify:
        ckpt = ckpt or load_checkpoint(checkpoint)
        report = verify_export(ckpt, result.out_dir, limit=limit, rows=rows)
        doc.update(report.to_dict())
        doc.update(_verify_tokenizer(ckpt, result, limit, rows))
        doc["macs_at_mean_len"] = result.macs_at_mean_len
        doc["code"] = code_size(result.out_dir)
        doc["flash_bytes"] = doc["code"]["code_bytes"] + result.weights_bytes
        tok_file = f"{result.manifest.prefix}_tokenizer.c"
        if doc["tokenizer"] and tok_file in doc["code"]["files"]:
            doc["tokenizer"]["flash_bytes"] = doc["code"]["files"][tok_file]
        doc["verify_seconds"] = round(time.monotonic() - start - doc["export_seconds"], 2)
    if as_json:
        emit_json(doc)
    else:
        _print_report(doc, verify)
    if verify:
        check_agreement(report)
        check_tokenizer(doc)


def _read_test(path: str) -> tuple[list[str], list[str] | None, list[str] | None]:
    from ..datasets.texts import read_items

    return read_items(path)


def _user_rows(ckpt, texts: list[str], pairs: list[str] | None,
               labels: list[str] | None) -> list[dict]:
    """The user's texts as verify rows, tokenized by the checkpoint's tokenizer."""
    from ..datasets import encode_labels
    from ..export.testset import checkpoint_tokenizer
    from ..reading import text_cap

    ids = checkpoint_tokenizer(ckpt).encode_many(texts, max_len=text_cap(ckpt.config), pairs=pairs)
    codes = encode_labels(labels, ckpt.labels, "--test") if labels else [-1] * len(texts)
    rows = [{"ids": s, "label": y, "text": t} for s, y, t in zip(ids, codes, texts)]
    for row, b in zip(rows, pairs or []):
        row["text_pair"] = b
    return rows


def _check_pairs(ckpt, rows: list[dict] | None) -> None:
    """A pair model verified on single texts (or the reverse) would compare meaningless ids."""
    split = ckpt.test_split or {}
    model_pairs = "pairs" in split or bool((ckpt.metrics or {}).get("pairs"))
    if rows is not None and model_pairs != ("text_pair" in rows[0]):
        kind = "sentence pairs" if model_pairs else "single texts"
        raise UsageError(f"the checkpoint classifies {kind} but --test holds "
                         f"{'single texts' if model_pairs else 'text pairs'}",
                         hint="give --test a file of the kind the model was trained on")


def _verify_tokenizer(ckpt, result, limit, rows) -> dict:
    from ..export.testset import checkpoint_tokenizer, load_testset
    from ..export.tokhost import verify_tokenizer
    from ..reading import text_cap

    rows = rows if rows is not None else load_testset(result.out_dir, None)
    # both texts of a pair go through the C tokenizer, each as a single text
    texts = [r[k] for r in rows[:limit or None] for k in ("text", "text_pair") if k in r]
    return verify_tokenizer(checkpoint_tokenizer(ckpt), result.out_dir,
                            result.manifest.prefix, texts, text_cap(ckpt.config))


def _print_report(doc: dict, verified: bool) -> None:
    info(f"arena    {fmt_bytes(doc['arena_bytes'])} ({doc['arena_bytes']} B; "
         f"{doc['arena_bytes_without_reuse']} B without reuse), act {doc['act_dtype']}")
    info(f"weights  {fmt_bytes(doc['weights_bytes'])} ({doc['weights_bytes']} B) in flash")
    info(f"MACs     {doc['macs_at_max_len']:,} at n = l = {doc['max_len']}; "
         f"{doc['macs_at_mean_len']:,} at the test mean n = {doc['mean_len']:.1f}")
    if not verified:
        return
    code = doc["code"]
    info(f"code     {fmt_bytes(code['code_bytes'])} ({code['code_bytes']} B, {code['target']} -Os)"
         f"; flash total {fmt_bytes(doc['flash_bytes'])}")
    info(f"C logits     {' '.join(f'{v:+.6f}' for v in doc['first_logits_c'])}")
    info(f"torch logits {' '.join(f'{v:+.6f}' for v in doc['first_logits_torch'])}")
    stages = ", ".join(f"{r['after']} {r['max_abs_diff']:.2g}" for r in doc["worst_stages"])
    info(f"worst text #{doc['worst_index']}: max |X diff| after {stages or '-'}")
    acc = " / ".join(f"{name} {'n/a' if doc[key] is None else format(doc[key], '.2%')}"
                     for name, key in (("C", "c_accuracy"), ("simulated", "torch_accuracy"),
                                       ("float", "float_accuracy")))
    info(f"verify on {doc['n']} texts: agreement {doc['agreement']:.2%}, max |logit diff| "
         f"{doc['max_abs_logit_diff']:.3g}, accuracy {acc}")
    tok = doc.get("tokenizer") or {}
    info(f"tokenizer    C = Python ids on {doc['tokenizer_agreement']:.2%} of "
         f"{doc['tokenizer_n']} texts and {doc['tokenizer_fuzz_agreement']:.2%} of "
         f"{doc['tokenizer_fuzz_n']} generated strings; tables "
         f"{fmt_bytes(tok.get('table_bytes', 0))}"
         f" const, {fmt_bytes(tok.get('flash_bytes', 0))} flash with code, scratch "
         f"{tok.get('scratch_bytes', 0)} B static")
