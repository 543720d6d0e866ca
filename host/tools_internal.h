/* SPDX-License-Identifier: MIT */
/*
 * tools_internal.h - the library internals that densecl's own tools (tools/) may use, beside the
 * public densecl.h: the boundary between them, as ggml keeps ggml-backend-impl.h apart. Not
 * installed, and not for other programs: these may change with any release.
 *
 * host/internal.h includes this file: what is declared here (errors, files, atomic writes, the
 * JSON parser and writer, .npy, device lookup) is declared only here, or declared in both and
 * checked by the compiler to agree. The engine's data structures (plans, replicas, families)
 * stay out: the kernel families (family.h) reach the tools only through the dc_tool_*
 * functions below (tools_api.c).
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

/* Files: opening for reading refuses anything but a regular file (a FIFO is not waited on). */
densecl_status dc_open_regular(const char *path, const char *what, int *fd);
densecl_status dc_fopen_regular(const char *path, const char *what, FILE **f);

/* ---------------------------------------------------------------- status.c: atomic writes */

/* Atomic file writes. Symbolic links are followed to the name they end at. A regular file (or
 * a new one) is written as a temporary ".NAME.densecl-PID-XXXXXX" in its own directory, which
 * replaces it only once all bytes are on disk (flushed, fsync'd), so a reader sees the old file
 * or the whole new one, never a part, and a failed write leaves no temporary behind. A character
 * device or FIFO, and /dev/stdout, /dev/stderr, /dev/fd/N, are written straight into (tmp is
 * NULL); anything else (a directory, a socket) is refused. Opening also removes temporaries
 * that dead processes left in the directory. Write to a->f between the two calls. */
typedef struct dc_atomic_file {
    FILE *f;
    char *tmp;        /* the temporary; NULL when writing straight into the target */
    char *real;       /* the path with its symbolic links followed */
    const char *path; /* as given, for messages */
    int slot;         /* in the table dc_atomic_remove_temps walks, or -1 */
} dc_atomic_file;
densecl_status dc_atomic_open(dc_atomic_file *a, const char *path);
/* ok: whether every write to a->f succeeded. Renames the temporary over the path when ok and
 * everything reaches the disk, removes it otherwise; frees a in both cases. */
densecl_status dc_atomic_close(dc_atomic_file *a, int ok);
/* Unlinks every live temporary of the process. Async-signal-safe: for a signal handler that
 * is about to end the process. */
void dc_atomic_remove_temps(void);

/* ---------------------------------------------------------------- json.c */

/* A parsed JSON value (strict RFC 8259; no duplicate keys in an object). */
typedef enum { DC_JSON_NULL, DC_JSON_BOOL, DC_JSON_NUMBER, DC_JSON_STRING, DC_JSON_ARRAY,
               DC_JSON_OBJECT } dc_json_type;
typedef struct dc_json {
    dc_json_type type;
    int boolean;
    double number;
    int integer;           /* NUMBER written as an integer: no fraction, no exponent */
    char *string;          /* DC_JSON_STRING: NUL-terminated UTF-8 (embedded NUL refused) */
    int count;             /* ARRAY/OBJECT: number of items */
    char **keys;           /* OBJECT: keys[i] */
    struct dc_json *items; /* ARRAY/OBJECT: items[i] */
} dc_json;

/* Parses text[0..len). On error returns DENSECL_ERR_FORMAT with the byte offset in the detail
 * (prefixed by `what`, e.g. the file name). Nesting depth is bounded. */
densecl_status dc_json_parse(const char *text, size_t len, const char *what, dc_json *out);
void dc_json_free(dc_json *j);
/* Whether j is a number written as an integer ("2", not "2.0" or "2e0", which the safetensors
 * format and our metadata refuse for sizes and counts). */
int dc_json_is_integer(const dc_json *j);
/* Object member lookup; NULL if absent or j is not an object. */
const dc_json *dc_json_get(const dc_json *j, const char *key);
/* Writes s as a JSON string: quotes, backslashes and control characters escaped, and each byte
 * that is not part of well-formed UTF-8 (a file name, a driver's legacy code page) as U+FFFD. */
void dc_json_write_string(FILE *f, const char *s);

/* ---------------------------------------------------------------- preprocess.c, labels.c */

/* The "densecl.preprocess" metadata (densecl_weights_preprocess documents it) parsed and checked
 * for a model cfg; `what` (the weights file) starts each message; source is METADATA. */
densecl_status dc_preprocess_parse(const char *json, const densecl_config *cfg, const char *what,
                                   densecl_preprocess *out);
/* Class names from a JSON array of exactly `classes` strings ("densecl.labels"). *names is a
 * malloc'd array of malloc'd strings; free with dc_names_free(names, classes). */
densecl_status dc_names_parse_json(const char *json, int classes, const char *what, char ***names);
void dc_names_free(char **names, int count);

/* ---------------------------------------------------------------- npy.c */

typedef struct dc_npy {
    int ndim;
    int64_t shape[8];
    size_t count; /* product of shape */
    float *data;  /* float32, C order, owned */
} dc_npy;

/* Reads a little-endian '<f4' (or '<f8', converted) C-order .npy, versions 1.0-3.0. */
densecl_status dc_npy_read(const char *path, dc_npy *out);
/* Reads from memory (for the fuzzer); `what` names the source in messages. */
densecl_status dc_npy_parse(const void *bytes, size_t len, const char *what, dc_npy *out);
/* Writes '<f4' v1.0. Atomic: temporary file, then rename; nothing left behind on failure. */
densecl_status dc_npy_write(const char *path, const int64_t *shape, int ndim, const float *data);
void dc_npy_free(dc_npy *a);

/* device.c and program.c: a device's properties (indices are only filled by the listing), a
 * spec resolved to one device, and the -cl-std option densecl builds with for an
 * CL_DEVICE_OPENCL_C_VERSION string. */
void dc_device_describe(cl_device_id dev, densecl_device_info *info);
densecl_status dc_device_pick(const char *spec, cl_device_id *dev, densecl_device_info *info);
void dc_cl_std_from(const char *opencl_c_version, char *out, size_t cap);
/* 1 if needle occurs in hay, ASCII case ignored (an empty needle occurs everywhere). */
int dc_contains_nocase(const char *hay, const char *needle);

/* ---------------------------------------------------------------- tiles.c: the direct tiles */

/* The direct family's conv tiles as `densecl tune` measures and saves them (internal.h says
 * more): kernels.cl's generic tiles, the device's defaults, the check against the kernels'
 * limits, the device's tuning file's path (1 when there is a cache directory), one "CxP", the
 * file read, the tiles an engine starts from and where they came from, the file written (with
 * the winning family and its params, either may be NULL), and the fit to a model. */
void dc_tiles_generic(densecl_tiles *t);
void dc_tiles_default(cl_device_id dev, densecl_tiles *t);
densecl_status dc_tiles_check(const densecl_tiles *t, const char *what);
int dc_tiles_path(cl_device_id dev, char *buf, size_t cap);
int dc_parse_tile(const char *s, int *c, int *p);
densecl_status dc_tiles_load(const char *path, densecl_tiles *t);
densecl_status dc_tiles_resolve(cl_device_id dev, const densecl_tiles *given, densecl_tiles *out,
                                densecl_tiles_origin *origin);
densecl_status dc_tuning_write(const char *path, const densecl_tiles *t, const char *family,
                               const char *params, const char *comment);
densecl_status dc_tiles_fit(densecl_tiles *t, const densecl_config *cfg);

/* ---------------------------------------------------------------- selftest.c */

/* The first max_lines lines of text, malloc'ed ("... (N more lines)" marks a cut); NULL when
 * out of memory. A build log shown in a report. */
char *dc_head_lines(const char *text, int max_lines);

/* ---------------------------------------------------------------- tools_api.c: the families */

/* `densecl info`'s lines on dev: "convs: ..." (what an engine would resolve for a model with
 * every conv kind, when it resolves) and "conv families:" with one line per family (its
 * parameters' ranges, and why it cannot run a plain 1x1 conv there). Cut to fit cap. */
void dc_tool_families_text(cl_device_id dev, char *buf, size_t cap);
/* The device profile in force (DENSECL_DEVICE_PROFILE, host/cl/profile.c) as one line for
 * people into buf, "" when there is none; an error naming the variable when it does not load. */
densecl_status dc_tool_profile_line(char *buf, size_t cap);
/* What an engine on dev resolves for a model of cfg on [n, c, h, w] inputs with conv and
 * kernel_params (NULL: as an engine's defaults): two lines into buf, "convs: ..." as `bench`
 * says it and "build options: ..." (the -D options of the program it builds). */
densecl_status dc_tool_resolve_text(cl_device_id dev, const densecl_config *cfg, int n, int h,
                                    int w, const char *conv, const char *kernel_params,
                                    char *buf, size_t cap);
/* The name of family i of this build's registry (0 is direct), NULL past the last. */
const char *dc_tool_family_name(int i);
/* 1 if auto runs the 3x3/1/1 convs on the winograd family on dev by default (no tuning file). */
int dc_tool_winograd_auto(cl_device_id dev);
/* Checks a --kernel-params text as an engine would, with `family` the default family of its
 * parts; *set: bit j when parameter j of that family is given. DENSECL_ERR_ARGUMENT naming
 * `what`. */
densecl_status dc_tool_check_kernel_params(const char *text, const char *family, unsigned *set,
                                           const char *what);

#endif
