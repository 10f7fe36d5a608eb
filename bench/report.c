#include "report.h"

#include <math.h>
#include <string.h>

#include "attention.h"

/* ------------------------------------------------------------------ helpers */

#define SHAPE_WIDTH 26

static double intensity(const usine_bench_case *c)
{
    return usine_bench_case_flops(c) / usine_bench_case_bytes(c);
}

static int ok(const usine_bench_result *r)
{
    return r && r->status == USINE_BENCH_OK;
}

/* The peer with the highest median GFLOP/s in a row, or -1. */
static int best_peer(const usine_bench_result *const *row)
{
    int best = -1;
    for (int lib = 1; lib < USINE_BENCH_LIBS; lib++)
        if (ok(row[lib]) && (best < 0 || row[lib]->gflops_median > row[best]->gflops_median))
            best = lib;
    return best;
}

static void topology_line(const usine_bench_machine *m, FILE *out)
{
    const usine_topology *t = m->topology;
    fprintf(out,
            "%d package%s, %d cores, %d PUs, %d NUMA node%s; L1d %lld KiB, L2 %lld KiB, "
            "L3 %lld KiB (%s)",
            t->packages, t->packages == 1 ? "" : "s", t->cores, t->pus, t->numa_nodes,
            t->numa_nodes == 1 ? "" : "s", (long long)(t->l1d.size_bytes >> 10),
            (long long)(t->l2.size_bytes >> 10), (long long)(t->l3.size_bytes >> 10), t->source);
}

/* ------------------------------------------------------------------ table */

/* A team that does not scale is worth a line: other processes on the cores, or hardware
 * threads sharing a core's FMA units; either way % of peak means less. */
static void peak_scaling_note(const usine_bench_run *run, FILE *out)
{
    const usine_bench_options *o = run->options;
    for (int d = 0; d < USINE_BENCH_DTYPE_SLOTS; d++) {
        const double one = usine_bench_run_peak(run, usine_bench_slot_dtype(d), 1);
        for (int t = 0; t < o->n_threads && one > 0; t++) {
            const double ratio = run->peak[d][t] / (o->threads[t] * one);
            if (o->threads[t] > 1 && ratio < 0.75)
                fprintf(out,
                        "          note: the %s %d-thread peak is %.0f%% of %d x the "
                        "1-thread one: busy cores or shared FMA units\n",
                        usine_bench_dtype_name(usine_bench_slot_dtype(d)), o->threads[t],
                        100 * ratio, o->threads[t]);
        }
    }
}

/* The bf16 and int8 dot-product peaks, one line each: what % of peak means on those
 * rows (int8 counts integer ops: GOP/s). */
static void header_lowp_peaks(const usine_bench_run *run, FILE *out)
{
    const usine_bench_options *o = run->options;
    for (int d = 2; d < USINE_BENCH_DTYPE_SLOTS; d++) {
        if (!(o->dtypes & (1 << d)))
            continue;
        fprintf(out, "          %-4s %s", d == 2 ? "bf16" : "int8", run->lowp_method[d - 2]);
        for (int t = 0; t < o->n_threads && run->peak[d][0] > 0; t++)
            fprintf(out, "%s %.1f (%dt)", t ? "," : ":", run->peak[d][t], o->threads[t]);
        fprintf(out, "%s\n", run->peak[d][0] > 0 ? (d == 2 ? " GFLOP/s" : " GOP/s") : "");
    }
}

static void header_peaks(const usine_bench_run *run, FILE *out)
{
    const usine_bench_options *o = run->options;
    if (!usine_bench_run_peak_measured(run)) {
        fprintf(out, "Peak:     not measured (no %% of peak)\n");
        return;
    }
    if (o->dtypes & 3)
        fprintf(out, "Peak:     %s, measured:", run->peak_method);
    else
        fprintf(out, "Peak:     dot products (no f32 or f64 asked):\n");
    for (int d = 0; d < 2; d++) {
        if (!(o->dtypes & (1 << d)))
            continue;
        fprintf(out, " %s", d ? "f64" : "f32");
        for (int t = 0; t < o->n_threads; t++)
            fprintf(out, "%s %.1f (%dt)", t ? "," : "", run->peak[d][t], o->threads[t]);
        fprintf(out, d == 0 && (o->dtypes & 2) ? ";" : " GFLOP/s\n");
    }
    header_lowp_peaks(run, out);
    peak_scaling_note(run, out);
    if (run->bandwidth[0] > 0) {
        fprintf(out,
                "Memory:   triad on 3 arrays of %.0f MiB, measured:", run->triad_bytes / (1 << 20));
        for (int t = 0; t < o->n_threads; t++)
            fprintf(out, "%s %.1f (%dt)", t ? "," : "", run->bandwidth[t], o->threads[t]);
        fprintf(out, " GB/s; roofline bound = min(peak, flop/B x GB/s)\n");
    }
}

static void header_gpus(const usine_bench_run *run, FILE *out)
{
    const usine_bench_gpu_platform *p[2] = {&run->gpu.cuda, &run->gpu.rocm};
    const char *names[2] = {"CUDA", "ROCm"};
    for (int i = 0; i < 2; i++) {
        if (p[i]->present)
            fprintf(out, "GPU:      %s: %d device%s (%s); peers found: %s; %s\n", names[i],
                    p[i]->devices, p[i]->devices == 1 ? "" : "s", p[i]->name,
                    p[i]->peers[0] ? p[i]->peers : "none", p[i]->why);
        else
            fprintf(out, "%s %s: %s\n", i ? "         " : "GPU:     ", names[i], p[i]->why);
    }
}

/* "OpenBLAS:" */
static const char *peer_label(int id)
{
    static char label[USINE_PEER_COUNT][16];
    snprintf(label[id], sizeof label[id], "%s:", usine_bench_peer_name(id));
    return label[id];
}

static void header_peers(const usine_bench_run *run, FILE *out)
{
    for (int id = 0; id < USINE_PEER_COUNT; id++) {
        const usine_bench_peer_info *p = &run->peers[id];
        if (!p->wanted)
            continue;
        if (p->available)
            fprintf(out, "Peer:     %-9s %s\n          %-9s %s via %s\n", peer_label(id),
                    p->version, "", p->path, p->api);
        else
            fprintf(out, "Peer:     %-9s MISSING, skipped: %s\n", peer_label(id), p->why);
    }
}

/* Whether the run measures attention lines against the unfused baseline: the table then
 * has its column. */
static int unfused_column(const usine_bench_run *run)
{
    if (!run->peers[USINE_PEER_OPENBLAS].wanted)
        return 0;
    for (size_t i = 0; i < run->n_cases; i++)
        if (run->cases[i].op == USINE_BENCH_OP_ATTENTION && run->cases[i].runs &&
            (run->options->dtypes & usine_bench_dtype_bit(run->cases[i].dtype)))
            return 1;
    return 0;
}

/* Whether the run measures conv lines against the im2col baseline: its column. */
static int im2col_column(const usine_bench_run *run)
{
    if (!run->peers[USINE_PEER_OPENBLAS].wanted)
        return 0;
    for (size_t i = 0; i < run->n_cases; i++)
        if (run->cases[i].op == USINE_BENCH_OP_CONV && run->cases[i].runs &&
            (run->options->dtypes & usine_bench_dtype_bit(run->cases[i].dtype)))
            return 1;
    return 0;
}

static int backward_lines(const usine_bench_run *run)
{
    for (size_t i = 0; i < run->n_cases; i++)
        if (run->cases[i].op == USINE_BENCH_OP_ATTENTION && run->cases[i].runs &&
            run->cases[i].att.backward)
            return 1;
    return 0;
}

static void header_columns(const usine_bench_run *run, FILE *out)
{
    fprintf(out, "\n%-*s %-5s %3s %8s %6s %6s", SHAPE_WIDTH, "shape (MxNxK)", "dtype", "thr",
            "usine", "%peak", "flop/B");
    for (int id = 0; id < USINE_PEER_COUNT; id++)
        if (run->peers[id].wanted)
            fprintf(out, " %9s", usine_bench_peer_name(id));
    if (unfused_column(run))
        fprintf(out, " %9s", "unfused");
    if (im2col_column(run))
        fprintf(out, " %9s", "im2col");
    fprintf(out, " %-9s %10s", "best peer", "usine/best");
    if (run->peers[USINE_PEER_OPENBLAS].wanted)
        fprintf(out, " %14s", "usine/OpenBLAS");
    fprintf(out, "  notes\n");
}

void usine_bench_report_header(const usine_bench_run *run, FILE *out)
{
    const usine_bench_machine *m = run->machine;
    const usine_bench_options *o = run->options;
    fprintf(out, "usine %s benchmark, suite '%s'%s%s\n", usine_version(), run->suite_name,
            run->suite_title && run->suite_title[0] ? ": " : "",
            run->suite_title ? run->suite_title : "");
    fprintf(out, "GEMM:     column-major, alpha 1, beta 0, transposes as listed (default NN);\n"
                 "          bf16 (-> f32) and int8 (u8 x s8 -> s32, GOP/s) row-major: A the "
                 "activations,\n          B the weights K x N (oneDNN: matmul, row-major "
                 "weights)\n");
    fprintf(out, "Machine:  %s (%s family %d model %d), ISA %s (detected %s)\n          ",
            m->cpu_model, m->vendor, m->family, m->model, usine_cpu_isa_name(m->isa_active),
            usine_cpu_isa_name(m->isa_detected));
    topology_line(m, out);
    fprintf(out, "\nPrint:    %s %s\n", run->fingerprint.hash, run->fingerprint.text);
    for (int d = 0; d < 2; d++)
        if (m->context_ok && (o->dtypes & (1 << d)))
            fprintf(out, "Kernel:   %s %s, MC %lld KC %lld NC %lld (%s)\n", d ? "f64" : "f32",
                    m->gemm[d].kernel->name, (long long)m->gemm[d].blocking.mc,
                    (long long)m->gemm[d].blocking.kc, (long long)m->gemm[d].blocking.nc,
                    m->gemm[d].rule);
    if (unfused_column(run))
        fprintf(out,
                "Attention: forward, BHSD, scale 1/sqrt(d); usine_attention_forward against "
                "'unfused':\n          OpenBLAS cblas_sgemm S = Q K^T, a C row softmax with the "
                "mask, cblas_sgemm\n          O = P V per (batch, head), masked pairs computed "
                "then zeroed; flops count only\n          visible pairs (4 d each), so "
                "usine/unfused is also unfused time / usine time\n");
    if (unfused_column(run) && backward_lines(run))
        fprintf(out, "          'bwd' rows: usine_attention_backward (after an untimed forward "
                     "for O, lse)\n          against cblas_sgemm S, softmax, dP = dO V^T, dS = "
                     "P (dP - D), then dV,\n          dQ, dK; flops 2.5x the forward's for "
                     "both\n");
    if (im2col_column(run))
        fprintf(out, "Conv:     NHWC, KRSC filters; usine_conv2d_forward_packed and, bwd_d, "
                     "_backward_data_packed\n          (filters packed once, untimed, as oneDNN's "
                     "are reordered once; bwd_w:\n          _backward_weights) against oneDNN's "
                     "convolution primitive (made once, execute + wait timed) and\n          "
                     "'im2col': im2col/col2im + OpenBLAS cblas_sgemm; flops 2 N K P Q (C/groups) "
                     "R S\n          for every pass, padded taps counted\n");
    header_peaks(run, out);
    header_peers(run, out);
    header_gpus(run, out);
    if (o->reps > 0)
        fprintf(out, "Timing:   %d timed repetition%s", o->reps, o->reps == 1 ? "" : "s");
    else
        fprintf(out, "Timing:   >= 3 repetitions until the fastest 3 agree within %.0f%% or %.2g s",
                100 * USINE_BENCH_TARGET_SPREAD, o->budget_s);
    fprintf(out, ",\n          after a warm-up, each library in its own process; GFLOP/s = "
                 "flops / median time\n");
    if (o->rounds > 1)
        fprintf(out, "          %d rounds, the libraries in turn: the fastest median of each\n",
                o->rounds);
    header_columns(run, out);
}

void usine_bench_report_section(const usine_bench_case *c, FILE *out)
{
    fprintf(out, "-- %s\n", c->group[0] ? c->group : "cases");
}

void usine_bench_report_not_built(const usine_bench_run *run, const usine_bench_case *c, FILE *out)
{
    char label[96];
    (void)run;
    usine_bench_case_label(c, label, sizeof label);
    fprintf(out, "%-*s %-5s %3s %8s %6s %6.0f  %s: %.3g GFLOP%s%s\n", SHAPE_WIDTH, label,
            c->dtype_name, "-", "-", "-", intensity(c), usine_bench_case_not_built(c),
            usine_bench_case_flops(c) * 1e-9, c->note[0] ? "; " : "", c->note);
}

void usine_bench_report_list(const usine_bench_run *run, FILE *out)
{
    double flops[2] = {0, 0};
    size_t counts[2] = {0, 0};
    fprintf(out, "suite '%s'%s%s: %zu cases\n", run->suite_name, run->suite_title[0] ? ": " : "",
            run->suite_title, run->n_cases);
    fprintf(out, "%-5s %-10s %-14s %-9s %-5s %-*s %12s %8s  %s\n", "#", "op", "group", "status",
            "dtype", SHAPE_WIDTH, "shape", "GFLOP", "flop/B", "note");
    for (size_t i = 0; i < run->n_cases; i++) {
        const usine_bench_case *c = &run->cases[i];
        char label[96];
        usine_bench_case_label(c, label, sizeof label);
        fprintf(out, "%-5zu %-10s %-14.14s %-9s %-5s %-*s %12.3f %8.1f  %s\n", i + 1,
                usine_bench_op_name(c->op), c->group, c->runs ? "runs" : "not-built", c->dtype_name,
                SHAPE_WIDTH, label, usine_bench_case_flops(c) * 1e-9, intensity(c),
                c->runs ? c->note : usine_bench_case_not_built(c));
        flops[!c->runs] += usine_bench_case_flops(c);
        counts[!c->runs]++;
    }
    fprintf(out, "%zu cases run (%.1f GFLOP a call in all), %zu not built yet (%.1f GFLOP)\n",
            counts[0], flops[0] * 1e-9, counts[1], flops[1] * 1e-9);
}

/* One library's cell: GFLOP/s, or why there is none. */
static void cell(const usine_bench_result *r, int width, FILE *out)
{
    if (ok(r))
        fprintf(out, " %*.1f", width, r->gflops_median);
    else
        fprintf(out, " %*s", width, !r ? "" : r->status == USINE_BENCH_FAILED ? "FAILED" : "-");
}

/* "64 MiB", "40 KiB": bytes in the unit that keeps a few digits. */
static const char *size_text(double bytes, char *buf, size_t size)
{
    if (bytes >= 10.0 * (1 << 20))
        snprintf(buf, size, "%.0f MiB", bytes / (1 << 20));
    else if (bytes >= 1 << 20)
        snprintf(buf, size, "%.1f MiB", bytes / (1 << 20));
    else
        snprintf(buf, size, "%.0f KiB", bytes / 1024);
    return buf;
}

/* Attention rows: the baseline's scores buffer and the peak memory each side added. */
static void attention_notes(const usine_bench_case *c, const usine_bench_result *const *row,
                            const char **sep, FILE *out)
{
    const usine_bench_result *u = row[USINE_BENCH_USINE], *b = row[USINE_BENCH_UNFUSED];
    char text[32];
    fprintf(out, "%sscores %s", *sep,
            size_text(usine_bench_attention_scores_bytes(c), text, sizeof text));
    if (ok(u) && u->extra_bytes > 0)
        fprintf(out, ", peak RSS +%s usine", size_text(u->extra_bytes, text, sizeof text));
    if (ok(b) && b->extra_bytes > 0)
        fprintf(out, ", +%s unfused", size_text(b->extra_bytes, text, sizeof text));
    if (ok(u) && ok(b))
        fprintf(out, "; time %.2fx unfused", u->stats.median_s / b->stats.median_s);
    else if (b && !ok(b))
        fprintf(out, "; unfused %s: %s", b->status == USINE_BENCH_FAILED ? "FAILED" : "skipped",
                b->message);
    if (u && !ok(u))
        fprintf(out, "; usine %s: %s", u->status == USINE_BENCH_FAILED ? "FAILED" : "skipped",
                u->message);
    *sep = "; ";
}

/* Notes: mismatches first (they matter most), then noisy measurements with their
 * spread (max/min time - 1). */
static void notes(const usine_bench_case *c, const usine_bench_result *const *row, FILE *out)
{
    const char *sep = "  ";
    for (int lib = 1; lib < USINE_BENCH_LIBS; lib++)
        if (ok(row[lib]) && row[lib]->checked && !row[lib]->check.match) {
            fprintf(out, "%sMISMATCH %s (%.2g > %.2g)", sep, usine_bench_lib_name(lib),
                    row[lib]->check.max_rel, row[lib]->check.tolerance);
            sep = "; ";
        }
    if (c->op == USINE_BENCH_OP_ATTENTION)
        attention_notes(c, row, &sep, out);
    const char *noisy_sep = "noisy: ";
    for (int lib = 0; lib < USINE_BENCH_LIBS; lib++)
        if (ok(row[lib]) && row[lib]->noisy) {
            fprintf(out, "%s%s%s +%.0f%%", sep, noisy_sep, usine_bench_lib_name(lib),
                    100 * row[lib]->spread);
            sep = ", ";
            noisy_sep = "";
        }
}

void usine_bench_report_row(const usine_bench_run *run, const usine_bench_result *const *row,
                            FILE *out)
{
    const usine_bench_result *u = row[USINE_BENCH_USINE];
    const usine_bench_case *c = &run->cases[u->case_index];
    char shape[96];
    usine_bench_case_label(c, shape, sizeof shape);
    fprintf(out, "%-*s %-5s %3d", SHAPE_WIDTH, shape, c->dtype_name, u->threads);
    cell(u, 8, out);
    const double peak = usine_bench_run_peak(run, c->dtype, u->threads);
    if (ok(u) && peak > 0)
        fprintf(out, " %5.1f%%", 100 * u->gflops_median / peak);
    else
        fprintf(out, " %6s", "-");
    fprintf(out, " %6.0f", intensity(c));
    for (int lib = 1; lib < USINE_BENCH_UNFUSED; lib++)
        if (run->peers[lib - 1].wanted)
            cell(row[lib], 9, out);
    if (unfused_column(run))
        cell(row[USINE_BENCH_UNFUSED], 9, out);
    if (im2col_column(run))
        cell(row[USINE_BENCH_IM2COL], 9, out);
    const int best = best_peer(row);
    fprintf(out, " %-9s",
            best == USINE_BENCH_UNFUSED  ? "unfused"
            : best == USINE_BENCH_IM2COL ? "im2col"
            : best > 0                   ? usine_bench_lib_name(best)
                                         : "-");
    if (ok(u) && best > 0)
        fprintf(out, " %10.2f", u->gflops_median / row[best]->gflops_median);
    else
        fprintf(out, " %10s", "-");
    const usine_bench_result *ob = row[1 + USINE_PEER_OPENBLAS];
    if (run->peers[USINE_PEER_OPENBLAS].wanted) {
        if (ok(u) && ok(ob))
            fprintf(out, " %14.2f", u->gflops_median / ob->gflops_median);
        else
            fprintf(out, " %14s", "-");
    }
    notes(c, row, out);
    if (c->note[0])
        fprintf(out, "  %s", c->note);
    fputc('\n', out);
}

/* ------------------------------------------------------------------ summary */

usine_bench_tally usine_bench_tally_of(const usine_bench_run *run, usine_bench_op op,
                                       usine_dtype dtype, int threads, int versus, int backward)
{
    usine_bench_tally t = {0, 0, 0};
    for (size_t i = 0; i < run->n_results; i++) {
        const usine_bench_result *u = &run->results[i];
        const usine_bench_case *c = &run->cases[u->case_index];
        if (u->lib != USINE_BENCH_USINE || u->threads != threads || !ok(u) || c->dtype != dtype ||
            c->op != op || (op == USINE_BENCH_OP_ATTENTION && c->att.backward != backward) ||
            (op == USINE_BENCH_OP_CONV && c->conv.pass != backward))
            continue;
        /* The row's peers follow its usine result. */
        double best = 0;
        for (size_t j = i + 1; j < run->n_results && run->results[j].lib != USINE_BENCH_USINE; j++)
            if (ok(&run->results[j]) && (versus < 0 || run->results[j].lib == versus) &&
                run->results[j].gflops_median > best)
                best = run->results[j].gflops_median;
        if (best <= 0)
            continue;
        t.log_sum += log(u->gflops_median / best);
        t.rows++;
        t.wins += u->gflops_median >= best;
    }
    return t;
}

/* One line per dtype (slots [first, last)) and thread count that has ratios, under
 * `heading` when there is any; versus -1: the best peer. */
static void summary_ratios(const usine_bench_run *run, usine_bench_op op, int backward, int versus,
                           int first, int last, const char *heading, FILE *out)
{
    const usine_bench_options *o = run->options;
    for (int d = first; d < last; d++)
        for (int t = 0; t < o->n_threads && (o->dtypes & (1 << d)); t++) {
            const usine_dtype dtype = usine_bench_slot_dtype(d);
            const usine_bench_tally s =
                usine_bench_tally_of(run, op, dtype, o->threads[t], versus, backward);
            if (!s.rows)
                continue;
            if (heading)
                fprintf(out, "%s\n", heading);
            heading = NULL;
            fprintf(out, "  %-4s %d thread%s: %.2f over %d cases, usine faster in %d\n",
                    usine_bench_dtype_name(dtype), o->threads[t], o->threads[t] == 1 ? "" : "s",
                    exp(s.log_sum / s.rows), s.rows, s.wins);
        }
}

/* usine results skipped because usine lacks the dtype: one line with usine's message. */
static void summary_usine_gaps(const usine_bench_run *run, FILE *out)
{
    int gaps = 0;
    const char *message = "";
    for (size_t i = 0; i < run->n_results; i++)
        if (run->results[i].lib == USINE_BENCH_USINE &&
            run->results[i].status == USINE_BENCH_SKIPPED) {
            message = gaps++ ? message : run->results[i].message;
        }
    if (gaps)
        fprintf(out, "usine skipped %d row%s (peers still measured): %s\n", gaps,
                gaps == 1 ? "" : "s", message);
}

void usine_bench_report_summary(const usine_bench_run *run, FILE *out)
{
    fputc('\n', out);
    summary_ratios(run, USINE_BENCH_OP_GEMM, 0, -1, 0, 2,
                   "usine / best peer (geometric mean of the median ratios):", out);
    /* oneDNN is the only bf16 and int8 peer, and issue 6's acceptance names it. */
    summary_ratios(run, USINE_BENCH_OP_GEMM, 0, 1 + USINE_PEER_ONEDNN, 2, USINE_BENCH_DTYPE_SLOTS,
                   "usine / oneDNN matmul (geometric mean of the median ratios):", out);
    /* Attention against its unfused baseline (issue 7), f32 and bf16 lines. */
    summary_ratios(run, USINE_BENCH_OP_ATTENTION, 0, USINE_BENCH_UNFUSED, 0, 3,
                   "attention: usine / unfused OpenBLAS baseline (geometric mean of the median "
                   "ratios):",
                   out);
    summary_ratios(run, USINE_BENCH_OP_ATTENTION, 1, USINE_BENCH_UNFUSED, 0, 3,
                   "attention backward: usine / unfused OpenBLAS backward (geometric mean of "
                   "the median ratios):",
                   out);
    /* Convolution against the better of oneDNN and im2col + OpenBLAS, per pass (issue 8). */
    static const char *const conv_headings[3] = {
        "conv forward: usine / best of oneDNN and im2col (geometric mean of the median ratios):",
        "conv backward data: usine / best of oneDNN and im2col (geometric mean of the median "
        "ratios):",
        "conv backward weights: usine / best of oneDNN and im2col (geometric mean of the median "
        "ratios):"};
    for (int pass = 0; pass < 3; pass++)
        summary_ratios(run, USINE_BENCH_OP_CONV, pass, -1, 0, 3, conv_headings[pass], out);
    summary_usine_gaps(run, out);
    size_t not_built = 0;
    double not_built_flops = 0;
    for (size_t i = 0; i < run->n_cases; i++)
        if (!run->cases[i].runs) {
            not_built++;
            not_built_flops += usine_bench_case_flops(&run->cases[i]);
        }
    if (not_built)
        fprintf(out,
                "%zu case%s not measured (f16 GEMM: no peer here; attention and convolution "
                "in f16/f64: not built), %.3g GFLOP listed\n",
                not_built, not_built == 1 ? "" : "s", not_built_flops * 1e-9);
    int noisy = 0, failed = 0, mismatched = 0;
    for (size_t i = 0; i < run->n_results; i++) {
        const usine_bench_result *r = &run->results[i];
        noisy += ok(r) && r->noisy;
        failed += r->status == USINE_BENCH_FAILED;
        mismatched += ok(r) && r->checked && !r->check.match;
    }
    fprintf(out,
            "%d noisy measurement%s (max/min time > %.0f%%), %d failed, %d mismatch%s; "
            "%.0f s in all\n",
            noisy, noisy == 1 ? "" : "s", 100 * USINE_BENCH_NOISY_SPREAD, failed, mismatched,
            mismatched == 1 ? "" : "es", run->wall_s);
}
