/*
 * The forward 3x3 stride-1 NHWC f32 convolution by Winograd's minimal filtering F(2x2, 3x3)
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): each 2 x 2
 * block of outputs ("tile") comes from a 4 x 4 input patch d and the 3 x 3 filter g as
 *   Y = A^T [(G g G^T) . (B^T d B)] A,
 * 16 products per channel instead of 36. Over the channels the 16 element-wise products
 * become 16 independent GEMMs, M_xi (K x tiles) = U_xi (K x C) V_xi (C x tiles), run as one
 * batch on the CPU GEMM driver; the transforms before and after are additions only (and
 * halvings for G), vectorised over the channels that NHWC keeps contiguous.
 *
 * Workspace: U [16][K][C], V [16][tiles][C], M [16][tiles][K] (f32), then the GEMMs'.
 * Error (include/usine.h): |y - exact| <= (C + 12) u 81 C max|w| max|x| per output.
 * Threads share out filters, tiles and GEMMs; every value is computed by one thread in a
 * fixed order, so results do not depend on the thread count.
 */
#include <string.h>

#include "conv_internal.h"
#include "../threading.h"

#define ALIGN 64
#define XI    16 /* transformed elements per tile: 4 x 4 */

static size_t align_up(size_t x)
{
    return (x + ALIGN - 1) / ALIGN * ALIGN;
}

/* Floats between consecutive matrices of U, V or M: the size, plus a cache line so that
 * the 16 values of one tile or filter (one per matrix) do not all fall in one L1 set when
 * the size is a multiple of 4 KiB (measured: the filter transform of 128 x 128 filters at
 * 30% of the time with a stride of 64 KiB). */
static int64_t matrix_stride(int64_t floats)
{
    return (floats + 15) / 16 * 16 + 16;
}

int usine_conv_winograd_serves(const usine_conv_problem *p)
{
    return p->layout == USINE_CONV_NHWC && p->dtype == USINE_F32 && p->groups == 1 && p->r == 3 &&
           p->s == 3 && p->stride_h == 1 && p->stride_w == 1 && p->dilation_h == 1 &&
           p->dilation_w == 1;
}

static int64_t tiles_of(const usine_conv_problem *p)
{
    return p->n * ((p->p + 1) / 2) * ((p->q + 1) / 2);
}

/* The batch of 16 GEMMs, in the driver's column-major view: C = M_xi^T... as K x tiles with
 * C(k, t) = M[xi][t K + k], A(k, c) = U[xi][k C + c], B(c, t) = V[xi][t C + c]. */
static usine_gemm_shape gemm_shape_of(const usine_conv_problem *p)
{
    usine_gemm_shape s;
    memset(&s, 0, sizeof s);
    s.m = p->k;
    s.n = tiles_of(p);
    s.k = p->c;
    s.a_rs = p->c;
    s.a_cs = 1;
    s.b_rs = 1;
    s.b_cs = p->c;
    s.ldc = p->k;
    s.alpha = 1.0;
    s.a_type = s.b_type = s.c_type = USINE_F32;
    return s;
}

void usine_conv_winograd_gemm_dims(const usine_conv_problem *p, int64_t dims[3])
{
    dims[0] = p->k;
    dims[1] = tiles_of(p);
    dims[2] = p->c;
}

size_t usine_conv_winograd_workspace_size(const usine_conv_problem *p, const usine_conv_exec *exec)
{
    const int64_t t = tiles_of(p);
    const usine_gemm_shape s = gemm_shape_of(p);
    return align_up((size_t)(XI * matrix_stride(p->k * p->c)) * sizeof(float)) +
           align_up((size_t)(XI * matrix_stride(t * p->c)) * sizeof(float)) +
           align_up((size_t)(XI * matrix_stride(t * p->k)) * sizeof(float)) +
           align_up(usine_cpu_gemm_workspace_size(&exec->gemm, &s, XI));
}

/* ------------------------------------------------------------------ transforms */

typedef struct wino_args {
    const usine_conv_problem *p;
    const float *x, *w;
    float *y, *u, *v, *m;
    int64_t tiles, tiles_h, tiles_w;
    int64_t u_stride, v_stride, m_stride; /* floats between the 16 matrices of each */
} wino_args;

/* Channels (or filters) transformed together: the inner loops run over LANES contiguous
 * values, which the compiler vectorises. */
#define LANES 16

/* U = G g G^T for filters [k0, k1), every channel: G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2;
 * 0 0 1]. */
static void filter_body(void *arg, int index, int count)
{
    const wino_args *a = (const wino_args *)arg;
    const usine_conv_problem *p = a->p;
    const int64_t per = (p->k + count - 1) / count, c_all = p->c;
    const int64_t k0 = index * per, k1 = k0 + per < p->k ? k0 + per : p->k;
    for (int64_t k = k0; k < k1; k++)
        for (int64_t c0 = 0; c0 < c_all; c0 += LANES) {
            const int n = (int)(c_all - c0 < LANES ? c_all - c0 : LANES);
            const float *g = a->w + k * 9 * c_all + c0; /* g[(r 3 + s) C + c] */
            float t[4][3][LANES], u[4][4][LANES];
            for (int s = 0; s < 3; s++) /* G g */
                for (int l = 0; l < n; l++) {
                    const float g0 = g[s * c_all + l], g1 = g[(3 + s) * c_all + l],
                                g2 = g[(6 + s) * c_all + l];
                    t[0][s][l] = g0;
                    t[1][s][l] = 0.5f * (g0 + g1 + g2);
                    t[2][s][l] = 0.5f * (g0 - g1 + g2);
                    t[3][s][l] = g2;
                }
            for (int i = 0; i < 4; i++) /* (G g) G^T */
                for (int l = 0; l < n; l++) {
                    u[i][0][l] = t[i][0][l];
                    u[i][1][l] = 0.5f * (t[i][0][l] + t[i][1][l] + t[i][2][l]);
                    u[i][2][l] = 0.5f * (t[i][0][l] - t[i][1][l] + t[i][2][l]);
                    u[i][3][l] = t[i][2][l];
                }
            for (int xi = 0; xi < XI; xi++)
                memcpy(a->u + xi * a->u_stride + k * c_all + c0, u[xi / 4][xi % 4],
                       (size_t)n * sizeof(float));
        }
}

/* The tile's 4 x 4 input patch, row i, column j, channels [0, C): a pointer into x, or NULL
 * in the padding. */
static const float *patch_at(const wino_args *a, int64_t n, int64_t th, int64_t tw, int i, int j)
{
    const usine_conv_problem *p = a->p;
    const int64_t ih = 2 * th - p->pad_top + i, iw = 2 * tw - p->pad_left + j;
    if (ih < 0 || ih >= p->h || iw < 0 || iw >= p->w)
        return NULL;
    return a->x + ((n * p->h + ih) * p->w + iw) * p->c;
}

/* V = B^T d B for tiles [t0, t1): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
static void input_body(void *arg, int index, int count)
{
    const wino_args *a = (const wino_args *)arg;
    const usine_conv_problem *p = a->p;
    const int64_t per = (a->tiles + count - 1) / count, c_all = p->c;
    const int64_t t0 = index * per, t1 = t0 + per < a->tiles ? t0 + per : a->tiles;
    const int64_t plane = a->tiles_h * a->tiles_w;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t n = t / plane, th = t % plane / a->tiles_w, tw = t % a->tiles_w;
        const float *d[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                d[i][j] = patch_at(a, n, th, tw, i, j);
        for (int64_t c0 = 0; c0 < c_all; c0 += LANES) {
            const int nl = (int)(c_all - c0 < LANES ? c_all - c0 : LANES);
            float e[4][4][LANES], b[4][4][LANES], v[4][4][LANES];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    if (d[i][j])
                        memcpy(e[i][j], d[i][j] + c0, (size_t)nl * sizeof(float));
                    else
                        memset(e[i][j], 0, sizeof e[i][j]);
                }
            for (int j = 0; j < 4; j++) /* B^T d */
                for (int l = 0; l < LANES; l++) {
                    b[0][j][l] = e[0][j][l] - e[2][j][l];
                    b[1][j][l] = e[1][j][l] + e[2][j][l];
                    b[2][j][l] = e[2][j][l] - e[1][j][l];
                    b[3][j][l] = e[1][j][l] - e[3][j][l];
                }
            for (int i = 0; i < 4; i++) /* (B^T d) B */
                for (int l = 0; l < LANES; l++) {
                    v[i][0][l] = b[i][0][l] - b[i][2][l];
                    v[i][1][l] = b[i][1][l] + b[i][2][l];
                    v[i][2][l] = b[i][2][l] - b[i][1][l];
                    v[i][3][l] = b[i][1][l] - b[i][3][l];
                }
            for (int xi = 0; xi < XI; xi++)
                memcpy(a->v + xi * a->v_stride + t * c_all + c0, v[xi / 4][xi % 4],
                       (size_t)nl * sizeof(float));
        }
    }
}

/* Y = A^T M A for tiles [t0, t1), then bias and activation: A^T = [1 1 1 0; 0 1 -1 -1]. */
static void output_body(void *arg, int index, int count)
{
    const wino_args *a = (const wino_args *)arg;
    const usine_conv_problem *p = a->p;
    const int64_t per = (a->tiles + count - 1) / count, k_all = p->k;
    const int64_t t0 = index * per, t1 = t0 + per < a->tiles ? t0 + per : a->tiles;
    const int64_t plane = a->tiles_h * a->tiles_w;
    const int relu = p->activation == USINE_ACT_RELU;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t n = t / plane, oh = 2 * (t % plane / a->tiles_w), ow = 2 * (t % a->tiles_w);
        float *y[2][2];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                y[i][j] = oh + i < p->p && ow + j < p->q
                              ? a->y + ((n * p->p + oh + i) * p->q + ow + j) * k_all
                              : NULL;
        for (int64_t k0 = 0; k0 < k_all; k0 += LANES) {
            const int nl = (int)(k_all - k0 < LANES ? k_all - k0 : LANES);
            float e[4][4][LANES], s[2][4][LANES], r[2][2][LANES], bias[LANES];
            for (int xi = 0; xi < XI; xi++)
                memcpy(e[xi / 4][xi % 4], a->m + xi * a->m_stride + t * k_all + k0,
                       (size_t)nl * sizeof(float));
            for (int l = 0; l < LANES; l++)
                bias[l] = p->bias && l < nl ? p->bias[k0 + l] : 0.0f;
            for (int j = 0; j < 4; j++) /* A^T M */
                for (int l = 0; l < LANES; l++) {
                    s[0][j][l] = e[0][j][l] + e[1][j][l] + e[2][j][l];
                    s[1][j][l] = e[1][j][l] - e[2][j][l] - e[3][j][l];
                }
            for (int i = 0; i < 2; i++) /* (A^T M) A, bias, activation */
                for (int l = 0; l < LANES; l++) {
                    const float r0 = s[i][0][l] + s[i][1][l] + s[i][2][l] + bias[l];
                    const float r1 = s[i][1][l] - s[i][2][l] - s[i][3][l] + bias[l];
                    r[i][0][l] = relu && !(r0 > 0.0f) ? 0.0f : r0;
                    r[i][1][l] = relu && !(r1 > 0.0f) ? 0.0f : r1;
                }
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++)
                    if (y[i][j])
                        memcpy(y[i][j] + k0, r[i][j], (size_t)nl * sizeof(float));
        }
    }
}

/* ------------------------------------------------------------------ run */

static int min_threads(int64_t units, int threads)
{
    return units < threads ? (int)(units > 0 ? units : 1) : threads;
}

void usine_conv_winograd_run(const usine_conv_problem *p, const usine_conv_exec *exec,
                             const usine_conv_tensors *t, void *workspace)
{
    const int64_t tiles = tiles_of(p);
    wino_args a = {p,
                   (const float *)t->x,
                   (const float *)t->w,
                   (float *)t->y,
                   NULL,
                   NULL,
                   NULL,
                   tiles,
                   (p->p + 1) / 2,
                   (p->q + 1) / 2,
                   0,
                   0,
                   0};
    a.u_stride = matrix_stride(p->k * p->c);
    a.v_stride = matrix_stride(tiles * p->c);
    a.m_stride = matrix_stride(tiles * p->k);
    char *ws = (char *)workspace;
    a.u = (float *)ws;
    ws += align_up((size_t)(XI * a.u_stride) * sizeof(float));
    a.v = (float *)ws;
    ws += align_up((size_t)(XI * a.v_stride) * sizeof(float));
    a.m = (float *)ws;
    ws += align_up((size_t)(XI * a.m_stride) * sizeof(float));
    const int threads = exec->gemm.max_threads;
    usine_cpu_parallel(min_threads(p->k, threads), filter_body, &a);
    usine_cpu_parallel(min_threads(tiles, threads), input_body, &a);
    const usine_gemm_shape s = gemm_shape_of(p);
    usine_gemm_batch batch;
    memset(&batch, 0, sizeof batch);
    batch.count = XI;
    batch.base.a = a.u;
    batch.base.b = a.v;
    batch.base.c = a.m;
    batch.stride_a = a.u_stride;
    batch.stride_b = a.v_stride;
    batch.stride_c = a.m_stride;
    usine_cpu_gemm_run(&exec->gemm, &s, &batch, ws);
    usine_cpu_parallel(min_threads(tiles, threads), output_body, &a);
}
