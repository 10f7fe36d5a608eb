/*
 * x86 attention microkernels (the contract of attention_kernel.h), instantiated once per
 * ISA by defining the ATT_* macros and including this file.
 *
 * Register map (AVX-512, MV = 3, NR = 8; AVX2, MV = 3, NR = 4): MV x NR accumulators (24 zmm
 * or 12 ymm), MV vectors of Q^T (or P^T) loaded per step, NR broadcasts of K (or V)
 * elements folded into the FMAs as memory operands. Each step is MV loads + NR broadcasts
 * for MV * NR FMAs, well within two loads per cycle.
 *
 * Required macros: ATT_PREFIX(name), ATT_V, ATT_LANES, ATT_MV, ATT_NR, ATT_LOAD(p),
 * ATT_STORE(p, v), ATT_SET1(x), ATT_ZERO(), ATT_FMA(a, b, c), ATT_MUL(a, b), ATT_ADD(a, b),
 * ATT_SUB(a, b), ATT_MAX(a, b), ATT_EXP2(x) (see below), ATT_NEG_INF_TO_ZERO(x), and for the
 * backward ATT_LOADU(p), ATT_STOREU(p, v) (unaligned) and ATT_DQ_RI (query rows per dq tile).
 */
#include <stdint.h>

#define ATT_MR (ATT_MV * ATT_LANES)

/* 2^f for f in [-0.5, 0.5]: the degree-7 Taylor polynomial of exp(f ln 2); truncation error
 * below 7e-9 relative (1/8 ulp), Horner rounding adds about one ulp. */
#define ATT_C1 0.6931471805599453f
#define ATT_C2 0.2402265069591007f
#define ATT_C3 0.05550410866482158f
#define ATT_C4 0.009618129107628477f
#define ATT_C5 0.0013333558146428443f
#define ATT_C6 0.00015403530393381606f
#define ATT_C7 1.5252733804059840e-05f

static inline ATT_V ATT_PREFIX(poly)(ATT_V f)
{
    ATT_V p = ATT_SET1(ATT_C7);
    p = ATT_FMA(p, f, ATT_SET1(ATT_C6));
    p = ATT_FMA(p, f, ATT_SET1(ATT_C5));
    p = ATT_FMA(p, f, ATT_SET1(ATT_C4));
    p = ATT_FMA(p, f, ATT_SET1(ATT_C3));
    p = ATT_FMA(p, f, ATT_SET1(ATT_C2));
    p = ATT_FMA(p, f, ATT_SET1(ATT_C1));
    return ATT_FMA(p, f, ATT_SET1(1.0f));
}

static void ATT_PREFIX(scores)(int64_t d, const float *qt, const float *k, int64_t ks, int nk,
                               float *st)
{
    for (int j0 = 0; j0 < nk; j0 += ATT_NR) {
        const float *kr[ATT_NR];
#pragma GCC unroll 16
        for (int jj = 0; jj < ATT_NR; jj++)
            kr[jj] = k + (int64_t)(j0 + jj < nk ? j0 + jj : nk - 1) * ks;
        ATT_V acc[ATT_MV][ATT_NR];
#pragma GCC unroll 16
        for (int jj = 0; jj < ATT_NR; jj++)
#pragma GCC unroll 4
            for (int v = 0; v < ATT_MV; v++)
                acc[v][jj] = ATT_ZERO();
        const float *q = qt;
        for (int64_t p = 0; p < d; p++, q += ATT_MR) {
            ATT_V a[ATT_MV];
#pragma GCC unroll 4
            for (int v = 0; v < ATT_MV; v++)
                a[v] = ATT_LOAD(q + v * ATT_LANES);
#pragma GCC unroll 16
            for (int jj = 0; jj < ATT_NR; jj++) {
                const ATT_V b = ATT_SET1(kr[jj][p]);
#pragma GCC unroll 4
                for (int v = 0; v < ATT_MV; v++)
                    acc[v][jj] = ATT_FMA(a[v], b, acc[v][jj]);
            }
        }
#pragma GCC unroll 16
        for (int jj = 0; jj < ATT_NR; jj++)
#pragma GCC unroll 4
            for (int v = 0; v < ATT_MV; v++)
                ATT_STORE(st + (int64_t)(j0 + jj) * ATT_MR + v * ATT_LANES, acc[v][jj]);
    }
}

static void ATT_PREFIX(softmax)(int nk, float *st, float *m, float *l, float *alpha)
{
    for (int v = 0; v < ATT_MV; v++) {
        float *col = st + v * ATT_LANES;
        const ATT_V mo = ATT_LOAD(m + v * ATT_LANES);
        ATT_V mx = mo;
        for (int j = 0; j < nk; j++)
            mx = ATT_MAX(mx, ATT_LOAD(col + (int64_t)j * ATT_MR));
        const ATT_V mu = ATT_NEG_INF_TO_ZERO(mx);
        const ATT_V a = ATT_EXP2(ATT_SUB(mo, mu));
        ATT_V sum = ATT_ZERO();
        for (int j = 0; j < nk; j++) {
            const ATT_V p = ATT_EXP2(ATT_SUB(ATT_LOAD(col + (int64_t)j * ATT_MR), mu));
            ATT_STORE(col + (int64_t)j * ATT_MR, p);
            sum = ATT_ADD(sum, p);
        }
        ATT_STORE(l + v * ATT_LANES, ATT_FMA(a, ATT_LOAD(l + v * ATT_LANES), sum));
        ATT_STORE(m + v * ATT_LANES, mx);
        ATT_STORE(alpha + v * ATT_LANES, a);
    }
}

static void ATT_PREFIX(pv)(int64_t d, int nk, const float *pt, const float *vm, int64_t vs,
                           const float *alpha, float *ot)
{
    ATT_V al[ATT_MV];
#pragma GCC unroll 4
    for (int v = 0; v < ATT_MV; v++)
        al[v] = ATT_LOAD(alpha + v * ATT_LANES);
    for (int64_t c0 = 0; c0 < d; c0 += ATT_NR) {
        ATT_V acc[ATT_MV][ATT_NR];
        float *o = ot + c0 * ATT_MR;
#pragma GCC unroll 16
        for (int cc = 0; cc < ATT_NR; cc++)
#pragma GCC unroll 4
            for (int v = 0; v < ATT_MV; v++)
                acc[v][cc] = ATT_MUL(al[v], ATT_LOAD(o + cc * ATT_MR + v * ATT_LANES));
        const float *vr = vm + c0, *p = pt;
        for (int j = 0; j < nk; j++, vr += vs, p += ATT_MR) {
            ATT_V a[ATT_MV];
#pragma GCC unroll 4
            for (int v = 0; v < ATT_MV; v++)
                a[v] = ATT_LOAD(p + v * ATT_LANES);
#pragma GCC unroll 16
            for (int cc = 0; cc < ATT_NR; cc++) {
                const ATT_V b = ATT_SET1(vr[cc]);
#pragma GCC unroll 4
                for (int v = 0; v < ATT_MV; v++)
                    acc[v][cc] = ATT_FMA(a[v], b, acc[v][cc]);
            }
        }
#pragma GCC unroll 16
        for (int cc = 0; cc < ATT_NR; cc++)
#pragma GCC unroll 4
            for (int v = 0; v < ATT_MV; v++)
                ATT_STORE(o + cc * ATT_MR + v * ATT_LANES, acc[v][cc]);
    }
}

/* ------------------------------------------------------------------ backward */

static void ATT_PREFIX(bwd_ds)(int n, float *st, float *dpt, const float *lse2, const float *dd)
{
    for (int i = 0; i < n; i++) {
        const ATT_V l = ATT_SET1(lse2[i]), dv = ATT_SET1(dd[i]);
        float *s = st + (int64_t)i * ATT_MR, *g = dpt + (int64_t)i * ATT_MR;
#pragma GCC unroll 4
        for (int v = 0; v < ATT_MV; v++) {
            const ATT_V p = ATT_EXP2(ATT_SUB(ATT_LOAD(s + v * ATT_LANES), l));
            ATT_STORE(s + v * ATT_LANES, p);
            ATT_STORE(g + v * ATT_LANES, ATT_MUL(p, ATT_SUB(ATT_LOAD(g + v * ATT_LANES), dv)));
        }
    }
}

/* dQ += dS K for RI query rows x CV vectors of head_dim columns: CV row vectors of K loaded
 * per key, RI broadcasts of dS (AVX-512: 6 x 4 = 24 accumulators). RI and CV are constants
 * at every call site, so the loops unroll fully. */
static inline __attribute__((always_inline)) void
ATT_PREFIX(dq_tile)(const int RI, const int CV, int64_t d, int nk, const float *ds, const float *k,
                    int64_t ks, float *dq)
{
    ATT_V acc[ATT_DQ_RI][4];
#pragma GCC unroll 8
    for (int r = 0; r < RI; r++)
#pragma GCC unroll 4
        for (int v = 0; v < CV; v++)
            acc[r][v] = ATT_LOADU(dq + r * d + v * ATT_LANES);
    for (int j = 0; j < nk; j++) {
        ATT_V b[4];
#pragma GCC unroll 4
        for (int v = 0; v < CV; v++)
            b[v] = ATT_LOADU(k + j * ks + v * ATT_LANES);
#pragma GCC unroll 8
        for (int r = 0; r < RI; r++) {
            const ATT_V a = ATT_SET1(ds[r * ATT_MR + j]);
#pragma GCC unroll 4
            for (int v = 0; v < CV; v++)
                acc[r][v] = ATT_FMA(a, b[v], acc[r][v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < RI; r++)
#pragma GCC unroll 4
        for (int v = 0; v < CV; v++)
            ATT_STOREU(dq + r * d + v * ATT_LANES, acc[r][v]);
}

static inline __attribute__((always_inline)) void ATT_PREFIX(dq_rows)(const int RI, int64_t d,
                                                                      int nk, const float *ds,
                                                                      const float *k, int64_t ks,
                                                                      float *dq)
{
    int64_t c = 0;
    for (; c + 4 * ATT_LANES <= d; c += 4 * ATT_LANES)
        ATT_PREFIX(dq_tile)(RI, 4, d, nk, ds, k + c, ks, dq + c);
    for (; c < d; c += ATT_LANES)
        ATT_PREFIX(dq_tile)(RI, 1, d, nk, ds, k + c, ks, dq + c);
}

static void ATT_PREFIX(dq)(int64_t d, int n, int nk, const float *ds, const float *k, int64_t ks,
                           float *dq)
{
    int i = 0;
    for (; i + ATT_DQ_RI <= n; i += ATT_DQ_RI)
        ATT_PREFIX(dq_rows)(ATT_DQ_RI, d, nk, ds + (int64_t)i * ATT_MR, k, ks, dq + i * d);
    for (; i < n; i++)
        ATT_PREFIX(dq_rows)(1, d, nk, ds + (int64_t)i * ATT_MR, k, ks, dq + i * d);
}
