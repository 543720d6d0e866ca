/*
 * densecl-query.c - the tool a person runs to choose a target: every OpenCL platform and device,
 * what it offers, whether densecl's kernels build and compute correctly on it, optionally how
 * fast it is (--bench), and which device (or devices) to pass as --device.
 *
 * Exit status: 0 with a report, 1 when there is no OpenCL platform or device (or the --device
 * spec matches none), 2 for a usage error.
 */
#define _GNU_SOURCE /* dladdr, opendir, clock_gettime under -std=c11 */

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "family.h"

#include <CL/cl_ext.h> /* CL_PLATFORM_ICD_SUFFIX_KHR, CL_PLATFORM_NOT_FOUND_KHR */

#define Q_MAX_PLATFORMS 16 /* as host/device.c */
#define Q_MAX_DEVICES 64
#define Q_MAX_ICDS 32
#define Q_LOG_LINES 40 /* build-log lines kept (JSON, --verbose) */
#define Q_LOG_LINES_SHORT 4
#define Q_WIDTH 100        /* the default output stays within this many columns */
#define Q_MULTI_SHARE 0.25 /* a second device is worth adding at >= 25% of the best's speed */

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

/* ---------------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------------- */

static void q_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

static void q_error(const char *fmt, ...)
{
    va_list ap;
    fputs("densecl-query: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static double q_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int q_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n); sorts v. */
static double q_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, q_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void q_copy(char *out, size_t cap, const char *s)
{
    snprintf(out, cap, "%s", s ? s : "");
}

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

static int q_contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return 0;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

static const char *q_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
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

/* 2.1e-07 -> "2e-7": one significant digit, no exponent padding. */
static void q_err_str(double e, char *out, size_t cap)
{
    int exp, mant;
    if (!(e > 0.0) || !isfinite(e)) {
        snprintf(out, cap, "%g", e);
        return;
    }
    exp = (int)floor(log10(e));
    mant = (int)lround(e / pow(10.0, exp));
    if (mant >= 10) {
        mant = 1;
        exp++;
    }
    snprintf(out, cap, "%de%d", mant, exp);
}

/* A value with three significant digits for the table ("41.2", "0.619", "1234"). */
static void q_num(double v, char *out, size_t cap)
{
    if (v >= 100.0)
        snprintf(out, cap, "%.0f", v);
    else if (v >= 10.0)
        snprintf(out, cap, "%.1f", v);
    else if (v >= 1.0)
        snprintf(out, cap, "%.2f", v);
    else
        snprintf(out, cap, "%.3g", v);
}

/* ---------------------------------------------------------------------------------------------
 * ICD files: which driver libraries the loader is told about, and which one a platform is
 * ------------------------------------------------------------------------------------------- */

typedef struct q_icd {
    char file[512]; /* the .icd file, or "OCL_ICD_FILENAMES" */
    char lib[512];  /* the library it names (its first line) */
} q_icd;

typedef struct q_icds {
    char where[512]; /* the directory (or file) that was read */
    const char *why; /* "default", "OCL_ICD_VENDORS", "OPENCL_VENDOR_PATH" */
    int dir_missing;
    int n;
    q_icd e[Q_MAX_ICDS];
} q_icds;

static void q_icd_read(q_icds *l, const char *file)
{
    FILE *f;
    q_icd *e;
    size_t len;
    if (l->n >= Q_MAX_ICDS)
        return;
    e = &l->e[l->n];
    q_copy(e->file, sizeof e->file, file);
    e->lib[0] = '\0';
    f = fopen(file, "r");
    if (f) {
        if (!fgets(e->lib, sizeof e->lib, f))
            e->lib[0] = '\0';
        fclose(f);
    }
    len = strlen(e->lib);
    while (len > 0 && isspace((unsigned char)e->lib[len - 1]))
        e->lib[--len] = '\0';
    l->n++;
}

static int q_cmp_icd(const void *a, const void *b)
{
    return strcmp(((const q_icd *)a)->file, ((const q_icd *)b)->file);
}

static int q_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* What ocl-icd reads: $OCL_ICD_VENDORS (a directory, or one .icd file, relative paths under
 * /etc/OpenCL/vendors), else $OPENCL_VENDOR_PATH, else /etc/OpenCL/vendors; plus the libraries
 * of $OCL_ICD_FILENAMES. */
static void q_icds_scan(q_icds *l)
{
    const char *vendors = getenv("OCL_ICD_VENDORS");
    const char *vpath = getenv("OPENCL_VENDOR_PATH");
    const char *names = getenv("OCL_ICD_FILENAMES");
    struct stat sb;
    memset(l, 0, sizeof *l);
    l->why = "default";
    q_copy(l->where, sizeof l->where, "/etc/OpenCL/vendors");
    if (vendors && *vendors) {
        l->why = "OCL_ICD_VENDORS";
        if (vendors[0] == '/')
            q_copy(l->where, sizeof l->where, vendors);
        else
            snprintf(l->where, sizeof l->where, "/etc/OpenCL/vendors/%s", vendors);
    } else if (vpath && *vpath) {
        l->why = "OPENCL_VENDOR_PATH";
        q_copy(l->where, sizeof l->where, vpath);
    }
    if (stat(l->where, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(l->where);
        struct dirent *ent;
        int first = l->n;
        while (d && (ent = readdir(d)) != NULL) {
            char path[1024];
            if (!q_ends_with(ent->d_name, ".icd"))
                continue;
            snprintf(path, sizeof path, "%s/%s", l->where, ent->d_name);
            q_icd_read(l, path);
        }
        if (d)
            closedir(d);
        qsort(l->e + first, (size_t)(l->n - first), sizeof l->e[0], q_cmp_icd);
    } else if (stat(l->where, &sb) == 0 && q_ends_with(l->where, ".icd")) {
        q_icd_read(l, l->where);
    } else {
        l->dir_missing = 1;
    }
    if (names && *names) {
        char buf[2048];
        char *save = NULL;
        q_copy(buf, sizeof buf, names);
        for (char *t = strtok_r(buf, ":", &save); t && l->n < Q_MAX_ICDS;
             t = strtok_r(NULL, ":", &save)) {
            q_copy(l->e[l->n].file, sizeof l->e[l->n].file, "OCL_ICD_FILENAMES");
            q_copy(l->e[l->n].lib, sizeof l->e[l->n].lib, t);
            l->n++;
        }
    }
}

/* The shared object an address lies in, "" if unknown. */
static void q_object_of(const void *addr, char *out, size_t cap)
{
    Dl_info di;
    out[0] = '\0';
    if (addr && dladdr(addr, &di) && di.dli_fname)
        q_copy(out, cap, di.dli_fname);
}

/* The driver library a platform's entry points live in. Under cl_khr_icd every platform handle
 * starts with a pointer to its driver's dispatch table, whose second entry is the driver's own
 * clGetPlatformInfo (cl_icd.h); the loader itself is not a driver. "" when that is not seen. */
static void q_platform_library(cl_platform_id p, const char *extensions, char *out, size_t cap)
{
    const char *const *table;
    const void *fn = NULL;
    char loader[512];
    out[0] = '\0';
    if (!p || !strstr(extensions, "cl_khr_icd"))
        return;
    memcpy(&table, (const void *)p, sizeof table);
    if (!table)
        return;
    memcpy(&fn, (const char *)table + sizeof(void *), sizeof fn);
    q_object_of(fn, out, cap);
    {
        cl_int (*ours)(cl_platform_id, cl_platform_info, size_t, void *, size_t *) =
            clGetPlatformInfo;
        void *ours_addr;
        memcpy(&ours_addr, &ours, sizeof ours_addr);
        q_object_of(ours_addr, loader, sizeof loader);
    }
    if (out[0] && strcmp(out, loader) == 0)
        out[0] = '\0';
}

/* Lowercase alphanumeric first word of s ("Intel(R) Corporation" -> "intel"). */
static void q_first_word(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    while (*s && !isalnum((unsigned char)*s))
        s++;
    while (*s && isalnum((unsigned char)*s) && o + 1 < cap)
        out[o++] = (char)tolower((unsigned char)*s++);
    out[o] = '\0';
}

/* Index of the ICD entry of a platform, or -1; *how says how it was matched. */
static int q_icd_match(const q_icds *l, const char *lib, const char *suffix, const char *vendor,
                       const char **how)
{
    char hint[64];
    *how = NULL;
    if (lib[0]) {
        char real_lib[PATH_MAX];
        int have_real = realpath(lib, real_lib) != NULL;
        for (int i = 0; i < l->n; i++) {
            char real_icd[PATH_MAX];
            if (strcmp(q_basename(l->e[i].lib), q_basename(lib)) == 0 ||
                (have_real && realpath(l->e[i].lib, real_icd) && strcmp(real_icd, real_lib) == 0)) {
                *how = "loaded library";
                return i;
            }
        }
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            q_copy(hint, sizeof hint, suffix);
        else
            q_first_word(vendor, hint, sizeof hint);
        if (strlen(hint) < 2)
            continue;
        for (int i = 0; i < l->n; i++) {
            if (q_contains_nocase(q_basename(l->e[i].lib), hint) ||
                q_contains_nocase(q_basename(l->e[i].file), hint)) {
                *how = "name";
                return i;
            }
        }
    }
    return -1;
}

/* No platform at all: what ICDs are, what the loader was given, how to get a driver. */
static void q_no_platform_help(cl_int err)
{
    q_icds l;
    q_icds_scan(&l);
    fprintf(stderr,
            "densecl-query: no OpenCL platform found (clGetPlatformIDs: %s)\n"
            "\n"
            "OpenCL programs reach drivers through the ICD loader (libOpenCL.so, from ocl-icd):\n"
            "it reads every *.icd file in /etc/OpenCL/vendors; each names one driver library,\n"
            "which it loads. OCL_ICD_VENDORS, when set, replaces that directory (or names one\n"
            ".icd file).\n",
            dc_cl_error_name(err));
    if (strcmp(l.why, "default") != 0)
        fprintf(stderr, "%s is set now: %s\n", l.why, l.where);
    if (l.dir_missing)
        fprintf(stderr, "  %s: does not exist\n", l.where);
    else if (l.n == 0)
        fprintf(stderr, "  %s: no .icd files\n", l.where);
    for (int i = 0; i < l.n; i++) {
        const char *lib = l.e[i].lib[0] ? l.e[i].lib : "(empty)";
        void *h = l.e[i].lib[0] ? dlopen(l.e[i].lib, RTLD_LAZY | RTLD_LOCAL) : NULL;
        const char *why = h ? "loads, but offers no platform" : dlerror();
        size_t n = strlen(lib);
        if (!why)
            why = "cannot be loaded";
        else if (strncmp(why, lib, n) == 0 && strncmp(why + n, ": ", 2) == 0)
            why += n + 2; /* dlerror() repeats the name */
        fprintf(stderr, "  %s -> %s: %s\n", l.e[i].file, lib, why);
        if (h)
            dlclose(h);
    }
    fputs("\n"
          "To get a driver (Debian, Ubuntu):\n"
          "  any CPU      apt install pocl-opencl-icd\n"
          "  Intel GPU    apt install intel-opencl-icd\n"
          "  AMD GPU      apt install mesa-opencl-icd (or ROCm's rocm-opencl-runtime)\n"
          "  NVIDIA GPU   the nvidia-opencl-icd package of the installed driver\n"
          "To see what the loader finds: apt install clinfo, then run clinfo -l\n",
          stderr);
}

/* ---------------------------------------------------------------------------------------------
 * What is known about each platform and device
 * ------------------------------------------------------------------------------------------- */

typedef struct q_platform {
    cl_platform_id id;
    int index;
    int n_devices;
    int shown; /* has a device in the report */
    char name[128];
    char vendor[128];
    char version[256];
    char suffix[32];     /* CL_PLATFORM_ICD_SUFFIX_KHR */
    char library[512];   /* where its entry points live, "" if unseen */
    int icd;             /* index into the ICD list, -1 unknown */
    const char *icd_how; /* "loaded library" or "name" */
} q_platform;

#define Q_CONV_CASES 3

typedef struct q_bench {
    int ran;
    double gflops, bandwidth_gbs, latency_us, images_per_s;
    double conv_ms, copy_ms, model_ms;
    size_t copy_bytes;
    char error[512]; /* the first part that failed, "" if none */
} q_bench;

typedef struct q_device {
    cl_device_id id;
    densecl_device_info info;
    char spec[24];
    char cl_std[24];
    cl_device_local_mem_type local_type;
    size_t preferred_multiple; /* of densecl_conv2d; 0 if not built */
    int fp16, fp64, images, out_of_order;
    int build_ok;
    char *build_log; /* first Q_LOG_LINES lines of the failure, malloc'ed */
    int conv_ok;
    double conv_err;
    char conv_msg[512];
    char conv_cases[Q_CONV_CASES][200];
    q_bench bench;
} q_device;

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

/* The first max_lines lines of text, malloc'ed ("... (N more lines)" marks a cut). */
static char *q_head_lines(const char *text, int max_lines)
{
    const char *p = text;
    int lines = 0, more = 0;
    size_t keep;
    char *out;
    while (*p && lines < max_lines) {
        const char *nl = strchr(p, '\n');
        lines++;
        p = nl ? nl + 1 : p + strlen(p);
    }
    keep = (size_t)(p - text);
    for (const char *r = p; *r; r++)
        more += *r == '\n' || r[1] == '\0';
    out = malloc(keep + 48);
    if (!out)
        return NULL;
    memcpy(out, text, keep);
    out[keep] = '\0';
    while (keep > 0 && (out[keep - 1] == '\n' || out[keep - 1] == '\r'))
        out[--keep] = '\0';
    if (more > 0)
        snprintf(out + keep, 48, "\n... (%d more lines)", more);
    return out;
}

/* ---------------------------------------------------------------------------------------------
 * The convolution check: densecl_conv2d against a few lines of naive C
 * ------------------------------------------------------------------------------------------- */

typedef struct q_conv_case {
    const char *what;
    int n, cin, in_ctot, h, w, cout, out_ctot, out_coff, k, stride, pad, relu, bias, pre;
} q_conv_case;

static const q_conv_case q_conv_cases[Q_CONV_CASES] = {
    /* a dense layer's 3x3: BN+ReLU prologue, bias, its k channels written at an offset, and
     * input channels past cin that must not be read */
    {"3x3 13->7 11x9", 2, 13, 15, 11, 9, 7, 12, 3, 3, 1, 1, 0, 1, 1},
    /* a bottleneck 1x1 (the flat path): prologue, bias, ReLU, channels not a multiple of 8 */
    {"1x1 19->21 7x5", 1, 19, 20, 7, 5, 21, 23, 2, 1, 1, 0, 1, 1, 1},
    /* the stem's 7x7/2 on odd sizes, no prologue */
    {"7x7/2 3->10 13x11", 1, 3, 3, 13, 11, 10, 10, 0, 7, 2, 3, 1, 1, 0},
};

#define Q_GUARD 64            /* floats after the output that must stay untouched */
#define Q_SENTINEL (-7777.0f) /* output values outside the written channels */
#define Q_UNREAD 1e30f        /* input channels past cin: any use shows in the result */
#define Q_ALIGN 16            /* parameter blocks on 64-byte boundaries, as host/replica.c */

static size_t q_align(size_t n)
{
    return (n + Q_ALIGN - 1) / Q_ALIGN * Q_ALIGN;
}

/* Deterministic values in [-1, 1). */
static float q_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

/* Naive reference, in double: [n, in_ctot, h, w] -> [n, cout, oh, ow]. Zero padding applies to
 * the prologue's output, as in PyTorch's BN-ReLU-conv. */
static void q_conv_ref(const q_conv_case *c, const float *in, const float *w, const float *bias,
                       const float *pre, int oh, int ow, double *out)
{
    for (int n = 0; n < c->n; n++)
        for (int co = 0; co < c->cout; co++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double s = c->bias ? bias[co] : 0.0;
                    for (int ci = 0; ci < c->cin; ci++)
                        for (int ky = 0; ky < c->k; ky++)
                            for (int kx = 0; kx < c->k; kx++) {
                                int y = oy * c->stride - c->pad + ky;
                                int x = ox * c->stride - c->pad + kx;
                                double v;
                                if (y < 0 || y >= c->h || x < 0 || x >= c->w)
                                    continue;
                                v = in[(((size_t)n * c->in_ctot + ci) * c->h + y) * c->w + x];
                                if (c->pre) {
                                    v = v * pre[ci] + pre[c->cin + ci];
                                    v = v > 0.0 ? v : 0.0;
                                }
                                s += v * w[(((size_t)co * c->cin + ci) * c->k + ky) * c->k + kx];
                            }
                    if (c->relu && s < 0.0)
                        s = 0.0;
                    out[(((size_t)n * c->cout + co) * oh + oy) * ow + ox] = s;
                }
}

/* The kernels a check runs: the common ones and the direct conv family's, built for the device
 * as compile-kernels resolves it (every conv kind, the device's tiles). */
typedef struct q_kern {
    dc_kernels k;
    void *conv;  /* dc_family_direct's state */
    dc_params p; /* its parameters */
} q_kern;

static cl_int q_enqueue_conv(cl_command_queue q, const q_kern *k, const dc_conv_args *a)
{
    dc_mem none = {NULL, 0};
    return dc_family_direct.enqueue(q, k->conv, &k->p, a, none, NULL);
}

/* Runs one case; 1 if correct. *max_err is raised to its largest absolute error; msg says what
 * went wrong. */
static int q_conv_case_run(cl_context ctx, cl_command_queue q, const q_kern *k,
                           const q_conv_case *c, double *max_err, char *msg, size_t cap)
{
    const int oh = (c->h + 2 * c->pad - c->k) / c->stride + 1;
    const int ow = (c->w + 2 * c->pad - c->k) / c->stride + 1;
    const size_t n_in = (size_t)c->n * c->in_ctot * c->h * c->w;
    const size_t n_w = (size_t)c->cout * c->cin * c->k * c->k;
    const size_t n_res = (size_t)c->n * c->out_ctot * oh * ow;
    const size_t n_out = n_res + Q_GUARD;
    const size_t packed = dc_conv_weight_pack(NULL, c->cout, c->cin, c->k, NULL);
    const size_t off_b = q_align(packed), off_p = q_align(off_b + (size_t)c->cout);
    const size_t n_par = off_p + 2 * (size_t)c->cin;
    float *in = malloc(n_in * sizeof *in), *w = malloc(n_w * sizeof *w);
    float *par = calloc(n_par, sizeof *par), *out = malloc(n_out * sizeof *out);
    double *ref = malloc((size_t)c->n * c->cout * oh * ow * sizeof *ref);
    cl_mem m_in = NULL, m_par = NULL, m_out = NULL;
    cl_int err = CL_SUCCESS;
    uint32_t seed = 12345u + (uint32_t)c->cin * 31u + (uint32_t)c->k;
    double err_here = 0.0;
    int ok = 0;
    if (!in || !w || !par || !out || !ref || packed == 0) {
        snprintf(msg, cap, "%s: out of host memory", c->what);
        goto done;
    }
    for (size_t i = 0; i < n_in; i++) {
        int ch = (int)(i / ((size_t)c->h * c->w) % (size_t)c->in_ctot);
        in[i] = ch < c->cin ? q_rand(&seed) : Q_UNREAD;
    }
    for (size_t i = 0; i < n_w; i++)
        w[i] = q_rand(&seed) / sqrtf((float)(c->cin * c->k * c->k));
    dc_conv_weight_pack(w, c->cout, c->cin, c->k, par);
    for (int i = 0; i < c->cout; i++)
        par[off_b + (size_t)i] = 0.5f * q_rand(&seed);
    for (int i = 0; i < c->cin; i++) {
        par[off_p + (size_t)i] = 1.0f + 0.5f * q_rand(&seed);
        par[off_p + (size_t)c->cin + (size_t)i] = 0.5f * q_rand(&seed);
    }
    for (size_t i = 0; i < n_out; i++)
        out[i] = Q_SENTINEL;
    q_conv_ref(c, in, w, par + off_b, par + off_p, oh, ow, ref);

    m_in =
        clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n_in * sizeof *in, in, &err);
    if (err == CL_SUCCESS)
        m_par = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n_par * sizeof *par,
                               par, &err);
    if (err == CL_SUCCESS)
        m_out = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, n_out * sizeof *out,
                               out, &err);
    if (err != CL_SUCCESS) {
        snprintf(msg, cap, "%s: clCreateBuffer failed: %s", c->what, dc_cl_error_name(err));
        goto done;
    }
    {
        dc_conv_args a = {.in = {m_in, 0},
                          .weight = {m_par, 0},
                          .bias = {c->bias ? m_par : NULL, c->bias ? off_b : 0},
                          .pre = {c->pre ? m_par : NULL, c->pre ? off_p : 0},
                          .out = {m_out, 0},
                          .n = c->n,
                          .cin = c->cin,
                          .in_ctot = c->in_ctot,
                          .in_h = c->h,
                          .in_w = c->w,
                          .cout = c->cout,
                          .out_ctot = c->out_ctot,
                          .out_coff = c->out_coff,
                          .out_h = oh,
                          .out_w = ow,
                          .k = c->k,
                          .stride = c->stride,
                          .pad = c->pad,
                          .relu = c->relu};
        err = q_enqueue_conv(q, k, &a);
        if (err != CL_SUCCESS) {
            snprintf(msg, cap, "%s: enqueueing densecl_conv2d failed: %s", c->what,
                     dc_cl_error_name(err));
            goto done;
        }
    }
    err = clEnqueueReadBuffer(q, m_out, CL_TRUE, 0, n_out * sizeof *out, out, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        snprintf(msg, cap, "%s: reading the result failed: %s", c->what, dc_cl_error_name(err));
        goto done;
    }
    for (size_t i = 0; i < n_out; i++) {
        size_t pix = i % ((size_t)oh * ow);
        int ch = (int)(i / ((size_t)oh * ow) % (size_t)c->out_ctot);
        int n = (int)(i / ((size_t)oh * ow * c->out_ctot));
        int mine = i < n_res && ch >= c->out_coff && ch < c->out_coff + c->cout;
        if (!mine) {
            if (out[i] != Q_SENTINEL) {
                snprintf(msg, cap, "%s: wrote outside its output (%s float %zu)", c->what,
                         i < n_res ? "channel" : "guard band after",
                         i < n_res ? (size_t)ch : i - n_res);
                goto done;
            }
            continue;
        }
        {
            double want = ref[((size_t)n * c->cout + (size_t)(ch - c->out_coff)) * oh * ow + pix];
            double got = out[i], d = fabs(got - want);
            if (!(d <= 1e-4 + 1e-4 * fabs(want))) {
                snprintf(msg, cap, "%s: wrong result at [%d, %d, %zu, %zu]: %g, want %g", c->what,
                         n, ch, pix / (size_t)ow, pix % (size_t)ow, got, want);
                goto done;
            }
            if (d > err_here)
                err_here = d;
        }
    }
    {
        char e[32];
        q_err_str(err_here, e, sizeof e);
        snprintf(msg, cap, "%s: ok (max err %s)", c->what, e);
    }
    if (err_here > *max_err)
        *max_err = err_here;
    ok = 1;
done:
    if (m_in)
        clReleaseMemObject(m_in);
    if (m_par)
        clReleaseMemObject(m_par);
    if (m_out)
        clReleaseMemObject(m_out);
    free(in);
    free(w);
    free(par);
    free(out);
    free(ref);
    return ok;
}

static void q_conv_check(q_device *d, cl_context ctx, cl_command_queue q, const q_kern *k)
{
    d->conv_ok = 1;
    d->conv_err = 0.0;
    for (int i = 0; i < Q_CONV_CASES; i++) {
        if (!q_conv_case_run(ctx, q, k, &q_conv_cases[i], &d->conv_err, d->conv_cases[i],
                             sizeof d->conv_cases[i])) {
            d->conv_ok = 0;
            snprintf(d->conv_msg, sizeof d->conv_msg, "FAILED: %s", d->conv_cases[i]);
            for (int j = i + 1; j < Q_CONV_CASES; j++)
                snprintf(d->conv_cases[j], sizeof d->conv_cases[j], "%s: not run",
                         q_conv_cases[j].what);
            return;
        }
    }
    {
        char e[32];
        q_err_str(d->conv_err, e, sizeof e);
        snprintf(d->conv_msg, sizeof d->conv_msg, "ok (max err %s)", e);
    }
}

/* ---------------------------------------------------------------------------------------------
 * --bench: GFLOP/s, bandwidth, launch latency, DenseNet-121 images/s
 * ------------------------------------------------------------------------------------------- */

#define Q_RUNS 5         /* timed runs of the conv and the copy, after one warm-up */
#define Q_LAUNCH_RUNS 31 /* timed tiny launches, after a few warm-ups */
#define Q_MODEL_RUNS 3   /* timed DenseNet-121 images, after one warm-up */
#define Q_COPY_BYTES ((size_t)64 << 20)

static void q_bench_fail(q_bench *b, const char *what, cl_int err)
{
    if (!b->error[0])
        snprintf(b->error, sizeof b->error, "%s failed: %s", what, dc_cl_error_name(err));
}

/* A 1x1 conv of 256 -> 128 channels at 56x56 with the BN+ReLU prologue, bias and ReLU: the
 * shape of DenseNet-121's block-2 bottlenecks, i.e. its typical GEMM. */
static void q_bench_conv(q_bench *b, cl_context ctx, cl_command_queue q, const q_kern *k)
{
    enum { CIN = 256, COUT = 128, HW = 56 };
    const size_t n_in = (size_t)CIN * HW * HW, n_out = (size_t)COUT * HW * HW;
    const size_t packed = dc_conv_weight_pack(NULL, COUT, CIN, 1, NULL);
    const size_t off_b = q_align(packed), off_p = q_align(off_b + COUT);
    const size_t n_par = off_p + 2 * CIN;
    float *in = malloc(n_in * sizeof *in), *w = malloc((size_t)COUT * CIN * sizeof *w);
    float *par = calloc(n_par, sizeof *par);
    cl_mem m_in = NULL, m_par = NULL, m_out = NULL;
    cl_int err = CL_SUCCESS;
    uint32_t seed = 7u;
    double t[Q_RUNS];
    if (!in || !w || !par) {
        snprintf(b->error, sizeof b->error, "conv benchmark: out of host memory");
        goto done;
    }
    for (size_t i = 0; i < n_in; i++)
        in[i] = q_rand(&seed);
    for (size_t i = 0; i < (size_t)COUT * CIN; i++)
        w[i] = q_rand(&seed) * 0.0625f;
    dc_conv_weight_pack(w, COUT, CIN, 1, par);
    for (size_t i = 0; i < COUT; i++)
        par[off_b + i] = 0.1f * q_rand(&seed);
    for (size_t i = 0; i < CIN; i++) {
        par[off_p + i] = 1.0f;
        par[off_p + CIN + i] = 0.25f * q_rand(&seed);
    }
    m_in =
        clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n_in * sizeof *in, in, &err);
    if (err == CL_SUCCESS)
        m_par = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, n_par * sizeof *par,
                               par, &err);
    if (err == CL_SUCCESS)
        m_out = clCreateBuffer(ctx, CL_MEM_READ_WRITE, n_out * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) {
        q_bench_fail(b, "conv benchmark: clCreateBuffer", err);
        goto done;
    }
    for (int r = -1; r < Q_RUNS; r++) {
        /* [1, 256, 56, 56] -> [1, 128, 56, 56], 1x1/1/0 */
        dc_conv_args a = {.in = {m_in, 0},
                          .weight = {m_par, 0},
                          .bias = {m_par, off_b},
                          .pre = {m_par, off_p},
                          .out = {m_out, 0},
                          .n = 1,
                          .cin = CIN,
                          .in_ctot = CIN,
                          .in_h = HW,
                          .in_w = HW,
                          .cout = COUT,
                          .out_ctot = COUT,
                          .out_coff = 0,
                          .out_h = HW,
                          .out_w = HW,
                          .k = 1,
                          .stride = 1,
                          .pad = 0,
                          .relu = 1};
        double t0 = q_now();
        err = q_enqueue_conv(q, k, &a);
        if (err == CL_SUCCESS)
            err = clFinish(q);
        if (err != CL_SUCCESS) {
            q_bench_fail(b, "conv benchmark: densecl_conv2d", err);
            goto done;
        }
        if (r >= 0)
            t[r] = q_now() - t0;
    }
    b->conv_ms = q_median(t, Q_RUNS) * 1e3;
    b->gflops = 2.0 * CIN * COUT * HW * HW / (b->conv_ms * 1e-3) / 1e9;
done:
    if (m_in)
        clReleaseMemObject(m_in);
    if (m_par)
        clReleaseMemObject(m_par);
    if (m_out)
        clReleaseMemObject(m_out);
    free(in);
    free(w);
    free(par);
}

/* clEnqueueCopyBuffer of up to 64 MiB: it reads and writes every byte, hence 2 x bytes. */
static void q_bench_copy(q_bench *b, const q_device *d, cl_context ctx, cl_command_queue q)
{
    size_t bytes = Q_COPY_BYTES;
    cl_mem src = NULL, dst = NULL;
    cl_int err = CL_SUCCESS;
    const cl_float zero = 0.0f;
    double t[Q_RUNS];
    if (d->info.max_alloc_bytes / 2 < bytes)
        bytes = (size_t)(d->info.max_alloc_bytes / 2);
    if (d->info.global_mem_bytes / 8 < bytes)
        bytes = (size_t)(d->info.global_mem_bytes / 8);
    bytes = bytes / 4096 * 4096;
    if (bytes == 0) {
        snprintf(b->error, sizeof b->error, "copy benchmark: the device has too little memory");
        return;
    }
    src = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err == CL_SUCCESS)
        dst = clCreateBuffer(ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        q_bench_fail(b, "copy benchmark: clCreateBuffer", err);
        goto done;
    }
    /* Touch both first, so that no run pays for first-use page allocation. */
    err = clEnqueueFillBuffer(q, src, &zero, sizeof zero, 0, bytes, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clEnqueueFillBuffer(q, dst, &zero, sizeof zero, 0, bytes, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clFinish(q);
    if (err != CL_SUCCESS) {
        q_bench_fail(b, "copy benchmark: clEnqueueFillBuffer", err);
        goto done;
    }
    for (int r = -1; r < Q_RUNS; r++) {
        double t0 = q_now();
        err = clEnqueueCopyBuffer(q, src, dst, 0, 0, bytes, 0, NULL, NULL);
        if (err == CL_SUCCESS)
            err = clFinish(q);
        if (err != CL_SUCCESS) {
            q_bench_fail(b, "copy benchmark: clEnqueueCopyBuffer", err);
            goto done;
        }
        if (r >= 0)
            t[r] = q_now() - t0;
    }
    b->copy_bytes = bytes;
    b->copy_ms = q_median(t, Q_RUNS) * 1e3;
    b->bandwidth_gbs = 2.0 * (double)bytes / (b->copy_ms * 1e-3) / 1e9;
done:
    if (src)
        clReleaseMemObject(src);
    if (dst)
        clReleaseMemObject(dst);
}

/* Enqueue + clFinish of densecl_linear with n = cin = cout = 1: what one op costs at least. */
static void q_bench_launch(q_bench *b, cl_context ctx, cl_command_queue q, const q_kern *k)
{
    float host[4] = {1.0f, 2.0f, 0.5f, 0.0f};
    cl_mem m = NULL, out = NULL;
    cl_int err = CL_SUCCESS;
    double t[Q_LAUNCH_RUNS];
    m = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, sizeof host, host, &err);
    if (err == CL_SUCCESS)
        out = clCreateBuffer(ctx, CL_MEM_READ_WRITE, sizeof host, NULL, &err);
    if (err != CL_SUCCESS) {
        q_bench_fail(b, "launch benchmark: clCreateBuffer", err);
        goto done;
    }
    for (int r = -3; r < Q_LAUNCH_RUNS; r++) {
        /* in = host[0], weight = host[1], bias = host[2] */
        dc_linear_args a = {.in = {m, 0},
                            .weight = {m, 1},
                            .bias = {m, 2},
                            .out = {out, 0},
                            .n = 1,
                            .cin = 1,
                            .cout = 1};
        double t0 = q_now();
        err = dc_enqueue_linear(q, &k->k, &a, NULL);
        if (err == CL_SUCCESS)
            err = clFinish(q);
        if (err != CL_SUCCESS) {
            q_bench_fail(b, "launch benchmark: densecl_linear", err);
            goto done;
        }
        if (r >= 0)
            t[r] = q_now() - t0;
    }
    b->latency_us = q_median(t, Q_LAUNCH_RUNS) * 1e6;
done:
    if (m)
        clReleaseMemObject(m);
    if (out)
        clReleaseMemObject(out);
}

/* DenseNet-121 at 224x224, batch 1, through the public API with the device's spec, as a user
 * would run it: one warm-up image, then the median of Q_MODEL_RUNS. */
static void q_bench_model(q_bench *b, const q_device *d, const densecl_weights *w)
{
    const densecl_config *cfg = densecl_weights_config(w);
    const size_t image = (size_t)cfg->in_channels * 224 * 224;
    float *x = malloc(image * sizeof *x);
    float *logits = malloc((size_t)cfg->num_classes * sizeof *logits);
    densecl_engine *e = NULL;
    densecl_status st;
    uint32_t seed = 99u;
    double t[Q_MODEL_RUNS];
    if (!x || !logits) {
        snprintf(b->error, sizeof b->error, "DenseNet-121 benchmark: out of host memory");
        goto done;
    }
    for (size_t i = 0; i < image; i++)
        x[i] = q_rand(&seed);
    st = densecl_engine_create(w, d->spec, &e);
    for (int r = -1; st == DENSECL_OK && r < Q_MODEL_RUNS; r++) {
        double t0 = q_now();
        st = densecl_engine_run(e, x, 1, cfg->in_channels, 224, 224, logits);
        if (r >= 0)
            t[r] = q_now() - t0;
    }
    if (st != DENSECL_OK) {
        if (!b->error[0])
            snprintf(b->error, sizeof b->error, "DenseNet-121 benchmark: %s",
                     densecl_last_error()[0] ? densecl_last_error() : densecl_status_str(st));
        goto done;
    }
    b->model_ms = q_median(t, Q_MODEL_RUNS) * 1e3;
    b->images_per_s = 1e3 / b->model_ms;
done:
    densecl_engine_free(e);
    free(x);
    free(logits);
}

/* ---------------------------------------------------------------------------------------------
 * Per device: context, build, check, bench
 * ------------------------------------------------------------------------------------------- */

static void q_device_check(q_device *d, int bench, const densecl_weights *model)
{
    cl_context ctx = NULL;
    cl_command_queue q = NULL;
    cl_program prog = NULL;
    q_kern k;
    dc_caps caps;
    dc_resolved res;
    char defines[512];
    cl_int err = CL_SUCCESS;
    densecl_status st;
    memset(&k, 0, sizeof k);
    ctx = clCreateContext(NULL, 1, &d->id, NULL, NULL, &err);
    if (err == CL_SUCCESS)
        q = clCreateCommandQueue(ctx, d->id, 0, &err);
    if (err != CL_SUCCESS) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s failed: %s", ctx ? "clCreateCommandQueue" : "clCreateContext",
                 dc_cl_error_name(err));
        d->build_log = q_head_lines(msg, 1);
        snprintf(d->conv_msg, sizeof d->conv_msg, "not run: no context");
        goto done;
    }
    dc_caps_query(d->id, &caps);
    {
        dc_choice direct = {"direct", NULL, {0, 0, 0, 0}, NULL};
        st = dc_resolve(&caps, NULL, &direct, &res);
    }
    if (st == DENSECL_OK) {
        k.p = res.params[0];
        dc_resolved_defines(&res, defines, sizeof defines);
        st = dc_program_build(ctx, d->id, dc_resolved_families(&res), defines, &prog);
    }
    if (st == DENSECL_OK)
        st = dc_kernels_create(prog, &k.k);
    if (st == DENSECL_OK)
        st = dc_family_direct.create(prog, &caps, &k.p, &k.conv);
    if (st != DENSECL_OK) {
        const char *detail = densecl_last_error();
        char msg[256];
        if (!detail[0]) {
            snprintf(msg, sizeof msg, "%s", densecl_status_str(st));
            detail = msg;
        }
        d->build_log = q_head_lines(detail, Q_LOG_LINES);
        snprintf(d->conv_msg, sizeof d->conv_msg, "not run: the kernels did not build");
        goto done;
    }
    d->build_ok = 1;
    {
        /* The conv kernel's own (the direct family's state keeps its kernels to itself). */
        cl_kernel conv = clCreateKernel(prog, "densecl_conv2d", &err);
        if (err != CL_SUCCESS ||
            clGetKernelWorkGroupInfo(conv, d->id, CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE,
                                     sizeof d->preferred_multiple, &d->preferred_multiple,
                                     NULL) != CL_SUCCESS)
            d->preferred_multiple = 0;
        if (err == CL_SUCCESS)
            clReleaseKernel(conv);
        err = CL_SUCCESS;
    }
    q_conv_check(d, ctx, q, &k);
    if (bench && d->conv_ok) {
        d->bench.ran = 1;
        q_bench_conv(&d->bench, ctx, q, &k);
        q_bench_copy(&d->bench, d, ctx, q);
        q_bench_launch(&d->bench, ctx, q, &k);
    }
done:
    dc_kernels_release(&k.k);
    if (k.conv)
        dc_family_direct.release(k.conv);
    if (prog)
        clReleaseProgram(prog);
    if (q)
        clReleaseCommandQueue(q);
    if (ctx)
        clReleaseContext(ctx);
    /* The model has its own context (densecl_engine_create with the spec); this one is gone. */
    if (bench && d->conv_ok && model)
        q_bench_model(&d->bench, d, model);
}

static int q_usable(const q_device *d)
{
    return d->build_ok && d->conv_ok;
}

/* ---------------------------------------------------------------------------------------------
 * Recommendation
 * ------------------------------------------------------------------------------------------- */

typedef struct q_rec {
    const char *basis; /* "bench", "static" or "none" */
    int best;          /* index into the devices, -1 for none */
    int n_multi;       /* devices worth using together, best first; >= 2 when it helps */
    int multi[Q_MAX_DEVICES];
    double gain_pct;
    char multi_spec[256];
    char text[2048]; /* lines without the headline, '\n'-separated */
} q_rec;

static int q_type_rank(densecl_device_type t)
{
    return t == DENSECL_DEVICE_GPU           ? 0
           : t == DENSECL_DEVICE_ACCELERATOR ? 1
           : t == DENSECL_DEVICE_CPU         ? 2
                                             : 3;
}

static double q_static_score(const q_device *d)
{
    return (double)d->info.compute_units * (double)(d->info.clock_mhz ? d->info.clock_mhz : 1);
}

/* Do two devices run on the same silicon, so that using both adds no speed? Every CPU device
 * of a host shares its cores (POCL's pthread devices, a vendor CPU runtime beside POCL); one
 * GPU seen through two platforms (a vendor driver and Mesa) has the same name in both. */
static int q_same_hardware(const q_device *a, const q_device *b)
{
    if (a->info.type == DENSECL_DEVICE_CPU && b->info.type == DENSECL_DEVICE_CPU)
        return 1;
    return a->info.platform_index != b->info.platform_index && a->info.type == b->info.type &&
           strcmp(a->info.name, b->info.name) == 0;
}

static void q_rec_line(q_rec *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void q_rec_line(q_rec *r, const char *fmt, ...)
{
    size_t len = strlen(r->text);
    va_list ap;
    if (len > 0 && len + 1 < sizeof r->text)
        r->text[len++] = '\n';
    va_start(ap, fmt);
    vsnprintf(r->text + len, sizeof r->text - len, fmt, ap);
    va_end(ap);
}

static void q_recommend(const q_device *devs, int n, int bench, int total_devices, q_rec *r)
{
    int order[Q_MAX_DEVICES], m = 0;
    memset(r, 0, sizeof *r);
    r->best = -1;
    r->basis = "none";
    for (int i = 0; i < n; i++)
        if (q_usable(&devs[i]) && (!bench || devs[i].bench.images_per_s > 0.0))
            order[m++] = i;
    /* Best first: measured images/s, or type then compute units x clock. Insertion sort keeps
     * the listing order among equals. */
    for (int i = 1; i < m; i++) {
        int v = order[i], j = i;
        while (j > 0) {
            const q_device *a = &devs[order[j - 1]], *b = &devs[v];
            /* Within 5% is noise: the earlier listed device stays first. */
            int better = bench ? b->bench.images_per_s > 1.05 * a->bench.images_per_s
                               : q_type_rank(b->info.type) < q_type_rank(a->info.type) ||
                                     (q_type_rank(b->info.type) == q_type_rank(a->info.type) &&
                                      q_static_score(b) > q_static_score(a));
            if (!better)
                break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    if (m == 0) {
        int usable = 0;
        for (int i = 0; i < n; i++)
            usable += q_usable(&devs[i]);
        if (bench && usable > 0)
            q_rec_line(r, "no device completed the DenseNet-121 benchmark; see the bench lines");
        else
            q_rec_line(r, "no device runs densecl's kernels correctly; see the check lines");
        return;
    }
    r->best = order[0];
    r->basis = bench ? "bench" : "static";
    r->multi[r->n_multi++] = order[0];
    if (!bench) {
        const q_device *b = &devs[order[0]];
        int others = 0;
        q_rec_line(r, "chosen from static information (a GPU over an accelerator over a CPU, then "
                      "compute units x clock)");
        for (int i = 1; i < m; i++) {
            const q_device *d = &devs[order[i]];
            if (q_same_hardware(b, d))
                q_rec_line(r, "%s %s %s: using both at once would not add speed", d->spec,
                           d->info.type == DENSECL_DEVICE_CPU ? "shares the CPU cores of"
                                                              : "looks like the same device as",
                           b->spec);
            else
                others++;
        }
        q_rec_line(r, "run with --bench to confirm%s",
                   others ? " and to see whether using several devices at once helps" : "");
        return;
    }
    {
        const q_device *b = &devs[order[0]];
        double best = b->bench.images_per_s, extra = 0.0;
        char num[32];
        for (int i = 1; i < m; i++) {
            const q_device *d = &devs[order[i]];
            int shared = -1;
            for (int j = 0; j < r->n_multi && shared < 0; j++)
                if (q_same_hardware(d, &devs[r->multi[j]]))
                    shared = r->multi[j];
            if (shared >= 0) {
                q_rec_line(r, "%s %s %s: using both at once would not add speed", d->spec,
                           d->info.type == DENSECL_DEVICE_CPU ? "shares the CPU cores of"
                                                              : "looks like the same device as",
                           devs[shared].spec);
                continue;
            }
            q_num(d->bench.images_per_s, num, sizeof num);
            if (d->bench.images_per_s < Q_MULTI_SHARE * best) {
                q_rec_line(r, "%s (%s images/s) is under %.0f%% of the best: not worth adding",
                           d->spec, num, Q_MULTI_SHARE * 100.0);
                continue;
            }
            r->multi[r->n_multi++] = order[i];
            extra += d->bench.images_per_s;
        }
        if (r->n_multi < 2) {
            r->n_multi = 1;
            if (m > 1)
                q_rec_line(r, "use %s alone: no other device would add speed", b->spec);
            return;
        }
        r->gain_pct = extra / best * 100.0;
        if (r->n_multi == total_devices) {
            q_copy(r->multi_spec, sizeof r->multi_spec, "all");
        } else {
            for (int i = 0; i < r->n_multi; i++) {
                size_t len = strlen(r->multi_spec);
                snprintf(r->multi_spec + len, sizeof r->multi_spec - len, "%s%s", i ? "," : "",
                         devs[r->multi[i]].spec);
            }
        }
        q_rec_line(r,
                   "using %d devices at once (--device %s) would help by about %.0f%%: "
                   "multi-device support splits batches in proportion to speed",
                   r->n_multi, r->multi_spec, r->gain_pct);
        q_rec_line(r,
                   "(an estimate from each device's own speed; the fastest alone is --device "
                   "%s)",
                   b->spec);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Text output
 * ------------------------------------------------------------------------------------------- */

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

static void q_bench_line(const q_bench *b, char *out, size_t cap)
{
    char g[32], bw[32], lat[32], ips[32];
    q_num(b->gflops, g, sizeof g);
    q_num(b->bandwidth_gbs, bw, sizeof bw);
    q_num(b->latency_us, lat, sizeof lat);
    q_num(b->images_per_s, ips, sizeof ips);
    snprintf(out, cap, "%s GFLOP/s, copy %s GB/s, launch %s us; DenseNet-121 %s images/s",
             b->gflops > 0 ? g : "-", b->bandwidth_gbs > 0 ? bw : "-",
             b->latency_us > 0 ? lat : "-", b->images_per_s > 0 ? ips : "-");
}

static void q_print_log(const char *indent, const char *log, int max_lines)
{
    char *head = q_head_lines(log, max_lines);
    q_print_wrapped(indent, head ? head : log);
    free(head);
}

static void q_print_device_verbose(const q_device *d, const q_platform *p, const q_icds *icds)
{
    const char *ind = "        ";
    char a[32], b[32], c[32];
    printf("%splatform      %d, %s\n", ind, p->index, p->name);
    printf("%sname          %s\n", ind, d->info.name);
    printf("%stype          %s\n", ind, densecl_device_type_str(d->info.type));
    printf("%svendor        %s\n", ind, d->info.vendor);
    printf("%sdriver        %s\n", ind, d->info.driver_version);
    printf("%sversion       %s\n", ind, d->info.device_version);
    printf("%sOpenCL C      %s (densecl builds with %s)\n", ind, d->info.opencl_c_version,
           d->cl_std);
    printf("%scompute       %u units at %u MHz\n", ind, d->info.compute_units, d->info.clock_mhz);
    q_bytes(d->info.global_mem_bytes, a, sizeof a);
    q_bytes(d->info.max_alloc_bytes, b, sizeof b);
    q_bytes(d->info.local_mem_bytes, c, sizeof c);
    printf("%sglobal mem    %llu bytes (%s), max allocation %llu (%s)\n", ind,
           (unsigned long long)d->info.global_mem_bytes, a,
           (unsigned long long)d->info.max_alloc_bytes, b);
    printf("%slocal mem     %llu bytes (%s), %s\n", ind,
           (unsigned long long)d->info.local_mem_bytes, c,
           d->local_type == CL_LOCAL    ? "CL_LOCAL: dedicated"
           : d->local_type == CL_GLOBAL ? "CL_GLOBAL: emulated in global memory"
                                        : "none");
    if (d->preferred_multiple)
        printf("%swork-group    max %zu, preferred multiple %zu (densecl_conv2d)\n", ind,
               d->info.max_work_group_size, d->preferred_multiple);
    else
        printf("%swork-group    max %zu\n", ind, d->info.max_work_group_size);
    printf("%sfp16 / fp64   %s / %s\n", ind, d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no");
    printf("%simages        %s\n", ind, d->images ? "yes" : "no");
    printf("%squeues        %s\n", ind,
           d->out_of_order ? "in-order and out-of-order" : "in-order only");
    printf("%scompiler      %s\n", ind,
           d->info.compiler_available ? "yes" : "no (takes program binaries only)");
    if (p->icd >= 0)
        printf("%sICD           %s (%s, matched by %s)\n", ind, icds->e[p->icd].file,
               icds->e[p->icd].lib, p->icd_how);
    else
        printf("%sICD           unknown\n", ind);
    printf("%sbuild         %s\n", ind, d->build_ok ? "ok" : "FAILED");
    for (int i = 0; d->build_ok && i < Q_CONV_CASES; i++)
        printf("%sconv check    %s\n", ind, d->conv_cases[i]);
    if (d->bench.ran) {
        const q_bench *bb = &d->bench;
        if (bb->gflops > 0)
            printf("%sbench conv    1x1 256->128 56x56: %.2f ms (median of %d) = %.1f GFLOP/s\n",
                   ind, bb->conv_ms, Q_RUNS, bb->gflops);
        if (bb->bandwidth_gbs > 0)
            printf("%sbench copy    %zu MiB: %.2f ms (median of %d) = %.1f GB/s read+write\n", ind,
                   bb->copy_bytes >> 20, bb->copy_ms, Q_RUNS, bb->bandwidth_gbs);
        if (bb->latency_us > 0)
            printf("%sbench launch  %.1f us per enqueue+finish (median of %d)\n", ind,
                   bb->latency_us, Q_LAUNCH_RUNS);
        if (bb->images_per_s > 0)
            printf("%sbench model   DenseNet-121 224x224 batch 1: %.1f ms (median of %d) = "
                   "%.3g images/s\n",
                   ind, bb->model_ms, Q_MODEL_RUNS, bb->images_per_s);
    }
}

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
                   d->info.type == DENSECL_DEVICE_ACCELERATOR ? "ACCEL" : densecl_device_type_str(d->info.type),
                   name, d->info.compute_units, d->info.clock_mhz, g, a, local,
                   d->cl_std + strlen("-cl-std="));
            q_features(d, feat, sizeof feat);
            if (d->preferred_multiple)
                snprintf(rest, sizeof rest, "%s, driver %s; wg %zu (x%zu); %s", d->info.vendor,
                         d->info.driver_version, d->info.max_work_group_size, d->preferred_multiple,
                         feat);
            else
                snprintf(rest, sizeof rest, "%s, driver %s; wg %zu; %s", d->info.vendor,
                         d->info.driver_version, d->info.max_work_group_size, feat);
            q_fit(rest, Q_WIDTH - 8, line, sizeof line);
            printf("        %s\n", line);
            if (d->build_ok) {
                snprintf(rest, sizeof rest, "check: kernels build; conv %s", d->conv_msg);
                q_print_wrapped("        ", rest);
            } else {
                printf("        check: kernels do NOT build%s:\n",
                       d->info.compiler_available ? "" : " (no compiler: binaries only)");
                q_print_log("          ", d->build_log ? d->build_log : "(no log)",
                            verbose ? Q_LOG_LINES + 1 : Q_LOG_LINES_SHORT);
            }
            if (d->bench.ran) {
                q_bench_line(&d->bench, rest, sizeof rest);
                snprintf(line, sizeof line, "bench: %s", rest);
                q_fit(line, Q_WIDTH - 8, rest, sizeof rest);
                printf("        %s\n", rest);
                if (d->bench.error[0]) {
                    snprintf(line, sizeof line, "bench: %s", d->bench.error);
                    q_print_wrapped("        ", line);
                }
            }
            if (verbose)
                q_print_device_verbose(d, pl, icds);
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
            q_num(b->bench.images_per_s, num, sizeof num);
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

typedef struct q_json {
    FILE *f;
    int depth;
    int first[16];
} q_json;

/* Comma, newline and indent before a member (key != NULL) or an array item. */
static void q_json_next(q_json *j, const char *key)
{
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = 0;
    fprintf(j->f, "\n%*s", 2 * j->depth, "");
    if (key) {
        dc_json_write_string(j->f, key);
        fputs(": ", j->f);
    }
}

static void q_json_open(q_json *j, const char *key, char bracket)
{
    if (j->depth > 0 || !j->first[0])
        q_json_next(j, key);
    else
        j->first[0] = 0;
    fputc(bracket, j->f);
    j->depth++;
    j->first[j->depth] = 1;
}

static void q_json_close(q_json *j, char bracket)
{
    int empty = j->first[j->depth];
    j->depth--;
    if (!empty)
        fprintf(j->f, "\n%*s", 2 * j->depth, "");
    fputc(bracket, j->f);
}

static void q_json_str(q_json *j, const char *key, const char *v)
{
    q_json_next(j, key);
    if (v)
        dc_json_write_string(j->f, v);
    else
        fputs("null", j->f);
}

static void q_json_u64(q_json *j, const char *key, uint64_t v)
{
    q_json_next(j, key);
    fprintf(j->f, "%llu", (unsigned long long)v);
}

/* A number, or null when not measured (<= 0 with positive_only) or not finite. */
static void q_json_num(q_json *j, const char *key, double v, int positive_only)
{
    q_json_next(j, key);
    if (!isfinite(v) || (positive_only && !(v > 0.0)))
        fputs("null", j->f);
    else
        fprintf(j->f, "%.6g", v);
}

static void q_json_bool(q_json *j, const char *key, int v)
{
    q_json_next(j, key);
    fputs(v ? "true" : "false", j->f);
}

static void q_json_device(q_json *j, const q_device *d, const q_platform *p, const q_icds *icds)
{
    q_json_open(j, NULL, '{');
    q_json_str(j, "spec", d->spec);
    q_json_u64(j, "platform", (uint64_t)d->info.platform_index);
    q_json_u64(j, "device", (uint64_t)d->info.device_index);
    q_json_str(j, "platform_name", d->info.platform_name);
    q_json_str(j, "name", d->info.name);
    q_json_str(j, "type", densecl_device_type_str(d->info.type));
    q_json_str(j, "vendor", d->info.vendor);
    q_json_str(j, "driver_version", d->info.driver_version);
    q_json_str(j, "device_version", d->info.device_version);
    q_json_str(j, "opencl_c_version", d->info.opencl_c_version);
    q_json_str(j, "cl_std", d->cl_std);
    q_json_str(j, "icd_file", p && p->icd >= 0 ? icds->e[p->icd].file : NULL);
    q_json_u64(j, "compute_units", d->info.compute_units);
    q_json_u64(j, "clock_mhz", d->info.clock_mhz);
    q_json_u64(j, "global_mem_bytes", d->info.global_mem_bytes);
    q_json_u64(j, "max_alloc_bytes", d->info.max_alloc_bytes);
    q_json_u64(j, "local_mem_bytes", d->info.local_mem_bytes);
    q_json_str(j, "local_mem_type", q_local_name(d->local_type));
    q_json_u64(j, "max_work_group_size", d->info.max_work_group_size);
    q_json_next(j, "preferred_work_group_multiple");
    if (d->preferred_multiple)
        fprintf(j->f, "%zu", d->preferred_multiple);
    else
        fputs("null", j->f);
    q_json_bool(j, "fp16", d->fp16);
    q_json_bool(j, "fp64", d->fp64);
    q_json_bool(j, "image_support", d->images);
    q_json_bool(j, "out_of_order_queue", d->out_of_order);
    q_json_bool(j, "compiler_available", d->info.compiler_available);
    q_json_bool(j, "kernels_build", d->build_ok);
    q_json_str(j, "build_log", d->build_ok ? NULL : d->build_log ? d->build_log : "");
    q_json_open(j, "conv_check", '{');
    q_json_bool(j, "ok", d->conv_ok);
    q_json_num(j, "max_abs_err", d->conv_ok ? d->conv_err : NAN, 0);
    q_json_str(j, "detail", d->conv_msg);
    q_json_close(j, '}');
    if (d->bench.ran) {
        q_json_open(j, "bench", '{');
        q_json_num(j, "gflops", d->bench.gflops, 1);
        q_json_num(j, "bandwidth_gbs", d->bench.bandwidth_gbs, 1);
        q_json_num(j, "launch_latency_us", d->bench.latency_us, 1);
        q_json_num(j, "densenet121_images_per_second", d->bench.images_per_s, 1);
        q_json_str(j, "error", d->bench.error[0] ? d->bench.error : NULL);
        q_json_close(j, '}');
    }
    q_json_bool(j, "usable", q_usable(d));
    q_json_close(j, '}');
}

static void q_print_json(const q_platform *plats, int np, const q_device *devs, int n,
                         const q_icds *icds, const q_rec *r)
{
    q_json j;
    memset(&j, 0, sizeof j);
    j.f = stdout;
    j.first[0] = 1;
    q_json_open(&j, NULL, '{');
    q_json_str(&j, "densecl_version", densecl_version());
    q_json_open(&j, "icd_files", '[');
    for (int i = 0; i < icds->n; i++) {
        q_json_open(&j, NULL, '{');
        q_json_str(&j, "file", icds->e[i].file);
        q_json_str(&j, "library", icds->e[i].lib);
        q_json_close(&j, '}');
    }
    q_json_close(&j, ']');
    q_json_open(&j, "platforms", '[');
    for (int p = 0; p < np; p++) {
        const q_platform *pl = &plats[p];
        q_json_open(&j, NULL, '{');
        q_json_u64(&j, "index", (uint64_t)pl->index);
        q_json_str(&j, "name", pl->name);
        q_json_str(&j, "vendor", pl->vendor);
        q_json_str(&j, "version", pl->version);
        q_json_str(&j, "icd_suffix", pl->suffix[0] ? pl->suffix : NULL);
        q_json_str(&j, "library", pl->library[0] ? pl->library : NULL);
        q_json_str(&j, "icd_file", pl->icd >= 0 ? icds->e[pl->icd].file : NULL);
        q_json_str(&j, "icd_matched_by", pl->icd >= 0 ? pl->icd_how : NULL);
        q_json_u64(&j, "devices", (uint64_t)pl->n_devices);
        q_json_close(&j, '}');
    }
    q_json_close(&j, ']');
    q_json_open(&j, "devices", '[');
    for (int i = 0; i < n; i++) {
        const q_platform *pl = NULL;
        for (int p = 0; p < np; p++)
            if (plats[p].index == devs[i].info.platform_index)
                pl = &plats[p];
        q_json_device(&j, &devs[i], pl, icds);
    }
    q_json_close(&j, ']');
    q_json_open(&j, "recommendation", '{');
    q_json_str(&j, "basis", r->basis);
    q_json_str(&j, "spec", r->best >= 0 ? devs[r->best].spec : NULL);
    q_json_str(&j, "name", r->best >= 0 ? devs[r->best].info.name : NULL);
    q_json_bool(&j, "multi_device", r->n_multi >= 2);
    q_json_str(&j, "multi_device_spec", r->n_multi >= 2 ? r->multi_spec : NULL);
    q_json_next(&j, "multi_device_gain_percent");
    if (r->n_multi >= 2)
        fprintf(j.f, "%.0f", r->gain_pct);
    else
        fputs("null", j.f);
    q_json_open(&j, "devices", '[');
    for (int i = 0; i < r->n_multi; i++)
        q_json_str(&j, NULL, devs[r->multi[i]].spec);
    q_json_close(&j, ']');
    q_json_str(&j, "text", r->text);
    q_json_close(&j, '}');
    q_json_close(&j, '}');
    fputc('\n', stdout);
}

/* ---------------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------------- */

typedef struct q_opts {
    const char *device;
    int bench, json, verbose;
} q_opts;

static int q_parse(int argc, char **argv, q_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(q_usage, stdout);
            return -1;
        } else if (strcmp(a, "--version") == 0) {
            printf("densecl-query %s\n", densecl_version());
            return -1;
        } else if (strcmp(a, "--bench") == 0) {
            o->bench = 1;
        } else if (strcmp(a, "--json") == 0) {
            o->json = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            o->verbose = 1;
        } else if (strcmp(a, "--device") == 0 || strncmp(a, "--device=", 9) == 0) {
            const char *v = a[8] == '=' ? a + 9 : i + 1 < argc ? argv[++i] : NULL;
            if (!v || !*v || strncmp(v, "--", 2) == 0) {
                q_error("--device needs a value (P:D, cpu, gpu, accelerator, auto or part of a "
                        "name); see 'densecl-query --help'");
                return 2;
            }
            if (o->device) {
                q_error("--device given twice; see 'densecl-query --help'");
                return 2;
            }
            o->device = v;
        } else {
            q_error("unknown %s '%s'; see 'densecl-query --help'",
                    a[0] == '-' ? "option" : "argument", a);
            return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    q_opts o;
    q_icds icds;
    q_platform plats[Q_MAX_PLATFORMS];
    q_device *devs = NULL;
    cl_platform_id ids[Q_MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err;
    int n = 0, total = 0, rc = 1, only_p = -1, only_d = -1;
    densecl_weights *model = NULL;
    q_rec rec;
    int pr = q_parse(argc, argv, &o);
    if (pr != 0)
        return pr < 0 ? 0 : pr;

    err = clGetPlatformIDs(Q_MAX_PLATFORMS, ids, &np);
    if (err != CL_SUCCESS || np == 0) {
        q_no_platform_help(err == CL_SUCCESS ? CL_PLATFORM_NOT_FOUND_KHR : err);
        return 1;
    }
    if (np > Q_MAX_PLATFORMS)
        np = Q_MAX_PLATFORMS;
    if (o.device) {
        densecl_device_info pick;
        densecl_status st = densecl_device_find(o.device, &pick);
        if (st != DENSECL_OK) {
            q_error("%s", densecl_last_error()[0] ? densecl_last_error() : densecl_status_str(st));
            return 1;
        }
        only_p = pick.platform_index;
        only_d = pick.device_index;
    }
    devs = calloc(Q_MAX_DEVICES, sizeof *devs);
    if (!devs) {
        q_error("out of memory");
        return 1;
    }
    q_icds_scan(&icds);
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
        pl->icd = q_icd_match(&icds, pl->library, pl->suffix, pl->vendor, &pl->icd_how);
        if (clGetDeviceIDs(ids[p], CL_DEVICE_TYPE_ALL, Q_MAX_DEVICES, dids, &nd) != CL_SUCCESS)
            nd = 0;
        if (nd > Q_MAX_DEVICES)
            nd = Q_MAX_DEVICES;
        pl->n_devices = (int)nd;
        for (cl_uint d = 0; d < nd; d++, total++) {
            q_device *qd;
            if (n >= Q_MAX_DEVICES || (only_p >= 0 && ((int)p != only_p || (int)d != only_d)))
                continue;
            qd = &devs[n++];
            qd->id = dids[d];
            dc_device_describe(dids[d], &qd->info);
            qd->info.platform_index = (int)p;
            qd->info.device_index = (int)d;
            snprintf(qd->spec, sizeof qd->spec, "%u:%u", p, d);
            pl->shown = 1;
        }
    }
    if (n == 0) {
        q_error("OpenCL platforms were found, but none has a device; check the driver's "
                "installation with 'clinfo -l'");
        goto done;
    }
    if (o.bench) {
        densecl_config cfg;
        densecl_status st = densecl_config_preset("densenet121", &cfg);
        if (st == DENSECL_OK)
            st = densecl_weights_random(&cfg, 1, &model);
        if (st != DENSECL_OK) {
            q_error("DenseNet-121 weights for the benchmark: %s", densecl_last_error());
            goto done;
        }
    }
    for (int i = 0; i < n; i++) {
        q_device_probe(&devs[i]);
        if (o.bench && isatty(STDERR_FILENO))
            fprintf(stderr, "densecl-query: checking and benchmarking %s %s...\n", devs[i].spec,
                    devs[i].info.name);
        q_device_check(&devs[i], o.bench, model);
    }
    q_recommend(devs, n, o.bench, total, &rec);
    if (o.json)
        q_print_json(plats, (int)np, devs, n, &icds, &rec);
    else
        q_print_text(plats, (int)np, devs, n, &icds, &rec, o.verbose);
    rc = fflush(stdout) == 0 ? 0 : 1;
done:
    for (int i = 0; i < n; i++)
        free(devs[i].build_log);
    free(devs);
    densecl_weights_free(model);
    return rc;
}
