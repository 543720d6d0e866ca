/*
 * tools_internal.h - the library internals that densecl's own tools (tools/) may use, beside the
 * public densecl.h: the boundary between them, as ggml keeps ggml-backend-impl.h apart. Not
 * installed, and not for other programs: these may change with any release.
 *
 * host/internal.h includes this file, so that the compiler checks each declaration here against
 * the library's own. Kept to functions (no structs), so that a tool that includes only this file
 * sees nothing of the library's data structures. A tool that still includes internal.h or
 * family.h (the `densecl` command's info/tune/compile-kernels, the input readers' JSON and .npy
 * use) is not yet on this boundary.
 */
#ifndef DENSECL_TOOLS_INTERNAL_H
#define DENSECL_TOOLS_INTERNAL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "densecl.h"

#ifndef DC_ARRAY_LEN
#define DC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* status.c: the detail for densecl_last_error() (printf-style); returns s. */
densecl_status dc_error(densecl_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void dc_clear_error(void);
/* "CL_OUT_OF_RESOURCES" for -5; "CL_UNKNOWN_ERROR(-N)" in a static per-thread buffer otherwise. */
const char *dc_cl_error_name(cl_int err);
/* Overflow-checked size product: 0 on overflow, else 1 with *out set. */
int dc_mul_size(size_t a, size_t b, size_t *out);
/* A shape as text cut to fit size, "[2, 3, 32, 32]" (tuple != 0: "(2, 3)"). Returns buf. */
const char *dc_shape_str(const int64_t *shape, int ndim, int tuple, char *buf, size_t size);

/* Files: opening for reading refuses anything but a regular file (a FIFO is not waited on);
 * dc_atomic_remove_temps unlinks the process's live temporaries (async-signal-safe). */
densecl_status dc_open_regular(const char *path, const char *what, int *fd);
densecl_status dc_fopen_regular(const char *path, const char *what, FILE **f);
void dc_atomic_remove_temps(void);

/* json.c: s as a JSON string, escaped, ill-formed UTF-8 as U+FFFD. */
void dc_json_write_string(FILE *f, const char *s);

/* device.c and program.c: a device's properties (indices are only filled by the listing), a
 * spec resolved to one device, and the -cl-std option densecl builds with for an
 * CL_DEVICE_OPENCL_C_VERSION string. */
void dc_device_describe(cl_device_id dev, densecl_device_info *info);
densecl_status dc_device_pick(const char *spec, cl_device_id *dev, densecl_device_info *info);
void dc_cl_std_from(const char *opencl_c_version, char *out, size_t cap);

#endif
