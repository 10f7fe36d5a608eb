/*
 * bf16 / f16 GEMM for sm_90a (H100, H200, GH200): wgmma.mma_async fed by TMA
 * (cp.async.bulk.tensor), warp-specialised and persistent. One template; each
 * sm90a_gemm_<tile>.cu instantiates it for one tile shape and every operand arrangement and
 * input type. Same problem and epilogue as the sm_80 kernels (usine_cuda_gemm_args: D =
 * act(alpha A B + beta D + bias), D row-major), plus two TMA tensor maps that the host
 * (kernels/cuda/cuda_runtime.c) encodes per call.
 *
 * Checked on an NVIDIA H100 (2026-11-26): tests/cuda/test_cuda_gemm.c with every kernel
 * forced, under compute-sanitizer memcheck and racecheck too. bf16 row-major 8192^3: 128 x
 * 128 555 TFLOP/s, 128 x 256 461 (cuBLAS 730). Nsight Compute on 2048^3: 58% of the 128 x
 * 256 kernel's warp stall cycles (32% for 128 x 128) wait for instruction fetch; the fully
 * unrolled epilogue (every accumulator through beta, bias and the activation, inlined) is
 * the likely cause and the next thing to shrink. Then: a second consumer tile in flight
 * (consumers alternating mainloop and epilogue), TMA stores, clusters with multicast.
 *
 * ---- Roles ----
 * THREADS = 3 warpgroups. Warpgroup 0 is the producer: it gives its registers away
 * (setmaxnreg.dec) and one thread issues the TMA copies of every k tile into a STAGES-deep
 * ring of shared memory, each completing on the stage's "full" mbarrier (expect_tx with the
 * stage's byte count). Warpgroups 1 and 2 consume: each owns 64 rows of the BM = 128 row
 * block tile and all its BN columns (m64nBNk16: BN / 2 f32 accumulators a thread, registers
 * raised with setmaxnreg.inc), waits for a full stage, issues BK / 16 wgmma, commits them,
 * and once the PREVIOUS k tile's group has retired (wait_group 1: one group stays in flight
 * so the tensor cores never wait for the issuing warps) releases that stage on its "empty"
 * mbarrier (one arrival per consumer warp), which the producer waits for before refilling.
 *
 * ---- Persistent tiles ----
 * The grid is min(tiles, SMs) blocks, one per SM; block b takes tiles b, b + grid, ... (batch
 * items, then groups of GROUP_ROWS row tiles, column tiles across the group, row tiles
 * fastest: the blocks in flight share A rows and B columns in L2). The ring and its phases
 * run on across tiles, so the producer fills the next tile's stages while the consumers
 * store the last one.
 *
 * ---- Shared memory layout (TMA writes it, wgmma reads it; 128-byte swizzle) ----
 * Every TMA box is 64 elements (128 bytes) wide along its contiguous dimension and written
 * with CU_TENSOR_MAP_SWIZZLE_128B: 16-byte chunk c of box row r lands at chunk c ^ (r % 8);
 * boxes start 1024-byte aligned (a swizzle atom = 8 rows of 128 bytes).
 *   k-contiguous operand ("K-major"): one box of 64 k x ROWS rows (ROWS = 128 for A, BN for
 *     B), row r at 128 r bytes. Descriptor: leading byte offset unused (1), stride byte
 *     offset 1024 (8-row groups); the k16 step kk starts 32 kk bytes into the rows (the
 *     hardware applies the swizzle to the computed addresses).
 *   m- or n-contiguous operand ("MN-major", wgmma's transpose flag 1): boxes of 64 rows
 *     (elements along m or n) x 64 k, k row p at 128 p bytes, one box per 64 rows, 8 KiB
 *     apart. Descriptor: leading byte offset 8192 (the next 64 rows), stride byte offset 1024
 *     (the next 8 k); the k16 step kk starts 2048 kk bytes in (16 k rows).
 *   Consumer c's 64 rows of A start 8 KiB into the A tile in both arrangements.
 * Descriptor bits (PTX ISA, "Matrix Descriptor Format"): 0-13 address >> 4, 16-29 leading
 * byte offset >> 4, 32-45 stride byte offset >> 4, 62-63 swizzle (1 = 128 bytes).
 *
 * ---- Accumulators (m64nNk16, f32: N / 2 registers a thread) ----
 * Thread (warp w of the warpgroup, lane l, g = l / 4, t = l % 4), register i:
 *   row 16 w + g + 8 ((i / 2) % 2), column 8 (i / 4) + 2 t + (i % 2).
 *
 * ---- Edges ----
 * TMA fills box elements outside the tensor with zeros (and counts their bytes), so the k
 * tail adds nothing and rows or columns beyond m, n feed accumulators that are not stored.
 * Host conditions (cuda_runtime.c): cc 9.0 exactly (sm_90a code runs nowhere else), k >= 1,
 * 16-byte aligned bases, row and batch strides multiples of 8 elements, m, n, k < 2^31.
 */
#ifndef USINE_KERNELS_CUDA_SM90A_GEMM_CUH
#define USINE_KERNELS_CUDA_SM90A_GEMM_CUH

#include <cuda.h> /* CUtensorMap (a type only: nothing of the driver is linked) */

#include "sm80_gemm.cuh" /* element conversions and the epilogue's activate() */

namespace usine_sm90
{

/* Tile shape and pipeline depth (the autotuner's parameters). */
template <int BN_, int STAGES_> struct Tile {
    static constexpr int BM = 128, BN = BN_, BK = 64, STAGES = STAGES_;
    static constexpr int CONSUMERS = 2, THREADS = 128 * (1 + CONSUMERS), MIN_BLOCKS = 1;
    static constexpr int ACC = BN / 2; /* f32 accumulators a consumer thread holds */
    static constexpr int A_BYTES = BM * BK * 2, B_BYTES = BN * BK * 2;
    static constexpr int STAGE_BYTES = A_BYTES + B_BYTES;
    /* The ring, 1 KiB of slack to align it to 1024 bytes, the full and empty mbarriers. */
    static constexpr int SMEM_BYTES = STAGES * STAGE_BYTES + 1024 + 2 * STAGES * 8;
    static constexpr int GROUP_ROWS = 8; /* row tiles per raster group */
    static_assert(BN == 128 || BN == 256, "m64n128k16 or m64n256k16");
    static_assert(STAGES >= 2, "a ring of two stages at least");
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

/* A 3-D TMA box (coordinates innermost first: contiguous dimension, rows, batch item) into
 * shared memory, completing on `bar`. */
__device__ __forceinline__ void tma_load(uint32_t dst, const CUtensorMap *map, int c0, int c1,
                                         int c2, uint32_t bar)
{
    asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes "
                 "[%0], [%1, {%2, %3, %4}], [%5];\n" ::"r"(dst),
                 "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(bar)
                 : "memory");
}

/* Shared memory descriptor of a 128-byte-swizzled operand (see the header comment). */
template <bool MN_MAJOR> __device__ __forceinline__ uint64_t desc(uint32_t addr)
{
    const uint64_t leading = MN_MAJOR ? 8192 >> 4 : 1;
    return (uint64_t)((addr >> 4) & 0x3fff) | leading << 16 | (uint64_t)(1024 >> 4) << 32 |
           (uint64_t)1 << 62;
}

/* Byte offset of k16 step kk inside a stage's operand tile. */
template <bool MN_MAJOR> __device__ __forceinline__ uint32_t k_step(int kk)
{
    return MN_MAJOR ? 2048u * kk : 32u * kk;
}

#define USINE_WGMMA_D64                                                                            \
    "{"                                                                                            \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, "             \
    "%18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, "             \
    "%34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, "             \
    "%50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"                         \
    "}"
#define USINE_WGMMA_D128                                                                           \
    "{"                                                                                            \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, "             \
    "%18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, "             \
    "%34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, "             \
    "%50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, "             \
    "%66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, "             \
    "%82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, "             \
    "%98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "           \
    "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, "         \
    "%126, %127"                                                                                   \
    "}"

/* Accumulator operands of the inline PTX: "+f"(d[i]) .. "+f"(d[i + 63]). */
#define USINE_WGMMA_F8(i)                                                                          \
    "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]),    \
        "+f"(d[i + 6]), "+f"(d[i + 7])
#define USINE_WGMMA_F64(i)                                                                         \
    USINE_WGMMA_F8(i), USINE_WGMMA_F8(i + 8), USINE_WGMMA_F8(i + 16), USINE_WGMMA_F8(i + 24),      \
        USINE_WGMMA_F8(i + 32), USINE_WGMMA_F8(i + 40), USINE_WGMMA_F8(i + 48),                    \
        USINE_WGMMA_F8(i + 56)

/* d (+)= A B for one k16 step: wgmma.mma_async.m64nNk16, f32 accumulators, A and B from
 * shared memory; TA, TB: the transpose flags (1 = MN-major operand); accumulate == 0 ignores
 * d's old value. The operand numbers after the N / 2 accumulators: descriptors of A and B,
 * the accumulate flag, the two transpose flags. */
template <typename T, int N, int TA, int TB> struct Wgmma;

#define USINE_WGMMA(T, TS, N, DREGS, DA, DB, SCALE, TRA, TRB, ...)                                 \
    template <int TA, int TB> struct Wgmma<T, N, TA, TB> {                                         \
        static __device__ __forceinline__ void run(float (&d)[N / 2], uint64_t a, uint64_t b,      \
                                                   uint32_t accumulate)                            \
        {                                                                                          \
            asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " SCALE ", 0;\n"                        \
                         "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TS "." TS " " DREGS     \
                         ", " DA ", " DB ", p, 1, 1, " TRA ", " TRB ";\n}\n"                       \
                         : __VA_ARGS__                                                             \
                         : "l"(a), "l"(b), "r"(accumulate), "n"(TA), "n"(TB));                     \
        }                                                                                          \
    };

USINE_WGMMA(__nv_bfloat16, "bf16", 128, USINE_WGMMA_D64, "%64", "%65", "%66", "%67", "%68",
            USINE_WGMMA_F64(0))
USINE_WGMMA(__half, "f16", 128, USINE_WGMMA_D64, "%64", "%65", "%66", "%67", "%68",
            USINE_WGMMA_F64(0))
USINE_WGMMA(__nv_bfloat16, "bf16", 256, USINE_WGMMA_D128, "%128", "%129", "%130", "%131", "%132",
            USINE_WGMMA_F64(0), USINE_WGMMA_F64(64))
USINE_WGMMA(__half, "f16", 256, USINE_WGMMA_D128, "%128", "%129", "%130", "%131", "%132",
            USINE_WGMMA_F64(0), USINE_WGMMA_F64(64))

__device__ __forceinline__ void wgmma_fence()
{
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}

__device__ __forceinline__ void wgmma_commit()
{
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}

template <int PENDING> __device__ __forceinline__ void wgmma_wait()
{
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(PENDING) : "memory");
}

/* Keeps the compiler from moving accumulator reads or writes across a wgmma wait or fence:
 * the registers are written asynchronously, which the inline PTX's operands cannot say. */
template <int N> __device__ __forceinline__ void fence_operands(float (&d)[N])
{
#pragma unroll
    for (int i = 0; i < N; i++)
        asm volatile("" : "+f"(d[i])::"memory");
}

/* The position of persistent tile `tile` (see the header comment). */
template <typename Cfg> struct TilePos {
    int z, m0, n0;
};

template <typename Cfg>
__device__ __forceinline__ TilePos<Cfg> tile_pos(int64_t tile, int64_t row_tiles, int64_t col_tiles)
{
    const int64_t per_item = row_tiles * col_tiles;
    const int64_t z = tile / per_item, r = tile - z * per_item;
    const int64_t group = r / (Cfg::GROUP_ROWS * col_tiles);
    const int64_t first = group * Cfg::GROUP_ROWS;
    const int64_t rows = row_tiles - first < Cfg::GROUP_ROWS ? row_tiles - first : Cfg::GROUP_ROWS;
    const int64_t in = r - group * Cfg::GROUP_ROWS * col_tiles;
    TilePos<Cfg> p;
    p.z = (int)z;
    p.m0 = (int)((first + in % rows) * Cfg::BM);
    p.n0 = (int)((in / rows) * Cfg::BN);
    return p;
}

/* The producer thread: every k tile of every tile this block owns, into the ring. */
template <typename Cfg, bool A_MN, bool B_MN>
__device__ __forceinline__ void produce(const CUtensorMap *ta, const CUtensorMap *tb, uint8_t *ring,
                                        uint32_t full0, uint32_t empty0, int64_t tiles,
                                        int64_t row_tiles, int64_t col_tiles, int ktiles)
{
    uint32_t it = 0; /* k tiles issued so far: stage it % STAGES, its use it / STAGES */
    for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const TilePos<Cfg> t = tile_pos<Cfg>(tile, row_tiles, col_tiles);
        for (int kt = 0; kt < ktiles; kt++, it++) {
            const uint32_t s = it % Cfg::STAGES, use = it / Cfg::STAGES;
            if (use > 0)
                bar_wait(empty0 + 8 * s, (use - 1) & 1);
            const uint32_t full = full0 + 8 * s;
            bar_expect(full, Cfg::STAGE_BYTES);
            const uint32_t a = smem_u32(ring + s * Cfg::STAGE_BYTES), b = a + Cfg::A_BYTES;
            const int k0 = kt * Cfg::BK;
            if (A_MN)
                for (int h = 0; h < Cfg::BM / 64; h++)
                    tma_load(a + 8192 * h, ta, t.m0 + 64 * h, k0, t.z, full);
            else
                tma_load(a, ta, k0, t.m0, t.z, full);
            if (B_MN)
                for (int h = 0; h < Cfg::BN / 64; h++)
                    tma_load(b + 8192 * h, tb, t.n0 + 64 * h, k0, t.z, full);
            else
                tma_load(b, tb, k0, t.n0, t.z, full);
        }
    }
}

/* Two adjacent outputs (row, col) and (row, col + 1) through the epilogue; `pair`: both
 * exist and may be stored as one aligned vector. */
template <typename T>
__device__ __forceinline__ void store_pair(const usine_cuda_gemm_args &p, int z, int64_t row,
                                           int64_t col, float v0, float v1, bool pair)
{
    const int64_t at = z * p.d_batch + row * p.ldd + col;
    float *const d32 = static_cast<float *>(p.d);
    T *const d16 = static_cast<T *>(p.d);
    const int count = pair ? 2 : col + 1 < p.n ? 2 : 1;
    float v[2] = {p.alpha * v0, p.alpha * v1};
#pragma unroll
    for (int e = 0; e < 2; e++) {
        if (e >= count)
            break;
        if (p.beta != 0.0f)
            v[e] += p.beta * (p.out_f32 ? d32[at + e] : usine_sm80::to_f32<T>(d16[at + e]));
        if (p.bias)
            v[e] += p.bias[p.bias_per_row ? row : col + e];
        v[e] = usine_sm80::activate(v[e], p.activation);
    }
    if (pair) {
        if (p.out_f32) {
            *reinterpret_cast<float2 *>(d32 + at) = make_float2(v[0], v[1]);
        } else {
            T two[2] = {usine_sm80::from_f32<T>(v[0]), usine_sm80::from_f32<T>(v[1])};
            *reinterpret_cast<uint32_t *>(d16 + at) = *reinterpret_cast<uint32_t *>(two);
        }
        return;
    }
    for (int e = 0; e < count; e++) {
        if (p.out_f32)
            d32[at + e] = v[e];
        else
            d16[at + e] = usine_sm80::from_f32<T>(v[e]);
    }
}

/* A consumer's 64 x BN accumulators to D. */
template <typename T, typename Cfg>
__device__ __forceinline__ void store_tile(const usine_cuda_gemm_args &p,
                                           const float (&acc)[Cfg::ACC], const TilePos<Cfg> &t,
                                           int consumer, bool vector_ok)
{
    const int tid = threadIdx.x % 128, w = tid / 32, g = (tid % 32) / 4, q = tid % 4;
#pragma unroll
    for (int i = 0; i < Cfg::ACC; i += 2) {
        const int64_t row = t.m0 + 64 * consumer + 16 * w + g + 8 * ((i / 2) % 2);
        const int64_t col = t.n0 + 8 * (i / 4) + 2 * q;
        if (row < p.m && col < p.n)
            store_pair<T>(p, t.z, row, col, acc[i], acc[i + 1], vector_ok && col + 1 < p.n);
    }
}

/* A consumer warpgroup: every tile this block owns, its 64 rows. */
template <typename T, typename Cfg, bool A_MN, bool B_MN>
__device__ __forceinline__ void
consume(const usine_cuda_gemm_args &p, uint8_t *ring, uint32_t full0, uint32_t empty0,
        int64_t tiles, int64_t row_tiles, int64_t col_tiles, int ktiles, int consumer)
{
    /* Paired stores need the pair's first element 8 (f32) or 4 bytes aligned: even ldd, even
     * batch stride and an aligned base. */
    const int out_size = p.out_f32 ? 4 : 2;
    const bool vector_ok = (p.ldd % 2) == 0 && (p.d_batch % 2) == 0 &&
                           (reinterpret_cast<uintptr_t>(p.d) % (2 * out_size)) == 0;
    const bool release = threadIdx.x % 32 == 0; /* one arrival per warp */
    float acc[Cfg::ACC];
    uint32_t it = 0; /* k tiles consumed so far, as the producer counts them */
    for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const TilePos<Cfg> t = tile_pos<Cfg>(tile, row_tiles, col_tiles);
        for (int kt = 0; kt < ktiles; kt++, it++) {
            const uint32_t s = it % Cfg::STAGES;
            bar_wait(full0 + 8 * s, (it / Cfg::STAGES) & 1);
            const uint32_t a = smem_u32(ring + s * Cfg::STAGE_BYTES) + 8192 * consumer;
            const uint32_t b = smem_u32(ring + s * Cfg::STAGE_BYTES) + Cfg::A_BYTES;
            fence_operands(acc);
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < Cfg::BK / 16; kk++)
                Wgmma<T, Cfg::BN, A_MN, B_MN>::run(acc, desc<A_MN>(a + k_step<A_MN>(kk)),
                                                   desc<B_MN>(b + k_step<B_MN>(kk)),
                                                   kt > 0 || kk > 0);
            wgmma_commit();
            fence_operands(acc);
            /* The previous k tile's products are done: its stage can be refilled. */
            wgmma_wait<1>();
            if (kt > 0 && release)
                bar_arrive(empty0 + 8 * ((it - 1) % Cfg::STAGES));
        }
        wgmma_wait<0>();
        fence_operands(acc);
        if (release)
            bar_arrive(empty0 + 8 * ((it - 1) % Cfg::STAGES));
        store_tile<T, Cfg>(p, acc, t, consumer, vector_ok);
    }
}

template <typename T, typename Cfg, bool A_MN, bool B_MN>
__device__ __forceinline__ void gemm_body(const CUtensorMap *ta, const CUtensorMap *tb,
                                          const usine_cuda_gemm_args &p)
{
    extern __shared__ __align__(1024) uint8_t smem_raw[];
    uint8_t *const ring = reinterpret_cast<uint8_t *>(
        (reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~(uintptr_t)1023);
    uint64_t *const bars = reinterpret_cast<uint64_t *>(ring + Cfg::STAGES * Cfg::STAGE_BYTES);
    const uint32_t full0 = smem_u32(bars), empty0 = smem_u32(bars + Cfg::STAGES);
    const int64_t row_tiles = (p.m + Cfg::BM - 1) / Cfg::BM;
    const int64_t col_tiles = (p.n + Cfg::BN - 1) / Cfg::BN;
    const int64_t tiles = row_tiles * col_tiles * p.batch;
    const int ktiles = (int)((p.k + Cfg::BK - 1) / Cfg::BK);

    if (threadIdx.x == 0) {
        for (int s = 0; s < Cfg::STAGES; s++) {
            bar_init(full0 + 8 * s, 1);                   /* the producer's expect_tx */
            bar_init(empty0 + 8 * s, 4 * Cfg::CONSUMERS); /* one per consumer warp */
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    const int wg = threadIdx.x / 128;
    if (wg == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n");
        if (threadIdx.x == 0)
            produce<Cfg, A_MN, B_MN>(ta, tb, ring, full0, empty0, tiles, row_tiles, col_tiles,
                                     ktiles);
    } else {
        asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n");
        consume<T, Cfg, A_MN, B_MN>(p, ring, full0, empty0, tiles, row_tiles, col_tiles, ktiles,
                                    wg - 1);
    }
}

#endif

} // namespace usine_sm90

/*
 * One kernel (a C name, as the sm_80 ones) and its registry entry. The body exists only in
 * the sm_90a pass; the grid is min(tiles, SMs) persistent blocks.
 */
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define USINE_SM90_GEMM_BODY(T, CFG, A_MN, B_MN)                                                   \
    usine_sm90::gemm_body<T, CFG, A_MN, B_MN>(&tma_a, &tma_b, args);
#else
#define USINE_SM90_GEMM_BODY(T, CFG, A_MN, B_MN)                                                   \
    (void)tma_a;                                                                                   \
    (void)tma_b;                                                                                   \
    (void)args;
#endif

#define USINE_SM90_GEMM_KERNEL(NAME, T, CFG, A_MN, B_MN)                                           \
    extern "C" __global__ void __launch_bounds__(CFG::THREADS, CFG::MIN_BLOCKS)                    \
        NAME(const __grid_constant__ CUtensorMap tma_a, const __grid_constant__ CUtensorMap tma_b, \
             const usine_cuda_gemm_args args)                                                      \
    {                                                                                              \
        USINE_SM90_GEMM_BODY(T, CFG, A_MN, B_MN)                                                   \
    }

/* The registry entry: arch 90, TMA loads (vector_loads 1), a_k / b_k as the sm_80 entries. */
#define USINE_SM90_GEMM_ENTRY(NAME, TYPE, CFG, A_K, B_K)                                           \
    {                                                                                              \
#NAME, (const void *)NAME, 90, TYPE, (A_K), (B_K), 1, CFG::BM, CFG::BN, CFG::BK,           \
            CFG::STAGES, CFG::THREADS, CFG::MIN_BLOCKS, CFG::SMEM_BYTES                            \
    }

/* The eight kernels of one tile shape and their table, usine_cuda_sm90a_gemm_<SUFFIX>. */
#define USINE_SM90_GEMM_FAMILY(SUFFIX, CFG)                                                        \
    USINE_SM90_GEMM_KERNEL(usine_gemm_cuda_sm90a_bf16_##SUFFIX##_ak_bk, __nv_bfloat16, CFG, false, \
                           false)                                                                  \
    USINE_SM90_GEMM_KERNEL(usine_gemm_cuda_sm90a_bf16_##SUFFIX##_ak_bn, __nv_bfloat16, CFG, false, \
                           true)                                                                   \
    USINE_SM90_GEMM_KERNEL(usine_gemm_cuda_sm90a_bf16_##SUFFIX##_am_bk, __nv_bfloat16, CFG, true,  \
                           false)                                                                  \
    USINE_SM90_GEMM_KERNEL(usine_gemm_cuda_sm90a_bf16_##SUFFIX##_am_bn, __nv_bfloat16, CFG, true,  \
                           true)                                                                   \
    USINE_SM90_GEMM_KERNEL(usine_gemm_cuda_sm90a_f16_##SUFFIX##_ak_bk, __half, CFG, false, false)  \
    USINE_SM90_GEMM_KERNEL(usine_gemm_cuda_sm90a_f16_##SUFFIX##_ak_bn, __half, CFG, false, true)   \
    USINE_SM90_GEMM_KERNEL(usine_gemm_cuda_sm90a_f16_##SUFFIX##_am_bk, __half, CFG, true, false)   \
    USINE_SM90_GEMM_KERNEL(usine_gemm_cuda_sm90a_f16_##SUFFIX##_am_bn, __half, CFG, true, true)    \
    extern "C" const usine_cuda_gemm_kernel usine_cuda_sm90a_gemm_##SUFFIX[8] = {                  \
        USINE_SM90_GEMM_ENTRY(usine_gemm_cuda_sm90a_bf16_##SUFFIX##_ak_bk, USINE_CUDA_BF16, CFG,   \
                              1, 1),                                                               \
        USINE_SM90_GEMM_ENTRY(usine_gemm_cuda_sm90a_bf16_##SUFFIX##_ak_bn, USINE_CUDA_BF16, CFG,   \
                              1, 0),                                                               \
        USINE_SM90_GEMM_ENTRY(usine_gemm_cuda_sm90a_bf16_##SUFFIX##_am_bk, USINE_CUDA_BF16, CFG,   \
                              0, 1),                                                               \
        USINE_SM90_GEMM_ENTRY(usine_gemm_cuda_sm90a_bf16_##SUFFIX##_am_bn, USINE_CUDA_BF16, CFG,   \
                              0, 0),                                                               \
        USINE_SM90_GEMM_ENTRY(usine_gemm_cuda_sm90a_f16_##SUFFIX##_ak_bk, USINE_CUDA_F16, CFG, 1,  \
                              1),                                                                  \
        USINE_SM90_GEMM_ENTRY(usine_gemm_cuda_sm90a_f16_##SUFFIX##_ak_bn, USINE_CUDA_F16, CFG, 1,  \
                              0),                                                                  \
        USINE_SM90_GEMM_ENTRY(usine_gemm_cuda_sm90a_f16_##SUFFIX##_am_bk, USINE_CUDA_F16, CFG, 0,  \
                              1),                                                                  \
        USINE_SM90_GEMM_ENTRY(usine_gemm_cuda_sm90a_f16_##SUFFIX##_am_bn, USINE_CUDA_F16, CFG, 0,  \
                              0)};

#endif
