/* SPDX-License-Identifier: MIT */
/* test_preprocess_onnx.c - the preprocessing a model without metadata gets, and what an ONNX
 * graph declares, without OpenCL.
 *
 *   test_preprocess_onnx CORPUS_DIR   (tests/fuzz/corpus/onnx: tiny torch exports)
 *
 * The ONNX reader records the declared input the stem reads (static and symbolic dims); a graph
 * that is another kind of network is refused with one message saying so before the detail;
 * densecl_weights_preprocess_ex takes the declared size, says what it assumed (source), applies
 * overrides key by key, refuses unknown keys and a size that contradicts a static input with
 * ONNX Runtime's words, and refuses to guess where there is no standard. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "slurp.h"
#include "plan/plan.h"

static densecl_weights *load(const char *dir, const char *name)
{
    char path[1024];
    densecl_weights *w = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    densecl_status st = densecl_weights_load(path, NULL, &w);
    CHECKF(st == DENSECL_OK, "%s: %s", path, densecl_last_error());
    return w;
}

static int has(const char *text)
{
    return strstr(densecl_last_error(), text) != NULL;
}

/* The graph's declared input, as the reader records it. */
static void check_declared(const char *dir)
{
    static const struct {
        const char *file;
        int64_t dims[4];
    } cases[] = {{"cifar_op11.onnx", {1, 1, 8, 8}},
                 {"cifar_op17_dyn.onnx", {-1, 1, 8, 8}},
                 {"imagenet_op13.onnx", {1, 3, 32, 32}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[1024];
        size_t len;
        dc_tensor_set set;
        snprintf(path, sizeof path, "%s/%s", dir, cases[i].file);
        unsigned char *buf = slurp(path, &len);
        CHECKF(buf != NULL, "cannot read %s", path);
        if (!buf)
            continue;
        densecl_status st = dc_onnx_parse(buf, len, cases[i].file, NULL, &set);
        CHECKF(st == DENSECL_OK, "%s: %s", cases[i].file, densecl_last_error());
        if (st == DENSECL_OK) {
            CHECKF(set.input.ndim == 4 && strcmp(set.input.name, "input") == 0, "%s: %d dims, '%s'",
                   cases[i].file, set.input.ndim, set.input.name);
            for (int d = 0; d < 4; d++)
                CHECKF(set.input.dims[d] == cases[i].dims[d], "%s: dim %d is %lld, want %lld",
                       cases[i].file, d, (long long)set.input.dims[d], (long long)cases[i].dims[d]);
            dc_tensor_set_free(&set);
        }
        free(buf);
    }
}

/* Another kind of network: one message saying so, then the detail. */
static void check_not_densenet(const char *dir)
{
    char path[1024];
    densecl_weights *w = NULL;
    snprintf(path, sizeof path, "%s/not_densenet.onnx", dir); /* Conv, Relu, Flatten, Gemm */
    CHECK(densecl_weights_load(path, NULL, &w) == DENSECL_ERR_FORMAT);
    CHECKF(has("densecl runs DenseNets (torchvision's DenseNet family and its CIFAR variants); "
               "this graph is a plain convolutional network") &&
               has("use ONNX Runtime or OpenCV DNN for it; detail: ONNX graph: node") &&
               has("does not fit a DenseNet") &&
               strncmp(densecl_last_error(), path, strlen(path)) == 0 &&
               !strstr(densecl_last_error() + strlen(path), path),
           "%s", densecl_last_error());
    densecl_weights_free(w);
}

static void check_onnx_preprocess(const char *dir)
{
    densecl_preprocess pp;
    /* 3 channels, ImageNet stem, declared 32x32: that size (not ImageNet's 224), resize 32 and
     * a centre crop, ImageNet's mean and std: assumed, and said so. */
    densecl_weights *w = load(dir, "imagenet_op13.onnx");
    if (w) {
        densecl_status st = densecl_weights_preprocess(w, &pp);
        CHECKF(st == DENSECL_OK, "%s", densecl_last_error());
        CHECK(pp.source == DENSECL_PREPROCESS_ONNX_INPUT && pp.height == 32 && pp.width == 32 &&
              pp.resize == 32 && pp.crop_height == 32 && pp.crop_width == 32 &&
              pp.mean[0] == 0.485f && pp.std[2] == 0.225f);
        /* Another size contradicts the static input: refused as ONNX Runtime does. */
        st = densecl_weights_preprocess_ex(w, "{\"height\": 64, \"width\": 32, \"crop\": 64}", &pp);
        CHECKF(st == DENSECL_ERR_MISMATCH && has("'input' [1, 3, 32, 32]") &&
                   has("index: 2 Got: 64 Expected: 32") && !has("index: 3"),
               "%s", densecl_last_error());
        /* Given mean and std, the size still assumed from the graph. */
        st = densecl_weights_preprocess_ex(w, "{\"mean\": 0.5, \"std\": [0.25, 0.5, 1]}", &pp);
        CHECKF(st == DENSECL_OK && pp.source == DENSECL_PREPROCESS_ONNX_INPUT &&
                   pp.mean[1] == 0.5f && pp.std[1] == 0.5f && pp.height == 32,
               "%s", densecl_last_error());
        /* Everything given: nothing assumed. */
        st = densecl_weights_preprocess_ex(
            w,
            "{\"height\": 32, \"width\": 32, \"crop\": 32, \"resize\": null, \"mean\": 0.5, "
            "\"std\": 0.25}",
            &pp);
        CHECKF(st == DENSECL_OK && pp.source == DENSECL_PREPROCESS_GIVEN && pp.resize == 0 &&
                   pp.crop_height == 32,
               "%s", densecl_last_error());
        /* Overrides are a JSON object of the metadata's keys, nothing else. */
        CHECK(densecl_weights_preprocess_ex(w, "{\"size\": 32}", &pp) == DENSECL_ERR_ARGUMENT &&
              has("unknown key \"size\""));
        CHECK(densecl_weights_preprocess_ex(w, "[32]", &pp) == DENSECL_ERR_ARGUMENT);
        CHECK(densecl_weights_preprocess_ex(w, "{\"mean\": ", &pp) == DENSECL_ERR_FORMAT);
        CHECK(densecl_weights_preprocess_ex(w, "{\"channels\": 1}", &pp) == DENSECL_ERR_MISMATCH);
        densecl_weights_free(w);
    }
    /* 1 channel, declared 8x8 (and a symbolic batch): no mean and std to assume. */
    w = load(dir, "cifar_op17_dyn.onnx");
    if (w) {
        CHECK(densecl_weights_preprocess(w, &pp) == DENSECL_ERR_UNSUPPORTED &&
              has("give the mean and std"));
        densecl_status st = densecl_weights_preprocess_ex(w, "{\"mean\": 0.5, \"std\": 0.5}", &pp);
        CHECKF(st == DENSECL_OK && pp.source == DENSECL_PREPROCESS_ONNX_INPUT && pp.channels == 1 &&
                   pp.height == 8 && pp.resize == 8,
               "%s", densecl_last_error());
        CHECK(densecl_weights_preprocess_ex(w,
                                            "{\"height\": 9, \"width\": 8, \"mean\": 0.5, "
                                            "\"std\": 0.5}",
                                            &pp) == DENSECL_ERR_MISMATCH &&
              has("'input' [?, 1, 8, 8]: index: 2 Got: 9 Expected: 8"));
        densecl_weights_free(w);
    }
    /* Metadata, with overrides over it: given. */
    w = load(dir, "cifar_meta.onnx"); /* {"crop": 8, "channels": 1, "mean": [0.5]} */
    if (w) {
        CHECK(densecl_weights_preprocess(w, &pp) == DENSECL_OK &&
              pp.source == DENSECL_PREPROCESS_METADATA && pp.mean[0] == 0.5f && pp.std[0] == 1.0f);
        CHECK(densecl_weights_preprocess_ex(w, "{\"std\": [0.25]}", &pp) == DENSECL_OK &&
              pp.source == DENSECL_PREPROCESS_GIVEN && pp.mean[0] == 0.5f && pp.std[0] == 0.25f &&
              pp.crop_height == 8 && pp.height == 8);
        CHECK(densecl_weights_preprocess_ex(w, "{}", &pp) == DENSECL_OK &&
              pp.source == DENSECL_PREPROCESS_METADATA);
        densecl_weights_free(w);
    }
}

/* Weights without a declared input (random ones, as a safetensors file without metadata). */
static void check_undeclared(void)
{
    densecl_config imagenet, cifar;
    densecl_weights *w = NULL;
    densecl_preprocess pp;
    CHECK(densecl_config_preset("densenet121", &imagenet) == DENSECL_OK);
    imagenet.num_classes = 3;
    CHECK(densecl_weights_random(&imagenet, 1, &w) == DENSECL_OK);
    /* torchvision's ImageNet preprocessing, as before; an override of the size over it. */
    CHECK(densecl_weights_preprocess(w, &pp) == DENSECL_OK &&
          pp.source == DENSECL_PREPROCESS_IMAGENET && pp.resize == 256 && pp.height == 224);
    CHECK(densecl_weights_preprocess_ex(w,
                                        "{\"height\": 64, \"width\": 64, \"crop\": 64, "
                                        "\"resize\": 72}",
                                        &pp) == DENSECL_OK &&
          pp.source == DENSECL_PREPROCESS_IMAGENET && pp.resize == 72 && pp.crop_width == 64);
    CHECK(densecl_weights_preprocess_ex(w, "{\"crop\": 200}", &pp) == DENSECL_OK &&
          pp.crop_height == 200 && pp.height == 224 && pp.resize == 256);
    densecl_weights_free(w);
    w = NULL;
    /* A CIFAR stem has no standard size: refused unless given; 3 channels: ImageNet's stats. */
    CHECK(densecl_config_preset("densenet-bc-100-k12", &cifar) == DENSECL_OK);
    CHECK(densecl_weights_random(&cifar, 2, &w) == DENSECL_OK);
    CHECK(densecl_weights_preprocess(w, &pp) == DENSECL_ERR_UNSUPPORTED &&
          has("give the input size"));
    CHECK(densecl_weights_preprocess_ex(w, "{\"height\": 32, \"width\": 32}", &pp) == DENSECL_OK &&
          pp.source == DENSECL_PREPROCESS_IMAGENET && pp.height == 32 && pp.resize == 0 &&
          pp.crop_height == 0);
    CHECK(densecl_weights_preprocess_ex(w,
                                        "{\"crop\": 32, \"mean\": [0.5, 0.5, 0.5], "
                                        "\"std\": 0.25}",
                                        &pp) == DENSECL_OK &&
          pp.source == DENSECL_PREPROCESS_GIVEN && pp.height == 32 && pp.std[2] == 0.25f);
    CHECK(densecl_weights_preprocess_ex(w, "{\"crop\": 2}", &pp) == DENSECL_ERR_MISMATCH &&
          has("needs at least"));
    densecl_weights_free(w);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    check_declared(argv[1]);
    check_not_densenet(argv[1]);
    check_onnx_preprocess(argv[1]);
    check_undeclared();
    return check_summary();
}
