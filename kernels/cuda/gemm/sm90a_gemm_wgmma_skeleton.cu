/*
 * SKELETON (issue 9, sm_90a GEMM): bf16 GEMM with wgmma.mma_async fed by TMA
 * (cp.async.bulk.tensor), warp-specialised: warpgroup 0 produces (one thread issues the TMA
 * copies of each k tile into a STAGES-deep ring of shared memory, signalling "full"
 * mbarriers with the transaction byte count), warpgroups 1 and 2 consume (each waits for a
 * full stage, runs four wgmma m64n128k16 on its 64 rows of the 128 x 128 block tile, waits
 * for them and arrives on the stage's "empty" mbarrier, which the producer waits for before
 * refilling the stage).
 *
 * NOT DISPATCHED and UNVERIFIED: no host launcher yet (the TMA descriptors need
 * cuTensorMapEncodeTiled through cudaGetDriverEntryPoint), one tile per block (the persistent
 * tile scheduler of issue 9 is to come), no epilogue options (D = A B, bf16 out), and no GPU
 * has run it. It is compiled for sm_90a only (its own object library) and is in the kernel
 * table so that tests/cuda/ptxas_check.sh checks its registers, spills, shared memory, the
 * wgmma.mma_async in its PTX and the absence of ptxas' "wgmma serialized" warning.
 *
 * Operands: A row-major [m][k] and B as [n][k] (both k-contiguous, "ak_bk"), global strides
 * multiples of 16 bytes (a TMA rule). Tiles: BM x BK = 128 x 64 of A and BN x BK = 128 x 64 of
 * B per stage, each row 64 bf16 = 128 bytes, written by TMA with the 128-byte swizzle (16-byte
 * chunk c of row r lands at chunk c ^ (r % 8)); tiles start 1024-byte aligned (one swizzle
 * atom of 8 rows).
 *
 * ---- wgmma operands (PTX ISA, "Matrix Descriptor Format") ----
 * A 64-bit shared memory descriptor: bits 0-13 start address >> 4, 16-29 leading dimension
 * byte offset >> 4 (unused for a k-major swizzled operand: 1), 32-45 stride dimension byte
 * offset >> 4 (1024 bytes between 8-row groups: 64), 62-63 swizzle mode (1 = 128 bytes).
 * The k16 step kk of a 64-wide k tile starts 32 kk bytes into the atom: start address + 2 kk
 * (the hardware applies the swizzle to the computed addresses, so the base offset stays 0).
 * Consumer c's A rows start at 64 c x 128 bytes = 8 KiB into the A tile (atom aligned).
 *
 * ---- Accumulator layout (m64nNk16, f32 D: N/2 registers a thread) ----
 * Thread (warp w of the warpgroup, lane l, g = l / 4, t = l % 4), register i:
 *   row 16 w + g + 8 ((i / 2) % 2), column 8 (i / 4) + 2 t + (i % 2).
 */
#include <cuda.h> /* CUtensorMap (a type only: nothing of the driver is linked) */
#include <cuda_bf16.h>
#include <stdint.h>

#include "cuda_gemm_kernels.h"

namespace usine_sm90
{

constexpr int BM = 128, BN = 128, BK = 64, STAGES = 4, CONSUMERS = 2;
constexpr int THREADS = 128 * (1 + CONSUMERS);
constexpr int A_BYTES = BM * BK * 2, B_BYTES = BN * BK * 2;
constexpr int STAGE_BYTES = A_BYTES + B_BYTES;
/* The ring, 1 KiB of slack to align it to 1024 bytes, and the mbarriers. */
constexpr int SMEM_BYTES = STAGES * STAGE_BYTES + 1024 + 2 * STAGES * 8;

/* The skeleton's own arguments (the TMA maps carry A and B). */
struct Args {
    int64_t m, n, k;
    __nv_bfloat16 *d;
    int64_t ldd;
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

__device__ __forceinline__ uint32_t smem_u32(const void *p)
{
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void bar_init(uint32_t bar, uint32_t count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}

__device__ __forceinline__ void bar_wait(uint32_t bar, uint32_t parity)
{
    uint32_t done;
    do {
        asm volatile("{\n"
                     ".reg .pred p;\n"
                     "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
                     "selp.u32 %0, 1, 0, p;\n"
                     "}\n"
                     : "=r"(done)
                     : "r"(bar), "r"(parity)
                     : "memory");
    } while (!done);
}

__device__ __forceinline__ void bar_arrive(uint32_t bar)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

__device__ __forceinline__ void bar_expect(uint32_t bar, uint32_t bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
                 : "memory");
}

/* A 2-D TMA box (coordinates: innermost first) into shared memory, completing on `bar`. */
__device__ __forceinline__ void tma_load(uint32_t dst, const CUtensorMap *map, int c0, int c1,
                                         uint32_t bar)
{
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes "
                 "[%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
                 "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
                 : "memory");
}

__device__ __forceinline__ uint64_t desc(uint32_t addr)
{
    return (uint64_t)((addr >> 4) & 0x3fff) | (uint64_t)1 << 16 | (uint64_t)(1024 >> 4) << 32 |
           (uint64_t)1 << 62;
}

__device__ __forceinline__ void wgmma_128(float (&d)[64], uint64_t desc_a, uint64_t desc_b,
                                          uint32_t accumulate)
{
    asm volatile(
        "{\n"
        ".reg .pred p;\n"
        "setp.ne.b32 p, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, "
        "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, "
        "%37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, "
        "%55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n"
        "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
          "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),
          "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
          "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),
          "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]),
          "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]),
          "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),
          "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]),
          "+f"(d[63])
        : "l"(desc_a), "l"(desc_b), "r"(accumulate));
}

__device__ __forceinline__ void gemm_body(const CUtensorMap *ta, const CUtensorMap *tb,
                                          const Args &p)
{
    extern __shared__ __align__(1024) uint8_t smem_raw[];
    /* 1024-byte aligned ring (the 128-byte swizzle atom), then the barriers. */
    uint8_t *const ring = reinterpret_cast<uint8_t *>(
        (reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~(uintptr_t)1023);
    uint64_t *const bars = reinterpret_cast<uint64_t *>(ring + STAGES * STAGE_BYTES);
    const uint32_t full0 = smem_u32(bars), empty0 = smem_u32(bars + STAGES);
    const int wg = threadIdx.x / 128, tid = threadIdx.x % 128;
    const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    const int ktiles = (int)((p.k + BK - 1) / BK);

    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            bar_init(full0 + 8 * s, 1);                /* the producer's expect_tx */
            bar_init(empty0 + 8 * s, 128 * CONSUMERS); /* every consumer thread */
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) { /* producer: one thread issues every copy */
        if (tid == 0)
            for (int kt = 0; kt < ktiles; kt++) {
                const int s = kt % STAGES, use = kt / STAGES;
                if (use > 0)
                    bar_wait(empty0 + 8 * s, (use - 1) & 1);
                bar_expect(full0 + 8 * s, STAGE_BYTES);
                uint8_t *const st = ring + s * STAGE_BYTES;
                tma_load(smem_u32(st), ta, kt * BK, m0, full0 + 8 * s);
                tma_load(smem_u32(st + A_BYTES), tb, kt * BK, n0, full0 + 8 * s);
            }
        return;
    }

    const int c = wg - 1; /* consumer: rows 64 c .. 64 c + 63 of the block tile */
    float acc[64];
#pragma unroll
    for (int i = 0; i < 64; i++)
        acc[i] = 0.0f;
    for (int kt = 0; kt < ktiles; kt++) {
        const int s = kt % STAGES;
        bar_wait(full0 + 8 * s, (kt / STAGES) & 1);
        const uint32_t a = smem_u32(ring + s * STAGE_BYTES) + c * 64 * 128;
        const uint32_t b = smem_u32(ring + s * STAGE_BYTES + A_BYTES);
        asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++)
            wgmma_128(acc, desc(a + 32 * kk), desc(b + 32 * kk), kt > 0 || kk > 0);
        asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
        bar_arrive(empty0 + 8 * s);
    }

    const int w = tid / 32, g = (tid % 32) / 4, t = tid % 4;
#pragma unroll
    for (int i = 0; i < 64; i++) {
        const int64_t row = m0 + 64 * c + 16 * w + g + 8 * ((i / 2) % 2);
        const int64_t col = n0 + 8 * (i / 4) + 2 * t + (i % 2);
        if (row < p.m && col < p.n)
            p.d[row * p.ldd + col] = __float2bfloat16_rn(acc[i]);
    }
}

#endif

} // namespace usine_sm90

extern "C" __global__ void __launch_bounds__(usine_sm90::THREADS, 1)
    usine_gemm_cuda_sm90a_bf16_128x128x64_ws(const __grid_constant__ CUtensorMap tma_a,
                                             const __grid_constant__ CUtensorMap tma_b,
                                             const usine_sm90::Args args)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    usine_sm90::gemm_body(&tma_a, &tma_b, args);
#else
    (void)tma_a;
    (void)tma_b;
    (void)args;
#endif
}

/* For the kernel table only (never dispatched: cuda_runtime.c lists it apart). */
extern "C" const usine_cuda_gemm_kernel usine_cuda_sm90a_gemm_skeleton[1] = {
    {"usine_gemm_cuda_sm90a_bf16_128x128x64_ws",
     (const void *)usine_gemm_cuda_sm90a_bf16_128x128x64_ws, 90, USINE_CUDA_BF16, 1, 1, 1,
     usine_sm90::BM, usine_sm90::BN, usine_sm90::BK, usine_sm90::STAGES, usine_sm90::THREADS, 1,
     usine_sm90::SMEM_BYTES}};
