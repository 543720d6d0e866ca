/* cmd_bench.c - `densecl bench`: warm-up, then timed runs; per-op profile and Chrome trace.
 *
 * Timing is wall-clock around densecl_engine_run (upload, compute, download: what a caller
 * waits for). GFLOP/s counts 2 x the model's multiply-accumulates (densecl_config_macs, the
 * figure papers and torchvision quote), so numbers compare across implementations. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

const char cmd_bench_usage[] =
    "usage: densecl bench [--model NAME] [--weights FILE] [--batch N] [--size HxW]\n"
    "                     [--device SPEC] [--iterations N] [--warmup N] [--json]\n"
    "                     [--profile] [--trace FILE]\n"
    "\n"
    "Measures inference speed: engine creation (kernel build and weight upload), the first\n"
    "run, then --warmup runs and --iterations timed runs of one batch. Prints the median and\n"
    "spread of ms per batch, ms per image, images/s, GFLOP/s (2 x the model's MACs / time)\n"
    "and device memory.\n"
    "\n"
    "  --model NAME      a preset (default densenet121; random weights, seed 0)\n"
    "  --weights FILE    safetensors weights instead of random ones\n"
    "  --batch N         images per run (default 1)\n"
    "  --size HxW        input size (default: 224x224 for ImageNet stems, 32x32 for CIFAR)\n"
    "  --device SPEC     as for 'densecl run'; 'all' or a list uses several devices\n"
    "  --iterations N    timed runs (default 10)\n"
    "  --warmup N        untimed runs after the first (default 2)\n"
    "  --json            one JSON object on stdout\n"
    "  --profile         time per op kind and the ten slowest ops (OpenCL event profiling)\n"
    "  --trace FILE      write a Chrome/Perfetto trace (JSON) of one profiled run\n"
    "  -h, --help        show this help\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench_opts {
    const char *model, *weights, *batch, *size, *device, *iterations, *warmup, *trace;
    int json, profile, help, verbose;
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

int cmd_bench(int argc, char **argv, const cli_ctx *ctx)
{
    bench_opts o = {0};
    o.verbose = ctx->verbose;
    const cli_opt opts[] = {
        {"--model", &o.model, NULL},      {"--weights", &o.weights, NULL},
        {"--batch", &o.batch, NULL},      {"--size", &o.size, NULL},
        {"--device", &o.device, NULL},    {"--iterations", &o.iterations, NULL},
        {"--warmup", &o.warmup, NULL},    {"--trace", &o.trace, NULL},
        {"--json", NULL, &o.json},        {"--profile", NULL, &o.profile},
        {"--verbose", NULL, &o.verbose},  {"--help", NULL, &o.help},
        {"-h", NULL, &o.help},
    };
    int rc = parse_opts("bench", argc, argv, opts, DC_ARRAY_LEN(opts));
    int batch = 1, iters = 10, warmup = 2, h = 0, w = 0;
    densecl_config cfg;
    densecl_weights *wts = NULL;
    densecl_engine *e = NULL;
    densecl_status st;
    float *x = NULL, *y = NULL;
    double *times = NULL;
    if (rc != 0)
        return rc;
    if (o.help)
        return -1;
    if (o.verbose)
        densecl_set_log(log_to_stderr, NULL);
    if (o.batch && !parse_int(o.batch, 1, 1 << 16, &batch))
        return fail_usage("bench", "--batch needs an integer in [1, 65536], got '%s'", o.batch);
    if (o.iterations && !parse_int(o.iterations, 1, 1000000, &iters))
        return fail_usage("bench", "--iterations needs a positive integer, got '%s'",
                          o.iterations);
    if (o.warmup && !parse_int(o.warmup, 0, 1000000, &warmup))
        return fail_usage("bench", "--warmup needs a non-negative integer, got '%s'", o.warmup);
    if (o.size && !parse_size(o.size, &h, &w))
        return fail_usage("bench", "--size needs HxW (e.g. 224x224) or one side, got '%s'",
                          o.size);

    double t0 = now_s();
    if (o.weights) {
        densecl_config expect;
        if (o.model) {
            if (densecl_config_preset(o.model, &expect) != DENSECL_OK)
                return fail_usage("bench", "--model: %s", densecl_last_error());
            expect.num_classes = 0;
            expect.in_channels = 0;
        }
        st = densecl_weights_load(o.weights, o.model ? &expect : NULL, &wts);
    } else {
        if (densecl_config_preset(o.model ? o.model : "densenet121", &cfg) != DENSECL_OK)
            return fail_usage("bench", "--model: %s", densecl_last_error());
        st = densecl_weights_random(&cfg, 0, &wts);
    }
    if (st != DENSECL_OK)
        return fail_status(st);
    double t_weights = now_s() - t0;
    cfg = *densecl_weights_config(wts);
    if (!h) {
        h = w = native_size(&cfg);
    }
    int min = densecl_config_min_size(&cfg);
    if (h < min || w < min) {
        densecl_weights_free(wts);
        return fail_msg("--size %dx%d is too small for this model (minimum %dx%d)", h, w, min, min);
    }
    size_t in_len = (size_t)batch * cfg.in_channels * h * w;
    x = malloc(in_len * sizeof *x);
    y = malloc((size_t)batch * cfg.num_classes * sizeof *y);
    times = malloc((size_t)iters * sizeof *times);
    if (!x || !y || !times) {
        rc = fail_msg("out of memory");
        goto done;
    }
    /* Deterministic, image-like input: the values matter little, NaNs and denormals would. */
    for (size_t i = 0; i < in_len; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;

    t0 = now_s();
    if ((st = densecl_engine_create(wts, o.device, &e)) != DENSECL_OK) {
        rc = fail_status(st);
        goto done;
    }
    double t_create = now_s() - t0;
    t0 = now_s();
    if ((st = densecl_engine_run(e, x, batch, cfg.in_channels, h, w, y)) != DENSECL_OK) {
        rc = fail_status(st);
        goto done;
    }
    double t_first = now_s() - t0;
    for (int i = 0; i < warmup; i++)
        if ((st = densecl_engine_run(e, x, batch, cfg.in_channels, h, w, y)) != DENSECL_OK) {
            rc = fail_status(st);
            goto done;
        }
    for (int i = 0; i < iters; i++) {
        t0 = now_s();
        if ((st = densecl_engine_run(e, x, batch, cfg.in_channels, h, w, y)) != DENSECL_OK) {
            rc = fail_status(st);
            goto done;
        }
        times[i] = (now_s() - t0) * 1e3;
    }
    double mean = 0, var = 0;
    for (int i = 0; i < iters; i++)
        mean += times[i] / iters;
    for (int i = 0; i < iters; i++)
        var += (times[i] - mean) * (times[i] - mean) / iters;
    qsort(times, (size_t)iters, sizeof *times, cmp_double);
    double med = iters % 2 ? times[iters / 2] : 0.5 * (times[iters / 2 - 1] + times[iters / 2]);
    double gmacs = (double)densecl_config_macs(&cfg, h, w) * batch / 1e9;
    double gflops = 2.0 * gmacs / (med / 1e3);
    uint64_t wbytes, abytes;
    densecl_engine_memory(e, &wbytes, &abytes);

    const densecl_op_event *ev = NULL;
    int n_ev = 0;
    if (o.profile || o.trace) {
        if ((st = densecl_engine_set_profiling(e, 1)) != DENSECL_OK ||
            (st = densecl_engine_run(e, x, batch, cfg.in_channels, h, w, y)) != DENSECL_OK) {
            rc = fail_status(st);
            goto done;
        }
        n_ev = densecl_engine_profile(e, &ev);
    }
    char devs[1024] = "";
    for (int r = 0; r < densecl_engine_replica_count(e); r++) {
        densecl_replica_stats s;
        size_t len = strlen(devs);
        densecl_engine_replica_stats(e, r, &s);
        snprintf(devs + len, sizeof devs - len, "%s%s", r ? " + " : "", s.device.name);
    }
    const char *model = o.model ? o.model : o.weights ? o.weights : "densenet121";
    if (o.json) {
        printf("{\n  \"model\": ");
        dc_json_write_string(stdout, model);
        printf(", \"device\": ");
        dc_json_write_string(stdout, devs);
        printf(", \"devices\": %d, \"batch\": %d, \"height\": %d, \"width\": %d,\n",
               densecl_engine_replica_count(e), batch, h, w);
        printf("  \"iterations\": %d, \"ms_per_batch\": %.4f, \"ms_per_batch_min\": %.4f, "
               "\"ms_per_batch_max\": %.4f, \"ms_per_batch_stddev\": %.4f,\n",
               iters, med, times[0], times[iters - 1], sqrt(var));
        printf("  \"ms_per_image\": %.4f, \"images_per_second\": %.3f, \"gmacs_per_image\": %.4f, "
               "\"gflops\": %.3f,\n",
               med / batch, batch * 1e3 / med, gmacs / batch, gflops);
        printf("  \"weights_load_ms\": %.2f, \"engine_create_ms\": %.2f, \"first_run_ms\": %.2f, "
               "\"weight_bytes\": %llu, \"activation_bytes\": %llu",
               t_weights * 1e3, t_create * 1e3, t_first * 1e3, (unsigned long long)wbytes,
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
        printf("start-up   weights %.0f ms, engine (build + upload) %.0f ms, first run %.0f ms\n",
               t_weights * 1e3, t_create * 1e3, t_first * 1e3);
        printf("per batch  median %.2f ms (min %.2f, max %.2f, stddev %.2f) over %d runs\n", med,
               times[0], times[iters - 1], sqrt(var), iters);
        printf("per image  %.2f ms, %.2f images/s, %.2f GFLOP/s\n", med / batch,
               batch * 1e3 / med, gflops);
        printf("memory     weights %s, activations %s\n", wb, ab);
        if (o.profile)
            print_profile(ev, n_ev, 0);
    }
    if (o.trace && (rc = write_trace(o.trace, ev, n_ev, e)) != 0)
        goto done;
    rc = 0;
done:
    densecl_engine_free(e);
    densecl_weights_free(wts);
    free(x);
    free(y);
    free(times);
    return rc;
}
