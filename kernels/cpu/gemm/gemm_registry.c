#include "gemm_registry.h"

#include <string.h>

extern const usine_gemm_kernel usine_sgemm_cpu_avx512_48x8, usine_sgemm_cpu_avx512_32x12,
    usine_sgemm_cpu_avx2_16x6, usine_sgemm_cpu_generic_8x4;
extern const usine_gemm_kernel usine_sbgemm_cpu_avx512bf16_48x8;
extern const usine_gemm_kernel usine_u8s8gemm_cpu_avx512vnni_48x8, usine_u8s8gemm_cpu_avx2_8x4,
    usine_u8s8gemm_cpu_generic_8x4;
extern const usine_gemm_kernel usine_dgemm_cpu_avx512_24x8, usine_dgemm_cpu_avx512_16x12,
    usine_dgemm_cpu_avx2_8x6, usine_dgemm_cpu_generic_4x4;

/* One line per kernel (kept that way: the tests read the names from this table). */
/* clang-format off */
const usine_gemm_kernel *const usine_gemm_registry[] = {
    &usine_sgemm_cpu_avx512_48x8,
    &usine_sgemm_cpu_avx512_32x12,
    &usine_sgemm_cpu_avx2_16x6,
    &usine_sgemm_cpu_generic_8x4,
    &usine_sbgemm_cpu_avx512bf16_48x8,
    &usine_u8s8gemm_cpu_avx512vnni_48x8,
    &usine_u8s8gemm_cpu_avx2_8x4,
    &usine_u8s8gemm_cpu_generic_8x4,
    &usine_dgemm_cpu_avx512_24x8,
    &usine_dgemm_cpu_avx512_16x12,
    &usine_dgemm_cpu_avx2_8x6,
    &usine_dgemm_cpu_generic_4x4,
    NULL,
};
/* clang-format on */

const usine_gemm_kernel *usine_gemm_kernel_by_name(const char *name)
{
    for (const usine_gemm_kernel *const *k = usine_gemm_registry; *k; k++)
        if (strcmp((*k)->name, name) == 0)
            return *k;
    return NULL;
}
