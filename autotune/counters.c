#include "counters.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef USINE_HAVE_PAPI
#include <papi.h>
#endif

static const char *const names[USINE_CTR_COUNT] = {
    "cycles", "instructions", "l1d_misses", "l2_misses", "l3_misses", "fp_ops",
};

const char *usine_counter_name(usine_counter c)
{
    return (unsigned)c < USINE_CTR_COUNT ? names[c] : "?";
}

static usine_counters_status status;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static int forced_off(void)
{
    const char *s = getenv("USINE_PAPI");
    return s && (strcmp(s, "off") == 0 || strcmp(s, "0") == 0);
}

#ifdef USINE_HAVE_PAPI
static const int preset[USINE_CTR_COUNT] = {
    PAPI_TOT_CYC, PAPI_TOT_INS, PAPI_L1_DCM, PAPI_L2_DCM, PAPI_L3_TCM, PAPI_FP_OPS,
};

/* Adds, starts and stops an event set holding `event` alone; 0 or a PAPI error code. */
static int try_event(int event)
{
    int set = PAPI_NULL, rc = PAPI_create_eventset(&set);
    if (rc != PAPI_OK)
        return rc;
    long long value;
    if ((rc = PAPI_add_event(set, event)) == PAPI_OK && (rc = PAPI_start(set)) == PAPI_OK)
        rc = PAPI_stop(set, &value);
    PAPI_cleanup_eventset(set);
    PAPI_destroy_eventset(&set);
    return rc;
}

static void probe_papi(void)
{
    int rc = PAPI_library_init(PAPI_VER_CURRENT);
    if (rc != PAPI_VER_CURRENT) {
        snprintf(status.summary, sizeof status.summary,
                 "none: PAPI_library_init failed (%s); timers only",
                 rc > 0 ? "version mismatch" : PAPI_strerror(rc));
        return;
    }
    PAPI_thread_init(pthread_self);
    const int hw = PAPI_num_hwctrs();
    for (int c = 0; c < USINE_CTR_COUNT; c++) {
        rc = try_event(preset[c]);
        status.usable[c] = rc == PAPI_OK;
        status.usable_count += status.usable[c];
        if (rc != PAPI_OK)
            snprintf(status.why[c], sizeof status.why[c], "%s", PAPI_strerror(rc));
    }
    if (status.usable_count == 0) /* nothing to count with: give PAPI's memory back */
        PAPI_shutdown();
    else /* counting goes on until exit; then PAPI's memory is released too */
        atexit(PAPI_shutdown);
    if (status.usable_count == 0)
        snprintf(status.summary, sizeof status.summary,
                 "none usable: PAPI reports %d hardware counters but no event can be started "
                 "(a VM without a virtual PMU?); timers only",
                 hw);
    else
        snprintf(status.summary, sizeof status.summary,
                 "%d of %d events usable (PAPI, %d counters)", status.usable_count, USINE_CTR_COUNT,
                 hw);
}
#endif

static void probe(void)
{
#ifdef USINE_HAVE_PAPI
    status.built = 1;
#endif
    status.forced_off = forced_off();
    for (int c = 0; c < USINE_CTR_COUNT; c++)
        snprintf(status.why[c], sizeof status.why[c], "%s",
                 !status.built ? "PAPI is not built in" : "USINE_PAPI=off");
    if (!status.built) {
        snprintf(status.summary, sizeof status.summary, "none: PAPI is not built in; timers only");
        return;
    }
    if (status.forced_off) {
        snprintf(status.summary, sizeof status.summary, "none: USINE_PAPI=off; timers only");
        return;
    }
#ifdef USINE_HAVE_PAPI
    probe_papi();
#endif
}

const usine_counters_status *usine_counters_probe(void)
{
    pthread_once(&probe_once, probe);
    return &status;
}

int usine_counters_begin(usine_counters_run *run)
{
    const usine_counters_status *s = usine_counters_probe();
    run->active = 0;
    run->event_set = -1;
    if (s->usable_count == 0)
        return 0;
#ifdef USINE_HAVE_PAPI
    int set = PAPI_NULL;
    if (PAPI_create_eventset(&set) != PAPI_OK)
        return 0;
    for (int c = 0; c < USINE_CTR_COUNT; c++)
        if (s->usable[c] && PAPI_add_event(set, preset[c]) != PAPI_OK) {
            /* Usable alone but not together: count what fits and say nothing more. */
            break;
        }
    if (PAPI_start(set) != PAPI_OK) {
        PAPI_cleanup_eventset(set);
        PAPI_destroy_eventset(&set);
        return 0;
    }
    run->event_set = set;
    run->active = 1;
#endif
    return run->active;
}

void usine_counters_end(usine_counters_run *run, long long values[USINE_CTR_COUNT])
{
    for (int c = 0; c < USINE_CTR_COUNT; c++)
        values[c] = -1;
    if (!run->active)
        return;
#ifdef USINE_HAVE_PAPI
    long long got[USINE_CTR_COUNT];
    int n = USINE_CTR_COUNT;
    int codes[USINE_CTR_COUNT];
    if (PAPI_list_events(run->event_set, codes, &n) == PAPI_OK &&
        PAPI_stop(run->event_set, got) == PAPI_OK) {
        for (int i = 0; i < n; i++)
            for (int c = 0; c < USINE_CTR_COUNT; c++)
                if (codes[i] == preset[c])
                    values[c] = got[i];
    }
    PAPI_cleanup_eventset(run->event_set);
    PAPI_destroy_eventset(&run->event_set);
#endif
    run->active = 0;
}
