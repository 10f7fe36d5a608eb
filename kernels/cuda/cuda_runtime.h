/*
 * The CUDA backend as core/ sees it: plain C11, no CUDA header. Two implementations:
 * cuda_runtime.c (+ the .cu kernels), built when CMake finds nvcc 12+, and cuda_absent.c,
 * which answers "not built" to every call, so that core/ holds no #ifdef for CUDA.
 *
 * Errors come back as a usine_status and a message in the caller's buffer (kernels never
 * call up into core/, DESIGN.md); a CUDA error's message holds cudaGetErrorName and
 * cudaGetErrorString.
 */
#ifndef USINE_KERNELS_CUDA_RUNTIME_H
#define USINE_KERNELS_CUDA_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "usine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What one CUDA device is (for the context, `usine info` and the fingerprint). */
typedef struct usine_cuda_device_info {
    int ordinal;
    char name[256];
    int cc_major, cc_minor;       /* compute capability: 8.0 = A100, 9.0 = H100 */
    int sm_count;                 /* streaming multiprocessors */
    int clock_khz;                /* peak SM clock */
    int memory_clock_khz;         /* peak memory clock */
    int memory_bus_bits;          /* memory bus width */
    int64_t memory_bytes;         /* global memory */
    int64_t l2_bytes;             /* L2 cache */
    int64_t smem_per_block_optin; /* most shared memory one block can ask for */
    char pci_bus_id[32];          /* "0000:3b:00.0" */
    int driver_version;           /* cudaDriverGetVersion: 13000 = 13.0 */
    int runtime_version;          /* cudaRuntimeGetVersion of the linked (static) runtime */
} usine_cuda_device_info;

/* 1 when this library was built with the CUDA backend, else 0. */
int usine_cuda_built(void);

/* How the backend was built: "nvcc 13.0, sm_80 sm_90a compute_90, static cudart", or
 * "not built (no nvcc 12+ at configure time)". A static string. */
const char *usine_cuda_build_info(void);

/*
 * Checks that device `ordinal` exists and can run usine's kernels (compute capability 8.0
 * or newer) and describes it. Never crashes without a driver or GPU: returns
 * USINE_ERROR_DEVICE with the CUDA error (e.g. "cudaGetDeviceCount: cudaErrorNoDevice: no
 * CUDA-capable device is detected"), USINE_ERROR_NOT_SUPPORTED when the backend is not
 * built or the GPU is older than sm_80.
 */
usine_status usine_cuda_open(int ordinal, usine_cuda_device_info *info, char *message,
                             size_t message_size);

/* Number of devices the runtime sees (0 with an error message when none or no driver). */
usine_status usine_cuda_device_count(int *count, char *message, size_t message_size);

/*
 * One GEMM (or a strided batch) on device memory, in the kernel's own terms:
 *   D(i, j) = act(alpha * sum_p A(i, p) B(p, j) + beta * D(i, j) + bias), D row-major,
 * i < m, j < n, p < k, item z of the batch at a + z * a_batch (elements) etc.
 * A(i, p) = a[i * a_stride_m + p * a_stride_k]; one of the two strides must be 1 (likewise
 * B's). core/gemm.c maps row- and column-major calls with transposes onto this.
 * in_type: USINE_BF16 or USINE_F16 (A and B alike); out_type: USINE_F32 or in_type.
 * beta == 0: D is never read. k == 0: acc = 0 and A, B are never read.
 */
typedef struct usine_cuda_gemm_problem {
    int64_t m, n, k, batch;
    const void *a;
    int64_t a_stride_m, a_stride_k, a_batch;
    const void *b;
    int64_t b_stride_k, b_stride_n, b_batch;
    void *d;
    int64_t ldd, d_batch;
    usine_dtype in_type, out_type;
    float alpha, beta;
    const float *bias; /* device memory; NULL, or n values (bias_per_row: m values) */
    int bias_per_row;
    usine_activation activation;
    /* k slices of an sm_90a kernel (USINE_CUDA_SPLIT_K): 0 the library's choice, 1 none, N at
     * most N (k tiles of 64 shared out evenly). Split k takes slices x m x n x batch f32 of
     * stream-ordered device memory (cudaMallocAsync) for the call's two kernels. */
    int split_k;
} usine_cuda_gemm_problem;

/*
 * Runs the problem on `device` (made current for the call, the caller's current device
 * restored after) and `stream` (a cudaStream_t, NULL = the legacy default stream),
 * asynchronously. *kernel_name (may be NULL) gets the chosen kernel's name. A launch error
 * is returned; an error of the kernel itself surfaces at the caller's next synchronisation.
 * USINE_KERNEL=<name> forces a kernel (force, NULL for none). *k_slices (may be NULL) gets
 * the number of k slices it ran in (1: no split k).
 */
usine_status usine_cuda_gemm(int device, void *stream, const usine_cuda_gemm_problem *problem,
                             const char *force, const char **kernel_name, int *k_slices,
                             char *message, size_t message_size);

/* Name of the kernel usine_cuda_gemm would choose (no launch, no device needed). */
const char *usine_cuda_gemm_kernel_name(const usine_cuda_gemm_problem *problem, const char *force);

/*
 * One attention problem on device memory (usine_attention_desc's terms, checked by core/):
 * q, k, v, o (and d_o, dq, dk, dv for the backward) [batch, head, position, head_dim] with
 * the given strides in elements and head_dim contiguous; lse f32 [batch, heads_q, seq_q]
 * contiguous (varlen: [heads_q, cu_seqlens_q[batch]]), NULL allowed in the forward.
 * cu_seqlens_q, cu_seqlens_k: NULL or batch + 1 offsets in DEVICE memory (as frameworks keep
 * them); their contents cannot be checked without a synchronisation, so the kernels clamp
 * each sequence's length to [0, seq_q] and [0, seq_k]. dtype: USINE_BF16 or USINE_F16;
 * head_dim 64 or 128; scale resolved (never 0).
 */
typedef struct usine_cuda_attention_problem {
    usine_dtype dtype;
    int64_t batch, heads_q, heads_kv, seq_q, seq_k, head_dim;
    int64_t q_strides[3], k_strides[3], v_strides[3], o_strides[3];
    float scale;
    int causal;
    int64_t window; /* 0: none */
    const int32_t *cu_seqlens_q, *cu_seqlens_k;
    const void *q, *k, *v;
    void *o;
    float *lse;
    /* backward only: dO (o_strides), the gradients (strides of q, k, v) */
    const void *d_o;
    void *dq, *dk, *dv;
} usine_cuda_attention_problem;

/*
 * The attention forward (FlashAttention-2: wgmma on cc 9.0, mma.sync on sm_80 and newer) on
 * `device` and `stream`, asynchronously, as usine_cuda_gemm. USINE_ERROR_NOT_SUPPORTED with the
 * reason in `message` for what the kernels do not take (dtype, head_dim, 16-byte alignment of the
 * bases and strides, sizes beyond the grid). force: a kernel name (USINE_CUDA_KERNEL) honoured when
 * it is an attention forward kernel that fits, ignored when it names another family, refused
 * (USINE_ERROR_NOT_SUPPORTED) when it names an sm_90a kernel and the device is not cc 9.0.
 */
usine_status usine_cuda_attention_forward(int device, void *stream,
                                          const usine_cuda_attention_problem *problem,
                                          const char *force, const char **kernel_name,
                                          char *message, size_t message_size);

/*
 * The attention backward (FlashAttention-2 on sm_80 and newer: a delta pass, a dK/dV pass that
 * sums grouped-query heads in its block, and a separate dQ pass: no atomics, deterministic),
 * given q, k, v, o, lse (required) and d_o; writes dq, dk, dv. Asynchronous on `stream`; it
 * takes batch x heads_q x seq_q f32 of stream-ordered device memory (cudaMallocAsync) for the
 * duration of the call's kernels. *kernel_name gets the dK/dV kernel's name.
 */
usine_status usine_cuda_attention_backward(int device, void *stream,
                                           const usine_cuda_attention_problem *problem,
                                           const char *force, const char **kernel_name,
                                           char *message, size_t message_size);

/*
 * For `usine bench` only (the unfused attention baseline, bench/cuda_bench.c): P = row softmax
 * of scale S with the bottom-right causal mask when `causal`, S f32 and P bf16 [rows][ld] in
 * device memory, row r being query r % seq_q of a seq_q x cols problem. Asynchronous.
 */
usine_status usine_cuda_bench_softmax_rows(int device, void *stream, const float *s, void *p,
                                           int64_t rows, int64_t cols, int64_t ld, int64_t seq_q,
                                           float scale, int causal, char *message,
                                           size_t message_size);

/*
 * The kernel table (GEMM kernels, then attention kernels), for tests and `usine info`:
 * count, and entry i's name, target arch (80 = sm_80 mma.sync), threads per block, minimum blocks
 * per SM (__launch_bounds__) and dynamic shared memory in bytes. Returns 0 for i out of range.
 */
int usine_cuda_kernel_count(void);
int usine_cuda_kernel_info(int i, const char **name, int *arch, int *threads, int *min_blocks,
                           int *smem_bytes);

#ifdef __cplusplus
}
#endif

#endif
