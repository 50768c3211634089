/*
 * Port for ESP32 and ESP32-S3 with ESP-IDF (PlatformIO framework = espidf): UART0 through the
 * board's USB-UART bridge, 115200 8N1, with the IDF UART driver. Ticks: the CPU cycle
 * counter. Stack: the main task's stack, painted by FreeRTOS at creation; the watermark is
 * uxTaskGetStackHighWaterMark (bytes on ESP-IDF). The end of the stack is watched by a
 * debug watchpoint (CONFIG_FREERTOS_WATCHPOINT_END_OF_STACK) instead of an MPU region.
 */
#include "driver/uart.h"
#include "esp_idf_version.h"
#include "esp_system.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "sdkconfig.h"
#if ESP_IDF_VERSION_MAJOR >= 5
#include "esp_cpu.h"
#define EMB_CYCLES() ((uint32_t)esp_cpu_get_cycle_count())
#define EMB_CPU_MHZ CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ
#else
#include "hal/cpu_hal.h"
#define EMB_CYCLES() ((uint32_t)cpu_hal_get_cycle_count())
#define EMB_CPU_MHZ CONFIG_ESP32_DEFAULT_CPU_FREQ_MHZ
#endif

#include "emb_port.h"
#include "emb_proto.h"

#define EMB_UART UART_NUM_0

void emb_port_init(void)
{
    uart_config_t cfg = {0};
    cfg.baud_rate = 115200;
    cfg.data_bits = UART_DATA_8_BITS;
    cfg.parity = UART_PARITY_DISABLE;
    cfg.stop_bits = UART_STOP_BITS_1;
    cfg.flow_ctrl = UART_HW_FLOWCTRL_DISABLE;
#if ESP_IDF_VERSION_MAJOR >= 5
    cfg.source_clk = UART_SCLK_DEFAULT;
#else
    cfg.source_clk = UART_SCLK_APB;
#endif
    ESP_ERROR_CHECK(uart_driver_install(EMB_UART, 2048, 0, 0, NULL, 0));
    ESP_ERROR_CHECK(uart_param_config(EMB_UART, &cfg));
}

void emb_port_info(emb_port_info_t *info)
{
    info->board = EMB_BOARD;
    info->port = "esp32";
    info->clock_hz = (uint32_t)EMB_CPU_MHZ * 1000000u;
    info->tick_scale = 1u;
    info->tick_unit = EMB_TICK_CYCLES;
#ifdef CONFIG_FREERTOS_WATCHPOINT_END_OF_STACK
    info->stack_guard = 1u;
#else
    info->stack_guard = 0u;
#endif
    info->stack_bytes = (uint32_t)CONFIG_ESP_MAIN_TASK_STACK_SIZE;
}

int emb_port_getc(void)
{
    uint8_t byte = 0u;
    while (uart_read_bytes(EMB_UART, &byte, 1u, portMAX_DELAY) != 1) {
    }
    return byte;
}

void emb_port_write(const uint8_t *data, size_t n)
{
    (void)uart_write_bytes(EMB_UART, (const char *)data, n);
}

uint32_t emb_port_ticks(void)
{
    return EMB_CYCLES();
}

uint32_t emb_port_stack_peak(void)
{
    uint32_t free_bytes = (uint32_t)uxTaskGetStackHighWaterMark(NULL);
    uint32_t size = (uint32_t)CONFIG_ESP_MAIN_TASK_STACK_SIZE;
    return free_bytes < size ? size - free_bytes : 0u;
}

void emb_port_shutdown(int code)
{
    (void)code;
    esp_restart();
}

void app_main(void)
{
    (void)emb_harness_main();
}
