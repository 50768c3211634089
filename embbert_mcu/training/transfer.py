"""The transfer set a transformer teacher labels for its student.

A small student learns from a big teacher mostly through many texts the teacher has labelled,
not through the few gold labels (Tang et al. 2019 label an augmented copy set many times the
size of the training split). Each copy here is a training text perturbed word by word:

- a word is replaced, with probability ``p_replace``, by a word drawn from the training
  split's running text (so by its frequency: common words most often, as in a sentence);
- a word is dropped with probability ``p_drop`` (one word is always kept);
- with probability ``p_span`` only a contiguous span of at least a third of the words is kept
  (n-gram sampling), which also makes short, one-clause copies of long texts.

The copies carry no gold label: their targets are the teacher's probabilities. The pool is a
pure function of the texts, the settings and the seed, so the teacher's cache can key on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Perturbation:
    p_replace: float = 0.0  # off unless asked: not yet measured to help
    p_drop: float = 0.1
    p_span: float = 0.25

    def key(self) -> dict:
        """What the cache keys on (the version changes when the procedure does)."""
        return {"transfer": 2, **asdict(self)}


def running_words(texts: Sequence[str]) -> list[str]:
    """Every word occurrence of ``texts`` in order: a uniform draw is a frequency draw."""
    return [w for t in texts for w in t.split()]


def perturb(text: str, rng: np.random.Generator, words: Sequence[str],
            how: Perturbation = Perturbation()) -> str:
    """One perturbed copy of ``text`` (see the module docstring); never empty."""
    tokens = text.split()
    if len(tokens) > 3 and rng.random() < how.p_span:
        n = int(rng.integers(max(2, len(tokens) // 3), len(tokens)))
        start = int(rng.integers(0, len(tokens) - n + 1))
        tokens = tokens[start : start + n]
    out = []
    for token in tokens:
        u = rng.random()
        if u < how.p_drop:
            continue
        if u < how.p_drop + how.p_replace and words:
            token = words[int(rng.integers(len(words)))]
        out.append(token)
    return " ".join(out or tokens[:1])


def copy_pool(texts: Sequence[str], n_copies: int, seed: int,
              how: Perturbation = Perturbation()) -> list[list[str]]:
    """``n_copies`` perturbed copies of every text: ``pool[k][i]`` is copy k of text i."""
    rng = np.random.default_rng(seed)
    words = running_words(texts)
    return [[perturb(t, rng, words, how) for t in texts] for _ in range(n_copies)]


def unlabelled_sentences(n: int, like: Sequence[str], seed: int, exclude: Sequence[str] = (),
                         source: Sequence[str] | None = None,
                         words: tuple[int, int] | None = None) -> list[str]:
    """``n`` unlabelled texts for the teacher to label, drawn (seeded, without replacement)
    from the sentences of ``source``, or of the built-in unlabelled English text (the
    pretraining corpus, every built-in evaluation text removed) when ``source`` is None.

    Only sentences whose word count lies within the 5th to 95th percentile of ``like`` (the
    training texts) are drawn, so the teacher labels text of the length the student will see
    (``words`` = (low, high) instead, if given), and none equal to an ``exclude`` text (the
    validation and test texts). Fewer than ``n`` if there are fewer.
    """
    from ..datasets.corpus import evaluation_texts, load_corpus, sentences

    if n <= 0:
        return []
    if source is None:
        source = [seg for doc in load_corpus(evaluation_texts()) for seg in doc]
    if words is not None:
        low, high = words
    else:
        counts = np.array([len(t.split()) for t in like]) if len(like) else np.array([8, 40])
        low, high = np.percentile(counts, [5, 95])
        low, high = max(3, int(np.floor(low))), int(np.ceil(high))
    banned = {_key(t) for t in exclude}
    pool = sorted({s for seg in source for s in sentences(seg) if low <= len(s.split()) <= high})
    pool = [s for s in pool if _key(s) not in banned]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
    return [pool[i] for i in sorted(picks)]


def _key(text: str) -> str:
    return " ".join(text.lower().split())
