/*
 * Panel packing shared by every ISA file. Each kernel file wraps usine_pack_panels with
 * its constant panel width and element size; since the body is always inlined, the
 * compiler sees W and ES as constants and emits vector code for the ISA that file is
 * compiled for. Not a public contract: include only from kernel files.
 */
#ifndef USINE_KERNELS_CPU_GEMM_PACK_IMPL_H
#define USINE_KERNELS_CPU_GEMM_PACK_IMPL_H

#include <stdint.h>
#include <string.h>

#define USINE_INLINE static inline __attribute__((always_inline))

/* Columns copied per pass of the transposing path: a W x 16 block of X is W cache lines
 * wide in the source, small enough to stay in L1 while it is scattered into the panel. */
#define USINE_PACK_TRANSPOSE_STEP 16

/* Columns of X asked for ahead of the one being copied when the rows are contiguous. A
 * column of an A block is a few cache lines on a page of its own, and the hardware
 * prefetchers stop at page boundaries: without this, each column waits on a page walk and
 * on memory. Measured on Zen 5, one thread, 3072 x 128 x 1024 f32 (A read once, packed
 * once, its columns 12 KiB apart), three interleaved runs each: the time in the A packer
 * 1119-1168 -> 747-795 samples (-33%), 137-139 -> 144-146 GFLOP/s on a busy host; 2, 4
 * and 8 columns ahead: 4 best. 2048^3, 4096^3, 256^3 and 5124 x 700 x 2048 unchanged
 * within the noise. */
#define USINE_PACK_PREFETCH_COLUMNS 4

/* Asks for the cache lines of [p, p + bytes) in L1. */
USINE_INLINE void usine_prefetch_span(const char *p, size_t bytes)
{
    const char *line = (const char *)((uintptr_t)p & ~(uintptr_t)63);
    for (; line < p + bytes; line += 64)
        __builtin_prefetch(line, 0, 3);
}

/* One full panel whose rows are contiguous in X (rs == 1): each column is a W-element copy. */
USINE_INLINE void usine_pack_contiguous_rows(int W, int ES, int64_t k, const char *x, int64_t cs,
                                             char *dst)
{
    for (int64_t p = 0; p < k; p++)
        memcpy(dst + p * W * ES, x + p * cs * ES, (size_t)W * ES);
}

/* `panels` full panels side by side whose rows are contiguous in X (rs == 1): column p of
 * the block is read once, front to back, and split among the panels. Panel after panel, a
 * block of columns a page apart would be walked once per panel, each pass touching every
 * page again with three cache lines of it (measured on Zen 4, one thread: the 1x1 stride-2
 * backward data 2048 -> 1024 channels on 14 x 14, whose A has 4 KiB columns, 79-82 -> 83-89
 * GFLOP/s; sgemm 2048^3 unchanged). */
USINE_INLINE void usine_pack_contiguous_rows_block(int W, int ES, int64_t panels, int64_t k,
                                                   const char *x, int64_t cs, char *dst)
{
    for (int64_t p = 0; p < k; p++) {
        if (p + USINE_PACK_PREFETCH_COLUMNS < k)
            usine_prefetch_span(x + (p + USINE_PACK_PREFETCH_COLUMNS) * cs * ES,
                                (size_t)(panels * W * ES));
        for (int64_t j = 0; j < panels; j++)
            memcpy(dst + (j * k + p) * W * ES, x + (p * cs + j * W) * ES, (size_t)W * ES);
    }
}

/* One full panel whose columns are contiguous in X (cs == 1): a transpose, done in
 * W x STEP blocks so that each source line is read once. */
USINE_INLINE void usine_pack_contiguous_cols(int W, int ES, int64_t k, const char *x, int64_t rs,
                                             char *dst)
{
    int64_t p0 = 0;
    for (; p0 + USINE_PACK_TRANSPOSE_STEP <= k; p0 += USINE_PACK_TRANSPOSE_STEP)
        for (int i = 0; i < W; i++)
            for (int p = 0; p < USINE_PACK_TRANSPOSE_STEP; p++)
                memcpy(dst + ((p0 + p) * W + i) * ES, x + (i * rs + p0 + p) * ES, ES);
    for (int i = 0; i < W; i++)
        for (int64_t p = p0; p < k; p++)
            memcpy(dst + (p * W + i) * ES, x + (i * rs + p) * ES, ES);
}

/* Any strides, `rows` <= W valid rows, the rest of the panel zero. */
USINE_INLINE void usine_pack_general(int W, int ES, int64_t rows, int64_t k, const char *x,
                                     int64_t rs, int64_t cs, char *dst)
{
    for (int64_t p = 0; p < k; p++) {
        char *col = dst + p * W * ES;
        for (int64_t i = 0; i < rows; i++)
            memcpy(col + i * ES, x + (i * rs + p * cs) * ES, ES);
        memset(col + rows * ES, 0, (size_t)(W - rows) * ES);
    }
}

USINE_INLINE void usine_pack_panels(int W, int ES, int64_t rows, int64_t k, const void *xv,
                                    int64_t rs, int64_t cs, void *dstv)
{
    const char *x = (const char *)xv;
    char *dst = (char *)dstv;
    int64_t i0 = 0;
    if (rs == 1 && rows >= 2 * W) { /* the full panels in one pass over the columns */
        i0 = rows / W * W;
        usine_pack_contiguous_rows_block(W, ES, rows / W, k, x, cs, dst);
        dst += i0 * k * ES;
    }
    for (; i0 < rows; i0 += W, dst += W * k * ES) {
        const int64_t r = rows - i0 < W ? rows - i0 : W;
        const char *xp = x + i0 * rs * ES;
        if (r == W && rs == 1)
            usine_pack_contiguous_rows(W, ES, k, xp, cs, dst);
        else if (r == W && cs == 1)
            usine_pack_contiguous_cols(W, ES, k, xp, rs, dst);
        else
            usine_pack_general(W, ES, r, k, xp, rs, cs, dst);
    }
}

/* Defines `static void name(...)`, a usine_gemm_pack_fn for panel width W and type T. */
#define USINE_DEFINE_PACK(name, T, W)                                                              \
    static void name(int64_t rows, int64_t k, const void *x, int64_t rs, int64_t cs, void *dst)    \
    {                                                                                              \
        usine_pack_panels(W, (int)sizeof(T), rows, k, x, rs, cs, dst);                             \
    }

#endif
