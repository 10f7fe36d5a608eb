/*
 * Selection order (forced > override > exact > nearest > model), the rules' limits
 * (thread count, distance, ISA cap, other machines), the database being read once, and
 * the no-counter path forced with USINE_PAPI=off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "../../autotune/counters.h"
#include "../../autotune/fingerprint.h"
#include "../../autotune/attention_tune.h"
#include "../../autotune/select.h"
#include "../../kernels/cpu/attention/attention_driver.h"
#include "../../kernels/cpu/gemm/gemm_registry.h"

static char db_path[256];

static usine_tune_entry entry(const char *fp, int mclass, int nclass, int kclass, int threads,
                              const char *kernel, int64_t mc)
{
    usine_tune_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.key.fingerprint, sizeof e.key.fingerprint, "%s", fp);
    snprintf(e.key.version, sizeof e.key.version, "%d.%d.%d", USINE_VERSION_MAJOR,
             USINE_VERSION_MINOR, USINE_VERSION_PATCH);
    snprintf(e.key.op, sizeof e.key.op, "gemm");
    snprintf(e.key.dtypes, sizeof e.key.dtypes, "f32");
    e.key.threads = threads;
    e.key.mclass = mclass;
    e.key.nclass = nclass;
    e.key.kclass = kclass;
    snprintf(e.kernel, sizeof e.kernel, "%s", kernel);
    e.mc = mc;
    e.kc = 128;
    e.nc = 512;
    e.gflops = 10;
    e.model_gflops = 9;
    for (int c = 0; c < USINE_CTR_COUNT; c++)
        e.counters[c] = -1;
    return e;
}

static void write_db(usine_tune_entry *entries, size_t count)
{
    usine_tune_table t = {entries, count, count};
    char error[256];
    unlink(db_path);
    if (usine_db_merge(db_path, &t, NULL, error, sizeof error) != 0) {
        fprintf(stderr, "cannot write the test database: %s\n", error);
        exit(1);
    }
}

static usine_gemm_choice pick(usine_selector *sel, int64_t m, int64_t n, int64_t k, int threads)
{
    usine_gemm_choice c;
    usine_select_gemm(sel, USINE_F32, m, n, k, threads, &c);
    return c;
}

static void order(usine_cpu_isa isa)
{
    const char *fp = usine_fingerprint_get()->hash;
    /* A kernel other than the model's first choice, so that the rules can be told apart. */
    const char *tuned =
        isa >= USINE_ISA_AVX512 ? "usine_sgemm_cpu_avx512_32x12" : "usine_sgemm_cpu_generic_8x4";
    usine_tune_entry e[] = {
        entry(fp, 11, 11, 11, 1, tuned, 96),
        entry(fp, 8, 8, 8, 1, "usine_sgemm_cpu_generic_8x4", 64),
        entry("ffffffffffffffff", 6, 6, 6, 1, "usine_sgemm_cpu_generic_8x4", 8), /* foreign */
        entry(fp, 14, 14, 14, 1, "usine_sgemm_cpu_avx512_48x8", 48),             /* cap test */
    };
    write_db(e, 4);
    usine_selector sel;
    char msg[256];
    CHECK(usine_selector_init(&sel, isa, NULL, NULL, 1, 0, msg, sizeof msg) == USINE_SELECT_OK,
          "selector: %s", msg);
    usine_gemm_choice c = pick(&sel, 2048, 2048, 2048, 1);
    CHECK(c.rule_id == USINE_RULE_EXACT && strcmp(c.kernel->name, tuned) == 0 &&
              c.blocking.mc == 96,
          "exact entry: rule '%s' kernel %s", c.rule, c.kernel->name);
    c = pick(&sel, 4096, 2048, 3000, 1); /* classes 12, 11, 11: one doubling away */
    CHECK(c.rule_id == USINE_RULE_NEAREST && c.blocking.mc == 96, "nearest: rule '%s'", c.rule);
    c = pick(&sel, 2048, 2048, 2048, 2);
    CHECK(c.rule_id == USINE_RULE_MODEL, "other thread count: model, got '%s'", c.rule);
    c = pick(&sel, 64, 64, 64, 1); /* (8,8,8) is six doublings away; (6,6,6) is foreign */
    CHECK(c.rule_id == USINE_RULE_MODEL, "too far and foreign entries: model, got '%s'", c.rule);
    c = pick(&sel, 16384, 16384, 16384, 1);
    if (isa < USINE_ISA_AVX512)
        CHECK(c.rule_id == USINE_RULE_MODEL && c.kernel->isa <= isa,
              "an entry whose kernel the ISA cap forbids is skipped: '%s' %s", c.rule,
              c.kernel->name);
    else
        CHECK(c.rule_id == USINE_RULE_EXACT, "an allowed kernel entry is used: '%s'", c.rule);

    /* Read once: a database changed afterwards does not affect this selector. */
    write_db(e + 1, 1);
    c = pick(&sel, 2048, 2048, 2048, 1);
    CHECK(c.rule_id == USINE_RULE_EXACT, "the selector keeps what it read: '%s'", c.rule);
    usine_selector_free(&sel);
    write_db(e, 4);

    /* Forced and override come before the database. */
    const int64_t override[3] = {100, 200, 300};
    CHECK(usine_selector_init(&sel, isa, NULL, override, 1, 0, msg, sizeof msg) == 0, "%s", msg);
    c = pick(&sel, 2048, 2048, 2048, 1);
    CHECK(c.rule_id == USINE_RULE_OVERRIDE && c.blocking.kc == 200 &&
              c.blocking.mc % c.kernel->mr == 0 && c.blocking.mc >= 100,
          "override: rule '%s' mc %lld", c.rule, (long long)c.blocking.mc);
    usine_selector_free(&sel);
    CHECK(usine_selector_init(&sel, isa, "usine_sgemm_cpu_generic_8x4", NULL, 1, 0, msg,
                              sizeof msg) == 0,
          "%s", msg);
    c = pick(&sel, 2048, 2048, 2048, 1);
    CHECK(c.rule_id == USINE_RULE_FORCED &&
              strcmp(c.kernel->name, "usine_sgemm_cpu_generic_8x4") == 0,
          "forced: rule '%s'", c.rule);
    usine_selector_free(&sel);
    /* USINE_TUNE=off: the database is not read. */
    CHECK(usine_selector_init(&sel, isa, NULL, NULL, 0, 0, msg, sizeof msg) == 0, "%s", msg);
    c = pick(&sel, 2048, 2048, 2048, 1);
    CHECK(c.rule_id == USINE_RULE_MODEL, "without the database: model, got '%s'", c.rule);
    usine_selector_free(&sel);
}

/* The public API follows the database too (USINE_TUNE_DB read by usine_create). */
static void through_the_api(void)
{
    const char *fp = usine_fingerprint_get()->hash;
    usine_tune_entry e = entry(fp, 10, 10, 10, 1, "usine_sgemm_cpu_generic_8x4", 64);
    write_db(&e, 1);
    usine_context_options o;
    usine_context_options_init(&o);
    o.num_threads = 1;
    usine_context *ctx = NULL;
    CHECK(usine_create(&ctx, &o) == USINE_SUCCESS, "%s", usine_last_error());
    const char *name = NULL;
    usine_gemm_kernel_name(ctx, USINE_F32, 1500, 1500, 1500, &name);
    CHECK(name && strcmp(name, "usine_sgemm_cpu_generic_8x4") == 0,
          "usine_gemm_kernel_name follows the tuned entry: %s", name ? name : "?");
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 0, 0, 1}, cc[4];
    CHECK(usine_gemm(ctx, USINE_F32, USINE_COL_MAJOR, USINE_NO_TRANS, USINE_NO_TRANS, 2, 2, 2, 1.0,
                     a, 2, b, 2, 0.0, cc, 2) == USINE_SUCCESS &&
              cc[3] == 4,
          "a call works with the database in place");
    usine_destroy(ctx);
    setenv("USINE_TUNE", "off", 1);
    usine_create(&ctx, &o);
    usine_gemm_kernel_name(ctx, USINE_F32, 1500, 1500, 1500, &name);
    CHECK(name && (strcmp(name, "usine_sgemm_cpu_generic_8x4") != 0 ||
                   usine_cpu_isa_detect() == USINE_ISA_GENERIC),
          "USINE_TUNE=off ignores the database: %s", name ? name : "?");
    usine_destroy(ctx);
    unsetenv("USINE_TUNE");
    /* A corrupt database warns and falls back: creation still succeeds. */
    FILE *f = fopen(db_path, "w");
    fputs("\x89PNG\r\n garbage", f);
    fclose(f);
    fprintf(stderr, "  (a warning about the corrupt database is expected)\n");
    CHECK(usine_create(&ctx, &o) == USINE_SUCCESS, "a corrupt database is not fatal");
    usine_gemm_kernel_name(ctx, USINE_F32, 1500, 1500, 1500, &name);
    CHECK(name != NULL, "and the model chooses");
    usine_destroy(ctx);
}

/* Attention's block: override > exact > nearest (same op, dtype and kernel only) > the
 * default; a tuned entry keyed t1 serves every thread count; USINE_ATTN_BLOCK is checked. */
static void attention_blocks(void)
{
    const char *fp = usine_fingerprint_get()->hash;
    const usine_attn_kernel *kr = usine_cpu_attn_kernel(usine_cpu_isa_detect(), USINE_F32);
    usine_tune_entry e[3];
    for (int i = 0; i < 3; i++) {
        e[i] = entry(fp, 12, 12, 7, 1, kr->name, 0);
        snprintf(e[i].key.op, sizeof e[i].key.op, "attn_fwd");
        e[i].mc = e[i].kc = e[i].nc = 0;
        e[i].block = 128;
    }
    snprintf(e[1].key.op, sizeof e[1].key.op, "attn_bwd"); /* 12, 12, 7 backward: 32 */
    e[1].block = 32;
    snprintf(e[2].kernel, sizeof e[2].kernel, "usine_attn_fwd_no_such_kernel");
    e[2].key.kclass = 6; /* another kernel's entry: never used */
    e[2].block = 16;
    write_db(e, 3);
    usine_selector sel;
    char msg[256];
    CHECK(usine_selector_init(&sel, usine_cpu_isa_detect(), NULL, NULL, 1, 0, msg, sizeof msg) ==
              USINE_SELECT_OK,
          "selector: %s", msg);
    usine_attn_choice c;
    usine_select_attention(&sel, kr, 0, USINE_F32, 4096, 4096, 128, &c);
    CHECK(c.rule_id == USINE_RULE_EXACT && c.block == 128, "attention exact: %s %d", c.rule,
          c.block);
    usine_select_attention(&sel, kr, 1, USINE_F32, 4096, 4096, 128, &c);
    CHECK(c.rule_id == USINE_RULE_EXACT && c.block == 32, "backward entry: %s %d", c.rule, c.block);
    usine_select_attention(&sel, kr, 0, USINE_F32, 8192, 4096, 128, &c);
    CHECK(c.rule_id == USINE_RULE_NEAREST && c.block == 128, "attention nearest: %s", c.rule);
    usine_select_attention(&sel, kr, 0, USINE_F32, 4096, 4096, 64, &c);
    CHECK(c.rule_id == USINE_RULE_NEAREST && c.block == 128,
          "another kernel's entry is not used: %s %d", c.rule, c.block);
    usine_select_attention(&sel, kr, 0, USINE_BF16, 4096, 4096, 128, &c);
    CHECK(c.rule_id == USINE_RULE_MODEL && c.block == USINE_ATTN_BLOCK_DEFAULT,
          "other dtype: default, got %s %d", c.rule, c.block);
    usine_select_attention(&sel, kr, 0, USINE_F32, 256, 256, 32, &c);
    CHECK(c.rule_id == USINE_RULE_MODEL, "too far: default, got %s", c.rule);
    sel.attn_block = 48;
    usine_select_attention(&sel, kr, 0, USINE_F32, 4096, 4096, 128, &c);
    CHECK(c.rule_id == USINE_RULE_OVERRIDE && c.block == 48, "override: %s %d", c.rule, c.block);
    usine_selector_free(&sel);

    /* Through the environment: bad values are refused with a message naming the variable. */
    const char *const bad[] = {"24", "0", "512", "64k", "-64"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("USINE_ATTN_BLOCK", bad[i], 1);
        usine_context *ctx = NULL;
        CHECK(usine_create(&ctx, NULL) == USINE_ERROR_INVALID_ARGUMENT && ctx == NULL &&
                  strstr(usine_last_error(), "USINE_ATTN_BLOCK"),
              "USINE_ATTN_BLOCK=%s refused: %s", bad[i], usine_last_error());
    }
    unsetenv("USINE_ATTN_BLOCK");
}

static void no_counters(void)
{
    /* USINE_PAPI=off is set by ctest for this program: the probe must honour it. */
    const usine_counters_status *s = usine_counters_probe();
    CHECK(s->usable_count == 0 && strstr(s->summary, "none"), "no counters: %s", s->summary);
    usine_counters_run run;
    long long v[USINE_CTR_COUNT];
    CHECK(usine_counters_begin(&run) == 0, "begin counts nothing");
    usine_counters_end(&run, v);
    CHECK(v[USINE_CTR_CYCLES] == -1 && v[USINE_CTR_FP_OPS] == -1, "values are -1");
}

int main(void)
{
    snprintf(db_path, sizeof db_path, "/tmp/usine_test_select.%ld.db", (long)getpid());
    setenv("USINE_TUNE_DB", db_path, 1);
    unsetenv("USINE_KERNEL");
    unsetenv("USINE_GEMM_BLOCKING");
    const usine_cpu_isa detected = usine_cpu_isa_detect();
    for (int isa = 0; isa <= (int)detected; isa++)
        order((usine_cpu_isa)isa);
    through_the_api();
    attention_blocks();
    no_counters();
    unlink(db_path);
    char lock[300];
    snprintf(lock, sizeof lock, "%s.lock", db_path);
    unlink(lock);
    return test_finish("test_select");
}
