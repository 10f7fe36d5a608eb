#include "attention.h"
#include "../kernels/cpu/gemm/gemm_driver.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ helpers */

static float bf16_to_f32(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Rounded to bf16 (nearest even) and back; inputs here are finite. */
static float round_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&f, &u, sizeof f);
    return f;
}

static float element(const void *x, usine_dtype dtype, size_t i)
{
    return dtype == USINE_BF16 ? bf16_to_f32(((const uint16_t *)x)[i]) : ((const float *)x)[i];
}

static size_t q_count(const usine_bench_attention *a)
{
    return (size_t)(a->batch * a->heads * a->seq_q * a->head_dim);
}

static size_t kv_count(const usine_bench_attention *a)
{
    return (size_t)(a->batch * a->kv_heads * a->seq_k * a->head_dim);
}

double usine_bench_attention_scores_bytes(const usine_bench_case *c)
{
    return (c->att.backward ? 2.0 : 1.0) * (double)c->att.seq_q * (double)c->att.seq_k *
           sizeof(float);
}

/* Peak RSS bookkeeping (Linux): writing 5 to /proc/self/clear_refs resets VmHWM to the
 * current RSS, so VmHWM read later minus VmRSS read now is the most memory the work in
 * between added. Returns KiB, or -1. */
static long long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kib = -1;
    const size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') {
            kib = atoll(line + n + 1);
            break;
        }
    if (f)
        fclose(f);
    return kib;
}

static long long rss_mark(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return -1;
    const int ok = fputs("5", f) >= 0;
    if (fclose(f) != 0 || !ok)
        return -1;
    return status_kib("VmRSS");
}

static double rss_growth(long long mark_kib)
{
    const long long hwm = status_kib("VmHWM");
    return mark_kib < 0 || hwm < mark_kib ? 0 : 1024.0 * (double)(hwm - mark_kib);
}

/* A first call slower than this is timed alone: huge lines (seq 8192, many heads) take
 * seconds a call, and more calls would not make their time more exact. */
static int timed_once(const usine_bench_timing *t, double first_s)
{
    const double cap = t->budget_s > 0.5 ? 2 * t->budget_s : 1.0;
    return t->min_reps != t->max_reps && first_s >= cap;
}

static void time_or_keep(usine_bench_call *call, void *arg, const usine_bench_timing *t,
                         double first_s, usine_bench_stats *stats)
{
    if (timed_once(t, first_s)) {
        memset(stats, 0, sizeof *stats);
        stats->reps = 1;
        stats->median_s = stats->best_s = stats->worst_s = stats->q1_s = stats->q3_s = first_s;
        stats->stop = USINE_BENCH_STOP_TIME;
        return;
    }
    usine_bench_time(call, arg, t, stats);
}

/* ------------------------------------------------------------------ usine */

typedef struct usine_attn_arg {
    usine_context *ctx;
    usine_attention_desc desc;
    const usine_bench_attention_job *job;
    usine_status status;
    void *o;            /* backward: the forward's O (private) */
    float *lse;         /* backward: the forward's lse */
    char *dq, *dk, *dv; /* backward: in the job's o */
} usine_attn_arg;

static void usine_attn_call(void *varg)
{
    usine_attn_arg *u = (usine_attn_arg *)varg;
    const usine_status st =
        usine_attention_forward(u->ctx, &u->desc, u->job->q, u->job->k, u->job->v, u->job->o, NULL);
    u->status = u->status != USINE_SUCCESS ? u->status : st;
}

static void usine_attn_backward_call(void *varg)
{
    usine_attn_arg *u = (usine_attn_arg *)varg;
    const usine_bench_attention_job *j = u->job;
    const usine_status st = usine_attention_backward(u->ctx, &u->desc, j->q, j->k, j->v, u->o,
                                                     j->d_o, u->lse, u->dq, u->dk, u->dv);
    u->status = u->status != USINE_SUCCESS ? u->status : st;
}

/* Backward lines: the forward once, untimed, for O and lse; its status is the call's. */
static int usine_backward_setup(usine_attn_arg *u)
{
    const usine_bench_case *c = u->job->bcase;
    const usine_bench_attention *a = &c->att;
    const size_t es = usine_dtype_storage_size(c->dtype);
    u->o = malloc(q_count(a) * es + 64);
    u->lse = (float *)malloc((size_t)(a->batch * a->heads * a->seq_q) * sizeof(float) + 64);
    u->dq = (char *)u->job->o;
    u->dk = u->dq + q_count(a) * es;
    u->dv = u->dk + kv_count(a) * es;
    if (!u->o || !u->lse)
        return -1;
    u->status =
        usine_attention_forward(u->ctx, &u->desc, u->job->q, u->job->k, u->job->v, u->o, u->lse);
    return 0;
}

static void describe(const usine_bench_case *c, usine_attention_desc *d)
{
    const usine_bench_attention *a = &c->att;
    usine_attention_desc_init(d);
    d->dtype = c->dtype;
    d->batch = a->batch;
    d->heads_q = a->heads;
    d->heads_kv = a->kv_heads;
    d->seq_q = a->seq_q;
    d->seq_k = a->seq_k;
    d->head_dim = a->head_dim;
    const int64_t qs[3] = {a->heads * a->seq_q * a->head_dim, a->seq_q * a->head_dim, a->head_dim};
    const int64_t ks[3] = {a->kv_heads * a->seq_k * a->head_dim, a->seq_k * a->head_dim,
                           a->head_dim};
    memcpy(d->q_strides, qs, sizeof qs);
    memcpy(d->o_strides, qs, sizeof qs);
    memcpy(d->k_strides, ks, sizeof ks);
    memcpy(d->v_strides, ks, sizeof ks);
    d->causal = a->causal;
    d->window = a->window;
}

static void time_usine(const usine_bench_attention_job *job, usine_bench_attention_out *out)
{
    const long long mark = rss_mark();
    usine_context_options options;
    usine_context_options_init(&options);
    options.num_threads = job->threads;
    options.device = "cpu"; /* CPU lines whatever USINE_DEVICE says */
    usine_attn_arg u = {.job = job, .status = USINE_SUCCESS};
    out->base.status = USINE_BENCH_FAILED;
    if (usine_create(&u.ctx, &options) != USINE_SUCCESS) {
        snprintf(out->base.message, sizeof out->base.message, "%s", usine_last_error());
        return;
    }
    describe(job->bcase, &u.desc);
    const int backward = job->bcase->att.backward;
    usine_bench_call *call = backward ? usine_attn_backward_call : usine_attn_call;
    snprintf(out->base.detail, sizeof out->base.detail, "%s",
             backward ? "usine_attention_backward" : "usine_attention_forward");
    if (backward && usine_backward_setup(&u) != 0) {
        snprintf(out->base.message, sizeof out->base.message, "out of memory for O and lse");
        free(u.o);
        free(u.lse);
        usine_destroy(u.ctx);
        return;
    }
    const double start = usine_bench_now();
    if (u.status == USINE_SUCCESS)
        call(&u); /* checked: an error is reported, not timed */
    const double first = usine_bench_now() - start;
    out->extra_bytes = rss_growth(mark);
    if (u.status == USINE_SUCCESS)
        time_or_keep(call, &u, &job->timing, first, &out->base.stats);
    if (u.status == USINE_SUCCESS)
        out->base.status = USINE_BENCH_OK;
    else
        snprintf(out->base.message, sizeof out->base.message, "%s", usine_last_error());
    if (u.status == USINE_ERROR_NOT_SUPPORTED)
        out->base.status = USINE_BENCH_SKIPPED;
    free(u.o);
    free(u.lse);
    usine_destroy(u.ctx);
}

/* ------------------------------------------------------------------ the unfused baseline */

typedef struct unfused_arg {
    usine_bench_peer peer;
    const usine_bench_attention *a;
    const float *q, *k, *v; /* f32: the job's, or converted copies */
    float *o, *s;           /* O (shared), the scores buffer seq_q x seq_k */
    float scale;
    int threads, status;
    /* backward lines: dO; dP (seq_q x seq_k, becomes dS); a kv head's dK and dV terms from
     * its second and later query heads; the gradients (shared, dQ dK dV); the rows of dO
     * and O of the head being done */
    const float *d_o;
    float *dp, *tk, *tv, *dq, *dk, *dv;
    const float *head_do, *head_o;
} unfused_arg;

/* Rows [first, last) of S: the visible keys of query i are [lo, hi] (usine.h's masks,
 * bottom-right aligned); the others get probability 0, a row with none is all 0. */
typedef void rows_fn(const unfused_arg *u, int64_t first, int64_t last);

typedef struct softmax_part {
    const unfused_arg *u;
    int64_t first, last;
    rows_fn *fn;
} softmax_part;

static void softmax_rows(const unfused_arg *u, int64_t first, int64_t last)
{
    const usine_bench_attention *a = u->a;
    usine_bench_softmax_rows(u->s, first, last, a->seq_q, a->seq_k, a->causal, a->window, u->scale);
}

/* Backward: dP becomes dS * scale, from P and the head's dO and O. */
static void grad_rows(const unfused_arg *u, int64_t first, int64_t last)
{
    const usine_bench_attention *a = u->a;
    usine_bench_softmax_grad_rows(u->dp, u->s, u->head_do, u->head_o, first, last, a->seq_k,
                                  a->head_dim, u->scale);
}

static void *softmax_thread(void *arg)
{
    const softmax_part *p = (const softmax_part *)arg;
    p->fn(p->u, p->first, p->last);
    return NULL;
}

/* The rows split over the run's threads (pthreads: no second thread pool spinning beside
 * OpenBLAS's); the calling thread takes the first part. */
static void by_rows(const unfused_arg *u, rows_fn *fn)
{
    enum { MAX_PARTS = 256 };
    const int64_t rows = u->a->seq_q;
    int parts = u->threads < MAX_PARTS ? u->threads : MAX_PARTS;
    parts = rows < parts ? (int)rows : parts;
    if (parts <= 1) {
        fn(u, 0, rows);
        return;
    }
    softmax_part part[MAX_PARTS];
    pthread_t tid[MAX_PARTS];
    int started[MAX_PARTS] = {0};
    for (int t = 0; t < parts; t++)
        part[t] = (softmax_part){u, rows * t / parts, rows * (t + 1) / parts, fn};
    for (int t = 1; t < parts; t++)
        started[t] = pthread_create(&tid[t], NULL, softmax_thread, &part[t]) == 0;
    fn(u, part[0].first, part[0].last);
    for (int t = 1; t < parts; t++)
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            fn(u, part[t].first, part[t].last);
}

static void softmax(const unfused_arg *u)
{
    by_rows(u, softmax_rows);
}

/* Row-major S (seq_q x seq_k) is column-major S^T = K Q^T: K's rows as stored are
 * column-major K^T (head_dim x seq_k, transposed back), Q's are Q^T. Row-major O is
 * column-major O^T = V^T P^T, V and P read as stored. */
static void unfused_call(void *varg)
{
    unfused_arg *u = (unfused_arg *)varg;
    const usine_bench_attention *a = u->a;
    const int64_t d = a->head_dim, nq = a->seq_q, nk = a->seq_k, group = a->heads / a->kv_heads;
    for (int64_t b = 0; b < a->batch; b++)
        for (int64_t h = 0; h < a->heads; h++) {
            const size_t qo = (size_t)(((b * a->heads + h) * nq) * d);
            const size_t kv = (size_t)(((b * a->kv_heads + h / group) * nk) * d);
            int st = usine_bench_peer_gemm(&u->peer, USINE_F32, 'T', 'N', nk, nq, d, u->k + kv, d,
                                           u->q + qo, d, u->s, nk);
            softmax(u);
            if (st == 0)
                st = usine_bench_peer_gemm(&u->peer, USINE_F32, 'N', 'N', d, nq, nk, u->v + kv, d,
                                           u->s, nk, u->o + qo, d);
            u->status = u->status ? u->status : st;
        }
}

/* The backward per (batch, query head), row-major as above: S = Q K^T, P = softmax,
 * dP = dO V^T (column-major dP^T = V dO^T, like S), dS = scale P (dP - D) in dP's buffer,
 * dV = P^T dO (column-major dV^T = dO^T P), dQ = dS K (dQ^T = K^T dS^T), dK = dS^T Q
 * (dK^T = Q^T dS). The first query head of a kv head writes its dK and dV, the others
 * write tk and tv, added after. */
static void unfused_backward_call(void *varg)
{
    unfused_arg *u = (unfused_arg *)varg;
    const usine_bench_attention *a = u->a;
    const int64_t d = a->head_dim, nq = a->seq_q, nk = a->seq_k, group = a->heads / a->kv_heads;
    const usine_bench_peer *pe = &u->peer;
    for (int64_t b = 0; b < a->batch; b++)
        for (int64_t h = 0; h < a->heads; h++) {
            const size_t qo = (size_t)(((b * a->heads + h) * nq) * d);
            const size_t kv = (size_t)(((b * a->kv_heads + h / group) * nk) * d);
            const int first = h % group == 0;
            float *dk = first ? u->dk + kv : u->tk, *dv = first ? u->dv + kv : u->tv;
            int st = usine_bench_peer_gemm(pe, USINE_F32, 'T', 'N', nk, nq, d, u->k + kv, d,
                                           u->q + qo, d, u->s, nk);
            softmax(u);
            st = st ? st
                    : usine_bench_peer_gemm(pe, USINE_F32, 'T', 'N', nk, nq, d, u->v + kv, d,
                                            u->d_o + qo, d, u->dp, nk);
            u->head_do = u->d_o + qo;
            u->head_o = u->o + qo;
            by_rows(u, grad_rows);
            st = st ? st
                    : usine_bench_peer_gemm(pe, USINE_F32, 'N', 'T', d, nk, nq, u->d_o + qo, d,
                                            u->s, nk, dv, d);
            st = st ? st
                    : usine_bench_peer_gemm(pe, USINE_F32, 'N', 'N', d, nq, nk, u->k + kv, d, u->dp,
                                            nk, u->dq + qo, d);
            st = st ? st
                    : usine_bench_peer_gemm(pe, USINE_F32, 'N', 'T', d, nk, nq, u->q + qo, d, u->dp,
                                            nk, dk, d);
            for (size_t i = 0, n = (size_t)(nk * d); !first && i < n; i++) {
                u->dk[kv + i] += u->tk[i];
                u->dv[kv + i] += u->tv[i];
            }
            u->status = u->status ? u->status : st;
        }
}

static float *to_f32(const void *x, usine_dtype dtype, size_t count)
{
    float *f = (float *)malloc(count * sizeof *f);
    for (size_t i = 0; f && i < count; i++)
        f[i] = element(x, dtype, i);
    return f;
}

static void time_unfused(const usine_bench_attention_job *job, usine_bench_attention_out *out)
{
    const usine_bench_case *c = job->bcase;
    const usine_bench_attention *a = &c->att;
    const long long mark = rss_mark();
    unfused_arg u = {.a = a, .threads = job->threads};
    out->base.status = USINE_BENCH_FAILED;
    if (usine_bench_peer_load(USINE_PEER_OPENBLAS, job->threads, &u.peer, out->base.message,
                              sizeof out->base.message) != 0)
        return;
    const int backward = a->backward;
    snprintf(out->base.detail, sizeof out->base.detail, "%s, %.100s",
             backward ? "cblas_sgemm x 5 + softmax + its gradient"
                      : "cblas_sgemm + softmax + "
                        "cblas_sgemm",
             u.peer.version);
    float *copies[4] = {NULL, NULL, NULL, NULL};
    if (c->dtype == USINE_BF16) {
        copies[0] = to_f32(job->q, c->dtype, q_count(a));
        copies[1] = to_f32(job->k, c->dtype, kv_count(a));
        copies[2] = to_f32(job->v, c->dtype, kv_count(a));
        if (backward)
            copies[3] = to_f32(job->d_o, c->dtype, q_count(a));
    }
    u.q = c->dtype == USINE_BF16 ? copies[0] : (const float *)job->q;
    u.k = c->dtype == USINE_BF16 ? copies[1] : (const float *)job->k;
    u.v = c->dtype == USINE_BF16 ? copies[2] : (const float *)job->v;
    u.d_o = c->dtype == USINE_BF16 ? copies[3] : (const float *)job->d_o;
    const size_t score_bytes = (size_t)(a->seq_q * a->seq_k) * sizeof(float) + sizeof(float);
    const size_t head_bytes = (size_t)(a->seq_k * a->head_dim) * sizeof(float) + sizeof(float);
    float *o_private = NULL;
    if (backward) {
        o_private = (float *)malloc(q_count(a) * sizeof(float) + sizeof(float));
        u.o = o_private;
        u.dp = (float *)malloc(score_bytes);
        u.tk = (float *)malloc(head_bytes);
        u.tv = (float *)malloc(head_bytes);
        u.dq = (float *)job->o;
        u.dk = u.dq + q_count(a);
        u.dv = u.dk + kv_count(a);
    } else {
        u.o = (float *)job->o;
    }
    u.s = (float *)malloc(score_bytes);
    u.scale = (float)(1.0 / sqrt((double)a->head_dim));
    usine_bench_call *call = backward ? unfused_backward_call : unfused_call;
    if (!u.q || !u.k || !u.v || !u.s || !u.o || (backward && (!u.d_o || !u.dp || !u.tk || !u.tv))) {
        snprintf(out->base.message, sizeof out->base.message,
                 "out of memory for the %.0f MiB scores buffer%s",
                 usine_bench_attention_scores_bytes(c) / (1 << 20), backward ? "s" : "");
    } else {
        if (backward) { /* the forward's O, untimed: what a framework saved for the backward,
                           in the line's dtype (usine's bf16 O: D = rowsum(dO O) alike) */
            unfused_call(&u);
            for (size_t i = 0, n = q_count(a); c->dtype == USINE_BF16 && i < n; i++)
                o_private[i] = round_bf16(o_private[i]);
        }
        const double start = usine_bench_now();
        call(&u);
        const double first = usine_bench_now() - start;
        out->extra_bytes = rss_growth(mark);
        if (u.status == 0)
            time_or_keep(call, &u, &job->timing, first, &out->base.stats);
        if (u.status != 0)
            snprintf(out->base.message, sizeof out->base.message, "cblas_sgemm returned status %d",
                     u.status);
        else
            out->base.status = USINE_BENCH_OK;
    }
    free(u.s);
    free(o_private);
    free(u.dp);
    free(u.tk);
    free(u.tv);
    for (int i = 0; i < 4; i++)
        free(copies[i]);
}

void usine_bench_attention_child(void *arg, void *out)
{
    const usine_bench_attention_job *job = (const usine_bench_attention_job *)arg;
    if (job->lib == USINE_BENCH_USINE)
        time_usine(job, (usine_bench_attention_out *)out);
    else
        time_unfused(job, (usine_bench_attention_out *)out);
}

/* Raises out->max_rel to the largest |got - ref| / mag over `count` elements of `got` from
 * element `at` (rows of head_dim, `rows` positions per item), noting where; `what` names the
 * tensor (NULL: none). A NaN never matches. */
static void scan_worst(const void *got, usine_dtype dtype, size_t at, const float *ref,
                       size_t count, double mag, int64_t head_dim, int64_t rows, const char *what,
                       usine_bench_check *out)
{
    for (size_t i = 0; i < count; i++) {
        double diff = fabs(element(got, dtype, at + i) - ref[i]) / mag;
        diff = isnan(diff) ? INFINITY : diff;
        if (diff <= out->max_rel)
            continue;
        out->max_rel = diff;
        const int64_t row = (int64_t)(i / (size_t)head_dim);
        out->worst_j = (int64_t)(i % (size_t)head_dim);
        out->worst_i = row % rows;
        out->worst_item = row / rows;
        if (what)
            snprintf(out->what, sizeof out->what, "%s", what);
    }
}

/* ------------------------------------------------------------------ checking */

int usine_bench_attention_compare(const usine_bench_case *c, const void *v, const void *o_usine,
                                  const float *o_ref, usine_bench_check *out)
{
    const usine_bench_attention *a = &c->att;
    memset(out, 0, sizeof *out);
    if (!v || !o_usine || !o_ref || a->head_dim <= 0 || a->seq_q <= 0)
        return -1;
    double vmax = 0;
    for (size_t i = 0, n = kv_count(a); i < n; i++) {
        const double x = fabs((double)element(v, c->dtype, i));
        vmax = x > vmax ? x : vmax;
    }
    vmax = vmax > 0 ? vmax : 1;
    const double u = 0x1.0p-24;
    out->tolerance =
        2.0 * (double)(a->head_dim + a->seq_k + 3) * u + (c->dtype == USINE_BF16 ? 0x1.0p-8 : 0.0);
    scan_worst(o_usine, c->dtype, 0, o_ref, q_count(a), vmax, a->head_dim, a->seq_q, NULL, out);
    out->match = out->max_rel <= out->tolerance;
    return 0;
}

/* Each of dQ, dK, dV against the largest |element| of the baseline's tensor. */
int usine_bench_attention_backward_compare(const usine_bench_case *c, const void *g_usine,
                                           const float *g_ref, usine_bench_check *out)
{
    const usine_bench_attention *a = &c->att;
    memset(out, 0, sizeof *out);
    if (!g_usine || !g_ref || a->head_dim <= 0 || a->seq_q <= 0 || !a->backward)
        return -1;
    const double u = 0x1.0p-24;
    out->tolerance = 4.0 * (double)(a->head_dim + a->seq_q + a->seq_k + 3) * u +
                     (c->dtype == USINE_BF16 ? 0x1.0p-7 : 0.0);
    const size_t count[3] = {q_count(a), kv_count(a), kv_count(a)};
    const int64_t rows[3] = {a->seq_q, a->seq_k, a->seq_k};
    static const char *const names[3] = {"dq", "dk", "dv"};
    size_t at = 0;
    for (int t = 0; t < 3; t++) {
        double max = 0;
        for (size_t i = 0; i < count[t]; i++) {
            const double x = fabs((double)g_ref[at + i]);
            max = x > max ? x : max;
        }
        max = max > 0 ? max : 1;
        scan_worst(g_usine, c->dtype, at, g_ref + at, count[t], max, a->head_dim, rows[t], names[t],
                   out);
        at += count[t];
    }
    out->match = out->max_rel <= out->tolerance;
    return 0;
}
