/* SPDX-License-Identifier: MIT */
/*
 * image_to_input_cases.h - the preprocessing settings of the densecl_image_to_input fixtures
 * (tests/unit/data/image_to_input/), as plain numbers: one row per case, shared by the tool that
 * wrote the fixtures from classify's preprocessing before it moved into the library, and by the
 * test that compares the library with them (test_image_to_input.c).
 */
#ifndef DENSECL_IMAGE_TO_INPUT_CASES_H
#define DENSECL_IMAGE_TO_INPUT_CASES_H

typedef struct iti_case {
    const char *name;
    int channels, height, width;
    int resize, resize_h, resize_w; /* shorter side, or exact size; 0: none */
    int crop_h, crop_w;             /* 0: none */
    float mean[3], std[3];
    int hashed; /* 1: the fixture is a 64-bit FNV-1a of the tensor's bytes (a large tensor) */
} iti_case;

static const iti_case iti_cases[] = {
    /* torchvision's steps, small: shorter side to 20 (downscale, antialiased), centre crop 16 */
    {"small", 3, 16, 16, 20, 0, 0, 16, 16, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}, 0},
    /* 1 channel (luminance of colour), exact resize, crop, then a final resize to 8 x 12 */
    {"grey", 1, 8, 12, 0, 12, 18, 10, 14, {0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}, 0},
    /* upscale to a shorter side of 40, then a crop taller than the image (zero padding) */
    {"pad", 3, 44, 30, 40, 0, 0, 44, 30, {0.1f, 0.2f, 0.3f}, {0.5f, 0.75f, 1.0f}, 0},
    /* no resize or crop: straight to 28 x 28 (MNIST style), 1 channel */
    {"direct", 1, 28, 28, 0, 0, 0, 0, 0, {0.2860f, 0.0f, 0.0f}, {0.3530f, 1.0f, 1.0f}, 0},
    /* torchvision's ImageNet preprocessing (resize 256, crop 224): 600 KB, so hashed */
    {"imagenet",
     3,
     224,
     224,
     256,
     0,
     0,
     224,
     224,
     {0.485f, 0.456f, 0.406f},
     {0.229f, 0.224f, 0.225f},
     1},
};

static const char *const iti_images[] = {
    "rgb8_37x23.png",    "rgb16_31x19.png", "rgba8_23x37.png",
    "rgba16_17x29.png",  "grey8_33x27.png", "grey16_21x15.png",
    "greya16_19x25.png", "rgb_41x29.jpg",   "grey_27x35.jpg",
};

/* 64-bit FNV-1a of n bytes. */
static inline unsigned long long iti_fnv1a(const void *data, unsigned long long n)
{
    const unsigned char *p = data;
    unsigned long long h = 0xcbf29ce484222325ULL;
    for (unsigned long long i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }
    return h;
}

#endif
