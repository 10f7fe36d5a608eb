#include "report_data.h"

#include "suite.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const rp_lib_names[RP_LIBS] = {"usine", "OpenBLAS", "BLIS", "oneDNN",
                                           "unfused (OpenBLAS)"};

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static int flag(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

#define COPY(dst, src) snprintf((dst), sizeof(dst), "%s", (src))

static void read_machine(rp_run *r, const cJSON *doc)
{
    const cJSON *m = get(doc, "machine"), *fp = get(doc, "fingerprint");
    COPY(r->cpu, str(m, "cpu_model"));
    COPY(r->host, str(m, "hostname"));
    COPY(r->isa, str(m, "isa_active"));
    r->cores = (int)num(m, "cores");
    COPY(r->fingerprint, str(fp, "hash"));
    COPY(r->fingerprint_text, str(fp, "text"));
    COPY(r->created, str(doc, "created"));
    COPY(r->suite, str(get(doc, "suite"), "name"));
    COPY(r->version, str(get(doc, "usine"), "version"));
    r->wall_s = num(doc, "wall_s");
    snprintf(r->name, sizeof r->name, "%s (%s)", r->host, r->cpu);
    const cJSON *p;
    int i = 0;
    cJSON_ArrayForEach(p, get(doc, "peers"))
    {
        if (i < 3)
            snprintf(r->peers[i++], sizeof r->peers[0], "%s %s", str(p, "name"),
                     flag(p, "available") ? str(p, "version") : "(missing)");
    }
}

/* The peaks and the bandwidth at the largest thread count of the run. */
static void read_peaks(rp_run *r, const cJSON *doc)
{
    const cJSON *t, *v;
    cJSON_ArrayForEach(t, get(get(doc, "options"), "threads"))
    {
        if ((int)t->valuedouble > r->max_threads)
            r->max_threads = (int)t->valuedouble;
    }
    cJSON_ArrayForEach(v, get(get(doc, "peak"), "compute"))
    {
        static const char *const dtypes[4] = {"f32", "f64", "bf16", "int8"};
        for (int d = 0; d < 4; d++)
            if ((int)num(v, "threads") == r->max_threads && !strcmp(str(v, "dtype"), dtypes[d]))
                r->peak[d] = num(v, "gflops");
    }
    cJSON_ArrayForEach(v, get(get(get(doc, "peak"), "bandwidth"), "values"))
    {
        if ((int)num(v, "threads") == r->max_threads)
            r->bandwidth = num(v, "gbytes_per_s");
    }
}

static int read_cases(rp_run *r, const cJSON *doc)
{
    const cJSON *cases = get(doc, "cases"), *c;
    r->n_cases = (size_t)cJSON_GetArraySize(cases);
    r->cases = (rp_case *)calloc(r->n_cases + 1, sizeof *r->cases);
    if (!r->cases)
        return -1;
    size_t i = 0;
    cJSON_ArrayForEach(c, cases)
    {
        rp_case *k = &r->cases[i++];
        COPY(k->label, str(c, "label"));
        COPY(k->op, str(c, "op"));
        COPY(k->dtype, str(c, "dtype"));
        COPY(k->group, str(c, "group"));
        COPY(k->note, str(c, "note"));
        COPY(k->not_built, str(c, "not_built"));
        k->runs = flag(c, "runs");
        k->flops = num(c, "flops");
        k->intensity = num(c, "arithmetic_intensity");
    }
    return 0;
}

static int lib_index(const char *name)
{
    for (int i = 0; i < RP_LIBS; i++)
        if (!strcmp(name, rp_lib_names[i]))
            return i;
    return -1;
}

/* The row of (case, threads), appended when new. */
static rp_row *row_of(rp_run *r, int case_id, int threads)
{
    for (size_t i = 0; i < r->n_rows; i++)
        if (r->rows[i].case_id == case_id && r->rows[i].threads == threads)
            return &r->rows[i];
    rp_row *row = &r->rows[r->n_rows++];
    memset(row, 0, sizeof *row);
    row->case_id = case_id;
    row->threads = threads;
    return row;
}

static int read_results(rp_run *r, const cJSON *doc)
{
    const cJSON *results = get(doc, "results"), *x;
    r->rows = (rp_row *)calloc((size_t)cJSON_GetArraySize(results) + 1, sizeof *r->rows);
    if (!r->rows)
        return -1;
    cJSON_ArrayForEach(x, results)
    {
        const int case_id = (int)num(x, "case"), lib = lib_index(str(x, "library"));
        if (case_id < 0 || (size_t)case_id >= r->n_cases || lib < 0)
            continue;
        rp_row *row = row_of(r, case_id, (int)num(x, "threads"));
        if (strcmp(str(x, "status"), "ok") != 0)
            continue;
        row->gflops[lib] = num(x, "gflops_median");
        row->noisy |= flag(x, "noisy");
        row->mismatch |= cJSON_IsFalse(get(x, "match"));
        if (lib == 0)
            row->percent_of_peak = num(x, "percent_of_peak");
    }
    return 0;
}

static int add_run(rp_report *report, const cJSON *doc, const char *source)
{
    rp_run *grown = (rp_run *)realloc(report->runs, (report->n_runs + 1) * sizeof *grown);
    if (!grown)
        return -1;
    report->runs = grown;
    rp_run *r = &report->runs[report->n_runs++];
    memset(r, 0, sizeof *r);
    COPY(r->source, source);
    read_machine(r, doc);
    read_peaks(r, doc);
    return read_cases(r, doc) == 0 && read_results(r, doc) == 0 ? 0 : -1;
}

static int add_verdicts(rp_report *report, const cJSON *doc)
{
    const cJSON *list = get(doc, "comparison"), *v;
    const size_t n = (size_t)cJSON_GetArraySize(list);
    rp_verdict *grown =
        (rp_verdict *)realloc(report->verdicts, (report->n_verdicts + n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    report->verdicts = grown;
    cJSON_ArrayForEach(v, list)
    {
        rp_verdict *x = &report->verdicts[report->n_verdicts++];
        x->rank = (int)num(v, "rank");
        x->peers = (int)num(v, "same_fingerprint_nodes");
        x->flagged = flag(v, "flagged");
        x->score = num(v, "score");
        COPY(x->host, str(v, "hostname"));
        COPY(x->fingerprint, str(v, "fingerprint"));
    }
    return 0;
}

static int load_doc(rp_report *report, const cJSON *doc, const char *path, char *message,
                    size_t size)
{
    const char *format = str(doc, "format");
    if (num(doc, "schema_version") != 1) {
        snprintf(message, size, "%s: not a usine bench file of schema version 1", path);
        return -1;
    }
    if (!strcmp(format, "usine-bench"))
        return add_run(report, doc, path);
    if (strcmp(format, "usine-bench-cluster") != 0) {
        snprintf(message, size, "%s: unknown format '%s'", path, format);
        return -1;
    }
    const cJSON *node;
    int rank = 0;
    cJSON_ArrayForEach(node, get(doc, "nodes"))
    {
        char source[200];
        snprintf(source, sizeof source, "%s, rank %d", path, rank++);
        if (add_run(report, node, source) != 0)
            return -1;
    }
    return add_verdicts(report, doc);
}

int rp_load(rp_report *report, const char *path, char *message, size_t size)
{
    char *text = usine_bench_read_file(path, message, size);
    if (!text)
        return -1;
    cJSON *doc = cJSON_Parse(text);
    free(text);
    if (!doc) {
        snprintf(message, size, "%s: not valid JSON", path);
        return -1;
    }
    int rc = load_doc(report, doc, path, message, size);
    if (rc != 0 && !message[0])
        snprintf(message, size, "%s: out of memory", path);
    cJSON_Delete(doc);
    return rc;
}

void rp_free(rp_report *report)
{
    for (size_t i = 0; i < report->n_runs; i++) {
        free(report->runs[i].cases);
        free(report->runs[i].rows);
    }
    free(report->runs);
    free(report->verdicts);
    memset(report, 0, sizeof *report);
}
