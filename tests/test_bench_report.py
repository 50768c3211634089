"""bench --report: the report folder from crafted bench results (a real tiny export's
manifest), its refusal of folders that are not ours, and the export's plan and MAC records."""

from __future__ import annotations

import json
import re
import shutil
import struct

import pytest

from embbert_mcu.cli import main
from embbert_mcu.device import report as R
from embbert_mcu.device.bench import TOOL
from embbert_mcu.errors import UsageError

from _device_util import tiny_export


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_export(tmp_path_factory.mktemp("report"), max_len=32, n_test=6)


@pytest.fixture(scope="module")
def manifest(model):
    return json.loads((model / "manifest.json").read_text())


def crafted_report(manifest: dict, unit: str = "instructions", clock_hz: int = 25_000_000) -> dict:
    """A bench result as run_bench returns it; latency 10 ticks per MAC plus 2,000."""
    lengths = [5, 9, 14, 20, 27, 32]
    macs = [R.macs_at(manifest, n) for n in lengths]
    ticks = [10 * sum(m.values()) + 2000 for m in macs]
    stages = {s: sum(10 * m[s] for m in macs) / len(macs) for s in manifest["stages"]}
    r = {"tool": TOOL, "version": "0.1.0", "model_sha256": manifest["model_sha256"],
         "device_board": "qemu_f446", "port": "qemu_mps2", "clock_hz": clock_hz,
         "mean_len": sum(lengths) / len(lengths), "weights_bytes": manifest["weights_bytes"],
         "n": 6, "accuracy": 0.5, "host_accuracy": 0.5, "agreement": 1.0, "disagreements": [],
         "max_logit_diff": 3e-9, "tick_unit": unit,
         "latency": {"min": min(ticks), "mean": sum(ticks) / 6, "max": max(ticks), "unit": unit},
         "stages": stages, "arena_bytes": manifest["arena_bytes"], "stack_bytes": 456,
         "stack_reserved_bytes": 8192, "static_buffer_bytes": 1146,
         "peak_ram_bytes": manifest["arena_bytes"] + 456 + 1146,
         "flash_bytes": manifest["weights_bytes"] + 9000, "ram_static_bytes": 20000,
         "budget_bytes": 781_000, "stack_guard": True, "board": "qemu_f446",
         "board_ram_bytes": 131072, "board_flash_bytes": 524288, "device_errors": 0,
         "per_sample": {"n_tokens": lengths, "latency": ticks, "unit": unit}}
    r["total_bytes"] = r["peak_ram_bytes"] + r["flash_bytes"]
    r[f"{unit}_per_inference"] = r["latency"]["mean"]
    if unit == "cycles":
        r["latency_us"] = {k: r["latency"][k] / clock_hz * 1e6 for k in ("min", "mean", "max")}
    return r


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def write(tmp_path, report, manifest, name="rep"):
    target = R.prepare(tmp_path / name)
    R.write_report(target, report, manifest)
    return tmp_path / name


@pytest.fixture(scope="module")
def written(tmp_path_factory, manifest):
    """One report written from the crafted result (drawing takes seconds: shared)."""
    root = tmp_path_factory.mktemp("written")
    report = crafted_report(manifest)
    return report, write(root, report, manifest)


def test_report_folder_files_json_markdown_and_pngs(written, manifest):
    import matplotlib.image

    report, out = written
    assert sorted(p.name for p in out.iterdir()) == sorted(R.REPORT_FILES)
    assert json.loads((out / "report.json").read_text()) == report
    md = (out / "report.md").read_text()
    for png in R.PLOTS:
        assert f"]({png})" in md, png
        assert matplotlib.image.imread(out / png).ndim == 3  # decodes as an RGB(A) image
    # Figure sizes are fixed in inches at 100 dpi (no tight bbox): 9 x 7.5 in, 11 x 6.1 in.
    assert png_size(out / "latency.png") == (900, 750)
    assert png_size(out / "memory.png") == (1100, 610)
    width, height = png_size(out / "arena.png")
    assert width == 1300 and height >= 580
    assert png_size(out / "stages.png")[0] == 900
    assert "**6 of 6**" in md and "qemu_f446" in md and manifest["model_sha256"] in md
    assert "instructions per MAC" in md and "10." in md  # 10 per MAC plus the 2,000 offset
    assert not list(out.parent.glob(".rep.*"))  # no temporary folder left beside it


def test_report_replaces_our_earlier_report(tmp_path, manifest, written):
    shutil.copytree(written[1], tmp_path / "rep")
    second = crafted_report(manifest)
    second["accuracy"] = 0.25
    out = write(tmp_path, second, manifest)
    assert json.loads((out / "report.json").read_text())["accuracy"] == 0.25
    assert not list(tmp_path.glob(".rep.*"))


@pytest.mark.parametrize("setup", ["user_file", "foreign_json", "ours_plus_user_file", "file"])
def test_report_refuses_a_folder_that_is_not_ours(tmp_path, written, setup):
    out = tmp_path / "rep"
    if setup == "file":
        out.write_text("mine")
    else:
        if setup == "ours_plus_user_file":
            shutil.copytree(written[1], out)
        out.mkdir(exist_ok=True)
        if setup == "foreign_json":
            (out / "report.json").write_text('{"mine": 1}')
        else:
            (out / "notes.txt").write_text("mine")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(UsageError):
        R.prepare(out)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # every file intact, nothing added


def test_bench_refuses_a_user_folder_before_any_work(tmp_path, model, capsys):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--board", "qemu_f446", "--model", str(model), "--report", str(user),
              "--project-dir", str(tmp_path / "fw"), "--limit", "1"])
    assert exc.value.code == 2
    assert "not a bench report" in capsys.readouterr().err
    assert [p.name for p in user.iterdir()] == ["notes.txt"]
    assert (user / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "fw").exists()  # refused before flashing


def test_report_of_a_real_board_shows_time_at_the_clock(tmp_path, manifest):
    report = crafted_report(manifest, unit="cycles", clock_hz=480_000_000)
    out = write(tmp_path, report, manifest)
    md = (out / "report.md").read_text()
    assert "µs per inference at 480 MHz" in md and "cycles per MAC" in md
    summary = R.summarize(report, manifest)
    assert summary["axis"]["label"] == "ms at 480 MHz"
    assert png_size(out / "latency.png") == (900, 750)


def test_report_of_an_export_without_plan_records(tmp_path, manifest):
    old = {k: v for k, v in manifest.items() if k not in ("arena_plan", "macs_per_stage")}
    out = write(tmp_path, crafted_report(manifest), old)
    names = {p.name for p in out.iterdir()}
    assert "arena.png" not in names and {"latency.png", "memory.png", "stages.png"} <= names
    md = (out / "report.md").read_text()
    assert "export it again" in md and "](arena.png)" not in md
    assert png_size(out / "latency.png") == (900, 450)  # one panel: no MAC line to divide by


def test_report_tables_use_one_unit(written):
    out = written[1]
    rows = [line for line in (out / "report.md").read_text().splitlines() if line.startswith("|")]
    assert rows
    for line in rows:
        assert not re.search(r"KiB|MiB|\bKB\b", line), line


def test_manifest_plan_and_macs_match_the_schedule():
    from embbert_mcu.config import preset
    from embbert_mcu.export.graph import build_ir
    from embbert_mcu.export.lower import lower_graph
    from embbert_mcu.export.plan import plan_arena, plan_record
    from embbert_mcu.model import build_classifier

    cfg = preset("nano", max_len=32)
    model = build_classifier(cfg).eval()
    schedule = lower_graph(build_ir(model, cfg.max_len), model, "embbert", "int8")
    plan = plan_arena(schedule)
    record = plan_record(schedule, plan)
    assert len(record["ops"]) == len(schedule.flat_ops())
    assert {b["name"]: (b["offset"], b["nbytes"], b["first"], b["last"])
            for b in record["buffers"]} == {
        p.name: (p.offset, p.nbytes, p.first, p.last) for p in plan.placements.values()}
    assert max(b["offset"] + b["nbytes"] for b in record["buffers"]) <= plan.arena_bytes
    poly = schedule.macs_polynomial()
    for n in (1, 7, 32):
        assert sum(a + b * n + c * n * n for a, b, c in poly.values()) == schedule.macs(n)
        assert {s: a + b * n + c * n * n for s, (a, b, c) in poly.items()} == \
            schedule.stage_macs(n)


@pytest.mark.slow
def test_bench_report_end_to_end_on_qemu_f446(tmp_path, model, capsys):
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm", "gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    out = tmp_path / "report"
    main(["bench", "--board", "qemu_f446", "--model", str(model), "--project-dir",
          str(tmp_path / "fw"), "--limit", "5", "--budget", "781kB", "--report", str(out),
          "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert json.loads((out / "report.json").read_text()) == report
    assert report["per_sample"]["n_tokens"] and len(report["per_sample"]["latency"]) == 5
    assert sorted(p.name for p in out.iterdir()) == sorted(R.REPORT_FILES)
    md = (out / "report.md").read_text()
    assert "# Bench report: qemu_f446" in md and "**5 of 5**" in md
    assert f"report: {out / 'report.md'}" in captured.err
    assert png_size(out / "latency.png") == (900, 750)
