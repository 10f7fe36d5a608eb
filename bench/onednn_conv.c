/* oneDNN's convolution primitive, every function taken with dlsym (see onednn_conv.h). */
#include "onednn_conv.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* As in onednn_matmul.c: the header gives the types and constants only. */
#if defined(__has_include)
#if __has_include(<oneapi/dnnl/dnnl.h>)
#define HAVE_DNNL_HEADER 1
#endif
#endif

#ifndef HAVE_DNNL_HEADER

#define NO_HEADER "oneDNN convolution: built without oneDNN headers (install libdnnl-dev)"

int usine_bench_onednn_conv_load(void *handle, const char *path, char *why, size_t size)
{
    (void)handle;
    (void)path;
    snprintf(why, size, "%s", NO_HEADER);
    return -1;
}

int usine_bench_onednn_conv_create(const usine_bench_case *c, const void *in0, const void *in1,
                                   void *out, usine_bench_onednn_conv **conv, char *why,
                                   size_t size)
{
    (void)c;
    (void)in0;
    (void)in1;
    (void)out;
    *conv = NULL;
    snprintf(why, size, "%s", NO_HEADER);
    return 1;
}

int usine_bench_onednn_conv_run(usine_bench_onednn_conv *conv)
{
    (void)conv;
    return -1;
}

int usine_bench_onednn_conv_finish(usine_bench_onednn_conv *conv)
{
    (void)conv;
    return -1;
}

const char *usine_bench_onednn_conv_impl(const usine_bench_onednn_conv *conv)
{
    (void)conv;
    return "";
}

void usine_bench_onednn_conv_destroy(usine_bench_onednn_conv *conv)
{
    (void)conv;
}

#else

#include <oneapi/dnnl/dnnl.h>

/* The functions used, dnnl_ prefix left off; dnnl_version first (see onednn_matmul.c). */
#define DNNL_FUNCTIONS(X)                                                                          \
    X(version)                                                                                     \
    X(engine_create)                                                                               \
    X(engine_destroy)                                                                              \
    X(stream_create)                                                                               \
    X(stream_wait)                                                                                 \
    X(stream_destroy)                                                                              \
    X(memory_desc_init_by_tag)                                                                     \
    X(dilated_convolution_forward_desc_init)                                                       \
    X(dilated_convolution_backward_data_desc_init)                                                 \
    X(dilated_convolution_backward_weights_desc_init)                                              \
    X(primitive_desc_create)                                                                       \
    X(primitive_desc_query)                                                                        \
    X(primitive_desc_query_md)                                                                     \
    X(primitive_desc_destroy)                                                                      \
    X(memory_desc_equal)                                                                           \
    X(reorder_primitive_desc_create)                                                               \
    X(primitive_create)                                                                            \
    X(primitive_execute)                                                                           \
    X(primitive_destroy)                                                                           \
    X(memory_create)                                                                               \
    X(memory_destroy)

static struct dnnl_conv_api {
#define API_FIELD(name) __typeof__(dnnl_##name) *name;
    DNNL_FUNCTIONS(API_FIELD)
#undef API_FIELD
} api;

int usine_bench_onednn_conv_load(void *handle, const char *path, char *why, size_t size)
{
#define API_RESOLVE(name)                                                                          \
    if (!(api.name = (__typeof__(dnnl_##name) *)dlsym(handle, "dnnl_" #name))) {                   \
        snprintf(why, size, "oneDNN convolution: %s has no dnnl_" #name, path);                    \
        return -1;                                                                                 \
    }
    DNNL_FUNCTIONS(API_RESOLVE)
#undef API_RESOLVE
    const dnnl_version_t *v = api.version();
    if (v->major != DNNL_VERSION_MAJOR) {
        snprintf(why, size,
                 "oneDNN convolution: %s is oneDNN %d.%d, built with the header of %d.%d", path,
                 v->major, v->minor, DNNL_VERSION_MAJOR, DNNL_VERSION_MINOR);
        return -1;
    }
    return 0;
}

/* The memory descriptors of a case: x [n, c, h, w] as nhwc; the filters w as oneDNN likes
 * them best (format "any": its blocked layout) and as the caller stores them (w_user: ohwi,
 * gohwi with groups); y [n, k, p, q] as nhwc; each in its own dtype; and the geometry in
 * oneDNN's terms. */
typedef struct conv_mds {
    dnnl_memory_desc_t x, w, w_user, y;
    dnnl_dims_t strides, dilates, pad_l, pad_r;
} conv_mds;

/* A reorder between the caller's filters and oneDNN's: made and run once before the timed
 * calls for forward and backward data (as a framework keeps reordered weights), once after
 * them for the dw of backward weights (so that it can be compared). */
typedef struct conv_reorder {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t primitive;
    dnnl_memory_t blocked, user;
} conv_reorder;

struct usine_bench_onednn_conv {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_desc_t pd, hint;
    dnnl_primitive_t primitive;
    conv_mds mds;
    conv_reorder reorder;
    dnnl_memory_t memory[3];
    dnnl_exec_arg_t args[3];
    char impl[96];
};

static int64_t out_extent(int64_t in, int64_t pad, int64_t dil, int64_t f, int64_t stride)
{
    return (in + 2 * pad - dil * (f - 1) - 1) / stride + 1;
}

static dnnl_status_t describe(const usine_bench_conv *v, dnnl_data_type_t tx, dnnl_data_type_t tw,
                              dnnl_data_type_t ty, conv_mds *m)
{
    const int64_t p = out_extent(v->h, v->pad_h, v->dil_h, v->r, v->stride_h);
    const int64_t q = out_extent(v->w, v->pad_w, v->dil_w, v->s, v->stride_w);
    const dnnl_dims_t xd = {v->n, v->c, v->h, v->w}, yd = {v->n, v->k, p, q};
    const dnnl_dims_t wd = {v->k, v->c / v->groups, v->r, v->s};
    const dnnl_dims_t gwd = {v->groups, v->k / v->groups, v->c / v->groups, v->r, v->s};
    memset(m, 0, sizeof *m);
    m->strides[0] = v->stride_h;
    m->strides[1] = v->stride_w;
    m->dilates[0] = v->dil_h - 1; /* oneDNN counts dilation from 0 (dense) */
    m->dilates[1] = v->dil_w - 1;
    m->pad_l[0] = m->pad_r[0] = v->pad_h;
    m->pad_l[1] = m->pad_r[1] = v->pad_w;
    dnnl_status_t st = api.memory_desc_init_by_tag(&m->x, 4, xd, tx, dnnl_nhwc);
    if (st == dnnl_success)
        st = v->groups > 1 ? api.memory_desc_init_by_tag(&m->w_user, 5, gwd, tw, dnnl_gohwi)
                           : api.memory_desc_init_by_tag(&m->w_user, 4, wd, tw, dnnl_ohwi);
    if (st == dnnl_success)
        st = v->groups > 1 ? api.memory_desc_init_by_tag(&m->w, 5, gwd, tw, dnnl_format_tag_any)
                           : api.memory_desc_init_by_tag(&m->w, 4, wd, tw, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = api.memory_desc_init_by_tag(&m->y, 4, yd, ty, dnnl_nhwc);
    return st;
}

static int check(dnnl_status_t st, const char *call, char *why, size_t size)
{
    if (st == dnnl_success)
        return 0;
    snprintf(why, size, "oneDNN convolution: dnnl_%s returned status %d", call, (int)st);
    return -1;
}

/* A primitive descriptor of `desc`; 1 (and why) when oneDNN has no implementation. */
static int make_pd(dnnl_primitive_desc_t *pd, const dnnl_convolution_desc_t *desc,
                   dnnl_engine_t engine, const_dnnl_primitive_desc_t hint, const char *what,
                   char *why, size_t size)
{
    const dnnl_status_t st = api.primitive_desc_create(pd, desc, NULL, engine, hint);
    if (st == dnnl_unimplemented) {
        *pd = NULL;
        snprintf(why, size, "oneDNN convolution: no %s implementation for this case on this CPU",
                 what);
        return 1;
    }
    if (check(st, "primitive_desc_create", why, size))
        return *pd = NULL, -1;
    return 0;
}

static int forward_desc(dnnl_convolution_desc_t *d, dnnl_prop_kind_t kind, const conv_mds *m,
                        char *why, size_t size)
{
    return check(api.dilated_convolution_forward_desc_init(d, kind, dnnl_convolution_direct, &m->x,
                                                           &m->w, NULL, &m->y, m->strides,
                                                           m->dilates, m->pad_l, m->pad_r),
                 "dilated_convolution_forward_desc_init", why, size);
}

/* The backward passes take a forward training descriptor as their hint (inputs and output
 * all in the line's dtype, as a framework's forward would be). */
static int make_hint(usine_bench_onednn_conv *cv, const usine_bench_case *c, char *why, size_t size)
{
    const dnnl_data_type_t t = c->dtype == USINE_BF16 ? dnnl_bf16 : dnnl_f32;
    conv_mds m;
    dnnl_convolution_desc_t fwd;
    if (check(describe(&c->conv, t, t, t, &m), "memory_desc_init_by_tag", why, size) ||
        forward_desc(&fwd, dnnl_forward_training, &m, why, size))
        return -1;
    return make_pd(&cv->hint, &fwd, cv->engine, NULL, "forward (the backward's hint)", why, size);
}

/* The pass's descriptor: the inputs in the line's dtype, the output in f32. */
static int make_primitive_desc(usine_bench_onednn_conv *cv, const usine_bench_case *c, char *why,
                               size_t size)
{
    const usine_bench_conv *v = &c->conv;
    const dnnl_data_type_t in = c->dtype == USINE_BF16 ? dnnl_bf16 : dnnl_f32, out = dnnl_f32;
    conv_mds *m = &cv->mds;
    static const char *const what[3] = {"forward", "backward data", "backward weights"};
    if (check(describe(v, v->pass == 1 ? out : in, v->pass == 2 ? out : in, v->pass == 0 ? out : in,
                       m),
              "memory_desc_init_by_tag", why, size))
        return -1;
    dnnl_convolution_desc_t d;
    int rc = 0;
    if (v->pass == 0)
        rc = forward_desc(&d, dnnl_forward_inference, m, why, size);
    else if ((rc = make_hint(cv, c, why, size)) == 0 && v->pass == 1)
        rc = check(api.dilated_convolution_backward_data_desc_init(&d, dnnl_convolution_direct,
                                                                   &m->x, &m->w, &m->y, m->strides,
                                                                   m->dilates, m->pad_l, m->pad_r),
                   "dilated_convolution_backward_data_desc_init", why, size);
    else if (rc == 0)
        rc = check(api.dilated_convolution_backward_weights_desc_init(
                       &d, dnnl_convolution_direct, &m->x, &m->w, NULL, &m->y, m->strides,
                       m->dilates, m->pad_l, m->pad_r),
                   "dilated_convolution_backward_weights_desc_init", why, size);
    if (rc != 0)
        return rc;
    return make_pd(&cv->pd, &d, cv->engine, cv->hint, what[v->pass], why, size);
}

static int run_reorder(usine_bench_onednn_conv *cv, int to_user)
{
    conv_reorder *r = &cv->reorder;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, to_user ? r->blocked : r->user},
                               {DNNL_ARG_TO, to_user ? r->user : r->blocked}};
    dnnl_status_t st = api.primitive_execute(r->primitive, cv->stream, 2, args);
    if (st == dnnl_success)
        st = api.stream_wait(cv->stream);
    return (int)st;
}

/* The filters (dw in backward weights) in the layout the primitive chose: the caller's
 * buffer itself when it is plain, else oneDNN's own buffer and a reorder, run now for the
 * filters the pass reads. Returns the memory to bind, NULL on error (why set). */
static dnnl_memory_t filters(usine_bench_onednn_conv *cv, int pass, void *user, char *why,
                             size_t size)
{
    const dnnl_memory_desc_t *chosen = api.primitive_desc_query_md(
        cv->pd, pass == 2 ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
    conv_reorder *r = &cv->reorder;
    dnnl_memory_t m = NULL;
    if (!chosen || api.memory_desc_equal(chosen, &cv->mds.w_user)) {
        if (check(api.memory_create(&m, &cv->mds.w_user, cv->engine, user), "memory_create", why,
                  size))
            return NULL;
        return r->user = m;
    }
    const dnnl_memory_desc_t *from = pass == 2 ? chosen : &cv->mds.w_user;
    const dnnl_memory_desc_t *to = pass == 2 ? &cv->mds.w_user : chosen;
    if (check(api.memory_create(&r->user, &cv->mds.w_user, cv->engine, user), "memory_create", why,
              size) ||
        check(api.memory_create(&r->blocked, chosen, cv->engine, DNNL_MEMORY_ALLOCATE),
              "memory_create", why, size) ||
        check(api.reorder_primitive_desc_create(&r->pd, from, cv->engine, to, cv->engine, NULL),
              "reorder_primitive_desc_create", why, size) ||
        check(api.primitive_create(&r->primitive, r->pd), "primitive_create", why, size) ||
        (pass != 2 && check((dnnl_status_t)run_reorder(cv, 0), "reorder", why, size)))
        return NULL;
    return r->blocked;
}

/* The memory objects on the caller's buffers, in the order of the pass's arguments: what it
 * reads (in0, in1), then what it writes; the filters through filters(). */
static int bind(usine_bench_onednn_conv *cv, int pass, void *const data[3], char *why, size_t size)
{
    static const int args[3][3] = {
        {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
        {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC},
        {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS},
    };
    const conv_mds *m = &cv->mds;
    const dnnl_memory_desc_t *mds[3][3] = {
        {&m->x, &m->w, &m->y}, {&m->y, &m->w, &m->x}, {&m->x, &m->y, &m->w}};
    for (int i = 0; i < 3; i++) {
        const int is_filters = mds[pass][i] == &m->w;
        dnnl_memory_t mem = NULL;
        if (is_filters && !(mem = filters(cv, pass, data[i], why, size)))
            return -1;
        if (!is_filters &&
            check(api.memory_create(&cv->memory[i], mds[pass][i], cv->engine, data[i]),
                  "memory_create", why, size))
            return cv->memory[i] = NULL, -1;
        cv->args[i] = (dnnl_exec_arg_t){args[pass][i], is_filters ? mem : cv->memory[i]};
    }
    return 0;
}

int usine_bench_onednn_conv_create(const usine_bench_case *c, const void *in0, const void *in1,
                                   void *out, usine_bench_onednn_conv **conv, char *why,
                                   size_t size)
{
    usine_bench_onednn_conv *cv = (usine_bench_onednn_conv *)calloc(1, sizeof *cv);
    *conv = NULL;
    if (!cv) {
        snprintf(why, size, "oneDNN convolution: out of memory");
        return -1;
    }
    void *const data[3] = {(void *)in0, (void *)in1, out};
    int rc = check(api.engine_create(&cv->engine, dnnl_cpu, 0), "engine_create", why, size);
    if (rc == 0)
        rc = check(api.stream_create(&cv->stream, cv->engine, dnnl_stream_default_flags),
                   "stream_create", why, size);
    if (rc == 0)
        rc = make_primitive_desc(cv, c, why, size);
    if (rc == 0)
        rc = check(api.primitive_create(&cv->primitive, cv->pd), "primitive_create", why, size);
    if (rc == 0)
        rc = bind(cv, c->conv.pass, data, why, size);
    if (rc != 0) {
        usine_bench_onednn_conv_destroy(cv);
        return rc;
    }
    const char *impl = NULL;
    if (api.primitive_desc_query(cv->pd, dnnl_query_impl_info_str, 0, (void *)&impl) ==
            dnnl_success &&
        impl)
        snprintf(cv->impl, sizeof cv->impl, "convolution %s", impl);
    *conv = cv;
    return 0;
}

int usine_bench_onednn_conv_run(usine_bench_onednn_conv *conv)
{
    dnnl_status_t st = api.primitive_execute(conv->primitive, conv->stream, 3, conv->args);
    if (st == dnnl_success)
        st = api.stream_wait(conv->stream);
    return (int)st;
}

int usine_bench_onednn_conv_finish(usine_bench_onednn_conv *conv)
{
    return conv->reorder.primitive && conv->reorder.blocked &&
                   conv->args[2].memory == conv->reorder.blocked
               ? run_reorder(conv, 1)
               : 0;
}

const char *usine_bench_onednn_conv_impl(const usine_bench_onednn_conv *conv)
{
    return conv->impl;
}

void usine_bench_onednn_conv_destroy(usine_bench_onednn_conv *conv)
{
    if (!conv)
        return;
    for (int i = 0; i < 3; i++)
        if (conv->memory[i])
            api.memory_destroy(conv->memory[i]);
    conv_reorder *r = &conv->reorder;
    if (r->primitive)
        api.primitive_destroy(r->primitive);
    if (r->pd)
        api.primitive_desc_destroy(r->pd);
    if (r->blocked)
        api.memory_destroy(r->blocked);
    if (r->user)
        api.memory_destroy(r->user);
    if (conv->primitive)
        api.primitive_destroy(conv->primitive);
    if (conv->pd)
        api.primitive_desc_destroy(conv->pd);
    if (conv->hint)
        api.primitive_desc_destroy(conv->hint);
    if (conv->stream)
        api.stream_destroy(conv->stream);
    if (conv->engine)
        api.engine_destroy(conv->engine);
    free(conv);
}

#endif
