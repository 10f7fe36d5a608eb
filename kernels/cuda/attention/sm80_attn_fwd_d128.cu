/* sm_80 attention forward (FlashAttention-2), head_dim 128: 128 query rows (8 warps x 16),
 * 64-key tiles, two stages: 102 KiB of shared memory, one block (8 warps) per SM at up to
 * 255 registers a thread. bf16 and f16. Tested on an H200 (see sm80_attention.cuh). */
#include "sm80_attention.cuh"

typedef usine_sm80_attn::FwdTile<128, 64, 8, 1> usine_sm80_attn_fwd_tile_d128;
USINE_SM80_ATTN_FWD_KERNEL(usine_attn_fwd_cuda_sm80_bf16_d128_128x64, __nv_bfloat16,
                           usine_sm80_attn_fwd_tile_d128)
USINE_SM80_ATTN_FWD_KERNEL(usine_attn_fwd_cuda_sm80_f16_d128_128x64, __half,
                           usine_sm80_attn_fwd_tile_d128)
extern "C" const usine_cuda_attn_kernel usine_cuda_sm80_attn_fwd_d128[2] = {
    USINE_SM80_ATTN_ENTRY(usine_attn_fwd_cuda_sm80_bf16_d128_128x64, USINE_CUDA_ATTN_FWD,
                          USINE_CUDA_BF16, usine_sm80_attn_fwd_tile_d128, 128),
    USINE_SM80_ATTN_ENTRY(usine_attn_fwd_cuda_sm80_f16_d128_128x64, USINE_CUDA_ATTN_FWD,
                          USINE_CUDA_F16, usine_sm80_attn_fwd_tile_d128, 128)};
