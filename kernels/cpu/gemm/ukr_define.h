/*
 * Wraps a microkernel body (the UKR_FUNC of ukr_x86_impl.h) into the two functions of the
 * contract in gemm_kernel.h: `name` (B~ read by rows) and `name##_bt` (B~ read by
 * columns), with constant tile shape MV x NR so that everything unrolls.
 */
#ifndef USINE_KERNELS_CPU_GEMM_UKR_DEFINE_H
#define USINE_KERNELS_CPU_GEMM_UKR_DEFINE_H

/* A last column panel of n < NR columns runs a narrower instantiation, the smallest of 1, 2,
 * 4 or 8 columns that covers n, rather than the NR-wide tile, whose absent columns cost as
 * much as real ones: N = 49 (7 x 7 positions) is 6 tiles of 8 and one of 1, not 7 of 8. Every
 * element is still one FMA chain over k in order, so results do not depend on the width. */
#define USINE_UKR_NARROWED(body, T, MV, NR, BT)                                                    \
    do {                                                                                           \
        const T *a_ = (const T *)a, *b_ = (const T *)b;                                            \
        const T al_ = *(const T *)alpha, be_ = *(const T *)beta;                                   \
        if (n >= NR)                                                                               \
            body(MV, NR, BT, k, a_, a_step, b_, b_step, (T *)c, ldc, m, n, al_, be_);              \
        else if (n <= 1)                                                                           \
            body(MV, 1, BT, k, a_, a_step, b_, b_step, (T *)c, ldc, m, n, al_, be_);               \
        else if (n <= 2)                                                                           \
            body(MV, 2, BT, k, a_, a_step, b_, b_step, (T *)c, ldc, m, n, al_, be_);               \
        else if (n <= 4 && 4 < NR)                                                                 \
            body(MV, 4, BT, k, a_, a_step, b_, b_step, (T *)c, ldc, m, n, al_, be_);               \
        else if (n <= 8 && 8 < NR)                                                                 \
            body(MV, 8, BT, k, a_, a_step, b_, b_step, (T *)c, ldc, m, n, al_, be_);               \
        else                                                                                       \
            body(MV, NR, BT, k, a_, a_step, b_, b_step, (T *)c, ldc, m, n, al_, be_);              \
    } while (0)

#define USINE_DEFINE_UKR(name, body, T, MV, NR)                                                    \
    static void name(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step,      \
                     void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta)      \
    {                                                                                              \
        USINE_UKR_NARROWED(body, T, MV, NR, 0);                                                    \
    }                                                                                              \
    static void name##_bt(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step, \
                          void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta) \
    {                                                                                              \
        USINE_UKR_NARROWED(body, T, MV, NR, 1);                                                    \
    }

#endif
