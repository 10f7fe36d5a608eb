/* sm_90a GEMM, block tile 128 x 256 x 64 (two consumer warpgroups of m64n256k16: 128 f32
 * accumulators a thread), 4 stages of 48 KiB: the large products (see sm90a_gemm.cuh). */
#include "sm90a_gemm.cuh"

typedef usine_sm90::Tile<256, 4> usine_sm90_tile_128x256x64_s4;
USINE_SM90_GEMM_FAMILY(128x256x64_s4, usine_sm90_tile_128x256x64_s4)
