/* sm_80 GEMM, block tile 64 x 64 x 32, 4 warps (2 x 2, warp tile 32 x 32: 2 x 4 mma tiles),
 * 4 stages: 40 KiB of shared memory, four blocks per SM at up to 128 registers a thread.
 * For products too small to give every SM a 128 x 128 tile.
 * Also the element-load kernels (any strides, any alignment) at 64 x 64 x 32, 2 stages.
 * Tested on an H200 (see sm80_gemm.cuh). */
#include "sm80_gemm.cuh"

typedef usine_sm80::Tile<64, 64, 32, 2, 2, 4, 4> usine_sm80_tile_64x64x32_s4;
USINE_SM80_GEMM_FAMILY(64x64x32_s4, usine_sm80_tile_64x64x32_s4)

typedef usine_sm80::Tile<64, 64, 32, 2, 2, 2, 4> usine_sm80_tile_64x64x32_s2;
USINE_SM80_GEMM_KERNEL(usine_gemm_cuda_sm80_bf16_64x64x32_scalar, __nv_bfloat16,
                       usine_sm80_tile_64x64x32_s2, false, true, true)
USINE_SM80_GEMM_KERNEL(usine_gemm_cuda_sm80_f16_64x64x32_scalar, __half,
                       usine_sm80_tile_64x64x32_s2, false, true, true)
extern "C" const usine_cuda_gemm_kernel usine_cuda_sm80_gemm_64x64x32_scalar[2] = {
    USINE_SM80_GEMM_ENTRY(usine_gemm_cuda_sm80_bf16_64x64x32_scalar, USINE_CUDA_BF16,
                          usine_sm80_tile_64x64x32_s2, 0, 1, 1),
    USINE_SM80_GEMM_ENTRY(usine_gemm_cuda_sm80_f16_64x64x32_scalar, USINE_CUDA_F16,
                          usine_sm80_tile_64x64x32_s2, 0, 1, 1)};
