#include "test_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long checks, failures;

int test_check(int ok, const char *file, int line, const char *format, ...)
{
    checks++;
    if (ok)
        return 1;
    failures++;
    if (failures <= 50) {
        fprintf(stderr, "FAIL %s:%d: ", file, line);
        va_list args;
        va_start(args, format);
        vfprintf(stderr, format, args);
        va_end(args);
        fputc('\n', stderr);
    }
    return 0;
}

int test_finish(const char *name)
{
    printf("%s: %ld checks, %ld failures (seed %llu)\n", name, checks, failures,
           (unsigned long long)test_seed());
    if (checks == 0) {
        printf("%s: no check ran: failing\n", name);
        return 1;
    }
    return failures ? 1 : 0;
}

usine_context *test_context_or_skip(const char *name)
{
    usine_context *ctx = NULL;
    usine_status st = usine_create(&ctx, NULL);
    if (st == USINE_ERROR_NOT_SUPPORTED && (getenv("USINE_CPU_ISA") || getenv("USINE_KERNEL"))) {
        printf("SKIP %s: %s\n", name, usine_last_error());
        exit(TEST_SKIP);
    }
    if (st != USINE_SUCCESS) {
        fprintf(stderr, "%s: usine_create failed: %s\n", name, usine_last_error());
        exit(1);
    }
    return ctx;
}

/* ---------------------------------------------------------------- random numbers */

static uint64_t state;

uint64_t test_seed(void)
{
    static uint64_t seed;
    if (!seed) {
        const char *s = getenv("USINE_TEST_SEED");
        seed = s ? strtoull(s, NULL, 10) : 20261125u;
        if (!seed)
            seed = 1;
        state = seed;
    }
    return seed;
}

uint64_t test_rand_u64(void)
{
    test_seed();
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
}

double test_rand_uniform(double lo, double hi)
{
    return lo + (hi - lo) * (double)(test_rand_u64() >> 11) * 0x1.0p-53;
}

int64_t test_rand_int(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(test_rand_u64() % (uint64_t)(hi - lo + 1));
}

/* ---------------------------------------------------------------- guarded buffers */

#define GUARD  256
#define CANARY 0xA5

test_buffer test_buffer_alloc(size_t bytes)
{
    test_buffer b;
    b.guard = GUARD;
    b.bytes = bytes;
    b.base = (unsigned char *)malloc(bytes + 2 * GUARD);
    if (!b.base) {
        fprintf(stderr, "test_buffer_alloc: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    memset(b.base, CANARY, GUARD);
    memset(b.base + GUARD + bytes, CANARY, GUARD);
    b.data = b.base + GUARD;
    return b;
}

void test_buffer_free(test_buffer *b)
{
    free(b->base);
    b->base = NULL;
    b->data = NULL;
}

int test_buffer_guards_ok(const test_buffer *b)
{
    for (size_t i = 0; i < b->guard; i++)
        if (b->base[i] != CANARY || b->base[b->guard + b->bytes + i] != CANARY)
            return 0;
    return 1;
}

/* ---------------------------------------------------------------- GEMM reference */

size_t test_dtype_size(usine_dtype dtype)
{
    return dtype == USINE_F64 ? 8 : dtype == USINE_BF16 || dtype == USINE_F16 ? 2 : 4;
}

static uint16_t bf16_from(double x)
{
    float f = (float)x;
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it quiet, whatever the payload */
        return (uint16_t)(u >> 16 | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u); /* nearest, ties to even; overflow carries to infinity */
    return (uint16_t)(u >> 16);
}

static double bf16_to(uint16_t h)
{
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double f16_to(uint16_t h)
{
    const int e = (h >> 10) & 31, m = h & 1023;
    const double s = h & 0x8000 ? -1.0 : 1.0;
    if (e == 0)
        return s * ldexp(m, -24);
    if (e == 31)
        return m ? NAN : s * INFINITY;
    return s * ldexp(1024 + m, e - 25);
}

static uint16_t f16_from(double x)
{
    if (isnan(x))
        return 0x7e00;
    const uint16_t sign = signbit(x) ? 0x8000 : 0;
    const double a = fabs(x);
    if (a >= 65520.0) /* rounds past the largest finite f16, 65504 */
        return (uint16_t)(sign | 0x7c00);
    if (a == 0)
        return sign;
    int e;
    frexp(a, &e); /* a = f 2^e, f in [0.5, 1) */
    int exp = e - 1 + 15;
    if (exp < 1)
        exp = 1; /* subnormal: quantum 2^-24 */
    const double q = ldexp(1.0, exp - 15 - 10);
    uint32_t bits = (uint32_t)nearbyint(a / q); /* ties to even in the default rounding */
    if (bits >= 2048) {                         /* rounded up to the next binade */
        bits >>= 1;
        exp++;
    }
    if (bits < 1024) /* subnormal */
        return (uint16_t)(sign | bits);
    return (uint16_t)(sign | (uint32_t)exp << 10 | (bits - 1024));
}

uint16_t test_put16(usine_dtype dtype, double x)
{
    return dtype == USINE_BF16 ? bf16_from(x) : f16_from(x);
}

double test_get16(usine_dtype dtype, uint16_t h)
{
    return dtype == USINE_BF16 ? bf16_to(h) : f16_to(h);
}

int64_t test_matrix_elements(usine_layout layout, int64_t rows, int64_t cols, int64_t ld)
{
    if (rows == 0 || cols == 0)
        return 0;
    return layout == USINE_COL_MAJOR ? (cols - 1) * ld + rows : (rows - 1) * ld + cols;
}

static int64_t offset(usine_layout layout, int64_t ld, int64_t i, int64_t j)
{
    return layout == USINE_COL_MAJOR ? i + j * ld : i * ld + j;
}

static void set(usine_dtype dtype, void *x, int64_t off, double v)
{
    if (dtype == USINE_F64)
        ((double *)x)[off] = v;
    else if (dtype == USINE_BF16 || dtype == USINE_F16)
        ((uint16_t *)x)[off] = test_put16(dtype, v);
    else
        ((float *)x)[off] = (float)v;
}

long double test_get(usine_dtype dtype, usine_layout layout, const void *x, int64_t ld, int64_t i,
                     int64_t j)
{
    const int64_t off = offset(layout, ld, i, j);
    if (dtype == USINE_BF16 || dtype == USINE_F16)
        return test_get16(dtype, ((const uint16_t *)x)[off]);
    return dtype == USINE_F64 ? (long double)((const double *)x)[off]
                              : (long double)((const float *)x)[off];
}

void test_fill_matrix(usine_dtype dtype, usine_layout layout, int64_t rows, int64_t cols, void *x,
                      int64_t ld, double pad)
{
    const int64_t total = test_matrix_elements(layout, rows, cols, ld);
    for (int64_t e = 0; e < total; e++)
        set(dtype, x, e, pad);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            set(dtype, x, offset(layout, ld, i, j), test_rand_uniform(-1.0, 1.0));
}

static int same_value(long double a, long double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

int64_t test_check_gemm(usine_dtype dtype, usine_layout layout, usine_transpose ta,
                        usine_transpose tb, int64_t m, int64_t n, int64_t k, double alpha,
                        const void *a, int64_t lda, const void *b, int64_t ldb, double beta,
                        const void *c0, const void *c, int64_t ldc, double pad, const char *what)
{
    const long double u = dtype == USINE_F64 ? 0x1.0p-53L : 0x1.0p-24L;
    int64_t bad = 0;
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            long double sum = 0, mag = 0;
            if (alpha != 0.0) {
                for (int64_t p = 0; p < k; p++) {
                    long double x = ta == USINE_TRANS ? test_get(dtype, layout, a, lda, p, i)
                                                      : test_get(dtype, layout, a, lda, i, p);
                    long double y = tb == USINE_TRANS ? test_get(dtype, layout, b, ldb, j, p)
                                                      : test_get(dtype, layout, b, ldb, p, j);
                    sum += x * y;
                    mag += fabsl(x * y);
                }
            }
            long double ref = (long double)alpha * sum, bound = fabsl((long double)alpha) * mag;
            if (beta != 0.0) {
                long double old = test_get(dtype, layout, c0, ldc, i, j);
                ref += (long double)beta * old;
                bound += fabsl((long double)beta * old);
            }
            const long double got = test_get(dtype, layout, c, ldc, i, j);
            const long double tol = (long double)(k + 3) * u * bound;
            const int ok = isnan(ref) ? isnan(got) : fabsl(got - ref) <= tol;
            if (!ok) {
                if (bad < 5)
                    fprintf(
                        stderr,
                        "  %s: C(%lld,%lld) = %.17Lg, reference %.17Lg, |diff| %.3Lg > tol %.3Lg\n",
                        what, (long long)i, (long long)j, got, ref, fabsl(got - ref), tol);
                bad++;
            }
        }
    }
    /* The padding of C (between the last row or column and the leading dimension); an
     * empty C has none. */
    if (m == 0 || n == 0)
        return bad;
    const int64_t inner = layout == USINE_COL_MAJOR ? m : n;
    const int64_t outer = layout == USINE_COL_MAJOR ? n : m;
    for (int64_t o = 0; o + 1 < outer; o++)
        for (int64_t e = inner; e < ldc; e++) {
            const int64_t off = o * ldc + e;
            const long double v = dtype == USINE_F64 ? (long double)((const double *)c)[off]
                                                     : (long double)((const float *)c)[off];
            if (!same_value(v, (long double)(dtype == USINE_F64 ? pad : (double)(float)pad))) {
                if (bad < 5)
                    fprintf(stderr, "  %s: padding of C at offset %lld was written\n", what,
                            (long long)off);
                bad++;
            }
        }
    return bad;
}

/* ---------------------------------------------------------------- references */

long double test_activation(long double v, usine_activation act)
{
    switch (act) {
    case USINE_ACT_RELU:
        return v < 0 ? 0 : v;
    case USINE_ACT_GELU_TANH:
        return 0.5L * v * (1 + tanhl(0.79788456080286535588L * (v + 0.044715L * v * v * v)));
    case USINE_ACT_GELU_ERF:
        return 0.5L * v * (1 + erfl(v * 0.70710678118654752440L));
    default:
        return v;
    }
}
