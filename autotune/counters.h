/*
 * Hardware counters around a kernel run, through PAPI where the machine exposes them.
 * Never trusted blindly: many VMs report counters that cannot be added or started, so
 * each event is probed by actually starting an event set with it. Without counters the
 * tuner uses timers only and `usine info` says which events failed and why.
 * USINE_PAPI=off forces the no-counter path (also for tests).
 */
#ifndef USINE_AUTOTUNE_COUNTERS_H
#define USINE_AUTOTUNE_COUNTERS_H

typedef enum usine_counter {
    USINE_CTR_CYCLES = 0,
    USINE_CTR_INSTRUCTIONS,
    USINE_CTR_L1D_MISSES,
    USINE_CTR_L2_MISSES,
    USINE_CTR_L3_MISSES,
    USINE_CTR_FP_OPS,
    USINE_CTR_COUNT
} usine_counter;

typedef struct usine_counters_status {
    int built;      /* PAPI compiled in */
    int forced_off; /* USINE_PAPI=off */
    int usable[USINE_CTR_COUNT];
    int usable_count;
    char why[USINE_CTR_COUNT][96]; /* reason an event is unusable */
    char summary[256];             /* one line for `usine info` */
} usine_counters_status;

/* Short names: "cycles", "instructions", "l1d_misses", "l2_misses", "l3_misses", "fp_ops". */
const char *usine_counter_name(usine_counter c);

/* Probes PAPI once (thread-safe) and returns what works. */
const usine_counters_status *usine_counters_probe(void);

/* Counts the usable events on the calling thread around one run: begin, run, end.
 * values[c] is -1 for an event that is not counted. Returns 0 if nothing is counted. */
typedef struct usine_counters_run {
    int event_set;
    int active;
} usine_counters_run;

int usine_counters_begin(usine_counters_run *run);
void usine_counters_end(usine_counters_run *run, long long values[USINE_CTR_COUNT]);

#endif
