/*
 * embbert-mcu runtime: types and reference kernels shared by every exported model.
 * Portable C99: no malloc, no exit; kernels that can fail return emb_status_t.
 * The quantized block layout mirrors embbert_mcu/quant/blocks.py byte for byte.
 */
#ifndef EMB_RUNTIME_H
#define EMB_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "emb_config.h"   /* generated per model: EMB_QBLOCK */
#include "emb_contract.h" /* emb_status_t, emb_encoding_t, EMB_STATIC_ASSERT */

#ifndef EMB_QBLOCK
#error "emb_config.h must define EMB_QBLOCK"
#endif

/* Called at the start of each stage, and once more with stage == n_stages at the end. */
typedef void (*emb_stage_hook_t)(void *ctx, unsigned stage);

/* One quantized block: scale d (fp16 bits) and EMB_QBLOCK int8 values; x = qs[i] * d. */
typedef struct {
    uint16_t d;
    int8_t qs[EMB_QBLOCK];
} emb_block_q8_t;
EMB_STATIC_ASSERT(sizeof(emb_block_q8_t) == 2 + EMB_QBLOCK, block_q8_has_no_padding);

/* An array of blocks that starts on a word (the exported weights.c declares them so): the DSP
 * conv then reads scales and weights as words; from other addresses it takes its reference. */
#if defined(__GNUC__)
#define EMB_BLOCKS_ALIGN __attribute__((aligned(4)))
#else
#define EMB_BLOCKS_ALIGN
#endif

/* emb_encoding_t (emb_contract.h): EMB_QT_MIXED is walked in order, so only emb_linear_f32
 * and emb_linear_q8 read it (gather and conv need random access). */

/* A constant tensor seen as a matrix of rows x cols (cols = numel / shape[0]). */
typedef struct {
    uint8_t encoding; /* emb_encoding_t */
    uint32_t rows, cols;
    const emb_block_q8_t *blocks; /* q8 and mixed: the int8 blocks in order */
    const uint16_t *f16;          /* f16: all values; mixed: the fp16 blocks in order */
    const uint8_t *mask;          /* mixed: bit i (byte i / 8, LSB first) = block i is fp16 */
    const float *f32;             /* f32: all values */
} emb_qtensor_t;

/* An activation buffer of rows x d in the arena: float rows (q8 == NULL), or int8 rows with
 * one float scale per row (f32 == NULL). int8 rows may keep a transposed copy of their codes,
 * t8 (d, ld): t8[i * ld + row] = q8[row * d + i], written by emb_act_store_row, so that a sum
 * over rows (attention's weighted sum) reads each column as one contiguous run. */
typedef struct {
    float *f32;
    int8_t *q8;
    float *scales;
    uint32_t d;
    int8_t *t8;  /* NULL: no transposed copy */
    uint32_t ld; /* t8's row stride: the buffer's rows (max_len) */
} emb_act_t;

/* fp16 <-> fp32, round to nearest even; exact for every fp16 value. */
float emb_f16_to_f32(uint16_t h);
uint16_t emb_f32_to_f16(float f);

/* out (cols) = row `row` of a q8, f16 or f32 table, dequantized; row >= rows -> EMB_ERR_TOKEN. */
emb_status_t emb_gather_row_f32(const emb_qtensor_t *table, uint32_t row, float *out);

/* y (rows) = W (rows, cols) x (cols) + bias (rows, may be NULL); any encoding.
 * y must not alias x. */
emb_status_t emb_linear_f32(const emb_qtensor_t *w, const float *bias, const float *x, float *y);

/* y (d) = x / sqrt(mean(x^2) + eps) * weight; y may alias x. */
void emb_rmsnorm_f32(const float *x, const float *weight, uint32_t d, float eps, float *y);

/* Store / load one row of an activation buffer. int8 rows: scale = max|x| / 127,
 * q = clamp(round_half_even(x / scale), -127, 127); an all-zero row stores scale 0. */
void emb_act_store_row(const emb_act_t *a, uint32_t row, const float *x);
void emb_act_load_row(const emb_act_t *a, uint32_t row, float *x);

/* Fused single-head attention for one query row, K = V = kv rows 0..n-1 (never l x l):
 * out (d) = softmax(q . kv_j / sqrt(d)) . kv; scores is scratch of n floats. */
void emb_attention_row_f32(const float *q, const emb_act_t *kv, uint32_t n, float *scores,
                           float *out);

/* Causal depthwise conv (q8, f16 or f32 weights) at time t: out[c] = bias[c] + sum_j w[c][j] * x[t
 * - (k-1) + j][c / alpha] for c < width = w->rows, j < k = w->cols; rows before 0 are zero. `row`
 * is scratch of d floats (it holds one input channel's time window, d taps at a time). */
emb_status_t emb_conv1d_dw_causal_f32(const emb_qtensor_t *w, const float *bias, const emb_act_t *x,
                                      uint32_t t, uint32_t alpha, float *row, float *out);

/* x = x * sigmoid(x), in place. */
void emb_silu_f32(float *x, uint32_t n);

/* y = l1 * a - l2 * b (the block's weighted difference); y may alias a or b. */
void emb_wdiff_f32(float l1, const float *a, float l2, const float *b, uint32_t n, float *y);

/* y += x. */
void emb_add_f32(float *y, const float *x, uint32_t n);

/* ---- integer kernels: int8 x int8 products summed in int32 ----
 * Each has a portable reference (`_ref`, the oracle) and an optimized twin under the plain
 * name, chosen at compile time (firmware/runtime/arm_dsp/ with __ARM_FEATURE_DSP and
 * -DEMB_ARM_DSP, else a portable version the host compiler vectorizes); the two give
 * bit-identical results.
 * Activation codes come from the rule of emb_quant.h (int8 in -127..127, one scale a row). */

/* q (n) = int8 codes of x (n) by the rule of emb_quant.h (emb_quantize_row_q8_ref there);
 * returns the scale. The DSP twin rounds with vcvtr, which needs the FPU's reset rounding
 * mode (to nearest, FPSCR.RMode 0; nothing in the runtime changes it). */
float emb_quantize_row_q8(const float *x, uint32_t n, int8_t *q);

/* y (rows) = W (rows, cols) (xq * xs) + bias (rows, may be NULL), xq (cols) int8 codes of
 * scale xs. q8 blocks: the int32 sum of a block's (or block segment's) products times the
 * block's scale is added to the row's float sum in storage order; fp16 blocks (mixed) add
 * sum f16(w) * (float)xq; f16 / f32 tensors sum w * (float)xq; each row ends acc * xs + bias.
 * y must not alias anything read. */
emb_status_t emb_linear_q8_ref(const emb_qtensor_t *w, const float *bias, const int8_t *xq,
                               float xs, float *y);
emb_status_t emb_linear_q8(const emb_qtensor_t *w, const float *bias, const int8_t *xq, float xs,
                           float *y);

/* Attention scores in integers: out[j] = sum_i q[i] * rows[j * d + i], j < n, i < d. */
void emb_attn_scores_q8_ref(const int8_t *q, const int8_t *rows, uint32_t n, uint32_t d,
                            int32_t *out);
void emb_attn_scores_q8(const int8_t *q, const int8_t *rows, uint32_t n, uint32_t d, int32_t *out);

/* Attention weighted sum in integers: out[i] = sum_j p[j] * rows[j * d + i], i < d, j < n
 * (n = 0 gives zeros). */
void emb_attn_wsum_q8_ref(const int8_t *p, const int8_t *rows, uint32_t n, uint32_t d,
                          int32_t *out);
void emb_attn_wsum_q8(const int8_t *p, const int8_t *rows, uint32_t n, uint32_t d, int32_t *out);

/* The same sums from the transposed rows: out[i] = sum_j p[j] * cols[i * ld + j], i < d, j < n
 * (cols = an emb_act_t's t8): d dot products of length n. Bit-identical to
 * emb_attn_wsum_q8_ref on the rows the columns hold. */
void emb_attn_wsum_q8t(const int8_t *p, const int8_t *cols, uint32_t ld, uint32_t n, uint32_t d,
                       int32_t *out);

/* ---- two rows at a time: each pair kernel gives exactly what its one-row kernel gives on
 * each row (the one-row reference twice is the pair's reference); the DSP twins widen each
 * weight word (or H word) once for both rows, two output rows by two inputs per pass. ---- */

/* emb_linear_q8 on two inputs: ya = W (xa * xsa) + bias, yb = W (xb * xsb) + bias. */
emb_status_t emb_linear2_q8(const emb_qtensor_t *w, const float *bias, const int8_t *xa, float xsa,
                            const int8_t *xb, float xsb, float *ya, float *yb);

/* emb_attn_scores_q8 for two queries: outa[j] = qa . rows_j, outb[j] = qb . rows_j. */
void emb_attn_scores2_q8(const int8_t *qa, const int8_t *qb, const int8_t *rows, uint32_t n,
                         uint32_t d, int32_t *outa, int32_t *outb);

/* emb_attn_wsum_q8t for two weight vectors pa, pb over the same columns. */
void emb_attn_wsum2_q8t(const int8_t *pa, const int8_t *pb, const int8_t *cols, uint32_t ld,
                        uint32_t n, uint32_t d, int32_t *outa, int32_t *outb);

/* emb_attention_row_q8 for two query rows against the same kv: scores n floats, codes
 * 2 max(n, d) int8, sums 2 max(n, d) int32 of scratch; outa, outb as the one-row calls.
 * outa may alias qa and outb qb (the queries are read first, the outputs written last). */
void emb_attention_rows2_q8(const float *qa, const float *qb, const emb_act_t *kv, uint32_t n,
                            float *scores, int8_t *codes, int32_t *sums, float *outa, float *outb);

/* emb_attention_row_f32 on int8 kv rows with integer MACs: q quantized by the rule, the
 * scores in base 2, t_j = (float)(q . h_j) * (h_scale_j * (q_scale * log2(e) / sqrt(d))),
 * p_j = 2^(t_j - max t) (float, emb_exp2 of emb_attention_q8.c), w_j = p_j * h_scale_j
 * quantized by the rule, out = (float)(w . h) * (w_scale / sum p); w . h from kv->t8 when
 * kv has the transposed copy.
 * scores: n floats, codes: max(n, d) int8, sums: max(n, d) int32 of scratch. Float kv rows
 * (kv->q8 == NULL) go to emb_attention_row_f32. */
void emb_attention_row_q8(const float *q, const emb_act_t *kv, uint32_t n, float *scores,
                          int8_t *codes, int32_t *sums, float *out);

/* The conv's int16 window scale for rows 0..n-1 of x (int8 rows): the largest stored |value|
 * (127 * the largest row scale) / 32767; 0 when every row is zero. */
float emb_conv_q16_scale(const emb_act_t *x, uint32_t n);

/* The integer conv's ring: int16 values of scratch for a conv of k taps over d channels. */
#define EMB_CONV_RING_LEN(k, d) (((k) + 4u) * (d))

/* emb_conv_q16_scale, with the ring (ring_len int16) cleared first: once per block. */
float emb_conv_q16_begin(const emb_act_t *x, uint32_t n, int16_t *ring, uint32_t ring_len);

/* Causal depthwise conv on the integer path at time t (alpha 1: w (d, k), k a multiple of
 * EMB_QBLOCK, q8 blocks = runs of one channel's taps): row t of x is requantized to int16 at
 * scale hs into `ring` (EMB_CONV_RING_LEN(k, d) int16 of scratch, cleared by
 * emb_conv_q16_begin, that must persist across the calls, which come for t = 0, 1, 2, ...),
 * then out[c] = (sum over the channel's blocks, in order, of d_b * (float)(int32 sum of
 * w * x16)) * hs + bias[c] (emb_conv1d_q8.c; the ring's layout: emb_conv_q8.h). */
emb_status_t emb_conv1d_dw_causal_q8_ref(const emb_qtensor_t *w, const float *bias,
                                         const emb_act_t *x, uint32_t t, float hs, int16_t *ring,
                                         float *out);
emb_status_t emb_conv1d_dw_causal_q8(const emb_qtensor_t *w, const float *bias, const emb_act_t *x,
                                     uint32_t t, float hs, int16_t *ring, float *out);

#endif /* EMB_RUNTIME_H */
