/* sched_setaffinity, CPU_SET and open_memstream. */
#define _GNU_SOURCE
#include "cluster.h"

#include <math.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster_flags.h"
#include "jsonw.h"
#include "progress.h"
#include "report.h"

#define HOST_LEN 64
#define TAG_TURN 77

/* Open MPI busy-polls in blocking calls: a rank waiting in MPI_Recv or MPI_Barrier would
 * burn a core that the rank being measured needs. Waiting ranks poll and sleep. */
static void polite_wait(MPI_Request *request)
{
    const struct timespec nap = {0, 20 * 1000 * 1000};
    int done = 0;
    for (;;) {
        MPI_Test(request, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        nanosleep(&nap, NULL);
    }
}

static void polite_barrier(MPI_Comm comm)
{
    MPI_Request request;
    MPI_Ibarrier(comm, &request);
    polite_wait(&request);
}

/* Ranks on this host (shared memory), this rank's place among them, and the host's
 * index among the hosts in the order of their lowest rank. */
static void find_host(usine_bench_mpi_info *mpi, MPI_Comm *host, char *hosts)
{
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, mpi->rank, MPI_INFO_NULL, host);
    MPI_Comm_rank(*host, &mpi->host_rank);
    MPI_Comm_size(*host, &mpi->host_ranks);
    char mine[HOST_LEN] = {0};
    gethostname(mine, HOST_LEN - 1);
    MPI_Allgather(mine, HOST_LEN, MPI_CHAR, hosts, HOST_LEN, MPI_CHAR, MPI_COMM_WORLD);
    mpi->host_index = 0;
    for (int r = 0; r < mpi->size; r++) {
        int first = 1; /* the first rank on its host */
        for (int q = 0; q < r && first; q++)
            first = strncmp(hosts + q * HOST_LEN, hosts + r * HOST_LEN, HOST_LEN) != 0;
        if (first && !strncmp(hosts + r * HOST_LEN, mine, HOST_LEN))
            break;
        mpi->host_index += first;
    }
}

/* mpirun binds each rank to one core by default; a node benchmark needs all of them. */
static void widen_affinity(usine_bench_mpi_info *mpi)
{
    cpu_set_t set;
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) >= cpus)
        return;
    const int before = CPU_COUNT(&set);
    CPU_ZERO(&set);
    for (long c = 0; c < cpus && c < CPU_SETSIZE; c++)
        CPU_SET((int)c, &set);
    const int ok = sched_setaffinity(0, sizeof set, &set) == 0;
    snprintf(mpi->affinity, sizeof mpi->affinity,
             "mpirun bound this rank to %d of %ld CPUs; %s (use mpirun --bind-to none)", before,
             cpus,
             ok ? "widened to all of them"
                : "widening it failed: thread counts above it "
                  "share cores");
}

/* Ranks of one host run one after another: wait for the previous one, run, pass on. */
static int run_in_turn(usine_bench_run *run, const usine_bench_mpi_info *mpi, MPI_Comm host)
{
    int token = 0;
    if (mpi->host_rank > 0) {
        MPI_Request request;
        MPI_Irecv(&token, 1, MPI_INT, mpi->host_rank - 1, TAG_TURN, host, &request);
        polite_wait(&request);
    }
    if (mpi->rank != 0)
        fprintf(stderr, "usine bench: rank %d of %d starts\n", mpi->rank, mpi->size);
    const int problems = usine_bench_run_execute(run);
    if (mpi->host_rank + 1 < mpi->host_ranks)
        MPI_Send(&token, 1, MPI_INT, mpi->host_rank + 1, TAG_TURN, host);
    return problems;
}

/* ------------------------------------------------------------------ gathering */

/* Text written by `write` for this rank, gathered on rank 0 (NULL elsewhere): the
 * ranks' texts one after another, offsets[r] where rank r's starts. */
static char *gather_text(const usine_bench_run *run, int csv, const usine_bench_mpi_info *mpi,
                         int *offsets)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    if (csv)
        usine_bench_write_csv_to(run, f, mpi->rank == 0);
    else
        usine_bench_write_json_to(run, f);
    fclose(f);
    int mine = (int)len + 1, *lengths = (int *)calloc((size_t)mpi->size, sizeof(int));
    MPI_Gather(&mine, 1, MPI_INT, lengths, 1, MPI_INT, 0, MPI_COMM_WORLD);
    char *all = NULL;
    if (mpi->rank == 0) {
        int total = 0;
        for (int r = 0; r < mpi->size; r++) {
            offsets[r] = total;
            total += lengths[r];
        }
        all = (char *)malloc((size_t)total);
    }
    MPI_Gatherv(text, mine, MPI_CHAR, all, lengths, offsets, MPI_CHAR, 0, MPI_COMM_WORLD);
    free(lengths);
    free(text);
    return all;
}

/* What the nodes are compared on: usine's median GFLOP/s of every case and thread count,
 * then the f32 and f64 peaks and the bandwidth of the largest thread count. */
static size_t node_values(const usine_bench_run *run, double *values, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < run->n_results && n < max; i++) {
        const usine_bench_result *r = &run->results[i];
        if (r->lib == USINE_BENCH_USINE)
            values[n++] = r->status == USINE_BENCH_OK ? r->gflops_median : NAN;
    }
    const int t = run->options->n_threads - 1;
    const double extra[3] = {run->peak[0][t], run->peak[1][t], run->bandwidth[t]};
    for (int i = 0; i < 3 && n < max; i++)
        values[n++] = extra[i];
    return n;
}

typedef struct gathered {
    char *json, *csv;
    int json_at[1024], csv_at[1024];
    double *values; /* size x n_values */
    int n_values;
    char *prints, *hosts; /* size x 17, size x HOST_LEN */
} gathered;

static int gather_all(const usine_bench_run *run, const usine_bench_mpi_info *mpi, gathered *g)
{
    double mine[4096];
    int n = (int)node_values(run, mine, 4096), max_n = 0;
    MPI_Allreduce(&n, &max_n, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    for (int i = n; i < max_n; i++)
        mine[i] = NAN;
    g->n_values = max_n;
    if (mpi->rank == 0) {
        g->values = (double *)malloc(sizeof(double) * (size_t)(max_n * mpi->size + 1));
        g->prints = (char *)malloc((size_t)(17 * mpi->size));
    }
    MPI_Gather(mine, max_n, MPI_DOUBLE, g->values, max_n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    MPI_Gather(run->fingerprint.hash, 17, MPI_CHAR, g->prints, 17, MPI_CHAR, 0, MPI_COMM_WORLD);
    g->json = gather_text(run, 0, mpi, g->json_at);
    g->csv = run->options->csv_path ? gather_text(run, 1, mpi, g->csv_at) : NULL;
    return mpi->rank != 0 || (g->json && g->values && g->prints) ? 0 : -1;
}

/* ------------------------------------------------------------------ rank 0's output */

static void json_verdicts(usine_jsonw *w, const gathered *g, const usine_bench_mpi_info *mpi,
                          const usine_bench_node_verdict *v)
{
    usine_jsonw_array(w, "comparison");
    for (int r = 0; r < mpi->size; r++) {
        usine_jsonw_object(w, NULL);
        usine_jsonw_int(w, "rank", r);
        usine_jsonw_string(w, "hostname", g->hosts + r * HOST_LEN);
        usine_jsonw_string(w, "fingerprint", g->prints + 17 * r);
        usine_jsonw_int(w, "same_fingerprint_nodes", v[r].peers);
        usine_jsonw_int(w, "reference_rank", v[r].reference);
        usine_jsonw_double(w, "score", v[r].score);
        usine_jsonw_int(w, "slow_values", v[r].slow_values);
        usine_jsonw_double(w, "worst_ratio", v[r].worst_ratio);
        usine_jsonw_bool(w, "flagged", v[r].flagged);
        usine_jsonw_end(w);
    }
    usine_jsonw_end(w);
}

static int write_cluster_json(const char *path, const usine_bench_run *run, const gathered *g,
                              const usine_bench_mpi_info *mpi, const usine_bench_node_verdict *v)
{
    char library[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    MPI_Get_library_version(library, &len);
    library[strcspn(library, "\n,")] = '\0';
    usine_jsonw w;
    usine_jsonw_init(&w, f);
    usine_jsonw_object(&w, NULL);
    usine_jsonw_int(&w, "schema_version", USINE_BENCH_SCHEMA_VERSION);
    usine_jsonw_string(&w, "format", "usine-bench-cluster");
    usine_jsonw_string(&w, "created", run->started);
    usine_jsonw_string(&w, "command", run->options->command_line);
    usine_jsonw_object(&w, "mpi");
    usine_jsonw_string(&w, "library", library);
    usine_jsonw_int(&w, "ranks", mpi->size);
    usine_jsonw_string(&w, "schedule", mpi->schedule);
    usine_jsonw_end(&w);
    usine_jsonw_double(&w, "threshold", USINE_BENCH_CLUSTER_THRESHOLD);
    usine_jsonw_string(&w, "compared_on",
                       "usine's median GFLOP/s of every case and thread count, the f32 and f64 "
                       "peaks and the triad bandwidth at the most threads; score = geometric "
                       "mean of value / best value among nodes of the same fingerprint");
    json_verdicts(&w, g, mpi, v);
    usine_jsonw_array(&w, "nodes");
    for (int r = 0; r < mpi->size; r++)
        usine_jsonw_raw(&w, NULL, g->json + g->json_at[r]);
    usine_jsonw_end(&w);
    usine_jsonw_end(&w);
    const int error = ferror(f);
    return fclose(f) == 0 && !error ? 0 : -1;
}

static int write_cluster_csv(const char *path, const gathered *g, int size)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    for (int r = 0; r < size; r++)
        fputs(g->csv + g->csv_at[r], f);
    const int error = ferror(f);
    return fclose(f) == 0 && !error ? 0 : -1;
}

static void print_summary(const gathered *g, const usine_bench_mpi_info *mpi,
                          const usine_bench_node_verdict *v, int flagged)
{
    printf("\nCluster: %d rank%s; %s\n", mpi->size, mpi->size == 1 ? "" : "s", mpi->schedule);
    printf("%-5s %-20s %-17s %6s %8s %6s  %s\n", "rank", "host", "fingerprint", "peers", "score",
           "slow", "verdict");
    for (int r = 0; r < mpi->size; r++)
        printf("%-5d %-20.20s %-17s %6d %8.3f %6d  %s\n", r, g->hosts + r * HOST_LEN,
               g->prints + 17 * r, v[r].peers, v[r].score, v[r].slow_values,
               v[r].flagged      ? "SLOW: more than 10% below its kind"
               : v[r].peers == 0 ? "alone of its kind"
                                 : "ok");
    printf("%d node%s flagged (same fingerprint, > %.0f%% apart)\n", flagged,
           flagged == 1 ? "" : "s", 100 * USINE_BENCH_CLUSTER_THRESHOLD);
}

static int rank0_output(const usine_bench_run *run, gathered *g, const usine_bench_mpi_info *mpi)
{
    usine_bench_node nodes[1024];
    usine_bench_node_verdict verdicts[1024];
    for (int r = 0; r < mpi->size; r++)
        nodes[r] = (usine_bench_node){g->prints + 17 * r, g->values + (size_t)r * g->n_values};
    const int flagged = usine_bench_cluster_compare(nodes, (size_t)mpi->size, (size_t)g->n_values,
                                                    USINE_BENCH_CLUSTER_THRESHOLD, verdicts);
    print_summary(g, mpi, verdicts, flagged);
    fflush(stdout); /* the summary before the warnings on stderr */
    for (int r = 0; r < mpi->size; r++)
        if (verdicts[r].flagged)
            usine_bench_loud("rank %d (%s) is %.0f%% below the fastest node of its fingerprint", r,
                             g->hosts + r * HOST_LEN, 100 * (1 - verdicts[r].score));
    const char *json = run->options->json_path ? run->options->json_path : "usine-bench-mpi.json";
    int problems = 0;
    if (write_cluster_json(json, run, g, mpi, verdicts) != 0)
        problems += fprintf(stderr, "usine bench: cannot write %s\n", json) > 0;
    else
        fprintf(stderr, "usine bench: wrote %s (%d nodes)\n", json, mpi->size);
    if (g->csv && write_cluster_csv(run->options->csv_path, g, mpi->size) != 0)
        problems += fprintf(stderr, "usine bench: cannot write %s\n", run->options->csv_path) > 0;
    return problems;
}

/* ------------------------------------------------------------------ main */

static int cluster_run(const usine_bench_options *o, const usine_bench_machine *m,
                       usine_bench_mpi_info *mpi, char *hosts)
{
    MPI_Comm host;
    usine_bench_run run;
    usine_bench_suite suite;
    find_host(mpi, &host, hosts);
    widen_affinity(mpi);
    snprintf(mpi->schedule, sizeof mpi->schedule,
             "ranks sharing a host ran one after another (%d on this one), hosts concurrently",
             mpi->host_ranks);
    usine_bench_progress_quiet(mpi->rank != 0);
    int problems = 0;
    if (usine_bench_run_prepare(&run, o, m, &suite) != 0)
        return 2;
    run.mpi = mpi;
    run.table = mpi->rank == 0 ? stdout : NULL;
    problems += run_in_turn(&run, mpi, host);
    polite_barrier(MPI_COMM_WORLD);
    gathered g = {0};
    g.hosts = hosts;
    if (gather_all(&run, mpi, &g) != 0)
        problems++;
    else if (mpi->rank == 0)
        problems += rank0_output(&run, &g, mpi);
    free(g.json);
    free(g.csv);
    free(g.values);
    free(g.prints);
    usine_bench_run_free(&run);
    usine_bench_suite_free(&suite);
    MPI_Comm_free(&host);
    return problems ? 1 : 0;
}

int usine_bench_cluster_main(const usine_bench_options *o, const usine_bench_machine *m)
{
    /* The children forked per measurement make no MPI call; Open MPI need not warn. */
    setenv("OMPI_MCA_mpi_warn_on_fork", "0", 0);
    MPI_Init(NULL, NULL);
    usine_bench_mpi_info mpi = {0};
    MPI_Comm_rank(MPI_COMM_WORLD, &mpi.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mpi.size);
    int status = 2;
    char *hosts = (char *)calloc((size_t)mpi.size, HOST_LEN);
    if (mpi.size > 1024 && mpi.rank == 0)
        fprintf(stderr, "usine bench: --mpi handles up to 1024 ranks\n");
    else if (hosts)
        status = cluster_run(o, m, &mpi, hosts);
    int worst = status;
    MPI_Reduce(&status, &worst, 1, MPI_INT, MPI_MAX, 0, MPI_COMM_WORLD);
    free(hosts);
    MPI_Finalize();
    return mpi.rank == 0 ? worst : status;
}
