/* SPDX-License-Identifier: MIT */
/* test_ops.c - the kernels other than the convs against the naive reference of ref_ops.c, on
 * many shapes: the pools (max, BN+ReLU avg, BN+ReLU global average) and the classifier with odd
 * sizes, sizes that are not multiples of the work-group size, prologue on and off,
 * channel-prefix reads and channel-offset writes, batch 1..3, on the CPU shapes and the GPU
 * shapes; and the launch helpers: launchers refuse inconsistent arguments, dc_launch_nd rounds
 * and shrinks its sizes, a program built with some direct conv kernels refuses the others. The
 * conv families run in test_families.c. A syntax error in a kernel file must be reported at its
 * file:line (the #line markers), checked on a copy of the sources given as argv[1].
 *
 * Tolerance: |got - ref| <= 1e-5 + 1e-4 * |ref| for every written value (fp32 reordering against
 * a double reference); NaN or Inf in a written value is a failure, except in the max-pool cases
 * that plant NaN and inf in the input: those must come out where torch's rule puts them (the
 * reference's), and all-negative inputs show a maximum that took the padding as 0.
 * Guard bands: every output buffer has DC_TEST_GUARD floats before and after the tensor, and the
 * whole buffer (guards, and the channels outside [out_coff, out_coff + c)) starts as a sentinel
 * NaN that must survive bit-exact. Inputs, weights and parameters sit between guards of another
 * NaN, and the channels past the read prefix hold it too, so a stray read poisons the result.
 * A missing device or a kernel that does not build is a failure, never a skip. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "conv_check.h"
#include "runtime/runtime.h"
#include "ref_ops.h"

typedef struct test_env {
    const char *label; /* build options, for messages */
    cl_context ctx;
    cl_command_queue q;
    dc_caps caps;
    dc_kernels k;
    void *direct; /* the direct family's kernels */
    dc_params dp; /* its parameters: the device's defaults */
} test_env;

/* ------------------------------------------------------------------------ pools */

typedef enum pool_kind { POOL_MAX, POOL_AVG, POOL_GAP } pool_kind;

typedef struct pool_case {
    pool_kind kind;
    int n, c, in_ctot, h, w;
    int out_ctot, out_coff; /* gap: out_ctot 0 means [n, c] */
    int k, stride, pad;     /* maxpool only */
    int pre;
    const char *why;
} pool_case;

static const pool_case pool_cases[] = {
    /* kind n c ctot h w otot coff k s p pre */
    {POOL_MAX, 1, 64, 64, 57, 55, 256, 0, 3, 2, 1, 0, "stem pool into a block buffer"},
    {POOL_MAX, 3, 5, 7, 9, 8, 9, 2, 3, 2, 1, 1, "prologue, prefix, offset, batch 3"},
    {POOL_MAX, 1, 3, 3, 2, 2, 3, 0, 3, 2, 1, 0, "2x2 image"},
    {POOL_MAX, 2, 4, 4, 7, 7, 6, 1, 2, 2, 0, 0, "2x2/2, odd size"},
    {POOL_MAX, 1, 2, 2, 5, 6, 2, 0, 3, 1, 1, 1, "3x3/1"},
    {POOL_MAX, 1, 3, 3, 1, 1, 3, 0, 1, 1, 0, 1, "1x1 window"},
    {POOL_MAX, 2, 3, 5, 12, 31, 4, 1, 3, 2, 1, 0, "rows of 16 outputs, batch 2"},
    {POOL_MAX, 2, 3, 5, 19, 40, 6, 2, 3, 2, 1, 1, "3x3/2 vector steps, prologue, offset"},
    {POOL_MAX, 1, 2, 2, 6, 17, 2, 0, 3, 2, 0, 0, "3x3/2 unpadded, one whole vector step"},
    {POOL_MAX, 2, 4, 6, 9, 112, 4, 0, 3, 2, 1, 0, "3x3/2 stem width, last step moved back"},
    {POOL_MAX, 1, 3, 3, 5, 18, 3, 0, 3, 2, 1, 1, "3x3/2 narrowest row with a vector step"},
    {POOL_AVG, 2, 37, 45, 7, 9, 40, 3, 0, 0, 0, 1, "odd size, prefix, offset"},
    {POOL_AVG, 1, 128, 128, 56, 56, 128, 0, 0, 0, 0, 1, "DenseNet transition 1"},
    {POOL_AVG, 3, 4, 4, 2, 2, 4, 0, 0, 0, 0, 0, "no prologue, 1x1 output"},
    {POOL_AVG, 1, 3, 3, 3, 3, 8, 5, 0, 0, 0, 1, "3x3 -> 1x1 at an offset"},
    {POOL_AVG, 2, 5, 6, 11, 19, 7, 1, 0, 0, 0, 0, "no prologue, vector steps and a tail"},
    {POOL_AVG, 2, 6, 6, 9, 17, 6, 0, 0, 0, 0, 1, "prologue, vector steps and a tail"},
    {POOL_GAP, 2, 1024, 1024, 7, 7, 0, 0, 0, 0, 0, 1, "DenseNet-121 norm5"},
    {POOL_GAP, 3, 37, 45, 1, 1, 0, 0, 0, 0, 0, 1, "1x1 image, prefix"},
    {POOL_GAP, 1, 13, 13, 8, 8, 0, 0, 0, 0, 0, 0, "no prologue"},
    {POOL_GAP, 2, 5, 9, 13, 5, 8, 2, 0, 0, 0, 1, "wider output rows at an offset"},
    {POOL_GAP, 1, 3, 3, 3, 1, 0, 0, 0, 0, 0, 1, "3 pixels"},
};

/* What a pool case's input holds: random values in [-1, 1), or for maxpool (issue 27) values
 * the random ones never are. */
typedef enum pool_fill {
    FILL_RANDOM,
    /* all in [-2, -1): a maximum that took padding as 0 (not -inf) shows at every border */
    FILL_NEGATIVE,
    /* NaN and +inf at window corners, edges and centres: the first image and channel's
     * top-left input NaN (a corner of the first windows), the last input of every plane +inf
     * (the last windows' bottom-right corner), plus one input in 24 NaN, one in 24 +inf and,
     * without a prologue, one in 24 -inf; with a prologue +inf only where it stays +inf (its
     * scales are positive) and no -inf (kernels/common.cl: P(-inf) is NaN there, torch's 0) */
    FILL_NONFINITE,
    /* FILL_NONFINITE over FILL_NEGATIVE values */
    FILL_NONFINITE_NEGATIVE,
} pool_fill;

static void fill_pool_input(float *in, const pool_case *c, pool_fill fill)
{
    const size_t plane = (size_t)c->h * c->w;
    for (int n = 0; n < c->n; n++)
        for (int ch = 0; ch < c->c; ch++) {
            float *p = in + ((size_t)n * c->in_ctot + ch) * plane;
            for (size_t i = 0; i < plane; i++) {
                if (fill == FILL_NEGATIVE || fill == FILL_NONFINITE_NEGATIVE)
                    p[i] = p[i] * 0.5f - 1.5f;
                if (fill == FILL_NONFINITE || fill == FILL_NONFINITE_NEGATIVE) {
                    const float r = urand(0.0f, 24.0f);
                    if (r < 1.0f)
                        p[i] = NAN;
                    else if (r < 2.0f)
                        p[i] = INFINITY;
                    else if (r < 3.0f && !c->pre)
                        p[i] = -INFINITY;
                }
            }
            if (fill == FILL_NONFINITE || fill == FILL_NONFINITE_NEGATIVE) {
                if (n == 0 && ch == 0)
                    p[0] = NAN;
                p[plane - 1] = INFINITY;
            }
        }
}

static void run_pool(const test_env *e, const pool_case *c, pool_fill fill)
{
    static const char *const names[] = {"maxpool", "bnrelu_avgpool", "bnrelu_gap"};
    static const char *const fills[] = {"", ", all negative", ", NaN and inf",
                                        ", NaN and inf among negatives"};
    int oh, ow, out_ctot = c->out_ctot;
    size_t in_count = (size_t)c->n * c->in_ctot * c->h * c->w, out_count;
    char what[200];
    float *in = rand_tensor(c->n, c->in_ctot, c->c, c->h, c->w);
    float *pre = c->pre ? rand_pre(c->c) : NULL;
    float *expect;
    cl_mem d_in, d_pre = NULL, d_out;
    cl_int err = CL_SUCCESS;

    if (c->kind == POOL_MAX) {
        oh = window_out(c->h, c->k, c->stride, c->pad);
        ow = window_out(c->w, c->k, c->stride, c->pad);
    } else if (c->kind == POOL_AVG) {
        oh = c->h / 2;
        ow = c->w / 2;
    } else {
        oh = ow = 1;
        if (out_ctot == 0)
            out_ctot = c->c;
    }
    out_count = (size_t)c->n * out_ctot * oh * ow;
    expect = alloc_floats(out_count, DC_TEST_SENTINEL);
    snprintf(what, sizeof what, "%s %d/%d/%d n%d %d(%d)x%dx%d -> at %d of %d (%s%s)",
             names[c->kind], c->k, c->stride, c->pad, c->n, c->c, c->in_ctot, c->h, c->w,
             c->out_coff, out_ctot, c->why, fills[fill]);
    fill_pool_input(in, c, fill);
    {
        ref_pool_args r = {in,       pre,         expect, c->n, c->c, c->in_ctot, c->h,  c->w,
                           out_ctot, c->out_coff, oh,     ow,   c->k, c->stride,  c->pad};
        if (c->kind == POOL_MAX)
            ref_maxpool(&r);
        else if (c->kind == POOL_AVG)
            ref_bnrelu_avgpool(&r);
        else
            ref_bnrelu_gap(&r);
    }
    d_in = dev_buffer(e->ctx, in, in_count, DC_TEST_POISON);
    if (pre)
        d_pre = dev_buffer(e->ctx, pre, 2 * (size_t)c->c, DC_TEST_POISON);
    d_out = dev_buffer(e->ctx, NULL, out_count, DC_TEST_SENTINEL);
    if (d_in && d_out && (!pre || d_pre)) {
        dc_pool_args a = {
            dev_mem(d_in), dev_mem(d_pre), dev_mem(d_out), c->n,        c->c, c->in_ctot,
            c->h,          c->w,           c->out_ctot,    c->out_coff, oh,   ow,
            c->k,          c->stride,      c->pad};
        if (!pre)
            a.pre.off = 0;
        if (c->kind == POOL_MAX)
            err = dc_enqueue_maxpool(e->q, &e->k, &a, NULL);
        else if (c->kind == POOL_AVG)
            err = dc_enqueue_bnrelu_avgpool(e->q, &e->k, &a, NULL);
        else
            err = dc_enqueue_bnrelu_gap(e->q, &e->k, &a, NULL);
        CHECKF(err == CL_SUCCESS, "%s [%s]: enqueue: %s", what, e->label, dc_cl_error_name(err));
        if (err == CL_SUCCESS)
            check_output_nonfinite(e->q, e->label, what, d_out, expect, out_count,
                                   fill == FILL_NONFINITE || fill == FILL_NONFINITE_NEGATIVE);
    }
    release_mem(d_in);
    release_mem(d_pre);
    release_mem(d_out);
    free(in);
    free(pre);
    free(expect);
}

/* Max-pool cases on the inputs of pool_fill (issue 27): both paths of the kernel (the scalar
 * loop, and the 3x3/2 float8 steps with their edge outputs and moved last step), padding 0 and
 * 1, windows of 1, 2 and 3, strides 1 and 2, with and without the prologue. The reference
 * (ref_maxpool) ignores padding and follows torch's NaN rule. */
static const struct {
    pool_case c;
    pool_fill fill;
} special_pool_cases[] = {
    /* kind n c ctot h w otot coff k s p pre */
    {{POOL_MAX, 1, 64, 64, 57, 55, 256, 0, 3, 2, 1, 0, "stem pool"}, FILL_NEGATIVE},
    {{POOL_MAX, 2, 3, 5, 19, 40, 6, 2, 3, 2, 1, 0, "3x3/2 vector steps, offset"}, FILL_NEGATIVE},
    {{POOL_MAX, 2, 4, 6, 9, 112, 4, 0, 3, 2, 1, 0, "3x3/2 last step moved back"}, FILL_NEGATIVE},
    {{POOL_MAX, 1, 3, 3, 5, 18, 3, 0, 3, 2, 1, 0, "3x3/2 narrowest vector row"}, FILL_NEGATIVE},
    {{POOL_MAX, 2, 3, 3, 7, 9, 3, 0, 3, 1, 1, 0, "3x3/1, every border"}, FILL_NEGATIVE},
    {{POOL_MAX, 1, 2, 2, 2, 2, 2, 0, 3, 2, 1, 0, "2x2 image: all windows padded"}, FILL_NEGATIVE},
    {{POOL_MAX, 1, 2, 2, 1, 1, 2, 0, 3, 1, 1, 0, "1x1 image, 3x3 window"}, FILL_NEGATIVE},
    {{POOL_MAX, 2, 4, 4, 7, 7, 6, 1, 2, 2, 0, 0, "2x2/2 unpadded, odd"}, FILL_NEGATIVE},
    {{POOL_MAX, 1, 64, 64, 57, 55, 256, 0, 3, 2, 1, 0, "stem pool"}, FILL_NONFINITE},
    {{POOL_MAX, 2, 3, 5, 19, 40, 6, 2, 3, 2, 1, 0, "3x3/2 vector steps, offset"}, FILL_NONFINITE},
    {{POOL_MAX, 2, 4, 6, 9, 112, 4, 0, 3, 2, 1, 0, "3x3/2 last step moved back"},
     FILL_NONFINITE_NEGATIVE},
    {{POOL_MAX, 2, 5, 7, 9, 8, 9, 2, 3, 2, 1, 1, "prologue, prefix, offset"}, FILL_NONFINITE},
    {{POOL_MAX, 2, 3, 5, 19, 40, 6, 2, 3, 2, 1, 1, "3x3/2 vector steps, prologue"}, FILL_NONFINITE},
    {{POOL_MAX, 1, 2, 2, 6, 17, 2, 0, 3, 2, 0, 0, "3x3/2 unpadded vector step"},
     FILL_NONFINITE_NEGATIVE},
    {{POOL_MAX, 2, 3, 3, 7, 9, 3, 0, 3, 1, 1, 0, "3x3/1"}, FILL_NONFINITE_NEGATIVE},
    {{POOL_MAX, 2, 4, 4, 7, 7, 6, 1, 2, 2, 0, 0, "2x2/2 unpadded, odd"}, FILL_NONFINITE},
    {{POOL_MAX, 1, 3, 3, 4, 5, 3, 0, 1, 1, 0, 0, "1x1 window: NaN and inf pass through"},
     FILL_NONFINITE},
};

/* ------------------------------------------------------------------------ linear */

typedef struct linear_case {
    int n, cin, cout, bias;
} linear_case;

static const linear_case linear_cases[] = {
    {2, 1024, 1000, 1}, {3, 7, 3, 1}, {1, 33, 10, 0}, {1, 1, 1, 1}, {2, 342, 10, 1},
};

static void run_linear(const test_env *e, const linear_case *c)
{
    size_t in_count = (size_t)c->n * c->cin, w_count = (size_t)c->cout * c->cin;
    size_t out_count = (size_t)c->n * c->cout;
    char what[96];
    float *in = rand_floats(in_count, -1.0f, 1.0f);
    float *w = rand_floats(w_count, -1.0f, 1.0f);
    float *bias = c->bias ? rand_floats((size_t)c->cout, -1.0f, 1.0f) : NULL;
    float *expect = alloc_floats(out_count, DC_TEST_SENTINEL);
    cl_mem d_in, d_w, d_bias = NULL, d_out;
    cl_int err;

    snprintf(what, sizeof what, "linear n%d %d -> %d%s", c->n, c->cin, c->cout,
             c->bias ? " + bias" : "");
    ref_linear(&(ref_linear_args){in, w, bias, expect, c->n, c->cin, c->cout});
    d_in = dev_buffer(e->ctx, in, in_count, DC_TEST_POISON);
    d_w = dev_buffer(e->ctx, w, w_count, DC_TEST_POISON);
    if (bias)
        d_bias = dev_buffer(e->ctx, bias, (size_t)c->cout, DC_TEST_POISON);
    d_out = dev_buffer(e->ctx, NULL, out_count, DC_TEST_SENTINEL);
    if (d_in && d_w && d_out && (!bias || d_bias)) {
        dc_linear_args a = {dev_mem(d_in), dev_mem(d_w), dev_mem(d_bias), dev_mem(d_out),
                            c->n,          c->cin,       c->cout};
        if (!bias)
            a.bias.off = 0;
        err = dc_enqueue_linear(e->q, &e->k, &a, NULL);
        CHECKF(err == CL_SUCCESS, "%s [%s]: dc_enqueue_linear: %s", what, e->label,
               dc_cl_error_name(err));
        if (err == CL_SUCCESS)
            check_output(e->q, e->label, what, d_out, expect, out_count);
    }
    release_mem(d_in);
    release_mem(d_w);
    release_mem(d_bias);
    release_mem(d_out);
    free(in);
    free(w);
    free(bias);
    free(expect);
}

/* The direct family's enqueue on env e (the launcher these checks are about). */
static cl_int direct_conv(const test_env *e, void *state, const dc_params *p, const dc_conv_args *a)
{
    dc_mem none = {NULL, 0};
    return dc_conv_enqueue(&dc_family_direct, e->q, state, p, a, none, NULL);
}

/* Launchers refuse inconsistent arguments instead of reading or writing out of bounds. */
static void test_rejects(const test_env *e)
{
    cl_int err;
    cl_mem m = dev_buffer(e->ctx, NULL, 4096, DC_TEST_SENTINEL);
    dc_mem d = dev_mem(m), none = {NULL, 0};
    dc_conv_args ok = {d, d, none, none, d, 1, 4, 4, 5, 5, 8, 8, 0, 5, 5, 3, 1, 1, 0};
    dc_conv_args a;
    dc_pool_args p = {d, none, d, 1, 4, 4, 5, 5, 4, 0, 3, 3, 3, 2, 1};
    dc_pool_args pb;
    dc_kernels empty = {0};
    void *st = e->direct;
    const dc_params *dp = &e->dp;
    if (!m)
        return;
    a = ok;
    a.cin = 5; /* more than in_ctot */
    CHECK(direct_conv(e, st, dp, &a) == CL_INVALID_VALUE);
    a = ok;
    a.out_coff = 1; /* past out_ctot */
    CHECK(direct_conv(e, st, dp, &a) == CL_INVALID_VALUE);
    a = ok;
    a.out_h = 6; /* not the window's output size */
    CHECK(direct_conv(e, st, dp, &a) == CL_INVALID_VALUE);
    a = ok;
    a.in.buf = NULL;
    CHECK(direct_conv(e, st, dp, &a) != CL_SUCCESS);
    CHECK(direct_conv(e, NULL, dp, &ok) == CL_INVALID_KERNEL);
    CHECK(dc_enqueue_maxpool(e->q, &empty, &p, NULL) == CL_INVALID_KERNEL);
    pb = p;
    pb.pad = 2; /* more than k / 2 */
    CHECK(dc_enqueue_maxpool(e->q, &e->k, &pb, NULL) == CL_INVALID_VALUE);
    pb = p;
    pb.out_h = 2; /* avgpool wants in_h / 2 */
    CHECK(dc_enqueue_bnrelu_avgpool(e->q, &e->k, &pb, NULL) == CL_INVALID_VALUE);
    /* The accepted form of each, to show the refusals above are about the one changed field. */
    err = direct_conv(e, st, dp, &ok);
    CHECKF(err == CL_SUCCESS, "valid conv refused: %s", dc_cl_error_name(err));
    err = dc_enqueue_maxpool(e->q, &e->k, &p, NULL);
    CHECKF(err == CL_SUCCESS, "valid maxpool refused: %s", dc_cl_error_name(err));
    clFinish(e->q);
    dc_kernels_release(&empty);
    dc_kernels_release(NULL);
    release_mem(m);
}

/* dc_launch_nd: 2-D and 3-D launches round every global size up to its local size, and a local
 * size beyond the kernel's CL_KERNEL_WORK_GROUP_SIZE is shrunk to fit instead of failing. Uses
 * densecl_linear, whose work-items guard their index (n * cout): each dimension's extra items
 * return early, so the result is the same for any rounding. */
static void test_launch_nd(const test_env *e)
{
    float host[3] = {3.0f, 2.0f, 0.5f}, got = 0.0f;
    cl_int err;
    cl_mem m =
        clCreateBuffer(e->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof host, host, &err);
    cl_mem out = err == CL_SUCCESS
                     ? clCreateBuffer(e->ctx, CL_MEM_READ_WRITE, sizeof(float), NULL, &err)
                     : NULL;
    CHECKF(err == CL_SUCCESS, "clCreateBuffer: %s", dc_cl_error_name(err));
    if (err != CL_SUCCESS)
        goto done;
    dc_argset s = {e->k.linear, 0, CL_SUCCESS};
    dc_arg_mem(&s, (dc_mem){m, 0}, NULL);
    dc_arg_mem(&s, (dc_mem){m, 1}, NULL);
    dc_arg_mem(&s, (dc_mem){m, 2}, NULL);
    dc_arg_mem(&s, (dc_mem){out, 0}, NULL);
    dc_arg_int(&s, 1);
    dc_arg_int(&s, 1);
    dc_arg_int(&s, 1);
    dc_arg_int(&s, DC_FLAG_BIAS);
    CHECKF(s.err == CL_SUCCESS, "clSetKernelArg: %s", dc_cl_error_name(s.err));
    {
        const size_t items2[2] = {3, 5}, local2[2] = {2, 4};
        const size_t items3[3] = {1, 2, 3}, huge[3] = {1 << 12, 1 << 12, 1 << 12};
        size_t zero[1] = {0};
        dc_exec x;
        dc_exec_init(&x, e->q, 0);
        err = dc_launch_nd(&x, e->k.linear, 2, items2, local2);
        CHECKF(err == CL_SUCCESS, "2-D launch: %s", dc_cl_error_name(err));
        err = dc_launch_nd(&x, e->k.linear, 3, items3, huge);
        CHECKF(err == CL_SUCCESS, "3-D launch with a local size past the limit: %s",
               dc_cl_error_name(err));
        err = dc_launch_nd(&x, e->k.linear, 3, items3, NULL);
        CHECKF(err == CL_SUCCESS, "3-D launch, local chosen by the driver: %s",
               dc_cl_error_name(err));
        CHECK(dc_launch_nd(&x, e->k.linear, 1, zero, NULL) == CL_INVALID_GLOBAL_WORK_SIZE);
        CHECK(dc_launch_nd(&x, e->k.linear, 4, items3, NULL) == CL_INVALID_WORK_DIMENSION);
        /* Every launch went through x, which counted them. */
        CHECKF(x.launches == 3, "%d launches counted, want 3", x.launches);
        dc_exec_release(&x);
    }
    err = clEnqueueReadBuffer(e->q, out, CL_TRUE, 0, sizeof got, &got, 0, NULL, NULL);
    CHECKF(err == CL_SUCCESS && got == 6.5f, "launch_nd result %g (%s), want 6.5", got,
           dc_cl_error_name(err));
done:
    release_mem(m);
    release_mem(out);
}

/* dc_caps_query's work-group multiple on an OpenCL 3 device without a vendor's own query (POCL
 * among them): the device's CL_DEVICE_PREFERRED_WORK_GROUP_SIZE_MULTIPLE, whatever the length of
 * its version string (POCL 3.1's is 65 bytes; until 0.7.3 a 63-byte query failed on it and the
 * multiple was left unset). */
static void test_caps_wg_multiple(const test_env *e)
{
    char version[1024] = "";
    size_t len = 0, m = 0;
    cl_device_id dev = e->caps.dev;
    if (clGetDeviceInfo(dev, CL_DEVICE_VERSION, 0, NULL, &len) != CL_SUCCESS || len == 0 ||
        len > sizeof version ||
        clGetDeviceInfo(dev, CL_DEVICE_VERSION, len, version, NULL) != CL_SUCCESS) {
        CHECKF(0, "CL_DEVICE_VERSION could not be read");
        return;
    }
    printf("CL_DEVICE_VERSION (%zu bytes): %s\n", len, version);
    if (strncmp(version, "OpenCL 3.", 9) != 0 ||
        strstr(e->caps.extensions, "_device_attribute_query") ||
        (e->caps.type & CL_DEVICE_TYPE_GPU)) {
        printf("wg_multiple: not an OpenCL 3 device without a vendor query, not checked\n");
        return;
    }
    if (clGetDeviceInfo(dev, 0x1067 /* CL_DEVICE_PREFERRED_WORK_GROUP_SIZE_MULTIPLE */, sizeof m,
                        &m, NULL) != CL_SUCCESS ||
        m == 0 || m > 1024) {
        printf("wg_multiple: the device gives no multiple, not checked\n");
        return;
    }
    CHECKF(e->caps.wg_multiple == m, "caps.wg_multiple %u, the device's multiple %zu",
           e->caps.wg_multiple, m);
}

/* A program built with only some direct conv kernels (-DCONV_KERNELS, as engines build them):
 * creating a kernel the program lacks is an error that names it; a family state with only the
 * built ones refuses the others at launch. */
static void test_kernel_subset(const test_env *e)
{
    cl_program prog = NULL;
    dc_kernels k;
    densecl_status st;
    dc_params p = e->dp;
    void *state = NULL;
    cl_mem m;
    char defines[64];
    /* The 1x1 kernel's arguments follow STAGE (direct.c): build it as p says, without the pair
     * tiles. */
    snprintf(defines, sizeof defines, "-DCONV_KERNELS=1 -DCONV_STAGE=%d", p.v[DC_DIRECT_STAGE]);
    p.v[DC_DIRECT_PAIRS] = 0;
    st = dc_program_build(e->ctx, e->caps.dev, 1u, defines, &prog);
    CHECKF(st == DENSECL_OK, "build with %s: %s", defines, densecl_last_error());
    if (st != DENSECL_OK)
        return;
    p.v[DC_DIRECT_KERNELS] = DC_CONV_ALL;
    CHECK(dc_family_direct.create(prog, &e->caps, &p, &state) != DENSECL_OK && !state);
    CHECKF(strstr(densecl_last_error(), "densecl_conv3x3") != NULL, "%s", densecl_last_error());
    p.v[DC_DIRECT_KERNELS] = DC_CONV_1X1;
    st = dc_family_direct.create(prog, &e->caps, &p, &state);
    CHECKF(st == DENSECL_OK, "direct create: %s", densecl_last_error());
    if (st == DENSECL_OK)
        st = dc_kernels_create(prog, &k);
    clReleaseProgram(prog);
    if (st != DENSECL_OK) {
        dc_family_direct.release(state);
        return;
    }
    CHECK(k.maxpool && k.bnrelu_avgpool && k.bnrelu_gap && k.linear);
    m = dev_buffer(e->ctx, NULL, 4096, DC_TEST_SENTINEL);
    if (m) {
        dc_mem d = dev_mem(m), none = {NULL, 0};
        dc_conv_args c3 = {d, d, none, none, d, 1, 4, 4, 5, 5, 8, 8, 0, 5, 5, 3, 1, 1, 0};
        dc_conv_args c1 = c3;
        c1.k = 1;
        c1.pad = 0;
        CHECK(direct_conv(e, state, &p, &c3) == CL_INVALID_KERNEL);
        CHECK(direct_conv(e, state, &p, &c1) == CL_SUCCESS);
        clFinish(e->q);
        release_mem(m);
    }
    dc_family_direct.release(state);
    dc_kernels_release(&k);
}

/* A kernel file with a syntax error: the build fails with DENSECL_ERR_BUILD and the log names
 * the file and line (the #line markers), not a line of the concatenated program. The sources
 * are copied from src_dir into a temporary folder and read through DENSECL_KERNELS. */
static void test_build_log_lines(const test_env *e, const char *src_dir)
{
    static const char *const files[] = {"kernels.cl", "kernels/abi.h", "kernels/common.cl",
                                        "kernels/pool.cl", "kernels/direct.cl"};
    char dir[] = "/tmp/densecl-kernels-XXXXXX", path[4200], cmd[8600];
    cl_program prog = NULL;
    densecl_status st;
    int line = 0;
    if (!src_dir) {
        CHECKF(0, "test_ops needs the source folder as its argument (tests/device/device.cmake "
                  "gives it)");
        return;
    }
    if (!mkdtemp(dir)) {
        CHECKF(0, "mkdtemp failed");
        return;
    }
    snprintf(path, sizeof path, "%s/kernels", dir);
    CHECK(mkdir(path, 0700) == 0);
    for (size_t i = 0; i < DC_ARRAY_LEN(files); i++) {
        snprintf(cmd, sizeof cmd, "cp '%s/%s' '%s/%s'", src_dir, files[i], dir, files[i]);
        CHECKF(system(cmd) == 0, "%s", cmd);
    }
    /* Break pool.cl: a statement without its semicolon inside densecl_linear, at a line we
     * know: the line of "const int co = gid % cout;". */
    snprintf(path, sizeof path, "%s/kernels/pool.cl", dir);
    {
        FILE *f = fopen(path, "rb");
        char *text = NULL, *hit;
        long len = 0;
        if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (text = calloc((size_t)len + 1, 1)) && fread(text, 1, (size_t)len, f) == (size_t)len &&
            (hit = strstr(text, "const int co = gid % cout;")) != NULL) {
            line = 1;
            for (char *c = text; c < hit; c++)
                line += *c == '\n';
            hit[strlen("const int co = gid % cout")] = ' '; /* the semicolon goes */
        }
        if (f)
            fclose(f);
        f = line ? fopen(path, "wb") : NULL;
        CHECKF(f && fwrite(text, 1, (size_t)len, f) == (size_t)len, "rewriting %s", path);
        if (f)
            fclose(f);
        free(text);
    }
    snprintf(path, sizeof path, "%s/kernels.cl", dir);
    setenv("DENSECL_KERNELS", path, 1);
    st = dc_program_build(e->ctx, e->caps.dev, 1u, NULL, &prog);
    CHECKF(st == DENSECL_ERR_BUILD, "a kernel with a syntax error built (%s)",
           densecl_status_str(st));
    {
        char want[64];
        snprintf(want, sizeof want, "kernels/pool.cl:%d:", line);
        CHECKF(strstr(densecl_last_error(), want) != NULL, "build log does not point at %s:\n%s",
               want, densecl_last_error());
    }
    if (prog)
        clReleaseProgram(prog);
    /* A family's file that kernels.cl does not list is an error naming it. */
    {
        snprintf(cmd, sizeof cmd, "sed -i '/kernels\\/direct.cl/d' '%s/kernels.cl'", dir);
        CHECKF(system(cmd) == 0, "%s", cmd);
        st = dc_program_build(e->ctx, e->caps.dev, 1u, NULL, &prog);
        CHECKF(st == DENSECL_ERR_IO &&
                   strstr(densecl_last_error(), "does not list kernels/direct.cl"),
               "unlisted direct.cl: %s (%s)", densecl_status_str(st), densecl_last_error());
        if (st == DENSECL_OK)
            clReleaseProgram(prog);
        prog = NULL;
    }
    /* A file kernels.cl lists that is missing is an error, not an empty source. */
    snprintf(path, sizeof path, "%s/kernels/common.cl", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/kernels.cl", dir);
    st = dc_program_build(e->ctx, e->caps.dev, 1u, NULL, &prog);
    CHECKF(st == DENSECL_ERR_IO && strstr(densecl_last_error(), "kernels/common.cl"),
           "missing kernels/common.cl: %s (%s)", densecl_status_str(st), densecl_last_error());
    unsetenv("DENSECL_KERNELS");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* ------------------------------------------------------------------------ setup */

/* A context and queue on the default device; the common kernels and the direct family built
 * with its defaults for it. */
static int env_init(test_env *e)
{
    char defines[1024] = "";
    cl_program prog = NULL;
    densecl_status st;
    memset(e, 0, sizeof *e);
    e->label = "default build";
    cl_device_id dev = test_device_open(e->label, &e->caps, &e->ctx, &e->q);
    if (!dev)
        return 0;
    dc_family_direct.defaults(&e->caps, NULL, &e->dp);
    if (dc_family_direct.defines)
        dc_family_direct.defines(&e->dp, NULL, defines, sizeof defines);
    st = dc_program_build(e->ctx, dev, 1u, defines, &prog);
    CHECKF(st == DENSECL_OK, "kernels did not build [%s]: %s", e->label, densecl_last_error());
    if (st != DENSECL_OK)
        return 0;
    st = dc_kernels_create(prog, &e->k);
    CHECKF(st == DENSECL_OK, "dc_kernels_create: %s", densecl_last_error());
    if (st == DENSECL_OK) {
        st = dc_family_direct.create(prog, &e->caps, &e->dp, &e->direct);
        CHECKF(st == DENSECL_OK, "direct create [%s]: %s", e->label, densecl_last_error());
    }
    clReleaseProgram(prog); /* the kernels keep it */
    return st == DENSECL_OK;
}

static void env_free(test_env *e)
{
    if (e->direct)
        dc_family_direct.release(e->direct);
    dc_kernels_release(&e->k);
    if (e->q)
        clReleaseCommandQueue(e->q);
    if (e->ctx)
        clReleaseContext(e->ctx);
}

int main(int argc, char **argv)
{
    test_env e;
    if (env_init(&e)) {
        test_rejects(&e);
        test_launch_nd(&e);
        test_caps_wg_multiple(&e);
        test_kernel_subset(&e);
        test_build_log_lines(&e, argc > 1 ? argv[1] : NULL);

        for (size_t i = 0; i < DC_ARRAY_LEN(pool_cases); i++)
            run_pool(&e, &pool_cases[i], FILL_RANDOM);
        for (size_t i = 0; i < DC_ARRAY_LEN(special_pool_cases); i++)
            run_pool(&e, &special_pool_cases[i].c, special_pool_cases[i].fill);
        for (size_t i = 0; i < DC_ARRAY_LEN(linear_cases); i++)
            run_linear(&e, &linear_cases[i]);
        /* The GPU shapes of the pools and the classifier (an engine's on GPUs), here too. */
        {
            const char *label = e.label;
            e.k.gpu = 1;
            e.label = "GPU shapes";
            for (size_t i = 0; i < DC_ARRAY_LEN(pool_cases); i++)
                run_pool(&e, &pool_cases[i], FILL_RANDOM);
            for (size_t i = 0; i < DC_ARRAY_LEN(special_pool_cases); i++)
                run_pool(&e, &special_pool_cases[i].c, special_pool_cases[i].fill);
            for (size_t i = 0; i < DC_ARRAY_LEN(linear_cases); i++)
                run_linear(&e, &linear_cases[i]);
            e.k.gpu = 0;
            e.label = label;
        }
    }
    env_free(&e);
    return check_summary();
}
