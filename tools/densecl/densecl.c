/* SPDX-License-Identifier: MIT */
/*
 * densecl.c - the densecl command-line tool: its command table and main.
 *
 * Subcommands live in one table (name, function, help line, usage text), each in its own file
 * (cmd_NAME.c, declared in commands.h). Each returns the exit
 * code: 0 on success, 1 for a runtime or input error, 2 for a usage error. Every error is reported
 * as exactly one line "densecl: error: ..." on stderr (the one exception is a compiler build log,
 * which is part of the library's detail), and `run` never leaves an output file behind on failure:
 * the logits are written once, at the end, by the atomic dc_npy_write.
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

/* ---------------------------------------------------------------------------------------------
 * Subcommand table and main
 * ------------------------------------------------------------------------------------------- */

/* A subcommand gets argv[0] == its name. It returns the exit code, or -1 to have its usage
 * printed to stdout (a --help request). */
typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv, const cli_ctx *ctx);
    const char *help;  /* one line, for `densecl --help` */
    const char *usage; /* `densecl NAME --help` */
} cli_command;

static const cli_command commands[] = {
    {"models", cmd_models, "list the model presets with their size and cost", cmd_models_usage},
    {"run", cmd_run, "run a model on a batch of images (.npy) and write its logits (.npy)",
     cmd_run_usage},
    {"compile-kernels", cmd_compile_kernels, "write the built kernels of a device to a file",
     cmd_compile_kernels_usage},
    {"bench", cmd_bench, "measure speed: ms per image, images/s, GFLOP/s, per-op profile",
     cmd_bench_usage},
    {"tune", cmd_tune, "find the fastest conv tiles for a device and save them", cmd_tune_usage},
    {"classify", cmd_classify, "classify images, IDX or .npy files: top-K classes, accuracy",
     cmd_classify_usage},
    {"info", cmd_info, "list the OpenCL devices and the one 'auto' picks", cmd_info_usage},
};

static void print_main_help(FILE *f)
{
    fprintf(f, "usage: densecl [--verbose] COMMAND [OPTIONS]\n"
               "       densecl --version | --help\n"
               "\n"
               "DenseNet inference on OpenCL devices.\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < DC_ARRAY_LEN(commands); i++) {
        fprintf(f, "  %-15s  %s\n", commands[i].name, commands[i].help);
    }
    fprintf(f, "\n"
               "options:\n"
               "  --verbose  log the library's messages to stderr\n"
               "  --version  print the version\n"
               "  --help     show this help\n"
               "\n"
               "'densecl COMMAND --help' describes a command.\n");
}

/* rc, or EXIT_RUNTIME with one error line when standard output could not be written (a full
 * disk, /dev/full, a closed pipe): a help text or a result that never arrived is a failure. */
static int stdout_status(int rc)
{
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        char msg[256];
        snprintf(msg, sizeof(msg), "writing to standard output failed: %s",
                 errno ? strerror(errno) : "write error");
        print_error(msg, 0);
        return rc != 0 ? rc : EXIT_RUNTIME;
    }
    return rc;
}

int main(int argc, char **argv)
{
    cli_ctx ctx = {0};
    int i = 1, rc0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_main_help(stdout);
            return stdout_status(0);
        } else if (strcmp(arg, "--version") == 0) {
            printf("densecl %s\n", densecl_version());
            return stdout_status(0);
        } else if (strcmp(arg, "--verbose") == 0) {
            ctx.verbose = 1;
        } else {
            return fail_usage(NULL, "unknown option '%s'", arg);
        }
    }
    if (i == argc) {
        return fail_usage(NULL, "missing command");
    }
    const cli_command *cmd = NULL;
    for (size_t j = 0; j < DC_ARRAY_LEN(commands) && !cmd; j++) {
        if (strcmp(commands[j].name, argv[i]) == 0) {
            cmd = &commands[j];
        }
    }
    if (!cmd) {
        return fail_usage(NULL, "unknown command '%s'", argv[i]);
    }
    if (ctx.verbose) {
        densecl_set_log(log_to_stderr, NULL);
    }
    cli_signals_install();
    /* Under mpirun/srun: MPI for classify and run, which split their images over the ranks. */
    int split = strcmp(cmd->name, "classify") == 0 || strcmp(cmd->name, "run") == 0;
    if (split && cli_mpi_unbuilt_size() > 1) {
        /* N copies that cannot talk would each do the whole job and race on one output */
        if (cli_mpi_unbuilt_rank() != 0) {
            return EXIT_RUNTIME;
        }
        return fail_msg("started by an MPI launcher with %d ranks, but this densecl was built "
                        "without MPI (configure with MPI installed, e.g. Debian's "
                        "libopenmpi-dev, and -DDENSECL_MPI=ON), or run one process; "
                        "--shard K/N splits a run without MPI",
                        cli_mpi_unbuilt_size());
    }
    if (split && (rc0 = cli_mpi_init(&argc, &argv)) != 0) {
        return rc0;
    }
    /* Under several ranks, the errors of the set-up (often every rank's alike) are stored until
     * the command's cli_mpi_setup_end, where rank 0 prints them once, whole; a command that
     * returns before it (a usage error) meets the other ranks there from here. */
    if (split && cli_mpi_size() > 1) {
        cli_error_defer();
    }
    int rc = cmd->fn(argc - i, argv + i, &ctx);
    if (cli_error_deferring()) {
        int all = cli_mpi_setup_end(rc > 0 ? rc : 0);
        rc = rc < 0 ? rc : all;
    }
    if (rc < 0) {
        if (cli_mpi_rank() == 0) {
            fputs(cmd->usage, stdout);
        }
        rc = 0;
    }
    rc = stdout_status(rc);
    cli_mpi_finalize();
    return rc;
}
