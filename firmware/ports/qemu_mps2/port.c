/*
 * Port for QEMU's MPS2 machines (mps2-an500: Cortex-M7, mps2-an386: Cortex-M4F), which stand
 * in for the STM32H743 and STM32F446 with those boards' flash and RAM sizes in the linker
 * script. UART: CMSDK UART0. Ticks: SysTick at the machine's 25 MHz; QEMU runs with
 * -icount shift=0,sleep=off, so one tick is 40 instructions (never real time).
 */
#include <stdint.h>

#include "emb_port.h"
#include "emb_proto.h"

#define EMB_REG(addr) (*(volatile uint32_t *)(addr))
/* CMSDK APB UART0 */
#define UART0_DATA EMB_REG(0x40004000u)
#define UART0_STATE EMB_REG(0x40004004u) /* bit0 TX full, bit1 RX full */
#define UART0_CTRL EMB_REG(0x40004008u)  /* bit0 TX en, bit1 RX en, bit3 RX irq en */
#define UART0_INTCLEAR EMB_REG(0x4000400Cu)
#define UART0_BAUDDIV EMB_REG(0x40004010u)
#define UART_TX_FULL 1u
#define UART_RX_FULL 2u
/* System control space */
#define SYST_CSR EMB_REG(0xE000E010u)
#define SYST_RVR EMB_REG(0xE000E014u)
#define SYST_CVR EMB_REG(0xE000E018u)
#define NVIC_ISER0 EMB_REG(0xE000E100u)
#define SCB_ICSR EMB_REG(0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)
#define SCB_SHCSR EMB_REG(0xE000ED24u)
#define SCB_CPACR EMB_REG(0xE000ED88u)
#define MPU_CTRL EMB_REG(0xE000ED94u)
#define MPU_RNR EMB_REG(0xE000ED98u)
#define MPU_RBAR EMB_REG(0xE000ED9Cu)
#define MPU_RASR EMB_REG(0xE000EDA0u)

#define EMB_SYSCLK_HZ 25000000u
#define EMB_NS_PER_INSN 1u /* -icount shift=0 */
#define EMB_TICK_SCALE (1000000000u / EMB_SYSCLK_HZ / EMB_NS_PER_INSN)
#define EMB_STACK_PAINT 0xC5C5C5C5u
#define EMB_GUARD_BYTES 256u

/* From firmware/ld/mps2_sections.ld */
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_guard[], __stack_limit[], __stack_top[];

static volatile uint32_t emb_systick_wraps;

static void emb_dsb_isb(void)
{
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}

/* Semihosting (QEMU -semihosting-config enable=on,target=native). */
static void emb_semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
}

void emb_port_shutdown(int code)
{
    uint32_t block[2] = {0x20026u, (uint32_t)code}; /* ADP_Stopped_ApplicationExit */
    emb_semihost(0x20u, block);                     /* SYS_EXIT_EXTENDED */
    for (;;) {
    }
}

/* Faults leave the emulator with a code the host names; the handler first moves SP back
 * to the top, as an overflow may have left it inside the guard. */
void emb_fault_exit(uint32_t code)
{
    static const char *const what[] = {"", "", "", "embbert-mcu: HardFault\n",
                                       "embbert-mcu: MemManage fault (stack guard hit)\n"};
    /* QEMU reads semihosting arguments through the MPU, at page granularity: a guard in
     * the same 1 KB page as the argument block would make the exit call fail. */
    MPU_CTRL = 0u;
    emb_dsb_isb();
    emb_semihost(0x04u, what[code]); /* SYS_WRITE0 to QEMU's stderr */
    emb_port_shutdown((int)code);
}

__attribute__((naked)) void emb_hardfault_isr(void)
{
    __asm__ volatile("ldr r0, =__stack_top\n\tmov sp, r0\n\tmovs r0, #3\n\tb emb_fault_exit");
}

__attribute__((naked)) void emb_memmanage_isr(void)
{
    __asm__ volatile("ldr r0, =__stack_top\n\tmov sp, r0\n\tmovs r0, #4\n\tb emb_fault_exit");
}

void emb_systick_isr(void)
{
    emb_systick_wraps++;
}

void emb_uart0_rx_isr(void)
{
    UART0_INTCLEAR = UART_RX_FULL; /* wake-up only: the byte is read by emb_port_getc */
}

/* Paint from the stack's limit to just below the live frame; the watermark scan finds the
 * lowest word ever overwritten. */
static void emb_paint_stack(void)
{
    volatile uint32_t *p = __stack_limit;
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    while ((uint32_t)p < sp - 64u) {
        *p++ = EMB_STACK_PAINT;
    }
}

/* Region 0: EMB_GUARD_BYTES of no access (XN, AP=0) below the stack; the default map
 * elsewhere (PRIVDEFENA). An overflow becomes a MemManage fault, not silent corruption. */
static void emb_stack_guard(void)
{
    MPU_RNR = 0u;
    MPU_RBAR = (uint32_t)__stack_guard;
    MPU_RASR = (1u << 28) | (0u << 24) | ((8u - 1u) << 1) | 1u; /* 2^8 = 256 bytes */
    MPU_CTRL = (1u << 2) | 1u;
    SCB_SHCSR |= 1u << 16; /* MemManage enabled, not escalated to HardFault */
    emb_dsb_isb();
}

void emb_port_init(void)
{
    UART0_BAUDDIV = 16u;
    UART0_CTRL = 1u | 2u | 8u;
    NVIC_ISER0 = 1u << 0; /* UART0 RX is IRQ 0 */
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 7u; /* processor clock, interrupt on wrap, enabled */
    emb_stack_guard();
}

void emb_port_info(emb_port_info_t *info)
{
    info->board = EMB_BOARD;
    info->port = "qemu_mps2";
    info->clock_hz = EMB_SYSCLK_HZ;
    info->tick_scale = EMB_TICK_SCALE;
    info->tick_unit = EMB_TICK_INSTRUCTIONS;
    info->stack_guard = 1u;
    info->stack_bytes = (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_limit);
}

int emb_port_getc(void)
{
    if (!(UART0_STATE & UART_RX_FULL)) {
        /* No timer while idle: with sleep=off QEMU would jump to each SysTick wrap and spin. */
        SYST_CSR = 0u;
        while (!(UART0_STATE & UART_RX_FULL)) {
            __asm__ volatile("cpsid i" ::: "memory");
            if (!(UART0_STATE & UART_RX_FULL)) {
                __asm__ volatile("wfi" ::: "memory"); /* a pending IRQ wakes it even masked */
            }
            __asm__ volatile("cpsie i" ::: "memory");
        }
        SYST_CSR = 7u;
    }
    return (int)(UART0_DATA & 0xFFu);
}

void emb_port_write(const uint8_t *data, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i) {
        while (UART0_STATE & UART_TX_FULL) {
        }
        UART0_DATA = data[i];
    }
}

/* The wrap interrupt comes as the counter reaches 0, so 0 is the first tick of the next
 * period: elapsed = (2^24 - val) mod 2^24. The interrupt may still be pending then: count the
 * wrap and read the value again. A wrap counted by the ISR during the reads shows as a
 * changed count: read again. */
uint32_t emb_port_ticks(void)
{
    uint32_t wraps, hi, val;
    do {
        wraps = emb_systick_wraps;
        hi = wraps;
        val = SYST_CVR;
        if (SCB_ICSR & ICSR_PENDSTSET) {
            hi = wraps + 1u;
            val = SYST_CVR;
        }
    } while (wraps != emb_systick_wraps);
    return (hi << 24) | ((0x01000000u - val) & 0x00FFFFFFu);
}

uint32_t emb_port_stack_peak(void)
{
    const uint32_t *p = __stack_limit;
    while (p < __stack_top && *p == EMB_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

int main(void)
{
    emb_harness_main();
    emb_port_shutdown(0);
    return 0;
}

void emb_reset_isr(void)
{
    uint32_t *src = __data_load, *dst = __data_start;
    while (dst < __data_end) {
        *dst++ = *src++;
    }
    for (dst = __bss_start; dst < __bss_end; ++dst) {
        *dst = 0u;
    }
    SCB_CPACR |= 0xFu << 20; /* CP10/CP11: the FPU, before any float instruction */
    emb_dsb_isb();
    emb_paint_stack();
    (void)main();
    emb_port_shutdown(0);
}

static void emb_default_isr(void)
{
    emb_fault_exit(3u);
}

/* Cortex-M vector table: 16 system entries, then IRQ 0 (UART0 RX). */
typedef void (*emb_isr_t)(void);
__attribute__((section(".vectors"), used)) static const emb_isr_t emb_vectors[17] = {
    (emb_isr_t)(uintptr_t)__stack_top,
    emb_reset_isr,
    emb_default_isr,   /* NMI */
    emb_hardfault_isr, /* HardFault */
    emb_memmanage_isr, /* MemManage */
    emb_default_isr,   /* BusFault */
    emb_default_isr,   /* UsageFault */
    0,
    0,
    0,
    0,
    emb_default_isr, /* SVCall */
    emb_default_isr, /* DebugMon */
    0,
    emb_default_isr, /* PendSV */
    emb_systick_isr,
    emb_uart0_rx_isr,
};
