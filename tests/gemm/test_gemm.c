/*
 * usine_gemm, usine_gemm_strided_batched and usine_gemm_batched against the long double
 * reference (tests/common), for f32 and f64, every layout and transpose combination, edge
 * and random shapes, leading dimensions above the minimum, and alpha/beta special values.
 * ctest runs it once per forced ISA (USINE_CPU_ISA) and thread count (USINE_NUM_THREADS).
 *
 * Usage: test_gemm [quick]   ("quick" runs a reduced set, for the sanitizer build)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

/* Value written into the padding of C (beyond m rows inside ldc): any write there shows. */
#define C_PAD -7777.0

static usine_context *ctx;
static const char *kernel_f32, *kernel_f64;

typedef struct gemm_case {
    usine_dtype dtype;
    usine_layout layout;
    usine_transpose ta, tb;
    int64_t m, n, k;
    int64_t pad_a, pad_b, pad_c; /* leading dimension minus its minimum */
    double alpha, beta;
    int nan_in_c; /* fill C with NaN (with beta == 0 it must not leak) */
} gemm_case;

static const char *tr(usine_transpose t)
{
    return t == USINE_TRANS ? "T" : "N";
}

static void describe(const gemm_case *g, char *out, size_t size)
{
    snprintf(out, size, "%s %s %s%s m=%lld n=%lld k=%lld pads=%lld,%lld,%lld alpha=%g beta=%g%s",
             g->dtype == USINE_F64 ? "f64" : "f32", g->layout == USINE_ROW_MAJOR ? "row" : "col",
             tr(g->ta), tr(g->tb), (long long)g->m, (long long)g->n, (long long)g->k,
             (long long)g->pad_a, (long long)g->pad_b, (long long)g->pad_c, g->alpha, g->beta,
             g->nan_in_c ? " NaN-in-C" : "");
}

/* Stored rows x cols of op(X)'s storage and the minimum leading dimension. */
static void storage(usine_layout layout, int transposed, int64_t r, int64_t c, int64_t *rows,
                    int64_t *cols, int64_t *min_ld)
{
    *rows = transposed ? c : r;
    *cols = transposed ? r : c;
    const int64_t inner = layout == USINE_COL_MAJOR ? *rows : *cols;
    *min_ld = inner > 1 ? inner : 1;
}

/* The matrices of one case, with guard zones around each. */
typedef struct operands {
    test_buffer a, b, c, c0;
    int64_t lda, ldb, ldc;
    int64_t ra, ca, rb, cb;
} operands;

static size_t bytes_for(const gemm_case *g, int64_t rows, int64_t cols, int64_t ld)
{
    int64_t e = test_matrix_elements(g->layout, rows, cols, ld);
    return (size_t)(e > 0 ? e : 1) * test_dtype_size(g->dtype);
}

static operands make_operands(const gemm_case *g)
{
    operands o;
    int64_t min_ld, rc, cc;
    storage(g->layout, g->ta == USINE_TRANS, g->m, g->k, &o.ra, &o.ca, &min_ld);
    o.lda = min_ld + g->pad_a;
    storage(g->layout, g->tb == USINE_TRANS, g->k, g->n, &o.rb, &o.cb, &min_ld);
    o.ldb = min_ld + g->pad_b;
    storage(g->layout, 0, g->m, g->n, &rc, &cc, &min_ld);
    o.ldc = min_ld + g->pad_c;
    o.a = test_buffer_alloc(bytes_for(g, o.ra, o.ca, o.lda));
    o.b = test_buffer_alloc(bytes_for(g, o.rb, o.cb, o.ldb));
    o.c = test_buffer_alloc(bytes_for(g, g->m, g->n, o.ldc));
    o.c0 = test_buffer_alloc(bytes_for(g, g->m, g->n, o.ldc));
    /* NaN in the padding of A and B: a kernel reading past a row or column produces NaN. */
    test_fill_matrix(g->dtype, g->layout, o.ra, o.ca, o.a.data, o.lda, NAN);
    test_fill_matrix(g->dtype, g->layout, o.rb, o.cb, o.b.data, o.ldb, NAN);
    test_fill_matrix(g->dtype, g->layout, g->m, g->n, o.c.data, o.ldc, C_PAD);
    if (g->nan_in_c) {
        const int64_t e = test_matrix_elements(g->layout, g->m, g->n, o.ldc);
        for (int64_t i = 0; i < g->m; i++)
            for (int64_t j = 0; j < g->n; j++) {
                const int64_t off = g->layout == USINE_COL_MAJOR ? i + j * o.ldc : i * o.ldc + j;
                if (off < e) {
                    if (g->dtype == USINE_F64)
                        ((double *)o.c.data)[off] = (j & 1) ? NAN : INFINITY;
                    else
                        ((float *)o.c.data)[off] = (j & 1) ? NAN : INFINITY;
                }
            }
    }
    memcpy(o.c0.data, o.c.data, o.c.bytes);
    return o;
}

static void free_operands(operands *o)
{
    test_buffer_free(&o->a);
    test_buffer_free(&o->b);
    test_buffer_free(&o->c);
    test_buffer_free(&o->c0);
}

static int64_t check_result(const gemm_case *g, const operands *o, const void *c, const char *what)
{
    return test_check_gemm(g->dtype, g->layout, g->ta, g->tb, g->m, g->n, g->k, g->alpha, o->a.data,
                           o->lda, o->b.data, o->ldb, g->beta, o->c0.data, c, o->ldc, C_PAD, what);
}

static void run_case(const gemm_case *g)
{
    char what[256];
    describe(g, what, sizeof what);
    operands o = make_operands(g);
    usine_status st = usine_gemm(ctx, g->dtype, g->layout, g->ta, g->tb, g->m, g->n, g->k, g->alpha,
                                 o.a.data, o.lda, o.b.data, o.ldb, g->beta, o.c.data, o.ldc);
    if (CHECK(st == USINE_SUCCESS, "%s: status %d: %s", what, st, usine_last_error())) {
        int64_t bad = check_result(g, &o, o.c.data, what);
        CHECK(bad == 0, "%s: %lld wrong elements", what, (long long)bad);
    }
    CHECK(test_buffer_guards_ok(&o.a) && test_buffer_guards_ok(&o.b) && test_buffer_guards_ok(&o.c),
          "%s: write outside a buffer", what);
    free_operands(&o);
}

/* ---------------------------------------------------------------- case lists */

static const usine_layout layouts[2] = {USINE_COL_MAJOR, USINE_ROW_MAJOR};
static const usine_transpose trans[2] = {USINE_NO_TRANS, USINE_TRANS};
static const usine_dtype dtypes[2] = {USINE_F32, USINE_F64};

/* Every layout and transpose combination on one shape. */
static void all_combinations(int64_t m, int64_t n, int64_t k, double alpha, double beta,
                             int with_pads)
{
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < 2; l++)
            for (int x = 0; x < 2; x++)
                for (int y = 0; y < 2; y++) {
                    gemm_case g = {dtypes[d], layouts[l], trans[x], trans[y], m,    n, k,
                                   0,         0,          0,        alpha,    beta, 0};
                    if (with_pads) {
                        g.pad_a = test_rand_int(0, 5);
                        g.pad_b = test_rand_int(0, 5);
                        g.pad_c = test_rand_int(1, 5);
                    }
                    run_case(&g);
                }
}

static void edge_shapes(void)
{
    /* Zero sizes, ones, and sizes around every tile width (MR/NR of each ISA: 4..32). */
    static const int64_t sizes[] = {0, 1, 2, 3, 5, 7, 8, 9, 12, 13, 16, 17, 31, 33};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j += 3) {
            const int64_t m = sizes[i], n = sizes[j], k = sizes[(i + j) % 14];
            all_combinations(m, n, k, 1.0, 0.0, (i + j) & 1);
        }
}

static void prime_shapes(int quick)
{
    /* Primes up to ~300: every tile edge at once, and more than one cache block of k. */
    static const int64_t primes[] = {37, 61, 97, 127, 151, 211, 257, 293};
    const int count = quick ? 3 : 8;
    for (int i = 0; i < count; i++) {
        const int64_t m = primes[i], n = primes[(i + 3) % 8], k = primes[(i + 5) % 8];
        all_combinations(m, n, k, test_rand_uniform(-2, 2), test_rand_uniform(-2, 2), 1);
    }
}

/* Random shapes, layouts, transposes, padding and scalars (the seed is printed). */
static void random_cases(int count)
{
    static const double scalars[] = {0.0, 1.0, -1.0, 0.5, 2.25};
    for (int i = 0; i < count; i++) {
        gemm_case g = {dtypes[test_rand_int(0, 1)],
                       layouts[test_rand_int(0, 1)],
                       trans[test_rand_int(0, 1)],
                       trans[test_rand_int(0, 1)],
                       test_rand_int(1, 300),
                       test_rand_int(1, 300),
                       test_rand_int(1, 300),
                       test_rand_int(0, 9),
                       test_rand_int(0, 9),
                       test_rand_int(0, 9),
                       scalars[test_rand_int(1, 4)],
                       scalars[test_rand_int(0, 4)],
                       0};
        g.nan_in_c = g.beta == 0.0 && test_rand_int(0, 1);
        run_case(&g);
    }
}

static void large_k(int quick)
{
    /* K >= 2000: several KC blocks, and the bound grows with K. */
    all_combinations(67, 45, 2011, 1.0, 1.0, 1);
    if (!quick)
        all_combinations(130, 29, 4099, 0.5, -1.0, 0);
}

static void blocked_shapes(int quick)
{
    /* Larger than MC (rows) and enough work that two threads split C. */
    gemm_case g = {USINE_F32,
                   USINE_COL_MAJOR,
                   USINE_NO_TRANS,
                   USINE_NO_TRANS,
                   1000,
                   301,
                   517,
                   3,
                   1,
                   2,
                   1.0,
                   0.5,
                   0};
    run_case(&g);
    g = (gemm_case){
        USINE_F64, USINE_ROW_MAJOR, USINE_TRANS, USINE_NO_TRANS, 523, 700, 300, 0, 5, 0, -1.0, 0.0,
        0};
    run_case(&g);
    if (quick)
        return;
    g = (gemm_case){
        USINE_F32, USINE_ROW_MAJOR, USINE_NO_TRANS, USINE_TRANS, 35, 4001, 700, 0, 0, 3, 1.0, 0.0,
        0};
    run_case(&g);
    g = (gemm_case){
        USINE_F64, USINE_COL_MAJOR, USINE_TRANS, USINE_TRANS, 2100, 40, 300, 1, 1, 1, 2.0, 1.0, 0};
    run_case(&g);
}

static void vector_shapes(void)
{
    /* n == 1 and m == 1 take the matrix-vector path. */
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < 2; l++)
            for (int x = 0; x < 2; x++)
                for (int y = 0; y < 2; y++) {
                    gemm_case g = {dtypes[d], layouts[l], trans[x], trans[y], 3001, 1, 257,
                                   2,         3,          4,        1.5,      0.0,  0};
                    run_case(&g);
                    g = (gemm_case){dtypes[d], layouts[l], trans[x], trans[y], 1,   1999, 129,
                                    0,         1,          2,        -1.0,     0.5, 0};
                    run_case(&g);
                    g = (gemm_case){dtypes[d], layouts[l], trans[x], trans[y], 1,   1, 77,
                                    0,         0,          0,        1.0,      1.0, 0};
                    run_case(&g);
                }
}

static void scalar_values(void)
{
    /* beta == 0 with NaN/Inf in C; alpha == 0 (A, B unread; C scaled); k == 0. */
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < 2; l++) {
            gemm_case g = {
                dtypes[d], layouts[l], USINE_NO_TRANS, USINE_TRANS, 45, 38, 50, 1, 0, 2, 1.0,
                0.0,       1};
            run_case(&g);
            g.alpha = 0.0;
            g.beta = 2.5;
            g.nan_in_c = 0;
            run_case(&g);
            g.beta = 0.0;
            g.nan_in_c = 1;
            run_case(&g);
            g.alpha = 1.0;
            g.beta = -0.5;
            g.k = 0;
            g.nan_in_c = 0;
            run_case(&g);
            g.k = 3000;
            g.n = 1;
            g.beta = 0.0;
            g.nan_in_c = 1;
            run_case(&g);
        }
}

/* alpha == 0: A and B must not be read, so NaN there must not reach C. */
static void alpha_zero_ignores_ab(void)
{
    float a[6] = {NAN, NAN, NAN, NAN, NAN, NAN}, b[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
    float c[4] = {1, 2, 3, 4};
    usine_status st = usine_gemm(ctx, USINE_F32, USINE_COL_MAJOR, USINE_NO_TRANS, USINE_NO_TRANS, 2,
                                 2, 3, 0.0, a, 2, b, 3, 2.0, c, 2);
    CHECK(st == USINE_SUCCESS && c[0] == 2 && c[1] == 4 && c[2] == 6 && c[3] == 8,
          "alpha == 0 must give C = beta * C without reading A and B");
    st = usine_gemm(ctx, USINE_F32, USINE_COL_MAJOR, USINE_NO_TRANS, USINE_NO_TRANS, 2, 2, 3, 0.0,
                    NULL, 2, NULL, 3, 1.0, c, 2);
    CHECK(st == USINE_SUCCESS && c[3] == 8, "alpha == 0 accepts NULL A and B");
}

/* The checker itself must catch a wrong element: corrupt one and expect a failure. */
static void checker_detects_errors(void)
{
    gemm_case g = {
        USINE_F32, USINE_COL_MAJOR, USINE_NO_TRANS, USINE_NO_TRANS, 20, 20, 300, 0, 0, 0, 1.0, 0.0,
        0};
    operands o = make_operands(&g);
    usine_gemm(ctx, g.dtype, g.layout, g.ta, g.tb, g.m, g.n, g.k, g.alpha, o.a.data, o.lda,
               o.b.data, o.ldb, g.beta, o.c.data, o.ldc);
    float *c = (float *)o.c.data;
    /* The bound is (k + 3) u sum|a b| ~ 303 * 6e-8 * 75 ~ 1.4e-3 here: 0.05 is far above. */
    c[7] += 0.05f;
    fprintf(stderr, "  (the next reported error is expected)\n");
    CHECK(check_result(&g, &o, o.c.data, "deliberately corrupted C") == 1,
          "the reference check missed a corrupted element");
    free_operands(&o);
}

/* ---------------------------------------------------------------- batched */

static void strided_batched(usine_dtype dtype, usine_layout layout, int shared_a)
{
    const int64_t m = 37, n = 29, k = 41, batch = 5;
    const int64_t lda = layout == USINE_COL_MAJOR ? m + 1 : k + 2,
                  ldb = layout == USINE_COL_MAJOR ? k : n + 1;
    const int64_t ldc = layout == USINE_COL_MAJOR ? m + 3 : n;
    const int64_t sa = shared_a ? 0 : test_matrix_elements(layout, m, k, lda) + 7;
    const int64_t sb = test_matrix_elements(layout, k, n, ldb) + 1;
    const int64_t sc = test_matrix_elements(layout, m, n, ldc) + 5;
    const size_t es = test_dtype_size(dtype);
    test_buffer a = test_buffer_alloc(
        (size_t)(sa * (batch - 1) + test_matrix_elements(layout, m, k, lda)) * es);
    test_buffer b = test_buffer_alloc((size_t)(sb * batch) * es);
    test_buffer c = test_buffer_alloc((size_t)(sc * batch) * es);
    test_buffer c0 = test_buffer_alloc(c.bytes);
    for (int64_t i = 0; i < batch; i++) {
        if (!shared_a || i == 0)
            test_fill_matrix(dtype, layout, m, k, (char *)a.data + (size_t)(i * sa) * es, lda, NAN);
        test_fill_matrix(dtype, layout, k, n, (char *)b.data + (size_t)(i * sb) * es, ldb, NAN);
        test_fill_matrix(dtype, layout, m, n, (char *)c.data + (size_t)(i * sc) * es, ldc, C_PAD);
    }
    memcpy(c0.data, c.data, c.bytes);
    usine_status st = usine_gemm_strided_batched(ctx, dtype, layout, USINE_NO_TRANS, USINE_NO_TRANS,
                                                 m, n, k, 0.75, a.data, lda, sa, b.data, ldb, sb,
                                                 0.25, c.data, ldc, sc, batch);
    CHECK(st == USINE_SUCCESS, "strided batched: %s", usine_last_error());
    for (int64_t i = 0; i < batch; i++) {
        const size_t off_a = (size_t)(i * sa) * es, off_b = (size_t)(i * sb) * es,
                     off_c = (size_t)(i * sc) * es;
        int64_t bad = test_check_gemm(dtype, layout, USINE_NO_TRANS, USINE_NO_TRANS, m, n, k, 0.75,
                                      (char *)a.data + off_a, lda, (char *)b.data + off_b, ldb,
                                      0.25, (char *)c0.data + off_c, (char *)c.data + off_c, ldc,
                                      C_PAD, "strided batched");
        CHECK(bad == 0, "strided batched item %lld (%s, shared A %d): %lld wrong", (long long)i,
              dtype == USINE_F64 ? "f64" : "f32", shared_a, (long long)bad);
    }
    CHECK(test_buffer_guards_ok(&c), "strided batched wrote outside C");
    test_buffer_free(&a);
    test_buffer_free(&b);
    test_buffer_free(&c);
    test_buffer_free(&c0);
}

static void pointer_batched(usine_dtype dtype, int64_t batch, int64_t m, int64_t n, int64_t k)
{
    gemm_case g = {dtype, USINE_ROW_MAJOR, USINE_TRANS, USINE_NO_TRANS, m, n, k, 1, 2, 3, 1.25, 0.0,
                   1};
    operands *o = (operands *)calloc((size_t)batch, sizeof *o);
    const void **a = (const void **)calloc((size_t)batch, sizeof *a);
    const void **b = (const void **)calloc((size_t)batch, sizeof *b);
    void **c = (void **)calloc((size_t)batch, sizeof *c);
    for (int64_t i = 0; i < batch; i++) {
        o[i] = make_operands(&g);
        a[i] = o[i].a.data;
        b[i] = o[i].b.data;
        c[i] = o[i].c.data;
    }
    usine_status st = usine_gemm_batched(ctx, dtype, g.layout, g.ta, g.tb, m, n, k, g.alpha, a,
                                         o[0].lda, b, o[0].ldb, g.beta, c, o[0].ldc, batch);
    CHECK(st == USINE_SUCCESS, "pointer batched: %s", usine_last_error());
    for (int64_t i = 0; i < batch; i++) {
        int64_t bad = check_result(&g, &o[i], o[i].c.data, "pointer batched");
        CHECK(bad == 0 && test_buffer_guards_ok(&o[i].c), "pointer batched item %lld: %lld wrong",
              (long long)i, (long long)bad);
        free_operands(&o[i]);
    }
    free(o);
    free(a);
    free(b);
    free(c);
}

static void batched(void)
{
    for (int d = 0; d < 2; d++)
        for (int l = 0; l < 2; l++) {
            strided_batched(dtypes[d], layouts[l], 0);
            strided_batched(dtypes[d], layouts[l], 1);
        }
    pointer_batched(USINE_F32, 3, 64, 70, 90);   /* fewer items than 4 x threads */
    pointer_batched(USINE_F64, 8, 100, 90, 120); /* whole items per thread */
    pointer_batched(USINE_F32, 1, 300, 200, 100);
}

/* Bitwise equal C on 1 and 2 threads: threads split C, never k, and a row of C is summed the
 * same way whichever tile computes it, including the last rows of C (m % 8 = 1 or 2), which
 * always go to a single-row kernel that sums in another order, whichever thread holds them
 * and whether B is read by rows or by columns. */
static void thread_independence(void)
{
    static const int64_t shapes[][3] = {{49, 512, 300},  {50, 96, 1000},  {97, 40, 33},
                                        {1001, 200, 64}, {1537, 72, 129}, {2, 300, 77}};
    int threads0;
    usine_get_num_threads(ctx, &threads0);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int d = 0; d < 2; d++)
            for (int t = 0; t < 4; t++) {
                const gemm_case g = {dtypes[d],
                                     layouts[i & 1],
                                     trans[t & 1],
                                     trans[t >> 1],
                                     shapes[i][0],
                                     shapes[i][1],
                                     shapes[i][2],
                                     0,
                                     0,
                                     0,
                                     1.0,
                                     0.5,
                                     0};
                char what[256];
                describe(&g, what, sizeof what);
                operands o = make_operands(&g);
                void *first = malloc(o.c.bytes);
                usine_status st = USINE_SUCCESS;
                for (int run = 0; run < 2 && st == USINE_SUCCESS; run++) {
                    memcpy(o.c.data, o.c0.data, o.c.bytes);
                    usine_set_num_threads(ctx, run + 1);
                    st = usine_gemm(ctx, g.dtype, g.layout, g.ta, g.tb, g.m, g.n, g.k, g.alpha,
                                    o.a.data, o.lda, o.b.data, o.ldb, g.beta, o.c.data, o.ldc);
                    if (run == 0)
                        memcpy(first, o.c.data, o.c.bytes);
                }
                if (CHECK(st == USINE_SUCCESS, "%s: %s", what, usine_last_error())) {
                    CHECK(check_result(&g, &o, first, what) == 0, "%s: 1 thread: wrong", what);
                    CHECK(memcmp(first, o.c.data, o.c.bytes) == 0,
                          "%s: 1 and 2 threads differ bitwise", what);
                }
                free(first);
                free_operands(&o);
            }
    usine_set_num_threads(ctx, threads0);
}

int main(int argc, char **argv)
{
    const int quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    ctx = test_context_or_skip("test_gemm");
    usine_gemm_kernel_name(ctx, USINE_F32, 100, 100, 100, &kernel_f32);
    usine_gemm_kernel_name(ctx, USINE_F64, 100, 100, 100, &kernel_f64);
    int threads = 0;
    usine_get_num_threads(ctx, &threads);
    printf("test_gemm: kernels %s, %s; %d thread(s); seed %llu\n", kernel_f32, kernel_f64, threads,
           (unsigned long long)test_seed());
    /* A forced ISA must really select that ISA's kernels, or the matrix tests nothing new. */
    const char *isa = getenv("USINE_CPU_ISA");
    if (isa && *isa) {
        char tag[32];
        snprintf(tag, sizeof tag, "_cpu_%s_", isa);
        CHECK(strstr(kernel_f32, tag) && strstr(kernel_f64, tag),
              "USINE_CPU_ISA=%s but the kernels are %s and %s", isa, kernel_f32, kernel_f64);
    }
    const char *forced = getenv("USINE_KERNEL");
    if (forced && *forced)
        CHECK(strcmp(kernel_f32, forced) == 0 || strcmp(kernel_f64, forced) == 0,
              "USINE_KERNEL=%s but the kernels are %s and %s", forced, kernel_f32, kernel_f64);
    checker_detects_errors();
    alpha_zero_ignores_ab();
    scalar_values();
    edge_shapes();
    vector_shapes();
    prime_shapes(quick);
    random_cases(quick ? 10 : 60);
    large_k(quick);
    blocked_shapes(quick);
    batched();
    thread_independence();
    usine_destroy(ctx);
    return test_finish("test_gemm");
}
