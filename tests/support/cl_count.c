/* SPDX-License-Identifier: MIT */
/*
 * cl_count.c - an LD_PRELOAD library that counts OpenCL calls, for tests and developers:
 *
 *   LD_PRELOAD=build/tests/libdc_cl_count.so DC_CL_COUNT_OUT=counts.txt densecl bench ...
 *
 * Each counted function forwards to the next definition (the ICD loader's) and bumps a counter;
 * at exit the counts are written to $DC_CL_COUNT_OUT (else stderr), one "name count" line each.
 * Counts of two runs that differ only in their number of forwards give the calls per forward
 * (tests/cl_count_check.sh). Thread-safe (atomic counters). Knows nothing of densecl.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

enum {
    C_NDRANGE,
    C_SETARG,
    C_WRITE,
    C_READ,
    C_MARKER,
    C_BARRIER,
    C_FLUSH,
    C_FINISH,
    C_WAIT,
    C_CREATE_KERNEL,
    C_PROFILING_INFO,
    C_COUNT
};
static const char *const names[C_COUNT] = {
    "clEnqueueNDRangeKernel",
    "clSetKernelArg",
    "clEnqueueWriteBuffer",
    "clEnqueueReadBuffer",
    "clEnqueueMarkerWithWaitList",
    "clEnqueueBarrierWithWaitList",
    "clFlush",
    "clFinish",
    "clWaitForEvents",
    "clCreateKernel",
    "clGetEventProfilingInfo",
};
static atomic_ulong counts[C_COUNT];

/* The next definition of name (the ICD loader's); exits when there is none, as a call through
 * a NULL pointer would crash less legibly. */
static void *next(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "cl_count: no %s after this library\n", name);
        exit(127);
    }
    return f;
}

#define FORWARD(idx, type, name)                                                                   \
    static type fn_ = NULL;                                                                        \
    if (!fn_)                                                                                      \
        fn_ = (type)next(name);                                                                    \
    atomic_fetch_add(&counts[idx], 1)

typedef cl_int (*ndrange_fn)(cl_command_queue, cl_kernel, cl_uint, const size_t *, const size_t *,
                             const size_t *, cl_uint, const cl_event *, cl_event *);
cl_int clEnqueueNDRangeKernel(cl_command_queue q, cl_kernel k, cl_uint dims, const size_t *off,
                              const size_t *global, const size_t *local, cl_uint nw,
                              const cl_event *wl, cl_event *ev)
{
    FORWARD(C_NDRANGE, ndrange_fn, "clEnqueueNDRangeKernel");
    return fn_(q, k, dims, off, global, local, nw, wl, ev);
}

typedef cl_int (*setarg_fn)(cl_kernel, cl_uint, size_t, const void *);
cl_int clSetKernelArg(cl_kernel k, cl_uint i, size_t size, const void *value)
{
    FORWARD(C_SETARG, setarg_fn, "clSetKernelArg");
    return fn_(k, i, size, value);
}

typedef cl_int (*write_fn)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, const void *, cl_uint,
                           const cl_event *, cl_event *);
cl_int clEnqueueWriteBuffer(cl_command_queue q, cl_mem b, cl_bool blocking, size_t off, size_t size,
                            const void *p, cl_uint nw, const cl_event *wl, cl_event *ev)
{
    FORWARD(C_WRITE, write_fn, "clEnqueueWriteBuffer");
    return fn_(q, b, blocking, off, size, p, nw, wl, ev);
}

typedef cl_int (*read_fn)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, void *, cl_uint,
                          const cl_event *, cl_event *);
cl_int clEnqueueReadBuffer(cl_command_queue q, cl_mem b, cl_bool blocking, size_t off, size_t size,
                           void *p, cl_uint nw, const cl_event *wl, cl_event *ev)
{
    FORWARD(C_READ, read_fn, "clEnqueueReadBuffer");
    return fn_(q, b, blocking, off, size, p, nw, wl, ev);
}

typedef cl_int (*list_fn)(cl_command_queue, cl_uint, const cl_event *, cl_event *);
cl_int clEnqueueMarkerWithWaitList(cl_command_queue q, cl_uint nw, const cl_event *wl, cl_event *ev)
{
    FORWARD(C_MARKER, list_fn, "clEnqueueMarkerWithWaitList");
    return fn_(q, nw, wl, ev);
}

cl_int clEnqueueBarrierWithWaitList(cl_command_queue q, cl_uint nw, const cl_event *wl,
                                    cl_event *ev)
{
    FORWARD(C_BARRIER, list_fn, "clEnqueueBarrierWithWaitList");
    return fn_(q, nw, wl, ev);
}

typedef cl_int (*queue_fn)(cl_command_queue);
cl_int clFlush(cl_command_queue q)
{
    FORWARD(C_FLUSH, queue_fn, "clFlush");
    return fn_(q);
}

cl_int clFinish(cl_command_queue q)
{
    FORWARD(C_FINISH, queue_fn, "clFinish");
    return fn_(q);
}

typedef cl_int (*wait_fn)(cl_uint, const cl_event *);
cl_int clWaitForEvents(cl_uint n, const cl_event *evs)
{
    FORWARD(C_WAIT, wait_fn, "clWaitForEvents");
    return fn_(n, evs);
}

typedef cl_kernel (*create_fn)(cl_program, const char *, cl_int *);
cl_kernel clCreateKernel(cl_program p, const char *name, cl_int *err)
{
    FORWARD(C_CREATE_KERNEL, create_fn, "clCreateKernel");
    return fn_(p, name, err);
}

typedef cl_int (*prof_fn)(cl_event, cl_profiling_info, size_t, void *, size_t *);
cl_int clGetEventProfilingInfo(cl_event e, cl_profiling_info what, size_t size, void *value,
                               size_t *ret)
{
    FORWARD(C_PROFILING_INFO, prof_fn, "clGetEventProfilingInfo");
    return fn_(e, what, size, value, ret);
}

__attribute__((destructor)) static void cl_count_report(void)
{
    const char *path = getenv("DC_CL_COUNT_OUT");
    FILE *f = path && *path ? fopen(path, "w") : NULL;
    FILE *out = f ? f : stderr;
    for (int i = 0; i < C_COUNT; i++)
        fprintf(out, "%s %lu\n", names[i], (unsigned long)atomic_load(&counts[i]));
    if (f)
        fclose(f);
}
