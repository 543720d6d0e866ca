/* SPDX-License-Identifier: MIT */
/* status.c - status strings, the thread-local error detail, the log sink, OpenCL error names,
 * the atomic file writer and the regular-file opener. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

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
