/*
 * usine_attention_backward against a long double reference gradient, computed naively from
 * the exact forward: P = softmax(Q K^T scale + mask), D_i = sum_c dO_ic O_ic, dP = dO V^T,
 * dS = P (dP - D), dQ = scale dS K, dK = scale dS^T Q, dV = P^T dO; on random shapes, head
 * dims, GQA/MQA, causal (seq_q < seq_k and seq_q > seq_k), windows, variable lengths,
 * BSHD/BHSD/padded strides, fully masked rows, bf16; a central finite-difference check of
 * sum(dO * O) on tiny cases; bitwise reproducibility across runs and 1 and 2 threads;
 * argument errors (status, message naming the argument, nothing written). The O and lse the
 * backward reads come from usine_attention_forward, as a caller's would.
 *
 * Tolerance, first-order bounds doubled (u = 2^-24; n visible keys of a row, d head_dim):
 *   logits as in test_attention.c: dmax_i <= (d + 4) u scale max_j sum_p |q_p k_jp| + ...;
 *   P_ij = exp2(s_ij log2 e - lse_i log2 e) recomputed: relative error
 *     eP_ij = 4 (dmax_i + (n + 8) u + 2 u (|lse_i| + |s_ij|)) (logits, lse, exp2);
 *   D_i: (d + 4) u sum_c |dO_ic O_ic| plus the forward's error in O times |dO|;
 *   dP_ij: (d + 4) u sum_c |dO_ic V_jc|;
 *   dS_ij: P_ij (eP_ij |dP_ij - D_i| + err dP_ij + err D_i) + 2 u |dS_ij|;
 *   each gradient element, a sum of m terms: 2 (sum of the terms' errors + (m + 8) u sum of
 *   their magnitudes) (+ 2^-8 |ref| for bf16 outputs).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention_cases.h"

#define U 0x1p-24

/* The forward's tensors, and the gradient ones of the same shapes. */
typedef struct tensors {
    attn_tensors f;
    test_buffer d_o, dq, dk, dv;
} tensors;

/* dO random in O's rows; the gradients hold the sentinel, so that a write outside every row
 * shows. O and lse are NaN until the forward writes them. */
static void make_tensors(const attn_case *c, tensors *t)
{
    attn_make_tensors(c, &t->f, NAN);
    const attn_tensors *f = &t->f;
    t->d_o = attn_make_buffer(c, f->nq_el, NAN);
    attn_fill_rows(c, t->d_o.data, f->nb, c->hq, f->nq_pos, f->desc.o_strides);
    t->dq = attn_make_buffer(c, f->nq_el, ATTN_SENTINEL);
    t->dk = attn_make_buffer(c, f->nk_el, ATTN_SENTINEL);
    t->dv = attn_make_buffer(c, f->nk_el, ATTN_SENTINEL);
}

static void free_tensors(tensors *t)
{
    attn_free_tensors(&t->f);
    test_buffer *grads[4] = {&t->d_o, &t->dq, &t->dk, &t->dv};
    for (int i = 0; i < 4; i++)
        test_buffer_free(grads[i]);
}

static usine_status backward(usine_context *ctx, tensors *t)
{
    const attn_tensors *f = &t->f;
    return usine_attention_backward(ctx, &f->desc, f->q.data, f->k.data, f->v.data, f->o.data,
                                    t->d_o.data, (const float *)f->lse.data, t->dq.data, t->dk.data,
                                    t->dv.data);
}

/* Reference gradient and tolerance of each element, indexed like the storage. */
typedef struct grad_ref {
    long double *ref, *tol;
    unsigned char *seen;
} grad_ref;

static grad_ref grad_alloc(int64_t n)
{
    grad_ref g = {calloc((size_t)n, sizeof(long double)), calloc((size_t)n, sizeof(long double)),
                  calloc((size_t)n, 1)};
    return g;
}

static void grad_free(grad_ref *g)
{
    free(g->ref);
    free(g->tol);
    free(g->seen);
}

/* Adds the terms' magnitudes to the tolerance: tol holds sum error, mag sum |term|, count m;
 * folded in at the end as 2 (err + (m + 8) u mag). */
typedef struct acc3 {
    long double *err, *mag;
    int64_t *m;
} acc3;

static int64_t compare(const attn_case *c, const char *what, const char *name, const void *got,
                       const grad_ref *g, const long double *err, const long double *mag,
                       const int64_t *m, int64_t n)
{
    int64_t bad = 0;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        const double v = attn_get(c, got, i);
        if (!g->seen[i]) {
            if (!(v == ATTN_SENTINEL) && bad++ < 5)
                CHECK(0, "%s: %s[%lld] = %g outside every row was written", what, name,
                      (long long)i, v);
            continue;
        }
        double tol = (double)(2 * (err[i] + (long double)(m[i] + 8) * U * mag[i])) + 1e-30;
        if (c->dtype == USINE_BF16)
            tol += 0x1p-8 * fabs((double)g->ref[i]) + 1e-30;
        const double e = fabs(v - (double)g->ref[i]);
        if (e / tol > worst)
            worst = e / tol;
        if (!(e <= tol) && bad++ < 5)
            CHECK(0, "%s: %s[%lld] = %.9g, reference %.9Lg (tol %.3g)", what, name, (long long)i, v,
                  g->ref[i], tol);
    }
    const char *verbose = getenv("USINE_TEST_VERBOSE");
    if (verbose && *verbose == '1')
        printf("  %s: %s worst error / tolerance %.3g\n", what, name, worst);
    return bad;
}

/* One computed case against the reference; returns the number of bad elements. */
static int64_t check_case(const attn_case *c, const tensors *t)
{
    const usine_attention_desc *d = &t->f.desc;
    const long double scale = c->scale != 0 ? c->scale : 1.0 / sqrt((double)c->d);
    const long double as = fabsl(scale);
    const int64_t dd = c->d, nq_el = t->f.nq_el, nk_el = t->f.nk_el;
    char what[256];
    attn_describe(c, "backward ", what, sizeof what);
    grad_ref gq = grad_alloc(nq_el), gk = grad_alloc(nk_el), gv = grad_alloc(nk_el);
    long double *err[3], *mag[3];
    int64_t *cnt[3];
    const int64_t sizes[3] = {nq_el, nk_el, nk_el};
    for (int x = 0; x < 3; x++) {
        err[x] = calloc((size_t)sizes[x], sizeof(long double));
        mag[x] = calloc((size_t)sizes[x], sizeof(long double));
        cnt[x] = calloc((size_t)sizes[x], sizeof(int64_t));
    }
    const size_t nsk = (size_t)(c->sk > 0 ? c->sk : 1);
    long double *s = malloc(nsk * sizeof *s), *pr = malloc(nsk * sizeof *pr),
                *dp = malloc(nsk * sizeof *dp), *ap = malloc(nsk * sizeof *ap);
    long double *orow = malloc((size_t)dd * sizeof *orow),
                *omag = malloc((size_t)dd * sizeof *omag);
    double *delta = malloc(nsk * sizeof *delta);
    for (int64_t b = 0; b < c->batch; b++) {
        int64_t sq = c->sq, sk = c->sk, pq = 0, pk = 0, bb = b;
        if (c->varlen) {
            pq = c->cu_q[b];
            pk = c->cu_k[b];
            sq = c->cu_q[b + 1] - pq;
            sk = c->cu_k[b + 1] - pk;
            bb = 0;
        }
        const int64_t off = sk - sq;
        for (int64_t h = 0; h < c->hq; h++) {
            const int64_t hk = h / (c->hq / c->hkv);
            const int64_t kbase = bb * d->k_strides[0] + hk * d->k_strides[1],
                          vbase = bb * d->v_strides[0] + hk * d->v_strides[1];
            /* every key row of the sequence gets a gradient (0 if unseen) */
            for (int64_t j = 0; j < sk; j++)
                for (int64_t e = 0; e < dd; e++) {
                    gk.seen[kbase + (pk + j) * d->k_strides[2] + e] = 1;
                    gv.seen[vbase + (pk + j) * d->v_strides[2] + e] = 1;
                }
            for (int64_t i = 0; i < sq; i++) {
                const int64_t qrow =
                    bb * d->q_strides[0] + h * d->q_strides[1] + (pq + i) * d->q_strides[2];
                const int64_t orow_at =
                    bb * d->o_strides[0] + h * d->o_strides[1] + (pq + i) * d->o_strides[2];
                for (int64_t e = 0; e < dd; e++)
                    gq.seen[qrow + e] = 1;
                long double mx = -INFINITY;
                int64_t n = 0;
                for (int64_t j = 0; j < sk; j++) {
                    const int vis =
                        (!c->causal || j <= i + off) && (c->window == 0 || j > i + off - c->window);
                    s[j] = -INFINITY;
                    delta[j] = 0;
                    if (!vis)
                        continue;
                    n++;
                    const int64_t krow = kbase + (pk + j) * d->k_strides[2];
                    long double acc = 0, a = 0;
                    for (int64_t e = 0; e < dd; e++) {
                        const long double x = attn_get(c, t->f.q.data, qrow + e),
                                          y = attn_get(c, t->f.k.data, krow + e);
                        acc += x * y;
                        a += fabsl(x * y);
                    }
                    s[j] = acc * scale;
                    delta[j] = (double)((dd + 4) * U * as * a);
                    if (s[j] > mx)
                        mx = s[j];
                }
                if (n == 0)
                    continue; /* reference gradient 0, tolerance 0: must be exactly 0 */
                long double l = 0;
                double dmax = 0;
                for (int64_t j = 0; j < sk; j++)
                    if (s[j] != -INFINITY) {
                        const double dj = delta[j] + U * (double)fabsl(s[j] - mx) * 1.4427 + 3 * U;
                        dmax = dj > dmax ? dj : dmax;
                        pr[j] = expl(s[j] - mx);
                        l += pr[j];
                    } else {
                        pr[j] = 0;
                    }
                const long double lse = mx + logl(l);
                for (int64_t j = 0; j < sk; j++)
                    pr[j] /= l;
                /* O, D and their errors */
                const double oe = 2 * (2 * dmax + 2 * (double)(n + 8) * U);
                long double D = 0, Derr = 0;
                for (int64_t e = 0; e < dd; e++) {
                    long double o = 0, m = 0;
                    for (int64_t j = 0; j < sk; j++)
                        if (pr[j] != 0) {
                            const long double vv =
                                attn_get(c, t->f.v.data, vbase + (pk + j) * d->v_strides[2] + e);
                            o += pr[j] * vv;
                            m += pr[j] * fabsl(vv);
                        }
                    orow[e] = o;
                    omag[e] = m;
                    const long double g = attn_get(c, t->d_o.data, orow_at + e);
                    D += g * o;
                    long double oerr = oe * m;
                    if (c->dtype == USINE_BF16)
                        oerr += 0x1p-8 * fabsl(o);
                    Derr += fabsl(g) * (oerr + (dd + 4) * U * fabsl(o));
                }
                for (int64_t j = 0; j < sk; j++) {
                    dp[j] = ap[j] = 0;
                    if (pr[j] == 0)
                        continue;
                    const int64_t vrow = vbase + (pk + j) * d->v_strides[2];
                    for (int64_t e = 0; e < dd; e++) {
                        const long double g = attn_get(c, t->d_o.data, orow_at + e),
                                          vv = attn_get(c, t->f.v.data, vrow + e);
                        dp[j] += g * vv;
                        ap[j] += fabsl(g * vv);
                    }
                }
                for (int64_t j = 0; j < sk; j++) {
                    if (pr[j] == 0)
                        continue;
                    const long double p = pr[j];
                    const long double eP =
                        4 * (dmax + (n + 8) * U + 2 * U * (fabsl(lse) + fabsl(s[j])));
                    const long double ds = p * (dp[j] - D);
                    const long double dserr =
                        p * (eP * fabsl(dp[j] - D) + (dd + 4) * U * ap[j] + Derr) +
                        2 * U * fabsl(ds);
                    const int64_t krow = kbase + (pk + j) * d->k_strides[2],
                                  vrow = vbase + (pk + j) * d->v_strides[2];
                    for (int64_t e = 0; e < dd; e++) {
                        const long double kv = attn_get(c, t->f.k.data, krow + e),
                                          qv = attn_get(c, t->f.q.data, qrow + e),
                                          g = attn_get(c, t->d_o.data, orow_at + e);
                        /* dQ_i += scale dS_ij K_j */
                        gq.ref[qrow + e] += scale * ds * kv;
                        err[0][qrow + e] += as * dserr * fabsl(kv);
                        mag[0][qrow + e] += as * fabsl(ds * kv);
                        cnt[0][qrow + e]++;
                        /* dK_j += scale dS_ij Q_i */
                        gk.ref[krow + e] += scale * ds * qv;
                        err[1][krow + e] += as * dserr * fabsl(qv);
                        mag[1][krow + e] += as * fabsl(ds * qv);
                        cnt[1][krow + e]++;
                        /* dV_j += P_ij dO_i */
                        gv.ref[vrow + e] += p * g;
                        err[2][vrow + e] += eP * p * fabsl(g);
                        mag[2][vrow + e] += p * fabsl(g);
                        cnt[2][vrow + e]++;
                    }
                }
            }
        }
    }
    int64_t bad = 0;
    bad += compare(c, what, "dq", t->dq.data, &gq, err[0], mag[0], cnt[0], nq_el);
    bad += compare(c, what, "dk", t->dk.data, &gk, err[1], mag[1], cnt[1], nk_el);
    bad += compare(c, what, "dv", t->dv.data, &gv, err[2], mag[2], cnt[2], nk_el);
    if (!test_buffer_guards_ok(&t->dq) || !test_buffer_guards_ok(&t->dk) ||
        !test_buffer_guards_ok(&t->dv)) {
        bad++;
        CHECK(0, "%s: a guard zone of dq, dk or dv was written", what);
    }
    for (int x = 0; x < 3; x++) {
        free(err[x]);
        free(mag[x]);
        free(cnt[x]);
    }
    grad_free(&gq);
    grad_free(&gk);
    grad_free(&gv);
    free(s);
    free(pr);
    free(dp);
    free(ap);
    free(orow);
    free(omag);
    free(delta);
    return bad;
}

static void run_case(usine_context *ctx, const attn_case *c)
{
    tensors t;
    make_tensors(c, &t);
    char what[256];
    attn_describe(c, "backward ", what, sizeof what);
    usine_status st = attn_forward(ctx, &t.f);
    if (CHECK(st == USINE_SUCCESS, "%s: forward status %d: %s", what, (int)st,
              usine_last_error())) {
        st = backward(ctx, &t);
        if (CHECK(st == USINE_SUCCESS, "%s: status %d: %s", what, (int)st, usine_last_error()))
            CHECK(check_case(c, &t) == 0, "%s: wrong gradients", what);
    }
    free_tensors(&t);
}

static void test_shapes(usine_context *ctx, int heavy)
{
    attn_for_each_shape(ctx, heavy ? 6 : 2, run_case);
}

/* Masks at their edges, fully masked rows, unseen keys, long rows over many key chunks. */
static void test_masks(usine_context *ctx)
{
    static const int64_t shapes[][2] = {{37, 150}, {150, 37}, {100, 100}, {1, 200}, {200, 1}};
    attn_for_each_mask(ctx, shapes, sizeof shapes / sizeof shapes[0], 32, run_case);
    /* Large logits. */
    attn_case c = attn_base_case(64);
    c.sq = 40;
    c.sk = 200;
    c.scale = 8.0;
    run_case(ctx, &c);
    /* seq_k = 0: dq = 0; seq_q = 0 with keys: dk = dv = 0. */
    c = attn_base_case(32);
    c.sq = 5;
    c.sk = 0;
    run_case(ctx, &c);
    /* MQA over 6 heads, varlen with an empty query sequence and an empty key sequence. */
    c = attn_mqa_varlen_case(64, 100, 230);
    run_case(ctx, &c);
    /* bf16 with GQA, causal, window, BSHD padding. */
    c = attn_base_case(64);
    c.dtype = USINE_BF16;
    c.hq = 4;
    c.hkv = 2;
    c.sq = 70;
    c.sk = 140;
    c.causal = 1;
    c.window = 50;
    c.bshd = 1;
    c.pad = 8;
    run_case(ctx, &c);
}

/* 16 (sequence, kv head) pairs, so that each is one key chunk, and long key sequences: the
 * chunk's key blocks are swept a key group at a time (up to 8 blocks at head dim <= 64, 4 at
 * 128, 2 at 256 with a 1 MiB L2), so one step of query rows meets blocks whose causal or
 * window edges cut it at different rows or hide it, and the last group ends short. Short
 * query sequences keep the long double reference cheap. */
static void test_key_groups(usine_context *ctx)
{
    static const struct {
        int64_t batch, hq, hkv, d, sq, sk, window;
        int causal;
    } cases[] = {{2, 8, 8, 32, 150, 400, 0, 1},
                 {2, 8, 8, 64, 20, 600, 100, 0},
                 {1, 32, 16, 128, 24, 400, 200, 1},
                 {2, 8, 8, 256, 16, 200, 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        attn_case c = attn_base_case(cases[i].d);
        c.batch = cases[i].batch;
        c.hq = cases[i].hq;
        c.hkv = cases[i].hkv;
        c.sq = cases[i].sq;
        c.sk = cases[i].sk;
        c.causal = cases[i].causal;
        c.window = cases[i].window;
        run_case(ctx, &c);
    }
}

/* L(x) = sum dO * O(x) in long double, from long double copies of Q, K, V (BHSD, f32 case). */
static long double loss(const attn_case *c, const tensors *t, const long double *q,
                        const long double *k, const long double *v)
{
    const usine_attention_desc *d = &t->f.desc;
    const long double scale = c->scale != 0 ? c->scale : 1.0 / sqrt((double)c->d);
    const int64_t off = c->sk - c->sq;
    long double total = 0, w[64];
    for (int64_t b = 0; b < c->batch; b++)
        for (int64_t h = 0; h < c->hq; h++) {
            const int64_t hk = h / (c->hq / c->hkv);
            for (int64_t i = 0; i < c->sq; i++) {
                const int64_t qrow =
                    b * d->q_strides[0] + h * d->q_strides[1] + i * d->q_strides[2];
                long double mx = -INFINITY, l = 0;
                for (int64_t j = 0; j < c->sk; j++) {
                    const int vis =
                        (!c->causal || j <= i + off) && (c->window == 0 || j > i + off - c->window);
                    w[j] = -INFINITY;
                    if (!vis)
                        continue;
                    const int64_t krow =
                        b * d->k_strides[0] + hk * d->k_strides[1] + j * d->k_strides[2];
                    long double s = 0;
                    for (int64_t e = 0; e < c->d; e++)
                        s += q[qrow + e] * k[krow + e];
                    w[j] = s * scale;
                    mx = w[j] > mx ? w[j] : mx;
                }
                for (int64_t j = 0; j < c->sk; j++) {
                    w[j] = w[j] == -INFINITY ? 0 : expl(w[j] - mx);
                    l += w[j];
                }
                for (int64_t e = 0; e < c->d && l > 0; e++) {
                    long double o = 0;
                    for (int64_t j = 0; j < c->sk; j++) {
                        const int64_t vrow =
                            b * d->v_strides[0] + hk * d->v_strides[1] + j * d->v_strides[2];
                        o += w[j] * v[vrow + e];
                    }
                    total += (long double)attn_get(c, t->d_o.data, qrow + e) * o / l;
                }
            }
        }
    return total;
}

/* Central differences of L on every element of tiny Q, K and V (h = 1e-4 in long double:
 * truncation ~h^2) against the computed gradient (f32: relative error ~1e-6). */
static void test_finite_differences(usine_context *ctx)
{
    for (int variant = 0; variant < 2; variant++) {
        attn_case c = attn_base_case(16);
        c.hq = 2;
        c.hkv = 1;
        c.sq = variant ? 9 : 5;
        c.sk = variant ? 4 : 7;
        c.causal = variant;
        c.scale = 0.7;
        tensors t;
        make_tensors(&c, &t);
        char what[256];
        attn_describe(&c, "backward ", what, sizeof what);
        if (!CHECK(attn_forward(ctx, &t.f) == USINE_SUCCESS && backward(ctx, &t) == USINE_SUCCESS,
                   "%s: %s", what, usine_last_error())) {
            free_tensors(&t);
            continue;
        }
        const test_buffer *in[3] = {&t.f.q, &t.f.k, &t.f.v}, *grad[3] = {&t.dq, &t.dk, &t.dv};
        const int64_t n[3] = {t.f.nq_el - 1, t.f.nk_el - 1, t.f.nk_el - 1};
        long double *x[3];
        for (int a = 0; a < 3; a++) {
            x[a] = malloc((size_t)n[a] * sizeof(long double));
            for (int64_t i = 0; i < n[a]; i++)
                x[a][i] = attn_get(&c, in[a]->data, i);
        }
        const long double hstep = 1e-4L;
        int64_t bad = 0;
        for (int a = 0; a < 3; a++)
            for (int64_t i = 0; i < n[a]; i++) {
                const long double x0 = x[a][i];
                x[a][i] = x0 + hstep;
                const long double lp = loss(&c, &t, x[0], x[1], x[2]);
                x[a][i] = x0 - hstep;
                const long double lm = loss(&c, &t, x[0], x[1], x[2]);
                x[a][i] = x0;
                const double fd = (double)((lp - lm) / (2 * hstep));
                const double g = attn_get(&c, grad[a]->data, i);
                if (!(fabs(g - fd) <= 1e-5 * (1 + fabs(fd))) && bad++ < 5)
                    CHECK(0, "%s: finite difference of %s[%lld] = %.9g, gradient %.9g", what,
                          a == 0   ? "q"
                          : a == 1 ? "k"
                                   : "v",
                          (long long)i, fd, g);
            }
        CHECK(bad == 0, "%s: gradients disagree with finite differences", what);
        for (int a = 0; a < 3; a++)
            free(x[a]);
        free_tensors(&t);
    }
}

/* Bitwise equal across two runs and 1 and 2 threads (several key chunks, GQA, causal). */
static void test_deterministic(usine_context *ctx)
{
    attn_case c = attn_gqa_case(150, 300);
    c.causal = 1;
    tensors t;
    make_tensors(&c, &t);
    t.f.desc.deterministic = 1;
    int threads0;
    usine_get_num_threads(ctx, &threads0);
    CHECK(attn_forward(ctx, &t.f) == USINE_SUCCESS, "deterministic forward: %s",
          usine_last_error());
    test_buffer *out[3] = {&t.dq, &t.dk, &t.dv};
    unsigned char *first[3];
    for (int a = 0; a < 3; a++)
        first[a] = malloc(out[a]->bytes);
    for (int pass = 0; pass < 3; pass++) {
        usine_set_num_threads(ctx, pass == 0 ? 1 : 2);
        for (int a = 0; a < 3; a++)
            memset(out[a]->data, 0, out[a]->bytes);
        CHECK(backward(ctx, &t) == USINE_SUCCESS, "deterministic run: %s", usine_last_error());
        for (int a = 0; a < 3; a++) {
            if (pass == 0)
                memcpy(first[a], out[a]->data, out[a]->bytes);
            else
                CHECK(memcmp(first[a], out[a]->data, out[a]->bytes) == 0,
                      "deterministic: %s of run %d (%d threads) differs bitwise from 1 thread",
                      a == 0   ? "dq"
                      : a == 1 ? "dk"
                               : "dv",
                      pass, 2);
        }
    }
    usine_set_num_threads(ctx, threads0);
    for (int a = 0; a < 3; a++)
        free(first[a]);
    free_tensors(&t);
}

/* One bad call: the status, a message naming `needle`, no gradient written. */
static void expect_error(usine_context *ctx, tensors *t, const usine_attention_desc *d,
                         const void *o, const void *d_o, const float *lse, void *dq, void *dk,
                         usine_status want, const char *needle)
{
    test_buffer *const outputs[3] = {&t->dq, &t->dk, &t->dv};
    attn_saved saved = attn_save(outputs, 3);
    const usine_status st = usine_attention_backward(ctx, d, t->f.q.data, t->f.k.data, t->f.v.data,
                                                     o, d_o, lse, dq, dk, t->dv.data);
    attn_expect_rejected(&saved, st, want, needle, "usine_attention_backward");
}

static void test_errors(usine_context *ctx)
{
    const attn_case c = attn_gqa_case(10, 12);
    tensors t;
    make_tensors(&c, &t);
    CHECK(attn_forward(ctx, &t.f) == USINE_SUCCESS, "errors: forward: %s", usine_last_error());
    const usine_attention_desc good = t.f.desc;
    usine_attention_desc d = good;
    const float *lse = (const float *)t.f.lse.data;
    const usine_status INV = USINE_ERROR_INVALID_ARGUMENT, NS = USINE_ERROR_NOT_SUPPORTED;
    CHECK(usine_attention_backward(NULL, &good, t.f.q.data, t.f.k.data, t.f.v.data, t.f.o.data,
                                   t.d_o.data, lse, t.dq.data, t.dk.data, t.dv.data) == INV,
          "NULL context accepted");
    expect_error(ctx, &t, &d, t.f.o.data, NULL, lse, t.dq.data, t.dk.data, INV, "d_o is NULL");
    expect_error(ctx, &t, &d, t.f.o.data, t.d_o.data, NULL, t.dq.data, t.dk.data, INV,
                 "lse is NULL");
    expect_error(ctx, &t, &d, NULL, t.d_o.data, lse, t.dq.data, t.dk.data, INV, "o is NULL");
    expect_error(ctx, &t, &d, t.f.o.data, t.d_o.data, lse, NULL, t.dk.data, INV, "dq is NULL");
    expect_error(ctx, &t, &d, t.f.o.data, t.d_o.data, lse, t.dq.data, t.f.q.data, INV,
                 "dk overlaps q");
    expect_error(ctx, &t, &d, t.f.o.data, t.d_o.data, lse, t.dq.data, t.dv.data, INV,
                 "dv overlaps dk");
    expect_error(ctx, &t, &d, t.f.o.data, t.dq.data, lse, t.dq.data, t.dk.data, INV,
                 "dq overlaps d_o");
    d.head_dim = 72;
    expect_error(ctx, &t, &d, t.f.o.data, t.d_o.data, lse, t.dq.data, t.dk.data, NS, "head_dim");
    d = good;
    d.causal = 3;
    expect_error(ctx, &t, &d, t.f.o.data, t.d_o.data, lse, t.dq.data, t.dk.data, INV, "causal");
    d = good;
    d.q_strides[2] = 32; /* rows of dq overlap */
    expect_error(ctx, &t, &d, t.f.o.data, t.d_o.data, lse, t.dq.data, t.dk.data, INV, "q_strides");
    d = good;
    d.batch = 0;
    CHECK(usine_attention_backward(ctx, &d, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) ==
              USINE_SUCCESS,
          "batch = 0: %s", usine_last_error());
    free_tensors(&t);
}

int main(void)
{
    int heavy;
    usine_context *ctx = attn_start("test_attention_backward", &heavy);
    test_errors(ctx);
    test_finite_differences(ctx);
    test_masks(ctx);
    test_key_groups(ctx);
    test_shapes(ctx, heavy);
    test_deterministic(ctx);
    usine_destroy(ctx);
    return test_finish("test_attention_backward");
}
