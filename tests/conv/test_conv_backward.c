/*
 * usine_conv2d_backward_data and usine_conv2d_backward_weights against the long double
 * reference of conv_cases.c (dx as a gather over the taps that reach each input element, dw
 * and dbias as sums over n, p, q), for every option in both layouts, in the dtype of argv[1]
 * (f32 or bf16). dx, dw and dbias start as NaN: every element must be written, dx also where
 * no output reads x (as 0), dw and dbias never accumulated into; dbias NULL is accepted; the
 * descriptor's bias and activation are ignored (they stay set). Workspaces of exactly the
 * queried size with guards after them; batch 0 with NULL tensors (dw and dbias then 0).
 *
 * The adjoint identity <conv(x, w), dy> = <x, dx(dy, w)> = <w, dw(x, dy)> holds exactly for
 * the exact values; with usine's outputs each side is off by at most sum_i tol_i |other_i|
 * (tol_i: the elementwise bound of conv_cases.h), so two sides may differ by the sum of their
 * bounds (plus the long double rounding of the sums). The same identity on the reference's
 * own values, within long double's roundoff, checks the three reference passes against one
 * another. Bitwise equal gradients for 1 and 2 threads (same algorithm).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_cases.h"

#define U_LONG_DOUBLE 0x1p-63L /* twice long double's unit roundoff 2^-64 */

static int64_t forced_hits; /* cases that ran the algorithm USINE_CONV_ALGO forces */

static void check_algorithm(usine_context *ctx, const conv_tensors *t, usine_conv_pass pass,
                            const char *what)
{
    const char *name = NULL;
    const usine_status st = usine_conv2d_algorithm_name(ctx, &t->desc, pass, &name);
    if (!CHECK(st == USINE_SUCCESS && name && strncmp(name, "usine_conv_", 11) == 0,
               "%s: algorithm name of pass %d: status %d, '%s' (%s)", what, (int)pass, (int)st,
               name ? name : "(null)", usine_last_error()))
        return;
    forced_hits += conv_is_forced(name);
}

/* One side of the adjoint identity: sum_i a_i b_i of an output a and an input b, from usine's
 * a and from the reference's, with bounds on their distance to the exact value. */
typedef struct side {
    long double got, ref;
    long double tol, ref_tol;
} side;

static side inner(const conv_tensors *t, const test_buffer *out, const conv_reference *r,
                  const test_buffer *other)
{
    side sd = {0, 0, 0, 0};
    const usine_dtype dt = t->c.dtype;
    for (int64_t i = 0; i < r->count; i++) {
        const long double a = conv_get(dt, out->data, i), b = conv_get(dt, other->data, i);
        sd.got += a * b;
        sd.ref += r->value[i] * b;
        sd.tol += (long double)conv_tolerance(dt, r, i) * fabsl(b) +
                  U_LONG_DOUBLE * (long double)r->count * fabsl(a * b);
        sd.ref_tol += U_LONG_DOUBLE * (long double)(r->terms[i] + r->count) * r->mag[i] * fabsl(b);
    }
    return sd;
}

static void check_sides(const char *what, const char *names, side a, side b)
{
    CHECK(fabsl(a.got - b.got) <= a.tol + b.tol,
          "adjoint %s: %s: usine's sides %.12Lg and %.12Lg differ by %.3Lg > %.3Lg", what, names,
          a.got, b.got, fabsl(a.got - b.got), a.tol + b.tol);
    CHECK(fabsl(a.ref - b.ref) <= a.ref_tol + b.ref_tol,
          "adjoint %s: %s: the reference's sides %.17Lg and %.17Lg differ by %.3Lg > %.3Lg", what,
          names, a.ref, b.ref, fabsl(a.ref - b.ref), a.ref_tol + b.ref_tol);
}

/* <y, dy> with y = conv(x, w) from usine's forward (no bias, no activation), against <x, dx>
 * and <w, dw> from the gradients already in t. */
static void check_adjoint(usine_context *ctx, conv_tensors *t, const conv_reference *rdx,
                          const conv_reference *rdw, const char *what)
{
    const usine_conv2d_desc saved = t->desc;
    t->desc.bias = NULL;
    t->desc.activation = USINE_ACT_NONE;
    const usine_status st = conv_run_forward(ctx, t);
    t->desc = saved;
    if (!CHECK(st == USINE_SUCCESS, "adjoint %s: forward: %s", what, usine_last_error()))
        return;
    conv_reference ry = conv_ref_forward(t, 0);
    const side sy = inner(t, &t->y, &ry, &t->dy);
    const side sx = inner(t, &t->dx, rdx, &t->x);
    const side sw = inner(t, &t->dw, rdw, &t->w);
    check_sides(what, "<y, dy> vs <x, dx>", sy, sx);
    check_sides(what, "<y, dy> vs <w, dw>", sy, sw);
    conv_reference_free(&ry);
}

static void run_case(usine_context *ctx, const conv_case *c)
{
    conv_tensors t;
    char what[256];
    conv_describe(c, what, sizeof what);
    conv_make_tensors(c, &t);
    check_algorithm(ctx, &t, USINE_CONV_BACKWARD_DATA, what);
    check_algorithm(ctx, &t, USINE_CONV_BACKWARD_WEIGHTS, what);
    conv_reference rdx = conv_ref_backward_data(&t);
    conv_reference rdw = conv_ref_backward_weights(&t);
    conv_reference rdb = conv_ref_bias_grad(&t);
    usine_status st = conv_run_backward_data(ctx, &t);
    const int data_ok = CHECK(st == USINE_SUCCESS, "backward data %s: status %d: %s", what, (int)st,
                              usine_last_error()) &&
                        conv_check(&t, "backward data", CONV_DX, &t.dx, &rdx) == 0;
    /* The same through packed filters (usine_conv2d_pack_filters_backward_data), dx poisoned
     * again. */
    conv_poison(&t.dx, c->dtype);
    st = conv_run_backward_data_packed(ctx, &t);
    if (CHECK(st == USINE_SUCCESS, "backward data packed %s: status %d: %s", what, (int)st,
              usine_last_error()))
        conv_check(&t, "backward data packed", CONV_DX, &t.dx, &rdx);
    /* without dbias first, then with it: both write all of dw */
    st = conv_run_backward_weights(ctx, &t, 0);
    if (CHECK(st == USINE_SUCCESS, "backward weights (no dbias) %s: status %d: %s", what, (int)st,
              usine_last_error()))
        conv_check(&t, "backward weights (no dbias)", CONV_DW, &t.dw, &rdw);
    conv_poison(&t.dw, c->dtype);
    st = conv_run_backward_weights(ctx, &t, 1);
    int weights_ok = 0;
    if (CHECK(st == USINE_SUCCESS, "backward weights %s: status %d: %s", what, (int)st,
              usine_last_error())) {
        weights_ok = conv_check(&t, "backward weights", CONV_DW, &t.dw, &rdw) == 0;
        conv_check(&t, "backward weights dbias", CONV_DBIAS, &t.dbias, &rdb);
    }
    if (data_ok && weights_ok)
        check_adjoint(ctx, &t, &rdx, &rdw, what);
    conv_reference_free(&rdx);
    conv_reference_free(&rdw);
    conv_reference_free(&rdb);
    conv_free_tensors(&t);
}

/* Batch 0: dx has no element (dy, dx may be NULL); dw and dbias are 0, written whole. */
static void test_batch_zero(usine_context *ctx, usine_dtype dtype)
{
    conv_case c = conv_base_case();
    c.dtype = dtype;
    c.n = 0;
    c.c = 6;
    c.k = 4;
    c.h = c.w = 5;
    c.groups = 2;
    conv_tensors t;
    conv_make_tensors(&c, &t);
    conv_workspace ws;
    usine_status st = conv_workspace_get(ctx, &t.desc, USINE_CONV_BACKWARD_DATA, &ws);
    if (st == USINE_SUCCESS)
        st = usine_conv2d_backward_data(ctx, &t.desc, NULL, t.w.data, NULL, ws.data, ws.size);
    CHECK(st == USINE_SUCCESS, "backward data, batch 0, NULL dy and dx: %s", usine_last_error());
    conv_workspace_release(&ws, "backward data batch 0");
    st = conv_workspace_get(ctx, &t.desc, USINE_CONV_BACKWARD_WEIGHTS, &ws);
    if (st == USINE_SUCCESS)
        st = usine_conv2d_backward_weights(ctx, &t.desc, NULL, NULL, t.dw.data,
                                           (float *)t.dbias.data, ws.data, ws.size);
    conv_workspace_release(&ws, "backward weights batch 0");
    if (CHECK(st == USINE_SUCCESS, "backward weights, batch 0, NULL x and dy: %s",
              usine_last_error())) {
        conv_reference rdw = conv_ref_backward_weights(&t), rdb = conv_ref_bias_grad(&t);
        conv_check(&t, "backward weights batch 0 (dw = 0)", CONV_DW, &t.dw, &rdw);
        conv_check(&t, "backward weights batch 0 (dbias = 0)", CONV_DBIAS, &t.dbias, &rdb);
        conv_reference_free(&rdw);
        conv_reference_free(&rdb);
    }
    conv_free_tensors(&t);
}

/* One pass at `threads` threads, its output (and dbias) copied into out; returns the
 * algorithm's name. */
static const char *pass_at(usine_context *ctx, conv_tensors *t, usine_conv_pass pass, int threads,
                           void *out)
{
    const char *name = NULL;
    usine_set_num_threads(ctx, threads);
    usine_conv2d_algorithm_name(ctx, &t->desc, pass, &name);
    test_buffer *b = pass == USINE_CONV_BACKWARD_DATA ? &t->dx : &t->dw;
    conv_poison(b, t->c.dtype);
    conv_poison(&t->dbias, USINE_F32);
    const usine_status st = pass == USINE_CONV_BACKWARD_DATA ? conv_run_backward_data(ctx, t)
                                                             : conv_run_backward_weights(ctx, t, 1);
    CHECK(st == USINE_SUCCESS, "determinism, pass %d, %d threads: %s", (int)pass, threads,
          usine_last_error());
    memcpy(out, b->data, b->bytes);
    if (pass == USINE_CONV_BACKWARD_WEIGHTS)
        memcpy((unsigned char *)out + b->bytes, t->dbias.data, t->dbias.bytes);
    return name ? name : "";
}

/* Bitwise equal dx, dw and dbias for 1 and 2 threads when both run the same algorithm. */
static void test_deterministic(usine_context *ctx, usine_dtype dtype)
{
    /* The first: 288 rows of filter taps in the weight gradient's GEMM, enough for two
     * threads to share the gathered panels as a team (gemm_driver.c's use_team). */
    static const int64_t shapes[][6] = {
        /* n, c, hw, k, rs, groups */
        {6, 32, 10, 32, 3, 1},
        {3, 16, 9, 40, 1, 1},
        {2, 16, 11, 32, 3, 16},
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
        c.stride_h = c.stride_w = i == 2 ? 2 : 1;
        c.pad_t = c.pad_b = c.pad_l = c.pad_r = c.r / 2;
        conv_tensors t;
        conv_make_tensors(&c, &t);
        char what[256];
        conv_describe(&c, what, sizeof what);
        const size_t bytes = t.dx.bytes + t.dw.bytes + t.dbias.bytes + 1;
        unsigned char *one = malloc(bytes), *two = malloc(bytes);
        for (int p = USINE_CONV_BACKWARD_DATA; p <= USINE_CONV_BACKWARD_WEIGHTS; p++) {
            const usine_conv_pass pass = (usine_conv_pass)p;
            const size_t n =
                pass == USINE_CONV_BACKWARD_DATA ? t.dx.bytes : t.dw.bytes + t.dbias.bytes;
            const char *a1 = pass_at(ctx, &t, pass, 1, one);
            const char *a2 = pass_at(ctx, &t, pass, 2, two);
            if (strcmp(a1, a2) != 0) {
                printf("determinism %s pass %d: 1 thread runs %s, 2 threads %s: not comparable\n",
                       what, p, a1, a2);
                continue;
            }
            comparable++;
            CHECK(memcmp(one, two, n) == 0, "pass %d %s (%s): 1 and 2 threads differ bitwise", p,
                  what, a1);
        }
        free(one);
        free(two);
        conv_free_tensors(&t);
    }
    usine_set_num_threads(ctx, threads0);
    CHECK(comparable > 0, "determinism: no shape ran one algorithm at both thread counts");
}

int main(int argc, char **argv)
{
    usine_dtype dtype;
    usine_context *ctx = conv_start("test_conv_backward", argc, argv, &dtype);
    test_batch_zero(ctx, dtype);
    conv_for_each_case(ctx, dtype, 40, run_case);
    test_deterministic(ctx, dtype);
    const char *forced = getenv("USINE_CONV_ALGO");
    if (forced)
        CHECK(forced_hits > 0, "USINE_CONV_ALGO=%s: no case ran it", forced);
    usine_destroy(ctx);
    return test_finish("test_conv_backward");
}
