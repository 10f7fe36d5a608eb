/* Status codes and the thread-local last-error message. */
#ifndef USINE_CORE_STATUS_H
#define USINE_CORE_STATUS_H

#include "usine.h"

/* Records "function: message" as this thread's last error and returns status. */
usine_status usine_fail(usine_status status, const char *function, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears this thread's last error (called at the start of every public entry point). */
void usine_clear_error(void);

/* A buffer argument of `bytes` bytes (>= 0): NULL is an error when it holds anything, and
 * so is a span wrapping around the address space; the message names it. */
usine_status usine_check_span(const char *function, const char *name, const void *ptr,
                              int64_t bytes);

/* Whether [p, p + pb) and [q, q + qb) share a byte (empty or NULL ranges share none). */
int usine_ranges_overlap(const void *p, int64_t pb, const void *q, int64_t qb);

#endif
