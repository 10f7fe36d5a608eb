/*
 * Attention forward for sm_90a (H100, H200, GH200): the FlashAttention-2 algorithm (as
 * sm80_attention.cuh) with its two matrix products on wgmma, the warpgroup-wide tensor-core
 * instruction of Hopper (FlashAttention-3, Shah et al. 2024, section 3: S = Q K^T with both
 * operands in shared memory, O += P V with P taken from the registers that hold S).
 *
 * ---- Work split ----
 * Block (x, y, z) = query rows [128 x, 128 x + 128) of query head y of batch item (or
 * sequence) batch0 + z, as the sm_80 kernel. Two warpgroups; warpgroup w owns the 64 rows
 * 64 w .. 64 w + 63 of the block end to end (m64 wgmma), with the online softmax of its rows
 * in its registers. All 256 threads copy the K and V tiles of BN keys (cp.async; K in two
 * stages, V in three: tile i + 1 in flight while tile i is computed and P V of tile i - 1 may
 * still read its V) and the Q tile; one barrier per key tile.
 * cp.async zero-fills the rows beyond a sequence, so the variable-length, causal, window and
 * grouped-query cases are the sm_80 kernel's (the same locate / key_range / visible).
 *
 * ---- Shared memory (wgmma reads it; 128-byte swizzle, as TMA would write it) ----
 * A tile of R rows x D elements (Q: R = 128; K, V: R = BN) is D / 64 column boxes of R rows
 * x 128 bytes, box b at b R 128 bytes; 16-byte chunk c of row r lands at chunk c ^ (r % 8)
 * of the row. Every box starts 1024-byte aligned (a swizzle atom: 8 rows of 128 bytes).
 *   S = Q K^T (m64nBNk16, k = head_dim): A = warpgroup w's 64 Q rows, B = the BN K rows, both
 *     "K-major" (k contiguous): descriptor stride byte offset 1024 (8-row groups), k16 step
 *     kk at box kk / 4, 32 (kk % 4) bytes into the rows (the hardware applies the swizzle).
 *   O += P V (m64nDk16, k = keys): B(key, d) = V[key][d] is "MN-major" (n contiguous,
 *     transpose flag 1): k row p (a key) at 128 p bytes of each box, stride byte offset 1024
 *     (the next 8 keys), leading byte offset BN 128 (the next box, 64 columns further); the
 *     k16 step j starts 2048 j bytes in.
 * cp.async writes through the generic proxy and wgmma reads through the async proxy: every
 * thread fences (fence.proxy.async) between its copies landing and the barrier.
 *
 * ---- Registers (m64nNk16 accumulators, f32) ----
 * Thread (warp q of the warpgroup, lane l, g = l / 4, t = l % 4), register i of N / 2:
 * row 16 q + g + 8 ((i / 2) % 2), column 8 (i / 4) + 2 t + (i % 2). Rows g and g + 8 of the
 * warp: the row reductions are the sm_80 kernel's (two xor shuffles over the quad). The A
 * operand of O += P V from registers, k16 step j (keys 16 j ..): {s[8j], s[8j+1]},
 * {s[8j+2], s[8j+3]}, {s[8j+4], s[8j+5]}, {s[8j+6], s[8j+7]} rounded to the input type: the
 * accumulator layout of S is the register-A layout of wgmma for 16-bit inputs.
 *
 * ---- Order within a key tile (FlashAttention-3's intra-warpgroup pipeline) ----
 * wait for tile i's copies, fence, barrier; issue S of tile i (D / 16 wgmma, one group),
 * then P V of tile i - 1 (BN / 16 wgmma, a second group); request tile i + 1 (the copies'
 * issue, 32 cp.async a thread at d = 128, overlaps the products); wait for the
 * first group only and run the softmax of tile i (scale, mask on edge tiles, running max and
 * sum) while the tensor cores do P V; wait for the second; O *= alpha; P of tile i from S.
 * P V of the last tile follows the loop. The two warpgroups run in step (the barrier), so
 * one's softmax does not fill the other's products as FlashAttention-3's ping-pong would.
 */
#ifndef USINE_KERNELS_CUDA_SM90A_ATTENTION_CUH
#define USINE_KERNELS_CUDA_SM90A_ATTENTION_CUH

#include "../gemm/sm90a_gemm.cuh" /* wgmma wrappers, fences */
#include "sm80_attention.cuh"     /* locate, key_range, visible, pack2, exp2_approx */

namespace usine_sm90_attn
{

/* Head dimension and keys per tile; 128 query rows (two warpgroups of 64). */
template <int D_, int BN_> struct FwdTile {
    static constexpr int D = D_, BN = BN_, BM = 128, WARPGROUPS = 2;
    static constexpr int THREADS = 128 * WARPGROUPS, MIN_BLOCKS = 1;
    static constexpr int Q_BYTES = BM * D * 2, KV_BYTES = BN * D * 2;
    /* K of tile i + 1 is copied in while S of tile i runs; V of tile i + 1 while P V of tile
     * i - 1 may still read its stage (the software pipeline): two K stages, three V stages. */
    static constexpr int K_STAGES = 2, V_STAGES = 3;
    /* Q, the K and V stages, and 1 KiB of slack to align the tiles to 1024 bytes. */
    static constexpr int SMEM_BYTES = Q_BYTES + (K_STAGES + V_STAGES) * KV_BYTES + 1024;
    static_assert(D == 64 || D == 128, "m64n64k16 or m64n128k16 for O");
    static_assert(BN == 128, "m64n128k16 for S");
    static_assert((BM * D / 8) % THREADS == 0 && (BN * D / 8) % THREADS == 0,
                  "16-byte copies split evenly over the threads");
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

using usine_sm80::cp_async_16;
using usine_sm80::cp_async_commit;
using usine_sm80::cp_async_wait;
using usine_sm80_attn::exp2_approx;
using usine_sm80_attn::head_rows;
using usine_sm80_attn::key_range;
using usine_sm80_attn::locate;
using usine_sm80_attn::pack2;
using usine_sm80_attn::Seq;
using usine_sm80_attn::visible;
using usine_sm90::fence_operands;
using usine_sm90::smem_u32;
using usine_sm90::wgmma_commit;
using usine_sm90::wgmma_fence;
using usine_sm90::wgmma_wait;

/* O += P V for one k16 step: wgmma.mma_async.m64nNk16 with A (P, four .b32 of two 16-bit
 * elements) from registers and B from shared memory, MN-major (transpose flag 1). Operands:
 * the N / 2 accumulators, a0..a3, the B descriptor. */
template <typename T, int N> struct WgmmaRS;

#define USINE_WGMMA_RS(T, TS, N, DREGS, A0, DB, ...)                                               \
    template <> struct WgmmaRS<T, N> {                                                             \
        static __device__ __forceinline__ void run(float (&d)[N / 2], const uint32_t (&a)[4],      \
                                                   uint64_t b)                                     \
        {                                                                                          \
            asm volatile("wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TS "." TS " " DREGS     \
                         ", {" A0 "}, " DB ", 1, 1, 1, 1;\n"                                       \
                         : __VA_ARGS__                                                             \
                         : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));                    \
        }                                                                                          \
    };

#define USINE_WGMMA_D32                                                                            \
    "{"                                                                                            \
    "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, "             \
    "%18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"                         \
    "}"
#define USINE_WGMMA_F32(i)                                                                         \
    USINE_WGMMA_F8(i), USINE_WGMMA_F8(i + 8), USINE_WGMMA_F8(i + 16), USINE_WGMMA_F8(i + 24)

USINE_WGMMA_RS(__nv_bfloat16, "bf16", 64, USINE_WGMMA_D32, "%32, %33, %34, %35", "%36",
               USINE_WGMMA_F32(0))
USINE_WGMMA_RS(__half, "f16", 64, USINE_WGMMA_D32, "%32, %33, %34, %35", "%36", USINE_WGMMA_F32(0))
USINE_WGMMA_RS(__nv_bfloat16, "bf16", 128, USINE_WGMMA_D64, "%64, %65, %66, %67", "%68",
               USINE_WGMMA_F64(0))
USINE_WGMMA_RS(__half, "f16", 128, USINE_WGMMA_D64, "%64, %65, %66, %67", "%68", USINE_WGMMA_F64(0))

/* Descriptor of a 128-byte-swizzled operand at `addr` (see the header comment): `leading`
 * bytes to the next 64 columns of an MN-major operand (0 for a K-major one, whose field is
 * unused and set to 1). */
__device__ __forceinline__ uint64_t desc(uint32_t addr, uint32_t leading)
{
    return (uint64_t)((addr >> 4) & 0x3fff) | (uint64_t)(leading >> 4 ? leading >> 4 : 1) << 16 |
           (uint64_t)(1024 >> 4) << 32 | (uint64_t)1 << 62;
}

/* Orders this thread's generic-proxy writes to shared memory (cp.async) before the async
 * proxy's reads (wgmma) that follow a barrier. */
__device__ __forceinline__ void fence_proxy_async()
{
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

/*
 * Requests rows [r0, r0 + R) of one [position][D] slice (row stride `stride`, elements) into
 * the swizzled tile at shared address `dst` (R rows, D / 64 boxes); rows at or beyond `rows`
 * are zero-filled and never read from global memory. Thread x copies chunk x % (D / 8) of
 * rows x / (D / 8) + PASS_ROWS it: one column, one swizzle phase (PASS_ROWS is a multiple
 * of 8), so that only the row pointer moves from one copy to the next.
 */
template <typename Cfg, int R>
__device__ __forceinline__ void load_rows(uint32_t dst, const uint16_t *src, int64_t stride,
                                          int64_t r0, int64_t rows)
{
    constexpr int CPR = Cfg::D / 8, PASS_ROWS = Cfg::THREADS / CPR;
    static_assert(PASS_ROWS % 8 == 0 && R % PASS_ROWS == 0, "whole passes, one swizzle phase");
    const int ch = threadIdx.x % CPR, r_first = threadIdx.x / CPR;
    const uint32_t at =
        dst + (uint32_t)((ch / 8) * R * 128 + r_first * 128 + (((ch % 8) ^ (r_first % 8)) << 4));
    const uint16_t *g = src + (r0 + r_first) * stride + ch * 8;
    const int64_t left = rows - r0 - r_first; /* rows of this thread's column still inside */
#pragma unroll
    for (int it = 0; it < R / PASS_ROWS; it++) {
        const bool in = it * PASS_ROWS < left;
        cp_async_16(at + it * PASS_ROWS * 128, in ? g : src, in ? 16u : 0u);
        g += PASS_ROWS * stride;
    }
}

/* Keeps the compiler from reusing the P registers while a wgmma that reads them is in flight
 * (the inline PTX's inputs are dead to it once the instruction is issued). */
template <int J> __device__ __forceinline__ void keep_operands(uint32_t (&a)[J][4])
{
#pragma unroll
    for (int j = 0; j < J; j++)
        asm volatile("" : "+r"(a[j][0]), "+r"(a[j][1]), "+r"(a[j][2]), "+r"(a[j][3])::"memory");
}

/* The online softmax state of a thread's two rows (g and g + 8 of its warp). */
struct RowState {
    float m[2], l[2];
};

/*
 * One key tile's scores (S of k0 .. k0 + BN - 1 for this thread's rows, raw Q K^T): scaled into
 * base 2, masked where the tile crosses a mask edge, then turned into P in place; the row
 * state moves on and alpha[h2] is what O of row h2 must be multiplied by.
 */
template <typename Cfg>
__device__ __forceinline__ void softmax_tile(float (&sc)[Cfg::BN / 2], RowState &rs,
                                             float (&alpha)[2], const usine_cuda_attn_args &p,
                                             bool edge, int k0, const int (&qi)[2], int t, int sk,
                                             int off)
{
    constexpr int BN = Cfg::BN;
#pragma unroll
    for (int r = 0; r < BN / 2; r++) {
        float x = sc[r] * p.scale_log2;
        if (edge && !visible(qi[(r >> 1) & 1], k0 + 8 * (r / 4) + 2 * t + (r & 1), sk, off,
                             p.causal, (int)p.window))
            x = -INFINITY;
        sc[r] = x;
    }
    /* Rows g (h2 = 0: registers 4q, 4q + 1) and g + 8 (h2 = 1: 4q + 2, 4q + 3). */
#pragma unroll
    for (int h2 = 0; h2 < 2; h2++) {
        float mx = rs.m[h2];
#pragma unroll
        for (int q = 0; q < BN / 8; q++)
            mx = fmaxf(mx, fmaxf(sc[4 * q + 2 * h2], sc[4 * q + 2 * h2 + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float b = mx == -INFINITY ? 0.0f : mx;
        alpha[h2] = exp2_approx(rs.m[h2] - b); /* m = -inf: 0 */
        float sum = 0.0f;
#pragma unroll
        for (int q = 0; q < BN / 8; q++) {
            sc[4 * q + 2 * h2] = exp2_approx(sc[4 * q + 2 * h2] - b);
            sc[4 * q + 2 * h2 + 1] = exp2_approx(sc[4 * q + 2 * h2 + 1] - b);
            sum += sc[4 * q + 2 * h2] + sc[4 * q + 2 * h2 + 1];
        }
        rs.l[h2] = alpha[h2] * rs.l[h2] + sum;
        rs.m[h2] = mx;
    }
}

template <typename T, typename Cfg>
__device__ __forceinline__ void fwd_body(const usine_cuda_attn_args &p)
{
    constexpr int D = Cfg::D, BM = Cfg::BM, BN = Cfg::BN;
    constexpr int SN = BN / 2, ON = D / 2; /* accumulators a thread: S, O */
    constexpr float LN2 = 0.6931471805599453f;

    extern __shared__ __align__(1024) uint8_t smem_raw[];
    const uint32_t base = (smem_u32(smem_raw) + 1023u) & ~1023u;
    const uint32_t q_s = base;
    const uint32_t k_s = q_s + Cfg::Q_BYTES;                  /* K stage s at + s KV_BYTES */
    const uint32_t v_s = k_s + Cfg::K_STAGES * Cfg::KV_BYTES; /* likewise V */

    const int lane = threadIdx.x % 32, wg = threadIdx.x / 128, wq = (threadIdx.x / 32) % 4;
    const int g = lane >> 2, t = lane & 3;
    const int64_t z = p.batch0 + blockIdx.z, h = blockIdx.y, hk = h / (p.heads_q / p.heads_kv);
    const Seq s = locate(p, z, h);
    const int64_t row0 = (int64_t)blockIdx.x * BM;
    if (row0 >= s.sq)
        return; /* the whole block, before any barrier */
    const int64_t off = s.sk - s.sq;
    const int64_t last = (row0 + BM < s.sq ? row0 + BM : s.sq) - 1;

    const uint16_t *const qg = head_rows<const uint16_t>(p.q, p.q_strides, s.item, h, s.pq);
    const uint16_t *const kg = head_rows<const uint16_t>(p.k, p.k_strides, s.item, hk, s.pk);
    const uint16_t *const vg = head_rows<const uint16_t>(p.v, p.v_strides, s.item, hk, s.pk);

    int64_t kb, ke;
    key_range(p, s.sq, s.sk, row0, last, &kb, &ke);
    const int64_t tile0 = kb / BN;
    const int ntiles = ke > kb ? (int)((ke + BN - 1) / BN - tile0) : 0;

    auto k_stage = [&](int i) { return k_s + (uint32_t)(i % Cfg::K_STAGES) * Cfg::KV_BYTES; };
    auto v_stage = [&](int i) { return v_s + (uint32_t)(i % Cfg::V_STAGES) * Cfg::KV_BYTES; };
    auto request = [&](int i) {
        const int64_t k0 = (tile0 + i) * BN;
        load_rows<Cfg, BN>(k_stage(i), kg, p.k_strides[2], k0, s.sk);
        load_rows<Cfg, BN>(v_stage(i), vg, p.v_strides[2], k0, s.sk);
    };
    /* Tile i's copies landed for every thread, visible to the async proxy. */
    auto arrive = [&]() {
        cp_async_wait<0>();
        fence_proxy_async();
        __syncthreads();
    };
    /* Tile i + 1 requested once tile i's products are issued, so that the copies' issue
     * overlaps them (its stages' last readers, S of tile i - 1 and P V of tile i - 2, retired
     * before the barrier of tile i). */
    auto request_next = [&](int i) {
        if (i + 1 < ntiles)
            request(i + 1);
        cp_async_commit();
    };
    const uint32_t q_wg = q_s + 64 * 128 * wg; /* the warpgroup's 64 rows in each box */
    float sc[SN];
    auto issue_s = [&](int i) { /* S = Q K^T for the warpgroup's 64 rows x BN keys */
                                const uint32_t ks = k_stage(i);
#pragma unroll
                                for (int kk = 0; kk < D / 16; kk++) {
                                    const uint32_t in_row = 32u * (kk % 4);
                                    usine_sm90::Wgmma<T, BN, 0, 0>::run(
                                        sc, desc(q_wg + (kk / 4) * BM * 128 + in_row, 0),
                                        desc(ks + (kk / 4) * BN * 128 + in_row, 0),
                                        kk > 0 ? 1u : 0u);
                                }
                                wgmma_commit();
    };
    float o[ON];
    uint32_t pf[BN / 16][4];
    auto issue_pv = [&](int i) { /* O += P V, 16 keys a step, P from registers */
                                 const uint32_t vs = v_stage(i);
#pragma unroll
                                 for (int j = 0; j < BN / 16; j++)
                                     WgmmaRS<T, D>::run(o, pf[j], desc(vs + 2048u * j, BN * 128));
                                 wgmma_commit();
    };

    if (ntiles > 0) {
        load_rows<Cfg, BM>(q_s, qg, p.q_strides[2], row0, s.sq);
        request(0);
    }
    cp_async_commit();
#pragma unroll
    for (int i = 0; i < ON; i++)
        o[i] = 0.0f;
    RowState rs = {{-INFINITY, -INFINITY}, {0.0f, 0.0f}};
    /* This thread's two query rows (g and g + 8 of its warp's 16), in sequence positions
     * (< 2^30: the host checks). */
    const int r_first = (int)row0 + 64 * wg + 16 * wq + g;
    const int qi[2] = {r_first, r_first + 8};
    const int sk32 = (int)s.sk, off32 = (int)off;
    auto edge_tile = [&](int64_t k0) { /* whether tile k0 crosses a mask edge */
                                       return k0 + BN > s.sk ||
                                              (p.causal && k0 + BN - 1 > row0 + off) ||
                                              (p.window > 0 && k0 <= last + off - p.window);
    };
    auto to_p = [&]() {
#pragma unroll
        for (int j = 0; j < BN / 16; j++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                pf[j][e] = pack2<T>(sc[8 * j + 2 * e], sc[8 * j + 2 * e + 1]);
    };

    /* Software pipeline (FlashAttention-3, section 3.2): S of tile i is issued before P V of
     * tile i - 1, so that the softmax of tile i runs while the tensor cores do P V. */
    if (ntiles > 0) {
        arrive();
        wgmma_fence();
        issue_s(0);
        request_next(0);
        wgmma_wait<0>();
        fence_operands(sc);
        float alpha[2];
        softmax_tile<Cfg>(sc, rs, alpha, p, edge_tile(tile0 * BN), (int)(tile0 * BN), qi, t, sk32,
                          off32);
        to_p(); /* O is 0: no rescaling */
    }
#pragma unroll 1
    for (int i = 1; i < ntiles; i++) {
        arrive();
        const int64_t k0 = (tile0 + i) * BN;
        wgmma_fence();
        issue_s(i);
        issue_pv(i - 1);
        request_next(i);
        wgmma_wait<1>(); /* S of tile i; P V of tile i - 1 may run on */
        fence_operands(sc);
        float alpha[2];
        softmax_tile<Cfg>(sc, rs, alpha, p, edge_tile(k0), (int)k0, qi, t, sk32, off32);
        wgmma_wait<0>();
        fence_operands(o);
        keep_operands(pf);
#pragma unroll
        for (int r = 0; r < ON; r++)
            o[r] *= alpha[(r >> 1) & 1];
        to_p();
    }
    if (ntiles > 0) {
        wgmma_fence();
        issue_pv(ntiles - 1);
        wgmma_wait<0>();
        fence_operands(o);
        keep_operands(pf);
    }
    cp_async_wait<0>(); /* only empty groups can remain; retire them anyway */

    /* Finish: l over the row's four lanes, O / l, lse; O stored from the registers (4-byte
     * pairs: the output is written once a block, not worth a shared-memory pass). */
    float inv[2], lse[2];
#pragma unroll
    for (int h2 = 0; h2 < 2; h2++) {
        float sum = rs.l[h2];
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        inv[h2] = sum > 0.0f ? 1.0f / sum : 0.0f;
        lse[h2] = sum > 0.0f ? rs.m[h2] * LN2 + logf(sum) : -INFINITY;
    }
    uint16_t *const og = head_rows<uint16_t>(p.o, p.o_strides, s.item, h, s.pq);
#pragma unroll
    for (int h2 = 0; h2 < 2; h2++)
        if (qi[h2] < s.sq) {
            uint16_t *const row = og + (int64_t)qi[h2] * p.o_strides[2];
#pragma unroll
            for (int c = 0; c < D / 8; c++)
                *reinterpret_cast<uint32_t *>(row + 8 * c + 2 * t) =
                    pack2<T>(o[4 * c + 2 * h2] * inv[h2], o[4 * c + 2 * h2 + 1] * inv[h2]);
        }
    if (p.lse && t == 0)
#pragma unroll
        for (int h2 = 0; h2 < 2; h2++)
            if (qi[h2] < s.sq)
                p.lse[s.lse_base + qi[h2]] = lse[h2];
}

#endif

} // namespace usine_sm90_attn

/* One forward kernel (a C name, for ptxas reports, the PTX check and USINE_CUDA_KERNEL); the
 * body exists only in the sm_90a pass. */
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define USINE_SM90_ATTN_FWD_BODY(T, CFG) usine_sm90_attn::fwd_body<T, CFG>(args);
#else
#define USINE_SM90_ATTN_FWD_BODY(T, CFG) (void)args;
#endif

#define USINE_SM90_ATTN_FWD_KERNEL(NAME, T, CFG)                                                   \
    extern "C" __global__ void __launch_bounds__(CFG::THREADS, CFG::MIN_BLOCKS)                    \
        NAME(const usine_cuda_attn_args args)                                                      \
    {                                                                                              \
        USINE_SM90_ATTN_FWD_BODY(T, CFG)                                                           \
    }

#define USINE_SM90_ATTN_ENTRY(NAME, TYPE, CFG)                                                     \
    {                                                                                              \
#NAME, (const void *)NAME, 90, USINE_CUDA_ATTN_FWD, TYPE, CFG::D, CFG::BM, CFG::THREADS,   \
            CFG::MIN_BLOCKS, CFG::SMEM_BYTES                                                       \
    }

/* The bf16 and f16 forward kernels of head_dim D with BN-key tiles and their table,
 * usine_cuda_sm90a_attn_fwd_d<D> (bf16 then f16), named
 * usine_attn_fwd_cuda_sm90a_<type>_d<D>_128x<BN>: the whole of a sm90a_attn_fwd_d*.cu. */
#define USINE_SM90_ATTN_FWD_FAMILY(D, BN)                                                          \
    typedef usine_sm90_attn::FwdTile<D, BN> usine_sm90_attn_fwd_tile_d##D;                         \
    USINE_SM90_ATTN_FWD_KERNEL(usine_attn_fwd_cuda_sm90a_bf16_d##D##_128x##BN, __nv_bfloat16,      \
                               usine_sm90_attn_fwd_tile_d##D)                                      \
    USINE_SM90_ATTN_FWD_KERNEL(usine_attn_fwd_cuda_sm90a_f16_d##D##_128x##BN, __half,              \
                               usine_sm90_attn_fwd_tile_d##D)                                      \
    extern "C" const usine_cuda_attn_kernel usine_cuda_sm90a_attn_fwd_d##D[2] = {                  \
        USINE_SM90_ATTN_ENTRY(usine_attn_fwd_cuda_sm90a_bf16_d##D##_128x##BN, USINE_CUDA_BF16,     \
                              usine_sm90_attn_fwd_tile_d##D),                                      \
        USINE_SM90_ATTN_ENTRY(usine_attn_fwd_cuda_sm90a_f16_d##D##_128x##BN, USINE_CUDA_F16,       \
                              usine_sm90_attn_fwd_tile_d##D)};

#endif
