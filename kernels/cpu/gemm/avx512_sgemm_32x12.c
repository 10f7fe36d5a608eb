/*
 * f32 GEMM for AVX-512 (x86-64-v4): a 32x12 tile, with 16x12 (zmm) and 8x12 (ymm, VL)
 * kernels for the last rows. The alternative to avx512_sgemm_48x8.c: NR = 12 reuses each
 * A vector 12 times (fewer A loads from L2), at the price of a smaller KC for the same
 * L1 footprint of the B panel.
 *
 * Register map: 24 zmm accumulators (2 vectors of 16 rows x 12 columns), 2 zmm for the A
 * column, one for the broadcast B element: 27 of 32 registers.
 */
#include "avx512_f32_impl.h"

#define NR 12

USINE_DEFINE_UKR(ukr_32x12, ukr_zmm, float, 2, NR)
USINE_DEFINE_UKR_SEGS(ukr_32x12, ukr_zmm_segs, float, 2, NR)
USINE_DEFINE_UKR(ukr_16x12, ukr_zmm, float, 1, NR)
USINE_DEFINE_UKR_SEGS(ukr_16x12, ukr_zmm_segs, float, 1, NR)
USINE_DEFINE_UKR(ukr_8x12, ukr_ymm, float, 1, NR)
USINE_DEFINE_UKR_SEGS(ukr_8x12, ukr_ymm_segs, float, 1, NR)
USINE_DEFINE_PACK(pack_32, float, 32)
USINE_DEFINE_PACK(pack_16, float, 16)
USINE_DEFINE_PACK(pack_8, float, 8)
USINE_DEFINE_ROW_UKR(ukr_1x12, NR)
USINE_DEFINE_PACK(pack_1, float, 1)
USINE_DEFINE_GEMV(gemv, float)

static void pack_b(int64_t rows, int64_t k, const void *x, int64_t rs, int64_t cs, void *dst)
{
    avx512_pack_b_f32(NR, rows, k, x, rs, cs, dst);
}

const usine_gemm_kernel usine_sgemm_cpu_avx512_32x12 = {
    .name = "usine_sgemm_cpu_avx512_32x12",
    .dtype = USINE_F32,
    .in_type = USINE_F32,
    .k_unit = 1,
    .isa = USINE_ISA_AVX512,
    .mr = 32,
    .nr = NR,
    .ukr = ukr_32x12,
    .ukr_bt = ukr_32x12_bt,
    .ukr_segs = ukr_32x12_segs,
    .pack_a = pack_32,
    .pack_b = pack_b,
    .gemv = gemv,
    .epilogue = avx512_epilogue_f32,
    .pack_convert = avx512_epilogue_f32_pack,
    .n_edges = 2,
    .edges = {{16, ukr_16x12, ukr_16x12_bt, pack_16, ukr_16x12_segs},
              {8, ukr_8x12, ukr_8x12_bt, pack_8, ukr_8x12_segs}},
    .row = {1, ukr_1x12, ukr_1x12_bt, pack_1, NULL},
};
