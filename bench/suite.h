/*
 * Benchmark suites: plain text shape files (bench/suites/README.md gives the format),
 * built into the binary by name or read from any file, DeepBench's GEMM and conv problem
 * lists included. A case is one line: an op (GEMM, attention, convolution), a dtype and
 * its sizes. Cases of ops or dtypes usine does not have yet are kept and listed, never
 * dropped: their flop counts say what is waiting.
 */
#ifndef USINE_BENCH_SUITE_H
#define USINE_BENCH_SUITE_H

#include <stddef.h>
#include <stdint.h>

#include "usine.h"

typedef enum usine_bench_op {
    USINE_BENCH_OP_GEMM = 0,
    USINE_BENCH_OP_ATTENTION = 1,
    USINE_BENCH_OP_CONV = 2
} usine_bench_op;

/* Attention: Q (batch, heads, seq_q, head_dim), K and V with kv_heads heads
 * (grouped-query when fewer than heads) and seq_k rows. causal: a query sees keys up to
 * its own position (bottom-right aligned); window > 0: and only the last `window`.
 * backward: the line measures the backward (dQ, dK, dV from dO) instead of the forward. */
typedef struct usine_bench_attention {
    int64_t batch, heads, kv_heads, seq_q, seq_k, head_dim, window;
    int causal, backward;
} usine_bench_attention;

/* Conv2d in NCHW terms: input n x c x h x w, k filters of (c / groups) x r x s; pass: the
 * usine_conv_pass measured (forward, backward data or backward weights), `pass=` in a suite
 * line (fwd, bwd_data, bwd_weights; default fwd). */
typedef struct usine_bench_conv {
    int64_t n, c, h, w, k, r, s, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
    int pass;
} usine_bench_conv;

typedef struct usine_bench_case {
    usine_bench_op op;
    char dtype_name[8]; /* f32, f64, bf16, f16, int8 */
    usine_dtype dtype;  /* F32, F64, BF16, F16, or U8 for int8 (u8 x s8 -> s32) */
    int runs;           /* usine has this op and dtype: it is measured */
    char group[48];     /* section of the suite (a model, "square", ...) */
    char note[160];     /* the line's trailing comment: what the shape is, where from */
    char origin[96];    /* file:line */
    int64_t count;      /* how often the layer occurs in its model (information only) */
    /* GEMM: C (m x n) = op(A) (m x k) op(B) (k x n), `batch` times; column-major in f32
     * and f64, row-major in bf16 and int8 (A the activations, B the weights). */
    int64_t m, n, k, batch;
    char transa, transb; /* 'N' or 'T' */
    usine_bench_attention att;
    usine_bench_conv conv;
} usine_bench_case;

typedef struct usine_bench_suite {
    char name[160];  /* the built-in name or the file given */
    char title[160]; /* the first comment line of the file */
    usine_bench_case *cases;
    size_t n_cases;
} usine_bench_suite;

/*
 * Loads a built-in suite by name (usine_bench_suite_names()) or a shape file by path.
 * Returns 0, or -1 with a message (unknown name, unreadable file, file:line of a bad
 * line). Free with usine_bench_suite_free.
 */
int usine_bench_suite_load(const char *name_or_path, usine_bench_suite *suite, char *message,
                           size_t size);

/* Parses suite text; `origin` names it in messages. Same contract as above. */
int usine_bench_suite_parse(const char *text, const char *origin, usine_bench_suite *suite,
                            char *message, size_t size);

void usine_bench_suite_free(usine_bench_suite *suite);

/* "quick|gemm|transformer|resnet50|smoke", for messages. */
const char *usine_bench_suite_names(void);

/* Floating-point operations of the case (multiply-adds count 2; an attention backward
 * counts 2.5 times its forward's: five products of the forward's size for two), and the fewest
 * bytes it must move (each operand read once, the output written once): their ratio is the
 * arithmetic intensity of the roofline. */
double usine_bench_case_flops(const usine_bench_case *c);
double usine_bench_case_bytes(const usine_bench_case *c);

/* "fwd", "bwd_data", "bwd_weights" (the suite's pass= values, for usine_conv_pass 0, 1, 2),
 * and the JSON's names "forward", "backward_data", "backward_weights". */
const char *usine_bench_conv_pass_key(int pass);
const char *usine_bench_conv_pass_name(int pass);

/* "gemm", "attention", "conv". */
const char *usine_bench_op_name(usine_bench_op op);

/* Why a case does not run, e.g. "attention not built yet (issue 7)"; "" when it runs. */
const char *usine_bench_case_not_built(const usine_bench_case *c);

/* A short label: "4096x4096x4096", "512x512x64 x64 TN", "b1 h32/8 s2048 d128 causal",
 * "n1 c64 56x56 k64 3x3/1". */
void usine_bench_case_label(const usine_bench_case *c, char *out, size_t size);

/* Leading dimensions of a GEMM case's A and B as stored, packed. Column-major (f32,
 * f64): A is m x k (lda m), or k x m when transposed (lda k); B is k x n (ldb k) or n x k
 * (ldb n). Row-major (bf16, int8): lda k (m transposed), ldb n (k transposed). */
int64_t usine_bench_lda(const usine_bench_case *c);
int64_t usine_bench_ldb(const usine_bench_case *c);

/* "f32", "f64", "bf16", "f16", "int8" (for USINE_U8: the u8 x s8 -> s32 family). */
const char *usine_bench_dtype_name(usine_dtype dtype);

/* The dtypes a run measures have a slot each, for peaks and options: f32 0, f64 1, bf16 2,
 * int8 3 (-1 for another dtype); bit (1 << slot) in option masks. */
#define USINE_BENCH_DTYPE_SLOTS 4
#define USINE_BENCH_LOWP_BITS   ((1 << 2) | (1 << 3)) /* bf16 and int8 */
int usine_bench_dtype_slot(usine_dtype dtype);
usine_dtype usine_bench_slot_dtype(int slot);

/* bf16 or int8: row-major, called through usine_gemm_ex, compared with oneDNN's matmul. */
int usine_bench_is_lowp(usine_dtype dtype);

/* A, B and C's dtypes: all alike in f32 and f64; bf16 x bf16 -> f32; u8 x s8 -> s32. */
void usine_bench_case_types(const usine_bench_case *c, usine_dtype types[3]);

/* The whole file as a NUL-terminated string (free it), or NULL with a message. */
char *usine_bench_read_file(const char *path, char *message, size_t size);

#endif
