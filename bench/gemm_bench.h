/* `usine bench gemm`: the GEMM suite against the measured peak and the peers. */
#ifndef USINE_BENCH_GEMM_BENCH_H
#define USINE_BENCH_GEMM_BENCH_H

#include "machine.h"

#define USINE_BENCH_MAX_THREAD_COUNTS 8

typedef struct usine_bench_options {
    const char *suite; /* "full", "quick", "smoke" */
    int threads[USINE_BENCH_MAX_THREAD_COUNTS];
    int n_threads;
    int dtypes;       /* bit 0: f32, bit 1: f64 */
    int peers;        /* bit (1 << usine_bench_peer_id) for each peer to run */
    int reps;         /* > 0: exactly this many timed repetitions; 0: adaptive */
    double budget_s;  /* adaptive: timed seconds per measurement (after >= 3 reps) */
    int measure_peak; /* 0: skip the FMA peak (no % of peak) */
    const char *json_path, *csv_path; /* NULL: not written */
} usine_bench_options;

/* The default run: the full suite, f32 and f64, 1 thread and every core, every peer. */
void usine_bench_options_default(usine_bench_options *o, const usine_bench_machine *m);

/* Runs the suite: a table on stdout, progress on stderr, the files asked for. Returns 0,
 * or 1 when usine failed, a result did not match or a file could not be written. */
int usine_bench_gemm(const usine_bench_options *o, const usine_bench_machine *m);

#endif
