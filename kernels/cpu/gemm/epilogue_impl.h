/*
 * The epilogue and the converting packers, shared by every ISA file: portable C whose
 * loops carry `omp simd`, so each kernel file, compiled with its own ISA flags, gets
 * vector code. tanh and erf come from glibc's vector math library (libmvec, glibc >= 2.35
 * on x86-64: at most 4 ulp), declared below with the simd attribute so that the compiler
 * calls their vector forms; elsewhere the scalar libm functions are called.
 *
 * The epilogue runs on a tile of C right after the microkernel's last store to it, while
 * the tile is still in L1: bias, activation, and for bf16/f16 outputs alpha, beta and the
 * rounding into the caller's C (the microkernels then stored the raw sums in f32).
 */
#ifndef USINE_KERNELS_CPU_GEMM_EPILOGUE_IMPL_H
#define USINE_KERNELS_CPU_GEMM_EPILOGUE_IMPL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gemm_kernel.h"
#include "../half.h"

#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 35)
__attribute__((simd("notinbranch"))) float tanhf(float);
__attribute__((simd("notinbranch"))) float erff(float);
__attribute__((simd("notinbranch"))) double tanh(double);
__attribute__((simd("notinbranch"))) double erf(double);
#endif
#endif

/* ---------------------------------------------------------------- activations */

#define USINE_SQRT_2_OVER_PI 0.79788456080286535588
#define USINE_SQRT_HALF      0.70710678118654752440

/* Instantiates the epilogue (a usine_epilogue_fn) and the converting packer (a
 * usine_gemm_convert_pack_fn) for accumulator type T (float or double), with TANH and ERF
 * the functions of that type. */
#define USINE_DEFINE_EPILOGUE(name, T, TANH, ERF)                                                  \
    /* Old value of the output at (i, j), in T. */                                                 \
    static inline T name##_old(const usine_epilogue *e, int64_t i, int64_t j)                      \
    {                                                                                              \
        const int64_t at = i + j * e->ldo;                                                         \
        switch (e->out_type) {                                                                     \
        case USINE_BF16:                                                                           \
            return (T)usine_bf16_to_f32(((const uint16_t *)e->out)[at]);                           \
        case USINE_F16:                                                                            \
            return (T)usine_f16_to_f32(((const uint16_t *)e->out)[at]);                            \
        default:                                                                                   \
            return ((const T *)e->out)[at];                                                        \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    /* One column of the tile: rows [0, m) of column `col` (global row0.., col). Each step is      \
     * its own loop, so that the compiler vectorises it (tanh and erf through libmvec). */         \
    static void name##_column(const usine_epilogue *e, int64_t row0, int64_t col, int m, T *t)     \
    {                                                                                              \
        const float *bias = e->bias;                                                               \
        if (e->out) {                                                                              \
            const T alpha = (T)e->alpha, beta = (T)e->beta;                                        \
            _Pragma("omp simd") for (int i = 0; i < m; i++) t[i] *= alpha;                         \
            if (beta != (T)0)                                                                      \
                for (int i = 0; i < m; i++)                                                        \
                    t[i] += beta * name##_old(e, row0 + i, col);                                   \
        }                                                                                          \
        if (bias && e->bias_per_row) {                                                             \
            _Pragma("omp simd") for (int i = 0; i < m; i++) t[i] += (T)bias[row0 + i];             \
        } else if (bias) {                                                                         \
            const T b = (T)bias[col];                                                              \
            _Pragma("omp simd") for (int i = 0; i < m; i++) t[i] += b;                             \
        }                                                                                          \
        switch (e->activation) {                                                                   \
        case USINE_ACT_RELU:                                                                       \
            _Pragma("omp simd") for (int i = 0; i < m; i++) t[i] = t[i] < (T)0 ? (T)0 : t[i];      \
            break;                                                                                 \
        case USINE_ACT_GELU_TANH:                                                                  \
            _Pragma("omp simd") for (int i = 0; i < m; i++)                                        \
            {                                                                                      \
                const T v = t[i];                                                                  \
                t[i] = (T)0.5 * v *                                                                \
                       ((T)1 + TANH((T)USINE_SQRT_2_OVER_PI * (v + (T)0.044715 * v * v * v)));     \
            }                                                                                      \
            break;                                                                                 \
        case USINE_ACT_GELU_ERF:                                                                   \
            _Pragma("omp simd") for (int i = 0; i < m; i++) t[i] =                                 \
                (T)0.5 * t[i] * ((T)1 + ERF(t[i] * (T)USINE_SQRT_HALF));                           \
            break;                                                                                 \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
        if (!e->out)                                                                               \
            return;                                                                                \
        const int64_t at = row0 + col * e->ldo;                                                    \
        if (e->out_type == USINE_BF16) {                                                           \
            uint16_t *o = (uint16_t *)e->out + at;                                                 \
            _Pragma("omp simd") for (int i = 0; i < m; i++) o[i] = usine_f32_to_bf16((float)t[i]); \
        } else if (e->out_type == USINE_F16) {                                                     \
            uint16_t *o = (uint16_t *)e->out + at;                                                 \
            _Pragma("omp simd") for (int i = 0; i < m; i++) o[i] = usine_f32_to_f16((float)t[i]);  \
        } else {                                                                                   \
            memcpy((T *)e->out + at, t, sizeof(T) * (size_t)m);                                    \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void name(const usine_epilogue *e, int64_t row0, int64_t col0, int m, int n,            \
                     void *tile, int64_t ldt)                                                      \
    {                                                                                              \
        for (int j = 0; j < n; j++)                                                                \
            name##_column(e, row0, col0 + j, m, (T *)tile + j * ldt);                              \
    }                                                                                              \
                                                                                                   \
    /* Packing from bf16 or f16 elements: the panel layout of usine_pack_panels, in T. */          \
    __attribute__((unused)) static void name##_pack(int W, usine_dtype src, int64_t rows,          \
                                                    int64_t k, const void *xv, int64_t rs,         \
                                                    int64_t cs, void *dstv)                        \
    {                                                                                              \
        const uint16_t *x = (const uint16_t *)xv;                                                  \
        T *dst = (T *)dstv;                                                                        \
        for (int64_t i0 = 0; i0 < rows; i0 += W, dst += (int64_t)W * k) {                          \
            const int64_t r = rows - i0 < W ? rows - i0 : W;                                       \
            for (int64_t p = 0; p < k; p++) {                                                      \
                T *col = dst + p * W;                                                              \
                const uint16_t *xp = x + i0 * rs + p * cs;                                         \
                if (src == USINE_BF16) {                                                           \
                    _Pragma("omp simd") for (int64_t i = 0; i < r; i++) col[i] =                   \
                        (T)usine_bf16_to_f32(xp[i * rs]);                                          \
                } else {                                                                           \
                    _Pragma("omp simd") for (int64_t i = 0; i < r; i++) col[i] =                   \
                        (T)usine_f16_to_f32(xp[i * rs]);                                           \
                }                                                                                  \
                for (int64_t i = r; i < W; i++)                                                    \
                    col[i] = (T)0;                                                                 \
            }                                                                                      \
        }                                                                                          \
    }

#endif
