/*
 * Port for the STM32 Nucleo boards, bare metal: the registers it touches are named below
 * from the reference manuals (RM0390 for the STM32F446, RM0433 for the STM32H743); no
 * vendor HAL, no CMSIS headers. Startup code and vector table are here too, the memory map
 * is the linker script `embbert-mcu flash` writes from boards/<board>.json.
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
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "emb_port.h"
#include "emb_proto.h"

#define EMB_REG(addr) (*(volatile uint32_t *)(addr))

/* Cortex-M system control space (ARMv7-M ARM, B3) */
#define SYST_CSR EMB_REG(0xE000E010u)
#define SYST_RVR EMB_REG(0xE000E014u)
#define SYST_CVR EMB_REG(0xE000E018u)
#define NVIC_ISER(n) EMB_REG(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) EMB_REG(0xE000E180u + 4u * (n))
#define SCB_ICSR EMB_REG(0xE000ED04u)
#define ICSR_PENDSTSET (1u << 26)
#define SCB_AIRCR EMB_REG(0xE000ED0Cu)
#define SCB_CCR EMB_REG(0xE000ED14u)
#define SCB_SHCSR EMB_REG(0xE000ED24u)
#define SCB_CCSIDR EMB_REG(0xE000ED80u)
#define SCB_CSSELR EMB_REG(0xE000ED84u)
#define SCB_CPACR EMB_REG(0xE000ED88u)
#define MPU_CTRL EMB_REG(0xE000ED94u)
#define MPU_RNR EMB_REG(0xE000ED98u)
#define MPU_RBAR EMB_REG(0xE000ED9Cu)
#define MPU_RASR EMB_REG(0xE000EDA0u)
#define DEMCR EMB_REG(0xE000EDFCu)
#define DEMCR_TRCENA (1u << 24)
#define SCB_ICIALLU EMB_REG(0xE000EF50u)
#define SCB_DCISW EMB_REG(0xE000EF60u)
#define DWT_CTRL EMB_REG(0xE0001000u)
#define DWT_CYCCNT EMB_REG(0xE0001004u)
#define DWT_LAR EMB_REG(0xE0001FB0u) /* Cortex-M7: the DWT is locked after reset */

#define EMB_READY_SPINS 200000u /* ~100 ms at 16 MHz; PLL lock takes ~0.1 ms, HSE a few ms */
#define EMB_STACK_PAINT 0xC5C5C5C5u
#define EMB_BAUD 115200u

#if defined(EMB_STM32_F4)
/* RM0390: RCC, PWR, FLASH interface, GPIOA, USART2 */
#define RCC_CR EMB_REG(0x40023800u)
#define RCC_PLLCFGR EMB_REG(0x40023804u)
#define RCC_CFGR EMB_REG(0x40023808u)
#define RCC_AHB1ENR EMB_REG(0x40023830u)
#define RCC_APB1ENR EMB_REG(0x40023840u)
#define CR_HSEON (1u << 16)
#define CR_HSERDY (1u << 17)
#define CR_HSEBYP (1u << 18)
#define CR_PLLON (1u << 24)
#define CR_PLLRDY (1u << 25)
#define PWR_CR EMB_REG(0x40007000u)
#define PWR_CSR EMB_REG(0x40007004u)
#define PWR_CR_VOS_SCALE1 (3u << 14)
#define PWR_CR_ODEN (1u << 16)
#define PWR_CR_ODSWEN (1u << 17)
#define PWR_CSR_ODRDY (1u << 16)
#define PWR_CSR_ODSWRDY (1u << 17)
#define FLASH_ACR EMB_REG(0x40023C00u)
#define FLASH_ACR_180MHZ (5u | (1u << 8) | (1u << 9) | (1u << 10)) /* 5 WS, PRFTEN ICEN DCEN */
#define GPIO_BASE 0x40020000u                                      /* GPIOA */
#define UART_BASE 0x40004400u                                      /* USART2 */
#define UART_SR EMB_REG(UART_BASE + 0x00u)
#define UART_DR EMB_REG(UART_BASE + 0x04u)
#define UART_BRR EMB_REG(UART_BASE + 0x08u)
#define UART_CR1 EMB_REG(UART_BASE + 0x0Cu)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_RXNEIE (1u << 5)
#define CR1_UE (1u << 13)
#define SR_ORE (1u << 3)
#define SR_RXNE (1u << 5)
#define SR_TXE (1u << 7)
#define SR_TC (1u << 6)
#define EMB_UART_IRQ 38u
#define EMB_N_IRQ 97u
#define EMB_TX_PIN 2u
#define EMB_RX_PIN 3u
#define EMB_HSE_HZ 8000000u
#define EMB_HSI_HZ 16000000u
#elif defined(EMB_STM32_H7)
/* RM0433: RCC, PWR, SYSCFG, FLASH interface, DBGMCU, GPIOD, USART3 */
#define RCC_CR EMB_REG(0x58024400u)
#define RCC_CFGR EMB_REG(0x58024410u)
#define RCC_D1CFGR EMB_REG(0x58024418u)
#define RCC_D2CFGR EMB_REG(0x5802441Cu)
#define RCC_D3CFGR EMB_REG(0x58024420u)
#define RCC_PLLCKSELR EMB_REG(0x58024428u)
#define RCC_PLLCFGR EMB_REG(0x5802442Cu)
#define RCC_PLL1DIVR EMB_REG(0x58024430u)
#define RCC_AHB4ENR EMB_REG(0x580244E0u)
#define RCC_APB1LENR EMB_REG(0x580244E8u)
#define RCC_APB4ENR EMB_REG(0x580244F4u)
#define CR_HSEON (1u << 16)
#define CR_HSERDY (1u << 17)
#define CR_HSEBYP (1u << 18)
#define CR_PLLON (1u << 24) /* PLL1ON */
#define CR_PLLRDY (1u << 25)
#define PWR_CSR1 EMB_REG(0x58024804u)
#define PWR_CR3 EMB_REG(0x5802480Cu)
#define PWR_D3CR EMB_REG(0x58024818u)
#define PWR_CSR1_ACTVOSRDY (1u << 13)
#define PWR_CR3_LDOEN (1u << 1)
#define PWR_D3CR_VOS1 (3u << 14)
#define PWR_D3CR_VOSRDY (1u << 13)
#define SYSCFG_PWRCR EMB_REG(0x5800042Cu) /* ODEN, bit 0: VOS0 */
#define FLASH_ACR EMB_REG(0x52002000u)
#define DBGMCU_IDCODE EMB_REG(0x5C001000u)
#define EMB_REV_V 0x2003u
#define GPIO_BASE 0x58020C00u /* GPIOD */
#define UART_BASE 0x40004800u /* USART3 */
#define UART_CR1 EMB_REG(UART_BASE + 0x00u)
#define UART_BRR EMB_REG(UART_BASE + 0x0Cu)
#define UART_SR EMB_REG(UART_BASE + 0x1Cu) /* ISR */
#define UART_ICR EMB_REG(UART_BASE + 0x20u)
#define UART_RDR EMB_REG(UART_BASE + 0x24u)
#define UART_TDR EMB_REG(UART_BASE + 0x28u)
#define CR1_UE (1u << 0)
#define CR1_RE (1u << 2)
#define CR1_TE (1u << 3)
#define CR1_RXNEIE (1u << 5)
#define SR_ORE (1u << 3)
#define SR_RXNE (1u << 5)
#define SR_TC (1u << 6)
#define SR_TXE (1u << 7)
#define EMB_UART_IRQ 39u
#define EMB_N_IRQ 150u
#define EMB_TX_PIN 8u
#define EMB_RX_PIN 9u
#define EMB_HSE_HZ 8000000u
#define EMB_HSI_HZ 64000000u
#else
#error "define EMB_STM32_F4 or EMB_STM32_H7 (boards/<board>.json sets it)"
#endif

#define GPIO_MODER EMB_REG(GPIO_BASE + 0x00u)
#define GPIO_OSPEEDR EMB_REG(GPIO_BASE + 0x08u)
#define GPIO_PUPDR EMB_REG(GPIO_BASE + 0x0Cu)
#define GPIO_AFR(n) EMB_REG(GPIO_BASE + 0x20u + 4u * (n))

/* From the generated linker script */
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_guard[], __stack_limit[], __stack_top[];
extern char __heap_start[], __heap_end[];

static const char *emb_clock_note = ""; /* why the board is not on its nominal clock */
static uint32_t emb_clock_hz;           /* read back from RCC after bring-up */
static uint8_t emb_use_systick;         /* CYCCNT does not count: SysTick instead */
static volatile uint32_t emb_systick_wraps;
static uint8_t emb_uart_ready;

static void emb_dsb_isb(void)
{
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}

/* 1 once (reg & mask) == want, 0 after EMB_READY_SPINS reads. */
static int emb_wait(volatile uint32_t *reg, uint32_t mask, uint32_t want)
{
    uint32_t i;
    for (i = 0u; i < EMB_READY_SPINS; ++i) {
        if ((*reg & mask) == want) {
            return 1;
        }
    }
    return 0;
}

/* AHB-style prescaler field (HPRE, D1CPRE): 0xxx = /1, 1000.. 1111 = /2 /4 /8 /16 /64.. /512 */
static uint32_t emb_ahb_div(uint32_t field)
{
    static const uint8_t shift[8] = {1u, 2u, 3u, 4u, 6u, 7u, 8u, 9u};
    return field < 8u ? 1u : 1u << shift[field - 8u];
}

/* APB prescaler field (PPRE, DxPPRE): 0xx = /1, 100.. 111 = /2 /4 /8 /16 */
static uint32_t emb_apb_div(uint32_t field)
{
    return field < 4u ? 1u : 1u << (field - 3u);
}

#if defined(EMB_STM32_F4)
static void emb_clock_setup(void)
{
    uint32_t src_hz = EMB_HSE_HZ, pllm = 4u;

    RCC_APB1ENR |= 1u << 28; /* PWREN */
    (void)RCC_APB1ENR;
    PWR_CR |= PWR_CR_VOS_SCALE1; /* applied once the PLL is on (RM0390 5.1.3) */
    RCC_CR |= CR_HSEBYP;
    RCC_CR |= CR_HSEON;
    if (!emb_wait(&RCC_CR, CR_HSERDY, CR_HSERDY)) {
        RCC_CR &= ~(CR_HSEON | CR_HSEBYP);
        src_hz = EMB_HSI_HZ;
        pllm = 8u;
        emb_clock_note = "HSE not ready; ";
    }
    /* VCO in = 2 MHz, VCO = 360 MHz (N 180), SYSCLK = VCO / P 2 = 180 MHz; Q 7, R 2 unused */
    RCC_PLLCFGR = pllm | (180u << 6) | (0u << 16) | ((src_hz == EMB_HSE_HZ ? 1u : 0u) << 22) |
                  (7u << 24) | (2u << 28);
    RCC_CR |= CR_PLLON;
    if (!emb_wait(&RCC_CR, CR_PLLRDY, CR_PLLRDY)) {
        RCC_CR &= ~CR_PLLON;
        emb_clock_note =
            src_hz == EMB_HSE_HZ ? "PLL not locked; " : "HSE not ready, PLL not locked; ";
        return;
    }
    PWR_CR |= PWR_CR_ODEN; /* over-drive: 180 MHz needs it (RM0390 5.1.4) */
    if (!emb_wait(&PWR_CSR, PWR_CSR_ODRDY, PWR_CSR_ODRDY)) {
        emb_clock_note = "over-drive not ready; ";
        return;
    }
    PWR_CR |= PWR_CR_ODSWEN;
    if (!emb_wait(&PWR_CSR, PWR_CSR_ODSWRDY, PWR_CSR_ODSWRDY)) {
        emb_clock_note = "over-drive switch not ready; ";
        return;
    }
    FLASH_ACR = FLASH_ACR_180MHZ; /* wait states before the clock goes up (RM0390 3.4.1) */
    if (!emb_wait(&FLASH_ACR, 0xFu, FLASH_ACR_180MHZ & 0xFu)) {
        emb_clock_note = "flash wait states not taken; ";
        return;
    }
    RCC_CFGR =
        (RCC_CFGR & ~0xFCF0u) | (0u << 4) | (5u << 10) | (4u << 13); /* AHB /1 APB1 /4 APB2 /2 */
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u;                                /* SW = PLL */
    if (!emb_wait(&RCC_CFGR, 0xCu, 0x8u)) {
        RCC_CFGR &= ~3u;
        emb_clock_note = "SYSCLK did not switch to the PLL; ";
    }
}

static uint32_t emb_sysclk_hz(void)
{
    uint32_t sws = (RCC_CFGR >> 2) & 3u, cfg = RCC_PLLCFGR;
    uint32_t m = cfg & 0x3Fu, n = (cfg >> 6) & 0x1FFu, p = 2u * (((cfg >> 16) & 3u) + 1u);
    uint32_t src = (cfg & (1u << 22)) ? EMB_HSE_HZ : EMB_HSI_HZ;
    if (sws == 1u) {
        return EMB_HSE_HZ;
    }
    if (sws == 2u && m >= 2u) {
        return (uint32_t)((uint64_t)src / m * n / p);
    }
    return EMB_HSI_HZ; /* sws 0 (and a reset value of RCC that reads 0) */
}

static uint32_t emb_hclk_hz(void)
{
    return emb_sysclk_hz() / emb_ahb_div((RCC_CFGR >> 4) & 0xFu);
}

static uint32_t emb_uart_clock_hz(void) /* APB1 */
{
    return emb_hclk_hz() / emb_apb_div((RCC_CFGR >> 10) & 7u);
}

static void emb_uart_clocks_on(void)
{
    RCC_AHB1ENR |= 1u << 0;  /* GPIOA */
    RCC_APB1ENR |= 1u << 17; /* USART2 */
    (void)RCC_APB1ENR;
}

static void emb_cache_setup(void) {}
#else /* EMB_STM32_H7 */
static void emb_clock_setup(void)
{
    uint32_t rev = DBGMCU_IDCODE >> 16, src_hz = EMB_HSE_HZ, divm = 4u, n = 400u;
    uint32_t latency = 2u; /* VOS1, AXI 200 MHz: 2 WS, WRHIGHFREQ 2 (RM0433 table 17) */

    PWR_CR3 = PWR_CR3_LDOEN; /* supply configuration, written once after reset */
    if (!emb_wait(&PWR_CSR1, PWR_CSR1_ACTVOSRDY, PWR_CSR1_ACTVOSRDY)) {
        emb_clock_note = "supply not ready; ";
        return;
    }
    PWR_D3CR = (PWR_D3CR & ~PWR_D3CR_VOS1) | PWR_D3CR_VOS1;
    if (!emb_wait(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY)) {
        emb_clock_note = "VOS1 not ready; ";
        return;
    }
    if (rev == EMB_REV_V) {     /* rev V: VOS0 (over-drive) for 480 MHz; rev Y stops at 400 */
        RCC_APB4ENR |= 1u << 1; /* SYSCFG */
        (void)RCC_APB4ENR;
        SYSCFG_PWRCR |= 1u;
        if (emb_wait(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY)) {
            n = 480u;
            latency = 4u; /* VOS0, AXI 240 MHz: 4 WS */
        } else {
            SYSCFG_PWRCR &= ~1u;
            emb_clock_note = "VOS0 not ready, 400 MHz; ";
        }
    }
    RCC_CR |= CR_HSEBYP;
    RCC_CR |= CR_HSEON;
    if (!emb_wait(&RCC_CR, CR_HSERDY, CR_HSERDY)) {
        RCC_CR &= ~(CR_HSEON | CR_HSEBYP);
        src_hz = EMB_HSI_HZ;
        divm = 32u;
        emb_clock_note = "HSE not ready; ";
    }
    /* ref = 2 MHz (PLL1RGE 1: 2-4 MHz), wide VCO = 2 * N, P = 2; only DIVP1 enabled */
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~0x3F3u) | (divm << 4) | (src_hz == EMB_HSE_HZ ? 2u : 0u);
    RCC_PLLCFGR = (RCC_PLLCFGR & ~0x7000Fu) | (1u << 2) | (1u << 16);
    RCC_PLL1DIVR = (n - 1u) | ((2u - 1u) << 9) | ((4u - 1u) << 16) | ((2u - 1u) << 24);
    RCC_CR |= CR_PLLON;
    if (!emb_wait(&RCC_CR, CR_PLLRDY, CR_PLLRDY)) {
        RCC_CR &= ~CR_PLLON;
        emb_clock_note =
            src_hz == EMB_HSE_HZ ? "PLL1 not locked; " : "HSE not ready, PLL1 not locked; ";
        return;
    }
    FLASH_ACR = latency | (2u << 4); /* before the clock goes up (RM0433 4.3.8) */
    if (!emb_wait(&FLASH_ACR, 0x3Fu, latency | (2u << 4))) {
        emb_clock_note = "flash wait states not taken; ";
        return;
    }
    RCC_D1CFGR = (0u << 8) | (4u << 4) | 8u; /* D1CPRE /1, D1PPRE /2, HPRE /2 */
    RCC_D2CFGR = (4u << 8) | (4u << 4);      /* D2PPRE2 /2, D2PPRE1 /2 */
    RCC_D3CFGR = 4u << 4;                    /* D3PPRE /2 */
    RCC_CFGR = (RCC_CFGR & ~7u) | 3u;        /* SW = PLL1 */
    if (!emb_wait(&RCC_CFGR, 0x38u, 3u << 3)) {
        RCC_CFGR &= ~7u;
        emb_clock_note = "SYSCLK did not switch to PLL1; ";
    }
}

static uint32_t emb_sysclk_hz(void)
{
    uint32_t sws = (RCC_CFGR >> 3) & 7u, sel = RCC_PLLCKSELR, div = RCC_PLL1DIVR;
    uint32_t hsi = EMB_HSI_HZ >> ((RCC_CR >> 3) & 3u); /* HSIDIV */
    uint32_t m = (sel >> 4) & 0x3Fu, n = (div & 0x1FFu) + 1u, p = ((div >> 9) & 0x7Fu) + 1u;
    uint32_t src = (sel & 3u) == 2u ? EMB_HSE_HZ : (sel & 3u) == 1u ? 4000000u : hsi;
    if (sws == 1u) {
        return 4000000u; /* CSI */
    }
    if (sws == 2u) {
        return EMB_HSE_HZ;
    }
    if (sws == 3u && m != 0u) {
        return (uint32_t)((uint64_t)src / m * n / p);
    }
    return hsi;
}

static uint32_t emb_hclk_hz(void) /* the core's clock: SYSCLK / D1CPRE */
{
    return emb_sysclk_hz() / emb_ahb_div((RCC_D1CFGR >> 8) & 0xFu);
}

static uint32_t emb_uart_clock_hz(void) /* rcc_pclk1 = core / HPRE / D2PPRE1 */
{
    return emb_hclk_hz() / emb_ahb_div(RCC_D1CFGR & 0xFu) / emb_apb_div((RCC_D2CFGR >> 4) & 7u);
}

static void emb_uart_clocks_on(void)
{
    RCC_AHB4ENR |= 1u << 3;   /* GPIOD */
    RCC_APB1LENR |= 1u << 18; /* USART3 */
    (void)RCC_APB1LENR;
}

/* Cortex-M7 L1 caches (ARMv7-M ARM B2.2.7): invalidate, then enable. */
static void emb_cache_setup(void)
{
    uint32_t ccsidr, sets, ways, w;
    emb_dsb_isb();
    SCB_ICIALLU = 0u;
    emb_dsb_isb();
    SCB_CCR |= 1u << 17; /* IC */
    emb_dsb_isb();
    SCB_CSSELR = 0u; /* level 1 data cache */
    emb_dsb_isb();
    ccsidr = SCB_CCSIDR;
    sets = (ccsidr >> 13) & 0x7FFFu;
    ways = (ccsidr >> 3) & 0x3FFu;
    do {
        w = ways;
        do {
            SCB_DCISW = (sets << 5) | (w << 30); /* 32-byte lines, 4 ways */
        } while (w-- != 0u);
    } while (sets-- != 0u);
    emb_dsb_isb();
    SCB_CCR |= 1u << 16; /* DC */
    emb_dsb_isb();
}
#endif

static void emb_uart_setup(void)
{
    uint32_t tx2 = 2u * EMB_TX_PIN, rx2 = 2u * EMB_RX_PIN;
    emb_uart_clocks_on();
    GPIO_MODER = (GPIO_MODER & ~((3u << tx2) | (3u << rx2))) | (2u << tx2) | (2u << rx2); /* AF */
    GPIO_OSPEEDR |= (2u << tx2) | (2u << rx2);
    GPIO_PUPDR = (GPIO_PUPDR & ~(3u << rx2)) | (1u << rx2); /* RX pulled up */
    GPIO_AFR(EMB_TX_PIN / 8u) = (GPIO_AFR(EMB_TX_PIN / 8u) & ~(0xFu << (4u * (EMB_TX_PIN % 8u)))) |
                                (7u << (4u * (EMB_TX_PIN % 8u)));
    GPIO_AFR(EMB_RX_PIN / 8u) = (GPIO_AFR(EMB_RX_PIN / 8u) & ~(0xFu << (4u * (EMB_RX_PIN % 8u)))) |
                                (7u << (4u * (EMB_RX_PIN % 8u)));
    UART_CR1 = 0u;
    UART_BRR = (emb_uart_clock_hz() + EMB_BAUD / 2u) / EMB_BAUD; /* oversampling by 16 */
    UART_CR1 = CR1_UE | CR1_TE | CR1_RE | CR1_RXNEIE; /* the IRQ is let through only to wake */
    emb_uart_ready = 1u;
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

static void emb_say(const char *s)
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
    emb_say(buf + i);
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
    emb_dsb_isb();
}

void emb_port_init(void)
{
    emb_cache_setup();
    emb_clock_setup();
    emb_clock_hz = emb_hclk_hz();
    emb_uart_setup();
    emb_ticks_setup();
    emb_stack_guard();
    emb_say("\r\nembbert-mcu " EMB_BOARD ": ");
    emb_say(emb_clock_note);
    emb_say(emb_clock_note[0] != '\0' ? "running on the internal clock at " : "core clock ");
    emb_say_u32(emb_clock_hz);
    emb_say(emb_use_systick ? " Hz; ticks: SysTick (DWT CYCCNT does not count)\r\n"
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
    emb_dsb_isb();
    SCB_AIRCR = 0x05FA0004u; /* SYSRESETREQ: a board has nothing to return to */
    for (;;) {
    }
}

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
    emb_dsb_isb();
    if (emb_uart_ready) {
        NVIC_ICER(EMB_UART_IRQ / 32u) = 1u << (EMB_UART_IRQ % 32u);
        emb_say(code == 4u ? "\r\nembbert-mcu: MemManage fault: the stack overflowed into the MPU "
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
    emb_dsb_isb();
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
