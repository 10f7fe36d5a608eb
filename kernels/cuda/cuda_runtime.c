/*
 * The CUDA backend's host side, in C against the CUDA runtime API (linked statically):
 * device probing, the GEMM kernel registry, kernel choice and launch. The kernels
 * themselves are the only CUDA C++ (the .cu files under kernels/cuda/gemm).
 *
 * Without a driver or a GPU every entry point returns an error with the CUDA message: the
 * static runtime loads libcuda.so.1 on its first call and reports its absence as an error
 * code (cudaErrorInsufficientDriver, cudaErrorNoDevice), never a crash.
 */
#include "cuda_runtime.h"

#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gemm/cuda_gemm_kernels.h"

#ifndef USINE_CUDA_BUILD_TEXT
#define USINE_CUDA_BUILD_TEXT "nvcc (version unknown)"
#endif

int usine_cuda_built(void)
{
    return 1;
}

const char *usine_cuda_build_info(void)
{
    return USINE_CUDA_BUILD_TEXT;
}

/* A CUDA error as a status and "what: cudaErrorName: description". Clears the runtime's
 * last (non-sticky) error so that it does not resurface in the caller's next check. */
static usine_status cuda_error(cudaError_t e, const char *what, char *message, size_t size)
{
    snprintf(message, size, "%s: %s: %s", what, cudaGetErrorName(e), cudaGetErrorString(e));
    (void)cudaGetLastError();
    return e == cudaErrorMemoryAllocation ? USINE_ERROR_OUT_OF_MEMORY : USINE_ERROR_DEVICE;
}

usine_status usine_cuda_device_count(int *count, char *message, size_t message_size)
{
    *count = 0;
    const cudaError_t e = cudaGetDeviceCount(count);
    if (e != cudaSuccess) {
        *count = 0;
        return cuda_error(e, "cudaGetDeviceCount", message, message_size);
    }
    return USINE_SUCCESS;
}

static int attribute(enum cudaDeviceAttr attr, int device)
{
    int v = 0;
    if (cudaDeviceGetAttribute(&v, attr, device) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return v;
}

usine_status usine_cuda_open(int ordinal, usine_cuda_device_info *info, char *message,
                             size_t message_size)
{
    memset(info, 0, sizeof *info);
    int count = 0;
    usine_status st = usine_cuda_device_count(&count, message, message_size);
    if (st != USINE_SUCCESS)
        return st;
    if (ordinal < 0 || ordinal >= count) {
        snprintf(message, message_size, "cuda:%d: this machine has %d CUDA device%s", ordinal,
                 count, count == 1 ? "" : "s");
        return USINE_ERROR_DEVICE;
    }
    struct cudaDeviceProp prop;
    const cudaError_t e = cudaGetDeviceProperties(&prop, ordinal);
    if (e != cudaSuccess)
        return cuda_error(e, "cudaGetDeviceProperties", message, message_size);
    info->ordinal = ordinal;
    snprintf(info->name, sizeof info->name, "%s", prop.name);
    info->cc_major = prop.major;
    info->cc_minor = prop.minor;
    info->sm_count = prop.multiProcessorCount;
    info->memory_bytes = (int64_t)prop.totalGlobalMem;
    info->l2_bytes = prop.l2CacheSize;
    info->smem_per_block_optin = (int64_t)prop.sharedMemPerBlockOptin;
    /* CUDA 13 removed the clock fields from cudaDeviceProp: the attributes remain. */
    info->clock_khz = attribute(cudaDevAttrClockRate, ordinal);
    info->memory_clock_khz = attribute(cudaDevAttrMemoryClockRate, ordinal);
    info->memory_bus_bits = attribute(cudaDevAttrGlobalMemoryBusWidth, ordinal);
    if (cudaDeviceGetPCIBusId(info->pci_bus_id, (int)sizeof info->pci_bus_id, ordinal) !=
        cudaSuccess) {
        (void)cudaGetLastError();
        info->pci_bus_id[0] = '\0';
    }
    if (cudaDriverGetVersion(&info->driver_version) != cudaSuccess)
        (void)cudaGetLastError();
    if (cudaRuntimeGetVersion(&info->runtime_version) != cudaSuccess)
        (void)cudaGetLastError();
    if (info->cc_major < 8) {
        snprintf(message, message_size,
                 "cuda:%d: %s is sm_%d%d; usine's CUDA kernels need sm_80 or newer", ordinal,
                 info->name, info->cc_major, info->cc_minor);
        return USINE_ERROR_NOT_SUPPORTED;
    }
    return USINE_SUCCESS;
}

/* ------------------------------------------------------------------ registry */

/* Every kernel, in order of preference within a family. Adding a tile shape = one .cu file
 * and one line here. */
static const struct {
    const usine_cuda_gemm_kernel *table;
    int count;
} families[] = {
    {usine_cuda_sm80_gemm_128x128x32_s4, 8},
    {usine_cuda_sm80_gemm_64x64x32_s4, 8},
    {usine_cuda_sm80_gemm_128x256x32_s3, 8},
    {usine_cuda_sm80_gemm_64x64x32_scalar, 2},
};
#define FAMILIES ((int)(sizeof families / sizeof families[0]))

static const usine_cuda_gemm_kernel *kernel_at(int i)
{
    for (int f = 0; f < FAMILIES; f++) {
        if (i < families[f].count)
            return &families[f].table[i];
        i -= families[f].count;
    }
    return NULL;
}

int usine_cuda_kernel_count(void)
{
    int n = 0;
    for (int f = 0; f < FAMILIES; f++)
        n += families[f].count;
    return n;
}

int usine_cuda_kernel_info(int i, const char **name, int *arch, int *threads, int *min_blocks,
                           int *smem_bytes)
{
    const usine_cuda_gemm_kernel *k = i >= 0 ? kernel_at(i) : NULL;
    if (!k)
        return 0;
    *name = k->name;
    *arch = k->arch;
    *threads = k->threads;
    *min_blocks = k->min_blocks;
    *smem_bytes = k->smem_bytes;
    return 1;
}

/* How the problem's operands can be read: 16-byte copies along k (1), along m or n (0), or
 * element by element only (-1: a stride, the base or the batch stride breaks 16-byte
 * alignment). */
static int arrangement(const void *base, int64_t stride_rows, int64_t stride_k, int64_t batch,
                       int64_t batch_stride)
{
    const int aligned_base = ((uintptr_t)base & 15) == 0;
    const int batch_ok = batch <= 1 || batch_stride % 8 == 0;
    if (!aligned_base || !batch_ok)
        return -1;
    if (stride_k == 1 && stride_rows % 8 == 0)
        return 1;
    if (stride_rows == 1 && stride_k % 8 == 0)
        return 0;
    return -1;
}

static int type_code(usine_dtype t)
{
    return t == USINE_BF16 ? USINE_CUDA_BF16 : t == USINE_F16 ? USINE_CUDA_F16 : -1;
}

/* Can kernel k run this problem? */
static int fits(const usine_cuda_gemm_kernel *k, const usine_cuda_gemm_problem *p)
{
    if (k->in_type != type_code(p->in_type))
        return 0;
    if (!k->vector_loads) /* the element path takes anything */
        return 1;
    const int a = arrangement(p->a, p->a_stride_m, p->a_stride_k, p->batch, p->a_batch);
    const int b = arrangement(p->b, p->b_stride_n, p->b_stride_k, p->batch, p->b_batch);
    /* k == 0 or alpha == 0 reads neither operand (core passes k = 0): any kernel will do. */
    if (p->k == 0)
        return 1;
    return a == k->a_k_contiguous && b == k->b_k_contiguous;
}

/* The kernel for a problem: the forced one, else 128 x 128 when its tiles fill the GPU
 * (two blocks per SM), else 64 x 64, else the element path. A model and the tuning
 * database are to replace this rule (issue 9, phase 2). */
static const usine_cuda_gemm_kernel *choose(const usine_cuda_gemm_problem *p, const char *force,
                                            int sm_count)
{
    const int n = usine_cuda_kernel_count();
    if (force && *force) {
        for (int i = 0; i < n; i++) {
            const usine_cuda_gemm_kernel *k = kernel_at(i);
            if (strcmp(k->name, force) == 0)
                return fits(k, p) ? k : NULL;
        }
        return NULL;
    }
    const int64_t tiles128 = ((p->m + 127) / 128) * ((p->n + 127) / 128) * p->batch;
    const int want_bm = tiles128 >= 2 * (int64_t)(sm_count > 0 ? sm_count : 108) ? 128 : 64;
    for (int i = 0; i < n; i++) {
        const usine_cuda_gemm_kernel *k = kernel_at(i);
        if (k->vector_loads && k->bm == want_bm && k->bn == want_bm && fits(k, p))
            return k;
    }
    for (int i = 0; i < n; i++) {
        const usine_cuda_gemm_kernel *k = kernel_at(i);
        if (!k->vector_loads && fits(k, p))
            return k;
    }
    return NULL;
}

const char *usine_cuda_gemm_kernel_name(const usine_cuda_gemm_problem *problem, const char *force)
{
    const usine_cuda_gemm_kernel *k = choose(problem, force, 0);
    return k ? k->name : "";
}

/* ------------------------------------------------------------------ launch */

/* Largest grid dimension y and z (x could be larger; y holds the row tiles). */
#define GRID_YZ_MAX 65535

usine_status usine_cuda_gemm(int device, void *stream, const usine_cuda_gemm_problem *p,
                             const char *force, const char **kernel_name, char *message,
                             size_t message_size)
{
    if (kernel_name)
        *kernel_name = "";
    if (type_code(p->in_type) < 0 || (p->out_type != USINE_F32 && p->out_type != p->in_type)) {
        snprintf(message, message_size,
                 "the CUDA GEMM takes bf16 or f16 inputs and f32 or same-type output");
        return USINE_ERROR_NOT_SUPPORTED;
    }
    if (p->m == 0 || p->n == 0 || p->batch == 0)
        return USINE_SUCCESS;
    const int sm_count = attribute(cudaDevAttrMultiProcessorCount, device);
    const usine_cuda_gemm_kernel *k = choose(p, force, sm_count);
    if (!k) {
        snprintf(message, message_size,
                 force && *force ? "USINE_CUDA_KERNEL=%s does not exist or cannot run this "
                                   "problem (dtype, operand strides or alignment)"
                                 : "no CUDA kernel for this problem%s",
                 force && *force ? force : "");
        return USINE_ERROR_NOT_SUPPORTED;
    }
    if (kernel_name)
        *kernel_name = k->name;
    const int64_t row_tiles = (p->m + k->bm - 1) / k->bm, col_tiles = (p->n + k->bn - 1) / k->bn;
    if (row_tiles > GRID_YZ_MAX || col_tiles > INT32_MAX || p->k > INT32_MAX - 64) {
        snprintf(message, message_size,
                 "%s: m = %lld, n = %lld or k = %lld is beyond this kernel's grid (at most "
                 "%d row tiles of %d, k < 2^31)",
                 k->name, (long long)p->m, (long long)p->n, (long long)p->k, GRID_YZ_MAX, k->bm);
        return USINE_ERROR_NOT_SUPPORTED;
    }

    int previous = -1;
    cudaError_t e = cudaGetDevice(&previous);
    if (e != cudaSuccess)
        return cuda_error(e, "cudaGetDevice", message, message_size);
    if (previous != device && (e = cudaSetDevice(device)) != cudaSuccess)
        return cuda_error(e, "cudaSetDevice", message, message_size);

    usine_status st = USINE_SUCCESS;
    /* Above 48 KiB a block must opt in to its dynamic shared memory (per kernel and device;
     * cheap to repeat). */
    if (k->smem_bytes > 48 * 1024)
        e = cudaFuncSetAttribute(k->function, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 k->smem_bytes);
    if (e != cudaSuccess)
        st =
            cuda_error(e, "cudaFuncSetAttribute(max dynamic shared memory)", message, message_size);

    usine_cuda_gemm_args args = {p->a,
                                 p->b,
                                 p->d,
                                 p->bias,
                                 p->m,
                                 p->n,
                                 p->k,
                                 p->a_stride_m,
                                 p->a_stride_k,
                                 p->a_batch,
                                 p->b_stride_k,
                                 p->b_stride_n,
                                 p->b_batch,
                                 p->ldd,
                                 p->d_batch,
                                 p->alpha,
                                 p->beta,
                                 p->out_type == USINE_F32,
                                 p->bias_per_row,
                                 (int)p->activation};
    const size_t in_size = 2, out_size = p->out_type == USINE_F32 ? 4 : 2;
    /* gridDim.z holds at most 65535 batch items: larger batches take several launches. */
    for (int64_t z0 = 0; st == USINE_SUCCESS && z0 < p->batch; z0 += GRID_YZ_MAX) {
        const int64_t items = p->batch - z0 < GRID_YZ_MAX ? p->batch - z0 : GRID_YZ_MAX;
        args.a = p->a ? (const char *)p->a + (size_t)(z0 * p->a_batch) * in_size : NULL;
        args.b = p->b ? (const char *)p->b + (size_t)(z0 * p->b_batch) * in_size : NULL;
        args.d = (char *)p->d + (size_t)(z0 * p->d_batch) * out_size;
        const dim3 grid = {(unsigned)col_tiles, (unsigned)row_tiles, (unsigned)items};
        const dim3 block = {(unsigned)k->threads, 1, 1};
        void *params[] = {&args};
        e = cudaLaunchKernel(k->function, grid, block, params, (size_t)k->smem_bytes,
                             (cudaStream_t)stream);
        if (e != cudaSuccess)
            st = cuda_error(e, k->name, message, message_size);
    }
    if (previous >= 0 && previous != device) {
        e = cudaSetDevice(previous);
        if (e != cudaSuccess && st == USINE_SUCCESS)
            st = cuda_error(e, "cudaSetDevice (restoring the caller's device)", message,
                            message_size);
    }
    return st;
}
