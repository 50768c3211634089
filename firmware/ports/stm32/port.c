/*
 * Port for the STM32 Nucleo boards, bare metal: the registers it touches are named below
 * from the reference manuals (RM0390 for the STM32F446, RM0433 for the STM32H743) in
 * emb_stm32.h; no vendor HAL, no CMSIS headers. This file: the serial line, ticks and the port
 * API; emb_stm32_clock.c: the clock tree and caches; emb_stm32_startup.c: reset, heap, faults
 * and the vector table. The memory map is the linker script `embbert-mcu flash` writes from
 * boards/<board>.json.
 *
 * Bring-up, in the order the reference manuals ask for it:
 *  F446 (-DEMB_STM32_F4): FPU on; PWR clock, voltage scale 1; HSE in bypass (the ST-Link's
 *   8 MHz MCO) or else HSI 16 MHz; PLL to 180 MHz; over-drive on and switched; 5 flash wait
 *   states with prefetch and caches; AHB /1, APB1 /4 (45 MHz), APB2 /2; SYSCLK = PLL.
 *  H743 (-DEMB_STM32_H7): FPU on; LDO supply; VOS1 (and VOS0 with over-drive on revision V,
 *   DBGMCU_IDCODE REV_ID 0x2003); HSE bypass 8 MHz or else HSI 64 MHz; PLL1 to 400 MHz (rev Y)
 *   or 480 MHz (rev V); flash wait states; AXI/AHB /2, every APB /2; SYSCLK = PLL1; I- and
 *   D-cache on.
 * Every wait on a ready bit is bounded. On a timeout the core stays on its internal clock
 * and the port says so on the serial line. The clock reported in HELLO is read back from
 * RCC (the source SYSCLK really switched to, and its dividers), not the nominal one.
 *
 * Link to the host: the ST-Link virtual COM port, USART2 on PA2/PA3 (F446) or USART3 on
 * PD8/PD9 (H743), 115200 8N1. Ticks: the DWT cycle counter; where CYCCNT does not count
 * (QEMU's netduinoplus2 machine), SysTick on the processor clock with its wraps counted.
 * Stack: its own region with a 256-byte MPU no-access guard at its low end, where nothing
 * else lives (.data, .bss and the heap sit above the stack, not below it); a fault there
 * prints a line on the serial port and halts.
 */
#include "emb_stm32.h"

static uint32_t emb_clock_hz;   /* read back from RCC after bring-up */
static uint8_t emb_use_systick; /* CYCCNT does not count: SysTick instead */
static volatile uint32_t emb_systick_wraps;
uint8_t emb_stm32_uart_ready;

static void emb_uart_setup(void)
{
    uint32_t tx2 = 2u * EMB_TX_PIN, rx2 = 2u * EMB_RX_PIN;
    emb_stm32_uart_clocks_on();
    GPIO_MODER = (GPIO_MODER & ~((3u << tx2) | (3u << rx2))) | (2u << tx2) | (2u << rx2); /* AF */
    GPIO_OSPEEDR |= (2u << tx2) | (2u << rx2);
    GPIO_PUPDR = (GPIO_PUPDR & ~(3u << rx2)) | (1u << rx2); /* RX pulled up */
    GPIO_AFR(EMB_TX_PIN / 8u) = (GPIO_AFR(EMB_TX_PIN / 8u) & ~(0xFu << (4u * (EMB_TX_PIN % 8u)))) |
                                (7u << (4u * (EMB_TX_PIN % 8u)));
    GPIO_AFR(EMB_RX_PIN / 8u) = (GPIO_AFR(EMB_RX_PIN / 8u) & ~(0xFu << (4u * (EMB_RX_PIN % 8u)))) |
                                (7u << (4u * (EMB_RX_PIN % 8u)));
    UART_CR1 = 0u;
    UART_BRR = (emb_stm32_uart_clock_hz() + EMB_BAUD / 2u) / EMB_BAUD; /* oversampling by 16 */
    UART_CR1 = CR1_UE | CR1_TE | CR1_RE | CR1_RXNEIE; /* the IRQ is let through only to wake */
    emb_stm32_uart_ready = 1u;
}

static void emb_putc(uint8_t c)
{
    while (!(UART_SR & SR_TXE)) {
    }
#if defined(EMB_STM32_F4)
    UART_DR = c;
#else
    UART_TDR = c;
#endif
}

void emb_stm32_say(const char *s)
{
    while (*s != '\0') {
        emb_putc((uint8_t)*s++);
    }
}

static void emb_say_u32(uint32_t v)
{
    char buf[11];
    int i = 10;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    emb_stm32_say(buf + i);
}

/* CYCCNT where it counts; SysTick on the processor clock otherwise (both count core cycles). */
static void emb_ticks_setup(void)
{
    volatile uint32_t spin;
    DEMCR |= DEMCR_TRCENA;
#if defined(EMB_STM32_H7)
    DWT_LAR = 0xC5ACCE55u;
#endif
    DWT_CYCCNT = 0u;
    DWT_CTRL |= 1u; /* CYCCNTENA */
    for (spin = 0u; spin < 64u; ++spin) {
    }
    if (DWT_CYCCNT == 0u) {
        emb_use_systick = 1u;
        SYST_RVR = 0x00FFFFFFu;
        SYST_CVR = 0u;
        SYST_CSR = 7u; /* processor clock, interrupt on wrap, enabled */
    }
}

/* Region 0: 256 bytes of no access (XN, AP = 0) at the stack's low end; the default map
 * elsewhere (PRIVDEFENA). An overflow becomes a MemManage fault. */
static void emb_stack_guard(void)
{
    MPU_RNR = 0u;
    MPU_RBAR = (uint32_t)(uintptr_t)__stack_guard;
    MPU_RASR = (1u << 28) | (0u << 24) | ((8u - 1u) << 1) | 1u; /* 2^8 bytes */
    MPU_CTRL = (1u << 2) | 1u;
    SCB_SHCSR |= 1u << 16; /* MemManage enabled, not escalated to HardFault */
    emb_stm32_dsb_isb();
}

void emb_port_init(void)
{
    emb_stm32_cache_setup();
    emb_stm32_clock_setup();
    emb_clock_hz = emb_stm32_hclk_hz();
    emb_uart_setup();
    emb_ticks_setup();
    emb_stack_guard();
    emb_stm32_say("\r\nembbert-mcu " EMB_BOARD ": ");
    emb_stm32_say(emb_stm32_clock_note);
    emb_stm32_say(emb_stm32_clock_note[0] != '\0' ? "running on the internal clock at "
                                                  : "core clock ");
    emb_say_u32(emb_clock_hz);
    emb_stm32_say(emb_use_systick ? " Hz; ticks: SysTick (DWT CYCCNT does not count)\r\n"
                                  : " Hz; ticks: DWT CYCCNT\r\n");
}

void emb_port_info(emb_port_info_t *info)
{
    info->board = EMB_BOARD;
    info->port = "stm32";
    info->clock_hz = emb_clock_hz;
    info->tick_scale = 1u;
    info->tick_unit = EMB_TICK_CYCLES;
    info->stack_guard = 1u;
    info->stack_bytes = (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_limit);
}

/* Wake-up only: emb_port_getc reads the byte. The IRQ is masked in the NVIC rather than
 * with RXNEIE, which does not lower the line on every USART model (QEMU's stays raised
 * until DR is read, and the handler would run forever). */
void emb_uart_isr(void)
{
    NVIC_ICER(EMB_UART_IRQ / 32u) = 1u << (EMB_UART_IRQ % 32u);
}

static int emb_rx_ready(void)
{
    uint32_t sr = UART_SR;
    if (sr & SR_ORE) { /* a lost byte fails the CRC; the host retries */
#if defined(EMB_STM32_F4)
        if (!(sr & SR_RXNE)) {
            (void)UART_DR; /* SR then DR clears ORE */
        }
#else
        UART_ICR = SR_ORE;
#endif
    }
    return (sr & SR_RXNE) != 0u;
}

int emb_port_getc(void)
{
    if (!emb_rx_ready()) {
        if (emb_use_systick) {
            SYST_CSR = 0u; /* no timer while idle: an emulator would spin on each wrap */
        }
        while (!emb_rx_ready()) {
            __asm__ volatile("cpsid i" ::: "memory");
            if (!emb_rx_ready()) {
                NVIC_ISER(EMB_UART_IRQ / 32u) = 1u << (EMB_UART_IRQ % 32u);
                __asm__ volatile("wfi" ::: "memory"); /* a pending IRQ wakes it, even masked */
            }
            __asm__ volatile("cpsie i" ::: "memory");
        }
        if (emb_use_systick) {
            SYST_CSR = 7u;
        }
    }
#if defined(EMB_STM32_F4)
    return (int)(UART_DR & 0xFFu);
#else
    return (int)(UART_RDR & 0xFFu);
#endif
}

void emb_port_write(const uint8_t *data, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i) {
        emb_putc(data[i]);
    }
}

void emb_systick_isr(void)
{
    emb_systick_wraps++;
}

/* As in the qemu_mps2 port: elapsed = (2^24 - val) mod 2^24 plus counted wraps, with a wrap
 * still pending counted here. */
static uint32_t emb_systick_ticks(void)
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

uint32_t emb_port_ticks(void)
{
    return emb_use_systick ? emb_systick_ticks() : DWT_CYCCNT;
}

uint32_t emb_port_stack_peak(void)
{
    const uint32_t *p = __stack_limit;
    while (p < __stack_top && *p == EMB_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

void emb_port_shutdown(int code)
{
    (void)code;
    emb_stm32_dsb_isb();
    SCB_AIRCR = 0x05FA0004u; /* SYSRESETREQ: a board has nothing to return to */
    for (;;) {
    }
}
