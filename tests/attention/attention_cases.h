/*
 * What test_attention.c (forward) and test_attention_backward.c (backward) share: the case
 * description, the tensors every case allocates (Q, K, V, O, lse with their descriptor), element
 * access, the case generators and drivers of the shape and mask sweeps, and the check that a
 * rejected call wrote nothing. Each program keeps its own reference and tolerances.
 */
#ifndef USINE_ATTENTION_CASES_H
#define USINE_ATTENTION_CASES_H

#include <stddef.h>
#include <stdint.h>

#include "test_util.h"

/* Written into outputs before a call: exact in bf16, so both dtypes hold the same value. */
#define ATTN_SENTINEL 12288.0f

typedef struct attn_case {
    usine_dtype dtype;
    int64_t batch, hq, hkv, sq, sk, d;
    int bshd;    /* layout: BSHD (1) or BHSD (0) */
    int64_t pad; /* extra elements per position row (padded strides) */
    int causal;
    int64_t window;
    double scale;
    int varlen;
    int32_t cu_q[9], cu_k[9]; /* varlen offsets (batch <= 8) */
} attn_case;

/* The forward's tensors; the element counts (one past the last row) size the buffers of the
 * same shape that the backward adds. */
typedef struct attn_tensors {
    test_buffer q, k, v, o, lse;
    int64_t nq_pos, nk_pos, nb; /* positions and batch items along the axes */
    int64_t nq_el, nk_el, nl;   /* elements of Q (and O), K (and V), lse */
    usine_attention_desc desc;
} attn_tensors;

/* The context of a test program (or its skip), after printing the seed that reproduces the
 * run; *heavy is set when USINE_TEST_HEAVY=1 asks for more random cases. */
usine_context *attn_start(const char *name, int *heavy);

/* Element i of a stored f32 or bf16 tensor. */
double attn_get(const attn_case *c, const void *x, int64_t i);

/* Bytes per element of the case's dtype. */
size_t attn_esize(const attn_case *c);

/* A tensor of the case's dtype holding `fill` in every element (NaN for inputs: reading
 * padding shows up in the results). */
test_buffer attn_make_buffer(const attn_case *c, int64_t elements, float fill);

/* Uniform values in [-1, 1) in the rows of a [nb, heads, npos, d] tensor with strides s. */
void attn_fill_rows(const attn_case *c, void *x, int64_t nb, int64_t heads, int64_t npos,
                    const int64_t s[3]);

/* The descriptor and tensors of a case: Q, K, V random in their rows and NaN elsewhere; O and
 * lse hold `out_fill` (a sentinel, or NaN where the backward must not depend on it). */
void attn_make_tensors(const attn_case *c, attn_tensors *t, float out_fill);
void attn_free_tensors(attn_tensors *t);

/* usine_attention_forward on the tensors. */
usine_status attn_forward(usine_context *ctx, attn_tensors *t);

/* One line naming every parameter of the case, after `prefix`. */
void attn_describe(const attn_case *c, const char *prefix, char *text, size_t size);

/* f32, BHSD, one batch item, one head, one query and one key, head dim d. */
attn_case attn_base_case(int64_t d);

/* GQA 4/2 over 2 batch items, head dim 64: the setting of the determinism and error tests. */
attn_case attn_gqa_case(int64_t sq, int64_t sk);

/* MQA over 6 causal heads, 4 varlen items with empty sequences (attn_varlen_with_gaps). */
attn_case attn_mqa_varlen_case(int64_t d, int64_t max_q, int64_t max_k);

/* Random lengths that sum to at most `max` each, one possibly empty. */
void attn_random_varlen(attn_case *c, int64_t max_q, int64_t max_k);

/* Random varlen lengths with an empty query sequence (item 1) and an empty key sequence
 * (item 2); needs batch >= 3. */
void attn_varlen_with_gaps(attn_case *c, int64_t max_q, int64_t max_k);

typedef void attn_runner(usine_context *ctx, const attn_case *c);

/* Per head dim: a plain GQA case, then `rounds` cases with every option at random. */
void attn_for_each_shape(usine_context *ctx, int rounds, attn_runner *run);

/* Per [seq_q, seq_k] shape: causal, causal + window, window, and a diagonal-only window
 * (GQA 4/2, head dim d, layouts alternating). */
void attn_for_each_mask(usine_context *ctx, const int64_t (*shapes)[2], size_t count, int64_t d,
                        attn_runner *run);

/* Copies of the outputs taken before a call that must fail. */
#define ATTN_MAX_SAVED 3
typedef struct attn_saved {
    test_buffer *buf[ATTN_MAX_SAVED];
    unsigned char *copy[ATTN_MAX_SAVED];
    int count;
} attn_saved;

attn_saved attn_save(test_buffer *const *buf, int count);

/* A rejected call: status `want`, a message naming `needle` (and `function` unless NULL), and
 * every saved buffer and its guards untouched. Frees the copies. */
void attn_expect_rejected(attn_saved *s, usine_status st, usine_status want, const char *needle,
                          const char *function);

#endif
