/* SPDX-License-Identifier: MIT */
/* pipeline.c - batches through the densecl C API without idling the device between them
 * (README, "Embedding"): densecl_engine_start() enqueues batch i+1 before densecl_job_wait()
 * waits for batch i, so batch i+1's upload overlaps batch i's compute and the host fills batch
 * i+2 meanwhile. Then the same batches one blocking densecl_engine_run() at a time: the logits
 * must be the same bit for bit (same device, same kernels), and the two speeds are printed.
 *
 *   cc pipeline.c -o pipeline $(pkg-config --cflags --libs densecl)
 *   ./pipeline [WEIGHTS [BATCHES [BATCH [FIRST]]]]  # default: random DenseNet-BC-100, 8 batches
 *                                                   # of 16; WEIGHTS "-": the random ones
 *
 * FIRST, when given, is a file the first batch's logits are written to (raw float32
 * [BATCH, classes]), for checking them against a reference (the tests do).
 *
 * The inputs are seeded noise of the model's input size (a real program decodes images into
 * them with densecl_image_to_input, as embed.c does). Each batch has its own input and logits
 * buffer: the device reads a batch's input until its job is waited for.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "densecl.h"

enum { IN_FLIGHT = 2 }; /* jobs started and not yet waited for: one computing, one uploading */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill(float *x, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

static int fail(const char *what, densecl_status st)
{
    fprintf(stderr, "%s: %s: %s\n", what, densecl_status_str(st), densecl_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    densecl_weights *w = NULL;
    densecl_engine *e = NULL;
    densecl_config cfg;
    densecl_status st;
    int batches = argc > 2 ? atoi(argv[2]) : 8, batch = argc > 3 ? atoi(argv[3]) : 16;
    const char *first = argc > 4 ? argv[4] : NULL;
    float *x[IN_FLIGHT] = {NULL}, *piped = NULL, *blocking = NULL;
    densecl_job *job[IN_FLIGHT] = {NULL};
    int rc = 1;

    if (batches < 1 || batch < 1 || argc > 5) {
        fprintf(stderr, "usage: pipeline [WEIGHTS [BATCHES [BATCH [FIRST]]]]\n");
        return 2;
    }
    if (argc > 1 && strcmp(argv[1], "-") != 0) {
        st = densecl_weights_load(argv[1], NULL, &w);
    } else {
        densecl_config_preset("densenet-bc-100-k12", &cfg);
        st = densecl_weights_random(&cfg, 42, &w);
    }
    if (st != DENSECL_OK)
        return fail("weights", st);
    cfg = *densecl_weights_config(w);
    if ((st = densecl_engine_create(w, "auto", &e)) != DENSECL_OK) {
        rc = fail("engine", st);
        goto done;
    }
    /* The input size the weights' preprocessing makes, else 224 (ImageNet) or 32 (CIFAR). */
    densecl_preprocess pp;
    int h = cfg.stem == DENSECL_STEM_IMAGENET ? 224 : 32, wd = h;
    if (densecl_weights_preprocess(w, &pp) == DENSECL_OK) {
        h = pp.height;
        wd = pp.width;
    }
    size_t image = (size_t)cfg.in_channels * (size_t)h * (size_t)wd;
    size_t out = (size_t)batch * (size_t)cfg.num_classes;
    for (int s = 0; s < IN_FLIGHT; s++)
        x[s] = malloc((size_t)batch * image * sizeof(float));
    piped = malloc((size_t)batches * out * sizeof(float));
    blocking = malloc(out * sizeof(float));
    if (!x[0] || !x[1] || !piped || !blocking) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }

    /* A first run, untimed: it builds what the device compiles lazily (POCL) and the buffers. */
    fill(x[0], (size_t)batch * image, 999u);
    if ((st = densecl_engine_run(e, x[0], batch, cfg.in_channels, h, wd, blocking)) != DENSECL_OK) {
        rc = fail("run", st);
        goto done;
    }

    /* The pipeline: batch i goes into slot i % 2, whose last job (batch i - 2) was waited for
     * on the way, so its input may be refilled; batch i is started before batch i - 1 is
     * waited for. */
    double t0 = now();
    for (int i = 0; i <= batches; i++) {
        int s = i % IN_FLIGHT;
        if (i < batches) {
            fill(x[s], (size_t)batch * image, 1000u + (unsigned)i);
            st = densecl_engine_start(e, x[s], batch, cfg.in_channels, h, wd,
                                      piped + (size_t)i * out, &job[s]);
            if (st != DENSECL_OK) {
                rc = fail("start", st);
                goto done;
            }
        }
        densecl_job **prev = &job[(i + IN_FLIGHT - 1) % IN_FLIGHT];
        if (i > 0 && *prev) {
            st = densecl_job_wait(*prev);
            *prev = NULL;
            if (st != DENSECL_OK) {
                rc = fail("wait", st);
                goto done;
            }
        }
    }
    double t_piped = now() - t0;

    /* The same batches, each filled, run and waited for before the next. */
    t0 = now();
    for (int i = 0; i < batches; i++) {
        fill(x[0], (size_t)batch * image, 1000u + (unsigned)i);
        st = densecl_engine_run(e, x[0], batch, cfg.in_channels, h, wd, blocking);
        if (st != DENSECL_OK) {
            rc = fail("run", st);
            goto done;
        }
        if (memcmp(blocking, piped + (size_t)i * out, out * sizeof(float)) != 0) {
            fprintf(stderr, "batch %d: the pipelined logits differ from the blocking run's\n", i);
            goto done;
        }
    }
    double t_blocking = now() - t0;
    if (first) {
        FILE *f = fopen(first, "wb");
        int written = f && fwrite(piped, sizeof(float), out, f) == out;
        if (f && fclose(f) != 0)
            written = 0;
        if (!written) {
            fprintf(stderr, "%s: cannot write the first batch's logits\n", first);
            goto done;
        }
    }
    printf("%d batches of %d images (%dx%d) on '%s': the same logits both ways; pipelined "
           "%.1f images/s, one at a time %.1f images/s\n",
           batches, batch, h, wd, densecl_engine_device(e)->name, batches * batch / t_piped,
           batches * batch / t_blocking);
    rc = 0;
done:
    densecl_engine_free(e); /* waits for and frees any job not waited for (after an error) */
    densecl_weights_free(w);
    for (int s = 0; s < IN_FLIGHT; s++)
        free(x[s]);
    free(piped);
    free(blocking);
    return rc;
}
