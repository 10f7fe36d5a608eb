/*
 * FlashAttention-2 forward (Dao, 2023) on the CPU: for each (batch, query head, block of mr
 * query rows), loop over blocks of p->block keys (a tuning parameter):
 *   S = Q K^T * scale (log2 domain: Q is pre-scaled by scale * log2(e)), masked;
 *   online softmax: running max m and sum l per query, the accumulator rescaled by
 *   alpha = 2^(m_old - m_new);
 *   O += P V;
 * finally O /= l and lse = ln(2) (m + log2(l)). Key blocks that the causal mask or the
 * window hide entirely are never visited (the key range of a query block is computed
 * first); only blocks crossing a mask boundary are masked element by element.
 * Memory: O(mr * d) per thread, never the N x N scores.
 *
 * Key blocks lie on a fixed grid (k0 a multiple of p->block, clipped to the keys a query
 * block sees), and a thread takes p->query_group consecutive query blocks of one head at a
 * time and runs each key block against all of them while its rows of K and V are in L1/L2:
 * at long sequences (N = 16384: 16 MiB of K and V per head) they would otherwise stream from
 * memory once per 48 queries. Each query block still sees the same key blocks in the same
 * order whatever its group, and is computed by one thread from start to end, so results are
 * bitwise identical whatever the thread count, group or schedule (deterministic mode costs
 * nothing).
 */
#include "attention_driver.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "../half.h"
#include "../threading.h"

#define LOG2E 1.4426950408889634
#define LN2   0.6931471805599453

const usine_attn_kernel *usine_cpu_attn_kernel(usine_cpu_isa isa, usine_dtype dtype)
{
    if (dtype == USINE_BF16 && isa >= USINE_ISA_AVX512_BF16)
        return &usine_attn_fwd_bf16_cpu_avx512bf16_48x8;
    if (isa >= USINE_ISA_AVX512)
        return &usine_attn_fwd_f32_cpu_avx512_48x8;
    if (isa >= USINE_ISA_AVX2)
        return &usine_attn_fwd_f32_cpu_avx2_24x4;
    return &usine_attn_fwd_f32_cpu_generic_16x4;
}

static size_t align64(size_t bytes)
{
    return (bytes + 63) & ~(size_t)63;
}

/* Whether the problem runs the kernel's native bf16 products. */
static int native_bf16(const usine_attn_kernel *kr, const usine_attn_problem *p)
{
    return p->dtype == USINE_BF16 && kr->scores_bf16 != NULL;
}

#define MAX_QUERY_GROUP 8

int usine_cpu_attn_query_group(const usine_attn_kernel *kernel, const usine_attn_problem *p,
                               int64_t l2_bytes, int threads)
{
    const int64_t block_bytes = 2 * p->head_dim * kernel->mr * (int64_t)sizeof(float);
    const int64_t blocks = (p->seq_q + kernel->mr - 1) / kernel->mr;
    int64_t g = l2_bytes / 4 / block_bytes;
    g = g < 1 ? 1 : g > MAX_QUERY_GROUP ? MAX_QUERY_GROUP : g;
    while (g > 1 && p->batch * p->heads_q * ((blocks + g - 1) / g) < 4 * (int64_t)threads)
        g--;
    return (int)g;
}

static int query_group(const usine_attn_problem *p)
{
    return p->query_group < 1                 ? 1
           : p->query_group > MAX_QUERY_GROUP ? MAX_QUERY_GROUP
                                              : p->query_group;
}

/* Per-thread pieces, in floats: for each query block of the group Q^T, O^T (d x mr), m, l,
 * alpha (mr); S^T (block x mr), and for bf16 the K and V blocks converted to f32 (block x d
 * each), or with native bf16 products P^T pairs (block / 2 x mr dwords) and the V pairs
 * (block x d bf16, in the space of V's block). */
static size_t per_thread_bytes(const usine_attn_kernel *kr, const usine_attn_problem *p)
{
    const size_t mr = (size_t)kr->mr, d = (size_t)p->head_dim, f = sizeof(float);
    size_t bytes = (size_t)query_group(p) * (2 * align64(d * mr * f) + 3 * align64(mr * f)) +
                   align64((size_t)p->block * mr * f);
    if (native_bf16(kr, p))
        bytes += align64((size_t)p->block / 2 * mr * f) + align64((size_t)p->block * d * f);
    else if (p->dtype == USINE_BF16)
        bytes += 2 * align64((size_t)p->block * d * f);
    return bytes;
}

size_t usine_cpu_attn_workspace_size(const usine_attn_kernel *kernel, const usine_attn_problem *p,
                                     int threads)
{
    return (size_t)threads * per_thread_bytes(kernel, p) + 64;
}

/* One query block's running state: Q^T, O^T, m, l, alpha; its rows and the keys it sees. */
typedef struct query_tile {
    float *qt, *ot, *m, *l, *alpha;
    int64_t q0, lo, hi; /* rows q0 .. q0 + mq - 1 see keys [lo, hi) */
    int mq;
} query_tile;

typedef struct thread_space {
    query_tile tile[MAX_QUERY_GROUP];
    float *st, *kf, *vf;
} thread_space;

typedef struct run_args {
    const usine_attn_kernel *kr;
    const usine_attn_problem *p;
    char *workspace;
    size_t per_thread;
    int64_t groups_per_head; /* query groups of the longest sequence */
    int64_t items;
    atomic_llong next;
} run_args;

typedef usine_attn_sequence sequence;

usine_attn_sequence usine_attn_locate(const usine_attn_problem *p, int64_t b, int64_t h)
{
    const int64_t hk = h / (p->heads_q / p->heads_kv);
    sequence s;
    int64_t pq = 0, pk = 0, bb = b; /* first positions along the position axis */
    if (p->cu_q) {
        pq = p->cu_q[b];
        pk = p->cu_k[b];
        s.sq = p->cu_q[b + 1] - pq;
        s.sk = p->cu_k[b + 1] - pk;
        bb = 0;
        s.lse_base = h * (int64_t)p->cu_q[p->batch] + pq;
    } else {
        s.sq = p->seq_q;
        s.sk = p->seq_k;
        s.lse_base = (b * p->heads_q + h) * p->seq_q;
    }
    s.q_base = bb * p->q_strides[0] + h * p->q_strides[1] + pq * p->q_strides[2];
    s.o_base = bb * p->o_strides[0] + h * p->o_strides[1] + pq * p->o_strides[2];
    s.k_base = bb * p->k_strides[0] + hk * p->k_strides[1] + pk * p->k_strides[2];
    s.v_base = bb * p->v_strides[0] + hk * p->v_strides[1] + pk * p->v_strides[2];
    return s;
}

/* Q^T of rows q0 .. q0 + mq - 1, times scale * log2(e); lanes past mq are 0. */
static void pack_q(const usine_attn_problem *p, const sequence *s, int64_t q0, int mq, int mr,
                   float *qt)
{
    const int64_t d = p->head_dim, qs = p->q_strides[2];
    const float c = (float)((double)p->scale * LOG2E);
    memset(qt, 0, (size_t)(d * mr) * sizeof *qt);
    for (int i = 0; i < mq; i++) {
        const int64_t row = s->q_base + (q0 + i) * qs;
        if (p->dtype == USINE_BF16) {
            const uint16_t *q = (const uint16_t *)p->q + row;
            for (int64_t x = 0; x < d; x++)
                qt[x * mr + i] = usine_bf16_to_f32(q[x]) * c;
        } else {
            const float *q = (const float *)p->q + row;
            for (int64_t x = 0; x < d; x++)
                qt[x * mr + i] = q[x] * c;
        }
    }
}

/* Q^T pairs of rows q0 .. q0 + mq - 1 (bf16, unscaled: see scores_bf16); lanes past mq are 0. */
static void pack_q_pairs(const usine_attn_problem *p, const sequence *s, int64_t q0, int mq, int mr,
                         uint32_t *qt2)
{
    const int64_t d = p->head_dim, qs = p->q_strides[2];
    memset(qt2, 0, (size_t)(d / 2 * mr) * sizeof *qt2);
    for (int i = 0; i < mq; i++) {
        const uint16_t *q = (const uint16_t *)p->q + s->q_base + (q0 + i) * qs;
        for (int64_t pp = 0; pp < d / 2; pp++)
            memcpy(qt2 + pp * mr + i, q + 2 * pp, sizeof *qt2);
    }
}

/* bf16 rows r0 .. r0 + n - 1 of K or V, converted to f32 rows of d. */
static void convert_rows(const uint16_t *src, int64_t stride, int64_t d, int n, float *dst)
{
    for (int j = 0; j < n; j++)
#pragma omp simd
        for (int64_t x = 0; x < d; x++)
            dst[j * d + x] = usine_bf16_to_f32(src[j * stride + x]);
}

/* Scores hidden by the causal mask or the window: -inf. Query i sees key j when
 * j <= i + off (causal) and j > i + off - window (window > 0). */
static void apply_mask(const usine_attn_problem *p, int64_t q0, int64_t k0, int nk, int mr,
                       int64_t off, float *st)
{
    const float ninf = -__builtin_inff();
    for (int j = 0; j < nk; j++) {
        const int64_t kj = k0 + j;
        float *row = st + (int64_t)j * mr;
#pragma omp simd
        for (int i = 0; i < mr; i++) {
            const int64_t qi = q0 + i;
            row[i] = usine_attn_hidden(p, qi, kj, off) ? ninf : row[i];
        }
    }
}

/* S^T of keys k0 .. k0 + nk - 1 against tile t's queries into w->st (log2 domain,
 * unmasked). */
static void block_scores(const usine_attn_kernel *kr, const usine_attn_problem *p,
                         const sequence *s, const thread_space *w, const query_tile *t, int64_t k0,
                         int nk)
{
    const int64_t d = p->head_dim, ks = p->k_strides[2];
    if (native_bf16(kr, p)) {
        const float c = (float)((double)p->scale * LOG2E);
        kr->scores_bf16(d, (const uint32_t *)t->qt, (const uint16_t *)p->k + s->k_base + k0 * ks,
                        ks, nk, c, w->st);
    } else if (p->dtype == USINE_BF16) {
        convert_rows((const uint16_t *)p->k + s->k_base + k0 * ks, ks, d, nk, w->kf);
        kr->scores(d, t->qt, w->kf, d, nk, w->st);
    } else {
        kr->scores(d, t->qt, (const float *)p->k + s->k_base + k0 * ks, ks, nk, w->st);
    }
}

/* The softmax step on w->st and tile t's O^T += P V for keys k0 .. k0 + nk - 1. */
static void block_softmax_pv(const usine_attn_kernel *kr, const usine_attn_problem *p,
                             const sequence *s, const thread_space *w, const query_tile *t,
                             int64_t k0, int nk)
{
    const int64_t d = p->head_dim, vs = p->v_strides[2];
    if (native_bf16(kr, p)) {
        uint32_t *pt2 = (uint32_t *)w->kf, *vt2 = (uint32_t *)w->vf;
        kr->softmax_bf16(nk, w->st, t->m, t->l, t->alpha, pt2);
        kr->pack_v_bf16(d, nk, (const uint16_t *)p->v + s->v_base + k0 * vs, vs, vt2);
        kr->pv_bf16(d, nk, pt2, vt2, t->alpha, t->ot);
        return;
    }
    kr->softmax(nk, w->st, t->m, t->l, t->alpha);
    if (p->dtype == USINE_BF16) {
        convert_rows((const uint16_t *)p->v + s->v_base + k0 * vs, vs, d, nk, w->vf);
        kr->pv(d, nk, w->st, w->vf, d, t->alpha, t->ot);
    } else {
        kr->pv(d, nk, w->st, (const float *)p->v + s->v_base + k0 * vs, vs, t->alpha, t->ot);
    }
}

/* Starts query block qb of sequence s in tile t: Q^T packed, O^T, m, l reset, the keys it
 * sees. Returns 0 past the sequence's last row. */
static int start_tile(const usine_attn_kernel *kr, const usine_attn_problem *p, const sequence *s,
                      int64_t qb, query_tile *t)
{
    const int mr = kr->mr;
    t->q0 = qb * mr;
    if (t->q0 >= s->sq)
        return 0;
    t->mq = (int)(s->sq - t->q0 < mr ? s->sq - t->q0 : mr);
    const int64_t off = s->sk - s->sq;
    t->lo = 0;
    t->hi = s->sk;
    if (p->causal && t->q0 + t->mq - 1 + off + 1 < t->hi)
        t->hi = t->q0 + t->mq - 1 + off + 1;
    if (p->window > 0 && t->q0 + off - p->window + 1 > t->lo)
        t->lo = t->q0 + off - p->window + 1;
    if (native_bf16(kr, p))
        pack_q_pairs(p, s, t->q0, t->mq, mr, (uint32_t *)t->qt);
    else
        pack_q(p, s, t->q0, t->mq, mr, t->qt);
    memset(t->ot, 0, (size_t)(p->head_dim * mr) * sizeof(float));
    for (int i = 0; i < mr; i++) {
        t->m[i] = -__builtin_inff();
        t->l[i] = 0.0f;
    }
    return 1;
}

/* Tile t against keys [k0, k0 + nk) (inside what it sees). */
static void tile_keys(const usine_attn_kernel *kr, const usine_attn_problem *p, const sequence *s,
                      const thread_space *w, const query_tile *t, int64_t k0, int nk)
{
    const int64_t off = s->sk - s->sq;
    block_scores(kr, p, s, w, t, k0, nk);
    /* Partly hidden block: the last key is past the first query's causal limit, or the
     * first key is at or before the last query's window limit. */
    const int partial = (p->causal && k0 + nk - 1 > t->q0 + off) ||
                        (p->window > 0 && k0 <= t->q0 + t->mq - 1 + off - p->window);
    if (partial)
        apply_mask(p, t->q0, k0, nk, kr->mr, off, w->st);
    block_softmax_pv(kr, p, s, w, t, k0, nk);
}

/* O = O^T / l and lse of tile t; a query that saw no key has l = 0: O = 0, lse = -inf. */
static void finish_tile(const usine_attn_kernel *kr, const usine_attn_problem *p, const sequence *s,
                        const query_tile *t)
{
    const int mr = kr->mr;
    const int64_t d = p->head_dim, os = p->o_strides[2];
    for (int i = 0; i < t->mq; i++) {
        const float l = t->l[i];
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
        const int64_t row = s->o_base + (t->q0 + i) * os;
        if (p->dtype == USINE_BF16) {
            uint16_t *o = (uint16_t *)p->o + row;
            for (int64_t x = 0; x < d; x++)
                o[x] = usine_f32_to_bf16(t->ot[x * mr + i] * inv);
        } else {
            float *o = (float *)p->o + row;
            for (int64_t x = 0; x < d; x++)
                o[x] = t->ot[x * mr + i] * inv;
        }
        if (p->lse)
            p->lse[s->lse_base + t->q0 + i] =
                l > 0.0f ? (float)(LN2 * ((double)t->m[i] + log2((double)l))) : -__builtin_inff();
    }
}

/* Query blocks qb0 .. qb0 + count - 1 of (sequence b, head h): every key block of the grid
 * that one of them sees, against each of them in turn, clipped to the keys it sees. */
static void query_group_run(const run_args *r, thread_space *w, int64_t b, int64_t h, int64_t qb0,
                            int count)
{
    const usine_attn_problem *p = r->p;
    const usine_attn_kernel *kr = r->kr;
    const sequence s = usine_attn_locate(p, b, h);
    int n = 0;
    int64_t lo = s.sk, hi = 0;
    for (; n < count && start_tile(kr, p, &s, qb0 + n, &w->tile[n]); n++) {
        lo = w->tile[n].lo < lo ? w->tile[n].lo : lo;
        hi = w->tile[n].hi > hi ? w->tile[n].hi : hi;
    }
    for (int64_t k0 = lo / p->block * p->block; k0 < hi; k0 += p->block)
        for (int i = 0; i < n; i++) {
            const query_tile *t = &w->tile[i];
            const int64_t a = k0 > t->lo ? k0 : t->lo;
            const int64_t e = k0 + p->block < t->hi ? k0 + p->block : t->hi;
            if (a < e)
                tile_keys(kr, p, &s, w, t, a, (int)(e - a));
        }
    for (int i = 0; i < n; i++)
        finish_tile(kr, p, &s, &w->tile[i]);
}

static void run_body(void *arg, int thread_index, int thread_count)
{
    (void)thread_count;
    run_args *r = arg;
    const usine_attn_problem *p = r->p;
    const size_t mr = (size_t)r->kr->mr, d = (size_t)p->head_dim, f = sizeof(float);
    char *base = r->workspace + (size_t)thread_index * r->per_thread;
    thread_space w;
    for (int g = 0; g < query_group(p); g++) {
        query_tile *t = &w.tile[g];
        float **pieces[5] = {&t->qt, &t->ot, &t->m, &t->l, &t->alpha};
        for (int i = 0; i < 5; i++) {
            *pieces[i] = (float *)base;
            base += i < 2 ? align64(d * mr * f) : align64(mr * f);
        }
    }
    w.st = (float *)base;
    base += align64((size_t)p->block * mr * f);
    w.kf = w.vf = NULL;
    if (native_bf16(r->kr, p)) { /* kf: P^T pairs, vf: V pairs */
        w.kf = (float *)base;
        base += align64((size_t)p->block / 2 * mr * f);
        w.vf = (float *)base;
    } else if (p->dtype == USINE_BF16) {
        w.kf = (float *)base;
        base += align64((size_t)p->block * d * f);
        w.vf = (float *)base;
    }
    for (;;) {
        const int64_t t = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed);
        if (t >= r->items)
            break;
        /* The groups of one head together, so that its K and V stay in cache (all heads'
         * would not: 8 heads of 4096 x 128 are 32 MiB); with a causal mask the longest
         * groups first (the last rows see the most keys), so that the items left at the end
         * for the threads to share are the short ones. */
        const int64_t bh = t / r->groups_per_head, i = t % r->groups_per_head;
        const int64_t grp = p->causal ? r->groups_per_head - 1 - i : i;
        query_group_run(r, &w, bh / p->heads_q, bh % p->heads_q, grp * query_group(p),
                        query_group(p));
    }
}

void usine_cpu_attn_forward(const usine_attn_kernel *kernel, const usine_attn_problem *p,
                            int threads, void *workspace)
{
    run_args r;
    r.kr = kernel;
    r.p = p;
    r.workspace = (char *)(((uintptr_t)workspace + 63) & ~(uintptr_t)63);
    r.per_thread = per_thread_bytes(kernel, p);
    const int64_t blocks = (p->seq_q + kernel->mr - 1) / kernel->mr;
    r.groups_per_head = (blocks + query_group(p) - 1) / query_group(p);
    r.items = p->batch * p->heads_q * r.groups_per_head;
    atomic_init(&r.next, 0);
    if (r.items < threads)
        threads = r.items < 1 ? 1 : (int)r.items;
    if (threads <= 1)
        run_body(&r, 0, 1);
    else
        usine_cpu_parallel(threads, run_body, &r);
}
