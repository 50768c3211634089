"""Choosing the fp16 fallback threshold on a validation slice (never the test split).

Each candidate threshold is decided on the float weights and measured as it would ship
(exact rounding, before recovery): validation accuracy, fp16 share and weight bytes. The
pick is the most accurate candidate whose weights fit ``max_weights_bytes``; ties go to
fewer bytes.
"""

from __future__ import annotations

from dataclasses import replace

from ..checkpoint import Checkpoint
from ..errors import BudgetError
from ..training.evaluate import evaluate
from ..tokenizer import EmbTokenizer
from . import pack_model, simulated_model
from .decide import decide, tensor_kinds
from .policy import QuantPolicy
from .report import build_report

DEFAULT_CANDIDATES = (0.005, 0.006, 0.007, 0.008, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1)


def threshold_sweep(ckpt: Checkpoint, policy: QuantPolicy, val_texts: list[str],
                    val_labels: list[int], thresholds=DEFAULT_CANDIDATES,
                    pairs: list[str] | None = None) -> list[dict]:
    """One row per threshold: threshold, val_accuracy, f16_param_share, weights_bytes."""
    tok = EmbTokenizer.from_json(ckpt.tokenizer_json)
    kinds = tensor_kinds(ckpt.model())
    rows = []
    for threshold in sorted(thresholds):
        p = policy.with_(threshold=threshold)
        candidate = replace(ckpt, quant={"policy": p.to_dict(),
                                         "tensors": decide(ckpt.state_dict, kinds, p)})
        totals = build_report(ckpt.state_dict, kinds, pack_model(candidate)).totals()
        acc = evaluate(simulated_model(candidate), tok, val_texts, val_labels,
                       pairs=pairs)["accuracy"]
        rows.append({"threshold": threshold, "val_accuracy": acc,
                     "f16_param_share": totals["f16_param_share"],
                     "weights_bytes": totals["weights_bytes"]})
    return rows


def pick_threshold(rows: list[dict], max_weights_bytes: int) -> dict:
    """The most accurate row within the byte budget (fewer bytes on a tie)."""
    fitting = [r for r in rows if r["weights_bytes"] <= max_weights_bytes]
    if not fitting:
        smallest = min(r["weights_bytes"] for r in rows)
        raise BudgetError(
            f"no fallback threshold fits {max_weights_bytes:,} weight bytes "
            f"(the smallest candidate takes {smallest:,})",
            hint="raise --max-weights-bytes, or use --fallback none",
        )
    return max(fitting, key=lambda r: (r["val_accuracy"], -r["weights_bytes"]))
