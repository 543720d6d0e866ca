/* SPDX-License-Identifier: MIT */
/*
 * query_icd.c - densecl-query's view of the OpenCL ICD loader: which .icd files it reads, which
 * driver library each platform lives in, and what to tell a person who has no platform at all.
 */
#define _GNU_SOURCE /* dladdr */

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "query.h"
#include "tools_internal.h"

void q_copy(char *out, size_t cap, const char *s)
{
    snprintf(out, cap, "%s", s ? s : "");
}

const char *q_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* ---------------------------------------------------------------------------------------------
 * ICD files: which driver libraries the loader is told about, and which one a platform is
 * ------------------------------------------------------------------------------------------- */

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

/* Whether e's library loads, as the ICD loader would load it: e->error is "not loaded: " and
 * dlerror()'s reason (without the library's name, which it repeats), or says that it is no
 * OpenCL driver; "" when it loads. A driver the loader already holds is only counted once more,
 * then released. */
static void q_icd_try(q_icd *e)
{
    void *h;
    const char *why;
    size_t n = strlen(e->lib);
    e->error[0] = '\0';
    if (n == 0) {
        q_copy(e->error, sizeof e->error, "not loaded: the .icd file names no library");
        return;
    }
    h = dlopen(e->lib, RTLD_LAZY | RTLD_LOCAL);
    if (h) {
        /* The loader finds a driver's entry points through this one (cl_khr_icd). */
        if (!dlsym(h, "clGetExtensionFunctionAddress"))
            q_copy(e->error, sizeof e->error,
                   "loads, but is no OpenCL driver (no clGetExtensionFunctionAddress)");
        dlclose(h);
        return;
    }
    why = dlerror();
    if (!why)
        why = "cannot be loaded";
    else if (strncmp(why, e->lib, n) == 0 && strncmp(why + n, ": ", 2) == 0)
        why += n + 2;
    snprintf(e->error, sizeof e->error, "not loaded: %s", why);
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
void q_icds_scan(q_icds *l)
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
    for (int i = 0; i < l->n; i++)
        q_icd_try(&l->e[i]);
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
void q_platform_library(cl_platform_id p, const char *extensions, char *out, size_t cap)
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
int q_icd_match(const q_icds *l, const char *lib, const char *suffix, const char *vendor,
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
            if (dc_contains_nocase(q_basename(l->e[i].lib), hint) ||
                dc_contains_nocase(q_basename(l->e[i].file), hint)) {
                *how = "name";
                return i;
            }
        }
    }
    return -1;
}

/* No platform at all: what ICDs are, what the loader was given, how to get a driver. */
void q_no_platform_help(cl_int err)
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
    for (int i = 0; i < l.n; i++)
        fprintf(stderr, "  %s -> %s: %s\n", l.e[i].file, l.e[i].lib[0] ? l.e[i].lib : "(empty)",
                l.e[i].error[0] ? l.e[i].error : "loads, but offers no platform");
    fputs("\n"
          "To get a driver (Debian, Ubuntu):\n"
          "  any CPU      apt install pocl-opencl-icd\n"
          "  Intel GPU    apt install intel-opencl-icd\n"
          "  AMD GPU      apt install mesa-opencl-icd (or ROCm's rocm-opencl-runtime)\n"
          "  NVIDIA GPU   the nvidia-opencl-icd package of the installed driver\n"
          "To see what the loader finds: apt install clinfo, then run clinfo -l\n",
          stderr);
}
