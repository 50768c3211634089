"""Fine-tuning: a classifier from a preset (or a pretrained backbone) on a labelled dataset.

Recipe (CPU): AdamW, peak lr 1e-3 with 6% linear warm-up then linear decay, weight decay 0.05,
batch 32, gradient norm clipped at 1.0, fixed seed. Batches group texts of similar length
and are padded only to their longest member. The epoch with the best validation accuracy
is kept; test accuracy is reported beside the TF-IDF floor on the same split.

With ``distill`` the targets also come from an n-gram teacher over augmented copies of the
training texts (``distill.py``); each epoch then holds ``1 + augment`` rows per text.

With ``windows`` above 1 a text longer than l is read as up to that many windows of l tokens
(``reading.py``): each window is a training row with its text's gold label and soft target,
and validation and test average the windows' logits, as the device does.

With ``ema`` (in epochs) the weights that are validated and kept are an exponential moving
average of the training weights over about that many epochs, not the weights of the last step.
"""

from __future__ import annotations

import copy
import re
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from .. import __version__
from .baseline import tfidf_floor
from ..checkpoint import Checkpoint
from ..config import EmbBertConfig, preset
from ..datasets import Dataset
from .distill import Teaching, augment
from .accel import grad_scaler, init_processes, processes
from .teacher import TEACHERS, TeacherOptions
from .teaching import PooledTeaching, prepare_minilm, with_ngram
from ..errors import DataError, UsageError
from .evaluate import encode_batch, evaluate
from .steps import train_epoch, warmup_linear
from ..model import EmbBertForClassification, build_classifier
from ..reading import split_many, text_cap
from ..tokenizer import EmbTokenizer

WORD = re.compile(r"(?u)\b\w\w+\b")  # the floor's TfidfVectorizer token pattern


@dataclass
class TrainOptions:
    preset: str = "base"
    epochs: int = 10
    max_len: int | None = None  # None: the preset's (or the init checkpoint's) position table
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: float = 0.06  # fraction of all steps
    seed: int = 0
    progress: bool = True
    distill: bool = False
    augment: int = 2  # perturbed copies of each training text per epoch (distill only)
    alpha: float = 0.5  # weight of the gold label on original rows (distill only)
    ema: float = 0.0  # epochs the kept weights are averaged over (exponential); 0 = no average
    teacher: str | None = None  # "minilm": a fine-tuned transformer teacher (teacher.py)
    teacher_epochs: int = 1
    teacher_head_lr: float = 1e-3
    teacher_max_len: int = 128  # the teacher's own tokens (WordPiece), not the student's l
    teacher_windows: int = 1  # windows of teacher_max_len tokens the teacher reads of a text
    teacher_seed: int | None = None  # the teachers' seed; None: seed
    teacher_copies: int = 2  # the fixed pool of perturbed copies the teacher scores
    teacher_replace: float = 0.0  # per word of a copy: replaced by a word of the training text
    teacher_unlabelled: int = 0  # unlabelled sentences the teacher labels (teacher.py)
    teacher_text: str | None = None  # their source; None: the built-in unlabelled text
    temperature: float = 1.0  # softens the transformer teacher's logits into targets
    soft_loss: str = "ce"  # how the student matches the teacher: "ce" on probabilities, "mse" on logits
    device: str = "cpu"  # auto | cpu | cuda | mps (accel.py)
    windows: int = 1  # windows of l tokens read of a longer text (reading.py); 1: the first l
    window_stride: int = 0  # tokens between window starts; 0: l - 1

    @property
    def teachers_seed(self) -> int:
        """The teachers' seed (and a --train file's validation slice): teacher_seed, or seed."""
        return self.seed if self.teacher_seed is None else self.teacher_seed


def train_classifier(
    ds: Dataset, tokenizer: EmbTokenizer, opts: TrainOptions, init: Checkpoint | None = None,
    unlabelled: list[str] | None = None,
) -> Checkpoint:
    """Train, keep the best validation epoch, measure test accuracy and the floor.

    ``unlabelled``: texts without labels for a transformer teacher to label (all of them
    unless ``opts.teacher_unlabelled`` draws fewer), instead of ``opts.teacher_text``.
    """
    _check(ds, opts)
    procs, device = init_processes(opts.device)
    model = _build(ds, tokenizer, opts, init).to(device)
    train_ids = encode_batch(tokenizer, ds.train.texts, text_cap(model.cfg), ds.train.pairs)
    started = time.monotonic()
    if unlabelled is not None and ds.is_pair:
        raise UsageError(f"{ds.name} is a sentence-pair set: unlabelled text has no second text")
    teaching, teacher_metrics = _teacher(ds, opts, device, unlabelled)
    history, best_state, best = _fit(model, train_ids, ds, tokenizer, opts, teaching, device)
    model.load_state_dict(best_state)
    test = evaluate(model, tokenizer, ds.test.texts, ds.test.labels, pairs=ds.test.pairs)
    pairs = (ds.train.pairs, ds.test.pairs, ds.val.pairs) if ds.is_pair else None
    floor = tfidf_floor(ds.train.texts, ds.train.labels, ds.test.texts, ds.test.labels,
                        ds.val.texts, ds.val.labels, pairs=pairs)
    metrics = {
        **test,
        "floor_accuracy": floor["accuracy"],
        "floor_C": floor["C"],
        "val_accuracy": best["val_accuracy"],
        "best_epoch": best["epoch"],
        "history": history,
        "dataset": ds.name,
        "pairs": ds.is_pair,
        "n_train": len(ds.train),
        "n_val": len(ds.val),
        "options": asdict(opts),
        "init": bool(init),
        "device": str(device),
        "processes": procs.world,
        **teacher_metrics,
        "train_seconds": round(time.monotonic() - started, 1),
    }
    return Checkpoint.from_model(
        model, tokenizer_json=tokenizer.to_json(), labels=list(ds.labels), metrics=metrics,
        test_split=ds.test_split(), version=__version__,
    )


def _check(ds: Dataset, opts: TrainOptions) -> None:
    if opts.epochs < 1 or opts.batch_size < 1 or opts.lr <= 0:
        raise UsageError("epochs, batch size and learning rate must be positive")
    if opts.augment < 0 or not 0.0 <= opts.alpha <= 1.0:
        raise UsageError("--augment must be >= 0 and --alpha within [0, 1]")
    if opts.ema < 0:
        raise UsageError(f"--ema must be >= 0 epochs, got {opts.ema}")
    if opts.soft_loss not in ("ce", "mse"):
        raise UsageError(f"unknown soft loss {opts.soft_loss!r}", hint="use ce or mse")
    if opts.teacher is not None:
        if opts.teacher not in TEACHERS:
            raise UsageError(f"unknown teacher {opts.teacher!r}", hint=f"one of: {', '.join(TEACHERS)}")
        if (opts.teacher_epochs < 1 or opts.temperature <= 0 or opts.teacher_head_lr <= 0
                or not 8 <= opts.teacher_max_len <= 512):
            raise UsageError("--teacher-epochs, --teacher-head-lr and --temperature must be positive, "
                             "--teacher-max-len within [8, 512]")
        if opts.teacher_copies < (1 if opts.augment else 0):
            raise UsageError("--teacher-copies must be >= 1 when --augment is above 0")
        if not 1 <= opts.teacher_windows <= 64:
            raise UsageError(f"--teacher-windows must be within [1, 64], got {opts.teacher_windows}")
        if ds.is_pair and opts.teacher_windows > 1:
            raise UsageError(f"{ds.name} is a sentence-pair set: windows read one long text",
                             hint="leave out --teacher-windows; the teacher cuts a pair longest-first")
    if opts.windows < 1 or opts.window_stride < 0:
        raise UsageError(f"--windows must be >= 1 and --window-stride >= 0, got {opts.windows} "
                         f"and {opts.window_stride}")
    if ds.is_pair and opts.windows > 1:
        raise UsageError(f"{ds.name} is a sentence-pair set: windows read one long text",
                         hint="leave out --windows; a pair is cut longest-first to l tokens")
    if ds.is_pair and opts.distill:
        raise UsageError(f"{ds.name} is a sentence-pair set: the n-gram teacher (--distill) takes "
                         "single texts only",
                         hint="leave out --distill; --teacher minilm alone reads both texts")
    if ds.is_pair and (opts.teacher_unlabelled or opts.teacher_text):
        raise UsageError(f"{ds.name} is a sentence-pair set: unlabelled text has no second text",
                         hint="leave out --teacher-unlabelled and --teacher-text")
    if len(ds.train) == 0 or len(ds.test) == 0:
        raise UsageError(f"{ds.name}: the training and test splits must not be empty")
    if not any(WORD.search(t) for t in ds.train.texts):
        # The TF-IDF floor would fail only after training, on an empty vocabulary.
        raise DataError(f"{ds.name}: no training text holds a word (all are empty or "
                        "punctuation)", hint="check the text column of the training file")


def _build(ds: Dataset, tokenizer: EmbTokenizer, opts: TrainOptions,
           init: Checkpoint | None) -> EmbBertForClassification:
    reading = {"windows": opts.windows, "window_stride": opts.window_stride}
    if init is None:
        cfg = preset(opts.preset, max_len=opts.max_len, n_classes=len(ds.labels),
                     vocab_size=tokenizer.vocab_size, **reading)
        return build_classifier(cfg, opts.seed)
    cfg = init.config.with_(n_classes=len(ds.labels), **reading)
    if opts.max_len is not None:
        if opts.max_len > init.config.max_len:
            raise UsageError(
                f"--max-len {opts.max_len} exceeds the pretrained position table ({init.config.max_len})",
                hint="pretrain with a larger max_len or pick a smaller --max-len",
            )
        cfg = cfg.with_(max_len=opts.max_len)  # the stride is checked against this l
    model = build_classifier(cfg, opts.seed)
    load_backbone(model, init)
    return model


def load_backbone(model: EmbBertForClassification, init: Checkpoint) -> None:
    """Copy a pretrain (or backbone) checkpoint's backbone into ``model`` (the head stays
    fresh). A shorter position table takes the first rows of the pretrained one.
    """
    if init.kind not in ("pretrain", "backbone"):
        raise UsageError(f"--init needs a pretrain or backbone checkpoint, this one is {init.kind!r}",
                         hint="make one with `embbert-mcu pretrain` (--backbone for the backbone alone)")
    prefix = "backbone."
    state = {k[len(prefix):]: v for k, v in init.state_dict.items() if k.startswith(prefix)}
    pos = "embedder.pos.weight"
    state[pos] = state[pos][: model.cfg.max_len]
    model.backbone.load_state_dict(state)


def _teacher(ds: Dataset, opts: TrainOptions, device: torch.device | None = None,
             unlabelled: list[str] | None = None):
    """(Teaching or None, metrics about the teacher)."""
    seed = opts.teachers_seed
    if opts.teacher == "minilm":
        settings = TeacherOptions(epochs=opts.teacher_epochs, max_len=opts.teacher_max_len,
                                  windows=opts.teacher_windows,
                                  head_lr=opts.teacher_head_lr,
                                  seed=seed, temperature=opts.temperature,
                                  copies=opts.teacher_copies, p_replace=opts.teacher_replace,
                                  unlabelled=opts.teacher_unlabelled, text_file=opts.teacher_text,
                                  device=str(device or "cpu"))
        procs = processes()
        if not procs.main:  # rank 0 fine-tunes and fills the cache; the others read it
            procs.barrier()
        teaching = prepare_minilm(ds, settings, progress=opts.progress and procs.main,
                                  source=unlabelled)
        if procs.main:
            procs.barrier()
        if opts.distill:  # both teachers
            teaching = with_ngram(teaching, ds, seed=seed)
        return teaching, dict(teaching.metrics)
    if not opts.distill:
        return None, {}
    teaching = Teaching.prepare(ds.train.texts, ds.train.labels, ds.val.texts, ds.val.labels,
                                len(ds.labels), seed=seed)
    teacher = teaching.teacher
    return teaching, {"teacher_accuracy": teacher.accuracy(ds.test.texts, ds.test.labels),
                      "teacher_C": teacher.c}


def _distill_rows(teaching: Teaching | PooledTeaching, ds: Dataset, train_ids, tokenizer: EmbTokenizer,
                  cfg: EmbBertConfig, opts: TrainOptions, rng: np.random.Generator, epoch: int = 0):
    """One epoch's rows: the training texts, then ``augment`` perturbed copies of each, with
    (ids, gold labels, soft targets, gold weights). The n-gram teacher scores fresh copies
    every epoch; a transformer teacher's copies come from the pool it scored once. A text
    read as windows gives one row per window, each with the text's targets."""
    n = len(train_ids)
    if isinstance(teaching, PooledTeaching):
        extra, extra_pairs, extra_soft = teaching.epoch_copies(epoch, opts.augment)
    else:
        extra, extra_pairs = [augment(t, rng) for _ in range(opts.augment) for t in ds.train.texts], None
        extra_soft = teaching.teacher.predict_proba(extra, len(ds.labels))
    ids = train_ids + encode_batch(tokenizer, extra, text_cap(cfg), extra_pairs)
    soft = np.concatenate([teaching.train_targets, extra_soft])
    gold = torch.tensor(list(ds.train.labels) + [0] * len(extra), dtype=torch.long)
    weight = torch.zeros(len(ids))
    weight[:n] = opts.alpha
    ids, owner = split_many(ids, cfg)
    owner = torch.tensor(owner, dtype=torch.long)
    return ids, gold[owner], torch.tensor(soft, dtype=torch.float32)[owner], weight[owner]


def _fit(model, train_ids, ds: Dataset, tokenizer: EmbTokenizer, opts: TrainOptions,
         teaching: Teaching | None = None, device: torch.device | None = None):
    """Train for ``opts.epochs``; returns (history, state dict and history row of the best
    epoch). The first epoch with the best validation accuracy wins; with no validation slice,
    the last epoch.

    With ``opts.ema`` each epoch's candidate is the moving average of the weights.
    """
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    augment_rng = np.random.default_rng(opts.seed + 1)
    train_windows, owner = split_many(train_ids, model.cfg)
    labels = torch.tensor(ds.train.labels, dtype=torch.long)[torch.tensor(owner, dtype=torch.long)]
    rows = len(train_windows) * (1 + opts.augment if teaching else 1)
    rows += len(getattr(teaching, "extra", ()))
    steps = opts.epochs * -(-rows // opts.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear(steps, opts.warmup))
    averaged = _averaged(model, opts.ema, steps // opts.epochs)
    after_step = (lambda: averaged.update_parameters(model)) if averaged else None
    kept = averaged.module if averaged else model
    scaler = grad_scaler(device or torch.device("cpu"))
    history, best_state, best = [], None, None
    for epoch in range(1, opts.epochs + 1):
        desc = f"epoch {epoch}/{opts.epochs}"
        if teaching is None:
            loss = train_epoch(model, train_windows, labels, optimizer, schedule, rng, opts.batch_size,
                               desc, opts.progress, after_step=after_step, device=device,
                               scaler=scaler)
        else:
            ids, gold, soft, weight = _distill_rows(teaching, ds, train_ids, tokenizer,
                                                    model.cfg, opts, augment_rng, epoch - 1)
            loss = train_epoch(model, ids, gold, optimizer, schedule, rng, opts.batch_size, desc,
                               opts.progress, soft=soft, gold_weight=weight, after_step=after_step,
                               device=device, scaler=scaler, soft_loss=opts.soft_loss)
        val = _val_accuracy(kept, tokenizer, ds)
        history.append({"epoch": epoch, "train_loss": loss, "val_accuracy": val})
        if opts.progress and processes().main:
            tqdm.write(f"epoch {epoch}: train loss {loss:.4f}, val accuracy {val:.4f}",
                       file=sys.stderr)  # stdout is kept for --json
        if best is None or val > best["val_accuracy"] or not len(ds.val):
            best, best_state = history[-1], copy.deepcopy(kept.state_dict())
    return history, best_state, best


def _averaged(model, epochs: float, steps_per_epoch: int) -> AveragedModel | None:
    """An exponential moving average of ``model``'s weights over about ``epochs`` epochs
    (decay ``1 - 1 / (epochs * steps_per_epoch)`` per step), or None for ``epochs`` 0."""
    if not epochs:
        return None
    decay = 1.0 - 1.0 / max(1.0, epochs * steps_per_epoch)
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))


def _val_accuracy(model, tokenizer: EmbTokenizer, ds: Dataset) -> float:
    if len(ds.val) == 0:  # no validation slice (_fit then keeps the last epoch)
        return 0.0
    return evaluate(model, tokenizer, ds.val.texts, ds.val.labels, pairs=ds.val.pairs)["accuracy"]
