#include "select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fingerprint.h"
#include "model.h"
#include "topology.h"
#include "../kernels/cpu/gemm/gemm_driver.h"
#include "../kernels/cpu/gemm/gemm_registry.h"

/* Longest kernel name a forced list may hold. */
#define MAX_NAME 96

/* How far (summed doublings of m, n and k) a tuned shape class may be from the call's and
 * still be used: beyond that the model is the better guess. */
#define NEAREST_MAX_DISTANCE 2

#define STR2(x) #x
#define STR(x)  STR2(x)
#define LIBRARY_VERSION                                                                            \
    STR(USINE_VERSION_MAJOR) "." STR(USINE_VERSION_MINOR) "." STR(USINE_VERSION_PATCH)

static const char *const rule_names[] = {
    "forced by USINE_KERNEL",
    "USINE_GEMM_BLOCKING",
    "exact tuned entry",
    "nearest tuned shape class",
    "model",
    "safe default",
};

static const usine_dtype family_types[USINE_SELECT_DTYPES] = {USINE_F32, USINE_F64, USINE_BF16,
                                                              USINE_U8};

int usine_select_dtype_index(usine_dtype dtype)
{
    for (int d = 0; d < USINE_SELECT_DTYPES; d++)
        if (family_types[d] == dtype)
            return d;
    return -1;
}

const char *usine_select_dtype_name(usine_dtype dtype)
{
    static const char *const names[USINE_SELECT_DTYPES] = {"f32", "f64", "bf16", "int8"};
    const int d = usine_select_dtype_index(dtype);
    return d >= 0 ? names[d] : "?";
}

int usine_select_family(const usine_selector *sel, usine_dtype dtype)
{
    const int d = usine_select_dtype_index(dtype);
    return d >= 0 && (sel->forced[d] || sel->model[d]) ? d : 0;
}

/* ------------------------------------------------------------------ forced names */

/* Calls visit(name, ctx) for each comma-separated name; stops at a non-zero return. */
static int for_each_name(const char *list, int (*visit)(const char *, void *), void *ctx)
{
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[MAX_NAME];
        if (len >= sizeof name)
            len = sizeof name - 1;
        memcpy(name, p, len);
        name[len] = '\0';
        if (len > 0) {
            int r = visit(name, ctx);
            if (r)
                return r;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

typedef struct forced_ctx {
    usine_selector *sel;
    char *message;
    size_t size;
} forced_ctx;

static int take_forced(const char *name, void *vctx)
{
    forced_ctx *c = (forced_ctx *)vctx;
    const usine_gemm_kernel *k = usine_gemm_kernel_by_name(name);
    if (!k) {
        snprintf(c->message, c->size, "USINE_KERNEL names '%s', which is not a usine kernel", name);
        return USINE_SELECT_UNKNOWN_NAME;
    }
    if (k->isa > c->sel->cap) {
        snprintf(c->message, c->size,
                 "USINE_KERNEL names '%s', which needs %s; this CPU (or USINE_CPU_ISA) allows %s",
                 name, usine_cpu_isa_name(k->isa), usine_cpu_isa_name(c->sel->cap));
        return USINE_SELECT_ISA_TOO_HIGH;
    }
    c->sel->forced[usine_select_dtype_index(k->in_type)] = k;
    return 0;
}

/* ------------------------------------------------------------------ database */

/* One warning per file and process: a corrupt database is worth a line, not a flood. */
static void warn_once(const char *path, const char *what)
{
    static char warned[8][256];
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    int seen = 0, slot = -1;
    for (int i = 0; i < 8; i++) {
        if (strcmp(warned[i], path) == 0)
            seen = 1;
        if (slot < 0 && !warned[i][0])
            slot = i;
    }
    if (!seen && slot >= 0)
        snprintf(warned[slot], sizeof warned[slot], "%s", path);
    pthread_mutex_unlock(&lock);
    if (!seen)
        fprintf(stderr, "usine: warning: tuning database %s: %s; using what remains\n", path, what);
}

static void read_database(usine_selector *sel, const char *path)
{
    size_t skipped = 0;
    const int rc =
        usine_db_read(path, usine_fingerprint_get()->hash, LIBRARY_VERSION, &sel->table, &skipped);
    char what[128];
    if (rc == -1) {
        warn_once(path, "not a usine tuning database (bad or missing header), ignored");
    } else if (rc == -2) {
        warn_once(path, "out of memory while reading it");
    } else if (skipped) {
        snprintf(what, sizeof what, "%zu corrupt or truncated line%s skipped", skipped,
                 skipped == 1 ? "" : "s");
        warn_once(path, what);
    }
}

/* ------------------------------------------------------------------ selector */

/* Conservative blocking for a machine whose caches are unknown: fits 32 KiB L1 and 256 KiB
 * L2, the smallest of current x86 server cores. */
static usine_gemm_blocking safe_blocking(const usine_gemm_kernel *k)
{
    const int64_t es = (int64_t)usine_dtype_storage_size(k->in_type);
    usine_gemm_blocking b = {0, 0, 0, 0};
    b.kc = 8192 / (k->nr * es) / 8 * 8;
    b.mc = (128 * 1024 / (b.kc * es)) / k->mr * k->mr;
    b.nc = 1024 / k->nr * k->nr;
    if (b.mc < k->mr)
        b.mc = k->mr;
    return b;
}

/* The model's blocking for each family's kernel: safe sizes when the caches are unknown. */
static void set_model_blocking(usine_selector *sel)
{
    const usine_topology *t = usine_topology_get();
    const int unknown = strcmp(t->source, "defaults") == 0;
    for (int d = 0; d < USINE_SELECT_DTYPES; d++) {
        if (!sel->model[d])
            continue;
        sel->model_blocking[d] =
            unknown ? safe_blocking(sel->model[d]) : usine_model_gemm_blocking(t, sel->model[d]);
        sel->model_rule[d] = unknown ? USINE_RULE_SAFE_DEFAULT : USINE_RULE_MODEL;
    }
}

usine_select_error usine_selector_init(usine_selector *sel, usine_cpu_isa cap, const char *forced,
                                       const int64_t override[3], int read_db, int online,
                                       char *message, size_t size)
{
    memset(sel, 0, sizeof *sel);
    pthread_mutex_init(&sel->lock, NULL);
    sel->cap = cap;
    sel->online = online;
    for (int i = 0; i < 3; i++)
        sel->override[i] = override ? override[i] : 0;
    forced_ctx fc = {sel, message, size};
    usine_select_error err = (usine_select_error)for_each_name(forced, take_forced, &fc);
    if (err)
        return err;
    for (const usine_gemm_kernel *const *k = usine_gemm_registry; *k; k++) {
        const int d = usine_select_dtype_index((*k)->in_type);
        if (d >= 0 && !sel->model[d] && (*k)->isa <= cap)
            sel->model[d] = *k;
    }
    for (int d = 0; d < USINE_SELECT_DTYPES; d++) /* bf16 may fall back to f32, not the others */
        if (d != 2 && !sel->model[d]) {
            snprintf(message, size, "no GEMM kernel for %s at ISA %s",
                     usine_select_dtype_name(family_types[d]), usine_cpu_isa_name(cap));
            return USINE_SELECT_NO_KERNEL;
        }
    set_model_blocking(sel);
    if (read_db) {
        char path[1024];
        if (usine_db_user_path(path, sizeof path))
            read_database(sel, path);
        read_database(sel, usine_db_system_path());
    }
    return USINE_SELECT_OK;
}

const char *usine_select_library_version(void)
{
    return LIBRARY_VERSION;
}

void usine_selector_free(usine_selector *sel)
{
    usine_tune_table_free(&sel->table);
    pthread_mutex_destroy(&sel->lock);
}

void usine_select_key(usine_dtype dtype, int64_t m, int64_t n, int64_t k, int threads,
                      usine_tune_key *key)
{
    memset(key, 0, sizeof *key);
    snprintf(key->fingerprint, sizeof key->fingerprint, "%s", usine_fingerprint_get()->hash);
    snprintf(key->version, sizeof key->version, "%s", LIBRARY_VERSION);
    snprintf(key->op, sizeof key->op, "gemm");
    snprintf(key->dtypes, sizeof key->dtypes, "%s", usine_select_dtype_name(dtype));
    key->threads = threads;
    key->mclass = usine_shape_class(m);
    key->nclass = usine_shape_class(n);
    key->kclass = usine_shape_class(k);
}

void usine_selector_add(usine_selector *sel, const usine_tune_entry *entry)
{
    pthread_mutex_lock(&sel->lock);
    usine_tune_table_put(&sel->table, entry); /* out of memory: the entry is just not kept */
    pthread_mutex_unlock(&sel->lock);
}

/* ------------------------------------------------------------------ choosing */

static void set_rule(usine_gemm_choice *c, usine_select_rule rule)
{
    c->rule_id = rule;
    c->rule = rule_names[rule];
}

void usine_select_model(const usine_selector *sel, usine_dtype dtype, usine_gemm_choice *c)
{
    memset(c, 0, sizeof *c);
    const int d = usine_select_family(sel, dtype);
    c->kernel = sel->model[d];
    c->blocking = sel->model_blocking[d];
    set_rule(c, sel->model_rule[d]);
}

/* The blocking of USINE_GEMM_BLOCKING for a kernel: MC and NC rounded up to its tile. */
static usine_gemm_blocking override_blocking(const usine_selector *sel, const usine_gemm_kernel *k)
{
    usine_gemm_blocking b = {0, 0, 0, 0};
    b.mc = (sel->override[0] + k->mr - 1) / k->mr * k->mr;
    b.kc = sel->override[1];
    b.nc = (sel->override[2] + k->nr - 1) / k->nr * k->nr;
    return b;
}

/* A database entry usable here: its kernel exists, is of the family and fits the cap. */
static const usine_gemm_kernel *entry_kernel(const usine_selector *sel, const usine_tune_entry *e,
                                             int family)
{
    const usine_gemm_kernel *k = usine_gemm_kernel_by_name(e->kernel);
    return k && usine_select_dtype_index(k->in_type) == family && k->isa <= sel->cap ? k : NULL;
}

static int class_distance(const usine_tune_key *a, const usine_tune_key *b)
{
    return abs(a->mclass - b->mclass) + abs(a->nclass - b->nclass) + abs(a->kclass - b->kclass);
}

/* Exact, else nearest tuned entry; 0 if none qualifies. */
static int select_tuned(usine_selector *sel, int family, const usine_tune_key *key,
                        usine_gemm_choice *c)
{
    const usine_tune_entry *best = NULL;
    const usine_gemm_kernel *best_kernel = NULL;
    int best_distance = NEAREST_MAX_DISTANCE + 1;
    for (size_t i = 0; i < sel->table.count && best_distance > 0; i++) {
        const usine_tune_entry *e = &sel->table.entries[i];
        if (e->key.threads != key->threads || strcmp(e->key.dtypes, key->dtypes) != 0 ||
            strcmp(e->key.op, key->op) != 0)
            continue;
        const int d = class_distance(&e->key, key);
        const usine_gemm_kernel *k = d < best_distance ? entry_kernel(sel, e, family) : NULL;
        if (k) {
            best = e;
            best_kernel = k;
            best_distance = d;
        }
    }
    if (!best)
        return 0;
    c->kernel = best_kernel;
    c->blocking = (usine_gemm_blocking){best->mc, best->kc, best->nc, best->pack};
    c->entry = *best;
    set_rule(c, best_distance == 0 ? USINE_RULE_EXACT : USINE_RULE_NEAREST);
    return 1;
}

void usine_select_gemm(usine_selector *sel, usine_dtype dtype, int64_t m, int64_t n, int64_t k,
                       int threads, usine_gemm_choice *c)
{
    const int d = usine_select_family(sel, dtype);
    memset(c, 0, sizeof *c);
    if (sel->forced[d]) {
        c->kernel = sel->forced[d];
        c->blocking = sel->override[0] ? override_blocking(sel, c->kernel)
                                       : usine_model_gemm_blocking(usine_topology_get(), c->kernel);
        set_rule(c, USINE_RULE_FORCED);
        return;
    }
    if (sel->override[0]) {
        c->kernel = sel->model[d];
        c->blocking = override_blocking(sel, c->kernel);
        set_rule(c, USINE_RULE_OVERRIDE);
        return;
    }
    if (sel->online)
        pthread_mutex_lock(&sel->lock);
    int tuned = 0;
    if (sel->table.count > 0) { /* the key (four string copies) only for a table to search */
        usine_tune_key key;
        usine_select_key(dtype, m, n, k, threads, &key);
        tuned = select_tuned(sel, d, &key, c);
    }
    if (sel->online)
        pthread_mutex_unlock(&sel->lock);
    if (!tuned)
        usine_select_model(sel, dtype, c);
}
