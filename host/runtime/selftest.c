/* SPDX-License-Identifier: MIT */
/*
 * selftest.c - densecl_device_selftest: what densecl-query reports about a device beyond its
 * properties. The kernels are built as the engine builds them (dc_resolve, dc_program_build), a
 * few small convs run through the direct family's enqueue and are compared with a naive host
 * loop, and the benchmarks time a conv, a copy, the smallest launch and a whole model. Living in
 * the library, the check follows every change of the launchers and families with them.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/runtime.h"

#define DC_ST_LOG_LINES 40 /* build-log lines kept */
#define DC_ST_CONV_CASES DENSECL_SELFTEST_CASES

static double dc_st_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int dc_st_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n); sorts v. */
static double dc_st_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, dc_st_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* 2.1e-07 -> "2e-7": one significant digit, no exponent padding. */
static void dc_st_err_str(double e, char *out, size_t cap)
{
    int exp, mant;
    if (!(e > 0.0) || !isfinite(e)) {
        snprintf(out, cap, "%g", e);
        return;
    }
    exp = (int)floor(log10(e));
    mant = (int)lround(e / pow(10.0, exp));
    if (mant >= 10) {
        mant = 1;
        exp++;
    }
    snprintf(out, cap, "%de%d", mant, exp);
}

/* The first max_lines lines of text, malloc'ed ("... (N more lines)" marks a cut). */
char *dc_head_lines(const char *text, int max_lines)
{
    const char *p = text;
    int lines = 0, more = 0;
    size_t keep;
    char *out;
    while (*p && lines < max_lines) {
        const char *nl = strchr(p, '\n');
        lines++;
        p = nl ? nl + 1 : p + strlen(p);
    }
    keep = (size_t)(p - text);
    for (const char *r = p; *r; r++)
        more += *r == '\n' || r[1] == '\0';
    out = malloc(keep + 48);
    if (!out)
        return NULL;
    memcpy(out, text, keep);
    out[keep] = '\0';
    while (keep > 0 && (out[keep - 1] == '\n' || out[keep - 1] == '\r'))
        out[--keep] = '\0';
    if (more > 0)
        snprintf(out + keep, 48, "\n... (%d more lines)", more);
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * The convolution check: densecl_conv2d against a few lines of naive C
 * ------------------------------------------------------------------------------------------- */

typedef struct dc_st_conv_case {
    const char *what;
    int n, cin, in_ctot, h, w, cout, out_ctot, out_coff, k, stride, pad, relu, bias, pre;
} dc_st_conv_case;

static const dc_st_conv_case dc_st_conv_cases[DC_ST_CONV_CASES] = {
    /* a dense layer's 3x3: BN+ReLU prologue, bias, its k channels written at an offset, and
     * input channels past cin that must not be read */
    {"3x3 13->7 11x9", 2, 13, 15, 11, 9, 7, 12, 3, 3, 1, 1, 0, 1, 1},
    /* a bottleneck 1x1 (the flat path): prologue, bias, ReLU, channels not a multiple of 8 */
    {"1x1 19->21 7x5", 1, 19, 20, 7, 5, 21, 23, 2, 1, 1, 0, 1, 1, 1},
    /* the stem's 7x7/2 on odd sizes, no prologue */
    {"7x7/2 3->10 13x11", 1, 3, 3, 13, 11, 10, 10, 0, 7, 2, 3, 1, 1, 0},
};

#define DC_ST_GUARD 64            /* floats after the output that must stay untouched */
#define DC_ST_SENTINEL (-7777.0f) /* output values outside the written channels */
#define DC_ST_UNREAD 1e30f        /* input channels past cin: any use shows in the result */
#define DC_ST_ALIGN 16            /* parameter blocks on 64-byte boundaries, as host/replica.c */

static size_t dc_st_align(size_t n)
{
    return (n + DC_ST_ALIGN - 1) / DC_ST_ALIGN * DC_ST_ALIGN;
}

/* Deterministic values in [-1, 1). */
static float dc_st_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

/* Naive reference, in double: [n, in_ctot, h, w] -> [n, cout, oh, ow]. Zero padding applies to
 * the prologue's output, as in PyTorch's BN-ReLU-conv. */
static void dc_st_conv_ref(const dc_st_conv_case *c, const float *in, const float *w,
                           const float *bias, const float *pre, int oh, int ow, double *out)
{
    for (int n = 0; n < c->n; n++)
        for (int co = 0; co < c->cout; co++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double s = c->bias ? bias[co] : 0.0;
                    for (int ci = 0; ci < c->cin; ci++)
                        for (int ky = 0; ky < c->k; ky++)
                            for (int kx = 0; kx < c->k; kx++) {
                                int y = oy * c->stride - c->pad + ky;
                                int x = ox * c->stride - c->pad + kx;
                                double v;
                                if (y < 0 || y >= c->h || x < 0 || x >= c->w)
                                    continue;
                                v = in[(((size_t)n * c->in_ctot + ci) * c->h + y) * c->w + x];
                                if (c->pre) {
                                    v = v * pre[ci] + pre[c->cin + ci];
                                    v = v > 0.0 ? v : 0.0;
                                }
                                s += v * w[(((size_t)co * c->cin + ci) * c->k + ky) * c->k + kx];
                            }
                    if (c->relu && s < 0.0)
                        s = 0.0;
                    out[(((size_t)n * c->cout + co) * oh + oy) * ow + ox] = s;
                }
}

/* The kernels a check runs: the common ones and the direct conv family's, built for the device
 * as compile-kernels resolves it (every conv kind, the device's tiles). */
typedef struct dc_st_kern {
    dc_kernels k;
    void *conv;  /* dc_family_direct's state */
    dc_params p; /* its parameters */
} dc_st_kern;

/* w packed as k's direct kernel for a conv of window ksz, stride and pad reads it; out NULL:
 * the length. */
static size_t dc_st_pack(const dc_st_kern *k, const float *w, int cout, int cin, int ksz,
                         int stride, int pad, float *out)
{
    return dc_direct_weight_pack(&k->p, dc_conv_kind_of(ksz, stride, pad, 1), w, cout, cin, ksz,
                                 out);
}

static cl_int dc_st_enqueue_conv(cl_command_queue q, const dc_st_kern *k, const dc_conv_args *a)
{
    dc_mem none = {NULL, 0};
    return dc_conv_enqueue(&dc_family_direct, q, k->conv, &k->p, a, none, NULL);
}

/* Runs one case; 1 if correct. *max_err is raised to its largest absolute error; msg says what
 * went wrong. */
static int dc_st_conv_case_run(cl_context ctx, cl_command_queue q, const dc_st_kern *k,
                               const dc_st_conv_case *c, double *max_err, char *msg, size_t cap)
{
    const int oh = (c->h + 2 * c->pad - c->k) / c->stride + 1;
    const int ow = (c->w + 2 * c->pad - c->k) / c->stride + 1;
    const size_t n_in = (size_t)c->n * c->in_ctot * c->h * c->w;
    const size_t n_w = (size_t)c->cout * c->cin * c->k * c->k;
    const size_t n_res = (size_t)c->n * c->out_ctot * oh * ow;
    const size_t n_out = n_res + DC_ST_GUARD;
    const size_t packed = dc_st_pack(k, NULL, c->cout, c->cin, c->k, c->stride, c->pad, NULL);
    const size_t off_b = dc_st_align(packed), off_p = dc_st_align(off_b + (size_t)c->cout);
    const size_t n_par = off_p + 2 * (size_t)c->cin;
    float *in = malloc(n_in * sizeof *in), *w = malloc(n_w * sizeof *w);
    float *par = calloc(n_par, sizeof *par), *out = malloc(n_out * sizeof *out);
    double *ref = malloc((size_t)c->n * c->cout * oh * ow * sizeof *ref);
    cl_mem m_in = NULL, m_par = NULL, m_out = NULL;
    cl_int err = CL_SUCCESS;
    uint32_t seed = 12345u + (uint32_t)c->cin * 31u + (uint32_t)c->k;
    double err_here = 0.0;
    int ok = 0;
    if (!in || !w || !par || !out || !ref || packed == 0) {
        snprintf(msg, cap, "%s: out of host memory", c->what);
        goto done;
    }
    for (size_t i = 0; i < n_in; i++) {
        int ch = (int)(i / ((size_t)c->h * c->w) % (size_t)c->in_ctot);
        in[i] = ch < c->cin ? dc_st_rand(&seed) : DC_ST_UNREAD;
    }
    for (size_t i = 0; i < n_w; i++)
        w[i] = dc_st_rand(&seed) / sqrtf((float)(c->cin * c->k * c->k));
    dc_st_pack(k, w, c->cout, c->cin, c->k, c->stride, c->pad, par);
    for (int i = 0; i < c->cout; i++)
        par[off_b + (size_t)i] = 0.5f * dc_st_rand(&seed);
    for (int i = 0; i < c->cin; i++) {
        par[off_p + (size_t)i] = 1.0f + 0.5f * dc_st_rand(&seed);
        par[off_p + (size_t)c->cin + (size_t)i] = 0.5f * dc_st_rand(&seed);
    }
    for (size_t i = 0; i < n_out; i++)
        out[i] = DC_ST_SENTINEL;
    dc_st_conv_ref(c, in, w, par + off_b, par + off_p, oh, ow, ref);

    m_in =
        clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n_in * sizeof *in, in, &err);
    if (err == CL_SUCCESS)
        m_par = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n_par * sizeof *par,
                               par, &err);
    if (err == CL_SUCCESS)
        m_out = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, n_out * sizeof *out,
                               out, &err);
    if (err != CL_SUCCESS) {
        snprintf(msg, cap, "%s: clCreateBuffer failed: %s", c->what, dc_cl_error_name(err));
        goto done;
    }
    {
        dc_conv_args a = {.in = {m_in, 0},
                          .weight = {m_par, 0},
                          .bias = {c->bias ? m_par : NULL, c->bias ? off_b : 0},
                          .pre = {c->pre ? m_par : NULL, c->pre ? off_p : 0},
                          .out = {m_out, 0},
                          .n = c->n,
                          .cin = c->cin,
                          .in_ctot = c->in_ctot,
                          .in_h = c->h,
                          .in_w = c->w,
                          .cout = c->cout,
                          .out_ctot = c->out_ctot,
                          .out_coff = c->out_coff,
                          .out_h = oh,
                          .out_w = ow,
                          .k = c->k,
                          .stride = c->stride,
                          .pad = c->pad,
                          .relu = c->relu};
        err = dc_st_enqueue_conv(q, k, &a);
        if (err != CL_SUCCESS) {
            snprintf(msg, cap, "%s: enqueueing densecl_conv2d failed: %s", c->what,
                     dc_cl_error_name(err));
            goto done;
        }
    }
    err = clEnqueueReadBuffer(q, m_out, CL_TRUE, 0, n_out * sizeof *out, out, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        snprintf(msg, cap, "%s: reading the result failed: %s", c->what, dc_cl_error_name(err));
        goto done;
    }
    for (size_t i = 0; i < n_out; i++) {
        size_t pix = i % ((size_t)oh * ow);
        int ch = (int)(i / ((size_t)oh * ow) % (size_t)c->out_ctot);
        int n = (int)(i / ((size_t)oh * ow * c->out_ctot));
        int mine = i < n_res && ch >= c->out_coff && ch < c->out_coff + c->cout;
        if (!mine) {
            if (out[i] != DC_ST_SENTINEL) {
                snprintf(msg, cap, "%s: wrote outside its output (%s float %zu)", c->what,
                         i < n_res ? "channel" : "guard band after",
                         i < n_res ? (size_t)ch : i - n_res);
                goto done;
            }
            continue;
        }
        {
            double want = ref[((size_t)n * c->cout + (size_t)(ch - c->out_coff)) * oh * ow + pix];
            double got = out[i], d = fabs(got - want);
            if (!(d <= 1e-4 + 1e-4 * fabs(want))) {
                snprintf(msg, cap, "%s: wrong result at [%d, %d, %zu, %zu]: %g, want %g", c->what,
                         n, ch, pix / (size_t)ow, pix % (size_t)ow, got, want);
                goto done;
            }
            if (d > err_here)
                err_here = d;
        }
    }
    {
        char e[32];
        dc_st_err_str(err_here, e, sizeof e);
        snprintf(msg, cap, "%s: ok (max err %s)", c->what, e);
    }
    if (err_here > *max_err)
        *max_err = err_here;
    ok = 1;
done:
    if (m_in)
        clReleaseMemObject(m_in);
    if (m_par)
        clReleaseMemObject(m_par);
    if (m_out)
        clReleaseMemObject(m_out);
    free(in);
    free(w);
    free(par);
    free(out);
    free(ref);
    return ok;
}

static void dc_st_conv_check(densecl_selftest *d, cl_context ctx, cl_command_queue q,
                             const dc_st_kern *k)
{
    d->conv_ok = 1;
    d->conv_max_abs_err = 0.0;
    for (int i = 0; i < DC_ST_CONV_CASES; i++) {
        if (!dc_st_conv_case_run(ctx, q, k, &dc_st_conv_cases[i], &d->conv_max_abs_err,
                                 d->conv_cases[i], sizeof d->conv_cases[i])) {
            d->conv_ok = 0;
            snprintf(d->conv_detail, sizeof d->conv_detail, "FAILED: %s", d->conv_cases[i]);
            for (int j = i + 1; j < DC_ST_CONV_CASES; j++)
                snprintf(d->conv_cases[j], sizeof d->conv_cases[j], "%s: not run",
                         dc_st_conv_cases[j].what);
            return;
        }
    }
    {
        char e[32];
        dc_st_err_str(d->conv_max_abs_err, e, sizeof e);
        snprintf(d->conv_detail, sizeof d->conv_detail, "ok (max err %s)", e);
    }
}

/* ---------------------------------------------------------------------------------------------
 * --bench: GFLOP/s, bandwidth, launch latency, DenseNet-121 images/s
 * ------------------------------------------------------------------------------------------- */

#define DC_ST_RUNS 5         /* timed runs of the conv and the copy, after one warm-up */
#define DC_ST_LAUNCH_RUNS 31 /* timed tiny launches, after a few warm-ups */
#define DC_ST_MODEL_RUNS 3   /* timed DenseNet-121 images, after one warm-up */
#define DC_ST_COPY_BYTES ((size_t)64 << 20)

static void dc_st_bench_fail(densecl_selftest *b, const char *what, cl_int err)
{
    if (!b->bench_error[0])
        snprintf(b->bench_error, sizeof b->bench_error, "%s failed: %s", what,
                 dc_cl_error_name(err));
}

/* A 1x1 conv of 256 -> 128 channels at 56x56 with the BN+ReLU prologue, bias and ReLU: the
 * shape of DenseNet-121's block-2 bottlenecks, i.e. its typical GEMM. */
static void dc_st_bench_conv(densecl_selftest *b, cl_context ctx, cl_command_queue q,
                             const dc_st_kern *k)
{
    enum { CIN = 256, COUT = 128, HW = 56 };
    const size_t n_in = (size_t)CIN * HW * HW, n_out = (size_t)COUT * HW * HW;
    const size_t packed = dc_st_pack(k, NULL, COUT, CIN, 1, 1, 0, NULL);
    const size_t off_b = dc_st_align(packed), off_p = dc_st_align(off_b + COUT);
    const size_t n_par = off_p + 2 * CIN;
    float *in = malloc(n_in * sizeof *in), *w = malloc((size_t)COUT * CIN * sizeof *w);
    float *par = calloc(n_par, sizeof *par);
    cl_mem m_in = NULL, m_par = NULL, m_out = NULL;
    cl_int err = CL_SUCCESS;
    uint32_t seed = 7u;
    double t[DC_ST_RUNS];
    if (!in || !w || !par) {
        snprintf(b->bench_error, sizeof b->bench_error, "conv benchmark: out of host memory");
        goto done;
    }
    for (size_t i = 0; i < n_in; i++)
        in[i] = dc_st_rand(&seed);
    for (size_t i = 0; i < (size_t)COUT * CIN; i++)
        w[i] = dc_st_rand(&seed) * 0.0625f;
    dc_st_pack(k, w, COUT, CIN, 1, 1, 0, par);
    for (size_t i = 0; i < COUT; i++)
        par[off_b + i] = 0.1f * dc_st_rand(&seed);
    for (size_t i = 0; i < CIN; i++) {
        par[off_p + i] = 1.0f;
        par[off_p + CIN + i] = 0.25f * dc_st_rand(&seed);
    }
    m_in =
        clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n_in * sizeof *in, in, &err);
    if (err == CL_SUCCESS)
        m_par = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n_par * sizeof *par,
                               par, &err);
    if (err == CL_SUCCESS)
        m_out = clCreateBuffer(ctx, CL_MEM_READ_WRITE, n_out * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) {
        dc_st_bench_fail(b, "conv benchmark: clCreateBuffer", err);
        goto done;
    }
    for (int r = -1; r < DC_ST_RUNS; r++) {
        /* [1, 256, 56, 56] -> [1, 128, 56, 56], 1x1/1/0 */
        dc_conv_args a = {.in = {m_in, 0},
                          .weight = {m_par, 0},
                          .bias = {m_par, off_b},
                          .pre = {m_par, off_p},
                          .out = {m_out, 0},
                          .n = 1,
                          .cin = CIN,
                          .in_ctot = CIN,
                          .in_h = HW,
                          .in_w = HW,
                          .cout = COUT,
                          .out_ctot = COUT,
                          .out_coff = 0,
                          .out_h = HW,
                          .out_w = HW,
                          .k = 1,
                          .stride = 1,
                          .pad = 0,
                          .relu = 1};
        double t0 = dc_st_now();
        err = dc_st_enqueue_conv(q, k, &a);
        if (err == CL_SUCCESS)
            err = clFinish(q);
        if (err != CL_SUCCESS) {
            dc_st_bench_fail(b, "conv benchmark: densecl_conv2d", err);
            goto done;
        }
        if (r >= 0)
            t[r] = dc_st_now() - t0;
    }
    b->conv_ms = dc_st_median(t, DC_ST_RUNS) * 1e3;
    b->gflops = 2.0 * CIN * COUT * HW * HW / (b->conv_ms * 1e-3) / 1e9;
done:
    if (m_in)
        clReleaseMemObject(m_in);
    if (m_par)
        clReleaseMemObject(m_par);
    if (m_out)
        clReleaseMemObject(m_out);
    free(in);
    free(w);
    free(par);
}

/* clEnqueueCopyBuffer of up to 64 MiB: it reads and writes every byte, hence 2 x bytes. */
static void dc_st_bench_copy(densecl_selftest *b, const densecl_device_info *info, cl_context ctx,
                             cl_command_queue q)
{
    size_t bytes = DC_ST_COPY_BYTES;
    cl_mem src = NULL, dst = NULL;
    cl_int err = CL_SUCCESS;
    const cl_float zero = 0.0f;
    double t[DC_ST_RUNS];
    if (info->max_alloc_bytes / 2 < bytes)
        bytes = (size_t)(info->max_alloc_bytes / 2);
    if (info->global_mem_bytes / 8 < bytes)
        bytes = (size_t)(info->global_mem_bytes / 8);
    bytes = bytes / 4096 * 4096;
    if (bytes == 0) {
        snprintf(b->bench_error, sizeof b->bench_error,
                 "copy benchmark: the device has too little memory");
        return;
    }
    src = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err == CL_SUCCESS)
        dst = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        dc_st_bench_fail(b, "copy benchmark: clCreateBuffer", err);
        goto done;
    }
    /* Touch both first, so that no run pays for first-use page allocation. */
    err = clEnqueueFillBuffer(q, src, &zero, sizeof zero, 0, bytes, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clEnqueueFillBuffer(q, dst, &zero, sizeof zero, 0, bytes, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clFinish(q);
    if (err != CL_SUCCESS) {
        dc_st_bench_fail(b, "copy benchmark: clEnqueueFillBuffer", err);
        goto done;
    }
    for (int r = -1; r < DC_ST_RUNS; r++) {
        double t0 = dc_st_now();
        err = clEnqueueCopyBuffer(q, src, dst, 0, 0, bytes, 0, NULL, NULL);
        if (err == CL_SUCCESS)
            err = clFinish(q);
        if (err != CL_SUCCESS) {
            dc_st_bench_fail(b, "copy benchmark: clEnqueueCopyBuffer", err);
            goto done;
        }
        if (r >= 0)
            t[r] = dc_st_now() - t0;
    }
    b->copy_bytes = bytes;
    b->copy_ms = dc_st_median(t, DC_ST_RUNS) * 1e3;
    b->bandwidth_gbs = 2.0 * (double)bytes / (b->copy_ms * 1e-3) / 1e9;
done:
    if (src)
        clReleaseMemObject(src);
    if (dst)
        clReleaseMemObject(dst);
}

/* Enqueue + clFinish of densecl_linear with n = cin = cout = 1: what one op costs at least. */
static void dc_st_bench_launch(densecl_selftest *b, cl_context ctx, cl_command_queue q,
                               const dc_st_kern *k)
{
    float host[4] = {1.0f, 2.0f, 0.5f, 0.0f};
    cl_mem m = NULL, out = NULL;
    cl_int err = CL_SUCCESS;
    double t[DC_ST_LAUNCH_RUNS];
    m = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof host, host, &err);
    if (err == CL_SUCCESS)
        out = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sizeof host, NULL, &err);
    if (err != CL_SUCCESS) {
        dc_st_bench_fail(b, "launch benchmark: clCreateBuffer", err);
        goto done;
    }
    for (int r = -3; r < DC_ST_LAUNCH_RUNS; r++) {
        /* in = host[0], weight = host[1], bias = host[2] */
        dc_linear_args a = {.in = {m, 0},
                            .weight = {m, 1},
                            .bias = {m, 2},
                            .out = {out, 0},
                            .n = 1,
                            .cin = 1,
                            .cout = 1};
        double t0 = dc_st_now();
        err = dc_enqueue_linear(q, &k->k, &a, NULL);
        if (err == CL_SUCCESS)
            err = clFinish(q);
        if (err != CL_SUCCESS) {
            dc_st_bench_fail(b, "launch benchmark: densecl_linear", err);
            goto done;
        }
        if (r >= 0)
            t[r] = dc_st_now() - t0;
    }
    b->launch_latency_us = dc_st_median(t, DC_ST_LAUNCH_RUNS) * 1e6;
done:
    if (m)
        clReleaseMemObject(m);
    if (out)
        clReleaseMemObject(out);
}

/* DenseNet-121 at 224x224, batch 1, through the public API with the device's spec, as a user
 * would run it: one warm-up image, then the median of DC_ST_MODEL_RUNS. */
static void dc_st_bench_model(densecl_selftest *b, const char *spec, const densecl_weights *w)
{
    const densecl_config *cfg = densecl_weights_config(w);
    const size_t image = (size_t)cfg->in_channels * 224 * 224;
    float *x = malloc(image * sizeof *x);
    float *logits = malloc((size_t)cfg->num_classes * sizeof *logits);
    densecl_engine *e = NULL;
    densecl_status st;
    uint32_t seed = 99u;
    double t[DC_ST_MODEL_RUNS];
    if (!x || !logits) {
        snprintf(b->bench_error, sizeof b->bench_error,
                 "DenseNet-121 benchmark: out of host memory");
        goto done;
    }
    for (size_t i = 0; i < image; i++)
        x[i] = dc_st_rand(&seed);
    st = densecl_engine_create(w, spec, &e);
    for (int r = -1; st == DENSECL_OK && r < DC_ST_MODEL_RUNS; r++) {
        double t0 = dc_st_now();
        st = densecl_engine_run(e, x, 1, cfg->in_channels, 224, 224, logits);
        if (r >= 0)
            t[r] = dc_st_now() - t0;
    }
    if (st != DENSECL_OK) {
        if (!b->bench_error[0])
            snprintf(b->bench_error, sizeof b->bench_error, "DenseNet-121 benchmark: %s",
                     densecl_last_error()[0] ? densecl_last_error() : densecl_status_str(st));
        goto done;
    }
    b->model_ms = dc_st_median(t, DC_ST_MODEL_RUNS) * 1e3;
    b->images_per_s = 1e3 / b->model_ms;
done:
    densecl_engine_free(e);
    free(x);
    free(logits);
}

/* ---------------------------------------------------------------------------------------------
 * The public call: context, build, check, bench
 * ------------------------------------------------------------------------------------------- */

densecl_status densecl_device_selftest(const char *device_spec, int bench,
                                       const densecl_weights *model, densecl_selftest *d)
{
    cl_context ctx = NULL;
    cl_command_queue q = NULL;
    cl_program prog = NULL;
    cl_device_id dev = NULL;
    densecl_device_info info;
    dc_st_kern k;
    dc_caps caps;
    dc_resolved res;
    cl_int err = CL_SUCCESS;
    densecl_status st;
    if (!d)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_device_selftest: out is NULL");
    memset(d, 0, sizeof *d);
    d->bench_runs = DC_ST_RUNS;
    d->launch_runs = DC_ST_LAUNCH_RUNS;
    d->model_runs = DC_ST_MODEL_RUNS;
    st = dc_device_pick(device_spec, &dev, &info);
    if (st != DENSECL_OK)
        return st;
    memset(&k, 0, sizeof k);
    ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    if (err == CL_SUCCESS)
        q = clCreateCommandQueue(ctx, dev, 0, &err);
    if (err != CL_SUCCESS) {
        snprintf(d->build_log, sizeof d->build_log, "%s failed: %s",
                 ctx ? "clCreateCommandQueue" : "clCreateContext", dc_cl_error_name(err));
        snprintf(d->conv_detail, sizeof d->conv_detail, "not run: no context");
        goto done;
    }
    {
        /* The direct family, with every conv kind and the device's tiles, as compile-kernels
         * resolves it. */
        dc_choice direct = {"direct", NULL, {0, 0, 0, 0}, NULL};
        st = dc_caps_query(dev, &caps);
        if (st == DENSECL_OK)
            st = dc_resolve(&caps, NULL, &direct, &res);
    }
    if (st == DENSECL_OK) {
        k.p = res.params[0];
        st = dc_program_build(ctx, dev, res.files, res.defines, &prog);
    }
    if (st == DENSECL_OK)
        st = dc_kernels_create(prog, &k.k);
    if (st == DENSECL_OK)
        st = dc_family_direct.create(prog, &caps, &k.p, &k.conv);
    if (st != DENSECL_OK) {
        const char *detail = densecl_last_error();
        char *head = dc_head_lines(detail[0] ? detail : densecl_status_str(st), DC_ST_LOG_LINES);
        snprintf(d->build_log, sizeof d->build_log, "%s", head ? head : detail);
        free(head);
        snprintf(d->conv_detail, sizeof d->conv_detail, "not run: the kernels did not build");
        goto done;
    }
    d->build_ok = 1;
    {
        /* The conv kernel's own (the direct family's state keeps its kernels to itself). */
        cl_kernel conv = clCreateKernel(prog, "densecl_conv2d", &err);
        if (err != CL_SUCCESS ||
            clGetKernelWorkGroupInfo(conv, dev, CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE,
                                     sizeof d->preferred_multiple, &d->preferred_multiple,
                                     NULL) != CL_SUCCESS)
            d->preferred_multiple = 0;
        if (err == CL_SUCCESS)
            clReleaseKernel(conv);
        err = CL_SUCCESS;
    }
    dc_st_conv_check(d, ctx, q, &k);
    if (bench && d->conv_ok) {
        d->bench_ran = 1;
        dc_st_bench_conv(d, ctx, q, &k);
        dc_st_bench_copy(d, &info, ctx, q);
        dc_st_bench_launch(d, ctx, q, &k);
    }
done:
    dc_kernels_release(&k.k);
    if (k.conv)
        dc_family_direct.release(k.conv);
    if (prog)
        clReleaseProgram(prog);
    if (q)
        clReleaseCommandQueue(q);
    if (ctx)
        clReleaseContext(ctx);
    /* The model has its own context (densecl_engine_create with the spec); this one is gone. */
    if (bench && d->conv_ok && model)
        dc_st_bench_model(d, device_spec, model);
    return DENSECL_OK;
}
