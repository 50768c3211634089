"""`embbert-mcu quantize`: block-wise int8 weights with fp16 fallback, recovery, a report."""

from __future__ import annotations

import math

import click

from ..quant.policy import (ACT_DTYPES, BLOCK_SIZES, DEFAULT_THRESHOLD, FALLBACK_RULES, MAC_DTYPES,
                            QuantPolicy)
from ..units import fmt_bytes, parse_bytes
from . import cli, emit_json, info
from .options import LR, SEED, THREADS, number


@cli.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Quantized checkpoint to write.")
@click.option("--block", type=click.Choice([str(b) for b in BLOCK_SIZES]), default="32",
              show_default=True, help="Values per int8 block (one fp16 scale each).")
@click.option("--fallback", type=click.Choice(FALLBACK_RULES), default="block", show_default=True,
              help="What may fall back to fp16: nothing, whole tensors, or blocks of linear weights.")
@click.option("--threshold", default=str(DEFAULT_THRESHOLD), show_default=True,
              help="Relative RMS error above which a block (or tensor) is kept in fp16, or "
                   "'auto': the most accurate candidate on the validation slice that fits "
                   "--max-weights-bytes.")
@click.option("--max-weights-bytes", default="400kB", show_default=True,
              help="Weight budget for --threshold auto (e.g. 400kB).")
@click.option("--act", type=click.Choice(ACT_DTYPES), default="int8", show_default=True,
              help="How the kernel stores activation rows.")
@click.option("--mac", type=click.Choice(MAC_DTYPES), default=QuantPolicy.mac_dtype,
              show_default=True,
              help="How the kernels multiply: int8 x int8 in int32 (convs int8 too) or float.")
@click.option("--recover-epochs", type=number(int, 0, 1000), default=2, show_default=True,
              help="Quantization-aware recovery epochs (0 skips recovery).")
@click.option("--lr", type=LR, default=1e-4, show_default=True, help="Recovery learning rate.")
@click.option("--redecide/--no-redecide", default=True, show_default=True,
              help="Re-decide the fp16 fallback on the recovered weights.")
@click.option("--train", "train_file", type=click.Path(dir_okay=False),
              help="CSV/JSONL (text,label) for recovery; default: the checkpoint's dataset.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--threads", type=THREADS, default=1, show_default=True, help="Torch CPU threads.")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON document on stdout.")
def quantize(checkpoint, output, block, fallback, threshold, max_weights_bytes, act, mac,
             recover_epochs, lr, redecide, train_file, seed, threads, as_json):
    """Quantize a classifier, recover its accuracy, and report each tensor."""
    import torch

    from ..checkpoint import load_checkpoint, save_checkpoint
    from ..errors import UsageError
    from ..quant.pipeline import choose_threshold, quantize_checkpoint, recovery_data
    from ..quant.recover import RecoverOptions

    from ..fileio import check_writable

    torch.set_num_threads(max(1, threads))  # shared machines: one thread unless asked
    check_writable(output, "checkpoint", min_free_bytes=8 << 20)
    if recover_epochs < 0 or lr <= 0:
        raise UsageError("--recover-epochs must be >= 0 and --lr positive")
    auto = threshold.strip().lower() == "auto"
    policy = QuantPolicy(block=int(block), fallback=fallback, act_dtype=act, mac_dtype=mac,
                         redecide=redecide,
                         threshold=DEFAULT_THRESHOLD if auto else _threshold(threshold))
    ckpt = load_checkpoint(checkpoint)
    data = recovery_data(ckpt, train_file, seed) if recover_epochs > 0 or auto else None
    if data is not None:
        info(f"data: {data.source} (train {len(data.train_texts)}, "
             f"validation {len(data.val_texts)})")
    sweep = None
    if auto:
        policy, sweep = choose_threshold(ckpt, policy, data, parse_bytes(max_weights_bytes))
        info(f"threshold auto: picked {policy.threshold} on the validation slice")
    opts = RecoverOptions(epochs=recover_epochs, lr=lr, seed=seed, progress=not as_json)
    out, doc = quantize_checkpoint(ckpt, policy, data, opts)
    if sweep is not None:
        doc["threshold_sweep"] = out.quant["threshold_sweep"] = sweep
    save_checkpoint(out, output)
    doc["checkpoint"] = str(output)
    if as_json:
        emit_json(doc)
        return
    _print_report(doc)
    info(f"wrote {output}")


def _threshold(text: str) -> float:
    from ..errors import UsageError

    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--threshold {text!r} is neither a number nor 'auto'") from None
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"--threshold {text!r} must be a finite number >= 0 (or 'auto')")
    return value


def _print_report(doc: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="quantized tensors", title_justify="left")
    for column in ("tensor", "shape", "enc", "fp16 %", "bytes", "max err", "mean err", "rel err"):
        table.add_column(column, justify="left" if column in ("tensor", "enc") else "right",
                         no_wrap=True)
    for t in doc["tensors"]:
        table.add_row(t["name"].removeprefix("backbone."), "x".join(map(str, t["shape"])), t["encoding"],
                      f"{100 * t['f16_values'] / t['numel']:.1f}", f"{t['bytes']:,}",
                      f"{t['max_abs_err']:.2e}", f"{t['mean_abs_err']:.2e}", f"{t['rel_err']:.4f}")
    console = Console(stderr=True)
    if not console.is_terminal:  # a pipe or a log: do not wrap at rich's default 80 columns
        console = Console(stderr=True, width=120)
    console.print(table)
    for row in doc.get("threshold_sweep") or []:
        info(f"threshold {row['threshold']:<7} val accuracy {row['val_accuracy']:.4f}  fp16 "
             f"{100 * row['f16_param_share']:.2f}%  weights {fmt_bytes(row['weights_bytes'])}")
    info(f"parameters: {doc['params']:,} packed; int8 {100 * doc['int8_param_share']:.2f}%, "
         f"fp16 {100 * doc['f16_param_share']:.2f}%, fp32 {100 * doc['f32_param_share']:.2f}%")
    info(f"weights: {fmt_bytes(doc['weights_bytes'])} ({doc['weights_bytes']:,} bytes) "
         f"+ {doc['lambda_bytes']} bytes of folded lambdas")
    info(f"accuracy on {doc['test_split']} (n={doc['n_test']}): fp32 {doc['fp32_accuracy']:.4f}, "
         f"quantized {doc['quant_accuracy']:.4f}, recovered {doc['recovered_accuracy']:.4f} "
         f"({change_points(doc['drop_points'])})")


def change_points(drop_points: float) -> str:
    """'drop 1.01 points' or 'gain 1.01 points' (never a negative drop)."""
    if drop_points == 0:
        return "no change"
    word = "drop" if drop_points > 0 else "gain"
    return f"{word} {abs(drop_points):.2f} point{'' if abs(drop_points) == 1 else 's'}"
