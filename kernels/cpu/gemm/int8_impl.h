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
#include <string.h>

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

/* The scale of element (i, j) (global indices in the driver's view). */
static inline double usine_int8_scale(const usine_epilogue *e, int64_t i, int64_t j)
{
    if (!e->scales)
        return 1.0;
    return e->scale_count == 1 ? e->scales[0] : e->scales[e->scale_per_row ? i : j];
}

/*
 * The int8 epilogue (usine_epilogue_fn) around an f32 one: the exact sum of each element
 * from the tile of packed sums (see usine_epilogue); s32 output gets it (plus C when
 * beta == 1, saturated to the s32 range); f32 output gets scale * sum written over the
 * tile in place (the same 4 bytes), then the f32 epilogue's alpha, beta, bias, activation.
 */
#define USINE_DEFINE_INT8_EPILOGUE(name, f32_epilogue)                                             \
    static void name(const usine_epilogue *e, int64_t row0, int64_t col0, int m, int n,            \
                     void *tile, int64_t ldt)                                                      \
    {                                                                                              \
        const int64_t kzz = e->k * (int64_t)e->zero_a * (int64_t)e->zero_b;                        \
        for (int j = 0; j < n; j++) {                                                              \
            int32_t *col = (int32_t *)tile + j * ldt;                                              \
            const int64_t cj =                                                                     \
                e->col_sums ? (int64_t)e->zero_a * e->col_sums[col0 + j - e->sums_col0] : 0;       \
            const int32_t *rs = e->row_sums ? e->row_sums + (row0 - e->sums_row0) : NULL;          \
            if (e->out_type == USINE_S32) {                                                        \
                int32_t *out = (int32_t *)e->out + (col0 + j) * e->ldo + row0;                     \
                for (int i = 0; i < m; i++) {                                                      \
                    int64_t s = col[i] - cj + kzz - (rs ? (int64_t)e->zero_b * rs[i] : 0);         \
                    if (e->beta != 0.0)                                                            \
                        s += out[i];                                                               \
                    out[i] = s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : (int32_t)s;   \
                }                                                                                  \
            } else {                                                                               \
                for (int i = 0; i < m; i++) {                                                      \
                    const int64_t s = col[i] - cj + kzz - (rs ? (int64_t)e->zero_b * rs[i] : 0);   \
                    const float v = (float)((double)s * usine_int8_scale(e, row0 + i, col0 + j));  \
                    memcpy(&col[i], &v, sizeof v);                                                 \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        if (e->out_type != USINE_S32)                                                              \
            f32_epilogue(e, row0, col0, m, n, tile, ldt);                                          \
    }

#endif
