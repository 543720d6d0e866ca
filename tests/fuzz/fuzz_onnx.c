/* SPDX-License-Identifier: MIT */
/* fuzz_onnx.c - the ONNX weights path on arbitrary bytes:
 *   dc_onnx_parse (protobuf-c decoding, then the DenseNet graph walk) -> dc_config_infer ->
 *   dc_config_match -> dc_weights_check_values -> dc_plan_build -> dc_fold, then the public
 *   densecl_weights_load on the same bytes through a memfd (the format sniffing included).
 *
 * Invariants besides the sanitizers: a refusal leaves an empty set and a message; every
 * accepted tensor has a unique key, a shape that fits and float data of that size; a graph that
 * is accepted gives a config that is valid and tensors that match it and fold; the file API
 * agrees with the in-memory one on whether the weights load. */
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
        FUZZ_CHECK(t->key != NULL && t->data != NULL && t->dtype == DC_F32);
        FUZZ_CHECK(t->ndim >= 1 && t->ndim <= 4);
        size_t count = 1;
        for (int d = 0; d < t->ndim; d++) {
            FUZZ_CHECK(t->shape[d] >= 0);
            FUZZ_CHECK(dc_mul_size(count, (size_t)t->shape[d], &count));
        }
        volatile float sink = 0.0f; /* ASan reports data shorter than the shape */
        for (size_t e = 0; e < count; e++)
            sink += t->data[e];
        (void)sink;
        FUZZ_CHECK(dc_tensor_find(set, t->key) == t);
    }
    for (int i = 0; i < set->meta_count; i++)
        FUZZ_CHECK(set->meta_keys[i] && set->meta_values[i]);
}

/* densecl_weights_load's steps after reading, then the engine's fold. Returns the status of
 * the load (values checked). */
static densecl_status load_inferred(const dc_tensor_set *set)
{
    densecl_config cfg;
    memset(&cfg, 0, sizeof cfg);
    densecl_status st = dc_config_infer(set, &cfg);
    if (st != DENSECL_OK)
        return st;
    FUZZ_CHECK(densecl_config_check(&cfg) == DENSECL_OK);
    if ((st = dc_config_match(&cfg, set, "fuzz")) != DENSECL_OK)
        return st;
    densecl_status vst = dc_weights_check_values(set, "fuzz");
    FUZZ_CHECK(vst == DENSECL_OK || vst == DENSECL_ERR_FORMAT);
    dc_plan plan;
    dc_op_params *params = NULL;
    int min = densecl_config_min_size(&cfg);
    FUZZ_CHECK(min > 0);
    FUZZ_CHECK(dc_plan_build(&cfg, 1, min, min, &plan) == DENSECL_OK);
    densecl_status fst = dc_fold(&plan, set, &params);
    FUZZ_CHECK(fst == DENSECL_OK || fst == DENSECL_ERR_NO_MEMORY);
    dc_params_free(params, plan.n_ops);
    dc_plan_free(&plan);
    return vst;
}

/* The same bytes through densecl_weights_load. want: the status it must give when the sniffer
 * sends the file to the ONNX reader, -1 when any status is fine. */
static void load_via_file(const uint8_t *data, size_t size, int want)
{
    char path[64];
    densecl_weights *w = NULL;
    const char *what;
    int fd = fuzz_memfd(data, size, "fuzz.onnx", path, sizeof path);
    if (fd < 0)
        return;
    densecl_status st = densecl_weights_load(path, NULL, &w);
    size_t head = size < 512 ? size : 512;
    if (dc_weights_sniff(data, head, &what) != DC_FILE_ONNX)
        want = -1;
    if (want >= 0 && (int)st != want)
        fprintf(stderr, "densecl_weights_load: %s, expected %s\n", densecl_last_error(),
                densecl_status_str((densecl_status)want));
    FUZZ_CHECK(want < 0 || (int)st == want);
    FUZZ_CHECK((st == DENSECL_OK) == (w != NULL));
    if (w)
        FUZZ_CHECK(densecl_config_check(densecl_weights_config(w)) == DENSECL_OK);
    densecl_weights_free(w);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dc_tensor_set set;
    densecl_status st = dc_onnx_parse(data, size, "fuzz", NULL, &set);
    if (st != DENSECL_OK) {
        FUZZ_CHECK(st == DENSECL_ERR_FORMAT || st == DENSECL_ERR_NO_MEMORY);
        FUZZ_CHECK(set.count == 0 && set.t == NULL && set.meta_count == 0);
        FUZZ_CHECK(densecl_last_error()[0] != '\0');
        /* From a file, external data can be read where from memory it is refused: no
         * agreement is required of the file path then, only that it does not crash. */
        load_via_file(data, size, -1);
        return 0;
    }
    check_set(&set);
    st = load_inferred(&set);
    FUZZ_CHECK(st == DENSECL_OK || st == DENSECL_ERR_MISMATCH || st == DENSECL_ERR_FORMAT ||
               st == DENSECL_ERR_NO_MEMORY || st == DENSECL_ERR_ARGUMENT);
    dc_tensor_set_free(&set);
    load_via_file(data, size, (int)st);
    return 0;
}
