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
    text_pair: str | None = None  # the second text's column for sentence-pair tasks
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
    # GLUE pair tasks: the test splits carry no labels, so validation is the test set.
    "glue/mrpc": HubSet("nyu-mll/glue", "mrpc", "sentence1", text_pair="sentence2", test="validation"),
    "glue/rte": HubSet("nyu-mll/glue", "rte", "sentence1", text_pair="sentence2", test="validation"),
    "glue/qnli": HubSet("nyu-mll/glue", "qnli", "question", text_pair="sentence", test="validation"),
    "glue/qqp": HubSet("nyu-mll/glue", "qqp", "question1", text_pair="question2", test="validation"),
    "glue/mnli": HubSet("nyu-mll/glue", "mnli", "premise", text_pair="hypothesis",
                        test="validation_matched"),
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
    return hub_dataset(name, spec, data, val_fraction, seed)


def hub_dataset(name: str, spec: HubSet, data, val_fraction: float = 0.1, seed: int = 0) -> Dataset:
    """A loaded hub set (a mapping of split name -> table with ``column_names``, ``features``
    and columns by name) as our three splits, the spec's columns mapped to text/text_pair."""
    for part in (spec.train, spec.test):
        if part not in data:
            raise DataError(f"hf:{name} has no {part!r} split (it has {', '.join(data)})")
    train, test = data[spec.train], data[spec.test]
    for column in (spec.text, spec.label, spec.text_pair):
        if column is None:
            continue
        if column not in train.column_names:
            raise DataError(f"hf:{name} has no column {column!r}",
                            hint=f"columns: {', '.join(train.column_names)}")
    labels = _label_names(train.features[spec.label], train[spec.label])
    y = [int(v) for v in train[spec.label]]
    val_idx, train_idx = stratified_indices(y, (val_fraction,), seed)
    second = (lambda table: list(table[spec.text_pair])) if spec.text_pair else (lambda table: None)
    whole = Split(list(train[spec.text]), y, second(train))
    test_split = Split(list(test[spec.text]), [int(v) for v in test[spec.label]], second(test))
    return Dataset(f"hf:{name}", labels, whole.take(train_idx), whole.take(val_idx), test_split)


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
