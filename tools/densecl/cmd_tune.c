/* SPDX-License-Identifier: MIT */
/* cmd_tune.c - `densecl tune`: the fastest conv tiles for one device, then the race of the other
 * conv families against all-direct; the winners go to the device's tuning file. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "commands.h"
#include "tools_internal.h"

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
    "3x3 convs on winograd by default (AVX-512 CPUs) and all-direct beats it by 2%, the\n"
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
                rc = bench_time_runs(e[k], wl, 0, 1, &times[k][i]);
    for (int k = 0; k < n; k++) {
        if (e[k] && rc == 0) {
            qsort(times[k], (size_t)iters, sizeof(double), bench_cmp_double);
            r[k].ms = bench_median(times[k], iters);
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
                   r[k].tiles.conv1x1_channels, r[k].tiles.conv1x1_pixels, r[k].tiles.conv_channels,
                   r[k].tiles.conv_pixels, r[k].ms, r[k].build_s);
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

    /* auto runs some convs on another family by default on some devices (gemm on GPUs, the
     * 3x3 ones on winograd where it measured faster). Where all-direct beat such a family here
     * by 2% (the bar any change of the defaults must pass), the file names direct, so that
     * auto follows what was measured rather than that default. */
    const char *save_family = win_family;
    for (int k = nd; k < nf && !win_family; k++)
        if (fam[k].ms > 0 && fam[0].ms > 0 && fam[0].ms < 0.98 * fam[k].ms &&
            dc_tool_auto_default(dev, fam[k].family)) {
            save_family = "direct";
            best.ms = fam[0].ms;
            if (!o.json)
                printf("%s, auto's default for some convs here, lost: the tuning file names "
                       "the direct family\n",
                       fam[k].family);
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
        (st = dc_tuning_write(path, &best.tiles, save_family, win_params, comment)) != DENSECL_OK) {
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
            printf("%s\n    {\"family\": \"%s\", \"params\": ", k > nd ? "," : "", fam[k].family);
            dc_json_write_string(stdout, fam[k].params ? fam[k].params : "");
            printf(", \"ms_per_batch\": %.4f, \"why\": ", fam[k].ms);
            dc_json_write_string(stdout, fam[k].ms > 0 ? "" : fam[k].why);
            printf("}");
        }
        printf("],\n  \"best\": {\"family\": \"%s\", \"conv1x1\": \"%dx%d\", \"conv\": \"%dx%d\", "
               "\"ms_per_batch\": %.4f},\n  \"default_ms_per_batch\": %.4f, \"speedup\": %.4f, "
               "\"saved\": ",
               win_family ? win_family : "direct", best.tiles.conv1x1_channels,
               best.tiles.conv1x1_pixels, best.tiles.conv_channels, best.tiles.conv_pixels, best.ms,
               baseline_ms, baseline_ms / best.ms);
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
               win_family, win_params ? win_params : "its defaults", best.ms, baseline_ms / best.ms,
               baseline_ms);
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
