/*
 * embbert-mcu serial harness: answers HELLO, INFER, STATS, STAGES, SHUTDOWN, ECHO and (with
 * the export's tokenizer) TEXT frames (emb_proto.h) for the exported model bound in
 * emb_model_bind.h. Portable C99, no malloc: every buffer is static and sized from the
 * model's macros.
 */
#include <string.h>

#include "emb_model_bind.h" /* generated: EMB_MODEL_* names for the exported model */
#include "emb_port.h"
#include "emb_proto.h"

#define EMB_MAX2(a, b) ((a) > (b) ? (a) : (b))
#ifndef EMB_MODEL_WINDOWS /* a model that reads the first max_len ids of a text */
#define EMB_MODEL_WINDOWS 1u
#define EMB_MODEL_TEXT_IDS EMB_MODEL_MAX_LEN
#endif
#define EMB_STR_MAX 64u        /* longest string field of HELLO */
#define EMB_STAGE_NAME_MAX 24u /* longest stage name sent by STAGES */
#ifdef EMB_MODEL_TOKENIZE
#ifndef EMB_TEXT_MAX
#define EMB_TEXT_MAX (8u * EMB_MODEL_MAX_LEN) /* bytes of UTF-8 a TEXT request may carry */
#endif
#else
#define EMB_TEXT_MAX 0u
#endif
/* Payload sizes (layouts in emb_contract.h). */
#define EMB_STR_SIZE(max) (EMB_STR_BYTES + (max))
#define EMB_LOGITS_SIZE (EMB_LOGIT_BYTES * EMB_MODEL_N_CLASSES)
#define EMB_HELLO_SIZE (EMB_HELLO_BYTES + EMB_HELLO_STRINGS * EMB_STR_SIZE(EMB_STR_MAX))
#define EMB_INFER_REQ_SIZE (EMB_INFER_REQ_BYTES + EMB_TOKEN_BYTES * EMB_MODEL_MAX_LEN)
#define EMB_INFER_SIZE (EMB_INFER_BYTES + EMB_LOGITS_SIZE)
#define EMB_TEXT_SIZE (EMB_TEXT_BYTES + EMB_LOGITS_SIZE + EMB_TOKEN_BYTES * EMB_MODEL_TEXT_IDS)
#define EMB_STAGES_SIZE                                                                            \
    (EMB_STAGES_BYTES + EMB_MODEL_N_STAGES * (EMB_STAGE_BYTES + EMB_STR_SIZE(EMB_STAGE_NAME_MAX)))
/* Requests: an INFER of max_len ids or a TEXT of EMB_TEXT_MAX bytes is the largest; 64
 * bytes at least for ECHO tests. */
#define EMB_RX_PAYLOAD_MAX EMB_MAX2(EMB_MAX2(EMB_INFER_REQ_SIZE, 64u), EMB_TEXT_MAX)
#define EMB_TX_PAYLOAD_MAX                                                                         \
    EMB_MAX2(EMB_MAX2(EMB_MAX2(EMB_RX_PAYLOAD_MAX, EMB_HELLO_SIZE), EMB_TEXT_SIZE),                \
             EMB_MAX2(EMB_INFER_SIZE, EMB_STAGES_SIZE))

/* The receive buffer doubles as the token buffer: ids are decoded in place (see infer). */
static union {
    uint8_t bytes[EMB_RX_PAYLOAD_MAX + EMB_PROTO_OVERHEAD];
    uint16_t words[(EMB_RX_PAYLOAD_MAX + EMB_PROTO_OVERHEAD) / 2u + 1u];
} emb_rx;
/* The transmit buffer doubles as a TEXT request's id buffer: the tokenizer writes the ids
 * where the reply carries them, and each is rewritten little-endian in place (see text). */
static union {
    uint8_t bytes[EMB_TX_PAYLOAD_MAX + EMB_PROTO_OVERHEAD];
    uint16_t words[(EMB_TX_PAYLOAD_MAX + EMB_PROTO_OVERHEAD) / 2u + 1u];
} emb_tx;
static union {
    uint64_t align; /* the model wants an 8-byte aligned arena */
    uint8_t bytes[EMB_MODEL_ARENA_BYTES];
} emb_arena;
static float emb_logits[EMB_MODEL_N_CLASSES];
#ifdef EMB_MODEL_TOKENIZE
#define EMB_TEXT_IDS_AT (EMB_PROTO_HEADER_BYTES + EMB_TEXT_BYTES + EMB_LOGITS_SIZE)
EMB_STATIC_ASSERT(EMB_TEXT_IDS_AT % 2u == 0u, text_ids_aligned);
#define emb_text_ids (&emb_tx.words[EMB_TEXT_IDS_AT / 2u]) /* EMB_MODEL_TEXT_IDS of them */
#endif

typedef struct {
    uint64_t stage_ticks[EMB_MODEL_N_STAGES]; /* of the last inference */
    uint64_t elapsed;                         /* ticks of the last inference */
    uint32_t last_tick;
    unsigned stage; /* running stage; EMB_MODEL_N_STAGES before the first hook call */
    uint32_t n_infer, n_errors, n_dropped, stack_peak;
    size_t fill; /* bytes in emb_rx */
} emb_state_t;
static emb_state_t emb_st;

#define EMB_STATIC_BYTES                                                                           \
    ((uint32_t)(sizeof emb_rx + sizeof emb_tx + sizeof emb_logits + sizeof emb_st))

static void emb_send(uint8_t type, uint8_t seq, size_t len)
{
    emb_port_write(emb_tx.bytes, emb_proto_seal(emb_tx.bytes, type, seq, (uint16_t)len));
}

static void emb_send_error(uint8_t seq, uint8_t code, uint8_t detail, uint8_t type)
{
    uint8_t *p = emb_tx.bytes + EMB_PROTO_HEADER_BYTES;
    p[EMB_ERROR_CODE] = code;
    p[EMB_ERROR_DETAIL] = detail;
    p[EMB_ERROR_REQUEST_TYPE] = type;
    emb_st.n_errors++;
    emb_send(EMB_MSG_ERROR, seq, EMB_ERROR_BYTES);
}

static size_t emb_put_str(uint8_t *p, const char *s, size_t max)
{
    size_t n = strlen(s);
    n = n > max ? max : n;
    p[EMB_STR_LEN] = (uint8_t)n;
    memcpy(p + EMB_STR_BYTES, s, n);
    return EMB_STR_BYTES + n;
}

static void emb_hello(uint8_t seq)
{
    emb_port_info_t info;
    uint8_t *p = emb_tx.bytes + EMB_PROTO_HEADER_BYTES;
    size_t n = EMB_HELLO_BYTES;

    emb_port_info(&info);
    emb_put_u16(p + EMB_HELLO_PROTO_VERSION, (uint16_t)EMB_PROTO_VERSION);
    emb_put_u16(p + EMB_HELLO_MAX_LEN, (uint16_t)EMB_MODEL_MAX_LEN);
    emb_put_u16(p + EMB_HELLO_N_CLASSES, (uint16_t)EMB_MODEL_N_CLASSES);
    emb_put_u16(p + EMB_HELLO_N_STAGES, (uint16_t)EMB_MODEL_N_STAGES);
    emb_put_u32(p + EMB_HELLO_ARENA_BYTES, (uint32_t)EMB_MODEL_ARENA_BYTES);
    emb_put_u32(p + EMB_HELLO_VOCAB_SIZE, (uint32_t)EMB_MODEL_VOCAB_SIZE);
    emb_put_u32(p + EMB_HELLO_CLOCK_HZ, info.clock_hz);
    emb_put_u32(p + EMB_HELLO_TICK_SCALE, info.tick_scale);
    emb_put_u32(p + EMB_HELLO_STACK_BYTES, info.stack_bytes);
    emb_put_u32(p + EMB_HELLO_MAX_PAYLOAD, (uint32_t)EMB_RX_PAYLOAD_MAX);
    emb_put_u32(p + EMB_HELLO_STATIC_BYTES, EMB_STATIC_BYTES);
    p[EMB_HELLO_TICK_UNIT] = info.tick_unit;
    p[EMB_HELLO_STACK_GUARD] = info.stack_guard;
    n += emb_put_str(p + n, info.board, EMB_STR_MAX);
    n += emb_put_str(p + n, info.port, EMB_STR_MAX);
    n += emb_put_str(p + n, EMB_MODEL_SHA256, EMB_STR_MAX);
    n += emb_put_str(p + n, EMB_MODEL_PREFIX, EMB_STR_MAX);
    emb_send(EMB_MSG_HELLO | EMB_PROTO_REPLY, seq, n);
}

/* Called by the model at the start of each stage and with n_stages at the end: each
 * interval is charged to the stage that ran in it. */
static void emb_stage_hook(void *ctx, unsigned stage)
{
    uint32_t now = emb_port_ticks();
    uint32_t delta = now - emb_st.last_tick; /* unsigned: correct across one wrap */
    (void)ctx;
    if (emb_st.stage < EMB_MODEL_N_STAGES) {
        emb_st.stage_ticks[emb_st.stage] += delta;
    }
    emb_st.elapsed += delta;
    emb_st.last_tick = now;
    emb_st.stage = stage;
}

/* Run the model on ids[0..n), timing each stage; the logits land in emb_logits. */
static emb_status_t emb_run_model(const uint16_t *ids, size_t n)
{
    emb_status_t status;
    memset(emb_st.stage_ticks, 0, sizeof emb_st.stage_ticks);
    emb_st.elapsed = 0u;
    emb_st.stage = EMB_MODEL_N_STAGES;
    emb_st.last_tick = emb_port_ticks();
    status = EMB_MODEL_RUN(emb_arena.bytes, sizeof emb_arena.bytes, ids, n, emb_logits,
                           emb_stage_hook, NULL);
    emb_stage_hook(NULL, EMB_MODEL_N_STAGES); /* the tail after the last stage */
    return status;
}

static void emb_infer(const emb_frame_t *f)
{
    uint8_t *p = emb_tx.bytes + EMB_PROTO_HEADER_BYTES;
    size_t i, n;
    emb_status_t status;
    uint32_t peak;

    n = f->len >= EMB_INFER_REQ_BYTES ? emb_get_u16(f->payload + EMB_INFER_REQ_N) : 0u;
    if (f->len < EMB_INFER_REQ_BYTES || f->len != EMB_INFER_REQ_BYTES + EMB_TOKEN_BYTES * n) {
        emb_send_error(f->seq, EMB_PE_LENGTH, 0u, f->type);
        return;
    }
    /* In place: word i (bytes 2i..2i+1) is written after the bytes it is read from
     * (8 + 2i..) and before any later id is read, so nothing is clobbered. */
    for (i = 0; i < n; ++i) {
        emb_rx.words[i] = emb_get_u16(f->payload + EMB_INFER_REQ_BYTES + EMB_TOKEN_BYTES * i);
    }
    status = emb_run_model(emb_rx.words, n);
    peak = emb_port_stack_peak();
    emb_st.stack_peak = peak > emb_st.stack_peak ? peak : emb_st.stack_peak;
    if (status != EMB_OK) {
        emb_send_error(f->seq, EMB_PE_MODEL, (uint8_t)status, f->type);
        return;
    }
    emb_st.n_infer++;
    emb_put_u16(p + EMB_INFER_N, (uint16_t)n);
    emb_put_u16(p + EMB_INFER_N_CLASSES, (uint16_t)EMB_MODEL_N_CLASSES);
    emb_put_u64(p + EMB_INFER_TICKS, emb_st.elapsed);
    for (i = 0; i < EMB_MODEL_N_CLASSES; ++i) {
        emb_put_f32(p + EMB_INFER_BYTES + EMB_LOGIT_BYTES * i, emb_logits[i]);
    }
    emb_send(EMB_MSG_INFER | EMB_PROTO_REPLY, f->seq, EMB_INFER_SIZE);
}

#ifdef EMB_MODEL_TOKENIZE
#if EMB_MODEL_WINDOWS > 1
/* A text of n > max_len ids as the export's API reads it: up to EMB_MODEL_WINDOWS windows
 * of [CLS] and max_len - 1 tokens, one every EMB_MODEL_WINDOW_STRIDE tokens, a window only
 * if the one before did not reach the end; emb_logits = the windows' logits summed in order,
 * divided by their count. Each window runs in place: the id before it is swapped for [CLS]
 * and back. Ticks (elapsed and per stage) are the windows' sums. */
static emb_status_t emb_run_windows(size_t n)
{
    const size_t span = EMB_MODEL_MAX_LEN - 1u, step = EMB_MODEL_WINDOW_STRIDE;
    float sum[EMB_MODEL_N_CLASSES] = {0.0f};
    uint64_t stages[EMB_MODEL_N_STAGES] = {0u}, elapsed = 0u;
    size_t k, j, take, count = 0u;
    emb_status_t status = EMB_OK;
    uint16_t kept;
    if (n <= EMB_MODEL_MAX_LEN) {
        return emb_run_model(emb_text_ids, n);
    }
    for (k = 0u; k < EMB_MODEL_WINDOWS && status == EMB_OK; k++) {
        if (k > 0u && (k - 1u) * step + span >= n - 1u) {
            break;
        }
        take = n - 1u - k * step;
        take = take < span ? take : span;
        kept = emb_text_ids[k * step];
        emb_text_ids[k * step] = emb_text_ids[0];
        status = emb_run_model(&emb_text_ids[k * step], take + 1u);
        emb_text_ids[k * step] = kept;
        for (j = 0u; j < EMB_MODEL_N_CLASSES; j++) {
            sum[j] += emb_logits[j];
        }
        for (j = 0u; j < EMB_MODEL_N_STAGES; j++) {
            stages[j] += emb_st.stage_ticks[j];
        }
        elapsed += emb_st.elapsed;
        count++;
    }
    for (j = 0u; j < EMB_MODEL_N_CLASSES; j++) {
        emb_logits[j] = sum[j] / (float)count;
    }
    memcpy(emb_st.stage_ticks, stages, sizeof stages);
    emb_st.elapsed = elapsed;
    return status;
}
#else
#define emb_run_windows(n) emb_run_model(emb_text_ids, (n))
#endif

/* TEXT: tokenize the payload (UTF-8) on the device, then run the model on those ids (as
 * windows, for a model that reads a long text so). */
static void emb_text(const emb_frame_t *f)
{
    uint8_t *p = emb_tx.bytes + EMB_PROTO_HEADER_BYTES;
    size_t i, n = 0u;
    emb_status_t status;
    uint32_t start, peak;

    start = emb_port_ticks();
    status =
        EMB_MODEL_TOKENIZE((const char *)f->payload, f->len, emb_text_ids, EMB_MODEL_TEXT_IDS, &n);
    emb_put_u64(p + EMB_TEXT_TOKENIZER_TICKS, (uint64_t)(uint32_t)(emb_port_ticks() - start));
    if (status == EMB_OK) {
        status = emb_run_windows(n);
    }
    peak = emb_port_stack_peak();
    emb_st.stack_peak = peak > emb_st.stack_peak ? peak : emb_st.stack_peak;
    if (status != EMB_OK) {
        emb_send_error(f->seq, EMB_PE_MODEL, (uint8_t)status, f->type);
        return;
    }
    emb_st.n_infer++;
    emb_put_u16(p + EMB_TEXT_N, (uint16_t)n);
    emb_put_u16(p + EMB_TEXT_N_CLASSES, (uint16_t)EMB_MODEL_N_CLASSES);
    emb_put_u64(p + EMB_TEXT_TICKS, emb_st.elapsed);
    for (i = 0; i < EMB_MODEL_N_CLASSES; ++i) {
        emb_put_f32(p + EMB_TEXT_BYTES + EMB_LOGIT_BYTES * i, emb_logits[i]);
    }
    for (i = 0; i < n; ++i) { /* in place: id i is read before its own two bytes are written */
        emb_put_u16(p + EMB_TEXT_BYTES + EMB_LOGITS_SIZE + EMB_TOKEN_BYTES * i, emb_text_ids[i]);
    }
    emb_send(EMB_MSG_TEXT | EMB_PROTO_REPLY, f->seq,
             EMB_TEXT_BYTES + EMB_LOGITS_SIZE + EMB_TOKEN_BYTES * n);
}
#endif

static void emb_stats(uint8_t seq)
{
    emb_port_info_t info;
    uint8_t *p = emb_tx.bytes + EMB_PROTO_HEADER_BYTES;
    uint32_t peak = emb_port_stack_peak();

    emb_port_info(&info);
    emb_st.stack_peak = peak > emb_st.stack_peak ? peak : emb_st.stack_peak;
    emb_put_u32(p + EMB_STATS_STACK_PEAK_BYTES, emb_st.stack_peak);
    emb_put_u32(p + EMB_STATS_STACK_BYTES, info.stack_bytes);
    emb_put_u32(p + EMB_STATS_ARENA_BYTES, (uint32_t)EMB_MODEL_ARENA_BYTES);
    emb_put_u32(p + EMB_STATS_STATIC_BYTES, EMB_STATIC_BYTES);
    emb_put_u32(p + EMB_STATS_N_INFER, emb_st.n_infer);
    emb_put_u32(p + EMB_STATS_N_ERRORS, emb_st.n_errors);
    emb_put_u32(p + EMB_STATS_N_DROPPED, emb_st.n_dropped);
    emb_send(EMB_MSG_STATS | EMB_PROTO_REPLY, seq, EMB_STATS_BYTES);
}

static void emb_stages(uint8_t seq)
{
    uint8_t *p = emb_tx.bytes + EMB_PROTO_HEADER_BYTES;
    size_t n = EMB_STAGES_BYTES;
    unsigned s;

    emb_put_u16(p + EMB_STAGES_COUNT, (uint16_t)EMB_MODEL_N_STAGES);
    for (s = 0; s < EMB_MODEL_N_STAGES; ++s) {
        emb_put_u64(p + n + EMB_STAGE_TICKS, emb_st.stage_ticks[s]);
        n += EMB_STAGE_BYTES;
        n += emb_put_str(p + n, EMB_MODEL_STAGE_NAMES[s], EMB_STAGE_NAME_MAX);
    }
    emb_send(EMB_MSG_STAGES | EMB_PROTO_REPLY, seq, n);
}

/* Returns 1 when the host asked to stop. */
static int emb_dispatch(const emb_frame_t *f)
{
    switch (f->type) {
    case EMB_MSG_HELLO:
        emb_hello(f->seq);
        return 0;
    case EMB_MSG_INFER:
        emb_infer(f);
        return 0;
    case EMB_MSG_STATS:
        emb_stats(f->seq);
        return 0;
    case EMB_MSG_STAGES:
        emb_stages(f->seq);
        return 0;
#ifdef EMB_MODEL_TOKENIZE
    case EMB_MSG_TEXT:
        emb_text(f);
        return 0;
#endif
    case EMB_MSG_ECHO:
        memmove(emb_tx.bytes + EMB_PROTO_HEADER_BYTES, f->payload, f->len);
        emb_send(EMB_MSG_ECHO | EMB_PROTO_REPLY, f->seq, f->len);
        return 0;
    case EMB_MSG_SHUTDOWN:
        emb_send(EMB_MSG_SHUTDOWN | EMB_PROTO_REPLY, f->seq, 0u);
        return 1;
    default:
        emb_send_error(f->seq, EMB_PE_TYPE, 0u, f->type);
        return 0;
    }
}

static void emb_drop(size_t n)
{
    memmove(emb_rx.bytes, emb_rx.bytes + n, emb_st.fill - n);
    emb_st.fill -= n;
}

/* Scan the buffer until it needs more bytes; returns 1 on SHUTDOWN. */
static int emb_drain(void)
{
    emb_frame_t f;
    size_t used;
    for (;;) {
        switch (emb_proto_scan(emb_rx.bytes, emb_st.fill, EMB_RX_PAYLOAD_MAX, &f, &used)) {
        case EMB_SCAN_NEED_MORE:
            return 0;
        case EMB_SCAN_SKIP:
            emb_st.n_dropped += (uint32_t)used;
            break;
        case EMB_SCAN_ERROR:
            emb_send_error(f.seq, f.error, 0u, f.type);
            break;
        default: /* EMB_SCAN_FRAME */
            if (emb_dispatch(&f)) {
                return 1;
            }
            break;
        }
        emb_drop(used);
    }
}

int emb_harness_main(void)
{
    emb_port_init();
    emb_st.stage = EMB_MODEL_N_STAGES;
    for (;;) {
        int c = emb_port_getc();
        if (c < 0) {
            return 0; /* link closed (host build) */
        }
        emb_rx.bytes[emb_st.fill++] = (uint8_t)c;
        if (emb_drain()) {
            emb_port_shutdown(0);
            return 0;
        }
    }
}
