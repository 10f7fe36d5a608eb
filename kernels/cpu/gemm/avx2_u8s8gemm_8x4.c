/*
 * int8 GEMM for AVX2 (u8 x s8, exact s32 sums), 8x4 tiles, where AVX512-VNNI is missing.
 *
 * vpmaddubsw would multiply bytes directly but saturates its 16-bit pair sums (255 * 127 * 2
 * does not fit), so the bytes are widened to 16 bits first and multiplied by vpmaddwd,
 * which adds pairs of exact 32-bit products: exact for any input. Per group of 4 k values:
 * the A column (8 rows x 4 u8, 32 bytes) becomes two vectors of 16 s16 (rows 0-3, 4-7);
 * each B quad (4 s8) is widened and repeated in every 64-bit lane; two vpmaddwd give each
 * row's two partial sums, kept in 8 accumulators (4 columns x 2 halves) and folded by
 * one horizontal add and a permute at the store. Wider tiles spill: 8x6 needs 15 of the 16
 * ymm registers plus temporaries (measured on Zen 4, 1024^3: 8x6 89, 8x5 78, 8x4 99 GOP/s).
 * Packing, sign flips, sums and the epilogue are the portable ones (int8_impl.h).
 */
#include <immintrin.h>

#include "int8_impl.h"

#define MR 8
#define NR 4

/* Rows 0-7 of the tile from the two accumulators of partial sums. */
USINE_INLINE __m256i fold_partials(__m256i lo, __m256i hi)
{
    /* hadd: lane 0 = rows 0, 1 (lo), 4, 5 (hi); lane 1 = rows 2, 3, 6, 7. */
    const __m256i rows = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
    return _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(lo, hi), rows);
}

static void ukr(int64_t k, const void *av, int64_t a_step, const void *bv, int64_t b_step, void *cv,
                int64_t ldc, int m, int n, const void *alpha, const void *beta)
{
    (void)alpha; /* 1 for int8: the epilogue scales */
    const uint8_t *a = (const uint8_t *)av;
    const int8_t *b = (const int8_t *)bv;
    int32_t *c = (int32_t *)cv;
    __m256i lo[NR], hi[NR];
    for (int j = 0; j < NR; j++)
        lo[j] = hi[j] = _mm256_setzero_si256();
    for (int64_t g = 0; g < (k + 3) / 4; g++, a += 4 * a_step, b += 4 * b_step) {
        const __m256i a_lo = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)a));
        const __m256i a_hi = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + 16)));
#pragma GCC unroll 4
        for (int j = 0; j < NR; j++) {
            int32_t quad;
            memcpy(&quad, b + 4 * j, sizeof quad);
            const __m256i bj = _mm256_cvtepi8_epi16(_mm_set1_epi32(quad));
            lo[j] = _mm256_add_epi32(lo[j], _mm256_madd_epi16(a_lo, bj));
            hi[j] = _mm256_add_epi32(hi[j], _mm256_madd_epi16(a_hi, bj));
        }
    }
    const int accumulate = *(const int32_t *)beta != 0;
    /* Constant indices only: a variable j would keep the accumulators in memory. */
#pragma GCC unroll 4
    for (int j = 0; j < NR; j++) {
        if (j >= n)
            break;
        int32_t sums[MR];
        _mm256_storeu_si256((__m256i *)sums, fold_partials(lo[j], hi[j]));
        int32_t *col = c + j * ldc;
        for (int i = 0; i < m; i++)
            col[i] = accumulate ? col[i] + sums[i] : sums[i];
    }
}

USINE_DEFINE_INT8_PORTABLE_PACKING(MR, NR)
USINE_DEFINE_EPILOGUE(epilogue_f32, float, tanhf, erff)
USINE_DEFINE_INT8_EPILOGUE(epilogue, epilogue_f32)

const usine_gemm_kernel usine_u8s8gemm_cpu_avx2_8x4 = {
    .name = "usine_u8s8gemm_cpu_avx2_8x4",
    .dtype = USINE_S32,
    .in_type = USINE_U8,
    .k_unit = 4,
    .isa = USINE_ISA_AVX2,
    .mr = MR,
    .nr = NR,
    .ukr = ukr,
    .pack_a = pack_a,
    .pack_b = pack_b,
    .epilogue = epilogue,
    .pack_convert = pack_flipped,
    .sum_a = sum_a,
    .sum_b = sum_b,
};
