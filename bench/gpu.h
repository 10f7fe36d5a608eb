/*
 * GPUs and their vendor libraries, found with dlopen (never linked): the CUDA driver
 * (cuBLAS, cuBLASLt, cuDNN are the NVIDIA peers) and HIP (rocBLAS, MIOpen for AMD).
 * The run names what it found; with a CUDA device and usine's CUDA backend, cuda_bench.h
 * times usine's CUDA kernels against cuBLAS; HIP peers are not timed (no HIP kernels yet).
 * The probe loads driver libraries, so it runs in a child process.
 */
#ifndef USINE_BENCH_GPU_H
#define USINE_BENCH_GPU_H

typedef struct usine_bench_gpu_platform {
    int present; /* the runtime loaded and reported at least one device */
    int devices;
    char name[128];  /* the first device */
    char why[200];   /* why absent, or why its peers were not run */
    char peers[160]; /* the peer libraries found, e.g. "cuBLAS, cuDNN" */
} usine_bench_gpu_platform;

typedef struct usine_bench_gpu_info {
    usine_bench_gpu_platform cuda, rocm;
} usine_bench_gpu_info;

/* Child-process work (child.h): arg unused, out a usine_bench_gpu_info. */
void usine_bench_gpu_probe_child(void *arg, void *out);

#endif
