/*
 * `usine tune`: measures GEMM candidates (and attention's blocks) on this machine and
 * writes the winners into the user tuning database; `--verify` compares the tuned choices against
 * the model's in one run; `--export`, `--import`, `--clear` manage the database; `--mpi` splits the
 * shape classes across the ranks of an MPI job and merges everything on rank 0.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef USINE_HAVE_MPI
#include <mpi.h>
#endif

#include "commands.h"
#include "../autotune/counters.h"
#include "../autotune/db.h"
#include "../autotune/fingerprint.h"
#include "../autotune/attention_tune.h"
#include "../autotune/conv_tune.h"
#include "../autotune/search.h"
#include "../core/context.h"
#include "../kernels/cpu/attention/attention_driver.h"

/* The default budget keeps a full `usine tune` under five minutes. */
#define DEFAULT_BUDGET_SECONDS 240.0
#define MAX_CLASSES            512

/* What a class tunes: a GEMM (m, n, k), attention (m = seq_q = seq_k, n = heads, k =
 * head_dim; always one thread, see attention_tune.h) or a convolution pass (conv: the
 * problem; m, n, k its key's positions, Kg and taps; always one thread, conv_tune.h). */
typedef enum tune_op {
    OP_GEMM = 0,
    OP_ATTN_FWD,
    OP_ATTN_BWD,
    OP_CONV_FWD,
    OP_CONV_BWD_DATA,
    OP_CONV_BWD_WEIGHTS
} tune_op;

typedef struct tune_class {
    usine_dtype dtype;
    int64_t m, n, k;
    int threads;
    tune_op op;
    usine_conv_problem conv;
} tune_class;

static int is_conv(tune_op op)
{
    return op >= OP_CONV_FWD;
}

static usine_conv_pass conv_pass(tune_op op)
{
    return op == OP_CONV_FWD        ? USINE_CONV_FORWARD
           : op == OP_CONV_BWD_DATA ? USINE_CONV_BACKWARD_DATA
                                    : USINE_CONV_BACKWARD_WEIGHTS;
}

typedef struct tune_args {
    int dtypes[USINE_SELECT_DTYPES]; /* f32, f64, bf16, int8 wanted */
    int threads[8], n_threads;
    const char *shapes, *export_path, *import_path, *db;
    double budget;
    int verify, clear, mpi;
    int gemm, attention, conv; /* --ops */
} tune_args;

void usine_cli_tune_help(FILE *out)
{
    fprintf(out,
            "usage: usine tune [--ops gemm,attention,conv] [--dtypes f32,f64,bf16,int8]\n"
            "                  [--threads 1,2]\n"
            "                  [--shapes FILE]\n"
            "                  [--budget SECONDS] [--verify] [--export FILE] [--import FILE]\n"
            "                  [--clear] [--db FILE] [--mpi]\n"
            "\n"
            "Measures GEMM candidates (every kernel the CPU runs, blockings around the model's,\n"
            "packing forced on) for each shape class of the suite and keeps, per class, the\n"
            "fastest only if it beats the model's choice by 2%% again in an interleaved\n"
            "confirmation. Attention: the block (keys per block of the forward, query rows\n"
            "per step of the backward) from 16 to 256, on one thread (the choice is per\n"
            "core, so results never depend on the thread count), for sequences of 1024\n"
            "and 4096 and head dims 64 and 128, f32 and bf16 (as --dtypes asks).\n"
            "Convolution (--ops conv, not in the default): for the ResNet-50 layers at batch\n"
            "1 and 8, NHWC and NCHW, every pass, the algorithms that can serve each shape\n"
            "class, on one thread, the fastest kept only if it beats the default rule's\n"
            "choice by 2%% again in an interleaved confirmation. Results\n"
            "go to the user database ($USINE_TUNE_DB, else $XDG_CACHE_HOME/usine/tune.db,\n"
            "else ~/.cache/usine/tune.db).\n"
            "\n"
            "  --ops LIST        gemm,attention,conv (default gemm,attention)\n"
            "  --dtypes LIST     f32,f64,bf16,int8 (default f32,f64)\n"
            "  --threads LIST    thread counts (default 1 and all cores)\n"
            "  --shapes FILE     one 'M N K' (or 'gemm f32 M N K') per line, '#' comments;\n"
            "                    default: the GEMM suite of `usine bench gemm` (GEMM only)\n"
            "  --budget SECONDS  total measuring time (default %.0f)\n"
            "  --verify          no tuning: time tuned against model choices, in one run\n"
            "                    (GEMM classes)\n"
            "  --export FILE     copy the user database's entries to FILE\n"
            "  --import FILE     merge FILE's entries into the user database\n"
            "  --clear           remove this machine's entries from the user database\n"
            "  --db FILE         use FILE as the user database\n"
            "  --mpi             under mpirun: ranks share the classes, rank 0 writes the db\n",
            DEFAULT_BUDGET_SECONDS);
}

/* ------------------------------------------------------------------ arguments */

static int parse_list(const char *s, const char *what, int (*each)(const char *, void *), void *arg)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (each(tok, arg) != 0) {
            fprintf(stderr, "usine tune: bad %s '%s'\n", what, tok);
            return -1;
        }
    return 0;
}

/* The families `usine tune` knows, in the selector's order. */
static const usine_dtype family_dtypes[USINE_SELECT_DTYPES] = {USINE_F32, USINE_F64, USINE_BF16,
                                                               USINE_U8};

/* Index of a family name ("f32", "f64", "bf16", "int8"), or -1. */
static int family_index(const char *name)
{
    for (int d = 0; d < USINE_SELECT_DTYPES; d++)
        if (strcmp(name, usine_select_dtype_name(family_dtypes[d])) == 0)
            return d;
    return -1;
}

static int add_dtype(const char *tok, void *arg)
{
    tune_args *a = (tune_args *)arg;
    const int d = family_index(tok);
    if (d < 0)
        return -1;
    a->dtypes[d] = 1;
    return 0;
}

static int add_threads(const char *tok, void *arg)
{
    tune_args *a = (tune_args *)arg;
    char *end;
    const long t = strtol(tok, &end, 10);
    if (*end || t < 1 || t > 4096 || a->n_threads == 8)
        return -1;
    a->threads[a->n_threads++] = (int)t;
    return 0;
}

static int add_op(const char *tok, void *arg)
{
    tune_args *a = (tune_args *)arg;
    if (strcmp(tok, "gemm") == 0)
        a->gemm = 1;
    else if (strcmp(tok, "attention") == 0)
        a->attention = 1;
    else if (strcmp(tok, "conv") == 0)
        a->conv = 1;
    else
        return -1;
    return 0;
}

/* Returns 0, or the exit status of a usage error. */
static int parse_args(int argc, char **argv, tune_args *a)
{
    memset(a, 0, sizeof *a);
    a->budget = DEFAULT_BUDGET_SECONDS;
    for (int i = 0; i < argc; i++) {
        int m = 0;
        const char *v;
        if ((v = usine_cli_option(argc, argv, &i, "--dtypes", &m)) || m) {
            if (!v || parse_list(v, "dtype", add_dtype, a))
                return USINE_EXIT_USAGE;
        } else if ((v = usine_cli_option(argc, argv, &i, "--threads", &m)) || m) {
            if (!v || parse_list(v, "thread count", add_threads, a))
                return USINE_EXIT_USAGE;
        } else if ((v = usine_cli_option(argc, argv, &i, "--ops", &m)) || m) {
            if (!v || parse_list(v, "op (gemm, attention or conv)", add_op, a))
                return USINE_EXIT_USAGE;
        } else if ((v = usine_cli_option(argc, argv, &i, "--budget", &m)) || m) {
            char *end;
            a->budget = v ? strtod(v, &end) : 0;
            if (!v || *end || !(a->budget > 0)) {
                fprintf(stderr, "usine tune: --budget needs a positive number of seconds\n");
                return USINE_EXIT_USAGE;
            }
        } else if ((v = usine_cli_option(argc, argv, &i, "--shapes", &m)) || m) {
            if (!(a->shapes = v))
                return USINE_EXIT_USAGE;
        } else if ((v = usine_cli_option(argc, argv, &i, "--export", &m)) || m) {
            if (!(a->export_path = v))
                return USINE_EXIT_USAGE;
        } else if ((v = usine_cli_option(argc, argv, &i, "--import", &m)) || m) {
            if (!(a->import_path = v))
                return USINE_EXIT_USAGE;
        } else if ((v = usine_cli_option(argc, argv, &i, "--db", &m)) || m) {
            if (!(a->db = v))
                return USINE_EXIT_USAGE;
        } else if (strcmp(argv[i], "--verify") == 0) {
            a->verify = 1;
        } else if (strcmp(argv[i], "--clear") == 0) {
            a->clear = 1;
        } else if (strcmp(argv[i], "--mpi") == 0) {
            a->mpi = 1;
        } else {
            fprintf(stderr, "usine tune: unknown option '%s' (see 'usine tune --help')\n", argv[i]);
            return USINE_EXIT_USAGE;
        }
    }
    int any = 0;
    for (int d = 0; d < USINE_SELECT_DTYPES; d++)
        any |= a->dtypes[d];
    if (!any)
        a->dtypes[0] = a->dtypes[1] = 1;
    if (!a->gemm && !a->attention && !a->conv)
        a->gemm = a->attention = 1;
    return 0;
}

/* ------------------------------------------------------------------ shape classes */

/* The `usine bench gemm` shapes (the foundation issue's suite), less the matrix-vector one
 * (n = 1 runs no blocked kernel) and with the batch shape as one product. */
static const int64_t default_shapes[][3] = {
    {256, 256, 256},    {512, 512, 512},    {1024, 1024, 1024}, {2048, 2048, 2048},
    {3072, 3072, 3072}, {4096, 4096, 4096}, {5124, 700, 2048},  {35, 8457, 2560},
    {3072, 128, 1024},  {4096, 4096, 128},  {512, 512, 64},
};

/* Attention classes: (seq, heads, head_dim), heads making each run a few GFLOP. */
static const int64_t attention_shapes[][3] = {
    {1024, 4, 64},
    {1024, 4, 128},
    {4096, 1, 64},
    {4096, 1, 128},
};

/* ResNet-50's distinct convolutions (He et al. 2016, torchvision's v1.5: stride on the
 * 3x3): in_channels, height = width, out_channels, filter, stride, padding. */
static const int64_t resnet50_layers[][6] = {
    {3, 224, 64, 7, 2, 3},    {64, 56, 64, 1, 1, 0},     {64, 56, 64, 3, 1, 1},
    {64, 56, 256, 1, 1, 0},   {256, 56, 64, 1, 1, 0},    {256, 56, 128, 1, 1, 0},
    {128, 56, 128, 3, 2, 1},  {256, 56, 512, 1, 2, 0},   {128, 28, 512, 1, 1, 0},
    {512, 28, 128, 1, 1, 0},  {128, 28, 128, 3, 1, 1},   {512, 28, 256, 1, 1, 0},
    {256, 28, 256, 3, 2, 1},  {512, 28, 1024, 1, 2, 0},  {256, 14, 1024, 1, 1, 0},
    {1024, 14, 256, 1, 1, 0}, {256, 14, 256, 3, 1, 1},   {1024, 14, 512, 1, 1, 0},
    {512, 14, 512, 3, 2, 1},  {1024, 14, 2048, 1, 2, 0}, {512, 7, 2048, 1, 1, 0},
    {2048, 7, 512, 1, 1, 0},  {512, 7, 512, 3, 1, 1},
};

static int same_conv_class(const tune_class *a, const tune_class *b)
{
    usine_tune_key ka, kb;
    usine_conv_key(conv_pass(a->op), &a->conv, &ka);
    usine_conv_key(conv_pass(b->op), &b->conv, &kb);
    return usine_tune_key_equal(&ka, &kb);
}

static int same_class(const tune_class *a, const tune_class *b)
{
    if (is_conv(a->op) || is_conv(b->op))
        return a->op == b->op && same_conv_class(a, b);
    return a->op == b->op && a->dtype == b->dtype && a->threads == b->threads &&
           usine_shape_class(a->m) == usine_shape_class(b->m) &&
           usine_shape_class(a->n) == usine_shape_class(b->n) &&
           usine_shape_class(a->k) == usine_shape_class(b->k);
}

static void add_class(tune_class *list, int *count, tune_class c)
{
    for (int i = 0; i < *count; i++)
        if (same_class(&list[i], &c))
            return;
    if (*count < MAX_CLASSES)
        list[(*count)++] = c;
}

/* Shapes of a file: 'M N K' or 'gemm DTYPE M N K'; a dtype on the line restricts it. */
static int read_shapes(const char *path, int64_t shapes[][3], int dtype_of[], int max)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "usine tune: cannot open %s\n", path);
        return -1;
    }
    char line[256];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        long long m, nn, k;
        char op[16], dt[16], tail;
        dtype_of[n] = -1;
        if (sscanf(line, " %lld %lld %lld %c", &m, &nn, &k, &tail) == 3) {
        } else if (sscanf(line, " %15s %15s %lld %lld %lld %c", op, dt, &m, &nn, &k, &tail) == 5 &&
                   strcmp(op, "gemm") == 0 && family_index(dt) >= 0) {
            dtype_of[n] = family_index(dt);
        } else if (strspn(line, " \t\r\n") == strlen(line)) {
            continue;
        } else {
            fprintf(stderr,
                    "usine tune: %s:%d: expected 'M N K' or 'gemm f32|f64|bf16|int8 M N K'\n", path,
                    lineno);
            fclose(f);
            return -1;
        }
        if (m < 2 || nn < 2 || k < 1) {
            fprintf(stderr, "usine tune: %s:%d: sizes must be M, N >= 2 and K >= 1\n", path,
                    lineno);
            fclose(f);
            return -1;
        }
        shapes[n][0] = m;
        shapes[n][1] = nn;
        shapes[n][2] = k;
        n++;
    }
    fclose(f);
    return n;
}

static int add_attention_classes(const tune_args *a, tune_class *list, int count);
static int add_conv_classes(const tune_args *a, tune_class *list, int count);

static int build_classes(const tune_args *a, int default_threads, tune_class *list)
{
    int64_t shapes[MAX_CLASSES][3];
    int dtype_of[MAX_CLASSES], n_shapes;
    if (a->shapes) {
        if ((n_shapes = read_shapes(a->shapes, shapes, dtype_of, MAX_CLASSES)) < 0)
            return -1;
    } else {
        n_shapes = (int)(sizeof default_shapes / sizeof default_shapes[0]);
        for (int i = 0; i < n_shapes; i++) {
            memcpy(shapes[i], default_shapes[i], sizeof shapes[i]);
            /* f64 on the squares only, as `usine bench gemm` does. */
            dtype_of[i] = shapes[i][0] == shapes[i][1] && shapes[i][1] == shapes[i][2] ? -1 : -2;
        }
    }
    int threads[8], n_threads = a->n_threads;
    memcpy(threads, a->threads, sizeof threads);
    if (n_threads == 0) {
        threads[n_threads++] = 1;
        if (default_threads > 1)
            threads[n_threads++] = default_threads;
    }
    int count = 0;
    /* dtype_of: a family index, -1 any, -2 any but f64. */
    for (int d = 0; d < USINE_SELECT_DTYPES && a->gemm; d++)
        for (int i = 0; i < n_shapes; i++)
            for (int t = 0; t < n_threads; t++)
                if (a->dtypes[d] && (dtype_of[i] == -1 || dtype_of[i] == d ||
                                     (dtype_of[i] == -2 && family_dtypes[d] != USINE_F64)))
                    add_class(list, &count,
                              (tune_class){family_dtypes[d],
                                           shapes[i][0],
                                           shapes[i][1],
                                           shapes[i][2],
                                           threads[t],
                                           OP_GEMM,
                                           {0}});
    if (a->attention)
        count = add_attention_classes(a, list, count);
    return a->conv ? add_conv_classes(a, list, count) : count;
}

/* Attention classes for the dtypes asked that attention has (f32, bf16), appended. */
static int add_attention_classes(const tune_args *a, tune_class *list, int count)
{
    const usine_dtype dtypes[2] = {USINE_F32, USINE_BF16};
    for (int d = 0; d < 2; d++)
        for (tune_op op = OP_ATTN_FWD; op <= OP_ATTN_BWD; op++)
            for (size_t i = 0; i < sizeof attention_shapes / sizeof attention_shapes[0]; i++)
                if (a->dtypes[family_index(usine_select_dtype_name(dtypes[d]))])
                    add_class(list, &count,
                              (tune_class){dtypes[d],
                                           attention_shapes[i][0],
                                           attention_shapes[i][1],
                                           attention_shapes[i][2],
                                           1,
                                           op,
                                           {0}});
    return count;
}

/* Configurations (algorithm and parameters) that serve a pass and problem. */
static int conv_candidates(usine_conv_pass pass, const usine_conv_problem *p)
{
    int count = 0;
    for (int algo = 0; algo < USINE_CONV_ALGO_COUNT; algo++)
        for (int v = 0; v < USINE_CONV_VARIANT_COUNT; v++)
            count += usine_conv_config_serves(
                (usine_conv_config){(usine_conv_algo)algo, (usine_conv_variant)v}, pass, p);
    return count;
}

/* Convolution classes (f32 and bf16 as asked): the ResNet-50 layers at batch 1 and 8, both
 * layouts, every pass, where more than one configuration could serve. */
static int add_conv_classes(const tune_args *a, tune_class *list, int count)
{
    const usine_dtype dtypes[2] = {USINE_F32, USINE_BF16};
    const int64_t batches[2] = {1, 8};
    for (int d = 0; d < 2; d++) {
        if (!a->dtypes[family_index(usine_select_dtype_name(dtypes[d]))])
            continue;
        for (tune_op op = OP_CONV_FWD; op <= OP_CONV_BWD_WEIGHTS; op++)
            for (int layout = 0; layout < 2; layout++)
                for (int b = 0; b < 2; b++)
                    for (size_t i = 0; i < sizeof resnet50_layers / sizeof resnet50_layers[0];
                         i++) {
                        const int64_t *l = resnet50_layers[i];
                        tune_class c = {dtypes[d], 0, 0, 0, 1, op, {0}};
                        c.conv = usine_conv_problem_make(
                            dtypes[d], layout ? USINE_CONV_NCHW : USINE_CONV_NHWC, batches[b], l[0],
                            l[1], l[1], l[2], l[3], l[3], l[4], l[5]);
                        c.m = c.conv.n * c.conv.p * c.conv.q;
                        c.n = c.conv.k;
                        c.k = c.conv.c * c.conv.r * c.conv.s;
                        if (conv_candidates(conv_pass(op), &c.conv) > 1)
                            add_class(list, &count, c);
                    }
    }
    return count;
}

/* ------------------------------------------------------------------ progress */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct progress {
    int tty, done, total;
    double start;
    const tune_class *current;
} progress;

/* "f32 1024x1024x1024" or "attn_fwd f32 s4096 h1 d128": what a class is, for people. */
static void class_label(const tune_class *c, char *out, size_t size)
{
    if (is_conv(c->op)) {
        usine_tune_key key;
        const usine_conv_problem *p = &c->conv;
        usine_conv_key(conv_pass(c->op), p, &key);
        snprintf(out, size, "%s %s n%lld %lldx%lld %lld->%lld", key.op, key.dtypes, (long long)p->n,
                 (long long)p->h, (long long)p->w, (long long)p->c, (long long)p->k);
        return;
    }
    if (c->op == OP_GEMM)
        snprintf(out, size, "%s %lldx%lldx%lld", usine_select_dtype_name(c->dtype), (long long)c->m,
                 (long long)c->n, (long long)c->k);
    else
        snprintf(out, size, "%s %s s%lld h%lld d%lld",
                 c->op == OP_ATTN_FWD ? "attn_fwd" : "attn_bwd", usine_select_dtype_name(c->dtype),
                 (long long)c->m, (long long)c->n, (long long)c->k);
}

static void draw_bar(void *arg, int measured, int candidates)
{
    progress *p = (progress *)arg;
    if (!p->tty)
        return;
    const int width = 30, filled = p->total ? width * p->done / p->total : width;
    const double elapsed = now_seconds() - p->start;
    const double eta = p->done ? elapsed / p->done * (p->total - p->done) : 0;
    char label[96];
    class_label(p->current, label, sizeof label);
    fprintf(stderr, "\r[%.*s%*s] %d/%d classes, %s t%d: %d/%d candidates, ETA %dm%02ds ", filled,
            "##############################", width - filled, "", p->done, p->total, label,
            p->current->threads, measured, candidates, (int)eta / 60, (int)eta % 60);
    fflush(stderr);
}

static void report_class(const progress *p, const tune_class *c, const usine_tune_outcome *o)
{
    const usine_tune_entry *e = &o->entry;
    if (p->tty)
        fputc('\r', stderr);
    if (is_conv(c->op)) {
        char label[96];
        class_label(c, label, sizeof label);
        fprintf(stderr,
                "usine tune: %d/%d %s t1: %s %.1f GFLOP/s (default %.1f, %d measured of %d): "
                "%s%*s\n",
                p->done, p->total, label, e->kernel, e->gflops, e->model_gflops, o->measured,
                o->candidates, o->improved ? "tuned algorithm kept" : "default kept",
                p->tty ? 20 : 0, "");
        return;
    }
    if (c->op != OP_GEMM) {
        char label[96];
        class_label(c, label, sizeof label);
        fprintf(stderr,
                "usine tune: %d/%d %s t1: %s block=%lld %.1f GFLOP/s (default %.1f, %d "
                "measured): %s%*s\n",
                p->done, p->total, label, e->kernel, (long long)e->block, e->gflops,
                e->model_gflops, o->measured, o->improved ? "tuned block kept" : "default kept",
                p->tty ? 20 : 0, "");
        return;
    }
    fprintf(stderr,
            "usine tune: %d/%d %s %lldx%lldx%lld t%d: %s mc=%lld kc=%lld nc=%lld%s %.1f GFLOP/s "
            "(model %.1f, %d measured of %d, %d pruned): %s%*s\n",
            p->done, p->total, usine_select_dtype_name(c->dtype), (long long)c->m, (long long)c->n,
            (long long)c->k, c->threads, e->kernel, (long long)e->mc, (long long)e->kc,
            (long long)e->nc, e->pack ? " pack" : "", e->gflops, e->model_gflops, o->measured,
            o->candidates, o->pruned, o->improved ? "tuned choice kept" : "model's choice kept",
            p->tty ? 20 : 0, "");
}

/* ------------------------------------------------------------------ modes */

static int merge(const char *path, const usine_tune_table *t, const char *remove)
{
    char error[512];
    if (usine_db_merge(path, t, remove, error, sizeof error) != 0) {
        fprintf(stderr, "usine tune: %s\n", error);
        return USINE_EXIT_FAILURE;
    }
    return USINE_EXIT_OK;
}

static int tune_one(usine_selector *sel, const tune_class *c, const usine_tune_options *opt,
                    usine_tune_outcome *o)
{
    if (is_conv(c->op))
        return usine_tune_conv(sel, sel->cap, conv_pass(c->op), &c->conv, opt, o);
    if (c->op == OP_GEMM)
        return usine_tune_gemm(sel, c->dtype, c->m, c->n, c->k, c->threads, opt, o);
    return usine_tune_attention(usine_cpu_attn_kernel(sel->cap, c->dtype), c->op == OP_ATTN_BWD,
                                c->dtype, c->m, c->n, c->k, opt, o);
}

/* Tunes classes[i] for i = first, first + step, ...; results into out, and into the
 * database save_to (unless NULL) as they come. */
static int tune_classes(usine_selector *sel, const tune_class *classes, int count, int first,
                        int step, double budget, usine_tune_table *out, const char *save_to)
{
    progress p = {isatty(2), 0, 0, now_seconds(), NULL};
    for (int i = first; i < count; i += step)
        p.total++;
    const double deadline = now_seconds() + budget;
    for (int i = first; i < count; i += step) {
        /* The remaining budget, shared evenly by the remaining classes. */
        const double share = (deadline - now_seconds()) / (double)(p.total - p.done);
        usine_tune_options opt = usine_tune_default_options(share > 0 ? share : 0);
        opt.progress = draw_bar;
        opt.progress_arg = &p;
        p.current = &classes[i];
        usine_tune_outcome o;
        if (tune_one(sel, &classes[i], &opt, &o) != 0) {
            char label[96];
            class_label(&classes[i], label, sizeof label);
            fprintf(stderr, "usine tune: out of memory for %s\n", label);
            return USINE_EXIT_FAILURE;
        }
        p.done++;
        report_class(&p, &classes[i], &o);
        if (usine_tune_table_put(out, &o.entry) != 0)
            return USINE_EXIT_FAILURE;
        if (save_to) { /* each class as it is done: an interrupted run keeps its results */
            usine_tune_table one = {&o.entry, 1, 1};
            if (merge(save_to, &one, NULL) != 0)
                return USINE_EXIT_FAILURE;
        }
    }
    return USINE_EXIT_OK;
}

/* Tuned against model, interleaved, for every class: the acceptance check of tuning. */
static int verify(usine_selector *sel, const tune_class *classes, int count)
{
    double log_sum = 0;
    int worse = 0, gemm_classes = 0;
    printf("%-6s %-20s %3s %-30s %9s %9s %7s\n", "dtype", "shape", "thr", "tuned choice", "model",
           "tuned", "gain");
    for (int i = 0; i < count; i++) {
        const tune_class *c = &classes[i];
        if (c->op != OP_GEMM)
            continue;
        gemm_classes++;
        usine_gemm_choice model, tuned;
        usine_select_model(sel, c->dtype, &model);
        usine_select_gemm(sel, c->dtype, c->m, c->n, c->k, c->threads, &tuned);
        usine_tune_workload *w = usine_tune_workload_new(c->dtype, c->m, c->n, c->k, c->threads);
        if (!w) {
            fprintf(stderr, "usine tune: out of memory for %lldx%lldx%lld\n", (long long)c->m,
                    (long long)c->n, (long long)c->k);
            return USINE_EXIT_FAILURE;
        }
        double a[5], b[5];
        for (int r = 0; r < 5; r++) { /* interleaved: both see the same disturbances */
            a[r] = usine_tune_workload_measure(w, &model, 1);
            b[r] = usine_tune_workload_measure(w, &tuned, 1);
        }
        usine_tune_workload_free(w);
        double ma = 0, mb = 0; /* best of five: the least disturbed run of each */
        for (int r = 0; r < 5; r++) {
            ma = a[r] > ma ? a[r] : ma;
            mb = b[r] > mb ? b[r] : mb;
        }
        const double gain = ma > 0 ? mb / ma : 1;
        log_sum += log(gain);
        worse += gain < 0.97;
        char shape[32], choice[64];
        snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)c->m, (long long)c->n,
                 (long long)c->k);
        snprintf(choice, sizeof choice, "%s",
                 tuned.rule_id == USINE_RULE_MODEL ? "(model)" : tuned.rule);
        printf("%-6s %-20s %3d %-30s %9.1f %9.1f %+6.1f%%%s\n", usine_select_dtype_name(c->dtype),
               shape, c->threads, choice, ma, mb, 100 * (gain - 1), gain < 0.97 ? "  SLOWER" : "");
    }
    printf("geometric-mean gain of tuning over the model: %+.2f%% over %d classes; %d more than "
           "3%% slower\n",
           100 * (exp(log_sum / (gemm_classes ? gemm_classes : 1)) - 1), gemm_classes, worse);
    /* A slower class is reported, not an error: timings on a busy machine move. */
    return USINE_EXIT_OK;
}

static int export_db(const char *user, const char *to)
{
    usine_tune_table t = {0};
    size_t skipped = 0;
    if (usine_db_read(user, NULL, NULL, &t, &skipped) != 0) {
        fprintf(stderr, "usine tune: %s is not a usine tuning database\n", user);
        return USINE_EXIT_FAILURE;
    }
    const int rc = merge(to, &t, NULL);
    if (rc == 0)
        printf("exported %zu entries to %s\n", t.count, to);
    usine_tune_table_free(&t);
    return rc;
}

static int import_db(const char *from, const char *user)
{
    usine_tune_table t = {0};
    size_t skipped = 0;
    if (usine_db_read(from, NULL, NULL, &t, &skipped) != 0) {
        fprintf(stderr, "usine tune: %s is not a usine tuning database\n", from);
        usine_tune_table_free(&t);
        return USINE_EXIT_FAILURE;
    }
    if (skipped)
        fprintf(stderr, "usine tune: %zu corrupt lines of %s skipped\n", skipped, from);
    const int rc = merge(user, &t, NULL);
    if (rc == 0)
        printf("imported %zu entries from %s into %s\n", t.count, from, user);
    usine_tune_table_free(&t);
    return rc;
}

/* ------------------------------------------------------------------ MPI */

#ifdef USINE_HAVE_MPI
/* Every rank's entries, as database lines, gathered on rank 0 into t. */
static int gather_entries(const usine_tune_table *mine, usine_tune_table *t, int rank, int size)
{
    char line[1024];
    size_t cap = mine->count * sizeof line + 1, used = 0;
    char *text = (char *)malloc(cap);
    if (!text)
        return -1;
    text[0] = '\0';
    for (size_t i = 0; i < mine->count; i++) {
        usine_db_format_entry(&mine->entries[i], line, sizeof line);
        used += (size_t)snprintf(text + used, cap - used, "%s\n", line);
    }
    int len = (int)used, *lens = NULL, *offsets = NULL;
    char *all = NULL;
    if (rank == 0) {
        lens = (int *)calloc((size_t)size, sizeof *lens);
        offsets = (int *)calloc((size_t)size, sizeof *offsets);
    }
    MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
    int total = 0;
    if (rank == 0) {
        for (int r = 0; r < size; r++) {
            offsets[r] = total;
            total += lens[r];
        }
        all = (char *)malloc((size_t)total + 1);
    }
    MPI_Gatherv(text, len, MPI_CHAR, all, lens, offsets, MPI_CHAR, 0, MPI_COMM_WORLD);
    free(text);
    if (rank == 0) {
        all[total] = '\0';
        for (char *save = NULL, *l = strtok_r(all, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save)) {
            usine_tune_entry e;
            if (usine_db_parse_entry(l, &e) == 0)
                usine_tune_table_put(t, &e);
        }
        free(all);
        free(lens);
        free(offsets);
    }
    return 0;
}
#endif

/* ------------------------------------------------------------------ entry point */

int usine_cli_tune(int argc, char **argv)
{
    tune_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    char user[1024];
    if (a.db)
        snprintf(user, sizeof user, "%s", a.db);
    else if (!usine_db_user_path(user, sizeof user)) {
        fprintf(stderr, "usine tune: no database path: set USINE_TUNE_DB or HOME\n");
        return USINE_EXIT_FAILURE;
    }
    if (a.db)
        setenv("USINE_TUNE_DB", a.db, 1); /* the selector of --verify reads the same file */
    if (a.export_path)
        return export_db(user, a.export_path);
    if (a.import_path)
        return import_db(a.import_path, user);
    if (a.clear) {
        usine_tune_table none = {0};
        rc = merge(user, &none, usine_fingerprint_get()->hash);
        if (rc == 0)
            printf("removed this machine's entries (%s) from %s\n", usine_fingerprint_get()->hash,
                   user);
        return rc;
    }
    int rank = 0, size = 1;
    if (a.mpi) {
#ifdef USINE_HAVE_MPI
        MPI_Init(&argc, &argv);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
#else
        fprintf(stderr, "usine tune: --mpi: this build has no MPI (install libopenmpi-dev)\n");
        return USINE_EXIT_USAGE;
#endif
    }
    usine_context *ctx = NULL;
    usine_context_options cpu_only; /* the tuner measures CPU kernels */
    usine_context_options_init(&cpu_only);
    cpu_only.device = "cpu";
    if (usine_create(&ctx, &cpu_only) != USINE_SUCCESS) {
        fprintf(stderr, "usine tune: %s\n", usine_last_error());
        return USINE_EXIT_FAILURE;
    }
    tune_class classes[MAX_CLASSES];
    const int count = build_classes(&a, ctx->num_threads, classes);
    if (count < 0) {
        usine_destroy(ctx);
        return USINE_EXIT_USAGE;
    }
    if (rank == 0)
        fprintf(stderr, "usine tune: machine %s (%s); counters: %s; %d classes, budget %.0f s%s\n",
                usine_fingerprint_get()->hash, usine_fingerprint_get()->text,
                usine_counters_probe()->summary, count, a.budget, size > 1 ? " per rank" : "");
    if (a.verify) {
        rc = verify(&ctx->selector, classes, count);
    } else {
        usine_tune_table found = {0}, all = {0};
        rc = tune_classes(&ctx->selector, classes, count, rank, size, a.budget, &found,
                          a.mpi ? NULL : user);
#ifdef USINE_HAVE_MPI
        if (a.mpi && gather_entries(&found, &all, rank, size) != 0)
            rc = USINE_EXIT_FAILURE;
        if (a.mpi && rc == 0 && rank == 0)
            rc = merge(user, &all, NULL); /* one merged database, written by rank 0 */
#endif
        const usine_tune_table *result = a.mpi ? &all : &found;
        if (rc == 0 && rank == 0)
            fprintf(stderr, "usine tune: %zu entries written to %s\n", result->count, user);
        usine_tune_table_free(&found);
        usine_tune_table_free(&all);
    }
    usine_destroy(ctx);
#ifdef USINE_HAVE_MPI
    if (a.mpi)
        MPI_Finalize();
#endif
    return rc;
}
