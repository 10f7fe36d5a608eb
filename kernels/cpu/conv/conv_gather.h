/*
 * The implicit im2col matrices of the GEMM-based convolutions, packed block by block
 * straight from a tensor into the GEMM kernel's f32 panels (usine_gemm_virtual_pack_fn):
 * zero padding, strides, dilation, bf16 conversion and the sub-sampled phases of the
 * backward-data pass all happen while packing, and the whole matrix never exists.
 *
 * Geometry: a grid of output positions (y, x), y < grid_h, x < grid_w, per image, and
 * taps (t, u), t < taps_h, u < taps_w. Position (y, x) and tap (t, u) read the source at
 *   row = y * step_h + base_h + t * tap_h,   column = x * step_w + base_w + u * tap_w
 * (zero outside [0, src_h) x [0, src_w)), channels c0 .. c0 + channels - 1 of the source's
 * src_c. The forward's im2col is step = stride, base = -pad, tap = dilation; a backward-data
 * phase reads dy with step 1 and a (possibly negative) tap step.
 */
#ifndef USINE_KERNELS_CPU_CONV_GATHER_H
#define USINE_KERNELS_CPU_CONV_GATHER_H

#include <stdint.h>

#include "usine.h"
#include "../gemm/gemm_driver.h"

typedef struct usine_conv_gather {
    const void *src;
    usine_dtype type; /* USINE_F32 or USINE_BF16 */
    usine_conv_layout layout;
    int64_t images, src_h, src_w, src_c;
    int64_t c0, channels;
    int64_t grid_h, grid_w, step_h, step_w, base_h, base_w;
    int64_t taps_h, taps_w, tap_h, tap_w;
    /* Positions_by_taps only: positions run (y, n, x), the grid row outermost, instead of
     * (n, y, x); the rows [lo, hi) of every image are then one range of positions (the
     * filters_b forward's GEMM per filter row over the output rows it reaches). */
    int rows_outer;
} usine_conv_gather;

/*
 * Packers (ctx: a usine_conv_gather):
 *   positions_by_taps: rows = grid positions, columns = (t, u, c), c fastest (NHWC's KRSC
 *     order); positions run over every image (n, y, x); `item` is unused.
 *   positions_by_channels: rows = positions of image `item`, columns = (c, t, u) (NCHW's
 *     KCRS order).
 *   taps_by_positions: rows = (t, u, c) (NHWC) or (c, t, u) (NCHW), columns = positions
 *     over every image: the transposed im2col of the backward-weights pass.
 */
usine_gemm_virtual_pack_fn usine_conv_pack_positions_by_taps;
usine_gemm_virtual_pack_fn usine_conv_pack_positions_by_channels;
usine_gemm_virtual_pack_fn usine_conv_pack_taps_by_positions;

#endif
