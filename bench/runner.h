/* `usine bench`: a suite against the measured peak, the triad bandwidth and the peers. */
#ifndef USINE_BENCH_RUNNER_H
#define USINE_BENCH_RUNNER_H

#include "machine.h"

#define USINE_BENCH_MAX_THREAD_COUNTS 8
#define USINE_BENCH_MAX_ROUNDS        20

typedef struct usine_bench_options {
    const char *suite; /* a built-in suite's name or a shape file */
    int threads[USINE_BENCH_MAX_THREAD_COUNTS];
    int n_threads;
    int dtypes;       /* bit 0: f32, bit 1: f64 */
    int peers;        /* bit (1 << usine_bench_peer_id) for each peer to run */
    int reps;         /* > 0: exactly this many timed repetitions; 0: adaptive */
    double budget_s;  /* adaptive: cap on timed seconds per measurement */
    int rounds;       /* each row's libraries measured this many times in turn, the fastest
                         median of each kept (>= 1) */
    int measure_peak; /* 0: skip the peak and the triad (no % of peak, no roofline) */
    int conv_passes;  /* --conv-passes: bit (1 << usine_conv_pass) per pass each conv line
                         runs in; 0: each line's own (pass=, forward by default) */
    int list_only;    /* --list: print the cases, run nothing */
    int mpi;          /* --mpi: every rank runs, rank 0 gathers (cluster.c) */
    const char *json_path, *csv_path; /* NULL: not written */
    const char *command_line;         /* recorded in the JSON */
} usine_bench_options;

/* The default run: the quick suite, f32 and f64, 1 thread and every core, every peer. */
void usine_bench_options_default(usine_bench_options *o, const usine_bench_machine *m);

/* Runs the suite: a table on stdout, progress on stderr, the files asked for. Returns 0,
 * 1 when usine failed, a result did not match or a file could not be written, 2 for a
 * suite that does not load. */
int usine_bench_main(const usine_bench_options *o, const usine_bench_machine *m);

#endif
