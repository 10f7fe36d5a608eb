/*
 * Which algorithm a convolution pass runs, and the tuning of that choice.
 *
 * Rules, in order (as for GEMM and attention): forced (USINE_CONV_ALGO, read once by
 * core/env.c, when it names an algorithm that serves the pass and shape) -> exact tuned
 * entry -> nearest tuned entry (same op and key tag, shape classes within two doublings)
 * -> rule-based default (usine_conv_default_config).
 *
 * Entries: op conv_fwd, conv_bwd_data or conv_bwd_weights; dtypes a tag of the dtype,
 * layout, filter and stride ("f32.nhwc.3x3s1", "g" appended for grouped convolutions), so
 * that only shapes the same algorithms serve share a class; m, n, k the classes of the
 * output positions (batch x P x Q), Kg and the taps (R S Cg); kernel the algorithm's full
 * name (usine_conv2d_algorithm_name's) and params "algo=<algorithm>" plus its variant as
 * ",variant=<variant>" (filters_b, tap_split, direct, winograd: conv_driver.h). Always t1:
 * the algorithm fixes the order of the sums, and keying it by thread count would make
 * results depend on the thread count, which convolutions promise they never do (the GEMM
 * kernel inside is chosen for one thread for the same reason).
 */
#ifndef USINE_AUTOTUNE_CONV_TUNE_H
#define USINE_AUTOTUNE_CONV_TUNE_H

#include "search.h"
#include "select.h"
#include "../kernels/cpu/conv/conv_driver.h"

/* An algorithm and its parameter, the GEMMs' arrangement (conv_driver.h's variants;
 * "_<variant>" appended to the name, ",variant=<variant>" in params). */
typedef struct usine_conv_config {
    usine_conv_algo algo;
    usine_conv_variant variant;
} usine_conv_config;

typedef struct usine_conv_choice {
    usine_conv_config config;
    const char *rule; /* human name of the rule */
    usine_select_rule rule_id;
} usine_conv_choice;

/* The configuration a name designates: a short name ("implicit_gemm",
 * "implicit_gemm_filters_b", "implicit_gemm_tap_split") or the full one of this pass and dtype
 * ("usine_conv_fwd_f32_cpu_implicit_gemm_filters_b"). Returns 0 if it is one. */
int usine_conv_config_from_name(const char *name, usine_conv_pass pass, usine_dtype dtype,
                                usine_conv_config *config);

/* Whether a name is a configuration's short or full name for some pass and dtype (the
 * check of USINE_CONV_ALGO). */
int usine_conv_algo_name_valid(const char *name);

/* "usine_conv_<pass>_<dtype>_cpu_<algo>[_<variant>]" (a static string). */
const char *usine_conv_config_name(usine_conv_pass pass, usine_dtype dtype,
                                   usine_conv_config config);

/* Whether the configuration serves the pass and problem. */
int usine_conv_config_serves(usine_conv_config config, usine_conv_pass pass,
                             const usine_conv_problem *p);

/* The rule-based default: depthwise for depthwise shapes; gemm1x1 for 1x1 convolutions
 * without stride or padding, implicit_gemm for the rest; in the variant that reads the
 * filters in place (filters_b forward, tap_split backward data; NHWC f32) where the output
 * positions (dx pixels) fit two GEMM tiles or the taps (R S Cg, R S Kg) outnumber them four
 * times (eight for 1x1 convolutions); else, forward, x read in place (direct) where output
 * rows are a whole number of microkernel tiles wide, at least four, and filter rows hold at
 * least 128 floats. Never the winograd variant: its error bound is not the GEMM-like one
 * usine.h promises by default; only a tuning entry (the tuner measures it with the rest)
 * or USINE_CONV_ALGO selects it. */
usine_conv_config usine_conv_default_config(const usine_selector *sel, usine_conv_pass pass,
                                            const usine_conv_problem *p);

/* The configuration for one call (forced: USINE_CONV_ALGO's value or NULL). */
void usine_select_conv(usine_selector *sel, const char *forced, usine_conv_pass pass,
                       const usine_conv_problem *p, usine_conv_choice *choice);

/* The database key of a call on this machine and library version. */
void usine_conv_key(usine_conv_pass pass, const usine_conv_problem *p, usine_tune_key *key);

/* How a pass runs on `threads` threads: the GEMM kernel and blocking for the algorithm's
 * largest GEMM, chosen for one thread whatever the count (so that the sums, fixed by the
 * kernel's blocking, do not depend on it); the ISA for the direct kernels. */
void usine_conv_make_exec(usine_selector *sel, usine_cpu_isa isa, usine_conv_config config,
                          usine_conv_pass pass, const usine_conv_problem *p, int threads,
                          usine_conv_exec *exec);

/* A problem from the descriptor's numbers (symmetric padding, no dilation, groups 1). */
usine_conv_problem usine_conv_problem_make(usine_dtype dtype, usine_conv_layout layout, int64_t n,
                                           int64_t c, int64_t h, int64_t w, int64_t k, int64_t r,
                                           int64_t s, int64_t stride, int64_t pad);

/*
 * Tunes the class of this pass and problem on one thread: every configuration serving it,
 * the default always measured first, the winner confirmed against the default in
 * interleaved runs (it must beat it by min_gain). Returns 0, or -1 if memory for the
 * tensors is lacking.
 */
int usine_tune_conv(usine_selector *sel, usine_cpu_isa isa, usine_conv_pass pass,
                    const usine_conv_problem *p, const usine_tune_options *options,
                    usine_tune_outcome *outcome);

#endif
