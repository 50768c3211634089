"""Sentence pairs: file columns and their errors, the hub column mapping, longest-first
encoding and segments, the offline pair set, the pair floor, and train -> export --verify ->
eval -> predict end to end on a tiny pair task."""

import json
import random

import pytest
import torch

from embbert_mcu import datasets as D
from embbert_mcu.cli import main
from embbert_mcu.config import CLS_ID, SEP_ID
from embbert_mcu.datasets.hf import HUB_SETS, hub_dataset
from embbert_mcu.datasets.derived import DERIVED, verify_derived
from embbert_mcu.datasets.pairs import build_pairs
from embbert_mcu.datasets.splits import Dataset, Split
from embbert_mcu.datasets.texts import read_items, read_texts
from embbert_mcu.errors import DataError, UsageError
from embbert_mcu.model import segment_ids
from embbert_mcu.tokenizer import EmbTokenizer, join_pair
from embbert_mcu.training.baseline import tfidf_floor
from test_cli_data import run  # main(args) -> (exit code, captured output)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tok():
    return EmbTokenizer.default()


# --- files ---------------------------------------------------------------------------------

def test_csv_and_jsonl_pairs_are_read_with_their_second_texts(tmp_path):
    csv_file = write(tmp_path / "p.csv", 'text,text_pair,label\n"a, b",c d,yes\ne,f,no\n')
    assert D.read_rows(csv_file) == (["a, b", "e"], ["c d", "f"], ["yes", "no"])
    rows = [{"text": "x", "text_pair": "y", "label": 1}, {"text": "z", "text_pair": "w", "label": 0}]
    jsonl = write(tmp_path / "p.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert D.read_rows(jsonl) == (["x", "z"], ["y", "w"], ["1", "0"])
    assert read_items(jsonl) == (["x", "z"], ["y", "w"], ["1", "0"])
    single = write(tmp_path / "s.csv", "text,label\nhi,a\n")
    assert D.read_rows(single) == (["hi"], None, ["a"])


@pytest.mark.parametrize("name, content, needle", [
    ("empty_cell.csv", "text,text_pair,label\na,b,x\nc,,y\n", ":3: empty text_pair"),
    ("blank_cell.csv", "text,text_pair,label\na,  ,x\n", ":2: empty text_pair"),
    ("null.jsonl", '{"text": "a", "text_pair": null, "label": "x"}\n', ":1: empty text_pair"),
    ("mixed.jsonl", '{"text": "a", "text_pair": "b", "label": "x"}\n{"text": "c", "label": "y"}\n',
     "row 2 of 2"),
])
def test_bad_pair_files_raise_data_error(tmp_path, name, content, needle):
    with pytest.raises(DataError) as exc:
        D.read_rows(write(tmp_path / name, content))
    assert needle in exc.value.message and exc.value.hint


def test_single_text_readers_refuse_pair_files(tmp_path):
    pairs = write(tmp_path / "p.csv", "text,text_pair,label\na,b,x\n")
    with pytest.raises(DataError, match="text pairs"):
        D.read_table(pairs)
    with pytest.raises(DataError, match="text pairs"):
        read_texts(pairs)
    with pytest.raises(DataError, match="row 2 has an empty text_pair"):
        read_items(write(tmp_path / "q.csv", "text,text_pair\na,b\nc,\n"))


def test_load_files_keeps_pairs_aligned_and_refuses_a_mixed_train_test(tmp_path):
    lines = ["text,text_pair,label"] + [f"a{i},b{i},{'s' if i % 2 else 'd'}" for i in range(40)]
    train = write(tmp_path / "train.csv", "\n".join(lines) + "\n")
    test = write(tmp_path / "test.csv", "text,text_pair,label\nq,r,s\nt,u,d\n")
    ds = D.load_files(train, test)
    assert ds.is_pair and len(ds.train) + len(ds.val) == 40 and ds.test.pairs == ["r", "u"]
    for split in (ds.train, ds.val):
        assert [t.replace("a", "b") for t in split.texts] == split.pairs
    assert ds.test_split()["pairs"] == ["r", "u"]
    single = write(tmp_path / "single.csv", "text,label\nq,s\nt,d\n")
    with pytest.raises(DataError, match="the other does not"):
        D.load_files(train, single)


# --- Hugging Face column mapping (the hub itself is not reachable here) ----------------------

class Table:
    """A split as ``datasets`` hands it over: column_names, features, columns by name."""

    def __init__(self, columns: dict, names: list[str]):
        self.columns, self.column_names = columns, list(columns)
        self.features = {"label": type("ClassLabel", (), {"names": names})()}

    def __getitem__(self, column):
        return self.columns[column]


@pytest.mark.parametrize("task, first, second", [
    ("glue/mrpc", "sentence1", "sentence2"), ("glue/rte", "sentence1", "sentence2"),
    ("glue/qnli", "question", "sentence"), ("glue/qqp", "question1", "question2"),
    ("glue/mnli", "premise", "hypothesis"),
])
def test_glue_pair_tasks_map_their_columns(task, first, second):
    spec = HUB_SETS[task]
    n = 20
    table = lambda k: Table({first: [f"a{k}{i}" for i in range(n)],  # noqa: E731
                             second: [f"b{k}{i}" for i in range(n)], "label": [i % 2 for i in range(n)]},
                            ["no", "yes"])
    ds = hub_dataset(task, spec, {spec.train: table("t"), spec.test: table("v")})
    assert ds.is_pair and ds.labels == ["no", "yes"] and ds.name == f"hf:{task}"
    assert len(ds.train) + len(ds.val) == n and ds.test.texts[0] == "av0" and ds.test.pairs[0] == "bv0"
    assert [t.replace("a", "b") for t in ds.train.texts] == ds.train.pairs
    broken = Table({first: ["x"], "label": [0]}, ["no", "yes"])
    with pytest.raises(DataError, match=f"no column '{second}'"):
        hub_dataset(task, spec, {spec.train: broken, spec.test: broken})


# --- encoding --------------------------------------------------------------------------------

def test_pairs_are_cut_longest_first_and_keep_both_separators(tok):
    assert join_pair(list(range(10, 20)), [7, 8, 9], 10) == [CLS_ID, 10, 11, 12, 13, SEP_ID, 7, 8, 9, SEP_ID]
    assert join_pair([5, 6, 7], [8, 9, 10], 6) == [CLS_ID, 5, 6, SEP_ID, 8, SEP_ID]  # ties: b first
    assert join_pair([5], [], 3) == [CLS_ID, SEP_ID, SEP_ID]
    a, b = "the film is long " * 20, "short one"
    ids = tok.encode(a, b, max_len=24)
    assert len(ids) == 24 and ids[-3:-1] == tok.pieces(b)[-2:] and ids.count(SEP_ID) == 2
    untruncated = tok.tok.encode("a short one", "and another").ids  # the library's pair template
    assert tok.encode("a short one", "and another") == untruncated
    assert tok.encode_many(["a", a], max_len=24, pairs=["b", b]) == [tok.encode("a", "b", 24), ids]
    with pytest.raises(UsageError, match="max_len >= 3"):
        tok.encode("a", "b", max_len=2)
    with pytest.raises(UsageError):
        tok.encode_many(["a", "b"], pairs=["c"])


def test_segments_of_a_pair_are_the_models(tok):
    ids = tok.encode("first part here", "then the second", max_len=32)
    sep = ids.index(SEP_ID)
    want = [1] * (sep + 1) + [2] * (len(ids) - sep - 1) + [0, 0]
    padded = torch.tensor([ids + [0, 0]])
    assert segment_ids(padded)[0].tolist() == want and ids[0] == CLS_ID


# --- the offline pair set and the floor -----------------------------------------------------

def _base(n_per_label: int = 30) -> Dataset:
    def split(tag):
        texts = [f"{tag} text {i}" for i in range(3 * n_per_label)]
        return Split(texts, [i % 3 for i in range(3 * n_per_label)])
    train = split("tr")
    train.texts[1] = train.texts[0]  # a duplicate is used once
    test = split("te")
    test.texts[0] = "tr text 5"  # a training text in the test split is dropped
    return Dataset("base", ["a", "b", "c"], train, split("va"), test)


def test_pair_set_is_balanced_seeded_and_disjoint():
    base = _base()
    ds = build_pairs("toy-pairs", base)
    assert ds == build_pairs("toy-pairs", base) and ds.labels == ["different", "same"]
    assert len(ds.train) == 89 and len(ds.test) == 89 and len(ds.val) == 90
    label_of = {}  # the first occurrence's label, as the pair set keeps it
    for s in (base.train, base.val, base.test):
        for t, y in zip(s.texts, s.labels):
            label_of.setdefault(t, y)
    for split in (ds.train, ds.val, ds.test):
        assert abs(sum(split.labels) * 2 - len(split)) <= 1  # half "same"
        for a, b, y in zip(split.texts, split.pairs, split.labels):
            assert a != b and (label_of[a] == label_of[b]) == (y == 1)
    train_texts = set(ds.train.texts) | set(ds.train.pairs)
    assert not train_texts & (set(ds.test.texts) | set(ds.test.pairs))
    assert len(set(ds.train.texts)) == len(ds.train)  # each text first in one pair
    spec = DERIVED["rt-polarity-pairs"]
    with pytest.raises(DataError, match="expected"):
        verify_derived(spec, ds)


def test_the_pair_floor_sees_both_texts():
    rng = random.Random(0)
    topics = ["goal", "vote", "chip", "film", "bank", "rain"]
    filler = ["the", "a", "it", "was", "on", "day", "new", "old"]

    def rows(n):
        texts, pairs, labels = [], [], []
        for i in range(n):
            t = rng.choice(topics)
            u = t if i % 2 else rng.choice([x for x in topics if x != t])
            texts.append(" ".join(rng.sample(filler, 3) + [t]))
            pairs.append(" ".join(rng.sample(filler, 3) + [u]))
            labels.append(i % 2)
        return texts, pairs, labels
    (a, b, y), (ta, tb, ty), (va, vb, vy) = rows(400), rows(100), rows(60)
    floor = tfidf_floor(a, y, ta, ty, va, vy, pairs=(b, tb, vb))
    assert floor["accuracy"] >= 0.9 and floor["n"] == 100
    first_only = tfidf_floor(a, y, ta, ty, va, vy)  # one side cannot tell: about chance
    assert first_only["accuracy"] < 0.7


# --- end to end -----------------------------------------------------------------------------

WORDS = {"s": ["goal", "match", "team"], "p": ["vote", "party", "law"], "t": ["chip", "phone", "app"]}


def pair_csv(path, n, seed):
    rng = random.Random(seed)
    lines = ["text,text_pair,label"]
    for i in range(n):
        t = rng.choice(sorted(WORDS))
        u = t if i % 2 else rng.choice([x for x in WORDS if x != t])
        a = " ".join([rng.choice(WORDS[t]), "on", "the", rng.choice(WORDS[t])])
        b = " ".join([rng.choice(WORDS[u]), "and", rng.choice(WORDS[u])])
        lines.append(f"{a},{b},{'same' if i % 2 else 'other'}")
    return write(path, "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pairs")
    train, test = pair_csv(tmp / "train.csv", 300, 0), pair_csv(tmp / "test.csv", 40, 1)
    ckpt = tmp / "p.pt"
    main_args = ["train", "--train", str(train), "--test", str(test), "--preset", "tiny",
                 "--epochs", "3", "--max-len", "16", "--lr", "3e-3", "-o", str(ckpt), "--json"]
    try:
        main(main_args)
    except SystemExit as exc:
        assert exc.code in (0, None)
    try:
        main(["export", str(ckpt), "-o", str(tmp / "model"), "--verify", "--no-onnx", "--json"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    return tmp, ckpt, test


def test_train_export_verify_on_pairs(exported, capsys):
    tmp, ckpt, test = exported
    capsys.readouterr()
    from embbert_mcu.checkpoint import load_checkpoint

    metrics = load_checkpoint(ckpt).metrics
    # A few seconds of training do not learn the overlap (the floor does): this checks the
    # pipeline, not the accuracy; see docs/training.md for the measured figures.
    assert metrics["pairs"] and metrics["n"] == 40 and metrics["floor_accuracy"] >= 0.7
    rows = [json.loads(x) for x in (tmp / "model" / "testset.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and all("text_pair" in r and r["ids"].count(SEP_ID) == 2 for r in rows)
    tok = EmbTokenizer.default()
    assert rows[0]["ids"] == tok.encode(rows[0]["text"], rows[0]["text_pair"], max_len=16)
    code, out = run(["eval", str(ckpt), "--test", str(test), "--json"], capsys)
    assert code == 0 and json.loads(out.out)["accuracy"] == metrics["accuracy"]
    code, out = run(["export", str(ckpt), "-o", str(tmp / "again"), "--verify", "--no-onnx",
                     "--test", str(test), "--json"], capsys)
    doc = json.loads(out.out)
    assert code == 0 and doc["agreement"] == 1.0 and doc["c_accuracy"] == metrics["accuracy"]


def test_predict_takes_pairs_on_both_engines(exported, capsys):
    tmp, ckpt, test = exported
    from embbert_mcu.predict import load

    texts, pairs, names = D.read_rows(test)
    torch_p = load(ckpt).predict(texts, pairs)
    c_p = load(tmp / "model", engine="c").predict(texts, pairs)
    assert [p.label for p in torch_p] == [p.label for p in c_p]
    from_ckpt = load(ckpt, engine="c").predict(texts, pairs)  # exported again, same C
    assert [p.logits for p in from_ckpt] == [p.logits for p in c_p]
    accuracy = sum(p.label == n for p, n in zip(torch_p, names)) / len(names)
    from embbert_mcu.checkpoint import load_checkpoint
    assert accuracy == load_checkpoint(ckpt).metrics["accuracy"]
    code, out = run(["predict", str(ckpt), "--input", str(test), "--json"], capsys)
    assert code == 0 and [p["label"] for p in json.loads(out.out)["predictions"]] == \
        [p.label for p in torch_p]
    code, out = run(["predict", str(ckpt), "a text", "--input", str(test)], capsys)
    assert code == 2 and "holds pairs" in out.err and "Traceback" not in out.err


def test_pair_refusals_are_one_line_errors(exported, capsys, tmp_path):
    tmp, ckpt, test = exported
    from embbert_mcu.device.textbench import text_samples

    with pytest.raises(UsageError, match="sentence pairs"):
        text_samples(tmp / "model")
    with pytest.raises(UsageError, match="sentence pairs"):
        text_samples(tmp / "model", test)
    single = write(tmp_path / "single.csv", "text,label\nvote on law,same\n")
    code, out = run(["export", str(ckpt), "-o", str(tmp_path / "m"), "--verify", "--no-onnx",
                     "--test", str(single)], capsys)
    assert code == 2 and "classifies sentence pairs" in out.err
    assert not (tmp_path / "m").exists()  # refused before the export was written
    for engine in ("torch", "c"):  # single texts to a pair model: meaningless ids, refused
        code, out = run(["predict", str(ckpt), "vote on law", "--engine", engine], capsys)
        assert code == 2 and "classifies sentence pairs" in out.err and "Traceback" not in out.err
    code, out = run(["train", "--train", str(test), "--test", str(test), "--preset", "tiny",
                     "--distill", "--epochs", "1", "-o", str(tmp_path / "d.pt")], capsys)
    assert code == 2 and "sentence-pair set" in out.err and "Traceback" not in out.err
    code, out = run(["train", "--train", str(test), "--test", str(test), "--preset", "tiny",
                     "--teacher", "minilm", "--distill", "--epochs", "1", "-o", str(tmp_path / "d.pt")],
                    capsys)  # both teachers: refused before the teacher is fetched or fine-tuned
    assert code == 2 and "leave out --distill" in out.err and "Traceback" not in out.err
    assert not (tmp_path / "d.pt").exists()
    code, out = run(["train", "--train", str(test), "--test", str(single), "-o",
                     str(tmp_path / "e.pt")], capsys)
    assert code == 4 and "the other does not" in out.err


def test_quantize_scores_and_recovers_on_the_pairs(exported, capsys, tmp_path):
    """quantize measures a pair checkpoint on [CLS] a [SEP] b [SEP]: its fp32 accuracy is the
    one train recorded (on the first texts alone the ids would differ), and recovery and the
    threshold sweep read the pairs of the training file."""
    _, ckpt, _ = exported
    from embbert_mcu.checkpoint import load_checkpoint

    metrics = load_checkpoint(ckpt).metrics
    code, out = run(["quantize", str(ckpt), "-o", str(tmp_path / "q.pt"), "--recover-epochs",
                     "1", "--threshold", "auto", "--json"], capsys)
    doc = json.loads(out.out)
    assert code == 0 and doc["fp32_accuracy"] == metrics["accuracy"] and doc["n_test"] == 40
    assert doc["recovery"]["data"].endswith("train.csv") and doc["threshold_sweep"]
