"""Sets derived offline from a built-in set's own seeded split.

- ``rt-polarity-pairs``: sentence pairs, "do these two texts share a label?" (``pairs.py``);
- ``bbc-news-sentence-pairs``: the same question on pairs of ``bbc-news-sentences``: do two
  sentences come from articles of the same topic? Word overlap barely tells (the floor is
  near chance); a model that reads both sentences can;
- ``bbc-news-sentences``: each sentence of a BBC article, labelled with the article's topic
  (``sentences.py``). A sentence is a much harder input than the whole article: a few words,
  often without the topic's own vocabulary.
- ``brown-sentences``: each sentence of a Brown corpus text, labelled with the text's genre
  group (press, general non-fiction, learned and government, fiction).

Each split of a derived set is made from the same split of the base set only, after dropping
texts that already occur in an earlier split (train, then val, then test), so no text of the
test split was seen in training. The counts per split and label are checked on every load,
as ``sets.verify`` does for the base sets.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import DataError
from .pairs import build_pairs
from .sentences import build_sentences
from .splits import Dataset, Split


@dataclass(frozen=True)
class DerivedSet:
    name: str
    base: str  # the built-in set the texts come from
    label_counts: dict[str, dict[str, int]]  # split -> label -> rows, as built and checked
    about: str
    build: Callable[[str, Dataset], Dataset]
    pairs: bool = False

    @property
    def n_rows(self) -> int:
        return sum(sum(c.values()) for c in self.label_counts.values())

    @property
    def root(self) -> str:
        """The built-in (fetched) set at the bottom of the chain of bases."""
        base = self.base
        while base in DERIVED:
            base = DERIVED[base].base
        return base


DERIVED: dict[str, DerivedSet] = {
    d.name: d
    for d in (
        DerivedSet("rt-polarity-pairs", "rt-polarity",
                   {"train": {"different": 5103, "same": 5103},
                    "val": {"different": 636, "same": 636},
                    "test": {"different": 637, "same": 637}},
                   "pairs of Rotten Tomatoes snippets: same sentiment / different",
                   build_pairs, pairs=True),
        DerivedSet("bbc-news-sentences", "bbc-news",
                   {"train": {"business": 6296, "entertainment": 4702, "politics": 6286,
                              "sports": 6079, "tech": 6372},
                    "val": {"business": 763, "entertainment": 543, "politics": 667,
                            "sports": 658, "tech": 687},
                    "test": {"business": 721, "entertainment": 535, "politics": 624,
                             "sports": 715, "tech": 595}},
                   "sentences of BBC news articles, 5 topics (the article's)",
                   build_sentences),
        DerivedSet("brown-sentences", "brown-genres",
                   {"train": {"fiction": 13556, "general-nonfiction": 13882,
                              "learned-government": 8178, "press": 7393},
                    "val": {"fiction": 1786, "general-nonfiction": 1776,
                            "learned-government": 1001, "press": 962},
                    "test": {"fiction": 1734, "general-nonfiction": 1847,
                             "learned-government": 912, "press": 908}},
                   "sentences of the Brown corpus, 4 genre groups (the text's)",
                   build_sentences),
        DerivedSet("bbc-news-sentence-pairs", "bbc-news-sentences",
                   {"train": {"different": 14867, "same": 14868},
                    "val": {"different": 1659, "same": 1659},
                    "test": {"different": 1595, "same": 1595}},
                   "pairs of BBC news sentences: same topic / different",
                   build_pairs, pairs=True),
    )
}


def verify_derived(spec: DerivedSet, ds: Dataset) -> None:
    """Raise DataError unless every split holds the expected rows per label."""
    for part, want in spec.label_counts.items():
        split: Split = getattr(ds, part)
        got = {ds.labels[y]: n for y, n in sorted(Counter(split.labels).items())}
        if got != want:
            raise DataError(f"{spec.name}: the {part} split holds {got}, expected {want}",
                            hint=f"the base set {spec.base} changed; delete its cache folder")


def load_derived(name: str, folder: Path, load_base) -> Dataset:
    """Build (or read from ``folder``) and verify the derived set ``name``."""
    from .splits import load_saved, save_dataset

    spec = DERIVED[name]
    ds = load_saved(folder)
    if ds is None:
        ds = spec.build(name, load_base(spec.base))
        verify_derived(spec, ds)
        save_dataset(ds, folder)
    verify_derived(spec, ds)
    return ds
