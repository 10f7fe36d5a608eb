/* `usine bench [SUITE] [options]`: parses the options, then runs bench/runner.c (or
 * bench/cluster.c with --mpi). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "measure.h"
#include "peers.h"
#include "runner.h"
#include "suite.h"
#ifdef USINE_HAVE_MPI
#include "cluster.h"
#endif

void usine_cli_bench_help(FILE *out)
{
    fprintf(
        out,
        "usage: usine bench [SUITE] [options]\n"
        "       mpirun --bind-to none -n N usine bench --mpi [SUITE] [options]\n"
        "\n"
        "Times usine against the measured compute peak, the memory bandwidth (triad) and\n"
        "the peer libraries, each library in its own process, and checks every peer's\n"
        "result against usine's. A table goes to stdout, progress to stderr. Exit status\n"
        "1 if usine failed or a result did not match.\n"
        "\n"
        "  SUITE, --suite SUITE       %s\n"
        "                             (default quick: a few minutes; gemm: the full GEMM\n"
        "                             suite, squares 256..4096 and the AI shapes; smoke:\n"
        "                             seconds, for tests)\n"
        "  --shapes SUITE|FILE        a suite, or a shape file (bench/suites/README.md;\n"
        "                             DeepBench GEMM and conv lists are accepted)\n"
        "  --list                     list the suite's cases, flops and intensity; run nothing\n"
        "  --dtypes LIST              f32,f64,bf16,int8 (default all); bf16 and int8 rows\n"
        "                             are row-major (A activations, B weights K x N) and\n"
        "                             compare with oneDNN's matmul; int8 = u8 x s8 -> s32\n"
        "  --threads LIST             thread counts, e.g. 1,2 (default 1 and all cores)\n"
        "  --peers LIST               openblas,blis,onednn, all or none (default all)\n"
        "  --reps N                   exactly N timed repetitions (default: at least 3,\n"
        "                             until the fastest 3 agree within 2%% or --time, at most\n"
        "                             %d)\n"
        "  --time SECONDS             cap on timed seconds per measurement (default 0.4)\n"
        "  --rounds N                 measure each row's libraries N times in turn and\n"
        "                             keep each one's fastest median (default 1; a shared,\n"
        "                             noisy machine: 3 or more, at most 20)\n"
        "  --conv-passes LIST         fwd,bwd_data,bwd_weights or all: each conv line runs\n"
        "                             in these passes (default: the line's pass=, fwd)\n"
        "  --no-peak                  skip the peak and bandwidth (no %% of peak, no roofline)\n"
        "  --json FILE                every measurement, the machine and its fingerprint\n"
        "                             (schema: bench/schema/usine-bench-1.schema.json)\n"
        "  --csv FILE                 every measurement, one CSV row each\n"
        "  --mpi                      under mpirun: every rank runs, rank 0 gathers one JSON\n"
        "                             (--json, default usine-bench-mpi.json) and flags nodes\n"
        "                             of one fingerprint more than 10%% apart%s\n"
        "\n"
        "Peers are loaded with dlopen; a missing one is named and skipped. bf16 and int8\n"
        "rows run oneDNN's matmul primitive (row-major weights) and report %% of the measured\n"
        "vdpbf16ps / vpdpbusd peak; a dtype usine lacks leaves its cell empty, with why.\n"
        "USINE_BENCH_OPENBLAS, USINE_BENCH_BLIS, USINE_BENCH_ONEDNN=path load another file.\n"
        "Attention lines run against an unfused OpenBLAS baseline; conv lines (NHWC) against\n"
        "oneDNN's convolution primitive and im2col + OpenBLAS sgemm.\n",
        usine_bench_suite_names(), USINE_BENCH_MAX_REPS,
#ifdef USINE_HAVE_MPI
        ""
#else
        " (not in this build: no MPI)"
#endif
    );
}

static int bad(const char *option, const char *value, const char *expected)
{
    fprintf(stderr, "usine bench: %s '%s': expected %s\n", option, value, expected);
    return -1;
}

/* A positive integer in [1, max]; -1 otherwise. */
static long parse_count(const char *s, long max)
{
    char *end;
    errno = 0;
    const long v = strtol(s, &end, 10);
    return errno || end == s || *end || v < 1 || v > max ? -1 : v;
}

static int parse_threads(const char *s, usine_bench_options *o)
{
    char list[256];
    snprintf(list, sizeof list, "%s", s);
    o->n_threads = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const long v = parse_count(t, 4096);
        if (v < 0 || o->n_threads == USINE_BENCH_MAX_THREAD_COUNTS)
            return bad("--threads", s, "up to 8 thread counts in [1, 4096], e.g. 1,2");
        o->threads[o->n_threads++] = (int)v;
    }
    return o->n_threads ? 0 : bad("--threads", s, "a list such as 1,2");
}

/* Bit (1 << slot) per dtype: f32, f64, bf16, int8 (suite.h). */
static int parse_dtypes(const char *s, usine_bench_options *o)
{
    static const char *const expected = "f32, f64, bf16, int8, comma-separated (e.g. f32,bf16)";
    char list[64];
    snprintf(list, sizeof list, "%s", s);
    o->dtypes = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int slot = -1;
        for (int d = 0; d < USINE_BENCH_DTYPE_SLOTS && slot < 0; d++)
            if (!strcmp(t, usine_bench_dtype_name(usine_bench_slot_dtype(d))))
                slot = d;
        if (slot < 0)
            return bad("--dtypes", s, expected);
        o->dtypes |= 1 << slot;
    }
    return o->dtypes ? 0 : bad("--dtypes", s, expected);
}

static int parse_peers(const char *s, usine_bench_options *o)
{
    char list[128];
    snprintf(list, sizeof list, "%s", s);
    o->peers = 0;
    if (!strcmp(s, "none"))
        return 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const int id = usine_bench_peer_from_key(t);
        if (!strcmp(t, "all"))
            o->peers = (1 << USINE_PEER_COUNT) - 1;
        else if (id < 0)
            return bad("--peers", s, "openblas, blis, onednn (comma-separated), all or none");
        else
            o->peers |= 1 << id;
    }
    return 0;
}

static int parse_time(const char *s, usine_bench_options *o)
{
    char *end;
    errno = 0;
    o->budget_s = strtod(s, &end);
    if (errno || end == s || *end || !(o->budget_s > 0 && o->budget_s <= 60))
        return bad("--time", s, "seconds in (0, 60]");
    return 0;
}

/* Bit (1 << usine_conv_pass) per pass: fwd, bwd_data, bwd_weights (suite.h), or all. */
static int parse_conv_passes(const char *s, usine_bench_options *o)
{
    static const char *const expected = "fwd, bwd_data, bwd_weights (comma-separated) or all";
    char list[64];
    snprintf(list, sizeof list, "%s", s);
    o->conv_passes = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int pass = !strcmp(t, "all") ? 3 : -1;
        for (int p = 0; p < 3 && pass < 0; p++)
            if (!strcmp(t, usine_bench_conv_pass_key(p)))
                pass = p;
        if (pass < 0)
            return bad("--conv-passes", s, expected);
        o->conv_passes |= pass == 3 ? 7 : 1 << pass;
    }
    return o->conv_passes ? 0 : bad("--conv-passes", s, expected);
}

/* The suite is loaded (and a bad name or file reported) when the run starts. */
static int parse_shapes(const char *s, usine_bench_options *o)
{
    o->suite = s;
    return 0;
}

static int parse_reps(const char *s, usine_bench_options *o)
{
    const long v = parse_count(s, USINE_BENCH_MAX_REPS);
    o->reps = (int)v;
    return v > 0 ? 0 : bad("--reps", s, "an integer in [1, 100]");
}

static int parse_rounds(const char *s, usine_bench_options *o)
{
    const long v = parse_count(s, USINE_BENCH_MAX_ROUNDS);
    o->rounds = (int)v;
    return v > 0 ? 0 : bad("--rounds", s, "an integer in [1, 20]");
}

static int parse_file(const char *s, const char **path)
{
    *path = s;
    return 0;
}

/* Options that take a value, and how each is parsed. */
typedef struct value_option {
    const char *name;
    int (*parse)(const char *value, usine_bench_options *o);
} value_option;

static int parse_json(const char *s, usine_bench_options *o)
{
    return parse_file(s, &o->json_path);
}

static int parse_csv(const char *s, usine_bench_options *o)
{
    return parse_file(s, &o->csv_path);
}

static const value_option value_options[] = {
    {"--shapes", parse_shapes},
    {"--suite", parse_shapes},
    {"--dtypes", parse_dtypes},
    {"--threads", parse_threads},
    {"--peers", parse_peers},
    {"--reps", parse_reps},
    {"--rounds", parse_rounds},
    {"--time", parse_time},
    {"--json", parse_json},
    {"--csv", parse_csv},
    {"--conv-passes", parse_conv_passes},
};

/* The suite may come first, or after --mpi (`usine bench --mpi quick`). */
static int first_positional(char **argv)
{
    return argv[0] && !strcmp(argv[0], "--mpi") ? 1 : 0;
}

/* One argument at argv[*i] (and its value): 0 parsed, 1 help asked, -1 a usage error. */
static int parse_one(int argc, char **argv, int *i, usine_bench_options *o)
{
    const char *arg = argv[*i];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h"))
        return 1;
    if (!strcmp(arg, "--no-peak")) {
        o->measure_peak = 0;
        return 0;
    }
    if (!strcmp(arg, "--list")) {
        o->list_only = 1;
        return 0;
    }
    if (!strcmp(arg, "--mpi")) {
        o->mpi = 1;
        return 0;
    }
    if (arg[0] != '-' && *i == first_positional(argv)) {
        o->suite = arg;
        return 0;
    }
    for (size_t v = 0; v < sizeof value_options / sizeof value_options[0]; v++) {
        int matched;
        const char *value = usine_cli_option(argc, argv, i, value_options[v].name, &matched);
        if (matched)
            return value ? value_options[v].parse(value, o) : -1;
    }
    if (arg[0] == '-')
        fprintf(stderr, "usine bench: unknown option '%s' (see 'usine bench --help')\n", arg);
    else
        fprintf(stderr, "usine bench: unexpected '%s': the suite (%s) comes first\n", arg,
                usine_bench_suite_names());
    return -1;
}

/* "usine bench ARGS...", recorded in the JSON so that a run can be repeated. */
static void command_line(int argc, char **argv, char *out, size_t size)
{
    size_t len = (size_t)snprintf(out, size, "usine bench");
    for (int i = 0; i < argc && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, " %s", argv[i]);
}

int usine_cli_bench(int argc, char **argv)
{
    static char command[1024];
    usine_bench_machine m;
    usine_bench_machine_read(&m);
    usine_bench_options o;
    usine_bench_options_default(&o, &m);
    for (int i = 0; i < argc; i++) {
        const int rc = parse_one(argc, argv, &i, &o);
        if (rc > 0) {
            usine_cli_bench_help(stdout);
            return USINE_EXIT_OK;
        }
        if (rc < 0)
            return USINE_EXIT_USAGE;
    }
    if (!m.context_ok) {
        fprintf(stderr, "usine bench: a default context cannot be created: %s\n", m.context_error);
        return USINE_EXIT_FAILURE;
    }
    command_line(argc, argv, command, sizeof command);
    o.command_line = command;
    if (o.mpi) {
#ifdef USINE_HAVE_MPI
        return usine_bench_cluster_main(&o, &m);
#else
        fprintf(stderr, "usine bench: --mpi: this usine was built without MPI\n");
        return USINE_EXIT_USAGE;
#endif
    }
    return usine_bench_main(&o, &m); /* 0, 1, or 2 for a suite that does not load */
}
