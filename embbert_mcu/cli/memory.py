"""`embbert-mcu memory`: parameters and bytes per component against a budget."""

from __future__ import annotations

import click

from ..config import BLOCK_SIZES, DEFAULT_BUDGET_BYTES, PRESETS, preset
from ..units import fmt_bytes, parse_bytes
from . import cli, emit_json, info
from .options import MAX_LEN


@cli.command()
@click.option("--preset", "preset_name", type=click.Choice(list(PRESETS)), default="base",
              show_default=True, help="Model size preset.")
@click.option("--max-len", type=MAX_LEN, help="Override l, the maximum sequence length.")
@click.option("--block", type=click.Choice([str(b) for b in BLOCK_SIZES]), default="32",
              show_default=True, help="Values per int8 weight block (as quantize takes).")
@click.option("--act", type=click.Choice(["int8", "f32"]), default="int8", show_default=True,
              help="How the kernel stores activation rows.")
@click.option("--budget", default=str(DEFAULT_BUDGET_BYTES), show_default=True,
              help="Memory budget (e.g. 781kB, 2MB, 128KiB).")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON document on stdout.")
def memory(preset_name, max_len, block, act, budget, as_json):
    """Parameters and bytes per component: fp32, the paper's accounting, and ours."""
    from ..memory import memory_report

    cfg = preset(preset_name, max_len=max_len)
    report = memory_report(cfg, block=int(block), act=act, budget_bytes=parse_bytes(budget))
    doc = report.to_dict()
    if as_json:
        emit_json(doc)
        return
    info(f"EmbBERT {preset_name}: v={cfg.vocab_size} l={cfg.max_len} d={cfg.d_model} "
         f"rd={cfg.d_embed} N={cfg.n_layers} k={cfg.conv_kernel} alpha={cfg.conv_expansion}")
    info(f"{'component':<12}{'params':>10}{'fp32':>12}{'paper':>12}{'ours':>12}")
    for c in report.components:
        info(f"{c.name:<12}{c.params:>10,}{fmt_bytes(c.fp32_bytes):>12}"
             f"{fmt_bytes(c.paper_bytes):>12}{fmt_bytes(c.ours_bytes):>12}")
    info(f"{'weights':<12}{report.params_total:>10,}{fmt_bytes(doc['fp32']['weights_bytes']):>12}"
         f"{fmt_bytes(doc['paper']['weights_bytes']):>12}{fmt_bytes(report.weights_bytes):>12}")
    info(f"{'activations':<12}{'':>10}{'':>12}{fmt_bytes(doc['paper']['activations_bytes']):>12}"
         f"{fmt_bytes(report.activations_bytes):>12}")
    info(f"{'total':<12}{'':>10}{'':>12}{fmt_bytes(doc['paper']['total_bytes']):>12}"
         f"{fmt_bytes(report.total_bytes):>12}")
    verdict = "fits" if doc["fits"] else "OVER"
    info(f"ours: {fmt_bytes(report.total_bytes)} of a {fmt_bytes(report.budget_bytes)} budget: "
         f"{verdict} (classifier head: {report.head_params} more parameters)")
