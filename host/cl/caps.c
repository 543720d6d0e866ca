/* SPDX-License-Identifier: MIT */
/* caps.c - a device's capabilities as the kernel families decide on them, read once per
 * replica. */
#include <string.h>

#include "cl/cl.h"

void dc_caps_query(cl_device_id dev, dc_caps *c)
{
    cl_device_local_mem_type lt = 0;
    cl_device_fp_config fp = 0;
    cl_bool compiler = CL_FALSE;
    memset(c, 0, sizeof *c);
    c->dev = dev;
    if (!dev)
        return;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof c->type, &c->type, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof c->local_mem, &c->local_mem, NULL);
    if (clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_TYPE, sizeof lt, &lt, NULL) == CL_SUCCESS)
        c->local_mem_is_global = lt == CL_GLOBAL;
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof c->max_work_group,
                    &c->max_work_group, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof c->compute_units, &c->compute_units,
                    NULL);
    clGetDeviceInfo(dev, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof c->native_vector_float,
                    &c->native_vector_float, NULL);
    if (clGetDeviceInfo(dev, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL) == CL_SUCCESS)
        c->has_fma = (fp & CL_FP_FMA) != 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL) ==
        CL_SUCCESS)
        c->has_compiler = compiler == CL_TRUE;
    clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof c->name - 1, c->name, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_VENDOR, sizeof c->vendor - 1, c->vendor, NULL);
}
