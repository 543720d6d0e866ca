/* SPDX-License-Identifier: MIT */
/* launch.c - kernel creation by name, argument setting, and the launch helper every kernel
 * goes through (work sizes fitted to the kernel's limits). */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
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

cl_int dc_launch_fit(cl_device_id dev, cl_kernel k, int dims, const size_t *items,
                     const size_t *local, dc_launch *l)
{
    size_t max_wg = 0, prod = 1;
    cl_int err;
    if (dims < 1 || dims > 3 || !items)
        return CL_INVALID_WORK_DIMENSION;
    err = clGetKernelWorkGroupInfo(k, dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof max_wg, &max_wg, NULL);
    if (err != CL_SUCCESS)
        return err;
    if (max_wg == 0)
        max_wg = 1;
    l->k = k;
    l->dims = (cl_uint)dims;
    l->has_local = local != NULL;
    for (int d = 0; d < dims; d++) {
        l->local[d] = local && local[d] > 0 ? local[d] : 1;
        prod *= l->local[d];
    }
    /* Within the kernel's limit: the last dimension gives way first (a 1-D local size larger
     * than the limit becomes the limit). */
    for (int d = dims - 1; local && prod > max_wg && d >= 0; d--) {
        size_t rest = prod / l->local[d];
        l->local[d] = max_wg / rest > 0 ? max_wg / rest : 1;
        prod = rest * l->local[d];
    }
    for (int d = 0; d < dims; d++) {
        /* The kernels index in int; the rounded-up global size must fit too. */
        if (items[d] == 0 || items[d] > (size_t)INT_MAX - l->local[d])
            return CL_INVALID_GLOBAL_WORK_SIZE;
        l->global[d] = (items[d] + l->local[d] - 1) / l->local[d] * l->local[d];
    }
    return CL_SUCCESS;
}

/* ------------------------------------------------------------------------ runs */

void dc_exec_init(dc_exec *x, cl_command_queue q, int keep_events)
{
    memset(x, 0, sizeof *x);
    x->q = q;
    x->keep_events = keep_events;
}

void dc_exec_op(dc_exec *x)
{
    if (x->first)
        clReleaseEvent(x->first);
    if (x->last)
        clReleaseEvent(x->last);
    x->first = x->last = NULL;
    x->launches = 0;
}

void dc_exec_release(dc_exec *x)
{
    dc_exec_op(x);
}

void dc_exec_event(dc_exec *x, cl_event ev)
{
    x->launches++;
    if (!ev)
        return;
    if (!x->keep_events) {
        clReleaseEvent(ev);
        return;
    }
    if (!x->first && clRetainEvent(ev) == CL_SUCCESS)
        x->first = ev;
    if (x->last)
        clReleaseEvent(x->last);
    x->last = ev;
}

cl_int dc_exec_launch(dc_exec *x, const dc_launch *l)
{
    cl_event ev = NULL;
    cl_int err =
        clEnqueueNDRangeKernel(x->q, l->k, l->dims, NULL, l->global, l->has_local ? l->local : NULL,
                               0, NULL, x->keep_events ? &ev : NULL);
    if (err == CL_SUCCESS)
        dc_exec_event(x, ev);
    return err;
}

cl_int dc_launch_nd(dc_exec *x, cl_kernel k, int dims, const size_t *items, const size_t *local)
{
    cl_device_id dev;
    dc_launch l;
    cl_int err = clGetCommandQueueInfo(x->q, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL);
    if (err == CL_SUCCESS)
        err = dc_launch_fit(dev, k, dims, items, local, &l);
    return err == CL_SUCCESS ? dc_exec_launch(x, &l) : err;
}

/* ------------------------------------------------------------------------ bound ops */

cl_int dc_bound_launch(dc_exec *x, const dc_bound *b)
{
    for (int i = 0; i < b->n; i++) {
        cl_int err = dc_exec_launch(x, &b->l[i]);
        if (err != CL_SUCCESS)
            return err;
    }
    return CL_SUCCESS;
}

void dc_bound_free(dc_bound *b)
{
    if (!b)
        return;
    for (int i = 0; i < DC_BOUND_MAX; i++)
        if (b->l[i].k)
            clReleaseKernel(b->l[i].k);
    free(b);
}

cl_int dc_bind_begin(dc_binder *x, dc_bound **b, cl_program prog, cl_device_id dev)
{
    if (!*b && !(*b = calloc(1, sizeof **b)))
        return CL_OUT_OF_HOST_MEMORY;
    x->b = *b;
    x->prog = prog;
    x->dev = dev;
    x->i = 0;
    return CL_SUCCESS;
}

cl_int dc_bind_kernel(dc_binder *x, const char *name, cl_kernel *k)
{
    dc_launch *l;
    if (x->i >= DC_BOUND_MAX)
        return CL_INVALID_OPERATION;
    l = &x->b->l[x->i];
    if (!l->k) {
        cl_int err = CL_SUCCESS;
        l->k = clCreateKernel(x->prog, name, &err);
        if (err != CL_SUCCESS) {
            l->k = NULL;
            dc_error(dc_cl_status(err), "clCreateKernel(%s) failed: %s", name,
                     dc_cl_error_name(err));
            return err;
        }
    }
    *k = l->k;
    return CL_SUCCESS;
}

cl_int dc_bind_nd(dc_binder *x, cl_kernel k, int dims, const size_t *items, const size_t *local)
{
    cl_int err;
    if (x->i >= DC_BOUND_MAX)
        return CL_INVALID_OPERATION;
    err = dc_launch_fit(x->dev, k, dims, items, local, &x->b->l[x->i]);
    if (err == CL_SUCCESS)
        x->i++;
    return err;
}

cl_int dc_bind_exact(dc_binder *x, cl_kernel k, int dims, const size_t *global, const size_t *local)
{
    dc_launch *l;
    if (x->i >= DC_BOUND_MAX)
        return CL_INVALID_OPERATION;
    if (dims < 1 || dims > 3)
        return CL_INVALID_WORK_DIMENSION;
    l = &x->b->l[x->i++];
    l->k = k;
    l->dims = (cl_uint)dims;
    l->has_local = local != NULL;
    for (int d = 0; d < dims; d++) {
        l->global[d] = global[d];
        l->local[d] = local ? local[d] : 1;
    }
    return CL_SUCCESS;
}

void dc_bind_end(dc_binder *x)
{
    x->b->n = x->i;
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

densecl_status dc_counters_create(cl_program prog, size_t count, cl_mem *out)
{
    cl_context ctx = NULL;
    cl_int err = clGetProgramInfo(prog, CL_PROGRAM_CONTEXT, sizeof ctx, &ctx, NULL);
    cl_int *zero = calloc(count ? count : 1, sizeof *zero);
    *out = NULL;
    if (!zero)
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
    if (err == CL_SUCCESS)
        *out = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                              (count ? count : 1) * sizeof *zero, zero, &err);
    free(zero);
    if (err == CL_SUCCESS)
        return DENSECL_OK;
    *out = NULL;
    return dc_error(dc_cl_status(err), "the conv kernels' tile counters: %s",
                    dc_cl_error_name(err));
}
