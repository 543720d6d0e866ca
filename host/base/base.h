/* SPDX-License-Identifier: MIT */
/*
 * base.h - what every layer of host/ may use: status and error detail, the log, size
 * arithmetic, files (regular-file opens, atomic writes, the cache directory), JSON. Knows no
 * DenseNet and no OpenCL. Not installed.
 *
 *   status.c   status strings, version, the thread-local error detail, the log sink, size
 *              arithmetic, shapes as text, softmax
 *   files.c    regular-file opens, atomic writes, the cache directory, whole-file reads
 *   json.c     the strict JSON subset the safetensors header and the metadata need
 */
#ifndef DENSECL_BASE_H
#define DENSECL_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "densecl.h"

#define DC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- status.c */

/* Records the detail for densecl_last_error() (printf-style), logs it at DEBUG, returns s. */
densecl_status dc_error(densecl_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void dc_clear_error(void);
void dc_log(densecl_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The n-byte (n <= 8) little-endian unsigned integer at p. */
uint64_t dc_load_le(const unsigned char *p, int n);
/* A shape as text, cut to fit size: "[2, 3, 32, 32]", or with tuple != 0 as Python writes it,
 * "(2, 3)" and "(2,)". Returns buf. */
const char *dc_shape_str(const int64_t *shape, int ndim, int tuple, char *buf, size_t size);

/* Overflow-checked size arithmetic: return 0 on overflow, else 1 with *out set. */
int dc_mul_size(size_t a, size_t b, size_t *out);
int dc_add_size(size_t a, size_t b, size_t *out);

/* ---------------------------------------------------------------- files.c */

/* Opens path for reading, without blocking on a FIFO, and refuses anything but a regular file
 * ("PATH is a FIFO, not a regular file"). `what` (may be NULL) prefixes the path in messages.
 * The fd is blocking again once returned. */
densecl_status dc_open_regular(const char *path, const char *what, int *fd);
/* The same as a stdio stream ("rb"). */
densecl_status dc_fopen_regular(const char *path, const char *what, FILE **f);

/* Atomic file writes. Symbolic links are followed to the name they end at. A regular file (or
 * a new one) is written as a temporary ".NAME.densecl-PID-XXXXXX" in its own directory, which
 * replaces it only once all bytes are on disk (flushed, fsync'd), so a reader sees the old file
 * or the whole new one, never a part, and a failed write leaves no temporary behind. A file
 * that is a mount point (a bind-mounted single file: no rename can replace it) is written the
 * same way, then the complete temporary is copied into it in place (in_place; a rename failing
 * with EBUSY or EXDEV falls back to that too). A character device or FIFO, and /dev/stdout,
 * /dev/stderr, /dev/fd/N, are written straight into (tmp is NULL); anything else (a directory,
 * a socket) is refused. Opening also removes temporaries that dead processes left in the
 * directory. Write to a->f between the two calls. */
typedef struct dc_atomic_file {
    FILE *f;
    char *tmp;        /* the temporary; NULL when writing straight into the target */
    char *real;       /* the path with its symbolic links followed */
    const char *path; /* as given, for messages */
    int slot;         /* in the table dc_atomic_remove_temps walks, or -1 */
    int in_place;     /* real is a mount point: the temporary is copied into it at the close */
} dc_atomic_file;
densecl_status dc_atomic_open(dc_atomic_file *a, const char *path);
/* ok: whether every write to a->f succeeded. Renames the temporary over the path when ok and
 * everything reaches the disk, removes it otherwise; frees a in both cases. */
densecl_status dc_atomic_close(dc_atomic_file *a, int ok);
/* Unlinks every live temporary of the process. Async-signal-safe: for a signal handler that
 * is about to end the process. */
void dc_atomic_remove_temps(void);
/* 1 when the existing file path (its links followed) is a mount point: on another device than
 * its directory, or a mount point in /proc/self/mountinfo (a bind mount from the same file
 * system, as `docker -v out.npy:/out.npy` makes). Such a file cannot be renamed over. */
int dc_path_is_mount(const char *path);

/* The cache directory in use ($DENSECL_CACHE_DIR, else $XDG_CACHE_HOME/densecl, else
 * $HOME/.cache/densecl) into buf; 0 when there is none. */
int dc_cache_dir(char *buf, size_t cap);
/* Reads a whole file (NUL-terminated); NULL on error, with the detail naming prefix and path. */
char *dc_read_text(const char *prefix, const char *path);
/* FNV-1a, for cache keys and file names. */
uint64_t dc_fnv(uint64_t h, const void *data, size_t len);
#define DC_FNV_SEED 14695981039346656037ull
/* mkdir -p; failures surface when a file is written there. */
void dc_mkdirs(const char *path);

/* ---------------------------------------------------------------- json.c */

/* A parsed JSON value (strict RFC 8259; no duplicate keys in an object). */
typedef enum {
    DC_JSON_NULL,
    DC_JSON_BOOL,
    DC_JSON_NUMBER,
    DC_JSON_STRING,
    DC_JSON_ARRAY,
    DC_JSON_OBJECT
} dc_json_type;
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

#endif /* DENSECL_BASE_H */
