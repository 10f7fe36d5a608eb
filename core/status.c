#include "status.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

/* 512 bytes holds the longest message usine writes (a function name, an argument name
 * and three 64-bit numbers) with room to spare; longer ones are truncated, never overrun. */
static _Thread_local char last_error[512];

const char *usine_status_string(usine_status status)
{
    switch (status) {
    case USINE_SUCCESS:
        return "success";
    case USINE_ERROR_INVALID_ARGUMENT:
        return "invalid argument";
    case USINE_ERROR_OVERFLOW:
        return "size overflow";
    case USINE_ERROR_NOT_SUPPORTED:
        return "not supported";
    case USINE_ERROR_OUT_OF_MEMORY:
        return "out of memory";
    case USINE_ERROR_DEVICE:
        return "device error";
    case USINE_ERROR_INTERNAL:
        return "internal error";
    }
    return "unknown status";
}

const char *usine_last_error(void)
{
    return last_error;
}

void usine_clear_error(void)
{
    last_error[0] = '\0';
}

usine_status usine_fail(usine_status status, const char *function, const char *format, ...)
{
    int used = snprintf(last_error, sizeof last_error, "%s: ", function);
    if (used < 0 || (size_t)used >= sizeof last_error)
        return status;
    va_list args;
    va_start(args, format);
    vsnprintf(last_error + used, sizeof last_error - (size_t)used, format, args);
    va_end(args);
    return status;
}

usine_status usine_check_span(const char *function, const char *name, const void *ptr,
                              int64_t bytes)
{
    if (bytes == 0)
        return USINE_SUCCESS;
    if (!ptr)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, function, "%s is NULL", name);
    if (UINTPTR_MAX - (uintptr_t)ptr < (uintptr_t)bytes)
        return usine_fail(USINE_ERROR_INVALID_ARGUMENT, function,
                          "%s + its span (%" PRId64 " bytes) wraps around the address space", name,
                          bytes);
    return USINE_SUCCESS;
}

int usine_ranges_overlap(const void *p, int64_t pb, const void *q, int64_t qb)
{
    const uintptr_t a = (uintptr_t)p, b = (uintptr_t)q;
    return p && q && pb > 0 && qb > 0 && a < b + (uintptr_t)qb && b < a + (uintptr_t)pb;
}
