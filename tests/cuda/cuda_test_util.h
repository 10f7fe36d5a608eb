/*
 * What the CUDA tests share: a context on cuda:0 and the device's compute capability.
 * Header-only (static functions): each test program is one C file plus tests/common.
 */
#ifndef USINE_TESTS_CUDA_TEST_UTIL_H
#define USINE_TESTS_CUDA_TEST_UTIL_H

#include <cuda_runtime_api.h>
#include <stdio.h>

#include "usine.h"

/* A context on cuda:0, or NULL with the reason in `why`. */
static usine_context *cuda_context(char *why, size_t size)
{
    usine_context_options o;
    usine_context_options_init(&o);
    o.device = "cuda:0";
    usine_context *ctx = NULL;
    if (usine_create(&ctx, &o) != USINE_SUCCESS) {
        snprintf(why, size, "%s", usine_last_error());
        return NULL;
    }
    return ctx;
}

/* Compute capability of device 0 as major x 10 + minor (0 when unknown): 90 runs the sm_90a
 * kernels. */
static int device_arch(void)
{
    int major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0) != cudaSuccess)
        return 0;
    return 10 * major + minor;
}

#endif
