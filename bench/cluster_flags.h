/*
 * The cluster comparison: nodes with the same fingerprint should perform alike, so a
 * node more than a threshold (10%) slower than the fastest of its kind is flagged: the
 * slow node an operator of a new machine is looking for (a bad DIMM, a throttling CPU,
 * a noisy neighbour). No MPI here: cluster.c gathers, this compares, a test checks it.
 */
#ifndef USINE_BENCH_CLUSTER_FLAGS_H
#define USINE_BENCH_CLUSTER_FLAGS_H

#include <stddef.h>

#define USINE_BENCH_CLUSTER_THRESHOLD 0.10

/* One node's measurements: values[i] is the same measurement on every node (usine's
 * GFLOP/s of one case and thread count, a peak, a bandwidth), NaN or <= 0 when missing. */
typedef struct usine_bench_node {
    const char *fingerprint; /* hash */
    const double *values;
} usine_bench_node;

typedef struct usine_bench_node_verdict {
    int peers;          /* other nodes of the same fingerprint */
    int reference;      /* the fastest node of its kind (its own index when alone) */
    double score;       /* geometric mean of value / best value of its kind, in (0, 1] */
    int slow_values;    /* values more than the threshold below the best of its kind */
    size_t worst_value; /* the index of its lowest value / best */
    double worst_ratio;
    int flagged; /* score < 1 / (1 + threshold) */
} usine_bench_node_verdict;

/* Compares n nodes of n_values values each; fills verdicts[n]. Returns how many nodes
 * are flagged. */
int usine_bench_cluster_compare(const usine_bench_node *nodes, size_t n, size_t n_values,
                                double threshold, usine_bench_node_verdict *verdicts);

#endif
