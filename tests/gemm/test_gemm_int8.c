/*
 * usine_gemm_ex with int8 inputs: u8 x s8 and s8 x s8, zero points, s32 output (exact,
 * beta 0 or 1, saturated when the exact sum leaves the s32 range) and f32 output with
 * per-tensor or per-column scales, bias and activation. The reference sums in int64 the
 * same integers (exact); f32 results get the f32 rounding of the epilogue as tolerance.
 * Every layout and transpose, odd and even k (the packed quads end padded), m and n across
 * the edge tiles, batches, and the descriptor's errors. ctest runs it per forced ISA and
 * thread count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static usine_context *ctx;

typedef struct int8_case {
    usine_dtype a_type, c_type;
    usine_layout layout;
    usine_transpose ta, tb;
    int64_t m, n, k, batch;
    int32_t za, zb;
    double alpha, beta;
    int scales; /* 0 none, 1 per tensor, 2 per column */
    int with_bias;
    usine_activation act;
} int8_case;

static int64_t at(usine_layout l, int64_t ld, int64_t i, int64_t j)
{
    return l == USINE_COL_MAJOR ? i + j * ld : i * ld + j;
}

static int64_t extent(usine_layout l, int64_t rows, int64_t cols, int64_t ld)
{
    return rows && cols ? (l == USINE_COL_MAJOR ? (cols - 1) * ld + rows : (rows - 1) * ld + cols)
                        : 0;
}

static int value_a(const int8_case *t, const void *a, int64_t e)
{
    return t->a_type == USINE_U8 ? ((const uint8_t *)a)[e] : ((const int8_t *)a)[e];
}

/* Wrong elements of one product against the int64 reference. */
static int64_t check(const int8_case *t, const void *a, int64_t lda, const int8_t *b, int64_t ldb,
                     const void *c0, const void *c, int64_t ldc, const float *scales,
                     const float *bias, const char *what)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < t->m; i++)
        for (int64_t j = 0; j < t->n; j++) {
            int64_t s = 0;
            for (int64_t p = 0; p < t->k; p++) {
                const int64_t ea =
                    t->ta == USINE_TRANS ? at(t->layout, lda, p, i) : at(t->layout, lda, i, p);
                const int64_t eb =
                    t->tb == USINE_TRANS ? at(t->layout, ldb, j, p) : at(t->layout, ldb, p, j);
                s += (int64_t)(value_a(t, a, ea) - t->za) * (b[eb] - t->zb);
            }
            const int64_t ec = at(t->layout, ldc, i, j);
            int ok;
            long double got, ref;
            if (t->c_type == USINE_S32) {
                int64_t v = s + (t->beta != 0 ? ((const int32_t *)c0)[ec] : 0);
                v = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : v;
                got = ((const int32_t *)c)[ec];
                ref = (long double)v;
                ok = ((const int32_t *)c)[ec] == (int32_t)v;
            } else {
                const long double scale = t->scales == 0   ? 1
                                          : t->scales == 1 ? scales[0]
                                                           : scales[j];
                const long double old = t->beta != 0 ? ((const float *)c0)[ec] : 0;
                /* scale * s is rounded to f32 once, then alpha, beta, bias in f32 */
                const long double v =
                    t->alpha * scale * (long double)s + t->beta * old + (bias ? bias[j] : 0);
                ref = test_activation(v, t->act);
                const long double mag = fabsl(t->alpha * scale * (long double)s) +
                                        fabsl(t->beta * old) + (bias ? fabsl(bias[j]) : 0);
                const long double u = 0x1.0p-24L;
                const long double tol = 1.2L * 6 * u * mag + 8 * u * fabsl(v) + 1e-30L;
                got = ((const float *)c)[ec];
                ok = fabsl(got - ref) <= tol;
            }
            if (!ok && bad++ < 4)
                fprintf(stderr, "  %s: C(%lld,%lld) = %.10Lg, reference %.10Lg\n", what,
                        (long long)i, (long long)j, got, ref);
        }
    return bad;
}

static void run(const int8_case *t)
{
    char what[200];
    snprintf(what, sizeof what,
             "%s x s8 -> %s %s %c%c m=%lld n=%lld k=%lld batch=%lld za=%d zb=%d alpha=%g "
             "beta=%g scales=%d bias=%d act=%d",
             t->a_type == USINE_U8 ? "u8" : "s8", t->c_type == USINE_S32 ? "s32" : "f32",
             t->layout == USINE_ROW_MAJOR ? "row" : "col", t->ta == USINE_TRANS ? 'T' : 'N',
             t->tb == USINE_TRANS ? 'T' : 'N', (long long)t->m, (long long)t->n, (long long)t->k,
             (long long)t->batch, t->za, t->zb, t->alpha, t->beta, t->scales, t->with_bias,
             (int)t->act);
    const int64_t ar = t->ta == USINE_TRANS ? t->k : t->m, ac = t->ta == USINE_TRANS ? t->m : t->k;
    const int64_t br = t->tb == USINE_TRANS ? t->n : t->k, bc = t->tb == USINE_TRANS ? t->k : t->n;
    const int row_major = t->layout == USINE_ROW_MAJOR;
    const int64_t lda = (row_major ? ac : ar) + 3, ldb = (row_major ? bc : br) + 1;
    const int64_t ldc = (row_major ? t->n : t->m) + 2;
    const int64_t sa = extent(t->layout, ar, ac, lda) + 5, sb = extent(t->layout, br, bc, ldb) + 7;
    const int64_t sc = extent(t->layout, t->m, t->n, ldc) + 1;
    test_buffer a = test_buffer_alloc((size_t)(sa * t->batch + 1));
    test_buffer b = test_buffer_alloc((size_t)(sb * t->batch + 1));
    test_buffer c = test_buffer_alloc((size_t)(sc * t->batch + 1) * 4);
    test_buffer c0 = test_buffer_alloc(c.bytes);
    for (int64_t e = 0; e < sa * t->batch; e++)
        ((uint8_t *)a.data)[e] = (uint8_t)test_rand_int(0, 255);
    for (int64_t e = 0; e < sb * t->batch; e++)
        ((int8_t *)b.data)[e] = (int8_t)test_rand_int(-128, 127);
    for (int64_t e = 0; e < sc * t->batch; e++) {
        if (t->c_type == USINE_S32)
            ((int32_t *)c.data)[e] = (int32_t)test_rand_int(-1000000, 1000000);
        else
            ((float *)c.data)[e] = t->beta == 0 ? NAN : (float)test_rand_uniform(-100, 100);
    }
    memcpy(c0.data, c.data, c.bytes);
    float *scales = (float *)malloc(sizeof(float) * (size_t)(t->n + 1));
    float *bias = (float *)malloc(sizeof(float) * (size_t)(t->n + 1));
    for (int64_t j = 0; j <= t->n; j++) {
        scales[j] = (float)test_rand_uniform(0.001, 0.01);
        bias[j] = (float)test_rand_uniform(-5, 5);
    }
    usine_gemm_desc d;
    usine_gemm_desc_init(&d);
    d.layout = t->layout;
    d.trans_a = t->ta;
    d.trans_b = t->tb;
    d.m = t->m;
    d.n = t->n;
    d.k = t->k;
    d.lda = lda;
    d.ldb = ldb;
    d.ldc = ldc;
    d.a_type = t->a_type;
    d.b_type = USINE_S8;
    d.c_type = t->c_type;
    d.alpha = t->alpha;
    d.beta = t->beta;
    d.a_zero_point = t->za;
    d.b_zero_point = t->zb;
    d.scales = t->scales ? scales : NULL;
    d.scale_count = t->scales == 0 ? 0 : t->scales == 1 ? 1 : t->n;
    d.bias = t->with_bias ? bias : NULL;
    d.activation = t->act;
    d.batch_count = t->batch;
    d.stride_a = sa;
    d.stride_b = sb;
    d.stride_c = sc;
    if (CHECK(usine_gemm_ex(ctx, &d, a.data, b.data, c.data) == USINE_SUCCESS, "%s: %s", what,
              usine_last_error()))
        for (int64_t it = 0; it < t->batch; it++) {
            const int64_t bad =
                check(t, (const uint8_t *)a.data + it * sa, lda, (const int8_t *)b.data + it * sb,
                      ldb, (const char *)c0.data + it * sc * 4, (const char *)c.data + it * sc * 4,
                      ldc, scales, t->with_bias ? bias : NULL, what);
            CHECK(bad == 0, "%s, item %lld: %lld wrong", what, (long long)it, (long long)bad);
        }
    CHECK(test_buffer_guards_ok(&c), "%s: write outside C", what);
    free(scales);
    free(bias);
    test_buffer_free(&a);
    test_buffer_free(&b);
    test_buffer_free(&c);
    test_buffer_free(&c0);
}

static int8_case plain(usine_dtype a_type, int64_t m, int64_t n, int64_t k)
{
    int8_case t = {a_type,
                   USINE_S32,
                   USINE_COL_MAJOR,
                   USINE_NO_TRANS,
                   USINE_NO_TRANS,
                   m,
                   n,
                   k,
                   1,
                   0,
                   0,
                   1.0,
                   0.0,
                   0,
                   0,
                   USINE_ACT_NONE};
    return t;
}

/* Every layout and transpose, u8 and s8 A, with and without zero points, s32 output. */
static void layouts(void)
{
    static const int64_t shapes[][3] = {{95, 13, 31}, {7, 20, 64}, {104, 9, 257},
                                        {56, 17, 2},  {1, 1, 1},   {49, 8, 130}};
    for (int s8a = 0; s8a < 2; s8a++)
        for (int layout = 0; layout < 2; layout++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++)
                    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                        int8_case t = plain(s8a ? USINE_S8 : USINE_U8, shapes[s][0], shapes[s][1],
                                            shapes[s][2]);
                        t.layout = layout ? USINE_ROW_MAJOR : USINE_COL_MAJOR;
                        t.ta = ta ? USINE_TRANS : USINE_NO_TRANS;
                        t.tb = tb ? USINE_TRANS : USINE_NO_TRANS;
                        if (s % 2) {
                            t.za = s8a ? -7 : 131;
                            t.zb = -3;
                        }
                        t.beta = s % 3 == 2 ? 1.0 : 0.0;
                        run(&t);
                    }
}

/* f32 output: scales, alpha, beta, bias, activations; larger shapes for two threads and
 * several k blocks; batches. */
static void f32_output(void)
{
    for (int v = 0; v < 8; v++) {
        int8_case t = plain(v % 2 ? USINE_S8 : USINE_U8, 37 + 40 * v, 29 + 23 * v, 100 + 300 * v);
        t.c_type = USINE_F32;
        t.layout = v % 3 ? USINE_ROW_MAJOR : USINE_COL_MAJOR;
        t.tb = v % 4 >= 2 ? USINE_TRANS : USINE_NO_TRANS;
        t.za = v % 2 ? 5 : 128;
        t.zb = v % 4 == 1 ? 0 : 9;
        t.alpha = v % 2 ? 0.5 : 1.0;
        t.beta = v % 3 == 0 ? 0.0 : 0.25;
        t.scales = v % 3;
        t.with_bias = v % 2;
        t.act = (usine_activation)(v % 4);
        t.batch = v == 5 ? 3 : 1;
        run(&t);
    }
    /* Per-column scales with alpha, results made in C itself (beta == 0), both layouts. */
    for (int layout = 0; layout < 2; layout++) {
        int8_case t = plain(USINE_U8, 70, 45, 300);
        t.c_type = USINE_F32;
        t.layout = layout ? USINE_ROW_MAJOR : USINE_COL_MAJOR;
        t.alpha = -0.75;
        t.scales = 2;
        t.with_bias = 1;
        t.act = USINE_ACT_GELU_ERF;
        t.za = 3;
        run(&t);
    }
    /* Two threads (a grid: each packs its own B and sums its columns), k in two blocks, sign
     * flips on both sides and zero points. */
    for (int layout = 0; layout < 2; layout++) {
        int8_case t = plain(USINE_S8, layout ? 70 : 400, layout ? 400 : 70, 2600);
        t.layout = layout ? USINE_ROW_MAJOR : USINE_COL_MAJOR;
        t.za = 3;
        t.zb = -1;
        run(&t);
    }
    int8_case t = plain(USINE_U8, 300, 260, 1500); /* a grid of threads, several k blocks */
    t.layout = USINE_ROW_MAJOR;
    t.za = 100;
    t.zb = 1;
    run(&t);
    t.k = 0; /* C = beta * C */
    t.beta = 1.0;
    run(&t);
    t = plain(USINE_S8, 40, 30, 70);
    t.c_type = USINE_F32;
    t.alpha = 0.0; /* A and B not used: beta * C + bias */
    t.beta = 2.0;
    t.with_bias = 1;
    run(&t);
}

/* The largest k with the largest products: the exact sum leaves s32 and saturates. */
static void saturation(void)
{
    const int64_t k = 65536;
    uint8_t *a = (uint8_t *)calloc((size_t)k, 1);
    int8_t *b = (int8_t *)malloc((size_t)k);
    int32_t c[2] = {0, 0};
    memset(b, 0x80, (size_t)k); /* -128 */
    usine_gemm_desc d;
    usine_gemm_desc_init(&d);
    d.m = d.n = 1;
    d.k = k;
    d.lda = d.ldc = 1;
    d.ldb = k;
    d.a_type = USINE_U8;
    d.b_type = USINE_S8;
    d.c_type = USINE_S32;
    d.a_zero_point = 255; /* (0 - 255) (-128 - 127) = 65025 per term */
    d.b_zero_point = 127;
    CHECK(usine_gemm_ex(ctx, &d, a, b, c) == USINE_SUCCESS && c[0] == INT32_MAX && c[1] == 0,
          "saturation: %d (%s)", c[0], usine_last_error());
    d.a_zero_point = 0; /* 0 * -128: the sum is 0 */
    CHECK(usine_gemm_ex(ctx, &d, a, b, c) == USINE_SUCCESS && c[0] == 0, "zero sum: %d", c[0]);
    memset(a, 255, (size_t)k); /* 255 * -128 * 65536 = -2139095040 fits exactly */
    d.b_zero_point = 0;
    CHECK(usine_gemm_ex(ctx, &d, a, b, c) == USINE_SUCCESS && c[0] == 255 * -128 * 65536,
          "largest exact sum: %d", c[0]);
    free(a);
    free(b);
}

/* usine_gemm_ex_batched: items from arrays of pointers (separate allocations), each
 * checked against the reference; NULL arrays are errors. */
static void pointer_batches(void)
{
    enum { ITEMS = 3 };
    int8_case t = plain(USINE_S8, 61, 35, 90);
    t.c_type = USINE_F32;
    t.layout = USINE_ROW_MAJOR;
    t.tb = USINE_TRANS;
    t.za = -2;
    t.zb = 4;
    t.scales = 2;
    t.with_bias = 1;
    t.act = USINE_ACT_RELU;
    const int64_t lda = t.k, ldb = t.k, ldc = t.n;
    void *a[ITEMS], *b[ITEMS], *c[ITEMS], *c0[ITEMS];
    float scales[35], bias[35];
    for (int j = 0; j < 35; j++) {
        scales[j] = (float)test_rand_uniform(0.01, 0.1);
        bias[j] = (float)test_rand_uniform(-1, 1);
    }
    for (int it = 0; it < ITEMS; it++) {
        a[it] = malloc((size_t)(t.m * t.k));
        b[it] = malloc((size_t)(t.n * t.k));
        c[it] = malloc((size_t)(t.m * t.n) * 4);
        c0[it] = malloc((size_t)(t.m * t.n) * 4);
        for (int64_t e = 0; e < t.m * t.k; e++)
            ((int8_t *)a[it])[e] = (int8_t)test_rand_int(-128, 127);
        for (int64_t e = 0; e < t.n * t.k; e++)
            ((int8_t *)b[it])[e] = (int8_t)test_rand_int(-128, 127);
    }
    usine_gemm_desc d;
    usine_gemm_desc_init(&d);
    d.layout = t.layout;
    d.trans_b = t.tb;
    d.m = t.m;
    d.n = t.n;
    d.k = t.k;
    d.lda = lda;
    d.ldb = ldb;
    d.ldc = ldc;
    d.a_type = USINE_S8;
    d.b_type = USINE_S8;
    d.c_type = USINE_F32;
    d.a_zero_point = t.za;
    d.b_zero_point = t.zb;
    d.scales = scales;
    d.scale_count = t.n;
    d.bias = bias;
    d.activation = t.act;
    d.batch_count = ITEMS;
    const void *const *ca = (const void *const *)a, *const *cb = (const void *const *)b;
    if (CHECK(usine_gemm_ex_batched(ctx, &d, ca, cb, c) == USINE_SUCCESS, "pointer batch: %s",
              usine_last_error()))
        for (int it = 0; it < ITEMS; it++)
            CHECK(check(&t, a[it], lda, (const int8_t *)b[it], ldb, c0[it], c[it], ldc, scales,
                        bias, "pointer batch") == 0,
                  "pointer batch item %d", it);
    CHECK(usine_gemm_ex_batched(ctx, &d, NULL, cb, c) == USINE_ERROR_INVALID_ARGUMENT &&
              strstr(usine_last_error(), "pointer array a"),
          "NULL a array: %s", usine_last_error());
    CHECK(usine_gemm_ex_batched(ctx, NULL, ca, cb, c) == USINE_ERROR_INVALID_ARGUMENT,
          "NULL descriptor");
    void *keep = c[1];
    c[1] = NULL;
    CHECK(usine_gemm_ex_batched(ctx, &d, ca, cb, c) == USINE_ERROR_INVALID_ARGUMENT &&
              strstr(usine_last_error(), "c[1]"),
          "NULL c[1]: %s", usine_last_error());
    c[1] = keep;
    for (int it = 0; it < ITEMS; it++) {
        free(a[it]);
        free(b[it]);
        free(c[it]);
        free(c0[it]);
    }
}

static void errors(void)
{
    uint8_t x[64] = {0};
    usine_gemm_desc d;
    usine_gemm_desc_init(&d);
    d.m = d.n = d.k = 2;
    d.lda = d.ldb = d.ldc = 2;
    d.a_type = USINE_U8;
    d.b_type = USINE_S8;
    d.c_type = USINE_S32;
    d.a_zero_point = 256;
    CHECK(usine_gemm_ex(ctx, &d, x, x, x + 32) == USINE_ERROR_INVALID_ARGUMENT &&
              strstr(usine_last_error(), "a_zero_point"),
          "zero point out of range: %s", usine_last_error());
    d.a_zero_point = 0;
    d.b_zero_point = 128;
    CHECK(usine_gemm_ex(ctx, &d, x, x, x + 32) == USINE_ERROR_INVALID_ARGUMENT, "b zero point");
    d.b_zero_point = 0;
    d.alpha = 2;
    CHECK(usine_gemm_ex(ctx, &d, x, x, x + 32) == USINE_ERROR_INVALID_ARGUMENT &&
              strstr(usine_last_error(), "alpha"),
          "alpha with s32: %s", usine_last_error());
    d.alpha = 1;
    d.k = 65537;
    d.lda = d.ldb = 65537;
    CHECK(usine_gemm_ex(ctx, &d, x, x, x + 32) == USINE_ERROR_NOT_SUPPORTED, "k too large");
    d.k = 2;
    d.lda = d.ldb = 2;
    d.c_type = USINE_F32;
    d.scale_count = 3;
    float s = 1;
    d.scales = &s;
    CHECK(usine_gemm_ex(ctx, &d, x, x, x + 32) == USINE_ERROR_INVALID_ARGUMENT &&
              strstr(usine_last_error(), "scale_count"),
          "scale_count: %s", usine_last_error());
    d.scale_count = 1;
    d.scales = NULL;
    CHECK(usine_gemm_ex(ctx, &d, x, x, x + 32) == USINE_ERROR_INVALID_ARGUMENT, "NULL scales");
    d.scales = &s;
    d.b_type = USINE_U8;
    CHECK(usine_gemm_ex(ctx, &d, x, x, x + 32) == USINE_ERROR_NOT_SUPPORTED, "u8 B");
}

int main(void)
{
    ctx = test_context_or_skip("test_gemm_int8");
    errors();
    layouts();
    f32_output();
    pointer_batches();
    saturation();
    usine_destroy(ctx);
    return test_finish("test_gemm_int8");
}
