/* The context: resolved settings and the kernel selector (with the tuning database read
 * once), so that a call does no environment read and no file I/O. */
#ifndef USINE_CORE_CONTEXT_H
#define USINE_CORE_CONTEXT_H

#include "usine.h"
#include "../autotune/select.h"
#include "../kernels/cpu/cpu_isa.h"
#include "../kernels/cuda/cuda_runtime.h"

/* GEMM dtypes with a CPU kernel, as indices into usine_context.gemm. */
#define USINE_GEMM_DTYPES 2

/* Where a context's calls run. */
typedef enum usine_device_kind { USINE_DEVICE_CPU = 0, USINE_DEVICE_CUDA = 1 } usine_device_kind;

struct usine_context {
    int threads_option; /* as set by the caller: 0 = default */
    int num_threads;    /* resolved, >= 1 */
    usine_cpu_isa isa;  /* detected, capped by USINE_CPU_ISA */
    int verbose;        /* USINE_VERBOSE */
    int tune_online;    /* USINE_TUNE=online */
    usine_selector selector;
    /* What a large (2048^3) product gets on num_threads threads: for `usine info`. */
    usine_gemm_choice gemm[USINE_GEMM_DTYPES];
    /* The device (options->device, else USINE_DEVICE, else the CPU). A CUDA context takes
     * device pointers and runs on `stream` (a cudaStream_t; NULL: the default stream). */
    usine_device_kind device;
    int device_ordinal;
    void *stream;
    usine_cuda_device_info cuda; /* USINE_DEVICE_CUDA: what usine_create found */
    char cuda_kernel[128];       /* USINE_CUDA_KERNEL: a CUDA GEMM kernel to force, or "" */
    int cuda_split_k;            /* USINE_CUDA_SPLIT_K: sm_90a k slices, 0 = the library's choice */
    char device_name[24];        /* "cpu", "cuda:0" */
};

/*
 * Like usine_create(context, NULL), but from the defaults alone, whatever USINE_NUM_THREADS,
 * USINE_CPU_ISA, USINE_KERNEL and USINE_GEMM_BLOCKING say (USINE_VERBOSE is honoured): the
 * fallback of the BLAS layer (core/blas.c), which cannot return an error to its caller when
 * the environment holds an invalid setting.
 */
usine_status usine_create_from_defaults(usine_context **context);

/* USINE_SUCCESS on a CPU context; on another, USINE_ERROR_NOT_SUPPORTED recorded against
 * `function` ("... has no CUDA kernel yet: use a CPU context"): for the operations that
 * only have CPU kernels, which must not touch device pointers. */
usine_status usine_context_require_cpu(const usine_context *context, const char *function);

/* "cpu" or "cuda:N" (a static or context-owned string). */
const char *usine_context_device_name(const usine_context *context);

/* Threads a call made now may use: 1 inside the caller's OpenMP parallel region. */
int usine_context_threads(const usine_context *context);

#endif
