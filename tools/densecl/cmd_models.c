/* SPDX-License-Identifier: MIT */
/*
 * cmd_models.c - `densecl models`: the presets, as a table or as JSON.
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

const char cmd_models_usage[] =
    "usage: densecl models [--json]\n"
    "\n"
    "Lists every model preset: stem, growth rate, layers per dense block, parameters, GMACs\n"
    "of one image at the native input size (224x224 for ImageNet stems, 32x32 for CIFAR\n"
    "stems), input size and classes.\n"
    "\n"
    "  --json      print a JSON array of objects instead of a table\n"
    "  --verbose   log the library's messages to stderr\n"
    "  -h, --help  show this help\n";

enum { MODEL_COLS = 8 };

static void print_models_json(const densecl_config *cfgs, int count)
{
    printf("[\n");
    for (int i = 0; i < count; i++) {
        const densecl_config *c = &cfgs[i];
        char blocks[128];
        int size = native_size(c);
        format_blocks(c, ", ", blocks, sizeof(blocks));
        /* Preset names are plain ASCII identifiers: nothing in them needs escaping. */
        printf("  {\"name\": \"%s\", \"stem\": \"%s\", \"growth_rate\": %d, "
               "\"block_layers\": [%s], \"init_features\": %d, \"bottleneck\": %s, "
               "\"bn_size\": %d, \"compression\": %.9g, \"in_channels\": %d, "
               "\"num_classes\": %d, \"params\": %llu, \"macs\": %llu, \"input_size\": %d}%s\n",
               densecl_preset_name(i), stem_name(c->stem), c->growth_rate, blocks, c->init_features,
               c->bottleneck ? "true" : "false", c->bn_size, (double)c->compression, c->in_channels,
               c->num_classes, (unsigned long long)densecl_config_params(c),
               (unsigned long long)densecl_config_macs(c, size, size), size,
               i + 1 < count ? "," : "");
    }
    printf("]\n");
}

static int print_models_table(const densecl_config *cfgs, int count)
{
    static const char *const heads[MODEL_COLS] = {"NAME",   "STEM",  "K",     "BLOCKS",
                                                  "PARAMS", "GMACS", "INPUT", "CLASSES"};
    static const int right[MODEL_COLS] = {0, 0, 1, 0, 1, 1, 0, 1};
    int width[MODEL_COLS];
    char(*cells)[MODEL_COLS][64] = calloc((size_t)count, sizeof(*cells));
    if (!cells) {
        return fail_msg("out of memory");
    }
    for (int j = 0; j < MODEL_COLS; j++) {
        width[j] = (int)strlen(heads[j]);
    }
    for (int i = 0; i < count; i++) {
        const densecl_config *c = &cfgs[i];
        int size = native_size(c);
        char *row[MODEL_COLS];
        for (int j = 0; j < MODEL_COLS; j++) {
            row[j] = cells[i][j];
        }
        snprintf(row[0], 64, "%s", densecl_preset_name(i));
        snprintf(row[1], 64, "%s", stem_name(c->stem));
        snprintf(row[2], 64, "%d", c->growth_rate);
        format_blocks(c, "-", row[3], 64);
        format_thousands(densecl_config_params(c), row[4], 64);
        snprintf(row[5], 64, "%.3f", (double)densecl_config_macs(c, size, size) / 1e9);
        snprintf(row[6], 64, "%dx%d", size, size);
        snprintf(row[7], 64, "%d", c->num_classes);
        for (int j = 0; j < MODEL_COLS; j++) {
            int len = (int)strlen(row[j]);
            width[j] = len > width[j] ? len : width[j];
        }
    }
    for (int i = -1; i < count; i++) {
        for (int j = 0; j < MODEL_COLS; j++) {
            const char *cell = i < 0 ? heads[j] : cells[i][j];
            const char *sep = j + 1 < MODEL_COLS ? "  " : "\n";
            if (right[j]) {
                printf("%*s%s", width[j], cell, sep);
            } else if (j + 1 < MODEL_COLS) {
                printf("%-*s%s", width[j], cell, sep);
            } else {
                printf("%s%s", cell, sep);
            }
        }
    }
    free(cells);
    return 0;
}

int cmd_models(int argc, char **argv, const cli_ctx *ctx)
{
    int json = 0, help = 0, verbose = ctx->verbose;
    const cli_opt opts[] = {
        {"--json", NULL, &json},
        {"--verbose", NULL, &verbose},
        {"--help", NULL, &help},
        {"-h", NULL, &help},
    };
    int rc = parse_opts("models", argc, argv, opts, DC_ARRAY_LEN(opts));
    if (rc != 0) {
        return rc;
    }
    if (help) {
        return -1; /* main prints the usage */
    }
    if (verbose) {
        densecl_set_log(log_to_stderr, NULL);
    }
    int count = densecl_preset_count();
    if (count <= 0) {
        return fail_msg("the library has no model presets");
    }
    densecl_config *cfgs = calloc((size_t)count, sizeof(*cfgs));
    if (!cfgs) {
        return fail_msg("out of memory");
    }
    for (int i = 0; i < count; i++) {
        densecl_status st = densecl_config_preset(densecl_preset_name(i), &cfgs[i]);
        if (st != DENSECL_OK) {
            free(cfgs);
            return fail_status(st);
        }
    }
    rc = 0;
    if (json) {
        print_models_json(cfgs, count);
    } else {
        rc = print_models_table(cfgs, count);
    }
    free(cfgs);
    return rc;
}
