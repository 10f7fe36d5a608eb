/*
 * Attention backward for sm_80 and newer (FlashAttention-2, Dao 2023, algorithm 2), with dQ
 * computed in a pass of its own instead of atomics, so that results are deterministic (as
 * usine's CPU backward is) and no f32 dQ buffer is needed:
 *
 *   prep  (one thread group per query row)     delta_i = sum_c dO_ic O_ic          -> f32
 *   dK/dV (block = 64 keys of one KV head)     for every query head of the group and
 *                                              every query tile that sees the keys:
 *          S^T = K Q^T,  P^T = 2^(S^T scale log2 e - lse log2 e),  dP^T = V dO^T,
 *          dS^T = P^T o (dP^T - delta),  dV += P^T dO,  dK += dS^T Q;  dK *= scale
 *   dQ    (block = 64 query rows of one head)  for every key tile the rows see:
 *          S = Q K^T,  P = 2^(...),  dP = dO V^T,  dS = P o (dP - delta),  dQ += dS K;
 *          dQ *= scale
 *
 * The dK/dV pass recomputes four products per tile, the dQ pass three: 7 instead of FA2's 5
 * (the price of no atomics). Grouped-query heads are summed inside the dK/dV block (it loops
 * over the query heads of its key/value head), again without atomics.
 *
 * Checked on an NVIDIA H200 (2026-11-26, the sm_90a build): tests/cuda/test_cuda_attention.c
 * against a double reference, under compute-sanitizer memcheck and racecheck too. The sm_80
 * machine code has not run on an A100 yet.
 *
 * ---- Fragments (see sm80_attention.cuh for the layouts and the ldmatrix mappings) ----
 * Each warp owns 16 rows (keys in the dK/dV pass, queries in the dQ pass) for the whole
 * block. Products whose both operands are "row x head_dim" tiles in shared memory (S^T = K Q^T,
 * dP^T = V dO^T, S = Q K^T, dP = dO V^T) take A with ldmatrix (no .trans, rows 8(q&1), columns
 * 8(q>>1)) and B(d, n) = X[n][d] with ldmatrix (no .trans, rows 8(q>>1), columns 8(q&1)).
 * Products whose A is a C fragment (P^T, dS^T, dS) reuse the C -> A identity of the forward
 * (tiles 2j, 2j+1 -> k-step j), and take B(k, d) = X[k][d] with ldmatrix .trans (rows 8(q&1),
 * columns 8(q>>1)). Masks: every element checked (the visible test of the forward), so
 * queries beyond seq_q, keys beyond seq_k and masked pairs give P = 0 and dS = 0; zero-filled
 * rows make the other operand 0 too. A query that saw no key (lse = -inf) uses +inf in place
 * of lse (its P are all masked: 2^(-inf - inf) = 0, never NaN).
 *
 * ---- Shared memory, pipeline ----
 * dK/dV: K and V [64][D + 8] once; two stages of Q and dO [32][D + 8] and of lse, delta [32]
 * (f32, 4-byte cp.async). dQ: Q and dO [64][D + 8] once (their fragments then live in
 * registers), two stages of K and V [32][D + 8]. Same one-barrier loop as the forward. The
 * outputs go out through the warp's own rows of K / V (dK/dV) or Q (dQ), 16-byte stores.
 */
#ifndef USINE_KERNELS_CUDA_SM80_ATTENTION_BWD_CUH
#define USINE_KERNELS_CUDA_SM80_ATTENTION_BWD_CUH

#include "sm80_attention.cuh"

namespace usine_sm80_attn
{

/* Head dim, rows of the block's own tile (16 per warp), rows of the streamed tiles, warps,
 * blocks per SM intended. */
template <int D_, int BS_, int WARPS_, int MIN_BLOCKS_> struct BwdTile {
    static constexpr int D = D_, BS = BS_, WARPS = WARPS_, MIN_BLOCKS = MIN_BLOCKS_;
    static constexpr int BR = 16 * WARPS, THREADS = 32 * WARPS;
    static constexpr int LD = D + 8;
    static constexpr int OWN_ELEMS = BR * LD, STREAM_ELEMS = BS * LD;
    /* two own tiles, two stages of two streamed tiles, two stages of two f32 vectors */
    static constexpr int SMEM_BYTES = (2 * OWN_ELEMS + 4 * STREAM_ELEMS) * 2 + 4 * BS * 4;
    static_assert(D % 16 == 0 && BS % 16 == 0, "k16 steps, pairs of n8 tiles");
    static_assert((BR * D / 8) % THREADS == 0 && (BS * D / 8) % THREADS == 0,
                  "16-byte copies split evenly over the threads");
};

/* The delta pass: D / 8 threads per row (16-byte loads), rows per block = THREADS / (D / 8). */
template <int D_> struct PrepTile {
    static constexpr int D = D_, THREADS = 256, MIN_BLOCKS = 4, CPR = D / 8;
    static constexpr int ROWS = THREADS / CPR;
    static constexpr int SMEM_BYTES = 0;
};

/* 4-byte global -> shared copy (.ca: the only variant for 4 bytes); bytes 0 zero-fills. */
__device__ __forceinline__ void cp_async_4(uint32_t dst, const void *src, uint32_t bytes)
{
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(bytes)
                 : "memory");
}

template <typename T> __device__ __forceinline__ float2 unpack2(uint32_t v);
template <> __device__ __forceinline__ float2 unpack2<__nv_bfloat16>(uint32_t v)
{
    __nv_bfloat162 h = *reinterpret_cast<__nv_bfloat162 *>(&v);
    return __bfloat1622float2(h);
}
template <> __device__ __forceinline__ float2 unpack2<__half>(uint32_t v)
{
    __half2 h = *reinterpret_cast<__half2 *>(&v);
    return __half22float2(h);
}

/* acc[NT][4] += A (16 x 16 KS, rows `a` of an [.][LD] smem tile) times B, B(k, n) = b[n][k]
 * (NT n8 tiles of rows of an [.][LD] tile): both with ldmatrix, no .trans. */
template <typename T, int NT, int KS, int LD>
__device__ __forceinline__ void mma_nt_smem(float (&acc)[NT][4], const uint16_t *a,
                                            const uint16_t *b, int lane)
{
    const int quad = lane >> 3, r8 = lane & 7;
#pragma unroll
    for (int kk = 0; kk < KS; kk++) {
        uint32_t af[4];
        ldmatrix_x4<false>(af,
                           smem_addr(a + (8 * (quad & 1) + r8) * LD + kk * 16 + 8 * (quad >> 1)));
#pragma unroll
        for (int j = 0; j < NT; j += 2) {
            uint32_t bf[4];
            ldmatrix_x4<false>(
                bf, smem_addr(b + (j * 8 + 8 * (quad >> 1) + r8) * LD + kk * 16 + 8 * (quad & 1)));
            mma_16816<T>(acc[j], af, bf[0], bf[1]);
            mma_16816<T>(acc[j + 1], af, bf[2], bf[3]);
        }
    }
}

/* The same with A's fragments already in registers. */
template <typename T, int NT, int KS, int LD>
__device__ __forceinline__ void mma_nt_reg(float (&acc)[NT][4], const uint32_t (&af)[KS][4],
                                           const uint16_t *b, int lane)
{
    const int quad = lane >> 3, r8 = lane & 7;
#pragma unroll
    for (int kk = 0; kk < KS; kk++)
#pragma unroll
        for (int j = 0; j < NT; j += 2) {
            uint32_t bf[4];
            ldmatrix_x4<false>(
                bf, smem_addr(b + (j * 8 + 8 * (quad >> 1) + r8) * LD + kk * 16 + 8 * (quad & 1)));
            mma_16816<T>(acc[j], af[kk], bf[0], bf[1]);
            mma_16816<T>(acc[j + 1], af[kk], bf[2], bf[3]);
        }
}

/* acc[NT][4] += A B with A = the C fragments c[2 KS][4] (16 x 16 KS, rounded to T) and
 * B(k, n) = b[k][n] (16 KS rows of an [.][LD] tile, NT n8 tiles): ldmatrix .trans. */
template <typename T, int NT, int KS, int LD>
__device__ __forceinline__ void mma_cn_smem(float (&acc)[NT][4], const float (&c)[2 * KS][4],
                                            const uint16_t *b, int lane)
{
    const int quad = lane >> 3, r8 = lane & 7;
#pragma unroll
    for (int kk = 0; kk < KS; kk++) {
        uint32_t a[4];
        a[0] = pack2<T>(c[2 * kk][0], c[2 * kk][1]);
        a[1] = pack2<T>(c[2 * kk][2], c[2 * kk][3]);
        a[2] = pack2<T>(c[2 * kk + 1][0], c[2 * kk + 1][1]);
        a[3] = pack2<T>(c[2 * kk + 1][2], c[2 * kk + 1][3]);
#pragma unroll
        for (int j = 0; j < NT; j += 2) {
            uint32_t bf[4];
            ldmatrix_x4<true>(
                bf, smem_addr(b + (kk * 16 + 8 * (quad & 1) + r8) * LD + j * 8 + 8 * (quad >> 1)));
            mma_16816<T>(acc[j], a, bf[0], bf[1]);
            mma_16816<T>(acc[j + 1], a, bf[2], bf[3]);
        }
    }
}

/* Writes a warp's 16 x D f32 accumulator tile times `mul`, rounded to T, to rows r0.. of a
 * global [position][D] slice (rows >= rows_valid skipped), through `stage` (16 rows of an
 * [.][LD] smem tile only this warp uses). */
template <typename T, int D, int LD>
__device__ __forceinline__ void store_rows(const float (&acc)[D / 8][4], float mul, uint16_t *stage,
                                           uint16_t *dst, int64_t stride, int64_t r0,
                                           int64_t rows_valid, int lane)
{
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int j = 0; j < D / 8; j++)
#pragma unroll
        for (int h2 = 0; h2 < 2; h2++)
            *reinterpret_cast<uint32_t *>(stage + (g + 8 * h2) * LD + j * 8 + 2 * t) =
                pack2<T>(acc[j][2 * h2] * mul, acc[j][2 * h2 + 1] * mul);
    __syncwarp();
    constexpr int CPR = D / 8;
#pragma unroll
    for (int it = 0; it < 16 * CPR / 32; it++) {
        const int c = lane + it * 32;
        const int r = c / CPR, col = (c % CPR) * 8;
        if (r0 + r < rows_valid)
            *reinterpret_cast<uint4 *>(dst + (r0 + r) * stride + col) =
                *reinterpret_cast<const uint4 *>(stage + r * LD + col);
    }
}

/* lse in base 2 for P = 2^(x - lse2); -inf (a query that saw no key) -> +inf. */
__device__ __forceinline__ float lse_log2(float lse)
{
    return lse == -INFINITY ? INFINITY : lse * 1.4426950408889634f;
}

/* ------------------------------------------------------------------ prep: delta */

/* delta[(z heads_q + h) seq_q + i] = sum_c dO_ic O_ic (laid out [batch, heads_q, seq_q] even
 * with cu_seqlens, so the host can size it). */
template <typename T, typename Cfg>
__device__ __forceinline__ void prep_body(const usine_cuda_attn_args &p)
{
    constexpr int CPR = Cfg::CPR;
    const int64_t z = p.batch0 + blockIdx.z, h = blockIdx.y;
    const Seq s = locate(p, z, h);
    const int64_t i = (int64_t)blockIdx.x * Cfg::ROWS + threadIdx.x / CPR;
    const int c = (threadIdx.x % CPR) * 8;
    float sum = 0.0f;
    if (i < s.sq) {
        const uint16_t *o = head_rows<const uint16_t>(p.o, p.o_strides, s.item, h, s.pq + i) + c;
        const uint16_t *d = head_rows<const uint16_t>(p.d_o, p.o_strides, s.item, h, s.pq + i) + c;
        const uint4 ov = *reinterpret_cast<const uint4 *>(o);
        const uint4 dv = *reinterpret_cast<const uint4 *>(d);
        const uint32_t os[4] = {ov.x, ov.y, ov.z, ov.w}, ds[4] = {dv.x, dv.y, dv.z, dv.w};
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const float2 a = unpack2<T>(os[e]), b = unpack2<T>(ds[e]);
            sum += a.x * b.x + a.y * b.y;
        }
    }
#pragma unroll
    for (int w = CPR / 2; w > 0; w /= 2)
        sum += __shfl_xor_sync(0xffffffffu, sum, w);
    if (i < s.sq && threadIdx.x % CPR == 0)
        p.delta[(z * p.heads_q + h) * p.seq_q + i] = sum;
}

/* ------------------------------------------------------------------ dK, dV */

template <typename T, typename Cfg>
__device__ __forceinline__ void dkdv_body(const usine_cuda_attn_args &p)
{
    constexpr int D = Cfg::D, BR = Cfg::BR, BS = Cfg::BS, LD = Cfg::LD;
    constexpr int ST = BS / 8; /* n8 query tiles of S^T */
    constexpr int OT = D / 8;

    extern __shared__ __align__(128) uint16_t smem[];
    uint16_t *const k_s = smem;
    uint16_t *const v_s = smem + Cfg::OWN_ELEMS;
    uint16_t *const q_s = smem + 2 * Cfg::OWN_ELEMS; /* stage s at + s STREAM_ELEMS */
    uint16_t *const do_s = q_s + 2 * Cfg::STREAM_ELEMS;
    float *const lse_s = reinterpret_cast<float *>(do_s + 2 * Cfg::STREAM_ELEMS); /* [2][BS] */
    float *const delta_s = lse_s + 2 * BS;                                        /* [2][BS] */

    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int g = lane >> 2, t = lane & 3;
    const int64_t z = p.batch0 + blockIdx.z, hk = blockIdx.y;
    const int64_t group = p.heads_q / p.heads_kv;
    const Seq s = locate(p, z, hk * group); /* lengths, item, offsets: the same for the group */
    const int64_t n0 = (int64_t)blockIdx.x * BR; /* block's first key */
    if (n0 >= s.sk)
        return;
    const int64_t off = s.sk - s.sq;
    const int64_t n_last = (n0 + BR < s.sk ? n0 + BR : s.sk) - 1;

    /* Queries that see any of keys n0 .. n_last. */
    int64_t qb = 0, qe = s.sq;
    if (p.causal && n0 - off > qb)
        qb = n0 - off;
    if (p.window > 0 && n_last - off + p.window < qe)
        qe = n_last - off + p.window;
    const int64_t qtile0 = qb / BS;
    const int nqt = qe > qb ? (int)((qe + BS - 1) / BS - qtile0) : 0;
    const int iters = nqt * (int)group;

    const uint16_t *const kg = head_rows<const uint16_t>(p.k, p.k_strides, s.item, hk, s.pk);
    const uint16_t *const vg = head_rows<const uint16_t>(p.v, p.v_strides, s.item, hk, s.pk);

    /* Iteration i: query head hk group + i / nqt, query tile qtile0 + i % nqt. */
    auto request = [&](int i) {
        const int st = i & 1;
        const int64_t h = hk * group + i / nqt, m0 = (qtile0 + i % nqt) * BS;
        const Seq sh = locate(p, z, h);
        const uint16_t *qg = head_rows<const uint16_t>(p.q, p.q_strides, sh.item, h, sh.pq);
        const uint16_t *dg = head_rows<const uint16_t>(p.d_o, p.o_strides, sh.item, h, sh.pq);
        load_rows<Cfg, BS>(q_s + st * Cfg::STREAM_ELEMS, qg, p.q_strides[2], m0, sh.sq);
        load_rows<Cfg, BS>(do_s + st * Cfg::STREAM_ELEMS, dg, p.o_strides[2], m0, sh.sq);
        if (threadIdx.x < 2 * BS) {
            const int r = threadIdx.x % BS;
            const bool in = m0 + r < sh.sq;
            const float *src = threadIdx.x < BS
                                   ? p.lse + sh.lse_base + (in ? m0 + r : 0)
                                   : p.delta + (z * p.heads_q + h) * p.seq_q + (in ? m0 + r : 0);
            float *dst = (threadIdx.x < BS ? lse_s : delta_s) + st * BS + r;
            cp_async_4(smem_addr(dst), src, in ? 4u : 0u);
        }
    };
    static_assert(2 * BS <= Cfg::THREADS, "one thread per lse and delta element");

    load_rows<Cfg, BR>(k_s, kg, p.k_strides[2], n0, s.sk);
    load_rows<Cfg, BR>(v_s, vg, p.v_strides[2], n0, s.sk);
    if (iters > 0)
        request(0);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();

    float dk[OT][4], dv[OT][4];
#pragma unroll
    for (int j = 0; j < OT; j++)
#pragma unroll
        for (int r = 0; r < 4; r++)
            dk[j][r] = dv[j][r] = 0.0f;
    const int wrow = warp * 16;
    const uint16_t *const k_w = k_s + wrow * LD, *const v_w = v_s + wrow * LD;
    /* This lane's keys (rows g, g + 8 of the warp's 16). */
    const int kj[2] = {(int)n0 + wrow + g, (int)n0 + wrow + g + 8};
    const int sq32 = (int)s.sq, sk32 = (int)s.sk, off32 = (int)off, causal = p.causal;
    const int window = (int)p.window;

#pragma unroll 1
    for (int i = 0; i < iters; i++) {
        if (i > 0) {
            cp_async_wait<0>();
            __syncthreads();
        }
        if (i + 1 < iters)
            request(i + 1);
        cp_async_commit();

        const int st = i & 1;
        const uint16_t *const qs = q_s + st * Cfg::STREAM_ELEMS;
        const uint16_t *const dos = do_s + st * Cfg::STREAM_ELEMS;
        const int m0 = (int)((qtile0 + i % nqt) * BS);

        float sc[ST][4], dp[ST][4];
#pragma unroll
        for (int j = 0; j < ST; j++)
#pragma unroll
            for (int r = 0; r < 4; r++)
                sc[j][r] = dp[j][r] = 0.0f;
        mma_nt_smem<T, ST, D / 16, LD>(sc, k_w, qs, lane);  /* S^T = K Q^T */
        mma_nt_smem<T, ST, D / 16, LD>(dp, v_w, dos, lane); /* dP^T = V dO^T */

        /* P^T and dS^T: element (key kj[r >> 1], query m0 + 8 j + 2t + (r & 1)). */
#pragma unroll
        for (int j = 0; j < ST; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const int col = j * 8 + 2 * t + (r & 1);
                const int qi = m0 + col;
                const bool vis = qi < sq32 && visible(qi, kj[r >> 1], sk32, off32, causal, window);
                const float x = sc[j][r] * p.scale_log2 - lse_log2(lse_s[st * BS + col]);
                const float pv = vis ? exp2_approx(x) : 0.0f;
                sc[j][r] = pv;
                dp[j][r] = pv * (dp[j][r] - delta_s[st * BS + col]);
            }
        mma_cn_smem<T, OT, BS / 16, LD>(dv, sc, dos, lane); /* dV += P^T dO */
        mma_cn_smem<T, OT, BS / 16, LD>(dk, dp, qs, lane);  /* dK += dS^T Q */
    }
    cp_async_wait<0>();

    uint16_t *const dkg = head_rows<uint16_t>(p.dk, p.k_strides, s.item, hk, s.pk);
    uint16_t *const dvg = head_rows<uint16_t>(p.dv, p.v_strides, s.item, hk, s.pk);
    /* Through the warp's own K and V rows (only this warp read them). */
    store_rows<T, D, LD>(dk, p.scale, k_s + wrow * LD, dkg, p.k_strides[2], n0 + wrow, s.sk, lane);
    store_rows<T, D, LD>(dv, 1.0f, v_s + wrow * LD, dvg, p.v_strides[2], n0 + wrow, s.sk, lane);
}

/* ------------------------------------------------------------------ dQ */

template <typename T, typename Cfg>
__device__ __forceinline__ void dq_body(const usine_cuda_attn_args &p)
{
    constexpr int D = Cfg::D, BR = Cfg::BR, BS = Cfg::BS, LD = Cfg::LD;
    constexpr int KT = D / 16, ST = BS / 8, OT = D / 8;

    extern __shared__ __align__(128) uint16_t smem[];
    uint16_t *const q_s = smem;
    uint16_t *const do_s = smem + Cfg::OWN_ELEMS;
    uint16_t *const k_s = smem + 2 * Cfg::OWN_ELEMS; /* stage s at + s STREAM_ELEMS */
    uint16_t *const v_s = k_s + 2 * Cfg::STREAM_ELEMS;

    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int g = lane >> 2, t = lane & 3, quad = lane >> 3, r8 = lane & 7;
    const int64_t z = p.batch0 + blockIdx.z, h = blockIdx.y, hk = h / (p.heads_q / p.heads_kv);
    const Seq s = locate(p, z, h);
    const int64_t row0 = (int64_t)blockIdx.x * BR;
    if (row0 >= s.sq)
        return;
    const int64_t off = s.sk - s.sq;
    const int64_t last = (row0 + BR < s.sq ? row0 + BR : s.sq) - 1;

    const uint16_t *const qg = head_rows<const uint16_t>(p.q, p.q_strides, s.item, h, s.pq);
    const uint16_t *const dg = head_rows<const uint16_t>(p.d_o, p.o_strides, s.item, h, s.pq);
    const uint16_t *const kg = head_rows<const uint16_t>(p.k, p.k_strides, s.item, hk, s.pk);
    const uint16_t *const vg = head_rows<const uint16_t>(p.v, p.v_strides, s.item, hk, s.pk);

    int64_t kb, ke;
    key_range(p, s.sq, s.sk, row0, last, &kb, &ke);
    const int64_t tile0 = kb / BS;
    const int ntiles = ke > kb ? (int)((ke + BS - 1) / BS - tile0) : 0;

    auto request = [&](int i) {
        const int st = i & 1;
        const int64_t k0 = (tile0 + i) * BS;
        load_rows<Cfg, BS>(k_s + st * Cfg::STREAM_ELEMS, kg, p.k_strides[2], k0, s.sk);
        load_rows<Cfg, BS>(v_s + st * Cfg::STREAM_ELEMS, vg, p.v_strides[2], k0, s.sk);
    };
    load_rows<Cfg, BR>(q_s, qg, p.q_strides[2], row0, s.sq);
    load_rows<Cfg, BR>(do_s, dg, p.o_strides[2], row0, s.sq);
    if (ntiles > 0)
        request(0);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();

    const int wrow = warp * 16;
    uint32_t qf[KT][4], df[KT][4];
#pragma unroll
    for (int kk = 0; kk < KT; kk++) {
        const int at = (wrow + 8 * (quad & 1) + r8) * LD + kk * 16 + 8 * (quad >> 1);
        ldmatrix_x4<false>(qf[kk], smem_addr(q_s + at));
        ldmatrix_x4<false>(df[kk], smem_addr(do_s + at));
    }
    const int qi[2] = {(int)row0 + wrow + g, (int)row0 + wrow + g + 8};
    float l2[2], dl[2];
#pragma unroll
    for (int h2 = 0; h2 < 2; h2++) {
        const bool in = qi[h2] < s.sq;
        l2[h2] = in ? lse_log2(p.lse[s.lse_base + qi[h2]]) : INFINITY;
        dl[h2] = in ? p.delta[(z * p.heads_q + h) * p.seq_q + qi[h2]] : 0.0f;
    }
    const int sk32 = (int)s.sk, off32 = (int)off, causal = p.causal, window = (int)p.window;

    float dq[OT][4];
#pragma unroll
    for (int j = 0; j < OT; j++)
#pragma unroll
        for (int r = 0; r < 4; r++)
            dq[j][r] = 0.0f;

#pragma unroll 1
    for (int i = 0; i < ntiles; i++) {
        if (i > 0) {
            cp_async_wait<0>();
            __syncthreads();
        }
        if (i + 1 < ntiles)
            request(i + 1);
        cp_async_commit();

        const uint16_t *const ks = k_s + (i & 1) * Cfg::STREAM_ELEMS;
        const uint16_t *const vs = v_s + (i & 1) * Cfg::STREAM_ELEMS;
        const int k0 = (int)((tile0 + i) * BS);

        float sc[ST][4], dp[ST][4];
#pragma unroll
        for (int j = 0; j < ST; j++)
#pragma unroll
            for (int r = 0; r < 4; r++)
                sc[j][r] = dp[j][r] = 0.0f;
        mma_nt_reg<T, ST, KT, LD>(sc, qf, ks, lane); /* S = Q K^T */
        mma_nt_reg<T, ST, KT, LD>(dp, df, vs, lane); /* dP = dO V^T */
#pragma unroll
        for (int j = 0; j < ST; j++)
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const int kj = k0 + j * 8 + 2 * t + (r & 1);
                const bool vis = visible(qi[r >> 1], kj, sk32, off32, causal, window);
                const float pv = vis ? exp2_approx(sc[j][r] * p.scale_log2 - l2[r >> 1]) : 0.0f;
                dp[j][r] = pv * (dp[j][r] - dl[r >> 1]); /* dS */
            }
        mma_cn_smem<T, OT, BS / 16, LD>(dq, dp, ks, lane); /* dQ += dS K */
    }
    cp_async_wait<0>();

    uint16_t *const dqg = head_rows<uint16_t>(p.dq, p.q_strides, s.item, h, s.pq);
    /* Through the warp's own Q rows (its fragments are in registers). */
    store_rows<T, D, LD>(dq, p.scale, q_s + wrow * LD, dqg, p.q_strides[2], row0 + wrow, s.sq,
                         lane);
}

} // namespace usine_sm80_attn

#define USINE_SM80_ATTN_BWD_KERNEL(NAME, BODY, T, CFG)                                             \
    extern "C" __global__ void __launch_bounds__(CFG::THREADS, CFG::MIN_BLOCKS)                    \
        NAME(const usine_cuda_attn_args args)                                                      \
    {                                                                                              \
        usine_sm80_attn::BODY<T, CFG>(args);                                                       \
    }

#endif
