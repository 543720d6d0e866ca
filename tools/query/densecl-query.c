/* SPDX-License-Identifier: MIT */
/*
 * densecl-query.c - the tool a person runs to choose a target: every OpenCL platform and device,
 * what it offers, whether densecl's kernels build and compute correctly on it, optionally how
 * fast it is (--bench), and which device (or devices) to pass as --device.
 *
 * The checks and benchmarks are the library's (densecl_device_selftest); this file lists the
 * devices and renders one table of fields (q_fields, as clinfo's dinfo_traits[]) as text and as
 * JSON. query_icd.c reads the ICD loader's files, query_rec.c recommends.
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

#define Q_LOG_LINES 40 /* build-log lines kept (JSON, --verbose): the self-test keeps as many */
#define Q_LOG_LINES_SHORT 4
#define Q_WIDTH 100 /* the default output stays within this many columns */

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

/* 6670811136 -> "6.2 GiB"; 524288 -> "512 KiB". */
static void q_bytes(uint64_t b, char *out, size_t cap)
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

static void q_platform_str(cl_platform_id p, cl_platform_info what, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    if (clGetPlatformInfo(p, what, cap - 1, out, &len) != CL_SUCCESS)
        out[0] = '\0';
    else
        out[len < cap ? len : cap - 1] = '\0';
    for (size_t n = strlen(out); n > 0 && isspace((unsigned char)out[n - 1]); n--)
        out[n - 1] = '\0';
}

/* A string info of any length, malloc'ed ("" on failure); NULL only when out of memory. */
static char *q_device_str_alloc(cl_device_id d, cl_device_info what)
{
    size_t len = 0;
    char *s;
    if (clGetDeviceInfo(d, what, 0, NULL, &len) != CL_SUCCESS)
        len = 0;
    s = malloc(len + 1);
    if (!s)
        return NULL;
    if (len == 0 || clGetDeviceInfo(d, what, len, s, NULL) != CL_SUCCESS)
        len = 0;
    s[len] = '\0';
    return s;
}

/* Has a space-separated extension list this exact name? */
static int q_has_extension(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return 1;
    }
    return 0;
}

static void q_device_probe(q_device *d)
{
    cl_device_local_mem_type lt = CL_NONE;
    cl_device_fp_config dfp = 0;
    cl_bool b = CL_FALSE;
    cl_command_queue_properties qp = 0;
    char *ext = q_device_str_alloc(d->id, CL_DEVICE_EXTENSIONS);
    if (clGetDeviceInfo(d->id, CL_DEVICE_LOCAL_MEM_TYPE, sizeof lt, &lt, NULL) == CL_SUCCESS)
        d->local_type = lt;
    if (clGetDeviceInfo(d->id, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof dfp, &dfp, NULL) != CL_SUCCESS)
        dfp = 0;
    d->fp16 = ext && q_has_extension(ext, "cl_khr_fp16");
    d->fp64 = (ext && q_has_extension(ext, "cl_khr_fp64")) || dfp != 0;
    if (clGetDeviceInfo(d->id, CL_DEVICE_IMAGE_SUPPORT, sizeof b, &b, NULL) == CL_SUCCESS)
        d->images = b == CL_TRUE;
    /* CL_DEVICE_QUEUE_PROPERTIES is CL_DEVICE_QUEUE_ON_HOST_PROPERTIES since OpenCL 2.0. */
    if (clGetDeviceInfo(d->id, CL_DEVICE_QUEUE_PROPERTIES, sizeof qp, &qp, NULL) == CL_SUCCESS)
        d->out_of_order = (qp & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0;
    dc_cl_std_from(d->info.opencl_c_version, d->cl_std, sizeof d->cl_std);
    free(ext);
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

static void q_features(const q_device *d, char *out, size_t cap)
{
    snprintf(out, cap, "%s, %s, %s, %s, %s", d->fp16 ? "fp16" : "no fp16",
             d->fp64 ? "fp64" : "no fp64", d->images ? "images" : "no images",
             d->out_of_order ? "out-of-order" : "in-order only",
             d->info.compiler_available ? "compiler" : "no compiler");
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
 * The device fields: one table, rendered as the --verbose lines and as the JSON members
 * ------------------------------------------------------------------------------------------- */

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

typedef struct q_ctx {
    const q_device *d;
    const q_platform *p; /* may be NULL */
    const q_icds *icds;
    int arg; /* the row's own argument (a conv case's index) */
} q_ctx;

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

static void q_print_device_verbose(const q_ctx *c)
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

static void q_json_device(cli_json *j, const q_ctx *c)
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

/* ---------------------------------------------------------------------------------------------
 * Text output
 * ------------------------------------------------------------------------------------------- */

static void q_print_text(const q_platform *plats, int np, const q_device *devs, int n,
                         const q_icds *icds, const q_rec *r, int verbose)
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
            printf("  %s -> %s\n", icds->e[i].file, icds->e[i].lib);
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
                snprintf(rest, sizeof rest, "%s, driver %s; wg %zu (x%zu); %s", d->info.vendor,
                         d->info.driver_version, d->info.max_work_group_size,
                         d->st.preferred_multiple, feat);
            else
                snprintf(rest, sizeof rest, "%s, driver %s; wg %zu; %s", d->info.vendor,
                         d->info.driver_version, d->info.max_work_group_size, feat);
            q_fit(rest, Q_WIDTH - 8, line, sizeof line);
            printf("        %s\n", line);
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

static void q_print_json(const q_platform *plats, int np, const q_device *devs, int n,
                         const q_icds *icds, const q_rec *r)
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

/* ---------------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------------- */

/* The platforms (all of them, np) and their devices (those --device picks, *n of *total). */
static int q_list(cl_platform_id *ids, cl_uint np, int only_p, int only_d, const q_icds *icds,
                  q_platform *plats, q_device *devs, int *n, int *total)
{
    for (cl_uint p = 0; p < np; p++) {
        q_platform *pl = &plats[p];
        cl_device_id dids[Q_MAX_DEVICES];
        cl_uint nd = 0;
        char ext[1024];
        memset(pl, 0, sizeof *pl);
        pl->id = ids[p];
        pl->index = (int)p;
        q_platform_str(ids[p], CL_PLATFORM_NAME, pl->name, sizeof pl->name);
        q_platform_str(ids[p], CL_PLATFORM_VENDOR, pl->vendor, sizeof pl->vendor);
        q_platform_str(ids[p], CL_PLATFORM_VERSION, pl->version, sizeof pl->version);
        q_platform_str(ids[p], CL_PLATFORM_ICD_SUFFIX_KHR, pl->suffix, sizeof pl->suffix);
        q_platform_str(ids[p], CL_PLATFORM_EXTENSIONS, ext, sizeof ext);
        q_platform_library(ids[p], ext, pl->library, sizeof pl->library);
        pl->icd = q_icd_match(icds, pl->library, pl->suffix, pl->vendor, &pl->icd_how);
        if (clGetDeviceIDs(ids[p], CL_DEVICE_TYPE_ALL, Q_MAX_DEVICES, dids, &nd) != CL_SUCCESS)
            nd = 0;
        if (nd > Q_MAX_DEVICES)
            nd = Q_MAX_DEVICES;
        pl->n_devices = (int)nd;
        for (cl_uint d = 0; d < nd; d++, (*total)++) {
            q_device *qd;
            if (*n >= Q_MAX_DEVICES || (only_p >= 0 && ((int)p != only_p || (int)d != only_d)))
                continue;
            qd = &devs[(*n)++];
            qd->id = dids[d];
            dc_device_describe(dids[d], &qd->info);
            qd->info.platform_index = (int)p;
            qd->info.device_index = (int)d;
            snprintf(qd->spec, sizeof qd->spec, "%u:%u", p, d);
            pl->shown = 1;
        }
    }
    return *n;
}

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
