#include "gemm_driver.h"

#include <string.h>

#include "../threading.h"

/* Work below which a second thread costs more (team start-up, duplicated packing) than it
 * saves: 2^22 flops is ~40 us on one AVX-512 core, ten times an OpenMP fork/join. */
#define MIN_FLOPS_PER_THREAD (1 << 22)

/* Workspace pieces start on cache-line boundaries (the panels are read with aligned
 * vector loads). */
#define ALIGN 64

/* Relative costs used to choose how threads split C: one packed element costs about as
 * much as 16 flops on a core that retires 32 flops per cycle (a pack moves ~2 elements
 * per cycle). Only the ratio matters. */
#define PACK_COST_IN_FLOPS 16

typedef union scalar {
    float f32;
    double f64;
    int32_t s32;
} scalar;

static scalar to_scalar(usine_dtype dtype, double x)
{
    scalar s;
    memset(&s, 0, sizeof s);
    if (dtype == USINE_F32)
        s.f32 = (float)x;
    else if (dtype == USINE_S32)
        s.s32 = (int32_t)x; /* 0 or 1: int8 kernels get alpha 1 and beta 0 or 1 */
    else
        s.f64 = x;
    return s;
}

size_t usine_cpu_gemm_dtype_size(usine_dtype dtype)
{
    return dtype == USINE_F32 || dtype == USINE_S32 ? 4 : dtype == USINE_F64 ? 8 : 0;
}

size_t usine_dtype_storage_size(usine_dtype dtype)
{
    switch (dtype) {
    case USINE_F64:
        return 8;
    case USINE_F32:
    case USINE_S32:
        return 4;
    case USINE_BF16:
    case USINE_F16:
        return 2;
    case USINE_S8:
    case USINE_U8:
        return 1;
    }
    return 0;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* The block size that splits `total` into as few blocks of at most about `block` as
 * possible, all equal up to a multiple of `unit`. */
static int64_t balanced(int64_t total, int64_t block, int64_t unit)
{
    const int64_t blocks = ceil_div(total, block);
    return ceil_div(ceil_div(total, blocks), unit) * unit;
}

/* Rows of A per packed block: MC, or more when K is shallower than KC. The block is
 * sized for L2 in bytes (MC x KC elements), so a 1x1 convolution's 64-deep product keeps
 * all its filters in one block instead of several that each stream B again (and, with
 * more than one block, pack it). Measured on Zen 5, one thread, 1x1 64 -> 256 on 56 x 56
 * (two blocks of MC 192 before): +1-3%, the other ResNet-50 1x1 layers level. */
#define BLOCK_ROWS_MAX_GROWTH 16
static int64_t block_rows(const usine_gemm_plan *plan, int64_t k, int64_t ku)
{
    const usine_gemm_blocking *b = &plan->blocking;
    if (k <= 0)
        return b->mc;
    const int64_t mr = plan->kernel->mr, kb = balanced(k, b->kc, ku);
    if (kb >= b->kc)
        return b->mc;
    const int64_t grown = b->mc * b->kc / kb / mr * mr;
    return grown < b->mc ? b->mc : min64(grown, BLOCK_ROWS_MAX_GROWTH * b->mc);
}

static size_t align_up(size_t x)
{
    return (x + ALIGN - 1) / ALIGN * ALIGN;
}

/* ------------------------------------------------------------------ C-only cases */

/* C = beta * C for alpha == 0 or k == 0; beta == 0 writes zeros without reading C. */
static void scale_c(usine_dtype dtype, int64_t m, int64_t n, void *c, int64_t ldc, double beta)
{
    if (beta == 1.0)
        return;
    for (int64_t j = 0; j < n; j++) {
        if (dtype == USINE_F32) {
            float *col = (float *)c + j * ldc;
            const float b = (float)beta;
            for (int64_t i = 0; i < m; i++)
                col[i] = b == 0.0f ? 0.0f : b * col[i];
        } else {
            double *col = (double *)c + j * ldc;
            for (int64_t i = 0; i < m; i++)
                col[i] = beta == 0.0 ? 0.0 : beta * col[i];
        }
    }
}

/* ------------------------------------------------------------------ row panels */

/* One A panel: `width` rows wide (the kernel's MR), `rows` of them real. */
typedef struct row_panel {
    int width, rows;
    usine_gemm_ukr_fn *ukr, *ukr_bt;
    usine_gemm_pack_fn *pack;
} row_panel;

static row_panel main_panel(const usine_gemm_kernel *kernel)
{
    return (row_panel){kernel->mr, kernel->mr, kernel->ukr, kernel->ukr_bt, kernel->pack_a};
}

static row_panel edge_panel(const usine_gemm_edge *edge)
{
    return (row_panel){edge->mr, edge->mr, edge->ukr, edge->ukr_bt, edge->pack_a};
}

/* Splits the last `rem` (< MR) rows of a block into panels: the narrowest kernel that
 * covers them, unless it would waste a whole narrow panel's worth of lanes, in which
 * case the widest kernel that fits goes first. Returns the number of panels (<= 3). */
static int split_remainder(const usine_gemm_kernel *kernel, int rem, row_panel out[3])
{
    int count = 0;
    const int narrowest = kernel->n_edges ? kernel->edges[kernel->n_edges - 1].mr : kernel->mr;
    while (rem > 0 && count < 3) {
        row_panel cover = main_panel(kernel);
        row_panel fit = {0, 0, NULL, NULL, NULL};
        for (int e = 0; e < kernel->n_edges; e++) {
            const usine_gemm_edge *edge = &kernel->edges[e];
            if (edge->mr >= rem && edge->mr < cover.width)
                cover = edge_panel(edge);
            if (edge->mr <= rem && edge->mr > fit.width)
                fit = edge_panel(edge);
        }
        row_panel take = (cover.width - rem >= narrowest && fit.width > 0) ? fit : cover;
        take.rows = take.width < rem ? take.width : rem;
        out[count++] = take;
        rem -= take.rows;
    }
    return count;
}

const usine_gemm_edge *usine_gemm_pair_edge(const usine_gemm_kernel *kernel, int64_t full_panels,
                                            int64_t rem)
{
    if (full_panels < 1 || rem <= 0 || 3 * rem > kernel->mr)
        return NULL;
    const usine_gemm_edge *pair = NULL;
    for (int e = 0; e < kernel->n_edges; e++) {
        const usine_gemm_edge *edge = &kernel->edges[e];
        if (2 * edge->mr >= kernel->mr + rem && edge->mr < kernel->mr &&
            (!pair || edge->mr < pair->mr))
            pair = edge;
    }
    return pair;
}

/* The last full panel and the remainder as two panels (usine_gemm_pair_edge); returns 2, or
 * 0 where they stay apart. (The 64 filters of 1x1 64 -> 64 on 56 x 56: 6% faster.) */
static int pair_last_panel(const usine_gemm_kernel *kernel, int64_t full, int rem, row_panel out[2])
{
    const usine_gemm_edge *pair = usine_gemm_pair_edge(kernel, full / kernel->mr, rem);
    if (!pair)
        return 0;
    out[0] = edge_panel(pair);
    out[1] = edge_panel(pair);
    out[1].rows = kernel->mr + rem - pair->mr;
    return 2;
}

/* ------------------------------------------------------------------ one thread's GEMM */

typedef struct sub_problem {
    const usine_gemm_plan *plan;
    const usine_gemm_shape *shape;
    size_t es;         /* the kernel's element: the tiles it stores */
    size_t pes;        /* an element of the packed panels */
    int64_t ku;        /* the kernel's k_unit */
    size_t a_es, b_es; /* A's and B's elements as stored */
    const scalar *alpha, *beta, *one, *zero;
    int narrow; /* C's dtype differs from the kernel's, or int8: sums go to a temporary */
    int int8;   /* an int8 kernel: zero points and sign flips compensated in the epilogue */
    int32_t zero_a, zero_b; /* int8: zero points of the packed A and B values */
    /* Virtual operands (usine_cpu_gemm_run_virtual), NULL for stored ones, and the batch
     * item being computed (passed to their packers). */
    const usine_gemm_virtual *virt_a, *virt_b;
    int64_t item;
} sub_problem;

/* The packed type of A's (b = 0) or B's (b = 1) panels: the kernel's in_type, except for
 * int8 kernels whose B panels are s8. */
static usine_dtype packed_type(const usine_gemm_kernel *kernel, int b)
{
    return kernel->in_type == USINE_U8 && b ? USINE_S8 : kernel->in_type;
}

/* Packs a panel of width W from an operand of type src: with the kernel's packer when src
 * is the panel's type, converting otherwise (int8: flipping the sign bit). */
static void pack_panel(const sub_problem *sp, int width, usine_gemm_pack_fn *native, int b,
                       usine_dtype src, int64_t rows, int64_t k, const char *x, int64_t rs,
                       int64_t cs, char *dst)
{
    if (src == packed_type(sp->plan->kernel, b))
        native(rows, k, x, rs, cs, dst);
    else
        sp->plan->kernel->pack_convert(width, src, rows, k, x, rs, cs, dst);
}

/* Bytes of a packed panel `width` rows wide and k deep (k rounded up to the k unit). */
static int64_t panel_bytes(const sub_problem *sp, int64_t width, int64_t k)
{
    return width * ceil_div(k, sp->ku) * sp->ku * (int64_t)sp->pes;
}

/* Where the microkernels store: C itself, or the thread's temporary for a narrow C. The
 * tile of global element (i, j) is at base + ((i - row0) + (j - col0) * ld) elements. */
typedef struct c_target {
    char *base;
    int64_t ld, row0, col0;
    const usine_epilogue *epilogue; /* run after each tile's last pass; NULL: none */
} c_target;

static char *target_at(const sub_problem *sp, const c_target *t, int64_t i, int64_t j)
{
    return t->base + ((i - t->row0) + (j - t->col0) * t->ld) * (int64_t)sp->es;
}

/* Asks for `bytes` at p in L2: the next B micro-panel comes from L3 while the current
 * one is still in use, instead of stalling the first microkernel call that needs it. */
static void prefetch_l2(const char *p, size_t bytes)
{
    for (size_t off = 0; off < bytes; off += 64)
        __builtin_prefetch(p + off, 0, 2);
}

/* Packing pays for itself through reuse: a packed B panel serves every A panel of the
 * block, a packed A panel every B panel. With few of the other kind (C only this many
 * tiles high or wide), the microkernel reads the operand in place instead, when its
 * layout allows (A: columns contiguous; B: rows or columns contiguous), unless A's
 * columns are a multiple of 4 KiB apart: then every column of a panel falls in the same
 * L1 set and in few L2 sets, so the panel does not stay cached between the B panels that
 * reread it (measured on Zen 4: the 1x1 backward data 512 -> 2048 channels on 7 x 7,
 * columns 8 KiB apart, 49 columns, 66-75 GFLOP/s in place, 82-90 packed). A is also read
 * in place when its columns are close together (at least two per 4 KiB page): the block
 * then stays in L2 and in the TLB as well as a packed copy would (measured on Zen 4: +2%
 * at 256^3 and 512^3, -2% at 1024^3 where columns are a page apart).
 * B is read in place for any number of rows too when they make one block (B is then read
 * once whatever happens, and packing only adds a copy) and its columns are contiguous
 * (each column of an NR-column panel one run of memory, through ukr_bt). Measured on Zen 4,
 * one thread: 128 x 3136 x 256 102 -> 112 GFLOP/s (1x1 convolutions with 128-288
 * filters), 200 x 3000 x 768 100 -> 105, 192 x 1024 x 4000 103 -> 110, 256 x 2048 x 2048
 * (columns 8 KiB apart) 104 -> 105; with 384 rows (two blocks) no gain, 2048 rows -5%. */
#define DIRECT_B_MAX_ROW_TILES    2
#define DIRECT_A_MAX_COLS         160
#define DIRECT_A_MAX_COLUMN_BYTES 2048
#define DIRECT_MIN_BYTES_PER_STEP 128
#define DIRECT_A_ALIASED_BYTES    4096

/* Whether a block `cols` wide reads A in place rather than packed (see above). Only for
 * kernels that take at least two cache lines of each column per k step: with fewer (AVX2
 * 16x6 reads 64 bytes), the misses and page walks of a column per step cost more than
 * the packing saves (measured: AVX2 on 3072 x 128 x 1024 at 44% of peak in place). */
static int reads_a_in_place(const sub_problem *sp, int64_t cols)
{
    const usine_gemm_shape *s = sp->shape;
    const int64_t es = (int64_t)sp->es;
    return !sp->plan->blocking.pack && !sp->virt_a && s->a_type == sp->plan->kernel->in_type &&
           sp->ku == 1 && s->a_rs == 1 && sp->plan->kernel->mr * es >= DIRECT_MIN_BYTES_PER_STEP &&
           ((cols <= DIRECT_A_MAX_COLS && s->a_cs * es % DIRECT_A_ALIASED_BYTES != 0) ||
            s->a_cs * es <= DIRECT_A_MAX_COLUMN_BYTES);
}

/* Where the microkernels find B for one block: packed panels or B itself. */
typedef struct b_source {
    int direct;        /* full panels are read in place */
    int by_columns;    /* ... through ukr_bt (columns of B contiguous) */
    const char *base;  /* B(pc, jc) when direct */
    int64_t step, col; /* microkernel step; elements between successive columns */
} b_source;

static b_source choose_b(const sub_problem *sp, const char *b, int64_t rows, int64_t pc, int64_t jc)
{
    const usine_gemm_shape *s = sp->shape;
    const usine_gemm_kernel *kernel = sp->plan->kernel;
    b_source src = {0, 0, NULL, kernel->nr, 0};
    const int few_rows = ceil_div(rows, kernel->mr) <= DIRECT_B_MAX_ROW_TILES;
    const int one_block_by_columns = rows <= block_rows(sp->plan, s->k, sp->ku) && s->b_rs == 1;
    if (sp->plan->blocking.pack || sp->virt_b || s->b_type != kernel->in_type || sp->ku != 1 ||
        !(few_rows || one_block_by_columns) || (s->b_cs != 1 && s->b_rs != 1))
        return src;
    src.direct = 1;
    src.by_columns = s->b_cs != 1;
    src.base = b + (pc * s->b_rs + jc * s->b_cs) * (int64_t)sp->b_es;
    src.step = src.by_columns ? s->b_cs : s->b_rs;
    src.col = s->b_cs;
    return src;
}

/* The A panels of one block: `full` rows in MR-row panels (packed, or read in place),
 * then up to three narrower edge panels and two single rows, always packed. */
typedef struct a_panels {
    const char *full_base;
    int64_t full, step, stride; /* rows; microkernel step; bytes between full panels */
    row_panel edge[5];
    int n_edge;
    const char *edge_base;
} a_panels;

/* One B panel (NR columns) as the microkernels read it. */
typedef struct b_panel {
    const char *base;
    int64_t step;
    int by_columns;
    const char *next; /* the next packed panel, to prefetch into L2; NULL if none */
} b_panel;

/* Runs every A panel of the block against one B panel: a column of C tiles at rows
 * [ic, ic + full + edges), columns [jc, jc + n_eff). The epilogue follows the last pass. */
static void tile_column(const sub_problem *sp, const a_panels *ap, int64_t kb, const b_panel *bp,
                        const c_target *target, int64_t ic, int64_t jc, int n_eff,
                        const void *alpha, const void *beta, int last)
{
    const usine_gemm_kernel *kernel = sp->plan->kernel;
    const int64_t ldc = target->ld, es = (int64_t)sp->es, mr = kernel->mr;
    char *c_col = target_at(sp, target, ic, jc);
    usine_gemm_ukr_fn *ukr = bp->by_columns ? kernel->ukr_bt : kernel->ukr;
    /* The next B panel is fetched into L2 a slice per microkernel call, so that it is
     * there when this column of tiles is done. */
    const size_t b_bytes = (size_t)panel_bytes(sp, kernel->nr, kb);
    const size_t slice = ap->full > 0 ? (b_bytes / (size_t)(ap->full / mr) + 63) / 64 * 64 : 0;
    for (int64_t i = 0; i < ap->full / mr; i++) {
        const char *a_panel = ap->full_base + i * ap->stride;
        if (bp->next && kernel->ukr_prefetch) {
            kernel->ukr_prefetch(kb, a_panel, ap->step, bp->base, bp->step, c_col + i * mr * es,
                                 ldc, (int)mr, n_eff, alpha, beta, bp->next + (size_t)i * slice,
                                 (int64_t)slice);
            continue;
        }
        if (bp->next)
            prefetch_l2(bp->next + (size_t)i * slice, slice);
        ukr(kb, a_panel, ap->step, bp->base, bp->step, c_col + i * mr * es, ldc, (int)mr, n_eff,
            alpha, beta);
    }
    const char *a_edge = ap->edge_base;
    int64_t row = ap->full;
    for (int e = 0; e < ap->n_edge; e++) {
        const row_panel *panel = &ap->edge[e];
        (bp->by_columns ? panel->ukr_bt : panel->ukr)(kb, a_edge, panel->width, bp->base, bp->step,
                                                      c_col + row * es, ldc, panel->rows, n_eff,
                                                      alpha, beta);
        a_edge += panel_bytes(sp, panel->width, kb);
        row += panel->rows;
    }
    if (last && target->epilogue) /* the column is still in L1 */
        kernel->epilogue(target->epilogue, ic, jc, (int)row, n_eff, c_col, ldc);
}

/* Packs rows [row, row + rows) x [pc, pc + kb) of op(A) into panels of `width`: through
 * the virtual operand's packer, or from A. */
static void pack_a_rows(const sub_problem *sp, const char *a, int width, usine_gemm_pack_fn *native,
                        int64_t row, int64_t rows, int64_t pc, int64_t kb, char *dst)
{
    const usine_gemm_shape *s = sp->shape;
    if (rows <= 0)
        return;
    if (sp->virt_a)
        sp->virt_a->pack(sp->virt_a->ctx, sp->item, width, row, rows, pc, kb, dst);
    else
        pack_panel(sp, width, native, 0, s->a_type, rows, kb,
                   a + (row * s->a_rs + pc * s->a_cs) * (int64_t)sp->a_es, s->a_rs, s->a_cs, dst);
}

static int64_t row_granularity(const usine_gemm_kernel *kernel);

/* The rows of block [ic, ic + mb) for the kernel's single-row kernel: the last one or two
 * rows of C, those past the last multiple of the row granularity, when the block ends C.
 * Threads split rows in units of that granularity, so these rows end the last block whatever
 * the thread count and blocking: they always go to the single-row kernel, and their results
 * (summed in its order) never depend on the split. */
static int tail_rows(const sub_problem *sp, int64_t ic, int64_t mb)
{
    const usine_gemm_kernel *kernel = sp->plan->kernel;
    const int64_t m = sp->shape->m, tail = m % row_granularity(kernel);
    return kernel->row.ukr && ic + mb == m && tail <= 2 && tail <= mb ? (int)tail : 0;
}

/* Packs (or points at) the A panels of rows [ic, ic + mb) x [pc, pc + kb); int8: adds
 * their row sums to row_sums (for row ic on) unless it is NULL. */
static void prepare_a(const sub_problem *sp, const char *a, int direct, int64_t ic, int64_t mb,
                      int64_t pc, int64_t kb, char *ws_a, int32_t *row_sums, a_panels *ap)
{
    const usine_gemm_kernel *kernel = sp->plan->kernel;
    const usine_gemm_shape *s = sp->shape;
    const int64_t mr = kernel->mr, es = (int64_t)sp->es, a_es = (int64_t)sp->a_es;
    const int tail = tail_rows(sp, ic, mb);
    ap->full = (mb - tail) / mr * mr;
    const int rem = (int)(mb - tail - ap->full);
    ap->n_edge = pair_last_panel(kernel, ap->full, rem, ap->edge);
    if (ap->n_edge)
        ap->full -= mr;
    else
        ap->n_edge = split_remainder(kernel, rem, ap->edge);
    for (int t = 0; t < tail; t++)
        ap->edge[ap->n_edge++] = edge_panel(&kernel->row);
    if (direct) {
        ap->full_base = a + (ic * s->a_rs + pc * s->a_cs) * a_es;
        ap->step = s->a_cs;
        ap->stride = mr * es;
    } else {
        pack_a_rows(sp, a, (int)mr, kernel->pack_a, ic, ap->full, pc, kb, ws_a);
        ap->full_base = ws_a;
        ap->step = mr;
        ap->stride = panel_bytes(sp, mr, kb);
    }
    char *dst = ws_a + (direct ? 0 : panel_bytes(sp, ap->full, kb));
    ap->edge_base = dst;
    int64_t row = ap->full;
    for (int e = 0; e < ap->n_edge; e++) {
        const row_panel *panel = &ap->edge[e];
        pack_a_rows(sp, a, panel->width, panel->pack, ic + row, panel->rows, pc, kb, dst);
        dst += panel_bytes(sp, panel->width, kb);
        row += panel->rows;
    }
    if (row_sums) { /* the panels follow one another from ws_a; edges sum padding zeros */
        const char *panel = ws_a;
        for (int64_t r = 0; r < ap->full; r += mr, panel += panel_bytes(sp, mr, kb))
            kernel->sum_a((int)mr, kb, panel, row_sums + r);
        row = ap->full;
        for (int e = 0; e < ap->n_edge; e++) {
            kernel->sum_a(ap->edge[e].width, kb, panel, row_sums + row);
            panel += panel_bytes(sp, ap->edge[e].width, kb);
            row += ap->edge[e].rows;
        }
    }
}

static void share(int64_t total, int64_t unit, int parts, int index, int64_t *begin,
                  int64_t *count);

/* A team of threads computing one block together: they split its rows and share the
 * packed B (each packs a part, all read all of it), so that nothing is packed twice. */
typedef struct team {
    int index, size; /* size 1: a thread alone, with a private B buffer */
} team;

/* Packs the B block [pc, pc + kb) x [jc + b_full, jc + nb) into ws_b: alone, or this
 * thread's share of its panels followed by a barrier. int8: col_sums (for column
 * jc + b_full on; NULL: none) gets the sums of the panels this thread packed, while they
 * are in its cache; no other thread writes those columns. */
static void pack_b_block(const sub_problem *sp, const char *b, int64_t pc, int64_t kb, int64_t jc,
                         int64_t b_full, int64_t nb, char *ws_b, int32_t *col_sums, team t)
{
    const usine_gemm_shape *s = sp->shape;
    const usine_gemm_kernel *kernel = sp->plan->kernel;
    const int64_t nr = kernel->nr, b_es = (int64_t)sp->b_es;
    int64_t first, count;
    share(nb - b_full, nr, t.size, t.index, &first, &count);
    if (sp->virt_b && count > 0)
        sp->virt_b->pack(sp->virt_b->ctx, sp->item, (int)nr, jc + b_full + first, count, pc, kb,
                         ws_b + panel_bytes(sp, first, kb));
    else if (!sp->virt_b)
        pack_panel(sp, (int)nr, kernel->pack_b, 1, s->b_type, count, kb,
                   b + (pc * s->b_rs + (jc + b_full + first) * s->b_cs) * b_es, s->b_cs, s->b_rs,
                   ws_b + panel_bytes(sp, first, kb));
    if (col_sums) {
        int32_t *mine = col_sums + first;
        if (pc == 0)
            memset(mine, 0, (size_t)ceil_div(count, nr) * (size_t)nr * sizeof *mine);
        for (int64_t jr = 0; jr < count; jr += nr)
            kernel->sum_b((int)nr, kb, ws_b + panel_bytes(sp, first + jr, kb), mine + jr);
    }
    if (t.size > 1)
        usine_cpu_barrier();
}

/* int8 sums: rows (+ MR of padding) and columns (+ NR) of the block, after its C temporary. */
static int64_t sums_count(const sub_problem *sp, int64_t rows, int64_t cols)
{
    return sp->int8 ? rows + sp->plan->kernel->mr + cols + sp->plan->kernel->nr : 0;
}

static int32_t *sums_at(const sub_problem *sp, char *ws_c, int64_t rows, int64_t cols)
{
    return (int32_t *)(ws_c + (sp->narrow ? align_up((size_t)(rows * cols) * sp->es) : 0));
}

/* The five loops over a rows x cols block of C starting at (row0, col0). In a team every
 * thread passes the same columns and its own rows. ws_c: the thread's temporary for a
 * narrow C (rows x cols, then the int8 sums), else unused. */
static void gemm_block(const sub_problem *sp, const usine_gemm_operands *ops, int64_t row0,
                       int64_t rows, int64_t col0, int64_t cols, char *ws_a, char *ws_b, char *ws_c,
                       team t)
{
    const usine_gemm_kernel *kernel = sp->plan->kernel;
    const usine_gemm_shape *s = sp->shape;
    const int64_t nr = kernel->nr, mr = kernel->mr;
    /* Equal blocks rather than full ones and a remnant: k = 2048 with KC = 336 would end
     * on a 32-deep block that pays a whole pass over C for little work. */
    const int64_t kc = balanced(s->k, sp->plan->blocking.kc, sp->ku);
    const int64_t mc = balanced(rows, block_rows(sp->plan, s->k, sp->ku), mr);
    const int64_t nc = balanced(cols, sp->plan->blocking.nc, nr);
    const int direct_a = reads_a_in_place(sp, cols);
    const char *a = (const char *)ops->a, *b = (const char *)ops->b;
    usine_epilogue epilogue;
    c_target target = {(char *)ops->c, s->ldc, 0, 0, NULL};
    if (s->epilogue || sp->narrow || sp->int8) {
        epilogue = s->epilogue ? *s->epilogue : (usine_epilogue){0};
        epilogue.out = sp->narrow ? ops->c : NULL;
        epilogue.ldo = s->ldc;
        epilogue.out_type = s->c_type;
        epilogue.alpha = s->alpha;
        epilogue.beta = s->beta;
        target.epilogue = &epilogue;
    }
    if (sp->narrow) /* raw sums in the temporary; alpha, beta and rounding in the epilogue */
        target = (c_target){ws_c, rows, row0, col0, &epilogue};
    int32_t *row_sums = NULL, *col_sums = NULL;
    if (sp->int8) {
        /* Row sums here; column sums (here too: int8 never runs as a team) zeroed as B is
         * packed. */
        int32_t *sums = sums_at(sp, ws_c, rows, cols);
        memset(sums, 0, (size_t)(rows + kernel->mr) * sizeof *sums);
        row_sums = sp->zero_b ? sums : NULL; /* a zero point of 0 needs no sums */
        col_sums = sp->zero_a ? sums + rows + kernel->mr : NULL;
        epilogue.row_sums = row_sums;
        epilogue.col_sums = col_sums;
        epilogue.sums_row0 = row0;
        epilogue.sums_col0 = col0;
        epilogue.k = s->k;
        epilogue.zero_a = sp->zero_a;
        epilogue.zero_b = sp->zero_b;
        /* u8 x s8 or s8 x s8 products of k <= 65536 terms stay within s32; zero points can
         * take them beyond. */
        epilogue.sums_fit_s32 = s->a_zero == 0 && s->b_zero == 0;
    }

    for (int64_t jc = col0; jc < col0 + cols; jc += nc) {
        const int64_t nb = min64(nc, col0 + cols - jc);
        for (int64_t pc = 0; pc < s->k; pc += kc) {
            const int64_t kb = min64(kc, s->k - pc);
            /* Raw sums for a narrow C and for int8 (alpha comes in the epilogue). */
            const void *alpha =
                sp->narrow || sp->int8 ? (const void *)sp->one : (const void *)sp->alpha;
            const void *beta = pc > 0       ? (const void *)sp->one
                               : sp->narrow ? (const void *)sp->zero
                                            : (const void *)sp->beta;
            /* A team always packs B: its threads read it in place or not all alike. */
            const b_source bsrc =
                t.size > 1 ? (b_source){0, 0, NULL, nr, 0} : choose_b(sp, b, rows, pc, jc);
            /* Direct B still packs a last partial panel: the kernel reads NR columns. */
            const int64_t b_full = bsrc.direct ? nb / nr * nr : 0;
            pack_b_block(sp, b, pc, kb, jc, b_full, nb, ws_b,
                         col_sums ? col_sums + (jc - col0) : NULL, t);
            for (int64_t ic = row0; ic < row0 + rows; ic += mc) {
                a_panels ap;
                /* A is packed again for every column block: its rows are summed once. */
                int32_t *rs = row_sums && jc == col0 ? row_sums + (ic - row0) : NULL;
                prepare_a(sp, a, direct_a, ic, min64(mc, row0 + rows - ic), pc, kb, ws_a, rs, &ap);
                for (int64_t jr = 0; jr < nb; jr += nr) {
                    b_panel bp = {bsrc.base + jr * bsrc.col * (int64_t)sp->b_es, bsrc.step,
                                  bsrc.by_columns, NULL};
                    if (jr >= b_full) {
                        bp = (b_panel){ws_b + panel_bytes(sp, jr - b_full, kb), nr, 0, NULL};
                        if (jr + nr < nb)
                            bp.next = bp.base + panel_bytes(sp, nr, kb);
                    }
                    tile_column(sp, &ap, kb, &bp, &target, ic, jc + jr, (int)min64(nr, nb - jr),
                                alpha, beta, pc + kb == s->k);
                }
            }
            if (t.size > 1) /* the shared B is repacked next: wait until all are done */
                usine_cpu_barrier();
        }
    }
}

/* n == 1 or m == 1: a matrix-vector product over the given rows of the output vector. */
static void gemv_block(const sub_problem *sp, const usine_gemm_operands *ops, int64_t row0,
                       int64_t rows)
{
    const usine_gemm_shape *s = sp->shape;
    const size_t es = sp->es;
    const char *a = (const char *)ops->a, *b = (const char *)ops->b;
    char *c = (char *)ops->c;
    if (s->n == 1) /* y = C(:,0), X = op(A), v = op(B)(:,0) */
        sp->plan->kernel->gemv(rows, s->k, a + row0 * s->a_rs * es, s->a_rs, s->a_cs, b, s->b_rs,
                               c + row0 * es, 1, sp->alpha, sp->beta);
    else /* m == 1: y = C(0,:), X = op(B)^T, v = op(A)(0,:) */
        sp->plan->kernel->gemv(rows, s->k, b + row0 * s->b_cs * es, s->b_cs, s->b_rs, a, s->a_cs,
                               c + row0 * s->ldc * es, s->ldc, sp->alpha, sp->beta);
}

/* The matrix-vector path: native dtypes, stored operands and no epilogue (the blocked path
 * does the rest). */
static int is_gemv(const sub_problem *sp)
{
    const usine_gemm_plan *plan = sp->plan;
    const usine_gemm_shape *s = sp->shape;
    const usine_dtype d = plan->kernel->dtype;
    return (s->n == 1 || s->m == 1) && plan->kernel->gemv && s->a_type == d && s->b_type == d &&
           s->c_type == d && !s->epilogue && !sp->virt_a && !sp->virt_b;
}

/* ------------------------------------------------------------------ workspace */

static size_t pack_a_bytes(const sub_problem *sp)
{
    /* Balanced blocks exceed MC by less than MR; the panels cover them to a multiple of MR.
     * Every k block is at most the balanced depth gemm_block takes (and block_rows grew MC
     * for it: KC here would oversize a block grown for a shallower depth). */
    const usine_gemm_plan *plan = sp->plan;
    const int64_t kb = balanced(sp->shape->k, plan->blocking.kc, sp->ku);
    const int64_t rows =
        min64(block_rows(plan, sp->shape->k, sp->ku), sp->shape->m) + 2 * plan->kernel->mr;
    return align_up((size_t)panel_bytes(sp, rows, kb));
}

static size_t pack_b_bytes(const sub_problem *sp)
{
    const usine_gemm_plan *plan = sp->plan;
    const int64_t kb = min64(plan->blocking.kc, sp->shape->k);
    const int64_t cols = min64(plan->blocking.nc, sp->shape->n) + 2 * plan->kernel->nr;
    return align_up((size_t)panel_bytes(sp, cols, kb));
}

/* Sums go to a per-thread temporary and the epilogue writes C: for a C dtype other than the
 * kernel's, except int8 with beta == 0: its s32 sums are stored in C itself (s32 and f32
 * have the same size) and the epilogue turns them into the result in place. A temporary as
 * large as the thread's C costs a pass over memory (measured: 11% at 2048^3 int8). */
static int narrow_output(const usine_gemm_plan *plan, const usine_gemm_shape *s)
{
    if (plan->kernel->in_type == USINE_U8)
        return s->beta != 0.0;
    return s->c_type != plan->kernel->dtype;
}

static void choose_grid(const usine_gemm_kernel *kernel, const usine_gemm_shape *s, int threads,
                        int *tm, int *tn);
static int use_team(const sub_problem *sp, int count);

/* The largest block of C one thread of `count` computes (how run_item_part splits). */
static void thread_block(const sub_problem *sp, int count, int64_t *rows, int64_t *cols)
{
    const usine_gemm_shape *s = sp->shape;
    const usine_gemm_kernel *k = sp->plan->kernel;
    const int64_t unit = row_granularity(k);
    *rows = s->m;
    *cols = s->n;
    if (count <= 1)
        return;
    int tm = count, tn = 1;
    if (!use_team(sp, count))
        choose_grid(k, s, count, &tm, &tn);
    *rows = min64(s->m, ceil_div(ceil_div(s->m, unit), tm) * unit);
    *cols = min64(s->n, ceil_div(ceil_div(s->n, k->nr), tn) * k->nr);
}

/* Bytes per thread: packed A, packed B, and for a narrow C the temporary of the sums (also
 * a column of zeros when alpha == 0 or k == 0). count: threads sharing one product. */
static size_t per_thread_bytes(const sub_problem *sp, int count)
{
    const usine_gemm_plan *plan = sp->plan;
    const usine_gemm_shape *s = sp->shape;
    const size_t es = sp->es;
    size_t bytes = 0;
    if (!(s->k == 0 || s->alpha == 0.0) && !is_gemv(sp))
        bytes = pack_a_bytes(sp) + pack_b_bytes(sp);
    int64_t rows, cols;
    thread_block(sp, count, &rows, &cols);
    if (narrow_output(plan, s))
        bytes += align_up((size_t)(rows * cols) * es);
    return bytes + align_up((size_t)sums_count(sp, rows, cols) * sizeof(int32_t));
}

/* Threads worth using for `items` problems of this shape. */
static int useful_threads(const usine_gemm_plan *plan, const usine_gemm_shape *s, int64_t items)
{
    const double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k * (double)items;
    const double cap = flops / MIN_FLOPS_PER_THREAD;
    int threads = plan->max_threads;
    if (cap < threads)
        threads = cap < 1 ? 1 : (int)cap;
    return threads;
}

/* Whole items per thread when they share out evenly (no synchronisation, no packing
 * duplicated); otherwise every item in turn, split across all threads. */
static int whole_items(int64_t count, int threads)
{
    return count >= threads && (count % threads == 0 || count >= 4 * threads);
}

static sub_problem make_sub_problem(const usine_gemm_plan *plan, const usine_gemm_shape *shape)
{
    sub_problem sp = {plan,
                      shape,
                      usine_cpu_gemm_dtype_size(plan->kernel->dtype),
                      usine_dtype_storage_size(plan->kernel->in_type),
                      plan->kernel->k_unit,
                      usine_dtype_storage_size(shape->a_type),
                      usine_dtype_storage_size(shape->b_type),
                      NULL,
                      NULL,
                      NULL,
                      NULL,
                      narrow_output(plan, shape),
                      0,
                      0,
                      0,
                      NULL,
                      NULL,
                      0};
    if (plan->kernel->in_type == USINE_U8) {
        /* A flipped operand is shifted: s8 x as u8 is x + 128, u8 x as s8 is x - 128. */
        sp.int8 = 1;
        sp.zero_a = shape->a_zero + (shape->a_type == USINE_S8 ? 128 : 0);
        sp.zero_b = shape->b_zero - (shape->b_type == USINE_U8 ? 128 : 0);
    }
    return sp;
}

/* Threads for the run and how many share one product (1 when each takes whole items). */
static void run_threads(const usine_gemm_plan *plan, const usine_gemm_shape *shape, int64_t count,
                        int *threads, int *per_item)
{
    *threads = useful_threads(plan, shape, count);
    *per_item = whole_items(count, *threads) ? 1 : useful_threads(plan, shape, 1);
}

size_t usine_cpu_gemm_workspace_size(const usine_gemm_plan *plan, const usine_gemm_shape *shape,
                                     int64_t count)
{
    const sub_problem sp = make_sub_problem(plan, shape);
    int threads, per_item;
    run_threads(plan, shape, count, &threads, &per_item);
    return (size_t)threads * per_thread_bytes(&sp, per_item);
}

/* ------------------------------------------------------------------ threads */

/* How `threads` threads split C: tm row groups x tn column groups. Each thread packs its
 * own panels, so a split of the rows repacks all of B in every row group (and a split of
 * the columns all of A): the cost model charges the slowest thread its multiply-adds,
 * rounded up to whole tiles, plus its packing. */
static void choose_grid(const usine_gemm_kernel *kernel, const usine_gemm_shape *s, int threads,
                        int *tm, int *tn)
{
    const int64_t row_tiles = ceil_div(s->m, kernel->mr), col_tiles = ceil_div(s->n, kernel->nr);
    double best = -1;
    *tm = 1;
    *tn = 1;
    for (int r = 1; r <= threads; r++) {
        if (threads % r != 0 || r > row_tiles || threads / r > col_tiles)
            continue;
        const int cgroups = threads / r;
        /* Rows and columns of the busiest thread (whole tiles, but no more than C has). */
        const double mu = (double)min64(s->m, ceil_div(row_tiles, r) * kernel->mr);
        const double nu = (double)min64(s->n, ceil_div(col_tiles, cgroups) * kernel->nr);
        const double cost =
            2.0 * mu * nu * (double)s->k + PACK_COST_IN_FLOPS * (mu + nu) * (double)s->k;
        if (best < 0 || cost < best) {
            best = cost;
            *tm = r;
            *tn = cgroups;
        }
    }
}

/* [begin, end) of part `index` of `parts` when `units` units of `unit` elements each
 * (the last one possibly short, total `total`) are shared out as evenly as possible. */
static void share(int64_t total, int64_t unit, int parts, int index, int64_t *begin, int64_t *count)
{
    const int64_t units = ceil_div(total, unit);
    const int64_t base = units / parts, extra = units % parts;
    const int64_t first = index * base + (index < extra ? index : extra);
    const int64_t mine = base + (index < extra ? 1 : 0);
    *begin = min64(first * unit, total);
    *count = min64((first + mine) * unit, total) - *begin;
}

typedef struct run_args {
    sub_problem sp;
    const usine_gemm_batch *batch;
    char *workspace;
    size_t per_thread;
    int64_t item; /* -1: threads share out whole items; else threads split this item */
} run_args;

static usine_gemm_operands batch_item(const usine_gemm_batch *batch, int64_t i,
                                      const usine_gemm_shape *s)
{
    const size_t a_es = usine_dtype_storage_size(s->a_type);
    const size_t b_es = usine_dtype_storage_size(s->b_type);
    const size_t c_es = usine_dtype_storage_size(s->c_type);
    usine_gemm_operands ops;
    /* A and B may be absent (NULL) when they are not read: alpha == 0 or k == 0. */
    if (batch->c_array) {
        ops.a = batch->a_array ? batch->a_array[i] : NULL;
        ops.b = batch->b_array ? batch->b_array[i] : NULL;
        ops.c = batch->c_array[i];
    } else {
        ops.a = batch->base.a ? (const char *)batch->base.a + (size_t)(i * batch->stride_a) * a_es
                              : NULL;
        ops.b = batch->base.b ? (const char *)batch->base.b + (size_t)(i * batch->stride_b) * b_es
                              : NULL;
        ops.c = (char *)batch->base.c + (size_t)(i * batch->stride_c) * c_es;
    }
    return ops;
}

/* Rows are shared out in units of the narrowest kernel: 2048 rows on 2 threads split
 * 1024 + 1024 (21 tiles of 48 and one of 16 each), not 1056 + 992. */
static int64_t row_granularity(const usine_gemm_kernel *kernel)
{
    return kernel->n_edges ? kernel->edges[kernel->n_edges - 1].mr : kernel->mr;
}

/* A team splits rows only where each thread keeps at least this many row tiles (below,
 * B is better read in place by a thread alone, see DIRECT_B_MAX_ROW_TILES). */
#define TEAM_MIN_ROWS_PER_THREAD (DIRECT_B_MAX_ROW_TILES + 1)

/* A team (B packed once, shared, barriers) only where an operand is virtual: the
 * convolutions' gathered panels cost far more to pack than stored ones, and a grid would
 * gather some twice. Stored operands go to the grid, each thread with its own panels and
 * no barrier, though it packs some of A or B twice: measured on Zen 5, two threads,
 * alternating runs, team / grid GFLOP/s: f32 1024^3 388 / 409, 2048^3 393 / 400, 4096^3
 * 395 / 398, 3072 x 128 x 1024 368 / 380; int8 2048^3 1197 / 1436 GOP/s; bf16 2048^3
 * 752 / 768. Not for int8, whose column sums each thread takes from the panels it packed
 * itself. */
static int use_team(const sub_problem *sp, int count)
{
    const usine_gemm_shape *s = sp->shape;
    return count > 1 && (sp->virt_a || sp->virt_b) && !sp->int8 &&
           s->m >= (int64_t)count * TEAM_MIN_ROWS_PER_THREAD * sp->plan->kernel->mr &&
           !reads_a_in_place(sp, s->n);
}

/* alpha == 0 or k == 0: C = beta * C, then the epilogue, on columns [col0, col0 + cols). */
static void scale_part(const sub_problem *sp, const usine_gemm_operands *ops, int64_t col0,
                       int64_t cols, char *ws_c)
{
    const usine_gemm_shape *s = sp->shape;
    const usine_gemm_kernel *kernel = sp->plan->kernel;
    char *c0 = (char *)ops->c + col0 * s->ldc * (int64_t)sp->es;
    if (sp->int8 && !sp->narrow) /* beta == 0: sums of zero, made into results in place */
        for (int64_t j = 0; j < cols; j++)
            memset(c0 + j * s->ldc * (int64_t)sp->es, 0, (size_t)s->m * sp->es);
    else if (!sp->narrow)
        scale_c(kernel->dtype, s->m, cols, c0, s->ldc, s->beta);
    if (!s->epilogue && !sp->narrow && !sp->int8)
        return;
    usine_epilogue e = s->epilogue ? *s->epilogue : (usine_epilogue){0};
    e.out = sp->narrow ? ops->c : NULL;
    e.ldo = s->ldc;
    e.out_type = s->c_type;
    e.alpha = 0.0; /* the sums are zero: v = beta * old + bias */
    e.beta = s->beta;
    for (int64_t j = col0; j < col0 + cols; j++) {
        char *tile = (char *)ops->c + j * s->ldc * (int64_t)sp->es;
        if (sp->narrow) { /* a column of zero sums */
            tile = ws_c;
            memset(tile, 0, (size_t)s->m * sp->es);
        }
        kernel->epilogue(&e, 0, j, (int)s->m, 1, tile, s->m);
    }
}

/* The share of one item's C that thread `index` of `count` computes. */
static void run_item_part(const run_args *r, const usine_gemm_operands *ops, int index, int count,
                          char *ws)
{
    const usine_gemm_shape *s = r->sp.shape;
    const usine_gemm_kernel *kernel = r->sp.plan->kernel;
    if (s->k == 0 || s->alpha == 0.0) {
        int64_t col0, cols;
        share(s->n, 1, count, index, &col0, &cols);
        scale_part(&r->sp, ops, col0, cols, ws);
        return;
    }
    if (is_gemv(&r->sp)) {
        int64_t row0, rows;
        share(s->n == 1 ? s->m : s->n, 64, count, index, &row0, &rows);
        if (rows > 0)
            gemv_block(&r->sp, ops, row0, rows);
        return;
    }
    const int64_t row_unit = row_granularity(kernel);
    const size_t a_bytes = pack_a_bytes(&r->sp);
    const size_t ab_bytes = a_bytes + pack_b_bytes(&r->sp);
    int64_t row0, rows, col0, cols;
    if (use_team(&r->sp, count)) {
        /* A virtual operand, A packed and enough rows for every thread: one team, rows
         * split, B packed once and shared (in thread 0's B buffer). */
        share(s->m, row_unit, count, index, &row0, &rows);
        char *ws_b0 = r->workspace + a_bytes;
        gemm_block(&r->sp, ops, row0, rows, 0, s->n, ws, ws_b0, ws + ab_bytes,
                   (team){index, count});
        return;
    }
    int tm, tn;
    choose_grid(kernel, s, count, &tm, &tn);
    if (index >= tm * tn)
        return;
    share(s->m, row_unit, tm, index / tn, &row0, &rows);
    share(s->n, kernel->nr, tn, index % tn, &col0, &cols);
    if (rows > 0 && cols > 0)
        gemm_block(&r->sp, ops, row0, rows, col0, cols, ws, ws + a_bytes, ws + ab_bytes,
                   (team){0, 1});
}

static void run_body(void *arg, int index, int count)
{
    /* A copy per item: the virtual operands' packers are told which item they pack. */
    run_args mine_args = *(const run_args *)arg;
    run_args *r = &mine_args;
    char *ws = r->workspace + (size_t)index * r->per_thread;
    if (r->item >= 0) {
        const usine_gemm_operands ops = batch_item(r->batch, r->item, r->sp.shape);
        r->sp.item = r->item;
        run_item_part(r, &ops, index, count, ws);
        return;
    }
    int64_t first, mine;
    share(r->batch->count, 1, count, index, &first, &mine);
    for (int64_t i = first; i < first + mine; i++) {
        const usine_gemm_operands ops = batch_item(r->batch, i, r->sp.shape);
        r->sp.item = i;
        run_item_part(r, &ops, 0, 1, ws);
    }
}

/* The runs of usine_cpu_gemm_run and usine_cpu_gemm_run_virtual (virtuals NULL: none). */
static void run_batch(const usine_gemm_plan *plan, const usine_gemm_shape *shape,
                      const usine_gemm_batch *batch, const usine_gemm_virtuals *virtuals,
                      void *workspace)
{
    const usine_dtype dtype = plan->kernel->dtype;
    const scalar alpha = to_scalar(dtype, shape->alpha), beta = to_scalar(dtype, shape->beta);
    const scalar one = to_scalar(dtype, 1.0), zero = to_scalar(dtype, 0.0);
    int threads, per_item;
    run_threads(plan, shape, batch->count, &threads, &per_item);
    run_args r = {
        .sp = make_sub_problem(plan, shape),
        .batch = batch,
        .workspace = (char *)workspace,
        .item = -1,
    };
    r.sp.alpha = &alpha;
    r.sp.beta = &beta;
    r.sp.one = &one;
    r.sp.zero = &zero;
    if (virtuals) {
        r.sp.virt_a = virtuals->a;
        r.sp.virt_b = virtuals->b;
    }
    r.per_thread = per_thread_bytes(&r.sp, per_item);
    if (per_item == 1 && threads > 1) {
        usine_cpu_parallel(threads, run_body, &r);
        return;
    }
    for (int64_t i = 0; i < batch->count; i++) {
        r.item = i;
        usine_cpu_parallel(per_item, run_body, &r);
    }
}

void usine_cpu_gemm_run(const usine_gemm_plan *plan, const usine_gemm_shape *shape,
                        const usine_gemm_batch *batch, void *workspace)
{
    run_batch(plan, shape, batch, NULL, workspace);
}

/* A stand-in for "some operand is virtual" when only the sizes are asked: no gemv path. */
static void no_pack(const void *ctx, int64_t item, int width, int64_t row0, int64_t rows,
                    int64_t p0, int64_t k, void *dst)
{
    (void)ctx, (void)item, (void)width, (void)row0, (void)rows, (void)p0, (void)k, (void)dst;
}

size_t usine_cpu_gemm_virtual_workspace_size(const usine_gemm_plan *plan,
                                             const usine_gemm_shape *shape, int64_t count)
{
    static const usine_gemm_virtual any = {no_pack, NULL};
    sub_problem sp = make_sub_problem(plan, shape);
    sp.virt_a = &any;
    int threads, per_item;
    run_threads(plan, shape, count, &threads, &per_item);
    return (size_t)threads * per_thread_bytes(&sp, per_item);
}

void usine_cpu_gemm_run_virtual(const usine_gemm_plan *plan, const usine_gemm_shape *shape,
                                const usine_gemm_batch *batch, const usine_gemm_virtuals *virtuals,
                                void *workspace)
{
    run_batch(plan, shape, batch, virtuals, workspace);
}
