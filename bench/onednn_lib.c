/* What the oneDNN primitive peers share: the function table, engine and stream, the
 * implementation's name, the messages (see onednn_lib.h). */
#include "onednn_lib.h"

#include <dlfcn.h>
#include <stdio.h>

#ifndef USINE_BENCH_HAVE_DNNL_HEADER

int usine_bench_onednn_load(void *handle, const char *path, const char *who, char *why, size_t size)
{
    (void)handle;
    (void)path;
    snprintf(why, size, "%s: built without oneDNN headers (install libdnnl-dev and rebuild)", who);
    return -1;
}

#else

usine_bench_dnnl_api usine_bench_dnnl;

int usine_bench_onednn_load(void *handle, const char *path, const char *who, char *why, size_t size)
{
    /* The matmul peer resolves it in the parent (peers.c), before the children fork. */
    static void *loaded;
    if (handle && handle == loaded)
        return 0;
    usine_bench_dnnl_api api;
#define RESOLVE(name)                                                                              \
    if (!(api.name = (__typeof__(dnnl_##name) *)dlsym(handle, "dnnl_" #name))) {                   \
        snprintf(why, size, "%s: %s has no dnnl_" #name, who, path);                               \
        return -1;                                                                                 \
    }
    USINE_BENCH_DNNL_FUNCTIONS(RESOLVE)
#undef RESOLVE
    /* The descriptor structs of the primitive API changed between major versions (3.0
     * dropped the op descriptors): only the header's major version is safe to call. */
    const dnnl_version_t *v = api.version();
    if (v->major != DNNL_VERSION_MAJOR) {
        snprintf(why, size, "%s: %s is oneDNN %d.%d, built with the header of %d.%d", who, path,
                 v->major, v->minor, DNNL_VERSION_MAJOR, DNNL_VERSION_MINOR);
        return -1;
    }
    usine_bench_dnnl = api;
    loaded = handle;
    return 0;
}

int usine_bench_onednn_check(dnnl_status_t st, const char *who, const char *call, char *why,
                             size_t size)
{
    if (st == dnnl_success)
        return 0;
    snprintf(why, size, "%s: dnnl_%s returned status %d", who, call, (int)st);
    return -1;
}

int usine_bench_onednn_open(usine_bench_onednn_prim *p, const char *who, char *why, size_t size)
{
    if (usine_bench_onednn_check(usine_bench_dnnl.engine_create(&p->engine, dnnl_cpu, 0), who,
                                 "engine_create", why, size))
        return -1;
    return usine_bench_onednn_check(
        usine_bench_dnnl.stream_create(&p->stream, p->engine, dnnl_stream_default_flags), who,
        "stream_create", why, size);
}

int usine_bench_onednn_pd(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t desc,
                          dnnl_engine_t engine, const_dnnl_primitive_desc_t hint, const char *who,
                          char *why, size_t size)
{
    const dnnl_status_t st = usine_bench_dnnl.primitive_desc_create(pd, desc, NULL, engine, hint);
    if (st == dnnl_unimplemented)
        return *pd = NULL, 1;
    if (usine_bench_onednn_check(st, who, "primitive_desc_create", why, size))
        return *pd = NULL, -1;
    return 0;
}

void usine_bench_onednn_name(usine_bench_onednn_prim *p, const char *op)
{
    const char *impl = NULL;
    if (usine_bench_dnnl.primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, (void *)&impl) ==
            dnnl_success &&
        impl)
        snprintf(p->impl, sizeof p->impl, "%s %s", op, impl);
}

int usine_bench_onednn_execute(dnnl_primitive_t primitive, dnnl_stream_t stream, int nargs,
                               const dnnl_exec_arg_t *args)
{
    dnnl_status_t st = usine_bench_dnnl.primitive_execute(primitive, stream, nargs, args);
    if (st == dnnl_success)
        st = usine_bench_dnnl.stream_wait(stream);
    return (int)st;
}

void usine_bench_onednn_close(usine_bench_onednn_prim *p)
{
    for (int i = 0; i < 3; i++)
        if (p->memory[i])
            usine_bench_dnnl.memory_destroy(p->memory[i]);
    if (p->primitive)
        usine_bench_dnnl.primitive_destroy(p->primitive);
    if (p->pd)
        usine_bench_dnnl.primitive_desc_destroy(p->pd);
    if (p->stream)
        usine_bench_dnnl.stream_destroy(p->stream);
    if (p->engine)
        usine_bench_dnnl.engine_destroy(p->engine);
}

#endif
