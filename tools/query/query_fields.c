/* SPDX-License-Identifier: MIT */
/*
 * query_fields.c - densecl-query's device fields: one table (q_fields, as clinfo's
 * dinfo_traits[]), rendered as the --verbose lines and as the JSON members.
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

/* 6670811136 -> "6.2 GiB"; 524288 -> "512 KiB". */
void q_bytes(uint64_t b, char *out, size_t cap)
{
    if (b >= (uint64_t)1 << 30)
        snprintf(out, cap, "%.1f GiB", (double)b / (double)((uint64_t)1 << 30));
    else if (b >= (uint64_t)1 << 20)
        snprintf(out, cap, "%.0f MiB", (double)b / (double)((uint64_t)1 << 20));
    else
        snprintf(out, cap, "%.0f KiB", (double)b / 1024.0);
}

static const char *q_local_name(cl_device_local_mem_type t)
{
    return t == CL_LOCAL ? "local" : t == CL_GLOBAL ? "global" : "none";
}

/* One field's value as a row's formatter gives it: its JSON form (kind and value) and its text
 * (text[0] == '\0': no --verbose line). */
typedef enum q_kind { Q_SKIP, Q_STR, Q_U64, Q_NUM, Q_NUM_POS, Q_BOOL, Q_OPEN, Q_CLOSE } q_kind;
typedef struct q_val {
    q_kind kind;
    const char *s; /* Q_STR: NULL is null */
    uint64_t u;    /* Q_U64, Q_BOOL */
    double d;      /* Q_NUM (not finite: null), Q_NUM_POS (also <= 0: not measured, null) */
    char text[512];
} q_val;

typedef struct q_field {
    const char *label; /* --verbose label, NULL: JSON only */
    const char *key;   /* JSON key, NULL: text only */
    void (*fmt)(const q_ctx *c, q_val *v);
    int arg;
} q_field;

/* A field's text; cut to fit, as a report line may be (the return value marks it as intended
 * for GCC's -Wformat-truncation, which -O0 builds run). */
#define Q_TEXT(v, ...) (void)(snprintf((v)->text, sizeof(v)->text, __VA_ARGS__) < 0)
#define Q_D (c->d)
#define Q_ST (&c->d->st)

static void f_spec(const q_ctx *c, q_val *v)
{
    v->kind = Q_STR, v->s = Q_D->spec;
}
static void f_platform(const q_ctx *c, q_val *v)
{
    v->kind = Q_U64, v->u = (uint64_t)Q_D->info.platform_index;
    if (c->p)
        Q_TEXT(v, "%d, %s", c->p->index, c->p->name);
}
static void f_device(const q_ctx *c, q_val *v)
{
    v->kind = Q_U64, v->u = (uint64_t)Q_D->info.device_index;
}
static void f_platform_name(const q_ctx *c, q_val *v)
{
    v->kind = Q_STR, v->s = Q_D->info.platform_name;
}
static void f_name(const q_ctx *c, q_val *v)
{
    v->kind = Q_STR, v->s = Q_D->info.name, Q_TEXT(v, "%s", v->s);
}
static void f_type(const q_ctx *c, q_val *v)
{
    v->kind = Q_STR, v->s = densecl_device_type_str(Q_D->info.type), Q_TEXT(v, "%s", v->s);
}
static void f_vendor(const q_ctx *c, q_val *v)
{
    v->kind = Q_STR, v->s = Q_D->info.vendor, Q_TEXT(v, "%s", v->s);
}
static void f_driver(const q_ctx *c, q_val *v)
{
    v->kind = Q_STR, v->s = Q_D->info.driver_version, Q_TEXT(v, "%s", v->s);
}
static void f_version(const q_ctx *c, q_val *v)
{
    v->kind = Q_STR, v->s = Q_D->info.device_version, Q_TEXT(v, "%s", v->s);
}
static void f_opencl_c(const q_ctx *c, q_val *v)
{
    v->kind = Q_STR, v->s = Q_D->info.opencl_c_version;
    Q_TEXT(v, "%s (densecl builds with %s)", v->s, Q_D->cl_std);
}
static void f_cl_std(const q_ctx *c, q_val *v)
{
    v->kind = Q_STR, v->s = Q_D->cl_std;
}
static void f_icd(const q_ctx *c, q_val *v)
{
    const q_icd *e = c->p && c->p->icd >= 0 ? &c->icds->e[c->p->icd] : NULL;
    v->kind = Q_STR, v->s = e ? e->file : NULL;
    if (e)
        Q_TEXT(v, "%s (%s, matched by %s)", e->file, e->lib, c->p->icd_how);
    else
        Q_TEXT(v, "unknown");
}
static void f_units(const q_ctx *c, q_val *v)
{
    v->kind = Q_U64, v->u = Q_D->info.compute_units;
    Q_TEXT(v, "%u units at %u MHz", Q_D->info.compute_units, Q_D->info.clock_mhz);
}
static void f_clock(const q_ctx *c, q_val *v)
{
    v->kind = Q_U64, v->u = Q_D->info.clock_mhz;
}
static void f_global(const q_ctx *c, q_val *v)
{
    char a[32], b[32];
    q_bytes(Q_D->info.global_mem_bytes, a, sizeof a);
    q_bytes(Q_D->info.max_alloc_bytes, b, sizeof b);
    v->kind = Q_U64, v->u = Q_D->info.global_mem_bytes;
    Q_TEXT(v, "%llu bytes (%s), max allocation %llu (%s)",
           (unsigned long long)Q_D->info.global_mem_bytes, a,
           (unsigned long long)Q_D->info.max_alloc_bytes, b);
}
static void f_alloc(const q_ctx *c, q_val *v)
{
    v->kind = Q_U64, v->u = Q_D->info.max_alloc_bytes;
}
static void f_local(const q_ctx *c, q_val *v)
{
    char a[32];
    q_bytes(Q_D->info.local_mem_bytes, a, sizeof a);
    v->kind = Q_U64, v->u = Q_D->info.local_mem_bytes;
    Q_TEXT(v, "%llu bytes (%s), %s", (unsigned long long)Q_D->info.local_mem_bytes, a,
           Q_D->local_type == CL_LOCAL    ? "CL_LOCAL: dedicated"
           : Q_D->local_type == CL_GLOBAL ? "CL_GLOBAL: emulated in global memory"
                                          : "none");
}
static void f_local_type(const q_ctx *c, q_val *v)
{
    v->kind = Q_STR, v->s = q_local_name(Q_D->local_type);
}
static void f_wg(const q_ctx *c, q_val *v)
{
    v->kind = Q_U64, v->u = Q_D->info.max_work_group_size;
    if (Q_ST->preferred_multiple)
        Q_TEXT(v, "max %zu, preferred multiple %zu (densecl_conv2d)", Q_D->info.max_work_group_size,
               Q_ST->preferred_multiple);
    else
        Q_TEXT(v, "max %zu", Q_D->info.max_work_group_size);
}
static void f_wg_multiple(const q_ctx *c, q_val *v)
{
    v->kind = Q_ST->preferred_multiple ? Q_U64 : Q_STR, v->u = Q_ST->preferred_multiple;
}
static void f_fp16(const q_ctx *c, q_val *v)
{
    v->kind = Q_BOOL, v->u = (uint64_t)Q_D->fp16;
    Q_TEXT(v, "%s / %s", Q_D->fp16 ? "yes" : "no", Q_D->fp64 ? "yes" : "no");
}
static void f_fp64(const q_ctx *c, q_val *v)
{
    v->kind = Q_BOOL, v->u = (uint64_t)Q_D->fp64;
}
static void f_images(const q_ctx *c, q_val *v)
{
    v->kind = Q_BOOL, v->u = (uint64_t)Q_D->images, Q_TEXT(v, "%s", Q_D->images ? "yes" : "no");
}
static void f_queues(const q_ctx *c, q_val *v)
{
    v->kind = Q_BOOL, v->u = (uint64_t)Q_D->out_of_order;
    Q_TEXT(v, "%s", Q_D->out_of_order ? "in-order and out-of-order" : "in-order only");
}
static void f_compiler(const q_ctx *c, q_val *v)
{
    v->kind = Q_BOOL, v->u = (uint64_t)Q_D->info.compiler_available;
    Q_TEXT(v, "%s", Q_D->info.compiler_available ? "yes" : "no (takes program binaries only)");
}
static void f_build(const q_ctx *c, q_val *v)
{
    v->kind = Q_BOOL, v->u = (uint64_t)Q_ST->build_ok,
    Q_TEXT(v, "%s", Q_ST->build_ok ? "ok" : "FAILED");
}
static void f_build_log(const q_ctx *c, q_val *v)
{
    v->kind = Q_STR, v->s = Q_ST->build_ok ? NULL : Q_ST->build_log;
}
static void f_conv_open(const q_ctx *c, q_val *v)
{
    (void)c, v->kind = Q_OPEN;
}
static void f_conv_ok(const q_ctx *c, q_val *v)
{
    v->kind = Q_BOOL, v->u = (uint64_t)Q_ST->conv_ok;
}
static void f_conv_err(const q_ctx *c, q_val *v)
{
    v->kind = Q_NUM, v->d = Q_ST->conv_ok ? Q_ST->conv_max_abs_err : NAN;
}
static void f_conv_detail(const q_ctx *c, q_val *v)
{
    v->kind = Q_STR, v->s = Q_ST->conv_detail;
}
static void f_conv_case(const q_ctx *c, q_val *v)
{
    v->kind = Q_SKIP;
    if (Q_ST->build_ok)
        Q_TEXT(v, "%s", Q_ST->conv_cases[c->arg]);
}
static void f_close(const q_ctx *c, q_val *v)
{
    v->kind = c->arg && !Q_ST->bench_ran ? Q_SKIP : Q_CLOSE;
}
static void f_bench_open(const q_ctx *c, q_val *v)
{
    v->kind = Q_ST->bench_ran ? Q_OPEN : Q_SKIP;
}
/* A benchmark figure: JSON only when the benchmarks ran; its line only when it was measured. */
static void f_bench(const q_ctx *c, q_val *v, double x)
{
    v->kind = Q_ST->bench_ran ? Q_NUM_POS : Q_SKIP, v->d = x;
    if (!Q_ST->bench_ran || !(x > 0))
        v->text[0] = '\0';
}
static void f_gflops(const q_ctx *c, q_val *v)
{
    Q_TEXT(v, "1x1 256->128 56x56: %.2f ms (median of %d) = %.1f GFLOP/s", Q_ST->conv_ms,
           Q_ST->bench_runs, Q_ST->gflops);
    f_bench(c, v, Q_ST->gflops);
}
static void f_bandwidth(const q_ctx *c, q_val *v)
{
    Q_TEXT(v, "%zu MiB: %.2f ms (median of %d) = %.1f GB/s read+write", Q_ST->copy_bytes >> 20,
           Q_ST->copy_ms, Q_ST->bench_runs, Q_ST->bandwidth_gbs);
    f_bench(c, v, Q_ST->bandwidth_gbs);
}
static void f_latency(const q_ctx *c, q_val *v)
{
    Q_TEXT(v, "%.1f us per enqueue+finish (median of %d)", Q_ST->launch_latency_us,
           Q_ST->launch_runs);
    f_bench(c, v, Q_ST->launch_latency_us);
}
static void f_model(const q_ctx *c, q_val *v)
{
    Q_TEXT(v, "DenseNet-121 224x224 batch 1: %.1f ms (median of %d) = %.3g images/s",
           Q_ST->model_ms, Q_ST->model_runs, Q_ST->images_per_s);
    f_bench(c, v, Q_ST->images_per_s);
}
static void f_bench_error(const q_ctx *c, q_val *v)
{
    v->kind = Q_ST->bench_ran ? Q_STR : Q_SKIP;
    v->s = Q_ST->bench_error[0] ? Q_ST->bench_error : NULL;
}
static void f_usable(const q_ctx *c, q_val *v)
{
    v->kind = Q_BOOL, v->u = (uint64_t)q_usable(Q_D);
}

/* In JSON order; the --verbose lines are those rows with a label and a text. */
static const q_field q_fields[] = {
    {NULL, "spec", f_spec, 0},
    {"platform", "platform", f_platform, 0},
    {NULL, "device", f_device, 0},
    {NULL, "platform_name", f_platform_name, 0},
    {"name", "name", f_name, 0},
    {"type", "type", f_type, 0},
    {"vendor", "vendor", f_vendor, 0},
    {"driver", "driver_version", f_driver, 0},
    {"version", "device_version", f_version, 0},
    {"OpenCL C", "opencl_c_version", f_opencl_c, 0},
    {NULL, "cl_std", f_cl_std, 0},
    {"ICD", "icd_file", f_icd, 0},
    {"compute", "compute_units", f_units, 0},
    {NULL, "clock_mhz", f_clock, 0},
    {"global mem", "global_mem_bytes", f_global, 0},
    {NULL, "max_alloc_bytes", f_alloc, 0},
    {"local mem", "local_mem_bytes", f_local, 0},
    {NULL, "local_mem_type", f_local_type, 0},
    {"work-group", "max_work_group_size", f_wg, 0},
    {NULL, "preferred_work_group_multiple", f_wg_multiple, 0},
    {"fp16 / fp64", "fp16", f_fp16, 0},
    {NULL, "fp64", f_fp64, 0},
    {"images", "image_support", f_images, 0},
    {"queues", "out_of_order_queue", f_queues, 0},
    {"compiler", "compiler_available", f_compiler, 0},
    {"build", "kernels_build", f_build, 0},
    {NULL, "build_log", f_build_log, 0},
    {NULL, "conv_check", f_conv_open, 0},
    {NULL, "ok", f_conv_ok, 0},
    {NULL, "max_abs_err", f_conv_err, 0},
    {NULL, "detail", f_conv_detail, 0},
    {NULL, NULL, f_close, 0},
    {"conv check", NULL, f_conv_case, 0},
    {"conv check", NULL, f_conv_case, 1},
    {"conv check", NULL, f_conv_case, 2},
    {NULL, "bench", f_bench_open, 0},
    {"bench conv", "gflops", f_gflops, 0},
    {"bench copy", "bandwidth_gbs", f_bandwidth, 0},
    {"bench launch", "launch_latency_us", f_latency, 0},
    {"bench model", "densenet121_images_per_second", f_model, 0},
    {NULL, "error", f_bench_error, 0},
    {NULL, NULL, f_close, 1},
    {NULL, "usable", f_usable, 0},
};

void q_print_device_verbose(const q_ctx *c)
{
    for (size_t i = 0; i < DC_ARRAY_LEN(q_fields); i++) {
        q_ctx rc = *c;
        q_val v;
        memset(&v, 0, sizeof v);
        rc.arg = q_fields[i].arg;
        q_fields[i].fmt(&rc, &v);
        if (q_fields[i].label && v.text[0])
            printf("        %-14s%s\n", q_fields[i].label, v.text);
    }
}

void q_json_device(cli_json *j, const q_ctx *c)
{
    cli_json_open(j, NULL, '{');
    for (size_t i = 0; i < DC_ARRAY_LEN(q_fields); i++) {
        const char *key = q_fields[i].key;
        q_ctx rc = *c;
        q_val v;
        memset(&v, 0, sizeof v);
        rc.arg = q_fields[i].arg;
        q_fields[i].fmt(&rc, &v);
        switch (v.kind) {
        case Q_SKIP:
            break;
        case Q_STR:
            cli_json_str(j, key, v.s);
            break;
        case Q_U64:
            cli_json_u64(j, key, v.u);
            break;
        case Q_NUM:
        case Q_NUM_POS:
            cli_json_num(j, key, v.d, v.kind == Q_NUM_POS);
            break;
        case Q_BOOL:
            cli_json_bool(j, key, v.u != 0);
            break;
        case Q_OPEN:
            cli_json_open(j, key, '{');
            break;
        case Q_CLOSE:
            cli_json_close(j, '}');
            break;
        }
    }
    cli_json_close(j, '}');
}
