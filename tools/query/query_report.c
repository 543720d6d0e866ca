/* SPDX-License-Identifier: MIT */
/*
 * query_report.c - densecl-query's report: the table of platforms and devices as text (within
 * Q_WIDTH columns; every field with --verbose) and as one JSON object.
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

#define Q_LOG_LINES 40 /* build-log lines kept (JSON, --verbose): the self-test keeps as many */
#define Q_LOG_LINES_SHORT 4
#define Q_WIDTH 100 /* the default output stays within this many columns */

/* s cut to at most width bytes ("..." marks a cut), never inside a UTF-8 sequence. */
static void q_fit(const char *s, size_t width, char *out, size_t cap)
{
    size_t len = strlen(s), cut;
    if (len <= width || width < 4) {
        snprintf(out, cap, "%.*s", (int)(width < len ? width : len), s);
        return;
    }
    cut = width - 3;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    snprintf(out, cap, "%.*s...", (int)cut, s);
}

/* Prints text as lines of at most Q_WIDTH columns after indent, breaking at spaces. */
static void q_print_wrapped(const char *indent, const char *text)
{
    size_t width = Q_WIDTH - strlen(indent);
    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        while (len > width) {
            size_t cut = width;
            while (cut > 0 && text[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = width;
            printf("%s%.*s\n", indent, (int)cut, text);
            while (cut < len && text[cut] == ' ')
                cut++;
            text += cut;
            len -= cut;
        }
        printf("%s%.*s\n", indent, (int)len, text);
        text += len;
        if (*text == '\n')
            text++;
    }
}

void q_features(const q_device *d, char *out, size_t cap)
{
    const struct {
        const char *name;
        int has;
    } f[] = {{"fp16", d->fp16},
             {"fp64", d->fp64},
             {"images", d->images},
             {"out-of-order", d->out_of_order},
             {"compiler", d->info.compiler_available}};
    size_t len = 0;
    out[0] = '\0';
    /* pass 0: what it lacks ("no a, b"); pass 1: what it has ("has c, d"), after a "; " */
    for (int pass = 0; pass < 2; pass++) {
        int first = 1;
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
            if (!f[i].has != !pass)
                continue;
            int w = snprintf(out + len, cap - len, "%s%s",
                             first ? (pass ? (len ? "; has " : "has ") : "no ") : ", ", f[i].name);
            if (w < 0 || (size_t)w >= cap - len)
                return;
            len += (size_t)w;
            first = 0;
        }
    }
}

static void q_bench_line(const densecl_selftest *b, char *out, size_t cap)
{
    char g[32], bw[32], lat[32], ips[32];
    q_num(b->gflops, g, sizeof g);
    q_num(b->bandwidth_gbs, bw, sizeof bw);
    q_num(b->launch_latency_us, lat, sizeof lat);
    q_num(b->images_per_s, ips, sizeof ips);
    snprintf(out, cap, "%s GFLOP/s, copy %s GB/s, launch %s us; DenseNet-121 %s images/s",
             b->gflops > 0 ? g : "-", b->bandwidth_gbs > 0 ? bw : "-",
             b->launch_latency_us > 0 ? lat : "-", b->images_per_s > 0 ? ips : "-");
}

static void q_print_log(const char *indent, const char *log, int max_lines)
{
    char *head = dc_head_lines(log, max_lines);
    q_print_wrapped(indent, head ? head : log);
    free(head);
}

/* ---------------------------------------------------------------------------------------------
 * Text output
 * ------------------------------------------------------------------------------------------- */

void q_print_text(const q_platform *plats, int np, const q_device *devs, int n, const q_icds *icds,
                  const q_rec *r, int verbose)
{
    char line[2048];
    int shown_plats = 0;
    for (int p = 0; p < np; p++)
        shown_plats += plats[p].shown;
    printf("densecl %s: %d OpenCL platform%s, %d device%s\n", densecl_version(), shown_plats,
           shown_plats == 1 ? "" : "s", n, n == 1 ? "" : "s");
    if (verbose) {
        printf("ICD files (%s, %s):\n", icds->where, icds->why);
        if (icds->n == 0)
            printf("  none\n");
        for (int i = 0; i < icds->n; i++)
            printf("  %s -> %s%s%s\n", icds->e[i].file, icds->e[i].lib,
                   icds->e[i].error[0] ? ": " : "", icds->e[i].error);
    } else {
        /* A driver the loader could not load gives no platform and no word from the loader:
         * say it, with the reason, or its devices are silently missing. */
        for (int i = 0; i < icds->n; i++) {
            if (!icds->e[i].error[0])
                continue;
            snprintf(line, sizeof line, "ICD %s -> %s: %s", icds->e[i].file,
                     icds->e[i].lib[0] ? icds->e[i].lib : "(empty)", icds->e[i].error);
            q_print_wrapped("", line);
        }
    }
    for (int p = 0; p < np; p++) {
        const q_platform *pl = &plats[p];
        char fit[Q_WIDTH + 8];
        if (!pl->shown)
            continue;
        snprintf(line, sizeof line, "platform %d: %s (%s)", pl->index, pl->name, pl->vendor);
        q_fit(line, Q_WIDTH, fit, sizeof fit);
        printf("\n%s\n", fit);
        q_fit(pl->version, Q_WIDTH - 2, fit, sizeof fit);
        printf("  %s\n", fit);
        if (pl->icd >= 0)
            snprintf(line, sizeof line, "ICD %s -> %s", icds->e[pl->icd].file,
                     icds->e[pl->icd].lib);
        else
            snprintf(line, sizeof line, "ICD unknown%s%s", pl->library[0] ? "; library " : "",
                     pl->library);
        q_fit(line, Q_WIDTH - 2, fit, sizeof fit);
        printf("  %s\n\n", fit);
        printf("  %-6s%-6s%-28s%4s%6s%9s%9s  %-14s%s\n", "SPEC", "TYPE", "DEVICE", "CUs", "MHz",
               "GLOBAL", "ALLOC", "LOCAL", "CL-STD");
        for (int i = 0; i < n; i++) {
            const q_device *d = &devs[i];
            char name[40], g[16], a[16], l[16], local[32], feat[128], rest[1024];
            if (d->info.platform_index != pl->index)
                continue;
            q_fit(d->info.name, 27, name, sizeof name);
            q_bytes(d->info.global_mem_bytes, g, sizeof g);
            q_bytes(d->info.max_alloc_bytes, a, sizeof a);
            q_bytes(d->info.local_mem_bytes, l, sizeof l);
            snprintf(local, sizeof local, "%s%s", l,
                     d->local_type == CL_GLOBAL  ? " emul."
                     : d->local_type == CL_LOCAL ? ""
                                                 : " none");
            printf("  %-6s%-6s%-28s%4u%6u%9s%9s  %-14s%s\n", d->spec,
                   d->info.type == DENSECL_DEVICE_ACCELERATOR
                       ? "ACCEL"
                       : densecl_device_type_str(d->info.type),
                   name, d->info.compute_units, d->info.clock_mhz, g, a, local,
                   d->cl_std + strlen("-cl-std="));
            q_features(d, feat, sizeof feat);
            if (d->st.preferred_multiple)
                snprintf(rest, sizeof rest, "%s, driver %s; wg %zu (x%zu)", d->info.vendor,
                         d->info.driver_version, d->info.max_work_group_size,
                         d->st.preferred_multiple);
            else
                snprintf(rest, sizeof rest, "%s, driver %s; wg %zu", d->info.vendor,
                         d->info.driver_version, d->info.max_work_group_size);
            /* the features after it, or on a line of their own when both do not fit */
            if (strlen(rest) + 2 + strlen(feat) <= Q_WIDTH - 8) {
                printf("        %s; %s\n", rest, feat);
            } else {
                q_fit(rest, Q_WIDTH - 8, line, sizeof line);
                printf("        %s\n", line);
                q_fit(feat, Q_WIDTH - 8, line, sizeof line);
                printf("        %s\n", line);
            }
            if (d->st.build_ok) {
                snprintf(rest, sizeof rest, "check: kernels build; conv %s", d->st.conv_detail);
                q_print_wrapped("        ", rest);
            } else {
                printf("        check: kernels do NOT build%s:\n",
                       d->info.compiler_available ? "" : " (no compiler: binaries only)");
                q_print_log("          ", d->st.build_log[0] ? d->st.build_log : "(no log)",
                            verbose ? Q_LOG_LINES + 1 : Q_LOG_LINES_SHORT);
            }
            if (d->st.bench_ran) {
                q_bench_line(&d->st, rest, sizeof rest);
                snprintf(line, sizeof line, "bench: %s", rest);
                q_fit(line, Q_WIDTH - 8, rest, sizeof rest);
                printf("        %s\n", rest);
                if (d->st.bench_error[0]) {
                    snprintf(line, sizeof line, "bench: %s", d->st.bench_error);
                    q_print_wrapped("        ", line);
                }
            }
            if (verbose) {
                q_ctx c = {d, pl, icds, 0};
                q_print_device_verbose(&c);
            }
        }
    }
    printf("\n");
    if (r->best < 0) {
        printf("recommendation: none\n");
    } else {
        const q_device *b = &devs[r->best];
        char name[48], num[32];
        q_fit(b->info.name, 40, name, sizeof name);
        if (r->n_multi >= 2) {
            snprintf(line, sizeof line,
                     "recommendation: --device %s  (about +%.0f%% over %s alone)", r->multi_spec,
                     r->gain_pct, b->spec);
        } else if (strcmp(r->basis, "bench") == 0) {
            q_num(b->st.images_per_s, num, sizeof num);
            snprintf(line, sizeof line,
                     "recommendation: --device %s  (%s, %s, %s DenseNet-121 images/s)", b->spec,
                     name, densecl_device_type_str(b->info.type), num);
        } else {
            snprintf(line, sizeof line, "recommendation: --device %s  (%s, %s, %u CUs at %u MHz)",
                     b->spec, name, densecl_device_type_str(b->info.type), b->info.compute_units,
                     b->info.clock_mhz);
        }
        q_print_wrapped("", line);
    }
    q_print_wrapped("  ", r->text);
}

/* ---------------------------------------------------------------------------------------------
 * JSON output
 * ------------------------------------------------------------------------------------------- */

void q_print_json(const q_platform *plats, int np, const q_device *devs, int n, const q_icds *icds,
                  const q_rec *r)
{
    cli_json j;
    cli_json_init(&j, stdout);
    cli_json_open(&j, NULL, '{');
    cli_json_str(&j, "densecl_version", densecl_version());
    cli_json_open(&j, "icd_files", '[');
    for (int i = 0; i < icds->n; i++) {
        cli_json_open(&j, NULL, '{');
        cli_json_str(&j, "file", icds->e[i].file);
        cli_json_str(&j, "library", icds->e[i].lib);
        cli_json_bool(&j, "loads", !icds->e[i].error[0]);
        cli_json_str(&j, "error", icds->e[i].error[0] ? icds->e[i].error : NULL);
        cli_json_close(&j, '}');
    }
    cli_json_close(&j, ']');
    cli_json_open(&j, "platforms", '[');
    for (int p = 0; p < np; p++) {
        const q_platform *pl = &plats[p];
        cli_json_open(&j, NULL, '{');
        cli_json_u64(&j, "index", (uint64_t)pl->index);
        cli_json_str(&j, "name", pl->name);
        cli_json_str(&j, "vendor", pl->vendor);
        cli_json_str(&j, "version", pl->version);
        cli_json_str(&j, "icd_suffix", pl->suffix[0] ? pl->suffix : NULL);
        cli_json_str(&j, "library", pl->library[0] ? pl->library : NULL);
        cli_json_str(&j, "icd_file", pl->icd >= 0 ? icds->e[pl->icd].file : NULL);
        cli_json_str(&j, "icd_matched_by", pl->icd >= 0 ? pl->icd_how : NULL);
        cli_json_u64(&j, "devices", (uint64_t)pl->n_devices);
        cli_json_close(&j, '}');
    }
    cli_json_close(&j, ']');
    cli_json_open(&j, "devices", '[');
    for (int i = 0; i < n; i++) {
        const q_platform *pl = NULL;
        for (int p = 0; p < np; p++)
            if (plats[p].index == devs[i].info.platform_index)
                pl = &plats[p];
        {
            q_ctx c = {&devs[i], pl, icds, 0};
            q_json_device(&j, &c);
        }
    }
    cli_json_close(&j, ']');
    cli_json_open(&j, "recommendation", '{');
    cli_json_str(&j, "basis", r->basis);
    cli_json_str(&j, "spec", r->best >= 0 ? devs[r->best].spec : NULL);
    cli_json_str(&j, "name", r->best >= 0 ? devs[r->best].info.name : NULL);
    cli_json_bool(&j, "multi_device", r->n_multi >= 2);
    cli_json_str(&j, "multi_device_spec", r->n_multi >= 2 ? r->multi_spec : NULL);
    cli_json_next(&j, "multi_device_gain_percent");
    if (r->n_multi >= 2)
        fprintf(j.f, "%.0f", r->gain_pct);
    else
        fputs("null", j.f);
    cli_json_open(&j, "devices", '[');
    for (int i = 0; i < r->n_multi; i++)
        cli_json_str(&j, NULL, devs[r->multi[i]].spec);
    cli_json_close(&j, ']');
    cli_json_str(&j, "text", r->text);
    cli_json_close(&j, '}');
    cli_json_close(&j, '}');
    fputc('\n', stdout);
}
