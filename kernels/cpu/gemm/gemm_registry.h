/* The CPU GEMM kernels, in order of preference for each dtype. */
#ifndef USINE_KERNELS_CPU_GEMM_REGISTRY_H
#define USINE_KERNELS_CPU_GEMM_REGISTRY_H

#include "gemm_kernel.h"

/* NULL-terminated, fastest first: the first entry of a dtype whose ISA the CPU has wins
 * unless the tuner or USINE_KERNEL says otherwise. */
extern const usine_gemm_kernel *const usine_gemm_registry[];

/* The kernel of that name, or NULL. */
const usine_gemm_kernel *usine_gemm_kernel_by_name(const char *name);

#endif
