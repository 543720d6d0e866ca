/* SPDX-License-Identifier: MIT */
/* json.c - strict RFC 8259 JSON parser for safetensors headers and our metadata.
 *
 * Strict on purpose: the headers come from files of unknown origin and the parser is fuzzed.
 * Refused: trailing commas, comments, NaN/Infinity, leading zeros, control characters and
 * invalid UTF-8 in strings, lone surrogates, \u0000 (our strings are NUL-terminated), duplicate
 * object keys, nesting deeper than JSON_MAX_DEPTH, anything but whitespace after the value. */
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

/* Recursion is bounded by this, so hostile input cannot exhaust the stack. */
#define JSON_MAX_DEPTH 64

typedef struct json_parser {
    const unsigned char *p;
    size_t len;
    size_t pos;
    const char *what;
    densecl_status st; /* set by json_fail; the first error wins */
} json_parser;

static int json_fail(json_parser *ps, size_t at, const char *reason)
{
    if (ps->st == DENSECL_OK)
        ps->st =
            dc_error(DENSECL_ERR_FORMAT, "%s: invalid JSON at byte %zu: %s", ps->what, at, reason);
    return 0;
}

static int json_oom(json_parser *ps)
{
    if (ps->st == DENSECL_OK)
        ps->st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory parsing JSON", ps->what);
    return 0;
}

static void json_skip_ws(json_parser *ps)
{
    while (ps->pos < ps->len) {
        unsigned char c = ps->p[ps->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        ps->pos++;
    }
}

static int json_peek(const json_parser *ps)
{
    return ps->pos < ps->len ? ps->p[ps->pos] : -1;
}

static int json_literal(json_parser *ps, const char *word)
{
    size_t n = strlen(word);
    if (ps->len - ps->pos < n || memcmp(ps->p + ps->pos, word, n) != 0)
        return json_fail(ps, ps->pos, "unexpected character");
    ps->pos += n;
    return 1;
}

static int json_hex4(json_parser *ps, size_t at, unsigned *out)
{
    unsigned v = 0;
    if (ps->len - at < 4)
        return json_fail(ps, at, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        unsigned char c = ps->p[at + (size_t)i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return json_fail(ps, at + (size_t)i, "invalid hex digit in \\u escape");
        v = v * 16 + d;
    }
    *out = v;
    return 1;
}

static size_t json_put_utf8(unsigned cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0. */
static size_t json_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* Parses the string starting at the opening quote into a malloc'd NUL-terminated copy. */
static int json_string(json_parser *ps, char **out)
{
    size_t start = ps->pos + 1, end = start;
    /* Find the closing quote first: the decoded text is never longer than the raw one. */
    while (end < ps->len && ps->p[end] != '"')
        end += ps->p[end] == '\\' ? 2 : 1;
    if (end >= ps->len)
        return json_fail(ps, ps->pos, "unterminated string");
    char *o = malloc(end - start + 1);
    size_t n = 0, i = start;
    if (!o)
        return json_oom(ps);
    while (i < end) {
        unsigned char c = ps->p[i];
        if (c < 0x20) {
            json_fail(ps, i, "control character in string");
            goto fail;
        }
        if (c != '\\') {
            size_t l = json_utf8_len(ps->p + i, end - i);
            if (l == 0) {
                json_fail(ps, i, "invalid UTF-8 in string");
                goto fail;
            }
            memcpy(o + n, ps->p + i, l);
            n += l;
            i += l;
            continue;
        }
        unsigned char e = ps->p[i + 1]; /* in range: the scan above stepped over it */
        static const char simple_in[] = "\"\\/bfnrt", simple_out[] = "\"\\/\b\f\n\r\t";
        const char *hit = e ? strchr(simple_in, e) : NULL;
        if (hit) {
            o[n++] = simple_out[hit - simple_in];
            i += 2;
            continue;
        }
        if (e != 'u') {
            json_fail(ps, i, "invalid escape in string");
            goto fail;
        }
        unsigned cp, lo;
        if (!json_hex4(ps, i + 2, &cp) || i + 6 > end) {
            json_fail(ps, i, "truncated \\u escape");
            goto fail;
        }
        if (cp == 0) {
            json_fail(ps, i, "\\u0000 is not allowed in strings");
            goto fail;
        }
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            json_fail(ps, i, "lone low surrogate in \\u escape");
            goto fail;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - i < 12 || ps->p[i + 6] != '\\' || ps->p[i + 7] != 'u' ||
                !json_hex4(ps, i + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                if (ps->st == DENSECL_OK)
                    json_fail(ps, i, "high surrogate not followed by a low surrogate");
                goto fail;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
        }
        n += json_put_utf8(cp, o + n);
        i += 6;
    }
    o[n] = '\0';
    ps->pos = end + 1;
    *out = o;
    return 1;
fail:
    free(o);
    return 0;
}

/* Converts a validated number token. Integers are accumulated exactly; other numbers go
 * through strtod with '.' swapped for the locale's decimal point, so that a caller's
 * setlocale() cannot change what a file means. */
static int json_number_value(json_parser *ps, size_t start, size_t end, int integral, double *out)
{
    const char *t = (const char *)ps->p + start;
    size_t n = end - start;
    if (integral) {
        int neg = t[0] == '-';
        uint64_t v = 0;
        size_t i = (size_t)neg;
        for (; i < n && v <= (UINT64_MAX - 9) / 10; i++)
            v = v * 10 + (uint64_t)(t[i] - '0');
        if (i == n) {
            double d = (double)v;
            *out = neg ? -d : d;
            return 1;
        }
    }
    const char *dp = localeconv()->decimal_point;
    size_t dpl = dp && *dp ? strlen(dp) : 1;
    char *buf = malloc(n + dpl + 1), *stop = NULL;
    size_t k = 0;
    if (!buf)
        return json_oom(ps);
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '.' && dp && *dp) {
            memcpy(buf + k, dp, dpl);
            k += dpl;
        } else {
            buf[k++] = t[i];
        }
    }
    buf[k] = '\0';
    double d = strtod(buf, &stop);
    int ok = stop == buf + k;
    free(buf);
    if (!ok)
        return json_fail(ps, start, "number could not be converted");
    if (isinf(d))
        return json_fail(ps, start, "number out of range");
    *out = d;
    return 1;
}

static int json_number(json_parser *ps, dc_json *out)
{
    size_t start = ps->pos, i = ps->pos;
    int integral = 1;
    if (i < ps->len && ps->p[i] == '-')
        i++;
    if (i >= ps->len || ps->p[i] < '0' || ps->p[i] > '9')
        return json_fail(ps, i, "invalid number");
    if (ps->p[i] == '0') {
        i++;
        if (i < ps->len && ps->p[i] >= '0' && ps->p[i] <= '9')
            return json_fail(ps, i, "leading zero in number");
    } else {
        while (i < ps->len && ps->p[i] >= '0' && ps->p[i] <= '9')
            i++;
    }
    if (i < ps->len && ps->p[i] == '.') {
        integral = 0;
        i++;
        if (i >= ps->len || ps->p[i] < '0' || ps->p[i] > '9')
            return json_fail(ps, i, "digit expected after '.'");
        while (i < ps->len && ps->p[i] >= '0' && ps->p[i] <= '9')
            i++;
    }
    if (i < ps->len && (ps->p[i] == 'e' || ps->p[i] == 'E')) {
        integral = 0;
        i++;
        if (i < ps->len && (ps->p[i] == '+' || ps->p[i] == '-'))
            i++;
        if (i >= ps->len || ps->p[i] < '0' || ps->p[i] > '9')
            return json_fail(ps, i, "digit expected in exponent");
        while (i < ps->len && ps->p[i] >= '0' && ps->p[i] <= '9')
            i++;
    }
    out->type = DC_JSON_NUMBER;
    out->integer = integral;
    if (!json_number_value(ps, start, i, integral, &out->number))
        return 0;
    ps->pos = i;
    return 1;
}

/* Grows items (and keys, for objects) so that index j is available. */
static int json_reserve(json_parser *ps, dc_json *v, int *cap, int is_object)
{
    if (v->count < *cap)
        return 1;
    if (*cap > INT_MAX / 2)
        return json_fail(ps, ps->pos, "too many items");
    int ncap = *cap ? *cap * 2 : 4;
    dc_json *items = realloc(v->items, (size_t)ncap * sizeof *items);
    if (!items)
        return json_oom(ps);
    v->items = items;
    if (is_object) {
        char **keys = realloc(v->keys, (size_t)ncap * sizeof *keys);
        if (!keys)
            return json_oom(ps);
        v->keys = keys;
    }
    *cap = ncap;
    return 1;
}

static int json_key_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorting a copy keeps a large object O(n log n) instead of O(n^2). */
static int json_check_duplicates(json_parser *ps, const dc_json *v, size_t at)
{
    if (v->count < 2)
        return 1;
    char **sorted = malloc((size_t)v->count * sizeof *sorted);
    if (!sorted)
        return json_oom(ps);
    memcpy(sorted, v->keys, (size_t)v->count * sizeof *sorted);
    qsort(sorted, (size_t)v->count, sizeof *sorted, json_key_cmp);
    const char *dup = NULL;
    for (int i = 1; i < v->count && !dup; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            dup = sorted[i];
    if (dup && ps->st == DENSECL_OK) {
        ps->st =
            dc_error(DENSECL_ERR_FORMAT, "%s: invalid JSON at byte %zu: duplicate key \"%.200s\"",
                     ps->what, at, dup);
    }
    free(sorted);
    return dup == NULL;
}

static int json_value(json_parser *ps, dc_json *out, int depth);

static int json_container(json_parser *ps, dc_json *out, int depth, int is_object)
{
    size_t open = ps->pos;
    int cap = 0;
    char close = is_object ? '}' : ']';
    out->type = is_object ? DC_JSON_OBJECT : DC_JSON_ARRAY;
    if (depth >= JSON_MAX_DEPTH)
        return json_fail(ps, ps->pos, "nesting too deep");
    ps->pos++;
    json_skip_ws(ps);
    if (json_peek(ps) == close) {
        ps->pos++;
        return 1;
    }
    for (;;) {
        if (!json_reserve(ps, out, &cap, is_object))
            return 0;
        dc_json *item = &out->items[out->count];
        char *key = NULL;
        if (is_object) {
            if (json_peek(ps) != '"')
                return json_fail(ps, ps->pos, "expected a string key");
            if (!json_string(ps, &key))
                return 0;
            json_skip_ws(ps);
            if (json_peek(ps) != ':') {
                free(key);
                return json_fail(ps, ps->pos, "expected ':'");
            }
            ps->pos++;
            json_skip_ws(ps);
            out->keys[out->count] = key;
        }
        memset(item, 0, sizeof *item);
        out->count++; /* counted before parsing so that dc_json_free releases partial items */
        if (!json_value(ps, item, depth + 1))
            return 0;
        json_skip_ws(ps);
        int c = json_peek(ps);
        if (c == close) {
            ps->pos++;
            break;
        }
        if (c != ',')
            return json_fail(ps, ps->pos,
                             is_object ? "expected ',' or '}'" : "expected ',' or ']'");
        ps->pos++;
        json_skip_ws(ps);
        if (json_peek(ps) == close)
            return json_fail(ps, ps->pos, "trailing comma");
    }
    return is_object ? json_check_duplicates(ps, out, open) : 1;
}

static int json_value(json_parser *ps, dc_json *out, int depth)
{
    switch (json_peek(ps)) {
    case -1:
        return json_fail(ps, ps->pos, "unexpected end of input");
    case '{':
        return json_container(ps, out, depth, 1);
    case '[':
        return json_container(ps, out, depth, 0);
    case '"':
        out->type = DC_JSON_STRING;
        return json_string(ps, &out->string);
    case 't':
        out->type = DC_JSON_BOOL;
        out->boolean = 1;
        return json_literal(ps, "true");
    case 'f':
        out->type = DC_JSON_BOOL;
        return json_literal(ps, "false");
    case 'n':
        out->type = DC_JSON_NULL;
        return json_literal(ps, "null");
    default:
        if (json_peek(ps) == '-' || (json_peek(ps) >= '0' && json_peek(ps) <= '9'))
            return json_number(ps, out);
        return json_fail(ps, ps->pos, "unexpected character");
    }
}

densecl_status dc_json_parse(const char *text, size_t len, const char *what, dc_json *out)
{
    json_parser ps = {(const unsigned char *)text, len, 0, what ? what : "JSON", DENSECL_OK};
    if (!out)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_json_parse: NULL argument");
    memset(out, 0, sizeof *out);
    if (!text && len)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_json_parse: NULL text");
    json_skip_ws(&ps);
    if (json_value(&ps, out, 0)) {
        json_skip_ws(&ps);
        if (ps.pos != ps.len)
            json_fail(&ps, ps.pos, "unexpected data after the value");
    }
    if (ps.st != DENSECL_OK) {
        dc_json_free(out);
        return ps.st;
    }
    return DENSECL_OK;
}

void dc_json_free(dc_json *j)
{
    if (!j)
        return;
    for (int i = 0; i < j->count; i++) {
        if (j->keys)
            free(j->keys[i]);
        if (j->items)
            dc_json_free(&j->items[i]);
    }
    free(j->keys);
    free(j->items);
    free(j->string);
    memset(j, 0, sizeof *j);
}

int dc_json_is_integer(const dc_json *j)
{
    return j && j->type == DC_JSON_NUMBER && j->integer;
}

const dc_json *dc_json_get(const dc_json *j, const char *key)
{
    if (!j || !key || j->type != DC_JSON_OBJECT)
        return NULL;
    for (int i = 0; i < j->count; i++)
        if (strcmp(j->keys[i], key) == 0)
            return &j->items[i];
    return NULL;
}

void dc_json_write_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    fputc('"', f);
    while (n > 0) {
        size_t len = json_utf8_len(p, n);
        if (len == 0) {
            fputs("\\ufffd", f);
            len = 1;
        } else if (len > 1) {
            fwrite(p, 1, len, f);
        } else if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p);
        } else if (*p == '\n') {
            fputs("\\n", f);
        } else if (*p == '\t') {
            fputs("\\t", f);
        } else if (*p == '\r') {
            fputs("\\r", f);
        } else if (*p < 0x20 || *p == 0x7F) {
            fprintf(f, "\\u%04x", *p);
        } else {
            fputc(*p, f);
        }
        p += len;
        n -= len;
    }
    fputc('"', f);
}
