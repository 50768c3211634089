/*
 * Golden test of the integer kernels: every optimized twin (emb_quantize_row_q8, emb_linear_q8,
 * emb_attn_scores_q8, emb_attn_wsum_q8) against its reference (_ref), bit for bit, on seeded random
 * and edge inputs (all -127, all 127, alternating, zero blocks, zero rows, odd lengths, rows % 4 !=
 * 0). Inputs from xorshift32 seeded 0x9E3779B9 (provenance: this file). Prints one line per kernel
 * "<kernel> cases=N failed=M ref_hash=H opt_hash=H" (FNV-1a of the outputs' bytes: the same on
 * every target, the host included) and "first_failure=<case>" when one fails.
 * Built for the host (-DEMB_GOLDEN_HOST) and bare metal (embbert_mcu/device/semihost.py).
 */
#include "emb_quant.h"

#define MAX_ROWS 128u
#define MAX_COLS 160u
#define MAX_N 256u
#define MAX_D 128u
#define SENTINEL 0x5A5A5A5Au

static void put(const char *s);

static uint32_t rng = 0x9E3779B9u;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static int8_t rnd_i8(void)
{
    return (int8_t)((int32_t)(rnd() % 255u) - 127);
}

/* fp16 bits of a number of magnitude 2^-10 .. 2^-2 (1 in 16 subnormal), random sign. */
static uint16_t rnd_f16(void)
{
    const uint32_t e = rnd() % 16u == 0u ? 0u : 5u + rnd() % 9u;
    const uint32_t m = (rnd() & 0x3FFu) | (e == 0u), s = rnd() & 1u;
    return (uint16_t)((s << 15) | (e << 10) | m);
}

/* fill modes of int8 data: random, all 127, all -127, zeros, alternating, half zero */
enum { FILL_RANDOM, FILL_MAX, FILL_MIN, FILL_ZERO, FILL_ALT, FILL_SPARSE, N_FILLS };

static void fill_i8(int8_t *v, uint32_t n, int mode)
{
    for (uint32_t i = 0; i < n; ++i) {
        switch (mode) {
        case FILL_MAX:
            v[i] = 127;
            break;
        case FILL_MIN:
            v[i] = -127;
            break;
        case FILL_ZERO:
            v[i] = 0;
            break;
        case FILL_ALT:
            v[i] = (i & 1u) ? -127 : 127;
            break;
        case FILL_SPARSE:
            v[i] = (rnd() & 1u) ? rnd_i8() : 0;
            break;
        default:
            v[i] = rnd_i8();
            break;
        }
    }
}

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; ++i) {
        h = (h ^ b[i]) * 16777619u;
    }
    return h;
}

static void put_hex(char *dst, uint32_t v)
{
    for (int i = 7; i >= 0; --i, v >>= 4) {
        dst[i] = "0123456789abcdef"[v & 15u];
    }
    dst[8] = '\0';
}

static char *put_dec(char *dst, uint32_t v)
{
    char tmp[12];
    unsigned k = 0;
    do {
        tmp[k++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    while (k > 0u) {
        *dst++ = tmp[--k];
    }
    *dst = '\0';
    return dst;
}

static char *append(char *dst, const char *s)
{
    while (*s != '\0') {
        *dst++ = *s++;
    }
    *dst = '\0';
    return dst;
}

typedef struct {
    const char *name;
    uint32_t cases, failed, ref_hash, opt_hash, first_failure;
} tally_t;

static void record(tally_t *t, int same, const void *ref, const void *opt, size_t n)
{
    if (!same && t->failed++ == 0u) {
        t->first_failure = t->cases;
    }
    t->ref_hash = fnv(t->ref_hash, ref, n);
    t->opt_hash = fnv(t->opt_hash, opt, n);
    ++t->cases;
}

static void report(const tally_t *t)
{
    char line[160], *p = line;
    p = append(p, t->name);
    p = append(p, " cases=");
    p = put_dec(p, t->cases);
    p = append(p, " failed=");
    p = put_dec(p, t->failed);
    p = append(p, " ref_hash=");
    put_hex(p, t->ref_hash);
    p += 8;
    p = append(p, " opt_hash=");
    put_hex(p, t->opt_hash);
    p += 8;
    if (t->failed != 0u) {
        p = append(p, " first_failure=");
        p = put_dec(p, t->first_failure);
    }
    append(p, "\n");
    put(line);
}

/* ---- emb_linear_q8 ---- */

static emb_block_q8_t blocks[MAX_ROWS * MAX_COLS / EMB_QBLOCK];
static uint16_t f16v[MAX_ROWS * MAX_COLS];
static float f32v[MAX_ROWS * MAX_COLS];
static uint8_t mask[MAX_ROWS * MAX_COLS / EMB_QBLOCK / 8u + 1u];
static int8_t xq[MAX_COLS];
static float bias[MAX_ROWS];
static float y_ref[MAX_ROWS + 1u], y_opt[MAX_ROWS + 1u];

/* A tensor of rows x cols in `encoding`; fill picks the int8 contents, mask_mode the fp16
 * blocks of a mixed tensor (0 random quarter, 1 none, 2 all). */
static emb_qtensor_t make_tensor(uint8_t encoding, uint32_t rows, uint32_t cols, int fill,
                                 int mask_mode)
{
    const uint32_t n = rows * cols, n_blocks = n / EMB_QBLOCK;
    emb_qtensor_t w = {encoding, rows, cols, NULL, NULL, NULL, NULL};
    uint32_t n_q8 = 0, n_f16 = 0;
    memset(mask, 0, sizeof mask);
    for (uint32_t b = 0; b < n_blocks; ++b) {
        int is_f16 = 0;
        if (encoding == EMB_QT_MIXED) {
            is_f16 = mask_mode == 2 || (mask_mode == 0 && rnd() % 4u == 0u);
        }
        if (is_f16) {
            mask[b >> 3] = (uint8_t)(mask[b >> 3] | (1u << (b & 7u)));
            for (uint32_t i = 0; i < EMB_QBLOCK; ++i) {
                f16v[n_f16++] = rnd_f16();
            }
            continue;
        }
        emb_block_q8_t *blk = &blocks[n_q8++];
        fill_i8(blk->qs, EMB_QBLOCK, fill);
        blk->d = (fill == FILL_ZERO || rnd() % 8u == 0u) ? 0u : rnd_f16(); /* zero blocks */
        if (blk->d == 0u && fill == FILL_SPARSE && rnd() % 2u == 0u) {
            blk->d = rnd() % 2u == 0u ? 0x8000u : 0u; /* a zero scale (+0 or -0) over codes */
        } else if (blk->d == 0u) {
            memset(blk->qs, 0, EMB_QBLOCK);
        }
    }
    switch (encoding) {
    case EMB_QT_Q8:
        w.blocks = blocks;
        break;
    case EMB_QT_MIXED:
        w.blocks = n_q8 != 0u ? blocks : NULL;
        w.f16 = n_f16 != 0u ? f16v : NULL;
        w.mask = mask;
        break;
    case EMB_QT_F16:
        for (uint32_t i = 0; i < n; ++i) {
            f16v[i] = rnd_f16();
        }
        w.f16 = f16v;
        break;
    default:
        for (uint32_t i = 0; i < n; ++i) {
            f32v[i] = (float)((int32_t)(rnd() % 2001u) - 1000) * 1e-4f;
        }
        w.f32 = f32v;
        break;
    }
    return w;
}

static void linear_case(tally_t *t, uint8_t encoding, uint32_t rows, uint32_t cols, int fill,
                        int mask_mode, int with_bias)
{
    const emb_qtensor_t w = make_tensor(encoding, rows, cols, fill, mask_mode);
    fill_i8(xq, cols, (fill + (int)(rnd() % 3u)) % N_FILLS);
    const float xs = fill == FILL_ZERO ? 0.0f : (float)(1u + rnd() % 1000u) * 1e-4f;
    for (uint32_t r = 0; r < rows; ++r) {
        bias[r] = (float)((int32_t)(rnd() % 201u) - 100) * 1e-3f;
    }
    for (uint32_t r = 0; r <= rows; ++r) {
        memcpy(&y_ref[r], &(uint32_t){SENTINEL}, 4);
        memcpy(&y_opt[r], &(uint32_t){SENTINEL}, 4);
    }
    const float *b = with_bias ? bias : NULL;
    const emb_status_t s_ref = emb_linear_q8_ref(&w, b, xq, xs, y_ref);
    const emb_status_t s_opt = emb_linear_q8(&w, b, xq, xs, y_opt);
    /* rows + 1: the sentinel after the output must be untouched by both */
    const int same = s_ref == s_opt && memcmp(y_ref, y_opt, (rows + 1u) * sizeof(float)) == 0 &&
                     memcmp(&y_ref[rows], &(uint32_t){SENTINEL}, 4) == 0;
    record(t, same, y_ref, y_opt, (rows + 1u) * sizeof(float));
}

static int8_t xq2[MAX_COLS];
static float y2_ref[MAX_ROWS + 1u], y2_opt[MAX_ROWS + 1u];

/* emb_linear2_q8 against emb_linear_q8_ref on each of its two inputs. */
static void linear2_case(tally_t *t, uint8_t encoding, uint32_t rows, uint32_t cols, int fill,
                         int mask_mode, int with_bias)
{
    const emb_qtensor_t w = make_tensor(encoding, rows, cols, fill, mask_mode);
    fill_i8(xq, cols, (fill + (int)(rnd() % 3u)) % N_FILLS);
    fill_i8(xq2, cols, (int)(rnd() % N_FILLS));
    const float xs = fill == FILL_ZERO ? 0.0f : (float)(1u + rnd() % 1000u) * 1e-4f;
    const float xs2 = (float)(1u + rnd() % 1000u) * 1e-4f;
    for (uint32_t r = 0; r < rows; ++r) {
        bias[r] = (float)((int32_t)(rnd() % 201u) - 100) * 1e-3f;
    }
    for (uint32_t r = 0; r <= rows; ++r) {
        memcpy(&y_ref[r], &(uint32_t){SENTINEL}, 4);
        memcpy(&y_opt[r], &(uint32_t){SENTINEL}, 4);
        memcpy(&y2_ref[r], &(uint32_t){SENTINEL}, 4);
        memcpy(&y2_opt[r], &(uint32_t){SENTINEL}, 4);
    }
    const float *b = with_bias ? bias : NULL;
    emb_status_t s_ref = emb_linear_q8_ref(&w, b, xq, xs, y_ref);
    s_ref = s_ref != EMB_OK ? s_ref : emb_linear_q8_ref(&w, b, xq2, xs2, y2_ref);
    const emb_status_t s_opt = emb_linear2_q8(&w, b, xq, xs, xq2, xs2, y_opt, y2_opt);
    const size_t nb = (rows + 1u) * sizeof(float);
    const int same = s_ref == s_opt && memcmp(y_ref, y_opt, nb) == 0 &&
                     memcmp(y2_ref, y2_opt, nb) == 0 &&
                     memcmp(&y_ref[rows], &(uint32_t){SENTINEL}, 4) == 0 &&
                     memcmp(&y2_ref[rows], &(uint32_t){SENTINEL}, 4) == 0;
    record(t, same, y_ref, y_opt, nb);
    record(t, same, y2_ref, y2_opt, nb);
}

static void linear_cases(void)
{
    static const uint32_t shapes[][2] = {
        {128, 128}, {24, 64}, {10, 96}, {7, 32}, {1, 32}, {3, 160}, {128, 16}, {6, 16},
        {8, 8},     {6, 128}, {2, 128}, {16, 4}, {4, 24}, {5, 48}, /* 240 values: not whole blocks,
                                                                      both must refuse (EMB_ERR_ARG)
                                                                    */
    };
    static const uint8_t encodings[] = {EMB_QT_Q8, EMB_QT_MIXED, EMB_QT_F16, EMB_QT_F32};
    tally_t t = {"emb_linear_q8", 0, 0, 2166136261u, 2166136261u, 0};
    tally_t t2 = {"emb_linear2_q8", 0, 0, 2166136261u, 2166136261u, 0};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
        for (size_t e = 0; e < sizeof encodings; ++e) {
            for (int fill = 0; fill < N_FILLS; ++fill) {
                const int modes = encodings[e] == EMB_QT_MIXED ? 3 : 1;
                for (int m = 0; m < modes; ++m) {
                    linear_case(&t, encodings[e], shapes[s][0], shapes[s][1], fill, m,
                                (fill & 1) == 0);
                    linear2_case(&t2, encodings[e], shapes[s][0], shapes[s][1], fill, m,
                                 (fill & 1) == 0);
                }
            }
        }
    }
    report(&t);
    report(&t2);
}

/* ---- emb_attn_scores_q8 / emb_attn_wsum_q8 ---- */

static int8_t vec[MAX_N > MAX_D ? MAX_N : MAX_D];
static int8_t rows_i8[MAX_N * MAX_D];
static int32_t o_ref[(MAX_N > MAX_D ? MAX_N : MAX_D) + 1u];
static int32_t o_opt[(MAX_N > MAX_D ? MAX_N : MAX_D) + 1u];

static int8_t cols_i8[MAX_D * (MAX_N + 1u)];

static int8_t vec2[MAX_N > MAX_D ? MAX_N : MAX_D];
static int32_t o2_ref[(MAX_N > MAX_D ? MAX_N : MAX_D) + 1u];
static int32_t o2_opt[(MAX_N > MAX_D ? MAX_N : MAX_D) + 1u];

/* emb_attn_scores2_q8 (wsum 0) or emb_attn_wsum2_q8t (1, on the rows transposed at stride n or
 * n + 1) against the one-row reference on each vector; rows_i8 and vec already filled. */
static void attn_pair_case(tally_t *t, int wsum, uint32_t n, uint32_t d, int fill_v)
{
    const uint32_t m = wsum ? d : n, ld = n + (n & 1u);
    fill_i8(vec2, wsum ? n : d, (fill_v + 2) % N_FILLS);
    for (uint32_t i = 0; i <= m; ++i) {
        o_ref[i] = o_opt[i] = o2_ref[i] = o2_opt[i] = (int32_t)SENTINEL;
    }
    if (wsum) {
        memset(cols_i8, 0x5A, sizeof cols_i8);
        for (uint32_t j = 0; j < n; ++j) {
            for (uint32_t i = 0; i < d; ++i) {
                cols_i8[(size_t)i * ld + j] = rows_i8[(size_t)j * d + i];
            }
        }
        emb_attn_wsum_q8_ref(vec, rows_i8, n, d, o_ref);
        emb_attn_wsum_q8_ref(vec2, rows_i8, n, d, o2_ref);
        emb_attn_wsum2_q8t(vec, vec2, cols_i8, ld, n, d, o_opt, o2_opt);
    } else {
        emb_attn_scores_q8_ref(vec, rows_i8, n, d, o_ref);
        emb_attn_scores_q8_ref(vec2, rows_i8, n, d, o2_ref);
        emb_attn_scores2_q8(vec, vec2, rows_i8, n, d, o_opt, o2_opt);
    }
    const size_t nb = (m + 1u) * sizeof(int32_t);
    const int same = memcmp(o_ref, o_opt, nb) == 0 && memcmp(o2_ref, o2_opt, nb) == 0 &&
                     o_ref[m] == (int32_t)SENTINEL && o2_ref[m] == (int32_t)SENTINEL;
    record(t, same, o_ref, o_opt, nb);
    record(t, same, o2_ref, o2_opt, nb);
}

/* wsum: 1 the twin on the rows, 2 emb_attn_wsum_q8t on the rows transposed (stride n, or
 * n + 1 when n is odd: both the fixed and the general stride), 0 the scores; 3 and 4 the
 * pair kernels (scores, weighted sum). */
static void attn_case(tally_t *t, int wsum, uint32_t n, uint32_t d, int fill_v, int fill_rows)
{
    const uint32_t m = wsum ? d : n;
    fill_i8(vec, wsum ? n : d, fill_v);
    fill_i8(rows_i8, n * d, fill_rows);
    for (uint32_t i = 0; i <= m; ++i) {
        o_ref[i] = o_opt[i] = (int32_t)SENTINEL;
    }
    if (wsum == 3 || wsum == 4) { /* the pair kernels: a second vector, its own outputs */
        attn_pair_case(t, wsum == 4, n, d, fill_v);
        return;
    }
    if (wsum == 2) {
        const uint32_t ld = n + (n & 1u);
        memset(cols_i8, 0x5A, sizeof cols_i8); /* the gaps between columns: never summed */
        for (uint32_t j = 0; j < n; ++j) {
            for (uint32_t i = 0; i < d; ++i) {
                cols_i8[(size_t)i * ld + j] = rows_i8[(size_t)j * d + i];
            }
        }
        emb_attn_wsum_q8_ref(vec, rows_i8, n, d, o_ref);
        emb_attn_wsum_q8t(vec, cols_i8, ld, n, d, o_opt);
    } else if (wsum) {
        emb_attn_wsum_q8_ref(vec, rows_i8, n, d, o_ref);
        emb_attn_wsum_q8(vec, rows_i8, n, d, o_opt);
    } else {
        emb_attn_scores_q8_ref(vec, rows_i8, n, d, o_ref);
        emb_attn_scores_q8(vec, rows_i8, n, d, o_opt);
    }
    const int same =
        memcmp(o_ref, o_opt, (m + 1u) * sizeof(int32_t)) == 0 && o_ref[m] == (int32_t)SENTINEL;
    record(t, same, o_ref, o_opt, (m + 1u) * sizeof(int32_t));
}

static void attn_cases(int wsum)
{
    static const uint32_t shapes[][2] = {
        {1, 1},    {1, 4},   {2, 3},     {3, 5}, {4, 4}, {5, 7},     {7, 13},   {8, 128},
        {29, 128}, {33, 64}, {256, 128}, {0, 8}, {6, 1}, {131, 128}, {255, 12},
    };
    static const char *const names[] = {"emb_attn_scores_q8", "emb_attn_wsum_q8",
                                        "emb_attn_wsum_q8t", "emb_attn_scores2_q8",
                                        "emb_attn_wsum2_q8t"};
    tally_t t = {names[wsum], 0, 0, 2166136261u, 2166136261u, 0};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
        for (int fv = 0; fv < N_FILLS; ++fv) {
            attn_case(&t, wsum, shapes[s][0], shapes[s][1], fv, (fv + 1) % N_FILLS);
            attn_case(&t, wsum, shapes[s][0], shapes[s][1], fv, fv);
        }
    }
    report(&t);
}

/* ---- emb_quantize_row_q8 ---- */

static float xf[MAX_N + 1u];
static int8_t q_ref[MAX_N + 1u], q_opt[MAX_N + 1u];

static void quantize_case(tally_t *t, uint32_t n, float unit, int mode)
{
    for (uint32_t i = 0; i < n; ++i) {
        const float v = (float)((int32_t)(rnd() % 20001u) - 10000) * unit;
        xf[i] = mode == 1 ? 0.0f : mode == 2 ? (float)((int32_t)(rnd() % 509u) - 254) * 0.5f : v;
    }
    if (mode == 2 && n != 0u) {
        xf[0] = 127.0f; /* scale 1: every x / scale is exact, the .5 values are ties */
    }
    if (mode == 3 && n != 0u) { /* the largest |x| last, at 127 * 2^-126: scale 2^-126 */
        for (uint32_t i = 0; i < n; ++i) {
            xf[i] = (float)((int32_t)(rnd() % 255u) - 127) * 1.1754944e-38f;
        }
        xf[n - 1u] = -127.0f * 1.1754944e-38f;
    }
    if (mode == 4 && n != 0u) { /* |x| <= 420 * 2^-149: scale 3 * 2^-149, quotients up to 140 */
        for (uint32_t i = 0; i < n; ++i) {
            xf[i] = (float)((int32_t)(rnd() % 841u) - 420) * 1.4012985e-45f;
        }
        xf[n / 2u] = (rnd() % 2u == 0u ? 420.0f : -420.0f) * 1.4012985e-45f;
    }
    q_ref[n] = q_opt[n] = 99;
    const float s_ref = emb_quantize_row_q8_ref(xf, n, q_ref);
    const float s_opt = emb_quantize_row_q8(xf, n, q_opt);
    int8_t ref_out[MAX_N + 5u], opt_out[MAX_N + 5u]; /* codes, sentinel, scale */
    memcpy(ref_out, q_ref, n + 1u);
    memcpy(ref_out + n + 1u, &s_ref, sizeof s_ref);
    memcpy(opt_out, q_opt, n + 1u);
    memcpy(opt_out + n + 1u, &s_opt, sizeof s_opt);
    const int same = memcmp(ref_out, opt_out, n + 5u) == 0 && q_ref[n] == 99;
    record(t, same, ref_out, opt_out, n + 5u);
}

static void quantize_cases(void)
{
    static const uint32_t lengths[] = {1, 3, 4, 7, 16, 29, 128, 256};
    static const float units[] = {1e-4f, 1.0f, 1e30f, 1e-42f}; /* the last: subnormal scale */
    tally_t t = {"emb_quantize_row_q8", 0, 0, 2166136261u, 2166136261u, 0};
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; ++l) {
        for (size_t u = 0; u < sizeof units / sizeof units[0]; ++u) {
            quantize_case(&t, lengths[l], units[u], 0);
        }
        for (int mode = 1; mode <= 4; ++mode) {
            quantize_case(&t, lengths[l], 1.0f, mode);
        }
    }
    report(&t);
}

/* ---- emb_conv1d_dw_causal_q8 ---- */

#define CONV_MAX_D 136u
#define CONV_MAX_K 64u
#define CONV_MAX_N 70u

static emb_block_q8_t conv_blocks[CONV_MAX_D * CONV_MAX_K / EMB_QBLOCK + 1u] EMB_BLOCKS_ALIGN;
static int8_t conv_q[CONV_MAX_N * CONV_MAX_D];
static float conv_scales[CONV_MAX_N], conv_bias[CONV_MAX_D];
/* word-aligned rings (as the arena's), with room for a sentinel and a one-slot misalignment */
static union {
    uint32_t align;
    int16_t v[EMB_CONV_RING_LEN(CONV_MAX_K, CONV_MAX_D) + 3u];
} ring_ref, ring_opt;
static float c_ref[CONV_MAX_D + 1u], c_opt[CONV_MAX_D + 1u];

/* One sequence of n rows: every step t = 0..n-1 through the reference and the twin, each with
 * its own ring (one int16 past a word if skew & 1; the blocks one block past a word if skew &
 * 2), compared bit for bit (outputs, then the rings and the
 * slot after them at the end). Block scales: random, 0 (1 in 8) or -0 (1 in 16); biases random,
 * 0 or -0. scale_mode 1: every row scale 0 (a zero sequence); 2: one row's scale far above the
 * others. */
static void conv_case(tally_t *t, uint32_t d, uint32_t k, uint32_t n, int fill_w, int fill_x,
                      int scale_mode, uint32_t skew)
{
    emb_block_q8_t *const blocks = conv_blocks + (skew >> 1);
    emb_qtensor_t w = {EMB_QT_Q8, d, k, blocks, NULL, NULL, NULL};
    const emb_act_t x = {NULL, conv_q, conv_scales, d, NULL, 0u};
    for (uint32_t b = 0; b < d * k / EMB_QBLOCK; ++b) {
        fill_i8(blocks[b].qs, EMB_QBLOCK, fill_w);
        const uint32_t u = rnd() % 16u;
        blocks[b].d = (fill_w == FILL_ZERO || u < 2u) ? 0u : u == 2u ? 0x8000u : rnd_f16();
    }
    for (uint32_t c = 0; c < d; ++c) {
        const uint32_t u = rnd() % 8u;
        conv_bias[c] = u == 0u   ? -0.0f
                       : u == 1u ? 0.0f
                                 : (float)((int32_t)(rnd() % 201u) - 100) * 1e-3f;
    }
    fill_i8(conv_q, n * d, fill_x);
    for (uint32_t r = 0; r < n; ++r) {
        conv_scales[r] = scale_mode == 1 ? 0.0f : (float)(1u + rnd() % 1000u) * 1e-3f;
    }
    if (scale_mode == 2 && n > 1u) {
        conv_scales[n / 2u] = 250.0f;
    }
    const float hs = emb_conv_q16_scale(&x, n);
    const uint32_t len = EMB_CONV_RING_LEN(k, d);
    int16_t *const rr = ring_ref.v + (skew & 1u), *const ro = ring_opt.v + (skew & 1u);
    for (uint32_t i = 0; i < len; ++i) {
        rr[i] = ro[i] = 0;
    }
    rr[len] = ro[len] = 0x5A5A;
    int same = 1;
    for (uint32_t step = 0; step < n; ++step) {
        const float *b = (step & 1u) ? conv_bias : NULL;
        memcpy(&c_ref[d], &(uint32_t){SENTINEL}, 4);
        memcpy(&c_opt[d], &(uint32_t){SENTINEL}, 4);
        const emb_status_t s_ref = emb_conv1d_dw_causal_q8_ref(&w, b, &x, step, hs, rr, c_ref);
        const emb_status_t s_opt = emb_conv1d_dw_causal_q8(&w, b, &x, step, hs, ro, c_opt);
        same = same && s_ref == EMB_OK && s_opt == EMB_OK &&
               memcmp(c_ref, c_opt, (d + 1u) * sizeof(float)) == 0 &&
               memcmp(&c_ref[d], &(uint32_t){SENTINEL}, 4) == 0;
    }
    same = same && memcmp(rr, ro, (len + 1u) * sizeof(int16_t)) == 0 && rr[len] == 0x5A5A;
    record(t, same, c_ref, c_opt, (d + 1u) * sizeof(float));
}

static void conv_cases(void)
{
    static const uint32_t shapes[][3] = {
        /* d, k, n */
        {4, 32, 1},    {4, 32, 5},   {8, 32, 40},  {128, 32, 33}, {128, 32, 70},
        {12, 64, 70},  {6, 32, 9},   {128, 64, 3}, {36, 32, 37},  {20, 32, 64},
        {128, 32, 31}, {12, 32, 70}, {136, 32, 9},
    };
    tally_t t = {"emb_conv1d_dw_causal_q8", 0, 0, 2166136261u, 2166136261u, 0};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
        const uint32_t d = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
        for (int f = 0; f < N_FILLS; ++f) {
            conv_case(&t, d, k, n, f, (f + 2) % N_FILLS, 0, 0u);
        }
        conv_case(&t, d, k, n, FILL_MAX, FILL_MIN, 2, 0u);
        conv_case(&t, d, k, n, FILL_MIN, FILL_MAX, 0, 0u);
        conv_case(&t, d, k, n, 0, 0, 1, 0u);
        conv_case(&t, d, k, n, FILL_RANDOM, FILL_RANDOM, 0, 1u); /* a misaligned ring */
        conv_case(&t, d, k, n, FILL_RANDOM, FILL_RANDOM, 0, 2u); /* misaligned blocks */
    }
    report(&t);
}

static int golden_run(void)
{
    quantize_cases();
    linear_cases();
    attn_cases(0);
    attn_cases(1);
    attn_cases(2);
    attn_cases(3);
    attn_cases(4);
    conv_cases();
    put(EMB_KERNELS_ARM_DSP ? "twins=arm_dsp\n" : "twins=portable\n");
    put("done\n");
    return 0;
}

#ifdef EMB_GOLDEN_HOST
#include <stdio.h>
static void put(const char *s)
{
    fputs(s, stdout);
}
int main(void)
{
    return golden_run();
}
#else
void emb_bm_put(const char *s);
int emb_bm_main(void);
static void put(const char *s)
{
    emb_bm_put(s);
}
int emb_bm_main(void)
{
    return golden_run();
}
#endif
