/* The CUDA backend of a library built without nvcc: every call says so (see
 * cuda_runtime.h), so that core/ needs no #ifdef. */
#include <stdio.h>

#include "cuda_runtime.h"

#define NOT_BUILT "not built (no nvcc 12+ was found when this library was configured)"

int usine_cuda_built(void)
{
    return 0;
}

const char *usine_cuda_build_info(void)
{
    return NOT_BUILT;
}

usine_status usine_cuda_open(int ordinal, usine_cuda_device_info *info, char *message,
                             size_t message_size)
{
    (void)info;
    snprintf(message, message_size, "cuda:%d: this build of usine has no CUDA backend: %s", ordinal,
             NOT_BUILT);
    return USINE_ERROR_NOT_SUPPORTED;
}

usine_status usine_cuda_device_count(int *count, char *message, size_t message_size)
{
    *count = 0;
    snprintf(message, message_size, "the CUDA backend is %s", NOT_BUILT);
    return USINE_ERROR_NOT_SUPPORTED;
}

/* What every kernel entry point answers: no kernel, NOT_SUPPORTED and why. */
static usine_status kernel_not_built(int device, const char **kernel_name, char *message,
                                     size_t message_size)
{
    if (kernel_name)
        *kernel_name = "";
    snprintf(message, message_size, "cuda:%d: the CUDA backend is %s", device, NOT_BUILT);
    return USINE_ERROR_NOT_SUPPORTED;
}

usine_status usine_cuda_gemm(int device, void *stream, const usine_cuda_gemm_problem *problem,
                             const char *force, const char **kernel_name, int *k_slices,
                             char *message, size_t message_size)
{
    if (k_slices)
        *k_slices = 1;
    (void)stream;
    (void)problem;
    (void)force;
    return kernel_not_built(device, kernel_name, message, message_size);
}

usine_status usine_cuda_attention_forward(int device, void *stream,
                                          const usine_cuda_attention_problem *problem,
                                          const char *force, const char **kernel_name,
                                          char *message, size_t message_size)
{
    (void)stream;
    (void)problem;
    (void)force;
    return kernel_not_built(device, kernel_name, message, message_size);
}

usine_status usine_cuda_attention_backward(int device, void *stream,
                                           const usine_cuda_attention_problem *problem,
                                           const char *force, const char **kernel_name,
                                           char *message, size_t message_size)
{
    return usine_cuda_attention_forward(device, stream, problem, force, kernel_name, message,
                                        message_size);
}

usine_status usine_cuda_bench_softmax_rows(int device, void *stream, const float *s, void *p,
                                           int64_t rows, int64_t cols, int64_t ld, int64_t seq_q,
                                           float scale, int causal, char *message,
                                           size_t message_size)
{
    (void)stream;
    (void)s;
    (void)p;
    (void)rows;
    (void)cols;
    (void)ld;
    (void)seq_q;
    (void)scale;
    (void)causal;
    snprintf(message, message_size, "cuda:%d: the CUDA backend is %s", device, NOT_BUILT);
    return USINE_ERROR_NOT_SUPPORTED;
}

const char *usine_cuda_gemm_kernel_name(const usine_cuda_gemm_problem *problem, const char *force)
{
    (void)problem;
    (void)force;
    return "";
}

int usine_cuda_kernel_count(void)
{
    return 0;
}

int usine_cuda_kernel_info(int i, const char **name, int *arch, int *threads, int *min_blocks,
                           int *smem_bytes)
{
    (void)i;
    (void)name;
    (void)arch;
    (void)threads;
    (void)min_blocks;
    (void)smem_bytes;
    return 0;
}
