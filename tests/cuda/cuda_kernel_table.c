/* Prints the CUDA kernel table, one kernel a line: name, arch, threads per block, minimum
 * blocks per SM (__launch_bounds__) and dynamic shared memory in bytes. Needs no GPU: it
 * reads the descriptors the kernel files export. Used by ptxas_check.sh. */
#include <stdio.h>

#include "../../kernels/cuda/cuda_runtime.h"

int main(void)
{
    const int n = usine_cuda_kernel_count();
    for (int i = 0; i < n; i++) {
        const char *name;
        int arch, threads, blocks, smem;
        if (!usine_cuda_kernel_info(i, &name, &arch, &threads, &blocks, &smem))
            return 1;
        printf("%s %d %d %d %d\n", name, arch, threads, blocks, smem);
    }
    return n > 0 ? 0 : 1;
}
