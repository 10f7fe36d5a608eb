/* The work a child process does (see child.h): probe a peer, measure the peak, time one
 * library on one case. Inputs reach the child through fork; C comes back in shared
 * memory, everything else in the job's output struct. */
#ifndef USINE_BENCH_JOBS_H
#define USINE_BENCH_JOBS_H

#include "results.h"

/* ---- probe: does a peer load, and what is it? */
typedef struct usine_bench_probe_job {
    usine_bench_peer_id id;
} usine_bench_probe_job;

/* Output: a usine_bench_peer_info. */
void usine_bench_probe_child(void *arg, void *out);

/* ---- peak: every dtype and thread count of the run in one child */
typedef struct usine_bench_peak_job {
    usine_cpu_isa isa;
    int dtypes; /* bit (1 << dtype slot) */
    const int *threads;
    int n_threads;
    double seconds;
    long long llc_bytes; /* sizes the triad's arrays */
} usine_bench_peak_job;

typedef struct usine_bench_peak_out {
    double gflops[USINE_BENCH_DTYPE_SLOTS][USINE_BENCH_MAX_THREAD_COUNTS];
    double bandwidth[USINE_BENCH_MAX_THREAD_COUNTS]; /* triad GB/s */
    double triad_bytes;
    char method[96];         /* the FMA loop */
    char lowp_method[2][96]; /* the bf16 and int8 dot products, or why not measured */
} usine_bench_peak_out;

void usine_bench_peak_child(void *arg, void *out);

/* ---- one measurement */
typedef struct usine_bench_gemm_job {
    const usine_bench_case *bcase;
    int threads;
    int lib; /* USINE_BENCH_USINE or 1 + peer id */
    const void *a, *b;
    void *c; /* shared with the parent */
    usine_bench_timing timing;
} usine_bench_gemm_job;

typedef struct usine_bench_gemm_out {
    usine_bench_status status;
    char message[256];
    char detail[160];
    usine_bench_stats stats;
} usine_bench_gemm_out;

void usine_bench_gemm_child(void *arg, void *out);

#endif
