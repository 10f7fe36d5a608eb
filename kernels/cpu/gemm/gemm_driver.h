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

/* Element size of a dtype the CPU GEMM computes in (4 or 8); 0 otherwise. */
size_t usine_cpu_gemm_dtype_size(usine_dtype dtype);

/* Element size of any storage dtype (2 for bf16/f16, 1 for s8/u8, 4, 8). */
size_t usine_dtype_storage_size(usine_dtype dtype);

#endif
