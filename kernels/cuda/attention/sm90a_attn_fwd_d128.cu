/* sm_90a attention forward (wgmma), head_dim 128: 128 query rows (two warpgroups of 64),
 * 128-key tiles, K in two stages and V in three (see sm90a_attention.cuh). bf16 and f16. */
#include "sm90a_attention.cuh"

typedef usine_sm90_attn::FwdTile<128, 128> usine_sm90_attn_fwd_tile_d128;
USINE_SM90_ATTN_FWD_KERNEL(usine_attn_fwd_cuda_sm90a_bf16_d128_128x128, __nv_bfloat16,
                           usine_sm90_attn_fwd_tile_d128)
USINE_SM90_ATTN_FWD_KERNEL(usine_attn_fwd_cuda_sm90a_f16_d128_128x128, __half,
                           usine_sm90_attn_fwd_tile_d128)
extern "C" const usine_cuda_attn_kernel usine_cuda_sm90a_attn_fwd_d128[2] = {
    USINE_SM90_ATTN_ENTRY(usine_attn_fwd_cuda_sm90a_bf16_d128_128x128, USINE_CUDA_BF16,
                          usine_sm90_attn_fwd_tile_d128),
    USINE_SM90_ATTN_ENTRY(usine_attn_fwd_cuda_sm90a_f16_d128_128x128, USINE_CUDA_F16,
                          usine_sm90_attn_fwd_tile_d128)};
