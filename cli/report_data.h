/* `usine report`: the results files it reads (usine-bench and usine-bench-cluster JSON,
 * bench/schema/usine-bench-1.schema.json), as the report needs them. Read with cJSON. */
#ifndef USINE_CLI_REPORT_DATA_H
#define USINE_CLI_REPORT_DATA_H

#include <stddef.h>

/* usine, OpenBLAS, BLIS, oneDNN, and the unfused attention baseline: the libraries a run
 * can hold */
#define RP_LIBS 5

typedef struct rp_case {
    char label[96], op[16], dtype[8], group[48], note[160], not_built[80];
    int runs;
    double flops, intensity;
} rp_case;

/* One case at one thread count: each library's median GFLOP/s (0: none). */
typedef struct rp_row {
    int case_id, threads;
    double gflops[RP_LIBS];
    double percent_of_peak; /* usine's */
    int noisy, mismatch;
} rp_row;

typedef struct rp_run {
    char source[200]; /* file, and the rank for a cluster node */
    char name[200];   /* host and CPU, the machine's name in charts */
    char cpu[128], host[64], isa[16], fingerprint[17], fingerprint_text[320];
    char created[32], suite[160], version[32], peers[3][160];
    int cores, max_threads;
    double peak[4];   /* f32, f64, bf16 GFLOP/s, int8 GOP/s at max_threads (0: not measured) */
    double bandwidth; /* GB/s at max_threads */
    double wall_s;
    rp_case *cases;
    size_t n_cases;
    rp_row *rows;
    size_t n_rows;
} rp_run;

/* A cluster file's comparison, per node. */
typedef struct rp_verdict {
    int rank, peers, flagged;
    double score;
    char host[64], fingerprint[17];
} rp_verdict;

typedef struct rp_report {
    rp_run *runs;
    size_t n_runs;
    rp_verdict *verdicts;
    size_t n_verdicts;
} rp_report;

extern const char *const rp_lib_names[RP_LIBS];

/* Appends the runs of one file (one, or one per node of a cluster file). Returns 0, or
 * -1 with a message. */
int rp_load(rp_report *report, const char *path, char *message, size_t size);

void rp_free(rp_report *report);

#endif
