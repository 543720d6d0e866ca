/* SPDX-License-Identifier: MIT */
/* test_engine_options.c - engine options and device specs of 0.7.0, on the CPU device:
 *
 *   test_engine_options CORPUS_DIR   (tests/fuzz/corpus/onnx)
 *
 *   - threads: a CPU device limited to N threads runs on a sub-device of N compute units (its
 *     CL_DEVICE_MAX_COMPUTE_UNITS, as densecl_replica_stats reports it), with the logits of the
 *     whole device; N at or above its units uses it whole; a negative N is refused;
 *   - fallback specs: "gpu|cpu" is the first alternative that exists (the GPU where there is
 *     one), where the list "gpu,cpu" needs both; an empty alternative is refused;
 *   - an ONNX graph's static input size is the only one its engine takes, refused as ONNX
 *     Runtime refuses it; a symbolic batch takes any batch.
 * Needs a CPU device with at least 2 compute units (a test that cannot show a limit fails). */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan/plan.h"

static int has(const char *text)
{
    return strstr(densecl_last_error(), text) != NULL;
}

static void check_threads(void)
{
    densecl_config cfg;
    densecl_weights *w = NULL;
    densecl_engine *whole = NULL, *one = NULL, *many = NULL, *bad = NULL;
    densecl_device_info cpu;
    densecl_replica_stats s;
    CHECK(densecl_config_preset("densenet-bc-100-k12", &cfg) == DENSECL_OK);
    cfg.block_layers[0] = cfg.block_layers[1] = cfg.block_layers[2] = 2;
    CHECK(densecl_weights_random(&cfg, 7, &w) == DENSECL_OK);
    CHECKF(densecl_device_find("cpu", &cpu) == DENSECL_OK, "%s", densecl_last_error());
    CHECKF(cpu.compute_units >= 2,
           "the CPU device has %u compute units: a limit of fewer cannot be shown",
           cpu.compute_units);
    densecl_engine_options o;
    memset(&o, 0, sizeof o);
    o.device = "cpu";
    CHECKF(densecl_engine_create_ex(w, &o, &whole) == DENSECL_OK, "%s", densecl_last_error());
    o.threads = 1;
    CHECKF(densecl_engine_create_ex(w, &o, &one) == DENSECL_OK, "%s", densecl_last_error());
    o.threads = (int)cpu.compute_units + 3;
    CHECKF(densecl_engine_create_ex(w, &o, &many) == DENSECL_OK, "%s", densecl_last_error());
    o.threads = -1;
    CHECK(densecl_engine_create_ex(w, &o, &bad) == DENSECL_ERR_ARGUMENT && !bad);
    if (whole && one && many) {
        CHECK(densecl_engine_replica_stats(whole, 0, &s) == DENSECL_OK &&
              s.device.compute_units == cpu.compute_units);
        CHECKF(densecl_engine_replica_stats(one, 0, &s) == DENSECL_OK &&
                   s.device.compute_units == 1 && s.device.platform_index == cpu.platform_index &&
                   s.device.device_index == cpu.device_index,
               "threads 1: %u compute units", s.device.compute_units);
        CHECKF(densecl_engine_device(one)->compute_units == 1, "engine device: %u units",
               densecl_engine_device(one)->compute_units);
        CHECK(densecl_engine_replica_stats(many, 0, &s) == DENSECL_OK &&
              s.device.compute_units == cpu.compute_units);
        /* The same logits on one thread as on all. */
        enum { N = 3, HW = 32 };
        size_t image = (size_t)3 * HW * HW;
        float *x = malloc(N * image * sizeof *x);
        float *a = malloc((size_t)N * (size_t)cfg.num_classes * sizeof *a);
        float *b = malloc((size_t)N * (size_t)cfg.num_classes * sizeof *b);
        if (x && a && b) {
            for (size_t i = 0; i < N * image; i++)
                x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
            CHECK(densecl_engine_run(whole, x, N, 3, HW, HW, a) == DENSECL_OK);
            CHECK(densecl_engine_run(one, x, N, 3, HW, HW, b) == DENSECL_OK);
            CHECK(memcmp(a, b, (size_t)N * (size_t)cfg.num_classes * sizeof *a) == 0);
        }
        free(x);
        free(a);
        free(b);
    }
    densecl_engine_free(whole);
    densecl_engine_free(one);
    densecl_engine_free(many);
    densecl_weights_free(w);
}

static void check_fallback(void)
{
    densecl_device_info gpu, got, cpu;
    int have_gpu = densecl_device_find("gpu", &gpu) == DENSECL_OK;
    CHECK(densecl_device_find("cpu", &cpu) == DENSECL_OK);
    CHECKF(densecl_device_find("gpu|cpu", &got) == DENSECL_OK, "%s", densecl_last_error());
    const densecl_device_info *want = have_gpu ? &gpu : &cpu;
    CHECK(got.platform_index == want->platform_index && got.device_index == want->device_index);
    CHECK(densecl_device_find("no such device|cpu", &got) == DENSECL_OK &&
          got.type == DENSECL_DEVICE_CPU);
    CHECK(densecl_device_find("no such device|nor this", &got) == DENSECL_ERR_NO_DEVICE &&
          has("'no such device|nor this'"));
    CHECK(densecl_device_find("gpu|", &got) == DENSECL_ERR_NO_DEVICE && has("empty alternative"));
    /* An engine: the fallback works where a split list needs both devices. */
    densecl_config cfg;
    densecl_weights *w = NULL;
    densecl_engine *e = NULL;
    CHECK(densecl_config_preset("densenet-bc-100-k12", &cfg) == DENSECL_OK);
    cfg.block_layers[0] = cfg.block_layers[1] = cfg.block_layers[2] = 1;
    CHECK(densecl_weights_random(&cfg, 3, &w) == DENSECL_OK);
    CHECKF(densecl_engine_create(w, "gpu|cpu", &e) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(e && densecl_engine_replica_count(e) == 1);
    densecl_engine_free(e);
    e = NULL;
    if (!have_gpu)
        CHECK(densecl_engine_create(w, "gpu,cpu", &e) == DENSECL_ERR_NO_DEVICE && !e &&
              has("no OpenCL device matches 'gpu'"));
    densecl_engine_free(e);
    densecl_weights_free(w);
}

static void check_static_input(const char *dir)
{
    static const char *const files[] = {"cifar_op11.onnx", "cifar_op17_dyn.onnx"};
    for (int f = 0; f < 2; f++) {
        char path[1024];
        densecl_weights *w = NULL;
        densecl_engine *e = NULL;
        float x[3 * 12 * 8] = {0}, y[3 * 3];
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        CHECKF(densecl_weights_load(path, NULL, &w) == DENSECL_OK, "%s", densecl_last_error());
        CHECKF(w && densecl_engine_create(w, "cpu", &e) == DENSECL_OK, "%s", densecl_last_error());
        densecl_weights_free(w);
        if (!e)
            continue;
        /* [1, 1, 8, 8] (or [batch, 1, 8, 8]): 8x8 in any batch; 12x8 refused. */
        CHECKF(densecl_engine_run(e, x, 3, 1, 8, 8, y) == DENSECL_OK, "%s", densecl_last_error());
        CHECK(densecl_engine_run(e, x, 2, 1, 12, 8, y) == DENSECL_ERR_INPUT &&
              has("input of 12x8 pixels") && has("index: 2 Got: 12 Expected: 8") &&
              !has("index: 3") && has(f ? "[?, 1, 8, 8]" : "[1, 1, 8, 8]"));
        CHECK(densecl_engine_run(e, x, 1, 1, 8, 12, y) == DENSECL_ERR_INPUT &&
              has("index: 3 Got: 12 Expected: 8"));
        densecl_engine_free(e);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    check_threads();
    check_fallback();
    check_static_input(argv[1]);
    return check_summary();
}
