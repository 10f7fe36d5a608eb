/*
 * The portable CPU GEMM driver: the five blocked loops around a microkernel (Goto and
 * van de Geijn; BLIS's loop order), threads, n == 1 products and the C-only cases.
 * It runs what core/ tells it: a kernel, a blocking, a thread cap and a workspace.
 */
#ifndef USINE_KERNELS_CPU_GEMM_DRIVER_H
#define USINE_KERNELS_CPU_GEMM_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "gemm_kernel.h"

/* Column-major C (m x n) = alpha * op(A) op(B) + beta * C with op(A)(i,p) =
 * a[i*a_rs + p*a_cs], op(B)(p,j) = b[p*b_rs + j*b_cs], C(i,j) = c[i + j*ldc]. */
typedef struct usine_gemm_operands {
    const void *a;
    const void *b;
    void *c;
} usine_gemm_operands;

typedef struct usine_gemm_shape {
    int64_t m, n, k;
    int64_t a_rs, a_cs, b_rs, b_cs, ldc;
    double alpha, beta;
    /* Element types as stored: a_type and b_type are the kernel's dtype, or bf16/f16
     * (converted while packing); c_type is the kernel's dtype, or bf16/f16 (the sums go to a
     * temporary and the epilogue rounds them into C). */
    usine_dtype a_type, b_type, c_type;
    /* Bias and activation after the last pass over each tile; NULL: none. Its out, ldo
     * and out_type are ignored: the driver sets them per product. */
    const usine_epilogue *epilogue;
    /* int8: zero points of op(A) and op(B) as the driver sees them (subtracted before the
     * products); the epilogue's scales come through `epilogue`. */
    int32_t a_zero, b_zero;
} usine_gemm_shape;

typedef struct usine_gemm_plan {
    const usine_gemm_kernel *kernel;
    usine_gemm_blocking blocking;
    int max_threads; /* >= 1 */
} usine_gemm_plan;

/* A batch of operands: item i is {a, b, c} + i * stride (in elements) or, when the
 * arrays are non-NULL, {a_array[i], b_array[i], c_array[i]}. count >= 1. */
typedef struct usine_gemm_batch {
    int64_t count;
    usine_gemm_operands base;
    int64_t stride_a, stride_b, stride_c;
    const void *const *a_array;
    const void *const *b_array;
    void *const *c_array;
} usine_gemm_batch;

/* Bytes of workspace usine_cpu_gemm_run needs for this plan and shape (0 if none). */
size_t usine_cpu_gemm_workspace_size(const usine_gemm_plan *plan, const usine_gemm_shape *shape,
                                     int64_t count);

/* Runs the batch. workspace: at least usine_cpu_gemm_workspace_size bytes, 64-byte aligned.
 * Handles alpha == 0 and k == 0 (C = beta * C, A and B not read); m, n >= 1. */
void usine_cpu_gemm_run(const usine_gemm_plan *plan, const usine_gemm_shape *shape,
                        const usine_gemm_batch *batch, void *workspace);

/*
 * A virtual operand: a matrix never stored whole (an implicit im2col matrix of a
 * convolution), whose blocks a callback packs straight into the kernel's panel format.
 * pack(ctx, item, W, row0, rows, p0, k, dst) writes rows [row0, row0 + rows) x columns
 * [p0, p0 + k) of batch item `item`'s X (A as is; B as B^T, rows = columns of C) exactly as
 * a usine_gemm_pack_fn of width W would: ceil(rows / W) panels W x k, column p at
 * panel + p * W, rows past `rows` zero, elements of the kernel's in_type. Called from
 * several threads at once on disjoint blocks.
 */
typedef void usine_gemm_virtual_pack_fn(const void *ctx, int64_t item, int width, int64_t row0,
                                        int64_t rows, int64_t p0, int64_t k, void *dst);

typedef struct usine_gemm_virtual {
    usine_gemm_virtual_pack_fn *pack;
    const void *ctx;
} usine_gemm_virtual;

/* The operands of a usine_cpu_gemm_run_virtual: NULL for a stored one. */
typedef struct usine_gemm_virtuals {
    const usine_gemm_virtual *a, *b;
} usine_gemm_virtuals;

/*
 * usine_cpu_gemm_run where A and/or B are virtual (the batch's pointers and the shape's
 * strides for them are then ignored; a_type/b_type should be the kernel's dtype). Only for
 * kernels with k_unit 1 whose in_type is their dtype (the f32 and f64 kernels). Virtual
 * operands are always packed, and the matrix-vector path is never taken. The workspace:
 * usine_cpu_gemm_virtual_workspace_size bytes, 64-byte aligned.
 */
size_t usine_cpu_gemm_virtual_workspace_size(const usine_gemm_plan *plan,
                                             const usine_gemm_shape *shape, int64_t count);
void usine_cpu_gemm_run_virtual(const usine_gemm_plan *plan, const usine_gemm_shape *shape,
                                const usine_gemm_batch *batch, const usine_gemm_virtuals *virtuals,
                                void *workspace);

/* The edge kernel that should take the last full panel and a remainder of `rem` rows (one
 * vector or less) as two panels of its width (48 + 16 rows as 32 + 32: a one-vector tile has
 * as few FMA chains as the FMA latency covers and a B broadcast per FMA, and ran its rows
 * 19-27% slower than the full tile on Zen 5, where two-vector tiles run as fast as three);
 * NULL when there is no full panel, no such remainder or no such kernel. */
const usine_gemm_edge *usine_gemm_pair_edge(const usine_gemm_kernel *kernel, int64_t full_panels,
                                            int64_t rem);

/* Element size of a dtype the CPU GEMM computes in (4 or 8); 0 otherwise. */
size_t usine_cpu_gemm_dtype_size(usine_dtype dtype);

/* Element size of any storage dtype (2 for bf16/f16, 1 for s8/u8, 4, 8). */
size_t usine_dtype_storage_size(usine_dtype dtype);

#endif
