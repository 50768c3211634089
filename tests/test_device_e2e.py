"""The emulated loop end to end: export a tiny model, flash it to qemu_h743, bench a few
samples against the host C build."""

from __future__ import annotations

import json
import shutil

import pytest

from embbert_mcu.cli import main

from _device_util import tiny_export

KEYS = ("accuracy", "host_accuracy", "agreement", "n", "arena_bytes", "stack_bytes",
        "peak_ram_bytes", "flash_bytes", "total_bytes", "budget_bytes",
        "instructions_per_inference", "stages", "latency")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm", "gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    out = tiny_export(tmp_path_factory.mktemp("e2e"), max_len=32, n_test=6, seed=1)
    from embbert_mcu.export.host import HostModel

    rows = [json.loads(line) for line in (out / "testset.jsonl").read_text().splitlines()]
    first = [max(range(len(lg)), key=lg.__getitem__) for lg in HostModel(out).run_many(
        [r["ids"] for r in rows[:2]])]
    assert len(set(first)) > 1  # the first two texts get different labels: agreement can fail
    return out


def _bench(capsys, *args) -> dict:
    main(["bench", *args, "--json"])
    return json.loads(capsys.readouterr().out)


def test_flash_bench_stop_on_qemu_h743(tmp_path, model, capsys):
    report = _bench(capsys, "--board", "qemu_h743", "--model", str(model), "--project-dir",
                    str(tmp_path / "fw"), "--limit", "4", "--budget", "781kB")
    for key in KEYS:
        assert key in report, key
    assert report["n"] == 4 and report["agreement"] == 1.0
    assert report["max_logit_diff"] < 1e-4  # the device computes the host C's logits
    assert report["accuracy"] == report["host_accuracy"]
    assert report["instructions_per_inference"] > 0 and report["stack_guard"] is True
    assert 0 < report["stack_bytes"] <= report["stack_reserved_bytes"]
    assert report["peak_ram_bytes"] == (report["arena_bytes"] + report["stack_bytes"]
                                        + report["static_buffer_bytes"])
    assert report["total_bytes"] == report["peak_ram_bytes"] + report["flash_bytes"]
    assert set(report["stages"]) == set(json.loads((model / "manifest.json").read_text())["stages"])
    # The emulator was shut down: no state file is left behind.
    assert not list((tmp_path / "fw").rglob("emulator.json"))


def test_budget_failure_exits_nonzero(tmp_path, model, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--board", "qemu_f446", "--model", str(model), "--project-dir",
              str(tmp_path / "fw"), "--limit", "1", "--budget", "10kB", "--json"])
    assert exc.value.code == 8  # BudgetError
    report = json.loads(capsys.readouterr().out)  # the report is still printed
    assert report["total_bytes"] > report["budget_bytes"]


def test_flash_prints_socket_url_and_bench_by_port(tmp_path, model, capsys):
    from embbert_mcu.device import emulator

    main(["flash", "--board", "qemu_f446", "--model", str(model), "--project-dir",
          str(tmp_path / "fw")])
    url = capsys.readouterr().out.strip()
    assert url.startswith("socket://127.0.0.1:")
    state = next((tmp_path / "fw").rglob("emulator.json"))
    try:
        report = _bench(capsys, "--port", url, "--model", str(model), "--project-dir",
                        str(tmp_path / "fw"), "--limit", "2")
        assert report["agreement"] == 1.0 and report["device_board"] == "qemu_f446"
        assert report["max_logit_diff"] < 1e-4
        assert report["flash_bytes"] > 0  # found the ELF from the board id in HELLO
    finally:
        emulator.stop(state)


def test_stack_overflow_hits_the_mpu_guard(tmp_path, model):
    """A stack too small for one inference faults into the guard instead of corrupting RAM."""
    import dataclasses

    from embbert_mcu.device import emulator
    from embbert_mcu.device.boards import load_board
    from embbert_mcu.errors import DeviceError
    from embbert_mcu.device.flash import flash
    from embbert_mcu.device.link import Device, SerialTransport

    board = dataclasses.replace(load_board("qemu_h743"), stack_bytes=256)
    r = flash(board, model, tmp_path / "fw")
    dev = Device(SerialTransport(r.url), timeout_s=5, infer_timeout_s=10)
    try:
        assert dev.hello().stack_bytes == 256
        with pytest.raises(DeviceError):
            dev.infer([2, 100, 200])
        state = emulator.load_state(r.state_path)
        assert emulator.exit_code(state, 5) == 4
        assert "MPU guard" in emulator.describe_exit(state)
    finally:
        dev.close()
        emulator.stop(r.state_path)
