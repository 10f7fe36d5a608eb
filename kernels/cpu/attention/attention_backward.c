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

int usine_cpu_attn_key_group(const usine_attn_kernel *kernel, const usine_attn_problem *p,
                             int64_t l2_bytes)
{
    const int64_t block_bytes = 5 * p->head_dim * kernel->mr * (int64_t)sizeof(float);
    const int64_t g = l2_bytes / 2 / block_bytes;
    return g < 1 ? 1 : g > 8 ? 8 : (int)g;
}

static int key_group(const usine_attn_problem *p)
{
    return p->key_group < 1 ? 1 : p->key_group > 8 ? 8 : p->key_group;
}

/* Per thread, in floats: for each of the key group's blocks K^T, V^T, dK^T, dV^T (d x mr)
 * (and for bf16 its K rows, mr x d, converted to f32); S and dP (block x mr), ones (mr), and
 * for bf16 Q and dO rows (block x d) converted to f32. */
static size_t per_thread_bytes(const usine_attn_kernel *kr, const usine_attn_problem *p)
{
    const size_t mr = (size_t)kr->mr, d = (size_t)p->head_dim, f = sizeof(float);
    const size_t tiles = p->dtype == USINE_BF16 ? 5 : 4;
    return (size_t)key_group(p) * tiles * align64(d * mr * f) +
           2 * align64((size_t)p->block * mr * f) + align64(mr * f) +
           (p->dtype == USINE_BF16 ? 2 * align64((size_t)p->block * d * f) : 0);
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

/* The tiles of one block of keys: K^T, V^T, dK^T, dV^T and, for bf16, its K rows as f32. */
typedef struct key_tiles {
    float *kt, *vt, *dkt, *dvt, *kf;
} key_tiles;

typedef struct thread_space {
    key_tiles key[8]; /* the key group's blocks */
    float *st, *dpt, *ones, *qf, *dof;
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

/* One block of keys of a key group: where it starts, how many keys, and the query rows
 * that see some key of it, [qlo, qhi). */
typedef struct key_block {
    int64_t k0, qlo, qhi;
    int nk;
    const float *krows; /* K rows as f32 (in place, or the converted copy) */
    int64_t kstride;
} key_block;

/* Packs block kb of the (sequence, kv head) s0 into t and zeroes its gradients. */
static key_block load_key_block(const usine_attn_problem *p, int mr, const sequence *s0, int64_t kb,
                                const key_tiles *t)
{
    const int64_t d = p->head_dim, ks = p->k_strides[2], vs = p->v_strides[2];
    const int64_t off = s0->sk - s0->sq;
    const float c2 = (float)((double)p->scale * LOG2E);
    key_block b;
    b.k0 = kb * mr;
    b.nk = (int)(s0->sk - b.k0 < mr ? s0->sk - b.k0 : mr);
    pack_t(p->dtype, p->k, s0->k_base + b.k0 * ks, ks, d, b.nk, mr, c2, t->kt);
    pack_t(p->dtype, p->v, s0->v_base + b.k0 * vs, vs, d, b.nk, mr, 1.0f, t->vt);
    memset(t->dkt, 0, (size_t)(d * mr) * sizeof(float));
    memset(t->dvt, 0, (size_t)(d * mr) * sizeof(float));
    b.krows = (const float *)p->k + s0->k_base + b.k0 * ks;
    b.kstride = ks;
    if (p->dtype == USINE_BF16) {
        convert_rows((const uint16_t *)p->k + s0->k_base + b.k0 * ks, ks, d, b.nk, t->kf);
        b.krows = t->kf;
        b.kstride = d;
    }
    /* Query i sees key j when j <= i + off (causal) and j > i + off - window. */
    b.qlo = 0;
    b.qhi = s0->sq;
    if (p->causal && b.k0 - off > b.qlo)
        b.qlo = b.k0 - off;
    if (p->window > 0 && b.k0 + b.nk - 1 - off + p->window < b.qhi)
        b.qhi = b.k0 + b.nk - 1 - off + p->window;
    return b;
}

/* Writes the block's dK and dV rows. */
static void store_key_block(const usine_attn_problem *p, const usine_attn_grads *g, int mr,
                            const sequence *s0, const key_block *b, const key_tiles *t)
{
    const int64_t d = p->head_dim, ks = p->k_strides[2], vs = p->v_strides[2];
    for (int j = 0; j < b->nk; j++) {
        const int64_t krow = s0->k_base + (b->k0 + j) * ks, vrow = s0->v_base + (b->k0 + j) * vs;
        for (int64_t x = 0; x < d; x++) {
            store(p->dtype, g->dk, krow + x, t->dkt[x * mr + j] * p->scale);
            store(p->dtype, g->dv, vrow + x, t->dvt[x * mr + j]);
        }
    }
}

/* The step's rows of query head s, rows q0 .. q0 + nq - 1 (Q and dO as f32 rows), against
 * one key block: the block's rows [i0, i1) of the step are those that see it. */
typedef struct query_step {
    const sequence *s;
    int64_t q0;
    int nq;
    const float *qrows, *orows;
    int64_t qstride, ostride;
} query_step;

static void step_block(const bwd_args *r, const thread_space *w, int64_t c, int64_t off,
                       const query_step *q, const key_block *b, const key_tiles *t)
{
    const usine_attn_problem *p = r->p;
    const usine_attn_kernel *kr = r->kr;
    const int mr = kr->mr;
    const int64_t d = p->head_dim;
    const int64_t lo = b->qlo > q->q0 ? b->qlo : q->q0;
    const int64_t hi = b->qhi < q->q0 + q->nq ? b->qhi : q->q0 + q->nq;
    if (lo >= hi)
        return;
    const int64_t i0 = lo - q->q0, q0 = lo;
    const int nq = (int)(hi - lo);
    const float *qrows = q->qrows + i0 * q->qstride, *orows = q->orows + i0 * q->ostride;
    const int64_t k0 = b->k0;
    const int nk = b->nk;
    kr->scores(d, t->kt, qrows, q->qstride, nq, w->st);
    const int partial = nk < mr || (p->causal && k0 + nk - 1 > q0 + off) ||
                        (p->window > 0 && k0 <= q0 + nq - 1 + off - p->window);
    if (partial)
        apply_mask(p, q0, nq, k0, nk, mr, off, w->st);
    kr->scores(d, t->vt, orows, q->ostride, nq, w->dpt);
    const int64_t at = q->s->lse_base + q0;
    kr->bwd_ds(nq, w->st, w->dpt, r->lse2 + at, r->dd + at);
    kr->pv(d, nq, w->st, orows, q->ostride, w->ones, t->dvt);
    kr->pv(d, nq, w->dpt, qrows, q->qstride, w->ones, t->dkt);
    kr->dq(d, nq, nk, w->dpt, b->krows, b->kstride, r->dq_part + (c * r->rows + at) * d);
}

/* Phase 2: item t = ((sequence b, kv head hk), chunk c). The chunk's key blocks are taken
 * key_group at a time; each step of query rows runs against every block of the group in
 * ascending order, so each dQ row still receives its key blocks' terms in ascending order. */
static void key_chunk(const bwd_args *r, const thread_space *w, int64_t t)
{
    const usine_attn_problem *p = r->p;
    const int mr = r->kr->mr;
    const int64_t c = t % r->nchunks, pair = t / r->nchunks;
    const int64_t b = pair / p->heads_kv, hk = pair % p->heads_kv;
    const int64_t group = p->heads_q / p->heads_kv, d = p->head_dim;
    const sequence s0 = usine_attn_locate(p, b, hk * group);
    const int64_t nkb = (s0.sk + mr - 1) / mr, off = s0.sk - s0.sq;
    const int64_t kb0 = c * nkb / r->nchunks, kb1 = (c + 1) * nkb / r->nchunks;
    const int bf16 = p->dtype == USINE_BF16;
    const int64_t qs = p->q_strides[2], os = p->o_strides[2];
    for (int64_t g0 = kb0; g0 < kb1; g0 += key_group(p)) {
        const int ng = (int)(kb1 - g0 < key_group(p) ? kb1 - g0 : key_group(p));
        key_block blocks[8];
        int64_t qlo = s0.sq, qhi = 0;
        for (int i = 0; i < ng; i++) {
            blocks[i] = load_key_block(p, mr, &s0, g0 + i, &w->key[i]);
            qlo = blocks[i].qlo < qlo ? blocks[i].qlo : qlo;
            qhi = blocks[i].qhi > qhi ? blocks[i].qhi : qhi;
        }
        for (int64_t h = hk * group; h < (hk + 1) * group; h++) {
            const sequence s = usine_attn_locate(p, b, h);
            for (int64_t q0 = qlo; q0 < qhi; q0 += p->block) {
                query_step q = {&s,
                                q0,
                                (int)(qhi - q0 < p->block ? qhi - q0 : p->block),
                                (const float *)p->q + s.q_base + q0 * qs,
                                (const float *)r->g->d_o + s.o_base + q0 * os,
                                qs,
                                os};
                if (bf16) {
                    convert_rows((const uint16_t *)p->q + s.q_base + q0 * qs, qs, d, q.nq, w->qf);
                    convert_rows((const uint16_t *)r->g->d_o + s.o_base + q0 * os, os, d, q.nq,
                                 w->dof);
                    q.qrows = w->qf;
                    q.orows = w->dof;
                    q.qstride = q.ostride = d;
                }
                for (int i = 0; i < ng; i++)
                    step_block(r, w, c, off, &q, &blocks[i], &w->key[i]);
            }
        }
        for (int i = 0; i < ng; i++)
            store_key_block(p, r->g, mr, &s0, &blocks[i], &w->key[i]);
    }
}

static void run_body(void *arg, int thread_index, int thread_count)
{
    bwd_args *r = arg;
    const usine_attn_problem *p = r->p;
    const size_t mr = (size_t)r->kr->mr, d = (size_t)p->head_dim, f = sizeof(float);
    char *base = r->per_thread_base + (size_t)thread_index * r->per_thread;
    thread_space w;
    const size_t tile = align64(d * mr * f);
    for (int i = 0; i < key_group(p); i++) {
        w.key[i].kf = NULL;
        float **tiles[5] = {&w.key[i].kt, &w.key[i].vt, &w.key[i].dkt, &w.key[i].dvt, &w.key[i].kf};
        for (int j = 0; j < (p->dtype == USINE_BF16 ? 5 : 4); j++) {
            *tiles[j] = (float *)base;
            base += tile;
        }
    }
    w.st = (float *)base;
    base += align64((size_t)p->block * mr * f);
    w.dpt = (float *)base;
    base += align64((size_t)p->block * mr * f);
    w.ones = (float *)base;
    base += align64(mr * f);
    for (size_t i = 0; i < mr; i++)
        w.ones[i] = 1.0f;
    w.qf = w.dof = NULL;
    if (p->dtype == USINE_BF16) {
        w.qf = (float *)base;
        base += align64((size_t)p->block * d * f);
        w.dof = (float *)base;
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
