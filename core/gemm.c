/* The GEMM entry points: argument checks, the row-major to column-major turn, dispatch. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "context.h"
#include "status.h"
#include "workspace.h"
#include "../autotune/search.h"
#include "../kernels/cpu/gemm/gemm_driver.h"

/* Everything a GEMM call says, kept together for the checks and the verbose line. */
typedef struct gemm_call {
    const char *function;
    usine_dtype dtype; /* the dtype the kernels compute in: f32, f64, or s32 for int8 */
    usine_layout layout;
    usine_transpose trans_a, trans_b;
    int64_t m, n, k;
    double alpha, beta;
    int64_t lda, ldb, ldc;
    usine_dtype a_type, b_type, c_type; /* as stored */
    const float *bias;                  /* per column of C, or NULL */
    usine_activation activation;
    const usine_gemm_desc *desc; /* usine_gemm_ex's (zero points, scales), else NULL */
} gemm_call;

/* Span of one stored matrix: the elements from its first to its last, inclusive. */
typedef struct span {
    int64_t elements; /* 0 for an empty matrix */
    int64_t bytes;
} span;

static int is_transpose(usine_transpose t)
{
    return t == USINE_TRANS;
}

static const char *dtype_name(usine_dtype dtype)
{
    static const char *const names[] = {"f32", "f64", "bf16", "f16", "s8", "u8", "s32"};
    return (unsigned)dtype < sizeof names / sizeof names[0] ? names[dtype] : "?";
}

static int gemm_dtype_index(usine_dtype dtype)
{
    return dtype == USINE_F32 ? 0 : dtype == USINE_F64 ? 1 : -1;
}

/* ------------------------------------------------------------------ checks */

static usine_status check_ld(const gemm_call *g, const char *name, int64_t ld, int64_t rows,
                             int64_t cols, const char *what)
{
    const int64_t need_raw = g->layout == USINE_ROW_MAJOR ? cols : rows;
    const int64_t need = need_raw > 1 ? need_raw : 1;
    if (ld < need)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function,
                          "%s = %" PRId64 " is less than %" PRId64 ", the %s of %s (%s-major)",
                          name, ld, need, g->layout == USINE_ROW_MAJOR ? "columns" : "rows", what,
                          g->layout == USINE_ROW_MAJOR ? "row" : "column");
    return USINE_SUCCESS;
}

/* Stored dimensions of A (m x k, or k x m when transposed), B (k x n or n x k), C (m x n). */
static void stored_a(const gemm_call *g, int64_t *rows, int64_t *cols)
{
    *rows = is_transpose(g->trans_a) ? g->k : g->m;
    *cols = is_transpose(g->trans_a) ? g->m : g->k;
}

static void stored_b(const gemm_call *g, int64_t *rows, int64_t *cols)
{
    *rows = is_transpose(g->trans_b) ? g->n : g->k;
    *cols = is_transpose(g->trans_b) ? g->k : g->n;
}

/* Supported (A, B -> C) dtypes, and the dtype the kernels compute in for each. */
static int is_int8(usine_dtype t)
{
    return t == USINE_S8 || t == USINE_U8;
}

static usine_status check_types(const gemm_call *g)
{
    const usine_dtype types[3] = {g->a_type, g->b_type, g->c_type};
    const char *const names[3] = {"A's dtype", "B's dtype", "C's dtype"};
    for (int i = 0; i < 3; i++)
        if ((unsigned)types[i] > USINE_S32)
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function,
                              "%s = %d is not a usine_dtype", names[i], (int)types[i]);
    const usine_dtype a = g->a_type, b = g->b_type, c = g->c_type;
    const int half = (a == USINE_BF16 || a == USINE_F16) && b == a && (c == USINE_F32 || c == a);
    if ((a == USINE_F32 || a == USINE_F64) && b == a && c == a)
        return USINE_SUCCESS;
    if (half)
        return USINE_SUCCESS;
    if (is_int8(a) && b == USINE_S8 && (c == USINE_S32 || c == USINE_F32))
        return USINE_SUCCESS;
    return usine_fail(USINE_ERROR_NOT_SUPPORTED, g->function,
                      "no GEMM for %s x %s -> %s (usine has f32, f64, bf16 -> f32|bf16, "
                      "f16 -> f32|f16, u8|s8 x s8 -> s32|f32)",
                      dtype_name(a), dtype_name(b), dtype_name(c));
}

/* usine_gemm and its batched forms take f32 or f64 (usine_gemm_ex has the others). */
static usine_status check_legacy_dtype(const gemm_call *g)
{
    if ((unsigned)g->dtype > USINE_S32)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function,
                          "dtype = %d is not a usine_dtype", (int)g->dtype);
    if (g->dtype != USINE_F32 && g->dtype != USINE_F64)
        return usine_fail(USINE_ERROR_NOT_SUPPORTED, g->function,
                          "dtype %s: %s takes f32 and f64; use usine_gemm_ex for the others",
                          dtype_name(g->dtype), g->function);
    return USINE_SUCCESS;
}

static usine_status check_scalars_and_enums(usine_context *ctx, const gemm_call *g)
{
    if (!ctx)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function, "context is NULL");
    usine_status st = check_types(g);
    if (st)
        return st;
    if (g->layout != USINE_ROW_MAJOR && g->layout != USINE_COL_MAJOR)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function,
                          "layout = %d is neither USINE_ROW_MAJOR nor USINE_COL_MAJOR",
                          (int)g->layout);
    if (g->trans_a != USINE_NO_TRANS && g->trans_a != USINE_TRANS)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function,
                          "trans_a = %d is neither USINE_NO_TRANS nor USINE_TRANS",
                          (int)g->trans_a);
    if (g->trans_b != USINE_NO_TRANS && g->trans_b != USINE_TRANS)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function,
                          "trans_b = %d is neither USINE_NO_TRANS nor USINE_TRANS",
                          (int)g->trans_b);
    const int64_t sizes[3] = {g->m, g->n, g->k};
    const char *const names[3] = {"m", "n", "k"};
    for (int i = 0; i < 3; i++)
        if (sizes[i] < 0)
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function,
                              "%s = %" PRId64 " is negative", names[i], sizes[i]);
    int64_t r, c;
    stored_a(g, &r, &c);
    st = check_ld(g, "lda", g->lda, r, c, "A as stored");
    if (st)
        return st;
    stored_b(g, &r, &c);
    st = check_ld(g, "ldb", g->ldb, r, c, "B as stored");
    if (st)
        return st;
    return check_ld(g, "ldc", g->ldc, g->m, g->n, "C");
}

/* The span of a stored rows x cols matrix, or OVERFLOW if it does not fit in memory. */
static usine_status matrix_span(const gemm_call *g, const char *name, usine_dtype type,
                                int64_t rows, int64_t cols, int64_t ld, span *out)
{
    out->elements = out->bytes = 0;
    if (rows == 0 || cols == 0)
        return USINE_SUCCESS;
    const int64_t outer = g->layout == USINE_ROW_MAJOR ? rows : cols;
    const int64_t inner = g->layout == USINE_ROW_MAJOR ? cols : rows;
    int64_t e;
    const int64_t es = (int64_t)usine_dtype_storage_size(type);
    if (__builtin_mul_overflow(outer - 1, ld, &e) || __builtin_add_overflow(e, inner, &e) ||
        __builtin_mul_overflow(e, es, &out->bytes) || (uint64_t)out->bytes > PTRDIFF_MAX)
        return usine_fail(USINE_ERROR_OVERFLOW, g->function,
                          "%s spans more than the address space (%" PRId64 " x %" PRId64
                          ", leading dimension %" PRId64 ")",
                          name, rows, cols, ld);
    out->elements = e;
    return USINE_SUCCESS;
}

/* Span of `count` matrices `stride` elements apart, each of span `one`. */
static usine_status batch_span(const gemm_call *g, const char *name, span one, int64_t stride,
                               int64_t count, span *out)
{
    *out = one;
    if (one.elements == 0 || count <= 1)
        return USINE_SUCCESS;
    int64_t e;
    if (__builtin_mul_overflow(count - 1, stride, &e) ||
        __builtin_add_overflow(e, one.elements, &e) ||
        __builtin_mul_overflow(e, one.bytes / one.elements, &out->bytes) ||
        (uint64_t)out->bytes > PTRDIFF_MAX)
        return usine_fail(USINE_ERROR_OVERFLOW, g->function,
                          "the %" PRId64 " matrices of %s, %" PRId64
                          " elements apart, span more than the address space",
                          count, name, stride);
    out->elements = e;
    return USINE_SUCCESS;
}

static int overlaps(const void *p, span sp, const void *q, span sq)
{
    const uintptr_t a = (uintptr_t)p, b = (uintptr_t)q;
    return sp.bytes > 0 && sq.bytes > 0 && a < b + (uintptr_t)sq.bytes &&
           b < a + (uintptr_t)sp.bytes;
}

static usine_status check_pointer(const gemm_call *g, const char *name, const void *p, span s)
{
    if (!p)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function, "%s is NULL", name);
    if (UINTPTR_MAX - (uintptr_t)p < (uintptr_t)s.bytes)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function,
                          "%s + its span (%" PRId64 " bytes) wraps around the address space", name,
                          s.bytes);
    return USINE_SUCCESS;
}

/* A and B are read only when there is something to multiply. */
static int reads_ab(const gemm_call *g)
{
    return g->m > 0 && g->n > 0 && g->k > 0 && g->alpha != 0.0;
}

/* Pointers of one product (named as the caller knows them) and their spans. */
static usine_status check_operands(const gemm_call *g, const char *names[3], const void *a, span sa,
                                   const void *b, span sb, const void *c, span sc)
{
    usine_status st = check_pointer(g, names[2], c, sc);
    if (st || !reads_ab(g))
        return st;
    if ((st = check_pointer(g, names[0], a, sa)) || (st = check_pointer(g, names[1], b, sb)))
        return st;
    if (overlaps(c, sc, a, sa) || overlaps(c, sc, b, sb))
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function,
                          "%s overlaps %s: the output must not alias an input", names[2],
                          overlaps(c, sc, a, sa) ? names[0] : names[1]);
    return USINE_SUCCESS;
}

/* Spans of one A, B and C. */
static usine_status operand_spans(const gemm_call *g, span *sa, span *sb, span *sc)
{
    int64_t r, c;
    stored_a(g, &r, &c);
    usine_status st = matrix_span(g, "A", g->a_type, r, c, g->lda, sa);
    if (st)
        return st;
    stored_b(g, &r, &c);
    if ((st = matrix_span(g, "B", g->b_type, r, c, g->ldb, sb)))
        return st;
    return matrix_span(g, "C", g->c_type, g->m, g->n, g->ldc, sc);
}

/* ------------------------------------------------------------------ dispatch */

/* The column-major problem the driver sees: C^T = op(B)^T op(A)^T for row-major. */
static usine_gemm_shape driver_shape(const gemm_call *g, usine_epilogue *epilogue)
{
    /* op(A)(i,p) = a[i*rs + p*cs]: column-major N has rs = 1, T has cs = 1; row-major the
     * other way round. */
    const int a_unit_rows = (g->layout == USINE_COL_MAJOR) != is_transpose(g->trans_a);
    const int b_unit_rows = (g->layout == USINE_COL_MAJOR) != is_transpose(g->trans_b);
    const int64_t a_rs = a_unit_rows ? 1 : g->lda, a_cs = a_unit_rows ? g->lda : 1;
    const int64_t b_rs = b_unit_rows ? 1 : g->ldb, b_cs = b_unit_rows ? g->ldb : 1;
    usine_gemm_shape s = {g->m,     g->n,    g->k,      a_rs,      a_cs,      b_rs, b_cs, g->ldc,
                          g->alpha, g->beta, g->a_type, g->b_type, g->c_type, NULL, 0,    0};
    const usine_gemm_desc *d = g->desc;
    if (d) {
        s.a_zero = d->a_zero_point;
        s.b_zero = d->b_zero_point;
    }
    const int row_major = g->layout == USINE_ROW_MAJOR;
    if (row_major) {
        s.m = g->n;
        s.n = g->m;
        s.a_rs = b_cs;
        s.a_cs = b_rs;
        s.b_rs = a_cs;
        s.b_cs = a_rs;
        s.a_type = g->b_type;
        s.b_type = g->a_type;
        s.a_zero = d ? d->b_zero_point : 0;
        s.b_zero = d ? d->a_zero_point : 0;
    }
    const int scaled = d && d->scales;
    if (g->bias || g->activation != USINE_ACT_NONE || scaled) {
        /* The caller's columns are the driver's rows in row-major. */
        memset(epilogue, 0, sizeof *epilogue);
        epilogue->bias = g->bias;
        epilogue->bias_per_row = row_major;
        epilogue->activation = g->activation;
        epilogue->out_type = g->c_type;
        if (scaled) {
            epilogue->scales = d->scales;
            epilogue->scale_count = d->scale_count;
            epilogue->scale_per_row = row_major;
        }
        s.epilogue = epilogue;
    }
    return s;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "f32", or "bf16*bf16->f32" when the types differ. */
static const char *types_name(const gemm_call *g)
{
    static _Thread_local char text[32];
    if (g->a_type == g->c_type && g->b_type == g->c_type)
        return dtype_name(g->c_type);
    snprintf(text, sizeof text, "%s*%s->%s", dtype_name(g->a_type), dtype_name(g->b_type),
             dtype_name(g->c_type));
    return text;
}

/* USINE_VERBOSE=1: one line per call on stderr (oneDNN's ONEDNN_VERBOSE, in spirit). */
static void log_call(const gemm_call *g, const usine_gemm_plan *plan, const char *rule,
                     int64_t count, double seconds)
{
    const double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k * (double)count;
    fprintf(stderr,
            "usine: %s %s %s %c%c m=%" PRId64 " n=%" PRId64 " k=%" PRId64 " batch=%" PRId64
            " kernel=%s rule=%s mc=%" PRId64 " kc=%" PRId64 " nc=%" PRId64
            " threads=%d time=%.1fus %.2f GFLOP/s\n",
            g->function, types_name(g), g->layout == USINE_ROW_MAJOR ? "row" : "col",
            is_transpose(g->trans_a) ? 'T' : 'N', is_transpose(g->trans_b) ? 'T' : 'N', g->m, g->n,
            g->k, count, plan->kernel->name, rule, plan->blocking.mc, plan->blocking.kc,
            plan->blocking.nc, plan->max_threads, seconds * 1e6,
            seconds > 0 ? flops / seconds * 1e-9 : 0.0);
}

/* The kernel and parameters for this call; with USINE_TUNE=online, an unseen shape class
 * is tuned first (once: the result joins the selector and the user database). */
static void choose(usine_context *ctx, usine_dtype dtype, const usine_gemm_shape *shape,
                   int threads, usine_gemm_choice *choice)
{
    usine_select_gemm(&ctx->selector, dtype, shape->m, shape->n, shape->k, threads, choice);
    if (ctx->tune_online && choice->rule_id == USINE_RULE_MODEL &&
        usine_tune_online(&ctx->selector, dtype, shape->m, shape->n, shape->k, threads) == 0)
        usine_select_gemm(&ctx->selector, dtype, shape->m, shape->n, shape->k, threads, choice);
}

/* The inputs' type as the selector knows it: bf16 has kernels of its own (where the ISA
 * has them); f16 runs on the f32 kernels, converted while packing. */
static usine_dtype kernel_family(const gemm_call *g)
{
    return g->a_type == USINE_BF16 ? USINE_BF16 : is_int8(g->a_type) ? USINE_U8 : g->dtype;
}

/* ------------------------------------------------------------------ CUDA */

/*
 * A checked call on a CUDA context, as the kernels' row-major problem D = A B
 * (kernels/cuda/cuda_runtime.h). op(A)(i, p) = a[i a_rs + p a_cs] (as in driver_shape).
 * Row-major C is D as is; column-major C (m x n, ldc) is D = C^T (n x m, row-major, ldc)
 * = op(B)^T op(A)^T, so A and B swap roles and the bias (per column of C) runs along D's
 * rows. alpha == 0 passes k = 0: the kernels then read neither operand.
 */
static usine_status cuda_run(usine_context *ctx, const gemm_call *g, const usine_gemm_batch *batch)
{
    if (g->a_type != USINE_BF16 && g->a_type != USINE_F16)
        return usine_fail(USINE_ERROR_NOT_SUPPORTED, g->function,
                          "%s on %s: the CUDA backend has bf16 and f16 GEMMs only (f32 through "
                          "TF32 is planned)",
                          types_name(g), usine_context_device_name(ctx));
    const double start = ctx->verbose ? now_seconds() : 0;
    const int a_unit_rows = (g->layout == USINE_COL_MAJOR) != is_transpose(g->trans_a);
    const int b_unit_rows = (g->layout == USINE_COL_MAJOR) != is_transpose(g->trans_b);
    const int64_t a_rs = a_unit_rows ? 1 : g->lda, a_cs = a_unit_rows ? g->lda : 1;
    const int64_t b_rs = b_unit_rows ? 1 : g->ldb, b_cs = b_unit_rows ? g->ldb : 1;
    const int64_t k = g->alpha == 0.0 ? 0 : g->k;
    usine_cuda_gemm_problem p = {.batch = batch->count,
                                 .d = batch->base.c,
                                 .ldd = g->ldc,
                                 .d_batch = batch->stride_c,
                                 .in_type = g->a_type,
                                 .out_type = g->c_type,
                                 .alpha = (float)g->alpha,
                                 .beta = (float)g->beta,
                                 .bias = g->bias,
                                 .activation = g->activation,
                                 .split_k = ctx->cuda_split_k};
    if (g->layout == USINE_ROW_MAJOR) {
        p.m = g->m;
        p.n = g->n;
        p.k = k;
        p.a = batch->base.a;
        p.a_stride_m = a_rs;
        p.a_stride_k = a_cs;
        p.a_batch = batch->stride_a;
        p.b = batch->base.b;
        p.b_stride_k = b_rs;
        p.b_stride_n = b_cs;
        p.b_batch = batch->stride_b;
        p.bias_per_row = 0;
    } else {
        p.m = g->n;
        p.n = g->m;
        p.k = k;
        p.a = batch->base.b; /* D's A = op(B)^T: (j, p) at b[p b_rs + j b_cs] */
        p.a_stride_m = b_cs;
        p.a_stride_k = b_rs;
        p.a_batch = batch->stride_b;
        p.b = batch->base.a; /* D's B = op(A)^T: (p, i) at a[i a_rs + p a_cs] */
        p.b_stride_k = a_cs;
        p.b_stride_n = a_rs;
        p.b_batch = batch->stride_a;
        p.bias_per_row = 1;
    }
    char message[512];
    const char *kernel = "";
    int slices = 1;
    const usine_status st = usine_cuda_gemm(ctx->device_ordinal, ctx->stream, &p, ctx->cuda_kernel,
                                            &kernel, &slices, message, sizeof message);
    if (st != USINE_SUCCESS)
        return usine_fail(st, g->function, "%s: %s", usine_context_device_name(ctx), message);
    if (ctx->verbose)
        fprintf(stderr,
                "usine: %s %s %s %c%c m=%" PRId64 " n=%" PRId64 " k=%" PRId64 " batch=%" PRId64
                " kernel=%s k_slices=%d device=%s launch=%.1fus (asynchronous: not the kernel's "
                "time)\n",
                g->function, types_name(g), g->layout == USINE_ROW_MAJOR ? "row" : "col",
                is_transpose(g->trans_a) ? 'T' : 'N', is_transpose(g->trans_b) ? 'T' : 'N', g->m,
                g->n, g->k, batch->count, kernel, slices, usine_context_device_name(ctx),
                (now_seconds() - start) * 1e6);
    return USINE_SUCCESS;
}

/* Runs a checked batch: the operands are the caller's, in the caller's layout. */
static usine_status run(usine_context *ctx, const gemm_call *g, usine_gemm_batch batch)
{
    if (ctx->device == USINE_DEVICE_CUDA)
        return cuda_run(ctx, g, &batch);
    const double start = ctx->verbose ? now_seconds() : 0;
    usine_epilogue epilogue;
    const usine_gemm_shape shape = driver_shape(g, &epilogue);
    const int threads = usine_context_threads(ctx);
    usine_gemm_choice choice;
    choose(ctx, kernel_family(g), &shape, threads, &choice);
    const usine_gemm_plan plan = {choice.kernel, choice.blocking, threads};
    if (g->layout == USINE_ROW_MAJOR) { /* the driver computes C^T = op(B)^T op(A)^T */
        const void *t = batch.base.a;
        batch.base.a = batch.base.b;
        batch.base.b = t;
        const int64_t ts = batch.stride_a;
        batch.stride_a = batch.stride_b;
        batch.stride_b = ts;
        const void *const *ta = batch.a_array;
        batch.a_array = batch.b_array;
        batch.b_array = ta;
    }
    const size_t bytes = usine_cpu_gemm_workspace_size(&plan, &shape, batch.count);
    void *ws = bytes ? usine_workspace_acquire(bytes) : NULL;
    if (bytes && !ws)
        return usine_fail(USINE_ERROR_OUT_OF_MEMORY, g->function,
                          "cannot allocate %zu bytes of packing workspace", bytes);
    usine_cpu_gemm_run(&plan, &shape, &batch, ws);
    if (ctx->verbose)
        log_call(g, &plan, choice.rule, batch.count, now_seconds() - start);
    return USINE_SUCCESS;
}

/* ------------------------------------------------------------------ entry points */

/* The call of usine_gemm or one of its batched forms, checked (all but the operands). */
static usine_status legacy_call(usine_context *context, const char *function, usine_dtype dtype,
                                usine_layout layout, usine_transpose trans_a,
                                usine_transpose trans_b, int64_t m, int64_t n, int64_t k,
                                double alpha, double beta, int64_t lda, int64_t ldb, int64_t ldc,
                                gemm_call *g)
{
    *g = (gemm_call){function, dtype,          layout, trans_a, trans_b, m,     n,     k,
                     alpha,    beta,           lda,    ldb,     ldc,     dtype, dtype, dtype,
                     NULL,     USINE_ACT_NONE, NULL};
    const usine_status st = check_legacy_dtype(g);
    return st ? st : check_scalars_and_enums(context, g);
}

usine_status usine_gemm(usine_context *context, usine_dtype dtype, usine_layout layout,
                        usine_transpose trans_a, usine_transpose trans_b, int64_t m, int64_t n,
                        int64_t k, double alpha, const void *a, int64_t lda, const void *b,
                        int64_t ldb, double beta, void *c, int64_t ldc)
{
    usine_clear_error();
    gemm_call g;
    usine_status st = legacy_call(context, __func__, dtype, layout, trans_a, trans_b, m, n, k,
                                  alpha, beta, lda, ldb, ldc, &g);
    if (st || m == 0 || n == 0)
        return st;
    span sa, sb, sc;
    static const char *names[3] = {"a", "b", "c"};
    if ((st = operand_spans(&g, &sa, &sb, &sc)) ||
        (st = check_operands(&g, names, a, sa, b, sb, c, sc)))
        return st;
    const usine_gemm_batch batch = {.count = 1, .base = {a, b, c}};
    return run(context, &g, batch);
}

/* The strided batch of a checked call (enums, sizes and leading dimensions). */
static usine_status strided(usine_context *context, const gemm_call *g, const void *a,
                            int64_t stride_a, const void *b, int64_t stride_b, void *c,
                            int64_t stride_c, int64_t batch_count)
{
    const int64_t strides[3] = {stride_a, stride_b, stride_c};
    const char *const stride_names[3] = {"stride_a", "stride_b", "stride_c"};
    for (int i = 0; i < 3; i++)
        if (strides[i] < 0)
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function,
                              "%s = %" PRId64 " is negative", stride_names[i], strides[i]);
    if (batch_count < 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function,
                          "batch_count = %" PRId64 " is negative", batch_count);
    if (batch_count == 0 || g->m == 0 || g->n == 0)
        return USINE_SUCCESS;
    span sa, sb, sc, all_a, all_b, all_c;
    usine_status st;
    if ((st = operand_spans(g, &sa, &sb, &sc)))
        return st;
    if (batch_count > 1 && stride_c < sc.elements)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function,
                          "stride_c = %" PRId64 " is less than the span of one C (%" PRId64
                          " elements): the C matrices would overlap",
                          stride_c, sc.elements);
    static const char *names[3] = {"a", "b", "c"};
    if ((st = batch_span(g, "A", sa, stride_a, batch_count, &all_a)) ||
        (st = batch_span(g, "B", sb, stride_b, batch_count, &all_b)) ||
        (st = batch_span(g, "C", sc, stride_c, batch_count, &all_c)) ||
        (st = check_operands(g, names, a, all_a, b, all_b, c, all_c)))
        return st;
    const usine_gemm_batch batch = {.count = batch_count,
                                    .base = {a, b, c},
                                    .stride_a = stride_a,
                                    .stride_b = stride_b,
                                    .stride_c = stride_c};
    return run(context, g, batch);
}

usine_status usine_gemm_strided_batched(usine_context *context, usine_dtype dtype,
                                        usine_layout layout, usine_transpose trans_a,
                                        usine_transpose trans_b, int64_t m, int64_t n, int64_t k,
                                        double alpha, const void *a, int64_t lda, int64_t stride_a,
                                        const void *b, int64_t ldb, int64_t stride_b, double beta,
                                        void *c, int64_t ldc, int64_t stride_c, int64_t batch_count)
{
    usine_clear_error();
    gemm_call g;
    const usine_status st = legacy_call(context, __func__, dtype, layout, trans_a, trans_b, m, n, k,
                                        alpha, beta, lda, ldb, ldc, &g);
    return st ? st : strided(context, &g, a, stride_a, b, stride_b, c, stride_c, batch_count);
}

/* A checked call over arrays of pointers: every pointer checked, then one run. */
static usine_status pointer_batch(usine_context *context, const gemm_call *g, const void *const *a,
                                  const void *const *b, void *const *c, int64_t batch_count)
{
    if (batch_count < 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function,
                          "batch_count = %" PRId64 " is negative", batch_count);
    if (batch_count == 0 || g->m == 0 || g->n == 0)
        return USINE_SUCCESS;
    /* The pointer arrays of a device call live in device memory: not readable here. */
    if (context->device == USINE_DEVICE_CUDA)
        return usine_fail(USINE_ERROR_NOT_SUPPORTED, g->function,
                          "pointer-array batches are not supported on %s yet (use the strided "
                          "batch)",
                          usine_context_device_name(context));
    if (!c || (reads_ab(g) && (!a || !b)))
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, g->function, "the pointer array %s is NULL",
                          !c   ? "c"
                          : !a ? "a"
                               : "b");
    span sa, sb, sc;
    usine_status st = operand_spans(g, &sa, &sb, &sc);
    if (st)
        return st;
    for (int64_t i = 0; i < batch_count; i++) {
        char na[32], nb[32], nc[32];
        snprintf(na, sizeof na, "a[%" PRId64 "]", i);
        snprintf(nb, sizeof nb, "b[%" PRId64 "]", i);
        snprintf(nc, sizeof nc, "c[%" PRId64 "]", i);
        const char *names[3] = {na, nb, nc};
        if ((st = check_operands(g, names, reads_ab(g) ? a[i] : NULL, sa, reads_ab(g) ? b[i] : NULL,
                                 sb, c[i], sc)))
            return st;
    }
    const usine_gemm_batch batch = {.count = batch_count, .a_array = a, .b_array = b, .c_array = c};
    return run(context, g, batch);
}

usine_status usine_gemm_batched(usine_context *context, usine_dtype dtype, usine_layout layout,
                                usine_transpose trans_a, usine_transpose trans_b, int64_t m,
                                int64_t n, int64_t k, double alpha, const void *const *a,
                                int64_t lda, const void *const *b, int64_t ldb, double beta,
                                void *const *c, int64_t ldc, int64_t batch_count)
{
    usine_clear_error();
    gemm_call g;
    const usine_status st = legacy_call(context, __func__, dtype, layout, trans_a, trans_b, m, n, k,
                                        alpha, beta, lda, ldb, ldc, &g);
    return st ? st : pointer_batch(context, &g, a, b, c, batch_count);
}

usine_status usine_gemm_desc_init(usine_gemm_desc *desc)
{
    usine_clear_error();
    if (!desc)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "desc is NULL");
    memset(desc, 0, sizeof *desc);
    desc->struct_size = sizeof *desc;
    desc->layout = USINE_COL_MAJOR;
    desc->trans_a = desc->trans_b = USINE_NO_TRANS;
    desc->a_type = desc->b_type = desc->c_type = USINE_F32;
    desc->alpha = 1.0;
    desc->batch_count = 1;
    return USINE_SUCCESS;
}

/* Largest k of an int8 product: u8 x s8 sums of up to 65536 terms fit in s32. */
#define INT8_MAX_K 65536

/* The int8 fields of a descriptor with int8 inputs (types already checked). */
static usine_status check_int8(const usine_gemm_desc *d)
{
    const char *f = "usine_gemm_ex";
    const int a_lo = d->a_type == USINE_U8 ? 0 : -128, a_hi = d->a_type == USINE_U8 ? 255 : 127;
    if (d->a_zero_point < a_lo || d->a_zero_point > a_hi)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, f,
                          "a_zero_point = %d is outside the range of %s [%d, %d]",
                          (int)d->a_zero_point, dtype_name(d->a_type), a_lo, a_hi);
    if (d->b_zero_point < -128 || d->b_zero_point > 127)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, f,
                          "b_zero_point = %d is outside the range of s8 [-128, 127]",
                          (int)d->b_zero_point);
    if (d->k > INT8_MAX_K)
        return usine_fail(USINE_ERROR_NOT_SUPPORTED, f,
                          "k = %" PRId64 " is above %d, the most an int8 product sums in s32", d->k,
                          INT8_MAX_K);
    if (d->c_type == USINE_S32) {
        if (d->alpha != 1.0 || (d->beta != 0.0 && d->beta != 1.0))
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, f,
                              "s32 output takes alpha = 1 and beta = 0 or 1 (alpha = %g, beta = "
                              "%g): use f32 output to scale",
                              d->alpha, d->beta);
        if (d->bias || d->activation != USINE_ACT_NONE || d->scales || d->scale_count)
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, f,
                              "s32 output has no bias, activation or scales: use f32 output");
        return USINE_SUCCESS;
    }
    if (d->scale_count != 0 && d->scale_count != 1 && d->scale_count != d->n)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, f,
                          "scale_count = %" PRId64 " must be 0, 1 or n = %" PRId64, d->scale_count,
                          d->n);
    if ((d->scale_count > 0) != (d->scales != NULL))
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, f,
                          d->scales ? "scales is set but scale_count is 0"
                                    : "scale_count = %" PRId64 " but scales is NULL",
                          d->scale_count);
    return USINE_SUCCESS;
}

/* The epilogue and int8 fields of a descriptor. */
static usine_status check_epilogue(const usine_gemm_desc *d)
{
    const char *f = "usine_gemm_ex";
    if ((unsigned)d->activation > USINE_ACT_GELU_ERF)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, f,
                          "activation = %d is not a usine_activation", (int)d->activation);
    if (is_int8(d->a_type))
        return check_int8(d);
    if (d->a_zero_point || d->b_zero_point || d->scales || d->scale_count)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, f,
                          "zero points and scales are for int8 inputs only");
    return USINE_SUCCESS;
}

/* The call a descriptor describes, checked (all but the operands). */
static usine_status desc_call(usine_context *context, const usine_gemm_desc *d,
                              const char *function, gemm_call *g)
{
    if (!d)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, function, "desc is NULL");
    if (d->struct_size < sizeof *d)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, function,
                          "desc->struct_size = %zu: call usine_gemm_desc_init first",
                          d->struct_size);
    /* bf16 and f16 are computed in f32: converted while packing, rounded in the epilogue;
     * int8 sums in s32. */
    const usine_dtype compute = d->a_type == USINE_F64 ? USINE_F64
                                : is_int8(d->a_type)   ? USINE_S32
                                                       : USINE_F32;
    *g = (gemm_call){function,  compute,   d->layout, d->trans_a,    d->trans_b, d->m,   d->n,
                     d->k,      d->alpha,  d->beta,   d->lda,        d->ldb,     d->ldc, d->a_type,
                     d->b_type, d->c_type, d->bias,   d->activation, d};
    usine_status st = check_scalars_and_enums(context, g);
    if (st || (st = check_epilogue(d)))
        return st;
    if (d->bias && g->m > 0 && g->n > 0 &&
        (UINTPTR_MAX - (uintptr_t)d->bias) / sizeof(float) < (uintptr_t)g->n)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, function,
                          "bias + n floats wraps around the address space");
    return USINE_SUCCESS;
}

usine_status usine_gemm_ex(usine_context *context, const usine_gemm_desc *d, const void *a,
                           const void *b, void *c)
{
    usine_clear_error();
    gemm_call g;
    const usine_status st = desc_call(context, d, __func__, &g);
    if (st)
        return st;
    return strided(context, &g, a, d->stride_a, b, d->stride_b, c, d->stride_c, d->batch_count);
}

usine_status usine_gemm_ex_batched(usine_context *context, const usine_gemm_desc *d,
                                   const void *const *a, const void *const *b, void *const *c)
{
    usine_clear_error();
    gemm_call g;
    const usine_status st = desc_call(context, d, __func__, &g);
    if (st)
        return st;
    return pointer_batch(context, &g, a, b, c, d->batch_count);
}

usine_status usine_gemm_kernel_name(usine_context *context, usine_dtype dtype, int64_t m, int64_t n,
                                    int64_t k, const char **name)
{
    usine_clear_error();
    if (!context)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "context is NULL");
    if (!name)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "name is NULL");
    if (m < 0 || n < 0 || k < 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "a size is negative");
    if (context->device == USINE_DEVICE_CUDA)
        return usine_fail(USINE_ERROR_NOT_SUPPORTED, __func__,
                          "on %s the kernel depends on the layout and alignment of each call: "
                          "USINE_VERBOSE=1 prints it",
                          usine_context_device_name(context));
    const int i = gemm_dtype_index(dtype);
    if (i < 0)
        return usine_fail(USINE_ERROR_NOT_SUPPORTED, __func__,
                          "dtype %s is not supported yet (f32 and f64 are)", dtype_name(dtype));
    usine_gemm_choice choice;
    usine_select_gemm(&context->selector, dtype, m, n, k, usine_context_threads(context), &choice);
    *name = choice.kernel->name;
    return USINE_SUCCESS;
}
