/*
 * inputs.c - decoding classify's inputs and preprocessing them (see inputs.h). No printing.
 *
 * Resizing follows PIL's and torch's antialiased bilinear filter (torch's
 * _compute_indices_weights_aa): a triangle filter whose support grows with the shrink factor,
 * weights normalised per output pixel. Upscaling is then plain bilinear with edge clamping, and an
 * unchanged size is the identity, so one separable path serves every case.
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

#include <stb/stb_image.h>
#include <zlib.h>

#include "inputs.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* Deflate cannot expand data by more than about 1032:1; a header declaring more than that much
 * data for its file is lying, and we refuse it before allocating. */
#define GZ_MAX_RATIO 1032

static int is_gzip(const uint8_t *b, size_t len)
{
    return len >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

/* ---------------------------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------------------------- */

densecl_status dc_read_file(const char *path, void **bytes, size_t *len)
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
    } else if ((uint64_t)sb.st_size > DC_INPUT_MAX_FILE) {
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
            } else if (is_gzip(g->z.next_in, g->z.avail_in)) {
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
static densecl_status idx_dims(const uint8_t *h, int ndim, const char *what, dc_idx *out)
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
                             int64_t items, dc_idx *out)
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
static densecl_status idx_raw(const uint8_t *b, size_t len, const char *what, int data, dc_idx *out)
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
                               int64_t items, dc_idx *out)
{
    memset(out, 0, sizeof(*out));
    densecl_status st = is_gzip(bytes, len) ? idx_gz(bytes, len, what, data, items, out)
                                            : idx_raw(bytes, len, what, data, out);
    if (st != DENSECL_OK) {
        dc_idx_free(out);
    }
    return st;
}

densecl_status dc_idx_parse(const void *bytes, size_t len, const char *what, dc_idx *out)
{
    return idx_read(bytes, len, what, 1, -1, out);
}

densecl_status dc_idx_parse_first(const void *bytes, size_t len, const char *what, int64_t items,
                                  dc_idx *out)
{
    return idx_read(bytes, len, what, 1, items < 0 ? 0 : items, out);
}

void dc_idx_free(dc_idx *idx)
{
    if (idx) {
        free(idx->data);
        memset(idx, 0, sizeof(*idx));
    }
}

densecl_status dc_idx_images(const dc_idx *idx, const char *what, int64_t *n, int *h, int *w,
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
    if ((uint64_t)idx->dims[1] * (uint64_t)idx->dims[2] > DC_IMAGE_MAX_PIXELS) {
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

densecl_status dc_npy_peek_shape(const void *prefix, size_t len, const char *what, int64_t *dims,
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
    densecl_status st = dc_npy_peek_shape(b, len, what, dims, &ndim);
    if (st != DENSECL_OK) {
        return st;
    }
    if (ndim != 4) {
        return dc_error(DENSECL_ERR_INPUT,
                        "%s: a .npy input must be preprocessed float32 [N, C, H, W]; this one "
                        "has %d dimensions",
                        what, ndim);
    }
    if (dims[2] > DC_PP_MAX_SIDE || dims[3] > DC_PP_MAX_SIDE) {
        return dc_error(DENSECL_ERR_INPUT,
                        "%s: images of %" PRId64 "x%" PRId64 " pixels: each side must be at most "
                        "%d",
                        what, dims[2], dims[3], DC_PP_MAX_SIDE);
    }
    *count = dims[0];
    return DENSECL_OK;
}

densecl_status dc_input_sniff(const void *prefix, size_t len, const char *what, dc_input_kind *kind,
                              int64_t *count)
{
    const uint8_t *b = prefix;
    *kind = DC_INPUT_IMAGE;
    *count = 1;
    if (len >= NPY_MAGIC_LEN && memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) == 0) {
        *kind = DC_INPUT_NPY;
        return npy_sniff(b, len, what, count);
    }
    /* 00 00 08 is no image format's start (TGA's third byte is its type: 0-3, 9-11). */
    int raw_idx = len >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0x08;
    if (!raw_idx && !is_gzip(b, len)) {
        return DENSECL_OK;
    }
    *kind = DC_INPUT_IDX;
    dc_idx idx;
    int h, w, c;
    densecl_status st = idx_read(prefix, len, what, 0, -1, &idx);
    if (st == DENSECL_OK) {
        st = dc_idx_images(&idx, what, count, &h, &w, &c);
    }
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Images
 * ------------------------------------------------------------------------------------------- */

/* Byte i, or 0 past the end (as stbi__get8 reads). */
static unsigned byte_at(const uint8_t *b, size_t len, size_t i)
{
    return i < len ? b[i] : 0;
}

/* Two JPEG defects Debian 12's stb_image (v2.27) does not catch, found by
 * tests/fuzz/fuzz_idx_image.c; we walk the markers as stb does and refuse such a file before stb
 * sees it. The walk errs on the side of finding segments: it goes on where stb would stop.
 *  - A DHT segment declaring more than 256 codes in a table: stb fills its 257-entry size list
 *    and 256-entry value list without a bound and writes past the heap object (nothings/stb
 *    #1289, fixed upstream after 2.27). No valid JPEG declares more than 256 codes per table.
 *  - A scan using a Huffman table no DHT segment defined (Motion-JPEG frames leave out the
 *    standard tables, which libjpeg then supplies): stb decodes with whatever its table memory
 *    held, so the pixels are garbage that changes from run to run.
 * Returns NULL for a file to hand to stb, else why it is refused. */
static const char *jpeg_refusal(const uint8_t *b, size_t len)
{
    size_t pos = 0;
    unsigned defined = 0; /* bit class * 4 + id: DC tables 0..3, AC tables 4..7 */
    int huffman = 0, progressive = 0; /* a Huffman SOF (C0 to C2) was seen; progressive */
    while (pos < len && b[pos] == 0xFF) {
        pos++;
    }
    if (pos == 0 || byte_at(b, len, pos) != 0xD8) {
        return NULL; /* no SOI: stb does not take it for a JPEG */
    }
    for (pos++; pos < len;) {
        if (b[pos] != 0xFF) {
            pos++; /* entropy-coded data, or junk stb stops at */
            continue;
        }
        while (pos < len && b[pos] == 0xFF) {
            pos++; /* fill bytes */
        }
        unsigned m = byte_at(b, len, pos++);
        if (m == 0xD9) {
            return NULL; /* EOI */
        }
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {
            continue; /* stuffed 0xFF, TEM, RSTn, SOI: no length */
        }
        size_t seg = byte_at(b, len, pos) << 8 | byte_at(b, len, pos + 1);
        if (seg < 2) {
            continue;
        }
        if (m >= 0xC0 && m <= 0xC2) {
            huffman = 1;
            progressive = m == 0xC2;
        } else if (m == 0xC4) {
            size_t p = pos + 2, end = pos + seg;
            while (p < end) {
                unsigned tc_th = byte_at(b, len, p), n = 0;
                for (size_t i = 0; i < 16; i++) {
                    n += byte_at(b, len, p + 1 + i);
                }
                if (n > 256) {
                    return "corrupt JPEG: a Huffman table declares more than 256 codes";
                }
                if ((tc_th >> 4) <= 1 && (tc_th & 15) <= 3) {
                    defined |= 1u << ((tc_th >> 4) * 4 + (tc_th & 15));
                }
                p += 17 + n;
            }
        } else if (m == 0xDA && huffman) {
            /* (Other SOFs, lossless or arithmetic-coded, are stb's to refuse.) */
            /* Ns, then (component, DC table << 4 | AC table) for each, then Ss, Se, Ah/Al. A
             * progressive scan uses the DC tables when Ss = 0 and Ah = 0 (a first DC scan), the
             * AC tables when Ss > 0; a baseline scan uses both. */
            unsigned ns = byte_at(b, len, pos + 2);
            unsigned ss = byte_at(b, len, pos + 3 + 2 * ns);
            unsigned ah = byte_at(b, len, pos + 5 + 2 * ns) >> 4;
            int dc = !progressive || (ss == 0 && ah == 0), ac = !progressive || ss > 0;
            for (unsigned c = 0; c < ns; c++) {
                unsigned t = byte_at(b, len, pos + 4 + 2 * c);
                if ((dc && (t >> 4) <= 3 && !(defined >> (t >> 4) & 1)) ||
                    (ac && (t & 15) <= 3 && !(defined >> (4 + (t & 15)) & 1))) {
                    return "a JPEG scan uses a Huffman table the file does not define (a "
                           "Motion-JPEG frame?), which densecl cannot decode";
                }
            }
        }
        pos += seg; /* SOS included: its entropy-coded data follows, scanned byte by byte */
    }
    return NULL;
}

/* stb_image 2.27 grows its PNG data buffer to a chunk's declared length before reading it: a
 * 60-byte file whose second IDAT chunk declares 2^30 bytes makes it allocate 2 GiB (found by
 * tests/fuzz/fuzz_idx_image.c). A chunk cannot hold more bytes than the file has, so we walk the
 * chunks up to IEND and refuse the file at the first one that runs past the end. Returns the
 * offset of that chunk, or 0 for a file to hand to stb (not a PNG, or every chunk fits). */
static size_t png_chunk_past_end(const uint8_t *b, size_t len, uint32_t *declared, size_t *left)
{
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (len < 8 || memcmp(b, sig, 8) != 0) {
        return 0;
    }
    for (size_t pos = 8; len - pos >= 8;) {
        uint32_t n = be32(b + pos);
        if (n > len - pos - 8) {
            *declared = n;
            *left = len - pos - 8;
            return pos;
        }
        if (memcmp(b + pos + 4, "IEND", 4) == 0) {
            break;
        }
        pos += 8 + (size_t)n;
        pos += len - pos < 4 ? len - pos : 4; /* the CRC; stb reads a missing one as 0 */
    }
    return 0;
}

densecl_status dc_image_info(const void *bytes, size_t len, const char *what, int *width,
                             int *height, int *channels)
{
    const stbi_uc *b = bytes;
    *width = *height = *channels = 0;
    if (len > INT_MAX) {
        return dc_error(DENSECL_ERR_INPUT, "%s: image file too large", what);
    }
    const char *jpeg = jpeg_refusal(b, len);
    if (jpeg) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: %s", what, jpeg);
    }
    uint32_t declared = 0;
    size_t left = 0, at = png_chunk_past_end(b, len, &declared, &left);
    if (at) {
        char type[5] = "????";
        for (int i = 0; i < 4; i++) {
            if (isalpha(b[at + 4 + i])) {
                type[i] = (char)b[at + 4 + i];
            }
        }
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: corrupt or truncated PNG: chunk %s at byte %zu declares %" PRIu32
                        " bytes, only %zu follow",
                        what, type, at, declared, left);
    }
    if (!stbi_info_from_memory(b, (int)len, width, height, channels)) {
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: not an image densecl can read (PNG, JPEG, BMP, GIF, TGA, PSD, HDR, "
                        "PIC, PNM), an IDX file or a .npy file: %s",
                        what, stbi_failure_reason());
    }
    if (*width < 1 || *height < 1) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: corrupt or truncated image (%dx%d pixels)", what,
                        *width, *height);
    }
    return DENSECL_OK;
}

densecl_status dc_image_check_header(const void *prefix, size_t len, const char *what)
{
    int w = 0, h = 0, c = 0;
    /* Only stb's size reading, behind the same JPEG guard as dc_image_info; the PNG chunk walk
     * is left out: a prefix ends mid-chunk. A header that does not parse here is left to the
     * full decode to judge. */
    if (len > INT_MAX || jpeg_refusal(prefix, len) ||
        !stbi_info_from_memory(prefix, (int)len, &w, &h, &c) || w < 1 || h < 1) {
        return DENSECL_OK;
    }
    if ((uint64_t)w * (uint64_t)h > DC_IMAGE_MAX_PIXELS) {
        return dc_error(DENSECL_ERR_INPUT, "%s: a %dx%d image is too large (over %zu pixels)", what,
                        w, h, DC_IMAGE_MAX_PIXELS);
    }
    return DENSECL_OK;
}

densecl_status dc_image_decode(const void *bytes, size_t len, const char *what, dc_image *out)
{
    int w = 0, h = 0, c = 0;
    const stbi_uc *b = bytes;
    memset(out, 0, sizeof(*out));
    densecl_status st = dc_image_info(bytes, len, what, &w, &h, &c);
    if (st != DENSECL_OK) {
        return st;
    }
    if ((uint64_t)w * (uint64_t)h > DC_IMAGE_MAX_PIXELS) {
        return dc_error(DENSECL_ERR_INPUT, "%s: a %dx%d image is too large (over %zu pixels)", what,
                        w, h, DC_IMAGE_MAX_PIXELS);
    }
    int sixteen = stbi_is_16_bit_from_memory(b, (int)len);
    void *px = sixteen ? (void *)stbi_load_16_from_memory(b, (int)len, &w, &h, &c, 0)
                       : (void *)stbi_load_from_memory(b, (int)len, &w, &h, &c, 0);
    if (!px) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: corrupt or truncated image (stb_image: %s)", what,
                        stbi_failure_reason());
    }
    if (c < 1 || c > 4) {
        stbi_image_free(px);
        return dc_error(DENSECL_ERR_INPUT, "%s: image with %d channels", what, c);
    }
    out->owned = px;
    out->px.data = px;
    out->px.bits = sixteen ? 16 : 8;
    out->px.width = w;
    out->px.height = h;
    out->px.channels = c;
    return DENSECL_OK;
}

void dc_image_free(dc_image *im)
{
    if (im) {
        stbi_image_free(im->owned);
        memset(im, 0, sizeof(*im));
    }
}

/* ---------------------------------------------------------------------------------------------
 * Preprocessing: parameters
 * ------------------------------------------------------------------------------------------- */

void dc_preprocess_imagenet(dc_preprocess *out)
{
    static const float mean[3] = {0.485f, 0.456f, 0.406f};
    static const float std[3] = {0.229f, 0.224f, 0.225f};
    memset(out, 0, sizeof(*out));
    out->channels = 3;
    out->height = out->width = 224;
    out->resize = 256;
    out->crop_h = out->crop_w = 224;
    memcpy(out->mean, mean, sizeof(mean));
    memcpy(out->std, std, sizeof(std));
}

/* An integer side in [1, DC_PP_MAX_SIDE]. */
static int pp_side(const dc_json *j, int *out)
{
    if (!dc_json_is_integer(j) || j->number < 1 || j->number > DC_PP_MAX_SIDE) {
        return 0;
    }
    *out = (int)j->number;
    return 1;
}

/* key: absent/null (sizes left 0), an int (h = w = it, *single = 1) or [h, w]. */
static densecl_status pp_size(const dc_json *root, const char *key, const char *what, int *h,
                              int *w, int *single)
{
    const dc_json *j = dc_json_get(root, key);
    *h = *w = 0;
    *single = 0;
    if (!j || j->type == DC_JSON_NULL) {
        return DENSECL_OK;
    }
    if (pp_side(j, h)) {
        *w = *h;
        *single = 1;
        return DENSECL_OK;
    }
    if (j->type == DC_JSON_ARRAY && j->count == 2 && pp_side(&j->items[0], h) &&
        pp_side(&j->items[1], w)) {
        return DENSECL_OK;
    }
    *h = *w = 0;
    return dc_error(DENSECL_ERR_FORMAT,
                    "%s: densecl.preprocess: \"%s\" must be null, an integer or [height, width] "
                    "in [1, %d]",
                    what, key, DC_PP_MAX_SIDE);
}

/* mean or std: absent (fill), a number, or an array of 1 or `channels` numbers. */
static densecl_status pp_vector(const dc_json *root, const char *key, int channels, float fill,
                                const char *what, float *out)
{
    const dc_json *j = dc_json_get(root, key);
    for (int c = 0; c < 3; c++) {
        out[c] = fill;
    }
    if (!j) {
        return DENSECL_OK;
    }
    const dc_json *items = j;
    int count = 1;
    if (j->type == DC_JSON_ARRAY) {
        items = j->items;
        count = j->count;
    }
    if (count != 1 && count != channels) {
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: densecl.preprocess: \"%s\" has %d values for %d channels", what, key,
                        count, channels);
    }
    /* The range is checked on the float that is used, not on the double that was parsed: 6.7e95
     * is a finite double but +Inf as a float, and 1e-300 is above 0 but 0.0f as a float. */
    int is_std = strcmp(key, "std") == 0;
    for (int c = 0; c < channels; c++) {
        const dc_json *v = &items[count == 1 ? 0 : c];
        if (v->type != DC_JSON_NUMBER) {
            return dc_error(DENSECL_ERR_FORMAT, "%s: densecl.preprocess: \"%s\" must hold numbers",
                            what, key);
        }
        float f = (float)v->number;
        if (is_std ? !(isnormal(f) && f > 0.0f) : !isfinite(f)) {
            return dc_error(DENSECL_ERR_FORMAT,
                            "%s: densecl.preprocess: \"%s\" value %.9g is not %s", what, key,
                            v->number,
                            is_std ? "a normal positive float (above 1.2e-38, below 3.4e38)"
                                   : "a finite float (within +-3.4e38)");
        }
        out[c] = f;
    }
    return DENSECL_OK;
}

static densecl_status pp_fields(const dc_json *root, const densecl_config *cfg, const char *what,
                                dc_preprocess *out)
{
    densecl_status st;
    int single, h, w;
    const dc_json *j;
    if (root->type != DC_JSON_OBJECT) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: densecl.preprocess is not a JSON object", what);
    }
    out->channels = cfg->in_channels;
    if ((j = dc_json_get(root, "channels")) && j->type != DC_JSON_NULL) {
        if (j->type != DC_JSON_NUMBER || j->number != cfg->in_channels) {
            return dc_error(DENSECL_ERR_MISMATCH,
                            "%s: densecl.preprocess gives %g channels, the model has %d", what,
                            j->type == DC_JSON_NUMBER ? j->number : -1.0, cfg->in_channels);
        }
    }
    if (out->channels != 1 && out->channels != 3) {
        return dc_error(DENSECL_ERR_UNSUPPORTED,
                        "%s: the model takes %d channels; images can only feed 1- or 3-channel "
                        "models (pass preprocessed .npy input instead)",
                        what, out->channels);
    }
    if ((j = dc_json_get(root, "interpolation")) && j->type != DC_JSON_NULL &&
        (j->type != DC_JSON_STRING || strcmp(j->string, "bilinear") != 0)) {
        return dc_error(DENSECL_ERR_UNSUPPORTED,
                        "%s: densecl.preprocess: only \"bilinear\" interpolation is supported",
                        what);
    }
    if ((st = pp_size(root, "resize", what, &h, &w, &single)) != DENSECL_OK) {
        return st;
    }
    out->resize = single ? h : 0;
    out->resize_h = single ? 0 : h;
    out->resize_w = single ? 0 : w;
    if ((st = pp_size(root, "crop", what, &out->crop_h, &out->crop_w, &single)) != DENSECL_OK) {
        return st;
    }
    const dc_json *jh = dc_json_get(root, "height"), *jw = dc_json_get(root, "width");
    int have_h = jh && jh->type != DC_JSON_NULL, have_w = jw && jw->type != DC_JSON_NULL;
    if (have_h != have_w || (have_h && (!pp_side(jh, &out->height) || !pp_side(jw, &out->width)))) {
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: densecl.preprocess: \"height\" and \"width\" must both be integers "
                        "in [1, %d] or both be absent",
                        what, DC_PP_MAX_SIDE);
    }
    if (!have_h) {
        out->height = out->crop_h ? out->crop_h : out->resize_h;
        out->width = out->crop_w ? out->crop_w : out->resize_w;
    }
    if (out->height == 0) {
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: densecl.preprocess gives neither height/width nor a crop size, so "
                        "the model's input size is unknown",
                        what);
    }
    if ((st = pp_vector(root, "mean", out->channels, 0.0f, what, out->mean)) != DENSECL_OK) {
        return st;
    }
    return pp_vector(root, "std", out->channels, 1.0f, what, out->std);
}

densecl_status dc_preprocess_parse(const char *json, const densecl_config *cfg, const char *what,
                                   dc_preprocess *out)
{
    dc_json root;
    char where[512];
    memset(out, 0, sizeof(*out));
    snprintf(where, sizeof(where), "%s: densecl.preprocess", what);
    densecl_status st = dc_json_parse(json, strlen(json), where, &root);
    if (st != DENSECL_OK) {
        return st;
    }
    st = pp_fields(&root, cfg, what, out);
    dc_json_free(&root);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Preprocessing: resampling
 * ------------------------------------------------------------------------------------------- */

/* Filter taps of a 1-D resize from n_in to n_out samples: output i reads inputs
 * start[i] .. start[i] + count[i] - 1 with weights w[off[i] ..]. start and start + count never
 * decrease with i, which the streaming vertical pass relies on. */
typedef struct taps {
    int *start, *count;
    size_t *off;
    float *w;
} taps;

static void taps_free(taps *t)
{
    free(t->start);
    free(t->count);
    free(t->off);
    free(t->w);
}

static int taps_make(int n_in, int n_out, taps *t)
{
    double scale = (double)n_in / n_out;
    double support = scale >= 1.0 ? scale : 1.0; /* bilinear's 1 pixel, widened to shrink */
    double inv = scale >= 1.0 ? 1.0 / scale : 1.0;
    size_t total = 0;
    memset(t, 0, sizeof(*t));
    t->start = malloc((size_t)n_out * sizeof(int));
    t->count = malloc((size_t)n_out * sizeof(int));
    t->off = malloc((size_t)n_out * sizeof(size_t));
    if (!t->start || !t->count || !t->off) {
        taps_free(t);
        return 0;
    }
    for (int i = 0; i < n_out; i++) {
        double center = scale * (i + 0.5);
        /* torch truncates toward zero; clamping at 0 makes that a floor */
        int lo = (int)(center - support + 0.5);
        int hi = (int)(center + support + 0.5);
        lo = lo < 0 ? 0 : lo;
        hi = hi > n_in ? n_in : hi;
        t->start[i] = lo;
        t->count[i] = hi - lo;
        t->off[i] = total;
        total += (size_t)(hi - lo);
    }
    if (!(t->w = malloc((total ? total : 1) * sizeof(float)))) {
        taps_free(t);
        return 0;
    }
    for (int i = 0; i < n_out; i++) {
        double center = scale * (i + 0.5), sum = 0.0;
        float *w = t->w + t->off[i];
        for (int j = 0; j < t->count[i]; j++) {
            double x = fabs((j + t->start[i] - center + 0.5) * inv);
            w[j] = (float)(x < 1.0 ? 1.0 - x : 0.0);
            sum += w[j];
        }
        for (int j = 0; j < t->count[i] && sum > 0.0; j++) {
            w[j] = (float)(w[j] / sum);
        }
    }
    return 1;
}

/* Where rows come from: decoded pixels (converted to k channels on the fly) or float planes. */
typedef struct plane_src {
    const dc_pixels *px; /* or NULL: */
    const float *planes; /* [k, h, w] */
    int k, h, w;
} plane_src;

static float sample(const dc_pixels *px, size_t i)
{
    if (px->bits == 16) {
        return ((const uint16_t *)px->data)[i] * (1.0f / 65535.0f);
    }
    return ((const uint8_t *)px->data)[i] * (1.0f / 255.0f);
}

/* Row y of every channel: row[c * w + x]. */
static void src_row(const plane_src *s, int y, float *row)
{
    size_t w = (size_t)s->w;
    if (!s->px) {
        for (int c = 0; c < s->k; c++) {
            memcpy(row + c * w, s->planes + ((size_t)c * (size_t)s->h + (size_t)y) * w,
                   w * sizeof(float));
        }
        return;
    }
    int nc = s->px->channels;
    size_t base = (size_t)y * w * (size_t)nc;
    for (size_t x = 0; x < w; x++) {
        size_t i = base + x * (size_t)nc;
        if (nc <= 2) {
            row[x] = sample(s->px, i); /* grey (alpha dropped); k is 1 */
            continue;
        }
        float r = sample(s->px, i), g = sample(s->px, i + 1), b = sample(s->px, i + 2);
        if (s->k == 1) {
            row[x] = 0.299f * r + 0.587f * g + 0.114f * b; /* ITU-R 601 luma, as PIL's "L" */
        } else {
            row[x] = r;
            row[w + x] = g;
            row[2 * w + x] = b;
        }
    }
}

/* Resamples s into out, [k, oh, ow]. Each input row is read once, filtered horizontally, and
 * added into the few output rows whose vertical taps use it, so memory stays at one row whatever
 * the image's shape. */
static densecl_status resample(const plane_src *s, int oh, int ow, float *out, const char *what)
{
    densecl_status st = DENSECL_OK;
    size_t k = (size_t)s->k, plane = (size_t)oh * (size_t)ow;
    taps th = {0}, tv = {0};
    float *row = malloc(k * (size_t)s->w * sizeof(float));
    float *hrow = malloc(k * (size_t)ow * sizeof(float));
    if (!row || !hrow || !taps_make(s->w, ow, &th) || !taps_make(s->h, oh, &tv)) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory resizing to %dx%d", what, ow, oh);
        goto done;
    }
    memset(out, 0, k * plane * sizeof(float));
    for (int y = 0, first = 0; y < s->h; y++) {
        while (first < oh && tv.start[first] + tv.count[first] <= y) {
            first++;
        }
        if (first == oh || tv.start[first] > y) {
            continue; /* no output row reads this one */
        }
        src_row(s, y, row);
        for (size_t c = 0; c < k; c++) {
            const float *in = row + c * (size_t)s->w;
            for (int x = 0; x < ow; x++) {
                const float *w = th.w + th.off[x], *p = in + th.start[x];
                float acc = 0.0f;
                for (int j = 0; j < th.count[x]; j++) {
                    acc += w[j] * p[j];
                }
                hrow[c * (size_t)ow + (size_t)x] = acc;
            }
        }
        for (int o = first; o < oh && tv.start[o] <= y; o++) {
            float wv = tv.w[tv.off[o] + (size_t)(y - tv.start[o])];
            for (size_t c = 0; c < k; c++) {
                float *dst = out + c * plane + (size_t)o * (size_t)ow;
                const float *src = hrow + c * (size_t)ow;
                for (int x = 0; x < ow; x++) {
                    dst[x] += wv * src[x];
                }
            }
        }
    }
done:
    taps_free(&th);
    taps_free(&tv);
    free(row);
    free(hrow);
    return st;
}

/* torchvision's centre offset: round((size - crop) / 2) with Python's round-half-to-even, or,
 * for a crop larger than the image, minus the left/top zero padding (crop - size) // 2. */
static int crop_offset(int size, int crop)
{
    if (crop > size) {
        return -((crop - size) / 2);
    }
    int d = size - crop, m = d / 2;
    return d % 2 == 0 || m % 2 == 0 ? m : m + 1;
}

/* The centre ch x cw window of s into out [k, ch, cw], zeros outside the image. */
static densecl_status crop_planes(const plane_src *s, int ch, int cw, float *out, const char *what)
{
    int top = crop_offset(s->h, ch), left = crop_offset(s->w, cw);
    size_t k = (size_t)s->k, plane = (size_t)ch * (size_t)cw;
    float *row = malloc(k * (size_t)s->w * sizeof(float));
    if (!row) {
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory cropping", what);
    }
    memset(out, 0, k * plane * sizeof(float));
    for (int y = 0; y < ch; y++) {
        int sy = y + top;
        if (sy < 0 || sy >= s->h) {
            continue;
        }
        src_row(s, sy, row);
        for (size_t c = 0; c < k; c++) {
            float *o = out + c * plane + (size_t)y * (size_t)cw;
            for (int x = 0; x < cw; x++) {
                int sx = x + left;
                if (sx >= 0 && sx < s->w) {
                    o[x] = row[c * (size_t)s->w + (size_t)sx];
                }
            }
        }
    }
    free(row);
    return DENSECL_OK;
}

/* The size after the resize step: shorter side to pp->resize (the longer one scaled and
 * truncated, as torchvision does), or the exact resize size, or unchanged. */
static densecl_status resize_size(const dc_preprocess *pp, int h, int w, const char *what, int *rh,
                                  int *rw)
{
    int64_t oh = h, ow = w;
    if (pp->resize > 0) {
        if (w <= h) {
            ow = pp->resize;
            oh = (int64_t)pp->resize * h / w;
        } else {
            oh = pp->resize;
            ow = (int64_t)pp->resize * w / h;
        }
    } else if (pp->resize_h > 0) {
        oh = pp->resize_h;
        ow = pp->resize_w;
    } else {
        *rh = h;
        *rw = w;
        return DENSECL_OK;
    }
    if (oh < 1 || ow < 1 || oh > DC_PP_MAX_SIDE || ow > DC_PP_MAX_SIDE) {
        return dc_error(DENSECL_ERR_INPUT,
                        "%s: resizing the %dx%d image gives %lldx%lld, a side out of [1, %d]", what,
                        w, h, (long long)ow, (long long)oh, DC_PP_MAX_SIDE);
    }
    *rh = (int)oh;
    *rw = (int)ow;
    return DENSECL_OK;
}

/* Replaces *cur by h x w planes made from it (a crop, or a resample), owned through *owned. */
static densecl_status stage(plane_src *cur, float **owned, int h, int w, int crop, const char *what)
{
    float *next = malloc((size_t)cur->k * (size_t)h * (size_t)w * sizeof(float));
    if (!next) {
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory preprocessing", what);
    }
    densecl_status st = crop ? crop_planes(cur, h, w, next, what) : resample(cur, h, w, next, what);
    if (st != DENSECL_OK) {
        free(next);
        return st;
    }
    free(*owned);
    *owned = next;
    cur->px = NULL;
    cur->planes = next;
    cur->h = h;
    cur->w = w;
    return DENSECL_OK;
}

densecl_status dc_preprocess_run(const dc_preprocess *pp, const dc_pixels *px, const char *what,
                                 float *out)
{
    /* Channel conversion happens as pixels are read; grey stays one plane until the end. */
    int k = pp->channels == 1 || px->channels <= 2 ? 1 : 3;
    plane_src cur = {px, NULL, k, px->height, px->width};
    float *owned = NULL, *row = NULL;
    int rh = 0, rw = 0;
    densecl_status st = resize_size(pp, px->height, px->width, what, &rh, &rw);
    if (st == DENSECL_OK && (rh != cur.h || rw != cur.w)) {
        st = stage(&cur, &owned, rh, rw, 0, what);
    }
    int ch = pp->crop_h ? pp->crop_h : cur.h, cw = pp->crop_w ? pp->crop_w : cur.w;
    if (st == DENSECL_OK && (ch != cur.h || cw != cur.w)) {
        st = stage(&cur, &owned, ch, cw, 1, what);
    }
    if (st == DENSECL_OK && (pp->height != cur.h || pp->width != cur.w)) {
        st = stage(&cur, &owned, pp->height, pp->width, 0, what);
    }
    if (st == DENSECL_OK && !(row = malloc((size_t)k * (size_t)cur.w * sizeof(float)))) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory preprocessing", what);
    }
    if (st != DENSECL_OK) {
        free(owned);
        return st;
    }
    /* Normalise, replicating grey into every channel the model has. */
    size_t w = (size_t)pp->width, hw = (size_t)pp->height * w;
    for (int y = 0; y < pp->height; y++) {
        src_row(&cur, y, row);
        for (int c = 0; c < pp->channels; c++) {
            const float *in = row + (k == 1 ? 0 : (size_t)c * w);
            float *o = out + (size_t)c * hw + (size_t)y * w;
            float mean = pp->mean[c], std = pp->std[c];
            for (size_t x = 0; x < w; x++) {
                o[x] = (in[x] - mean) / std;
            }
        }
    }
    free(row);
    free(owned);
    return DENSECL_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Labels and class names
 * ------------------------------------------------------------------------------------------- */

static densecl_status truth_text(const char *s, size_t len, const char *what, int classes,
                                 int **labels, int64_t *count)
{
    size_t cap = 0, n = 0;
    int *out = NULL;
    size_t line = 0;
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && s[end] != '\n') {
            end++;
        }
        line++;
        size_t a = i, z = end;
        while (a < z && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r')) {
            a++;
        }
        while (z > a && (s[z - 1] == ' ' || s[z - 1] == '\t' || s[z - 1] == '\r')) {
            z--;
        }
        i = end + 1;
        if (a == z) {
            continue;
        }
        long v = 0;
        size_t p = a;
        for (; p < z && s[p] >= '0' && s[p] <= '9' && v <= INT_MAX; p++) {
            v = v * 10 + (s[p] - '0');
        }
        if (p != z || v >= classes) {
            free(out);
            return dc_error(DENSECL_ERR_FORMAT,
                            "%s: line %zu: '%.*s' is not a class id in [0, %d) (want one class "
                            "id per line, or an IDX label file)",
                            what, line, (int)(z - a > 40 ? 40 : z - a), s + a, classes);
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            int *grown = realloc(out, cap * sizeof(int));
            if (!grown) {
                free(out);
                return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", what);
            }
            out = grown;
        }
        out[n++] = (int)v;
    }
    if (n == 0) {
        free(out);
        return dc_error(DENSECL_ERR_FORMAT, "%s: holds no labels", what);
    }
    *labels = out;
    *count = (int64_t)n;
    return DENSECL_OK;
}

densecl_status dc_truth_parse(const void *bytes, size_t len, const char *what, int classes,
                              int **labels, int64_t *count)
{
    const uint8_t *b = bytes;
    *labels = NULL;
    *count = 0;
    if (!is_gzip(b, len) && !(len >= 3 && b[0] == 0 && b[1] == 0 && b[2] == 0x08)) {
        return truth_text(bytes, len, what, classes, labels, count);
    }
    dc_idx idx;
    densecl_status st = dc_idx_parse(bytes, len, what, &idx);
    if (st != DENSECL_OK) {
        return st;
    }
    if (idx.ndim != 1 || idx.size == 0) {
        dc_idx_free(&idx);
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: not an IDX label file (want 1 dimension, magic 0x00000801)", what);
    }
    int *out = malloc(idx.size * sizeof(int));
    if (!out) {
        dc_idx_free(&idx);
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", what);
    }
    for (size_t i = 0; i < idx.size; i++) {
        if (idx.data[i] >= classes) {
            st = dc_error(DENSECL_ERR_FORMAT, "%s: label %zu is %d, the model has %d classes", what,
                          i, idx.data[i], classes);
            free(out);
            dc_idx_free(&idx);
            return st;
        }
        out[i] = idx.data[i];
    }
    *labels = out;
    *count = (int64_t)idx.size;
    dc_idx_free(&idx);
    return DENSECL_OK;
}

void dc_names_free(char **names, int classes)
{
    if (names) {
        for (int i = 0; i < classes; i++) {
            free(names[i]);
        }
        free(names);
    }
}

static char *dup_range(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

densecl_status dc_names_parse_json(const char *json, int classes, const char *what, char ***names)
{
    dc_json root;
    *names = NULL;
    if (classes < 1) {
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: %d classes", what, classes);
    }
    densecl_status st = dc_json_parse(json, strlen(json), what, &root);
    if (st != DENSECL_OK) {
        return st;
    }
    if (root.type != DC_JSON_ARRAY || root.count != classes) {
        st = dc_error(DENSECL_ERR_FORMAT, "%s: want a JSON array of %d class names", what, classes);
        goto done;
    }
    for (int i = 0; i < classes; i++) {
        if (root.items[i].type != DC_JSON_STRING) {
            st = dc_error(DENSECL_ERR_FORMAT, "%s: class name %d is not a string", what, i);
            goto done;
        }
    }
    char **out = calloc((size_t)classes, sizeof(char *));
    if (!out) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", what);
        goto done;
    }
    for (int i = 0; i < classes; i++) {
        const char *s = root.items[i].string;
        if (!(out[i] = dup_range(s, strlen(s)))) {
            dc_names_free(out, classes);
            st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", what);
            goto done;
        }
    }
    *names = out;
done:
    dc_json_free(&root);
    return st;
}

densecl_status dc_names_parse_text(const char *text, size_t len, int classes, const char *what,
                                   char ***names)
{
    *names = NULL;
    if (classes < 1) {
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: %d classes", what, classes);
    }
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) {
        lines += text[i] == '\n';
    }
    lines += len > 0 && text[len - 1] != '\n'; /* a last line without its newline */
    if (lines != (size_t)classes) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: %zu lines, want one name for each of %d classes",
                        what, lines, classes);
    }
    char **out = calloc((size_t)classes, sizeof(char *));
    if (!out) {
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", what);
    }
    size_t pos = 0;
    for (int i = 0; i < classes; i++) {
        size_t end = pos;
        while (end < len && text[end] != '\n') {
            end++;
        }
        size_t n = end - pos;
        if (n > 0 && text[pos + n - 1] == '\r') {
            n--;
        }
        if (memchr(text + pos, '\0', n) || !(out[i] = dup_range(text + pos, n))) {
            dc_names_free(out, classes);
            return dc_error(DENSECL_ERR_FORMAT, "%s: line %d: bad class name", what, i + 1);
        }
        pos = end + 1;
    }
    *names = out;
    return DENSECL_OK;
}
