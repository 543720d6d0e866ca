/* SPDX-License-Identifier: MIT */
/*
 * densecl-query.c - the tool a person runs to choose a target: every OpenCL platform and device,
 * what it offers, whether densecl's kernels build and compute correctly on it, optionally how
 * fast it is (--bench), and which device (or devices) to pass as --device.
 *
 * The checks and benchmarks are the library's (densecl_device_selftest); this file holds the
 * command line and main. query_probe.c lists the devices, query_fields.c holds one table of
 * fields (q_fields, as clinfo's dinfo_traits[]) that query_report.c renders as text and as JSON,
 * query_icd.c reads the ICD loader's files, query_rec.c recommends.
 *
 * Exit status: 0 with a report, 1 when there is no OpenCL platform or device (or the --device
 * spec matches none), 2 for a usage error.
 */
#define _POSIX_C_SOURCE 200809L /* isatty */

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "query.h"

#include <CL/cl_ext.h> /* CL_PLATFORM_ICD_SUFFIX_KHR, CL_PLATFORM_NOT_FOUND_KHR */

static const char *const q_usage =
    "usage: densecl-query [--device SPEC] [--bench] [--json] [-v|--verbose]\n"
    "\n"
    "Lists every OpenCL platform and device with what densecl needs to know (OpenCL C version,\n"
    "memory, work-group sizes, fp16/fp64, images, queues, compiler), checks that densecl's\n"
    "kernels build and compute a small convolution correctly on each, and recommends the\n"
    "--device spec to pass to densecl.\n"
    "\n"
    "  --device SPEC   report one device only: P:D, cpu, gpu, accelerator, auto or part of a name\n"
    "  --bench         also measure fp32 GFLOP/s (a 1x1 conv 256->128 at 56x56), copy bandwidth,\n"
    "                  kernel launch latency and DenseNet-121 224x224 images/s (batch 1), and\n"
    "                  recommend from the measurements (a few seconds per device; on a CPU with\n"
    "                  POCL up to about half a minute)\n"
    "  --json          one JSON object instead of the table\n"
    "  -v, --verbose   every property on its own line, the ICD files, longer build logs\n"
    "  -h, --help      this text\n"
    "  --version       densecl's version\n"
    "\n"
    "Exit status: 0 with a report, 1 without any OpenCL platform or device, 2 for a usage error.\n";

/* ---------------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const char *device = NULL;
    int bench = 0, json = 0, verbose = 0, help = 0, version = 0;
    const cli_opt opts[] = {
        {"--device", &device, NULL}, {"--bench", NULL, &bench},     {"--json", NULL, &json},
        {"-v", NULL, &verbose},      {"--verbose", NULL, &verbose}, {"-h", NULL, &help},
        {"--help", NULL, &help},     {"--version", NULL, &version},
    };
    q_icds icds;
    q_platform plats[Q_MAX_PLATFORMS];
    q_device *devs = NULL;
    cl_platform_id ids[Q_MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err;
    int n = 0, total = 0, rc = 1, only_p = -1, only_d = -1;
    densecl_weights *model = NULL;
    q_rec rec;
    cli_prog = "densecl-query";
    if (parse_opts(NULL, argc, argv, opts, DC_ARRAY_LEN(opts)) != 0)
        return EXIT_USAGE;
    if (help || version) {
        if (help)
            fputs(q_usage, stdout);
        else
            printf("densecl-query %s\n", densecl_version());
        return 0;
    }

    err = clGetPlatformIDs(Q_MAX_PLATFORMS, ids, &np);
    if (err != CL_SUCCESS || np == 0) {
        q_no_platform_help(err == CL_SUCCESS ? CL_PLATFORM_NOT_FOUND_KHR : err);
        return 1;
    }
    if (np > Q_MAX_PLATFORMS)
        np = Q_MAX_PLATFORMS;
    if (device) {
        densecl_device_info pick;
        densecl_status st = densecl_device_find(device, &pick);
        if (st != DENSECL_OK)
            return fail_status(st);
        only_p = pick.platform_index;
        only_d = pick.device_index;
    }
    devs = calloc(Q_MAX_DEVICES, sizeof *devs);
    if (!devs)
        return fail_msg("out of memory");
    q_icds_scan(&icds);
    if (q_list(ids, np, only_p, only_d, &icds, plats, devs, &n, &total) == 0) {
        fail_msg("OpenCL platforms were found, but none has a device; check the driver's "
                 "installation with 'clinfo -l'");
        goto done;
    }
    if (bench) {
        densecl_config cfg;
        densecl_status st = densecl_config_preset("densenet121", &cfg);
        if (st == DENSECL_OK)
            st = densecl_weights_random(&cfg, 1, &model);
        if (st != DENSECL_OK) {
            fail_msg("DenseNet-121 weights for the benchmark: %s", densecl_last_error());
            goto done;
        }
    }
    for (int i = 0; i < n; i++) {
        densecl_status st;
        q_device_probe(&devs[i]);
        if (bench && isatty(STDERR_FILENO))
            fprintf(stderr, "densecl-query: checking and benchmarking %s %s...\n", devs[i].spec,
                    devs[i].info.name);
        st = densecl_device_selftest(devs[i].spec, bench, model, &devs[i].st);
        if (st != DENSECL_OK) {
            fail_status(st);
            goto done;
        }
    }
    q_recommend(devs, n, bench, total, &rec);
    if (json)
        q_print_json(plats, (int)np, devs, n, &icds, &rec);
    else
        q_print_text(plats, (int)np, devs, n, &icds, &rec, verbose);
    rc = fflush(stdout) == 0 ? 0 : 1;
done:
    free(devs);
    densecl_weights_free(model);
    return rc;
}
