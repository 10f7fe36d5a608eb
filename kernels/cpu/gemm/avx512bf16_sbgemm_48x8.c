/*
 * bf16 x bf16 -> f32 GEMM for AVX512-BF16 (Cooper Lake, Sapphire Rapids, Zen 4).
 *
 * vdpbf16ps multiplies 16 pairs of bf16 and adds each pair's sum to an f32 lane: 64 flops
 * per instruction, twice an f32 FMA, at the same rate (measured on Zen 4: 235 GFLOP/s per
 * core against 117 for f32). The tile is the f32 kernel's 48x8 (24 zmm accumulators,
 * 3 loads of A and 8 broadcasts of B per step), a step now being a pair of k values:
 * the packed panels keep each row's two bf16 of a pair side by side (one dword), so a zmm
 * of A is 16 rows x 2 k values and a broadcast dword of B is one column's pair. The
 * microkernel body is the f32 one (ukr_x86_impl.h) with the broadcast FMA replaced and
 * k counted in pairs; odd k ends on a pair padded with zero.
 *
 * Products are exact in f32 (8-bit significands) and the pair sums are rounded once per
 * instruction; the hardware treats bf16 denormal inputs as zero and flushes f32 denormal
 * results (AVX512-BF16 ignores MXCSR), which the test tolerances account for.
 */
#include "avx512_f32_impl.h"

/* acc += the pair products of a and b (the same pair broadcast to every lane). */
#define DPBF16_ZMM(a, b, acc) _mm512_dpbf16_ps(acc, (__m512bh)(a), (__m512bh)(b))
#define DPBF16_YMM(a, b, acc) _mm256_dpbf16_ps(acc, (__m256bh)(a), (__m256bh)(b))

/* The f32 body of ukr_x86_impl.h on dwords of bf16 pairs: loads and broadcasts move pairs,
 * the accumulators and the store are f32. */
#define UKR_FUNC  ukr_bf16_zmm
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
#define UKR_DOT(a, b, c)          DPBF16_ZMM(a, b, c)
#include "ukr_x86_impl.h"

#define UKR_FUNC                  ukr_bf16_ymm
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
#define UKR_DOT(a, b, c)          DPBF16_YMM(a, b, c)
#include "ukr_x86_impl.h"

#define NR 8

/* k values in, pairs through the body (a_step and b_step: dwords per pair = the panel width). */
#define DEFINE_PAIR_UKR(name, body, MV)                                                            \
    static void name(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step,      \
                     void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta)      \
    {                                                                                              \
        body(MV, NR, 0, (k + 1) / 2, (const float *)a, a_step, (const float *)b, b_step,           \
             (float *)c, ldc, m, n, *(const float *)alpha, *(const float *)beta, NULL, 0);         \
    }

DEFINE_PAIR_UKR(ukr_48x8, ukr_bf16_zmm, 3)
DEFINE_PAIR_UKR(ukr_32x8, ukr_bf16_zmm, 2)
DEFINE_PAIR_UKR(ukr_16x8, ukr_bf16_zmm, 1)
DEFINE_PAIR_UKR(ukr_8x8, ukr_bf16_ymm, 1)

/* ------------------------------------------------------------------ packing */

/* Element (i, 2g + u) of the panel: dst[(g * W + i) * 2 + u]. */

/* Any strides: element by element, zero past the rows and past k. */
static void pack_pairs_any(int W, int r, int64_t k, const uint16_t *x, int64_t rs, int64_t cs,
                           uint16_t *dst, int64_t g0)
{
    const int64_t groups = (k + 1) / 2;
    for (int64_t g = g0; g < groups; g++)
        for (int i = 0; i < W; i++)
            for (int u = 0; u < 2; u++) {
                const int64_t p = 2 * g + u;
                dst[(g * W + i) * 2 + u] = i < r && p < k ? x[i * rs + p * cs] : 0;
            }
}

/* Columns contiguous (rs == 1): the two columns of a pair are interleaved 16 rows at a
 * time by one two-source permute. Every panel of the block advances together, pair by
 * pair, so that the columns are read along their length (see the int8 kernel's packing). */
static void pack_pairs_from_columns(int W, int64_t rows, int64_t k, const uint16_t *x, int64_t cs,
                                    uint16_t *dst)
{
    const int64_t panel = (int64_t)W * ((k + 1) / 2) * 2;
    const int step = W < 16 ? W : 16;
    static const uint16_t zip[32] = {0, 32, 1, 33, 2,  34, 3,  35, 4,  36, 5,  37, 6,  38, 7,  39,
                                     8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
    const __m512i idx = _mm512_loadu_si512(zip);
    for (int64_t g = 0; 2 * g < k; g++) {
        const uint16_t *c0 = x + 2 * g * cs, *c1 = c0 + cs;
        for (int64_t i0 = 0; i0 < (rows + W - 1) / W * W; i0 += step) {
            const int64_t left = rows - i0;
            const int valid = left >= step ? step : left > 0 ? (int)left : 0;
            const __mmask16 live = (__mmask16)((1u << valid) - 1);
            const __m256i lo = _mm256_maskz_loadu_epi16(live, c0 + i0);
            const __m256i hi =
                2 * g + 1 < k ? _mm256_maskz_loadu_epi16(live, c1 + i0) : _mm256_setzero_si256();
            const __m512i v = _mm512_permutex2var_epi16(_mm512_castsi256_si512(lo), idx,
                                                        _mm512_castsi256_si512(hi));
            const __mmask32 out = step == 16 ? 0xffffffffu : 0xffffu;
            _mm512_mask_storeu_epi16(dst + i0 / W * panel + (g * W + i0 % W) * 2, out, v);
        }
    }
}

/* Rows contiguous along k (cs == 1): a pair is a dword of the row (unaligned when rs is
 * odd: the loads do not care), so packing is a transpose of dwords, 16 rows x 16 pairs at
 * a time. */
static void pack_pairs_from_rows(int W, int r, int64_t k, const uint16_t *x, int64_t rs,
                                 uint16_t *dst)
{
    const int64_t blocks = k / 32; /* 16 whole pairs per row */
    for (int64_t gb = 0; gb < blocks; gb++) {
        for (int i0 = 0; i0 < W; i0 += 16) {
            __m512 v[16];
            for (int i = 0; i < 16; i++)
                v[i] =
                    i0 + i < r ? _mm512_loadu_ps(x + (i0 + i) * rs + gb * 32) : _mm512_setzero_ps();
            transpose_16x16(v);
            const int lanes = W - i0 >= 16 ? 16 : W - i0;
            const __mmask16 out = (__mmask16)((1u << lanes) - 1);
            for (int q = 0; q < 16; q++)
                _mm512_mask_storeu_ps(dst + ((gb * 16 + q) * W + i0) * 2, out, v[q]);
        }
    }
    pack_pairs_any(W, r, k, x, rs, 1, dst, blocks * 16);
}

/* Packing as usine_gemm_pack_fn, W rows per panel, into pairs. */
static void pack_pairs(int W, int64_t rows, int64_t k, const void *xv, int64_t rs, int64_t cs,
                       void *dstv)
{
    const uint16_t *x = (const uint16_t *)xv;
    uint16_t *dst = (uint16_t *)dstv;
    if (rs == 1) {
        pack_pairs_from_columns(W, rows, k, x, cs, dst);
        return;
    }
    const int64_t panel = (int64_t)W * ((k + 1) / 2) * 2;
    for (int64_t i0 = 0; i0 < rows; i0 += W, x += W * rs, dst += panel) {
        const int r = rows - i0 < W ? (int)(rows - i0) : W;
        if (cs == 1)
            pack_pairs_from_rows(W, r, k, x, rs, dst);
        else
            pack_pairs_any(W, r, k, x, rs, cs, dst, 0);
    }
}

#define DEFINE_PACK(name, W)                                                                       \
    static void name(int64_t rows, int64_t k, const void *x, int64_t rs, int64_t cs, void *dst)    \
    {                                                                                              \
        pack_pairs(W, rows, k, x, rs, cs, dst);                                                    \
    }

DEFINE_PACK(pack_48, 48)
DEFINE_PACK(pack_32, 32)
DEFINE_PACK(pack_16, 16)
DEFINE_PACK(pack_8, 8)

const usine_gemm_kernel usine_sbgemm_cpu_avx512bf16_48x8 = {
    .name = "usine_sbgemm_cpu_avx512bf16_48x8",
    .dtype = USINE_F32,
    .in_type = USINE_BF16,
    .k_unit = 2,
    .isa = USINE_ISA_AVX512_BF16,
    .mr = 48,
    .nr = NR,
    .ukr = ukr_48x8,
    .pack_a = pack_48,
    .pack_b = pack_8,
    .epilogue = avx512_epilogue_f32,
    .n_edges = 3,
    .edges = {{32, ukr_32x8, NULL, pack_32, NULL},
              {16, ukr_16x8, NULL, pack_16, NULL},
              {8, ukr_8x8, NULL, pack_8, NULL}},
};
