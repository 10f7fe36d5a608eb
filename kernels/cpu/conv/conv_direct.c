/*
 * The forward NHWC convolution with the input read in place by the GEMM microkernel (the
 * implicit_gemm algorithm's "direct" variant): no im2col panels at all.
 *
 * In NHWC, filter row r of output position (n, oh, ow) reads S C contiguous floats of x
 * (taps s, then channels c, as the KRSC filters order them) starting at
 * x[n, oh stride_h - pad_top + r dilation_h, ow stride_w - pad_left, 0], and the runs of
 * consecutive positions along a row are stride_w C floats apart: exactly the B operand a
 * microkernel reads by columns (ukr_bt: B(p, j) = b[p + j b_step]). So each C tile (MR
 * output channels x NR positions of one output row) is R microkernel calls of depth S C,
 * accumulated in place, with A the filters packed once per call (rows k, columns (r, s, c)).
 * Positions whose filter row crosses the padding, and the last partial group of a row,
 * read a small zero-padded copy instead; filter rows wholly in the padding are skipped.
 *
 * Threads share out the output rows (n, oh); each output is summed in one fixed order (r,
 * then s and c inside the microkernel) whatever the thread count.
 */
#include <string.h>

#include "conv_internal.h"
#include "../threading.h"

#define ALIGN 64

static size_t align_up(size_t x)
{
    return (x + ALIGN - 1) / ALIGN * ALIGN;
}

/* The A panels of the filters: K / MR full panels, then one edge panel for the rest (the
 * narrowest edge kernel that covers it, else a full-width panel partly zero). */
typedef struct row_panels {
    int64_t count, full;
    int mr;
    int edge_width, edge_rows;
    usine_gemm_ukr_fn *edge_ukr;
    usine_gemm_pack_fn *edge_pack;
} row_panels;

typedef struct row_panel {
    int width, rows;
    usine_gemm_ukr_fn *ukr_bt;
    usine_gemm_pack_fn *pack;
} row_panel;

static void plan_panels(const usine_gemm_kernel *kernel, int64_t k, row_panels *rp)
{
    rp->mr = kernel->mr;
    rp->full = k / kernel->mr;
    rp->edge_rows = (int)(k - rp->full * kernel->mr);
    rp->edge_width = kernel->mr;
    rp->edge_ukr = kernel->ukr_bt;
    rp->edge_pack = kernel->pack_a;
    for (int e = 0; e < kernel->n_edges; e++)
        if (kernel->edges[e].mr >= rp->edge_rows && kernel->edges[e].mr < rp->edge_width) {
            rp->edge_width = kernel->edges[e].mr;
            rp->edge_ukr = kernel->edges[e].ukr_bt;
            rp->edge_pack = kernel->edges[e].pack_a;
        }
    rp->count = rp->full + (rp->edge_rows > 0);
}

static row_panel panel_at(const usine_gemm_kernel *kernel, const row_panels *rp, int64_t i)
{
    if (i < rp->full)
        return (row_panel){rp->mr, rp->mr, kernel->ukr_bt, kernel->pack_a};
    return (row_panel){rp->edge_width, rp->edge_rows, rp->edge_ukr, rp->edge_pack};
}

int usine_conv_direct_serves(const usine_conv_problem *p, const usine_gemm_kernel *kernel)
{
    return p->layout == USINE_CONV_NHWC && p->dtype == USINE_F32 && p->groups == 1 &&
           p->dilation_w == 1 && p->s * p->c <= USINE_CONV_DIRECT_MAX_RUN &&
           (!kernel || (kernel->ukr_bt && kernel->k_unit == 1 && kernel->in_type == USINE_F32 &&
                        kernel->nr <= 16));
}

/* Floats of one thread's zero-padded copy of NR runs. */
static size_t buffer_floats(const usine_conv_problem *p, const usine_gemm_kernel *kernel)
{
    return (size_t)(kernel->nr * p->s * p->c);
}

static size_t packed_floats(const usine_conv_problem *p, const row_panels *rp)
{
    const int64_t widths = rp->full * rp->mr + (rp->edge_rows > 0 ? rp->edge_width : 0);
    return (size_t)(widths * p->r * p->s * p->c);
}

size_t usine_conv_direct_workspace_size(const usine_conv_problem *p, const usine_conv_exec *exec)
{
    row_panels rp;
    plan_panels(exec->gemm.kernel, p->k, &rp);
    return align_up(packed_floats(p, &rp) * sizeof(float)) +
           (size_t)exec->gemm.max_threads *
               align_up(buffer_floats(p, exec->gemm.kernel) * sizeof(float));
}

typedef struct direct_args {
    const usine_conv_problem *p;
    const usine_gemm_kernel *kernel;
    const row_panels *rp;
    const float *x, *packed;
    float *y;
    char *buffers; /* one per thread */
    size_t buffer_bytes;
    int64_t rows; /* output rows n P + oh */
} direct_args;

/* The B operand of filter row ih for positions ow0 .. ow0 + count - 1: x itself when every
 * run lies inside the row and the group is whole, else runs copied into buf with zeros. */
static const float *row_runs(const direct_args *a, int64_t n, int64_t ih, int64_t ow0, int count,
                             float *buf, int64_t *step)
{
    const usine_conv_problem *p = a->p;
    const int64_t run = p->s * p->c, nr = a->kernel->nr;
    const int64_t iw0 = ow0 * p->stride_w - p->pad_left;
    const float *row = a->x + (n * p->h + ih) * p->w * p->c;
    const int64_t last = (ow0 + nr - 1) * p->stride_w - p->pad_left + p->s;
    if (count == nr && iw0 >= 0 && last <= p->w) {
        *step = p->stride_w * p->c;
        return row + iw0 * p->c;
    }
    for (int64_t j = 0; j < nr; j++) {
        float *out = buf + j * run;
        const int64_t start = (ow0 + j) * p->stride_w - p->pad_left;
        for (int64_t s = 0; s < p->s; s++) {
            const int64_t iw = start + s;
            if (j < count && iw >= 0 && iw < p->w)
                memcpy(out + s * p->c, row + iw * p->c, (size_t)p->c * sizeof *out);
            else
                memset(out + s * p->c, 0, (size_t)p->c * sizeof *out);
        }
    }
    *step = run;
    return buf;
}

/* One panel of output channels (rows k0 ..) on one output row, every group of NR
 * positions: R microkernel calls per tile, one per filter row inside the input. */
static void panel_on_row(const direct_args *a, const row_panel *rp, const float *panel, int64_t k0,
                         int64_t row, float *buf)
{
    const usine_conv_problem *p = a->p;
    const int64_t n = row / p->p, oh = row % p->p, nr = a->kernel->nr, run = p->s * p->c;
    const float one = 1.0f, zero = 0.0f;
    usine_epilogue e;
    memset(&e, 0, sizeof e);
    e.bias = p->bias;
    e.bias_per_row = 1;
    e.activation = p->activation;
    const int epilogue = p->bias || p->activation != USINE_ACT_NONE;
    for (int64_t ow0 = 0; ow0 < p->q; ow0 += nr) {
        const int count = (int)(p->q - ow0 < nr ? p->q - ow0 : nr);
        float *c_tile = a->y + (row * p->q + ow0) * p->k + k0;
        int first = 1;
        for (int64_t r = 0; r < p->r; r++) {
            const int64_t ih = oh * p->stride_h - p->pad_top + r * p->dilation_h;
            if (ih < 0 || ih >= p->h)
                continue;
            int64_t step;
            const float *b = row_runs(a, n, ih, ow0, count, buf, &step);
            rp->ukr_bt(run, panel + r * run * rp->width, rp->width, b, step, c_tile, p->k, rp->rows,
                       count, &one, first ? &zero : &one);
            first = 0;
        }
        if (first) /* every filter row in the padding: the sums are zero */
            for (int j = 0; j < count; j++)
                memset(c_tile + j * p->k, 0, (size_t)rp->rows * sizeof *c_tile);
        if (epilogue)
            a->kernel->epilogue(&e, k0, ow0, rp->rows, count, c_tile, p->k);
    }
}

/* A thread's output rows, one filter panel at a time: the panel (MR x R S C) stays in L2
 * across the rows, where cycling through all the filters for every group of positions
 * would stream them from L3 (measured: 3x3 256 -> 256 on 28 x 28, 85 against 105 GFLOP/s
 * for the im2col GEMM). */
static void direct_body(void *arg, int index, int count)
{
    const direct_args *a = (const direct_args *)arg;
    const int64_t per = (a->rows + count - 1) / count;
    const int64_t r0 = index * per, r1 = r0 + per < a->rows ? r0 + per : a->rows;
    float *buf = (float *)(a->buffers + (size_t)index * a->buffer_bytes);
    const int64_t taps = a->p->r * a->p->s * a->p->c;
    for (int64_t i = 0; i < a->rp->count; i++) {
        const row_panel rp = panel_at(a->kernel, a->rp, i);
        const int64_t k0 = i * a->rp->mr;
        for (int64_t row = r0; row < r1; row++)
            panel_on_row(a, &rp, a->packed + k0 * taps, k0, row, buf);
    }
}

typedef struct pack_args {
    const usine_conv_problem *p;
    const usine_gemm_kernel *kernel;
    const row_panels *rp;
    const float *w;
    float *packed;
    int avx512; /* register transposes (usine_conv_avx512_pack_rows) */
} pack_args;

/* The filters (K rows of R S C) into the panels, panels shared out round robin. */
static void pack_body(void *arg, int index, int count)
{
    const pack_args *a = (const pack_args *)arg;
    const int64_t taps = a->p->r * a->p->s * a->p->c;
    for (int64_t i = index; i < a->rp->count; i += count) {
        const row_panel rp = panel_at(a->kernel, a->rp, i);
        const int64_t k0 = i * a->rp->mr;
        float *panel = a->packed + k0 * taps; /* every panel before it is MR wide */
        if (a->avx512) {
            const usine_conv_matrix m = {a->w + k0 * taps, taps};
            usine_conv_avx512_pack_rows(&m, 0, rp.width, 0, rp.rows, 0, taps, panel);
        } else {
            rp.pack(rp.rows, taps, a->w + k0 * taps, taps, 1, panel);
        }
    }
}

void usine_conv_direct_run(const usine_conv_problem *p, const usine_conv_exec *exec,
                           const usine_conv_tensors *t, void *workspace)
{
    const usine_gemm_kernel *kernel = exec->gemm.kernel;
    row_panels rp;
    plan_panels(kernel, p->k, &rp);
    float *packed = (float *)workspace;
    const int threads = exec->gemm.max_threads;
    pack_args pa = {p, kernel, &rp, (const float *)t->w, packed, exec->isa >= USINE_ISA_AVX512};
    usine_cpu_parallel(rp.count < threads ? (int)rp.count : threads, pack_body, &pa);
    const int64_t rows = p->n * p->p;
    direct_args a = {p,
                     kernel,
                     &rp,
                     (const float *)t->x,
                     packed,
                     (float *)t->y,
                     (char *)workspace + align_up(packed_floats(p, &rp) * sizeof(float)),
                     align_up(buffer_floats(p, kernel) * sizeof(float)),
                     rows};
    usine_cpu_parallel(rows < threads ? (int)rows : threads, direct_body, &a);
}

/* ------------------------------------------------------------------ backward data */

/*
 * The backward data of a stride-1 convolution is a stride-1 convolution: dx is the forward
 * of dy (K channels) with the filters turned half a turn and transposed,
 * W'[c, R-1-r, S-1-s, k] = W[k, r, s, c], and each side's padding replaced by
 * dilation (R - 1) - padding (dx row ih reads dy row ih + pad_top - r dilation_h). So it
 * runs on the direct forward above, dy read in place, no im2col panels.
 */
usine_conv_problem usine_conv_direct_backward_problem(const usine_conv_problem *p)
{
    usine_conv_problem q = *p;
    q.c = p->k;
    q.h = p->p;
    q.w = p->q;
    q.k = p->c;
    q.p = p->h;
    q.q = p->w;
    q.pad_top = p->dilation_h * (p->r - 1) - p->pad_top;
    q.pad_left = p->dilation_w * (p->s - 1) - p->pad_left;
    q.bias = NULL;
    q.activation = USINE_ACT_NONE;
    return q;
}

int usine_conv_direct_backward_serves(const usine_conv_problem *p, const usine_gemm_kernel *kernel)
{
    if (p->stride_h != 1 || p->stride_w != 1)
        return 0;
    const usine_conv_problem q = usine_conv_direct_backward_problem(p);
    /* the far sides' padding of the turned problem: H - P + pad_top, W - Q + pad_left */
    return q.pad_top >= 0 && q.pad_left >= 0 && p->h - p->p + p->pad_top >= 0 &&
           p->w - p->q + p->pad_left >= 0 && usine_conv_direct_serves(&q, kernel);
}

static size_t turned_bytes(const usine_conv_problem *p)
{
    return align_up((size_t)(p->k * p->r * p->s * p->c) * sizeof(float));
}

size_t usine_conv_direct_backward_workspace_size(const usine_conv_problem *p,
                                                 const usine_conv_exec *exec)
{
    const usine_conv_problem q = usine_conv_direct_backward_problem(p);
    return turned_bytes(p) + usine_conv_direct_workspace_size(&q, exec);
}

typedef struct turn_args {
    const usine_conv_problem *p;
    const float *w;
    float *wt;
} turn_args;

/* W'[c, R-1-r, S-1-s, k] = W[k, r, s, c]; threads share out the filters k. */
static void turn_body(void *arg, int index, int count)
{
    const turn_args *a = (const turn_args *)arg;
    const usine_conv_problem *p = a->p;
    for (int64_t k = index; k < p->k; k += count)
        for (int64_t r = 0; r < p->r; r++)
            for (int64_t s = 0; s < p->s; s++) {
                const float *from = a->w + ((k * p->r + r) * p->s + s) * p->c;
                float *to = a->wt + ((p->r - 1 - r) * p->s + (p->s - 1 - s)) * p->k + k;
                for (int64_t c = 0; c < p->c; c++)
                    to[c * p->r * p->s * p->k] = from[c];
            }
}

void usine_conv_direct_backward_run(const usine_conv_problem *p, const usine_conv_exec *exec,
                                    const usine_conv_tensors *t, void *workspace)
{
    const usine_conv_problem q = usine_conv_direct_backward_problem(p);
    float *wt = (float *)workspace;
    turn_args ta = {p, (const float *)t->w, wt};
    const int threads = exec->gemm.max_threads;
    usine_cpu_parallel(p->k < threads ? (int)p->k : threads, turn_body, &ta);
    const usine_conv_tensors forward = {t->dy, wt, NULL, t->dx, NULL, NULL, NULL, NULL};
    usine_conv_direct_run(&q, exec, &forward, (char *)workspace + turned_bytes(p));
}
