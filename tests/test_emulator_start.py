"""The emulator's start returns once QEMU listens on its serial socket, or says why it exited."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from embbert_mcu.device import emulator
from embbert_mcu.errors import DeviceError

TCP = Path("/proc/net/tcp")


@pytest.mark.skipif(not TCP.exists(), reason="reads /proc/net/tcp (Linux)")
def test_listening_reads_the_socket_table():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        assert not emulator._listening(TCP, port)  # bound, not listening
        server.listen()
        assert emulator._listening(TCP, port)


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm is needed")
def test_start_names_the_exit_of_an_emulator_that_never_listens(tmp_path):
    elf = tmp_path / "fw.elf"
    elf.write_bytes(b"\x7fELF")
    with pytest.raises(DeviceError, match=r"exited with code 1 .*unsupported machine type"):
        emulator.start(elf, "no-such-machine", "cortex-m4")


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None
                    or shutil.which("arm-none-eabi-gcc") is None,
                    reason="qemu-system-arm and arm-none-eabi-gcc are needed")
def test_flash_returns_with_the_serial_socket_open(tmp_path, capsys):
    """The first connection succeeds, with no retry, as soon as flash returns."""
    import json

    from embbert_mcu.cli import main

    from _device_util import tiny_export

    model = tiny_export(tmp_path, max_len=32, n_test=2)
    project = tmp_path / "fw"
    main(["flash", "--board", "qemu_f446", "--model", str(model), "--project-dir", str(project)])
    path, = emulator.state_files([project])
    state = json.loads(path.read_text())
    try:
        assert emulator._listening(TCP, state["port"]) or not TCP.exists()
        socket.create_connection(("127.0.0.1", state["port"]), timeout=10).close()
    finally:
        emulator.stop(path)
