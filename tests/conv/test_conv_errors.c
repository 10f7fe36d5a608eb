/*
 * Every documented error of the conv2d functions (usine.h, "Errors of every conv2d
 * function"): the status, a non-empty usine_last_error() naming the argument where there is
 * one to name, and nothing written: every tensor (inputs included, for the overlap cases) and
 * its guard zones are compared with their copies after each rejected call, and the answers of
 * usine_conv2d_workspace_size, usine_conv2d_output_size and usine_conv2d_algorithm_name keep
 * their sentinels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_cases.h"

#define INV USINE_ERROR_INVALID_ARGUMENT
#define NS  USINE_ERROR_NOT_SUPPORTED

static usine_context *ctx;
static conv_tensors t;
static conv_workspace ws; /* large enough for every pass of the valid descriptor */

/* All seven tensors, inputs too: a rejected call writes none of them. */
static conv_saved save_all(void)
{
    const test_buffer *all[7] = {&t.x, &t.w, &t.dy, &t.y, &t.dx, &t.dw, &t.dbias};
    return conv_save(all, 7);
}

/* The three passes on the valid tensors with descriptor d. */
static usine_status call_pass(usine_conv_pass pass, const usine_conv2d_desc *d)
{
    if (pass == USINE_CONV_FORWARD)
        return usine_conv2d_forward(ctx, d, t.x.data, t.w.data, t.y.data, ws.data, ws.size);
    if (pass == USINE_CONV_BACKWARD_DATA)
        return usine_conv2d_backward_data(ctx, d, t.dy.data, t.w.data, t.dx.data, ws.data, ws.size);
    return usine_conv2d_backward_weights(ctx, d, t.x.data, t.dy.data, t.dw.data,
                                         (float *)t.dbias.data, ws.data, ws.size);
}

/* The workspace query and the algorithm's name reject d too, and leave their answers. */
static void expect_queries_rejected(usine_conv_pass pass, const usine_conv2d_desc *d,
                                    usine_status want, const char *what)
{
    size_t bytes = 12345;
    const char *name = "untouched";
    usine_status st = usine_conv2d_workspace_size(ctx, d, pass, &bytes);
    CHECK(st == want && bytes == 12345 && usine_last_error()[0],
          "%s: usine_conv2d_workspace_size pass %d: status %d, want %d, bytes %zu", what, (int)pass,
          (int)st, (int)want, bytes);
    st = usine_conv2d_algorithm_name(ctx, d, pass, &name);
    CHECK(st == want && strcmp(name, "untouched") == 0 && usine_last_error()[0],
          "%s: usine_conv2d_algorithm_name pass %d: status %d, want %d", what, (int)pass, (int)st,
          (int)want);
}

/* A bad descriptor for the passes from `first` to `last`. */
static void expect_bad_desc(const usine_conv2d_desc *d, usine_conv_pass first, usine_conv_pass last,
                            usine_status want, const char *needle, const char *what)
{
    static const char *const pass_names[] = {"forward", "backward data", "backward weights"};
    for (int p = (int)first; p <= (int)last; p++) {
        char text[200];
        snprintf(text, sizeof text, "%s (%s)", what, pass_names[p]);
        conv_saved s = save_all();
        const usine_status st = call_pass((usine_conv_pass)p, d);
        conv_expect_rejected(&s, st, want, needle, text);
        expect_queries_rejected((usine_conv_pass)p, d, want, text);
    }
}

/* The geometry errors make usine_conv2d_output_size fail too, leaving its answers. */
static void expect_bad_geometry(const usine_conv2d_desc *d, usine_status want, const char *needle,
                                const char *what)
{
    expect_bad_desc(d, USINE_CONV_FORWARD, USINE_CONV_BACKWARD_WEIGHTS, want, needle, what);
    int64_t p = -7, q = -7;
    const usine_status st = usine_conv2d_output_size(d, &p, &q);
    CHECK(st == want && p == -7 && q == -7 && usine_last_error()[0],
          "%s: usine_conv2d_output_size: status %d, want %d, %lldx%lld", what, (int)st, (int)want,
          (long long)p, (long long)q);
}

#define GEOMETRY(change, want, needle)                                                             \
    do {                                                                                           \
        usine_conv2d_desc d = t.desc;                                                              \
        change;                                                                                    \
        expect_bad_geometry(&d, want, needle, #change);                                            \
    } while (0)

#define ALL_PASSES(change, want, needle)                                                           \
    do {                                                                                           \
        usine_conv2d_desc d = t.desc;                                                              \
        change;                                                                                    \
        expect_bad_desc(&d, USINE_CONV_FORWARD, USINE_CONV_BACKWARD_WEIGHTS, want, needle,         \
                        #change);                                                                  \
    } while (0)

static void test_descriptor_errors(void)
{
    GEOMETRY(d.struct_size = 8, INV, "struct_size");
    GEOMETRY(d.struct_size = 0, INV, "struct_size");
    GEOMETRY(d.layout = (usine_conv_layout)7, INV, "layout");
    GEOMETRY(d.batch = -1, INV, "batch");
    GEOMETRY(d.in_channels = 0, INV, "in_channels");
    GEOMETRY(d.in_channels = -4, INV, "in_channels");
    GEOMETRY(d.in_height = 0, INV, "in_height");
    GEOMETRY(d.in_width = -1, INV, "in_width");
    GEOMETRY(d.out_channels = 0, INV, "out_channels");
    GEOMETRY(d.filter_height = 0, INV, "filter_height");
    GEOMETRY(d.filter_width = -2, INV, "filter_width");
    GEOMETRY(d.stride_h = 0, INV, "stride_h");
    GEOMETRY(d.stride_w = -1, INV, "stride_w");
    GEOMETRY(d.pad_top = -1, INV, "pad_top");
    GEOMETRY(d.pad_bottom = -1, INV, "pad_bottom");
    GEOMETRY(d.pad_left = -3, INV, "pad_left");
    GEOMETRY(d.pad_right = -1, INV, "pad_right");
    GEOMETRY(d.dilation_h = 0, INV, "dilation_h");
    GEOMETRY(d.dilation_w = -1, INV, "dilation_w");
    GEOMETRY(d.groups = 0, INV, "groups");
    GEOMETRY(d.groups = -2, INV, "groups");
    /* in_channels 4, out_channels 6: 3 divides k only, 4 divides c only */
    GEOMETRY(d.groups = 3, INV, "groups");
    GEOMETRY(d.groups = 4, INV, "groups");
    /* empty outputs: the filter does not fit the padded input; with stride 2, C's truncating
     * division would make (4 - 4 - 1) / 2 + 1 = 1 */
    GEOMETRY(d.filter_height = 9, INV, "");
    GEOMETRY((d.in_width = 4, d.filter_width = 5, d.pad_left = d.pad_right = 0, d.stride_w = 2),
             INV, "");
    GEOMETRY((d.in_height = 2, d.filter_height = 2, d.dilation_h = 3, d.pad_top = d.pad_bottom = 0),
             INV, "");
    /* a tensor whose byte size does not fit */
    GEOMETRY(d.batch = INT64_MAX / 16, USINE_ERROR_OVERFLOW, "");
    GEOMETRY((d.in_height = INT64_MAX / 8, d.filter_height = 1), USINE_ERROR_OVERFLOW, "");
    ALL_PASSES(d.dtype = USINE_F64, NS, "dtype");
    ALL_PASSES(d.dtype = USINE_F16, NS, "dtype");
    ALL_PASSES(d.dtype = USINE_S8, NS, "dtype");
    /* The forward's epilogue: only none or ReLU; the backward passes ignore it. */
    usine_conv2d_desc d = t.desc;
    d.activation = (usine_activation)9;
    expect_bad_desc(&d, USINE_CONV_FORWARD, USINE_CONV_FORWARD, INV, "activation", "activation 9");
    d.activation = USINE_ACT_GELU_TANH;
    expect_bad_desc(&d, USINE_CONV_FORWARD, USINE_CONV_FORWARD, INV, "activation",
                    "activation GELU");
}

/* An out-of-range dtype value: invalid, or unsupported (usine.h lists dtype under
 * NOT_SUPPORTED); either way rejected with nothing written. */
static void test_unknown_dtype(void)
{
    usine_conv2d_desc d = t.desc;
    d.dtype = (usine_dtype)99;
    for (int p = USINE_CONV_FORWARD; p <= USINE_CONV_BACKWARD_WEIGHTS; p++) {
        conv_saved s = save_all();
        const usine_status st = call_pass((usine_conv_pass)p, &d);
        conv_expect_rejected(&s, st, st == NS ? NS : INV, "dtype", "dtype 99");
    }
}

static void test_null_pointers(void)
{
    const usine_conv2d_desc *d = &t.desc;
    void *x = t.x.data, *w = t.w.data, *y = t.y.data, *dy = t.dy.data, *dx = t.dx.data,
         *dw = t.dw.data;
    float *db = (float *)t.dbias.data;
    conv_saved s = save_all(); /* before the calls, which run in the initializers below */
    struct {
        const char *what;
        usine_status st;
    } calls[] = {
        {"forward ctx", usine_conv2d_forward(NULL, d, x, w, y, ws.data, ws.size)},
        {"forward desc", usine_conv2d_forward(ctx, NULL, x, w, y, ws.data, ws.size)},
        {"forward x", usine_conv2d_forward(ctx, d, NULL, w, y, ws.data, ws.size)},
        {"forward w", usine_conv2d_forward(ctx, d, x, NULL, y, ws.data, ws.size)},
        {"forward y", usine_conv2d_forward(ctx, d, x, w, NULL, ws.data, ws.size)},
        {"bwd data ctx", usine_conv2d_backward_data(NULL, d, dy, w, dx, ws.data, ws.size)},
        {"bwd data desc", usine_conv2d_backward_data(ctx, NULL, dy, w, dx, ws.data, ws.size)},
        {"bwd data dy", usine_conv2d_backward_data(ctx, d, NULL, w, dx, ws.data, ws.size)},
        {"bwd data w", usine_conv2d_backward_data(ctx, d, dy, NULL, dx, ws.data, ws.size)},
        {"bwd data dx", usine_conv2d_backward_data(ctx, d, dy, w, NULL, ws.data, ws.size)},
        {"bwd weights ctx",
         usine_conv2d_backward_weights(NULL, d, x, dy, dw, db, ws.data, ws.size)},
        {"bwd weights desc",
         usine_conv2d_backward_weights(ctx, NULL, x, dy, dw, db, ws.data, ws.size)},
        {"bwd weights x",
         usine_conv2d_backward_weights(ctx, d, NULL, dy, dw, db, ws.data, ws.size)},
        {"bwd weights dy",
         usine_conv2d_backward_weights(ctx, d, x, NULL, dw, db, ws.data, ws.size)},
        {"bwd weights dw",
         usine_conv2d_backward_weights(ctx, d, x, dy, NULL, db, ws.data, ws.size)},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        CHECK(calls[i].st == INV, "%s accepted a NULL (status %d)", calls[i].what,
              (int)calls[i].st);
    conv_expect_rejected(&s, INV, INV, "", "NULL pointers");
    for (int p = USINE_CONV_FORWARD; p <= USINE_CONV_BACKWARD_WEIGHTS; p++) {
        size_t bytes;
        const char *name;
        CHECK(usine_conv2d_workspace_size(NULL, d, (usine_conv_pass)p, &bytes) == INV &&
                  usine_conv2d_workspace_size(ctx, NULL, (usine_conv_pass)p, &bytes) == INV &&
                  usine_conv2d_workspace_size(ctx, d, (usine_conv_pass)p, NULL) == INV,
              "usine_conv2d_workspace_size accepted a NULL");
        CHECK(usine_conv2d_algorithm_name(NULL, d, (usine_conv_pass)p, &name) == INV &&
                  usine_conv2d_algorithm_name(ctx, NULL, (usine_conv_pass)p, &name) == INV &&
                  usine_conv2d_algorithm_name(ctx, d, (usine_conv_pass)p, NULL) == INV,
              "usine_conv2d_algorithm_name accepted a NULL");
    }
    int64_t p, q;
    CHECK(usine_conv2d_output_size(NULL, &p, &q) == INV &&
              usine_conv2d_output_size(d, NULL, &q) == INV &&
              usine_conv2d_output_size(d, &p, NULL) == INV,
          "usine_conv2d_output_size accepted a NULL");
}

/* The messages of NULL output pointers name the pointer. */
static void test_null_messages(void)
{
    conv_saved s = save_all();
    usine_status st =
        usine_conv2d_forward(ctx, &t.desc, t.x.data, t.w.data, NULL, ws.data, ws.size);
    conv_expect_rejected(&s, st, INV, "y", "forward y NULL");
    s = save_all();
    st = usine_conv2d_backward_data(ctx, &t.desc, t.dy.data, t.w.data, NULL, ws.data, ws.size);
    conv_expect_rejected(&s, st, INV, "dx", "backward data dx NULL");
    s = save_all();
    st = usine_conv2d_backward_weights(ctx, &t.desc, t.x.data, t.dy.data, NULL, NULL, ws.data,
                                       ws.size);
    conv_expect_rejected(&s, st, INV, "dw", "backward weights dw NULL");
}

static void test_bad_pass(void)
{
    size_t bytes = 12345;
    const char *name = "untouched";
    CHECK(usine_conv2d_workspace_size(ctx, &t.desc, (usine_conv_pass)3, &bytes) == INV &&
              bytes == 12345 && strstr(usine_last_error(), "pass"),
          "workspace size of pass 3: '%s'", usine_last_error());
    CHECK(usine_conv2d_algorithm_name(ctx, &t.desc, (usine_conv_pass)-1, &name) == INV &&
              strcmp(name, "untouched") == 0 && strstr(usine_last_error(), "pass"),
          "algorithm name of pass -1: '%s'", usine_last_error());
}

/* A workspace one byte short of the query, or NULL with the queried size: rejected. */
static void test_small_workspace(void)
{
    int tested = 0;
    for (int p = USINE_CONV_FORWARD; p <= USINE_CONV_BACKWARD_WEIGHTS; p++) {
        size_t need = 0;
        usine_conv2d_workspace_size(ctx, &t.desc, (usine_conv_pass)p, &need);
        if (need == 0)
            continue;
        tested++;
        const conv_workspace saved = ws;
        ws.size = need - 1;
        conv_saved s = save_all();
        conv_expect_rejected(&s, call_pass((usine_conv_pass)p, &t.desc), INV, "workspace",
                             "workspace one byte short");
        ws.data = NULL;
        ws.size = need;
        s = save_all();
        conv_expect_rejected(&s, call_pass((usine_conv_pass)p, &t.desc), INV, "workspace",
                             "NULL workspace");
        ws = saved;
    }
    if (!tested)
        printf("note: no pass of the error tests' descriptor needs a workspace: the short "
               "workspace error is not reachable here\n");
}

/* An output overlapping an input: rejected before anything is written (the input is one of
 * the saved buffers, so a write into it shows). */
static void test_overlap(void)
{
    const usine_conv2d_desc *d = &t.desc;
    unsigned char *x = t.x.data, *w = t.w.data, *dy = t.dy.data;
    conv_saved s = save_all();
    usine_status st = usine_conv2d_forward(ctx, d, x, w, x, ws.data, ws.size);
    conv_expect_rejected(&s, st, INV, "overlap", "y == x");
    s = save_all();
    st = usine_conv2d_forward(ctx, d, x, w, w + 8, ws.data, ws.size);
    conv_expect_rejected(&s, st, INV, "overlap", "y inside w");
    s = save_all();
    st = usine_conv2d_backward_data(ctx, d, dy, w, dy + 4, ws.data, ws.size);
    conv_expect_rejected(&s, st, INV, "overlap", "dx inside dy");
    s = save_all();
    st = usine_conv2d_backward_data(ctx, d, dy, w, w, ws.data, ws.size);
    conv_expect_rejected(&s, st, INV, "overlap", "dx == w");
    s = save_all();
    st = usine_conv2d_backward_weights(ctx, d, x, dy, x + 16, NULL, ws.data, ws.size);
    conv_expect_rejected(&s, st, INV, "overlap", "dw inside x");
    s = save_all();
    st = usine_conv2d_backward_weights(ctx, d, x, dy, dy, NULL, ws.data, ws.size);
    conv_expect_rejected(&s, st, INV, "overlap", "dw == dy");
    s = save_all();
    st = usine_conv2d_backward_weights(ctx, d, x, dy, t.dw.data, (float *)(void *)(dy + 4), ws.data,
                                       ws.size);
    conv_expect_rejected(&s, st, INV, "overlap", "dbias inside dy");
}

/* Packed filters (usine_conv2d_pack_filters): bad pointers and sizes refused before anything
 * is written, and usine_conv2d_forward_packed refusing memory it did not pack, a corrupt
 * header and another convolution's filters; another batch size is accepted. */
static void test_packed_filters(void)
{
    const usine_conv2d_desc *d = &t.desc;
    size_t size = 0;
    CHECK(usine_conv2d_packed_filters_size(ctx, d, NULL) == INV && usine_last_error()[0],
          "packed_filters_size with NULL bytes accepted");
    usine_conv2d_desc bad = *d;
    bad.in_channels = 5; /* not a multiple of groups */
    CHECK(usine_conv2d_packed_filters_size(ctx, &bad, &size) == INV && size == 0,
          "packed_filters_size of a bad descriptor accepted");
    if (!CHECK(usine_conv2d_packed_filters_size(ctx, d, &size) == USINE_SUCCESS && size > 0,
               "packed_filters_size: %s", usine_last_error()))
        return;
    const size_t room = (size + 64 + 63) / 64 * 64;
    unsigned char *packed = (unsigned char *)aligned_alloc(64, room);
    memset(packed, 0, room);
    conv_saved s = save_all();
    conv_expect_rejected(&s, usine_conv2d_pack_filters(ctx, d, t.w.data, NULL, size), INV, "packed",
                         "pack into NULL");
    s = save_all();
    conv_expect_rejected(&s, usine_conv2d_pack_filters(ctx, d, NULL, packed, size), INV, "w",
                         "pack NULL filters");
    s = save_all();
    conv_expect_rejected(&s, usine_conv2d_pack_filters(ctx, d, t.w.data, packed + 4, size), INV,
                         "aligned", "pack to a misaligned address");
    s = save_all();
    conv_expect_rejected(&s, usine_conv2d_pack_filters(ctx, d, t.w.data, packed, size - 1), INV,
                         "packed_size", "pack into one byte less");
    for (size_t i = 0; i < room; i++)
        CHECK(packed[i] == 0, "a refused pack wrote byte %zu of packed", i);
    /* Never packed: all zeros. */
    s = save_all();
    conv_expect_rejected(
        &s, usine_conv2d_forward_packed(ctx, d, t.x.data, packed, size, t.y.data, ws.data, ws.size),
        INV, "header", "forward with filters never packed");
    CHECK(usine_conv2d_pack_filters(ctx, d, t.w.data, packed, size) == USINE_SUCCESS,
          "pack_filters: %s", usine_last_error());
    s = save_all();
    conv_expect_rejected(
        &s,
        usine_conv2d_forward_packed(ctx, d, t.x.data, packed, size - 1, t.y.data, ws.data, ws.size),
        INV, "packed_size", "forward with packed one byte short");
    /* The channels swapped: as many filter values, another convolution. */
    usine_conv2d_desc other = *d;
    other.in_channels = d->out_channels;
    other.out_channels = d->in_channels;
    size_t other_size = 0;
    if (usine_conv2d_packed_filters_size(ctx, &other, &other_size) == USINE_SUCCESS &&
        other_size <= size) {
        conv_tensors o;
        conv_case oc = t.c;
        oc.c = t.c.k;
        oc.k = t.c.c;
        conv_make_tensors(&oc, &o);
        const test_buffer *all[2] = {&o.x, &o.y};
        conv_saved os = conv_save(all, 2);
        conv_expect_rejected(&os,
                             usine_conv2d_forward_packed(ctx, &o.desc, o.x.data, packed, size,
                                                         o.y.data, ws.data, ws.size),
                             INV, "another convolution", "forward with another's filters");
        conv_free_tensors(&o);
    }
    s = save_all();
    conv_expect_rejected(&s,
                         usine_conv2d_forward_packed(ctx, d, t.x.data, packed, size,
                                                     packed + size / 2, ws.data, ws.size),
                         INV, "overlap", "y inside packed");
    /* A corrupt header: one byte of it flipped. */
    packed[12] ^= 0x40;
    s = save_all();
    conv_expect_rejected(
        &s, usine_conv2d_forward_packed(ctx, d, t.x.data, packed, size, t.y.data, ws.data, ws.size),
        INV, "corrupt", "forward with a corrupt header");
    packed[12] ^= 0x40;
    /* Another batch size: the filters are the same. */
    usine_conv2d_desc one = *d;
    one.batch = 1;
    CHECK(usine_conv2d_forward_packed(ctx, &one, t.x.data, packed, size, t.y.data, ws.data,
                                      ws.size) == USINE_SUCCESS,
          "forward packed at batch 1 with filters packed at batch %lld: %s", (long long)d->batch,
          usine_last_error());
    free(packed);
}

/* Filters packed for the backward data: refused when never packed, packed for the forward,
 * packed for another stride, corrupt or one byte short; another batch size is accepted. */
static void test_packed_filters_backward(void)
{
    const usine_conv2d_desc *d = &t.desc;
    size_t size = 0, fwd_size = 0;
    CHECK(usine_conv2d_backward_data_packed_size(ctx, d, NULL) == INV && usine_last_error()[0],
          "backward_data_packed_size with NULL bytes accepted");
    if (!CHECK(usine_conv2d_backward_data_packed_size(ctx, d, &size) == USINE_SUCCESS &&
                   usine_conv2d_packed_filters_size(ctx, d, &fwd_size) == USINE_SUCCESS,
               "packed sizes: %s", usine_last_error()))
        return;
    const size_t most = size > fwd_size ? size : fwd_size;
    const size_t room = (most + 64 + 63) / 64 * 64;
    unsigned char *packed = (unsigned char *)aligned_alloc(64, room);
    memset(packed, 0, room);
    conv_saved s = save_all();
    conv_expect_rejected(
        &s, usine_conv2d_pack_filters_backward_data(ctx, d, t.w.data, packed, size - 1), INV,
        "packed_size", "backward pack into one byte less");
    s = save_all();
    conv_expect_rejected(&s,
                         usine_conv2d_backward_data_packed(ctx, d, t.dy.data, packed, size,
                                                           t.dx.data, ws.data, ws.size),
                         INV, "header", "backward data with filters never packed");
    /* Packed for the forward: the other pass's layout. */
    CHECK(usine_conv2d_pack_filters(ctx, d, t.w.data, packed, fwd_size) == USINE_SUCCESS,
          "pack_filters: %s", usine_last_error());
    s = save_all();
    conv_expect_rejected(&s,
                         usine_conv2d_backward_data_packed(ctx, d, t.dy.data, packed, room,
                                                           t.dx.data, ws.data, ws.size),
                         INV, "forward", "backward data with filters packed for the forward");
    CHECK(usine_conv2d_pack_filters_backward_data(ctx, d, t.w.data, packed, size) == USINE_SUCCESS,
          "pack_filters_backward_data: %s", usine_last_error());
    s = save_all();
    conv_expect_rejected(
        &s, usine_conv2d_forward_packed(ctx, d, t.x.data, packed, room, t.y.data, ws.data, ws.size),
        INV, "backward data", "forward with filters packed for the backward data");
    s = save_all();
    conv_expect_rejected(&s,
                         usine_conv2d_backward_data_packed(ctx, d, t.dy.data, packed, size - 1,
                                                           t.dx.data, ws.data, ws.size),
                         INV, "packed_size", "backward data with packed one byte short");
    /* Another stride: the phases' taps differ (the dy of stride 2 is smaller: fits). */
    usine_conv2d_desc strided = *d;
    strided.stride_h = 2;
    s = save_all();
    conv_expect_rejected(&s,
                         usine_conv2d_backward_data_packed(ctx, &strided, t.dy.data, packed, size,
                                                           t.dx.data, ws.data, ws.size),
                         INV, "another convolution", "backward data with another stride's filters");
    packed[12] ^= 0x40;
    s = save_all();
    conv_expect_rejected(&s,
                         usine_conv2d_backward_data_packed(ctx, d, t.dy.data, packed, size,
                                                           t.dx.data, ws.data, ws.size),
                         INV, "corrupt", "backward data with a corrupt header");
    packed[12] ^= 0x40;
    usine_conv2d_desc one = *d;
    one.batch = 1;
    CHECK(usine_conv2d_backward_data_packed(ctx, &one, t.dy.data, packed, size, t.dx.data, ws.data,
                                            ws.size) == USINE_SUCCESS,
          "backward data packed at batch 1 with filters packed at batch %lld: %s",
          (long long)d->batch, usine_last_error());
    free(packed);
}

int main(void)
{
    ctx = test_context_or_skip("test_conv_errors");
    conv_case c = conv_base_case();
    c.n = 2;
    c.c = 4;
    c.k = 6;
    c.h = c.w = 6;
    c.groups = 2;
    c.pad_t = c.pad_b = c.pad_l = c.pad_r = 1;
    c.bias = 1;
    c.act = USINE_ACT_RELU;
    conv_make_tensors(&c, &t);
    size_t most = 0;
    for (int p = USINE_CONV_FORWARD; p <= USINE_CONV_BACKWARD_WEIGHTS; p++) {
        size_t bytes = 0;
        CHECK(usine_conv2d_workspace_size(ctx, &t.desc, (usine_conv_pass)p, &bytes) ==
                  USINE_SUCCESS,
              "workspace size of pass %d: %s", p, usine_last_error());
        most = bytes > most ? bytes : most;
    }
    ws.buf = test_buffer_alloc(most);
    ws.size = most;
    ws.data = most ? ws.buf.data : NULL;
    test_descriptor_errors();
    test_unknown_dtype();
    test_null_pointers();
    test_null_messages();
    test_bad_pass();
    test_small_workspace();
    test_overlap();
    test_packed_filters();
    test_packed_filters_backward();
    /* the valid descriptor still works with that workspace after all of this */
    CHECK(call_pass(USINE_CONV_FORWARD, &t.desc) == USINE_SUCCESS, "valid forward: %s",
          usine_last_error());
    conv_workspace_release(&ws, "error tests");
    conv_free_tensors(&t);
    usine_destroy(ctx);
    return test_finish("test_conv_errors");
}
