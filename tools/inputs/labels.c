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

densecl_status dci_names_parse_json(const char *json, int classes, const char *what, char ***names)
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
            dci_names_free(out, classes);
            st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", what);
            goto done;
        }
    }
    *names = out;
done:
    dc_json_free(&root);
    return st;
}

densecl_status dci_names_parse_text(const char *text, size_t len, int classes, const char *what,
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
            dci_names_free(out, classes);
            return dc_error(DENSECL_ERR_FORMAT, "%s: line %d: bad class name", what, i + 1);
        }
        pos = end + 1;
    }
    *names = out;
    return DENSECL_OK;
}
