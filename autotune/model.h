/* Analytic blocking: what runs with no tuning at all (the BLIS model, Low et al. 2016). */
#ifndef USINE_AUTOTUNE_MODEL_H
#define USINE_AUTOTUNE_MODEL_H

#include "topology.h"
#include "../kernels/cpu/gemm/gemm_kernel.h"

/* MC, KC, NC for a kernel on this machine, from the cache sizes. */
usine_gemm_blocking usine_model_gemm_blocking(const usine_topology *topology,
                                              const usine_gemm_kernel *kernel);

#endif
