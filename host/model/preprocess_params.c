/* SPDX-License-Identifier: MIT */
/*
 * preprocess_params.c - what a model's preprocessing is (densecl.h: densecl_weights_preprocess,
 * densecl_weights_preprocess_ex): the "densecl.preprocess" metadata parsed and checked, what is
 * assumed without it (the size an ONNX graph declares, torchvision's ImageNet sizes, ImageNet's
 * mean and std, each only where there is a standard, and said in the source), the caller's
 * overrides key by key, and the size an ONNX graph's static input allows. preprocess.c applies
 * it to pixels.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
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
