"""What the student learns from the MiniLM teacher (``teacher.py``), and the cache that keeps it.

The teacher only exists while training. What the student needs from it is stored in the
cache, keyed by the data and the settings, so a second run with the same key neither
fine-tunes nor loads the 90 MB model again:
- ``<key>/teacher.pt``: the fine-tuned encoder and head (reused when only the copies change);
- ``<key>/logits-<texts digest>.npy``: its logits for one list of texts (the training,
  validation and test texts, each copy of the pool, the unlabelled texts), so a larger pool
  scores only new copies;
- ``<key>/targets-<copies key>.npz``: its probabilities for the training texts, for a fixed
  pool of perturbed copies of them and for the unlabelled texts (``transfer.py``), and its
  validation and test accuracy.

The probabilities for the training texts come from the teacher that was fine-tuned on them
(no cross-fitting: that would take five fine-tunes of a 22.7 M-parameter model). After one
epoch it has seen each text once and its training accuracy is close to its validation
accuracy; both are recorded so the gap is visible.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..datasets.fetch import cache_dir
from ..errors import DataError
from ..fileio import atomic_path, check_writable, write_text
from .teacher import NAME, PACKAGE, MiniLMTeacher, TeacherOptions, model_folder, require_transformers
from .transfer import Perturbation, copy_pool, unlabelled_sentences


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:20]


@dataclass
class PooledTeaching:
    """A transformer teacher's probabilities for the training texts and for a fixed pool of
    perturbed copies of them (``copies[k][i]`` is copy k of text i). Epoch e uses copies
    ``(e * augment + j) mod len(copies)``, j < augment."""

    train_targets: np.ndarray  # (N, C)
    copies: list[list[str]]
    copy_targets: list[np.ndarray]  # each (N, C)
    metrics: dict
    extra: list[str] = field(default_factory=list)  # unlabelled text, in every epoch
    extra_targets: np.ndarray | None = None  # (len(extra), C)
    copy_pairs: list[list[str]] | None = None  # a pair set's second texts, perturbed the same way
    test_targets: np.ndarray | None = None  # (len(test), C); an older cache lacks them, and
    # prepare_minilm scores them from the cached test logits

    def epoch_copies(self, epoch: int, augment_n: int):
        """This epoch's rows beyond the training texts, (texts, second texts of a pair set or
        None, targets): ``augment_n`` copies of each training text, then the unlabelled texts."""
        picks = [(epoch * augment_n + j) % len(self.copies) for j in range(augment_n)]
        texts = [t for k in picks for t in self.copies[k]] + list(self.extra)
        pairs = None
        if self.copy_pairs is not None:
            pairs = [t for k in picks for t in self.copy_pairs[k]]
        targets = [self.copy_targets[k] for k in picks]
        if self.extra:
            targets.append(self.extra_targets)
        if not targets:
            return [], pairs, np.zeros((0, self.train_targets.shape[1]))
        return texts, pairs, np.concatenate(targets)


def prepare_minilm(ds, opts: TeacherOptions, cache: Path | None = None,
                   progress: bool = True, source: Sequence[str] | None = None) -> PooledTeaching:
    """Fine-tune (or reuse) the MiniLM teacher on ``ds.train``; score the copies and the
    unlabelled texts (from ``source`` if given: e.g. the training texts a limit left out)."""
    require_transformers()
    folder = model_folder(cache)
    n_classes = len(ds.labels)
    fit_settings = {k: v for k, v in asdict(opts).items()
                    if k not in ("temperature", "copies", "p_replace", "unlabelled", "text_file",
                                 "device")}
    if opts.windows == 1:  # the keys of caches made before windows existed stay valid
        del fit_settings["windows"]
    key = _digest(NAME, PACKAGE.pin, fit_settings, n_classes, ds.train.texts, ds.train.labels,
                  *([ds.train.pairs] if ds.is_pair else []))
    how = Perturbation(p_replace=opts.p_replace)
    extra = _unlabelled(ds, opts, source)
    copies_key = _digest(key, opts.copies, how.key(), opts.temperature, ds.test.texts, ds.test.labels,
                         *([extra] if extra else []), *([ds.test.pairs] if ds.is_pair else []))
    root = (cache or cache_dir()) / "teachers" / "minilm" / key
    targets_path = root / f"targets-{copies_key}.npz"
    if targets_path.is_file():
        teaching = _load_targets(targets_path, n_classes)
        if teaching.test_targets is None:
            # written before the test targets were kept in it: score the test texts (their
            # logits are cached beside it, so the model is loaded only if they are not)
            scorer = _Scorer(root, lambda: MiniLMTeacher(folder, n_classes, opts))
            teaching.test_targets = softmax(scorer(ds.test.texts, ds.test.pairs), opts.temperature)
        return teaching
    # the key folder is made with its first file, so a killed fine-tune leaves none behind
    check_writable(root, what="teacher cache", directory=True)
    scorer = _Scorer(root, lambda: MiniLMTeacher(folder, n_classes, opts), progress)
    started = time.monotonic()
    losses = scorer.fit(ds.train.texts, ds.train.labels, progress, ds.train.pairs)
    fine_tuned, fit_seconds = losses is not None, round(time.monotonic() - started, 1)
    copies = copy_pool(ds.train.texts, opts.copies, opts.seed + 1, how)
    copy_pairs = copy_pool(ds.train.pairs, opts.copies, opts.seed + 3, how) if ds.is_pair else None
    started = time.monotonic()
    train_logits = scorer(ds.train.texts, ds.train.pairs, label="training texts")
    copy_logits = [scorer(c, None if copy_pairs is None else copy_pairs[k],
                          label=f"copy {k + 1}/{len(copies)}")
                   for k, c in enumerate(copies)]
    extra_logits = scorer(extra, label="unlabelled texts") if extra else np.zeros((0, n_classes))
    metrics = {
        "teacher": NAME, "teacher_package": PACKAGE.pin, "teacher_options": asdict(opts),
        "teacher_key": key, "teacher_unlabelled": len(extra), "teacher_fit_seconds": fit_seconds, "teacher_fit_losses": losses or [],
        "teacher_train_accuracy": _accuracy(train_logits, ds.train.labels),
        "teacher_val_accuracy": _accuracy(scorer(ds.val.texts, ds.val.pairs, label="validation texts"),
                                          ds.val.labels),
    }
    test_logits = scorer(ds.test.texts, ds.test.pairs, label="test texts")
    metrics["teacher_accuracy"] = _accuracy(test_logits, ds.test.labels)
    metrics["teacher_score_seconds"] = round(time.monotonic() - started, 1)
    if progress:
        print(f"teacher: train {metrics['teacher_train_accuracy']:.4f}, "
              f"test {metrics['teacher_accuracy']:.4f}",
              file=sys.stderr, flush=True)
    doc = {"fine_tuned": fine_tuned, **metrics}
    arrays = {"train": softmax(train_logits, opts.temperature),
              "test": softmax(test_logits, opts.temperature),
              "extra_targets": softmax(extra_logits, opts.temperature),
              **{f"copy{k}": softmax(x, opts.temperature) for k, x in enumerate(copy_logits)}}
    with atomic_path(targets_path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(doc)),
                     copies=np.array(json.dumps(copies, ensure_ascii=False)),
                     extra=np.array(json.dumps(extra, ensure_ascii=False)),
                     copy_pairs=np.array(json.dumps(copy_pairs, ensure_ascii=False)), **arrays)
    write_text(root / "settings.json", json.dumps({"settings": fit_settings, "n_train": len(ds.train)}))
    teaching = _load_targets(targets_path, n_classes)
    teaching.metrics["teacher_cache"] = "fine-tuned" if fine_tuned else "weights reused"
    return teaching


def _unlabelled(ds, opts: TeacherOptions, source: Sequence[str] | None = None) -> list[str]:
    """The unlabelled texts the teacher labels beside the copies (``transfer.py``)."""
    if not (opts.unlabelled or opts.text_file or source is not None):
        return []
    if opts.text_file:
        try:
            source = Path(opts.text_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read {opts.text_file}: {exc}",
                            hint="--teacher-text takes a UTF-8 text file, one text per line") from None
    n = opts.unlabelled or (len(source) if source is not None else 0)
    return unlabelled_sentences(n, ds.train.texts, opts.seed + 2, source=source,
                                exclude=list(ds.val.texts) + list(ds.test.texts))


class _Scorer:
    """The fine-tuned teacher's logits for a list of texts, cached in ``root`` by the texts'
    digest: the training, validation and test texts and each copy are scored once per
    teacher, whatever pool or temperature a later run asks for (copy k of a larger pool is
    copy k of a smaller one). The model is loaded only when something is not cached."""

    def __init__(self, root: Path, make, progress: bool = False):
        self.root, self._make, self._teacher, self.progress = root, make, None, progress

    def _model(self) -> "MiniLMTeacher":
        if self._teacher is None:
            self._teacher = self._make()
            if (self.root / "teacher.pt").is_file():
                self._teacher.load(self.root / "teacher.pt")
        return self._teacher

    def fit(self, texts, labels, progress: bool, pairs=None) -> list[float] | None:
        """Fine-tune and save unless the weights are cached; the epoch losses, or None."""
        if (self.root / "teacher.pt").is_file():
            return None
        losses = self._model().fit(texts, labels, progress, pairs)
        self._teacher.save(self.root / "teacher.pt")
        return losses

    def __call__(self, texts: Sequence[str], pairs: Sequence[str] | None = None,
                 label: str | None = None) -> np.ndarray:
        parts = [list(texts)] if pairs is None else [list(texts), list(pairs)]
        path = self.root / f"logits-{_digest(*parts)}.npy"
        if path.is_file():
            try:
                return np.load(path)
            except (OSError, ValueError) as exc:
                raise DataError(f"cannot read the cached teacher logits {path}: {exc}",
                                hint=f"delete {path} to score them again") from None
        out = self._model().logits(texts, pairs, label if self.progress else None)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:  # np.save on a name would append .npy
                np.save(fh, out)
        return out


def _load_targets(path: Path, n_classes: int) -> PooledTeaching:
    try:
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            copies = json.loads(str(z["copies"]))
            train = z["train"]
            copy_targets = [z[f"copy{k}"] for k in range(len(copies))]
            extra = json.loads(str(z["extra"])) if "extra" in z else []
            extra_targets = z["extra_targets"] if "extra_targets" in z else None
            copy_pairs = json.loads(str(z["copy_pairs"])) if "copy_pairs" in z else None
            test = z["test"] if "test" in z else None
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read the cached teacher targets {path}: {exc}",
                        hint=f"delete {path} to score them again") from None
    if train.shape[1] != n_classes:
        raise DataError(f"{path} holds {train.shape[1]} classes, expected {n_classes}",
                        hint=f"delete {path}")
    meta.pop("fine_tuned", None)
    meta["teacher_cache"] = "targets reused"
    return PooledTeaching(train, copies, copy_targets, meta, extra, extra_targets, copy_pairs, test)


def with_ngram(teaching: PooledTeaching, ds, seed: int = 0) -> PooledTeaching:
    """Both teachers (``train --teacher minilm --distill``): each target is the mean of
    MiniLM's probabilities and the n-gram teacher's (``distill.py``: cross-fitted on the
    training texts, fitted on all of them for the copies and the unlabelled texts). The two
    read different things: MiniLM the first ``--teacher-max-len`` WordPiece tokens (or
    ``--teacher-windows`` windows of them), the n-gram model every word of a text."""
    from .distill import Teaching

    n_classes = len(ds.labels)
    ngram = Teaching.prepare(ds.train.texts, ds.train.labels, ds.val.texts, ds.val.labels,
                             n_classes, seed=seed)

    def mean(minilm: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        return (minilm + ngram.teacher.predict_proba(list(texts), n_classes)) / 2

    metrics = dict(teaching.metrics)
    metrics["ngram_teacher_accuracy"] = ngram.teacher.accuracy(ds.test.texts, ds.test.labels)
    metrics["ngram_teacher_C"] = ngram.teacher.c
    test = mean(teaching.test_targets, ds.test.texts)  # prepare_minilm always sets them
    metrics["teachers_mean_accuracy"] = _accuracy(test, ds.test.labels)
    extra = teaching.extra_targets
    if teaching.extra:
        extra = mean(extra, teaching.extra)
    return PooledTeaching((teaching.train_targets + ngram.train_targets) / 2, teaching.copies,
                          [mean(t, c) for t, c in zip(teaching.copy_targets, teaching.copies)],
                          metrics, teaching.extra, extra, teaching.copy_pairs, test)


def _accuracy(logits: np.ndarray, labels: Sequence[int]) -> float:
    if not len(labels):
        return 0.0
    return float((logits.argmax(1) == np.asarray(labels)).mean())
