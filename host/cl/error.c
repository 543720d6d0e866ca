/* SPDX-License-Identifier: MIT */
/* error.c - OpenCL error codes as their names, and as densecl statuses. */
#include <stdio.h>

#include "cl/cl.h"

#define DC_CL_ERR(name)                                                                            \
    {                                                                                              \
        name, #name                                                                                \
    }
static const struct {
    cl_int code;
    const char *name;
} dc_cl_errors[] = {
    DC_CL_ERR(CL_SUCCESS),
    DC_CL_ERR(CL_DEVICE_NOT_FOUND),
    DC_CL_ERR(CL_DEVICE_NOT_AVAILABLE),
    DC_CL_ERR(CL_COMPILER_NOT_AVAILABLE),
    DC_CL_ERR(CL_MEM_OBJECT_ALLOCATION_FAILURE),
    DC_CL_ERR(CL_OUT_OF_RESOURCES),
    DC_CL_ERR(CL_OUT_OF_HOST_MEMORY),
    DC_CL_ERR(CL_PROFILING_INFO_NOT_AVAILABLE),
    DC_CL_ERR(CL_MEM_COPY_OVERLAP),
    DC_CL_ERR(CL_IMAGE_FORMAT_MISMATCH),
    DC_CL_ERR(CL_IMAGE_FORMAT_NOT_SUPPORTED),
    DC_CL_ERR(CL_BUILD_PROGRAM_FAILURE),
    DC_CL_ERR(CL_MAP_FAILURE),
    DC_CL_ERR(CL_MISALIGNED_SUB_BUFFER_OFFSET),
    DC_CL_ERR(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST),
    DC_CL_ERR(CL_COMPILE_PROGRAM_FAILURE),
    DC_CL_ERR(CL_LINKER_NOT_AVAILABLE),
    DC_CL_ERR(CL_LINK_PROGRAM_FAILURE),
    DC_CL_ERR(CL_DEVICE_PARTITION_FAILED),
    DC_CL_ERR(CL_KERNEL_ARG_INFO_NOT_AVAILABLE),
    DC_CL_ERR(CL_INVALID_VALUE),
    DC_CL_ERR(CL_INVALID_DEVICE_TYPE),
    DC_CL_ERR(CL_INVALID_PLATFORM),
    DC_CL_ERR(CL_INVALID_DEVICE),
    DC_CL_ERR(CL_INVALID_CONTEXT),
    DC_CL_ERR(CL_INVALID_QUEUE_PROPERTIES),
    DC_CL_ERR(CL_INVALID_COMMAND_QUEUE),
    DC_CL_ERR(CL_INVALID_HOST_PTR),
    DC_CL_ERR(CL_INVALID_MEM_OBJECT),
    DC_CL_ERR(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR),
    DC_CL_ERR(CL_INVALID_IMAGE_SIZE),
    DC_CL_ERR(CL_INVALID_SAMPLER),
    DC_CL_ERR(CL_INVALID_BINARY),
    DC_CL_ERR(CL_INVALID_BUILD_OPTIONS),
    DC_CL_ERR(CL_INVALID_PROGRAM),
    DC_CL_ERR(CL_INVALID_PROGRAM_EXECUTABLE),
    DC_CL_ERR(CL_INVALID_KERNEL_NAME),
    DC_CL_ERR(CL_INVALID_KERNEL_DEFINITION),
    DC_CL_ERR(CL_INVALID_KERNEL),
    DC_CL_ERR(CL_INVALID_ARG_INDEX),
    DC_CL_ERR(CL_INVALID_ARG_VALUE),
    DC_CL_ERR(CL_INVALID_ARG_SIZE),
    DC_CL_ERR(CL_INVALID_KERNEL_ARGS),
    DC_CL_ERR(CL_INVALID_WORK_DIMENSION),
    DC_CL_ERR(CL_INVALID_WORK_GROUP_SIZE),
    DC_CL_ERR(CL_INVALID_WORK_ITEM_SIZE),
    DC_CL_ERR(CL_INVALID_GLOBAL_OFFSET),
    DC_CL_ERR(CL_INVALID_EVENT_WAIT_LIST),
    DC_CL_ERR(CL_INVALID_EVENT),
    DC_CL_ERR(CL_INVALID_OPERATION),
    DC_CL_ERR(CL_INVALID_GL_OBJECT),
    DC_CL_ERR(CL_INVALID_BUFFER_SIZE),
    DC_CL_ERR(CL_INVALID_MIP_LEVEL),
    DC_CL_ERR(CL_INVALID_GLOBAL_WORK_SIZE),
    DC_CL_ERR(CL_INVALID_PROPERTY),
    DC_CL_ERR(CL_INVALID_IMAGE_DESCRIPTOR),
    DC_CL_ERR(CL_INVALID_COMPILER_OPTIONS),
    DC_CL_ERR(CL_INVALID_LINKER_OPTIONS),
    DC_CL_ERR(CL_INVALID_DEVICE_PARTITION_COUNT),
    {-1001, "CL_PLATFORM_NOT_FOUND_KHR"},
};

const char *dc_cl_error_name(cl_int err)
{
    static _Thread_local char unknown[40];
    for (size_t i = 0; i < DC_ARRAY_LEN(dc_cl_errors); i++)
        if (dc_cl_errors[i].code == err)
            return dc_cl_errors[i].name;
    snprintf(unknown, sizeof unknown, "CL_UNKNOWN_ERROR(%d)", (int)err);
    return unknown;
}

densecl_status dc_cl_status(cl_int err)
{
    switch (err) {
    case CL_OUT_OF_HOST_MEMORY:
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
    case CL_OUT_OF_RESOURCES:
        return DENSECL_ERR_NO_MEMORY;
    default:
        return DENSECL_ERR_OPENCL;
    }
}
