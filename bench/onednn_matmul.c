/* oneDNN's matmul primitive, every function taken with dlsym (see onednn_matmul.h). */
#include "onednn_matmul.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The header is needed only for the types and constants of the primitive API; a build
 * without it keeps the f32 peer (dnnl_sgemm, declared by hand in peers.c) and skips this
 * one by name. */
#if defined(__has_include)
#if __has_include(<oneapi/dnnl/dnnl.h>)
#define HAVE_DNNL_HEADER 1
#endif
#endif

#ifndef HAVE_DNNL_HEADER

#define NO_HEADER "oneDNN matmul: built without oneDNN headers (install libdnnl-dev and rebuild)"

int usine_bench_onednn_matmul_load(void *handle, const char *path, char *why, size_t size)
{
    (void)handle;
    (void)path;
    snprintf(why, size, "%s", NO_HEADER);
    return -1;
}

int usine_bench_onednn_matmul_create(const usine_bench_lowp_gemm *g,
                                     usine_bench_onednn_matmul **out, char *why, size_t size)
{
    (void)g;
    *out = NULL;
    snprintf(why, size, "%s", NO_HEADER);
    return 1;
}

int usine_bench_onednn_matmul_run(usine_bench_onednn_matmul *mm)
{
    (void)mm;
    return -1;
}

const char *usine_bench_onednn_matmul_impl(const usine_bench_onednn_matmul *mm)
{
    (void)mm;
    return "";
}

void usine_bench_onednn_matmul_destroy(usine_bench_onednn_matmul *mm)
{
    (void)mm;
}

#else

#include <oneapi/dnnl/dnnl.h>

/* The functions used, dnnl_ prefix left off; dnnl_version first, so that a library of
 * another major version is named as such rather than by the first symbol it lacks. */
#define DNNL_FUNCTIONS(X)                                                                          \
    X(version)                                                                                     \
    X(engine_create)                                                                               \
    X(engine_destroy)                                                                              \
    X(stream_create)                                                                               \
    X(stream_wait)                                                                                 \
    X(stream_destroy)                                                                              \
    X(memory_desc_init_by_tag)                                                                     \
    X(matmul_desc_init)                                                                            \
    X(primitive_desc_create)                                                                       \
    X(primitive_desc_query)                                                                        \
    X(primitive_desc_destroy)                                                                      \
    X(primitive_create)                                                                            \
    X(primitive_execute)                                                                           \
    X(primitive_destroy)                                                                           \
    X(memory_create)                                                                               \
    X(memory_destroy)

/* Pointers typed from the header's own declarations: a wrong argument is a compile
 * error here, not a crash in a child. */
static struct dnnl_api {
#define API_FIELD(name) __typeof__(dnnl_##name) *name;
    DNNL_FUNCTIONS(API_FIELD)
#undef API_FIELD
} api;

int usine_bench_onednn_matmul_load(void *handle, const char *path, char *why, size_t size)
{
#define API_RESOLVE(name)                                                                          \
    if (!(api.name = (__typeof__(dnnl_##name) *)dlsym(handle, "dnnl_" #name))) {                   \
        snprintf(why, size, "oneDNN matmul: %s has no dnnl_" #name, path);                         \
        return -1;                                                                                 \
    }
    DNNL_FUNCTIONS(API_RESOLVE)
#undef API_RESOLVE
    /* The descriptor structs of the primitive API changed between major versions (3.0
     * dropped the op descriptors): only the header's major version is safe to call. */
    const dnnl_version_t *v = api.version();
    if (v->major != DNNL_VERSION_MAJOR) {
        snprintf(why, size, "oneDNN matmul: %s is oneDNN %d.%d, built with the header of %d.%d",
                 path, v->major, v->minor, DNNL_VERSION_MAJOR, DNNL_VERSION_MINOR);
        return -1;
    }
    return 0;
}

struct usine_bench_onednn_matmul {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t primitive;
    dnnl_memory_t memory[3];
    dnnl_exec_arg_t args[3];
    char impl[96];
};

static dnnl_data_type_t dnnl_type(usine_dtype t)
{
    switch (t) {
    case USINE_F32:
        return dnnl_f32;
    case USINE_BF16:
        return dnnl_bf16;
    case USINE_U8:
        return dnnl_u8;
    case USINE_S8:
        return dnnl_s8;
    case USINE_S32:
        return dnnl_s32;
    default:
        return dnnl_data_type_undef;
    }
}

/* A row-major rows x cols operand (a stack of `batch` of them): tag ab, or ba when it is
 * stored transposed (cols x rows). */
static dnnl_status_t describe(dnnl_memory_desc_t *md, int64_t batch, int64_t rows, int64_t cols,
                              usine_dtype type, int transposed)
{
    if (batch > 1) {
        const dnnl_dims_t dims = {batch, rows, cols};
        return api.memory_desc_init_by_tag(md, 3, dims, dnnl_type(type),
                                           transposed ? dnnl_acb : dnnl_abc);
    }
    const dnnl_dims_t dims = {rows, cols};
    return api.memory_desc_init_by_tag(md, 2, dims, dnnl_type(type),
                                       transposed ? dnnl_ba : dnnl_ab);
}

/* 0, or -1 with a message naming the call that failed. */
static int check(dnnl_status_t st, const char *call, char *why, size_t size)
{
    if (st == dnnl_success)
        return 0;
    snprintf(why, size, "oneDNN matmul: dnnl_%s returned status %d", call, (int)st);
    return -1;
}

/* The primitive for the shape; 1 when oneDNN has none for it on this CPU. */
static int make_primitive(usine_bench_onednn_matmul *mm, const usine_bench_lowp_gemm *g, char *why,
                          size_t size)
{
    dnnl_memory_desc_t src, weights, dst;
    dnnl_matmul_desc_t desc;
    if (check(describe(&src, g->batch, g->m, g->k, g->a_type, g->transa == 'T'),
              "memory_desc_init_by_tag", why, size) ||
        check(describe(&weights, g->batch, g->k, g->n, g->b_type, g->transb == 'T'),
              "memory_desc_init_by_tag", why, size) ||
        check(describe(&dst, g->batch, g->m, g->n, g->c_type, 0), "memory_desc_init_by_tag", why,
              size) ||
        check(api.matmul_desc_init(&desc, &src, &weights, NULL, &dst), "matmul_desc_init", why,
              size))
        return -1;
    const dnnl_status_t st = api.primitive_desc_create(&mm->pd, &desc, NULL, mm->engine, NULL);
    if (st == dnnl_unimplemented) {
        mm->pd = NULL;
        snprintf(why, size, "oneDNN matmul: no implementation for this dtype on this CPU");
        return 1;
    }
    if (check(st, "primitive_desc_create", why, size))
        return mm->pd = NULL, -1;
    const char *impl = NULL;
    if (api.primitive_desc_query(mm->pd, dnnl_query_impl_info_str, 0, (void *)&impl) ==
            dnnl_success &&
        impl)
        snprintf(mm->impl, sizeof mm->impl, "matmul %s", impl);
    if (check(api.primitive_create(&mm->primitive, mm->pd), "primitive_create", why, size))
        return mm->primitive = NULL, -1;
    /* The caller's buffers, as they are: nothing is copied or reordered. */
    void *data[3] = {(void *)g->a, (void *)g->b, g->c};
    const dnnl_memory_desc_t *mds[3] = {&src, &weights, &dst};
    const int arg[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    for (int i = 0; i < 3; i++) {
        if (check(api.memory_create(&mm->memory[i], mds[i], mm->engine, data[i]), "memory_create",
                  why, size))
            return mm->memory[i] = NULL, -1;
        mm->args[i] = (dnnl_exec_arg_t){arg[i], mm->memory[i]};
    }
    return 0;
}

int usine_bench_onednn_matmul_create(const usine_bench_lowp_gemm *g,
                                     usine_bench_onednn_matmul **out, char *why, size_t size)
{
    usine_bench_onednn_matmul *mm = (usine_bench_onednn_matmul *)calloc(1, sizeof *mm);
    *out = NULL;
    if (!mm) {
        snprintf(why, size, "oneDNN matmul: out of memory");
        return -1;
    }
    int rc = check(api.engine_create(&mm->engine, dnnl_cpu, 0), "engine_create", why, size);
    if (rc == 0)
        rc = check(api.stream_create(&mm->stream, mm->engine, dnnl_stream_default_flags),
                   "stream_create", why, size);
    if (rc == 0)
        rc = make_primitive(mm, g, why, size);
    if (rc != 0) {
        usine_bench_onednn_matmul_destroy(mm);
        return rc;
    }
    *out = mm;
    return 0;
}

int usine_bench_onednn_matmul_run(usine_bench_onednn_matmul *mm)
{
    dnnl_status_t st = api.primitive_execute(mm->primitive, mm->stream, 3, mm->args);
    if (st == dnnl_success)
        st = api.stream_wait(mm->stream);
    return (int)st;
}

const char *usine_bench_onednn_matmul_impl(const usine_bench_onednn_matmul *mm)
{
    return mm->impl;
}

void usine_bench_onednn_matmul_destroy(usine_bench_onednn_matmul *mm)
{
    if (!mm)
        return;
    for (int i = 0; i < 3; i++)
        if (mm->memory[i])
            api.memory_destroy(mm->memory[i]);
    if (mm->primitive)
        api.primitive_destroy(mm->primitive);
    if (mm->pd)
        api.primitive_desc_destroy(mm->pd);
    if (mm->stream)
        api.stream_destroy(mm->stream);
    if (mm->engine)
        api.engine_destroy(mm->engine);
    free(mm);
}

#endif
