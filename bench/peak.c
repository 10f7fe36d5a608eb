#include "peak.h"

#include "measure.h"
#include "peak_kernels.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define TRIALS 5 /* best of: a shared machine disturbs single trials */

/* Without OpenMP the threads cannot run together: the N-thread peak is then N times the
 * one-thread peak, and the method says so. */
#ifdef _OPENMP
#define TEAM_NOTE ""
#else
#define TEAM_NOTE "; N threads = N x 1 thread (built without OpenMP)"
#endif

/* The low-precision dot-product loop, NULL when the ISA has no such instruction: a peak
 * that a conversion to f32 could reach would be the f32 one, which is reported already. */
static usine_bench_fma_fn *dot_loop(usine_cpu_isa isa, usine_dtype dtype, const char **method)
{
#if defined(USINE_BENCH_X86)
    if (dtype == USINE_BF16 && isa >= USINE_ISA_AVX512_BF16) {
        *method = "avx512bf16 zmm vdpbf16ps, 16 chains" TEAM_NOTE;
        return usine_bench_dot_avx512bf16;
    }
    if (dtype == USINE_U8 && isa >= USINE_ISA_AVX512_VNNI) {
        *method = "avx512vnni zmm vpdpbusd, 16 chains" TEAM_NOTE;
        return usine_bench_dot_avx512vnni;
    }
#else
    (void)isa;
#endif
    *method = dtype == USINE_BF16 ? "not measured: no AVX512-BF16 (vdpbf16ps) on this CPU"
                                  : "not measured: no AVX512-VNNI (vpdpbusd) on this CPU";
    return NULL;
}

/* The loop for the ISA: never one the CPU lacks (the caller passes a detected or capped
 * level, and the x86 loops are compiled only for x86). */
static usine_bench_fma_fn *fma_loop(usine_cpu_isa isa, usine_dtype dtype, const char **method)
{
    const int f64 = dtype == USINE_F64;
    if (dtype == USINE_BF16 || dtype == USINE_U8)
        return dot_loop(isa, dtype, method);
#if defined(USINE_BENCH_X86)
    if (isa >= USINE_ISA_AVX512) {
        *method = "avx512 zmm FMA, 16 chains" TEAM_NOTE;
        return f64 ? usine_bench_fma_avx512_f64 : usine_bench_fma_avx512_f32;
    }
    if (isa >= USINE_ISA_AVX2) {
        *method = "avx2 ymm FMA, 12 chains" TEAM_NOTE;
        return f64 ? usine_bench_fma_avx2_f64 : usine_bench_fma_avx2_f32;
    }
#else
    (void)isa;
#endif
    *method = "generic C multiply-add, 64 chains" TEAM_NOTE;
    return f64 ? usine_bench_fma_generic_f64 : usine_bench_fma_generic_f32;
}

/* Iterations that take about `seconds` on one thread (doubling from a short run). */
static int64_t calibrate(usine_bench_fma_fn *fn, double seconds)
{
    double sink;
    int64_t iterations = 1 << 14;
    for (;;) {
        const double start = usine_bench_now();
        fn(iterations, &sink);
        const double t = usine_bench_now() - start;
        if (t > 0.02 || iterations > ((int64_t)1 << 40))
            return (int64_t)((double)iterations * seconds / (t > 0 ? t : 1e-9)) + 1;
        iterations *= 2;
    }
}

/* One trial: every thread runs the loop; the wall time spans the slowest one. */
static double trial(usine_bench_fma_fn *fn, int64_t iterations, int threads)
{
    double flops = 0, sink = 0, start = 0, stop = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(+ : flops, sink)
    {
#pragma omp barrier
#pragma omp master
        start = usine_bench_now();
        flops = fn(iterations, &sink);
#pragma omp barrier
#pragma omp master
        stop = usine_bench_now();
    }
#else
    (void)threads;
    start = usine_bench_now();
    flops = fn(iterations, &sink);
    stop = usine_bench_now();
#endif
    /* sink is never 0 after a run: the test keeps it alive without printing it. */
    return sink == 0 ? 0 : flops / (stop - start) * 1e-9;
}

double usine_bench_peak(usine_cpu_isa isa, usine_dtype dtype, int threads, double seconds,
                        const char **method)
{
    usine_bench_fma_fn *fn = fma_loop(isa, dtype, method);
    if (!fn)
        return 0;
    const int64_t iterations = calibrate(fn, seconds);
    trial(fn, iterations / 8 + 1, threads); /* starts the team and ramps the clocks */
    double best = 0;
    for (int i = 0; i < TRIALS; i++) {
        const double g = trial(fn, iterations, threads);
        best = g > best ? g : best;
    }
#ifndef _OPENMP
    best *= threads;
#endif
    return best;
}
