#include "check.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "suite.h"
#include "../kernels/cpu/gemm/gemm_driver.h"

/* Element i of an array as a double (bf16: the upper half of an f32). */
static double element(const void *x, usine_dtype dtype, int64_t i)
{
    switch (dtype) {
    case USINE_F32:
        return ((const float *)x)[i];
    case USINE_F64:
        return ((const double *)x)[i];
    case USINE_BF16: {
        const uint32_t u = (uint32_t)((const uint16_t *)x)[i] << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    case USINE_U8:
        return ((const uint8_t *)x)[i];
    case USINE_S8:
        return ((const int8_t *)x)[i];
    default: /* USINE_S32 */
        return ((const int32_t *)x)[i];
    }
}

/* Element (i, j) of a column-major matrix as a double. */
static double at(const void *x, usine_dtype dtype, int64_t ld, int64_t i, int64_t j)
{
    return element(x, dtype, i + j * ld);
}

/* op(A)(i, p) and op(B)(p, j) of column-major operands stored as the case says. */
static double at_a(const usine_bench_operands *o, const void *a, int64_t i, int64_t p)
{
    return o->transa == 'T' ? at(a, o->a_type, o->k, p, i) : at(a, o->a_type, o->m, i, p);
}

static double at_b(const usine_bench_operands *o, const void *b, int64_t p, int64_t j)
{
    return o->transb == 'T' ? at(b, o->b_type, o->n, j, p) : at(b, o->b_type, o->k, p, j);
}

/* Unit roundoff of the sums: C's dtype (f32 for bf16 inputs); 0 for exact s32. */
static double unit_roundoff(usine_dtype c_type)
{
    return c_type == USINE_F32 ? FLT_EPSILON / 2 : c_type == USINE_F64 ? DBL_EPSILON / 2 : 0;
}

/* Row maxima and sums of |op(A)| (m x k) and column maxima and sums of |op(B)| (k x n). */
static void absolute_bounds(const usine_bench_operands *o, const void *a, const void *b,
                            double *amax, double *asum, double *bmax, double *bsum)
{
    for (int64_t i = 0; i < o->m; i++)
        amax[i] = asum[i] = 0;
    for (int64_t p = 0; p < o->k; p++)
        for (int64_t i = 0; i < o->m; i++) {
            const double v = fabs(at_a(o, a, i, p));
            amax[i] = v > amax[i] ? v : amax[i];
            asum[i] += v;
        }
    for (int64_t j = 0; j < o->n; j++) {
        bmax[j] = bsum[j] = 0;
        for (int64_t p = 0; p < o->k; p++) {
            const double v = fabs(at_b(o, b, p, j));
            bmax[j] = v > bmax[j] ? v : bmax[j];
            bsum[j] += v;
        }
    }
}

static void compare_item(const usine_bench_operands *o, int64_t item, const void *c_ref,
                         const void *c, const double *bounds[4], usine_bench_check *out)
{
    const double *amax = bounds[0], *asum = bounds[1], *bmax = bounds[2], *bsum = bounds[3];
    for (int64_t j = 0; j < o->n; j++)
        for (int64_t i = 0; i < o->m; i++) {
            const double d = fabs(at(c, o->c_type, o->m, i, j) - at(c_ref, o->c_type, o->m, i, j));
            const double s1 = amax[i] * bsum[j], s2 = asum[i] * bmax[j];
            const double s = s1 < s2 ? s1 : s2;
            /* A NaN, or a difference where the product is exactly 0, counts as infinite. */
            const double rel = d == 0 ? 0 : (s > 0 && d == d) ? d / s : INFINITY;
            if (rel > out->max_rel) {
                out->max_rel = rel;
                out->worst_i = i;
                out->worst_j = j;
                out->worst_item = item;
            }
        }
}

int usine_bench_compare(const usine_bench_operands *o, const void *c_ref, const void *c,
                        usine_bench_check *out)
{
    const double u = unit_roundoff(o->c_type);
    const size_t ea = usine_dtype_storage_size(o->a_type), eb = usine_dtype_storage_size(o->b_type);
    const size_t ec = usine_dtype_storage_size(o->c_type);
    double *work = (double *)malloc(sizeof(double) * (size_t)(2 * o->m + 2 * o->n));
    if (!work)
        return -1;
    const double *bounds[4] = {work, work + o->m, work + 2 * o->m, work + 2 * o->m + o->n};
    *out = (usine_bench_check){.tolerance = 2.0 * (double)(o->k + 3) * u};
    for (int64_t item = 0; item < o->batch; item++) {
        const char *a = (const char *)o->a + (size_t)(item * o->m * o->k) * ea;
        const char *b = (const char *)o->b + (size_t)(item * o->k * o->n) * eb;
        const size_t c_offset = (size_t)(item * o->m * o->n) * ec;
        absolute_bounds(o, a, b, work, work + o->m, work + 2 * o->m, work + 2 * o->m + o->n);
        compare_item(o, item, (const char *)c_ref + c_offset, (const char *)c + c_offset, bounds,
                     out);
    }
    free(work);
    out->match = out->max_rel <= out->tolerance;
    return 0;
}
