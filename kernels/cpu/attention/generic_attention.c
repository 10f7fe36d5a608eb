/*
 * Portable C attention microkernels (the contract of attention_kernel.h): 16 queries x 4
 * keys or head_dim columns, written as fixed-length lane loops that compilers vectorise
 * (-fopenmp-simd) with whatever the baseline ISA offers. The arithmetic is the x86
 * kernels': same exp2 polynomial, same order of sums.
 */
#include <stdint.h>
#include <string.h>

#include "attention_kernel.h"

#define MR 16
#define NR 4

/* 2^x (see avx512_attention.c): x = n + f, |f| <= 1/2, degree-7 polynomial, 2^n built in
 * the exponent field. x < -126 gives 0; NaN stays NaN. No libm call. */
static inline float exp2_lane(float x)
{
    if (!(x >= -126.0f)) /* -inf, masked, negligible; NaN falls through below */
        return x != x ? x : 0.0f;
    if (x > 127.0f)
        x = 127.0f;
    const float n = (x + 12582912.0f) - 12582912.0f; /* round to nearest (1.5 * 2^23) */
    const float f = x - n;
    float p = 1.5252733804059840e-05f;
    p = p * f + 0.00015403530393381606f;
    p = p * f + 0.0013333558146428443f;
    p = p * f + 0.009618129107628477f;
    p = p * f + 0.05550410866482158f;
    p = p * f + 0.2402265069591007f;
    p = p * f + 0.6931471805599453f;
    p = p * f + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static void scores(int64_t d, const float *qt, const float *k, int64_t ks, int nk, float *st)
{
    for (int j0 = 0; j0 < nk; j0 += NR) {
        const float *kr[NR];
        for (int jj = 0; jj < NR; jj++)
            kr[jj] = k + (int64_t)(j0 + jj < nk ? j0 + jj : nk - 1) * ks;
        float acc[NR][MR] = {{0}};
        for (int64_t p = 0; p < d; p++) {
            const float *q = qt + p * MR;
            for (int jj = 0; jj < NR; jj++) {
                const float b = kr[jj][p];
#pragma omp simd
                for (int i = 0; i < MR; i++)
                    acc[jj][i] += q[i] * b;
            }
        }
        memcpy(st + (int64_t)j0 * MR, acc, sizeof acc);
    }
}

static void softmax(int nk, float *st, float *m, float *l, float *alpha)
{
    float mx[MR], mu[MR], sum[MR] = {0};
    memcpy(mx, m, sizeof mx);
    for (int j = 0; j < nk; j++)
        for (int i = 0; i < MR; i++) {
            const float s = st[j * MR + i];
            mx[i] = s > mx[i] ? s : mx[i];
        }
    for (int i = 0; i < MR; i++) {
        mu[i] = mx[i] == -__builtin_inff() ? 0.0f : mx[i];
        alpha[i] = exp2_lane(m[i] - mu[i]);
    }
    for (int j = 0; j < nk; j++)
        for (int i = 0; i < MR; i++) {
            const float p = exp2_lane(st[j * MR + i] - mu[i]);
            st[j * MR + i] = p;
            sum[i] += p;
        }
    for (int i = 0; i < MR; i++) {
        l[i] = alpha[i] * l[i] + sum[i];
        m[i] = mx[i];
    }
}

static void pv(int64_t d, int nk, const float *pt, const float *v, int64_t vs, const float *alpha,
               float *ot)
{
    for (int64_t c0 = 0; c0 < d; c0 += NR) {
        float acc[NR][MR];
        float *o = ot + c0 * MR;
        for (int cc = 0; cc < NR; cc++)
#pragma omp simd
            for (int i = 0; i < MR; i++)
                acc[cc][i] = alpha[i] * o[cc * MR + i];
        for (int j = 0; j < nk; j++) {
            const float *p = pt + (int64_t)j * MR, *vr = v + (int64_t)j * vs + c0;
            for (int cc = 0; cc < NR; cc++) {
                const float b = vr[cc];
#pragma omp simd
                for (int i = 0; i < MR; i++)
                    acc[cc][i] += p[i] * b;
            }
        }
        memcpy(o, acc, sizeof acc);
    }
}

static void bwd_ds(int n, float *st, float *dpt, const float *lse2, const float *dd)
{
    for (int i = 0; i < n; i++) {
        float *s = st + (int64_t)i * MR, *g = dpt + (int64_t)i * MR;
        for (int j = 0; j < MR; j++) {
            const float p = exp2_lane(s[j] - lse2[i]);
            s[j] = p;
            g[j] = p * (g[j] - dd[i]);
        }
    }
}

/* dQ += dS K: one query row at a time, head_dim in chunks of 16 columns held in a local
 * accumulator (vectorised along the columns). */
static void dq(int64_t d, int n, int nk, const float *ds, const float *k, int64_t ks, float *dqr)
{
    for (int i = 0; i < n; i++)
        for (int64_t c0 = 0; c0 < d; c0 += 16) {
            float acc[16];
            float *out = dqr + i * d + c0;
            memcpy(acc, out, sizeof acc);
            for (int j = 0; j < nk; j++) {
                const float a = ds[(int64_t)i * MR + j], *kr = k + j * ks + c0;
#pragma omp simd
                for (int c = 0; c < 16; c++)
                    acc[c] += a * kr[c];
            }
            memcpy(out, acc, sizeof acc);
        }
}

const usine_attn_kernel usine_attn_fwd_f32_cpu_generic_16x4 = {
    .name = "usine_attn_fwd_f32_cpu_generic_16x4",
    .isa = USINE_ISA_GENERIC,
    .mr = MR,
    .nr = NR,
    .scores = scores,
    .softmax = softmax,
    .pv = pv,
    .bwd_ds = bwd_ds,
    .dq = dq,
};
