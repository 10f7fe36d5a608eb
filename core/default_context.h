/* A context that ignores the USINE_* tuning variables: the fallback of the BLAS layer
 * (core/blas.c), which cannot return an error to its caller when the environment holds an
 * invalid setting. */
#ifndef USINE_CORE_DEFAULT_CONTEXT_H
#define USINE_CORE_DEFAULT_CONTEXT_H

#include "usine.h"

/*
 * Like usine_create(context, NULL), but built from the defaults alone, whatever
 * USINE_NUM_THREADS, USINE_CPU_ISA, USINE_KERNEL and USINE_GEMM_BLOCKING say: OpenMP's
 * thread count, the detected ISA, the registry's first kernel with the model's blocking.
 * USINE_VERBOSE (which cannot be invalid) is still honoured. *context is NULL on failure
 * (USINE_ERROR_OUT_OF_MEMORY, or USINE_ERROR_INTERNAL if no kernel exists for a dtype).
 * Keep in step with usine_create (core/context.c).
 */
usine_status usine_create_from_defaults(usine_context **context);

#endif
