/* SPDX-License-Identifier: MIT */
/* fuzz_safetensors.c - the whole weights path on arbitrary bytes:
 *   dc_safetensors_parse -> dc_config_infer -> dc_config_match -> dc_weights_check_values
 *   (what densecl_weights_load does after reading the file) -> dc_plan_build -> dc_fold (what
 *   an engine does with the weights before packing them), then, for files that parse, the public
 *   densecl_weights_load itself on the same bytes through a memfd, with expect == NULL and with
 *   an expected config chosen by the input, so the file-reading and expect branches are covered.
 *
 * Invariants checked besides the sanitizers: every accepted tensor has a canonical key, a
 * shape that fits, float data exactly for the float dtypes; a config inferred and matched is
 * valid; densecl_weights_load agrees with the in-memory path. */
#define _GNU_SOURCE /* memfd_create */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "plan/plan.h"

static void check_set(const dc_tensor_set *set)
{
    FUZZ_CHECK(set->count >= 0 && set->meta_count >= 0);
    for (int i = 0; i < set->count; i++) {
        const dc_tensor *t = &set->t[i];
        FUZZ_CHECK(t->key != NULL);
        /* num_batches_tracked is dropped while reading. */
        size_t kl = strlen(t->key);
        FUZZ_CHECK(strcmp(t->key, "num_batches_tracked") != 0);
        FUZZ_CHECK(kl < 20 || strcmp(t->key + kl - 20, ".num_batches_tracked") != 0);
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= 8);
        int is_float =
            t->dtype == DC_F32 || t->dtype == DC_F16 || t->dtype == DC_BF16 || t->dtype == DC_F64;
        FUZZ_CHECK(is_float == (t->data != NULL));
        size_t count = 1;
        for (int d = 0; d < t->ndim; d++) {
            FUZZ_CHECK(t->shape[d] >= 0);
            FUZZ_CHECK(dc_mul_size(count, (size_t)t->shape[d], &count));
        }
        /* Read every converted value: ASan reports a buffer shorter than the shape. */
        volatile float sink = 0.0f;
        for (size_t e = 0; t->data && e < count; e++)
            sink += t->data[e];
        (void)sink;
        FUZZ_CHECK(dc_tensor_find(set, t->key) == t); /* keys are unique */
    }
    for (int i = 0; i < set->meta_count; i++)
        FUZZ_CHECK(set->meta_keys[i] && set->meta_values[i]);
}

/* The in-memory equivalent of densecl_weights_load(path, NULL, &w), then the engine's fold
 * for the model's plan. The caller frees *set. */
static densecl_status load_inferred(dc_tensor_set *set, densecl_config *cfg)
{
    densecl_status st = dc_config_infer(set, cfg);
    if (st != DENSECL_OK)
        return st;
    FUZZ_CHECK(densecl_config_check(cfg) == DENSECL_OK);
    if ((st = dc_config_match(cfg, set, "fuzz")) != DENSECL_OK)
        return st;
    /* Checked or not, values fold: a NaN weight is still a float. */
    densecl_status vst = dc_weights_check_values(set, "fuzz");
    FUZZ_CHECK(vst == DENSECL_OK || vst == DENSECL_ERR_FORMAT);
    dc_plan plan;
    dc_op_params *params = NULL;
    int min = densecl_config_min_size(cfg);
    FUZZ_CHECK(min > 0);
    FUZZ_CHECK(dc_plan_build(cfg, 1, min, min, &plan) == DENSECL_OK);
    /* Tensors that match the config always fold. */
    densecl_status fst = dc_fold(&plan, set, &params);
    FUZZ_CHECK(fst == DENSECL_OK || fst == DENSECL_ERR_NO_MEMORY);
    FUZZ_CHECK((fst == DENSECL_OK) == (params != NULL));
    FUZZ_CHECK(densecl_config_params(cfg) > 0);
    dc_params_free(params, plan.n_ops);
    dc_plan_free(&plan);
    return vst;
}

/* The same bytes through the public file API: memfd, so nothing touches the disk. want is the
 * status the load must give, or -1 when any refusal is fine. */
static void load_via_file(const uint8_t *data, size_t size, const densecl_config *expect, int want)
{
    char path[64];
    densecl_weights *w = NULL;
    int fd = fuzz_memfd(data, size, "fuzz.safetensors", path, sizeof path);
    if (fd < 0)
        return;
    densecl_status st = densecl_weights_load(path, expect, &w);
    if (want >= 0 && (int)st != want)
        fprintf(stderr, "densecl_weights_load: %s, expected %s\n", densecl_last_error(),
                densecl_status_str((densecl_status)want));
    FUZZ_CHECK(want < 0 || (int)st == want);
    if (st == DENSECL_OK) {
        FUZZ_CHECK(w != NULL);
        const densecl_config *c = densecl_weights_config(w);
        FUZZ_CHECK(c && densecl_config_check(c) == DENSECL_OK);
        (void)densecl_weights_metadata(w, "densecl.config");
        (void)densecl_weights_metadata(w, "format");
    } else {
        FUZZ_CHECK(w == NULL);
    }
    densecl_weights_free(w);
    close(fd);
}

/* An expected config for densecl_weights_load, picked by the last byte of the input: the
 * inferred config, or the seed corpus's tiny CIFAR model (a preset would do, but matching a
 * small file against densenet121's 727 tensors costs a tenth of the speed), each with
 * num_classes and in_channels possibly left to the file. */
static int pick_expect(const uint8_t *data, size_t size, const densecl_config *inferred,
                       int have_inferred, densecl_config *out)
{
    static const densecl_config tiny = {2, 1, {1}, 4, 1, 2, 0.5f, DENSECL_STEM_CIFAR, 1, 3};
    unsigned sel = size ? data[size - 1] : 0;
    int same = have_inferred && (sel & 4);
    *out = same ? *inferred : tiny;
    if (sel & 1)
        out->num_classes = 0;
    if (sel & 2)
        out->in_channels = 0;
    return same; /* then the load must succeed */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dc_tensor_set set;
    densecl_config cfg, expect;
    densecl_status st = dc_safetensors_parse(data, size, "fuzz", &set);
    if (st != DENSECL_OK) {
        FUZZ_CHECK(st == DENSECL_ERR_FORMAT || st == DENSECL_ERR_NO_MEMORY);
        FUZZ_CHECK(set.count == 0 && set.t == NULL && set.meta_count == 0);
        FUZZ_CHECK(densecl_last_error()[0] != '\0');
        return 0;
    }
    check_set(&set);
    memset(&cfg, 0, sizeof cfg);
    st = load_inferred(&set, &cfg);
    FUZZ_CHECK(st == DENSECL_OK || st == DENSECL_ERR_MISMATCH || st == DENSECL_ERR_FORMAT ||
               st == DENSECL_ERR_NO_MEMORY || st == DENSECL_ERR_ARGUMENT);
    dc_tensor_set_free(&set);
    dc_tensor_set_free(&set); /* idempotent: dc_tensor_set_free zeroes */

    /* Files that parse are the interesting ones: run them through the public API too. */
    load_via_file(data, size, NULL, (int)st);
    int must = pick_expect(data, size, &cfg, st == DENSECL_OK, &expect);
    load_via_file(data, size, &expect, must ? DENSECL_OK : -1);
    return 0;
}
