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
    assert run(capsys, *args)[0] == 0 and (project / "src" / "model.c").is_file()


def test_flash_refuses_a_foreign_platformio_ini(export_dir, tmp_path, capsys):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "platformio.ini").write_text("[env:mine]\n")
    code, err = run(capsys, "flash", "--board", "nucleo_h743", "--model", export_dir,
                    "--project-dir", project, "--generate-only")
    assert code != 0 and "platformio.ini" in err
    assert snapshot(project) == {"platformio.ini": b"[env:mine]\n"}
