/*
 * embbert-mcu port layer: the only per-target C. One firmware/ports/<port>/port.c implements
 * every function below and the target's entry point (main, app_main), which calls
 * emb_harness_main().
 */
#ifndef EMB_PORT_H
#define EMB_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifndef EMB_BOARD
#define EMB_BOARD "unknown" /* the build passes -DEMB_BOARD="\"<board id>\"" */
#endif

typedef struct {
    const char *board;    /* board id of boards/<id>.json */
    const char *port;     /* port name: qemu_mps2, stm32, esp32, host */
    uint32_t clock_hz;    /* core clock the tick source runs from (0 if not a clock) */
    uint32_t tick_scale;  /* one tick = tick_scale units of tick_unit */
    uint8_t tick_unit;    /* EMB_TICK_CYCLES, EMB_TICK_INSTRUCTIONS or EMB_TICK_NANOSECONDS */
    uint8_t stack_guard;  /* 1 when an MPU no-access region sits below the stack */
    uint32_t stack_bytes; /* size of the stack region the watermark covers (0 if unknown) */
} emb_port_info_t;

/* Clocks, UART, tick source; paint the stack and arm the stack guard where the core has one. */
void emb_port_init(void);

/* Fill in the facts above. */
void emb_port_info(emb_port_info_t *info);

/* Next byte from the host, blocking (sleeping where the core can); -1 when the link is
 * closed for good. */
int emb_port_getc(void);

/* Send n bytes to the host, blocking until they are queued. */
void emb_port_write(const uint8_t *data, size_t n);

/* A free-running tick counter (wraps at 2^32); only differences are used, each shorter
 * than one wrap. */
uint32_t emb_port_ticks(void);

/* Peak stack bytes used since reset, from the painted watermark (0 if the port cannot tell). */
uint32_t emb_port_stack_peak(void);

/* Stop serving: the emulator exits with `code`, a board resets, the host build returns. */
void emb_port_shutdown(int code);

/* The serving loop (firmware/harness/emb_harness.c): init, then answer frames until the
 * link closes; returns 0 then. */
int emb_harness_main(void);

#endif /* EMB_PORT_H */
