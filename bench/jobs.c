#include "jobs.h"

#include <stdio.h>
#include <string.h>

#include "peak.h"
#include "triad.h"

void usine_bench_probe_child(void *arg, void *out)
{
    const usine_bench_probe_job *job = (const usine_bench_probe_job *)arg;
    usine_bench_peer_info *info = (usine_bench_peer_info *)out;
    usine_bench_peer peer;
    info->wanted = 1;
    if (usine_bench_peer_load(job->id, 1, &peer, info->why, sizeof info->why) != 0)
        return;
    info->available = 1;
    info->dtypes = peer.dtypes;
    snprintf(info->path, sizeof info->path, "%s", peer.path);
    snprintf(info->version, sizeof info->version, "%s", peer.version);
    snprintf(info->api, sizeof info->api, "%s", peer.api);
}

void usine_bench_peak_child(void *arg, void *out)
{
    const usine_bench_peak_job *job = (const usine_bench_peak_job *)arg;
    usine_bench_peak_out *peak = (usine_bench_peak_out *)out;
    static const usine_dtype dtypes[2] = {USINE_F32, USINE_F64};
    for (int d = 0; d < 2; d++) {
        if (!(job->dtypes & (1 << d)))
            continue;
        for (int t = 0; t < job->n_threads; t++) {
            const char *method = "";
            peak->gflops[d][t] =
                usine_bench_peak(job->isa, dtypes[d], job->threads[t], job->seconds, &method);
            snprintf(peak->method, sizeof peak->method, "%s", method);
        }
    }
    const size_t bytes = usine_bench_triad_bytes(job->llc_bytes);
    peak->triad_bytes = (double)bytes;
    for (int t = 0; t < job->n_threads; t++)
        peak->bandwidth[t] = usine_bench_triad(job->threads[t], bytes);
}

/* ---- usine */

typedef struct usine_call_arg {
    usine_context *ctx;
    const usine_bench_gemm_job *job;
    usine_status status;
} usine_call_arg;

static void usine_call(void *varg)
{
    usine_call_arg *u = (usine_call_arg *)varg;
    const usine_bench_case *c = u->job->bcase;
    const usine_transpose ta = c->transa == 'T' ? USINE_TRANS : USINE_NO_TRANS;
    const usine_transpose tb = c->transb == 'T' ? USINE_TRANS : USINE_NO_TRANS;
    const int64_t lda = usine_bench_lda(c), ldb = usine_bench_ldb(c);
    if (c->batch > 1)
        u->status = usine_gemm_strided_batched(
            u->ctx, c->dtype, USINE_COL_MAJOR, ta, tb, c->m, c->n, c->k, 1.0, u->job->a, lda,
            c->m * c->k, u->job->b, ldb, c->k * c->n, 0.0, u->job->c, c->m, c->m * c->n, c->batch);
    else
        u->status = usine_gemm(u->ctx, c->dtype, USINE_COL_MAJOR, ta, tb, c->m, c->n, c->k, 1.0,
                               u->job->a, lda, u->job->b, ldb, 0.0, u->job->c, c->m);
}

static void time_usine(const usine_bench_gemm_job *job, usine_bench_gemm_out *out)
{
    usine_context_options options;
    usine_context_options_init(&options);
    options.num_threads = job->threads;
    usine_call_arg u = {NULL, job, USINE_SUCCESS};
    const char *kernel = NULL;
    out->status = USINE_BENCH_FAILED;
    if (usine_create(&u.ctx, &options) != USINE_SUCCESS) {
        snprintf(out->message, sizeof out->message, "%s", usine_last_error());
        return;
    }
    usine_call(&u); /* one checked call: an error is reported, not timed */
    if (u.status == USINE_SUCCESS) {
        usine_bench_time(usine_call, &u, &job->timing, &out->stats);
        out->status = u.status == USINE_SUCCESS ? USINE_BENCH_OK : USINE_BENCH_FAILED;
    }
    if (u.status != USINE_SUCCESS)
        snprintf(out->message, sizeof out->message, "%s", usine_last_error());
    const usine_bench_case *c = job->bcase;
    if (usine_gemm_kernel_name(u.ctx, c->dtype, c->m, c->n, c->k, &kernel) == USINE_SUCCESS &&
        kernel)
        snprintf(out->detail, sizeof out->detail, "%s", kernel);
    usine_destroy(u.ctx);
}

/* ---- peers */

typedef struct peer_call_arg {
    usine_bench_peer peer;
    const usine_bench_gemm_job *job;
    int status;
} peer_call_arg;

/* A batch is `batch` separate calls: the peers' batched APIs differ or do not exist. */
static void peer_call(void *varg)
{
    peer_call_arg *p = (peer_call_arg *)varg;
    const usine_bench_case *c = p->job->bcase;
    const size_t es = c->dtype == USINE_F32 ? sizeof(float) : sizeof(double);
    for (int64_t i = 0; i < c->batch; i++) {
        const char *a = (const char *)p->job->a + (size_t)(i * c->m * c->k) * es;
        const char *b = (const char *)p->job->b + (size_t)(i * c->k * c->n) * es;
        char *cc = (char *)p->job->c + (size_t)(i * c->m * c->n) * es;
        const int st =
            usine_bench_peer_gemm(&p->peer, c->dtype, c->transa, c->transb, c->m, c->n, c->k, a,
                                  usine_bench_lda(c), b, usine_bench_ldb(c), cc, c->m);
        p->status = p->status ? p->status : st;
    }
}

static void time_peer(const usine_bench_gemm_job *job, usine_bench_gemm_out *out)
{
    peer_call_arg p = {.job = job};
    out->status = USINE_BENCH_FAILED;
    if (usine_bench_peer_load((usine_bench_peer_id)(job->lib - 1), job->threads, &p.peer,
                              out->message, sizeof out->message) != 0)
        return;
    snprintf(out->detail, sizeof out->detail, "%s", p.peer.version);
    if (!(p.peer.dtypes & usine_bench_dtype_bit(job->bcase->dtype))) {
        out->status = USINE_BENCH_SKIPPED;
        snprintf(out->message, sizeof out->message, "no %s GEMM",
                 usine_bench_dtype_name(job->bcase->dtype));
        return;
    }
    peer_call(&p);
    if (p.status == 0)
        usine_bench_time(peer_call, &p, &job->timing, &out->stats);
    if (p.status != 0) {
        snprintf(out->message, sizeof out->message, "returned status %d", p.status);
        return;
    }
    out->status = USINE_BENCH_OK;
}

void usine_bench_gemm_child(void *arg, void *out)
{
    const usine_bench_gemm_job *job = (const usine_bench_gemm_job *)arg;
    if (job->lib == USINE_BENCH_USINE)
        time_usine(job, (usine_bench_gemm_out *)out);
    else
        time_peer(job, (usine_bench_gemm_out *)out);
}
