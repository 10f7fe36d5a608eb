/*
 * oneDNN's matmul primitive as a peer for the low-precision GEMMs (bf16 x bf16 -> f32,
 * u8 x s8 -> s32), loaded with dlopen like the other peers: every function comes from
 * dlsym; oneDNN's header (Debian's libdnnl-dev) gives only the types and constants, and
 * without it the peer says so and is skipped.
 *
 * The products are row-major, as a linear layer stores them: C (m x n) = op(A) op(B),
 * A the activations (m x k), B the weights (k x n, "row-major weights": plain, not
 * oneDNN's packed layout). oneDNN's matmul is row-major too, and takes u8 only as its
 * source: a column-major product would make the u8 operand its weights, which it lacks.
 */
#ifndef USINE_BENCH_ONEDNN_MATMUL_H
#define USINE_BENCH_ONEDNN_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "usine.h"

/* One low-precision product: `batch` items packed one after another. */
typedef struct usine_bench_lowp_gemm {
    usine_dtype a_type, b_type, c_type; /* bf16, bf16, f32 or u8, s8, s32 */
    char transa, transb;                /* 'T': A stored k x m, B stored n x k */
    int64_t m, n, k, batch;
    const void *a, *b;
    void *c;
} usine_bench_lowp_gemm;

/* Resolves the primitive API in a loaded libdnnl. Returns 0, or -1 with why (no header
 * at build time, a missing symbol, another major version than the header's). */
int usine_bench_onednn_matmul_load(void *handle, const char *path, char *why, size_t size);

typedef struct usine_bench_onednn_matmul usine_bench_onednn_matmul;

/* Creates the engine, stream, primitive and memory objects of one shape (not timed).
 * Returns 0; 1 when oneDNN has no implementation for it (a skip, with why); -1 on
 * another error. Call only after a successful load, in a child process. */
int usine_bench_onednn_matmul_create(const usine_bench_lowp_gemm *g,
                                     usine_bench_onednn_matmul **out, char *why, size_t size);

/* One product: execute and wait. Returns 0 or oneDNN's status. */
int usine_bench_onednn_matmul_run(usine_bench_onednn_matmul *mm);

/* The implementation oneDNN chose, e.g. "brg:avx512_core_bf16". */
const char *usine_bench_onednn_matmul_impl(const usine_bench_onednn_matmul *mm);

void usine_bench_onednn_matmul_destroy(usine_bench_onednn_matmul *mm);

#endif
