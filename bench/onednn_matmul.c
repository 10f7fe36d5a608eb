/* oneDNN's matmul primitive, every function taken with dlsym (see onednn_matmul.h); the
 * loading, engine, stream and messages are onednn_lib.h's. */
#include "onednn_matmul.h"

#include <stdio.h>
#include <stdlib.h>

#include "onednn_lib.h"

#define WHO "oneDNN matmul"

int usine_bench_onednn_matmul_load(void *handle, const char *path, char *why, size_t size)
{
    return usine_bench_onednn_load(handle, path, WHO, why, size);
}

#ifndef USINE_BENCH_HAVE_DNNL_HEADER

/* Never reached: the load above failed and said why. */
int usine_bench_onednn_matmul_create(const usine_bench_lowp_gemm *g,
                                     usine_bench_onednn_matmul **out, char *why, size_t size)
{
    (void)g;
    *out = NULL;
    usine_bench_onednn_load(NULL, NULL, WHO, why, size);
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

struct usine_bench_onednn_matmul {
    usine_bench_onednn_prim prim;
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
        return usine_bench_dnnl.memory_desc_init_by_tag(md, 3, dims, dnnl_type(type),
                                                        transposed ? dnnl_acb : dnnl_abc);
    }
    const dnnl_dims_t dims = {rows, cols};
    return usine_bench_dnnl.memory_desc_init_by_tag(md, 2, dims, dnnl_type(type),
                                                    transposed ? dnnl_ba : dnnl_ab);
}

static int check(dnnl_status_t st, const char *call, char *why, size_t size)
{
    return usine_bench_onednn_check(st, WHO, call, why, size);
}

/* The primitive for the shape; 1 when oneDNN has none for it on this CPU. */
static int make_primitive(usine_bench_onednn_prim *p, const usine_bench_lowp_gemm *g, char *why,
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
        check(usine_bench_dnnl.matmul_desc_init(&desc, &src, &weights, NULL, &dst),
              "matmul_desc_init", why, size))
        return -1;
    const int rc = usine_bench_onednn_pd(&p->pd, &desc, p->engine, NULL, WHO, why, size);
    if (rc > 0)
        snprintf(why, size, WHO ": no implementation for this dtype on this CPU");
    if (rc != 0)
        return rc;
    usine_bench_onednn_name(p, "matmul");
    if (check(usine_bench_dnnl.primitive_create(&p->primitive, p->pd), "primitive_create", why,
              size))
        return p->primitive = NULL, -1;
    /* The caller's buffers, as they are: nothing is copied or reordered. */
    void *data[3] = {(void *)g->a, (void *)g->b, g->c};
    const dnnl_memory_desc_t *mds[3] = {&src, &weights, &dst};
    const int arg[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    for (int i = 0; i < 3; i++) {
        if (check(usine_bench_dnnl.memory_create(&p->memory[i], mds[i], p->engine, data[i]),
                  "memory_create", why, size))
            return p->memory[i] = NULL, -1;
        p->args[i] = (dnnl_exec_arg_t){arg[i], p->memory[i]};
    }
    return 0;
}

int usine_bench_onednn_matmul_create(const usine_bench_lowp_gemm *g,
                                     usine_bench_onednn_matmul **out, char *why, size_t size)
{
    usine_bench_onednn_matmul *mm = (usine_bench_onednn_matmul *)calloc(1, sizeof *mm);
    *out = NULL;
    if (!mm) {
        snprintf(why, size, WHO ": out of memory");
        return -1;
    }
    int rc = usine_bench_onednn_open(&mm->prim, WHO, why, size);
    if (rc == 0)
        rc = make_primitive(&mm->prim, g, why, size);
    if (rc != 0) {
        usine_bench_onednn_matmul_destroy(mm);
        return rc;
    }
    *out = mm;
    return 0;
}

int usine_bench_onednn_matmul_run(usine_bench_onednn_matmul *mm)
{
    return usine_bench_onednn_execute(mm->prim.primitive, mm->prim.stream, 3, mm->prim.args);
}

const char *usine_bench_onednn_matmul_impl(const usine_bench_onednn_matmul *mm)
{
    return mm->prim.impl;
}

void usine_bench_onednn_matmul_destroy(usine_bench_onednn_matmul *mm)
{
    if (!mm)
        return;
    usine_bench_onednn_close(&mm->prim);
    free(mm);
}

#endif
