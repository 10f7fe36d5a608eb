/*
 * The contract between the CUDA attention kernels (*.cu, CUDA C++) and their C launcher
 * (kernels/cuda/cuda_runtime.c): the argument block every attention kernel takes by value,
 * and the descriptor each kernel file exports for the registry. Plain C, read by both.
 */
#ifndef USINE_KERNELS_CUDA_ATTENTION_KERNELS_H
#define USINE_KERNELS_CUDA_ATTENTION_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One attention problem (forward or backward), as usine_cuda_attention_problem says
 * (kernels/cuda/cuda_runtime.h). Strides in elements of [batch, head, position]; head_dim
 * contiguous. Grid: x = query (forward, dQ pass) or key (dK/dV pass) blocks, y = heads (query
 * heads; the dK/dV pass: key/value heads), z = batch items or sequences from batch0 on.
 */
typedef struct usine_cuda_attn_args {
    const void *q, *k, *v;
    void *o;                    /* forward: written; backward: read */
    float *lse;                 /* forward: NULL or written; backward: read */
    const void *d_o;            /* backward only (o_strides) */
    void *dq, *dk, *dv;         /* backward only (strides of q, k, v) */
    float *delta;               /* backward only: D_i = sum_c dO_ic O_ic, laid out like lse */
    const int32_t *cu_q, *cu_k; /* device memory, or NULL */
    int64_t q_strides[3], k_strides[3], v_strides[3], o_strides[3];
    int64_t batch, batch0; /* items (sequences) in all; the first of this launch */
    int64_t heads_q, heads_kv, seq_q, seq_k;
    float scale;      /* multiplies Q K^T */
    float scale_log2; /* scale * log2(e): scores go through exp2 */
    int causal;
    int64_t window; /* 0: none */
} usine_cuda_attn_args;

/* What a kernel computes. */
#define USINE_CUDA_ATTN_FWD           0 /* O, lse */
#define USINE_CUDA_ATTN_BWD_PREP      1 /* delta = rowsum(dO o O) */
#define USINE_CUDA_ATTN_BWD_DKDV      2 /* dK, dV (one block per key block and key/value head) */
#define USINE_CUDA_ATTN_BWD_DQ        3 /* dQ (one block per query block and query head) */
#define USINE_CUDA_ATTN_BENCH_SOFTMAX 4 /* usine bench's unfused baseline (bench_softmax.cu) */

/* One kernel. rows: query rows (FWD, DQ, PREP) or keys (DKDV) per block. */
typedef struct usine_cuda_attn_kernel {
    const char *name;
    const void *function; /* the __global__ function, for cudaLaunchKernel */
    int arch;             /* 80: mma.sync, runs on sm_80 and newer; 90: wgmma, cc 9.0 only */
    int pass;             /* USINE_CUDA_ATTN_* */
    int in_type;          /* USINE_CUDA_BF16 or USINE_CUDA_F16 (cuda_gemm_kernels.h) */
    int head_dim;
    int rows;
    int threads, min_blocks; /* __launch_bounds__ */
    int smem_bytes;          /* dynamic shared memory per block */
} usine_cuda_attn_kernel;

/* The tables the kernel files export (kernels/cuda/attention/sm80_attn_*.cu): bf16 then f16. */
extern const usine_cuda_attn_kernel usine_cuda_sm80_attn_fwd_d64[2];
extern const usine_cuda_attn_kernel usine_cuda_sm80_attn_fwd_d128[2];
/* sm_90a (wgmma) forward, bf16 then f16 (sm90a_attn_fwd_d*.cu): cc 9.0 only. */
extern const usine_cuda_attn_kernel usine_cuda_sm90a_attn_fwd_d64[2];
extern const usine_cuda_attn_kernel usine_cuda_sm90a_attn_fwd_d128[2];
/* prep, dK/dV, dQ, each bf16 then f16 (sm80_attn_bwd_d*.cu) */
extern const usine_cuda_attn_kernel usine_cuda_sm80_attn_bwd_d64[6];
extern const usine_cuda_attn_kernel usine_cuda_sm80_attn_bwd_d128[6];
/* kernels/cuda/bench/bench_softmax.cu */
extern const usine_cuda_attn_kernel usine_cuda_bench_softmax[1];

#ifdef __cplusplus
}
#endif

#endif
