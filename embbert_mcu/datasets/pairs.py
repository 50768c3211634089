"""Sentence-pair sets built offline from a built-in set: "do these two texts share a label?"

Each split of the pair set is made from the same split of the base set only, after dropping
texts that already occur in an earlier split (train, then val, then test), so no text of the
test pairs was seen in training. Every remaining text is the first text of one pair; pairs
alternate "same" / "different", the partner drawn with a seeded generator from the texts of
the same or of another label. ``verify_pairs`` checks the counts like ``sets.verify`` does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .splits import Dataset, Split

LABELS = ["different", "same"]  # class 0, class 1
PAIR_SEED = 0


@dataclass(frozen=True)
class PairSet:
    name: str
    base: str  # the built-in set the texts come from
    label_counts: dict[str, dict[str, int]]  # split -> label -> pairs, as built and checked
    about: str

    @property
    def n_rows(self) -> int:
        return sum(sum(c.values()) for c in self.label_counts.values())


PAIR_SETS: dict[str, PairSet] = {
    p.name: p
    for p in (
        PairSet("rt-polarity-pairs", "rt-polarity",
                {"train": {"different": 5103, "same": 5103},
                 "val": {"different": 636, "same": 636},
                 "test": {"different": 637, "same": 637}},
                "pairs of Rotten Tomatoes snippets: same sentiment / different"),
    )
}


def build_pairs(name: str, base: Dataset, seed: int = PAIR_SEED) -> Dataset:
    """The pair set ``name`` from the base set's three splits (see the module docstring)."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    parts = []
    for part in (base.train, base.val, base.test):
        texts, labels = _fresh(part, seen)
        parts.append(_pair_split(texts, labels, rng))
    return Dataset(name, list(LABELS), *parts)


def _fresh(split: Split, seen: set[str]) -> tuple[list[str], list[int]]:
    """The split's texts not in ``seen`` (each once), which are then added to ``seen``."""
    texts, labels = [], []
    for text, label in zip(split.texts, split.labels):
        if text not in seen:
            seen.add(text)
            texts.append(text)
            labels.append(label)
    return texts, labels


def _pair_split(texts: list[str], labels: list[int], rng: np.random.Generator) -> Split:
    by_label: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_label.setdefault(y, []).append(i)
    if len(by_label) < 2 or min(len(rows) for rows in by_label.values()) < 2:
        raise DataError("a pair set needs a base split with two or more texts of each of "
                        "two or more labels")
    others = {y: [j for z, rows in sorted(by_label.items()) if z != y for j in rows]
              for y in by_label}
    out = Split(pairs=[])
    for k, i in enumerate(rng.permutation(len(texts)).tolist()):
        same = k % 2 == 0
        if same:  # a partner of the same label other than the text itself
            rows = by_label[labels[i]]
            j = rows[int(rng.integers(len(rows) - 1))]
            j = rows[-1] if j == i else j
        else:
            rows = others[labels[i]]
            j = rows[int(rng.integers(len(rows)))]
        out.texts.append(texts[i])
        out.pairs.append(texts[j])
        out.labels.append(LABELS.index("same" if same else "different"))
    return out


def verify_pairs(spec: PairSet, ds: Dataset) -> None:
    """Raise DataError unless every split holds the expected pairs per label."""
    for part, want in spec.label_counts.items():
        split: Split = getattr(ds, part)
        got = {ds.labels[y]: n for y, n in sorted(Counter(split.labels).items())}
        if got != want:
            raise DataError(f"{spec.name}: the {part} split holds {got}, expected {want}",
                            hint=f"the base set {spec.base} changed; delete its cache folder")


def load_pair_set(name: str, folder: Path, load_base) -> Dataset:
    """Build (or read from ``folder``) and verify the pair set ``name``."""
    from .splits import load_saved, save_dataset

    spec = PAIR_SETS[name]
    ds = load_saved(folder)
    if ds is None:
        ds = build_pairs(name, load_base(spec.base))
        verify_pairs(spec, ds)
        save_dataset(ds, folder)
    verify_pairs(spec, ds)
    return ds
