"""Every runtime file builds warning-free for Cortex-M4F; compile_c reports failures; the
sanitized driver really catches a kernel reading past its input."""

import re
import subprocess

import numpy as np
import pytest

from embbert_mcu.ccompile import compile_c, find_compiler
from embbert_mcu.errors import BuildError
from embbert_mcu.quant.blocks import pack_tensor
from kernel_driver import RUNTIME, arr, qtensor

RUNTIME_SOURCES = sorted(RUNTIME.glob("emb_*.c")) + sorted((RUNTIME / "arm_dsp").glob("emb_*.c"))
DOUBLE_LIBM = {"exp", "sqrt", "floor", "fabs", "pow", "log", "tanh"}


def test_runtime_has_every_kernel_file():
    names = {p.stem for p in RUNTIME_SOURCES}
    assert {"emb_f16", "emb_gather", "emb_linear", "emb_rmsnorm", "emb_act", "emb_attention",
            "emb_conv1d", "emb_silu", "emb_wdiff"} <= names


@pytest.mark.parametrize("target", ["cortex-m4f", "cortex-m7"])
@pytest.mark.parametrize("source", RUNTIME_SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_runtime_builds_for_cortex_m(tmp_path, source, target):
    if find_compiler("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi)")
    (tmp_path / "emb_config.h").write_text("#define EMB_QBLOCK 32\n")
    obj = compile_c([source], tmp_path / (source.stem + ".o"), [tmp_path, RUNTIME, source.parent],
                    target_name=target, extra_flags=("-DEMB_ARM_DSP", "-c"))
    # float32 only: no double-precision helper or libm double function may be called
    undefined = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], capture_output=True,
                               text=True, check=True).stdout.split()
    doubles = [s for s in undefined if s.startswith("__aeabi_d") or s in DOUBLE_LIBM]
    assert not doubles, f"{source.name} calls double-precision code: {doubles}"
    if source.parent.name == "arm_dsp":  # the DSP twins are what these cores build
        defined = subprocess.run(["arm-none-eabi-nm", "--defined-only", str(obj)],
                                 capture_output=True, text=True, check=True).stdout
        assert re.search(r" T emb_\w+_q8\b", defined), source.name


def test_compile_c_raises_build_error_with_compiler_message(tmp_path):
    bad = tmp_path / "bad.c"
    bad.write_text("int main(void) { double x = 1.0f; float y = x; return (int)y; }\n")
    with pytest.raises(BuildError) as err:
        compile_c([bad], tmp_path / "bad", [])
    assert "float-conversion" in err.value.message and err.value.hint


def test_compile_c_missing_compiler(tmp_path):
    with pytest.raises(BuildError, match="not found"):
        compile_c([tmp_path / "x.c"], tmp_path / "x", [], cc="no-such-cc-embbert")


def test_sanitized_driver_catches_a_read_past_the_input(sanitized_driver):
    w = pack_tensor("w", np.ones((4, 32), np.float32), "q8", 32)
    short_x = np.ones(31, np.float32)  # the kernel reads 32 values
    with pytest.raises(RuntimeError, match="AddressSanitizer"):
        sanitized_driver.call("linear", qtensor(w) + arr(None, "<f4") + arr(short_x, "<f4"))


@pytest.mark.parametrize("target", ["cortex-m4f", "cortex-m7"])
def test_runtime_alone_links_for_cortex_m(tmp_path, target):
    """The exporter copies firmware/runtime/ only: without -DEMB_ARM_DSP every twin the runtime
    calls is defined there, so a DSP core links with no section garbage collection."""
    if find_compiler("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi)")
    (tmp_path / "emb_config.h").write_text("#define EMB_QBLOCK 32\n")
    main = tmp_path / "main.c"
    main.write_text(
        '#include "emb_runtime.h"\n'
        "int main(void);\n"
        "int main(void) {\n"
        "    static const emb_block_q8_t blk[4];\n"
        "    const emb_qtensor_t w = {EMB_QT_Q8, 4u, 32u, blk, NULL, NULL, NULL};\n"
        "    static int8_t q[32], codes[32], kv[32 * 4];\n"
        "    static int32_t sums[32];\n"
        "    static float x[32], y[4], scales[4], scores[4], out[32];\n"
        "    const emb_act_t a = {NULL, kv, scales, 32u, NULL, 0u};\n"
        "    emb_attention_row_q8(x, &a, 4u, scores, codes, sums, out);\n"
        "    return (int)emb_linear_q8(&w, NULL, q, emb_quantize_row_q8(x, 32u, q), y);\n"
        "}\n")
    compile_c([main, *sorted(RUNTIME.glob("emb_*.c"))], tmp_path / "a.elf", [tmp_path, RUNTIME],
              target_name=target, extra_flags=("--specs=nosys.specs",))


@pytest.mark.parametrize("core,board_id", [("m4f", "qemu_f446"), ("m7", "qemu_h743")])
def test_emulator_programs_link_the_boards_port_and_memory(tmp_path, core, board_id):
    """The golden tests and the kernel benchmark link what `flash` links for the emulated
    board: its port's startup and vectors, and its real RAM size (stack on top of .bss)."""
    from embbert_mcu.device import semihost
    from embbert_mcu.device.boards import load_board

    if find_compiler("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi)")
    prog = tmp_path / "prog.c"
    prog.write_text("int emb_bm_main(void);\nint emb_bm_main(void) { return 0; }\n")
    elf = semihost.build([prog], tmp_path / "prog.elf", [], core)
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True,
                        check=True).stdout
    syms = {parts[2]: parts[0] for parts in map(str.split, nm.splitlines()) if len(parts) == 3}
    assert {"emb_reset_isr", "emb_port_init", "emb_harness_main", "emb_vectors"} <= set(syms)
    board = load_board(board_id)
    ram = next(r for r in board.memory() if r["name"] == "RAM")
    limit, top = int(syms["__stack_limit"], 16), int(syms["__stack_top"], 16)
    assert top - limit == board.stack_bytes  # the board's stack, passed as flash passes it
    assert ram["origin"] <= limit and top <= ram["origin"] + ram["bytes"]
