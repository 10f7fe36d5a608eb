/*
 * AVX512-BF16 attention: the forward's two products on bf16 pairs (vdpbf16ps: 16 lanes x
 * 2 products summed into f32, twice an f32 FMA's work at the same rate on Zen 4).
 *
 * The tiles are the AVX-512 kernel's (48 queries in 3 zmm x 8 keys or head_dim columns,
 * 24 accumulators), a step now being a pair:
 *   - S^T = K Q^T: Q^T holds each query's head_dim pairs as dwords; a K row's pair (two
 *     consecutive head_dim elements) is broadcast in place ({1to16}), so K is never
 *     packed. The scale (times log2 e) multiplies the f32 sums once, instead of rounding
 *     a scaled Q to bf16 again.
 *   - O^T += V^T P^T: the softmax writes P^T as key pairs rounded to bf16 (as the
 *     FlashAttention GPU kernels do), and V is repacked per key block so that a dword is
 *     the same column of two consecutive keys.
 * The softmax and everything else is the f32 code of attn_x86_impl.h (the backward runs
 * in f32 on converted rows).
 */
#include "attn_avx512_defs.h"
#include "attn_x86_impl.h"

/* acc += the 16 pair products of a and the bf16 pair at p broadcast ({1to16}); p needs
 * only 2-byte alignment (a memory operand, never a C access of a wider type). */
static inline __m512 dp_pair_bcast(__m512 a, const uint16_t *p, __m512 acc)
{
    __asm__("vdpbf16ps %1%{1to16%}, %2, %0" : "+v"(acc) : "m"(*(const char(*)[4])p), "v"(a));
    return acc;
}

static void scores_bf16(int64_t d, const uint32_t *qt2, const uint16_t *k, int64_t ks, int nk,
                        float c, float *st)
{
    const __m512 scale = _mm512_set1_ps(c);
    for (int j0 = 0; j0 < nk; j0 += ATT_NR) {
        const uint16_t *kr[ATT_NR];
#pragma GCC unroll 8
        for (int jj = 0; jj < ATT_NR; jj++)
            kr[jj] = k + (int64_t)(j0 + jj < nk ? j0 + jj : nk - 1) * ks;
        __m512 acc[ATT_MV][ATT_NR];
#pragma GCC unroll 8
        for (int jj = 0; jj < ATT_NR; jj++)
#pragma GCC unroll 3
            for (int v = 0; v < ATT_MV; v++)
                acc[v][jj] = _mm512_setzero_ps();
        const float *q = (const float *)qt2;
        for (int64_t pp = 0; pp < d / 2; pp++, q += ATT_MR) {
            __m512 a[ATT_MV];
#pragma GCC unroll 3
            for (int v = 0; v < ATT_MV; v++)
                a[v] = _mm512_load_ps(q + v * ATT_LANES);
#pragma GCC unroll 8
            for (int jj = 0; jj < ATT_NR; jj++)
#pragma GCC unroll 3
                for (int v = 0; v < ATT_MV; v++)
                    acc[v][jj] = dp_pair_bcast(a[v], kr[jj] + 2 * pp, acc[v][jj]);
        }
#pragma GCC unroll 8
        for (int jj = 0; jj < ATT_NR; jj++)
#pragma GCC unroll 3
            for (int v = 0; v < ATT_MV; v++)
                _mm512_store_ps(st + (int64_t)(j0 + jj) * ATT_MR + v * ATT_LANES,
                                _mm512_mul_ps(acc[v][jj], scale));
    }
}

/* Lanes i of p0 and p1 rounded to bf16 (nearest even) and interleaved: dword i = (p0[i],
 * p1[i]). */
static inline __m512i bf16_pairs(__m512 p0, __m512 p1)
{
    const __m512i interleave =
        _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i halves = (__m512i)_mm512_cvtne2ps_pbh(p1, p0); /* p0 low, p1 high */
    return _mm512_permutexvar_epi16(interleave, halves);
}

static void softmax_bf16(int nk, float *st, float *m, float *l, float *alpha, uint32_t *pt2)
{
    for (int v = 0; v < ATT_MV; v++) {
        const float *col = st + v * ATT_LANES;
        const __m512 mo = _mm512_load_ps(m + v * ATT_LANES);
        __m512 mx = mo;
        for (int j = 0; j < nk; j++)
            mx = _mm512_max_ps(mx, _mm512_load_ps(col + (int64_t)j * ATT_MR));
        const __m512 mu = ATT_NEG_INF_TO_ZERO(mx);
        const __m512 a = ATT_EXP2(_mm512_sub_ps(mo, mu));
        __m512 sum = _mm512_setzero_ps();
        uint32_t *out = pt2 + v * ATT_LANES;
        int j = 0;
        for (; j + 1 < nk; j += 2, out += ATT_MR) {
            const __m512 p0 =
                ATT_EXP2(_mm512_sub_ps(_mm512_load_ps(col + (int64_t)j * ATT_MR), mu));
            const __m512 p1 =
                ATT_EXP2(_mm512_sub_ps(_mm512_load_ps(col + (int64_t)(j + 1) * ATT_MR), mu));
            sum = _mm512_add_ps(_mm512_add_ps(sum, p0), p1);
            _mm512_store_si512(out, bf16_pairs(p0, p1));
        }
        if (j < nk) {
            const __m512 p0 =
                ATT_EXP2(_mm512_sub_ps(_mm512_load_ps(col + (int64_t)j * ATT_MR), mu));
            sum = _mm512_add_ps(sum, p0);
            _mm512_store_si512(out, bf16_pairs(p0, _mm512_setzero_ps()));
        }
        _mm512_store_ps(l + v * ATT_LANES,
                        _mm512_fmadd_ps(a, _mm512_load_ps(l + v * ATT_LANES), sum));
        _mm512_store_ps(m + v * ATT_LANES, mx);
        _mm512_store_ps(alpha + v * ATT_LANES, a);
    }
}

/* Rows 2jp and 2jp + 1 of V interleaved 16 columns at a time (one vpermt2w each). */
static void pack_v_bf16(int64_t d, int nk, const uint16_t *v, int64_t vs, uint32_t *vt2)
{
    const __m512i interleave =
        _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6,
                         37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    for (int j = 0; j < nk; j += 2, vt2 += d) {
        const uint16_t *r0 = v + (int64_t)j * vs, *r1 = r0 + vs;
        const int second = j + 1 < nk;
        for (int64_t c = 0; c < d; c += 16) {
            const __m512i a = _mm512_zextsi256_si512(_mm256_loadu_si256((const void *)(r0 + c)));
            const __m512i b =
                second ? _mm512_zextsi256_si512(_mm256_loadu_si256((const void *)(r1 + c)))
                       : _mm512_setzero_si512();
            _mm512_storeu_si512(vt2 + c, _mm512_permutex2var_epi16(a, interleave, b));
        }
    }
}

static void pv_bf16(int64_t d, int nk, const uint32_t *pt2, const uint32_t *vt2, const float *alpha,
                    float *ot)
{
    __m512 al[ATT_MV];
#pragma GCC unroll 3
    for (int v = 0; v < ATT_MV; v++)
        al[v] = _mm512_load_ps(alpha + v * ATT_LANES);
    const int pairs = (nk + 1) / 2;
    for (int64_t c0 = 0; c0 < d; c0 += ATT_NR) {
        __m512 acc[ATT_MV][ATT_NR];
        float *o = ot + c0 * ATT_MR;
#pragma GCC unroll 8
        for (int cc = 0; cc < ATT_NR; cc++)
#pragma GCC unroll 3
            for (int v = 0; v < ATT_MV; v++)
                acc[v][cc] = _mm512_mul_ps(al[v], _mm512_load_ps(o + cc * ATT_MR + v * ATT_LANES));
        const float *p = (const float *)pt2;
        const uint16_t *vr = (const uint16_t *)(vt2 + c0);
        for (int jp = 0; jp < pairs; jp++, p += ATT_MR, vr += 2 * d) {
            __m512 a[ATT_MV];
#pragma GCC unroll 3
            for (int v = 0; v < ATT_MV; v++)
                a[v] = _mm512_load_ps(p + v * ATT_LANES);
#pragma GCC unroll 8
            for (int cc = 0; cc < ATT_NR; cc++)
#pragma GCC unroll 3
                for (int v = 0; v < ATT_MV; v++)
                    acc[v][cc] = dp_pair_bcast(a[v], vr + 2 * cc, acc[v][cc]);
        }
#pragma GCC unroll 8
        for (int cc = 0; cc < ATT_NR; cc++)
#pragma GCC unroll 3
            for (int v = 0; v < ATT_MV; v++)
                _mm512_store_ps(o + cc * ATT_MR + v * ATT_LANES, acc[v][cc]);
    }
}

const usine_attn_kernel usine_attn_fwd_bf16_cpu_avx512bf16_48x8 = {
    .name = "usine_attn_fwd_bf16_cpu_avx512bf16_48x8",
    .isa = USINE_ISA_AVX512_BF16,
    .mr = ATT_MR,
    .nr = ATT_NR,
    .scores = usine_attn_avx512_scores,
    .softmax = usine_attn_avx512_softmax,
    .pv = usine_attn_avx512_pv,
    .bwd_ds = usine_attn_avx512_bwd_ds,
    .dq = usine_attn_avx512_dq,
    .scores_bf16 = scores_bf16,
    .softmax_bf16 = softmax_bf16,
    .pack_v_bf16 = pack_v_bf16,
    .pv_bf16 = pv_bf16,
};
