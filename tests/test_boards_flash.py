"""Board manifests, generated PlatformIO projects, and link-time budget errors."""

from __future__ import annotations

import configparser
import dataclasses
import json
import shutil
import subprocess

import pytest

from embbert_mcu.ccompile import TARGETS
from embbert_mcu.device.boards import all_boards, board_ids, load_board
from embbert_mcu.errors import BudgetError, UsageError
from embbert_mcu.device.flash import generate_project, raise_overflow

from _device_util import tiny_export

EXPECTED = {"nucleo_h743", "nucleo_f446re", "esp32dev", "esp32s3", "qemu_h743", "qemu_f446",
            "qemu_netduino_f446"}


def test_manifests_are_complete():
    assert EXPECTED <= set(board_ids())
    for b in all_boards():
        assert b.flash_bytes > 0 and b.ram_bytes > 0 and b.clock_hz > 0 and b.source
        # QEMU MPS2 counts instructions; the STM32 port counts core cycles (DWT or SysTick)
        assert b.tick_unit == ("instructions" if b.port == "qemu_mps2" else "cycles")
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
        assert env["board_build.flash_mode"] == "qio" and env["board_build.f_flash"] == "80000000L"
        assert "CONFIG_ESPTOOLPY_FLASHMODE_QIO=y" in (project / "sdkconfig.defaults").read_text()


FPU_CORES = {"cortex-m4": "-mfpu=fpv4-sp-d16", "cortex-m7": "-mfpu=fpv5-d16"}


def test_every_fpu_arm_board_is_hard_float_from_one_flags_table():
    for b in all_boards():
        if b.core in FPU_CORES:
            assert "-mfloat-abi=hard" in b.cflags and FPU_CORES[b.core] in b.cflags, b.id
            assert list(TARGETS[b.target].cpu_flags) == b.cflags, b.id
        # a manifest names its compile target; it never spells flags itself
        assert "cflags" not in b.extra and "cflags_of" not in b.extra, b.id
    # the emulated stand-ins build for the real board's target
    assert load_board("qemu_f446").cflags == load_board("nucleo_f446re").cflags
    assert load_board("qemu_h743").cflags == load_board("nucleo_h743").cflags
    assert load_board("esp32dev").cflags == []  # ESP-IDF brings its own


def test_a_board_naming_an_unknown_target_is_a_usage_error(tmp_path, monkeypatch):
    import embbert_mcu.device.boards as boards_mod

    data = json.loads((boards_mod.resource_dir("boards") / "qemu_f446.json").read_text())
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "odd.json").write_text(json.dumps({**data, "target": "cortex-m99"}))
    monkeypatch.setattr(boards_mod, "resource_dir", lambda kind: tmp_path / kind)
    with pytest.raises(UsageError, match="unknown compile target 'cortex-m99'") as err:
        load_board("odd")
    assert "cortex-m4f" in err.value.hint


@pytest.mark.parametrize("board_id,family", [("nucleo_f446re", "-DEMB_STM32_F4"),
                                             ("nucleo_h743", "-DEMB_STM32_H7")])
def test_stm32_project_has_offline_and_official_envs(tmp_path, model, board_id, family):
    board = load_board(board_id)
    project = generate_project(board, model, tmp_path / board_id)
    ini = _ini(project)
    local, official = ini[f"env:{board_id}"], ini[f"env:{board_id}_ststm32"]
    assert local["platform"].startswith("symlink://") and local["upload_protocol"] == "openocd"
    assert official["platform"] == "platformio/ststm32@" + board.platformio["platform_version"]
    assert official["board"] == board.platformio["board"] and "framework" not in official
    assert local["extends"] == official["extends"] == "emb"  # the same flags, script, sources
    flags = ini["emb"]["build_flags"].split()
    for f in board.cflags + [family]:
        assert f in flags
    link = (project / "emb_link_flags.py").read_text()
    assert "-mfloat-abi=hard" in link and "-nostartfiles" in link
    ld = (project / "ld" / f"emb_{board_id}.ld").read_text()
    assert "FLASH (rx) : ORIGIN = 0x08000000, LENGTH = %d" % board.flash_bytes in ld
    assert ini["emb"]["board_build.ldscript"] == f"ld/emb_{board_id}.ld"
    for name in ("port.c", "emb_stm32_clock.c", "emb_stm32_startup.c"):  # the bare-metal port
        assert (project / "src" / name).is_file()
    assert "RCC_PLLCFGR" in (project / "src" / "emb_stm32.h").read_text()
    pio_board = json.loads((project / "boards" / f"emb_{board_id}.json").read_text())
    assert pio_board["upload"]["maximum_ram_size"] == board.ram_bytes


def test_h743_memory_map_puts_stack_in_dtcm_and_data_in_axi_sram(tmp_path, model):
    board = load_board("nucleo_h743")
    assert board.clock_hz == 400_000_000  # rev Y silicon; rev V runs 480 MHz (the port decides)
    assert board.region_limits() == {"FLASH": 2 << 20, "DTCM": 128 << 10, "RAM": 512 << 10}
    project = generate_project(board, model, tmp_path / "h7")
    ld = (project / "ld" / "emb_nucleo_h743.ld").read_text()
    assert "DTCM (rwx) : ORIGIN = 0x20000000, LENGTH = 131072" in ld
    assert "RAM (rwx) : ORIGIN = 0x24000000, LENGTH = 524288" in ld
    assert "} > DTCM" in ld.split(".stack (NOLOAD)")[1].split(".data")[0]
    with pytest.raises(BudgetError, match="DTCM needs 131172 bytes, nucleo_h743 has 131072"):
        raise_overflow("ld: region `DTCM' overflowed by 100 bytes", board)


def test_projects_share_one_platformio_core(tmp_path, model, monkeypatch):
    monkeypatch.setenv("EMBBERT_MCU_PIO_CORE", str(tmp_path / "core"))
    a = generate_project(load_board("qemu_f446"), model, tmp_path / "a")
    b = generate_project(load_board("nucleo_f446re"), model, tmp_path / "b")
    for project in (a, b):
        assert _ini(project)["platformio"]["core_dir"] == str(tmp_path / "core")


def test_emulated_project_names_local_platform(tmp_path, model):
    board = load_board("qemu_f446")
    project = generate_project(board, model, tmp_path / "q")
    ini = _ini(project)
    core = ini["platformio"]["core_dir"]  # shared, never the user's home
    assert not core.startswith(str(project)) and "/.platformio" not in core
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


ARM_ELF_CHECKS = ("arm-none-eabi-readelf", "arm-none-eabi-gcc")


@pytest.mark.slow
@pytest.mark.parametrize("board_id", ["nucleo_f446re", "nucleo_h743"])
def test_real_board_image_builds_offline(tmp_path, model, board_id, capsys):
    """`flash --no-upload --json` builds the real image with the local platform: hard-float
    ABI, vectors at the start of flash, sections inside the board's regions."""
    for tool in ARM_ELF_CHECKS:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    from embbert_mcu.cli import main

    board = load_board(board_id)
    main(["flash", "--board", board_id, "--model", str(model), "--project-dir",
          str(tmp_path / "fw"), "--no-upload", "--json"])
    doc = json.loads(capsys.readouterr().out)
    elf = doc["elf"]
    attrs = subprocess.run(["arm-none-eabi-readelf", "-A", elf], capture_output=True, text=True,
                           check=True).stdout
    assert "Tag_ABI_VFP_args: VFP registers" in attrs
    headers = subprocess.run(["arm-none-eabi-readelf", "-SW", elf], capture_output=True,
                             text=True, check=True).stdout
    addr = {}
    for line in headers.splitlines():
        parts = line.replace("[ ", "[").split()
        if len(parts) > 5 and parts[1].startswith("."):
            addr[parts[1]] = (int(parts[3], 16), int(parts[5], 16))
    assert addr[".isr_vector"][0] == 0x08000000
    regions = {r["name"]: r for r in board.memory()}
    place = board.extra["placement"]
    for section, key in ((".text", "text"), (".stack", "stack"), (".data", "data"), (".bss", "bss")):
        start, size = addr[section]
        region = regions[place[key]]
        assert region["origin"] <= start and start + size <= region["origin"] + region["bytes"]
    assert doc["flash_bytes"] <= board.flash_bytes
    assert addr[".data"][1] + addr[".bss"][1] <= board.ram_bytes


def test_run_streamed_passes_output_on_and_times_out(capsys):
    import sys

    from embbert_mcu.device.flash import run_streamed
    from embbert_mcu.errors import BuildError

    code, out = run_streamed([sys.executable, "-c", "print('compiling a.o'); print('linking')"],
                             {}, 30)
    assert code == 0 and out == "compiling a.o\nlinking\n"
    assert "compiling a.o" in capsys.readouterr().err  # shown as it comes, not only on failure
    with pytest.raises(BuildError, match="did not finish in 1 s"):
        run_streamed([sys.executable, "-c", "import time; time.sleep(30)"], {}, 1)


def test_upload_without_openocd_is_a_clear_error(tmp_path, model, monkeypatch):
    from embbert_mcu.device import flash as flash_mod
    from embbert_mcu.errors import BuildError

    monkeypatch.setattr(flash_mod.shutil, "which", lambda name: None)
    with pytest.raises(BuildError, match="openocd is not installed"):
        flash_mod.flash(load_board("nucleo_f446re"), model, tmp_path / "fw", upload=True)
    assert not (tmp_path / "fw").exists()  # nothing written before the check


def test_memory_map_must_agree_with_the_budget_figures():
    from embbert_mcu.device.boards import _check_memory

    good = load_board("nucleo_h743")
    _check_memory(good, "boards/nucleo_h743.json")
    with pytest.raises(UsageError, match="memory map disagrees"):
        _check_memory(dataclasses.replace(good, ram_bytes=1 << 20), "boards/nucleo_h743.json")


def test_netduino_link_is_the_second_serial():
    from pathlib import Path

    from embbert_mcu.device.emulator import qemu_command

    board = load_board("qemu_netduino_f446")
    cmd = qemu_command(Path("fw.elf"), board.qemu["machine"], board.qemu["cpu"], 4242,
                       board.qemu["serial_index"])
    serials = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-serial"]
    assert serials == ["null", "tcp:127.0.0.1:4242,server=on,wait=on"]
    assert board.image_of == "nucleo_f446re" and board.cflags == load_board("nucleo_f446re").cflags
