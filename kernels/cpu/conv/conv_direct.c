/*
 * The forward NHWC convolution with the input read in place by the GEMM microkernel (the
 * implicit_gemm algorithm's "direct" variant): no im2col panels at all.
 *
 * In NHWC, filter row r of output position (n, oh, ow) reads S C contiguous floats of x
 * (taps s, then channels c, as the KRSC filters order them) starting at
 * x[n, oh stride_h - pad_top + r dilation_h, ow stride_w - pad_left, 0], and the runs of
 * consecutive positions along a row are stride_w C floats apart: exactly the B operand a
 * microkernel reads by columns (ukr_bt: B(p, j) = b[p + j b_step]), and successive filter
 * rows are a fixed distance apart, the segments of ukr_segs. So each C tile (MR output
 * channels x NR positions of one output row) is one microkernel call of R segments of depth
 * S C (R calls accumulated in place where the kernel has no ukr_segs), with A the filters
 * packed once per call or by usine_conv2d_pack_filters (rows k, columns (r, s, c)).
 * Nothing is copied and no padding is multiplied: where a tile crosses the padding of a
 * row, its taps go in groups whose positions all lie inside the row (two calls at the edges
 * of a row, one elsewhere), and filter rows wholly in the padding are left out; the
 * microkernel reads only the columns it stores (gemm_kernel.h), so a row's last, partial
 * group of positions is read in place too.
 *
 * Threads share out the output rows (n, oh), or (panel, row) pairs; each output is summed in
 * one fixed order (tap group, then r, then s and c inside the microkernel) whatever the
 * thread count.
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
 * narrowest edge kernel that covers it, else a full-width panel partly zero). A rest of one
 * vector or less takes the last full panel with it into two panels of an edge kernel
 * (usine_gemm_pair_edge: 48 + 16 filters as 32 + 32; the 7x7 first layer's 64 filters:
 * 4-8% faster on Zen 5). */
typedef struct row_panels {
    int64_t count, full;
    int mr;
    int pair; /* 1: panel `full` is an edge-width panel of edge_width rows */
    int edge_width, edge_rows;
    usine_gemm_ukr_fn *edge_ukr;
    usine_gemm_ukr_segs_fn *edge_segs;
    usine_gemm_pack_fn *edge_pack;
} row_panels;

typedef struct row_panel {
    int width, rows;
    usine_gemm_ukr_fn *ukr_bt;
    usine_gemm_ukr_segs_fn *ukr_segs; /* or NULL: one ukr_bt call per filter row */
    usine_gemm_pack_fn *pack;
} row_panel;

static void plan_panels(const usine_gemm_kernel *kernel, int64_t k, row_panels *rp)
{
    rp->mr = kernel->mr;
    rp->full = k / kernel->mr;
    rp->edge_rows = (int)(k - rp->full * kernel->mr);
    rp->edge_width = kernel->mr;
    rp->edge_ukr = kernel->ukr_bt;
    rp->edge_segs = kernel->ukr_segs;
    rp->edge_pack = kernel->pack_a;
    for (int e = 0; e < kernel->n_edges; e++)
        if (kernel->edges[e].mr >= rp->edge_rows && kernel->edges[e].mr < rp->edge_width) {
            rp->edge_width = kernel->edges[e].mr;
            rp->edge_ukr = kernel->edges[e].ukr_bt;
            rp->edge_segs = kernel->edges[e].ukr_segs;
            rp->edge_pack = kernel->edges[e].pack_a;
        }
    const usine_gemm_edge *pair = usine_gemm_pair_edge(kernel, rp->full, rp->edge_rows);
    rp->pair = pair != NULL;
    if (pair) {
        rp->full--;
        rp->edge_rows += kernel->mr - pair->mr;
        rp->edge_width = pair->mr;
        rp->edge_ukr = pair->ukr_bt;
        rp->edge_segs = pair->ukr_segs;
        rp->edge_pack = pair->pack_a;
    }
    rp->count = rp->full + rp->pair + (rp->edge_rows > 0);
}

/* The first filter (row) of panel i. */
static int64_t panel_row0(const row_panels *rp, int64_t i)
{
    return i <= rp->full ? i * rp->mr : rp->full * rp->mr + rp->edge_width;
}

static row_panel panel_at(const usine_gemm_kernel *kernel, const row_panels *rp, int64_t i)
{
    if (i < rp->full)
        return (row_panel){rp->mr, rp->mr, kernel->ukr_bt, kernel->ukr_segs, kernel->pack_a};
    if (rp->pair && i == rp->full)
        return (row_panel){rp->edge_width, rp->edge_width, rp->edge_ukr, rp->edge_segs,
                           rp->edge_pack};
    return (row_panel){rp->edge_width, rp->edge_rows, rp->edge_ukr, rp->edge_segs, rp->edge_pack};
}

int usine_conv_direct_serves(const usine_conv_problem *p, const usine_gemm_kernel *kernel)
{
    return p->layout == USINE_CONV_NHWC && p->dtype == USINE_F32 && p->groups == 1 &&
           p->dilation_w == 1 &&
           (!kernel || (kernel->ukr_bt && kernel->k_unit == 1 && kernel->in_type == USINE_F32 &&
                        kernel->nr <= 16));
}

static size_t packed_floats(const usine_conv_problem *p, const row_panels *rp)
{
    const int64_t widths =
        panel_row0(rp, rp->full + rp->pair) + (rp->edge_rows > 0 ? rp->edge_width : 0);
    return (size_t)(widths * p->r * p->s * p->c);
}

/* The filter panels, packed at every call unless the caller packed them. */
size_t usine_conv_direct_workspace_size(const usine_conv_problem *p, const usine_conv_exec *exec)
{
    row_panels rp;
    plan_panels(exec->gemm.kernel, p->k, &rp);
    return p->panels_packed ? 0 : align_up(packed_floats(p, &rp) * sizeof(float));
}

/* Floats of filter per tile below which the sums' stores cost more than a few percent. */
#define MIN_FLOATS_PER_TILE 128

int usine_conv_direct_runs_long(const usine_conv_problem *p, const usine_gemm_kernel *kernel)
{
    return (kernel->ukr_segs ? p->r : 1) * p->s * p->c >= MIN_FLOATS_PER_TILE;
}

/* Where the outputs go: channel k of position (n, oh, ow) at
 * y[base + n image + oh row + ow col + k]. The forward's y is dense; the strided backward
 * data writes one stride phase of dx. */
typedef struct out_layout {
    int64_t base, image, row, col;
} out_layout;

static out_layout dense_out(const usine_conv_problem *p)
{
    return (out_layout){0, p->p * p->q * p->k, p->q * p->k, p->k};
}

typedef struct direct_args {
    const usine_conv_problem *p;
    const usine_gemm_kernel *kernel;
    const row_panels *rp;
    const float *x, *packed;
    float *y;
    out_layout out;
    int64_t rows; /* output rows n P + oh */
} direct_args;

/* A tile's tap groups (below): the first and last positions a tap reaches only move one way
 * as the tap moves right, so there are at most 2 NR + 1 of them, NR <= 16. */
#define MAX_TAP_GROUPS (2 * 16 + 1)

/* Taps s0 .. s1 - 1 of a filter row, for the tile's positions j0 .. j1 - 1: those whose
 * input column lies inside the row for each of these taps. */
typedef struct tap_group {
    int64_t s0, s1;
    int j0, j1;
} tap_group;

/* The groups of the tile at positions ow0 .. ow0 + count - 1 (at most S of them; the taps
 * in no group read only padding for every position); returns how many. The positions a
 * tap reaches form one run, so each group is a single microkernel call. */
static int tap_groups(const usine_conv_problem *p, int64_t ow0, int count, tap_group *groups)
{
    /* A tile away from the left and right padding (most of them): one group, without the
     * two divisions per tap below (10% of the 7x7 first layer's time on Zen 5). */
    const int64_t iw_first = ow0 * p->stride_w - p->pad_left;
    if (iw_first >= 0 && iw_first + (count - 1) * p->stride_w + p->s - 1 < p->w) {
        groups[0] = (tap_group){0, p->s, 0, count};
        return 1;
    }
    int n = 0;
    for (int64_t s = 0; s < p->s; s++) {
        /* iw = (ow0 + j) stride_w - pad_left + s inside [0, W) */
        int64_t j0 = 0, j1 = 0;
        usine_conv_inside(count, p->stride_w, ow0 * p->stride_w - p->pad_left + s, p->w, &j0, &j1);
        if (j0 >= j1)
            continue;
        if (n > 0 && groups[n - 1].s1 == s && groups[n - 1].j0 == j0 && groups[n - 1].j1 == j1)
            groups[n - 1].s1 = s + 1;
        else
            groups[n++] = (tap_group){s, s + 1, (int)j0, (int)j1};
    }
    return n;
}

/* The index of a group covering every position of the tile (it runs first and writes the
 * tile, beta 0), or -1 if there is none (the tile is zeroed and every call adds). An index,
 * not a swap: copying the 24-byte groups just written stalled on store forwarding, 7% of
 * the 7x7 first layer's time on Zen 5. */
static int whole_group(const tap_group *groups, int n, int count)
{
    for (int i = 0; i < n; i++)
        if (groups[i].j0 == 0 && groups[i].j1 == count)
            return i;
    return -1;
}

/* The filter rows r of output row oh whose input row lies inside the image: [*lo, *hi). */
static void rows_inside(const usine_conv_problem *p, int64_t oh, int64_t *lo, int64_t *hi)
{
    usine_conv_inside(p->r, p->dilation_h, oh * p->stride_h - p->pad_top, p->h, lo, hi);
}

/* One tap group's sums over `segs` filter rows into a tile (n positions; summed: add to
 * it), in one segmented microkernel call where the kernel has one. */
static void call_rows(const row_panel *rp, int64_t k, int64_t segs, const float *a, int64_t a_seg,
                      const float *b, int64_t b_step, int64_t b_seg, float *c, int64_t ldc, int n,
                      int summed)
{
    const float one = 1.0f, zero = 0.0f;
    if (rp->ukr_segs) {
        rp->ukr_segs(k, (int)segs, a, rp->width, a_seg, b, 1, b_step, b_seg, c, ldc, rp->rows, n,
                     &one, summed ? &one : &zero);
        return;
    }
    for (int64_t s = 0; s < segs; s++, summed = 1)
        rp->ukr_bt(k, a + s * a_seg, rp->width, b + s * b_seg, b_step, c, ldc, rp->rows, n, &one,
                   summed ? &one : &zero);
}

/* One panel of output channels (rows k0 ..) on one output row, every group of NR
 * positions: per tile, one microkernel call per filter row inside the input and tap group,
 * accumulated in place. */
static void panel_on_row(const direct_args *a, const row_panel *rp, const float *panel, int64_t k0,
                         int64_t row)
{
    const usine_conv_problem *p = a->p;
    const int64_t n = row / p->p, oh = row % p->p, nr = a->kernel->nr, run = p->s * p->c;
    /* the filter rows inside the input: r_lo .. r_hi - 1, the first at x_row */
    int64_t r_lo = 0, r_hi = 0;
    rows_inside(p, oh, &r_lo, &r_hi);
    const int64_t ih_lo = oh * p->stride_h - p->pad_top + r_lo * p->dilation_h;
    const float *x_row = r_lo < r_hi ? a->x + (n * p->h + ih_lo) * p->w * p->c : NULL;
    usine_epilogue e;
    memset(&e, 0, sizeof e);
    e.bias = p->bias;
    e.bias_per_row = 1;
    e.activation = p->activation;
    const int epilogue = p->bias || p->activation != USINE_ACT_NONE;
    tap_group groups[MAX_TAP_GROUPS];
    const int64_t ldc = a->out.col;
    float *const y_row = a->y + a->out.base + n * a->out.image + oh * a->out.row + k0;
    for (int64_t ow0 = 0; ow0 < p->q; ow0 += nr) {
        const int count = (int)(p->q - ow0 < nr ? p->q - ow0 : nr);
        float *c_tile = y_row + ow0 * ldc;
        const int n_groups = tap_groups(p, ow0, count, groups);
        /* summed: the tile holds sums to add to (beta 1); the first call writes it else. */
        const int whole = whole_group(groups, n_groups, count);
        int summed = whole < 0;
        if (summed) /* no call writes every position: start from zero sums */
            for (int j = 0; j < count; j++)
                memset(c_tile + j * ldc, 0, (size_t)rp->rows * sizeof *c_tile);
        for (int i = 0; i < n_groups && r_lo < r_hi; i++) {
            /* the whole group first, the others in order */
            const int g = whole < 0 ? i : i == 0 ? whole : i <= whole ? i - 1 : i;
            const tap_group *t = &groups[g];
            const int64_t iw = (ow0 + t->j0) * p->stride_w - p->pad_left + t->s0;
            const float *panel_g = panel + (r_lo * run + t->s0 * p->c) * rp->width;
            call_rows(rp, (t->s1 - t->s0) * p->c, r_hi - r_lo, panel_g, run * rp->width,
                      x_row + iw * p->c, p->stride_w * p->c, p->dilation_h * p->w * p->c,
                      c_tile + t->j0 * ldc, ldc, t->j1 - t->j0, summed);
            summed = 1;
        }
        if (!summed) /* every filter row in the padding: the sums are zero */
            for (int j = 0; j < count; j++)
                memset(c_tile + j * ldc, 0, (size_t)rp->rows * sizeof *c_tile);
        if (epilogue)
            a->kernel->epilogue(&e, k0, ow0, rp->rows, count, c_tile, ldc);
    }
}

/* Filters this small (all panels) stay in L2 however they are cycled through: each row
 * then runs every panel, so that x is read once rather than once per panel. Measured on
 * Zen 4, one thread, batch 8: the 7x7 first layer (37 KiB of filters, 4.8 MB of x) 86 ->
 * 100 GFLOP/s, 3x3 64 -> 64 on 56 x 56 (147 KiB) 105 -> 112. */
#define FILTERS_KEPT_IN_L2 (192 * 1024)

/* Rows per thread from which a row left over (rows not a multiple of the threads) costs
 * little: below, threads share out (panel, row) pairs instead. */
#define ROWS_PER_THREAD_FOR_ROW_SPLIT 8

/* A thread's share, one filter panel at a time: the panel (MR x R S C) stays in L2 across
 * the rows, where cycling through all the filters for every group of positions would
 * stream them from L3 (measured: 3x3 256 -> 256 on 28 x 28, 85 against 105 GFLOP/s for the
 * im2col GEMM). Threads split the output rows when they share out evenly or are many;
 * otherwise the (panel, row) pairs in panel order, weighted by the panel's rows, so that 7
 * rows on 2 threads are not 4 and 3 (each thread then reads only its own panels). */
/* Panel i of the filters on one output row. */
static void panel_i_on_row(const direct_args *a, int64_t i, int64_t row)
{
    const row_panel rp = panel_at(a->kernel, a->rp, i);
    const int64_t k0 = panel_row0(a->rp, i);
    panel_on_row(a, &rp, a->packed + k0 * a->p->r * a->p->s * a->p->c, k0, row);
}

static void direct_body(void *arg, int index, int count)
{
    const direct_args *a = (const direct_args *)arg;
    const int64_t rows = a->rows, panels = a->rp->count;
    if (rows % count == 0 || rows >= ROWS_PER_THREAD_FOR_ROW_SPLIT * count) {
        const int64_t per = (rows + count - 1) / count;
        const int64_t r0 = index * per, r1 = r0 + per < rows ? r0 + per : rows;
        if (packed_floats(a->p, a->rp) * sizeof(float) <= FILTERS_KEPT_IN_L2) {
            for (int64_t row = r0; row < r1; row++)
                for (int64_t i = 0; i < panels; i++)
                    panel_i_on_row(a, i, row);
            return;
        }
        for (int64_t i = 0; i < panels; i++)
            for (int64_t row = r0; row < r1; row++)
                panel_i_on_row(a, i, row);
        return;
    }
    /* work w of pair (i, row): the panel's channels; thread t takes the pairs whose work
     * starts in [t W / count, (t + 1) W / count) */
    const int64_t total = a->p->k * rows;
    const int64_t lo = total * index / count, hi = total * (index + 1) / count;
    int64_t done = 0;
    for (int64_t i = 0; i < panels; i++) {
        const int64_t channels = panel_at(a->kernel, a->rp, i).rows;
        for (int64_t row = 0; row < rows; row++, done += channels)
            if (done >= lo && done < hi)
                panel_i_on_row(a, i, row);
    }
}

typedef struct pack_args {
    const usine_conv_problem *p; /* the problem the panels serve */
    const usine_gemm_kernel *kernel;
    const row_panels *rp;
    const float *w;
    float *packed;
    int avx512; /* register transposes (usine_conv_avx512_pack_rows) */
    /* The backward data's panels, from the forward's filters and the taps of one stride
     * phase (see below); else NULL. */
    const usine_conv_problem *turned_from;
    const usine_conv_phase_taps *th, *tw;
} pack_args;

/* One panel of the filters (K rows of R S C) for rows k0 .. k0 + rows. */
static void pack_panel(const pack_args *a, const row_panel *rp, int64_t k0, float *panel)
{
    const int64_t taps = a->p->r * a->p->s * a->p->c;
    if (a->avx512) {
        const usine_conv_matrix m = {a->w + k0 * taps, taps};
        usine_conv_avx512_pack_rows(&m, 0, rp->width, 0, rp->rows, 0, taps, panel);
    } else {
        rp->pack(rp->rows, taps, a->w + k0 * taps, taps, 1, panel);
    }
}

/* One panel of the turned filters of a stride phase, W'[c, u, v, k] = W[k, r(u), s(v), c]
 * with r(u) = first + (count - 1 - u) every (the phase's taps, last first; stride 1: all of
 * them, R-1-u) and s(v) likewise (the backward data's, rows c0 .. c0 + rows): the panel's
 * column (u, v, k) is W[k, r(u), s(v), c0 ..], contiguous in W, so this is a copy of runs
 * rather than a transpose. */
static void pack_turned_panel(const pack_args *a, const row_panel *rp, int64_t c0, float *panel)
{
    const usine_conv_problem *f = a->turned_from;
    const usine_conv_phase_taps *th = a->th, *tw = a->tw;
    float *out = panel;
    for (int64_t u = 0; u < th->count; u++)
        for (int64_t v = 0; v < tw->count; v++) {
            const int64_t r = th->first + (th->count - 1 - u) * th->every;
            const int64_t s = tw->first + (tw->count - 1 - v) * tw->every;
            for (int64_t k = 0; k < f->k; k++, out += rp->width) {
                memcpy(out, a->w + ((k * f->r + r) * f->s + s) * f->c + c0,
                       (size_t)rp->rows * sizeof *out);
                memset(out + rp->rows, 0, (size_t)(rp->width - rp->rows) * sizeof *out);
            }
        }
}

/* The filters into the panels, panels shared out round robin. */
static void pack_body(void *arg, int index, int count)
{
    const pack_args *a = (const pack_args *)arg;
    const int64_t taps = a->p->r * a->p->s * a->p->c;
    for (int64_t i = index; i < a->rp->count; i += count) {
        const row_panel rp = panel_at(a->kernel, a->rp, i);
        const int64_t k0 = panel_row0(a->rp, i);
        float *panel = a->packed + k0 * taps; /* every panel before it is as wide as its rows */
        if (a->turned_from)
            pack_turned_panel(a, &rp, k0, panel);
        else
            pack_panel(a, &rp, k0, panel);
    }
}

/* Packs the panels of p (turned_from, th, tw: see pack_args) on `threads` threads. */
static void pack_panels(const usine_conv_problem *p, const usine_conv_problem *turned_from,
                        const usine_conv_phase_taps *th, const usine_conv_phase_taps *tw,
                        const usine_gemm_kernel *kernel, usine_cpu_isa isa, int threads,
                        const float *w, float *panels)
{
    row_panels rp;
    plan_panels(kernel, p->k, &rp);
    pack_args pa = {p, kernel, &rp, w, panels, isa >= USINE_ISA_AVX512, turned_from, th, tw};
    usine_cpu_parallel(rp.count < threads ? (int)rp.count : threads, pack_body, &pa);
}

/* Runs p on packed panels, its outputs where `out` says. */
static void run_panels(const usine_conv_problem *p, const usine_conv_exec *exec, const float *x,
                       const float *panels, float *y, const out_layout *out)
{
    row_panels rp;
    plan_panels(exec->gemm.kernel, p->k, &rp);
    const int64_t rows = p->n * p->p;
    const int threads = exec->gemm.max_threads;
    direct_args a = {p, exec->gemm.kernel, &rp, x, panels, y, *out, rows};
    usine_cpu_parallel(rows < threads ? (int)rows : threads, direct_body, &a);
}

size_t usine_conv_direct_panels_size(const usine_conv_problem *p, const usine_gemm_kernel *kernel)
{
    if (!usine_conv_direct_serves(p, kernel))
        return 0;
    row_panels rp;
    plan_panels(kernel, p->k, &rp);
    return packed_floats(p, &rp) * sizeof(float);
}

void usine_conv_direct_pack_panels(const usine_conv_problem *p, const usine_gemm_kernel *kernel,
                                   usine_cpu_isa isa, int threads, const float *w, float *panels)
{
    pack_panels(p, NULL, NULL, NULL, kernel, isa, threads, w, panels);
}

void usine_conv_direct_run(const usine_conv_problem *p, const usine_conv_exec *exec,
                           const usine_conv_tensors *t, void *workspace)
{
    const float *panels = t->panels;
    if (!panels) {
        pack_panels(p, NULL, NULL, NULL, exec->gemm.kernel, exec->isa, exec->gemm.max_threads,
                    (const float *)t->w, (float *)workspace);
        panels = (const float *)workspace;
    }
    const out_layout out = dense_out(p);
    run_panels(p, exec, (const float *)t->x, panels, (float *)t->y, &out);
}

/* ------------------------------------------------------------------ backward data */

/*
 * The backward data of a stride-1 convolution is a stride-1 convolution: dx is the forward
 * of dy (K channels) with the filters turned half a turn and transposed,
 * W'[c, R-1-r, S-1-s, k] = W[k, r, s, c], and each side's padding replaced by
 * dilation (R - 1) - padding (dx row ih reads dy row ih + pad_top - r dilation_h). So it
 * runs on the direct forward above, dy read in place, no im2col panels.
 * With strides, dx splits into stride_h x stride_w phases (the pixels with ih % stride_h
 * and iw % stride_w fixed), each the stride-1 forward of dy with the taps that reach it
 * (usine_conv_taps_of_phase), written straight into dx every stride-th pixel; phases no tap
 * reaches are zeros.
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

/* The taps of phase (ph, pw) along each axis. */
static void phase_taps_of(const usine_conv_problem *p, int64_t ph, int64_t pw,
                          usine_conv_phase_taps *th, usine_conv_phase_taps *tw)
{
    *th = usine_conv_taps_of_phase(ph, p->h, p->r, p->stride_h, p->pad_top, p->dilation_h);
    *tw = usine_conv_taps_of_phase(pw, p->w, p->s, p->stride_w, p->pad_left, p->dilation_w);
}

/* The stride-1 forward of one phase: dy (K channels, P x Q) in, the phase's pixels out
 * (C channels), tap u reading dy row i + base + (count - 1 - u) step (the turned taps, in
 * increasing dy offset). Stride 1: usine_conv_direct_backward_problem. */
static usine_conv_problem phase_problem(const usine_conv_problem *p,
                                        const usine_conv_phase_taps *th,
                                        const usine_conv_phase_taps *tw)
{
    usine_conv_problem q = usine_conv_direct_backward_problem(p);
    q.p = th->pixels;
    q.q = tw->pixels;
    q.r = th->count;
    q.s = tw->count;
    q.stride_h = q.stride_w = 1;
    /* one tap: its dilation is never used */
    q.dilation_h = th->count > 1 ? -th->step : 1;
    q.dilation_w = tw->count > 1 ? -tw->step : 1;
    q.pad_top = (th->count - 1) * q.dilation_h - th->base;
    q.pad_left = (tw->count - 1) * q.dilation_w - tw->base;
    return q;
}

/* Whether a phase's forward is one the direct variant runs: padding on every side >= 0 (the
 * far side: its last pixel reads dy's last row or beyond). */
static int phase_served(const usine_conv_problem *q, const usine_gemm_kernel *kernel)
{
    const int64_t far_h = (q->p - 1) - q->pad_top + (q->r - 1) * q->dilation_h - (q->h - 1);
    const int64_t far_w = (q->q - 1) - q->pad_left + (q->s - 1) * q->dilation_w - (q->w - 1);
    return q->pad_top >= 0 && q->pad_left >= 0 && far_h >= 0 && far_w >= 0 &&
           usine_conv_direct_serves(q, kernel);
}

/* Some tap reaches the phase (its pixels may be none). */
static int phase_reached(const usine_conv_phase_taps *th, const usine_conv_phase_taps *tw)
{
    return th->count > 0 && tw->count > 0;
}

/* Phase i's (ph = i / stride_w, pw = i % stride_w) taps, and its forward in *q when some tap
 * reaches it; returns whether one does. */
static int reached_phase(const usine_conv_problem *p, int64_t i, usine_conv_phase_taps *th,
                         usine_conv_phase_taps *tw, usine_conv_problem *q)
{
    phase_taps_of(p, i / p->stride_w, i % p->stride_w, th, tw);
    if (!phase_reached(th, tw))
        return 0;
    *q = phase_problem(p, th, tw);
    return 1;
}

/* The forward of phase i in *q; 0 when the phase has no pixels or no tap reaches them. */
static int phase_forward(const usine_conv_problem *p, int64_t i, usine_conv_problem *q)
{
    usine_conv_phase_taps th, tw;
    return reached_phase(p, i, &th, &tw, q) && th.pixels > 0 && tw.pixels > 0;
}

int usine_conv_direct_backward_serves(const usine_conv_problem *p, const usine_gemm_kernel *kernel)
{
    if (p->layout != USINE_CONV_NHWC || p->dtype != USINE_F32 || p->groups != 1)
        return 0;
    usine_conv_problem q;
    for (int64_t i = 0; i < p->stride_h * p->stride_w; i++)
        if (phase_forward(p, i, &q) && !phase_served(&q, kernel))
            return 0;
    return 1;
}

/* The panels of the phase with the most taps (one phase's at a time); none when the caller
 * packed them. */
size_t usine_conv_direct_backward_workspace_size(const usine_conv_problem *p,
                                                 const usine_conv_exec *exec)
{
    if (p->panels_packed)
        return 0;
    size_t most = 0;
    usine_conv_problem q;
    for (int64_t i = 0; i < p->stride_h * p->stride_w; i++)
        if (phase_forward(p, i, &q)) {
            const size_t bytes = usine_conv_direct_workspace_size(&q, exec);
            most = bytes > most ? bytes : most;
        }
    return most;
}

/* Packed backward panels hold every phase some tap reaches, in phase order, whatever the
 * image size (a phase without pixels keeps its place), each 64-byte aligned. */
size_t usine_conv_direct_backward_panels_size(const usine_conv_problem *p,
                                              const usine_gemm_kernel *kernel)
{
    if (!usine_conv_direct_backward_serves(p, kernel))
        return 0;
    size_t total = 0;
    usine_conv_phase_taps th, tw;
    usine_conv_problem q;
    for (int64_t i = 0; i < p->stride_h * p->stride_w; i++) {
        if (!reached_phase(p, i, &th, &tw, &q))
            continue;
        const size_t bytes = usine_conv_direct_panels_size(&q, kernel);
        if (bytes == 0)
            return 0;
        total += align_up(bytes);
    }
    return total;
}

void usine_conv_direct_backward_pack_panels(const usine_conv_problem *p,
                                            const usine_gemm_kernel *kernel, usine_cpu_isa isa,
                                            int threads, const float *w, float *panels)
{
    char *at = (char *)panels;
    usine_conv_phase_taps th, tw;
    usine_conv_problem q;
    for (int64_t i = 0; i < p->stride_h * p->stride_w; i++) {
        if (!reached_phase(p, i, &th, &tw, &q))
            continue;
        pack_panels(&q, p, &th, &tw, kernel, isa, threads, w, (float *)at);
        at += align_up(usine_conv_direct_panels_size(&q, kernel));
    }
}

/* Zeros the dx pixels of a phase no tap reaches, rows shared out among the threads. */
typedef struct zero_args {
    const usine_conv_problem *p;
    float *dx;
    out_layout out;
    int64_t rows, cols; /* n x the phase's pixel rows; its pixel columns */
} zero_args;

static void zero_body(void *arg, int index, int count)
{
    const zero_args *a = (const zero_args *)arg;
    const int64_t r0 = a->rows * index / count, r1 = a->rows * (index + 1) / count;
    const int64_t rows_per_image = a->rows / a->p->n;
    for (int64_t row = r0; row < r1; row++) {
        float *y = a->dx + a->out.base + (row / rows_per_image) * a->out.image +
                   (row % rows_per_image) * a->out.row;
        for (int64_t j = 0; j < a->cols; j++)
            memset(y + j * a->out.col, 0, (size_t)a->p->c * sizeof *y);
    }
}

void usine_conv_direct_backward_run(const usine_conv_problem *p, const usine_conv_exec *exec,
                                    const usine_conv_tensors *t, void *workspace)
{
    const int threads = exec->gemm.max_threads;
    if (p->n == 0)
        return; /* dx is empty */
    /* p->panels_packed: the phases' panels as usine_conv_direct_backward_pack_panels made them */
    const char *packed = (const char *)t->panels;
    for (int64_t i = 0; i < p->stride_h * p->stride_w; i++) {
        const int64_t ph = i / p->stride_w, pw = i % p->stride_w;
        usine_conv_phase_taps th, tw;
        usine_conv_problem q;
        const int reached = reached_phase(p, i, &th, &tw, &q);
        const float *panels = (const float *)workspace;
        if (p->panels_packed && reached) {
            panels = (const float *)packed;
            packed += align_up(usine_conv_direct_panels_size(&q, exec->gemm.kernel));
        }
        if (th.pixels == 0 || tw.pixels == 0)
            continue;
        /* pixel (n, i, j) of the phase is dx pixel (n, i stride_h + ph, j stride_w + pw) */
        const out_layout out = {(ph * p->w + pw) * p->c, p->h * p->w * p->c,
                                p->stride_h * p->w * p->c, p->stride_w * p->c};
        if (!reached) {
            zero_args z = {p, (float *)t->dx, out, p->n * th.pixels, tw.pixels};
            usine_cpu_parallel(z.rows < threads ? (int)z.rows : threads, zero_body, &z);
            continue;
        }
        if (!p->panels_packed)
            pack_panels(&q, p, &th, &tw, exec->gemm.kernel, exec->isa, threads, (const float *)t->w,
                        (float *)workspace);
        run_panels(&q, exec, (const float *)t->dy, panels, (float *)t->dx, &out);
    }
}
