/* The CPU convolution algorithms as one table: names, what each serves, dispatch. */
#include "conv_driver.h"

#include "conv_internal.h"

const char *usine_cpu_conv_algo_short_name(usine_conv_algo algo)
{
    static const char *const names[USINE_CONV_ALGO_COUNT] = {"gemm1x1", "implicit_gemm",
                                                             "depthwise"};
    return (unsigned)algo < USINE_CONV_ALGO_COUNT ? names[algo] : "?";
}

int usine_cpu_conv_supports(usine_conv_algo algo, usine_conv_pass pass, const usine_conv_problem *p)
{
    (void)pass;
    switch (algo) {
    case USINE_CONV_ALGO_GEMM1X1:
        return usine_conv_is_pointwise(p);
    case USINE_CONV_ALGO_IMPLICIT_GEMM:
        return 1;
    case USINE_CONV_ALGO_DEPTHWISE:
        return p->groups == p->c && p->groups > 1;
    default:
        return 0;
    }
}

const char *usine_cpu_conv_variant_name(usine_conv_variant variant)
{
    static const char *const names[USINE_CONV_VARIANT_COUNT] = {"", "filters_b", "tap_split",
                                                                "direct", "winograd"};
    return (unsigned)variant < USINE_CONV_VARIANT_COUNT ? names[variant] : "?";
}

int usine_cpu_conv_variant_serves(usine_conv_algo algo, usine_conv_variant variant,
                                  usine_conv_pass pass, const usine_conv_problem *p)
{
    if (!usine_cpu_conv_supports(algo, pass, p))
        return 0;
    if (variant == USINE_CONV_VARIANT_PLAIN)
        return 1;
    const int gemm_nhwc_f32 =
        algo != USINE_CONV_ALGO_DEPTHWISE && p->layout == USINE_CONV_NHWC && p->dtype == USINE_F32;
    if (variant == USINE_CONV_VARIANT_FILTERS_B)
        return gemm_nhwc_f32 && pass == USINE_CONV_FORWARD;
    if (variant == USINE_CONV_VARIANT_WINOGRAD)
        return algo == USINE_CONV_ALGO_IMPLICIT_GEMM && pass == USINE_CONV_FORWARD &&
               usine_conv_winograd_serves(p);
    if (variant == USINE_CONV_VARIANT_DIRECT)
        return algo == USINE_CONV_ALGO_IMPLICIT_GEMM &&
               (pass == USINE_CONV_FORWARD         ? usine_conv_direct_serves(p, NULL)
                : pass == USINE_CONV_BACKWARD_DATA ? usine_conv_direct_backward_serves(p, NULL)
                                                   : usine_conv_direct_weights_serves(p, NULL));
    return variant == USINE_CONV_VARIANT_TAP_SPLIT && gemm_nhwc_f32 &&
           algo == USINE_CONV_ALGO_IMPLICIT_GEMM && pass == USINE_CONV_BACKWARD_DATA;
}

void usine_cpu_conv_gemm_dims(usine_conv_algo algo, usine_conv_variant variant,
                              usine_conv_pass pass, const usine_conv_problem *p, int64_t dims[3])
{
    const int64_t kg = p->k / p->groups, cg = p->c / p->groups, rs = p->r * p->s;
    const int64_t in = p->h * p->w, out = p->p * p->q;
    const int nhwc = p->layout == USINE_CONV_NHWC;
    dims[0] = dims[1] = dims[2] = 0;
    if (algo == USINE_CONV_ALGO_DEPTHWISE)
        return;
    if (variant == USINE_CONV_VARIANT_WINOGRAD) {
        usine_conv_winograd_gemm_dims(p, dims);
        return;
    }
    switch (pass) {
    case USINE_CONV_FORWARD:
        dims[0] = !nhwc ? out : variant == USINE_CONV_VARIANT_FILTERS_B ? p->n * out : kg;
        dims[1] = !nhwc ? kg : variant == USINE_CONV_VARIANT_FILTERS_B ? kg : p->n * out;
        dims[2] = rs * cg;
        break;
    case USINE_CONV_BACKWARD_DATA: /* the stride-1 phase; strided phases are smaller */
        dims[0] = nhwc ? cg : in;
        dims[1] = nhwc ? p->n * in : cg;
        dims[2] = variant == USINE_CONV_VARIANT_TAP_SPLIT ? kg : rs * kg;
        break;
    case USINE_CONV_BACKWARD_WEIGHTS: /* the direct variant: dW transposed */
        dims[0] = variant == USINE_CONV_VARIANT_DIRECT ? kg : rs * cg;
        dims[1] = variant == USINE_CONV_VARIANT_DIRECT ? rs * cg : kg;
        dims[2] = p->n * out;
        break;
    }
}

/* The direct weight gradient reads dy in place, so it needs segmented microkernels that
 * cover K exactly; with others (the generic kernel; K not a multiple of 8 on x86) the
 * im2col GEMM runs instead. */
static int direct_weights_run(usine_conv_pass pass, const usine_conv_problem *p,
                              const usine_conv_exec *exec)
{
    return exec->variant == USINE_CONV_VARIANT_DIRECT && pass == USINE_CONV_BACKWARD_WEIGHTS &&
           usine_conv_direct_weights_serves(p, exec->gemm.kernel);
}

size_t usine_cpu_conv_workspace_size(usine_conv_algo algo, usine_conv_pass pass,
                                     const usine_conv_problem *p, const usine_conv_exec *exec)
{
    if (algo == USINE_CONV_ALGO_DEPTHWISE)
        return usine_conv_depthwise_workspace_size(pass, p, exec);
    if (direct_weights_run(pass, p, exec))
        return usine_conv_direct_weights_workspace_size(p, exec);
    if (exec->variant == USINE_CONV_VARIANT_DIRECT && pass != USINE_CONV_BACKWARD_WEIGHTS)
        return pass == USINE_CONV_BACKWARD_DATA ? usine_conv_direct_backward_workspace_size(p, exec)
                                                : usine_conv_direct_workspace_size(p, exec);
    if (exec->variant == USINE_CONV_VARIANT_WINOGRAD)
        return usine_conv_winograd_workspace_size(p, exec);
    return usine_conv_gemm_workspace_size(algo, pass, p, exec);
}

void usine_cpu_conv_run(usine_conv_algo algo, usine_conv_pass pass, const usine_conv_problem *p,
                        const usine_conv_exec *exec, const usine_conv_tensors *t, void *workspace)
{
    if (algo == USINE_CONV_ALGO_DEPTHWISE)
        usine_conv_depthwise_run(pass, p, exec, t, workspace);
    else if (exec->variant == USINE_CONV_VARIANT_DIRECT && pass == USINE_CONV_BACKWARD_DATA)
        usine_conv_direct_backward_run(p, exec, t, workspace);
    else if (direct_weights_run(pass, p, exec))
        usine_conv_direct_weights_run(p, exec, t, workspace);
    else if (exec->variant == USINE_CONV_VARIANT_DIRECT && pass == USINE_CONV_FORWARD)
        usine_conv_direct_run(p, exec, t, workspace);
    else if (exec->variant == USINE_CONV_VARIANT_WINOGRAD)
        usine_conv_winograd_run(p, exec, t, workspace);
    else
        usine_conv_gemm_run(algo, pass, p, exec, t, workspace);
}
