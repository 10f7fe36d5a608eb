/*
 * Which kernel and parameters a GEMM call gets. Rules, in order (STYLE.md: every decision
 * nameable, DESIGN.md: exact -> nearest -> model -> safe default):
 *   1. forced: USINE_KERNEL names the kernel (blocking from USINE_GEMM_BLOCKING or model);
 *   2. override: USINE_GEMM_BLOCKING sets the blocking of the model's kernel;
 *   3. exact: the tuning database has this op, dtype, thread count and shape class;
 *   4. nearest: a tuned shape class of the same op, dtype and threads within two doublings
 *      (summed over m, n and k);
 *   5. model: the registry's first kernel for the ISA with the analytic blocking;
 *   6. safe default: the same kernel with fixed conservative blocking when the cache sizes
 *      are unknown (no hwloc, no sysconf figures).
 * The database is read once, when the selector is made; a call only searches memory.
 */
#ifndef USINE_AUTOTUNE_SELECT_H
#define USINE_AUTOTUNE_SELECT_H

#include <pthread.h>
#include <stddef.h>

#include "db.h"
#include "../kernels/cpu/gemm/gemm_kernel.h"

typedef enum usine_select_rule {
    USINE_RULE_FORCED = 0,
    USINE_RULE_OVERRIDE,
    USINE_RULE_EXACT,
    USINE_RULE_NEAREST,
    USINE_RULE_MODEL,
    USINE_RULE_SAFE_DEFAULT
} usine_select_rule;

typedef struct usine_gemm_choice {
    const usine_gemm_kernel *kernel;
    usine_gemm_blocking blocking;
    const char *rule; /* human name of the rule, e.g. "exact tuned entry" */
    usine_select_rule rule_id;
    usine_tune_entry entry; /* the database entry behind exact/nearest */
} usine_gemm_choice;

typedef enum usine_select_error {
    USINE_SELECT_OK = 0,
    USINE_SELECT_UNKNOWN_NAME, /* a forced name is not in the registry */
    USINE_SELECT_ISA_TOO_HIGH, /* a forced kernel needs an ISA above the cap */
    USINE_SELECT_NO_KERNEL     /* no kernel for the dtype */
} usine_select_error;

/* Input types with their own CPU kernel families, as indices: f32, f64, bf16, int8 (named by
 * USINE_U8: u8 or s8 x s8). bf16 runs on the f32 kernels (converted while packing) where no
 * bf16 kernel fits the ISA; f16 always does. */
#define USINE_SELECT_DTYPES 4

typedef struct usine_selector {
    usine_cpu_isa cap;
    const usine_gemm_kernel *forced[USINE_SELECT_DTYPES];
    const usine_gemm_kernel *model[USINE_SELECT_DTYPES]; /* bf16: NULL below AVX512-BF16 */
    /* model[d]'s blocking and rule, worked out once from the topology (not per call: a
     * small product's whole call costs about as much as the divisions they take). */
    usine_gemm_blocking model_blocking[USINE_SELECT_DTYPES];
    usine_select_rule model_rule[USINE_SELECT_DTYPES];
    int64_t override[3];    /* USINE_GEMM_BLOCKING MC, KC, NC; 0 when unset */
    usine_tune_table table; /* this machine's and this version's entries */
    pthread_mutex_t lock;   /* guards table when online tuning adds to it */
    int online;             /* USINE_TUNE=online */
    int attn_block;         /* USINE_ATTN_BLOCK (attention_tune.h); 0 when unset */
    char conv_algo[64];     /* USINE_CONV_ALGO (conv_tune.h); "" when unset */
} usine_selector;

/* Builds a selector: checks the forced names against the cap, reads the user and system
 * databases (corrupt or foreign content warns once per file on stderr), unless
 * read_db is 0. On error, message receives a sentence naming the culprit. */
usine_select_error usine_selector_init(usine_selector *sel, usine_cpu_isa cap, const char *forced,
                                       const int64_t override[3], int read_db, int online,
                                       char *message, size_t size);
void usine_selector_free(usine_selector *sel);

/* The choice for one call (column-major problem as the driver sees it). dtype: the inputs'
 * type (f32, f64, bf16; f16 inputs are tuned as f32). */
void usine_select_gemm(usine_selector *sel, usine_dtype dtype, int64_t m, int64_t n, int64_t k,
                       int threads, usine_gemm_choice *choice);

/* The database key of a call on this machine and library version. */
void usine_select_key(usine_dtype dtype, int64_t m, int64_t n, int64_t k, int threads,
                      usine_tune_key *key);

/* The library version tuning entries are keyed by ("MAJOR.MINOR.PATCH"). */
const char *usine_select_library_version(void);

/* Adds an entry to the selector's table (online tuning). */
void usine_selector_add(usine_selector *sel, const usine_tune_entry *entry);

/* The model's choice, ignoring the database and the overrides. */
void usine_select_model(const usine_selector *sel, usine_dtype dtype, usine_gemm_choice *choice);

/* Index of an input type in USINE_SELECT_DTYPES arrays; -1 if it has no kernel family. */
int usine_select_dtype_index(usine_dtype dtype);

/* The family whose kernels serve inputs of this type here: its own, or f32's where it has
 * no kernel for the ISA (bf16 converted while packing). */
int usine_select_family(const usine_selector *sel, usine_dtype dtype);

/* "f32" / "f64" / "bf16" / "int8" ("?" otherwise). */
const char *usine_select_dtype_name(usine_dtype dtype);

#endif
