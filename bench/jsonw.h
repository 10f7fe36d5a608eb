/* A small JSON writer: nesting and commas are tracked, strings escaped, non-finite numbers
 * written as null (JSON has no NaN). Enough for reports; reading is cJSON's job. */
#ifndef USINE_BENCH_JSONW_H
#define USINE_BENCH_JSONW_H

#include <stdint.h>
#include <stdio.h>

#define USINE_JSONW_MAX_DEPTH 16

typedef struct usine_jsonw {
    FILE *out;
    int depth;
    int count[USINE_JSONW_MAX_DEPTH];  /* members written at each level */
    char close[USINE_JSONW_MAX_DEPTH]; /* its closing bracket */
} usine_jsonw;

void usine_jsonw_init(usine_jsonw *w, FILE *out);

/* key: the member name inside an object, NULL inside an array or at the top. */
void usine_jsonw_object(usine_jsonw *w, const char *key);
void usine_jsonw_array(usine_jsonw *w, const char *key);
void usine_jsonw_end(usine_jsonw *w); /* closes the innermost object or array */

void usine_jsonw_string(usine_jsonw *w, const char *key, const char *value); /* NULL: null */
void usine_jsonw_int(usine_jsonw *w, const char *key, int64_t value);
void usine_jsonw_double(usine_jsonw *w, const char *key, double value);
void usine_jsonw_bool(usine_jsonw *w, const char *key, int value);
void usine_jsonw_null(usine_jsonw *w, const char *key);
/* A value that is already JSON text (another writer's document), written as it is. */
void usine_jsonw_raw(usine_jsonw *w, const char *key, const char *json);

#endif
