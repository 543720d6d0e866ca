/* cli.c - what the densecl subcommands share: errors, options, numbers, formatting. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"




/* ---------------------------------------------------------------------------------------------
 * Error reporting
 * ------------------------------------------------------------------------------------------- */

/* Prints "densecl: error: msg" as one line: line breaks inside msg become "; " unless
 * keep_lines (a build log, which is only readable with its lines). */
void print_error(const char *msg, int keep_lines)
{
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r')) {
        len--;
    }
    fputs("densecl: error: ", stderr);
    for (size_t i = 0; i < len; i++) {
        char c = msg[i];
        if (keep_lines) {
            fputc(c, stderr);
        } else if (c == '\n' || c == '\r') {
            while (i + 1 < len && (msg[i + 1] == '\n' || msg[i + 1] == '\r')) {
                i++;
            }
            fputs("; ", stderr);
        } else {
            fputc(c, stderr);
        }
    }
    fputc('\n', stderr);
}


/* A runtime or input error with our own message. Returns EXIT_RUNTIME. */
int fail_msg(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    print_error(buf, 0);
    return EXIT_RUNTIME;
}

/* A library failure: its detail, or the status name when there is none. Returns EXIT_RUNTIME. */
int fail_status(densecl_status st)
{
    const char *detail = densecl_last_error();
    print_error(detail[0] != '\0' ? detail : densecl_status_str(st), st == DENSECL_ERR_BUILD);
    return EXIT_RUNTIME;
}

/* A usage error of subcommand cmd (NULL: of the top level). Returns EXIT_USAGE. */
int fail_usage(const char *cmd, const char *fmt, ...)
{
    char msg[768];
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(buf, sizeof(buf), "%s; see 'densecl%s%s --help'", msg, cmd ? " " : "", cmd ? cmd : "");
    print_error(buf, 0);
    return EXIT_USAGE;
}

const char *const no_driver_hint =
    "check the .icd files in /etc/OpenCL/vendors (or in the directory OCL_ICD_VENDORS names), "
    "or install a driver, e.g. 'apt install pocl-opencl-icd' for the CPU";

/* ---------------------------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------------------------- */

void log_to_stderr(densecl_log_level level, const char *msg, void *user)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    (void)user;
    const char *name = (unsigned)level < DC_ARRAY_LEN(names) ? names[level] : "log";
    fprintf(stderr, "densecl: [%s] %s\n", name, msg);
}

/* ---------------------------------------------------------------------------------------------
 * Option parsing
 * ------------------------------------------------------------------------------------------- */


/* Parses argv[1..argc) of subcommand cmd against opts. 0, or EXIT_USAGE once reported. A value
 * that starts with "--" is taken for a forgotten value, not a file name ("--output=--x" works). */
int parse_opts(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t n_opts)
{
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
                return fail_usage(cmd, "unknown option '%.*s' for 'densecl %s'", (int)len, arg,
                                  cmd);
            }
            return fail_usage(cmd, "unexpected argument '%s'", arg);
        }
        if (o->flag) {
            if (eq) {
                return fail_usage(cmd, "%s takes no value", o->name);
            }
            *o->flag = 1;
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
