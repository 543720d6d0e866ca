/* SPDX-License-Identifier: MIT */
/* ops.c - the launch helper, kernel argument setting, and one launcher per kernel of
 * kernels/pool.cl (the ops that are not convs; those are the families': family.h). */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"

/* Work-group sizes (POCL compiles a kernel again for every local size it is launched with):
 * 16 for the pools, whose work-items are output rows; 64 for gap and linear. On GPUs (k->gpu)
 * the pools take a work-item per output pixel in groups of DC_GPU_LOCAL (a few warps or
 * wavefronts, 64-256 work-items as every GPU vendor advises), and the classifier a group of
 * DC_LINEAR_WG per output (kernels/pool.cl). */
#define DC_POOL_LOCAL 16 /* maxpool and avgpool: a work-item is a whole output row */
#define DC_LOCAL_SIZE 64
#define DC_GPU_LOCAL 128
#define DC_LINEAR_WG 64 /* as kernels/pool.cl's */

/* One row per kernel of kernels/pool.cl, in dc_kernels order. */
static const struct {
    const char *name;
    size_t field; /* offsetof(dc_kernels, ...) */
} dc_kernel_table[] = {
    {"densecl_maxpool", offsetof(dc_kernels, maxpool)},
    {"densecl_bnrelu_avgpool", offsetof(dc_kernels, bnrelu_avgpool)},
    {"densecl_bnrelu_gap", offsetof(dc_kernels, bnrelu_gap)},
    {"densecl_linear", offsetof(dc_kernels, linear)},
    {"densecl_maxpool_px", offsetof(dc_kernels, maxpool_px)},
    {"densecl_bnrelu_avgpool_px", offsetof(dc_kernels, bnrelu_avgpool_px)},
    {"densecl_linear_wg", offsetof(dc_kernels, linear_wg)},
};

static cl_kernel *dc_kernel_slot(dc_kernels *k, size_t i)
{
    return (cl_kernel *)(void *)((char *)k + dc_kernel_table[i].field);
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

densecl_status dc_kernels_create(cl_program prog, dc_kernels *k)
{
    if (!k || !prog)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_kernels_create: NULL program or table");
    memset(k, 0, sizeof *k); /* gpu 0: the caller sets it */
    for (size_t i = 0; i < DC_ARRAY_LEN(dc_kernel_table); i++) {
        densecl_status st = dc_kernel_create(prog, dc_kernel_table[i].name, dc_kernel_slot(k, i));
        if (st != DENSECL_OK) {
            dc_kernels_release(k);
            return st;
        }
    }
    return DENSECL_OK;
}

void dc_kernels_release(dc_kernels *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < DC_ARRAY_LEN(dc_kernel_table); i++) {
        cl_kernel *slot = dc_kernel_slot(k, i);
        if (*slot)
            clReleaseKernel(*slot);
        *slot = NULL;
    }
}

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

/* The pools' 1-D launches: `items` work-items in groups of `local`, each kernel always with the
 * same one. */
static cl_int dc_launch(cl_command_queue q, cl_kernel k, size_t items, size_t local, cl_event *ev)
{
    return dc_launch_nd(q, k, 1, &items, &local, ev);
}

int dc_window_side(int in, int k, int stride, int pad)
{
    if (in + 2 * pad < k)
        return -1;
    return (in + 2 * pad - k) / stride + 1;
}

/* ------------------------------------------------------------------------ launchers */

/* Checks shared by the pools: sizes, the channel prefix and the channel-offset write. */
static int dc_pool_valid(const dc_pool_args *a)
{
    int in_img[3] = {a->in_ctot, a->in_h, a->in_w};
    int out_all[4] = {a->n, a->out_ctot, a->out_h, a->out_w};
    return a->n >= 1 && a->c >= 1 && a->c <= a->in_ctot && a->in_h >= 1 && a->in_w >= 1 &&
           a->out_coff >= 0 && a->out_coff <= a->out_ctot - a->c && dc_fits_int(3, in_img) &&
           dc_fits_int(4, out_all);
}

/* The pools' common arguments, in kernels.cl order: buffers, then n, c, in_ctot, in_h, in_w,
 * out_ctot, out_coff, out_h, out_w. */
static void dc_pool_common(dc_argset *s, const dc_pool_args *a)
{
    dc_arg_mem(s, a->in, NULL);
    dc_arg_mem(s, a->pre, a->in.buf);
    dc_arg_mem(s, a->out, NULL);
    dc_arg_int(s, a->n);
    dc_arg_int(s, a->c);
    dc_arg_int(s, a->in_ctot);
    dc_arg_int(s, a->in_h);
    dc_arg_int(s, a->in_w);
    dc_arg_int(s, a->out_ctot);
    dc_arg_int(s, a->out_coff);
    dc_arg_int(s, a->out_h);
    dc_arg_int(s, a->out_w);
}

cl_int dc_enqueue_maxpool(cl_command_queue q, const dc_kernels *k, const dc_pool_args *a,
                          cl_event *ev)
{
    dc_argset s = {k && a ? (k->gpu ? k->maxpool_px : k->maxpool) : NULL, 0, CL_SUCCESS};
    if (!s.k)
        return CL_INVALID_KERNEL;
    /* pad <= k / 2, as PyTorch requires, so that no window lies wholly in the padding. */
    if (!dc_pool_valid(a) || a->k < 1 || a->stride < 1 || a->pad < 0 || a->pad > a->k / 2 ||
        a->out_h != dc_window_side(a->in_h, a->k, a->stride, a->pad) ||
        a->out_w != dc_window_side(a->in_w, a->k, a->stride, a->pad))
        return CL_INVALID_VALUE;
    dc_pool_common(&s, a);
    dc_arg_int(&s, a->k);
    dc_arg_int(&s, a->stride);
    dc_arg_int(&s, a->pad);
    dc_arg_int(&s, a->pre.buf ? DC_FLAG_PRE : 0);
    if (s.err != CL_SUCCESS)
        return s.err;
    if (k->gpu)
        return dc_launch(q, s.k, (size_t)a->n * a->c * a->out_h * a->out_w, DC_GPU_LOCAL, ev);
    return dc_launch(q, s.k, (size_t)a->n * a->c * a->out_h, DC_POOL_LOCAL, ev);
}

cl_int dc_enqueue_bnrelu_avgpool(cl_command_queue q, const dc_kernels *k, const dc_pool_args *a,
                                 cl_event *ev)
{
    dc_argset s = {k && a ? (k->gpu ? k->bnrelu_avgpool_px : k->bnrelu_avgpool) : NULL, 0,
                   CL_SUCCESS};
    if (!s.k)
        return CL_INVALID_KERNEL;
    /* Always 2x2, stride 2, no padding, floor mode; a->k/stride/pad are not read. */
    if (!dc_pool_valid(a) || a->out_h != a->in_h / 2 || a->out_w != a->in_w / 2 || a->out_h < 1 ||
        a->out_w < 1)
        return CL_INVALID_VALUE;
    dc_pool_common(&s, a);
    dc_arg_int(&s, a->pre.buf ? DC_FLAG_PRE : 0);
    if (s.err != CL_SUCCESS)
        return s.err;
    if (k->gpu)
        return dc_launch(q, s.k, (size_t)a->n * a->c * a->out_h * a->out_w, DC_GPU_LOCAL, ev);
    return dc_launch(q, s.k, (size_t)a->n * a->c * a->out_h, DC_POOL_LOCAL, ev);
}

cl_int dc_enqueue_bnrelu_gap(cl_command_queue q, const dc_kernels *k, const dc_pool_args *a,
                             cl_event *ev)
{
    dc_argset s = {k && a ? k->bnrelu_gap : NULL, 0, CL_SUCCESS};
    int out_ctot, in_img[3], out_all[2];
    if (!s.k)
        return CL_INVALID_KERNEL;
    /* out is [n, c] unless the caller gives a wider row: [n, out_ctot] written at out_coff. */
    out_ctot = a->out_ctot > 0 ? a->out_ctot : a->c;
    in_img[0] = a->in_ctot;
    in_img[1] = a->in_h;
    in_img[2] = a->in_w;
    out_all[0] = a->n;
    out_all[1] = out_ctot;
    if (a->n < 1 || a->c < 1 || a->c > a->in_ctot || a->in_h < 1 || a->in_w < 1 ||
        a->out_coff < 0 || a->out_coff > out_ctot - a->c || !dc_fits_int(3, in_img) ||
        !dc_fits_int(2, out_all))
        return CL_INVALID_VALUE;
    dc_arg_mem(&s, a->in, NULL);
    dc_arg_mem(&s, a->pre, a->in.buf);
    dc_arg_mem(&s, a->out, NULL);
    dc_arg_int(&s, a->n);
    dc_arg_int(&s, a->c);
    dc_arg_int(&s, a->in_ctot);
    dc_arg_int(&s, a->in_h * a->in_w);
    dc_arg_int(&s, out_ctot);
    dc_arg_int(&s, a->out_coff);
    dc_arg_int(&s, a->pre.buf ? DC_FLAG_PRE : 0);
    if (s.err != CL_SUCCESS)
        return s.err;
    return dc_launch(q, s.k, (size_t)a->n * a->c, k->gpu ? DC_GPU_LOCAL : DC_LOCAL_SIZE, ev);
}

/* Whether the classifier's work-group per output fits kernel k on q's device (whole groups of
 * DC_LINEAR_WG, or the launch would not be one group per output). */
static int dc_linear_wg_fits(cl_command_queue q, cl_kernel k)
{
    cl_device_id dev;
    size_t wg = 0;
    return k && clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL) == CL_SUCCESS &&
           clGetKernelWorkGroupInfo(k, dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) ==
               CL_SUCCESS &&
           wg >= DC_LINEAR_WG;
}

cl_int dc_enqueue_linear(cl_command_queue q, const dc_kernels *k, const dc_linear_args *a,
                         cl_event *ev)
{
    const int wg = k && a && k->gpu && dc_linear_wg_fits(q, k->linear_wg);
    dc_argset s = {k && a ? (wg ? k->linear_wg : k->linear) : NULL, 0, CL_SUCCESS};
    if (!s.k)
        return CL_INVALID_KERNEL;
    {
        int in_all[2] = {a->n, a->cin};
        int w_all[2] = {a->cout, a->cin};
        int out_all[2] = {a->n, a->cout};
        if (a->n < 1 || a->cin < 1 || a->cout < 1 || !dc_fits_int(2, in_all) ||
            !dc_fits_int(2, w_all) || !dc_fits_int(2, out_all))
            return CL_INVALID_VALUE;
    }
    dc_arg_mem(&s, a->in, NULL);
    dc_arg_mem(&s, a->weight, NULL);
    dc_arg_mem(&s, a->bias, a->weight.buf);
    dc_arg_mem(&s, a->out, NULL);
    dc_arg_int(&s, a->n);
    dc_arg_int(&s, a->cin);
    dc_arg_int(&s, a->cout);
    dc_arg_int(&s, a->bias.buf ? DC_FLAG_BIAS : 0);
    if (s.err != CL_SUCCESS)
        return s.err;
    if (wg)
        return dc_launch(q, s.k, (size_t)a->n * a->cout * DC_LINEAR_WG, DC_LINEAR_WG, ev);
    return dc_launch(q, s.k, (size_t)a->n * a->cout, DC_LOCAL_SIZE, ev);
}
