/*
 * bf16 / f16 GEMM for sm_90a (H100, H200, GH200): wgmma.mma_async fed by TMA
 * (cp.async.bulk.tensor), warp-specialised and persistent. One template; each
 * sm90a_gemm_<tile>.cu instantiates it for one tile shape and every operand arrangement and
 * input type. Same problem and epilogue as the sm_80 kernels (usine_cuda_gemm_args: D =
 * act(alpha A B + beta D + bias), D row-major), plus two TMA tensor maps that the host
 * (kernels/cuda/cuda_runtime.c) encodes per call.
 *
 * Checked on an NVIDIA H100 (2026-11-26): tests/cuda/test_cuda_gemm.c with every kernel
 * forced, blocks alone and in clusters, under compute-sanitizer memcheck and racecheck too.
 * bf16 row-major against cuBLAS 13.1 in the same run, TFLOP/s: 8192^3 128 x 256 703 (0.96x),
 * 4096^3 765 (1.00x), 2048^3 668 (0.94x); 128 x 128 529-570 alone, 549-626 in clusters of
 * two. Before the staged epilogue (every accumulator pair through beta, bias and the
 * activation, inlined: 240 KB of machine code a kernel, 58% of the 128 x 256 warps' stall
 * cycles on instruction fetch) 128 x 256 ran 461 at 8192^3. Next: a second consumer tile in
 * flight (consumers alternating mainloop and epilogue), TMA stores, smaller tiles or split k
 * for m = 16 (0.45-0.92x cuBLAS).
 *
 * ---- Roles ----
 * THREADS = 3 warpgroups. Warpgroup 0 is the producer: it gives its registers away
 * (setmaxnreg.dec) and one thread issues the TMA copies of every k tile into a STAGES-deep
 * ring of shared memory, each completing on the stage's "full" mbarrier (expect_tx with the
 * stage's byte count). Warpgroups 1 and 2 consume: each owns 64 rows of the BM = 128 row
 * block tile and all its BN columns (m64nBNk16: BN / 2 f32 accumulators a thread, registers
 * raised with setmaxnreg.inc), or with BM = 64 the tile's 64 rows and half of its columns
 * (m64n(BN/2)k16: for products of few rows, whose tensor-core time per byte of B halves);
 * each waits for a full stage, issues BK / 16 wgmma, commits them,
 * and once the PREVIOUS k tile's group has retired (wait_group 1: one group stays in flight
 * so the tensor cores never wait for the issuing warps) releases that stage on its "empty"
 * mbarrier (one arrival per consumer warp), which the producer waits for before refilling.
 *
 * ---- Persistent tiles and clusters ----
 * The grid is one block per SM (or fewer, one per unit of work); cluster c of the grid takes
 * units c, c + clusters, ... (batch items and k slices, then groups of GROUP_ROWS row tiles, column
 * tiles across the group, row tiles fastest: the blocks in flight share A rows and B columns in
 * L2). A unit is one row tile per block of the cluster: alone, a tile; in a cluster of two
 * (launched with cluster dimension 2, the _c2 registry entries), two vertically adjacent
 * tiles, each block loading its own A and half of the common B tile with TMA multicast into
 * both blocks' stages, so that L2 serves B once for two tiles. A block's full mbarrier then
 * expects all of B, and its empty mbarrier counts the consumer warps of both blocks (the
 * other block writes into this block's stages too). The ring and its phases run on across
 * tiles, so the producer fills the next tile's stages while the consumers store the last
 * one.
 *
 * ---- Split k ----
 * With args.k_chunk > 0 every tile is computed in k slices of k_chunk (a multiple of BK), each
 * slice a unit of its own stored as f32 into a workspace item (args.d, batch z * slices +
 * slice), which a second kernel sums in slice order (sm90a_splitk_reduce.cu): products with
 * few tiles and a long k (m = 16 decode steps: 16 to 32 tiles for 132 SMs) then stream their
 * operands from as many SMs as there are slices times tiles.
 *
 * ---- Shared memory layout (TMA writes it, wgmma reads it; 128-byte swizzle) ----
 * Every TMA box is 64 elements (128 bytes) wide along its contiguous dimension and written
 * with CU_TENSOR_MAP_SWIZZLE_128B: 16-byte chunk c of box row r lands at chunk c ^ (r % 8);
 * boxes start 1024-byte aligned (a swizzle atom = 8 rows of 128 bytes).
 *   k-contiguous operand ("K-major"): 64 k x ROWS rows (A: one box of 128 rows; B: two
 *     boxes of BN / 2 rows, one per block of a cluster), row r at 128 r bytes. Descriptor:
 *     leading byte offset unused (1), stride byte offset 1024 (8-row groups); the k16 step
 *     kk starts 32 kk bytes into the rows (the hardware applies the swizzle to the computed
 *     addresses).
 *   m- or n-contiguous operand ("MN-major", wgmma's transpose flag 1): boxes of 64 rows
 *     (elements along m or n) x 64 k, k row p at 128 p bytes, one box per 64 rows, 8 KiB
 *     apart. Descriptor: leading byte offset 8192 (the next 64 rows), stride byte offset 1024
 *     (the next 8 k); the k16 step kk starts 2048 kk bytes in (16 k rows).
 *   Consumer c's 64 rows of A start 8 KiB into the A tile in both arrangements (BM = 128);
 *   with BM = 64 its BN / 2 columns of B start BN / 2 x 128 bytes into the B tile in both
 *   (K-major: that many rows of 128 bytes; MN-major: that many 8 KiB boxes of 64 columns).
 * Descriptor bits (PTX ISA, "Matrix Descriptor Format"): 0-13 address >> 4, 16-29 leading
 * byte offset >> 4, 32-45 stride byte offset >> 4, 62-63 swizzle (1 = 128 bytes).
 *
 * ---- Accumulators (m64nNk16, f32: N / 2 registers a thread) ----
 * Thread (warp w of the warpgroup, lane l, g = l / 4, t = l % 4), register i:
 *   row 16 w + g + 8 ((i / 2) % 2), column 8 (i / 4) + 2 t + (i % 2).
 *
 * ---- Epilogue ----
 * Each consumer stages its accumulators, 32 columns at a time, in its own 64 x 40-float rows
 * of shared memory (after the ring), then stores them row by row: 16-byte (f32) or 8-byte
 * (bf16, f16) coalesced stores times alpha when the chunk lies inside D and there is no
 * beta, bias or activation, else element by element through the whole epilogue in a rolled
 * loop (small code either way).
 *
 * ---- Edges ----
 * TMA fills box elements outside the tensor with zeros (and counts their bytes), so the k
 * tail adds nothing and rows or columns beyond m, n feed accumulators that are not stored.
 * A cluster's second block whose row tile lies wholly below D (odd row tiles) loads no A
 * and stores nothing, but still takes its half of B and releases its stages.
 * Host conditions (cuda_runtime.c): cc 9.0 exactly (sm_90a code runs nowhere else), k >= 1,
 * 16-byte aligned bases, row and batch strides multiples of 8 elements, m, n, k < 2^31
 * (m two tiles less).
 */
#ifndef USINE_KERNELS_CUDA_SM90A_GEMM_CUH
#define USINE_KERNELS_CUDA_SM90A_GEMM_CUH

#include <cuda.h> /* CUtensorMap (a type only: nothing of the driver is linked) */

#include "sm80_gemm.cuh" /* element conversions and the epilogue's activate() */

namespace usine_sm90
{

/* Tile shape and pipeline depth (the autotuner's parameters). BM 128: each consumer owns 64
 * rows and all BN columns; BM 64 (products of few rows, decode steps): both consumers take
 * the 64 rows, each half of the columns, so that no tensor-core work goes to rows that are not
 * there when m <= 64. */
template <int BN_, int STAGES_, int BM_ = 128> struct Tile {
    static constexpr int BM = BM_, BN = BN_, BK = 64, STAGES = STAGES_;
    static constexpr int CONSUMERS = 2, THREADS = 128 * (1 + CONSUMERS), MIN_BLOCKS = 1;
    static constexpr int CN = BM == 128 ? BN : BN / 2; /* columns a consumer owns */
    static constexpr int ACC = CN / 2; /* f32 accumulators a consumer thread holds */
    /* Consumer c's first row and column in the tile, and its operands' byte offsets in a
     * stage: A's 64 rows (8 KiB a 64-row box or half tile, either arrangement), B's columns
     * (128 bytes a column: K-major rows, or 8 KiB boxes of 64 MN-major columns). */
    static constexpr __host__ __device__ int row_of(int c)
    {
        return BM == 128 ? 64 * c : 0;
    }
    static constexpr __host__ __device__ int col_of(int c)
    {
        return BM == 128 ? 0 : CN * c;
    }
    static constexpr __host__ __device__ uint32_t a_offset(int c)
    {
        return 128u * row_of(c);
    }
    static constexpr __host__ __device__ uint32_t b_offset(int c)
    {
        return 128u * col_of(c);
    }
    static constexpr int A_BYTES = BM * BK * 2, B_BYTES = BN * BK * 2;
    static constexpr int STAGE_BYTES = A_BYTES + B_BYTES;
    /* Epilogue staging: each consumer's 64 rows x 32 columns of f32, rows padded to 40 floats
     * so that the accumulators' float2 writes (8 rows x 4 column pairs a half warp) hit 32
     * distinct banks. */
    static constexpr int EPI_COLS = 32, EPI_PITCH = 40;
    static constexpr int EPI_BYTES = CONSUMERS * 64 * EPI_PITCH * 4;
    /* The ring, 1 KiB of slack to align it to 1024 bytes, the full and empty mbarriers, the
     * epilogue staging. */
    static constexpr int SMEM_BYTES = STAGES * STAGE_BYTES + 1024 + 2 * STAGES * 8 + EPI_BYTES;
    static constexpr int GROUP_ROWS = 8; /* row tiles per raster group */
    /* A K-major B tile is loaded as two boxes of BN / 2 rows, an MN-major one as BN / 64
     * boxes of 64 columns: in a cluster of two each block loads half of them for both. */
    static constexpr int B_PARTS_K = 2, B_PARTS_MN = BN / 64;
    static_assert(BM == 64 || BM == 128, "one or two 64-row halves");
    static_assert(CN == 128 || CN == 256, "m64n128k16 or m64n256k16");
    static_assert(STAGES >= 2, "a ring of two stages at least");
    static_assert(SMEM_BYTES <= 232448, "227 KiB of shared memory a block on sm_90");
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

/* The same box into the same shared memory offset of every block in `mask` (cluster ranks),
 * completing on each one's mbarrier at `bar`'s offset. */
__device__ __forceinline__ void tma_load_multicast(uint32_t dst, const CUtensorMap *map, int c0,
                                                   int c1, int c2, uint32_t bar, uint16_t mask)
{
    asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes"
                 ".multicast::cluster [%0], [%1, {%2, %3, %4}], [%5], %6;\n" ::"r"(dst),
                 "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(bar),
                 "h"(mask)
                 : "memory");
}

__device__ __forceinline__ uint32_t cluster_size()
{
    uint32_t n;
    asm volatile("mov.u32 %0, %%cluster_nctarank;\n" : "=r"(n));
    return n;
}

__device__ __forceinline__ uint32_t cluster_rank()
{
    uint32_t r;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
    return r;
}

/* Every thread of every block of the cluster (a block's own barrier when it is alone). */
__device__ __forceinline__ void cluster_sync()
{
    asm volatile("barrier.cluster.arrive.release;\nbarrier.cluster.wait.acquire;\n" ::: "memory");
}

/* Arrival on the mbarrier at `bar`'s offset in block `rank` of the cluster. The default
 * semantics (release at CTA scope): it only says that this warp's wgmma reads of the stage
 * are done (wgmma.wait_group returned). `.release.cluster` made every arrival a cluster-wide
 * memory barrier: on an H100, 40% of the warps' stall cycles and a third of the speed. */
__device__ __forceinline__ void bar_arrive_cluster(uint32_t bar, uint32_t rank)
{
    asm volatile("{\n.reg .b32 remote;\nmapa.shared::cluster.u32 remote, %0, %1;\n"
                 "mbarrier.arrive.shared::cluster.b64 _, [remote];\n}\n" ::"r"(bar),
                 "r"(rank)
                 : "memory");
}

/* The 128 threads of one warpgroup (named barrier `id`, 1 and up: 0 is __syncthreads). */
__device__ __forceinline__ void warpgroup_sync(int id)
{
    asm volatile("bar.sync %0, 128;\n" ::"r"(id) : "memory");
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

/* The blocks' cluster: `size` blocks along m (1 or 2) and this block's `rank`; the grid's
 * clusters are blockIdx.x / size among gridDim.x / size. */
struct Cluster {
    uint32_t size, rank;
    __device__ __forceinline__ uint32_t id() const
    {
        return blockIdx.x / size;
    }
    __device__ __forceinline__ uint32_t count() const
    {
        return gridDim.x / size;
    }
};

/* The persistent grid's work: `units` units of one row tile per block of a cluster (same
 * columns, adjacent row tiles), `unit_rows` x `col_tiles` per batch item and k slice; k in
 * `slices` slices of `chunk` (the last one what is left; one slice of k without split k). */
struct Work {
    int64_t units, unit_rows, col_tiles, slices, chunk, k;
};

/* The position of a tile (see the header comment): item z of the operands, D item dz (z, or
 * z * slices + slice with split k), its first row and column, its k range (from k0, ktiles k
 * tiles). */
template <typename Cfg> struct TilePos {
    int z, m0, n0, k0, ktiles;
    int64_t dz;
};

template <typename Cfg>
__device__ __forceinline__ TilePos<Cfg> tile_pos(int64_t unit, const Work &w, const Cluster &c)
{
    const int64_t group_rows = Cfg::GROUP_ROWS / c.size; /* units: GROUP_ROWS row tiles */
    const int64_t per_item = w.unit_rows * w.col_tiles;
    const int64_t dz = unit / per_item, r = unit - dz * per_item;
    const int64_t z = dz / w.slices, k0 = (dz - z * w.slices) * w.chunk;
    const int64_t group = r / (group_rows * w.col_tiles);
    const int64_t first = group * group_rows;
    const int64_t rows = w.unit_rows - first < group_rows ? w.unit_rows - first : group_rows;
    const int64_t in = r - group * group_rows * w.col_tiles;
    const int64_t k_len = w.k - k0 < w.chunk ? w.k - k0 : w.chunk;
    TilePos<Cfg> p;
    p.z = (int)z;
    p.dz = dz;
    p.m0 = (int)(((first + in % rows) * c.size + c.rank) * Cfg::BM);
    p.n0 = (int)((in / rows) * Cfg::BN);
    p.k0 = (int)k0;
    p.ktiles = (int)((k_len + Cfg::BK - 1) / Cfg::BK);
    return p;
}

/* Part `h` of a stage's B tile (Tile::B_PARTS_K or B_PARTS_MN of them), into `b`; in a
 * cluster of two, to both blocks. */
template <typename Cfg, bool B_MN>
__device__ __forceinline__ void load_b_part(uint32_t b, const CUtensorMap *tb,
                                            const TilePos<Cfg> &t, int k0, int h, uint32_t full,
                                            const Cluster &c)
{
    const uint32_t dst = B_MN ? b + 8192 * h : b + 64 * Cfg::BN * h; /* 128 B x BN / 2 rows */
    const int c0 = B_MN ? t.n0 + 64 * h : k0, c1 = B_MN ? k0 : t.n0 + Cfg::BN / 2 * h;
    if (c.size > 1)
        tma_load_multicast(dst, tb, c0, c1, t.z, full, (uint16_t)((1u << c.size) - 1));
    else
        tma_load(dst, tb, c0, c1, t.z, full);
}

/* The producer thread: every k tile of every tile this block owns, into the ring. Each block
 * loads its own A and its share of B (all of it alone, half of it in a cluster of two, which
 * the other block loads for both); a stage is refilled once every consumer warp of the
 * cluster has released it, since the other block writes into this block's stage too. */
template <typename Cfg, bool A_MN, bool B_MN>
__device__ __forceinline__ void produce(const CUtensorMap *ta, const CUtensorMap *tb, uint8_t *ring,
                                        uint32_t full0, uint32_t empty0, int64_t m, const Work &w,
                                        const Cluster &c)
{
    constexpr int parts = B_MN ? Cfg::B_PARTS_MN : Cfg::B_PARTS_K;
    const int share = parts / (int)c.size, first_part = share * (int)c.rank;
    uint32_t it = 0; /* k tiles issued so far: stage it % STAGES, its use it / STAGES */
    for (int64_t unit = c.id(); unit < w.units; unit += c.count()) {
        const TilePos<Cfg> t = tile_pos<Cfg>(unit, w, c);
        for (int kt = 0; kt < t.ktiles; kt++, it++) {
            const uint32_t s = it % Cfg::STAGES, use = it / Cfg::STAGES;
            if (use > 0)
                bar_wait(empty0 + 8 * s, (use - 1) & 1);
            const uint32_t full = full0 + 8 * s;
            /* All of B arrives, whoever loads it; A unless the tile lies wholly below D (the
             * second block of a cluster on an odd last row tile: its rows are not stored). */
            const bool a_rows = t.m0 < m;
            bar_expect(full, (a_rows ? Cfg::A_BYTES : 0) + Cfg::B_BYTES);
            const uint32_t a = smem_u32(ring + s * Cfg::STAGE_BYTES), b = a + Cfg::A_BYTES;
            const int k0 = t.k0 + kt * Cfg::BK;
            if (a_rows && A_MN)
                for (int h = 0; h < Cfg::BM / 64; h++)
                    tma_load(a + 8192 * h, ta, t.m0 + 64 * h, k0, t.z, full);
            else if (a_rows)
                tma_load(a, ta, k0, t.m0, t.z, full);
            for (int h = first_part; h < first_part + share; h++)
                load_b_part<Cfg, B_MN>(b, tb, t, k0, h, full, c);
        }
    }
}

/* Stage `s` read by this consumer warp: one arrival on its empty mbarrier in every block of
 * the cluster (both blocks' data lands in it). */
__device__ __forceinline__ void release_stage(uint32_t empty, const Cluster &c)
{
    if (c.size == 1) {
        bar_arrive(empty);
        return;
    }
    for (uint32_t r = 0; r < c.size; r++)
        bar_arrive_cluster(empty, r);
}

/* One output through alpha, beta, bias and the activation, stored at D offset `at`. */
template <typename T>
__device__ __forceinline__ void store_one(const usine_cuda_gemm_args &p, int64_t at, int64_t row,
                                          int64_t col, float v)
{
    float *const d32 = static_cast<float *>(p.d);
    T *const d16 = static_cast<T *>(p.d);
    v *= p.alpha;
    if (p.beta != 0.0f)
        v += p.beta * (p.out_f32 ? d32[at] : usine_sm80::to_f32<T>(d16[at]));
    if (p.bias)
        v += p.bias[p.bias_per_row ? row : col];
    v = usine_sm80::activate(v, p.activation);
    if (p.out_f32)
        d32[at] = v;
    else
        d16[at] = usine_sm80::from_f32<T>(v);
}

__device__ __forceinline__ void st_shared2(uint32_t at, float x, float y)
{
    asm volatile("st.shared.v2.f32 [%0], {%1, %2};\n" ::"r"(at), "f"(x), "f"(y) : "memory");
}

__device__ __forceinline__ float4 ld_shared4(uint32_t at)
{
    float4 v;
    asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];\n"
                 : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
                 : "r"(at)
                 : "memory");
    return v;
}

__device__ __forceinline__ float ld_shared(uint32_t at)
{
    float v;
    asm volatile("ld.shared.f32 %0, [%1];\n" : "=f"(v) : "r"(at) : "memory");
    return v;
}

/* Two values rounded to T, the first in the low half (as stored in memory). */
template <typename T> __device__ __forceinline__ uint32_t pack2(float x, float y);
template <> __device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float x, float y)
{
    return __bfloat16_as_ushort(__float2bfloat16_rn(x)) |
           (uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(y)) << 16;
}
template <> __device__ __forceinline__ uint32_t pack2<__half>(float x, float y)
{
    return __half_as_ushort(__float2half_rn(x)) | (uint32_t)__half_as_ushort(__float2half_rn(y))
                                                      << 16;
}

/* Four consecutive outputs alpha x v, no beta, bias or activation, as one 16-byte (f32) or
 * 8-byte store (the caller checked alignment and bounds). */
template <typename T>
__device__ __forceinline__ void store_four(const usine_cuda_gemm_args &p, int64_t at, float4 v)
{
    v = make_float4(p.alpha * v.x, p.alpha * v.y, p.alpha * v.z, p.alpha * v.w);
    if (p.out_f32) {
        *reinterpret_cast<float4 *>(static_cast<float *>(p.d) + at) = v;
        return;
    }
    *reinterpret_cast<uint2 *>(static_cast<T *>(p.d) + at) =
        make_uint2(pack2<T>(v.x, v.y), pack2<T>(v.z, v.w));
}

/* A staged chunk (64 rows x EPI_COLS columns from row0, col0) to D: 8 threads a row, four
 * columns each. `fast`: the chunk lies inside D and needs only alpha (vector stores); else
 * element by element through the whole epilogue, in a loop kept rolled (the chunk loop
 * around it is unrolled, and this path must stay small). */
template <typename T, typename Cfg>
__device__ __forceinline__ void copy_out(const usine_cuda_gemm_args &p, uint32_t stage, int64_t z,
                                         int64_t row0, int64_t col0, bool fast)
{
    const int tid = threadIdx.x % 128;
    constexpr int per_row = Cfg::EPI_COLS / 4;
    if (fast) {
#pragma unroll
        for (int v = 0; v < 64 * per_row / 128; v++) {
            const int r = tid / per_row + 128 / per_row * v, c = 4 * (tid % per_row);
            const float4 x = ld_shared4(stage + 4 * (r * Cfg::EPI_PITCH + c));
            store_four<T>(p, z * p.d_batch + (row0 + r) * p.ldd + col0 + c, x);
        }
        return;
    }
#pragma unroll 1
    for (int e = tid; e < 64 * Cfg::EPI_COLS; e += 128) {
        const int r = e / Cfg::EPI_COLS, c = e % Cfg::EPI_COLS;
        const int64_t row = row0 + r, col = col0 + c;
        if (row < p.m && col < p.n)
            store_one<T>(p, z * p.d_batch + row * p.ldd + col, row, col,
                         ld_shared(stage + 4 * (r * Cfg::EPI_PITCH + c)));
    }
}

/* A consumer's 64 x BN accumulators to D, EPI_COLS columns at a time through its staging
 * rows in shared memory (coalesced rows of 16-byte stores instead of 8 rows of 8 bytes a
 * warp, and a small epilogue: the old one, every accumulator pair inlined through beta, bias
 * and the activation, kept the 128 x 256 kernel waiting for instruction fetch). The vector
 * stores need no beta, bias or activation, and D's rows and base aligned for them. */
template <typename T, typename Cfg>
__device__ __forceinline__ void store_tile(const usine_cuda_gemm_args &p,
                                           const float (&acc)[Cfg::ACC], const TilePos<Cfg> &t,
                                           int consumer, uint32_t stage)
{
    const int tid = threadIdx.x % 128, w = tid / 32, g = (tid % 32) / 4, q = tid % 4;
    const int64_t row0 = t.m0 + Cfg::row_of(consumer), col0 = t.n0 + Cfg::col_of(consumer);
    const int out_size = p.out_f32 ? 4 : 2;
    const bool plain = p.beta == 0.0f && !p.bias && p.activation == 0 && p.ldd % 4 == 0 &&
                       p.d_batch % 4 == 0 && reinterpret_cast<uintptr_t>(p.d) % (4 * out_size) == 0;
    const bool inside = row0 + 64 <= p.m && col0 + Cfg::CN <= p.n;
#pragma unroll
    for (int chunk = 0; chunk < Cfg::CN / Cfg::EPI_COLS; chunk++) {
        warpgroup_sync(1 + consumer); /* the last chunk's (or tile's) reads are done */
        /* Register i = 16 chunk + 4 j + 2 h (+1): row 16 w + g + 8 h, chunk column 8 j + 2 q. */
#pragma unroll
        for (int j = 0; j < Cfg::EPI_COLS / 8; j++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int i = 4 * (Cfg::EPI_COLS / 8) * chunk + 4 * j + 2 * h;
                st_shared2(stage + 4 * ((16 * w + g + 8 * h) * Cfg::EPI_PITCH + 8 * j + 2 * q),
                           acc[i], acc[i + 1]);
            }
        warpgroup_sync(1 + consumer);
        copy_out<T, Cfg>(p, stage, t.dz, row0, col0 + Cfg::EPI_COLS * chunk, plain && inside);
    }
}

/* A consumer warpgroup: every tile this block owns, its 64 rows. */
template <typename T, typename Cfg, bool A_MN, bool B_MN>
__device__ __forceinline__ void consume(const usine_cuda_gemm_args &p, uint8_t *ring,
                                        uint32_t full0, uint32_t empty0, uint32_t stage,
                                        const Work &w, int consumer, const Cluster &c)
{
    const bool release = threadIdx.x % 32 == 0; /* one arrival per warp */
    float acc[Cfg::ACC];
    uint32_t it = 0; /* k tiles consumed so far, as the producer counts them */
    for (int64_t unit = c.id(); unit < w.units; unit += c.count()) {
        const TilePos<Cfg> t = tile_pos<Cfg>(unit, w, c);
        for (int kt = 0; kt < t.ktiles; kt++, it++) {
            const uint32_t s = it % Cfg::STAGES;
            bar_wait(full0 + 8 * s, (it / Cfg::STAGES) & 1);
            const uint32_t a = smem_u32(ring + s * Cfg::STAGE_BYTES) + Cfg::a_offset(consumer);
            const uint32_t b =
                smem_u32(ring + s * Cfg::STAGE_BYTES) + Cfg::A_BYTES + Cfg::b_offset(consumer);
            fence_operands(acc);
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < Cfg::BK / 16; kk++)
                Wgmma<T, Cfg::CN, A_MN, B_MN>::run(acc, desc<A_MN>(a + k_step<A_MN>(kk)),
                                                   desc<B_MN>(b + k_step<B_MN>(kk)),
                                                   kt > 0 || kk > 0);
            wgmma_commit();
            fence_operands(acc);
            /* The previous k tile's products are done: its stage can be refilled. */
            wgmma_wait<1>();
            if (kt > 0 && release)
                release_stage(empty0 + 8 * ((it - 1) % Cfg::STAGES), c);
        }
        wgmma_wait<0>();
        fence_operands(acc);
        if (release)
            release_stage(empty0 + 8 * ((it - 1) % Cfg::STAGES), c);
        store_tile<T, Cfg>(p, acc, t, consumer, stage);
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
    const uint32_t staging = smem_u32(bars + 2 * Cfg::STAGES);
    Cluster c;
    c.size = cluster_size();
    c.rank = cluster_rank();
    Work w;
    w.k = p.k;
    w.chunk = p.k_chunk > 0 ? p.k_chunk : p.k;
    w.slices = (p.k + w.chunk - 1) / w.chunk;
    w.unit_rows = ((p.m + Cfg::BM - 1) / Cfg::BM + c.size - 1) / c.size;
    w.col_tiles = (p.n + Cfg::BN - 1) / Cfg::BN;
    w.units = w.unit_rows * w.col_tiles * p.batch * w.slices;

    if (threadIdx.x == 0) {
        for (int s = 0; s < Cfg::STAGES; s++) {
            bar_init(full0 + 8 * s, 1); /* the producer's expect_tx */
            /* one per consumer warp of the cluster */
            bar_init(empty0 + 8 * s, 4 * Cfg::CONSUMERS * c.size);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    /* The other block's mbarriers are ready before anything is multicast or arrives there. */
    cluster_sync();

    const int wg = threadIdx.x / 128;
    if (wg == 0) {
        /* 56: the producer's loop state (cluster share, tile walk, both maps) spills at 40;
         * 128 x 56 + 256 x 224 registers fit the SM's 65536. */
        asm volatile("setmaxnreg.dec.sync.aligned.u32 56;\n");
        if (threadIdx.x == 0)
            produce<Cfg, A_MN, B_MN>(ta, tb, ring, full0, empty0, p.m, w, c);
    } else {
        asm volatile("setmaxnreg.inc.sync.aligned.u32 224;\n");
        consume<T, Cfg, A_MN, B_MN>(p, ring, full0, empty0,
                                    staging + 4 * 64 * Cfg::EPI_PITCH * (wg - 1), w, wg - 1, c);
    }
    /* No block leaves while the other may still write into its stages or arrive on its
     * mbarriers. */
    cluster_sync();
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

/* The registry entry: arch 90, TMA loads (vector_loads 1), a_k / b_k as the sm_80 entries,
 * launched in clusters of CLUSTER blocks along m. */
#define USINE_SM90_GEMM_ENTRY(NAME, FUNCTION, TYPE, CFG, A_K, B_K, CLUSTER)                        \
    {                                                                                              \
        NAME, (const void *)FUNCTION, 90, TYPE, (A_K), (B_K), 1, CFG::BM, CFG::BN, CFG::BK,        \
            CFG::STAGES, CFG::THREADS, CFG::MIN_BLOCKS, CFG::SMEM_BYTES, CLUSTER                   \
    }

/* The eight kernels of one tile shape as registry entries launched in clusters of CLUSTER,
 * named usine_gemm_cuda_sm90a_<type>_<SUFFIX><CNAME>_<arrangement>. */
#define USINE_SM90_GEMM_ENTRIES(SUFFIX, CFG, CNAME, CLUSTER)                                       \
    USINE_SM90_GEMM_ENTRY("usine_gemm_cuda_sm90a_bf16_" #SUFFIX CNAME "_ak_bk",                    \
                          usine_gemm_cuda_sm90a_bf16_##SUFFIX##_ak_bk, USINE_CUDA_BF16, CFG, 1, 1, \
                          CLUSTER),                                                                \
        USINE_SM90_GEMM_ENTRY("usine_gemm_cuda_sm90a_bf16_" #SUFFIX CNAME "_ak_bn",                \
                              usine_gemm_cuda_sm90a_bf16_##SUFFIX##_ak_bn, USINE_CUDA_BF16, CFG,   \
                              1, 0, CLUSTER),                                                      \
        USINE_SM90_GEMM_ENTRY("usine_gemm_cuda_sm90a_bf16_" #SUFFIX CNAME "_am_bk",                \
                              usine_gemm_cuda_sm90a_bf16_##SUFFIX##_am_bk, USINE_CUDA_BF16, CFG,   \
                              0, 1, CLUSTER),                                                      \
        USINE_SM90_GEMM_ENTRY("usine_gemm_cuda_sm90a_bf16_" #SUFFIX CNAME "_am_bn",                \
                              usine_gemm_cuda_sm90a_bf16_##SUFFIX##_am_bn, USINE_CUDA_BF16, CFG,   \
                              0, 0, CLUSTER),                                                      \
        USINE_SM90_GEMM_ENTRY("usine_gemm_cuda_sm90a_f16_" #SUFFIX CNAME "_ak_bk",                 \
                              usine_gemm_cuda_sm90a_f16_##SUFFIX##_ak_bk, USINE_CUDA_F16, CFG, 1,  \
                              1, CLUSTER),                                                         \
        USINE_SM90_GEMM_ENTRY("usine_gemm_cuda_sm90a_f16_" #SUFFIX CNAME "_ak_bn",                 \
                              usine_gemm_cuda_sm90a_f16_##SUFFIX##_ak_bn, USINE_CUDA_F16, CFG, 1,  \
                              0, CLUSTER),                                                         \
        USINE_SM90_GEMM_ENTRY("usine_gemm_cuda_sm90a_f16_" #SUFFIX CNAME "_am_bk",                 \
                              usine_gemm_cuda_sm90a_f16_##SUFFIX##_am_bk, USINE_CUDA_F16, CFG, 0,  \
                              1, CLUSTER),                                                         \
        USINE_SM90_GEMM_ENTRY("usine_gemm_cuda_sm90a_f16_" #SUFFIX CNAME "_am_bn",                 \
                              usine_gemm_cuda_sm90a_f16_##SUFFIX##_am_bn, USINE_CUDA_F16, CFG, 0,  \
                              0, CLUSTER)

/* The eight kernels of one tile shape and their table, usine_cuda_sm90a_gemm_<SUFFIX>: each
 * kernel alone (blocks of one) and in clusters of two along m (name suffix _c2), which share
 * their B tiles through TMA multicast. */
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
    extern "C" const usine_cuda_gemm_kernel usine_cuda_sm90a_gemm_##SUFFIX[16] = {                 \
        USINE_SM90_GEMM_ENTRIES(SUFFIX, CFG, "", 1),                                               \
        USINE_SM90_GEMM_ENTRIES(SUFFIX, CFG, "_c2", 2)};

#endif
