/*
 * FMA throughput loops for the measured peak, one per ISA and dtype. Each runs
 * `iterations` rounds of independent multiply-adds on enough accumulators to cover the
 * FMA latency times the number of FMA pipes (4 cycles x 2 pipes on Zen 4 and Skylake-X,
 * so at least 8 chains; we use 12 to 16), and returns the flops it did. *sink receives a
 * value that depends on every accumulator, so that the compiler keeps all the work.
 *
 * Only the peak_<isa>.c files hold ISA code; they are compiled with per-file
 * flags and called only when the run-time ISA allows it (peak.c decides).
 */
#ifndef USINE_BENCH_PEAK_KERNELS_H
#define USINE_BENCH_PEAK_KERNELS_H

#include <stdint.h>

typedef double usine_bench_fma_fn(int64_t iterations, double *sink);

usine_bench_fma_fn usine_bench_fma_generic_f32, usine_bench_fma_generic_f64;
#if defined(USINE_BENCH_X86)
usine_bench_fma_fn usine_bench_fma_avx2_f32, usine_bench_fma_avx2_f64;
usine_bench_fma_fn usine_bench_fma_avx512_f32, usine_bench_fma_avx512_f64;
/* The low-precision dot products, same contract: vdpbf16ps (bf16 pairs into f32, 64 flops
 * an instruction) and vpdpbusd (u8 x s8 quads into s32, 128 ops). */
usine_bench_fma_fn usine_bench_dot_avx512bf16, usine_bench_dot_avx512vnni;
#endif

#endif
