/* The context: resolved settings and the kernel selector (with the tuning database read
 * once), so that a call does no environment read and no file I/O. */
#ifndef USINE_CORE_CONTEXT_H
#define USINE_CORE_CONTEXT_H

#include "usine.h"
#include "../autotune/select.h"
#include "../kernels/cpu/cpu_isa.h"

/* GEMM dtypes with a CPU kernel, as indices into usine_context.gemm. */
#define USINE_GEMM_DTYPES 2

struct usine_context {
    int threads_option; /* as set by the caller: 0 = default */
    int num_threads;    /* resolved, >= 1 */
    usine_cpu_isa isa;  /* detected, capped by USINE_CPU_ISA */
    int verbose;        /* USINE_VERBOSE */
    int tune_online;    /* USINE_TUNE=online */
    usine_selector selector;
    /* What a large (2048^3) product gets on num_threads threads: for `usine info`. */
    usine_gemm_choice gemm[USINE_GEMM_DTYPES];
};

/*
 * Like usine_create(context, NULL), but from the defaults alone, whatever USINE_NUM_THREADS,
 * USINE_CPU_ISA, USINE_KERNEL and USINE_GEMM_BLOCKING say (USINE_VERBOSE is honoured): the
 * fallback of the BLAS layer (core/blas.c), which cannot return an error to its caller when
 * the environment holds an invalid setting.
 */
usine_status usine_create_from_defaults(usine_context **context);

/* Threads a call made now may use: 1 inside the caller's OpenMP parallel region. */
int usine_context_threads(const usine_context *context);

#endif
