/* SPDX-License-Identifier: MIT */
/* cli_format.c - the densecl tools' formatting: numbers, sizes, model facts, time, JSON. */
#define _DEFAULT_SOURCE /* realpath, mkstemps, strndup */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---------------------------------------------------------------------------------------------
 * Formatting helpers
 * ------------------------------------------------------------------------------------------- */

/* 7978856 -> "7,978,856". */
void format_thousands(uint64_t v, char *out, size_t size)
{
    char digits[32];
    int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0) {
            out[o++] = ',';
        }
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

/* "6-12-24-16". */
void format_blocks(const densecl_config *cfg, const char *sep, char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    for (int b = 0; b < cfg->num_blocks && b < DENSECL_MAX_BLOCKS && o < size; b++) {
        int n = snprintf(out + o, size - o, "%s%d", b > 0 ? sep : "", cfg->block_layers[b]);
        if (n < 0) {
            break;
        }
        o += (size_t)n;
    }
}

void format_bytes(uint64_t bytes, char *out, size_t size)
{
    const double mib = 1024.0 * 1024.0;
    if (bytes >= (uint64_t)1 << 30) {
        snprintf(out, size, "%.1f GiB", (double)bytes / (mib * 1024.0));
    } else {
        snprintf(out, size, "%.0f MiB", (double)bytes / mib);
    }
}

const char *stem_name(densecl_stem stem)
{
    return stem == DENSECL_STEM_CIFAR ? "cifar" : "imagenet";
}

/* The input side a preset is made for: ImageNet models see 224x224, CIFAR ones 32x32. */
int native_size(const densecl_config *cfg)
{
    return cfg->stem == DENSECL_STEM_CIFAR ? 32 : 224;
}

/* ---------------------------------------------------------------------------------------------
 * Timing
 * ------------------------------------------------------------------------------------------- */

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------------------------------------
 * JSON output
 * ------------------------------------------------------------------------------------------- */

void cli_json_init(cli_json *j, FILE *f)
{
    memset(j, 0, sizeof(*j));
    j->f = f;
    j->first[0] = 1;
}

void cli_json_next(cli_json *j, const char *key)
{
    if (!j->first[j->depth]) {
        fputc(',', j->f);
    }
    j->first[j->depth] = 0;
    fprintf(j->f, "\n%*s", 2 * j->depth, "");
    if (key) {
        dc_json_write_string(j->f, key);
        fputs(": ", j->f);
    }
}

void cli_json_open(cli_json *j, const char *key, char bracket)
{
    if (j->depth > 0 || !j->first[0]) {
        cli_json_next(j, key);
    } else {
        j->first[0] = 0;
    }
    fputc(bracket, j->f);
    if (j->depth + 1 < (int)DC_ARRAY_LEN(j->first)) {
        j->depth++;
    }
    j->first[j->depth] = 1;
}

void cli_json_close(cli_json *j, char bracket)
{
    int empty = j->first[j->depth];
    if (j->depth > 0) {
        j->depth--;
    }
    if (!empty) {
        fprintf(j->f, "\n%*s", 2 * j->depth, "");
    }
    fputc(bracket, j->f);
}

void cli_json_str(cli_json *j, const char *key, const char *v)
{
    cli_json_next(j, key);
    if (v) {
        dc_json_write_string(j->f, v);
    } else {
        fputs("null", j->f);
    }
}

void cli_json_u64(cli_json *j, const char *key, uint64_t v)
{
    cli_json_next(j, key);
    fprintf(j->f, "%llu", (unsigned long long)v);
}

void cli_json_num(cli_json *j, const char *key, double v, int positive_only)
{
    cli_json_next(j, key);
    if (!isfinite(v) || (positive_only && !(v > 0.0))) {
        fputs("null", j->f);
    } else {
        fprintf(j->f, "%.6g", v);
    }
}

void cli_json_bool(cli_json *j, const char *key, int v)
{
    cli_json_next(j, key);
    fputs(v ? "true" : "false", j->f);
}
