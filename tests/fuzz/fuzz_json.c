/* SPDX-License-Identifier: MIT */
/* fuzz_json.c - dc_json_parse on arbitrary bytes.
 *
 * Beyond the sanitizers, every accepted document must satisfy the parser's contract (strings
 * NUL-free and valid UTF-8, no duplicate keys, dc_json_get finds every member) and must survive
 * a round trip: re-serialized by the canonical writer below and parsed again, it gives the same
 * tree. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "plan/plan.h"

typedef struct jbuf {
    char *s;
    size_t n, cap;
} jbuf;

static void jb_put(jbuf *b, const char *s, size_t n)
{
    if (b->cap - b->n < n + 1) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n + 1)
            cap *= 2;
        char *s2 = realloc(b->s, cap);
        FUZZ_CHECK(s2 != NULL);
        b->s = s2;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void jb_puts(jbuf *b, const char *s)
{
    jb_put(b, s, strlen(s));
}

/* Strings are written with the escapes the parser must undo, so the round trip also tests them:
 * control characters as \u00XX, '"', '\\' and '/' escaped. */
static void jb_string(jbuf *b, const char *s)
{
    jb_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\' || *p == '/') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            jb_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            jb_put(b, esc, 6);
        } else {
            jb_put(b, (const char *)p, 1);
        }
    }
    jb_puts(b, "\"");
}

static void jb_value(jbuf *b, const dc_json *j)
{
    char num[64];
    switch (j->type) {
    case DC_JSON_NULL:
        jb_puts(b, "null");
        break;
    case DC_JSON_BOOL:
        jb_puts(b, j->boolean ? "true" : "false");
        break;
    case DC_JSON_NUMBER:
        /* %.17g round-trips every double; the C locale is never changed in this process. */
        snprintf(num, sizeof num, "%.17g", j->number);
        jb_puts(b, num);
        break;
    case DC_JSON_STRING:
        jb_string(b, j->string);
        break;
    case DC_JSON_ARRAY:
    case DC_JSON_OBJECT:
        jb_puts(b, j->type == DC_JSON_ARRAY ? "[" : "{");
        for (int i = 0; i < j->count; i++) {
            if (i)
                jb_puts(b, ",");
            if (j->type == DC_JSON_OBJECT) {
                jb_string(b, j->keys[i]);
                jb_puts(b, ":");
            }
            jb_value(b, &j->items[i]);
        }
        jb_puts(b, j->type == DC_JSON_ARRAY ? "]" : "}");
        break;
    }
}

/* Well-formed UTF-8 (RFC 3629), independent of json.c's own check. */
static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        unsigned cp;
        int len;
        if (s[0] < 0x80) {
            s++;
            continue;
        } else if ((s[0] & 0xE0) == 0xC0) {
            cp = s[0] & 0x1Fu;
            len = 2;
        } else if ((s[0] & 0xF0) == 0xE0) {
            cp = s[0] & 0x0Fu;
            len = 3;
        } else if ((s[0] & 0xF8) == 0xF0) {
            cp = s[0] & 0x07u;
            len = 4;
        } else {
            return 0;
        }
        for (int i = 1; i < len; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i] & 0x3Fu);
        }
        static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        s += len;
    }
    return 1;
}

static void check_tree(const dc_json *j, int depth)
{
    FUZZ_CHECK(depth <= 64);
    switch (j->type) {
    case DC_JSON_NUMBER:
        FUZZ_CHECK(isfinite(j->number));
        break;
    case DC_JSON_STRING:
        FUZZ_CHECK(j->string != NULL && utf8_ok((const unsigned char *)j->string));
        break;
    case DC_JSON_ARRAY:
    case DC_JSON_OBJECT:
        FUZZ_CHECK(j->count >= 0 && (j->count == 0 || j->items != NULL));
        for (int i = 0; i < j->count; i++) {
            if (j->type == DC_JSON_OBJECT) {
                FUZZ_CHECK(j->keys && j->keys[i] && utf8_ok((const unsigned char *)j->keys[i]));
                /* No duplicates, so the lookup finds exactly this member. */
                FUZZ_CHECK(dc_json_get(j, j->keys[i]) == &j->items[i]);
            }
            check_tree(&j->items[i], depth + 1);
        }
        break;
    default:
        break;
    }
}

static int same_tree(const dc_json *a, const dc_json *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case DC_JSON_BOOL:
        return a->boolean == b->boolean;
    case DC_JSON_NUMBER:
        /* Bit-exact, so that -0 stays -0. */
        return memcmp(&a->number, &b->number, sizeof a->number) == 0;
    case DC_JSON_STRING:
        return strcmp(a->string, b->string) == 0;
    case DC_JSON_ARRAY:
    case DC_JSON_OBJECT:
        if (a->count != b->count)
            return 0;
        for (int i = 0; i < a->count; i++) {
            if (a->type == DC_JSON_OBJECT && strcmp(a->keys[i], b->keys[i]) != 0)
                return 0;
            if (!same_tree(&a->items[i], &b->items[i]))
                return 0;
        }
        return 1;
    default:
        return 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dc_json j, k;
    jbuf b = {NULL, 0, 0};
    densecl_status st = dc_json_parse((const char *)data, size, "fuzz", &j);
    if (st != DENSECL_OK) {
        /* A refusal leaves a freed, zeroed value and a message. */
        FUZZ_CHECK(st == DENSECL_ERR_FORMAT || st == DENSECL_ERR_NO_MEMORY);
        FUZZ_CHECK(j.count == 0 && j.items == NULL && j.keys == NULL && j.string == NULL);
        FUZZ_CHECK(densecl_last_error()[0] != '\0');
        return 0;
    }
    check_tree(&j, 0);
    jb_value(&b, &j);
    st = dc_json_parse(b.s, b.n, "fuzz round trip", &k);
    if (st != DENSECL_OK)
        fprintf(stderr, "round trip refused: %s\n%s\n", densecl_last_error(), b.s);
    FUZZ_CHECK(st == DENSECL_OK);
    FUZZ_CHECK(same_tree(&j, &k));
    dc_json_free(&k);
    dc_json_free(&j);
    dc_json_free(&j); /* freeing twice is harmless: dc_json_free zeroes */
    free(b.s);
    return 0;
}
