#include "default_context.h"

#include <stdlib.h>

#include "context.h"
#include "env.h"
#include "status.h"
#include "../kernels/cpu/threading.h"

usine_status usine_create_from_defaults(usine_context **context)
{
    static const usine_dtype dtypes[USINE_GEMM_DTYPES] = {USINE_F32, USINE_F64};
    if (!context)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, __func__, "context is NULL");
    *context = NULL;
    /* Only the verbose flag is taken from the environment: usine_env_read sets it even
     * when another variable is invalid (its error is dropped, then cleared below). */
    usine_env env;
    (void)usine_env_read(&env, __func__);
    usine_clear_error();
    usine_context *ctx = (usine_context *)calloc(1, sizeof *ctx);
    if (!ctx)
        return usine_fail(USINE_ERROR_OUT_OF_MEMORY, __func__, "cannot allocate a context");
    const int threads = usine_cpu_default_threads();
    ctx->threads_option = 0;
    ctx->num_threads = threads > 0 ? threads : 1;
    ctx->isa = usine_cpu_isa_detect();
    ctx->verbose = env.verbose;
    for (int i = 0; i < USINE_GEMM_DTYPES; i++) {
        char message[256];
        if (usine_select_gemm(dtypes[i], ctx->isa, NULL, &ctx->gemm[i], message, sizeof message) !=
            USINE_SELECT_OK) {
            free(ctx);
            return usine_fail(USINE_ERROR_INTERNAL, __func__, "%s", message);
        }
    }
    *context = ctx;
    return USINE_SUCCESS;
}
