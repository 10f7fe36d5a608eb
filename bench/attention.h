/*
 * Attention lines of a suite: usine_attention_forward against the unfused baseline, each
 * timed in its own child (child.h) like a GEMM peer. The baseline is what a framework
 * without a fused kernel does, per (batch, query head): S = Q K^T with OpenBLAS's
 * cblas_sgemm into a seq_q x seq_k scores buffer, a row softmax of S * scale with the mask
 * applied (a plain C loop over expf, rows split over the threads), then O = P V with
 * cblas_sgemm. Causal and window lines compute all of S and mask it afterwards: skipping
 * masked blocks is what fusion buys. bf16 lines convert Q, K and V to f32 once (untimed)
 * and run the same f32 path.
 */
#ifndef USINE_BENCH_ATTENTION_H
#define USINE_BENCH_ATTENTION_H

#include "jobs.h"

/* Q [batch, heads, seq_q, head_dim], K and V [batch, kv_heads, seq_k, head_dim], O like Q:
 * contiguous BHSD, in the case's dtype (O: f32 from the baseline, the case's dtype from
 * usine). Query head h reads kv head h / (heads / kv_heads). */
typedef struct usine_bench_attention_job {
    const usine_bench_case *bcase;
    int threads;
    int lib; /* USINE_BENCH_USINE or USINE_BENCH_UNFUSED */
    const void *q, *k, *v;
    void *o;         /* shared with the parent; backward lines: dQ, dK, dV one after another */
    const void *d_o; /* backward lines: dO, like Q in the case's dtype; NULL for the forward */
    usine_bench_timing timing;
} usine_bench_attention_job;

typedef struct usine_bench_attention_out {
    usine_bench_gemm_out base;
    double extra_bytes; /* growth of the child's peak RSS over setup and the first call; 0:
                           not measured (no /proc/self/clear_refs) */
} usine_bench_attention_out;

void usine_bench_attention_child(void *arg, void *out);

/* Bytes of the baseline's scores buffers: seq_q x seq_k floats (one head at a time), two of
 * them (P and dP) for a backward line. */
double usine_bench_attention_scores_bytes(const usine_bench_case *c);

/* Compares usine's O (the case's dtype) with the baseline's f32 O. Both approximate the
 * exact softmax(Q K^T scale) V, whose rows are convex combinations of V's rows: the
 * difference is measured against max |V| and allowed 2 (head_dim + seq_k + 3) u_f32 (the
 * dot products of S and of P V), plus bf16's unit roundoff 2^-8 when usine rounds O to
 * bf16. worst_i is the query row, worst_j the head dimension, worst_item batch * heads +
 * head. Returns -1 on bad arguments. */
int usine_bench_attention_compare(const usine_bench_case *c, const void *v, const void *o_usine,
                                  const float *o_ref, usine_bench_check *out);

/* Backward lines (att.backward): usine's dQ, dK, dV (the case's dtype, one after another as
 * in the job's o) against the baseline's f32 ones. Each tensor's difference is measured
 * against the largest |element| of the baseline's tensor and allowed
 * 4 (head_dim + seq_q + seq_k + 3) u_f32 (the dot products of S, dP and D, then the sums over
 * keys of dQ and over queries of dK and dV: twice the forward's depth), plus 2^-7 for bf16
 * lines (the gradients rounded to bf16, and usine's bf16 O entering D = rowsum(dO O): the
 * baseline rounds its O to bf16 too, but both roundings still differ, doubled as in
 * tests/attention/test_attention_backward.c). check->what names the worst tensor ("dq", "dk",
 * "dv"); worst_item is batch * heads + head (kv_heads for dK and dV). */
int usine_bench_attention_backward_compare(const usine_bench_case *c, const void *g_usine,
                                           const float *g_ref, usine_bench_check *out);

/* Rows [first, last) of dP (row-major seq_q x seq_k) become dS * scale:
 * ds_ij = scale p_ij (dp_ij - D_i), D_i = sum_c do_ic o_ic (do, o: row-major seq_q x
 * head_dim, f32); masked pairs, whose p_ij is 0, get 0. attention_softmax.c. */
void usine_bench_softmax_grad_rows(float *dp, const float *p, const float *d_o, const float *o,
                                   int64_t first, int64_t last, int64_t seq_k, int64_t head_dim,
                                   float scale);

/* Rows [first, last) of the row-major scores S (seq_q x seq_k) become probabilities:
 * p_ij = exp(scale (s_ij - max_j s_ij)) / sum over the keys query i sees (usine.h's causal
 * and window masks, bottom-right aligned), 0 for the others; a row that sees no key is all
 * 0. attention_softmax.c: compiled with -ffast-math so that expf vectorises (glibc's
 * libmvec), as a framework's softmax would; no infinity is ever made or read. */
void usine_bench_softmax_rows(float *s, int64_t first, int64_t last, int64_t seq_q, int64_t seq_k,
                              int causal, int64_t window, float scale);

#endif
