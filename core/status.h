/* Status codes and the thread-local last-error message. */
#ifndef USINE_CORE_STATUS_H
#define USINE_CORE_STATUS_H

#include "usine.h"

/* Records "function: message" as this thread's last error and returns status. */
usine_status usine_fail(usine_status status, const char *function, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears this thread's last error (called at the start of every public entry point). */
void usine_clear_error(void);

#endif
