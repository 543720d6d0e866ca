/* SPDX-License-Identifier: MIT */
/* npy.c - NumPy .npy files: reading '<f4' (and '<f8', converted) C-order arrays of format
 * versions 1.0-3.0, writing '<f4' version 1.0 atomically.
 *
 * The header is a Python dict literal ({'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), }); we parse exactly that subset instead of evaluating anything. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/formats.h"

#define NPY_MAX_NDIM 8
#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6

typedef struct npy_header {
    const char *s; /* the header text (not NUL-terminated) */
    size_t len, pos;
    size_t base; /* file offset of s[0], for messages */
    const char *what;
} npy_header;

static densecl_status npy_bad(const npy_header *h, const char *reason)
{
    return dc_error(DENSECL_ERR_FORMAT, "%s: invalid .npy header at byte %zu: %s", h->what,
                    h->base + h->pos, reason);
}

static void npy_ws(npy_header *h)
{
    while (h->pos < h->len && (h->s[h->pos] == ' ' || h->s[h->pos] == '\t' ||
                               h->s[h->pos] == '\n' || h->s[h->pos] == '\r'))
        h->pos++;
}

static int npy_peek(const npy_header *h)
{
    return h->pos < h->len ? (unsigned char)h->s[h->pos] : -1;
}

/* A quoted Python string without escapes; *str points into the header. */
static densecl_status npy_str(npy_header *h, const char **str, size_t *n)
{
    int q = npy_peek(h);
    if (q != '\'' && q != '"')
        return npy_bad(h, "expected a quoted string");
    size_t start = ++h->pos;
    while (h->pos < h->len && h->s[h->pos] != q) {
        unsigned char c = (unsigned char)h->s[h->pos];
        if (c == '\\' || c < 0x20 || c >= 0x7F)
            return npy_bad(h, "unsupported character in string");
        h->pos++;
    }
    if (h->pos >= h->len)
        return npy_bad(h, "unterminated string");
    *str = h->s + start;
    *n = h->pos - start;
    h->pos++;
    return DENSECL_OK;
}

static int npy_word(npy_header *h, const char *w)
{
    size_t n = strlen(w);
    if (h->len - h->pos < n || memcmp(h->s + h->pos, w, n) != 0)
        return 0;
    h->pos += n;
    return 1;
}

/* A shape tuple: "()", "(3,)", "(2, 3)", "(2, 3,)". */
static densecl_status npy_shape(npy_header *h, int *ndim, int64_t *shape)
{
    int n = 0, trailing_comma = 0;
    if (npy_peek(h) != '(')
        return npy_bad(h, "shape must be a tuple");
    h->pos++;
    npy_ws(h);
    while (npy_peek(h) != ')') {
        int neg = 0;
        int64_t v = 0;
        if (npy_peek(h) == '-') {
            neg = 1;
            h->pos++;
        }
        if (npy_peek(h) < '0' || npy_peek(h) > '9')
            return npy_bad(h, "shape must be a tuple of integers");
        while (npy_peek(h) >= '0' && npy_peek(h) <= '9') {
            int d = npy_peek(h) - '0';
            if (v > (INT64_MAX - d) / 10)
                return dc_error(DENSECL_ERR_FORMAT, "%s: shape dimension too large", h->what);
            v = v * 10 + d;
            h->pos++;
        }
        if (neg && v != 0)
            return dc_error(DENSECL_ERR_FORMAT, "%s: negative dimension -%lld in shape", h->what,
                            (long long)v);
        if (n == NPY_MAX_NDIM)
            return dc_error(DENSECL_ERR_FORMAT, "%s: more than %d dimensions", h->what,
                            NPY_MAX_NDIM);
        shape[n++] = v;
        npy_ws(h);
        trailing_comma = 0;
        if (npy_peek(h) == ',') {
            trailing_comma = 1;
            h->pos++;
            npy_ws(h);
        } else if (npy_peek(h) != ')') {
            return npy_bad(h, "expected ',' or ')' in shape");
        }
    }
    /* In Python "(3)" is the integer 3, not a tuple. */
    if (n == 1 && !trailing_comma)
        return npy_bad(h, "shape must be a tuple (a 1-tuple is written '(3,)')");
    h->pos++;
    *ndim = n;
    return DENSECL_OK;
}

typedef struct npy_info {
    int f8; /* '<f8' rather than '<f4' */
    int ndim;
    int64_t shape[NPY_MAX_NDIM];
} npy_info;

static densecl_status npy_descr(npy_header *h, npy_info *info)
{
    const char *d;
    size_t n;
    densecl_status st;
    if (npy_peek(h) != '\'' && npy_peek(h) != '"')
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: structured dtypes are not supported; densecl reads float32 ('<f4')",
                        h->what);
    if ((st = npy_str(h, &d, &n)) != DENSECL_OK)
        return st;
    if (n == 3 && memcmp(d, "<f4", 3) == 0)
        info->f8 = 0;
    else if (n == 3 && memcmp(d, "<f8", 3) == 0)
        info->f8 = 1;
    else if (n == 3 && d[0] == '>' && d[1] == 'f' && (d[2] == '4' || d[2] == '8'))
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: big-endian dtype '%.3s' is not supported; densecl reads float32 "
                        "('<f4')",
                        h->what, d);
    else
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: dtype '%.*s' is not supported; densecl reads float32 ('<f4')", h->what,
                        (int)(n > 32 ? 32 : n), d);
    return DENSECL_OK;
}

static densecl_status npy_parse_header(npy_header *h, npy_info *info)
{
    densecl_status st;
    int seen[3] = {0, 0, 0}; /* descr, fortran_order, shape */
    npy_ws(h);
    if (npy_peek(h) != '{')
        return npy_bad(h, "expected '{'");
    h->pos++;
    npy_ws(h);
    while (npy_peek(h) != '}') {
        const char *key;
        size_t n;
        int which;
        if ((st = npy_str(h, &key, &n)) != DENSECL_OK)
            return st;
        if (n == 5 && memcmp(key, "descr", 5) == 0)
            which = 0;
        else if (n == 13 && memcmp(key, "fortran_order", 13) == 0)
            which = 1;
        else if (n == 5 && memcmp(key, "shape", 5) == 0)
            which = 2;
        else
            return dc_error(DENSECL_ERR_FORMAT, "%s: unexpected key '%.*s' in .npy header", h->what,
                            (int)(n > 32 ? 32 : n), key);
        if (seen[which]++)
            return dc_error(DENSECL_ERR_FORMAT, "%s: key '%.*s' repeated in .npy header", h->what,
                            (int)n, key);
        npy_ws(h);
        if (npy_peek(h) != ':')
            return npy_bad(h, "expected ':'");
        h->pos++;
        npy_ws(h);
        if (which == 0) {
            st = npy_descr(h, info);
        } else if (which == 1) {
            if (npy_word(h, "True"))
                return dc_error(DENSECL_ERR_FORMAT,
                                "%s: fortran_order True is not supported; save a C-order array",
                                h->what);
            st = npy_word(h, "False") ? DENSECL_OK : npy_bad(h, "expected True or False");
        } else {
            st = npy_shape(h, &info->ndim, info->shape);
        }
        if (st != DENSECL_OK)
            return st;
        npy_ws(h);
        if (npy_peek(h) == ',') {
            h->pos++;
            npy_ws(h);
        } else if (npy_peek(h) != '}') {
            return npy_bad(h, "expected ',' or '}'");
        }
    }
    h->pos++;
    npy_ws(h);
    if (h->pos != h->len)
        return npy_bad(h, "unexpected data after the header dict");
    for (int i = 0; i < 3; i++) {
        static const char *names[] = {"descr", "fortran_order", "shape"};
        if (!seen[i])
            return dc_error(DENSECL_ERR_FORMAT, "%s: .npy header has no '%s'", h->what, names[i]);
    }
    return DENSECL_OK;
}

densecl_status dc_npy_parse(const void *bytes, size_t len, const char *what, dc_npy *out)
{
    const unsigned char *b = bytes;
    npy_info info;
    size_t prefix, hlen, count, need, data_len;
    if (!out)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_npy_parse: NULL argument");
    memset(out, 0, sizeof *out);
    memset(&info, 0, sizeof info);
    if (!what)
        what = ".npy data";
    if (!b && len)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_npy_parse: NULL bytes");
    if (len < NPY_MAGIC_LEN + 2 || memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return dc_error(DENSECL_ERR_FORMAT, "%s: not a .npy file (bad magic)", what);
    if (b[6] == 1 && b[7] == 0) {
        prefix = 10;
    } else if ((b[6] == 2 || b[6] == 3) && b[7] == 0) {
        prefix = 12;
    } else {
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: .npy version %u.%u is not supported (1.0, 2.0 and 3.0 are)", what,
                        b[6], b[7]);
    }
    if (len < prefix)
        return dc_error(DENSECL_ERR_FORMAT, "%s: truncated .npy header", what);
    uint64_t hl = dc_load_le(b + 8, prefix == 10 ? 2 : 4);
    if (hl > len - prefix)
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: .npy header length %llu runs past the end of the file (%zu bytes)",
                        what, (unsigned long long)hl, len);
    hlen = (size_t)hl;
    npy_header h = {(const char *)b + prefix, hlen, 0, prefix, what};
    densecl_status st = npy_parse_header(&h, &info);
    if (st != DENSECL_OK)
        return st;
    count = 1;
    for (int i = 0; i < info.ndim; i++)
        if ((uint64_t)info.shape[i] > SIZE_MAX ||
            !dc_mul_size(count, (size_t)info.shape[i], &count))
            return dc_error(DENSECL_ERR_FORMAT, "%s: shape is too large", what);
    if (!dc_mul_size(count, info.f8 ? 8 : 4, &need))
        return dc_error(DENSECL_ERR_FORMAT, "%s: shape is too large", what);
    data_len = len - prefix - hlen;
    if (data_len != need) {
        char shp[256];
        dc_shape_str(info.shape, info.ndim, 1, shp, sizeof shp);
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: data is %zu bytes but shape %s of '%s' needs %zu (%s)", what, data_len,
                        shp, info.f8 ? "<f8" : "<f4", need,
                        data_len < need ? "truncated" : "extra bytes at the end");
    }
    float *data = malloc(count ? count * sizeof(float) : sizeof(float));
    if (!data)
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory for %zu floats", what, count);
    const unsigned char *src = b + prefix + hlen;
    for (size_t i = 0; i < count; i++) {
        if (info.f8) {
            uint64_t u = dc_load_le(src + 8 * i, 8);
            double d;
            memcpy(&d, &u, sizeof d);
            data[i] = (float)d;
        } else {
            uint32_t u = (uint32_t)dc_load_le(src + 4 * i, 4);
            memcpy(&data[i], &u, sizeof u);
        }
    }
    out->ndim = info.ndim;
    memcpy(out->shape, info.shape, sizeof info.shape);
    out->count = count;
    out->data = data;
    return DENSECL_OK;
}

densecl_status dc_npy_read(const char *path, dc_npy *out)
{
    densecl_status st = DENSECL_OK;
    unsigned char *buf = NULL;
    size_t size = 0, got = 0;
    struct stat sb;
    FILE *f;
    if (!path || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_npy_read: NULL argument");
    memset(out, 0, sizeof *out);
    if ((st = dc_fopen_regular(path, NULL, &f)) != DENSECL_OK)
        return st;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = dc_error(DENSECL_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    if ((uintmax_t)sb.st_size > (uintmax_t)SIZE_MAX - 1) {
        st = dc_error(DENSECL_ERR_IO, "%s: file too large", path);
        goto fail;
    }
    size = (size_t)sb.st_size;
    buf = malloc(size ? size : 1);
    if (!buf) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory reading %zu bytes", path, size);
        goto fail;
    }
    got = fread(buf, 1, size, f);
    if (got != size || ferror(f)) {
        st = dc_error(DENSECL_ERR_IO, "%s: read error", path);
        goto fail;
    }
    st = dc_npy_parse(buf, size, path, out);
fail:
    free(buf);
    fclose(f);
    return st;
}

/* Writes the header and the floats (little-endian on every host) through dc_atomic_open. */
static densecl_status npy_write_atomic(const char *path, const unsigned char *head, size_t hlen,
                                       const float *data, size_t count)
{
    unsigned char chunk[4096];
    dc_atomic_file a;
    densecl_status st = dc_atomic_open(&a, path);
    if (st != DENSECL_OK)
        return st;
    int ok = fwrite(head, 1, hlen, a.f) == hlen;
    for (size_t i = 0; i < count && ok;) {
        size_t n = 0;
        for (; i < count && n + 4 <= sizeof chunk; i++, n += 4) {
            uint32_t u;
            memcpy(&u, &data[i], sizeof u);
            for (int k = 0; k < 4; k++)
                chunk[n + (size_t)k] = (unsigned char)(u >> (8 * k));
        }
        ok = fwrite(chunk, 1, n, a.f) == n;
    }
    return dc_atomic_close(&a, ok);
}

densecl_status dc_npy_write(const char *path, const int64_t *shape, int ndim, const float *data)
{
    char head[512];
    size_t count = 1, n;
    if (!path || ndim < 0 || ndim > NPY_MAX_NDIM || (ndim > 0 && !shape))
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_npy_write: bad argument");
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX ||
            !dc_mul_size(count, (size_t)shape[i], &count))
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: invalid shape", path);
    }
    if (count > SIZE_MAX / sizeof(float) || (count && !data))
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: invalid shape or NULL data", path);
    memcpy(head, NPY_MAGIC "\x01\x00", 8);
    n = 10;
    n += (size_t)snprintf(head + n, sizeof head - n,
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    for (int i = 0; i < ndim; i++)
        n += (size_t)snprintf(head + n, sizeof head - n, "%s%lld", i ? ", " : "",
                              (long long)shape[i]);
    n += (size_t)snprintf(head + n, sizeof head - n, "%s), }", ndim == 1 ? "," : "");
    /* numpy pads with spaces and ends with '\n' so that the data starts 64-byte aligned. */
    size_t total = (n + 1 + 63) / 64 * 64;
    memset(head + n, ' ', total - 1 - n);
    head[total - 1] = '\n';
    head[8] = (char)((total - 10) & 0xFF);
    head[9] = (char)((total - 10) >> 8);
    return npy_write_atomic(path, (const unsigned char *)head, total, data, count);
}

void dc_npy_free(dc_npy *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}
