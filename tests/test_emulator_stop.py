"""`embbert-mcu stop`: ends the emulator flash left running, and only that process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from embbert_mcu.cli import main
from embbert_mcu.device import emulator

from _device_util import tiny_export


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose (its parent has not reaped it yet).
    stat = f"/proc/{pid}/stat"
    return not (os.path.exists(stat) and open(stat).read().split(") ")[-1].startswith("Z"))


def _state_file(project, state: dict):
    path = project / ".pio" / "build" / "qemu_f446" / "emulator.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(state))
    return path


def test_stop_leaves_a_process_that_is_not_ours_alone(tmp_path, capsys):
    """A state file whose pid now belongs to another program (pid reuse): nothing is killed."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             start_new_session=True)
    try:
        elf = tmp_path / "fw" / ".pio" / "build" / "qemu_f446" / "firmware.elf"
        path = _state_file(tmp_path / "fw", {
            "pid": other.pid, "port": 1, "url": "socket://127.0.0.1:1", "elf": str(elf),
            "log": str(elf.with_name("emulator.log")), "rc_file": str(elf.with_name("emulator.rc")),
            "machine": "mps2-an386"})
        main(["stop", "--project-dir", str(tmp_path / "fw")])
        err = capsys.readouterr().err
        assert f"pid {other.pid} is no longer our emulator" in err
        time.sleep(0.2)
        assert other.poll() is None  # still running
        assert not path.exists()  # the stale state file is gone
    finally:
        other.kill()
        other.wait()


def test_stop_says_when_nothing_runs(tmp_path, capsys):
    main(["stop", "--project-dir", str(tmp_path / "none")])
    assert "no emulator started by flash is running" in capsys.readouterr().err
    main(["stop", "--project-dir", str(tmp_path / "none"), "--json"])
    assert json.loads(capsys.readouterr().out) == {"emulators": []}


def test_stop_keeps_a_state_file_it_cannot_read(tmp_path, capsys):
    path = _state_file(tmp_path / "fw", {"pid": "1"})
    main(["stop", "--project-dir", str(tmp_path / "fw")])
    assert "not an emulator state file" in capsys.readouterr().err
    assert path.exists()


@pytest.mark.slow
def test_stop_ends_the_emulator_flash_started(tmp_path, capsys):
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    model = tiny_export(tmp_path, max_len=32, n_test=2)
    project = tmp_path / "fw"
    main(["flash", "--board", "qemu_f446", "--model", str(model), "--project-dir", str(project)])
    captured = capsys.readouterr()
    assert f"embbert-mcu stop --project-dir {project}" in captured.err
    path, = emulator.state_files([project])
    state = json.loads(path.read_text())
    try:
        assert emulator.running(state) and emulator.is_ours(state)
        main(["stop", "--project-dir", str(project)])
        assert f"stopped the emulator (pid {state['pid']}" in capsys.readouterr().err
        deadline = time.monotonic() + 5
        while _alive(state["pid"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(state["pid"])
        assert not path.exists()
        main(["stop", "--project-dir", str(project)])
        assert "no emulator started by flash is running" in capsys.readouterr().err
    finally:
        emulator.stop(path)
