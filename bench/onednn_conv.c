/* oneDNN's convolution primitive, every function taken with dlsym (see onednn_conv.h); the
 * loading, engine, stream and messages are onednn_lib.h's. */
#include "onednn_conv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onednn_lib.h"

#define WHO "oneDNN convolution"

int usine_bench_onednn_conv_load(void *handle, const char *path, char *why, size_t size)
{
    return usine_bench_onednn_load(handle, path, WHO, why, size);
}

#ifndef USINE_BENCH_HAVE_DNNL_HEADER

/* Never reached: the load above failed and said why. */
int usine_bench_onednn_conv_create(const usine_bench_case *c, const void *in0, const void *in1,
                                   void *out, usine_bench_onednn_conv **conv, char *why,
                                   size_t size)
{
    (void)c;
    (void)in0;
    (void)in1;
    (void)out;
    *conv = NULL;
    usine_bench_onednn_load(NULL, NULL, WHO, why, size);
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

/* The pass's primitive (its filters argument bound to the reorder's memory, or to memory of
 * its own when plain), the forward hint of the backward passes, the descriptors and the
 * filters' reorder. */
struct usine_bench_onednn_conv {
    usine_bench_onednn_prim prim;
    dnnl_primitive_desc_t hint;
    conv_mds mds;
    conv_reorder reorder;
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
    dnnl_status_t st = usine_bench_dnnl.memory_desc_init_by_tag(&m->x, 4, xd, tx, dnnl_nhwc);
    if (st == dnnl_success)
        st = v->groups > 1
                 ? usine_bench_dnnl.memory_desc_init_by_tag(&m->w_user, 5, gwd, tw, dnnl_gohwi)
                 : usine_bench_dnnl.memory_desc_init_by_tag(&m->w_user, 4, wd, tw, dnnl_ohwi);
    if (st == dnnl_success)
        st = v->groups > 1
                 ? usine_bench_dnnl.memory_desc_init_by_tag(&m->w, 5, gwd, tw, dnnl_format_tag_any)
                 : usine_bench_dnnl.memory_desc_init_by_tag(&m->w, 4, wd, tw, dnnl_format_tag_any);
    if (st == dnnl_success)
        st = usine_bench_dnnl.memory_desc_init_by_tag(&m->y, 4, yd, ty, dnnl_nhwc);
    return st;
}

static int check(dnnl_status_t st, const char *call, char *why, size_t size)
{
    return usine_bench_onednn_check(st, WHO, call, why, size);
}

/* A primitive descriptor of `desc`; 1 (and why) when oneDNN has no implementation. */
static int make_pd(dnnl_primitive_desc_t *pd, const dnnl_convolution_desc_t *desc,
                   dnnl_engine_t engine, const_dnnl_primitive_desc_t hint, const char *what,
                   char *why, size_t size)
{
    const int rc = usine_bench_onednn_pd(pd, desc, engine, hint, WHO, why, size);
    if (rc > 0)
        snprintf(why, size, WHO ": no %s implementation for this case on this CPU", what);
    return rc;
}

static int forward_desc(dnnl_convolution_desc_t *d, dnnl_prop_kind_t kind, const conv_mds *m,
                        char *why, size_t size)
{
    return check(usine_bench_dnnl.dilated_convolution_forward_desc_init(
                     d, kind, dnnl_convolution_direct, &m->x, &m->w, NULL, &m->y, m->strides,
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
    return make_pd(&cv->hint, &fwd, cv->prim.engine, NULL, "forward (the backward's hint)", why,
                   size);
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
        rc = check(usine_bench_dnnl.dilated_convolution_backward_data_desc_init(
                       &d, dnnl_convolution_direct, &m->x, &m->w, &m->y, m->strides, m->dilates,
                       m->pad_l, m->pad_r),
                   "dilated_convolution_backward_data_desc_init", why, size);
    else if (rc == 0)
        rc = check(usine_bench_dnnl.dilated_convolution_backward_weights_desc_init(
                       &d, dnnl_convolution_direct, &m->x, &m->w, NULL, &m->y, m->strides,
                       m->dilates, m->pad_l, m->pad_r),
                   "dilated_convolution_backward_weights_desc_init", why, size);
    if (rc != 0)
        return rc;
    return make_pd(&cv->prim.pd, &d, cv->prim.engine, cv->hint, what[v->pass], why, size);
}

static int run_reorder(usine_bench_onednn_conv *cv, int to_user)
{
    conv_reorder *r = &cv->reorder;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, to_user ? r->blocked : r->user},
                               {DNNL_ARG_TO, to_user ? r->user : r->blocked}};
    return usine_bench_onednn_execute(r->primitive, cv->prim.stream, 2, args);
}

/* The filters (dw in backward weights) in the layout the primitive chose: the caller's
 * buffer itself when it is plain, else oneDNN's own buffer and a reorder, run now for the
 * filters the pass reads. Returns the memory to bind, NULL on error (why set). */
static dnnl_memory_t filters(usine_bench_onednn_conv *cv, int pass, void *user, char *why,
                             size_t size)
{
    const dnnl_memory_desc_t *chosen = usine_bench_dnnl.primitive_desc_query_md(
        cv->prim.pd, pass == 2 ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
    conv_reorder *r = &cv->reorder;
    dnnl_memory_t m = NULL;
    if (!chosen || usine_bench_dnnl.memory_desc_equal(chosen, &cv->mds.w_user)) {
        if (check(usine_bench_dnnl.memory_create(&m, &cv->mds.w_user, cv->prim.engine, user),
                  "memory_create", why, size))
            return NULL;
        return r->user = m;
    }
    const dnnl_memory_desc_t *from = pass == 2 ? chosen : &cv->mds.w_user;
    const dnnl_memory_desc_t *to = pass == 2 ? &cv->mds.w_user : chosen;
    if (check(usine_bench_dnnl.memory_create(&r->user, &cv->mds.w_user, cv->prim.engine, user),
              "memory_create", why, size) ||
        check(usine_bench_dnnl.memory_create(&r->blocked, chosen, cv->prim.engine,
                                             DNNL_MEMORY_ALLOCATE),
              "memory_create", why, size) ||
        check(usine_bench_dnnl.reorder_primitive_desc_create(&r->pd, from, cv->prim.engine, to,
                                                             cv->prim.engine, NULL),
              "reorder_primitive_desc_create", why, size) ||
        check(usine_bench_dnnl.primitive_create(&r->primitive, r->pd), "primitive_create", why,
              size) ||
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
        if (!is_filters && check(usine_bench_dnnl.memory_create(&cv->prim.memory[i], mds[pass][i],
                                                                cv->prim.engine, data[i]),
                                 "memory_create", why, size))
            return cv->prim.memory[i] = NULL, -1;
        cv->prim.args[i] = (dnnl_exec_arg_t){args[pass][i], is_filters ? mem : cv->prim.memory[i]};
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
        snprintf(why, size, WHO ": out of memory");
        return -1;
    }
    void *const data[3] = {(void *)in0, (void *)in1, out};
    int rc = usine_bench_onednn_open(&cv->prim, WHO, why, size);
    if (rc == 0)
        rc = make_primitive_desc(cv, c, why, size);
    if (rc == 0)
        rc = check(usine_bench_dnnl.primitive_create(&cv->prim.primitive, cv->prim.pd),
                   "primitive_create", why, size);
    if (rc == 0)
        rc = bind(cv, c->conv.pass, data, why, size);
    if (rc != 0) {
        usine_bench_onednn_conv_destroy(cv);
        return rc;
    }
    usine_bench_onednn_name(&cv->prim, "convolution");
    *conv = cv;
    return 0;
}

int usine_bench_onednn_conv_run(usine_bench_onednn_conv *conv)
{
    return usine_bench_onednn_execute(conv->prim.primitive, conv->prim.stream, 3, conv->prim.args);
}

int usine_bench_onednn_conv_finish(usine_bench_onednn_conv *conv)
{
    return conv->reorder.primitive && conv->reorder.blocked &&
                   conv->prim.args[2].memory == conv->reorder.blocked
               ? run_reorder(conv, 1)
               : 0;
}

const char *usine_bench_onednn_conv_impl(const usine_bench_onednn_conv *conv)
{
    return conv->prim.impl;
}

void usine_bench_onednn_conv_destroy(usine_bench_onednn_conv *conv)
{
    if (!conv)
        return;
    conv_reorder *r = &conv->reorder;
    if (r->primitive)
        usine_bench_dnnl.primitive_destroy(r->primitive);
    if (r->pd)
        usine_bench_dnnl.primitive_desc_destroy(r->pd);
    if (r->blocked)
        usine_bench_dnnl.memory_destroy(r->blocked);
    if (r->user)
        usine_bench_dnnl.memory_destroy(r->user);
    if (conv->hint)
        usine_bench_dnnl.primitive_desc_destroy(conv->hint);
    usine_bench_onednn_close(&conv->prim);
    free(conv);
}

#endif
