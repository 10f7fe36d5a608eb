#include "model.h"

#include "../kernels/cpu/gemm/gemm_driver.h"

/* Fractions of each cache level given to the packed block that should live there: the
 * rest holds the other operand's stream, C and whatever the caller keeps hot. Calibrated on
 * Zen 4 (32 KiB L1d, 1 MiB L2): f32 48x8 gets KC 640, MC 288; sweeping KC from 448 to
 * 1536 at fixed L2 use moved 2048^3 by less than the run-to-run noise (2%), with 512-640
 * slightly ahead. */
#define L1_SHARE_FOR_B_PANEL 0.625 /* KC x NR panel of B, reused by every A panel */
#define L2_SHARE_FOR_A_BLOCK 0.75  /* MC x KC block of A, reused by every B panel */
#define L3_SHARE_FOR_B_BLOCK 0.5   /* KC x NC block of B, reused by every A block */

static int64_t round_down(int64_t x, int64_t multiple, int64_t floor)
{
    x = x / multiple * multiple;
    return x < floor ? floor : x;
}

usine_gemm_blocking usine_model_gemm_blocking(const usine_topology *t,
                                              const usine_gemm_kernel *kernel)
{
    /* Sizes in bytes of the packed elements (bf16 pairs count as two k steps of 2 bytes). */
    const int64_t es = (int64_t)usine_dtype_storage_size(kernel->in_type);
    usine_gemm_blocking b = {0, 0, 0, 0};
    /* KC: the B micro-panel fills its share of L1; a multiple of 8 keeps panels aligned. */
    b.kc =
        round_down((int64_t)(t->l1d.size_bytes * L1_SHARE_FOR_B_PANEL) / (kernel->nr * es), 8, 64);
    /* MC: the packed A block fills its share of one core's L2. */
    const int64_t l2 = usine_cache_per_core(&t->l2);
    b.mc = round_down((int64_t)(l2 * L2_SHARE_FOR_A_BLOCK) / (b.kc * es), kernel->mr, kernel->mr);
    /* NC: each thread packs its own B block; they share L3 with the other cores. */
    const int64_t l3 = t->l3.size_bytes > 0 ? usine_cache_per_core(&t->l3) : l2;
    b.nc = round_down((int64_t)(l3 * L3_SHARE_FOR_B_BLOCK) / (b.kc * es), kernel->nr, kernel->nr);
    return b;
}
