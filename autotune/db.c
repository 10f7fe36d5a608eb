#include "db.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef USINE_SYSTEM_TUNE_DB
#define USINE_SYSTEM_TUNE_DB "/usr/local/share/usine/tune.db"
#endif

/* Longest line a valid entry can have; longer lines are corrupt by definition. */
#define MAX_LINE 1024
#define FIELDS   13

int usine_shape_class(int64_t x)
{
    int c = 0;
    while (x > 1) {
        x >>= 1;
        c++;
    }
    return c;
}

int usine_db_user_path(char *out, size_t size)
{
    const char *env = getenv("USINE_TUNE_DB");
    if (env && *env)
        return snprintf(out, size, "%s", env) < (int)size;
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg)
        return snprintf(out, size, "%s/usine/tune.db", xdg) < (int)size;
    const char *home = getenv("HOME");
    if (home && *home)
        return snprintf(out, size, "%s/.cache/usine/tune.db", home) < (int)size;
    return 0;
}

const char *usine_db_system_path(void)
{
    return USINE_SYSTEM_TUNE_DB;
}

int usine_tune_key_equal(const usine_tune_key *a, const usine_tune_key *b)
{
    return a->threads == b->threads && a->mclass == b->mclass && a->nclass == b->nclass &&
           a->kclass == b->kclass && strcmp(a->fingerprint, b->fingerprint) == 0 &&
           strcmp(a->version, b->version) == 0 && strcmp(a->op, b->op) == 0 &&
           strcmp(a->dtypes, b->dtypes) == 0;
}

/* ------------------------------------------------------------------ table */

static usine_tune_entry *find(usine_tune_table *t, const usine_tune_key *key)
{
    for (size_t i = 0; i < t->count; i++)
        if (usine_tune_key_equal(&t->entries[i].key, key))
            return &t->entries[i];
    return NULL;
}

int usine_tune_table_put(usine_tune_table *t, const usine_tune_entry *e)
{
    usine_tune_entry *same = find(t, &e->key);
    if (same) {
        *same = *e;
        return 0;
    }
    if (t->count == t->capacity) {
        const size_t capacity = t->capacity ? 2 * t->capacity : 64;
        usine_tune_entry *grown = (usine_tune_entry *)realloc(t->entries, capacity * sizeof *grown);
        if (!grown)
            return -1;
        t->entries = grown;
        t->capacity = capacity;
    }
    t->entries[t->count++] = *e;
    return 0;
}

void usine_tune_table_free(usine_tune_table *t)
{
    free(t->entries);
    t->entries = NULL;
    t->count = t->capacity = 0;
}

/* ------------------------------------------------------------------ one line */

/* Each op's params form; ops not listed (gemm) have blockings. */
static const struct {
    const char *op;
    usine_db_params_form form;
} params_forms[] = {
    {"attn_fwd", USINE_DB_PARAMS_BLOCK},        {"attn_bwd", USINE_DB_PARAMS_BLOCK},
    {"conv_fwd", USINE_DB_PARAMS_ALGO},         {"conv_bwd_data", USINE_DB_PARAMS_ALGO},
    {"conv_bwd_weights", USINE_DB_PARAMS_ALGO},
};

usine_db_params_form usine_db_params_form_of(const char *op)
{
    for (size_t i = 0; i < sizeof params_forms / sizeof params_forms[0]; i++)
        if (strcmp(op, params_forms[i].op) == 0)
            return params_forms[i].form;
    return USINE_DB_PARAMS_BLOCKING;
}

static void format_params(const usine_tune_entry *e, char *out, size_t size)
{
    switch (usine_db_params_form_of(e->key.op)) {
    case USINE_DB_PARAMS_BLOCK:
        snprintf(out, size, "block=%" PRId64, e->block);
        break;
    case USINE_DB_PARAMS_ALGO:
        snprintf(out, size, "%s", e->params);
        break;
    default:
        snprintf(out, size, "mc=%" PRId64 ",kc=%" PRId64 ",nc=%" PRId64 ",pack=%d", e->mc, e->kc,
                 e->nc, e->pack);
    }
}

void usine_db_format_entry(const usine_tune_entry *e, char *out, size_t size)
{
    char counters[256];
    size_t used = 0;
    counters[0] = '\0';
    for (int c = 0; c < USINE_CTR_COUNT && used < sizeof counters; c++)
        used += (size_t)snprintf(counters + used, sizeof counters - used, "%s%s=%lld", c ? "," : "",
                                 usine_counter_name((usine_counter)c), e->counters[c]);
    char params[128];
    format_params(e, params, sizeof params);
    snprintf(out, size, "E\t%s\t%s\t%s\t%s\tt%d\tm%dn%dk%d\t%s\t%s\t%.3f\t%.3f\t%s\t%lld",
             e->key.fingerprint, e->key.version, e->key.op, e->key.dtypes, e->key.threads,
             e->key.mclass, e->key.nclass, e->key.kclass, e->kernel, params, e->gflops,
             e->model_gflops, counters, e->time);
}

/* Splits line at tabs into fields (in place); returns the number of fields. */
static int split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    for (char *p = line;; p++) {
        if (n == max)
            return max + 1; /* more fields than any valid line has */
        fields[n++] = p;
        p = strchr(p, '\t');
        if (!p)
            return n;
        *p = '\0';
    }
}

static int copy_word(char *dst, size_t size, const char *src)
{
    const size_t len = strlen(src);
    if (len == 0 || len >= size)
        return -1;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)src[i] <= ' ')
            return -1;
    memcpy(dst, src, len + 1);
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return errno || end == s || *end ? -1 : 0;
}

static int parse_ll(const char *s, long long *out)
{
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno || end == s || *end ? -1 : 0;
}

int usine_db_is_attention(const char *op)
{
    return usine_db_params_form_of(op) == USINE_DB_PARAMS_BLOCK;
}

static int parse_block(const char *s, usine_tune_entry *e)
{
    char tail;
    return sscanf(s, "block=%" SCNd64 "%c", &e->block, &tail) == 1 && e->block > 0 &&
                   e->block <= 4096
               ? 0
               : -1;
}

/* "algo=NAME[,key=value...]": letters, digits and "_=,." only (no blank or tab gets in),
 * whole, and short enough to keep. */
static int parse_algo(const char *s, usine_tune_entry *e)
{
    const size_t len = strlen(s);
    if (strncmp(s, "algo=", 5) != 0 || len == 5 || len >= sizeof e->params)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_=,.", s[i]))
            return -1;
    memcpy(e->params, s, len + 1);
    return 0;
}

static int parse_blocking(const char *s, usine_tune_entry *e)
{
    char tail;
    return sscanf(s, "mc=%" SCNd64 ",kc=%" SCNd64 ",nc=%" SCNd64 ",pack=%d%c", &e->mc, &e->kc,
                  &e->nc, &e->pack, &tail) == 4 &&
                   e->mc > 0 && e->kc > 0 && e->nc > 0 && (e->pack == 0 || e->pack == 1)
               ? 0
               : -1;
}

static int parse_params(const char *s, usine_tune_entry *e)
{
    switch (usine_db_params_form_of(e->key.op)) {
    case USINE_DB_PARAMS_BLOCK:
        return parse_block(s, e);
    case USINE_DB_PARAMS_ALGO:
        return parse_algo(s, e);
    default:
        return parse_blocking(s, e);
    }
}

static int parse_counters(const char *s, usine_tune_entry *e)
{
    for (int c = 0; c < USINE_CTR_COUNT; c++) {
        const char *name = usine_counter_name((usine_counter)c);
        const size_t len = strlen(name);
        if (strncmp(s, name, len) != 0 || s[len] != '=')
            return -1;
        char *end;
        errno = 0;
        e->counters[c] = strtoll(s + len + 1, &end, 10);
        if (errno || end == s + len + 1 || *end != (c + 1 < USINE_CTR_COUNT ? ',' : '\0'))
            return -1;
        s = end + 1;
    }
    return 0;
}

int usine_db_parse_entry(const char *text, usine_tune_entry *e)
{
    char line[MAX_LINE];
    if (strlen(text) >= sizeof line)
        return -1;
    strcpy(line, text);
    char *f[FIELDS];
    if (split_tabs(line, f, FIELDS) != FIELDS || strcmp(f[0], "E") != 0)
        return -1;
    memset(e, 0, sizeof *e);
    char tail;
    if (copy_word(e->key.fingerprint, sizeof e->key.fingerprint, f[1]) || strlen(f[1]) != 16 ||
        copy_word(e->key.version, sizeof e->key.version, f[2]) ||
        copy_word(e->key.op, sizeof e->key.op, f[3]) ||
        copy_word(e->key.dtypes, sizeof e->key.dtypes, f[4]) ||
        sscanf(f[5], "t%d%c", &e->key.threads, &tail) != 1 || e->key.threads < 1 ||
        sscanf(f[6], "m%dn%dk%d%c", &e->key.mclass, &e->key.nclass, &e->key.kclass, &tail) != 3 ||
        e->key.mclass < 0 || e->key.nclass < 0 || e->key.kclass < 0 || e->key.mclass > 62 ||
        e->key.nclass > 62 || e->key.kclass > 62 || copy_word(e->kernel, sizeof e->kernel, f[7]) ||
        parse_params(f[8], e) || parse_double(f[9], &e->gflops) ||
        parse_double(f[10], &e->model_gflops) || !(e->gflops > 0) || !(e->model_gflops >= 0) ||
        parse_counters(f[11], e) || parse_ll(f[12], &e->time))
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ files */

/* Reads one line (without its newline) into buf; 1 if a line was read, 0 at the end.
 * *too_long is set when the line did not fit (the rest of it is consumed). */
static int read_line(FILE *f, char *buf, size_t size, int *too_long)
{
    *too_long = 0;
    if (!fgets(buf, (int)size, f))
        return 0;
    size_t len = strlen(buf);
    if (len > 0 && buf[len - 1] == '\n') {
        buf[len - 1] = '\0';
        return 1;
    }
    if (!feof(f)) { /* no newline before the buffer filled up */
        *too_long = 1;
        int ch;
        while ((ch = fgetc(f)) != EOF && ch != '\n')
            ;
    }
    return 1;
}

int usine_db_read(const char *path, const char *fingerprint, const char *version,
                  usine_tune_table *t, size_t *skipped)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[MAX_LINE];
    int too_long, rc = 0;
    if (!read_line(f, line, sizeof line, &too_long) || too_long ||
        strcmp(line, USINE_DB_HEADER) != 0) {
        fclose(f);
        return -1;
    }
    while (rc == 0 && read_line(f, line, sizeof line, &too_long)) {
        usine_tune_entry e;
        if (line[0] == '#' || (line[0] == '\0' && !too_long))
            continue;
        if (too_long || usine_db_parse_entry(line, &e) != 0) {
            (*skipped)++;
            continue;
        }
        if ((fingerprint && strcmp(e.key.fingerprint, fingerprint) != 0) ||
            (version && strcmp(e.key.version, version) != 0) || find(t, &e.key))
            continue;
        if (usine_tune_table_put(t, &e) != 0)
            rc = -2;
    }
    fclose(f);
    return rc;
}

/* mkdir -p of the directory holding path. */
static void make_parent_dirs(const char *path)
{
    char dir[1024];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(dir, 0755);
        *p = '/';
    }
}

static int write_all(const char *tmp, const usine_tune_table *all)
{
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%s\n", USINE_DB_HEADER);
    char line[MAX_LINE];
    for (size_t i = 0; i < all->count; i++) {
        usine_db_format_entry(&all->entries[i], line, sizeof line);
        fprintf(f, "%s\n", line);
    }
    int rc = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

int usine_db_merge(const char *path, const usine_tune_table *entries,
                   const char *remove_fingerprint, char *error, size_t error_size)
{
    char lock_path[1100], tmp[1100];
    if (snprintf(lock_path, sizeof lock_path, "%s.lock", path) >= (int)sizeof lock_path ||
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        snprintf(error, error_size, "database path too long: %s", path);
        return -1;
    }
    make_parent_dirs(path);
    const int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) {
        snprintf(error, error_size, "cannot lock %s: %s", lock_path, strerror(errno));
        if (lock >= 0)
            close(lock);
        return -1;
    }
    /* New entries first so that they win over the disk's copies of the same keys. */
    usine_tune_table all = {0};
    size_t skipped = 0;
    int rc = 0;
    for (size_t i = 0; i < entries->count && rc == 0; i++)
        rc = usine_tune_table_put(&all, &entries->entries[i]);
    usine_tune_table disk = {0};
    const int read = rc == 0 ? usine_db_read(path, NULL, NULL, &disk, &skipped) : 0;
    struct stat st;
    if (read == -1 && stat(path, &st) == 0 && st.st_size > 0) {
        /* Not a tuning database (corrupt, or a wrong USINE_TUNE_DB): moved aside, never
         * overwritten, so that nothing is lost. */
        char aside[1100];
        snprintf(aside, sizeof aside, "%s.not-a-db.%ld", path, (long)getpid());
        if (rename(path, aside) != 0) {
            snprintf(error, error_size,
                     "%s is not a usine tuning database and cannot be moved "
                     "aside: %s",
                     path, strerror(errno));
            rc = -1;
        } else {
            fprintf(stderr, "usine: warning: %s was not a usine tuning database: moved to %s\n",
                    path, aside);
        }
    }
    if (read == -2)
        rc = -1;
    for (size_t i = 0; i < disk.count && rc == 0; i++) {
        const usine_tune_entry *e = &disk.entries[i];
        if (remove_fingerprint && strcmp(e->key.fingerprint, remove_fingerprint) == 0)
            continue;
        if (!find(&all, &e->key))
            rc = usine_tune_table_put(&all, e);
    }
    if (rc == 0 && (write_all(tmp, &all) != 0 || rename(tmp, path) != 0)) {
        snprintf(error, error_size, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        rc = -1;
    } else if (rc != 0 && read != -1) {
        snprintf(error, error_size, "out of memory merging %s", path);
    }
    usine_tune_table_free(&disk);
    usine_tune_table_free(&all);
    flock(lock, LOCK_UN);
    close(lock);
    return rc;
}
