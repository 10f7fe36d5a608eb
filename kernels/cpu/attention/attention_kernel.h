/*
 * The CPU attention microkernel contract (FlashAttention-2 forward, f32 arithmetic).
 *
 * Everything is vectorised along queries: a query block of `mr` rows is held transposed,
 * so that one vector holds one column (a head_dim index or a key) of `mr / lanes` vectors
 * of queries. Then
 *   - S^T = K Q^T (scores) broadcasts K elements read in place from the caller's rows
 *     (head_dim contiguous: no packing, no transpose of K) against vector loads of Q^T;
 *   - the online softmax works lane-wise: the running max and sum of each query sit in a
 *     lane, so no horizontal reduction is ever needed;
 *   - O^T += V^T P^T (pv) broadcasts V elements read in place against vector loads of P^T.
 * Q^T (scaled by scale * log2(e), so that the softmax uses exp2) and O^T live in the
 * driver's per-thread workspace; O^T is transposed back once per query block.
 *
 * Layouts (floats): qt[p * mr + i] (p < d), st[j * mr + i] (j < nk rounded up to nr),
 * ot[c * mr + i] (c < d), m, l, alpha[i] (i < mr).
 */
#ifndef USINE_KERNELS_CPU_ATTENTION_KERNEL_H
#define USINE_KERNELS_CPU_ATTENTION_KERNEL_H

#include <stdint.h>

#include "../cpu_isa.h"

/* Keys per block: S^T (64 x mr floats, 12 KiB at mr = 48) stays in L1 beside the rows of K
 * and V being read; a multiple of every kernel's nr. */
#define USINE_ATTN_BK 64

typedef struct usine_attn_kernel {
    const char *name; /* e.g. "usine_attn_fwd_f32_cpu_avx512_48x8" */
    usine_cpu_isa isa;
    int mr; /* query rows per block: a multiple of the vector width */
    int nr; /* keys per scores tile and head_dim columns per pv tile; divides 16 and BK */
    /* st[j * mr + i] = sum_p qt[p * mr + i] * k[j * ks + p] for j < nk (1 <= nk <= BK);
     * rows nk .. round_up(nk, nr) - 1 are written with values to ignore (K's last row is
     * read again for them, never memory past it). */
    void (*scores)(int64_t d, const float *qt, const float *k, int64_t ks, int nk, float *st);
    /* One online-softmax step over rows j < nk of st (log2 domain, -inf = masked):
     * mx = max(m, max_j st), mu = (mx == -inf ? 0 : mx), alpha = exp2(m - mu),
     * st = exp2(st - mu) in place (0 where st = -inf), l = alpha * l + sum_j st (j in order),
     * m = mx. */
    void (*softmax)(int nk, float *st, float *m, float *l, float *alpha);
    /* ot[c * mr + i] = alpha[i] * ot[c * mr + i] + sum_{j < nk} pt[j * mr + i] * v[j * vs + c]
     * for c < d (d a multiple of 16), the sum taken in order of j. */
    void (*pv)(int64_t d, int nk, const float *pt, const float *v, int64_t vs, const float *alpha,
               float *ot);
    /*
     * Backward (attention_backward.c). There the roles turn around: a block of mr KEYS sits
     * in the lanes (K^T and V^T packed like Q^T above) and the rows are queries, so scores
     * gives S[i * mr + j] and dP[i * mr + j], and pv accumulates dV^T and dK^T of the block
     * (alpha = 1). Two more functions:
     *   bwd_ds: for rows i < n, st = exp2(st - lse2[i]) (P; 0 where st = -inf) and
     *           dpt = st * (dpt - dd[i]) (dS = P (dP - D)), in place;
     *   dq:     dq[i * d + c] += sum_{j < nk} ds[i * mr + j] * k[j * ks + c] for i < n,
     *           c < d, the sum taken in order of j (dq rows of d floats, any alignment).
     */
    void (*bwd_ds)(int n, float *st, float *dpt, const float *lse2, const float *dd);
    void (*dq)(int64_t d, int n, int nk, const float *ds, const float *k, int64_t ks, float *dq);
} usine_attn_kernel;

extern const usine_attn_kernel usine_attn_fwd_f32_cpu_generic_16x4;
extern const usine_attn_kernel usine_attn_fwd_f32_cpu_avx2_24x4;
extern const usine_attn_kernel usine_attn_fwd_f32_cpu_avx512_48x8;

#endif
