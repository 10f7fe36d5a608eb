/*
 * f64 GEMM for AVX2 + FMA3: an 8x6 tile with a 4x6 kernel for the last rows; the same
 * register map as avx2_sgemm.c (12 ymm accumulators, 2 A vectors, 1 broadcast).
 */
#include <immintrin.h>

#include "epilogue_impl.h"
#include "gemm_kernel.h"
#include "gemv_impl.h"
#include "pack_impl.h"

USINE_INLINE __m256i rows_mask_pd(int rows)
{
    const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(rows), lanes);
}

#define UKR_FUNC                  ukr_ymm
#define UKR_T                     double
#define UKR_V                     __m256d
#define UKR_LANES                 4
#define UKR_MASK                  __m256i
#define UKR_MASK_FOR(rows)        rows_mask_pd(rows)
#define UKR_LOAD(p)               _mm256_loadu_pd(p)
#define UKR_BCAST(x)              _mm256_set1_pd(x)
#define UKR_FMA(a, b, c)          _mm256_fmadd_pd(a, b, c)
#define UKR_MUL(a, b)             _mm256_mul_pd(a, b)
#define UKR_ZERO()                _mm256_setzero_pd()
#define UKR_MASKLOAD(mask, p)     _mm256_maskload_pd(p, mask)
#define UKR_MASKSTORE(p, mask, v) _mm256_maskstore_pd(p, mask, v)
#include "ukr_x86_impl.h"
#include "ukr_define.h"

#define NR 6

USINE_DEFINE_UKR(ukr_8x6, ukr_ymm, double, 2, NR)
USINE_DEFINE_UKR(ukr_4x6, ukr_ymm, double, 1, NR)
USINE_DEFINE_PACK(pack_8, double, 8)
USINE_DEFINE_PACK(pack_4, double, 4)
USINE_DEFINE_PACK(pack_6, double, NR)
USINE_DEFINE_GEMV(gemv, double)

USINE_DEFINE_EPILOGUE(epilogue, double, tanh, erf)

const usine_gemm_kernel usine_dgemm_cpu_avx2_8x6 = {
    .name = "usine_dgemm_cpu_avx2_8x6",
    .dtype = USINE_F64,
    .in_type = USINE_F64,
    .k_unit = 1,
    .isa = USINE_ISA_AVX2,
    .mr = 8,
    .nr = NR,
    .ukr = ukr_8x6,
    .ukr_bt = ukr_8x6_bt,
    .pack_a = pack_8,
    .pack_b = pack_6,
    .gemv = gemv,
    .epilogue = epilogue,
    .pack_convert = epilogue_pack,
    .n_edges = 1,
    .edges = {{4, ukr_4x6, ukr_4x6_bt, pack_4, NULL}},
};
