/*
 * usine_attention_forward against a long double reference softmax(Q K^T * scale + mask) V,
 * computed naively: head dims, GQA/MQA, causal (both seq_q < seq_k and seq_q > seq_k), sliding
 * window, variable lengths, BSHD/BHSD/padded strides, fully masked rows, large logits, lse,
 * bf16 inputs; bitwise reproducibility across runs and thread counts; argument errors (status,
 * message, nothing written).
 *
 * Tolerance (first-order bound, times 2 for the second-order terms), per output element:
 *   the logit of key j is computed with error delta_j <= (d + 4) u scale sum_p |q_p k_jp|
 *   + u |s_j - max| + 3u (Q pre-scaling, the d-term dot product, the subtraction, exp2);
 *   the weights p_j / l then carry a relative error <= 2 max_j delta_j, and the sums over
 *   n visible keys (of P V and of l, with the rescales) add (n + 8) u; so
 *   |o - ref| <= 2 (2 max delta + 2 (n + 8) u) sum_j w_j |v_jc|
 *                 (+ 2^-8 (|ref| + sum_j w_j |v_jc|) for bf16: O rounded, and P rounded to
 *                 bf16 before P V where the CPU has AVX512-BF16),
 *   |lse - ref| <= 2 (max delta + (n + 8) u + u |ref|).
 * u = 2^-24 (f32 arithmetic for both dtypes: bf16 inputs convert exactly).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention_cases.h"

#define U 0x1p-24

/* Checks O and lse of one computed case against the reference; returns bad elements. */
static int64_t check_case(const attn_case *c, const attn_tensors *t)
{
    const usine_attention_desc *d = &t->desc;
    const double scale = c->scale != 0 ? c->scale : 1.0 / sqrt((double)c->d);
    const int64_t dd = c->d;
    int64_t bad = 0;
    long double *w = malloc((size_t)(c->sk > 0 ? c->sk : 1) * sizeof *w);
    double *delta = malloc((size_t)(c->sk > 0 ? c->sk : 1) * sizeof *delta);
    char what[256];
    attn_describe(c, "", what, sizeof what);
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
            for (int64_t i = 0; i < sq; i++) {
                const int64_t qrow =
                    bb * d->q_strides[0] + h * d->q_strides[1] + (pq + i) * d->q_strides[2];
                long double mx = -INFINITY;
                int64_t n = 0;
                for (int64_t j = 0; j < sk; j++) {
                    const int vis =
                        (!c->causal || j <= i + off) && (c->window == 0 || j > i + off - c->window);
                    w[j] = -INFINITY;
                    delta[j] = 0;
                    if (!vis)
                        continue;
                    n++;
                    const int64_t krow =
                        bb * d->k_strides[0] + hk * d->k_strides[1] + (pk + j) * d->k_strides[2];
                    long double s = 0, a = 0;
                    for (int64_t e = 0; e < dd; e++) {
                        const long double x = attn_get(c, t->q.data, qrow + e),
                                          y = attn_get(c, t->k.data, krow + e);
                        s += x * y;
                        a += fabsl(x * y);
                    }
                    w[j] = s * scale;
                    delta[j] = (double)((dd + 4) * U * fabs(scale) * a);
                    if (w[j] > mx)
                        mx = w[j];
                }
                long double l = 0;
                double dmax = 0;
                for (int64_t j = 0; j < sk; j++)
                    if (w[j] != -INFINITY) {
                        const double dj = delta[j] + U * (double)fabsl(w[j] - mx) * 1.4427 + 3 * U;
                        dmax = dj > dmax ? dj : dmax;
                        w[j] = expl(w[j] - mx);
                        l += w[j];
                    } else {
                        w[j] = 0;
                    }
                const int64_t orow =
                    bb * d->o_strides[0] + h * d->o_strides[1] + (pq + i) * d->o_strides[2];
                for (int64_t e = 0; e < dd; e++) {
                    long double ref = 0, mag = 0;
                    for (int64_t j = 0; j < sk; j++)
                        if (w[j] != 0) {
                            const int64_t vrow = bb * d->v_strides[0] + hk * d->v_strides[1] +
                                                 (pk + j) * d->v_strides[2];
                            const long double v = attn_get(c, t->v.data, vrow + e);
                            ref += w[j] * v;
                            mag += w[j] * fabsl(v);
                        }
                    if (l > 0) {
                        ref /= l;
                        mag /= l;
                    }
                    const double got = attn_get(c, t->o.data, orow + e);
                    double tol = 2 * (2 * dmax + 2 * (double)(n + 8) * U) * (double)mag;
                    /* bf16: O rounded (2^-9 relative), and with AVX512-BF16 each weight
                     * p_j rounded to bf16 before P V (2^-9 relative each: 2^-9 mag). */
                    if (c->dtype == USINE_BF16)
                        tol += 0x1p-8 * (fabs((double)ref) + (double)mag);
                    if (!(fabs(got - (double)ref) <= tol)) {
                        if (bad++ < 5)
                            CHECK(0,
                                  "%s: O[b=%lld h=%lld i=%lld e=%lld] = %.9g, reference %.9Lg "
                                  "(tol %.3g, %lld visible keys)",
                                  what, (long long)b, (long long)h, (long long)i, (long long)e, got,
                                  ref, tol, (long long)n);
                    }
                }
                const int64_t li =
                    c->varlen ? h * c->cu_q[c->batch] + pq + i : (b * c->hq + h) * c->sq + i;
                const float lse = ((const float *)t->lse.data)[li];
                if (n == 0) {
                    if (!(lse == -INFINITY) && bad++ < 5)
                        CHECK(0, "%s: lse[%lld] = %g for a row with no visible key (want -inf)",
                              what, (long long)li, lse);
                } else {
                    const long double ref = mx + logl(l);
                    const double tol =
                        2 * (dmax + (double)(n + 8) * U + U * fabs((double)ref)) + 1e-30;
                    if (!(fabs(lse - (double)ref) <= tol) && bad++ < 5)
                        CHECK(0, "%s: lse[%lld] = %.9g, reference %.9Lg (tol %.3g)", what,
                              (long long)li, lse, ref, tol);
                }
            }
        }
    }
    free(w);
    free(delta);
    /* Guards, and the sentinel past the last element (and in varlen gaps) untouched. */
    if (!test_buffer_guards_ok(&t->o) || !test_buffer_guards_ok(&t->lse)) {
        bad++;
        CHECK(0, "%s: a guard zone of O or lse was written", what);
    }
    return bad;
}

static void run_case(usine_context *ctx, const attn_case *c)
{
    attn_tensors t;
    attn_make_tensors(c, &t, ATTN_SENTINEL);
    const usine_status st = attn_forward(ctx, &t);
    char what[256];
    attn_describe(c, "", what, sizeof what);
    if (CHECK(st == USINE_SUCCESS, "%s: status %d: %s", what, (int)st, usine_last_error()))
        CHECK(check_case(c, &t) == 0, "%s: wrong results", what);
    attn_free_tensors(&t);
}

static void test_shapes(usine_context *ctx, int heavy)
{
    attn_for_each_shape(ctx, heavy ? 6 : 3, run_case);
}

/* Masks at their edges: causal with seq_q < seq_k and seq_q > seq_k (the first queries
 * see nothing), windows with and without causal, rows hidden entirely, large logits. */
static void test_masks(usine_context *ctx)
{
    static const int64_t shapes[][2] = {{37, 150}, {150, 37}, {100, 100},
                                        {1, 200},  {200, 1},  {64, 64}};
    attn_for_each_mask(ctx, shapes, sizeof shapes / sizeof shapes[0], 64, run_case);
    /* Large logits: scale 40 puts logits in the hundreds; exp must neither overflow nor
     * produce NaN, and the online max keeps every block finite. */
    attn_case c = attn_base_case(128);
    c.sq = 50;
    c.sk = 300;
    c.scale = 40.0;
    run_case(ctx, &c);
    c.causal = 1;
    c.scale = -25.0;
    run_case(ctx, &c);
    /* bf16 inputs and output: plain, causal with GQA and a window, BSHD with padding. */
    c = attn_base_case(128);
    c.dtype = USINE_BF16;
    c.sq = 70;
    c.sk = 140;
    run_case(ctx, &c);
    c.hq = 4;
    c.hkv = 2;
    c.causal = 1;
    c.window = 50;
    c.bshd = 1;
    c.pad = 8;
    run_case(ctx, &c);
    /* seq_k = 0: every row sees nothing. */
    c = attn_base_case(32);
    c.sq = 5;
    c.sk = 0;
    run_case(ctx, &c);
    /* MQA, many heads, long rows crossing many key blocks, varlen with empty sequences. */
    c = attn_mqa_varlen_case(80, 120, 260);
    run_case(ctx, &c);
}

/* Bitwise equal across two runs and 1 and 2 threads. */
static void test_deterministic(usine_context *ctx)
{
    attn_case c = attn_gqa_case(150, 170);
    c.causal = 1;
    attn_tensors t;
    attn_make_tensors(&c, &t, ATTN_SENTINEL);
    t.desc.deterministic = 1;
    const size_t ob = t.o.bytes, lb = t.lse.bytes;
    unsigned char *o0 = malloc(ob), *l0 = malloc(lb);
    int threads0;
    usine_get_num_threads(ctx, &threads0);
    for (int pass = 0; pass < 3; pass++) {
        usine_set_num_threads(ctx, pass == 0 ? 1 : 2);
        memset(t.o.data, 0, ob);
        memset(t.lse.data, 0, lb);
        CHECK(attn_forward(ctx, &t) == USINE_SUCCESS, "deterministic run: %s", usine_last_error());
        if (pass == 0) {
            memcpy(o0, t.o.data, ob);
            memcpy(l0, t.lse.data, lb);
        } else {
            CHECK(memcmp(o0, t.o.data, ob) == 0 && memcmp(l0, t.lse.data, lb) == 0,
                  "deterministic: run %d (%d threads) differs bitwise from 1 thread", pass,
                  pass == 0 ? 1 : 2);
        }
    }
    usine_set_num_threads(ctx, threads0);
    free(o0);
    free(l0);
    attn_free_tensors(&t);
}

/* One bad descriptor: the status, a message naming `needle`, O and lse untouched. */
static void expect_error(usine_context *ctx, attn_tensors *t, const usine_attention_desc *d,
                         const void *q, void *o, usine_status want, const char *needle)
{
    test_buffer *const outputs[2] = {&t->o, &t->lse};
    attn_saved saved = attn_save(outputs, 2);
    const usine_status st =
        usine_attention_forward(ctx, d, q, t->k.data, t->v.data, o, (float *)t->lse.data);
    attn_expect_rejected(&saved, st, want, needle, NULL);
}

static void test_errors(usine_context *ctx)
{
    const attn_case c = attn_gqa_case(10, 12);
    attn_tensors t;
    attn_make_tensors(&c, &t, ATTN_SENTINEL);
    const usine_attention_desc good = t.desc;
    usine_attention_desc d;
    void *o = t.o.data;
    const void *q = t.q.data;
    const usine_status INV = USINE_ERROR_INVALID_ARGUMENT, NS = USINE_ERROR_NOT_SUPPORTED;

    CHECK(usine_attention_forward(NULL, &good, q, t.k.data, t.v.data, o, NULL) == INV,
          "NULL context accepted");
    CHECK(usine_attention_forward(ctx, NULL, q, t.k.data, t.v.data, o, NULL) == INV,
          "NULL desc accepted");
    CHECK(usine_attention_desc_init(NULL) == INV, "usine_attention_desc_init(NULL) accepted");
#define BAD(field_change, want, needle)                                                            \
    do {                                                                                           \
        d = good;                                                                                  \
        field_change;                                                                              \
        expect_error(ctx, &t, &d, q, o, want, needle);                                             \
    } while (0)
    BAD(d.struct_size = 8, INV, "struct_size");
    BAD(d.dtype = USINE_F64, NS, "dtype");
    BAD(d.dtype = (usine_dtype)99, INV, "dtype");
    BAD(d.batch = -1, INV, "batch");
    BAD(d.heads_q = 0, INV, "heads_q");
    BAD(d.heads_kv = -2, INV, "heads_kv");
    BAD(d.seq_q = -1, INV, "seq_q");
    BAD(d.seq_k = -5, INV, "seq_k");
    BAD(d.head_dim = 0, INV, "head_dim");
    BAD(d.head_dim = 72, NS, "head_dim");
    BAD(d.head_dim = 272, NS, "head_dim");
    BAD(d.heads_q = 3, INV, "multiple of heads_kv");
    BAD(d.window = -1, INV, "window");
    BAD(d.causal = 2, INV, "causal");
    BAD(d.scale = INFINITY, INV, "scale");
    BAD(d.k_strides[1] = -64, INV, "k_strides[1]");
    BAD(d.o_strides[2] = 32, INV, "o_strides"); /* rows of O overlap */
    BAD(d.q_strides[0] = INT64_MAX / 2, USINE_ERROR_OVERFLOW, "Q spans");
    {
        static const int32_t cu_bad[3] = {0, 5, 3}, cu_ok[3] = {0, 5, 9}, cu_long[3] = {0, 11, 12};
        BAD((d.cu_seqlens_q = cu_bad, d.cu_seqlens_k = cu_ok), INV, "cu_seqlens_q[2]");
        BAD((d.cu_seqlens_q = cu_ok, d.cu_seqlens_k = NULL), INV, "cu_seqlens_k");
        BAD((d.cu_seqlens_q = cu_long, d.cu_seqlens_k = cu_ok), INV, "seq_q");
    }
    d = good;
    expect_error(ctx, &t, &d, NULL, o, INV, "q is NULL");
    /* O overlapping Q: O's rows placed in Q's buffer. */
    expect_error(ctx, &t, &d, q, (void *)q, INV, "o overlaps q");
    d = good;
    CHECK(usine_attention_forward(ctx, &d, q, NULL, t.v.data, o, NULL) == INV &&
              strstr(usine_last_error(), "k is NULL"),
          "NULL k accepted: %s", usine_last_error());
#undef BAD
    /* Nothing to do: batch 0 or seq_q 0 succeed without touching anything (NULL allowed). */
    d = good;
    d.batch = 0;
    CHECK(usine_attention_forward(ctx, &d, NULL, NULL, NULL, NULL, NULL) == USINE_SUCCESS,
          "batch = 0: %s", usine_last_error());
    attn_free_tensors(&t);
}

int main(void)
{
    int heavy;
    usine_context *ctx = attn_start("test_attention", &heavy);
    test_errors(ctx);
    test_masks(ctx);
    test_shapes(ctx, heavy);
    test_deterministic(ctx);
    usine_destroy(ctx);
    return test_finish("test_attention");
}
