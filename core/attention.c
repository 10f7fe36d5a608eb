/* The attention entry points: argument checks, then the CPU driver, or on a CUDA context the
 * CUDA kernels (kernels/cuda/cuda_runtime.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "context.h"
#include "status.h"
#include "workspace.h"
#include "../autotune/attention_tune.h"
#include "../autotune/topology.h"
#include "../kernels/cpu/attention/attention_driver.h"

static const char *const FN = "usine_attention_forward";
static const char *const FN_BWD = "usine_attention_backward";

usine_status usine_attention_desc_init(usine_attention_desc *desc)
{
    usine_clear_error();
    if (!desc)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "desc is NULL");
    memset(desc, 0, sizeof *desc);
    desc->struct_size = sizeof *desc;
    desc->dtype = USINE_F32;
    desc->heads_q = desc->heads_kv = 1;
    return USINE_SUCCESS;
}

/* ------------------------------------------------------------------ checks */

/* cuda: the call runs on a CUDA context, which also takes f16 (and says itself what else it
 * does not take). */
static usine_status check_scalars(const char *fn, const usine_attention_desc *d, int cuda)
{
    if ((unsigned)d->dtype > USINE_S32)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "dtype = %d is not a usine_dtype",
                          (int)d->dtype);
    if (cuda && d->dtype != USINE_BF16 && d->dtype != USINE_F16)
        return usine_fail(USINE_ERROR_NOT_SUPPORTED, fn,
                          "dtype %d on a CUDA context: the CUDA attention takes USINE_BF16 or "
                          "USINE_F16 (f32 on CUDA is not implemented; use a CPU context)",
                          (int)d->dtype);
    if (!cuda && d->dtype != USINE_F32 && d->dtype != USINE_BF16)
        return usine_fail(USINE_ERROR_NOT_SUPPORTED, fn,
                          "dtype %d: attention takes USINE_F32 or USINE_BF16", (int)d->dtype);
    const int64_t sizes[6] = {d->batch, d->heads_q, d->heads_kv, d->seq_q, d->seq_k, d->head_dim};
    const char *const names[6] = {"batch", "heads_q", "heads_kv", "seq_q", "seq_k", "head_dim"};
    for (int i = 0; i < 6; i++)
        if (sizes[i] < 0)
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "%s = %" PRId64 " is negative",
                              names[i], sizes[i]);
    for (int i = 1; i < 3; i++)
        if (sizes[i] == 0)
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "%s = 0: at least 1 head",
                              names[i]);
    if (d->head_dim == 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "head_dim = 0");
    if (d->head_dim % 16 != 0 || d->head_dim > 256)
        return usine_fail(USINE_ERROR_NOT_SUPPORTED, fn,
                          "head_dim = %" PRId64 ": usine has multiples of 16 up to 256",
                          d->head_dim);
    if (d->heads_q % d->heads_kv != 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                          "heads_q = %" PRId64 " is not a multiple of heads_kv = %" PRId64,
                          d->heads_q, d->heads_kv);
    if (d->causal != 0 && d->causal != 1)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "causal = %d is neither 0 nor 1",
                          d->causal);
    if (d->deterministic != 0 && d->deterministic != 1)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "deterministic = %d is neither 0 nor 1",
                          d->deterministic);
    if (d->window < 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                          "window = %" PRId64 " is negative (0: no window)", d->window);
    if (!isfinite(d->scale) || !isfinite((float)d->scale))
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "scale = %g is not a finite float",
                          d->scale);
    const int64_t *const strides[4] = {d->q_strides, d->k_strides, d->v_strides, d->o_strides};
    const char *const tensors[4] = {"q_strides", "k_strides", "v_strides", "o_strides"};
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 3; i++)
            if (strides[t][i] < 0)
                return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                                  "%s[%d] = %" PRId64 " is negative", tensors[t], i, strides[t][i]);
    return USINE_SUCCESS;
}

/* One cumulative-offsets array: batch + 1 non-decreasing values from >= 0, no sequence
 * longer than `max`. *total = cu[batch]. */
static usine_status check_cu(const char *fn, const int32_t *cu, const char *name, int64_t batch,
                             int64_t max, const char *max_name, int64_t *total)
{
    if (cu[0] < 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "%s[0] = %d is negative", name,
                          (int)cu[0]);
    for (int64_t b = 0; b < batch; b++) {
        if (cu[b + 1] < cu[b])
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                              "%s[%" PRId64 "] = %d is less than %s[%" PRId64
                              "] = %d: offsets must not decrease",
                              name, b + 1, (int)cu[b + 1], name, b, (int)cu[b]);
        if ((int64_t)cu[b + 1] - cu[b] > max)
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                              "sequence %" PRId64 " of %s has %" PRId64
                              " positions, more than %s = %" PRId64,
                              b, name, (int64_t)cu[b + 1] - cu[b], max_name, max);
    }
    *total = cu[batch];
    return USINE_SUCCESS;
}

/* Bytes spanned by a [n0, n1, n2, d] tensor with strides s[0..2] and 1: from its first
 * element to its last; 0 when empty. */
static usine_status tensor_bytes(const char *fn, const char *name, const int64_t n[3],
                                 const int64_t s[3], int64_t d, size_t es, int64_t *bytes)
{
    *bytes = 0;
    if (n[0] == 0 || n[1] == 0 || n[2] == 0 || d == 0)
        return USINE_SUCCESS;
    int64_t e = d, t;
    for (int i = 0; i < 3; i++)
        if (__builtin_mul_overflow(n[i] - 1, s[i], &t) || __builtin_add_overflow(e, t, &e))
            goto overflow;
    if (__builtin_mul_overflow(e, (int64_t)es, bytes) || (uint64_t)*bytes > PTRDIFF_MAX)
        goto overflow;
    return USINE_SUCCESS;
overflow:
    return usine_fail(USINE_ERROR_OVERFLOW, fn,
                      "%s spans more than the address space ([%" PRId64 ", %" PRId64 ", %" PRId64
                      ", %" PRId64 "] with strides %" PRId64 ", %" PRId64 ", %" PRId64 ")",
                      name, n[0], n[1], n[2], d, s[0], s[1], s[2]);
}

/* Distinct elements of a [n0, n1, n2, d] tensor are distinct in memory: sorted by stride,
 * each axis of more than one element steps past everything the smaller ones span. */
static int distinct_elements(const int64_t n[3], const int64_t s[3], int64_t d)
{
    int order[3] = {0, 1, 2};
    for (int a = 0; a < 3; a++)
        for (int b = a + 1; b < 3; b++)
            if (s[order[b]] < s[order[a]]) {
                const int t = order[a];
                order[a] = order[b];
                order[b] = t;
            }
    int64_t extent = d; /* elements spanned by the axes so far, from the first */
    for (int a = 0; a < 3; a++) {
        const int i = order[a];
        if (n[i] <= 1)
            continue;
        if (s[i] < extent)
            return 0;
        extent = (n[i] - 1) * s[i] + extent; /* no overflow: checked by tensor_bytes */
    }
    return 1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The driver's view of a checked call. */
static usine_attn_problem make_problem(const usine_attention_desc *d, const void *q, const void *k,
                                       const void *v, void *o, float *lse)
{
    const double scale = d->scale != 0.0 ? d->scale : 1.0 / sqrt((double)d->head_dim);
    usine_attn_problem p = {
        d->dtype,
        d->batch,
        d->heads_q,
        d->heads_kv,
        d->seq_q,
        d->seq_k,
        d->head_dim,
        {d->q_strides[0], d->q_strides[1], d->q_strides[2]},
        {d->k_strides[0], d->k_strides[1], d->k_strides[2]},
        {d->v_strides[0], d->v_strides[1], d->v_strides[2]},
        {d->o_strides[0], d->o_strides[1], d->o_strides[2]},
        (float)scale,
        d->causal,
        d->window,
        d->cu_seqlens_q,
        d->cu_seqlens_k,
        q,
        k,
        v,
        o,
        lse,
        USINE_ATTN_BLOCK_DEFAULT,
        1,
        1,
    };
    return p;
}

/* USINE_VERBOSE=1: one line per call on stderr. */
static void log_call(const char *fn, const usine_attention_desc *d, const usine_attn_kernel *kernel,
                     const usine_attn_choice *choice, int threads, double seconds)
{
    fprintf(stderr,
            "usine: %s %s b=%" PRId64 " hq=%" PRId64 " hkv=%" PRId64 " sq=%" PRId64 " sk=%" PRId64
            " d=%" PRId64 " causal=%d window=%" PRId64
            " varlen=%d kernel=%s block=%d (%s) threads=%d time=%.1fus\n",
            fn, d->dtype == USINE_BF16 ? "bf16" : "f32", d->batch, d->heads_q, d->heads_kv,
            d->seq_q, d->seq_k, d->head_dim, d->causal, d->window, d->cu_seqlens_q != NULL,
            kernel->name, choice->block, choice->rule, threads, seconds * 1e6);
}

/* The kernel of the call's ISA and dtype, and the tuner's block for it (set in *p). */
static const usine_attn_kernel *plan_call(usine_context *ctx, const usine_attention_desc *d,
                                          int backward, usine_attn_problem *p,
                                          usine_attn_choice *choice)
{
    const usine_attn_kernel *kernel = usine_cpu_attn_kernel(ctx->isa, d->dtype);
    usine_select_attention(&ctx->selector, kernel, backward, d->dtype, d->seq_q, d->seq_k,
                           d->head_dim, choice);
    p->block = choice->block;
    const int64_t l2 = usine_cache_per_core(&usine_topology_get()->l2);
    if (backward)
        p->key_group = usine_cpu_attn_key_group(kernel, p, l2);
    else
        p->query_group = usine_cpu_attn_query_group(kernel, p, l2, usine_context_threads(ctx));
    return kernel;
}

/* The context and descriptor of a call (fn), checked; the extents: batch items along the
 * batch axis (*nb) and positions along the position axes (*pq, *pk; varlen: the totals). */
static usine_status check_desc(const char *fn, usine_context *ctx, const usine_attention_desc *d,
                               int64_t *nb, int64_t *pq, int64_t *pk)
{
    if (!ctx)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "context is NULL");
    /* CPU kernels, and CUDA kernels for what kernels/cuda has (cuda_forward below) */
    const int cuda = ctx->device == USINE_DEVICE_CUDA;
    usine_status st = cuda ? USINE_SUCCESS : usine_context_require_cpu(ctx, fn);
    if (st)
        return st;
    if (!d)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "desc is NULL");
    if (d->struct_size < sizeof *d)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                          "desc->struct_size = %zu: call usine_attention_desc_init first",
                          d->struct_size);
    if ((st = check_scalars(fn, d, cuda)))
        return st;
    *nb = d->batch;
    *pq = d->seq_q;
    *pk = d->seq_k;
    if ((d->cu_seqlens_q != NULL) != (d->cu_seqlens_k != NULL))
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                          "%s is NULL but %s is not: variable lengths need both",
                          d->cu_seqlens_q ? "cu_seqlens_k" : "cu_seqlens_q",
                          d->cu_seqlens_q ? "cu_seqlens_q" : "cu_seqlens_k");
    /* On a CUDA context cu_seqlens are device memory: not read here (that would need a
     * synchronisation); the kernels clamp each length to [0, seq_q] and [0, seq_k]. */
    if (d->cu_seqlens_q && d->batch > 0 && !cuda) {
        if ((st = check_cu(fn, d->cu_seqlens_q, "cu_seqlens_q", d->batch, d->seq_q, "seq_q", pq)) ||
            (st = check_cu(fn, d->cu_seqlens_k, "cu_seqlens_k", d->batch, d->seq_k, "seq_k", pk)))
            return st;
        *nb = 1;
    }
    return USINE_SUCCESS;
}

/* The forward's tensors (nb items of pq query and pk key positions): spans, pointers,
 * distinct O elements, outputs not overlapping inputs. Addresses only, never dereferenced:
 * the same checks hold for CUDA device pointers (one unified address space). */
static usine_status check_forward_memory(const usine_attention_desc *d, int64_t nb, int64_t pq,
                                         int64_t pk, const void *q, const void *k, const void *v,
                                         const void *o, const float *lse)
{
    usine_status st;
    const size_t es = d->dtype == USINE_F32 ? 4 : 2;
    const int64_t nq[3] = {nb, d->heads_q, pq}, nkv[3] = {nb, d->heads_kv, pk};
    int64_t qb, kb, vb, ob, lb = 0;
    if ((st = tensor_bytes(FN, "Q", nq, d->q_strides, d->head_dim, es, &qb)) ||
        (st = tensor_bytes(FN, "K", nkv, d->k_strides, d->head_dim, es, &kb)) ||
        (st = tensor_bytes(FN, "V", nkv, d->v_strides, d->head_dim, es, &vb)) ||
        (st = tensor_bytes(FN, "O", nq, d->o_strides, d->head_dim, es, &ob)))
        return st;
    if (lse) {
        const int64_t contiguous[3] = {d->heads_q * pq, pq, 1}, rows[3] = {nb, d->heads_q, pq};
        if ((st = tensor_bytes(FN, "lse", rows, contiguous, 1, sizeof(float), &lb)))
            return st;
    }
    const int reads_kv = pk > 0;
    if ((st = usine_check_span(FN, "q", q, qb)) || (st = usine_check_span(FN, "o", o, ob)) ||
        (lse && (st = usine_check_span(FN, "lse", lse, lb))))
        return st;
    if (reads_kv &&
        ((st = usine_check_span(FN, "k", k, kb)) || (st = usine_check_span(FN, "v", v, vb))))
        return st;
    if (!distinct_elements(nq, d->o_strides, d->head_dim))
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, FN,
                          "o_strides = {%" PRId64 ", %" PRId64 ", %" PRId64
                          "} make distinct elements of O share memory",
                          d->o_strides[0], d->o_strides[1], d->o_strides[2]);
    const void *inputs[3] = {q, k, v};
    const int64_t in_bytes[3] = {qb, reads_kv ? kb : 0, reads_kv ? vb : 0};
    const char *const in_names[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++) {
        if (usine_ranges_overlap(o, ob, inputs[i], in_bytes[i]))
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, FN,
                              "o overlaps %s: the output must not alias an input", in_names[i]);
        if (lse && usine_ranges_overlap(lse, lb, inputs[i], in_bytes[i]))
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, FN,
                              "lse overlaps %s: the output must not alias an input", in_names[i]);
    }
    if (lse && usine_ranges_overlap(lse, lb, o, ob))
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, FN, "lse overlaps o");
    return USINE_SUCCESS;
}

/* ------------------------------------------------------------------ CUDA */

/* The problem as kernels/cuda sees it (scale resolved as for the CPU). */
static usine_cuda_attention_problem cuda_problem(const usine_attention_desc *d)
{
    usine_cuda_attention_problem p;
    memset(&p, 0, sizeof p);
    p.dtype = d->dtype;
    p.batch = d->batch;
    p.heads_q = d->heads_q;
    p.heads_kv = d->heads_kv;
    p.seq_q = d->seq_q;
    p.seq_k = d->seq_k;
    p.head_dim = d->head_dim;
    for (int i = 0; i < 3; i++) {
        p.q_strides[i] = d->q_strides[i];
        p.k_strides[i] = d->k_strides[i];
        p.v_strides[i] = d->v_strides[i];
        p.o_strides[i] = d->o_strides[i];
    }
    p.scale = (float)(d->scale != 0.0 ? d->scale : 1.0 / sqrt((double)d->head_dim));
    p.causal = d->causal;
    p.window = d->window;
    p.cu_seqlens_q = d->cu_seqlens_q;
    p.cu_seqlens_k = d->cu_seqlens_k;
    return p;
}

static void cuda_log(const char *fn, const usine_context *ctx, const usine_attention_desc *d,
                     const char *kernel, double seconds)
{
    fprintf(stderr,
            "usine: %s %s b=%" PRId64 " hq=%" PRId64 " hkv=%" PRId64 " sq=%" PRId64 " sk=%" PRId64
            " d=%" PRId64 " causal=%d window=%" PRId64
            " varlen=%d kernel=%s device=%s launch=%.1fus (asynchronous: not the kernel's time)\n",
            fn, d->dtype == USINE_BF16 ? "bf16" : "f16", d->batch, d->heads_q, d->heads_kv,
            d->seq_q, d->seq_k, d->head_dim, d->causal, d->window, d->cu_seqlens_q != NULL, kernel,
            usine_context_device_name(ctx), seconds * 1e6);
}

/*
 * A checked forward on a CUDA context: device pointers. With fixed lengths the memory checks
 * are the CPU's (addresses only). With cu_seqlens (device memory, not read on the host) the
 * extents along the position axis are unknown here: only the pointers are checked for NULL.
 */
static usine_status cuda_forward(usine_context *ctx, const usine_attention_desc *d, int64_t nb,
                                 int64_t pq, int64_t pk, const void *q, const void *k,
                                 const void *v, void *o, float *lse)
{
    usine_status st;
    if (!d->cu_seqlens_q) {
        if ((st = check_forward_memory(d, nb, pq, pk, q, k, v, o, lse)))
            return st;
    } else if (!q || !o || (d->seq_k > 0 && (!k || !v))) {
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, FN, "%s is NULL",
                          !q   ? "q"
                          : !o ? "o"
                          : !k ? "k"
                               : "v");
    }
    const double start = ctx->verbose ? now_seconds() : 0;
    usine_cuda_attention_problem p = cuda_problem(d);
    p.q = q;
    p.k = k;
    p.v = v;
    p.o = o;
    p.lse = lse;
    char message[512];
    const char *kernel = "";
    st = usine_cuda_attention_forward(ctx->device_ordinal, ctx->stream, &p, ctx->cuda_kernel,
                                      &kernel, message, sizeof message);
    if (st != USINE_SUCCESS)
        return usine_fail(st, FN, "%s: %s", usine_context_device_name(ctx), message);
    if (ctx->verbose)
        cuda_log(FN, ctx, d, kernel, now_seconds() - start);
    return USINE_SUCCESS;
}

/*
 * A backward on a CUDA context: with fixed lengths, after the CPU's memory checks (addresses
 * only); with cu_seqlens (device memory), after NULL checks only.
 */
static usine_status cuda_backward(usine_context *ctx, const usine_attention_desc *d, const void *q,
                                  const void *k, const void *v, const void *o, const void *d_o,
                                  const float *lse, void *dq, void *dk, void *dv)
{
    if (d->cu_seqlens_q) {
        const void *const ptrs[9] = {q, k, v, o, d_o, lse, dq, dk, dv};
        static const char *const names[9] = {"q", "k", "v", "o", "d_o", "lse", "dq", "dk", "dv"};
        for (int i = 0; i < 9; i++)
            if (!ptrs[i] && (d->seq_k > 0 || i == 0 || i >= 3) &&
                (d->seq_q > 0 || i == 1 || i == 2 || i >= 7))
                return usine_fail(USINE_ERROR_INVALID_ARGUMENT, FN_BWD, "%s is NULL", names[i]);
    }
    const double start = ctx->verbose ? now_seconds() : 0;
    usine_cuda_attention_problem p = cuda_problem(d);
    p.q = q;
    p.k = k;
    p.v = v;
    p.o = (void *)(uintptr_t)o;      /* only read by the backward */
    p.lse = (float *)(uintptr_t)lse; /* likewise */
    p.d_o = d_o;
    p.dq = dq;
    p.dk = dk;
    p.dv = dv;
    char message[512];
    const char *kernel = "";
    const usine_status st = usine_cuda_attention_backward(
        ctx->device_ordinal, ctx->stream, &p, ctx->cuda_kernel, &kernel, message, sizeof message);
    if (st != USINE_SUCCESS)
        return usine_fail(st, FN_BWD, "%s: %s", usine_context_device_name(ctx), message);
    if (ctx->verbose)
        cuda_log(FN_BWD, ctx, d, kernel, now_seconds() - start);
    return USINE_SUCCESS;
}

/* ------------------------------------------------------------------ entry point */

usine_status usine_attention_forward(usine_context *ctx, const usine_attention_desc *d,
                                     const void *q, const void *k, const void *v, void *o,
                                     float *lse)
{
    usine_clear_error();
    int64_t nb, pq, pk;
    usine_status st = check_desc(FN, ctx, d, &nb, &pq, &pk);
    if (st)
        return st;
    if (d->batch == 0 || pq == 0 || d->seq_q == 0)
        return USINE_SUCCESS; /* nothing to compute: nothing read or written */
    if (ctx->device == USINE_DEVICE_CUDA)
        return cuda_forward(ctx, d, nb, pq, pk, q, k, v, o, lse);
    if ((st = check_forward_memory(d, nb, pq, pk, q, k, v, o, lse)))
        return st;

    const double start = ctx->verbose ? now_seconds() : 0;
    usine_attn_problem p = make_problem(d, q, k, v, o, lse);
    usine_attn_choice choice;
    const usine_attn_kernel *kernel = plan_call(ctx, d, 0, &p, &choice);
    const int threads = usine_context_threads(ctx);
    const size_t bytes = usine_cpu_attn_workspace_size(kernel, &p, threads);
    void *ws = usine_workspace_acquire(bytes);
    if (!ws)
        return usine_fail(USINE_ERROR_OUT_OF_MEMORY, FN, "cannot allocate %zu bytes of workspace",
                          bytes);
    usine_cpu_attn_forward(kernel, &p, threads, ws);
    if (ctx->verbose)
        log_call(FN, d, kernel, &choice, threads, now_seconds() - start);
    return USINE_SUCCESS;
}

/* ------------------------------------------------------------------ backward */

usine_status usine_attention_backward(usine_context *ctx, const usine_attention_desc *d,
                                      const void *q, const void *k, const void *v, const void *o,
                                      const void *d_o, const float *lse, void *dq, void *dk,
                                      void *dv)
{
    const char *const fn = FN_BWD;
    usine_clear_error();
    int64_t nb, pq, pk;
    usine_status st = check_desc(fn, ctx, d, &nb, &pq, &pk);
    if (st)
        return st;
    if (d->batch == 0 || (pq == 0 && pk == 0))
        return USINE_SUCCESS; /* no gradient element to write */
    if (ctx->device == USINE_DEVICE_CUDA && d->cu_seqlens_q)
        return cuda_backward(ctx, d, q, k, v, o, d_o, lse, dq, dk, dv);

    const size_t es = d->dtype == USINE_F32 ? 4 : 2;
    const int64_t nq[3] = {nb, d->heads_q, pq}, nkv[3] = {nb, d->heads_kv, pk};
    const int64_t contiguous[3] = {d->heads_q * pq, pq, 1}, rows[3] = {nb, d->heads_q, pq};
    int64_t qb, kb, vb, ob, lb;
    if ((st = tensor_bytes(fn, "Q", nq, d->q_strides, d->head_dim, es, &qb)) ||
        (st = tensor_bytes(fn, "K", nkv, d->k_strides, d->head_dim, es, &kb)) ||
        (st = tensor_bytes(fn, "V", nkv, d->v_strides, d->head_dim, es, &vb)) ||
        (st = tensor_bytes(fn, "O", nq, d->o_strides, d->head_dim, es, &ob)) ||
        (st = tensor_bytes(fn, "lse", rows, contiguous, 1, sizeof(float), &lb)))
        return st;
    /* A tensor with no element is neither read nor written: its pointer may be NULL. */
    const void *ins[6] = {q, k, v, o, d_o, lse};
    const int64_t in_bytes[6] = {qb, kb, vb, ob, ob, lb};
    const char *const in_names[6] = {"q", "k", "v", "o", "d_o", "lse"};
    void *outs[3] = {dq, dk, dv};
    const int64_t out_bytes[3] = {qb, kb, vb};
    const char *const out_names[3] = {"dq", "dk", "dv"};
    const int64_t *const out_strides[3] = {d->q_strides, d->k_strides, d->v_strides};
    const int64_t *const out_shapes[3] = {nq, nkv, nkv};
    for (int i = 0; i < 6; i++)
        if (in_bytes[i] > 0 && (st = usine_check_span(fn, in_names[i], ins[i], in_bytes[i])))
            return st;
    for (int i = 0; i < 3; i++)
        if (out_bytes[i] > 0 && (st = usine_check_span(fn, out_names[i], outs[i], out_bytes[i])))
            return st;
    static const char *const stride_names[3] = {"q_strides", "k_strides", "v_strides"};
    for (int i = 0; i < 3; i++)
        if (!distinct_elements(out_shapes[i], out_strides[i], d->head_dim))
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                              "%s = {%" PRId64 ", %" PRId64 ", %" PRId64
                              "} make distinct elements of %s share memory",
                              stride_names[i], out_strides[i][0], out_strides[i][1],
                              out_strides[i][2], out_names[i]);
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 6; j++)
            if (usine_ranges_overlap(outs[i], out_bytes[i], ins[j], in_bytes[j]))
                return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn,
                                  "%s overlaps %s: a gradient must not alias an input",
                                  out_names[i], in_names[j]);
        for (int j = 0; j < i; j++)
            if (usine_ranges_overlap(outs[i], out_bytes[i], outs[j], out_bytes[j]))
                return usine_fail(USINE_ERROR_INVALID_ARGUMENT, fn, "%s overlaps %s", out_names[i],
                                  out_names[j]);
    }

    if (ctx->device == USINE_DEVICE_CUDA)
        return cuda_backward(ctx, d, q, k, v, o, d_o, lse, dq, dk, dv);

    const double start = ctx->verbose ? now_seconds() : 0;
    /* o and lse are only read by the backward */
    usine_attn_problem p = make_problem(d, q, k, v, (void *)(uintptr_t)o, (float *)(uintptr_t)lse);
    const usine_attn_grads g = {d_o, dq, dk, dv};
    usine_attn_choice choice;
    const usine_attn_kernel *kernel = plan_call(ctx, d, 1, &p, &choice);
    const int threads = usine_context_threads(ctx);
    const size_t bytes = usine_cpu_attn_backward_workspace_size(kernel, &p, threads);
    void *ws = usine_workspace_acquire(bytes);
    if (!ws)
        return usine_fail(USINE_ERROR_OUT_OF_MEMORY, fn, "cannot allocate %zu bytes of workspace",
                          bytes);
    usine_cpu_attn_backward(kernel, &p, &g, threads, ws);
    if (ctx->verbose)
        log_call(fn, d, kernel, &choice, threads, now_seconds() - start);
    return USINE_SUCCESS;
}
