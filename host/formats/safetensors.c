/* SPDX-License-Identifier: MIT */
/* safetensors.c - the safetensors format: reader, dtype conversion to float32, canonical key
 * names and the tensor set (the writer: safetensors_write.c).
 *
 * The reader is as strict as huggingface's reference implementation (and a little stricter:
 * unknown fields and dtypes are refused), because these files come from anywhere and the
 * reader is fuzzed: every size read from a file goes through dc_mul_size/dc_add_size. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/formats.h"
#define ST_MAX_HEADER 100000000u          /* the reference implementation's limit */
#define ST_EXACT_LIMIT 9007199254740992.0 /* 2^53: JSON numbers above are not exact doubles */

static const struct {
    const char *name;
    dc_dtype dtype;
    size_t size;
} st_dtypes[] = {
    {"F32", DC_F32, 4}, {"F16", DC_F16, 2},   {"BF16", DC_BF16, 2}, {"F64", DC_F64, 8},
    {"I64", DC_I64, 8}, {"I32", DC_I32, 4},   {"I16", DC_I16, 2},   {"I8", DC_I8, 1},
    {"U8", DC_U8, 1},   {"BOOL", DC_BOOL, 1},
};

const char *dc_dtype_name(dc_dtype d)
{
    for (size_t i = 0; i < DC_ARRAY_LEN(st_dtypes); i++)
        if (st_dtypes[i].dtype == d)
            return st_dtypes[i].name;
    return "OTHER";
}

/* ------------------------------------------------------------------ dtype conversion */

static float st_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE half -> float, exactly: subnormals, signed zeros, infinities and NaN payloads kept. */
float dc_f16_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    if (exp == 0x1F)
        return st_bits_f32(sign | 0x7F800000u | mant << 13);
    if (exp != 0)
        return st_bits_f32(sign | (exp + 112) << 23 | mant << 13);
    /* Zero or subnormal: mant * 2^-24 is exact in float. */
    float v = (float)mant * 0x1p-24f;
    return sign ? -v : v;
}

/* 1 where the host stores a uint32_t least significant byte first, as safetensors does. */
static int st_host_le(void)
{
    const uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* Converts count values to float. Returns count, or the index of the first F64 value that is
 * finite but beyond float's range (conversion would make it infinite: refused, not invented).
 * F32 on a little-endian host is a copy of the bytes: value by value through dc_load_le it was
 * an eighth of a warm `densecl run` of DenseNet-161 (115 MB of weights). */
static size_t st_convert(dc_dtype dtype, const unsigned char *src, size_t count, float *dst)
{
    if (dtype == DC_F32 && st_host_le()) {
        memcpy(dst, src, count * sizeof(float));
        return count;
    }
    for (size_t i = 0; i < count; i++) {
        switch (dtype) {
        case DC_F32:
            dst[i] = st_bits_f32((uint32_t)dc_load_le(src + 4 * i, 4));
            break;
        case DC_F16:
            dst[i] = dc_f16_to_float((uint16_t)dc_load_le(src + 2 * i, 2));
            break;
        case DC_BF16:
            /* bfloat16 is the high half of a float32. */
            dst[i] = st_bits_f32((uint32_t)dc_load_le(src + 2 * i, 2) << 16);
            break;
        default: { /* DC_F64 */
            uint64_t u = dc_load_le(src + 8 * i, 8);
            double d;
            memcpy(&d, &u, sizeof d);
            /* Rounded to nearest, from (2 - 2^-24) * 2^127 on (halfway between FLT_MAX and
             * the next power of two) a double becomes infinity as a float. */
            if (isfinite(d) && fabs(d) >= 0x1.ffffffp+127)
                return i;
            dst[i] = (float)d;
            break;
        }
        }
    }
    return count;
}

static int st_is_float(dc_dtype d)
{
    return d == DC_F32 || d == DC_F16 || d == DC_BF16 || d == DC_F64;
}

/* ------------------------------------------------------------------ key names */

static int st_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static char *st_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Canonical torchvision name: drops DataParallel's "module." and maps the old .pth names of
 * dense layers ("denselayer1.norm.1.weight" -> "denselayer1.norm1.weight"), as torchvision's
 * own loader does. malloc'd; NULL when out of memory. */
static char *st_map_key(const char *key)
{
    if (strncmp(key, "module.", 7) == 0)
        key += 7;
    char *k = st_strdup(key);
    if (!k || !strstr(k, "denselayer"))
        return k;
    for (char *p = k; *p; p++) {
        if ((p == k || p[-1] == '.') &&
            (strncmp(p, "norm.", 5) == 0 || strncmp(p, "conv.", 5) == 0) &&
            (p[5] == '1' || p[5] == '2') && p[6] == '.')
            memmove(p + 4, p + 5, strlen(p + 5) + 1);
    }
    return k;
}

/* ------------------------------------------------------------------ safetensors reader */

typedef struct st_entry {
    const char *name; /* the key in the file (points into the parsed JSON) */
    dc_dtype dtype;
    int ndim;
    int64_t shape[DC_TENSOR_MAX_NDIM];
    size_t begin, end, count;
} st_entry;

/* A JSON number that is an exact non-negative integer; 0 with *neg set for a negative one. */
static int st_uint(const dc_json *v, uint64_t *out, int *neg)
{
    *neg = 0;
    if (!dc_json_is_integer(v))
        return 0;
    if (v->number < 0) {
        *neg = 1;
        return 0;
    }
    if (v->number >= ST_EXACT_LIMIT)
        return 0;
    *out = (uint64_t)v->number;
    return 1;
}

static densecl_status st_entry_parse(const char *path, const char *key, const dc_json *v,
                                     st_entry *e)
{
    static const char *const fields[] = {"dtype", "shape", "data_offsets"};
    const dc_json *dt, *sh, *off;
    uint64_t u, b, en;
    int neg;
    size_t nbytes, esize = 0;
    char shp[256];

    memset(e, 0, sizeof *e);
    e->name = key;
    if (v->type != DC_JSON_OBJECT)
        return dc_error(DENSECL_ERR_FORMAT, "%s: tensor '%s' is not a JSON object", path, key);
    for (size_t i = 0; i < DC_ARRAY_LEN(fields); i++)
        if (!dc_json_get(v, fields[i]))
            return dc_error(DENSECL_ERR_FORMAT, "%s: tensor '%s' has no \"%s\"", path, key,
                            fields[i]);
    for (int i = 0; i < v->count; i++)
        if (strcmp(v->keys[i], "dtype") && strcmp(v->keys[i], "shape") &&
            strcmp(v->keys[i], "data_offsets"))
            return dc_error(DENSECL_ERR_FORMAT, "%s: tensor '%s' has an unexpected field '%s'",
                            path, key, v->keys[i]);
    dt = dc_json_get(v, "dtype");
    sh = dc_json_get(v, "shape");
    off = dc_json_get(v, "data_offsets");

    if (dt->type != DC_JSON_STRING)
        return dc_error(DENSECL_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is not a string", path,
                        key);
    e->dtype = DC_OTHER;
    for (size_t i = 0; i < DC_ARRAY_LEN(st_dtypes); i++) {
        if (strcmp(dt->string, st_dtypes[i].name) == 0) {
            e->dtype = st_dtypes[i].dtype;
            esize = st_dtypes[i].size;
        }
    }
    if (e->dtype == DC_OTHER)
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: tensor '%s' has dtype '%.40s', which densecl does not know", path, key,
                        dt->string);

    if (sh->type != DC_JSON_ARRAY)
        return dc_error(DENSECL_ERR_FORMAT, "%s: tensor '%s': \"shape\" is not an array", path,
                        key);
    if (sh->count > DC_TENSOR_MAX_NDIM)
        return dc_error(DENSECL_ERR_FORMAT, "%s: tensor '%s' has %d dimensions (at most %d)", path,
                        key, sh->count, DC_TENSOR_MAX_NDIM);
    e->ndim = sh->count;
    e->count = 1;
    int overflow = 0;
    for (int i = 0; i < sh->count; i++) {
        if (!st_uint(&sh->items[i], &u, &neg))
            return dc_error(DENSECL_ERR_FORMAT, "%s: tensor '%s': shape has a %s dimension", path,
                            key, neg ? "negative" : "non-integer or too large");
        e->shape[i] = (int64_t)u;
        /* Like the reference, a product that overflows on the way is refused even if a later
         * dimension is 0. */
        if (u > SIZE_MAX || !dc_mul_size(e->count, (size_t)u, &e->count))
            overflow = 1;
    }
    dc_shape_str(e->shape, e->ndim, 0, shp, sizeof shp);
    if (overflow)
        return dc_error(DENSECL_ERR_FORMAT, "%s: tensor '%s': shape %s is too large", path, key,
                        shp);
    if (!dc_mul_size(e->count, esize, &nbytes))
        return dc_error(DENSECL_ERR_FORMAT, "%s: tensor '%s': shape %s is too large", path, key,
                        shp);

    if (off->type != DC_JSON_ARRAY || off->count != 2)
        return dc_error(DENSECL_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" is not [begin, end]",
                        path, key);
    if (!st_uint(&off->items[0], &b, &neg) || !st_uint(&off->items[1], &en, &neg) || b > SIZE_MAX ||
        en > SIZE_MAX)
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: tensor '%s': \"data_offsets\" must be non-negative integers", path,
                        key);
    if (b > en)
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets are reversed (begin %llu > end %llu)", path,
                        key, (unsigned long long)b, (unsigned long long)en);
    e->begin = (size_t)b;
    e->end = (size_t)en;
    if (e->end - e->begin != nbytes)
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: tensor '%s': shape %s of %s needs %zu bytes but data_offsets "
                        "give %zu",
                        path, key, shp, dt->string, nbytes, e->end - e->begin);
    return DENSECL_OK;
}

static int st_entry_cmp(const void *pa, const void *pb)
{
    const st_entry *a = *(const st_entry *const *)pa, *b = *(const st_entry *const *)pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return a < b ? -1 : a > b; /* stable: header order */
}

/* The tensors must tile the data section exactly: from 0, no gaps, no overlaps, no tail. */
static densecl_status st_check_layout(const char *path, st_entry *ent, int n, size_t data_len)
{
    densecl_status st = DENSECL_OK;
    const st_entry **sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    size_t at = 0;
    if (!sorted)
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
    for (int i = 0; i < n; i++)
        sorted[i] = &ent[i];
    qsort(sorted, (size_t)n, sizeof *sorted, st_entry_cmp);
    for (int i = 0; i < n && st == DENSECL_OK; i++) {
        const st_entry *e = sorted[i];
        if (i == 0 && e->begin != 0)
            st = dc_error(DENSECL_ERR_FORMAT,
                          "%s: the first tensor '%s' starts at byte %zu of the data, not at 0 "
                          "(gap)",
                          path, e->name, e->begin);
        else if (e->begin > at)
            st = dc_error(DENSECL_ERR_FORMAT,
                          "%s: gap of %zu bytes between tensor '%s' (ends at %zu) and tensor "
                          "'%s' (starts at %zu)",
                          path, e->begin - at, sorted[i - 1]->name, at, e->name, e->begin);
        else if (e->begin < at)
            st = dc_error(DENSECL_ERR_FORMAT,
                          "%s: tensor '%s' (starts at %zu) overlaps tensor '%s' (ends at %zu)",
                          path, e->name, e->begin, sorted[i - 1]->name, at);
        at = e->end;
    }
    if (st == DENSECL_OK && at > data_len)
        st = dc_error(DENSECL_ERR_FORMAT,
                      "%s: tensors need %zu bytes of data but the file has %zu after the header "
                      "(truncated)",
                      path, at, data_len);
    else if (st == DENSECL_OK && at < data_len)
        st = dc_error(DENSECL_ERR_FORMAT,
                      "%s: %zu trailing bytes after the last tensor (data section is %zu bytes, "
                      "tensors cover %zu)",
                      path, data_len - at, data_len, at);
    free(sorted);
    return st;
}

static densecl_status st_read_metadata(const char *path, const dc_json *m, dc_tensor_set *set)
{
    if (m->type != DC_JSON_OBJECT)
        return dc_error(DENSECL_ERR_FORMAT, "%s: __metadata__ is not a JSON object", path);
    if (m->count == 0)
        return DENSECL_OK;
    set->meta_keys = calloc((size_t)m->count, sizeof *set->meta_keys);
    set->meta_values = calloc((size_t)m->count, sizeof *set->meta_values);
    if (!set->meta_keys || !set->meta_values)
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
    for (int i = 0; i < m->count; i++) {
        if (m->items[i].type != DC_JSON_STRING)
            return dc_error(DENSECL_ERR_FORMAT,
                            "%s: __metadata__ entry '%s' is not a string (values must be "
                            "strings)",
                            path, m->keys[i]);
        set->meta_keys[i] = st_strdup(m->keys[i]);
        set->meta_values[i] = st_strdup(m->items[i].string);
        set->meta_count = i + 1; /* counted as soon as owned, for the cleanup */
        if (!set->meta_keys[i] || !set->meta_values[i])
            return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    return DENSECL_OK;
}

typedef struct st_key_ref {
    const char *mapped;
    const char *orig;
} st_key_ref;

static int st_key_ref_cmp(const void *a, const void *b)
{
    return strcmp(((const st_key_ref *)a)->mapped, ((const st_key_ref *)b)->mapped);
}

static densecl_status st_check_duplicates(const char *path, const dc_tensor_set *set,
                                          const char *const *orig)
{
    densecl_status st = DENSECL_OK;
    if (set->count < 2)
        return DENSECL_OK;
    st_key_ref *r = malloc((size_t)set->count * sizeof *r);
    if (!r)
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
    for (int i = 0; i < set->count; i++) {
        r[i].mapped = set->t[i].key;
        r[i].orig = orig[i];
    }
    qsort(r, (size_t)set->count, sizeof *r, st_key_ref_cmp);
    for (int i = 1; i < set->count; i++) {
        if (strcmp(r[i - 1].mapped, r[i].mapped) == 0) {
            st = dc_error(DENSECL_ERR_FORMAT,
                          "%s: duplicate tensor '%s' (the keys '%s' and '%s' both name it)", path,
                          r[i].mapped, r[i - 1].orig, r[i].orig);
            break;
        }
    }
    free(r);
    return st;
}

/* Validates and converts the bytes of a whole file (map[0..size)). */
static densecl_status st_parse(const unsigned char *map, size_t size, const char *path,
                               dc_tensor_set *out)
{
    densecl_status st = DENSECL_OK;
    dc_json root;
    st_entry *ent = NULL;
    const char **orig = NULL;
    char *what = NULL;
    int n = 0;
    dc_tensor_set set;
    memset(&root, 0, sizeof root);
    memset(&set, 0, sizeof set);

    if (size < 8)
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: file is %zu bytes; a safetensors file starts with an 8-byte header "
                        "length",
                        path, size);
    uint64_t hlen = dc_load_le(map, 8);
    if (hlen > ST_MAX_HEADER)
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: header length %llu is larger than the limit of %u bytes", path,
                        (unsigned long long)hlen, ST_MAX_HEADER);
    if (hlen > size - 8)
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: header length %llu runs past the end of the file (%zu bytes)", path,
                        (unsigned long long)hlen, size);
    const char *header = (const char *)map + 8;
    size_t data_len = size - 8 - (size_t)hlen;
    if (hlen == 0 || header[0] != '{')
        return dc_error(DENSECL_ERR_FORMAT, "%s: header does not start with '{'", path);
    size_t wlen = strlen(path) + sizeof ": header";
    what = malloc(wlen);
    if (!what)
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
    snprintf(what, wlen, "%s: header", path);
    st = dc_json_parse(header, (size_t)hlen, what, &root);
    if (st != DENSECL_OK)
        goto fail;
    if (root.type != DC_JSON_OBJECT) {
        st = dc_error(DENSECL_ERR_FORMAT, "%s: header is not a JSON object", path);
        goto fail;
    }

    ent = malloc((size_t)(root.count ? root.count : 1) * sizeof *ent);
    orig = malloc((size_t)(root.count ? root.count : 1) * sizeof *orig);
    if (!ent || !orig) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    for (int i = 0; i < root.count; i++) {
        if (strcmp(root.keys[i], "__metadata__") == 0)
            st = st_read_metadata(path, &root.items[i], &set);
        else
            st = st_entry_parse(path, root.keys[i], &root.items[i], &ent[n++]);
        if (st != DENSECL_OK)
            goto fail;
    }
    st = st_check_layout(path, ent, n, data_len);
    if (st != DENSECL_OK)
        goto fail;

    set.t = calloc((size_t)(n ? n : 1), sizeof *set.t);
    if (!set.t) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    const unsigned char *data = map + 8 + hlen;
    for (int i = 0; i < n; i++) {
        const st_entry *e = &ent[i];
        char *key = st_map_key(e->name);
        if (!key) {
            st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
            goto fail;
        }
        if (st_ends_with(key, ".num_batches_tracked") || strcmp(key, "num_batches_tracked") == 0) {
            free(key);
            continue;
        }
        dc_tensor *t = &set.t[set.count++];
        orig[set.count - 1] = e->name;
        t->key = key;
        t->dtype = e->dtype;
        t->ndim = e->ndim;
        memcpy(t->shape, e->shape, sizeof t->shape);
        if (!st_is_float(e->dtype))
            continue;
        /* count <= the tensor's bytes, which lie inside the file: no overflow. */
        t->data = malloc(e->count ? e->count * sizeof(float) : sizeof(float));
        if (!t->data) {
            st =
                dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory for tensor '%s'", path, e->name);
            goto fail;
        }
        size_t bad = st_convert(e->dtype, data + e->begin, e->count, t->data);
        if (bad < e->count) {
            uint64_t u = dc_load_le(data + e->begin + 8 * bad, 8);
            double d;
            memcpy(&d, &u, sizeof d);
            st = dc_error(DENSECL_ERR_FORMAT,
                          "%s: tensor '%s': F64 value %.17g at index %zu is beyond float32's "
                          "range (densecl computes in float32)",
                          path, e->name, d, bad);
            goto fail;
        }
    }
    st = st_check_duplicates(path, &set, orig);
    if (st != DENSECL_OK)
        goto fail;
    *out = set;
    memset(&set, 0, sizeof set);
fail:
    dc_tensor_set_free(&set);
    dc_json_free(&root);
    free(ent);
    free(orig);
    free(what);
    return st;
}

densecl_status dc_safetensors_parse(const void *bytes, size_t len, const char *what,
                                    dc_tensor_set *out)
{
    if ((!bytes && len) || !what || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_safetensors_parse: NULL argument");
    memset(out, 0, sizeof *out);
    return st_parse(bytes, len, what, out);
}

/* Opens path for reading: a regular file, its size and times in *sb. One small function so that
 * a shared helper (refusing FIFOs before open can block on them) can replace it. */
static densecl_status st_open(const char *path, int *fd, struct stat *sb)
{
    /* Never blocks on a FIFO; refuses anything but a regular file, naming what it is. */
    densecl_status st = dc_open_regular(path, NULL, fd);
    if (st != DENSECL_OK)
        return st;
    if (fstat(*fd, sb) != 0)
        st = dc_error(DENSECL_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if (st != DENSECL_OK) {
        close(*fd);
        *fd = -1;
    }
    return st;
}

/* Whether the file changed between two fstat()s: size or modification time. */
static int st_changed(const struct stat *a, const struct stat *b)
{
    return a->st_size != b->st_size || a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
           a->st_mtim.tv_nsec != b->st_mtim.tv_nsec;
}

/* Reads the whole file of size bytes into buf with read(), not mmap: a file truncated while
 * mapped kills the process with SIGBUS (seen when `cp` rewrote the weights while densecl
 * started), a short read is only an error. Refuses a file whose size or time changes. */
static densecl_status st_read_all(const char *path, int fd, const struct stat *before,
                                  unsigned char *buf, size_t size)
{
    struct stat after;
    unsigned char extra;
    size_t done = 0;
    while (done < size) {
        ssize_t n = read(fd, buf + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return dc_error(DENSECL_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        if (n == 0)
            break;
        done += (size_t)n;
    }
    ssize_t more;
    do
        more = read(fd, &extra, 1);
    while (more < 0 && errno == EINTR);
    if (fstat(fd, &after) != 0)
        return dc_error(DENSECL_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if (done != size || more != 0 || st_changed(before, &after))
        return dc_error(DENSECL_ERR_IO,
                        "%s: the file changed while it was read (%zu bytes at the start, %lld "
                        "now); was it being written?",
                        path, size, (long long)after.st_size);
    return DENSECL_OK;
}

densecl_status dc_safetensors_read(const char *path, dc_tensor_set *out)
{
    densecl_status st;
    struct stat sb;
    unsigned char *buf = NULL;
    size_t size;
    int fd;
    if (!path || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_safetensors_read: NULL argument");
    memset(out, 0, sizeof *out);
    if ((st = st_open(path, &fd, &sb)) != DENSECL_OK)
        return st;
    if ((uintmax_t)sb.st_size >= (uintmax_t)SIZE_MAX) {
        close(fd);
        return dc_error(DENSECL_ERR_IO, "%s: file too large to read", path);
    }
    size = (size_t)sb.st_size;
    buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory for %zu bytes", path, size);
    }
    st = st_read_all(path, fd, &sb, buf, size);
    close(fd);
    if (st == DENSECL_OK)
        st = st_parse(buf, size, path, out);
    free(buf);
    return st;
}

void dc_tensor_set_free(dc_tensor_set *set)
{
    if (!set)
        return;
    for (int i = 0; i < set->count; i++) {
        free(set->t[i].key);
        free(set->t[i].data);
    }
    free(set->t);
    for (int i = 0; i < set->meta_count; i++) {
        free(set->meta_keys[i]);
        free(set->meta_values[i]);
    }
    free(set->meta_keys);
    free(set->meta_values);
    memset(set, 0, sizeof *set);
}

const dc_tensor *dc_tensor_find(const dc_tensor_set *set, const char *key)
{
    if (!set || !key)
        return NULL;
    for (int i = 0; i < set->count; i++)
        if (strcmp(set->t[i].key, key) == 0)
            return &set->t[i];
    return NULL;
}

const char *dc_tensor_meta(const dc_tensor_set *set, const char *key)
{
    for (int i = 0; set && key && i < set->meta_count; i++)
        if (strcmp(set->meta_keys[i], key) == 0)
            return set->meta_values[i];
    return NULL;
}
