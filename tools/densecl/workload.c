/* SPDX-License-Identifier: MIT */
/* workload.c - what `densecl bench` and `densecl tune` run and how they time it (bench.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "tools_internal.h"

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int parse_size(const char *s, int *h, int *w)
{
    char extra;
    if (sscanf(s, "%dx%d%c", h, w, &extra) == 2 && *h > 0 && *w > 0 && *h <= 65536 && *w <= 65536)
        return 1;
    if (sscanf(s, "%d%c", h, &extra) == 1 && *h > 0 && *h <= 65536) {
        *w = *h;
        return 1;
    }
    return 0;
}

void workload_free(workload *wl)
{
    densecl_weights_free(wl->wts);
    free(wl->x);
    free(wl->y);
    memset(wl, 0, sizeof *wl);
}

/* Parses --batch and --size and loads the weights. 0, or the exit code once reported. */
int workload_init(const char *cmd, const bench_opts *o, workload *wl)
{
    densecl_status st;
    memset(wl, 0, sizeof *wl);
    wl->batch = 1;
    if (o->batch && !parse_int(o->batch, 1, 1 << 16, &wl->batch))
        return fail_usage(cmd, "--batch needs an integer in [1, 65536], got '%s'", o->batch);
    if (o->size && !parse_size(o->size, &wl->h, &wl->w))
        return fail_usage(cmd, "--size needs HxW (e.g. 224x224) or one side, got '%s'", o->size);
    double t0 = cli_now();
    if (o->weights) {
        densecl_config expect;
        if (o->model) {
            if (densecl_config_preset(o->model, &expect) != DENSECL_OK)
                return fail_usage(cmd, "--model: %s", densecl_last_error());
            expect.num_classes = 0;
            expect.in_channels = 0;
        }
        st = densecl_weights_load(o->weights, o->model ? &expect : NULL, &wl->wts);
    } else {
        if (densecl_config_preset(o->model ? o->model : "densenet121", &wl->cfg) != DENSECL_OK)
            return fail_usage(cmd, "--model: %s", densecl_last_error());
        st = densecl_weights_random(&wl->cfg, 0, &wl->wts);
    }
    if (st != DENSECL_OK)
        return fail_status(st);
    wl->t_weights = cli_now() - t0;
    wl->cfg = *densecl_weights_config(wl->wts);
    wl->model = o->model ? o->model : o->weights ? o->weights : "densenet121";
    if (!wl->h)
        wl->h = wl->w = native_size(&wl->cfg);
    int min = densecl_config_min_size(&wl->cfg);
    if (wl->h < min || wl->w < min)
        return fail_msg("--size %dx%d is too small for this model (minimum %dx%d)", wl->h, wl->w,
                        min, min);
    size_t in_len = (size_t)wl->batch * wl->cfg.in_channels * wl->h * wl->w;
    wl->x = malloc(in_len * sizeof *wl->x);
    wl->y = malloc((size_t)wl->batch * wl->cfg.num_classes * sizeof *wl->y);
    if (!wl->x || !wl->y)
        return fail_msg("out of memory");
    /* Deterministic, image-like input: the values matter little, NaNs and denormals would. */
    for (size_t i = 0; i < in_len; i++)
        wl->x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    return 0;
}

densecl_status workload_run(densecl_engine *e, const workload *wl)
{
    return densecl_engine_run(e, wl->x, wl->batch, wl->cfg.in_channels, wl->h, wl->w, wl->y);
}

/* warmup untimed runs, then iters timed ones into times[] (ms), sorted. 0, or the exit code. */
int bench_time_runs(densecl_engine *e, const workload *wl, int warmup, int iters, double *times)
{
    densecl_status st;
    for (int i = 0; i < warmup; i++)
        if ((st = workload_run(e, wl)) != DENSECL_OK)
            return fail_status(st);
    for (int i = 0; i < iters; i++) {
        double t0 = cli_now();
        if ((st = workload_run(e, wl)) != DENSECL_OK)
            return fail_status(st);
        times[i] = (cli_now() - t0) * 1e3;
    }
    qsort(times, (size_t)iters, sizeof *times, bench_cmp_double);
    return 0;
}

double bench_median(const double *sorted, int n)
{
    return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}
