/* The measured peak: FMA throughput of the active ISA, on one thread and on N threads at
 * once. GEMM GFLOP/s are reported as a percentage of it, for the same thread count. */
#ifndef USINE_BENCH_PEAK_H
#define USINE_BENCH_PEAK_H

#include "usine.h"
#include "../kernels/cpu/cpu_isa.h"

/* GFLOP/s of `threads` threads each running the FMA loop of `isa` for `dtype` (USINE_F32
 * or USINE_F64) concurrently, best of a few trials of about `seconds` each; USINE_BF16
 * and USINE_U8 (int8, GOP/s) time the vdpbf16ps and vpdpbusd dot products instead, and
 * give 0 when `isa` lacks them. *method receives how it was measured (a static string).
 * Starts OpenMP threads: call it only in a child process (see child.h). */
double usine_bench_peak(usine_cpu_isa isa, usine_dtype dtype, int threads, double seconds,
                        const char **method);

#endif
