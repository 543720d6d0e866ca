/* SPDX-License-Identifier: MIT */
/*
 * launch_bench.c - densecl-launch-bench: what a kernel launch and an upload cost on a device,
 * the figures that decide how densecl launches (tools/dev/gpu_check.sh runs it on a lent GPU).
 * Plain OpenCL; knows nothing of densecl.
 *
 *   densecl-launch-bench [--device gpu|cpu|accelerator|P:D] [--launches N] [--json]
 *
 * Measures, each the median of 5 repetitions:
 *   round_trip_us         one empty kernel enqueued and waited for (clFinish), per launch
 *   back_to_back_us       N empty kernels enqueued, then one clFinish, per launch
 *   back_to_back_args_us  the same with 26 arguments set before every launch (densecl's conv
 *                         kernels take about 26)
 *   *_profiling_us        the two above on a queue with CL_QUEUE_PROFILING_ENABLE
 *   upload_pageable_gbs   a batch-64 224x224 input (38.5 MB) from malloc'd memory
 *   upload_pinned_gbs     the same from a CL_MEM_ALLOC_HOST_PTR buffer, mapped
 * and prints the device's extensions, and whether cl_khr_command_buffer is among them.
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

#define REPS 5
#define NARGS 26

static const char *source =
    "kernel void empty(global float *a, int n) { if (get_global_id(0) == (size_t)n) a[0] = 0; }\n"
    "kernel void args26(global float *a0, int a1, global float *a2, int a3, global float *a4,\n"
    "                   int a5, global float *a6, int a7, global float *a8, int a9,\n"
    "                   global float *a10, int a11, int a12, int a13, int a14, int a15,\n"
    "                   int a16, int a17, int a18, int a19, int a20, int a21, int a22,\n"
    "                   int a23, int a24, int a25)\n"
    "{ if (get_global_id(0) == (size_t)(a1 + a3 + a5 + a7 + a9 + a11 + a12 + a13 + a14 + a15 +\n"
    "      a16 + a17 + a18 + a19 + a20 + a21 + a22 + a23 + a24 + a25)) a0[0] = a2[0] + a4[0] +\n"
    "      a6[0] + a8[0] + a10[0]; }\n";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what, cl_int err)
{
    fprintf(stderr, "densecl-launch-bench: %s failed (%d)\n", what, (int)err);
    exit(1);
}

#define TRY(what, expr)                                                                            \
    do {                                                                                           \
        cl_int e_ = (expr);                                                                        \
        if (e_ != CL_SUCCESS)                                                                      \
            die(what, e_);                                                                         \
    } while (0)

static cl_device_id pick(const char *spec)
{
    cl_platform_id plats[16];
    cl_uint np = 0;
    TRY("clGetPlatformIDs", clGetPlatformIDs(16, plats, &np));
    int pi = -1, di = -1;
    cl_device_type type = CL_DEVICE_TYPE_ALL;
    if (sscanf(spec, "%d:%d", &pi, &di) != 2) {
        pi = di = -1;
        type = strcmp(spec, "cpu") == 0           ? CL_DEVICE_TYPE_CPU
               : strcmp(spec, "accelerator") == 0 ? CL_DEVICE_TYPE_ACCELERATOR
                                                  : CL_DEVICE_TYPE_GPU;
    }
    for (cl_uint p = 0; p < np; p++) {
        cl_device_id devs[16];
        cl_uint nd = 0;
        if (pi >= 0 && (cl_uint)pi != p)
            continue;
        if (clGetDeviceIDs(plats[p], pi >= 0 ? CL_DEVICE_TYPE_ALL : type, 16, devs, &nd) !=
            CL_SUCCESS)
            continue;
        if (di >= 0 && (cl_uint)di < nd)
            return devs[di];
        if (di < 0 && nd > 0)
            return devs[0];
    }
    fprintf(stderr, "densecl-launch-bench: no device matches '%s'\n", spec);
    exit(1);
}

/* Per launch, in microseconds: n launches of k on q, waited for each (round trip) or once. */
static double launches(cl_command_queue q, cl_kernel k, int n, int each, int set_args, cl_mem buf)
{
    const size_t global = 64, local = 64;
    double t[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        for (int i = 0; i < n; i++) {
            if (set_args) {
                for (cl_uint a = 0; a < NARGS; a++) {
                    int v = 0;
                    if (a < 11 && a % 2 == 0)
                        TRY("clSetKernelArg", clSetKernelArg(k, a, sizeof buf, &buf));
                    else
                        TRY("clSetKernelArg", clSetKernelArg(k, a, sizeof v, &v));
                }
            }
            TRY("clEnqueueNDRangeKernel",
                clEnqueueNDRangeKernel(q, k, 1, NULL, &global, &local, 0, NULL, NULL));
            if (each)
                TRY("clFinish", clFinish(q));
        }
        TRY("clFinish", clFinish(q));
        t[r] = (now() - t0) / n * 1e6;
    }
    return median(t, REPS);
}

/* GB/s of a blocking upload of bytes from host into buf. */
static double upload(cl_command_queue q, cl_mem buf, const void *host, size_t bytes)
{
    double t[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        TRY("clEnqueueWriteBuffer",
            clEnqueueWriteBuffer(q, buf, CL_TRUE, 0, bytes, host, 0, NULL, NULL));
        t[r] = (double)bytes / (now() - t0) * 1e-9;
    }
    return median(t, REPS);
}

int main(int argc, char **argv)
{
    const char *spec = "gpu";
    int n = 1000, json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            spec = argv[++i];
        else if (strcmp(argv[i], "--launches") == 0 && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else {
            fprintf(stderr, "usage: densecl-launch-bench [--device SPEC] [--launches N] "
                            "[--json]\n");
            return 2;
        }
    }
    if (n < 1)
        n = 1;
    cl_int err;
    cl_device_id dev = pick(spec);
    char name[256] = "", ext[8192] = "";
    clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof name - 1, name, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, sizeof ext - 1, ext, NULL);
    cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    TRY("clCreateContext", err);
    cl_command_queue q = clCreateCommandQueue(ctx, dev, 0, &err);
    TRY("clCreateCommandQueue", err);
    cl_command_queue qp = clCreateCommandQueue(ctx, dev, CL_QUEUE_PROFILING_ENABLE, &err);
    TRY("clCreateCommandQueue (profiling)", err);
    cl_program prog = clCreateProgramWithSource(ctx, 1, &source, NULL, &err);
    TRY("clCreateProgramWithSource", err);
    TRY("clBuildProgram", clBuildProgram(prog, 1, &dev, "", NULL, NULL));
    cl_kernel empty = clCreateKernel(prog, "empty", &err);
    TRY("clCreateKernel(empty)", err);
    cl_kernel args = clCreateKernel(prog, "args26", &err);
    TRY("clCreateKernel(args26)", err);
    cl_mem small = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 64 * sizeof(float), NULL, &err);
    TRY("clCreateBuffer", err);
    int big_n = 1 << 30;
    TRY("clSetKernelArg", clSetKernelArg(empty, 0, sizeof small, &small));
    TRY("clSetKernelArg", clSetKernelArg(empty, 1, sizeof big_n, &big_n));
    /* Arguments set once, for the runs that do not set them per launch. */
    for (cl_uint a = 0; a < NARGS; a++) {
        int v = 0;
        if (a < 11 && a % 2 == 0)
            TRY("clSetKernelArg", clSetKernelArg(args, a, sizeof small, &small));
        else
            TRY("clSetKernelArg", clSetKernelArg(args, a, sizeof v, &v));
    }
    launches(q, empty, 10, 0, 0, small); /* first launches compile lazily on some drivers */
    launches(q, args, 10, 0, 1, small);

    const int rt = n / 5 > 0 ? n / 5 : 1;
    double round_trip = launches(q, empty, rt, 1, 0, small);
    double b2b = launches(q, empty, n, 0, 0, small);
    double b2b_same = launches(q, args, n, 0, 0, small);
    double b2b_args = launches(q, args, n, 0, 1, small);
    double b2b_p = launches(qp, empty, n, 0, 0, small);
    double b2b_args_p = launches(qp, args, n, 0, 1, small);

    const size_t bytes = (size_t)64 * 3 * 224 * 224 * sizeof(float);
    cl_mem dst = clCreateBuffer(ctx, CL_MEM_READ_ONLY, bytes, NULL, &err);
    TRY("clCreateBuffer (input)", err);
    float *pageable = malloc(bytes);
    if (!pageable)
        die("malloc", -1);
    memset(pageable, 1, bytes);
    double up_pageable = upload(q, dst, pageable, bytes);
    cl_mem pin = clCreateBuffer(ctx, CL_MEM_ALLOC_HOST_PTR, bytes, NULL, &err);
    TRY("clCreateBuffer (pinned)", err);
    void *pinned = clEnqueueMapBuffer(q, pin, CL_TRUE, CL_MAP_WRITE, 0, bytes, 0, NULL, NULL, &err);
    TRY("clEnqueueMapBuffer", err);
    memset(pinned, 1, bytes);
    double up_pinned = upload(q, dst, pinned, bytes);
    TRY("clEnqueueUnmapMemObject", clEnqueueUnmapMemObject(q, pin, pinned, 0, NULL, NULL));
    TRY("clFinish", clFinish(q));
    const int cmdbuf = strstr(ext, "cl_khr_command_buffer") != NULL;

    if (json) {
        printf("{\"device\": \"%s\", \"launches\": %d, \"round_trip_us\": %.2f, "
               "\"back_to_back_us\": %.2f, \"back_to_back_args_set_once_us\": %.2f, "
               "\"back_to_back_args_us\": %.2f, \"back_to_back_profiling_us\": %.2f, "
               "\"back_to_back_args_profiling_us\": %.2f, \"upload_pageable_gbs\": %.2f, "
               "\"upload_pinned_gbs\": %.2f, \"cl_khr_command_buffer\": %s, "
               "\"extensions\": \"%s\"}\n",
               name, n, round_trip, b2b, b2b_same, b2b_args, b2b_p, b2b_args_p, up_pageable,
               up_pinned, cmdbuf ? "true" : "false", ext);
    } else {
        printf("device %s\n", name);
        printf("round trip (launch + clFinish)       %8.2f us\n", round_trip);
        printf("back to back, %d launches           %8.2f us per launch\n", n, b2b);
        printf("  26 arguments set once              %8.2f us per launch\n", b2b_same);
        printf("  26 arguments set every launch      %8.2f us per launch\n", b2b_args);
        printf("  profiling queue                    %8.2f us per launch\n", b2b_p);
        printf("  profiling queue, 26 arguments each %8.2f us per launch\n", b2b_args_p);
        printf("upload 38.5 MB (batch 64, 224x224) from pageable memory %6.2f GB/s\n", up_pageable);
        printf("upload 38.5 MB (batch 64, 224x224) from pinned memory   %6.2f GB/s\n", up_pinned);
        printf("cl_khr_command_buffer: %s\n", cmdbuf ? "yes" : "no");
        printf("extensions: %s\n", ext);
    }
    free(pageable);
    clReleaseMemObject(pin);
    clReleaseMemObject(dst);
    clReleaseMemObject(small);
    clReleaseKernel(empty);
    clReleaseKernel(args);
    clReleaseProgram(prog);
    clReleaseCommandQueue(qp);
    clReleaseCommandQueue(q);
    clReleaseContext(ctx);
    return 0;
}
