/*
 * Does a peer's C agree with usine's? Both are rounded versions of the same exact
 * product, each within gamma_k * sum_p |a_ip| |b_pj| of it (Higham, Accuracy and
 * Stability, 3.5), so they differ by at most about 2 (k + 3) u sum_p |a_ip| |b_pj|.
 * That sum would cost a GEMM; its cheap upper bound
 *   s_ij = min(max_p |a_ip| * sum_p |b_pj|, sum_p |a_ip| * max_p |b_pj|)
 * stands in for it. A wrong block or a dropped k-panel is many times over the bound.
 *
 * bf16 x bf16 -> f32: products of bf16 values are exact in f32, so only the f32 sums
 * round and u is f32's. u8 x s8 -> s32 is exact: the tolerance is 0.
 */
#ifndef USINE_BENCH_CHECK_H
#define USINE_BENCH_CHECK_H

#include <stdint.h>

#include "usine.h"

typedef struct usine_bench_operands {
    usine_dtype a_type, b_type,
        c_type; /* f32, f64 (all three alike), bf16 -> f32, u8 x s8 -> s32 */
    int64_t m, n, k, batch;
    const void *a, *b;   /* column-major op(A) m x k, op(B) k x n, item i at + i m k (k n) */
    char transa, transb; /* 'N': lda = m (ldb = k); 'T': A stored k x m, lda = k (ldb = n) */
} usine_bench_operands;

typedef struct usine_bench_check {
    double max_rel;   /* max over C of |c - c_ref| / s_ij */
    double tolerance; /* 2 (k + 3) u of C's dtype; 0 for s32 */
    int match;        /* max_rel <= tolerance, and no NaN */
    int64_t worst_i, worst_j, worst_item;
    char what[4]; /* attention backward: the worst tensor, "dq", "dk" or "dv"; else "" */
} usine_bench_check;

/* Compares c with c_ref (both column-major m x n, ldc = m, item i at + i m n). Returns -1
 * when out of memory. */
int usine_bench_compare(const usine_bench_operands *ops, const void *c_ref, const void *c,
                        usine_bench_check *out);

#endif
