#include "runner.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attention.h"
#include "child.h"
#include "conv.h"
#include "cuda_bench.h"
#include "jobs.h"
#include "progress.h"
#include "report.h"
#include "../kernels/cpu/gemm/gemm_driver.h"

/* A child that takes longer has hung: the biggest case takes seconds per call. */
#define CHILD_TIMEOUT_S 300
/* Seconds per trial of the FMA peak loop. */
#define PEAK_SECONDS 0.1
/* Untimed calls before timing (at least one). */
#define WARMUP_SECONDS 0.1
/* Adaptive timing: at least this many repetitions. */
#define MIN_REPS 3

void usine_bench_options_default(usine_bench_options *o, const usine_bench_machine *m)
{
    memset(o, 0, sizeof *o);
    o->suite = "quick";
    const int cores = m->topology->cores > 0 ? m->topology->cores : m->online_cpus;
    o->threads[o->n_threads++] = 1;
    if (cores > 1)
        o->threads[o->n_threads++] = cores;
    o->dtypes = (1 << USINE_BENCH_DTYPE_SLOTS) - 1;
    o->peers = (1 << USINE_PEER_COUNT) - 1;
    o->budget_s = 0.4;
    o->rounds = 1;
    o->measure_peak = 1;
}

const char *usine_bench_lib_name(int lib)
{
    return lib == USINE_BENCH_USINE     ? "usine"
           : lib == USINE_BENCH_UNFUSED ? "unfused (OpenBLAS)"
           : lib == USINE_BENCH_IM2COL  ? "im2col (OpenBLAS)"
                                        : usine_bench_peer_name((usine_bench_peer_id)(lib - 1));
}

static int thread_index(const usine_bench_run *run, int threads)
{
    for (int t = 0; t < run->options->n_threads; t++)
        if (run->options->threads[t] == threads)
            return t;
    return -1;
}

double usine_bench_run_peak(const usine_bench_run *run, usine_dtype dtype, int threads)
{
    const int t = thread_index(run, threads), slot = usine_bench_dtype_slot(dtype);
    return t < 0 || slot < 0 ? 0 : run->peak[slot][t];
}

int usine_bench_run_peak_measured(const usine_bench_run *run)
{
    return run->options->measure_peak &&
           (run->peak_method[0] || run->lowp_method[0][0] || run->lowp_method[1][0]);
}

double usine_bench_run_bandwidth(const usine_bench_run *run, int threads)
{
    const int t = thread_index(run, threads);
    return t < 0 ? 0 : run->bandwidth[t];
}

double usine_bench_run_roofline(const usine_bench_run *run, const usine_bench_case *c, int threads)
{
    const double peak = usine_bench_run_peak(run, c->dtype, threads);
    const double bw = usine_bench_run_bandwidth(run, threads);
    const double memory = usine_bench_case_flops(c) / usine_bench_case_bytes(c) * bw;
    return peak > 0 && bw > 0 ? (memory < peak ? memory : peak) : 0;
}

/* ------------------------------------------------------------------ setup */

static void probe_peers(usine_bench_run *run)
{
    for (int id = 0; id < USINE_PEER_COUNT; id++) {
        usine_bench_peer_info *info = &run->peers[id];
        if (!(run->options->peers & (1 << id)))
            continue;
        usine_bench_probe_job job = {(usine_bench_peer_id)id};
        char why[200];
        if (usine_bench_in_child(usine_bench_probe_child, &job, info, sizeof *info, CHILD_TIMEOUT_S,
                                 why, sizeof why) != 0) {
            memset(info, 0, sizeof *info);
            snprintf(info->why, sizeof info->why, "loading it %s", why);
        }
        info->wanted = 1;
        if (info->available)
            usine_bench_progress("peer %s %s (%s)", usine_bench_peer_name(id), info->version,
                                 info->path);
        else
            usine_bench_progress("peer %s skipped: %s", usine_bench_peer_name(id), info->why);
        usine_bench_progress_clear();
    }
}

static void probe_gpus(usine_bench_run *run)
{
    char why[160];
    if (usine_bench_in_child(usine_bench_gpu_probe_child, NULL, &run->gpu, sizeof run->gpu, 60, why,
                             sizeof why) != 0) {
        memset(&run->gpu, 0, sizeof run->gpu);
        snprintf(run->gpu.cuda.why, sizeof run->gpu.cuda.why, "the probe %s", why);
        snprintf(run->gpu.rocm.why, sizeof run->gpu.rocm.why, "the probe %s", why);
    }
}

static void measure_peaks(usine_bench_run *run)
{
    const usine_bench_options *o = run->options;
    if (!o->measure_peak)
        return;
    usine_bench_progress("measuring the %s FMA%s peak and the triad bandwidth",
                         usine_cpu_isa_name(run->machine->isa_active),
                         o->dtypes & USINE_BENCH_LOWP_BITS ? " and dot-product" : "");
    usine_bench_peak_job job = {run->machine->isa_active,
                                o->dtypes,
                                o->threads,
                                o->n_threads,
                                PEAK_SECONDS,
                                (long long)run->machine->topology->l3.size_bytes};
    usine_bench_peak_out out;
    char why[256];
    if (usine_bench_in_child(usine_bench_peak_child, &job, &out, sizeof out, CHILD_TIMEOUT_S, why,
                             sizeof why) != 0) {
        usine_bench_loud("the peak measurement %s: no %% of peak", why);
        return;
    }
    memcpy(run->peak, out.gflops, sizeof run->peak);
    memcpy(run->lowp_method, out.lowp_method, sizeof run->lowp_method);
    memcpy(run->bandwidth, out.bandwidth, sizeof run->bandwidth);
    run->triad_bytes = out.triad_bytes;
    snprintf(run->peak_method, sizeof run->peak_method, "%s", out.method);
    usine_bench_progress_clear();
}

/* f32 to bf16 (its upper half), rounded to nearest even; inputs here are finite. */
static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* One element from v uniform in [-1, 1). int8 activations (u8) keep to 7 bits: oneDNN
 * without VNNI pairs products in saturating 16-bit sums (vpmaddubsw), and 127 x 128 x 2
 * still fits, so every implementation stays exact and the comparison can be exact. */
static void store(void *x, usine_dtype dtype, size_t i, double v)
{
    switch (dtype) {
    case USINE_F32:
        ((float *)x)[i] = (float)v;
        break;
    case USINE_F64:
        ((double *)x)[i] = v;
        break;
    case USINE_BF16:
        ((uint16_t *)x)[i] = to_bf16((float)v);
        break;
    case USINE_U8:
        ((uint8_t *)x)[i] = (uint8_t)((v + 1) * 64);
        break;
    default: /* USINE_S8 */
        ((int8_t *)x)[i] = (int8_t)floor(v * 128);
        break;
    }
}

/* Uniform in [-1, 1) (or the integer range): inputs with no structure a kernel could
 * exploit, the same on every run (xorshift64, Marsaglia 2003). */
static void fill_random(void *x, usine_dtype dtype, size_t count, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < count; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        store(x, dtype, i, (double)(s >> 11) * 0x1.0p-52 - 1.0);
    }
}

/* beta = 0: C is never read, so it starts as garbage (NaN, or a byte pattern for s32)
 * that an element left unwritten would show. */
static void fill_garbage(void *x, usine_dtype dtype, size_t count)
{
    if (dtype == USINE_S32) {
        memset(x, 0xa5, count * sizeof(int32_t));
        return;
    }
    if (dtype == USINE_BF16) { /* 0xffff: a NaN */
        memset(x, 0xff, count * sizeof(uint16_t));
        return;
    }
    for (size_t i = 0; i < count; i++)
        if (dtype == USINE_F32)
            ((float *)x)[i] = NAN;
        else
            ((double *)x)[i] = NAN;
}

/* The operands of one case: A and B private (fork copies them), two C in shared memory:
 * usine's, and the peer's being checked against it. Every library computes into c_peer
 * (usine's result is then copied to c_usine, see output_of), so that all write the same
 * memory: on a virtual machine, the pages behind a buffer can change a memory-bound part's
 * speed. Measured on the Zen 5 VM, one thread, 4096^3 f32, usine twice in one process on
 * the same A and B but each with a C of its own: 199.8 / 168.4 GFLOP/s in one run, while a
 * second C matched the first within 3% in others. */
typedef struct case_buffers {
    void *a, *b, *c_usine, *c_peer;
    void *v;                 /* attention: a is Q, b is K, v is V; C is O */
    void *d_o;               /* attention backward: dO; C is then dQ, dK, dV */
                             /* conv: a and b are what the pass reads (conv.h), C its output */
    size_t c_bytes, c_count; /* usine's C */
    size_t peer_bytes;       /* the peer's C (attention: f32 O also for bf16 lines) */
    usine_dtype types[3];    /* A, B, C */
    usine_dtype peer_c_type;
} case_buffers;

static void *alloc_aligned(size_t bytes)
{
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

/* Attention: Q, K, V in the case's dtype, BHSD; usine's O in the dtype too, the
 * baseline's in f32. Backward lines: dO too, and "O" is dQ, dK, dV one after another. */
static int attention_alloc(const usine_bench_case *c, size_t seed, case_buffers *buf)
{
    const usine_bench_attention *t = &c->att;
    const size_t nq = (size_t)(t->batch * t->heads * t->seq_q * t->head_dim);
    const size_t nkv = (size_t)(t->batch * t->kv_heads * t->seq_k * t->head_dim);
    const size_t es = usine_dtype_storage_size(c->dtype);
    buf->types[0] = buf->types[1] = buf->types[2] = c->dtype;
    buf->peer_c_type = USINE_F32;
    buf->c_count = t->backward ? nq + 2 * nkv : nq;
    buf->c_bytes = buf->c_count * es;
    buf->peer_bytes = buf->c_count * sizeof(float);
    if (t->backward) {
        buf->d_o = alloc_aligned(nq * es);
        if (!buf->d_o)
            return -1;
        fill_random(buf->d_o, c->dtype, nq, 3 * seed + 4);
    }
    buf->a = alloc_aligned(nq * es);
    buf->b = alloc_aligned(nkv * es);
    buf->v = alloc_aligned(nkv * es);
    buf->c_usine = usine_bench_shared_alloc(buf->c_bytes);
    buf->c_peer = usine_bench_shared_alloc(buf->peer_bytes);
    if (!buf->a || !buf->b || !buf->v || !buf->c_usine || !buf->c_peer)
        return -1;
    fill_random(buf->a, c->dtype, nq, 3 * seed + 1);
    fill_random(buf->b, c->dtype, nkv, 3 * seed + 2);
    fill_random(buf->v, c->dtype, nkv, 3 * seed + 3);
    return 0;
}

/* Conv: the pass's two inputs in the line's dtype (NHWC, KRSC); usine's output in the dtype
 * too, the peers' in f32. */
static int conv_alloc(const usine_bench_case *c, size_t seed, case_buffers *buf)
{
    size_t n0, n1;
    usine_bench_conv_pass_counts(c, &n0, &n1, &buf->c_count);
    const size_t es = usine_dtype_storage_size(c->dtype);
    buf->types[0] = buf->types[1] = buf->types[2] = c->dtype;
    buf->peer_c_type = USINE_F32;
    buf->c_bytes = buf->c_count * es;
    buf->peer_bytes = buf->c_count * sizeof(float);
    buf->a = alloc_aligned(n0 * es);
    buf->b = alloc_aligned(n1 * es);
    buf->c_usine = usine_bench_shared_alloc(buf->c_bytes);
    buf->c_peer = usine_bench_shared_alloc(buf->peer_bytes);
    if (!buf->a || !buf->b || !buf->c_usine || !buf->c_peer)
        return -1;
    fill_random(buf->a, c->dtype, n0, 2 * seed + 1);
    fill_random(buf->b, c->dtype, n1, 2 * seed + 2);
    return 0;
}

static int case_alloc(const usine_bench_case *c, size_t seed, case_buffers *buf)
{
    if (c->op == USINE_BENCH_OP_ATTENTION)
        return attention_alloc(c, seed, buf);
    if (c->op == USINE_BENCH_OP_CONV)
        return conv_alloc(c, seed, buf);
    usine_bench_case_types(c, buf->types);
    buf->peer_c_type = buf->types[2];
    const size_t na = (size_t)(c->m * c->k * c->batch), nb = (size_t)(c->k * c->n * c->batch);
    buf->c_count = (size_t)(c->m * c->n * c->batch);
    buf->c_bytes = buf->peer_bytes = buf->c_count * usine_dtype_storage_size(buf->types[2]);
    buf->a = alloc_aligned(na * usine_dtype_storage_size(buf->types[0]));
    buf->b = alloc_aligned(nb * usine_dtype_storage_size(buf->types[1]));
    buf->c_usine = usine_bench_shared_alloc(buf->c_bytes);
    buf->c_peer = usine_bench_shared_alloc(buf->peer_bytes);
    if (!buf->a || !buf->b || !buf->c_usine || !buf->c_peer)
        return -1;
    fill_random(buf->a, buf->types[0], na, 2 * seed + 1);
    fill_random(buf->b, buf->types[1], nb, 2 * seed + 2);
    return 0;
}

static void case_free(case_buffers *buf)
{
    free(buf->a);
    free(buf->b);
    free(buf->v);
    free(buf->d_o);
    usine_bench_shared_free(buf->c_usine, buf->c_bytes);
    usine_bench_shared_free(buf->c_peer, buf->peer_bytes);
}

/* ------------------------------------------------------------------ measuring */

static usine_bench_result *new_result(usine_bench_run *run)
{
    if (run->n_results == run->capacity) {
        const size_t cap = run->capacity ? 2 * run->capacity : 64;
        usine_bench_result *r = (usine_bench_result *)realloc(run->results, cap * sizeof *r);
        if (!r)
            return NULL;
        run->results = r;
        run->capacity = cap;
    }
    usine_bench_result *r = &run->results[run->n_results++];
    memset(r, 0, sizeof *r);
    return r;
}

static usine_bench_timing timing_of(const usine_bench_options *o)
{
    usine_bench_timing t = {MIN_REPS, USINE_BENCH_MAX_REPS, o->budget_s, WARMUP_SECONDS,
                            USINE_BENCH_TARGET_SPREAD};
    if (o->reps > 0)
        t.min_reps = t.max_reps = o->reps;
    return t;
}

/* The buffer a library computes into: c_peer for all (see case_buffers), unless usine's
 * output does not fit there; usine's result is copied to c_usine after each measurement. */
static void *output_of(const case_buffers *buf, int lib)
{
    return lib == USINE_BENCH_USINE && buf->c_bytes > buf->peer_bytes ? buf->c_usine : buf->c_peer;
}

static void keep_usine_output(const case_buffers *buf, int lib, const usine_bench_result *r)
{
    void *out = output_of(buf, lib);
    if (lib == USINE_BENCH_USINE && out != buf->c_usine && r->status == USINE_BENCH_OK)
        memcpy(buf->c_usine, out, buf->c_bytes);
}

/* Runs one library on one case in a child; C lands in c (shared). */
static void measure(usine_bench_run *run, size_t ci, int threads, int lib, const case_buffers *buf,
                    void *c, usine_bench_result *r)
{
    const usine_bench_case *bc = &run->cases[ci];
    usine_bench_gemm_job job = {bc, threads, lib, buf->a, buf->b, c, timing_of(run->options)};
    usine_bench_attention_job ajob = {.bcase = bc,
                                      .threads = threads,
                                      .lib = lib,
                                      .q = buf->a,
                                      .k = buf->b,
                                      .v = buf->v,
                                      .o = c,
                                      .d_o = buf->d_o,
                                      .timing = timing_of(run->options)};
    usine_bench_conv_job cjob = {bc, threads, lib, buf->a, buf->b, c, timing_of(run->options)};
    usine_bench_attention_out aout;
    usine_bench_gemm_out out;
    const int attention = bc->op == USINE_BENCH_OP_ATTENTION;
    r->case_index = ci;
    r->threads = threads;
    r->lib = lib;
    /* beta = 0 (and attention's O): every element must be written */
    fill_garbage(c, lib == USINE_BENCH_USINE ? buf->types[2] : buf->peer_c_type, buf->c_count);
    int rc;
    if (attention)
        rc = usine_bench_in_child(usine_bench_attention_child, &ajob, &aout, sizeof aout,
                                  CHILD_TIMEOUT_S, r->message, sizeof r->message);
    else if (bc->op == USINE_BENCH_OP_CONV)
        rc = usine_bench_in_child(usine_bench_conv_child, &cjob, &out, sizeof out, CHILD_TIMEOUT_S,
                                  r->message, sizeof r->message);
    else
        rc = usine_bench_in_child(usine_bench_gemm_child, &job, &out, sizeof out, CHILD_TIMEOUT_S,
                                  r->message, sizeof r->message);
    if (rc != 0) {
        r->status = USINE_BENCH_FAILED;
        return;
    }
    if (attention) {
        out = aout.base;
        r->extra_bytes = aout.extra_bytes;
    }
    r->status = out.status;
    memcpy(r->message, out.message, sizeof r->message);
    memcpy(r->detail, out.detail, sizeof r->detail);
    if (r->status != USINE_BENCH_OK)
        return;
    r->stats = out.stats;
    const double flops = usine_bench_case_flops(bc);
    r->gflops_median = flops / out.stats.median_s * 1e-9;
    r->gflops_best = flops / out.stats.best_s * 1e-9;
    r->gflops_worst = flops / out.stats.worst_s * 1e-9;
    r->spread = usine_bench_spread(&out.stats);
    r->noisy = r->spread > USINE_BENCH_NOISY_SPREAD;
}

/* The comparison works on column-major operands; a row-major product C = op(A) op(B)
 * (bf16, int8) is the column-major C^T = op(B)^T op(A)^T of the same memory, so the
 * operands swap and so do m and n (reported positions are then (j, i) of row-major C). */
static void check_against_usine(const usine_bench_case *bc, const case_buffers *buf,
                                usine_bench_result *r)
{
    if (bc->op == USINE_BENCH_OP_ATTENTION && bc->att.backward) {
        r->checked = usine_bench_attention_backward_compare(
                         bc, buf->c_usine, (const float *)buf->c_peer, &r->check) == 0;
        return;
    }
    if (bc->op == USINE_BENCH_OP_ATTENTION) {
        r->checked = usine_bench_attention_compare(bc, buf->v, buf->c_usine,
                                                   (const float *)buf->c_peer, &r->check) == 0;
        return;
    }
    if (bc->op == USINE_BENCH_OP_CONV) {
        r->checked = usine_bench_conv_compare(bc, buf->a, buf->b, buf->c_usine,
                                              (const float *)buf->c_peer, &r->check) == 0;
        return;
    }
    usine_bench_operands ops = {buf->types[0], buf->types[1], buf->types[2], bc->m,
                                bc->n,         bc->k,         bc->batch,     buf->a,
                                buf->b,        bc->transa,    bc->transb};
    if (usine_bench_is_lowp(bc->dtype))
        ops = (usine_bench_operands){buf->types[1], buf->types[0], buf->types[2], bc->n,
                                     bc->m,         bc->k,         bc->batch,     buf->b,
                                     buf->a,        bc->transb,    bc->transa};
    r->checked = usine_bench_compare(&ops, buf->c_usine, buf->c_peer, &r->check) == 0;
}

typedef struct counter {
    int done, total;
    double start;
} counter;

static void announce(const usine_bench_run *run, counter *n, size_t ci, int threads, int lib)
{
    char label[96];
    usine_bench_case_label(&run->cases[ci], label, sizeof label);
    usine_bench_progress_bar(n->done++, n->total, usine_bench_now() - n->start, "%s %s t%d %s",
                             run->cases[ci].dtype_name, label, threads, usine_bench_lib_name(lib));
}

static int peer_runs(const usine_bench_run *run, int id, usine_dtype dtype)
{
    const usine_bench_peer_info *p = &run->peers[id];
    return p->wanted && p->available && (p->dtypes & usine_bench_dtype_bit(dtype));
}

/* Whether a library has a cell in a case's row (run, or skipped with the reason): the
 * peers in GEMM rows, the unfused baseline (when OpenBLAS is wanted) in attention rows,
 * oneDNN and the im2col baseline (when OpenBLAS is wanted) in conv rows. */
static int lib_in_row(const usine_bench_run *run, int lib, const usine_bench_case *c)
{
    if (lib == USINE_BENCH_USINE)
        return 1;
    const int attention = c->op == USINE_BENCH_OP_ATTENTION, conv = c->op == USINE_BENCH_OP_CONV;
    if (lib == USINE_BENCH_UNFUSED)
        return attention && run->peers[USINE_PEER_OPENBLAS].wanted;
    if (lib == USINE_BENCH_IM2COL)
        return conv && run->peers[USINE_PEER_OPENBLAS].wanted;
    if (conv)
        return lib == 1 + USINE_PEER_ONEDNN && run->peers[USINE_PEER_ONEDNN].wanted;
    return !attention && run->peers[lib - 1].wanted;
}

/* The baselines run in f32 on OpenBLAS's sgemm; oneDNN's convolution needs only the library
 * (whether it has the dtype on this CPU is found when the primitive is made). */
static int lib_runs(const usine_bench_run *run, int lib, const usine_bench_case *c)
{
    if (lib == USINE_BENCH_UNFUSED || lib == USINE_BENCH_IM2COL)
        return peer_runs(run, USINE_PEER_OPENBLAS, USINE_F32);
    if (c->op == USINE_BENCH_OP_CONV && lib == 1 + USINE_PEER_ONEDNN)
        return peer_runs(run, USINE_PEER_ONEDNN, USINE_F32);
    return lib == USINE_BENCH_USINE || peer_runs(run, lib - 1, c->dtype);
}

/* A peer that is wanted but cannot run this case gets a row entry saying why. */
static void skipped_peer(usine_bench_run *run, size_t ci, int threads, int lib,
                         usine_bench_result *r)
{
    const int id =
        lib == USINE_BENCH_UNFUSED || lib == USINE_BENCH_IM2COL ? USINE_PEER_OPENBLAS : lib - 1;
    const usine_bench_peer_info *p = &run->peers[id];
    r->case_index = ci;
    r->threads = threads;
    r->lib = lib;
    r->status = USINE_BENCH_SKIPPED;
    if (lib == USINE_BENCH_UNFUSED || lib == USINE_BENCH_IM2COL) {
        snprintf(r->message, sizeof r->message, "the %s baseline needs OpenBLAS: %.200s",
                 lib == USINE_BENCH_IM2COL ? "im2col" : "unfused",
                 p->available ? "no cblas_sgemm" : p->why);
        return;
    }
    const int lowp = usine_bench_is_lowp(run->cases[ci].dtype);
    snprintf(r->message, sizeof r->message, "%s",
             !p->available            ? p->why
             : lowp && p->lowp_why[0] ? p->lowp_why
                                      : "no GEMM for this dtype");
}

static void report_mismatch(const usine_bench_case *bc, int lib, int threads,
                            const usine_bench_result *r)
{
    char label[96];
    usine_bench_case_label(bc, label, sizeof label);
    usine_bench_loud("MISMATCH: %s and usine differ on %s %s t%d: max relative difference %.3g "
                     "> tolerance %.3g at %s(%lld, %lld) of item %lld",
                     usine_bench_lib_name(lib), bc->dtype_name, label, threads, r->check.max_rel,
                     r->check.tolerance, r->check.what[0] ? r->check.what : "C",
                     (long long)r->check.worst_i, (long long)r->check.worst_j,
                     (long long)r->check.worst_item);
}

/* Measures one library of a row and checks a peer's C against usine's. Returns the
 * problems it found (usine failed, a mismatch). */
static int run_cell(usine_bench_run *run, counter *n, size_t ci, int threads, int lib,
                    const case_buffers *buf, const usine_bench_result *u, usine_bench_result *r)
{
    const usine_bench_case *bc = &run->cases[ci];
    announce(run, n, ci, threads, lib);
    measure(run, ci, threads, lib, buf, output_of(buf, lib), r);
    keep_usine_output(buf, lib, r);
    if (r->status == USINE_BENCH_FAILED) {
        char label[96];
        usine_bench_case_label(bc, label, sizeof label);
        usine_bench_loud("%s failed on %s %s: %s", usine_bench_lib_name(lib), bc->dtype_name, label,
                         r->message);
        return lib == 0;
    }
    if (lib == 0 || r->status != USINE_BENCH_OK || !u || u->status != USINE_BENCH_OK)
        return 0;
    check_against_usine(bc, buf, r);
    if (r->checked && !r->check.match) {
        report_mismatch(bc, lib, threads, r);
        return 1;
    }
    return 0;
}

/* Another round of a row: each library that ran is measured again, and keeps this round's
 * timings when their median is faster. On a shared machine a burst of other work can slow
 * one library's measurement and not the next one's; alternating rounds give each the same
 * chances of a quiet moment. */
static void run_again(usine_bench_run *run, counter *n, size_t ci, int threads,
                      const case_buffers *buf, const size_t index[])
{
    for (int lib = 0; lib < USINE_BENCH_LIBS; lib++) {
        if (index[lib] == (size_t)-1 || run->results[index[lib]].status != USINE_BENCH_OK)
            continue;
        usine_bench_result again;
        memset(&again, 0, sizeof again);
        announce(run, n, ci, threads, lib);
        measure(run, ci, threads, lib, buf, output_of(buf, lib), &again);
        usine_bench_result *kept = &run->results[index[lib]];
        if (again.status != USINE_BENCH_OK || again.gflops_median <= kept->gflops_median)
            continue;
        kept->stats = again.stats;
        kept->gflops_median = again.gflops_median;
        kept->gflops_best = again.gflops_best;
        kept->gflops_worst = again.gflops_worst;
        kept->spread = again.spread;
        kept->noisy = again.noisy;
    }
}

/* One case at one thread count: usine, then each peer checked against usine's C; then the
 * further rounds. */
static int run_row(usine_bench_run *run, counter *n, size_t ci, int threads,
                   const case_buffers *buf)
{
    size_t index[USINE_BENCH_LIBS];
    int problems = 0;
    for (int lib = 0; lib < USINE_BENCH_LIBS; lib++) {
        index[lib] = (size_t)-1;
        if (!lib_in_row(run, lib, &run->cases[ci]))
            continue;
        usine_bench_result *r = new_result(run);
        if (!r)
            return problems + 1;
        index[lib] = run->n_results - 1;
        if (!lib_runs(run, lib, &run->cases[ci]))
            skipped_peer(run, ci, threads, lib, r);
        else
            problems += run_cell(run, n, ci, threads, lib, buf,
                                 lib > 0 ? &run->results[index[0]] : NULL, r);
    }
    for (int round = 1; round < run->options->rounds && problems == 0; round++)
        run_again(run, n, ci, threads, buf, index);
    const usine_bench_result *row[USINE_BENCH_LIBS];
    for (int lib = 0; lib < USINE_BENCH_LIBS; lib++)
        row[lib] = index[lib] == (size_t)-1 ? NULL : &run->results[index[lib]];
    usine_bench_progress_clear();
    if (run->table) {
        usine_bench_report_row(run, row, run->table);
        fflush(run->table);
    }
    return problems;
}

static int case_selected(const usine_bench_run *run, const usine_bench_case *c)
{
    return c->runs && (run->options->dtypes & usine_bench_dtype_bit(c->dtype));
}

static int count_measurements(const usine_bench_run *run)
{
    int total = 0;
    for (size_t ci = 0; ci < run->n_cases; ci++) {
        if (!case_selected(run, &run->cases[ci]))
            continue;
        int libs = 0;
        for (int lib = 0; lib < USINE_BENCH_LIBS; lib++)
            libs += lib_in_row(run, lib, &run->cases[ci]) && lib_runs(run, lib, &run->cases[ci]);
        total += libs * run->options->n_threads;
    }
    return total * run->options->rounds;
}

static int run_case(usine_bench_run *run, counter *n, size_t ci)
{
    const usine_bench_case *bc = &run->cases[ci];
    case_buffers buf = {0};
    int problems = 0;
    if (case_alloc(bc, ci, &buf) != 0) {
        char label[96];
        usine_bench_case_label(bc, label, sizeof label);
        usine_bench_loud("out of memory for %s %s", bc->dtype_name, label);
        problems++;
    } else {
        for (int t = 0; t < run->options->n_threads; t++)
            problems += run_row(run, n, ci, run->options->threads[t], &buf);
    }
    case_free(&buf);
    return problems;
}

static int run_cases(usine_bench_run *run)
{
    counter n = {0, count_measurements(run), usine_bench_now()};
    const usine_bench_case *previous = NULL;
    int problems = 0;
    for (size_t ci = 0; ci < run->n_cases; ci++) {
        const usine_bench_case *bc = &run->cases[ci];
        if (bc->runs && !case_selected(run, bc))
            continue;
        if (run->table && (!previous || strcmp(previous->group, bc->group) != 0))
            usine_bench_report_section(bc, run->table);
        previous = bc;
        if (!bc->runs) {
            if (run->table)
                usine_bench_report_not_built(run, bc, run->table);
            continue;
        }
        problems += run_case(run, &n, ci);
    }
    return problems;
}

/* ------------------------------------------------------------------ a run */

/* --conv-passes: each conv line once per pass asked, in pass order (DeepBench's training
 * lists name no pass). Returns -1 when out of memory. */
static int expand_conv_passes(usine_bench_suite *suite, int passes)
{
    size_t count = 0;
    const int per_line = (passes & 1) + (passes >> 1 & 1) + (passes >> 2 & 1);
    for (size_t i = 0; i < suite->n_cases; i++)
        count += suite->cases[i].op == USINE_BENCH_OP_CONV ? (size_t)per_line : 1;
    usine_bench_case *cases = (usine_bench_case *)malloc((count ? count : 1) * sizeof *cases);
    if (!cases)
        return -1;
    size_t j = 0;
    for (size_t i = 0; i < suite->n_cases; i++) {
        if (suite->cases[i].op != USINE_BENCH_OP_CONV) {
            cases[j++] = suite->cases[i];
            continue;
        }
        for (int pass = 0; pass < 3; pass++)
            if (passes & (1 << pass)) {
                cases[j] = suite->cases[i];
                cases[j++].conv.pass = pass;
            }
    }
    free(suite->cases);
    suite->cases = cases;
    suite->n_cases = count;
    return 0;
}

int usine_bench_run_prepare(usine_bench_run *run, const usine_bench_options *o,
                            const usine_bench_machine *m, usine_bench_suite *suite)
{
    char message[300];
    memset(run, 0, sizeof *run);
    run->options = o;
    run->machine = m;
    run->table = stdout;
    if (usine_bench_suite_load(o->suite, suite, message, sizeof message) != 0) {
        fprintf(stderr, "usine bench: %s\n", message);
        return -1;
    }
    if (o->conv_passes && expand_conv_passes(suite, o->conv_passes) != 0) {
        fprintf(stderr, "usine bench: out of memory for the conv passes\n");
        usine_bench_suite_free(suite);
        return -1;
    }
    run->cases = suite->cases;
    run->n_cases = suite->n_cases;
    run->suite_name = suite->name;
    run->suite_title = suite->title;
    usine_bench_fingerprint_of(m, &run->fingerprint);
    const time_t now = time(NULL);
    struct tm utc;
    if (gmtime_r(&now, &utc))
        strftime(run->started, sizeof run->started, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return 0;
}

int usine_bench_run_execute(usine_bench_run *run)
{
    const double start = usine_bench_now();
    probe_peers(run);
    probe_gpus(run);
    measure_peaks(run);
    if (run->table)
        usine_bench_report_header(run, run->table);
    int problems = run_cases(run);
    /* usine's CUDA kernels against cuBLAS, when there is a CUDA device (cuda_bench.h) */
    if (run->table)
        problems += usine_bench_cuda_run(run->table, &run->gpu, 0.3);
    run->wall_s = usine_bench_now() - start;
    if (run->table) {
        usine_bench_report_summary(run, run->table);
        fflush(run->table);
    }
    return problems;
}

void usine_bench_run_free(usine_bench_run *run)
{
    free(run->results);
    run->results = NULL;
    run->n_results = run->capacity = 0;
}

int usine_bench_run_write_files(const usine_bench_run *run)
{
    int problems = 0;
    const char *paths[2] = {run->options->json_path, run->options->csv_path};
    for (int i = 0; i < 2; i++) {
        if (!paths[i])
            continue;
        const int rc =
            i == 0 ? usine_bench_write_json(run, paths[i]) : usine_bench_write_csv(run, paths[i]);
        if (rc != 0) {
            fprintf(stderr, "usine bench: cannot write %s: %s\n", paths[i], strerror(errno));
            problems++;
        } else {
            fprintf(stderr, "usine bench: wrote %s\n", paths[i]);
        }
    }
    return problems;
}

int usine_bench_main(const usine_bench_options *o, const usine_bench_machine *m)
{
    usine_bench_run run;
    usine_bench_suite suite;
    if (usine_bench_run_prepare(&run, o, m, &suite) != 0)
        return 2;
    if (o->list_only) {
        usine_bench_report_list(&run, stdout);
        usine_bench_suite_free(&suite);
        return 0;
    }
    int problems = usine_bench_run_execute(&run);
    problems += usine_bench_run_write_files(&run);
    usine_bench_run_free(&run);
    usine_bench_suite_free(&suite);
    return problems ? 1 : 0;
}
