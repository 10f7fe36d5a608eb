/*
 * Wraps a microkernel body (the UKR_FUNC of ukr_x86_impl.h) into the two functions of the
 * contract in gemm_kernel.h: `name` (B~ read by rows) and `name##_bt` (B~ read by
 * columns), with constant tile shape MV x NR so that everything unrolls.
 */
#ifndef USINE_KERNELS_CPU_GEMM_UKR_DEFINE_H
#define USINE_KERNELS_CPU_GEMM_UKR_DEFINE_H

/* A last column panel of n < NR columns runs the instantiation exactly n wide (up to 16),
 * rather than the NR-wide tile: absent columns would cost as much as real ones (N = 49,
 * 7 x 7 positions, is 6 tiles of 8 and one of 1, not 7 of 8), and B~ read in place by
 * columns is then read only where it exists (a partial tile needs no padded copy). Every
 * element is still one FMA chain over k in order, so results do not depend on the width.
 * body(MV, width, ...) is called with the width as its second argument, the rest after. */
#define USINE_UKR_WIDTH(body, MV, NR, W, ...)                                                      \
    case W:                                                                                        \
        if (W < NR) {                                                                              \
            body(MV, (W < NR ? W : NR), __VA_ARGS__);                                              \
            return;                                                                                \
        }                                                                                          \
        break;

#define USINE_UKR_EXACT_WIDTH(body, MV, NR, ...)                                                   \
    do {                                                                                           \
        switch (n) {                                                                               \
            USINE_UKR_WIDTH(body, MV, NR, 1, __VA_ARGS__)                                          \
            USINE_UKR_WIDTH(body, MV, NR, 2, __VA_ARGS__)                                          \
            USINE_UKR_WIDTH(body, MV, NR, 3, __VA_ARGS__)                                          \
            USINE_UKR_WIDTH(body, MV, NR, 4, __VA_ARGS__)                                          \
            USINE_UKR_WIDTH(body, MV, NR, 5, __VA_ARGS__)                                          \
            USINE_UKR_WIDTH(body, MV, NR, 6, __VA_ARGS__)                                          \
            USINE_UKR_WIDTH(body, MV, NR, 7, __VA_ARGS__)                                          \
            USINE_UKR_WIDTH(body, MV, NR, 8, __VA_ARGS__)                                          \
            USINE_UKR_WIDTH(body, MV, NR, 9, __VA_ARGS__)                                          \
            USINE_UKR_WIDTH(body, MV, NR, 10, __VA_ARGS__)                                         \
            USINE_UKR_WIDTH(body, MV, NR, 11, __VA_ARGS__)                                         \
            USINE_UKR_WIDTH(body, MV, NR, 12, __VA_ARGS__)                                         \
            USINE_UKR_WIDTH(body, MV, NR, 13, __VA_ARGS__)                                         \
            USINE_UKR_WIDTH(body, MV, NR, 14, __VA_ARGS__)                                         \
            USINE_UKR_WIDTH(body, MV, NR, 15, __VA_ARGS__)                                         \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
        body(MV, NR, __VA_ARGS__);                                                                 \
    } while (0)

#define USINE_UKR_NARROWED(body, T, MV, NR, BT, next, next_bytes)                                  \
    do {                                                                                           \
        const T *a_ = (const T *)a, *b_ = (const T *)b;                                            \
        const T al_ = *(const T *)alpha, be_ = *(const T *)beta;                                   \
        USINE_UKR_EXACT_WIDTH(body, MV, NR, BT, k, a_, a_step, b_, b_step, (T *)c, ldc, m, n, al_, \
                              be_, next, next_bytes);                                              \
    } while (0)

#define USINE_DEFINE_UKR(name, body, T, MV, NR)                                                    \
    static void name(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step,      \
                     void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta)      \
    {                                                                                              \
        USINE_UKR_NARROWED(body, T, MV, NR, 0, NULL, 0);                                           \
    }                                                                                              \
    static void name##_bt(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step, \
                          void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta) \
    {                                                                                              \
        USINE_UKR_NARROWED(body, T, MV, NR, 1, NULL, 0);                                           \
    }

/* name##_prefetch (usine_gemm_ukr_prefetch_fn): `name` that also fetches the next B panel. */
#define USINE_DEFINE_UKR_PREFETCH(name, body, T, MV, NR)                                           \
    static void name##_prefetch(int64_t k, const void *a, int64_t a_step, const void *b,           \
                                int64_t b_step, void *c, int64_t ldc, int m, int n,                \
                                const void *alpha, const void *beta, const void *next,             \
                                int64_t next_bytes)                                                \
    {                                                                                              \
        USINE_UKR_NARROWED(body, T, MV, NR, 0, (const char *)next, next_bytes);                    \
    }

/* name##_segs (usine_gemm_ukr_segs_fn) over a body##_segs of ukr_x86_impl.h, narrowed as
 * above (only the n columns of B~ it stores are read). */
#define USINE_DEFINE_UKR_SEGS(name, body, T, MV, NR)                                               \
    static void name##_segs(int64_t k, int segs, const void *a, int64_t a_step, int64_t a_seg,     \
                            const void *b, int64_t b_row, int64_t b_col, int64_t b_seg, void *c,   \
                            int64_t ldc, int m, int n, const void *alpha, const void *beta)        \
    {                                                                                              \
        const T *a_ = (const T *)a, *b_ = (const T *)b;                                            \
        const T al_ = *(const T *)alpha, be_ = *(const T *)beta;                                   \
        USINE_UKR_EXACT_WIDTH(body, MV, NR, k, segs, a_, a_step, a_seg, b_, b_row, b_col, b_seg,   \
                              (T *)c, ldc, m, n, al_, be_);                                        \
    }

#endif
