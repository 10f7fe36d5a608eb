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

#include <cuda.h> /* CUtensorMap and its encoder's types (the function comes from the driver) */
#include <cuda_runtime_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "attention/cuda_attention_kernels.h"
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

/* Compute capability as major x 10 + minor (0 when it cannot be read): 90 runs sm_90a code. */
static int device_arch(int device)
{
    return 10 * attribute(cudaDevAttrComputeCapabilityMajor, device) +
           attribute(cudaDevAttrComputeCapabilityMinor, device);
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
    {usine_cuda_sm80_gemm_128x128x32_s4, 8},   {usine_cuda_sm80_gemm_64x64x32_s4, 8},
    {usine_cuda_sm80_gemm_128x256x32_s3, 8},   {usine_cuda_sm80_gemm_64x64x32_scalar, 2},
    {usine_cuda_sm90a_gemm_128x256x64_s4, 16}, {usine_cuda_sm90a_gemm_128x128x64_s6, 16},
    {usine_cuda_sm90a_gemm_64x256x64_s5, 16},
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

static int gemm_kernel_count(void)
{
    int n = 0;
    for (int f = 0; f < FAMILIES; f++)
        n += families[f].count;
    return n;
}

/* The attention kernels, likewise: one line per .cu file (bf16 and f16 each). */
static const struct {
    const usine_cuda_attn_kernel *table;
    int count;
} attn_families[] = {
    {usine_cuda_sm90a_attn_fwd_d64, 2}, {usine_cuda_sm90a_attn_fwd_d128, 2},
    {usine_cuda_sm80_attn_fwd_d64, 2},  {usine_cuda_sm80_attn_fwd_d128, 2},
    {usine_cuda_sm80_attn_bwd_d64, 6},  {usine_cuda_sm80_attn_bwd_d128, 6},
    {usine_cuda_bench_softmax, 1},
};
#define ATTN_FAMILIES ((int)(sizeof attn_families / sizeof attn_families[0]))

static const usine_cuda_attn_kernel *attn_kernel_at(int i)
{
    for (int f = 0; f < ATTN_FAMILIES; f++) {
        if (i < attn_families[f].count)
            return &attn_families[f].table[i];
        i -= attn_families[f].count;
    }
    return NULL;
}

static int attn_kernel_count(void)
{
    int n = 0;
    for (int f = 0; f < ATTN_FAMILIES; f++)
        n += attn_families[f].count;
    return n;
}

/* The kernels behind the GEMMs (usine_cuda_aux_kernel), last in the kernel table. */
#define AUX_KERNELS 2

static const usine_cuda_aux_kernel *aux_kernel_at(int i)
{
    return i >= 0 && i < AUX_KERNELS ? &usine_cuda_sm90a_splitk_reduce[i] : NULL;
}

int usine_cuda_kernel_count(void)
{
    return gemm_kernel_count() + attn_kernel_count() + AUX_KERNELS;
}

int usine_cuda_kernel_info(int i, const char **name, int *arch, int *threads, int *min_blocks,
                           int *smem_bytes)
{
    if (i >= gemm_kernel_count() + attn_kernel_count()) {
        const usine_cuda_aux_kernel *x =
            aux_kernel_at(i - gemm_kernel_count() - attn_kernel_count());
        if (!x)
            return 0;
        *name = x->name;
        *arch = x->arch;
        *threads = x->threads;
        *min_blocks = 1;
        *smem_bytes = 0;
        return 1;
    }
    if (i >= gemm_kernel_count()) {
        const usine_cuda_attn_kernel *a = attn_kernel_at(i - gemm_kernel_count());
        if (!a)
            return 0;
        *name = a->name;
        *arch = a->arch;
        *threads = a->threads;
        *min_blocks = a->min_blocks;
        *smem_bytes = a->smem_bytes;
        return 1;
    }
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

/* Can kernel k run this problem on a device of compute capability `arch` (major x 10 +
 * minor; 0: unknown, which rules out the sm_90a kernels)? */
static int fits(const usine_cuda_gemm_kernel *k, const usine_cuda_gemm_problem *p, int arch)
{
    if (k->in_type != type_code(p->in_type))
        return 0;
    if (!k->vector_loads) /* the element path takes anything */
        return 1;
    const int a = arrangement(p->a, p->a_stride_m, p->a_stride_k, p->batch, p->a_batch);
    const int b = arrangement(p->b, p->b_stride_n, p->b_stride_k, p->batch, p->b_batch);
    /* sm_90a machine code runs on compute capability 9.0 only; TMA coordinates are 32-bit
     * (a cluster's last row tile may start up to two tiles past m) and its tensor maps need
     * k >= 1. */
    if (k->arch == 90 && (arch != 90 || p->k < 1 || p->m > INT32_MAX - 2 * k->bm ||
                          p->n > INT32_MAX || p->k > INT32_MAX - 64 || p->batch > INT32_MAX))
        return 0;
    /* k == 0 or alpha == 0 reads neither operand (core passes k = 0): any mma.sync kernel
     * will do. */
    if (p->k == 0)
        return 1;
    return a == k->a_k_contiguous && b == k->b_k_contiguous;
}

/* The first kernel of the given tile and cluster size (0 for the mma.sync kernels) that
 * fits (arch: as fits; bm 0: the element path). */
static const usine_cuda_gemm_kernel *first_fit(const usine_cuda_gemm_problem *p, int arch,
                                               int kernel_arch, int bm, int bn, int cluster)
{
    for (int i = 0; i < gemm_kernel_count(); i++) {
        const usine_cuda_gemm_kernel *k = kernel_at(i);
        const int tile_ok = bm ? k->vector_loads && k->bm == bm && k->bn == bn : !k->vector_loads;
        if (k->arch == kernel_arch && tile_ok && k->cluster_m == cluster && fits(k, p, arch))
            return k;
    }
    return NULL;
}

/*
 * The sm_90a kernel shape for a problem: 128 x 256 tiles, blocks alone, unless 128 x 128
 * tiles finish sooner (those in clusters of two sharing B when there are two row tiles or
 * more). Each persistent block runs ceil(work / blocks) tiles or cluster units; a 128 x 256
 * tile costs 2 and a 128 x 128 one 1.25. Measured on an H100, 2026-11-26, bf16 row-major
 * (TFLOP/s): 8192^3 703 with 128 x 256, 568 with 128 x 128 in clusters (a half tile does
 * 0.8 of the work a cycle), 529 alone; the clusters add nothing to 128 x 256 tiles (712 at
 * 8192^3, 635 against 668 at 2048^3). This picks the faster of the two on 14 of the 15
 * squares and transformer-suite shapes measured that day (512 x 6144 x 4096: 256, 0.83x
 * cuBLAS against 0.64x; 512 x 4096 x 4096: 128, 0.77-0.80x against 0.55x; the miss:
 * 16 x 12288 x 4096, 128 at 0.69x against 0.73x). *cluster: 1 or 2.
 */
static int sm90_tile_n(const usine_cuda_gemm_problem *p, int64_t sms, int *cluster)
{
    const int64_t row_tiles = (p->m + 127) / 128;
    const int64_t tiles256 = row_tiles * ((p->n + 255) / 256) * p->batch;
    *cluster = row_tiles >= 2 ? 2 : 1;
    const int64_t blocks128 = *cluster == 2 && sms >= 2 ? sms / 2 : sms;
    const int64_t work128 = (row_tiles + *cluster - 1) / *cluster * ((p->n + 127) / 128) * p->batch;
    const int64_t rounds256 = (tiles256 + sms - 1) / sms;
    const int64_t rounds128 = (work128 + blocks128 - 1) / blocks128;
    if (8 * rounds256 <= 5 * rounds128) {
        *cluster = 1;
        return 256;
    }
    return 128;
}

/* The kernel for a problem: the forced one, else on a cc 9.0 GPU a wgmma kernel: 64 x 256
 * tiles for m <= 64, else the shape sm90_tile_n says; else 128 x 128 mma.sync tiles when they
 * give every SM two, else 64 x 64, else the element path. A 128-row tile of a decode step
 * spends its tensor-core time on rows that are not there; on an H100, 2026-11-27, bf16
 * row-major against cuBLAS 13.1 in the same run, the 64-row tile (split k as before) took the
 * m = 16 transformer-suite shapes from 0.61-0.92x to 0.67-0.99x cuBLAS (16 x 12288 x 4096
 * 0.055 -> 0.051 ms, 16 x 6144 x 4096 0.036 -> 0.033) and is slower on every larger product
 * (0.50-0.71x at m >= 512). A model and the tuning database are to replace this rule. */
static const usine_cuda_gemm_kernel *choose(const usine_cuda_gemm_problem *p, const char *force,
                                            int sm_count, int arch)
{
    if (force && *force) {
        for (int i = 0; i < gemm_kernel_count(); i++) {
            const usine_cuda_gemm_kernel *k = kernel_at(i);
            if (strcmp(k->name, force) == 0)
                return fits(k, p, arch) ? k : NULL;
        }
        /* Not a GEMM kernel (context.c checked that it names some kernel: an attention
         * kernel forced for the attention calls): the usual choice. */
    }
    const int64_t sms = sm_count > 0 ? sm_count : 108;
    const int64_t tiles128 = ((p->m + 127) / 128) * ((p->n + 127) / 128) * p->batch;
    const usine_cuda_gemm_kernel *k = NULL;
    if (arch == 90 && p->m <= 64) /* decode steps: half the tensor-core work per k tile */
        k = first_fit(p, arch, 90, 64, 256, 1);
    if (arch == 90 && !k) {
        int cluster = 1;
        const int bn = sm90_tile_n(p, sms, &cluster);
        k = first_fit(p, arch, 90, 128, bn, cluster);
    }
    if (!k && tiles128 >= 2 * sms)
        k = first_fit(p, arch, 80, 128, 128, 0);
    if (!k)
        k = first_fit(p, arch, 80, 64, 64, 0);
    return k ? k : first_fit(p, arch, 80, 0, 0, 0);
}

const char *usine_cuda_gemm_kernel_name(const usine_cuda_gemm_problem *problem, const char *force)
{
    const usine_cuda_gemm_kernel *k = choose(problem, force, 0, 0);
    return k ? k->name : "";
}

/* ------------------------------------------------------------------ launch */

/* Largest grid dimension y and z (x could be larger; y holds the row tiles). */
#define GRID_YZ_MAX 65535

/* The driver's tensor map encoder, looked up once through the runtime (libusine links no
 * driver library: the static runtime loads libcuda.so.1 itself). */
typedef CUresult (*encode_tiled_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *,
                                    const cuuint64_t *, const cuuint64_t *, const cuuint32_t *,
                                    const cuuint32_t *, CUtensorMapInterleave, CUtensorMapSwizzle,
                                    CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
static encode_tiled_fn encode_tiled;
static pthread_once_t encode_tiled_once = PTHREAD_ONCE_INIT;

static void find_encode_tiled(void)
{
    void *fn = NULL;
    enum cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
#if CUDART_VERSION >= 12050
    const cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000,
                                                           cudaEnableDefault, &found);
#else
    const cudaError_t e =
        cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &fn, cudaEnableDefault, &found);
#endif
    if (e != cudaSuccess || found != cudaDriverEntryPointSuccess)
        (void)cudaGetLastError();
    else
        encode_tiled = (encode_tiled_fn)fn;
}

/*
 * The TMA map of one operand for an sm_90a kernel (sm90a_gemm.cuh's layout): a 3-D tensor
 * (contiguous dimension, the other, batch) read in 128-byte swizzled boxes of 64 elements
 * by `box_rows` (k-contiguous: A's tile rows, half of B's; else 64 k). Returns 0 on success.
 */
static int operand_map(CUtensorMap *map, const usine_cuda_gemm_problem *p, const void *base,
                       int k_contiguous, int64_t rows, int64_t row_stride, int64_t k_stride,
                       int64_t batch_stride, int box_rows)
{
    const int64_t inner = k_contiguous ? p->k : rows, outer = k_contiguous ? rows : p->k;
    const int64_t outer_stride = k_contiguous ? row_stride : k_stride;
    /* One item: any multiple of 16 bytes will do (never stepped over). */
    const int64_t item = p->batch > 1 ? batch_stride : outer * outer_stride;
    const cuuint64_t dims[3] = {(cuuint64_t)inner, (cuuint64_t)outer, (cuuint64_t)p->batch};
    const cuuint64_t strides[2] = {(cuuint64_t)outer_stride * 2, (cuuint64_t)item * 2};
    const cuuint32_t box[3] = {64, (cuuint32_t)(k_contiguous ? box_rows : 64), 1};
    const cuuint32_t unit[3] = {1, 1, 1};
    const CUresult r =
        encode_tiled(map,
                     p->in_type == USINE_BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                              : CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
                     3, (void *)base, dims, strides, box, unit, CU_TENSOR_MAP_INTERLEAVE_NONE,
                     CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                     CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    return r != CUDA_SUCCESS;
}

/* Both maps of an sm_90a kernel; 0 on success, else a message. */
static int tma_maps(const usine_cuda_gemm_kernel *k, const usine_cuda_gemm_problem *p,
                    CUtensorMap *ta, CUtensorMap *tb, char *message, size_t message_size)
{
    pthread_once(&encode_tiled_once, find_encode_tiled);
    if (!encode_tiled) {
        snprintf(message, message_size,
                 "%s: the driver has no cuTensorMapEncodeTiled (CUDA 12 driver needed)", k->name);
        return 1;
    }
    if (operand_map(ta, p, p->a, k->a_k_contiguous, p->m, p->a_stride_m, p->a_stride_k, p->a_batch,
                    k->bm) ||
        operand_map(tb, p, p->b, k->b_k_contiguous, p->n, p->b_stride_n, p->b_stride_k, p->b_batch,
                    k->bn / 2)) { /* B in two halves: one per block of a cluster */
        snprintf(message, message_size,
                 "%s: cuTensorMapEncodeTiled refused the operands (strides or sizes)", k->name);
        return 1;
    }
    return 0;
}

static void set_args(usine_cuda_gemm_args *args, const usine_cuda_gemm_problem *p)
{
    const usine_cuda_gemm_args a = {p->a,
                                    p->b,
                                    p->d,
                                    p->bias,
                                    p->m,
                                    p->n,
                                    p->k,
                                    p->batch,
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
                                    (int)p->activation,
                                    0};
    *args = a;
}

/* An sm_80 kernel: a block per tile, gridDim.z items of the batch per launch. */
static usine_status launch_sm80(const usine_cuda_gemm_kernel *k, const usine_cuda_gemm_problem *p,
                                cudaStream_t stream, char *message, size_t message_size)
{
    const int64_t row_tiles = (p->m + k->bm - 1) / k->bm, col_tiles = (p->n + k->bn - 1) / k->bn;
    if (row_tiles > GRID_YZ_MAX || col_tiles > INT32_MAX || p->k > INT32_MAX - 64) {
        snprintf(message, message_size,
                 "%s: m = %lld, n = %lld or k = %lld is beyond this kernel's grid (at most "
                 "%d row tiles of %d, k < 2^31)",
                 k->name, (long long)p->m, (long long)p->n, (long long)p->k, GRID_YZ_MAX, k->bm);
        return USINE_ERROR_NOT_SUPPORTED;
    }
    usine_cuda_gemm_args args;
    set_args(&args, p);
    const size_t in_size = 2, out_size = p->out_type == USINE_F32 ? 4 : 2;
    for (int64_t z0 = 0; z0 < p->batch; z0 += GRID_YZ_MAX) {
        const int64_t items = p->batch - z0 < GRID_YZ_MAX ? p->batch - z0 : GRID_YZ_MAX;
        args.a = p->a ? (const char *)p->a + (size_t)(z0 * p->a_batch) * in_size : NULL;
        args.b = p->b ? (const char *)p->b + (size_t)(z0 * p->b_batch) * in_size : NULL;
        args.d = (char *)p->d + (size_t)(z0 * p->d_batch) * out_size;
        const dim3 grid = {(unsigned)col_tiles, (unsigned)row_tiles, (unsigned)items};
        const dim3 block = {(unsigned)k->threads, 1, 1};
        void *params[] = {&args};
        const cudaError_t e =
            cudaLaunchKernel(k->function, grid, block, params, (size_t)k->smem_bytes, stream);
        if (e != cudaSuccess)
            return cuda_error(e, k->name, message, message_size);
    }
    return USINE_SUCCESS;
}

/* How many clusters of k's size fit on the device at once (the persistent grid), cached per
 * kernel entry and device; sm_count / cluster when the runtime cannot tell. */
static int resident_clusters(const usine_cuda_gemm_kernel *k, int device, int sm_count)
{
    enum { SLOTS = 64 };
    static struct {
        const usine_cuda_gemm_kernel *kernel;
        int device, clusters;
    } cache[SLOTS];
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    int clusters = 0;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SLOTS && !clusters; i++)
        if (cache[i].kernel == k && cache[i].device == device)
            clusters = cache[i].clusters;
    pthread_mutex_unlock(&lock);
    if (clusters)
        return clusters;
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = (unsigned)k->cluster_m;
    attr.val.clusterDim.y = attr.val.clusterDim.z = 1;
    cudaLaunchConfig_t config = {0};
    config.gridDim = (dim3){(unsigned)(k->cluster_m * sm_count), 1, 1};
    config.blockDim = (dim3){(unsigned)k->threads, 1, 1};
    config.dynamicSmemBytes = (size_t)k->smem_bytes;
    config.attrs = &attr;
    config.numAttrs = 1;
    if (cudaOccupancyMaxActiveClusters(&clusters, k->function, &config) != cudaSuccess ||
        clusters < 1) {
        (void)cudaGetLastError();
        return sm_count / k->cluster_m > 0 ? sm_count / k->cluster_m : 1;
    }
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SLOTS; i++)
        if (!cache[i].kernel) {
            cache[i].kernel = k;
            cache[i].device = device;
            cache[i].clusters = clusters;
            break;
        }
    pthread_mutex_unlock(&lock);
    return clusters;
}

/* The split-k workspace's limit (bytes): beyond it the library's choice does not split and a
 * forced split is refused. */
#define SPLIT_K_WORKSPACE_MAX ((int64_t)1 << 30)

/*
 * The k slice length (a multiple of 64) of an sm_90a problem with `units` units of work for
 * `resident` blocks (or clusters), 0 for no split. The library's choice: when two slices or
 * more of every unit fit in one wave of the resident blocks (decode steps, m = 16: 16 to 48
 * tiles for 132 SMs), as many slices as fill that wave, each of 8 k tiles (512) or more.
 * Measured on an H200, 2026-11-26, bf16 row-major, usine bench against cuBLAS in the same
 * run (ms, usine / cuBLAS): 16 x 4096 x 11008 0.079 alone -> 0.039 in 4 slices (cuBLAS
 * 0.026); 16 x 6144 x 4096 0.035 -> 0.033 in 2 (0.015); a second wave of units loses (16 x
 * 12288 x 4096, 96 tiles, 2 slices forced: 0.052 -> 0.056), as do more slices than fill one
 * (a forced sweep of 1-16 slices: the best counts bring units x slices closest to the SMs).
 * p->split_k forces at most that many slices. *slices_out gets the count of such slices (1 for
 * no split). Sets *refused when a forced split would need more workspace than
 * SPLIT_K_WORKSPACE_MAX.
 */
static int64_t split_chunk(const usine_cuda_gemm_problem *p, int64_t units, int64_t resident,
                           int64_t *slices_out, int *refused)
{
    *refused = 0;
    *slices_out = 1;
    int64_t slices = p->split_k;
    if (slices == 0) {
        const int64_t longest = p->k / 512;
        slices = units * 2 > resident ? 1 : resident / units;
        slices = slices < longest ? slices : longest;
    }
    if (slices < 2)
        return 0;
    const int64_t ktiles = (p->k + 63) / 64;
    const int64_t chunk = (ktiles + slices - 1) / slices * 64;
    const int64_t used = (p->k + chunk - 1) / chunk;
    if (used < 2)
        return 0;
    if (p->m * p->n > SPLIT_K_WORKSPACE_MAX / 4 / used / p->batch) {
        *refused = p->split_k > 0;
        return 0;
    }
    *slices_out = used;
    return chunk;
}

/* Sums the split-k workspace `w` (`slices` slices) into D with the epilogue: the second
 * kernel of a split-k product. */
static usine_status launch_splitk_reduce(const usine_cuda_gemm_problem *p, const float *w,
                                         int64_t slices, int sm_count, cudaStream_t stream,
                                         char *message, size_t message_size)
{
    usine_cuda_gemm_args args;
    set_args(&args, p);
    const int64_t total = p->m * p->n * p->batch, threads = USINE_CUDA_REDUCE_THREADS;
    const int64_t most = 8 * (int64_t)sm_count; /* enough blocks: the loop strides the rest */
    const int64_t needed = (total + threads - 1) / threads;
    const int64_t blocks = needed < most ? needed : most;
    const void *function =
        usine_cuda_sm90a_splitk_reduce[p->in_type == USINE_BF16 ? 0 : 1].function;
    void *params[] = {(void *)&w, &slices, &args};
    const cudaError_t e = cudaLaunchKernel(function, (dim3){(unsigned)blocks, 1, 1},
                                           (dim3){(unsigned)threads, 1, 1}, params, 0, stream);
    return e == cudaSuccess ? USINE_SUCCESS : cuda_error(e, "split-k sum", message, message_size);
}

/* An sm_90a kernel: persistent, one block per SM (or per unit of work when fewer), in
 * clusters of k->cluster_m blocks along m, the whole batch in one launch; with split k
 * (split_chunk) into an f32 workspace, then summed into D by a second kernel. `maps`: its
 * two tensor maps (tma_maps); *k_slices (may be NULL): the slices. */
static usine_status launch_sm90(const usine_cuda_gemm_kernel *k, const usine_cuda_gemm_problem *p,
                                const CUtensorMap maps[2], int device, int sm_count,
                                cudaStream_t stream, int *k_slices, char *message,
                                size_t message_size)
{
    usine_cuda_gemm_args args;
    set_args(&args, p);
    const int64_t cluster = k->cluster_m;
    const int64_t row_units = ((p->m + k->bm - 1) / k->bm + cluster - 1) / cluster;
    const int64_t tiles = row_units * ((p->n + k->bn - 1) / k->bn) * p->batch;
    const int64_t resident = cluster > 1 ? resident_clusters(k, device, sm_count) : sm_count;
    int refused = 0;
    int64_t slices = 1;
    const int64_t chunk = split_chunk(p, tiles, resident, &slices, &refused);
    if (refused) {
        snprintf(message, message_size,
                 "%s: USINE_CUDA_SPLIT_K=%d needs more than %lld bytes of split-k workspace for "
                 "m = %lld, n = %lld, batch = %lld",
                 k->name, p->split_k, (long long)SPLIT_K_WORKSPACE_MAX, (long long)p->m,
                 (long long)p->n, (long long)p->batch);
        return USINE_ERROR_NOT_SUPPORTED;
    }
    const int64_t units = tiles * slices;
    if (k_slices)
        *k_slices = (int)slices;
    float *w = NULL;
    if (chunk) {
        const cudaError_t e =
            cudaMallocAsync((void **)&w, (size_t)(slices * p->m * p->n * p->batch) * 4, stream);
        if (e != cudaSuccess)
            return cuda_error(e, "cudaMallocAsync (split-k workspace)", message, message_size);
        /* The slices' sums as they are: f32 D items z * slices + s of m x n. */
        args.d = w;
        args.ldd = p->n;
        args.d_batch = p->m * p->n;
        args.alpha = 1.0f;
        args.beta = 0.0f;
        args.bias = NULL;
        args.out_f32 = 1;
        args.activation = 0;
        args.k_chunk = chunk;
    }
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = (unsigned)cluster;
    attr.val.clusterDim.y = attr.val.clusterDim.z = 1;
    cudaLaunchConfig_t config = {0};
    config.gridDim = (dim3){(unsigned)(cluster * (units < resident ? units : resident)), 1, 1};
    config.blockDim = (dim3){(unsigned)k->threads, 1, 1};
    config.dynamicSmemBytes = (size_t)k->smem_bytes;
    config.stream = stream;
    config.attrs = &attr;
    config.numAttrs = cluster > 1;
    CUtensorMap ta = maps[0], tb = maps[1];
    void *params[] = {&ta, &tb, &args};
    const cudaError_t e = cudaLaunchKernelExC(&config, k->function, params);
    usine_status st =
        e == cudaSuccess ? USINE_SUCCESS : cuda_error(e, k->name, message, message_size);
    if (!w)
        return st;
    if (st == USINE_SUCCESS)
        st = launch_splitk_reduce(p, w, slices, sm_count, stream, message, message_size);
    const cudaError_t freed = cudaFreeAsync(w, stream);
    if (freed != cudaSuccess && st == USINE_SUCCESS)
        st = cuda_error(freed, "cudaFreeAsync (split-k workspace)", message, message_size);
    return st;
}

usine_status usine_cuda_gemm(int device, void *stream, const usine_cuda_gemm_problem *p,
                             const char *force, const char **kernel_name, int *k_slices,
                             char *message, size_t message_size)
{
    if (kernel_name)
        *kernel_name = "";
    if (k_slices)
        *k_slices = 1;
    if (type_code(p->in_type) < 0 || (p->out_type != USINE_F32 && p->out_type != p->in_type)) {
        snprintf(message, message_size,
                 "the CUDA GEMM takes bf16 or f16 inputs and f32 or same-type output");
        return USINE_ERROR_NOT_SUPPORTED;
    }
    if (p->m == 0 || p->n == 0 || p->batch == 0)
        return USINE_SUCCESS;
    const int sm_count = attribute(cudaDevAttrMultiProcessorCount, device);
    const int arch = device_arch(device);
    const int forced = force && *force;
    const usine_cuda_gemm_kernel *k = choose(p, force, sm_count, arch);
    CUtensorMap maps[2];
    if (k && k->arch == 90 && tma_maps(k, p, &maps[0], &maps[1], message, message_size)) {
        if (forced)
            return USINE_ERROR_NOT_SUPPORTED;
        k = choose(p, NULL, sm_count, 80); /* the mma.sync kernels need no tensor map */
    }
    if (!k) {
        snprintf(message, message_size,
                 forced ? "USINE_CUDA_KERNEL=%s does not exist or cannot run this problem "
                          "(dtype, operand strides or alignment, or an sm_90a kernel on "
                          "another GPU)"
                        : "no CUDA kernel for this problem%s",
                 forced ? force : "");
        return USINE_ERROR_NOT_SUPPORTED;
    }
    if (kernel_name)
        *kernel_name = k->name;

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
    else if (k->arch == 90)
        st = launch_sm90(k, p, maps, device, sm_count > 0 ? sm_count : 1, (cudaStream_t)stream,
                         k_slices, message, message_size);
    else
        st = launch_sm80(k, p, (cudaStream_t)stream, message, message_size);
    if (previous >= 0 && previous != device) {
        e = cudaSetDevice(previous);
        if (e != cudaSuccess && st == USINE_SUCCESS)
            st = cuda_error(e, "cudaSetDevice (restoring the caller's device)", message,
                            message_size);
    }
    return st;
}

/* ------------------------------------------------------------------ attention */

/* Base and strides that the 16-byte copies of the attention kernels can read: the base
 * 16-byte aligned and every stride used a multiple of 8 elements (the batch stride is unused
 * with cu_seqlens). */
static int attn_aligned(const void *base, const int64_t s[3], int varlen)
{
    return ((uintptr_t)base & 15) == 0 && (varlen || s[0] % 8 == 0) && s[1] % 8 == 0 &&
           s[2] % 8 == 0;
}

/* Largest sequence length (and window) the kernels take: positions are int in their inner
 * loops. */
#define ATTN_SEQ_MAX ((int64_t)1 << 30)

static usine_status attn_check(const usine_cuda_attention_problem *p, int backward, char *message,
                               size_t message_size)
{
    if (type_code(p->dtype) < 0) {
        snprintf(message, message_size,
                 "the CUDA attention takes bf16 or f16 (f32 on CUDA is not implemented)");
        return USINE_ERROR_NOT_SUPPORTED;
    }
    if (p->head_dim != 64 && p->head_dim != 128) {
        snprintf(message, message_size,
                 "head_dim = %lld: the CUDA attention kernels have head_dim 64 and 128",
                 (long long)p->head_dim);
        return USINE_ERROR_NOT_SUPPORTED;
    }
    if (p->seq_q >= ATTN_SEQ_MAX || p->seq_k >= ATTN_SEQ_MAX || p->window >= ATTN_SEQ_MAX ||
        p->heads_q > GRID_YZ_MAX) {
        snprintf(message, message_size,
                 "seq_q = %lld, seq_k = %lld, window = %lld or heads_q = %lld is beyond the CUDA "
                 "attention kernels (lengths and window < 2^30, at most %d query heads)",
                 (long long)p->seq_q, (long long)p->seq_k, (long long)p->window,
                 (long long)p->heads_q, GRID_YZ_MAX);
        return USINE_ERROR_NOT_SUPPORTED;
    }
    const int varlen = p->cu_seqlens_q != NULL;
    const void *bases[7] = {p->q, p->k, p->v, p->o, p->d_o, p->dq, p->dk};
    const int64_t *strides[7] = {p->q_strides, p->k_strides, p->v_strides, p->o_strides,
                                 p->o_strides, p->q_strides, p->k_strides};
    static const char *const names[8] = {"q", "k", "v", "o", "d_o", "dq", "dk", "dv"};
    const int n = backward ? 7 : 4;
    for (int i = 0; i < n + (backward ? 1 : 0); i++) {
        const void *b = i < 7 ? bases[i] : p->dv;
        const int64_t *st = i < 7 ? strides[i] : p->v_strides;
        if (b && !attn_aligned(b, st, varlen)) {
            snprintf(message, message_size,
                     "%s = %p with strides {%lld, %lld, %lld}: the CUDA attention kernels need "
                     "16-byte aligned bases and strides that are multiples of 8 elements",
                     names[i], b, (long long)st[0], (long long)st[1], (long long)st[2]);
            return USINE_ERROR_NOT_SUPPORTED;
        }
    }
    return USINE_SUCCESS;
}

static usine_cuda_attn_args attn_args(const usine_cuda_attention_problem *p)
{
    usine_cuda_attn_args a;
    memset(&a, 0, sizeof a);
    a.q = p->q;
    a.k = p->k;
    a.v = p->v;
    a.o = p->o;
    a.lse = p->lse;
    a.d_o = p->d_o;
    a.dq = p->dq;
    a.dk = p->dk;
    a.dv = p->dv;
    a.cu_q = p->cu_seqlens_q;
    a.cu_k = p->cu_seqlens_k;
    for (int i = 0; i < 3; i++) {
        a.q_strides[i] = p->q_strides[i];
        a.k_strides[i] = p->k_strides[i];
        a.v_strides[i] = p->v_strides[i];
        a.o_strides[i] = p->o_strides[i];
    }
    a.batch = p->batch;
    a.heads_q = p->heads_q;
    a.heads_kv = p->heads_kv;
    a.seq_q = p->seq_q;
    a.seq_k = p->seq_k;
    a.scale = p->scale;
    a.scale_log2 = (float)((double)p->scale * 1.4426950408889634);
    a.causal = p->causal;
    a.window = p->window;
    return a;
}

/* The kernel of `pass` for the problem's dtype and head_dim on a device of compute capability
 * `arch` (major x 10 + minor): the first in table order (the sm_90a ones first, on cc 9.0
 * only, where their machine code runs); force wins when it names a kernel of that pass that
 * fits, and NULL is the answer when it names one that fits but cannot run here (as the
 * GEMM refuses a forced sm_90a kernel elsewhere). */
static const usine_cuda_attn_kernel *attn_choose(const usine_cuda_attention_problem *p, int pass,
                                                 const char *force, int arch)
{
    const int n = attn_kernel_count();
    const usine_cuda_attn_kernel *best = NULL;
    for (int i = 0; i < n; i++) {
        const usine_cuda_attn_kernel *k = attn_kernel_at(i);
        if (k->pass != pass || k->in_type != type_code(p->dtype) || k->head_dim != p->head_dim)
            continue;
        const int runs_here = k->arch != 90 || arch == 90;
        if (force && strcmp(force, k->name) == 0)
            return runs_here ? k : NULL;
        if (runs_here && !best)
            best = k;
    }
    return best;
}

/* Launches `k` over grid (x, y, batch items) on the current device, batch split into launches
 * of at most 65535 items (args->batch0 set for each). */
static usine_status attn_launch(const usine_cuda_attn_kernel *k, usine_cuda_attn_args *args,
                                int64_t grid_x, int64_t grid_y, int64_t items, void *stream,
                                char *message, size_t message_size)
{
    cudaError_t e = cudaSuccess;
    if (k->smem_bytes > 48 * 1024)
        e = cudaFuncSetAttribute(k->function, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 k->smem_bytes);
    if (e != cudaSuccess)
        return cuda_error(e, "cudaFuncSetAttribute(max dynamic shared memory)", message,
                          message_size);
    for (int64_t z0 = 0; z0 < items; z0 += GRID_YZ_MAX) {
        const int64_t n = items - z0 < GRID_YZ_MAX ? items - z0 : GRID_YZ_MAX;
        args->batch0 = z0;
        const dim3 grid = {(unsigned)grid_x, (unsigned)grid_y, (unsigned)n};
        const dim3 block = {(unsigned)k->threads, 1, 1};
        void *params[] = {args};
        e = cudaLaunchKernel(k->function, grid, block, params, (size_t)k->smem_bytes,
                             (cudaStream_t)stream);
        if (e != cudaSuccess)
            return cuda_error(e, k->name, message, message_size);
    }
    return USINE_SUCCESS;
}

/* Makes `device` current (*previous: the caller's), or fails. */
static usine_status enter_device(int device, int *previous, char *message, size_t message_size)
{
    *previous = -1;
    cudaError_t e = cudaGetDevice(previous);
    if (e != cudaSuccess)
        return cuda_error(e, "cudaGetDevice", message, message_size);
    if (*previous != device && (e = cudaSetDevice(device)) != cudaSuccess)
        return cuda_error(e, "cudaSetDevice", message, message_size);
    return USINE_SUCCESS;
}

static usine_status leave_device(int device, int previous, usine_status st, char *message,
                                 size_t message_size)
{
    if (previous >= 0 && previous != device) {
        const cudaError_t e = cudaSetDevice(previous);
        if (e != cudaSuccess && st == USINE_SUCCESS)
            st = cuda_error(e, "cudaSetDevice (restoring the caller's device)", message,
                            message_size);
    }
    return st;
}

usine_status usine_cuda_attention_forward(int device, void *stream,
                                          const usine_cuda_attention_problem *p, const char *force,
                                          const char **kernel_name, char *message,
                                          size_t message_size)
{
    if (kernel_name)
        *kernel_name = "";
    usine_status st = attn_check(p, 0, message, message_size);
    if (st != USINE_SUCCESS)
        return st;
    const usine_cuda_attn_kernel *k =
        attn_choose(p, USINE_CUDA_ATTN_FWD, force, device_arch(device));
    if (!k) {
        const int forced = force && *force;
        snprintf(message, message_size, "no CUDA attention forward kernel for this problem%s%s%s",
                 forced ? " (USINE_CUDA_KERNEL=" : "", forced ? force : "",
                 forced ? ": sm_90a kernels run on compute capability 9.0 only)" : "");
        return USINE_ERROR_NOT_SUPPORTED;
    }
    if (kernel_name)
        *kernel_name = k->name;
    if (p->batch == 0 || p->seq_q == 0)
        return USINE_SUCCESS;
    int previous;
    if ((st = enter_device(device, &previous, message, message_size)) != USINE_SUCCESS)
        return st;
    usine_cuda_attn_args args = attn_args(p);
    st = attn_launch(k, &args, (p->seq_q + k->rows - 1) / k->rows, p->heads_q, p->batch, stream,
                     message, message_size);
    return leave_device(device, previous, st, message, message_size);
}

usine_status usine_cuda_attention_backward(int device, void *stream,
                                           const usine_cuda_attention_problem *p, const char *force,
                                           const char **kernel_name, char *message,
                                           size_t message_size)
{
    if (kernel_name)
        *kernel_name = "";
    usine_status st = attn_check(p, 1, message, message_size);
    if (st != USINE_SUCCESS)
        return st;
    const int arch = device_arch(device);
    const usine_cuda_attn_kernel *prep = attn_choose(p, USINE_CUDA_ATTN_BWD_PREP, force, arch);
    const usine_cuda_attn_kernel *dkdv = attn_choose(p, USINE_CUDA_ATTN_BWD_DKDV, force, arch);
    const usine_cuda_attn_kernel *dq = attn_choose(p, USINE_CUDA_ATTN_BWD_DQ, force, arch);
    if (!prep || !dkdv || !dq) {
        snprintf(message, message_size, "no CUDA attention backward kernels for this problem");
        return USINE_ERROR_NOT_SUPPORTED;
    }
    if (kernel_name)
        *kernel_name = dkdv->name;
    if (p->batch == 0 || (p->seq_q == 0 && p->seq_k == 0))
        return USINE_SUCCESS;
    int previous;
    if ((st = enter_device(device, &previous, message, message_size)) != USINE_SUCCESS)
        return st;
    usine_cuda_attn_args args = attn_args(p);
    /* delta: f32 [batch, heads_q, seq_q], stream-ordered (freed after the kernels that read
     * it, on the same stream). */
    const size_t delta_bytes = (size_t)(p->batch * p->heads_q * p->seq_q) * sizeof(float);
    void *delta = NULL;
    cudaError_t e = cudaSuccess;
    if (delta_bytes > 0 &&
        (e = cudaMallocAsync(&delta, delta_bytes, (cudaStream_t)stream)) != cudaSuccess)
        st = cuda_error(e, "cudaMallocAsync (attention backward, delta)", message, message_size);
    args.delta = delta;
    /* Order: delta (needs O, dO), then dK/dV and dQ (both read delta). seq_q == 0: only dK/dV
     * (zeros); seq_k == 0: only dQ (zeros). */
    if (st == USINE_SUCCESS && p->seq_q > 0)
        st = attn_launch(prep, &args, (p->seq_q + prep->rows - 1) / prep->rows, p->heads_q,
                         p->batch, stream, message, message_size);
    if (st == USINE_SUCCESS && p->seq_k > 0)
        st = attn_launch(dkdv, &args, (p->seq_k + dkdv->rows - 1) / dkdv->rows, p->heads_kv,
                         p->batch, stream, message, message_size);
    if (st == USINE_SUCCESS && p->seq_q > 0)
        st = attn_launch(dq, &args, (p->seq_q + dq->rows - 1) / dq->rows, p->heads_q, p->batch,
                         stream, message, message_size);
    if (delta && (e = cudaFreeAsync(delta, (cudaStream_t)stream)) != cudaSuccess &&
        st == USINE_SUCCESS)
        st = cuda_error(e, "cudaFreeAsync (attention backward, delta)", message, message_size);
    return leave_device(device, previous, st, message, message_size);
}

/* ------------------------------------------------------------------ bench */

usine_status usine_cuda_bench_softmax_rows(int device, void *stream, const float *s, void *p,
                                           int64_t rows, int64_t cols, int64_t ld, int64_t seq_q,
                                           float scale, int causal, char *message,
                                           size_t message_size)
{
    const usine_cuda_attn_kernel *k = &usine_cuda_bench_softmax[0];
    if (rows <= 0 || cols <= 0)
        return USINE_SUCCESS;
    if ((rows + k->rows - 1) / k->rows > INT32_MAX || seq_q <= 0) {
        snprintf(message, message_size, "softmax: %lld rows is beyond the grid, or seq_q = %lld",
                 (long long)rows, (long long)seq_q);
        return USINE_ERROR_NOT_SUPPORTED;
    }
    int previous;
    usine_status st = enter_device(device, &previous, message, message_size);
    if (st != USINE_SUCCESS)
        return st;
    void *params[] = {&s, &p, &rows, &cols, &ld, &seq_q, &scale, &causal};
    const dim3 grid = {(unsigned)((rows + k->rows - 1) / k->rows), 1, 1};
    const dim3 block = {(unsigned)k->threads, 1, 1};
    const cudaError_t e =
        cudaLaunchKernel(k->function, grid, block, params, 0, (cudaStream_t)stream);
    if (e != cudaSuccess)
        st = cuda_error(e, k->name, message, message_size);
    return leave_device(device, previous, st, message, message_size);
}
