/*
 * The depthwise algorithm's driver: workspace, the split of the work into units across
 * threads, the transposed filters, and the weight gradient written out from its f32 sums.
 * The loops themselves are in depthwise_impl.h, compiled once per ISA.
 */
#include <string.h>

#include "conv_internal.h"
#include "../half.h"
#include "../threading.h"

#define ALIGN 64

static size_t align_up(size_t x)
{
    return (x + ALIGN - 1) / ALIGN * ALIGN;
}

static const usine_conv_dw_kernels *kernels_for(usine_cpu_isa isa)
{
    if (isa >= USINE_ISA_AVX512)
        return &usine_conv_dw_avx512_kernels;
    if (isa >= USINE_ISA_AVX2)
        return &usine_conv_dw_avx2_kernels;
    return &usine_conv_dw_generic_kernels;
}

/* Floats of one thread's scratch (the largest any kernel asks for). */
static size_t thread_floats(const usine_conv_problem *p)
{
    const int64_t widest = p->k > p->c ? p->k : p->c;
    return (size_t)(3 * widest + p->q + p->w);
}

/* The filters as f32 taps by channels, wt[(r S + s) K + k] (NHWC forward and backward
 * data), or the f32 sums of the weight gradient (same shape). */
static size_t taps_floats(const usine_conv_problem *p)
{
    return (size_t)(p->r * p->s * p->k);
}

size_t usine_conv_depthwise_workspace_size(usine_conv_pass pass, const usine_conv_problem *p,
                                           const usine_conv_exec *exec)
{
    (void)pass;
    return align_up(taps_floats(p) * sizeof(float)) +
           (size_t)exec->gemm.max_threads * align_up(thread_floats(p) * sizeof(float));
}

typedef struct dw_args {
    const usine_conv_dw_kernels *kern;
    usine_conv_pass pass;
    const usine_conv_problem *p;
    const usine_conv_tensors *t;
    float *taps;   /* transposed filters or weight-gradient sums */
    char *scratch; /* per thread */
    size_t stride; /* bytes between threads' scratch */
} dw_args;

static int64_t units_of(const dw_args *a)
{
    const usine_conv_problem *p = a->p;
    const int nhwc = p->layout == USINE_CONV_NHWC;
    switch (a->pass) {
    case USINE_CONV_FORWARD:
        return nhwc ? p->n * p->p : p->n * p->k;
    case USINE_CONV_BACKWARD_DATA:
        return nhwc ? p->n * p->h : p->n * p->c;
    default:
        return p->k;
    }
}

static void run_unit(const dw_args *a, int64_t u, float *scratch)
{
    const usine_conv_problem *p = a->p;
    const usine_conv_tensors *t = a->t;
    const int nhwc = p->layout == USINE_CONV_NHWC;
    if (a->pass == USINE_CONV_FORWARD) {
        if (nhwc)
            a->kern->forward_nhwc_row(p, t->x, a->taps, t->y, u / p->p, u % p->p, scratch);
        else
            a->kern->forward_nchw_plane(p, t->x, t->w, t->y, u / p->k, u % p->k, scratch);
    } else if (a->pass == USINE_CONV_BACKWARD_DATA) {
        if (nhwc)
            a->kern->backward_data_nhwc_row(p, t->dy, a->taps, t->dx, u / p->h, u % p->h, scratch);
        else
            a->kern->backward_data_nchw_plane(p, t->dy, t->w, t->dx, u / p->c, u % p->c, scratch);
    } else {
        a->kern->backward_weights_nchw(p, t->x, t->dy, u, a->taps + u * p->r * p->s);
    }
}

static void dw_body(void *arg, int index, int count)
{
    const dw_args *a = (const dw_args *)arg;
    float *scratch = (float *)(a->scratch + (size_t)index * a->stride);
    const usine_conv_problem *p = a->p;
    if (a->pass == USINE_CONV_BACKWARD_WEIGHTS && p->layout == USINE_CONV_NHWC) {
        /* Contiguous channel blocks, multiples of 16 (a vector of f32 lanes). */
        const int64_t per = (p->k + count - 1) / count;
        const int64_t block = (per + 15) / 16 * 16;
        const int64_t k0 = index * block < p->k ? index * block : p->k;
        const int64_t k1 = k0 + block < p->k ? k0 + block : p->k;
        if (k1 > k0)
            a->kern->backward_weights_nhwc(p, a->t->x, a->t->dy, k0, k1, a->taps, scratch);
        return;
    }
    const int64_t units = units_of(a);
    for (int64_t u = index; u < units; u += count)
        run_unit(a, u, scratch);
}

/* w[k R S + r S + s] (both layouts when C' = 1) to wt[(r S + s) K + k], in f32. */
static void transpose_filters(const usine_conv_problem *p, const void *w, float *wt)
{
    const int64_t taps = p->r * p->s;
    for (int64_t k = 0; k < p->k; k++)
        for (int64_t t = 0; t < taps; t++)
            wt[t * p->k + k] = p->dtype == USINE_BF16
                                   ? usine_bf16_to_f32(((const uint16_t *)w)[k * taps + t])
                                   : ((const float *)w)[k * taps + t];
}

/* dw[k R S + t] from the sums: acc[t K + k] (NHWC) or acc[k R S + t] (NCHW). */
static void write_weight_gradient(const usine_conv_problem *p, const float *acc, void *dw)
{
    const int64_t taps = p->r * p->s;
    for (int64_t k = 0; k < p->k; k++)
        for (int64_t t = 0; t < taps; t++) {
            const float v = p->layout == USINE_CONV_NHWC ? acc[t * p->k + k] : acc[k * taps + t];
            if (p->dtype == USINE_BF16)
                ((uint16_t *)dw)[k * taps + t] = usine_f32_to_bf16(v);
            else
                ((float *)dw)[k * taps + t] = v;
        }
}

void usine_conv_depthwise_run(usine_conv_pass pass, const usine_conv_problem *p,
                              const usine_conv_exec *exec, const usine_conv_tensors *t,
                              void *workspace)
{
    float *taps = (float *)workspace;
    dw_args a = {kernels_for(exec->isa),
                 pass,
                 p,
                 t,
                 taps,
                 (char *)workspace + align_up(taps_floats(p) * sizeof(float)),
                 align_up(thread_floats(p) * sizeof(float))};
    const int nhwc = p->layout == USINE_CONV_NHWC;
    if (nhwc && pass != USINE_CONV_BACKWARD_WEIGHTS)
        transpose_filters(p, t->w, taps);
    int64_t units = pass == USINE_CONV_BACKWARD_WEIGHTS && nhwc ? (p->k + 15) / 16 : units_of(&a);
    const int threads = units < exec->gemm.max_threads ? (int)units : exec->gemm.max_threads;
    if (units > 0)
        usine_cpu_parallel(threads, dw_body, &a);
    if (pass == USINE_CONV_BACKWARD_WEIGHTS) {
        write_weight_gradient(p, taps, t->dw);
        if (t->dbias)
            usine_conv_bias_gradient(p, t->dy, t->dbias, exec->gemm.max_threads);
    }
}
