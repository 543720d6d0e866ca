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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "commands.h"
#include "tools_internal.h"

const char cmd_bench_usage[] =
    "usage: densecl bench [--model NAME] [--weights FILE] [--batch N] [--size HxW]\n"
    "                     [--device SPEC] [--iterations N] [--warmup N] [--json]\n"
    "                     [--profile] [--trace FILE] [--tiles CxP,CxP] [--conv FAMILY]\n"
    "                     [--kernel-params TEXT] [--threads N]\n"
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
    "  --threads N       run a CPU device on N threads (default: all of them)\n"
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

/* Time and work per op kind. */
typedef struct kind_total {
    const char *kind;
    int count, launches;
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
            kinds[nk++] = (kind_total){ev[i].kind, 0, 0, 0, 0};
        }
        kinds[k].count++;
        kinds[k].launches += ev[i].launches;
        kinds[k].us += ev[i].duration_us;
        kinds[k].macs += ev[i].macs;
    }
    return nk;
}

static void print_profile(const densecl_op_event *ev, int n, int json)
{
    kind_total kinds[16];
    int nk = kinds_of(ev, n, kinds, 16);
    double total = 0, span = 0;
    int launches = 0;
    densecl_op_event *sorted = malloc((size_t)n * sizeof *sorted);
    for (int k = 0; k < nk; k++) {
        total += kinds[k].us;
        launches += kinds[k].launches;
    }
    /* The run's device time, its first command's start to its last command's end (start_us
     * counts from the first start): the ops' sum falls short of it by the gaps between
     * commands, which a profile that timed only some kernels of an op would inflate. */
    for (int i = 0; i < n; i++)
        if (ev[i].start_us + ev[i].duration_us > span)
            span = ev[i].start_us + ev[i].duration_us;
    if (json) {
        printf(",\n  \"profile\": {\"kinds\": [");
        for (int k = 0; k < nk; k++) {
            printf("%s\n    {\"kind\": ", k ? "," : "");
            dc_json_write_string(stdout, kinds[k].kind);
            printf(", \"count\": %d, \"launches\": %d, \"ms\": %.4f, \"share\": %.4f, "
                   "\"gflops\": %.3f}",
                   kinds[k].count, kinds[k].launches, kinds[k].us / 1e3,
                   total > 0 ? kinds[k].us / total : 0,
                   kinds[k].us > 0 ? 2.0 * (double)kinds[k].macs / (kinds[k].us * 1e3) : 0);
        }
        printf("],\n    \"launches\": %d, \"ops_ms\": %.4f, \"span_ms\": %.4f,"
               "\n    \"slowest\": [",
               launches, total / 1e3, span / 1e3);
    } else {
        printf("\ntime per op kind (device time of one run, summed over devices):\n");
        printf("  %-16s %6s %8s %10s %7s %10s\n", "kind", "ops", "launches", "ms", "share",
               "GFLOP/s");
        for (int k = 0; k < nk; k++)
            printf("  %-16s %6d %8d %10.3f %6.1f%% %10.2f\n", kinds[k].kind, kinds[k].count,
                   kinds[k].launches, kinds[k].us / 1e3,
                   total > 0 ? 100.0 * kinds[k].us / total : 0,
                   kinds[k].us > 0 ? 2.0 * (double)kinds[k].macs / (kinds[k].us * 1e3) : 0);
        printf("ops %.3f ms in all, %d launches; the run's device time %.3f ms (%.1f%% in ops, "
               "the rest between commands)\n",
               total / 1e3, launches, span / 1e3, span > 0 ? 100.0 * total / span : 0);
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
static int write_trace(const char *path, const densecl_op_event *ev, int n, const densecl_engine *e)
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
        fprintf(f,
                "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": %d, "
                "\"args\": {\"name\": \"device %d\"}},\n",
                r, r);
    }
    for (int i = 0; i < n; i++) {
        fprintf(f, "{\"name\": ");
        dc_json_write_string(f, ev[i].name);
        fprintf(f, ", \"cat\": ");
        dc_json_write_string(f, ev[i].kind);
        fprintf(f,
                ", \"ph\": \"X\", \"pid\": 1, \"tid\": %d, \"ts\": %.3f, \"dur\": %.3f, "
                "\"args\": {\"macs\": %llu, \"launches\": %d}}%s\n",
                ev[i].replica, ev[i].start_us, ev[i].duration_us, (unsigned long long)ev[i].macs,
                ev[i].launches, i + 1 < n ? "," : "");
    }
    fprintf(f, "]}\n");
    st = dc_atomic_close(&a, !ferror(f));
    return st == DENSECL_OK ? 0 : fail_status(st);
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
        {"--threads", &o.threads, NULL},
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
    if (o.trace && o.json && cli_is_stdout(o.trace))
        return fail_usage("bench",
                          "--trace %s is standard output, where --json writes: give "
                          "--trace another file",
                          o.trace);
    cli_note_in_place(o.trace);
    if (o.iterations && !parse_int(o.iterations, 1, 1000000, &iters))
        return fail_usage("bench", "--iterations needs a positive integer, got '%s'", o.iterations);
    if (o.threads && !parse_int(o.threads, 1, INT_MAX, &eo.threads))
        return fail_usage("bench", "--threads needs a positive integer, got '%s'", o.threads);
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
    if ((rc = bench_time_runs(e, &wl, warmup, iters, times)) != 0)
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
    double med = bench_median(times, iters);
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
    char prof[1024];
    if (dc_tool_profile_line(prof, sizeof prof) != DENSECL_OK)
        prof[0] = '\0'; /* the engine, made under the same variable, refused it already */
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
        if (prof[0]) {
            printf(", \"profile\": ");
            dc_json_write_string(stdout, prof);
        }
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
        if (prof[0])
            printf("profile    %s\n", prof);
        printf("start-up   weights %.0f ms, engine (build + upload) %.0f ms, first run %.0f ms\n",
               wl.t_weights * 1e3, t_create * 1e3, t_first * 1e3);
        printf("per batch  median %.2f ms (min %.2f, max %.2f, stddev %.2f) over %d runs\n", med,
               times[0], times[iters - 1], sqrt(var), iters);
        printf("per image  %.2f ms, %.2f images/s, %.2f GFLOP/s\n", med / batch, batch * 1e3 / med,
               gflops);
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
