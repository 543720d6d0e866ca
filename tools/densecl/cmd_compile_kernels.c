/* SPDX-License-Identifier: MIT */
/*
 * cmd_compile_kernels.c - `densecl compile-kernels`: a device's program binary, for
 * 'densecl run --kernels-binary'.
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

const char cmd_compile_kernels_usage[] =
    "usage: densecl compile-kernels [--device SPEC] --out FILE\n"
    "\n"
    "Builds kernels.cl for one device and writes the program binary, for devices that cannot\n"
    "compile OpenCL C (most FPGA boards) or to skip compilation at start-up: pass the file to\n"
    "'densecl run --kernels-binary FILE'. A binary is refused on another device, driver or\n"
    "densecl version.\n"
    "\n"
    "  --device SPEC  the device (default auto)\n"
    "  --out FILE     where to write the binary\n"
    "  -h, --help     show this help\n";

int cmd_compile_kernels(int argc, char **argv, const cli_ctx *ctx)
{
    const char *device = NULL, *out = NULL;
    int help = 0, verbose = ctx->verbose;
    const cli_opt opts[] = {{"--device", &device, NULL},
                            {"--out", &out, NULL},
                            {"--verbose", NULL, &verbose},
                            {"--help", NULL, &help},
                            {"-h", NULL, &help}};
    int rc = parse_opts("compile-kernels", argc, argv, opts, DC_ARRAY_LEN(opts));
    if (rc != 0)
        return rc;
    if (help)
        return -1;
    if (!out)
        return fail_usage("compile-kernels", "missing --out FILE");
    cli_note_in_place(out);
    if (verbose)
        densecl_set_log(log_to_stderr, NULL);
    densecl_status st = densecl_compile_kernels(device ? device : "auto", out);
    if (st != DENSECL_OK)
        return fail_status(st);
    printf("wrote %s\n", out);
    return 0;
}
