#include "topology.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#ifdef USINE_HAVE_HWLOC
#include <hwloc.h>
#endif

static usine_topology topology;
static pthread_once_t topology_once = PTHREAD_ONCE_INIT;

/* Used only when neither hwloc nor the C library knows: a typical x86 server core. */
static void set_defaults(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    topology.packages = 1;
    topology.numa_nodes = 1;
    topology.cores = topology.pus = cpus > 0 ? (int)cpus : 1;
    topology.l1d = (usine_cache_level){32 * 1024, 64, 8, 1};
    topology.l2 = (usine_cache_level){1024 * 1024, 64, 8, 1};
    topology.l3 = (usine_cache_level){8 * 1024 * 1024, 64, 16, topology.cores};
    topology.source = "defaults";
}

#ifdef _SC_LEVEL1_DCACHE_SIZE
static void read_sysconf_level(usine_cache_level *level, int size_name, int line_name,
                               int assoc_name)
{
    long size = sysconf(size_name), line = sysconf(line_name), assoc = sysconf(assoc_name);
    if (size > 0)
        level->size_bytes = size;
    if (line > 0)
        level->line_bytes = (int)line;
    if (assoc > 0)
        level->associativity = (int)assoc;
}

/* glibc reads cpuid for these; sharing is not reported, so L3 stays shared by all cores. */
static void read_sysconf(void)
{
    read_sysconf_level(&topology.l1d, _SC_LEVEL1_DCACHE_SIZE, _SC_LEVEL1_DCACHE_LINESIZE,
                       _SC_LEVEL1_DCACHE_ASSOC);
    read_sysconf_level(&topology.l2, _SC_LEVEL2_CACHE_SIZE, _SC_LEVEL2_CACHE_LINESIZE,
                       _SC_LEVEL2_CACHE_ASSOC);
    read_sysconf_level(&topology.l3, _SC_LEVEL3_CACHE_SIZE, _SC_LEVEL3_CACHE_LINESIZE,
                       _SC_LEVEL3_CACHE_ASSOC);
    topology.source = "sysconf";
}
#else
static void read_sysconf(void) {}
#endif

#ifdef USINE_HAVE_HWLOC
static void read_hwloc_cache(hwloc_topology_t t, hwloc_obj_type_t type, usine_cache_level *level)
{
    hwloc_obj_t obj = hwloc_get_obj_by_type(t, type, 0);
    if (!obj || !obj->attr)
        return;
    level->size_bytes = (int64_t)obj->attr->cache.size;
    level->line_bytes = (int)obj->attr->cache.linesize;
    level->associativity = obj->attr->cache.associativity;
    int sharing = hwloc_get_nbobjs_inside_cpuset_by_type(t, obj->cpuset, HWLOC_OBJ_CORE);
    level->cores_sharing = sharing > 0 ? sharing : 1;
}

/* PCI display and 3D controllers of the GPU vendors, with the NUMA node above them. */
static void read_hwloc_gpus(hwloc_topology_t t)
{
    for (hwloc_obj_t pci = hwloc_get_next_pcidev(t, NULL); pci && topology.gpus < USINE_MAX_GPUS;
         pci = hwloc_get_next_pcidev(t, pci)) {
        const struct hwloc_pcidev_attr_s *a = &pci->attr->pcidev;
        const unsigned cls = a->class_id >> 8; /* 0x03: display controller */
        if (cls != 0x03 ||
            (a->vendor_id != 0x10de && a->vendor_id != 0x1002 && a->vendor_id != 0x8086))
            continue;
        usine_gpu_location *g = &topology.gpu[topology.gpus++];
        g->vendor_id = a->vendor_id;
        g->device_id = a->device_id;
        snprintf(g->pci_bus_id, sizeof g->pci_bus_id, "%04x:%02x:%02x.%01x", a->domain, a->bus,
                 a->dev, a->func);
        g->numa_node = -1;
        hwloc_obj_t host = hwloc_get_non_io_ancestor_obj(t, pci);
        if (host && host->nodeset) {
            int node = hwloc_bitmap_first(host->nodeset);
            g->numa_node = node >= 0 ? node : -1;
        }
    }
}

static int read_hwloc(void)
{
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0)
        return 0;
    /* Of the I/O devices only the important ones (GPUs among them) are kept: the rest is
     * the slow part of discovery and of no use to usine. */
    hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    /* On Linux hwloc reads the PCI bus from sysfs itself; its libpciaccess component adds
     * nothing there and leaks about 1 KiB per load (LeakSanitizer, hwloc 2.9). */
    hwloc_topology_set_components(t, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, "pci");
    if (hwloc_topology_load(t) != 0) {
        hwloc_topology_destroy(t);
        return 0;
    }
    int n;
    if ((n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE)) > 0)
        topology.packages = n;
    if ((n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE)) > 0)
        topology.cores = n;
    if ((n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU)) > 0)
        topology.pus = n;
    if ((n = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE)) > 0)
        topology.numa_nodes = n;
    read_hwloc_cache(t, HWLOC_OBJ_L1CACHE, &topology.l1d);
    read_hwloc_cache(t, HWLOC_OBJ_L2CACHE, &topology.l2);
    read_hwloc_cache(t, HWLOC_OBJ_L3CACHE, &topology.l3);
    read_hwloc_gpus(t);
    hwloc_topology_destroy(t);
    topology.source = "hwloc";
    return 1;
}
#endif

static void discover(void)
{
    set_defaults();
#ifdef USINE_HAVE_HWLOC
    if (read_hwloc())
        return;
#endif
    read_sysconf();
}

const usine_topology *usine_topology_get(void)
{
    pthread_once(&topology_once, discover);
    return &topology;
}
