/*
 * int8 GEMM for AVX512-VNNI (Cascade Lake, Ice Lake, Sapphire Rapids, Zen 4): u8 x s8 with
 * exact s32 sums.
 *
 * vpdpbusd multiplies 16 x 4 u8 by s8 and adds each lane's four products to an s32: 128
 * operations per instruction, four times an f32 FMA (measured on Zen 4: 470 GOP/s per
 * core). No saturation (vpdpbusds would). The tile is the f32 kernel's 48x8: 24 zmm
 * accumulators, 3 loads of A and 8 broadcasts of B per step, a step being 4 k values
 * (int8_impl.h: quads of bytes per row); the body is ukr_x86_impl.h's with the broadcast
 * FMA replaced. A panels are u8 (the vector operand), B panels s8 (the broadcast one); s8 A
 * or u8 B are packed with the sign bit flipped and compensated in the epilogue.
 */
#include "avx512_f32_impl.h"
#include "int8_impl.h"

/* acc += the 4-byte dot products of u8 a and the s8 quad b (the same quad in every lane). */
#define DPBUSD_ZMM(a, b, acc) _mm512_dpbusd_epi32(acc, a, b)
#define DPBUSD_YMM(a, b, acc) _mm256_dpbusd_epi32(acc, a, b)

/* The store of the body: alpha is 1 and beta 0 or 1 for int8 (the epilogue does the rest). */
#define UKR_FUNC  ukr_int8_zmm
#define UKR_T     int32_t
#define UKR_V     __m512i
#define UKR_LANES 16
#define UKR_MASK  __mmask16
#define UKR_MASK_FOR(rows)                                                                         \
    ((__mmask16)((rows) >= 16 ? 0xffff : (rows) <= 0 ? 0 : (1u << (rows)) - 1))
#define UKR_LOAD(p)               _mm512_loadu_si512(p)
#define UKR_BCAST(x)              _mm512_set1_epi32(x)
#define UKR_FMA(a, b, c)          _mm512_add_epi32(_mm512_mullo_epi32(a, b), c)
#define UKR_MUL(a, b)             _mm512_mullo_epi32(a, b)
#define UKR_ZERO()                _mm512_setzero_si512()
#define UKR_MASKLOAD(mask, p)     _mm512_maskz_loadu_epi32(mask, p)
#define UKR_MASKSTORE(p, mask, v) _mm512_mask_storeu_epi32(p, mask, v)
#define UKR_DOT(a, b, c)          DPBUSD_ZMM(a, b, c)
#include "ukr_x86_impl.h"

#define UKR_FUNC                  ukr_int8_ymm
#define UKR_T                     int32_t
#define UKR_V                     __m256i
#define UKR_LANES                 8
#define UKR_MASK                  __mmask8
#define UKR_MASK_FOR(rows)        ((__mmask8)((rows) >= 8 ? 0xff : (rows) <= 0 ? 0 : (1u << (rows)) - 1))
#define UKR_LOAD(p)               _mm256_loadu_si256((const __m256i *)(p))
#define UKR_BCAST(x)              _mm256_set1_epi32(x)
#define UKR_FMA(a, b, c)          _mm256_add_epi32(_mm256_mullo_epi32(a, b), c)
#define UKR_MUL(a, b)             _mm256_mullo_epi32(a, b)
#define UKR_ZERO()                _mm256_setzero_si256()
#define UKR_MASKLOAD(mask, p)     _mm256_maskz_loadu_epi32(mask, p)
#define UKR_MASKSTORE(p, mask, v) _mm256_mask_storeu_epi32(p, mask, v)
#define UKR_DOT(a, b, c)          DPBUSD_YMM(a, b, c)
#include "ukr_x86_impl.h"

#define NR 8

/* k values in, quads through the body (a_step, b_step: dwords per quad = the panel width). */
#define DEFINE_QUAD_UKR(name, body, MV)                                                            \
    static void name(int64_t k, const void *a, int64_t a_step, const void *b, int64_t b_step,      \
                     void *c, int64_t ldc, int m, int n, const void *alpha, const void *beta)      \
    {                                                                                              \
        body(MV, NR, 0, (k + 3) / 4, (const int32_t *)a, a_step, (const int32_t *)b, b_step,       \
             (int32_t *)c, ldc, m, n, *(const int32_t *)alpha, *(const int32_t *)beta, NULL, 0);   \
    }

DEFINE_QUAD_UKR(ukr_48x8, ukr_int8_zmm, 3)
DEFINE_QUAD_UKR(ukr_32x8, ukr_int8_zmm, 2)
DEFINE_QUAD_UKR(ukr_16x8, ukr_int8_zmm, 1)
DEFINE_QUAD_UKR(ukr_8x8, ukr_int8_ymm, 1)

/* ------------------------------------------------------------------ packing */

/* Columns contiguous (rs == 1): four columns interleaved bytewise, 16 rows at a time (two
 * rounds of unpacks); rows past `rows` stay 0, the others are flipped when asked. Every
 * panel of the block advances together, group by group, so that the four columns of a
 * group are read along their length (measured on the weights of a 16 x 6144 x 4096
 * product, read by columns of 4 rows: packing panel after panel ran at 4 GB/s). */
static void pack_quads_from_columns(int W, int64_t rows, int64_t k, const uint8_t *x, int64_t cs,
                                    uint8_t *dst, uint8_t flip)
{
    const int64_t panel = (int64_t)W * ((k + 3) / 4) * 4;
    const int step = W < 16 ? W : 16; /* rows per round: 8 or 16 */
    for (int64_t g = 0; 4 * g < k; g++) {
        for (int64_t i0 = 0; i0 < (rows + W - 1) / W * W; i0 += step) {
            const int64_t left = rows - i0;
            const int valid = left >= step ? step : left > 0 ? (int)left : 0;
            const __mmask16 live = (__mmask16)((1u << valid) - 1);
            const __m128i flips = _mm_maskz_set1_epi8(live, (char)flip);
            __m128i c[4];
            for (int u = 0; u < 4; u++)
                c[u] = 4 * g + u < k
                           ? _mm_xor_si128(_mm_maskz_loadu_epi8(live, x + (4 * g + u) * cs + i0),
                                           flips)
                           : _mm_setzero_si128();
            const __m128i t0 = _mm_unpacklo_epi8(c[0], c[1]), t1 = _mm_unpackhi_epi8(c[0], c[1]);
            const __m128i t2 = _mm_unpacklo_epi8(c[2], c[3]), t3 = _mm_unpackhi_epi8(c[2], c[3]);
            const int64_t in_panel = i0 % W;
            uint8_t *d = dst + i0 / W * panel + (g * W + in_panel) * 4;
            _mm_storeu_si128((__m128i *)d, _mm_unpacklo_epi16(t0, t2));
            _mm_storeu_si128((__m128i *)(d + 16), _mm_unpackhi_epi16(t0, t2));
            if (step == 16) { /* W = 8 panels end after two rows of 16 bytes */
                _mm_storeu_si128((__m128i *)(d + 32), _mm_unpacklo_epi16(t1, t3));
                _mm_storeu_si128((__m128i *)(d + 48), _mm_unpackhi_epi16(t1, t3));
            }
        }
    }
}

/* Rows contiguous along k (cs == 1): a quad is a dword of the row, so packing is a
 * transpose of dwords, 16 rows x 16 quads at a time. */
static void pack_quads_from_rows(int W, int r, int64_t k, const uint8_t *x, int64_t rs,
                                 uint8_t *dst, uint8_t flip)
{
    const int64_t blocks = k / 64; /* 16 whole quads per row */
    const __m512i flips = _mm512_set1_epi8((char)flip);
    for (int64_t gb = 0; gb < blocks; gb++) {
        for (int i0 = 0; i0 < W; i0 += 16) {
            __m512 v[16];
            for (int i = 0; i < 16; i++)
                v[i] = i0 + i < r ? _mm512_castsi512_ps(_mm512_xor_si512(
                                        _mm512_loadu_si512(x + (i0 + i) * rs + gb * 64), flips))
                                  : _mm512_setzero_ps();
            transpose_16x16(v);
            const int lanes = W - i0 >= 16 ? 16 : W - i0;
            const __mmask16 out = (__mmask16)((1u << lanes) - 1);
            for (int q = 0; q < 16; q++)
                _mm512_mask_storeu_ps(dst + ((gb * 16 + q) * W + i0) * 4, out, v[q]);
        }
    }
    usine_pack_quads_any(W, r, k, x, rs, 1, dst, blocks * 16, flip);
}

static void pack_quads(int W, int64_t rows, int64_t k, const void *xv, int64_t rs, int64_t cs,
                       void *dstv, uint8_t flip)
{
    const uint8_t *x = (const uint8_t *)xv;
    uint8_t *dst = (uint8_t *)dstv;
    if (rs == 1) {
        pack_quads_from_columns(W, rows, k, x, cs, dst, flip);
        return;
    }
    const int64_t panel = (int64_t)W * ((k + 3) / 4) * 4;
    for (int64_t i0 = 0; i0 < rows; i0 += W, x += W * rs, dst += panel) {
        const int r = rows - i0 < W ? (int)(rows - i0) : W;
        if (cs == 1)
            pack_quads_from_rows(W, r, k, x, rs, dst, flip);
        else
            usine_pack_quads_any(W, r, k, x, rs, cs, dst, 0, flip);
    }
}

#define DEFINE_PACK(name, W)                                                                       \
    static void name(int64_t rows, int64_t k, const void *x, int64_t rs, int64_t cs, void *dst)    \
    {                                                                                              \
        pack_quads(W, rows, k, x, rs, cs, dst, 0);                                                 \
    }

DEFINE_PACK(pack_48, 48)
DEFINE_PACK(pack_32, 32)
DEFINE_PACK(pack_16, 16)
DEFINE_PACK(pack_8, 8)

/* The other signedness: the same packing with the sign bit flipped. */
static void pack_flipped(int W, usine_dtype src, int64_t rows, int64_t k, const void *x, int64_t rs,
                         int64_t cs, void *dst)
{
    (void)src;
    pack_quads(W, rows, k, x, rs, cs, dst, USINE_INT8_FLIP);
}

/* ------------------------------------------------------------------ sums */

/* Row sums of a packed panel by vpdpbusd against ones: u8 panels as the unsigned operand,
 * s8 panels as the signed one. W is a multiple of 8. */
USINE_INLINE void sum_quads(int W, int64_t k, const void *panel, int32_t *sums, int is_signed)
{
    const int32_t *p = (const int32_t *)panel;
    const int64_t groups = (k + 3) / 4;
    const __m512i ones = _mm512_set1_epi8(1);
    int i0 = 0;
    for (; i0 + 16 <= W; i0 += 16) {
        __m512i acc = _mm512_setzero_si512();
        for (int64_t g = 0; g < groups; g++) {
            const __m512i v = _mm512_loadu_si512(p + g * W + i0);
            acc = is_signed ? _mm512_dpbusd_epi32(acc, ones, v) : _mm512_dpbusd_epi32(acc, v, ones);
        }
        _mm512_storeu_si512(sums + i0, _mm512_add_epi32(acc, _mm512_loadu_si512(sums + i0)));
    }
    if (i0 < W) { /* 8 rows */
        const __m256i ones8 = _mm256_set1_epi8(1);
        __m256i acc = _mm256_setzero_si256();
        for (int64_t g = 0; g < groups; g++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + g * W + i0));
            acc =
                is_signed ? _mm256_dpbusd_epi32(acc, ones8, v) : _mm256_dpbusd_epi32(acc, v, ones8);
        }
        __m256i *s = (__m256i *)(sums + i0);
        _mm256_storeu_si256(s, _mm256_add_epi32(acc, _mm256_loadu_si256(s)));
    }
}

static void sum_a(int W, int64_t k, const void *panel, int32_t *sums)
{
    sum_quads(W, k, panel, sums, 0);
}

static void sum_b(int W, int64_t k, const void *panel, int32_t *sums)
{
    sum_quads(W, k, panel, sums, 1);
}

USINE_DEFINE_INT8_EPILOGUE(epilogue, avx512_epilogue_f32)

const usine_gemm_kernel usine_u8s8gemm_cpu_avx512vnni_48x8 = {
    .name = "usine_u8s8gemm_cpu_avx512vnni_48x8",
    .dtype = USINE_S32,
    .in_type = USINE_U8,
    .k_unit = 4,
    .isa = USINE_ISA_AVX512_VNNI,
    .mr = 48,
    .nr = NR,
    .ukr = ukr_48x8,
    .pack_a = pack_48,
    .pack_b = pack_8,
    .epilogue = epilogue,
    .pack_convert = pack_flipped,
    .sum_a = sum_a,
    .sum_b = sum_b,
    .n_edges = 3,
    .edges = {{32, ukr_32x8, NULL, pack_32, NULL},
              {16, ukr_16x8, NULL, pack_16, NULL},
              {8, ukr_8x8, NULL, pack_8, NULL}},
};
