/*
 * The tuning database: format round trip, readers that skip corrupt, truncated, foreign
 * and other-version content, the header check, and concurrent writers that lose nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"
#include "../../autotune/db.h"

static char dir[256];

static usine_tune_entry entry(const char *fp, const char *version, int mclass, int threads)
{
    usine_tune_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.key.fingerprint, sizeof e.key.fingerprint, "%s", fp);
    snprintf(e.key.version, sizeof e.key.version, "%s", version);
    snprintf(e.key.op, sizeof e.key.op, "gemm");
    snprintf(e.key.dtypes, sizeof e.key.dtypes, "f32");
    e.key.threads = threads;
    e.key.mclass = mclass;
    e.key.nclass = 11;
    e.key.kclass = 10;
    snprintf(e.kernel, sizeof e.kernel, "usine_sgemm_cpu_generic_8x4");
    e.mc = 96;
    e.kc = 256;
    e.nc = 1024;
    e.gflops = 12.5;
    e.model_gflops = 11.75;
    for (int c = 0; c < USINE_CTR_COUNT; c++)
        e.counters[c] = c == 0 ? 123456789 : -1;
    e.time = 1764000000;
    return e;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void round_trip(void)
{
    const usine_tune_entry e = entry("0123456789abcdef", "0.1.0", 11, 2);
    char line[1024];
    usine_db_format_entry(&e, line, sizeof line);
    usine_tune_entry back;
    CHECK(usine_db_parse_entry(line, &back) == 0, "a formatted entry parses: %s", line);
    CHECK(usine_tune_key_equal(&e.key, &back.key) && strcmp(e.kernel, back.kernel) == 0 &&
              back.mc == 96 && back.kc == 256 && back.nc == 1024 && back.gflops == 12.5 &&
              back.counters[0] == 123456789 && back.counters[1] == -1 && back.time == e.time,
          "round trip keeps every field");
    /* Each field broken in turn must be rejected. */
    static const char *const bad[] = {
        "E\t0123456789abcdef\t0.1.0\tgemm\tf32\tt2\tm11n11k10", /* truncated */
        "E\t0123456789abcde\t0.1.0\tgemm\tf32\tt2\tm11n11k10\tk\tmc=1,kc=1,nc=1,pack=0\t1\t1\t"
        "cycles=1,instructions=1,l1d_misses=1,l2_misses=1,l3_misses=1,fp_ops=1\t1", /* short fp */
        "E\t0123456789abcdef\t0.1.0\tgemm\tf32\tt0\tm11n11k10\tk\tmc=1,kc=1,nc=1,pack=0\t1\t1\t"
        "cycles=1,instructions=1,l1d_misses=1,l2_misses=1,l3_misses=1,fp_ops=1\t1", /* 0 threads */
        "E\t0123456789abcdef\t0.1.0\tgemm\tf32\tt2\tm11n11k10\tk\tmc=1,kc=0,nc=1,pack=0\t1\t1\t"
        "cycles=1,instructions=1,l1d_misses=1,l2_misses=1,l3_misses=1,fp_ops=1\t1", /* kc 0 */
        "E\t0123456789abcdef\t0.1.0\tgemm\tf32\tt2\tm11n11k10\tk\tmc=1,kc=1,nc=1,pack=0\tnan\t1\t"
        "cycles=1,instructions=1,l1d_misses=1,l2_misses=1,l3_misses=1,fp_ops=1\t1", /* NaN */
        "E\t0123456789abcdef\t0.1.0\tgemm\tf32\tt2\tm11n11k10\tk\tmc=1,kc=1,nc=1,pack=0\t1\t1\t"
        "cycles=1,instructions=1\t1", /* counters cut */
        "E\t0123456789abcdef\t0.1.0\tgemm\tf32\tt2\tm11n11k10\tk\tmc=1,kc=1,nc=1,pack=0\t1\t1\t"
        "cycles=1,instructions=1,l1d_misses=1,l2_misses=1,l3_misses=1,fp_ops=1\t1\textra",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(usine_db_parse_entry(bad[i], &back) != 0, "corrupt line %zu rejected", i);
}

/* Attention entries carry one parameter, block=N: round trip, and bad blocks or GEMM
 * parameters on an attention op rejected. */
static void attention_round_trip(void)
{
    usine_tune_entry e = entry("0123456789abcdef", "0.1.0", 12, 1);
    snprintf(e.key.op, sizeof e.key.op, "attn_fwd");
    snprintf(e.kernel, sizeof e.kernel, "usine_attn_fwd_f32_cpu_avx512_48x8");
    e.mc = e.kc = e.nc = 0;
    e.block = 128;
    char line[1024];
    usine_db_format_entry(&e, line, sizeof line);
    CHECK(strstr(line, "\tblock=128\t") != NULL, "attention params written as block=N: %s", line);
    usine_tune_entry back;
    CHECK(usine_db_parse_entry(line, &back) == 0 && back.block == 128 &&
              strcmp(back.key.op, "attn_fwd") == 0 && usine_tune_key_equal(&e.key, &back.key),
          "an attention entry round-trips: %s", line);
    static const char *const bad_params[] = {"block=0", "block=-16", "block=64x",
                                             "mc=1,kc=1,nc=1,pack=0"};
    for (size_t i = 0; i < sizeof bad_params / sizeof bad_params[0]; i++) {
        char broken[1024];
        snprintf(broken, sizeof broken,
                 "E\t0123456789abcdef\t0.1.0\tattn_bwd\tf32\tt1\tm12n12k7\tk\t%s\t1\t1\t"
                 "cycles=1,instructions=1,l1d_misses=1,l2_misses=1,l3_misses=1,fp_ops=1\t1",
                 bad_params[i]);
        CHECK(usine_db_parse_entry(broken, &back) != 0, "attention params '%s' rejected",
              bad_params[i]);
    }
}

/* A file with good entries, a foreign machine, another version, garbage and a truncated
 * last line: only the good matching entries are read, the rest counted or ignored. */
static void readers_skip_bad_lines(void)
{
    char path[512], line[1024], text[8192];
    snprintf(path, sizeof path, "%s/mixed.db", dir);
    size_t used = (size_t)snprintf(text, sizeof text, "%s\n", USINE_DB_HEADER);
    const usine_tune_entry good1 = entry("00000000000000aa", "0.1.0", 8, 1);
    const usine_tune_entry good2 = entry("00000000000000aa", "0.1.0", 9, 1);
    const usine_tune_entry foreign = entry("00000000000000bb", "0.1.0", 8, 1);
    const usine_tune_entry old = entry("00000000000000aa", "0.0.9", 8, 1);
    const usine_tune_entry *all[] = {&good1, &foreign, &old, &good2};
    for (int i = 0; i < 4; i++) {
        usine_db_format_entry(all[i], line, sizeof line);
        used += (size_t)snprintf(text + used, sizeof text - used, "%s\n", line);
        if (i == 1)
            used += (size_t)snprintf(text + used, sizeof text - used,
                                     "\x01\xfe garbage \xff\n# a comment\n\n");
    }
    usine_db_format_entry(&good1, line, sizeof line);
    line[strlen(line) / 2] = '\0'; /* a writer killed mid-line */
    used += (size_t)snprintf(text + used, sizeof text - used, "%s", line);
    write_file(path, text);
    usine_tune_table t = {0};
    size_t skipped = 0;
    CHECK(usine_db_read(path, "00000000000000aa", "0.1.0", &t, &skipped) == 0, "mixed file read");
    CHECK(t.count == 2 && skipped == 2, "2 good entries, 2 bad lines: got %zu entries, %zu skipped",
          t.count, skipped);
    usine_tune_table_free(&t);

    snprintf(path, sizeof path, "%s/random.db", dir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 4096; i++)
        fputc((int)(test_rand_u64() & 0xff), f);
    fclose(f);
    skipped = 0;
    CHECK(usine_db_read(path, NULL, NULL, &t, &skipped) == -1 && t.count == 0,
          "random bytes are not a database");
    snprintf(path, sizeof path, "%s/version.db", dir);
    write_file(path, "# usine-tune-db 999\n");
    CHECK(usine_db_read(path, NULL, NULL, &t, &skipped) == -1, "unknown format version refused");
    snprintf(path, sizeof path, "%s/absent.db", dir);
    CHECK(usine_db_read(path, NULL, NULL, &t, &skipped) == 0 && t.count == 0,
          "a missing file is an empty database");
}

/* Four processes merge 50 entries each into one file at the same time: all 200 remain. */
static void concurrent_writers(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/sub/dir/concurrent.db", dir);
    for (int p = 0; p < 4; p++) {
        if (fork() != 0)
            continue;
        char error[256];
        for (int i = 0; i < 50; i++) {
            usine_tune_entry e = entry("00000000000000cc", "0.1.0", i % 25, 1 + p * 2 + i / 25);
            usine_tune_table one = {&e, 1, 1};
            if (usine_db_merge(path, &one, NULL, error, sizeof error) != 0) {
                fprintf(stderr, "writer %d: %s\n", p, error);
                _exit(1);
            }
        }
        _exit(0);
    }
    int failures = 0, status;
    while (wait(&status) > 0)
        failures += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    CHECK(failures == 0, "%d writers failed", failures);
    usine_tune_table t = {0};
    size_t skipped = 0;
    CHECK(usine_db_read(path, NULL, NULL, &t, &skipped) == 0, "merged file reads");
    CHECK(t.count == 200 && skipped == 0, "4 x 50 entries: %zu kept, %zu corrupt", t.count,
          skipped);
    usine_tune_table_free(&t);
}

/* Merging over a file that is not a database moves it aside, never overwrites it. */
static void foreign_file_kept(void)
{
    char path[512], aside[600], error[256];
    snprintf(path, sizeof path, "%s/precious.txt", dir);
    write_file(path, "somebody's notes\n");
    usine_tune_entry e = entry("00000000000000dd", "0.1.0", 5, 1);
    usine_tune_table one = {&e, 1, 1};
    fprintf(stderr, "  (a warning about precious.txt is expected)\n");
    CHECK(usine_db_merge(path, &one, NULL, error, sizeof error) == 0, "merge: %s", error);
    snprintf(aside, sizeof aside, "%s.not-a-db.%ld", path, (long)getpid());
    FILE *f = fopen(aside, "r");
    char buf[64] = {0};
    CHECK(f && fgets(buf, sizeof buf, f) && strcmp(buf, "somebody's notes\n") == 0,
          "the original file is kept beside the new database");
    if (f)
        fclose(f);
    usine_tune_table t = {0};
    size_t skipped = 0;
    CHECK(usine_db_read(path, NULL, NULL, &t, &skipped) == 0 && t.count == 1, "new database");
    usine_tune_table_free(&t);
    /* --clear: one machine's entries go, the others stay. */
    usine_tune_entry other = entry("00000000000000ee", "0.1.0", 5, 1);
    usine_tune_table two = {&other, 1, 1};
    usine_db_merge(path, &two, NULL, error, sizeof error);
    usine_tune_table none = {0};
    usine_db_merge(path, &none, "00000000000000dd", error, sizeof error);
    usine_db_read(path, NULL, NULL, &t, &skipped);
    CHECK(t.count == 1 && strcmp(t.entries[0].key.fingerprint, "00000000000000ee") == 0,
          "clear removes only the named machine's entries");
    usine_tune_table_free(&t);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/usine_test_db.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    CHECK(usine_shape_class(1) == 0 && usine_shape_class(2048) == 11 &&
              usine_shape_class(2047) == 10 && usine_shape_class(8457) == 13,
          "shape classes are floor(log2)");
    round_trip();
    attention_round_trip();
    readers_skip_bad_lines();
    concurrent_writers();
    foreign_file_kept();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("test_db");
}
