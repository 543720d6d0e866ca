/* SPDX-License-Identifier: MIT */
/* test_device_info.c - densecl_device_info's strings (issue 24, item 10): dc_str_fit keeps what
 * fits and cuts the rest visibly with "..."; densecl_devices gives every device's strings as the
 * driver says them (POCL's 65-character CL_DEVICE_VERSION came back empty from a 64-byte array),
 * each compared with a direct clGetDeviceInfo. A machine without an OpenCL device fails. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cl/cl.h"
#include "densecl.h"

static void fit_case(size_t cap, const char *src, size_t len, const char *want)
{
    char out[64];
    memset(out, 'x', sizeof out);
    dc_str_fit(out, cap, src, len);
    CHECKF(strcmp(out, want) == 0, "dc_str_fit(cap %zu, \"%.*s\") gave \"%s\", want \"%s\"", cap,
           (int)len, src, out, want);
    CHECKF(out[cap] == 'x', "dc_str_fit(cap %zu) wrote past its array", cap);
}

/* A CL string of dev, trimmed as dc_str_fit trims (trailing NULs and spaces). */
static char *cl_str(cl_device_id dev, cl_platform_id plat, cl_uint what)
{
    size_t len = 0;
    char *s;
    if (dev ? clGetDeviceInfo(dev, what, 0, NULL, &len)
            : clGetPlatformInfo(plat, what, 0, NULL, &len))
        return NULL;
    s = calloc(1, len + 1);
    if (!s)
        return NULL;
    if (dev ? clGetDeviceInfo(dev, what, len, s, NULL)
            : clGetPlatformInfo(plat, what, len, s, NULL)) {
        free(s);
        return NULL;
    }
    for (size_t n = strlen(s); n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'); n--)
        s[n - 1] = '\0';
    return s;
}

/* got is want, or want visibly cut to fit cap. */
static void same_or_cut(const char *field, const char *got, const char *want, size_t cap)
{
    size_t n = strlen(want);
    if (n < cap) {
        CHECKF(strcmp(got, want) == 0, "%s is \"%s\", the driver says \"%s\"", field, got, want);
    } else {
        CHECKF(strlen(got) == cap - 1 && strncmp(got, want, cap - 4) == 0 &&
                   strcmp(got + cap - 4, "...") == 0,
               "%s is \"%s\", want \"%s\" cut to %zu bytes with \"...\"", field, got, want, cap);
    }
}

int main(void)
{
    /* dc_str_fit: fits; exactly fills; one too long; far too long; trailing spaces and NULs
     * (drivers count the NUL); arrays too small for "...". */
    fit_case(8, "abc", 3, "abc");
    fit_case(8, "abcdefg", 7, "abcdefg");
    fit_case(8, "abcdefgh", 8, "abcd...");
    fit_case(8, "OpenCL 3.0 PoCL HSTR: pthread-x86_64", 36, "Open...");
    fit_case(8, "abc  \0", 6, "abc");
    fit_case(8, "", 0, "");
    fit_case(4, "abcdef", 6, "abc");
    fit_case(5, "abcdef", 6, "a...");
    fit_case(1, "abc", 3, "");

    densecl_device_info infos[16];
    int count = 0;
    densecl_status st = densecl_devices(infos, 16, &count);
    CHECKF(st == DENSECL_OK && count > 0, "densecl_devices: %s, %d devices (%s)",
           densecl_status_str(st), count, densecl_last_error());
    if (st != DENSECL_OK || count <= 0)
        return check_summary();
    CHECK(sizeof infos[0].device_version >= 256);

    cl_platform_id plats[16];
    cl_uint nplat = 0;
    CHECK(clGetPlatformIDs(16, plats, &nplat) == CL_SUCCESS);
    int checked = 0;
    for (int i = 0; i < count && i < 16; i++) {
        const densecl_device_info *d = &infos[i];
        cl_device_id devs[64];
        cl_uint ndev = 0;
        if (d->platform_index < 0 || (cl_uint)d->platform_index >= nplat ||
            clGetDeviceIDs(plats[d->platform_index], CL_DEVICE_TYPE_ALL, 64, devs, &ndev) ||
            d->device_index < 0 || (cl_uint)d->device_index >= ndev) {
            CHECKF(0, "device %d:%d is not where densecl_devices says", d->platform_index,
                   d->device_index);
            continue;
        }
        cl_device_id dev = devs[d->device_index];
        static const struct {
            const char *field;
            cl_uint what;
            size_t offset, cap;
        } fields[] = {
            {"name", CL_DEVICE_NAME, offsetof(densecl_device_info, name),
             sizeof((densecl_device_info *)0)->name},
            {"vendor", CL_DEVICE_VENDOR, offsetof(densecl_device_info, vendor),
             sizeof((densecl_device_info *)0)->vendor},
            {"driver_version", CL_DRIVER_VERSION, offsetof(densecl_device_info, driver_version),
             sizeof((densecl_device_info *)0)->driver_version},
            {"device_version", CL_DEVICE_VERSION, offsetof(densecl_device_info, device_version),
             sizeof((densecl_device_info *)0)->device_version},
            {"opencl_c_version", CL_DEVICE_OPENCL_C_VERSION,
             offsetof(densecl_device_info, opencl_c_version),
             sizeof((densecl_device_info *)0)->opencl_c_version},
        };
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            char *want = cl_str(dev, NULL, fields[f].what);
            CHECKF(want != NULL, "clGetDeviceInfo(%s) failed", fields[f].field);
            if (want)
                same_or_cut(fields[f].field, (const char *)d + fields[f].offset, want,
                            fields[f].cap);
            free(want);
        }
        char *plat_name = cl_str(NULL, plats[d->platform_index], CL_PLATFORM_NAME);
        if (plat_name)
            same_or_cut("platform_name", d->platform_name, plat_name, sizeof d->platform_name);
        free(plat_name);
        /* The field the issue was about: the whole string, never empty. */
        CHECKF(strncmp(d->device_version, "OpenCL ", 7) == 0,
               "device %d:%d device_version is \"%s\"", d->platform_index, d->device_index,
               d->device_version);
        checked++;
    }
    CHECK(checked == count);
    printf("%d devices; the first's device_version: \"%s\"\n", count, infos[0].device_version);
    return check_summary();
}
