/*
 * STM32 port: the clock tree and the caches (the bring-up order is in port.c's header). Every
 * wait on a ready bit is bounded; on a timeout the core stays on its internal clock and
 * emb_stm32_clock_note says why.
 */
#include "emb_stm32.h"

const char *emb_stm32_clock_note = "";

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
void emb_stm32_clock_setup(void)
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
        emb_stm32_clock_note = "HSE not ready; ";
    }
    /* VCO in = 2 MHz, VCO = 360 MHz (N 180), SYSCLK = VCO / P 2 = 180 MHz; Q 7, R 2 unused */
    RCC_PLLCFGR = pllm | (180u << 6) | (0u << 16) | ((src_hz == EMB_HSE_HZ ? 1u : 0u) << 22) |
                  (7u << 24) | (2u << 28);
    RCC_CR |= CR_PLLON;
    if (!emb_wait(&RCC_CR, CR_PLLRDY, CR_PLLRDY)) {
        RCC_CR &= ~CR_PLLON;
        emb_stm32_clock_note =
            src_hz == EMB_HSE_HZ ? "PLL not locked; " : "HSE not ready, PLL not locked; ";
        return;
    }
    PWR_CR |= PWR_CR_ODEN; /* over-drive: 180 MHz needs it (RM0390 5.1.4) */
    if (!emb_wait(&PWR_CSR, PWR_CSR_ODRDY, PWR_CSR_ODRDY)) {
        emb_stm32_clock_note = "over-drive not ready; ";
        return;
    }
    PWR_CR |= PWR_CR_ODSWEN;
    if (!emb_wait(&PWR_CSR, PWR_CSR_ODSWRDY, PWR_CSR_ODSWRDY)) {
        emb_stm32_clock_note = "over-drive switch not ready; ";
        return;
    }
    FLASH_ACR = FLASH_ACR_180MHZ; /* wait states before the clock goes up (RM0390 3.4.1) */
    if (!emb_wait(&FLASH_ACR, 0xFu, FLASH_ACR_180MHZ & 0xFu)) {
        emb_stm32_clock_note = "flash wait states not taken; ";
        return;
    }
    RCC_CFGR =
        (RCC_CFGR & ~0xFCF0u) | (0u << 4) | (5u << 10) | (4u << 13); /* AHB /1 APB1 /4 APB2 /2 */
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u;                                /* SW = PLL */
    if (!emb_wait(&RCC_CFGR, 0xCu, 0x8u)) {
        RCC_CFGR &= ~3u;
        emb_stm32_clock_note = "SYSCLK did not switch to the PLL; ";
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

uint32_t emb_stm32_hclk_hz(void)
{
    return emb_sysclk_hz() / emb_ahb_div((RCC_CFGR >> 4) & 0xFu);
}

uint32_t emb_stm32_uart_clock_hz(void) /* APB1 */
{
    return emb_stm32_hclk_hz() / emb_apb_div((RCC_CFGR >> 10) & 7u);
}

void emb_stm32_uart_clocks_on(void)
{
    RCC_AHB1ENR |= 1u << 0;  /* GPIOA */
    RCC_APB1ENR |= 1u << 17; /* USART2 */
    (void)RCC_APB1ENR;
}

void emb_stm32_cache_setup(void) {}
#else /* EMB_STM32_H7 */
void emb_stm32_clock_setup(void)
{
    uint32_t rev = DBGMCU_IDCODE >> 16, src_hz = EMB_HSE_HZ, divm = 4u, n = 400u;
    uint32_t latency = 2u; /* VOS1, AXI 200 MHz: 2 WS, WRHIGHFREQ 2 (RM0433 table 17) */

    PWR_CR3 = PWR_CR3_LDOEN; /* supply configuration, written once after reset */
    if (!emb_wait(&PWR_CSR1, PWR_CSR1_ACTVOSRDY, PWR_CSR1_ACTVOSRDY)) {
        emb_stm32_clock_note = "supply not ready; ";
        return;
    }
    PWR_D3CR = (PWR_D3CR & ~PWR_D3CR_VOS1) | PWR_D3CR_VOS1;
    if (!emb_wait(&PWR_D3CR, PWR_D3CR_VOSRDY, PWR_D3CR_VOSRDY)) {
        emb_stm32_clock_note = "VOS1 not ready; ";
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
            emb_stm32_clock_note = "VOS0 not ready, 400 MHz; ";
        }
    }
    RCC_CR |= CR_HSEBYP;
    RCC_CR |= CR_HSEON;
    if (!emb_wait(&RCC_CR, CR_HSERDY, CR_HSERDY)) {
        RCC_CR &= ~(CR_HSEON | CR_HSEBYP);
        src_hz = EMB_HSI_HZ;
        divm = 32u;
        emb_stm32_clock_note = "HSE not ready; ";
    }
    /* ref = 2 MHz (PLL1RGE 1: 2-4 MHz), wide VCO = 2 * N, P = 2; only DIVP1 enabled */
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~0x3F3u) | (divm << 4) | (src_hz == EMB_HSE_HZ ? 2u : 0u);
    RCC_PLLCFGR = (RCC_PLLCFGR & ~0x7000Fu) | (1u << 2) | (1u << 16);
    RCC_PLL1DIVR = (n - 1u) | ((2u - 1u) << 9) | ((4u - 1u) << 16) | ((2u - 1u) << 24);
    RCC_CR |= CR_PLLON;
    if (!emb_wait(&RCC_CR, CR_PLLRDY, CR_PLLRDY)) {
        RCC_CR &= ~CR_PLLON;
        emb_stm32_clock_note =
            src_hz == EMB_HSE_HZ ? "PLL1 not locked; " : "HSE not ready, PLL1 not locked; ";
        return;
    }
    FLASH_ACR = latency | (2u << 4); /* before the clock goes up (RM0433 4.3.8) */
    if (!emb_wait(&FLASH_ACR, 0x3Fu, latency | (2u << 4))) {
        emb_stm32_clock_note = "flash wait states not taken; ";
        return;
    }
    RCC_D1CFGR = (0u << 8) | (4u << 4) | 8u; /* D1CPRE /1, D1PPRE /2, HPRE /2 */
    RCC_D2CFGR = (4u << 8) | (4u << 4);      /* D2PPRE2 /2, D2PPRE1 /2 */
    RCC_D3CFGR = 4u << 4;                    /* D3PPRE /2 */
    RCC_CFGR = (RCC_CFGR & ~7u) | 3u;        /* SW = PLL1 */
    if (!emb_wait(&RCC_CFGR, 0x38u, 3u << 3)) {
        RCC_CFGR &= ~7u;
        emb_stm32_clock_note = "SYSCLK did not switch to PLL1; ";
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

uint32_t emb_stm32_hclk_hz(void) /* the core's clock: SYSCLK / D1CPRE */
{
    return emb_sysclk_hz() / emb_ahb_div((RCC_D1CFGR >> 8) & 0xFu);
}

uint32_t emb_stm32_uart_clock_hz(void) /* rcc_pclk1 = core / HPRE / D2PPRE1 */
{
    return emb_stm32_hclk_hz() / emb_ahb_div(RCC_D1CFGR & 0xFu) /
           emb_apb_div((RCC_D2CFGR >> 4) & 7u);
}

void emb_stm32_uart_clocks_on(void)
{
    RCC_AHB4ENR |= 1u << 3;   /* GPIOD */
    RCC_APB1LENR |= 1u << 18; /* USART3 */
    (void)RCC_APB1LENR;
}

/* Cortex-M7 L1 caches (ARMv7-M ARM B2.2.7): invalidate, then enable. */
void emb_stm32_cache_setup(void)
{
    uint32_t ccsidr, sets, ways, w;
    emb_stm32_dsb_isb();
    SCB_ICIALLU = 0u;
    emb_stm32_dsb_isb();
    SCB_CCR |= 1u << 17; /* IC */
    emb_stm32_dsb_isb();
    SCB_CSSELR = 0u; /* level 1 data cache */
    emb_stm32_dsb_isb();
    ccsidr = SCB_CCSIDR;
    sets = (ccsidr >> 13) & 0x7FFFu;
    ways = (ccsidr >> 3) & 0x3FFu;
    do {
        w = ways;
        do {
            SCB_DCISW = (sets << 5) | (w << 30); /* 32-byte lines, 4 ways */
        } while (w-- != 0u);
    } while (sets-- != 0u);
    emb_stm32_dsb_isb();
    SCB_CCR |= 1u << 16; /* DC */
    emb_stm32_dsb_isb();
}
#endif
