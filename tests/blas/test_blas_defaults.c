/*
 * What a program that does NOT define xerbla_ / cblas_xerbla gets from usine's weak
 * defaults, and how the BLAS layer copes with an invalid environment. stderr is captured
 * in a temporary file (the program redirects its own file descriptor 2) and compared.
 *
 * Usage: test_blas_defaults MODE
 *   handlers         illegal calls print the reference messages on stderr, exactly, and
 *                    return with C untouched; the program goes on
 *   env-threads      USINE_NUM_THREADS=abc: one warning line naming it, correct results
 *   env-isa          USINE_CPU_ISA=bogus: likewise
 *   env-isa-missing  USINE_CPU_ISA = a level this CPU lacks (skipped when it has them all)
 *   oom              usine_gemm cannot get its packing workspace (address space capped with
 *                    RLIMIT_AS): the BLAS layer says so once per call and computes C with
 *                    its portable loop, correctly (skipped under AddressSanitizer)
 *   threads          the first BLAS calls of the process made from 8 threads at once (the
 *                    lazy default context is created once): results correct, stderr silent
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "test_util.h"
#include "usine_cblas.h"

/* Written into C before each call: beta == 0 must not read it. */
#define NAN_FILL NAN

/* ---------------------------------------------------------------- stderr capture */

static FILE *capture_file;
static int saved_stderr = -1;

static void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    saved_stderr = dup(2);
    if (!capture_file || saved_stderr < 0 || dup2(fileno(capture_file), 2) < 0) {
        fprintf(stderr, "test_blas_defaults: cannot redirect stderr\n");
        exit(1);
    }
}

/* Restores stderr and returns what was written (malloc'ed). */
static char *capture_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    long size = ftell(capture_file);
    if (size < 0) {
        fseek(capture_file, 0, SEEK_END);
        size = ftell(capture_file);
    }
    char *text = (char *)calloc((size_t)(size > 0 ? size : 0) + 1, 1);
    rewind(capture_file);
    if (!text || (size > 0 && fread(text, 1, (size_t)size, capture_file) != (size_t)size)) {
        fprintf(stderr, "test_blas_defaults: cannot read the captured stderr\n");
        exit(1);
    }
    fclose(capture_file);
    return text;
}

/* ---------------------------------------------------------------- handlers */

static const float C_INIT[4] = {1.0f, 2.0f, 3.0f, 4.0f};

static int c_untouched(const float *c)
{
    return memcmp(c, C_INIT, sizeof C_INIT) == 0;
}

static void check_handlers(void)
{
    float a[4] = {0}, b[4] = {0}, c[4];
    double ad[4] = {0}, bd[4] = {0}, cd[4] = {1, 2, 3, 4};
    const float one = 1.0f;
    const double oned = 1.0;
    const int m_bad = -1, zero = 0, two = 2, one_i = 1, k_bad = -5;
    int returned = 0;
    memcpy(c, C_INIT, sizeof c);

    capture_begin();
    sgemm_("N", "N", &m_bad, &zero, &zero, &one, a, &one_i, b, &one_i, &one, c, &one_i, 1, 1);
    returned++;
    dgemm_("T", "N", &two, &zero, &zero, &oned, ad, &one_i, bd, &one_i, &oned, cd, &one_i, 1, 1);
    returned++;
    sgemm_("x", "N", &two, &two, &two, &one, a, &two, b, &two, &one, c, &two, 1, 1);
    returned++;
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, -1, 0, 0, 1.0f, a, 1, b, 1, 0.0f, c, 1);
    returned++;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, -1, 0, 0, 1.0f, a, 1, b, 1, 0.0f, c, 1);
    returned++;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 3, 4, 1.0, ad, 1, bd, 3, 0.0, cd, 3);
    returned++;
    cblas_dgemm((CBLAS_LAYOUT)0, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1.0, ad, 2, bd, 2, 0.0, cd,
                2);
    returned++;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, (CBLAS_TRANSPOSE)7, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c,
                2);
    returned++;
    cblas_sgemm(CblasRowMajor, CblasConjTrans, CblasNoTrans, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 1);
    returned++;
    /* after a cblas_ report, a Fortran call reports in Fortran again */
    sgemm_("N", "N", &two, &two, &k_bad, &one, a, &two, b, &two, &one, c, &two, 1, 1);
    returned++;
    /* the handlers called directly, as other libraries do */
    const int seven = 7;
    xerbla_("ZHEEV ", &seven, 6);
    cblas_xerbla(0, "cblas_foo", "a detail only, %d\n", 5);
    char *text = capture_end();

    static const char expected[] =
        " ** On entry to SGEMM parameter number  3 had an illegal value\n"
        " ** On entry to DGEMM parameter number 13 had an illegal value\n"
        " ** On entry to SGEMM parameter number  1 had an illegal value\n"
        "Parameter 4 to routine cblas_sgemm was incorrect\n"
        "Parameter 4 to routine cblas_sgemm was incorrect\n"
        "Parameter 9 to routine cblas_dgemm was incorrect\n"
        "Parameter 1 to routine cblas_dgemm was incorrect\n"
        "Illegal layout setting, 0\n"
        "Parameter 3 to routine cblas_sgemm was incorrect\n"
        "Illegal TransB setting, 7\n"
        "Parameter 14 to routine cblas_sgemm was incorrect\n"
        " ** On entry to SGEMM parameter number  5 had an illegal value\n"
        " ** On entry to ZHEEV parameter number  7 had an illegal value\n"
        "a detail only, 5\n";
    printf("captured stderr:\n%s", text);
    CHECK(returned == 10, "only %d of 10 illegal calls returned", returned);
    CHECK(strcmp(text, expected) == 0, "stderr differs from the expected text:\n%s", expected);
    CHECK(c_untouched(c), "an illegal sgemm call modified C");
    CHECK(cd[0] == 1 && cd[1] == 2 && cd[2] == 3 && cd[3] == 4, "an illegal dgemm call modified C");
    free(text);

    /* and legal calls still work, silently */
    capture_begin();
    const float af[4] = {1, 2, 3, 4}, bf[4] = {5, 6, 7, 8};
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1.0f, af, 2, bf, 2, 0.0f, c, 2);
    text = capture_end();
    CHECK(text[0] == '\0', "a legal call wrote on stderr: %s", text);
    CHECK(c[0] == 19 && c[1] == 22 && c[2] == 43 && c[3] == 50,
          "legal call: C = {%g, %g, %g, %g}, expected {19, 22, 43, 50}", c[0], c[1], c[2], c[3]);
    free(text);

    /* Legal for BLAS but unusable (the reference would crash or compute garbage): a NULL A,
     * C overlapping B. No abort, no report, C untouched, one line saying so. */
    float overlap[8] = {1, 2, 3, 4, 5, 6, 7, 8}, saved[8];
    memcpy(c, C_INIT, sizeof c);
    memcpy(saved, overlap, sizeof saved);
    capture_begin();
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1.0f, NULL, 2, bf, 2, 0.0f, c,
                2);
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1.0f, af, 2, overlap, 2, 1.0f,
                overlap + 2, 2);
    text = capture_end();
    printf("captured stderr:\n%s", text);
    const char *second = strchr(text, '\n');
    CHECK(strncmp(text, "usine: cblas_sgemm: ", 20) == 0 && second &&
              strncmp(second + 1, "usine: cblas_sgemm: ", 20) == 0 && strchr(second + 1, '\n') &&
              strchr(second + 1, '\n')[1] == '\0',
          "expected two lines starting 'usine: cblas_sgemm: '");
    CHECK(strstr(text, "C is left unchanged") != NULL, "the lines do not say C is unchanged");
    CHECK(c_untouched(c), "a NULL A: C was modified");
    CHECK(memcmp(overlap, saved, sizeof saved) == 0, "C overlapping B: C was modified");
    free(text);
}

/* ---------------------------------------------------------------- environment */

/* A few legal calls through each entry point, checked against the reference. */
static void legal_calls(void)
{
    enum { M = 37, N = 29, K = 41, LD = 41 };
    for (int d = 0; d < 2; d++) {
        const usine_dtype dt = d ? USINE_F64 : USINE_F32;
        const size_t es = test_dtype_size(dt);
        test_buffer a = test_buffer_alloc(LD * LD * es), b = test_buffer_alloc(LD * LD * es);
        test_buffer c = test_buffer_alloc(LD * LD * es), c0 = test_buffer_alloc(LD * LD * es);
        for (int l = 0; l < 2; l++) {
            const usine_layout layout = l ? USINE_ROW_MAJOR : USINE_COL_MAJOR;
            test_fill_matrix(dt, layout, M, K, a.data, LD, 0.0);
            test_fill_matrix(dt, layout, K, N, b.data, LD, 0.0);
            test_fill_matrix(dt, layout, M, N, c.data, LD, -1.0);
            memcpy(c0.data, c.data, c.bytes);
            /* A is M x K (not transposed), B is K x N */
            if (dt == USINE_F64)
                cblas_dgemm(l ? CblasRowMajor : CblasColMajor, CblasNoTrans, CblasNoTrans, M, N, K,
                            0.5, (const double *)a.data, LD, (const double *)b.data, LD, -2.0,
                            (double *)c.data, LD);
            else
                cblas_sgemm(l ? CblasRowMajor : CblasColMajor, CblasNoTrans, CblasNoTrans, M, N, K,
                            0.5f, (const float *)a.data, LD, (const float *)b.data, LD, -2.0f,
                            (float *)c.data, LD);
            CHECK(test_check_gemm(dt, layout, USINE_NO_TRANS, USINE_NO_TRANS, M, N, K, 0.5, a.data,
                                  LD, b.data, LD, -2.0, c0.data, c.data, LD, -1.0,
                                  "cblas call") == 0,
                  "cblas_%cgemm %s: wrong result", d ? 'd' : 's', l ? "row" : "col");
        }
        test_fill_matrix(dt, USINE_COL_MAJOR, M, K, a.data, LD, 0.0);
        test_fill_matrix(dt, USINE_COL_MAJOR, K, N, b.data, LD, 0.0);
        test_fill_matrix(dt, USINE_COL_MAJOR, M, N, c.data, LD, -1.0);
        const int m = M, n = N, k = K, ld = LD;
        if (dt == USINE_F64) {
            const double alpha = 1.0, beta = 0.0;
            dgemm_("N", "N", &m, &n, &k, &alpha, (const double *)a.data, &ld,
                   (const double *)b.data, &ld, &beta, (double *)c.data, &ld, 1, 1);
        } else {
            const float alpha = 1.0f, beta = 0.0f;
            sgemm_("N", "N", &m, &n, &k, &alpha, (const float *)a.data, &ld, (const float *)b.data,
                   &ld, &beta, (float *)c.data, &ld, 1, 1);
        }
        CHECK(test_check_gemm(dt, USINE_COL_MAJOR, USINE_NO_TRANS, USINE_NO_TRANS, M, N, K, 1.0,
                              a.data, LD, b.data, LD, 0.0, c.data, c.data, LD, -1.0,
                              "fortran call") == 0,
              "%cgemm_: wrong result", d ? 'd' : 's');
        test_buffer_free(&a);
        test_buffer_free(&b);
        test_buffer_free(&c);
        test_buffer_free(&c0);
    }
}

static int count_lines(const char *text)
{
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    return lines;
}

static void check_env(const char *variable, const char *value)
{
    setenv(variable, value, 1); /* before the first BLAS call: the context is lazy */
    printf("%s=%s\n", variable, value);
    capture_begin();
    legal_calls();
    legal_calls(); /* the warning is printed once, not per call */
    char *text = capture_end();
    printf("captured stderr:\n%s", text);
    CHECK(count_lines(text) == 1, "expected exactly one line on stderr, got %d", count_lines(text));
    CHECK(strncmp(text, "usine: warning: ", 16) == 0, "the line does not start 'usine: warning: '");
    CHECK(strstr(text, variable) != NULL, "the warning does not name %s", variable);
    CHECK(strstr(text, value) != NULL, "the warning does not quote the value '%s'", value);
    free(text);
}

/* ---------------------------------------------------------------- threads */

#define THREADS 8

typedef struct thread_work {
    int index;
    int wrong; /* elements off the reference */
} thread_work;

static pthread_barrier_t start_line;

/* C = A B with A, B of small integers: exact in float, so a plain comparison. */
static void *thread_main(void *arg)
{
    thread_work *w = (thread_work *)arg;
    enum { M = 19, N = 23, K = 31 };
    float a[M * K], b[K * N], c[M * N];
    for (int i = 0; i < M * K; i++)
        a[i] = (float)((i * 7 + w->index) % 11 - 5);
    for (int i = 0; i < K * N; i++)
        b[i] = (float)((i * 5 + 3 * w->index) % 13 - 6);
    pthread_barrier_wait(&start_line);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < M * N; i++)
            c[i] = NAN_FILL;
        if (w->index % 2)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f,
                        c, N);
        else {
            const int m = N, n = M, k = K, lda = N, ldb = K, ldc = N;
            const float one = 1.0f, zero = 0.0f;
            /* the same product, column-major: C^T = B^T A^T */
            sgemm_("N", "N", &m, &n, &k, &one, b, &lda, a, &ldb, &zero, c, &ldc, 1, 1);
        }
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                float ref = 0.0f;
                for (int p = 0; p < K; p++)
                    ref += a[i * K + p] * b[p * N + j];
                w->wrong += c[i * N + j] != ref;
            }
    }
    return NULL;
}

static void check_threads(void)
{
    pthread_t threads[THREADS];
    thread_work work[THREADS];
    pthread_barrier_init(&start_line, NULL, THREADS);
    capture_begin();
    for (int t = 0; t < THREADS; t++) {
        work[t].index = t;
        work[t].wrong = 0;
        if (pthread_create(&threads[t], NULL, thread_main, &work[t]) != 0) {
            capture_end();
            fprintf(stderr, "test_blas_defaults: pthread_create failed\n");
            exit(1);
        }
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    char *text = capture_end();
    pthread_barrier_destroy(&start_line);
    for (int t = 0; t < THREADS; t++)
        CHECK(work[t].wrong == 0, "thread %d: %d wrong elements", t, work[t].wrong);
    CHECK(text[0] == '\0', "stderr is not empty: %s", text);
    free(text);
}

/* ---------------------------------------------------------------- out of memory */

static int check_oom(void)
{
#if defined(__SANITIZE_ADDRESS__)
    printf("SKIP test_blas_defaults oom: AddressSanitizer reserves more address space than "
           "RLIMIT_AS can leave\n");
    return TEST_SKIP;
#else
    /* One thread (no thread stacks to map later); a first call creates the context and a
     * small workspace before the cap. */
    setenv("USINE_NUM_THREADS", "1", 1);
    enum { M = 96, N = 1500, K = 600 }; /* packing needs > 2 MiB: A 96 x 512, B 512 x 1500 */
    test_buffer a = test_buffer_alloc(M * K * sizeof(double));
    test_buffer b = test_buffer_alloc(K * N * sizeof(double));
    test_buffer c = test_buffer_alloc(M * N * sizeof(double));
    test_buffer c0 = test_buffer_alloc(M * N * sizeof(double));
    test_fill_matrix(USINE_F64, USINE_COL_MAJOR, M, K, a.data, M, 0.0);
    test_fill_matrix(USINE_F64, USINE_COL_MAJOR, K, N, b.data, K, 0.0);
    test_fill_matrix(USINE_F64, USINE_COL_MAJOR, M, N, c.data, M, 0.0);
    memcpy(c0.data, c.data, c.bytes);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1.0, (const double *)a.data, M,
                (const double *)b.data, K, 0.0, (double *)c.data, M);
    memcpy(c.data, c0.data, c.bytes);

    /* The address space in use now, plus 1 MiB: no room for a larger workspace. */
    long pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (!statm || fscanf(statm, "%ld", &pages) != 1) {
        printf("SKIP test_blas_defaults oom: /proc/self/statm is not readable\n");
        return TEST_SKIP;
    }
    fclose(statm);
    struct rlimit old, cap;
    getrlimit(RLIMIT_AS, &old);
    cap = old;
    cap.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)1 << 20);
    capture_begin();
    const int limited = setrlimit(RLIMIT_AS, &cap) == 0;
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0, (const double *)a.data, M,
                (const double *)b.data, K, 0.5, (double *)c.data, M);
    setrlimit(RLIMIT_AS, &old);
    char *text = capture_end();
    printf("captured stderr:\n%s", text);
    if (!limited) {
        printf("SKIP test_blas_defaults oom: setrlimit(RLIMIT_AS) failed\n");
        return TEST_SKIP;
    }
    CHECK(count_lines(text) == 1 && strncmp(text, "usine: cblas_dgemm: ", 20) == 0 &&
              strstr(text, "portable loop") != NULL,
          "expected one line 'usine: cblas_dgemm: ... portable loop'");
    CHECK(test_check_gemm(USINE_F64, USINE_COL_MAJOR, USINE_NO_TRANS, USINE_NO_TRANS, M, N, K, 1.0,
                          a.data, M, b.data, K, 0.5, c0.data, c.data, M, 0.0, "portable loop") == 0,
          "the portable loop computed a wrong C");
    CHECK(test_buffer_guards_ok(&c), "the portable loop wrote outside C");
    free(text);
    test_buffer_free(&a);
    test_buffer_free(&b);
    test_buffer_free(&c);
    test_buffer_free(&c0);
    return test_finish("test_blas_defaults");
#endif
}

/* The lowest ISA level this CPU lacks, or NULL. */
static const char *missing_isa(void)
{
    static const char *const levels[] = {"avx2", "avx512", "avx512vnni", "avx512bf16"};
    for (int i = 0; i < 4; i++) {
        setenv("USINE_CPU_ISA", levels[i], 1);
        usine_context *ctx = NULL;
        const usine_status st = usine_create(&ctx, NULL);
        usine_destroy(ctx);
        if (st == USINE_ERROR_NOT_SUPPORTED)
            return levels[i];
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    /* The tests set these themselves: values from the caller would change the outcome. */
    unsetenv("USINE_NUM_THREADS");
    unsetenv("USINE_CPU_ISA");
    unsetenv("USINE_KERNEL");
    unsetenv("USINE_GEMM_BLOCKING");
    if (strcmp(mode, "handlers") == 0)
        check_handlers();
    else if (strcmp(mode, "env-threads") == 0)
        check_env("USINE_NUM_THREADS", "abc");
    else if (strcmp(mode, "env-isa") == 0)
        check_env("USINE_CPU_ISA", "bogus");
    else if (strcmp(mode, "oom") == 0)
        return check_oom();
    else if (strcmp(mode, "threads") == 0)
        check_threads();
    else if (strcmp(mode, "env-isa-missing") == 0) {
        const char *isa = missing_isa();
        unsetenv("USINE_CPU_ISA");
        if (!isa) {
            printf("SKIP test_blas_defaults env-isa-missing: this CPU has every ISA level "
                   "usine knows (avx2, avx512, avx512vnni, avx512bf16)\n");
            return TEST_SKIP;
        }
        check_env("USINE_CPU_ISA", isa);
    } else {
        fprintf(stderr, "usage: %s handlers|env-threads|env-isa|env-isa-missing|oom|threads\n",
                argv[0]);
        return 2;
    }
    return test_finish("test_blas_defaults");
}
