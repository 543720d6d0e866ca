/* SPDX-License-Identifier: MIT */
/* test_selftest.c - densecl_device_selftest through the public header alone: its argument
 * checks, and on the first POCL device a build, a passing conv check with its three cases within
 * the float error bound of their sums, a conv check that fails on kernels made wrong, and (with
 * bench) every benchmark figure measured and consistent with the time it came from. Figures are
 * never compared with a speed: timing is never a pass/fail criterion. A device whose kernels do
 * not build fails here.
 *
 * usage: test_selftest SOURCE_DIR (the kernels are copied from it and made wrong) */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "densecl.h"

/* The conv check's cases (host/runtime/selftest.c, dc_st_conv_cases): each output is a sum of
 * K = cin * k * k products plus a bias, inputs in [-1, 1), weights below 1 / sqrt(K) in
 * magnitude, biases below 0.5, and with the BN+ReLU prologue inputs P(x) = max(x * scale +
 * shift, 0) below 1.5 + 0.5 = 2. Any order of float sums and fmas of those terms is within
 * gamma(K + 2) * S of the exact value (Higham, Accuracy and Stability of Numerical Algorithms,
 * 3.1: gamma(n) = n u / (1 - n u), u = 2^-24; the 2 covers the prologue's own rounding), S the
 * sum of the terms' magnitudes: S < K * P / sqrt(K) + 0.5 = P sqrt(K) + 0.5. The result's final
 * rounding adds u * S. The check compares with a double reference, so its largest absolute error
 * must lie within that: an absolute part (u * S) and one relative to the terms (gamma * S). The
 * errors seen are near 1e-7, the bounds 1e-5 to 2e-4; the old bar was 1e-3. */
static const struct {
    const char *name; /* the case line's start */
    int k_terms;      /* K */
    double p;         /* the largest |input| after the prologue */
} conv_cases[DENSECL_SELFTEST_CASES] = {
    {"3x3 13->7 11x9: ", 13 * 9, 2.0},
    {"1x1 19->21 7x5: ", 19, 2.0},
    {"7x7/2 3->10 13x11: ", 3 * 49, 1.0},
};

static double error_bound(int k, double p)
{
    const double u = 0x1p-24, s = p * sqrt((double)k) + 0.5;
    const double gamma = (k + 2) * u / (1.0 - (k + 2) * u);
    return gamma * s + u * s;
}

/* The conv check of a passing device: every case within its bound, the detail's largest error
 * theirs. Each case's line gives its error to one digit, rounded (at most 1.5 times the exact
 * one), the struct the largest exactly. Not 0: fp32 sums of up to 147 terms against a double
 * reference cannot all come out exact. */
static void check_conv(const densecl_selftest *r)
{
    double largest = 0.0, bound_max = 0.0;
    CHECKF(r->conv_ok, "conv check: %s", r->conv_detail);
    CHECKF(strncmp(r->conv_detail, "ok (max err ", 12) == 0, "detail '%s'", r->conv_detail);
    for (int i = 0; i < DENSECL_SELFTEST_CASES; i++) {
        const char *line = r->conv_cases[i], *at = strstr(line, ": ok (max err ");
        const double bound = error_bound(conv_cases[i].k_terms, conv_cases[i].p);
        double e = -1.0;
        CHECKF(strncmp(line, conv_cases[i].name, strlen(conv_cases[i].name)) == 0,
               "case %d is '%s', this test knows it as '%s' (update conv_cases)", i, line,
               conv_cases[i].name);
        CHECKF(at && sscanf(at, ": ok (max err %lf)", &e) == 1 && e >= 0.0 && e <= 1.5 * bound,
               "case %d: '%s': want an error within %.3g", i, line, bound);
        largest = e > largest ? e : largest;
        bound_max = bound > bound_max ? bound : bound_max;
    }
    CHECKF(r->conv_max_abs_err > 0.0 && r->conv_max_abs_err <= bound_max,
           "max abs error %.3g: want (0, %.3g]", r->conv_max_abs_err, bound_max);
    CHECKF(largest <= 1.5 * r->conv_max_abs_err && r->conv_max_abs_err <= 1.5 * largest,
           "max abs error %.3g, the largest case's %.3g", r->conv_max_abs_err, largest);
}

/* The source's kernels copied to the folder dir (made by mkdtemp) with fma() and mad() made
 * wrong by 0.01 (every conv sum and the prologue use one of them); its kernels.cl, or NULL. */
static char *wrong_kernels(const char *src, const char *dir)
{
    char cmd[8800], path[4400];
    snprintf(cmd, sizeof cmd, "cp -r '%s/kernels.cl' '%s/kernels' '%s/'", src, src, dir);
    if (system(cmd) != 0)
        return NULL;
    snprintf(path, sizeof path, "%s/kernels/common.cl", dir);
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long len = 0;
    int ok = 0;
    if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (text = calloc((size_t)len + 1, 1)) && fread(text, 1, (size_t)len, f) == (size_t)len) {
        fclose(f);
        f = fopen(path, "wb");
        /* #undef first: the device's headers may define them as macros */
        ok = f &&
             fputs("#undef fma\n#undef mad\n"
                   "#define fma(a, b, c) ((a) * (b) + (c) + 0.01f)\n"
                   "#define mad(a, b, c) ((a) * (b) + (c) + 0.01f)\n",
                   f) >= 0 &&
             fwrite(text, 1, (size_t)len, f) == (size_t)len;
    }
    free(text);
    if (f && fclose(f) != 0)
        ok = 0;
    snprintf(path, sizeof path, "%s/kernels.cl", dir);
    return ok ? strdup(path) : NULL;
}

/* Kernels whose sums are off by 0.01 per fma: the check must fail, and say where. */
static void check_wrong_kernels(const char *src)
{
    char dir[] = "/tmp/densecl-selftest-XXXXXX", cmd[200];
    if (!src) {
        CHECKF(0, "test_selftest needs the source folder (tests/unit/unit.cmake gives it)");
        return;
    }
    if (!mkdtemp(dir)) {
        CHECKF(0, "mkdtemp failed");
        return;
    }
    char *path = wrong_kernels(src, dir);
    densecl_selftest *bad = calloc(1, sizeof *bad);
    CHECKF(path != NULL && bad != NULL, "copying the kernels of %s", src);
    if (path && bad) {
        setenv("DENSECL_KERNELS", path, 1);
        densecl_status st = densecl_device_selftest("0:0", 0, NULL, bad);
        unsetenv("DENSECL_KERNELS");
        CHECKF(st == DENSECL_OK && bad->build_ok, "wrong kernels: %s: %s", densecl_status_str(st),
               bad->build_log);
        CHECKF(!bad->conv_ok && strncmp(bad->conv_detail, "FAILED: ", 8) == 0 &&
                   strstr(bad->conv_detail, "wrong result at"),
               "the check passed kernels made wrong: '%s'", bad->conv_detail);
    }
    free(bad);
    free(path);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* Each benchmark figure is the work over the time it reports, whatever the speed: the conv is
 * 2 * 256 * 128 * 56 * 56 flops (densecl.h: a 1x1 conv 256->128 at 56x56), the copy reads and
 * writes copy_bytes, the model one image per model_ms. To 1e-9 relative. */
static void check_bench(const densecl_selftest *r)
{
    const double flops = 2.0 * 256 * 128 * 56 * 56;
    const double gf = flops / (r->conv_ms * 1e-3) / 1e9;
    const double gbs = 2.0 * (double)r->copy_bytes / (r->copy_ms * 1e-3) / 1e9;
    CHECK(r->gflops > 0.0 && isfinite(r->gflops) && r->conv_ms > 0.0);
    CHECK(r->bandwidth_gbs > 0.0 && r->copy_bytes > 0 && r->copy_ms > 0.0);
    CHECK(r->launch_latency_us > 0.0);
    CHECK(r->images_per_s > 0.0 && r->model_ms > 0.0);
    CHECK(r->bench_runs > 0 && r->launch_runs > 0 && r->model_runs > 0);
    CHECKF(fabs(r->gflops - gf) <= 1e-9 * gf, "%.6g GFLOP/s from %.6g ms: want %.6g", r->gflops,
           r->conv_ms, gf);
    CHECKF(fabs(r->bandwidth_gbs - gbs) <= 1e-9 * gbs,
           "%.6g GB/s from %zu bytes in %.6g ms: want %.6g", r->bandwidth_gbs, r->copy_bytes,
           r->copy_ms, gbs);
    CHECKF(fabs(r->images_per_s * r->model_ms - 1000.0) <= 1e-6,
           "%.6g images/s from %.6g ms per image", r->images_per_s, r->model_ms);
}

int main(int argc, char **argv)
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
    check_conv(r);
    CHECK(r->bench_ran == 0 && r->gflops == 0.0 && r->images_per_s == 0.0);
    check_wrong_kernels(argc > 1 ? argv[1] : NULL);

    /* With the benchmarks and a model. */
    st = densecl_weights_random(&cfg, 7, &w);
    CHECKF(st == DENSECL_OK, "random weights: %s", densecl_last_error());
    st = densecl_device_selftest("0:0", 1, w, r);
    CHECKF(st == DENSECL_OK, "%s: %s", densecl_status_str(st), densecl_last_error());
    CHECK(r->build_ok && r->conv_ok);
    CHECK(r->bench_ran);
    CHECKF(r->bench_error[0] == '\0', "bench error: %s", r->bench_error);
    check_bench(r);

    densecl_weights_free(w);
    free(r);
    return check_summary();
}
