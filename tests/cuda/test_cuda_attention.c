/*
 * usine_attention_forward and usine_attention_backward on a CUDA context against a
 * double-precision reference computed here from the same (rounded) bf16 / f16 inputs: head_dim 64
 * and 128, both dtypes, causal or not (seq_q < seq_k and seq_q > seq_k: bottom-right aligned,
 * leading rows that see no key), sliding windows, grouped- and multi-query heads, BHSD and BSHD
 * layouts with padded rows, variable lengths with empty sequences (cu_seqlens in device memory),
 * seq_k = 0, sizes that are not multiples of the tiles; then the calls the CUDA path must refuse
 * (f32, head_dim 96, misaligned strides) with USINE_ERROR_NOT_SUPPORTED and nothing written.
 * Elements of O and lse outside the problem (padding, varlen gaps) must keep their sentinel value.
 *
 * Without a CUDA device (or driver, or CUDA build) it prints "SKIPPED: no CUDA device
 * (<reason>)" and exits 77, which ctest reports as skipped, never as passed.
 *
 * Tolerances (per element; u_in = 2^-8 for bf16, 2^-11 for f16, the unit roundoffs: the
 * relative rounding of the softmax weights P before P V, as the kernels do; E = (d + 2) 2^-24 scale
 * max_j sum_c |q_c k_jc|: f32 score error; W = sum_j P_j |v_jc| / sum_j P_j): |o - ref| <= (u_in +
 * 4 E + (sk + d + 8) 2^-24 + 2^-18) W + u_in |ref| + sk 2^-25 + 2^-24 |lse - ref| <= 2 E + (sk + 8)
 * 2^-24 + 2^-18 (1 + |ref|)   (-inf exactly where the reference is -inf) (2^-18 covers ex2.approx
 * and the f32 log).
 */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_test_util.h"
#include "test_util.h"

#define SENTINEL     1024.0 /* exact in bf16 and f16 */
#define LSE_SENTINEL 12345.0f

/* ---------------------------------------------------------------- cases */

typedef struct fwd_case {
    usine_dtype dtype;
    int64_t batch, hq, hkv, sq, sk, d;
    int bshd;    /* BSHD (1) or BHSD (0) */
    int64_t pad; /* extra elements per position row */
    int causal;
    int64_t window;
    double scale; /* 0: default */
    int varlen;
    int32_t cu_q[9], cu_k[9];
} fwd_case;

/* The kernel a forced context runs ("" for the library's choice), named in the failures. */
static const char *forced_kernel = "";

static void describe(const fwd_case *c, char *text, size_t size)
{
    int n = snprintf(text, size, "%s%s", forced_kernel, *forced_kernel ? ": " : "");
    n += snprintf(text + n, size - (size_t)n,
                  "%s b=%lld hq=%lld hkv=%lld sq=%lld sk=%lld d=%lld %s pad=%lld causal=%d "
                  "window=%lld scale=%g varlen=%d",
                  c->dtype == USINE_BF16 ? "bf16" : "f16", (long long)c->batch, (long long)c->hq,
                  (long long)c->hkv, (long long)c->sq, (long long)c->sk, (long long)c->d,
                  c->bshd ? "BSHD" : "BHSD", (long long)c->pad, c->causal, (long long)c->window,
                  c->scale, c->varlen);
    if (c->varlen)
        for (int64_t b = 0; b < c->batch && n > 0 && (size_t)n < size; b++)
            n += snprintf(text + n, size - (size_t)n, " [%d,%d)x[%d,%d)", c->cu_q[b],
                          c->cu_q[b + 1], c->cu_k[b], c->cu_k[b + 1]);
}

/* Strides of a [nb, heads, npos, d] tensor with rows of d + pad elements. */
static void strides_of(const fwd_case *c, int64_t heads, int64_t npos, int64_t s[3])
{
    const int64_t ld = c->d + c->pad;
    if (npos < 1) /* no position: strides as for one (distinct elements stay distinct) */
        npos = 1;
    if (c->bshd) {
        s[0] = npos * heads * ld;
        s[1] = ld;
        s[2] = heads * ld;
    } else {
        s[0] = heads * npos * ld;
        s[1] = npos * ld;
        s[2] = ld;
    }
}

static int gpu_ok(cudaError_t e, const char *what)
{
    return CHECK(e == cudaSuccess, "%s: %s", what, cudaGetErrorString(e));
}

/*
 * Memory of the context under test. USINE_TEST_ATTENTION_ON_CPU=1 runs this program on a CPU
 * context with host memory (bf16 cases only, no refusal checks: the CPU takes those): a check
 * of the reference, the tolerances and the sentinel logic on a machine without a GPU, against
 * usine's tested CPU attention.
 */
static int on_cpu;

/* A device (or, on the CPU, host) copy of `bytes` bytes, NULL on failure. */
static void *to_device(const void *x, size_t bytes)
{
    void *d = NULL;
    if (on_cpu) {
        d = malloc(bytes ? bytes : 1);
        if (bytes)
            memcpy(d, x, bytes);
        return d;
    }
    if (!gpu_ok(cudaMalloc(&d, bytes ? bytes : 1), "cudaMalloc"))
        return NULL;
    if (bytes && !gpu_ok(cudaMemcpy(d, x, bytes, cudaMemcpyHostToDevice), "cudaMemcpy H2D")) {
        cudaFree(d);
        return NULL;
    }
    return d;
}

static int from_device(void *x, const void *d, size_t bytes, const char *what)
{
    if (on_cpu) {
        memcpy(x, d, bytes);
        return 1;
    }
    return gpu_ok(cudaMemcpy(x, d, bytes, cudaMemcpyDeviceToHost), what);
}

static int device_sync(const char *what)
{
    return on_cpu ? 1 : gpu_ok(cudaDeviceSynchronize(), what);
}

static void device_free(void *d)
{
    if (on_cpu)
        free(d);
    else if (d)
        cudaFree(d);
}

/*
 * Runs one case; returns the status of usine_attention_forward (the result checked on
 * success, and on failure that nothing was written).
 */
static usine_status run_case(usine_context *ctx, const fwd_case *c, int expect_ok)
{
    char text[600];
    describe(c, text, sizeof text);
    const int64_t nb = c->varlen ? 1 : c->batch;
    const int64_t nq = c->varlen ? c->cu_q[c->batch] : c->sq;
    const int64_t nk = c->varlen ? c->cu_k[c->batch] : c->sk;
    int64_t qs[3], ks[3];
    strides_of(c, c->hq, nq, qs);
    strides_of(c, c->hkv, nk, ks);
    const int64_t qn = nb * c->hq * nq * (c->d + c->pad), kn = nb * c->hkv * nk * (c->d + c->pad);
    const int64_t ln = nb * c->hq * nq;
    uint16_t *q = malloc((size_t)(qn + 1) * 2), *k = malloc((size_t)(kn + 1) * 2);
    uint16_t *v = malloc((size_t)(kn + 1) * 2), *o = malloc((size_t)(qn + 1) * 2);
    float *lse = malloc((size_t)(ln + 1) * 4);
    /* Inputs random in their rows; the padding between rows holds 30000, which would show in
     * the results if a kernel read it. */
    for (int64_t i = 0; i < qn; i++)
        q[i] = test_put16(c->dtype, test_rand_uniform(-1, 1));
    for (int64_t i = 0; i < kn; i++) {
        k[i] = test_put16(c->dtype, test_rand_uniform(-1, 1));
        v[i] = test_put16(c->dtype, test_rand_uniform(-1, 1));
    }
    for (int64_t i = 0; i < qn; i++)
        if (i % (c->d + c->pad) >= c->d)
            q[i] = test_put16(c->dtype, 30000.0);
    for (int64_t i = 0; i < kn; i++)
        if (i % (c->d + c->pad) >= c->d)
            k[i] = v[i] = test_put16(c->dtype, 30000.0);
    for (int64_t i = 0; i < qn; i++)
        o[i] = test_put16(c->dtype, SENTINEL);
    for (int64_t i = 0; i < ln; i++)
        lse[i] = LSE_SENTINEL;

    usine_attention_desc desc;
    usine_attention_desc_init(&desc);
    desc.dtype = c->dtype;
    desc.batch = c->batch;
    desc.heads_q = c->hq;
    desc.heads_kv = c->hkv;
    desc.seq_q = c->sq;
    desc.seq_k = c->sk;
    desc.head_dim = c->d;
    memcpy(desc.q_strides, qs, sizeof qs);
    memcpy(desc.o_strides, qs, sizeof qs);
    memcpy(desc.k_strides, ks, sizeof ks);
    memcpy(desc.v_strides, ks, sizeof ks);
    desc.scale = c->scale;
    desc.causal = c->causal;
    desc.window = c->window;

    usine_status st = USINE_ERROR_DEVICE;
    void *dq = to_device(q, (size_t)qn * 2), *dk = to_device(k, (size_t)kn * 2);
    void *dv = to_device(v, (size_t)kn * 2), *dout = to_device(o, (size_t)qn * 2);
    void *dl = to_device(lse, (size_t)ln * 4);
    void *dcq = c->varlen ? to_device(c->cu_q, (size_t)(c->batch + 1) * 4) : NULL;
    void *dck = c->varlen ? to_device(c->cu_k, (size_t)(c->batch + 1) * 4) : NULL;
    if (!dq || !dk || !dv || !dout || !dl || (c->varlen && (!dcq || !dck)))
        goto done;
    desc.cu_seqlens_q = dcq;
    desc.cu_seqlens_k = dck;
    st = usine_attention_forward(ctx, &desc, dq, dk, dv, dout, dl);
    if (!device_sync("kernel") || !from_device(o, dout, (size_t)qn * 2, "copy o") ||
        !from_device(lse, dl, (size_t)ln * 4, "copy lse"))
        goto done;
    if (!expect_ok) {
        int untouched = 1;
        for (int64_t i = 0; i < qn && untouched; i++)
            untouched = test_get16(c->dtype, o[i]) == SENTINEL;
        for (int64_t i = 0; i < ln && untouched; i++)
            untouched = lse[i] == LSE_SENTINEL;
        CHECK(untouched, "%s: a refused call wrote its outputs", text);
        goto done;
    }
    if (!CHECK(st == USINE_SUCCESS, "%s: status %d: %s", text, (int)st, usine_last_error()))
        goto done;

    /* Which O and lse elements the problem owns (the rest must keep their sentinels). */
    unsigned char *owned = calloc((size_t)qn + 1, 1), *lowned = calloc((size_t)ln + 1, 1);
    const double scale = c->scale != 0 ? c->scale : 1.0 / sqrt((double)c->d);
    const double u_in = c->dtype == USINE_BF16 ? ldexp(1, -8) : ldexp(1, -11);
    double *p = malloc((size_t)(c->sk + 1) * sizeof(double));
    int bad = 0;
    for (int64_t b = 0; b < c->batch; b++) {
        const int64_t lq = c->varlen ? c->cu_q[b + 1] - c->cu_q[b] : c->sq;
        const int64_t lk = c->varlen ? c->cu_k[b + 1] - c->cu_k[b] : c->sk;
        const int64_t item = c->varlen ? 0 : b, pq = c->varlen ? c->cu_q[b] : 0,
                      pk = c->varlen ? c->cu_k[b] : 0;
        const int64_t off = lk - lq;
        for (int64_t h = 0; h < c->hq; h++) {
            const int64_t hk = h / (c->hq / c->hkv);
            for (int64_t i = 0; i < lq; i++) {
                const int64_t qrow = item * qs[0] + h * qs[1] + (pq + i) * qs[2];
                double mx = -INFINITY, emax = 0;
                for (int64_t j = 0; j < lk; j++) {
                    const int hidden =
                        (c->causal && j > i + off) || (c->window > 0 && j <= i + off - c->window);
                    const int64_t krow = item * ks[0] + hk * ks[1] + (pk + j) * ks[2];
                    double s = 0, sa = 0;
                    for (int64_t e = 0; e < c->d; e++) {
                        const double x =
                            test_get16(c->dtype, q[qrow + e]) * test_get16(c->dtype, k[krow + e]);
                        s += x;
                        sa += fabs(x);
                    }
                    p[j] = hidden ? -INFINITY : s * scale;
                    if (!hidden && sa > emax)
                        emax = sa;
                    if (p[j] > mx)
                        mx = p[j];
                }
                const double E = (double)(c->d + 2) * ldexp(1, -24) * fabs(scale) * emax;
                double l = 0;
                for (int64_t j = 0; j < lk; j++) {
                    p[j] = mx == -INFINITY ? 0 : exp(p[j] - mx);
                    l += p[j];
                }
                const double ref_lse = l > 0 ? mx + log(l) : -INFINITY;
                const int64_t li = c->varlen ? h * nq + pq + i : (b * c->hq + h) * c->sq + i;
                lowned[li] = 1;
                const double got_lse = lse[li];
                const int lse_ok =
                    ref_lse == -INFINITY
                        ? got_lse == -INFINITY
                        : fabs(got_lse - ref_lse) <= 2 * E + (double)(lk + 8) * ldexp(1, -24) +
                                                         ldexp(1, -18) * (1 + fabs(ref_lse));
                if (!lse_ok && bad++ < 5) /* the first few failures in full */
                    CHECK(0, "%s: lse[b=%lld h=%lld i=%lld] = %.9g, reference %.9g", text,
                          (long long)b, (long long)h, (long long)i, got_lse, ref_lse);
                for (int64_t e = 0; e < c->d; e++) {
                    double ref = 0, w = 0;
                    for (int64_t j = 0; j < lk; j++) {
                        const double x = test_get16(
                            c->dtype, v[item * ks[0] + hk * ks[1] + (pk + j) * ks[2] + e]);
                        ref += p[j] * x;
                        w += p[j] * fabs(x);
                    }
                    if (l > 0) {
                        ref /= l;
                        w /= l;
                    }
                    const double got = test_get16(c->dtype, o[qrow + e]);
                    owned[qrow + e] = 1;
                    const double tol =
                        (u_in + 4 * E + (double)(lk + c->d + 8) * ldexp(1, -24) + ldexp(1, -18)) *
                            w +
                        u_in * fabs(ref) + (double)lk * ldexp(1, -25) + ldexp(1, -24);
                    if (!(fabs(got - ref) <= tol) && bad++ < 5)
                        CHECK(0,
                              "%s: O[b=%lld h=%lld i=%lld c=%lld] = %.9g, reference %.9g "
                              "(tolerance %.3g)",
                              text, (long long)b, (long long)h, (long long)i, (long long)e, got,
                              ref, tol);
                }
            }
        }
    }
    CHECK(bad <= 5, "%s: %d O and lse elements out of tolerance in all", text, bad);
    int64_t stray = -1;
    for (int64_t i = 0; i < qn && stray < 0; i++)
        if (!owned[i] && test_get16(c->dtype, o[i]) != SENTINEL)
            stray = i;
    CHECK(stray < 0, "%s: O element %lld outside the problem was written", text, (long long)stray);
    stray = -1;
    for (int64_t i = 0; i < ln && stray < 0; i++)
        if (!lowned[i] && lse[i] != LSE_SENTINEL)
            stray = i;
    CHECK(stray < 0, "%s: lse element %lld outside the problem was written", text,
          (long long)stray);
    free(owned);
    free(lowned);
    free(p);
done:
    device_free(dq);
    device_free(dk);
    device_free(dv);
    device_free(dout);
    device_free(dl);
    device_free(dcq);
    device_free(dck);
    free(q);
    free(k);
    free(v);
    free(o);
    free(lse);
    return st;
}

/* Random lengths per sequence, item 1 with an empty query sequence and item 2 (when there is
 * one) with no keys; the longest become seq_q and seq_k. */
static void make_varlen(fwd_case *c, int64_t max_q, int64_t max_k)
{
    c->varlen = 1;
    c->cu_q[0] = (int32_t)test_rand_int(0, 3); /* sequences need not start at 0 */
    c->cu_k[0] = (int32_t)test_rand_int(0, 3);
    c->sq = c->sk = 0;
    for (int64_t b = 0; b < c->batch; b++) {
        int64_t lq = test_rand_int(1, max_q), lk = test_rand_int(1, max_k);
        if (b == 1)
            lq = 0;
        if (b == 2)
            lk = 0;
        c->cu_q[b + 1] = c->cu_q[b] + (int32_t)lq;
        c->cu_k[b + 1] = c->cu_k[b] + (int32_t)lk;
        if (lq > c->sq)
            c->sq = lq;
        if (lk > c->sk)
            c->sk = lk;
    }
}

/* ---------------------------------------------------------------- backward */

/* A tensor of n 16-bit elements: random in [-1, 1) where `row` elements are (the first d of
 * each d + pad), 30000 in the padding (a kernel reading it would show). */
static uint16_t *random_rows(const fwd_case *c, int64_t n)
{
    uint16_t *x = malloc((size_t)(n + 1) * 2);
    for (int64_t i = 0; i < n; i++)
        x[i] =
            test_put16(c->dtype, i % (c->d + c->pad) < c->d ? test_rand_uniform(-1, 1) : 30000.0);
    return x;
}

/*
 * One backward case. O and lse come from the double reference (O rounded to the dtype), so
 * that the backward is checked on its own. Reference per element (double):
 *   P_ij = exp(scale s_ij - lse_i) (0 when hidden), dP_ij = dO_i . V_j, D_i = dO_i . O_i,
 *   dS_ij = P_ij (dP_ij - D_i), dV_j = sum_i P_ij dO_i, dK_j = scale sum_i dS_ij Q_i,
 *   dQ_i = scale sum_j dS_ij K_j (dK, dV summed over the query heads of a KV head).
 * Tolerances from first-order error terms, doubled (u = 2^-8 bf16, 2^-11 f16: P and dS are
 * rounded to the dtype before the products; eP = relative error of P = E_ij + 2^-23 |lse_i| +
 * 2^-18; f32 dot products of n terms: (n + 2) 2^-24 sum |terms|):
 *   dS: |P| (|dP - D| (eP + u) + (d + 2) 2^-24 (sum |dO V| + sum |dO O|))
 *   dV: (u + eP + (sq + 2) 2^-24) sum_i P |dO|
 *   dK: scale (sum_i |Q| err(dS) + (sq + 2) 2^-24 sum_i |dS Q|), dQ likewise over j with K
 *   plus the output's rounding u |ref| and (sq + sk + 1) 2^-24 absolute (f16 subnormals).
 */
static void run_bwd_case(usine_context *ctx, const fwd_case *c)
{
    char text[600];
    describe(c, text, sizeof text);
    const int64_t nb = c->varlen ? 1 : c->batch;
    const int64_t nq = c->varlen ? c->cu_q[c->batch] : c->sq;
    const int64_t nk = c->varlen ? c->cu_k[c->batch] : c->sk;
    const int64_t d = c->d;
    int64_t qs[3], ks[3];
    strides_of(c, c->hq, nq, qs);
    strides_of(c, c->hkv, nk, ks);
    const int64_t qn = nb * c->hq * nq * (d + c->pad), kn = nb * c->hkv * nk * (d + c->pad);
    const int64_t ln = nb * c->hq * nq;
    uint16_t *q = random_rows(c, qn), *k = random_rows(c, kn), *v = random_rows(c, kn);
    uint16_t *dout = random_rows(c, qn), *o = random_rows(c, qn);
    float *lse = malloc((size_t)(ln + 1) * 4);
    uint16_t *dq = malloc((size_t)(qn + 1) * 2), *dk = malloc((size_t)(kn + 1) * 2),
             *dv = malloc((size_t)(kn + 1) * 2);
    for (int64_t i = 0; i < qn; i++)
        dq[i] = test_put16(c->dtype, SENTINEL);
    for (int64_t i = 0; i < kn; i++)
        dk[i] = dv[i] = test_put16(c->dtype, SENTINEL);
    for (int64_t i = 0; i < ln; i++)
        lse[i] = 0.0f;
    const double scale = c->scale != 0 ? c->scale : 1.0 / sqrt((double)d);
    const double u = c->dtype == USINE_BF16 ? ldexp(1, -8) : ldexp(1, -11);
    const double u24 = ldexp(1, -24);
    /* Reference accumulators and tolerances over whole tensors (element index = offset). */
    double *rq = calloc((size_t)qn + 1, sizeof(double)), *tq = calloc((size_t)qn + 1, 8);
    double *rk = calloc((size_t)kn + 1, 8), *tk = calloc((size_t)kn + 1, 8);
    double *rv = calloc((size_t)kn + 1, 8), *tv = calloc((size_t)kn + 1, 8);
    unsigned char *ownq = calloc((size_t)qn + 1, 1), *ownk = calloc((size_t)kn + 1, 1);
    const int64_t maxk = c->sk + 1;
    double *P = malloc((size_t)maxk * 8), *dS = malloc((size_t)maxk * 8),
           *eS = malloc((size_t)maxk * 8);

    /* Pass 1: O and lse of the reference (O rounded: the backward reads the stored O). */
    for (int pass = 0; pass < 2; pass++)
        for (int64_t b = 0; b < c->batch; b++) {
            const int64_t lq = c->varlen ? c->cu_q[b + 1] - c->cu_q[b] : c->sq;
            const int64_t lk = c->varlen ? c->cu_k[b + 1] - c->cu_k[b] : c->sk;
            const int64_t item = c->varlen ? 0 : b, pq = c->varlen ? c->cu_q[b] : 0,
                          pk = c->varlen ? c->cu_k[b] : 0, off = lk - lq;
            for (int64_t h = 0; h < c->hq; h++) {
                const int64_t hk = h / (c->hq / c->hkv);
                for (int64_t j = 0; pass == 1 && j < lk; j++)
                    for (int64_t e = 0; e < d; e++)
                        ownk[item * ks[0] + hk * ks[1] + (pk + j) * ks[2] + e] = 1;
                for (int64_t i = 0; i < lq; i++) {
                    const int64_t qrow = item * qs[0] + h * qs[1] + (pq + i) * qs[2];
                    const int64_t li = c->varlen ? h * nq + pq + i : (b * c->hq + h) * c->sq + i;
                    double mx = -INFINITY, emax = 0;
                    for (int64_t j = 0; j < lk; j++) {
                        const int64_t krow = item * ks[0] + hk * ks[1] + (pk + j) * ks[2];
                        const int hidden = (c->causal && j > i + off) ||
                                           (c->window > 0 && j <= i + off - c->window);
                        double s = 0, sa = 0;
                        for (int64_t e = 0; e < d; e++) {
                            const double x = test_get16(c->dtype, q[qrow + e]) *
                                             test_get16(c->dtype, k[krow + e]);
                            s += x;
                            sa += fabs(x);
                        }
                        P[j] = hidden ? -INFINITY : s * scale;
                        eS[j] = (double)(d + 2) * u24 * fabs(scale) * sa;
                        if (P[j] > mx)
                            mx = P[j];
                        if (!hidden && sa > emax)
                            emax = sa;
                    }
                    if (pass == 0) { /* O and lse */
                        double l = 0;
                        for (int64_t j = 0; j < lk; j++)
                            l += P[j] == -INFINITY ? 0 : exp(P[j] - mx);
                        lse[li] = l > 0 ? (float)(mx + log(l)) : -INFINITY;
                        for (int64_t e = 0; e < d; e++) {
                            double acc = 0;
                            for (int64_t j = 0; j < lk; j++)
                                if (P[j] != -INFINITY)
                                    acc += exp(P[j] - mx) / l *
                                           test_get16(
                                               c->dtype,
                                               v[item * ks[0] + hk * ks[1] + (pk + j) * ks[2] + e]);
                            o[qrow + e] = test_put16(c->dtype, acc);
                        }
                        continue;
                    }
                    /* pass 1: gradients, with the stored lse and O */
                    const double L = lse[li];
                    double Di = 0, Bi = 0;
                    for (int64_t e = 0; e < d; e++) {
                        const double x = test_get16(c->dtype, dout[qrow + e]) *
                                         test_get16(c->dtype, o[qrow + e]);
                        Di += x;
                        Bi += fabs(x);
                    }
                    for (int64_t j = 0; j < lk; j++) {
                        const int64_t krow = item * ks[0] + hk * ks[1] + (pk + j) * ks[2];
                        const double p = P[j] == -INFINITY ? 0 : exp(P[j] - L);
                        double dp = 0, A = 0;
                        for (int64_t e = 0; e < d; e++) {
                            const double x = test_get16(c->dtype, dout[qrow + e]) *
                                             test_get16(c->dtype, v[krow + e]);
                            dp += x;
                            A += fabs(x);
                        }
                        /* (a row that sees no key: lse = -inf, every P = 0) */
                        const double eP =
                            eS[j] + (p > 0 ? ldexp(1, -23) * fabs(L) : 0) + ldexp(1, -18);
                        P[j] = p;
                        dS[j] = p * (dp - Di);
                        eS[j] = p * (fabs(dp - Di) * (eP + u) + (double)(d + 2) * u24 * (A + Bi));
                        for (int64_t e = 0; e < d; e++) {
                            const double g = test_get16(c->dtype, dout[qrow + e]);
                            const double qe = test_get16(c->dtype, q[qrow + e]);
                            rv[krow + e] += p * g;
                            tv[krow + e] += (u + eP + (double)(lq + 2) * u24) * p * fabs(g);
                            rk[krow + e] += scale * dS[j] * qe;
                            tk[krow + e] +=
                                fabs(scale) *
                                (fabs(qe) * eS[j] + (double)(lq + 2) * u24 * fabs(dS[j] * qe));
                        }
                    }
                    for (int64_t e = 0; e < d; e++) {
                        double acc = 0, tol = 0;
                        for (int64_t j = 0; j < lk; j++) {
                            const double ke = test_get16(
                                c->dtype, k[item * ks[0] + hk * ks[1] + (pk + j) * ks[2] + e]);
                            acc += dS[j] * ke;
                            tol += fabs(ke) * eS[j] + (double)(lk + 2) * u24 * fabs(dS[j] * ke);
                        }
                        rq[qrow + e] = scale * acc;
                        tq[qrow + e] = fabs(scale) * tol;
                        ownq[qrow + e] = 1;
                    }
                    (void)emax;
                }
            }
        }

    usine_attention_desc desc;
    usine_attention_desc_init(&desc);
    desc.dtype = c->dtype;
    desc.batch = c->batch;
    desc.heads_q = c->hq;
    desc.heads_kv = c->hkv;
    desc.seq_q = c->sq;
    desc.seq_k = c->sk;
    desc.head_dim = d;
    memcpy(desc.q_strides, qs, sizeof qs);
    memcpy(desc.o_strides, qs, sizeof qs);
    memcpy(desc.k_strides, ks, sizeof ks);
    memcpy(desc.v_strides, ks, sizeof ks);
    desc.scale = c->scale;
    desc.causal = c->causal;
    desc.window = c->window;
    void *gq = to_device(q, (size_t)qn * 2), *gk = to_device(k, (size_t)kn * 2),
         *gv = to_device(v, (size_t)kn * 2), *go = to_device(o, (size_t)qn * 2),
         *gdo = to_device(dout, (size_t)qn * 2), *gl = to_device(lse, (size_t)ln * 4),
         *gdq = to_device(dq, (size_t)qn * 2), *gdk = to_device(dk, (size_t)kn * 2),
         *gdv = to_device(dv, (size_t)kn * 2);
    void *gcq = c->varlen ? to_device(c->cu_q, (size_t)(c->batch + 1) * 4) : NULL;
    void *gck = c->varlen ? to_device(c->cu_k, (size_t)(c->batch + 1) * 4) : NULL;
    if (gq && gk && gv && go && gdo && gl && gdq && gdk && gdv && (!c->varlen || (gcq && gck))) {
        desc.cu_seqlens_q = gcq;
        desc.cu_seqlens_k = gck;
        const usine_status st =
            usine_attention_backward(ctx, &desc, gq, gk, gv, go, gdo, gl, gdq, gdk, gdv);
        if (CHECK(st == USINE_SUCCESS, "%s: backward status %d: %s", text, (int)st,
                  usine_last_error()) &&
            device_sync("backward kernels") && from_device(dq, gdq, (size_t)qn * 2, "copy dq") &&
            from_device(dk, gdk, (size_t)kn * 2, "copy dk") &&
            from_device(dv, gdv, (size_t)kn * 2, "copy dv")) {
            const uint16_t *got[3] = {dq, dk, dv};
            const double *ref[3] = {rq, rk, rv}, *tol[3] = {tq, tk, tv};
            const unsigned char *own[3] = {ownq, ownk, ownk};
            const int64_t n[3] = {qn, kn, kn};
            static const char *const names[3] = {"dQ", "dK", "dV"};
            for (int t = 0; t < 3; t++) {
                int bad = 0;
                for (int64_t i = 0; i < n[t] && bad < 5; i++) {
                    const double x = test_get16(c->dtype, got[t][i]);
                    if (!own[t][i]) {
                        if (!CHECK(x == SENTINEL,
                                   "%s: %s element %lld outside the problem was "
                                   "written",
                                   text, names[t], (long long)i))
                            bad++;
                        continue;
                    }
                    /* + (sq + sk) 2^-24: f16 subnormal P and dS (absolute 2^-25 each) */
                    const double tl = 2 * tol[t][i] + u * fabs(ref[t][i]) +
                                      (double)(c->sq + c->sk + 1) * ldexp(1, -24);
                    if (!CHECK(fabs(x - ref[t][i]) <= tl,
                               "%s: %s element %lld = %.9g, reference %.9g (tolerance %.3g)", text,
                               names[t], (long long)i, x, ref[t][i], tl))
                        bad++;
                }
            }
        }
    }
    device_free(gq);
    device_free(gk);
    device_free(gv);
    device_free(go);
    device_free(gdo);
    device_free(gl);
    device_free(gdq);
    device_free(gdk);
    device_free(gdv);
    device_free(gcq);
    device_free(gck);
    free(q);
    free(k);
    free(v);
    free(dout);
    free(o);
    free(lse);
    free(dq);
    free(dk);
    free(dv);
    free(rq);
    free(tq);
    free(rk);
    free(tk);
    free(rv);
    free(tv);
    free(ownq);
    free(ownk);
    free(P);
    free(dS);
    free(eS);
}

/* On a cc 9.0 GPU the forward runs the sm_90a (wgmma) kernels by default: every forward case
 * runs again on the sm_80 kernel of its dtype and head_dim, forced ([dtype][head_dim 128]). */
static usine_context *sm80_forward[2][2];
static const char *const sm80_forward_names[2][2] = {
    {"usine_attn_fwd_cuda_sm80_bf16_d64_128x32", "usine_attn_fwd_cuda_sm80_bf16_d128_128x64"},
    {"usine_attn_fwd_cuda_sm80_f16_d64_128x32", "usine_attn_fwd_cuda_sm80_f16_d128_128x64"}};

static void open_sm80_forward(void)
{
    char why[512];
    for (int ty = 0; ty < 2; ty++)
        for (int dd = 0; dd < 2; dd++) {
            setenv("USINE_CUDA_KERNEL", sm80_forward_names[ty][dd], 1);
            sm80_forward[ty][dd] = cuda_context(why, sizeof why);
            CHECK(sm80_forward[ty][dd] != NULL, "USINE_CUDA_KERNEL=%s: %s",
                  sm80_forward_names[ty][dd], why);
        }
    unsetenv("USINE_CUDA_KERNEL");
}

/* A forward case on the library's choice, then on the forced sm_80 kernel where there is one;
 * the number of runs. */
static int run_forward(usine_context *ctx, const fwd_case *c)
{
    run_case(ctx, c, 1);
    const int ty = c->dtype == USINE_F16, dd = c->d == 128;
    if (!sm80_forward[ty][dd])
        return 1;
    forced_kernel = sm80_forward_names[ty][dd];
    run_case(sm80_forward[ty][dd], c, 1);
    forced_kernel = "";
    return 2;
}

int main(void)
{
    char why[512];
    const char *cpu = getenv("USINE_TEST_ATTENTION_ON_CPU");
    on_cpu = cpu && strcmp(cpu, "1") == 0;
    usine_context *ctx =
        on_cpu ? test_context_or_skip("cuda_attention") : cuda_context(why, sizeof why);
    if (!ctx) {
        printf("SKIPPED: no CUDA device (%s)\n", why);
        return TEST_SKIP;
    }
    printf("seed %llu\n", (unsigned long long)test_seed());
    /* USINE_TEST_CUDA_ONLY=forward: the forward cases on the library's choice alone (the
     * compute-sanitizer runs of tests/cuda/device_run.sh). */
    const char *only = getenv("USINE_TEST_CUDA_ONLY");
    const int forward_only = only && strcmp(only, "forward") == 0;
    if (!on_cpu && !forward_only && device_arch() == 90)
        open_sm80_forward();
    static const int64_t shapes[][2] = {{1, 1},    {17, 33},  {128, 128}, {130, 257},
                                        {300, 97}, {64, 300}, {255, 64}};
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    const usine_dtype types[2] = {USINE_BF16, USINE_F16};
    const int ntypes = on_cpu ? 1 : 2; /* the CPU has no f16 attention */
    int cases = 0;
    for (int ty = 0; ty < ntypes; ty++)
        for (int dd = 0; dd < 2; dd++)
            for (int sh = 0; sh < nshapes; sh++)
                for (int causal = 0; causal < 2; causal++) {
                    const int64_t hkv_choices[3] = {4, 2, 1};
                    fwd_case c = {types[ty],
                                  test_rand_int(1, 2),
                                  4,
                                  hkv_choices[test_rand_int(0, 2)],
                                  shapes[sh][0],
                                  shapes[sh][1],
                                  dd ? 128 : 64,
                                  (int)test_rand_int(0, 1),
                                  8 * test_rand_int(0, 1),
                                  causal,
                                  0,
                                  0.0,
                                  0,
                                  {0},
                                  {0}};
                    cases += run_forward(ctx, &c);
                }
    /* Windows (with and without causal), an explicit scale, seq_k = 0, one big case. */
    for (int ty = 0; ty < ntypes; ty++)
        for (int dd = 0; dd < 2; dd++) {
            const int64_t d = dd ? 128 : 64;
            fwd_case w = {types[ty], 2, 4, 2, 200, 300, d, 1, 0, 1, 37, 0.0, 0, {0}, {0}};
            cases += run_forward(ctx, &w);
            w.causal = 0;
            w.window = 100;
            w.sq = 300;
            w.sk = 200;
            cases += run_forward(ctx, &w);
            fwd_case s = {types[ty], 1, 2, 2, 70, 90, d, 0, 8, 0, 0, 0.5, 0, {0}, {0}};
            cases += run_forward(ctx, &s);
            /* A negative scale (usine.h allows any finite one): the row maximum of the scaled
             * scores is then the scaled minimum of the raw ones. Causal, past one key tile. */
            fwd_case neg = {types[ty], 1, 2, 2, 150, 300, d, 0, 0, 1, 0, -0.3, 0, {0}, {0}};
            cases += run_forward(ctx, &neg);
            fwd_case z = {types[ty], 2, 2, 1, 40, 0, d, 0, 0, 1, 0, 0.0, 0, {0}, {0}};
            cases += run_forward(ctx, &z);
            fwd_case big = {types[ty], 1, 2, 1, 1024, 1024, d, 1, 0, 1, 0, 0.0, 0, {0}, {0}};
            cases += run_forward(ctx, &big);
        }
    /* Variable lengths (MQA and GQA, causal or not, empty sequences). */
    for (int ty = 0; ty < ntypes; ty++)
        for (int dd = 0; dd < 2; dd++)
            for (int causal = 0; causal < 2; causal++) {
                fwd_case v = {types[ty],
                              4,
                              6,
                              causal ? 1 : 3,
                              0,
                              0,
                              dd ? 128 : 64,
                              (int)test_rand_int(0, 1),
                              8 * test_rand_int(0, 1),
                              causal,
                              0,
                              0.0,
                              0,
                              {0},
                              {0}};
                make_varlen(&v, 200, 300);
                cases += run_forward(ctx, &v);
            }
    /* What the CUDA path refuses, writing nothing: head_dim 96, rows not 16-byte aligned. */
    if (!on_cpu) {
        fwd_case r = {USINE_BF16, 1, 2, 2, 32, 32, 96, 0, 0, 0, 0, 0.0, 0, {0}, {0}};
        CHECK(run_case(ctx, &r, 0) == USINE_ERROR_NOT_SUPPORTED, "head_dim 96: %s",
              usine_last_error());
        fwd_case a = {USINE_F16, 1, 2, 2, 32, 32, 64, 0, 4, 0, 0, 0.0, 0, {0}, {0}};
        CHECK(run_case(ctx, &a, 0) == USINE_ERROR_NOT_SUPPORTED, "rows of 68 elements: %s",
              usine_last_error());
        usine_attention_desc f32;
        usine_attention_desc_init(&f32); /* f32 by default */
        f32.batch = f32.seq_q = f32.seq_k = 1;
        f32.head_dim = 64;
        float dummy[64];
        CHECK(usine_attention_forward(ctx, &f32, dummy, dummy, dummy, dummy + 1, NULL) ==
                  USINE_ERROR_NOT_SUPPORTED,
              "f32 on CUDA: %s", usine_last_error());
        cases += 3;
    }
    if (forward_only)
        goto finish;
    /* The backward: the same kinds of cases, smaller (the reference is O(sq sk d)). */
    static const int64_t bshapes[][2] = {{1, 1}, {17, 33}, {64, 64}, {100, 37}, {40, 130}};
    for (int ty = 0; ty < ntypes; ty++)
        for (int dd = 0; dd < 2; dd++)
            for (int sh = 0; sh < 5; sh++)
                for (int causal = 0; causal < 2; causal++) {
                    const int64_t hkv_choices[3] = {4, 2, 1};
                    fwd_case c = {types[ty],
                                  test_rand_int(1, 2),
                                  4,
                                  hkv_choices[test_rand_int(0, 2)],
                                  bshapes[sh][0],
                                  bshapes[sh][1],
                                  dd ? 128 : 64,
                                  (int)test_rand_int(0, 1),
                                  8 * test_rand_int(0, 1),
                                  causal,
                                  sh == 3 ? 20 : 0,
                                  0.0,
                                  0,
                                  {0},
                                  {0}};
                    run_bwd_case(ctx, &c);
                    cases++;
                }
    for (int ty = 0; ty < ntypes; ty++)
        for (int dd = 0; dd < 2; dd++) {
            fwd_case v = {types[ty], 4, 4, 2, 0, 0, dd ? 128 : 64, 1, 0, 1, 0, 0.0, 0, {0}, {0}};
            make_varlen(&v, 90, 120);
            run_bwd_case(ctx, &v);
            fwd_case z = {types[ty], 1, 2, 1, 30, 0, dd ? 128 : 64, 0, 0, 0, 0, 0.0, 0, {0}, {0}};
            run_bwd_case(ctx, &z); /* no keys: dQ = 0 */
            fwd_case nq = {types[ty], 1, 2, 1, 0, 30, dd ? 128 : 64, 0, 0, 0, 0, 0.0, 0, {0}, {0}};
            run_bwd_case(ctx, &nq); /* no queries: dK = dV = 0 */
            fwd_case neg = nq;      /* a negative scale, causal */
            neg.sq = 150;
            neg.sk = 100;
            neg.causal = 1;
            neg.scale = -0.3;
            run_bwd_case(ctx, &neg);
            cases += 4;
        }
finish:
    printf("%d cases\n", cases);
    for (int ty = 0; ty < 2; ty++)
        for (int dd = 0; dd < 2; dd++)
            usine_destroy(sm80_forward[ty][dd]);
    usine_destroy(ctx);
    return test_finish("cuda_attention");
}
