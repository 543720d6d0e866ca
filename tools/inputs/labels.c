/* SPDX-License-Identifier: MIT */
/*
 * labels.c - ground-truth labels (IDX or text) and class names (JSON or text), see inputs.h.
 * No printing.
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inputs.h"

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

densecl_status dci_truth_parse(const void *bytes, size_t len, const char *what, int classes,
                               int **labels, int64_t *count)
{
    const uint8_t *b = bytes;
    *labels = NULL;
    *count = 0;
    if (!dci_is_gzip(b, len) && !(len >= 3 && b[0] == 0 && b[1] == 0 && b[2] == 0x08)) {
        return truth_text(bytes, len, what, classes, labels, count);
    }
    dci_idx idx;
    densecl_status st = dci_idx_parse(bytes, len, what, &idx);
    if (st != DENSECL_OK) {
        return st;
    }
    if (idx.ndim != 1 || idx.size == 0) {
        dci_idx_free(&idx);
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: not an IDX label file (want 1 dimension, magic 0x00000801)", what);
    }
    int *out = malloc(idx.size * sizeof(int));
    if (!out) {
        dci_idx_free(&idx);
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", what);
    }
    for (size_t i = 0; i < idx.size; i++) {
        if (idx.data[i] >= classes) {
            st = dc_error(DENSECL_ERR_FORMAT, "%s: label %zu is %d, the model has %d classes", what,
                          i, idx.data[i], classes);
            free(out);
            dci_idx_free(&idx);
            return st;
        }
        out[i] = idx.data[i];
    }
    *labels = out;
    *count = (int64_t)idx.size;
    dci_idx_free(&idx);
    return DENSECL_OK;
}

void dci_names_free(char **names, int classes)
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

/* Length of the well-formed UTF-8 sequence at s[0..n), 0 if it is not one (overlong forms,
 * surrogates and code points past U+10FFFF are not). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c < 0x80             ? 1
                 : (c & 0xe0) == 0xc0 ? 2
                 : (c & 0xf0) == 0xe0 ? 3
                 : (c & 0xf8) == 0xf0 ? 4
                                      : 0;
    if (len == 0 || len > n) {
        return 0;
    }
    unsigned cp = len == 1 ? c : c & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

/* 0 when s[0..n) is well-formed UTF-8, else 1 + the offset of the first bad byte. */
static size_t utf8_bad(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq((const unsigned char *)s + i, n - i);
        if (len == 0) {
            return i + 1;
        }
        i += len;
    }
    return 0;
}

densecl_status dci_names_parse_text(const char *text, size_t len, int classes, int strict,
                                    const char *what, char ***names)
{
    *names = NULL;
    if (classes < 1) {
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: %d classes", what, classes);
    }
    if (strict && len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        text += 3; /* a UTF-8 byte order mark, as Windows editors write one */
        len -= 3;
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
        size_t end = pos, bad = 0, blank = 0;
        while (end < len && text[end] != '\n') {
            end++;
        }
        size_t n = end - pos;
        if (n > 0 && text[pos + n - 1] == '\r') {
            n--;
        }
        while (blank < n && (text[pos + blank] == ' ' || text[pos + blank] == '\t')) {
            blank++;
        }
        const char *why = NULL;
        if (memchr(text + pos, '\0', n)) {
            why = "holds a NUL byte";
        } else if (strict && (bad = utf8_bad(text + pos, n)) != 0) {
            why = "is not UTF-8";
        } else if (strict && blank == n) {
            why = "is an empty class name";
        } else if (!(out[i] = dup_range(text + pos, n))) {
            dci_names_free(out, classes);
            return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", what);
        }
        if (why) {
            dci_names_free(out, classes);
            if (bad) {
                return dc_error(DENSECL_ERR_FORMAT, "%s: line %d %s (byte %zu of the line)", what,
                                i + 1, why, bad);
            }
            return dc_error(DENSECL_ERR_FORMAT, "%s: line %d %s", what, i + 1, why);
        }
        pos = end + 1;
    }
    *names = out;
    return DENSECL_OK;
}
