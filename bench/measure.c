#include "measure.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

double usine_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void *x, const void *y)
{
    const double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Warm-up: the first call pays for page faults, the thread pool's start and the clock
 * ramp; a peer's first call may also pick its kernels. None of that is the steady state
 * a framework sees. */
static double warm_up(usine_bench_call *call, void *arg, double seconds)
{
    const double start = usine_bench_now();
    do
        call(arg);
    while (usine_bench_now() - start < seconds);
    return usine_bench_now() - start;
}

/* Have the repetitions so far settled? The fastest min_reps of them within `target` of
 * each other: a clean run settles after min_reps calls; one disturbed by other work
 * keeps going, until it finds enough undisturbed calls or hits the cap, where the full
 * spread (worst / best) tells the reader how noisy it was. */
static int settled(const double *times, int n, int min_reps, double target, double *sorted)
{
    if (target <= 0 || n < min_reps)
        return 0;
    memcpy(sorted, times, sizeof(double) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof sorted[0], compare_doubles);
    return sorted[min_reps - 1] <= sorted[0] * (1 + target);
}

static double quantile(const double *sorted, int n, double q)
{
    const double pos = q * (n - 1);
    const int lo = (int)pos;
    const double frac = pos - lo;
    return lo + 1 < n ? sorted[lo] * (1 - frac) + sorted[lo + 1] * frac : sorted[lo];
}

void usine_bench_time(usine_bench_call *call, void *arg, const usine_bench_timing *timing,
                      usine_bench_stats *stats)
{
    double times[USINE_BENCH_MAX_REPS], sorted[USINE_BENCH_MAX_REPS];
    const int max_reps =
        timing->max_reps < USINE_BENCH_MAX_REPS ? timing->max_reps : USINE_BENCH_MAX_REPS;
    const int fixed = timing->min_reps == timing->max_reps;
    stats->warmup_s = warm_up(call, arg, timing->warmup_s);
    double timed = 0;
    int n = 0;
    stats->stop = USINE_BENCH_STOP_REPS;
    while (n < max_reps) {
        const double start = usine_bench_now();
        call(arg);
        times[n] = usine_bench_now() - start;
        timed += times[n++];
        if (fixed)
            continue;
        if (settled(times, n, timing->min_reps, timing->target_spread, sorted)) {
            stats->stop = USINE_BENCH_STOP_SPREAD;
            break;
        }
        if (n >= timing->min_reps && timed >= timing->budget_s) {
            stats->stop = USINE_BENCH_STOP_TIME;
            break;
        }
    }
    if (fixed)
        stats->stop = USINE_BENCH_STOP_FIXED;
    memcpy(sorted, times, sizeof(double) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof sorted[0], compare_doubles);
    stats->reps = n;
    stats->best_s = sorted[0];
    stats->worst_s = sorted[n - 1];
    stats->median_s = quantile(sorted, n, 0.5);
    stats->q1_s = quantile(sorted, n, 0.25);
    stats->q3_s = quantile(sorted, n, 0.75);
}

double usine_bench_spread(const usine_bench_stats *stats)
{
    return stats->best_s > 0 ? (stats->worst_s - stats->best_s) / stats->best_s : 0;
}

const char *usine_bench_stop_name(usine_bench_stop stop)
{
    static const char *const names[] = {"fixed", "spread", "time", "reps"};
    return (unsigned)stop < 4 ? names[stop] : "?";
}
