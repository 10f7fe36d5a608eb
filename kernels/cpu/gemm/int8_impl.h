/*
 * The int8 building blocks shared by the u8s8 kernels: packing into quads, panel sums and
 * the epilogue that compensates zero points and sign flips.
 *
 * Packed panels (k_unit 4, the vpdpbusd layout): group g (k values 4g .. 4g + 3) holds W
 * rows of 4 bytes, element (i, 4g + u) at dst[(g * W + i) * 4 + u]. A panels hold u8, B
 * panels s8; an operand of the other signedness is stored with its sign bit flipped
 * (x ^ 0x80: s8 x becomes the u8 x + 128, u8 x the s8 x - 128). Rows past the matrix and
 * k past its end are 0 in the packed domain, so they add nothing to sums or products.
 */
#ifndef USINE_KERNELS_CPU_GEMM_INT8_IMPL_H
#define USINE_KERNELS_CPU_GEMM_INT8_IMPL_H

#include <stdint.h>

#include "epilogue_impl.h"
#include "gemm_kernel.h"
#include "pack_impl.h"

#define USINE_INT8_FLIP 0x80

/* Any strides, element by element, groups g0 on. */
USINE_INLINE void usine_pack_quads_any(int W, int r, int64_t k, const uint8_t *x, int64_t rs,
                                       int64_t cs, uint8_t *dst, int64_t g0, uint8_t flip)
{
    const int64_t groups = (k + 3) / 4;
    for (int64_t g = g0; g < groups; g++)
        for (int i = 0; i < W; i++)
            for (int u = 0; u < 4; u++) {
                const int64_t p = 4 * g + u;
                dst[(g * W + i) * 4 + u] =
                    i < r && p < k ? (uint8_t)(x[i * rs + p * cs] ^ flip) : 0;
            }
}

/* The sums over k of the W rows of a packed panel, added to sums (u8 or s8 elements). */
USINE_INLINE void usine_sum_quads_any(int W, int64_t k, const uint8_t *panel, int32_t *sums,
                                      int is_signed)
{
    const int64_t groups = (k + 3) / 4;
    for (int64_t g = 0; g < groups; g++)
        for (int i = 0; i < W; i++)
            for (int u = 0; u < 4; u++) {
                const uint8_t v = panel[(g * W + i) * 4 + u];
                sums[i] += is_signed ? (int32_t)(int8_t)v : (int32_t)v;
            }
}

/* The portable packing and sums of an int8 kernel with MR x NR tiles (no ISA code): pack_a,
 * pack_b (usine_gemm_pack_fn), pack_flipped (its pack_convert) and sum_a, sum_b. */
#define USINE_DEFINE_INT8_PORTABLE_PACKING(MR, NR)                                                 \
    static void pack_quads(int W, int64_t rows, int64_t k, const void *xv, int64_t rs, int64_t cs, \
                           void *dstv, uint8_t flip)                                               \
    {                                                                                              \
        const uint8_t *x = (const uint8_t *)xv;                                                    \
        uint8_t *dst = (uint8_t *)dstv;                                                            \
        for (int64_t i0 = 0; i0 < rows;                                                            \
             i0 += W, x += W * rs, dst += (int64_t)W * ((k + 3) / 4) * 4)                          \
            usine_pack_quads_any(W, rows - i0 < W ? (int)(rows - i0) : W, k, x, rs, cs, dst, 0,    \
                                 flip);                                                            \
    }                                                                                              \
    static void pack_a(int64_t rows, int64_t k, const void *x, int64_t rs, int64_t cs, void *dst)  \
    {                                                                                              \
        pack_quads(MR, rows, k, x, rs, cs, dst, 0);                                                \
    }                                                                                              \
    static void pack_b(int64_t rows, int64_t k, const void *x, int64_t rs, int64_t cs, void *dst)  \
    {                                                                                              \
        pack_quads(NR, rows, k, x, rs, cs, dst, 0);                                                \
    }                                                                                              \
    static void pack_flipped(int W, usine_dtype src, int64_t rows, int64_t k, const void *x,       \
                             int64_t rs, int64_t cs, void *dst)                                    \
    {                                                                                              \
        (void)src;                                                                                 \
        pack_quads(W, rows, k, x, rs, cs, dst, USINE_INT8_FLIP);                                   \
    }                                                                                              \
    static void sum_a(int W, int64_t k, const void *panel, int32_t *sums)                          \
    {                                                                                              \
        usine_sum_quads_any(W, k, (const uint8_t *)panel, sums, 0);                                \
    }                                                                                              \
    static void sum_b(int W, int64_t k, const void *panel, int32_t *sums)                          \
    {                                                                                              \
        usine_sum_quads_any(W, k, (const uint8_t *)panel, sums, 1);                                \
    }

/* One column of exact sums, col[i] + base - z * r[i] (z = 0 when there are no row sums), to
 * s32: saturated, plus the old value when accumulating (beta == 1; otherwise out is not
 * read). Branch-free loops: they vectorise. */
USINE_INLINE void usine_int8_column_s32(const int32_t *col, const int32_t *r, int64_t z,
                                        int64_t base, int accumulate, int fits, int32_t *out, int m)
{
    if (fits && !accumulate) {
        /* The exact sum fits in s32: arithmetic modulo 2^32 (unsigned, defined) gives it,
         * twice as many lanes as 64-bit (measured: 2048^3 u8 x s8 +2%). */
        const uint32_t zu = (uint32_t)z, bu = (uint32_t)base;
#pragma omp simd
        for (int i = 0; i < m; i++)
            out[i] = (int32_t)((uint32_t)col[i] + bu - zu * (uint32_t)r[i]);
        return;
    }
    if (accumulate) {
#pragma omp simd
        for (int i = 0; i < m; i++) {
            const int64_t v = col[i] + base - z * r[i] + out[i];
            out[i] = (int32_t)(v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v);
        }
    } else {
#pragma omp simd
        for (int i = 0; i < m; i++) {
            const int64_t v = col[i] + base - z * r[i];
            out[i] = (int32_t)(v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v);
        }
    }
}

/* The same sums times the scale (one per row times `scale`, or `scale` alone), rounded to f32
 * once, written over the tile (the same 4 bytes per element). */
USINE_INLINE void usine_int8_column_f32(int32_t *col, const int32_t *r, int64_t z, int64_t base,
                                        const float *row_scales, double scale, int m)
{
    float *f = (float *)(void *)col; /* each element is read before it is overwritten */
    if (row_scales) {
#pragma omp simd
        for (int i = 0; i < m; i++)
            f[i] = (float)((double)(col[i] + base - z * r[i]) * ((double)row_scales[i] * scale));
    } else {
#pragma omp simd
        for (int i = 0; i < m; i++)
            f[i] = (float)((double)(col[i] + base - z * r[i]) * scale);
    }
}

/*
 * The int8 epilogue (usine_epilogue_fn) around an f32 one: the exact sum of each element
 * from the tile of packed sums (see usine_epilogue); s32 output gets it (plus C when
 * beta == 1, saturated to the s32 range); f32 output gets scale * sum written over the
 * tile in place, then the f32 epilogue's alpha, beta, bias, activation. With out == NULL
 * the tile is C itself (beta == 0): s32 results replace the sums, and f32 ones get alpha
 * here and bias and activation from the f32 epilogue.
 */
#define USINE_DEFINE_INT8_EPILOGUE(name, f32_epilogue)                                             \
    static void name(const usine_epilogue *e, int64_t row0, int64_t col0, int m, int n,            \
                     void *tile, int64_t ldt)                                                      \
    {                                                                                              \
        const int64_t kzz = e->k * (int64_t)e->zero_a * (int64_t)e->zero_b;                        \
        /* Without row sums, z = 0 and r points at the tile: valid and multiplied by 0. */         \
        const int64_t z = e->row_sums ? e->zero_b : 0;                                             \
        const int per_row = e->scales && e->scale_count > 1 && e->scale_per_row;                   \
        for (int j = 0; j < n; j++) {                                                              \
            int32_t *col = (int32_t *)tile + j * ldt;                                              \
            const int32_t *r = e->row_sums ? e->row_sums + (row0 - e->sums_row0) : col;            \
            const int64_t cj =                                                                     \
                e->col_sums ? (int64_t)e->zero_a * e->col_sums[col0 + j - e->sums_col0] : 0;       \
            if (e->out_type == USINE_S32) {                                                        \
                int32_t *out = e->out ? (int32_t *)e->out + (col0 + j) * e->ldo + row0 : col;      \
                usine_int8_column_s32(col, r, z, kzz - cj, e->out && e->beta != 0.0,               \
                                      e->sums_fit_s32, out, m);                                    \
                continue;                                                                          \
            }                                                                                      \
            const double alpha = e->out ? 1.0 : e->alpha;                                          \
            const double scale = !e->scales || per_row ? alpha                                     \
                                 : e->scale_count == 1 ? alpha * e->scales[0]                      \
                                                       : alpha * e->scales[col0 + j];              \
            usine_int8_column_f32(col, r, z, kzz - cj, per_row ? e->scales + row0 : NULL, scale,   \
                                  m);                                                              \
        }                                                                                          \
        if (e->out_type != USINE_S32)                                                              \
            f32_epilogue(e, row0, col0, m, n, tile, ldt);                                          \
    }

#endif
