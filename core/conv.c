/*
 * The convolution entry points: argument checks (every error names the argument, nothing
 * is written on error), the algorithm choice (autotune/conv_tune.h: USINE_CONV_ALGO, a full
 * name such as "usine_conv_fwd_f32_cpu_implicit_gemm" or a short one such as
 * "implicit_gemm", for the passes and shapes it serves -> exact tuned entry -> nearest
 * tuned entry -> default rule), the GEMM kernel for the GEMM-based ones, and the caller's
 * workspace.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "context.h"
#include "status.h"
#include "../autotune/conv_tune.h"
#include "../kernels/cpu/conv/conv_driver.h"

#define ALIGN 64

static const char *const FN_FWD = "usine_conv2d_forward";
static const char *const FN_BWD_DATA = "usine_conv2d_backward_data";
static const char *const FN_BWD_WEIGHTS = "usine_conv2d_backward_weights";

usine_status usine_conv2d_desc_init(usine_conv2d_desc *desc)
{
    usine_clear_error();
    if (!desc)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "desc is NULL");
    memset(desc, 0, sizeof *desc);
    desc->struct_size = sizeof *desc;
    desc->dtype = USINE_F32;
    desc->layout = USINE_CONV_NHWC;
    desc->stride_h = desc->stride_w = 1;
    desc->dilation_h = desc->dilation_w = 1;
    desc->groups = 1;
    desc->bias = NULL;
    desc->activation = USINE_ACT_NONE;
    return USINE_SUCCESS;
}

/* ------------------------------------------------------------------ checks */

static usine_status check_dtype_layout(const char *fn, const usine_conv2d_desc *d)
{
    if ((unsigned)d->dtype > USINE_S32)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "desc->dtype = %d is not a usine_dtype",
                          (int)d->dtype);
    if (d->dtype != USINE_F32 && d->dtype != USINE_BF16)
        return usine_fail(USINE_ERROR_NOT_SUPPORTED, fn,
                          "desc->dtype = %d: convolutions take USINE_F32 or USINE_BF16",
                          (int)d->dtype);
    if (d->layout != USINE_CONV_NHWC && d->layout != USINE_CONV_NCHW)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                          "desc->layout = %d is neither USINE_CONV_NHWC nor USINE_CONV_NCHW",
                          (int)d->layout);
    return USINE_SUCCESS;
}

static usine_status check_sizes(const char *fn, const usine_conv2d_desc *d)
{
    const int64_t values[16] = {d->batch,        d->in_channels,   d->in_height,    d->in_width,
                                d->out_channels, d->filter_height, d->filter_width, d->stride_h,
                                d->stride_w,     d->dilation_h,    d->dilation_w,   d->groups,
                                d->pad_top,      d->pad_bottom,    d->pad_left,     d->pad_right};
    static const char *const names[16] = {
        "batch",        "in_channels", "in_height", "in_width",   "out_channels", "filter_height",
        "filter_width", "stride_h",    "stride_w",  "dilation_h", "dilation_w",   "groups",
        "pad_top",      "pad_bottom",  "pad_left",  "pad_right"};
    for (int i = 0; i < 16; i++) {
        const int64_t least = i == 0 || i >= 12 ? 0 : 1;
        if (values[i] < least)
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                              "desc->%s = %" PRId64 " is less than %" PRId64, names[i], values[i],
                              least);
    }
    if (d->in_channels % d->groups != 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                          "desc->in_channels = %" PRId64
                          " is not a multiple of desc->groups = %" PRId64,
                          d->in_channels, d->groups);
    if (d->out_channels % d->groups != 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                          "desc->out_channels = %" PRId64
                          " is not a multiple of desc->groups = %" PRId64,
                          d->out_channels, d->groups);
    return USINE_SUCCESS;
}

/* One output extent: (size + pads - dilation (filter - 1) - 1) / stride + 1, or 0 when the
 * dilated filter does not fit; -1 when an intermediate overflows. */
static int64_t out_extent(int64_t size, int64_t pad0, int64_t pad1, int64_t filter,
                          int64_t dilation, int64_t stride)
{
    int64_t padded, span;
    if (__builtin_add_overflow(size, pad0, &padded) ||
        __builtin_add_overflow(padded, pad1, &padded) ||
        __builtin_mul_overflow(dilation, filter - 1, &span) ||
        __builtin_add_overflow(span, 1, &span))
        return -1;
    return padded < span ? 0 : (padded - span) / stride + 1;
}

static usine_status check_output(const char *fn, const usine_conv2d_desc *d, int64_t *p, int64_t *q)
{
    *p = out_extent(d->in_height, d->pad_top, d->pad_bottom, d->filter_height, d->dilation_h,
                    d->stride_h);
    *q = out_extent(d->in_width, d->pad_left, d->pad_right, d->filter_width, d->dilation_w,
                    d->stride_w);
    if (*p < 0 || *q < 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                          "the output %s overflows int64 (padding or dilated filter too large)",
                          *p < 0 ? "height" : "width");
    if (*p == 0 || *q == 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                          "the output is empty: the dilated %s (%" PRId64 ") is larger than the "
                          "padded input %s (%" PRId64 ")",
                          *p == 0 ? "filter height" : "filter width",
                          *p == 0 ? d->dilation_h * (d->filter_height - 1) + 1
                                  : d->dilation_w * (d->filter_width - 1) + 1,
                          *p == 0 ? "height" : "width",
                          *p == 0 ? d->in_height + d->pad_top + d->pad_bottom
                                  : d->in_width + d->pad_left + d->pad_right);
    return USINE_SUCCESS;
}

/* Bytes of a tensor of the given extents (a product), or OVERFLOW naming it. */
static usine_status tensor_bytes(const char *fn, const char *name, const int64_t extents[4],
                                 size_t es, int64_t *bytes)
{
    int64_t e = (int64_t)es;
    for (int i = 0; i < 4; i++)
        if (__builtin_mul_overflow(e, extents[i], &e))
            goto overflow;
    if ((uint64_t)e > PTRDIFF_MAX)
        goto overflow;
    *bytes = e;
    return USINE_SUCCESS;
overflow:
    return usine_fail(USINE_ERROR_OVERFLOW, fn,
                      "%s (%" PRId64 " x %" PRId64 " x %" PRId64 " x %" PRId64
                      " elements) spans more than the address space",
                      name, extents[0], extents[1], extents[2], extents[3]);
}

/* A checked call: the problem for the kernels and the tensors' byte sizes. */
typedef struct conv_call {
    const char *fn;
    usine_conv_problem p;
    int64_t x_bytes, w_bytes, y_bytes;
} conv_call;

/* The descriptor alone (usine_conv2d_output_size's checks, which are the passes'). */
static usine_status check_geometry(const char *fn, const usine_conv2d_desc *d, int forward,
                                   conv_call *call)
{
    if (!d)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "desc is NULL");
    if (d->struct_size < sizeof *d)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                          "desc->struct_size = %zu: call usine_conv2d_desc_init first",
                          d->struct_size);
    usine_status st;
    int64_t p, q;
    if ((st = check_dtype_layout(fn, d)) || (st = check_sizes(fn, d)) ||
        (st = check_output(fn, d, &p, &q)))
        return st;
    if (forward && d->activation != USINE_ACT_NONE && d->activation != USINE_ACT_RELU)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                          "desc->activation = %d: convolutions take USINE_ACT_NONE or "
                          "USINE_ACT_RELU",
                          (int)d->activation);
    const size_t es = d->dtype == USINE_BF16 ? 2 : 4;
    const int64_t x_ext[4] = {d->batch, d->in_channels, d->in_height, d->in_width};
    const int64_t w_ext[4] = {d->out_channels, d->in_channels / d->groups, d->filter_height,
                              d->filter_width};
    const int64_t y_ext[4] = {d->batch, d->out_channels, p, q};
    call->fn = fn;
    if ((st = tensor_bytes(fn, "x", x_ext, es, &call->x_bytes)) ||
        (st = tensor_bytes(fn, "w", w_ext, es, &call->w_bytes)) ||
        (st = tensor_bytes(fn, "y", y_ext, es, &call->y_bytes)))
        return st;
    const usine_conv_problem prob = {d->dtype,
                                     d->layout,
                                     d->batch,
                                     d->in_channels,
                                     d->in_height,
                                     d->in_width,
                                     d->out_channels,
                                     d->filter_height,
                                     d->filter_width,
                                     p,
                                     q,
                                     d->stride_h,
                                     d->stride_w,
                                     d->pad_top,
                                     d->pad_left,
                                     d->dilation_h,
                                     d->dilation_w,
                                     d->groups,
                                     forward ? d->bias : NULL,
                                     forward ? d->activation : USINE_ACT_NONE,
                                     0};
    call->p = prob;
    return USINE_SUCCESS;
}

static usine_status check_desc(const char *fn, usine_context *ctx, const usine_conv2d_desc *d,
                               int forward, conv_call *call)
{
    if (!ctx)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "context is NULL");
    return check_geometry(fn, d, forward, call);
}

static usine_status check_pass(const char *fn, usine_conv_pass pass)
{
    if (pass != USINE_CONV_FORWARD && pass != USINE_CONV_BACKWARD_DATA &&
        pass != USINE_CONV_BACKWARD_WEIGHTS)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "pass = %d is not a usine_conv_pass",
                          (int)pass);
    return USINE_SUCCESS;
}

/* The buffers of one pass, checked together: inputs, then outputs. */
typedef struct buffer {
    const char *name;
    const void *ptr;
    int64_t bytes;
} buffer;

static usine_status check_buffers(const char *fn, const buffer *in, int n_in, const buffer *out,
                                  int n_out)
{
    usine_status st;
    for (int i = 0; i < n_in; i++)
        if ((st = usine_check_span(fn, in[i].name, in[i].ptr, in[i].bytes)))
            return st;
    for (int o = 0; o < n_out; o++) {
        if ((st = usine_check_span(fn, out[o].name, out[o].ptr, out[o].bytes)))
            return st;
        for (int i = 0; i < n_in; i++)
            if (usine_ranges_overlap(out[o].ptr, out[o].bytes, in[i].ptr, in[i].bytes))
                return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                                  "%s overlaps %s: an output must not alias an input", out[o].name,
                                  in[i].name);
        for (int j = 0; j < o; j++)
            if (usine_ranges_overlap(out[o].ptr, out[o].bytes, out[j].ptr, out[j].bytes))
                return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "%s overlaps %s", out[o].name,
                                  out[j].name);
    }
    return USINE_SUCCESS;
}

/* ------------------------------------------------------------------ choice */

/* The configuration of a pass (autotune/conv_tune.h: USINE_CONV_ALGO -> exact tuned entry ->
 * nearest tuned entry -> default rule). */
static usine_conv_choice choose(usine_context *ctx, usine_conv_pass pass,
                                const usine_conv_problem *p)
{
    usine_conv_choice choice;
    const char *forced = ctx->selector.conv_algo[0] ? ctx->selector.conv_algo : NULL;
    usine_select_conv(&ctx->selector, forced, pass, p, &choice);
    return choice;
}

/* Bytes the caller provides: the most any thread count up to the context's needs, plus
 * room to align the start. */
static size_t workspace_bytes(usine_context *ctx, usine_conv_config config, usine_conv_pass pass,
                              const usine_conv_problem *p)
{
    size_t most = 0;
    usine_conv_exec exec;
    usine_conv_make_exec(&ctx->selector, ctx->isa, config, pass, p, 1, &exec);
    for (int t = 1; t <= ctx->num_threads; t++) {
        exec.gemm.max_threads = t;
        const size_t bytes = usine_cpu_conv_workspace_size(config.algo, pass, p, &exec);
        if (bytes > most)
            most = bytes;
    }
    return most ? most + ALIGN : 0;
}

/* ------------------------------------------------------------------ running */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void log_call(const conv_call *c, const char *algo, const char *rule,
                     const usine_conv_exec *exec, double seconds)
{
    const usine_conv_problem *p = &c->p;
    const double flops = 2.0 * (double)p->n * (double)p->k * (double)p->p * (double)p->q *
                         (double)(p->c / p->groups) * (double)p->r * (double)p->s;
    fprintf(stderr,
            "usine: %s %s %s n=%" PRId64 " c=%" PRId64 " h=%" PRId64 " w=%" PRId64 " k=%" PRId64
            " r=%" PRId64 " s=%" PRId64 " stride=%" PRId64 "x%" PRId64 " dilation=%" PRId64
            "x%" PRId64 " groups=%" PRId64
            " algo=%s (%s) gemm=%s threads=%d time=%.1fus %.2f GFLOP/s\n",
            c->fn, p->dtype == USINE_BF16 ? "bf16" : "f32",
            p->layout == USINE_CONV_NHWC ? "nhwc" : "nchw", p->n, p->c, p->h, p->w, p->k, p->r,
            p->s, p->stride_h, p->stride_w, p->dilation_h, p->dilation_w, p->groups, algo, rule,
            exec->gemm.kernel ? exec->gemm.kernel->name : "-", exec->gemm.max_threads,
            seconds * 1e6, seconds > 0 ? flops / seconds * 1e-9 : 0.0);
}

/* ------------------------------------------------------------------ direct panels */

/* The kernel whose direct panels the packed filters hold, or NULL. Forward: for the shapes
 * the default rule runs on the direct variant when the filters are packed (1x1 without
 * stride or padding, or calls long enough: usine_conv_direct_runs_long). Backward data: where
 * this context's choice with packed panels is the direct variant. */
static const usine_gemm_kernel *panels_kernel(usine_context *ctx, usine_conv_pass pass,
                                              const usine_conv_problem *p)
{
    const usine_conv_config direct = {USINE_CONV_ALGO_IMPLICIT_GEMM, USINE_CONV_VARIANT_DIRECT};
    usine_conv_exec exec;
    if (pass == USINE_CONV_BACKWARD_DATA) {
        usine_conv_problem packed = *p;
        packed.panels_packed = 1;
        const usine_conv_config chosen = choose(ctx, pass, &packed).config;
        if (chosen.algo != direct.algo || chosen.variant != direct.variant)
            return NULL;
        usine_conv_make_exec(&ctx->selector, ctx->isa, direct, pass, &packed,
                             usine_context_threads(ctx), &exec);
        return exec.gemm.kernel && usine_conv_direct_backward_panels_size(p, exec.gemm.kernel) > 0
                   ? exec.gemm.kernel
                   : NULL;
    }
    if (!usine_cpu_conv_variant_serves(direct.algo, direct.variant, USINE_CONV_FORWARD, p))
        return NULL;
    usine_conv_make_exec(&ctx->selector, ctx->isa, direct, USINE_CONV_FORWARD, p,
                         usine_context_threads(ctx), &exec);
    const usine_gemm_kernel *kernel = exec.gemm.kernel;
    /* 1x1: with the panels packed the rule takes the direct variant (pointwise_reads_panels) */
    const int pointwise = usine_cpu_conv_supports(USINE_CONV_ALGO_GEMM1X1, USINE_CONV_FORWARD, p);
    return kernel && (pointwise || usine_conv_direct_runs_long(p, kernel)) &&
                   usine_conv_direct_panels_size(p, kernel) > 0
               ? kernel
               : NULL;
}

/* Whether packed direct panels made for panels_kernel (NULL: none) serve the exec. */
static int panels_for(const usine_conv_exec *exec, const char *panels_kernel)
{
    return panels_kernel && exec->variant == USINE_CONV_VARIANT_DIRECT && exec->gemm.kernel &&
           strcmp(exec->gemm.kernel->name, panels_kernel) == 0;
}

/* Checks the workspace, then runs the checked pass. c->p.panels_packed: t->panels holds the
 * direct variant's panels for panels_kernel (then the rule takes that variant, which needs
 * no workspace for them). */
static usine_status run_pass(usine_context *ctx, const conv_call *c, usine_conv_pass pass,
                             const usine_conv_tensors *t, void *workspace, size_t workspace_size,
                             const buffer *tensors, int n_tensors, const char *panels_kernel)
{
    usine_conv_problem p = c->p;
    const usine_conv_choice choice = choose(ctx, pass, &p);
    usine_conv_exec exec;
    usine_conv_make_exec(&ctx->selector, ctx->isa, choice.config, pass, &p,
                         usine_context_threads(ctx), &exec);
    p.panels_packed = p.panels_packed && panels_for(&exec, panels_kernel);
    const size_t needed = workspace_bytes(ctx, choice.config, pass, &p);
    if (workspace_size < needed)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, c->fn,
                          "workspace_size = %zu is less than the %zu bytes "
                          "usine_conv2d_workspace_size asks for",
                          workspace_size, needed);
    if (needed > 0 && !workspace)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, c->fn, "workspace is NULL");
    for (int i = 0; i < n_tensors; i++)
        if (usine_ranges_overlap(workspace, (int64_t)needed, tensors[i].ptr, tensors[i].bytes))
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, c->fn, "workspace overlaps %s",
                              tensors[i].name);
    const double start = ctx->verbose ? now_seconds() : 0;
    usine_conv_tensors run = *t;
    if (!p.panels_packed)
        run.panels = NULL;
    void *aligned = workspace ? (void *)(((uintptr_t)workspace + ALIGN - 1) / ALIGN * ALIGN) : NULL;
    usine_cpu_conv_run(choice.config.algo, pass, &p, &exec, &run, aligned);
    if (ctx->verbose)
        log_call(c, usine_conv_config_name(pass, c->p.dtype, choice.config), choice.rule, &exec,
                 now_seconds() - start);
    return USINE_SUCCESS;
}

/* ------------------------------------------------------------------ entry points */

usine_status usine_conv2d_output_size(const usine_conv2d_desc *desc, int64_t *out_height,
                                      int64_t *out_width)
{
    static const char *const fn = "usine_conv2d_output_size";
    usine_clear_error();
    conv_call c;
    const usine_status st = check_geometry(fn, desc, 0, &c);
    if (st)
        return st;
    if (!out_height || !out_width)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "%s is NULL",
                          out_height ? "out_width" : "out_height");
    *out_height = c.p.p;
    *out_width = c.p.q;
    return USINE_SUCCESS;
}

/* The common start of the queries about a pass (workspace size, algorithm name): the error
 * state cleared, the pass and the descriptor checked. */
static usine_status check_query(const char *fn, usine_context *context,
                                const usine_conv2d_desc *desc, usine_conv_pass pass, conv_call *c)
{
    usine_clear_error();
    usine_status st = check_pass(fn, pass);
    return st ? st : check_desc(fn, context, desc, pass == USINE_CONV_FORWARD, c);
}

usine_status usine_conv2d_workspace_size(usine_context *context, const usine_conv2d_desc *desc,
                                         usine_conv_pass pass, size_t *bytes)
{
    static const char *const fn = "usine_conv2d_workspace_size";
    conv_call c;
    const usine_status st = check_query(fn, context, desc, pass, &c);
    if (st)
        return st;
    if (!bytes)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "bytes is NULL");
    *bytes = workspace_bytes(context, choose(context, pass, &c.p).config, pass, &c.p);
    if (pass != USINE_CONV_BACKWARD_WEIGHTS && panels_kernel(context, pass, &c.p)) {
        /* enough for the packed-filter calls too, which may run another algorithm */
        usine_conv_problem packed = c.p;
        packed.panels_packed = 1;
        const size_t more =
            workspace_bytes(context, choose(context, pass, &packed).config, pass, &packed);
        *bytes = more > *bytes ? more : *bytes;
    }
    return USINE_SUCCESS;
}

usine_status usine_conv2d_algorithm_name(usine_context *context, const usine_conv2d_desc *desc,
                                         usine_conv_pass pass, const char **name)
{
    static const char *const fn = "usine_conv2d_algorithm_name";
    conv_call c;
    const usine_status st = check_query(fn, context, desc, pass, &c);
    if (st)
        return st;
    if (!name)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "name is NULL");
    *name = usine_conv_config_name(pass, c.p.dtype, choose(context, pass, &c.p).config);
    return USINE_SUCCESS;
}

/* The forward after the descriptor's checks: the buffers' checks, then the pass. filters:
 * the filters as the caller passed them (w, or the packed memory); wt: their transposed
 * form, or NULL. */
static usine_status forward_checked(usine_context *context, const conv_call *c,
                                    const usine_conv2d_desc *desc, const void *x, buffer filters,
                                    const void *w, const float *wt, const float *panels,
                                    const char *panels_kernel, void *y, void *workspace,
                                    size_t workspace_size)
{
    const int64_t bias_bytes = desc->bias ? c->p.k * (int64_t)sizeof(float) : 0;
    const buffer in[3] = {{"x", x, c->x_bytes}, filters, {"desc->bias", desc->bias, bias_bytes}};
    const buffer out[1] = {{"y", y, c->y_bytes}};
    usine_status st = check_buffers(c->fn, in, 3, out, 1);
    if (st || c->p.n == 0)
        return st;
    const buffer all[4] = {in[0], in[1], in[2], out[0]};
    const usine_conv_tensors t = {x, w, NULL, y, NULL, NULL, NULL, wt, panels};
    return run_pass(context, c, USINE_CONV_FORWARD, &t, workspace, workspace_size, all, 4,
                    panels ? panels_kernel : NULL);
}

usine_status usine_conv2d_forward(usine_context *context, const usine_conv2d_desc *desc,
                                  const void *x, const void *w, void *y, void *workspace,
                                  size_t workspace_size)
{
    usine_clear_error();
    conv_call c;
    const usine_status st = check_desc(FN_FWD, context, desc, 1, &c);
    if (st)
        return st;
    const buffer filters = {"w", w, c.w_bytes};
    return forward_checked(context, &c, desc, x, filters, w, NULL, NULL, NULL, y, workspace,
                           workspace_size);
}

/* The backward data after the descriptor's checks: the buffers' checks, then the pass.
 * filters: as the caller passed them (w, or the packed memory); panels: the direct
 * variant's for panels_kernel, or NULL. */
static usine_status backward_data_checked(usine_context *context, const conv_call *c,
                                          const void *dy, buffer filters, const void *w,
                                          const float *panels, const char *panels_kernel, void *dx,
                                          void *workspace, size_t workspace_size)
{
    const buffer in[2] = {{"dy", dy, c->y_bytes}, filters};
    const buffer out[1] = {{"dx", dx, c->x_bytes}};
    usine_status st = check_buffers(c->fn, in, 2, out, 1);
    if (st || c->p.n == 0)
        return st;
    const buffer all[3] = {in[0], in[1], out[0]};
    const usine_conv_tensors t = {NULL, w, dy, NULL, dx, NULL, NULL, NULL, panels};
    return run_pass(context, c, USINE_CONV_BACKWARD_DATA, &t, workspace, workspace_size, all, 3,
                    panels ? panels_kernel : NULL);
}

usine_status usine_conv2d_backward_data(usine_context *context, const usine_conv2d_desc *desc,
                                        const void *dy, const void *w, void *dx, void *workspace,
                                        size_t workspace_size)
{
    usine_clear_error();
    conv_call c;
    usine_status st = check_desc(FN_BWD_DATA, context, desc, 0, &c);
    if (st)
        return st;
    const buffer filters = {"w", w, c.w_bytes};
    return backward_data_checked(context, &c, dy, filters, w, NULL, NULL, dx, workspace,
                                 workspace_size);
}

usine_status usine_conv2d_backward_weights(usine_context *context, const usine_conv2d_desc *desc,
                                           const void *x, const void *dy, void *dw, float *dbias,
                                           void *workspace, size_t workspace_size)
{
    usine_clear_error();
    conv_call c;
    usine_status st = check_desc(FN_BWD_WEIGHTS, context, desc, 0, &c);
    if (st)
        return st;
    const int64_t bias_bytes = dbias ? c.p.k * (int64_t)sizeof(float) : 0;
    const buffer in[2] = {{"x", x, c.x_bytes}, {"dy", dy, c.y_bytes}};
    const buffer out[2] = {{"dw", dw, c.w_bytes}, {"dbias", dbias, bias_bytes}};
    if ((st = check_buffers(FN_BWD_WEIGHTS, in, 2, out, 2)))
        return st;
    /* batch 0: the gradients are zero, and written as such. */
    const buffer all[4] = {in[0], in[1], out[0], out[1]};
    const usine_conv_tensors t = {x, NULL, dy, NULL, NULL, dw, dbias, NULL, NULL};
    return run_pass(context, &c, USINE_CONV_BACKWARD_WEIGHTS, &t, workspace, workspace_size, all, 4,
                    NULL);
}

/* ------------------------------------------------------------------ packed filters */

/* The entry points of one pass's packed filters, for the messages. */
typedef struct packed_fns {
    const char *size, *pack, *run;
} packed_fns;

static const packed_fns FWD_PACKED_FNS = {
    "usine_conv2d_packed_filters_size", "usine_conv2d_pack_filters", "usine_conv2d_forward_packed"};
static const packed_fns BWD_PACKED_FNS = {"usine_conv2d_backward_data_packed_size",
                                          "usine_conv2d_pack_filters_backward_data",
                                          "usine_conv2d_backward_data_packed"};

static const packed_fns *fns_of(usine_conv_pass pass)
{
    return pass == USINE_CONV_FORWARD ? &FWD_PACKED_FNS : &BWD_PACKED_FNS;
}

/* The version is in the magic: CF4 split a last panel of 48 + 16 filters as 32 + 32, so
 * filters packed by an earlier library are refused rather than misread. */
#define PACKED_MAGIC "usineCF4"
#define SHAPE_FIELDS 14

/* The head of packed filters: what they were made for (the descriptor's fields the filters'
 * layout depends on: for the forward dtype, layout, k, c, r, s, groups, with the batch,
 * sizes, strides, padding and dilation free to differ between calls; the backward data's
 * stride phases add the strides, pad_top, pad_left and dilations) and where each part lies,
 * in bytes from the start. */
typedef struct packed_header {
    char magic[8];
    int64_t shape[SHAPE_FIELDS]; /* pass, dtype, layout, k, c, r, s, groups, then the backward
                                    data's stride_h, stride_w, pad_top, pad_left, dilation_h,
                                    dilation_w (0 for the forward) */
    int64_t w_offset, w_bytes;   /* a copy of w as given */
    int64_t wt_offset, wt_bytes; /* forward, NHWC without panels: the f32 transposed filters */
    /* The direct variant's panels (usine_conv_direct_pack_panels, or
     * usine_conv_direct_backward_pack_panels) for the kernel named. */
    int64_t panels_offset, panels_bytes;
    char panels_kernel[48];
    uint64_t check; /* FNV-1a of the bytes above: a corrupt header is refused */
} packed_header;

static uint64_t fnv1a(const void *data, size_t bytes)
{
    const unsigned char *b = (const unsigned char *)data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < bytes; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int64_t align_bytes(int64_t bytes)
{
    return (bytes + ALIGN - 1) / ALIGN * ALIGN;
}

/* The end of the last part. */
static int64_t packed_total(const packed_header *h)
{
    const int64_t wt_end = h->wt_offset + h->wt_bytes;
    const int64_t panels_end = h->panels_offset + h->panels_bytes;
    return wt_end > panels_end ? wt_end : panels_end;
}

/* The header the descriptor's packed filters for `pass` carry in this context, and the
 * kernel its panels are for (NULL: none). Its check is left 0: only pack_filters, which
 * stores the header, hashes it; the passes compare the stored header's fields with these
 * and its stored hash with its own bytes (check_packed). */
static packed_header header_for(usine_context *ctx, const conv_call *c, usine_conv_pass pass,
                                const usine_gemm_kernel **kernel_out)
{
    packed_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, PACKED_MAGIC, sizeof h.magic);
    const usine_conv_problem *p = &c->p;
    const int bwd = pass == USINE_CONV_BACKWARD_DATA;
    const int64_t shape[SHAPE_FIELDS] = {pass,
                                         p->dtype,
                                         p->layout,
                                         p->k,
                                         p->c,
                                         p->r,
                                         p->s,
                                         p->groups,
                                         bwd ? p->stride_h : 0,
                                         bwd ? p->stride_w : 0,
                                         bwd ? p->pad_top : 0,
                                         bwd ? p->pad_left : 0,
                                         bwd ? p->dilation_h : 0,
                                         bwd ? p->dilation_w : 0};
    memcpy(h.shape, shape, sizeof shape);
    h.w_offset = align_bytes((int64_t)sizeof h);
    h.w_bytes = c->w_bytes;
    const usine_gemm_kernel *kernel = panels_kernel(ctx, pass, p);
    h.wt_offset = h.panels_offset = h.w_offset + align_bytes(h.w_bytes);
    if (kernel) {
        h.panels_bytes = (int64_t)(bwd ? usine_conv_direct_backward_panels_size(p, kernel)
                                       : usine_conv_direct_panels_size(p, kernel));
        snprintf(h.panels_kernel, sizeof h.panels_kernel, "%s", kernel->name);
    } else if (!bwd && p->layout == USINE_CONV_NHWC) {
        h.wt_bytes = p->k * p->r * p->s * (p->c / p->groups) * (int64_t)sizeof(float);
    }
    if (kernel_out)
        *kernel_out = kernel;
    return h;
}

/* The filters' checks, which the forward's are (batch 0 allowed). */
static usine_status check_filters_desc(const char *fn, usine_context *ctx,
                                       const usine_conv2d_desc *desc, conv_call *c)
{
    usine_clear_error();
    return check_desc(fn, ctx, desc, 1, c);
}

static usine_status packed_size(usine_context *context, const usine_conv2d_desc *desc,
                                usine_conv_pass pass, size_t *bytes)
{
    const char *fn = fns_of(pass)->size;
    conv_call c;
    const usine_status st = check_filters_desc(fn, context, desc, &c);
    if (st)
        return st;
    if (!bytes)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "bytes is NULL");
    const packed_header h = header_for(context, &c, pass, NULL);
    *bytes = (size_t)packed_total(&h);
    return USINE_SUCCESS;
}

usine_status usine_conv2d_packed_filters_size(usine_context *context, const usine_conv2d_desc *desc,
                                              size_t *bytes)
{
    return packed_size(context, desc, USINE_CONV_FORWARD, bytes);
}

usine_status usine_conv2d_backward_data_packed_size(usine_context *context,
                                                    const usine_conv2d_desc *desc, size_t *bytes)
{
    return packed_size(context, desc, USINE_CONV_BACKWARD_DATA, bytes);
}

/* packed: non-NULL, aligned, and at least `need` bytes. */
static usine_status check_packed_pointer(const char *fn, const packed_fns *fns, const void *packed,
                                         size_t size, int64_t need)
{
    if (!packed)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "packed is NULL");
    if ((uintptr_t)packed % ALIGN != 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "packed is not %d-byte aligned", ALIGN);
    if (size < (size_t)need)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                          "packed_size = %zu is less than the %" PRId64 " bytes %s asks for", size,
                          need, fns->size);
    return USINE_SUCCESS;
}

static usine_status pack_filters(usine_context *context, const usine_conv2d_desc *desc,
                                 usine_conv_pass pass, const void *w, void *packed,
                                 size_t packed_size)
{
    const packed_fns *fns = fns_of(pass);
    conv_call c;
    usine_status st = check_filters_desc(fns->pack, context, desc, &c);
    if (st)
        return st;
    const usine_gemm_kernel *kernel = NULL;
    packed_header h = header_for(context, &c, pass, &kernel);
    h.check = fnv1a(&h, offsetof(packed_header, check));
    if ((st = check_packed_pointer(fns->pack, fns, packed, packed_size, packed_total(&h))))
        return st;
    const buffer in[1] = {{"w", w, c.w_bytes}};
    const buffer out[1] = {{"packed", packed, packed_total(&h)}};
    if ((st = check_buffers(fns->pack, in, 1, out, 1)))
        return st;
    char *base = (char *)packed;
    const int threads = usine_context_threads(context);
    memcpy(base + h.w_offset, w, (size_t)h.w_bytes);
    if (h.wt_bytes > 0)
        usine_conv_gemm_transpose_filters(&c.p, context->isa, threads, w,
                                          (float *)(base + h.wt_offset));
    if (h.panels_bytes > 0 && pass == USINE_CONV_BACKWARD_DATA)
        usine_conv_direct_backward_pack_panels(&c.p, kernel, context->isa, threads,
                                               (const float *)w, (float *)(base + h.panels_offset));
    else if (h.panels_bytes > 0)
        usine_conv_direct_pack_panels(&c.p, kernel, context->isa, threads, (const float *)w,
                                      (float *)(base + h.panels_offset));
    memcpy(base, &h, sizeof h); /* last: filters half packed never look whole */
    return USINE_SUCCESS;
}

usine_status usine_conv2d_pack_filters(usine_context *context, const usine_conv2d_desc *desc,
                                       const void *w, void *packed, size_t packed_size)
{
    return pack_filters(context, desc, USINE_CONV_FORWARD, w, packed, packed_size);
}

usine_status usine_conv2d_pack_filters_backward_data(usine_context *context,
                                                     const usine_conv2d_desc *desc, const void *w,
                                                     void *packed, size_t packed_size)
{
    return pack_filters(context, desc, USINE_CONV_BACKWARD_DATA, w, packed, packed_size);
}

/* Packed filters made by the pass's pack function for this descriptor's filters (in any
 * context: the parts after the copy of w are the stored header's); *kernel: the kernel
 * whose panels this context would pack (NULL: none). */
static usine_status check_packed(usine_context *ctx, usine_conv_pass pass, const void *packed,
                                 size_t packed_size, const conv_call *c, packed_header *out,
                                 const usine_gemm_kernel **kernel)
{
    const packed_fns *fns = fns_of(pass);
    const packed_header want = header_for(ctx, c, pass, kernel);
    usine_status st =
        check_packed_pointer(fns->run, fns, packed, packed_size, want.w_offset + want.w_bytes);
    if (st)
        return st;
    memcpy(out, packed, sizeof *out);
    if (memcmp(out->magic, PACKED_MAGIC, sizeof out->magic) != 0 ||
        out->check != fnv1a(out, offsetof(packed_header, check)))
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fns->run,
                          "packed does not hold filters from %s (its header is missing or "
                          "corrupt)",
                          fns->pack);
    if (out->shape[0] != pass)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fns->run,
                          "packed holds filters packed for the %s by %s, not by %s",
                          out->shape[0] == USINE_CONV_FORWARD ? "forward" : "backward data",
                          fns_of(out->shape[0] == USINE_CONV_FORWARD ? USINE_CONV_FORWARD
                                                                     : USINE_CONV_BACKWARD_DATA)
                              ->pack,
                          fns->pack);
    if (memcmp(out->shape, want.shape, sizeof want.shape) != 0 || out->w_offset != want.w_offset ||
        out->w_bytes != want.w_bytes)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fns->run,
                          "packed holds filters of another convolution (dtype, layout, "
                          "channels, filter size or groups%s differ from desc's)",
                          pass == USINE_CONV_BACKWARD_DATA
                              ? ", or the strides, top or left padding or dilation"
                              : "");
    const int64_t parts = out->w_offset + align_bytes(out->w_bytes);
    if (out->wt_offset != parts || out->panels_offset != parts || out->wt_bytes < 0 ||
        out->panels_bytes < 0 || (out->wt_bytes > 0 && out->panels_bytes > 0) ||
        out->panels_kernel[sizeof out->panels_kernel - 1] != '\0')
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fns->run,
                          "packed does not hold filters from %s (its header is missing or "
                          "corrupt)",
                          fns->pack);
    return check_packed_pointer(fns->run, fns, packed, packed_size, packed_total(out));
}

/* The common start of the packed-filter passes: the descriptor's and the packed memory's
 * checks; c->p.panels_packed when its panels serve this context's kernel. */
static usine_status open_packed(usine_context *context, usine_conv_pass pass,
                                const usine_conv2d_desc *desc, const void *packed,
                                size_t packed_size, conv_call *c, packed_header *h)
{
    usine_clear_error();
    usine_status st = check_desc(fns_of(pass)->run, context, desc, pass == USINE_CONV_FORWARD, c);
    if (st)
        return st;
    const usine_gemm_kernel *kernel = NULL;
    if ((st = check_packed(context, pass, packed, packed_size, c, h, &kernel)))
        return st;
    c->p.panels_packed =
        h->panels_bytes > 0 && kernel && strcmp(kernel->name, h->panels_kernel) == 0;
    return USINE_SUCCESS;
}

usine_status usine_conv2d_forward_packed(usine_context *context, const usine_conv2d_desc *desc,
                                         const void *x, const void *packed, size_t packed_size,
                                         void *y, void *workspace, size_t workspace_size)
{
    conv_call c;
    packed_header h;
    const usine_status st =
        open_packed(context, USINE_CONV_FORWARD, desc, packed, packed_size, &c, &h);
    if (st)
        return st;
    const char *base = (const char *)packed;
    const buffer filters = {"packed", packed, packed_total(&h)};
    return forward_checked(context, &c, desc, x, filters, base + h.w_offset,
                           h.wt_bytes ? (const float *)(base + h.wt_offset) : NULL,
                           h.panels_bytes ? (const float *)(base + h.panels_offset) : NULL,
                           h.panels_kernel, y, workspace, workspace_size);
}

usine_status usine_conv2d_backward_data_packed(usine_context *context,
                                               const usine_conv2d_desc *desc, const void *dy,
                                               const void *packed, size_t packed_size, void *dx,
                                               void *workspace, size_t workspace_size)
{
    conv_call c;
    packed_header h;
    const usine_status st =
        open_packed(context, USINE_CONV_BACKWARD_DATA, desc, packed, packed_size, &c, &h);
    if (st)
        return st;
    const char *base = (const char *)packed;
    const buffer filters = {"packed", packed, packed_total(&h)};
    const float *panels = h.panels_bytes ? (const float *)(base + h.panels_offset) : NULL;
    return backward_data_checked(context, &c, dy, filters, base + h.w_offset, panels,
                                 h.panels_kernel, dx, workspace, workspace_size);
}
