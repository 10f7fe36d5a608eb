#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#define BAR_WIDTH 24

static int quiet;

void usine_bench_progress_quiet(int q)
{
    quiet = q;
}

static int tty(void)
{
    return isatty(STDERR_FILENO);
}

static void vprogress(const char *prefix, const char *fmt, va_list ap)
{
    if (quiet)
        return;
    fputs(tty() ? "\r\033[K" : "", stderr);
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputs(tty() ? "" : "\n", stderr);
    fflush(stderr);
}

void usine_bench_progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprogress("usine bench: ", fmt, ap);
    va_end(ap);
}

void usine_bench_progress_bar(int done, int total, double elapsed_s, const char *fmt, ...)
{
    char prefix[160];
    const int filled = total > 0 ? BAR_WIDTH * done / total : 0;
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    /* The time left assumes the remaining steps cost what the finished ones did. */
    const double left = done > 0 ? elapsed_s * (total - done) / done : -1;
    if (tty() && left >= 0)
        snprintf(prefix, sizeof prefix, "[%s] %d/%d ~%.0fs left  ", bar, done, total, left);
    else if (tty())
        snprintf(prefix, sizeof prefix, "[%s] %d/%d  ", bar, done, total);
    else
        snprintf(prefix, sizeof prefix, "usine bench: [%d/%d] ", done + 1, total);
    va_list ap;
    va_start(ap, fmt);
    vprogress(prefix, fmt, ap);
    va_end(ap);
}

void usine_bench_progress_clear(void)
{
    if (tty() && !quiet)
        fputs("\r\033[K", stderr);
}

void usine_bench_loud(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    usine_bench_progress_clear();
    fputs("usine bench: *** ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" ***\n", stderr);
    va_end(ap);
}
