#include "workspace.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

typedef struct workspace {
    void *data;
    size_t bytes;
} workspace;

static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_ok;

static void release(void *p)
{
    workspace *ws = (workspace *)p;
    free(ws->data);
    free(ws);
}

static void make_key(void)
{
    key_ok = pthread_key_create(&key, release) == 0;
}

void *usine_workspace_acquire(size_t bytes)
{
    pthread_once(&key_once, make_key);
    if (!key_ok)
        return NULL;
    if (bytes == 0)
        bytes = 64;
    workspace *ws = (workspace *)pthread_getspecific(key);
    if (!ws) {
        ws = (workspace *)calloc(1, sizeof *ws);
        if (!ws || pthread_setspecific(key, ws) != 0) {
            free(ws);
            return NULL;
        }
    }
    if (ws->bytes >= bytes)
        return ws->data;
    /* 2 MiB steps, 2 MiB aligned: slowly growing shapes do not reallocate at each call,
     * and the packed panels can sit in transparent huge pages (fewer TLB misses while the
     * microkernels stream them), where the kernel allows it. */
    const size_t step = (size_t)2 << 20;
    const size_t size = (bytes + step - 1) / step * step;
    void *data = aligned_alloc(step, size);
    if (!data)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(data, size, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    free(ws->data);
    ws->data = data;
    ws->bytes = size;
    return data;
}
