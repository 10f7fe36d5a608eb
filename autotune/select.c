#include "select.h"

#include <stdio.h>
#include <string.h>

#include "model.h"
#include "topology.h"
#include "../kernels/cpu/gemm/gemm_registry.h"

/* Longest kernel name a forced list may hold. */
#define MAX_NAME 96

/* Calls visit(name, ctx) for each comma-separated name; stops at a non-zero return. */
static int for_each_name(const char *list, int (*visit)(const char *, void *), void *ctx)
{
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[MAX_NAME];
        if (len >= sizeof name)
            len = sizeof name - 1;
        memcpy(name, p, len);
        name[len] = '\0';
        if (len > 0) {
            int r = visit(name, ctx);
            if (r)
                return r;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

typedef struct check_ctx {
    usine_cpu_isa cap;
    char *message;
    size_t size;
} check_ctx;

static int check_name(const char *name, void *vctx)
{
    check_ctx *c = (check_ctx *)vctx;
    const usine_gemm_kernel *k = usine_gemm_kernel_by_name(name);
    if (!k) {
        snprintf(c->message, c->size, "USINE_KERNEL names '%s', which is not a usine kernel", name);
        return USINE_SELECT_UNKNOWN_NAME;
    }
    if (k->isa > c->cap) {
        snprintf(c->message, c->size,
                 "USINE_KERNEL names '%s', which needs %s; this CPU (or "
                 "USINE_CPU_ISA) allows %s",
                 name, usine_cpu_isa_name(k->isa), usine_cpu_isa_name(c->cap));
        return USINE_SELECT_ISA_TOO_HIGH;
    }
    return 0;
}

usine_select_error usine_select_check_forced(const char *forced, usine_cpu_isa cap, char *message,
                                             size_t size)
{
    check_ctx c = {cap, message, size};
    return (usine_select_error)for_each_name(forced, check_name, &c);
}

typedef struct find_ctx {
    usine_dtype dtype;
    const usine_gemm_kernel *found;
} find_ctx;

static int find_for_dtype(const char *name, void *vctx)
{
    find_ctx *f = (find_ctx *)vctx;
    const usine_gemm_kernel *k = usine_gemm_kernel_by_name(name);
    if (k && k->dtype == f->dtype) {
        f->found = k;
        return 1;
    }
    return 0;
}

usine_select_error usine_select_gemm(usine_dtype dtype, usine_cpu_isa cap, const char *forced,
                                     usine_gemm_choice *choice, char *message, size_t size)
{
    usine_select_error err = usine_select_check_forced(forced, cap, message, size);
    if (err)
        return err;
    find_ctx f = {dtype, NULL};
    for_each_name(forced, find_for_dtype, &f);
    choice->rule = "forced by USINE_KERNEL";
    for (const usine_gemm_kernel *const *k = usine_gemm_registry; !f.found && *k; k++) {
        if ((*k)->dtype == dtype && (*k)->isa <= cap) {
            f.found = *k;
            choice->rule = "model";
        }
    }
    if (!f.found) {
        snprintf(message, size, "no GEMM kernel for this dtype");
        return USINE_SELECT_NO_KERNEL;
    }
    choice->kernel = f.found;
    choice->blocking = usine_model_gemm_blocking(usine_topology_get(), f.found);
    return USINE_SELECT_OK;
}
