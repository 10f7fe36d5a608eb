/* sm_90a attention forward (wgmma, warp-specialised), head_dim 128: 128 query rows (two
 * consumer warpgroups of 64) and a producer warpgroup, 128-key tiles, K and V in rings of
 * three stages (see sm90a_attention.cuh). bf16 and f16. */
#include "sm90a_attention.cuh"

USINE_SM90_ATTN_FWD_FAMILY(128, 128, 3)
