/* What the machine looks like: cores and caches, from hwloc (or the C library without it). */
#ifndef USINE_AUTOTUNE_TOPOLOGY_H
#define USINE_AUTOTUNE_TOPOLOGY_H

#include <stdint.h>

typedef struct usine_cache_level {
    int64_t size_bytes; /* of one instance; 0 if the level is absent or unknown */
    int line_bytes;
    int associativity; /* ways; 0 unknown, -1 fully associative */
    int cores_sharing; /* cores under one instance */
} usine_cache_level;

typedef struct usine_topology {
    int packages, cores, pus, numa_nodes;
    usine_cache_level l1d, l2, l3;
    const char *source; /* "hwloc", "sysconf" or "defaults": where the figures come from */
} usine_topology;

/* The machine's topology, discovered on the first call (thread-safe) and kept. */
const usine_topology *usine_topology_get(void);

#endif
