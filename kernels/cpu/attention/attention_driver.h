/* The portable CPU attention driver (FlashAttention-2 forward) over the microkernels of
 * attention_kernel.h. core/attention.c checks the arguments; this file trusts them. */
#ifndef USINE_KERNELS_CPU_ATTENTION_DRIVER_H
#define USINE_KERNELS_CPU_ATTENTION_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "usine.h"
#include "attention_kernel.h"

/* One checked forward problem. Strides in elements of [batch, head, position]; the head_dim
 * axis is contiguous. With cu_q/cu_k (varlen) sequence b is positions cu[b] .. cu[b+1]-1 of
 * batch index 0. */
typedef struct usine_attn_problem {
    usine_dtype dtype; /* USINE_F32 or USINE_BF16 (q, k, v, o) */
    int64_t batch, heads_q, heads_kv, seq_q, seq_k, head_dim;
    int64_t q_strides[3], k_strides[3], v_strides[3], o_strides[3];
    float scale; /* resolved (never 0) */
    int causal;
    int64_t window;
    const int32_t *cu_q, *cu_k;
    const void *q, *k, *v;
    void *o;
    float *lse;      /* or NULL */
    int block;       /* keys per block (forward), query rows per step (backward): see
                        USINE_ATTN_BLOCK_DEFAULT; the autotuner's parameter */
    int key_group;   /* backward: blocks of mr keys that share each step of query rows, from
                        usine_cpu_attn_key_group (1 = none); unused by the forward */
    int query_group; /* forward: query blocks that share each key block, from
                        usine_cpu_attn_query_group (1 = none); unused by the backward */
} usine_attn_problem;

/* One sequence of one (batch, query head) pair: its lengths and where its rows start. */
typedef struct usine_attn_sequence {
    int64_t sq, sk;                 /* lengths */
    int64_t q_base, k_base, v_base; /* element offsets of position 0 (K, V: the kv head's) */
    int64_t o_base;                 /* also dO's: the same strides */
    int64_t lse_base;               /* index of its first row in lse (and per-row arrays) */
} usine_attn_sequence;

usine_attn_sequence usine_attn_locate(const usine_attn_problem *p, int64_t b, int64_t h);

/* Whether query qi must not see key kj (off = sk - sq of its sequence): the causal mask
 * hides j > i + off, the window j <= i + off - window. */
static inline int usine_attn_hidden(const usine_attn_problem *p, int64_t qi, int64_t kj,
                                    int64_t off)
{
    return (p->causal && kj > qi + off) || (p->window > 0 && kj <= qi + off - p->window);
}

/* The kernel for the highest of the ISA levels up to `isa` that serves `dtype` (the
 * AVX512-BF16 kernel for bf16 problems; f32 kernels serve both dtypes). */
const usine_attn_kernel *usine_cpu_attn_kernel(usine_cpu_isa isa, usine_dtype dtype);

/* The forward's query group for a core with l2_bytes of L2: as many query blocks (at most 8)
 * as keep their Q^T and O^T tiles in a quarter of it, fewer where the items would not keep
 * `threads` threads busy (4 per thread). The results do not depend on it. */
int usine_cpu_attn_query_group(const usine_attn_kernel *kernel, const usine_attn_problem *p,
                               int64_t l2_bytes, int threads);

/* Bytes of workspace `threads` threads need (64-byte aligned pieces). */
size_t usine_cpu_attn_workspace_size(const usine_attn_kernel *kernel, const usine_attn_problem *p,
                                     int threads);

/* Runs the forward on up to `threads` threads. Each query block is computed by one thread
 * in a fixed order, so the result does not depend on the thread count or the schedule. */
void usine_cpu_attn_forward(const usine_attn_kernel *kernel, const usine_attn_problem *p,
                            int threads, void *workspace);

/* The backward's extra tensors: dO (strides p->o_strides; p->o is the forward's output and
 * p->lse its log-sum-exp, both read), and the gradients dQ, dK, dV (strides of Q, K, V). */
typedef struct usine_attn_grads {
    const void *d_o;
    void *dq, *dk, *dv;
} usine_attn_grads;

/* The backward's key group for a core with l2_bytes of L2: as many blocks of mr keys (at most
 * 8) as keep their tiles (K^T, V^T, dK^T, dV^T and the K rows: 5 d x mr floats a block) in
 * half of it. Each step of query rows (Q, dO and dQ rows, streamed from L3 at long head
 * lengths) then feeds that many blocks while it is in L1/L2: at head_dim 128 on Zen 4
 * (1 MiB L2, 4 blocks) the sweep ran 12% faster than block by block. A function of the
 * shape and the machine, never of the thread count; the results do not depend on it. */
int usine_cpu_attn_key_group(const usine_attn_kernel *kernel, const usine_attn_problem *p,
                             int64_t l2_bytes);

/* Bytes of workspace the backward needs on `threads` threads: per-thread tiles plus the
 * per-row D and lse and the fixed number of dQ partial sums (attention_backward.c). */
size_t usine_cpu_attn_backward_workspace_size(const usine_attn_kernel *kernel,
                                              const usine_attn_problem *p, int threads);

/* Runs the FlashAttention-2 backward on up to `threads` threads; bitwise independent of the
 * thread count and the schedule. */
void usine_cpu_attn_backward(const usine_attn_kernel *kernel, const usine_attn_problem *p,
                             const usine_attn_grads *g, int threads, void *workspace);

#endif
