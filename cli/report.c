/* `usine report A.json [B.json ...] [-o FILE]`: one self-contained HTML page from bench
 * results, and a short comparison on stdout. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "commands.h"

#ifdef USINE_HAVE_CJSON
#include <math.h>

#include "report_data.h"
#include "report_html.h"
#endif

void usine_cli_report_help(FILE *out)
{
    fprintf(out, "usage: usine report RESULTS.json [RESULTS.json ...] [-o FILE]\n"
                 "\n"
                 "Writes one self-contained HTML page (inline SVG, nothing fetched from the\n"
                 "network) from the JSON of 'usine bench --json' or of 'usine bench --mpi': each\n"
                 "machine's peak, bandwidth and peers, a roofline plot per machine, per-case bars\n"
                 "of usine against the peers and, for several machines (files, or nodes of a\n"
                 "cluster file), the machines side by side. Prints the comparison on stdout.\n"
                 "\n"
                 "  -o, --output FILE   the HTML file (default usine-report.html)\n");
}

#ifdef USINE_HAVE_CJSON

/* usine's geometric-mean ratio of run b to run a over the rows they share. */
static double compare_runs(const rp_run *a, const rp_run *b, int *shared)
{
    double log_sum = 0;
    *shared = 0;
    for (size_t i = 0; i < a->n_rows; i++)
        for (size_t j = 0; j < b->n_rows; j++) {
            const rp_case *ca = &a->cases[a->rows[i].case_id], *cb = &b->cases[b->rows[j].case_id];
            if (a->rows[i].threads != b->rows[j].threads || strcmp(ca->label, cb->label) ||
                strcmp(ca->dtype, cb->dtype) || a->rows[i].gflops[0] <= 0 ||
                b->rows[j].gflops[0] <= 0)
                continue;
            log_sum += log(b->rows[j].gflops[0] / a->rows[i].gflops[0]);
            ++*shared;
        }
    return *shared ? exp(log_sum / *shared) : 0;
}

static void print_summary(const rp_report *r)
{
    for (size_t i = 0; i < r->n_runs; i++) {
        const rp_run *x = &r->runs[i];
        printf("machine %zu: %s, %s, %d cores, fingerprint %s; peak f32 %.1f f64 %.1f GFLOP/s, "
               "triad %.1f GB/s (%d threads); %zu rows\n",
               i + 1, x->host, x->cpu, x->cores, x->fingerprint, x->peak[0], x->peak[1],
               x->bandwidth, x->max_threads, x->n_rows);
    }
    for (size_t i = 1; i < r->n_runs; i++) {
        int shared;
        const double ratio = compare_runs(&r->runs[0], &r->runs[i], &shared);
        if (shared)
            printf("machine %zu / machine 1: usine %.2fx (geometric mean over %d shared cases)\n",
                   i + 1, ratio, shared);
        else
            printf("machine %zu / machine 1: no case in common\n", i + 1);
    }
}

static int write_report(const rp_report *r, const char *path)
{
    char generated[32] = "";
    const time_t now = time(NULL);
    struct tm utc;
    if (gmtime_r(&now, &utc))
        strftime(generated, sizeof generated, "%Y-%m-%d %H:%M UTC", &utc);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return USINE_EXIT_FAILURE;
    }
    rp_write_html(f, r, generated);
    const int error = ferror(f);
    if (fclose(f) != 0 || error) {
        fprintf(stderr, "usine report: cannot write %s\n", path);
        return USINE_EXIT_FAILURE;
    }
    print_summary(r);
    fprintf(stderr, "usine report: wrote %s\n", path);
    return USINE_EXIT_OK;
}

static int parse_args(int argc, char **argv, const char **output, const char **inputs, int *n)
{
    for (int i = 0; i < argc; i++) {
        int matched;
        const char *v = usine_cli_option(argc, argv, &i, "--output", &matched);
        if (!matched)
            v = usine_cli_option(argc, argv, &i, "-o", &matched);
        if (matched && !v)
            return -1;
        if (matched)
            *output = v;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usine report: unknown option '%s' (see 'usine report --help')\n",
                    argv[i]);
            return -1;
        } else
            inputs[(*n)++] = argv[i];
    }
    if (*n == 0)
        fprintf(stderr, "usine report: give at least one results file (usine bench --json)\n");
    return *n ? 0 : -1;
}

int usine_cli_report(int argc, char **argv)
{
    const char *output = "usine-report.html", *inputs[256];
    int n = 0;
    if (argc > 256) {
        fprintf(stderr, "usine report: at most 256 files\n");
        return USINE_EXIT_USAGE;
    }
    const int rc = parse_args(argc, argv, &output, inputs, &n);
    if (rc > 0)
        usine_cli_report_help(stdout);
    if (rc != 0)
        return rc > 0 ? USINE_EXIT_OK : USINE_EXIT_USAGE;
    rp_report report = {0};
    for (int i = 0; i < n; i++) {
        char message[400] = "";
        if (rp_load(&report, inputs[i], message, sizeof message) != 0) {
            fprintf(stderr, "usine report: %s\n", message);
            rp_free(&report);
            return USINE_EXIT_FAILURE;
        }
    }
    const int status = write_report(&report, output);
    rp_free(&report);
    return status;
}

#else

int usine_cli_report(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "usine report: this usine was built without cJSON (Debian: libcjson-dev)\n");
    return USINE_EXIT_FAILURE;
}

#endif
