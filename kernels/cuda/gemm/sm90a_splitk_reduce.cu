/* The second kernel of an sm_90a split-k GEMM (sm90a_gemm.cuh, "Split k"): sums the f32
 * slices of each output in slice order (the result does not depend on the grid) and applies
 * the epilogue (alpha, beta, bias, activation) as the GEMM kernels do. The slices are few
 * and D small where split k is chosen: one thread an element, no shared memory. */
#include "sm90a_gemm.cuh"

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
namespace usine_sm90
{
template <typename T>
__device__ __forceinline__ void splitk_reduce(const float *w, int64_t slices,
                                              const usine_cuda_gemm_args &p)
{
    const int64_t plane = p.m * p.n, total = plane * p.batch;
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += step) {
        const int64_t z = e / plane, in = e - z * plane, row = in / p.n, col = in - row * p.n;
        const float *x = w + z * slices * plane + in;
        float v = 0.0f;
        for (int64_t s = 0; s < slices; s++)
            v += x[s * plane];
        store_one<T>(p, z * p.d_batch + row * p.ldd + col, row, col, v);
    }
}
} // namespace usine_sm90
#define USINE_SPLITK_BODY(T) usine_sm90::splitk_reduce<T>(w, slices, args);
#else
#define USINE_SPLITK_BODY(T)                                                                       \
    (void)w;                                                                                       \
    (void)slices;                                                                                  \
    (void)args;
#endif

extern "C" __global__ void __launch_bounds__(USINE_CUDA_REDUCE_THREADS)
    usine_splitk_reduce_cuda_sm90a_bf16(const float *w, int64_t slices,
                                        const usine_cuda_gemm_args args)
{
    USINE_SPLITK_BODY(__nv_bfloat16)
}

extern "C" __global__ void __launch_bounds__(USINE_CUDA_REDUCE_THREADS)
    usine_splitk_reduce_cuda_sm90a_f16(const float *w, int64_t slices,
                                       const usine_cuda_gemm_args args)
{
    USINE_SPLITK_BODY(__half)
}

extern "C" const usine_cuda_aux_kernel usine_cuda_sm90a_splitk_reduce[2] = {
    {"usine_splitk_reduce_cuda_sm90a_bf16", (const void *)usine_splitk_reduce_cuda_sm90a_bf16, 90,
     USINE_CUDA_BF16, USINE_CUDA_REDUCE_THREADS},
    {"usine_splitk_reduce_cuda_sm90a_f16", (const void *)usine_splitk_reduce_cuda_sm90a_f16, 90,
     USINE_CUDA_F16, USINE_CUDA_REDUCE_THREADS}};
