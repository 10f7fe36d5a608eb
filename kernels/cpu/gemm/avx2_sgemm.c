/*
 * f32 GEMM for AVX2 + FMA3: a 16x6 tile (the Haswell shape) with an 8x6 kernel for the
 * last rows. Register map: 12 ymm accumulators (2 vectors of 8 rows x 6 columns), 2 for
 * the A column, 1 for the broadcast B element: 15 of the 16 ymm registers. 12 FMA chains
 * cover latency 4 x 2 FMAs per cycle (8 needed). Partial rows use vmaskmov (AVX2 has no
 * mask registers): the mask is a lane-index compare.
 */
#include <immintrin.h>

#include "epilogue_impl.h"
#include "gemm_kernel.h"
#include "gemv_impl.h"
#include "pack_impl.h"

USINE_INLINE __m256i rows_mask_ps(int rows)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(rows), lanes);
}

#define UKR_FUNC                  ukr_ymm
#define UKR_T                     float
#define UKR_V                     __m256
#define UKR_LANES                 8
#define UKR_MASK                  __m256i
#define UKR_MASK_FOR(rows)        rows_mask_ps(rows)
#define UKR_LOAD(p)               _mm256_loadu_ps(p)
#define UKR_BCAST(x)              _mm256_set1_ps(x)
#define UKR_FMA(a, b, c)          _mm256_fmadd_ps(a, b, c)
#define UKR_MUL(a, b)             _mm256_mul_ps(a, b)
#define UKR_ZERO()                _mm256_setzero_ps()
#define UKR_MASKLOAD(mask, p)     _mm256_maskload_ps(p, mask)
#define UKR_MASKSTORE(p, mask, v) _mm256_maskstore_ps(p, mask, v)
#include "ukr_x86_impl.h"
#include "ukr_define.h"

#define NR 6

USINE_DEFINE_UKR(ukr_16x6, ukr_ymm, float, 2, NR)
USINE_DEFINE_UKR_SEGS(ukr_16x6, ukr_ymm_segs, float, 2, NR)
USINE_DEFINE_UKR(ukr_8x6, ukr_ymm, float, 1, NR)
USINE_DEFINE_UKR_SEGS(ukr_8x6, ukr_ymm_segs, float, 1, NR)
USINE_DEFINE_PACK(pack_16, float, 16)
USINE_DEFINE_PACK(pack_8, float, 8)
USINE_DEFINE_PACK(pack_6, float, NR)
USINE_DEFINE_GEMV(gemv, float)

USINE_DEFINE_EPILOGUE(epilogue, float, tanhf, erff)

const usine_gemm_kernel usine_sgemm_cpu_avx2_16x6 = {
    .name = "usine_sgemm_cpu_avx2_16x6",
    .dtype = USINE_F32,
    .in_type = USINE_F32,
    .k_unit = 1,
    .isa = USINE_ISA_AVX2,
    .mr = 16,
    .nr = NR,
    .ukr = ukr_16x6,
    .ukr_bt = ukr_16x6_bt,
    .ukr_segs = ukr_16x6_segs,
    .pack_a = pack_16,
    .pack_b = pack_6,
    .gemv = gemv,
    .epilogue = epilogue,
    .pack_convert = epilogue_pack,
    .n_edges = 1,
    .edges = {{8, ukr_8x6, ukr_8x6_bt, pack_8, ukr_8x6_segs}},
};
