/* Every environment variable usine reads (all listed in README.md), parsed in one place. */
#ifndef USINE_CORE_ENV_H
#define USINE_CORE_ENV_H

#include <stdint.h>

#include "usine.h"
#include "../kernels/cpu/cpu_isa.h"

/* USINE_TUNE: how the tuning database is used. */
typedef enum usine_tune_mode {
    USINE_TUNE_USE = 0, /* unset or "on": read the database (default) */
    USINE_TUNE_OFF_DB,  /* "off": ignore it, the model decides */
    USINE_TUNE_ONLINE   /* "online": also tune an unseen shape class on first use */
} usine_tune_mode;

typedef struct usine_env {
    int num_threads;       /* USINE_NUM_THREADS: 0 when unset */
    usine_cpu_isa isa;     /* USINE_CPU_ISA capped to the CPU: detected level when unset */
    const char *kernels;   /* USINE_KERNEL: comma-separated names, NULL when unset */
    int verbose;           /* USINE_VERBOSE: 0 when unset or "0" */
    int64_t blocking[3];   /* USINE_GEMM_BLOCKING=MC,KC,NC: all 0 when unset */
    usine_tune_mode tune;  /* USINE_TUNE */
    int attn_block;        /* USINE_ATTN_BLOCK: attention's block (keys / query rows); 0 unset */
    const char *conv_algo; /* USINE_CONV_ALGO: a convolution algorithm's name, NULL unset */
} usine_env;

/* Reads and checks the variables; on a bad value returns an error (message recorded
 * against `function`). */
usine_status usine_env_read(usine_env *env, const char *function);

#endif
