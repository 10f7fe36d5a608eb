/*
 * usine_gemm_ex: every supported dtype combination (f32, f64, bf16 -> f32|bf16,
 * f16 -> f32|f16), the epilogue (bias, ReLU, GELU tanh and erf), single and multi-pass K,
 * batches, against a long double reference computed from the same stored (rounded) inputs,
 * with the rounding to bf16/f16 done here independently (frexp/ldexp, not bit tricks).
 * Also the descriptor's errors. ctest runs it per forced ISA and thread count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static usine_context *ctx;

/* ---------------------------------------------------------------- formats */

typedef struct format {
    int bits;       /* significand bits, implicit one included */
    int emin, emax; /* exponent range of normal numbers, 2^emin .. 2^emax */
} format;

static const format BF16 = {8, -126, 127}, F16 = {11, -14, 15}, F32 = {24, -126, 127};

/* x rounded to the format, nearest, ties to even (the FPU's default mode); overflow gives
 * infinity. Written without bit manipulation so that it checks the library's own. */
static long double round_to(long double x, format f)
{
    if (!isfinite(x) || x == 0)
        return x;
    int e;
    frexpl(x, &e); /* |x| = m 2^e, m in [0.5, 1) */
    int quantum_exp = e - f.bits;
    if (e - 1 < f.emin) /* subnormal: fixed quantum */
        quantum_exp = f.emin - f.bits + 1;
    long double r = ldexpl(nearbyintl(ldexpl(x, -quantum_exp)), quantum_exp);
    const long double max = ldexpl(2.0L - ldexpl(1.0L, 1 - f.bits), f.emax);
    if (fabsl(r) > max)
        return x > 0 ? INFINITY : -INFINITY;
    return r;
}

static format format_of(usine_dtype t)
{
    return t == USINE_BF16 ? BF16 : t == USINE_F16 ? F16 : F32;
}

static size_t size_of(usine_dtype t)
{
    return t == USINE_F64 ? 8 : t == USINE_F32 ? 4 : 2;
}

static long double unit_roundoff(usine_dtype t)
{
    return t == USINE_F64 ? 0x1.0p-53L : ldexpl(1.0L, -format_of(t).bits);
}

/* Encodes a value already representable in a 16-bit format (sign, exponent, mantissa). */
static uint16_t encode16(long double v, format f)
{
    const int ebits = f.bits == 8 ? 8 : 5, mbits = f.bits - 1, bias = (1 << (ebits - 1)) - 1;
    uint16_t sign = signbit(v) ? (uint16_t)(1u << 15) : 0;
    if (isnan(v))
        return (uint16_t)(sign | (((1u << ebits) - 1) << mbits) | (1u << (mbits - 1)));
    if (isinf(v))
        return (uint16_t)(sign | (((1u << ebits) - 1) << mbits));
    v = fabsl(v);
    if (v == 0)
        return sign;
    int e;
    frexpl(v, &e);
    e -= 1;         /* v = 1.m 2^e */
    if (e < f.emin) /* subnormal */
        return (uint16_t)(sign | (uint16_t)llroundl(ldexpl(v, -(f.emin - mbits))));
    const long double mant = ldexpl(v, -e) - 1.0L;
    return (uint16_t)(sign | ((uint16_t)(e + bias) << mbits) |
                      (uint16_t)llroundl(ldexpl(mant, mbits)));
}

static long double decode16(uint16_t h, format f)
{
    const int ebits = f.bits == 8 ? 8 : 5, mbits = f.bits - 1, bias = (1 << (ebits - 1)) - 1;
    const int sign = h >> 15, ex = (h >> mbits) & ((1 << ebits) - 1), m = h & ((1 << mbits) - 1);
    long double v;
    if (ex == (1 << ebits) - 1)
        v = m ? NAN : INFINITY;
    else if (ex == 0)
        v = ldexpl((long double)m, f.emin - mbits);
    else
        v = ldexpl(1.0L + ldexpl((long double)m, -mbits), ex - bias);
    return sign ? -v : v;
}

static long double get(usine_dtype t, const void *x, int64_t at)
{
    switch (t) {
    case USINE_F64:
        return ((const double *)x)[at];
    case USINE_F32:
        return ((const float *)x)[at];
    default:
        return decode16(((const uint16_t *)x)[at], format_of(t));
    }
}

/* Stores v rounded to t. */
static void put(usine_dtype t, void *x, int64_t at, long double v)
{
    switch (t) {
    case USINE_F64:
        ((double *)x)[at] = (double)v;
        break;
    case USINE_F32:
        ((float *)x)[at] = (float)v;
        break;
    default:
        ((uint16_t *)x)[at] = encode16(round_to(v, format_of(t)), format_of(t));
    }
}

/* ---------------------------------------------------------------- reference */

typedef struct ex_case {
    usine_dtype ab, c;
    usine_layout layout;
    usine_transpose ta, tb;
    int64_t m, n, k, batch;
    double alpha, beta;
    int with_bias;
    usine_activation act;
} ex_case;

static int64_t offset(usine_layout l, int64_t ld, int64_t i, int64_t j)
{
    return l == USINE_COL_MAJOR ? i + j * ld : i * ld + j;
}

/* Elements of a rows x cols stored matrix with leading dimension ld. */
static int64_t extent(usine_layout l, int64_t rows, int64_t cols, int64_t ld)
{
    return rows && cols ? (l == USINE_COL_MAJOR ? (cols - 1) * ld + rows : (rows - 1) * ld + cols)
                        : 0;
}

/* Bad elements of C (item `it`) against the reference; prints the first few. */
static int64_t check(const ex_case *t, const void *a, int64_t lda, const void *b, int64_t ldb,
                     const void *c0, const void *c, int64_t ldc, const float *bias,
                     const char *what)
{
    /* Accumulation in f32 (f64 for f64): (k + 3) u of the sum of |terms|; the activation's
     * slope is at most 1.13 (GELU); libmvec's tanh/erf add at most 4 ulp, and GELU's
     * 1 + tanh cancels: 8 u of |v| covers both; then the rounding into C. */
    const usine_dtype acc_t = t->ab == USINE_F64 ? USINE_F64 : USINE_F32;
    const long double u = unit_roundoff(acc_t), u_out = t->c == acc_t ? 0 : unit_roundoff(t->c);
    int64_t bad = 0;
    /* op(A) by rows and op(B) by columns, decoded once. */
    long double *ra = (long double *)malloc(sizeof(long double) * (size_t)(t->m * t->k + 1));
    long double *rb = (long double *)malloc(sizeof(long double) * (size_t)(t->n * t->k + 1));
    for (int64_t i = 0; i < t->m; i++)
        for (int64_t p = 0; p < t->k; p++)
            ra[i * t->k + p] = get(t->ab, a,
                                   t->ta == USINE_TRANS ? offset(t->layout, lda, p, i)
                                                        : offset(t->layout, lda, i, p));
    for (int64_t j = 0; j < t->n; j++)
        for (int64_t p = 0; p < t->k; p++)
            rb[j * t->k + p] = get(t->ab, b,
                                   t->tb == USINE_TRANS ? offset(t->layout, ldb, j, p)
                                                        : offset(t->layout, ldb, p, j));
    for (int64_t i = 0; i < t->m; i++)
        for (int64_t j = 0; j < t->n; j++) {
            long double sum = 0, mag = 0;
            const long double *x = ra + i * t->k, *y = rb + j * t->k;
            for (int64_t p = 0; p < t->k; p++) {
                sum += x[p] * y[p];
                mag += fabsl(x[p] * y[p]);
            }
            const int64_t at = offset(t->layout, ldc, i, j);
            long double v = (long double)t->alpha * sum, bound = fabsl((long double)t->alpha) * mag;
            if (t->beta != 0) {
                const long double old = get(t->c, c0, at);
                v += (long double)t->beta * old;
                bound += fabsl((long double)t->beta * old);
            }
            if (bias) {
                v += bias[j];
                bound += fabsl((long double)bias[j]);
            }
            const long double ref = test_activation(v, t->act);
            const long double lip = t->act == USINE_ACT_NONE ? 1 : 1.2L;
            const long double tol = lip * (t->k + 3) * u * bound +
                                    (t->act >= USINE_ACT_GELU_TANH ? 8 * u * fabsl(v) : 0) +
                                    u_out * (fabsl(ref) + lip * (t->k + 3) * u * bound) +
                                    (t->c == USINE_F16 ? 0x1.0p-25L : 0);
            const long double got = get(t->c, c, at);
            const int ok = isnan(ref)   ? isnan(got)
                           : isinf(got) ? isinf(round_to(ref, format_of(t->c))) && t->c == USINE_F16
                                        : fabsl(got - ref) <= tol;
            if (!ok) {
                if (bad < 4)
                    fprintf(stderr, "  %s: C(%lld,%lld) = %.10Lg, reference %.10Lg, tol %.3Lg\n",
                            what, (long long)i, (long long)j, got, ref, tol);
                bad++;
            }
        }
    free(ra);
    free(rb);
    return bad;
}

static const char *tname(usine_dtype t)
{
    static const char *const names[] = {"f32", "f64", "bf16", "f16", "s8", "u8", "s32"};
    return names[t];
}

static void run(const ex_case *t)
{
    char what[200];
    snprintf(what, sizeof what,
             "%s->%s %s %c%c %lldx%lldx%lld batch %lld alpha %g beta %g%s act %d", tname(t->ab),
             tname(t->c), t->layout == USINE_ROW_MAJOR ? "row" : "col",
             t->ta == USINE_TRANS ? 'T' : 'N', t->tb == USINE_TRANS ? 'T' : 'N', (long long)t->m,
             (long long)t->n, (long long)t->k, (long long)t->batch, t->alpha, t->beta,
             t->with_bias ? " bias" : "", (int)t->act);
    const int64_t ar = t->ta == USINE_TRANS ? t->k : t->m, ac = t->ta == USINE_TRANS ? t->m : t->k;
    const int64_t br = t->tb == USINE_TRANS ? t->n : t->k, bc = t->tb == USINE_TRANS ? t->k : t->n;
    const int64_t row_major = t->layout == USINE_ROW_MAJOR;
    const int64_t lda = (row_major ? ac : ar) + 2, ldb = (row_major ? bc : br) + 1;
    const int64_t ldc = (row_major ? t->n : t->m) + 3;
    const int64_t sa = extent(t->layout, ar, ac, lda) + 5, sb = extent(t->layout, br, bc, ldb) + 2;
    const int64_t sc = extent(t->layout, t->m, t->n, ldc) + 7;
    test_buffer a = test_buffer_alloc((size_t)(sa * t->batch + 1) * size_of(t->ab));
    test_buffer b = test_buffer_alloc((size_t)(sb * t->batch + 1) * size_of(t->ab));
    test_buffer c = test_buffer_alloc((size_t)(sc * t->batch + 1) * size_of(t->c));
    test_buffer c0 = test_buffer_alloc(c.bytes);
    float *bias = NULL;
    if (t->with_bias) {
        bias = (float *)malloc(sizeof(float) * (size_t)(t->n + 1));
        for (int64_t j = 0; j < t->n; j++)
            bias[j] = (float)test_rand_uniform(-1, 1);
    }
    for (int64_t e = 0; e < sa * t->batch; e++)
        put(t->ab, a.data, e, test_rand_uniform(-1, 1));
    for (int64_t e = 0; e < sb * t->batch; e++)
        put(t->ab, b.data, e, test_rand_uniform(-1, 1));
    for (int64_t e = 0; e < sc * t->batch; e++)
        put(t->c, c.data, e, t->beta == 0 ? NAN : test_rand_uniform(-1, 1));
    memcpy(c0.data, c.data, c.bytes);
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
    d.a_type = d.b_type = t->ab;
    d.c_type = t->c;
    d.alpha = t->alpha;
    d.beta = t->beta;
    d.bias = bias;
    d.activation = t->act;
    d.batch_count = t->batch;
    d.stride_a = sa;
    d.stride_b = sb;
    d.stride_c = sc;
    usine_status st = usine_gemm_ex(ctx, &d, a.data, b.data, c.data);
    if (CHECK(st == USINE_SUCCESS, "%s: %s", what, usine_last_error())) {
        for (int64_t it = 0; it < t->batch; it++) {
            const size_t ea = size_of(t->ab), ec = size_of(t->c);
            int64_t bad = check(t, (char *)a.data + (size_t)(it * sa) * ea, lda,
                                (char *)b.data + (size_t)(it * sb) * ea, ldb,
                                (char *)c0.data + (size_t)(it * sc) * ec,
                                (char *)c.data + (size_t)(it * sc) * ec, ldc, bias, what);
            CHECK(bad == 0, "%s, item %lld: %lld wrong", what, (long long)it, (long long)bad);
        }
    }
    CHECK(test_buffer_guards_ok(&c), "%s: write outside C", what);
    free(bias);
    test_buffer_free(&a);
    test_buffer_free(&b);
    test_buffer_free(&c);
    test_buffer_free(&c0);
}

/* ---------------------------------------------------------------- cases */

static const usine_dtype combos[][2] = {
    {USINE_F32, USINE_F32},   {USINE_F64, USINE_F64}, {USINE_BF16, USINE_F32},
    {USINE_BF16, USINE_BF16}, {USINE_F16, USINE_F32}, {USINE_F16, USINE_F16},
};

static void combinations(void)
{
    static const int64_t shapes[][3] = {{1, 1, 1},      {7, 5, 3},       {48, 8, 16},  {53, 29, 70},
                                        {130, 67, 900}, {19, 260, 1500}, {300, 1, 40}, {1, 90, 33}};
    for (size_t c = 0; c < sizeof combos / sizeof combos[0]; c++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            ex_case t = {combos[c][0],
                         combos[c][1],
                         test_rand_int(0, 1) ? USINE_ROW_MAJOR : USINE_COL_MAJOR,
                         test_rand_int(0, 1) ? USINE_TRANS : USINE_NO_TRANS,
                         test_rand_int(0, 1) ? USINE_TRANS : USINE_NO_TRANS,
                         shapes[s][0],
                         shapes[s][1],
                         shapes[s][2],
                         1 + (int64_t)(s % 3 == 1),
                         s % 2 ? 0.75 : 1.0,
                         s % 3 == 0 ? 0.0 : -0.5,
                         (int)(s % 2),
                         (usine_activation)(s % 4)};
            run(&t);
        }
}

static void scalars_and_batches(void)
{
    /* alpha == 0 (beta * C + bias, then activation), k == 0, a batch of 5. */
    for (size_t c = 0; c < sizeof combos / sizeof combos[0]; c++) {
        ex_case t = {combos[c][0],
                     combos[c][1],
                     USINE_COL_MAJOR,
                     USINE_NO_TRANS,
                     USINE_NO_TRANS,
                     33,
                     21,
                     17,
                     1,
                     0.0,
                     1.5,
                     1,
                     USINE_ACT_RELU};
        run(&t);
        t.alpha = 1.0;
        t.k = 0;
        t.act = USINE_ACT_GELU_ERF;
        run(&t);
        t = (ex_case){combos[c][0],
                      combos[c][1],
                      USINE_ROW_MAJOR,
                      USINE_TRANS,
                      USINE_NO_TRANS,
                      64,
                      40,
                      120,
                      5,
                      1.0,
                      0.0,
                      1,
                      USINE_ACT_GELU_TANH};
        run(&t);
    }
}

/* Every layout and transpose for the half types: the packers take contiguous columns,
 * contiguous rows (even and odd leading dimensions: bf16 pairs are then aligned or not) or
 * neither; odd and even k (a last pair padded with zero); m across the edge tiles. */
static void half_layouts(void)
{
    static const int64_t shapes[][3] = {{95, 13, 31}, {7, 20, 64}, {104, 9, 257}, {56, 17, 2}};
    const usine_dtype halves[] = {USINE_BF16, USINE_F16};
    for (int h = 0; h < 2; h++)
        for (int layout = 0; layout < 2; layout++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++)
                    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                        ex_case t = {halves[h],
                                     USINE_F32,
                                     layout ? USINE_ROW_MAJOR : USINE_COL_MAJOR,
                                     ta ? USINE_TRANS : USINE_NO_TRANS,
                                     tb ? USINE_TRANS : USINE_NO_TRANS,
                                     shapes[s][0],
                                     shapes[s][1],
                                     shapes[s][2],
                                     1,
                                     1.0,
                                     s % 2 ? 0.5 : 0.0,
                                     0,
                                     USINE_ACT_NONE};
                        run(&t);
                    }
}

static void larger(void)
{
    /* Enough work for two threads (a grid), K over several blocks. */
    ex_case t = {USINE_BF16,
                 USINE_BF16,
                 USINE_ROW_MAJOR,
                 USINE_NO_TRANS,
                 USINE_TRANS,
                 400,
                 300,
                 1400,
                 1,
                 1.0,
                 0.0,
                 1,
                 USINE_ACT_GELU_TANH};
    run(&t);
    t = (ex_case){
        USINE_F16, USINE_F32, USINE_COL_MAJOR, USINE_NO_TRANS, USINE_NO_TRANS, 600, 90, 800, 1, 2.0,
        1.0,       0,         USINE_ACT_NONE};
    run(&t);
    t = (ex_case){USINE_F32,
                  USINE_F32,
                  USINE_COL_MAJOR,
                  USINE_NO_TRANS,
                  USINE_NO_TRANS,
                  500,
                  520,
                  700,
                  1,
                  1.0,
                  0.5,
                  1,
                  USINE_ACT_RELU};
    run(&t);
}

/* ReLU keeps NaN; the f16 output overflows to infinity. */
static void special_values(void)
{
    float a[4] = {NAN, 1, 1, 1}, b[4] = {1, 1, 1, 1}, c[4];
    usine_gemm_desc d;
    usine_gemm_desc_init(&d);
    d.m = d.n = d.k = 2;
    d.lda = d.ldb = d.ldc = 2;
    d.activation = USINE_ACT_RELU;
    CHECK(usine_gemm_ex(ctx, &d, a, b, c) == USINE_SUCCESS && isnan(c[0]) && c[1] == 2,
          "ReLU keeps NaN: %g %g", c[0], c[1]);
    uint16_t h[4] = {0x7800, 0x7800, 0x7800, 0x7800}; /* 32768 in f16 */
    uint16_t hc[4];
    d.a_type = d.b_type = d.c_type = USINE_F16;
    d.activation = USINE_ACT_NONE;
    CHECK(usine_gemm_ex(ctx, &d, h, h, hc) == USINE_SUCCESS && hc[0] == 0x7c00,
          "f16 overflow rounds to +inf: %04x", hc[0]);
}

static void errors(void)
{
    usine_gemm_desc d;
    float x[4] = {0};
    usine_gemm_desc_init(&d);
    d.m = d.n = d.k = 2;
    d.lda = d.ldb = d.ldc = 2;
    d.a_type = USINE_F32;
    d.b_type = USINE_BF16;
    CHECK(usine_gemm_ex(ctx, &d, x, x, x) == USINE_ERROR_NOT_SUPPORTED &&
              strstr(usine_last_error(), "f32 x bf16"),
          "mixed inputs: %s", usine_last_error());
    d.a_type = d.b_type = USINE_BF16;
    d.c_type = USINE_F16;
    CHECK(usine_gemm_ex(ctx, &d, x, x, x) == USINE_ERROR_NOT_SUPPORTED, "bf16 -> f16");
    d.c_type = USINE_F32;
    d.activation = (usine_activation)9;
    CHECK(usine_gemm_ex(ctx, &d, x, x, x) == USINE_ERROR_INVALID_ARGUMENT &&
              strstr(usine_last_error(), "activation"),
          "bad activation: %s", usine_last_error());
    d.activation = USINE_ACT_NONE;
    d.a_zero_point = 3;
    CHECK(usine_gemm_ex(ctx, &d, x, x, x) == USINE_ERROR_INVALID_ARGUMENT &&
              strstr(usine_last_error(), "zero points"),
          "zero point on bf16: %s", usine_last_error());
    d.a_zero_point = 0;
    d.struct_size = 8;
    CHECK(usine_gemm_ex(ctx, &d, x, x, x) == USINE_ERROR_INVALID_ARGUMENT &&
              strstr(usine_last_error(), "struct_size"),
          "uninitialised descriptor");
    CHECK(usine_gemm_ex(ctx, NULL, x, x, x) == USINE_ERROR_INVALID_ARGUMENT, "NULL descriptor");
    usine_gemm_desc_init(&d);
    d.m = d.n = d.k = 2;
    d.lda = d.ldb = d.ldc = 2;
    d.a_type = USINE_U8;
    d.b_type = USINE_U8; /* int8 B is s8 (test_gemm_int8 tests the rest) */
    d.c_type = USINE_S32;
    CHECK(usine_gemm_ex(ctx, &d, x, x, x) == USINE_ERROR_NOT_SUPPORTED &&
              strstr(usine_last_error(), "u8 x u8"),
          "u8 x u8: %s", usine_last_error());
    CHECK(usine_gemm(ctx, USINE_BF16, USINE_COL_MAJOR, USINE_NO_TRANS, USINE_NO_TRANS, 2, 2, 2, 1,
                     x, 2, x, 2, 0, x, 2) == USINE_ERROR_NOT_SUPPORTED &&
              strstr(usine_last_error(), "usine_gemm_ex"),
          "usine_gemm points to usine_gemm_ex: %s", usine_last_error());
}

/* The independent rounding must agree with known encodings, or the test checks nothing. */
static void self_check(void)
{
    CHECK(encode16(round_to(1.0L, BF16), BF16) == 0x3f80 &&
              encode16(round_to(1.00390625L, BF16), BF16) == 0x3f80 && /* tie to even */
              encode16(round_to(1.01171875L, BF16), BF16) == 0x3f82 &&
              encode16(round_to(65504.0L, F16), F16) == 0x7bff &&
              encode16(round_to(65520.0L, F16), F16) == 0x7c00 &&
              encode16(round_to(0x1.0p-24L, F16), F16) == 0x0001 &&
              decode16(0xc000, F16) == -2.0L && round_to(1.0L + 0x1.0p-24L, F32) == 1.0L,
          "reference rounding and encodings");
}

int main(void)
{
    ctx = test_context_or_skip("test_gemm_ex");
    self_check();
    errors();
    special_values();
    combinations();
    half_layouts();
    scalars_and_batches();
    larger();
    usine_destroy(ctx);
    return test_finish("test_gemm_ex");
}
