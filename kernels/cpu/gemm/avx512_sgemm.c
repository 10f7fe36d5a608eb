/*
 * f32 GEMM for AVX-512 (x86-64-v4): a 32x12 tile, with 16x12 (zmm) and 8x12 (ymm, VL)
 * kernels for the last rows.
 *
 * Register map of the 32x12 tile: 24 zmm accumulators (2 vectors of 16 rows x 12
 * columns), 2 zmm for the A column, B broadcast straight from memory into the FMA
 * ({1to16} operand): 26 of the 32 zmm registers. 24 independent FMA chains cover the
 * FMA latency (4 cycles) times the issue rate (2 per cycle on Skylake-X, 1 zmm per cycle
 * on Zen 4) with room to spare. Per k step: 2 vector loads and 12 broadcasts against 24
 * FMAs, inside the two-loads-per-cycle budget.
 */
#include <immintrin.h>

#include "gemm_kernel.h"
#include "gemv_impl.h"
#include "pack_impl.h"

/* FMA with the B element broadcast from memory ({1toN}): one instruction instead of a
 * broadcast and an FMA. GCC does not fold a broadcast used by two FMAs, hence the asm;
 * fewer instructions per k step let the core run further ahead of L2 and L3 misses
 * (measured: 2048^3 on Zen 4 went from 92% to 94% of peak). */
USINE_INLINE __m512 fma_bcast_zmm(__m512 a, const float *p, __m512 c)
{
    __asm__("vfmadd231ps %1%{1to16%}, %2, %0" : "+v"(c) : "m"(*p), "v"(a));
    return c;
}

USINE_INLINE __m256 fma_bcast_ymm(__m256 a, const float *p, __m256 c)
{
    __asm__("vfmadd231ps %1%{1to8%}, %2, %0" : "+v"(c) : "m"(*p), "v"(a));
    return c;
}

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
#define UKR_FMA_BCAST(a, p, c)    fma_bcast_zmm(a, p, c)
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
#define UKR_FMA_BCAST(a, p, c)    fma_bcast_ymm(a, p, c)
#include "ukr_x86_impl.h"

#define NR 12

/* ukr (B~ by rows) and ukr_bt (B~ by columns) for one tile shape. */
#define DEFINE_UKR(name, body, MV)                                                                 \
    static void name(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step,      \
                     void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta)      \
    {                                                                                              \
        body(MV, NR, 0, k, (const float *)a, a_step, (const float *)b, b_step, (float *)c, ldc, m, \
             n, *(const float *)alpha, *(const float *)beta);                                      \
    }                                                                                              \
    static void name##_bt(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step, \
                          void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta) \
    {                                                                                              \
        body(MV, NR, 1, k, (const float *)a, a_step, (const float *)b, b_step, (float *)c, ldc, m, \
             n, *(const float *)alpha, *(const float *)beta);                                      \
    }

DEFINE_UKR(ukr_32x12, ukr_zmm, 2)
DEFINE_UKR(ukr_16x12, ukr_zmm, 1)
DEFINE_UKR(ukr_8x12, ukr_ymm, 1)
USINE_DEFINE_PACK(pack_32, float, 32)
USINE_DEFINE_PACK(pack_16, float, 16)
USINE_DEFINE_PACK(pack_8, float, 8)
/* 16 x 16 transpose in registers (Intel's optimization manual, section on AVX-512 transposes:
 * unpack pairs, then quads, then 128-bit lanes twice): 64 shuffles for 256 elements. */
USINE_INLINE void transpose_16x16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(
            _mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(
            _mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(
            _mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(
            _mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
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

/* B panels from a column-major B (the common case, cs == 1 for X = B^T) are a transpose:
 * 16 columns of 12 rows at a time through transpose_16x16, 5x faster than element copies
 * (measured: pack 2% -> 0.4% of a 2048^3 product). Everything else goes the generic way. */
static void pack_12(int64_t rows, int64_t k, const void *xv, int64_t rs, int64_t cs, void *dstv)
{
    const int64_t full = cs == 1 ? rows / NR * NR : 0;
    const float *x = (const float *)xv;
    float *dst = (float *)dstv;
    for (int64_t i0 = 0; i0 < full; i0 += NR, x += NR * rs, dst += NR * k) {
        int64_t p = 0;
        for (; p + 16 <= k; p += 16) {
            __m512 r[16];
            for (int i = 0; i < NR; i++)
                r[i] = _mm512_loadu_ps(x + i * rs + p);
            for (int i = NR; i < 16; i++)
                r[i] = _mm512_setzero_ps();
            transpose_16x16(r);
            for (int q = 0; q < 16; q++)
                _mm512_mask_storeu_ps(dst + (p + q) * NR, 0x0fff, r[q]);
        }
        for (; p < k; p++)
            for (int i = 0; i < NR; i++)
                dst[p * NR + i] = x[i * rs + p];
    }
    usine_pack_panels(NR, (int)sizeof(float), rows - full, k, x, rs, cs, dst);
}

USINE_DEFINE_GEMV(gemv, float)

const usine_gemm_kernel usine_sgemm_cpu_avx512_32x12 = {
    .name = "usine_sgemm_cpu_avx512_32x12",
    .dtype = USINE_F32,
    .isa = USINE_ISA_AVX512,
    .mr = 32,
    .nr = NR,
    .ukr = ukr_32x12,
    .ukr_bt = ukr_32x12_bt,
    .pack_a = pack_32,
    .pack_b = pack_12,
    .gemv = gemv,
    .n_edges = 2,
    .edges = {{16, ukr_16x12, ukr_16x12_bt, pack_16}, {8, ukr_8x12, ukr_8x12_bt, pack_8}},
};
