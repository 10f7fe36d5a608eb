/* AVX-512 attention microkernels: 48 queries (3 zmm) x 8 keys or head_dim columns. */
#include "attn_avx512_defs.h"
#include "attn_x86_impl.h"

const usine_attn_kernel usine_attn_fwd_f32_cpu_avx512_48x8 = {
    .name = "usine_attn_fwd_f32_cpu_avx512_48x8",
    .isa = USINE_ISA_AVX512,
    .mr = ATT_MR,
    .nr = ATT_NR,
    .scores = usine_attn_avx512_scores,
    .softmax = usine_attn_avx512_softmax,
    .pv = usine_attn_avx512_pv,
    .bwd_ds = usine_attn_avx512_bwd_ds,
    .dq = usine_attn_avx512_dq,
};
