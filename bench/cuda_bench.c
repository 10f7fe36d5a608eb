/*
 * The CUDA lines of `usine bench` (cuda_bench.h). Built only with the CUDA backend: the
 * device memory and events come from the CUDA runtime that libusine links statically.
 * Ran on an NVIDIA H200 (2026-11-26).
 */
#include "cuda_bench.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "usine.h"
#include "../kernels/cpu/half.h"
#include "../kernels/cuda/cuda_runtime.h"

/* ---------------------------------------------------------------- cuBLAS by dlopen */

/* cublas_api.h and library_types.h values (stable across cuBLAS 12 and 13). */
#define CUBLAS_OP_N         0
#define CUBLAS_OP_T         1
#define CUDA_R_32F          0
#define CUDA_R_16BF         14
#define CUBLAS_COMPUTE_32F  68
#define CUBLAS_GEMM_DEFAULT (-1)

typedef int cublas_create_fn(void **);
typedef int cublas_destroy_fn(void *);
typedef int cublas_version_fn(void *, int *);
typedef int cublas_gemm_ex_fn(void *, int, int, int, int, int, const void *, const void *, int, int,
                              const void *, int, int, const void *, void *, int, int, int, int);
typedef int cublas_gemm_sb_fn(void *, int, int, int, int, int, const void *, const void *, int, int,
                              long long, const void *, int, int, long long, const void *, void *,
                              int, int, long long, int, int, int);

typedef struct cublas {
    void *lib, *handle;
    cublas_gemm_ex_fn *gemm;
    cublas_gemm_sb_fn *gemm_sb;
    cublas_destroy_fn *destroy;
} cublas;

static int cublas_load(cublas *c, char *text, size_t size)
{
    memset(c, 0, sizeof *c);
    const char *env = getenv("USINE_BENCH_CUBLAS");
    const char *names[3] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
    const char *loaded = NULL;
    for (int i = 0; i < (env && *env ? 1 : 3) && !c->lib; i++) {
        loaded = env && *env ? env : names[i];
        c->lib = dlopen(loaded, RTLD_NOW | RTLD_LOCAL);
    }
    if (!c->lib) {
        snprintf(text, size, "no cuBLAS (libcublas.so.13 or .12 does not load)");
        return -1;
    }
    cublas_create_fn *create = (cublas_create_fn *)dlsym(c->lib, "cublasCreate_v2");
    cublas_version_fn *version = (cublas_version_fn *)dlsym(c->lib, "cublasGetVersion_v2");
    c->destroy = (cublas_destroy_fn *)dlsym(c->lib, "cublasDestroy_v2");
    c->gemm = (cublas_gemm_ex_fn *)dlsym(c->lib, "cublasGemmEx");
    c->gemm_sb = (cublas_gemm_sb_fn *)dlsym(c->lib, "cublasGemmStridedBatchedEx");
    if (!create || !c->destroy || !c->gemm || !c->gemm_sb) {
        snprintf(text, size,
                 "%s lacks cublasCreate_v2, cublasGemmEx or "
                 "cublasGemmStridedBatchedEx",
                 loaded);
        return -1;
    }
    int st = create(&c->handle);
    if (st != 0) {
        snprintf(text, size, "%s: cublasCreate_v2 returned %d", loaded, st);
        return -1;
    }
    int v = 0;
    if (version)
        version(c->handle, &v);
    snprintf(text, size, "%s (cuBLAS %d.%d.%d), cublasGemmEx / cublasGemmStridedBatchedEx", loaded,
             v / 10000, v / 100 % 100, v % 100);
    return 0;
}

/* ---------------------------------------------------------------- helpers */

/* n random bf16 values in [-1, 1) on the device (NULL on failure). */
static void *device_random(size_t n, unsigned seed)
{
    uint16_t *h = malloc(n * 2);
    void *d = NULL;
    if (!h)
        return NULL;
    uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        h[i] = usine_f32_to_bf16((float)((double)(x >> 11) / 4503599627370496.0 - 1.0));
    }
    if (cudaMalloc(&d, n * 2) != cudaSuccess || cudaMemcpy(d, h, n * 2, cudaMemcpyHostToDevice)) {
        cudaFree(d);
        d = NULL;
    }
    free(h);
    return d;
}

/* max |a - b| / max |b| over n bf16 device values; -1 when the copy fails. */
static double max_rel_diff(const void *a, const void *b, size_t n)
{
    uint16_t *x = malloc(n * 2), *y = malloc(n * 2);
    double diff = -1, big = 0, worst = 0;
    if (x && y && cudaMemcpy(x, a, n * 2, cudaMemcpyDeviceToHost) == cudaSuccess &&
        cudaMemcpy(y, b, n * 2, cudaMemcpyDeviceToHost) == cudaSuccess) {
        for (size_t i = 0; i < n; i++) {
            const double u = usine_bf16_to_f32(x[i]), v = usine_bf16_to_f32(y[i]);
            const double d = fabs(u - v);
            worst = d > worst || d != d ? d : worst;
            big = fabs(v) > big ? fabs(v) : big;
        }
        diff = big > 0 ? worst / big : worst;
    }
    free(x);
    free(y);
    return diff;
}

/* A timed call: returns non-zero on failure, with a message. */
typedef int bench_call(void *arg, char *message, size_t size);

/* Milliseconds per call on the default stream: one untimed call, then enough calls to fill
 * `seconds` (3 to 200), timed with events. 0 on failure (message set). */
static double time_ms(bench_call *call, void *arg, double seconds, char *message, size_t size)
{
    cudaEvent_t e0 = NULL, e1 = NULL;
    double ms = 0;
    float t = 0;
    if (cudaEventCreate(&e0) != cudaSuccess || cudaEventCreate(&e1) != cudaSuccess) {
        snprintf(message, size, "cudaEventCreate failed");
        goto done;
    }
    if (call(arg, message, size) || cudaEventRecord(e0, NULL) != cudaSuccess ||
        call(arg, message, size) || cudaEventRecord(e1, NULL) != cudaSuccess ||
        cudaEventSynchronize(e1) != cudaSuccess || cudaEventElapsedTime(&t, e0, e1)) {
        if (!message[0])
            snprintf(message, size, "%s", cudaGetErrorString(cudaGetLastError()));
        goto done;
    }
    int reps = t > 0 ? (int)(seconds * 1e3 / t) : 200;
    reps = reps < 3 ? 3 : reps > 200 ? 200 : reps;
    cudaEventRecord(e0, NULL);
    for (int i = 0; i < reps; i++)
        if (call(arg, message, size))
            goto done;
    if (cudaEventRecord(e1, NULL) != cudaSuccess || cudaEventSynchronize(e1) != cudaSuccess ||
        cudaEventElapsedTime(&t, e0, e1)) {
        snprintf(message, size, "%s", cudaGetErrorString(cudaGetLastError()));
        goto done;
    }
    ms = t / reps;
done:
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    return ms;
}

/* ---------------------------------------------------------------- GEMM */

typedef struct gemm_arg {
    usine_context *ctx;
    cublas *cb;
    int64_t m, n, k; /* row-major C (m x n) = A (m x k) B (k x n) */
    void *a, *b, *c;
} gemm_arg;

static int usine_gemm_call(void *varg, char *message, size_t size)
{
    gemm_arg *g = (gemm_arg *)varg;
    usine_gemm_desc d;
    usine_gemm_desc_init(&d);
    d.layout = USINE_ROW_MAJOR;
    d.m = g->m;
    d.n = g->n;
    d.k = g->k;
    d.lda = g->k;
    d.ldb = d.ldc = g->n;
    d.a_type = d.b_type = d.c_type = USINE_BF16;
    d.alpha = 1.0;
    d.beta = 0.0;
    if (usine_gemm_ex(g->ctx, &d, g->a, g->b, g->c) != USINE_SUCCESS) {
        snprintf(message, size, "%s", usine_last_error());
        return 1;
    }
    return 0;
}

/* Row-major C = A B as column-major C^T = B^T A^T. */
static int cublas_gemm_call(void *varg, char *message, size_t size)
{
    gemm_arg *g = (gemm_arg *)varg;
    const float one = 1, zero = 0;
    const int m = (int)g->m, n = (int)g->n, k = (int)g->k;
    const int st = g->cb->gemm(g->cb->handle, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, g->b,
                               CUDA_R_16BF, n, g->a, CUDA_R_16BF, k, &zero, g->c, CUDA_R_16BF, n,
                               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (st != 0)
        snprintf(message, size, "cublasGemmEx returned %d", st);
    return st;
}

/* One GEMM line: `op` is "gemm" for the square sizes, "gemm tf" for the transformer suite's
 * bf16 GEMMs (their geometric mean is reported apart). */
static void gemm_line(usine_context *ctx, cublas *cb, const char *op, int64_t m, int64_t n,
                      int64_t k, double seconds, usine_bench_cuda_line *l)
{
    snprintf(l->op, sizeof l->op, "%s", op);
    snprintf(l->shape, sizeof l->shape, "%lldx%lldx%lld bf16", (long long)m, (long long)n,
             (long long)k);
    l->flops = 2.0 * m * n * k;
    l->max_diff = -1;
    const size_t e = (size_t)(m * n);
    gemm_arg u = {
        ctx, cb, m, n, k, device_random((size_t)(m * k), 1), device_random((size_t)(k * n), 2),
        NULL};
    gemm_arg p = u;
    if (!u.a || !u.b || cudaMalloc(&u.c, e * 2) != cudaSuccess ||
        (cb->handle && cudaMalloc(&p.c, e * 2) != cudaSuccess)) {
        snprintf(l->message, sizeof l->message, "cudaMalloc failed (%zu bytes for C)", e * 2);
        goto done;
    }
    l->usine_ms = time_ms(usine_gemm_call, &u, seconds, l->message, sizeof l->message);
    if (cb->handle) {
        snprintf(l->peer, sizeof l->peer, "cuBLAS");
        char peer_message[200] = "";
        l->peer_ms = time_ms(cublas_gemm_call, &p, seconds, peer_message, sizeof peer_message);
        if (!l->message[0])
            snprintf(l->message, sizeof l->message, "%s", peer_message);
        if (l->usine_ms > 0 && l->peer_ms > 0)
            l->max_diff = max_rel_diff(u.c, p.c, e);
    }
done:
    cudaFree(u.a);
    cudaFree(u.b);
    cudaFree(u.c);
    cudaFree(p.c);
}

/* ---------------------------------------------------------------- attention */

typedef struct attn_arg {
    usine_context *ctx;
    cublas *cb;
    int64_t b, h, n, d;
    int causal;
    void *q, *k, *v, *o, *d_o, *dq, *dk, *dv;
    float *lse;
    float *s;      /* baseline: scores of `chunk` heads, f32 */
    void *p;       /* baseline: P of `chunk` heads, bf16 */
    int64_t chunk; /* heads per baseline step */
} attn_arg;

static void attn_desc(const attn_arg *a, usine_attention_desc *d)
{
    usine_attention_desc_init(d);
    d->dtype = USINE_BF16;
    d->batch = a->b;
    d->heads_q = d->heads_kv = a->h;
    d->seq_q = d->seq_k = a->n;
    d->head_dim = a->d;
    d->causal = a->causal;
    const int64_t s[3] = {a->h * a->n * a->d, a->n * a->d, a->d};
    memcpy(d->q_strides, s, sizeof s);
    memcpy(d->k_strides, s, sizeof s);
    memcpy(d->v_strides, s, sizeof s);
    memcpy(d->o_strides, s, sizeof s);
}

static int usine_fwd_call(void *varg, char *message, size_t size)
{
    attn_arg *a = (attn_arg *)varg;
    usine_attention_desc d;
    attn_desc(a, &d);
    if (usine_attention_forward(a->ctx, &d, a->q, a->k, a->v, a->o, a->lse) != USINE_SUCCESS) {
        snprintf(message, size, "%s", usine_last_error());
        return 1;
    }
    return 0;
}

static int usine_bwd_call(void *varg, char *message, size_t size)
{
    attn_arg *a = (attn_arg *)varg;
    usine_attention_desc d;
    attn_desc(a, &d);
    if (usine_attention_backward(a->ctx, &d, a->q, a->k, a->v, a->o, a->d_o, a->lse, a->dq, a->dk,
                                 a->dv) != USINE_SUCCESS) {
        snprintf(message, size, "%s", usine_last_error());
        return 1;
    }
    return 0;
}

/* The unfused forward, `chunk` heads at a time: S = Q K^T (f32), P = softmax(scale S) (bf16,
 * masked), O = P V (bf16). Row-major S (n x n) is column-major S^T = K Q^T; row-major O is
 * column-major O^T = V^T P^T. */
static int unfused_fwd_call(void *varg, char *message, size_t size)
{
    attn_arg *a = (attn_arg *)varg;
    const float one = 1, zero = 0, scale = (float)(1.0 / sqrt((double)a->d));
    const int n = (int)a->n, d = (int)a->d;
    const long long hd = (long long)a->n * a->d, nn = (long long)a->n * a->n;
    for (int64_t h0 = 0; h0 < a->b * a->h; h0 += a->chunk) {
        const int c = (int)(a->b * a->h - h0 < a->chunk ? a->b * a->h - h0 : a->chunk);
        const char *q = (const char *)a->q + (size_t)(h0 * hd) * 2;
        const char *k = (const char *)a->k + (size_t)(h0 * hd) * 2;
        const char *v = (const char *)a->v + (size_t)(h0 * hd) * 2;
        char *o = (char *)a->o + (size_t)(h0 * hd) * 2;
        int st = a->cb->gemm_sb(a->cb->handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n, d, &one, k,
                                CUDA_R_16BF, d, hd, q, CUDA_R_16BF, d, hd, &zero, a->s, CUDA_R_32F,
                                n, nn, c, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (st != 0) {
            snprintf(message, size, "cublasGemmStridedBatchedEx (S) returned %d", st);
            return 1;
        }
        if (usine_cuda_bench_softmax_rows(0, NULL, a->s, a->p, (int64_t)c * a->n, a->n, a->n, a->n,
                                          scale, a->causal, message, size) != USINE_SUCCESS)
            return 1;
        st = a->cb->gemm_sb(a->cb->handle, CUBLAS_OP_N, CUBLAS_OP_N, d, n, n, &one, v, CUDA_R_16BF,
                            d, hd, a->p, CUDA_R_16BF, n, nn, &zero, o, CUDA_R_16BF, d, hd, c,
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (st != 0) {
            snprintf(message, size, "cublasGemmStridedBatchedEx (O) returned %d", st);
            return 1;
        }
    }
    return 0;
}

static void attn_lines(usine_context *ctx, cublas *cb, int64_t b, int64_t h, int64_t n, int64_t d,
                       int causal, int backward, double seconds, usine_bench_cuda_out *out)
{
    if (out->n + 1 + backward > USINE_BENCH_CUDA_LINES)
        return;
    usine_bench_cuda_line *l = &out->lines[out->n++];
    usine_bench_cuda_line *lb = backward ? &out->lines[out->n++] : NULL;
    const double fwd_flops = 4.0 * b * h * n * n * d * (causal ? 0.5 : 1.0);
    snprintf(l->op, sizeof l->op, "attn fwd");
    snprintf(l->shape, sizeof l->shape, "b%lld h%lld n%lld d%lld%s bf16", (long long)b,
             (long long)h, (long long)n, (long long)d, causal ? " causal" : "");
    l->flops = fwd_flops;
    l->max_diff = -1;
    if (lb) {
        *lb = *l;
        snprintf(lb->op, sizeof lb->op, "attn bwd");
        lb->flops = 2.5 * fwd_flops; /* FlashAttention's convention: 5 products to the 2 */
        snprintf(lb->message, sizeof lb->message, "no GPU baseline for the backward yet");
    }
    const size_t e = (size_t)(b * h * n * d);
    attn_arg u = {ctx,  cb,   b,    h,    n,    d,    causal, NULL, NULL, NULL,
                  NULL, NULL, NULL, NULL, NULL, NULL, NULL,   NULL, 1};
    u.q = device_random(e, 3);
    u.k = device_random(e, 4);
    u.v = device_random(e, 5);
    u.d_o = device_random(e, 6);
    /* Heads per baseline step: S and P of at most 1 GiB (f32 S). */
    const double per_head = (double)n * (double)n * 4;
    u.chunk = per_head >= (double)(1 << 30) ? 1 : (int64_t)((double)(1 << 30) / per_head);
    if (u.chunk > b * h)
        u.chunk = b * h;
    attn_arg p = u;
    int ok = u.q && u.k && u.v && u.d_o && cudaMalloc(&u.o, e * 2) == cudaSuccess &&
             cudaMalloc((void **)&u.lse, (size_t)(b * h * n) * 4) == cudaSuccess;
    if (ok && backward)
        ok = cudaMalloc(&u.dq, e * 2) == cudaSuccess && cudaMalloc(&u.dk, e * 2) == cudaSuccess &&
             cudaMalloc(&u.dv, e * 2) == cudaSuccess;
    p.o = NULL;
    if (ok && cb->handle)
        ok = cudaMalloc(&p.o, e * 2) == cudaSuccess &&
             cudaMalloc((void **)&p.s, (size_t)(u.chunk * n * n) * 4) == cudaSuccess &&
             cudaMalloc(&p.p, (size_t)(u.chunk * n * n) * 2) == cudaSuccess;
    if (!ok) {
        snprintf(l->message, sizeof l->message, "cudaMalloc failed");
        goto done;
    }
    l->usine_ms = time_ms(usine_fwd_call, &u, seconds, l->message, sizeof l->message);
    if (lb && l->usine_ms > 0)
        lb->usine_ms = time_ms(usine_bwd_call, &u, seconds, lb->message, sizeof lb->message);
    if (cb->handle) {
        snprintf(l->peer, sizeof l->peer, "unfused cuBLAS");
        char m[200] = "";
        l->peer_ms = time_ms(unfused_fwd_call, &p, seconds, m, sizeof m);
        if (!l->message[0])
            snprintf(l->message, sizeof l->message, "%s", m);
        if (l->usine_ms > 0 && l->peer_ms > 0)
            l->max_diff = max_rel_diff(u.o, p.o, e);
    }
done:
    cudaFree(u.q);
    cudaFree(u.k);
    cudaFree(u.v);
    cudaFree(u.d_o);
    cudaFree(u.o);
    cudaFree(u.lse);
    cudaFree(u.dq);
    cudaFree(u.dk);
    cudaFree(u.dv);
    cudaFree(p.o);
    cudaFree(p.s);
    cudaFree(p.p);
}

/* Whether USINE_BENCH_GPU lets lines of `kind` ("gemm" or "attention") run: unset, 1 or the
 * kind itself (experiments that sweep one kind's kernels skip the other's lines). */
static int lines_wanted(const char *kind)
{
    const char *env = getenv("USINE_BENCH_GPU");
    const int one_kind = env && (strcmp(env, "gemm") == 0 || strcmp(env, "attention") == 0);
    return !one_kind || strcmp(env, kind) == 0;
}

void usine_bench_cuda_child(void *arg, void *vout)
{
    const double seconds = *(const double *)arg;
    usine_bench_cuda_out *out = (usine_bench_cuda_out *)vout;
    usine_context_options o;
    usine_context_options_init(&o);
    o.device = "cuda:0";
    usine_context *ctx = NULL;
    if (usine_create(&ctx, &o) != USINE_SUCCESS) {
        snprintf(out->why, sizeof out->why, "%s", usine_last_error());
        return;
    }
    cublas cb;
    if (cublas_load(&cb, out->cublas, sizeof out->cublas) != 0)
        cb.handle = NULL;
    const int gemm = lines_wanted("gemm"), attention = lines_wanted("attention");
    static const int64_t sizes[3] = {2048, 4096, 8192};
    for (int i = 0; i < 3 && gemm; i++)
        gemm_line(ctx, &cb, "gemm", sizes[i], sizes[i], sizes[i], seconds, &out->lines[out->n++]);
    /* The bf16 GEMMs of the transformer suite (bench/suites/transformer.txt: Llama-2-7B and
     * Llama-3-8B, prefill 512 and decode 16 tokens), each distinct shape once. */
    static const int64_t tf[12][3] = {{512, 12288, 4096}, {512, 4096, 4096}, {512, 22016, 4096},
                                      {512, 4096, 11008}, {16, 12288, 4096}, {16, 4096, 11008},
                                      {16, 32000, 4096},  {512, 6144, 4096}, {512, 28672, 4096},
                                      {512, 4096, 14336}, {16, 6144, 4096},  {16, 28672, 4096}};
    for (int i = 0; i < 12 && gemm; i++)
        gemm_line(ctx, &cb, "gemm tf", tf[i][0], tf[i][1], tf[i][2], seconds,
                  &out->lines[out->n++]);
    /* The acceptance shape of issue 9 (b h = 32, n = 8192, d = 128), causal, and d = 64. */
    if (attention) {
        attn_lines(ctx, &cb, 4, 8, 8192, 128, 0, 1, seconds, out);
        attn_lines(ctx, &cb, 4, 8, 8192, 128, 1, 1, seconds, out);
        attn_lines(ctx, &cb, 4, 8, 4096, 64, 0, 1, seconds, out);
    }
    if (cb.handle)
        cb.destroy(cb.handle);
    usine_destroy(ctx);
}

/* ---------------------------------------------------------------- table */

int usine_bench_cuda_run(FILE *table, const usine_bench_gpu_info *gpu, double seconds)
{
    const char *env = getenv("USINE_BENCH_GPU");
    if (!gpu->cuda.present || (env && strcmp(env, "0") == 0))
        return 0; /* the header says why there is no GPU */
    usine_bench_cuda_out *out = calloc(1, sizeof *out);
    char why[200];
    int problems = 0, tf_lines = 0;
    double log_ratio = 0;
    if (!out)
        return 1;
    fprintf(table,
            "\nCUDA lines (%s; usine against cuBLAS and the unfused attention baseline, "
            "CUDA events, default stream)\n",
            gpu->cuda.name);
    fflush(table);
    if (usine_bench_in_child(usine_bench_cuda_child, &seconds, out, sizeof *out, 1800, why,
                             sizeof why) != 0) {
        fprintf(table, "  the CUDA child %s\n", why);
        free(out);
        return 1;
    }
    if (out->why[0]) {
        fprintf(table, "  not measured: %s\n", out->why);
        free(out);
        return 0;
    }
    fprintf(table, "  peer: %s\n", out->cublas[0] ? out->cublas : "none");
    fprintf(table, "  %-9s %-34s %10s %9s %10s %9s %7s %9s  %s\n", "op", "shape", "usine ms",
            "TFLOP/s", "peer ms", "TFLOP/s", "ratio", "max diff", "peer / note");
    for (int i = 0; i < out->n; i++) {
        const usine_bench_cuda_line *l = &out->lines[i];
        const double ut = l->usine_ms > 0 ? l->flops / (l->usine_ms * 1e9) : 0;
        const double pt = l->peer_ms > 0 ? l->flops / (l->peer_ms * 1e9) : 0;
        char diff[16] = "-";
        if (l->max_diff >= 0)
            snprintf(diff, sizeof diff, "%.1e", l->max_diff);
        fprintf(table, "  %-9s %-34s %10.3f %9.1f %10.3f %9.1f %7.2f %9s  %s%s%s\n", l->op,
                l->shape, l->usine_ms, ut, l->peer_ms, pt, ut > 0 && pt > 0 ? ut / pt : 0.0, diff,
                l->peer, l->message[0] ? ": " : "", l->message);
        if (l->usine_ms <= 0)
            problems++;
        if (strcmp(l->op, "gemm tf") == 0 && ut > 0 && pt > 0) {
            log_ratio += log(ut / pt);
            tf_lines++;
        }
    }
    if (tf_lines > 0)
        fprintf(table,
                "  transformer-suite bf16 GEMMs: geometric mean %.3f x the peer over %d shapes\n",
                exp(log_ratio / tf_lines), tf_lines);
    free(out);
    return problems;
}
