/* sched_getaffinity and CPU_COUNT are GNU extensions. */
#define _GNU_SOURCE
#include "machine.h"

#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../autotune/fingerprint.h"
#include "../core/context.h"
#include "../kernels/cpu/attention/attention_driver.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/* The first "model name" line of /proc/cpuinfo (what lscpu shows, hypervisor edits
 * included). */
static int read_proc_model(char *out, size_t size)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    int found = 0;
    if (!f)
        return 0;
    while (!found && fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon)
            continue;
        colon++;
        while (*colon == ' ' || *colon == '\t')
            colon++;
        snprintf(out, size, "%.*s", (int)strcspn(colon, "\n"), colon);
        found = out[0] != '\0';
    }
    fclose(f);
    return found;
}

#if defined(__x86_64__) || defined(__i386__)
static void read_cpuid(usine_bench_machine *m, int want_brand)
{
    unsigned int r[4];
    if (__get_cpuid(0, &r[0], &r[1], &r[2], &r[3])) {
        memcpy(m->vendor, &r[1], 4);
        memcpy(m->vendor + 4, &r[3], 4);
        memcpy(m->vendor + 8, &r[2], 4);
        m->vendor[12] = '\0';
    }
    if (__get_cpuid(1, &r[0], &r[1], &r[2], &r[3])) {
        const int base = (r[0] >> 8) & 0xf, ext = (r[0] >> 20) & 0xff;
        m->family = base == 0xf ? base + ext : base;
        m->model = (int)((r[0] >> 4) & 0xf);
        if (base == 0x6 || base == 0xf)
            m->model |= (int)((r[0] >> 16) & 0xf) << 4;
        m->stepping = (int)(r[0] & 0xf);
    }
    if (want_brand && __get_cpuid_max(0x80000000, NULL) >= 0x80000004) {
        char brand[49] = {0};
        for (unsigned int leaf = 0; leaf < 3; leaf++) {
            __get_cpuid(0x80000002 + leaf, &r[0], &r[1], &r[2], &r[3]);
            memcpy(brand + 16 * leaf, r, 16);
        }
        const char *p = brand;
        while (*p == ' ')
            p++;
        snprintf(m->cpu_model, sizeof m->cpu_model, "%s", p);
    }
}
#else
static void read_cpuid(usine_bench_machine *m, int want_brand)
{
    (void)m;
    (void)want_brand;
}
#endif

/* The choices a default context makes (the environment included). */
static void read_context(usine_bench_machine *m)
{
    usine_context *ctx = NULL;
    usine_context_options cpu_only; /* the CPU choices, whatever USINE_DEVICE says */
    usine_context_options_init(&cpu_only);
    cpu_only.device = "cpu";
    if (usine_create(&ctx, &cpu_only) != USINE_SUCCESS) {
        snprintf(m->context_error, sizeof m->context_error, "%s", usine_last_error());
        return;
    }
    m->context_ok = 1;
    m->isa_active = ctx->isa;
    m->default_threads = ctx->num_threads;
    m->gemm[0] = ctx->gemm[0];
    m->gemm[1] = ctx->gemm[1];
    usine_select_gemm(&ctx->selector, USINE_BF16, 2048, 2048, 2048, ctx->num_threads,
                      &m->gemm_lowp[0]);
    usine_select_gemm(&ctx->selector, USINE_U8, 2048, 2048, 2048, ctx->num_threads,
                      &m->gemm_lowp[1]);
    const usine_dtype attn_dtypes[2] = {USINE_F32, USINE_BF16};
    for (int d = 0; d < 2; d++) {
        const usine_attn_kernel *k = usine_cpu_attn_kernel(ctx->isa, attn_dtypes[d]);
        m->attn_kernel[d] = k->name;
        usine_select_attention(&ctx->selector, k, 0, attn_dtypes[d], 4096, 4096, 128, &m->attn[d]);
    }
    usine_destroy(ctx);
}

void usine_bench_machine_read(usine_bench_machine *m)
{
    memset(m, 0, sizeof *m);
    m->family = m->model = m->stepping = -1;
    const int have_proc = read_proc_model(m->cpu_model, sizeof m->cpu_model);
    read_cpuid(m, !have_proc);
    if (!m->cpu_model[0])
        snprintf(m->cpu_model, sizeof m->cpu_model, "unknown");
    if (gethostname(m->hostname, sizeof m->hostname) != 0)
        m->hostname[0] = '\0';
    m->hostname[sizeof m->hostname - 1] = '\0';
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    m->online_cpus = cpus > 0 ? (int)cpus : 1;
    m->isa_detected = usine_cpu_isa_detect();
    m->topology = usine_topology_get();
#ifdef USINE_HAVE_OPENMP
    m->openmp = 1;
#endif
    read_context(m);
}

/* ------------------------------------------------------------------ JSON */

static void json_cache(usine_jsonw *w, const char *key, const usine_cache_level *c)
{
    usine_jsonw_object(w, key);
    usine_jsonw_int(w, "size_bytes", c->size_bytes);
    usine_jsonw_int(w, "line_bytes", c->line_bytes);
    usine_jsonw_int(w, "associativity", c->associativity);
    usine_jsonw_int(w, "cores_sharing", c->cores_sharing);
    usine_jsonw_end(w);
}

void usine_bench_machine_json(usine_jsonw *w, const usine_bench_machine *m)
{
    const usine_topology *t = m->topology;
    usine_jsonw_object(w, "machine");
    usine_jsonw_string(w, "cpu_model", m->cpu_model);
    usine_jsonw_string(w, "vendor", m->vendor);
    usine_jsonw_int(w, "family", m->family);
    usine_jsonw_int(w, "model", m->model);
    usine_jsonw_int(w, "stepping", m->stepping);
    usine_jsonw_string(w, "hostname", m->hostname);
    usine_jsonw_int(w, "online_cpus", m->online_cpus);
    usine_jsonw_string(w, "isa_detected", usine_cpu_isa_name(m->isa_detected));
    usine_jsonw_string(w, "isa_active", usine_cpu_isa_name(m->isa_active));
    usine_jsonw_int(w, "packages", t->packages);
    usine_jsonw_int(w, "cores", t->cores);
    usine_jsonw_int(w, "pus", t->pus);
    usine_jsonw_int(w, "numa_nodes", t->numa_nodes);
    json_cache(w, "l1d", &t->l1d);
    json_cache(w, "l2", &t->l2);
    json_cache(w, "l3", &t->l3);
    usine_jsonw_string(w, "topology_source", t->source);
    usine_jsonw_end(w);
}

void usine_bench_library_json(usine_jsonw *w, const usine_bench_machine *m)
{
    usine_jsonw_object(w, "usine");
    usine_jsonw_string(w, "version", usine_version());
    usine_jsonw_bool(w, "openmp", m->openmp);
    usine_jsonw_int(w, "default_threads", m->default_threads);
    usine_jsonw_object(w, "kernels");
    for (int d = 0; d < 2 && m->context_ok; d++) {
        usine_jsonw_object(w, d ? "f64" : "f32");
        const usine_gemm_kernel *k = m->gemm[d].kernel;
        usine_jsonw_string(w, "name", k->name);
        usine_jsonw_int(w, "mr", k->mr);
        usine_jsonw_int(w, "nr", k->nr);
        usine_jsonw_string(w, "isa", usine_cpu_isa_name(k->isa));
        usine_jsonw_int(w, "mc", m->gemm[d].blocking.mc);
        usine_jsonw_int(w, "kc", m->gemm[d].blocking.kc);
        usine_jsonw_int(w, "nc", m->gemm[d].blocking.nc);
        usine_jsonw_string(w, "rule", m->gemm[d].rule);
        usine_jsonw_end(w);
    }
    usine_jsonw_end(w);
    usine_jsonw_end(w);
}

/* ------------------------------------------------------------------ fingerprint */

/* The library's machine fingerprint (autotune/fingerprint.c): the same key the tuning
 * database uses, so that benchmark results and tuning results name machines alike. */
void usine_bench_fingerprint_of(const usine_bench_machine *m, usine_bench_fingerprint *fp)
{
    (void)m;
    const usine_fingerprint *f = usine_fingerprint_get();
    snprintf(fp->text, sizeof fp->text, "%s", f->text);
    snprintf(fp->hash, sizeof fp->hash, "%s", f->hash);
}

/* ------------------------------------------------------------------ environment */

extern char **environ;

static int affinity_cpus(void)
{
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
}

static void json_variables(usine_jsonw *w)
{
    static const char *const prefixes[] = {"USINE_", "OMP_",  "GOMP_",  "OPENBLAS_",
                                           "BLIS_",  "DNNL_", "ONEDNN_"};
    usine_jsonw_object(w, "variables");
    for (char **e = environ; e && *e; e++)
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
            const char *eq = strchr(*e, '=');
            if (!eq || strncmp(*e, prefixes[i], strlen(prefixes[i])) != 0)
                continue;
            char key[128];
            snprintf(key, sizeof key, "%.*s", (int)(eq - *e), *e);
            usine_jsonw_string(w, key, eq + 1);
            break;
        }
    usine_jsonw_end(w);
}

void usine_bench_environment_json(usine_jsonw *w, const usine_bench_machine *m)
{
    struct utsname u;
    double load[3] = {-1, -1, -1};
    usine_jsonw_object(w, "environment");
    if (uname(&u) == 0) {
        usine_jsonw_string(w, "os", u.sysname);
        usine_jsonw_string(w, "kernel", u.release);
        usine_jsonw_string(w, "arch", u.machine);
    }
    usine_jsonw_string(w, "hostname", m->hostname);
    usine_jsonw_string(w, "compiler", __VERSION__);
    usine_jsonw_int(w, "online_cpus", m->online_cpus);
    usine_jsonw_int(w, "affinity_cpus", affinity_cpus());
    /* Other work on the machine is the first suspect of a slow run. */
    if (getloadavg(load, 3) == 3)
        usine_jsonw_double(w, "load_average_1min", load[0]);
    json_variables(w);
    usine_jsonw_end(w);
}
