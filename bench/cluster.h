/*
 * `mpirun -n N usine bench --mpi`: every rank benchmarks its node, rank 0 gathers one
 * JSON (format usine-bench-cluster: each node's full report, and the nodes flagged as
 * more than 10% slower than others of the same fingerprint) and prints a summary.
 *
 * Ranks that share a host take turns (one after another, hosts in parallel), so that
 * they do not share the cores they measure; waiting ranks sleep instead of spinning in
 * MPI. Each rank widens a narrow CPU binding (mpirun binds a rank to one core by
 * default) to the whole node, and says so in the JSON. Only built with MPI.
 */
#ifndef USINE_BENCH_CLUSTER_H
#define USINE_BENCH_CLUSTER_H

#include "runner.h"

/* Runs the cluster mode; returns the exit status (0, 1 problems, 2 usage). Calls
 * MPI_Init and MPI_Finalize. */
int usine_bench_cluster_main(const usine_bench_options *o, const usine_bench_machine *m);

#endif
