/*
 * Host port: the harness on a PC, talking over stdin/stdout (a pipe or a pty). Used to fuzz
 * the protocol under AddressSanitizer/UBSan; ticks are nanoseconds of CLOCK_MONOTONIC.
 */
#define _POSIX_C_SOURCE 199309L
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "emb_port.h"
#include "emb_proto.h"

static unsigned char emb_in[256];
static size_t emb_in_len, emb_in_pos;

void emb_port_init(void) {}

void emb_port_info(emb_port_info_t *info)
{
    info->board = EMB_BOARD;
    info->port = "host";
    info->clock_hz = 0u;
    info->tick_scale = 1u;
    info->tick_unit = EMB_TICK_NANOSECONDS;
    info->stack_guard = 0u;
    info->stack_bytes = 0u;
}

int emb_port_getc(void)
{
    while (emb_in_pos == emb_in_len) {
        ssize_t n = read(0, emb_in, sizeof emb_in);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        emb_in_len = (size_t)n;
        emb_in_pos = 0;
    }
    return emb_in[emb_in_pos++];
}

void emb_port_write(const uint8_t *data, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, data, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return; /* the host went away: nothing left to tell it */
        }
        data += w;
        n -= (size_t)w;
    }
}

uint32_t emb_port_ticks(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

uint32_t emb_port_stack_peak(void)
{
    return 0u; /* the host's stack is not ours to paint */
}

void emb_port_shutdown(int code)
{
    (void)code; /* emb_harness_main returns and main exits */
}

int main(void)
{
    return emb_harness_main();
}
