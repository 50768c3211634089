"""Sentences of long documents as a set of their own, each labelled with its document's label."""

from __future__ import annotations

from .corpus import sentences
from .splits import Dataset, Split, fresh

MIN_WORDS = 6  # shorter pieces are mostly bylines, captions and figures


def document_sentences(text: str, min_words: int = MIN_WORDS) -> list[str]:
    """The sentences of ``text`` (line by line, so a headline is its own), in order, of at
    least ``min_words`` words."""
    return [s for line in text.splitlines() for s in sentences(line) if len(s.split()) >= min_words]


def build_sentences(name: str, base: Dataset) -> Dataset:
    """Every sentence of every document of each split of ``base``, with the document's label;
    a sentence already in an earlier split (or earlier in the same one) is dropped."""
    seen: set[str] = set()
    parts = []
    for part in (base.train, base.val, base.test):
        texts, labels = [], []
        for text, label in zip(part.texts, part.labels):
            for sentence in document_sentences(text):
                texts.append(sentence)
                labels.append(label)
        parts.append(Split(*fresh(Split(texts, labels), seen)))
    return Dataset(name, list(base.labels), *parts)
