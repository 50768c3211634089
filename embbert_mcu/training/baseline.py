"""The floor a user gets for free: TF-IDF features and a logistic regression (scikit-learn).

The regularisation strength is chosen on the validation split, never on the test split.
For sentence pairs the features are those of the first text, those of the second, and
their elementwise geometric mean sqrt(a * b) (the n-grams both texts share, on the scale of
a TF-IDF weight: the plain product is so small that the regression's C grid cannot use it),
side by side: one vectorizer fitted on every training text of either side.
"""

from __future__ import annotations

from typing import Sequence

from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

C_GRID = (0.25, 1.0, 4.0, 16.0)


class PairFeatures:
    """[tfidf(a), tfidf(b), sqrt(tfidf(a) * tfidf(b))] for pairs (a, b); a TfidfVectorizer's
    fit_transform / transform, but over (texts, pairs)."""

    def __init__(self):
        self.vectorizer = word_ngrams()

    def fit_transform(self, texts: Sequence[str], pairs: Sequence[str]):
        self.vectorizer.fit(list(texts) + list(pairs))
        return self.transform(texts, pairs)

    def transform(self, texts: Sequence[str], pairs: Sequence[str]):
        a, b = self.vectorizer.transform(texts), self.vectorizer.transform(pairs)
        return hstack([a, b, a.multiply(b).sqrt()]).tocsr()


def tfidf_floor(
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    test_texts: Sequence[str],
    test_labels: Sequence[int],
    val_texts: Sequence[str] = (),
    val_labels: Sequence[int] = (),
    pairs: tuple[Sequence[str], Sequence[str], Sequence[str]] | None = None,
) -> dict:
    """{"accuracy", "n", "C"}: word 1-2 gram TF-IDF + LogisticRegression fitted on train.

    ``pairs`` = (train, test, val) second texts for a sentence-pair task (PairFeatures).
    """
    x_train, x_val, x_test = _matrices(train_texts, val_texts, test_texts, pairs)
    best_c = 1.0
    if len(val_texts):
        scores = {c: _fit(x_train, train_labels, c).score(x_val, val_labels) for c in C_GRID}
        best_c = max(C_GRID, key=lambda c: (scores[c], -c))  # ties: the stronger regulariser
    clf = _fit(x_train, train_labels, best_c)
    accuracy = float(clf.score(x_test, test_labels))
    return {"accuracy": accuracy, "n": len(test_texts), "C": best_c}


def _matrices(train_texts, val_texts, test_texts, pairs):
    """(train, val or None, test) feature matrices, the features fitted on train."""
    if pairs is None:
        vectorizer = word_ngrams()
        x_train = vectorizer.fit_transform(train_texts)
        x_val = vectorizer.transform(val_texts) if len(val_texts) else None
        return x_train, x_val, vectorizer.transform(test_texts)
    train_b, test_b, val_b = pairs
    features = PairFeatures()
    x_train = features.fit_transform(train_texts, train_b)
    x_val = features.transform(val_texts, val_b) if len(val_texts) else None
    return x_train, x_val, features.transform(test_texts, test_b)


def word_ngrams() -> TfidfVectorizer:
    """The floor's features: word 1-2 gram TF-IDF (also the first half of the distillation teacher's)."""
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000)


def _fit(x, y, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000).fit(x, list(y))
