/* SPDX-License-Identifier: MIT */
/* cmd_bench.c - `densecl bench`: warm-up, then timed runs; per-op profile and Chrome trace.
 *
 * Timing is wall-clock around densecl_engine_run (upload, compute, download: what a caller
 * waits for), and over jobs started back to back (the pipelined figure). GFLOP/s counts 2 x
 * the model's multiply-accumulates (densecl_config_macs, the figure papers and torchvision
 * quote), so numbers compare across implementations. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "tools_internal.h"

const char cmd_bench_usage[] =
    "usage: densecl bench [--model NAME] [--weights FILE] [--batch N] [--size HxW]\n"
    "                     [--device SPEC] [--iterations N] [--warmup N] [--json]\n"
    "                     [--profile] [--trace FILE] [--tiles CxP,CxP] [--conv FAMILY]\n"
    "                     [--kernel-params TEXT]\n"
    "\n"
    "Measures inference speed: engine creation (kernel build and weight upload), the first\n"
    "run, then --warmup runs and --iterations timed runs of one batch. Prints the median and\n"
    "spread of ms per batch, ms per image, images/s, GFLOP/s (2 x the model's MACs / time)\n"
    "and device memory; then the mean ms per batch of --iterations runs started back to back\n"
    "(each started before the last is waited for, as classify does: uploads overlap the\n"
    "compute).\n"
    "\n"
    "  --model NAME      a preset (default densenet121; random weights, seed 0)\n"
    "  --weights FILE    safetensors or ONNX weights instead of random ones\n"
    "  --batch N         images per run (default 1)\n"
    "  --size HxW        input size (default: 224x224 for ImageNet stems, 32x32 for CIFAR)\n"
    "  --device SPEC     as for 'densecl run'; 'all' or a list uses several devices\n"
    "  --iterations N    timed runs (default 10)\n"
    "  --warmup N        untimed runs after the first (default 2)\n"
    "  --json            one JSON object on stdout\n"
    "  --profile         time per op kind and the ten slowest ops (OpenCL event profiling)\n"
    "  --trace FILE      write a Chrome/Perfetto trace (JSON) of one profiled run\n"
    "  --tiles CxP,CxP   conv tiles to build with, as given: the 1x1 tile, then the others'\n"
    "                    (channels x pixels per work-item; default: the device's from 'densecl\n"
    "                    tune', else its defaults, as 'densecl info' shows, fitted to the\n"
    "                    model's growth rate)\n"
    "  --conv FAMILY     conv kernel family: auto (default), direct, gemm, clblast, winograd\n"
    "                    (as for 'densecl run'; winograd runs the 3x3 convs, direct the rest);\n"
    "                    the 'convs' line says what each device resolved, and why\n"
    "  --kernel-params TEXT  the families' parameters, e.g. direct:1x1=8x32,conv=16x4\n"
    "  -h, --help        show this help\n";

/* The candidates densecl tune tries by default. */
#define TUNE_CONV1X1 "4x16,8x16,4x32,8x32,16x16,8x8,4x8,2x8"
#define TUNE_CONV "32x4,32x6,16x3,16x4,16x6,16x8,8x4,8x8,4x4,8x2"

const char cmd_tune_usage[] =
    "usage: densecl tune [--model NAME] [--weights FILE] [--batch N] [--size HxW]\n"
    "                    [--device SPEC] [--iterations N] [--conv1x1 LIST] [--conv LIST]\n"
    "                    [--dry-run] [--json] [--conv FAMILY] [--kernel-params TEXT]\n"
    "\n"
    "Finds the fastest convolution tiles (output channels x pixels per work-item) for one\n"
    "device and saves them in the kernel cache directory, where every engine on that device\n"
    "then finds them (DENSECL_NO_TUNING=1 ignores them). Each candidate builds the kernels\n"
    "once (seconds on POCL); the candidates of a stage then run one batch each in turn,\n"
    "--iterations times, so that the machine's slow spells fall on all alike. Stage one tries\n"
    "the 1x1 tiles, stage two the other convs' tiles with the best 1x1 tile. A candidate must\n"
    "beat the best so far by 2% (the median) to replace it, and the winner is timed against\n"
    "the defaults once more before it is saved. When the defaults win, no tiles are saved (a\n"
    "file saved before is removed), so the device follows densecl's defaults as they change.\n"
    "The tiles are measured on --model; an engine for a model whose growth rate fits 16-channel\n"
    "conv tiles better than 32 halves a tuned 32 (doubling the pixels), as it does the defaults,\n"
    "which are measured that way here too.\n"
    "Then every other conv family of the build (gemm, clblast, winograd: the 3x3 convs on it,\n"
    "the rest on direct) runs with its defaults against all-direct with the best tiles and\n"
    "with the defaults, in turn; one 2% faster than both is saved as the device's family,\n"
    "which auto then picks, and reported against the defaults of that race. Where auto runs the\n"
    "3x3 convs on winograd by default (AMD AVX-512 CPUs) and all-direct beats it by 2%, the\n"
    "file names direct.\n"
    "\n"
    "  --model NAME      a preset (default densenet121; random weights, seed 0)\n"
    "  --weights FILE    safetensors or ONNX weights instead of random ones\n"
    "  --batch N         images per run (default 1)\n"
    "  --size HxW        input size (default: 224x224 for ImageNet stems, 32x32 for CIFAR)\n"
    "  --device SPEC     the one device to tune (default auto)\n"
    "  --iterations N    timed runs per candidate, 1 to 32 (default 7)\n"
    "  --conv1x1 LIST    1x1 tiles to try (default " TUNE_CONV1X1 ")\n"
    "  --conv LIST       tiles of the other convs to try (the 7x7/2 stem takes at most 16x4;\n"
    "                    default " TUNE_CONV ")\n"
    "  --conv FAMILY     auto or direct (the default): the family whose tiles are tuned; a\n"
    "                    value that names a family is this, a list of tiles the one above\n"
    "  --kernel-params TEXT  direct parameters every candidate runs with, other than its tiles\n"
    "                    (e.g. direct:VEC=8)\n"
    "  --dry-run         measure and report, save nothing\n"
    "  --json            one JSON object on stdout\n"
    "  -h, --help        show this help\n";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench_opts {
    const char *model, *weights, *batch, *size, *device, *iterations, *warmup, *trace, *tiles;
    const char *conv1x1, *conv; /* tune: the candidate lists */
    const char *family;         /* --conv FAMILY (bench; tune: a --conv that names a family) */
    const char *kernel_params;  /* --kernel-params TEXT */
    int json, profile, help, verbose, dry_run;
} bench_opts;

/* Time and work per op kind. */
typedef struct kind_total {
    const char *kind;
    int count;
    double us;
    uint64_t macs;
} kind_total;

static int by_duration_desc(const void *a, const void *b)
{
    const densecl_op_event *x = a, *y = b;
    return (x->duration_us < y->duration_us) - (x->duration_us > y->duration_us);
}

static int kinds_of(const densecl_op_event *ev, int n, kind_total *kinds, int max)
{
    int nk = 0;
    for (int i = 0; i < n; i++) {
        int k = 0;
        while (k < nk && strcmp(kinds[k].kind, ev[i].kind) != 0)
            k++;
        if (k == nk) {
            if (nk == max)
                continue;
            kinds[nk++] = (kind_total){ev[i].kind, 0, 0, 0};
        }
        kinds[k].count++;
        kinds[k].us += ev[i].duration_us;
        kinds[k].macs += ev[i].macs;
    }
    return nk;
}

static void print_profile(const densecl_op_event *ev, int n, int json)
{
    kind_total kinds[16];
    int nk = kinds_of(ev, n, kinds, 16);
    double total = 0;
    densecl_op_event *sorted = malloc((size_t)n * sizeof *sorted);
    for (int k = 0; k < nk; k++)
        total += kinds[k].us;
    if (json) {
        printf(",\n  \"profile\": {\"kinds\": [");
        for (int k = 0; k < nk; k++) {
            printf("%s\n    {\"kind\": ", k ? "," : "");
            dc_json_write_string(stdout, kinds[k].kind);
            printf(", \"count\": %d, \"ms\": %.4f, \"share\": %.4f, \"gflops\": %.3f}",
                   kinds[k].count, kinds[k].us / 1e3,
                   total > 0 ? kinds[k].us / total : 0,
                   kinds[k].us > 0 ? 2.0 * (double)kinds[k].macs / (kinds[k].us * 1e3) : 0);
        }
        printf("],\n    \"slowest\": [");
    } else {
        printf("\ntime per op kind (device time of one run, summed over devices):\n");
        printf("  %-16s %6s %10s %7s %10s\n", "kind", "ops", "ms", "share", "GFLOP/s");
        for (int k = 0; k < nk; k++)
            printf("  %-16s %6d %10.3f %6.1f%% %10.2f\n", kinds[k].kind, kinds[k].count,
                   kinds[k].us / 1e3, total > 0 ? 100.0 * kinds[k].us / total : 0,
                   kinds[k].us > 0 ? 2.0 * (double)kinds[k].macs / (kinds[k].us * 1e3) : 0);
        printf("\nslowest ops:\n");
    }
    if (sorted) {
        memcpy(sorted, ev, (size_t)n * sizeof *sorted);
        qsort(sorted, (size_t)n, sizeof *sorted, by_duration_desc);
        for (int i = 0; i < n && i < 10; i++) {
            double gf = sorted[i].duration_us > 0
                            ? 2.0 * (double)sorted[i].macs / (sorted[i].duration_us * 1e3)
                            : 0;
            if (json) {
                printf("%s\n      {\"name\": ", i ? "," : "");
                dc_json_write_string(stdout, sorted[i].name);
                printf(", \"kind\": ");
                dc_json_write_string(stdout, sorted[i].kind);
                printf(", \"device\": %d, \"ms\": %.4f, \"gflops\": %.3f}", sorted[i].replica,
                       sorted[i].duration_us / 1e3, gf);
            } else
                printf("  %8.3f ms  %7.2f GFLOP/s  %-14s %s\n", sorted[i].duration_us / 1e3, gf,
                       sorted[i].kind, sorted[i].name);
        }
    }
    if (json)
        printf("]}");
    free(sorted);
}

/* Chrome trace event format: one complete ("X") event per command, a track per device. */
static int write_trace(const char *path, const densecl_op_event *ev, int n,
                       const densecl_engine *e)
{
    dc_atomic_file a;
    densecl_status st = dc_atomic_open(&a, path);
    if (st != DENSECL_OK)
        return fail_status(st);
    FILE *f = a.f;
    fprintf(f, "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n");
    for (int r = 0; r < densecl_engine_replica_count(e); r++) {
        densecl_replica_stats s;
        densecl_engine_replica_stats(e, r, &s);
        fprintf(f, "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": %d, "
                   "\"args\": {\"name\": \"device %d\"}},\n",
                r, r);
    }
    for (int i = 0; i < n; i++) {
        fprintf(f, "{\"name\": ");
        dc_json_write_string(f, ev[i].name);
        fprintf(f, ", \"cat\": ");
        dc_json_write_string(f, ev[i].kind);
        fprintf(f, ", \"ph\": \"X\", \"pid\": 1, \"tid\": %d, \"ts\": %.3f, \"dur\": %.3f, "
                   "\"args\": {\"macs\": %llu}}%s\n",
                ev[i].replica, ev[i].start_us, ev[i].duration_us, (unsigned long long)ev[i].macs,
                i + 1 < n ? "," : "");
    }
    fprintf(f, "]}\n");
    st = dc_atomic_close(&a, !ferror(f));
    return st == DENSECL_OK ? 0 : fail_status(st);
}

static int parse_size(const char *s, int *h, int *w)
{
    char extra;
    if (sscanf(s, "%dx%d%c", h, w, &extra) == 2 && *h > 0 && *w > 0 && *h <= 65536 &&
        *w <= 65536)
        return 1;
    if (sscanf(s, "%d%c", h, &extra) == 1 && *h > 0 && *h <= 65536) {
        *w = *h;
        return 1;
    }
    return 0;
}

/* What bench and tune run: weights, the input batch, the logits. */
typedef struct workload {
    densecl_weights *wts;
    densecl_config cfg;
    int batch, h, w;
    float *x, *y;
    double t_weights;  /* seconds to load or make the weights */
    const char *model; /* for reports */
} workload;

static void workload_free(workload *wl)
{
    densecl_weights_free(wl->wts);
    free(wl->x);
    free(wl->y);
    memset(wl, 0, sizeof *wl);
}

/* Parses --batch and --size and loads the weights. 0, or the exit code once reported. */
static int workload_init(const char *cmd, const bench_opts *o, workload *wl)
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

static densecl_status workload_run(densecl_engine *e, const workload *wl)
{
    return densecl_engine_run(e, wl->x, wl->batch, wl->cfg.in_channels, wl->h, wl->w, wl->y);
}

/* warmup untimed runs, then iters timed ones into times[] (ms), sorted. 0, or the exit code. */
static int time_runs(densecl_engine *e, const workload *wl, int warmup, int iters, double *times)
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
    qsort(times, (size_t)iters, sizeof *times, cmp_double);
    return 0;
}

/* iters runs as jobs back to back (densecl_engine_start), the next started before the last is
 * waited for, as classify runs its batches: ms per batch over all of them, so that the uploads
 * overlapping the compute show. 0, or the exit code. */
static int time_pipelined(densecl_engine *e, const workload *wl, int iters, double *ms)
{
    densecl_status st = DENSECL_OK, st2;
    densecl_job *prev = NULL, *job = NULL;
    size_t per = (size_t)wl->batch * (size_t)wl->cfg.num_classes;
    float *y = malloc(2 * per * sizeof *y); /* one output per job in flight */
    if (!y)
        return fail_msg("out of memory");
    double t0 = cli_now();
    for (int i = 0; i < iters && st == DENSECL_OK; i++) {
        st = densecl_engine_start(e, wl->x, wl->batch, wl->cfg.in_channels, wl->h, wl->w,
                                  y + (size_t)(i % 2) * per, &job);
        if (prev && (st2 = densecl_job_wait(prev)) != DENSECL_OK && st == DENSECL_OK)
            st = st2;
        prev = st == DENSECL_OK ? job : NULL;
        if (st != DENSECL_OK && job)
            densecl_job_wait(job); /* every job started is waited for */
    }
    if (prev && (st2 = densecl_job_wait(prev)) != DENSECL_OK && st == DENSECL_OK)
        st = st2;
    *ms = (cli_now() - t0) * 1e3 / iters;
    free(y);
    return st == DENSECL_OK ? 0 : fail_status(st);
}

static double median(const double *sorted, int n)
{
    return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

static const char *origin_name(densecl_tiles_origin o)
{
    return o == DENSECL_TILES_TUNED ? "tuned" : o == DENSECL_TILES_GIVEN ? "given" : "default";
}

int cmd_bench(int argc, char **argv, const cli_ctx *ctx)
{
    bench_opts o = {0};
    o.verbose = ctx->verbose;
    const cli_opt opts[] = {
        {"--model", &o.model, NULL},     {"--weights", &o.weights, NULL},
        {"--batch", &o.batch, NULL},     {"--size", &o.size, NULL},
        {"--device", &o.device, NULL},   {"--iterations", &o.iterations, NULL},
        {"--warmup", &o.warmup, NULL},   {"--trace", &o.trace, NULL},
        {"--tiles", &o.tiles, NULL},     {"--json", NULL, &o.json},
        {"--profile", NULL, &o.profile}, {"--verbose", NULL, &o.verbose},
        {"--help", NULL, &o.help},       {"-h", NULL, &o.help},
        {"--conv", &o.family, NULL},     {"--kernel-params", &o.kernel_params, NULL},
    };
    int rc = parse_opts("bench", argc, argv, opts, DC_ARRAY_LEN(opts));
    int iters = 10, warmup = 2;
    workload wl;
    densecl_engine *e = NULL;
    densecl_engine_options eo;
    densecl_status st;
    double *times = NULL;
    memset(&wl, 0, sizeof wl);
    memset(&eo, 0, sizeof eo);
    if (rc != 0)
        return rc;
    if (o.help)
        return -1;
    if (o.verbose)
        densecl_set_log(log_to_stderr, NULL);
    if (o.trace && (rc = cli_check_output("bench", "--trace", o.trace, &o.weights, 1)) != 0)
        return rc;
    if (o.iterations && !parse_int(o.iterations, 1, 1000000, &iters))
        return fail_usage("bench", "--iterations needs a positive integer, got '%s'",
                          o.iterations);
    if (o.warmup && !parse_int(o.warmup, 0, 1000000, &warmup))
        return fail_usage("bench", "--warmup needs a non-negative integer, got '%s'", o.warmup);
    if (o.tiles) {
        char one[32], other[32], extra;
        densecl_tiles *t = &eo.tiles;
        if (sscanf(o.tiles, "%31[^,],%31[^,]%c", one, other, &extra) != 2 ||
            !dc_parse_tile(one, &t->conv1x1_channels, &t->conv1x1_pixels) ||
            !dc_parse_tile(other, &t->conv_channels, &t->conv_pixels))
            return fail_usage("bench",
                              "--tiles needs CxP,CxP (the 1x1 tile, then the others'), "
                              "got '%s'",
                              o.tiles);
        if (dc_tiles_check(t, "--tiles") != DENSECL_OK)
            return fail_usage("bench", "%s", densecl_last_error());
    }
    if ((rc = workload_init("bench", &o, &wl)) != 0)
        goto done;
    if (!(times = malloc((size_t)iters * sizeof *times))) {
        rc = fail_msg("out of memory");
        goto done;
    }

    double t0 = cli_now();
    eo.device = o.device;
    eo.conv = o.family;
    eo.kernel_params = o.kernel_params;
    if ((st = densecl_engine_create_ex(wl.wts, &eo, &e)) != DENSECL_OK) {
        rc = fail_status(st);
        goto done;
    }
    double t_create = cli_now() - t0;
    t0 = cli_now();
    if ((st = workload_run(e, &wl)) != DENSECL_OK) {
        rc = fail_status(st);
        goto done;
    }
    double t_first = cli_now() - t0;
    if ((rc = time_runs(e, &wl, warmup, iters, times)) != 0)
        goto done;
    double piped = 0;
    if ((rc = time_pipelined(e, &wl, iters, &piped)) != 0)
        goto done;
    double mean = 0, var = 0;
    for (int i = 0; i < iters; i++)
        mean += times[i] / iters;
    for (int i = 0; i < iters; i++)
        var += (times[i] - mean) * (times[i] - mean) / iters;
    int batch = wl.batch, h = wl.h, w = wl.w;
    double med = median(times, iters);
    double gmacs = (double)densecl_config_macs(&wl.cfg, h, w) * batch / 1e9;
    double gflops = 2.0 * gmacs / (med / 1e3);
    uint64_t wbytes, abytes;
    densecl_engine_memory(e, &wbytes, &abytes);

    const densecl_op_event *ev = NULL;
    int n_ev = 0;
    if (o.profile || o.trace) {
        if ((st = densecl_engine_set_profiling(e, 1)) != DENSECL_OK ||
            (st = workload_run(e, &wl)) != DENSECL_OK) {
            rc = fail_status(st);
            goto done;
        }
        n_ev = densecl_engine_profile(e, &ev);
    }
    char devs[1024] = "", tiles[256] = "", convs[2048] = "";
    for (int r = 0; r < densecl_engine_replica_count(e); r++) {
        densecl_replica_stats s;
        size_t len = strlen(devs), tlen = strlen(tiles), clen = strlen(convs);
        densecl_engine_replica_stats(e, r, &s);
        snprintf(convs + clen, sizeof convs - clen, "%s%s", r ? "; " : "", s.resolved);
        snprintf(devs + len, sizeof devs - len, "%s%s", r ? " + " : "", s.device.name);
        snprintf(tiles + tlen, sizeof tiles - tlen, "%s1x1 %dx%d, conv %dx%d (%s)", r ? "; " : "",
                 s.tiles.conv1x1_channels, s.tiles.conv1x1_pixels, s.tiles.conv_channels,
                 s.tiles.conv_pixels, origin_name(s.tiles_origin));
    }
    const char *model = wl.model;
    if (o.json) {
        printf("{\n  \"model\": ");
        dc_json_write_string(stdout, model);
        printf(", \"device\": ");
        dc_json_write_string(stdout, devs);
        printf(", \"devices\": %d, \"batch\": %d, \"height\": %d, \"width\": %d,\n",
               densecl_engine_replica_count(e), batch, h, w);
        printf("  \"tiles\": ");
        dc_json_write_string(stdout, tiles);
        printf(", \"convs\": ");
        dc_json_write_string(stdout, convs);
        printf(",\n");
        printf("  \"iterations\": %d, \"ms_per_batch\": %.4f, \"ms_per_batch_min\": %.4f, "
               "\"ms_per_batch_max\": %.4f, \"ms_per_batch_stddev\": %.4f,\n",
               iters, med, times[0], times[iters - 1], sqrt(var));
        printf("  \"ms_per_image\": %.4f, \"images_per_second\": %.3f, \"gmacs_per_image\": %.4f, "
               "\"gflops\": %.3f,\n",
               med / batch, batch * 1e3 / med, gmacs / batch, gflops);
        printf("  \"pipelined_ms_per_batch\": %.4f, \"pipelined_images_per_second\": %.3f,\n",
               piped, batch * 1e3 / piped);
        printf("  \"weights_load_ms\": %.2f, \"engine_create_ms\": %.2f, \"first_run_ms\": %.2f, "
               "\"weight_bytes\": %llu, \"activation_bytes\": %llu",
               wl.t_weights * 1e3, t_create * 1e3, t_first * 1e3, (unsigned long long)wbytes,
               (unsigned long long)abytes);
        if (o.profile)
            print_profile(ev, n_ev, 1);
        printf("\n}\n");
    } else {
        char wb[32], ab[32];
        format_bytes(wbytes, wb, sizeof wb);
        format_bytes(abytes, ab, sizeof ab);
        printf("model      %s, batch %d, %dx%d, %.3f GMACs per image\n", model, batch, h, w,
               gmacs / batch);
        printf("device     %s\n", devs);
        printf("tiles      %s\n", tiles);
        printf("convs      %s\n", convs);
        printf("start-up   weights %.0f ms, engine (build + upload) %.0f ms, first run %.0f ms\n",
               wl.t_weights * 1e3, t_create * 1e3, t_first * 1e3);
        printf("per batch  median %.2f ms (min %.2f, max %.2f, stddev %.2f) over %d runs\n", med,
               times[0], times[iters - 1], sqrt(var), iters);
        printf("per image  %.2f ms, %.2f images/s, %.2f GFLOP/s\n", med / batch,
               batch * 1e3 / med, gflops);
        printf("pipelined  %.2f ms per batch, %.2f images/s (%d jobs back to back)\n", piped,
               batch * 1e3 / piped, iters);
        printf("memory     weights %s, activations %s\n", wb, ab);
        if (o.profile)
            print_profile(ev, n_ev, 0);
    }
    if (o.trace && (rc = write_trace(o.trace, ev, n_ev, e)) != 0)
        goto done;
    rc = 0;
done:
    densecl_engine_free(e);
    workload_free(&wl);
    free(times);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * densecl tune
 * ------------------------------------------------------------------------------------------- */

#define TUNE_MAX 32

typedef struct tune_result {
    const char *family; /* NULL: the direct family with these tiles; else that family */
    const char *params; /* a family's candidate parameters (its tune_candidates), or NULL */
    char why[256];      /* a family's: why it did not run */
    densecl_tiles tiles;
    double ms;      /* median per batch; 0 when the candidate failed */
    double build_s; /* engine creation and first run: the kernel builds */
} tune_result;

/* Comma-separated CxP list into tiles[0..*n), each checked against kernels.cl's limits by the
 * library. 0, or the exit code once reported. */
static int parse_tile_list(const char *opt, const char *list, int pairs[][2], int *n)
{
    char buf[512];
    *n = 0;
    if (strlen(list) >= sizeof buf)
        return fail_usage("tune", "%s: list too long", opt);
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == TUNE_MAX)
            return fail_usage("tune", "%s: at most %d tiles", opt, TUNE_MAX);
        if (!dc_parse_tile(t, &pairs[*n][0], &pairs[*n][1]))
            return fail_usage("tune", "%s needs tiles CxP separated by commas, got '%s'", opt,
                              list);
        densecl_tiles probe;
        dc_tiles_generic(&probe);
        if (strcmp(opt, "--conv1x1") == 0) {
            probe.conv1x1_channels = pairs[*n][0];
            probe.conv1x1_pixels = pairs[*n][1];
        } else {
            probe.conv_channels = pairs[*n][0];
            probe.conv_pixels = pairs[*n][1];
        }
        if (dc_tiles_check(&probe, opt) != DENSECL_OK)
            return fail_usage("tune", "%s", densecl_last_error());
        (*n)++;
    }
    if (*n == 0)
        return fail_usage("tune", "%s: no tiles given", opt);
    return 0;
}

/* Builds an engine for each of the n candidates and times them in turn, run by run, so that the
 * machine's slow spells (other processes, a VM's neighbours) fall on all of them alike; ms is
 * each one's median. A candidate that does not build or run gets ms = 0 and a warning: a tile
 * the device cannot take is a result, not the end of the tuning. 0, or the exit code. */
static int tune_measure(const workload *wl, const char *device, const char *kparams, int iters,
                        tune_result *r, int n)
{
    densecl_engine *e[TUNE_MAX + 1] = {0};
    double times[TUNE_MAX + 1][64];
    int rc = 0;
    for (int k = 0; k < n; k++) {
        densecl_engine_options eo;
        densecl_status st;
        memset(&eo, 0, sizeof eo);
        eo.device = device;
        eo.tiles = r[k].tiles;
        eo.conv = r[k].family ? r[k].family : "direct";
        eo.kernel_params = r[k].family ? r[k].params : kparams;
        r[k].ms = 0;
        r[k].build_s = 0;
        double t0 = cli_now();
        if ((st = densecl_engine_create_ex(wl->wts, &eo, &e[k])) != DENSECL_OK ||
            (st = workload_run(e[k], wl)) != DENSECL_OK ||
            (st = workload_run(e[k], wl)) != DENSECL_OK) {
            if (r[k].family)
                snprintf(r[k].why, sizeof r[k].why, "%s", densecl_last_error());
            else
                fprintf(stderr, "densecl: warning: tiles %dx%d,%dx%d failed: %s\n",
                        r[k].tiles.conv1x1_channels, r[k].tiles.conv1x1_pixels,
                        r[k].tiles.conv_channels, r[k].tiles.conv_pixels, densecl_last_error());
            densecl_engine_free(e[k]);
            e[k] = NULL;
            continue;
        }
        r[k].build_s = cli_now() - t0;
    }
    for (int i = 0; i < iters && rc == 0; i++)
        for (int k = 0; k < n && rc == 0; k++)
            if (e[k])
                rc = time_runs(e[k], wl, 0, 1, &times[k][i]);
    for (int k = 0; k < n; k++) {
        if (e[k] && rc == 0) {
            qsort(times[k], (size_t)iters, sizeof(double), cmp_double);
            r[k].ms = median(times[k], iters);
        }
        densecl_engine_free(e[k]);
    }
    return rc;
}

static void tune_print(const tune_result *r, int n)
{
    for (int k = 0; k < n; k++)
        if (r[k].ms > 0)
            printf("  conv1x1 %2dx%-2d  conv %2dx%d  %10.2f ms per batch  (build %.1f s)\n",
                   r[k].tiles.conv1x1_channels, r[k].tiles.conv1x1_pixels,
                   r[k].tiles.conv_channels, r[k].tiles.conv_pixels, r[k].ms, r[k].build_s);
    fflush(stdout);
}

int cmd_tune(int argc, char **argv, const cli_ctx *ctx)
{
    bench_opts o = {0};
    o.verbose = ctx->verbose;
    const cli_opt opts[] = {
        {"--model", &o.model, NULL},     {"--weights", &o.weights, NULL},
        {"--batch", &o.batch, NULL},     {"--size", &o.size, NULL},
        {"--device", &o.device, NULL},   {"--iterations", &o.iterations, NULL},
        {"--conv1x1", &o.conv1x1, NULL}, {"--conv", &o.conv, NULL},
        {"--dry-run", NULL, &o.dry_run}, {"--json", NULL, &o.json},
        {"--verbose", NULL, &o.verbose}, {"--help", NULL, &o.help},
        {"-h", NULL, &o.help},           {"--kernel-params", &o.kernel_params, NULL},
    };
    int rc = parse_opts("tune", argc, argv, opts, DC_ARRAY_LEN(opts));
    int iters = 7, n1 = 0, n3 = 0, nres = 0;
    int list1[TUNE_MAX][2], list3[TUNE_MAX][2];
    tune_result res[2 * TUNE_MAX + 2];
    workload wl;
    cl_device_id dev;
    densecl_device_info info;
    char path[4200] = "";
    memset(&wl, 0, sizeof wl);
    /* family NULL: a candidate of the direct family's tiles (tune_measure reads it). */
    memset(res, 0, sizeof res);
    if (rc != 0)
        return rc;
    if (o.help)
        return -1;
    if (o.verbose)
        densecl_set_log(log_to_stderr, NULL);
    if (o.iterations && !parse_int(o.iterations, 1, 32, &iters))
        return fail_usage("tune", "--iterations needs an integer in [1, 32], got '%s'",
                          o.iterations);
    /* --conv: a family name chooses the family (tune measures the direct one's tiles), a list
     * of tiles the candidates. */
    if (o.conv && !strchr(o.conv, 'x')) {
        if (strcmp(o.conv, "auto") != 0 && strcmp(o.conv, "direct") != 0)
            return fail_usage("tune",
                              "--conv %s: tune measures the direct family's tiles (--conv "
                              "auto or direct, or a list of tiles)",
                              o.conv);
        o.conv = NULL;
    }
    if (o.kernel_params) {
        unsigned set = 0;
        if (dc_tool_check_kernel_params(o.kernel_params, "direct", &set, "--kernel-params") !=
            DENSECL_OK)
            return fail_usage("tune", "%s", densecl_last_error());
        if (set & 15u)
            return fail_usage("tune", "--kernel-params: the tiles are tune's to choose");
    }
    if ((rc = parse_tile_list("--conv1x1", o.conv1x1 ? o.conv1x1 : TUNE_CONV1X1, list1, &n1)) !=
            0 ||
        (rc = parse_tile_list("--conv", o.conv ? o.conv : TUNE_CONV, list3, &n3)) != 0)
        return rc;
    if (o.device && (strchr(o.device, ',') || strcmp(o.device, "all") == 0))
        return fail_usage("tune", "--device: tune one device at a time, got '%s'", o.device);
    densecl_status st = dc_device_pick(o.device, &dev, &info);
    if (st != DENSECL_OK)
        return fail_status(st);
    if (!o.dry_run && !dc_tiles_path(dev, path, sizeof path))
        return fail_msg("no cache directory to save the tiles in (set DENSECL_CACHE_DIR or "
                        "HOME), or use --dry-run");
    if ((rc = workload_init("tune", &o, &wl)) != 0)
        goto done;
    if (!o.json) {
        printf("tuning conv tiles on '%s': %s, batch %d, %dx%d, median of %d runs\n", info.name,
               wl.model, wl.batch, wl.h, wl.w, iters);
        fflush(stdout);
    }

    /* Two stages, each timed in turn against the best so far (its first candidate): the 1x1
     * tiles, then the others. The best changes only for a 2% win: run-to-run noise is about
     * that. */
    tune_result best;
    memset(&best, 0, sizeof best);
    dc_tiles_default(dev, &best.tiles);
    /* The defaults as an engine for this model runs them. */
    if ((st = dc_tiles_fit(&best.tiles, &wl.cfg)) != DENSECL_OK) {
        rc = fail_status(st);
        goto done;
    }
    best.ms = best.build_s = 0;
    double baseline = 0;
    for (int stage = 0; stage < 2; stage++) {
        tune_result *r = &res[nres];
        int n = 1, m = stage == 0 ? n1 : n3;
        r[0].tiles = best.tiles;
        for (int i = 0; i < m; i++) {
            r[n].tiles = best.tiles;
            if (stage == 0) {
                r[n].tiles.conv1x1_channels = list1[i][0];
                r[n].tiles.conv1x1_pixels = list1[i][1];
            } else {
                r[n].tiles.conv_channels = list3[i][0];
                r[n].tiles.conv_pixels = list3[i][1];
            }
            if (memcmp(&r[n].tiles, &best.tiles, sizeof best.tiles) != 0)
                n++;
        }
        if ((rc = tune_measure(&wl, o.device, o.kernel_params, iters, r, n)) != 0)
            goto done;
        if (r[0].ms == 0) {
            rc = fail_msg("the %s tiles do not run on '%s'", stage ? "best 1x1" : "default",
                          info.name);
            goto done;
        }
        if (!o.json)
            tune_print(r, n);
        if (stage == 0)
            baseline = r[0].ms;
        best = r[0];
        for (int k = 1; k < n; k++)
            if (r[k].ms > 0 && r[k].ms < 0.98 * r[0].ms && r[k].ms < best.ms)
                best = r[k];
        nres += n;
    }
    /* The winner against the defaults once more, in turn: the figures reported (when the
     * defaults win, their first figure serves for both). */
    double confirm_best = baseline, confirm_base = baseline;
    if (memcmp(&best.tiles, &res[0].tiles, sizeof best.tiles) != 0) {
        tune_result again[2] = {res[0], best};
        if ((rc = tune_measure(&wl, o.device, o.kernel_params, 2 * iters, again, 2)) != 0)
            goto done;
        if (again[0].ms == 0 || again[1].ms == 0) {
            rc = fail_msg("a candidate that ran before failed when measured again");
            goto done;
        }
        confirm_base = again[0].ms;
        confirm_best = again[1].ms;
        if (!o.json)
            printf("again, in turn: defaults %.2f ms, conv1x1 %dx%d conv %dx%d %.2f ms\n",
                   confirm_base, best.tiles.conv1x1_channels, best.tiles.conv1x1_pixels,
                   best.tiles.conv_channels, best.tiles.conv_pixels, confirm_best);
        if (!(confirm_best < 0.98 * confirm_base)) {
            best = res[0];
            confirm_best = confirm_base;
        }
    }
    best.ms = confirm_best;
    double baseline_ms = confirm_base;

    /* The other families of the registry, each with its defaults, in turn against all-direct
     * with the best tiles and with the default tiles (when those differ): one that runs the
     * whole model 2% faster than both is saved as the device's family (auto then picks it). A
     * family that cannot run the model here is noted and left out. What this race decides is
     * reported with this race's figures, never against a figure measured at another time. */
    tune_result fam[TUNE_MAX + 2];
    int nd = 1, nf;
    fam[0] = best;
    fam[0].why[0] = '\0';
    if (memcmp(&best.tiles, &res[0].tiles, sizeof best.tiles) != 0) {
        fam[nd] = res[0];
        fam[nd].why[0] = '\0';
        fam[nd].family = NULL;
        fam[nd++].params = NULL;
    }
    nf = nd;
    for (int f = 1; dc_tool_family_name(f) && nf < TUNE_MAX + nd; f++) {
        /* Each family with its defaults for the device; a winner is saved by name (and with
         * params, were it timed with some: tune_result.params). winograd runs the 3x3 convs
         * only, the others on direct with the best tiles, as a tuning file naming it does. */
        fam[nf] = best;
        fam[nf].why[0] = '\0';
        fam[nf].params = NULL;
        fam[nf++].family = dc_tool_family_name(f);
    }
    const char *win_family = NULL, *win_params = NULL;
    double direct_ms = 0; /* all-direct in the race: the faster of its tiles */
    if (nf > nd) {
        if ((rc = tune_measure(&wl, o.device, o.kernel_params, iters, fam, nf)) != 0)
            goto done;
        for (int k = 0; k < nd; k++)
            if (fam[k].ms > 0 && (direct_ms == 0 || fam[k].ms < direct_ms))
                direct_ms = fam[k].ms;
        for (int k = nd; k < nf; k++) {
            const char *params = fam[k].params ? fam[k].params : "defaults";
            if (fam[k].ms > 0 && !o.json)
                printf("family %-8s %-24s %8.2f ms per batch (direct, best tiles: %.2f ms)\n",
                       fam[k].family, params, fam[k].ms, fam[0].ms);
            else if (!o.json)
                printf("family %-8s %-24s not run: %s\n", fam[k].family, params, fam[k].why);
            if (fam[k].ms > 0 && direct_ms > 0 && fam[k].ms < 0.98 * direct_ms &&
                (!win_family || fam[k].ms < best.ms)) {
                win_family = fam[k].family;
                win_params = fam[k].params;
                best.ms = fam[k].ms;
            }
        }
    }
    /* The defaults' time in this race (fam[0] when the best tiles are the defaults). */
    const double race_defaults_ms = fam[nd - 1].ms;

    /* auto runs the 3x3 convs on winograd by default on some devices (AMD AVX-512 CPUs). Where
     * all-direct beat it here by 2% (the bar any change of the defaults must pass), the file
     * names direct, so that auto follows what was measured rather than that default. */
    const char *save_family = win_family;
    for (int k = nd; k < nf && !win_family; k++)
        if (strcmp(fam[k].family, "winograd") == 0 && fam[k].ms > 0 && fam[0].ms > 0 &&
            fam[0].ms < 0.98 * fam[k].ms && dc_tool_winograd_auto(dev)) {
            save_family = "direct";
            best.ms = fam[0].ms;
            if (!o.json)
                printf("winograd, auto's default for the 3x3 convs here, lost: the tuning file "
                       "names the direct family\n");
        }

    if (save_family && race_defaults_ms > 0)
        baseline_ms = race_defaults_ms;

    char comment[512];
    snprintf(comment, sizeof comment,
             "densecl tune %s on '%s': %s %dx%d batch %d, %.2f ms per batch (defaults %.2f ms)",
             densecl_version(), info.name, wl.model, wl.h, wl.w, wl.batch, best.ms, baseline_ms);
    /* The defaults winning saves nothing, and removes what an earlier tune saved: the device
     * then follows densecl's defaults, which may change with its versions. */
    const int defaults_win =
        !save_family && memcmp(&best.tiles, &res[0].tiles, sizeof best.tiles) == 0;
    const int save = !o.dry_run && !defaults_win;
    if (save &&
        (st = dc_tuning_write(path, &best.tiles, save_family, win_params, comment)) !=
            DENSECL_OK) {
        rc = fail_status(st);
        goto done;
    }
    if (!o.dry_run && defaults_win && remove(path) != 0 && errno != ENOENT) {
        rc = fail_msg("%s: cannot remove the earlier tuning file: %s", path, strerror(errno));
        goto done;
    }
    if (o.json) {
        printf("{\n  \"device\": ");
        dc_json_write_string(stdout, info.name);
        printf(", \"model\": ");
        dc_json_write_string(stdout, wl.model);
        printf(", \"batch\": %d, \"height\": %d, \"width\": %d, \"iterations\": %d,\n", wl.batch,
               wl.h, wl.w, iters);
        printf("  \"candidates\": [");
        for (int i = 0; i < nres; i++)
            printf("%s\n    {\"conv1x1\": \"%dx%d\", \"conv\": \"%dx%d\", \"ms_per_batch\": %.4f, "
                   "\"build_s\": %.3f, \"ok\": %s}",
                   i ? "," : "", res[i].tiles.conv1x1_channels, res[i].tiles.conv1x1_pixels,
                   res[i].tiles.conv_channels, res[i].tiles.conv_pixels, res[i].ms, res[i].build_s,
                   res[i].ms > 0 ? "true" : "false");
        printf("],\n  \"families\": [");
        for (int k = nd; k < nf; k++) {
            printf("%s\n    {\"family\": \"%s\", \"params\": ", k > nd ? "," : "",
                   fam[k].family);
            dc_json_write_string(stdout, fam[k].params ? fam[k].params : "");
            printf(", \"ms_per_batch\": %.4f, \"why\": ", fam[k].ms);
            dc_json_write_string(stdout, fam[k].ms > 0 ? "" : fam[k].why);
            printf("}");
        }
        printf("],\n  \"best\": {\"family\": \"%s\", \"conv1x1\": \"%dx%d\", \"conv\": \"%dx%d\", "
               "\"ms_per_batch\": %.4f},\n  \"default_ms_per_batch\": %.4f, \"speedup\": %.4f, "
               "\"saved\": ",
               win_family ? win_family : "direct", best.tiles.conv1x1_channels,
               best.tiles.conv1x1_pixels, best.tiles.conv_channels, best.tiles.conv_pixels,
               best.ms, baseline_ms, baseline_ms / best.ms);
        if (save)
            dc_json_write_string(stdout, path);
        else
            printf("null");
        printf(", \"saved_family\": ");
        if (save && save_family)
            dc_json_write_string(stdout, save_family);
        else
            printf("null");
        printf("\n}\n");
    } else if (defaults_win) {
        printf("best: the defaults, conv1x1 %dx%d, conv %dx%d: %.2f ms per batch; no candidate "
               "beat them by 2%%\n",
               best.tiles.conv1x1_channels, best.tiles.conv1x1_pixels, best.tiles.conv_channels,
               best.tiles.conv_pixels, best.ms);
    } else if (win_family) {
        printf("best: the %s family (%s): %.2f ms per batch, %.2fx the direct defaults "
               "(%.2f ms)\n",
               win_family, win_params ? win_params : "its defaults", best.ms,
               baseline_ms / best.ms, baseline_ms);
    } else {
        printf("best: conv1x1 %dx%d, conv %dx%d: %.2f ms per batch, %.2fx the defaults (%.2f ms)\n",
               best.tiles.conv1x1_channels, best.tiles.conv1x1_pixels, best.tiles.conv_channels,
               best.tiles.conv_pixels, best.ms, baseline_ms / best.ms, baseline_ms);
    }
    if (!o.json && o.dry_run)
        printf("not saved (--dry-run)\n");
    else if (!o.json && defaults_win)
        printf("nothing saved: engines on this device use the defaults\n");
    else if (!o.json)
        printf("saved to %s; engines on this device use these tiles from now on\n", path);
    rc = 0;
done:
    workload_free(&wl);
    return rc;
}
