#include "gpu.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "../kernels/cuda/cuda_runtime.h"

/* The driver API entry points used (cuda.h, hip_runtime_api.h): plain ints stand for the
 * handle and result types, which are int-sized enums and ints. */
typedef int cu_init_fn(unsigned);
typedef int cu_count_fn(int *);
typedef int cu_get_fn(int *, int);
typedef int cu_name_fn(char *, int, int);
typedef int hip_count_fn(int *);
typedef int hip_name_fn(char *, int, int);

#define NOT_TIMED                                                                                  \
    "usine has no HIP kernels yet (a HIP backend is planned): ROCm peers are not timed"
#define CUDA_TIMED     "usine's CUDA kernels are timed below against cuBLAS (USINE_BENCH_GPU=0: not)"
#define CUDA_NOT_BUILT "this usine was built without its CUDA backend: GPU peers are not timed"

/* Which of the peer libraries load; their names go into p->peers. */
static void find_peers(usine_bench_gpu_platform *p, const char *const *files,
                       const char *const *names, int count)
{
    for (int i = 0; i < count; i++) {
        void *h = dlopen(files[i], RTLD_LAZY | RTLD_LOCAL);
        if (!h)
            continue;
        const size_t len = strlen(p->peers);
        snprintf(p->peers + len, sizeof p->peers - len, "%s%s", len ? ", " : "", names[i]);
        dlclose(h);
    }
}

static void probe_cuda(usine_bench_gpu_platform *p)
{
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(p->why, sizeof p->why, "no CUDA driver (libcuda.so.1 does not load)");
        return;
    }
    cu_init_fn *init = (cu_init_fn *)dlsym(h, "cuInit");
    cu_count_fn *count = (cu_count_fn *)dlsym(h, "cuDeviceGetCount");
    cu_get_fn *get = (cu_get_fn *)dlsym(h, "cuDeviceGet");
    cu_name_fn *name = (cu_name_fn *)dlsym(h, "cuDeviceGetName");
    int dev = 0;
    if (!init || !count || init(0) != 0 || count(&p->devices) != 0 || p->devices < 1) {
        snprintf(p->why, sizeof p->why, "the CUDA driver reports no device");
        return;
    }
    p->present = 1;
    if (get && name && get(&dev, 0) == 0)
        name(p->name, sizeof p->name, dev);
    static const char *const files[] = {"libcublas.so.13", "libcublasLt.so.13", "libcudnn.so.9",
                                        "libcublas.so.12", "libcublasLt.so.12", "libcudnn.so.9"};
    static const char *const names[] = {"cuBLAS", "cuBLASLt", "cuDNN",
                                        "cuBLAS", "cuBLASLt", "cuDNN"};
    find_peers(p, files, names, 3);
    if (!p->peers[0])
        find_peers(p, files + 3, names + 3, 3);
    snprintf(p->why, sizeof p->why, "%s", usine_cuda_built() ? CUDA_TIMED : CUDA_NOT_BUILT);
}

static void probe_rocm(usine_bench_gpu_platform *p)
{
    void *h = dlopen("libamdhip64.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(p->why, sizeof p->why, "no ROCm runtime (libamdhip64.so does not load)");
        return;
    }
    hip_count_fn *count = (hip_count_fn *)dlsym(h, "hipGetDeviceCount");
    hip_name_fn *name = (hip_name_fn *)dlsym(h, "hipDeviceGetName");
    if (!count || count(&p->devices) != 0 || p->devices < 1) {
        snprintf(p->why, sizeof p->why, "the ROCm runtime reports no device");
        return;
    }
    p->present = 1;
    if (name)
        name(p->name, sizeof p->name, 0);
    static const char *const files[] = {"librocblas.so", "libMIOpen.so"};
    static const char *const names[] = {"rocBLAS", "MIOpen"};
    find_peers(p, files, names, 2);
    snprintf(p->why, sizeof p->why, "%s", NOT_TIMED);
}

void usine_bench_gpu_probe_child(void *arg, void *out)
{
    usine_bench_gpu_info *info = (usine_bench_gpu_info *)out;
    (void)arg;
    probe_cuda(&info->cuda);
    probe_rocm(&info->rocm);
}
