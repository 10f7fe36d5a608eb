#include "conv_gather.h"

#include <string.h>

#include "../half.h"

/* ------------------------------------------------------------------ elements */

/* Index of channel c (relative to c0) at (image, row, column) of the source. */
static int64_t src_index(const usine_conv_gather *g, int64_t n, int64_t row, int64_t col, int64_t c)
{
    if (g->layout == USINE_CONV_NHWC)
        return ((n * g->src_h + row) * g->src_w + col) * g->src_c + g->c0 + c;
    return ((n * g->src_c + g->c0 + c) * g->src_h + row) * g->src_w + col;
}

/* Elements between consecutive channels, and between consecutive columns. */
static int64_t channel_stride(const usine_conv_gather *g)
{
    return g->layout == USINE_CONV_NHWC ? 1 : g->src_h * g->src_w;
}

static int64_t column_stride(const usine_conv_gather *g)
{
    return g->layout == USINE_CONV_NHWC ? g->src_c : 1;
}

/* dst[i * dst_stride] = src[from + i * src_stride] for i < count, converted to f32. */
static void copy_run(const usine_conv_gather *g, int64_t from, int64_t src_stride, float *dst,
                     int64_t dst_stride, int64_t count)
{
    if (g->type == USINE_BF16) {
        const uint16_t *s = (const uint16_t *)g->src + from;
        for (int64_t i = 0; i < count; i++)
            dst[i * dst_stride] = usine_bf16_to_f32(s[i * src_stride]);
    } else if (src_stride == 1 && dst_stride == 1) {
        memcpy(dst, (const float *)g->src + from, (size_t)count * sizeof *dst);
    } else {
        const float *s = (const float *)g->src + from;
        for (int64_t i = 0; i < count; i++)
            dst[i * dst_stride] = s[i * src_stride];
    }
}

static void zero_run(float *dst, int64_t dst_stride, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        dst[i * dst_stride] = 0.0f;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Rows [rows, W) of a W-wide panel k deep are zero. */
static void zero_panel_tail(float *panel, int width, int64_t rows, int64_t k)
{
    if (rows >= width)
        return;
    for (int64_t p = 0; p < k; p++)
        memset(panel + p * width + rows, 0, (size_t)(width - rows) * sizeof *panel);
}

/* A grid position of every image: image n, row y, column x. */
typedef struct position {
    int64_t n, y, x;
} position;

static position position_of(const usine_conv_gather *g, int64_t index)
{
    if (g->rows_outer) {
        const int64_t row = g->images * g->grid_w, rem = index % row;
        return (position){rem / g->grid_w, index / row, rem % g->grid_w};
    }
    const int64_t plane = g->grid_h * g->grid_w;
    const int64_t rem = index % plane;
    return (position){index / plane, rem / g->grid_w, rem % g->grid_w};
}

static void next_position(const usine_conv_gather *g, position *at)
{
    if (++at->x < g->grid_w)
        return;
    at->x = 0;
    if (g->rows_outer) {
        if (++at->n < g->images)
            return;
        at->n = 0;
        at->y++;
        return;
    }
    if (++at->y < g->grid_h)
        return;
    at->y = 0;
    at->n++;
}

/* Source row and column of position `at` under tap (t, u); *inside: 0 in the padding. */
static int64_t tap_row(const usine_conv_gather *g, int64_t y, int64_t t)
{
    return y * g->step_h + g->base_h + t * g->tap_h;
}

static int64_t tap_col(const usine_conv_gather *g, int64_t x, int64_t u)
{
    return x * g->step_w + g->base_w + u * g->tap_w;
}

static int inside(const usine_conv_gather *g, int64_t row, int64_t col)
{
    return row >= 0 && row < g->src_h && col >= 0 && col < g->src_w;
}

/* ------------------------------------------------------------------ positions x (t, u, c) */

/* One panel row (position `at`): columns [p0, p0 + k) of (t, u, c), written every `width`
 * floats from dst. */
static void pack_position_taps(const usine_conv_gather *g, position at, int64_t p0, int64_t k,
                               float *dst, int width)
{
    int64_t c = p0 % g->channels, tu = p0 / g->channels;
    int64_t u = tu % g->taps_w, t = tu / g->taps_w;
    const int64_t cs = channel_stride(g);
    for (int64_t p = p0; p < p0 + k;) {
        const int64_t len = min64(g->channels - c, p0 + k - p);
        const int64_t row = tap_row(g, at.y, t), col = tap_col(g, at.x, u);
        float *out = dst + (p - p0) * width;
        if (inside(g, row, col))
            copy_run(g, src_index(g, at.n, row, col, c), cs, out, width, len);
        else
            zero_run(out, width, len);
        p += len;
        c = 0;
        if (++u == g->taps_w) {
            u = 0;
            t++;
        }
    }
}

void usine_conv_pack_positions_by_taps(const void *ctx, int64_t item, int width, int64_t row0,
                                       int64_t rows, int64_t p0, int64_t k, void *dstv)
{
    const usine_conv_gather *g = (const usine_conv_gather *)ctx;
    float *dst = (float *)dstv;
    (void)item;
    for (int64_t i0 = 0; i0 < rows; i0 += width, dst += width * k) {
        const int64_t r = min64(width, rows - i0);
        position at = position_of(g, row0 + i0);
        for (int64_t i = 0; i < r; i++, next_position(g, &at))
            pack_position_taps(g, at, p0, k, dst + i, width);
        zero_panel_tail(dst, width, r, k);
    }
}

/* ------------------------------------------------------------------ positions x (c, t, u) */

/* Column (c, t, u) of rows [pos0, pos0 + count) of image n: runs along grid rows, each a
 * strided copy between zeros where the taps fall in the padding. */
static void pack_channel_tap(const usine_conv_gather *g, int64_t n, int64_t c, int64_t t, int64_t u,
                             int64_t pos0, int64_t count, float *out)
{
    int64_t y = pos0 / g->grid_w, x = pos0 % g->grid_w;
    const int64_t col_step = g->step_w * column_stride(g);
    for (int64_t i = 0; i < count;) {
        const int64_t len = min64(g->grid_w - x, count - i);
        const int64_t row = tap_row(g, y, t);
        if (row < 0 || row >= g->src_h) {
            zero_run(out + i, 1, len);
        } else {
            /* x in [lo, hi) reads columns inside [0, src_w). */
            const int64_t first = tap_col(g, x, u);
            int64_t lo = 0, hi = len;
            if (first < 0)
                lo = min64(len, (-first + g->step_w - 1) / g->step_w);
            const int64_t last_ok = g->src_w - 1 - first; /* (j * step_w) <= last_ok */
            hi = last_ok < 0 ? 0 : min64(len, last_ok / g->step_w + 1);
            if (hi < lo)
                hi = lo;
            zero_run(out + i, 1, lo);
            if (hi > lo)
                copy_run(g, src_index(g, n, row, first + lo * g->step_w, c), col_step, out + i + lo,
                         1, hi - lo);
            zero_run(out + i + hi, 1, len - hi);
        }
        i += len;
        x = 0;
        y++;
    }
}

void usine_conv_pack_positions_by_channels(const void *ctx, int64_t item, int width, int64_t row0,
                                           int64_t rows, int64_t p0, int64_t k, void *dstv)
{
    const usine_conv_gather *g = (const usine_conv_gather *)ctx;
    float *dst = (float *)dstv;
    const int64_t taps = g->taps_h * g->taps_w;
    for (int64_t i0 = 0; i0 < rows; i0 += width, dst += width * k) {
        const int64_t r = min64(width, rows - i0);
        for (int64_t p = p0; p < p0 + k; p++) {
            const int64_t c = p / taps, t = p % taps / g->taps_w, u = p % g->taps_w;
            pack_channel_tap(g, item, c, t, u, row0 + i0, r, dst + (p - p0) * width);
        }
        zero_panel_tail(dst, width, r, k);
    }
}

/* ------------------------------------------------------------------ taps x positions */

/* One packed column (position `at`): rows [i0, i0 + count) of (t, u, c) (NHWC) or
 * (c, t, u) (NCHW). */
/* Whether taps u.. of filter row t at position `at` are one contiguous run of the source:
 * every channel of it, unit tap step, all inside the image. */
static int run_to_row_end(const usine_conv_gather *g, position at, int64_t t, int64_t u)
{
    const int64_t row = tap_row(g, at.y, t);
    return g->channels == g->src_c && g->tap_w == 1 && row >= 0 && row < g->src_h &&
           tap_col(g, at.x, u) >= 0 && tap_col(g, at.x, g->taps_w - 1) < g->src_w;
}

static void pack_taps_nhwc(const usine_conv_gather *g, position at, int64_t i0, int64_t count,
                           float *out)
{
    int64_t c = i0 % g->channels, tu = i0 / g->channels;
    int64_t u = tu % g->taps_w, t = tu / g->taps_w;
    for (int64_t i = 0; i < count;) {
        if (run_to_row_end(g, at, t, u)) { /* the rest of the filter row in one copy (the
                                            * first layer's 3 channels: 21 floats, not 3) */
            const int64_t len = min64((g->taps_w - u) * g->channels - c, count - i);
            copy_run(g, src_index(g, at.n, tap_row(g, at.y, t), tap_col(g, at.x, u), c), 1, out + i,
                     1, len);
            i += len;
            c = 0;
            u = 0;
            t++;
            continue;
        }
        const int64_t len = min64(g->channels - c, count - i);
        const int64_t row = tap_row(g, at.y, t), col = tap_col(g, at.x, u);
        if (inside(g, row, col))
            copy_run(g, src_index(g, at.n, row, col, c), channel_stride(g), out + i, 1, len);
        else
            zero_run(out + i, 1, len);
        i += len;
        c = 0;
        if (++u == g->taps_w) {
            u = 0;
            t++;
        }
    }
}

static void pack_taps_nchw(const usine_conv_gather *g, position at, int64_t i0, int64_t count,
                           float *out)
{
    const int64_t taps = g->taps_h * g->taps_w;
    int64_t c = i0 / taps, t = i0 % taps / g->taps_w, u = i0 % g->taps_w;
    for (int64_t i = 0; i < count; i++) {
        const int64_t row = tap_row(g, at.y, t), col = tap_col(g, at.x, u);
        if (inside(g, row, col))
            copy_run(g, src_index(g, at.n, row, col, c), 1, out + i, 1, 1);
        else
            out[i] = 0.0f;
        if (++u == g->taps_w) {
            u = 0;
            if (++t == g->taps_h) {
                t = 0;
                c++;
            }
        }
    }
}

void usine_conv_pack_taps_by_positions(const void *ctx, int64_t item, int width, int64_t row0,
                                       int64_t rows, int64_t p0, int64_t k, void *dstv)
{
    const usine_conv_gather *g = (const usine_conv_gather *)ctx;
    float *dst = (float *)dstv;
    (void)item;
    for (int64_t i0 = 0; i0 < rows; i0 += width, dst += width * k) {
        const int64_t r = min64(width, rows - i0);
        position at = position_of(g, p0);
        for (int64_t p = 0; p < k; p++, next_position(g, &at)) {
            float *out = dst + p * width;
            if (g->layout == USINE_CONV_NHWC)
                pack_taps_nhwc(g, at, row0 + i0, r, out);
            else
                pack_taps_nchw(g, at, row0 + i0, r, out);
        }
        zero_panel_tail(dst, width, r, k);
    }
}
