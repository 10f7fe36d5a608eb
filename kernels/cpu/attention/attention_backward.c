/*
 * FlashAttention-2 backward (Dao, 2023, algorithm 2) on the CPU. Given Q, K, V, the
 * forward's O and lse, and dO, with P = exp(S - lse) recomputed block by block (S = Q K^T *
 * scale, masked), never stored:
 *   D_i = sum_c dO_ic O_ic,   dP = dO V^T,   dS = P (dP - D),
 *   dV = P^T dO,   dK = scale dS^T Q,   dQ = scale dS K.
 *
 * Work is split by KEYS, as FlashAttention-2 does: an item is (sequence, key/value head,
 * chunk of key blocks); it holds a block of mr keys transposed (keys in the vector lanes:
 * K^T pre-scaled by scale * log2(e), so that P = exp2(S' - lse log2(e)), and V^T) and the
 * block's dK^T and dV^T accumulators, and sweeps every query row of every query head that
 * shares the key/value head (GQA: dK and dV sum over the group) in steps of p->block rows:
 *   S = scores(K^T, Q rows); mask; dP = scores(V^T, dO rows); P, dS = bwd_ds(...);
 *   dV^T += pv(P, dO rows); dK^T += pv(dS, Q rows); dQ partial += dq(dS, K rows).
 * Each item owns its dK and dV rows outright. dQ rows receive a term from every key block:
 * FlashAttention-2 adds them with atomics, which makes the result depend on the schedule.
 * Here the keys of a (sequence, kv head) are cut into a fixed number of chunks C that depends
 * on the shape only (never on the thread count), chunk c accumulates into its own f32 dQ
 * buffer in a fixed order (key blocks ascending, then query heads and rows), and a last pass
 * adds the C buffers in order c = 0 .. C-1 and scales. So every result is bitwise identical
 * across runs and thread counts, at the cost of C (<= 8) f32 copies of dQ in the workspace
 * (O(N d) memory: still never the N x N scores).
 *
 * Phases (one parallel region, separated by barriers; the static splits of phases 1 and 3
 * only change who computes a row, not how):
 *   1. per query row: D_i (double accumulation, rounded to f32), lse_i log2(e) (+inf for a
 *      row that saw no key, so that its P is 0, never NaN), dQ partial rows zeroed;
 *   2. items from a shared counter, as above;
 *   3. per query row: dQ = scale * sum_c partial_c, converted to the element type.
 * A query that sees no key gets dQ = 0; a key that no query sees gets dK = dV = 0.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "attention_driver.h"
#include "../half.h"
#include "../threading.h"

#define LOG2E 1.4426950408889634

static size_t align64(size_t bytes)
{
    return (bytes + 63) & ~(size_t)63;
}

/* Rows of lse (and of D and of each dQ partial): as the forward lays out lse. */
static int64_t total_rows(const usine_attn_problem *p)
{
    return p->cu_q ? p->heads_q * (int64_t)p->cu_q[p->batch] : p->batch * p->heads_q * p->seq_q;
}

/* Key chunks per (sequence, kv head): enough items for 16 threads, at most 8, at most one
 * per key block. A function of the shape only (determinism). */
static int64_t chunks(const usine_attn_kernel *kr, const usine_attn_problem *p)
{
    const int64_t pairs = p->batch * p->heads_kv, blocks = (p->seq_k + kr->mr - 1) / kr->mr;
    int64_t c = (16 + pairs - 1) / pairs;
    if (c > 8)
        c = 8;
    if (c > blocks)
        c = blocks;
    return c < 1 ? 1 : c;
}

/* Per thread, in floats: K^T, V^T, dK^T, dV^T (d x mr), S and dP (block x mr), ones (mr), and
 * for bf16 Q and dO rows (block x d) and K rows (mr x d) converted to f32. */
static size_t per_thread_bytes(const usine_attn_kernel *kr, const usine_attn_problem *p)
{
    const size_t mr = (size_t)kr->mr, d = (size_t)p->head_dim, f = sizeof(float);
    size_t bytes =
        4 * align64(d * mr * f) + 2 * align64((size_t)p->block * mr * f) + align64(mr * f);
    if (p->dtype == USINE_BF16)
        bytes += 2 * align64((size_t)p->block * d * f) + align64(mr * d * f);
    return bytes;
}

static size_t shared_bytes(const usine_attn_kernel *kr, const usine_attn_problem *p)
{
    const size_t rows = (size_t)total_rows(p), f = sizeof(float);
    return 2 * align64(rows * f) + align64((size_t)chunks(kr, p) * rows * (size_t)p->head_dim * f);
}

size_t usine_cpu_attn_backward_workspace_size(const usine_attn_kernel *kernel,
                                              const usine_attn_problem *p, int threads)
{
    return shared_bytes(kernel, p) + (size_t)threads * per_thread_bytes(kernel, p) + 64;
}

typedef struct thread_space {
    float *kt, *vt, *dkt, *dvt, *st, *dpt, *ones, *qf, *dof, *kf;
} thread_space;

typedef struct bwd_args {
    const usine_attn_kernel *kr;
    const usine_attn_problem *p;
    const usine_attn_grads *g;
    float *dd, *lse2, *dq_part; /* [rows], [rows], [C][rows][d] */
    char *per_thread_base;
    size_t per_thread;
    int64_t nseq, rows, nchunks, items;
    atomic_llong next;
} bwd_args;

typedef usine_attn_sequence sequence;

static float load(usine_dtype t, const void *x, int64_t i)
{
    return t == USINE_BF16 ? usine_bf16_to_f32(((const uint16_t *)x)[i]) : ((const float *)x)[i];
}

static void store(usine_dtype t, void *x, int64_t i, float v)
{
    if (t == USINE_BF16)
        ((uint16_t *)x)[i] = usine_f32_to_bf16(v);
    else
        ((float *)x)[i] = v;
}

/* Rows r0 .. r0 + n - 1 (stride `stride`) of a bf16 tensor as f32 rows of d. */
static void convert_rows(const uint16_t *src, int64_t stride, int64_t d, int n, float *dst)
{
    for (int j = 0; j < n; j++)
#pragma omp simd
        for (int64_t x = 0; x < d; x++)
            dst[j * d + x] = usine_bf16_to_f32(src[j * stride + x]);
}

/* Rows nk keys of K or V, transposed into lanes: t[x * mr + j] = c * row_j[x]; lanes
 * j >= nk are 0. */
static void pack_t(usine_dtype type, const void *src, int64_t base, int64_t stride, int64_t d,
                   int nk, int mr, float c, float *t)
{
    memset(t, 0, (size_t)(d * mr) * sizeof *t);
    for (int j = 0; j < nk; j++)
        for (int64_t x = 0; x < d; x++)
            t[x * mr + j] = load(type, src, base + j * stride + x) * c;
}

/* S[i * mr + j] = -inf where query q0 + i must not see key k0 + j, or j >= nk (lanes past
 * the last key). */
static void apply_mask(const usine_attn_problem *p, int64_t q0, int nq, int64_t k0, int nk, int mr,
                       int64_t off, float *st)
{
    const float ninf = -__builtin_inff();
    for (int i = 0; i < nq; i++) {
        const int64_t qi = q0 + i;
        float *row = st + (int64_t)i * mr;
#pragma omp simd
        for (int j = 0; j < mr; j++) {
            const int64_t kj = k0 + j;
            row[j] = j >= nk || usine_attn_hidden(p, qi, kj, off) ? ninf : row[j];
        }
    }
}

/* Phase 1 for query head h of sequence b. */
static void row_stats(const bwd_args *r, int64_t b, int64_t h)
{
    const usine_attn_problem *p = r->p;
    const sequence s = usine_attn_locate(p, b, h);
    const int64_t d = p->head_dim, os = p->o_strides[2];
    for (int64_t i = 0; i < s.sq; i++) {
        const int64_t row = s.o_base + i * os, at = s.lse_base + i;
        double acc = 0;
        for (int64_t x = 0; x < d; x++)
            acc += (double)load(p->dtype, r->g->d_o, row + x) * load(p->dtype, p->o, row + x);
        r->dd[at] = (float)acc;
        const float l = p->lse[at];
        r->lse2[at] = l == -__builtin_inff() ? __builtin_inff() : (float)((double)l * LOG2E);
        for (int64_t c = 0; c < r->nchunks; c++)
            memset(r->dq_part + (c * r->rows + at) * d, 0, (size_t)d * sizeof(float));
    }
}

/* Phase 3 for query head h of sequence b. */
static void write_dq(const bwd_args *r, int64_t b, int64_t h)
{
    const usine_attn_problem *p = r->p;
    const sequence s = usine_attn_locate(p, b, h);
    const int64_t d = p->head_dim, qs = p->q_strides[2];
    for (int64_t i = 0; i < s.sq; i++) {
        const int64_t at = s.lse_base + i, row = s.q_base + i * qs;
        for (int64_t x = 0; x < d; x++) {
            float sum = r->dq_part[at * d + x];
            for (int64_t c = 1; c < r->nchunks; c++)
                sum += r->dq_part[(c * r->rows + at) * d + x];
            store(p->dtype, r->g->dq, row + x, sum * p->scale);
        }
    }
}

/* Phase 2: item t = ((sequence b, kv head hk), chunk c). */
static void key_chunk(const bwd_args *r, const thread_space *w, int64_t t)
{
    const usine_attn_problem *p = r->p;
    const usine_attn_kernel *kr = r->kr;
    const int mr = kr->mr;
    const int64_t c = t % r->nchunks, pair = t / r->nchunks;
    const int64_t b = pair / p->heads_kv, hk = pair % p->heads_kv;
    const int64_t group = p->heads_q / p->heads_kv, d = p->head_dim;
    const sequence s0 = usine_attn_locate(p, b, hk * group);
    const int64_t nkb = (s0.sk + mr - 1) / mr, off = s0.sk - s0.sq;
    const int64_t kb0 = c * nkb / r->nchunks, kb1 = (c + 1) * nkb / r->nchunks;
    const int bf16 = p->dtype == USINE_BF16;
    const int64_t ks = p->k_strides[2], vs = p->v_strides[2], qs = p->q_strides[2],
                  os = p->o_strides[2];
    const float c2 = (float)((double)p->scale * LOG2E);
    for (int64_t kb = kb0; kb < kb1; kb++) {
        const int64_t k0 = kb * mr;
        const int nk = (int)(s0.sk - k0 < mr ? s0.sk - k0 : mr);
        pack_t(p->dtype, p->k, s0.k_base + k0 * ks, ks, d, nk, mr, c2, w->kt);
        pack_t(p->dtype, p->v, s0.v_base + k0 * vs, vs, d, nk, mr, 1.0f, w->vt);
        memset(w->dkt, 0, (size_t)(d * mr) * sizeof(float));
        memset(w->dvt, 0, (size_t)(d * mr) * sizeof(float));
        const float *krows;
        int64_t kstride;
        if (bf16) {
            convert_rows((const uint16_t *)p->k + s0.k_base + k0 * ks, ks, d, nk, w->kf);
            krows = w->kf;
            kstride = d;
        } else {
            krows = (const float *)p->k + s0.k_base + k0 * ks;
            kstride = ks;
        }
        /* Queries that see some key of the block: [qlo, qhi). Query i sees key j when
         * j <= i + off (causal) and j > i + off - window. */
        int64_t qlo = 0, qhi = s0.sq;
        if (p->causal && k0 - off > qlo)
            qlo = k0 - off;
        if (p->window > 0 && k0 + nk - 1 - off + p->window < qhi)
            qhi = k0 + nk - 1 - off + p->window;
        for (int64_t h = hk * group; h < (hk + 1) * group; h++) {
            const sequence s = usine_attn_locate(p, b, h);
            for (int64_t q0 = qlo; q0 < qhi; q0 += p->block) {
                const int nq = (int)(qhi - q0 < p->block ? qhi - q0 : p->block);
                const float *qrows, *orows;
                int64_t qstride, ostride;
                if (bf16) {
                    convert_rows((const uint16_t *)p->q + s.q_base + q0 * qs, qs, d, nq, w->qf);
                    convert_rows((const uint16_t *)r->g->d_o + s.o_base + q0 * os, os, d, nq,
                                 w->dof);
                    qrows = w->qf;
                    orows = w->dof;
                    qstride = ostride = d;
                } else {
                    qrows = (const float *)p->q + s.q_base + q0 * qs;
                    orows = (const float *)r->g->d_o + s.o_base + q0 * os;
                    qstride = qs;
                    ostride = os;
                }
                kr->scores(d, w->kt, qrows, qstride, nq, w->st);
                const int partial = nk < mr || (p->causal && k0 + nk - 1 > q0 + off) ||
                                    (p->window > 0 && k0 <= q0 + nq - 1 + off - p->window);
                if (partial)
                    apply_mask(p, q0, nq, k0, nk, mr, off, w->st);
                kr->scores(d, w->vt, orows, ostride, nq, w->dpt);
                const int64_t at = s.lse_base + q0;
                kr->bwd_ds(nq, w->st, w->dpt, r->lse2 + at, r->dd + at);
                kr->pv(d, nq, w->st, orows, ostride, w->ones, w->dvt);
                kr->pv(d, nq, w->dpt, qrows, qstride, w->ones, w->dkt);
                kr->dq(d, nq, nk, w->dpt, krows, kstride, r->dq_part + (c * r->rows + at) * d);
            }
        }
        for (int j = 0; j < nk; j++) {
            const int64_t krow = s0.k_base + (k0 + j) * ks, vrow = s0.v_base + (k0 + j) * vs;
            for (int64_t x = 0; x < d; x++) {
                store(p->dtype, r->g->dk, krow + x, w->dkt[x * mr + j] * p->scale);
                store(p->dtype, r->g->dv, vrow + x, w->dvt[x * mr + j]);
            }
        }
    }
}

static void run_body(void *arg, int thread_index, int thread_count)
{
    bwd_args *r = arg;
    const usine_attn_problem *p = r->p;
    const size_t mr = (size_t)r->kr->mr, d = (size_t)p->head_dim, f = sizeof(float);
    char *base = r->per_thread_base + (size_t)thread_index * r->per_thread;
    thread_space w;
    float **tiles[4] = {&w.kt, &w.vt, &w.dkt, &w.dvt};
    for (int i = 0; i < 4; i++) {
        *tiles[i] = (float *)base;
        base += align64(d * mr * f);
    }
    w.st = (float *)base;
    base += align64((size_t)p->block * mr * f);
    w.dpt = (float *)base;
    base += align64((size_t)p->block * mr * f);
    w.ones = (float *)base;
    base += align64(mr * f);
    for (size_t i = 0; i < mr; i++)
        w.ones[i] = 1.0f;
    w.qf = w.dof = w.kf = NULL;
    if (p->dtype == USINE_BF16) {
        w.qf = (float *)base;
        base += align64((size_t)p->block * d * f);
        w.dof = (float *)base;
        base += align64((size_t)p->block * d * f);
        w.kf = (float *)base;
    }

    const int64_t pairs = r->nseq * p->heads_q;
    const int64_t lo = pairs * thread_index / thread_count,
                  hi = pairs * (thread_index + 1) / thread_count;
    for (int64_t t = lo; t < hi; t++)
        row_stats(r, t / p->heads_q, t % p->heads_q);
    if (thread_count > 1)
        usine_cpu_barrier();
    for (;;) {
        const int64_t t = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed);
        if (t >= r->items)
            break;
        key_chunk(r, &w, t);
    }
    if (thread_count > 1)
        usine_cpu_barrier();
    for (int64_t t = lo; t < hi; t++)
        write_dq(r, t / p->heads_q, t % p->heads_q);
}

void usine_cpu_attn_backward(const usine_attn_kernel *kernel, const usine_attn_problem *p,
                             const usine_attn_grads *g, int threads, void *workspace)
{
    bwd_args r;
    r.kr = kernel;
    r.p = p;
    r.g = g;
    r.nseq = p->batch;
    r.rows = total_rows(p);
    r.nchunks = chunks(kernel, p);
    r.items = r.nseq * p->heads_kv * r.nchunks;
    char *base = (char *)(((uintptr_t)workspace + 63) & ~(uintptr_t)63);
    const size_t f = sizeof(float), rows = (size_t)r.rows;
    r.dd = (float *)base;
    base += align64(rows * f);
    r.lse2 = (float *)base;
    base += align64(rows * f);
    r.dq_part = (float *)base;
    base += align64((size_t)r.nchunks * rows * (size_t)p->head_dim * f);
    r.per_thread_base = base;
    r.per_thread = per_thread_bytes(kernel, p);
    atomic_init(&r.next, 0);
    if (r.items < threads)
        threads = r.items < 1 ? 1 : (int)r.items;
    if (threads <= 1)
        run_body(&r, 0, 1);
    else
        usine_cpu_parallel(threads, run_body, &r);
}
