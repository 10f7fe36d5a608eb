/* sm_80 attention forward (FlashAttention-2), head_dim 64: 128 query rows (8 warps x 16),
 * 32-key tiles (64-key tiles spilled a few bytes at this register cap, ptxas 13.0), two
 * stages: 36 KiB of shared memory, two blocks per SM at up to 128 registers a thread.
 * bf16 and f16. Tested on an H200 (see sm80_attention.cuh). */
#include "sm80_attention.cuh"

typedef usine_sm80_attn::FwdTile<64, 32, 8, 2> usine_sm80_attn_fwd_tile_d64;
USINE_SM80_ATTN_FWD_KERNEL(usine_attn_fwd_cuda_sm80_bf16_d64_128x32, __nv_bfloat16,
                           usine_sm80_attn_fwd_tile_d64)
USINE_SM80_ATTN_FWD_KERNEL(usine_attn_fwd_cuda_sm80_f16_d64_128x32, __half,
                           usine_sm80_attn_fwd_tile_d64)
extern "C" const usine_cuda_attn_kernel usine_cuda_sm80_attn_fwd_d64[2] = {
    USINE_SM80_ATTN_ENTRY(usine_attn_fwd_cuda_sm80_bf16_d64_128x32, USINE_CUDA_ATTN_FWD,
                          USINE_CUDA_BF16, usine_sm80_attn_fwd_tile_d64, 128),
    USINE_SM80_ATTN_ENTRY(usine_attn_fwd_cuda_sm80_f16_d64_128x32, USINE_CUDA_ATTN_FWD,
                          USINE_CUDA_F16, usine_sm80_attn_fwd_tile_d64, 128)};
