/* What a run says while it works: on a terminal, one progress bar rewritten in place and
 * erased before each table row; otherwise (a log file, CI) one plain line per step.
 * Problems get lines of their own that stay. */
#ifndef USINE_BENCH_PROGRESS_H
#define USINE_BENCH_PROGRESS_H

/* 1: say nothing but problems (the other ranks of a cluster run). */
void usine_bench_progress_quiet(int quiet);

/* A step: text after "usine bench: ". */
void usine_bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The bar: done of total steps, an estimate of the time left, then the text. */
void usine_bench_progress_bar(int done, int total, double elapsed_s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Erases the bar (terminal only), before the table gets a row. */
void usine_bench_progress_clear(void);

/* A problem: "usine bench: *** ... ***" on a line of its own. */
void usine_bench_loud(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
