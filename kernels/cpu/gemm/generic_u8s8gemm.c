/*
 * Portable C int8 GEMM (u8 x s8, exact s32 sums), 8x4 tiles: the fallback where AVX512-VNNI
 * is missing, and the kernel the forced-generic path tests. Same packed layout (quads of
 * bytes, int8_impl.h), same sign flips and compensation as the VNNI kernel.
 */
#include "int8_impl.h"

#define MR 8
#define NR 4

/* a_step, b_step: quads per group = the panel widths (MR, NR). */
static void ukr(int64_t k, const void *av, int64_t a_step, const void *bv, int64_t b_step, void *cv,
                int64_t ldc, int m, int n, const void *alpha, const void *beta)
{
    (void)alpha; /* 1 for int8: the epilogue scales */
    const uint8_t *a = (const uint8_t *)av;
    const int8_t *b = (const int8_t *)bv;
    int32_t *c = (int32_t *)cv, acc[NR][MR];
    memset(acc, 0, sizeof acc);
    for (int64_t g = 0; g < (k + 3) / 4; g++, a += 4 * a_step, b += 4 * b_step)
        for (int j = 0; j < NR; j++)
            for (int i = 0; i < MR; i++)
                for (int u = 0; u < 4; u++)
                    acc[j][i] += (int32_t)a[i * 4 + u] * (int32_t)b[j * 4 + u];
    const int accumulate = *(const int32_t *)beta != 0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++)
            c[i + j * ldc] = accumulate ? c[i + j * ldc] + acc[j][i] : acc[j][i];
}

USINE_DEFINE_INT8_PORTABLE_PACKING(MR, NR)
USINE_DEFINE_EPILOGUE(epilogue_f32, float, tanhf, erff)
USINE_DEFINE_INT8_EPILOGUE(epilogue, epilogue_f32)

const usine_gemm_kernel usine_u8s8gemm_cpu_generic_8x4 = {
    .name = "usine_u8s8gemm_cpu_generic_8x4",
    .dtype = USINE_S32,
    .in_type = USINE_U8,
    .k_unit = 4,
    .isa = USINE_ISA_GENERIC,
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
