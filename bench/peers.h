/*
 * The libraries usine is compared with, loaded with dlopen so that usine never depends
 * on them. Each may be missing, or lack a symbol: that is said and the peer skipped.
 * USINE_BENCH_<KEY>=path (e.g. USINE_BENCH_OPENBLAS=/opt/lib/libopenblas.so) loads a
 * given file instead of the usual names.
 */
#ifndef USINE_BENCH_PEERS_H
#define USINE_BENCH_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include "usine.h"

typedef enum usine_bench_peer_id {
    USINE_PEER_OPENBLAS = 0,
    USINE_PEER_BLIS = 1,
    USINE_PEER_ONEDNN = 2,
    USINE_PEER_COUNT = 3
} usine_bench_peer_id;

/* Entry points of a loaded peer; fn[] slots are the peer's own (see peers.c). */
typedef struct usine_bench_peer {
    usine_bench_peer_id id;
    void *handle;
    char path[160]; /* the name or file that loaded */
    char version[160];
    char api[128];      /* the entry points used, e.g. "cblas_sgemm, cblas_dgemm" */
    int dtypes;         /* bit (1 << usine_bench_dtype_slot): f32 1, f64 2, bf16 4, int8 8 */
    char lowp_why[160]; /* why there is no bf16 and int8 GEMM, "" when there is */
    void (*fn[3])(void);
} usine_bench_peer;

/* "OpenBLAS", "BLIS", "oneDNN". */
const char *usine_bench_peer_name(usine_bench_peer_id id);

/* "openblas", "blis", "onednn": the names --peers takes. -1 for an unknown key. */
const char *usine_bench_peer_key(usine_bench_peer_id id);
int usine_bench_peer_from_key(const char *key);

/* The bit of usine_bench_peer.dtypes for a dtype (0 for one no run measures). */
int usine_bench_dtype_bit(usine_dtype dtype);

/*
 * Loads the peer and sets its thread count. It may start the peer's thread pool: call
 * it only in a child process. Returns 0, or -1 with a message naming the missing file
 * or symbol.
 */
int usine_bench_peer_load(usine_bench_peer_id id, int threads, usine_bench_peer *peer,
                          char *message, size_t size);

/* Column-major C (m x n) = op(A) (m x k) * op(B) (k x n), alpha 1, beta 0, one call of
 * the peer; transa and transb are 'N' or 'T'. Returns 0, or the peer's non-zero status.
 * f32 and f64 only: bf16 and int8 go through oneDNN's matmul (onednn_matmul.h). */
int usine_bench_peer_gemm(const usine_bench_peer *peer, usine_dtype dtype, char transa, char transb,
                          int64_t m, int64_t n, int64_t k, const void *a, int64_t lda,
                          const void *b, int64_t ldb, void *c, int64_t ldc);

#endif
