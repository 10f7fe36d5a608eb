/* The JSON and CSV files of a run: every measurement, with what is needed to compare
 * machines later (fingerprint, CPU, topology, peaks, bandwidth, versions, environment).
 * The JSON follows bench/schema/usine-bench-1.schema.json. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "attention.h"
#include "jsonw.h"
#include "report.h"
#include "triad.h"

static const char *status_name(usine_bench_status s)
{
    return s == USINE_BENCH_OK ? "ok" : s == USINE_BENCH_SKIPPED ? "skipped" : "failed";
}

/* ------------------------------------------------------------------ JSON */

/* How each peer's threads are set, and why every library runs in its own process. */
static const char *const peer_threads[USINE_PEER_COUNT] = {
    "OPENBLAS_NUM_THREADS before dlopen, then openblas_set_num_threads",
    "BLIS_NUM_THREADS, then bli_thread_set_num_threads",
    "OMP_NUM_THREADS, then omp_set_num_threads (oneDNN's OpenMP runtime; the matmul "
    "primitive of bf16 and int8 is made once per shape, untimed, then execute + wait timed)"};

static void json_peers(usine_jsonw *w, const usine_bench_run *run)
{
    usine_jsonw_array(w, "peers");
    for (int id = 0; id < USINE_PEER_COUNT; id++) {
        const usine_bench_peer_info *p = &run->peers[id];
        if (!p->wanted)
            continue;
        usine_jsonw_object(w, NULL);
        usine_jsonw_string(w, "name", usine_bench_peer_name(id));
        usine_jsonw_string(w, "device", "cpu");
        usine_jsonw_bool(w, "available", p->available);
        usine_jsonw_string(w, "version", p->available ? p->version : NULL);
        usine_jsonw_string(w, "path", p->available ? p->path : NULL);
        usine_jsonw_string(w, "api", p->available ? p->api : NULL);
        usine_jsonw_string(w, "threads_set_by", peer_threads[id]);
        usine_jsonw_string(w, "why_missing", p->available ? NULL : p->why);
        usine_jsonw_string(w, "why_no_bf16_int8",
                           p->available && p->lowp_why[0] ? p->lowp_why : NULL);
        usine_jsonw_end(w);
    }
    usine_jsonw_end(w);
}

static void json_gpu_platform(usine_jsonw *w, const char *key, const usine_bench_gpu_platform *p)
{
    usine_jsonw_object(w, key);
    usine_jsonw_bool(w, "present", p->present);
    usine_jsonw_int(w, "devices", p->devices);
    usine_jsonw_string(w, "device_name", p->present ? p->name : NULL);
    usine_jsonw_string(w, "peers_found", p->peers);
    usine_jsonw_string(w, "note", p->why);
    usine_jsonw_end(w);
}

static void json_isolation(usine_jsonw *w, const usine_bench_run *run)
{
    usine_jsonw_object(w, "isolation");
    usine_jsonw_string(w, "mode", "process-per-measurement");
    usine_jsonw_string(w, "description",
                       "every measurement (usine or a peer, one case, one thread count) runs in "
                       "its own forked child that exits afterwards, so no library's thread pool "
                       "(OpenBLAS's spinning pthreads, OpenMP teams) competes with another's; the "
                       "parent starts no threads and loads no peer; libraries run one after "
                       "another, never at the same time");
    if (run->mpi) {
        usine_jsonw_object(w, "mpi");
        usine_jsonw_int(w, "rank", run->mpi->rank);
        usine_jsonw_int(w, "ranks", run->mpi->size);
        usine_jsonw_int(w, "host_index", run->mpi->host_index);
        usine_jsonw_int(w, "ranks_on_host", run->mpi->host_ranks);
        usine_jsonw_string(w, "schedule", run->mpi->schedule);
        usine_jsonw_string(w, "children",
                           "forked children make no MPI call and leave with _exit; "
                           "OMPI_MCA_mpi_warn_on_fork=0 silences Open MPI's fork warning");
        usine_jsonw_string(w, "affinity", run->mpi->affinity[0] ? run->mpi->affinity : NULL);
        usine_jsonw_end(w);
    }
    usine_jsonw_end(w);
}

static void json_peaks(usine_jsonw *w, const usine_bench_run *run)
{
    const usine_bench_options *o = run->options;
    const int measured = usine_bench_run_peak_measured(run);
    usine_jsonw_object(w, "peak");
    usine_jsonw_string(w, "method", run->peak_method[0] ? run->peak_method : NULL);
    usine_jsonw_array(w, "compute");
    for (int d = 0; d < USINE_BENCH_DTYPE_SLOTS; d++)
        for (int t = 0; t < o->n_threads && (o->dtypes & (1 << d)) && measured; t++) {
            if (!(run->peak[d][t] > 0)) /* no such instruction on this CPU */
                continue;
            usine_jsonw_object(w, NULL);
            usine_jsonw_string(w, "dtype", usine_bench_dtype_name(usine_bench_slot_dtype(d)));
            usine_jsonw_int(w, "threads", o->threads[t]);
            usine_jsonw_double(w, "gflops", run->peak[d][t]);
            usine_jsonw_string(w, "method", d < 2 ? run->peak_method : run->lowp_method[d - 2]);
            usine_jsonw_end(w);
        }
    usine_jsonw_end(w);
    /* Why a bf16 or int8 peak is absent, e.g. no AVX512-BF16 on this CPU. */
    usine_jsonw_array(w, "not_measured");
    for (int d = 2; d < USINE_BENCH_DTYPE_SLOTS && measured; d++)
        if ((o->dtypes & (1 << d)) && !(run->peak[d][0] > 0)) {
            usine_jsonw_object(w, NULL);
            usine_jsonw_string(w, "dtype", usine_bench_dtype_name(usine_bench_slot_dtype(d)));
            usine_jsonw_string(w, "why", run->lowp_method[d - 2]);
            usine_jsonw_end(w);
        }
    usine_jsonw_end(w);
    usine_jsonw_object(w, "bandwidth");
    usine_jsonw_string(w, "method",
                       measured ? "STREAM triad a = b + s c, f64, 24 bytes per "
                                  "element, best of 6 passes"
                                : NULL);
    usine_jsonw_double(w, "array_bytes", measured ? run->triad_bytes : NAN);
    usine_jsonw_array(w, "values");
    for (int t = 0; t < o->n_threads && measured; t++) {
        usine_jsonw_object(w, NULL);
        usine_jsonw_int(w, "threads", o->threads[t]);
        usine_jsonw_double(w, "gbytes_per_s", run->bandwidth[t]);
        usine_jsonw_end(w);
    }
    usine_jsonw_end(w);
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
    usine_jsonw_array(w, "dtypes");
    for (int d = 0; d < USINE_BENCH_DTYPE_SLOTS; d++)
        if (o->dtypes & (1 << d))
            usine_jsonw_string(w, NULL, usine_bench_dtype_name(usine_bench_slot_dtype(d)));
    usine_jsonw_end(w);
    usine_jsonw_int(w, "reps", o->reps);
    usine_jsonw_double(w, "time_cap_s", o->budget_s);
    usine_jsonw_int(w, "rounds", o->rounds);
    usine_jsonw_double(w, "target_spread", USINE_BENCH_TARGET_SPREAD);
    usine_jsonw_double(w, "noisy_spread", USINE_BENCH_NOISY_SPREAD);
    usine_jsonw_string(w, "layout", "column-major");
    usine_jsonw_string(w, "layout_bf16_int8",
                       "row-major: A the activations (m x k), B the weights (k x n, plain "
                       "row-major); bf16 x bf16 -> f32, int8 = u8 x s8 -> s32 (GOP/s)");
    usine_jsonw_double(w, "alpha", 1.0);
    usine_jsonw_double(w, "beta", 0.0);
    usine_jsonw_end(w);
}

static void json_shape(usine_jsonw *w, const usine_bench_case *c)
{
    usine_jsonw_object(w, "shape");
    if (c->op == USINE_BENCH_OP_GEMM) {
        const int64_t v[4] = {c->m, c->n, c->k, c->batch};
        const char *k[4] = {"m", "n", "k", "batch"};
        for (int i = 0; i < 4; i++)
            usine_jsonw_int(w, k[i], v[i]);
        const char t[3] = {c->transa, c->transb, '\0'};
        usine_jsonw_string(w, "trans", t);
    } else if (c->op == USINE_BENCH_OP_ATTENTION) {
        const usine_bench_attention *a = &c->att;
        const int64_t v[7] = {a->batch, a->heads,    a->kv_heads, a->seq_q,
                              a->seq_k, a->head_dim, a->window};
        const char *k[7] = {"batch", "heads", "kv_heads", "seq_q", "seq_k", "head_dim", "window"};
        for (int i = 0; i < 7; i++)
            usine_jsonw_int(w, k[i], v[i]);
        usine_jsonw_bool(w, "causal", a->causal);
        usine_jsonw_bool(w, "backward", a->backward);
    } else {
        const usine_bench_conv *v = &c->conv;
        const int64_t x[14] = {v->n,     v->c,     v->h,        v->w,        v->k,
                               v->r,     v->s,     v->stride_h, v->stride_w, v->pad_h,
                               v->pad_w, v->dil_h, v->dil_w,    v->groups};
        const char *k[14] = {"n",        "c",        "h",     "w",     "k",     "r",     "s",
                             "stride_h", "stride_w", "pad_h", "pad_w", "dil_h", "dil_w", "groups"};
        for (int i = 0; i < 14; i++)
            usine_jsonw_int(w, k[i], x[i]);
        usine_jsonw_string(w, "pass", usine_bench_conv_pass_name(v->pass));
        usine_jsonw_string(w, "layout", "NHWC, KRSC filters");
    }
    usine_jsonw_end(w);
}

static void json_case(usine_jsonw *w, size_t id, const usine_bench_case *c)
{
    char label[96];
    usine_bench_case_label(c, label, sizeof label);
    usine_jsonw_object(w, NULL);
    usine_jsonw_int(w, "id", (int64_t)id);
    usine_jsonw_string(w, "op", usine_bench_op_name(c->op));
    usine_jsonw_string(w, "dtype", c->dtype_name);
    usine_jsonw_string(w, "group", c->group);
    usine_jsonw_string(w, "label", label);
    usine_jsonw_string(w, "note", c->note[0] ? c->note : NULL);
    usine_jsonw_string(w, "origin", c->origin);
    usine_jsonw_int(w, "count", c->count);
    usine_jsonw_bool(w, "runs", c->runs);
    usine_jsonw_string(w, "not_built", c->runs ? NULL : usine_bench_case_not_built(c));
    usine_jsonw_double(w, "flops", usine_bench_case_flops(c));
    usine_jsonw_double(w, "bytes", usine_bench_case_bytes(c));
    usine_jsonw_double(w, "arithmetic_intensity",
                       usine_bench_case_flops(c) / usine_bench_case_bytes(c));
    json_shape(w, c);
    usine_jsonw_end(w);
}

static void json_timing(usine_jsonw *w, const usine_bench_result *r)
{
    usine_jsonw_int(w, "reps", r->stats.reps);
    usine_jsonw_string(w, "stop", usine_bench_stop_name(r->stats.stop));
    usine_jsonw_double(w, "warmup_s", r->stats.warmup_s);
    usine_jsonw_double(w, "median_s", r->stats.median_s);
    usine_jsonw_double(w, "best_s", r->stats.best_s);
    usine_jsonw_double(w, "worst_s", r->stats.worst_s);
    usine_jsonw_double(w, "q1_s", r->stats.q1_s);
    usine_jsonw_double(w, "q3_s", r->stats.q3_s);
    usine_jsonw_double(w, "gflops_median", r->gflops_median);
    usine_jsonw_double(w, "gflops_best", r->gflops_best);
    usine_jsonw_double(w, "gflops_worst", r->gflops_worst);
    usine_jsonw_double(w, "spread", r->spread);
    usine_jsonw_bool(w, "noisy", r->noisy);
}

static void json_result(usine_jsonw *w, const usine_bench_run *run, const usine_bench_result *r)
{
    const usine_bench_case *c = &run->cases[r->case_index];
    const double peak = usine_bench_run_peak(run, c->dtype, r->threads);
    const double roof = usine_bench_run_roofline(run, c, r->threads);
    const int ok = r->status == USINE_BENCH_OK;
    usine_jsonw_object(w, NULL);
    usine_jsonw_int(w, "case", (int64_t)r->case_index);
    usine_jsonw_int(w, "threads", r->threads);
    usine_jsonw_string(w, "library", usine_bench_lib_name(r->lib));
    usine_jsonw_string(w, "status", status_name(r->status));
    usine_jsonw_string(w, "message", r->message[0] ? r->message : NULL);
    /* usine's kernel; for a peer's bf16 or int8 cell, the implementation oneDNN chose; for
     * the unfused attention baseline, its calls; for conv cells, oneDNN's implementation and
     * the im2col baseline's calls. */
    const int named = r->lib == USINE_BENCH_USINE || usine_bench_is_lowp(c->dtype) ||
                      r->lib == USINE_BENCH_UNFUSED || c->op == USINE_BENCH_OP_CONV;
    usine_jsonw_string(w, "kernel", named && r->detail[0] ? r->detail : NULL);
    if (ok) {
        json_timing(w, r);
        usine_jsonw_double(w, "peak_gflops", peak > 0 ? peak : NAN);
        usine_jsonw_double(w, "percent_of_peak", peak > 0 ? 100 * r->gflops_median / peak : NAN);
        usine_jsonw_double(w, "roofline_gflops", roof > 0 ? roof : NAN);
        usine_jsonw_double(w, "percent_of_roofline",
                           roof > 0 ? 100 * r->gflops_median / roof : NAN);
    }
    if (c->op == USINE_BENCH_OP_ATTENTION) {
        /* The baseline's seq_q x seq_k scores buffer, and what each side's peak RSS grew
         * by over its setup and one call (usine: O(seq * head_dim)). */
        usine_jsonw_double(w, "scores_bytes", usine_bench_attention_scores_bytes(c));
        if (ok && r->extra_bytes > 0)
            usine_jsonw_double(w, "peak_extra_bytes", r->extra_bytes);
    }
    if (ok && r->checked) {
        usine_jsonw_double(w, "max_rel_diff_vs_usine", r->check.max_rel);
        usine_jsonw_double(w, "tolerance", r->check.tolerance);
        usine_jsonw_bool(w, "match", r->check.match);
    }
    usine_jsonw_end(w);
}

/* Conv rows versus the better of oneDNN and the im2col baseline, per pass, dtype and thread
 * count (issue 8), inside the "ratios" array. */
static void json_conv_ratios(usine_jsonw *w, const usine_bench_run *run)
{
    const usine_bench_options *o = run->options;
    for (int pass = 0; pass < 3; pass++)
        for (int d = 0; d < USINE_BENCH_DTYPE_SLOTS; d++)
            for (int t = 0; t < o->n_threads && (o->dtypes & (1 << d)); t++) {
                const usine_dtype dtype = usine_bench_slot_dtype(d);
                const usine_bench_tally s =
                    usine_bench_tally_of(run, USINE_BENCH_OP_CONV, dtype, o->threads[t], -1, pass);
                if (!s.rows)
                    continue;
                usine_jsonw_object(w, NULL);
                usine_jsonw_string(w, "op", "conv");
                usine_jsonw_string(w, "dtype", usine_bench_dtype_name(dtype));
                usine_jsonw_int(w, "threads", o->threads[t]);
                usine_jsonw_string(w, "versus", "best peer");
                usine_jsonw_string(w, "pass", usine_bench_conv_pass_name(pass));
                usine_jsonw_double(w, "geomean", exp(s.log_sum / s.rows));
                usine_jsonw_int(w, "cases", s.rows);
                usine_jsonw_int(w, "usine_faster", s.wins);
                usine_jsonw_end(w);
            }
}

/* Geometric means of usine / peer per op, dtype and thread count: GEMM versus the best
 * peer of each row and versus oneDNN alone (issue 6's acceptance for bf16 and int8),
 * attention versus the unfused baseline (issue 7's). */
static void json_ratios(usine_jsonw *w, const usine_bench_run *run)
{
    /* the fourth: attention backward lines versus the unfused backward */
    static const int versus[4] = {-1, 1 + USINE_PEER_ONEDNN, USINE_BENCH_UNFUSED,
                                  USINE_BENCH_UNFUSED};
    static const char *const versus_name[4] = {"best peer", "oneDNN", "unfused (OpenBLAS)",
                                               "unfused (OpenBLAS)"};
    const usine_bench_options *o = run->options;
    usine_jsonw_array(w, "ratios");
    for (int v = 0; v < 4; v++)
        for (int d = 0; d < USINE_BENCH_DTYPE_SLOTS; d++)
            for (int t = 0; t < o->n_threads && (o->dtypes & (1 << d)); t++) {
                const usine_dtype dtype = usine_bench_slot_dtype(d);
                const usine_bench_op op = v >= 2 ? USINE_BENCH_OP_ATTENTION : USINE_BENCH_OP_GEMM;
                const usine_bench_tally s =
                    usine_bench_tally_of(run, op, dtype, o->threads[t], versus[v], v == 3);
                if (!s.rows)
                    continue;
                usine_jsonw_object(w, NULL);
                usine_jsonw_string(w, "op", usine_bench_op_name(op));
                usine_jsonw_string(w, "dtype", usine_bench_dtype_name(dtype));
                usine_jsonw_int(w, "threads", o->threads[t]);
                usine_jsonw_string(w, "versus", versus_name[v]);
                if (op == USINE_BENCH_OP_ATTENTION)
                    usine_jsonw_string(w, "pass", v == 3 ? "backward" : "forward");
                usine_jsonw_double(w, "geomean", exp(s.log_sum / s.rows));
                usine_jsonw_int(w, "cases", s.rows);
                usine_jsonw_int(w, "usine_faster", s.wins);
                usine_jsonw_end(w);
            }
    json_conv_ratios(w, run);
    usine_jsonw_end(w);
}

static void json_summary(usine_jsonw *w, const usine_bench_run *run)
{
    int noisy = 0, failed = 0, mismatched = 0, measured = 0, not_built = 0;
    for (size_t i = 0; i < run->n_results; i++) {
        const usine_bench_result *r = &run->results[i];
        measured += r->status == USINE_BENCH_OK;
        noisy += r->status == USINE_BENCH_OK && r->noisy;
        failed += r->status == USINE_BENCH_FAILED;
        mismatched += r->status == USINE_BENCH_OK && r->checked && !r->check.match;
    }
    for (size_t i = 0; i < run->n_cases; i++)
        not_built += !run->cases[i].runs;
    usine_jsonw_object(w, "summary");
    usine_jsonw_int(w, "measurements", measured);
    usine_jsonw_int(w, "noisy", noisy);
    usine_jsonw_int(w, "failed", failed);
    usine_jsonw_int(w, "mismatches", mismatched);
    usine_jsonw_int(w, "not_built_cases", not_built);
    usine_jsonw_end(w);
}

void usine_bench_write_json_to(const usine_bench_run *run, FILE *f)
{
    usine_jsonw w;
    usine_jsonw_init(&w, f);
    usine_jsonw_object(&w, NULL);
    usine_jsonw_int(&w, "schema_version", USINE_BENCH_SCHEMA_VERSION);
    usine_jsonw_string(&w, "format", "usine-bench");
    usine_jsonw_string(&w, "created", run->started);
    usine_jsonw_string(&w, "command", run->options->command_line);
    usine_jsonw_object(&w, "suite");
    usine_jsonw_string(&w, "name", run->suite_name);
    usine_jsonw_string(&w, "title", run->suite_title);
    usine_jsonw_end(&w);
    usine_jsonw_object(&w, "fingerprint");
    usine_jsonw_string(&w, "text", run->fingerprint.text);
    usine_jsonw_string(&w, "hash", run->fingerprint.hash);
    usine_jsonw_end(&w);
    usine_bench_machine_json(&w, run->machine);
    usine_bench_environment_json(&w, run->machine);
    usine_bench_library_json(&w, run->machine);
    json_peers(&w, run);
    usine_jsonw_object(&w, "gpu");
    json_gpu_platform(&w, "cuda", &run->gpu.cuda);
    json_gpu_platform(&w, "rocm", &run->gpu.rocm);
    usine_jsonw_end(&w);
    json_isolation(&w, run);
    json_peaks(&w, run);
    json_options(&w, run->options);
    usine_jsonw_array(&w, "cases");
    for (size_t i = 0; i < run->n_cases; i++)
        json_case(&w, i, &run->cases[i]);
    usine_jsonw_end(&w);
    usine_jsonw_array(&w, "results");
    for (size_t i = 0; i < run->n_results; i++)
        json_result(&w, run, &run->results[i]);
    usine_jsonw_end(&w);
    json_ratios(&w, run);
    json_summary(&w, run);
    usine_jsonw_double(&w, "wall_s", run->wall_s);
    usine_jsonw_end(&w);
}

int usine_bench_write_json(const usine_bench_run *run, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    usine_bench_write_json_to(run, f);
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
    const usine_bench_peer_info *p =
        &run->peers[lib == USINE_BENCH_UNFUSED || lib == USINE_BENCH_IM2COL ? USINE_PEER_OPENBLAS
                                                                            : lib - 1];
    return p->available ? p->version : "";
}

/* The columns every row shares: the machine and the case. */
static void csv_case(FILE *f, const usine_bench_run *run, const usine_bench_case *c)
{
    const usine_bench_machine *m = run->machine;
    char label[96];
    usine_bench_case_label(c, label, sizeof label);
    csv_field(f, m->cpu_model, 0);
    csv_field(f, usine_cpu_isa_name(m->isa_active), 0);
    fprintf(f, "%d,%s,%s,", m->topology->cores, run->fingerprint.hash, run->suite_name);
    csv_field(f, c->group, 0);
    csv_field(f, usine_bench_op_name(c->op), 0);
    csv_field(f, c->dtype_name, 0);
    csv_field(f, label, 0);
    if (c->op == USINE_BENCH_OP_GEMM)
        fprintf(f, "%lld,%lld,%lld,%lld,%c%c,", (long long)c->m, (long long)c->n, (long long)c->k,
                (long long)c->batch, c->transa, c->transb);
    else
        fputs(",,,,,", f);
    csv_number(f, usine_bench_case_flops(c), 1);
    csv_number(f, usine_bench_case_flops(c) / usine_bench_case_bytes(c), 1);
}

static void csv_row(FILE *f, const usine_bench_run *run, const usine_bench_result *r)
{
    const usine_bench_case *c = &run->cases[r->case_index];
    const double peak = usine_bench_run_peak(run, c->dtype, r->threads);
    const double roof = usine_bench_run_roofline(run, c, r->threads);
    const int ok = r->status == USINE_BENCH_OK, checked = ok && r->checked;
    csv_case(f, run, c);
    fprintf(f, "%d,", r->threads);
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
    csv_number(f, roof, roof > 0);
    csv_number(f, roof > 0 ? 100 * r->gflops_median / roof : 0, ok && roof > 0);
    csv_number(f, r->check.max_rel, checked);
    csv_number(f, r->check.tolerance, checked);
    fprintf(f, "%s,", checked ? (r->check.match ? "yes" : "no") : "");
    csv_field(f, r->message, 1);
}

/* A case usine cannot run yet: one row, status not_built, no measurement. */
static void csv_not_built(FILE *f, const usine_bench_run *run, const usine_bench_case *c)
{
    csv_case(f, run, c);
    fputs(",,,,not_built,0,,,,,,,,,,,,,,,", f);
    csv_field(f, usine_bench_case_not_built(c), 1);
}

void usine_bench_write_csv_to(const usine_bench_run *run, FILE *f, int header)
{
    if (header)
        fputs("cpu_model,isa,cores,fingerprint,suite,group,op,dtype,shape,m,n,k,batch,trans,"
              "flops,arithmetic_intensity,threads,library,version,kernel,status,reps,median_s,"
              "best_s,worst_s,gflops_median,gflops_best,spread_pct,noisy,peak_gflops,"
              "percent_of_peak,roofline_gflops,percent_of_roofline,max_rel_diff_vs_usine,"
              "tolerance,match,message\n",
              f);
    for (size_t i = 0; i < run->n_cases; i++)
        if (!run->cases[i].runs)
            csv_not_built(f, run, &run->cases[i]);
    for (size_t i = 0; i < run->n_results; i++)
        csv_row(f, run, &run->results[i]);
}

int usine_bench_write_csv(const usine_bench_run *run, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    usine_bench_write_csv_to(run, f, 1);
    const int write_error = ferror(f);
    return fclose(f) == 0 && !write_error ? 0 : -1;
}
