/* AVX2 FMA throughput: 12 ymm accumulators plus two constants fit the 16 registers
 * without spills, and 12 chains cover 2 pipes x 4 cycles of FMA latency. */
#include <immintrin.h>

#include "peak_kernels.h"

/* acc = acc * x + y with x just below 1 (see peak_avx512.c). */
#define FMA12(fma)                                                                                 \
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
    } while (0)

static double sum_ps(__m256 v)
{
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    double s = 0;
    for (int i = 0; i < 8; i++)
        s += lanes[i];
    return s;
}

static double sum_pd(__m256d v)
{
    double lanes[4];
    _mm256_storeu_pd(lanes, v);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

double usine_bench_fma_avx2_f32(int64_t iterations, double *sink)
{
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-6f);
    /* Distinct starting values: equal ones would let the compiler merge the chains. */
    __m256 a0 = _mm256_set1_ps(0.0f), a1 = _mm256_set1_ps(0.01f), a2 = _mm256_set1_ps(0.02f),
           a3 = _mm256_set1_ps(0.03f), a4 = _mm256_set1_ps(0.04f), a5 = _mm256_set1_ps(0.05f),
           a6 = _mm256_set1_ps(0.06f), a7 = _mm256_set1_ps(0.07f), a8 = _mm256_set1_ps(0.08f),
           a9 = _mm256_set1_ps(0.09f), a10 = _mm256_set1_ps(0.10f), a11 = _mm256_set1_ps(0.11f);
    for (int64_t i = 0; i < iterations; i++)
        FMA12(_mm256_fmadd_ps);
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    *sink = sum_ps(s);
    return (double)iterations * 12 * 8 * 2;
}

double usine_bench_fma_avx2_f64(int64_t iterations, double *sink)
{
    const __m256d x = _mm256_set1_pd(0.999999), y = _mm256_set1_pd(1e-6);
    __m256d a0 = _mm256_set1_pd(0.0), a1 = _mm256_set1_pd(0.01), a2 = _mm256_set1_pd(0.02),
            a3 = _mm256_set1_pd(0.03), a4 = _mm256_set1_pd(0.04), a5 = _mm256_set1_pd(0.05),
            a6 = _mm256_set1_pd(0.06), a7 = _mm256_set1_pd(0.07), a8 = _mm256_set1_pd(0.08),
            a9 = _mm256_set1_pd(0.09), a10 = _mm256_set1_pd(0.10), a11 = _mm256_set1_pd(0.11);
    for (int64_t i = 0; i < iterations; i++)
        FMA12(_mm256_fmadd_pd);
    __m256d s = _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)),
                              _mm256_add_pd(_mm256_add_pd(a4, a5), _mm256_add_pd(a6, a7)));
    s = _mm256_add_pd(s, _mm256_add_pd(_mm256_add_pd(a8, a9), _mm256_add_pd(a10, a11)));
    *sink = sum_pd(s);
    return (double)iterations * 12 * 4 * 2;
}
