/*
 * The BLAS drop-in layer (include/usine_cblas.h) seen as the reference test programs see
 * it: this program defines its own xerbla_ and cblas_xerbla, which record every report,
 * and checks
 *   1. every illegal-argument case of the reference testers for GEMM (BLAS/TESTING
 *      sblat3.f SCHKE for sgemm_/dgemm_, CBLAS/testing c_s3chke.c for cblas_sgemm/dgemm,
 *      both layouts), plus cases of our own (several bad arguments: the first check
 *      wins; lower-case and 'C' transposes are legal; other enum values), reaches the
 *      handlers exactly once, through the same handler, with the same routine name,
 *      parameter number and globals (RowMajorStrg, CBLAS_CallFromC) as with the reference
 *      library, and leaves A, B and C untouched (guarded buffers);
 *   2. legal calls are correct against the long double reference (test_check_gemm):
 *      random shapes, every transpose (N/T/C, either case for Fortran), both layouts,
 *      leading dimensions above the minimum, alpha and beta including 0 and 1, NaN in C
 *      with beta == 0, the reference's quick returns (C not even read), no report;
 *   3. the legal corner cases the reference handles without reading A or B.
 * ctest runs it once per forced ISA and thread count; it also runs linked statically
 * (test_blas_static), where the program's handlers must win at link time.
 *
 * Usage: test_blas [quick]
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "usine_cblas.h"

/* The reference CBLAS's globals, which usine exports (see usine_cblas.h). */
extern int RowMajorStrg;
extern int CBLAS_CallFromC;

/* ---------------------------------------------------------------- recording handlers */

typedef struct report {
    char handler;  /* 'F': xerbla_, 'C': cblas_xerbla */
    char name[40]; /* as received: "SGEMM " (srname_len characters) or "cblas_sgemm" */
    size_t name_len;
    int info;
    int row_major, from_c; /* RowMajorStrg and CBLAS_CallFromC during the report */
    char detail[96];       /* cblas_xerbla's formatted message */
} report;

#define MAX_REPORTS 8
static report reports[MAX_REPORTS];
static int report_count;

void xerbla_(const char *srname, const int *info, size_t srname_len)
{
    if (report_count < MAX_REPORTS) {
        report *r = &reports[report_count];
        memset(r, 0, sizeof *r);
        r->handler = 'F';
        r->name_len = srname_len;
        if (srname_len < sizeof r->name)
            memcpy(r->name, srname, srname_len);
        r->info = *info;
        r->row_major = RowMajorStrg;
        r->from_c = CBLAS_CallFromC;
    }
    report_count++;
}

void cblas_xerbla(int p, const char *rout, const char *form, ...)
{
    if (report_count < MAX_REPORTS) {
        report *r = &reports[report_count];
        memset(r, 0, sizeof *r);
        r->handler = 'C';
        snprintf(r->name, sizeof r->name, "%s", rout);
        r->name_len = strlen(r->name);
        r->info = p;
        r->row_major = RowMajorStrg;
        r->from_c = CBLAS_CallFromC;
        va_list args;
        va_start(args, form);
        vsnprintf(r->detail, sizeof r->detail, form, args);
        va_end(args);
    }
    report_count++;
}

static void reset_reports(void)
{
    report_count = 0;
    memset(reports, 0, sizeof reports);
}

/* ---------------------------------------------------------------- helpers */

/* Matrices for the error cases: small guarded buffers with a recognisable pattern; an
 * illegal call must leave every byte as it was. */
#define ERR_ELEMENTS 16

typedef struct err_operands {
    test_buffer a, b, c;
    unsigned char saved[3][ERR_ELEMENTS * sizeof(double)];
} err_operands;

static void err_operands_init(err_operands *o)
{
    test_buffer *bufs[3] = {&o->a, &o->b, &o->c};
    for (int i = 0; i < 3; i++) {
        *bufs[i] = test_buffer_alloc(ERR_ELEMENTS * sizeof(double));
        double *x = (double *)bufs[i]->data;
        for (int e = 0; e < ERR_ELEMENTS; e++)
            x[e] = 100.0 * (i + 1) + e; /* as floats too, the bytes are a fixed pattern */
        memcpy(o->saved[i], bufs[i]->data, ERR_ELEMENTS * sizeof(double));
    }
}

static int err_operands_intact(const err_operands *o)
{
    const test_buffer *bufs[3] = {&o->a, &o->b, &o->c};
    for (int i = 0; i < 3; i++)
        if (!test_buffer_guards_ok(bufs[i]) ||
            memcmp(o->saved[i], bufs[i]->data, ERR_ELEMENTS * sizeof(double)) != 0)
            return 0;
    return 1;
}

static void err_operands_free(err_operands *o)
{
    test_buffer_free(&o->a);
    test_buffer_free(&o->b);
    test_buffer_free(&o->c);
}

/* ---------------------------------------------------------------- Fortran error cases */

typedef struct fortran_bad {
    char ta, tb;
    int m, n, k, lda, ldb, ldc;
    int info; /* the reference's parameter number */
} fortran_bad;

static const fortran_bad fortran_cases[] = {
    /* sblat3.f / dblat3.f, SCHKE, GEMM section: every case, in its order */
    {'/', 'N', 0, 0, 0, 1, 1, 1, 1},
    {'/', 'T', 0, 0, 0, 1, 1, 1, 1},
    {'N', '/', 0, 0, 0, 1, 1, 1, 2},
    {'T', '/', 0, 0, 0, 1, 1, 1, 2},
    {'N', 'N', -1, 0, 0, 1, 1, 1, 3},
    {'N', 'T', -1, 0, 0, 1, 1, 1, 3},
    {'T', 'N', -1, 0, 0, 1, 1, 1, 3},
    {'T', 'T', -1, 0, 0, 1, 1, 1, 3},
    {'N', 'N', 0, -1, 0, 1, 1, 1, 4},
    {'N', 'T', 0, -1, 0, 1, 1, 1, 4},
    {'T', 'N', 0, -1, 0, 1, 1, 1, 4},
    {'T', 'T', 0, -1, 0, 1, 1, 1, 4},
    {'N', 'N', 0, 0, -1, 1, 1, 1, 5},
    {'N', 'T', 0, 0, -1, 1, 1, 1, 5},
    {'T', 'N', 0, 0, -1, 1, 1, 1, 5},
    {'T', 'T', 0, 0, -1, 1, 1, 1, 5},
    {'N', 'N', 2, 0, 0, 1, 1, 2, 8},
    {'N', 'T', 2, 0, 0, 1, 1, 2, 8},
    {'T', 'N', 0, 0, 2, 1, 2, 1, 8},
    {'T', 'T', 0, 0, 2, 1, 1, 1, 8},
    {'N', 'N', 0, 0, 2, 1, 1, 1, 10},
    {'T', 'N', 0, 0, 2, 2, 1, 1, 10},
    {'N', 'T', 0, 2, 0, 1, 1, 1, 10},
    {'T', 'T', 0, 2, 0, 1, 1, 1, 10},
    {'N', 'N', 2, 0, 0, 2, 1, 1, 13},
    {'N', 'T', 2, 0, 0, 2, 1, 1, 13},
    {'T', 'N', 2, 0, 0, 1, 1, 1, 13},
    {'T', 'T', 2, 0, 0, 1, 1, 1, 13},
    /* ours: the first failing check wins, in the reference's order */
    {'X', 'Y', -1, -1, -1, 0, 0, 0, 1},
    {'n', 'y', -1, -1, -1, 0, 0, 0, 2},
    {'c', 't', -1, -1, -1, 0, 0, 0, 3},
    {'t', 'C', 0, -1, -1, 0, 0, 0, 4},
    {'N', 'N', 0, 0, -1, 0, 0, 0, 5},
    {'N', 'N', 3, 2, 2, 2, 1, 1, 8},  /* lda < m, ldb < k, ldc < m: lda first */
    {'N', 'N', 3, 2, 2, 3, 1, 1, 10}, /* ldb < k, ldc < m: ldb first */
    {'N', 'N', 3, 2, 2, 3, 2, 2, 13},
    {'c', 'c', 2, 3, 4, 3, 2, 1, 8},  /* A^T: lda >= k = 4 */
    {'C', 'n', 2, 3, 4, 4, 3, 1, 10}, /* A^T: lda >= k = 4 holds; B: ldb >= k = 4 */
    {'t', 'T', 2, 3, 4, 4, 2, 2, 10}, /* B^T: ldb >= n = 3 */
    {' ', 'N', 0, 0, 0, 1, 1, 1, 1},
    {'\0', 'N', 0, 0, 0, 1, 1, 1, 1},
    {'N', '\0', 0, 0, 0, 1, 1, 1, 2},
    {'1', 'N', 0, 0, 0, 1, 1, 1, 1},
    {'N', 'N', -2147483647 - 1, 0, 0, 1, 1, 1, 3},
    {'N', 'N', 0, 0, 0, 0, 1, 1, 8}, /* max(1, 0) = 1 */
    {'N', 'N', 0, 0, 0, 1, 0, 1, 10},
    {'N', 'N', 0, 0, 0, 1, 1, 0, 13},
};

static void check_fortran_errors(usine_dtype dtype)
{
    const char *expected_name = dtype == USINE_F64 ? "DGEMM " : "SGEMM ";
    err_operands o;
    err_operands_init(&o);
    for (size_t i = 0; i < sizeof fortran_cases / sizeof fortran_cases[0]; i++) {
        const fortran_bad *f = &fortran_cases[i];
        const char ta[2] = {f->ta, 'Z'}, tb[2] = {f->tb, 'Z'};
        reset_reports();
        RowMajorStrg = CBLAS_CallFromC = 0;
        if (dtype == USINE_F64) {
            const double alpha = 1.0, beta = 0.0;
            dgemm_(ta, tb, &f->m, &f->n, &f->k, &alpha, (const double *)o.a.data, &f->lda,
                   (const double *)o.b.data, &f->ldb, &beta, (double *)o.c.data, &f->ldc, 1, 1);
        } else {
            const float alpha = 1.0f, beta = 0.0f;
            sgemm_(ta, tb, &f->m, &f->n, &f->k, &alpha, (const float *)o.a.data, &f->lda,
                   (const float *)o.b.data, &f->ldb, &beta, (float *)o.c.data, &f->ldc, 1, 1);
        }
        const report *r = &reports[0];
        char what[128];
        snprintf(what, sizeof what, "%cgemm_('%c', '%c', m=%d, n=%d, k=%d, lda=%d, ldb=%d, ldc=%d)",
                 dtype == USINE_F64 ? 'd' : 's', f->ta ? f->ta : '0', f->tb ? f->tb : '0', f->m,
                 f->n, f->k, f->lda, f->ldb, f->ldc);
        if (!CHECK(report_count == 1, "%s: %d reports, expected exactly 1", what, report_count))
            continue;
        CHECK(r->handler == 'F', "%s: reported to cblas_xerbla, expected xerbla_", what);
        CHECK(r->name_len == 6 && strcmp(r->name, expected_name) == 0,
              "%s: xerbla_ got name '%s' (length %zu), expected '%s' (6)", what, r->name,
              r->name_len, expected_name);
        CHECK(r->info == f->info, "%s: parameter number %d, expected %d", what, r->info, f->info);
        CHECK(r->from_c == 0 && r->row_major == 0,
              "%s: CBLAS_CallFromC = %d, RowMajorStrg = %d during the report, expected 0, 0", what,
              r->from_c, r->row_major);
        CHECK(err_operands_intact(&o), "%s: A, B or C (or their guards) modified", what);
    }
    err_operands_free(&o);
}

/* ---------------------------------------------------------------- CBLAS error cases */

#define INVALID -1

typedef struct cblas_bad {
    int cblas_info; /* the CBLAS parameter number the reference finally reports */
    int layout, ta, tb;
    int m, n, k, lda, ldb, ldc;
} cblas_bad;

/* Short names for the table. */
#define ROW CblasRowMajor
#define COL CblasColMajor
#define NT  CblasNoTrans
#define TR  CblasTrans
#define CT  CblasConjTrans

static const cblas_bad cblas_cases[] = {
    /* CBLAS/testing/c_s3chke.c and c_d3chke.c, gemm section: every case, in its order */
    {1, INVALID, NT, NT, 0, 0, 0, 1, 1, 1},
    {1, INVALID, NT, TR, 0, 0, 0, 1, 1, 1},
    {1, INVALID, TR, NT, 0, 0, 0, 1, 1, 1},
    {1, INVALID, TR, TR, 0, 0, 0, 1, 1, 1},
    {2, COL, INVALID, NT, 0, 0, 0, 1, 1, 1},
    {2, COL, INVALID, TR, 0, 0, 0, 1, 1, 1},
    {3, COL, NT, INVALID, 0, 0, 0, 1, 1, 1},
    {3, COL, TR, INVALID, 0, 0, 0, 1, 1, 1},
    {4, COL, NT, NT, INVALID, 0, 0, 1, 1, 1},
    {4, COL, NT, TR, INVALID, 0, 0, 1, 1, 1},
    {4, COL, TR, NT, INVALID, 0, 0, 1, 1, 1},
    {4, COL, TR, TR, INVALID, 0, 0, 1, 1, 1},
    {5, COL, NT, NT, 0, INVALID, 0, 1, 1, 1},
    {5, COL, NT, TR, 0, INVALID, 0, 1, 1, 1},
    {5, COL, TR, NT, 0, INVALID, 0, 1, 1, 1},
    {5, COL, TR, TR, 0, INVALID, 0, 1, 1, 1},
    {6, COL, NT, NT, 0, 0, INVALID, 1, 1, 1},
    {6, COL, NT, TR, 0, 0, INVALID, 1, 1, 1},
    {6, COL, TR, NT, 0, 0, INVALID, 1, 1, 1},
    {6, COL, TR, TR, 0, 0, INVALID, 1, 1, 1},
    {9, COL, NT, NT, 2, 0, 0, 1, 1, 2},
    {9, COL, NT, TR, 2, 0, 0, 1, 1, 2},
    {9, COL, TR, NT, 0, 0, 2, 1, 2, 1},
    {9, COL, TR, TR, 0, 0, 2, 1, 1, 1},
    {11, COL, NT, NT, 0, 0, 2, 1, 1, 1},
    {11, COL, TR, NT, 0, 0, 2, 2, 1, 1},
    {11, COL, NT, TR, 0, 2, 0, 1, 1, 1},
    {11, COL, TR, TR, 0, 2, 0, 1, 1, 1},
    {14, COL, NT, NT, 2, 0, 0, 2, 1, 1},
    {14, COL, NT, TR, 2, 0, 0, 2, 1, 1},
    {14, COL, TR, NT, 2, 0, 0, 1, 1, 1},
    {14, COL, TR, TR, 2, 0, 0, 1, 1, 1},
    {4, ROW, NT, NT, INVALID, 0, 0, 1, 1, 1},
    {4, ROW, NT, TR, INVALID, 0, 0, 1, 1, 1},
    {4, ROW, TR, NT, INVALID, 0, 0, 1, 1, 1},
    {4, ROW, TR, TR, INVALID, 0, 0, 1, 1, 1},
    {5, ROW, NT, NT, 0, INVALID, 0, 1, 1, 1},
    {5, ROW, NT, TR, 0, INVALID, 0, 1, 1, 1},
    {5, ROW, TR, NT, 0, INVALID, 0, 1, 1, 1},
    {5, ROW, TR, TR, 0, INVALID, 0, 1, 1, 1},
    {6, ROW, NT, NT, 0, 0, INVALID, 1, 1, 1},
    {6, ROW, NT, TR, 0, 0, INVALID, 1, 1, 1},
    {6, ROW, TR, NT, 0, 0, INVALID, 1, 1, 1},
    {6, ROW, TR, TR, 0, 0, INVALID, 1, 1, 1},
    {9, ROW, NT, NT, 0, 0, 2, 1, 1, 2},
    {9, ROW, NT, TR, 0, 0, 2, 1, 2, 2},
    {9, ROW, TR, NT, 2, 0, 0, 1, 2, 1},
    {9, ROW, TR, TR, 2, 0, 0, 1, 1, 1},
    {11, ROW, NT, NT, 0, 2, 0, 1, 1, 1},
    {11, ROW, TR, NT, 0, 2, 0, 2, 1, 1},
    {11, ROW, NT, TR, 0, 0, 2, 2, 1, 1},
    {11, ROW, TR, TR, 0, 0, 2, 1, 1, 1},
    {14, ROW, NT, NT, 0, 2, 0, 1, 2, 1},
    {14, ROW, NT, TR, 0, 2, 0, 1, 1, 1},
    {14, ROW, TR, NT, 0, 2, 0, 1, 2, 1},
    {14, ROW, TR, TR, 0, 2, 0, 1, 1, 1},
    /* ours: other illegal enum values, ConjTrans, several bad arguments */
    {1, 0, NT, NT, 0, 0, 0, 1, 1, 1},
    {1, 103, INVALID, INVALID, -1, -1, -1, 0, 0, 0}, /* layout is checked first */
    {2, ROW, 110, INVALID, -1, -1, -1, 0, 0, 0},     /* then TransA */
    {2, COL, 114, NT, 0, 0, 0, 1, 1, 1},
    {3, ROW, CT, 0, -1, -1, -1, 0, 0, 0}, /* then TransB */
    {4, COL, CT, CT, -1, -1, -1, 0, 0, 0},
    {4, COL, CT, NT, -1, 0, 0, 1, 1, 1},
    {5, ROW, CT, CT, 0, -1, 0, 1, 1, 1},
    /* Row-major: the reference checks the swapped problem, so N before M, ldb before lda:
     * with both bad, the one reported is N (5), resp. ldb (11). */
    {5, ROW, NT, NT, -1, -1, 0, 1, 1, 1},
    {4, COL, NT, NT, -1, -1, 0, 1, 1, 1},
    {11, ROW, NT, NT, 2, 3, 4, 1, 1, 3}, /* lda < k = 4 and ldb < n = 3 */
    {9, COL, NT, NT, 2, 3, 4, 1, 1, 2},  /* lda < m = 2 and ldb < k = 4 */
    {14, ROW, CT, CT, 2, 3, 4, 2, 4, 2}, /* A^T is k x m: lda >= m; B^T n x k: ldb >= k */
    {9, ROW, CT, NT, 2, 3, 4, 1, 3, 3},
    {11, ROW, NT, CT, 2, 3, 4, 4, 3, 3},
    {14, COL, NT, NT, 3, 2, 2, 3, 2, 2},
};

/* Fortran position (of the problem handed to Fortran xGEMM) -> CBLAS position, as
 * reference cblas_xerbla maps it for a row-major GEMM. */
static int row_major_cblas_position(int p)
{
    switch (p) {
    case 4:
        return 5;
    case 5:
        return 4;
    case 9:
        return 11;
    case 11:
        return 9;
    default:
        return p;
    }
}

static void cblas_call(usine_dtype dtype, const cblas_bad *c, err_operands *o)
{
    if (dtype == USINE_F64)
        cblas_dgemm((CBLAS_LAYOUT)c->layout, (CBLAS_TRANSPOSE)c->ta, (CBLAS_TRANSPOSE)c->tb, c->m,
                    c->n, c->k, 1.0, (const double *)o->a.data, c->lda, (const double *)o->b.data,
                    c->ldb, 0.0, (double *)o->c.data, c->ldc);
    else
        cblas_sgemm((CBLAS_LAYOUT)c->layout, (CBLAS_TRANSPOSE)c->ta, (CBLAS_TRANSPOSE)c->tb, c->m,
                    c->n, c->k, 1.0f, (const float *)o->a.data, c->lda, (const float *)o->b.data,
                    c->ldb, 0.0f, (float *)o->c.data, c->ldc);
}

static void check_cblas_errors(usine_dtype dtype)
{
    const char *rout = dtype == USINE_F64 ? "cblas_dgemm" : "cblas_sgemm";
    const char *srname = dtype == USINE_F64 ? "DGEMM " : "SGEMM ";
    err_operands o;
    err_operands_init(&o);
    for (size_t i = 0; i < sizeof cblas_cases / sizeof cblas_cases[0]; i++) {
        const cblas_bad *c = &cblas_cases[i];
        const int row = c->layout == CblasRowMajor;
        char what[160];
        snprintf(what, sizeof what,
                 "%s(layout=%d, %d, %d, m=%d, n=%d, k=%d, lda=%d, ldb=%d, ldc=%d) [case %zu]", rout,
                 c->layout, c->ta, c->tb, c->m, c->n, c->k, c->lda, c->ldb, c->ldc, i);
        reset_reports();
        /* c_s3chke.c sets RowMajorStrg itself before each call; the library must set it
         * whatever it was (try the opposite value). */
        RowMajorStrg = !row;
        CBLAS_CallFromC = 0;
        cblas_call(dtype, c, &o);
        CHECK(RowMajorStrg == 0 && CBLAS_CallFromC == 0,
              "%s: RowMajorStrg = %d, CBLAS_CallFromC = %d after the call, expected 0, 0", what,
              RowMajorStrg, CBLAS_CallFromC);
        CHECK(err_operands_intact(&o), "%s: A, B or C (or their guards) modified", what);
        if (!CHECK(report_count == 1, "%s: %d reports, expected exactly 1", what, report_count))
            continue;
        const report *r = &reports[0];
        CHECK(r->from_c == 1, "%s: CBLAS_CallFromC = %d during the report, expected 1", what,
              r->from_c);
        if (c->cblas_info <= 3) {
            /* layout, TransA, TransB: cblas_xerbla directly, with a detail message */
            static const char *const details[3] = {"Illegal layout setting, %d\n",
                                                   "Illegal TransA setting, %d\n",
                                                   "Illegal TransB setting, %d\n"};
            const int values[3] = {c->layout, c->ta, c->tb};
            char detail[96];
            snprintf(detail, sizeof detail, details[c->cblas_info - 1], values[c->cblas_info - 1]);
            const int expect_row = c->cblas_info == 1 ? 0 : row;
            CHECK(r->handler == 'C', "%s: reported to xerbla_, expected cblas_xerbla", what);
            CHECK(strcmp(r->name, rout) == 0, "%s: routine '%s', expected '%s'", what, r->name,
                  rout);
            CHECK(r->info == c->cblas_info, "%s: parameter %d, expected %d", what, r->info,
                  c->cblas_info);
            CHECK(strcmp(r->detail, detail) == 0, "%s: detail '%s', expected '%s'", what, r->detail,
                  detail);
            CHECK(r->row_major == expect_row,
                  "%s: RowMajorStrg = %d during the report, "
                  "expected %d",
                  what, r->row_major, expect_row);
        } else {
            /* the Fortran checks: xerbla_ with the Fortran name and the position in the
             * problem handed to Fortran xGEMM (swapped in row-major) */
            const int fortran_info =
                (row ? row_major_cblas_position(c->cblas_info) : c->cblas_info) - 1;
            CHECK(r->handler == 'F', "%s: reported to cblas_xerbla, expected xerbla_", what);
            CHECK(r->name_len == 6 && strcmp(r->name, srname) == 0,
                  "%s: xerbla_ got '%s' (length %zu), expected '%s' (6)", what, r->name,
                  r->name_len, srname);
            CHECK(r->info == fortran_info, "%s: xerbla_ got parameter %d, expected %d", what,
                  r->info, fortran_info);
            CHECK(r->row_major == row, "%s: RowMajorStrg = %d during the report, expected %d", what,
                  r->row_major, row);
            /* What the reference tester's handler (CBLAS/testing/c_xerbla.c) then derives:
             * info + 1, remapped when RowMajorStrg is set, must be the bad argument. */
            const int derived = r->row_major ? row_major_cblas_position(r->info + 1) : r->info + 1;
            CHECK(derived == c->cblas_info,
                  "%s: the tester would derive parameter %d, "
                  "expected %d",
                  what, derived, c->cblas_info);
        }
    }
    err_operands_free(&o);
}

/* ---------------------------------------------------------------- legal calls */

/* Written into the padding of C (beyond the matrix inside ldc): any write there shows. */
#define C_PAD -5555.0
/* Written into the padding of A and B: a read there makes the result NaN. */
#define AB_PAD NAN

typedef enum api { API_CBLAS, API_FORTRAN } api;

typedef struct legal_case {
    api api;
    usine_dtype dtype;
    usine_layout layout;
    int ta, tb; /* 0: N, 1: T, 2: C (ConjTrans) */
    int lower;  /* Fortran: lower-case transpose characters */
    int m, n, k, pad_a, pad_b, pad_c;
    double alpha, beta;
    int nan_in_c;
} legal_case;

static void describe(const legal_case *g, char *out, size_t size)
{
    static const char tn[3] = {'N', 'T', 'C'};
    snprintf(out, size, "%s%s %s %c%c m=%d n=%d k=%d pads=%d,%d,%d alpha=%g beta=%g%s",
             g->api == API_CBLAS ? "cblas_" : "", g->dtype == USINE_F64 ? "dgemm" : "sgemm",
             g->layout == USINE_ROW_MAJOR ? "row" : "col", tn[g->ta], tn[g->tb], g->m, g->n, g->k,
             g->pad_a, g->pad_b, g->pad_c, g->alpha, g->beta, g->nan_in_c ? " NaN-in-C" : "");
}

/* Stored rows and columns of a matrix that is r x c after op(), and the minimum ld. */
static void storage(usine_layout layout, int transposed, int r, int c, int *rows, int *cols,
                    int *min_ld)
{
    *rows = transposed ? c : r;
    *cols = transposed ? r : c;
    const int inner = layout == USINE_COL_MAJOR ? *rows : *cols;
    *min_ld = inner > 1 ? inner : 1;
}

static test_buffer alloc_matrix(usine_dtype dtype, usine_layout layout, int rows, int cols, int ld)
{
    int64_t n = test_matrix_elements(layout, rows, cols, ld);
    return test_buffer_alloc((size_t)(n > 0 ? n : 1) * test_dtype_size(dtype));
}

static void call_gemm(const legal_case *g, const void *a, int lda, const void *b, int ldb, void *c,
                      int ldc)
{
    if (g->api == API_CBLAS) {
        static const CBLAS_TRANSPOSE t[3] = {CblasNoTrans, CblasTrans, CblasConjTrans};
        const CBLAS_LAYOUT layout = g->layout == USINE_ROW_MAJOR ? CblasRowMajor : CblasColMajor;
        if (g->dtype == USINE_F64)
            cblas_dgemm(layout, t[g->ta], t[g->tb], g->m, g->n, g->k, g->alpha, (const double *)a,
                        lda, (const double *)b, ldb, g->beta, (double *)c, ldc);
        else
            cblas_sgemm(layout, t[g->ta], t[g->tb], g->m, g->n, g->k, (float)g->alpha,
                        (const float *)a, lda, (const float *)b, ldb, (float)g->beta, (float *)c,
                        ldc);
        return;
    }
    static const char upper[3] = {'N', 'T', 'C'}, lower[3] = {'n', 't', 'c'};
    const char ta = (g->lower ? lower : upper)[g->ta], tb = (g->lower ? lower : upper)[g->tb];
    if (g->dtype == USINE_F64) {
        const double alpha = g->alpha, beta = g->beta;
        dgemm_(&ta, &tb, &g->m, &g->n, &g->k, &alpha, (const double *)a, &lda, (const double *)b,
               &ldb, &beta, (double *)c, &ldc, 1, 1);
    } else {
        const float alpha = (float)g->alpha, beta = (float)g->beta;
        sgemm_(&ta, &tb, &g->m, &g->n, &g->k, &alpha, (const float *)a, &lda, (const float *)b,
               &ldb, &beta, (float *)c, &ldc, 1, 1);
    }
}

static void run_legal_case(const legal_case *g)
{
    char what[200];
    describe(g, what, sizeof what);
    int ar, ac, lda, br, bc, ldb, cr, cc, ldc;
    storage(g->layout, g->ta != 0, g->m, g->k, &ar, &ac, &lda);
    storage(g->layout, g->tb != 0, g->k, g->n, &br, &bc, &ldb);
    storage(g->layout, 0, g->m, g->n, &cr, &cc, &ldc);
    lda += g->pad_a;
    ldb += g->pad_b;
    ldc += g->pad_c;
    test_buffer a = alloc_matrix(g->dtype, g->layout, ar, ac, lda);
    test_buffer b = alloc_matrix(g->dtype, g->layout, br, bc, ldb);
    test_buffer c = alloc_matrix(g->dtype, g->layout, cr, cc, ldc);
    test_buffer c0 = alloc_matrix(g->dtype, g->layout, cr, cc, ldc);
    test_buffer a0 = alloc_matrix(g->dtype, g->layout, ar, ac, lda);
    test_buffer b0 = alloc_matrix(g->dtype, g->layout, br, bc, ldb);
    test_fill_matrix(g->dtype, g->layout, ar, ac, a.data, lda, AB_PAD);
    test_fill_matrix(g->dtype, g->layout, br, bc, b.data, ldb, AB_PAD);
    test_fill_matrix(g->dtype, g->layout, cr, cc, c.data, ldc, C_PAD);
    if (g->nan_in_c) {
        const int64_t elements = test_matrix_elements(g->layout, cr, cc, ldc);
        for (int64_t i = 0; i < cr; i++)
            for (int64_t j = 0; j < cc; j++) {
                const int64_t off = g->layout == USINE_COL_MAJOR ? i + j * ldc : i * ldc + j;
                if (off < elements) {
                    if (g->dtype == USINE_F64)
                        ((double *)c.data)[off] = NAN;
                    else
                        ((float *)c.data)[off] = NAN;
                }
            }
    }
    memcpy(c0.data, c.data, c.bytes);
    memcpy(a0.data, a.data, a.bytes);
    memcpy(b0.data, b.data, b.bytes);

    reset_reports();
    call_gemm(g, a.data, lda, b.data, ldb, c.data, ldc);

    CHECK(report_count == 0, "%s: legal call reported to %s (parameter %d)", what,
          reports[0].handler == 'F' ? "xerbla_" : "cblas_xerbla", reports[0].info);
    CHECK(test_buffer_guards_ok(&a) && test_buffer_guards_ok(&b) && test_buffer_guards_ok(&c),
          "%s: a guard zone was written", what);
    CHECK(memcmp(a.data, a0.data, a.bytes) == 0 && memcmp(b.data, b0.data, b.bytes) == 0,
          "%s: A or B was modified", what);
    /* The reference's quick return: C not even read, so left bit for bit. */
    const int quick = g->m == 0 || g->n == 0 || ((g->alpha == 0.0 || g->k == 0) && g->beta == 1.0);
    if (quick) {
        CHECK(memcmp(c.data, c0.data, c.bytes) == 0, "%s: quick return, but C was modified", what);
    } else {
        const usine_transpose ta = g->ta ? USINE_TRANS : USINE_NO_TRANS;
        const usine_transpose tb = g->tb ? USINE_TRANS : USINE_NO_TRANS;
        const double alpha = g->dtype == USINE_F32 ? (double)(float)g->alpha : g->alpha;
        const double beta = g->dtype == USINE_F32 ? (double)(float)g->beta : g->beta;
        const int64_t bad =
            test_check_gemm(g->dtype, g->layout, ta, tb, g->m, g->n, g->k, alpha, a.data, lda,
                            b.data, ldb, beta, c0.data, c.data, ldc, C_PAD, what);
        CHECK(bad == 0, "%s: %lld wrong elements", what, (long long)bad);
    }
    test_buffer_free(&a);
    test_buffer_free(&b);
    test_buffer_free(&c);
    test_buffer_free(&c0);
    test_buffer_free(&a0);
    test_buffer_free(&b0);
}

static int random_size(int max)
{
    /* small sizes (and 0, 1) often, up to max sometimes: tails of every blocking */
    switch (test_rand_int(0, 5)) {
    case 0:
        return (int)test_rand_int(0, 2);
    case 1:
        return (int)test_rand_int(3, 17);
    default:
        return (int)test_rand_int(1, max);
    }
}

static void check_legal_calls(int count, int max_size)
{
    static const double alphas[] = {0.0, 1.0, -1.0, 0.7, 2.5};
    static const double betas[] = {0.0, 1.0, -1.0, 0.3};
    for (int i = 0; i < count; i++) {
        legal_case g;
        memset(&g, 0, sizeof g);
        g.api = (api)(i % 2);
        g.dtype = (i / 2) % 2 ? USINE_F64 : USINE_F32;
        g.layout = g.api == API_FORTRAN ? USINE_COL_MAJOR
                   : ((i / 4) % 2)      ? USINE_ROW_MAJOR
                                        : USINE_COL_MAJOR;
        g.ta = (i / 8) % 3;
        g.tb = (i / 24) % 3;
        g.lower = g.api == API_FORTRAN && test_rand_int(0, 1);
        g.m = random_size(max_size);
        g.n = random_size(max_size);
        g.k = random_size(max_size);
        g.pad_a = (int)test_rand_int(0, 3);
        g.pad_b = (int)test_rand_int(0, 3);
        g.pad_c = (int)test_rand_int(0, 3);
        g.alpha = alphas[test_rand_int(0, 4)];
        g.beta = betas[test_rand_int(0, 3)];
        g.nan_in_c = g.beta == 0.0 && test_rand_int(0, 1);
        run_legal_case(&g);
    }
}

/* Every transpose, layout, interface and dtype on a few fixed shapes, including the
 * special scalars, so that no combination depends on the random draw. */
static void check_legal_grid(void)
{
    static const int shapes[][3] = {{1, 1, 1}, {5, 3, 7}, {33, 17, 40},
                                    {0, 4, 4}, {4, 0, 4}, {4, 4, 0}};
    static const double scalars[][2] = {{1.0, 0.0}, {0.7, -1.3}, {0.0, 0.0},
                                        {0.0, 2.0}, {0.0, 1.0},  {1.0, 1.0}};
    for (int api_i = 0; api_i < 2; api_i++)
        for (int d = 0; d < 2; d++)
            for (int l = 0; l < 2; l++) {
                if (api_i == API_FORTRAN && l == 1)
                    continue;
                for (int ta = 0; ta < 3; ta++)
                    for (int tb = 0; tb < 3; tb++)
                        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                            for (size_t v = 0; v < sizeof scalars / sizeof scalars[0]; v++) {
                                legal_case g;
                                memset(&g, 0, sizeof g);
                                g.api = (api)api_i;
                                g.dtype = d ? USINE_F64 : USINE_F32;
                                g.layout = l ? USINE_ROW_MAJOR : USINE_COL_MAJOR;
                                g.ta = ta;
                                g.tb = tb;
                                g.lower = (int)(s % 2);
                                g.m = shapes[s][0];
                                g.n = shapes[s][1];
                                g.k = shapes[s][2];
                                g.pad_a = (int)(v % 2);
                                g.pad_c = (int)(s % 3);
                                g.alpha = scalars[v][0];
                                g.beta = scalars[v][1];
                                g.nan_in_c = g.beta == 0.0 && v % 2 == 0;
                                run_legal_case(&g);
                            }
            }
}

/* ---------------------------------------------------------------- corner cases */

/* Legal calls the reference completes without reading A or B (or without touching
 * anything): NULL pointers there must not crash nor report. */
static void check_corners(void)
{
    float c[4] = {NAN, 1.0f, -2.0f, INFINITY};
    double cd[4] = {NAN, 1.0, -2.0, INFINITY};
    const float one = 1.0f, zero = 0.0f, two = 2.0f;
    const int n0 = 0, n2 = 2, ld2 = 2;
    float nan_a[4] = {NAN, NAN, NAN, NAN};

    reset_reports();
    /* m == 0 and n == 0: nothing is read or written, NULL everywhere is fine */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 0, 5, 5, 1.0f, NULL, 5, NULL, 5, 1.0f,
                NULL, 5);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, 5, 0, 5, 1.0, NULL, 5, NULL, 5, 0.0, NULL,
                5);
    sgemm_("N", "N", &n0, &n2, &n2, &one, NULL, &ld2, NULL, &ld2, &zero, NULL, &ld2, 1, 1);
    /* alpha == 0, beta == 1: quick return, C untouched (NaN stays, not even read) */
    sgemm_("N", "N", &n2, &n2, &n2, &zero, NULL, &ld2, NULL, &ld2, &one, c, &ld2, 1, 1);
    CHECK(isnan(c[0]) && c[1] == 1.0f && c[2] == -2.0f && isinf(c[3]),
          "alpha = 0, beta = 1 changed C");
    /* alpha == 0, beta == 2: C = 2 C; A is not read (NaN in A does not leak) */
    sgemm_("N", "N", &n2, &n2, &n2, &zero, nan_a, &ld2, nan_a, &ld2, &two, c, &ld2, 1, 1);
    CHECK(isnan(c[0]) && c[1] == 2.0f && c[2] == -4.0f && isinf(c[3]),
          "alpha = 0, beta = 2: C = {%g, %g, %g, %g}, expected {nan, 2, -4, inf}", c[0], c[1], c[2],
          c[3]);
    /* alpha == 0, beta == 0: C = 0, C and A not read (NULL A and B are fine) */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 2, 2, 2, 0.0, NULL, 2, NULL, 2, 0.0, cd,
                2);
    CHECK(cd[0] == 0.0 && cd[1] == 0.0 && cd[2] == 0.0 && cd[3] == 0.0 && !signbit(cd[0]),
          "alpha = 0, beta = 0: C = {%g, %g, %g, %g}, expected zeros", cd[0], cd[1], cd[2], cd[3]);
    /* k == 0, beta == 0: C = 0 whatever alpha */
    c[0] = NAN;
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, 2, 2, 0, 3.0f, NULL, 2, NULL, 1, 0.0f, c,
                2);
    CHECK(c[0] == 0.0f && c[1] == 0.0f && c[2] == 0.0f && c[3] == 0.0f,
          "k = 0, beta = 0: C = {%g, %g, %g, %g}, expected zeros", c[0], c[1], c[2], c[3]);
    CHECK(report_count == 0, "a legal corner case reported %d errors", report_count);
}

int main(int argc, char **argv)
{
    const int quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    usine_context *ctx = test_context_or_skip("test_blas"); /* skips for a missing ISA */
    usine_destroy(ctx);
    printf("test_blas: USINE_CPU_ISA=%s USINE_NUM_THREADS=%s%s\n",
           getenv("USINE_CPU_ISA") ? getenv("USINE_CPU_ISA") : "(unset)",
           getenv("USINE_NUM_THREADS") ? getenv("USINE_NUM_THREADS") : "(unset)",
           quick ? " (quick)" : "");

    check_fortran_errors(USINE_F32);
    check_fortran_errors(USINE_F64);
    check_cblas_errors(USINE_F32);
    check_cblas_errors(USINE_F64);
    check_corners();
    check_legal_grid();
    check_legal_calls(quick ? 200 : 1500, quick ? 40 : 150);
    return test_finish("test_blas");
}
