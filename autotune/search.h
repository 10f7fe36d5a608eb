/*
 * The empirical search: for one GEMM shape class, enumerate candidates (every microkernel
 * the ISA allows, blockings around the model's, packing forced on or left to the driver),
 * prune those the model rules out (a block that cannot fit its cache level), measure the
 * rest with a warm-up and repetitions within a time budget, and keep the robust fastest:
 * the winner must beat the model's choice by min_gain again in an interleaved
 * confirmation, else the model's choice stays (a noisy machine must not make usine slower).
 * Hardware counters, where they work, are recorded with the result and prune the blocking
 * variants of kernels that miss far more than the model's choice.
 */
#ifndef USINE_AUTOTUNE_SEARCH_H
#define USINE_AUTOTUNE_SEARCH_H

#include "select.h"

typedef void usine_tune_progress_fn(void *arg, int measured, int total);

typedef struct usine_tune_options {
    double budget_seconds; /* for this class; the model's choice is always measured */
    int confirm_rounds;    /* interleaved model / winner runs in the confirmation */
    double min_gain;       /* relative gain the winner needs, e.g. 0.02 */
    usine_tune_progress_fn *progress;
    void *progress_arg;
} usine_tune_options;

typedef struct usine_tune_outcome {
    usine_tune_entry entry; /* what to store: the winner or the model's choice */
    int candidates;         /* enumerated, after removing duplicates */
    int pruned;             /* ruled out by the model or the counters */
    int measured;
    int improved; /* 1 if the entry is not the model's choice */
} usine_tune_outcome;

/* Default options: budget as given, 3 confirmation rounds, 2% minimum gain. */
usine_tune_options usine_tune_default_options(double budget_seconds);

/* Tunes the class of (m, n, k) on `threads` threads, measuring on that very shape
 * (column-major, no transpose). Returns 0, or -1 if memory for the operands is lacking. */
int usine_tune_gemm(const usine_selector *sel, usine_dtype dtype, int64_t m, int64_t n, int64_t k,
                    int threads, const usine_tune_options *options, usine_tune_outcome *outcome);

/* USINE_TUNE=online: tunes the call's class within a small budget on a shape of the class
 * no larger than needed, adds the result to the selector and merges it into the user
 * database. Returns 0 if an entry was added. */
int usine_tune_online(usine_selector *sel, usine_dtype dtype, int64_t m, int64_t n, int64_t k,
                      int threads);

/* Operands of one shape (column-major, no transpose, random values), kept to time
 * several choices on: median GFLOP/s of `reps` runs after a warm-up (0 when out of
 * memory). */
typedef struct usine_tune_workload usine_tune_workload;
usine_tune_workload *usine_tune_workload_new(usine_dtype dtype, int64_t m, int64_t n, int64_t k,
                                             int threads);
double usine_tune_workload_measure(usine_tune_workload *w, const usine_gemm_choice *choice,
                                   int reps);
void usine_tune_workload_free(usine_tune_workload *w);

/* Shared by the tuners: a monotonic clock in seconds; the median of n values (sorted in
 * place); deterministic pseudo-random values in [-1, 1) with few significant bits (exact in
 * bf16) for f32, f64 and bf16, any byte for u8. */
double usine_tune_now(void);
double usine_tune_median(double *values, int n);
void usine_tune_fill(void *x, usine_dtype dtype, int64_t count, unsigned seed);

#endif
