/* SPDX-License-Identifier: MIT */
/*
 * clblast.c - the "clblast" conv family: CLBlast's SGEMMs on the engine's own queue.
 *
 * A conv of one image is C = A * B, row-major:
 *   A  the weights as PyTorch stores them, [cout, cin * k * k] (pack() copies them as they are)
 *   B  [cin * k * k, out_h * out_w]: for a 1x1/1/0 conv without prologue the input's channel
 *      prefix itself (ldb = hw; the next image lies in_ctot * hw further); otherwise the
 *      workspace, filled by densecl_clblast_im2col (kernels/clblast.cl) with the BN+ReLU
 *      prologue applied and padding 0 after it, which for a 1x1/1/0 conv is just P(in)
 *   C  the output's channels [out_coff, out_coff + cout), ldc = out_h * out_w; the next image
 *      lies out_ctot * out_h * out_w further, so the dense block's channel-offset write costs
 *      nothing.
 * One CLBlastSgemmStridedBatched per batch (or chunk of it; CLBlastSgemm for one image), then
 * densecl_clblast_epilogue for the bias and the ReLU when there are any.
 *
 * Why not CLBlastSconvgemm: its result is [batch, num_kernels, out_h, out_w] with a batch
 * stride of num_kernels * out_h * out_w and its input [batch, channels, h, w] with a stride of
 * channels * h * w, so neither a dense block's channel prefix read nor its channel-offset write
 * fits beyond one image, and it has no place for the BN+ReLU prologue.
 *
 * Workspace: one im2col matrix per image, cin * k * k * out_h * out_w floats (DenseNet-121:
 * 14.4 MB for a block-1 3x3 conv, 7.4 MB for the stem). A batch is split into chunks of images
 * whose matrices fit WS_MIB (default 256 MiB, less on a device whose largest buffer is small),
 * one im2col + GEMM per chunk; a single image larger than the cap still runs, alone.
 *
 * CLBlast allocates its own temporary buffers inside a GEMM where its kernels need padded
 * copies; those are not in workspace(). It compiles its kernels on the first GEMM of each shape
 * class per context and device (seconds on POCL).
 *
 * Built with CLBlast only when CMake found it (DENSECL_HAVE_CLBLAST); otherwise the family still
 * exists and supports() says why it cannot run.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conv/conv.h"

#include "../kernels/abi.h"

#ifdef DENSECL_HAVE_CLBLAST
#include <clblast_c.h>
#endif

#define CLBLAST_MIB ((size_t)1 << 20)
#define CLBLAST_WS_DEFAULT_MIB 256
#define CLBLAST_WS_MAX_MIB 4096
#define CLBLAST_LOCAL 64 /* work-group size of the pre-pass and epilogue along pixels */

enum { CLBLAST_WS_MIB = 0 };

static const dc_param_spec clblast_params[] = {
    {"WS_MIB", 1, CLBLAST_WS_MAX_MIB,
     "im2col workspace cap in MiB: a batch runs in chunks of images below it"},
};

static const char *const clblast_sources[] = {"clblast.cl", NULL};

#define CLBLAST_NOT_BUILT "densecl was built without CLBlast (install libclblast-dev and rebuild)"

/* Whether the GEMM reads the input itself: a 1x1/1/0 conv without prologue. */
static int clblast_direct(int k, int stride, int pad, int pre)
{
    return k == 1 && stride == 1 && pad == 0 && !pre;
}

/* Floats of one image's B matrix, cin * k * k * out_h * out_w; SIZE_MAX on overflow. */
static size_t clblast_per_image(int cin, int k, int out_h, int out_w)
{
    size_t s = 0;
    if (cin < 1 || k < 1 || out_h < 1 || out_w < 1 || !dc_mul_size((size_t)cin, (size_t)k, &s) ||
        !dc_mul_size(s, (size_t)k, &s) || !dc_mul_size(s, (size_t)out_h, &s) ||
        !dc_mul_size(s, (size_t)out_w, &s))
        return SIZE_MAX;
    return s;
}

/* Images per chunk: as many as fit cap_mib, at least 1, at most n. */
static size_t clblast_chunk(size_t per_image, int n, int cap_mib)
{
    size_t cap = (size_t)(cap_mib < 1 ? 1 : cap_mib) * (CLBLAST_MIB / sizeof(float));
    size_t chunk = per_image ? cap / per_image : (size_t)n;
    if (chunk < 1)
        chunk = 1;
    return chunk < (size_t)n ? chunk : (size_t)n;
}

/* The device's largest buffer in bytes as the library sees it (test limits included); 0 when
 * unknown. */
static cl_ulong clblast_max_alloc(const dc_caps *caps)
{
    densecl_device_info info;
    if (!caps || !caps->dev)
        return 0;
    dc_device_describe(caps->dev, &info);
    return (cl_ulong)info.max_alloc_bytes;
}

/* ------------------------------------------------------------------------ vtable: setup */

static int clblast_supports(const dc_caps *caps, const dc_op *op, char *why, size_t cap)
{
#ifndef DENSECL_HAVE_CLBLAST
    (void)caps;
    (void)op;
    snprintf(why, cap, "%s", CLBLAST_NOT_BUILT);
    return 0;
#else
    cl_ulong max_alloc;
    size_t per;
    if (op->kind != DC_OP_CONV) {
        snprintf(why, cap, "CLBlast runs convolutions only");
        return 0;
    }
    if (caps && !caps->has_compiler) {
        snprintf(why, cap,
                 "CLBlast compiles its kernels at run time and the device has no "
                 "OpenCL compiler");
        return 0;
    }
    if (clblast_direct(op->k, op->stride, op->pad, op->pre_bn[0] != '\0'))
        return 1;
    per = clblast_per_image(op->in_c, op->k, op->out_h, op->out_w);
    max_alloc = clblast_max_alloc(caps);
    if (per == SIZE_MAX || (max_alloc && per > max_alloc / sizeof(float))) {
        snprintf(why, cap,
                 "one image's im2col matrix of %lld x %d x %d floats is above the "
                 "device's largest buffer of %llu bytes",
                 (long long)op->in_c * op->k * op->k, op->out_h, op->out_w,
                 (unsigned long long)max_alloc);
        return 0;
    }
    return 1;
#endif
}

/* WS_MIB: 256 MiB, or a quarter of the largest buffer on a device where that is less. */
static void clblast_defaults(const dc_caps *caps, const dc_plan *plan, dc_params *p)
{
    cl_ulong max_alloc = clblast_max_alloc(caps);
    int mib = CLBLAST_WS_DEFAULT_MIB;
    (void)plan;
    memset(p, 0, sizeof *p);
    if (max_alloc && max_alloc / 4 / CLBLAST_MIB < (cl_ulong)mib)
        mib = (int)(max_alloc / 4 / CLBLAST_MIB);
    p->v[CLBLAST_WS_MIB] = mib < 1 ? 1 : mib;
}

static densecl_status clblast_check(const dc_caps *caps, const dc_params *p, const char *what)
{
    int v = p->v[CLBLAST_WS_MIB];
    cl_ulong max_alloc = clblast_max_alloc(caps);
    if (v < clblast_params[0].lo || v > clblast_params[0].hi)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: clblast parameter WS_MIB=%d is outside [%d, %d]",
                        what, v, clblast_params[0].lo, clblast_params[0].hi);
    if (max_alloc && (cl_ulong)v * CLBLAST_MIB > max_alloc)
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: clblast parameter WS_MIB=%d is above the device's largest buffer of "
                        "%llu MiB",
                        what, v, (unsigned long long)(max_alloc / CLBLAST_MIB));
    return DENSECL_OK;
}

/* CLBlast takes its parameters at run time: no -D options. */
static void clblast_defines(const dc_params *p, const dc_plan *plan, char *buf, size_t cap)
{
    (void)p;
    (void)plan;
    (void)buf;
    (void)cap;
}

/* [cout, cin, k, k] row-major is already A = [cout, cin * k * k]: a copy. */
static size_t clblast_pack(const dc_op *op, const dc_params *p, const float *w, float *out)
{
    size_t n = 0;
    (void)p;
    if (op->out_c < 1 || op->in_c < 1 || op->k < 1 ||
        !dc_mul_size((size_t)op->out_c, (size_t)op->in_c, &n) ||
        !dc_mul_size(n, (size_t)op->k, &n) || !dc_mul_size(n, (size_t)op->k, &n) ||
        n > SIZE_MAX / sizeof(float))
        return 0;
    if (out)
        memcpy(out, w, n * sizeof *out);
    return n;
}

static size_t clblast_workspace(const dc_op *op, int n, const dc_params *p)
{
    size_t per, total;
    if (op->kind != DC_OP_CONV || n < 1 ||
        clblast_direct(op->k, op->stride, op->pad, op->pre_bn[0] != '\0'))
        return 0;
    per = clblast_per_image(op->in_c, op->k, op->out_h, op->out_w);
    if (per == SIZE_MAX || !dc_mul_size(per, clblast_chunk(per, n, p->v[CLBLAST_WS_MIB]), &total))
        return SIZE_MAX; /* no buffer that large: the engine's allocation fails, naming the op */
    return total;
}

/* ------------------------------------------------------------------------ vtable: run */

typedef struct clblast_state {
    cl_kernel im2col, epilogue;
    size_t local_im2col, local_epilogue; /* along pixels: CLBLAST_LOCAL or the kernel's limit */
} clblast_state;

static void clblast_release(void *state)
{
    clblast_state *s = state;
    if (!s)
        return;
    if (s->im2col)
        clReleaseKernel(s->im2col);
    if (s->epilogue)
        clReleaseKernel(s->epilogue);
    free(s);
}

#ifdef DENSECL_HAVE_CLBLAST
/* The largest power of two <= CLBLAST_LOCAL that the kernel can run as a work-group. */
static size_t clblast_local(cl_kernel k, cl_device_id dev)
{
    size_t wg = 0, local = CLBLAST_LOCAL;
    if (clGetKernelWorkGroupInfo(k, dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) !=
        CL_SUCCESS)
        wg = 1;
    while (local > 1 && local > wg)
        local /= 2;
    return local;
}
#endif

static densecl_status clblast_create(cl_program prog, const dc_caps *caps, const dc_params *p,
                                     void **state)
{
#ifndef DENSECL_HAVE_CLBLAST
    (void)prog;
    (void)caps;
    (void)p;
    *state = NULL;
    return dc_error(DENSECL_ERR_UNSUPPORTED, "%s", CLBLAST_NOT_BUILT);
#else
    densecl_status st = DENSECL_OK;
    clblast_state *s = calloc(1, sizeof *s);
    (void)p;
    *state = NULL;
    if (!s)
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of host memory for the clblast family");
    if ((st = dc_kernel_create(prog, "densecl_clblast_im2col", &s->im2col)) != DENSECL_OK ||
        (st = dc_kernel_create(prog, "densecl_clblast_epilogue", &s->epilogue)) != DENSECL_OK)
        goto fail;
    s->local_im2col = clblast_local(s->im2col, caps->dev);
    s->local_epilogue = clblast_local(s->epilogue, caps->dev);
    *state = s;
    return DENSECL_OK;
fail:
    clblast_release(s);
    return st;
#endif
}

#ifdef DENSECL_HAVE_CLBLAST

/* CLBlast's own status codes (clblast_c.h), named in errors; the OpenCL ones (> -64) are
 * OpenCL errors and named as such. */
static const struct {
    CLBlastStatusCode code;
    const char *name;
    cl_int cl; /* what the engine is told */
} clblast_codes[] = {
    {CLBlastNotImplemented, "CLBlastNotImplemented", CL_INVALID_OPERATION},
    {CLBlastInvalidMatrixA, "CLBlastInvalidMatrixA", CL_INVALID_MEM_OBJECT},
    {CLBlastInvalidMatrixB, "CLBlastInvalidMatrixB", CL_INVALID_MEM_OBJECT},
    {CLBlastInvalidMatrixC, "CLBlastInvalidMatrixC", CL_INVALID_MEM_OBJECT},
    {CLBlastInvalidDimension, "CLBlastInvalidDimension", CL_INVALID_VALUE},
    {CLBlastInvalidLeadDimA, "CLBlastInvalidLeadDimA", CL_INVALID_VALUE},
    {CLBlastInvalidLeadDimB, "CLBlastInvalidLeadDimB", CL_INVALID_VALUE},
    {CLBlastInvalidLeadDimC, "CLBlastInvalidLeadDimC", CL_INVALID_VALUE},
    {CLBlastInsufficientMemoryA, "CLBlastInsufficientMemoryA", CL_INVALID_BUFFER_SIZE},
    {CLBlastInsufficientMemoryB, "CLBlastInsufficientMemoryB", CL_INVALID_BUFFER_SIZE},
    {CLBlastInsufficientMemoryC, "CLBlastInsufficientMemoryC", CL_INVALID_BUFFER_SIZE},
    {CLBlastInsufficientMemoryTemp, "CLBlastInsufficientMemoryTemp", CL_OUT_OF_RESOURCES},
    {CLBlastInvalidBatchCount, "CLBlastInvalidBatchCount", CL_INVALID_VALUE},
    {CLBlastInvalidOverrideKernel, "CLBlastInvalidOverrideKernel", CL_INVALID_OPERATION},
    {CLBlastMissingOverrideParameter, "CLBlastMissingOverrideParameter", CL_INVALID_OPERATION},
    {CLBlastInvalidLocalMemUsage, "CLBlastInvalidLocalMemUsage", CL_OUT_OF_RESOURCES},
    {CLBlastNoHalfPrecision, "CLBlastNoHalfPrecision", CL_INVALID_OPERATION},
    {CLBlastNoDoublePrecision, "CLBlastNoDoublePrecision", CL_INVALID_OPERATION},
    {CLBlastDatabaseError, "CLBlastDatabaseError", CL_INVALID_OPERATION},
    {CLBlastUnknownError, "CLBlastUnknownError", CL_INVALID_OPERATION},
    {CLBlastUnexpectedError, "CLBlastUnexpectedError", CL_INVALID_OPERATION},
};

/* The OpenCL error for a CLBlast status, with the status recorded by name (and logged, since
 * the engine's own message about the failed op names only the OpenCL error). */
static cl_int clblast_status(CLBlastStatusCode s, const char *call, size_t m, size_t n, size_t k,
                             size_t batch)
{
    const char *name = NULL;
    char num[32];
    cl_int cl = CL_INVALID_OPERATION;
    if (s == CLBlastSuccess)
        return CL_SUCCESS;
    if ((int)s > -64) {
        name = dc_cl_error_name((cl_int)s);
        cl = (cl_int)s;
    }
    for (size_t i = 0; !name && i < DC_ARRAY_LEN(clblast_codes); i++) {
        if (clblast_codes[i].code == s) {
            name = clblast_codes[i].name;
            cl = clblast_codes[i].cl;
        }
    }
    if (!name) {
        snprintf(num, sizeof num, "CLBlast status %d", (int)s);
        name = num;
    }
    dc_error(DENSECL_ERR_OPENCL, "%s (M=%zu N=%zu K=%zu batch=%zu) failed: %s", call, m, n, k,
             batch, name);
    dc_log(DENSECL_LOG_WARN, "clblast: %s (M=%zu N=%zu K=%zu batch=%zu) failed: %s (%d)", call, m,
           n, k, batch, name, (int)s);
    return cl;
}

/* C[i] = A * B[i] for i < batch, row-major, m x n = (m x k)(k x n), beta 0. */
static cl_int clblast_gemm(cl_command_queue q, size_t m, size_t n, size_t k, dc_mem a, cl_mem b,
                           size_t b_off, size_t b_stride, cl_mem c, size_t c_off, size_t c_stride,
                           size_t batch, cl_event *ev)
{
    CLBlastStatusCode s;
    if (batch == 1) {
        s = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m, n, k,
                         1.0f, a.buf, a.off, k, b, b_off, n, 0.0f, c, c_off, n, &q, ev);
        return clblast_status(s, "CLBlastSgemm", m, n, k, batch);
    }
    s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m,
                                   n, k, 1.0f, a.buf, a.off, k, 0, b, b_off, n, b_stride, 0.0f, c,
                                   c_off, n, c_stride, batch, &q, ev);
    return clblast_status(s, "CLBlastSgemmStridedBatched", m, n, k, batch);
}

/* A (buffer, ulong offset) pair, as clblast.cl takes them (dc_arg_mem's offsets are ints); an
 * absent buffer passes `fallback` (never read). */
static void clblast_arg_mem(dc_argset *s, cl_mem buf, size_t off, cl_mem fallback)
{
    cl_ulong o = buf ? (cl_ulong)off : 0;
    if (!buf)
        buf = fallback;
    dc_arg(s, sizeof buf, &buf);
    dc_arg(s, sizeof o, &o);
}

/* A (pixels, rows, images) grid; pixels rounded up to the work-group (no non-uniform groups). */
static cl_int clblast_launch(dc_exec *x, cl_kernel k, size_t local, size_t px, size_t rows,
                             size_t images)
{
    dc_launch l = {k, 3, {(px + local - 1) / local * local, rows, images}, {local, 1, 1}, 1};
    return dc_exec_launch(x, &l);
}

static int clblast_args_valid(const dc_conv_args *a)
{
    size_t in_hw, out_hw, rows;
    if (a->n < 1 || a->cin < 1 || a->cin > a->in_ctot || a->in_h < 1 || a->in_w < 1 ||
        a->cout < 1 || a->out_coff < 0 || a->out_coff > a->out_ctot - a->cout || a->k < 1 ||
        a->stride < 1 || a->pad < 0 || a->pad > 1024 || a->out_h < 1 || a->out_w < 1 ||
        !a->in.buf || !a->weight.buf || !a->out.buf)
        return 0;
    if ((long long)a->out_h != ((long long)a->in_h + 2LL * a->pad - a->k) / a->stride + 1 ||
        (long long)a->out_w != ((long long)a->in_w + 2LL * a->pad - a->k) / a->stride + 1 ||
        a->in_h + 2LL * a->pad < a->k || a->in_w + 2LL * a->pad < a->k)
        return 0;
    /* The kernels' int math: pixel and row indices within one image. */
    return dc_mul_size((size_t)a->in_h, (size_t)a->in_w, &in_hw) && in_hw <= INT_MAX &&
           dc_mul_size((size_t)a->out_h, (size_t)a->out_w, &out_hw) && out_hw <= INT_MAX &&
           dc_mul_size((size_t)a->cin * a->k, (size_t)a->k, &rows) && rows <= INT_MAX;
}

#endif /* DENSECL_HAVE_CLBLAST */

/* What a bound conv keeps: a library family sets its GEMMs' arguments at every call (CLBlast
 * has no bound form), so the conv is run from its arguments each time. */
typedef struct clblast_bound {
    dc_params p;
    dc_conv_args a;
    dc_mem ws;
} clblast_bound;

static cl_int clblast_bind(void *state, const dc_params *p, const dc_conv_args *a, dc_mem ws,
                           dc_bound **bound)
{
#ifndef DENSECL_HAVE_CLBLAST
    (void)state;
    (void)p;
    (void)a;
    (void)ws;
    (void)bound;
    dc_error(DENSECL_ERR_UNSUPPORTED, "%s", CLBLAST_NOT_BUILT);
    return CL_INVALID_OPERATION;
#else
    const clblast_state *s = state;
    clblast_bound *cb;
    if (!s || !s->im2col || !s->epilogue)
        return CL_INVALID_KERNEL;
    if (!a || !p || !clblast_args_valid(a))
        return CL_INVALID_VALUE;
    if (!*bound && !(*bound = calloc(1, sizeof **bound)))
        return CL_OUT_OF_HOST_MEMORY;
    if (!(*bound)->extra && !((*bound)->extra = calloc(1, sizeof(clblast_bound))))
        return CL_OUT_OF_HOST_MEMORY;
    cb = (*bound)->extra;
    cb->p = *p;
    cb->a = *a;
    cb->ws = ws;
    return CL_SUCCESS;
#endif
}

static void clblast_unbind(dc_bound *bound)
{
    if (bound)
        free(bound->extra);
    dc_bound_free(bound);
}

static cl_int clblast_run(dc_exec *x, void *state, const dc_bound *bound)
{
#ifndef DENSECL_HAVE_CLBLAST
    (void)x;
    (void)state;
    (void)bound;
    dc_error(DENSECL_ERR_UNSUPPORTED, "%s", CLBLAST_NOT_BUILT);
    return CL_INVALID_OPERATION;
#else
    clblast_state *s = state;
    const clblast_bound *cb = bound ? bound->extra : NULL;
    const dc_conv_args *a = cb ? &cb->a : NULL;
    const dc_params *p = cb ? &cb->p : NULL;
    const dc_mem ws = cb ? cb->ws : (dc_mem){NULL, 0};
    cl_command_queue q = x->q;
    const int pre = a && a->pre.buf != NULL;
    const size_t ohw = a ? (size_t)a->out_h * (size_t)a->out_w : 0;
    const size_t in_hw = a ? (size_t)a->in_h * (size_t)a->in_w : 0;
    const size_t m = a ? (size_t)a->cout : 0;
    const size_t kk = a ? (size_t)a->cin * (size_t)a->k * (size_t)a->k : 0;
    const int flags = a ? (a->bias.buf ? DC_FLAG_BIAS : 0) | (pre ? DC_FLAG_PRE : 0) |
                              (a->relu ? DC_FLAG_RELU : 0)
                        : 0;
    cl_event e = NULL;
    cl_int err = CL_SUCCESS;
    if (!s || !s->im2col || !s->epilogue)
        return CL_INVALID_KERNEL;
    if (!a || !p || !clblast_args_valid(a))
        return CL_INVALID_VALUE;
    {
        /* The pre-pass, the GEMMs and the epilogue follow each other by queue order alone:
         * CLBlast takes no wait list. */
        cl_command_queue_properties props = 0;
        err = clGetCommandQueueInfo(q, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL);
        if (err != CL_SUCCESS)
            return err;
        if (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) {
            dc_error(DENSECL_ERR_OPENCL, "the clblast conv family needs an in-order queue");
            return CL_INVALID_COMMAND_QUEUE;
        }
    }
    if (clblast_direct(a->k, a->stride, a->pad, pre)) {
        /* B is the input's channel prefix: no pre-pass, no workspace, the whole batch. */
        err = clblast_gemm(
            q, m, ohw, kk, a->weight, a->in.buf, a->in.off, (size_t)a->in_ctot * in_hw, a->out.buf,
            a->out.off + (size_t)a->out_coff * ohw, (size_t)a->out_ctot * ohw, (size_t)a->n, &e);
        if (err != CL_SUCCESS)
            return err;
        dc_exec_event(x, e);
    } else {
        const size_t per = clblast_per_image(a->cin, a->k, a->out_h, a->out_w);
        size_t chunk = clblast_chunk(per, a->n, p->v[CLBLAST_WS_MIB]), ws_bytes = 0;
        if (!ws.buf)
            return CL_INVALID_MEM_OBJECT;
        /* Never past the buffer the engine gave, whatever batch it was sized for. */
        err = clGetMemObjectInfo(ws.buf, CL_MEM_SIZE, sizeof ws_bytes, &ws_bytes, NULL);
        if (err != CL_SUCCESS)
            return err;
        if (ws_bytes / sizeof(float) < ws.off + per)
            return CL_INVALID_BUFFER_SIZE;
        if ((ws_bytes / sizeof(float) - ws.off) / per < chunk)
            chunk = (ws_bytes / sizeof(float) - ws.off) / per;
        for (size_t i0 = 0; i0 < (size_t)a->n; i0 += chunk) {
            const size_t cnt = (size_t)a->n - i0 < chunk ? (size_t)a->n - i0 : chunk;
            dc_argset g = {s->im2col, 0, CL_SUCCESS};
            clblast_arg_mem(&g, a->in.buf, a->in.off + i0 * (size_t)a->in_ctot * in_hw, NULL);
            clblast_arg_mem(&g, a->pre.buf, a->pre.off, a->in.buf);
            clblast_arg_mem(&g, ws.buf, ws.off, NULL);
            dc_arg_int(&g, a->cin);
            dc_arg_int(&g, a->in_ctot);
            dc_arg_int(&g, a->in_h);
            dc_arg_int(&g, a->in_w);
            dc_arg_int(&g, a->out_h);
            dc_arg_int(&g, a->out_w);
            dc_arg_int(&g, a->k);
            dc_arg_int(&g, a->stride);
            dc_arg_int(&g, a->pad);
            dc_arg_int(&g, flags);
            if (g.err != CL_SUCCESS) {
                err = g.err;
                break;
            }
            err = clblast_launch(x, s->im2col, s->local_im2col, ohw, kk, cnt);
            if (err != CL_SUCCESS)
                break;
            e = NULL;
            err = clblast_gemm(q, m, ohw, kk, a->weight, ws.buf, ws.off, per, a->out.buf,
                               a->out.off + (i0 * (size_t)a->out_ctot + (size_t)a->out_coff) * ohw,
                               (size_t)a->out_ctot * ohw, cnt, &e);
            if (err != CL_SUCCESS)
                break;
            dc_exec_event(x, e);
        }
    }
    if (err == CL_SUCCESS && (flags & (DC_FLAG_BIAS | DC_FLAG_RELU))) {
        dc_argset g = {s->epilogue, 0, CL_SUCCESS};
        clblast_arg_mem(&g, a->out.buf, a->out.off, NULL);
        clblast_arg_mem(&g, a->bias.buf, a->bias.off, a->out.buf);
        dc_arg_int(&g, a->out_ctot);
        dc_arg_int(&g, a->out_coff);
        dc_arg_int(&g, (int)ohw);
        dc_arg_int(&g, flags);
        err = g.err;
        if (err == CL_SUCCESS)
            err = clblast_launch(x, s->epilogue, s->local_epilogue, ohw, m, (size_t)a->n);
    }
    return err;
#endif
}

const dc_family dc_family_clblast = {
    .name = "clblast",
    .sources = clblast_sources,
    .params = clblast_params,
    .n_params = (int)DC_ARRAY_LEN(clblast_params),
    .kinds = DC_KINDS_ALL,
    .kernels_param = -1,
    .on_param = -1,
    .auto_kinds = NULL, /* chosen by name or by `densecl tune` only */
    .supports = clblast_supports,
    .defaults = clblast_defaults,
    .check = clblast_check,
    .defines = clblast_defines,
    .pack = clblast_pack,
    .workspace = clblast_workspace,
    .create = clblast_create,
    .release = clblast_release,
    .bind = clblast_bind,
    .launch = clblast_run,
    .unbind = clblast_unbind,
};
