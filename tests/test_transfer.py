"""The transfer set the transformer teacher labels: its perturbations, determinism, key."""

import numpy as np

from embbert_mcu.training.distill import augment
from embbert_mcu.training.transfer import (Perturbation, copy_pool, perturb, running_words,
                                           unlabelled_sentences)

TEXTS = ["a truly wonderful and moving film", "dull , slow and far too long",
         "one two three four five six seven eight nine ten"]


def test_the_pool_is_a_function_of_texts_settings_and_seed():
    first = copy_pool(TEXTS, 4, seed=3)
    assert copy_pool(TEXTS, 4, seed=3) == first
    assert copy_pool(TEXTS, 4, seed=4) != first
    assert len(first) == 4 and all(len(copies) == len(TEXTS) for copies in first)
    assert len({c for copies in first for c in copies}) > len(TEXTS)  # it does perturb


def test_replacement_draws_only_words_of_the_training_text():
    words = running_words(TEXTS)
    vocabulary = set(words)
    rng = np.random.default_rng(0)
    how = Perturbation(p_replace=0.5, p_drop=0.0, p_span=0.0)
    outputs = [perturb(TEXTS[2], rng, words, how) for _ in range(200)]
    assert all(len(o.split()) == 10 for o in outputs)  # no drop, no span: same length
    assert all(set(o.split()) <= vocabulary for o in outputs)
    replaced = sum(a != b for o in outputs for a, b in zip(o.split(), TEXTS[2].split()))
    assert 700 < replaced < 1300  # about half of 2,000 words (a draw may give the same word)


def test_without_replacement_it_is_the_ngram_teachers_augmentation():
    # The cache keys on the procedure; with p_replace 0 the copies are those of --distill.
    words = running_words(TEXTS)
    a, b = np.random.default_rng(7), np.random.default_rng(7)
    how = Perturbation(p_replace=0.0)
    for _ in range(50):
        for text in TEXTS:
            assert perturb(text, a, words, how) == augment(text, b)


def test_a_copy_is_never_empty_and_the_key_names_the_settings():
    rng = np.random.default_rng(0)
    drop_all = Perturbation(p_replace=0.0, p_drop=1.0)
    assert perturb("solo", rng, ["x"], drop_all) == "solo"
    assert perturb("two words", rng, ["x"], drop_all) == "two"
    assert Perturbation().key() != Perturbation(p_replace=0.2).key()


SOURCE = [
    "The council met on Monday. It voted to close the old bridge for repairs next spring.",
    "Short one. The weather turned cold and wet across the north of the country overnight!",
    "Is this the end of the long dry summer that farmers have feared for many months?",
    "A sentence that is far too long for the training texts to match at all here, surely.",
    "Prices rose again in March as the cost of fuel went up.",
]


def test_unlabelled_sentences_match_the_training_lengths_and_skip_the_test_texts():
    like = [" ".join("w" * n) for n in (10, 11, 12, 13)]
    picked = unlabelled_sentences(10, like, seed=0, source=SOURCE,
                                  exclude=["it voted to close the OLD bridge for repairs next spring."])
    # Sentences of 10 to 13 words (the training texts' 5th..95th percentile), test text excluded.
    assert picked == sorted(picked) and len(picked) == 2
    assert all(10 <= len(s.split()) <= 13 for s in picked)
    assert "The weather turned cold and wet across the north of the country overnight!" in picked
    assert not any("bridge" in s for s in picked)
    one = unlabelled_sentences(1, like, seed=0, source=SOURCE)
    assert len(one) == 1 and one[0] in picked + ["It voted to close the old bridge for repairs next spring."]
    assert unlabelled_sentences(1, like, seed=0, source=SOURCE) == one  # seeded
    assert unlabelled_sentences(0, like, seed=0, source=SOURCE) == []
