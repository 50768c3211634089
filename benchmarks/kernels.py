"""Micro benchmark of emb_linear_f32: instructions per multiply-accumulate on a 128 x 128 matrix.

Builds a small host program (strict flags, -O2) holding a seeded q8 matrix as const data and
runs emb_linear_f32 REPS times. Under valgrind's callgrind the instructions executed inside
emb_linear_f32 (its callees included) are counted; without valgrind the wall time is printed.
Host figures are x86-64 instructions. When arm-none-eabi-gcc and qemu-system-arm exist, the
same program is also built bare-metal for Cortex-M4F and run on QEMU's mps2-an386 with
-icount shift=0, where SysTick counts executed instructions (calibrated against a loop of
known length): Thumb-2 instructions per MAC, a count of instructions, not of cycles.

    .venv/bin/python benchmarks/kernels.py [--encoding q8|f16|f32|mixed ...] [--reps N]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embbert_mcu.ccompile import CORTEX_M4_FLAGS, compile_c, find_compiler  # noqa: E402
from embbert_mcu.quant.blocks import pack_tensor  # noqa: E402

ROWS = COLS = 128
BLOCK = 32
SEED = 7  # numpy.random.default_rng(SEED), PCG64
ENC_IDS = {"q8": 0, "f16": 1, "mixed": 2, "f32": 3}


def c_array(ctype: str, name: str, values) -> str:
    body = ", ".join(str(int(v)) if ctype != "float" else f"{float(v)!r}f" for v in values)
    return f"static const {ctype} {name}[] = {{{body or '0'}}};\n"


def bench_source(encoding: str, reps: int) -> str:
    """The C program: the packed matrix as const arrays and a loop over emb_linear_f32."""
    rng = np.random.default_rng(SEED)
    w = rng.normal(0, 0.2, (ROWS, COLS)).astype(np.float32)
    fallback = (np.arange(ROWS * COLS // BLOCK) % 12 == 0) if encoding == "mixed" else None
    t = pack_tensor("w", w, encoding, BLOCK, fallback=fallback)
    blocks = ", ".join(
        f"{{{int(d)}u, {{{', '.join(str(int(q)) for q in qs)}}}}}" for d, qs in zip(t.scales, t.qs)
    )
    return (
        '#include "emb_runtime.h"\n'
        f"static const emb_block_q8_t blocks[] = {{{blocks or '{0u, {0}}'}}};\n"
        + c_array("uint16_t", "f16", t.f16) + c_array("uint8_t", "mask", t.mask)
        + c_array("float", "f32", t.f32)
        + f"""
static float x[{COLS}], y[{ROWS}];
/* REPS calls of emb_linear_f32 on the matrix; returns a checksum (or -1 on a bad status). */
static float bench_linear(void)
{{
    const emb_qtensor_t w = {{{ENC_IDS[encoding]}u, {ROWS}u, {COLS}u, blocks, f16, mask, f32}};
    float sink = 0.0f;
    for (unsigned i = 0; i < {COLS}u; ++i) {{
        x[i] = (float)((int)(i * 37u % 19u) - 9) * 0.125f;
    }}
    for (unsigned r = 0; r < {reps}u; ++r) {{
        if (emb_linear_f32(&w, NULL, x, y) != EMB_OK) {{
            return -1.0f;
        }}
        sink += y[r % {ROWS}u];
        x[r % {COLS}u] += 1e-3f; /* keeps the calls from being merged */
    }}
    return sink;
}}
"""
    )


HOST_MAIN = """
#include <stdio.h>
int main(void)
{
    printf("%f\\n", (double)bench_linear());
    return 0;
}
"""


# Bare-metal Cortex-M4F: vector table, FPU on, SysTick (24-bit, counting down), output and exit
# through semihosting (QEMU: -semihosting-config enable=on).
M4_MAIN = """
#include <stdint.h>
#define REG(a) (*(volatile uint32_t *)(a))
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define SCB_CPACR REG(0xE000ED88u)
#define CALIB_LOOPS 1000000u /* two instructions each: subs, bne */
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[];

static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void put_u32(const char *label, uint32_t v)
{
    char buf[48];
    unsigned n = 0, k = 0;
    char digits[12];
    while (label[n] != '\\0' && n < 30u) {
        buf[n] = label[n];
        ++n;
    }
    do {
        digits[k++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    while (k > 0u) {
        buf[n++] = digits[--k];
    }
    buf[n++] = '\\n';
    buf[n] = '\\0';
    semihost(0x04, buf); /* SYS_WRITE0 */
}

static void finish(uint32_t code)
{
    static const uint32_t block[2] = {0x20026u, 0u}; /* ADP_Stopped_ApplicationExit */
    (void)code;
    semihost(0x18, (const void *)block[0]); /* SYS_EXIT (AArch32 passes the reason itself) */
    for (;;) {
    }
}

static uint32_t elapsed(uint32_t start) { return (start - SYST_CVR) & 0xFFFFFFu; }

/* After the FPU is on: a separate function, so no FP instruction runs before that. */
__attribute__((noinline)) static void run(void)
{
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 5u; /* processor clock, enabled, no interrupt */
    uint32_t n = CALIB_LOOPS, t0 = SYST_CVR;
    __asm__ volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(n) : : "cc");
    const uint32_t calib = elapsed(t0);
    t0 = SYST_CVR;
    const float sum = bench_linear();
    const uint32_t ticks = elapsed(t0);
    put_u32("calib_ticks=", calib);
    put_u32("bench_ticks=", ticks);
    put_u32("status_ok=", sum != -1.0f);
    finish(0u);
}

void reset_handler(void);
void reset_handler(void)
{
    for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;) {
        *d++ = *s++;
    }
    for (uint32_t *d = __bss_start; d < __bss_end;) {
        *d++ = 0u;
    }
    SCB_CPACR |= 0xFu << 20; /* CP10, CP11: the FPU */
    __asm__ volatile("dsb\\n\\tisb" ::: "memory");
    run();
}

static void fault_handler(void)
{
    put_u32("fault=", 1u);
    finish(1u);
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top, reset_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, fault_handler,
};
"""

M4_LD = """
MEMORY { FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 4M
         RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 1M }
ENTRY(reset_handler)
SECTIONS {
    .text : { KEEP(*(.vectors)) *(.text .text.*) *(.rodata .rodata.*) . = ALIGN(4); } > FLASH
    .ARM.exidx : { *(.ARM.exidx*) } > FLASH
    .data : { . = ALIGN(4); __data_start = .; *(.data .data.*) . = ALIGN(4); __data_end = .; }
        > RAM AT > FLASH
    __data_load = LOADADDR(.data);
    .bss (NOLOAD) : { . = ALIGN(4); __bss_start = .; *(.bss .bss.* COMMON) . = ALIGN(4);
        __bss_end = .; } > RAM
    __stack_top = ORIGIN(RAM) + LENGTH(RAM);
}
"""


def m4_instructions(encoding: str, reps: int, work: Path) -> tuple[int, float]:
    """(instructions in the REPS calls, instructions per SysTick tick) on QEMU mps2-an386."""
    src = work / f"m4_{encoding}.c"
    src.write_text(bench_source(encoding, reps) + M4_MAIN)
    (work / "m4.ld").write_text(M4_LD)
    runtime = ROOT / "firmware" / "runtime"
    elf = compile_c(
        [src, runtime / "emb_linear.c", runtime / "emb_f16.c"], work / f"m4_{encoding}.elf",
        [work, runtime], cc="arm-none-eabi-gcc",
        extra_flags=(*CORTEX_M4_FLAGS, "-nostartfiles", "--specs=nosys.specs",
                     f"-T{work / 'm4.ld'}"),
    )
    proc = subprocess.run(
        ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none",
         "-icount", "shift=0", "-semihosting-config", "enable=on,target=native",
         "-kernel", str(elf)],
        capture_output=True, text=True, timeout=300,
    )
    fields = dict(re.findall(r"(\w+)=(\d+)", proc.stdout + proc.stderr))  # semihosting: stderr
    if fields.get("status_ok") != "1" or "bench_ticks" not in fields:
        raise RuntimeError(f"the Cortex-M4 run failed: {proc.stdout} {proc.stderr}")
    per_tick = 2 * 1_000_000 / int(fields["calib_ticks"])  # the loop's known count
    return round(int(fields["bench_ticks"]) * per_tick), per_tick


def build(encoding: str, reps: int, work: Path) -> Path:
    src = work / f"bench_{encoding}.c"
    src.write_text(bench_source(encoding, reps) + HOST_MAIN)
    (work / "emb_config.h").write_text(f"#define EMB_QBLOCK {BLOCK}\n")
    runtime = ROOT / "firmware" / "runtime"
    sources = [src, *sorted(runtime.glob("emb_*.c"))]
    return compile_c(sources, work / f"bench_{encoding}", [work, runtime], extra_flags=("-g",))


def callgrind_ir(exe: Path, work: Path) -> int:
    """Instructions executed inside emb_linear_f32 and its callees."""
    out = work / f"{exe.name}.callgrind"
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--toggle-collect=emb_linear_f32",
         f"--callgrind-out-file={out}", str(exe)],
        check=True, capture_output=True, timeout=600,
    )
    summary = re.search(r"^summary:\s+(\d+)", out.read_text(), re.MULTILINE)
    return int(summary.group(1))


def wall_ns(exe: Path) -> float:
    import time

    start = time.perf_counter_ns()
    subprocess.run([str(exe)], check=True, capture_output=True, timeout=600)
    return float(time.perf_counter_ns() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoding", nargs="+", default=["q8", "mixed", "f16", "f32"],
                        choices=sorted(ENC_IDS))
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    macs = ROWS * COLS * args.reps
    use_valgrind = shutil.which("valgrind") is not None
    print(f"emb_linear_f32, {ROWS}x{COLS}, EMB_QBLOCK {BLOCK}, {args.reps} calls, "
          f"gcc -O2 host build; weights from numpy.random.default_rng({SEED})")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for encoding in args.encoding:
            exe = build(encoding, args.reps, work)
            if use_valgrind:
                ir = callgrind_ir(exe, work)
                print(f"  {encoding:6s} {ir / macs:6.2f} instructions per MAC (callgrind)")
            else:
                print(f"  {encoding:6s} {wall_ns(exe) / macs:6.2f} ns per MAC wall time "
                      "(process start included; valgrind not installed)")
        if not (find_compiler("arm-none-eabi-gcc") and find_compiler("qemu-system-arm")):
            print("Cortex-M4F: skipped (needs arm-none-eabi-gcc and qemu-system-arm)")
            return
        print("Cortex-M4F (arm-none-eabi-gcc -O2, QEMU mps2-an386 -icount shift=0):")
        for encoding in args.encoding:
            insns, per_tick = m4_instructions(encoding, args.reps, work)
            print(f"  {encoding:6s} {insns / macs:6.2f} Thumb-2 instructions per MAC "
                  f"({per_tick:.1f} instructions per SysTick tick)")


if __name__ == "__main__":
    main()
