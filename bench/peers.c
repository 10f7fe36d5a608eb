/* dladdr and realpath name the file a peer really came from (Debian's alternatives
 * symlinks hide it). */
#define _GNU_SOURCE
#include "peers.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onednn_matmul.h"
#include "suite.h"

/* CBLAS's values (cblas.h): column-major, no transpose. */
#define CBLAS_COL_MAJOR 102
#define CBLAS_NO_TRANS  111
#define CBLAS_TRANS     112

typedef void cblas_sgemm_fn(int, int, int, int, int, int, float, const float *, int, const float *,
                            int, float, float *, int);
typedef void cblas_dgemm_fn(int, int, int, int, int, int, double, const double *, int,
                            const double *, int, double, double *, int);
/* BLIS's typed API takes dim_t / inc_t (64-bit) sizes and row and column strides; its
 * CBLAS layer would add a BLAS integer whose width depends on how BLIS was configured. */
typedef void bli_sgemm_fn(int, int, int64_t, int64_t, int64_t, const float *, const float *,
                          int64_t, int64_t, const float *, int64_t, int64_t, const float *, float *,
                          int64_t, int64_t);
typedef void bli_dgemm_fn(int, int, int64_t, int64_t, int64_t, const double *, const double *,
                          int64_t, int64_t, const double *, int64_t, int64_t, const double *,
                          double *, int64_t, int64_t);
/* BLIS's trans_t: BLIS_TRANSPOSE is the transpose bit (0x08 in bli_type_defs.h). */
#define BLIS_NO_TRANSPOSE 0
#define BLIS_TRANSPOSE    0x08
/* oneDNN's GEMM is row-major (dnnl.h): C = op(A) op(B) with row-major A, B, C. */
typedef int dnnl_sgemm_fn(char, char, int64_t, int64_t, int64_t, float, const float *, int64_t,
                          const float *, int64_t, float, float *, int64_t);
typedef struct dnnl_version_info {
    int major, minor, patch;
    const char *hash;
    unsigned cpu_runtime, gpu_runtime;
} dnnl_version_info;

typedef void (*any_fn)(void);

static const char *const names[USINE_PEER_COUNT] = {"OpenBLAS", "BLIS", "oneDNN"};
static const char *const keys[USINE_PEER_COUNT] = {"openblas", "blis", "onednn"};
static const char *const env_names[USINE_PEER_COUNT] = {"USINE_BENCH_OPENBLAS", "USINE_BENCH_BLIS",
                                                        "USINE_BENCH_ONEDNN"};

/* Usual file names, most likely first. Debian's BLIS variants live in subdirectories;
 * the pthread one is the one that spins least against the other peers. */
static const char *const candidates[USINE_PEER_COUNT][4] = {
    {"libopenblas.so.0", "libopenblas.so", NULL},
    {"/usr/lib/x86_64-linux-gnu/blis-pthread/libblis.so.4", "libblis.so.4", "libblis.so", NULL},
    {"libdnnl.so.2", "libdnnl.so.3", "libdnnl.so", NULL},
};

const char *usine_bench_peer_name(usine_bench_peer_id id)
{
    return (unsigned)id < USINE_PEER_COUNT ? names[id] : "?";
}

const char *usine_bench_peer_key(usine_bench_peer_id id)
{
    return (unsigned)id < USINE_PEER_COUNT ? keys[id] : "?";
}

int usine_bench_peer_from_key(const char *key)
{
    for (int i = 0; i < USINE_PEER_COUNT; i++)
        if (strcmp(key, keys[i]) == 0)
            return i;
    return -1;
}

int usine_bench_dtype_bit(usine_dtype dtype)
{
    const int slot = usine_bench_dtype_slot(dtype);
    return slot < 0 ? 0 : 1 << slot;
}

/* dlopen the override or the first candidate that loads; the message keeps the first
 * failure, which names the usual file. */
static void *open_library(usine_bench_peer *p, char *message, size_t size)
{
    const char *override = getenv(env_names[p->id]);
    const char *const *list = candidates[p->id];
    const char *one[2] = {override, NULL};
    if (override && *override)
        list = one;
    for (int i = 0; list[i]; i++) {
        void *h = dlopen(list[i], RTLD_NOW | RTLD_LOCAL);
        if (h) {
            snprintf(p->path, sizeof p->path, "%s", list[i]);
            return h;
        }
        if (i == 0)
            snprintf(message, size, "%s", dlerror());
    }
    return NULL;
}

/* A required symbol; NULL and a message naming it when absent. */
static any_fn need(usine_bench_peer *p, const char *symbol, char *message, size_t size)
{
    any_fn f = (any_fn)dlsym(p->handle, symbol);
    if (!f)
        snprintf(message, size, "%s has no symbol %s", p->path, symbol);
    return f;
}

/* The file behind the handle, resolved through symlinks. */
static void real_path(usine_bench_peer *p, any_fn symbol)
{
    Dl_info info;
    char resolved[PATH_MAX];
    if (dladdr((void *)symbol, &info) && info.dli_fname && realpath(info.dli_fname, resolved) &&
        strlen(resolved) < sizeof p->path)
        memcpy(p->path, resolved, strlen(resolved) + 1);
}

static void set_thread_env(const char *name, int threads)
{
    char value[16];
    snprintf(value, sizeof value, "%d", threads);
    setenv(name, value, 1);
}

static int load_openblas(usine_bench_peer *p, int threads, char *message, size_t size)
{
    if (!(p->fn[0] = need(p, "cblas_sgemm", message, size)) ||
        !(p->fn[1] = need(p, "cblas_dgemm", message, size)))
        return -1;
    void (*set_threads)(int) = (void (*)(int))dlsym(p->handle, "openblas_set_num_threads");
    const char *(*config)(void) = (const char *(*)(void))dlsym(p->handle, "openblas_get_config");
    if (set_threads)
        set_threads(threads);
    snprintf(p->version, sizeof p->version, "%s", config ? config() : "unknown version");
    snprintf(p->api, sizeof p->api, "cblas_sgemm, cblas_dgemm%s",
             set_threads ? "" : " (no openblas_set_num_threads: OPENBLAS_NUM_THREADS only)");
    snprintf(p->lowp_why, sizeof p->lowp_why,
             "OpenBLAS: not compared in bf16 and int8 (oneDNN is their peer)");
    p->dtypes = 3;
    return 0;
}

static int load_blis(usine_bench_peer *p, int threads, char *message, size_t size)
{
    if (!(p->fn[0] = need(p, "bli_sgemm", message, size)) ||
        !(p->fn[1] = need(p, "bli_dgemm", message, size)))
        return -1;
    void (*set_threads)(int64_t) =
        (void (*)(int64_t))dlsym(p->handle, "bli_thread_set_num_threads");
    const char *(*version)(void) =
        (const char *(*)(void))dlsym(p->handle, "bli_info_get_version_str");
    if (set_threads)
        set_threads(threads);
    snprintf(p->version, sizeof p->version, "%s", version ? version() : "unknown version");
    snprintf(p->api, sizeof p->api, "bli_sgemm, bli_dgemm%s",
             set_threads ? "" : " (no bli_thread_set_num_threads: BLIS_NUM_THREADS only)");
    snprintf(p->lowp_why, sizeof p->lowp_why, "BLIS: no bf16 or int8 GEMM");
    p->dtypes = 3;
    return 0;
}

static const char *dnnl_runtime(unsigned r)
{
    return r == 1 ? "sequential" : r == 2 ? "OpenMP" : r == 4 ? "TBB" : r == 8 ? "threadpool" : "?";
}

static int load_onednn(usine_bench_peer *p, int threads, char *message, size_t size)
{
    if (!(p->fn[0] = need(p, "dnnl_sgemm", message, size)))
        return -1;
    /* Debian's oneDNN runs on OpenMP: its team size is OpenMP's, found through the
     * library's own dependencies (the same libgomp as ours when both use GNU OpenMP). */
    void (*set_threads)(int) = (void (*)(int))dlsym(p->handle, "omp_set_num_threads");
    const dnnl_version_info *(*version)(void) =
        (const dnnl_version_info *(*)(void))dlsym(p->handle, "dnnl_version");
    if (set_threads)
        set_threads(threads);
    const dnnl_version_info *v = version ? version() : NULL;
    if (v)
        snprintf(p->version, sizeof p->version, "%d.%d.%d (%s, %s runtime)", v->major, v->minor,
                 v->patch, v->hash ? v->hash : "?", dnnl_runtime(v->cpu_runtime));
    else
        snprintf(p->version, sizeof p->version, "unknown version");
    /* bf16 and int8 through the matmul primitive, when it resolves; dnnl_sgemm alone
     * still makes the f32 peer. */
    const int matmul =
        usine_bench_onednn_matmul_load(p->handle, p->path, p->lowp_why, sizeof p->lowp_why) == 0;
    snprintf(p->api, sizeof p->api, "dnnl_sgemm (row-major, f32)%s%s",
             matmul ? ", matmul primitive (bf16, u8 x s8; row-major weights)" : "",
             set_threads ? "" : " (no omp_set_num_threads: OMP_NUM_THREADS only)");
    p->dtypes = usine_bench_dtype_bit(USINE_F32) | (matmul ? USINE_BENCH_LOWP_BITS : 0);
    return 0;
}

int usine_bench_peer_load(usine_bench_peer_id id, int threads, usine_bench_peer *peer,
                          char *message, size_t size)
{
    static const char *const thread_vars[USINE_PEER_COUNT] = {
        "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS", "OMP_NUM_THREADS"};
    memset(peer, 0, sizeof *peer);
    peer->id = id;
    /* Before dlopen: OpenBLAS sizes its pool from the environment when it loads. */
    set_thread_env(thread_vars[id], threads);
    if (!(peer->handle = open_library(peer, message, size)))
        return -1;
    int rc = id == USINE_PEER_OPENBLAS ? load_openblas(peer, threads, message, size)
             : id == USINE_PEER_BLIS   ? load_blis(peer, threads, message, size)
                                       : load_onednn(peer, threads, message, size);
    if (rc == 0)
        real_path(peer, peer->fn[0]);
    return rc;
}

typedef struct gemm_args {
    char ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    const void *a, *b;
    void *c;
} gemm_args;

static int openblas_gemm(const usine_bench_peer *p, usine_dtype dtype, const gemm_args *g)
{
    const int ta = g->ta == 'T' ? CBLAS_TRANS : CBLAS_NO_TRANS;
    const int tb = g->tb == 'T' ? CBLAS_TRANS : CBLAS_NO_TRANS;
    if (dtype == USINE_F32)
        ((cblas_sgemm_fn *)p->fn[0])(CBLAS_COL_MAJOR, ta, tb, (int)g->m, (int)g->n, (int)g->k, 1.0f,
                                     g->a, (int)g->lda, g->b, (int)g->ldb, 0.0f, g->c, (int)g->ldc);
    else
        ((cblas_dgemm_fn *)p->fn[1])(CBLAS_COL_MAJOR, ta, tb, (int)g->m, (int)g->n, (int)g->k, 1.0,
                                     g->a, (int)g->lda, g->b, (int)g->ldb, 0.0, g->c, (int)g->ldc);
    return 0;
}

static int blis_gemm(const usine_bench_peer *p, usine_dtype dtype, const gemm_args *g)
{
    const int ta = g->ta == 'T' ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE;
    const int tb = g->tb == 'T' ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE;
    if (dtype == USINE_F32) {
        const float one = 1.0f, zero = 0.0f;
        ((bli_sgemm_fn *)p->fn[0])(ta, tb, g->m, g->n, g->k, &one, g->a, 1, g->lda, g->b, 1, g->ldb,
                                   &zero, g->c, 1, g->ldc);
    } else {
        const double one = 1.0, zero = 0.0;
        ((bli_dgemm_fn *)p->fn[1])(ta, tb, g->m, g->n, g->k, &one, g->a, 1, g->lda, g->b, 1, g->ldb,
                                   &zero, g->c, 1, g->ldc);
    }
    return 0;
}

/* Column-major C = op(A) op(B) is row-major C^T = op(B)^T op(A)^T, where the row-major
 * B^T and A^T are the column-major B and A as stored, with the same transpose flags. */
static int onednn_gemm(const usine_bench_peer *p, const gemm_args *g)
{
    return ((dnnl_sgemm_fn *)p->fn[0])(g->tb, g->ta, g->n, g->m, g->k, 1.0f, g->b, g->ldb, g->a,
                                       g->lda, 0.0f, g->c, g->ldc);
}

int usine_bench_peer_gemm(const usine_bench_peer *peer, usine_dtype dtype, char transa, char transb,
                          int64_t m, int64_t n, int64_t k, const void *a, int64_t lda,
                          const void *b, int64_t ldb, void *c, int64_t ldc)
{
    const gemm_args g = {transa, transb, m, n, k, lda, ldb, ldc, a, b, c};
    switch (peer->id) {
    case USINE_PEER_OPENBLAS:
        return openblas_gemm(peer, dtype, &g);
    case USINE_PEER_BLIS:
        return blis_gemm(peer, dtype, &g);
    case USINE_PEER_ONEDNN:
        return dtype == USINE_F32 ? onednn_gemm(peer, &g) : -1;
    default:
        return -1;
    }
}
