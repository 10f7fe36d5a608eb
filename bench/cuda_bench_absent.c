/* The CUDA lines of `usine bench` in a build without the CUDA backend: none (the header's
 * GPU line says why GPU peers are not timed). See cuda_bench.h. */
#include "cuda_bench.h"

void usine_bench_cuda_child(void *arg, void *out)
{
    (void)arg;
    (void)out;
}

int usine_bench_cuda_run(FILE *table, const usine_bench_gpu_info *gpu, double seconds)
{
    (void)table;
    (void)gpu;
    (void)seconds;
    return 0;
}
