"""Nothing lost, no traceback: every bad input or location ends in one clear error line."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from embbert_mcu.cli import main
from embbert_mcu.config import preset
from embbert_mcu.export.devckpt import dev_checkpoint

L = 16


def run(capsys, *args) -> tuple[int, str]:
    """(exit code, stderr) of the CLI; a traceback fails the test on its own."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rel") / "nano.pt"
    dev_checkpoint(preset("nano", max_len=L), path, seed=3, n_test=4, max_words=6)
    return path


# --- 1. data loss -------------------------------------------------------------------------

def test_export_refuses_a_folder_with_user_files(ckpt, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    code, err = run(capsys, "export", ckpt, "-o", out, "--no-onnx")
    assert code != 0 and "not an export directory" in err and "hint:" in err
    assert snapshot(out) == {"notes.txt": b"my notes"}


def test_export_refuses_the_checkpoint_folder_and_cwd(ckpt, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "ck"
    folder.mkdir()
    copy = folder / "model.pt"
    copy.write_bytes(ckpt.read_bytes())
    before = snapshot(folder)
    code, err = run(capsys, "export", copy, "-o", folder, "--no-onnx")
    assert code != 0 and "error:" in err and snapshot(folder) == before
    monkeypatch.chdir(folder)
    code, err = run(capsys, "export", "model.pt", "-o", ".", "--no-onnx")
    assert code != 0 and "working directory" in err and snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_export_replaces_its_own_export_but_not_foreign_extras(ckpt, tmp_path, capsys):
    out = tmp_path / "model"
    assert run(capsys, "export", ckpt, "-o", out, "--no-onnx")[0] == 0
    (out / "host").mkdir()  # the host build's cache is ours too
    assert run(capsys, "export", ckpt, "-o", out, "--no-onnx")[0] == 0
    (out / "keep.txt").write_text("x")
    before = snapshot(out)
    code, err = run(capsys, "export", ckpt, "-o", out, "--no-onnx")
    assert code != 0 and "keep.txt" in err and snapshot(out) == before


def test_stale_temp_folders_of_killed_exports_are_cleaned(ckpt, tmp_path, capsys):
    from embbert_mcu.export.outdir import MARKER

    proc = subprocess.Popen(["true"])
    proc.wait()  # a pid that is no longer running
    dead = tmp_path / f".model.{proc.pid}.abcd1234.tmp"
    dead.mkdir()
    (dead / MARKER).write_text("")
    (dead / "model.c").write_text("half")
    live = tmp_path / f".model.{os.getpid()}.efgh5678.tmp"  # a running export's: kept
    live.mkdir()
    (live / MARKER).write_text("")
    legacy = tmp_path / ".model.zz99.tmp"  # an older version's, no marker, hours old
    legacy.mkdir()
    (legacy / "weights.c").write_text("old")
    os.utime(legacy, (time.time() - 7200,) * 2)
    stranger = tmp_path / ".model.user.tmp"  # named alike but holds a user file: kept
    stranger.mkdir()
    (stranger / "thesis.tex").write_text("x")
    os.utime(stranger, (time.time() - 7200,) * 2)
    assert run(capsys, "export", ckpt, "-o", tmp_path / "model", "--no-onnx")[0] == 0
    assert not dead.exists() and not legacy.exists()
    assert live.exists() and (stranger / "thesis.tex").exists()


@pytest.fixture(scope="module")
def export_dir(ckpt, tmp_path_factory) -> Path:
    from embbert_mcu.export.exporter import export_checkpoint

    out = tmp_path_factory.mktemp("relexp") / "model"
    export_checkpoint(ckpt, out, onnx=False)
    return out


def test_flash_keeps_user_files_in_project_src(export_dir, tmp_path, capsys):
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.c").write_text("int main(void){return 0;}\n")
    code, err = run(capsys, "flash", "--board", "nucleo_h743", "--model", export_dir,
                    "--project-dir", project, "--generate-only")
    assert code != 0 and "main.c" in err and "hint:" in err
    assert snapshot(project) == {"src/main.c": b"int main(void){return 0;}\n"}


def test_flash_regenerates_its_own_project(export_dir, tmp_path, capsys):
    project = tmp_path / "proj"
    args = ("flash", "--board", "nucleo_h743", "--model", export_dir, "--project-dir", project,
            "--generate-only")
    assert run(capsys, *args)[0] == 0
    (project / "src" / "old_model_extra.c").write_text("/* mine */")
    code, err = run(capsys, *args)
    assert code != 0 and "old_model_extra.c" in err
    (project / "src" / "old_model_extra.c").unlink()
    assert run(capsys, *args)[0] == 0 and (project / "src" / "embbert_model.c").is_file()


def test_flash_refuses_a_foreign_platformio_ini(export_dir, tmp_path, capsys):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "platformio.ini").write_text("[env:mine]\n")
    code, err = run(capsys, "flash", "--board", "nucleo_h743", "--model", export_dir,
                    "--project-dir", project, "--generate-only")
    assert code != 0 and "platformio.ini" in err
    assert snapshot(project) == {"platformio.ini": b"[env:mine]\n"}


# --- 2. typed errors instead of tracebacks ---------------------------------------------------

def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


@pytest.fixture
def csv_pair(tmp_path) -> tuple[Path, Path]:
    rows = [(f"good movie number {i}", "pos") if i % 2 else (f"bad film number {i}", "neg")
            for i in range(20)]
    return write_csv(tmp_path / "train.csv", rows), write_csv(tmp_path / "test.csv", rows[:6])


def test_unwritable_outputs_fail_before_the_work(ckpt, csv_pair, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    bad = blocker / "out.pt"  # under a regular file: no one can create it, root included
    train, test = csv_pair
    cases = [
        ("train", "--train", train, "--test", test, "--preset", "nano", "--epochs", "50", "-o", bad),
        ("pretrain", "--preset", "nano", "--steps", "100000", "-o", bad),
        ("quantize", ckpt, "-o", bad, "--recover-epochs", "0"),
        ("export", ckpt, "-o", blocker / "model", "--no-onnx"),
    ]
    for args in cases:
        start = time.monotonic()
        code, err = run(capsys, *args)
        assert code == 2 and "cannot write" in err and "hint:" in err, (args, err)
        assert time.monotonic() - start < 20, args  # refused before training, not after
    assert blocker.read_text() == "x"


@pytest.fixture
def full_dir(tmp_path):
    """A 64 KiB tmpfs filled to the last byte (needs mount rights, else skipped)."""
    folder = tmp_path / "full"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 512):
                pass
        except OSError:
            pass
        os.close(fd)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_full_disk_fails_before_training(csv_pair, full_dir, capsys):
    train, test = csv_pair
    code, err = run(capsys, "train", "--train", train, "--test", test, "--preset", "nano",
                    "-o", full_dir / "model.pt")
    assert code == 2 and ("cannot write" in err or "free" in err) and "hint:" in err


def _document(ckpt: Path) -> dict:
    import torch

    return torch.load(ckpt, weights_only=True)


def _save_document(doc: dict, path: Path) -> Path:
    import torch

    torch.save(doc, path)
    return path


@pytest.mark.parametrize("field,value,words", [
    ("d_model", 128.5, "d_model must be an integer"),
    ("n_classes", True, "n_classes must be an integer"),
    ("max_len", 10**9, "max_len must be within"),
    ("attn_dropout", float("nan"), "attn_dropout must be a finite number"),
    ("vocab_size", "8192", "vocab_size must be an integer"),
])
def test_checkpoint_config_is_validated_by_type_and_range(ckpt, tmp_path, capsys, field, value,
                                                          words):
    doc = _document(ckpt)
    doc["config"][field] = value
    path = _save_document(doc, tmp_path / "bad.pt")
    code, err = run(capsys, "eval", path)
    assert code == 3 and "invalid config" in err and words in err and "hint:" in err


def test_state_dict_not_a_dict_and_mismatch_name_the_tensor(ckpt, tmp_path, capsys):
    import torch

    doc = _document(ckpt)
    doc["state_dict"] = [1, 2, 3]
    code, err = run(capsys, "eval", _save_document(doc, tmp_path / "list.pt"))
    assert code == 3 and "state_dict is a list" in err
    doc = _document(ckpt)
    name = sorted(doc["state_dict"])[3]
    doc["state_dict"][name] = torch.zeros(3, 5)
    code, err = run(capsys, "eval", _save_document(doc, tmp_path / "shape.pt"))
    assert code == 3 and name in err and "(3, 5)" in err
    doc = _document(ckpt)
    del doc["state_dict"][name]
    code, err = run(capsys, "eval", _save_document(doc, tmp_path / "lack.pt"))
    assert code == 3 and f"lack {name}" in err


def test_random_bytes_as_a_checkpoint_give_a_hint(tmp_path, capsys):
    path = tmp_path / "noise.pt"
    path.write_bytes(bytes(range(256)) * 9)
    code, err = run(capsys, "eval", path)
    assert code == 3 and "error:" in err and "hint:" in err


def test_eval_on_a_test_split_without_texts(ckpt, tmp_path, capsys):
    doc = _document(ckpt)
    del doc["test_split"]["texts"]
    code, err = run(capsys, "eval", _save_document(doc, tmp_path / "notexts.pt"))
    assert code == 3 and "test split" in err and "--test" in err


def test_training_texts_without_words_fail_up_front(tmp_path, capsys):
    rows = [("!!!" if i % 2 else "", "pos" if i % 2 else "neg") for i in range(20)]
    train = write_csv(tmp_path / "train.csv", rows)
    start = time.monotonic()
    code, err = run(capsys, "train", "--train", train, "--test", train, "--preset", "nano",
                    "--epochs", "50", "-o", tmp_path / "m.pt")
    assert code == 4 and "no training text holds a word" in err
    assert time.monotonic() - start < 20 and not (tmp_path / "m.pt").exists()


def test_csv_field_over_16_mib(ckpt, tmp_path, capsys):
    path = tmp_path / "huge.csv"
    path.write_text("text,label\n" + "a" * ((1 << 24) + 10) + ",class0\nshort,class1\n")
    code, err = run(capsys, "eval", ckpt, "--test", path)
    assert code == 4 and "row 2" in err and "field larger than field limit" in err
    assert "16 MiB" in err


@pytest.mark.parametrize("args,words", [
    (("train", "--data", "rt-polarity", "--lr", "nan", "-o", "x.pt"), "not a finite number"),
    (("train", "--data", "rt-polarity", "--lr", "inf", "-o", "x.pt"), "not a finite number"),
    (("train", "--data", "rt-polarity", "--lr", "0", "-o", "x.pt"), "out of range"),
    (("train", "--data", "rt-polarity", "--seed", "-1", "-o", "x.pt"), "out of range"),
    (("train", "--data", "rt-polarity", "--max-len", str(10**9), "-o", "x.pt"), "out of range"),
    (("pretrain", "--lr", "-inf", "-o", "x.pt"), "not a finite number"),
    (("quantize", "x.pt", "-o", "y.pt", "--lr", "nan"), "not a finite number"),
    (("quantize", "x.pt", "-o", "y.pt", "--threshold", "nan"), "must be a finite number"),
    (("memory", "--block", "0"), "is not one of '8', '16', '32', '64', '128'"),
    (("memory", "--block", "7"), "is not one of '8', '16', '32', '64', '128'"),
    (("memory", "--block", "-32"), "is not one of '8', '16', '32', '64', '128'"),
    (("memory", "--max-len", "0"), "out of range"),
    (("train", "--data", "rt-polarity", "--epochs", "1e3", "-o", "x.pt"), "not an integer"),
])
def test_numeric_options_are_finite_and_in_range(tmp_path, capsys, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    code, err = run(capsys, *args)
    assert code == 2 and words in err and not (tmp_path / "x.pt").exists()


def test_a_diverged_model_is_never_written(tmp_path):
    import torch

    from embbert_mcu.checkpoint import Checkpoint, save_checkpoint
    from embbert_mcu.errors import CheckpointError
    from embbert_mcu.model import build_classifier

    model = build_classifier(preset("nano", max_len=L), 0)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(CheckpointError, match="diverged"):
        save_checkpoint(Checkpoint.from_model(model), tmp_path / "nan.pt")
    assert list(tmp_path.iterdir()) == []


def test_last_resort_handler_prints_one_line_and_a_log_path(tmp_path, capsys, monkeypatch):
    import embbert_mcu.memory as memory_lib

    def broken(*a, **k):  # stands for any bug the typed errors do not cover
        raise ZeroDivisionError("division by zero")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(memory_lib, "memory_report", broken)
    code, err = run(capsys, "memory")
    lines = err.strip().splitlines()
    assert code == 1 and lines[0] == "error: ZeroDivisionError: division by zero"
    log = tmp_path / "embbert-mcu" / "last-error.log"
    assert str(log) in lines[1] and "Traceback" in log.read_text()


def _replies():
    from embbert_mcu.device import protocol as P

    info = P.DeviceInfo(1, 32, 2, 5, 4096, 8192, 25_000_000, 1, 8192, 1024, 2048,
                        "instructions", True, "qemu_h743", "mps2", "ab" * 32, "embbert")
    return {
        "hello": (P.decode_hello, P.encode_hello(info), info),
        "infer": (P.decode_infer, P.encode_infer_reply(P.InferResult(7, [0.5, -1.25], 99)), None),
        "stats": (P.decode_stats, P.encode_stats(P.Stats(1, 2, 3, 4, 5, 6, 7)), None),
        "stages": (P.decode_stages, P.encode_stages([("embed", 10), ("block0", 20)]), None),
    }


@pytest.mark.parametrize("kind", ["hello", "infer", "stats", "stages"])
def test_every_decoder_checks_lengths(kind):
    from embbert_mcu.errors import DeviceError, ProtocolError

    decode, payload, expected = _replies()[kind]
    got = decode(payload)
    if expected is not None:
        assert got == expected
    for cut in range(len(payload)):  # every truncation
        with pytest.raises(ProtocolError):
            decode(payload[:cut])
    with pytest.raises(ProtocolError, match="beyond"):
        decode(payload + b"\x00")
    assert issubclass(ProtocolError, DeviceError)


def test_infer_reply_with_the_wrong_number_of_logits():
    from embbert_mcu.device import protocol as P
    from embbert_mcu.errors import ProtocolError

    payload = P.encode_infer_reply(P.InferResult(3, [1.0, 2.0, 3.0], 5))
    with pytest.raises(ProtocolError, match="3 logits, the model has 2"):
        P.decode_infer(payload, n_classes=2)


# --- 3. a new user's run ------------------------------------------------------------------

def test_quantize_finds_the_users_training_csv_from_anywhere(csv_pair, tmp_path, capsys,
                                                            monkeypatch):
    train, test = csv_pair
    monkeypatch.chdir(train.parent)
    code, err = run(capsys, "train", "--train", train.name, "--test", test.name, "--preset",
                    "nano", "--max-len", "16", "--epochs", "1", "-o", "m.pt", "--json")
    assert code == 0 and "labels: neg -> 0, pos -> 1" in err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, err = run(capsys, "quantize", train.parent / "m.pt", "-o", "q.pt", "--recover-epochs", "1")
    assert code == 0 and f"data: {train.resolve()}" in err
    train.unlink()
    code, err = run(capsys, "quantize", train.parent / "m.pt", "-o", "q2.pt")
    assert code == 4 and "which is gone" in err and "--train" in err


def test_quantize_on_an_old_checkpoint_of_a_user_file_says_pass_train(ckpt, tmp_path, capsys):
    doc = _document(ckpt)
    doc["metrics"] = {"dataset": "my-reviews.csv"}  # what train stored before the path
    path = _save_document(doc, tmp_path / "old.pt")
    code, err = run(capsys, "quantize", path, "-o", tmp_path / "q.pt")
    assert code == 4 and "my-reviews.csv" in err and "--train FILE" in err


def test_eval_prints_the_label_mapping(ckpt, capsys):
    code, err = run(capsys, "eval", ckpt)
    assert code == 0 and "labels: class0 -> 0, class1 -> 1" in err
    main(["eval", str(ckpt), "--json"])
    assert json.loads(capsys.readouterr().out)["labels"] == ["class0", "class1"]


def test_a_negative_drop_reads_as_a_gain():
    from embbert_mcu.cli.quantize import change_points

    assert change_points(-1.01) == "gain 1.01 points"
    assert change_points(0.5) == "drop 0.50 points"
    assert change_points(0.0) == "no change"


def _registry_reachable() -> bool:
    import socket

    from embbert_mcu.device.registry import PROXY_VARS, REGISTRY_HOST

    if any(os.environ.get(v) for v in PROXY_VARS):
        return True
    try:
        socket.create_connection((REGISTRY_HOST, 443), timeout=5).close()
        return True
    except OSError:
        return False


def test_flash_real_board_without_the_registry_is_one_quick_line(export_dir, tmp_path, capsys):
    if _registry_reachable():
        pytest.skip("the registry is reachable: the build would install the real platform")
    start = time.monotonic()
    code, err = run(capsys, "flash", "--board", "esp32dev", "--model", export_dir,
                    "--project-dir", tmp_path / "p", "--no-upload")
    assert code == 6 and "registry" in err and "unreachable" in err and "hint:" in err
    assert len(err.strip().splitlines()) == 3  # building ..., error:, hint:
    assert time.monotonic() - start < 30  # pio alone retries for about a minute


def test_pio_output_with_an_http_error_becomes_the_registry_error(tmp_path):
    from embbert_mcu.device.registry import raise_http_error
    from embbert_mcu.errors import BuildError

    # The tail of a real `pio run` for nucleo_h743 on a machine without the registry.
    output = ("Processing nucleo_h743 (platform: ststm32; board: nucleo_h743zi; framework: "
              "stm32cube)\n" + "-" * 80 + "\nPlatform Manager: Installing ststm32\nHTTPClientError:\n")
    with pytest.raises(BuildError, match="registry .* is unreachable .*ststm32"):
        raise_http_error(output, "ststm32", "nucleo_h743", tmp_path)
    raise_http_error("Linking .pio/build/x/firmware.elf\n", "ststm32", "nucleo_h743", tmp_path)


def test_help_and_light_commands_do_not_import_torch():
    code = ("import sys; from embbert_mcu.cli import _load_commands; _load_commands(); "
            "print(sorted(m for m in ('torch', 'sklearn', 'tokenizers') if m in sys.modules))")
    out = subprocess.run([os.sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
