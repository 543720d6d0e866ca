/* SPDX-License-Identifier: MIT */
/* bench.h - what `densecl bench` (cmd_bench.c) and `densecl tune` (cmd_tune.c) share: their
 * options, the workload they run (weights, an input batch, the logits) and the timed runs
 * (workload.c). */
#ifndef DENSECL_TOOLS_BENCH_H
#define DENSECL_TOOLS_BENCH_H

#include "cli.h"

typedef struct bench_opts {
    const char *model, *weights, *batch, *size, *device, *iterations, *warmup, *trace, *tiles;
    const char *conv1x1, *conv; /* tune: the candidate lists */
    const char *family;         /* --conv FAMILY (bench; tune: a --conv that names a family) */
    const char *kernel_params;  /* --kernel-params TEXT */
    const char *threads;        /* --threads N (bench) */
    int json, profile, help, verbose, dry_run;
} bench_opts;

/* What bench and tune run: weights, the input batch, the logits. */
typedef struct workload {
    densecl_weights *wts;
    densecl_config cfg;
    int batch, h, w;
    float *x, *y;
    double t_weights;  /* seconds to load or make the weights */
    const char *model; /* for reports */
} workload;

/* Parses --batch and --size and loads the weights. 0, or the exit code once reported. */
int workload_init(const char *cmd, const bench_opts *o, workload *wl);
void workload_free(workload *wl);
densecl_status workload_run(densecl_engine *e, const workload *wl);
/* warmup untimed runs, then iters timed ones into times[] (ms), sorted. 0, or the exit code. */
int bench_time_runs(densecl_engine *e, const workload *wl, int warmup, int iters, double *times);
/* qsort's comparison of doubles, ascending; the median of n sorted values. */
int bench_cmp_double(const void *a, const void *b);
double bench_median(const double *sorted, int n);

#endif
