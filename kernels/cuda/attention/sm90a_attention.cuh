/*
 * Attention forward for sm_90a (H100, H200, GH200): the FlashAttention-2 algorithm (as
 * sm80_attention.cuh) with its two matrix products on wgmma, the warpgroup-wide tensor-core
 * instruction of Hopper, and FlashAttention-3's structure (Shah et al. 2024): warp
 * specialisation, ping-pong between two warpgroups, and the intra-warpgroup pipeline.
 *
 * ---- Work split ----
 * Block (x, y, z) = 128 query rows of query head y of batch item (or sequence) batch0 + z, as
 * the sm_80 kernel (fwd_block). Three warpgroups. Warpgroup 0 is the producer: it copies Q
 * once and K, V tile by tile (BN keys) into rings of STAGES stages, and gives its registers to
 * the others (setmaxnreg). Warpgroups 1 and 2 are the consumers: consumer c owns the 64 rows
 * 64 c .. 64 c + 63 of the block end to end (m64 wgmma), with the online softmax of its rows
 * in its registers. The copies are cp.async, which zero-fills the rows beyond a sequence, so
 * the variable-length, causal, window and grouped-query cases are the sm_80 kernel's (the
 * same locate / key_range / visible).
 *
 * ---- Synchronisation (no block-wide barrier after the start) ----
 * Each stage has a "full" mbarrier, on which the 128 producer threads arrive, each once its
 * own copies of the stage landed and it fenced them for the async proxy (fence.proxy.async:
 * cp.async writes through the generic proxy, wgmma reads through the async one), and an
 * "empty" one (one arrival per consumer warp once the wgmma reading the stage retired). The
 * producer announces a group of copies when it has issued the next one (cp.async.wait_group
 * 1), so that the newest stays in flight while it waits.
 * Ping-pong (section 3.2 of the paper): the consumers take turns to issue their products
 * (named barriers 1 and 2, one a consumer), so that the tensor cores run one warpgroup's
 * S and P V while the other computes its softmax.
 *
 * ---- Shared memory (wgmma reads it; 128-byte swizzle, as TMA would write it) ----
 * A tile of R rows x D elements (Q: R = 128; K, V: R = BN) is D / 64 column boxes of R rows
 * x 128 bytes, box b at b R 128 bytes; 16-byte chunk c of row r lands at chunk c ^ (r % 8)
 * of the row. Every box starts 1024-byte aligned (a swizzle atom: 8 rows of 128 bytes).
 *   S = Q K^T (m64nBNk16, k = head_dim): A = consumer c's 64 Q rows, B = the BN K rows, both
 *     "K-major" (k contiguous): descriptor stride byte offset 1024 (8-row groups), k16 step
 *     kk at box kk / 4, 32 (kk % 4) bytes into the rows (the hardware applies the swizzle).
 *   O += P V (m64nDk16, k = keys): B(key, d) = V[key][d] is "MN-major" (n contiguous,
 *     transpose flag 1): k row p (a key) at 128 p bytes of each box, stride byte offset 1024
 *     (the next 8 keys), leading byte offset BN 128 (the next box, 64 columns further); the
 *     k16 step j starts 2048 j bytes in.
 *
 * ---- Registers (m64nNk16 accumulators, f32) ----
 * Thread (warp q of the warpgroup, lane l, g = l / 4, t = l % 4), register i of N / 2:
 * row 16 q + g + 8 ((i / 2) % 2), column 8 (i / 4) + 2 t + (i % 2). Rows g and g + 8 of the
 * warp: the row reductions are the sm_80 kernel's (two xor shuffles over the quad). The A
 * operand of O += P V from registers, k16 step j (keys 16 j ..): {s[8j], s[8j+1]},
 * {s[8j+2], s[8j+3]}, {s[8j+4], s[8j+5]}, {s[8j+6], s[8j+7]} rounded to the input type: the
 * accumulator layout of S is the register-A layout of wgmma for 16-bit inputs.
 *
 * ---- A consumer's key tile (the intra-warpgroup pipeline, section 3.3) ----
 * Wait for K of tile i and V of tile i - 1, and for the turn; issue S of tile i (D / 16
 * wgmma, one group), then P V of tile i - 1 (BN / 16 wgmma, a second group); give the turn;
 * wait for the first group only, release K's stage, and run the softmax of tile i (scale,
 * mask on edge tiles, running max and sum) while the tensor cores do P V; wait for the
 * second, release V's stage; O *= alpha; P of tile i from S. P V of the last tile follows
 * the loop.
 */
#ifndef USINE_KERNELS_CUDA_SM90A_ATTENTION_CUH
#define USINE_KERNELS_CUDA_SM90A_ATTENTION_CUH

#include "../gemm/sm90a_gemm.cuh" /* wgmma wrappers, fences */
#include "sm80_attention.cuh"     /* fwd_block, visible, pack2, exp2_approx */

namespace usine_sm90_attn
{

/* Head dimension, keys per tile, stages of the K and V rings; 128 query rows (two consumer
 * warpgroups of 64) and a producer warpgroup. */
template <int D_, int BN_, int STAGES_> struct FwdTile {
    static constexpr int D = D_, BN = BN_, BM = 128, CONSUMERS = 2, STAGES = STAGES_;
    static constexpr int THREADS = 128 * (1 + CONSUMERS), COPY_THREADS = 128, MIN_BLOCKS = 1;
    static constexpr int Q_BYTES = BM * D * 2, KV_BYTES = BN * D * 2;
    /* mbarriers: Q full; full and empty of every K stage, then of every V stage. */
    static constexpr int BARS = 1 + 4 * STAGES;
    /* Q, the K and V rings, 1 KiB of slack to align them to 1024 bytes, the mbarriers. */
    static constexpr int SMEM_BYTES = Q_BYTES + 2 * STAGES * KV_BYTES + 1024 + 8 * BARS;
    /* setmaxnreg: 128 x 24 + 256 x 240 <= 65536, the SM's registers. */
    static constexpr int PRODUCER_REGS = 24, CONSUMER_REGS = 240;
    static_assert(D == 64 || D == 128, "m64n64k16 or m64n128k16 for O");
    static_assert(BN == 128, "m64n128k16 for S");
    static_assert(STAGES >= 2, "a tile in flight while one is read");
    static_assert(SMEM_BYTES <= 232448, "227 KiB of shared memory a block on sm_90");
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

using usine_sm80::cp_async_16;
using usine_sm80::cp_async_commit;
using usine_sm80::cp_async_wait;
using usine_sm80_attn::exp2_approx;
using usine_sm80_attn::fwd_block;
using usine_sm80_attn::FwdBlock;
using usine_sm80_attn::head_rows;
using usine_sm80_attn::pack2;
using usine_sm80_attn::visible;
using usine_sm90::bar_arrive;
using usine_sm90::bar_init;
using usine_sm90::bar_wait;
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
 * proxy's reads (wgmma) that follow the barrier announcing them. */
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
    constexpr int CPR = Cfg::D / 8, PASS_ROWS = Cfg::COPY_THREADS / CPR;
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
    for (int r = 0; r < BN / 2; r++)
        sc[r] *= p.scale_log2;
    if (edge) /* one branch around the whole mask (uniform: the block's tile) */
#pragma unroll
        for (int r = 0; r < BN / 2; r++)
            if (!visible(qi[(r >> 1) & 1], k0 + 8 * (r / 4) + 2 * t + (r & 1), sk, off, p.causal,
                         (int)p.window))
                sc[r] = -INFINITY;
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

/*
 * The end of a warpgroup's rows: l over each row's four lanes, O / l and lse (a row that saw
 * no key: O = 0, lse = -inf); O stored from the registers (4-byte pairs: the output is written
 * once a block, not worth a shared-memory pass).
 */
template <typename T, int D>
__device__ __forceinline__ void store_output(const usine_cuda_attn_args &p, const FwdBlock &b,
                                             const float (&o)[D / 2], const RowState &rs,
                                             const int (&qi)[2], int t)
{
    constexpr float LN2 = 0.6931471805599453f;
    float inv[2], lse[2];
#pragma unroll
    for (int h2 = 0; h2 < 2; h2++) {
        float sum = rs.l[h2];
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        inv[h2] = sum > 0.0f ? 1.0f / sum : 0.0f;
        lse[h2] = sum > 0.0f ? rs.m[h2] * LN2 + logf(sum) : -INFINITY;
    }
    uint16_t *const og = head_rows<uint16_t>(p.o, p.o_strides, b.s.item, b.h, b.s.pq);
#pragma unroll
    for (int h2 = 0; h2 < 2; h2++)
        if (qi[h2] < b.s.sq) {
            uint16_t *const row = og + (int64_t)qi[h2] * p.o_strides[2];
#pragma unroll
            for (int c = 0; c < D / 8; c++)
                *reinterpret_cast<uint32_t *>(row + 8 * c + 2 * t) =
                    pack2<T>(o[4 * c + 2 * h2] * inv[h2], o[4 * c + 2 * h2 + 1] * inv[h2]);
        }
    if (p.lse && t == 0)
#pragma unroll
        for (int h2 = 0; h2 < 2; h2++)
            if (qi[h2] < b.s.sq)
                p.lse[b.s.lse_base + qi[h2]] = lse[h2];
}

/* A ring position: the stage of the current tile and how many times the ring wrapped before
 * it (the phase parity of the stage's barriers). */
struct RingPos {
    int stage, round;
};
template <int STAGES> __device__ __forceinline__ void advance(RingPos &r)
{
    if (++r.stage == STAGES) {
        r.stage = 0;
        r.round++;
    }
}

/* The group of copies before the newest one landed: fenced for the async proxy (wgmma reads
 * it) and announced on its full barrier. */
__device__ __forceinline__ void land_previous(uint32_t full)
{
    cp_async_wait<1>();
    fence_proxy_async();
    bar_arrive(full);
}

/* The consumers' turns (named barriers 1 + c over both consumer warpgroups, 256 threads). */
__device__ __forceinline__ void turn_wait(int c)
{
    asm volatile("bar.sync %0, 256;\n" ::"r"(1 + c) : "memory");
}
__device__ __forceinline__ void turn_give(int c)
{
    asm volatile("bar.arrive %0, 256;\n" ::"r"(1 + c) : "memory");
}

/* Shared memory of one block: Q, the rings, the mbarriers (addresses). */
template <typename Cfg> struct WsSmem {
    uint32_t q, k, v, bars;
    __device__ __forceinline__ uint32_t k_stage(int s) const
    {
        return k + (uint32_t)s * Cfg::KV_BYTES;
    }
    __device__ __forceinline__ uint32_t v_stage(int s) const
    {
        return v + (uint32_t)s * Cfg::KV_BYTES;
    }
    __device__ __forceinline__ uint32_t full_q() const
    {
        return bars;
    }
    __device__ __forceinline__ uint32_t full_k(int s) const
    {
        return bars + 8u * (1 + s);
    }
    __device__ __forceinline__ uint32_t empty_k(int s) const
    {
        return bars + 8u * (1 + Cfg::STAGES + s);
    }
    __device__ __forceinline__ uint32_t full_v(int s) const
    {
        return bars + 8u * (1 + 2 * Cfg::STAGES + s);
    }
    __device__ __forceinline__ uint32_t empty_v(int s) const
    {
        return bars + 8u * (1 + 3 * Cfg::STAGES + s);
    }
};

/* Warpgroup 0 (ntiles > 0): Q, then K and V of every tile, each stage once its last reader
 * released it. */
template <typename Cfg>
__device__ __forceinline__ void produce(const usine_cuda_attn_args &p, const FwdBlock &b,
                                        const WsSmem<Cfg> &sm)
{
    constexpr int BN = Cfg::BN;
    load_rows<Cfg, Cfg::BM>(sm.q, b.qg, p.q_strides[2], b.row0, b.s.sq);
    cp_async_commit();
    uint32_t pending = sm.full_q(); /* the full barrier of the newest group */
    RingPos r = {0, 0};
#pragma unroll 1
    for (int i = 0; i < b.ntiles; i++) {
        const int64_t k0 = (b.tile0 + i) * BN;
        if (r.round > 0)
            bar_wait(sm.empty_k(r.stage), (r.round - 1) & 1);
        load_rows<Cfg, BN>(sm.k_stage(r.stage), b.kg, p.k_strides[2], k0, b.s.sk);
        cp_async_commit();
        land_previous(pending);
        pending = sm.full_k(r.stage);
        if (r.round > 0)
            bar_wait(sm.empty_v(r.stage), (r.round - 1) & 1);
        load_rows<Cfg, BN>(sm.v_stage(r.stage), b.vg, p.v_strides[2], k0, b.s.sk);
        cp_async_commit();
        land_previous(pending);
        pending = sm.full_v(r.stage);
        advance<Cfg::STAGES>(r);
    }
    cp_async_wait<0>();
    fence_proxy_async();
    bar_arrive(pending);
}

/* Consumer warpgroup c (0 or 1): query rows 64 c .. 64 c + 63 of the block. */
template <typename T, typename Cfg>
__device__ __forceinline__ void consume(const usine_cuda_attn_args &p, const FwdBlock &b,
                                        const WsSmem<Cfg> &sm, int c)
{
    constexpr int D = Cfg::D, BM = Cfg::BM, BN = Cfg::BN;
    const int lane = threadIdx.x % 32, wq = (threadIdx.x / 32) % 4;
    const int g = lane >> 2, t = lane & 3;
    const int ntiles = b.ntiles;

    const uint32_t q_wg = sm.q + 64 * 128 * c; /* the warpgroup's 64 rows in each box */
    float sc[BN / 2], o[D / 2];
    uint32_t pf[BN / 16][4];
    /* S = Q K^T for the warpgroup's 64 rows x BN keys */
    auto issue_s = [&](uint32_t ks) {
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
            const uint32_t in_row = 32u * (kk % 4);
            usine_sm90::Wgmma<T, BN, 0, 0>::run(sc, desc(q_wg + (kk / 4) * BM * 128 + in_row, 0),
                                                desc(ks + (kk / 4) * BN * 128 + in_row, 0),
                                                kk > 0 ? 1u : 0u);
        }
        wgmma_commit();
    };
    /* O += P V, 16 keys a step, P from registers */
    auto issue_pv = [&](uint32_t vs) {
#pragma unroll
        for (int j = 0; j < BN / 16; j++)
            WgmmaRS<T, D>::run(o, pf[j], desc(vs + 2048u * j, BN * 128));
        wgmma_commit();
    };
    auto to_p = [&]() {
#pragma unroll
        for (int j = 0; j < BN / 16; j++)
#pragma unroll
            for (int e = 0; e < 4; e++)
                pf[j][e] = pack2<T>(sc[8 * j + 2 * e], sc[8 * j + 2 * e + 1]);
    };
    /* One arrival per warp: wgmma.wait_group is warpgroup-wide, so every lane is past it. */
    auto release = [&](uint32_t empty) {
        if (lane == 0)
            bar_arrive(empty);
    };
    /* whether tile k0 crosses a mask edge */
    auto edge_tile = [&](int64_t k0) {
        return k0 + BN > b.s.sk || (p.causal && k0 + BN - 1 > b.row0 + b.off) ||
               (p.window > 0 && k0 <= b.last + b.off - p.window);
    };

#pragma unroll
    for (int i = 0; i < D / 2; i++)
        o[i] = 0.0f;
    RowState rs = {{-INFINITY, -INFINITY}, {0.0f, 0.0f}};
    /* This thread's two query rows, in sequence positions (< 2^30: the host checks). */
    const int r_first = (int)b.row0 + 64 * c + 16 * wq + g;
    const int qi[2] = {r_first, r_first + 8};
    const int sk32 = (int)b.s.sk, off32 = (int)b.off;

    if (ntiles > 0) {
        /* Consumer 0 issues first; after that each gives the turn to the other once its
         * products are issued. Consumer 1's last turn is taken by consumer 0 at the end, so
         * that no arrival is left on a barrier when the block ends. No branch lies between
         * a wgmma's issue and its wait (ptxas would serialise them). */
        if (c == 1)
            turn_give(0);
        RingPos kr = {0, 0}, vr = {0, 0};
        bar_wait(sm.full_q(), 0);
        bar_wait(sm.full_k(0), 0);
        turn_wait(c);
        wgmma_fence();
        issue_s(sm.k_stage(0));
        turn_give(1 - c);
        wgmma_wait<0>();
        fence_operands(sc);
        release(sm.empty_k(0));
        advance<Cfg::STAGES>(kr);
        float alpha[2];
        softmax_tile<Cfg>(sc, rs, alpha, p, edge_tile(b.tile0 * BN), (int)(b.tile0 * BN), qi, t,
                          sk32, off32);
        to_p(); /* O is 0: no rescaling */
#pragma unroll 1
        for (int i = 1; i < ntiles; i++) {
            const int64_t k0 = (b.tile0 + i) * BN;
            bar_wait(sm.full_k(kr.stage), kr.round & 1);
            bar_wait(sm.full_v(vr.stage), vr.round & 1);
            turn_wait(c);
            wgmma_fence();
            issue_s(sm.k_stage(kr.stage));
            issue_pv(sm.v_stage(vr.stage));
            turn_give(1 - c);
            wgmma_wait<1>(); /* S of tile i; P V of tile i - 1 may run on */
            fence_operands(sc);
            release(sm.empty_k(kr.stage));
            advance<Cfg::STAGES>(kr);
            softmax_tile<Cfg>(sc, rs, alpha, p, edge_tile(k0), (int)k0, qi, t, sk32, off32);
            wgmma_wait<0>();
            fence_operands(o);
            keep_operands(pf);
            release(sm.empty_v(vr.stage));
            advance<Cfg::STAGES>(vr);
#pragma unroll
            for (int r = 0; r < D / 2; r++)
                o[r] *= alpha[(r >> 1) & 1];
            to_p();
        }
        bar_wait(sm.full_v(vr.stage), vr.round & 1);
        wgmma_fence();
        issue_pv(sm.v_stage(vr.stage));
        wgmma_wait<0>();
        fence_operands(o);
        keep_operands(pf);
        if (c == 0)
            turn_wait(0);
    }
    store_output<T, D>(p, b, o, rs, qi, t);
}

template <typename T, typename Cfg>
__device__ __forceinline__ void fwd_body(const usine_cuda_attn_args &p)
{
    extern __shared__ __align__(1024) uint8_t smem_raw[];
    WsSmem<Cfg> sm;
    sm.q = (smem_u32(smem_raw) + 1023u) & ~1023u;
    sm.k = sm.q + Cfg::Q_BYTES;
    sm.v = sm.k + Cfg::STAGES * Cfg::KV_BYTES;
    sm.bars = sm.v + Cfg::STAGES * Cfg::KV_BYTES;
    FwdBlock b;
    if (!fwd_block<Cfg::BM, Cfg::BN>(p, b))
        return; /* the whole block, before any barrier */
    if (threadIdx.x == 0) {
        bar_init(sm.full_q(), Cfg::COPY_THREADS);
        for (int s = 0; s < Cfg::STAGES; s++) {
            bar_init(sm.full_k(s), Cfg::COPY_THREADS);
            bar_init(sm.full_v(s), Cfg::COPY_THREADS);
            bar_init(sm.empty_k(s), 4 * Cfg::CONSUMERS); /* one per consumer warp */
            bar_init(sm.empty_v(s), 4 * Cfg::CONSUMERS);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    if (threadIdx.x < 128) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(Cfg::PRODUCER_REGS));
        if (b.ntiles > 0)
            produce<Cfg>(p, b, sm);
    } else {
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(Cfg::CONSUMER_REGS));
        consume<T, Cfg>(p, b, sm, threadIdx.x / 128 - 1);
    }
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

/* The bf16 and f16 forward kernels of head_dim D with BN-key tiles and S-stage K and V rings,
 * and their table, usine_cuda_sm90a_attn_fwd_d<D> (bf16 then f16), named
 * usine_attn_fwd_cuda_sm90a_<type>_d<D>_128x<BN>_ws<S>: the whole of a sm90a_attn_fwd_d*.cu. */
#define USINE_SM90_ATTN_FWD_FAMILY(D, BN, S)                                                       \
    typedef usine_sm90_attn::FwdTile<D, BN, S> usine_sm90_attn_fwd_tile_d##D;                      \
    USINE_SM90_ATTN_FWD_KERNEL(usine_attn_fwd_cuda_sm90a_bf16_d##D##_128x##BN##_ws##S,             \
                               __nv_bfloat16, usine_sm90_attn_fwd_tile_d##D)                       \
    USINE_SM90_ATTN_FWD_KERNEL(usine_attn_fwd_cuda_sm90a_f16_d##D##_128x##BN##_ws##S, __half,      \
                               usine_sm90_attn_fwd_tile_d##D)                                      \
    extern "C" const usine_cuda_attn_kernel usine_cuda_sm90a_attn_fwd_d##D[2] = {                  \
        USINE_SM90_ATTN_ENTRY(usine_attn_fwd_cuda_sm90a_bf16_d##D##_128x##BN##_ws##S,              \
                              USINE_CUDA_BF16, usine_sm90_attn_fwd_tile_d##D),                     \
        USINE_SM90_ATTN_ENTRY(usine_attn_fwd_cuda_sm90a_f16_d##D##_128x##BN##_ws##S,               \
                              USINE_CUDA_F16, usine_sm90_attn_fwd_tile_d##D)};

#endif
