/*
 * The attention drivers' tuning parameter, the block: keys per block of the forward
 * (FlashAttention's inner tile: larger blocks rescale the accumulator less often, smaller
 * ones keep S^T and the rows of K and V in L1) and query rows per step of the backward.
 * The query tile is the microkernel's (mr rows, fixed by its registers).
 *
 * Rules, in order (as for GEMM): override (USINE_ATTN_BLOCK) -> exact tuned entry ->
 * nearest tuned entry (same op, dtype and kernel, shape classes within two doublings) ->
 * default (USINE_ATTN_BLOCK_DEFAULT).
 *
 * Entries: op attn_fwd or attn_bwd, dtypes f32 or bf16, m/n/k classes of seq_q, seq_k and
 * head_dim, the kernel's name, params block=N; always t1: the block is a per-core choice
 * (each thread runs whole query or key blocks), and keying it by thread count would make
 * results depend on the thread count, which attention promises they never do.
 */
#ifndef USINE_AUTOTUNE_ATTENTION_TUNE_H
#define USINE_AUTOTUNE_ATTENTION_TUNE_H

#include "search.h"
#include "select.h"
#include "../kernels/cpu/attention/attention_kernel.h"

typedef struct usine_attn_choice {
    int block;
    const char *rule; /* human name of the rule */
    usine_select_rule rule_id;
} usine_attn_choice;

/* Whether b is a legal block: a multiple of 16 in [USINE_ATTN_BLOCK_MIN, _MAX]. */
int usine_attn_block_valid(int64_t b);

/* The block for a forward (backward = 0) or backward (1) call with this kernel. */
void usine_select_attention(usine_selector *sel, const usine_attn_kernel *kernel, int backward,
                            usine_dtype dtype, int64_t seq_q, int64_t seq_k, int64_t head_dim,
                            usine_attn_choice *choice);

/* The database key of such a call on this machine and library version. */
void usine_attention_key(int backward, usine_dtype dtype, int64_t seq_q, int64_t seq_k,
                         int64_t head_dim, usine_tune_key *key);

/*
 * Tunes the class of (seq_q = seq_k = seq, head_dim) on one thread with `heads` heads:
 * every legal block from 16 to 256 (doubling), the default always measured, the winner
 * confirmed against the default in interleaved runs (it must beat it by min_gain).
 * Returns 0, or -1 if memory for the tensors is lacking.
 */
int usine_tune_attention(const usine_attn_kernel *kernel, int backward, usine_dtype dtype,
                         int64_t seq, int64_t heads, int64_t head_dim,
                         const usine_tune_options *options, usine_tune_outcome *outcome);

#endif
