/*
 * Helpers shared by the test programs: a seeded RNG, guarded buffers (to prove nothing is
 * written outside the caller's matrices), the extended-precision GEMM reference and its
 * tolerance, and the skip convention (exit code 77, which ctest reports as skipped).
 */
#ifndef USINE_TEST_UTIL_H
#define USINE_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "usine.h"

#define TEST_SKIP 77

/* ---------------------------------------------------------------- reporting */

/* Counts a check; on failure prints the message (printf format) with file:line. */
#define CHECK(cond, ...) test_check((cond) != 0, __FILE__, __LINE__, __VA_ARGS__)
int test_check(int ok, const char *file, int line, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/* Prints the summary line and returns the process exit code (0 only if every check
 * passed and at least one ran: a test that checked nothing fails). */
int test_finish(const char *name);

/* Creates a context from the environment; if USINE_CPU_ISA or USINE_KERNEL asks for an ISA
 * this CPU lacks, prints "SKIP: ..." and exits with TEST_SKIP. Other failures abort the test. */
usine_context *test_context_or_skip(const char *name);

/* ---------------------------------------------------------------- random numbers */

/* xorshift64*: deterministic for a seed (printed by the tests, settable with USINE_TEST_SEED). */
uint64_t test_seed(void);
uint64_t test_rand_u64(void);
double test_rand_uniform(double lo, double hi); /* [lo, hi) */
int64_t test_rand_int(int64_t lo, int64_t hi);  /* [lo, hi] */

/* ---------------------------------------------------------------- guarded buffers */

/* A buffer with `guard` canary bytes before and after the payload. */
typedef struct test_buffer {
    unsigned char *base;
    void *data;
    size_t bytes, guard;
} test_buffer;

test_buffer test_buffer_alloc(size_t bytes);
void test_buffer_free(test_buffer *b);
/* Non-zero if both canary zones are intact. */
int test_buffer_guards_ok(const test_buffer *b);

/* ---------------------------------------------------------------- GEMM reference */

/* Fills rows x cols of a stored matrix (layout-aware, element (i,j)) with uniform values
 * in [-1, 1); the padding between leading dimensions is filled with `pad` so that any read
 * of it by the library shows up as a wrong (NaN) result. */
void test_fill_matrix(usine_dtype dtype, usine_layout layout, int64_t rows, int64_t cols, void *x,
                      int64_t ld, double pad);

/* Element (i,j) of a stored matrix as a long double. */
long double test_get(usine_dtype dtype, usine_layout layout, const void *x, int64_t ld, int64_t i,
                     int64_t j);

/*
 * Checks C against alpha * op(A) op(B) + beta * C0 computed in long double (64-bit
 * mantissa on x86, far below either dtype's roundoff), elementwise with the bound
 *   |c - ref| <= (k + 3) * u * (|alpha| * sum_p |a_ip b_pj| + |beta * c0|)
 * (u = 2^-24 for f32, 2^-53 for f64: the first-order bound of a k-term dot product with
 * FMAs, plus the alpha and beta roundings). beta == 0 ignores C0 entirely (NaN included).
 * Also checks that the padding of C (rows past m inside ldc) still equals `pad`.
 * Returns the number of bad elements; prints the first few.
 */
int64_t test_check_gemm(usine_dtype dtype, usine_layout layout, usine_transpose ta,
                        usine_transpose tb, int64_t m, int64_t n, int64_t k, double alpha,
                        const void *a, int64_t lda, const void *b, int64_t ldb, double beta,
                        const void *c0, const void *c, int64_t ldc, double pad, const char *what);

/* Stored size in elements of a rows x cols matrix with leading dimension ld. */
int64_t test_matrix_elements(usine_layout layout, int64_t rows, int64_t cols, int64_t ld);

/* Bytes per element: 8 (f64), 2 (bf16, f16), 4 (f32 and the rest). test_fill_matrix and
 * test_get take bf16 and f16 matrices too (values rounded to nearest, ties to even). */
size_t test_dtype_size(usine_dtype dtype);

/* A 16-bit element (dtype USINE_BF16 or USINE_F16) from a double, rounded to nearest with ties
 * to even (NaN stays NaN, beyond the range gives infinity), and its value. */
uint16_t test_put16(usine_dtype dtype, double x);
double test_get16(usine_dtype dtype, uint16_t h);

/* The epilogue activations of usine.h in long double (references for the GEMM tests). */
long double test_activation(long double v, usine_activation act);

#endif
