#include "triad.h"

#include <stdlib.h>

#include "measure.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#define PASSES 6

size_t usine_bench_triad_bytes(long long llc_bytes)
{
    const size_t min = (size_t)32 << 20, want = (size_t)(llc_bytes > 0 ? 4 * llc_bytes : 0);
    return want > min ? want : min;
}

/* One pass over this thread's slice [lo, hi). */
static void triad_slice(double *a, const double *b, const double *c, size_t lo, size_t hi)
{
    const double s = 3.0;
    for (size_t i = lo; i < hi; i++)
        a[i] = b[i] + s * c[i];
}

/* Slices are fixed per thread index, so the first touch and every pass agree. */
static void slice_of(size_t n, int threads, int t, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)t / (size_t)threads;
    *hi = n * (size_t)(t + 1) / (size_t)threads;
}

static double run_passes(double *a, double *b, double *c, size_t n, int threads)
{
    double best = 0;
    for (int pass = -1; pass < PASSES; pass++) { /* pass -1: first touch */
        double start = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
        {
            const int t = omp_get_thread_num();
#else
        {
            const int t = 0;
            threads = 1;
#endif
            size_t lo, hi;
            slice_of(n, threads, t, &lo, &hi);
            if (pass < 0)
                for (size_t i = lo; i < hi; i++)
                    a[i] = 0, b[i] = 1.0, c[i] = 2.0;
#ifdef _OPENMP
#pragma omp barrier
#pragma omp master
#endif
            start = usine_bench_now();
#ifdef _OPENMP
#pragma omp barrier
#endif
            triad_slice(a, b, c, lo, hi);
        }
        const double t = usine_bench_now() - start;
        const double gbs = 24.0 * (double)n / t * 1e-9;
        best = pass >= 0 && gbs > best ? gbs : best;
    }
    /* a[] is read back so that the compiler keeps every pass. */
    return a[n / 2] == 7.0 ? best : 0;
}

double usine_bench_triad(int threads, size_t bytes)
{
    const size_t n = bytes / sizeof(double);
    double *a = (double *)aligned_alloc(64, n * sizeof(double));
    double *b = (double *)aligned_alloc(64, n * sizeof(double));
    double *c = (double *)aligned_alloc(64, n * sizeof(double));
    const double gbs = a && b && c ? run_passes(a, b, c, n, threads) : 0;
    free(a);
    free(b);
    free(c);
    return gbs;
}
