/*
 * f64 GEMM for AVX-512 (x86-64-v4): a 16x12 tile, with 8x12 (zmm) and 4x12 (ymm, VL)
 * kernels for the last rows. Same register map as the f32 kernel (avx512_sgemm.c): 24 zmm
 * accumulators, 2 for the A column, B broadcast from memory into the FMAs.
 */
#include <immintrin.h>

#include "gemm_kernel.h"
#include "gemv_impl.h"
#include "pack_impl.h"

/* FMA with a broadcast memory operand: see avx512_sgemm.c for why this is asm. */
USINE_INLINE __m512d fma_bcast_zmm(__m512d a, const double *p, __m512d c)
{
    __asm__("vfmadd231pd %1%{1to8%}, %2, %0" : "+v"(c) : "m"(*p), "v"(a));
    return c;
}

USINE_INLINE __m256d fma_bcast_ymm(__m256d a, const double *p, __m256d c)
{
    __asm__("vfmadd231pd %1%{1to4%}, %2, %0" : "+v"(c) : "m"(*p), "v"(a));
    return c;
}

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
#define UKR_FMA_BCAST(a, p, c)    fma_bcast_zmm(a, p, c)
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
#define UKR_FMA_BCAST(a, p, c)    fma_bcast_ymm(a, p, c)
#include "ukr_x86_impl.h"

#define NR 12

/* ukr (B~ by rows) and ukr_bt (B~ by columns) for one tile shape. */
#define DEFINE_UKR(name, body, MV)                                                                 \
    static void name(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step,      \
                     void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta)      \
    {                                                                                              \
        body(MV, NR, 0, k, (const double *)a, a_step, (const double *)b, b_step, (double *)c, ldc, \
             m, n, *(const double *)alpha, *(const double *)beta);                                 \
    }                                                                                              \
    static void name##_bt(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step, \
                          void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta) \
    {                                                                                              \
        body(MV, NR, 1, k, (const double *)a, a_step, (const double *)b, b_step, (double *)c, ldc, \
             m, n, *(const double *)alpha, *(const double *)beta);                                 \
    }

DEFINE_UKR(ukr_16x12, ukr_zmm, 2)
DEFINE_UKR(ukr_8x12, ukr_zmm, 1)
DEFINE_UKR(ukr_4x12, ukr_ymm, 1)
USINE_DEFINE_PACK(pack_16, double, 16)
USINE_DEFINE_PACK(pack_8, double, 8)
USINE_DEFINE_PACK(pack_4, double, 4)
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

/* B panels from a column-major B are a transpose (see avx512_sgemm.c): 8 columns of 12
 * rows at a time, as two 8 x 8 transposes (the second with 4 rows of zeros). */
static void pack_12(int64_t rows, int64_t k, const void *xv, int64_t rs, int64_t cs, void *dstv)
{
    const int64_t full = cs == 1 ? rows / NR * NR : 0;
    const double *x = (const double *)xv;
    double *dst = (double *)dstv;
    for (int64_t i0 = 0; i0 < full; i0 += NR, x += NR * rs, dst += NR * k) {
        int64_t p = 0;
        for (; p + 8 <= k; p += 8) {
            __m512d lo[8], hi[8];
            for (int i = 0; i < 8; i++)
                lo[i] = _mm512_loadu_pd(x + i * rs + p);
            for (int i = 0; i < 8; i++)
                hi[i] = i < NR - 8 ? _mm512_loadu_pd(x + (8 + i) * rs + p) : _mm512_setzero_pd();
            transpose_8x8(lo);
            transpose_8x8(hi);
            for (int q = 0; q < 8; q++) {
                _mm512_storeu_pd(dst + (p + q) * NR, lo[q]);
                _mm512_mask_storeu_pd(dst + (p + q) * NR + 8, 0x0f, hi[q]);
            }
        }
        for (; p < k; p++)
            for (int i = 0; i < NR; i++)
                dst[p * NR + i] = x[i * rs + p];
    }
    usine_pack_panels(NR, (int)sizeof(double), rows - full, k, x, rs, cs, dst);
}
USINE_DEFINE_GEMV(gemv, double)

const usine_gemm_kernel usine_dgemm_cpu_avx512_16x12 = {
    .name = "usine_dgemm_cpu_avx512_16x12",
    .dtype = USINE_F64,
    .isa = USINE_ISA_AVX512,
    .mr = 16,
    .nr = NR,
    .ukr = ukr_16x12,
    .ukr_bt = ukr_16x12_bt,
    .pack_a = pack_16,
    .pack_b = pack_12,
    .gemv = gemv,
    .n_edges = 2,
    .edges = {{8, ukr_8x12, ukr_8x12_bt, pack_8}, {4, ukr_4x12, ukr_4x12_bt, pack_4}},
};
