"""The tokenizer: specials, layouts, normalisation, truncation, training, JSON round trip."""

import pytest

from embbert_mcu.config import CLS_ID, MASK_ID, PAD_ID, SEP_ID, UNK_ID
from embbert_mcu.errors import CheckpointError
from embbert_mcu.tokenizer import DEFAULT_PATH, EmbTokenizer, train_tokenizer


@pytest.fixture(scope="module")
def tok():
    return EmbTokenizer.default()


def test_default_tokenizer_is_shipped_small_and_complete(tok):
    assert DEFAULT_PATH.stat().st_size < 1_000_000
    assert tok.vocab_size == 8192
    ids = {t: tok.tok.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[MASK]", "[SEP]")}
    assert ids == {"[PAD]": PAD_ID, "[UNK]": UNK_ID, "[CLS]": CLS_ID, "[MASK]": MASK_ID, "[SEP]": SEP_ID}


def test_single_and_pair_layouts(tok):
    single = tok.encode("the movie was great")
    assert single == [CLS_ID, *tok.pieces("the movie was great")] and SEP_ID not in single
    a, b = tok.pieces("the movie"), tok.pieces("was great")
    assert tok.encode("the movie", "was great") == [CLS_ID, *a, SEP_ID, *b, SEP_ID]


def test_lowercase_and_accents_stripped(tok):
    assert tok.encode("Café NAÏVE Résumé") == tok.encode("cafe naive resume")
    tokens = tok.tokens("Hello, World!")
    assert tokens[0] == "[CLS]" and "".join(tokens[1:]) == "hello,world!"
    assert tokens[-2:] == ["world", "!"]  # whitespace and punctuation split first


def test_truncation_keeps_layout(tok):
    text = "word " * 400
    assert len(tok.encode(text, max_len=16)) == 16
    pair = tok.encode(text, "tail", max_len=16)
    assert len(pair) == 16 and pair[0] == CLS_ID and pair[-1] == SEP_ID
    assert tok.encode_many(["a b c", text], max_len=8) == [tok.encode("a b c"), tok.encode(text)[:8]]


def test_training_fixes_special_ids():
    text = ["the cat sat on the mat", "a dog sat on a log", "cats and dogs"] * 20
    small = train_tokenizer(text, vocab_size=120)
    assert small.vocab_size <= 120
    assert [small.tok.token_to_id(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[MASK]", "[SEP]")] == [0, 1, 2, 3, 4]
    again = EmbTokenizer.from_json(small.to_json())
    assert again.encode("the cat", "a dog") == small.encode("the cat", "a dog")


def test_bad_json_is_a_checkpoint_error():
    with pytest.raises(CheckpointError, match="tokenizer"):
        EmbTokenizer.from_json("{not json")
