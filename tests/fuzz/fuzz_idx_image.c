/* SPDX-License-Identifier: MIT */
/* fuzz_idx_image.c - what `densecl classify` does with an input file, from memory (tools/inputs/):
 *   dci_input_sniff, then dci_idx_parse + dci_idx_images (IDX, raw or gzip), or dci_image_decode
 *   (stb_image) for anything else, then the library's densecl_image_to_input on the pixels with
 *   one of four preprocessing settings (picked by the input's size); and, on the same bytes, the
 *   text parsers beside them: dci_truth_parse, dci_names_parse_text, and the library's
 *   dc_names_parse_json ("densecl.labels") and dc_preprocess_parse ("densecl.preprocess").
 *
 * Invariants besides the sanitizers: parsed IDX data has exactly product(dims) bytes; decoded
 * images have 1..4 channels and a sane size; every preprocessed value is (x - mean) / std for
 * some x in [0, 1] (resampling is a convex combination, padding is 0), so finite and bounded. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "inputs.h"

/* Decoded images are capped here, far below DCI_IMAGE_MAX_PIXELS: stb_image fills a declared
 * 8192 x 8192 image from a 50-byte file (it reads zeros past the end), and resampling costs
 * in proportion to the input's pixels; both would slow the fuzzer to a crawl and teach it
 * nothing. */
#define FUZZ_MAX_PIXELS ((size_t)1 << 16)
/* IDX files may hold many images; the first few are enough. */
#define FUZZ_MAX_IMAGES 3

static void pick_preprocess(size_t size, densecl_preprocess *pp)
{
    memset(pp, 0, sizeof *pp);
    switch (size % 4) {
    case 0: /* torchvision's ImageNet steps (shorter side, centre crop), at a tenth of the size */
        pp->channels = 3;
        pp->resize = 26;
        pp->height = pp->width = pp->crop_height = pp->crop_width = 22;
        pp->mean[0] = 0.485f;
        pp->mean[1] = 0.456f;
        pp->mean[2] = 0.406f;
        pp->std[0] = 0.229f;
        pp->std[1] = 0.224f;
        pp->std[2] = 0.225f;
        break;
    case 1: /* MNIST: 1 channel, straight to 28 x 28 */
        pp->channels = 1;
        pp->height = pp->width = 28;
        pp->mean[0] = 0.5f;
        pp->std[0] = 0.25f;
        break;
    case 2: /* exact resize, then a crop larger than the image (zero padding), then a resize */
        pp->channels = 3;
        pp->height = 8;
        pp->width = 6;
        pp->resize_height = 13;
        pp->resize_width = 5;
        pp->crop_height = pp->crop_width = 9;
        for (int c = 0; c < 3; c++) {
            pp->mean[c] = 0.1f * (float)c;
            pp->std[c] = 0.5f + 0.25f * (float)c;
        }
        break;
    default: /* CIFAR-like */
        pp->channels = 3;
        pp->height = pp->width = 32;
        pp->resize = 36;
        pp->crop_height = pp->crop_width = 32;
        for (int c = 0; c < 3; c++) {
            pp->mean[c] = 0.45f;
            pp->std[c] = 0.2f;
        }
        break;
    }
}

static void run_preprocess(const densecl_preprocess *pp, const dci_pixels *px)
{
    size_t n = (size_t)pp->channels * (size_t)pp->height * (size_t)pp->width;
    float *out = malloc(n * sizeof *out);
    FUZZ_CHECK(out != NULL);
    densecl_status st =
        densecl_image_to_input(pp, px->data, px->width, px->height, px->channels, px->bits, 0, out);
    if (st == DENSECL_OK) {
        size_t hw = (size_t)pp->height * (size_t)pp->width;
        for (int c = 0; c < pp->channels; c++) {
            float lo = (0.0f - pp->mean[c]) / pp->std[c], hi = (1.0f - pp->mean[c]) / pp->std[c];
            float tol = 1e-3f * (hi - lo);
            for (size_t i = 0; i < hw; i++) {
                float v = out[(size_t)c * hw + i];
                if (!(v >= lo - tol && v <= hi + tol))
                    fprintf(stderr, "channel %d value %zu = %g outside [%g, %g]\n", c, i, (double)v,
                            (double)lo, (double)hi);
                FUZZ_CHECK(v >= lo - tol && v <= hi + tol);
            }
        }
    } else {
        FUZZ_CHECK(st == DENSECL_ERR_INPUT || st == DENSECL_ERR_NO_MEMORY);
    }
    free(out);
}

static void fuzz_idx(const uint8_t *data, size_t size, const densecl_preprocess *pp)
{
    dci_idx idx;
    int64_t n;
    int h, w, c;
    if (dci_idx_parse(data, size, "fuzz", &idx) != DENSECL_OK) {
        FUZZ_CHECK(idx.data == NULL);
        return;
    }
    FUZZ_CHECK(idx.ndim >= 1 && idx.ndim <= 4 && idx.data != NULL);
    size_t expect = 1;
    for (int i = 0; i < idx.ndim; i++)
        FUZZ_CHECK(idx.dims[i] >= 0 && dc_mul_size(expect, (size_t)idx.dims[i], &expect));
    FUZZ_CHECK(expect == idx.size);
    if (dci_idx_images(&idx, "fuzz", &n, &h, &w, &c) == DENSECL_OK) {
        FUZZ_CHECK(h >= 1 && w >= 1 && c >= 1 && c <= 4 && n >= 0);
        size_t per = (size_t)h * (size_t)w * (size_t)c;
        FUZZ_CHECK((size_t)n * per == idx.size);
        for (int64_t i = 0; i < n && i < FUZZ_MAX_IMAGES; i++) {
            dci_pixels px = {idx.data + (size_t)i * per, 8, w, h, c};
            run_preprocess(pp, &px);
        }
    }
    dci_idx_free(&idx);
    dci_idx_free(&idx); /* idempotent */
}

/* The size the header declares (dci_image_info, which dci_image_decode calls first anyway):
 * within FUZZ_MAX_PIXELS, or refused (then the decoder refuses it too). */
static int declared_pixels_ok(const uint8_t *data, size_t size)
{
    int w, h, c;
    if (dci_image_info(data, size, "fuzz", &w, &h, &c) != DENSECL_OK)
        return 1;
    FUZZ_CHECK(w >= 1 && h >= 1);
    return (size_t)w * (size_t)h <= FUZZ_MAX_PIXELS;
}

static void fuzz_image(const uint8_t *data, size_t size, const densecl_preprocess *pp)
{
    dci_image im;
    if (!declared_pixels_ok(data, size))
        return;
    densecl_status st = dci_image_decode(data, size, "fuzz", &im);
    if (st != DENSECL_OK) {
        FUZZ_CHECK(im.owned == NULL);
        return;
    }
    FUZZ_CHECK(im.px.data != NULL && (im.px.bits == 8 || im.px.bits == 16));
    FUZZ_CHECK(im.px.channels >= 1 && im.px.channels <= 4);
    FUZZ_CHECK(im.px.width >= 1 && im.px.height >= 1);
    FUZZ_CHECK((size_t)im.px.width * (size_t)im.px.height <= DCI_IMAGE_MAX_PIXELS);
    run_preprocess(pp, &im.px);
    dci_image_free(&im);
    dci_image_free(&im); /* idempotent */
}

/* The text parsers: labels, class names, the densecl.preprocess metadata. */
static void fuzz_text(const uint8_t *data, size_t size)
{
    int *labels = NULL;
    int64_t count = 0;
    char **names = NULL;
    if (dci_truth_parse(data, size, "fuzz", 10, &labels, &count) == DENSECL_OK) {
        FUZZ_CHECK(labels != NULL && count > 0);
        for (int64_t i = 0; i < count; i++)
            FUZZ_CHECK(labels[i] >= 0 && labels[i] < 10);
    }
    free(labels);

    /* As many classes as the text has lines, so that the parse can succeed. */
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    lines += size > 0 && data[size - 1] != '\n';
    int classes = lines > 0 && lines < 4096 ? (int)lines : 3;
    int strict = (int)(size & 1); /* classify --labels' checks, or imagenet-classes.txt's */
    if (dci_names_parse_text((const char *)data, size, classes, strict, "fuzz", &names) ==
        DENSECL_OK) {
        for (int i = 0; i < classes; i++)
            FUZZ_CHECK(names[i] != NULL && strchr(names[i], '\n') == NULL);
    }
    dci_names_free(names, classes);

    /* The JSON entry points take NUL-terminated text. */
    if (memchr(data, '\0', size))
        return;
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    names = NULL;
    if (dc_names_parse_json(text, 2, "fuzz", &names) == DENSECL_OK)
        FUZZ_CHECK(names && names[0] && names[1]);
    dc_names_free(names, 2);

    for (int ch = 1; ch <= 3; ch++) {
        densecl_config cfg;
        densecl_preprocess pp;
        FUZZ_CHECK(densecl_config_preset("densenet-40-k12", &cfg) == DENSECL_OK);
        cfg.in_channels = ch;
        if (dc_preprocess_parse(text, &cfg, "fuzz", &pp) != DENSECL_OK)
            continue;
        FUZZ_CHECK(pp.channels == ch && (ch == 1 || ch == 3));
        FUZZ_CHECK(pp.height >= 1 && pp.height <= DCI_PP_MAX_SIDE);
        FUZZ_CHECK(pp.width >= 1 && pp.width <= DCI_PP_MAX_SIDE);
        for (int c = 0; c < ch; c++)
            FUZZ_CHECK(isfinite(pp.mean[c]) && isnormal(pp.std[c]) && pp.std[c] > 0.0f);
        /* Run the parsed settings on a small image made of the text's bytes, when the sizes
         * keep it fast. */
        int rh = pp.resize ? pp.resize : pp.resize_height;
        int rw = pp.resize ? pp.resize : pp.resize_width;
        if ((size_t)pp.height * (size_t)pp.width <= 4096 && (size_t)rh * (size_t)rw <= 4096 &&
            (size_t)pp.crop_height * (size_t)pp.crop_width <= 4096 && size >= 12) {
            dci_pixels px = {data, 8, 4, 3, 1};
            run_preprocess(&pp, &px);
        }
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dci_input_kind kind;
    int64_t count = 0;
    densecl_preprocess pp;
    pick_preprocess(size, &pp);
    if (dci_input_sniff(data, size, "fuzz", &kind, &count) == DENSECL_OK) {
        FUZZ_CHECK(count >= 0);
        if (kind == DCI_INPUT_IDX)
            fuzz_idx(data, size, &pp);
        else if (kind == DCI_INPUT_IMAGE)
            fuzz_image(data, size, &pp);
    } else if (kind == DCI_INPUT_IDX) {
        /* Refused as images (a label file, a bad header): the full parser still runs, as
         * --truth would run it. */
        dci_idx idx;
        densecl_status st = dci_idx_parse(data, size, "fuzz", &idx);
        if (st == DENSECL_OK)
            dci_idx_free(&idx);
    }
    fuzz_text(data, size);
    return 0;
}
