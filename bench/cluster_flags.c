#include "cluster_flags.h"

#include <math.h>
#include <string.h>

static int present(double v)
{
    return isfinite(v) && v > 0;
}

/* The best value i among the nodes of node a's fingerprint. */
static double best_of_kind(const usine_bench_node *nodes, size_t n, size_t a, size_t i)
{
    double best = 0;
    for (size_t b = 0; b < n; b++)
        if (!strcmp(nodes[a].fingerprint, nodes[b].fingerprint) && present(nodes[b].values[i]) &&
            nodes[b].values[i] > best)
            best = nodes[b].values[i];
    return best;
}

static void judge(const usine_bench_node *nodes, size_t n, size_t a, size_t n_values,
                  double threshold, usine_bench_node_verdict *v)
{
    double log_sum = 0;
    int counted = 0;
    memset(v, 0, sizeof *v);
    v->worst_ratio = 1;
    for (size_t b = 0; b < n; b++)
        v->peers += b != a && !strcmp(nodes[a].fingerprint, nodes[b].fingerprint);
    for (size_t i = 0; i < n_values && v->peers; i++) {
        const double best = best_of_kind(nodes, n, a, i), mine = nodes[a].values[i];
        if (!present(mine) || best <= 0)
            continue;
        const double ratio = mine / best;
        log_sum += log(ratio);
        counted++;
        v->slow_values += ratio < 1 / (1 + threshold);
        if (ratio < v->worst_ratio) {
            v->worst_ratio = ratio;
            v->worst_value = i;
        }
    }
    v->score = counted ? exp(log_sum / counted) : 1;
    v->flagged = v->score < 1 / (1 + threshold);
}

int usine_bench_cluster_compare(const usine_bench_node *nodes, size_t n, size_t n_values,
                                double threshold, usine_bench_node_verdict *verdicts)
{
    int flagged = 0;
    for (size_t a = 0; a < n; a++) {
        judge(nodes, n, a, n_values, threshold, &verdicts[a]);
        flagged += verdicts[a].flagged;
    }
    /* The reference of a node: the best-scoring node of its kind. */
    for (size_t a = 0; a < n; a++) {
        verdicts[a].reference = (int)a;
        for (size_t b = 0; b < n; b++)
            if (!strcmp(nodes[a].fingerprint, nodes[b].fingerprint) &&
                verdicts[b].score > verdicts[verdicts[a].reference].score)
                verdicts[a].reference = (int)b;
    }
    return flagged;
}
