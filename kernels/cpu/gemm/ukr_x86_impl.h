/*
 * Register-blocked x86 microkernel body, instantiated once per (ISA, vector width, dtype)
 * by defining the UKR_* macros below and including this file. The kernel files then wrap
 * UKR_FUNC with constant MV (vectors per column of the tile), NR (columns) and BT (how B
 * is laid out), so that the compiler unrolls every loop over the tile and keeps the
 * MV x NR accumulators in registers (checked in the generated assembly: no spills).
 *
 * Tile: MR = MV * UKR_LANES rows of C in MV vectors, NR columns. Per k step: MV vector
 * loads of the A column, NR broadcasts of B elements folded into MV * NR FMAs.
 * A~(i,p) = a[i + p*a_step]; B~(p,j) = b[p*b_step + j] (BT = 0: rows of B contiguous, as
 * packed) or b[p + j*b_step] (BT = 1: columns of B contiguous, read in place).
 *
 * Required macros: UKR_FUNC, UKR_T, UKR_V, UKR_LANES, UKR_MASK, UKR_MASK_FOR(rows),
 * UKR_LOAD(p) (unaligned), UKR_BCAST(x), UKR_FMA(a, b, c), UKR_MUL(a, b), UKR_ZERO(),
 * UKR_MASKLOAD(mask, p), UKR_MASKSTORE(p, mask, v); optional UKR_DOT(a, b, c), the
 * multiply-add of an A vector and a broadcast B vector into c (default UKR_FMA: the bf16
 * and int8 kernels give their dot products).
 *
 * Each B element is broadcast once into a register and used by the MV FMAs of its column,
 * not folded into each FMA as a {1toN} memory operand: on Zen 5 (two 512-bit FMA pipes) the
 * folded form ran the in-L1 48x8 loop at 180 GFLOP/s against 209 with the broadcast apart,
 * and 2048^3 at 160 against 189 (interleaved runs; peak 210-222); on Zen 4 the folded form
 * had been 2% ahead (94% against 92% of peak at 2048^3), the one cost of a single form.
 * (GCC still folds a broadcast used once, in the one-vector edge tiles: as fast there.)
 */

/* Distance, in k steps, at which A is prefetched: it streams from L2 while B sits in L1
 * (the BLIS loop order), so a few hundred cycles ahead hides the L2 latency. */
#ifndef UKR_PREFETCH_STEPS
#define UKR_PREFETCH_STEPS 8
#endif

/* BT = 1 reads B's columns from memory: each is prefetched this many elements ahead
 * (two or more cache lines, ~ a DRAM latency of k steps). */
#define UKR_BT_PREFETCH (128 / (int)sizeof(UKR_T))
#define UKR_BT_BLOCK    (64 / (int)sizeof(UKR_T))

#ifndef UKR_DOT
#define UKR_DOT(a, b, c) UKR_FMA(a, b, c)
#endif

/* One k step: MV vector loads of A, NR broadcasts of B (element jj at bp[jj * bs]). */
#define UKR_STEP(ap, bp, bs)                                                                       \
    do {                                                                                           \
        UKR_V av[3];                                                                               \
        _Pragma("GCC unroll 3") for (int v = 0; v < MV; v++) av[v] =                               \
            UKR_LOAD((ap) + v * UKR_LANES);                                                        \
        _Pragma("GCC unroll 16") for (int jj = 0; jj < NR; jj++)                                   \
        {                                                                                          \
            const UKR_V bj = UKR_BCAST((bp)[jj * (bs)]);                                           \
            _Pragma("GCC unroll 3") for (int v = 0; v < MV; v++) acc[v][jj] =                      \
                UKR_DOT(av[v], bj, acc[v][jj]);                                                    \
        }                                                                                          \
    } while (0)

/* One k step with A asked for UKR_PREFETCH_STEPS steps ahead (a_step apart), then A and B
 * moved on by a step: ap by a_step, bp by b_next. */
#define UKR_STEP_AHEAD(ap, bp, bs, b_next)                                                         \
    do {                                                                                           \
        _Pragma("GCC unroll 3") for (int v = 0; v < MV; v++)                                       \
            __builtin_prefetch((ap) + UKR_PREFETCH_STEPS * a_step + v * UKR_LANES, 0, 3);          \
        UKR_STEP(ap, bp, bs);                                                                      \
        (ap) += a_step;                                                                            \
        (bp) += (b_next);                                                                          \
    } while (0)

#define UKR_CAT_(x, y) x##y
#define UKR_CAT(x, y)  UKR_CAT_(x, y)

/* Zeroes the accumulators. C is touched once, after the k loop, and often comes from memory:
 * its lines are asked for into L2 now (the A panel streaming through L1 would evict them
 * from there). */
USINE_INLINE void UKR_CAT(UKR_FUNC, _start)(int MV, int NR, UKR_V acc[3][16], const UKR_T *c,
                                            int64_t ldc, int n)
{
#pragma GCC unroll 16
    for (int j = 0; j < NR; j++)
#pragma GCC unroll 3
        for (int v = 0; v < MV; v++)
            acc[v][j] = UKR_ZERO();
#pragma GCC unroll 16
    for (int j = 0; j < NR; j++)
        if (j < n)
#pragma GCC unroll 3
            for (int v = 0; v < MV; v++)
                __builtin_prefetch(c + j * ldc + v * UKR_LANES, 1, 2);
}

/* Stores the accumulators into C: masked along m (a partial last tile costs no extra
 * pass), guarded along n. */
USINE_INLINE void UKR_CAT(UKR_FUNC, _store)(int MV, int NR, UKR_V acc[3][16], UKR_T *c, int64_t ldc,
                                            int m, int n, UKR_T alpha, UKR_T beta)
{
    UKR_MASK mask[3];
#pragma GCC unroll 3
    for (int v = 0; v < MV; v++)
        mask[v] = UKR_MASK_FOR(m - v * UKR_LANES);
    const UKR_V valpha = UKR_BCAST(alpha);
    if (beta == (UKR_T)0) {
#pragma GCC unroll 16
        for (int j = 0; j < NR; j++) {
            if (j >= n)
                break;
#pragma GCC unroll 3
            for (int v = 0; v < MV; v++)
                UKR_MASKSTORE(c + j * ldc + v * UKR_LANES, mask[v], UKR_MUL(valpha, acc[v][j]));
        }
    } else {
        const UKR_V vbeta = UKR_BCAST(beta);
#pragma GCC unroll 16
        for (int j = 0; j < NR; j++) {
            if (j >= n)
                break;
#pragma GCC unroll 3
            for (int v = 0; v < MV; v++) {
                UKR_T *cp = c + j * ldc + v * UKR_LANES;
                const UKR_V old = UKR_MASKLOAD(mask[v], cp);
                UKR_MASKSTORE(cp, mask[v], UKR_FMA(valpha, acc[v][j], UKR_MUL(vbeta, old)));
            }
        }
    }
}

/* The next B panel is fetched into L2 one line every UKR_NEXT_STEPS k steps (see UKR_FUNC). */
#define UKR_NEXT_STEPS 8

/* `next_bytes` from `next` (NULL, 0: none) are asked for into L2 during the k loop: the
 * driver's next packed B panel, which comes from L3 or memory while this tile runs. Spread
 * over the loop, a line every UKR_NEXT_STEPS steps, rather than asked for all at once
 * before it: a burst of 60-70 prefetches held up the A panel's own stream from L2
 * (measured on Zen 5, one thread: 2016^3 with pre-packed operands 200-203 GFLOP/s with the
 * burst, 206-208 spread, 210-213 with B in L2; sgemm 2048^3 194.5 -> 202.0). */
USINE_INLINE void UKR_FUNC(int MV, int NR, int BT, int64_t k, const UKR_T *a, int64_t a_step,
                           const UKR_T *b, int64_t b_step, UKR_T *c, int64_t ldc, int m, int n,
                           UKR_T alpha, UKR_T beta, const char *next, int64_t next_bytes)
{
    UKR_V acc[3][16];
    /* (UKR_FUNC alone also asks for C in L1, one column per step during the last NR steps.) */
    UKR_CAT(UKR_FUNC, _start)(MV, NR, acc, c, ldc, n);

    const int64_t b_row = BT ? 1 : b_step, b_col = BT ? b_step : 1;
    int64_t p = 0;
    if (BT) {
        /* Blocks of one cache line of each B column: prefetch NR lines, then use them. */
        for (; p + UKR_BT_BLOCK <= k - NR; p += UKR_BT_BLOCK) {
#pragma GCC unroll 16
            for (int j = 0; j < NR; j++)
                __builtin_prefetch(b + j * b_col + UKR_BT_PREFETCH, 0, 3);
            for (int q = 0; q < UKR_BT_BLOCK; q++) {
                UKR_STEP_AHEAD(a, b, b_col, b_row);
            }
        }
    }
    if (next_bytes > 0) {
        const char *const end = next + next_bytes;
        const int64_t slots = (k - NR - p) / UKR_NEXT_STEPS;
        const int64_t per_slot = slots > 0 ? ((next_bytes + 63) / 64 + slots - 1) / slots : 0;
        for (; p + UKR_NEXT_STEPS <= k - NR; p += UKR_NEXT_STEPS) {
            for (int64_t l = 0; l < per_slot && next < end; l++, next += 64)
                __builtin_prefetch(next, 0, 2);
#pragma GCC unroll 2
            for (int q = 0; q < UKR_NEXT_STEPS; q++) {
                UKR_STEP_AHEAD(a, b, b_col, b_row);
            }
        }
        for (; next < end; next += 64) /* k too short for the spread */
            __builtin_prefetch(next, 0, 2);
    }
/* Two steps per iteration halve the loop overhead (measured +1% at 2048^3 on Zen 4). */
#pragma GCC unroll 2
    for (; p < k - NR; p++) {
        UKR_STEP_AHEAD(a, b, b_col, b_row);
    }
    for (int j = 0; p < k; p++, j++) {
        if (j < n)
#pragma GCC unroll 3
            for (int v = 0; v < MV; v++)
                __builtin_prefetch(c + j * ldc + v * UKR_LANES, 1, 3);
        UKR_STEP(a, b, b_col);
        a += a_step;
        b += b_row;
    }

    UKR_CAT(UKR_FUNC, _store)(MV, NR, acc, c, ldc, m, n, alpha, beta);
}

/* The same tile over `segs` segments of k steps: A~_s at a + s a_seg, B~_s(p, j) at
 * b[s b_seg + p b_row + j b_col] (b_row 1: by columns, as BT; else b_col 1: by rows), all
 * summed into one set of accumulators, so that C is loaded and stored once (the direct
 * convolution's filter rows: short segments, such as 21 steps for 7 taps of 3 channels,
 * would otherwise pay a pass over C each; the weight gradient's output rows, 7 steps on
 * 7 x 7). */
USINE_INLINE void UKR_CAT(UKR_FUNC, _segs)(int MV, int NR, int64_t k, int segs, const UKR_T *a,
                                           int64_t a_step, int64_t a_seg, const UKR_T *b,
                                           int64_t b_row, int64_t b_col, int64_t b_seg, UKR_T *c,
                                           int64_t ldc, int m, int n, UKR_T alpha, UKR_T beta)
{
    UKR_V acc[3][16];
    UKR_CAT(UKR_FUNC, _start)(MV, NR, acc, c, ldc, n);
    for (int s = 0; s < segs; s++) {
        const UKR_T *as = a + s * a_seg, *bs = b + s * b_seg;
        if (b_row != 1) { /* rows of B contiguous: they stay in L1 between calls */
#pragma GCC unroll 2
            for (int64_t p = 0; p < k; p++) {
                UKR_STEP_AHEAD(as, bs, 1, b_row);
            }
            continue;
        }
        /* Columns of B: no software prefetch of them (unlike ukr_bt's), the hardware's
         * suffices for the convolution's input rows, read in order. Prefetching two lines
         * ahead of each column every 16 steps cost 2-5%: 1x1 64 -> 64 on 56 x 56, one thread,
         * 180-186 -> 190-193 GFLOP/s; the ResNet-50 forward layers' geometric mean 198-201 ->
         * 204-205 (one thread), 397-401 -> 404-405 (two; Zen 5, alternating runs). */
#pragma GCC unroll 2
        for (int64_t p = 0; p < k; p++) {
            UKR_STEP_AHEAD(as, bs, b_col, 1);
        }
    }
    UKR_CAT(UKR_FUNC, _store)(MV, NR, acc, c, ldc, m, n, alpha, beta);
}

#undef UKR_FUNC
#undef UKR_T
#undef UKR_V
#undef UKR_LANES
#undef UKR_MASK
#undef UKR_MASK_FOR
#undef UKR_LOAD
#undef UKR_BCAST
#undef UKR_FMA
#undef UKR_MUL
#undef UKR_ZERO
#undef UKR_MASKLOAD
#undef UKR_MASKSTORE
#undef UKR_STEP
#undef UKR_STEP_AHEAD
#undef UKR_BT_PREFETCH
#undef UKR_BT_BLOCK
#undef UKR_NEXT_STEPS
#undef UKR_DOT
#undef UKR_CAT
#undef UKR_CAT_
