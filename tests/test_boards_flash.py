"""Board manifests, generated PlatformIO projects, and link-time budget errors."""

from __future__ import annotations

import configparser
import dataclasses
import json
import shutil
import subprocess

import pytest

from embbert_mcu.device.boards import all_boards, board_ids, load_board
from embbert_mcu.errors import BudgetError, UsageError
from embbert_mcu.device.flash import generate_project, raise_overflow

from _device_util import tiny_export

EXPECTED = {"nucleo_h743", "nucleo_f446re", "esp32dev", "esp32s3", "qemu_h743", "qemu_f446"}


def test_manifests_are_complete():
    assert EXPECTED <= set(board_ids())
    for b in all_boards():
        assert b.flash_bytes > 0 and b.ram_bytes > 0 and b.clock_hz > 0 and b.source
        assert b.tick_unit == ("instructions" if b.emulated else "cycles")
    assert load_board("nucleo_f446re").ram_bytes == 128 * 1024
    assert load_board("qemu_f446").ram_bytes == load_board("nucleo_f446re").ram_bytes
    with pytest.raises(UsageError, match="unknown board"):
        load_board("arduino_uno")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_export(tmp_path_factory.mktemp("flash"), max_len=16, n_test=2)


def _ini(project):
    ini = configparser.ConfigParser()
    ini.read(project / "platformio.ini")
    return ini


@pytest.mark.parametrize("board_id,platform,framework,port_marker", [
    ("nucleo_h743", "ststm32", "stm32cube", "stm32h7xx_hal.h"),
    ("nucleo_f446re", "ststm32", "stm32cube", "stm32f4xx_hal.h"),
    ("esp32dev", "espressif32", "espidf", "driver/uart.h"),
    ("esp32s3", "espressif32", "espidf", "driver/uart.h"),
])
def test_real_board_project_is_well_formed(tmp_path, model, board_id, platform, framework,
                                           port_marker):
    board = load_board(board_id)
    project = generate_project(board, model, tmp_path / board_id)
    env = _ini(project)[f"env:{board_id}"]
    assert env["platform"] == platform and env["framework"] == framework
    assert env["board"] == board.platformio["board"]
    assert f'EMB_BOARD=\\"{board_id}\\"' in env["build_flags"]
    assert "-Werror" in env["build_src_flags"]
    src = project / "src"
    for name in ("emb_harness.c", "emb_proto.c", "emb_port.h", "emb_model_bind.h",
                 "embbert_model.c", "embbert_weights.c", "embbert_tokenizer.c", "emb_runtime.h"):
        assert (src / name).is_file(), name
    assert port_marker in (src / "port.c").read_text()  # the right port was selected
    if framework == "espidf":
        assert "idf_component_register" in (src / "CMakeLists.txt").read_text()
        assert (project / "CMakeLists.txt").is_file()


def test_emulated_project_names_local_platform(tmp_path, model):
    board = load_board("qemu_f446")
    project = generate_project(board, model, tmp_path / "q")
    ini = _ini(project)
    assert ini["platformio"]["core_dir"] == ".pio-core"  # never the user's home
    assert ini["env:qemu_f446"]["platform"].startswith("symlink://")
    pio_board = json.loads((project / "boards" / "qemu_f446.json").read_text())
    assert pio_board["upload"]["maximum_ram_size"] == 131072
    assert "LENGTH = 131072" in (project / "ld" / "emb_memory.ld").read_text()


def test_overflow_message_becomes_budget_error():
    board = load_board("qemu_f446")
    out = "ld: region `RAM' overflowed by 4242 bytes\ncollect2: error"
    with pytest.raises(BudgetError, match=r"RAM needs 135314 bytes, qemu_f446 has 131072"):
        raise_overflow(out, board)


@pytest.mark.slow
def test_model_too_big_fails_at_link_time(tmp_path, model):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed")
    from embbert_mcu.device.flash import flash

    small = dataclasses.replace(load_board("qemu_f446"), ram_bytes=8 * 1024)
    with pytest.raises(BudgetError, match="RAM needs"):
        flash(small, model, tmp_path / "small", upload=False)


@pytest.mark.slow
def test_elf_sizes_match_size_tool(tmp_path, model):
    if shutil.which("arm-none-eabi-size") is None:
        pytest.skip("arm-none-eabi-size is not installed")
    from embbert_mcu.device.flash import flash

    r = flash(load_board("qemu_h743"), model, tmp_path / "h7", upload=False)
    out = subprocess.run(["arm-none-eabi-size", "-A", "-d", str(r.elf)], capture_output=True,
                         text=True, check=True).stdout
    listed = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
              if line.startswith(".")}
    for name, size in r.sizes["sections"].items():
        assert listed[name] == size
    assert r.sizes["flash_bytes"] == sum(listed[s] for s in (".text", ".data") if s in listed)
