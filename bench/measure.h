/* Timing: untimed warm-up calls, then timed repetitions until a budget; median, best
 * and worst. */
#ifndef USINE_BENCH_MEASURE_H
#define USINE_BENCH_MEASURE_H

/* Most timed repetitions kept for one measurement. */
#define USINE_BENCH_MAX_REPS 100

typedef struct usine_bench_timing {
    int min_reps, max_reps; /* timed calls: at least min_reps, at most max_reps */
    double budget_s;        /* stop once min_reps are done and this much time is timed */
    double warmup_s;        /* untimed calls (at least one) until this much time passed */
} usine_bench_timing;

typedef struct usine_bench_stats {
    int reps;
    double median_s, best_s, worst_s;
} usine_bench_stats;

/* Spreads above this fraction mark a measurement as noisy. */
#define USINE_BENCH_NOISY_SPREAD 0.10

typedef void usine_bench_call(void *arg);

/* Seconds on the monotonic clock. */
double usine_bench_now(void);

/* Times call(arg) as `timing` says. */
void usine_bench_time(usine_bench_call *call, void *arg, const usine_bench_timing *timing,
                      usine_bench_stats *stats);

/* (worst - best) / best: how far apart the repetitions were. */
double usine_bench_spread(const usine_bench_stats *stats);

#endif
