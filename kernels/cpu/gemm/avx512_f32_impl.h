/*
 * The AVX-512 f32 building blocks shared by the kernels avx512_sgemm_*.c: the microkernel
 * bodies for zmm and ymm vectors and the transposing B packer.
 * Included only by files compiled with the AVX-512 flags.
 */
#ifndef USINE_KERNELS_CPU_GEMM_AVX512_F32_IMPL_H
#define USINE_KERNELS_CPU_GEMM_AVX512_F32_IMPL_H

#include <immintrin.h>

#include "epilogue_impl.h"
#include "gemm_kernel.h"
#include "gemv_impl.h"
#include "pack_impl.h"
#include "ukr_define.h"

#define UKR_FUNC  ukr_zmm
#define UKR_T     float
#define UKR_V     __m512
#define UKR_LANES 16
#define UKR_MASK  __mmask16
#define UKR_MASK_FOR(rows)                                                                         \
    ((__mmask16)((rows) >= 16 ? 0xffff : (rows) <= 0 ? 0 : (1u << (rows)) - 1))
#define UKR_LOAD(p)               _mm512_loadu_ps(p)
#define UKR_BCAST(x)              _mm512_set1_ps(x)
#define UKR_FMA(a, b, c)          _mm512_fmadd_ps(a, b, c)
#define UKR_MUL(a, b)             _mm512_mul_ps(a, b)
#define UKR_ZERO()                _mm512_setzero_ps()
#define UKR_MASKLOAD(mask, p)     _mm512_maskz_loadu_ps(mask, p)
#define UKR_MASKSTORE(p, mask, v) _mm512_mask_storeu_ps(p, mask, v)
#include "ukr_x86_impl.h"

#define UKR_FUNC                  ukr_ymm
#define UKR_T                     float
#define UKR_V                     __m256
#define UKR_LANES                 8
#define UKR_MASK                  __mmask8
#define UKR_MASK_FOR(rows)        ((__mmask8)((rows) >= 8 ? 0xff : (rows) <= 0 ? 0 : (1u << (rows)) - 1))
#define UKR_LOAD(p)               _mm256_loadu_ps(p)
#define UKR_BCAST(x)              _mm256_set1_ps(x)
#define UKR_FMA(a, b, c)          _mm256_fmadd_ps(a, b, c)
#define UKR_MUL(a, b)             _mm256_mul_ps(a, b)
#define UKR_ZERO()                _mm256_setzero_ps()
#define UKR_MASKLOAD(mask, p)     _mm256_maskz_loadu_ps(mask, p)
#define UKR_MASKSTORE(p, mask, v) _mm256_mask_storeu_ps(p, mask, v)
#include "ukr_x86_impl.h"

/* The last one or two rows of C (see tail_rows in gemm_driver.c: the rows past the last
 * multiple of 8 at the very end of C), one row per call from an A panel of width 1 (the row,
 * contiguous along k). A tile kernel spends NR broadcasts of B per k step whatever its rows:
 * one row in the 8-row ymm tile costs a fifth of a 48-row tile for 1/48 of its work (M = 49,
 * a 7x7 convolution at batch 1: 14% of the time). Here the sum of column j runs in 16 lanes,
 * lane l taking the k steps p = l mod 16 in order, and the lanes are then added pairwise
 * (l with l + 8, + 4, + 2, + 1). With B read by columns (BT = 1) that is NR dot products of
 * 16-wide loads; with B rows (BT = 0) 16 accumulators of NR columns, one per lane. The two
 * orders are the same, so a row's result does not depend on how B was laid out. */
USINE_INLINE float lanes_tree_sum(__m512 v)
{
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0x4e)); /* l + (l + 8) */
    v = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, 0xb1)); /* + (l + 4) */
    v = _mm512_add_ps(v, _mm512_permute_ps(v, 0x4e));       /* + (l + 2) */
    v = _mm512_add_ps(v, _mm512_permute_ps(v, 0xb1));       /* + (l + 1) */
    return _mm512_cvtss_f32(v);
}

USINE_INLINE void ukr_row_zmm(int NR, int BT, int64_t k, const float *a, int64_t a_step,
                              const float *b, int64_t b_step, float *c, int64_t ldc, int n,
                              float alpha, float beta)
{
    float sum[16];
    __m512 acc[16];
#pragma GCC unroll 16
    for (int l = 0; l < 16; l++)
        acc[l] = _mm512_setzero_ps();
    int64_t p = 0;
    if (BT) { /* acc[j]: column j, lane l */
        for (; p + 16 <= k; p += 16) {
            const __m512 av = _mm512_loadu_ps(a + p); /* a width-1 panel: a_step is 1 */
#pragma GCC unroll 16
            for (int j = 0; j < NR; j++)
                acc[j] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + j * b_step + p), acc[j]);
        }
        if (p < k) { /* lanes past k keep their sums: no +0 that would turn -0 into +0 */
            const __mmask16 m = (__mmask16)((1u << (k - p)) - 1);
            const __m512 av = _mm512_maskz_loadu_ps(m, a + p);
#pragma GCC unroll 16
            for (int j = 0; j < NR; j++)
                acc[j] = _mm512_mask3_fmadd_ps(av, _mm512_maskz_loadu_ps(m, b + j * b_step + p),
                                               acc[j], m);
        }
#pragma GCC unroll 16
        for (int j = 0; j < NR; j++)
            sum[j] = lanes_tree_sum(acc[j]);
    } else { /* acc[l]: lane l, columns in the vector */
        const __mmask16 cols = (__mmask16)(NR >= 16 ? 0xffff : (1u << NR) - 1);
        for (; p + 16 <= k; p += 16)
#pragma GCC unroll 16
            for (int l = 0; l < 16; l++)
                acc[l] = _mm512_fmadd_ps(_mm512_set1_ps(a[(p + l) * a_step]),
                                         _mm512_maskz_loadu_ps(cols, b + (p + l) * b_step), acc[l]);
        for (int l = 0; p < k; p++, l++)
            acc[l] = _mm512_fmadd_ps(_mm512_set1_ps(a[p * a_step]),
                                     _mm512_maskz_loadu_ps(cols, b + p * b_step), acc[l]);
        for (int w = 8; w >= 1; w /= 2)
            for (int l = 0; l < w; l++)
                acc[l] = _mm512_add_ps(acc[l], acc[l + w]);
        _mm512_storeu_ps(sum, acc[0]);
    }
    for (int j = 0; j < n && j < NR; j++)
        c[j * ldc] = beta == 0.0f ? alpha * sum[j] : fmaf(alpha, sum[j], beta * c[j * ldc]);
}

/* The one-row kernel pair of the contract (gemm_kernel.h, m = 1) for NR columns. */
#define USINE_DEFINE_ROW_UKR(name, NR)                                                             \
    static void name(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step,      \
                     void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta)      \
    {                                                                                              \
        (void)m;                                                                                   \
        ukr_row_zmm(NR, 0, k, (const float *)a, a_step, (const float *)b, b_step, (float *)c, ldc, \
                    n, *(const float *)alpha, *(const float *)beta);                               \
    }                                                                                              \
    static void name##_bt(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step, \
                          void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta) \
    {                                                                                              \
        (void)m;                                                                                   \
        ukr_row_zmm(NR, 1, k, (const float *)a, a_step, (const float *)b, b_step, (float *)c, ldc, \
                    n, *(const float *)alpha, *(const float *)beta);                               \
    }

/* The first half of a transpose: every 4 x 4 block inside a 128-bit lane, for rows
 * r[0..n) (n a multiple of 4, at most 16): unpack pairs of rows, then pairs of pairs.
 * Afterwards lane L of r[i + j] holds column 4L + j of rows i..i+3 (i a multiple of 4). */
USINE_INLINE void transpose_lanes_4x4(__m512 r[], int n)
{
    __m512 t[16];
    for (int i = 0; i < n; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < n; i += 4) {
        const __m512d t0 = _mm512_castps_pd(t[i]), t1 = _mm512_castps_pd(t[i + 1]);
        const __m512d t2 = _mm512_castps_pd(t[i + 2]), t3 = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
}

/* 16 x 16 transpose in registers: the 4 x 4 blocks, then the 128-bit lanes moved in two
 * rounds of shuffle_f32x4: 64 shuffles for 256 elements. */
USINE_INLINE void transpose_16x16(__m512 r[16])
{
    __m512 t[16];
    transpose_lanes_4x4(r, 16);
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
    }
}

/* Two 8 x 8 transposes at once, one in each 256-bit half: rows r[0..7] hold 16 columns;
 * afterwards r[q] holds column q of the first 8 (low half) and column q + 8 (high half).
 * 24 shuffles for 128 elements, against 64 for a 16 x 16 transpose half of zeros. */
USINE_INLINE void transpose_8x8_pair(__m512 r[8])
{
    __m512 t[8];
    transpose_lanes_4x4(r, 8);
    /* Lanes (0, 2) of r[i] and r[i + 4], then lanes (1, 3); then each half's lanes in order. */
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
    }
    const __m512i halves = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15);
    for (int i = 0; i < 8; i++)
        r[i] = _mm512_permutexvar_ps(halves, t[i]);
}

/*
 * B panels of width W (<= 16) from a column-major B (cs == 1 for X = B^T) are a transpose:
 * 16 columns of W rows at a time through transpose_16x16, about 5x faster than element
 * copies (measured: B packing 1.4% -> 0.4% of a 2048^3 product). Partial panels and other
 * strides go the generic way.
 */
USINE_INLINE void avx512_pack_b_f32(int W, int64_t rows, int64_t k, const void *xv, int64_t rs,
                                    int64_t cs, void *dstv)
{
    const int64_t full = cs == 1 ? rows / W * W : 0;
    const float *x = (const float *)xv;
    float *dst = (float *)dstv;
    const __mmask16 row_mask = (__mmask16)((1u << W) - 1);
    for (int64_t i0 = 0; i0 < full; i0 += W, x += W * rs, dst += W * k) {
        int64_t p = 0;
        for (; W == 8 && p + 16 <= k; p += 16) {
            __m512 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = _mm512_loadu_ps(x + i * rs + p);
            transpose_8x8_pair(r);
            for (int q = 0; q < 8; q++) {
                _mm256_storeu_ps(dst + (p + q) * 8, _mm512_castps512_ps256(r[q]));
                _mm256_storeu_ps(dst + (p + q + 8) * 8, _mm512_extractf32x8_ps(r[q], 1));
            }
        }
        for (; p + 16 <= k; p += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < W ? _mm512_loadu_ps(x + i * rs + p) : _mm512_setzero_ps();
            transpose_16x16(r);
            for (int q = 0; q < 16; q++)
                _mm512_mask_storeu_ps(dst + (p + q) * W, row_mask, r[q]);
        }
        for (; p < k; p++)
            for (int i = 0; i < W; i++)
                dst[p * W + i] = x[i * rs + p];
    }
    usine_pack_panels(W, (int)sizeof(float), rows - full, k, x, rs, cs, dst);
}

USINE_DEFINE_EPILOGUE(avx512_epilogue_f32, float, tanhf, erff)

#endif
