#include "conv.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onednn_conv.h"

/* CBLAS's values (cblas.h), and OpenBLAS's cblas_sgemm as peers.c loads it (fn[0]). */
#define CBLAS_ROW_MAJOR 101
#define CBLAS_NO_TRANS  111
#define CBLAS_TRANS     112
typedef void cblas_sgemm_fn(int, int, int, int, int, int, float, const float *, int, const float *,
                            int, float, float *, int);

/* The baseline's patch matrix stays near this size: images are taken in chunks. */
#define PATCH_BYTES ((size_t)64 << 20)

/* ------------------------------------------------------------------ geometry */

typedef struct geometry {
    int64_t n, c, h, w, k, r, s, p, q, sh, sw, ph, pw, dh, dw, groups;
    int64_t cg, kg, taps; /* C', K' per group; R S C': a patch row */
} geometry;

static geometry geometry_of(const usine_bench_conv *v)
{
    geometry g = {v->n,     v->c,      v->h,        v->w,        v->k,     v->r,     v->s,
                  0,        0,         v->stride_h, v->stride_w, v->pad_h, v->pad_w, v->dil_h,
                  v->dil_w, v->groups, 0,           0,           0};
    g.p = (g.h + 2 * g.ph - g.dh * (g.r - 1) - 1) / g.sh + 1;
    g.q = (g.w + 2 * g.pw - g.dw * (g.s - 1) - 1) / g.sw + 1;
    g.cg = g.c / g.groups;
    g.kg = g.k / g.groups;
    g.taps = g.r * g.s * g.cg;
    return g;
}

void usine_bench_conv_counts(const usine_bench_case *c, size_t *nx, size_t *nw, size_t *ny)
{
    const geometry g = geometry_of(&c->conv);
    *nx = (size_t)(g.n * g.h * g.w * g.c);
    *nw = (size_t)(g.k * g.taps);
    *ny = (size_t)(g.n * g.p * g.q * g.k);
}

void usine_bench_conv_pass_counts(const usine_bench_case *c, size_t *in0, size_t *in1, size_t *out)
{
    size_t nx, nw, ny;
    usine_bench_conv_counts(c, &nx, &nw, &ny);
    const size_t table[3][3] = {{nx, nw, ny}, {ny, nw, nx}, {nx, ny, nw}};
    const int pass = c->conv.pass;
    *in0 = table[pass][0];
    *in1 = table[pass][1];
    *out = table[pass][2];
}

static float bf16_to_f32(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static double element(const void *x, usine_dtype dtype, size_t i)
{
    return dtype == USINE_BF16 ? bf16_to_f32(((const uint16_t *)x)[i]) : ((const float *)x)[i];
}

/* ------------------------------------------------------------------ usine */

typedef struct usine_conv_arg {
    usine_context *ctx;
    usine_conv2d_desc desc;
    const usine_bench_conv_job *job;
    void *workspace;
    size_t workspace_size;
    /* forward and backward data: the filters packed once, untimed (oneDNN's are reordered
     * once) */
    void *packed;
    size_t packed_size;
    usine_status status;
} usine_conv_arg;

static void usine_conv_call(void *varg)
{
    usine_conv_arg *u = (usine_conv_arg *)varg;
    const usine_bench_conv_job *j = u->job;
    usine_status st;
    if (j->bcase->conv.pass == USINE_CONV_FORWARD)
        st = usine_conv2d_forward_packed(u->ctx, &u->desc, j->in0, u->packed, u->packed_size,
                                         j->out, u->workspace, u->workspace_size);
    else if (j->bcase->conv.pass == USINE_CONV_BACKWARD_DATA)
        st = usine_conv2d_backward_data_packed(u->ctx, &u->desc, j->in0, u->packed, u->packed_size,
                                               j->out, u->workspace, u->workspace_size);
    else
        st = usine_conv2d_backward_weights(u->ctx, &u->desc, j->in0, j->in1, j->out, NULL,
                                           u->workspace, u->workspace_size);
    u->status = u->status != USINE_SUCCESS ? u->status : st;
}

static void describe(const usine_bench_case *c, usine_conv2d_desc *d)
{
    const usine_bench_conv *v = &c->conv;
    usine_conv2d_desc_init(d);
    d->dtype = c->dtype;
    d->layout = USINE_CONV_NHWC;
    d->batch = v->n;
    d->in_channels = v->c;
    d->in_height = v->h;
    d->in_width = v->w;
    d->out_channels = v->k;
    d->filter_height = v->r;
    d->filter_width = v->s;
    d->stride_h = v->stride_h;
    d->stride_w = v->stride_w;
    d->pad_top = d->pad_bottom = v->pad_h;
    d->pad_left = d->pad_right = v->pad_w;
    d->dilation_h = v->dil_h;
    d->dilation_w = v->dil_w;
    d->groups = v->groups;
}

/* The context, the algorithm's name and the workspace (untimed); 0, or -1 with why. */
static int usine_setup(const usine_bench_conv_job *job, usine_conv_arg *u,
                       usine_bench_gemm_out *out)
{
    usine_context_options options;
    usine_context_options_init(&options);
    options.num_threads = job->threads;
    options.device = "cpu"; /* CPU lines whatever USINE_DEVICE says */
    describe(job->bcase, &u->desc);
    const usine_conv_pass pass = (usine_conv_pass)job->bcase->conv.pass;
    const char *name = NULL;
    usine_status st = usine_create(&u->ctx, &options);
    if (st == USINE_SUCCESS)
        st = usine_conv2d_algorithm_name(u->ctx, &u->desc, pass, &name);
    if (st == USINE_SUCCESS)
        st = usine_conv2d_workspace_size(u->ctx, &u->desc, pass, &u->workspace_size);
    if (st == USINE_SUCCESS && u->workspace_size &&
        !(u->workspace = aligned_alloc(64, (u->workspace_size + 63) / 64 * 64))) {
        snprintf(out->message, sizeof out->message, "out of memory for a %zu-byte workspace",
                 u->workspace_size);
        return -1;
    }
    const int forward = pass == USINE_CONV_FORWARD, packs = pass != USINE_CONV_BACKWARD_WEIGHTS;
    if (st == USINE_SUCCESS && packs)
        st = forward ? usine_conv2d_packed_filters_size(u->ctx, &u->desc, &u->packed_size)
                     : usine_conv2d_backward_data_packed_size(u->ctx, &u->desc, &u->packed_size);
    if (st == USINE_SUCCESS && packs) {
        if (!(u->packed = aligned_alloc(64, (u->packed_size + 63) / 64 * 64))) {
            snprintf(out->message, sizeof out->message,
                     "out of memory for %zu bytes of packed filters", u->packed_size);
            return -1;
        }
        st = forward
                 ? usine_conv2d_pack_filters(u->ctx, &u->desc, job->in1, u->packed, u->packed_size)
                 : usine_conv2d_pack_filters_backward_data(u->ctx, &u->desc, job->in1, u->packed,
                                                           u->packed_size);
    }
    if (st != USINE_SUCCESS) {
        snprintf(out->message, sizeof out->message, "%s", usine_last_error());
        out->status = st == USINE_ERROR_NOT_SUPPORTED ? USINE_BENCH_SKIPPED : USINE_BENCH_FAILED;
        return -1;
    }
    snprintf(out->detail, sizeof out->detail, "%s (workspace %zu bytes)", name, u->workspace_size);
    return 0;
}

static void time_usine(const usine_bench_conv_job *job, usine_bench_gemm_out *out)
{
    usine_conv_arg u = {.job = job, .status = USINE_SUCCESS};
    out->status = USINE_BENCH_FAILED;
    if (usine_setup(job, &u, out) == 0) {
        usine_conv_call(&u); /* one checked call: an error is reported, not timed */
        if (u.status == USINE_SUCCESS) {
            usine_bench_time(usine_conv_call, &u, &job->timing, &out->stats);
            out->status = u.status == USINE_SUCCESS ? USINE_BENCH_OK : USINE_BENCH_FAILED;
        }
        if (u.status != USINE_SUCCESS)
            snprintf(out->message, sizeof out->message, "%s", usine_last_error());
    }
    free(u.workspace);
    free(u.packed);
    usine_destroy(u.ctx);
}

/* ------------------------------------------------------------------ oneDNN */

static void onednn_call(void *arg)
{
    usine_bench_onednn_conv_run((usine_bench_onednn_conv *)arg);
}

static void time_onednn(const usine_bench_conv_job *job, usine_bench_gemm_out *out)
{
    usine_bench_peer peer;
    usine_bench_onednn_conv *cv = NULL;
    out->status = USINE_BENCH_FAILED;
    if (usine_bench_peer_load(USINE_PEER_ONEDNN, job->threads, &peer, out->message,
                              sizeof out->message) != 0)
        return;
    if (usine_bench_onednn_conv_load(peer.handle, peer.path, out->message, sizeof out->message) !=
        0) {
        out->status = USINE_BENCH_SKIPPED;
        return;
    }
    const int rc = usine_bench_onednn_conv_create(job->bcase, job->in0, job->in1, job->out, &cv,
                                                  out->message, sizeof out->message);
    if (rc != 0) {
        out->status = rc > 0 ? USINE_BENCH_SKIPPED : USINE_BENCH_FAILED;
        return;
    }
    snprintf(out->detail, sizeof out->detail, "%s", usine_bench_onednn_conv_impl(cv));
    const int st = usine_bench_onednn_conv_run(cv); /* checked once, then timed */
    if (st == 0) {
        usine_bench_time(onednn_call, cv, &job->timing, &out->stats);
        const int done = usine_bench_onednn_conv_finish(cv);
        out->status = done == 0 ? USINE_BENCH_OK : USINE_BENCH_FAILED;
        if (done != 0)
            snprintf(out->message, sizeof out->message,
                     "oneDNN convolution: reordering dw back returned %d", done);
    } else {
        snprintf(out->message, sizeof out->message, "oneDNN convolution: execute returned %d", st);
    }
    usine_bench_onednn_conv_destroy(cv);
}

/* ------------------------------------------------------------------ im2col + sgemm */

typedef struct baseline {
    geometry g;
    int pass, threads;
    cblas_sgemm_fn *sgemm;
    const float *in0, *in1; /* f32: the job's, or converted copies */
    float *out;             /* the job's (shared) */
    float *patches;         /* chunk x P Q rows of R S C' */
    int64_t chunk;          /* images per chunk */
} baseline;

/* One piece of a copy: rows [first, last) of the patch matrix of images from n0, group g, or
 * channels [first, last) of a col2im. */
typedef struct piece {
    const baseline *b;
    int64_t n0, images, group, first, last;
} piece;

/* im2col: patch row m (image n0 + m / PQ, output position m % PQ) holds, for each tap (r, s),
 * the C' channels of the group at the input position it reads, or zeros in the padding. */
static void im2col_rows(const piece *pc)
{
    const baseline *b = pc->b;
    const geometry *g = &b->g;
    const float *x = b->in0; /* forward and backward weights read x first */
    for (int64_t m = pc->first; m < pc->last; m++) {
        const int64_t n = pc->n0 + m / (g->p * g->q), p = m % (g->p * g->q) / g->q, q = m % g->q;
        float *row = b->patches + m * g->taps;
        for (int64_t r = 0; r < g->r; r++)
            for (int64_t s = 0; s < g->s; s++, row += g->cg) {
                const int64_t h = p * g->sh + r * g->dh - g->ph, w = q * g->sw + s * g->dw - g->pw;
                if (h < 0 || h >= g->h || w < 0 || w >= g->w)
                    memset(row, 0, (size_t)g->cg * sizeof *row);
                else
                    memcpy(row, x + ((n * g->h + h) * g->w + w) * g->c + pc->group * g->cg,
                           (size_t)g->cg * sizeof *row);
            }
    }
}

/* col2im: the patch rows of the chunk added back into dx (channels [first, last) of the
 * group), which starts at zero. */
static void col2im_channels(const piece *pc)
{
    const baseline *b = pc->b;
    const geometry *g = &b->g;
    for (int64_t m = 0; m < pc->images * g->p * g->q; m++) {
        const int64_t n = pc->n0 + m / (g->p * g->q), p = m % (g->p * g->q) / g->q, q = m % g->q;
        const float *row = b->patches + m * g->taps;
        for (int64_t r = 0; r < g->r; r++)
            for (int64_t s = 0; s < g->s; s++, row += g->cg) {
                const int64_t h = p * g->sh + r * g->dh - g->ph, w = q * g->sw + s * g->dw - g->pw;
                if (h < 0 || h >= g->h || w < 0 || w >= g->w)
                    continue;
                float *dx = b->out + ((n * g->h + h) * g->w + w) * g->c + pc->group * g->cg;
                for (int64_t c = pc->first; c < pc->last; c++)
                    dx[c] += row[c];
            }
    }
}

static void *piece_thread(void *arg)
{
    const piece *p = (const piece *)arg;
    if (p->b->pass == USINE_CONV_BACKWARD_DATA)
        col2im_channels(p);
    else
        im2col_rows(p);
    return NULL;
}

/* [0, count) split over the run's threads (pthreads, not a second pool beside OpenBLAS's);
 * the calling thread takes the first part. */
static void split(const baseline *b, int64_t n0, int64_t images, int64_t group, int64_t count)
{
    enum { MAX_PARTS = 256 };
    int parts = b->threads < MAX_PARTS ? b->threads : MAX_PARTS;
    parts = count < parts ? (int)count : parts;
    piece part[MAX_PARTS];
    pthread_t tid[MAX_PARTS];
    int started[MAX_PARTS] = {0};
    for (int t = 0; t < parts; t++)
        part[t] = (piece){b, n0, images, group, count * t / parts, count * (t + 1) / parts};
    for (int t = 1; t < parts; t++)
        started[t] = pthread_create(&tid[t], NULL, piece_thread, &part[t]) == 0;
    if (parts > 0)
        piece_thread(&part[0]);
    for (int t = 1; t < parts; t++)
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            piece_thread(&part[t]);
}

/* One chunk of images, one group: im2col, then the pass's product (row-major):
 *   forward       y_g (M x K', ld K)   = patches (M x RSC') w_g^T
 *   backward data patches (M x RSC')   = dy_g (M x K', ld K) w_g (K' x RSC'), then col2im
 *   weights       dw_g (K' x RSC')    += dy_g^T patches            (beta 0 on the first chunk) */
static void baseline_chunk(const baseline *b, int64_t n0, int64_t images, int64_t group)
{
    const geometry *g = &b->g;
    const int m = (int)(images * g->p * g->q), kg = (int)g->kg, taps = (int)g->taps;
    const int64_t y0 = n0 * g->p * g->q * g->k + group * g->kg; /* y or dy, chunk and group */
    const float *w =
        b->pass == USINE_CONV_BACKWARD_WEIGHTS ? NULL : b->in1 + group * g->kg * g->taps;
    if (b->pass != USINE_CONV_BACKWARD_DATA)
        split(b, n0, images, group, m);
    if (b->pass == USINE_CONV_FORWARD) {
        b->sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, m, kg, taps, 1.0f, b->patches, taps,
                 w, taps, 0.0f, b->out + y0, (int)g->k);
    } else if (b->pass == USINE_CONV_BACKWARD_DATA) {
        b->sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, m, taps, kg, 1.0f, b->in0 + y0,
                 (int)g->k, w, taps, 0.0f, b->patches, taps);
        split(b, n0, images, group, g->cg);
    } else {
        b->sgemm(CBLAS_ROW_MAJOR, CBLAS_TRANS, CBLAS_NO_TRANS, kg, taps, m, 1.0f, b->in1 + y0,
                 (int)g->k, b->patches, taps, n0 == 0 ? 0.0f : 1.0f,
                 b->out + group * g->kg * g->taps, taps);
    }
}

static void baseline_call(void *arg)
{
    const baseline *b = (const baseline *)arg;
    const geometry *g = &b->g;
    if (b->pass == USINE_CONV_BACKWARD_DATA) /* col2im adds into dx */
        memset(b->out, 0, (size_t)(g->n * g->h * g->w * g->c) * sizeof *b->out);
    for (int64_t n0 = 0; n0 < g->n; n0 += b->chunk) {
        const int64_t images = g->n - n0 < b->chunk ? g->n - n0 : b->chunk;
        for (int64_t group = 0; group < g->groups; group++)
            baseline_chunk(b, n0, images, group);
    }
}

static float *to_f32(const void *x, usine_dtype dtype, size_t count)
{
    float *f = (float *)malloc(count * sizeof *f + sizeof *f);
    for (size_t i = 0; f && i < count; i++)
        f[i] = (float)element(x, dtype, i);
    return f;
}

static void time_baseline(const usine_bench_conv_job *job, usine_bench_gemm_out *out)
{
    const usine_bench_case *c = job->bcase;
    usine_bench_peer peer;
    out->status = USINE_BENCH_FAILED;
    if (usine_bench_peer_load(USINE_PEER_OPENBLAS, job->threads, &peer, out->message,
                              sizeof out->message) != 0)
        return;
    baseline b = {.g = geometry_of(&c->conv),
                  .pass = c->conv.pass,
                  .threads = job->threads,
                  .sgemm = (cblas_sgemm_fn *)peer.fn[0],
                  .out = (float *)job->out};
    const size_t row_bytes = (size_t)(b.g.p * b.g.q * b.g.taps) * sizeof(float);
    b.chunk = (int64_t)(PATCH_BYTES / (row_bytes ? row_bytes : 1));
    b.chunk = b.chunk < 1 ? 1 : b.chunk > b.g.n ? b.g.n : b.chunk;
    size_t n0, n1, nout;
    usine_bench_conv_pass_counts(c, &n0, &n1, &nout);
    float *copies[2] = {NULL, NULL};
    if (c->dtype == USINE_BF16) {
        copies[0] = to_f32(job->in0, c->dtype, n0);
        copies[1] = to_f32(job->in1, c->dtype, n1);
    }
    b.in0 = c->dtype == USINE_BF16 ? copies[0] : (const float *)job->in0;
    b.in1 = c->dtype == USINE_BF16 ? copies[1] : (const float *)job->in1;
    b.patches = (float *)malloc((size_t)b.chunk * row_bytes + sizeof(float));
    snprintf(out->detail, sizeof out->detail,
             "im2col/col2im + cblas_sgemm, %lld image%s a call, %.80s", (long long)b.chunk,
             b.chunk == 1 ? "" : "s", peer.version);
    if (!b.in0 || !b.in1 || !b.patches) {
        snprintf(out->message, sizeof out->message, "out of memory for the %.0f MiB patches",
                 (double)b.chunk * (double)row_bytes / (1 << 20));
    } else {
        baseline_call(&b); /* the first call warms up like the others' checked call */
        usine_bench_time(baseline_call, &b, &job->timing, &out->stats);
        out->status = USINE_BENCH_OK;
    }
    free(b.patches);
    free(copies[0]);
    free(copies[1]);
}

void usine_bench_conv_child(void *arg, void *out)
{
    const usine_bench_conv_job *job = (const usine_bench_conv_job *)arg;
    usine_bench_gemm_out *o = (usine_bench_gemm_out *)out;
    if (job->lib == USINE_BENCH_USINE)
        time_usine(job, o);
    else if (job->lib == USINE_BENCH_IM2COL)
        time_baseline(job, o);
    else
        time_onednn(job, o);
}

/* ------------------------------------------------------------------ checking */

static double max_abs(const void *x, usine_dtype dtype, size_t count)
{
    double m = 0;
    for (size_t i = 0; i < count; i++) {
        const double v = fabs(element(x, dtype, i));
        m = v > m ? v : m;
    }
    return m;
}

int usine_bench_conv_compare(const usine_bench_case *c, const void *in0, const void *in1,
                             const void *out_usine, const float *out_ref, usine_bench_check *out)
{
    memset(out, 0, sizeof *out);
    if (!in0 || !in1 || !out_usine || !out_ref || (unsigned)c->conv.pass > 2)
        return -1;
    const geometry g = geometry_of(&c->conv);
    const int pass = c->conv.pass;
    size_t n0, n1, count;
    usine_bench_conv_pass_counts(c, &n0, &n1, &count);
    const int64_t terms = pass == 0 ? g.taps : pass == 1 ? g.kg * g.r * g.s : g.n * g.p * g.q;
    /* per item: an image (y, dx: its positions x channels) or an output channel (dw) */
    const int64_t channels = pass == 0 ? g.k : pass == 1 ? g.c : g.cg;
    const int64_t per_item = pass == 0 ? g.p * g.q * g.k : pass == 1 ? g.h * g.w * g.c : g.taps;
    double scale = (double)terms * max_abs(in0, c->dtype, n0) * max_abs(in1, c->dtype, n1);
    scale = scale > 0 ? scale : 1;
    out->tolerance =
        2.0 * (double)(terms + 2) * 0x1.0p-24 + (c->dtype == USINE_BF16 ? 0x1.0p-8 : 0.0);
    for (size_t i = 0; i < count; i++) {
        double diff = fabs(element(out_usine, c->dtype, i) - out_ref[i]) / scale;
        diff = isnan(diff) ? INFINITY : diff;
        if (diff <= out->max_rel)
            continue;
        out->max_rel = diff;
        out->worst_item = (int64_t)i / per_item;
        out->worst_i = (int64_t)i % per_item / channels;
        out->worst_j = (int64_t)i % channels;
    }
    out->match = out->max_rel <= out->tolerance;
    return 0;
}
