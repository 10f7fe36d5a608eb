/*
 * Attention forward for sm_80 and newer (FlashAttention-2, Dao 2023, "FlashAttention-2:
 * Faster Attention with Better Parallelism and Work Partitioning", algorithm 1): bf16 / f16
 * Q, K, V, f32 accumulation with mma.sync.m16n8k16, operands from shared memory through
 * ldmatrix, K/V tiles double-buffered with cp.async, the online softmax in registers.
 *
 * Checked on an NVIDIA H200 (2026-11-26, the sm_90a build): tests/cuda/test_cuda_attention.c
 * against a double reference, under compute-sanitizer memcheck and racecheck too; the forward
 * again on an H100 (2026-11-27, forced) after its set-up became fwd_block. The sm_80 machine
 * code has not run on an A100 yet.
 *
 * ---- Work split ----
 * Block (x, y, z) = query rows [BM x', BM x' + BM) of query head y of batch item (or
 * sequence) batch0 + z, x' = x (causal: gridDim.x - 1 - x, the heaviest blocks first; see
 * fwd_block). WARPS warps, warp w owns the 16 query rows BM x' + 16 w .. + 15 end to end (no
 * exchange between warps: the FA2 split, softmax statistics stay in one warp). The block walks
 * the key tiles of BN keys its rows can see (causal and window bound the range), K and V of
 * tile i + 1 copied in (cp.async) while tile i is computed.
 *
 * ---- Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16"; see also
 * kernels/cuda/gemm/sm80_gemm.cuh, whose PTX wrappers this file uses) ----
 * lane = threadIdx.x % 32, g = lane / 4, t = lane % 4.
 *   A (16 x 16): a0 = A[g][2t, 2t+1]  a1 = A[g+8][2t, 2t+1]  a2 = A[g][2t+8, +9]  a3 = A[g+8][2t+8,
 * +9] B (16 x 8):  b0 = B[2t, 2t+1][g]  b1 = B[2t+8, 2t+9][g] C (16 x 8):  c0, c1 = C[g][2t, 2t+1]
 * c2, c3 = C[g+8][2t, 2t+1] S = Q K^T: A = the warp's 16 Q rows, k = head_dim: smem Q[row][d] (d
 * contiguous), ldmatrix x4 without .trans, matrix q = rows 8(q&1), columns 8(q>>1): registers
 * a0..a3. Loaded once into registers (D/16 fragments) and kept for the whole key loop. B(d, key) =
 * K[key][d]: smem K[key][d] is "k-contiguous", ldmatrix x4 without .trans, matrix q = keys n0 +
 * 8(q>>1), dims d0 + 8(q&1): b0, b1 of key tile n0, b0, b1 of n0 + 8. O += P V: A = P (16 query
 * rows x 16 keys) straight from S's accumulators: the C fragments of key tiles 2j and 2j+1 are the
 * A fragment of k-step j (a0 = c0,c1 of tile 2j; a1 = its c2,c3; a2, a3 = the same of tile 2j+1),
 * rounded to the input type (as FA2 does). B(key, d) = V[key][d]: smem V[key][d] is "n-contiguous":
 * ldmatrix x4 .trans, matrix q = keys k0 + 8(q&1), dims d0 + 8(q>>1): lane l receives V[k0 + 2t,
 * +1][d0 + g] = b0 (q = 0), b1 (q = 1), and b0, b1 of dims d0 + 8 (q = 2, 3).
 *
 * ---- Online softmax (FA2, in base 2) ----
 * Each lane holds, for rows g and g + 8 of its warp, columns 2t, 2t + 1 of every key tile:
 * row reductions are a local max / sum then two xor-shuffles (lanes 4g .. 4g + 3). Scores are
 * multiplied by scale log2(e) first, then masked to -inf, so exp2 gives e^(scale s) ratios.
 *   m' = max(m, rowmax(x)),  p = 2^(x - m'),  alpha = 2^(m - m'),  l = alpha l + rowsum(p),
 *   O = alpha O + P V.
 * A row that has seen only masked keys keeps m = -inf: the subtracted base is then 0 (never
 * -inf - -inf = NaN), so p = 0 and alpha = 0. l is summed per lane and reduced across the
 * four lanes of a row only at the end (rescaling is linear). At the end O /= l and
 * lse = m ln 2 + ln l; a row with l = 0 (it sees no key) gets O = 0 and lse = -inf.
 *
 * ---- Shared memory ----
 * Q [BM][D + 8], then two stages of K [BN][D + 8] and two of V [BN][D + 8], 16-bit elements.
 * The 8-element pad makes a row (144 or 272 bytes: 9 or 17 16-byte units, odd) start one
 * 16-byte unit further along the 128-byte bank window than the previous one, so the eight
 * rows an ldmatrix phase reads, and cp.async's 16-byte writes, hit distinct banks. Rows
 * beyond the sequence are zero-filled (cp.async src-size 0), so masked keys multiply zeros,
 * never stale shared memory (0 x NaN would be NaN). The O tile goes back out through the
 * warp's own rows of the Q buffer (16-byte stores along head_dim).
 *
 * ---- Pipeline ----
 * Q and the first K/V tile: one cp.async group, waited for before the loop. Iteration i:
 * (i > 0) wait for all groups (only tile i is pending) and __syncthreads (tile i visible to
 * every warp, and every warp done with tile i - 1, whose stage tile i + 1 overwrites); request
 * tile i + 1; compute tile i. One barrier per key tile.
 */
#ifndef USINE_KERNELS_CUDA_SM80_ATTENTION_CUH
#define USINE_KERNELS_CUDA_SM80_ATTENTION_CUH

#include "../gemm/sm80_gemm.cuh"
#include "cuda_attention_kernels.h"

namespace usine_sm80_attn
{

using usine_sm80::cp_async_16;
using usine_sm80::cp_async_commit;
using usine_sm80::cp_async_wait;
using usine_sm80::ldmatrix_x4;
using usine_sm80::mma_16816;
using usine_sm80::smem_addr;

/* Head dimension, query rows per block, keys per tile, warps (16 query rows each), blocks
 * per SM intended (__launch_bounds__). */
template <int D_, int BN_, int WARPS_, int MIN_BLOCKS_> struct FwdTile {
    static constexpr int D = D_, BN = BN_, WARPS = WARPS_, MIN_BLOCKS = MIN_BLOCKS_;
    static constexpr int BM = 16 * WARPS, THREADS = 32 * WARPS;
    static constexpr int LD = D + 8; /* smem row, elements */
    static constexpr int Q_ELEMS = BM * LD, KV_ELEMS = BN * LD;
    static constexpr int SMEM_BYTES = (Q_ELEMS + 4 * KV_ELEMS) * 2;
    static_assert(D % 16 == 0 && BN % 16 == 0, "k16 steps, pairs of n8 tiles");
    static_assert((BM * D / 8) % THREADS == 0 && (BN * D / 8) % THREADS == 0,
                  "16-byte copies split evenly over the threads");
};

/* ex2.approx: 2^x, -inf -> +0, max relative error 2^-22 (PTX ISA). */
__device__ __forceinline__ float exp2_approx(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

/* Two floats as one .b32 of two 16-bit elements, x in the low half (the lower column). */
template <typename T> __device__ __forceinline__ uint32_t pack2(float x, float y);
template <> __device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float x, float y)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(x, y);
    return *reinterpret_cast<uint32_t *>(&v);
}
template <> __device__ __forceinline__ uint32_t pack2<__half>(float x, float y)
{
    __half2 v = __floats2half2_rn(x, y);
    return *reinterpret_cast<uint32_t *>(&v);
}

/*
 * Requests rows [r0, r0 + R) of one [position][D] slice (row stride `stride`, elements) into
 * smem [R][LD]; rows at or beyond `rows` are zero-filled and never read from global memory.
 */
template <typename Cfg, int R>
__device__ __forceinline__ void load_rows(uint16_t *dst, const uint16_t *src, int64_t stride,
                                          int64_t r0, int64_t rows)
{
    constexpr int CPR = Cfg::D / 8; /* 16-byte chunks per row */
#pragma unroll
    for (int it = 0; it < R * CPR / Cfg::THREADS; it++) {
        const int c = threadIdx.x + it * Cfg::THREADS;
        const int r = c / CPR, col = (c % CPR) * 8;
        const bool in = r0 + r < rows;
        const uint16_t *g = in ? src + (r0 + r) * stride + col : src;
        cp_async_16(smem_addr(dst + r * Cfg::LD + col), g, in ? 16u : 0u);
    }
}

/* Where one (item, head) pair's rows live: lengths and position offsets. */
struct Seq {
    int64_t sq, sk;   /* lengths */
    int64_t item;     /* batch index (0 with cu_seqlens) */
    int64_t pq, pk;   /* first position along the position axis */
    int64_t lse_base; /* index of row 0 in lse (and delta) */
};

/* Sequence z of the problem for query head h (varlen: offsets from cu_q, cu_k, clamped so
 * that untrusted device offsets never reach past seq_q or seq_k positions per sequence). */
__device__ __forceinline__ Seq locate(const usine_cuda_attn_args &p, int64_t z, int64_t h)
{
    Seq s;
    if (p.cu_q) {
        const int64_t q0 = p.cu_q[z], q1 = p.cu_q[z + 1], k0 = p.cu_k[z], k1 = p.cu_k[z + 1];
        s.sq = q1 - q0 < 0 ? 0 : q1 - q0 > p.seq_q ? p.seq_q : q1 - q0;
        s.sk = k1 - k0 < 0 ? 0 : k1 - k0 > p.seq_k ? p.seq_k : k1 - k0;
        s.item = 0;
        s.pq = q0;
        s.pk = k0;
        s.lse_base = h * (int64_t)p.cu_q[p.batch] + q0;
    } else {
        s.sq = p.seq_q;
        s.sk = p.seq_k;
        s.item = z;
        s.pq = s.pk = 0;
        s.lse_base = (z * p.heads_q + h) * p.seq_q;
    }
    return s;
}

/* Row 0 of (batch item, head) of a [B, H, S, d] tensor of 16-bit elements t with element
 * strides st, the sequence starting at position pos of the item. T: const uint16_t for
 * inputs, uint16_t for outputs. */
template <typename T>
__device__ __forceinline__ T *head_rows(const void *t, const int64_t st[3], int64_t item,
                                        int64_t head, int64_t pos)
{
    return static_cast<T *>(const_cast<void *>(t)) + item * st[0] + head * st[1] + pos * st[2];
}

/* Visible key range [*k_begin, *k_end) of query rows [r0, r1] (bottom-right aligned causal
 * mask and window of usine.h, off = sk - sq); empty when *k_end <= *k_begin. */
__device__ __forceinline__ void key_range(const usine_cuda_attn_args &p, int64_t sq, int64_t sk,
                                          int64_t r0, int64_t r1, int64_t *k_begin, int64_t *k_end)
{
    const int64_t off = sk - sq;
    int64_t e = sk, b = 0;
    if (p.causal && r1 + off + 1 < e)
        e = r1 + off + 1;
    if (p.window > 0 && r0 + off - p.window + 1 > b)
        b = r0 + off - p.window + 1;
    *k_begin = b;
    *k_end = e;
}

/* Whether query row i sees key j (i, j within the sequence). */
__device__ __forceinline__ bool visible(int i, int j, int sk, int off, int causal, int window)
{
    return j < sk && !(causal && j > i + off) && !(window > 0 && j <= i + off - window);
}

/* What forward block (x, y, z) works on, in every forward kernel: query rows [row0, last] of
 * query head h, the key tiles tile0 .. tile0 + ntiles - 1 of BN keys its rows can see, and the
 * head's rows of Q, K, V. */
struct FwdBlock {
    Seq s;
    int64_t h, row0, last, off; /* off = sk - sq */
    int64_t tile0;
    int ntiles;
    const uint16_t *qg, *kg, *vg;
};

/* Fills `b` for this block of BM query rows; false when the block lies beyond its sequence
 * (varlen: a shorter one), which the caller leaves at once, before any barrier. */
template <int BM, int BN>
__device__ __forceinline__ bool fwd_block(const usine_cuda_attn_args &p, FwdBlock &b)
{
    const int64_t z = p.batch0 + blockIdx.z, hk = blockIdx.y / (p.heads_q / p.heads_kv);
    b.h = blockIdx.y;
    b.s = locate(p, z, b.h);
    /* Causal: the last query rows see the most keys; their blocks go first (the lowest
     * blockIdx.x), so that the cheap ones fill the last wave (FlashAttention-3 does so). */
    const int64_t xb = p.causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
    b.row0 = xb * BM;
    if (b.row0 >= b.s.sq)
        return false;
    b.off = b.s.sk - b.s.sq;
    b.last = (b.row0 + BM < b.s.sq ? b.row0 + BM : b.s.sq) - 1;
    b.qg = head_rows<const uint16_t>(p.q, p.q_strides, b.s.item, b.h, b.s.pq);
    b.kg = head_rows<const uint16_t>(p.k, p.k_strides, b.s.item, hk, b.s.pk);
    b.vg = head_rows<const uint16_t>(p.v, p.v_strides, b.s.item, hk, b.s.pk);
    int64_t kb, ke;
    key_range(p, b.s.sq, b.s.sk, b.row0, b.last, &kb, &ke);
    b.tile0 = kb / BN;
    b.ntiles = ke > kb ? (int)((ke + BN - 1) / BN - b.tile0) : 0;
    return true;
}

template <typename T, typename Cfg>
__device__ __forceinline__ void fwd_body(const usine_cuda_attn_args &p)
{
    constexpr int D = Cfg::D, BM = Cfg::BM, BN = Cfg::BN, LD = Cfg::LD;
    constexpr int KT = D / 16; /* k16 steps of S = Q K^T */
    constexpr int ST = BN / 8; /* n8 key tiles of S */
    constexpr int OT = D / 8;  /* n8 head_dim tiles of O */
    constexpr float LN2 = 0.6931471805599453f;

    extern __shared__ __align__(128) uint16_t smem[];
    uint16_t *const q_s = smem;
    uint16_t *const k_s = smem + Cfg::Q_ELEMS; /* stage s at + s KV_ELEMS */
    uint16_t *const v_s = k_s + 2 * Cfg::KV_ELEMS;

    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int g = lane >> 2, t = lane & 3, quad = lane >> 3, r8 = lane & 7;
    FwdBlock b;
    if (!fwd_block<BM, BN>(p, b))
        return;
    const Seq &s = b.s;
    const int64_t h = b.h, row0 = b.row0, last = b.last, off = b.off, tile0 = b.tile0;
    const int ntiles = b.ntiles;
    const uint16_t *const qg = b.qg, *const kg = b.kg, *const vg = b.vg;

    auto request = [&](int i) {
        const int st = i & 1;
        const int64_t k0 = (tile0 + i) * BN;
        load_rows<Cfg, BN>(k_s + st * Cfg::KV_ELEMS, kg, p.k_strides[2], k0, s.sk);
        load_rows<Cfg, BN>(v_s + st * Cfg::KV_ELEMS, vg, p.v_strides[2], k0, s.sk);
    };

    load_rows<Cfg, BM>(q_s, qg, p.q_strides[2], row0, s.sq);
    if (ntiles > 0)
        request(0);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();

    /* The warp's Q fragments, kept in registers for the whole loop. */
    const int wrow = warp * 16; /* warp's first row within the block */
    uint32_t qf[KT][4];
#pragma unroll
    for (int kk = 0; kk < KT; kk++)
        ldmatrix_x4<false>(
            qf[kk], smem_addr(q_s + (wrow + 8 * (quad & 1) + r8) * LD + kk * 16 + 8 * (quad >> 1)));

    float o[OT][4];
#pragma unroll
    for (int j = 0; j < OT; j++)
#pragma unroll
        for (int r = 0; r < 4; r++)
            o[j][r] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    /* This lane's two query rows (g and g + 8 of the warp's 16), in sequence positions.
     * Positions fit in int (the host checks seq_q, seq_k < 2^30); 32-bit mask arithmetic
     * keeps the loop within the register budget. */
    const int qi[2] = {(int)row0 + wrow + g, (int)row0 + wrow + g + 8};
    const int sk32 = (int)s.sk, off32 = (int)off, causal = p.causal;
    const int window = (int)p.window; /* the host caps window at 2^30 too */

#pragma unroll 1
    for (int i = 0; i < ntiles; i++) {
        if (i > 0) {
            cp_async_wait<0>();
            __syncthreads();
        }
        if (i + 1 < ntiles)
            request(i + 1);
        cp_async_commit();

        const uint16_t *const ks = k_s + (i & 1) * Cfg::KV_ELEMS;
        const uint16_t *const vs = v_s + (i & 1) * Cfg::KV_ELEMS;
        const int64_t k0 = (tile0 + i) * BN;

        /* S = Q K^T for the warp's 16 rows x BN keys. */
        float sc[ST][4];
#pragma unroll
        for (int j = 0; j < ST; j++)
#pragma unroll
            for (int r = 0; r < 4; r++)
                sc[j][r] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < KT; kk++)
#pragma unroll
            for (int j = 0; j < ST; j += 2) {
                uint32_t b[4];
                ldmatrix_x4<false>(b, smem_addr(ks + (j * 8 + 8 * (quad >> 1) + r8) * LD + kk * 16 +
                                                8 * (quad & 1)));
                mma_16816<T>(sc[j], qf[kk], b[0], b[1]);
                mma_16816<T>(sc[j + 1], qf[kk], b[2], b[3]);
            }

        /* Scale into base 2, then mask (only tiles that cross a mask edge). */
        const bool edge = k0 + BN > s.sk || (causal && k0 + BN - 1 > row0 + off) ||
                          (window > 0 && k0 <= last + off - window);
#pragma unroll
        for (int j = 0; j < ST; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) {
                float x = sc[j][r] * p.scale_log2;
                if (edge && !visible(qi[r >> 1], (int)k0 + j * 8 + 2 * t + (r & 1), sk32, off32,
                                     causal, window))
                    x = -INFINITY;
                sc[j][r] = x;
            }

            /* Online softmax, rows g (h2 = 0: registers 0, 1) and g + 8 (h2 = 1: 2, 3). */
#pragma unroll
        for (int h2 = 0; h2 < 2; h2++) {
            float mx = m[h2];
#pragma unroll
            for (int j = 0; j < ST; j++)
                mx = fmaxf(mx, fmaxf(sc[j][2 * h2], sc[j][2 * h2 + 1]));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            const float base = mx == -INFINITY ? 0.0f : mx;
            const float alpha = exp2_approx(m[h2] - base); /* m = -inf: 0 */
            float sum = 0.0f;
#pragma unroll
            for (int j = 0; j < ST; j++) {
                sc[j][2 * h2] = exp2_approx(sc[j][2 * h2] - base);
                sc[j][2 * h2 + 1] = exp2_approx(sc[j][2 * h2 + 1] - base);
                sum += sc[j][2 * h2] + sc[j][2 * h2 + 1];
            }
            l[h2] = alpha * l[h2] + sum;
            m[h2] = mx;
#pragma unroll
            for (int j = 0; j < OT; j++) {
                o[j][2 * h2] *= alpha;
                o[j][2 * h2 + 1] *= alpha;
            }
        }

        /* O += P V, 16 keys per k-step. */
#pragma unroll
        for (int kk = 0; kk < BN / 16; kk++) {
            uint32_t a[4];
            a[0] = pack2<T>(sc[2 * kk][0], sc[2 * kk][1]);
            a[1] = pack2<T>(sc[2 * kk][2], sc[2 * kk][3]);
            a[2] = pack2<T>(sc[2 * kk + 1][0], sc[2 * kk + 1][1]);
            a[3] = pack2<T>(sc[2 * kk + 1][2], sc[2 * kk + 1][3]);
#pragma unroll
            for (int j = 0; j < OT; j += 2) {
                uint32_t b[4];
                ldmatrix_x4<true>(b, smem_addr(vs + (kk * 16 + 8 * (quad & 1) + r8) * LD + j * 8 +
                                               8 * (quad >> 1)));
                mma_16816<T>(o[j], a, b[0], b[1]);
                mma_16816<T>(o[j + 1], a, b[2], b[3]);
            }
        }
    }
    cp_async_wait<0>(); /* only empty groups can remain; retire them anyway */

    /* Finish: l over the row's four lanes, O / l, lse; O through smem (the warp's own Q rows,
     * read only by this warp, before the loop) to 16-byte stores. */
    float inv[2], lse[2];
#pragma unroll
    for (int h2 = 0; h2 < 2; h2++) {
        float sum = l[h2];
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        inv[h2] = sum > 0.0f ? 1.0f / sum : 0.0f;
        lse[h2] = sum > 0.0f ? m[h2] * LN2 + logf(sum) : -INFINITY;
    }
    uint16_t *const os = q_s + wrow * LD;
    /* Every lane's ldmatrix of these Q rows is done before any lane overwrites them: with no
     * key tile (or one) no __syncthreads lies between, and compute-sanitizer's racecheck
     * reports the read-then-write of lanes of one warp as a hazard without this. */
    __syncwarp();
#pragma unroll
    for (int j = 0; j < OT; j++)
#pragma unroll
        for (int h2 = 0; h2 < 2; h2++) {
            const uint32_t v = pack2<T>(o[j][2 * h2] * inv[h2], o[j][2 * h2 + 1] * inv[h2]);
            *reinterpret_cast<uint32_t *>(os + (g + 8 * h2) * LD + j * 8 + 2 * t) = v;
        }
    __syncwarp();
    uint16_t *const og = head_rows<uint16_t>(p.o, p.o_strides, s.item, h, s.pq);
    constexpr int CPR = D / 8;
#pragma unroll
    for (int it = 0; it < 16 * CPR / 32; it++) {
        const int c = lane + it * 32;
        const int r = c / CPR, col = (c % CPR) * 8;
        const int64_t row = row0 + wrow + r;
        if (row < s.sq)
            *reinterpret_cast<uint4 *>(og + row * p.o_strides[2] + col) =
                *reinterpret_cast<const uint4 *>(os + r * LD + col);
    }
    if (p.lse && t == 0)
#pragma unroll
        for (int h2 = 0; h2 < 2; h2++)
            if (qi[h2] < s.sq)
                p.lse[s.lse_base + qi[h2]] = lse[h2];
}

} // namespace usine_sm80_attn

/* One forward kernel (a C name, for ptxas reports, the PTX check and USINE_CUDA_KERNEL) and
 * its registry entry. */
#define USINE_SM80_ATTN_FWD_KERNEL(NAME, T, CFG)                                                   \
    extern "C" __global__ void __launch_bounds__(CFG::THREADS, CFG::MIN_BLOCKS)                    \
        NAME(const usine_cuda_attn_args args)                                                      \
    {                                                                                              \
        usine_sm80_attn::fwd_body<T, CFG>(args);                                                   \
    }

#define USINE_SM80_ATTN_ENTRY(NAME, PASS, TYPE, CFG, ROWS)                                         \
    {                                                                                              \
#NAME, (const void *)NAME, 80, PASS, TYPE, CFG::D, ROWS, CFG::THREADS, CFG::MIN_BLOCKS,    \
            CFG::SMEM_BYTES                                                                        \
    }

#endif
