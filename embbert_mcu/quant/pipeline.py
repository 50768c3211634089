"""`quantize` as a library call: measure fp32, quantize, recover, re-decide, report.

Accuracy is always measured on the checkpoint's stored test split; every choice (the best
recovery epoch) is made on a validation slice, never on the test split.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..checkpoint import Checkpoint
from ..errors import CheckpointError, DataError, UsageError
from ..reading import split_many, text_cap
from ..training.evaluate import encode_batch, evaluate
from ..tokenizer import EmbTokenizer
from . import pack_model, simulated_model
from .decide import decide, tensor_kinds
from .policy import QuantPolicy
from .recover import RecoverOptions, recover
from .report import build_report


@dataclass
class RecoveryData:
    source: str  # dataset name or file path
    train_texts: list[str] = field(default_factory=list)
    train_labels: list[int] = field(default_factory=list)
    val_texts: list[str] = field(default_factory=list)
    val_labels: list[int] = field(default_factory=list)
    train_pairs: list[str] | None = None  # the second texts of sentence pairs
    val_pairs: list[str] | None = None


def with_decisions(ckpt: Checkpoint, state_dict: dict, policy: QuantPolicy,
                   decisions: dict | None = None) -> Checkpoint:
    """``ckpt`` with new float weights and quant record (decided now unless given)."""
    if decisions is None:
        decisions = decide(state_dict, tensor_kinds(ckpt.model()), policy)
    return replace(ckpt, state_dict=state_dict,
                   quant={"policy": policy.to_dict(), "tensors": decisions})


def quantize_checkpoint(ckpt: Checkpoint, policy: QuantPolicy, data: RecoveryData | None,
                        opts: RecoverOptions) -> tuple[Checkpoint, dict]:
    """(the quantized checkpoint, the result document) for ``ckpt`` under ``policy``."""
    test = _test_split(ckpt)
    if opts.epochs > 0 and (data is None or not data.train_texts):
        raise UsageError("the recovery fine-tune needs training data",
                         hint="pass --train FILE, or --recover-epochs 0 to skip recovery")
    tok = EmbTokenizer.from_json(ckpt.tokenizer_json)
    def acc(model, texts, labels, pairs=None) -> float:
        return evaluate(model, tok, texts, labels, pairs=pairs)["accuracy"]

    fp32 = acc(ckpt.model(), *test)
    start = with_decisions(ckpt, ckpt.state_dict, policy)
    quant = acc(simulated_model(start), *test)
    history = []
    state, decisions = ckpt.state_dict, start.quant["tensors"]
    if opts.epochs > 0:
        def score(candidate: dict) -> float:  # validation accuracy as it would ship
            fixed = None if policy.redecide else decisions
            shipped = with_decisions(ckpt, candidate, policy, fixed)
            return acc(simulated_model(shipped), data.val_texts, data.val_labels, data.val_pairs)

        texts_ids = encode_batch(tok, data.train_texts, text_cap(ckpt.config), data.train_pairs)
        train_ids, owner = split_many(texts_ids, ckpt.config)  # a window a row, as in training
        train_labels = [data.train_labels[i] for i in owner]
        state, history = recover(ckpt.model(), policy, train_ids, train_labels, score, opts)
        if policy.redecide:
            decisions = None
    out = with_decisions(ckpt, state, policy, decisions)
    recovered = acc(simulated_model(out), *test)
    report = build_report(out.state_dict, tensor_kinds(out.model()), pack_model(out))
    accuracy = {"fp32_accuracy": fp32, "quant_accuracy": quant, "recovered_accuracy": recovered,
                "test_split": _split_name(ckpt), "n_test": len(test[0])}
    out.quant.update(report=report.to_dict(), accuracy=accuracy,
                     recovery={"history": history, "data": data.source if data else None,
                               "options": {k: v for k, v in vars(opts).items() if k != "progress"}})
    doc = {**accuracy, "drop_points": round(100 * (fp32 - recovered), 2),
           **report.totals(), "policy": policy.to_dict(), "recovery": out.quant["recovery"],
           "tensors": report.to_dict()["tensors"]}
    return out, doc


def _split_name(ckpt: Checkpoint) -> str:
    return str((ckpt.test_split or {}).get("name", ""))


def _test_split(ckpt: Checkpoint) -> tuple[list[str], list[int], list[str] | None]:
    split = ckpt.test_split
    if not split or not split.get("texts"):
        raise CheckpointError("the checkpoint stores no test split to measure accuracy on",
                              hint="fine-tune it with `embbert-mcu train`, which stores one")
    texts, labels = list(split["texts"]), [int(y) for y in split["labels"]]
    pairs = list(split["pairs"]) if split.get("pairs") is not None else None
    if (len(texts) != len(labels) or any(not 0 <= y < ckpt.config.n_classes for y in labels)
            or (pairs is not None and len(pairs) != len(texts))):
        raise CheckpointError("the checkpoint's test split is malformed")
    return texts, labels, pairs


def recovery_data(ckpt: Checkpoint, train_file: str | None = None, seed: int = 0) -> RecoveryData:
    """Training rows and a validation slice: ``train_file``, or the dataset the checkpoint names."""
    from ..datasets import encode_labels, load_dataset, read_rows, stratified_indices

    metrics = ckpt.metrics or {}
    if not train_file and metrics.get("train_file"):
        train_file = metrics["train_file"]  # the resolved path `train --train` recorded
        if not Path(train_file).is_file():
            raise DataError(f"the checkpoint was trained on {train_file}, which is gone",
                            hint="pass --train FILE (the training CSV/JSONL), or "
                                 "--recover-epochs 0 to skip recovery")
    if train_file:
        texts, pairs, names = read_rows(train_file)
        labels = encode_labels(names, ckpt.labels, str(train_file))
        val_idx, train_idx = stratified_indices(labels, (0.1,), seed)
        pick = lambda rows, xs: None if xs is None else [xs[i] for i in rows]  # noqa: E731
        return RecoveryData(str(train_file), pick(train_idx, texts), pick(train_idx, labels),
                            pick(val_idx, texts), pick(val_idx, labels),
                            pick(train_idx, pairs), pick(val_idx, pairs))
    name = (ckpt.metrics or {}).get("dataset")
    if not name:
        raise UsageError("the checkpoint does not name the dataset it was trained on",
                         hint="pass --train FILE, or --recover-epochs 0 to skip recovery")
    from ..datasets.sets import BUILTINS

    if name not in BUILTINS and not str(name).startswith("hf:"):
        raise DataError(f"the checkpoint was trained on {name!r}, a file whose path it does "
                        "not record", hint="pass --train FILE (the training CSV/JSONL), or "
                                           "--recover-epochs 0 to skip recovery")
    try:
        ds = load_dataset(name)
    except (DataError, UsageError) as exc:
        raise DataError(f"cannot load {name!r}, the checkpoint's dataset: {exc.message}",
                        hint="pass --train FILE (the training CSV/JSONL) instead") from None
    if list(ds.labels) != list(ckpt.labels):
        raise DataError(f"dataset {name} has labels {ds.labels}, the checkpoint {ckpt.labels}",
                        hint="pass --train FILE with the checkpoint's labels")
    return RecoveryData(name, ds.train.texts, ds.train.labels, ds.val.texts, ds.val.labels,
                        ds.train.pairs, ds.val.pairs)


def choose_threshold(ckpt: Checkpoint, policy: QuantPolicy, data: RecoveryData,
                     max_weights_bytes: int) -> tuple[QuantPolicy, list[dict]]:
    """``policy`` with the threshold picked on the validation slice, and the sweep rows."""
    from .sweep import pick_threshold, threshold_sweep

    if data is None or not data.val_texts:
        raise UsageError("--threshold auto needs a validation slice",
                         hint="pass --train FILE, or give a number to --threshold")
    rows = threshold_sweep(ckpt, policy, data.val_texts, data.val_labels,
                           pairs=data.val_pairs)
    return policy.with_(threshold=pick_threshold(rows, max_weights_bytes)["threshold"]), rows
