"""Sentence-pair sets built offline from a built-in set: "do these two texts share a label?"

Each split of the pair set is made from the same split of the base set only, after dropping
texts that already occur in an earlier split (train, then val, then test), so no text of the
test pairs was seen in training. Every remaining text is the first text of one pair; pairs
alternate "same" / "different", the partner drawn with a seeded generator from the texts of
the same or of another label. The set's table and its checked counts are in ``derived.py``.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .splits import Dataset, Split, fresh

LABELS = ["different", "same"]  # class 0, class 1
PAIR_SEED = 0


def build_pairs(name: str, base: Dataset, seed: int = PAIR_SEED) -> Dataset:
    """The pair set ``name`` from the base set's three splits (see the module docstring)."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    parts = []
    for part in (base.train, base.val, base.test):
        texts, labels = fresh(part, seen)
        parts.append(_pair_split(texts, labels, rng))
    return Dataset(name, list(LABELS), *parts)


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
