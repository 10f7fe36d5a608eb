/*
 * f64 GEMM for AVX-512 (x86-64-v4): a 24x8 tile, with 16x8, 8x8 (zmm) and 4x8 (ymm, VL)
 * kernels for the last rows. Register map: 24 zmm accumulators (3 vectors of 8 rows x 8
 * columns), 3 for the A column, B broadcast from memory into the FMAs. As for f32
 * (avx512_sgemm_48x8.c), NR = 8 lets KC grow by half for the same L1 footprint of the B
 * panel, so C is updated less often.
 */
#include "avx512_f64_impl.h"

#define NR 8

USINE_DEFINE_UKR(ukr_24x8, ukr_zmm, double, 3, NR)
USINE_DEFINE_UKR(ukr_16x8, ukr_zmm, double, 2, NR)
USINE_DEFINE_UKR(ukr_8x8, ukr_zmm, double, 1, NR)
USINE_DEFINE_UKR(ukr_4x8, ukr_ymm, double, 1, NR)
USINE_DEFINE_PACK(pack_24, double, 24)
USINE_DEFINE_PACK(pack_16, double, 16)
USINE_DEFINE_PACK(pack_8, double, 8)
USINE_DEFINE_PACK(pack_4, double, 4)
USINE_DEFINE_GEMV(gemv, double)

static void pack_b(int64_t rows, int64_t k, const void *x, int64_t rs, int64_t cs, void *dst)
{
    avx512_pack_b_f64(NR, rows, k, x, rs, cs, dst);
}

const usine_gemm_kernel usine_dgemm_cpu_avx512_24x8 = {
    .name = "usine_dgemm_cpu_avx512_24x8",
    .dtype = USINE_F64,
    .in_type = USINE_F64,
    .k_unit = 1,
    .isa = USINE_ISA_AVX512,
    .mr = 24,
    .nr = NR,
    .ukr = ukr_24x8,
    .ukr_bt = ukr_24x8_bt,
    .pack_a = pack_24,
    .pack_b = pack_b,
    .gemv = gemv,
    .epilogue = avx512_epilogue_f64,
    .pack_convert = avx512_epilogue_f64_pack,
    .n_edges = 3,
    .edges = {{16, ukr_16x8, ukr_16x8_bt, pack_16, NULL},
              {8, ukr_8x8, ukr_8x8_bt, pack_8, NULL},
              {4, ukr_4x8, ukr_4x8_bt, pack_4, NULL}},
};
