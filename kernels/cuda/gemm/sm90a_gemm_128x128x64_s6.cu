/* sm_90a GEMM, block tile 128 x 128 x 64 (two consumer warpgroups of m64n128k16), 6 stages
 * of 32 KiB: twice the tiles of 128 x 256 for products that do not fill the GPU with those
 * (see sm90a_gemm.cuh). */
#include "sm90a_gemm.cuh"

typedef usine_sm90::Tile<128, 6> usine_sm90_tile_128x128x64_s6;
USINE_SM90_GEMM_FAMILY(128x128x64_s6, usine_sm90_tile_128x128x64_s6)
