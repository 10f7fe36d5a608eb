/*
 * Portable C GEMM kernels (f32 8x4, f64 4x4): the fallback on any CPU and the kernels the
 * forced-generic path tests. Plain loops over a small tile; compiled without ISA flags,
 * so on x86-64 the compiler may use SSE2 and nothing newer.
 */
#include "epilogue_impl.h"
#include "gemm_kernel.h"
#include "gemv_impl.h"
#include "pack_impl.h"

/* A tile with B~(p,j) = b[p*b_row + j*b_col]: (b_step, 1) by rows, (1, b_step) by columns. */
#define DEFINE_GENERIC_TILE(name, T, MR, NR)                                                       \
    static void name(int64_t k, const T *a, int64_t a_step, const T *b, int64_t b_row,             \
                     int64_t b_col, T *c, int64_t ldc, int m, int n, T alpha, T beta)              \
    {                                                                                              \
        T acc[NR][MR];                                                                             \
        memset(acc, 0, sizeof acc);                                                                \
        for (int64_t p = 0; p < k; p++, a += a_step, b += b_row)                                   \
            for (int j = 0; j < n; j++) /* B~ is read only where C is stored */                    \
                for (int i = 0; i < MR; i++)                                                       \
                    acc[j][i] += a[i] * b[j * b_col];                                              \
        for (int j = 0; j < n; j++)                                                                \
            for (int i = 0; i < m; i++)                                                            \
                c[i + j * ldc] =                                                                   \
                    beta == (T)0 ? alpha * acc[j][i] : alpha * acc[j][i] + beta * c[i + j * ldc];  \
    }

#define DEFINE_GENERIC_UKR(name, T, MR, NR)                                                        \
    DEFINE_GENERIC_TILE(name##_tile, T, MR, NR)                                                    \
    static void name(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step,      \
                     void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta)      \
    {                                                                                              \
        name##_tile(k, (const T *)a, a_step, (const T *)b, b_step, 1, (T *)c, ldc, m, n,           \
                    *(const T *)alpha, *(const T *)beta);                                          \
    }                                                                                              \
    static void name##_bt(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step, \
                          void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta) \
    {                                                                                              \
        name##_tile(k, (const T *)a, a_step, (const T *)b, 1, b_step, (T *)c, ldc, m, n,           \
                    *(const T *)alpha, *(const T *)beta);                                          \
    }

DEFINE_GENERIC_UKR(sgemm_ukr_8x4, float, 8, 4)
USINE_DEFINE_PACK(sgemm_pack_8, float, 8)
USINE_DEFINE_PACK(sgemm_pack_4, float, 4)
USINE_DEFINE_GEMV(sgemv, float)
USINE_DEFINE_EPILOGUE(sepilogue, float, tanhf, erff)

const usine_gemm_kernel usine_sgemm_cpu_generic_8x4 = {
    .name = "usine_sgemm_cpu_generic_8x4",
    .dtype = USINE_F32,
    .in_type = USINE_F32,
    .k_unit = 1,
    .isa = USINE_ISA_GENERIC,
    .mr = 8,
    .nr = 4,
    .ukr = sgemm_ukr_8x4,
    .ukr_bt = sgemm_ukr_8x4_bt,
    .pack_a = sgemm_pack_8,
    .pack_b = sgemm_pack_4,
    .gemv = sgemv,
    .epilogue = sepilogue,
    .pack_convert = sepilogue_pack,
};

DEFINE_GENERIC_UKR(dgemm_ukr_4x4, double, 4, 4)
USINE_DEFINE_PACK(dgemm_pack_4, double, 4)
USINE_DEFINE_GEMV(dgemv, double)
USINE_DEFINE_EPILOGUE(depilogue, double, tanh, erf)

const usine_gemm_kernel usine_dgemm_cpu_generic_4x4 = {
    .name = "usine_dgemm_cpu_generic_4x4",
    .dtype = USINE_F64,
    .in_type = USINE_F64,
    .k_unit = 1,
    .isa = USINE_ISA_GENERIC,
    .mr = 4,
    .nr = 4,
    .ukr = dgemm_ukr_4x4,
    .ukr_bt = dgemm_ukr_4x4_bt,
    .pack_a = dgemm_pack_4,
    .pack_b = dgemm_pack_4,
    .gemv = dgemv,
    .epilogue = depilogue,
    .pack_convert = depilogue_pack,
};
