"""The typed export manifest (export/manifest.py) and the one testset.jsonl loader: round trip,
every refusal (missing, corrupt, foreign, too new, wrong types) with a hint, older exports."""

from __future__ import annotations

import json

import pytest

from embbert_mcu.cli import main
from embbert_mcu.errors import ManifestError, UsageError
from embbert_mcu.export.manifest import FORMAT, Manifest
from embbert_mcu.export.testset import load_testset

from _device_util import tiny_export


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_export(tmp_path_factory.mktemp("manifest"), max_len=16, n_test=5)


@pytest.fixture
def doc(model):
    return json.loads((model / "manifest.json").read_text())


def _load(tmp_path, doc) -> Manifest:
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    return Manifest.load(tmp_path)


def test_the_export_writes_what_load_reads_byte_for_byte(model, tmp_path):
    m = Manifest.load(model)
    assert m.manifest_format == FORMAT and m.prefix == "embbert" and m.max_len == 16
    assert len(m.labels) == m.n_classes and "manifest.json" in m.files
    assert m.to_json() == (model / "manifest.json").read_text()
    m.write(tmp_path)  # a directory gets manifest.json
    assert Manifest.load(tmp_path / "manifest.json") == m
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp file left


def test_an_export_from_before_the_format_field_loads_as_format_1(doc, tmp_path):
    for key in ("manifest_format", "mac_dtype", "x_layout", "arena_plan", "macs_per_stage",
                "tokenizer", "files"):
        del doc[key]
    m = _load(tmp_path, doc)
    assert m.manifest_format == 1 and m.mac_dtype == "f32" and m.tokenizer is None
    assert set(m.to_dict()) == set(doc) | {"manifest_format", "mac_dtype"}


@pytest.mark.parametrize("change,match", [
    ({"manifest_format": FORMAT + 1}, f"manifest format {FORMAT + 1}; this embbert-mcu reads"),
    ({"manifest_format": "2"}, "not a format number"),
    ({"arena_bytes": "4 kB"}, "arena_bytes is str, expected an integer"),
    ({"max_len": True}, "max_len is bool"),
    ({"stages": "embedder"}, "stages is str, expected a list"),
    ({"stages": ["embedder", 3]}, "stages holds 3"),
    ({"labels": ["only one"]}, "1 labels for 2 classes"),
    ({"tokenizer": []}, "tokenizer is list, expected an object"),
])
def test_wrong_types_and_newer_formats_are_refused(doc, tmp_path, change, match):
    doc.update(change)
    with pytest.raises(ManifestError, match=match) as err:
        _load(tmp_path, doc)
    assert err.value.hint


def test_missing_corrupt_and_foreign_manifests_are_refused(doc, tmp_path):
    with pytest.raises(ManifestError, match="not an export directory"):
        Manifest.load(tmp_path)
    (tmp_path / "manifest.json").write_text('{"prefix": "embbert", ')
    with pytest.raises(ManifestError, match="is corrupt"):
        Manifest.load(tmp_path)
    (tmp_path / "manifest.json").write_bytes(b"\xff\xfe")
    with pytest.raises(ManifestError, match="is corrupt"):
        Manifest.load(tmp_path)
    with pytest.raises(ManifestError, match="not a JSON object"):
        _load(tmp_path, [doc])
    with pytest.raises(ManifestError, match=r"lacks model_sha256, weights_bytes"):
        _load(tmp_path, {"name": "some-package", "prefix": "x", "arena_bytes": 1})
    assert ManifestError.exit_code == UsageError.exit_code


def test_the_cli_refuses_a_damaged_export_in_one_line(model, tmp_path, capsys):
    bad = tmp_path / "model"
    bad.mkdir()
    (bad / "manifest.json").write_text('{"prefix": "embbert", "manifest_format": 99}')
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(bad), "some text", "--engine", "c"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert "manifest format 99" in err and "hint:" in err


def test_testset_loader_reads_the_export_and_refuses_bad_records(model, tmp_path):
    rows = load_testset(model)
    assert len(rows) == 5 and all(r["ids"][0] == 2 and "text" in r for r in rows)  # [CLS]
    assert load_testset(model, limit=2) == rows[:2]
    with pytest.raises(UsageError, match="has no testset.jsonl") as err:
        load_testset(tmp_path)
    assert "--test" in err.value.hint
    path = tmp_path / "testset.jsonl"
    path.write_text("\n")
    with pytest.raises(UsageError, match="holds no test texts"):
        load_testset(tmp_path)
    path.write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(UsageError, match="line 2 of .* is not JSON"):
        load_testset(tmp_path)
    path.write_text(json.dumps({"ids": [2, "7"], "label": 0}) + "\n")
    with pytest.raises(UsageError, match="line 1 of .* is not a test record"):
        load_testset(tmp_path)
    path.write_text(json.dumps({"ids": [2, 7], "label": 1}) + "\n")
    assert load_testset(tmp_path) == [{"ids": [2, 7], "label": 1}]
    with pytest.raises(UsageError, match="has no texts"):
        load_testset(tmp_path, need_text=True)
