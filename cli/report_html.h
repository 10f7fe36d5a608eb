/* The HTML of `usine report`: one self-contained file (inline CSS and SVG, no script, no
 * font or image fetched), per-case bars, a roofline plot per machine and, for several
 * machines, the machines side by side. */
#ifndef USINE_CLI_REPORT_HTML_H
#define USINE_CLI_REPORT_HTML_H

#include <stdio.h>

#include "report_data.h"

/* Chart colours, also looked for by the screenshot test (tests/bench/png_check.py). */
#define RP_COLOR_USINE "#d1495b" /* usine's bars */
#define RP_COLOR_POINT "#7b2cbf" /* roofline points, f32 (f64 lighter) */
#define RP_COLOR_ROOF  "#1b998b" /* roofline ceilings */

void rp_write_html(FILE *out, const rp_report *report, const char *generated);

#endif
