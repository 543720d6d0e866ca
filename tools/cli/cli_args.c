/* SPDX-License-Identifier: MIT */
/* cli_args.c - the densecl tools' option parsing: options, integers, shards. */
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
 * Option parsing
 * ------------------------------------------------------------------------------------------- */

/* The options the last parse_opts call took, in command-line order (see cli_opt_count). */
#define CLI_MAX_PARSED 128
static struct {
    const char *name, *value;
} parsed[CLI_MAX_PARSED];
static int n_parsed;

int cli_opt_count(void)
{
    return n_parsed;
}

const char *cli_opt_name(int i)
{
    return i >= 0 && i < n_parsed ? parsed[i].name : NULL;
}

const char *cli_opt_value(int i)
{
    return i >= 0 && i < n_parsed ? parsed[i].value : NULL;
}

static void remember(const char *name, const char *value)
{
    if (n_parsed < CLI_MAX_PARSED) {
        parsed[n_parsed].name = name;
        parsed[n_parsed++].value = value;
    }
}

/* Parses argv[1..argc) of subcommand cmd against opts. 0, or EXIT_USAGE once reported. A value
 * that starts with "--" is taken for a forgotten value, not a file name ("--output=--x" works). */
int parse_opts(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t n_opts)
{
    n_parsed = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        const cli_opt *o = NULL;
        for (size_t j = 0; j < n_opts && !o; j++) {
            if (strlen(opts[j].name) == len && strncmp(opts[j].name, arg, len) == 0) {
                o = &opts[j];
            }
        }
        if (!o) {
            if (arg[0] == '-' && arg[1] != '\0') {
                return fail_usage(cmd, "unknown option '%.*s' for '%s%s%s'", (int)len, arg,
                                  cli_prog, cmd ? " " : "", cmd ? cmd : "");
            }
            return fail_usage(cmd, "unexpected argument '%s'", arg);
        }
        if (o->flag) {
            if (eq) {
                return fail_usage(cmd, "%s takes no value", o->name);
            }
            *o->flag = 1;
            remember(o->name, NULL);
            continue;
        }
        const char *val;
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            val = argv[++i];
        } else {
            return fail_usage(cmd, "%s needs a value", o->name);
        }
        if (val[0] == '\0') {
            return fail_usage(cmd, "%s needs a non-empty value", o->name);
        }
        if (*o->value) {
            return fail_usage(cmd, "%s given twice", o->name);
        }
        *o->value = val;
        remember(o->name, val);
    }
    return 0;
}

/* Strict decimal integer in [lo, hi]: no sign, no spaces, nothing after it. */
int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9') {
        return 0;
    }
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) {
        return 0;
    }
    *out = (int)v;
    return 1;
}

int parse_shard(const char *s, int *k, int *n)
{
    char head[16];
    const char *slash = strchr(s, '/');
    size_t len = slash ? (size_t)(slash - s) : 0;
    if (!slash || len == 0 || len >= sizeof(head)) {
        return 0;
    }
    memcpy(head, s, len);
    head[len] = '\0';
    return parse_int(slash + 1, 1, 1000000, n) && parse_int(head, 0, *n - 1, k);
}

void shard_range(int64_t total, int k, int n, int64_t *lo, int64_t *hi)
{
    /* total / n * k + (total % n) * k / n: floor(total * k / n) without overflowing */
    *lo = total / n * k + total % n * k / n;
    *hi = total / n * (k + 1) + total % n * (k + 1) / n;
}

/* Strict decimal unsigned 64-bit integer (strtoull alone would accept "-1"). */
int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9') {
        return 0;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return 0;
    }
#if ULLONG_MAX > UINT64_MAX
    if (v > UINT64_MAX) {
        return 0;
    }
#endif
    *out = (uint64_t)v;
    return 1;
}
