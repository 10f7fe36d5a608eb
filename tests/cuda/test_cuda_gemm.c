/*
 * usine_gemm_ex on a CUDA context against a long double CPU reference: bf16 and f16 inputs,
 * f32 and same-type outputs, every layout and transpose, edge sizes (1, primes, k not a
 * multiple of 8 or of the tile), padded and odd leading dimensions (the element-load path),
 * alpha, beta (C poisoned with NaN when beta is 0), bias, activations, strided batches; then
 * every kernel forced with USINE_CUDA_KERNEL. Elements of the C buffers outside the matrices
 * must keep their value.
 *
 * Without a CUDA device (or driver) it prints "SKIPPED: no CUDA device (<reason>)" and exits
 * 77, which ctest reports as skipped, never as passed.
 *
 * Tolerance per element (f32 sums of exact products, any order):
 *   |c - ref| <= (k + 4) 2^-24 (|alpha| sum_p |a b| + |beta c0| + |bias|) * 1.25 (activation
 *   slope) + 2^-20 (|ref| + 2^-20) (activation evaluation) + the output's rounding, its
 *   unit roundoff times |ref| (2^-8 |ref| for bf16, 2^-11 |ref| + 2^-25 for f16).
 */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda_test_util.h"
#include "test_util.h"

/* 1 when a CUDA call failed (the failure recorded and printed), 0 when it succeeded. */
static int gpu_fail(cudaError_t e, const char *what)
{
    return !CHECK(e == cudaSuccess, "%s: %s", what, cudaGetErrorString(e));
}

typedef struct gemm_case {
    usine_dtype in, out;
    usine_layout layout;
    usine_transpose ta, tb;
    int64_t m, n, k, lda, ldb, ldc, batch;
    double alpha, beta;
    int bias;
    usine_activation act;
} gemm_case;

static int64_t stored_rows(usine_transpose t, int64_t r, int64_t c)
{
    return t == USINE_TRANS ? c : r;
}

/* Runs one case on ctx; returns the status of usine_gemm_ex (checks the result on
 * success). */
static usine_status run_case(usine_context *ctx, const gemm_case *t, const char *label)
{
    const int64_t ar = stored_rows(t->ta, t->m, t->k), ac = stored_rows(t->ta, t->k, t->m);
    const int64_t br = stored_rows(t->tb, t->k, t->n), bc = stored_rows(t->tb, t->n, t->k);
    const int64_t ea = test_matrix_elements(t->layout, ar, ac, t->lda);
    const int64_t eb = test_matrix_elements(t->layout, br, bc, t->ldb);
    const int64_t ec = test_matrix_elements(t->layout, t->m, t->n, t->ldc);
    /* Batch strides: one matrix rounded up to 8 elements, plus 8 (16-byte aligned items). */
    const int64_t sa = (ea + 7) / 8 * 8 + 8, sb = (eb + 7) / 8 * 8 + 8, sc = (ec + 7) / 8 * 8 + 8;
    const int64_t na = sa * t->batch, nb = sb * t->batch, nc = sc * t->batch;
    const size_t es = 2, cs = test_dtype_size(t->out);
    unsigned char *a = malloc((size_t)na * es), *b = malloc((size_t)nb * es);
    unsigned char *c0 = malloc((size_t)nc * cs), *c = malloc((size_t)nc * cs);
    float *bias = malloc((size_t)t->n * sizeof(float));
    /* Whole buffers first (gaps between items included), then each item's matrices. */
    test_fill_matrix(t->in, USINE_COL_MAJOR, na, 1, a, na, 0);
    test_fill_matrix(t->in, USINE_COL_MAJOR, nb, 1, b, nb, 0);
    test_fill_matrix(t->out, USINE_COL_MAJOR, nc, 1, c0, nc, 0);
    for (int64_t j = 0; j < t->n; j++)
        bias[j] = (float)test_rand_uniform(-1, 1);
    if (t->beta == 0.0) /* must not be read: NaN would leak */
        for (int64_t z = 0; z < t->batch; z++)
            test_fill_matrix(t->out, t->layout, t->m, t->n, c0 + (size_t)(z * sc) * cs, t->ldc,
                             NAN);
    void *da = NULL, *db = NULL, *dc = NULL, *dbias = NULL;
    int ok =
        !gpu_fail(cudaMalloc(&da, (size_t)na * es), "cudaMalloc a") &&
        !gpu_fail(cudaMalloc(&db, (size_t)nb * es), "cudaMalloc b") &&
        !gpu_fail(cudaMalloc(&dc, (size_t)nc * cs), "cudaMalloc c") &&
        !gpu_fail(cudaMalloc(&dbias, (size_t)t->n * 4), "cudaMalloc bias") &&
        !gpu_fail(cudaMemcpy(da, a, (size_t)na * es, cudaMemcpyHostToDevice), "copy a") &&
        !gpu_fail(cudaMemcpy(db, b, (size_t)nb * es, cudaMemcpyHostToDevice), "copy b") &&
        !gpu_fail(cudaMemcpy(dc, c0, (size_t)nc * cs, cudaMemcpyHostToDevice), "copy c") &&
        !gpu_fail(cudaMemcpy(dbias, bias, (size_t)t->n * 4, cudaMemcpyHostToDevice), "copy bias");
    usine_status st = USINE_ERROR_INTERNAL;
    if (ok) {
        usine_gemm_desc d;
        usine_gemm_desc_init(&d);
        d.layout = t->layout;
        d.trans_a = t->ta;
        d.trans_b = t->tb;
        d.m = t->m;
        d.n = t->n;
        d.k = t->k;
        d.lda = t->lda;
        d.ldb = t->ldb;
        d.ldc = t->ldc;
        d.a_type = d.b_type = t->in;
        d.c_type = t->out;
        d.alpha = t->alpha;
        d.beta = t->beta;
        d.bias = t->bias ? dbias : NULL;
        d.activation = t->act;
        d.batch_count = t->batch;
        d.stride_a = sa;
        d.stride_b = sb;
        d.stride_c = sc;
        st = usine_gemm_ex(ctx, &d, da, db, dc);
        if (st == USINE_SUCCESS) {
            ok = !gpu_fail(cudaDeviceSynchronize(), label) &&
                 !gpu_fail(cudaMemcpy(c, dc, (size_t)nc * cs, cudaMemcpyDeviceToHost), "copy c");
        }
    }
    int64_t bad = 0;
    if (ok && st == USINE_SUCCESS) {
        /* Every element of the C buffer outside the matrices is untouched. */
        unsigned char *inside = calloc((size_t)nc, 1);
        for (int64_t z = 0; z < t->batch; z++)
            for (int64_t i = 0; i < t->m; i++)
                for (int64_t j = 0; j < t->n; j++)
                    inside[z * sc +
                           (t->layout == USINE_COL_MAJOR ? i + j * t->ldc : i * t->ldc + j)] = 1;
        for (int64_t e = 0; e < nc; e++)
            if (!inside[e] && memcmp(c + e * (int64_t)cs, c0 + e * (int64_t)cs, cs) != 0 &&
                bad++ < 3)
                CHECK(0, "%s: element %lld outside the matrices was written", label, (long long)e);
        free(inside);
        const long double u = 1.0L / (1 << 24);
        /* The output's rounding: at most its unit roundoff times |ref| (2^-8 for bf16,
         * 2^-11 for f16: half an ulp is up to that near the bottom of a binade). */
        const long double out_ulp = t->out == USINE_BF16  ? 1.0L / 256
                                    : t->out == USINE_F16 ? 1.0L / 2048
                                                          : 0.0L;
        for (int64_t z = 0; z < t->batch; z++) {
            const unsigned char *az = a + (size_t)(z * sa) * es, *bz = b + (size_t)(z * sb) * es;
            const unsigned char *c0z = c0 + (size_t)(z * sc) * cs, *cz = c + (size_t)(z * sc) * cs;
            for (int64_t i = 0; i < t->m; i++)
                for (int64_t j = 0; j < t->n; j++) {
                    long double s = 0, mag = 0;
                    for (int64_t p = 0; p < t->k; p++) {
                        const long double x = t->ta == USINE_TRANS
                                                  ? test_get(t->in, t->layout, az, t->lda, p, i)
                                                  : test_get(t->in, t->layout, az, t->lda, i, p);
                        const long double y = t->tb == USINE_TRANS
                                                  ? test_get(t->in, t->layout, bz, t->ldb, j, p)
                                                  : test_get(t->in, t->layout, bz, t->ldb, p, j);
                        s += x * y;
                        mag += fabsl(x * y);
                    }
                    long double v = t->alpha * s;
                    mag *= fabsl((long double)t->alpha);
                    if (t->beta != 0.0) {
                        const long double cv = test_get(t->out, t->layout, c0z, t->ldc, i, j);
                        v += t->beta * cv;
                        mag += fabsl(t->beta * cv);
                    }
                    if (t->bias) {
                        v += bias[j];
                        mag += fabsl((long double)bias[j]);
                    }
                    const long double ref = test_activation(v, t->act);
                    const long double got = test_get(t->out, t->layout, cz, t->ldc, i, j);
                    const long double tol =
                        (t->k + 4) * u * mag * 1.25L + (fabsl(ref) + 1e-6L) * (1.0L / (1 << 20)) +
                        out_ulp * fabsl(ref) + (t->out == USINE_F16 ? 1.0L / (1 << 25) : 0.0L);
                    if (!(fabsl(got - ref) <= tol) && bad++ < 5)
                        CHECK(0, "%s: item %lld C(%lld,%lld) = %.9Lg, expected %.9Lg (tol %.3Lg)",
                              label, (long long)z, (long long)i, (long long)j, got, ref, tol);
                }
        }
        CHECK(bad == 0, "%s: %lld bad elements", label, (long long)bad);
    }
    cudaFree(da);
    cudaFree(db);
    cudaFree(dc);
    cudaFree(dbias);
    free(a);
    free(b);
    free(c0);
    free(c);
    free(bias);
    return st;
}

static void describe(const gemm_case *t, char *buf, size_t size)
{
    static const char *types[] = {"f32", "f64", "bf16", "f16"};
    snprintf(buf, size,
             "%s->%s %s %c%c m=%lld n=%lld k=%lld lda=%lld ldb=%lld ldc=%lld batch=%lld "
             "alpha=%g beta=%g bias=%d act=%d",
             types[t->in], types[t->out], t->layout == USINE_ROW_MAJOR ? "row" : "col",
             t->ta == USINE_TRANS ? 'T' : 'N', t->tb == USINE_TRANS ? 'T' : 'N', (long long)t->m,
             (long long)t->n, (long long)t->k, (long long)t->lda, (long long)t->ldb,
             (long long)t->ldc, (long long)t->batch, t->alpha, t->beta, t->bias, (int)t->act);
}

/* Leading dimensions: minimal rounded up to 8 (fast path) or minimal + pad. */
static void set_lds(gemm_case *t, int64_t pad, int round8)
{
    const int row = t->layout == USINE_ROW_MAJOR;
    int64_t la = row ? stored_rows(t->ta, t->k, t->m) : stored_rows(t->ta, t->m, t->k);
    int64_t lb = row ? stored_rows(t->tb, t->n, t->k) : stored_rows(t->tb, t->k, t->n);
    int64_t lc = row ? t->n : t->m;
    la = la + pad;
    lb = lb + pad;
    lc = lc + pad;
    if (round8) {
        la = (la + 7) / 8 * 8;
        lb = (lb + 7) / 8 * 8;
        lc = (lc + 7) / 8 * 8;
    }
    t->lda = la > 0 ? la : 1;
    t->ldb = lb > 0 ? lb : 1;
    t->ldc = lc > 0 ? lc : 1;
}

/*
 * Runs case t with each of the four operand-arrangement kernels of one tile forced
 * (usine_gemm_cuda_<arch>_<type>_<tile>_<ak|am>_<bk|bn>) on each of the four transpose
 * pairs; returns how many of these runs the library accepted (a kernel that cannot read the
 * arrangement must refuse with USINE_ERROR_NOT_SUPPORTED). *cases counts the runs.
 */
static int run_arrangements(gemm_case *t, const char *arch, const char *type, const char *tile,
                            int *cases)
{
    static const char *arr[] = {"ak_bk", "ak_bn", "am_bk", "am_bn"};
    char why[512], label[512];
    int accepted = 0;
    for (int ar = 0; ar < 4; ar++) {
        char name[96];
        snprintf(name, sizeof name, "usine_gemm_cuda_%s_%s_%s_%s", arch, type, tile, arr[ar]);
        setenv("USINE_CUDA_KERNEL", name, 1);
        usine_context *fc = cuda_context(why, sizeof why);
        CHECK(fc != NULL, "USINE_CUDA_KERNEL=%s: %s", name, why);
        if (!fc)
            continue;
        for (int tr = 0; tr < 4; tr++) {
            t->ta = tr & 1 ? USINE_TRANS : USINE_NO_TRANS;
            t->tb = tr & 2 ? USINE_TRANS : USINE_NO_TRANS;
            set_lds(t, 8, 1);
            describe(t, label, sizeof label);
            char full[700];
            snprintf(full, sizeof full, "%s [%s]", label, name);
            const usine_status st = run_case(fc, t, full);
            CHECK(st == USINE_SUCCESS || st == USINE_ERROR_NOT_SUPPORTED, "%s: %s", full,
                  usine_last_error());
            accepted += st == USINE_SUCCESS;
            (*cases)++;
        }
        usine_destroy(fc);
    }
    return accepted;
}

/* The sm_90a tiles as their registry names spell them: alone, then in clusters of two. */
#define SM90_TILES 6
static const char *const sm90_tiles[SM90_TILES] = {"128x256x64_s4",    "128x128x64_s6",
                                                   "64x256x64_s5",     "128x256x64_s4_c2",
                                                   "128x128x64_s6_c2", "64x256x64_s5_c2"};

/* A product of the sm_90a cases (operands untransposed until run_arrangements sets them). */
typedef struct sm90_shape {
    int64_t m, n, k, batch;
    double alpha, beta;
    int same_type_out, col_major, bias;
    usine_activation act;
} sm90_shape;

static gemm_case sm90_case(const sm90_shape *s, usine_dtype in)
{
    gemm_case t = {.in = in, .out = s->same_type_out ? in : USINE_F32};
    t.layout = s->col_major ? USINE_COL_MAJOR : USINE_ROW_MAJOR;
    t.ta = t.tb = USINE_NO_TRANS;
    t.m = s->m;
    t.n = s->n;
    t.k = s->k;
    t.batch = s->batch;
    t.alpha = s->alpha;
    t.beta = s->beta;
    t.bias = s->bias;
    t.act = s->act;
    return t;
}

/*
 * The sm_90a kernels forced, each tile and type, alone and in clusters of two (_c2), every
 * transpose pair and both layouts. On a cc 9.0 GPU exactly one arrangement takes each pair;
 * elsewhere every call must be refused with USINE_ERROR_NOT_SUPPORTED (sm_90a code runs
 * nowhere else). Shapes:
 *   0: a batch of small products (136 to 184 blocks' worth, more than an H100's 132 SMs:
 *      blocks take several tiles and the shared-memory ring runs on across them; k = 72
 *      leaves a k tail),
 *      beta with C, bias, ReLU, f32 output;
 *   1: k = 520 (9 k tiles: the ring wraps within a tile), three row tiles (a cluster's
 *      second block gets a row tile wholly below D), beta == 0 over NaN-poisoned C, GELU,
 *      same-type output;
 *   2, 3: alpha only, no beta, bias or activation, so that whole 64-row x 32-column chunks
 *      take the vector stores (f32 16-byte, bf16/f16 8-byte) and the edge chunks the element
 *      path; same-type and f32 output.
 * Shape 1 gives the 64-row tile five row tiles (an odd count in clusters too).
 * `types`: the first 1 or 2 of ins; `first_tile`: 0, or SM90_TILES / 2 for the cluster
 * entries alone.
 */
static int sm90_cases(const usine_dtype ins[2], const char *const tn[2], int types, int first_tile)
{
    static const sm90_shape shapes[] = {
        {129, 257, 72, 1, 0.75, 0.5, 0, 0, 1, USINE_ACT_RELU},
        {260, 136, 520, 1, 1.0, 0.0, 1, 1, 0, USINE_ACT_GELU_ERF},
        {300, 552, 200, 1, 0.75, 0.0, 1, 0, 0, USINE_ACT_NONE},
        {300, 552, 200, 1, -1.5, 0.0, 0, 1, 0, USINE_ACT_NONE},
    };
    const char *const *tiles = sm90_tiles;
    const int on_sm90 = device_arch() == 90;
    int cases = 0;
    for (int ti = first_tile; ti < SM90_TILES; ti++)
        for (int ty = 0; ty < types; ty++)
            for (int sh = 0; sh < 4; sh++) {
                gemm_case t = sm90_case(&shapes[sh], ins[ty]);
                t.batch = sh > 0 ? 1 : strstr(tiles[ti], "128x256") ? 34 : 23;
                const int accepted = run_arrangements(&t, "sm90a", tn[ty], tiles[ti], &cases);
                printf("sm_90a %s %s shape %d: %d of 4 transpose pairs ran\n", tiles[ti], tn[ty],
                       sh, accepted);
                CHECK(accepted == (on_sm90 ? 4 : 0),
                      "sm_90a %s %s shape %d: %d of 4 transpose pairs ran (%s GPU)", tn[ty],
                      tiles[ti], sh, accepted, on_sm90 ? "a cc 9.0" : "not a cc 9.0");
            }
    return cases;
}

/*
 * Split k (USINE_CUDA_SPLIT_K) on the sm_90a kernels: each tile alone and in clusters, the
 * types in `ins`, every transpose pair, both layouts.
 *   0: m = 16 (a decode step), k = 1000 forced to 3 slices (384, 384, 232: a short last
 *      slice with a k tail), a batch of 2, beta with C, bias, GELU, same-type output;
 *   1: 200 x 136 (two row tiles: a cluster), k = 520 forced to 5 slices (k tiles 2, 2, 2, 2,
 *      1), alpha only, f32 output, column-major.
 */
/*
 * What split k refuses: USINE_CUDA_SPLIT_K that is not 0 to 256 (usine_create fails and names
 * it); on a cc 9.0 GPU, a forced split whose workspace would pass 1 GiB (8192 x 8192 in 8
 * slices: USINE_ERROR_NOT_SUPPORTED before any launch, C untouched).
 */
static int split_refusals(void)
{
    static const char *const bad[] = {"x", "-1", "257", "4x"};
    char why[512];
    for (int i = 0; i < 4; i++) {
        setenv("USINE_CUDA_SPLIT_K", bad[i], 1);
        usine_context *ctx = cuda_context(why, sizeof why);
        CHECK(!ctx && strstr(why, "USINE_CUDA_SPLIT_K"), "USINE_CUDA_SPLIT_K=%s: %s", bad[i],
              ctx ? "accepted" : why);
        usine_destroy(ctx);
    }
    if (device_arch() != 90)
        return 4;
    setenv("USINE_CUDA_SPLIT_K", "8", 1);
    usine_context *ctx = cuda_context(why, sizeof why);
    const int64_t n = 8192;
    void *a = NULL, *b = NULL, *c = NULL;
    const size_t bytes = (size_t)(n * n) * 2;
    const int ok = ctx && cudaMalloc(&a, bytes) == cudaSuccess &&
                   cudaMalloc(&b, bytes) == cudaSuccess && cudaMalloc(&c, bytes) == cudaSuccess &&
                   cudaMemset(c, 0x7f, bytes) == cudaSuccess;
    CHECK(ok, "8192^3 split-k refusal: context or device memory: %s", ctx ? "cudaMalloc" : why);
    if (ok) {
        usine_gemm_desc d;
        usine_gemm_desc_init(&d);
        d.layout = USINE_ROW_MAJOR;
        d.m = d.n = d.k = d.lda = d.ldb = d.ldc = n;
        d.a_type = d.b_type = d.c_type = USINE_BF16;
        const usine_status st = usine_gemm_ex(ctx, &d, a, b, c);
        CHECK(st == USINE_ERROR_NOT_SUPPORTED && strstr(usine_last_error(), "USINE_CUDA_SPLIT_K"),
              "8192^3 in 8 forced slices (2 GiB of workspace): status %d, %s", (int)st,
              usine_last_error());
        unsigned char corner[2] = {0, 0};
        CHECK(cudaMemcpy(corner, c, 2, cudaMemcpyDeviceToHost) == cudaSuccess &&
                  corner[0] == 0x7f && corner[1] == 0x7f,
              "8192^3 split-k refusal wrote C");
    }
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    usine_destroy(ctx);
    return 5;
}

static int split_cases(const usine_dtype ins[2], const char *const tn[2], int types)
{
    static const sm90_shape shapes[] = {
        {16, 300, 1000, 2, 0.75, 0.5, 1, 0, 1, USINE_ACT_GELU_TANH},
        {200, 136, 520, 1, -1.25, 0.0, 0, 1, 0, USINE_ACT_NONE},
    };
    static const char *const slices[] = {"3", "5"};
    const char *const *tiles = sm90_tiles;
    const int on_sm90 = device_arch() == 90;
    int cases = 0;
    for (int sh = 0; sh < 2; sh++) {
        setenv("USINE_CUDA_SPLIT_K", slices[sh], 1);
        for (int ti = 0; ti < SM90_TILES; ti++)
            for (int ty = 0; ty < types; ty++) {
                gemm_case t = sm90_case(&shapes[sh], ins[ty]);
                const int accepted = run_arrangements(&t, "sm90a", tn[ty], tiles[ti], &cases);
                printf("split k %s: sm_90a %s %s shape %d: %d of 4 transpose pairs ran\n",
                       slices[sh], tiles[ti], tn[ty], sh, accepted);
                CHECK(accepted == (on_sm90 ? 4 : 0),
                      "split k: sm_90a %s %s shape %d: %d of 4 transpose pairs ran", tn[ty],
                      tiles[ti], sh, accepted);
            }
    }
    unsetenv("USINE_CUDA_KERNEL");
    cases += split_refusals();
    unsetenv("USINE_CUDA_SPLIT_K");
    return cases;
}

/*
 * The library's own choice on a decode-step product (m = 16, n = 1024, k = 4096: 4 to 8
 * tiles) must split k on a cc 9.0 GPU: its USINE_VERBOSE line (stderr, caught in a file)
 * names the slices; and the result must hold.
 */
static int default_split_case(void)
{
    if (device_arch() != 90)
        return 0;
    char why[512], label[512];
    FILE *log = tmpfile();
    const int saved = dup(2);
    CHECK(log && saved >= 0, "tmpfile or dup failed");
    if (!log || saved < 0)
        return 0;
    fflush(stderr);
    dup2(fileno(log), 2);
    setenv("USINE_VERBOSE", "1", 1);
    usine_context *ctx = cuda_context(why, sizeof why);
    gemm_case t = {.in = USINE_BF16, .out = USINE_BF16, .layout = USINE_ROW_MAJOR};
    t.ta = t.tb = USINE_NO_TRANS;
    t.m = 16;
    t.n = 1024;
    t.k = 4096;
    t.batch = 1;
    t.alpha = 1.0;
    t.bias = 1;
    t.act = USINE_ACT_RELU;
    set_lds(&t, 0, 1);
    describe(&t, label, sizeof label);
    const usine_status st = ctx ? run_case(ctx, &t, label) : USINE_ERROR_DEVICE;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    unsetenv("USINE_VERBOSE");
    CHECK(st == USINE_SUCCESS, "%s: %s", label, ctx ? usine_last_error() : why);
    char line[1024];
    int split = 0;
    rewind(log);
    while (fgets(line, sizeof line, log)) {
        const char *at = strstr(line, "k_slices=");
        split |= at && atoi(at + 9) > 1;
    }
    fclose(log);
    CHECK(split, "%s: the default choice did not split k (USINE_VERBOSE shows k_slices=1)", label);
    printf("default choice on %s: k split: %s\n", label, split ? "yes" : "no");
    usine_destroy(ctx);
    return 1;
}

int main(void)
{
    char why[512], label[512];
    usine_context *ctx = cuda_context(why, sizeof why);
    if (!ctx) {
        printf("SKIPPED: no CUDA device (%s)\n", why);
        return TEST_SKIP;
    }
    printf("seed %llu\n", (unsigned long long)test_seed());
    /* USINE_TEST_CUDA_ONLY=sm90: the sm_90a cases alone, bf16 only; sm90_c2: those of the
     * cluster entries only; split: the split-k cases, bf16 (the compute-sanitizer runs on the
     * lent GPU, which have minutes). */
    const char *only = getenv("USINE_TEST_CUDA_ONLY");
    if (only && strcmp(only, "split") == 0) {
        static const usine_dtype bf16[2] = {USINE_BF16, USINE_BF16};
        static const char *const bf16_name[2] = {"bf16", "bf16"};
        usine_destroy(ctx);
        printf("USINE_TEST_CUDA_ONLY=split: the split-k cases only, bf16\n");
        printf("%d cases\n", split_cases(bf16, bf16_name, 1) + default_split_case());
        return test_finish("test_cuda_gemm");
    }
    if (only && (strcmp(only, "sm90") == 0 || strcmp(only, "sm90_c2") == 0)) {
        static const usine_dtype bf16[2] = {USINE_BF16, USINE_BF16};
        static const char *const bf16_name[2] = {"bf16", "bf16"};
        usine_destroy(ctx);
        printf("USINE_TEST_CUDA_ONLY=%s: those sm_90a bf16 cases only\n", only);
        printf("%d cases\n",
               sm90_cases(bf16, bf16_name, 1, strcmp(only, "sm90_c2") == 0 ? SM90_TILES / 2 : 0));
        unsetenv("USINE_CUDA_KERNEL");
        return test_finish("test_cuda_gemm");
    }
    static const int64_t sizes[] = {1, 7, 8, 16, 17, 31, 61, 64, 100, 129, 257};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]);
    const usine_dtype ins[2] = {USINE_BF16, USINE_F16};
    int cases = 0;
    /* Every layout, transpose pair and type combination, random edge sizes. */
    for (int it = 0; it < 2; it++)
        for (int ty = 0; ty < 2; ty++)
            for (int same = 0; same < 2; same++)
                for (int lay = 0; lay < 2; lay++)
                    for (int tr = 0; tr < 4; tr++) {
                        gemm_case t = {ins[ty],
                                       same ? ins[ty] : USINE_F32,
                                       lay ? USINE_ROW_MAJOR : USINE_COL_MAJOR,
                                       tr & 1 ? USINE_TRANS : USINE_NO_TRANS,
                                       tr & 2 ? USINE_TRANS : USINE_NO_TRANS,
                                       sizes[test_rand_int(0, ns - 1)],
                                       sizes[test_rand_int(0, ns - 1)],
                                       sizes[test_rand_int(0, ns - 1)],
                                       0,
                                       0,
                                       0,
                                       test_rand_int(1, 3),
                                       test_rand_uniform(0.5, 2),
                                       it ? test_rand_uniform(-1, 1) : 0.0,
                                       (int)test_rand_int(0, 1),
                                       (usine_activation)test_rand_int(0, 3)};
                        /* it 0: aligned (fast path), it 1: odd padding (element path). */
                        set_lds(&t, it ? 1 : 0, it == 0);
                        describe(&t, label, sizeof label);
                        const usine_status st = run_case(ctx, &t, label);
                        CHECK(st == USINE_SUCCESS, "%s: %s", label, usine_last_error());
                        cases++;
                    }
    /* A product large enough for several 128 x 128 tiles, alpha 0 (A, B not read). */
    {
        gemm_case t = {USINE_BF16,
                       USINE_F32,
                       USINE_ROW_MAJOR,
                       USINE_NO_TRANS,
                       USINE_TRANS,
                       515,
                       389,
                       301,
                       0,
                       0,
                       0,
                       2,
                       1.0,
                       0.5,
                       1,
                       USINE_ACT_GELU_TANH};
        set_lds(&t, 0, 1);
        describe(&t, label, sizeof label);
        CHECK(run_case(ctx, &t, label) == USINE_SUCCESS, "%s: %s", label, usine_last_error());
        t.alpha = 0.0;
        describe(&t, label, sizeof label);
        CHECK(run_case(ctx, &t, label) == USINE_SUCCESS, "%s: %s", label, usine_last_error());
        cases += 2;
    }
    /* Not supported on CUDA: f32 (no TF32 yet), with a message. */
    {
        usine_gemm_desc d;
        usine_gemm_desc_init(&d);
        d.m = d.n = d.k = 4;
        d.lda = d.ldb = d.ldc = 4;
        CHECK(usine_gemm_ex(ctx, &d, (void *)16, (void *)4096, (void *)65536) ==
                      USINE_ERROR_NOT_SUPPORTED &&
                  strstr(usine_last_error(), "cuda:0"),
              "f32 on CUDA: %s", usine_last_error());
    }
    usine_destroy(ctx);

    printf("%d cases with the default kernel choice\n", cases);
    /* Every kernel forced: of the four operand arrangements of a tile, exactly one accepts
     * an aligned problem; the element-load kernels accept any. */
    static const char *tiles[] = {"128x128x32_s4", "64x64x32_s4", "128x256x32_s3"};
    static const char *tn[] = {"bf16", "f16"};
    for (int ti = 0; ti < 3; ti++)
        for (int ty = 0; ty < 2; ty++) {
            gemm_case t = {ins[ty],
                           USINE_F32,
                           (usine_layout)(ti & 1 ? USINE_COL_MAJOR : USINE_ROW_MAJOR),
                           USINE_NO_TRANS,
                           USINE_TRANS,
                           300,
                           270,
                           77,
                           0,
                           0,
                           0,
                           1,
                           1.0,
                           0.25,
                           1,
                           USINE_ACT_RELU};
            const int accepted = run_arrangements(&t, "sm80", tn[ty], tiles[ti], &cases);
            /* 4 transpose pairs, each taken by exactly one arrangement. */
            CHECK(accepted == 4, "%s %s: %d of 4 transpose pairs found their kernel", tn[ty],
                  tiles[ti], accepted);
        }
    for (int ty = 0; ty < 2; ty++) {
        char name[96];
        snprintf(name, sizeof name, "usine_gemm_cuda_sm80_%s_64x64x32_scalar", tn[ty]);
        setenv("USINE_CUDA_KERNEL", name, 1);
        usine_context *fc = cuda_context(why, sizeof why);
        CHECK(fc != NULL, "USINE_CUDA_KERNEL=%s: %s", name, why);
        if (fc) {
            gemm_case t = {ins[ty],
                           ins[ty],
                           USINE_COL_MAJOR,
                           USINE_TRANS,
                           USINE_NO_TRANS,
                           130,
                           67,
                           45,
                           0,
                           0,
                           0,
                           3,
                           1.5,
                           -0.5,
                           0,
                           USINE_ACT_GELU_ERF};
            set_lds(&t, 3, 0);
            describe(&t, label, sizeof label);
            CHECK(run_case(fc, &t, label) == USINE_SUCCESS, "%s [%s]: %s", label, name,
                  usine_last_error());
            usine_destroy(fc);
            cases++;
        }
    }
    cases += sm90_cases(ins, tn, 2, 0);
    cases += split_cases(ins, tn, 2) + default_split_case();
    unsetenv("USINE_CUDA_KERNEL");
    printf("%d cases\n", cases);
    return test_finish("test_cuda_gemm");
}
