/*
 * Which kernel and blocking a call gets. Today's rules, in order: a kernel forced by name
 * (USINE_KERNEL), else the registry's first kernel for the dtype within the ISA cap with
 * the analytic model's blocking. The tuning database slots in before the model.
 */
#ifndef USINE_AUTOTUNE_SELECT_H
#define USINE_AUTOTUNE_SELECT_H

#include <stddef.h>

#include "../kernels/cpu/gemm/gemm_kernel.h"

typedef struct usine_gemm_choice {
    const usine_gemm_kernel *kernel;
    usine_gemm_blocking blocking;
    const char *rule; /* "forced by USINE_KERNEL" or "model" */
} usine_gemm_choice;

typedef enum usine_select_error {
    USINE_SELECT_OK = 0,
    USINE_SELECT_UNKNOWN_NAME, /* a forced name is not in the registry */
    USINE_SELECT_ISA_TOO_HIGH, /* a forced kernel needs an ISA above the cap */
    USINE_SELECT_NO_KERNEL     /* no kernel for the dtype */
} usine_select_error;

/* forced: NULL or a comma-separated list of kernel names (at most one per dtype is used).
 * On error, message receives a sentence naming the culprit. */
usine_select_error usine_select_gemm(usine_dtype dtype, usine_cpu_isa cap, const char *forced,
                                     usine_gemm_choice *choice, char *message, size_t size);

/* Checks every name in a forced list (unknown names, ISA above the cap). */
usine_select_error usine_select_check_forced(const char *forced, usine_cpu_isa cap, char *message,
                                             size_t size);

#endif
