/* Timing: untimed warm-up calls, then timed repetitions until they agree or a time cap;
 * median, quartiles, best and worst. */
#ifndef USINE_BENCH_MEASURE_H
#define USINE_BENCH_MEASURE_H

/* Most timed repetitions kept for one measurement. */
#define USINE_BENCH_MAX_REPS 100

typedef struct usine_bench_timing {
    int min_reps, max_reps; /* timed calls: at least min_reps, at most max_reps */
    double budget_s;        /* cap: stop once min_reps are done and this much time is timed */
    double warmup_s;        /* untimed calls (at least one) until this much time passed */
    double target_spread;   /* stop early once the repetitions agree this well (0: never) */
} usine_bench_timing;

typedef enum usine_bench_stop {
    USINE_BENCH_STOP_FIXED = 0,  /* --reps: exactly that many */
    USINE_BENCH_STOP_SPREAD = 1, /* the repetitions agreed within target_spread */
    USINE_BENCH_STOP_TIME = 2,   /* the time cap */
    USINE_BENCH_STOP_REPS = 3    /* max_reps */
} usine_bench_stop;

typedef struct usine_bench_stats {
    int reps;
    double median_s, best_s, worst_s, q1_s, q3_s;
    double warmup_s; /* time spent warming up */
    usine_bench_stop stop;
} usine_bench_stats;

/* Spreads above this fraction mark a measurement as noisy. */
#define USINE_BENCH_NOISY_SPREAD 0.10
/* Adaptive timing stops once its fastest min_reps repetitions agree this well. */
#define USINE_BENCH_TARGET_SPREAD 0.02

typedef void usine_bench_call(void *arg);

/* Seconds on the monotonic clock. */
double usine_bench_now(void);

/* Times call(arg) as `timing` says. */
void usine_bench_time(usine_bench_call *call, void *arg, const usine_bench_timing *timing,
                      usine_bench_stats *stats);

/* (worst - best) / best: how far apart the repetitions were. */
double usine_bench_spread(const usine_bench_stats *stats);

/* "fixed", "spread", "time", "reps". */
const char *usine_bench_stop_name(usine_bench_stop stop);

#endif
