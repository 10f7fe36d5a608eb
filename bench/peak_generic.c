/* Portable multiply-add throughput: the peak the generic (plain C) kernels can reach.
 * No ISA flags: on x86-64 the compiler may pack the accumulators into SSE2 registers,
 * which is what it can do for the generic kernels too. */
#include "peak_kernels.h"

/* Independent chains: each step is a multiply then a dependent add (no FMA in baseline
 * x86-64), about 6 cycles of latency, and two of each can start per cycle; packed four
 * (f32) or two (f64) to an SSE register, 64 chains keep 16 or 32 registers' worth in
 * flight, enough to reach the throughput the generic kernels can. */
#define CHAINS 64

double usine_bench_fma_generic_f32(int64_t iterations, double *sink)
{
    float acc[CHAINS];
    for (int j = 0; j < CHAINS; j++)
        acc[j] = 0.01f * (float)j;        /* distinct: equal chains could be merged */
    const float x = 0.999999f, y = 1e-6f; /* settles near y / (1 - x), see peak_avx512.c */
    for (int64_t i = 0; i < iterations; i++)
        for (int j = 0; j < CHAINS; j++)
            acc[j] = acc[j] * x + y;
    double s = 0;
    for (int j = 0; j < CHAINS; j++)
        s += acc[j];
    *sink = s;
    return (double)iterations * CHAINS * 2;
}

double usine_bench_fma_generic_f64(int64_t iterations, double *sink)
{
    double acc[CHAINS];
    for (int j = 0; j < CHAINS; j++)
        acc[j] = 0.01 * j;
    const double x = 0.999999, y = 1e-6;
    for (int64_t i = 0; i < iterations; i++)
        for (int j = 0; j < CHAINS; j++)
            acc[j] = acc[j] * x + y;
    double s = 0;
    for (int j = 0; j < CHAINS; j++)
        s += acc[j];
    *sink = s;
    return (double)iterations * CHAINS * 2;
}
