/*
 * The BLAS drop-in layer: cblas_sgemm / cblas_dgemm, Fortran sgemm_ / dgemm_, and the
 * xerbla_ / cblas_xerbla handlers (see include/usine_cblas.h for the contract).
 *
 * Argument checking reproduces Reference-LAPACK (BLAS/SRC/xgemm.f, CBLAS/src/cblas_xgemm.c,
 * CBLAS/src/xerbla.c, CBLAS/src/cblas_xerbla.c) call for call, because programs (the
 * reference test programs first) define their own handlers and check what reaches them:
 *   - Fortran xGEMM: TRANSA (1), TRANSB (2), M (3), N (4), K (5), LDA (8), LDB (10),
 *     LDC (13), the first failure only, reported as xerbla_("xGEMM ", info, 6);
 *   - cblas_xgemm: layout (1), TransA (2), TransB (3) reported to cblas_xerbla directly;
 *     then the Fortran checks, on the problem as the reference hands it to Fortran xGEMM:
 *     unchanged in column-major, and C^T = op(B)^T op(A)^T (TransA <-> TransB, M <-> N,
 *     A, lda <-> B, ldb) in row-major. With CBLAS_CallFromC = 1 the default xerbla_
 *     forwards to cblas_xerbla(info + 1, "cblas_xgemm", ""), and with RowMajorStrg = 1
 *     cblas_xerbla maps the position of the swapped problem back to the CBLAS argument
 *     (4 <-> 5, 9 <-> 11): a bad M in a row-major call reaches xerbla_ as N (4), then
 *     cblas_xerbla as 5, which prints 4.
 * The two globals are written only around a report (the reference writes them on every
 * call), so that legal calls from several threads do not race on them; reports from
 * several threads at once race on them as they do in the reference.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "usine.h"
#include "usine_cblas.h"
#include "context.h"

/* The reference CBLAS's globals (CBLAS/src/cblas_globals.c), read by the handlers of
 * programs written for it: exported under the same names and types. */
extern USINE_API int RowMajorStrg;
extern USINE_API int CBLAS_CallFromC;
USINE_API int RowMajorStrg = 0;
USINE_API int CBLAS_CallFromC = 0;

/* Weak before first use: calls below then go through the dynamic symbol (PLT), so that a
 * program's own handler wins, preloaded or not. */
__attribute__((weak)) void xerbla_(const char *srname, const int *info, size_t srname_len);
__attribute__((weak)) void cblas_xerbla(int p, const char *rout, const char *form, ...);

/* The longest routine name a handler copies: Fortran names have 6 characters. */
#define MAX_ROUTINE_NAME 32

/* ------------------------------------------------------------------ default handlers */

/* Characters of a blank-padded Fortran name: up to a NUL or `len` (capped, so that a C
 * caller that omits the hidden length cannot make us read far), trailing blanks dropped. */
static size_t fortran_name_length(const char *name, size_t len)
{
    size_t n = 0;
    if (!name)
        return 0;
    if (len > MAX_ROUTINE_NAME)
        len = MAX_ROUTINE_NAME;
    while (n < len && name[n] != '\0')
        n++;
    while (n > 0 && name[n - 1] == ' ')
        n--;
    return n;
}

/* The reference BLAS XERBLA's message (BLAS/SRC/xerbla.f), on stderr, and no STOP. A
 * report from inside cblas_* goes to cblas_xerbla under the CBLAS name with the position
 * shifted by one for the layout argument, as the reference CBLAS's xerbla does. */
__attribute__((weak)) void xerbla_(const char *srname, const int *info, size_t srname_len)
{
    const size_t len = fortran_name_length(srname, srname_len);
    const int position = info ? *info : 0;
    if (CBLAS_CallFromC) {
        char rout[sizeof "cblas_" + MAX_ROUTINE_NAME];
        size_t used = (size_t)snprintf(rout, sizeof rout, "cblas_");
        for (size_t i = 0; i < len && used + 1 < sizeof rout; i++)
            rout[used++] = (char)tolower((unsigned char)srname[i]);
        rout[used] = '\0';
        cblas_xerbla(position + 1, rout, "");
        return;
    }
    fprintf(stderr, " ** On entry to %.*s parameter number %2d had an illegal value\n", (int)len,
            len ? srname : "", position);
}

/* Non-zero if rout is cblas_<s|d|c|z>gemm: the routines whose arguments the row-major
 * swap moves (gemmtr and the others have their own maps, unused by usine). */
static int is_cblas_gemm(const char *rout)
{
    return rout && strncmp(rout, "cblas_", 6) == 0 && rout[6] && strchr("sdcz", rout[6]) &&
           strcmp(rout + 7, "gemm") == 0;
}

/* The reference CBLAS handler's message (CBLAS/src/cblas_xerbla.c), on stderr, and no
 * exit. p == 0 prints the detail alone. */
__attribute__((weak)) void cblas_xerbla(int p, const char *rout, const char *form, ...)
{
    if (RowMajorStrg && is_cblas_gemm(rout)) {
        /* Fortran positions of the swapped problem -> CBLAS positions. */
        if (p == 4 || p == 5)
            p = 9 - p;
        else if (p == 9 || p == 11)
            p = 20 - p;
    }
    if (p)
        fprintf(stderr, "Parameter %d to routine %s was incorrect\n", p, rout ? rout : "?");
    if (form) {
        va_list args;
        va_start(args, form);
        vfprintf(stderr, form, args);
        va_end(args);
    }
}

/* ------------------------------------------------------------------ default context */

static pthread_once_t context_once = PTHREAD_ONCE_INIT;
static usine_context *blas_context_value;

/* Built once, on the first call that has work to do. An invalid environment costs one
 * warning line and the defaults, never an abort nor a wrong C. */
static void create_blas_context(void)
{
    usine_context *ctx = NULL;
    usine_context_options options;
    usine_context_options_init(&options);
    options.device = "cpu"; /* BLAS works on host memory whatever USINE_DEVICE says */
    if (usine_create(&ctx, &options) == USINE_SUCCESS) {
        blas_context_value = ctx;
        return;
    }
    char why[512];
    snprintf(why, sizeof why, "%s", usine_last_error());
    if (usine_create_from_defaults(&ctx) == USINE_SUCCESS) {
        fprintf(stderr,
                "usine: warning: %s; the BLAS interface (cblas_*gemm, *gemm_) ignores the "
                "USINE_* settings and uses the defaults\n",
                why);
        blas_context_value = ctx;
        return;
    }
    fprintf(stderr,
            "usine: warning: %s; %s; the BLAS interface (cblas_*gemm, *gemm_) falls back "
            "to a slow portable loop\n",
            why, usine_last_error());
}

static usine_context *blas_context(void)
{
    pthread_once(&context_once, create_blas_context);
    return blas_context_value;
}

/* ------------------------------------------------------------------ GEMM */

/* A legal call, as the caller made it (layout included). */
typedef struct blas_gemm {
    const char *entry; /* "cblas_sgemm", "sgemm_": for messages */
    usine_dtype dtype;
    usine_layout layout;
    int trans_a, trans_b; /* non-zero: transposed */
    int m, n, k;
    double alpha, beta; /* exact copies of the float or double arguments */
    const void *a, *b;
    void *c;
    int lda, ldb, ldc;
} blas_gemm;

/* Fortran LSAME for one character: case-insensitive. */
static int lsame(char c, char ref)
{
    return toupper((unsigned char)c) == ref;
}

static int max1(int x)
{
    return x > 1 ? x : 1;
}

/* The checks of reference xGEMM in its order: the position of the first bad argument,
 * 0 if none. */
static int fortran_gemm_info(char transa, char transb, int m, int n, int k, int lda, int ldb,
                             int ldc)
{
    const int nota = lsame(transa, 'N'), notb = lsame(transb, 'N');
    const int nrowa = nota ? m : k, nrowb = notb ? k : n;
    if (!nota && !lsame(transa, 'C') && !lsame(transa, 'T'))
        return 1;
    if (!notb && !lsame(transb, 'C') && !lsame(transb, 'T'))
        return 2;
    if (m < 0)
        return 3;
    if (n < 0)
        return 4;
    if (k < 0)
        return 5;
    if (lda < max1(nrowa))
        return 8;
    if (ldb < max1(nrowb))
        return 10;
    if (ldc < max1(m))
        return 13;
    return 0;
}

static double load(usine_dtype dtype, const void *x, int64_t i)
{
    return dtype == USINE_F64 ? ((const double *)x)[i] : (double)((const float *)x)[i];
}

static void store(usine_dtype dtype, void *x, int64_t i, double v)
{
    if (dtype == USINE_F64)
        ((double *)x)[i] = v;
    else
        ((float *)x)[i] = (float)v;
}

/* The last resort when usine_gemm cannot run (no context, no memory for its workspace):
 * a plain loop in the column-major view, with BLAS semantics (alpha == 0: A, B not read;
 * beta == 0: C not read). Slow, but never leaves C wrong. */
static void portable_gemm(const blas_gemm *g)
{
    const int row = g->layout == USINE_ROW_MAJOR; /* C^T = op(B)^T op(A)^T, column-major */
    const int m = row ? g->n : g->m, n = row ? g->m : g->n;
    const int ta = row ? g->trans_b : g->trans_a, tb = row ? g->trans_a : g->trans_b;
    const void *a = row ? g->b : g->a, *b = row ? g->a : g->b;
    const int64_t lda = row ? g->ldb : g->lda, ldb = row ? g->lda : g->ldb, ldc = g->ldc;
    const int product = g->alpha != 0.0 && g->k > 0;
    if (!g->c || (product && (!a || !b))) {
        fprintf(stderr, "usine: %s: a matrix pointer is NULL: C is left unchanged\n", g->entry);
        return;
    }
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < m; i++) {
            double sum = 0.0;
            for (int64_t p = 0; product && p < g->k; p++)
                sum += load(g->dtype, a, ta ? p + i * lda : i + p * lda) *
                       load(g->dtype, b, tb ? j + p * ldb : p + j * ldb);
            double v = g->alpha * sum;
            if (g->beta != 0.0)
                v += g->beta * load(g->dtype, g->c, i + j * ldc);
            store(g->dtype, g->c, i + j * ldc, v);
        }
}

/* Runs a checked call: the reference's quick return, then usine_gemm. */
static void run_gemm(const blas_gemm *g)
{
    /* Reference quick return: C is not even read. */
    if (g->m == 0 || g->n == 0 || ((g->alpha == 0.0 || g->k == 0) && g->beta == 1.0))
        return;
    usine_context *ctx = blas_context();
    if (ctx) {
        const usine_status st =
            usine_gemm(ctx, g->dtype, g->layout, g->trans_a ? USINE_TRANS : USINE_NO_TRANS,
                       g->trans_b ? USINE_TRANS : USINE_NO_TRANS, g->m, g->n, g->k, g->alpha, g->a,
                       g->lda, g->b, g->ldb, g->beta, g->c, g->ldc);
        if (st == USINE_SUCCESS)
            return;
        if (st == USINE_ERROR_INVALID_ARGUMENT || st == USINE_ERROR_OVERFLOW) {
            /* Legal for BLAS, yet unusable: a NULL matrix, C overlapping A or B, a matrix
             * larger than memory. The reference would crash or compute garbage. */
            fprintf(stderr, "usine: %s: %s: C is left unchanged\n", g->entry, usine_last_error());
            return;
        }
        fprintf(stderr, "usine: %s: %s: computing with the portable loop\n", g->entry,
                usine_last_error());
    }
    portable_gemm(g);
}

/* Fortran xGEMM. alpha and beta, like every argument, are read only once the checks
 * have passed. */
static void fortran_gemm(blas_gemm *g, const char *srname, const char *transa, const char *transb,
                         const int *m, const int *n, const int *k, const void *alpha,
                         const int *lda, const int *ldb, const void *beta, const int *ldc)
{
    int info = fortran_gemm_info(*transa, *transb, *m, *n, *k, *lda, *ldb, *ldc);
    if (info) {
        xerbla_(srname, &info, 6);
        return;
    }
    g->alpha = load(g->dtype, alpha, 0);
    g->beta = load(g->dtype, beta, 0);
    g->layout = USINE_COL_MAJOR;
    g->trans_a = !lsame(*transa, 'N');
    g->trans_b = !lsame(*transb, 'N');
    g->m = *m;
    g->n = *n;
    g->k = *k;
    g->lda = *lda;
    g->ldb = *ldb;
    g->ldc = *ldc;
    run_gemm(g);
}

void sgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc, size_t transa_len, size_t transb_len)
{
    (void)transa_len; /* may be absent in C callers: never read */
    (void)transb_len;
    blas_gemm g = {.entry = "sgemm_", .dtype = USINE_F32, .a = a, .b = b, .c = c};
    fortran_gemm(&g, "SGEMM ", transa, transb, m, n, k, alpha, lda, ldb, beta, ldc);
}

void dgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b, const int *ldb,
            const double *beta, double *c, const int *ldc, size_t transa_len, size_t transb_len)
{
    (void)transa_len;
    (void)transb_len;
    blas_gemm g = {.entry = "dgemm_", .dtype = USINE_F64, .a = a, .b = b, .c = c};
    fortran_gemm(&g, "DGEMM ", transa, transb, m, n, k, alpha, lda, ldb, beta, ldc);
}

/* The character the reference CBLAS hands to Fortran for a CBLAS_TRANSPOSE, 0 if illegal. */
static char trans_char(CBLAS_TRANSPOSE t)
{
    return t == CblasNoTrans ? 'N' : t == CblasTrans ? 'T' : t == CblasConjTrans ? 'C' : 0;
}

/* cblas_xGEMM: g holds the operands; the rest as the caller passed it. */
static void cblas_gemm(blas_gemm *g, const char *srname, CBLAS_LAYOUT layout,
                       CBLAS_TRANSPOSE TransA, CBLAS_TRANSPOSE TransB, int M, int N, int K, int lda,
                       int ldb, int ldc)
{
    const char *rout = g->entry;
    if (layout != CblasRowMajor && layout != CblasColMajor) {
        CBLAS_CallFromC = 1;
        RowMajorStrg = 0;
        cblas_xerbla(1, rout, "Illegal layout setting, %d\n", (int)layout);
    } else {
        const int row = layout == CblasRowMajor;
        const char ta = trans_char(TransA), tb = trans_char(TransB);
        int info = 0;
        if (ta && tb)
            info = row ? fortran_gemm_info(tb, ta, N, M, K, ldb, lda, ldc)
                       : fortran_gemm_info(ta, tb, M, N, K, lda, ldb, ldc);
        if (ta && tb && !info) {
            g->layout = row ? USINE_ROW_MAJOR : USINE_COL_MAJOR;
            g->trans_a = ta != 'N';
            g->trans_b = tb != 'N';
            g->m = M;
            g->n = N;
            g->k = K;
            g->lda = lda;
            g->ldb = ldb;
            g->ldc = ldc;
            run_gemm(g);
            return;
        }
        CBLAS_CallFromC = 1;
        RowMajorStrg = row;
        if (!ta)
            cblas_xerbla(2, rout, "Illegal TransA setting, %d\n", (int)TransA);
        else if (!tb)
            cblas_xerbla(3, rout, "Illegal TransB setting, %d\n", (int)TransB);
        else
            xerbla_(srname, &info, 6);
    }
    CBLAS_CallFromC = 0;
    RowMajorStrg = 0;
}

void cblas_sgemm(CBLAS_LAYOUT layout, CBLAS_TRANSPOSE TransA, CBLAS_TRANSPOSE TransB, const int M,
                 const int N, const int K, const float alpha, const float *A, const int lda,
                 const float *B, const int ldb, const float beta, float *C, const int ldc)
{
    blas_gemm g = {.entry = "cblas_sgemm",
                   .dtype = USINE_F32,
                   .alpha = alpha,
                   .beta = beta,
                   .a = A,
                   .b = B,
                   .c = C};
    cblas_gemm(&g, "SGEMM ", layout, TransA, TransB, M, N, K, lda, ldb, ldc);
}

void cblas_dgemm(CBLAS_LAYOUT layout, CBLAS_TRANSPOSE TransA, CBLAS_TRANSPOSE TransB, const int M,
                 const int N, const int K, const double alpha, const double *A, const int lda,
                 const double *B, const int ldb, const double beta, double *C, const int ldc)
{
    blas_gemm g = {.entry = "cblas_dgemm",
                   .dtype = USINE_F64,
                   .alpha = alpha,
                   .beta = beta,
                   .a = A,
                   .b = B,
                   .c = C};
    cblas_gemm(&g, "DGEMM ", layout, TransA, TransB, M, N, K, lda, ldb, ldc);
}
