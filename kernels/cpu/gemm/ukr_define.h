/*
 * Wraps a microkernel body (the UKR_FUNC of ukr_x86_impl.h) into the two functions of the
 * contract in gemm_kernel.h: `name` (B~ read by rows) and `name##_bt` (B~ read by
 * columns), with constant tile shape MV x NR so that everything unrolls.
 */
#ifndef USINE_KERNELS_CPU_GEMM_UKR_DEFINE_H
#define USINE_KERNELS_CPU_GEMM_UKR_DEFINE_H

#define USINE_DEFINE_UKR(name, body, T, MV, NR)                                                    \
    static void name(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step,      \
                     void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta)      \
    {                                                                                              \
        body(MV, NR, 0, k, (const T *)a, a_step, (const T *)b, b_step, (T *)c, ldc, m, n,          \
             *(const T *)alpha, *(const T *)beta);                                                 \
    }                                                                                              \
    static void name##_bt(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step, \
                          void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta) \
    {                                                                                              \
        body(MV, NR, 1, k, (const T *)a, a_step, (const T *)b, b_step, (T *)c, ldc, m, n,          \
             *(const T *)alpha, *(const T *)beta);                                                 \
    }

#endif
