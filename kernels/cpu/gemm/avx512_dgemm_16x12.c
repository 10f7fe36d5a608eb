/*
 * f64 GEMM for AVX-512 (x86-64-v4): a 16x12 tile, with 8x12 (zmm) and 4x12 (ymm, VL)
 * kernels for the last rows. Register map: 24 zmm accumulators (2 vectors of 8 rows x 12
 * columns), 2 for the A column, B broadcast from memory into the FMAs.
 */
#include "avx512_f64_impl.h"

#define NR 12

USINE_DEFINE_UKR(ukr_16x12, ukr_zmm, double, 2, NR)
USINE_DEFINE_UKR(ukr_8x12, ukr_zmm, double, 1, NR)
USINE_DEFINE_UKR(ukr_4x12, ukr_ymm, double, 1, NR)
USINE_DEFINE_PACK(pack_16, double, 16)
USINE_DEFINE_PACK(pack_8, double, 8)
USINE_DEFINE_PACK(pack_4, double, 4)
USINE_DEFINE_GEMV(gemv, double)

static void pack_b(int64_t rows, int64_t k, const void *x, int64_t rs, int64_t cs, void *dst)
{
    avx512_pack_b_f64(NR, rows, k, x, rs, cs, dst);
}

const usine_gemm_kernel usine_dgemm_cpu_avx512_16x12 = {
    .name = "usine_dgemm_cpu_avx512_16x12",
    .dtype = USINE_F64,
    .in_type = USINE_F64,
    .k_unit = 1,
    .isa = USINE_ISA_AVX512,
    .mr = 16,
    .nr = NR,
    .ukr = ukr_16x12,
    .ukr_bt = ukr_16x12_bt,
    .pack_a = pack_16,
    .pack_b = pack_b,
    .gemv = gemv,
    .epilogue = avx512_epilogue_f64,
    .pack_convert = avx512_epilogue_f64_pack,
    .n_edges = 2,
    .edges = {{8, ukr_8x12, ukr_8x12_bt, pack_8, NULL}, {4, ukr_4x12, ukr_4x12_bt, pack_4, NULL}},
};
