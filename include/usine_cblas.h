/*
 * usine_cblas.h: the BLAS drop-in layer of usine (GEMM only).
 *
 * cblas_sgemm / cblas_dgemm (reference CBLAS signatures) and the Fortran sgemm_ / dgemm_
 * (gfortran calling convention, LP64: INTEGER is a C int), computed by usine_gemm on a
 * process-wide context created on first use from the environment (USINE_NUM_THREADS,
 * USINE_CPU_ISA, ...; an invalid setting prints one warning on stderr and the defaults
 * are used instead). Link with -lusine, or preload libusine.so in front of a program
 * built against any BLAS.
 *
 * Illegal arguments are reported exactly as the reference BLAS and CBLAS
 * (Reference-LAPACK) report them: same checks, same order, same parameter numbers, same
 * routine names, same path through the handlers:
 *   - sgemm_ / dgemm_ call xerbla_("SGEMM ", &info, 6) (resp. "DGEMM ") with the 1-based
 *     position of the first bad argument, then return with C untouched;
 *   - cblas_sgemm / cblas_dgemm report a bad layout (1), TransA (2) or TransB (3) with
 *     cblas_xerbla(p, "cblas_sgemm", "Illegal ... setting, %d\n", value); the other
 *     checks are those of the Fortran routine, applied (for CblasRowMajor) to the swapped
 *     problem C^T = op(B)^T op(A)^T exactly as the reference does, and reported through
 *     xerbla_("SGEMM ", ...). While a report from cblas_* is in flight the globals
 *     CBLAS_CallFromC = 1 and RowMajorStrg = (layout is row-major) are set, as in the
 *     reference: the default xerbla_ then forwards to cblas_xerbla(info + 1,
 *     "cblas_sgemm", ""), and the default cblas_xerbla maps a row-major position back to
 *     the CBLAS argument (4 <-> 5, 9 <-> 11 for GEMM) before printing it. A program that
 *     defines its own xerbla_ / cblas_xerbla (the reference test programs do) therefore
 *     sees the very calls the reference library makes.
 *   - xerbla_ and cblas_xerbla here are weak, default-visibility definitions: a program's
 *     own definitions win, also under LD_PRELOAD. Unlike the reference ones they print
 *     and RETURN instead of stopping the program; the BLAS routine then returns without
 *     touching C.
 *       xerbla_:      " ** On entry to SGEMM parameter number  3 had an illegal value"
 *       cblas_xerbla: "Parameter 4 to routine cblas_sgemm was incorrect" (+ the detail)
 *     both on stderr.
 *
 * Including it beside another cblas.h: include the other cblas.h FIRST (its CBLAS_H guard
 * is detected and its CBLAS_LAYOUT / CBLAS_TRANSPOSE are used; the declarations below are
 * compatible redeclarations). Included the other way round, the two headers' enum
 * definitions collide: for the GEMM subset, usine_cblas.h replaces cblas.h.
 */
#ifndef USINE_CBLAS_H
#define USINE_CBLAS_H

#include <stddef.h>

#include "usine.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef CBLAS_H /* reference CBLAS and OpenBLAS both guard cblas.h with CBLAS_H */
typedef enum CBLAS_LAYOUT { CblasRowMajor = 101, CblasColMajor = 102 } CBLAS_LAYOUT;
typedef enum CBLAS_TRANSPOSE {
    CblasNoTrans = 111,
    CblasTrans = 112,
    CblasConjTrans = 113 /* the same as CblasTrans for real types */
} CBLAS_TRANSPOSE;
#ifndef CBLAS_ORDER
#define CBLAS_ORDER CBLAS_LAYOUT /* the name used before CBLAS 3.6 */
#endif
#endif

/* C = alpha * op(A) * op(B) + beta * C; C is m x n. Reference CBLAS semantics. */
USINE_API void cblas_sgemm(CBLAS_LAYOUT layout, CBLAS_TRANSPOSE TransA, CBLAS_TRANSPOSE TransB,
                           const int M, const int N, const int K, const float alpha, const float *A,
                           const int lda, const float *B, const int ldb, const float beta, float *C,
                           const int ldc);
USINE_API void cblas_dgemm(CBLAS_LAYOUT layout, CBLAS_TRANSPOSE TransA, CBLAS_TRANSPOSE TransB,
                           const int M, const int N, const int K, const double alpha,
                           const double *A, const int lda, const double *B, const int ldb,
                           const double beta, double *C, const int ldc);

/* Fortran SGEMM / DGEMM (column-major). transa, transb: 'N', 'T' or 'C' in either case.
 * The trailing lengths are gfortran's hidden CHARACTER lengths; they are never read, so C
 * callers that omit them are fine too. */
USINE_API void sgemm_(const char *transa, const char *transb, const int *m, const int *n,
                      const int *k, const float *alpha, const float *a, const int *lda,
                      const float *b, const int *ldb, const float *beta, float *c, const int *ldc,
                      size_t transa_len, size_t transb_len);
USINE_API void dgemm_(const char *transa, const char *transb, const int *m, const int *n,
                      const int *k, const double *alpha, const double *a, const int *lda,
                      const double *b, const int *ldb, const double *beta, double *c,
                      const int *ldc, size_t transa_len, size_t transb_len);

/* The error handlers (weak defaults: define your own to take over, see above).
 * srname: the routine name, blank-padded to srname_len characters ("SGEMM ", 6). */
USINE_API void xerbla_(const char *srname, const int *info, size_t srname_len);
/* p: the 1-based CBLAS argument position (before the row-major remapping, see above);
 * rout: "cblas_sgemm"; form: a printf format for the detail, with its arguments. */
USINE_API void cblas_xerbla(int p, const char *rout, const char *form, ...);

#ifdef __cplusplus
}
#endif

#endif /* USINE_CBLAS_H */
