#include "fingerprint.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "topology.h"
#include "../kernels/cpu/cpu_isa.h"

static usine_fingerprint fingerprint;
static pthread_once_t fingerprint_once = PTHREAD_ONCE_INIT;

void usine_fingerprint_hash(const char *text, char out[17])
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 offset basis and prime */
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    snprintf(out, 17, "%016" PRIx64, h);
}

static void compute(void)
{
    usine_cpu_identity id;
    usine_cpu_identify(&id);
    const usine_topology *t = usine_topology_get();
    snprintf(fingerprint.text, sizeof fingerprint.text,
             "%s %s %s %d/%d/%d %s %dp %dc %dt %dn L1d %lldK L2 %lldK/%d L3 %lldK/%d", id.arch,
             id.vendor[0] ? id.vendor : "unknown-vendor", id.brand[0] ? id.brand : "unknown-cpu",
             id.family, id.model, id.stepping, usine_cpu_isa_name(usine_cpu_isa_detect()),
             t->packages, t->cores, t->pus, t->numa_nodes, (long long)(t->l1d.size_bytes >> 10),
             (long long)(t->l2.size_bytes >> 10), t->l2.cores_sharing,
             (long long)(t->l3.size_bytes >> 10), t->l3.cores_sharing);
    /* GPUs by vendor and device id: a node with a different accelerator tunes apart. */
    size_t used = strlen(fingerprint.text);
    for (int g = 0; g < t->gpus && used < sizeof fingerprint.text; g++)
        used += (size_t)snprintf(fingerprint.text + used, sizeof fingerprint.text - used,
                                 " gpu %04x:%04x", t->gpu[g].vendor_id, t->gpu[g].device_id);
    usine_fingerprint_hash(fingerprint.text, fingerprint.hash);
}

const usine_fingerprint *usine_fingerprint_get(void)
{
    pthread_once(&fingerprint_once, compute);
    return &fingerprint;
}
