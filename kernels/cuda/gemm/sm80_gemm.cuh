/*
 * bf16 / f16 GEMM for sm_80 and newer: mma.sync.m16n8k16 with f32 accumulators, operands
 * read from shared memory with ldmatrix, tiles brought in by a STAGES-deep cp.async
 * pipeline. One template; each sm80_gemm_<tile>.cu instantiates it for one tile shape (the
 * autotuner's parameters) and every operand arrangement and input type.
 *
 * Checked on an NVIDIA H200 (2026-11-26, the sm_90a build): tests/cuda/test_cuda_gemm.c
 * against a long double reference, under compute-sanitizer memcheck and racecheck too; there
 * it runs at a third of cuBLAS (mma.sync, no wgmma). The sm_80 machine code has not run on
 * an A100 yet.
 *
 * Problem (usine_cuda_gemm_args): D = act(alpha A B + beta D + bias), D row-major m x n,
 * A(i, p) = a[i sm + p sk], B(p, j) = b[p sk + j sn]. The block computes a BM x BN tile of
 * D; its WARPS_M x WARPS_N warps each a WM x WN sub-tile, as MT x NT mma tiles of 16 x 8.
 *
 * ---- Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16", .bf16/.f16) ----
 * lane = threadIdx.x % 32, g = lane / 4 (groupID), t = lane % 4 (threadID_in_group).
 * Each .b32 register holds two 16-bit elements, the lower column (or k) in the low half.
 *   A (16 x 16, "row"): a0 = A[g][2t, 2t+1]      a1 = A[g+8][2t, 2t+1]
 *                       a2 = A[g][2t+8, 2t+9]    a3 = A[g+8][2t+8, 2t+9]
 *   B (16 x 8, "col"):  b0 = B[2t, 2t+1][g]      b1 = B[2t+8, 2t+9][g]
 *   C, D (16 x 8 f32):  c0, c1 = C[g][2t, 2t+1]  c2, c3 = C[g+8][2t, 2t+1]
 *
 * ---- ldmatrix.sync.aligned.m8n8.x4.shared.b16 ----
 * Lanes 8q .. 8q+7 give the addresses of rows 0..7 of matrix q (16 contiguous bytes each);
 * register q of lane l receives row l/4, elements 2(l%4), 2(l%4)+1 of matrix q. With .trans
 * it receives the transposed matrix's: stored rows 2(l%4), 2(l%4)+1 of column l/4.
 * Hence, per 16 x 16 block of A (rows i0.., k from p0):
 *   k-contiguous smem As[i][p]: matrix q = rows i0 + 8(q&1), columns p0 + 8(q>>1): no .trans
 *     gives a0..a3 directly (row = i, the 8 elements along k).
 *   m-contiguous smem As[p][i]: matrix q = rows p0 + 8(q>>1), columns i0 + 8(q&1), .trans:
 *     lane l gets As[p0 + 2t, +1][i0 + g] = A[g][2t, 2t+1] = a0 for q = 0, etc.
 * and per two 8-column blocks of B (columns j0.., j0+8..):
 *   k-contiguous smem Bs[j][p]: matrix q = rows j0 + 8(q>>1), columns p0 + 8(q&1), no
 *     .trans: lane l gets Bs[j0 + g][p0 + 2t, +1] = B[2t, 2t+1][g] = b0 of block 0 (q = 0),
 *     b1 of block 0 (q = 1), b0 and b1 of block 1 (q = 2, 3).
 *   n-contiguous smem Bs[p][j]: matrix q = rows p0 + 8(q&1), columns j0 + 8(q>>1), .trans.
 *
 * ---- Shared memory ----
 * Each stage holds A and B, each either [rows][BK + 8] (k-contiguous) or [BK][cols + 8].
 * The 8-element (16-byte) pad makes consecutive rows start 16 bytes further along the 128-
 * byte bank window (row stride 80 or 272 bytes: 5 or 17 16-byte units, odd), so the eight
 * 16-byte rows one ldmatrix phase reads, and the 16-byte cp.async writes, fall in eight
 * distinct bank groups: no bank conflicts, at 25% (k-contiguous, BK = 32) extra memory.
 *
 * ---- Pipeline ----
 * Tile kt lives in stage kt % STAGES. Before the loop, tiles 0 .. STAGES-2 are requested,
 * one cp.async group each (an empty group when the tile does not exist, so the count stays
 * uniform). Iteration kt: wait until at most STAGES-2 groups are pending (then tile kt has
 * landed for this thread), __syncthreads (every thread's copies are visible, and every warp
 * has finished reading the stage of tile kt-1), request tile kt + STAGES-1 into that freed
 * stage, then compute tile kt. One barrier per k tile.
 *
 * ---- Edges ----
 * Every 16-byte copy is predicated: cp.async's src-size operand copies only the bytes inside
 * the matrix and fills the rest of the 16 bytes with zeros, and a copy wholly outside gets
 * src-size 0 (its address clamped to the base, never dereferenced). So the k tail (k not a
 * multiple of BK, or of 8) is zeros in both operands and adds nothing, and rows or columns
 * beyond m, n only feed accumulators that are never stored. The vector path needs 16-byte
 * aligned rows (host check: base % 16 == 0, the other stride and the batch stride multiples
 * of 8); otherwise the element path (VEC = false) reads one element at a time with any
 * strides and alignment (slow, correct).
 */
#ifndef USINE_KERNELS_CUDA_SM80_GEMM_CUH
#define USINE_KERNELS_CUDA_SM80_GEMM_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "cuda_gemm_kernels.h"

namespace usine_sm80
{

/* Tile shape and pipeline depth: the autotuner's parameters for this kernel family. */
template <int BM_, int BN_, int BK_, int WARPS_M_, int WARPS_N_, int STAGES_, int MIN_BLOCKS_>
struct Tile {
    static constexpr int BM = BM_, BN = BN_, BK = BK_;
    static constexpr int WARPS_M = WARPS_M_, WARPS_N = WARPS_N_, STAGES = STAGES_;
    static constexpr int THREADS = 32 * WARPS_M * WARPS_N;
    static constexpr int MIN_BLOCKS = MIN_BLOCKS_;
    static constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N; /* warp tile */
    static constexpr int MT = WM / 16, NT = WN / 8;            /* mma tiles per warp */
    static constexpr int PAD = 8;                              /* elements, see above */
    /* Elements of one stage of A (either arrangement fits) and of B. */
    static constexpr int A_STAGE =
        (BM * (BK + PAD) > BK * (BM + PAD)) ? BM * (BK + PAD) : BK * (BM + PAD);
    static constexpr int B_STAGE =
        (BN * (BK + PAD) > BK * (BN + PAD)) ? BN * (BK + PAD) : BK * (BN + PAD);
    static constexpr int SMEM_BYTES = STAGES * (A_STAGE + B_STAGE) * 2;

    static_assert(BM % (16 * WARPS_M) == 0, "warp tile rows: whole m16 tiles");
    static_assert(BN % (16 * WARPS_N) == 0, "warp tile columns: pairs of n8 tiles (ldmatrix.x4)");
    static_assert(BK % 16 == 0, "k16 steps");
    static_assert((BM * BK / 8) % THREADS == 0 && (BN * BK / 8) % THREADS == 0,
                  "16-byte copies split evenly over the threads");
    static_assert(STAGES >= 2, "a pipeline needs two stages at least");
};

/* ------------------------------------------------------------------ PTX wrappers */

__device__ __forceinline__ uint32_t smem_addr(const void *p)
{
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

/* 16-byte global -> shared copy, bypassing L1 (.cg); bytes < 16 zero-fills the rest. */
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void *src, uint32_t bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes)
                 : "memory");
}

__device__ __forceinline__ void cp_async_commit()
{
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}

template <int N> __device__ __forceinline__ void cp_async_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

template <bool TRANS> __device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr)
{
    if (TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(addr));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(addr));
}

/* d += a b for one 16 x 8 x 16 tile. */
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1);

template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4],
                                                         uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const uint32_t (&a)[4],
                                                  uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, "
                 "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* ------------------------------------------------------------------ element types */

template <typename T> __device__ __forceinline__ float to_f32(T x);
template <> __device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 x)
{
    return __bfloat162float(x);
}
template <> __device__ __forceinline__ float to_f32<__half>(__half x)
{
    return __half2float(x);
}

/* Round to nearest even, NaN stays NaN, f16 overflow to infinity (usine.h's rule). */
template <typename T> __device__ __forceinline__ T from_f32(float x);
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x)
{
    return __float2bfloat16_rn(x);
}
template <> __device__ __forceinline__ __half from_f32<__half>(float x)
{
    return __float2half_rn(x);
}

/* usine_activation: 0 none, 1 ReLU, 2 GELU (tanh), 3 GELU (erf). */
__device__ __forceinline__ float activate(float v, int act)
{
    if (act == 1)
        return v > 0.0f ? v : (v != v ? v : 0.0f); /* NaN stays NaN */
    if (act == 2) {
        const float c = 0.7978845608028654f; /* sqrt(2 / pi) */
        return 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
    if (act == 3)
        return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
    return v;
}

/* ------------------------------------------------------------------ tile loads */

/*
 * Requests one BR x BK tile of an operand (rows r0.., k from k0) into a stage.
 * K_CONTIG: smem [BR][BK + PAD], 16-byte copies along k (the operand's k stride is 1,
 * row_stride is its other stride); else smem [BK][BR + PAD], copies along the rows (the
 * row stride is 1, k_stride the other). rows = m (A) or n (B).
 */
template <typename Cfg, int BR, bool K_CONTIG>
__device__ __forceinline__ void load_tile_vec(uint16_t *stage, const uint16_t *src, int64_t rows,
                                              int64_t k, int64_t r0, int64_t k0, int64_t row_stride,
                                              int64_t k_stride)
{
    constexpr int BK = Cfg::BK, PAD = Cfg::PAD;
    constexpr int CHUNKS = BR * BK / 8; /* a multiple of THREADS (static_assert in Tile) */
#pragma unroll
    for (int it = 0; it < CHUNKS / Cfg::THREADS; it++) {
        const int c = threadIdx.x + it * Cfg::THREADS;
        int sr, sc; /* smem row, column (elements) */
        int64_t gr, gk, avail;
        if (K_CONTIG) {
            sr = c / (BK / 8);
            sc = (c % (BK / 8)) * 8;
            gr = r0 + sr;
            gk = k0 + sc;
            avail = gr < rows ? k - gk : 0;
        } else {
            sr = c / (BR / 8);
            sc = (c % (BR / 8)) * 8;
            gk = k0 + sr;
            gr = r0 + sc;
            avail = gk < k ? rows - gr : 0;
        }
        const uint32_t bytes = avail <= 0 ? 0u : avail >= 8 ? 16u : (uint32_t)avail * 2u;
        const uint16_t *g = bytes ? src + gr * row_stride + gk * k_stride : src;
        const int ld = K_CONTIG ? BK + PAD : BR + PAD;
        cp_async_16(smem_addr(stage + sr * ld + sc), g, bytes);
    }
}

/* The element path: any strides and alignment, smem always [BR][BK + PAD]. Synchronous
 * loads (no cp.async): the pipeline's barriers still order them. */
template <typename Cfg, int BR>
__device__ __forceinline__ void load_tile_scalar(uint16_t *stage, const uint16_t *src, int64_t rows,
                                                 int64_t k, int64_t r0, int64_t k0,
                                                 int64_t row_stride, int64_t k_stride)
{
    constexpr int BK = Cfg::BK, PAD = Cfg::PAD;
    for (int e = threadIdx.x; e < BR * BK; e += Cfg::THREADS) {
        const int sr = e / BK, sc = e % BK;
        const int64_t gr = r0 + sr, gk = k0 + sc;
        stage[sr * (BK + PAD) + sc] =
            gr < rows && gk < k ? src[gr * row_stride + gk * k_stride] : (uint16_t)0;
    }
}

/* ------------------------------------------------------------------ the kernel body */

template <typename T, typename Cfg, bool VEC, bool A_K, bool B_K>
__device__ __forceinline__ void gemm_body(const usine_cuda_gemm_args &p)
{
    constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, STAGES = Cfg::STAGES;
    constexpr int PAD = Cfg::PAD, MT = Cfg::MT, NT = Cfg::NT;
    constexpr int A_LD = A_K ? BK + PAD : BM + PAD; /* smem row length, elements */
    constexpr int B_LD = B_K ? BK + PAD : BN + PAD;

    extern __shared__ __align__(128) uint16_t smem[];
    uint16_t *const a_smem = smem;
    uint16_t *const b_smem = smem + STAGES * Cfg::A_STAGE;

    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int wm0 = (warp / Cfg::WARPS_N) * Cfg::WM; /* warp tile origin in the block tile */
    const int wn0 = (warp % Cfg::WARPS_N) * Cfg::WN;
    const int64_t bm0 = (int64_t)blockIdx.y * BM, bn0 = (int64_t)blockIdx.x * BN;
    const int ktiles = (int)((p.k + BK - 1) / BK); /* host checks k < 2^31 - BK */

    /* One batch item per block (blockIdx.z; the host splits batches above 65535 into
     * several launches). A loop over items here made ptxas keep values across items and
     * spill (up to 100 bytes at the 128-register cap, ptxas 13.0). */
    {
        const int64_t z = blockIdx.z;
        const uint16_t *const a = static_cast<const uint16_t *>(p.a) + z * p.a_batch;
        const uint16_t *const b = static_cast<const uint16_t *>(p.b) + z * p.b_batch;

        float acc[MT][NT][4];
#pragma unroll
        for (int i = 0; i < MT; i++)
#pragma unroll
            for (int j = 0; j < NT; j++)
#pragma unroll
                for (int r = 0; r < 4; r++)
                    acc[i][j][r] = 0.0f;

        /* Requests tile kt into its stage (nothing when kt is past the end). */
        auto request = [&](int kt) {
            if (kt < ktiles) {
                const int s = kt % STAGES;
                uint16_t *as = a_smem + s * Cfg::A_STAGE, *bs = b_smem + s * Cfg::B_STAGE;
                const int64_t k0 = (int64_t)kt * BK;
                if (VEC) {
                    /* A rows are m (row stride a_stride_m, k stride a_stride_k); B rows n. */
                    load_tile_vec<Cfg, BM, A_K>(as, a, p.m, p.k, bm0, k0, p.a_stride_m,
                                                p.a_stride_k);
                    load_tile_vec<Cfg, BN, B_K>(bs, b, p.n, p.k, bn0, k0, p.b_stride_n,
                                                p.b_stride_k);
                } else {
                    load_tile_scalar<Cfg, BM>(as, a, p.m, p.k, bm0, k0, p.a_stride_m, p.a_stride_k);
                    load_tile_scalar<Cfg, BN>(bs, b, p.n, p.k, bn0, k0, p.b_stride_n, p.b_stride_k);
                }
            }
            cp_async_commit(); /* one group per tile, empty or not */
        };

#pragma unroll
        for (int s = 0; s < STAGES - 1; s++)
            request(s);

            /* Not unrolled: unrolling by STAGES (to make kt % STAGES constant) keeps every
             * stage's fragment addresses live at once and spills (seen with ptxas 13.0). */
#pragma unroll 1
        for (int kt = 0; kt < ktiles; kt++) {
            cp_async_wait<STAGES - 2>();
            __syncthreads();
            request(kt + STAGES - 1);

            const int s = kt % STAGES;
            const uint16_t *as = a_smem + s * Cfg::A_STAGE, *bs = b_smem + s * Cfg::B_STAGE;
#pragma unroll
            for (int kk = 0; kk < BK; kk += 16) {
                const int q = lane >> 3, r8 = lane & 7; /* this lane's matrix and row */
                /* B's fragments for the whole warp tile first (2 NT registers), then A's one
                 * m16 tile at a time (4 registers live, not 4 MT): the accumulators take most
                 * of the register budget. */
                uint32_t bf[NT][2];
#pragma unroll
                for (int j = 0; j < NT; j += 2) {
                    const int nj = wn0 + j * 8;
                    const int row = B_K ? nj + 8 * (q >> 1) + r8 : kk + 8 * (q & 1) + r8;
                    const int col = B_K ? kk + 8 * (q & 1) : nj + 8 * (q >> 1);
                    uint32_t r[4];
                    ldmatrix_x4<!B_K>(r, smem_addr(bs + row * B_LD + col));
                    bf[j][0] = r[0];
                    bf[j][1] = r[1];
                    bf[j + 1][0] = r[2];
                    bf[j + 1][1] = r[3];
                }
#pragma unroll
                for (int i = 0; i < MT; i++) {
                    const int mi = wm0 + i * 16;
                    const int row = A_K ? mi + 8 * (q & 1) + r8 : kk + 8 * (q >> 1) + r8;
                    const int col = A_K ? kk + 8 * (q >> 1) : mi + 8 * (q & 1);
                    uint32_t af[4];
                    ldmatrix_x4<!A_K>(af, smem_addr(as + row * A_LD + col));
#pragma unroll
                    for (int j = 0; j < NT; j++)
                        mma_16816<T>(acc[i][j], af, bf[j][0], bf[j][1]);
                }
            }
        }
        /* Only empty groups can be pending here (every real tile was waited for); retire
         * them anyway so that no copy outlives the block's use of shared memory. */
        cp_async_wait<0>();

        /* Epilogue: straight from the accumulators (lane holds D[g (+8)][2t, 2t+1] of each
         * tile). Direct stores; a staged, vectorised store through smem is future work. */
        const int g = lane >> 2, t = lane & 3;
        float *const d32 = static_cast<float *>(p.d) + z * p.d_batch;
        T *const d16 = static_cast<T *>(p.d) + z * p.d_batch;
#pragma unroll
        for (int i = 0; i < MT; i++)
#pragma unroll
            for (int j = 0; j < NT; j++)
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    const int64_t row = bm0 + wm0 + i * 16 + g + 8 * (r >> 1);
                    const int64_t col = bn0 + wn0 + j * 8 + 2 * t + (r & 1);
                    if (row >= p.m || col >= p.n)
                        continue;
                    const int64_t at = row * p.ldd + col;
                    float v = p.alpha * acc[i][j][r];
                    if (p.beta != 0.0f)
                        v += p.beta * (p.out_f32 ? d32[at] : to_f32<T>(d16[at]));
                    if (p.bias)
                        v += p.bias[p.bias_per_row ? row : col];
                    v = activate(v, p.activation);
                    if (p.out_f32)
                        d32[at] = v;
                    else
                        d16[at] = from_f32<T>(v);
                }
    }
}

} // namespace usine_sm80

/*
 * Defines one kernel (a C name: ptxas reports and the PTX check read it, USINE_CUDA_KERNEL
 * forces it) and its registry entry initialiser. The kernel exists only in the sm_80+
 * passes: mma.sync needs sm_80 and nvcc compiles for nothing older here.
 */
#define USINE_SM80_GEMM_KERNEL(NAME, T, CFG, VEC, A_K, B_K)                                        \
    extern "C" __global__ void __launch_bounds__(CFG::THREADS, CFG::MIN_BLOCKS)                    \
        NAME(const usine_cuda_gemm_args args)                                                      \
    {                                                                                              \
        usine_sm80::gemm_body<T, CFG, VEC, A_K, B_K>(args);                                        \
    }

#define USINE_SM80_GEMM_ENTRY(NAME, TYPE, CFG, VEC, A_K, B_K)                                      \
    {                                                                                              \
#NAME, (const void *)NAME, 80, TYPE, (VEC) ? (A_K) : -1, (VEC) ? (B_K) : -1, (VEC),        \
            CFG::BM, CFG::BN, CFG::BK, CFG::STAGES, CFG::THREADS, CFG::MIN_BLOCKS,                 \
            CFG::SMEM_BYTES, 0                                                                     \
    }

/* The eight kernels of one tile shape (bf16 and f16, A k- or m-contiguous, B k- or
 * n-contiguous) and their table, named usine_cuda_sm80_gemm_<SUFFIX>. */
#define USINE_SM80_GEMM_FAMILY(SUFFIX, CFG)                                                        \
    USINE_SM80_GEMM_KERNEL(usine_gemm_cuda_sm80_bf16_##SUFFIX##_ak_bk, __nv_bfloat16, CFG, true,   \
                           true, true)                                                             \
    USINE_SM80_GEMM_KERNEL(usine_gemm_cuda_sm80_bf16_##SUFFIX##_ak_bn, __nv_bfloat16, CFG, true,   \
                           true, false)                                                            \
    USINE_SM80_GEMM_KERNEL(usine_gemm_cuda_sm80_bf16_##SUFFIX##_am_bk, __nv_bfloat16, CFG, true,   \
                           false, true)                                                            \
    USINE_SM80_GEMM_KERNEL(usine_gemm_cuda_sm80_bf16_##SUFFIX##_am_bn, __nv_bfloat16, CFG, true,   \
                           false, false)                                                           \
    USINE_SM80_GEMM_KERNEL(usine_gemm_cuda_sm80_f16_##SUFFIX##_ak_bk, __half, CFG, true, true,     \
                           true)                                                                   \
    USINE_SM80_GEMM_KERNEL(usine_gemm_cuda_sm80_f16_##SUFFIX##_ak_bn, __half, CFG, true, true,     \
                           false)                                                                  \
    USINE_SM80_GEMM_KERNEL(usine_gemm_cuda_sm80_f16_##SUFFIX##_am_bk, __half, CFG, true, false,    \
                           true)                                                                   \
    USINE_SM80_GEMM_KERNEL(usine_gemm_cuda_sm80_f16_##SUFFIX##_am_bn, __half, CFG, true, false,    \
                           false)                                                                  \
    extern "C" const usine_cuda_gemm_kernel usine_cuda_sm80_gemm_##SUFFIX[8] = {                   \
        USINE_SM80_GEMM_ENTRY(usine_gemm_cuda_sm80_bf16_##SUFFIX##_ak_bk, USINE_CUDA_BF16, CFG, 1, \
                              1, 1),                                                               \
        USINE_SM80_GEMM_ENTRY(usine_gemm_cuda_sm80_bf16_##SUFFIX##_ak_bn, USINE_CUDA_BF16, CFG, 1, \
                              1, 0),                                                               \
        USINE_SM80_GEMM_ENTRY(usine_gemm_cuda_sm80_bf16_##SUFFIX##_am_bk, USINE_CUDA_BF16, CFG, 1, \
                              0, 1),                                                               \
        USINE_SM80_GEMM_ENTRY(usine_gemm_cuda_sm80_bf16_##SUFFIX##_am_bn, USINE_CUDA_BF16, CFG, 1, \
                              0, 0),                                                               \
        USINE_SM80_GEMM_ENTRY(usine_gemm_cuda_sm80_f16_##SUFFIX##_ak_bk, USINE_CUDA_F16, CFG, 1,   \
                              1, 1),                                                               \
        USINE_SM80_GEMM_ENTRY(usine_gemm_cuda_sm80_f16_##SUFFIX##_ak_bn, USINE_CUDA_F16, CFG, 1,   \
                              1, 0),                                                               \
        USINE_SM80_GEMM_ENTRY(usine_gemm_cuda_sm80_f16_##SUFFIX##_am_bk, USINE_CUDA_F16, CFG, 1,   \
                              0, 1),                                                               \
        USINE_SM80_GEMM_ENTRY(usine_gemm_cuda_sm80_f16_##SUFFIX##_am_bn, USINE_CUDA_F16, CFG, 1,   \
                              0, 0)};

#endif
