/*
 * Bare-metal programs (kernel golden tests, kernel micro benchmarks) on the emulated boards,
 * linked with the boards' own port (firmware/ports/qemu_mps2/port.c) and linker script: this
 * file takes the serving harness's place. The port's main() calls emb_harness_main(), which
 * here calibrates the tick against a loop of known length, runs the program's
 * emb_bm_main() and prints its result on the port's UART; the port then ends the emulator
 * with that code (semihosting exit).
 *
 * A program defines int emb_bm_main(void) and may call emb_bm_put (a line to the host) and
 * emb_bm_ticks (port ticks since reset, widened to 64 bits).
 */
#include <stdint.h>
#include <string.h>

#include "emb_port.h"

#define EMB_BM_CALIB_LOOPS 1000000u /* x (subs, bne): 2,000,000 instructions */

int emb_bm_main(void);
void emb_bm_put(const char *s);
uint64_t emb_bm_ticks(void);

void emb_bm_put(const char *s)
{
    emb_port_write((const uint8_t *)s, strlen(s));
}

/* The port's counter wraps at 2^32 ticks; differences of successive reads add up exactly as
 * long as reads are less than one wrap apart, which every call site here is. */
uint64_t emb_bm_ticks(void)
{
    static uint64_t total;
    static uint32_t last;
    const uint32_t now = emb_port_ticks();
    total += (uint32_t)(now - last);
    last = now;
    return total;
}

static void emb_bm_put_u32(const char *label, uint32_t v)
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

int emb_harness_main(void)
{
    uint32_t n = EMB_BM_CALIB_LOOPS;
    emb_port_init();
    const uint64_t t0 = emb_bm_ticks();
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
    emb_bm_put_u32("calib_ticks=", (uint32_t)(emb_bm_ticks() - t0));
    const int code = emb_bm_main();
    emb_bm_put_u32("exit=", (uint32_t)code);
    emb_port_shutdown(code);
    return code;
}
