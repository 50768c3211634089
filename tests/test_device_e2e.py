"""The emulated loop end to end: export a tiny model, flash it to qemu_h743, bench a few
samples against the host C build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from embbert_mcu.cli import main

from _device_util import connect, tiny_export

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


def test_nucleo_f446re_image_runs_on_netduinoplus2(tmp_path, model, capsys):
    """The unmodified nucleo_f446re ELF on QEMU's STM32F405: its PLL bring-up times out (RCC
    is not emulated), it stays on HSI and reports 16 MHz, counts SysTick cycles (CYCCNT stays
    0), and agrees with the host C on the export's test set."""
    report = _bench(capsys, "--board", "qemu_netduino_f446", "--model", str(model),
                    "--project-dir", str(tmp_path / "fw"))
    assert report["device_board"] == "nucleo_f446re" and report["port"] == "stm32"
    assert report["n"] == 6 and report["agreement"] == 1.0
    assert report["clock_hz"] == 16_000_000  # read back from RCC: HSI
    assert report["tick_unit"] == "cycles" and report["cycles_per_inference"] > 0
    assert report["latency_us"]["mean"] == pytest.approx(report["latency"]["mean"] / 16.0)
    assert report["stack_guard"] is True and 0 < report["stack_bytes"] <= 8192
    assert (tmp_path / "fw" / ".pio" / "build" / "nucleo_f446re" / "firmware.elf").is_file()


def test_stm32_stack_guard_prints_on_the_serial_line(tmp_path, model):
    """A nucleo_f446re image with a stack too small for one inference, on netduinoplus2: the
    MPU guard at the bottom of the stack fires and the handler says so on USART2."""
    import dataclasses
    import socket
    import time

    from embbert_mcu.device import emulator, protocol as P
    from embbert_mcu.device.boards import load_board
    from embbert_mcu.device.flash import firmware_elf, generate_project, run_pio

    board = dataclasses.replace(load_board("nucleo_f446re"), stack_bytes=256)
    project = generate_project(board, model, tmp_path / "fw")
    run_pio(project, board, [])
    state = emulator.start(firmware_elf(project, board), "netduinoplus2", "cortex-m4",
                           serial_index=1)
    try:
        with connect(int(state["url"].rsplit(":", 1)[1])) as s:
            seen, deadline = b"", time.monotonic() + 20
            while b"ticks:" not in seen and time.monotonic() < deadline:
                seen += s.recv(4096)  # the banner: the UART is up (earlier bytes are lost)
            s.sendall(P.encode_frame(P.INFER, 1, P.encode_infer([2, 100, 200])))
            while b"halted" not in seen and time.monotonic() < deadline:
                try:
                    seen += s.recv(4096)
                except socket.timeout:
                    break
        assert b"running on the internal clock at 16000000 Hz" in seen
        assert b"MemManage fault: the stack overflowed into the MPU guard; halted" in seen
    finally:
        emulator.stop(Path(state["log"]).with_name("emulator.json"))
