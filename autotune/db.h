/*
 * The tuning database: plain text, one entry a line, keyed by machine fingerprint, library
 * version, op, dtypes, thread count and shape class. A user database ($USINE_TUNE_DB, else
 * $XDG_CACHE_HOME/usine/tune.db, else ~/.cache/usine/tune.db) is read first, then the
 * system one installed with the library.
 *
 *   # usine-tune-db 1
 *   E <fingerprint> <version> <op> <dtypes> t<threads> m<i>n<j>k<l> <kernel> <params>
 *     <gflops> <model_gflops> <counters> <unix time>              (tab-separated, one line)
 *
 * GEMM entries (op gemm): params mc=..,kc=..,nc=..,pack=0|1 and m, n, k the product's.
 * Attention entries (op attn_fwd, attn_bwd): params block=N, m the query length, n the key
 * length, k the head dimension (autotune/attention_tune.h).
 * Convolution entries (op conv_fwd, conv_bwd_data, conv_bwd_weights): params
 * algo=NAME[,key=value...], dtypes a tag such as f32.nhwc.3x3s1 (autotune/conv_tune.h).
 * Each op names the form of its params (usine_db_params_form); an op without one of its
 * own has GEMM params.
 *
 * Readers skip corrupt, truncated and foreign lines (one warning per file) and a file
 * without the header line entirely: a bad database costs tuning, never a failure. Writers
 * take an exclusive lock (flock on <db>.lock), merge with what is on disk, write a
 * temporary file and rename it over the database, so that concurrent tuners lose no entry
 * and readers never see half a file.
 */
#ifndef USINE_AUTOTUNE_DB_H
#define USINE_AUTOTUNE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "counters.h"

#define USINE_DB_HEADER "# usine-tune-db 1"

typedef struct usine_tune_key {
    char fingerprint[17];
    char version[16];
    char op[24];     /* gemm, attn_fwd, attn_bwd, conv_fwd, conv_bwd_data, conv_bwd_weights */
    char dtypes[24]; /* "f32"; conv: a tag of dtype, layout, filter and stride (conv_tune.h) */
    int threads;
    int mclass, nclass, kclass; /* shape class: floor(log2) of m, n, k */
} usine_tune_key;

typedef struct usine_tune_entry {
    usine_tune_key key;
    char kernel[64];
    int64_t mc, kc, nc;
    int pack; /* 0: the driver decides what to pack; 1: always pack A and B */
    /* Attention entries (op attn_fwd / attn_bwd) have one parameter instead, the drivers'
     * block ("block=N" in the file; mc, kc, nc and pack are then 0). */
    int64_t block;
    /* Convolution entries (op conv_*): the algorithm and its parameters as text,
     * "algo=NAME[,key=value...]" (autotune/conv_tune.h). */
    char params[48];
    double gflops;                       /* the chosen candidate, median of the tuning run */
    double model_gflops;                 /* the model's choice, measured in the same run */
    long long counters[USINE_CTR_COUNT]; /* -1 where not counted */
    long long time;
} usine_tune_entry;

typedef struct usine_tune_table {
    usine_tune_entry *entries;
    size_t count, capacity;
} usine_tune_table;

/* The user database path (from the environment) into out; 0 if no path can be formed. */
int usine_db_user_path(char *out, size_t size);

/* The system database path (fixed at build time). */
const char *usine_db_system_path(void);

/* Same op, dtypes, threads, class, fingerprint and version. */
int usine_tune_key_equal(const usine_tune_key *a, const usine_tune_key *b);

/* Appends (or replaces the entry with the same key); -1 when out of memory. */
int usine_tune_table_put(usine_tune_table *t, const usine_tune_entry *e);
void usine_tune_table_free(usine_tune_table *t);

/*
 * Reads a database file into t (appending; entries already in t with the same key win).
 * fingerprint / version: NULL reads every valid entry, else only matching ones (others are
 * ignored silently: they belong to other machines or releases). Corrupt lines are counted
 * into *skipped; a missing file is not an error. Returns 0, or -1 if the file exists but
 * is not a tuning database (no header), or -2 when out of memory.
 */
int usine_db_read(const char *path, const char *fingerprint, const char *version,
                  usine_tune_table *t, size_t *skipped);

/* Merges entries into the database at path under the lock (created with its directory if
 * needed). remove_fingerprint: non-NULL drops that machine's entries first (--clear).
 * Returns 0 or -1 (message in error). */
int usine_db_merge(const char *path, const usine_tune_table *entries,
                   const char *remove_fingerprint, char *error, size_t error_size);

/* Formats / parses one entry line (no newline). Parse returns 0 if the line is valid. */
void usine_db_format_entry(const usine_tune_entry *e, char *out, size_t size);
int usine_db_parse_entry(const char *line, usine_tune_entry *e);

/* The form of an op's params in the file. */
typedef enum usine_db_params_form {
    USINE_DB_PARAMS_BLOCKING = 0, /* mc=..,kc=..,nc=..,pack=0|1 (gemm, and unknown ops) */
    USINE_DB_PARAMS_BLOCK,        /* block=N (attn_fwd, attn_bwd) */
    USINE_DB_PARAMS_ALGO          /* algo=NAME[,key=value...] (conv_fwd, conv_bwd_*) */
} usine_db_params_form;

usine_db_params_form usine_db_params_form_of(const char *op);

/* Whether an op names attention entries (params block=N). */
int usine_db_is_attention(const char *op);

/* Shape class of one extent: floor(log2(x)), 0 for x <= 1. */
int usine_shape_class(int64_t x);

#endif
