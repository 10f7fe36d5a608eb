/* Scratch memory for kernels, owned by core/ (kernels never allocate). */
#ifndef USINE_CORE_WORKSPACE_H
#define USINE_CORE_WORKSPACE_H

#include <stddef.h>

/* A 64-byte-aligned buffer of at least `bytes`, private to the calling thread and kept
 * between calls (grown when too small, freed when the thread exits), so that repeated
 * calls neither allocate nor page-fault. NULL if the allocation fails. */
void *usine_workspace_acquire(size_t bytes);

#endif
