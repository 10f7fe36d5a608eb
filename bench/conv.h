/*
 * Conv lines of a suite: usine_conv2d_forward, _backward_data or _backward_weights (the line's
 * pass) against two peers, each timed in its own child (child.h) on the same inputs:
 *   - oneDNN's convolution primitive (onednn_conv.h), created once per shape, untimed; only
 *     execute + wait is timed; its implementation's name is reported;
 *   - im2col + OpenBLAS sgemm, what a framework without convolution kernels does (Caffe's
 *     scheme): per group, the input patches of a chunk of images are copied into a
 *     (images P Q) x (R S C') matrix (im2col) and multiplied by the filters with one
 *     cblas_sgemm; backward data multiplies dy by the filters and scatters the patches back
 *     (col2im); backward weights multiplies dy^T by the patches, chunk after chunk. Chunks
 *     keep the patch matrix near 64 MiB; the copies are split over the run's threads.
 * Tensors are NHWC with KRSC filters (usine's and oneDNN's native channels-last layout);
 * bf16 lines give usine bf16 tensors and read its bf16 output, oneDNN bf16 inputs and an f32
 * output, and the baseline f32 copies of the inputs made before timing.
 */
#ifndef USINE_BENCH_CONV_H
#define USINE_BENCH_CONV_H

#include "jobs.h"

typedef struct usine_bench_conv_job {
    const usine_bench_case *bcase;
    int threads;
    int lib;               /* USINE_BENCH_USINE, 1 + USINE_PEER_ONEDNN or USINE_BENCH_IM2COL */
    const void *in0, *in1; /* what the pass reads, the line's dtype: x and w (forward), dy and
                              w (backward data), x and dy (backward weights) */
    void *out;             /* shared with the parent: y, dx or dw; usine's in the line's
                              dtype, the peers' in f32 */
    usine_bench_timing timing;
} usine_bench_conv_job;

/* Output: a usine_bench_gemm_out (detail: usine's algorithm, oneDNN's implementation, or the
 * baseline's calls). */
void usine_bench_conv_child(void *arg, void *out);

/* Elements of x, w and y of a line (NHWC, KRSC), and of the pass's two inputs and output. */
void usine_bench_conv_counts(const usine_bench_case *c, size_t *nx, size_t *nw, size_t *ny);
void usine_bench_conv_pass_counts(const usine_bench_case *c, size_t *in0, size_t *in1, size_t *out);

/* Compares usine's output (the line's dtype) with a peer's f32 one. Both are within
 * (L + 2) u sum |terms| of the exact result, L the terms of an output element (C' R S
 * forward, K' R S backward data, N P Q backward weights), and sum |terms| <= L max |in0|
 * max |in1|: the difference divided by L max |in0| max |in1| is allowed 2 (L + 2) u_f32, plus
 * 2^-8 when usine rounds its output to bf16. worst_item is the image (forward, backward data)
 * or the output channel (backward weights), worst_i the offset within it. Returns -1 on bad
 * arguments. */
int usine_bench_conv_compare(const usine_bench_case *c, const void *in0, const void *in1,
                             const void *out_usine, const float *out_ref, usine_bench_check *out);

#endif
