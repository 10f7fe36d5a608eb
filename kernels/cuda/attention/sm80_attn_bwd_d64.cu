/* sm_80 attention backward (FlashAttention-2 with a separate dQ pass, see
 * sm80_attention_bwd.cuh), head_dim 64, bf16 and f16: the delta pass (256 threads, 32 rows a
 * block), the dK/dV pass (64 keys = 4 warps x 16 a block, 32-query tiles, two stages) and the
 * dQ pass (64 query rows = 4 warps x 16, 32-key tiles, two stages), 3 blocks per SM intended
 * for the latter two. Tested on an H200 (see sm80_attention_bwd.cuh). */
#include "sm80_attention_bwd.cuh"

typedef usine_sm80_attn::PrepTile<64> usine_sm80_attn_prep_d64;
typedef usine_sm80_attn::BwdTile<64, 32, 4, 3> usine_sm80_attn_bwd_tile_d64;

USINE_SM80_ATTN_BWD_KERNEL(usine_attn_bwd_prep_cuda_sm80_bf16_d64, prep_body, __nv_bfloat16,
                           usine_sm80_attn_prep_d64)
USINE_SM80_ATTN_BWD_KERNEL(usine_attn_bwd_prep_cuda_sm80_f16_d64, prep_body, __half,
                           usine_sm80_attn_prep_d64)
USINE_SM80_ATTN_BWD_KERNEL(usine_attn_bwd_dkdv_cuda_sm80_bf16_d64_64x32, dkdv_body, __nv_bfloat16,
                           usine_sm80_attn_bwd_tile_d64)
USINE_SM80_ATTN_BWD_KERNEL(usine_attn_bwd_dkdv_cuda_sm80_f16_d64_64x32, dkdv_body, __half,
                           usine_sm80_attn_bwd_tile_d64)
USINE_SM80_ATTN_BWD_KERNEL(usine_attn_bwd_dq_cuda_sm80_bf16_d64_64x32, dq_body, __nv_bfloat16,
                           usine_sm80_attn_bwd_tile_d64)
USINE_SM80_ATTN_BWD_KERNEL(usine_attn_bwd_dq_cuda_sm80_f16_d64_64x32, dq_body, __half,
                           usine_sm80_attn_bwd_tile_d64)

extern "C" const usine_cuda_attn_kernel usine_cuda_sm80_attn_bwd_d64[6] = {
    USINE_SM80_ATTN_ENTRY(usine_attn_bwd_prep_cuda_sm80_bf16_d64, USINE_CUDA_ATTN_BWD_PREP,
                          USINE_CUDA_BF16, usine_sm80_attn_prep_d64,
                          usine_sm80_attn_prep_d64::ROWS),
    USINE_SM80_ATTN_ENTRY(usine_attn_bwd_prep_cuda_sm80_f16_d64, USINE_CUDA_ATTN_BWD_PREP,
                          USINE_CUDA_F16, usine_sm80_attn_prep_d64, usine_sm80_attn_prep_d64::ROWS),
    USINE_SM80_ATTN_ENTRY(usine_attn_bwd_dkdv_cuda_sm80_bf16_d64_64x32, USINE_CUDA_ATTN_BWD_DKDV,
                          USINE_CUDA_BF16, usine_sm80_attn_bwd_tile_d64, 64),
    USINE_SM80_ATTN_ENTRY(usine_attn_bwd_dkdv_cuda_sm80_f16_d64_64x32, USINE_CUDA_ATTN_BWD_DKDV,
                          USINE_CUDA_F16, usine_sm80_attn_bwd_tile_d64, 64),
    USINE_SM80_ATTN_ENTRY(usine_attn_bwd_dq_cuda_sm80_bf16_d64_64x32, USINE_CUDA_ATTN_BWD_DQ,
                          USINE_CUDA_BF16, usine_sm80_attn_bwd_tile_d64, 64),
    USINE_SM80_ATTN_ENTRY(usine_attn_bwd_dq_cuda_sm80_f16_d64_64x32, USINE_CUDA_ATTN_BWD_DQ,
                          USINE_CUDA_F16, usine_sm80_attn_bwd_tile_d64, 64)};
