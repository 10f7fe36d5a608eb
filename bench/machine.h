/* What `usine info` shows and every benchmark report records: the CPU, its ISA, its
 * topology and what a default context chooses on it. Safe to read before fork: it starts
 * no thread. */
#ifndef USINE_BENCH_MACHINE_H
#define USINE_BENCH_MACHINE_H

#include "usine.h"
#include "jsonw.h"
#include "../autotune/attention_tune.h"
#include "../autotune/select.h"
#include "../autotune/topology.h"
#include "../kernels/cpu/cpu_isa.h"

typedef struct usine_bench_machine {
    char cpu_model[128];         /* /proc/cpuinfo's model name, else the cpuid brand string */
    char vendor[16];             /* cpuid vendor, "" when unknown */
    int family, model, stepping; /* cpuid, -1 when unknown */
    char hostname[64];
    int online_cpus;
    usine_cpu_isa isa_detected;
    const usine_topology *topology;
    int openmp; /* usine built with OpenMP */
    /* From a default context; valid when context_ok. */
    int context_ok;
    char context_error[256];
    usine_cpu_isa isa_active;
    int default_threads;
    usine_gemm_choice gemm[2];      /* f32, f64 */
    usine_gemm_choice gemm_lowp[2]; /* bf16, int8 (u8 x s8), at 2048^3 */
    /* Attention forward, f32 and bf16, at seq 4096 and head_dim 128: kernel and block. */
    const char *attn_kernel[2];
    usine_attn_choice attn[2];
} usine_bench_machine;

void usine_bench_machine_read(usine_bench_machine *m);

/*
 * The machine fingerprint: a stable readable string of what performance depends on and
 * does not change between runs (architecture, CPU vendor and model, ISA, packages, cores,
 * PUs, NUMA nodes, cache sizes; never the host name, clocks or load) and a 64-bit FNV-1a
 * hash of it as 16 hex digits. Nodes of one kind share it. autotune/ is growing the
 * library's own fingerprint: this is the one function to point at it then.
 */
typedef struct usine_bench_fingerprint {
    char text[320];
    char hash[17];
} usine_bench_fingerprint;

void usine_bench_fingerprint_of(const usine_bench_machine *m, usine_bench_fingerprint *fp);

/* The "environment" member: OS, compiler, CPU affinity, load, and the environment
 * variables that change what runs (USINE_*, OMP_*, GOMP_*, OPENBLAS_*, BLIS_*, DNNL_*). */
void usine_bench_environment_json(usine_jsonw *w, const usine_bench_machine *m);

/* The "machine" member (CPU, ISA, topology): the fingerprint of a report. */
void usine_bench_machine_json(usine_jsonw *w, const usine_bench_machine *m);

/* The "usine" member: version, OpenMP, default threads, the kernel and blocking chosen
 * for each dtype and the rule that chose them. */
void usine_bench_library_json(usine_jsonw *w, const usine_bench_machine *m);

#endif
