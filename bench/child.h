/*
 * Runs a piece of work in a forked child process. Thread pools fight on a small machine
 * (OpenBLAS's spinning pthreads against OpenMP's), and GNU OpenMP does not survive a
 * fork once its team exists; so the parent never loads a peer nor starts a team, and
 * every measurement happens in a child that exits afterwards. A child that crashes or
 * hangs costs one measurement, never the run.
 */
#ifndef USINE_BENCH_CHILD_H
#define USINE_BENCH_CHILD_H

#include <stddef.h>

/* The work: fills out (out_size bytes, zeroed beforehand) in the child. */
typedef void usine_bench_child_fn(void *arg, void *out);

/*
 * Runs fn(arg, out) in a child with a time limit, then copies the child's `out` back.
 * Returns 0 when the child finished and reported; otherwise -1, and `why` says what
 * happened (crashed with a signal, timed out, exited early).
 */
int usine_bench_in_child(usine_bench_child_fn *fn, void *arg, void *out, size_t out_size,
                         unsigned timeout_s, char *why, size_t why_size);

/* Memory that a child's writes reach the parent through (fork copies the rest). NULL on
 * failure. */
void *usine_bench_shared_alloc(size_t bytes);
void usine_bench_shared_free(void *p, size_t bytes);

#endif
