/* SPDX-License-Identifier: MIT */
/* test_selftest.c - densecl_device_selftest through the public header alone: its argument
 * checks, and on the first POCL device a build, a passing conv check with its three cases, and
 * (with bench) every benchmark figure measured. Figures are only checked to be > 0: timing is
 * never a pass/fail criterion. A device whose kernels do not build fails here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "densecl.h"

int main(void)
{
    /* ~20 KiB: not on the stack */
    densecl_selftest *r = calloc(1, sizeof *r);
    densecl_weights *w = NULL;
    /* A tiny DenseNet, so that the model benchmark runs in moments on a CPU: one block of two
     * layers, CIFAR stem (no downsampling), 224x224 input. */
    densecl_config cfg = {.growth_rate = 4,
                          .num_blocks = 1,
                          .block_layers = {2},
                          .init_features = 8,
                          .bottleneck = 0,
                          .bn_size = 4,
                          .compression = 1.0f,
                          .stem = DENSECL_STEM_CIFAR,
                          .in_channels = 3,
                          .num_classes = 10};
    densecl_status st;
    CHECK(r != NULL);
    if (!r)
        return check_summary();

    CHECK(densecl_device_selftest("0:0", 0, NULL, NULL) == DENSECL_ERR_ARGUMENT);
    st = densecl_device_selftest("7:3", 0, NULL, r);
    CHECKF(st == DENSECL_ERR_NO_DEVICE, "a spec matching no device gave %s",
           densecl_status_str(st));

    /* The checks alone. */
    st = densecl_device_selftest("0:0", 0, NULL, r);
    CHECKF(st == DENSECL_OK, "%s: %s", densecl_status_str(st), densecl_last_error());
    CHECKF(r->build_ok, "kernels did not build: %s", r->build_log);
    CHECKF(r->conv_ok, "conv check: %s", r->conv_detail);
    CHECK(r->conv_max_abs_err >= 0.0 && r->conv_max_abs_err < 1e-3);
    CHECKF(strncmp(r->conv_detail, "ok (max err ", 12) == 0, "detail '%s'", r->conv_detail);
    for (int i = 0; i < DENSECL_SELFTEST_CASES; i++)
        CHECKF(strstr(r->conv_cases[i], ": ok (max err ") != NULL, "case %d: '%s'", i,
               r->conv_cases[i]);
    CHECK(r->bench_ran == 0 && r->gflops == 0.0 && r->images_per_s == 0.0);

    /* With the benchmarks and a model. */
    st = densecl_weights_random(&cfg, 7, &w);
    CHECKF(st == DENSECL_OK, "random weights: %s", densecl_last_error());
    st = densecl_device_selftest("0:0", 1, w, r);
    CHECKF(st == DENSECL_OK, "%s: %s", densecl_status_str(st), densecl_last_error());
    CHECK(r->build_ok && r->conv_ok);
    CHECK(r->bench_ran);
    CHECKF(r->bench_error[0] == '\0', "bench error: %s", r->bench_error);
    CHECK(r->gflops > 0.0 && isfinite(r->gflops) && r->conv_ms > 0.0);
    CHECK(r->bandwidth_gbs > 0.0 && r->copy_bytes > 0 && r->copy_ms > 0.0);
    CHECK(r->launch_latency_us > 0.0);
    CHECK(r->images_per_s > 0.0 && r->model_ms > 0.0);
    CHECK(r->bench_runs > 0 && r->launch_runs > 0 && r->model_runs > 0);

    densecl_weights_free(w);
    free(r);
    return check_summary();
}
