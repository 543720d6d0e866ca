/* ops.c - one launcher per kernel of kernels.cl: argument checks and setting, work sizes. */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"

/* Output channels per block of packed conv weights; kernels.cl's CONV_PACK. */
#define DC_CONV_PACK 16
/* Work-group sizes, one per kernel (POCL compiles a kernel again for every local size it is
 * launched with, seconds for a conv): small for the convs, whose work-items are whole register
 * tiles, so that a 7x7 layer still makes several groups per core (POCL hands groups to its
 * threads, which also evens out a thread that the OS preempts); 16 for the pools, whose
 * work-items are output rows; 64 for gap and linear. */
#define DC_CONV_LOCAL 8
/* The most pixels and channels per tile of densecl_conv7x7s2, whatever the tiles say;
 * kernels.cl's DC_TPX7 and DC_CH7. */
#define DC_CONV_TPX7 4
#define DC_CONV_TCO7 16
#define DC_POOL_LOCAL 16 /* maxpool and avgpool: a work-item is a whole output row */
#define DC_LOCAL_SIZE 64

/* Flag bits of the kernels' last argument; kernels.cl's DC_HAS_BIAS, DC_HAS_PRE, DC_RELU. */
#define DC_FLAG_BIAS 1
#define DC_FLAG_PRE 2
#define DC_FLAG_RELU 4

/* One row per kernel of kernels.cl, in dc_kernels order. */
static const struct {
    const char *name;
    size_t field;  /* offsetof(dc_kernels, ...) */
    unsigned conv; /* its DC_CONV_* bit: a program may lack it; 0: every program has it */
} dc_kernel_table[] = {
    {"densecl_conv2d", offsetof(dc_kernels, conv2d), DC_CONV_ANY},
    {"densecl_conv1x1", offsetof(dc_kernels, conv1x1), DC_CONV_1X1},
    {"densecl_conv3x3", offsetof(dc_kernels, conv3x3), DC_CONV_3X3},
    {"densecl_conv3x3_pre", offsetof(dc_kernels, conv3x3_pre), DC_CONV_3X3_PRE},
    {"densecl_conv7x7s2", offsetof(dc_kernels, conv7x7s2), DC_CONV_7X7S2},
    {"densecl_maxpool", offsetof(dc_kernels, maxpool), 0},
    {"densecl_bnrelu_avgpool", offsetof(dc_kernels, bnrelu_avgpool), 0},
    {"densecl_bnrelu_gap", offsetof(dc_kernels, bnrelu_gap), 0},
    {"densecl_linear", offsetof(dc_kernels, linear), 0},
};

unsigned dc_conv_kind(int k, int stride, int pad, int pre)
{
    if (k == 1 && stride == 1 && pad == 0)
        return DC_CONV_1X1;
    if (k == 3 && stride == 1)
        return pre ? DC_CONV_3X3_PRE : DC_CONV_3X3;
    if (k == 7 && stride == 2 && !pre)
        return DC_CONV_7X7S2;
    return DC_CONV_ANY;
}

static cl_kernel *dc_kernel_slot(dc_kernels *k, size_t i)
{
    return (cl_kernel *)(void *)((char *)k + dc_kernel_table[i].field);
}

/* The conv kernel of a DC_CONV_* kind; NULL when the program was built without it. */
static cl_kernel dc_conv_kernel(const dc_kernels *k, unsigned kind)
{
    for (size_t i = 0; i < DC_ARRAY_LEN(dc_kernel_table); i++)
        if (dc_kernel_table[i].conv == kind)
            return *(const cl_kernel *)(const void *)((const char *)k +
                                                      dc_kernel_table[i].field);
    return NULL;
}

densecl_status dc_kernels_create(cl_program prog, unsigned convs, dc_kernels *k)
{
    densecl_status st = DENSECL_OK;
    if (!k || !prog)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_kernels_create: NULL program or table");
    memset(k, 0, sizeof *k);
    dc_tiles_generic(&k->tiles); /* kernels.cl's defaults; the engine sets what it built with */
    for (size_t i = 0; i < DC_ARRAY_LEN(dc_kernel_table); i++) {
        cl_int err = CL_SUCCESS;
        *dc_kernel_slot(k, i) = clCreateKernel(prog, dc_kernel_table[i].name, &err);
        if (err == CL_INVALID_KERNEL_NAME && dc_kernel_table[i].conv &&
            !(dc_kernel_table[i].conv & convs)) {
            *dc_kernel_slot(k, i) = NULL; /* built without it (CONV_KERNELS), not needed */
            continue;
        }
        if (err != CL_SUCCESS) {
            *dc_kernel_slot(k, i) = NULL;
            st = dc_error(dc_cl_status(err), "clCreateKernel(%s) failed: %s (%s:%d)",
                          dc_kernel_table[i].name, dc_cl_error_name(err), __FILE__, __LINE__);
            goto fail;
        }
    }
    return DENSECL_OK;
fail:
    dc_kernels_release(k);
    return st;
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

size_t dc_conv_weight_pack(const float *w, int cout, int cin, int k, float *out)
{
    size_t blocks, taps, len;
    if (cout <= 0 || cin <= 0 || k <= 0)
        return 0;
    blocks = ((size_t)cout + DC_CONV_PACK - 1) / DC_CONV_PACK;
    if (!dc_mul_size((size_t)cin, (size_t)k * (size_t)k, &taps) ||
        !dc_mul_size(blocks, taps, &len) || !dc_mul_size(len, DC_CONV_PACK, &len))
        return 0;
    if (!out)
        return len;
    /* [cout, cin*k*k] -> [blocks, cin*k*k, 16]: a work-item's channel tile reads its weights for
     * one tap as one contiguous vector; channels past cout are zero. */
    for (size_t b = 0; b < blocks; b++) {
        for (size_t r = 0; r < taps; r++) {
            float *dst = out + (b * taps + r) * DC_CONV_PACK;
            for (size_t j = 0; j < DC_CONV_PACK; j++) {
                size_t co = b * DC_CONV_PACK + j;
                dst[j] = co < (size_t)cout ? w[co * taps + r] : 0.0f;
            }
        }
    }
    return len;
}

/* ------------------------------------------------------------------------ argument setting */

/* Sets kernel arguments in order; the first failing clSetKernelArg is kept in err and the rest
 * are skipped, so a launcher checks every return with one test at the end. */
typedef struct dc_argset {
    cl_kernel k;
    cl_uint index;
    cl_int err;
} dc_argset;

static void dc_arg(dc_argset *a, size_t size, const void *value)
{
    if (a->err == CL_SUCCESS)
        a->err = clSetKernelArg(a->k, a->index, size, value);
    a->index++;
}

static void dc_arg_int(dc_argset *a, int v)
{
    dc_arg(a, sizeof v, &v);
}

/* A (buffer, int offset) pair. An absent buffer (m.buf == NULL) binds `fallback` at offset 0 so
 * that no NULL cl_mem is ever set; the kernel does not read it (its flag is clear). */
static void dc_arg_mem(dc_argset *a, dc_mem m, cl_mem fallback)
{
    cl_mem buf = m.buf ? m.buf : fallback;
    if (a->err == CL_SUCCESS && (!buf || m.off > INT_MAX))
        a->err = CL_INVALID_ARG_VALUE;
    dc_arg(a, sizeof buf, &buf);
    dc_arg_int(a, m.buf ? (int)m.off : 0);
}

/* ------------------------------------------------------------------------ work sizes */

/* 1 if the product of the given non-negative ints fits an int (the kernels' index math). */
static int dc_fits_int(int count, const int *v)
{
    size_t p = 1;
    for (int i = 0; i < count; i++) {
        if (v[i] < 0 || !dc_mul_size(p, (size_t)v[i], &p) || p > INT_MAX)
            return 0;
    }
    return 1;
}

/* Enqueues a 1-D launch of `items` work-items in groups of `local` (clamped to the kernel's
 * limit); the global size is rounded up to it (the kernels guard their index). Each kernel is
 * always launched with one group size: POCL compiles a kernel anew for each size it sees. */
static cl_int dc_launch(cl_command_queue q, cl_kernel k, size_t items, size_t local, cl_event *ev)
{
    cl_device_id dev;
    size_t max_wg = 0, global;
    cl_int err;
    /* The kernels index in int; the rounded-up global size must fit too. */
    if (items == 0 || items > INT_MAX - local)
        return CL_INVALID_GLOBAL_WORK_SIZE;
    err = clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL);
    if (err == CL_SUCCESS)
        err = clGetKernelWorkGroupInfo(k, dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof max_wg, &max_wg,
                                       NULL);
    if (err != CL_SUCCESS)
        return err;
    if (local > max_wg)
        local = max_wg > 0 ? max_wg : 1;
    global = (items + local - 1) / local * local;
    return clEnqueueNDRangeKernel(q, k, 1, NULL, &global, &local, 0, NULL, ev);
}

/* Output side of a k/stride/pad window over `in` (PyTorch's floor mode), or -1 if empty. */
static int dc_window_out(int in, int k, int stride, int pad)
{
    if (in + 2 * pad < k)
        return -1;
    return (in + 2 * pad - k) / stride + 1;
}

/* ------------------------------------------------------------------------ launchers */

cl_int dc_enqueue_conv2d(cl_command_queue q, const dc_kernels *k, const dc_conv_args *a,
                         cl_event *ev)
{
    /* 1x1/1/0, 3x3/1 without and with prologue, 7x7/2 without, and the rest each have their
     * kernel (kernels.cl). */
    const unsigned kind = a ? dc_conv_kind(a->k, a->stride, a->pad, a->pre.buf != NULL) : 0;
    const int flat = kind == DC_CONV_1X1;
    cl_kernel kern = k && a ? dc_conv_kernel(k, kind) : NULL;
    dc_argset s = {kern, 0, CL_SUCCESS};
    size_t ptiles, ctiles, tiles;
    int flags;
    if (!s.k)
        return CL_INVALID_KERNEL;
    flags = (a->bias.buf ? DC_FLAG_BIAS : 0) | (a->pre.buf ? DC_FLAG_PRE : 0) |
            (a->relu ? DC_FLAG_RELU : 0);
    if (a->n < 1 || a->cin < 1 || a->cin > a->in_ctot || a->in_h < 1 || a->in_w < 1 ||
        a->cout < 1 || a->out_coff < 0 || a->out_coff > a->out_ctot - a->cout || a->k < 1 ||
        a->stride < 1 || a->pad < 0 || a->pad > 1024 || a->in_h > INT_MAX / 4 ||
        a->in_w > INT_MAX / 4 || a->out_h != dc_window_out(a->in_h, a->k, a->stride, a->pad) ||
        a->out_w != dc_window_out(a->in_w, a->k, a->stride, a->pad))
        return CL_INVALID_VALUE;
    {
        /* The kernel's int math: in-image offsets, weight offsets, and its tile count for the
         * smallest tile (1 channel x 1 pixel) a build may choose, with room for the stride. */
        int in_img[3] = {a->in_ctot, a->in_h, a->in_w};
        int out_img[3] = {a->out_ctot, a->out_h, a->out_w};
        int wts[4] = {a->cin + 1, a->k, a->k, DC_CONV_PACK};
        int tiles_max[5] = {a->n, a->out_h, a->out_w, a->cout, 2};
        if (!dc_fits_int(3, in_img) || !dc_fits_int(3, out_img) || !dc_fits_int(4, wts) ||
            !dc_fits_int(5, tiles_max))
            return CL_INVALID_GLOBAL_WORK_SIZE;
    }
    dc_arg_mem(&s, a->in, NULL);
    dc_arg_mem(&s, a->weight, NULL);
    dc_arg_mem(&s, a->bias, a->weight.buf);
    dc_arg_mem(&s, a->pre, a->weight.buf);
    dc_arg_mem(&s, a->out, NULL);
    dc_arg_int(&s, a->n);
    dc_arg_int(&s, a->cin);
    dc_arg_int(&s, a->in_ctot);
    if (flat) {
        dc_arg_int(&s, a->in_h * a->in_w);
    } else {
        dc_arg_int(&s, a->in_h);
        dc_arg_int(&s, a->in_w);
    }
    dc_arg_int(&s, a->cout);
    dc_arg_int(&s, a->out_ctot);
    dc_arg_int(&s, a->out_coff);
    if (!flat) {
        dc_arg_int(&s, a->out_h);
        dc_arg_int(&s, a->out_w);
        dc_arg_int(&s, a->k);
        dc_arg_int(&s, a->stride);
        dc_arg_int(&s, a->pad);
    }
    dc_arg_int(&s, flags);
    if (s.err != CL_SUCCESS)
        return s.err;
    /* One work-item per tile of the build (kernels.cl: densecl_conv1x1 tiles each flattened
     * image, or the batch's pixels when an image is smaller than a tile; the other conv kernels
     * tile each output row, the stem kernel with at most DC_CONV_TCO7 x DC_CONV_TPX7). */
    if (flat) {
        size_t hw = (size_t)a->out_h * a->out_w, px = (size_t)k->tiles.conv1x1_pixels;
        size_t cols = hw < px ? (size_t)a->n * hw : hw;
        ptiles = (cols + px - 1) / px;
        ctiles = ((size_t)a->cout + (size_t)k->tiles.conv1x1_channels - 1) /
                 (size_t)k->tiles.conv1x1_channels;
        tiles = (hw < px ? 1 : (size_t)a->n) * ptiles * ctiles;
    } else {
        size_t px = (size_t)k->tiles.conv_pixels, co = (size_t)k->tiles.conv_channels;
        if (kind == DC_CONV_7X7S2 && px > DC_CONV_TPX7)
            px = DC_CONV_TPX7;
        if (kind == DC_CONV_7X7S2 && co > DC_CONV_TCO7)
            co = DC_CONV_TCO7;
        ptiles = (size_t)a->out_h * (((size_t)a->out_w + px - 1) / px);
        ctiles = ((size_t)a->cout + co - 1) / co;
        tiles = (size_t)a->n * ptiles * ctiles;
    }
    return dc_launch(q, s.k, tiles, DC_CONV_LOCAL, ev);
}

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
    dc_argset s = {k && a ? k->maxpool : NULL, 0, CL_SUCCESS};
    if (!s.k)
        return CL_INVALID_KERNEL;
    /* pad <= k / 2, as PyTorch requires, so that no window lies wholly in the padding. */
    if (!dc_pool_valid(a) || a->k < 1 || a->stride < 1 || a->pad < 0 || a->pad > a->k / 2 ||
        a->out_h != dc_window_out(a->in_h, a->k, a->stride, a->pad) ||
        a->out_w != dc_window_out(a->in_w, a->k, a->stride, a->pad))
        return CL_INVALID_VALUE;
    dc_pool_common(&s, a);
    dc_arg_int(&s, a->k);
    dc_arg_int(&s, a->stride);
    dc_arg_int(&s, a->pad);
    dc_arg_int(&s, a->pre.buf ? DC_FLAG_PRE : 0);
    if (s.err != CL_SUCCESS)
        return s.err;
    return dc_launch(q, s.k, (size_t)a->n * a->c * a->out_h, DC_POOL_LOCAL, ev);
}

cl_int dc_enqueue_bnrelu_avgpool(cl_command_queue q, const dc_kernels *k, const dc_pool_args *a,
                                 cl_event *ev)
{
    dc_argset s = {k && a ? k->bnrelu_avgpool : NULL, 0, CL_SUCCESS};
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
    return dc_launch(q, s.k, (size_t)a->n * a->c, DC_LOCAL_SIZE, ev);
}

cl_int dc_enqueue_linear(cl_command_queue q, const dc_kernels *k, const dc_linear_args *a,
                         cl_event *ev)
{
    dc_argset s = {k && a ? k->linear : NULL, 0, CL_SUCCESS};
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
    return dc_launch(q, s.k, (size_t)a->n * a->cout, DC_LOCAL_SIZE, ev);
}
