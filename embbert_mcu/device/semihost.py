"""Bare-metal C programs on the emulated Cortex-M cores, output through semihosting.

For the golden tests and the kernel micro benchmarks: a program defines ``int emb_bm_main(void)``
and may call ``emb_bm_put(const char *)`` (a line to the host) and ``emb_bm_ticks()`` (SysTick
ticks since reset, 64-bit: a SysTick interrupt counts the 24-bit wraps). Under QEMU with
``-icount shift=0`` a tick is a fixed number of executed instructions, which ``calib_ticks``
(a loop of 2,000,000 known instructions, printed before emb_bm_main runs) measures.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Sequence

from ..ccompile import CORTEX_M4_FLAGS, CORTEX_M7_FLAGS, compile_c, find_compiler
from ..errors import DeviceError

# name -> (QEMU machine, QEMU cpu, compiler flags)
CORES = {
    "m4f": ("mps2-an386", "cortex-m4", CORTEX_M4_FLAGS),
    "m7": ("mps2-an500", "cortex-m7", CORTEX_M7_FLAGS),
}
CALIB_INSTRUCTIONS = 2_000_000  # CALIB_LOOPS x (subs, bne)
TIMEOUT_S = 600

STARTUP_C = r"""
#include <stdint.h>
#define REG(a) (*(volatile uint32_t *)(a))
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define SCB_CPACR REG(0xE000ED88u)
#define CALIB_LOOPS 1000000u
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[];
int emb_bm_main(void);
void emb_bm_put(const char *s);
uint64_t emb_bm_ticks(void);
void reset_handler(void);

static volatile uint32_t wraps;

static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void emb_bm_put(const char *s) { semihost(0x04, s); } /* SYS_WRITE0 */

uint64_t emb_bm_ticks(void)
{
    uint32_t w, v;
    do {
        w = wraps;
        v = SYST_CVR;
    } while (w != wraps);
    return ((uint64_t)w << 24) + (0xFFFFFFu - v);
}

static void put_u32(const char *label, uint32_t v)
{
    char buf[48], digits[12];
    unsigned n = 0, k = 0;
    while (label[n] != '\0' && n < 30u) {
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
    buf[n++] = '\n';
    buf[n] = '\0';
    emb_bm_put(buf);
}

static void finish(void)
{
    semihost(0x18, (const void *)0x20026u); /* SYS_EXIT, ADP_Stopped_ApplicationExit */
    for (;;) {
    }
}

static void systick_handler(void) { wraps = wraps + 1u; }

/* After the FPU is on: a separate function, so no FP instruction runs before that. */
__attribute__((noinline)) static void run(void)
{
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 7u; /* processor clock, interrupt on wrap, enabled */
    while (SYST_CVR == 0u) { /* the first reload from RVR */
    }
    uint32_t n = CALIB_LOOPS;
    const uint64_t t0 = emb_bm_ticks();
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
    put_u32("calib_ticks=", (uint32_t)(emb_bm_ticks() - t0));
    put_u32("exit=", (uint32_t)emb_bm_main());
    finish();
}

void reset_handler(void)
{
    for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;) {
        *d++ = *s++;
    }
    for (uint32_t *d = __bss_start; d < __bss_end;) {
        *d++ = 0u;
    }
    SCB_CPACR |= 0xFu << 20; /* CP10, CP11: the FPU */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    run();
}

static void fault_handler(void)
{
    emb_bm_put("fault=1\n");
    finish();
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top, reset_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, fault_handler, 0, 0, 0, 0, fault_handler, 0, 0, 0,
    systick_handler,
};
"""

LINKER_SCRIPT = """
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


def available() -> bool:
    return bool(find_compiler("arm-none-eabi-gcc") and find_compiler("qemu-system-arm"))


def build(sources: Sequence[str | Path], out: Path, include_dirs: Sequence[str | Path],
          core: str, extra_flags: Sequence[str] = ()) -> Path:
    """Link ``sources`` with the startup code into an ELF for ``core`` ("m4f" or "m7"),
    with -DEMB_ARM_DSP: the sources include firmware/runtime/arm_dsp/."""
    out.parent.mkdir(parents=True, exist_ok=True)
    startup = out.parent / "emb_bm_startup.c"
    startup.write_text(STARTUP_C)
    ld = out.parent / "emb_bm.ld"
    ld.write_text(LINKER_SCRIPT)
    flags = (*CORES[core][2], "-DEMB_ARM_DSP", "-nostartfiles", "--specs=nosys.specs", f"-T{ld}", *extra_flags)
    return compile_c([startup, *sources], out, include_dirs, cc="arm-none-eabi-gcc",
                     extra_flags=flags)


def run(elf: Path, core: str) -> tuple[str, float]:
    """Run ``elf`` to its exit: (its output, instructions per SysTick tick)."""
    machine, cpu, _ = CORES[core]
    cmd = ["qemu-system-arm", "-M", machine, "-cpu", cpu, "-nographic", "-monitor", "none",
           "-icount", "shift=0", "-semihosting-config", "enable=on,target=native",
           "-kernel", str(elf)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise DeviceError(f"{elf.name} did not finish on {machine} in {TIMEOUT_S} s",
                          hint="the program never called SYS_EXIT, or loops") from exc
    out = proc.stdout + proc.stderr  # semihosting writes to stderr
    calib = re.search(r"calib_ticks=(\d+)", out)
    if "fault=1" in out or calib is None or "exit=" not in out:
        raise DeviceError(f"{elf.name} failed on {machine}: {out.strip()[-400:]}",
                          hint="run the command by hand: " + " ".join(cmd))
    return out, CALIB_INSTRUCTIONS / int(calib.group(1))
