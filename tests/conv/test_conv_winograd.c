/*
 * The Winograd F(2x2, 3x3) forward (implicit_gemm's winograd variant, forced through
 * USINE_CONV_ALGO) against a long double reference, with the tolerance of its documented
 * bound (include/usine.h):
 *   |y - exact| <= (C + 12) u 81 C max|w| max|x| + u (|exact| + |bias|),  u = 2^-24,
 * max|x| over the output block's 4 x 4 x C input patch (bounded here by the whole image's)
 * and max|w| over its filter. Cases: odd and even output sizes (partial 2 x 2 blocks),
 * asymmetric padding, bias and ReLU, one and several images, channel counts around the
 * transforms' 16-lane blocks; results must not depend on the thread count.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usine.h"

static int failures;

typedef struct wcase {
    int64_t n, c, h, w, k, pt, pb, pl, pr;
    int bias, relu;
} wcase;

static uint64_t state = 0x9e3779b97f4a7c15ull;

static float uniform(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (float)((double)(state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static usine_conv2d_desc desc_of(const wcase *t, const float *bias)
{
    usine_conv2d_desc d;
    usine_conv2d_desc_init(&d);
    d.batch = t->n;
    d.in_channels = t->c;
    d.in_height = t->h;
    d.in_width = t->w;
    d.out_channels = t->k;
    d.filter_height = d.filter_width = 3;
    d.pad_top = t->pt;
    d.pad_bottom = t->pb;
    d.pad_left = t->pl;
    d.pad_right = t->pr;
    d.bias = t->bias ? bias : NULL;
    d.activation = t->relu ? USINE_ACT_RELU : USINE_ACT_NONE;
    return d;
}

/* y with `threads` threads (0 on success); the algorithm must be the Winograd one. */
static int run(const wcase *t, int threads, const float *x, const float *w, const float *bias,
               float *y)
{
    usine_context_options o;
    usine_context_options_init(&o);
    o.num_threads = threads;
    usine_context *ctx;
    if (usine_create(&ctx, &o) != USINE_SUCCESS) {
        printf("FAIL usine_create: %s\n", usine_last_error());
        return -1;
    }
    const usine_conv2d_desc d = desc_of(t, bias);
    const char *name = "";
    size_t bytes = 0;
    int rc = -1;
    if (usine_conv2d_algorithm_name(ctx, &d, USINE_CONV_FORWARD, &name) == USINE_SUCCESS &&
        strstr(name, "winograd") &&
        usine_conv2d_workspace_size(ctx, &d, USINE_CONV_FORWARD, &bytes) == USINE_SUCCESS) {
        void *ws = malloc(bytes ? bytes : 1);
        rc = ws && usine_conv2d_forward(ctx, &d, x, w, y, ws, bytes) == USINE_SUCCESS ? 0 : -1;
        free(ws);
    }
    if (rc)
        printf("FAIL n=%lld c=%lld %lldx%lld k=%lld: algorithm '%s', %s\n", (long long)t->n,
               (long long)t->c, (long long)t->h, (long long)t->w, (long long)t->k, name,
               usine_last_error());
    usine_destroy(ctx);
    return rc;
}

static void check_case(const wcase *t)
{
    const int64_t p = t->h + t->pt + t->pb - 2, q = t->w + t->pl + t->pr - 2;
    const int64_t nx = t->n * t->h * t->w * t->c, nw = t->k * 9 * t->c, ny = t->n * p * q * t->k;
    float *x = malloc((size_t)nx * 4), *w = malloc((size_t)nw * 4), *b = malloc((size_t)t->k * 4);
    float *y1 = malloc((size_t)ny * 4), *y2 = malloc((size_t)ny * 4);
    double max_x = 0;
    for (int64_t i = 0; i < nx; i++) {
        x[i] = uniform();
        max_x = fmax(max_x, fabs(x[i]));
    }
    for (int64_t i = 0; i < nw; i++)
        w[i] = uniform();
    for (int64_t i = 0; i < t->k; i++)
        b[i] = uniform();
    if (run(t, 1, x, w, b, y1) || run(t, 2, x, w, b, y2)) {
        failures++;
        goto done;
    }
    if (memcmp(y1, y2, (size_t)ny * 4) != 0) {
        printf("FAIL c=%lld k=%lld: 1 and 2 threads differ\n", (long long)t->c, (long long)t->k);
        failures++;
    }
    int64_t bad = 0;
    for (int64_t k = 0; k < t->k; k++) {
        double max_w = 0;
        for (int64_t i = 0; i < 9 * t->c; i++)
            max_w = fmax(max_w, fabs(w[k * 9 * t->c + i]));
        const double u = 0x1p-24;
        const double sums = (double)(t->c + 12) * u * 81.0 * (double)t->c * max_w * max_x;
        for (int64_t n = 0; n < t->n; n++)
            for (int64_t oh = 0; oh < p; oh++)
                for (int64_t ow = 0; ow < q; ow++) {
                    long double ref = 0;
                    for (int64_t r = 0; r < 3; r++)
                        for (int64_t s = 0; s < 3; s++) {
                            const int64_t ih = oh - t->pt + r, iw = ow - t->pl + s;
                            if (ih < 0 || ih >= t->h || iw < 0 || iw >= t->w)
                                continue;
                            for (int64_t c = 0; c < t->c; c++)
                                ref += (long double)x[((n * t->h + ih) * t->w + iw) * t->c + c] *
                                       w[((k * 3 + r) * 3 + s) * t->c + c];
                        }
                    const double bias = t->bias ? b[k] : 0.0;
                    double exact = (double)ref + bias;
                    const double tol = sums + u * (fabs(exact) + fabs(bias));
                    if (t->relu && exact < 0)
                        exact = 0; /* ReLU is 1-Lipschitz: the tolerance holds after it */
                    const float got = y1[((n * p + oh) * q + ow) * t->k + k];
                    if (!(fabs(got - exact) <= tol) && bad++ < 3)
                        printf("FAIL c=%lld k=%lld y[%lld,%lld,%lld,%lld] = %.9g, exact %.9g, "
                               "tol %.3g\n",
                               (long long)t->c, (long long)t->k, (long long)n, (long long)oh,
                               (long long)ow, (long long)k, got, exact, tol);
                }
    }
    failures += bad > 0;
done:
    free(x);
    free(w);
    free(b);
    free(y1);
    free(y2);
}

int main(void)
{
    setenv("USINE_CONV_ALGO", "implicit_gemm_winograd", 1);
    const wcase cases[] = {
        {1, 1, 3, 3, 1, 0, 0, 0, 0, 0, 0},   {1, 3, 5, 7, 2, 1, 1, 1, 1, 1, 0},
        {2, 16, 8, 8, 16, 1, 1, 1, 1, 0, 1}, {1, 17, 9, 6, 33, 0, 2, 1, 0, 1, 1},
        {3, 31, 7, 7, 5, 1, 1, 1, 1, 1, 0},  {1, 64, 14, 14, 64, 1, 1, 1, 1, 1, 1},
        {2, 5, 4, 11, 48, 2, 0, 0, 2, 0, 0}, {1, 128, 6, 5, 20, 1, 0, 0, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);
    printf("test_conv_winograd: %s (%d failing cases)\n", failures ? "FAILED" : "ok", failures);
    return failures != 0;
}
