#include "context.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "status.h"
#include "../kernels/cpu/threading.h"

#define STR2(x) #x
#define STR(x)  STR2(x)

const char *usine_version(void)
{
    return STR(USINE_VERSION_MAJOR) "." STR(USINE_VERSION_MINOR) "." STR(USINE_VERSION_PATCH);
}

usine_status usine_context_options_init(usine_context_options *options)
{
    usine_clear_error();
    if (!options)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "options is NULL");
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    return USINE_SUCCESS;
}

/* Default thread count: USINE_NUM_THREADS, else OpenMP's. */
static int resolve_threads(int option, const usine_env *env)
{
    if (option > 0)
        return option;
    if (env->num_threads > 0)
        return env->num_threads;
    int t = usine_cpu_default_threads();
    return t > 0 ? t : 1;
}

static usine_status check_options(const usine_context_options *options)
{
    if (!options)
        return USINE_SUCCESS;
    /* The first two fields exist in every version: older callers pass a smaller struct. */
    if (options->struct_size < offsetof(usine_context_options, device))
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, "usine_create",
                          "options->struct_size = %zu: call usine_context_options_init first",
                          options->struct_size);
    if (options->num_threads < 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, "usine_create",
                          "options->num_threads = %d is negative", options->num_threads);
    return USINE_SUCCESS;
}

/* Fields of the options that the caller's struct_size covers (older callers pass less). */
#define HAS_FIELD(o, field)                                                                        \
    ((o) && (o)->struct_size >= offsetof(usine_context_options, field) + sizeof((o)->field))

/*
 * The device a context runs on: options->device, else USINE_DEVICE, else the CPU. "cpu",
 * "cuda" (= "cuda:0") or "cuda:N". *source names where the text came from, for messages.
 * (USINE_DEVICE, USINE_CUDA_KERNEL and USINE_CUDA_SPLIT_K are read here rather than in env.c: they
 * concern the context only, and a GEMM call must not read the environment.)
 */
static usine_status parse_device(const usine_context_options *options, usine_device_kind *kind,
                                 int *ordinal, char *source, size_t source_size)
{
    const char *text = HAS_FIELD(options, device) ? options->device : NULL;
    if (text)
        snprintf(source, source_size, "options->device = '%s'", text);
    else if ((text = getenv("USINE_DEVICE")) != NULL && *text)
        snprintf(source, source_size, "USINE_DEVICE=%s", text);
    else
        text = NULL;
    *kind = USINE_DEVICE_CPU;
    *ordinal = 0;
    if (!text || strcmp(text, "cpu") == 0)
        return USINE_SUCCESS;
    if (strncmp(text, "cuda", 4) != 0 || (text[4] != '\0' && text[4] != ':'))
        return usine_fail(USINE_ERROR_NOT_SUPPORTED, "usine_create",
                          "%s: usine knows the devices 'cpu' and 'cuda[:N]'", source);
    *kind = USINE_DEVICE_CUDA;
    if (text[4] == ':') {
        char *end = NULL;
        errno = 0;
        const long v = strtol(text + 5, &end, 10);
        if (end == text + 5 || *end != '\0' || errno || v < 0 || v > 1023)
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, "usine_create",
                              "%s: the device number after 'cuda:' must be 0 to 1023", source);
        *ordinal = (int)v;
    }
    return USINE_SUCCESS;
}

/* Opens the CUDA device of a new context; the error names where the device came from. */
static usine_status open_cuda(usine_context *ctx, const char *source, const char *function)
{
    char message[512];
    const usine_status st =
        usine_cuda_open(ctx->device_ordinal, &ctx->cuda, message, sizeof message);
    if (st != USINE_SUCCESS)
        return usine_fail(st, function, "%s: %s", source, message);
    const char *force = getenv("USINE_CUDA_KERNEL");
    if (force && *force) {
        int found = 0;
        for (int i = 0; i < usine_cuda_kernel_count() && !found; i++) {
            const char *name;
            int arch, threads, blocks, smem;
            found = usine_cuda_kernel_info(i, &name, &arch, &threads, &blocks, &smem) &&
                    strcmp(name, force) == 0;
        }
        if (!found || strlen(force) >= sizeof ctx->cuda_kernel)
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, function,
                              "USINE_CUDA_KERNEL=%s is not a usine CUDA kernel (usine info "
                              "lists them)",
                              force);
        snprintf(ctx->cuda_kernel, sizeof ctx->cuda_kernel, "%s", force);
    }
    const char *split = getenv("USINE_CUDA_SPLIT_K");
    if (split && *split) {
        char *end = NULL;
        errno = 0;
        const long v = strtol(split, &end, 10);
        if (end == split || *end != '\0' || errno || v < 0 || v > 256)
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, function,
                              "USINE_CUDA_SPLIT_K=%s: give 0 (the library's choice), 1 (no "
                              "split) or up to 256 k slices",
                              split);
        ctx->cuda_split_k = (int)v;
    }
    return USINE_SUCCESS;
}

static usine_status make_selector(usine_context *ctx, const usine_env *env)
{
    char message[256];
    const usine_select_error err = usine_selector_init(
        &ctx->selector, ctx->isa, env->kernels, env->blocking, env->tune != USINE_TUNE_OFF_DB,
        env->tune == USINE_TUNE_ONLINE, message, sizeof message);
    if (err == USINE_SELECT_OK) {
        ctx->selector.attn_block = env->attn_block;
        snprintf(ctx->selector.conv_algo, sizeof ctx->selector.conv_algo, "%s",
                 env->conv_algo ? env->conv_algo : "");
        static const usine_dtype dtypes[USINE_GEMM_DTYPES] = {USINE_F32, USINE_F64};
        for (int i = 0; i < USINE_GEMM_DTYPES; i++)
            usine_select_gemm(&ctx->selector, dtypes[i], 2048, 2048, 2048, ctx->num_threads,
                              &ctx->gemm[i]);
        return USINE_SUCCESS;
    }
    usine_selector_free(&ctx->selector);
    if (err == USINE_SELECT_ISA_TOO_HIGH)
        return usine_fail(USINE_ERROR_NOT_SUPPORTED, "usine_create", "%s", message);
    return usine_fail(err == USINE_SELECT_NO_KERNEL ? USINE_ERROR_INTERNAL
                                                    : USINE_ERROR_INVALID_ARGUMENT,
                      "usine_create", "%s", message);
}

/* The context `env` describes (options already checked). */
static usine_status create_from_env(usine_context **context, const usine_context_options *options,
                                    const usine_env *env, const char *function)
{
    usine_context *ctx = (usine_context *)calloc(1, sizeof *ctx);
    if (!ctx)
        return usine_fail(USINE_ERROR_OUT_OF_MEMORY, function, "cannot allocate a context");
    ctx->threads_option = options ? options->num_threads : 0;
    ctx->num_threads = resolve_threads(ctx->threads_option, env);
    ctx->isa = env->isa;
    ctx->verbose = env->verbose;
    ctx->tune_online = env->tune == USINE_TUNE_ONLINE;
    usine_status st = make_selector(ctx, env);
    if (st != USINE_SUCCESS) {
        free(ctx);
        return st;
    }
    char source[160] = "";
    st = parse_device(options, &ctx->device, &ctx->device_ordinal, source, sizeof source);
    if (st == USINE_SUCCESS && ctx->device == USINE_DEVICE_CUDA) {
        ctx->stream = HAS_FIELD(options, stream) ? options->stream : NULL;
        st = open_cuda(ctx, source, function);
    }
    if (st != USINE_SUCCESS) {
        usine_selector_free(&ctx->selector);
        free(ctx);
        return st;
    }
    if (ctx->device == USINE_DEVICE_CUDA)
        snprintf(ctx->device_name, sizeof ctx->device_name, "cuda:%d", ctx->device_ordinal);
    else
        snprintf(ctx->device_name, sizeof ctx->device_name, "cpu");
    *context = ctx;
    return USINE_SUCCESS;
}

usine_status usine_create(usine_context **context, const usine_context_options *options)
{
    usine_clear_error();
    if (!context)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "context is NULL");
    *context = NULL;
    usine_status st = check_options(options);
    usine_env env;
    if (st == USINE_SUCCESS)
        st = usine_env_read(&env, __func__);
    if (st != USINE_SUCCESS)
        return st;
    return create_from_env(context, options, &env, __func__);
}

usine_status usine_create_from_defaults(usine_context **context)
{
    usine_clear_error();
    if (!context)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "context is NULL");
    *context = NULL;
    /* usine_env_read fills USINE_VERBOSE even when another variable is invalid; every
     * other setting is replaced by its default. */
    usine_env env;
    (void)usine_env_read(&env, __func__);
    usine_clear_error();
    const usine_env defaults = {.isa = usine_cpu_isa_detect(), .verbose = env.verbose};
    /* The CPU whatever USINE_DEVICE says: the BLAS layer works on host memory. */
    usine_context_options cpu;
    usine_context_options_init(&cpu);
    cpu.device = "cpu";
    return create_from_env(context, &cpu, &defaults, __func__);
}

usine_status usine_destroy(usine_context *context)
{
    usine_clear_error();
    if (context)
        usine_selector_free(&context->selector);
    free(context);
    return USINE_SUCCESS;
}

usine_status usine_get_num_threads(const usine_context *context, int *num_threads)
{
    usine_clear_error();
    if (!context)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "context is NULL");
    if (!num_threads)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "num_threads is NULL");
    *num_threads = context->num_threads;
    return USINE_SUCCESS;
}

usine_status usine_set_num_threads(usine_context *context, int num_threads)
{
    usine_clear_error();
    if (!context)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "context is NULL");
    if (num_threads < 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "num_threads = %d is negative",
                          num_threads);
    usine_env env;
    usine_status st = usine_env_read(&env, __func__);
    if (st != USINE_SUCCESS)
        return st;
    context->threads_option = num_threads;
    context->num_threads = resolve_threads(num_threads, &env);
    return USINE_SUCCESS;
}

int usine_context_threads(const usine_context *context)
{
    return usine_cpu_in_parallel() ? 1 : context->num_threads;
}

usine_status usine_context_require_cpu(const usine_context *context, const char *function)
{
    if (!context || context->device == USINE_DEVICE_CPU)
        return USINE_SUCCESS;
    return usine_fail(USINE_ERROR_NOT_SUPPORTED, function,
                      "the context's device is %s: %s has no kernel for it yet (use a CPU "
                      "context and host memory)",
                      context->device_name, function);
}

const char *usine_context_device_name(const usine_context *context)
{
    return context->device_name;
}
