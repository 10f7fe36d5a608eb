/* The AVX-512 instantiation macros of attn_x86_impl.h (48 queries = 3 zmm x 8 keys or
 * head_dim columns) and the vector exp2, shared by the AVX-512 kernel files. */
#ifndef USINE_KERNELS_CPU_ATTN_AVX512_DEFS_H
#define USINE_KERNELS_CPU_ATTN_AVX512_DEFS_H

#include <immintrin.h>

#include "attention_kernel.h"

#define ATT_PREFIX(name)       usine_attn_avx512_##name
#define ATT_V                  __m512
#define ATT_LANES              16
#define ATT_MV                 3
#define ATT_NR                 8
#define ATT_LOAD(p)            _mm512_load_ps(p)
#define ATT_STORE(p, v)        _mm512_store_ps(p, v)
#define ATT_LOADU(p)           _mm512_loadu_ps(p)
#define ATT_STOREU(p, v)       _mm512_storeu_ps(p, v)
#define ATT_DQ_RI              6
#define ATT_SET1(x)            _mm512_set1_ps(x)
#define ATT_ZERO()             _mm512_setzero_ps()
#define ATT_FMA(a, b, c)       _mm512_fmadd_ps(a, b, c)
#define ATT_MUL(a, b)          _mm512_mul_ps(a, b)
#define ATT_ADD(a, b)          _mm512_add_ps(a, b)
#define ATT_SUB(a, b)          _mm512_sub_ps(a, b)
#define ATT_MAX(a, b)          _mm512_max_ps(a, b)
#define ATT_EXP2(x)            usine_attn_avx512_exp2(x)
#define ATT_NEG_INF_TO_ZERO(x) usine_attn_avx512_neg_inf_to_zero(x)

static inline __m512 usine_attn_avx512_poly(__m512 f);

/* 2^x: x = n + f, n = round(x), |f| <= 1/2, 2^f by the polynomial, then scaled by 2^n with
 * vscalefps. x < -126 (masked scores, -inf included, and weights below 2^-126 of the row's
 * largest, which cannot change an f32 sum of terms <= 1 containing 1) gives exactly 0; NaN
 * stays NaN. */
static inline __m512 usine_attn_avx512_exp2(__m512 x)
{
    const __m512 lo = _mm512_set1_ps(-126.0f);
    const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ);
    x = _mm512_max_ps(lo, x); /* NaN in x stays NaN (max returns its second operand) */
    const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 p = usine_attn_avx512_poly(_mm512_sub_ps(x, n));
    return _mm512_maskz_mov_ps(keep, _mm512_scalef_ps(p, n));
}

static inline __m512 usine_attn_avx512_neg_inf_to_zero(__m512 x)
{
    const __mmask16 inf = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-__builtin_inff()), _CMP_EQ_OQ);
    return _mm512_mask_mov_ps(x, inf, _mm512_setzero_ps());
}

#endif
