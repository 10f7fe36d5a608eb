/* The unfused baseline's row softmax (attention.h), on its own: -ffast-math here lets GCC
 * call glibc's vector expf (libmvec) from the plain loop; one clone per x86 ISA level so
 * that the widest vector exp the CPU has runs. Masked entries are never exponentiated. */
#include <math.h>
#include <string.h>

#include "attention.h"

#if defined(USINE_BENCH_X86) && defined(__GNUC__) && !defined(__clang__)
#define SOFTMAX_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SOFTMAX_CLONES
#endif

SOFTMAX_CLONES
void usine_bench_softmax_rows(float *s, int64_t first, int64_t last, int64_t seq_q, int64_t seq_k,
                              int causal, int64_t window, float scale)
{
    for (int64_t i = first; i < last; i++) {
        float *row = s + (size_t)(i * seq_k);
        const int64_t off = i + seq_k - seq_q;
        const int64_t hi = causal && off < seq_k - 1 ? off : seq_k - 1;
        int64_t lo = window > 0 ? off - window + 1 : 0;
        lo = lo > 0 ? lo : 0;
        if (hi < lo) {
            memset(row, 0, (size_t)seq_k * sizeof *row);
            continue;
        }
        float max = row[lo];
        for (int64_t j = lo + 1; j <= hi; j++)
            max = row[j] > max ? row[j] : max;
        float sum = 0;
        for (int64_t j = lo; j <= hi; j++) {
            row[j] = expf((row[j] - max) * scale);
            sum += row[j];
        }
        const float inv = 1.0f / sum;
        for (int64_t j = lo; j <= hi; j++)
            row[j] *= inv;
        if (lo > 0)
            memset(row, 0, (size_t)lo * sizeof *row);
        if (hi + 1 < seq_k)
            memset(row + hi + 1, 0, (size_t)(seq_k - hi - 1) * sizeof *row);
    }
}

SOFTMAX_CLONES
void usine_bench_softmax_grad_rows(float *dp, const float *p, const float *d_o, const float *o,
                                   int64_t first, int64_t last, int64_t seq_k, int64_t head_dim,
                                   float scale)
{
    for (int64_t i = first; i < last; i++) {
        const float *doi = d_o + (size_t)(i * head_dim), *oi = o + (size_t)(i * head_dim);
        float d = 0;
        for (int64_t c = 0; c < head_dim; c++)
            d += doi[c] * oi[c];
        float *row = dp + (size_t)(i * seq_k);
        const float *prow = p + (size_t)(i * seq_k);
        for (int64_t j = 0; j < seq_k; j++)
            row[j] = scale * prow[j] * (row[j] - d); /* p is 0 where masked */
    }
}
