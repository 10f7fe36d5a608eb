#include "threading.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int usine_cpu_default_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int usine_cpu_in_parallel(void)
{
#ifdef _OPENMP
    return omp_in_parallel();
#else
    return 0;
#endif
}

void usine_cpu_parallel(int threads, usine_parallel_body *body, void *arg)
{
    if (threads <= 1) {
        body(arg, 0, 1);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
    body(arg, omp_get_thread_num(), omp_get_num_threads());
#else
    body(arg, 0, 1);
#endif
}

void usine_cpu_barrier(void)
{
#ifdef _OPENMP
#pragma omp barrier
#endif
}
