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

/* Keys per block of the forward (query rows per step of the backward): the tuning
 * parameter of the drivers (usine_attn_problem.block), a multiple of 16 (every kernel's nr,
 * and even for bf16 pairs) in [MIN, MAX]. The default keeps S^T (64 x mr floats, 12 KiB at
 * mr = 48) in L1 beside the rows of K and V being read. */
#define USINE_ATTN_BLOCK_DEFAULT 64
#define USINE_ATTN_BLOCK_MIN     16
#define USINE_ATTN_BLOCK_MAX     256

typedef struct usine_attn_kernel {
    const char *name; /* e.g. "usine_attn_fwd_f32_cpu_avx512_48x8" */
    usine_cpu_isa isa;
    int mr; /* query rows per block: a multiple of the vector width */
    int nr; /* keys per scores tile and head_dim columns per pv tile; divides 16 */
    /* st[j * mr + i] = sum_p qt[p * mr + i] * k[j * ks + p] for j < nk (1 <= nk <= block);
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
    /*
     * Native bf16 forward (NULL in kernels without one; bf16 inputs are then converted to
     * f32). Operands of the dot products are bf16 PAIRS, one pair per 32-bit lane, summed
     * into f32 (vdpbf16ps): Q^T pairs along head_dim, qt2[pp * mr + i] = (q_i[2pp],
     * q_i[2pp+1]) unscaled; P^T pairs along keys, pt2[jp * mr + i] = (p_i[2jp], p_i[2jp+1]);
     * V pairs along keys, vt2[jp * d + c] = (v[2jp][c], v[2jp+1][c]). A missing second key
     * of the last pair is 0 in both P and V.
     *   scores_bf16: st[j * mr + i] = c * sum_pp qt2 . k_j pair (K rows of bf16 read in
     *                place, any alignment) for j < nk, rows up to round_up(nk, nr) as scores;
     *   softmax_bf16: the step of softmax, P written to pt2 rounded to bf16 (l sums the f32
     *                values);
     *   pack_v_bf16: vt2 from rows j < nk of V (bf16 rows of d, stride vs);
     *   pv_bf16:     pv with P^T and V from pt2 and vt2.
     */
    void (*scores_bf16)(int64_t d, const uint32_t *qt2, const uint16_t *k, int64_t ks, int nk,
                        float c, float *st);
    void (*softmax_bf16)(int nk, float *st, float *m, float *l, float *alpha, uint32_t *pt2);
    void (*pack_v_bf16)(int64_t d, int nk, const uint16_t *v, int64_t vs, uint32_t *vt2);
    void (*pv_bf16)(int64_t d, int nk, const uint32_t *pt2, const uint32_t *vt2, const float *alpha,
                    float *ot);
} usine_attn_kernel;

extern const usine_attn_kernel usine_attn_fwd_f32_cpu_generic_16x4;
extern const usine_attn_kernel usine_attn_fwd_f32_cpu_avx2_24x4;
extern const usine_attn_kernel usine_attn_fwd_f32_cpu_avx512_48x8;
extern const usine_attn_kernel usine_attn_fwd_bf16_cpu_avx512bf16_48x8;

#endif
