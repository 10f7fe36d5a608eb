/* sm_80 GEMM, block tile 128 x 128 x 32, 8 warps (2 x 4, warp tile 64 x 32: 4 x 4 mma tiles,
 * 64 f32 accumulators a thread), 4 stages: 80 KiB of shared memory, two blocks per SM on an
 * A100 (164 KiB) at up to 128 registers a thread. The default for large products.
 * Tested on an H200 (see sm80_gemm.cuh). */
#include "sm80_gemm.cuh"

typedef usine_sm80::Tile<128, 128, 32, 2, 4, 4, 2> usine_sm80_tile_128x128x32_s4;
USINE_SM80_GEMM_FAMILY(128x128x32_s4, usine_sm80_tile_128x128x32_s4)
