#include "attention_tune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "fingerprint.h"
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
    usine_tune_key key;
    usine_attention_key(backward, dtype, seq_q, seq_k, head_dim, &key);
    int dist = NEAREST_MAX_DISTANCE + 1;
    if (sel->online)
        pthread_mutex_lock(&sel->lock);
    const int block = sel->table.count > 0 ? tuned_block(sel, kernel, &key, &dist) : 0;
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

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One head-major problem (BHSD, contiguous) and its tensors. */
typedef struct attn_workload {
    usine_attn_problem p;
    const usine_attn_kernel *kernel;
    int backward;
    void *q, *k, *v, *o, *d_o, *dq, *dk, *dv, *workspace;
    float *lse;
    size_t workspace_bytes;
} attn_workload;

static void fill(void *x, usine_dtype dtype, int64_t count, unsigned seed)
{
    for (int64_t i = 0; i < count; i++) {
        seed = seed * 1103515245u + 12345u;
        const float v = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
        if (dtype == USINE_BF16) { /* v has few significant bits: truncation is exact */
            uint32_t bits;
            memcpy(&bits, &v, sizeof bits);
            ((uint16_t *)x)[i] = (uint16_t)(bits >> 16);
        } else {
            ((float *)x)[i] = v;
        }
    }
}

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
    const size_t bytes = (size_t)(heads * seq * d) * (dtype == USINE_BF16 ? 2 : 4);
    void **tensors[] = {&w->q, &w->k, &w->v, &w->o, &w->d_o, &w->dq, &w->dk, &w->dv};
    for (int i = 0; i < (backward ? 8 : 4); i++)
        if (!(*tensors[i] = malloc(bytes)))
            return -1;
    if (!(w->lse = (float *)malloc((size_t)(heads * seq) * sizeof(float))))
        return -1;
    fill(w->q, dtype, heads * seq * d, 1u);
    fill(w->k, dtype, heads * seq * d, 2u);
    fill(w->v, dtype, heads * seq * d, 3u);
    if (backward)
        fill(w->d_o, dtype, heads * seq * d, 4u);
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
        start = now_seconds();
        usine_cpu_attn_backward(w->kernel, &w->p, &g, 1, w->workspace);
    } else {
        start = now_seconds();
        usine_cpu_attn_forward(w->kernel, &w->p, 1, w->workspace);
    }
    return now_seconds() - start;
}

static int compare_doubles(const void *x, const void *y)
{
    const double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
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
    qsort(times, (size_t)reps, sizeof times[0], compare_doubles);
    const usine_attn_problem *p = &w->p;
    const double flops = 4.0 * (double)p->heads_q * (double)p->seq_q * (double)p->seq_k *
                         (double)p->head_dim * (w->backward ? 2.5 : 1.0);
    return times[reps / 2] > 0 ? flops / times[reps / 2] * 1e-9 : 0;
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
    const double deadline = now_seconds() + opt->budget_seconds;
    run_once(&w, USINE_ATTN_BLOCK_DEFAULT); /* warm-up */
    int best = 0;
    for (int i = 0; i < count && (i == 0 || now_seconds() < deadline); i++) {
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
        qsort(a, (size_t)rounds, sizeof a[0], compare_doubles);
        qsort(b, (size_t)rounds, sizeof b[0], compare_doubles);
        gflops[0] = a[rounds / 2];
        gflops[best] = b[rounds / 2];
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
