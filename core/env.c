#include "env.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "../autotune/conv_tune.h"
#include "../kernels/cpu/attention/attention_kernel.h"

/* Larger thread counts are certainly typos: no node has this many cores yet. */
#define MAX_THREADS 4096

static usine_status read_threads(usine_env *env, const char *function)
{
    const char *s = getenv("USINE_NUM_THREADS");
    env->num_threads = 0;
    if (!s || !*s)
        return USINE_SUCCESS;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > MAX_THREADS)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, function,
                          "USINE_NUM_THREADS = '%s' is not an integer in [1, %d]", s, MAX_THREADS);
    env->num_threads = (int)v;
    return USINE_SUCCESS;
}

static usine_status read_isa(usine_env *env, const char *function)
{
    const usine_cpu_isa detected = usine_cpu_isa_detect();
    const char *s = getenv("USINE_CPU_ISA");
    env->isa = detected;
    if (!s || !*s)
        return USINE_SUCCESS;
    int wanted = usine_cpu_isa_from_name(s);
    if (wanted < 0)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, function,
                          "USINE_CPU_ISA = '%s' is not one of %s", s, usine_cpu_isa_names());
    if (wanted > (int)detected)
        return usine_fail(USINE_ERROR_NOT_SUPPORTED, function,
                          "USINE_CPU_ISA = '%s' but this CPU and OS support only '%s'", s,
                          usine_cpu_isa_name(detected));
    env->isa = (usine_cpu_isa)wanted;
    return USINE_SUCCESS;
}

/* An expert override of the cache blocking, for experiments and for the tuner. */
static usine_status read_blocking(usine_env *env, const char *function)
{
    const char *s = getenv("USINE_GEMM_BLOCKING");
    env->blocking[0] = env->blocking[1] = env->blocking[2] = 0;
    if (!s || !*s)
        return USINE_SUCCESS;
    const char *p = s;
    for (int i = 0; i < 3; i++) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || end == p || v < 1 || v > (1 << 20) || *end != (i < 2 ? ',' : '\0'))
            return usine_fail(USINE_ERROR_INVALID_ARGUMENT, function,
                              "USINE_GEMM_BLOCKING = '%s' is not MC,KC,NC (three integers "
                              "in [1, 2^20])",
                              s);
        env->blocking[i] = v;
        p = end + 1;
    }
    return USINE_SUCCESS;
}

static usine_status read_tune(usine_env *env, const char *function)
{
    const char *s = getenv("USINE_TUNE");
    env->tune = USINE_TUNE_USE;
    if (!s || !*s || strcmp(s, "on") == 0)
        return USINE_SUCCESS;
    if (strcmp(s, "off") == 0)
        env->tune = USINE_TUNE_OFF_DB;
    else if (strcmp(s, "online") == 0)
        env->tune = USINE_TUNE_ONLINE;
    else
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, function,
                          "USINE_TUNE = '%s' is not one of on, off, online", s);
    return USINE_SUCCESS;
}

/* An expert override of attention's block (autotune/attention_tune.h), for experiments. */
static usine_status read_attn_block(usine_env *env, const char *function)
{
    const char *s = getenv("USINE_ATTN_BLOCK");
    env->attn_block = 0;
    if (!s || !*s)
        return USINE_SUCCESS;
    char *end;
    errno = 0;
    const long v = strtol(s, &end, 10);
    if (errno || *end || v % 16 != 0 || v < USINE_ATTN_BLOCK_MIN || v > USINE_ATTN_BLOCK_MAX)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, function,
                          "USINE_ATTN_BLOCK = '%s' is not a multiple of 16 in [%d, %d]", s,
                          USINE_ATTN_BLOCK_MIN, USINE_ATTN_BLOCK_MAX);
    env->attn_block = (int)v;
    return USINE_SUCCESS;
}

/* Forces a convolution algorithm (autotune/conv_tune.h) for the passes and shapes it
 * serves: a short name ("implicit_gemm") or a full one ("usine_conv_fwd_f32_cpu_...").
 * A name that is no algorithm's is an error, as for the other variables. */
static usine_status read_conv_algo(usine_env *env, const char *function)
{
    const char *s = getenv("USINE_CONV_ALGO");
    env->conv_algo = NULL;
    if (!s || !*s)
        return USINE_SUCCESS;
    if (strlen(s) >= 64 || !usine_conv_algo_name_valid(s))
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, function,
                          "USINE_CONV_ALGO = '%s' names no convolution algorithm (short names such "
                          "as implicit_gemm, or usine_conv2d_algorithm_name's)",
                          s);
    env->conv_algo = s;
    return USINE_SUCCESS;
}

usine_status usine_env_read(usine_env *env, const char *function)
{
    usine_status st = read_threads(env, function);
    if (st == USINE_SUCCESS)
        st = read_isa(env, function);
    if (st == USINE_SUCCESS)
        st = read_blocking(env, function);
    if (st == USINE_SUCCESS)
        st = read_tune(env, function);
    if (st == USINE_SUCCESS)
        st = read_attn_block(env, function);
    if (st == USINE_SUCCESS)
        st = read_conv_algo(env, function);
    const char *kernels = getenv("USINE_KERNEL");
    env->kernels = kernels && *kernels ? kernels : NULL;
    const char *verbose = getenv("USINE_VERBOSE");
    env->verbose = verbose && *verbose && !(verbose[0] == '0' && verbose[1] == '\0');
    return st;
}
