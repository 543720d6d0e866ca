/* SPDX-License-Identifier: MIT */
/* safetensors_write.c - float32 tensors written as a safetensors file (for the tools and the
 * tests), atomically, with keys checked and the header laid out as the reference writes it. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"

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
    if (t->ndim < 0 || t->ndim > DC_TENSOR_MAX_NDIM)
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
