/* The JSON and CSV files of a run: every measurement, with what is needed to compare
 * machines later (CPU, ISA, topology, peaks, versions). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "jsonw.h"
#include "report.h"

static const char *status_name(usine_bench_status s)
{
    return s == USINE_BENCH_OK ? "ok" : s == USINE_BENCH_SKIPPED ? "skipped" : "failed";
}

/* ------------------------------------------------------------------ JSON */

static void json_peers(usine_jsonw *w, const usine_bench_run *run)
{
    usine_jsonw_array(w, "peers");
    for (int id = 0; id < USINE_PEER_COUNT; id++) {
        const usine_bench_peer_info *p = &run->peers[id];
        if (!p->wanted)
            continue;
        usine_jsonw_object(w, NULL);
        usine_jsonw_string(w, "name", usine_bench_peer_name(id));
        usine_jsonw_bool(w, "available", p->available);
        usine_jsonw_string(w, "version", p->available ? p->version : NULL);
        usine_jsonw_string(w, "path", p->available ? p->path : NULL);
        usine_jsonw_string(w, "api", p->available ? p->api : NULL);
        usine_jsonw_string(w, "why_missing", p->available ? NULL : p->why);
        usine_jsonw_end(w);
    }
    usine_jsonw_end(w);
}

static void json_peaks(usine_jsonw *w, const usine_bench_run *run)
{
    const usine_bench_options *o = run->options;
    usine_jsonw_object(w, "peak");
    usine_jsonw_string(w, "method", run->peak_method[0] ? run->peak_method : NULL);
    usine_jsonw_array(w, "gflops");
    for (int d = 0; d < 2; d++)
        for (int t = 0; t < o->n_threads && (o->dtypes & (1 << d)) && run->peak_method[0]; t++) {
            usine_jsonw_object(w, NULL);
            usine_jsonw_string(w, "dtype", d ? "f64" : "f32");
            usine_jsonw_int(w, "threads", o->threads[t]);
            usine_jsonw_double(w, "gflops", run->peak[d][t]);
            usine_jsonw_end(w);
        }
    usine_jsonw_end(w);
    usine_jsonw_end(w);
}

static void json_options(usine_jsonw *w, const usine_bench_options *o)
{
    usine_jsonw_object(w, "options");
    usine_jsonw_string(w, "suite", o->suite);
    usine_jsonw_array(w, "threads");
    for (int t = 0; t < o->n_threads; t++)
        usine_jsonw_int(w, NULL, o->threads[t]);
    usine_jsonw_end(w);
    usine_jsonw_int(w, "reps", o->reps);
    usine_jsonw_double(w, "budget_s", o->budget_s);
    usine_jsonw_string(w, "layout", "column-major");
    usine_jsonw_string(w, "transposes", "NN");
    usine_jsonw_double(w, "alpha", 1.0);
    usine_jsonw_double(w, "beta", 0.0);
    usine_jsonw_end(w);
}

static void json_result(usine_jsonw *w, const usine_bench_run *run, const usine_bench_result *r)
{
    const usine_bench_case *c = &run->cases[r->case_index];
    const double peak = usine_bench_run_peak(run, c->dtype, r->threads);
    const int ok = r->status == USINE_BENCH_OK;
    usine_jsonw_object(w, NULL);
    usine_jsonw_string(w, "group", c->group);
    usine_jsonw_string(w, "note", c->note[0] ? c->note : NULL);
    usine_jsonw_string(w, "dtype", usine_bench_dtype_name(c->dtype));
    usine_jsonw_int(w, "m", c->m);
    usine_jsonw_int(w, "n", c->n);
    usine_jsonw_int(w, "k", c->k);
    usine_jsonw_int(w, "batch", c->batch);
    usine_jsonw_int(w, "threads", r->threads);
    usine_jsonw_string(w, "library", usine_bench_lib_name(r->lib));
    usine_jsonw_string(w, "status", status_name(r->status));
    usine_jsonw_string(w, "message", r->message[0] ? r->message : NULL);
    usine_jsonw_string(w, "kernel", r->lib == USINE_BENCH_USINE && r->detail[0] ? r->detail : NULL);
    if (ok) {
        usine_jsonw_int(w, "reps", r->stats.reps);
        usine_jsonw_double(w, "median_s", r->stats.median_s);
        usine_jsonw_double(w, "best_s", r->stats.best_s);
        usine_jsonw_double(w, "worst_s", r->stats.worst_s);
        usine_jsonw_double(w, "gflops_median", r->gflops_median);
        usine_jsonw_double(w, "gflops_best", r->gflops_best);
        usine_jsonw_double(w, "spread", r->spread);
        usine_jsonw_bool(w, "noisy", r->noisy);
        usine_jsonw_double(w, "percent_of_peak", peak > 0 ? 100 * r->gflops_median / peak : NAN);
    }
    if (ok && r->checked) {
        usine_jsonw_double(w, "max_rel_diff_vs_usine", r->check.max_rel);
        usine_jsonw_double(w, "tolerance", r->check.tolerance);
        usine_jsonw_bool(w, "match", r->check.match);
    }
    usine_jsonw_end(w);
}

int usine_bench_write_json(const usine_bench_run *run, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    usine_jsonw w;
    usine_jsonw_init(&w, f);
    usine_jsonw_object(&w, NULL);
    usine_jsonw_string(&w, "format", "usine-bench-gemm/1");
    usine_bench_machine_json(&w, run->machine);
    usine_bench_library_json(&w, run->machine);
    json_peers(&w, run);
    json_peaks(&w, run);
    json_options(&w, run->options);
    usine_jsonw_array(&w, "results");
    for (size_t i = 0; i < run->n_results; i++)
        json_result(&w, run, &run->results[i]);
    usine_jsonw_end(&w);
    usine_jsonw_double(&w, "wall_s", run->wall_s);
    usine_jsonw_end(&w);
    const int write_error = ferror(f);
    return fclose(f) == 0 && !write_error ? 0 : -1;
}

/* ------------------------------------------------------------------ CSV */

/* RFC 4180: quote a field holding a comma, a quote or a newline; double the quotes. */
static void csv_field(FILE *f, const char *s, int last)
{
    if (s && s[strcspn(s, ",\"\n\r")]) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else if (s) {
        fputs(s, f);
    }
    fputc(last ? '\n' : ',', f);
}

static void csv_number(FILE *f, double v, int present)
{
    if (present && isfinite(v))
        fprintf(f, "%.6g", v);
    fputc(',', f);
}

static const char *version_of(const usine_bench_run *run, int lib)
{
    if (lib == USINE_BENCH_USINE)
        return usine_version();
    const usine_bench_peer_info *p = &run->peers[lib - 1];
    return p->available ? p->version : "";
}

static void csv_row(FILE *f, const usine_bench_run *run, const usine_bench_result *r)
{
    const usine_bench_machine *m = run->machine;
    const usine_bench_case *c = &run->cases[r->case_index];
    const double peak = usine_bench_run_peak(run, c->dtype, r->threads);
    const int ok = r->status == USINE_BENCH_OK, checked = ok && r->checked;
    csv_field(f, m->cpu_model, 0);
    csv_field(f, usine_cpu_isa_name(m->isa_active), 0);
    fprintf(f, "%d,%s,%s,%s,%lld,%lld,%lld,%lld,%d,", m->topology->cores, run->options->suite,
            c->group, usine_bench_dtype_name(c->dtype), (long long)c->m, (long long)c->n,
            (long long)c->k, (long long)c->batch, r->threads);
    csv_field(f, usine_bench_lib_name(r->lib), 0);
    csv_field(f, version_of(run, r->lib), 0);
    csv_field(f, r->lib == USINE_BENCH_USINE ? r->detail : "", 0);
    csv_field(f, status_name(r->status), 0);
    fprintf(f, "%d,", ok ? r->stats.reps : 0);
    csv_number(f, r->stats.median_s, ok);
    csv_number(f, r->stats.best_s, ok);
    csv_number(f, r->stats.worst_s, ok);
    csv_number(f, r->gflops_median, ok);
    csv_number(f, r->gflops_best, ok);
    csv_number(f, 100 * r->spread, ok);
    fprintf(f, "%s,", ok ? (r->noisy ? "yes" : "no") : "");
    csv_number(f, peak, peak > 0);
    csv_number(f, peak > 0 ? 100 * r->gflops_median / peak : 0, ok && peak > 0);
    csv_number(f, r->check.max_rel, checked);
    csv_number(f, r->check.tolerance, checked);
    fprintf(f, "%s,", checked ? (r->check.match ? "yes" : "no") : "");
    csv_field(f, r->message, 1);
}

int usine_bench_write_csv(const usine_bench_run *run, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs("cpu_model,isa,cores,suite,group,dtype,m,n,k,batch,threads,library,version,kernel,"
          "status,reps,median_s,best_s,worst_s,gflops_median,gflops_best,spread_pct,noisy,"
          "peak_gflops,percent_of_peak,max_rel_diff_vs_usine,tolerance,match,message\n",
          f);
    for (size_t i = 0; i < run->n_results; i++)
        csv_row(f, run, &run->results[i]);
    const int write_error = ferror(f);
    return fclose(f) == 0 && !write_error ? 0 : -1;
}
