/* SPDX-License-Identifier: MIT */
/*
 * preprocess.c - decoded pixels into model input (densecl.h: densecl_image_to_input): resize,
 * centre crop, channel mapping and normalisation; what the preprocessing is (the metadata, what
 * is assumed without it, the caller's overrides) is preprocess_params.c's. Moved here from the CLI
 * (tools/inputs/) unchanged in its arithmetic, so that classify and embedding programs get the same
 * tensors bit for bit (tests/unit/test_image_to_input.c holds it to fixtures written before the
 * move).
 *
 * Resizing follows PIL's and torch's antialiased bilinear filter (torch's
 * _compute_indices_weights_aa): a triangle filter whose support grows with the shrink factor,
 * weights normalised per output pixel. Upscaling is then plain bilinear with edge clamping, and an
 * unchanged size is the identity, so one separable path serves every case.
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

/* ---------------------------------------------------------------------------------------------
 * Preprocessing: resampling
 * ------------------------------------------------------------------------------------------- */

/* Filter taps of a 1-D resize from n_in to n_out samples: output i reads inputs
 * start[i] .. start[i] + count[i] - 1 with weights w[off[i] ..]. start and start + count never
 * decrease with i, which the streaming vertical pass relies on. */
typedef struct taps {
    int *start, *count;
    size_t *off;
    float *w;
} taps;

static void taps_free(taps *t)
{
    free(t->start);
    free(t->count);
    free(t->off);
    free(t->w);
}

static int taps_make(int n_in, int n_out, taps *t)
{
    double scale = (double)n_in / n_out;
    double support = scale >= 1.0 ? scale : 1.0; /* bilinear's 1 pixel, widened to shrink */
    double inv = scale >= 1.0 ? 1.0 / scale : 1.0;
    size_t total = 0;
    memset(t, 0, sizeof(*t));
    t->start = malloc((size_t)n_out * sizeof(int));
    t->count = malloc((size_t)n_out * sizeof(int));
    t->off = malloc((size_t)n_out * sizeof(size_t));
    if (!t->start || !t->count || !t->off) {
        taps_free(t);
        return 0;
    }
    for (int i = 0; i < n_out; i++) {
        double center = scale * (i + 0.5);
        /* torch truncates toward zero; clamping at 0 makes that a floor */
        int lo = (int)(center - support + 0.5);
        int hi = (int)(center + support + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > n_in ? n_in : hi;
        t->start[i] = lo;
        t->count[i] = hi - lo;
        t->off[i] = total;
        total += (size_t)(hi - lo);
    }
    if (!(t->w = malloc((total ? total : 1) * sizeof(float)))) {
        taps_free(t);
        return 0;
    }
    for (int i = 0; i < n_out; i++) {
        double center = scale * (i + 0.5), sum = 0.0;
        float *w = t->w + t->off[i];
        for (int j = 0; j < t->count[i]; j++) {
            double x = fabs((j + t->start[i] - center + 0.5) * inv);
            w[j] = (float)(x < 1.0 ? 1.0 - x : 0.0);
            sum += w[j];
        }
        for (int j = 0; j < t->count[i] && sum > 0.0; j++) {
            w[j] = (float)(w[j] / sum);
        }
    }
    return 1;
}

/* Decoded pixels as densecl_image_to_input takes them, checked. */
typedef struct pixels {
    const unsigned char *data;
    size_t stride; /* bytes per row */
    int bits, width, height, channels;
} pixels;

/* Where rows come from: decoded pixels (converted to k channels on the fly) or float planes. */
typedef struct plane_src {
    const pixels *px;    /* or NULL: */
    const float *planes; /* [k, h, w] */
    int k, h, w;
} plane_src;

/* Sample i of a row. 16-bit samples are copied out, so the caller's buffer needs no alignment;
 * the products are the ones classify always computed (u * (1 / 65535.0f)). */
static float sample(const pixels *px, const unsigned char *row, size_t i)
{
    if (px->bits == 16) {
        uint16_t v;
        memcpy(&v, row + 2 * i, sizeof(v));
        return v * (1.0f / 65535.0f);
    }
    return row[i] * (1.0f / 255.0f);
}

/* Row y of every channel: row[c * w + x]. */
static void src_row(const plane_src *s, int y, float *row)
{
    size_t w = (size_t)s->w;
    if (!s->px) {
        for (int c = 0; c < s->k; c++) {
            memcpy(row + c * w, s->planes + ((size_t)c * (size_t)s->h + (size_t)y) * w,
                   w * sizeof(float));
        }
        return;
    }
    int nc = s->px->channels;
    const unsigned char *line = s->px->data + (size_t)y * s->px->stride;
    for (size_t x = 0; x < w; x++) {
        size_t i = x * (size_t)nc;
        if (nc <= 2) {
            row[x] = sample(s->px, line, i); /* grey (alpha dropped); k is 1 */
            continue;
        }
        float r = sample(s->px, line, i), g = sample(s->px, line, i + 1);
        float b = sample(s->px, line, i + 2);
        if (s->k == 1) {
            row[x] = 0.299f * r + 0.587f * g + 0.114f * b; /* ITU-R 601 luma, as PIL's "L" */
        } else {
            row[x] = r;
            row[w + x] = g;
            row[2 * w + x] = b;
        }
    }
}

/* Resamples s into out, [k, oh, ow]. Each input row is read once, filtered horizontally, and
 * added into the few output rows whose vertical taps use it, so memory stays at one row whatever
 * the image's shape. */
static densecl_status resample(const plane_src *s, int oh, int ow, float *out, const char *what)
{
    densecl_status st = DENSECL_OK;
    size_t k = (size_t)s->k, plane = (size_t)oh * (size_t)ow;
    taps th = {0}, tv = {0};
    float *row = malloc(k * (size_t)s->w * sizeof(float));
    float *hrow = malloc(k * (size_t)ow * sizeof(float));
    if (!row || !hrow || !taps_make(s->w, ow, &th) || !taps_make(s->h, oh, &tv)) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory resizing to %dx%d", what, ow, oh);
        goto done;
    }
    memset(out, 0, k * plane * sizeof(float));
    for (int y = 0, first = 0; y < s->h; y++) {
        while (first < oh && tv.start[first] + tv.count[first] <= y) {
            first++;
        }
        if (first == oh || tv.start[first] > y) {
            continue; /* no output row reads this one */
        }
        src_row(s, y, row);
        for (size_t c = 0; c < k; c++) {
            const float *in = row + c * (size_t)s->w;
            for (int x = 0; x < ow; x++) {
                const float *w = th.w + th.off[x], *p = in + th.start[x];
                float acc = 0.0f;
                for (int j = 0; j < th.count[x]; j++) {
                    acc += w[j] * p[j];
                }
                hrow[c * (size_t)ow + (size_t)x] = acc;
            }
        }
        for (int o = first; o < oh && tv.start[o] <= y; o++) {
            float wv = tv.w[tv.off[o] + (size_t)(y - tv.start[o])];
            for (size_t c = 0; c < k; c++) {
                float *dst = out + c * plane + (size_t)o * (size_t)ow;
                const float *src = hrow + c * (size_t)ow;
                for (int x = 0; x < ow; x++) {
                    dst[x] += wv * src[x];
                }
            }
        }
    }
done:
    taps_free(&th);
    taps_free(&tv);
    free(row);
    free(hrow);
    return st;
}

/* torchvision's centre offset: round((size - crop) / 2) with Python's round-half-to-even, or,
 * for a crop larger than the image, minus the left/top zero padding (crop - size) // 2. */
static int crop_offset(int size, int crop)
{
    if (crop > size) {
        return -((crop - size) / 2);
    }
    int d = size - crop, m = d / 2;
    return d % 2 == 0 || m % 2 == 0 ? m : m + 1;
}

/* The centre ch x cw window of s into out [k, ch, cw], zeros outside the image. */
static densecl_status crop_planes(const plane_src *s, int ch, int cw, float *out, const char *what)
{
    int top = crop_offset(s->h, ch), left = crop_offset(s->w, cw);
    size_t k = (size_t)s->k, plane = (size_t)ch * (size_t)cw;
    float *row = malloc(k * (size_t)s->w * sizeof(float));
    if (!row) {
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory cropping", what);
    }
    memset(out, 0, k * plane * sizeof(float));
    for (int y = 0; y < ch; y++) {
        int sy = y + top;
        if (sy < 0 || sy >= s->h) {
            continue;
        }
        src_row(s, sy, row);
        for (size_t c = 0; c < k; c++) {
            float *o = out + c * plane + (size_t)y * (size_t)cw;
            for (int x = 0; x < cw; x++) {
                int sx = x + left;
                if (sx >= 0 && sx < s->w) {
                    o[x] = row[c * (size_t)s->w + (size_t)sx];
                }
            }
        }
    }
    free(row);
    return DENSECL_OK;
}

/* The size after the resize step: shorter side to pp->resize (the longer one scaled and
 * truncated, as torchvision does), or the exact resize size, or unchanged. */
static densecl_status resize_size(const densecl_preprocess *pp, int h, int w, const char *what,
                                  int *rh, int *rw)
{
    int64_t oh = h, ow = w;
    if (pp->resize > 0) {
        if (w <= h) {
            ow = pp->resize;
            oh = (int64_t)pp->resize * h / w;
        } else {
            oh = pp->resize;
            ow = (int64_t)pp->resize * w / h;
        }
    } else if (pp->resize_height > 0) {
        oh = pp->resize_height;
        ow = pp->resize_width;
    } else {
        *rh = h;
        *rw = w;
        return DENSECL_OK;
    }
    if (oh < 1 || ow < 1 || oh > DENSECL_PREPROCESS_MAX_SIDE || ow > DENSECL_PREPROCESS_MAX_SIDE) {
        return dc_error(DENSECL_ERR_INPUT,
                        "%s: resizing the %dx%d image gives %lldx%lld, a side out of [1, %d]", what,
                        w, h, (long long)ow, (long long)oh, DENSECL_PREPROCESS_MAX_SIDE);
    }
    *rh = (int)oh;
    *rw = (int)ow;
    return DENSECL_OK;
}

/* Replaces *cur by h x w planes made from it (a crop, or a resample), owned through *owned. */
static densecl_status stage(plane_src *cur, float **owned, int h, int w, int crop, const char *what)
{
    float *next = malloc((size_t)cur->k * (size_t)h * (size_t)w * sizeof(float));
    if (!next) {
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory preprocessing", what);
    }
    densecl_status st = crop ? crop_planes(cur, h, w, next, what) : resample(cur, h, w, next, what);
    if (st != DENSECL_OK) {
        free(next);
        return st;
    }
    free(*owned);
    *owned = next;
    cur->px = NULL;
    cur->planes = next;
    cur->h = h;
    cur->w = w;
    return DENSECL_OK;
}

static densecl_status run(const densecl_preprocess *pp, const pixels *px, const char *what,
                          float *out)
{
    /* Channel conversion happens as pixels are read; grey stays one plane until the end. */
    int k = pp->channels == 1 || px->channels <= 2 ? 1 : 3;
    plane_src cur = {px, NULL, k, px->height, px->width};
    float *owned = NULL, *row = NULL;
    int rh = 0, rw = 0;
    densecl_status st = resize_size(pp, px->height, px->width, what, &rh, &rw);
    if (st == DENSECL_OK && (rh != cur.h || rw != cur.w)) {
        st = stage(&cur, &owned, rh, rw, 0, what);
    }
    int ch = pp->crop_height ? pp->crop_height : cur.h;
    int cw = pp->crop_width ? pp->crop_width : cur.w;
    if (st == DENSECL_OK && (ch != cur.h || cw != cur.w)) {
        st = stage(&cur, &owned, ch, cw, 1, what);
    }
    if (st == DENSECL_OK && (pp->height != cur.h || pp->width != cur.w)) {
        st = stage(&cur, &owned, pp->height, pp->width, 0, what);
    }
    if (st == DENSECL_OK && !(row = malloc((size_t)k * (size_t)cur.w * sizeof(float)))) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory preprocessing", what);
    }
    if (st != DENSECL_OK) {
        free(owned);
        return st;
    }
    /* Normalise, replicating grey into every channel the model has. */
    size_t w = (size_t)pp->width, hw = (size_t)pp->height * w;
    for (int y = 0; y < pp->height; y++) {
        src_row(&cur, y, row);
        for (int c = 0; c < pp->channels; c++) {
            const float *in = row + (k == 1 ? 0 : (size_t)c * w);
            float *o = out + (size_t)c * hw + (size_t)y * w;
            float mean = pp->mean[c], std = pp->std[c];
            for (size_t x = 0; x < w; x++) {
                o[x] = (in[x] - mean) / std;
            }
        }
    }
    free(row);
    free(owned);
    return DENSECL_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The public calls
 * ------------------------------------------------------------------------------------------- */

static int pp_in_side(int v, int zero_ok)
{
    return (zero_ok && v == 0) || (v >= 1 && v <= DENSECL_PREPROCESS_MAX_SIDE);
}

densecl_status dc_preprocess_check(const densecl_preprocess *pp, const char *fn)
{
    const int max = DENSECL_PREPROCESS_MAX_SIDE;
    if (pp->channels != 1 && pp->channels != 3) {
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: preprocessing channels %d, want 1 or 3", fn,
                        pp->channels);
    }
    if (!pp_in_side(pp->height, 0) || !pp_in_side(pp->width, 0)) {
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: preprocessing height x width %d x %d: each must be in [1, %d]", fn,
                        pp->height, pp->width, max);
    }
    if (!pp_in_side(pp->resize, 1) || !pp_in_side(pp->resize_height, 1) ||
        !pp_in_side(pp->resize_width, 1) || (pp->resize_height == 0) != (pp->resize_width == 0) ||
        (pp->resize && pp->resize_height)) {
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: preprocessing resize %d, resize_height x resize_width %d x %d: want "
                        "one of resize or both resize sides (each in [1, %d]), or all 0",
                        fn, pp->resize, pp->resize_height, pp->resize_width, max);
    }
    if (!pp_in_side(pp->crop_height, 1) || !pp_in_side(pp->crop_width, 1) ||
        (pp->crop_height == 0) != (pp->crop_width == 0)) {
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: preprocessing crop %d x %d: want both in [1, %d], or both 0", fn,
                        pp->crop_height, pp->crop_width, max);
    }
    for (int c = 0; c < pp->channels; c++) {
        if (!isfinite(pp->mean[c]) || !(isnormal(pp->std[c]) && pp->std[c] > 0.0f)) {
            return dc_error(DENSECL_ERR_ARGUMENT,
                            "%s: preprocessing channel %d: mean %g must be finite and std %g "
                            "normal and positive",
                            fn, c, (double)pp->mean[c], (double)pp->std[c]);
        }
    }
    return DENSECL_OK;
}

densecl_status densecl_image_to_input(const densecl_preprocess *pp, const void *pixels_, int width,
                                      int height, int channels, int bits, size_t row_stride,
                                      float *out)
{
    static const char fn[] = "densecl_image_to_input";
    size_t row, span;
    if (!pp || !pixels_ || !out) {
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: NULL %s", fn,
                        !pp        ? "preprocessing"
                        : !pixels_ ? "pixels"
                                   : "output");
    }
    densecl_status st = dc_preprocess_check(pp, fn);
    if (st != DENSECL_OK) {
        return st;
    }
    if (width < 1 || height < 1) {
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: image of %d x %d pixels", fn, width, height);
    }
    if (channels < 1 || channels > 4) {
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: %d channels, want 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA)", fn,
                        channels);
    }
    if (bits != 8 && bits != 16) {
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: %d bits per sample, want 8 or 16", fn, bits);
    }
    /* The bytes the rows span: (height - 1) strides and one row, every product checked. */
    if (!dc_mul_size((size_t)width, (size_t)channels * (size_t)(bits / 8), &row)) {
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: a row of %d pixels overflows size_t", fn, width);
    }
    /* The resize works on rows of up to 4 channels of floats: they must fit size_t too. */
    size_t float_row;
    if (!dc_mul_size((size_t)width, 4 * sizeof(float), &float_row)) {
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: a row of %d pixels overflows size_t", fn, width);
    }
    if (row_stride == 0) {
        row_stride = row;
    } else if (row_stride < row) {
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: row stride %zu bytes is shorter than a row (%d pixels x %d channels x "
                        "%d bytes = %zu)",
                        fn, row_stride, width, channels, bits / 8, row);
    }
    if (!dc_mul_size(row_stride, (size_t)height - 1, &span) || span > SIZE_MAX - row) {
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: %d rows of %zu bytes overflow size_t", fn,
                        height, row_stride);
    }
    pixels px = {pixels_, row_stride, bits, width, height, channels};
    return run(pp, &px, "preprocessing", out);
}
