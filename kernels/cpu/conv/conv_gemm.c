/*
 * The GEMM-based convolutions: every pass is a few GEMMs per group on the CPU GEMM driver
 * (its kernels, blocking, threads and epilogue), with the im2col matrix virtual (packed
 * from the tensor block by block, conv_gather.c) or, for 1x1 convolutions without stride
 * or padding, the tensors themselves read through leading dimensions (no copy at all).
 *
 * The GEMMs, in the driver's column-major view C (m x n) = A (m x k) B (k x n), with
 * g the group, Kg = K / groups, Cg = C / groups and a position = an output pixel (n, p, q):
 *   forward NHWC    C = y^T (Kg x positions, ldc K), A = w (KRSC rows), B = im2col^T;
 *   forward NCHW    per image C = y_n (PQ x Kg, ldc PQ), A = im2col, B = w^T (KCRS rows);
 *   backward data   the same with dy for x and the filters transposed and flipped, once
 *                   per stride phase (dx pixels with h % stride_h, w % stride_w fixed),
 *                   each phase a dense stride-1 problem over the taps that reach it; with
 *                   under 8 channels per group (f32 NHWC) instead one dense GEMM per image
 *                   for the columns dy W, then col2im;
 *   backward weights C = dw^T (RSCg x Kg, ldc RSCg), A = im2col^T (taps x positions),
 *                   B = dy (positions x Kg).
 * Variants (usine_conv_variant, chosen per shape by autotune/conv_tune.c): filters_b, the
 * forward NHWC as y^T = im2col W^T with the filters read in place as B; tap_split, the
 * backward data as one GEMM per tap on the filters in place, accumulated. (The direct
 * variant, forward and stride-1 backward data, has its own loops, conv_direct.c.)
 * Each C element is summed over k in one fixed order whatever the thread count (threads
 * split C, never k; a small weight gradient over many positions is summed in chunks of
 * positions fixed by the shape, added in chunk order), so results do not depend on the
 * threads.
 *
 * The code runs twice per call shape: once `sizing` (nothing touched; the workspace each
 * GEMM and scratch buffer needs is added up), once for real, so that the size asked and
 * the size used cannot drift apart.
 */
#include <string.h>

#include "conv_driver.h"
#include "conv_gather.h"
#include "conv_internal.h"
#include "../half.h"
#include "../threading.h"

#define ALIGN 64

static size_t align_up(size_t x)
{
    return (x + ALIGN - 1) / ALIGN * ALIGN;
}

/* ------------------------------------------------------------------ runner */

/* The workspace: scratch buffers from the start, then the GEMM driver's space. */
typedef struct runner {
    const usine_conv_exec *exec;
    int sizing;
    char *base;         /* NULL when sizing */
    size_t scratch;     /* bytes handed out so far */
    size_t gemm_bytes;  /* the largest GEMM workspace seen (sizing) */
    size_t gemm_offset; /* where the GEMM workspace starts (running) */
} runner;

/* A scratch buffer of `bytes` (NULL when sizing). */
static void *scratch(runner *rn, size_t bytes)
{
    void *p = rn->sizing ? NULL : rn->base + rn->scratch;
    rn->scratch += align_up(bytes);
    return p;
}

/* One batch of GEMMs, or its workspace when sizing. */
static void gemm(runner *rn, const usine_gemm_shape *shape, const usine_gemm_batch *batch,
                 const usine_gemm_virtual *va, const usine_gemm_virtual *vb)
{
    const usine_gemm_plan *plan = &rn->exec->gemm;
    if (shape->m == 0 || shape->n == 0 || batch->count == 0)
        return;
    if (rn->sizing) {
        const size_t bytes = va || vb
                                 ? usine_cpu_gemm_virtual_workspace_size(plan, shape, batch->count)
                                 : usine_cpu_gemm_workspace_size(plan, shape, batch->count);
        if (bytes > rn->gemm_bytes)
            rn->gemm_bytes = bytes;
        return;
    }
    char *ws = rn->base + rn->gemm_offset;
    if (va || vb) {
        const usine_gemm_virtuals v = {va, vb};
        usine_cpu_gemm_run_virtual(plan, shape, batch, &v, ws);
    } else {
        usine_cpu_gemm_run(plan, shape, batch, ws);
    }
}

static usine_gemm_shape gemm_shape(int64_t m, int64_t n, int64_t k, usine_dtype a_type,
                                   usine_dtype b_type, usine_dtype c_type)
{
    usine_gemm_shape s;
    memset(&s, 0, sizeof s);
    s.m = m;
    s.n = n;
    s.k = k;
    s.alpha = 1.0;
    s.beta = 0.0;
    s.a_type = a_type;
    s.b_type = b_type;
    s.c_type = c_type;
    return s;
}

static usine_gemm_batch one_batch(int64_t count, const void *a, const void *b, void *c)
{
    usine_gemm_batch batch;
    memset(&batch, 0, sizeof batch);
    batch.count = count;
    batch.base.a = a;
    batch.base.b = b;
    batch.base.c = c;
    return batch;
}

/* Pointer to element `index` of a tensor of `type`. */
static const void *at(const void *base, usine_dtype type, int64_t index)
{
    return base ? (const char *)base + index * (int64_t)usine_dtype_storage_size(type) : NULL;
}

static void *at_mut(void *base, usine_dtype type, int64_t index)
{
    return base ? (char *)base + index * (int64_t)usine_dtype_storage_size(type) : NULL;
}

/* The im2col^T packer of NHWC sources for this machine. */
static usine_gemm_virtual_pack_fn *nhwc_packer(const runner *rn)
{
    return rn->exec->isa >= USINE_ISA_AVX512 ? usine_conv_avx512_pack_positions_by_taps
                                             : usine_conv_pack_positions_by_taps;
}

/* ------------------------------------------------------------------ geometry */

int usine_conv_is_pointwise(const usine_conv_problem *p)
{
    return p->r == 1 && p->s == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 &&
           p->pad_left == 0 && p->p == p->h && p->q == p->w;
}

/* The forward's im2col of x (all groups share it but c0). */
static usine_conv_gather forward_gather(const usine_conv_problem *p, const void *x, int64_t g)
{
    const int64_t cg = p->c / p->groups;
    usine_conv_gather gather = {x,           p->dtype,      p->layout,     p->n,
                                p->h,        p->w,          p->c,          g * cg,
                                cg,          p->p,          p->q,          p->stride_h,
                                p->stride_w, -p->pad_top,   -p->pad_left,  p->r,
                                p->s,        p->dilation_h, p->dilation_w, 0};
    return gather;
}

static usine_epilogue forward_epilogue(const usine_conv_problem *p, int64_t g, int per_row)
{
    usine_epilogue e;
    memset(&e, 0, sizeof e);
    e.bias = p->bias ? p->bias + g * (p->k / p->groups) : NULL;
    e.bias_per_row = per_row;
    e.activation = p->activation;
    return e;
}

/* ------------------------------------------------------------------ forward */

/* KRSC filters (K rows of `taps`) transposed to f32 wt[tap K + k]: the GEMM's A = w with
 * its columns contiguous, which the driver packs with row copies (or reads in place)
 * instead of a transpose per k block. Blocks of 16 x 64 keep both sides in L1. */
typedef struct transpose_args {
    const void *w;
    usine_dtype type;
    int64_t k, taps;
    float *wt;
    int avx512; /* f32 filters on an AVX-512 machine: register transposes */
} transpose_args;

#define TRANSPOSE_ROWS 16
#define TRANSPOSE_COLS 64

static void transpose_body(void *arg, int index, int count)
{
    const transpose_args *a = (const transpose_args *)arg;
    if (a->avx512) { /* rows [k0, k1): blocks of 16 rows shared out */
        const int64_t blocks = (a->k + 15) / 16, per = (blocks + count - 1) / count;
        const int64_t k0 = index * per * 16 < a->k ? index * per * 16 : a->k;
        const int64_t k1 = k0 + per * 16 < a->k ? k0 + per * 16 : a->k;
        if (k1 > k0)
            usine_conv_avx512_transpose_f32((const float *)a->w + k0 * a->taps, a->taps, k1 - k0,
                                            a->taps, a->wt + k0, a->k);
        return;
    }
    const int64_t blocks = (a->taps + TRANSPOSE_COLS - 1) / TRANSPOSE_COLS;
    for (int64_t b = index; b < blocks; b += count) {
        const int64_t p0 = b * TRANSPOSE_COLS;
        const int64_t p1 = p0 + TRANSPOSE_COLS < a->taps ? p0 + TRANSPOSE_COLS : a->taps;
        for (int64_t k0 = 0; k0 < a->k; k0 += TRANSPOSE_ROWS) {
            const int64_t k1 = k0 + TRANSPOSE_ROWS < a->k ? k0 + TRANSPOSE_ROWS : a->k;
            for (int64_t k = k0; k < k1; k++)
                for (int64_t pp = p0; pp < p1; pp++)
                    a->wt[pp * a->k + k] =
                        a->type == USINE_BF16
                            ? usine_bf16_to_f32(((const uint16_t *)a->w)[k * a->taps + pp])
                            : ((const float *)a->w)[k * a->taps + pp];
        }
    }
}

void usine_conv_gemm_transpose_filters(const usine_conv_problem *p, usine_cpu_isa isa, int threads,
                                       const void *w, float *wt)
{
    const int64_t taps = p->r * p->s * (p->c / p->groups);
    transpose_args a = {w,    p->dtype, p->k,
                        taps, wt,       p->dtype == USINE_F32 && isa >= USINE_ISA_AVX512};
    const int64_t blocks =
        a.avx512 ? (p->k + 15) / 16 : (taps + TRANSPOSE_COLS - 1) / TRANSPOSE_COLS;
    usine_cpu_parallel(blocks < threads ? (int)blocks : threads, transpose_body, &a);
}

static float *transposed_filters(runner *rn, const usine_conv_problem *p, const void *w)
{
    const int64_t taps = p->r * p->s * (p->c / p->groups);
    float *wt = (float *)scratch(rn, (size_t)(p->k * taps) * sizeof(float));
    if (!rn->sizing)
        usine_conv_gemm_transpose_filters(p, rn->exec->isa, rn->exec->gemm.max_threads, w, wt);
    return wt;
}

static void forward_nhwc(runner *rn, const usine_conv_problem *p, const usine_conv_tensors *t,
                         int pointwise)
{
    const int64_t kg = p->k / p->groups, cg = p->c / p->groups;
    const int64_t taps = p->r * p->s * cg, positions = p->n * p->p * p->q;
    /* A = the filters with their rows (k) along the panels: transposed once into the
     * workspace when the driver packs them several times (several column blocks), else
     * transposed straight into the panels (a copy of large filters costs as much as the
     * product when there are few positions, e.g. 3x3 512 -> 512 on 7 x 7), unless the
     * caller packed them (t->wt, usine_conv2d_pack_filters). */
    const int direct_a = !t->wt && p->dtype == USINE_F32 && rn->exec->isa >= USINE_ISA_AVX512 &&
                         positions <= rn->exec->gemm.blocking.nc;
    const float *wt = t->wt ? t->wt : direct_a ? NULL : transposed_filters(rn, p, t->w);
    for (int64_t g = 0; g < p->groups; g++) {
        usine_gemm_shape s =
            gemm_shape(kg, positions, taps, USINE_F32, pointwise ? p->dtype : USINE_F32, p->dtype);
        s.a_rs = 1; /* A(kk, tap) = wt[tap K + g Kg + kk] */
        s.a_cs = p->k;
        s.b_rs = 1; /* pointwise B(c, position) = x[position * C + g Cg + c] */
        s.b_cs = p->c;
        s.ldc = p->k;
        const usine_epilogue e = forward_epilogue(p, g, 1);
        if (e.bias || e.activation != USINE_ACT_NONE)
            s.epilogue = &e;
        const usine_gemm_batch batch =
            one_batch(1, wt ? wt + g * kg : NULL, pointwise ? at(t->x, p->dtype, g * cg) : NULL,
                      at_mut(t->y, p->dtype, g * kg));
        const usine_conv_gather gather = forward_gather(p, t->x, g);
        const usine_gemm_virtual vb = {nhwc_packer(rn), &gather};
        const usine_conv_matrix filters = {t->w ? (const float *)t->w + g * kg * taps : NULL, taps};
        const usine_gemm_virtual va = {usine_conv_avx512_pack_rows, &filters};
        gemm(rn, &s, &batch, direct_a ? &va : NULL, pointwise ? NULL : &vb);
    }
}

/* Forward NHWC with the filters as the GEMM's B operand: y is computed as positions x
 * Kg column-major in the workspace (A = im2col, B(tap, kk) = w[(g Kg + kk) taps + tap]),
 * then transposed into y. With few positions (deep layers on 7 x 7 or 14 x 14) the filters
 * dominate the data: as A they would be transposed once per call (a copy as costly as a
 * quarter of the product for 3x3 512 -> 512 on 7 x 7); as B the microkernel reads them in
 * place (the driver's direct B, columns contiguous) when C is at most two tiles high, and
 * only the small im2col and the small y pass through the workspace. */
typedef struct unpack_args {
    const float *tmp; /* Kg rows of `positions` floats */
    int64_t kg, positions, ld;
    float *y; /* y + g Kg: y[pos * ld + kk] */
    /* tmp's positions run (oh, n, q) rather than y's (n, oh, q) (filters_b_by_rows with
     * several images): images of P x Q positions. */
    int rows_outer;
    int64_t images, p, q;
    int avx512;
    /* Bias and activation still to apply to tmp (the GEMMs ran without them), or NULL. */
    const usine_epilogue *epilogue;
    usine_epilogue_fn *apply;
} unpack_args;

#define EPILOGUE_ROWS 4096 /* positions per epilogue call (its sizes are int) */

/* The epilogue on tmp's rows k0..k1 (output channels), in blocks of positions. */
static void unpack_epilogue(const unpack_args *a, int64_t k0, int64_t k1)
{
    float *tmp = (float *)a->tmp;
    for (int64_t r0 = 0; r0 < a->positions; r0 += EPILOGUE_ROWS) {
        const int64_t rows = a->positions - r0 < EPILOGUE_ROWS ? a->positions - r0 : EPILOGUE_ROWS;
        a->apply(a->epilogue, r0, k0, (int)rows, (int)(k1 - k0), tmp + k0 * a->positions + r0,
                 a->positions);
    }
}

#define UNPACK_ROWS 16

static void unpack_body(void *arg, int index, int count)
{
    const unpack_args *a = (const unpack_args *)arg;
    const int64_t blocks = (a->kg + UNPACK_ROWS - 1) / UNPACK_ROWS;
    const int64_t per = (blocks + count - 1) / count;
    const int64_t k0 = index * per * UNPACK_ROWS < a->kg ? index * per * UNPACK_ROWS : a->kg;
    const int64_t k1 = k0 + per * UNPACK_ROWS < a->kg ? k0 + per * UNPACK_ROWS : a->kg;
    if (k1 <= k0)
        return;
    if (a->epilogue)
        unpack_epilogue(a, k0, k1);
    /* Runs of positions in the same order in tmp and y: all of them, or one output row of
     * one image when the rows are outer. */
    const int64_t run = a->rows_outer ? a->q : a->positions;
    for (int64_t first = 0; first < a->positions; first += run) {
        const int64_t oh = first / (a->images * a->q), n = first / a->q % a->images;
        const int64_t at_y = a->rows_outer ? (n * a->p + oh) * a->q : first;
        const float *src = a->tmp + k0 * a->positions + first;
        float *dst = a->y + at_y * a->ld + k0;
        if (a->avx512) {
            usine_conv_avx512_transpose_f32(src, a->positions, k1 - k0, run, dst, a->ld);
            continue;
        }
        for (int64_t pos = 0; pos < run; pos++)
            for (int64_t kk = 0; kk < k1 - k0; kk++)
                dst[pos * a->ld + kk] = src[kk * a->positions + pos];
    }
}

/* The filter row (or tap row) handled at `step` of `count` when `widest` goes first (its GEMM
 * sets the sums) and the others follow in ascending order. */
static int64_t widest_first(int64_t step, int64_t widest)
{
    return step == 0 ? widest : step <= widest ? step - 1 : step;
}

/* The output rows [*lo, *hi) for which filter row r0 lands inside x (lo == hi: none). */
static void rows_inside(const usine_conv_problem *p, int64_t r0, int64_t *lo, int64_t *hi)
{
    usine_conv_inside(p->p, p->stride_h, r0 * p->dilation_h - p->pad_top, p->h, lo, hi);
}

/* The filter row whose output rows are the most (the first of them), or -1 when every
 * filter row reaches every output row (no padding rows to skip). */
static int64_t widest_filter_row(const usine_conv_problem *p)
{
    int64_t best = 0, best_rows = -1, partial = 0;
    for (int64_t r0 = 0; r0 < p->r; r0++) {
        int64_t lo, hi;
        rows_inside(p, r0, &lo, &hi);
        partial |= hi - lo < p->p;
        if (hi - lo > best_rows) {
            best = r0;
            best_rows = hi - lo;
        }
    }
    return partial ? best : -1;
}

/* Zeroes tmp's positions outside [lo, hi) (every column). */
static void zero_outside(float *tmp, int64_t positions, int64_t kg, int64_t lo, int64_t hi)
{
    for (int64_t kk = 0; kk < kg; kk++) {
        float *col = tmp + kk * positions;
        memset(col, 0, (size_t)lo * sizeof(float));
        memset(col + hi, 0, (size_t)(positions - hi) * sizeof(float));
    }
}

/*
 * The filters_b GEMM of group g split by filter row: filter row r0 multiplies only the
 * output rows it reaches inside x, so the padding rows' zeros (a 3x3 with padding 1 on
 * 7 x 7: 2 of every 7 rows for 2 of the 3 filter rows, 10% of the nominal products) are
 * not multiplied. tmp's positions run (oh, n, q), so that those rows of every image are one
 * range and each filter row one GEMM over all images (per image, the GEMMs of a batch of 8
 * on 7 x 7 would be a single tile high). The widest row's GEMM comes first and sets tmp
 * (rows it does not reach zeroed), the others add to it, in filter-row order: a fixed
 * order per element.
 */
static void filters_b_by_rows(runner *rn, const usine_conv_problem *p, const usine_conv_tensors *t,
                              int64_t g, int64_t widest, float *tmp)
{
    const int64_t kg = p->k / p->groups, cg = p->c / p->groups;
    const int64_t taps = p->r * p->s * cg, positions = p->n * p->p * p->q;
    const int64_t row = p->n * p->q; /* positions per output row, every image */
    int64_t wlo, whi;
    rows_inside(p, widest, &wlo, &whi);
    if (!rn->sizing && (wlo > 0 || whi < p->p))
        zero_outside(tmp, positions, kg, wlo * row, whi * row);
    for (int64_t step = 0; step < p->r; step++) {
        const int64_t r0 = widest_first(step, widest);
        int64_t lo, hi;
        rows_inside(p, r0, &lo, &hi);
        if (lo == hi)
            continue;
        usine_gemm_shape s =
            gemm_shape((hi - lo) * row, kg, p->s * cg, USINE_F32, USINE_F32, USINE_F32);
        s.b_rs = 1; /* B(tap, kk) = w[(g Kg + kk) taps + r0 S Cg + tap] */
        s.b_cs = taps;
        s.ldc = positions;
        s.beta = step == 0 ? 0.0 : 1.0;
        const usine_gemm_batch batch =
            one_batch(1, NULL, at(t->w, p->dtype, (g * kg) * taps + r0 * p->s * cg),
                      tmp ? tmp + lo * row : NULL);
        usine_conv_gather gather = forward_gather(p, t->x, g);
        gather.rows_outer = 1;
        gather.grid_h = hi - lo;
        gather.base_h = -p->pad_top + lo * p->stride_h + r0 * p->dilation_h;
        gather.taps_h = 1;
        const usine_gemm_virtual va = {nhwc_packer(rn), &gather};
        gemm(rn, &s, &batch, &va, NULL);
    }
}

static void forward_nhwc_filters_b(runner *rn, const usine_conv_problem *p,
                                   const usine_conv_tensors *t)
{
    const int64_t kg = p->k / p->groups, cg = p->c / p->groups;
    const int64_t taps = p->r * p->s * cg, positions = p->n * p->p * p->q;
    float *tmp = (float *)scratch(rn, (size_t)(positions * kg) * sizeof(float));
    const int64_t widest = widest_filter_row(p);
    for (int64_t g = 0; g < p->groups; g++) {
        const usine_epilogue e = forward_epilogue(p, g, 0);
        const int fused = e.bias || e.activation != USINE_ACT_NONE;
        if (widest >= 0) {
            filters_b_by_rows(rn, p, t, g, widest, tmp);
        } else {
            usine_gemm_shape s = gemm_shape(positions, kg, taps, USINE_F32, USINE_F32, USINE_F32);
            s.b_rs = 1; /* B(tap, kk) = w[(g Kg + kk) taps + tap] */
            s.b_cs = taps;
            s.ldc = positions;
            if (fused)
                s.epilogue = &e;
            const usine_gemm_batch batch =
                one_batch(1, NULL, at(t->w, p->dtype, g * kg * taps), tmp);
            const usine_conv_gather gather = forward_gather(p, t->x, g);
            const usine_gemm_virtual va = {nhwc_packer(rn), &gather};
            gemm(rn, &s, &batch, &va, NULL);
        }
        if (rn->sizing)
            continue;
        unpack_args a = {tmp,
                         kg,
                         positions,
                         p->k,
                         (float *)at_mut(t->y, p->dtype, g * kg),
                         widest >= 0 && p->n > 1,
                         p->n,
                         p->p,
                         p->q,
                         rn->exec->isa >= USINE_ISA_AVX512,
                         widest >= 0 && fused ? &e : NULL,
                         rn->exec->gemm.kernel->epilogue};
        const int64_t blocks = (kg + UNPACK_ROWS - 1) / UNPACK_ROWS;
        const int threads = rn->exec->gemm.max_threads;
        usine_cpu_parallel(blocks < threads ? (int)blocks : threads, unpack_body, &a);
    }
}

static void forward_nchw(runner *rn, const usine_conv_problem *p, const usine_conv_tensors *t,
                         int pointwise)
{
    const int64_t kg = p->k / p->groups, cg = p->c / p->groups;
    const int64_t taps = cg * p->r * p->s, pq = p->p * p->q;
    for (int64_t g = 0; g < p->groups; g++) {
        usine_gemm_shape s =
            gemm_shape(pq, kg, taps, pointwise ? p->dtype : USINE_F32, p->dtype, p->dtype);
        s.a_rs = 1; /* pointwise A(pixel, c) = x_n[c * HW + pixel] */
        s.a_cs = p->h * p->w;
        s.b_rs = 1; /* B(tap, kk) = w[(g Kg + kk) * taps + tap] */
        s.b_cs = taps;
        s.ldc = pq;
        const usine_epilogue e = forward_epilogue(p, g, 0);
        if (e.bias || e.activation != USINE_ACT_NONE)
            s.epilogue = &e;
        usine_gemm_batch batch =
            one_batch(p->n, pointwise ? at(t->x, p->dtype, g * cg * p->h * p->w) : NULL,
                      at(t->w, p->dtype, g * kg * taps), at_mut(t->y, p->dtype, g * kg * pq));
        batch.stride_a = pointwise ? p->c * p->h * p->w : 0;
        batch.stride_c = p->k * pq;
        const usine_conv_gather gather = forward_gather(p, t->x, g);
        const usine_gemm_virtual va = {usine_conv_pack_positions_by_channels, &gather};
        gemm(rn, &s, &batch, pointwise ? NULL : &va, NULL);
    }
}

/* ------------------------------------------------------------------ backward data */

/* The taps of one phase along one axis (conv_internal.h). */
typedef usine_conv_phase_taps phase_taps;

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        const int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Taps r < filter with (phase + pad - r * dilation) a multiple of stride. */
phase_taps usine_conv_taps_of_phase(int64_t phase, int64_t size, int64_t filter, int64_t stride,
                                    int64_t pad, int64_t dilation)
{
    phase_taps pt = {0, stride / gcd64(stride, dilation), 0, 0, 0, 0};
    pt.pixels = (size - phase + stride - 1) / stride;
    pt.first = -1;
    for (int64_t r = 0; r < filter && r < pt.every; r++)
        if ((phase + pad - r * dilation) % stride == 0) {
            pt.first = r;
            break;
        }
    if (pt.first < 0)
        return pt;
    pt.count = (filter - pt.first + pt.every - 1) / pt.every;
    pt.base = (phase + pad - pt.first * dilation) / stride;
    pt.step = -(pt.every * dilation / stride);
    return pt;
}

/* Fills the transposed, flipped filters of one group and phase, f32:
 * NHWC Wt[((t * taps_w + u) * Kg + kk) * Cg + c], NCHW Wt[c * Kg Th Tw + (kk Th + t) Tw + u],
 * both = w[g Kg + kk, c, first_h + t every_h, first_w + u every_w]. */
static void phase_filters(const usine_conv_problem *p, const void *w, int64_t g,
                          const phase_taps *th, const phase_taps *tw, float *wt)
{
    const int64_t kg = p->k / p->groups, cg = p->c / p->groups;
    const int bf16 = p->dtype == USINE_BF16;
    if (p->layout == USINE_CONV_NHWC) { /* runs of Cg channels on both sides */
        for (int64_t t = 0; t < th->count; t++)
            for (int64_t u = 0; u < tw->count; u++)
                for (int64_t kk = 0; kk < kg; kk++) {
                    const int64_t r = th->first + t * th->every, s = tw->first + u * tw->every;
                    const int64_t from = (((g * kg + kk) * p->r + r) * p->s + s) * cg;
                    float *to = wt + ((t * tw->count + u) * kg + kk) * cg;
                    if (bf16)
                        for (int64_t c = 0; c < cg; c++)
                            to[c] = usine_bf16_to_f32(((const uint16_t *)w)[from + c]);
                    else
                        memcpy(to, (const float *)w + from, (size_t)cg * sizeof *to);
                }
        return;
    }
    float *to = wt; /* written in order: c, then kk, t, u */
    for (int64_t c = 0; c < cg; c++)
        for (int64_t kk = 0; kk < kg; kk++)
            for (int64_t t = 0; t < th->count; t++)
                for (int64_t u = 0; u < tw->count; u++) {
                    const int64_t r = th->first + t * th->every, s = tw->first + u * tw->every;
                    const int64_t from = (((g * kg + kk) * cg + c) * p->r + r) * p->s + s;
                    *to++ = bf16 ? usine_bf16_to_f32(((const uint16_t *)w)[from])
                                 : ((const float *)w)[from];
                }
}

/* dy as the phase's im2col source: a stride-1 grid over the phase's dx pixels. */
static usine_conv_gather phase_gather(const usine_conv_problem *p, const void *dy, int64_t g,
                                      const phase_taps *th, const phase_taps *tw)
{
    const int64_t kg = p->k / p->groups;
    usine_conv_gather gather = {dy,         p->dtype,  p->layout, p->n,     p->p,
                                p->q,       p->k,      g * kg,    kg,       th->pixels,
                                tw->pixels, 1,         1,         th->base, tw->base,
                                th->count,  tw->count, th->step,  tw->step, 0};
    return gather;
}

/* Copies a phase's dx values from the dense temporary into dx (every stride-th pixel). */
typedef struct scatter_args {
    const usine_conv_problem *p;
    const float *tmp; /* NULL: the phase's pixels get zeros */
    void *dx;
    int64_t g, ph, pw;
    const phase_taps *th, *tw;
    int64_t channel_ld; /* 0: tmp holds a pixel's Cg channels together; else tmp[c ld + pixel] */
} scatter_args;

static void store(const usine_conv_problem *p, void *dx, int64_t index, float v)
{
    if (p->dtype == USINE_BF16)
        ((uint16_t *)dx)[index] = usine_f32_to_bf16(v);
    else
        ((float *)dx)[index] = v;
}

static void scatter_body(void *arg, int index, int count)
{
    const scatter_args *a = (const scatter_args *)arg;
    const usine_conv_problem *p = a->p;
    const int64_t cg = p->c / p->groups, hp = a->th->pixels, wp = a->tw->pixels;
    const int runs = p->layout == USINE_CONV_NHWC && p->dtype == USINE_F32 && !a->channel_ld;
    for (int64_t n = index; n < p->n; n += count)
        for (int64_t i = 0; i < hp; i++)
            for (int64_t j = 0; j < wp; j++) {
                const int64_t h = a->ph + i * p->stride_h, w = a->pw + j * p->stride_w;
                if (!a->tmp && p->layout == USINE_CONV_NHWC) { /* zeros (bf16 0 is 0 bits) */
                    memset(at_mut(a->dx, p->dtype, ((n * p->h + h) * p->w + w) * p->c + a->g * cg),
                           0, (size_t)cg * usine_dtype_storage_size(p->dtype));
                    continue;
                }
                if (runs) { /* a pixel's Cg channels are contiguous on both sides */
                    memcpy((float *)a->dx + ((n * p->h + h) * p->w + w) * p->c + a->g * cg,
                           a->tmp + ((n * hp + i) * wp + j) * cg, (size_t)cg * sizeof(float));
                    continue;
                }
                for (int64_t c = 0; c < cg; c++) {
                    const int64_t ch = a->g * cg + c;
                    if (!a->tmp)
                        store(p, a->dx, ((n * p->c + ch) * p->h + h) * p->w + w, 0.0f);
                    else if (a->channel_ld)
                        store(p, a->dx, ((n * p->h + h) * p->w + w) * p->c + ch,
                              a->tmp[c * a->channel_ld + (n * hp + i) * wp + j]);
                    else if (p->layout == USINE_CONV_NHWC)
                        store(p, a->dx, ((n * p->h + h) * p->w + w) * p->c + ch,
                              a->tmp[((n * hp + i) * wp + j) * cg + c]);
                    else
                        store(p, a->dx, ((n * p->c + ch) * p->h + h) * p->w + w,
                              a->tmp[((n * cg + c) * hp + i) * wp + j]);
                }
            }
}

/* Below this many channels per group, an NHWC backward data does not put the channels
 * along the GEMM's rows, where a first layer's 3 would fill 3 of a 48-row tile: f32 takes
 * col2im (backward_data_col2im), bf16 with strides puts the phase's pixels along the rows
 * and the channels along the columns (tmp then holds the channels apart; measured on Zen
 * 4: the 7x7 stride-2 first layer's backward data, one thread, 14-17 -> 27 GFLOP/s). */
#define FEW_CHANNELS 8

static int pixels_as_rows(const usine_conv_problem *p)
{
    return p->layout == USINE_CONV_NHWC && (p->stride_h > 1 || p->stride_w > 1) &&
           p->c / p->groups < FEW_CHANNELS;
}

/* The GEMM of one group and phase, into dx directly (stride 1) or into tmp. */
static void phase_gemm(runner *rn, const usine_conv_problem *p, const usine_conv_tensors *t,
                       int64_t g, const phase_taps *th, const phase_taps *tw, const float *wt,
                       float *tmp)
{
    const int64_t kg = p->k / p->groups, cg = p->c / p->groups;
    const int64_t taps = th->count * tw->count * kg, pixels = th->pixels * tw->pixels;
    const int direct = p->stride_h == 1 && p->stride_w == 1;
    const usine_dtype c_type = direct ? p->dtype : USINE_F32;
    const usine_conv_gather gather = phase_gather(p, t->dy, g, th, tw);
    if (pixels_as_rows(p)) {
        usine_gemm_shape s = gemm_shape(p->n * pixels, cg, taps, USINE_F32, USINE_F32, USINE_F32);
        s.b_rs = cg; /* B(tap, c) = Wt[tap * Cg + c] */
        s.b_cs = 1;
        s.ldc = p->n * pixels; /* tmp[c * n pixels + pixel] */
        const usine_gemm_batch batch = one_batch(1, NULL, wt, tmp);
        const usine_gemm_virtual va = {nhwc_packer(rn), &gather};
        gemm(rn, &s, &batch, &va, NULL);
        return;
    }
    if (p->layout == USINE_CONV_NHWC) {
        usine_gemm_shape s = gemm_shape(cg, p->n * pixels, taps, USINE_F32, USINE_F32, c_type);
        s.a_rs = 1; /* A(c, tap) = Wt[tap * Cg + c] */
        s.a_cs = cg;
        s.ldc = direct ? p->c : cg;
        const usine_gemm_batch batch =
            one_batch(1, wt, NULL, direct ? at_mut(t->dx, p->dtype, g * cg) : (void *)tmp);
        const usine_gemm_virtual vb = {nhwc_packer(rn), &gather};
        gemm(rn, &s, &batch, NULL, &vb);
        return;
    }
    usine_gemm_shape s = gemm_shape(pixels, cg, taps, USINE_F32, USINE_F32, c_type);
    s.b_rs = 1; /* B(tap, c) = Wt[c * taps + tap] */
    s.b_cs = taps;
    s.ldc = pixels;
    usine_gemm_batch batch =
        one_batch(p->n, NULL, wt, direct ? at_mut(t->dx, p->dtype, g * cg * pixels) : (void *)tmp);
    batch.stride_c = direct ? p->c * pixels : cg * pixels;
    const usine_gemm_virtual va = {usine_conv_pack_positions_by_channels, &gather};
    gemm(rn, &s, &batch, &va, NULL);
}

static void backward_data_phases(runner *rn, const usine_conv_problem *p,
                                 const usine_conv_tensors *t)
{
    const int64_t kg = p->k / p->groups, cg = p->c / p->groups;
    const int direct = p->stride_h == 1 && p->stride_w == 1;
    /* The transposed filters of one group and phase (at most all its taps), and for
     * strides the dense dx of one phase. */
    const int one_tap_as_is =
        p->r == 1 && p->s == 1 && p->layout == USINE_CONV_NHWC && p->dtype == USINE_F32;
    float *wt = one_tap_as_is
                    ? NULL
                    : (float *)scratch(rn, (size_t)(kg * cg * p->r * p->s) * sizeof(float));
    const int64_t most =
        ((p->h + p->stride_h - 1) / p->stride_h) * ((p->w + p->stride_w - 1) / p->stride_w);
    float *tmp = direct ? NULL : (float *)scratch(rn, (size_t)(p->n * most * cg) * sizeof(float));
    for (int64_t g = 0; g < p->groups; g++)
        for (int64_t ph = 0; ph < p->stride_h && ph < p->h; ph++)
            for (int64_t pw = 0; pw < p->stride_w && pw < p->w; pw++) {
                const phase_taps th = usine_conv_taps_of_phase(ph, p->h, p->r, p->stride_h,
                                                               p->pad_top, p->dilation_h);
                const phase_taps tw = usine_conv_taps_of_phase(pw, p->w, p->s, p->stride_w,
                                                               p->pad_left, p->dilation_w);
                /* A 1x1 f32 NHWC filter is its own transposed copy: Wt[kk Cg + c]. */
                const float *filters = wt;
                if (one_tap_as_is)
                    filters = (const float *)t->w + g * kg * cg;
                else if (!rn->sizing)
                    phase_filters(p, t->w, g, &th, &tw, wt);
                phase_gemm(rn, p, t, g, &th, &tw, filters, tmp);
                if (!direct && !rn->sizing) {
                    const int64_t channel_ld = pixels_as_rows(p) ? p->n * th.pixels * tw.pixels : 0;
                    scatter_args a = {p, tmp, t->dx, g, ph, pw, &th, &tw, channel_ld};
                    usine_cpu_parallel(rn->exec->gemm.max_threads, scatter_body, &a);
                }
            }
}

/*
 * Backward data with few channels per group (f32 NHWC, a first layer's 3): per image and
 * group, the columns col = dy W as one dense GEMM, C (R S Cg x positions, ldc R S Cg) =
 * A (R S Cg x Kg: the filters in place, columns contiguous) B (Kg x positions: dy in place),
 * the sum running over the Kg output channels; then the column values are added into dx
 * (col2im), position after position. With the channels along
 * the GEMM's rows instead, 3 channels fill 3 rows of a 48-row tile, and the phases' GEMMs
 * re-pack an im2col of dy for 3 columns of output (measured on Zen 4: the 7x7 stride-2 first
 * layer, one thread, min of 5-20 calls: batch 1 23-25 -> 47 GFLOP/s, batch 8 21 -> 46-48).
 */
static int col2im_serves(const usine_conv_problem *p)
{
    return p->layout == USINE_CONV_NHWC && p->dtype == USINE_F32 && p->c / p->groups < FEW_CHANNELS;
}

/* Output rows per GEMM: the columns of one chunk take at most this many bytes (the
 * workspace stays bounded for large images: 8 MiB instead of 590 MiB for the 7x7 first
 * layer on a 2048 x 2048 image). */
#define COL2IM_CHUNK_BYTES (8 << 20)

typedef struct col2im_args {
    const usine_conv_problem *p;
    const float *col; /* positions of output rows [oh0, oh1) x R S Cg of image n, group g */
    float *dx;
    int64_t n, g, oh0, oh1;
} col2im_args;

/* Adds position (oh, ow)'s values of filter row r into dx row ih of image n. */
static void add_row_taps(const col2im_args *a, int64_t ih, int64_t oh, int64_t ow, int64_t r)
{
    const usine_conv_problem *p = a->p;
    const int64_t cg = p->c / p->groups, taps = p->r * p->s * cg;
    const float *v = a->col + ((oh - a->oh0) * p->q + ow) * taps + r * p->s * cg;
    float *row = a->dx + (a->n * p->h + ih) * p->w * p->c + a->g * cg;
    const int64_t iw0 = ow * p->stride_w - p->pad_left;
    if (p->dilation_w == 1 && cg == p->c) { /* the S taps' channels: one run in dx */
        const int64_t s0 = iw0 < 0 ? -iw0 : 0;
        const int64_t s1 = iw0 + p->s > p->w ? p->w - iw0 : p->s;
        float *out = row + (iw0 + s0) * p->c;
        const float *in = v + s0 * cg;
        for (int64_t e = 0; e < (s1 - s0) * cg; e++)
            out[e] += in[e];
        return;
    }
    for (int64_t s = 0; s < p->s; s++) {
        const int64_t iw = iw0 + s * p->dilation_w;
        if (iw >= 0 && iw < p->w)
            for (int64_t c = 0; c < cg; c++)
                row[iw * p->c + c] += v[s * cg + c];
    }
}

/* The block of dx rows [*h0, *h1) of thread `index` of `count`. */
static void dx_rows_of(const usine_conv_problem *p, int index, int count, int64_t *h0, int64_t *h1)
{
    const int64_t per = (p->h + count - 1) / count;
    *h0 = index * per < p->h ? index * per : p->h;
    *h1 = *h0 + per < p->h ? *h0 + per : p->h;
}

static void col2im_zero_body(void *arg, int index, int count)
{
    const col2im_args *a = (const col2im_args *)arg;
    const usine_conv_problem *p = a->p;
    const int64_t cg = p->c / p->groups;
    int64_t h0, h1;
    dx_rows_of(p, index, count, &h0, &h1);
    for (int64_t ih = h0; ih < h1; ih++)
        for (int64_t iw = 0; iw < p->w; iw++)
            memset(a->dx + ((a->n * p->h + ih) * p->w + iw) * p->c + a->g * cg, 0,
                   (size_t)cg * sizeof(float));
}

/* dx rows shared out among the threads in blocks (as col2im_zero_body's): a thread adds the
 * values of every position of the chunk whose filter reaches its rows, chunks, positions
 * and taps in one fixed order, so each dx value is summed the same way whatever the thread
 * count. */
static void col2im_body(void *arg, int index, int count)
{
    const col2im_args *a = (const col2im_args *)arg;
    const usine_conv_problem *p = a->p;
    int64_t h0, h1;
    dx_rows_of(p, index, count, &h0, &h1);
    for (int64_t oh = a->oh0; oh < a->oh1; oh++)
        for (int64_t r = 0; r < p->r; r++) {
            const int64_t ih = oh * p->stride_h - p->pad_top + r * p->dilation_h;
            if (ih < h0 || ih >= h1)
                continue;
            for (int64_t ow = 0; ow < p->q; ow++)
                add_row_taps(a, ih, oh, ow, r);
        }
}

static void backward_data_col2im(runner *rn, const usine_conv_problem *p,
                                 const usine_conv_tensors *t)
{
    const int64_t kg = p->k / p->groups, cg = p->c / p->groups, taps = p->r * p->s * cg;
    const int64_t positions = p->p * p->q, row_bytes = p->q * taps * (int64_t)sizeof(float);
    int64_t rows = COL2IM_CHUNK_BYTES / row_bytes;
    rows = rows < 1 ? 1 : rows > p->p ? p->p : rows;
    float *col = (float *)scratch(rn, (size_t)(rows * row_bytes));
    const int threads = rn->exec->gemm.max_threads;
    const int teams = p->h < threads ? (int)p->h : threads;
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t g = 0; g < p->groups; g++) {
            col2im_args a = {p, col, (float *)t->dx, n, g, 0, 0};
            if (!rn->sizing)
                usine_cpu_parallel(teams, col2im_zero_body, &a);
            for (a.oh0 = 0; a.oh0 < p->p; a.oh0 = a.oh1) {
                a.oh1 = a.oh0 + rows < p->p ? a.oh0 + rows : p->p;
                usine_gemm_shape s =
                    gemm_shape(taps, (a.oh1 - a.oh0) * p->q, kg, USINE_F32, USINE_F32, USINE_F32);
                s.a_rs = 1; /* A(tap, kk) = w[(g Kg + kk) taps + tap] */
                s.a_cs = taps;
                s.b_rs = 1; /* B(kk, position) = dy[(n PQ + position) K + g Kg + kk] */
                s.b_cs = p->k;
                s.ldc = taps;
                const int64_t first = n * positions + a.oh0 * p->q;
                const usine_gemm_batch batch =
                    one_batch(1, at(t->w, p->dtype, g * kg * taps),
                              at(t->dy, p->dtype, first * p->k + g * kg), col);
                gemm(rn, &s, &batch, NULL, NULL);
                if (!rn->sizing)
                    usine_cpu_parallel(teams, col2im_body, &a);
            }
        }
}

/* The rows [lo, hi) of the phase's pixels a tap's GEMM covers, in every image. With
 * rows_outer the pixels run (row, image, column) (tap_split_by_rows with several images,
 * into tmp), else (image, row, column), then either all rows or a single image. */
typedef struct tap_rows {
    int64_t lo, hi;
    int rows_outer;
} tap_rows;

static tap_rows all_rows(const phase_taps *th)
{
    return (tap_rows){0, th->pixels, 0};
}

/* Stride 1: the dx rows tap row r adds to (those whose dy row, ih + pad - r dilation, lies
 * inside dy): all H rows but those opposite the padding. */
static tap_rows rows_of_tap(const usine_conv_problem *p, int64_t r)
{
    const int64_t first = r * p->dilation_h - p->pad_top;
    tap_rows rows = {first > 0 ? first : 0, p->p + first, 1};
    if (rows.hi > p->h)
        rows.hi = p->h;
    if (rows.lo > rows.hi)
        rows.lo = rows.hi;
    return rows;
}

/* One tap's GEMM over the rows of the phase's pixels, into tmp (Cg channels per pixel) or,
 * with tmp NULL, dx (stride 1); beta 0 sets the sums, 1 adds to them. */
static void tap_gemm(runner *rn, const usine_conv_problem *p, const usine_conv_tensors *t,
                     int64_t g, const phase_taps *th, const phase_taps *tw, int64_t tt, int64_t tu,
                     tap_rows rows, double beta, float *tmp)
{
    const int64_t kg = p->k / p->groups, cg = p->c / p->groups, rs = p->r * p->s;
    const int64_t r = th->first + tt * th->every, s = tw->first + tu * tw->every;
    /* The first pixel: row lo of image 0 when the rows are outer (or with one image). */
    const int64_t first_pixel = rows.lo * tw->pixels * (rows.rows_outer ? p->n : 1);
    /* Phase pixel (i, j) reads dy at (i + base_h + tt step_h, j + base_w + tu step_w). */
    const usine_conv_gather gather = {t->dy,
                                      p->dtype,
                                      p->layout,
                                      p->n,
                                      p->p,
                                      p->q,
                                      p->k,
                                      g * kg,
                                      kg,
                                      rows.hi - rows.lo,
                                      tw->pixels,
                                      1,
                                      1,
                                      th->base + tt * th->step + rows.lo,
                                      tw->base + tu * tw->step,
                                      1,
                                      1,
                                      0,
                                      0,
                                      rows.rows_outer};
    usine_gemm_shape sh = gemm_shape(cg, p->n * (rows.hi - rows.lo) * tw->pixels, kg, USINE_F32,
                                     USINE_F32, USINE_F32);
    sh.a_rs = 1;
    sh.a_cs = rs * cg;
    sh.ldc = tmp ? cg : p->c;
    sh.beta = beta;
    const usine_gemm_batch batch =
        one_batch(1, at(t->w, p->dtype, (g * kg * rs + r * p->s + s) * cg), NULL,
                  tmp ? (void *)(tmp + first_pixel * cg)
                      : at_mut(t->dx, p->dtype, first_pixel * p->c + g * cg));
    const usine_gemm_virtual vb = {nhwc_packer(rn), &gather};
    gemm(rn, &sh, &batch, NULL, &vb);
}

/* Zeroes the sums of the pixel rows outside [lo, hi): tmp's (rows outer, Cg floats per
 * pixel), or with tmp NULL group g's channels of dx's (a single image). */
static void zero_dx_rows(const usine_conv_problem *p, void *dx, float *tmp, int64_t g,
                         tap_rows rows)
{
    const int64_t cg = p->c / p->groups, row = p->n * p->w * cg;
    if (tmp) {
        memset(tmp, 0, (size_t)(rows.lo * row) * sizeof(float));
        memset(tmp + rows.hi * row, 0, (size_t)((p->h - rows.hi) * row) * sizeof(float));
        return;
    }
    for (int64_t ih = 0; ih < p->h; ih++) {
        if (ih >= rows.lo && ih < rows.hi)
            continue;
        for (int64_t iw = 0; iw < p->w; iw++)
            memset(at_mut(dx, p->dtype, (ih * p->w + iw) * p->c + g * cg), 0,
                   (size_t)cg * usine_dtype_storage_size(p->dtype));
    }
}

/* Copies tmp (pixels ordered row, image, column; Cg floats each) into group g's channels of
 * dx, a share of the rows per thread. */
typedef struct rows_out_args {
    const usine_conv_problem *p;
    const float *tmp;
    float *dx;
    int64_t g;
} rows_out_args;

static void rows_out_body(void *arg, int index, int count)
{
    const rows_out_args *a = (const rows_out_args *)arg;
    const usine_conv_problem *p = a->p;
    const int64_t cg = p->c / p->groups, lines = p->h * p->n;
    for (int64_t line = lines * index / count; line < lines * (index + 1) / count; line++) {
        const int64_t ih = line / p->n, n = line % p->n;
        const float *src = a->tmp + line * p->w * cg;
        float *dst = a->dx + (n * p->h + ih) * p->w * p->c + a->g * cg;
        if (p->groups == 1) {
            memcpy(dst, src, (size_t)(p->w * cg) * sizeof(float));
            continue;
        }
        for (int64_t iw = 0; iw < p->w; iw++)
            memcpy(dst + iw * p->c, src + iw * cg, (size_t)cg * sizeof(float));
    }
}

/*
 * Stride 1: each tap row's GEMMs cover only the dx rows whose dy row lies inside dy, so the
 * zeros opposite the padding are not multiplied (a 3x3 with padding 1 on 7 x 7: 2 of 7 rows
 * for 2 of the 3 tap rows). With one image those rows are a range of dx; with several the
 * sums go to tmp with the pixels ordered (row, image, column), where the rows of every
 * image are one range, then to dx (per image, the GEMMs of a batch of 8 on 7 x 7 get too
 * narrow: 104 -> 75-94 GFLOP/s measured on Zen 4). The widest tap row's first tap sets the
 * sums (rows it misses zeroed), every other tap adds, in a fixed order whatever the threads.
 */
static void tap_split_by_rows(runner *rn, const usine_conv_problem *p, const usine_conv_tensors *t,
                              int64_t g, const phase_taps *th, const phase_taps *tw, float *tmp)
{
    int64_t widest = 0;
    for (int64_t tt = 1; tt < th->count; tt++) {
        const tap_rows a = rows_of_tap(p, th->first + tt * th->every);
        const tap_rows b = rows_of_tap(p, th->first + widest * th->every);
        if (a.hi - a.lo > b.hi - b.lo)
            widest = tt;
    }
    const tap_rows wide = rows_of_tap(p, th->first + widest * th->every);
    if (!rn->sizing && (wide.lo > 0 || wide.hi < p->h))
        zero_dx_rows(p, t->dx, tmp, g, wide);
    for (int64_t step = 0; step < th->count; step++) {
        const int64_t tt = widest_first(step, widest);
        const tap_rows rows = rows_of_tap(p, th->first + tt * th->every);
        if (rows.lo == rows.hi)
            continue;
        for (int64_t tu = 0; tu < tw->count; tu++)
            tap_gemm(rn, p, t, g, th, tw, tt, tu, rows, step == 0 && tu == 0 ? 0.0 : 1.0, tmp);
    }
    if (rn->sizing || !tmp)
        return;
    rows_out_args a = {p, tmp, (float *)t->dx, g};
    const int64_t lines = p->h * p->n;
    const int threads = rn->exec->gemm.max_threads;
    usine_cpu_parallel(lines < threads ? (int)lines : threads, rows_out_body, &a);
}

/* Backward data, tap_split (NHWC, f32): per stride phase, dx = the sum over the phase's taps
 * (r, s) of dy shifted by the tap times W(r, s), one GEMM per tap accumulated into dx
 * (stride 1) or into the phase's dense temporary (then scattered). A(c, kk) =
 * w[((g Kg + kk) R + r) S + s) Cg + c] is read straight from the filters (columns R S Cg
 * apart), so the transposed, flipped copy of backward_data_phases (a pass over all the
 * filters, a third of the time for 3x3 512 -> 512 on 7 x 7) never happens; dx, small where
 * the filters dominate, is read and written once per tap instead. */
static void backward_data_tap_split(runner *rn, const usine_conv_problem *p,
                                    const usine_conv_tensors *t)
{
    const int64_t cg = p->c / p->groups;
    const int direct = p->stride_h == 1 && p->stride_w == 1;
    const int64_t most =
        ((p->h + p->stride_h - 1) / p->stride_h) * ((p->w + p->stride_w - 1) / p->stride_w);
    /* The strided phases' dense sums; at stride 1, a batch's sums (see tap_split_by_rows). */
    float *tmp = direct && p->n == 1
                     ? NULL
                     : (float *)scratch(rn, (size_t)(p->n * most * cg) * sizeof(float));
    for (int64_t g = 0; g < p->groups; g++)
        for (int64_t ph = 0; ph < p->stride_h && ph < p->h; ph++)
            for (int64_t pw = 0; pw < p->stride_w && pw < p->w; pw++) {
                const phase_taps th = usine_conv_taps_of_phase(ph, p->h, p->r, p->stride_h,
                                                               p->pad_top, p->dilation_h);
                const phase_taps tw = usine_conv_taps_of_phase(pw, p->w, p->s, p->stride_w,
                                                               p->pad_left, p->dilation_w);
                if (direct && th.count > 0 && tw.count > 0) {
                    tap_split_by_rows(rn, p, t, g, &th, &tw, tmp);
                    continue;
                }
                for (int64_t tt = 0; tt < th.count; tt++)
                    for (int64_t tu = 0; tu < tw.count; tu++)
                        tap_gemm(rn, p, t, g, &th, &tw, tt, tu, all_rows(&th),
                                 tt == 0 && tu == 0 ? 0.0 : 1.0, tmp);
                if (rn->sizing || direct)
                    continue;
                /* No tap reaches the phase: its dx pixels are zeroed in place. */
                const int none = th.count == 0 || tw.count == 0;
                scatter_args a = {p, none ? NULL : tmp, t->dx, g, ph, pw, &th, &tw, 0};
                usine_cpu_parallel(rn->exec->gemm.max_threads, scatter_body, &a);
            }
}

/* 1x1, stride 1, no padding: dx = dy W per group, no copy. */
static void backward_data_pointwise(runner *rn, const usine_conv_problem *p,
                                    const usine_conv_tensors *t)
{
    const int64_t kg = p->k / p->groups, cg = p->c / p->groups, hw = p->h * p->w;
    for (int64_t g = 0; g < p->groups; g++) {
        if (p->layout == USINE_CONV_NHWC) {
            usine_gemm_shape s = gemm_shape(cg, p->n * hw, kg, p->dtype, p->dtype, p->dtype);
            s.a_rs = 1; /* A(c, kk) = w[(g Kg + kk) Cg + c] */
            s.a_cs = cg;
            s.b_rs = 1; /* B(kk, pixel) = dy[pixel K + g Kg + kk] */
            s.b_cs = p->k;
            s.ldc = p->c;
            const usine_gemm_batch batch =
                one_batch(1, at(t->w, p->dtype, g * kg * cg), at(t->dy, p->dtype, g * kg),
                          at_mut(t->dx, p->dtype, g * cg));
            gemm(rn, &s, &batch, NULL, NULL);
            continue;
        }
        usine_gemm_shape s = gemm_shape(hw, cg, kg, p->dtype, p->dtype, p->dtype);
        s.a_rs = 1; /* A(pixel, kk) = dy_n[(g Kg + kk) HW + pixel] */
        s.a_cs = hw;
        s.b_rs = cg; /* B(kk, c) = w[(g Kg + kk) Cg + c] */
        s.b_cs = 1;
        s.ldc = hw;
        usine_gemm_batch batch =
            one_batch(p->n, at(t->dy, p->dtype, g * kg * hw), at(t->w, p->dtype, g * kg * cg),
                      at_mut(t->dx, p->dtype, g * cg * hw));
        batch.stride_a = p->k * hw;
        batch.stride_c = p->c * hw;
        gemm(rn, &s, &batch, NULL, NULL);
    }
}

/* ------------------------------------------------------------------ backward weights */

/* A weight gradient this small (taps x Kg floats) over this many chunks of positions or more
 * is summed chunk by chunk: threads take whole chunks (each its own im2col panels, no
 * split of a 147 x 64 result), and the partial sums are added in chunk order, so the
 * result does not depend on the thread count. The chunks are fixed by the shape. Measured
 * on Zen 4, two threads, the 7x7 first layer: batch 1 120 -> 149 GFLOP/s, batch 8 111 ->
 * 143 (one thread unchanged, 74 and 71). */
#define CHUNKED_MAX_FLOATS 32768
#define CHUNK_POSITIONS    3136
#define CHUNKED_MIN_CHUNKS 4
/* 1x1 layers too (A is x read as a 1x1 im2col), from two chunks and up to 64K floats of
 * result: measured on Zen 5 (one GEMM over every position, k = positions, against chunks;
 * one / two threads, GFLOP/s): 128 -> 512 on 28 x 28 batch 8 121 / 161 and 245 / 323; 64 ->
 * 256 on 56 x 56 batch 8 130 / 130 and 211-237 / 265-277. */
#define POINTWISE_CHUNKED_MAX_FLOATS 65536
#define POINTWISE_CHUNKED_MIN_CHUNKS 2

typedef struct chunk_gather {
    usine_conv_gather gather;
    int64_t first, chunk; /* item i packs positions first + i chunk on */
} chunk_gather;

/* usine_conv_pack_taps_by_positions on item's chunk of positions. */
static void pack_chunk(const void *ctx, int64_t item, int width, int64_t row0, int64_t rows,
                       int64_t p0, int64_t k, void *dst)
{
    const chunk_gather *c = (const chunk_gather *)ctx;
    usine_conv_pack_taps_by_positions(&c->gather, 0, width, row0, rows,
                                      c->first + item * c->chunk + p0, k, dst);
}

typedef struct sum_args {
    const float *partial; /* `parts` blocks of `count` floats */
    int64_t parts, count;
    float *dw;
} sum_args;

static void sum_body(void *arg, int index, int threads)
{
    const sum_args *a = (const sum_args *)arg;
    const int64_t per = (a->count + threads - 1) / threads;
    const int64_t i0 = index * per, i1 = i0 + per < a->count ? i0 + per : a->count;
    for (int64_t i = i0; i < i1; i++) {
        float v = a->partial[i];
        for (int64_t c = 1; c < a->parts; c++)
            v += a->partial[c * a->count + i];
        a->dw[i] = v;
    }
}

static int weights_chunked(const usine_conv_problem *p, int pointwise)
{
    const int64_t taps = p->r * p->s * p->c, positions = p->n * p->p * p->q;
    const int64_t max_floats = pointwise ? POINTWISE_CHUNKED_MAX_FLOATS : CHUNKED_MAX_FLOATS;
    const int64_t min_chunks = pointwise ? POINTWISE_CHUNKED_MIN_CHUNKS : CHUNKED_MIN_CHUNKS;
    return p->groups == 1 && p->layout == USINE_CONV_NHWC && p->dtype == USINE_F32 &&
           taps * p->k <= max_floats && positions >= min_chunks * CHUNK_POSITIONS;
}

/* The chunked weight gradient (weights_chunked): full chunks as one batch, the rest of the
 * positions as one more product, then the sums in chunk order. */
static void backward_weights_chunked(runner *rn, const usine_conv_problem *p,
                                     const usine_conv_tensors *t)
{
    const int64_t taps = p->r * p->s * p->c, positions = p->n * p->p * p->q;
    const int64_t chunks = positions / CHUNK_POSITIONS, rest = positions % CHUNK_POSITIONS;
    const int64_t parts = chunks + (rest > 0), count = taps * p->k;
    float *partial = (float *)scratch(rn, (size_t)(parts * count) * sizeof(float));
    const chunk_gather cg = {forward_gather(p, t->x, 0), 0, CHUNK_POSITIONS};
    const usine_gemm_virtual va = {pack_chunk, &cg};
    usine_gemm_shape s = gemm_shape(taps, p->k, CHUNK_POSITIONS, USINE_F32, USINE_F32, USINE_F32);
    s.b_rs = p->k; /* B(position, k) = dy[position K + k] */
    s.b_cs = 1;
    s.ldc = taps;
    usine_gemm_batch batch = one_batch(chunks, NULL, t->dy, partial);
    batch.stride_b = CHUNK_POSITIONS * p->k;
    batch.stride_c = count;
    gemm(rn, &s, &batch, &va, NULL);
    if (rest > 0) {
        const chunk_gather last = {cg.gather, chunks * CHUNK_POSITIONS, 0};
        const usine_gemm_virtual vl = {pack_chunk, &last};
        s.k = rest;
        const usine_gemm_batch one =
            one_batch(1, NULL, at(t->dy, USINE_F32, chunks * CHUNK_POSITIONS * p->k),
                      partial ? partial + chunks * count : NULL);
        gemm(rn, &s, &one, &vl, NULL);
    }
    if (rn->sizing)
        return;
    sum_args sa = {partial, parts, count, (float *)t->dw};
    const int threads = rn->exec->gemm.max_threads;
    usine_cpu_parallel(threads, sum_body, &sa);
}

static void backward_weights_gemm(runner *rn, const usine_conv_problem *p,
                                  const usine_conv_tensors *t, int pointwise)
{
    if (weights_chunked(p, pointwise)) {
        backward_weights_chunked(rn, p, t);
        return;
    }
    const int64_t kg = p->k / p->groups, cg = p->c / p->groups;
    const int64_t taps = p->r * p->s * cg, positions = p->n * p->p * p->q;
    for (int64_t g = 0; g < p->groups; g++) {
        const usine_conv_gather gx = forward_gather(p, t->x, g);
        const usine_gemm_virtual va = {usine_conv_pack_taps_by_positions, &gx};
        const int nhwc = p->layout == USINE_CONV_NHWC;
        const int direct_a = pointwise && nhwc;
        usine_gemm_shape s = gemm_shape(taps, kg, positions, direct_a ? p->dtype : USINE_F32,
                                        nhwc ? p->dtype : USINE_F32, p->dtype);
        s.a_rs = 1; /* pointwise NHWC A(c, position) = x[position C + g Cg + c] */
        s.a_cs = p->c;
        s.b_rs = p->k; /* NHWC B(position, kk) = dy[position K + g Kg + kk] */
        s.b_cs = 1;
        s.ldc = taps;
        const usine_gemm_batch batch = one_batch(1, direct_a ? at(t->x, p->dtype, g * cg) : NULL,
                                                 nhwc ? at(t->dy, p->dtype, g * kg) : NULL,
                                                 at_mut(t->dw, p->dtype, g * kg * taps));
        /* NCHW dy, positions x channels: a 1x1 "im2col" of dy, packed as B^T. */
        usine_conv_gather gdy = {t->dy,  p->dtype, p->layout, p->n, p->p, p->q, p->k,
                                 g * kg, kg,       p->p,      p->q, 1,    1,    0,
                                 0,      1,        1,         1,    1,    0};
        const usine_gemm_virtual vb = {usine_conv_pack_taps_by_positions, &gdy};
        gemm(rn, &s, &batch, direct_a ? NULL : &va, nhwc ? NULL : &vb);
    }
}

/* dbias[k] = sum of dy over n, p, q, in that order (threads split the channels). */
typedef struct bias_args {
    const usine_conv_problem *p;
    const void *dy;
    float *dbias;
} bias_args;

static float dy_value(const usine_conv_problem *p, const void *dy, int64_t index)
{
    return p->dtype == USINE_BF16 ? usine_bf16_to_f32(((const uint16_t *)dy)[index])
                                  : ((const float *)dy)[index];
}

static void bias_body(void *arg, int index, int count)
{
    const bias_args *a = (const bias_args *)arg;
    const usine_conv_problem *p = a->p;
    const int64_t pq = p->p * p->q;
    const int64_t per = (p->k + count - 1) / count;
    const int64_t k0 = index * per, k1 = k0 + per < p->k ? k0 + per : p->k;
    for (int64_t k = k0; k < k1; k++)
        a->dbias[k] = 0.0f;
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t i = 0; i < pq; i++)
            for (int64_t k = k0; k < k1; k++)
                a->dbias[k] += dy_value(p, a->dy,
                                        p->layout == USINE_CONV_NHWC ? (n * pq + i) * p->k + k
                                                                     : (n * p->k + k) * pq + i);
}

void usine_conv_bias_gradient(const usine_conv_problem *p, const void *dy, float *dbias,
                              int threads)
{
    bias_args a = {p, dy, dbias};
    usine_cpu_parallel(threads < p->k ? threads : (int)p->k, bias_body, &a);
}

/* ------------------------------------------------------------------ entry points */

static void run_pass(runner *rn, usine_conv_algo algo, usine_conv_pass pass,
                     const usine_conv_problem *p, const usine_conv_tensors *t)
{
    const int pointwise = algo == USINE_CONV_ALGO_GEMM1X1;
    switch (pass) {
    case USINE_CONV_FORWARD:
        if (rn->exec->variant == USINE_CONV_VARIANT_FILTERS_B)
            forward_nhwc_filters_b(rn, p, t);
        else if (p->layout == USINE_CONV_NHWC)
            forward_nhwc(rn, p, t, pointwise);
        else
            forward_nchw(rn, p, t, pointwise);
        break;
    case USINE_CONV_BACKWARD_DATA:
        if (pointwise)
            backward_data_pointwise(rn, p, t);
        else if (rn->exec->variant == USINE_CONV_VARIANT_TAP_SPLIT)
            backward_data_tap_split(rn, p, t);
        else if (col2im_serves(p))
            backward_data_col2im(rn, p, t);
        else
            backward_data_phases(rn, p, t);
        break;
    case USINE_CONV_BACKWARD_WEIGHTS:
        backward_weights_gemm(rn, p, t, pointwise);
        if (t && t->dbias && !rn->sizing)
            usine_conv_bias_gradient(p, t->dy, t->dbias, rn->exec->gemm.max_threads);
        break;
    }
}

size_t usine_conv_gemm_workspace_size(usine_conv_algo algo, usine_conv_pass pass,
                                      const usine_conv_problem *p, const usine_conv_exec *exec)
{
    static const usine_conv_tensors none = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    runner rn = {exec, 1, NULL, 0, 0, 0};
    run_pass(&rn, algo, pass, p, &none);
    return rn.scratch + align_up(rn.gemm_bytes);
}

void usine_conv_gemm_run(usine_conv_algo algo, usine_conv_pass pass, const usine_conv_problem *p,
                         const usine_conv_exec *exec, const usine_conv_tensors *t, void *workspace)
{
    static const usine_conv_tensors none = {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    runner sizing = {exec, 1, NULL, 0, 0, 0};
    run_pass(&sizing, algo, pass, p, &none);
    runner rn = {exec, 0, (char *)workspace, 0, 0, sizing.scratch};
    run_pass(&rn, algo, pass, p, t);
}
