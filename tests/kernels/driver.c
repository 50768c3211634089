/*
 * Host test driver of the runtime kernels: `driver <op>` reads the op's inputs from stdin and
 * writes its outputs to stdout, both raw little-endian (layout: tests/kernels/kernel_driver.py).
 * Arrays arrive as u32 count + count elements; an empty array is passed to the kernel as NULL.
 * Buffers come from a static pool (the runtime never mallocs; neither does its test driver).
 */
#include <stdio.h>
#include <string.h>

#include "emb_internal.h"
#include "emb_quant.h"
#include "emb_runtime.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define REDZONE 64u /* poisoned bytes after each buffer under AddressSanitizer */

static unsigned char pool[1u << 24];
static size_t pool_used;

/* A buffer of exactly nbytes: under ASan, a kernel reading or writing past it is caught. */
static void *take(size_t nbytes)
{
    const size_t at = (pool_used + 7u) & ~(size_t)7u;
    if (at + nbytes + REDZONE > sizeof pool) {
        fprintf(stderr, "driver: pool exhausted\n");
        return NULL;
    }
    if (pool_used == 0u) {
        POISON(pool, sizeof pool);
    }
    pool_used = at + nbytes + REDZONE;
    UNPOISON(pool + at, nbytes);
    return pool + at;
}

static int failed;

static void read_exact(void *dst, size_t nbytes)
{
    if (nbytes != 0u && (dst == NULL || fread(dst, 1, nbytes, stdin) != nbytes)) {
        failed = 1;
    }
}

static uint32_t read_u32(void)
{
    uint32_t v = 0;
    read_exact(&v, sizeof v);
    return v;
}

static float read_f32(void)
{
    float v = 0.0f;
    read_exact(&v, sizeof v);
    return v;
}

/* u32 count, then count elements of elem bytes; NULL when empty. */
static void *read_array(size_t elem, uint32_t *count)
{
    const uint32_t n = read_u32();
    void *p = n != 0u ? take((size_t)n * elem) : NULL;
    read_exact(p, (size_t)n * elem);
    if (count != NULL) {
        *count = n;
    }
    return p;
}

static void write_out(const void *src, size_t nbytes)
{
    fwrite(src, 1, nbytes, stdout);
}

static void write_status(emb_status_t st)
{
    const int32_t v = (int32_t)st;
    write_out(&v, sizeof v);
}

static emb_qtensor_t read_qtensor(void)
{
    emb_qtensor_t t;
    t.encoding = (uint8_t)read_u32();
    t.rows = read_u32();
    t.cols = read_u32();
    t.blocks = read_array(sizeof(emb_block_q8_t), NULL);
    t.f16 = read_array(sizeof(uint16_t), NULL);
    t.mask = read_array(sizeof(uint8_t), NULL);
    t.f32 = read_array(sizeof(float), NULL);
    return t;
}

/* mode 0: float rows; 1: int8 rows with scales; 2: int8 rows with scales and their codes
 * transposed (t8, ld = rows + 3: a stride that is not the row count). rows x d. */
static emb_act_t read_act(uint32_t *rows)
{
    emb_act_t a;
    const uint32_t mode = read_u32();
    *rows = read_u32();
    a.d = read_u32();
    a.f32 = read_array(sizeof(float), NULL);
    a.q8 = read_array(sizeof(int8_t), NULL);
    a.scales = read_array(sizeof(float), NULL);
    a.t8 = NULL;
    a.ld = 0u;
    if (mode == 0u) {
        a.q8 = NULL;
        a.scales = NULL;
    } else {
        a.f32 = NULL;
    }
    if (mode == 2u) {
        a.ld = *rows + 3u;
        a.t8 = take((size_t)a.d * a.ld);
        memset(a.t8, 0x5A, (size_t)a.d * a.ld); /* the gaps: never read */
        for (uint32_t r = 0; r < *rows; ++r) {
            for (uint32_t i = 0; i < a.d; ++i) {
                a.t8[(size_t)i * a.ld + r] = a.q8[(size_t)r * a.d + i];
            }
        }
    }
    return a;
}

/* n + 1 floats; the last is a sentinel the kernel must leave alone. */
static float *scratch_with_sentinel(uint32_t n)
{
    float *s = take(((size_t)n + 1u) * sizeof(float));
    if (s != NULL) {
        for (uint32_t i = 0; i <= n; ++i) {
            s[i] = -12345.0f;
        }
    }
    return s;
}

static void write_sentinel_ok(const float *s, uint32_t n)
{
    const int32_t ok = s[n] == -12345.0f;
    write_out(&ok, sizeof ok);
}

/* ---- ops: each reads its inputs, calls one kernel, writes its outputs ---- */

static void f16_array_to_f32(float (*convert)(uint16_t))
{
    uint32_t n;
    const uint16_t *h = read_array(sizeof(uint16_t), &n);
    for (uint32_t i = 0; i < n; ++i) {
        const float f = convert(h[i]);
        write_out(&f, sizeof f); /* raw bits: NaN payloads survive */
    }
}

static void op_f16_to_f32(void)
{
    f16_array_to_f32(emb_f16_to_f32);
}

static void op_f16_to_f32_fast(void)
{
    f16_array_to_f32(emb_f16_to_f32_fast);
}

static void op_f32_to_f16(void)
{
    uint32_t n;
    const float *x = read_array(sizeof(float), &n);
    for (uint32_t i = 0; i < n; ++i) {
        const uint16_t h = emb_f32_to_f16(x[i]);
        write_out(&h, sizeof h);
    }
}

static void op_round(void)
{
    uint32_t n;
    const float *x = read_array(sizeof(float), &n);
    for (uint32_t i = 0; i < n; ++i) {
        const int32_t r = emb_round_half_even(x[i]);
        write_out(&r, sizeof r);
    }
}

static void op_gather(void)
{
    const emb_qtensor_t t = read_qtensor();
    const uint32_t row = read_u32();
    float *out = take((size_t)t.cols * sizeof(float));
    write_status(emb_gather_row_f32(&t, row, out));
    write_out(out, (size_t)t.cols * sizeof(float));
}

static void op_linear(void)
{
    const emb_qtensor_t w = read_qtensor();
    const float *bias = read_array(sizeof(float), NULL);
    const float *x = read_array(sizeof(float), NULL);
    float *y = take((size_t)w.rows * sizeof(float));
    write_status(emb_linear_f32(&w, bias, x, y));
    write_out(y, (size_t)w.rows * sizeof(float));
}

static void op_rmsnorm(void)
{
    uint32_t d;
    float *x = read_array(sizeof(float), &d);
    const float *weight = read_array(sizeof(float), NULL);
    const float eps = read_f32();
    const uint32_t alias = read_u32();
    float *y = alias != 0u ? x : take((size_t)d * sizeof(float));
    emb_rmsnorm_f32(x, weight, d, eps, y);
    write_out(y, (size_t)d * sizeof(float));
}

static void op_act(void)
{
    const uint32_t mode = read_u32();
    const uint32_t rows = read_u32();
    const uint32_t d = read_u32();
    const float *x = read_array(sizeof(float), NULL); /* (rows, d) */
    emb_act_t a = {NULL, NULL, NULL, d, NULL, 0u};
    if (mode == 0u) {
        a.f32 = take((size_t)rows * d * sizeof(float));
    } else {
        a.q8 = take((size_t)rows * d);
        a.scales = take((size_t)rows * sizeof(float));
    }
    float *back = take((size_t)rows * d * sizeof(float));
    if (x == NULL || back == NULL) {
        failed = 1;
        return;
    }
    for (uint32_t r = 0; r < rows; ++r) {
        emb_act_store_row(&a, r, x + (size_t)r * d);
    }
    for (uint32_t r = 0; r < rows; ++r) {
        emb_act_load_row(&a, r, back + (size_t)r * d);
    }
    if (mode != 0u) {
        write_out(a.q8, (size_t)rows * d);
        write_out(a.scales, (size_t)rows * sizeof(float));
    }
    write_out(back, (size_t)rows * d * sizeof(float));
}

static void op_attention(void)
{
    uint32_t rows;
    const emb_act_t kv = read_act(&rows);
    const uint32_t n = read_u32();
    const float *q = read_array(sizeof(float), NULL);
    float *scores = scratch_with_sentinel(n);
    float *out = take((size_t)kv.d * sizeof(float));
    emb_attention_row_f32(q, &kv, n, scores, out);
    write_out(out, (size_t)kv.d * sizeof(float));
    write_sentinel_ok(scores, n);
}

static void op_conv1d(void)
{
    uint32_t rows;
    const emb_qtensor_t w = read_qtensor();
    const float *bias = read_array(sizeof(float), NULL);
    const emb_act_t x = read_act(&rows);
    const uint32_t t = read_u32();
    const uint32_t alpha = read_u32();
    float *row = scratch_with_sentinel(x.d);
    float *out = take((size_t)w.rows * sizeof(float));
    write_status(emb_conv1d_dw_causal_f32(&w, bias, &x, t, alpha, row, out));
    write_out(out, (size_t)w.rows * sizeof(float));
    write_sentinel_ok(row, x.d);
}

static void op_silu(void)
{
    uint32_t n;
    float *x = read_array(sizeof(float), &n);
    emb_silu_f32(x, n);
    write_out(x, (size_t)n * sizeof(float));
}

static void op_wdiff(void)
{
    uint32_t n;
    const float l1 = read_f32();
    float *a = read_array(sizeof(float), &n);
    const float l2 = read_f32();
    float *b = read_array(sizeof(float), NULL);
    const uint32_t alias = read_u32(); /* 0: fresh y, 1: y = a, 2: y = b */
    float *y = alias == 1u ? a : alias == 2u ? b : take((size_t)n * sizeof(float));
    emb_wdiff_f32(l1, a, l2, b, n, y);
    write_out(y, (size_t)n * sizeof(float));
}

static void op_add(void)
{
    uint32_t n;
    float *y = read_array(sizeof(float), &n);
    const float *x = read_array(sizeof(float), NULL);
    emb_add_f32(y, x, n);
    write_out(y, (size_t)n * sizeof(float));
}

/* ---- integer kernels: a u32 variant picks the reference (0) or the optimized twin (1) ---- */

static void op_linear_q8(void)
{
    const emb_qtensor_t w = read_qtensor();
    const float *bias = read_array(sizeof(float), NULL);
    const int8_t *xq = read_array(sizeof(int8_t), NULL);
    const float xs = read_f32();
    const uint32_t variant = read_u32();
    float *y = take((size_t)w.rows * sizeof(float));
    write_status(variant == 0u ? emb_linear_q8_ref(&w, bias, xq, xs, y)
                               : emb_linear_q8(&w, bias, xq, xs, y));
    write_out(y, (size_t)w.rows * sizeof(float));
}

/* q (d) or p (n), rows (n, d), n, d, variant (0 reference, 1 twin, 2 the weighted sum's twin
 * from the transposed rows) -> int32 out (n scores or d sums) */
static void attn_q8(int wsum)
{
    const int8_t *v = read_array(sizeof(int8_t), NULL);
    const int8_t *rows = read_array(sizeof(int8_t), NULL);
    const uint32_t n = read_u32();
    const uint32_t d = read_u32();
    const uint32_t variant = read_u32();
    const uint32_t m = wsum ? d : n;
    int32_t *out = take((size_t)m * sizeof(int32_t));
    if (wsum && variant == 2u) { /* from the rows transposed, stride n + 1 */
        int8_t *cols = take((size_t)d * (n + 1u));
        for (uint32_t j = 0; j < n; ++j) {
            for (uint32_t i = 0; i < d; ++i) {
                cols[(size_t)i * (n + 1u) + j] = rows[(size_t)j * d + i];
            }
        }
        emb_attn_wsum_q8t(v, cols, n + 1u, n, d, out);
    } else if (wsum) {
        (variant == 0u ? emb_attn_wsum_q8_ref : emb_attn_wsum_q8)(v, rows, n, d, out);
    } else {
        (variant == 0u ? emb_attn_scores_q8_ref : emb_attn_scores_q8)(v, rows, n, d, out);
    }
    write_out(out, (size_t)m * sizeof(int32_t));
}

static void op_attention_q8(void)
{
    uint32_t rows;
    const emb_act_t kv = read_act(&rows);
    const uint32_t n = read_u32();
    const float *q = read_array(sizeof(float), NULL);
    const uint32_t m = (n > kv.d ? n : kv.d);
    float *scores = scratch_with_sentinel(n);
    int8_t *codes = take(m);
    int32_t *sums = take((size_t)m * sizeof(int32_t));
    float *out = take((size_t)kv.d * sizeof(float));
    emb_attention_row_q8(q, &kv, n, scores, codes, sums, out);
    write_out(out, (size_t)kv.d * sizeof(float));
    write_sentinel_ok(scores, n);
}

static void op_attn_scores_q8(void)
{
    attn_q8(0);
}

static void op_attn_wsum_q8(void)
{
    attn_q8(1);
}

/* x (n) floats -> q (n) int8 and the scale by the rule of emb_quant.h: the reference's,
 * then the twin's */
static void op_quantize_row(void)
{
    uint32_t n;
    const float *x = read_array(sizeof(float), &n);
    int8_t *q = take(n);
    const float scale = emb_quantize_row_q8_ref(x, n, q);
    write_out(q, n);
    write_out(&scale, sizeof scale);
    const float scale2 = emb_quantize_row_q8(x, n, q);
    write_out(q, n);
    write_out(&scale2, sizeof scale2);
}

static const struct {
    const char *name;
    void (*run)(void);
} ops[] = {
    {"f16_to_f32", op_f16_to_f32},
    {"f16_to_f32_fast", op_f16_to_f32_fast},
    {"f32_to_f16", op_f32_to_f16},
    {"round", op_round},
    {"gather", op_gather},
    {"linear", op_linear},
    {"rmsnorm", op_rmsnorm},
    {"act", op_act},
    {"attention", op_attention},
    {"conv1d", op_conv1d},
    {"silu", op_silu},
    {"wdiff", op_wdiff},
    {"add", op_add},
    {"linear_q8", op_linear_q8},
    {"attn_scores_q8", op_attn_scores_q8},
    {"attn_wsum_q8", op_attn_wsum_q8},
    {"quantize_row", op_quantize_row},
    {"attention_q8", op_attention_q8},
};

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: driver <op>\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; ++i) {
        if (strcmp(argv[1], ops[i].name) == 0) {
            ops[i].run();
            if (failed) {
                fprintf(stderr, "driver: short or malformed input for %s\n", argv[1]);
                return 3;
            }
            return 0;
        }
    }
    fprintf(stderr, "driver: unknown op %s\n", argv[1]);
    return 2;
}
