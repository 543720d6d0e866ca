/* SPDX-License-Identifier: MIT */
/* random_init.c - seeded random weights for any config, the same on every platform: a
 * splitmix64 stream, and the log and cos of Box-Muller computed with basic arithmetic only. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

/* splitmix64: tiny, fast, and the same sequence everywhere. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* [0, 1) with 53 random bits. */
static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * 0x1p-53;
}

static double rng_uniform(uint64_t *s, double lo, double hi)
{
    double u = rng_unit(s);
    double span = hi - lo;
    double x = span * u;
    return lo + x;
}

/* log and cos from +, -, *, / and frexp only, one operation per statement (so that no compiler
 * contracts them into FMAs): libm's versions differ by an ulp between platforms, and the same
 * seed must give the same weights everywhere. The series multiply by reciprocals the compiler
 * computes (correctly rounded, so the same everywhere) instead of dividing, and stop where the
 * next term is below 1e-17 of the sum: DenseNet-121's 8M weights took about 1 s with divisions
 * and twice the terms. Accuracy far beyond what a random init needs. */
static const double det_inv_odd[12] = {1.0,      1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11,
                                       1.0 / 13, 1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23};
/* 1 / ((k + 1)(k + 2)) for k = 0..25: the ratio of consecutive Taylor terms of sin and cos. */
static const double det_inv_pair[26] = {
    1.0 / 2,   1.0 / 6,   1.0 / 12,  1.0 / 20,  1.0 / 30,  1.0 / 42,  1.0 / 56,
    1.0 / 72,  1.0 / 90,  1.0 / 110, 1.0 / 132, 1.0 / 156, 1.0 / 182, 1.0 / 210,
    1.0 / 240, 1.0 / 272, 1.0 / 306, 1.0 / 342, 1.0 / 380, 1.0 / 420, 1.0 / 462,
    1.0 / 506, 1.0 / 552, 1.0 / 600, 1.0 / 650, 1.0 / 702};

static double det_log(double x)
{
    int e;
    double m = frexp(x, &e); /* x = m * 2^e, m in [0.5, 1) */
    if (m < 0.70710678118654752) {
        m = m * 2.0;
        e = e - 1;
    }
    double z = (m - 1.0) / (m + 1.0); /* |z| < 0.172: atanh series converges fast */
    double z2 = z * z, term = z, sum = 0.0;
    /* z^2 < 0.0296: the 12th term is below 0.0296^11 / 23 < 1e-18 of the first. */
    for (int i = 0; i < 12; i++) {
        double q = term * det_inv_odd[i];
        sum = sum + q;
        term = term * z2;
    }
    double lnm = 2.0 * sum;
    double le = (double)e * 0.69314718055994531;
    return le + lnm;
}

/* sin(a) (odd = 1) or cos(a) (odd = 0) by Taylor series, for a in [0, pi/2). */
static double det_trig(double a, int odd)
{
    double a2 = a * a, term = odd ? a : 1.0, sum = 0.0;
    /* a < pi/2: the terms after a^25 / 25! (< 1e-20) do not change the sum. */
    for (int k = odd; k < 26; k += 2) {
        sum = sum + term;
        double t2 = term * a2;
        double t3 = t2 * det_inv_pair[k];
        term = -t3;
    }
    return sum;
}

/* cos(2 pi u) for u in [0, 1), reduced to a quadrant exactly. */
static double det_cos2pi(double u)
{
    double u4 = u * 4.0;
    int q = (int)u4;
    double f = u4 - (double)q;
    double a = f * 1.57079632679489662;
    switch (q) {
    case 0:
        return det_trig(a, 0);
    case 1:
        return -det_trig(a, 1);
    case 2:
        return -det_trig(a, 0);
    default:
        return det_trig(a, 1);
    }
}

/* Standard normal by Box-Muller (the cosine half). */
static double rng_normal(uint64_t *s)
{
    double u1 = (double)((rng_next(s) >> 11) + 1) * 0x1p-53; /* (0, 1]: log is finite */
    double u2 = rng_unit(s);
    double l = det_log(u1);
    double r = sqrt(-2.0 * l); /* sqrt is correctly rounded everywhere */
    double c = det_cos2pi(u2);
    return r * c;
}

static void rng_fill(uint64_t *s, const dc_tensor_spec *sp, double linear_bound, float *x,
                     size_t count)
{
    for (size_t i = 0; i < count; i++) {
        double v;
        if (sp->ndim == 4) {
            /* He-normal: std = sqrt(2 / fan_in), fan_in = cin * k * k. */
            double fan_in = (double)(sp->shape[1] * sp->shape[2] * sp->shape[3]);
            double sd = sqrt(2.0 / fan_in);
            double z = rng_normal(s);
            v = sd * z;
        } else if (sp->ndim == 2 || strncmp(sp->key, "classifier.", 11) == 0) {
            v = rng_uniform(s, -linear_bound, linear_bound);
        } else if (sp->role == DC_ROLE_WEIGHT || sp->role == DC_ROLE_RUNNING_VAR) {
            v = rng_uniform(s, 0.5, 1.5);
        } else {
            v = rng_uniform(s, -0.1, 0.1); /* BN bias, running mean */
        }
        x[i] = (float)v;
    }
}

densecl_status dc_random_tensors(const densecl_config *cfg, uint64_t seed, dc_tensor_set *out)
{
    densecl_status st;
    dc_tensor_spec *specs = NULL;
    dc_tensor_set set;
    uint64_t s = seed;
    int n = 0;
    memset(&set, 0, sizeof set);
    if ((st = dc_config_tensors(cfg, &specs, &n)) != DENSECL_OK)
        return st;
    double bound = 1.0 / sqrt((double)dc_block_out_channels(cfg, cfg->num_blocks - 1));
    if (!(set.t = calloc((size_t)(n ? n : 1), sizeof *set.t))) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory for random weights");
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        const dc_tensor_spec *sp = &specs[i];
        dc_tensor *t = &set.t[i];
        size_t count = 1;
        for (int d = 0; d < sp->ndim; d++)
            count *= (size_t)sp->shape[d]; /* a valid config's shapes are small */
        t->key = strdup(sp->key);
        t->data = malloc((count ? count : 1) * sizeof(float));
        set.count = i + 1;
        if (!t->key || !t->data) {
            st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory for random weights");
            goto fail;
        }
        t->dtype = DC_F32;
        t->ndim = sp->ndim;
        memcpy(t->shape, sp->shape, sizeof sp->shape);
        rng_fill(&s, sp, bound, t->data, count);
    }
    free(specs);
    *out = set;
    return DENSECL_OK;
fail:
    free(specs);
    dc_tensor_set_free(&set);
    return st;
}
