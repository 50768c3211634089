/*
 * What the STM32 port's files share (port.c: serial line, ticks, the port API;
 * emb_stm32_clock.c: clock tree and caches; emb_stm32_startup.c: reset, heap, faults,
 * vectors): the registers they touch, named from the reference manuals (RM0390 for the
 * STM32F446, RM0433 for the STM32H743; no vendor HAL, no CMSIS headers), and the few
 * functions one file calls in another.
 */
#ifndef EMB_STM32_H
#define EMB_STM32_H

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

extern const char *emb_stm32_clock_note; /* why the board is not on its nominal clock */
extern uint8_t emb_stm32_uart_ready;     /* the fault report may use the serial line */

static inline void emb_stm32_dsb_isb(void)
{
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}

/* emb_stm32_clock.c */
void emb_stm32_cache_setup(void);
void emb_stm32_clock_setup(void);
uint32_t emb_stm32_hclk_hz(void);       /* the core's clock, read back from RCC */
uint32_t emb_stm32_uart_clock_hz(void); /* the clock of the link's USART */
void emb_stm32_uart_clocks_on(void);

/* port.c */
void emb_stm32_say(const char *s); /* a string on the serial line, busy-waiting */
void emb_systick_isr(void);
void emb_uart_isr(void);

#endif /* EMB_STM32_H */
