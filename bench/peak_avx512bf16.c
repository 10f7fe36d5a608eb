/* AVX512-BF16 dot-product throughput: vdpbf16ps on 16 zmm accumulators (of 32 registers)
 * plus two constants. Each instruction does 16 lanes x 2 bf16 multiply-adds: 64 flops.
 * Zen 4 runs one zmm vdpbf16ps per cycle at a latency of about 6 cycles; 16 chains hide
 * that on every core known to have it. */
#include <immintrin.h>

#include "peak_kernels.h"

#define DOT16(dot)                                                                                 \
    do {                                                                                           \
        a0 = dot(a0, x, y);                                                                        \
        a1 = dot(a1, x, y);                                                                        \
        a2 = dot(a2, x, y);                                                                        \
        a3 = dot(a3, x, y);                                                                        \
        a4 = dot(a4, x, y);                                                                        \
        a5 = dot(a5, x, y);                                                                        \
        a6 = dot(a6, x, y);                                                                        \
        a7 = dot(a7, x, y);                                                                        \
        a8 = dot(a8, x, y);                                                                        \
        a9 = dot(a9, x, y);                                                                        \
        a10 = dot(a10, x, y);                                                                      \
        a11 = dot(a11, x, y);                                                                      \
        a12 = dot(a12, x, y);                                                                      \
        a13 = dot(a13, x, y);                                                                      \
        a14 = dot(a14, x, y);                                                                      \
        a15 = dot(a15, x, y);                                                                      \
    } while (0)

double usine_bench_dot_avx512bf16(int64_t iterations, double *sink)
{
    /* Products of 1e-3 x 1e-3: the sums grow by 2e-6 a step and stay far from overflow
     * and from denormals (which vdpbf16ps would flush) for any run length. */
    const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
    const __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
    /* Distinct starting values: equal ones would let the compiler merge the chains. */
    __m512 a0 = _mm512_set1_ps(0.0f), a1 = _mm512_set1_ps(0.01f), a2 = _mm512_set1_ps(0.02f),
           a3 = _mm512_set1_ps(0.03f), a4 = _mm512_set1_ps(0.04f), a5 = _mm512_set1_ps(0.05f),
           a6 = _mm512_set1_ps(0.06f), a7 = _mm512_set1_ps(0.07f), a8 = _mm512_set1_ps(0.08f),
           a9 = _mm512_set1_ps(0.09f), a10 = _mm512_set1_ps(0.10f), a11 = _mm512_set1_ps(0.11f),
           a12 = _mm512_set1_ps(0.12f), a13 = _mm512_set1_ps(0.13f), a14 = _mm512_set1_ps(0.14f),
           a15 = _mm512_set1_ps(0.15f);
    for (int64_t i = 0; i < iterations; i++)
        DOT16(_mm512_dpbf16_ps);
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a8, a9), a10),
                                       _mm512_add_ps(_mm512_add_ps(a11, a12), a13)));
    s = _mm512_add_ps(s, _mm512_add_ps(a14, a15));
    *sink = (double)_mm512_reduce_add_ps(s);
    return (double)iterations * 16 * 16 * 2 * 2;
}
