/* `usine info`: what the library sees on this machine and what it would run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "jsonw.h"
#include "machine.h"
#include "../kernels/cpu/gemm/gemm_registry.h"

void usine_cli_info_help(FILE *out)
{
    fprintf(out, "usage: usine info [--json]\n"
                 "\n"
                 "Prints the library version, the CPU, the ISA detected and the one in use\n"
                 "(USINE_CPU_ISA caps it), the topology and where it came from, the default\n"
                 "thread count, the GEMM kernel and blocking chosen for f32 and f64 and the rule\n"
                 "that chose them, and every registered kernel.\n"
                 "\n"
                 "  --json   the same as JSON\n");
}

/* 32768 -> "32 KiB"; exact MiB are shown as MiB. */
static const char *size_text(int64_t bytes, char *buf, size_t size)
{
    if (bytes <= 0)
        snprintf(buf, size, "unknown");
    else if (bytes % (1 << 20) == 0)
        snprintf(buf, size, "%lld MiB", (long long)(bytes >> 20));
    else if (bytes % 1024 == 0)
        snprintf(buf, size, "%lld KiB", (long long)(bytes >> 10));
    else
        snprintf(buf, size, "%lld B", (long long)bytes);
    return buf;
}

static const char *ways_text(int ways, char *buf, size_t size)
{
    if (ways < 0)
        snprintf(buf, size, "fully associative");
    else if (ways == 0)
        snprintf(buf, size, "associativity unknown");
    else
        snprintf(buf, size, "%d-way", ways);
    return buf;
}

static void print_cache(const char *name, const usine_cache_level *c)
{
    char size[32], ways[32];
    printf("  %-10s%s, %d B lines, %s, %d core%s per instance\n", name,
           size_text(c->size_bytes, size, sizeof size), c->line_bytes,
           ways_text(c->associativity, ways, sizeof ways), c->cores_sharing,
           c->cores_sharing == 1 ? "" : "s");
}

/* Where the default thread count comes from (the same order as usine_create). */
static const char *threads_source(const usine_bench_machine *m, char *buf, size_t size)
{
    const char *usine = getenv("USINE_NUM_THREADS"), *omp = getenv("OMP_NUM_THREADS");
    if (usine && *usine)
        snprintf(buf, size, "USINE_NUM_THREADS=%s", usine);
    else if (!m->openmp)
        snprintf(buf, size, "no OpenMP");
    else if (omp && *omp)
        snprintf(buf, size, "OpenMP's default, OMP_NUM_THREADS=%s", omp);
    else
        snprintf(buf, size, "OpenMP's default");
    return buf;
}

static const char *isa_env(void)
{
    const char *s = getenv("USINE_CPU_ISA");
    return s && *s ? s : NULL;
}

static void print_machine(const usine_bench_machine *m)
{
    const usine_topology *t = m->topology;
    printf("usine %s\n", usine_version());
    printf("CPU:        %s\n", m->cpu_model);
    if (m->family >= 0)
        printf("            %s family %d (0x%x) model %d (0x%x) stepping %d\n", m->vendor,
               m->family, m->family, m->model, m->model, m->stepping);
    printf("ISA:        detected %s", usine_cpu_isa_name(m->isa_detected));
    if (m->context_ok)
        printf(", active %s", usine_cpu_isa_name(m->isa_active));
    if (isa_env())
        printf(" (USINE_CPU_ISA=%s)\n", isa_env());
    else
        printf(" (USINE_CPU_ISA not set)\n");
    printf("Topology:   %d package%s, %d core%s, %d PU%s, %d NUMA node%s (from %s)\n", t->packages,
           t->packages == 1 ? "" : "s", t->cores, t->cores == 1 ? "" : "s", t->pus,
           t->pus == 1 ? "" : "s", t->numa_nodes, t->numa_nodes == 1 ? "" : "s", t->source);
    print_cache("L1d", &t->l1d);
    print_cache("L2", &t->l2);
    print_cache("L3", &t->l3);
}

static void print_choices(const usine_bench_machine *m)
{
    char buf[96];
    if (!m->context_ok) {
        printf("Context:    a default context cannot be created: %s\n", m->context_error);
        return;
    }
    printf("Threads:    %d per call by default (%s); OpenMP %s\n", m->default_threads,
           threads_source(m, buf, sizeof buf), m->openmp ? "built in" : "not built in: one thread");
    printf("Counters:   none (PAPI is not built in): timers only\n");
    printf("GEMM:       kernel and blocking of a default context\n");
    for (int d = 0; d < 2; d++) {
        const usine_gemm_kernel *k = m->gemm[d].kernel;
        printf("  %-10s%-30s %2dx%-3d %-7s MC %lld, KC %lld, NC %lld (rule: %s)\n",
               d ? "f64" : "f32", k->name, k->mr, k->nr, usine_cpu_isa_name(k->isa),
               (long long)m->gemm[d].blocking.mc, (long long)m->gemm[d].blocking.kc,
               (long long)m->gemm[d].blocking.nc, m->gemm[d].rule);
    }
}

/* "yes", "no" or why not: the CPU lacks the ISA, or USINE_CPU_ISA caps it out. */
static const char *runs_here(const usine_bench_machine *m, const usine_gemm_kernel *k)
{
    if (k->isa > m->isa_detected)
        return "no: the CPU lacks it";
    if (m->context_ok && k->isa > m->isa_active)
        return "yes, but above USINE_CPU_ISA";
    return "yes";
}

static int chosen(const usine_bench_machine *m, const usine_gemm_kernel *k)
{
    return m->context_ok && (m->gemm[0].kernel == k || m->gemm[1].kernel == k);
}

static void print_registry(const usine_bench_machine *m)
{
    printf("Kernels:    registered, in order of preference (runs here?)\n");
    for (const usine_gemm_kernel *const *k = usine_gemm_registry; *k; k++)
        printf("  %-30s %s %2dx%-3d %-7s %s%s\n", (*k)->name,
               (*k)->dtype == USINE_F32 ? "f32" : "f64", (*k)->mr, (*k)->nr,
               usine_cpu_isa_name((*k)->isa), runs_here(m, *k), chosen(m, *k) ? ", chosen" : "");
}

static void json_registry(usine_jsonw *w, const usine_bench_machine *m)
{
    usine_jsonw_array(w, "kernels");
    for (const usine_gemm_kernel *const *k = usine_gemm_registry; *k; k++) {
        usine_jsonw_object(w, NULL);
        usine_jsonw_string(w, "name", (*k)->name);
        usine_jsonw_string(w, "dtype", (*k)->dtype == USINE_F32 ? "f32" : "f64");
        usine_jsonw_int(w, "mr", (*k)->mr);
        usine_jsonw_int(w, "nr", (*k)->nr);
        usine_jsonw_string(w, "isa", usine_cpu_isa_name((*k)->isa));
        usine_jsonw_bool(w, "cpu_can_run", (*k)->isa <= m->isa_detected);
        usine_jsonw_bool(w, "allowed", m->context_ok && (*k)->isa <= m->isa_active);
        usine_jsonw_bool(w, "chosen", chosen(m, *k));
        usine_jsonw_end(w);
    }
    usine_jsonw_end(w);
}

static void print_json(const usine_bench_machine *m)
{
    char buf[96];
    usine_jsonw w;
    usine_jsonw_init(&w, stdout);
    usine_jsonw_object(&w, NULL);
    usine_jsonw_string(&w, "format", "usine-info/1");
    usine_bench_machine_json(&w, m);
    usine_jsonw_string(&w, "usine_cpu_isa", isa_env());
    usine_jsonw_string(&w, "threads_source", threads_source(m, buf, sizeof buf));
    usine_jsonw_bool(&w, "papi", 0);
    usine_jsonw_string(&w, "context_error", m->context_ok ? NULL : m->context_error);
    usine_bench_library_json(&w, m);
    json_registry(&w, m);
    usine_jsonw_end(&w);
}

int usine_cli_info(int argc, char **argv)
{
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usine_cli_info_help(stdout);
            return USINE_EXIT_OK;
        } else {
            fprintf(stderr, "usine info: unknown option '%s' (see 'usine info --help')\n", argv[i]);
            return USINE_EXIT_USAGE;
        }
    }
    usine_bench_machine m;
    usine_bench_machine_read(&m);
    if (json) {
        print_json(&m);
    } else {
        print_machine(&m);
        print_choices(&m);
        print_registry(&m);
    }
    if (!m.context_ok)
        fprintf(stderr, "usine info: %s\n", m.context_error);
    return m.context_ok ? USINE_EXIT_OK : USINE_EXIT_FAILURE;
}
