"""Labelled data as three splits, and the seeded stratified split that makes them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..fileio import write_text


@dataclass
class Split:
    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # indices into Dataset.labels
    pairs: list[str] | None = None  # the second text of each pair; None for single texts

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, rows) -> "Split":
        """The rows ``rows`` (indices), pairs included."""
        pairs = None if self.pairs is None else [self.pairs[i] for i in rows]
        return Split([self.texts[i] for i in rows], [self.labels[i] for i in rows], pairs)


@dataclass
class Dataset:
    name: str
    labels: list[str]  # class index -> label name
    train: Split
    val: Split
    test: Split

    @property
    def is_pair(self) -> bool:
        return self.train.pairs is not None

    def test_split(self) -> dict:
        """The form a checkpoint stores: {"name", "texts", "labels"} (+ "pairs" for pairs)."""
        doc = {"name": self.name, "texts": list(self.test.texts), "labels": list(self.test.labels)}
        if self.test.pairs is not None:
            doc["pairs"] = list(self.test.pairs)
        return doc


def stratified_indices(
    labels: list[int], fractions: tuple[float, ...], seed: int
) -> list[list[int]]:
    """Split row indices into len(fractions)+1 parts, each class in the same proportions.

    The last part takes what the fractions leave. Same labels and seed, same parts.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    for y in sorted(by_class):
        idx = np.array(by_class[y])[rng.permutation(len(by_class[y]))].tolist()
        start = 0
        for k, frac in enumerate(fractions):
            n = int(round(frac * len(idx)))
            parts[k].extend(idx[start:start + n])
            start += n
        parts[-1].extend(idx[start:])
    return [sorted(p) for p in parts]


def fresh(split: Split, seen: set[str]) -> tuple[list[str], list[int]]:
    """The split's texts not in ``seen`` (each once), which are then added to ``seen``."""
    texts, labels = [], []
    for text, label in zip(split.texts, split.labels):
        if text not in seen:
            seen.add(text)
            texts.append(text)
            labels.append(label)
    return texts, labels


def make_splits(name: str, texts: list[str], names: list[str], seed: int = 0) -> Dataset:
    """A seeded stratified 80/10/10 train/val/test split of labelled rows."""
    labels = sorted(set(names))
    index = {n: i for i, n in enumerate(labels)}
    y = [index[n] for n in names]
    test, val, train = stratified_indices(y, (0.1, 0.1), seed)
    pick = lambda rows: Split([texts[i] for i in rows], [y[i] for i in rows])  # noqa: E731
    return Dataset(name, labels, pick(train), pick(val), pick(test))


def save_dataset(ds: Dataset, folder: Path) -> None:
    """One JSONL file per split plus labels.json, each written atomically."""
    for part in ("train", "val", "test"):
        split: Split = getattr(ds, part)
        seconds = split.pairs if split.pairs is not None else [None] * len(split)
        lines = (json.dumps(_record(t, b, ds.labels[y]), ensure_ascii=False)
                 for t, b, y in zip(split.texts, seconds, split.labels))
        write_text(folder / f"{part}.jsonl", "".join(line + "\n" for line in lines))
    write_text(folder / "labels.json", json.dumps({"name": ds.name, "labels": ds.labels}))


def _record(text: str, pair: str | None, label: str) -> dict:
    return {"text": text, "label": label} if pair is None else \
        {"text": text, "text_pair": pair, "label": label}


def load_saved(folder: Path) -> Dataset | None:
    """The dataset saved in ``folder``, or None if it is not (completely) there."""
    meta = folder / "labels.json"
    if not meta.is_file() or not all((folder / f"{p}.jsonl").is_file() for p in ("train", "val", "test")):
        return None
    info = json.loads(meta.read_text(encoding="utf-8"))
    index = {n: i for i, n in enumerate(info["labels"])}
    splits = []
    for part in ("train", "val", "test"):
        split = Split()
        for line in (folder / f"{part}.jsonl").read_text(encoding="utf-8").split("\n"):
            if not line:
                continue
            row = json.loads(line)
            if row["label"] not in index:
                raise DataError(f"{folder}/{part}.jsonl has unknown label {row['label']!r}",
                                hint="delete the cached folder to rebuild it")
            split.texts.append(row["text"])
            split.labels.append(index[row["label"]])
            if "text_pair" in row:
                split.pairs = split.pairs if split.pairs is not None else []
                split.pairs.append(row["text_pair"])
        if split.pairs is not None and len(split.pairs) != len(split):
            raise DataError(f"{folder}/{part}.jsonl mixes pairs and single texts",
                            hint="delete the cached folder to rebuild it")
        splits.append(split)
    return Dataset(info["name"], info["labels"], *splits)


def limit_split(split: Split, n: int, seed: int = 0) -> Split:
    """A seeded stratified subset of about ``n`` rows of ``split`` (all of it if smaller)."""
    if n >= len(split):
        return split
    keep, _ = stratified_indices(split.labels, (n / len(split),), seed)
    return split.take(keep)


def limit_train(ds: Dataset, n: int, seed: int = 0) -> Dataset:
    """The same dataset with a seeded stratified subset of ``n`` training rows (validation
    and test untouched): what a user with only ``n`` labelled texts would have."""
    return Dataset(ds.name, ds.labels, limit_split(ds.train, n, seed), ds.val, ds.test)


def limit_test(ds: Dataset, n: int, seed: int = 0) -> Dataset:
    """The same dataset with a seeded stratified subset of ``n`` test rows (stored in the
    checkpoint like the whole split, so ``eval`` reproduces the figure)."""
    test = limit_split(ds.test, n, seed)
    name = ds.name if test is ds.test else f"{ds.name} (test subset {len(test)})"
    return Dataset(name, ds.labels, ds.train, ds.val, test)
