/* `usine info`: what the library sees on this machine and what it would run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "jsonw.h"
#include "machine.h"
#include "../autotune/counters.h"
#include "../autotune/db.h"
#include "../autotune/fingerprint.h"
#include "../autotune/model.h"
#include "../core/context.h"
#include "../kernels/cpu/gemm/gemm_registry.h"
#include "../kernels/cuda/cuda_runtime.h"

void usine_cli_info_help(FILE *out)
{
    fprintf(out, "usage: usine info [--json]\n"
                 "       usine info --explain gemm f32|f64 M N K [--threads T]\n"
                 "\n"
                 "Prints the library version, the CPU, the ISA detected and the one in use\n"
                 "(USINE_CPU_ISA caps it), the topology and where it came from, the machine\n"
                 "fingerprint, which hardware counters work (and why the others do not), the\n"
                 "tuning databases, the default thread count, the GEMM kernel and blocking chosen\n"
                 "for f32 and f64 and the rule that chose them, and every registered kernel.\n"
                 "\n"
                 "  --json      the same as JSON\n"
                 "  --explain   which rule chooses the kernel and parameters of one GEMM, and\n"
                 "              the measured (tuned) or modelled figures behind the choice\n");
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

static const char *gpu_vendor(unsigned id)
{
    return id == 0x10de ? "NVIDIA" : id == 0x1002 ? "AMD" : id == 0x8086 ? "Intel" : "?";
}

static void json_gpus(usine_jsonw *w)
{
    const usine_topology *t = usine_topology_get();
    usine_jsonw_array(w, "gpus");
    for (int g = 0; g < t->gpus; g++) {
        char id[16];
        usine_jsonw_object(w, NULL);
        usine_jsonw_string(w, "vendor", gpu_vendor(t->gpu[g].vendor_id));
        snprintf(id, sizeof id, "%04x:%04x", t->gpu[g].vendor_id, t->gpu[g].device_id);
        usine_jsonw_string(w, "pci_id", id);
        usine_jsonw_string(w, "pci_bus_id", t->gpu[g].pci_bus_id);
        usine_jsonw_int(w, "numa_node", t->gpu[g].numa_node);
        usine_jsonw_end(w);
    }
    usine_jsonw_end(w);
}

/* The CUDA backend: how it was built, and what the runtime finds on this machine. */
static void print_cuda(void)
{
    if (!usine_cuda_built()) {
        printf("CUDA:       %s\n", usine_cuda_build_info());
        return;
    }
    printf("CUDA:       built: %s, %d kernels\n", usine_cuda_build_info(),
           usine_cuda_kernel_count());
    char message[512];
    int count = 0;
    if (usine_cuda_device_count(&count, message, sizeof message) != USINE_SUCCESS) {
        printf("            no usable device: %s\n", message);
        return;
    }
    for (int d = 0; d < count; d++) {
        usine_cuda_device_info info;
        const usine_status st = usine_cuda_open(d, &info, message, sizeof message);
        if (info.name[0])
            printf("cuda:%d:     %s, sm_%d%d, %d SMs at %d MHz, %.1f GiB at %d MHz x %d bits, "
                   "L2 %lld KiB, PCI %s, driver %d.%d%s%s\n",
                   d, info.name, info.cc_major, info.cc_minor, info.sm_count, info.clock_khz / 1000,
                   (double)info.memory_bytes / (1 << 30), info.memory_clock_khz / 1000,
                   info.memory_bus_bits, (long long)(info.l2_bytes >> 10), info.pci_bus_id,
                   info.driver_version / 1000, info.driver_version % 1000 / 10,
                   st == USINE_SUCCESS ? "" : ": ", st == USINE_SUCCESS ? "" : message);
        else
            printf("cuda:%d:     %s\n", d, message);
    }
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
    printf("Machine:    fingerprint %s\n            %s\n", usine_fingerprint_get()->hash,
           usine_fingerprint_get()->text);
    printf("Topology:   %d package%s, %d core%s, %d PU%s, %d NUMA node%s (from %s)\n", t->packages,
           t->packages == 1 ? "" : "s", t->cores, t->cores == 1 ? "" : "s", t->pus,
           t->pus == 1 ? "" : "s", t->numa_nodes, t->numa_nodes == 1 ? "" : "s", t->source);
    print_cache("L1d", &t->l1d);
    print_cache("L2", &t->l2);
    print_cache("L3", &t->l3);
    if (t->gpus == 0)
        printf("GPUs:       none on the PCI bus%s\n",
               strcmp(t->source, "hwloc") ? " (not searched: no hwloc)" : "");
    for (int g = 0; g < t->gpus; g++)
        printf("GPU %d:      %s %04x:%04x at %s, NUMA node %d\n", g,
               gpu_vendor(t->gpu[g].vendor_id), t->gpu[g].vendor_id, t->gpu[g].device_id,
               t->gpu[g].pci_bus_id, t->gpu[g].numa_node);
    print_cuda();
}

static void print_counters(void)
{
    const usine_counters_status *c = usine_counters_probe();
    printf("Counters:   %s\n", c->summary);
    for (int i = 0; i < USINE_CTR_COUNT && (c->built && !c->forced_off); i++)
        printf("  %-14s%s%s\n", usine_counter_name((usine_counter)i),
               c->usable[i] ? "works" : "unusable: ", c->usable[i] ? "" : c->why[i]);
}

/* Entries of this machine and library version in a database file. */
static long db_entries(const char *path, size_t *skipped)
{
    usine_tune_table t = {0};
    *skipped = 0;
    char version[32];
    snprintf(version, sizeof version, "%s", usine_version());
    const int rc = usine_db_read(path, usine_fingerprint_get()->hash, version, &t, skipped);
    const long n = rc == 0 ? (long)t.count : -1;
    usine_tune_table_free(&t);
    return n;
}

static void print_database(const char *what, const char *path)
{
    size_t skipped;
    const long n = db_entries(path, &skipped);
    if (n < 0)
        printf("  %-10s%s: not a usine tuning database (ignored)\n", what, path);
    else
        printf("  %-10s%s: %ld entr%s for this machine%s\n", what, path, n, n == 1 ? "y" : "ies",
               skipped ? " (some lines corrupt)" : "");
}

static void print_databases(void)
{
    char user[1024];
    const char *tune = getenv("USINE_TUNE");
    printf("Tuning:     USINE_TUNE=%s\n", tune && *tune ? tune : "on (default)");
    if (usine_db_user_path(user, sizeof user))
        print_database("user", user);
    print_database("system", usine_db_system_path());
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
    print_counters();
    print_databases();
    printf("GEMM:       kernel and blocking of a default context (bf16, int8: at 2048^3)\n");
    const usine_gemm_choice *choices[4] = {&m->gemm[0], &m->gemm[1], &m->gemm_lowp[0],
                                           &m->gemm_lowp[1]};
    const char *const names[4] = {"f32", "f64", "bf16", "int8"};
    for (int d = 0; d < 4; d++) {
        const usine_gemm_choice *c = choices[d];
        printf("  %-10s%-34s %2dx%-3d %-10s MC %lld, KC %lld, NC %lld (rule: %s)\n", names[d],
               c->kernel->name, c->kernel->mr, c->kernel->nr, usine_cpu_isa_name(c->kernel->isa),
               (long long)c->blocking.mc, (long long)c->blocking.kc, (long long)c->blocking.nc,
               c->rule);
    }
    printf("Attention:  forward kernel and block (keys per block) at seq 4096, head_dim 128\n");
    for (int d = 0; d < 2; d++)
        printf("  %-10s%-40s block %d (rule: %s)\n", d ? "bf16" : "f32", m->attn_kernel[d],
               m->attn[d].block, m->attn[d].rule);
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
    return m->context_ok && (m->gemm[0].kernel == k || m->gemm[1].kernel == k ||
                             m->gemm_lowp[0].kernel == k || m->gemm_lowp[1].kernel == k);
}

/* What a kernel multiplies: its input type for bf16 and int8 kernels (whose C is f32 or
 * s32), else its C type. */
static const char *kernel_dtype(const usine_gemm_kernel *k)
{
    return k->in_type == USINE_BF16 ? "bf16"
           : k->in_type == USINE_U8 ? "int8"
           : k->dtype == USINE_F64  ? "f64"
                                    : "f32";
}

static void print_registry(const usine_bench_machine *m)
{
    printf("Kernels:    registered, in order of preference (runs here?)\n");
    for (const usine_gemm_kernel *const *k = usine_gemm_registry; *k; k++)
        printf("  %-34s %-4s %2dx%-3d %-10s %s%s\n", (*k)->name, kernel_dtype(*k), (*k)->mr,
               (*k)->nr, usine_cpu_isa_name((*k)->isa), runs_here(m, *k),
               chosen(m, *k) ? ", chosen" : "");
}

static void json_registry(usine_jsonw *w, const usine_bench_machine *m)
{
    usine_jsonw_array(w, "kernels");
    for (const usine_gemm_kernel *const *k = usine_gemm_registry; *k; k++) {
        usine_jsonw_object(w, NULL);
        usine_jsonw_string(w, "name", (*k)->name);
        usine_jsonw_string(w, "dtype", kernel_dtype(*k));
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

static void json_counters(usine_jsonw *w)
{
    const usine_counters_status *c = usine_counters_probe();
    usine_jsonw_object(w, "counters");
    usine_jsonw_bool(w, "papi_built", c->built);
    usine_jsonw_bool(w, "forced_off", c->forced_off);
    usine_jsonw_string(w, "summary", c->summary);
    usine_jsonw_object(w, "events");
    for (int i = 0; i < USINE_CTR_COUNT; i++) {
        usine_jsonw_object(w, usine_counter_name((usine_counter)i));
        usine_jsonw_bool(w, "usable", c->usable[i]);
        usine_jsonw_string(w, "why_not", c->usable[i] ? NULL : c->why[i]);
        usine_jsonw_end(w);
    }
    usine_jsonw_end(w);
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
    usine_jsonw_object(&w, "fingerprint");
    usine_jsonw_string(&w, "hash", usine_fingerprint_get()->hash);
    usine_jsonw_string(&w, "text", usine_fingerprint_get()->text);
    usine_jsonw_end(&w);
    json_counters(&w);
    json_gpus(&w);
    usine_jsonw_string(&w, "context_error", m->context_ok ? NULL : m->context_error);
    usine_bench_library_json(&w, m);
    json_registry(&w, m);
    usine_jsonw_end(&w);
}

/* The blocking's derivation from the caches, as the model computes it. */
static void explain_model(const usine_gemm_kernel *k)
{
    const usine_topology *t = usine_topology_get();
    const usine_gemm_blocking b = usine_model_gemm_blocking(t, k);
    const int es = k->dtype == USINE_F64 ? 8 : 4;
    printf("  modelled: KC = %lld so that the B panel (KC x NR = %lld x %d x %d B = %lld KiB) "
           "fills its share of L1d (%lld KiB);\n"
           "            MC = %lld so that the packed A block (%lld KiB) fills its share of L2 "
           "(%lld KiB);\n"
           "            NC = %lld so that the packed B block (%lld KiB) fits this core's share "
           "of L3 (%lld KiB)\n",
           (long long)b.kc, (long long)b.kc, k->nr, es, (long long)(b.kc * k->nr * es) >> 10,
           (long long)(t->l1d.size_bytes >> 10), (long long)b.mc,
           (long long)(b.mc * b.kc * es) >> 10, (long long)(t->l2.size_bytes >> 10),
           (long long)b.nc, (long long)(b.kc * b.nc * es) >> 10,
           (long long)((t->l3.size_bytes / (t->l3.cores_sharing ? t->l3.cores_sharing : 1)) >> 10));
}

static int explain(int argc, char **argv)
{
    int threads = 0;
    if (argc >= 7 && !strcmp(argv[5], "--threads"))
        threads = atoi(argv[6]);
    long long m, n, k;
    usine_dtype dtype = USINE_F32;
    if ((argc != 5 && argc != 7) || strcmp(argv[0], "gemm") != 0 ||
        (strcmp(argv[1], "f32") && strcmp(argv[1], "f64")) || sscanf(argv[2], "%lld", &m) != 1 ||
        sscanf(argv[3], "%lld", &n) != 1 || sscanf(argv[4], "%lld", &k) != 1 || m < 1 || n < 1 ||
        k < 1 || (argc == 7 && threads < 1)) {
        fprintf(stderr, "usage: usine info --explain gemm f32|f64 M N K [--threads T]\n");
        return USINE_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "f64"))
        dtype = USINE_F64;
    usine_context *ctx = NULL;
    if (usine_create(&ctx, NULL) != USINE_SUCCESS) {
        fprintf(stderr, "usine info: %s\n", usine_last_error());
        return USINE_EXIT_FAILURE;
    }
    if (threads == 0)
        threads = ctx->num_threads;
    usine_gemm_choice c;
    usine_select_gemm(&ctx->selector, dtype, m, n, k, threads, &c);
    usine_tune_key key;
    usine_select_key(dtype, m, n, k, threads, &key);
    printf("gemm %s %lld x %lld x %lld on %d thread%s (column-major view; shape class "
           "m%dn%dk%d)\n",
           argv[1], m, n, k, threads, threads == 1 ? "" : "s", key.mclass, key.nclass, key.kclass);
    printf("  rule:     %s (order: forced by USINE_KERNEL, USINE_GEMM_BLOCKING, exact tuned "
           "entry, nearest tuned shape class, model, safe default)\n",
           c.rule);
    printf("  kernel:   %s (%dx%d, %s)\n", c.kernel->name, c.kernel->mr, c.kernel->nr,
           usine_cpu_isa_name(c.kernel->isa));
    printf("  params:   MC %lld, KC %lld, NC %lld, packing %s\n", (long long)c.blocking.mc,
           (long long)c.blocking.kc, (long long)c.blocking.nc,
           c.blocking.pack ? "always" : "driver's choice (skinny operands read in place)");
    if (c.rule_id == USINE_RULE_EXACT || c.rule_id == USINE_RULE_NEAREST)
        printf("  measured: %.1f GFLOP/s when tuned (the model's choice: %.1f) for class "
               "m%dn%dk%d, %d thread%s\n",
               c.entry.gflops, c.entry.model_gflops, c.entry.key.mclass, c.entry.key.nclass,
               c.entry.key.kclass, c.entry.key.threads, c.entry.key.threads == 1 ? "" : "s");
    else if (c.rule_id == USINE_RULE_MODEL)
        explain_model(c.kernel);
    usine_destroy(ctx);
    return USINE_EXIT_OK;
}

int usine_cli_info(int argc, char **argv)
{
    int json = 0;
    if (argc >= 1 && !strcmp(argv[0], "--explain"))
        return explain(argc - 1, argv + 1);
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
