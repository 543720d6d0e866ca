/* SPDX-License-Identifier: MIT */
/* program.c - the kernel sources (kernels.cl's list of kernels/ files, embedded or from disk),
 * one program per device from common files and the resolved families' files, build options,
 * the build log, and the kernels made from a program. Binaries and the cache: binaries.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "runtime/runtime.h"

/* cmake/embed.cmake: kernels.cl and every file of kernels/, by path relative to the source. */
extern const char *const dc_kernel_file_names[];
extern const char *const dc_kernel_file_texts[];
extern const size_t dc_kernel_file_lens[];
extern const size_t dc_kernel_file_count;

/* An embedded file by relative path ("kernels/direct.cl"), or NULL. */
static const char *dc_embedded(const char *rel)
{
    for (size_t i = 0; i < dc_kernel_file_count; i++)
        if (strcmp(dc_kernel_file_names[i], rel) == 0)
            return dc_kernel_file_texts[i];
    return NULL;
}

/* The text of rel: embedded, or with DENSECL_KERNELS=DIR/kernels.cl, DIR/rel (*owned set). */
static const char *dc_kernel_file(const char *rel, char **owned)
{
    const char *env = getenv("DENSECL_KERNELS");
    *owned = NULL;
    if (env && *env) {
        char path[4200];
        const char *slash = strrchr(env, '/');
        if (strcmp(rel, "kernels.cl") == 0)
            snprintf(path, sizeof path, "%s", env);
        else if (slash)
            snprintf(path, sizeof path, "%.*s/%s", (int)(slash - env), env, rel);
        else
            snprintf(path, sizeof path, "%s", rel);
        *owned = dc_read_text("DENSECL_KERNELS: ", path);
        return *owned;
    }
    const char *text = dc_embedded(rel);
    if (!text)
        dc_error(DENSECL_ERR_IO, "%s is not among the embedded kernel files", rel);
    return text;
}

/* 1 if kernels/<name> is a source of a family in fams; *is_family whether of any family. */
static int dc_file_wanted(const char *name, unsigned fams, int *is_family)
{
    *is_family = 0;
    for (int i = 0; i < dc_family_count; i++)
        for (const char *const *s = dc_families[i]->sources; s && *s; s++)
            if (strcmp(*s, name) == 0) {
                *is_family = 1;
                if (fams & (1u << i))
                    return 1;
            }
    return !*is_family;
}

void dc_sources_free(dc_sources *s)
{
    for (size_t i = 0; i < DC_ARRAY_LEN(s->owned); i++) {
        free(s->owned[i]);
        s->owned[i] = NULL;
    }
    s->n = 0;
}

densecl_status dc_sources_get(unsigned fams, dc_sources *s)
{
    char *list_owned = NULL;
    const char *list;
    int files = 0;
    memset(s, 0, sizeof *s);
    if (!(list = dc_kernel_file("kernels.cl", &list_owned)))
        return DENSECL_ERR_IO;
    s->owned[DC_MAX_SOURCES] = list_owned;
    /* kernels.cl's lines `#include "kernels/<file>"`, in order. */
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, "\n");
        const char *q = p + strspn(p, " \t");
        static const char inc[] = "#include \"kernels/";
        if (strncmp(q, inc, sizeof inc - 1) == 0) {
            const char *name = q + sizeof inc - 1;
            size_t nl = strcspn(name, "\"\n");
            char rel[128];
            int is_family;
            if (name[nl] != '"' || nl == 0 || nl + 9 >= sizeof rel) {
                dc_sources_free(s);
                return dc_error(DENSECL_ERR_IO, "kernels.cl: bad #include line '%.*s'", (int)n, p);
            }
            snprintf(rel, sizeof rel, "kernels/%.*s", (int)nl, name);
            if (dc_file_wanted(rel + 8, fams, &is_family)) {
                char *owned = NULL;
                const char *text;
                if (files == DC_MAX_SOURCES) {
                    dc_sources_free(s);
                    return dc_error(DENSECL_ERR_IO, "kernels.cl: more than %d files",
                                    DC_MAX_SOURCES);
                }
                if (!(text = dc_kernel_file(rel, &owned))) {
                    dc_sources_free(s);
                    return DENSECL_ERR_IO;
                }
                s->owned[files] = owned;
                /* The marker makes build-log lines "kernels/<file>:N" (the newline first ends a
                 * previous file that lacks one). */
                snprintf(s->marker[files], sizeof s->marker[files], "\n#line 1 \"%s\"\n", rel);
                s->str[s->n++] = s->marker[files];
                s->str[s->n++] = text;
                files++;
            }
        }
        p += n + (p[n] == '\n');
    }
    /* Every file a wanted family names must have been listed. */
    for (int i = 0; i < dc_family_count; i++) {
        if (!(fams & (1u << i)))
            continue;
        for (const char *const *f = dc_families[i]->sources; f && *f; f++) {
            int found = 0;
            char want[160];
            snprintf(want, sizeof want, "\n#line 1 \"kernels/%s\"\n", *f);
            for (int j = 0; j < files; j++)
                found |= strcmp(s->marker[j], want) == 0;
            if (!found) {
                dc_sources_free(s);
                return dc_error(DENSECL_ERR_IO,
                                "kernels.cl does not list kernels/%s (the %s family's)", *f,
                                dc_families[i]->name);
            }
        }
    }
    return DENSECL_OK;
}

static void dc_cl_std(cl_device_id dev, char *out, size_t cap)
{
    char ver[128] = "";
    clGetDeviceInfo(dev, CL_DEVICE_OPENCL_C_VERSION, sizeof ver - 1, ver, NULL);
    dc_cl_std_from(ver, out, cap);
}

/* The build options: -cl-std for dev, then extra (the resolved families' -D options). Program
 * builds and cache keys both use it. */
void dc_program_options(cl_device_id dev, const char *extra, char *options, size_t cap)
{
    size_t len;
    const char *dev_extra = getenv("DENSECL_BUILD_OPTIONS");
    dc_cl_std(dev, options, cap);
    len = strlen(options);
    if (extra && *extra && len < cap)
        snprintf(options + len, cap - len, " %s", extra);
    /* A developer's own options (-cl-nv-verbose for NVIDIA's register and spill report, say):
     * part of the cache key like the rest. */
    len = strlen(options);
    if (dev_extra && *dev_extra && len < cap)
        snprintf(options + len, cap - len, " %s", dev_extra);
}

/* The build log of prog on dev, malloc'd; NULL when there is none. */
static char *dc_build_log(cl_program prog, cl_device_id dev)
{
    size_t len = 0;
    char *log;
    if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &len) != CL_SUCCESS ||
        !len || !(log = malloc(len + 1)))
        return NULL;
    if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, len, log, NULL) != CL_SUCCESS) {
        free(log);
        return NULL;
    }
    log[len] = '\0';
    return log;
}

/* "; POCL's kernel cache (POCL_CACHE_DIR=D) is on a full disk ..." when it is: POCL writes its
 * build products there, and a full disk only says "failed to build the program". "" else. */
static void dc_full_cache_hint(char *buf, size_t cap)
{
    const char *env = getenv("POCL_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char dir[4096];
    struct statvfs vfs;
    buf[0] = '\0';
    if (env && *env)
        snprintf(dir, sizeof dir, "%s", env);
    else if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/pocl", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/pocl", home);
    else
        return;
    if (statvfs(dir, &vfs) != 0 || (uint64_t)vfs.f_bavail * vfs.f_frsize >= ((uint64_t)1 << 20))
        return;
    snprintf(buf, cap, "; POCL's kernel cache %s%s is on a full disk (%llu KiB free)",
             env && *env ? "POCL_CACHE_DIR=" : "", dir,
             (unsigned long long)((uint64_t)vfs.f_bavail * vfs.f_frsize / 1024));
}

densecl_status dc_program_build(cl_context ctx, cl_device_id dev, unsigned fams,
                                const char *extra_options, cl_program *out)
{
    densecl_status st = DENSECL_OK;
    cl_program prog = NULL;
    cl_int err;
    char options[1280];
    dc_sources src;
    if ((st = dc_sources_get(fams, &src)) != DENSECL_OK)
        return st;
    dc_program_options(dev, extra_options, options, sizeof options);
    prog = clCreateProgramWithSource(ctx, (cl_uint)src.n, src.str, NULL, &err);
    DC_CL_TRY(st, err);
    err = clBuildProgram(prog, 1, &dev, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char name[128] = "";
        char *log = dc_build_log(prog, dev);
        clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof name - 1, name, NULL);
        char disk[4400], cache[8400];
        dc_full_cache_hint(disk, sizeof disk);
        if (dc_device_is_pocl(dev) && dc_pocl_cache_problem(cache, sizeof cache))
            /* the cause first: the build failure is only what it led to */
            st = dc_error(err == CL_BUILD_PROGRAM_FAILURE ? DENSECL_ERR_BUILD : dc_cl_status(err),
                          "%s (so the kernels did not build for '%s': clBuildProgram: %s):\n%s",
                          cache, name, dc_cl_error_name(err), log ? log : "(no build log)");
        else
            st = dc_error(err == CL_BUILD_PROGRAM_FAILURE ? DENSECL_ERR_BUILD : dc_cl_status(err),
                          "the kernels did not build for '%s' (clBuildProgram: %s, options "
                          "'%s')%s:\n%s",
                          name, dc_cl_error_name(err), options, disk, log ? log : "(no build log)");
        free(log);
        goto fail;
    }
    {
        /* DENSECL_BUILD_LOG=FILE keeps the log of a build that succeeded too: the compiler's
         * own report (registers, spills, with -cl-nv-verbose on NVIDIA). */
        const char *path = getenv("DENSECL_BUILD_LOG");
        char *log = path && *path ? dc_build_log(prog, dev) : NULL;
        dc_atomic_file a;
        if (path && *path && dc_atomic_open(&a, path) == DENSECL_OK) {
            int ok = fprintf(a.f, "options: %s\n%s\n", options, log ? log : "(no build log)") > 0;
            if (dc_atomic_close(&a, ok) != DENSECL_OK)
                dc_log(DENSECL_LOG_WARN, "DENSECL_BUILD_LOG: %s", densecl_last_error());
        } else if (path && *path) {
            dc_log(DENSECL_LOG_WARN, "DENSECL_BUILD_LOG: %s", densecl_last_error());
        }
        dc_clear_error();
        free(log);
    }
    *out = prog;
    prog = NULL;
fail:
    if (prog)
        clReleaseProgram(prog);
    dc_sources_free(&src);
    return st;
}

densecl_status dc_program_kernels_create(cl_program prog, const dc_caps *caps,
                                         const dc_resolved *res, dc_program_kernels *k)
{
    densecl_status st;
    memset(k, 0, sizeof *k);
    if ((st = dc_kernels_create(prog, &k->common)) != DENSECL_OK)
        return st;
    for (int i = 0; res && i < dc_family_count; i++)
        if ((res->used & (1u << i)) &&
            (st = dc_families[i]->create(prog, caps, &res->params[i], &k->fam[i])) != DENSECL_OK) {
            dc_program_kernels_release(k);
            return st;
        }
    return DENSECL_OK;
}

void dc_program_kernels_release(dc_program_kernels *k)
{
    dc_kernels_release(&k->common);
    for (int i = 0; i < dc_family_count; i++)
        if (k->fam[i])
            dc_families[i]->release(k->fam[i]);
    memset(k, 0, sizeof *k);
}
