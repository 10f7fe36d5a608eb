/* AVX2 + FMA attention microkernels: 24 queries (3 ymm) x 4 keys or head_dim columns
 * (12 accumulators, 3 loads and a broadcast: 16 ymm). */
#include <immintrin.h>

#include "attention_kernel.h"

#define ATT_PREFIX(name)       usine_attn_avx2_##name
#define ATT_V                  __m256
#define ATT_LANES              8
#define ATT_MV                 3
#define ATT_NR                 4
#define ATT_LOAD(p)            _mm256_load_ps(p)
#define ATT_STORE(p, v)        _mm256_store_ps(p, v)
#define ATT_LOADU(p)           _mm256_loadu_ps(p)
#define ATT_STOREU(p, v)       _mm256_storeu_ps(p, v)
#define ATT_DQ_RI              3
#define ATT_SET1(x)            _mm256_set1_ps(x)
#define ATT_ZERO()             _mm256_setzero_ps()
#define ATT_FMA(a, b, c)       _mm256_fmadd_ps(a, b, c)
#define ATT_MUL(a, b)          _mm256_mul_ps(a, b)
#define ATT_ADD(a, b)          _mm256_add_ps(a, b)
#define ATT_SUB(a, b)          _mm256_sub_ps(a, b)
#define ATT_MAX(a, b)          _mm256_max_ps(a, b)
#define ATT_EXP2(x)            usine_attn_avx2_exp2(x)
#define ATT_NEG_INF_TO_ZERO(x) usine_attn_avx2_neg_inf_to_zero(x)

static inline __m256 usine_attn_avx2_poly(__m256 f);

/* 2^x as in the AVX-512 kernel; 2^n is built in the exponent field (n >= -126 after the
 * clamp, so it is a normal number). x < -126 gives exactly 0; NaN stays NaN. */
static inline __m256 usine_attn_avx2_exp2(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-126.0f);
    const __m256 keep = _mm256_cmp_ps(x, lo, _CMP_NLT_UQ);
    x = _mm256_max_ps(lo, x);
    x = _mm256_min_ps(_mm256_set1_ps(127.0f), x);
    const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 p = usine_attn_avx2_poly(_mm256_sub_ps(x, n));
    const __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(keep, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

static inline __m256 usine_attn_avx2_neg_inf_to_zero(__m256 x)
{
    const __m256 inf = _mm256_cmp_ps(x, _mm256_set1_ps(-__builtin_inff()), _CMP_EQ_OQ);
    return _mm256_andnot_ps(inf, x);
}

#include "attn_x86_impl.h"

const usine_attn_kernel usine_attn_fwd_f32_cpu_avx2_24x4 = {
    .name = "usine_attn_fwd_f32_cpu_avx2_24x4",
    .isa = USINE_ISA_AVX2,
    .mr = ATT_MR,
    .nr = ATT_NR,
    .scores = usine_attn_avx2_scores,
    .softmax = usine_attn_avx2_softmax,
    .pv = usine_attn_avx2_pv,
    .bwd_ds = usine_attn_avx2_bwd_ds,
    .dq = usine_attn_avx2_dq,
};
