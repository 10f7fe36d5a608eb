/*
 * The CPU GEMM microkernel contract (STYLE.md, lesson 1): every ISA implements the same
 * small set of functions on packed panels; the portable driver (gemm_driver.c) does the
 * five loops, the packing calls and the threading. Adding a kernel = one file defining a
 * usine_gemm_kernel plus one line in gemm_registry.c.
 *
 * Notation: the driver works on a column-major C (m x n); op(A)(i,p) = a[i*rs + p*cs],
 * op(B)(p,j) = b[p*rs + j*cs]. Row-major problems are turned into column-major ones by
 * computing C^T = op(B)^T op(A)^T before they get here.
 */
#ifndef USINE_KERNELS_CPU_GEMM_KERNEL_H
#define USINE_KERNELS_CPU_GEMM_KERNEL_H

#include <stdint.h>

#include "usine.h"
#include "../cpu_isa.h"

/*
 * Microkernel: C[0:m, 0:n] = alpha * A~ * B~ + beta * C[0:m, 0:n], where
 *   A~ (MR x k): column p at a + p * a_step (elements of the dtype): a packed panel
 *      (a_step = MR, 64-byte aligned) or, read in place, a column-major block of A;
 *   B~ (k x NR): for `ukr`, row p at b + p * b_step (packed: b_step = NR); for `ukr_bt`,
 *      column j at b + j * b_step (B read in place where its columns are contiguous);
 *   C is column-major with column stride ldc; 1 <= m <= MR and 1 <= n <= NR;
 *   alpha, beta point to values of the dtype; beta == 0: C is not read.
 * All MR rows of A~ are read whatever m says (A read in place must be a full tile; the
 * driver packs partial ones, zero-padded). `ukr` may read all NR columns of B~ (packed
 * panels are zero-padded); `ukr_bt` of a tile kernel (main or edge, not the single-row
 * `row`) reads only the n columns C gets, so that a partial tile of B read in place needs
 * no padded copy (the convolutions' direct variant relies on it).
 */
typedef void usine_gemm_ukr_fn(int64_t k, const void *a, int64_t a_step, const void *b,
                               int64_t b_step, void *c, int64_t ldc, int m, int n,
                               const void *alpha, const void *beta);

/*
 * `ukr` (B~ by rows) that also asks for next_bytes from `next` into L2 while it runs,
 * spread over its k loop: the driver passes the next packed B panel, so that it has
 * arrived from L3 or memory when the tiles of this panel are done.
 */
typedef void usine_gemm_ukr_prefetch_fn(int64_t k, const void *a, int64_t a_step, const void *b,
                                        int64_t b_step, void *c, int64_t ldc, int m, int n,
                                        const void *alpha, const void *beta, const void *next,
                                        int64_t next_bytes);

/*
 * The tile summed over `segs` segments of k steps: C[0:m, 0:n] = alpha * sum_s A~_s B~_s +
 * beta * C, A~_s(i,p) = a[s a_seg + i + p a_step], B~_s(p,j) = b[s b_seg + p b_row +
 * j b_col] with b_row == 1 (columns of B contiguous, as ukr_bt) or b_col == 1 (rows
 * contiguous), only the n columns read; C loaded and stored once. For the direct
 * convolutions: the forward's filter rows are segments (B = x by columns), the weight
 * gradient's output rows (B = x by rows). f32 kernels; NULL elsewhere.
 */
typedef void usine_gemm_ukr_segs_fn(int64_t k, int segs, const void *a, int64_t a_step,
                                    int64_t a_seg, const void *b, int64_t b_row, int64_t b_col,
                                    int64_t b_seg, void *c, int64_t ldc, int m, int n,
                                    const void *alpha, const void *beta);

/*
 * Packing: rows [0, rows) x columns [0, k) of X, with X(i,p) = x[i*rs + p*cs], go into
 * ceil(rows / W) panels of W rows, panel after panel, each W x k with column p at
 * panel + p * W; rows past `rows` are zero. W is the function's own panel width.
 * A is packed with W = MR; B is packed as B^T (X(j,p) = op(B)(p,j)) with W = NR.
 */
typedef void usine_gemm_pack_fn(int64_t rows, int64_t k, const void *x, int64_t rs, int64_t cs,
                                void *dst);

/*
 * Matrix-vector product for n == 1: y[i*incy] = alpha * sum_p X(i,p) * v[p*incv]
 * + beta * y[i*incy] for i < m, X(i,p) = x[i*rs + p*cs]; beta == 0: y is not read.
 * Packing would only add traffic here: every element of X is used once.
 */
typedef void usine_gemv_fn(int64_t m, int64_t k, const void *x, int64_t rs, int64_t cs,
                           const void *v, int64_t incv, void *y, int64_t incy, const void *alpha,
                           const void *beta);

/*
 * The epilogue of a tile (rows row0.., columns col0.. of C in the driver's column-major
 * view), run after the microkernel's last store to it. With out == NULL the tile is C
 * (f32/f64 output, alpha and beta already applied): bias and activation are applied in
 * place. Otherwise the tile holds the raw sums and the epilogue writes
 * act(alpha * sum + beta * old + bias) into out, converted to out_type.
 */
typedef struct usine_epilogue {
    const float *bias; /* NULL, or one value per row (bias_per_row) or per column */
    int bias_per_row;
    usine_activation activation;
    void *out; /* the caller's C when it differs from the tile, else NULL */
    int64_t ldo;
    usine_dtype out_type;
    double alpha, beta; /* used with out only */
    /* int8 kernels: the tile holds acc' = sum_p A'(i,p) B'(p,j) of the packed values; with
     * the zero points Za, Zb of the packed values (the caller's plus the sign flips), the
     * exact sum is acc' - Zb * rowsum_A'(i) - Za * colsum_B'(j) + k * Za * Zb (a NULL sums
     * array goes with a zero point of 0), then multiplied by scales[0] or by the row's or
     * column's scale. */
    const int32_t *row_sums, *col_sums; /* of the packed A rows and B columns over all k */
    int64_t sums_row0, sums_col0;       /* the rows and columns whose sums come first */
    int64_t k;
    int32_t zero_a, zero_b; /* zero points in the packed domain (see usine_gemm_kernel) */
    int sums_fit_s32;       /* the caller's zero points are 0: |exact sum| < 2^31 */
    const float *scales;    /* NULL, or 1 value (scale_count 1), or one per row or column */
    int64_t scale_count;
    int scale_per_row;
} usine_epilogue;

typedef void usine_epilogue_fn(const usine_epilogue *e, int64_t row0, int64_t col0, int m, int n,
                               void *tile, int64_t ldt);

/* Packing as usine_gemm_pack_fn, from bf16 or f16 elements (src) into the kernel's dtype,
 * with panel width W. */
typedef void usine_gemm_convert_pack_fn(int W, usine_dtype src, int64_t rows, int64_t k,
                                        const void *x, int64_t rs, int64_t cs, void *dst);

/* int8: adds the sum over k of each of the W rows of a packed panel (k deep) to sums[0..W).
 * sum_a reads A panels (u8), sum_b B panels (s8). */
typedef void usine_gemm_panel_sums_fn(int W, int64_t k, const void *panel, int32_t *sums);

/* A narrower microkernel for the last rows of C (same NR), with its own A packing. */
typedef struct usine_gemm_edge {
    int mr;
    usine_gemm_ukr_fn *ukr, *ukr_bt;
    usine_gemm_pack_fn *pack_a;
    usine_gemm_ukr_segs_fn *ukr_segs; /* or NULL */
} usine_gemm_edge;

#define USINE_GEMM_MAX_EDGES 3

typedef struct usine_gemm_kernel {
    const char *name;  /* usine_<t>gemm_cpu_<isa>_<MR>x<NR>: printable, forcible, in the db */
    usine_dtype dtype; /* USINE_F32, USINE_F64 or USINE_S32: C tiles, alpha and beta */
    /* Elements of the packed panels: dtype, or USINE_BF16 for kernels that multiply bf16
     * pairs into f32 sums, or USINE_U8 for int8 kernels (u8 A panels, s8 B panels; an
     * operand of the other signedness is packed with its sign bit flipped, x ^ 0x80, and
     * the driver compensates). The kernel serves inputs of this type (others are converted
     * while packing, when pack_convert is set). */
    usine_dtype in_type;
    /* Consecutive k values kept together per row in packed panels: 1, or 2 for bf16 pairs.
     * Panel group g (k values g*ku .. g*ku + ku - 1) holds W rows of ku elements each,
     * k padded with zeros to a multiple of ku. The microkernels take k and step through
     * ceil(k / ku) groups; a_step and b_step stay W, group g starting at element
     * g * W * ku. Only kernels with ku = 1 read operands in place. */
    int k_unit;        /* 1; 2 for bf16 pairs; 4 for int8 quads (vpdpbusd) */
    usine_cpu_isa isa; /* lowest ISA level the code needs */
    int mr, nr;
    usine_gemm_ukr_fn *ukr;
    usine_gemm_ukr_fn *ukr_bt;                /* the same tile with B~ read by columns */
    usine_gemm_ukr_segs_fn *ukr_segs;         /* ukr_bt over segments, or NULL */
    usine_gemm_ukr_prefetch_fn *ukr_prefetch; /* ukr fetching the next B panel, or NULL */
    usine_gemm_pack_fn *pack_a;               /* W = mr */
    usine_gemm_pack_fn *pack_b;               /* W = nr */
    usine_gemv_fn *gemv;
    usine_epilogue_fn *epilogue;
    usine_gemm_convert_pack_fn *pack_convert; /* int8: packs with the sign bit flipped */
    usine_gemm_panel_sums_fn *sum_a, *sum_b;  /* int8 only */
    /* Narrower kernels, widest first, so that m = 35 costs a 32-row and an 8-row tile
     * rather than two 32-row tiles. */
    int n_edges;
    usine_gemm_edge edges[USINE_GEMM_MAX_EDGES];
    /* Optional (ukr NULL: none): a kernel for single rows (mr = 1, a width-1 A panel, always
     * packed) that the driver gives the last one or two rows of C, those past the last
     * multiple of the narrowest edge's mr, where a tile would cost far more than its rows.
     * It may sum in another order than the tiles: those rows always go to it. */
    usine_gemm_edge row;
} usine_gemm_kernel;

/* Cache blocking of the five loops (in elements): NC columns of B per outer block, KC
 * deep, MC rows of A per packed block. MC is a multiple of MR and NC of NR. pack = 1 packs
 * A and B always; 0 lets the driver read skinny operands in place (a tuning parameter). */
typedef struct usine_gemm_blocking {
    int64_t mc, kc, nc;
    int pack;
} usine_gemm_blocking;

#endif
