/* SPDX-License-Identifier: MIT */
/* conv_check.h - what the device tests (test_ops.c, test_families.c, test_conv_gemm.c,
 * test_conv_clblast.c) share: the default device opened, the xorshift data, guard-banded host and
 * device buffers, and the comparison of a device output with the naive reference (conv_run.h
 * runs a conv case on a family with them).
 *
 * Header-only, every function static inline: CHECKF counts into check.h's per-file counters,
 * so the checks made here must be compiled into the test that reports them (a separate .c would
 * count them in its own, unreported, counters). Unused ones cost nothing and raise no warning.
 *
 * Tolerance: |got - ref| <= 1e-5 + 1e-4 * |ref| for every written value (fp32 reordering against
 * a double reference); NaN or Inf in a written value is a failure, except in the cases that
 * plant them in the input (check_output_nonfinite): there the reference's NaN and Inf must come
 * out where it has them. Guard bands: a device buffer
 * is [DC_TEST_GUARD floats | tensor | DC_TEST_GUARD floats]; an output buffer starts as the
 * sentinel NaN everywhere, and wherever nothing may be written it must survive bit-exact; inputs
 * sit between poison NaNs, so a stray read poisons the result. */
#ifndef DENSECL_TEST_CONV_CHECK_H
#define DENSECL_TEST_CONV_CHECK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runtime/runtime.h"

/* The families under test, by name: host/ names them only in its registry (conv/registry.c). */
extern const dc_family dc_family_gemm;
extern const dc_family dc_family_clblast;
extern const dc_family dc_family_winograd;

#define DC_TEST_GUARD 37 /* odd: buffers start at unaligned offsets */
/* A multiple of 16 floats: for packed weights a family reads as vectors (the gemm family's, as
 * an engine places them), and for outputs a family may store as vectors where aligned. */
#define DC_TEST_GUARD_ALIGNED 48
#define DC_TEST_SENTINEL 0x7fc0deadu
#define DC_TEST_POISON 0x7fc0beefu
#define DC_TEST_MAX_REPORTS 3

static uint32_t rng_state = 12345u;

/* Restarts the data stream (each test has its own seed, so its data stay as they were). */
static inline void urand_seed(uint32_t seed)
{
    rng_state = seed;
}

/* Uniform in [lo, hi), xorshift32: the same data on every platform. */
static inline float urand(float lo, float hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return lo + (hi - lo) * (float)(rng_state >> 8) / 16777216.0f;
}

static inline float bits_float(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint32_t float_bits(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* The output size of a window of k at stride and pad over in pixels (conv, maxpool). */
static inline int window_out(int in, int k, int stride, int pad)
{
    return (in + 2 * pad - k) / stride + 1;
}

/* count floats of the bit pattern `fill`; exits 2 when the host is out of memory. */
static inline float *alloc_floats(size_t count, uint32_t fill)
{
    float *p = malloc((count ? count : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "out of host memory\n");
        exit(2);
    }
    for (size_t i = 0; i < count; i++)
        p[i] = bits_float(fill);
    return p;
}

static inline float *rand_floats(size_t count, float lo, float hi)
{
    float *p = alloc_floats(count, 0);
    for (size_t i = 0; i < count; i++)
        p[i] = urand(lo, hi);
    return p;
}

/* An NCHW tensor [n, ctot, h, w] of random values whose channels >= c (outside the read prefix)
 * are poison. */
static inline float *rand_tensor(int n, int ctot, int c, int h, int w)
{
    size_t plane = (size_t)h * w;
    float *p = rand_floats((size_t)n * ctot * plane, -1.0f, 1.0f);
    for (int i = 0; i < n; i++)
        for (int ch = c; ch < ctot; ch++)
            for (size_t j = 0; j < plane; j++)
                p[((size_t)i * ctot + ch) * plane + j] = bits_float(DC_TEST_POISON);
    return p;
}

/* BN+ReLU prologue parameters [2, c], scales then shifts; shifts lean positive so that P(0) != 0
 * mostly, which catches a conv that pads with P(0) instead of 0. */
static inline float *rand_pre(int c)
{
    float *p = alloc_floats(2 * (size_t)c, 0);
    for (int i = 0; i < c; i++) {
        p[i] = urand(0.5f, 1.5f);
        p[c + i] = urand(-0.2f, 0.8f);
    }
    return p;
}

/* Opens the default device, labelled label: its caps, a context and a queue. Returns the
 * device, or NULL after a failed check. */
static inline cl_device_id test_device_open(const char *label, dc_caps *caps, cl_context *ctx,
                                            cl_command_queue *q)
{
    cl_device_id dev;
    densecl_device_info info;
    cl_int err;
    densecl_status st = dc_device_pick("auto", &dev, &info);
    CHECKF(st == DENSECL_OK, "no OpenCL device: %s", densecl_last_error());
    if (st != DENSECL_OK)
        return NULL;
    printf("device: %s (%s), build: %s\n", info.name, info.opencl_c_version, label);
    CHECKF(dc_caps_query(dev, caps) == DENSECL_OK, "caps: %s", densecl_last_error());
    *ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    CHECKF(err == CL_SUCCESS, "clCreateContext: %s", dc_cl_error_name(err));
    if (err != CL_SUCCESS)
        return NULL;
    *q = clCreateCommandQueue(*ctx, dev, 0, &err);
    CHECKF(err == CL_SUCCESS, "clCreateCommandQueue: %s", dc_cl_error_name(err));
    return err == CL_SUCCESS ? dev : NULL;
}

/* A device buffer [guard | data | guard], the data at offset `guard` floats; the guards hold
 * `fill`, and so does the data when data is NULL. NULL (a failure) if it cannot be made. */
static inline cl_mem dev_buffer_at(cl_context ctx, const float *data, size_t count, uint32_t fill,
                                   size_t guard)
{
    size_t total = count + 2 * guard;
    float *host = alloc_floats(total, fill);
    cl_int err;
    cl_mem m;
    if (data)
        memcpy(host + guard, data, count * sizeof *data);
    m = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, total * sizeof *host, host,
                       &err);
    CHECKF(err == CL_SUCCESS, "clCreateBuffer(%zu floats): %s", total, dc_cl_error_name(err));
    free(host);
    return err == CL_SUCCESS ? m : NULL;
}

/* The same with guards of DC_TEST_GUARD floats. */
static inline cl_mem dev_buffer(cl_context ctx, const float *data, size_t count, uint32_t fill)
{
    return dev_buffer_at(ctx, data, count, fill, DC_TEST_GUARD);
}

/* The tensor of a dev_buffer_at() as the families take it. */
static inline dc_mem dev_mem_at(cl_mem m, size_t guard)
{
    dc_mem d = {m, m ? guard : 0};
    return d;
}

/* The tensor of a dev_buffer() as the families take it. */
static inline dc_mem dev_mem(cl_mem m)
{
    return dev_mem_at(m, DC_TEST_GUARD);
}

static inline void release_mem(cl_mem m)
{
    if (m)
        clReleaseMemObject(m);
}

/* The first `total` floats of m, after the queue is done; NULL (a failure) if the read fails.
 * label (NULL: none) goes into the message in brackets after `what`. */
static inline float *read_back(cl_command_queue q, const char *label, cl_mem m, size_t total,
                               const char *what)
{
    float *got = alloc_floats(total, 0);
    cl_int err = clEnqueueReadBuffer(q, m, CL_TRUE, 0, total * sizeof *got, got, 0, NULL, NULL);
    CHECKF(err == CL_SUCCESS, "%s%s%s%s: read: %s", what, label ? " [" : "", label ? label : "",
           label ? "]" : "", dc_cl_error_name(err));
    if (err != CL_SUCCESS) {
        free(got);
        return NULL;
    }
    return got;
}

/* Compares the output buffer [guard | count | guard] with `expect` [count], which holds the
 * sentinel wherever nothing may be written (the guards are sentinel too). One CHECK. label
 * (NULL: none) tells the build in the messages; guard: the floats of each guard band.
 * nonfinite 0: every written value must be finite and within the tolerance; 1 (inputs with
 * planted NaN and Inf): where the reference is NaN the output must be a NaN that is neither the
 * sentinel nor the poison (nothing unwritten, nothing read out of bounds), where it is +-inf the
 * same inf, elsewhere as with 0. */
static inline void check_output_guarded(cl_command_queue q, const char *label, const char *what,
                                        cl_mem out, const float *expect, size_t count, size_t guard,
                                        int nonfinite)
{
    size_t total = count + 2 * guard, bad = 0, first = 0;
    const char *lo = label ? " [" : "", *lb = label ? label : "", *lc = label ? "]" : "";
    float *got = read_back(q, label, out, total, what);
    if (!got)
        return;
    for (size_t i = 0; i < total; i++) {
        int in_tensor = i >= guard && i < guard + count;
        float want = in_tensor ? expect[i - guard] : bits_float(DC_TEST_SENTINEL);
        int ok;
        if (float_bits(want) == DC_TEST_SENTINEL)
            ok = float_bits(got[i]) == DC_TEST_SENTINEL;
        else if (nonfinite && isnan(want))
            ok = isnan(got[i]) && float_bits(got[i]) != DC_TEST_SENTINEL &&
                 float_bits(got[i]) != DC_TEST_POISON;
        else if (nonfinite && isinf(want))
            ok = got[i] == want;
        else
            ok = isfinite(got[i]) && fabs((double)got[i] - want) <= 1e-5 + 1e-4 * fabs(want);
        if (ok)
            continue;
        if (bad == 0)
            first = i;
        if (bad++ < DC_TEST_MAX_REPORTS)
            fprintf(stderr,
                    "  %s%s%s%s: float %zu (tensor index %td): got %.8g (0x%08x), want %.8g "
                    "(0x%08x)\n",
                    what, lo, lb, lc, i, (ptrdiff_t)i - (ptrdiff_t)guard, got[i],
                    (unsigned)float_bits(got[i]), want, (unsigned)float_bits(want));
    }
    CHECKF(bad == 0, "%s%s%s%s: %zu of %zu floats wrong, first at %zu", what, lo, lb, lc, bad,
           total, first);
    free(got);
}

/* check_output_guarded with guard bands of DC_TEST_GUARD floats. */
static inline void check_output_nonfinite(cl_command_queue q, const char *label, const char *what,
                                          cl_mem out, const float *expect, size_t count,
                                          int nonfinite)
{
    check_output_guarded(q, label, what, out, expect, count, DC_TEST_GUARD, nonfinite);
}

/* check_output_guarded without NaN or Inf anywhere in the result. */
static inline void check_output_at(cl_command_queue q, const char *label, const char *what,
                                   cl_mem out, const float *expect, size_t count, size_t guard)
{
    check_output_guarded(q, label, what, out, expect, count, guard, 0);
}

/* check_output_at with guard bands of DC_TEST_GUARD floats. */
static inline void check_output(cl_command_queue q, const char *label, const char *what, cl_mem out,
                                const float *expect, size_t count)
{
    check_output_at(q, label, what, out, expect, count, DC_TEST_GUARD);
}

#endif
