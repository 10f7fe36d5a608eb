/* The cluster comparison (bench/cluster_flags.c): nodes of one fingerprint more than 10%
 * apart are flagged, nodes of another kind are never compared with them. */
#include <math.h>
#include <stdio.h>

#include "cluster_flags.h"

static int failures;

static void expect(int ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
    failures += !ok;
}

int main(void)
{
    /* Three nodes of kind A (one 15% slower), one of kind B twice as slow: B is alone. */
    const double fast[4] = {100, 200, 50, 30}, same[4] = {98, 205, 49, 31},
                 slow[4] = {85, 170, 42.5, 25.5}, other[4] = {50, 100, 25, 15};
    const usine_bench_node nodes[4] = {
        {"aaaa", fast}, {"aaaa", same}, {"aaaa", slow}, {"bbbb", other}};
    usine_bench_node_verdict v[4];
    const int flagged = usine_bench_cluster_compare(nodes, 4, 4, 0.10, v);
    expect(flagged == 1, "one node flagged");
    expect(v[2].flagged && v[2].score < 0.9 && v[2].slow_values == 4, "the 15% slower node");
    expect(!v[0].flagged && !v[1].flagged, "nodes within 10% are not flagged");
    expect(v[3].peers == 0 && !v[3].flagged, "a node alone of its kind is not compared");
    expect(v[0].peers == 2 && v[2].reference != 2, "the reference is a faster node of the kind");

    /* Missing values (NaN, 0) are left out, not counted as slow. */
    const double gap[4] = {NAN, 0, 50, 30};
    const usine_bench_node two[2] = {{"aaaa", fast}, {"aaaa", gap}};
    usine_bench_cluster_compare(two, 2, 4, 0.10, v);
    expect(!v[1].flagged && fabs(v[1].score - 1) < 1e-12, "missing values are skipped");

    /* Exactly at the threshold: 1/1.1 of the best is not more than 10% apart. */
    const double edge[1] = {100 / 1.1 + 1e-9}, best[1] = {100};
    const usine_bench_node pair[2] = {{"x", best}, {"x", edge}};
    usine_bench_cluster_compare(pair, 2, 1, 0.10, v);
    expect(!v[1].flagged, "10% apart is not flagged, more is");
    return failures ? 1 : 0;
}
