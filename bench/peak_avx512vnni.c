/* AVX512-VNNI int8 dot-product throughput: vpdpbusd (u8 x s8, four products summed into
 * each s32 lane) on 16 zmm accumulators. One instruction does 16 lanes x 4
 * multiply-adds: 128 integer ops, counted like flops (2 per multiply-add). */
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

double usine_bench_dot_avx512vnni(int64_t iterations, double *sink)
{
    /* Integer sums wrap without trapping nor slowing down: any values do. */
    const __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-5);
    __m512i a0 = _mm512_set1_epi32(0), a1 = _mm512_set1_epi32(1), a2 = _mm512_set1_epi32(2),
            a3 = _mm512_set1_epi32(3), a4 = _mm512_set1_epi32(4), a5 = _mm512_set1_epi32(5),
            a6 = _mm512_set1_epi32(6), a7 = _mm512_set1_epi32(7), a8 = _mm512_set1_epi32(8),
            a9 = _mm512_set1_epi32(9), a10 = _mm512_set1_epi32(10), a11 = _mm512_set1_epi32(11),
            a12 = _mm512_set1_epi32(12), a13 = _mm512_set1_epi32(13), a14 = _mm512_set1_epi32(14),
            a15 = _mm512_set1_epi32(15);
    for (int64_t i = 0; i < iterations; i++)
        DOT16(_mm512_dpbusd_epi32);
    __m512i s =
        _mm512_xor_si512(_mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3)),
                         _mm512_xor_si512(_mm512_xor_si512(a4, a5), _mm512_xor_si512(a6, a7)));
    s = _mm512_xor_si512(s, _mm512_xor_si512(_mm512_xor_si512(_mm512_xor_si512(a8, a9), a10),
                                             _mm512_xor_si512(_mm512_xor_si512(a11, a12), a13)));
    s = _mm512_xor_si512(s, _mm512_xor_si512(a14, a15));
    /* | 1: the sink must not be 0 (peak.c reads 0 as a loop that did not run). */
    *sink = (double)(_mm512_reduce_or_epi32(s) | 1);
    return (double)iterations * 16 * 16 * 4 * 2;
}
