/* sm_90a attention forward (wgmma), head_dim 64: 128 query rows (two warpgroups of 64),
 * 128-key tiles, K in two stages and V in three (see sm90a_attention.cuh). bf16 and f16. */
#include "sm90a_attention.cuh"

USINE_SM90_ATTN_FWD_FAMILY(64, 128)
