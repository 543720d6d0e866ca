/* SPDX-License-Identifier: MIT */
/*
 * preprocess.c - decoded pixels into model input (densecl.h: densecl_weights_preprocess,
 * densecl_image_to_input): the "densecl.preprocess" metadata, resize, centre crop, channel
 * mapping and normalisation. Moved here from the CLI (tools/inputs/) unchanged in its arithmetic,
 * so that classify and embedding programs get the same tensors bit for bit
 * (tests/unit/test_image_to_input.c holds it to fixtures written before the move).
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

void dc_preprocess_imagenet(densecl_preprocess *out)
{
    static const float mean[3] = {0.485f, 0.456f, 0.406f};
    static const float std[3] = {0.229f, 0.224f, 0.225f};
    memset(out, 0, sizeof(*out));
    out->channels = 3;
    out->height = out->width = 224;
    out->resize = 256;
    out->crop_height = out->crop_width = 224;
    memcpy(out->mean, mean, sizeof(mean));
    memcpy(out->std, std, sizeof(std));
    out->source = DENSECL_PREPROCESS_IMAGENET;
}

/* An integer side in [1, DENSECL_PREPROCESS_MAX_SIDE]. */
static int pp_side(const dc_json *j, int *out)
{
    if (!dc_json_is_integer(j) || j->number < 1 || j->number > DENSECL_PREPROCESS_MAX_SIDE) {
        return 0;
    }
    *out = (int)j->number;
    return 1;
}

/* key: absent/null (sizes left 0), an int (h = w = it, *single = 1) or [h, w]. */
static densecl_status pp_size(const dc_json *root, const char *key, const char *what,
                              const char *src, int *h, int *w, int *single)
{
    const dc_json *j = dc_json_get(root, key);
    *h = *w = 0;
    *single = 0;
    if (!j || j->type == DC_JSON_NULL) {
        return DENSECL_OK;
    }
    if (pp_side(j, h)) {
        *w = *h;
        *single = 1;
        return DENSECL_OK;
    }
    if (j->type == DC_JSON_ARRAY && j->count == 2 && pp_side(&j->items[0], h) &&
        pp_side(&j->items[1], w)) {
        return DENSECL_OK;
    }
    *h = *w = 0;
    return dc_error(DENSECL_ERR_FORMAT,
                    "%s: %s: \"%s\" must be null, an integer or [height, width] in [1, %d]", what,
                    src, key, DENSECL_PREPROCESS_MAX_SIDE);
}

/* mean or std: absent (fill), a number, or an array of 1 or `channels` numbers. */
static densecl_status pp_vector(const dc_json *root, const char *key, int channels, float fill,
                                const char *what, const char *src, float *out)
{
    const dc_json *j = dc_json_get(root, key);
    for (int c = 0; c < 3; c++) {
        out[c] = fill;
    }
    if (!j || j->type == DC_JSON_NULL) { /* null means the default, as for every other key */
        return DENSECL_OK;
    }
    const dc_json *items = j;
    int count = 1;
    if (j->type == DC_JSON_ARRAY) {
        items = j->items;
        count = j->count;
    }
    if (count != 1 && count != channels) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: %s: \"%s\" has %d values for %d channels", what,
                        src, key, count, channels);
    }
    /* The range is checked on the float that is used, not on the double that was parsed: 6.7e95
     * is a finite double but +Inf as a float, and 1e-300 is above 0 but 0.0f as a float. */
    int is_std = strcmp(key, "std") == 0;
    for (int c = 0; c < channels; c++) {
        const dc_json *v = &items[count == 1 ? 0 : c];
        if (v->type != DC_JSON_NUMBER) {
            return dc_error(DENSECL_ERR_FORMAT, "%s: %s: \"%s\" must hold numbers", what, src, key);
        }
        float f = (float)v->number;
        if (is_std ? !(isnormal(f) && f > 0.0f) : !isfinite(f)) {
            return dc_error(DENSECL_ERR_FORMAT, "%s: %s: \"%s\" value %.9g is not %s", what, src,
                            key, v->number,
                            is_std ? "a normal positive float (above 1.2e-38, below 3.4e38)"
                                   : "a finite float (within +-3.4e38)");
        }
        out[c] = f;
    }
    return DENSECL_OK;
}

/* What an object of densecl.preprocess's keys set (pp_apply). */
typedef struct pp_given {
    int size;      /* height/width or crop: the input size */
    int mean, std; /* each given */
    int any;       /* any key at all */
} pp_given;

/* Applies the members of root, an object of densecl.preprocess's keys, onto out: each key present
 * replaces its fields (null: no resize or crop; mean 0, std 1), the others stay. src names the
 * object in messages ("densecl.preprocess"). out->channels is the model's. */
static densecl_status pp_apply(const dc_json *root, const densecl_config *cfg, const char *what,
                               const char *src, densecl_preprocess *out, pp_given *given)
{
    densecl_status st;
    int single, h, w;
    const dc_json *j;
    memset(given, 0, sizeof(*given));
    if (root->type != DC_JSON_OBJECT) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: %s is not a JSON object", what, src);
    }
    given->any = root->count > 0;
    out->channels = cfg->in_channels;
    if ((j = dc_json_get(root, "channels")) && j->type != DC_JSON_NULL) {
        if (j->type != DC_JSON_NUMBER || j->number != cfg->in_channels) {
            return dc_error(DENSECL_ERR_MISMATCH, "%s: %s gives %g channels, the model has %d",
                            what, src, j->type == DC_JSON_NUMBER ? j->number : -1.0,
                            cfg->in_channels);
        }
    }
    if (out->channels != 1 && out->channels != 3) {
        return dc_error(DENSECL_ERR_UNSUPPORTED,
                        "%s: the model takes %d channels; images can only feed 1- or 3-channel "
                        "models (pass preprocessed .npy input instead)",
                        what, out->channels);
    }
    if ((j = dc_json_get(root, "interpolation")) && j->type != DC_JSON_NULL &&
        (j->type != DC_JSON_STRING || strcmp(j->string, "bilinear") != 0)) {
        return dc_error(DENSECL_ERR_UNSUPPORTED,
                        "%s: %s: only \"bilinear\" interpolation is supported", what, src);
    }
    if (dc_json_get(root, "resize")) {
        if ((st = pp_size(root, "resize", what, src, &h, &w, &single)) != DENSECL_OK) {
            return st;
        }
        out->resize = single ? h : 0;
        out->resize_height = single ? 0 : h;
        out->resize_width = single ? 0 : w;
    }
    if (dc_json_get(root, "crop")) {
        st = pp_size(root, "crop", what, src, &out->crop_height, &out->crop_width, &single);
        if (st != DENSECL_OK) {
            return st;
        }
        given->size = 1;
    }
    const dc_json *jh = dc_json_get(root, "height"), *jw = dc_json_get(root, "width");
    int have_h = jh && jh->type != DC_JSON_NULL, have_w = jw && jw->type != DC_JSON_NULL;
    if (have_h != have_w || (have_h && (!pp_side(jh, &h) || !pp_side(jw, &w)))) {
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: %s: \"height\" and \"width\" must both be integers in [1, %d] or "
                        "both be absent",
                        what, src, DENSECL_PREPROCESS_MAX_SIDE);
    }
    if (have_h) {
        out->height = h;
        out->width = w;
        given->size = 1;
    }
    float v[3];
    if ((given->mean = dc_json_get(root, "mean") != NULL)) {
        if ((st = pp_vector(root, "mean", out->channels, 0.0f, what, src, v)) != DENSECL_OK) {
            return st;
        }
        memcpy(out->mean, v, sizeof(v));
    }
    if ((given->std = dc_json_get(root, "std") != NULL)) {
        if ((st = pp_vector(root, "std", out->channels, 1.0f, what, src, v)) != DENSECL_OK) {
            return st;
        }
        memcpy(out->std, v, sizeof(v));
    }
    return DENSECL_OK;
}

/* Without height and width, the input is the crop, else the exact resize. */
static void pp_derive_size(densecl_preprocess *pp)
{
    if (pp->height == 0) {
        pp->height = pp->crop_height ? pp->crop_height : pp->resize_height;
        pp->width = pp->crop_width ? pp->crop_width : pp->resize_width;
    }
}

static densecl_status pp_fields(const dc_json *root, const densecl_config *cfg, const char *what,
                                densecl_preprocess *out)
{
    static const char src[] = "densecl.preprocess";
    pp_given given;
    for (int c = 0; c < 3; c++) {
        out->std[c] = 1.0f;
    }
    densecl_status st = pp_apply(root, cfg, what, src, out, &given);
    if (st != DENSECL_OK) {
        return st;
    }
    pp_derive_size(out);
    if (out->height == 0) {
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: densecl.preprocess gives neither height/width nor a crop size, so "
                        "the model's input size is unknown",
                        what);
    }
    return DENSECL_OK;
}

densecl_status dc_preprocess_parse(const char *json, const densecl_config *cfg, const char *what,
                                   densecl_preprocess *out)
{
    dc_json root;
    char where[512];
    memset(out, 0, sizeof(*out));
    snprintf(where, sizeof(where), "%s: densecl.preprocess", what);
    densecl_status st = dc_json_parse(json, strlen(json), where, &root);
    if (st != DENSECL_OK) {
        return st;
    }
    st = pp_fields(&root, cfg, what, out);
    dc_json_free(&root);
    return st;
}

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

/* ---------------------------------------------------------------------------------------------
 * The preprocessing of a weights file, with the caller's overrides
 * ------------------------------------------------------------------------------------------- */

int dc_input_decl_hw(const dc_input_decl *in, int *h, int *w)
{
    *h = *w = 0;
    if (in->ndim != 4) {
        return 0;
    }
    *h = in->dims[2] > 0 ? (int)in->dims[2] : 0;
    *w = in->dims[3] > 0 ? (int)in->dims[3] : 0;
    return *h > 0 || *w > 0;
}

int dc_input_decl_mismatch(const dc_input_decl *in, int h, int w, char *msg, size_t cap)
{
    int dh, dw;
    if (!dc_input_decl_hw(in, &dh, &dw) || ((!dh || dh == h) && (!dw || dw == w))) {
        return 0;
    }
    /* "'input' [?, 3, 48, 48]: index: 2 Got: 64 Expected: 48", ONNX Runtime's words */
    size_t n = (size_t)snprintf(msg, cap, "'%s' [", in->name);
    for (int d = 0; d < in->ndim && n < cap; d++) {
        if (in->dims[d] > 0) {
            n +=
                (size_t)snprintf(msg + n, cap - n, "%s%lld", d ? ", " : "", (long long)in->dims[d]);
        } else {
            n += (size_t)snprintf(msg + n, cap - n, "%s?", d ? ", " : "");
        }
    }
    if (n < cap) {
        n += (size_t)snprintf(msg + n, cap - n, "]:");
    }
    if (dh && dh != h && n < cap) {
        n += (size_t)snprintf(msg + n, cap - n, " index: 2 Got: %d Expected: %d", h, dh);
    }
    if (dw && dw != w && n < cap) {
        snprintf(msg + n, cap - n, "%s index: 3 Got: %d Expected: %d", dh && dh != h ? ";" : "", w,
                 dw);
    }
    return 1;
}

/* The preprocessing assumed for weights without "densecl.preprocess": the input size the ONNX
 * graph declares (resized to it, shorter side first, and centre-cropped, when square; resized to
 * exactly it otherwise), or for a 3-channel ImageNet-stem model that declares nothing else,
 * torchvision's ImageNet resize 256 / crop 224; ImageNet's mean and std for 3 channels. A size
 * or mean/std it cannot assume is left 0 and said in *size_from / *stats (0: none). */
static void pp_assumed(const densecl_weights *w, densecl_preprocess *pp, int *size_from, int *stats)
{
    const densecl_config *cfg = &w->cfg;
    int dh, dw;
    int declared = dc_input_decl_hw(&w->tensors.input, &dh, &dw) && dh > 0 && dw > 0;
    dc_preprocess_imagenet(pp); /* mean, std; sizes decided below */
    pp->channels = cfg->in_channels;
    *stats = cfg->in_channels == 3;
    if (!*stats) {
        for (int c = 0; c < 3; c++) {
            pp->mean[c] = 0.0f;
            pp->std[c] = 1.0f;
        }
    }
    if (cfg->stem == DENSECL_STEM_IMAGENET && cfg->in_channels == 3 &&
        (!declared || (dh == 224 && dw == 224))) {
        *size_from = DENSECL_PREPROCESS_IMAGENET;
        return;
    }
    pp->resize = pp->crop_height = pp->crop_width = pp->height = pp->width = 0;
    *size_from = 0;
    if (declared) {
        pp->height = dh;
        pp->width = dw;
        if (dh == dw) {
            pp->resize = dh;
            pp->crop_height = pp->crop_width = dh;
        } else {
            pp->resize_height = dh;
            pp->resize_width = dw;
        }
        *size_from = DENSECL_PREPROCESS_ONNX_INPUT;
    }
}

/* The overrides: a JSON object of densecl.preprocess's keys, none other. */
static densecl_status pp_overrides(const char *text, const char *what, dc_json *out)
{
    static const char *const keys[] = {"height", "width", "channels", "resize",
                                       "crop",   "mean",  "std",      "interpolation"};
    char where[512];
    snprintf(where, sizeof(where), "%s: the preprocessing overrides", what);
    densecl_status st = dc_json_parse(text, strlen(text), where, out);
    if (st != DENSECL_OK) {
        return st;
    }
    if (out->type != DC_JSON_OBJECT) {
        dc_json_free(out);
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: the preprocessing overrides are not a JSON "
                        "object",
                        what);
    }
    for (int i = 0; i < out->count; i++) {
        size_t k = 0;
        while (k < DC_ARRAY_LEN(keys) && strcmp(out->keys[i], keys[k]) != 0) {
            k++;
        }
        if (k == DC_ARRAY_LEN(keys)) {
            st = dc_error(DENSECL_ERR_ARGUMENT,
                          "%s: the preprocessing overrides: unknown key \"%s\" (the keys are "
                          "height, width, channels, resize, crop, mean, std and interpolation)",
                          what, out->keys[i]);
            dc_json_free(out);
            return st;
        }
    }
    return DENSECL_OK;
}

densecl_status densecl_weights_preprocess_ex(const densecl_weights *w, const char *overrides,
                                             densecl_preprocess *out)
{
    densecl_preprocess pp;
    dc_json ov;
    pp_given given = {0, 0, 0, 0};
    int size_from = 0, stats = 0;
    densecl_status st = DENSECL_OK;
    if (!w || !out) {
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_weights_preprocess: NULL argument");
    }
    const char *what = w->path ? w->path : "the weights";
    const char *meta = dc_tensor_meta(&w->tensors, "densecl.preprocess");
    const densecl_config *cfg = &w->cfg;
    if (overrides && (st = pp_overrides(overrides, what, &ov)) != DENSECL_OK) {
        return st;
    }
    if (meta) {
        st = dc_preprocess_parse(meta, cfg, what, &pp);
    } else {
        pp_assumed(w, &pp, &size_from, &stats);
    }
    if (st == DENSECL_OK && overrides) {
        st = pp_apply(&ov, cfg, what, "the preprocessing overrides", &pp, &given);
    }
    if (overrides) {
        dc_json_free(&ov);
    }
    if (st != DENSECL_OK) {
        return st;
    }
    pp_derive_size(&pp);
    if (meta) {
        pp.source = given.any ? DENSECL_PREPROCESS_GIVEN : DENSECL_PREPROCESS_METADATA;
    } else if (pp.height == 0 || (!stats && !(given.mean && given.std))) {
        return dc_error(DENSECL_ERR_UNSUPPORTED,
                        "%s has no \"densecl.preprocess\" metadata, and its model (%s stem, %d "
                        "channel%s) has no standard preprocessing to assume: feed it "
                        "preprocessed float32 [N, C, H, W] tensors, or add the metadata (see "
                        "densecl-export --size/--mean/--std), or give %s%s (classify's --size, "
                        "--mean and --std)",
                        what, cfg->stem == DENSECL_STEM_CIFAR ? "cifar" : "imagenet",
                        cfg->in_channels, cfg->in_channels == 1 ? "" : "s",
                        pp.height == 0 ? "the input size" : "",
                        !stats && !(given.mean && given.std)
                            ? (pp.height == 0 ? ", mean and std" : "the mean and std")
                            : "");
    } else if (given.size && (!stats || (given.mean && given.std))) {
        pp.source = DENSECL_PREPROCESS_GIVEN; /* nothing assumed */
    } else if (!given.size && size_from == DENSECL_PREPROCESS_ONNX_INPUT) {
        pp.source = DENSECL_PREPROCESS_ONNX_INPUT;
    } else {
        pp.source = DENSECL_PREPROCESS_IMAGENET;
    }
    if ((st = dc_preprocess_check(&pp, what)) != DENSECL_OK) {
        return st;
    }
    int min = densecl_config_min_size(cfg);
    if (pp.height < min || pp.width < min) {
        return dc_error(DENSECL_ERR_MISMATCH,
                        "%s: its preprocessing makes %dx%d images, but the model needs at least "
                        "%dx%d",
                        what, pp.width, pp.height, min, min);
    }
    char decl[512];
    if (dc_input_decl_mismatch(&w->tensors.input, pp.height, pp.width, decl, sizeof(decl))) {
        return dc_error(DENSECL_ERR_MISMATCH,
                        "%s: the preprocessing makes %dx%d inputs (height x width), but the ONNX "
                        "graph declares its input %s; give the declared size (classify's --size)",
                        what, pp.height, pp.width, decl);
    }
    *out = pp;
    return DENSECL_OK;
}

densecl_status densecl_weights_preprocess(const densecl_weights *w, densecl_preprocess *out)
{
    return densecl_weights_preprocess_ex(w, NULL, out);
}
