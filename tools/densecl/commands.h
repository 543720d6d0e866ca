/* SPDX-License-Identifier: MIT */
/* commands.h - the densecl tool's commands, one file each (cmd_NAME.c), for densecl.c's table.
 * argv[0] is the command's name; each returns the exit code (0, 1 on a runtime or input error, 2
 * on a usage error), or -1 for a --help request, which prints its usage text. */
#ifndef DENSECL_TOOLS_COMMANDS_H
#define DENSECL_TOOLS_COMMANDS_H

#include "cli.h"

int cmd_models(int argc, char **argv, const cli_ctx *ctx);
int cmd_run(int argc, char **argv, const cli_ctx *ctx);
int cmd_compile_kernels(int argc, char **argv, const cli_ctx *ctx);
int cmd_bench(int argc, char **argv, const cli_ctx *ctx);
int cmd_tune(int argc, char **argv, const cli_ctx *ctx);
int cmd_classify(int argc, char **argv, const cli_ctx *ctx);
int cmd_info(int argc, char **argv, const cli_ctx *ctx);

extern const char cmd_models_usage[];
extern const char cmd_run_usage[];
extern const char cmd_compile_kernels_usage[];
extern const char cmd_bench_usage[];
extern const char cmd_tune_usage[];
extern const char cmd_classify_usage[];
extern const char cmd_info_usage[];

#endif
