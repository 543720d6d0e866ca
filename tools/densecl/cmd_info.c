/* SPDX-License-Identifier: MIT */
/*
 * cmd_info.c - `densecl info`: the library version, the OpenCL devices, the one 'auto' picks
 * and the conv families of the build.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "inputs.h"
#include "mpi.h"
#include "tools_internal.h"

const char cmd_info_usage[] =
    "usage: densecl info [--model NAME [--batch N] [--conv FAMILY] [--kernel-params TEXT]]\n"
    "\n"
    "Prints the library version, every OpenCL device as P:D (the spec --device accepts),\n"
    "its type, name, platform, OpenCL C version, compute units and global memory, the\n"
    "device that --device auto picks, and what --device gpu|cpu (the first that exists) and\n"
    "--threads N (a CPU device on N threads) would do here. With DENSECL_DEVICE_PROFILE set, a\n"
    "line names the device profile the resolution is for.\n"
    "\n"
    "  --model NAME          instead of the tiles and families: what an engine on the auto\n"
    "                        device resolves for that preset at its native size ('convs')\n"
    "                        and the -D options its program is built with\n"
    "  --batch N             images per run for --model (default 1)\n"
    "  --conv FAMILY         as for 'densecl run' (default auto)\n"
    "  --kernel-params TEXT  as for 'densecl run'\n"
    "  --verbose             log the library's messages to stderr\n"
    "  -h, --help            show this help\n";

/* `info --model`: what an engine on the auto device would resolve for that model. */
static int info_model(const char *model, const char *batch, const char *conv,
                      const char *kernel_params)
{
    densecl_config cfg;
    cl_device_id dev;
    densecl_device_info pick;
    char text[4096];
    int n = 1;
    densecl_status st;
    if (densecl_config_preset(model, &cfg) != DENSECL_OK) {
        return fail_usage("info", "--model: unknown model '%s' (see 'densecl models')", model);
    }
    if (batch && !parse_int(batch, 1, 65536, &n)) {
        return fail_usage("info", "--batch: expected a whole number from 1 to 65536, got '%s'",
                          batch);
    }
    if ((st = dc_device_pick("auto", &dev, &pick)) != DENSECL_OK ||
        (st = dc_tool_resolve_text(dev, &cfg, n, native_size(&cfg), native_size(&cfg), conv,
                                   kernel_params, text, sizeof text)) != DENSECL_OK) {
        return fail_status(st);
    }
    printf("model: %s, batch %d, %dx%d\n%s", model, n, native_size(&cfg), native_size(&cfg), text);
    return 0;
}

int cmd_info(int argc, char **argv, const cli_ctx *ctx)
{
    int help = 0, verbose = ctx->verbose;
    const char *model = NULL, *batch = NULL, *conv = NULL, *kernel_params = NULL;
    const cli_opt opts[] = {
        {"--model", &model, NULL},     {"--batch", &batch, NULL},
        {"--conv", &conv, NULL},       {"--kernel-params", &kernel_params, NULL},
        {"--verbose", NULL, &verbose}, {"--help", NULL, &help},
        {"-h", NULL, &help},
    };
    int rc = parse_opts("info", argc, argv, opts, DC_ARRAY_LEN(opts));
    if (rc != 0) {
        return rc;
    }
    if (help) {
        return -1;
    }
    if (verbose) {
        densecl_set_log(log_to_stderr, NULL);
    }
    if (!model && (batch || conv || kernel_params)) {
        return fail_usage("info", "--batch, --conv and --kernel-params go with --model");
    }
    printf("densecl %s\n", densecl_version());
    int count = 0;
    densecl_status st = densecl_devices(NULL, 0, &count);
    if (st == DENSECL_ERR_NO_DEVICE) {
        const char *detail = densecl_last_error();
        if (strstr(detail, "/etc/OpenCL/vendors")) {
            return fail_status(st); /* the library already says where to look */
        }
        if (strstr(detail, "POCL_CACHE_DIR")) { /* the cause is known: no driver to install */
            return fail_msg("%s", detail);
        }
        return fail_msg("%s; %s", detail[0] ? detail : "no OpenCL device found", no_driver_hint);
    }
    if (st != DENSECL_OK) {
        return fail_status(st);
    }
    if (count <= 0) {
        return fail_msg("OpenCL platforms were found, but none has a device");
    }
    densecl_device_info *devs = calloc((size_t)count, sizeof(*devs));
    if (!devs) {
        return fail_msg("out of memory");
    }
    int got = 0;
    st = densecl_devices(devs, count, &got);
    if (st != DENSECL_OK) {
        free(devs);
        return fail_status(st);
    }
    got = got < count ? got : count;
    printf("devices:\n");
    for (int i = 0; i < got; i++) {
        const densecl_device_info *d = &devs[i];
        char mem[32];
        format_bytes(d->global_mem_bytes, mem, sizeof(mem));
        printf("  %d:%d  %-5s  %s  (%s, %s, %u CUs, %s)\n", d->platform_index, d->device_index,
               densecl_device_type_str(d->type), d->name, d->platform_name, d->opencl_c_version,
               d->compute_units, mem);
    }
    free(devs);
    densecl_device_info pick;
    st = densecl_device_find("auto", &pick);
    if (st != DENSECL_OK) {
        return fail_status(st);
    }
    printf("auto: %d:%d  %s\n", pick.platform_index, pick.device_index, pick.name);
    /* The two ways to name several devices, and what each would do here. */
    densecl_device_info fb;
    if (densecl_device_find("gpu|cpu", &fb) == DENSECL_OK) {
        printf("fallback: --device gpu|cpu takes the first that exists: here %d:%d %s; "
               "gpu,cpu splits each batch over both and needs both\n",
               fb.platform_index, fb.device_index, fb.name);
    } else {
        printf("fallback: --device gpu|cpu takes the first that exists (here neither does); "
               "gpu,cpu splits each batch over both and needs both\n");
    }
    if (pick.type == DENSECL_DEVICE_CPU) {
        printf("threads: --threads N runs the CPU device on N of its %u compute units (an "
               "OpenCL sub-device)\n",
               pick.compute_units);
    }
    /* A device profile (a test and development feature): what follows resolves for it. */
    char prof[1024];
    if ((st = dc_tool_profile_line(prof, sizeof prof)) != DENSECL_OK) {
        return fail_status(st);
    }
    if (prof[0]) {
        printf("profile: %s; tiles and convs below are resolved for it, kernels run on the "
               "device\n",
               prof);
    }
    if (model) {
        return info_model(model, batch, conv, kernel_params);
    }
    /* The device's conv tiles (densecl tune); an engine fits them to its model. */
    cl_device_id dev;
    densecl_tiles t;
    densecl_tiles_origin origin;
    char path[4200] = "";
    if (dc_device_pick("auto", &dev, &pick) == DENSECL_OK &&
        dc_tiles_resolve(dev, NULL, &t, &origin) == DENSECL_OK) {
        int have = dc_tiles_path(dev, path, sizeof(path));
        printf("tiles: conv1x1 %dx%d, conv %dx%d (", t.conv1x1_channels, t.conv1x1_pixels,
               t.conv_channels, t.conv_pixels);
        densecl_tiles bad;
        if (origin == DENSECL_TILES_TUNED) {
            printf("tuned: %s)\n", path);
        } else if (have && access(path, F_OK) == 0) {
            if (dc_tiles_load(path, &bad) != DENSECL_OK)
                printf("default; ignoring %s)\n", densecl_last_error());
            else
                printf("default; DENSECL_NO_TUNING ignores %s)\n", path);
        } else if (have) {
            printf("default; 'densecl tune' would save better ones in %s)\n", path);
        } else {
            printf("default; 'densecl tune' needs a cache directory to save better ones)\n");
        }
        /* What an engine on it would resolve, and the conv families of this build. */
        char text[4096];
        dc_tool_families_text(dev, text, sizeof text);
        printf("%s", text);
    }
    return 0;
}
