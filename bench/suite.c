#include "suite.h"

#include <string.h>

/* Squares 256 to 4096 in both precisions, then the AI shapes: the unbalanced products of
 * training and inference layers, where blocking chosen for squares goes wrong. */
static const usine_bench_case full[] = {
    {"square", USINE_F32, 256, 256, 256, 1, ""},
    {"square", USINE_F32, 512, 512, 512, 1, ""},
    {"square", USINE_F32, 1024, 1024, 1024, 1, ""},
    {"square", USINE_F32, 2048, 2048, 2048, 1, ""},
    {"square", USINE_F32, 3072, 3072, 3072, 1, ""},
    {"square", USINE_F32, 4096, 4096, 4096, 1, ""},
    {"square", USINE_F64, 256, 256, 256, 1, ""},
    {"square", USINE_F64, 512, 512, 512, 1, ""},
    {"square", USINE_F64, 1024, 1024, 1024, 1, ""},
    {"square", USINE_F64, 2048, 2048, 2048, 1, ""},
    {"square", USINE_F64, 3072, 3072, 3072, 1, ""},
    {"square", USINE_F64, 4096, 4096, 4096, 1, ""},
    {"ai", USINE_F32, 5124, 700, 2048, 1, "tall, N = 700"},
    {"ai", USINE_F32, 35, 8457, 2560, 1, "M = 35: few rows, wide"},
    {"ai", USINE_F32, 3072, 128, 1024, 1, "N = 128"},
    {"ai", USINE_F32, 4096, 4096, 128, 1, "K = 128: low rank"},
    {"ai", USINE_F32, 7680, 1, 2560, 1, "N = 1: matrix-vector"},
    {"ai", USINE_F32, 512, 512, 64, 64, "strided batch of 64"},
};

/* A minute or two: the small squares and the cheaper AI shapes. */
static const usine_bench_case quick[] = {
    {"square", USINE_F32, 256, 256, 256, 1, ""},
    {"square", USINE_F32, 512, 512, 512, 1, ""},
    {"square", USINE_F32, 1024, 1024, 1024, 1, ""},
    {"square", USINE_F64, 256, 256, 256, 1, ""},
    {"square", USINE_F64, 512, 512, 512, 1, ""},
    {"square", USINE_F64, 1024, 1024, 1024, 1, ""},
    {"ai", USINE_F32, 35, 8457, 2560, 1, "M = 35: few rows, wide"},
    {"ai", USINE_F32, 3072, 128, 1024, 1, "N = 128"},
    {"ai", USINE_F32, 7680, 1, 2560, 1, "N = 1: matrix-vector"},
    {"ai", USINE_F32, 512, 512, 64, 64, "strided batch of 64"},
};

/* Seconds: odd sizes, a GEMV and a small batch, for the tests of the command. */
static const usine_bench_case smoke[] = {
    {"smoke", USINE_F32, 64, 64, 64, 1, "tiny square"},
    {"smoke", USINE_F64, 67, 45, 129, 1, "odd sizes"},
    {"smoke", USINE_F32, 37, 1, 70, 1, "GEMV"},
    {"smoke", USINE_F32, 24, 20, 8, 4, "small batch"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const usine_bench_case *usine_bench_suite(const char *name, size_t *count)
{
    if (strcmp(name, "full") == 0) {
        *count = COUNT(full);
        return full;
    }
    if (strcmp(name, "quick") == 0) {
        *count = COUNT(quick);
        return quick;
    }
    if (strcmp(name, "smoke") == 0) {
        *count = COUNT(smoke);
        return smoke;
    }
    return NULL;
}

const char *usine_bench_suite_names(void)
{
    return "full|quick|smoke";
}

double usine_bench_case_flops(const usine_bench_case *c)
{
    return 2.0 * (double)c->m * (double)c->n * (double)c->k * (double)c->batch;
}

const char *usine_bench_dtype_name(usine_dtype dtype)
{
    return dtype == USINE_F32 ? "f32" : dtype == USINE_F64 ? "f64" : "?";
}
