/*
 * Memory bandwidth for the roofline: the STREAM triad a[i] = b[i] + s c[i] (McCalpin) on
 * f64 arrays several times the last-level cache, each thread on its own slice, first
 * touched by the thread that uses it (so a NUMA node's pages are local). Bytes count as
 * STREAM counts them, 24 per element (two reads, one write; the write-allocate read is
 * not counted), so the figure is comparable with published STREAM results.
 */
#ifndef USINE_BENCH_TRIAD_H
#define USINE_BENCH_TRIAD_H

#include <stddef.h>

/* GB/s of `threads` threads (best of a few passes), on arrays of `bytes` each; 0 when
 * out of memory. Starts OpenMP threads: call it only in a child process (child.h). */
double usine_bench_triad(int threads, size_t bytes);

/* The array size used: 4 x the last-level cache, at least 32 MiB. */
size_t usine_bench_triad_bytes(long long llc_bytes);

#endif
