/* sm_80 GEMM, block tile 128 x 256 x 32, 8 warps (2 x 4, warp tile 64 x 64: 4 x 8 mma tiles,
 * 128 f32 accumulators a thread), 3 stages: 90 KiB of shared memory, one block per SM at up
 * to 255 registers a thread. More reuse per byte loaded than 128 x 128, for very large
 * products; a candidate for the autotuner. Tested on an H200 (see sm80_gemm.cuh). */
#include "sm80_gemm.cuh"

typedef usine_sm80::Tile<128, 256, 32, 2, 4, 3, 1> usine_sm80_tile_128x256x32_s3;
USINE_SM80_GEMM_FAMILY(128x256x32_s3, usine_sm80_tile_128x256x32_s3)
