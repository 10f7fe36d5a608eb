/*
 * The CUDA lines of `usine bench`: usine's CUDA GEMM against cuBLAS (cublasGemmEx, bf16 in
 * and out, f32 compute), and usine's attention forward against the unfused baseline a
 * framework without a fused kernel runs (cuBLAS S = Q K^T, a row softmax kernel, cuBLAS
 * O = P V, batched over heads), plus usine's attention backward alone (no GPU baseline yet).
 * cuBLAS is loaded with dlopen (libcublas.so.13, .12, or USINE_BENCH_CUBLAS=path), never
 * linked. Timed with CUDA events on the default stream, in a child process (child.h).
 * Only when a CUDA device exists and usine was built with CUDA; otherwise one line says why.
 * USINE_BENCH_GPU=0 leaves them out; =gemm or =attention keeps only those lines.
 */
#ifndef USINE_BENCH_CUDA_BENCH_H
#define USINE_BENCH_CUDA_BENCH_H

#include <stdio.h>

#include "gpu.h"

#define USINE_BENCH_CUDA_LINES 24

typedef struct usine_bench_cuda_line {
    char op[16];              /* "gemm", "gemm tf", "attn fwd", "attn bwd" */
    char shape[96];           /* "8192x8192x8192 bf16", "b4 h8 n8192 d128 causal bf16" */
    double flops;             /* nominal (causal: half) */
    double usine_ms, peer_ms; /* 0: not measured */
    char peer[32];            /* "cuBLAS", "unfused cuBLAS", "" */
    double max_diff;          /* max |usine - peer| / max |peer| over the output; < 0: none */
    char kernel[96];
    char message[200]; /* why a cell is empty */
} usine_bench_cuda_line;

typedef struct usine_bench_cuda_out {
    int n;
    char why[200];    /* why nothing was measured, "" otherwise */
    char cublas[200]; /* the cuBLAS that loaded (file and version), or why none */
    usine_bench_cuda_line lines[USINE_BENCH_CUDA_LINES];
} usine_bench_cuda_out;

/* Child-process work: arg points to a double (seconds to spend per timed call set), out a
 * usine_bench_cuda_out. */
void usine_bench_cuda_child(void *arg, void *out);

/* Runs the CUDA lines when gpu->cuda.present (in a child) and prints them to `table`;
 * returns the number of problems (failed lines). */
int usine_bench_cuda_run(FILE *table, const usine_bench_gpu_info *gpu, double seconds);

#endif
