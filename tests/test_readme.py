"""README.md's figures and docs/results.md are rendered from docs/results/ (benchmarks/readme.py):
a hand edit of a figure, or a record without its rendering, fails here."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = str(ROOT / "benchmarks")

# benchmarks/ goes on the path only while the scripts import: left there, its kernels.py would
# shadow the `kernels` package that transformers looks for.
sys.path.insert(0, BENCHMARKS)
try:
    import readme
    import record
finally:
    sys.path.remove(BENCHMARKS)


def test_readme_and_results_match_the_records():
    outputs = readme.render_all(ROOT)
    for path, text in outputs.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} differs from what docs/results/ gives: run `make readme`")


def scratch_root(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    shutil.copytree(ROOT / "docs" / "results", tmp_path / "docs" / "results")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    return tmp_path


def newest(root: Path, name: str) -> Path:
    return max((root / "docs" / "results").glob(f"{name}-*.json"))


def test_a_changed_record_changes_the_readme(tmp_path):
    root = scratch_root(tmp_path)
    path = newest(root, "bench-qemu_h743")
    rec = json.loads(path.read_text(encoding="utf-8"))
    rec["document"]["latency"]["mean"] = 12_345_678.0
    path.write_text(json.dumps(rec), encoding="utf-8")
    before = (ROOT / "README.md").read_text(encoding="utf-8")
    after = readme.render_all(root)[root / "README.md"]
    assert "mean 12.3 M" in after and "mean 12.3 M" not in before
    assert readme.main(["--check", "--root", str(root)]) == 1
    assert readme.main(["--root", str(root)]) == 0
    assert readme.main(["--check", "--root", str(root)]) == 0


def test_a_newer_record_replaces_the_older_one(tmp_path):
    root = scratch_root(tmp_path)
    rec = json.loads(newest(root, "export-default").read_text(encoding="utf-8"))
    rec["date"] = "2999-01-01T00:00:00Z"
    rec["document"]["weights_bytes"] = 1_234_567
    record.write_record(root / "docs" / "results", rec)
    text = readme.render_all(root)[root / "README.md"]
    assert "| weights in flash | 1,234,567 B (" in text
    assert "2999-01-01" in readme.render_all(root)[root / "docs" / "results.md"]


def test_a_hand_edited_figure_fails_the_check(tmp_path, capsys):
    root = scratch_root(tmp_path)
    readme_path = root / "README.md"
    text = readme.render_all(root)[readme_path]
    readme_path.write_text(text, encoding="utf-8")
    (root / "docs" / "results.md").write_text(
        readme.render_all(root)[root / "docs" / "results.md"], encoding="utf-8")
    assert readme.main(["--check", "--root", str(root)]) == 0
    readme_path.write_text(text.replace("| weights in flash | ", "| weights in flash | 1"),
                           encoding="utf-8")
    assert readme.main(["--check", "--root", str(root)]) == 1
    assert "make readme" in capsys.readouterr().err


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("<!-- /figures:boards -->", "", 1), "never closed"),  # the last one
    (lambda t: t.replace("<!-- /figures:demo -->", "", 1), "unbalanced figure marker"),
    (lambda t: t + "\n<!-- figures:nosuch -->\nx\n<!-- /figures:nosuch -->\n", "no renderer"),
])
def test_bad_markers_are_one_line_errors(tmp_path, capsys, edit, message):
    root = scratch_root(tmp_path)
    path = root / "README.md"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    assert readme.main(["--check", "--root", str(root)]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_record_is_named(tmp_path, capsys):
    root = scratch_root(tmp_path)
    for path in (root / "docs" / "results").glob("fuzz-*.json"):
        path.unlink()
    for path in (root / "docs" / "results").glob("tokenizer-c-*.json"):
        path.unlink()
    assert readme.main(["--root", str(root)]) == 2
    assert "tokenizer-c" in capsys.readouterr().err


def test_record_refuses_to_overwrite_a_different_record(tmp_path):
    rec = record.make_record("x", {"a": 1}, "cmd --json", "2026-01-02T03:04:05Z", "abc")
    path = record.write_record(tmp_path, rec)
    assert record.write_record(tmp_path, rec) == path  # the same record again: a no-op
    with pytest.raises(record.RecordError, match="different record"):
        record.write_record(tmp_path, dict(rec, document={"a": 2}))
    assert json.loads(path.read_text())["document"] == {"a": 1}


def test_record_run_keeps_the_commands_json(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "record.py"), "--results", str(tmp_path),
         "run", "probe", "--", sys.executable, "-c", "print('{\"figure\": 42}')"],
        capture_output=True, text=True, check=True)
    rec = json.loads(Path(out.stdout.strip()).read_text())
    assert rec["document"] == {"figure": 42} and rec["source"] == "measured"
    assert len(rec["commit"]) == 40 and "figure" in rec["command"]


def test_record_run_without_json_is_a_one_line_error(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "record.py"), "--results", str(tmp_path),
         "run", "probe", "--", sys.executable, "-c", "print('not json')"],
        capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.startswith("error:") and "Traceback" not in out.stderr
    assert not list(tmp_path.iterdir())
