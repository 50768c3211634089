/*
 * STM32 port: reset (FPU, .data, .bss, the painted stack), the heap for newlib, the fault
 * report and the vector table at the start of flash.
 */
#include <errno.h>

#include "emb_stm32.h"

/* newlib's malloc grows the heap from the end of .bss to the end of the data RAM region,
 * away from the stack and its guard; past the end it fails with ENOMEM. */
void *_sbrk(ptrdiff_t incr);
void *_sbrk(ptrdiff_t incr)
{
    static char *brk = __heap_start;
    char *old = brk;
    if (incr < 0 ? (ptrdiff_t)(brk - __heap_start) < -incr : (ptrdiff_t)(__heap_end - brk) < incr) {
        errno = ENOMEM;
        return (void *)-1;
    }
    brk += incr;
    return old;
}

/* A fault: the guard hit (MemManage) or anything else; print, then halt with interrupts
 * off. The handler first moves SP to the stack's top, as an overflow may have left it in
 * the guard. */
void emb_fault_report(uint32_t code);
void emb_fault_report(uint32_t code)
{
    MPU_CTRL = 0u;
    SYST_CSR = 0u;
    emb_stm32_dsb_isb();
    if (emb_stm32_uart_ready) {
        NVIC_ICER(EMB_UART_IRQ / 32u) = 1u << (EMB_UART_IRQ % 32u);
        emb_stm32_say(code == 4u
                          ? "\r\nembbert-mcu: MemManage fault: the stack overflowed into the MPU "
                            "guard; halted\r\n"
                      : code == 3u ? "\r\nembbert-mcu: HardFault; halted\r\n"
                                   : "\r\nembbert-mcu: unexpected exception; halted\r\n");
        while (!(UART_SR & SR_TC)) {
        }
    }
    for (;;) {
        __asm__ volatile("wfi" ::: "memory");
    }
}

__attribute__((naked)) void emb_hardfault_isr(void)
{
    __asm__ volatile(
        "cpsid i\n\tldr r0, =__stack_top\n\tmov sp, r0\n\tmovs r0, #3\n\tb emb_fault_report");
}

__attribute__((naked)) void emb_memmanage_isr(void)
{
    __asm__ volatile(
        "cpsid i\n\tldr r0, =__stack_top\n\tmov sp, r0\n\tmovs r0, #4\n\tb emb_fault_report");
}

__attribute__((naked)) void emb_default_isr(void)
{
    __asm__ volatile(
        "cpsid i\n\tldr r0, =__stack_top\n\tmov sp, r0\n\tmovs r0, #0\n\tb emb_fault_report");
}

/* Paint from the stack's limit to just below the live frame; the watermark scan finds the
 * lowest word ever overwritten. */
static void emb_paint_stack(void)
{
    volatile uint32_t *p = __stack_limit;
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    while ((uint32_t)(uintptr_t)p < sp - 64u) {
        *p++ = EMB_STACK_PAINT;
    }
}

int main(void)
{
    (void)emb_harness_main();
    emb_port_shutdown(0);
    return 0;
}

void emb_reset_isr(void)
{
    uint32_t *src = __data_load, *dst = __data_start;
    SCB_CPACR |= 0xFu << 20; /* CP10/CP11: the FPU, before any float instruction */
    emb_stm32_dsb_isb();
    while (dst < __data_end) {
        *dst++ = *src++;
    }
    for (dst = __bss_start; dst < __bss_end; ++dst) {
        *dst = 0u;
    }
    emb_paint_stack();
    (void)main();
    emb_port_shutdown(0);
}

/* Cortex-M vector table at the start of flash: 16 system entries, then the IRQs up to the
 * UART's (the only one enabled). Entries past it stay 0: an IRQ nobody enables never uses
 * them, and a jump to 0 would end in the HardFault report. */
typedef void (*emb_isr_t)(void);
#define EMB_IRQ_DEFAULTS4 emb_default_isr, emb_default_isr, emb_default_isr, emb_default_isr
#define EMB_IRQ_DEFAULTS32                                                                         \
    EMB_IRQ_DEFAULTS4, EMB_IRQ_DEFAULTS4, EMB_IRQ_DEFAULTS4, EMB_IRQ_DEFAULTS4, EMB_IRQ_DEFAULTS4, \
        EMB_IRQ_DEFAULTS4, EMB_IRQ_DEFAULTS4, EMB_IRQ_DEFAULTS4
__attribute__((section(".vectors"), used)) static const emb_isr_t emb_vectors[16u + EMB_N_IRQ] = {
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
    EMB_IRQ_DEFAULTS32, /* IRQ 0-31 */
    EMB_IRQ_DEFAULTS4,
    emb_default_isr,
    emb_default_isr, /* IRQ 32-37 */
#if EMB_UART_IRQ == 39u
    emb_default_isr, /* IRQ 38 */
#endif
    emb_uart_isr, /* USART2 (IRQ 38, F446) or USART3 (IRQ 39, H743) */
};
