/* Shared setup, reference and checks of the convolution tests: see conv_cases.h. */
#include "conv_cases.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- geometry and layout */

/* Output extent along one axis; 0 when the filter does not fit the padded input (a floor
 * division, unlike C's truncation, so that a small input is never mistaken for size 1). */
static int64_t out_extent(int64_t in, int64_t pad0, int64_t pad1, int64_t dil, int64_t f,
                          int64_t stride)
{
    const int64_t room = in + pad0 + pad1 - dil * (f - 1) - 1;
    return room < 0 || stride < 1 ? 0 : room / stride + 1;
}

conv_geom conv_geometry(const conv_case *c)
{
    conv_geom g;
    g.p = out_extent(c->h, c->pad_t, c->pad_b, c->dil_h, c->r, c->stride_h);
    g.q = out_extent(c->w, c->pad_l, c->pad_r, c->dil_w, c->s, c->stride_w);
    g.cg = c->groups > 0 ? c->c / c->groups : 0;
    g.kg = c->groups > 0 ? c->k / c->groups : 0;
    g.nx = c->n * c->c * c->h * c->w;
    g.nw = c->k * g.cg * c->r * c->s;
    g.ny = c->n * c->k * g.p * g.q;
    return g;
}

usine_conv2d_desc conv_desc(const conv_case *c)
{
    usine_conv2d_desc d;
    usine_conv2d_desc_init(&d);
    d.dtype = c->dtype;
    d.layout = c->layout;
    d.batch = c->n;
    d.in_channels = c->c;
    d.in_height = c->h;
    d.in_width = c->w;
    d.out_channels = c->k;
    d.filter_height = c->r;
    d.filter_width = c->s;
    d.stride_h = c->stride_h;
    d.stride_w = c->stride_w;
    d.pad_top = c->pad_t;
    d.pad_bottom = c->pad_b;
    d.pad_left = c->pad_l;
    d.pad_right = c->pad_r;
    d.dilation_h = c->dil_h;
    d.dilation_w = c->dil_w;
    d.groups = c->groups;
    d.activation = c->act;
    return d;
}

/* Offset of [a, b, h, w] in a tensor of `chans` channels: NHWC stores it as [a, h, w, b],
 * NCHW as [a, b, h, w]. */
static int64_t image_at(usine_conv_layout layout, int64_t chans, int64_t height, int64_t width,
                        int64_t a, int64_t b, int64_t h, int64_t w)
{
    if (layout == USINE_CONV_NHWC)
        return ((a * height + h) * width + w) * chans + b;
    return ((a * chans + b) * height + h) * width + w;
}

int64_t conv_x_at(const conv_case *c, const conv_geom *g, int64_t n, int64_t ch, int64_t h,
                  int64_t w)
{
    (void)g;
    return image_at(c->layout, c->c, c->h, c->w, n, ch, h, w);
}

/* Filters are images of C' channels: KRSC with NHWC, KCRS with NCHW. */
int64_t conv_w_at(const conv_case *c, const conv_geom *g, int64_t k, int64_t cc, int64_t r,
                  int64_t s)
{
    return image_at(c->layout, g->cg, c->r, c->s, k, cc, r, s);
}

int64_t conv_y_at(const conv_case *c, const conv_geom *g, int64_t n, int64_t k, int64_t p,
                  int64_t q)
{
    return image_at(c->layout, c->k, g->p, g->q, n, k, p, q);
}

/* The inverse of image_at: coordinates [a, b, h, w] of an offset. */
static void image_coords(usine_conv_layout layout, int64_t chans, int64_t height, int64_t width,
                         int64_t i, int64_t out[4])
{
    if (layout == USINE_CONV_NHWC) {
        out[1] = i % chans;
        i /= chans;
        out[3] = i % width;
        i /= width;
        out[2] = i % height;
        out[0] = i / height;
    } else {
        out[3] = i % width;
        i /= width;
        out[2] = i % height;
        i /= height;
        out[1] = i % chans;
        out[0] = i / chans;
    }
}

/* ---------------------------------------------------------------- elements */

size_t conv_esize(usine_dtype dtype)
{
    return dtype == USINE_BF16 ? 2 : 4;
}

double conv_round_bf16(double v)
{
    if (!isfinite(v) || v == 0)
        return v;
    int e;
    frexp(v, &e); /* |v| = m 2^e, m in [0.5, 1): bf16 keeps 8 significant bits */
    int quantum = e - 8;
    if (e - 1 < -126) /* subnormal: a fixed quantum */
        quantum = -126 - 8 + 1;
    return ldexp(nearbyint(ldexp(v, -quantum)), quantum);
}

/* The upper half of the float of a value that bf16 represents exactly. */
static uint16_t bf16_encode(double exact)
{
    const float f = (float)exact;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return (uint16_t)(bits >> 16);
}

static double bf16_decode(uint16_t h)
{
    const uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

double conv_get(usine_dtype dtype, const void *x, int64_t i)
{
    return dtype == USINE_BF16 ? bf16_decode(((const uint16_t *)x)[i]) : ((const float *)x)[i];
}

void conv_put(usine_dtype dtype, void *x, int64_t i, double v)
{
    if (dtype == USINE_BF16)
        ((uint16_t *)x)[i] = isnan(v) ? 0x7fc0 : bf16_encode(conv_round_bf16(v));
    else
        ((float *)x)[i] = (float)v;
}

/* ---------------------------------------------------------------- tensors */

static test_buffer make_random(usine_dtype dtype, int64_t count)
{
    test_buffer b = test_buffer_alloc((size_t)count * conv_esize(dtype));
    for (int64_t i = 0; i < count; i++)
        conv_put(dtype, b.data, i, test_rand_uniform(-1.0, 1.0));
    return b;
}

void conv_poison(test_buffer *b, usine_dtype dtype)
{
    const int64_t count = (int64_t)(b->bytes / conv_esize(dtype));
    for (int64_t i = 0; i < count; i++)
        conv_put(dtype, b->data, i, NAN);
}

static test_buffer make_poisoned(usine_dtype dtype, int64_t count)
{
    test_buffer b = test_buffer_alloc((size_t)count * conv_esize(dtype));
    conv_poison(&b, dtype);
    return b;
}

void conv_make_tensors(const conv_case *c, conv_tensors *t)
{
    memset(t, 0, sizeof *t);
    t->c = *c;
    t->g = conv_geometry(c);
    t->desc = conv_desc(c);
    t->x = make_random(c->dtype, t->g.nx);
    t->w = make_random(c->dtype, t->g.nw);
    t->dy = make_random(c->dtype, t->g.ny);
    t->bias = make_random(USINE_F32, c->k);
    t->y = make_poisoned(c->dtype, t->g.ny);
    t->dx = make_poisoned(c->dtype, t->g.nx);
    t->dw = make_poisoned(c->dtype, t->g.nw);
    t->dbias = make_poisoned(USINE_F32, c->k);
    t->desc.bias = c->bias ? (const float *)t->bias.data : NULL;
}

void conv_free_tensors(conv_tensors *t)
{
    test_buffer *all[] = {&t->x, &t->w, &t->y, &t->dy, &t->dx, &t->dw, &t->bias, &t->dbias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        test_buffer_free(all[i]);
}

/* ---------------------------------------------------------------- workspaces and passes */

usine_status conv_workspace_get(usine_context *ctx, const usine_conv2d_desc *d,
                                usine_conv_pass pass, conv_workspace *ws)
{
    memset(ws, 0, sizeof *ws);
    const usine_status st = usine_conv2d_workspace_size(ctx, d, pass, &ws->size);
    if (st != USINE_SUCCESS)
        ws->size = 0;
    /* garbage content: a workspace is never assumed to start zeroed */
    ws->buf = test_buffer_alloc(ws->size);
    memset(ws->buf.data, 0xff, ws->size);
    ws->data = ws->size ? ws->buf.data : NULL;
    return st;
}

void conv_workspace_release(conv_workspace *ws, const char *what)
{
    CHECK(test_buffer_guards_ok(&ws->buf), "%s: written past its workspace of %zu bytes", what,
          ws->size);
    test_buffer_free(&ws->buf);
}

usine_status conv_run_forward(usine_context *ctx, conv_tensors *t)
{
    conv_workspace ws;
    usine_status st = conv_workspace_get(ctx, &t->desc, USINE_CONV_FORWARD, &ws);
    if (st == USINE_SUCCESS)
        st = usine_conv2d_forward(ctx, &t->desc, t->x.data, t->w.data, t->y.data, ws.data, ws.size);
    conv_workspace_release(&ws, "forward");
    return st;
}

#define PACKED_CANARY 64

usine_status conv_pack(usine_context *ctx, const conv_tensors *t, usine_conv_pass pass,
                       conv_packed *pk)
{
    memset(pk, 0, sizeof *pk);
    const int forward = pass == USINE_CONV_FORWARD;
    usine_status st = forward ? usine_conv2d_packed_filters_size(ctx, &t->desc, &pk->size)
                              : usine_conv2d_backward_data_packed_size(ctx, &t->desc, &pk->size);
    if (st != USINE_SUCCESS)
        return st;
    const size_t bytes = (pk->size + PACKED_CANARY + 63) / 64 * 64;
    pk->base = (unsigned char *)aligned_alloc(64, bytes);
    if (!pk->base) {
        fprintf(stderr, "conv_pack: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    memset(pk->base, 0xa5, bytes);
    pk->data = pk->base;
    return forward ? usine_conv2d_pack_filters(ctx, &t->desc, t->w.data, pk->data, pk->size)
                   : usine_conv2d_pack_filters_backward_data(ctx, &t->desc, t->w.data, pk->data,
                                                             pk->size);
}

void conv_packed_release(conv_packed *pk, const char *what)
{
    int intact = 1;
    for (size_t i = 0; pk->base && i < PACKED_CANARY; i++)
        intact &= pk->base[pk->size + i] == 0xa5;
    CHECK(intact, "%s: written past its packed filters of %zu bytes", what, pk->size);
    free(pk->base);
    memset(pk, 0, sizeof *pk);
}

/* The pass (forward or backward data) through filters packed for it. */
static usine_status run_packed(usine_context *ctx, conv_tensors *t, usine_conv_pass pass)
{
    const int forward = pass == USINE_CONV_FORWARD;
    const char *what = forward ? "forward packed" : "backward data packed";
    conv_packed pk;
    usine_status st = conv_pack(ctx, t, pass, &pk);
    conv_workspace ws;
    const usine_status ws_st = conv_workspace_get(ctx, &t->desc, pass, &ws);
    if (st == USINE_SUCCESS)
        st = ws_st;
    if (st == USINE_SUCCESS)
        st = forward ? usine_conv2d_forward_packed(ctx, &t->desc, t->x.data, pk.data, pk.size,
                                                   t->y.data, ws.data, ws.size)
                     : usine_conv2d_backward_data_packed(ctx, &t->desc, t->dy.data, pk.data,
                                                         pk.size, t->dx.data, ws.data, ws.size);
    conv_workspace_release(&ws, what);
    conv_packed_release(&pk, what);
    return st;
}

usine_status conv_run_forward_packed(usine_context *ctx, conv_tensors *t)
{
    return run_packed(ctx, t, USINE_CONV_FORWARD);
}

usine_status conv_run_backward_data(usine_context *ctx, conv_tensors *t)
{
    conv_workspace ws;
    usine_status st = conv_workspace_get(ctx, &t->desc, USINE_CONV_BACKWARD_DATA, &ws);
    if (st == USINE_SUCCESS)
        st = usine_conv2d_backward_data(ctx, &t->desc, t->dy.data, t->w.data, t->dx.data, ws.data,
                                        ws.size);
    conv_workspace_release(&ws, "backward data");
    return st;
}

usine_status conv_run_backward_data_packed(usine_context *ctx, conv_tensors *t)
{
    return run_packed(ctx, t, USINE_CONV_BACKWARD_DATA);
}

usine_status conv_run_backward_weights(usine_context *ctx, conv_tensors *t, int with_dbias)
{
    conv_workspace ws;
    usine_status st = conv_workspace_get(ctx, &t->desc, USINE_CONV_BACKWARD_WEIGHTS, &ws);
    if (st == USINE_SUCCESS)
        st = usine_conv2d_backward_weights(ctx, &t->desc, t->x.data, t->dy.data, t->dw.data,
                                           with_dbias ? (float *)t->dbias.data : NULL, ws.data,
                                           ws.size);
    conv_workspace_release(&ws, "backward weights");
    return st;
}

/* ---------------------------------------------------------------- reference */

static conv_reference reference_alloc(int64_t count)
{
    conv_reference r;
    const size_t n = (size_t)(count > 0 ? count : 1);
    r.count = count;
    r.value = calloc(n, sizeof *r.value);
    r.mag = calloc(n, sizeof *r.mag);
    r.terms = calloc(n, sizeof *r.terms);
    if (!r.value || !r.mag || !r.terms) {
        fprintf(stderr, "conv reference: out of memory\n");
        exit(1);
    }
    return r;
}

void conv_reference_free(conv_reference *r)
{
    free(r->value);
    free(r->mag);
    free(r->terms);
}

/* Input row (or column) that output position o reads through filter tap f; may be outside. */
static int64_t tap(int64_t o, int64_t stride, int64_t f, int64_t dil, int64_t pad)
{
    return o * stride + f * dil - pad;
}

/* sum_{c', r, s} x w of one output element, and its magnitude sum |x w|. */
static void forward_sum(const conv_tensors *t, int64_t n, int64_t k, int64_t p, int64_t q,
                        long double *sum, long double *mag)
{
    const conv_case *c = &t->c;
    const conv_geom *g = &t->g;
    const int64_t group = k / g->kg;
    *sum = *mag = 0;
    for (int64_t cc = 0; cc < g->cg; cc++)
        for (int64_t r = 0; r < c->r; r++) {
            const int64_t hi = tap(p, c->stride_h, r, c->dil_h, c->pad_t);
            if (hi < 0 || hi >= c->h)
                continue;
            for (int64_t s = 0; s < c->s; s++) {
                const int64_t wi = tap(q, c->stride_w, s, c->dil_w, c->pad_l);
                if (wi < 0 || wi >= c->w)
                    continue;
                const long double xv =
                    conv_get(c->dtype, t->x.data, conv_x_at(c, g, n, group * g->cg + cc, hi, wi));
                const long double wv = conv_get(c->dtype, t->w.data, conv_w_at(c, g, k, cc, r, s));
                *sum += xv * wv;
                *mag += fabsl(xv * wv);
            }
        }
}

conv_reference conv_ref_forward(const conv_tensors *t, int with_epilogue)
{
    const conv_case *c = &t->c;
    const conv_geom *g = &t->g;
    conv_reference ref = reference_alloc(g->ny);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t k = 0; k < c->k; k++)
            for (int64_t p = 0; p < g->p; p++)
                for (int64_t q = 0; q < g->q; q++) {
                    const int64_t i = conv_y_at(c, g, n, k, p, q);
                    long double sum, mag;
                    forward_sum(t, n, k, p, q, &sum, &mag);
                    if (with_epilogue && c->bias) {
                        const long double b = ((const float *)t->bias.data)[k];
                        sum += b;
                        mag += fabsl(b);
                    }
                    ref.value[i] = with_epilogue ? test_activation(sum, c->act) : sum;
                    ref.mag[i] = mag;
                    ref.terms[i] = g->cg * c->r * c->s;
                }
    return ref;
}

/* Output position along one axis that input position `in` is read from through tap f, or
 * -1: in = o * stride + f * dil - pad must hold for an integer o in [0, extent). */
static int64_t reached(int64_t in, int64_t f, int64_t stride, int64_t dil, int64_t pad,
                       int64_t extent)
{
    const int64_t num = in + pad - f * dil;
    if (num < 0 || num % stride != 0 || num / stride >= extent)
        return -1;
    return num / stride;
}

/* dx[n, ch, h, w] = sum over the group's k and the taps (r, s) whose output position lands on
 * (h, w) of dy[n, k, p, q] w[k, c', r, s]: the adjoint written as a gather, not as the
 * forward's scatter. */
static void backward_data_element(const conv_tensors *t, int64_t n, int64_t ch, int64_t h,
                                  int64_t w, conv_reference *ref)
{
    const conv_case *c = &t->c;
    const conv_geom *g = &t->g;
    const int64_t group = ch / g->cg, cc = ch % g->cg, i = conv_x_at(c, g, n, ch, h, w);
    long double sum = 0, mag = 0;
    int64_t terms = 0;
    for (int64_t kk = 0; kk < g->kg; kk++) {
        const int64_t k = group * g->kg + kk;
        for (int64_t r = 0; r < c->r; r++) {
            const int64_t p = reached(h, r, c->stride_h, c->dil_h, c->pad_t, g->p);
            if (p < 0)
                continue;
            for (int64_t s = 0; s < c->s; s++) {
                const int64_t q = reached(w, s, c->stride_w, c->dil_w, c->pad_l, g->q);
                if (q < 0)
                    continue;
                const long double dyv = conv_get(c->dtype, t->dy.data, conv_y_at(c, g, n, k, p, q));
                const long double wv = conv_get(c->dtype, t->w.data, conv_w_at(c, g, k, cc, r, s));
                sum += dyv * wv;
                mag += fabsl(dyv * wv);
                terms++;
            }
        }
    }
    ref->value[i] = sum;
    ref->mag[i] = mag;
    ref->terms[i] = terms;
}

conv_reference conv_ref_backward_data(const conv_tensors *t)
{
    const conv_case *c = &t->c;
    conv_reference ref = reference_alloc(t->g.nx);
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t ch = 0; ch < c->c; ch++)
            for (int64_t h = 0; h < c->h; h++)
                for (int64_t w = 0; w < c->w; w++)
                    backward_data_element(t, n, ch, h, w, &ref);
    return ref;
}

/* dw[k, c', r, s] = sum_{n, p, q} dy[n, k, p, q] x[n, g C' + c', tap h, tap w]. */
static void backward_weights_element(const conv_tensors *t, int64_t k, int64_t cc, int64_t r,
                                     int64_t s, conv_reference *ref)
{
    const conv_case *c = &t->c;
    const conv_geom *g = &t->g;
    const int64_t ch = (k / g->kg) * g->cg + cc, i = conv_w_at(c, g, k, cc, r, s);
    long double sum = 0, mag = 0;
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t p = 0; p < g->p; p++) {
            const int64_t hi = tap(p, c->stride_h, r, c->dil_h, c->pad_t);
            if (hi < 0 || hi >= c->h)
                continue;
            for (int64_t q = 0; q < g->q; q++) {
                const int64_t wi = tap(q, c->stride_w, s, c->dil_w, c->pad_l);
                if (wi < 0 || wi >= c->w)
                    continue;
                const long double dyv = conv_get(c->dtype, t->dy.data, conv_y_at(c, g, n, k, p, q));
                const long double xv =
                    conv_get(c->dtype, t->x.data, conv_x_at(c, g, n, ch, hi, wi));
                sum += dyv * xv;
                mag += fabsl(dyv * xv);
            }
        }
    ref->value[i] = sum;
    ref->mag[i] = mag;
    ref->terms[i] = c->n * g->p * g->q;
}

conv_reference conv_ref_backward_weights(const conv_tensors *t)
{
    const conv_case *c = &t->c;
    conv_reference ref = reference_alloc(t->g.nw);
    for (int64_t k = 0; k < c->k; k++)
        for (int64_t cc = 0; cc < t->g.cg; cc++)
            for (int64_t r = 0; r < c->r; r++)
                for (int64_t s = 0; s < c->s; s++)
                    backward_weights_element(t, k, cc, r, s, &ref);
    return ref;
}

conv_reference conv_ref_bias_grad(const conv_tensors *t)
{
    const conv_case *c = &t->c;
    const conv_geom *g = &t->g;
    conv_reference ref = reference_alloc(c->k);
    for (int64_t k = 0; k < c->k; k++) {
        for (int64_t n = 0; n < c->n; n++)
            for (int64_t p = 0; p < g->p; p++)
                for (int64_t q = 0; q < g->q; q++) {
                    const long double v =
                        conv_get(c->dtype, t->dy.data, conv_y_at(c, g, n, k, p, q));
                    ref.value[k] += v;
                    ref.mag[k] += fabsl(v);
                }
        ref.terms[k] = c->n * g->p * g->q;
    }
    return ref;
}

/* ---------------------------------------------------------------- checks */

double conv_tolerance(usine_dtype out_dtype, const conv_reference *r, int64_t i)
{
    const double sums = (double)(r->terms[i] + 2) * CONV_U * (double)r->mag[i];
    if (out_dtype != USINE_BF16)
        return sums;
    return sums * (1 + 0x1p-8) + 0x1p-8 * fabs((double)r->value[i]);
}

/* "[n=1 c=2 h=3 w=4]" for an element of a tensor. */
static void element_name(const conv_tensors *t, conv_tensor_kind kind, int64_t i, char *out,
                         size_t size)
{
    const conv_case *c = &t->c;
    int64_t v[4];
    const char *names = "nkpq";
    if (kind == CONV_DBIAS) {
        snprintf(out, size, "[k=%lld]", (long long)i);
        return;
    }
    if (kind == CONV_Y) {
        image_coords(c->layout, c->k, t->g.p, t->g.q, i, v);
    } else if (kind == CONV_DX) {
        image_coords(c->layout, c->c, c->h, c->w, i, v);
        names = "nchw";
    } else {
        image_coords(c->layout, t->g.cg, c->r, c->s, i, v);
        names = "kcrs";
    }
    snprintf(out, size, "[%c=%lld %c=%lld %c=%lld %c=%lld]", names[0], (long long)v[0], names[1],
             (long long)v[1], names[2], (long long)v[2], names[3], (long long)v[3]);
}

int64_t conv_check(const conv_tensors *t, const char *what, conv_tensor_kind kind,
                   const test_buffer *got, const conv_reference *r)
{
    const usine_dtype dtype = kind == CONV_DBIAS ? USINE_F32 : t->c.dtype;
    int64_t bad = 0;
    char text[256], at[96];
    conv_describe(&t->c, text, sizeof text);
    for (int64_t i = 0; i < r->count; i++) {
        const double v = conv_get(dtype, got->data, i), tol = conv_tolerance(dtype, r, i);
        if (fabs(v - (double)r->value[i]) <= tol)
            continue;
        if (bad++ < 5) {
            element_name(t, kind, i, at, sizeof at);
            fprintf(stderr,
                    "  %s %s: %s = %.9g, reference %.9Lg, |diff| %.3g > tol %.3g (%lld terms)\n",
                    what, text, at, v, r->value[i], fabs(v - (double)r->value[i]), tol,
                    (long long)r->terms[i]);
        }
    }
    const int guards = test_buffer_guards_ok(got);
    CHECK(bad == 0 && guards, "%s %s: %lld bad elements of %lld%s", what, text, (long long)bad,
          (long long)r->count, guards ? "" : ", and a guard zone written");
    return bad + !guards;
}

int conv_is_forced(const char *name)
{
    const char *want = getenv("USINE_CONV_ALGO");
    if (!want || !*want || !name)
        return 0;
    const char *cpu = strstr(name, "_cpu_");
    return strcmp(name, want) == 0 || (cpu && strcmp(cpu + 5, want) == 0);
}

void conv_describe(const conv_case *c, char *text, size_t size)
{
    snprintf(text, size,
             "%s %s n=%lld c=%lld h=%lld w=%lld k=%lld r=%lld s=%lld stride=%lldx%lld "
             "pad=t%lld,b%lld,l%lld,r%lld dil=%lldx%lld groups=%lld bias=%d act=%d",
             c->dtype == USINE_BF16 ? "bf16" : "f32",
             c->layout == USINE_CONV_NHWC ? "NHWC" : "NCHW", (long long)c->n, (long long)c->c,
             (long long)c->h, (long long)c->w, (long long)c->k, (long long)c->r, (long long)c->s,
             (long long)c->stride_h, (long long)c->stride_w, (long long)c->pad_t,
             (long long)c->pad_b, (long long)c->pad_l, (long long)c->pad_r, (long long)c->dil_h,
             (long long)c->dil_w, (long long)c->groups, c->bias, (int)c->act);
}

/* ---------------------------------------------------------------- cases */

usine_context *conv_start(const char *name, int argc, char **argv, usine_dtype *dtype)
{
    *dtype = USINE_F32;
    if (argc > 1 && strcmp(argv[1], "bf16") == 0)
        *dtype = USINE_BF16;
    else if (argc > 1 && strcmp(argv[1], "f32") != 0) {
        fprintf(stderr, "%s: unknown dtype '%s' (f32 or bf16)\n", name, argv[1]);
        exit(2);
    }
    usine_context *ctx = test_context_or_skip(name);
    printf("%s: %s, seed %llu\n", name, *dtype == USINE_BF16 ? "bf16" : "f32",
           (unsigned long long)test_seed());
    return ctx;
}

conv_case conv_base_case(void)
{
    conv_case c;
    memset(&c, 0, sizeof c);
    c.dtype = USINE_F32;
    c.layout = USINE_CONV_NHWC;
    c.n = 1;
    c.c = c.k = 1;
    c.h = c.w = 3;
    c.r = c.s = 3;
    c.stride_h = c.stride_w = 1;
    c.dil_h = c.dil_w = 1;
    c.groups = 1;
    c.act = USINE_ACT_NONE;
    return c;
}

/* A table row: sizes, strides, pads (top, bottom, left, right), dilations, groups, bias and
 * ReLU, and what the row is for. */
typedef struct case_row {
    int64_t n, c, h, w, k, r, s, sh, sw, pt, pb, pl, pr, dh, dw, groups;
    int bias, relu;
    const char *why;
} case_row;

static const case_row case_table[] = {
    {2, 5, 9, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "3x3 'same' padding, bias + ReLU"},
    {1, 4, 8, 9, 5, 3, 2, 1, 1, 2, 0, 1, 3, 1, 1, 1, 0, 0, "asymmetric padding, 3x2 filter"},
    {2, 3, 10, 11, 4, 3, 3, 2, 3, 1, 1, 0, 2, 1, 1, 1, 0, 1, "strides 2x3, asymmetric pad, ReLU"},
    {1, 3, 23, 20, 8, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 0, "7x7 stride 2 (ResNet stem), bias"},
    /* few channels, 8 positions of a row inside the image: windowed panel packing */
    {1, 3, 40, 56, 8, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 0, "7x7 stride 2 stem, rows of 28"},
    {2, 3, 18, 24, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, "3 channels, rows of 24"},
    {1, 4, 6, 40, 3, 3, 9, 1, 1, 1, 1, 4, 4, 1, 1, 1, 0, 0, "1x9 taps of 4 channels: 64 floats"},
    {1, 4, 12, 11, 3, 3, 3, 1, 1, 2, 2, 3, 3, 2, 3, 1, 0, 0, "dilation 2x3"},
    {1, 3, 4, 4, 2, 3, 3, 1, 1, 3, 3, 3, 3, 3, 3, 1, 0, 0, "dilated filter wider than the input"},
    {2, 6, 7, 8, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 0, "3 groups, bias"},
    {1, 8, 11, 9, 4, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, "2 groups, stride 2, dilation 2"},
    {2, 16, 9, 10, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 16, 1, 1, "depthwise 3x3"},
    {1, 8, 12, 11, 16, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 8, 0, 1, "depthwise x2, 5x5 stride 2"},
    {1, 7, 6, 5, 7, 3, 3, 1, 1, 0, 1, 1, 0, 1, 1, 7, 0, 0, "depthwise, 7 channels, asym pad"},
    /* f32 NHWC depthwise register blocks: 8 columns away from the padding, and at its edges */
    {1, 32, 6, 30, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 32, 1, 1, "depthwise 3x3, rows of 30"},
    {1, 16, 9, 45, 16, 3, 3, 2, 2, 2, 1, 2, 1, 2, 2, 16, 0, 0, "depthwise stride 2, dilation 2"},
    {2, 24, 6, 5, 20, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, "1x1"},
    {1, 17, 9, 9, 33, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1, 1, "1x1 stride 2, bias + ReLU"},
    {1, 4, 3, 4, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, "1x1 with padding"},
    {2, 3, 5, 4, 4, 7, 6, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, "filter as large as the padded input"},
    {1, 5, 6, 6, 3, 6, 6, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, "filter as large as the input"},
    {1, 2, 5, 5, 3, 3, 3, 4, 4, 0, 0, 0, 0, 1, 1, 1, 0, 0, "output 1x1 by stride (rows unread)"},
    {1, 3, 11, 10, 2, 2, 2, 3, 3, 0, 0, 0, 0, 1, 1, 1, 0, 0, "stride larger than the filter"},
    {3, 13, 17, 3, 11, 2, 3, 1, 2, 1, 0, 2, 1, 1, 1, 1, 0, 0, "odd sizes"},
    {1, 64, 10, 10, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, "64 -> 48 channels"},
    {1, 31, 7, 6, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, "channels beside vector widths"},
    {1, 33, 5, 7, 16, 3, 3, 2, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0, "channels beside vector widths"},
    {2, 3, 1, 20, 4, 1, 5, 1, 1, 0, 0, 2, 2, 1, 1, 1, 0, 0, "one row (a 1-D convolution)"},
    {1, 3, 20, 1, 4, 5, 1, 2, 1, 2, 1, 0, 0, 1, 1, 1, 0, 0, "one column"},
    /* rows of 32 or 40, S K >= 128: the backward data runs as a direct forward of dy */
    {1, 5, 6, 32, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, "rows of 32, 48 filters"},
    {2, 4, 9, 40, 44, 3, 3, 1, 1, 2, 1, 1, 0, 2, 1, 1, 1, 0, "rows of 40, dilation 2x1, asym pad"},
    /* filter rows of 128 floats or more: the direct variant, its panels packed by
     * usine_conv2d_pack_filters (filters a panel and a bit, padding at both row ends) */
    {1, 48, 9, 20, 50, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "48 -> 50 channels, bias + ReLU"},
    /* 64 filters: on AVX-512 a 48-row tile and 16 become two 32-row tiles (forward and
     * weight gradient) */
    {2, 24, 7, 9, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, "24 -> 64 channels, 3x3"},
    {2, 64, 11, 13, 20, 3, 3, 2, 2, 1, 0, 2, 1, 1, 1, 1, 0, 0, "64 channels, stride 2, asym pad"},
    {1, 130, 5, 6, 33, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 0, 0, "1x1 stride 2, 130 channels"},
    {1, 6, 13, 12, 10, 3, 3, 2, 2, 2, 1, 1, 1, 2, 1, 1, 0, 0,
     "stride 2, dilation 2x1: rows no tap reaches"},
    {2, 50, 9, 8, 52, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, "3x3 stride 2, 50 -> 52 channels"},
    {1, 45, 6, 19, 7, 5, 3, 1, 1, 2, 2, 2, 2, 2, 1, 1, 0, 0, "45 channels, pad 2, dilation 2x1"},
    /* 12,656 positions, a small weight gradient: summed in chunks of positions */
    {1, 2, 113, 112, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, "113 x 112, 2 -> 4 channels"},
    /* rows of 100 positions of 8 filters: the direct weight gradient in chunks of 30 output
     * rows, one across the two images */
    {2, 3, 35, 100, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, "2 x 35 x 100, 3 -> 8 channels"},
    /* a row of 50,000 positions: dy's rows larger than the direct weight gradient's block */
    {1, 1, 1, 50000, 8, 1, 3, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, "one row of 50,000 positions"},
    /* 1x1 weight gradients: 6,400 positions of 130 filters summed in two chunks and a rest
     * (GEMM), and 2 x 600 positions of 56 filters (a tile and an edge tile) by the direct
     * variant, its input rows read in place */
    {1, 3, 80, 80, 130, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, "1x1, 80 x 80, 3 -> 130 channels"},
    {2, 5, 30, 20, 56, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, "1x1, 2 x 30 x 20, 5 -> 56 channels"},
    /* channels a multiple of NR: the direct weight gradient reads x in place, tap by tap */
    {2, 16, 13, 12, 16, 3, 3, 2, 2, 2, 1, 1, 2, 2, 1, 1, 0, 0, "16 channels, stride 2, dil 2x1"},
    /* dy and x over 1 MiB, sums small beside a chunk: the direct weight gradient sums the
     * output rows in two parts (rows read in place; taps in place, split inside an image) */
    {1, 8, 130, 128, 8, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, "1x1, 130 x 128, in two parts"},
    {3, 8, 60, 92, 8, 1, 3, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, "1x3, 3 x 60 x 92, in two parts"},
    /* strides above the filter height, filters the direct weight gradient covers: input rows
     * it skips, so R copied rows per output row */
    {2, 8, 9, 11, 16, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, 0, 0, "1x1 stride 2, 8 -> 16 channels"},
    {1, 4, 11, 10, 8, 2, 2, 3, 3, 1, 0, 0, 1, 1, 1, 1, 0, 0, "2x2 stride 3, 8 filters, pad"},
    {0, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "batch 0"},
    {0, 3, 5, 5, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, "batch 0, 8 filters (direct dW)"},
};

static conv_case from_row(const case_row *t, usine_dtype dtype, usine_conv_layout layout)
{
    conv_case c = conv_base_case();
    c.dtype = dtype;
    c.layout = layout;
    c.n = t->n;
    c.c = t->c;
    c.h = t->h;
    c.w = t->w;
    c.k = t->k;
    c.r = t->r;
    c.s = t->s;
    c.stride_h = t->sh;
    c.stride_w = t->sw;
    c.pad_t = t->pt;
    c.pad_b = t->pb;
    c.pad_l = t->pl;
    c.pad_r = t->pr;
    c.dil_h = t->dh;
    c.dil_w = t->dw;
    c.groups = t->groups;
    c.bias = t->bias;
    c.act = t->relu ? USINE_ACT_RELU : USINE_ACT_NONE;
    return c;
}

/* Every option at random, with an input at least as large as the padded filter needs. The
 * draws keep their order so that a seed reproduces the same cases. */
static conv_case random_case(usine_dtype dtype)
{
    conv_case c = conv_base_case();
    c.dtype = dtype;
    c.layout = (usine_conv_layout)test_rand_int(0, 1);
    c.n = test_rand_int(1, 2);
    const int depthwise = test_rand_int(0, 3) == 0;
    c.groups = test_rand_int(1, 3);
    c.c = c.groups * test_rand_int(1, 6);
    c.k = c.groups * test_rand_int(1, 5);
    if (depthwise) {
        c.groups = c.c;
        c.k = c.c * test_rand_int(1, 2);
    }
    c.r = test_rand_int(1, 5);
    c.s = test_rand_int(1, 5);
    c.stride_h = test_rand_int(1, 3);
    c.stride_w = test_rand_int(1, 3);
    c.dil_h = test_rand_int(1, 2);
    c.dil_w = test_rand_int(1, 2);
    c.pad_t = test_rand_int(0, 3);
    c.pad_b = test_rand_int(0, 3);
    c.pad_l = test_rand_int(0, 3);
    c.pad_r = test_rand_int(0, 3);
    const int64_t eh = c.dil_h * (c.r - 1) + 1 - c.pad_t - c.pad_b;
    const int64_t ew = c.dil_w * (c.s - 1) + 1 - c.pad_l - c.pad_r;
    c.h = (eh > 1 ? eh : 1) + test_rand_int(0, 9);
    c.w = (ew > 1 ? ew : 1) + test_rand_int(0, 9);
    c.bias = (int)test_rand_int(0, 1);
    c.act = test_rand_int(0, 1) ? USINE_ACT_RELU : USINE_ACT_NONE;
    return c;
}

void conv_for_each_case(usine_context *ctx, usine_dtype dtype, int rounds, conv_runner *run)
{
    for (size_t i = 0; i < sizeof case_table / sizeof case_table[0]; i++)
        for (int layout = 0; layout < 2; layout++) {
            const conv_case c = from_row(&case_table[i], dtype, (usine_conv_layout)layout);
            run(ctx, &c);
        }
    for (int i = 0; i < rounds; i++) {
        const conv_case c = random_case(dtype);
        run(ctx, &c);
    }
}

/* ---------------------------------------------------------------- rejected calls */

conv_saved conv_save(const test_buffer *const *buf, int count)
{
    conv_saved s;
    memset(&s, 0, sizeof s);
    s.count = count;
    for (int a = 0; a < count; a++) {
        s.buf[a] = buf[a];
        s.copy[a] = malloc(buf[a]->bytes + 1);
        memcpy(s.copy[a], buf[a]->data, buf[a]->bytes);
    }
    return s;
}

void conv_expect_rejected(conv_saved *s, usine_status st, usine_status want, const char *needle,
                          const char *what)
{
    const char *message = usine_last_error();
    CHECK(st == want, "%s: status %d, want %d (%s)", what, (int)st, (int)want, message);
    CHECK(message[0] != '\0' && strstr(message, needle) != NULL,
          "%s: message '%s' does not name '%s'", what, message, needle);
    for (int a = 0; a < s->count; a++) {
        const test_buffer *b = s->buf[a];
        CHECK(memcmp(s->copy[a], b->data, b->bytes) == 0 && test_buffer_guards_ok(b),
              "%s: buffer %d or its guard zone was written", what, a);
        free(s->copy[a]);
    }
}
