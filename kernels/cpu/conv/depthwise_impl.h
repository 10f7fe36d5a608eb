/*
 * Depthwise convolution (groups == in_channels, out_channels = mult * in_channels), direct:
 * portable C whose inner loops run along channels (NHWC: contiguous, one vector lane per
 * channel) or along a row of pixels (NCHW), marked `omp simd`. Each ISA file includes this
 * header once with USINE_DW_PREFIX set and its own compile flags, so that the same loops
 * become SSE2, AVX2 or AVX-512 code (STYLE.md, lesson 2).
 *
 * Work is split into units (rows of outputs, or channels for the weight gradient), and
 * each output element is summed by one thread in a fixed order (bias, then taps in (r, s)
 * order; the weight gradient over n, p, q in order), so results do not depend on the
 * thread count.
 *
 * Filters: NHWC callers pass them transposed in f32, wt[(r S + s) K + k], so that a tap's
 * weights are contiguous along channels; NCHW kernels read w[k R S + r S + s] as stored.
 */
#ifndef USINE_DW_PREFIX
#error "define USINE_DW_PREFIX before including depthwise_impl.h"
#endif

#include <string.h>

#include "conv_internal.h"
#include "../half.h"

#define USINE_DW_CAT2(a, b) a##b
#define USINE_DW_CAT(a, b)  USINE_DW_CAT2(a, b)
#define USINE_DW(name)      USINE_DW_CAT(USINE_DW_PREFIX, name)

/* Element i of a tensor of the problem's dtype, in f32. */
static inline float dw_load(const usine_conv_problem *p, const void *t, int64_t i)
{
    return p->dtype == USINE_BF16 ? usine_bf16_to_f32(((const uint16_t *)t)[i])
                                  : ((const float *)t)[i];
}

/* dst[i] = src[i] converted, i < count (f32 row buffers into the tensor). */
static void dw_store_row(const usine_conv_problem *p, void *t, int64_t at, const float *src,
                         int64_t count)
{
    if (p->dtype == USINE_BF16) {
        uint16_t *d = (uint16_t *)t + at;
#pragma omp simd
        for (int64_t i = 0; i < count; i++)
            d[i] = usine_f32_to_bf16(src[i]);
    } else {
        memcpy((float *)t + at, src, (size_t)count * sizeof(float));
    }
}

/* src row converted to f32 into dst (count elements, contiguous). */
static void dw_load_row(const usine_conv_problem *p, const void *t, int64_t at, float *dst,
                        int64_t count)
{
    if (p->dtype == USINE_BF16) {
        const uint16_t *s = (const uint16_t *)t + at;
#pragma omp simd
        for (int64_t i = 0; i < count; i++)
            dst[i] = usine_bf16_to_f32(s[i]);
    } else {
        memcpy(dst, (const float *)t + at, (size_t)count * sizeof(float));
    }
}

static void dw_activate(const usine_conv_problem *p, float *acc, int64_t count)
{
    if (p->activation != USINE_ACT_RELU)
        return;
#pragma omp simd
    for (int64_t i = 0; i < count; i++)
        acc[i] = acc[i] < 0.0f ? 0.0f : acc[i];
}

/* Input channels spread to output channels: spread[k] = in[k / mult] (mult == 1: in). */
static const float *dw_spread(const float *in, int64_t k, int64_t mult, float *spread)
{
    if (mult == 1)
        return in;
    for (int64_t i = 0; i < k; i++)
        spread[i] = in[i / mult];
    return spread;
}

/* ------------------------------------------------------------------ forward */

/* Channels and output columns of one register block of the f32 NHWC forward: a vector of 16
 * floats (GCC vector extension: one zmm with AVX-512, two ymm with AVX2, four xmm in the
 * portable build) per column. */
#define DW_LANES 16
#define DW_COLS  8
typedef float dw_vec __attribute__((vector_size(DW_LANES * sizeof(float))));
typedef int32_t dw_mask __attribute__((vector_size(DW_LANES * sizeof(int32_t))));
/* (a macro: a function returning a 64-byte vector has another ABI without AVX-512) */
#define DW_VLOAD(v, p) memcpy(&(v), (p), sizeof(v))

/* The f32 NHWC forward with one output channel per input channel and C a multiple of
 * DW_LANES: blocks of DW_COLS output columns x DW_LANES channels summed in registers, each
 * tap's weights loaded once per block and x read in place (the general path below copies
 * every x row into a buffer and keeps its sums in memory: 3 loads and a store per
 * multiply-add). Same order per element: the bias, then the taps in (r, s) order, each a
 * product then a sum. */
static void USINE_DW(forward_nhwc_row_f32)(const usine_conv_problem *p, const float *x,
                                           const float *wt, float *y, int64_t n, int64_t oh)
{
    const int64_t c = p->c;
    float *row = y + (n * p->p + oh) * p->q * c;
    const dw_vec zero = {0};
    /* columns outside, channels inside: x and y stream through memory in order */
    for (int64_t q0 = 0; q0 < p->q; q0 += DW_COLS)
        for (int64_t c0 = 0; c0 < c; c0 += DW_LANES) {
            const int cols = p->q - q0 < DW_COLS ? (int)(p->q - q0) : DW_COLS;
            dw_vec bias = zero;
            if (p->bias)
                DW_VLOAD(bias, p->bias + c0);
            dw_vec acc[DW_COLS];
#pragma GCC unroll 8
            for (int j = 0; j < DW_COLS; j++)
                acc[j] = bias;
            for (int64_t r = 0; r < p->r; r++) {
                const int64_t ih = oh * p->stride_h + r * p->dilation_h - p->pad_top;
                if (ih < 0 || ih >= p->h)
                    continue;
                const float *xrow = x + (n * p->h + ih) * p->w * c + c0;
                const int64_t iw0 = q0 * p->stride_w - p->pad_left;
                const int64_t iw_last =
                    (q0 + DW_COLS - 1) * p->stride_w + (p->s - 1) * p->dilation_w - p->pad_left;
                if (cols == DW_COLS && iw0 >= 0 && iw_last < p->w) { /* no tap in the padding */
                    for (int64_t s = 0; s < p->s; s++) {
                        dw_vec wv;
                        DW_VLOAD(wv, wt + (r * p->s + s) * c + c0);
                        const float *xs = xrow + (iw0 + s * p->dilation_w) * c;
#pragma GCC unroll 8
                        for (int j = 0; j < DW_COLS; j++) {
                            dw_vec xv;
                            DW_VLOAD(xv, xs + j * p->stride_w * c);
                            acc[j] += xv * wv;
                        }
                    }
                    continue;
                }
                for (int64_t s = 0; s < p->s; s++) {
                    dw_vec wv;
                    DW_VLOAD(wv, wt + (r * p->s + s) * c + c0);
#pragma GCC unroll 8 /* constant bounds keep acc[] in registers */
                    for (int j = 0; j < DW_COLS; j++) {
                        const int64_t iw = (q0 + j) * p->stride_w + s * p->dilation_w - p->pad_left;
                        if (j < cols && iw >= 0 && iw < p->w) {
                            dw_vec xv;
                            DW_VLOAD(xv, xrow + iw * c);
                            acc[j] += xv * wv;
                        }
                    }
                }
            }
#pragma GCC unroll 8
            for (int j = 0; j < DW_COLS; j++) {
                if (j >= cols)
                    break;
                dw_vec v = acc[j];
                if (p->activation == USINE_ACT_RELU) /* negative lanes to +0; -0 and NaN kept */
                    v = (dw_vec)((dw_mask)v & ~(v < zero));
                memcpy(row + (q0 + j) * c + c0, &v, sizeof v);
            }
        }
}

/* NHWC: output row (n, oh), every q and k. scratch: 3 K floats. */
static void USINE_DW(forward_nhwc_row)(const usine_conv_problem *p, const void *x, const float *wt,
                                       void *y, int64_t n, int64_t oh, float *scratch)
{
    const int64_t k = p->k, mult = p->k / p->c;
    if (p->dtype == USINE_F32 && mult == 1 && k % DW_LANES == 0) {
        USINE_DW(forward_nhwc_row_f32)(p, (const float *)x, wt, (float *)y, n, oh);
        return;
    }
    float *acc = scratch, *in = scratch + k, *spread = scratch + 2 * k;
    for (int64_t oq = 0; oq < p->q; oq++) {
        if (p->bias)
            memcpy(acc, p->bias, (size_t)k * sizeof *acc);
        else
            memset(acc, 0, (size_t)k * sizeof *acc);
        for (int64_t r = 0; r < p->r; r++) {
            const int64_t ih = oh * p->stride_h + r * p->dilation_h - p->pad_top;
            if (ih < 0 || ih >= p->h)
                continue;
            for (int64_t s = 0; s < p->s; s++) {
                const int64_t iw = oq * p->stride_w + s * p->dilation_w - p->pad_left;
                if (iw < 0 || iw >= p->w)
                    continue;
                dw_load_row(p, x, ((n * p->h + ih) * p->w + iw) * p->c, in, p->c);
                const float *xv = dw_spread(in, k, mult, spread);
                const float *wv = wt + (r * p->s + s) * k;
#pragma omp simd
                for (int64_t i = 0; i < k; i++)
                    acc[i] += xv[i] * wv[i];
            }
        }
        dw_activate(p, acc, k);
        dw_store_row(p, y, ((n * p->p + oh) * p->q + oq) * k, acc, k);
    }
}

/* NCHW: output plane (n, k), rows along q. scratch: Q + W floats. */
static void USINE_DW(forward_nchw_plane)(const usine_conv_problem *p, const void *x, const void *w,
                                         void *y, int64_t n, int64_t k, float *scratch)
{
    const int64_t c = k / (p->k / p->c);
    float *acc = scratch, *in = scratch + p->q;
    for (int64_t oh = 0; oh < p->p; oh++) {
        const float b = p->bias ? p->bias[k] : 0.0f;
        for (int64_t oq = 0; oq < p->q; oq++)
            acc[oq] = b;
        for (int64_t r = 0; r < p->r; r++) {
            const int64_t ih = oh * p->stride_h + r * p->dilation_h - p->pad_top;
            if (ih < 0 || ih >= p->h)
                continue;
            dw_load_row(p, x, ((n * p->c + c) * p->h + ih) * p->w, in, p->w);
            for (int64_t s = 0; s < p->s; s++) {
                const float wv = dw_load(p, w, (k * p->r + r) * p->s + s);
                const int64_t off = s * p->dilation_w - p->pad_left, sw = p->stride_w;
                /* q with 0 <= q sw + off < W */
                int64_t lo = off < 0 ? (-off + sw - 1) / sw : 0;
                int64_t hi = p->w - 1 - off < 0 ? 0 : (p->w - 1 - off) / sw + 1;
                if (hi > p->q)
                    hi = p->q;
                if (lo > hi)
                    lo = hi;
#pragma omp simd
                for (int64_t oq = lo; oq < hi; oq++)
                    acc[oq] += wv * in[oq * sw + off];
            }
        }
        dw_activate(p, acc, p->q);
        dw_store_row(p, y, ((n * p->k + k) * p->p + oh) * p->q, acc, p->q);
    }
}

/* ------------------------------------------------------------------ backward data */

/* The output index reached by input index i under tap r (i + pad - r dilation a multiple
 * of the stride, inside [0, out)), or -1. */
static inline int64_t dw_source(int64_t i, int64_t r, int64_t stride, int64_t pad, int64_t dilation,
                                int64_t out)
{
    const int64_t t = i + pad - r * dilation;
    if (t < 0 || t % stride != 0 || t / stride >= out)
        return -1;
    return t / stride;
}

/* The f32 NHWC backward data with one output channel per input channel and C a multiple of
 * DW_LANES, in the forward's register blocks (DW_COLS pixels of dx x DW_LANES channels),
 * each tap's weights loaded once per block, dy read in place. Same order per element as the
 * general path: taps in (r, s) order from 0. */
static void USINE_DW(backward_data_nhwc_row_f32)(const usine_conv_problem *p, const float *dy,
                                                 const float *wt, float *dx, int64_t n, int64_t h)
{
    const int64_t c = p->c;
    float *row = dx + (n * p->h + h) * p->w * c;
    const dw_vec zero = {0};
    for (int64_t w0 = 0; w0 < p->w; w0 += DW_COLS)
        for (int64_t c0 = 0; c0 < c; c0 += DW_LANES) {
            const int cols = p->w - w0 < DW_COLS ? (int)(p->w - w0) : DW_COLS;
            dw_vec acc[DW_COLS];
#pragma GCC unroll 8
            for (int j = 0; j < DW_COLS; j++)
                acc[j] = zero;
            for (int64_t r = 0; r < p->r; r++) {
                const int64_t oh = dw_source(h, r, p->stride_h, p->pad_top, p->dilation_h, p->p);
                if (oh < 0)
                    continue;
                const float *dyrow = dy + (n * p->p + oh) * p->q * c + c0;
                /* stride 1, every tap of the block inside dy: no tests per pixel */
                const int64_t first = w0 + p->pad_left - (p->s - 1) * p->dilation_w;
                if (p->stride_w == 1 && cols == DW_COLS && first >= 0 &&
                    w0 + DW_COLS - 1 + p->pad_left < p->q) {
                    for (int64_t s = 0; s < p->s; s++) {
                        dw_vec wv;
                        DW_VLOAD(wv, wt + (r * p->s + s) * c + c0);
                        const float *src = dyrow + (w0 + p->pad_left - s * p->dilation_w) * c;
#pragma GCC unroll 8
                        for (int j = 0; j < DW_COLS; j++) {
                            dw_vec v;
                            DW_VLOAD(v, src + j * c);
                            acc[j] += v * wv;
                        }
                    }
                    continue;
                }
                for (int64_t s = 0; s < p->s; s++) {
                    dw_vec wv;
                    DW_VLOAD(wv, wt + (r * p->s + s) * c + c0);
#pragma GCC unroll 8 /* constant bounds keep acc[] in registers */
                    for (int j = 0; j < DW_COLS; j++) {
                        /* stride 1 without dw_source's division */
                        const int64_t t = w0 + j + p->pad_left - s * p->dilation_w;
                        int64_t oq = -1;
                        if (j < cols && p->stride_w == 1)
                            oq = t >= 0 && t < p->q ? t : -1;
                        else if (j < cols)
                            oq =
                                dw_source(w0 + j, s, p->stride_w, p->pad_left, p->dilation_w, p->q);
                        if (oq >= 0) {
                            dw_vec v;
                            DW_VLOAD(v, dyrow + oq * c);
                            acc[j] += v * wv;
                        }
                    }
                }
            }
#pragma GCC unroll 8
            for (int j = 0; j < DW_COLS; j++) {
                if (j >= cols)
                    break;
                memcpy(row + (w0 + j) * c + c0, &acc[j], sizeof acc[j]);
            }
        }
}

/* NHWC: dx row (n, h), every w and c: a gather over the outputs that read each pixel.
 * scratch: 2 K + C floats. */
static void USINE_DW(backward_data_nhwc_row)(const usine_conv_problem *p, const void *dy,
                                             const float *wt, void *dx, int64_t n, int64_t h,
                                             float *scratch)
{
    const int64_t k = p->k, mult = p->k / p->c;
    if (p->dtype == USINE_F32 && mult == 1 && k % DW_LANES == 0) {
        USINE_DW(backward_data_nhwc_row_f32)(p, (const float *)dy, wt, (float *)dx, n, h);
        return;
    }
    float *acc = scratch, *in = scratch + p->c, *prod = scratch + p->c + k;
    for (int64_t iw = 0; iw < p->w; iw++) {
        memset(acc, 0, (size_t)p->c * sizeof *acc);
        for (int64_t r = 0; r < p->r; r++) {
            const int64_t oh = dw_source(h, r, p->stride_h, p->pad_top, p->dilation_h, p->p);
            if (oh < 0)
                continue;
            for (int64_t s = 0; s < p->s; s++) {
                const int64_t oq = dw_source(iw, s, p->stride_w, p->pad_left, p->dilation_w, p->q);
                if (oq < 0)
                    continue;
                dw_load_row(p, dy, ((n * p->p + oh) * p->q + oq) * k, in, k);
                const float *wv = wt + (r * p->s + s) * k;
                if (mult == 1) {
#pragma omp simd
                    for (int64_t i = 0; i < k; i++)
                        acc[i] += in[i] * wv[i];
                } else {
#pragma omp simd
                    for (int64_t i = 0; i < k; i++)
                        prod[i] = in[i] * wv[i];
                    for (int64_t i = 0; i < k; i++)
                        acc[i / mult] += prod[i];
                }
            }
        }
        dw_store_row(p, dx, ((n * p->h + h) * p->w + iw) * p->c, acc, p->c);
    }
}

/* NCHW: dx plane (n, c). scratch: W floats. */
static void USINE_DW(backward_data_nchw_plane)(const usine_conv_problem *p, const void *dy,
                                               const void *w, void *dx, int64_t n, int64_t c,
                                               float *scratch)
{
    const int64_t mult = p->k / p->c;
    float *acc = scratch;
    for (int64_t h = 0; h < p->h; h++) {
        memset(acc, 0, (size_t)p->w * sizeof *acc);
        for (int64_t m = 0; m < mult; m++) {
            const int64_t k = c * mult + m;
            for (int64_t r = 0; r < p->r; r++) {
                const int64_t oh = dw_source(h, r, p->stride_h, p->pad_top, p->dilation_h, p->p);
                if (oh < 0)
                    continue;
                const int64_t row = ((n * p->k + k) * p->p + oh) * p->q;
                for (int64_t s = 0; s < p->s; s++) {
                    const float wv = dw_load(p, w, (k * p->r + r) * p->s + s);
                    for (int64_t iw = 0; iw < p->w; iw++) {
                        const int64_t oq =
                            dw_source(iw, s, p->stride_w, p->pad_left, p->dilation_w, p->q);
                        if (oq >= 0)
                            acc[iw] += wv * dw_load(p, dy, row + oq);
                    }
                }
            }
        }
        dw_store_row(p, dx, ((n * p->c + c) * p->h + h) * p->w, acc, p->w);
    }
}

/* ------------------------------------------------------------------ backward weights */

/* NHWC: dw of channels [k0, k1) into acc[(r S + s) K + k] (f32), summed over n, p, q in
 * order. scratch: 2 K floats. */
/* Taps the register-blocked weight gradient holds (3x3 and smaller filters). */
#define DW_MAX_TAPS 9

/* The f32 NHWC weight gradient with one output channel per input channel, C a multiple of
 * DW_LANES and at most DW_MAX_TAPS taps: per block of DW_LANES channels, every tap's sum in a
 * register across all positions; per position one load of dy and one of x per tap (the
 * general path keeps the sums in memory and copies every x row). Same order per element:
 * positions (n, oh, oq) in order from 0. */
static void USINE_DW(backward_weights_nhwc_f32)(const usine_conv_problem *p, const float *x,
                                                const float *dy, int64_t k0, int64_t k1, float *out)
{
    const int64_t c = p->c, taps = p->r * p->s;
    int64_t dw_off[DW_MAX_TAPS] = {0}; /* s dilation_w of tap t */
    for (int64_t t = 0; t < taps; t++)
        dw_off[t] = t % p->s * p->dilation_w;
    const dw_vec zero = {0};
    for (int64_t c0 = k0; c0 < k1; c0 += DW_LANES) {
        dw_vec acc[DW_MAX_TAPS];
#pragma GCC unroll 9
        for (int t = 0; t < DW_MAX_TAPS; t++)
            acc[t] = zero;
        for (int64_t n = 0; n < p->n; n++)
            for (int64_t oh = 0; oh < p->p; oh++) {
                /* tap t's source row (at column 0, channel c0), or NULL in the padding */
                const float *row[DW_MAX_TAPS] = {NULL};
                int rows_inside = 1;
                for (int64_t t = 0; t < taps; t++) {
                    const int64_t ih = oh * p->stride_h + t / p->s * p->dilation_h - p->pad_top;
                    if (ih >= 0 && ih < p->h)
                        row[t] = x + (n * p->h + ih) * p->w * c + c0;
                    else
                        rows_inside = 0;
                }
                const float *g = dy + (n * p->p + oh) * p->q * c + c0;
                for (int64_t oq = 0; oq < p->q; oq++) {
                    dw_vec gv;
                    DW_VLOAD(gv, g + oq * c);
                    const int64_t iw0 = oq * p->stride_w - p->pad_left;
                    if (rows_inside && iw0 >= 0 && iw0 + (p->s - 1) * p->dilation_w < p->w) {
#pragma GCC unroll 9
                        for (int t = 0; t < DW_MAX_TAPS; t++)
                            if (t < taps) {
                                dw_vec xv;
                                DW_VLOAD(xv, row[t] + (iw0 + dw_off[t]) * c);
                                acc[t] += gv * xv;
                            }
                        continue;
                    }
#pragma GCC unroll 9
                    for (int t = 0; t < DW_MAX_TAPS; t++) {
                        const int64_t iw = iw0 + dw_off[t];
                        if (t < taps && row[t] && iw >= 0 && iw < p->w) {
                            dw_vec xv;
                            DW_VLOAD(xv, row[t] + iw * c);
                            acc[t] += gv * xv;
                        }
                    }
                }
            }
        for (int64_t t = 0; t < taps; t++)
            memcpy(out + t * p->k + c0, &acc[t], sizeof acc[t]);
    }
}

static void USINE_DW(backward_weights_nhwc)(const usine_conv_problem *p, const void *x,
                                            const void *dy, int64_t k0, int64_t k1, float *acc,
                                            float *scratch)
{
    const int64_t k = p->k, mult = p->k / p->c, taps = p->r * p->s;
    if (p->dtype == USINE_F32 && mult == 1 && k % DW_LANES == 0 && taps <= DW_MAX_TAPS &&
        k0 % DW_LANES == 0 && (k1 - k0) % DW_LANES == 0) {
        USINE_DW(backward_weights_nhwc_f32)(p, (const float *)x, (const float *)dy, k0, k1, acc);
        return;
    }
    float *g = scratch, *in = scratch + k;
    for (int64_t t = 0; t < taps; t++)
        memset(acc + t * k + k0, 0, (size_t)(k1 - k0) * sizeof *acc);
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t oh = 0; oh < p->p; oh++)
            for (int64_t oq = 0; oq < p->q; oq++) {
                dw_load_row(p, dy, ((n * p->p + oh) * p->q + oq) * k + k0, g + k0, k1 - k0);
                for (int64_t r = 0; r < p->r; r++) {
                    const int64_t ih = oh * p->stride_h + r * p->dilation_h - p->pad_top;
                    if (ih < 0 || ih >= p->h)
                        continue;
                    for (int64_t s = 0; s < p->s; s++) {
                        const int64_t iw = oq * p->stride_w + s * p->dilation_w - p->pad_left;
                        if (iw < 0 || iw >= p->w)
                            continue;
                        const int64_t base = ((n * p->h + ih) * p->w + iw) * p->c;
                        float *a = acc + (r * p->s + s) * k;
                        if (mult == 1) {
                            dw_load_row(p, x, base + k0, in + k0, k1 - k0);
#pragma omp simd
                            for (int64_t i = k0; i < k1; i++)
                                a[i] += g[i] * in[i];
                        } else {
                            for (int64_t i = k0; i < k1; i++)
                                a[i] += g[i] * dw_load(p, x, base + i / mult);
                        }
                    }
                }
            }
}

/* NCHW: dw of channel k into acc[r S + s] (f32). */
static void USINE_DW(backward_weights_nchw)(const usine_conv_problem *p, const void *x,
                                            const void *dy, int64_t k, float *acc)
{
    const int64_t c = k / (p->k / p->c);
    for (int64_t t = 0; t < p->r * p->s; t++)
        acc[t] = 0.0f;
    for (int64_t n = 0; n < p->n; n++)
        for (int64_t oh = 0; oh < p->p; oh++)
            for (int64_t oq = 0; oq < p->q; oq++) {
                const float g = dw_load(p, dy, ((n * p->k + k) * p->p + oh) * p->q + oq);
                for (int64_t r = 0; r < p->r; r++) {
                    const int64_t ih = oh * p->stride_h + r * p->dilation_h - p->pad_top;
                    if (ih < 0 || ih >= p->h)
                        continue;
                    for (int64_t s = 0; s < p->s; s++) {
                        const int64_t iw = oq * p->stride_w + s * p->dilation_w - p->pad_left;
                        if (iw >= 0 && iw < p->w)
                            acc[r * p->s + s] +=
                                g * dw_load(p, x, ((n * p->c + c) * p->h + ih) * p->w + iw);
                    }
                }
            }
}

const usine_conv_dw_kernels USINE_DW(kernels) = {
    USINE_DW(forward_nhwc_row),       USINE_DW(forward_nchw_plane),
    USINE_DW(backward_data_nhwc_row), USINE_DW(backward_data_nchw_plane),
    USINE_DW(backward_weights_nhwc),  USINE_DW(backward_weights_nchw),
};
