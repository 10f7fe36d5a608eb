/* Writers of a run: the terminal table, the JSON and CSV files. */
#ifndef USINE_BENCH_REPORT_H
#define USINE_BENCH_REPORT_H

#include <stdio.h>

#include "results.h"

/* Machine, peaks and peers, then the column headings. */
void usine_bench_report_header(const usine_bench_run *run, FILE *out);

/* A heading line where the group of the cases changes. */
void usine_bench_report_section(const usine_bench_case *c, FILE *out);

/* A case usine cannot run yet: its label, flops and why. */
void usine_bench_report_not_built(const usine_bench_run *run, const usine_bench_case *c, FILE *out);

/* --list: every case of the suite, its flops and arithmetic intensity, and whether it
 * runs, without running anything. */
void usine_bench_report_list(const usine_bench_run *run, FILE *out);

/* One row: a case at one thread count; row[lib] is NULL for a library not run. */
void usine_bench_report_row(const usine_bench_run *run, const usine_bench_result *const *row,
                            FILE *out);

/* Ratios of usine to a peer over the rows of one op, dtype and thread count: the sum of the
 * logs of the median ratios (geometric mean exp(log_sum / rows)), and the rows where
 * usine was at least as fast. versus: 1 + a peer id, USINE_BENCH_UNFUSED, or -1 for the
 * best peer of each row. */
typedef struct usine_bench_tally {
    double log_sum;
    int rows, wins;
} usine_bench_tally;

/* backward: attention rows of backward lines (1) or forward lines (0); conv rows of the
 * pass (usine_conv_pass); 0 for GEMM. */
usine_bench_tally usine_bench_tally_of(const usine_bench_run *run, usine_bench_op op,
                                       usine_dtype dtype, int threads, int versus, int backward);

/* Geometric means of the ratios, noisy and failed counts, mismatches. */
void usine_bench_report_summary(const usine_bench_run *run, FILE *out);

/* The version of bench/schema/usine-bench-<N>.schema.json the JSON follows. */
#define USINE_BENCH_SCHEMA_VERSION 1

/* Every measurement with the machine, the peaks and the versions. 0, or -1 with errno. */
int usine_bench_write_json(const usine_bench_run *run, const char *path);
void usine_bench_write_json_to(const usine_bench_run *run, FILE *f);
int usine_bench_write_csv(const usine_bench_run *run, const char *path);
/* The CSV rows of a run, after the header line when `header`. */
void usine_bench_write_csv_to(const usine_bench_run *run, FILE *f, int header);

#endif
