/* Shape lists of the GEMM benchmark. All cases are column-major, no transpose,
 * alpha = 1, beta = 0: the common call of a framework's linear layer. */
#ifndef USINE_BENCH_SUITE_H
#define USINE_BENCH_SUITE_H

#include <stddef.h>
#include <stdint.h>

#include "usine.h"

typedef struct usine_bench_case {
    const char *group; /* "square", "ai", "smoke": where it comes from */
    usine_dtype dtype;
    int64_t m, n, k;
    int64_t batch;    /* > 1: strided-batched, peers run it as `batch` separate calls */
    const char *note; /* what the shape stands for, or "" */
} usine_bench_case;

/* The cases of a suite ("full", "quick", "smoke"); NULL for an unknown name. */
const usine_bench_case *usine_bench_suite(const char *name, size_t *count);

/* "full|quick|smoke", for messages. */
const char *usine_bench_suite_names(void);

/* 2 m n k batch. */
double usine_bench_case_flops(const usine_bench_case *c);

/* "f32" or "f64". */
const char *usine_bench_dtype_name(usine_dtype dtype);

#endif
