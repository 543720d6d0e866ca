/* SPDX-License-Identifier: MIT */
/*
 * query_probe.c - densecl-query's probing: the platforms, their devices, and each device's
 * OpenCL facts beyond densecl_device_info (the report is query_fields.c and query_report.c).
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

void q_device_probe(q_device *d)
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

/* The platforms (all of them, np) and their devices (those --device picks, *n of *total). */
int q_list(cl_platform_id *ids, cl_uint np, int only_p, int only_d, const q_icds *icds,
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
