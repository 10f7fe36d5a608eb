#include "suite.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites_builtin.h"

#define MAX_TOKENS 32

const char *usine_bench_suite_names(void)
{
    return "quick|gemm|transformer|resnet50|smoke";
}

const char *usine_bench_op_name(usine_bench_op op)
{
    return op == USINE_BENCH_OP_GEMM        ? "gemm"
           : op == USINE_BENCH_OP_ATTENTION ? "attention"
                                            : "conv";
}

const char *usine_bench_dtype_name(usine_dtype dtype)
{
    switch (dtype) {
    case USINE_F32:
        return "f32";
    case USINE_F64:
        return "f64";
    case USINE_BF16:
        return "bf16";
    case USINE_F16:
        return "f16";
    case USINE_U8:
        return "int8";
    default:
        return "?";
    }
}

int usine_bench_dtype_slot(usine_dtype dtype)
{
    return dtype == USINE_F32    ? 0
           : dtype == USINE_F64  ? 1
           : dtype == USINE_BF16 ? 2
           : dtype == USINE_U8   ? 3
                                 : -1;
}

usine_dtype usine_bench_slot_dtype(int slot)
{
    static const usine_dtype dtypes[USINE_BENCH_DTYPE_SLOTS] = {USINE_F32, USINE_F64, USINE_BF16,
                                                                USINE_U8};
    return dtypes[slot];
}

int usine_bench_is_lowp(usine_dtype dtype)
{
    return dtype == USINE_BF16 || dtype == USINE_U8;
}

void usine_bench_case_types(const usine_bench_case *c, usine_dtype types[3])
{
    types[0] = types[1] = types[2] = c->dtype;
    if (c->dtype == USINE_BF16)
        types[2] = USINE_F32;
    else if (c->dtype == USINE_U8) {
        types[1] = USINE_S8;
        types[2] = USINE_S32;
    }
}

/* ------------------------------------------------------------------ parsing helpers */

typedef struct parser {
    const char *origin;
    int line;
    char *message;
    size_t size;
    char group[48];
} parser;

static int fail(parser *p, const char *fmt, const char *what) __attribute__((format(printf, 2, 0)));

static int fail(parser *p, const char *fmt, const char *what)
{
    char text[200];
    snprintf(text, sizeof text, fmt, what);
    snprintf(p->message, p->size, "%s:%d: %s", p->origin, p->line, text);
    return -1;
}

/* A non-negative integer; -1 when the token is not one. */
static int64_t parse_int(const char *s)
{
    char *end;
    errno = 0;
    const long long v = strtoll(s, &end, 10);
    return errno || end == s || *end || v < 0 ? -1 : (int64_t)v;
}

static int is_number(const char *s)
{
    return parse_int(s) >= 0;
}

/* Splits `line` (modified) into tokens; the text after '#' becomes *comment. */
static int tokenize(char *line, char **tokens, char **comment)
{
    char *hash = strchr(line, '#');
    *comment = NULL;
    if (hash) {
        *hash = '\0';
        for (*comment = hash + 1; isspace((unsigned char)**comment); (*comment)++)
            ;
        (*comment)[strcspn(*comment, "\r\n")] = '\0';
    }
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t && n < MAX_TOKENS;
         t = strtok_r(NULL, " \t\r\n", &save))
        tokens[n++] = t;
    return n;
}

/* ------------------------------------------------------------------ key=value lines */

typedef struct field {
    const char *key;
    int64_t *value;
    int required;
} field;

/* Reads key=value tokens into the fields; unknown keys, bad numbers and missing required
 * keys are errors. */
static int read_fields(parser *p, char **tokens, int n, field *fields, int n_fields)
{
    for (int i = 0; i < n; i++) {
        char *eq = strchr(tokens[i], '=');
        if (!eq)
            return fail(p, "'%s': expected key=value", tokens[i]);
        *eq = '\0';
        int found = 0;
        for (int f = 0; f < n_fields && !found; f++) {
            if (strcmp(fields[f].key, tokens[i]) != 0)
                continue;
            found = 1;
            if ((*fields[f].value = parse_int(eq + 1)) < 0)
                return fail(p, "%s: expected a non-negative integer", tokens[i]);
            fields[f].required = 0; /* seen */
        }
        if (!found)
            return fail(p, "unknown key '%s'", tokens[i]);
    }
    for (int f = 0; f < n_fields; f++)
        if (fields[f].required)
            return fail(p, "missing %s=", fields[f].key);
    return 0;
}

/* trans=NN|NT|TN|TT, taken out of the tokens before the numeric fields are read. */
static int take_trans(parser *p, char **tokens, int *n, usine_bench_case *c)
{
    for (int i = 0; i < *n; i++) {
        if (strncmp(tokens[i], "trans=", 6) != 0)
            continue;
        const char *v = tokens[i] + 6;
        if (strlen(v) != 2 || !strchr("NT", v[0]) || !strchr("NT", v[1]))
            return fail(p, "trans=%s: expected NN, NT, TN or TT", v);
        c->transa = v[0];
        c->transb = v[1];
        tokens[i] = tokens[--*n];
        i--;
    }
    return 0;
}

static int parse_gemm(parser *p, char **tokens, int n, usine_bench_case *c)
{
    if (take_trans(p, tokens, &n, c) != 0)
        return -1;
    field f[] = {{"m", &c->m, 1},
                 {"n", &c->n, 1},
                 {"k", &c->k, 1},
                 {"batch", &c->batch, 0},
                 {"count", &c->count, 0}};
    if (read_fields(p, tokens, n, f, 5) != 0)
        return -1;
    return c->batch >= 1 ? 0 : fail(p, "%s must be at least 1", "batch");
}

static int parse_attention(parser *p, char **tokens, int n, usine_bench_case *c)
{
    usine_bench_attention *a = &c->att;
    int64_t seq = -1, causal = 0, backward = 0;
    a->batch = 1;
    a->kv_heads = a->seq_q = a->seq_k = -1;
    field f[] = {{"batch", &a->batch, 0},       {"heads", &a->heads, 1},
                 {"kv_heads", &a->kv_heads, 0}, {"seq", &seq, 0},
                 {"seq_q", &a->seq_q, 0},       {"seq_k", &a->seq_k, 0},
                 {"head_dim", &a->head_dim, 1}, {"causal", &causal, 0},
                 {"window", &a->window, 0},     {"count", &c->count, 0},
                 {"backward", &backward, 0}};
    if (read_fields(p, tokens, n, f, 11) != 0)
        return -1;
    a->causal = causal != 0;
    a->backward = backward != 0;
    a->kv_heads = a->kv_heads < 0 ? a->heads : a->kv_heads;
    a->seq_q = a->seq_q < 0 ? seq : a->seq_q;
    a->seq_k = a->seq_k < 0 ? seq : a->seq_k;
    if (a->seq_q < 1 || a->seq_k < 1)
        return fail(p, "%s: give seq= (or seq_q= and seq_k=)", "attention");
    if (a->heads < 1 || a->kv_heads < 1 || a->heads % a->kv_heads != 0)
        return fail(p, "%s: heads must be a multiple of kv_heads", "attention");
    return 0;
}

const char *usine_bench_conv_pass_key(int pass)
{
    static const char *const keys[3] = {"fwd", "bwd_data", "bwd_weights"};
    return (unsigned)pass < 3 ? keys[pass] : "?";
}

const char *usine_bench_conv_pass_name(int pass)
{
    static const char *const names[3] = {"forward", "backward_data", "backward_weights"};
    return (unsigned)pass < 3 ? names[pass] : "?";
}

/* pass=fwd|bwd_data|bwd_weights, taken out of the tokens before the numeric fields. */
static int take_pass(parser *p, char **tokens, int *n, usine_bench_conv *v)
{
    for (int i = 0; i < *n; i++) {
        if (strncmp(tokens[i], "pass=", 5) != 0)
            continue;
        const char *value = tokens[i] + 5;
        v->pass = -1;
        for (int k = 0; k < 3; k++)
            if (!strcmp(value, usine_bench_conv_pass_key(k)))
                v->pass = k;
        if (v->pass < 0)
            return fail(p, "pass=%s: expected fwd, bwd_data or bwd_weights", value);
        tokens[i] = tokens[--*n];
        i--;
    }
    return 0;
}

static int parse_conv(parser *p, char **tokens, int n, usine_bench_case *c)
{
    usine_bench_conv *v = &c->conv;
    if (take_pass(p, tokens, &n, v) != 0)
        return -1;
    int64_t stride = 1, pad = 0, dil = 1;
    v->stride_h = v->stride_w = v->pad_h = v->pad_w = -1;
    v->groups = 1;
    field f[] = {{"n", &v->n, 1},
                 {"c", &v->c, 1},
                 {"h", &v->h, 1},
                 {"w", &v->w, 1},
                 {"k", &v->k, 1},
                 {"r", &v->r, 1},
                 {"s", &v->s, 1},
                 {"stride", &stride, 0},
                 {"stride_h", &v->stride_h, 0},
                 {"stride_w", &v->stride_w, 0},
                 {"pad", &pad, 0},
                 {"pad_h", &v->pad_h, 0},
                 {"pad_w", &v->pad_w, 0},
                 {"dilation", &dil, 0},
                 {"groups", &v->groups, 0},
                 {"count", &c->count, 0}};
    if (read_fields(p, tokens, n, f, 16) != 0)
        return -1;
    v->stride_h = v->stride_h < 0 ? stride : v->stride_h;
    v->stride_w = v->stride_w < 0 ? stride : v->stride_w;
    v->pad_h = v->pad_h < 0 ? pad : v->pad_h;
    v->pad_w = v->pad_w < 0 ? pad : v->pad_w;
    v->dil_h = v->dil_w = dil;
    if (v->groups < 1 || v->c % v->groups || v->k % v->groups)
        return fail(p, "%s: groups must divide c and k", "conv");
    if (v->stride_h < 1 || v->stride_w < 1 || v->dil_h < 1)
        return fail(p, "%s: strides and dilation must be at least 1", "conv");
    if (v->h + 2 * v->pad_h < v->dil_h * (v->r - 1) + 1 ||
        v->w + 2 * v->pad_w < v->dil_w * (v->s - 1) + 1)
        return fail(p, "%s: the filter is larger than the padded input", "conv");
    return 0;
}

static int parse_dtype(parser *p, const char *s, usine_bench_case *c)
{
    /* int8 names the family u8 (A) x s8 (B) -> s32 (C); its usine_dtype is A's. */
    static const char *const known[] = {"f32", "f64", "bf16", "f16", "int8"};
    static const usine_dtype dtypes[] = {USINE_F32, USINE_F64, USINE_BF16, USINE_F16, USINE_U8};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(s, known[i]) == 0) {
            snprintf(c->dtype_name, sizeof c->dtype_name, "%s", s);
            c->dtype = dtypes[i];
            return 0;
        }
    return fail(p, "unknown dtype '%s' (f32, f64, bf16, f16, int8)", s);
}

/* ------------------------------------------------------------------ DeepBench lines */

/* DeepBench GEMM: M N K transA transB (T or N), column-major as cuBLAS takes it. */
static int parse_deepbench_gemm(parser *p, char **t, usine_bench_case *c)
{
    c->op = USINE_BENCH_OP_GEMM;
    c->m = parse_int(t[0]);
    c->n = parse_int(t[1]);
    c->k = parse_int(t[2]);
    c->transa = t[3][0];
    c->transb = t[4][0];
    if (strlen(t[3]) != 1 || strlen(t[4]) != 1 || !strchr("NT", c->transa) ||
        !strchr("NT", c->transb))
        return fail(p, "%s: DeepBench GEMM transposes must be N or T", "M N K tA tB");
    return 0;
}

/* DeepBench conv: W H C N K S R pad_w pad_h stride_w stride_h (S filter width, R height). */
static void parse_deepbench_conv(char **t, usine_bench_case *c)
{
    usine_bench_conv *v = &c->conv;
    c->op = USINE_BENCH_OP_CONV;
    v->w = parse_int(t[0]);
    v->h = parse_int(t[1]);
    v->c = parse_int(t[2]);
    v->n = parse_int(t[3]);
    v->k = parse_int(t[4]);
    v->s = parse_int(t[5]);
    v->r = parse_int(t[6]);
    v->pad_w = parse_int(t[7]);
    v->pad_h = parse_int(t[8]);
    v->stride_w = parse_int(t[9]);
    v->stride_h = parse_int(t[10]);
    v->dil_h = v->dil_w = v->groups = 1;
}

static int parse_deepbench(parser *p, char **t, int n, usine_bench_case *c)
{
    snprintf(c->dtype_name, sizeof c->dtype_name, "f32");
    c->dtype = USINE_F32;
    for (int i = 0; i < n; i++)
        if (i < 3 || n == 11) {
            if (!is_number(t[i]))
                return fail(p, "'%s': expected a number", t[i]);
        }
    if (n == 5)
        return parse_deepbench_gemm(p, t, c);
    if (n == 11) {
        parse_deepbench_conv(t, c);
        return 0;
    }
    return fail(p, "%s: DeepBench lines have 5 (GEMM) or 11 (conv) fields", "unrecognised line");
}

/* ------------------------------------------------------------------ lines */

/* GEMM in the dtypes the benchmark knows how to call and check; whether usine has a
 * kernel for a low-precision one is found when it runs (a skip, with usine's message).
 * Attention and convolution in f32 and bf16 (their input types in usine.h). */
static void set_runs(usine_bench_case *c)
{
    if (c->op == USINE_BENCH_OP_ATTENTION || c->op == USINE_BENCH_OP_CONV)
        c->runs = c->dtype == USINE_F32 || c->dtype == USINE_BF16;
    else
        c->runs = c->op == USINE_BENCH_OP_GEMM && c->dtype != USINE_F16;
}

/* One non-empty line into *c; 1 when it was a directive or a comment (no case). */
static int parse_line(parser *p, char **t, int n, const char *comment, usine_bench_case *c)
{
    if (n == 0)
        return 1;
    if (!strcmp(t[0], "group")) {
        if (n != 2)
            return fail(p, "%s: expected 'group NAME' (one word)", "group");
        snprintf(p->group, sizeof p->group, "%s", t[1]);
        return 1;
    }
    memset(c, 0, sizeof *c);
    c->batch = c->count = 1;
    c->transa = c->transb = 'N';
    snprintf(c->group, sizeof c->group, "%s", p->group);
    snprintf(c->note, sizeof c->note, "%s", comment ? comment : "");
    snprintf(c->origin, sizeof c->origin, "%s:%d", p->origin, p->line);
    int rc;
    if (is_number(t[0]))
        rc = parse_deepbench(p, t, n, c);
    else if (n < 2)
        return fail(p, "'%s': expected OP DTYPE key=value...", t[0]);
    else if (parse_dtype(p, t[1], c) != 0)
        return -1;
    else if (!strcmp(t[0], "gemm"))
        rc = (c->op = USINE_BENCH_OP_GEMM, parse_gemm(p, t + 2, n - 2, c));
    else if (!strcmp(t[0], "attention"))
        rc = (c->op = USINE_BENCH_OP_ATTENTION, parse_attention(p, t + 2, n - 2, c));
    else if (!strcmp(t[0], "conv"))
        rc = (c->op = USINE_BENCH_OP_CONV, parse_conv(p, t + 2, n - 2, c));
    else
        return fail(p, "unknown op '%s' (gemm, attention, conv)", t[0]);
    set_runs(c);
    return rc;
}

static int append(usine_bench_suite *s, size_t *capacity, const usine_bench_case *c)
{
    if (s->n_cases == *capacity) {
        const size_t cap = *capacity ? 2 * *capacity : 32;
        usine_bench_case *grown = (usine_bench_case *)realloc(s->cases, cap * sizeof *grown);
        if (!grown)
            return -1;
        s->cases = grown;
        *capacity = cap;
    }
    s->cases[s->n_cases++] = *c;
    return 0;
}

/* The group of DeepBench lines and files without `group`: the file's base name. */
static void default_group(parser *p, const char *origin)
{
    const char *base = strrchr(origin, '/');
    base = base ? base + 1 : origin;
    snprintf(p->group, sizeof p->group, "%.*s", (int)strcspn(base, "."), base);
}

static int parse_text(parser *p, const char *text, usine_bench_suite *s)
{
    size_t capacity = 0;
    for (const char *line = text; *line; p->line++) {
        const size_t len = strcspn(line, "\n");
        char buf[1024], *tokens[MAX_TOKENS], *comment;
        snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), line);
        line += len + (line[len] == '\n');
        const int n = tokenize(buf, tokens, &comment);
        if (n == 0 && comment && !s->title[0])
            snprintf(s->title, sizeof s->title, "%s", comment);
        usine_bench_case c;
        const int rc = parse_line(p, tokens, n, comment, &c);
        if (rc < 0)
            return -1;
        if (rc == 0 && append(s, &capacity, &c) != 0)
            return fail(p, "%s", "out of memory");
    }
    return s->n_cases ? 0 : fail(p, "%s", "no cases");
}

int usine_bench_suite_parse(const char *text, const char *origin, usine_bench_suite *suite,
                            char *message, size_t size)
{
    parser p = {origin, 1, message, size, ""};
    memset(suite, 0, sizeof *suite);
    snprintf(suite->name, sizeof suite->name, "%s", origin);
    default_group(&p, origin);
    if (parse_text(&p, text, suite) == 0)
        return 0;
    usine_bench_suite_free(suite);
    return -1;
}

void usine_bench_suite_free(usine_bench_suite *suite)
{
    free(suite->cases);
    suite->cases = NULL;
    suite->n_cases = 0;
}

char *usine_bench_read_file(const char *path, char *message, size_t size)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long len = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (text = (char *)malloc((size_t)len + 1)) != NULL) {
        text[fread(text, 1, (size_t)len, f)] = '\0';
    }
    if (!text)
        snprintf(message, size, "cannot read %s: %s", path, strerror(errno ? errno : EIO));
    if (f)
        fclose(f);
    return text;
}

int usine_bench_suite_load(const char *name, usine_bench_suite *suite, char *message, size_t size)
{
    /* "full" is the GEMM suite's name before suites became files. */
    const char *builtin = !strcmp(name, "full") ? "gemm" : name;
    for (size_t i = 0; i < usine_bench_builtin_suite_count; i++)
        if (!strcmp(builtin, usine_bench_builtin_suites[i].name)) {
            const int rc = usine_bench_suite_parse(usine_bench_builtin_suites[i].text, builtin,
                                                   suite, message, size);
            snprintf(suite->name, sizeof suite->name, "%s", builtin);
            return rc;
        }
    if (!strchr(name, '/') && !strchr(name, '.')) {
        snprintf(message, size, "unknown suite '%s' (%s, or a shape file)", name,
                 usine_bench_suite_names());
        return -1;
    }
    char *text = usine_bench_read_file(name, message, size);
    if (!text)
        return -1;
    const int rc = usine_bench_suite_parse(text, name, suite, message, size);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ flops and bytes */

/* Query-key pairs attention computes: all of them, or the visible ones (usine.h's
 * masks, off = seq_k - seq_q): a causal query i sees keys up to i + off (bottom-right
 * aligned), and a sliding window only keys after i + off - window. */
static double attention_pairs(const usine_bench_attention *a)
{
    if (!a->causal && a->window <= 0)
        return (double)a->seq_q * (double)a->seq_k;
    double pairs = 0;
    for (int64_t i = 0; i < a->seq_q; i++) {
        const int64_t off = i + a->seq_k - a->seq_q;
        int64_t hi = a->causal ? off : a->seq_k - 1;
        hi = hi < a->seq_k ? hi : a->seq_k - 1;
        int64_t lo = a->window > 0 ? off - a->window + 1 : 0;
        lo = lo > 0 ? lo : 0;
        pairs += hi >= lo ? (double)(hi - lo + 1) : 0;
    }
    return pairs;
}

static int64_t conv_out(int64_t in, int64_t pad, int64_t dil, int64_t f, int64_t stride)
{
    return (in + 2 * pad - dil * (f - 1) - 1) / stride + 1;
}

double usine_bench_case_flops(const usine_bench_case *c)
{
    if (c->op == USINE_BENCH_OP_ATTENTION) {
        /* S = Q K^T and O = P V: two multiply-adds per pair and head dimension; the
         * backward (S, dP = dO V^T, dV, dQ, dK: five) counts 2.5 times that. */
        const usine_bench_attention *a = &c->att;
        return (a->backward ? 10.0 : 4.0) * (double)a->batch * (double)a->heads *
               (double)a->head_dim * attention_pairs(a);
    }
    if (c->op == USINE_BENCH_OP_CONV) {
        const usine_bench_conv *v = &c->conv;
        const double p = (double)conv_out(v->h, v->pad_h, v->dil_h, v->r, v->stride_h);
        const double q = (double)conv_out(v->w, v->pad_w, v->dil_w, v->s, v->stride_w);
        return 2.0 * (double)v->n * (double)v->k * p * q * (double)(v->c / v->groups) *
               (double)v->r * (double)v->s;
    }
    return 2.0 * (double)c->m * (double)c->n * (double)c->k * (double)c->batch;
}

/* Bytes of an input element, and of an output element (int8 accumulates into int32). */
static double in_bytes(const usine_bench_case *c)
{
    const char *d = c->dtype_name;
    return !strcmp(d, "f64") ? 8 : !strcmp(d, "f32") ? 4 : !strcmp(d, "int8") ? 1 : 2;
}

static double out_bytes(const usine_bench_case *c)
{
    return !strcmp(c->dtype_name, "int8") ? 4 : in_bytes(c);
}

double usine_bench_case_bytes(const usine_bench_case *c)
{
    const double ie = in_bytes(c), oe = out_bytes(c);
    if (c->op == USINE_BENCH_OP_ATTENTION) {
        const usine_bench_attention *a = &c->att;
        const double q = (double)a->heads * (double)a->seq_q * (double)a->head_dim;
        const double kv = 2.0 * (double)a->kv_heads * (double)a->seq_k * (double)a->head_dim;
        if (a->backward) /* reads Q, K, V, O, dO; writes dQ, dK, dV */
            return (double)a->batch * ((3 * q + kv) * ie + (q + kv) * oe);
        return (double)a->batch * ((q + kv) * ie + q * oe);
    }
    if (c->op == USINE_BENCH_OP_CONV) {
        const usine_bench_conv *v = &c->conv;
        const double p = (double)conv_out(v->h, v->pad_h, v->dil_h, v->r, v->stride_h);
        const double q = (double)conv_out(v->w, v->pad_w, v->dil_w, v->s, v->stride_w);
        const double in = (double)(v->n * v->c * v->h * v->w);
        const double filt = (double)(v->k * (v->c / v->groups) * v->r * v->s);
        return (in + filt) * ie + (double)(v->n * v->k) * p * q * oe;
    }
    return (double)c->batch *
           ((double)(c->m * c->k + c->k * c->n) * ie + (double)(c->m * c->n) * oe);
}

const char *usine_bench_case_not_built(const usine_bench_case *c)
{
    if (c->runs)
        return "";
    if (c->op == USINE_BENCH_OP_ATTENTION)
        return "attention is benchmarked in f32 and bf16 only (usine_attention_forward's "
               "input types)";
    if (c->op == USINE_BENCH_OP_CONV)
        return "convolution is benchmarked in f32 and bf16 only (usine_conv2d_*'s types)";
    return "f16 GEMM not benchmarked yet (usine runs it, converted to f32 while packing; no f16 "
           "peer on this CPU)";
}

void usine_bench_case_label(const usine_bench_case *c, char *out, size_t size)
{
    if (c->op == USINE_BENCH_OP_ATTENTION) {
        const usine_bench_attention *a = &c->att;
        char seq[48];
        if (a->seq_q == a->seq_k)
            snprintf(seq, sizeof seq, "s%lld", (long long)a->seq_q);
        else
            snprintf(seq, sizeof seq, "s%lld/%lld", (long long)a->seq_q, (long long)a->seq_k);
        snprintf(out, size, "b%lld h%lld/%lld %s d%lld%s%s", (long long)a->batch,
                 (long long)a->heads, (long long)a->kv_heads, seq, (long long)a->head_dim,
                 a->window > 0 ? " window"
                 : a->causal   ? " causal"
                               : "",
                 a->backward ? " bwd" : "");
    } else if (c->op == USINE_BENCH_OP_CONV) {
        const usine_bench_conv *v = &c->conv;
        char groups[32] = "";
        if (v->groups > 1 && v->groups == v->c)
            snprintf(groups, sizeof groups, " dw");
        else if (v->groups > 1)
            snprintf(groups, sizeof groups, " g%lld", (long long)v->groups);
        snprintf(out, size, "n%lld c%lld %lldx%lld k%lld %lldx%lld/%lld%s%s", (long long)v->n,
                 (long long)v->c, (long long)v->h, (long long)v->w, (long long)v->k,
                 (long long)v->r, (long long)v->s, (long long)v->stride_h, groups,
                 v->pass == 1   ? " bwd_d"
                 : v->pass == 2 ? " bwd_w"
                                : "");
    } else {
        const int n = snprintf(out, size, "%lldx%lldx%lld", (long long)c->m, (long long)c->n,
                               (long long)c->k);
        if (n > 0 && (size_t)n < size && c->batch > 1)
            snprintf(out + n, size - (size_t)n, " x%lld", (long long)c->batch);
        if (c->transa != 'N' || c->transb != 'N')
            snprintf(out + strlen(out), size - strlen(out), " %c%c", c->transa, c->transb);
    }
}

int64_t usine_bench_lda(const usine_bench_case *c)
{
    if (usine_bench_is_lowp(c->dtype))
        return c->transa == 'T' ? c->m : c->k;
    return c->transa == 'T' ? c->k : c->m;
}

int64_t usine_bench_ldb(const usine_bench_case *c)
{
    if (usine_bench_is_lowp(c->dtype))
        return c->transb == 'T' ? c->k : c->n;
    return c->transb == 'T' ? c->n : c->k;
}
