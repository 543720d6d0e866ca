/* SPDX-License-Identifier: MIT */
/*
 * compile_time.c - densecl-compile-time: where a cold start's compile time goes on an OpenCL
 * device. Builds a kernels.cl tree with the given options, then launches each named kernel once
 * (one work-group of the given size, every integer argument 0, every buffer a small one, so
 * that the kernel returns at once), and prints the seconds clBuildProgram took and each first
 * launch took: POCL compiles a kernel's work-group function on its first launch (and links it
 * with ld), so on POCL that is each kernel's share of a first run. Plain OpenCL; knows nothing
 * of densecl but the layout of its kernels (kernels.cl including kernels/<file>).
 *
 *   densecl-compile-time TREE OPTIONS KERNEL[:WG] ...
 *
 * TREE: the folder holding kernels.cl (the source tree, or a copy with a change to measure).
 * OPTIONS: the build options, as the engine's (DENSECL_BUILD_LOG=FILE writes them as its first
 * line; `-I TREE` and `-cl-kernel-arg-info` are added). WG: the work-group size (default 1; the
 * pools launch 16 or 64 on CPUs). Set POCL_CACHE_DIR to an empty folder for a cold build: POCL
 * reads a kernel it compiled before from its cache. tools/dev/compile_time.sh runs it in rounds
 * on fresh caches and compares trees.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Sets every argument of k so that a launch of it does nothing: buffers get buf, local
 * arguments 4 KiB, integers 0 (the kernels return when their sizes are 0). 0 on success. */
static int set_args(cl_kernel k, cl_mem buf)
{
    cl_uint n = 0;
    if (clGetKernelInfo(k, CL_KERNEL_NUM_ARGS, sizeof n, &n, NULL) != CL_SUCCESS)
        return -1;
    for (cl_uint i = 0; i < n; i++) {
        cl_kernel_arg_address_qualifier aq = 0;
        char type[64] = "";
        cl_int err;
        if (clGetKernelArgInfo(k, i, CL_KERNEL_ARG_ADDRESS_QUALIFIER, sizeof aq, &aq, NULL) !=
                CL_SUCCESS ||
            clGetKernelArgInfo(k, i, CL_KERNEL_ARG_TYPE_NAME, sizeof type - 1, type, NULL) !=
                CL_SUCCESS)
            return -1;
        if (aq == CL_KERNEL_ARG_ADDRESS_LOCAL) {
            err = clSetKernelArg(k, i, 4096, NULL);
        } else if (aq == CL_KERNEL_ARG_ADDRESS_GLOBAL || aq == CL_KERNEL_ARG_ADDRESS_CONSTANT) {
            err = clSetKernelArg(k, i, sizeof buf, &buf);
        } else if (strstr(type, "long")) {
            const cl_long zero = 0;
            err = clSetKernelArg(k, i, sizeof zero, &zero);
        } else {
            const cl_int zero = 0;
            err = clSetKernelArg(k, i, sizeof zero, &zero);
        }
        if (err != CL_SUCCESS)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    cl_platform_id platform;
    cl_device_id dev;
    cl_int err;
    if (argc < 4) {
        fprintf(stderr, "usage: densecl-compile-time TREE OPTIONS KERNEL[:WG] ...\n");
        return 2;
    }
    if (clGetPlatformIDs(1, &platform, NULL) != CL_SUCCESS ||
        clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &dev, NULL) != CL_SUCCESS) {
        fprintf(stderr, "densecl-compile-time: no OpenCL device\n");
        return 1;
    }
    cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    cl_command_queue q = ctx ? clCreateCommandQueue(ctx, dev, 0, &err) : NULL;
    cl_mem buf = ctx ? clCreateBuffer(ctx, CL_MEM_READ_WRITE, 1 << 16, NULL, &err) : NULL;
    if (!q || !buf) {
        fprintf(stderr, "densecl-compile-time: no context, queue or buffer (%d)\n", err);
        return 1;
    }
    /* The compiler's own start-up first (POCL loads LLVM and its kernel library once per
     * process), on a kernel of nothing, so that it is not the first build's. */
    {
        const char *none = "kernel void densecl_compile_time_none(void) {}";
        const size_t one = 1;
        cl_program p = clCreateProgramWithSource(ctx, 1, &none, NULL, &err);
        cl_kernel k = NULL;
        if (p && clBuildProgram(p, 1, &dev, "", NULL, NULL) == CL_SUCCESS &&
            (k = clCreateKernel(p, "densecl_compile_time_none", &err)) != NULL)
            clEnqueueNDRangeKernel(q, k, 1, NULL, &one, &one, 0, NULL, NULL);
        clFinish(q);
        if (k)
            clReleaseKernel(k);
        if (p)
            clReleaseProgram(p);
    }
    /* The tree's kernels.cl by #include, as its own lines include kernels/<file> (which must
     * be there: POCL also searches the current directory). */
    const char *src = "#include \"kernels.cl\"\n";
    char *options, path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/kernels.cl", argv[1]);
    if (!(f = fopen(path, "r"))) {
        fprintf(stderr, "densecl-compile-time: cannot read %s\n", path);
        return 1;
    }
    fclose(f);
    size_t olen = strlen(argv[1]) + strlen(argv[2]) + 64;
    if (!(options = malloc(olen)))
        return 1;
    snprintf(options, olen, "-I %s %s -cl-kernel-arg-info", argv[1], argv[2]);
    cl_program prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);
    double t0 = now();
    err = prog ? clBuildProgram(prog, 1, &dev, options, NULL, NULL) : err;
    const double build_s = now() - t0;
    if (err != CL_SUCCESS) {
        static char log[1 << 16];
        log[0] = '\0';
        if (prog)
            clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
        fprintf(stderr, "densecl-compile-time: the build failed (%d):\n%s\n", err, log);
        return 1;
    }
    printf("build %.3f s\n", build_s);
    double total = 0;
    int status = 0;
    for (int a = 3; a < argc; a++) {
        char name[256];
        size_t wg = 1;
        snprintf(name, sizeof name, "%s", argv[a]);
        char *colon = strchr(name, ':');
        if (colon) {
            *colon = '\0';
            wg = (size_t)strtoul(colon + 1, NULL, 10);
        }
        cl_kernel k = clCreateKernel(prog, name, &err);
        if (!k || wg == 0 || set_args(k, buf) != 0) {
            fprintf(stderr, "densecl-compile-time: %s: no such kernel, or arguments not set\n",
                    argv[a]);
            status = 1;
            if (k)
                clReleaseKernel(k);
            continue;
        }
        t0 = now();
        err = clEnqueueNDRangeKernel(q, k, 1, NULL, &wg, &wg, 0, NULL, NULL);
        if (err == CL_SUCCESS)
            err = clFinish(q);
        const double s = now() - t0;
        clReleaseKernel(k);
        if (err != CL_SUCCESS) {
            fprintf(stderr, "densecl-compile-time: %s: launch failed (%d)\n", argv[a], err);
            status = 1;
            continue;
        }
        total += s;
        printf("%s %.3f s\n", argv[a], s);
    }
    printf("kernels %.3f s, all %.3f s\n", total, total + build_s);
    clReleaseProgram(prog);
    clReleaseMemObject(buf);
    clReleaseCommandQueue(q);
    clReleaseContext(ctx);
    free(options);
    return status;
}
