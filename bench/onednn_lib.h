/*
 * What the two oneDNN primitive peers share (onednn_matmul.h, onednn_conv.h): one table of
 * the primitive API's functions, taken with dlsym from the libdnnl that peers.c opened and
 * resolved once per process; the CPU engine and stream; execute and wait; the name of the
 * implementation oneDNN chose; the messages of a failed call. oneDNN's header (Debian's
 * libdnnl-dev) gives only the types and constants: a build without it keeps the f32 peer
 * (dnnl_sgemm, declared by hand in peers.c) and each primitive peer says why it is skipped.
 *
 * Every message starts with the peer's name (`who`: "oneDNN matmul", "oneDNN convolution"),
 * so that a skip says which primitive it was.
 */
#ifndef USINE_BENCH_ONEDNN_LIB_H
#define USINE_BENCH_ONEDNN_LIB_H

#include <stddef.h>

#if defined(__has_include)
#if __has_include(<oneapi/dnnl/dnnl.h>)
#define USINE_BENCH_HAVE_DNNL_HEADER 1
#endif
#endif

/* Resolves the table in a loaded libdnnl (once per process: later calls with the same
 * handle return at once). Returns 0, or -1 with why: no header at build time, a missing
 * symbol, another major version than the header's. */
int usine_bench_onednn_load(void *handle, const char *path, const char *who, char *why,
                            size_t size);

#ifdef USINE_BENCH_HAVE_DNNL_HEADER

#include <oneapi/dnnl/dnnl.h>

/* The functions either peer uses, dnnl_ prefix left off; dnnl_version first, so that a
 * library that lacks it is named as no oneDNN at all. A library of another major version
 * lacks dnnl_memory_desc_init_by_tag (3.0 made memory descriptors opaque), named before
 * anything only one peer uses. */
#define USINE_BENCH_DNNL_FUNCTIONS(X)                                                              \
    X(version)                                                                                     \
    X(engine_create)                                                                               \
    X(engine_destroy)                                                                              \
    X(stream_create)                                                                               \
    X(stream_wait)                                                                                 \
    X(stream_destroy)                                                                              \
    X(memory_desc_init_by_tag)                                                                     \
    X(memory_desc_equal)                                                                           \
    X(matmul_desc_init)                                                                            \
    X(dilated_convolution_forward_desc_init)                                                       \
    X(dilated_convolution_backward_data_desc_init)                                                 \
    X(dilated_convolution_backward_weights_desc_init)                                              \
    X(reorder_primitive_desc_create)                                                               \
    X(primitive_desc_create)                                                                       \
    X(primitive_desc_query)                                                                        \
    X(primitive_desc_query_md)                                                                     \
    X(primitive_desc_destroy)                                                                      \
    X(primitive_create)                                                                            \
    X(primitive_execute)                                                                           \
    X(primitive_destroy)                                                                           \
    X(memory_create)                                                                               \
    X(memory_destroy)

/* Pointers typed from the header's own declarations: a wrong argument is a compile error,
 * not a crash in a child. Valid after a successful usine_bench_onednn_load. */
typedef struct usine_bench_dnnl_api {
#define USINE_BENCH_DNNL_FIELD(name) __typeof__(dnnl_##name) *name;
    USINE_BENCH_DNNL_FUNCTIONS(USINE_BENCH_DNNL_FIELD)
#undef USINE_BENCH_DNNL_FIELD
} usine_bench_dnnl_api;

extern usine_bench_dnnl_api usine_bench_dnnl;

/* One primitive on the caller's buffers, as both peers make it: created once per shape
 * (not timed), then run with execute and wait. A peer binds its three arguments in memory
 * and args; one it binds to memory of its own leaves memory[i] NULL. */
typedef struct usine_bench_onednn_prim {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t primitive;
    dnnl_memory_t memory[3];
    dnnl_exec_arg_t args[3];
    char impl[96]; /* e.g. "matmul brg:avx512_core_bf16" */
} usine_bench_onednn_prim;

/* 0, or -1 with why naming the call that failed: "<who>: dnnl_<call> returned status N". */
int usine_bench_onednn_check(dnnl_status_t st, const char *who, const char *call, char *why,
                             size_t size);

/* The CPU engine and its stream into a zeroed prim. Returns 0 or -1 (why set). */
int usine_bench_onednn_open(usine_bench_onednn_prim *p, const char *who, char *why, size_t size);

/* A primitive descriptor of an op descriptor. Returns 0; 1 when oneDNN has no
 * implementation for it (*pd NULL, why left for the peer to say what was missing); -1 on
 * another error (why set). */
int usine_bench_onednn_pd(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t desc,
                          dnnl_engine_t engine, const_dnnl_primitive_desc_t hint, const char *who,
                          char *why, size_t size);

/* p->impl = "<op> <implementation of p->pd>", left empty when oneDNN does not say. */
void usine_bench_onednn_name(usine_bench_onednn_prim *p, const char *op);

/* One call of a primitive: execute and wait. Returns 0 or oneDNN's status. */
int usine_bench_onednn_execute(dnnl_primitive_t primitive, dnnl_stream_t stream, int nargs,
                               const dnnl_exec_arg_t *args);

/* Destroys what p holds (memory, primitive, descriptor, stream, engine); NULLs skipped. */
void usine_bench_onednn_close(usine_bench_onednn_prim *p);

#endif

#endif
