#include "search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counters.h"
#include "model.h"
#include "topology.h"
#include "../kernels/cpu/gemm/gemm_driver.h"
#include "../kernels/cpu/gemm/gemm_registry.h"

/* Candidates around the model's blocking, nearest first (the budget may end the list). */
static const double kc_factors[] = {1.0, 0.75, 1.25, 0.5, 1.5};
static const double mc_factors[] = {1.0, 0.5, 1.5};
static const double nc_factors[] = {1.0, 0.5};

#define MAX_CANDIDATES 256

/* Online tuning: a budget a first call can afford, and the largest product it measures
 * (the class's smallest shape is used when the call's own is bigger). */
#define ONLINE_BUDGET_SECONDS 0.3
#define ONLINE_MAX_FLOPS      2.0e8

typedef struct candidate {
    usine_gemm_choice choice;
    double gflops; /* median; 0 until measured */
    long long counters[USINE_CTR_COUNT];
} candidate;

/* The operands of the shape being tuned, column-major, and the driver's view of them. */
struct usine_tune_workload {
    usine_dtype dtype;
    int64_t m, n, k;
    int threads;
    void *a, *b, *c, *workspace;
    size_t workspace_bytes;
};
typedef struct usine_tune_workload workload;

usine_tune_options usine_tune_default_options(double budget_seconds)
{
    usine_tune_options o = {budget_seconds, 3, 0.02, NULL, NULL};
    return o;
}

double usine_tune_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ workload */

void usine_tune_fill(void *x, usine_dtype dtype, int64_t count, unsigned seed)
{
    for (int64_t i = 0; i < count; i++) {
        seed = seed * 1103515245u + 12345u;
        const double v = (double)((seed >> 8) & 0xffff) / 32768.0 - 1.0;
        if (dtype == USINE_F64) {
            ((double *)x)[i] = v;
        } else if (dtype == USINE_U8) {
            ((uint8_t *)x)[i] = (uint8_t)(seed >> 16);
        } else if (dtype ==
                   USINE_BF16) { /* v has few significant bits: truncation is exact enough */
            const float f = (float)v;
            uint32_t bits;
            memcpy(&bits, &f, sizeof bits);
            ((uint16_t *)x)[i] = (uint16_t)(bits >> 16);
        } else {
            ((float *)x)[i] = (float)v;
        }
    }
}

/* The workload of a family: A of `dtype`, B of b_type (s8 for int8), C of c_type. */
static usine_dtype c_type(usine_dtype dtype)
{
    return dtype == USINE_BF16 ? USINE_F32 : dtype == USINE_U8 ? USINE_S32 : dtype;
}

static usine_dtype b_type(usine_dtype dtype)
{
    return dtype == USINE_U8 ? USINE_S8 : dtype;
}

static int workload_init(workload *w, usine_dtype dtype, int64_t m, int64_t n, int64_t k,
                         int threads)
{
    /* Inputs of `dtype`; C of the type the kernels compute in (f32 for bf16 inputs). */
    const size_t es = usine_dtype_storage_size(dtype);
    const size_t c_es = usine_cpu_gemm_dtype_size(c_type(dtype));
    memset(w, 0, sizeof *w);
    w->dtype = dtype;
    w->m = m;
    w->n = n;
    w->k = k;
    w->threads = threads;
    w->a = malloc((size_t)(m * k) * es);
    w->b = malloc((size_t)(k * n) * es);
    w->c = malloc((size_t)(m * n) * c_es);
    if (!w->a || !w->b || !w->c)
        return -1;
    usine_tune_fill(w->a, dtype, m * k, 1u);
    usine_tune_fill(w->b, dtype, k * n, 2u);
    return 0;
}

static void workload_free(workload *w)
{
    free(w->a);
    free(w->b);
    free(w->c);
    free(w->workspace);
}

/* One run of a choice on the workload; its duration in seconds, or -1 (no memory). */
static double run_once(workload *w, const usine_gemm_choice *choice)
{
    const usine_gemm_plan plan = {choice->kernel, choice->blocking, w->threads};
    const usine_gemm_shape shape = {w->m,
                                    w->n,
                                    w->k,
                                    1,
                                    w->m,
                                    1,
                                    w->k,
                                    w->m,
                                    1.0,
                                    0.0,
                                    w->dtype,
                                    b_type(w->dtype),
                                    c_type(w->dtype),
                                    NULL,
                                    0,
                                    0};
    const usine_gemm_batch batch = {.count = 1, .base = {w->a, w->b, w->c}};
    const size_t bytes = usine_cpu_gemm_workspace_size(&plan, &shape, 1);
    if (bytes > w->workspace_bytes) {
        free(w->workspace);
        w->workspace = aligned_alloc(64, (bytes + 63) / 64 * 64);
        w->workspace_bytes = w->workspace ? bytes : 0;
        if (!w->workspace)
            return -1;
    }
    const double start = usine_tune_now();
    usine_cpu_gemm_run(&plan, &shape, &batch, w->workspace);
    return usine_tune_now() - start;
}

static int compare_doubles(const void *x, const void *y)
{
    const double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

double usine_tune_median(double *values, int n)
{
    qsort(values, (size_t)n, sizeof values[0], compare_doubles);
    return values[n / 2];
}

/* Median GFLOP/s after a warm-up; the repetitions adapt to the run time (more for short
 * runs, whose timings scatter more). Counters, where usable, cover one timed run. */
static double measure(workload *w, const usine_gemm_choice *choice, int reps_wanted,
                      long long counters[USINE_CTR_COUNT])
{
    const double first = run_once(w, choice);
    if (first < 0)
        return 0;
    int reps = reps_wanted > 0 ? reps_wanted : first < 0.02 ? 7 : first < 0.2 ? 5 : 3;
    double times[16];
    if (reps > 16)
        reps = 16;
    usine_counters_run run;
    usine_counters_begin(&run);
    times[0] = run_once(w, choice);
    usine_counters_end(&run, counters);
    for (int r = 1; r < reps; r++)
        times[r] = run_once(w, choice);
    const double median = usine_tune_median(times, reps);
    return median > 0 ? 2.0 * (double)w->m * (double)w->n * (double)w->k / median * 1e-9 : 0;
}

usine_tune_workload *usine_tune_workload_new(usine_dtype dtype, int64_t m, int64_t n, int64_t k,
                                             int threads)
{
    workload *w = (workload *)malloc(sizeof *w);
    if (w && workload_init(w, dtype, m, n, k, threads) != 0) {
        workload_free(w);
        free(w);
        return NULL;
    }
    return w;
}

double usine_tune_workload_measure(usine_tune_workload *w, const usine_gemm_choice *choice,
                                   int reps)
{
    long long counters[USINE_CTR_COUNT];
    return measure(w, choice, reps, counters);
}

void usine_tune_workload_free(usine_tune_workload *w)
{
    if (w)
        workload_free(w);
    free(w);
}

/* ------------------------------------------------------------------ candidates */

static int64_t round_to(double x, int64_t unit)
{
    int64_t r = (int64_t)(x / (double)unit + 0.5) * unit;
    return r < unit ? unit : r;
}

/* The blocking a problem really runs with: blocks larger than the problem are the problem. */
static usine_gemm_blocking effective(const usine_gemm_blocking *b, const usine_gemm_kernel *k,
                                     const workload *w)
{
    usine_gemm_blocking e = *b;
    if (e.kc > w->k)
        e.kc = w->k;
    if (e.mc > w->m)
        e.mc = (w->m + k->mr - 1) / k->mr * k->mr;
    if (e.nc > w->n)
        e.nc = (w->n + k->nr - 1) / k->nr * k->nr;
    return e;
}

static int same_candidate(const candidate *c, const usine_gemm_kernel *k,
                          const usine_gemm_blocking *e, const workload *w)
{
    const usine_gemm_blocking d = effective(&c->choice.blocking, c->choice.kernel, w);
    return c->choice.kernel == k && d.mc == e->mc && d.kc == e->kc && d.nc == e->nc &&
           d.pack == e->pack;
}

/* What the model rules out: a packed A block that does not fit in L2, or a B block that
 * does not fit in this core's share of L3. */
static int model_rejects(const usine_gemm_blocking *e, const usine_gemm_kernel *k)
{
    const usine_topology *t = usine_topology_get();
    const int64_t es = (int64_t)usine_dtype_storage_size(k->in_type);
    const int64_t l2 = usine_cache_per_core(&t->l2);
    const int64_t l3 = usine_cache_per_core(&t->l3);
    return e->mc * e->kc * es > l2 || (l3 > 0 && e->kc * e->nc * es > l3);
}

typedef struct candidate_list {
    candidate items[MAX_CANDIDATES];
    int count, pruned;
} candidate_list;

static void add(candidate_list *list, const usine_gemm_kernel *k, usine_gemm_blocking b,
                const workload *w)
{
    const usine_gemm_blocking e = effective(&b, k, w);
    for (int i = 0; i < list->count; i++)
        if (same_candidate(&list->items[i], k, &e, w))
            return;
    if (list->count > 0 && model_rejects(&e, k)) { /* the model's own choice always runs */
        list->pruned++;
        return;
    }
    if (list->count == MAX_CANDIDATES)
        return;
    candidate *c = &list->items[list->count++];
    memset(c, 0, sizeof *c);
    c->choice.kernel = k;
    c->choice.blocking = b;
    c->choice.rule = "tuning candidate";
    c->choice.rule_id = USINE_RULE_EXACT;
}

/* The model's choice first, then every kernel with its model blocking, then the blocking
 * variants of each kernel, then packing forced on. */
static void enumerate(const usine_selector *sel, usine_dtype dtype, const workload *w,
                      candidate_list *list)
{
    usine_gemm_choice model;
    usine_select_model(sel, dtype, &model);
    add(list, model.kernel, model.blocking, w);
    const usine_topology *t = usine_topology_get();
    const int family = usine_select_family(sel, dtype);
    for (const usine_gemm_kernel *const *k = usine_gemm_registry; *k; k++)
        if (usine_select_dtype_index((*k)->in_type) == family && (*k)->isa <= sel->cap)
            add(list, *k, usine_model_gemm_blocking(t, *k), w);
    for (const usine_gemm_kernel *const *k = usine_gemm_registry; *k; k++) {
        if (usine_select_dtype_index((*k)->in_type) != family || (*k)->isa > sel->cap)
            continue;
        const usine_gemm_blocking base = usine_model_gemm_blocking(t, *k);
        for (size_t a = 0; a < sizeof kc_factors / sizeof kc_factors[0]; a++)
            for (size_t b = 0; b < sizeof mc_factors / sizeof mc_factors[0]; b++)
                for (size_t c = 0; c < sizeof nc_factors / sizeof nc_factors[0]; c++) {
                    usine_gemm_blocking v = {round_to((double)base.mc * mc_factors[b], (*k)->mr),
                                             round_to((double)base.kc * kc_factors[a], 8),
                                             round_to((double)base.nc * nc_factors[c], (*k)->nr),
                                             0};
                    add(list, *k, v, w);
                }
        usine_gemm_blocking packed = base;
        packed.pack = 1;
        add(list, *k, packed, w);
    }
}

/* ------------------------------------------------------------------ search */

/* Counters prune: a kernel whose model-blocking run misses L2 (or L1) more than twice as
 * often per flop as the model's choice, and is slower, has its variants skipped. */
static int counters_prune(const candidate *model, const candidate *c)
{
    for (int ctr = USINE_CTR_L2_MISSES; ctr >= USINE_CTR_L1D_MISSES; ctr--)
        if (model->counters[ctr] > 0 && c->counters[ctr] > 2 * model->counters[ctr] &&
            c->gflops < model->gflops)
            return 1;
    return 0;
}

/* Interleaved rounds of the model's choice and the winner: medians of each. */
static void confirm(workload *w, candidate *model, candidate *best, int rounds)
{
    double a[16], b[16];
    long long scratch[USINE_CTR_COUNT];
    if (rounds > 16)
        rounds = 16;
    for (int r = 0; r < rounds; r++) {
        a[r] = measure(w, &model->choice, 1, scratch);
        b[r] = measure(w, &best->choice, 1, scratch);
    }
    model->gflops = usine_tune_median(a, rounds);
    best->gflops = usine_tune_median(b, rounds);
}

static void fill_entry(usine_tune_entry *e, usine_dtype dtype, const workload *w,
                       const candidate *chosen, const candidate *model)
{
    memset(e, 0, sizeof *e);
    usine_select_key(dtype, w->m, w->n, w->k, w->threads, &e->key);
    snprintf(e->kernel, sizeof e->kernel, "%s", chosen->choice.kernel->name);
    e->mc = chosen->choice.blocking.mc;
    e->kc = chosen->choice.blocking.kc;
    e->nc = chosen->choice.blocking.nc;
    e->pack = chosen->choice.blocking.pack;
    e->gflops = chosen->gflops > 0 ? chosen->gflops : 1e-9;
    e->model_gflops = model->gflops;
    memcpy(e->counters, chosen->counters, sizeof e->counters);
    e->time = (long long)time(NULL);
}

int usine_tune_gemm(const usine_selector *sel, usine_dtype dtype, int64_t m, int64_t n, int64_t k,
                    int threads, const usine_tune_options *opt, usine_tune_outcome *out)
{
    workload w;
    candidate_list *list = (candidate_list *)calloc(1, sizeof *list);
    if (!list || workload_init(&w, dtype, m, n, k, threads) != 0) {
        free(list);
        if (list)
            workload_free(&w);
        return -1;
    }
    memset(out, 0, sizeof *out);
    enumerate(sel, dtype, &w, list);
    const double deadline = usine_tune_now() + opt->budget_seconds;
    int best = 0;
    const usine_gemm_kernel *skip = NULL;
    for (int i = 0; i < list->count && (i == 0 || usine_tune_now() < deadline); i++) {
        candidate *c = &list->items[i];
        if (c->choice.kernel == skip) {
            list->pruned++;
            continue;
        }
        c->gflops = measure(&w, &c->choice, 0, c->counters);
        out->measured++;
        if (i > 0 && counters_prune(&list->items[0], c))
            skip = c->choice.kernel;
        if (c->gflops > list->items[best].gflops)
            best = i;
        if (opt->progress)
            opt->progress(opt->progress_arg, out->measured, list->count);
    }
    candidate *model = &list->items[0], *winner = &list->items[best];
    if (best != 0)
        confirm(&w, model, winner, opt->confirm_rounds);
    out->improved = best != 0 && winner->gflops >= model->gflops * (1.0 + opt->min_gain);
    fill_entry(&out->entry, dtype, &w, out->improved ? winner : model, model);
    out->candidates = list->count;
    out->pruned = list->pruned;
    workload_free(&w);
    free(list);
    return 0;
}

/* The smallest shape of a class, for online tuning of large calls. */
static int64_t class_floor(int64_t x)
{
    return (int64_t)1 << usine_shape_class(x);
}

int usine_tune_online(usine_selector *sel, usine_dtype dtype, int64_t m, int64_t n, int64_t k,
                      int threads)
{
    if (2.0 * (double)m * (double)n * (double)k > ONLINE_MAX_FLOPS) {
        m = class_floor(m);
        n = class_floor(n);
        k = class_floor(k);
    }
    const usine_tune_options opt = usine_tune_default_options(ONLINE_BUDGET_SECONDS);
    usine_tune_outcome out;
    if (usine_tune_gemm(sel, dtype, m, n, k, threads, &opt, &out) != 0)
        return -1;
    usine_selector_add(sel, &out.entry);
    char path[1024], error[256];
    usine_tune_table one = {&out.entry, 1, 1};
    if (usine_db_user_path(path, sizeof path) &&
        usine_db_merge(path, &one, NULL, error, sizeof error) != 0)
        fprintf(stderr, "usine: warning: online tuning result not saved: %s\n", error);
    return 0;
}
