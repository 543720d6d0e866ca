/* status.c - status strings, the thread-local error detail, the log sink, OpenCL error names. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#ifndef DENSECL_VERSION_STRING
#define DENSECL_VERSION_STRING "0.0.0"
#endif

/* Big enough for a compiler log excerpt; longer details are cut with "...". */
#define DC_ERROR_MAX 8192

static _Thread_local char dc_last_error_[DC_ERROR_MAX];
static densecl_log_fn dc_log_fn_;
static void *dc_log_user_;

static const char *const dc_status_names[] = {
    [DENSECL_OK] = "success",
    [DENSECL_ERR_ARGUMENT] = "invalid argument",
    [DENSECL_ERR_IO] = "input/output error",
    [DENSECL_ERR_FORMAT] = "malformed file",
    [DENSECL_ERR_MISMATCH] = "weights do not match the model",
    [DENSECL_ERR_INPUT] = "invalid input tensor",
    [DENSECL_ERR_UNSUPPORTED] = "not supported",
    [DENSECL_ERR_NO_DEVICE] = "no OpenCL device",
    [DENSECL_ERR_BUILD] = "kernel build failed",
    [DENSECL_ERR_OPENCL] = "OpenCL error",
    [DENSECL_ERR_NO_MEMORY] = "out of memory",
    [DENSECL_ERR_LIMIT] = "device limit exceeded",
};

const char *densecl_status_str(densecl_status status)
{
    if ((unsigned)status < DC_ARRAY_LEN(dc_status_names) && dc_status_names[status])
        return dc_status_names[status];
    return "unknown status";
}

const char *densecl_version(void)
{
    return DENSECL_VERSION_STRING;
}

const char *densecl_last_error(void)
{
    return dc_last_error_;
}

void densecl_set_log(densecl_log_fn fn, void *user)
{
    dc_log_fn_ = fn;
    dc_log_user_ = user;
}

static void dc_vlog(densecl_log_level level, const char *fmt, va_list ap)
{
    char msg[DC_ERROR_MAX];
    if (!dc_log_fn_)
        return;
    vsnprintf(msg, sizeof msg, fmt, ap);
    dc_log_fn_(level, msg, dc_log_user_);
}

void dc_log(densecl_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dc_vlog(level, fmt, ap);
    va_end(ap);
}

densecl_status dc_error(densecl_status s, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(dc_last_error_, sizeof dc_last_error_, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof dc_last_error_)
        memcpy(dc_last_error_ + sizeof dc_last_error_ - 4, "...", 4);
    /* Text from files (tensor keys, JSON) may hold control characters; only the line breaks of
     * a compiler log are kept. */
    for (char *c = dc_last_error_; *c; c++)
        if ((unsigned char)*c < 0x20 && *c != '\n')
            *c = '?';
    dc_log(DENSECL_LOG_DEBUG, "%s: %s", densecl_status_str(s), dc_last_error_);
    return s;
}

void dc_clear_error(void)
{
    dc_last_error_[0] = '\0';
}

#define DC_CL_ERR(name) {name, #name}
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

uint64_t dc_load_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int dc_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

int dc_add_size(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a)
        return 0;
    *out = a + b;
    return 1;
}

void densecl_softmax(float *x, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * (size_t)cols;
        float mx = row[0];
        double sum = 0.0;
        for (int c = 1; c < cols; c++)
            if (row[c] > mx)
                mx = row[c];
        for (int c = 0; c < cols; c++) {
            row[c] = expf(row[c] - mx);
            sum += row[c];
        }
        for (int c = 0; c < cols; c++)
            row[c] = (float)(row[c] / sum);
    }
}

densecl_status dc_atomic_open(dc_atomic_file *a, const char *path)
{
    size_t len = strlen(path) + 32;
    a->f = NULL;
    a->path = path;
    if (!(a->tmp = malloc(len))) {
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    snprintf(a->tmp, len, "%s.tmp.%ld", path, (long)getpid());
    if (!(a->f = fopen(a->tmp, "wb"))) {
        densecl_status st =
            dc_error(DENSECL_ERR_IO, "%s: cannot create: %s", a->tmp, strerror(errno));
        free(a->tmp);
        a->tmp = NULL;
        return st;
    }
    errno = 0;
    return DENSECL_OK;
}

densecl_status dc_atomic_close(dc_atomic_file *a, int ok)
{
    densecl_status st = DENSECL_OK;
    int err = errno; /* what the failed write (if any) left */
    if (ok && (fflush(a->f) != 0 || fsync(fileno(a->f)) != 0)) {
        ok = 0;
        err = errno;
    }
    if (fclose(a->f) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (!ok) {
        st = dc_error(DENSECL_ERR_IO, "%s: write error: %s", a->path,
                      err ? strerror(err) : "a write failed");
    } else if (rename(a->tmp, a->path) != 0) {
        st = dc_error(DENSECL_ERR_IO, "%s: cannot rename %s over it: %s", a->path, a->tmp,
                      strerror(errno));
    }
    if (st != DENSECL_OK) {
        remove(a->tmp);
    }
    free(a->tmp);
    a->tmp = NULL;
    a->f = NULL;
    return st;
}

const char *dc_shape_str(const int64_t *shape, int ndim, int tuple, char *buf, size_t size)
{
    size_t n = 0;
    if (size == 0) {
        return buf;
    }
    buf[0] = '\0';
    for (int i = -1; i <= ndim && n < size; i++) {
        int k;
        if (i < 0) {
            k = snprintf(buf + n, size - n, "%c", tuple ? '(' : '[');
        } else if (i == ndim) {
            k = snprintf(buf + n, size - n, "%s", !tuple ? "]" : ndim == 1 ? ",)" : ")");
        } else {
            k = snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
        }
        if (k < 0) {
            break;
        }
        n += (size_t)k;
    }
    return buf;
}
