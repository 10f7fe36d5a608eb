/*
 * The NHWC f32 weight gradient with dy and x read in place by the GEMM microkernel (the
 * implicit_gemm algorithm's direct variant for the backward weights): no im2col panels.
 *
 * dW[k, r, s, c] = the sum over positions (n, oh, ow) of dy[n, oh, ow, k] times
 * x[n, oh stride_h - pad_top + r dilation_h, ow stride_w - pad_left + s, c]. For filter row r
 * and one output row, the (s, c) of position ow are S C contiguous floats of an input row
 * (dilation_w 1) and those of successive positions stride_w C floats apart, while dy holds
 * the K channels of a position contiguous: the sum over an output row is the k loop of a
 * microkernel with A~(k, ow) = dy (in place, K floats apart) and B~(ow, (s, c)) the input row
 * read by rows, and successive output rows are its segments (ukr_segs). So a tile of dW (up
 * to MR channels k by NR of the (s, c) of one filter row) is one call per chunk of output
 * rows, where the im2col GEMM packs R S C floats per position first (the 7x7 first layer:
 * 147 floats per position in runs of 21, as long as the product itself at one thread).
 *
 * Where C is a multiple of NR, a tile's columns are the channels of one tap (r, s) and x is
 * read in place: the tile sums over the positions and output rows whose input pixel lies
 * inside the image (tap_in_place), nothing copied, no padding multiplied. Otherwise the input
 * rows a chunk of output rows (of one image) reads are copied, zero-padded, into a buffer of
 * each thread (none for a 1x1 stride-1 unpadded problem, whose rows are read in place), so
 * that every output row is one segment: where stride_h <= R each input row once,
 * output row i of the chunk and filter row r reading buffer row i stride_h + r dilation_h;
 * otherwise the R rows of each output row one after the other, leaving out the rows the
 * stride skips (1x1 stride 2: half the rows, half the buffer).
 * Copying R rows per output row for a 3x3 stride-1 layer too (each input row three times)
 * cost 3-6% (measured when 3x3 64 -> 64 on 56 x 56 still took the copies: two threads
 * 297-308 -> 306-326 GFLOP/s, one thread 159-165 -> 163-178; Zen 5, slow phase).
 * The sums go to a K x (R S C) temporary (a tile's channels contiguous, as the microkernel
 * stores them), one per part of the output rows (position_parts: one, or two for large dy
 * and x), which the threads add in part order and transpose into dW at the end. Threads own
 * (part, tile) pairs, and each tile adds its part's chunks in order, so the result does not
 * depend on the thread count.
 */
#include <string.h>

#include "conv_internal.h"
#include "../threading.h"

#define ALIGN 64

/* A chunk of output rows: about this many positions (each tile's sums are loaded and stored
 * once per chunk, so a chunk is a microkernel call this deep), with the padded input rows
 * up to this many bytes (they stay in L2 while every tile runs over them). */
#define CHUNK_POSITIONS 256
#define CHUNK_X_BYTES   (512 * 1024)
/* Tiles of dy's channels run in blocks whose share of the chunk's dy stays in L2 (dy is read
 * in place, once per column panel of the block). */
#define BLOCK_DY_BYTES (192 * 1024)

static size_t align_up(size_t x)
{
    return (x + ALIGN - 1) / ALIGN * ALIGN;
}

/* The tiles over K: `full` tiles of MR channels, then edge tiles each exactly as wide as the
 * kernel reads (A is read in place: a kernel reads all the rows of its tile). */
#define MAX_EDGE_TILES 8

typedef struct k_tiles {
    const usine_gemm_kernel *kernel;
    int64_t full, count;
    int n_edge;
    int edge_rows[MAX_EDGE_TILES];
    usine_gemm_ukr_segs_fn *edge_segs[MAX_EDGE_TILES];
} k_tiles;

/* 0 if K is covered exactly by tiles with a segmented microkernel. A small rest goes with
 * the last full tile into two tiles of an edge kernel where they fill both exactly
 * (usine_gemm_pair_edge: 48 + 16 channels as 32 + 32): the 16-row tile has 8 accumulators
 * against 16, and took 31% of the microkernel time of 3x3 64 -> 64 on 56 x 56 for 25% of
 * its work; paired, that layer's weight gradient went from 184-185 to 189-192 GFLOP/s at
 * one thread (Zen 5, four alternating runs; two threads: no change beyond the noise). */
static int plan_k_tiles(const usine_gemm_kernel *kernel, int64_t k, k_tiles *kt)
{
    kt->kernel = kernel;
    kt->full = k / kernel->mr;
    kt->n_edge = 0;
    int64_t rest = k - kt->full * kernel->mr;
    const usine_gemm_edge *pair = usine_gemm_pair_edge(kernel, kt->full, rest);
    if (pair && pair->ukr_segs && 2 * pair->mr == kernel->mr + rest) {
        kt->full--;
        for (; kt->n_edge < 2; kt->n_edge++) {
            kt->edge_rows[kt->n_edge] = pair->mr;
            kt->edge_segs[kt->n_edge] = pair->ukr_segs;
        }
        rest = 0;
    }
    while (rest > 0) {
        int best = -1;
        for (int e = 0; e < kernel->n_edges; e++)
            if (kernel->edges[e].mr <= rest && kernel->edges[e].ukr_segs &&
                (best < 0 || kernel->edges[e].mr > kernel->edges[best].mr))
                best = e;
        if (best < 0 || kt->n_edge == MAX_EDGE_TILES)
            return -1;
        kt->edge_rows[kt->n_edge] = kernel->edges[best].mr;
        kt->edge_segs[kt->n_edge++] = kernel->edges[best].ukr_segs;
        rest -= kernel->edges[best].mr;
    }
    kt->count = kt->full + kt->n_edge;
    return kernel->ukr_segs || kt->full == 0 ? 0 : -1;
}

/* Tile i: its first channel and rows, and its microkernel. */
static usine_gemm_ukr_segs_fn *k_tile(const k_tiles *kt, int64_t i, int64_t *k0, int *rows)
{
    const int mr = kt->kernel->mr;
    if (i < kt->full) {
        *k0 = i * mr;
        *rows = mr;
        return kt->kernel->ukr_segs;
    }
    *k0 = kt->full * mr;
    for (int64_t e = 0; e < i - kt->full; e++)
        *k0 += kt->edge_rows[e];
    *rows = kt->edge_rows[i - kt->full];
    return kt->edge_segs[i - kt->full];
}

int usine_conv_direct_weights_serves(const usine_conv_problem *p, const usine_gemm_kernel *kernel)
{
    k_tiles kt;
    return p->layout == USINE_CONV_NHWC && p->dtype == USINE_F32 && p->groups == 1 &&
           p->dilation_w == 1 &&
           (!kernel || (kernel->k_unit == 1 && kernel->in_type == USINE_F32 && kernel->nr <= 16 &&
                        plan_k_tiles(kernel, p->k, &kt) == 0));
}

/* Floats of one padded input row: the S C of every position, stride_w C apart. */
static int64_t padded_row(const usine_conv_problem *p)
{
    return ((p->q - 1) * p->stride_w + p->s) * p->c;
}

/* Where a chunk's input rows lie in the buffer: output row i and filter row r read buffer
 * row i per_output + r per_tap (see above). */
typedef struct row_layout {
    int64_t per_output, per_tap;
    int shared; /* each input row once (buffer row j is input row j of the chunk's first) */
} row_layout;

static row_layout layout_of(const usine_conv_problem *p)
{
    if (p->stride_h <= p->r)
        return (row_layout){p->stride_h, p->dilation_h, 1};
    return (row_layout){p->r, 1, 0};
}

/* Output rows per chunk (fixed by the shape: the order of the sums depends on it); a chunk
 * ends early at the end of an image. */
static int64_t chunk_rows(const usine_conv_problem *p)
{
    const int64_t x_row = layout_of(p).per_output * padded_row(p) * (int64_t)sizeof(float);
    int64_t rows = (CHUNK_POSITIONS + p->q - 1) / p->q;
    if (rows > CHUNK_X_BYTES / x_row)
        rows = CHUNK_X_BYTES / x_row;
    return rows < 1 ? 1 : rows;
}

/* Channels of dy per block of tiles for chunks of `rows` output rows (at least one: rows of
 * over 48K positions would make it zero). */
static int64_t block_channels(const usine_conv_problem *p, int64_t rows)
{
    const int64_t channels = BLOCK_DY_BYTES / (rows * p->q * (int64_t)sizeof(float));
    return channels > 1 ? channels : 1;
}

/* A 1x1 stride-1 unpadded problem reads its input rows in place: output row g's row is x's
 * row g, and successive ones are a row apart, as the copies would be (measured on Zen 5, the
 * 1x1 256 -> 64 on 56 x 56 at batch 8, copies / in place: 156 / 179 GFLOP/s on one thread,
 * 239-249 / 287 on two). */
static int rows_in_place(const usine_conv_problem *p)
{
    return p->r == 1 && p->s == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 &&
           p->pad_left == 0 && p->p == p->h && p->q == p->w;
}

/* Where the tiles' columns never straddle two taps (C a multiple of NR), x is read in place:
 * a tile of tap (r, s) runs over the positions and output rows whose input pixel lies inside
 * the image only, so that nothing is copied and no padding is multiplied (as the forward's
 * direct variant). Against the copies, on Zen 5 at two threads: 3x3 128 -> 128 on 28 x 28
 * 347-361 -> 374-383 GFLOP/s, the six 3x3 and 7x7 layers of the ResNet-50 test set 342-357
 * -> 359-366 (geometric mean, three alternating runs; one thread 192-199 -> 198-200). */
static int taps_in_place(const usine_conv_problem *p, const usine_gemm_kernel *kernel)
{
    return p->c % kernel->nr == 0;
}

/* The buffer rows of a chunk of `rows` output rows. */
static int64_t buffer_rows(const usine_conv_problem *p, int64_t rows)
{
    const row_layout l = layout_of(p);
    return (rows - 1) * l.per_output + (p->r - 1) * l.per_tap + 1;
}

static size_t buffer_bytes(const usine_conv_problem *p, const usine_gemm_kernel *kernel)
{
    if (rows_in_place(p) || taps_in_place(p, kernel))
        return 0;
    return align_up((size_t)(buffer_rows(p, chunk_rows(p)) * padded_row(p)) * sizeof(float));
}

/* Floats of one set of sums: K x taps. */
static int64_t sums_count(const usine_conv_problem *p)
{
    return p->k * p->r * p->s * p->c;
}

/*
 * The output rows are summed in this many parts (fixed by the shape, never by the thread
 * count, so that the result is too), each into its own sums, added in part order at the
 * end. Threads split the parts first, then a part's tiles. With one part, every thread reads
 * all of dy and most of x's lines (its columns are a few lines of each position): twice the
 * traffic of a split by positions where they outgrow L2. But a part has all the sums, which
 * every chunk loads and stores again, twice a tile split's share: two parts pay only where
 * the sums are small beside a chunk's dy and x (at most an eighth) and dy and x take more
 * than PARTS_MIN_BYTES. Measured on Zen 5, two threads, alternating, five runs (one part /
 * two, GFLOP/s): 1x1 64 -> 64 on 56 x 56 batch 8 234-267 / 281-322, batch 1 267-307 /
 * 271-313 (sums an eighth of a chunk); 1x1 256 -> 64 batch 8 245-276 / 245-263 (a fifth);
 * 3x3 64 on 56 x 56 batch 1 328-368 / 303-327 and 3x3 128 on 28 x 28 batch 8 360-383 /
 * 346-379 (sums larger than a chunk).
 */
#define PARTS_MIN_BYTES (1024 * 1024)

static int64_t position_parts(const usine_conv_problem *p)
{
    const int64_t dy = p->n * p->p * p->q * p->k, x = p->n * p->h * p->w * p->c;
    const int64_t chunk = chunk_rows(p), chunk_data = chunk * p->q * (p->k + p->c);
    /* Two chunks or more: then each half has one (part_rows). */
    const int64_t chunks = p->n * ((p->p + chunk - 1) / chunk);
    return chunks >= 2 && (dy + x) * (int64_t)sizeof(float) > PARTS_MIN_BYTES &&
                   8 * sums_count(p) <= chunk_data
               ? 2
               : 1;
}

static size_t sums_bytes(const usine_conv_problem *p)
{
    return align_up((size_t)(position_parts(p) * sums_count(p)) * sizeof(float));
}

size_t usine_conv_direct_weights_workspace_size(const usine_conv_problem *p,
                                                const usine_conv_exec *exec)
{
    return sums_bytes(p) + (size_t)exec->gemm.max_threads * buffer_bytes(p, exec->gemm.kernel);
}

typedef struct weights_args {
    const usine_conv_problem *p;
    const k_tiles *kt;
    const float *x, *dy;
    float *dw, *sums; /* sums: one set per part (position_parts) */
    char *buffers;    /* one of buffer_bytes per thread */
    int64_t col_panels, units, parts;
} weights_args;

/* The buffer rows of output rows oh0 .. oh0 + rows - 1 of image n (layout_of). */
static void copy_rows(const usine_conv_problem *p, const float *x, int64_t n, int64_t oh0,
                      int64_t rows, float *buf)
{
    const int64_t len = padded_row(p), cols = len / p->c;
    /* padded column j holds input column j - pad_left: those inside [0, W) */
    const int64_t lo = p->pad_left < cols ? p->pad_left : cols;
    const int64_t hi = p->pad_left + p->w < cols ? p->pad_left + p->w : cols;
    const row_layout l = layout_of(p);
    const int64_t top = oh0 * p->stride_h - p->pad_top;
    for (int64_t j = 0; j < buffer_rows(p, rows); j++, buf += len) {
        const int64_t ih =
            l.shared ? top + j : top + j / p->r * p->stride_h + j % p->r * p->dilation_h;
        if (ih < 0 || ih >= p->h || hi <= lo) {
            memset(buf, 0, (size_t)len * sizeof *buf);
            continue;
        }
        memset(buf, 0, (size_t)(lo * p->c) * sizeof *buf);
        memcpy(buf + lo * p->c, x + ((n * p->h + ih) * p->w + lo - p->pad_left) * p->c,
               (size_t)((hi - lo) * p->c) * sizeof *buf);
        memset(buf + hi * p->c, 0, (size_t)((cols - hi) * p->c) * sizeof *buf);
    }
}

/* Unit u: tile k_tile(u % tiles) of filter row r, columns j0 .. j0 + n of (s, c). */
typedef struct unit {
    int64_t r, j0, k0;
    int n, rows;
    usine_gemm_ukr_segs_fn *segs;
} unit;

static unit unit_at(const weights_args *a, int64_t u)
{
    const usine_conv_problem *p = a->p;
    const int64_t run = p->s * p->c, nr = a->kt->kernel->nr;
    unit t;
    t.segs = k_tile(a->kt, u % a->kt->count, &t.k0, &t.rows);
    t.j0 = u / a->kt->count % a->col_panels * nr;
    t.r = u / (a->kt->count * a->col_panels);
    t.n = (int)(run - t.j0 < nr ? run - t.j0 : nr);
    return t;
}

/* The thread's units: those whose work (rows x columns, in unit order) starts in its share. */
static void my_units(const weights_args *a, int index, int count, int64_t *u0, int64_t *u1)
{
    int64_t total = 0;
    for (int64_t u = 0; u < a->units; u++) {
        const unit t = unit_at(a, u);
        total += (int64_t)t.rows * t.n;
    }
    const int64_t lo = total * index / count, hi = total * (index + 1) / count;
    int64_t done = 0;
    *u0 = *u1 = a->units;
    for (int64_t u = 0; u < a->units; u++) {
        const unit t = unit_at(a, u);
        if (done >= lo && *u0 == a->units)
            *u0 = u;
        if (done >= hi) {
            *u1 = u;
            break;
        }
        done += (int64_t)t.rows * t.n;
    }
    if (*u1 < *u0)
        *u1 = *u0;
}

/* Unit t's sums over output rows oh0 .. oh0 + rows - 1 of image n, x read in place
 * (taps_in_place) into `sums`; first: the part's first chunk, which writes the sums (beta
 * 0), even empty. */
static void tap_in_place(const weights_args *a, const unit *t, int64_t n, int64_t oh0, int64_t rows,
                         float *sums, int first)
{
    const usine_conv_problem *p = a->p;
    const int64_t s = t->j0 / p->c, c0 = t->j0 % p->c, row = p->w * p->c;
    int64_t i_lo, i_hi, ow_lo, ow_hi;
    usine_conv_inside(rows, p->stride_h, oh0 * p->stride_h - p->pad_top + t->r * p->dilation_h,
                      p->h, &i_lo, &i_hi);
    usine_conv_inside(p->q, p->stride_w, s - p->pad_left, p->w, &ow_lo, &ow_hi);
    const int64_t segs = ow_lo < ow_hi ? i_hi - i_lo : 0;
    const float one = 1.0f, zero = 0.0f;
    const float *dy = a->dy, *x = a->x; /* not read when there is nothing to sum */
    if (segs > 0) {
        const int64_t ih = (oh0 + i_lo) * p->stride_h - p->pad_top + t->r * p->dilation_h;
        const int64_t iw = ow_lo * p->stride_w - p->pad_left + s;
        dy += ((n * p->p + oh0 + i_lo) * p->q + ow_lo) * p->k + t->k0;
        x += (n * p->h + ih) * row + iw * p->c + c0;
    }
    t->segs(ow_hi - ow_lo, (int)segs, dy, p->k, p->q * p->k, x, p->stride_w * p->c, 1,
            p->stride_h * row, sums + (t->r * p->s * p->c + t->j0) * p->k + t->k0, p->k, t->rows,
            t->n, &one, first ? &zero : &one);
}

/* The first chunk start at or after output row `at` of the n P (a chunk starts at an
 * image's row 0 or chunk_rows after the previous one); n P when none. */
static int64_t chunk_start_from(const usine_conv_problem *p, int64_t at)
{
    const int64_t image = at - at % p->p, chunk = chunk_rows(p);
    const int64_t start = image + (at % p->p + chunk - 1) / chunk * chunk;
    return start < image + p->p ? start : image + p->p;
}

/* The output rows of part `part`: [*g0, *g1) of the n P, whole chunks. */
static void part_rows(const usine_conv_problem *p, int64_t part, int64_t parts, int64_t *g0,
                      int64_t *g1)
{
    const int64_t total = p->n * p->p;
    *g0 = chunk_start_from(p, total * part / parts);
    *g1 = chunk_start_from(p, total * (part + 1) / parts);
}

/* Units u0 .. u1 - 1 summed over the output rows of one part into its sums. */
static void sum_part(const weights_args *a, int64_t part, int64_t u0, int64_t u1, float *buf)
{
    const usine_conv_problem *p = a->p;
    const int64_t chunk = chunk_rows(p), len = padded_row(p);
    const int by_taps = taps_in_place(p, a->kt->kernel);
    const int in_place = rows_in_place(p);
    const row_layout layout = layout_of(p);
    const float one = 1.0f, zero = 0.0f;
    float *const sums = a->sums + part * sums_count(p);
    const int64_t block = block_channels(p, chunk);
    int64_t first_row, end_row;
    part_rows(p, part, a->parts, &first_row, &end_row);
    for (int64_t g0 = first_row; g0 < end_row;) {
        /* output rows g0 .. g0 + rows - 1 of image n */
        const int64_t n = g0 / p->p, oh0 = g0 % p->p;
        const int64_t rows = p->p - oh0 < chunk ? p->p - oh0 : chunk;
        const float *const x_rows = in_place ? a->x + g0 * len : buf;
        const int first = g0 == first_row;
        if (!in_place && !by_taps)
            copy_rows(p, a->x, n, oh0, rows, buf);
        for (int64_t b0 = 0; b0 < p->k; b0 += block)
            for (int64_t u = u0; u < u1; u++) {
                const unit t = unit_at(a, u);
                if (t.k0 < b0 || t.k0 >= b0 + block)
                    continue;
                if (by_taps) {
                    tap_in_place(a, &t, n, oh0, rows, sums, first);
                    continue;
                }
                t.segs(p->q, (int)rows, a->dy + g0 * p->q * p->k + t.k0, p->k, p->q * p->k,
                       x_rows + t.r * layout.per_tap * len + t.j0, p->stride_w * p->c, 1,
                       layout.per_output * len, sums + (t.r * p->s * p->c + t.j0) * p->k + t.k0,
                       p->k, t.rows, t.n, &one, first ? &zero : &one);
            }
        g0 += rows;
    }
}

/* dW[k, (r, s, c)] from the sums' column (r, s, c) of every part, added in part order, for
 * units u0 .. u1 - 1. */
static void store_gradient(const weights_args *a, int64_t u0, int64_t u1)
{
    const usine_conv_problem *p = a->p;
    const int64_t taps = p->r * p->s * p->c, part_size = sums_count(p);
    for (int64_t u = u0; u < u1; u++) {
        const unit t = unit_at(a, u);
        const int64_t col0 = t.r * p->s * p->c + t.j0;
        for (int64_t i = 0; i < t.rows; i++)
            for (int j = 0; j < t.n; j++) {
                const float *sum = a->sums + (col0 + j) * p->k + t.k0 + i;
                float v = sum[0];
                for (int64_t part = 1; part < a->parts; part++)
                    v += sum[part * part_size];
                a->dw[(t.k0 + i) * taps + col0 + j] = v;
            }
    }
}

/* Thread `index` of `count`: with at least as many threads as parts, part index % parts and
 * a share of its units; else every unit of parts index, index + count, ... Then, once every
 * part is summed, its share of the gradient. */
static void weights_body(void *arg, int index, int count)
{
    const weights_args *a = (const weights_args *)arg;
    float *const buf = (float *)(a->buffers + (size_t)index * buffer_bytes(a->p, a->kt->kernel));
    int64_t u0, u1;
    if (count >= a->parts) {
        const int64_t part = index % a->parts, member = index / a->parts;
        const int64_t members = count / a->parts + (part < count % a->parts ? 1 : 0);
        my_units(a, (int)member, (int)members, &u0, &u1);
        if (u0 < u1)
            sum_part(a, part, u0, u1, buf);
    } else {
        for (int64_t part = index; part < a->parts; part += count)
            sum_part(a, part, 0, a->units, buf);
    }
    if (a->parts > 1 && count > 1) /* every part's sums before any is added */
        usine_cpu_barrier();
    my_units(a, index, count, &u0, &u1);
    store_gradient(a, u0, u1);
}

void usine_conv_direct_weights_run(const usine_conv_problem *p, const usine_conv_exec *exec,
                                   const usine_conv_tensors *t, void *workspace)
{
    k_tiles kt;
    plan_k_tiles(exec->gemm.kernel, p->k, &kt);
    const int64_t nr = exec->gemm.kernel->nr, col_panels = (p->s * p->c + nr - 1) / nr;
    weights_args a = {p,
                      &kt,
                      (const float *)t->x,
                      (const float *)t->dy,
                      (float *)t->dw,
                      (float *)workspace,
                      (char *)workspace + sums_bytes(p),
                      col_panels,
                      p->r * col_panels * kt.count,
                      position_parts(p)};
    const int threads = exec->gemm.max_threads;
    if (p->n * p->p * p->q == 0) /* no positions: the gradient is zero */
        memset(t->dw, 0, (size_t)(p->k * p->r * p->s * p->c) * sizeof(float));
    else
        usine_cpu_parallel(a.units < threads ? (int)a.units : threads, weights_body, &a);
    if (t->dbias)
        usine_conv_bias_gradient(p, t->dy, t->dbias, threads);
}
