#include "conv_tune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "fingerprint.h"

/* Shape classes a nearest entry may be away from (summed over positions, Kg and taps). */
#define NEAREST_MAX_DISTANCE 2

#define PASSES 3

static const char *const rule_names[] = {"forced by USINE_CONV_ALGO",
                                         "forced by USINE_CONV_ALGO",
                                         "exact tuned entry",
                                         "nearest tuned entry",
                                         "default rule",
                                         "default rule"};

/* ------------------------------------------------------------------ names */

static const char *pass_tag(usine_conv_pass pass)
{
    return pass == USINE_CONV_FORWARD         ? "fwd"
           : pass == USINE_CONV_BACKWARD_DATA ? "bwd_data"
                                              : "bwd_weights";
}

const char *usine_conv_config_name(usine_conv_pass pass, usine_dtype dtype,
                                   usine_conv_config config)
{
    static char names[PASSES][2][USINE_CONV_ALGO_COUNT][USINE_CONV_VARIANT_COUNT][64];
    static int made; /* filled once; later fills write the same bytes */
    if (!__atomic_load_n(&made, __ATOMIC_ACQUIRE)) {
        for (int p = 0; p < PASSES; p++)
            for (int t = 0; t < 2; t++)
                for (int a = 0; a < USINE_CONV_ALGO_COUNT; a++)
                    for (int v = 0; v < USINE_CONV_VARIANT_COUNT; v++)
                        snprintf(names[p][t][a][v], sizeof names[p][t][a][v],
                                 "usine_conv_%s_%s_cpu_%s%s%s", pass_tag((usine_conv_pass)p),
                                 t ? "bf16" : "f32",
                                 usine_cpu_conv_algo_short_name((usine_conv_algo)a), v ? "_" : "",
                                 usine_cpu_conv_variant_name((usine_conv_variant)v));
        __atomic_store_n(&made, 1, __ATOMIC_RELEASE);
    }
    return names[pass][dtype == USINE_BF16][config.algo][config.variant];
}

/* The short name of a configuration into out. */
static void short_name(usine_conv_config config, char *out, size_t size)
{
    snprintf(out, size, "%s%s%s", usine_cpu_conv_algo_short_name(config.algo),
             config.variant ? "_" : "", usine_cpu_conv_variant_name(config.variant));
}

int usine_conv_config_from_name(const char *name, usine_conv_pass pass, usine_dtype dtype,
                                usine_conv_config *config)
{
    for (int a = 0; a < USINE_CONV_ALGO_COUNT; a++)
        for (int v = 0; v < USINE_CONV_VARIANT_COUNT; v++) {
            const usine_conv_config candidate = {(usine_conv_algo)a, (usine_conv_variant)v};
            char short_form[64];
            short_name(candidate, short_form, sizeof short_form);
            if (strcmp(name, short_form) == 0 ||
                strcmp(name, usine_conv_config_name(pass, dtype, candidate)) == 0) {
                *config = candidate;
                return 0;
            }
        }
    return -1;
}

int usine_conv_algo_name_valid(const char *name)
{
    usine_conv_config config;
    for (int p = 0; p < PASSES; p++)
        for (int t = 0; t < 2; t++)
            if (usine_conv_config_from_name(name, (usine_conv_pass)p, t ? USINE_BF16 : USINE_F32,
                                            &config) == 0)
                return 1;
    return 0;
}

int usine_conv_config_serves(usine_conv_config config, usine_conv_pass pass,
                             const usine_conv_problem *p)
{
    return usine_cpu_conv_variant_serves(config.algo, config.variant, pass, p);
}

/* ------------------------------------------------------------------ default rule */

static int64_t taps_of(const usine_conv_problem *p)
{
    return p->r * p->s * (p->c / p->groups);
}

/* Where the filters are better read in place (filters_b forward: as the GEMM's B operand;
 * tap_split backward data: as A, one GEMM per tap): C at most two tiles high (the driver
 * then reads B in place), or filters that outweigh the im2col rows (otherwise they are
 * transposed or reordered once per call, a copy as costly as a quarter of the product for
 * 3x3 512 -> 512 on 7 x 7 forward, a third backward; in place, the output and the im2col
 * rows pass through the workspace, or dx once per tap, instead, and the padding rows are
 * skipped), from as many taps as positions; a 1x1 convolution's A costs no im2col
 * otherwise, hence its higher bar. Measured on Zen 4, one thread: 1x1 1024 -> 512 on
 * 14 x 14 2% slower with the filters as B; 3x3 512 -> 512 on 7 x 7 batch 8 26% faster;
 * 3x3 256 -> 256 on 14 x 14 batch 8 (1.5 taps per position) 4% faster forward, 7% backward,
 * on 28 x 28 batch 1 (1.5) as fast; 3x3 64 -> 64 on 56 x 56 (0.2) 12% slower backward. */
static int filters_in_place_wins(const usine_selector *sel, usine_conv_pass pass,
                                 const usine_conv_problem *p, int pointwise)
{
    const int backward = pass == USINE_CONV_BACKWARD_DATA;
    const int64_t positions = p->n * (backward ? p->h * p->w : p->p * p->q);
    const int64_t taps = backward ? p->r * p->s * (p->k / p->groups) : taps_of(p);
    const usine_gemm_kernel *kernel = sel->model[usine_select_dtype_index(USINE_F32)];
    const int64_t mr = kernel ? kernel->mr : 0;
    return positions <= 2 * mr || taps >= (pointwise ? 8 : 1) * positions;
}

/* Where x is better read in place (the direct variant) than packed into im2col panels or
 * than the filters read in place: microkernel calls long enough (usine_conv_direct_runs_long:
 * the 7x7 first layer's 147 taps of filter per tile in one call, 108 GFLOP/s against 100
 * for the im2col GEMM; 21 taps per filter row, one call each, 92) and more than two tiles'
 * worth of positions
 * (the direct variant packs the filters at every call, which costs as much as a tenth of
 * the product with 49 positions), or any number of positions when the caller packed them
 * (usine_conv2d_pack_filters: 3x3 512 -> 512 on 7 x 7 batch 1 132 GFLOP/s against 116 for
 * the filters as B). p is the forward the direct variant runs (for the
 * backward data: dy and the turned filters). Measured on Zen 4, one thread, against the
 * filters-as-B forward and the per-tap backward data: 3x3 128 -> 128 on 28 x 28 batch 1
 * forward 117 against 111 GFLOP/s, backward 117 against 109; 256 -> 256 on 14 x 14
 * batch 1 forward 120 against 113; 512 -> 512 on 7 x 7 batch 8 126 against 119,
 * batch 1 (49 positions) 106 against 117. */
static int direct_wins(const usine_selector *sel, usine_conv_problem p)
{
    const usine_gemm_kernel *kernel = sel->model[usine_select_dtype_index(USINE_F32)];
    return kernel && usine_conv_direct_runs_long(&p, kernel) &&
           (p.panels_packed || p.n * p.p * p.q > 2 * (int64_t)kernel->mr);
}

/* The backward data's direct variant runs one forward per stride phase; the rule judges one
 * phase: its pixels, about its share of the taps. Under 8 input channels the col2im GEMM
 * runs instead (the turned filters would give panels of a few rows). Measured on Zen 4,
 * ResNet-50's stride-2 layers, direct against the per-phase GEMMs (GFLOP/s, 40 calls, best
 * of 3 interleaved runs), batch 1 one thread: 3x3 128 on 56 x 56 (784 pixels a phase)
 * 106 / 96, 1x1 256 -> 512 on 56 x 56 95 / 93, 3x3 256 on 28 x 28 (196) 102 / 96, 1x1
 * 512 -> 1024 on 28 x 28 98 / 99, but with 49 pixels (14 x 14) 74 / 81 and 70 / 88 (the
 * filters packed at every call weigh more); two threads 209 / 183, 201 / 184, but 189 / 199
 * and 193 / 204 on 28 x 28; the 7x7 first layer (3 channels) 32 / 48. So with strides a
 * phase needs 512 pixels (all images), the 56 x 56 layers at batch 1, every layer from
 * batch 8 on 28 x 28 (3x3 256: 107 / 97, 1x1 512 -> 1024: 94 / 91 one thread). With the
 * panels packed by the caller (usine_conv2d_pack_filters_backward_data) any number: batch 1
 * 14 x 14, one thread, 1x1 1024 <- 2048 115 / 96, 3x3 512 127 / 100. */
#define DIRECT_BACKWARD_MIN_CHANNELS     8
#define DIRECT_BACKWARD_MIN_PHASE_PIXELS 512

static int direct_backward_wins(const usine_selector *sel, const usine_conv_problem *p)
{
    usine_conv_problem q = usine_conv_direct_backward_problem(p);
    q.p = (p->h + p->stride_h - 1) / p->stride_h;
    q.q = (p->w + p->stride_w - 1) / p->stride_w;
    q.r = (p->r + p->stride_h - 1) / p->stride_h;
    q.s = (p->s + p->stride_w - 1) / p->stride_w;
    const int strided = p->stride_h > 1 || p->stride_w > 1;
    return p->c / p->groups >= DIRECT_BACKWARD_MIN_CHANNELS &&
           (!strided || p->panels_packed || q.n * q.p * q.q >= DIRECT_BACKWARD_MIN_PHASE_PIXELS) &&
           direct_wins(sel, q);
}

/* Where the weight gradient is better summed with dy and x read in place (the direct
 * variant) than over im2col panels: few filters (dy, read in place K floats apart, and the
 * K x taps sums transposed at the end cost more with more) and enough positions. Measured on
 * Zen 4, one thread, ResNet-50 layers, batch 1 and 8 (im2col GEMM against direct, GFLOP/s):
 * the 7x7 first layer 77 / 110 and 72 / 102; 3x3 64 on 56 x 56 96 / 110 and 95 / 109; 3x3
 * 128 on 28 x 28 106 / 109 and 102 / 108; 3x3 stride 2 128 on 56 x 56 (784 positions)
 * 105 / 105 and 89 / 102; but with 256 filters or more the GEMM wins (3x3 256 on 14 x 14
 * 110 / 94, batch 8 108 / 104; 512 on 7 x 7 108 / 52). 1x1 layers too, whose input rows the
 * direct variant reads in place: measured on Zen 5, usine bench --rounds 3 (1x1 GEMM, its
 * chunked weight gradient at batch 8, against direct; one / two threads, GFLOP/s): 256 -> 64
 * on 56 x 56 batch 8 122 / 179 and 228 / 287, batch 1 185 / 184 and 330 / 344; 64 -> 64
 * batch 8 132 / 179 and 272 / 286; 256 -> 128 batch 8 147 / 172 and 272 / 299; 512 -> 128
 * on 28 x 28 batch 8 146 / 176 and 289 / 350 (with more filters mixed: 128 -> 512 batch 8
 * 161 / 196 and 323 / 287; 256 -> 1024 on 14 x 14 169 / 149 and 334 / 286). */
#define DIRECT_WEIGHTS_MAX_FILTERS   128
#define DIRECT_WEIGHTS_MIN_POSITIONS 512

static int direct_weights_wins(const usine_conv_problem *p)
{
    return p->k / p->groups <= DIRECT_WEIGHTS_MAX_FILTERS &&
           p->n * p->p * p->q >= DIRECT_WEIGHTS_MIN_POSITIONS;
}

/* A 1x1 whose filters the caller packed: the direct variant reads the panels packed once
 * where the GEMM packs the filters at every call (or, with few positions, computes y
 * transposed and turns it: the filters-as-B variant).
 * Forward, any shape. Measured on Zen 5 (interleaved, median of 200 calls, GEMM / direct
 * with packed panels, GFLOP/s), batch 1: 512 -> 2048 on 7 x 7 175 / 194 one thread, 340 /
 * 398 two; 2048 -> 512 181 / 200 and 338 / 402; 256 -> 1024 on 14 x 14 188 / 192 and
 * 328 / 369; 1024 -> 256 188 / 198 and 369 / 402; 64 -> 256 on 56 x 56 183 / 184 and 366 /
 * 367; 512 -> 128 on 28 x 28 394 / 394 (two); batch 8, one thread: 256 -> 64 on 56 x 56
 * 154 / 172, 64 -> 256 178 / 176, 512 -> 2048 on 7 x 7 191 / 186.
 * Backward data, few positions. Measured on Zen 4 (GEMM / direct with packed panels,
 * GFLOP/s): 1x1 2048 -> 512 on 7 x 7 batch 1 102 / 114 one thread, 200 / 226 two; 512 -> 2048
 * 109 / 116; equal from 196 positions (14 x 14 batch 1, 7 x 7 batch 8), 1-5% behind from 784. */
static int pointwise_reads_panels(const usine_selector *sel, usine_conv_pass pass,
                                  const usine_conv_problem *p)
{
    const usine_gemm_kernel *kernel = sel->model[usine_select_dtype_index(USINE_F32)];
    if (!p->panels_packed || !kernel ||
        !usine_cpu_conv_variant_serves(USINE_CONV_ALGO_IMPLICIT_GEMM, USINE_CONV_VARIANT_DIRECT,
                                       pass, p))
        return 0;
    if (pass == USINE_CONV_FORWARD)
        return 1;
    return pass == USINE_CONV_BACKWARD_DATA && p->n * p->h * p->w <= 2 * (int64_t)kernel->mr &&
           direct_backward_wins(sel, p);
}

usine_conv_config usine_conv_default_config(const usine_selector *sel, usine_conv_pass pass,
                                            const usine_conv_problem *p)
{
    if (usine_cpu_conv_supports(USINE_CONV_ALGO_DEPTHWISE, pass, p))
        return (usine_conv_config){USINE_CONV_ALGO_DEPTHWISE, 0};
    const int pointwise = usine_cpu_conv_supports(USINE_CONV_ALGO_GEMM1X1, pass, p);
    if (pointwise && pointwise_reads_panels(sel, pass, p))
        return (usine_conv_config){USINE_CONV_ALGO_IMPLICIT_GEMM, USINE_CONV_VARIANT_DIRECT};
    if (pointwise && pass == USINE_CONV_BACKWARD_WEIGHTS && direct_weights_wins(p) &&
        usine_cpu_conv_variant_serves(USINE_CONV_ALGO_IMPLICIT_GEMM, USINE_CONV_VARIANT_DIRECT,
                                      pass, p))
        return (usine_conv_config){USINE_CONV_ALGO_IMPLICIT_GEMM, USINE_CONV_VARIANT_DIRECT};
    usine_conv_config c = {pointwise ? USINE_CONV_ALGO_GEMM1X1 : USINE_CONV_ALGO_IMPLICIT_GEMM,
                           USINE_CONV_VARIANT_PLAIN};
    const usine_conv_variant in_place =
        pass == USINE_CONV_FORWARD ? USINE_CONV_VARIANT_FILTERS_B : USINE_CONV_VARIANT_TAP_SPLIT;
    if (usine_cpu_conv_variant_serves(c.algo, USINE_CONV_VARIANT_DIRECT, pass, p) &&
        (pass == USINE_CONV_BACKWARD_WEIGHTS ? direct_weights_wins(p)
         : pass == USINE_CONV_BACKWARD_DATA  ? direct_backward_wins(sel, p)
                                             : direct_wins(sel, *p)))
        c.variant = USINE_CONV_VARIANT_DIRECT;
    else if (usine_cpu_conv_variant_serves(c.algo, in_place, pass, p) &&
             filters_in_place_wins(sel, pass, p, pointwise))
        c.variant = in_place;
    return c;
}

/* ------------------------------------------------------------------ tuned entries */

static const char *op_of(usine_conv_pass pass)
{
    return pass == USINE_CONV_FORWARD         ? "conv_fwd"
           : pass == USINE_CONV_BACKWARD_DATA ? "conv_bwd_data"
                                              : "conv_bwd_weights";
}

void usine_conv_key(usine_conv_pass pass, const usine_conv_problem *p, usine_tune_key *key)
{
    memset(key, 0, sizeof *key);
    snprintf(key->fingerprint, sizeof key->fingerprint, "%s", usine_fingerprint_get()->hash);
    snprintf(key->version, sizeof key->version, "%s", usine_select_library_version());
    snprintf(key->op, sizeof key->op, "%s", op_of(pass));
    /* Filter sizes and strides beyond two digits share a tag (they are rare, and the
     * supports check keeps a wrong algorithm out). */
    snprintf(key->dtypes, sizeof key->dtypes, "%s.%s.%dx%ds%d%s",
             p->dtype == USINE_BF16 ? "bf16" : "f32",
             p->layout == USINE_CONV_NHWC ? "nhwc" : "nchw", (int)(p->r < 99 ? p->r : 99),
             (int)(p->s < 99 ? p->s : 99), (int)(p->stride_h < 99 ? p->stride_h : 99),
             p->groups > 1 ? "g" : "");
    key->threads = 1;
    key->mclass = usine_shape_class(p->n * p->p * p->q);
    key->nclass = usine_shape_class(p->k / p->groups);
    key->kclass = usine_shape_class(taps_of(p));
}

static int distance(const usine_tune_key *a, const usine_tune_key *b)
{
    return abs(a->mclass - b->mclass) + abs(a->nclass - b->nclass) + abs(a->kclass - b->kclass);
}

/* The configuration of an entry's params ("algo=NAME[,variant=V]"); 0 if it names one
 * (an unknown parameter makes the entry unusable: it was written by another version). */
static int entry_config(const usine_tune_entry *e, usine_conv_pass pass, usine_dtype dtype,
                        usine_conv_config *config)
{
    char name[48];
    if (strncmp(e->params, "algo=", 5) != 0)
        return -1;
    const char *rest = e->params + 5;
    const size_t len = strcspn(rest, ",");
    if (len == 0 || len >= sizeof name)
        return -1;
    memcpy(name, rest, len);
    name[len] = '\0';
    usine_conv_config plain;
    if (usine_conv_config_from_name(name, pass, dtype, &plain) != 0 || plain.variant)
        return -1;
    *config = plain;
    if (rest[len] == '\0')
        return 0;
    if (strncmp(rest + len, ",variant=", 9) != 0)
        return -1;
    for (int v = 1; v < USINE_CONV_VARIANT_COUNT; v++)
        if (strcmp(rest + len + 9, usine_cpu_conv_variant_name((usine_conv_variant)v)) == 0) {
            config->variant = (usine_conv_variant)v;
            return 0;
        }
    return -1;
}

/* The nearest usable entry within NEAREST_MAX_DISTANCE; 0 if found. */
static int tuned_config(const usine_selector *sel, usine_conv_pass pass,
                        const usine_conv_problem *p, const usine_tune_key *key,
                        usine_conv_config *config, int *dist)
{
    int best_distance = NEAREST_MAX_DISTANCE + 1;
    for (size_t i = 0; i < sel->table.count && best_distance > 0; i++) {
        const usine_tune_entry *e = &sel->table.entries[i];
        usine_conv_config c;
        if (strcmp(e->key.op, key->op) != 0 || strcmp(e->key.dtypes, key->dtypes) != 0 ||
            entry_config(e, pass, p->dtype, &c) != 0 || !usine_conv_config_serves(c, pass, p))
            continue;
        const int d = distance(&e->key, key);
        if (d < best_distance) {
            *config = c;
            best_distance = d;
        }
    }
    *dist = best_distance;
    return best_distance <= NEAREST_MAX_DISTANCE ? 0 : -1;
}

static void set_rule(usine_conv_choice *c, usine_select_rule rule)
{
    c->rule_id = rule;
    c->rule = rule_names[rule];
}

void usine_select_conv(usine_selector *sel, const char *forced, usine_conv_pass pass,
                       const usine_conv_problem *p, usine_conv_choice *c)
{
    memset(c, 0, sizeof *c);
    if (forced && usine_conv_config_from_name(forced, pass, p->dtype, &c->config) == 0 &&
        usine_conv_config_serves(c->config, pass, p)) {
        set_rule(c, USINE_RULE_FORCED);
        return;
    }
    int dist = NEAREST_MAX_DISTANCE + 1, found = -1;
    if (sel->online)
        pthread_mutex_lock(&sel->lock);
    if (sel->table.count > 0) { /* the key (formatted strings) only for a table to search */
        usine_tune_key key;
        usine_conv_key(pass, p, &key);
        found = tuned_config(sel, pass, p, &key, &c->config, &dist);
    }
    if (sel->online)
        pthread_mutex_unlock(&sel->lock);
    if (found == 0) {
        set_rule(c, dist == 0 ? USINE_RULE_EXACT : USINE_RULE_NEAREST);
        return;
    }
    c->config = usine_conv_default_config(sel, pass, p);
    set_rule(c, USINE_RULE_MODEL);
}

/* ------------------------------------------------------------------ execution */

void usine_conv_make_exec(usine_selector *sel, usine_cpu_isa isa, usine_conv_config config,
                          usine_conv_pass pass, const usine_conv_problem *p, int threads,
                          usine_conv_exec *exec)
{
    memset(exec, 0, sizeof *exec);
    exec->isa = isa;
    exec->gemm.max_threads = threads;
    exec->variant = config.variant;
    int64_t dims[3];
    usine_cpu_conv_gemm_dims(config.algo, config.variant, pass, p, dims);
    if (dims[0] > 0) {
        usine_gemm_choice choice;
        usine_select_gemm(sel, USINE_F32, dims[0], dims[1], dims[2], 1, &choice);
        exec->gemm.kernel = choice.kernel;
        exec->gemm.blocking = choice.blocking;
    }
}

usine_conv_problem usine_conv_problem_make(usine_dtype dtype, usine_conv_layout layout, int64_t n,
                                           int64_t c, int64_t h, int64_t w, int64_t k, int64_t r,
                                           int64_t s, int64_t stride, int64_t pad)
{
    usine_conv_problem p;
    memset(&p, 0, sizeof p);
    p.dtype = dtype;
    p.layout = layout;
    p.n = n;
    p.c = c;
    p.h = h;
    p.w = w;
    p.k = k;
    p.r = r;
    p.s = s;
    p.p = (h + 2 * pad - r) / stride + 1;
    p.q = (w + 2 * pad - s) / stride + 1;
    p.stride_h = p.stride_w = stride;
    p.pad_top = p.pad_left = pad;
    p.dilation_h = p.dilation_w = 1;
    p.groups = 1;
    p.activation = USINE_ACT_NONE;
    return p;
}

/* ------------------------------------------------------------------ search */

/* One problem's tensors (every pass's, f32 or bf16 alike in bytes as allocated). */
typedef struct conv_workload {
    usine_selector *sel;
    usine_cpu_isa isa;
    usine_conv_pass pass;
    usine_conv_problem p;
    void *x, *w, *y, *workspace;
    float *dbias;
    size_t workspace_bytes;
} conv_workload;

static void workload_free(conv_workload *wl)
{
    free(wl->x);
    free(wl->w);
    free(wl->y);
    free(wl->workspace);
    free(wl->dbias);
}

/* bf16 tensors are filled with f32 patterns read as pairs of bf16: timing only. */
static int workload_init(conv_workload *wl, usine_selector *sel, usine_cpu_isa isa,
                         usine_conv_pass pass, const usine_conv_problem *p)
{
    memset(wl, 0, sizeof *wl);
    wl->sel = sel;
    wl->isa = isa;
    wl->pass = pass;
    wl->p = *p;
    const int64_t nx = p->n * p->c * p->h * p->w, ny = p->n * p->k * p->p * p->q;
    const int64_t nw = p->k * (p->c / p->groups) * p->r * p->s;
    if (!(wl->x = malloc((size_t)nx * sizeof(float))) ||
        !(wl->w = malloc((size_t)nw * sizeof(float))) ||
        !(wl->y = malloc((size_t)ny * sizeof(float))) ||
        !(wl->dbias = malloc((size_t)p->k * sizeof(float))))
        return -1;
    usine_tune_fill(wl->x, USINE_F32, nx, 1u);
    usine_tune_fill(wl->w, USINE_F32, nw, 2u);
    usine_tune_fill(wl->y, USINE_F32, ny, 3u);
    return 0;
}

/* Seconds of one run of the algorithm; -1 when out of memory. */
static double run_once(conv_workload *wl, usine_conv_config config)
{
    usine_conv_exec exec;
    usine_conv_make_exec(wl->sel, wl->isa, config, wl->pass, &wl->p, 1, &exec);
    const size_t need = usine_cpu_conv_workspace_size(config.algo, wl->pass, &wl->p, &exec);
    if (need > wl->workspace_bytes) {
        free(wl->workspace);
        wl->workspace = aligned_alloc(64, (need + 63) / 64 * 64);
        wl->workspace_bytes = wl->workspace ? need : 0;
        if (!wl->workspace)
            return -1;
    }
    /* Forward: x, w -> y; backward data: y as dy, w -> x as dx; backward weights: x, y as
     * dy -> w as dw. */
    usine_conv_tensors use;
    if (wl->pass == USINE_CONV_FORWARD)
        use = (usine_conv_tensors){wl->x, wl->w, NULL, wl->y, NULL, NULL, NULL, NULL, NULL};
    else if (wl->pass == USINE_CONV_BACKWARD_DATA)
        use = (usine_conv_tensors){NULL, wl->w, wl->y, NULL, wl->x, NULL, NULL, NULL, NULL};
    else
        use = (usine_conv_tensors){wl->x, NULL, wl->y, NULL, NULL, wl->w, NULL, NULL, NULL};
    const double start = usine_tune_now();
    usine_cpu_conv_run(config.algo, wl->pass, &wl->p, &exec, &use, wl->workspace);
    return usine_tune_now() - start;
}

static double flops_of(const usine_conv_problem *p)
{
    return 2.0 * (double)p->n * (double)p->k * (double)p->p * (double)p->q *
           (double)(p->c / p->groups) * (double)p->r * (double)p->s;
}

/* GFLOP/s of the median of `reps` runs (0 when out of memory). */
static double measure(conv_workload *wl, usine_conv_config config, int reps)
{
    double times[16];
    if (reps > 16)
        reps = 16;
    for (int r = 0; r < reps; r++)
        if ((times[r] = run_once(wl, config)) < 0)
            return 0;
    const double median = usine_tune_median(times, reps);
    return median > 0 ? flops_of(&wl->p) / median * 1e-9 : 0;
}

/* Median GFLOP/s of the default and of the challenger, measured alternately. */
static void confirm(conv_workload *wl, usine_conv_config base, usine_conv_config challenger,
                    int rounds, double *base_gflops, double *challenger_gflops)
{
    double a[16], b[16];
    rounds = rounds < 1 ? 1 : rounds < 16 ? rounds : 16;
    for (int r = 0; r < rounds; r++) {
        a[r] = measure(wl, base, 1);
        b[r] = measure(wl, challenger, 1);
    }
    *base_gflops = usine_tune_median(a, rounds);
    *challenger_gflops = usine_tune_median(b, rounds);
}

static void fill_entry(usine_conv_pass pass, const usine_conv_problem *p, usine_conv_config config,
                       double gflops, double default_gflops, usine_tune_entry *e)
{
    memset(e, 0, sizeof *e);
    usine_conv_key(pass, p, &e->key);
    snprintf(e->kernel, sizeof e->kernel, "%s", usine_conv_config_name(pass, p->dtype, config));
    snprintf(e->params, sizeof e->params, "algo=%s%s%s",
             usine_cpu_conv_algo_short_name(config.algo), config.variant ? ",variant=" : "",
             usine_cpu_conv_variant_name(config.variant));
    e->gflops = gflops > 0 ? gflops : 1e-9;
    e->model_gflops = default_gflops;
    for (int c = 0; c < USINE_CTR_COUNT; c++)
        e->counters[c] = -1;
    e->time = (long long)time(NULL);
}

int usine_tune_conv(usine_selector *sel, usine_cpu_isa isa, usine_conv_pass pass,
                    const usine_conv_problem *p, const usine_tune_options *opt,
                    usine_tune_outcome *out)
{
    conv_workload wl;
    memset(out, 0, sizeof *out);
    if (workload_init(&wl, sel, isa, pass, p) != 0) {
        workload_free(&wl);
        return -1;
    }
    usine_conv_config algos[USINE_CONV_VARIANT_COUNT * USINE_CONV_ALGO_COUNT];
    int count = 0;
    algos[count++] = usine_conv_default_config(sel, pass, p);
    for (int a = 0; a < USINE_CONV_ALGO_COUNT; a++)
        for (int v = 0; v < USINE_CONV_VARIANT_COUNT; v++) {
            const usine_conv_config c = {(usine_conv_algo)a, (usine_conv_variant)v};
            if ((c.algo != algos[0].algo || c.variant != algos[0].variant) &&
                usine_conv_config_serves(c, pass, p))
                algos[count++] = c;
        }
    double gflops[USINE_CONV_VARIANT_COUNT * USINE_CONV_ALGO_COUNT] = {0};
    const double deadline = usine_tune_now() + opt->budget_seconds;
    run_once(&wl, algos[0]); /* warm-up */
    int best = 0;
    for (int i = 0; i < count && (i == 0 || usine_tune_now() < deadline); i++) {
        if (i > 0)
            run_once(&wl, algos[i]); /* its own warm-up: workspace, caches */
        gflops[i] = measure(&wl, algos[i], 3);
        out->measured++;
        if (gflops[i] > gflops[best])
            best = i;
        if (opt->progress)
            opt->progress(opt->progress_arg, out->measured, count);
    }
    if (best != 0) /* the machine may have changed meanwhile */
        confirm(&wl, algos[0], algos[best], opt->confirm_rounds, &gflops[0], &gflops[best]);
    out->improved = best != 0 && gflops[best] >= gflops[0] * (1.0 + opt->min_gain);
    const int chosen = out->improved ? best : 0;
    fill_entry(pass, p, algos[chosen], gflops[chosen], gflops[0], &out->entry);
    out->candidates = count;
    workload_free(&wl);
    return 0;
}
