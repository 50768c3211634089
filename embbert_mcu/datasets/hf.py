"""Hugging Face hub sets (``hf:imdb``, ``hf:ag_news``, ...) for users with a network.

``datasets`` is an optional dependency (``pip install 'embbert-mcu[hf]'``), imported only here
and only when an ``hf:`` name is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DataError
from .splits import Dataset, Split, stratified_indices


@dataclass(frozen=True)
class HubSet:
    path: str  # hub repository
    config: str | None = None
    text: str = "text"
    label: str = "label"
    train: str = "train"
    test: str = "test"  # the split with labels used as our test set


# Known names: where the text lives and which split carries test labels (SST-2's test has none).
HUB_SETS = {
    "imdb": HubSet("stanfordnlp/imdb"),
    "ag_news": HubSet("fancyzhx/ag_news"),
    "sst2": HubSet("stanfordnlp/sst2", text="sentence", test="validation"),
    "emotion": HubSet("dair-ai/emotion", config="split"),
    "yelp_polarity": HubSet("fancyzhx/yelp_polarity"),
    "trec": HubSet("CogComp/trec", label="coarse_label"),
    "tweet_eval_sentiment": HubSet("cardiffnlp/tweet_eval", config="sentiment"),
}


def load_hub(name: str, val_fraction: float = 0.1, seed: int = 0) -> Dataset:
    """``name`` without the ``hf:`` prefix; a known alias or any hub path with text/label."""
    spec = HUB_SETS.get(name, HubSet(name))
    hub = _import_datasets()
    try:
        data = hub.load_dataset(spec.path, spec.config)
    except Exception as exc:  # network errors, missing sets: many exception types
        raise DataError(
            f"could not load hf:{name} ({type(exc).__name__}: {str(exc)[:200]})",
            hint="Hugging Face sets need a network; offline, use a built-in set or --train/--test",
        ) from None
    for part in (spec.train, spec.test):
        if part not in data:
            raise DataError(f"hf:{name} has no {part!r} split (it has {', '.join(data)})")
    train, test = data[spec.train], data[spec.test]
    for column in (spec.text, spec.label):
        if column not in train.column_names:
            raise DataError(f"hf:{name} has no column {column!r}",
                            hint=f"columns: {', '.join(train.column_names)}")
    labels = _label_names(train.features[spec.label], train[spec.label])
    y = [int(v) for v in train[spec.label]]
    val_idx, train_idx = stratified_indices(y, (val_fraction,), seed)
    texts = list(train[spec.text])
    pick = lambda rows: Split([texts[i] for i in rows], [y[i] for i in rows])  # noqa: E731
    test_split = Split(list(test[spec.text]), [int(v) for v in test[spec.label]])
    return Dataset(f"hf:{name}", labels, pick(train_idx), pick(val_idx), test_split)


def _import_datasets():
    try:
        import datasets  # optional dependency
    except ImportError:
        raise DataError(
            "hf: names need the `datasets` package",
            hint="pip install 'embbert-mcu[hf]' (and a network connection)",
        ) from None
    return datasets


def _label_names(feature, values) -> list[str]:
    names = getattr(feature, "names", None)  # a ClassLabel knows its names
    if names:
        return list(names)
    n = max(int(v) for v in values) + 1
    return [str(i) for i in range(n)]
