/*
 * Context creation and the environment variables: thread counts, forced ISA and kernels,
 * blocking override, bad values rejected with a message naming the variable, and the
 * last-error message being per thread.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static void unset_all(void)
{
    unsetenv("USINE_NUM_THREADS");
    unsetenv("USINE_CPU_ISA");
    unsetenv("USINE_KERNEL");
    unsetenv("USINE_GEMM_BLOCKING");
}

/* usine_create with one variable set must fail with `want` and mention the variable. */
static void bad_env(const char *var, const char *value, usine_status want)
{
    unset_all();
    setenv(var, value, 1);
    usine_context *ctx = (usine_context *)1;
    usine_status st = usine_create(&ctx, NULL);
    CHECK(st == want && ctx == NULL, "%s=%s: status %d, expected %d", var, value, st, want);
    CHECK(strstr(usine_last_error(), var) != NULL, "%s=%s: message '%s' does not name it", var,
          value, usine_last_error());
    unsetenv(var);
}

static usine_context *create(void)
{
    usine_context *ctx = NULL;
    usine_status st = usine_create(&ctx, NULL);
    CHECK(st == USINE_SUCCESS, "usine_create: %s", usine_last_error());
    return ctx;
}

static void threads(void)
{
    unset_all();
    setenv("USINE_NUM_THREADS", "3", 1);
    usine_context *ctx = create();
    int t = 0;
    CHECK(usine_get_num_threads(ctx, &t) == USINE_SUCCESS && t == 3, "USINE_NUM_THREADS=3 gave %d",
          t);
    CHECK(usine_set_num_threads(ctx, 1) == USINE_SUCCESS, "set 1");
    usine_get_num_threads(ctx, &t);
    CHECK(t == 1, "set_num_threads(1) gave %d", t);
    CHECK(usine_set_num_threads(ctx, 0) == USINE_SUCCESS, "set 0");
    usine_get_num_threads(ctx, &t);
    CHECK(t == 3, "set_num_threads(0) returns to the default (3), gave %d", t);
    CHECK(usine_set_num_threads(ctx, -2) == USINE_ERROR_INVALID_ARGUMENT &&
              strstr(usine_last_error(), "num_threads"),
          "negative thread count");
    usine_destroy(ctx);

    usine_context_options o;
    CHECK(usine_context_options_init(&o) == USINE_SUCCESS && o.struct_size == sizeof o,
          "options init");
    o.num_threads = 2;
    CHECK(usine_create(&ctx, &o) == USINE_SUCCESS, "create with options");
    usine_get_num_threads(ctx, &t);
    CHECK(t == 2, "options.num_threads = 2 wins over the environment, gave %d", t);
    usine_destroy(ctx);
    o.num_threads = -1;
    CHECK(usine_create(&ctx, &o) == USINE_ERROR_INVALID_ARGUMENT && ctx == NULL,
          "negative options.num_threads");
    o.num_threads = 0;
    o.device = "cuda:0";
    /* NOT_SUPPORTED without a CUDA build, DEVICE without a GPU or driver, else a context. */
    const usine_status cuda = usine_create(&ctx, &o);
    CHECK(cuda == USINE_SUCCESS
              ? ctx != NULL
              : (cuda == USINE_ERROR_NOT_SUPPORTED || cuda == USINE_ERROR_DEVICE) && ctx == NULL &&
                    strstr(usine_last_error(), "cuda:0"),
          "device cuda:0: status %d, %s", (int)cuda, usine_last_error());
    usine_destroy(ctx);
    ctx = NULL;
    o.device = "tpu:0";
    CHECK(usine_create(&ctx, &o) != USINE_SUCCESS && ctx == NULL &&
              strstr(usine_last_error(), "tpu"),
          "unknown device refused: %s", usine_last_error());
    o.device = NULL;
    o.struct_size = 0;
    CHECK(usine_create(&ctx, &o) == USINE_ERROR_INVALID_ARGUMENT &&
              strstr(usine_last_error(), "struct_size"),
          "uninitialised options");
    CHECK(usine_create(NULL, NULL) == USINE_ERROR_INVALID_ARGUMENT, "NULL context pointer");
    CHECK(usine_destroy(NULL) == USINE_SUCCESS, "destroy(NULL)");
    CHECK(usine_get_num_threads(NULL, &t) == USINE_ERROR_INVALID_ARGUMENT, "get on NULL");
}

static void forced_choices(void)
{
    const char *name = NULL;
    unset_all();
    setenv("USINE_CPU_ISA", "generic", 1);
    usine_context *ctx = create();
    usine_gemm_kernel_name(ctx, USINE_F64, 8, 8, 8, &name);
    CHECK(name && strstr(name, "_generic_"), "USINE_CPU_ISA=generic gave %s", name);
    usine_destroy(ctx);

    unset_all();
    setenv("USINE_KERNEL", "usine_sgemm_cpu_generic_8x4", 1);
    ctx = create();
    usine_gemm_kernel_name(ctx, USINE_F32, 8, 8, 8, &name);
    CHECK(name && strcmp(name, "usine_sgemm_cpu_generic_8x4") == 0, "USINE_KERNEL gave %s", name);
    usine_gemm_kernel_name(ctx, USINE_F64, 8, 8, 8, &name);
    CHECK(name && strncmp(name, "usine_dgemm_cpu_", 16) == 0, "f64 unaffected, gave %s", name);
    usine_destroy(ctx);

    unset_all();
    setenv("USINE_GEMM_BLOCKING", "64,128,256", 1);
    ctx = create();
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, c[4];
    CHECK(usine_gemm(ctx, USINE_F32, USINE_COL_MAJOR, USINE_NO_TRANS, USINE_NO_TRANS, 2, 2, 2, 1.0,
                     a, 2, b, 2, 0.0, c, 2) == USINE_SUCCESS &&
              c[0] == 1 && c[1] == 2 && c[2] == 3 && c[3] == 4,
          "GEMM under USINE_GEMM_BLOCKING");
    usine_destroy(ctx);
    unset_all();
}

static void bad_values(void)
{
    bad_env("USINE_NUM_THREADS", "abc", USINE_ERROR_INVALID_ARGUMENT);
    bad_env("USINE_NUM_THREADS", "0", USINE_ERROR_INVALID_ARGUMENT);
    bad_env("USINE_NUM_THREADS", "-4", USINE_ERROR_INVALID_ARGUMENT);
    bad_env("USINE_NUM_THREADS", "99999999999", USINE_ERROR_INVALID_ARGUMENT);
    bad_env("USINE_CPU_ISA", "sse9", USINE_ERROR_INVALID_ARGUMENT);
    bad_env("USINE_KERNEL", "usine_sgemm_cpu_nonexistent_1x1", USINE_ERROR_INVALID_ARGUMENT);
    bad_env("USINE_GEMM_BLOCKING", "64,128", USINE_ERROR_INVALID_ARGUMENT);
    bad_env("USINE_GEMM_BLOCKING", "64,0,256", USINE_ERROR_INVALID_ARGUMENT);
}

static void *fail_in_thread(void *arg)
{
    (void)arg;
    usine_gemm(NULL, USINE_F32, USINE_COL_MAJOR, USINE_NO_TRANS, USINE_NO_TRANS, 1, 1, 1, 1.0, NULL,
               1, NULL, 1, 0.0, NULL, 1);
    return strstr(usine_last_error(), "context") ? (void *)1 : NULL;
}

static void thread_local_errors(void)
{
    usine_context *ctx = NULL;
    usine_create(&ctx, NULL);
    usine_set_num_threads(ctx, 1); /* clears this thread's error */
    pthread_t t;
    void *saw = NULL;
    pthread_create(&t, NULL, fail_in_thread, NULL);
    pthread_join(t, &saw);
    CHECK(saw != NULL, "the failing thread sees its own message");
    CHECK(strcmp(usine_last_error(), "") == 0, "another thread's error leaked into this one: '%s'",
          usine_last_error());
    usine_destroy(ctx);
}

int main(void)
{
    char version[32];
    snprintf(version, sizeof version, "%d.%d.%d", USINE_VERSION_MAJOR, USINE_VERSION_MINOR,
             USINE_VERSION_PATCH);
    CHECK(strcmp(usine_version(), version) == 0, "usine_version() = %s, header says %s",
          usine_version(), version);
    threads();
    forced_choices();
    bad_values();
    thread_local_errors();
    return test_finish("test_context");
}
