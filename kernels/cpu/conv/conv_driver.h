/*
 * CPU 2-D convolution: the algorithms behind usine_conv2d_* (core/conv.c checks the
 * arguments and chooses). Each algorithm serves some passes and shapes (supports), says
 * how much workspace it needs (workspace_size) and runs (run); the GEMM-based ones run the
 * CPU GEMM driver with the kernel and blocking core/ chose (a usine_gemm_plan), the
 * im2col matrix being a virtual operand packed straight from the tensors.
 */
#ifndef USINE_KERNELS_CPU_CONV_DRIVER_H
#define USINE_KERNELS_CPU_CONV_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "usine.h"
#include "../cpu_isa.h"
#include "../gemm/gemm_driver.h"

/* A checked convolution: every size >= 1 except n >= 0, p and q the output size. */
typedef struct usine_conv_problem {
    usine_dtype dtype; /* USINE_F32 or USINE_BF16 */
    usine_conv_layout layout;
    int64_t n, c, h, w, k, r, s, p, q;
    int64_t stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, groups;
    const float *bias; /* forward only, or NULL */
    usine_activation activation;
    /* Forward: the caller packed the filters into the direct variant's panels
     * (usine_conv2d_pack_filters), so that variant packs nothing per call; for the rule. */
    int panels_packed;
} usine_conv_problem;

typedef enum usine_conv_algo {
    USINE_CONV_ALGO_GEMM1X1 = 0,   /* 1x1, stride 1, no padding: GEMMs on the tensors */
    USINE_CONV_ALGO_IMPLICIT_GEMM, /* any shape: GEMMs with a virtual im2col operand */
    USINE_CONV_ALGO_DEPTHWISE,     /* groups == in_channels > 1: direct, channels in lanes */
    USINE_CONV_ALGO_COUNT
} usine_conv_algo;

/* How a GEMM-based algorithm arranges its GEMMs (a parameter the tuner chooses):
 *   plain: as conv_gemm.c's header describes;
 *   filters_b (forward, NHWC, f32): the roles swapped, the filters as the B operand read in
 *     place, y transposed through the workspace (few output positions, large filters);
 *   tap_split (backward data, NHWC, f32): one GEMM per filter tap, the filters read as A
 *     straight from the tensor (no transposed, flipped copy; for filters that outweigh dx),
 *     the sums accumulated in dx (stride 1) or in each stride phase's temporary;
 *   direct (forward, NHWC, f32, groups 1, undilated along w): x read in place by the
 *     microkernel, one call per tile summing every filter row, no im2col panels, no padding
 *     multiplied (conv_direct.c); backward data too, as the forward of dy with the
 *     filters turned half a turn, one per stride phase written straight into dx (each
 *     phase's dilation along w 1);
 *   winograd (forward, NHWC, f32, 3x3, stride 1, undilated, groups 1): Winograd's
 *     F(2x2, 3x3), 16 GEMMs over the channels between additive transforms
 *     (conv_winograd.c; its error bound is include/usine.h's). */
typedef enum usine_conv_variant {
    USINE_CONV_VARIANT_PLAIN = 0,
    USINE_CONV_VARIANT_FILTERS_B,
    USINE_CONV_VARIANT_TAP_SPLIT,
    USINE_CONV_VARIANT_DIRECT,
    USINE_CONV_VARIANT_WINOGRAD,
    USINE_CONV_VARIANT_COUNT
} usine_conv_variant;

/* The tensors of a pass (those it does not use are NULL). From usine_conv2d_pack_filters,
 * or NULL: wt, the forward's filters already transposed (usine_conv_gemm_transpose_filters;
 * the NHWC GEMM forward otherwise reads w instead of transposing it); panels, the direct
 * variant's panels for the exec's kernel (usine_conv_direct_pack_panels; that variant
 * otherwise packs them from w at every call). */
typedef struct usine_conv_tensors {
    const void *x, *w, *dy;
    void *y, *dx, *dw;
    float *dbias;
    const float *wt, *panels;
} usine_conv_tensors;

/* How a pass runs: the GEMM plan (an f32 kernel with k_unit 1; max_threads threads) and
 * the ISA for the direct kernels. */
typedef struct usine_conv_exec {
    usine_gemm_plan gemm;
    usine_cpu_isa isa;
    /* The GEMMs' arrangement; only where usine_cpu_conv_variant_serves. */
    usine_conv_variant variant;
} usine_conv_exec;

/* "gemm1x1", "implicit_gemm", "depthwise". */
const char *usine_cpu_conv_algo_short_name(usine_conv_algo algo);

int usine_cpu_conv_supports(usine_conv_algo algo, usine_conv_pass pass,
                            const usine_conv_problem *p);

/* The forward convolution the direct variant runs for a stride-1 backward data: dy with the
 * filters turned half a turn (conv_direct.c); with strides, each phase runs this forward
 * with its own taps, pixels and padding. */
usine_conv_problem usine_conv_direct_backward_problem(const usine_conv_problem *p);

/* "" (plain), "filters_b", "tap_split", "direct", "winograd". */
const char *usine_cpu_conv_variant_name(usine_conv_variant variant);

/* Whether the algorithm runs the pass and problem in this variant. */
int usine_cpu_conv_variant_serves(usine_conv_algo algo, usine_conv_variant variant,
                                  usine_conv_pass pass, const usine_conv_problem *p);

/* The largest GEMM the algorithm runs for the pass (m, n, k of the driver's column-major
 * view), for the choice of the GEMM kernel; 0 x 0 x 0 when it runs none. */
void usine_cpu_conv_gemm_dims(usine_conv_algo algo, usine_conv_variant variant,
                              usine_conv_pass pass, const usine_conv_problem *p, int64_t dims[3]);

/* Bytes of workspace (64-byte aligned) the pass needs with exec->gemm.max_threads threads
 * at most. */
size_t usine_cpu_conv_workspace_size(usine_conv_algo algo, usine_conv_pass pass,
                                     const usine_conv_problem *p, const usine_conv_exec *exec);

/* Runs the pass; workspace: 64-byte aligned, usine_cpu_conv_workspace_size bytes. */
void usine_cpu_conv_run(usine_conv_algo algo, usine_conv_pass pass, const usine_conv_problem *p,
                        const usine_conv_exec *exec, const usine_conv_tensors *t, void *workspace);

/* Whether the direct variant's microkernel calls on `kernel` run long enough for the
 * sums they store: at least 128 floats of filter per tile, over all filter rows where
 * the kernel sums segments (ukr_segs), else per filter row (each row's call stores the
 * tile). The default rule's bar, and the packed filters' for holding the panels. */
int usine_conv_direct_runs_long(const usine_conv_problem *p, const usine_gemm_kernel *kernel);

/* The direct variant's filter panels (the forward's, NHWC f32 KRSC filters, groups 1) for
 * a kernel: their bytes (0 where the variant cannot run on that kernel), and the packing on
 * `threads` threads (register transposes where isa has AVX-512) into `panels` (64-byte aligned).
 * They depend on K, R, S, C and the kernel only (usine_conv_tensors.panels; conv_direct.c). */
size_t usine_conv_direct_panels_size(const usine_conv_problem *p, const usine_gemm_kernel *kernel);
void usine_conv_direct_pack_panels(const usine_conv_problem *p, const usine_gemm_kernel *kernel,
                                   usine_cpu_isa isa, int threads, const float *w, float *panels);

/* The backward data's direct panels (usine_conv2d_pack_filters_backward_data): the turned
 * filters of every stride phase some tap reaches, in phase order, each 64-byte aligned. They
 * depend on K, R, S, C, the strides, pad_top, pad_left, the dilations and the kernel, not on
 * the batch or image size; 0 bytes where the direct backward data cannot run on that kernel
 * (usine_conv_tensors.panels with panels_packed; conv_direct.c). */
size_t usine_conv_direct_backward_panels_size(const usine_conv_problem *p,
                                              const usine_gemm_kernel *kernel);
void usine_conv_direct_backward_pack_panels(const usine_conv_problem *p,
                                            const usine_gemm_kernel *kernel, usine_cpu_isa isa,
                                            int threads, const float *w, float *panels);

/* The filters, K x taps (taps = R S Cg; f32 or bf16), transposed to f32 wt[tap K + k] on
 * `threads` threads (register transposes where isa has AVX-512): the forward's GEMM operand
 * A with its columns contiguous (usine_conv_tensors.wt; conv_gemm.c). */
void usine_conv_gemm_transpose_filters(const usine_conv_problem *p, usine_cpu_isa isa, int threads,
                                       const void *w, float *wt);

#endif
