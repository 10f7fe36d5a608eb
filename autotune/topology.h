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

/* A GPU on the PCI bus (NVIDIA, AMD or Intel display or 3D controller). */
typedef struct usine_gpu_location {
    unsigned vendor_id, device_id;
    char pci_bus_id[16]; /* "0000:c1:00.0" */
    int numa_node;       /* the NUMA node it hangs off; -1 unknown */
} usine_gpu_location;

#define USINE_MAX_GPUS 16

typedef struct usine_topology {
    int packages, cores, pus, numa_nodes;
    usine_cache_level l1d, l2, l3;
    int gpus; /* found on the PCI bus (hwloc only) */
    usine_gpu_location gpu[USINE_MAX_GPUS];
    const char *source; /* "hwloc", "sysconf" or "defaults": where the figures come from */
} usine_topology;

/* The machine's topology, discovered on the first call (thread-safe) and kept. */
const usine_topology *usine_topology_get(void);

/* One core's share of a cache level: its size over the cores under one instance. */
static inline int64_t usine_cache_per_core(const usine_cache_level *c)
{
    return c->size_bytes / (c->cores_sharing > 0 ? c->cores_sharing : 1);
}

#endif
