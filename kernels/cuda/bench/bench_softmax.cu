/*
 * The softmax of `usine bench`'s unfused attention baseline on CUDA (cuBLAS S = Q K^T, this
 * kernel, cuBLAS O = P V): what a framework without a fused kernel runs. Not used by usine's
 * own attention. One warp per row of S (f32): the row max, the sum of exp, then P (bf16) =
 * exp(scale S - max) / sum, with the bottom-right aligned causal mask (masked entries 0).
 * Three passes over the row, as a plain framework softmax does.
 * Ran on an H200: bench/cuda_bench.c compares its O with usine's (max diff 4e-3 to 6e-3).
 */
#include <cuda_bf16.h>
#include <stdint.h>

#include "../attention/cuda_attention_kernels.h"
#include "../gemm/cuda_gemm_kernels.h"

/* rows = heads x seq_q (row r is query r % seq_q); S and P [rows][ld]. */
extern "C" __global__ void __launch_bounds__(256, 1)
    usine_bench_softmax_cuda_sm80_bf16(const float *s, __nv_bfloat16 *p, int64_t rows, int64_t cols,
                                       int64_t ld, int64_t seq_q, float scale, int causal)
{
    const int64_t r = (int64_t)blockIdx.x * 8 + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (r >= rows)
        return;
    const int64_t i = r % seq_q, off = cols - seq_q;
    const int64_t end = causal ? (i + off + 1 < cols ? i + off + 1 : cols) : cols;
    const float *row = s + r * ld;
    float mx = -INFINITY;
    for (int64_t j = lane; j < end; j += 32)
        mx = fmaxf(mx, row[j] * scale);
    for (int w = 16; w > 0; w /= 2)
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, w));
    float sum = 0.0f;
    for (int64_t j = lane; j < end; j += 32)
        sum += __expf(row[j] * scale - mx);
    for (int w = 16; w > 0; w /= 2)
        sum += __shfl_xor_sync(0xffffffffu, sum, w);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int64_t j = lane; j < cols; j += 32)
        p[r * ld + j] = __float2bfloat16_rn(j < end ? __expf(row[j] * scale - mx) * inv : 0.0f);
}

extern "C" const usine_cuda_attn_kernel usine_cuda_bench_softmax[1] = {
    {"usine_bench_softmax_cuda_sm80_bf16", (const void *)usine_bench_softmax_cuda_sm80_bf16, 80,
     USINE_CUDA_ATTN_BENCH_SOFTMAX, USINE_CUDA_BF16, 0, 8, 256, 1, 0}};
