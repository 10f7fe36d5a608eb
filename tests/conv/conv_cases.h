/*
 * What the convolution tests share: the case description, the tensors of a case with guard
 * zones, element access in both layouts and both dtypes (bf16 rounded here, to nearest even,
 * by frexp/ldexp rather than bit tricks, so that it checks the library's rounding), the
 * long double reference of the three passes with the magnitude sum |terms| of every element,
 * the elementwise check against it, workspaces of exactly the queried size with guards, and
 * the case lists that sweep the options.
 *
 * Tolerance of an element (conv_tolerance): the f32 sums of L products (exact in f32 for bf16
 * inputs) in any order, plus the bias and the final rounding, are within
 *   (L + 2) u sum |terms|,  u = 2^-24,
 * of the exact value (Higham, Accuracy and Stability 3.1, first order); a bf16 output is then
 * rounded once more, within 2^-9 of its f32 value: 2^-8 |ref| + 2^-8 (L + 2) u sum |terms| covers
 * it. L: C' R S (forward), the (k, r, s) terms reaching a dx element (backward data), N P Q
 * (backward weights and dbias).
 */
#ifndef USINE_CONV_CASES_H
#define USINE_CONV_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "test_util.h"

#define CONV_U 0x1p-24

typedef struct conv_case {
    usine_dtype dtype;
    usine_conv_layout layout;
    int64_t n, c, h, w, k, r, s;
    int64_t stride_h, stride_w;
    int64_t pad_t, pad_b, pad_l, pad_r;
    int64_t dil_h, dil_w;
    int64_t groups;
    int bias; /* forward: a random bias */
    usine_activation act;
} conv_case;

/* Sizes derived from a case. */
typedef struct conv_geom {
    int64_t p, q;       /* output height and width (0 when the filter does not fit) */
    int64_t cg, kg;     /* channels per group: C' = c / groups, K' = k / groups */
    int64_t nx, nw, ny; /* elements of x (and dx), w (and dw), y (and dy) */
} conv_geom;

conv_geom conv_geometry(const conv_case *c);

/* The descriptor of a case (bias pointer NULL: conv_make_tensors sets it). */
usine_conv2d_desc conv_desc(const conv_case *c);

/* Offsets of x[n, c, h, w], w[k, c', r, s] and y[n, k, p, q] in the case's layout. */
int64_t conv_x_at(const conv_case *c, const conv_geom *g, int64_t n, int64_t ch, int64_t h,
                  int64_t w);
int64_t conv_w_at(const conv_case *c, const conv_geom *g, int64_t k, int64_t cc, int64_t r,
                  int64_t s);
int64_t conv_y_at(const conv_case *c, const conv_geom *g, int64_t n, int64_t k, int64_t p,
                  int64_t q);

/* Element i of a stored tensor of a dtype, and a value rounded to it and stored. */
double conv_get(usine_dtype dtype, const void *x, int64_t i);
void conv_put(usine_dtype dtype, void *x, int64_t i, double v);
/* v rounded to bf16, nearest, ties to even. */
double conv_round_bf16(double v);
size_t conv_esize(usine_dtype dtype);

/* Every tensor of a case, each with guard zones (test_buffer). Inputs random in [-1, 1);
 * outputs filled with NaN, which an element left unwritten keeps. */
typedef struct conv_tensors {
    conv_case c;
    conv_geom g;
    usine_conv2d_desc desc;
    test_buffer x, w, y, dy, dx, dw, bias, dbias;
} conv_tensors;

void conv_make_tensors(const conv_case *c, conv_tensors *t);
void conv_free_tensors(conv_tensors *t);
/* Fills an output (of its dtype: the case's, or f32 for dbias) with NaN again. */
void conv_poison(test_buffer *b, usine_dtype dtype);

/* The workspace of a pass, exactly the queried size (0xff bytes, guard zones after it);
 * data is what to pass (NULL when the size is 0). */
typedef struct conv_workspace {
    test_buffer buf;
    void *data;
    size_t size;
} conv_workspace;

usine_status conv_workspace_get(usine_context *ctx, const usine_conv2d_desc *d,
                                usine_conv_pass pass, conv_workspace *ws);
/* Checks the guards (a CHECK naming `what`) and frees. */
void conv_workspace_release(conv_workspace *ws, const char *what);

/* The passes on the case's tensors, each with its own workspace (checked and freed). */
usine_status conv_run_forward(usine_context *ctx, conv_tensors *t);
/* Filters packed by usine_conv2d_pack_filters for t's descriptor: exactly the queried size,
 * 64-byte aligned, 64 canary bytes after them (checked on release). */
typedef struct conv_packed {
    unsigned char *base;
    void *data;
    size_t size;
} conv_packed;
/* Packs t's filters for the pass (forward or backward data) into a canary-guarded buffer. */
usine_status conv_pack(usine_context *ctx, const conv_tensors *t, usine_conv_pass pass,
                       conv_packed *pk);
void conv_packed_release(conv_packed *pk, const char *what);
/* The forward through usine_conv2d_pack_filters and usine_conv2d_forward_packed. */
usine_status conv_run_forward_packed(usine_context *ctx, conv_tensors *t);
usine_status conv_run_backward_data(usine_context *ctx, conv_tensors *t);
/* The backward data through usine_conv2d_pack_filters_backward_data and
 * usine_conv2d_backward_data_packed. */
usine_status conv_run_backward_data_packed(usine_context *ctx, conv_tensors *t);
usine_status conv_run_backward_weights(usine_context *ctx, conv_tensors *t, int with_dbias);

/* The reference: value and sum |terms| per element (long double), and L per element. */
typedef struct conv_reference {
    long double *value, *mag;
    int64_t *terms;
    int64_t count;
} conv_reference;

void conv_reference_free(conv_reference *r);
/* y = act(bias + conv(x, w)) (bias and act as the case says when with_epilogue). */
conv_reference conv_ref_forward(const conv_tensors *t, int with_epilogue);
/* dx from dy and w: a gather over the (k, r, s) whose output position lands on (h, w). */
conv_reference conv_ref_backward_data(const conv_tensors *t);
/* dw from x and dy. */
conv_reference conv_ref_backward_weights(const conv_tensors *t);
/* dbias: the sum of dy over n, p, q. */
conv_reference conv_ref_bias_grad(const conv_tensors *t);

/* Tolerance of an element (see the top of this file). */
double conv_tolerance(usine_dtype out_dtype, const conv_reference *r, int64_t i);

/* Which tensor an output is: its coordinates are printed with a mismatch. */
typedef enum conv_tensor_kind { CONV_Y, CONV_DX, CONV_DW, CONV_DBIAS } conv_tensor_kind;

/* Checks a stored output (the case's dtype; f32 for dbias) against the reference; prints the
 * first mismatches with their coordinates; returns the number of bad elements, counting a
 * written guard zone as one. */
int64_t conv_check(const conv_tensors *t, const char *what, conv_tensor_kind kind,
                   const test_buffer *got, const conv_reference *r);

/* Whether an algorithm's name is the one USINE_CONV_ALGO forces: its full name
 * ("usine_conv_fwd_f32_cpu_depthwise") or its short one ("depthwise", the part after "_cpu_").
 * 0 when the variable is not set. */
int conv_is_forced(const char *name);

/* One line naming every parameter of a case. */
void conv_describe(const conv_case *c, char *text, size_t size);

/* The context of a test program (or its skip) after printing the seed; the dtype a program
 * runs comes from argv[1] ("f32" or "bf16"; default f32). */
usine_context *conv_start(const char *name, int argc, char **argv, usine_dtype *dtype);

/* A plain case: one batch item, one channel in and out, NHWC, f32, 3x3 input and filter. */
conv_case conv_base_case(void);

typedef void conv_runner(usine_context *ctx, const conv_case *c);

/* Every option, each in both layouts: padding (asymmetric too), strides, 7x7 stride 2,
 * dilation, groups, depthwise, 1x1, a filter as large as the padded input, output size 1,
 * odd sizes, channel counts around the vector widths, bias and ReLU (forward), batch 0, then
 * `rounds` random cases. */
void conv_for_each_case(usine_context *ctx, usine_dtype dtype, int rounds, conv_runner *run);

/* Copies of the buffers taken before a call that must fail, and the check after it. */
#define CONV_MAX_SAVED 8
typedef struct conv_saved {
    const test_buffer *buf[CONV_MAX_SAVED];
    unsigned char *copy[CONV_MAX_SAVED];
    int count;
} conv_saved;

conv_saved conv_save(const test_buffer *const *buf, int count);
/* Status `want`, a non-empty message containing `needle`, the saved buffers and their guards
 * untouched. Frees the copies. */
void conv_expect_rejected(conv_saved *s, usine_status st, usine_status want, const char *needle,
                          const char *what);

#endif
