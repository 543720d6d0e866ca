/* SPDX-License-Identifier: MIT */
/* caps.c - a device's capabilities as the kernel families decide on them, read once per
 * replica: the real device's, or those of the device profile DENSECL_DEVICE_PROFILE names
 * (device_profile.c), whose kernels then run on the real device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl/cl.h"

/* Vendor queries (cl_nv_device_attribute_query, cl_amd_device_attribute_query,
 * cl_intel_device_attribute_query) and OpenCL 3.0's device-wide preferred multiple. */
#define DC_CL_DEVICE_WARP_SIZE_NV 0x4003
#define DC_CL_DEVICE_WAVEFRONT_WIDTH_AMD 0x4043
#define DC_CL_DEVICE_NUM_EUS_PER_SUB_SLICE_INTEL 0x4252
#define DC_CL_DEVICE_PREFERRED_WORK_GROUP_SIZE_MULTIPLE 0x1067

/* The warp, wavefront or SIMD width and the units a fill target counts, of a real device. */
static void dc_caps_units(dc_caps *c)
{
    cl_uint u = 0;
    char version[64];
    const int gpu = (c->type & CL_DEVICE_TYPE_GPU) != 0;
    c->cores = c->compute_units;
    snprintf(c->core, sizeof c->core, "%s", gpu ? "compute unit" : "core");
    if (strstr(c->extensions, "cl_nv_device_attribute_query")) {
        snprintf(c->core, sizeof c->core, "SM");
        if (clGetDeviceInfo(c->dev, DC_CL_DEVICE_WARP_SIZE_NV, sizeof u, &u, NULL) == CL_SUCCESS &&
            u > 0)
            c->wg_multiple = u;
    } else if (strstr(c->extensions, "cl_amd_device_attribute_query")) {
        snprintf(c->core, sizeof c->core, "CU");
        if (clGetDeviceInfo(c->dev, DC_CL_DEVICE_WAVEFRONT_WIDTH_AMD, sizeof u, &u, NULL) ==
                CL_SUCCESS &&
            u > 0)
            c->wg_multiple = u;
    } else if (gpu && strstr(c->vendor, "Intel")) {
        /* Compute units are EUs: a fill target counts Xe-cores (sub-slices), 16 EUs each on
         * Xe, 8 on Gen9, as the driver says where it can. */
        cl_uint per = 0;
        if (!strstr(c->extensions, "cl_intel_device_attribute_query") ||
            clGetDeviceInfo(c->dev, DC_CL_DEVICE_NUM_EUS_PER_SUB_SLICE_INTEL, sizeof per, &per,
                            NULL) != CL_SUCCESS ||
            per == 0)
            per = 16;
        c->cores = c->compute_units / per > 0 ? c->compute_units / per : 1;
        snprintf(c->core, sizeof c->core, "Xe-core");
    } else if (gpu && (strstr(c->vendor, "ARM") || strstr(c->name, "Mali"))) {
        snprintf(c->core, sizeof c->core, "shader core");
    }
    /* An OpenCL 3.0 device says it for the device as a whole. Its version through dc_info_str,
     * which asks for the string's length first: a buffer shorter than the string is an error,
     * not a truncation (POCL 3.1's is 65 bytes, past the 63 this asked for until 0.7.3). */
    if (!c->wg_multiple) {
        size_t m = 0;
        dc_info_str(c->dev, CL_DEVICE_VERSION, version, sizeof version);
        if (strncmp(version, "OpenCL 3.", 9) == 0 &&
            clGetDeviceInfo(c->dev, DC_CL_DEVICE_PREFERRED_WORK_GROUP_SIZE_MULTIPLE, sizeof m, &m,
                            NULL) == CL_SUCCESS &&
            m > 0 && m <= 1024)
            c->wg_multiple = (cl_uint)m;
    }
    if (!c->wg_multiple)
        c->wg_multiple = gpu ? 32 : 1;
}

densecl_status dc_caps_query(cl_device_id dev, dc_caps *c)
{
    cl_device_local_mem_type lt = 0;
    cl_device_fp_config fp = 0;
    cl_bool compiler = CL_FALSE;
    dc_device_profile prof;
    densecl_status st;
    int active = 0;
    memset(c, 0, sizeof *c);
    c->dev = dev;
    if (dev) {
        clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof c->type, &c->type, NULL);
        clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof c->local_mem, &c->local_mem, NULL);
        if (clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_TYPE, sizeof lt, &lt, NULL) == CL_SUCCESS)
            c->local_mem_is_global = lt == CL_GLOBAL;
        clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof c->max_work_group,
                        &c->max_work_group, NULL);
        clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof c->compute_units,
                        &c->compute_units, NULL);
        clGetDeviceInfo(dev, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof c->native_vector_float,
                        &c->native_vector_float, NULL);
        if (clGetDeviceInfo(dev, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL) == CL_SUCCESS)
            c->has_fma = (fp & CL_FP_FMA) != 0;
        if (clGetDeviceInfo(dev, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL) ==
            CL_SUCCESS)
            c->has_compiler = compiler == CL_TRUE;
        dc_info_str(dev, CL_DEVICE_NAME, c->name, sizeof c->name);
        dc_info_str(dev, CL_DEVICE_VENDOR, c->vendor, sizeof c->vendor);
        dc_info_str(dev, CL_DEVICE_OPENCL_C_VERSION, c->opencl_c, sizeof c->opencl_c);
        /* A list longer than the field is cut at its last whole name. */
        {
            size_t len = 0;
            char *ext = NULL;
            if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, 0, NULL, &len) == CL_SUCCESS &&
                len > 0 && (ext = malloc(len + 1)) != NULL &&
                clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, len, ext, NULL) == CL_SUCCESS) {
                ext[len] = '\0';
                if (strlen(ext) >= sizeof c->extensions) {
                    char *cut = ext + sizeof c->extensions - 1;
                    *cut = '\0';
                    if ((cut = strrchr(ext, ' ')) != NULL)
                        *cut = '\0';
                }
                snprintf(c->extensions, sizeof c->extensions, "%s", ext);
            }
            free(ext);
        }
        dc_caps_units(c);
    }
    if ((st = dc_device_profile_get(&prof, &active)) != DENSECL_OK)
        return st;
    if (!active)
        return DENSECL_OK;
    /* Everything a family decides on, as the profiled device's driver reports it. */
    c->type = prof.type;
    c->local_mem = prof.local_mem;
    c->local_mem_is_global = prof.local_mem_is_global;
    c->max_work_group = prof.max_work_group;
    c->compute_units = prof.compute_units;
    c->native_vector_float = prof.native_vector_float;
    c->has_fma = prof.has_fma;
    c->cores = prof.cores;
    c->wg_multiple = prof.wg_multiple;
    snprintf(c->name, sizeof c->name, "%s", prof.device_name);
    snprintf(c->vendor, sizeof c->vendor, "%s", prof.vendor);
    snprintf(c->core, sizeof c->core, "%s", prof.core);
    snprintf(c->opencl_c, sizeof c->opencl_c, "%s", prof.opencl_c);
    snprintf(c->extensions, sizeof c->extensions, "%s", prof.extensions);
    snprintf(c->profile, sizeof c->profile, "%s", prof.name);
    return DENSECL_OK;
}
