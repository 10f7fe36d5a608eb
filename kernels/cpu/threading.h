/* Threading helpers for CPU kernels: the only place that talks to OpenMP. */
#ifndef USINE_KERNELS_CPU_THREADING_H
#define USINE_KERNELS_CPU_THREADING_H

/* OpenMP's default team size (honours OMP_NUM_THREADS); 1 in a build without OpenMP. */
int usine_cpu_default_threads(void);

/* Non-zero when called from inside an active OpenMP parallel region: usine then runs on
 * the calling thread alone rather than oversubscribing the caller's cores. */
int usine_cpu_in_parallel(void);

/* Runs body(arg, thread_index, thread_count) on up to `threads` threads and waits.
 * thread_count is the team actually obtained (possibly fewer than asked): bodies must
 * split their work by it, never by `threads`. */
typedef void usine_parallel_body(void *arg, int thread_index, int thread_count);
void usine_cpu_parallel(int threads, usine_parallel_body *body, void *arg);

/* Waits for every thread of the current team (inside usine_cpu_parallel bodies only; all
 * threads of the team must call it the same number of times). */
void usine_cpu_barrier(void);

#endif
