#include "report_html.h"

#include <math.h>
#include <string.h>

static const char *const lib_colors[RP_LIBS] = {RP_COLOR_USINE, "#00798c", "#edae49", "#66a182",
                                                "#8d96a3"};
static const char *const machine_colors[] = {"#2e4057", RP_COLOR_USINE, "#00798c",
                                             "#edae49", "#66a182",      "#8d96a3"};
#define N_MACHINE_COLORS 6

static void esc(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", out);
        else if (*s == '>')
            fputs("&gt;", out);
        else if (*s == '&')
            fputs("&amp;", out);
        else if (*s == '"')
            fputs("&quot;", out);
        else
            fputc(*s, out);
    }
}

/* ------------------------------------------------------------------ page */

static void page_head(FILE *out, const rp_report *r, const char *generated)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<title>usine benchmark report</title>\n<style>\n"
          "body{font-family:sans-serif;margin:24px;color:#222;background:#fff}\n"
          "h1{font-size:22px}h2{font-size:18px;margin-top:28px}h3{font-size:15px}\n"
          "table{border-collapse:collapse;font-size:12px;margin:8px 0}\n"
          "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}\n"
          "th{background:#f2f2f2}.num{text-align:right}.bad{color:#b00;font-weight:bold}\n"
          ".row{display:flex;flex-wrap:wrap;gap:16px}.chart{border:1px solid #ddd}\n"
          "svg text{font-family:sans-serif;font-size:11px;fill:#222}\n"
          "</style></head><body>\n<h1>usine benchmark report</h1>\n",
          out);
    fprintf(out,
            "<p>%zu machine run%s, generated %s. GFLOP/s are medians of repeated runs; "
            "peers ran in their own processes on identical inputs, checked against usine.</p>\n",
            r->n_runs, r->n_runs == 1 ? "" : "s", generated);
}

static void machine_row(FILE *out, const rp_report *r, const char *what, int field)
{
    fprintf(out, "<tr><th>%s</th>", what);
    for (size_t i = 0; i < r->n_runs; i++) {
        const rp_run *x = &r->runs[i];
        fputs("<td>", out);
        switch (field) {
        case 0:
            esc(out, x->host);
            break;
        case 1:
            esc(out, x->cpu);
            break;
        case 2:
            fprintf(out, "<code>%s</code><br><small>", x->fingerprint);
            esc(out, x->fingerprint_text);
            fputs("</small>", out);
            break;
        case 3:
            fprintf(out, "%s, %d cores", x->isa, x->cores);
            break;
        case 4:
            fprintf(out, "f32 %.1f, f64 %.1f GFLOP/s", x->peak[0], x->peak[1]);
            if (x->peak[2] > 0)
                fprintf(out, ", bf16 %.1f GFLOP/s", x->peak[2]);
            if (x->peak[3] > 0)
                fprintf(out, ", int8 %.1f GOP/s", x->peak[3]);
            fprintf(out, " (%d threads)", x->max_threads);
            break;
        case 5:
            fprintf(out, "%.1f GB/s (triad, %d threads)", x->bandwidth, x->max_threads);
            break;
        case 6:
            for (int p = 0; p < 3; p++) {
                esc(out, x->peers[p]);
                fputs("<br>", out);
            }
            break;
        default:
            fprintf(out, "usine %s, suite %s, %s, %.0f s<br><small>", x->version, x->suite,
                    x->created, x->wall_s);
            esc(out, x->source);
            fputs("</small>", out);
        }
        fputs("</td>", out);
    }
    fputs("</tr>\n", out);
}

static void machines_table(FILE *out, const rp_report *r)
{
    static const char *const rows[] = {"host", "CPU",    "fingerprint", "ISA, cores",
                                       "peak", "memory", "peers",       "run"};
    fputs("<h2>Machines</h2>\n<table>\n<tr><th></th>", out);
    for (size_t i = 0; i < r->n_runs; i++)
        fprintf(out, "<th style=\"border-top:4px solid %s\">machine %zu</th>",
                machine_colors[i % N_MACHINE_COLORS], i + 1);
    fputs("</tr>\n", out);
    for (int f = 0; f < 8; f++)
        machine_row(out, r, rows[f], f);
    fputs("</table>\n", out);
}

/* ------------------------------------------------------------------ roofline */

typedef struct axis {
    double lo, hi; /* decades */
    double px0, px1;
} axis;

static double map(const axis *a, double v)
{
    return a->px0 + (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo)) * (a->px1 - a->px0);
}

static void decades(axis *a, double lo, double hi)
{
    a->lo = pow(10, floor(log10(lo > 0 ? lo : 1e-3)));
    a->hi = pow(10, ceil(log10(hi > lo ? hi : lo * 10)));
    if (a->hi <= a->lo)
        a->hi = a->lo * 10;
}

static void grid(FILE *out, const axis *x, const axis *y, const char *xl, const char *yl)
{
    for (double v = x->lo; v <= x->hi * 1.001; v *= 10)
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                map(x, v), y->px0, map(x, v), y->px1, map(x, v), y->px0 + 14, v);
    for (double v = y->lo; v <= y->hi * 1.001; v *= 10)
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                x->px0, map(y, v), x->px1, map(y, v), x->px0 - 4, map(y, v) + 4, v);
    fprintf(out,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>"
            "<text transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
            (x->px0 + x->px1) / 2, y->px0 + 30, xl, (y->px0 + y->px1) / 2, yl);
}

/* The ceilings: bandwidth x intensity up to the ridge, then the peak of dtype slot d
 * (rp_run.peak): f32 solid, f64 dashed, bf16 and int8 dotted. */
static void roof(FILE *out, const axis *x, const axis *y, const rp_run *run, int d)
{
    static const char *const dash[4] = {"", " stroke-dasharray=\"8 4\"",
                                        " stroke-dasharray=\"2 4\"", " stroke-dasharray=\"2 4\""};
    static const char *const label[4] = {"f32", "f64", "bf16", "int8"};
    const double peak = run->peak[d], bw = run->bandwidth;
    if (peak <= 0 || bw <= 0)
        return;
    const double ridge = peak / bw, x0 = x->lo;
    const double y0 = bw * x0 > y->lo ? bw * x0 : y->lo, xs = y0 / bw;
    fprintf(out,
            "<polyline class=\"mark\" fill=\"none\" stroke=\"%s\" stroke-width=\"3\"%s "
            "points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"/>\n",
            RP_COLOR_ROOF, dash[d], map(x, xs), map(y, y0), map(x, ridge), map(y, peak),
            map(x, x->hi), map(y, peak));
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s peak %.0f %s</text>\n",
            map(x, x->hi) - 4, map(y, peak) - 5, label[d], peak, d == 3 ? "GOP/s" : "GFLOP/s");
}

static void roof_range(const rp_run *run, double *xlo, double *xhi, double *ylo, double *yhi)
{
    *xlo = 1e30, *xhi = 0, *ylo = 1e30, *yhi = 1;
    for (int d = 0; d < 4; d++)
        *yhi = run->peak[d] > *yhi ? run->peak[d] : *yhi;
    for (size_t i = 0; i < run->n_rows; i++) {
        const rp_row *w = &run->rows[i];
        const double ai = run->cases[w->case_id].intensity, g = w->gflops[0];
        if (w->threads != run->max_threads || g <= 0)
            continue;
        *xlo = ai < *xlo ? ai : *xlo, *xhi = ai > *xhi ? ai : *xhi;
        *ylo = g < *ylo ? g : *ylo, *yhi = g > *yhi ? g : *yhi;
    }
    if (run->bandwidth > 0 && run->peak[0] > 0) {
        const double ridge = run->peak[0] / run->bandwidth;
        *xhi = ridge * 4 > *xhi ? ridge * 4 : *xhi;
    }
    *xlo = *xlo > *xhi ? 0.1 : *xlo;
    *ylo = *ylo > *yhi ? 1 : *ylo;
}

static const char *point_color(const char *dtype)
{
    return !strcmp(dtype, "f64")    ? "#c77dff"
           : !strcmp(dtype, "bf16") ? "#2a9d8f"
           : !strcmp(dtype, "int8") ? "#e76f51"
                                    : RP_COLOR_POINT;
}

static void roofline(FILE *out, const rp_run *run, size_t index)
{
    const double w = 560, h = 380;
    axis x = {0, 0, 60, w - 20}, y = {0, 0, h - 45, 20};
    double xlo, xhi, ylo, yhi;
    roof_range(run, &xlo, &xhi, &ylo, &yhi);
    decades(&x, xlo, xhi);
    decades(&y, ylo, yhi * 1.5);
    fprintf(out, "<div><h3>machine %zu: ", index + 1);
    esc(out, run->name);
    fprintf(out,
            "</h3><svg class=\"chart roofline\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" xmlns=\"http://www.w3.org/2000/svg\">\n",
            w, h, w, h);
    grid(out, &x, &y, "arithmetic intensity (flop/byte)", "GFLOP/s");
    for (int d = 0; d < 4; d++)
        roof(out, &x, &y, run, d);
    for (size_t i = 0; i < run->n_rows; i++) {
        const rp_row *r = &run->rows[i];
        const rp_case *c = &run->cases[r->case_id];
        if (r->threads != run->max_threads || r->gflops[0] <= 0)
            continue;
        fprintf(out,
                "<circle class=\"mark\" cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"%s\" "
                "stroke=\"#fff\"><title>",
                map(&x, c->intensity), map(&y, r->gflops[0]), point_color(c->dtype));
        esc(out, c->label);
        fprintf(out, " %s: %.1f GFLOP/s, %.1f flop/B</title></circle>\n", c->dtype, r->gflops[0],
                c->intensity);
    }
    fputs("</svg></div>\n", out);
}

/* ------------------------------------------------------------------ bars */

static double row_max(const rp_row *r)
{
    double m = 0;
    for (int l = 0; l < RP_LIBS; l++)
        m = r->gflops[l] > m ? r->gflops[l] : m;
    return m;
}

static void bar(FILE *out, double x0, double y, double len, double hgt, const char *color,
                const char *tip, double value)
{
    fprintf(out,
            "<rect class=\"mark\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "fill=\"%s\"><title>%s %.1f GFLOP/s</title></rect>\n",
            x0, y, len > 1 ? len : 1, hgt, color, tip, value);
}

static void legend(FILE *out, double x, double y, const char *const *names,
                   const char *const *colors, int n)
{
    for (int i = 0; i < n; i++)
        fprintf(out,
                "<rect class=\"mark\" x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" "
                "fill=\"%s\"/><text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
                x + i * 110, y, colors[i], x + i * 110 + 16, y + 10, names[i]);
}

/* Horizontal bars, one group per case and thread count: usine then each peer. */
static void case_bars(FILE *out, const rp_run *run, size_t index)
{
    const double label_w = 300, plot_w = 460, bh = 7, gap = 8;
    double vmax = 1;
    for (size_t i = 0; i < run->n_rows; i++)
        vmax = row_max(&run->rows[i]) > vmax ? row_max(&run->rows[i]) : vmax;
    const double group_h = RP_LIBS * bh + gap, h = 40 + run->n_rows * group_h + 10;
    fprintf(out, "<h3>machine %zu: ", index + 1);
    esc(out, run->name);
    fprintf(out,
            "</h3>\n<svg class=\"chart bars\" width=\"%.0f\" height=\"%.0f\" "
            "xmlns=\"http://www.w3.org/2000/svg\">\n",
            label_w + plot_w + 120, h);
    legend(out, label_w, 8, rp_lib_names, lib_colors, RP_LIBS);
    for (size_t i = 0; i < run->n_rows; i++) {
        const rp_row *r = &run->rows[i];
        const rp_case *c = &run->cases[r->case_id];
        const double y = 32 + i * group_h;
        fprintf(out, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", label_w - 6,
                y + RP_LIBS * bh / 2 + 4);
        esc(out, c->label);
        fprintf(out, " %s t%d%s</text>\n", c->dtype, r->threads,
                r->mismatch ? " MISMATCH"
                : r->noisy  ? " (noisy)"
                            : "");
        for (int l = 0; l < RP_LIBS; l++)
            if (r->gflops[l] > 0)
                bar(out, label_w, y + l * bh, r->gflops[l] / vmax * plot_w, bh - 1, lib_colors[l],
                    rp_lib_names[l], r->gflops[l]);
        if (r->gflops[0] > 0)
            fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">%.0f</text>\n",
                    label_w + r->gflops[0] / vmax * plot_w + 4, y + bh - 1, r->gflops[0]);
    }
    fprintf(out, "<text x=\"%.0f\" y=\"%.0f\">GFLOP/s (bar length; full width = %.0f)</text>\n",
            label_w, h - 2, vmax);
    fputs("</svg>\n", out);
}

/* ------------------------------------------------------------------ side by side */

/* Run b's row for a's row: the same case label, dtype and thread count. */
static const rp_row *match_row(const rp_run *a, const rp_row *ra, const rp_run *b)
{
    const rp_case *ca = &a->cases[ra->case_id];
    for (size_t i = 0; i < b->n_rows; i++) {
        const rp_case *cb = &b->cases[b->rows[i].case_id];
        if (b->rows[i].threads == ra->threads && !strcmp(ca->label, cb->label) &&
            !strcmp(ca->dtype, cb->dtype))
            return &b->rows[i];
    }
    return NULL;
}

static void side_by_side(FILE *out, const rp_report *r)
{
    const rp_run *a = &r->runs[0];
    const double label_w = 300, plot_w = 460, bh = 8, n = (double)r->n_runs;
    double vmax = 1;
    for (size_t k = 0; k < r->n_runs; k++)
        for (size_t i = 0; i < r->runs[k].n_rows; i++)
            vmax = r->runs[k].rows[i].gflops[0] > vmax ? r->runs[k].rows[i].gflops[0] : vmax;
    const double group_h = n * bh + 8, h = 40 + a->n_rows * group_h + 10;
    fputs("<h2>Machines side by side (usine GFLOP/s)</h2>\n", out);
    fprintf(out,
            "<svg class=\"chart compare\" width=\"%.0f\" height=\"%.0f\" "
            "xmlns=\"http://www.w3.org/2000/svg\">\n",
            label_w + plot_w + 80, h);
    const char *names[N_MACHINE_COLORS] = {"machine 1", "machine 2", "machine 3",
                                           "machine 4", "machine 5", "machine 6"};
    legend(out, label_w, 8, names, machine_colors,
           n < N_MACHINE_COLORS ? (int)n : N_MACHINE_COLORS);
    for (size_t i = 0; i < a->n_rows; i++) {
        const double y = 32 + i * group_h;
        fprintf(out, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", label_w - 6,
                y + n * bh / 2 + 4);
        esc(out, a->cases[a->rows[i].case_id].label);
        fprintf(out, " %s t%d</text>\n", a->cases[a->rows[i].case_id].dtype, a->rows[i].threads);
        for (size_t k = 0; k < r->n_runs; k++) {
            const rp_row *m = k ? match_row(a, &a->rows[i], &r->runs[k]) : &a->rows[i];
            if (m && m->gflops[0] > 0)
                bar(out, label_w, y + k * bh, m->gflops[0] / vmax * plot_w, bh - 1,
                    machine_colors[k % N_MACHINE_COLORS], "usine", m->gflops[0]);
        }
    }
    fputs("</svg>\n", out);
}

static void compare_table(FILE *out, const rp_report *r)
{
    const rp_run *a = &r->runs[0];
    fputs("<table><tr><th>case</th><th>threads</th>", out);
    for (size_t k = 0; k < r->n_runs; k++)
        fprintf(out, "<th>machine %zu GFLOP/s</th>%s", k + 1, k ? "<th>/ machine 1</th>" : "");
    fputs("</tr>\n", out);
    for (size_t i = 0; i < a->n_rows; i++) {
        const rp_case *c = &a->cases[a->rows[i].case_id];
        fputs("<tr><td>", out);
        esc(out, c->label);
        fprintf(out, " %s</td><td class=\"num\">%d</td>", c->dtype, a->rows[i].threads);
        for (size_t k = 0; k < r->n_runs; k++) {
            const rp_row *m = k ? match_row(a, &a->rows[i], &r->runs[k]) : &a->rows[i];
            const double g = m ? m->gflops[0] : 0, g0 = a->rows[i].gflops[0];
            fprintf(out, g > 0 ? "<td class=\"num\">%.1f</td>" : "<td>-</td>", g);
            if (k)
                fprintf(out, g > 0 && g0 > 0 ? "<td class=\"num\">%.2f</td>" : "<td>-</td>",
                        g0 > 0 ? g / g0 : 0);
        }
        fputs("</tr>\n", out);
    }
    fputs("</table>\n", out);
}

/* ------------------------------------------------------------------ lists */

static void not_built(FILE *out, const rp_run *run)
{
    int any = 0;
    for (size_t i = 0; i < run->n_cases; i++) {
        const rp_case *c = &run->cases[i];
        if (c->runs)
            continue;
        if (!any++)
            fputs("<h2>Listed, not built yet</h2>\n<table><tr><th>group</th><th>op</th>"
                  "<th>case</th><th>dtype</th><th>GFLOP</th><th>flop/B</th><th>why</th>"
                  "<th>note</th></tr>\n",
                  out);
        fputs("<tr><td>", out);
        esc(out, c->group);
        fprintf(out, "</td><td>%s</td><td>", c->op);
        esc(out, c->label);
        fprintf(out, "</td><td>%s</td><td class=\"num\">%.3g</td><td class=\"num\">%.1f</td><td>",
                c->dtype, c->flops * 1e-9, c->intensity);
        esc(out, c->not_built);
        fputs("</td><td>", out);
        esc(out, c->note);
        fputs("</td></tr>\n", out);
    }
    if (any)
        fputs("</table>\n", out);
}

static void verdicts(FILE *out, const rp_report *r)
{
    if (!r->n_verdicts)
        return;
    fputs("<h2>Cluster: nodes of one fingerprint compared</h2>\n<table><tr><th>rank</th>"
          "<th>host</th><th>fingerprint</th><th>same-fingerprint nodes</th><th>score</th>"
          "<th>verdict</th></tr>\n",
          out);
    for (size_t i = 0; i < r->n_verdicts; i++) {
        const rp_verdict *v = &r->verdicts[i];
        fprintf(out, "<tr><td>%d</td><td>", v->rank);
        esc(out, v->host);
        fprintf(out,
                "</td><td><code>%s</code></td><td class=\"num\">%d</td>"
                "<td class=\"num\">%.3f</td><td%s>%s</td></tr>\n",
                v->fingerprint, v->peers, v->score, v->flagged ? " class=\"bad\"" : "",
                v->flagged ? "SLOW: more than 10% below its kind"
                : v->peers ? "ok"
                           : "alone");
    }
    fputs("</table>\n", out);
}

void rp_write_html(FILE *out, const rp_report *r, const char *generated)
{
    page_head(out, r, generated);
    machines_table(out, r);
    verdicts(out, r);
    fputs("<h2>Roofline</h2>\n<p>Log-log: arithmetic intensity against usine's GFLOP/s at the "
          "most threads, one point per case; ceilings are the measured FMA peak (solid f32, "
          "dashed f64), the bf16 and int8 dot-product peaks (dotted; int8 in GOP/s) and the "
          "triad bandwidth.</p>\n<div class=\"row\">\n",
          out);
    for (size_t i = 0; i < r->n_runs; i++)
        roofline(out, &r->runs[i], i);
    fputs("</div>\n", out);
    if (r->n_runs > 1) {
        side_by_side(out, r);
        compare_table(out, r);
    }
    fputs("<h2>Per case: usine and the peers</h2>\n<div class=\"row\">\n", out);
    for (size_t i = 0; i < r->n_runs; i++) {
        fputs("<div>", out);
        case_bars(out, &r->runs[i], i);
        fputs("</div>\n", out);
    }
    fputs("</div>\n", out);
    not_built(out, &r->runs[0]);
    fputs("<p><small>Written by <code>usine report</code>; self-contained (no script, no network)."
          "</small></p>\n</body></html>\n",
          out);
}
