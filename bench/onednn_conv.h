/*
 * oneDNN's convolution primitive as a peer of the conv lines (forward, backward data,
 * backward weights), loaded with dlopen like onednn_matmul.h: every function comes from
 * dlsym, oneDNN's header (Debian's libdnnl-dev) gives only the types and constants, and
 * without it the peer says so and is skipped.
 *
 * The activations are the caller's, as usine gets them (NHWC). The filters (KRSC: oneDNN's
 * ohwi, or gohwi with groups) are reordered once, untimed, into the blocked layout oneDNN's
 * primitive asks for (format "any"), as a framework keeps its weights; backward weights
 * writes dw in that layout and it is reordered back after the timed calls. With plain
 * filters oneDNN 2.6 falls back to its reference loops, which would compare usine with a
 * strawman. bf16 lines read bf16 inputs and write an f32 output (oneDNN's bf16 convolutions
 * accumulate in f32 too).
 */
#ifndef USINE_BENCH_ONEDNN_CONV_H
#define USINE_BENCH_ONEDNN_CONV_H

#include <stddef.h>

#include "suite.h"

/* Resolves the convolution API in a loaded libdnnl. Returns 0, or -1 with why (no header at
 * build time, a missing symbol, another major version than the header's). */
int usine_bench_onednn_conv_load(void *handle, const char *path, char *why, size_t size);

typedef struct usine_bench_onednn_conv usine_bench_onednn_conv;

/* The primitive of the case's pass (c->conv.pass) on the given buffers: in0, in1 are what the
 * pass reads (x and w; dy and w; x and dy) in the case's dtype, out what it writes (y, dx or
 * dw) in f32. Not timed. Returns 0; 1 when oneDNN has no implementation for it (a skip, with
 * why); -1 on another error. Call only after a successful load, in a child process. */
int usine_bench_onednn_conv_create(const usine_bench_case *c, const void *in0, const void *in1,
                                   void *out, usine_bench_onednn_conv **conv, char *why,
                                   size_t size);

/* One pass: execute and wait. Returns 0 or oneDNN's status. */
int usine_bench_onednn_conv_run(usine_bench_onednn_conv *conv);

/* After the timed calls of backward weights: dw reordered from oneDNN's layout into the
 * caller's buffer (nothing to do for the other passes). Returns 0 or oneDNN's status. */
int usine_bench_onednn_conv_finish(usine_bench_onednn_conv *conv);

/* The implementation oneDNN chose, e.g. "brg:avx512_core". */
const char *usine_bench_onednn_conv_impl(const usine_bench_onednn_conv *conv);

void usine_bench_onednn_conv_destroy(usine_bench_onednn_conv *conv);

#endif
