/* AVX-512 FMA throughput: 16 zmm accumulators (of 32 registers) plus two constants. */
#include <immintrin.h>

#include "peak_kernels.h"

/* acc = acc * x + y with x just below 1: the values settle near y / (1 - x), never
 * overflowing nor turning denormal, so every FMA runs at full speed. */
#define FMA16(fma)                                                                                 \
    do {                                                                                           \
        a0 = fma(a0, x, y);                                                                        \
        a1 = fma(a1, x, y);                                                                        \
        a2 = fma(a2, x, y);                                                                        \
        a3 = fma(a3, x, y);                                                                        \
        a4 = fma(a4, x, y);                                                                        \
        a5 = fma(a5, x, y);                                                                        \
        a6 = fma(a6, x, y);                                                                        \
        a7 = fma(a7, x, y);                                                                        \
        a8 = fma(a8, x, y);                                                                        \
        a9 = fma(a9, x, y);                                                                        \
        a10 = fma(a10, x, y);                                                                      \
        a11 = fma(a11, x, y);                                                                      \
        a12 = fma(a12, x, y);                                                                      \
        a13 = fma(a13, x, y);                                                                      \
        a14 = fma(a14, x, y);                                                                      \
        a15 = fma(a15, x, y);                                                                      \
    } while (0)

double usine_bench_fma_avx512_f32(int64_t iterations, double *sink)
{
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-6f);
    /* Distinct starting values: equal ones would let the compiler merge the chains. */
    __m512 a0 = _mm512_set1_ps(0.0f), a1 = _mm512_set1_ps(0.01f), a2 = _mm512_set1_ps(0.02f),
           a3 = _mm512_set1_ps(0.03f), a4 = _mm512_set1_ps(0.04f), a5 = _mm512_set1_ps(0.05f),
           a6 = _mm512_set1_ps(0.06f), a7 = _mm512_set1_ps(0.07f), a8 = _mm512_set1_ps(0.08f),
           a9 = _mm512_set1_ps(0.09f), a10 = _mm512_set1_ps(0.10f), a11 = _mm512_set1_ps(0.11f),
           a12 = _mm512_set1_ps(0.12f), a13 = _mm512_set1_ps(0.13f), a14 = _mm512_set1_ps(0.14f),
           a15 = _mm512_set1_ps(0.15f);
    for (int64_t i = 0; i < iterations; i++)
        FMA16(_mm512_fmadd_ps);
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a8, a9), a10),
                                       _mm512_add_ps(_mm512_add_ps(a11, a12), a13)));
    s = _mm512_add_ps(s, _mm512_add_ps(a14, a15));
    *sink = (double)_mm512_reduce_add_ps(s);
    return (double)iterations * 16 * 16 * 2;
}

double usine_bench_fma_avx512_f64(int64_t iterations, double *sink)
{
    const __m512d x = _mm512_set1_pd(0.999999), y = _mm512_set1_pd(1e-6);
    __m512d a0 = _mm512_set1_pd(0.0), a1 = _mm512_set1_pd(0.01), a2 = _mm512_set1_pd(0.02),
            a3 = _mm512_set1_pd(0.03), a4 = _mm512_set1_pd(0.04), a5 = _mm512_set1_pd(0.05),
            a6 = _mm512_set1_pd(0.06), a7 = _mm512_set1_pd(0.07), a8 = _mm512_set1_pd(0.08),
            a9 = _mm512_set1_pd(0.09), a10 = _mm512_set1_pd(0.10), a11 = _mm512_set1_pd(0.11),
            a12 = _mm512_set1_pd(0.12), a13 = _mm512_set1_pd(0.13), a14 = _mm512_set1_pd(0.14),
            a15 = _mm512_set1_pd(0.15);
    for (int64_t i = 0; i < iterations; i++)
        FMA16(_mm512_fmadd_pd);
    __m512d s = _mm512_add_pd(_mm512_add_pd(_mm512_add_pd(a0, a1), _mm512_add_pd(a2, a3)),
                              _mm512_add_pd(_mm512_add_pd(a4, a5), _mm512_add_pd(a6, a7)));
    s = _mm512_add_pd(s, _mm512_add_pd(_mm512_add_pd(_mm512_add_pd(a8, a9), a10),
                                       _mm512_add_pd(_mm512_add_pd(a11, a12), a13)));
    s = _mm512_add_pd(s, _mm512_add_pd(a14, a15));
    *sink = _mm512_reduce_add_pd(s);
    return (double)iterations * 16 * 8 * 2;
}
