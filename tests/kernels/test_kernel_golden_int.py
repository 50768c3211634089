"""Golden test of the optimized integer kernels: golden_int.c runs every twin and its
reference on the same seeded random and edge inputs and compares the outputs bit for bit.

On the host the twins are the portable ones (plain -O2 and under ASan + UBSan); on the
emulated Cortex-M4F (mps2-an386) and Cortex-M7 (mps2-an500) the DSP ones
(firmware/runtime/arm_dsp/, -DEMB_ARM_DSP), and the portable ones once more with
-DEMB_KERNELS_PORTABLE.
The hashes of the outputs must also be the host's: the device computes the same bits."""

import re
import subprocess

import pytest

from embbert_mcu.ccompile import compile_c
from embbert_mcu.device import semihost
from kernel_driver import HERE, RUNTIME, SANITIZE_FLAGS

KERNELS = ("emb_quantize_row_q8", "emb_linear_q8", "emb_attn_scores_q8", "emb_attn_wsum_q8",
           "emb_attn_wsum_q8t", "emb_linear2_q8", "emb_attn_scores2_q8", "emb_attn_wsum2_q8t",
           "emb_conv1d_dw_causal_q8")
DSP = RUNTIME / "arm_dsp"


def parse(out: str) -> dict:
    found = {}
    for name, cases, failed, ref_h, opt_h in re.findall(
            r"^(\w+) cases=(\d+) failed=(\d+) ref_hash=(\w+) opt_hash=(\w+)", out, re.M):
        found[name] = {"cases": int(cases), "failed": int(failed), "ref": ref_h, "opt": opt_h}
    assert set(found) == set(KERNELS), out
    assert "done" in out
    return found


def check(found: dict) -> None:
    for name, r in found.items():
        assert r["cases"] >= 30, name
        assert r["failed"] == 0, f"{name}: {r['failed']} of {r['cases']} cases differ"
        assert r["ref"] == r["opt"], name


def sources():
    return [HERE / "golden_int.c", *sorted(RUNTIME.glob("emb_*.c")), *sorted(DSP.glob("emb_*.c"))]


def host_run(tmp_path, flags=()) -> str:
    (tmp_path / "emb_config.h").write_text("#define EMB_QBLOCK 32\n")
    exe = compile_c(sources(), tmp_path / "golden", [tmp_path, RUNTIME, DSP],
                    extra_flags=("-DEMB_GOLDEN_HOST", *flags))
    return subprocess.run([str(exe)], capture_output=True, text=True, check=True,
                          timeout=300).stdout


@pytest.fixture(scope="module")
def host_found(tmp_path_factory):
    out = host_run(tmp_path_factory.mktemp("golden_host"))
    assert "twins=portable" in out
    return parse(out)


def test_golden_host_portable_twins(host_found):
    check(host_found)


def test_golden_host_sanitized(tmp_path, host_found):
    found = parse(host_run(tmp_path, SANITIZE_FLAGS))
    check(found)
    assert found == host_found  # sanitizers change no bits


@pytest.mark.slow
@pytest.mark.parametrize("core,flags,twins", [
    ("m4f", (), "arm_dsp"), ("m7", (), "arm_dsp"),
    ("m4f", ("-DEMB_KERNELS_PORTABLE",), "portable"),
], ids=["m4f-dsp", "m7-dsp", "m4f-portable"])
def test_golden_on_emulated_cores(tmp_path, host_found, core, flags, twins):
    if not semihost.available():
        pytest.skip("needs arm-none-eabi-gcc and qemu-system-arm (make toolchain)")
    (tmp_path / "emb_config.h").write_text("#define EMB_QBLOCK 32\n")
    # the fixtures (up to 128 x 160 weights in four encodings) take ~180 KB, more than the
    # F446's 128 KB: 1 MB of the machine's RAM, as before the boards' linker script
    elf = semihost.build(sources(), tmp_path / "golden.elf", [tmp_path, RUNTIME, DSP], core,
                         extra_flags=flags, ram_bytes=1 << 20)
    out, _ = semihost.run(elf, core)
    assert f"twins={twins}" in out
    found = parse(out)
    check(found)
    assert found == host_found  # the device computes the host's bits
