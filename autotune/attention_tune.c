#include "attention_tune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "fingerprint.h"
#include "topology.h"
#include "../kernels/cpu/attention/attention_driver.h"

/* Shape classes a nearest entry may be away from (summed over seq_q, seq_k, head_dim). */
#define NEAREST_MAX_DISTANCE 2

static const char *const rule_names[] = {"forced kernel",     "USINE_ATTN_BLOCK override",
                                         "exact tuned entry", "nearest tuned entry",
                                         "default block",     "default block"};

int usine_attn_block_valid(int64_t b)
{
    return b % 16 == 0 && b >= USINE_ATTN_BLOCK_MIN && b <= USINE_ATTN_BLOCK_MAX;
}

void usine_attention_key(int backward, usine_dtype dtype, int64_t seq_q, int64_t seq_k,
                         int64_t head_dim, usine_tune_key *key)
{
    memset(key, 0, sizeof *key);
    snprintf(key->fingerprint, sizeof key->fingerprint, "%s", usine_fingerprint_get()->hash);
    snprintf(key->version, sizeof key->version, "%s", usine_select_library_version());
    snprintf(key->op, sizeof key->op, "%s", backward ? "attn_bwd" : "attn_fwd");
    snprintf(key->dtypes, sizeof key->dtypes, "%s", dtype == USINE_BF16 ? "bf16" : "f32");
    key->threads = 1;
    key->mclass = usine_shape_class(seq_q);
    key->nclass = usine_shape_class(seq_k);
    key->kclass = usine_shape_class(head_dim);
}

static void set_rule(usine_attn_choice *c, usine_select_rule rule)
{
    c->rule_id = rule;
    c->rule = rule_names[rule];
}

static int distance(const usine_tune_key *a, const usine_tune_key *b)
{
    return abs(a->mclass - b->mclass) + abs(a->nclass - b->nclass) + abs(a->kclass - b->kclass);
}

/* The nearest usable entry's block within NEAREST_MAX_DISTANCE; 0 if none. */
static int tuned_block(const usine_selector *sel, const usine_attn_kernel *kernel,
                       const usine_tune_key *key, int *dist)
{
    int best = 0, best_distance = NEAREST_MAX_DISTANCE + 1;
    for (size_t i = 0; i < sel->table.count && best_distance > 0; i++) {
        const usine_tune_entry *e = &sel->table.entries[i];
        if (strcmp(e->key.op, key->op) != 0 || strcmp(e->key.dtypes, key->dtypes) != 0 ||
            strcmp(e->kernel, kernel->name) != 0 || !usine_attn_block_valid(e->block))
            continue;
        const int d = distance(&e->key, key);
        if (d < best_distance) {
            best = (int)e->block;
            best_distance = d;
        }
    }
    *dist = best_distance;
    return best;
}

void usine_select_attention(usine_selector *sel, const usine_attn_kernel *kernel, int backward,
                            usine_dtype dtype, int64_t seq_q, int64_t seq_k, int64_t head_dim,
                            usine_attn_choice *c)
{
    memset(c, 0, sizeof *c);
    if (sel->attn_block) {
        c->block = sel->attn_block;
        set_rule(c, USINE_RULE_OVERRIDE);
        return;
    }
    int dist = NEAREST_MAX_DISTANCE + 1, block = 0;
    if (sel->online)
        pthread_mutex_lock(&sel->lock);
    if (sel->table.count > 0) { /* the key (formatted strings) only for a table to search */
        usine_tune_key key;
        usine_attention_key(backward, dtype, seq_q, seq_k, head_dim, &key);
        block = tuned_block(sel, kernel, &key, &dist);
    }
    if (sel->online)
        pthread_mutex_unlock(&sel->lock);
    if (block) {
        c->block = block;
        set_rule(c, dist == 0 ? USINE_RULE_EXACT : USINE_RULE_NEAREST);
        return;
    }
    c->block = USINE_ATTN_BLOCK_DEFAULT;
    set_rule(c, USINE_RULE_MODEL);
}

/* ------------------------------------------------------------------ search */

/* One head-major problem (BHSD, contiguous) and its tensors. */
typedef struct attn_workload {
    usine_attn_problem p;
    const usine_attn_kernel *kernel;
    int backward;
    void *q, *k, *v, *o, *d_o, *dq, *dk, *dv, *workspace;
    float *lse;
    size_t workspace_bytes;
} attn_workload;

static void workload_free(attn_workload *w)
{
    void *all[] = {w->q, w->k, w->v, w->o, w->d_o, w->dq, w->dk, w->dv, w->workspace, w->lse};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

static int workload_init(attn_workload *w, const usine_attn_kernel *kernel, int backward,
                         usine_dtype dtype, int64_t seq, int64_t heads, int64_t d)
{
    memset(w, 0, sizeof *w);
    w->kernel = kernel;
    w->backward = backward;
    usine_attn_problem *p = &w->p;
    p->dtype = dtype;
    p->batch = 1;
    p->heads_q = p->heads_kv = heads;
    p->seq_q = p->seq_k = seq;
    p->head_dim = d;
    const int64_t strides[3] = {heads * seq * d, seq * d, d};
    for (int i = 0; i < 3; i++)
        p->q_strides[i] = p->k_strides[i] = p->v_strides[i] = p->o_strides[i] = strides[i];
    p->scale = (float)(1.0 / sqrt((double)d));
    const usine_topology *t = usine_topology_get();
    p->key_group = usine_cpu_attn_key_group(kernel, p, usine_cache_per_core(&t->l2));
    p->query_group = usine_cpu_attn_query_group(kernel, p, usine_cache_per_core(&t->l2), 1);
    const size_t bytes = (size_t)(heads * seq * d) * (dtype == USINE_BF16 ? 2 : 4);
    void **tensors[] = {&w->q, &w->k, &w->v, &w->o, &w->d_o, &w->dq, &w->dk, &w->dv};
    for (int i = 0; i < (backward ? 8 : 4); i++)
        if (!(*tensors[i] = malloc(bytes)))
            return -1;
    if (!(w->lse = (float *)malloc((size_t)(heads * seq) * sizeof(float))))
        return -1;
    usine_tune_fill(w->q, dtype, heads * seq * d, 1u);
    usine_tune_fill(w->k, dtype, heads * seq * d, 2u);
    usine_tune_fill(w->v, dtype, heads * seq * d, 3u);
    if (backward)
        usine_tune_fill(w->d_o, dtype, heads * seq * d, 4u);
    p->q = w->q;
    p->k = w->k;
    p->v = w->v;
    p->o = w->o;
    p->lse = w->lse;
    return 0;
}

/* Seconds of one run with this block; -1 when out of memory. The backward's O and lse come
 * from a forward run first (untimed). */
static double run_once(attn_workload *w, int block)
{
    w->p.block = block;
    size_t need = usine_cpu_attn_workspace_size(w->kernel, &w->p, 1);
    if (w->backward) {
        const size_t bwd = usine_cpu_attn_backward_workspace_size(w->kernel, &w->p, 1);
        need = bwd > need ? bwd : need;
    }
    if (need > w->workspace_bytes) {
        free(w->workspace);
        w->workspace = aligned_alloc(64, (need + 63) / 64 * 64);
        w->workspace_bytes = w->workspace ? need : 0;
        if (!w->workspace)
            return -1;
    }
    double start;
    if (w->backward) {
        usine_cpu_attn_forward(w->kernel, &w->p, 1, w->workspace);
        const usine_attn_grads g = {w->d_o, w->dq, w->dk, w->dv};
        start = usine_tune_now();
        usine_cpu_attn_backward(w->kernel, &w->p, &g, 1, w->workspace);
    } else {
        start = usine_tune_now();
        usine_cpu_attn_forward(w->kernel, &w->p, 1, w->workspace);
    }
    return usine_tune_now() - start;
}

/* GFLOP/s of the median of `reps` runs (4 N^2 d per head forward, 2.5 times that backward). */
static double measure(attn_workload *w, int block, int reps)
{
    double times[16];
    if (reps > 16)
        reps = 16;
    for (int r = 0; r < reps; r++)
        if ((times[r] = run_once(w, block)) < 0)
            return 0;
    const double median = usine_tune_median(times, reps);
    const usine_attn_problem *p = &w->p;
    const double flops = 4.0 * (double)p->heads_q * (double)p->seq_q * (double)p->seq_k *
                         (double)p->head_dim * (w->backward ? 2.5 : 1.0);
    return median > 0 ? flops / median * 1e-9 : 0;
}

int usine_tune_attention(const usine_attn_kernel *kernel, int backward, usine_dtype dtype,
                         int64_t seq, int64_t heads, int64_t head_dim,
                         const usine_tune_options *opt, usine_tune_outcome *out)
{
    attn_workload w;
    memset(out, 0, sizeof *out);
    if (workload_init(&w, kernel, backward, dtype, seq, heads, head_dim) != 0) {
        workload_free(&w);
        return -1;
    }
    const int blocks[] = {USINE_ATTN_BLOCK_DEFAULT, 32, 128, 16, 256};
    const int count = (int)(sizeof blocks / sizeof blocks[0]);
    double gflops[sizeof blocks / sizeof blocks[0]] = {0};
    const double deadline = usine_tune_now() + opt->budget_seconds;
    run_once(&w, USINE_ATTN_BLOCK_DEFAULT); /* warm-up */
    int best = 0;
    for (int i = 0; i < count && (i == 0 || usine_tune_now() < deadline); i++) {
        gflops[i] = measure(&w, blocks[i], 3);
        out->measured++;
        if (gflops[i] > gflops[best])
            best = i;
        if (opt->progress)
            opt->progress(opt->progress_arg, out->measured, count);
    }
    if (best != 0) { /* interleaved confirmation: the machine may have changed meanwhile */
        double a[16], b[16];
        const int rounds = opt->confirm_rounds < 16 ? opt->confirm_rounds : 16;
        for (int r = 0; r < rounds; r++) {
            a[r] = measure(&w, blocks[0], 1);
            b[r] = measure(&w, blocks[best], 1);
        }
        gflops[0] = usine_tune_median(a, rounds);
        gflops[best] = usine_tune_median(b, rounds);
    }
    out->improved = best != 0 && gflops[best] >= gflops[0] * (1.0 + opt->min_gain);
    const int chosen = out->improved ? best : 0;
    usine_tune_entry *e = &out->entry;
    memset(e, 0, sizeof *e);
    usine_attention_key(backward, dtype, seq, seq, head_dim, &e->key);
    snprintf(e->kernel, sizeof e->kernel, "%s", kernel->name);
    e->block = blocks[chosen];
    e->gflops = gflops[chosen] > 0 ? gflops[chosen] : 1e-9;
    e->model_gflops = gflops[0];
    for (int c = 0; c < USINE_CTR_COUNT; c++)
        e->counters[c] = -1;
    e->time = (long long)time(NULL);
    out->candidates = count;
    workload_free(&w);
    return 0;
}
