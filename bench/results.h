/* Everything one `usine bench` run measured: shared by the runner and the writers. */
#ifndef USINE_BENCH_RESULTS_H
#define USINE_BENCH_RESULTS_H

#include <stddef.h>

#include "check.h"
#include "gemm_bench.h"
#include "measure.h"
#include "peers.h"
#include "suite.h"

/* Libraries of a run: usine first, then the peers in usine_bench_peer_id order. */
#define USINE_BENCH_USINE 0
#define USINE_BENCH_LIBS  (1 + USINE_PEER_COUNT)

typedef enum usine_bench_status {
    USINE_BENCH_OK = 0,
    USINE_BENCH_SKIPPED = 1, /* not asked for, not installed, or no such dtype */
    USINE_BENCH_FAILED = 2   /* returned an error, crashed or timed out */
} usine_bench_status;

typedef struct usine_bench_result {
    size_t case_index;
    int threads;
    int lib; /* USINE_BENCH_USINE or 1 + peer id */
    usine_bench_status status;
    char message[256]; /* why skipped or failed */
    char detail[160];  /* usine: the kernel that ran */
    usine_bench_stats stats;
    double gflops_median, gflops_best, spread;
    int noisy;
    int checked; /* a peer compared with usine's C */
    usine_bench_check check;
} usine_bench_result;

typedef struct usine_bench_peer_info {
    int wanted, available;
    int dtypes;
    char path[160], version[160], api[96], why[256];
} usine_bench_peer_info;

typedef struct usine_bench_run {
    const usine_bench_options *options;
    const usine_bench_machine *machine;
    const usine_bench_case *cases;
    size_t n_cases;
    usine_bench_peer_info peers[USINE_PEER_COUNT];
    double peak[2][USINE_BENCH_MAX_THREAD_COUNTS]; /* [f32, f64][thread index]; 0: none */
    char peak_method[96];
    usine_bench_result *results;
    size_t n_results, capacity;
    double wall_s;
} usine_bench_run;

/* "usine", "OpenBLAS", ... */
const char *usine_bench_lib_name(int lib);

/* The peak for a dtype and a thread count of the run (0 when not measured). */
double usine_bench_run_peak(const usine_bench_run *run, usine_dtype dtype, int threads);

#endif
