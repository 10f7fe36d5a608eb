#include "measure.h"

#include <stdlib.h>
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
static void warm_up(usine_bench_call *call, void *arg, double seconds)
{
    const double start = usine_bench_now();
    do
        call(arg);
    while (usine_bench_now() - start < seconds);
}

void usine_bench_time(usine_bench_call *call, void *arg, const usine_bench_timing *timing,
                      usine_bench_stats *stats)
{
    double times[USINE_BENCH_MAX_REPS];
    const int max_reps =
        timing->max_reps < USINE_BENCH_MAX_REPS ? timing->max_reps : USINE_BENCH_MAX_REPS;
    warm_up(call, arg, timing->warmup_s);
    double timed = 0;
    int n = 0;
    while (n < max_reps && (n < timing->min_reps || timed < timing->budget_s)) {
        const double start = usine_bench_now();
        call(arg);
        times[n] = usine_bench_now() - start;
        timed += times[n++];
    }
    qsort(times, (size_t)n, sizeof times[0], compare_doubles);
    stats->reps = n;
    stats->best_s = times[0];
    stats->worst_s = times[n - 1];
    stats->median_s = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
}

double usine_bench_spread(const usine_bench_stats *stats)
{
    return stats->best_s > 0 ? (stats->worst_s - stats->best_s) / stats->best_s : 0;
}
