/* SPDX-License-Identifier: MIT */
/* device.c - OpenCL platform and device discovery, device specs ("auto", "gpu", "P:D", name). */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl/cl.h"

/* More platforms or devices than this on one machine is not a machine we have seen. */
#define DC_MAX_PLATFORMS 16
#define DC_MAX_DEVICES 64

void dc_str_fit(char *out, size_t cap, const char *src, size_t len)
{
    static const char more[] = "...";
    if (cap == 0)
        return;
    /* Drivers count the NUL in len, and some pad their strings with spaces. */
    while (len > 0 && (src[len - 1] == '\0' || isspace((unsigned char)src[len - 1])))
        len--;
    if (len < cap) {
        memcpy(out, src, len);
        out[len] = '\0';
    } else if (cap > sizeof more) {
        memcpy(out, src, cap - sizeof more);
        memcpy(out + cap - sizeof more, more, sizeof more); /* with its NUL */
    } else {
        memcpy(out, src, cap - 1);
        out[cap - 1] = '\0';
    }
}

/* A device or platform string of any length into a fixed array: the size is asked first, so a
 * string longer than the array comes back cut with "..." instead of empty (POCL's 65-character
 * CL_DEVICE_VERSION did not fit the 64 bytes densecl_device_info had until 0.7.0). */
static void dc_info_str_of(cl_device_id dev, cl_platform_id plat, cl_uint what, char *out,
                           size_t cap)
{
    size_t len = 0;
    char *buf = NULL;
    cl_int err = dev ? clGetDeviceInfo(dev, what, 0, NULL, &len)
                     : clGetPlatformInfo(plat, what, 0, NULL, &len);
    out[0] = '\0';
    if (err != CL_SUCCESS || len == 0 || !(buf = malloc(len)))
        return;
    err = dev ? clGetDeviceInfo(dev, what, len, buf, NULL)
              : clGetPlatformInfo(plat, what, len, buf, NULL);
    if (err == CL_SUCCESS) {
        const char *nul = memchr(buf, '\0', len);
        dc_str_fit(out, cap, buf, nul ? (size_t)(nul - buf) : len);
    }
    free(buf);
}

void dc_info_str(cl_device_id dev, cl_device_info what, char *out, size_t cap)
{
    dc_info_str_of(dev, NULL, what, out, cap);
}

static uint64_t dc_limit_alloc_, dc_limit_global_;

void dc_device_limits_override(uint64_t max_alloc_bytes, uint64_t global_mem_bytes)
{
    dc_limit_alloc_ = max_alloc_bytes;
    dc_limit_global_ = global_mem_bytes;
}

static void dc_apply_limits(densecl_device_info *info)
{
    if (dc_limit_alloc_ && info->max_alloc_bytes > dc_limit_alloc_)
        info->max_alloc_bytes = dc_limit_alloc_;
    if (dc_limit_global_ && info->global_mem_bytes > dc_limit_global_)
        info->global_mem_bytes = dc_limit_global_;
}

void dc_device_describe(cl_device_id dev, densecl_device_info *info)
{
    cl_device_type type = 0;
    cl_uint u = 0;
    cl_ulong ul = 0;
    cl_bool b = CL_FALSE;
    cl_platform_id plat = NULL;
    size_t sz = 0;

    memset(info, 0, sizeof *info);
    dc_info_str(dev, CL_DEVICE_NAME, info->name, sizeof info->name);
    dc_info_str(dev, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    dc_info_str(dev, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    dc_info_str(dev, CL_DEVICE_VERSION, info->device_version, sizeof info->device_version);
    dc_info_str(dev, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version,
                sizeof info->opencl_c_version);
    if (clGetDeviceInfo(dev, CL_DEVICE_PLATFORM, sizeof plat, &plat, NULL) == CL_SUCCESS)
        dc_info_str_of(NULL, plat, CL_PLATFORM_NAME, info->platform_name,
                       sizeof info->platform_name);
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? DENSECL_DEVICE_GPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? DENSECL_DEVICE_ACCELERATOR
                 : (type & CL_DEVICE_TYPE_CPU)         ? DENSECL_DEVICE_CPU
                                                       : DENSECL_DEVICE_OTHER;
    if (clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof u, &u, NULL) == CL_SUCCESS)
        info->compute_units = u;
    if (clGetDeviceInfo(dev, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof u, &u, NULL) == CL_SUCCESS)
        info->clock_mhz = u;
    if (clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS)
        info->global_mem_bytes = ul;
    if (clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS)
        info->max_alloc_bytes = ul;
    if (clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof ul, &ul, NULL) == CL_SUCCESS)
        info->local_mem_bytes = ul;
    if (clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof sz, &sz, NULL) == CL_SUCCESS)
        info->max_work_group_size = sz;
    if (clGetDeviceInfo(dev, CL_DEVICE_COMPILER_AVAILABLE, sizeof b, &b, NULL) == CL_SUCCESS)
        info->compiler_available = b == CL_TRUE;
    dc_apply_limits(info);
}

#define DC_POCL_PLATFORM "Portable Computing Language"

int dc_pocl_cache_problem(char *buf, size_t cap)
{
    const char *env = getenv("POCL_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char dir[4096], at[4096];
    int set = env && *env;
    if (set)
        snprintf(dir, sizeof dir, "%s", env);
    else if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/pocl/kcache", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/pocl/kcache", home);
    else
        snprintf(dir, sizeof dir, "/tmp/pocl/kcache");
    /* POCL creates the missing directories: the first one that exists must be writable. */
    snprintf(at, sizeof at, "%s", dir);
    while (access(at, F_OK) != 0) {
        char *slash = strrchr(at, '/');
        if (!slash || slash == at) {
            snprintf(at, sizeof at, "%s", slash ? "/" : ".");
            break;
        }
        *slash = '\0';
    }
    if (access(at, W_OK) == 0)
        return 0;
    const char *why = strerror(errno);
    if (set && strcmp(at, dir) == 0)
        snprintf(buf, cap,
                 "POCL's kernel cache POCL_CACHE_DIR=%s is not writable (%s): POCL writes every "
                 "kernel it compiles there; point POCL_CACHE_DIR at a writable directory",
                 dir, why);
    else
        snprintf(buf, cap,
                 "POCL cannot create its kernel cache %s%s: %s is not writable (%s); %s "
                 "POCL_CACHE_DIR %s a writable directory (in a read-only container, e.g. "
                 "POCL_CACHE_DIR=/tmp/pocl-cache)",
                 set ? "POCL_CACHE_DIR=" : "", dir, at, why, set ? "point" : "set",
                 set ? "at" : "to");
    return 1;
}

int dc_device_is_pocl(cl_device_id dev)
{
    cl_platform_id plat = NULL;
    char name[128] = "";
    return clGetDeviceInfo(dev, CL_DEVICE_PLATFORM, sizeof plat, &plat, NULL) == CL_SUCCESS &&
           clGetPlatformInfo(plat, CL_PLATFORM_NAME, sizeof name - 1, name, NULL) == CL_SUCCESS &&
           strstr(name, DC_POCL_PLATFORM) != NULL;
}

/* Every device of every platform, in listing order. */
static densecl_status dc_device_enum(cl_device_id *ids, densecl_device_info *infos, int max,
                                     int *count)
{
    cl_platform_id plats[DC_MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(DC_MAX_PLATFORMS, plats, &np);
    int n = 0;
    if (err != CL_SUCCESS || np == 0)
        return dc_error(DENSECL_ERR_NO_DEVICE,
                        "no OpenCL platform found (clGetPlatformIDs: %s); install a driver, e.g. "
                        "'apt install pocl-opencl-icd', and check /etc/OpenCL/vendors or "
                        "OCL_ICD_VENDORS",
                        dc_cl_error_name(err == CL_SUCCESS ? CL_DEVICE_NOT_FOUND : err));
    for (cl_uint p = 0; p < np && p < DC_MAX_PLATFORMS; p++) {
        cl_device_id devs[DC_MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, DC_MAX_DEVICES, devs, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < nd && d < DC_MAX_DEVICES; d++, n++) {
            if (n >= max)
                continue;
            if (ids)
                ids[n] = devs[d];
            if (infos) {
                dc_device_describe(devs[d], &infos[n]);
                infos[n].platform_index = (int)p;
                infos[n].device_index = (int)d;
            }
        }
    }
    *count = n;
    if (n == 0) {
        /* POCL without a writable kernel cache (a read-only home) lists no device at all. */
        char why[8400];
        for (cl_uint p = 0; p < np && p < DC_MAX_PLATFORMS; p++) {
            char name[128] = "";
            if (clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof name - 1, name, NULL) ==
                    CL_SUCCESS &&
                strstr(name, DC_POCL_PLATFORM) && dc_pocl_cache_problem(why, sizeof why))
                return dc_error(DENSECL_ERR_NO_DEVICE, "POCL lists no device: %s", why);
        }
        return dc_error(DENSECL_ERR_NO_DEVICE, "OpenCL platforms found, but no devices");
    }
    return DENSECL_OK;
}

densecl_status densecl_devices(densecl_device_info *out, int max, int *count)
{
    if (!count || max < 0 || (max > 0 && !out))
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_devices: bad arguments");
    return dc_device_enum(NULL, out, max, count);
}

int dc_contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

const char *densecl_device_type_str(densecl_device_type t)
{
    switch (t) {
    case DENSECL_DEVICE_GPU:
        return "GPU";
    case DENSECL_DEVICE_CPU:
        return "CPU";
    case DENSECL_DEVICE_ACCELERATOR:
        return "ACCELERATOR";
    default:
        return "OTHER";
    }
}

/* Index of the device a spec names, or -1. */
static int dc_spec_match(const char *spec, const densecl_device_info *infos, int n)
{
    static const densecl_device_type order[] = {DENSECL_DEVICE_GPU, DENSECL_DEVICE_ACCELERATOR,
                                                DENSECL_DEVICE_CPU, DENSECL_DEVICE_OTHER};
    int p, d, used = 0;
    if (!spec || !*spec || strcmp(spec, "auto") == 0) {
        for (size_t t = 0; t < DC_ARRAY_LEN(order); t++)
            for (int i = 0; i < n; i++)
                if (infos[i].type == order[t])
                    return i;
        return -1;
    }
    static const struct {
        const char *spec;
        densecl_device_type type;
    } types[] = {{"gpu", DENSECL_DEVICE_GPU},
                 {"cpu", DENSECL_DEVICE_CPU},
                 {"accelerator", DENSECL_DEVICE_ACCELERATOR}};
    for (size_t t = 0; t < DC_ARRAY_LEN(types); t++) {
        if (strcmp(spec, types[t].spec) != 0)
            continue;
        for (int i = 0; i < n; i++)
            if (infos[i].type == types[t].type)
                return i;
        return -1;
    }
    /* %d skips leading blanks; trailing ones are allowed alike. */
    if (sscanf(spec, "%d:%d%n", &p, &d, &used) == 2 &&
        spec[used + strspn(spec + used, " \t")] == '\0') {
        for (int i = 0; i < n; i++)
            if (infos[i].platform_index == p && infos[i].device_index == d)
                return i;
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (dc_contains_nocase(infos[i].name, spec))
            return i;
    return -1;
}

/* A fallback list "A|B|...": the device of the first alternative that matches one, or -1;
 * -2 for an empty alternative ("gpu|"). A spec without '|' is matched alone. */
static int dc_spec_match_first(const char *spec, const densecl_device_info *infos, int n)
{
    if (!spec || !strchr(spec, '|'))
        return dc_spec_match(spec, infos, n);
    for (const char *p = spec;;) {
        char alt[256];
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == 0 || len >= sizeof alt)
            return -2;
        memcpy(alt, p, len);
        alt[len] = '\0';
        int i = dc_spec_match(alt, infos, n);
        if (i >= 0)
            return i;
        if (!bar)
            return -1;
        p = bar + 1;
    }
}

densecl_status dc_device_pick(const char *spec, cl_device_id *dev, densecl_device_info *info)
{
    cl_device_id ids[DC_MAX_DEVICES];
    densecl_device_info infos[DC_MAX_DEVICES];
    char list[1024] = "";
    int n = 0, i;
    densecl_status st = dc_device_enum(ids, infos, DC_MAX_DEVICES, &n);
    if (st != DENSECL_OK)
        return st;
    if (n > DC_MAX_DEVICES)
        n = DC_MAX_DEVICES;
    i = dc_spec_match_first(spec, infos, n);
    if (i == -2)
        return dc_error(DENSECL_ERR_NO_DEVICE, "bad device spec '%s': an empty alternative", spec);
    if (i >= 0) {
        if (dev)
            *dev = ids[i];
        if (info)
            *info = infos[i];
        return DENSECL_OK;
    }
    for (int j = 0; j < n; j++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%d:%d %s (%s)", j ? ", " : "",
                 infos[j].platform_index, infos[j].device_index, infos[j].name,
                 densecl_device_type_str(infos[j].type));
    }
    return dc_error(DENSECL_ERR_NO_DEVICE,
                    "no OpenCL device matches '%s' (specs: auto, cpu, gpu, accelerator, P:D, or "
                    "part of a name; A|B takes the first that matches); devices: %s",
                    spec, list);
}

densecl_status densecl_device_find(const char *spec, densecl_device_info *out)
{
    if (!out)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_device_find: out is NULL");
    return dc_device_pick(spec, NULL, out);
}

densecl_status dc_device_pick_many(const char *spec, cl_device_id *devs, densecl_device_info *infos,
                                   int max, int *count)
{
    cl_device_id all[DC_MAX_DEVICES];
    densecl_device_info all_info[DC_MAX_DEVICES];
    int n = 0, found = 0;
    densecl_status st;
    *count = 0;
    if (spec && strcmp(spec, "all") == 0) {
        if ((st = dc_device_enum(all, all_info, DC_MAX_DEVICES, &n)) != DENSECL_OK)
            return st;
        for (int i = 0; i < n && i < DC_MAX_DEVICES && found < max; i++, found++) {
            devs[found] = all[i];
            infos[found] = all_info[i];
        }
        *count = found;
        return DENSECL_OK;
    }
    /* A list: each item resolved alone; the same device named twice is used once. */
    const char *p = spec ? spec : "auto";
    do {
        char item[256];
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len >= sizeof item)
            return dc_error(DENSECL_ERR_NO_DEVICE, "bad device list '%s'", spec);
        memcpy(item, p, len);
        item[len] = '\0';
        cl_device_id d;
        densecl_device_info info;
        if ((st = dc_device_pick(item, &d, &info)) != DENSECL_OK)
            return st;
        int dup = 0;
        for (int i = 0; i < found; i++)
            dup |= devs[i] == d;
        if (!dup && found < max) {
            devs[found] = d;
            infos[found++] = info;
        }
        p = comma ? comma + 1 : NULL;
    } while (p);
    *count = found;
    return DENSECL_OK;
}

void dc_cl_std_from(const char *opencl_c_version, char *out, size_t cap)
{
    int major = 1, minor = 2;
    if (sscanf(opencl_c_version, "OpenCL C %d.%d", &major, &minor) != 2 || major < 1) {
        major = 1;
        minor = 2;
    }
    /* kernels.cl is OpenCL C 1.2; a 1.0/1.1 device gets its own version and may fail to build,
     * which reports clearly. */
    snprintf(out, cap, "-cl-std=CL%d.%d", major, minor);
}
