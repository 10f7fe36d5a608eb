/* The suite files of bench/suites, built into the binary (bench/embed_suites.cmake). */
#ifndef USINE_BENCH_SUITES_BUILTIN_H
#define USINE_BENCH_SUITES_BUILTIN_H

#include <stddef.h>

typedef struct usine_bench_builtin_suite {
    const char *name; /* the file's name without .txt */
    const char *text;
} usine_bench_builtin_suite;

extern const usine_bench_builtin_suite usine_bench_builtin_suites[];
extern const size_t usine_bench_builtin_suite_count;

#endif
