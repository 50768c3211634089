"""The floor a user gets for free: TF-IDF features and a logistic regression (scikit-learn).

The regularisation strength is chosen on the validation split, never on the test split.
"""

from __future__ import annotations

from typing import Sequence

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

C_GRID = (0.25, 1.0, 4.0, 16.0)


def tfidf_floor(
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    test_texts: Sequence[str],
    test_labels: Sequence[int],
    val_texts: Sequence[str] = (),
    val_labels: Sequence[int] = (),
) -> dict:
    """{"accuracy", "n", "C"}: word 1-2 gram TF-IDF + LogisticRegression fitted on train."""
    vectorizer = word_ngrams()
    x_train = vectorizer.fit_transform(train_texts)
    best_c = 1.0
    if len(val_texts):
        x_val = vectorizer.transform(val_texts)
        scores = {c: _fit(x_train, train_labels, c).score(x_val, val_labels) for c in C_GRID}
        best_c = max(C_GRID, key=lambda c: (scores[c], -c))  # ties: the stronger regulariser
    clf = _fit(x_train, train_labels, best_c)
    accuracy = float(clf.score(vectorizer.transform(test_texts), test_labels))
    return {"accuracy": accuracy, "n": len(test_texts), "C": best_c}


def word_ngrams() -> TfidfVectorizer:
    """The floor's features: word 1-2 gram TF-IDF (also the first half of the distillation teacher's)."""
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000)


def _fit(x, y, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000).fit(x, list(y))
