/* Pieces shared by the CPU convolution files (not part of the conv driver's interface). */
#ifndef USINE_KERNELS_CPU_CONV_INTERNAL_H
#define USINE_KERNELS_CPU_CONV_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "conv_driver.h"

/* 1x1, stride 1, no padding: the GEMM operands are the tensors themselves. */
int usine_conv_is_pointwise(const usine_conv_problem *p);

/* dbias[k] = sum of dy over n, p, q (in that order, threads split the channels). */
void usine_conv_bias_gradient(const usine_conv_problem *p, const void *dy, float *dbias,
                              int threads);

/* The GEMM-based algorithms (conv_gemm.c): gemm1x1 and implicit_gemm. */
size_t usine_conv_gemm_workspace_size(usine_conv_algo algo, usine_conv_pass pass,
                                      const usine_conv_problem *p, const usine_conv_exec *exec);
void usine_conv_gemm_run(usine_conv_algo algo, usine_conv_pass pass, const usine_conv_problem *p,
                         const usine_conv_exec *exec, const usine_conv_tensors *t, void *workspace);

/* AVX-512 (avx512_conv_pack.c): dst[j ld_dst + i] = src[i ld_src + j] for a rows x cols f32
 * matrix, and the NHWC f32 positions_by_taps packer for 8-wide panels (other cases go to
 * usine_conv_pack_positions_by_taps). */
void usine_conv_avx512_transpose_f32(const float *src, int64_t ld_src, int64_t rows, int64_t cols,
                                     float *dst, int64_t ld_dst);
usine_gemm_virtual_pack_fn usine_conv_avx512_pack_positions_by_taps;

/* A row-major f32 matrix (row i at data + i * ld), as the ctx of
 * usine_conv_avx512_pack_rows: the A panels of X(i, p) = data[i ld + p], transposed in
 * registers (the KRSC filters as the NHWC forward's A, without a transposed copy). */
typedef struct usine_conv_matrix {
    const float *data;
    int64_t ld;
} usine_conv_matrix;
usine_gemm_virtual_pack_fn usine_conv_avx512_pack_rows;

/* The forward NHWC with x read in place by the microkernel (conv_direct.c): the
 * implicit_gemm algorithm's direct variant. */
int usine_conv_direct_serves(const usine_conv_problem *p, const usine_gemm_kernel *kernel);
size_t usine_conv_direct_workspace_size(const usine_conv_problem *p, const usine_conv_exec *exec);
void usine_conv_direct_run(const usine_conv_problem *p, const usine_conv_exec *exec,
                           const usine_conv_tensors *t, void *workspace);
/* The filter taps that reach the dx pixels of one stride phase along one axis (the backward
 * data): pixel i * stride + phase reads output i + base + t * step for taps
 * r = first + t * every, t < count (every: stride / gcd(stride, dilation); the dy offsets
 * then fall by every * dilation / stride per tap); count 0: no tap reaches the phase.
 * usine_conv_taps_of_phase (conv_gemm.c) finds them. */
typedef struct usine_conv_phase_taps {
    int64_t first, every, count, base, step;
    int64_t pixels; /* dx pixels of the phase along the axis */
} usine_conv_phase_taps;
usine_conv_phase_taps usine_conv_taps_of_phase(int64_t phase, int64_t size, int64_t filter,
                                               int64_t stride, int64_t pad, int64_t dilation);

/* The backward data as that forward on dy with the filters turned, one forward per stride
 * phase (conv_direct.c): the direct variant of the backward data
 * (usine_conv_direct_backward_problem, the stride-1 forward it runs, is in conv_driver.h). */
int usine_conv_direct_backward_serves(const usine_conv_problem *p, const usine_gemm_kernel *kernel);
size_t usine_conv_direct_backward_workspace_size(const usine_conv_problem *p,
                                                 const usine_conv_exec *exec);
void usine_conv_direct_backward_run(const usine_conv_problem *p, const usine_conv_exec *exec,
                                    const usine_conv_tensors *t, void *workspace);

/* The NHWC f32 weight gradient with dy and x read in place (conv_direct_weights.c): the
 * direct variant of the backward weights. */
int usine_conv_direct_weights_serves(const usine_conv_problem *p, const usine_gemm_kernel *kernel);
size_t usine_conv_direct_weights_workspace_size(const usine_conv_problem *p,
                                                const usine_conv_exec *exec);
void usine_conv_direct_weights_run(const usine_conv_problem *p, const usine_conv_exec *exec,
                                   const usine_conv_tensors *t, void *workspace);

/* The forward 3x3 stride-1 NHWC f32 by Winograd F(2x2, 3x3) (conv_winograd.c): the
 * implicit_gemm algorithm's winograd variant. */
int usine_conv_winograd_serves(const usine_conv_problem *p);
void usine_conv_winograd_gemm_dims(const usine_conv_problem *p, int64_t dims[3]);
size_t usine_conv_winograd_workspace_size(const usine_conv_problem *p, const usine_conv_exec *exec);
void usine_conv_winograd_run(const usine_conv_problem *p, const usine_conv_exec *exec,
                             const usine_conv_tensors *t, void *workspace);

/* The depthwise kernels of one ISA (depthwise_impl.h); scratch sizes in floats are in
 * the comments there, at most 3 * max(K, C) + Q + W. */
typedef struct usine_conv_dw_kernels {
    void (*forward_nhwc_row)(const usine_conv_problem *p, const void *x, const float *wt, void *y,
                             int64_t n, int64_t oh, float *scratch);
    void (*forward_nchw_plane)(const usine_conv_problem *p, const void *x, const void *w, void *y,
                               int64_t n, int64_t k, float *scratch);
    void (*backward_data_nhwc_row)(const usine_conv_problem *p, const void *dy, const float *wt,
                                   void *dx, int64_t n, int64_t h, float *scratch);
    void (*backward_data_nchw_plane)(const usine_conv_problem *p, const void *dy, const void *w,
                                     void *dx, int64_t n, int64_t c, float *scratch);
    void (*backward_weights_nhwc)(const usine_conv_problem *p, const void *x, const void *dy,
                                  int64_t k0, int64_t k1, float *acc, float *scratch);
    void (*backward_weights_nchw)(const usine_conv_problem *p, const void *x, const void *dy,
                                  int64_t k, float *acc);
} usine_conv_dw_kernels;

extern const usine_conv_dw_kernels usine_conv_dw_generic_kernels, usine_conv_dw_avx2_kernels,
    usine_conv_dw_avx512_kernels;

/* The outputs o in [0, count) whose input o stride + offset lies in [0, size) (stride > 0,
 * offset of any sign): [*lo, *hi), lo == hi when none. Every direct and implicit-GEMM path
 * uses it to leave out the taps, rows or positions that would read padding. */
static inline void usine_conv_inside(int64_t count, int64_t stride, int64_t offset, int64_t size,
                                     int64_t *lo, int64_t *hi)
{
    /* ceil(-offset / stride) and ceil((size - offset) / stride), truncating division made
     * to round up for either sign */
    const int64_t a = -offset, b = size - offset;
    int64_t l = a > 0 ? (a + stride - 1) / stride : -(-a / stride);
    int64_t h = b > 0 ? (b + stride - 1) / stride : -(-b / stride);
    l = l < 0 ? 0 : l > count ? count : l;
    h = h < l ? l : h > count ? count : h;
    *lo = l;
    *hi = h;
}

/* The depthwise algorithm (conv_depthwise.c). */
size_t usine_conv_depthwise_workspace_size(usine_conv_pass pass, const usine_conv_problem *p,
                                           const usine_conv_exec *exec);
void usine_conv_depthwise_run(usine_conv_pass pass, const usine_conv_problem *p,
                              const usine_conv_exec *exec, const usine_conv_tensors *t,
                              void *workspace);

#endif
