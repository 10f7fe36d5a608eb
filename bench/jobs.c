#include "jobs.h"

#include <stdio.h>
#include <string.h>

#include "onednn_matmul.h"
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
    snprintf(info->lowp_why, sizeof info->lowp_why, "%s", peer.lowp_why);
}

void usine_bench_peak_child(void *arg, void *out)
{
    const usine_bench_peak_job *job = (const usine_bench_peak_job *)arg;
    usine_bench_peak_out *peak = (usine_bench_peak_out *)out;
    for (int d = 0; d < USINE_BENCH_DTYPE_SLOTS; d++) {
        if (!(job->dtypes & (1 << d)))
            continue;
        for (int t = 0; t < job->n_threads; t++) {
            const char *method = "";
            peak->gflops[d][t] = usine_bench_peak(job->isa, usine_bench_slot_dtype(d),
                                                  job->threads[t], job->seconds, &method);
            if (d < 2)
                snprintf(peak->method, sizeof peak->method, "%s", method);
            else
                snprintf(peak->lowp_method[d - 2], sizeof peak->lowp_method[0], "%s", method);
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

/* bf16 and int8: row-major through the descriptor API, the types of the case. */
static void usine_call_lowp(usine_call_arg *u)
{
    const usine_bench_case *c = u->job->bcase;
    usine_dtype types[3];
    usine_bench_case_types(c, types);
    usine_gemm_desc d;
    usine_gemm_desc_init(&d);
    d.layout = USINE_ROW_MAJOR;
    d.trans_a = c->transa == 'T' ? USINE_TRANS : USINE_NO_TRANS;
    d.trans_b = c->transb == 'T' ? USINE_TRANS : USINE_NO_TRANS;
    d.m = c->m;
    d.n = c->n;
    d.k = c->k;
    d.lda = usine_bench_lda(c);
    d.ldb = usine_bench_ldb(c);
    d.ldc = c->n;
    d.a_type = types[0];
    d.b_type = types[1];
    d.c_type = types[2];
    d.alpha = 1.0;
    d.beta = 0.0;
    d.batch_count = c->batch;
    d.stride_a = c->m * c->k;
    d.stride_b = c->k * c->n;
    d.stride_c = c->m * c->n;
    u->status = usine_gemm_ex(u->ctx, &d, u->job->a, u->job->b, u->job->c);
}

static void usine_call(void *varg)
{
    usine_call_arg *u = (usine_call_arg *)varg;
    const usine_bench_case *c = u->job->bcase;
    if (usine_bench_is_lowp(c->dtype)) {
        usine_call_lowp(u);
        return;
    }
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
    options.device = "cpu"; /* CPU lines whatever USINE_DEVICE says */
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
    /* A dtype usine does not have yet is a gap to show, not a failure: the peer still
     * runs and the row says why usine's cell is empty. */
    if (u.status == USINE_ERROR_NOT_SUPPORTED)
        out->status = USINE_BENCH_SKIPPED;
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

/* oneDNN's matmul on a bf16 or int8 case: the primitive is made once (not timed), then
 * each timed call is one execute and wait. */
typedef struct matmul_call_arg {
    usine_bench_onednn_matmul *mm;
    int status;
} matmul_call_arg;

static void matmul_call(void *varg)
{
    matmul_call_arg *p = (matmul_call_arg *)varg;
    const int st = usine_bench_onednn_matmul_run(p->mm);
    p->status = p->status ? p->status : st;
}

static void time_peer_lowp(const usine_bench_gemm_job *job, usine_bench_gemm_out *out)
{
    const usine_bench_case *c = job->bcase;
    usine_bench_lowp_gemm g = {.transa = c->transa,
                               .transb = c->transb,
                               .m = c->m,
                               .n = c->n,
                               .k = c->k,
                               .batch = c->batch,
                               .a = job->a,
                               .b = job->b,
                               .c = job->c};
    usine_dtype types[3];
    usine_bench_case_types(c, types);
    g.a_type = types[0];
    g.b_type = types[1];
    g.c_type = types[2];
    matmul_call_arg p = {NULL, 0};
    const int rc = usine_bench_onednn_matmul_create(&g, &p.mm, out->message, sizeof out->message);
    if (rc != 0) {
        out->status = rc > 0 ? USINE_BENCH_SKIPPED : USINE_BENCH_FAILED;
        return;
    }
    snprintf(out->detail, sizeof out->detail, "%s", usine_bench_onednn_matmul_impl(p.mm));
    matmul_call(&p);
    if (p.status == 0)
        usine_bench_time(matmul_call, &p, &job->timing, &out->stats);
    if (p.status != 0)
        snprintf(out->message, sizeof out->message, "dnnl_primitive_execute returned status %d",
                 p.status);
    else
        out->status = USINE_BENCH_OK;
    usine_bench_onednn_matmul_destroy(p.mm);
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
        if (usine_bench_is_lowp(job->bcase->dtype) && p.peer.lowp_why[0])
            snprintf(out->message, sizeof out->message, "%s", p.peer.lowp_why);
        else
            snprintf(out->message, sizeof out->message, "no %s GEMM",
                     usine_bench_dtype_name(job->bcase->dtype));
        return;
    }
    if (usine_bench_is_lowp(job->bcase->dtype)) {
        time_peer_lowp(job, out);
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
