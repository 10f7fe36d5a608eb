/*
 * The AVX-512 f64 building blocks shared by the kernels avx512_dgemm_*.c: the microkernel
 * bodies for zmm and ymm vectors and the transposing B packer.
 * Included only by files compiled with the AVX-512 flags.
 */
#ifndef USINE_KERNELS_CPU_GEMM_AVX512_F64_IMPL_H
#define USINE_KERNELS_CPU_GEMM_AVX512_F64_IMPL_H

#include <immintrin.h>

#include "epilogue_impl.h"
#include "gemm_kernel.h"
#include "gemv_impl.h"
#include "pack_impl.h"
#include "ukr_define.h"

#define UKR_FUNC                  ukr_zmm
#define UKR_T                     double
#define UKR_V                     __m512d
#define UKR_LANES                 8
#define UKR_MASK                  __mmask8
#define UKR_MASK_FOR(rows)        ((__mmask8)((rows) >= 8 ? 0xff : (rows) <= 0 ? 0 : (1u << (rows)) - 1))
#define UKR_LOAD(p)               _mm512_loadu_pd(p)
#define UKR_BCAST(x)              _mm512_set1_pd(x)
#define UKR_FMA(a, b, c)          _mm512_fmadd_pd(a, b, c)
#define UKR_MUL(a, b)             _mm512_mul_pd(a, b)
#define UKR_ZERO()                _mm512_setzero_pd()
#define UKR_MASKLOAD(mask, p)     _mm512_maskz_loadu_pd(mask, p)
#define UKR_MASKSTORE(p, mask, v) _mm512_mask_storeu_pd(p, mask, v)
#include "ukr_x86_impl.h"

#define UKR_FUNC                  ukr_ymm
#define UKR_T                     double
#define UKR_V                     __m256d
#define UKR_LANES                 4
#define UKR_MASK                  __mmask8
#define UKR_MASK_FOR(rows)        ((__mmask8)((rows) >= 4 ? 0xf : (rows) <= 0 ? 0 : (1u << (rows)) - 1))
#define UKR_LOAD(p)               _mm256_loadu_pd(p)
#define UKR_BCAST(x)              _mm256_set1_pd(x)
#define UKR_FMA(a, b, c)          _mm256_fmadd_pd(a, b, c)
#define UKR_MUL(a, b)             _mm256_mul_pd(a, b)
#define UKR_ZERO()                _mm256_setzero_pd()
#define UKR_MASKLOAD(mask, p)     _mm256_maskz_loadu_pd(mask, p)
#define UKR_MASKSTORE(p, mask, v) _mm256_mask_storeu_pd(p, mask, v)
#include "ukr_x86_impl.h"

/* 8 x 8 transpose in registers: unpack pairs, then 256-bit and 128-bit lane shuffles. */
USINE_INLINE void transpose_8x8(__m512d r[8])
{
    __m512d t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm512_shuffle_f64x2(t[i], t[i + 2], 0x88);
        r[i + 1] = _mm512_shuffle_f64x2(t[i + 1], t[i + 3], 0x88);
        r[i + 2] = _mm512_shuffle_f64x2(t[i], t[i + 2], 0xdd);
        r[i + 3] = _mm512_shuffle_f64x2(t[i + 1], t[i + 3], 0xdd);
    }
    for (int i = 0; i < 2; i++) {
        t[i] = _mm512_shuffle_f64x2(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f64x2(r[i], r[i + 4], 0xdd);
        t[i + 2] = _mm512_shuffle_f64x2(r[i + 2], r[i + 6], 0x88);
        t[i + 6] = _mm512_shuffle_f64x2(r[i + 2], r[i + 6], 0xdd);
    }
    for (int i = 0; i < 8; i++)
        r[i] = t[i];
}

/*
 * B panels of width W (<= 16) from a column-major B (cs == 1 for X = B^T) are a transpose:
 * 8 columns at a time, each group of 8 rows through transpose_8x8 (the last group padded
 * with zero rows). Partial panels and other strides go the generic way.
 */
USINE_INLINE void avx512_pack_b_f64(int W, int64_t rows, int64_t k, const void *xv, int64_t rs,
                                    int64_t cs, void *dstv)
{
    const int64_t full = cs == 1 ? rows / W * W : 0;
    const double *x = (const double *)xv;
    double *dst = (double *)dstv;
    for (int64_t i0 = 0; i0 < full; i0 += W, x += W * rs, dst += W * k) {
        int64_t p = 0;
        for (; p + 8 <= k; p += 8) {
            for (int g = 0; g < W; g += 8) {
                const int n = W - g < 8 ? W - g : 8;
                __m512d r[8];
                for (int i = 0; i < 8; i++)
                    r[i] = i < n ? _mm512_loadu_pd(x + (g + i) * rs + p) : _mm512_setzero_pd();
                transpose_8x8(r);
                for (int q = 0; q < 8; q++)
                    _mm512_mask_storeu_pd(dst + (p + q) * W + g, (__mmask8)((1u << n) - 1), r[q]);
            }
        }
        for (; p < k; p++)
            for (int i = 0; i < W; i++)
                dst[p * W + i] = x[i * rs + p];
    }
    usine_pack_panels(W, (int)sizeof(double), rows - full, k, x, rs, cs, dst);
}

USINE_DEFINE_EPILOGUE(avx512_epilogue_f64, double, tanh, erf)

#endif
