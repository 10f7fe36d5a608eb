/*
 * The contract between the CUDA GEMM kernels (*.cu, CUDA C++) and their C launcher
 * (kernels/cuda/cuda_runtime.c): the argument block every GEMM kernel takes by value, and
 * the descriptor each kernel file exports for the registry. Plain C, read by both.
 */
#ifndef USINE_KERNELS_CUDA_GEMM_KERNELS_H
#define USINE_KERNELS_CUDA_GEMM_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * D(i, j) = act(alpha * sum_p A(i, p) B(p, j) + beta * D(i, j) + bias), D row-major,
 * as usine_cuda_gemm_problem says (kernels/cuda/cuda_runtime.h). Strides in elements.
 */
typedef struct usine_cuda_gemm_args {
    const void *a;
    const void *b;
    void *d;
    const float *bias;
    int64_t m, n, k;
    int64_t batch; /* items (sm_90a kernels; the sm_80 ones take gridDim.z items a launch) */
    int64_t a_stride_m, a_stride_k, a_batch;
    int64_t b_stride_k, b_stride_n, b_batch;
    int64_t ldd, d_batch;
    float alpha, beta;
    int out_f32;      /* 1: D is f32; 0: D has the input type (bf16 or f16) */
    int bias_per_row; /* bias indexed by i (else by j) */
    int activation;   /* a usine_activation */
    /* sm_90a split k: 0, the whole k per tile; else a multiple of 64, each tile of D then
     * computed as ceil(k / k_chunk) slices of k_chunk (the last one shorter), slice s of item
     * z stored as D item z * slices + s (an f32 workspace, alpha 1, beta 0, no bias or
     * activation, which usine_cuda_sm90a_splitk_reduce sums into the real D). */
    int64_t k_chunk;
} usine_cuda_gemm_args;

/* Input element types of a kernel (usine_dtype values, repeated to keep usine.h out of
 * the .cu files' C++). */
#define USINE_CUDA_BF16 2
#define USINE_CUDA_F16  3

/*
 * One kernel. a_k_contiguous: the kernel reads A through 16-byte copies along k (A's k
 * stride is 1), else along m (A's m stride is 1); likewise b_k_contiguous for B (else
 * along n). vector_loads == 0: element loads with any strides and any alignment (the two
 * contiguity fields are then -1).
 */
typedef struct usine_cuda_gemm_kernel {
    const char *name;
    const void *function; /* the __global__ function, for cudaLaunchKernel */
    int arch;    /* 80: mma.sync, runs on sm_80 and newer; 90: wgmma + TMA, sm_90a, cc 9.0 only */
    int in_type; /* USINE_CUDA_BF16 or USINE_CUDA_F16 */
    int a_k_contiguous, b_k_contiguous;
    int vector_loads;
    int bm, bn, bk, stages;
    int threads, min_blocks; /* __launch_bounds__ */
    int smem_bytes;          /* dynamic shared memory per block */
    int cluster_m;           /* sm_90a: blocks of a cluster along m, sharing B through TMA multicast
                                (1 or 2); 0 (the sm_80 entries): no cluster */
} usine_cuda_gemm_kernel;

/* The tables the kernel files export (kernels/cuda/gemm/sm80_gemm_<tile>.cu). */
extern const usine_cuda_gemm_kernel usine_cuda_sm80_gemm_128x128x32_s4[8];
extern const usine_cuda_gemm_kernel usine_cuda_sm80_gemm_128x256x32_s3[8];
extern const usine_cuda_gemm_kernel usine_cuda_sm80_gemm_64x64x32_s4[8];
extern const usine_cuda_gemm_kernel usine_cuda_sm80_gemm_64x64x32_scalar[2];
/* sm_90a (wgmma + TMA, warp-specialised, persistent: kernels/cuda/gemm/sm90a_gemm_<tile>.cu).
 * Their parameters: the TMA maps of A and B (CUtensorMap, __grid_constant__), then
 * usine_cuda_gemm_args. Entries 0-7 launch blocks alone, 8-15 in clusters of two. */
extern const usine_cuda_gemm_kernel usine_cuda_sm90a_gemm_128x256x64_s4[16];
extern const usine_cuda_gemm_kernel usine_cuda_sm90a_gemm_128x128x64_s6[16];
extern const usine_cuda_gemm_kernel usine_cuda_sm90a_gemm_64x256x64_s5[16];

/* A kernel that runs behind a GEMM (no tile of its own, never chosen or forced as one), listed
 * in the kernel table for usine info and the ptxas check. */
typedef struct usine_cuda_aux_kernel {
    const char *name;
    const void *function;
    int arch, in_type, threads;
} usine_cuda_aux_kernel;

/* The split-k sum (kernels/cuda/gemm/sm90a_splitk_reduce.cu), bf16 then f16 inputs: D =
 * act(alpha sum_s W(s) + beta D + bias) as args say, W f32 [batch][slices][m][n]. Parameters:
 * (const float *w, int64_t slices, usine_cuda_gemm_args args); one thread an element of D,
 * USINE_CUDA_REDUCE_THREADS a block, any grid (a grid-stride loop). */
extern const usine_cuda_aux_kernel usine_cuda_sm90a_splitk_reduce[2];
#define USINE_CUDA_REDUCE_THREADS 256

#ifdef __cplusplus
}
#endif

#endif
