/*
 * AVX-512 versions of the two transposes the NHWC GEMM convolutions need (compiled with the
 * AVX-512 flags, called only when the CPU has them):
 *   - the filters, K x taps -> taps x K (f32), through 16 x 16 register transposes;
 *   - the im2col^T panels of 8 positions (the B panels of the 48x8 f32 kernel): each tap
 *     of each position is a contiguous run of channels in NHWC, and 8 such runs become
 *     8-wide panel columns through 8 x 16 register transposes (40 shuffles per 128 floats)
 *     instead of 8 scalar stores per column; wider panels (the A panels of 8 to 48 rows
 *     when the filters are the B operand, 12-wide B panels) in slices of 16 positions
 *     through 16 x 16 transposes with masked stores. With groups == 1 and no dilation along w, a
 *     whole filter row (S taps x C channels) is one contiguous run, so a 3-channel first
 *     layer still moves 21 floats per load.
 * Anything else (bf16 sources, NCHW, other panel widths) goes to the portable packers.
 */
#include <immintrin.h>
#include <string.h>

#include "conv_gather.h"
#include "conv_internal.h"

/* ------------------------------------------------------------------ transposes */

/* r[0..7] (16 floats each) -> the 16 columns (r[0][q], ..., r[7][q]) as 8-float halves:
 * out[2j] holds columns j (low half) and 4 + j (high half), out[2j + 1] columns 8 + j and
 * 12 + j. The 4 x 4 blocks inside each 128-bit lane first, then the lanes gathered with
 * shuffle_f32x4. */
static inline void transpose_8x16(const __m512 r[8], __m512 out[8])
{
    __m512 t[8], s[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int h = 0; h < 8; h += 4) { /* rows h..h+3 */
        s[h + 0] = _mm512_shuffle_ps(t[h], t[h + 2], 0x44);
        s[h + 1] = _mm512_shuffle_ps(t[h], t[h + 2], 0xee);
        s[h + 2] = _mm512_shuffle_ps(t[h + 1], t[h + 3], 0x44);
        s[h + 3] = _mm512_shuffle_ps(t[h + 1], t[h + 3], 0xee);
    }
    /* Lane L of s[j] holds column 4L + j of rows 0-3, of s[j + 4] rows 4-7. out[2j] gets
     * columns j (low half) and 4 + j (high half), out[2j + 1] columns 8 + j and 12 + j. */
    for (int j = 0; j < 4; j++) {
        const __m512 lo = _mm512_shuffle_f32x4(s[j], s[j + 4], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512 hi = _mm512_shuffle_f32x4(s[j], s[j + 4], _MM_SHUFFLE(3, 2, 3, 2));
        out[2 * j] = _mm512_shuffle_f32x4(lo, lo, _MM_SHUFFLE(3, 1, 2, 0));
        out[2 * j + 1] = _mm512_shuffle_f32x4(hi, hi, _MM_SHUFFLE(3, 1, 2, 0));
    }
}

/* Column q (< count) of the 8 x 16 block to dst + q * 8. */
static inline void store_columns(const __m512 out[8], int count, float *dst)
{
    for (int j = 0; j < 4; j++) {
        const int cols[4] = {j, 4 + j, 8 + j, 12 + j};
        const __m256 v[4] = {
            _mm512_castps512_ps256(out[2 * j]), _mm512_extractf32x8_ps(out[2 * j], 1),
            _mm512_castps512_ps256(out[2 * j + 1]), _mm512_extractf32x8_ps(out[2 * j + 1], 1)};
        for (int i = 0; i < 4; i++)
            if (cols[i] < count)
                _mm256_storeu_ps(dst + cols[i] * 8, v[i]);
    }
}

/* dst[q * 8 + i] = rows[i][q] (0 for a NULL row), q < count. */
static void transpose_rows_8(const float *const rows[8], int64_t count, float *dst)
{
    for (int64_t q0 = 0; q0 < count; q0 += 16) {
        const int m = count - q0 < 16 ? (int)(count - q0) : 16;
        const __mmask16 mask = (__mmask16)(m == 16 ? 0xffff : (1u << m) - 1);
        __m512 r[8], out[8];
        for (int i = 0; i < 8; i++)
            r[i] = rows[i] ? _mm512_maskz_loadu_ps(mask, rows[i] + q0) : _mm512_setzero_ps();
        transpose_8x16(r, out);
        store_columns(out, m, dst + q0 * 8);
    }
}

/* Columns q < cols of the 16 x 16 block held as lo (rows 0-7) and hi (rows 8-15), as
 * transpose_8x16 left them, to dst + q * ld_dst: rows [0, store_rows) of each (rows of
 * zeros included), at most 16. */
static inline void store_block_16(const __m512 lo[8], const __m512 hi[8], int cols, float *dst,
                                  int64_t ld_dst, int store_rows)
{
    const int sr = store_rows;
    const __mmask8 rmask_lo = (__mmask8)(sr >= 8 ? 0xff : (1u << sr) - 1);
    const __mmask8 rmask_hi = (__mmask8)(sr >= 16 ? 0xff : sr <= 8 ? 0 : (1u << (sr - 8)) - 1);
    for (int j = 0; j < 4; j++) {
        const int cols_of[4] = {j, 4 + j, 8 + j, 12 + j};
        for (int i = 0; i < 4; i++) {
            const int q = cols_of[i];
            if (q >= cols)
                continue;
            const __m512 a = lo[2 * j + i / 2], b = hi[2 * j + i / 2];
            const __m256 va = i % 2 ? _mm512_extractf32x8_ps(a, 1) : _mm512_castps512_ps256(a);
            const __m256 vb = i % 2 ? _mm512_extractf32x8_ps(b, 1) : _mm512_castps512_ps256(b);
            _mm256_mask_storeu_ps(dst + q * ld_dst, rmask_lo, va);
            if (rmask_hi)
                _mm256_mask_storeu_ps(dst + q * ld_dst + 8, rmask_hi, vb);
        }
    }
}

/* dst[q ld_dst + i] = rows[i][q] for i < store_rows (at most 16; a NULL row gives zeros),
 * q < count. */
static void transpose_rows_16(const float *const rows[16], int store_rows, int64_t count,
                              float *dst, int64_t ld_dst)
{
    for (int64_t q0 = 0; q0 < count; q0 += 16) {
        const int m = count - q0 < 16 ? (int)(count - q0) : 16;
        const __mmask16 mask = (__mmask16)(m == 16 ? 0xffff : (1u << m) - 1);
        __m512 r[8], lo[8], hi[8];
        for (int i = 0; i < 8; i++)
            r[i] = rows[i] ? _mm512_maskz_loadu_ps(mask, rows[i] + q0) : _mm512_setzero_ps();
        transpose_8x16(r, lo);
        for (int i = 0; i < 8; i++)
            r[i] = i + 8 < store_rows && rows[i + 8] ? _mm512_maskz_loadu_ps(mask, rows[i + 8] + q0)
                                                     : _mm512_setzero_ps();
        transpose_8x16(r, hi);
        store_block_16(lo, hi, m, dst + q0 * ld_dst, ld_dst, store_rows);
    }
}

/* dst[q ld_dst + i] = src[i ld_src + q] for i < rows, q < cols; rows [rows, store_rows) of
 * dst get zeros (store_rows >= rows, at most 16). */
static void transpose_block_16(const float *src, int64_t ld_src, int rows, int cols, float *dst,
                               int64_t ld_dst, int store_rows)
{
    const float *row_at[16];
    for (int i = 0; i < 16; i++)
        row_at[i] = i < rows ? src + i * ld_src : NULL;
    transpose_rows_16(row_at, store_rows, cols, dst, ld_dst);
}

void usine_conv_avx512_transpose_f32(const float *src, int64_t ld_src, int64_t rows, int64_t cols,
                                     float *dst, int64_t ld_dst)
{
    for (int64_t i0 = 0; i0 < rows; i0 += 16)
        for (int64_t j0 = 0; j0 < cols; j0 += 16) {
            const int r = rows - i0 < 16 ? (int)(rows - i0) : 16;
            transpose_block_16(src + i0 * ld_src + j0, ld_src, r,
                               cols - j0 < 16 ? (int)(cols - j0) : 16, dst + j0 * ld_dst + i0,
                               ld_dst, r);
        }
}

/* A panels (W rows, k columns) of a row-major f32 matrix rows x ld: 16 x 16 register
 * transposes straight into the panel, rows past `rows` zero. */
void usine_conv_avx512_pack_rows(const void *ctx, int64_t item, int width, int64_t row0,
                                 int64_t rows, int64_t p0, int64_t k, void *dstv)
{
    const usine_conv_matrix *m = (const usine_conv_matrix *)ctx;
    float *dst = (float *)dstv;
    (void)item;
    for (int64_t i0 = 0; i0 < rows; i0 += width, dst += width * k) {
        const int64_t valid = rows - i0 < width ? rows - i0 : width;
        for (int ii = 0; ii < width; ii += 16) {
            const int store = width - ii < 16 ? width - ii : 16;
            const int64_t left = valid - ii;
            const int use = left <= 0 ? 0 : left < store ? (int)left : store;
            const float *src = m->data + (row0 + i0 + ii) * m->ld + p0;
            for (int64_t j0 = 0; j0 < k; j0 += 16)
                transpose_block_16(src + j0, m->ld, use, k - j0 < 16 ? (int)(k - j0) : 16,
                                   dst + j0 * width + ii, width, store);
        }
    }
}

/* ------------------------------------------------------------------ im2col^T panels */

/* Longest filter row (taps_w x channels floats) gathered whole into a row buffer when a
 * position's taps straddle the padding. */
#define ROW_BUFFER 1024

/* Positions packed together: 8 (a B panel of the 48x8 kernel, 8 x 16 transposes) or up to
 * 16 (a slice of a wider panel: an A panel of 8 to 48 rows, or a 12-wide B panel). */
#define CHUNK 16

typedef struct panel_rows {
    int64_t n[CHUNK], y[CHUNK], x[CHUNK];
    int valid[CHUNK];
    int count; /* rows of the panel slice (valid or zero) */
} panel_rows;

/* Whether a filter row is one contiguous run: all channels of the source, unit tap step. */
static int rows_contiguous(const usine_conv_gather *g)
{
    return g->channels == g->src_c && g->tap_w == 1 && g->taps_w * g->channels <= ROW_BUFFER;
}

/* Pointers to the run starting at tap (t, u0), channel 0, for the positions: NULL where
 * the run is all padding, the source where it is all inside, else a row buffer filled
 * with the run and its zeros. */
static void filter_row_pointers(const usine_conv_gather *g, const panel_rows *pr, int64_t t,
                                float (*buffer)[ROW_BUFFER], const float *rows[CHUNK])
{
    const float *src = (const float *)g->src;
    const int64_t c = g->channels;
    for (int i = 0; i < pr->count; i++) {
        rows[i] = NULL;
        const int64_t ih = pr->y[i] * g->step_h + g->base_h + t * g->tap_h;
        if (!pr->valid[i] || ih < 0 || ih >= g->src_h)
            continue;
        const int64_t iw0 = pr->x[i] * g->step_w + g->base_w;
        const float *at = src + ((pr->n[i] * g->src_h + ih) * g->src_w) * g->src_c;
        if (iw0 >= 0 && iw0 + g->taps_w <= g->src_w) {
            rows[i] = at + iw0 * c;
            continue;
        }
        for (int64_t u = 0; u < g->taps_w; u++) {
            const int64_t iw = iw0 + u;
            if (iw >= 0 && iw < g->src_w)
                memcpy(buffer[i] + u * c, at + iw * c, (size_t)c * sizeof(float));
            else
                memset(buffer[i] + u * c, 0, (size_t)c * sizeof(float));
        }
        rows[i] = buffer[i];
    }
}

/* One tap (t, u) from channel c: the source runs of the positions, or NULL. */
static void tap_pointers(const usine_conv_gather *g, const panel_rows *pr, int64_t t, int64_t u,
                         int64_t c, const float *rows[CHUNK])
{
    const float *src = (const float *)g->src;
    for (int i = 0; i < pr->count; i++) {
        const int64_t ih = pr->y[i] * g->step_h + g->base_h + t * g->tap_h;
        const int64_t iw = pr->x[i] * g->step_w + g->base_w + u * g->tap_w;
        rows[i] = pr->valid[i] && ih >= 0 && ih < g->src_h && iw >= 0 && iw < g->src_w
                      ? src + ((pr->n[i] * g->src_h + ih) * g->src_w + iw) * g->src_c + g->c0 + c
                      : NULL;
    }
}

/* `slice` rows of a panel from grid position `first`, of which `count` are real: one
 * division for the first, then steps along the grid. */
static void panel_of(const usine_conv_gather *g, int64_t first, int64_t count, int slice,
                     panel_rows *pr)
{
    const int64_t plane = g->grid_h * g->grid_w, row = g->images * g->grid_w;
    int64_t n = g->rows_outer ? first % row / g->grid_w : first / plane;
    int64_t y = g->rows_outer ? first / row : first % plane / g->grid_w, x = first % g->grid_w;
    pr->count = slice;
    for (int i = 0; i < slice; i++) {
        pr->valid[i] = i < count;
        pr->n[i] = n;
        pr->y[i] = y;
        pr->x[i] = x;
        if (++x < g->grid_w)
            continue;
        x = 0;
        if (g->rows_outer && ++n == g->images) {
            n = 0;
            y++;
        } else if (!g->rows_outer && ++y == g->grid_h) {
            y = 0;
            n++;
        }
    }
}

/* dst[q ld + i] = rows[i][q], i < pr->count: the 8 x 16 transposes for a whole 8-wide
 * panel, else the 16 x 16 ones with masked stores. */
static void transpose_slice(const panel_rows *pr, const float *const rows[CHUNK], int64_t count,
                            float *dst, int64_t ld)
{
    if (pr->count == 8 && ld == 8)
        transpose_rows_8(rows, count, dst);
    else
        transpose_rows_16(rows, pr->count, count, dst, ld);
}

/* A first layer's B panel (few channels): the 8 positions in one image row, side by side,
 * every filter row inside the image along w. Their filter rows (runs of taps_w * C floats)
 * then start D = step_w * C floats apart, and with 7 D + taps_w C <= 64 all eight lie in one
 * window of 64 floats (4 zmm) per filter row: each panel row (one tap, one channel) is
 * window[off + j D], j < 8, two rows per pair of vpermt2ps and a blend. For the 7x7 3-channel
 * stride-2 layer (D = 6, runs of 21) this replaces 8 x 16 transposes of 21-float runs and the
 * copies around them, which took a third as long as the GEMM itself. */
static int strided_panel(const usine_conv_gather *g, const panel_rows *pr)
{
    if (pr->count != 8 || 7 * g->step_w * g->channels + g->taps_w * g->channels > 64)
        return 0;
    for (int i = 0; i < 8; i++)
        if (!pr->valid[i] || pr->n[i] != pr->n[0] || pr->y[i] != pr->y[0] ||
            pr->x[i] != pr->x[0] + i)
            return 0;
    const int64_t first = pr->x[0] * g->step_w + g->base_w;
    const int64_t last = pr->x[7] * g->step_w + g->base_w;
    return first >= 0 && last + g->taps_w <= g->src_w;
}

static void pack_strided(const usine_conv_gather *g, const panel_rows *pr, int64_t p0, int64_t k,
                         float *dst)
{
    const int64_t row_len = g->taps_w * g->channels;
    const int d = (int)(g->step_w * g->channels), span = 7 * d + (int)row_len;
    /* lanes 0-7: run j at offset 0; lanes 8-15: offset 1 (the next panel row) */
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7);
    const __m512i base =
        _mm512_add_epi32(_mm512_mullo_epi32(lanes, _mm512_set1_epi32(d)),
                         _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    const __mmask16 last_part = (__mmask16)((1u << (span - 48 > 0 ? span - 48 : 0)) - 1);
    const float *src = (const float *)g->src;
    const int64_t iw = pr->x[0] * g->step_w + g->base_w;
    for (int64_t p = p0; p < p0 + k;) {
        const int64_t t = p / row_len, off = p % row_len;
        const int64_t run = row_len - off < p0 + k - p ? row_len - off : p0 + k - p;
        const int64_t ih = pr->y[0] * g->step_h + g->base_h + t * g->tap_h;
        float *out = dst + (p - p0) * 8;
        p += run;
        if (ih < 0 || ih >= g->src_h) {
            memset(out, 0, (size_t)run * 8 * sizeof(float));
            continue;
        }
        /* the window: masked past the span, which may end the tensor */
        const float *at = src + ((pr->n[0] * g->src_h + ih) * g->src_w + iw) * g->src_c;
        const __mmask16 m1 =
            (__mmask16)(span > 16 ? (span >= 32 ? 0xffff : (1u << (span - 16)) - 1) : 0);
        const __mmask16 m2 =
            (__mmask16)(span > 32 ? (span >= 48 ? 0xffff : (1u << (span - 32)) - 1) : 0);
        const __m512 w0 =
            _mm512_maskz_loadu_ps((__mmask16)(span >= 16 ? 0xffff : (1u << span) - 1), at);
        const __m512 w1 = _mm512_maskz_loadu_ps(m1, at + 16);
        const __m512 w2 = _mm512_maskz_loadu_ps(m2, at + 32);
        const __m512 w3 = _mm512_maskz_loadu_ps(last_part, at + 48);
        for (int64_t q = 0; q < run; q += 2) {
            const __m512i index = _mm512_add_epi32(base, _mm512_set1_epi32((int)(off + q)));
            const __mmask16 high = _mm512_cmpge_epi32_mask(index, _mm512_set1_epi32(32));
            const __m512 v = _mm512_mask_blend_ps(high, _mm512_permutex2var_ps(w0, index, w1),
                                                  _mm512_permutex2var_ps(w2, index, w3));
            if (q + 1 < run)
                _mm512_storeu_ps(out + q * 8, v);
            else
                _mm256_storeu_ps(out + q * 8, _mm512_castps512_ps256(v));
        }
    }
}

/* Columns [p0, p0 + k) of a slice of pr->count panel rows, stored every `ld` floats. */
static void pack_slice(const usine_conv_gather *g, const panel_rows *pr, int64_t p0, int64_t k,
                       float *dst, int64_t ld)
{
    float buffer[CHUNK][ROW_BUFFER];
    const float *rows[CHUNK] = {NULL};
    const int merge = rows_contiguous(g);
    if (merge && ld == 8 && strided_panel(g, pr)) {
        pack_strided(g, pr, p0, k, dst);
        return;
    }
    const int64_t row_len = g->taps_w * g->channels;
    int64_t loaded_t = -1;
    for (int64_t p = p0; p < p0 + k;) {
        int64_t run;
        if (merge) {
            const int64_t t = p / row_len, off = p % row_len;
            if (t != loaded_t) {
                filter_row_pointers(g, pr, t, buffer, rows);
                loaded_t = t;
            }
            const float *at[CHUNK] = {NULL};
            for (int i = 0; i < pr->count; i++)
                at[i] = rows[i] ? rows[i] + off : NULL;
            run = row_len - off < p0 + k - p ? row_len - off : p0 + k - p;
            transpose_slice(pr, at, run, dst + (p - p0) * ld, ld);
        } else {
            const int64_t c = p % g->channels, tu = p / g->channels;
            tap_pointers(g, pr, tu / g->taps_w, tu % g->taps_w, c, rows);
            run = g->channels - c < p0 + k - p ? g->channels - c : p0 + k - p;
            transpose_slice(pr, rows, run, dst + (p - p0) * ld, ld);
        }
        p += run;
    }
}

void usine_conv_avx512_pack_positions_by_taps(const void *ctx, int64_t item, int width,
                                              int64_t row0, int64_t rows, int64_t p0, int64_t k,
                                              void *dstv)
{
    const usine_conv_gather *g = (const usine_conv_gather *)ctx;
    if (width > 64 || g->type != USINE_F32 || g->layout != USINE_CONV_NHWC) {
        usine_conv_pack_positions_by_taps(ctx, item, width, row0, rows, p0, k, dstv);
        return;
    }
    /* Panels of 8 go whole; wider ones in slices of 16 rows (the last one narrower). */
    const int slice = width == 8 ? 8 : CHUNK;
    float *dst = (float *)dstv;
    for (int64_t i0 = 0; i0 < rows; i0 += width, dst += width * k)
        for (int s0 = 0; s0 < width; s0 += slice) {
            panel_rows pr;
            const int here = width - s0 < slice ? width - s0 : slice;
            panel_of(g, row0 + i0 + s0, rows - i0 - s0, here, &pr);
            pack_slice(g, &pr, p0, k, dst + s0, width);
        }
}
