/* SPDX-License-Identifier: MIT */
/* launch.c - kernel creation by name, argument setting, and the launch helper every kernel
 * goes through (work sizes fitted to the kernel's limits). */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "cl/cl.h"

/* ------------------------------------------------------------------------ argument setting */

void dc_arg(dc_argset *a, size_t size, const void *value)
{
    if (a->err == CL_SUCCESS)
        a->err = clSetKernelArg(a->k, a->index, size, value);
    a->index++;
}

void dc_arg_int(dc_argset *a, int v)
{
    dc_arg(a, sizeof v, &v);
}

void dc_arg_mem(dc_argset *a, dc_mem m, cl_mem fallback)
{
    cl_mem buf = m.buf ? m.buf : fallback;
    if (a->err == CL_SUCCESS && (!buf || m.off > INT_MAX))
        a->err = CL_INVALID_ARG_VALUE;
    dc_arg(a, sizeof buf, &buf);
    dc_arg_int(a, m.buf ? (int)m.off : 0);
}

/* ------------------------------------------------------------------------ work sizes */

int dc_fits_int(int count, const int *v)
{
    size_t p = 1;
    for (int i = 0; i < count; i++) {
        if (v[i] < 0 || !dc_mul_size(p, (size_t)v[i], &p) || p > INT_MAX)
            return 0;
    }
    return 1;
}

cl_int dc_launch_nd(cl_command_queue q, cl_kernel k, int dims, const size_t *items,
                    const size_t *local, cl_event *ev)
{
    cl_device_id dev;
    size_t max_wg = 0, global[3], loc[3], prod = 1;
    cl_int err;
    if (dims < 1 || dims > 3 || !items)
        return CL_INVALID_WORK_DIMENSION;
    err = clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL);
    if (err == CL_SUCCESS)
        err = clGetKernelWorkGroupInfo(k, dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof max_wg, &max_wg,
                                       NULL);
    if (err != CL_SUCCESS)
        return err;
    if (max_wg == 0)
        max_wg = 1;
    for (int d = 0; d < dims; d++) {
        loc[d] = local && local[d] > 0 ? local[d] : 1;
        prod *= loc[d];
    }
    /* Within the kernel's limit: the last dimension gives way first (a 1-D local size larger
     * than the limit becomes the limit). */
    for (int d = dims - 1; local && prod > max_wg && d >= 0; d--) {
        size_t rest = prod / loc[d];
        loc[d] = max_wg / rest > 0 ? max_wg / rest : 1;
        prod = rest * loc[d];
    }
    for (int d = 0; d < dims; d++) {
        /* The kernels index in int; the rounded-up global size must fit too. */
        if (items[d] == 0 || items[d] > (size_t)INT_MAX - loc[d])
            return CL_INVALID_GLOBAL_WORK_SIZE;
        global[d] = (items[d] + loc[d] - 1) / loc[d] * loc[d];
    }
    return clEnqueueNDRangeKernel(q, k, (cl_uint)dims, NULL, global, local ? loc : NULL, 0, NULL,
                                  ev);
}


densecl_status dc_kernel_create(cl_program prog, const char *name, cl_kernel *out)
{
    cl_int err = CL_SUCCESS;
    *out = clCreateKernel(prog, name, &err);
    if (err == CL_SUCCESS)
        return DENSECL_OK;
    *out = NULL;
    return dc_error(dc_cl_status(err), "clCreateKernel(%s) failed: %s", name,
                    dc_cl_error_name(err));
}
