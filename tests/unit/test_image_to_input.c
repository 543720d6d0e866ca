/* SPDX-License-Identifier: MIT */
/*
 * test_image_to_input.c - the library's preprocessing (densecl.h: densecl_image_to_input,
 * densecl_weights_preprocess) and class names (densecl_weights_label_count / _label).
 *
 * Bit for bit: every image of tests/unit/data/image_to_input/ (8- and 16-bit PNG in grey, grey +
 * alpha, RGB, RGBA; JPEG colour and grey; odd sizes), decoded as classify decodes it
 * (tools/inputs/), through every setting of image_to_input_cases.h, must give exactly the float32
 * tensor that classify's preprocessing gave before it moved into the library (the fixtures: raw
 * tensors, or a 64-bit FNV-1a of the large ImageNet ones). The same with the rows at a padded, odd
 * stride from an odd address. Then every argument check, and the metadata accessors.
 *
 * usage: test_image_to_input DIR (tests/unit/data/image_to_input)
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "image_to_input_cases.h"
#include "inputs.h"
#include "plan/plan.h"

static const char *g_dir;

static void to_pp(const iti_case *t, densecl_preprocess *pp)
{
    memset(pp, 0, sizeof(*pp));
    pp->channels = t->channels;
    pp->height = t->height;
    pp->width = t->width;
    pp->resize = t->resize;
    pp->resize_height = t->resize_h;
    pp->resize_width = t->resize_w;
    pp->crop_height = t->crop_h;
    pp->crop_width = t->crop_w;
    memcpy(pp->mean, t->mean, sizeof(pp->mean));
    memcpy(pp->std, t->std, sizeof(pp->std));
}

/* The fixture's hash for image/case from hashes.txt, 0 if absent. */
static unsigned long long fixture_hash(const char *image, const char *name)
{
    char path[4096], a[256], b[64];
    unsigned long long h, found = 0;
    snprintf(path, sizeof(path), "%s/hashes.txt", g_dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    while (fscanf(f, "%255s %63s %llx", a, b, &h) == 3) {
        if (strcmp(a, image) == 0 && strcmp(b, name) == 0) {
            found = h;
        }
    }
    fclose(f);
    return found;
}

/* Compares out (n floats) with the fixture; reports the first difference. */
static void compare(const char *image, const iti_case *t, const float *out, size_t n,
                    const char *how)
{
    if (t->hashed) {
        unsigned long long want = fixture_hash(image, t->name);
        unsigned long long got = iti_fnv1a(out, n * sizeof(float));
        CHECKF(want != 0 && got == want, "%s %s (%s): hash %016llx, fixture %016llx", image,
               t->name, how, got, want);
        return;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.%s.f32", g_dir, image, t->name);
    void *bytes = NULL;
    size_t len = 0;
    densecl_status st = dci_read_file(path, &bytes, &len);
    CHECKF(st == DENSECL_OK && len == n * sizeof(float), "%s: %s, %zu bytes for %zu floats", path,
           densecl_last_error(), len, n);
    if (st == DENSECL_OK && len == n * sizeof(float)) {
        int same = memcmp(bytes, out, len) == 0;
        size_t i = 0;
        const float *want = bytes;
        while (!same && i < n && memcmp(&want[i], &out[i], sizeof(float)) == 0) {
            i++;
        }
        CHECKF(same, "%s %s (%s): value %zu is %.9g, the fixture has %.9g", image, t->name, how, i,
               i < n ? (double)out[i] : 0.0, i < n ? (double)want[i] : 0.0);
    }
    free(bytes);
}

static void test_fixtures(void)
{
    int compared = 0;
    for (size_t i = 0; i < DC_ARRAY_LEN(iti_images); i++) {
        char path[4096];
        void *bytes = NULL;
        size_t len;
        dci_image im;
        snprintf(path, sizeof(path), "%s/%s", g_dir, iti_images[i]);
        if (dci_read_file(path, &bytes, &len) != DENSECL_OK ||
            dci_image_decode(bytes, len, path, &im) != DENSECL_OK) {
            CHECKF(0, "%s", densecl_last_error());
            free(bytes);
            continue;
        }
        free(bytes);
        const dci_pixels *px = &im.px;
        /* The same pixels with each row padded to an odd stride, from an odd address. */
        size_t row = (size_t)px->width * (size_t)px->channels * (size_t)(px->bits / 8);
        size_t stride = row + 7;
        unsigned char *padded = malloc(stride * (size_t)px->height + 1);
        CHECK(padded != NULL);
        for (int y = 0; padded && y < px->height; y++) {
            memset(padded + 1 + (size_t)y * stride + row, 0xa5, stride - row);
            memcpy(padded + 1 + (size_t)y * stride, (const unsigned char *)px->data + y * row, row);
        }
        for (size_t k = 0; k < DC_ARRAY_LEN(iti_cases); k++) {
            const iti_case *t = &iti_cases[k];
            densecl_preprocess pp;
            size_t n = (size_t)t->channels * (size_t)t->height * (size_t)t->width;
            float *out = malloc(n * sizeof(float));
            to_pp(t, &pp);
            CHECK(out != NULL);
            if (!out) {
                continue;
            }
            memset(out, 0xff, n * sizeof(float)); /* NaNs where nothing was written */
            densecl_status st = densecl_image_to_input(&pp, px->data, px->width, px->height,
                                                       px->channels, px->bits, 0, out);
            CHECKF(st == DENSECL_OK, "%s %s: %s", iti_images[i], t->name, densecl_last_error());
            if (st == DENSECL_OK) {
                compare(iti_images[i], t, out, n, "packed rows");
                compared++;
            }
            memset(out, 0xff, n * sizeof(float));
            st = densecl_image_to_input(&pp, padded + 1, px->width, px->height, px->channels,
                                        px->bits, stride, out);
            CHECKF(st == DENSECL_OK, "%s %s strided: %s", iti_images[i], t->name,
                   densecl_last_error());
            if (st == DENSECL_OK) {
                compare(iti_images[i], t, out, n, "padded rows at an odd address");
            }
            free(out);
        }
        free(padded);
        dci_image_free(&im);
    }
    /* Nothing compared would pass vacuously. */
    CHECKF(compared == (int)(DC_ARRAY_LEN(iti_images) * DC_ARRAY_LEN(iti_cases)), "%d comparisons",
           compared);
}

/* Centre crops larger than the image on one axis or both, by odd and even amounts, and smaller
 * by odd amounts (Python's round-half-to-even): torchvision's center_crop pads the short axis
 * with (crop - size) // 2 zeros before and the rest after, then crops at
 * round((size - crop) / 2). No resize, so the output is the grey pixels / 255 moved by the
 * offset, 0 where torchvision pads; every value is checked to 1e-6 (the scaling's rounding; a
 * pixel moved by one differs by at least 1 / 255). left/top are where the
 * crop's first column and row fall in the image, as torchvision 0.14 gives them
 * (TF.center_crop of an image of distinct values, checked pixel by pixel). */
static void test_crop_padding(void)
{
    static const struct {
        int w, h, crop_w, crop_h, left, top;
    } cases[] = {
        {9, 7, 10, 8, 0, 0},      /* larger by 1 and 1: the odd zero goes after */
        {9, 7, 12, 9, -1, -1},    /* larger by 3 (odd) and 2 (even) */
        {8, 6, 10, 11, -1, -2},   /* larger by 2 (even) and 5 (odd) */
        {9, 11, 13, 8, -2, 2},    /* larger by 4, smaller by 3: round(1.5) = 2 */
        {8, 9, 9, 8, 0, 0},       /* larger by 1, smaller by 1: round(0.5) = 0 */
        {12, 5, 7, 12, 2, -3},    /* smaller by 5: round(2.5) = 2; larger by 7 */
        {10, 10, 15, 15, -2, -2}, /* larger by 5 and 5 */
        {10, 10, 14, 14, -2, -2}, /* larger by 4 and 4 */
        {5, 9, 8, 6, -1, 2},      /* larger by 3, smaller by 3 */
        {7, 7, 7, 10, 0, -1},     /* the same width, taller by 3 */
    };
    for (size_t i = 0; i < DC_ARRAY_LEN(cases); i++) {
        const int w = cases[i].w, h = cases[i].h, cw = cases[i].crop_w, ch = cases[i].crop_h;
        unsigned char px[16 * 16];
        float out[16 * 16];
        densecl_preprocess pp;
        memset(&pp, 0, sizeof pp);
        pp.channels = 1;
        pp.height = pp.crop_height = ch;
        pp.width = pp.crop_width = cw;
        pp.std[0] = pp.std[1] = pp.std[2] = 1.0f;
        for (int k = 0; k < w * h; k++)
            px[k] = (unsigned char)(1 + (k * 37) % 255); /* never 0, so padding shows */
        memset(out, 0xff, sizeof out);
        densecl_status st = densecl_image_to_input(&pp, px, w, h, 1, 8, 0, out);
        CHECKF(st == DENSECL_OK, "crop %dx%d of %dx%d: %s", cw, ch, w, h, densecl_last_error());
        if (st != DENSECL_OK)
            continue;
        int bad = 0, first = -1;
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++) {
                const int sy = y + cases[i].top, sx = x + cases[i].left;
                const float want =
                    sy >= 0 && sy < h && sx >= 0 && sx < w ? (float)px[sy * w + sx] / 255.0f : 0.0f;
                if (!(fabsf(out[y * cw + x] - want) <= 1e-6f)) {
                    bad++;
                    first = first < 0 ? y * cw + x : first;
                }
            }
        CHECKF(bad == 0,
               "crop %dx%d of a %dx%d image (torchvision's offset %d, %d): %d values wrong, "
               "the first at row %d column %d: %g",
               cw, ch, w, h, cases[i].left, cases[i].top, bad, first / cw, first % cw,
               first >= 0 ? (double)out[first] : 0.0);
    }
}

/* Each call must fail with want and a detail, and leave a sentinel output alone or not: only
 * the status and the message are promised. */
#define REFUSED(want, call)                                                                        \
    do {                                                                                           \
        densecl_status st_ = (call);                                                               \
        CHECKF(st_ == (want) && densecl_last_error()[0] != '\0', "%s gave %s (%s)", #call,         \
               densecl_status_str(st_), densecl_last_error());                                     \
    } while (0)

static void test_arguments(void)
{
    densecl_preprocess pp, bad;
    float out[3 * 16 * 16];
    uint8_t px[64 * 3] = {0};
    to_pp(&iti_cases[0], &pp); /* 3 x 16 x 16 */

    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(NULL, px, 8, 8, 3, 8, 0, out));
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&pp, NULL, 8, 8, 3, 8, 0, out));
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&pp, px, 8, 8, 3, 8, 0, NULL));
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&pp, px, 0, 8, 3, 8, 0, out));
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&pp, px, 8, -1, 3, 8, 0, out));
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&pp, px, 8, 8, 0, 8, 0, out));
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&pp, px, 8, 8, 5, 8, 0, out));
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&pp, px, 8, 8, 3, 12, 0, out));
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&pp, px, 8, 8, 3, 32, 0, out));
    /* a stride shorter than a row (8 x 3 bytes) */
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&pp, px, 8, 8, 3, 8, 23, out));
    /* sizes whose product overflows size_t: checked before a byte is read */
    REFUSED(DENSECL_ERR_ARGUMENT,
            densecl_image_to_input(&pp, px, INT32_MAX, INT32_MAX, 4, 16, 0, out));
    REFUSED(DENSECL_ERR_ARGUMENT,
            densecl_image_to_input(&pp, px, 8, INT32_MAX, 3, 8, SIZE_MAX / 2, out));
    /* invalid preprocessing */
    bad = pp;
    bad.channels = 2;
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&bad, px, 8, 8, 3, 8, 0, out));
    bad = pp;
    bad.height = 0;
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&bad, px, 8, 8, 3, 8, 0, out));
    bad = pp;
    bad.width = DENSECL_PREPROCESS_MAX_SIDE + 1;
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&bad, px, 8, 8, 3, 8, 0, out));
    bad = pp;
    bad.resize_height = 10; /* with resize, and without resize_width */
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&bad, px, 8, 8, 3, 8, 0, out));
    bad = pp;
    bad.resize = -1;
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&bad, px, 8, 8, 3, 8, 0, out));
    bad = pp;
    bad.crop_width = 0;
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&bad, px, 8, 8, 3, 8, 0, out));
    bad = pp;
    bad.std[2] = 0.0f;
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&bad, px, 8, 8, 3, 8, 0, out));
    bad = pp;
    bad.std[1] = 1e-40f; /* subnormal: 1 / std overflows */
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&bad, px, 8, 8, 3, 8, 0, out));
    bad = pp;
    bad.mean[0] = NAN;
    REFUSED(DENSECL_ERR_ARGUMENT, densecl_image_to_input(&bad, px, 8, 8, 3, 8, 0, out));
    /* A 192 x 1 strip: its shorter side to 20 makes the other 3840, fine; resize 100 would make
     * it 19200, past the largest side: an input error, not a crash or a huge allocation. */
    CHECKF(densecl_image_to_input(&pp, px, 192, 1, 1, 8, 0, out) == DENSECL_OK, "%s",
           densecl_last_error());
    bad = pp;
    bad.resize = 100;
    REFUSED(DENSECL_ERR_INPUT, densecl_image_to_input(&bad, px, 192, 1, 1, 8, 0, out));
    CHECK(strstr(densecl_last_error(), "19200") != NULL);
    /* unused mean/std entries of a 1-channel setting are not looked at */
    bad = pp;
    bad.channels = 1;
    bad.std[1] = bad.std[2] = 0.0f;
    CHECKF(densecl_image_to_input(&bad, px, 8, 8, 3, 8, 0, out) == DENSECL_OK, "%s",
           densecl_last_error());
}

/* Random weights of cfg with these metadata entries (NULL: absent), written and loaded back. */
static densecl_weights *with_metadata(const densecl_config *cfg, const char *pre,
                                      const char *labels)
{
    densecl_weights *w = NULL, *r = NULL;
    char path[] = "/tmp/test_image_to_input-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0 || densecl_weights_random(cfg, 1, &r) != DENSECL_OK) {
        CHECKF(0, "%s", densecl_last_error());
        return NULL;
    }
    close(fd);
    dc_tensor_set *set = &r->tensors;
    set->meta_keys = calloc(2, sizeof(char *));
    set->meta_values = calloc(2, sizeof(char *));
    if (pre) {
        set->meta_keys[set->meta_count] = strdup("densecl.preprocess");
        set->meta_values[set->meta_count++] = strdup(pre);
    }
    if (labels) {
        set->meta_keys[set->meta_count] = strdup("densecl.labels");
        set->meta_values[set->meta_count++] = strdup(labels);
    }
    densecl_status st = dc_safetensors_write(path, set);
    CHECKF(st == DENSECL_OK, "%s", densecl_last_error());
    densecl_weights_free(r);
    if (st == DENSECL_OK) {
        st = densecl_weights_load(path, NULL, &w);
        CHECKF(st == DENSECL_OK, "%s", densecl_last_error());
    }
    unlink(path);
    return w;
}

static void test_weights(void)
{
    densecl_config cifar, tiny = {0};
    densecl_preprocess pp;
    CHECK(densecl_config_preset("densenet-40-k12", &cifar) == DENSECL_OK);
    /* A tiny ImageNet-stem model: without metadata, torchvision's ImageNet preprocessing. */
    tiny.growth_rate = 4;
    tiny.num_blocks = 2;
    tiny.block_layers[0] = tiny.block_layers[1] = 1;
    tiny.init_features = 8;
    tiny.bottleneck = 1;
    tiny.bn_size = 2;
    tiny.compression = 0.5f;
    tiny.stem = DENSECL_STEM_IMAGENET;
    tiny.in_channels = 3;
    tiny.num_classes = 5;
    densecl_weights *w = NULL;
    CHECK(densecl_weights_random(&tiny, 3, &w) == DENSECL_OK);
    memset(&pp, 0x5a, sizeof(pp));
    CHECKF(densecl_weights_preprocess(w, &pp) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(pp.source == DENSECL_PREPROCESS_IMAGENET && pp.channels == 3 && pp.resize == 256 &&
          pp.height == 224 && pp.width == 224 && pp.crop_height == 224 && pp.crop_width == 224 &&
          pp.resize_height == 0 && pp.resize_width == 0);
    CHECK(pp.mean[0] == 0.485f && pp.mean[1] == 0.456f && pp.mean[2] == 0.406f);
    CHECK(pp.std[0] == 0.229f && pp.std[1] == 0.224f && pp.std[2] == 0.225f);
    CHECK(densecl_weights_label_count(w) == 0 && densecl_weights_label(w, 0) == NULL);
    densecl_weights_free(w);

    REFUSED(DENSECL_ERR_ARGUMENT, densecl_weights_preprocess(NULL, &pp));
    CHECK(densecl_weights_label_count(NULL) == 0 && densecl_weights_label(NULL, 0) == NULL);

    /* A CIFAR model without metadata has no standard preprocessing. */
    w = with_metadata(&cifar, NULL, NULL);
    REFUSED(DENSECL_ERR_UNSUPPORTED, densecl_weights_preprocess(w, &pp));
    CHECK(strstr(densecl_last_error(), "densecl.preprocess") != NULL);
    CHECK(densecl_weights_label_count(w) == 0);
    densecl_weights_free(w);

    /* Both entries, well-formed. */
    w = with_metadata(&cifar,
                      "{\"resize\": [36, 40], \"crop\": 32, \"mean\": [0.4914, 0.4822, 0.4465], "
                      "\"std\": 0.25, \"interpolation\": \"bilinear\"}",
                      "[\"airplane\", \"automobile\", \"bird\", \"cat\", \"deer\", \"dog\", "
                      "\"frog\", \"horse\", \"ship\", \"caf\\u00e9 \\\"truck\\\"\"]");
    CHECKF(w && densecl_weights_preprocess(w, &pp) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(pp.source == DENSECL_PREPROCESS_METADATA && pp.channels == 3 && pp.resize == 0 &&
          pp.resize_height == 36 && pp.resize_width == 40 && pp.crop_height == 32 &&
          pp.crop_width == 32 && pp.height == 32 && pp.width == 32);
    CHECK(pp.mean[1] == 0.4822f && pp.std[0] == 0.25f && pp.std[2] == 0.25f);
    CHECK(densecl_weights_label_count(w) == 10);
    CHECK(densecl_weights_label(w, 0) && strcmp(densecl_weights_label(w, 0), "airplane") == 0);
    CHECK(densecl_weights_label(w, 9) &&
          strcmp(densecl_weights_label(w, 9), "caf\xc3\xa9 \"truck\"") == 0);
    CHECK(densecl_weights_label(w, -1) == NULL && densecl_weights_label(w, 10) == NULL);
    densecl_weights_free(w);

    /* Malformed labels load, without names; malformed preprocessing is an error when asked. */
    w = with_metadata(&cifar, "{\"crop\": 32, \"std\": [0.2, 0, 0.2]}", "[\"one\", \"two\"]");
    CHECK(w != NULL && densecl_weights_label_count(w) == 0 && !densecl_weights_label(w, 0));
    REFUSED(DENSECL_ERR_FORMAT, densecl_weights_preprocess(w, &pp));
    CHECK(strstr(densecl_last_error(), "\"std\"") != NULL);
    densecl_weights_free(w);
    w = with_metadata(&cifar, "{\"crop\": 32, \"channels\": 1}", NULL);
    REFUSED(DENSECL_ERR_MISMATCH, densecl_weights_preprocess(w, &pp));
    densecl_weights_free(w);
    /* null, as for every other key, means the default: mean 0, std 1 */
    w = with_metadata(&cifar, "{\"crop\": 32, \"mean\": null, \"std\": null}", NULL);
    CHECKF(w && densecl_weights_preprocess(w, &pp) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(pp.mean[0] == 0.0f && pp.mean[2] == 0.0f && pp.std[0] == 1.0f && pp.std[2] == 1.0f);
    densecl_weights_free(w);
    /* an input smaller than the model takes */
    w = with_metadata(&cifar, "{\"height\": 3, \"width\": 3}", NULL);
    REFUSED(DENSECL_ERR_MISMATCH, densecl_weights_preprocess(w, &pp));
    CHECK(strstr(densecl_last_error(), "at least") != NULL);
    densecl_weights_free(w);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_image_to_input DIR\n");
        return 2;
    }
    g_dir = argv[1];
    test_fixtures();
    test_crop_padding();
    test_arguments();
    test_weights();
    return check_summary();
}
