/*
 * Matrix-vector product shared by every ISA file (see usine_gemv_fn in gemm_kernel.h):
 * portable C whose inner loops carry `omp simd`, so each kernel file, compiled with its
 * own ISA flags, gets vector code. Both forms stream X exactly once, which is what makes
 * this memory-bound operation run at the machine's bandwidth.
 */
#ifndef USINE_KERNELS_CPU_GEMM_GEMV_IMPL_H
#define USINE_KERNELS_CPU_GEMM_GEMV_IMPL_H

#include <stdint.h>
#include <string.h>

/* Bytes of partial sums per pass of the column form: they stay in L1 (half of it) while
 * four columns of X stream past them. Long passes matter: each column segment is one
 * sequential stream, and the hardware prefetchers stop at page boundaries (measured on
 * Zen 4, 7680 x 2560: 1024-row passes 21 GB/s, 4096-row passes 28 GB/s). */
#define USINE_GEMV_CHUNK_BYTES 16384

#define USINE_DEFINE_GEMV(name, T)                                                                 \
    static void name##_store(int64_t m, const T *acc, T *y, int64_t incy, T alpha, T beta)         \
    {                                                                                              \
        if (beta == (T)0)                                                                          \
            for (int64_t i = 0; i < m; i++)                                                        \
                y[i * incy] = alpha * acc[i];                                                      \
        else                                                                                       \
            for (int64_t i = 0; i < m; i++)                                                        \
                y[i * incy] = alpha * acc[i] + beta * y[i * incy];                                 \
    }                                                                                              \
                                                                                                   \
    /* X columns contiguous (rs == 1): y += X(:, p) * v[p], four columns a pass. */                \
    static void name##_cols(int64_t m, int64_t k, const T *x, int64_t cs, const T *v,              \
                            int64_t incv, T *y, int64_t incy, T alpha, T beta)                     \
    {                                                                                              \
        enum { CHUNK = USINE_GEMV_CHUNK_BYTES / sizeof(T) };                                       \
        T acc[CHUNK];                                                                              \
        for (int64_t i0 = 0; i0 < m; i0 += CHUNK) {                                                \
            const int64_t mi = m - i0 < CHUNK ? m - i0 : CHUNK;                                    \
            memset(acc, 0, sizeof(T) * (size_t)mi);                                                \
            const T *xc = x + i0;                                                                  \
            int64_t p = 0;                                                                         \
            for (; p + 4 <= k; p += 4) {                                                           \
                const T *x0 = xc + p * cs, *x1 = x0 + cs, *x2 = x1 + cs, *x3 = x2 + cs;            \
                const T v0 = v[p * incv], v1 = v[(p + 1) * incv], v2 = v[(p + 2) * incv],          \
                        v3 = v[(p + 3) * incv];                                                    \
                _Pragma("omp simd") for (int64_t i = 0; i < mi; i++) acc[i] +=                     \
                    x0[i] * v0 + x1[i] * v1 + x2[i] * v2 + x3[i] * v3;                             \
            }                                                                                      \
            for (; p < k; p++) {                                                                   \
                const T *x0 = xc + p * cs;                                                         \
                const T v0 = v[p * incv];                                                          \
                _Pragma("omp simd") for (int64_t i = 0; i < mi; i++) acc[i] += x0[i] * v0;         \
            }                                                                                      \
            name##_store(mi, acc, y + i0 * incy, incy, alpha, beta);                               \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    /* Any other strides: one dot product per row. */                                              \
    static void name##_rows(int64_t m, int64_t k, const T *x, int64_t rs, int64_t cs, const T *v,  \
                            int64_t incv, T *y, int64_t incy, T alpha, T beta)                     \
    {                                                                                              \
        for (int64_t i = 0; i < m; i++) {                                                          \
            const T *xr = x + i * rs;                                                              \
            T sum = 0;                                                                             \
            _Pragma("omp simd reduction(+ : sum)") for (int64_t p = 0; p < k; p++) sum +=          \
                xr[p * cs] * v[p * incv];                                                          \
            name##_store(1, &sum, y + i * incy, incy, alpha, beta);                                \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void name(int64_t m, int64_t k, const void *x, int64_t rs, int64_t cs, const void *v,   \
                     int64_t incv, void *y, int64_t incy, const void *alpha, const void *beta)     \
    {                                                                                              \
        if (rs == 1)                                                                               \
            name##_cols(m, k, (const T *)x, cs, (const T *)v, incv, (T *)y, incy,                  \
                        *(const T *)alpha, *(const T *)beta);                                      \
        else                                                                                       \
            name##_rows(m, k, (const T *)x, rs, cs, (const T *)v, incv, (T *)y, incy,              \
                        *(const T *)alpha, *(const T *)beta);                                      \
    }

#endif
