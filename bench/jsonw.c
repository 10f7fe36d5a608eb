#include "jsonw.h"

#include <math.h>
#include <string.h>

void usine_jsonw_init(usine_jsonw *w, FILE *out)
{
    w->out = out;
    w->depth = 0;
    w->count[0] = 0;
}

static void write_escaped(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* Comma, newline and indent before a member, then its key. */
static void begin_member(usine_jsonw *w, const char *key)
{
    if (w->depth > 0)
        fputs(w->count[w->depth]++ ? ",\n" : "\n", w->out);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->out);
    if (key) {
        write_escaped(w->out, key);
        fputs(": ", w->out);
    }
}

static void open_level(usine_jsonw *w, const char *key, char open, char close)
{
    begin_member(w, key);
    fputc(open, w->out);
    if (w->depth + 1 < USINE_JSONW_MAX_DEPTH) {
        w->depth++;
        w->count[w->depth] = 0;
        w->close[w->depth] = close;
    }
}

void usine_jsonw_object(usine_jsonw *w, const char *key)
{
    open_level(w, key, '{', '}');
}

void usine_jsonw_array(usine_jsonw *w, const char *key)
{
    open_level(w, key, '[', ']');
}

void usine_jsonw_end(usine_jsonw *w)
{
    if (w->depth == 0)
        return;
    const int had_members = w->count[w->depth] > 0;
    const char close = w->close[w->depth--];
    if (had_members) {
        fputc('\n', w->out);
        for (int i = 0; i < w->depth; i++)
            fputs("  ", w->out);
    }
    fputc(close, w->out);
    if (w->depth == 0)
        fputc('\n', w->out);
}

void usine_jsonw_string(usine_jsonw *w, const char *key, const char *value)
{
    begin_member(w, key);
    if (value)
        write_escaped(w->out, value);
    else
        fputs("null", w->out);
}

void usine_jsonw_int(usine_jsonw *w, const char *key, int64_t value)
{
    begin_member(w, key);
    fprintf(w->out, "%lld", (long long)value);
}

void usine_jsonw_double(usine_jsonw *w, const char *key, double value)
{
    begin_member(w, key);
    if (isfinite(value))
        fprintf(w->out, "%.6g", value);
    else
        fputs("null", w->out);
}

void usine_jsonw_bool(usine_jsonw *w, const char *key, int value)
{
    begin_member(w, key);
    fputs(value ? "true" : "false", w->out);
}

void usine_jsonw_null(usine_jsonw *w, const char *key)
{
    begin_member(w, key);
    fputs("null", w->out);
}

void usine_jsonw_raw(usine_jsonw *w, const char *key, const char *json)
{
    size_t len = strlen(json);
    while (len > 0 && (json[len - 1] == '\n' || json[len - 1] == ' '))
        len--;
    begin_member(w, key);
    fwrite(json, 1, len, w->out);
}
