/*
 * usine_conv2d_forward against the long double reference of conv_cases.c, for every option in
 * both layouts (conv_for_each_case), in the dtype given as argv[1] (f32 or bf16): bias and
 * ReLU fused, y's guard zones and every element written (y starts as NaN), the workspace of
 * exactly the queried size with guards after it, batch 0 with NULL tensors; the descriptor's
 * defaults and usine_conv2d_output_size; the algorithm's name; bitwise equal results for 1
 * and 2 threads; filters packed in one context used in another with other kernels. With
 * USINE_CONV_ALGO set (ctest's conv.algo.* tests), at least one case must
 * run the forced algorithm. Tolerances: conv_cases.h.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_cases.h"

static int64_t forced_hits; /* cases that ran the algorithm USINE_CONV_ALGO forces */

/* The algorithm's name is a static "usine_conv_..." string; counts the forced one. */
static void check_algorithm(usine_context *ctx, const conv_tensors *t, const char *what)
{
    const char *name = NULL;
    const usine_status st = usine_conv2d_algorithm_name(ctx, &t->desc, USINE_CONV_FORWARD, &name);
    if (!CHECK(st == USINE_SUCCESS && name && strncmp(name, "usine_conv_", 11) == 0,
               "%s: algorithm name: status %d, '%s' (%s)", what, (int)st, name ? name : "(null)",
               usine_last_error()))
        return;
    forced_hits += conv_is_forced(name);
}

static void run_case(usine_context *ctx, const conv_case *c)
{
    conv_tensors t;
    char what[256];
    conv_describe(c, what, sizeof what);
    conv_make_tensors(c, &t);
    check_algorithm(ctx, &t, what);
    conv_reference ref = conv_ref_forward(&t, 1);
    usine_status st = conv_run_forward(ctx, &t);
    if (CHECK(st == USINE_SUCCESS, "forward %s: status %d: %s", what, (int)st, usine_last_error()))
        conv_check(&t, "forward", CONV_Y, &t.y, &ref);
    /* The same through packed filters (usine_conv2d_pack_filters), y poisoned again. */
    conv_poison(&t.y, t.c.dtype);
    st = conv_run_forward_packed(ctx, &t);
    if (CHECK(st == USINE_SUCCESS, "forward packed %s: status %d: %s", what, (int)st,
              usine_last_error()))
        conv_check(&t, "forward packed", CONV_Y, &t.y, &ref);
    conv_reference_free(&ref);
    conv_free_tensors(&t);
}

static void test_desc_init(void)
{
    usine_conv2d_desc d;
    memset(&d, 0x5a, sizeof d);
    CHECK(usine_conv2d_desc_init(&d) == USINE_SUCCESS, "desc_init: %s", usine_last_error());
    CHECK(d.struct_size == sizeof d && d.dtype == USINE_F32 && d.layout == USINE_CONV_NHWC &&
              d.stride_h == 1 && d.stride_w == 1 && d.pad_top == 0 && d.pad_bottom == 0 &&
              d.pad_left == 0 && d.pad_right == 0 && d.dilation_h == 1 && d.dilation_w == 1 &&
              d.groups == 1 && d.bias == NULL && d.activation == USINE_ACT_NONE,
          "usine_conv2d_desc_init: wrong defaults");
    CHECK(usine_conv2d_desc_init(NULL) == USINE_ERROR_INVALID_ARGUMENT && usine_last_error()[0],
          "usine_conv2d_desc_init(NULL) accepted");
}

/* usine_conv2d_output_size against the hand-computed size and conv_geometry. */
static void test_output_size(void)
{
    static const int64_t shapes[][7] = {
        /* h, r, stride, pad0, pad1, dilation, want */
        {9, 3, 1, 1, 1, 1, 9},  {23, 7, 2, 3, 3, 1, 12}, {8, 3, 1, 2, 0, 1, 8},
        {4, 3, 1, 3, 3, 3, 4},  {5, 3, 4, 0, 0, 1, 1},   {5, 7, 1, 1, 1, 1, 1},
        {10, 3, 3, 1, 2, 2, 3}, {1, 1, 5, 0, 0, 1, 1},   {11, 2, 3, 0, 0, 1, 4},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        conv_case c = conv_base_case();
        c.h = shapes[i][0];
        c.r = shapes[i][1];
        c.stride_h = shapes[i][2];
        c.pad_t = shapes[i][3];
        c.pad_b = shapes[i][4];
        c.dil_h = shapes[i][5];
        c.w = 2 * c.h + 1; /* the width axis: the same filter over a longer row */
        c.s = c.r;
        c.stride_w = c.stride_h;
        c.pad_l = c.pad_t;
        c.pad_r = c.pad_b;
        c.dil_w = c.dil_h;
        const conv_geom g = conv_geometry(&c);
        const usine_conv2d_desc d = conv_desc(&c);
        int64_t p = -1, q = -1;
        const usine_status st = usine_conv2d_output_size(&d, &p, &q);
        CHECK(g.p == shapes[i][6], "output size row %zu: the test's own geometry says %lld", i,
              (long long)g.p);
        CHECK(st == USINE_SUCCESS && p == g.p && q == g.q,
              "usine_conv2d_output_size row %zu: status %d, %lldx%lld, want %lldx%lld (%s)", i,
              (int)st, (long long)p, (long long)q, (long long)g.p, (long long)g.q,
              usine_last_error());
    }
}

/* Batch 0: nothing to compute; x and y may be NULL (they have no element). */
static void test_batch_zero(usine_context *ctx, usine_dtype dtype)
{
    conv_case c = conv_base_case();
    c.dtype = dtype;
    c.n = 0;
    c.c = 4;
    c.k = 6;
    c.h = c.w = 5;
    conv_tensors t;
    conv_make_tensors(&c, &t);
    conv_workspace ws;
    usine_status st = conv_workspace_get(ctx, &t.desc, USINE_CONV_FORWARD, &ws);
    if (st == USINE_SUCCESS)
        st = usine_conv2d_forward(ctx, &t.desc, NULL, t.w.data, NULL, ws.data, ws.size);
    CHECK(st == USINE_SUCCESS, "forward with batch 0 and NULL x, y: status %d: %s", (int)st,
          usine_last_error());
    conv_workspace_release(&ws, "forward batch 0");
    conv_free_tensors(&t);
}

/* y of a run at `threads` threads copied into `out`; returns the algorithm's name. */
static const char *forward_at(usine_context *ctx, conv_tensors *t, int threads, void *out)
{
    const char *name = NULL;
    usine_set_num_threads(ctx, threads);
    usine_conv2d_algorithm_name(ctx, &t->desc, USINE_CONV_FORWARD, &name);
    conv_poison(&t->y, t->c.dtype);
    CHECK(conv_run_forward(ctx, t) == USINE_SUCCESS, "determinism, %d threads: %s", threads,
          usine_last_error());
    memcpy(out, t->y.data, t->y.bytes);
    return name ? name : "";
}

/* Bitwise equal y for 1 and 2 threads when both run the same algorithm. */
static void test_deterministic(usine_context *ctx, usine_dtype dtype)
{
    static const int64_t shapes[][6] = {
        /* n, c, hw, k, rs, groups */
        {2, 32, 14, 40, 3, 1},
        {3, 16, 9, 48, 1, 1},
        {2, 24, 12, 24, 3, 24},
        /* 49 and 98 positions: the last rows of the GEMM go to the single-row kernel */
        {1, 64, 7, 48, 1, 1},
        {2, 40, 7, 56, 3, 1},
    };
    int threads0, comparable = 0;
    usine_get_num_threads(ctx, &threads0);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        conv_case c = conv_base_case();
        c.dtype = dtype;
        c.layout = (usine_conv_layout)(i & 1);
        c.n = shapes[i][0];
        c.c = shapes[i][1];
        c.h = c.w = shapes[i][2];
        c.k = shapes[i][3];
        c.r = c.s = shapes[i][4];
        c.groups = shapes[i][5];
        c.pad_t = c.pad_b = c.pad_l = c.pad_r = c.r / 2;
        c.bias = 1;
        conv_tensors t;
        conv_make_tensors(&c, &t);
        unsigned char *one = malloc(t.y.bytes + 1), *two = malloc(t.y.bytes + 1);
        const char *a1 = forward_at(ctx, &t, 1, one);
        const char *a2 = forward_at(ctx, &t, 2, two);
        char what[256];
        conv_describe(&c, what, sizeof what);
        if (strcmp(a1, a2) != 0) {
            printf("determinism %s: 1 thread runs %s, 2 threads %s: not comparable\n", what, a1,
                   a2);
        } else {
            comparable++;
            CHECK(memcmp(one, two, t.y.bytes) == 0,
                  "forward %s (%s): 1 and 2 threads differ bitwise", what, a1);
        }
        free(one);
        free(two);
        conv_free_tensors(&t);
    }
    usine_set_num_threads(ctx, threads0);
    CHECK(comparable > 0, "determinism: no shape ran one algorithm at both thread counts");
}

/* Sets (value non-NULL) or unsets an environment variable, keeping its old value in saved
 * (size 64); returns whether it was set. */
static int swap_env(const char *name, const char *value, char *saved)
{
    const char *old = getenv(name);
    if (old)
        snprintf(saved, 64, "%s", old);
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
    return old != NULL;
}

/* A context on the portable kernels: USINE_CPU_ISA=generic, and no USINE_KERNEL, while it
 * is made (whatever the test's environment forces for the other context). */
static usine_context *generic_context(void)
{
    char isa[64] = "", kernel[64] = "";
    const int had_isa = swap_env("USINE_CPU_ISA", "generic", isa);
    const int had_kernel = swap_env("USINE_KERNEL", NULL, kernel);
    usine_context *other = NULL;
    const usine_status st = usine_create(&other, NULL);
    char unused[64];
    swap_env("USINE_CPU_ISA", had_isa ? isa : NULL, unused);
    swap_env("USINE_KERNEL", had_kernel ? kernel : NULL, unused);
    CHECK(st == USINE_SUCCESS, "usine_create with USINE_CPU_ISA=generic: %s", usine_last_error());
    return st == USINE_SUCCESS ? other : NULL;
}

/* Filters packed in one context serve a forward in another whose kernel differs (the direct
 * variant's panels, made for one kernel, are then left aside): both ways, f32 NHWC with
 * filter rows long enough for the panels. */
static void test_packed_elsewhere(usine_context *ctx, usine_dtype dtype)
{
    if (dtype != USINE_F32)
        return;
    usine_context *generic = generic_context();
    if (!generic)
        return;
    conv_case c = conv_base_case();
    c.c = 48;
    c.k = 50;
    c.h = 9;
    c.w = 20;
    c.pad_t = c.pad_b = c.pad_l = c.pad_r = 1;
    conv_tensors t;
    conv_make_tensors(&c, &t);
    conv_reference ref = conv_ref_forward(&t, 1);
    usine_context *pair[2][2] = {{ctx, generic}, {generic, ctx}};
    for (int i = 0; i < 2; i++) {
        conv_packed pk;
        conv_workspace ws;
        usine_status st = conv_pack(pair[i][0], &t, USINE_CONV_FORWARD, &pk);
        const usine_status ws_st = conv_workspace_get(pair[i][1], &t.desc, USINE_CONV_FORWARD, &ws);
        if (st == USINE_SUCCESS)
            st = ws_st;
        conv_poison(&t.y, t.c.dtype);
        if (st == USINE_SUCCESS)
            st = usine_conv2d_forward_packed(pair[i][1], &t.desc, t.x.data, pk.data, pk.size,
                                             t.y.data, ws.data, ws.size);
        const char *what = i ? "packed with the generic kernels, run with the context's"
                             : "packed with the context's kernels, run with the generic";
        if (CHECK(st == USINE_SUCCESS, "forward %s: %s", what, usine_last_error()))
            conv_check(&t, what, CONV_Y, &t.y, &ref);
        conv_workspace_release(&ws, what);
        conv_packed_release(&pk, what);
    }
    conv_reference_free(&ref);
    conv_free_tensors(&t);
    usine_destroy(generic);
}

int main(int argc, char **argv)
{
    usine_dtype dtype;
    usine_context *ctx = conv_start("test_conv_forward", argc, argv, &dtype);
    test_desc_init();
    test_output_size();
    test_batch_zero(ctx, dtype);
    conv_for_each_case(ctx, dtype, 40, run_case);
    test_deterministic(ctx, dtype);
    test_packed_elsewhere(ctx, dtype);
    const char *forced = getenv("USINE_CONV_ALGO");
    if (forced)
        CHECK(forced_hits > 0, "USINE_CONV_ALGO=%s: no case ran it", forced);
    usine_destroy(ctx);
    return test_finish("test_conv_forward");
}
