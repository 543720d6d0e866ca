/* SPDX-License-Identifier: MIT */
/*
 * idx.c - reading classify's input files (see inputs.h): whole files, gzip from memory, IDX
 * images, and the sniffing that tells an IDX, .npy or image file apart. No printing.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "inputs.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* Deflate cannot expand data by more than about 1032:1; a header declaring more than that much
 * data for its file is lying, and we refuse it before allocating. */
#define GZ_MAX_RATIO 1032

int dci_is_gzip(const uint8_t *b, size_t len)
{
    return len >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

/* ---------------------------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------------------------- */

densecl_status dci_read_file(const char *path, void **bytes, size_t *len)
{
    *bytes = NULL;
    *len = 0;
    FILE *f;
    densecl_status st = dc_fopen_regular(path, NULL, &f);
    if (st != DENSECL_OK) {
        return st;
    }
    struct stat sb;
    char *buf = NULL;
    size_t size = 0;
    if (fstat(fileno(f), &sb) != 0) {
        st = dc_error(DENSECL_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        st = dc_error(DENSECL_ERR_IO, "%s: not a regular file", path);
    } else if ((uint64_t)sb.st_size > DCI_INPUT_MAX_FILE) {
        st = dc_error(DENSECL_ERR_IO, "%s: file too large (%lld bytes)", path,
                      (long long)sb.st_size);
    } else {
        size = (size_t)sb.st_size;
        buf = malloc(size + 1);
        if (!buf) {
            st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory reading %zu bytes", path, size);
        } else if (fread(buf, 1, size, f) != size || ferror(f)) {
            st = dc_error(DENSECL_ERR_IO, "%s: read error", path);
        }
    }
    fclose(f);
    if (st != DENSECL_OK) {
        free(buf);
        return st;
    }
    buf[size] = '\0';
    *bytes = buf;
    *len = size;
    return DENSECL_OK;
}

/* ---------------------------------------------------------------------------------------------
 * gzip (zlib), from memory
 * ------------------------------------------------------------------------------------------- */

typedef struct gz_stream {
    z_stream z;
    int ended; /* every member inflated, no input left */
    const char *what;
} gz_stream;

static densecl_status gz_open(gz_stream *g, const uint8_t *in, size_t len, const char *what)
{
    memset(g, 0, sizeof(*g));
    g->what = what;
    if (len > UINT_MAX) {
        return dc_error(DENSECL_ERR_IO, "%s: gzip file too large", what);
    }
    if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: cannot initialise zlib", what);
    }
    g->z.next_in = (Bytef *)(uintptr_t)in; /* zlib does not write through next_in */
    g->z.avail_in = (uInt)len;
    return DENSECL_OK;
}

static void gz_close(gz_stream *g)
{
    inflateEnd(&g->z);
}

/* Inflates up to n bytes into dst; *got says how many. Stops early only at the end of the data
 * (g->ended) or when the input runs out mid-stream (truncated: neither full nor ended). */
static densecl_status gz_fill(gz_stream *g, uint8_t *dst, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n && !g->ended) {
        size_t want = n - *got;
        g->z.next_out = dst + *got;
        g->z.avail_out = want > UINT_MAX ? UINT_MAX : (uInt)want;
        uInt before = g->z.avail_out;
        int r = inflate(&g->z, Z_NO_FLUSH);
        *got += before - g->z.avail_out;
        if (r == Z_STREAM_END) {
            if (g->z.avail_in == 0) {
                g->ended = 1;
            } else if (dci_is_gzip(g->z.next_in, g->z.avail_in)) {
                inflateReset(&g->z); /* concatenated members, as gzip(1) writes with -c >> */
            } else {
                return dc_error(DENSECL_ERR_FORMAT, "%s: unexpected bytes after the gzip data",
                                g->what);
            }
        } else if (r == Z_BUF_ERROR && before == g->z.avail_out) {
            return DENSECL_OK; /* no progress possible: the input is truncated */
        } else if (r != Z_OK) {
            return dc_error(DENSECL_ERR_FORMAT, "%s: corrupt gzip data: %s", g->what,
                            g->z.msg ? g->z.msg : "inflate failed");
        }
    }
    return DENSECL_OK;
}

/* ---------------------------------------------------------------------------------------------
 * IDX
 * ------------------------------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Checks the 4 magic bytes: 0, 0, type 0x08, ndim 1..4. */
static densecl_status idx_magic(const uint8_t *m, const char *what, int *ndim)
{
    if (m[0] != 0 || m[1] != 0) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: not an IDX file (bad magic number)", what);
    }
    if (m[2] != 0x08) {
        return dc_error(DENSECL_ERR_UNSUPPORTED,
                        "%s: IDX element type 0x%02X is not supported (only unsigned bytes, 0x08)",
                        what, m[2]);
    }
    if (m[3] < 1 || m[3] > 4) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: IDX file with %d dimensions (1 to 4 supported)",
                        what, m[3]);
    }
    *ndim = m[3];
    return DENSECL_OK;
}

/* dims from the big-endian header words and the data size they declare. */
static densecl_status idx_dims(const uint8_t *h, int ndim, const char *what, dci_idx *out)
{
    size_t size = 1;
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        out->dims[i] = be32(h + 4 * i);
        if (!dc_mul_size(size, (size_t)out->dims[i], &size)) {
            return dc_error(DENSECL_ERR_FORMAT, "%s: IDX dimensions overflow", what);
        }
    }
    out->size = size;
    return DENSECL_OK;
}

/* Reads the header (and with data != 0 the data) of a gzip'd IDX file. With items >= 0 and
 * fewer than the header declares, only the first `items` items (along the first dimension) are
 * inflated: dims[0] becomes items, and the rest of the stream is never read. */
static densecl_status idx_gz(const uint8_t *b, size_t len, const char *what, int data,
                             int64_t items, dci_idx *out)
{
    gz_stream g;
    uint8_t head[16];
    size_t got;
    int ndim = 0;
    densecl_status st = gz_open(&g, b, len, what);
    if (st != DENSECL_OK) {
        return st;
    }
    if ((st = gz_fill(&g, head, 4, &got)) != DENSECL_OK) {
        goto done;
    }
    if (got < 4) {
        st = dc_error(DENSECL_ERR_FORMAT, "%s: gzip data too short for an IDX header", what);
        goto done;
    }
    if ((st = idx_magic(head, what, &ndim)) != DENSECL_OK) {
        goto done;
    }
    if ((st = gz_fill(&g, head, 4 * (size_t)ndim, &got)) != DENSECL_OK) {
        goto done;
    }
    if (got < 4 * (size_t)ndim) {
        st = dc_error(DENSECL_ERR_FORMAT, "%s: truncated IDX header", what);
        goto done;
    }
    if ((st = idx_dims(head, ndim, what, out)) != DENSECL_OK || !data) {
        goto done;
    }
    int partial = items >= 0 && items < out->dims[0];
    if (partial) {
        out->size = out->dims[0] ? out->size / (size_t)out->dims[0] * (size_t)items : 0;
        out->dims[0] = items;
    }
    if (out->size / GZ_MAX_RATIO > len) {
        st = dc_error(DENSECL_ERR_FORMAT,
                      "%s: the IDX header declares %zu bytes, more than %zu compressed bytes "
                      "can hold",
                      what, out->size, len);
        goto done;
    }
    out->data = malloc(out->size ? out->size : 1);
    if (!out->data) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory for %zu bytes", what, out->size);
        goto done;
    }
    if ((st = gz_fill(&g, out->data, out->size, &got)) != DENSECL_OK) {
        goto done;
    }
    if (got < out->size) {
        st = dc_error(DENSECL_ERR_FORMAT, "%s: truncated: %zu of the %zu data bytes", what, got,
                      out->size);
        goto done;
    }
    if (partial) {
        goto done; /* what follows is not needed, so neither inflated nor checked */
    }
    uint8_t extra;
    if ((st = gz_fill(&g, &extra, 1, &got)) != DENSECL_OK) {
        goto done;
    }
    if (got > 0) {
        st = dc_error(DENSECL_ERR_FORMAT, "%s: more data than the IDX header declares", what);
    } else if (!g.ended) {
        st = dc_error(DENSECL_ERR_FORMAT, "%s: truncated gzip stream", what);
    }
done:
    gz_close(&g);
    return st;
}

/* Header (and with data != 0 the data, copied) of a raw IDX file. */
static densecl_status idx_raw(const uint8_t *b, size_t len, const char *what, int data,
                              dci_idx *out)
{
    int ndim = 0;
    if (len < 4) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: too short for an IDX header", what);
    }
    densecl_status st = idx_magic(b, what, &ndim);
    if (st != DENSECL_OK) {
        return st;
    }
    size_t head = 4 + 4 * (size_t)ndim;
    if (len < head) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: truncated IDX header", what);
    }
    if ((st = idx_dims(b + 4, ndim, what, out)) != DENSECL_OK || !data) {
        return st;
    }
    if (len - head != out->size) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: %zu data bytes, the IDX header declares %zu", what,
                        len - head, out->size);
    }
    out->data = malloc(out->size ? out->size : 1);
    if (!out->data) {
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory for %zu bytes", what, out->size);
    }
    memcpy(out->data, b + head, out->size);
    return DENSECL_OK;
}

static densecl_status idx_read(const void *bytes, size_t len, const char *what, int data,
                               int64_t items, dci_idx *out)
{
    memset(out, 0, sizeof(*out));
    densecl_status st = dci_is_gzip(bytes, len) ? idx_gz(bytes, len, what, data, items, out)
                                                : idx_raw(bytes, len, what, data, out);
    if (st != DENSECL_OK) {
        dci_idx_free(out);
    }
    return st;
}

densecl_status dci_idx_parse(const void *bytes, size_t len, const char *what, dci_idx *out)
{
    return idx_read(bytes, len, what, 1, -1, out);
}

densecl_status dci_idx_parse_first(const void *bytes, size_t len, const char *what, int64_t items,
                                   dci_idx *out)
{
    return idx_read(bytes, len, what, 1, items < 0 ? 0 : items, out);
}

void dci_idx_free(dci_idx *idx)
{
    if (idx) {
        free(idx->data);
        memset(idx, 0, sizeof(*idx));
    }
}

densecl_status dci_idx_images(const dci_idx *idx, const char *what, int64_t *n, int *h, int *w,
                              int *c)
{
    if (idx->ndim == 1) {
        return dc_error(DENSECL_ERR_INPUT,
                        "%s: an IDX label file, not images (labels go to --truth)", what);
    }
    if (idx->ndim != 3 && idx->ndim != 4) {
        return dc_error(DENSECL_ERR_INPUT,
                        "%s: IDX images must be [N, H, W] or [N, H, W, C], got %d dimensions", what,
                        idx->ndim);
    }
    int64_t ch = idx->ndim == 4 ? idx->dims[3] : 1;
    if (idx->dims[1] < 1 || idx->dims[2] < 1 || ch < 1 || ch > 4) {
        return dc_error(DENSECL_ERR_INPUT, "%s: IDX images of %lldx%lld pixels, %lld channels",
                        what, (long long)idx->dims[1], (long long)idx->dims[2], (long long)ch);
    }
    if ((uint64_t)idx->dims[1] * (uint64_t)idx->dims[2] > DCI_IMAGE_MAX_PIXELS) {
        return dc_error(DENSECL_ERR_INPUT, "%s: IDX images of %lldx%lld pixels are too large", what,
                        (long long)idx->dims[1], (long long)idx->dims[2]);
    }
    *n = idx->dims[0];
    *h = (int)idx->dims[1];
    *w = (int)idx->dims[2];
    *c = (int)ch;
    return DENSECL_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Sniffing
 * ------------------------------------------------------------------------------------------- */

densecl_status dci_npy_peek_shape(const void *prefix, size_t len, const char *what, int64_t *dims,
                                  int *ndim_out)
{
    const uint8_t *b = prefix;
    if (len < NPY_MAGIC_LEN || memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: not a .npy file", what);
    }
    if (len < 10) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: truncated .npy header", what);
    }
    size_t hlen, off;
    if (b[6] == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        off = 10;
    } else if (len >= 12 && (b[6] == 2 || b[6] == 3)) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        off = 12;
    } else {
        return dc_error(DENSECL_ERR_FORMAT, "%s: unsupported .npy version %d.%d", what, b[6], b[7]);
    }
    if (hlen > len - off) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: truncated .npy header", what);
    }
    const char *s = (const char *)b + off, *end = s + hlen;
    const char *p = NULL;
    for (const char *q = s; q + 7 <= end && !p; q++) {
        if (memcmp(q, "'shape'", 7) == 0) {
            p = q + 7;
        }
    }
    int ndim = 0;
    while (p && p < end && (*p == ' ' || *p == ':')) {
        p++;
    }
    if (!p || p >= end || *p != '(') {
        return dc_error(DENSECL_ERR_FORMAT, "%s: .npy header without a shape", what);
    }
    for (p++; p < end && *p != ')';) {
        if (*p == ' ' || *p == ',') {
            p++;
            continue;
        }
        if (*p < '0' || *p > '9' || ndim == 8) {
            return dc_error(DENSECL_ERR_FORMAT, "%s: bad shape in the .npy header", what);
        }
        int64_t v = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            if (v > (INT64_MAX - 9) / 10) {
                return dc_error(DENSECL_ERR_FORMAT, "%s: bad shape in the .npy header", what);
            }
            v = v * 10 + (*p - '0');
        }
        dims[ndim++] = v;
    }
    *ndim_out = ndim;
    return DENSECL_OK;
}

/* Counts the images of a .npy input early, and refuses one whose images are too large from its
 * header, before gigabytes are read; the full validation is dc_npy_read's. */
static densecl_status npy_sniff(const uint8_t *b, size_t len, const char *what, int64_t *count)
{
    int64_t dims[8];
    int ndim = 0;
    densecl_status st = dci_npy_peek_shape(b, len, what, dims, &ndim);
    if (st != DENSECL_OK) {
        return st;
    }
    if (ndim != 4) {
        return dc_error(DENSECL_ERR_INPUT,
                        "%s: a .npy input must be preprocessed float32 [N, C, H, W]; this one "
                        "has %d dimensions",
                        what, ndim);
    }
    if (dims[2] > DCI_PP_MAX_SIDE || dims[3] > DCI_PP_MAX_SIDE) {
        return dc_error(DENSECL_ERR_INPUT,
                        "%s: images of %" PRId64 "x%" PRId64 " pixels: each side must be at most "
                        "%d",
                        what, dims[2], dims[3], DCI_PP_MAX_SIDE);
    }
    *count = dims[0];
    return DENSECL_OK;
}

densecl_status dci_input_sniff(const void *prefix, size_t len, const char *what,
                               dci_input_kind *kind, int64_t *count)
{
    const uint8_t *b = prefix;
    *kind = DCI_INPUT_IMAGE;
    *count = 1;
    if (len >= NPY_MAGIC_LEN && memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) == 0) {
        *kind = DCI_INPUT_NPY;
        return npy_sniff(b, len, what, count);
    }
    /* 00 00 08 is no image format's start (TGA's third byte is its type: 0-3, 9-11). */
    int raw_idx = len >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0x08;
    if (!raw_idx && !dci_is_gzip(b, len)) {
        return DENSECL_OK;
    }
    *kind = DCI_INPUT_IDX;
    dci_idx idx;
    int h, w, c;
    densecl_status st = idx_read(prefix, len, what, 0, -1, &idx);
    if (st == DENSECL_OK) {
        st = dci_idx_images(&idx, what, count, &h, &w, &c);
    }
    return st;
}
