/* Everything one `usine bench` run measured: shared by the runner and the writers. */
#ifndef USINE_BENCH_RESULTS_H
#define USINE_BENCH_RESULTS_H

#include <stddef.h>
#include <stdio.h>

#include "check.h"
#include "gpu.h"
#include "measure.h"
#include "peers.h"
#include "runner.h"
#include "suite.h"

/* Libraries of a run: usine first, then the peers in usine_bench_peer_id order, then the
 * unfused attention baseline (OpenBLAS sgemm + softmax + sgemm, attention.h): the only
 * "peer" of attention lines, and of nothing else; then the im2col + OpenBLAS sgemm
 * convolution baseline (conv.h), which with oneDNN makes the peers of conv lines. */
#define USINE_BENCH_USINE   0
#define USINE_BENCH_UNFUSED (1 + USINE_PEER_COUNT)
#define USINE_BENCH_IM2COL  (2 + USINE_PEER_COUNT)
#define USINE_BENCH_LIBS    (3 + USINE_PEER_COUNT)

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
    double gflops_median, gflops_best, gflops_worst, spread;
    int noisy;
    int checked; /* a peer compared with usine's C */
    usine_bench_check check;
    double extra_bytes; /* attention: growth of the peak RSS over setup and one call (the
                           scores buffer for the baseline); 0: not measured */
} usine_bench_result;

typedef struct usine_bench_peer_info {
    int wanted, available;
    int dtypes;
    char path[160], version[160], api[128], why[256];
    char lowp_why[160]; /* why no bf16 and int8 GEMM, "" when it has them */
} usine_bench_peer_info;

/* Set by the cluster mode (cluster.c): written into each node's JSON. */
typedef struct usine_bench_mpi_info {
    int rank, size;
    int host_index, host_ranks, host_rank; /* ranks sharing this host */
    char schedule[200];
    char affinity[200]; /* what was done to the CPU binding, "" if nothing */
} usine_bench_mpi_info;

typedef struct usine_bench_run {
    const usine_bench_options *options;
    const usine_bench_machine *machine;
    const usine_bench_case *cases;
    size_t n_cases;
    const char *suite_name, *suite_title;
    usine_bench_fingerprint fingerprint;
    usine_bench_peer_info peers[USINE_PEER_COUNT];
    usine_bench_gpu_info gpu;
    /* [dtype slot: f32, f64, bf16, int8][thread index] GFLOP/s (GOP/s); 0: none */
    double peak[USINE_BENCH_DTYPE_SLOTS][USINE_BENCH_MAX_THREAD_COUNTS];
    double bandwidth[USINE_BENCH_MAX_THREAD_COUNTS]; /* triad GB/s per thread index */
    double triad_bytes;                              /* bytes of each triad array */
    char peak_method[96];                            /* the FMA loop (f32, f64) */
    char lowp_method[2][96];                         /* the bf16 and int8 dot products */
    usine_bench_result *results;
    size_t n_results, capacity;
    char started[32]; /* UTC, ISO 8601 */
    double wall_s;
    FILE *table; /* the terminal table; NULL: none (other ranks of a cluster run) */
    const usine_bench_mpi_info *mpi;
} usine_bench_run;

/* "usine", "OpenBLAS", ..., "unfused (OpenBLAS)", "im2col (OpenBLAS)" */
const char *usine_bench_lib_name(int lib);

/* The peak for a dtype and a thread count of the run (0 when not measured), and the triad
 * bandwidth in GB/s. */
double usine_bench_run_peak(const usine_bench_run *run, usine_dtype dtype, int threads);
double usine_bench_run_bandwidth(const usine_bench_run *run, int threads);

/* Whether the peak child ran and measured something (not with --no-peak). */
int usine_bench_run_peak_measured(const usine_bench_run *run);

/* The roofline bound of a case: min(peak, intensity x bandwidth) in GFLOP/s; 0 when the
 * peak or the bandwidth was not measured. */
double usine_bench_run_roofline(const usine_bench_run *run, const usine_bench_case *c, int threads);

/* The steps of usine_bench_main, for the cluster mode. prepare loads the suite into
 * *suite (-1 and a message on stderr when it does not load); execute probes the peers
 * and GPUs, measures the peaks and every case, printing the table to run->table, and
 * returns the problems found; write_files writes --json and --csv. */
int usine_bench_run_prepare(usine_bench_run *run, const usine_bench_options *o,
                            const usine_bench_machine *m, usine_bench_suite *suite);
int usine_bench_run_execute(usine_bench_run *run);
int usine_bench_run_write_files(const usine_bench_run *run);
void usine_bench_run_free(usine_bench_run *run);

#endif
