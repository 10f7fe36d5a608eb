/* sm_90a GEMM, block tile 64 x 256 x 64 (two consumer warpgroups of m64n128k16 on the same 64
 * rows, 128 columns each), 5 stages of 40 KiB: for products of few rows (decode steps,
 * m <= 64), where a 128-row tile spends half its tensor-core time on rows that are not there
 * and the SM, not the memory, sets the pace (see sm90a_gemm.cuh). */
#include "sm90a_gemm.cuh"

typedef usine_sm90::Tile<256, 5, 64> usine_sm90_tile_64x256x64_s5;
USINE_SM90_GEMM_FAMILY(64x256x64_s5, usine_sm90_tile_64x256x64_s5)
