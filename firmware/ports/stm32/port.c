/*
 * Port for STM32 Nucleo boards with STM32Cube HAL (PlatformIO framework = stm32cube).
 * The link to the host is the ST-Link virtual COM port: USART3 on PD8/PD9 (Nucleo-H743ZI,
 * -DEMB_STM32_H7) or USART2 on PA2/PA3 (Nucleo-F446RE, -DEMB_STM32_F4), 115200 8N1.
 * Ticks: the DWT cycle counter. The core runs at the clock the HAL leaves after reset
 * (SystemCoreClock, reported in HELLO): cycles do not depend on it, microseconds do.
 */
#include "emb_port.h"
#include "emb_proto.h"

#if defined(EMB_STM32_H7)
#include "stm32h7xx_hal.h"
#define EMB_USART USART3
#define EMB_GPIO GPIOD
#define EMB_PINS (GPIO_PIN_8 | GPIO_PIN_9)
#define EMB_AF GPIO_AF7_USART3
#define EMB_CLOCKS_ON() do { __HAL_RCC_GPIOD_CLK_ENABLE(); __HAL_RCC_USART3_CLK_ENABLE(); } while (0)
#elif defined(EMB_STM32_F4)
#include "stm32f4xx_hal.h"
#define EMB_USART USART2
#define EMB_GPIO GPIOA
#define EMB_PINS (GPIO_PIN_2 | GPIO_PIN_3)
#define EMB_AF GPIO_AF7_USART2
#define EMB_CLOCKS_ON() do { __HAL_RCC_GPIOA_CLK_ENABLE(); __HAL_RCC_USART2_CLK_ENABLE(); } while (0)
#else
#error "define EMB_STM32_H7 or EMB_STM32_F4 (set by boards/<board>.json)"
#endif

#define EMB_STACK_PAINT 0xC5C5C5C5u
#define EMB_GUARD_BYTES 256u

extern uint32_t _ebss[], _estack[]; /* STM32Cube linker scripts: end of .bss, top of stack */

static UART_HandleTypeDef emb_uart;
static uint32_t *emb_stack_floor; /* lowest painted word (above the guard) */
static uint8_t emb_guarded;

void SysTick_Handler(void)
{
    HAL_IncTick(); /* HAL timeouts count on it */
}

void MemManage_Handler(void)
{
    NVIC_SystemReset(); /* stack guard hit: restart rather than run on corrupted memory */
}

/* Paint between .bss and the live stack; guard the lowest 256 bytes with the MPU when
 * stack and .bss share a RAM region (they do in the Cube linker scripts). */
static void emb_stack_setup(void)
{
    uintptr_t lo = ((uintptr_t)_ebss + EMB_GUARD_BYTES - 1u) & ~(uintptr_t)(EMB_GUARD_BYTES - 1u);
    uintptr_t sp = __get_MSP();
    volatile uint32_t *p;

    if ((((uintptr_t)_estack ^ lo) >> 20) != 0u || lo + 2u * EMB_GUARD_BYTES >= sp) {
        return; /* different regions: no watermark, no guard */
    }
    emb_stack_floor = (uint32_t *)(lo + EMB_GUARD_BYTES);
    for (p = emb_stack_floor; (uintptr_t)p < sp - 64u; ++p) {
        *p = EMB_STACK_PAINT;
    }
    MPU->RNR = 0u;
    MPU->RBAR = (uint32_t)lo;
    MPU->RASR = MPU_RASR_XN_Msk | (7u << MPU_RASR_SIZE_Pos) | MPU_RASR_ENABLE_Msk; /* 256 B, AP=0 */
    MPU->CTRL = MPU_CTRL_PRIVDEFENA_Msk | MPU_CTRL_ENABLE_Msk;
    SCB->SHCSR |= SCB_SHCSR_MEMFAULTENA_Msk;
    __DSB();
    __ISB();
    emb_guarded = 1u;
}

void emb_port_init(void)
{
    GPIO_InitTypeDef gpio = {0};

    HAL_Init();
    CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
#if defined(EMB_STM32_H7)
    DWT->LAR = 0xC5ACCE55u; /* the M7's DWT is locked after reset */
#endif
    DWT->CYCCNT = 0u;
    DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;

    EMB_CLOCKS_ON();
    gpio.Pin = EMB_PINS;
    gpio.Mode = GPIO_MODE_AF_PP;
    gpio.Pull = GPIO_PULLUP;
    gpio.Speed = GPIO_SPEED_FREQ_HIGH;
    gpio.Alternate = EMB_AF;
    HAL_GPIO_Init(EMB_GPIO, &gpio);

    emb_uart.Instance = EMB_USART;
    emb_uart.Init.BaudRate = 115200u;
    emb_uart.Init.WordLength = UART_WORDLENGTH_8B;
    emb_uart.Init.StopBits = UART_STOPBITS_1;
    emb_uart.Init.Parity = UART_PARITY_NONE;
    emb_uart.Init.Mode = UART_MODE_TX_RX;
    emb_uart.Init.HwFlowCtl = UART_HWCONTROL_NONE;
    emb_uart.Init.OverSampling = UART_OVERSAMPLING_16;
    (void)HAL_UART_Init(&emb_uart);
    emb_stack_setup();
}

void emb_port_info(emb_port_info_t *info)
{
    info->board = EMB_BOARD;
    info->port = "stm32";
    info->clock_hz = SystemCoreClock;
    info->tick_scale = 1u;
    info->tick_unit = EMB_TICK_CYCLES;
    info->stack_guard = emb_guarded;
    info->stack_bytes = emb_stack_floor
                            ? (uint32_t)((uintptr_t)_estack - (uintptr_t)emb_stack_floor)
                            : 0u;
}

int emb_port_getc(void)
{
    uint8_t byte = 0u;
    for (;;) {
        if (__HAL_UART_GET_FLAG(&emb_uart, UART_FLAG_ORE)) {
            __HAL_UART_CLEAR_OREFLAG(&emb_uart); /* a lost byte fails the CRC; the host retries */
        }
        if (HAL_UART_Receive(&emb_uart, &byte, 1u, HAL_MAX_DELAY) == HAL_OK) {
            return byte;
        }
    }
}

void emb_port_write(const uint8_t *data, size_t n)
{
    while (n > 0u) {
        uint16_t chunk = (uint16_t)(n > 0xFFFFu ? 0xFFFFu : n);
        (void)HAL_UART_Transmit(&emb_uart, (uint8_t *)(uintptr_t)data, chunk, HAL_MAX_DELAY);
        data += chunk;
        n -= chunk;
    }
}

uint32_t emb_port_ticks(void)
{
    return DWT->CYCCNT;
}

uint32_t emb_port_stack_peak(void)
{
    const uint32_t *p = emb_stack_floor;
    if (p == NULL) {
        return 0u;
    }
    while (p < _estack && *p == EMB_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)_estack - (uintptr_t)p);
}

void emb_port_shutdown(int code)
{
    (void)code;
    NVIC_SystemReset();
}

int main(void)
{
    (void)emb_harness_main();
    for (;;) {
    }
}
