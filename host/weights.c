/* weights.c - safetensors reading and writing, dtype conversion, key names, architecture
 * inference and checking, seeded random weights, and the public densecl_weights API.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define ST_MAX_HEADER 100000000u /* the reference implementation's limit */
#define ST_MAX_NDIM 8
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

static const char *st_dtype_name(dc_dtype d)
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
static float st_f16(uint16_t h)
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

static void st_convert(dc_dtype dtype, const unsigned char *src, size_t count, float *dst)
{
    for (size_t i = 0; i < count; i++) {
        switch (dtype) {
        case DC_F32:
            dst[i] = st_bits_f32((uint32_t)dc_load_le(src + 4 * i, 4));
            break;
        case DC_F16:
            dst[i] = st_f16((uint16_t)dc_load_le(src + 2 * i, 2));
            break;
        case DC_BF16:
            /* bfloat16 is the high half of a float32. */
            dst[i] = st_bits_f32((uint32_t)dc_load_le(src + 2 * i, 2) << 16);
            break;
        default: { /* DC_F64 */
            uint64_t u = dc_load_le(src + 8 * i, 8);
            double d;
            memcpy(&d, &u, sizeof d);
            dst[i] = (float)d;
            break;
        }
        }
    }
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
    int64_t shape[ST_MAX_NDIM];
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
    if (sh->count > ST_MAX_NDIM)
        return dc_error(DENSECL_ERR_FORMAT, "%s: tensor '%s' has %d dimensions (at most %d)", path,
                        key, sh->count, ST_MAX_NDIM);
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
        st_convert(e->dtype, data + e->begin, e->count, t->data);
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

densecl_status dc_safetensors_read(const char *path, dc_tensor_set *out)
{
    densecl_status st;
    struct stat sb;
    void *map;
    size_t size;
    int fd;
    if (!path || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_safetensors_read: NULL argument");
    memset(out, 0, sizeof *out);
    if ((st = dc_open_regular(path, NULL, &fd)) != DENSECL_OK)
        return st;
    if (fstat(fd, &sb) != 0) {
        st = dc_error(DENSECL_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return dc_error(DENSECL_ERR_IO, "%s: not a regular file", path);
    }
    if ((uintmax_t)sb.st_size > (uintmax_t)SIZE_MAX) {
        close(fd);
        return dc_error(DENSECL_ERR_IO, "%s: file too large to map", path);
    }
    size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return st_parse(NULL, size, path, out); /* refuses it with the usual message */
    }
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        st = dc_error(DENSECL_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    close(fd);
    st = st_parse(map, size, path, out);
    munmap(map, size);
    return st;
}

/* ------------------------------------------------------------------ safetensors writer */

typedef struct st_buf {
    char *s;
    size_t n, cap;
    int failed;
} st_buf;

static void st_put(st_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->cap - b->n < n + 1) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->n < n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->failed = 1;
                return;
            }
            cap *= 2;
        }
        char *s2 = realloc(b->s, cap);
        if (!s2) {
            b->failed = 1;
            return;
        }
        b->s = s2;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void st_puts(st_buf *b, const char *s)
{
    st_put(b, s, strlen(s));
}

static void st_put_json_string(st_buf *b, const char *s)
{
    st_puts(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            st_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            st_put(b, esc, 6);
        } else {
            st_put(b, s, 1);
        }
    }
    st_puts(b, "\"");
}

static int st_tensor_count(const dc_tensor *t, size_t *count)
{
    *count = 1;
    if (t->ndim < 0 || t->ndim > ST_MAX_NDIM)
        return 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 0 || (uint64_t)t->shape[i] > SIZE_MAX ||
            !dc_mul_size(*count, (size_t)t->shape[i], count))
            return 0;
    return *count <= SIZE_MAX / 4;
}

static int st_write_floats(FILE *f, const float *data, size_t count)
{
    unsigned char chunk[4096];
    for (size_t i = 0; i < count;) {
        size_t n = 0;
        for (; i < count && n + 4 <= sizeof chunk; i++, n += 4) {
            uint32_t u;
            memcpy(&u, &data[i], sizeof u);
            for (int k = 0; k < 4; k++)
                chunk[n + (size_t)k] = (unsigned char)(u >> (8 * k));
        }
        if (fwrite(chunk, 1, n, f) != n)
            return 0;
    }
    return 1;
}

/* Writes the 8-byte header length, the header and the tensors through dc_atomic_open, so path
 * is either the old file or the complete new one. */
static densecl_status st_write_atomic(const char *path, const st_buf *head,
                                      const dc_tensor_set *set)
{
    unsigned char len8[8];
    size_t count;
    dc_atomic_file a;
    densecl_status st = dc_atomic_open(&a, path);
    if (st != DENSECL_OK)
        return st;
    for (int k = 0; k < 8; k++)
        len8[k] = (unsigned char)((uint64_t)head->n >> (8 * k));
    int ok = fwrite(len8, 1, 8, a.f) == 8 && fwrite(head->s, 1, head->n, a.f) == head->n;
    for (int i = 0; i < set->count && ok; i++)
        if (set->t[i].data && st_tensor_count(&set->t[i], &count))
            ok = st_write_floats(a.f, set->t[i].data, count);
    return dc_atomic_close(&a, ok);
}

static int st_str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Refuses keys a reader would refuse: duplicates, and a tensor named __metadata__. */
static densecl_status st_check_write_keys(const char *path, const dc_tensor_set *set)
{
    densecl_status st = DENSECL_OK;
    const char **k = malloc((size_t)(set->count ? set->count : 1) * sizeof *k);
    int n = 0;
    if (!k)
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
    for (int i = 0; i < set->count; i++)
        if (set->t[i].data)
            k[n++] = set->t[i].key;
    qsort(k, (size_t)n, sizeof *k, st_str_cmp);
    for (int i = 0; i < n && st == DENSECL_OK; i++) {
        if (strcmp(k[i], "__metadata__") == 0)
            st = dc_error(DENSECL_ERR_ARGUMENT, "%s: a tensor cannot be named __metadata__", path);
        else if (i > 0 && strcmp(k[i - 1], k[i]) == 0)
            st = dc_error(DENSECL_ERR_ARGUMENT, "%s: duplicate tensor '%s'", path, k[i]);
    }
    free(k);
    return st;
}

densecl_status dc_safetensors_write(const char *path, const dc_tensor_set *set)
{
    densecl_status st;
    st_buf b = {NULL, 0, 0, 0};
    size_t offset = 0, count, bytes;
    char num[64];
    int first = 1;
    if (!path || !set || set->count < 0 || (set->count > 0 && !set->t))
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_safetensors_write: bad argument");
    for (int i = 0; i < set->count; i++) {
        if (!set->t[i].key || (set->t[i].data && !st_tensor_count(&set->t[i], &count)))
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: tensor %d has no key or a bad shape", path,
                            i);
    }
    st = st_check_write_keys(path, set);
    if (st != DENSECL_OK)
        return st;
    st_puts(&b, "{");
    if (set->meta_count > 0) {
        st_puts(&b, "\"__metadata__\":{");
        for (int i = 0; i < set->meta_count; i++) {
            if (i)
                st_puts(&b, ",");
            st_put_json_string(&b, set->meta_keys[i] ? set->meta_keys[i] : "");
            st_puts(&b, ":");
            st_put_json_string(&b, set->meta_values[i] ? set->meta_values[i] : "");
        }
        st_puts(&b, "}");
        first = 0;
    }
    for (int i = 0; i < set->count; i++) {
        const dc_tensor *t = &set->t[i];
        if (!t->data)
            continue;
        st_tensor_count(t, &count);
        if (!dc_mul_size(count, 4, &bytes) || !dc_add_size(offset, bytes, &bytes)) {
            free(b.s);
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: tensors too large", path);
        }
        st_puts(&b, first ? "" : ",");
        first = 0;
        st_put_json_string(&b, t->key);
        st_puts(&b, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            st_puts(&b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", offset, bytes);
        st_puts(&b, num);
        offset = bytes;
    }
    st_puts(&b, "}");
    /* The reference writer pads with spaces so that the data starts 8-byte aligned. */
    while (!b.failed && b.n % 8 != 0)
        st_puts(&b, " ");
    if (b.failed) {
        free(b.s);
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory building the header", path);
    }
    st = st_write_atomic(path, &b, set);
    free(b.s);
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

static const char *st_meta(const dc_tensor_set *set, const char *key)
{
    for (int i = 0; set && key && i < set->meta_count; i++)
        if (strcmp(set->meta_keys[i], key) == 0)
            return set->meta_values[i];
    return NULL;
}

/* ------------------------------------------------------------------ architecture inference */

/* Fields of densecl_config given by the "densecl.config" metadata entry. */
typedef struct cfg_given {
    int growth, blocks, init, bottleneck, bn_size, compression, stem, in_ch, classes;
} cfg_given;

static densecl_status cfg_meta_int(const dc_json *obj, const char *name, int *out, int *given)
{
    const dc_json *v = dc_json_get(obj, name);
    if (!v)
        return DENSECL_OK;
    if (!dc_json_is_integer(v) || v->number < 0 || v->number > INT_MAX)
        return dc_error(DENSECL_ERR_FORMAT,
                        "metadata 'densecl.config': '%s' must be a non-negative integer", name);
    *out = (int)v->number;
    *given = 1;
    return DENSECL_OK;
}

static densecl_status cfg_from_meta(const char *text, densecl_config *c, cfg_given *g)
{
    dc_json j;
    const dc_json *v;
    densecl_status st = dc_json_parse(text, strlen(text), "metadata 'densecl.config'", &j);
    if (st != DENSECL_OK)
        return st;
    if (j.type != DC_JSON_OBJECT) {
        st = dc_error(DENSECL_ERR_FORMAT, "metadata 'densecl.config' is not a JSON object");
        goto done;
    }
    if ((st = cfg_meta_int(&j, "growth_rate", &c->growth_rate, &g->growth)) ||
        (st = cfg_meta_int(&j, "init_features", &c->init_features, &g->init)) ||
        (st = cfg_meta_int(&j, "bn_size", &c->bn_size, &g->bn_size)) ||
        (st = cfg_meta_int(&j, "in_channels", &c->in_channels, &g->in_ch)) ||
        (st = cfg_meta_int(&j, "num_classes", &c->num_classes, &g->classes)))
        goto done;
    if ((v = dc_json_get(&j, "block_layers")) != NULL) {
        if (v->type != DC_JSON_ARRAY || v->count < 1 || v->count > DENSECL_MAX_BLOCKS) {
            st = dc_error(DENSECL_ERR_FORMAT,
                          "metadata 'densecl.config': 'block_layers' must be an array of 1 to "
                          "%d integers",
                          DENSECL_MAX_BLOCKS);
            goto done;
        }
        for (int b = 0; b < v->count; b++) {
            const dc_json *x = &v->items[b];
            if (!dc_json_is_integer(x) || x->number < 0 || x->number > INT_MAX) {
                st = dc_error(DENSECL_ERR_FORMAT,
                              "metadata 'densecl.config': 'block_layers' must hold "
                              "non-negative integers");
                goto done;
            }
            c->block_layers[b] = (int)x->number;
        }
        c->num_blocks = v->count;
        g->blocks = 1;
    }
    if ((v = dc_json_get(&j, "bottleneck")) != NULL) {
        if (v->type != DC_JSON_BOOL) {
            st = dc_error(DENSECL_ERR_FORMAT,
                          "metadata 'densecl.config': 'bottleneck' must be true or false");
            goto done;
        }
        c->bottleneck = v->boolean;
        g->bottleneck = 1;
    }
    if ((v = dc_json_get(&j, "compression")) != NULL) {
        /* Checked as the float it becomes: 1e-300 is above 0 as a double, 0.0f as a float. */
        float f = v->type == DC_JSON_NUMBER ? (float)v->number : 0.0f;
        if (v->type != DC_JSON_NUMBER || !(isnormal(f) && f > 0.0f && f <= 1.0f)) {
            st = dc_error(DENSECL_ERR_FORMAT,
                          "metadata 'densecl.config': 'compression' must be a number in (0, 1], "
                          "got %.9g",
                          v->type == DC_JSON_NUMBER ? v->number : 0.0);
            goto done;
        }
        c->compression = f;
        g->compression = 1;
    }
    if ((v = dc_json_get(&j, "stem")) != NULL) {
        if (v->type == DC_JSON_STRING && strcmp(v->string, "imagenet") == 0) {
            c->stem = DENSECL_STEM_IMAGENET;
        } else if (v->type == DC_JSON_STRING && strcmp(v->string, "cifar") == 0) {
            c->stem = DENSECL_STEM_CIFAR;
        } else {
            st = dc_error(DENSECL_ERR_FORMAT,
                          "metadata 'densecl.config': 'stem' must be \"imagenet\" or \"cifar\"");
            goto done;
        }
        g->stem = 1;
    }
done:
    dc_json_free(&j);
    return st;
}

/* A tensor inference needs: present, with ndim dimensions that each fit an int. */
static const dc_tensor *cfg_need(const dc_tensor_set *set, const char *key, int ndim,
                                 densecl_status *st)
{
    const dc_tensor *t = dc_tensor_find(set, key);
    char shp[256];
    if (!t) {
        *st = dc_error(DENSECL_ERR_MISMATCH,
                       "missing tensor '%s', needed to infer the architecture", key);
        return NULL;
    }
    int ok = t->ndim == ndim;
    for (int i = 0; i < t->ndim && ok; i++)
        ok = t->shape[i] <= INT_MAX;
    if (!ok) {
        *st = dc_error(DENSECL_ERR_MISMATCH, "tensor '%s' has shape %s; expected %d dimensions",
                       key, dc_shape_str(t->shape, t->ndim, 0, shp, sizeof shp), ndim);
        return NULL;
    }
    return t;
}

/* Parses a decimal of at most 6 digits at *p; 0 if none (keeps hostile keys from
 * overflowing). */
static int cfg_index(const char **p)
{
    int v = 0, n = 0;
    while (**p >= '0' && **p <= '9' && n < 6) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return (n > 0 && !(**p >= '0' && **p <= '9')) ? v : 0;
}

/* Dense blocks and layers from "features.denseblockB.denselayerL.*" keys. */
static densecl_status cfg_count_layers(const dc_tensor_set *set, densecl_config *c)
{
    static const char pb[] = "features.denseblock", pl[] = ".denselayer";
    int layers[DENSECL_MAX_BLOCKS] = {0}, nb = 0;
    for (int i = 0; i < set->count; i++) {
        const char *p = set->t[i].key;
        if (strncmp(p, pb, sizeof pb - 1) != 0)
            continue;
        p += sizeof pb - 1;
        int b = cfg_index(&p);
        if (b < 1 || strncmp(p, pl, sizeof pl - 1) != 0)
            continue;
        p += sizeof pl - 1;
        int l = cfg_index(&p);
        if (l < 1 || *p != '.')
            continue;
        if (b > DENSECL_MAX_BLOCKS)
            return dc_error(DENSECL_ERR_MISMATCH,
                            "tensor '%s' is in dense block %d; densecl supports at most %d",
                            set->t[i].key, b, DENSECL_MAX_BLOCKS);
        if (b > nb)
            nb = b;
        if (l > layers[b - 1])
            layers[b - 1] = l;
    }
    if (nb == 0)
        return dc_error(DENSECL_ERR_MISMATCH,
                        "missing tensors 'features.denseblock1.denselayer1.*', needed to infer "
                        "the architecture");
    c->num_blocks = nb;
    memcpy(c->block_layers, layers, sizeof layers);
    return DENSECL_OK;
}

/* floor(C * theta) exactly as config.c computes a transition's width. theta may be a file's
 * out/in ratio, far above 1: a product past INT_MAX (no real width) saturates instead of
 * overflowing the conversion (undefined behaviour; found while fuzzing, see
 * tests/fuzz/regressions/safetensors/). */
static int cfg_compress(int c, float theta)
{
    double v = floor((double)c * (double)theta + 1e-4);
    return v < (double)INT_MAX ? (int)v : INT_MAX;
}

/* theta from the transitions' [out, in, 1, 1] shapes: a round value when one explains every
 * transition, else out/in of the first (and dc_config_match then reports what does not fit). */
static densecl_status cfg_compression(const dc_tensor_set *set, const densecl_config *c,
                                      float *theta)
{
    densecl_status st = DENSECL_OK;
    int in[DENSECL_MAX_BLOCKS], out[DENSECL_MAX_BLOCKS], n = 0;
    char key[64];
    for (int b = 1; b < c->num_blocks; b++) {
        snprintf(key, sizeof key, "features.transition%d.conv.weight", b);
        const dc_tensor *t = b == 1 ? cfg_need(set, key, 4, &st) : dc_tensor_find(set, key);
        if (b == 1 && !t)
            return st;
        if (!t || t->ndim != 4 || t->shape[0] > INT_MAX || t->shape[1] > INT_MAX)
            continue;
        out[n] = (int)t->shape[0];
        in[n] = (int)t->shape[1];
        n++;
    }
    if (in[0] <= 0)
        return dc_error(DENSECL_ERR_MISMATCH,
                        "tensor 'features.transition1.conv.weight' has no input channels");
    float ratio = (float)out[0] / (float)in[0];
    float cand[] = {0.5f, 1.0f, 0.25f, 0.75f, ratio, nextafterf(ratio, 2.0f)};
    *theta = ratio;
    for (size_t k = 0; k < DC_ARRAY_LEN(cand); k++) {
        int fits = 1;
        for (int i = 0; i < n && fits; i++)
            fits = cfg_compress(in[i], cand[k]) == out[i];
        if (fits) {
            *theta = cand[k];
            break;
        }
    }
    return DENSECL_OK;
}

densecl_status dc_config_infer(const dc_tensor_set *set, densecl_config *out)
{
    densecl_status st = DENSECL_OK;
    densecl_config c;
    cfg_given g;
    const dc_tensor *t;
    const char *meta;
    if (!set || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_config_infer: NULL argument");
    memset(&c, 0, sizeof c);
    memset(&g, 0, sizeof g);
    c.bn_size = 4;
    meta = st_meta(set, "densecl.config");
    if (meta && (st = cfg_from_meta(meta, &c, &g)) != DENSECL_OK)
        return st;

    if (!g.stem || !g.init || !g.in_ch) {
        if (!(t = cfg_need(set, "features.conv0.weight", 4, &st)))
            return st;
        if (!g.init)
            c.init_features = (int)t->shape[0];
        if (!g.in_ch)
            c.in_channels = (int)t->shape[1];
        if (!g.stem) {
            char shp[256];
            if (t->shape[2] == 7 && t->shape[3] == 7)
                c.stem = DENSECL_STEM_IMAGENET;
            else if (t->shape[2] == 3 && t->shape[3] == 3)
                c.stem = DENSECL_STEM_CIFAR;
            else
                return dc_error(DENSECL_ERR_MISMATCH,
                                "tensor 'features.conv0.weight' has shape %s; expected a 7x7 "
                                "(ImageNet) or 3x3 (CIFAR) stem convolution",
                                dc_shape_str(t->shape, t->ndim, 0, shp, sizeof shp));
            if (c.stem == DENSECL_STEM_IMAGENET && !dc_tensor_find(set, "features.norm0.weight"))
                return dc_error(DENSECL_ERR_MISMATCH,
                                "missing tensor 'features.norm0.weight' (a 7x7 stem convolution "
                                "is followed by norm0)");
        }
    }
    if (!g.blocks && (st = cfg_count_layers(set, &c)) != DENSECL_OK)
        return st;
    if (!g.growth || !g.bottleneck || !g.bn_size) {
        const dc_tensor *c1, *c2;
        if (!(c1 = cfg_need(set, "features.denseblock1.denselayer1.conv1.weight", 4, &st)))
            return st;
        int bott = g.bottleneck ? c.bottleneck
                                : dc_tensor_find(set, "features.denseblock1.denselayer1.conv2"
                                                      ".weight") != NULL;
        if (bott) {
            c2 = cfg_need(set, "features.denseblock1.denselayer1.conv2.weight", 4, &st);
            if (!c2)
                return st;
            int k = g.growth ? c.growth_rate : (int)c2->shape[0];
            if (!g.bn_size) {
                if (k <= 0 || c1->shape[0] % k != 0)
                    return dc_error(DENSECL_ERR_MISMATCH,
                                    "tensor 'features.denseblock1.denselayer1.conv1.weight' has "
                                    "%lld outputs, not a multiple of the growth rate %d",
                                    (long long)c1->shape[0], k);
                c.bn_size = (int)(c1->shape[0] / k);
            }
            c.growth_rate = k;
        } else if (!g.growth) {
            c.growth_rate = (int)c1->shape[0];
        }
        c.bottleneck = bott;
    }
    if (!g.compression) {
        c.compression = 0.5f; /* irrelevant with one block; torchvision's default */
        if (c.num_blocks > 1 && (st = cfg_compression(set, &c, &c.compression)) != DENSECL_OK)
            return st;
    }
    if (!g.classes) {
        if (!(t = cfg_need(set, "classifier.weight", 2, &st)))
            return st;
        c.num_classes = (int)t->shape[0];
    }
    if (densecl_config_check(&c) != DENSECL_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", densecl_last_error());
        return dc_error(DENSECL_ERR_MISMATCH, "the tensors describe an invalid DenseNet: %s", why);
    }
    *out = c;
    return DENSECL_OK;
}

/* ------------------------------------------------------------------ checking */

typedef struct match_log {
    const char *path;
    int problems;
    char first[1024];
} match_log;

static void match_problem(match_log *m, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void match_problem(match_log *m, const char *fmt, ...)
{
    if (m->problems++ == 0) {
        va_list ap;
        int n = snprintf(m->first, sizeof m->first, "%s: ", m->path);
        if (n < 0 || (size_t)n >= sizeof m->first)
            return;
        va_start(ap, fmt);
        vsnprintf(m->first + n, sizeof m->first - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

static int match_spec_cmp(const void *a, const void *b)
{
    return strcmp(((const dc_tensor_spec *)a)->key, ((const dc_tensor_spec *)b)->key);
}

densecl_status dc_config_match(const densecl_config *cfg, const dc_tensor_set *set,
                               const char *path)
{
    dc_tensor_spec *specs = NULL, *sorted = NULL;
    int n = 0;
    match_log m;
    char a[256], b[256];
    densecl_status st;
    if (!cfg || !set)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_config_match: NULL argument");
    m.path = path ? path : "weights";
    m.problems = 0;
    m.first[0] = '\0';
    if ((st = dc_config_tensors(cfg, &specs, &n)) != DENSECL_OK)
        return st;
    for (int i = 0; i < n; i++) {
        const dc_tensor_spec *s = &specs[i];
        const dc_tensor *t = dc_tensor_find(set, s->key);
        if (!t) {
            match_problem(&m, "missing tensor '%s' (expected shape %s)", s->key,
                          dc_shape_str(s->shape, s->ndim, 0, a, sizeof a));
            continue;
        }
        int same = t->ndim == s->ndim;
        for (int d = 0; d < s->ndim && same; d++)
            same = t->shape[d] == s->shape[d];
        if (!same)
            match_problem(&m, "tensor '%s' has shape %s, expected %s", s->key,
                          dc_shape_str(t->shape, t->ndim, 0, a, sizeof a),
                          dc_shape_str(s->shape, s->ndim, 0, b, sizeof b));
        if (!t->data)
            match_problem(&m, "tensor '%s' has dtype %s; densecl reads F32, F16 or BF16", s->key,
                          st_dtype_name(t->dtype));
    }
    /* Unexpected keys, in file order; the sorted copy makes this O(n log n). */
    sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    if (!sorted) {
        free(specs);
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", m.path);
    }
    memcpy(sorted, specs, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, match_spec_cmp);
    for (int i = 0; i < set->count; i++) {
        dc_tensor_spec probe;
        const dc_tensor *t = &set->t[i];
        if (strlen(t->key) < sizeof probe.key) {
            memcpy(probe.key, t->key, strlen(t->key) + 1);
            if (bsearch(&probe, sorted, (size_t)n, sizeof *sorted, match_spec_cmp))
                continue;
        }
        match_problem(&m,
                      "unexpected tensor '%s' (shape %s); is this a DenseNet of a different "
                      "configuration?",
                      t->key, dc_shape_str(t->shape, t->ndim, 0, a, sizeof a));
    }
    free(sorted);
    free(specs);
    if (m.problems == 0)
        return DENSECL_OK;
    if (m.problems == 1)
        return dc_error(DENSECL_ERR_MISMATCH, "%s", m.first);
    return dc_error(DENSECL_ERR_MISMATCH, "%s (and %d more problem%s)", m.first, m.problems - 1,
                    m.problems == 2 ? "" : "s");
}

/* ------------------------------------------------------------------ public API */

/* Prefixes the current error detail with the file name (dc_error writes into the buffer that
 * densecl_last_error returns, so the old text is copied first). */
static densecl_status st_prefix_error(densecl_status st, const char *path)
{
    char *old = st_strdup(densecl_last_error());
    if (!old)
        return st;
    dc_error(st, "%s: %s", path, old);
    free(old);
    return st;
}

densecl_status densecl_weights_load(const char *path, const densecl_config *expect,
                                    densecl_weights **out)
{
    densecl_status st;
    dc_tensor_set set;
    densecl_config cfg;
    densecl_weights *w = NULL;
    if (out)
        *out = NULL;
    if (!path || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_weights_load: NULL argument");
    if ((st = dc_safetensors_read(path, &set)) != DENSECL_OK)
        return st;
    if (!expect) {
        if ((st = dc_config_infer(&set, &cfg)) != DENSECL_OK) {
            st_prefix_error(st, path);
            goto fail;
        }
    } else {
        const dc_tensor *t;
        cfg = *expect;
        if (cfg.num_classes == 0) {
            if (!(t = cfg_need(&set, "classifier.weight", 2, &st))) {
                st_prefix_error(st, path);
                goto fail;
            }
            cfg.num_classes = (int)t->shape[0];
        }
        if (cfg.in_channels == 0) {
            if (!(t = cfg_need(&set, "features.conv0.weight", 4, &st))) {
                st_prefix_error(st, path);
                goto fail;
            }
            cfg.in_channels = (int)t->shape[1];
        }
    }
    if ((st = densecl_config_check(&cfg)) != DENSECL_OK)
        goto fail;
    if ((st = dc_config_match(&cfg, &set, path)) != DENSECL_OK)
        goto fail;
    w = calloc(1, sizeof *w);
    if (!w) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    w->cfg = cfg;
    w->tensors = set;
    memset(&set, 0, sizeof set);
    if ((st = dc_fold(w)) != DENSECL_OK) {
        densecl_weights_free(w);
        return st;
    }
    *out = w;
    return DENSECL_OK;
fail:
    dc_tensor_set_free(&set);
    return st;
}

/* splitmix64: tiny, fast, and the same sequence everywhere. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* [0, 1) with 53 random bits. */
static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * 0x1p-53;
}

static double rng_uniform(uint64_t *s, double lo, double hi)
{
    double u = rng_unit(s);
    double span = hi - lo;
    double x = span * u;
    return lo + x;
}

/* log and cos from +, -, *, / and frexp only, one operation per statement (so that no compiler
 * contracts them into FMAs): libm's versions differ by an ulp between platforms, and the same
 * seed must give the same weights everywhere. The series multiply by reciprocals the compiler
 * computes (correctly rounded, so the same everywhere) instead of dividing, and stop where the
 * next term is below 1e-17 of the sum: DenseNet-121's 8M weights took about 1 s with divisions
 * and twice the terms. Accuracy far beyond what a random init needs. */
static const double det_inv_odd[12] = {1.0,      1.0 / 3,  1.0 / 5,  1.0 / 7,
                                       1.0 / 9,  1.0 / 11, 1.0 / 13, 1.0 / 15,
                                       1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23};
/* 1 / ((k + 1)(k + 2)) for k = 0..25: the ratio of consecutive Taylor terms of sin and cos. */
static const double det_inv_pair[26] = {
    1.0 / 2,   1.0 / 6,   1.0 / 12,  1.0 / 20,  1.0 / 30,  1.0 / 42,  1.0 / 56,
    1.0 / 72,  1.0 / 90,  1.0 / 110, 1.0 / 132, 1.0 / 156, 1.0 / 182, 1.0 / 210,
    1.0 / 240, 1.0 / 272, 1.0 / 306, 1.0 / 342, 1.0 / 380, 1.0 / 420, 1.0 / 462,
    1.0 / 506, 1.0 / 552, 1.0 / 600, 1.0 / 650, 1.0 / 702};

static double det_log(double x)
{
    int e;
    double m = frexp(x, &e); /* x = m * 2^e, m in [0.5, 1) */
    if (m < 0.70710678118654752) {
        m = m * 2.0;
        e = e - 1;
    }
    double z = (m - 1.0) / (m + 1.0); /* |z| < 0.172: atanh series converges fast */
    double z2 = z * z, term = z, sum = 0.0;
    /* z^2 < 0.0296: the 12th term is below 0.0296^11 / 23 < 1e-18 of the first. */
    for (int i = 0; i < 12; i++) {
        double q = term * det_inv_odd[i];
        sum = sum + q;
        term = term * z2;
    }
    double lnm = 2.0 * sum;
    double le = (double)e * 0.69314718055994531;
    return le + lnm;
}

/* sin(a) (odd = 1) or cos(a) (odd = 0) by Taylor series, for a in [0, pi/2). */
static double det_trig(double a, int odd)
{
    double a2 = a * a, term = odd ? a : 1.0, sum = 0.0;
    /* a < pi/2: the terms after a^25 / 25! (< 1e-20) do not change the sum. */
    for (int k = odd; k < 26; k += 2) {
        sum = sum + term;
        double t2 = term * a2;
        double t3 = t2 * det_inv_pair[k];
        term = -t3;
    }
    return sum;
}

/* cos(2 pi u) for u in [0, 1), reduced to a quadrant exactly. */
static double det_cos2pi(double u)
{
    double u4 = u * 4.0;
    int q = (int)u4;
    double f = u4 - (double)q;
    double a = f * 1.57079632679489662;
    switch (q) {
    case 0:
        return det_trig(a, 0);
    case 1:
        return -det_trig(a, 1);
    case 2:
        return -det_trig(a, 0);
    default:
        return det_trig(a, 1);
    }
}

/* Standard normal by Box-Muller (the cosine half). */
static double rng_normal(uint64_t *s)
{
    double u1 = (double)((rng_next(s) >> 11) + 1) * 0x1p-53; /* (0, 1]: log is finite */
    double u2 = rng_unit(s);
    double l = det_log(u1);
    double r = sqrt(-2.0 * l); /* sqrt is correctly rounded everywhere */
    double c = det_cos2pi(u2);
    return r * c;
}

static void rng_fill(uint64_t *s, const dc_tensor_spec *sp, double linear_bound, float *x,
                     size_t count)
{
    for (size_t i = 0; i < count; i++) {
        double v;
        if (sp->ndim == 4) {
            /* He-normal: std = sqrt(2 / fan_in), fan_in = cin * k * k. */
            double fan_in = (double)(sp->shape[1] * sp->shape[2] * sp->shape[3]);
            double sd = sqrt(2.0 / fan_in);
            double z = rng_normal(s);
            v = sd * z;
        } else if (sp->ndim == 2 || strncmp(sp->key, "classifier.", 11) == 0) {
            v = rng_uniform(s, -linear_bound, linear_bound);
        } else if (sp->role == DC_ROLE_WEIGHT || sp->role == DC_ROLE_RUNNING_VAR) {
            v = rng_uniform(s, 0.5, 1.5);
        } else {
            v = rng_uniform(s, -0.1, 0.1); /* BN bias, running mean */
        }
        x[i] = (float)v;
    }
}

densecl_status densecl_weights_random(const densecl_config *cfg, uint64_t seed,
                                      densecl_weights **out)
{
    densecl_status st;
    dc_tensor_spec *specs = NULL;
    densecl_weights *w = NULL;
    uint64_t s = seed;
    int n = 0;
    if (out)
        *out = NULL;
    if (!cfg || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_weights_random: NULL argument");
    if ((st = densecl_config_check(cfg)) != DENSECL_OK)
        return st;
    if ((st = dc_config_tensors(cfg, &specs, &n)) != DENSECL_OK)
        return st;
    double bound = 1.0 / sqrt((double)dc_block_out_channels(cfg, cfg->num_blocks - 1));
    w = calloc(1, sizeof *w);
    if (!w || !(w->tensors.t = calloc((size_t)(n ? n : 1), sizeof *w->tensors.t))) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory for random weights");
        goto fail;
    }
    w->cfg = *cfg;
    for (int i = 0; i < n; i++) {
        const dc_tensor_spec *sp = &specs[i];
        dc_tensor *t = &w->tensors.t[i];
        size_t count = 1;
        for (int d = 0; d < sp->ndim; d++)
            count *= (size_t)sp->shape[d]; /* a valid config's shapes are small */
        t->key = st_strdup(sp->key);
        t->data = malloc((count ? count : 1) * sizeof(float));
        w->tensors.count = i + 1;
        if (!t->key || !t->data) {
            st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory for random weights");
            goto fail;
        }
        t->dtype = DC_F32;
        t->ndim = sp->ndim;
        memcpy(t->shape, sp->shape, sizeof sp->shape);
        rng_fill(&s, sp, bound, t->data, count);
    }
    free(specs);
    specs = NULL;
    if ((st = dc_fold(w)) != DENSECL_OK)
        goto fail;
    *out = w;
    return DENSECL_OK;
fail:
    free(specs);
    densecl_weights_free(w);
    return st;
}

const densecl_config *densecl_weights_config(const densecl_weights *w)
{
    return w ? &w->cfg : NULL;
}

const char *densecl_weights_metadata(const densecl_weights *w, const char *key)
{
    return w ? st_meta(&w->tensors, key) : NULL;
}

void densecl_weights_free(densecl_weights *w)
{
    if (!w)
        return;
    dc_params_free(w->params, w->n_params);
    dc_tensor_set_free(&w->tensors);
    free(w);
}
