/* SPDX-License-Identifier: MIT */
/* pools.c - the kernels every program has (kernels/pool.cl: max pool, BN+ReLU average pool,
 * BN+ReLU global average pool, the classifier) and their launchers. */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "runtime/runtime.h"

/* Work-group sizes (POCL compiles a kernel again for every local size it is launched with):
 * 16 for the pools, whose work-items are output rows; 64 for gap and linear. On GPUs the pools
 * take a work-item per output pixel in groups of DC_GPU_LOCAL (a few warps or wavefronts,
 * 64-256 work-items as every GPU vendor advises), and the classifier a group of DC_LINEAR_WG
 * per output (kernels/pool.cl). */
#define DC_POOL_LOCAL 16 /* maxpool and avgpool: a work-item is a whole output row */
#define DC_LOCAL_SIZE 64
#define DC_GPU_LOCAL 128
#define DC_LINEAR_WG 64 /* as kernels/pool.cl's */

/* A kernel's arguments set from its args, checked, with its 1-D launch's work-items and group
 * size (each kernel always with the same one) for the CPU shape or (gpu) the GPU one.
 * CL_INVALID_VALUE for arguments it cannot run. */
typedef cl_int (*dc_pool_setter)(dc_argset *s, const void *args, int gpu, size_t *items,
                                 size_t *local);
static cl_int dc_set_maxpool(dc_argset *s, const void *args, int gpu, size_t *items, size_t *local);
static cl_int dc_set_avgpool(dc_argset *s, const void *args, int gpu, size_t *items, size_t *local);
static cl_int dc_set_gap(dc_argset *s, const void *args, int gpu, size_t *items, size_t *local);
static cl_int dc_set_linear(dc_argset *s, const void *args, int gpu, size_t *items, size_t *local);

/* One row per op of kernels/pool.cl, in dc_pool_kind order: its kernel and its GPU shape's
 * (the same kernel for gap, in larger groups), both with one argument list. */
static const struct {
    const char *name, *gpu_name;
    size_t field, gpu_field; /* offsetof(dc_kernels, ...) */
    dc_pool_setter set;
} dc_kernel_table[DC_POOL_KINDS] = {
    [DC_POOL_MAX] = {"densecl_maxpool", "densecl_maxpool_px", offsetof(dc_kernels, maxpool),
                     offsetof(dc_kernels, maxpool_px), dc_set_maxpool},
    [DC_POOL_AVG] = {"densecl_bnrelu_avgpool", "densecl_bnrelu_avgpool_px",
                     offsetof(dc_kernels, bnrelu_avgpool), offsetof(dc_kernels, bnrelu_avgpool_px),
                     dc_set_avgpool},
    [DC_POOL_GAP] = {"densecl_bnrelu_gap", "densecl_bnrelu_gap", offsetof(dc_kernels, bnrelu_gap),
                     offsetof(dc_kernels, bnrelu_gap), dc_set_gap},
    [DC_POOL_LINEAR] = {"densecl_linear", "densecl_linear_wg", offsetof(dc_kernels, linear),
                        offsetof(dc_kernels, linear_wg), dc_set_linear},
};

static cl_kernel *dc_kernel_slot(dc_kernels *k, size_t i, int gpu)
{
    return (cl_kernel *)(void *)((char *)k +
                                 (gpu ? dc_kernel_table[i].gpu_field : dc_kernel_table[i].field));
}

densecl_status dc_kernels_create(cl_program prog, dc_kernels *k)
{
    if (!k || !prog)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_kernels_create: NULL program or table");
    memset(k, 0, sizeof *k); /* gpu 0: the caller sets it */
    for (size_t i = 0; i < DC_ARRAY_LEN(dc_kernel_table); i++)
        for (int gpu = 0; gpu < 2; gpu++) {
            densecl_status st;
            if (*dc_kernel_slot(k, i, gpu))
                continue; /* gap's one kernel serves both */
            st = dc_kernel_create(prog, gpu ? dc_kernel_table[i].gpu_name : dc_kernel_table[i].name,
                                  dc_kernel_slot(k, i, gpu));
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
    for (size_t i = 0; i < DC_ARRAY_LEN(dc_kernel_table); i++)
        for (int gpu = 0; gpu < 2; gpu++) {
            cl_kernel *slot = dc_kernel_slot(k, i, gpu);
            if (*slot)
                clReleaseKernel(*slot);
            *slot = NULL;
        }
}

/* ------------------------------------------------------------------------ arguments */

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

static cl_int dc_set_maxpool(dc_argset *s, const void *args, int gpu, size_t *items, size_t *local)
{
    const dc_pool_args *a = args;
    /* pad <= k / 2, as PyTorch requires, so that no window lies wholly in the padding. */
    if (!dc_pool_valid(a) || a->k < 1 || a->stride < 1 || a->pad < 0 || a->pad > a->k / 2 ||
        a->out_h != dc_window_side(a->in_h, a->k, a->stride, a->pad) ||
        a->out_w != dc_window_side(a->in_w, a->k, a->stride, a->pad))
        return CL_INVALID_VALUE;
    dc_pool_common(s, a);
    dc_arg_int(s, a->k);
    dc_arg_int(s, a->stride);
    dc_arg_int(s, a->pad);
    dc_arg_int(s, a->pre.buf ? DC_FLAG_PRE : 0);
    *items = (size_t)a->n * a->c * a->out_h * (gpu ? (size_t)a->out_w : 1u);
    *local = gpu ? DC_GPU_LOCAL : DC_POOL_LOCAL;
    return s->err;
}

static cl_int dc_set_avgpool(dc_argset *s, const void *args, int gpu, size_t *items, size_t *local)
{
    const dc_pool_args *a = args;
    /* Always 2x2, stride 2, no padding, floor mode; a->k/stride/pad are not read. */
    if (!dc_pool_valid(a) || a->out_h != a->in_h / 2 || a->out_w != a->in_w / 2 || a->out_h < 1 ||
        a->out_w < 1)
        return CL_INVALID_VALUE;
    dc_pool_common(s, a);
    dc_arg_int(s, a->pre.buf ? DC_FLAG_PRE : 0);
    *items = (size_t)a->n * a->c * a->out_h * (gpu ? (size_t)a->out_w : 1u);
    *local = gpu ? DC_GPU_LOCAL : DC_POOL_LOCAL;
    return s->err;
}

static cl_int dc_set_gap(dc_argset *s, const void *args, int gpu, size_t *items, size_t *local)
{
    const dc_pool_args *a = args;
    int out_ctot, in_img[3], out_all[2];
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
    dc_arg_mem(s, a->in, NULL);
    dc_arg_mem(s, a->pre, a->in.buf);
    dc_arg_mem(s, a->out, NULL);
    dc_arg_int(s, a->n);
    dc_arg_int(s, a->c);
    dc_arg_int(s, a->in_ctot);
    dc_arg_int(s, a->in_h * a->in_w);
    dc_arg_int(s, out_ctot);
    dc_arg_int(s, a->out_coff);
    dc_arg_int(s, a->pre.buf ? DC_FLAG_PRE : 0);
    *items = (size_t)a->n * a->c;
    *local = gpu ? DC_GPU_LOCAL : DC_LOCAL_SIZE;
    return s->err;
}

static cl_int dc_set_linear(dc_argset *s, const void *args, int gpu, size_t *items, size_t *local)
{
    const dc_linear_args *a = args;
    int in_all[2] = {a->n, a->cin};
    int w_all[2] = {a->cout, a->cin};
    int out_all[2] = {a->n, a->cout};
    if (a->n < 1 || a->cin < 1 || a->cout < 1 || !dc_fits_int(2, in_all) ||
        !dc_fits_int(2, w_all) || !dc_fits_int(2, out_all))
        return CL_INVALID_VALUE;
    dc_arg_mem(s, a->in, NULL);
    dc_arg_mem(s, a->weight, NULL);
    dc_arg_mem(s, a->bias, a->weight.buf);
    dc_arg_mem(s, a->out, NULL);
    dc_arg_int(s, a->n);
    dc_arg_int(s, a->cin);
    dc_arg_int(s, a->cout);
    dc_arg_int(s, a->bias.buf ? DC_FLAG_BIAS : 0);
    /* GPU: exactly one group of DC_LINEAR_WG per output (the launch is not fitted). */
    *items = (size_t)a->n * a->cout * (gpu ? DC_LINEAR_WG : 1u);
    *local = gpu ? DC_LINEAR_WG : DC_LOCAL_SIZE;
    return s->err;
}

/* Whether dev takes groups of `local` work-items: the classifier's GPU shape runs in whole
 * groups of DC_LINEAR_WG, one per output, or not at all (then the CPU shape). Decided from the
 * device alone, so that an op rebound keeps its kernel. */
static int dc_takes_group(cl_device_id dev, size_t local)
{
    size_t wg = 0;
    return clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) ==
               CL_SUCCESS &&
           wg >= local;
}

/* ------------------------------------------------------------------------ launches */

cl_int dc_pool_bind(cl_program prog, cl_device_id dev, dc_pool_kind kind, const void *args, int gpu,
                    dc_bound **bound)
{
    dc_binder x;
    dc_argset s = {NULL, 0, CL_SUCCESS};
    size_t items = 0, local = 1;
    cl_int err;
    if (kind < 0 || kind >= DC_POOL_KINDS || !args)
        return CL_INVALID_VALUE;
    if (gpu && kind == DC_POOL_LINEAR && !dc_takes_group(dev, DC_LINEAR_WG))
        gpu = 0;
    if ((err = dc_bind_begin(&x, bound, prog, dev)) != CL_SUCCESS ||
        (err = dc_bind_kernel(&x, gpu ? dc_kernel_table[kind].gpu_name : dc_kernel_table[kind].name,
                              &s.k)) != CL_SUCCESS)
        return err;
    if ((err = dc_kernel_table[kind].set(&s, args, gpu, &items, &local)) != CL_SUCCESS ||
        (err = gpu && kind == DC_POOL_LINEAR
                   ? dc_bind_exact(&x, s.k, 1, &items, &local)
                   : dc_bind_nd(&x, s.k, 1, &items, &local)) != CL_SUCCESS)
        return err;
    dc_bind_end(&x);
    return CL_SUCCESS;
}

/* One launch on the program's shared kernel (tests, the self-test). */
static cl_int dc_pool_once(cl_command_queue q, const dc_kernels *k, dc_pool_kind kind,
                           const void *args, cl_event *ev)
{
    int gpu = k && k->gpu;
    dc_argset s = {NULL, 0, CL_SUCCESS};
    size_t items = 0, local = 1;
    dc_exec x;
    cl_device_id dev;
    cl_int err;
    if (ev)
        *ev = NULL;
    if (!k || !args)
        return CL_INVALID_KERNEL;
    if (gpu && kind == DC_POOL_LINEAR &&
        (clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL) != CL_SUCCESS ||
         !dc_takes_group(dev, DC_LINEAR_WG)))
        gpu = 0;
    s.k = *dc_kernel_slot((dc_kernels *)k, (size_t)kind, gpu);
    if (!s.k)
        return CL_INVALID_KERNEL;
    if ((err = dc_kernel_table[kind].set(&s, args, gpu, &items, &local)) != CL_SUCCESS)
        return err;
    dc_exec_init(&x, q, ev != NULL);
    err = dc_launch_nd(&x, s.k, 1, &items, &local);
    if (err == CL_SUCCESS && ev && x.last && clRetainEvent(x.last) == CL_SUCCESS)
        *ev = x.last;
    dc_exec_release(&x);
    return err;
}

cl_int dc_enqueue_maxpool(cl_command_queue q, const dc_kernels *k, const dc_pool_args *a,
                          cl_event *ev)
{
    return dc_pool_once(q, k, DC_POOL_MAX, a, ev);
}

cl_int dc_enqueue_bnrelu_avgpool(cl_command_queue q, const dc_kernels *k, const dc_pool_args *a,
                                 cl_event *ev)
{
    return dc_pool_once(q, k, DC_POOL_AVG, a, ev);
}

cl_int dc_enqueue_bnrelu_gap(cl_command_queue q, const dc_kernels *k, const dc_pool_args *a,
                             cl_event *ev)
{
    return dc_pool_once(q, k, DC_POOL_GAP, a, ev);
}

cl_int dc_enqueue_linear(cl_command_queue q, const dc_kernels *k, const dc_linear_args *a,
                         cl_event *ev)
{
    return dc_pool_once(q, k, DC_POOL_LINEAR, a, ev);
}
