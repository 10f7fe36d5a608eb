/*
 * The machine fingerprint: what tuning results depend on, as a stable readable string
 * (architecture, CPU vendor and model, ISA, cores, caches) plus a 64-bit hash of it. Two
 * nodes of a cluster with the same hardware share a fingerprint, so they share tuning.
 * Clocks, load and the OS are deliberately left out: they change, the hardware does not.
 */
#ifndef USINE_AUTOTUNE_FINGERPRINT_H
#define USINE_AUTOTUNE_FINGERPRINT_H

typedef struct usine_fingerprint {
    char text[320]; /* e.g. "x86_64 AuthenticAMD AMD EPYC 25/17/1 avx512 1p 2c 2t 1n L1d 32K ..." */
    char hash[17];  /* 16 hex digits: FNV-1a 64 of text */
} usine_fingerprint;

/* This machine's fingerprint, computed on the first call (thread-safe) and kept. */
const usine_fingerprint *usine_fingerprint_get(void);

/* FNV-1a 64 of a string as 16 hex digits (out: 17 bytes). */
void usine_fingerprint_hash(const char *text, char out[17]);

#endif
