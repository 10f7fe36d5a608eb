/*
 * Bad arguments to the GEMM entry points: each gets the documented status, a message that
 * names the argument, no crash, and C left exactly as it was (contents and guard zones).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static usine_context *ctx;

/* A 16 x 16 float workspace for every matrix; C's copy tells whether C changed. */
enum { N = 16 };
static test_buffer abuf, bbuf, cbuf;
static float c_before[N * N];

static void reset_c(void)
{
    for (int i = 0; i < N * N; i++)
        ((float *)cbuf.data)[i] = (float)i;
    memcpy(c_before, cbuf.data, sizeof c_before);
}

static int c_untouched(void)
{
    return memcmp(c_before, cbuf.data, sizeof c_before) == 0 && test_buffer_guards_ok(&cbuf);
}

/* Expects `st` with a last-error message containing `needle` and C untouched. */
static void expect(usine_status st, usine_status want, const char *needle, const char *what)
{
    const char *msg = usine_last_error();
    CHECK(st == want, "%s: status %d (%s), expected %d (%s); message: %s", what, st,
          usine_status_string(st), want, usine_status_string(want), msg);
    CHECK(strstr(msg, needle) != NULL, "%s: message '%s' does not mention '%s'", what, msg, needle);
    CHECK(c_untouched(), "%s: C was modified by a failing call", what);
    reset_c();
}

static usine_status gemm(usine_dtype dt, usine_layout l, usine_transpose ta, usine_transpose tb,
                         int64_t m, int64_t n, int64_t k, const void *a, int64_t lda, const void *b,
                         int64_t ldb, void *c, int64_t ldc)
{
    return usine_gemm(ctx, dt, l, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
}

static void enums_and_sizes(void)
{
    const usine_layout col = USINE_COL_MAJOR;
    const usine_transpose nt = USINE_NO_TRANS;
    void *a = abuf.data, *b = bbuf.data, *c = cbuf.data;
    expect(usine_gemm(NULL, USINE_F32, col, nt, nt, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2),
           USINE_ERROR_INVALID_ARGUMENT, "context", "NULL context");
    expect(gemm((usine_dtype)99, col, nt, nt, 2, 2, 2, a, 2, b, 2, c, 2),
           USINE_ERROR_INVALID_ARGUMENT, "dtype", "bad dtype");
    expect(gemm(USINE_BF16, col, nt, nt, 2, 2, 2, a, 2, b, 2, c, 2), USINE_ERROR_NOT_SUPPORTED,
           "bf16", "unsupported dtype");
    expect(gemm(USINE_F32, (usine_layout)0, nt, nt, 2, 2, 2, a, 2, b, 2, c, 2),
           USINE_ERROR_INVALID_ARGUMENT, "layout", "bad layout");
    expect(gemm(USINE_F32, col, (usine_transpose)113, nt, 2, 2, 2, a, 2, b, 2, c, 2),
           USINE_ERROR_INVALID_ARGUMENT, "trans_a", "bad trans_a");
    expect(gemm(USINE_F32, col, nt, (usine_transpose)0, 2, 2, 2, a, 2, b, 2, c, 2),
           USINE_ERROR_INVALID_ARGUMENT, "trans_b", "bad trans_b");
    expect(gemm(USINE_F32, col, nt, nt, -1, 2, 2, a, 2, b, 2, c, 2), USINE_ERROR_INVALID_ARGUMENT,
           "m = -1", "negative m");
    expect(gemm(USINE_F32, col, nt, nt, 2, -3, 2, a, 2, b, 2, c, 2), USINE_ERROR_INVALID_ARGUMENT,
           "n = -3", "negative n");
    expect(gemm(USINE_F32, col, nt, nt, 2, 2, -1, a, 2, b, 2, c, 2), USINE_ERROR_INVALID_ARGUMENT,
           "k = -1", "negative k");
}

static void leading_dimensions(void)
{
    const usine_transpose nt = USINE_NO_TRANS, t = USINE_TRANS;
    void *a = abuf.data, *b = bbuf.data, *c = cbuf.data;
    const usine_layout col = USINE_COL_MAJOR, row = USINE_ROW_MAJOR;
    /* Column-major: A is m x k (lda >= m), B k x n (ldb >= k), C m x n (ldc >= m). */
    expect(gemm(USINE_F32, col, nt, nt, 6, 4, 5, a, 5, b, 5, c, 6), USINE_ERROR_INVALID_ARGUMENT,
           "lda = 5", "col lda < m");
    expect(gemm(USINE_F32, col, t, nt, 6, 4, 5, a, 4, b, 5, c, 6), USINE_ERROR_INVALID_ARGUMENT,
           "lda = 4", "col, A^T: lda < k");
    expect(gemm(USINE_F32, col, nt, nt, 6, 4, 5, a, 6, b, 4, c, 6), USINE_ERROR_INVALID_ARGUMENT,
           "ldb = 4", "col ldb < k");
    expect(gemm(USINE_F32, col, nt, t, 6, 4, 5, a, 6, b, 3, c, 6), USINE_ERROR_INVALID_ARGUMENT,
           "ldb = 3", "col, B^T: ldb < n");
    expect(gemm(USINE_F32, col, nt, nt, 6, 4, 5, a, 6, b, 5, c, 5), USINE_ERROR_INVALID_ARGUMENT,
           "ldc = 5", "col ldc < m");
    /* Row-major: A is m x k (lda >= k), B k x n (ldb >= n), C m x n (ldc >= n). */
    expect(gemm(USINE_F32, row, nt, nt, 6, 4, 5, a, 4, b, 4, c, 4), USINE_ERROR_INVALID_ARGUMENT,
           "lda = 4", "row lda < k");
    expect(gemm(USINE_F32, row, nt, nt, 6, 4, 5, a, 5, b, 3, c, 4), USINE_ERROR_INVALID_ARGUMENT,
           "ldb = 3", "row ldb < n");
    expect(gemm(USINE_F32, row, nt, nt, 6, 4, 5, a, 5, b, 4, c, 3), USINE_ERROR_INVALID_ARGUMENT,
           "ldc = 3", "row ldc < n");
    expect(gemm(USINE_F32, row, nt, nt, 6, 4, 0, a, 0, b, 4, c, 4), USINE_ERROR_INVALID_ARGUMENT,
           "lda = 0", "ld 0 even when k = 0 (BLAS: max(1, k))");
}

static void pointers(void)
{
    const usine_transpose nt = USINE_NO_TRANS;
    const usine_layout col = USINE_COL_MAJOR;
    void *a = abuf.data, *b = bbuf.data, *c = cbuf.data;
    expect(gemm(USINE_F32, col, nt, nt, 4, 4, 4, a, 4, b, 4, NULL, 4), USINE_ERROR_INVALID_ARGUMENT,
           "c is NULL", "NULL C");
    expect(gemm(USINE_F32, col, nt, nt, 4, 4, 4, NULL, 4, b, 4, c, 4), USINE_ERROR_INVALID_ARGUMENT,
           "a is NULL", "NULL A");
    expect(gemm(USINE_F32, col, nt, nt, 4, 4, 4, a, 4, NULL, 4, c, 4), USINE_ERROR_INVALID_ARGUMENT,
           "b is NULL", "NULL B");
    /* C overlapping A or B (in place is not allowed). */
    expect(gemm(USINE_F32, col, nt, nt, 4, 4, 4, c, 4, b, 4, c, 4), USINE_ERROR_INVALID_ARGUMENT,
           "overlaps", "C aliases A");
    expect(gemm(USINE_F32, col, nt, nt, 4, 4, 4, a, 4, (float *)c + 15, 4, c, 4),
           USINE_ERROR_INVALID_ARGUMENT, "overlaps", "C overlaps B by one element");
    /* Nothing to do: m == 0 or n == 0 accepts NULL pointers and succeeds. */
    CHECK(gemm(USINE_F32, col, nt, nt, 0, 4, 4, NULL, 1, NULL, 4, NULL, 1) == USINE_SUCCESS,
          "m == 0 with NULL pointers: %s", usine_last_error());
    CHECK(strcmp(usine_last_error(), "") == 0, "a successful call clears the last error");
}

static void overflow(void)
{
    const usine_transpose nt = USINE_NO_TRANS;
    void *a = abuf.data, *b = bbuf.data, *c = cbuf.data;
    /* Spans that do not fit in 64 bits, or whose end wraps around the address space. */
    expect(gemm(USINE_F32, USINE_COL_MAJOR, nt, nt, 4, 4, 1LL << 40, a, INT64_MAX / 2, b, 1LL << 40,
                c, 4),
           USINE_ERROR_OVERFLOW, "A", "span of A overflows");
    expect(gemm(USINE_F64, USINE_ROW_MAJOR, nt, nt, 1LL << 62, 2, 2, a, 2, b, 2, c, 2),
           USINE_ERROR_OVERFLOW, "spans more than the address space", "huge m");
    expect(
        gemm(USINE_F32, USINE_COL_MAJOR, nt, nt, 4, 4, 4, a, 4, (void *)(UINTPTR_MAX - 8), 4, c, 4),
        USINE_ERROR_INVALID_ARGUMENT, "wraps", "B wraps around the address space");
}

static void strided(void)
{
    const usine_transpose nt = USINE_NO_TRANS;
    const usine_layout col = USINE_COL_MAJOR;
    void *a = abuf.data, *b = bbuf.data, *c = cbuf.data;
    expect(usine_gemm_strided_batched(ctx, USINE_F32, col, nt, nt, 2, 2, 2, 1, a, 2, -1, b, 2, 4, 0,
                                      c, 2, 4, 2),
           USINE_ERROR_INVALID_ARGUMENT, "stride_a", "negative stride_a");
    expect(usine_gemm_strided_batched(ctx, USINE_F32, col, nt, nt, 2, 2, 2, 1, a, 2, 4, b, 2, 4, 0,
                                      c, 2, 4, -2),
           USINE_ERROR_INVALID_ARGUMENT, "batch_count", "negative batch_count");
    expect(usine_gemm_strided_batched(ctx, USINE_F32, col, nt, nt, 4, 4, 2, 1, a, 4, 8, b, 2, 8, 0,
                                      c, 4, 15, 2),
           USINE_ERROR_INVALID_ARGUMENT, "stride_c", "C matrices overlap");
    expect(usine_gemm_strided_batched(ctx, USINE_F32, col, nt, nt, 4, 4, 2, 1, a, 4, 8, b, 2,
                                      INT64_MAX / 4, 0, c, 4, 16, 1000),
           USINE_ERROR_OVERFLOW, "B", "batch span of B overflows");
    CHECK(usine_gemm_strided_batched(ctx, USINE_F32, col, nt, nt, 4, 4, 2, 1, a, 4, 8, b, 2, 8, 0,
                                     c, 4, 16, 0) == USINE_SUCCESS &&
              c_untouched(),
          "batch_count == 0 does nothing");
}

static void pointer_arrays(void)
{
    const usine_transpose nt = USINE_NO_TRANS;
    const usine_layout col = USINE_COL_MAJOR;
    float *c = (float *)cbuf.data;
    const void *as[3] = {abuf.data, abuf.data, abuf.data};
    const void *bs[3] = {bbuf.data, bbuf.data, bbuf.data};
    void *cs[3] = {c, c + 16, NULL};
    expect(usine_gemm_batched(ctx, USINE_F32, col, nt, nt, 4, 4, 4, 1, as, 4, bs, 4, 0, cs, 4, 3),
           USINE_ERROR_INVALID_ARGUMENT, "c[2] is NULL", "NULL element of c");
    cs[2] = c + 32;
    as[1] = NULL;
    expect(usine_gemm_batched(ctx, USINE_F32, col, nt, nt, 4, 4, 4, 1, as, 4, bs, 4, 0, cs, 4, 3),
           USINE_ERROR_INVALID_ARGUMENT, "a[1] is NULL", "NULL element of a");
    as[1] = abuf.data;
    bs[0] = c; /* each C[i] is checked against its own A[i] and B[i] */
    expect(usine_gemm_batched(ctx, USINE_F32, col, nt, nt, 4, 4, 4, 1, as, 4, bs, 4, 0, cs, 4, 3),
           USINE_ERROR_INVALID_ARGUMENT, "overlaps", "c[0] aliases b[0]");
    expect(usine_gemm_batched(ctx, USINE_F32, col, nt, nt, 4, 4, 4, 1, as, 4, NULL, 4, 0, cs, 4, 3),
           USINE_ERROR_INVALID_ARGUMENT, "array b is NULL", "NULL array b");
}

static void introspection(void)
{
    const char *name = NULL;
    CHECK(usine_gemm_kernel_name(ctx, USINE_F32, 1, 1, 1, &name) == USINE_SUCCESS && name &&
              strncmp(name, "usine_sgemm_cpu_", 16) == 0,
          "kernel name for f32: %s", name ? name : "(null)");
    CHECK(usine_gemm_kernel_name(ctx, USINE_F32, 1, 1, 1, NULL) == USINE_ERROR_INVALID_ARGUMENT,
          "NULL name pointer");
    CHECK(usine_gemm_kernel_name(ctx, USINE_S8, 1, 1, 1, &name) == USINE_ERROR_NOT_SUPPORTED,
          "kernel name for s8");
    for (int s = 0; s <= USINE_ERROR_INTERNAL; s++)
        for (int t = 0; t < s; t++)
            CHECK(strcmp(usine_status_string((usine_status)s),
                         usine_status_string((usine_status)t)) != 0,
                  "status strings %d and %d are equal", s, t);
    CHECK(strcmp(usine_status_string((usine_status)1234), "unknown status") == 0,
          "unknown status string");
}

int main(void)
{
    ctx = test_context_or_skip("test_gemm_errors");
    abuf = test_buffer_alloc(sizeof(float) * N * N);
    bbuf = test_buffer_alloc(sizeof(float) * N * N);
    cbuf = test_buffer_alloc(sizeof(float) * N * N);
    memset(abuf.data, 0, abuf.bytes);
    memset(bbuf.data, 0, bbuf.bytes);
    reset_c();
    enums_and_sizes();
    leading_dimensions();
    pointers();
    overflow();
    strided();
    pointer_arrays();
    introspection();
    test_buffer_free(&abuf);
    test_buffer_free(&bbuf);
    test_buffer_free(&cbuf);
    usine_destroy(ctx);
    return test_finish("test_gemm_errors");
}
