/* SPDX-License-Identifier: MIT */
/* conv_run.h - the one conv case runner of the conv tests (test_families.c over the registry,
 * test_conv_gemm.c over its parameter sets, test_conv_clblast.c): a case's random input,
 * weights, bias and prologue; the weights packed by the family's own pack(); guard-banded
 * device buffers; the conv enqueued through the family's vtable, as an engine does; the output
 * compared with the naive reference ref_conv2d (tests/support/ref_ops.c).
 *
 * Header-only for the reason conv_check.h gives (its CHECKFs count in the file that includes
 * it). Tolerance, guard bands, sentinel and poison are conv_check.h's. A case in place reads
 * [0, cin) of the buffer it writes [out_coff, out_coff + cout) of, and every channel it does not
 * write must come out as it went in. The winograd family also reports its error per shape and
 * is held to 1e-4 x max |ref| (issue 12). */
#ifndef DENSECL_TEST_CONV_RUN_H
#define DENSECL_TEST_CONV_RUN_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "conv_check.h"
#include "ref_ops.h"
#include "runtime/runtime.h"

/* One conv: [n, in_ctot, h, w] read over channels [0, cin), written at [out_coff, out_coff +
 * cout) of [n, out_ctot, oh, ow]. */
typedef struct conv_case {
    int n, cin, in_ctot, h, w;
    int cout, out_ctot, out_coff;
    int k, stride, pad;
    int pre, bias, relu;
    int inplace; /* in and out are one buffer: read [0, cin), write [out_coff, out_coff + cout) */
    const char *why;
} conv_case;

/* One family to run cases on, and how. */
typedef struct conv_run {
    const dc_family *fam;
    const dc_params *p; /* the parameters state was created with */
    void *state;        /* the family's, from its create() */
    const dc_caps *caps;
    cl_context ctx;
    cl_command_queue q;
    const char *label; /* the build or parameter set, for messages (NULL: none) */
    size_t oguard;     /* floats in each guard band of the output (0: DC_TEST_GUARD) */
    int must_support;  /* 1: a case the family does not support is a failure; 0: skipped */
    int ws_sentinel;   /* 1: the workspace starts as the sentinel and its guards must keep it;
                          0: it starts as poison */
    int wait_event;    /* 1: ask for the op's event, and wait on it before reading the output */
    int ran, with_ws;  /* out: cases run, and those of them with a workspace */
} conv_run;

/* The plan op of a case, for the families' supports(), pack() and workspace(). */
static inline dc_op conv_case_op(const conv_case *c)
{
    dc_op op;
    memset(&op, 0, sizeof op);
    op.kind = DC_OP_CONV;
    snprintf(op.name, sizeof op.name, "test.conv");
    if (c->pre)
        snprintf(op.pre_bn, sizeof op.pre_bn, "test.norm");
    op.in_buf = 0;
    op.in_ctot = c->in_ctot;
    op.in_c = c->cin;
    op.in_h = c->h;
    op.in_w = c->w;
    op.out_buf = c->inplace ? 0 : 1;
    op.out_ctot = c->out_ctot;
    op.out_coff = c->out_coff;
    op.out_c = c->cout;
    op.out_h = window_out(c->h, c->k, c->stride, c->pad);
    op.out_w = window_out(c->w, c->k, c->stride, c->pad);
    op.k = c->k;
    op.stride = c->stride;
    op.pad = c->pad;
    op.relu = c->relu;
    op.has_bias = c->bias;
    op.macs = (uint64_t)c->n * op.out_h * op.out_w * c->cout * c->cin * c->k * c->k;
    return op;
}

/* The guards of a workspace of `count` floats (a dev_buffer of the sentinel) still hold the
 * sentinel: nothing was written past what workspace() reported. */
static inline void check_ws_guards(cl_command_queue q, const char *what, cl_mem m, size_t count)
{
    size_t total = count + 2 * DC_TEST_GUARD, bad = 0;
    float *got = read_back(q, NULL, m, total, what);
    if (!got)
        return;
    for (size_t i = 0; i < DC_TEST_GUARD; i++)
        bad += (float_bits(got[i]) != DC_TEST_SENTINEL) +
               (float_bits(got[DC_TEST_GUARD + count + i]) != DC_TEST_SENTINEL);
    CHECKF(bad == 0, "%s: %zu workspace guard floats overwritten", what, bad);
    free(got);
}

/* The winograd family's error report (issue 12): per shape, the largest |got - ref| over the
 * written values against the reference's double sums, and its ratio to the largest |ref|,
 * which must stay within 1e-4 (F(2x2, 3x3) reorders and transforms the sums; the element-wise
 * check holds it to 1e-5 + 1e-4 * |ref| as well). */
static inline void conv_wino_report(const conv_run *r, const conv_case *c, cl_mem d_out,
                                    const float *expect, size_t count, size_t guard)
{
    float *got = read_back(r->q, r->label, d_out, count + 2 * guard, "winograd report");
    double max_err = 0, max_ref = 0;
    if (!got)
        return;
    const size_t plane = (size_t)window_out(c->h, c->k, c->stride, c->pad) *
                         (size_t)window_out(c->w, c->k, c->stride, c->pad);
    for (size_t i = 0; i < count; i++) {
        const int ch = (int)(i / plane % (size_t)c->out_ctot);
        if (ch < c->out_coff || ch >= c->out_coff + c->cout)
            continue; /* not written by the conv */
        double err = fabs((double)got[guard + i] - expect[i]);
        if (!(err <= max_err))
            max_err = err; /* NaN too */
        if (fabs(expect[i]) > max_ref)
            max_ref = fabs(expect[i]);
    }
    printf("winograd error [%s]: n%d %d(%d)x%dx%d -> %d at %d of %d%s: max |err| %.3g, "
           "max |ref| %.3g, ratio %.3g (bar 1e-4)\n",
           r->label ? r->label : "", c->n, c->cin, c->in_ctot, c->h, c->w, c->cout, c->out_coff,
           c->out_ctot, c->pre ? " +pre" : "", max_err, max_ref,
           max_ref > 0 ? max_err / max_ref : max_err);
    CHECKF(max_err <= 1e-4 * max_ref, "winograd %s: max error %.3g above 1e-4 x max |ref| %.3g",
           c->why, max_err, max_ref);
    free(got);
}

/* Enqueues the case on r's family and compares; returns 1 if it ran, 0 if the family does not
 * support it (a failure with r->must_support). */
static inline int conv_run_case(conv_run *r, const conv_case *c)
{
    const dc_family *fam = r->fam;
    const dc_op op = conv_case_op(c);
    const int oh = op.out_h, ow = op.out_w;
    const size_t oguard = r->oguard ? r->oguard : DC_TEST_GUARD;
    const size_t in_count = (size_t)c->n * c->in_ctot * c->h * c->w;
    const size_t w_count = (size_t)c->cout * c->cin * c->k * c->k;
    const size_t out_count = (size_t)c->n * c->out_ctot * oh * ow;
    const float wscale = 1.0f / sqrtf((float)(c->cin * c->k * c->k));
    /* The gemm family reads its packed weights as vectors: at an aligned offset, as an engine
     * places them (it refuses others); the other families at an odd one. */
    const size_t wguard = fam == &dc_family_gemm ? DC_TEST_GUARD_ALIGNED : DC_TEST_GUARD;
    char what[240], where[40] = "", why[256] = "";
    cl_mem d_in, d_w, d_bias = NULL, d_pre = NULL, d_out, d_ws = NULL;
    cl_event ev = NULL;
    cl_int err;

    if (oguard != DC_TEST_GUARD)
        snprintf(where, sizeof where, ", output at %zu", oguard);
    snprintf(what, sizeof what, "%s conv %dx%d/%d/%d n%d %d(%d)x%dx%d -> %d at %d of %d (%s)%s",
             fam->name, c->k, c->k, c->stride, c->pad, c->n, c->cin, c->in_ctot, c->h, c->w,
             c->cout, c->out_coff, c->out_ctot, c->why, where);
    if (!fam->supports(r->caps, &op, why, sizeof why)) {
        if (r->must_support)
            CHECKF(0, "%s [%s]: not supported: %s", what, r->label ? r->label : "", why);
        return 0;
    }
    r->ran++;
    /* Drawn in this order, after supports(): each test's data stay as they were. */
    float *in = rand_tensor(c->n, c->in_ctot, c->cin, c->h, c->w);
    float *w = rand_floats(w_count, -wscale, wscale);
    float *bias = c->bias ? rand_floats((size_t)c->cout, -0.5f, 0.5f) : NULL;
    float *pre = c->pre ? rand_pre(c->cin) : NULL;
    const size_t packed_len = fam->pack(&op, r->p, w, NULL);
    const size_t ws_len = fam->workspace ? fam->workspace(&op, c->n, r->p) : 0;
    float *packed = alloc_floats(packed_len, 0);
    float *expect = alloc_floats(out_count, DC_TEST_SENTINEL);

    CHECKF(packed_len > 0 && fam->pack(&op, r->p, w, packed) == packed_len, "%s: pack", what);
    ref_conv2d(&(ref_conv_args){in, w, bias, pre, expect, c->n, c->cin, c->in_ctot, c->h, c->w,
                                c->cout, c->out_ctot, c->out_coff, oh, ow, c->k, c->stride, c->pad,
                                c->relu});
    if (c->inplace) {
        /* One buffer holds the input prefix and, everywhere else, the sentinel; the channels
         * read must come out unchanged. */
        for (size_t i = 0; i < out_count; i++) {
            if (float_bits(expect[i]) != DC_TEST_SENTINEL)
                continue; /* written by the conv */
            if (float_bits(in[i]) == DC_TEST_POISON)
                in[i] = bits_float(DC_TEST_SENTINEL); /* past the prefix: must stay */
            expect[i] = in[i];
        }
        d_out = dev_buffer_at(r->ctx, in, out_count, DC_TEST_SENTINEL, oguard);
        d_in = d_out;
        if (d_in)
            clRetainMemObject(d_in);
    } else {
        d_in = dev_buffer(r->ctx, in, in_count, DC_TEST_POISON);
        d_out = dev_buffer_at(r->ctx, NULL, out_count, DC_TEST_SENTINEL, oguard);
    }
    d_w = dev_buffer_at(r->ctx, packed, packed_len, DC_TEST_POISON, wguard);
    if (bias)
        d_bias = dev_buffer(r->ctx, bias, (size_t)c->cout, DC_TEST_POISON);
    if (pre)
        d_pre = dev_buffer(r->ctx, pre, 2 * (size_t)c->cin, DC_TEST_POISON);
    if (ws_len)
        d_ws = dev_buffer(r->ctx, NULL, ws_len, r->ws_sentinel ? DC_TEST_SENTINEL : DC_TEST_POISON);
    r->with_ws += ws_len > 0;
    if (d_in && d_w && d_out && (!bias || d_bias) && (!pre || d_pre) && (!ws_len || d_ws)) {
        dc_conv_args a = {c->inplace ? dev_mem_at(d_in, oguard) : dev_mem(d_in),
                          dev_mem_at(d_w, wguard),
                          dev_mem(d_bias),
                          dev_mem(d_pre),
                          dev_mem_at(d_out, oguard),
                          c->n,
                          c->cin,
                          c->in_ctot,
                          c->h,
                          c->w,
                          c->cout,
                          c->out_ctot,
                          c->out_coff,
                          oh,
                          ow,
                          c->k,
                          c->stride,
                          c->pad,
                          c->relu};
        err = dc_conv_enqueue(fam, r->q, r->state, r->p, &a, dev_mem(d_ws),
                              r->wait_event ? &ev : NULL);
        CHECKF(err == CL_SUCCESS, "%s [%s]: enqueue: %s (%s)", what, r->label ? r->label : "",
               dc_cl_error_name(err), densecl_last_error());
        if (err == CL_SUCCESS && r->wait_event) {
            /* The returned event is the op's: once it is complete, so is the output. */
            CHECKF(ev != NULL, "%s: no event", what);
            if (ev) {
                err = clWaitForEvents(1, &ev);
                CHECKF(err == CL_SUCCESS, "%s: wait: %s", what, dc_cl_error_name(err));
                clReleaseEvent(ev);
            }
        }
        if (err == CL_SUCCESS) {
            check_output_at(r->q, r->label, what, d_out, expect, out_count, oguard);
            if (d_ws && r->ws_sentinel)
                check_ws_guards(r->q, what, d_ws, ws_len);
            if (fam == &dc_family_winograd)
                conv_wino_report(r, c, d_out, expect, out_count, oguard);
        }
    }
    release_mem(d_in);
    release_mem(d_w);
    release_mem(d_bias);
    release_mem(d_pre);
    release_mem(d_out);
    release_mem(d_ws);
    free(in);
    free(w);
    free(bias);
    free(pre);
    free(packed);
    free(expect);
    return 1;
}

#endif
