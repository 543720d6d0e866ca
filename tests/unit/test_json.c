/* SPDX-License-Identifier: MIT */
/* The strict JSON parser: what RFC 8259 allows, and every refusal with its message. */
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan/plan.h"

static int parse(const char *text, dc_json *j)
{
    return dc_json_parse(text, strlen(text), "test", j);
}

/* Parses text, which must be refused with a message containing want. */
static void refuse(const char *text, size_t len, const char *want)
{
    dc_json j;
    densecl_status st = dc_json_parse(text, len, "test", &j);
    CHECKF(st == DENSECL_ERR_FORMAT, "'%s' accepted (status %d)", text, (int)st);
    CHECKF(strstr(densecl_last_error(), want) != NULL, "'%s': message '%s' lacks '%s'", text,
           densecl_last_error(), want);
    CHECKF(strncmp(densecl_last_error(), "test: invalid JSON at byte ", 27) == 0,
           "'%s': message '%s'", text, densecl_last_error());
    CHECK(j.type == DC_JSON_NULL && j.count == 0 && !j.items && !j.keys && !j.string);
}

#define REFUSE(text, want) refuse(text, sizeof(text) - 1, want)

static void test_scalars(void)
{
    dc_json j;
    CHECK(parse("null", &j) == DENSECL_OK && j.type == DC_JSON_NULL);
    CHECK(parse(" true ", &j) == DENSECL_OK && j.type == DC_JSON_BOOL && j.boolean == 1);
    CHECK(parse("\t\r\nfalse\n", &j) == DENSECL_OK && j.type == DC_JSON_BOOL && j.boolean == 0);
    static const struct {
        const char *text;
        double value;
    } nums[] = {
        {"0", 0.0},
        {"-0", -0.0},
        {"7", 7.0},
        {"-12", -12.0},
        {"1.5", 1.5},
        {"-2.5E-3", -2.5e-3},
        {"1e3", 1000.0},
        {"1E+2", 100.0},
        {"0.5", 0.5},
        {"9007199254740993", 9007199254740992.0},         /* rounds to nearest even */
        {"18446744073709551616", 18446744073709551616.0}, /* past uint64: strtod path */
        {"1099511627776", 1099511627776.0},
        {"1e-400", 0.0},
    };
    for (size_t i = 0; i < DC_ARRAY_LEN(nums); i++) {
        densecl_status st = parse(nums[i].text, &j);
        CHECKF(st == DENSECL_OK && j.type == DC_JSON_NUMBER && j.number == nums[i].value,
               "%s -> %d %.17g", nums[i].text, (int)st, j.number);
        dc_json_free(&j);
    }
    CHECK(parse("-0", &j) == DENSECL_OK && signbit(j.number));
    /* Integers are told apart by how they are written, not by their value. */
    static const struct {
        const char *text;
        int integer;
    } ints[] = {{"0", 1},    {"-3", 1}, {"18446744073709551616", 1}, {"1.0", 0}, {"1e0", 0},
                {"2E+1", 0}, {"0.5", 0}};
    for (size_t i = 0; i < DC_ARRAY_LEN(ints); i++) {
        CHECKF(parse(ints[i].text, &j) == DENSECL_OK && dc_json_is_integer(&j) == ints[i].integer,
               "%s: integer %d", ints[i].text, j.integer);
        dc_json_free(&j);
    }
    CHECK(parse("\"1\"", &j) == DENSECL_OK && !dc_json_is_integer(&j));
    dc_json_free(&j);
    CHECK(!dc_json_is_integer(NULL));
}

static void test_strings(void)
{
    dc_json j;
    CHECK(parse("\"\"", &j) == DENSECL_OK && j.type == DC_JSON_STRING && j.string[0] == '\0');
    dc_json_free(&j);
    CHECK(parse("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", &j) == DENSECL_OK);
    CHECK(j.string && strcmp(j.string, "a\"b\\c/d\b\f\n\r\t") == 0);
    dc_json_free(&j);
    /* \u escapes to UTF-8: 1, 2, 3 bytes and a surrogate pair to 4. */
    CHECK(parse("\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\"", &j) == DENSECL_OK);
    CHECK(j.string && strcmp(j.string, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80") == 0);
    dc_json_free(&j);
    /* Raw UTF-8 passes through; DEL is not a control character. */
    CHECK(parse("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x7F\"", &j) == DENSECL_OK);
    CHECK(j.string && strcmp(j.string, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\x7F") == 0);
    dc_json_free(&j);
}

static void test_containers(void)
{
    dc_json j;
    const dc_json *v;
    CHECK(parse("[]", &j) == DENSECL_OK && j.type == DC_JSON_ARRAY && j.count == 0);
    dc_json_free(&j);
    CHECK(parse("{}", &j) == DENSECL_OK && j.type == DC_JSON_OBJECT && j.count == 0);
    CHECK(dc_json_get(&j, "a") == NULL);
    dc_json_free(&j);
    CHECK(parse(" { \"a\" : [1, 2.5, \"x\", null, true, {\"b\": []}], \"c\": {} } ", &j) ==
          DENSECL_OK);
    CHECK(j.type == DC_JSON_OBJECT && j.count == 2);
    CHECK(j.keys && strcmp(j.keys[0], "a") == 0 && strcmp(j.keys[1], "c") == 0);
    v = dc_json_get(&j, "a");
    CHECK(v && v->type == DC_JSON_ARRAY && v->count == 6);
    if (v && v->count == 6) {
        CHECK(v->items[0].number == 1.0 && v->items[1].number == 2.5);
        CHECK(strcmp(v->items[2].string, "x") == 0 && v->items[3].type == DC_JSON_NULL);
        CHECK(v->items[4].boolean == 1 && dc_json_get(&v->items[5], "b") != NULL);
        CHECK(dc_json_get(&v->items[0], "b") == NULL); /* not an object */
    }
    CHECK(dc_json_get(&j, "c") && dc_json_get(&j, "c")->type == DC_JSON_OBJECT);
    CHECK(dc_json_get(&j, "d") == NULL && dc_json_get(NULL, "a") == NULL);
    dc_json_free(&j);
    dc_json_free(&j); /* freeing twice is harmless: free() resets */
    dc_json_free(NULL);

    /* A big object: duplicate detection must stay fast and still find the one duplicate. */
    size_t n = 20000, cap = n * 24 + 64, len = 0;
    char *big = malloc(cap);
    CHECK(big != NULL);
    if (big) {
        big[len++] = '{';
        for (size_t i = 0; i < n; i++)
            len += (size_t)snprintf(big + len, cap - len, "%s\"k%zu\":%zu", i ? "," : "", i, i);
        big[len++] = '}';
        CHECK(dc_json_parse(big, len, "big", &j) == DENSECL_OK && j.count == (int)n);
        CHECK(dc_json_get(&j, "k19999") && dc_json_get(&j, "k19999")->number == 19999.0);
        dc_json_free(&j);
        len--;
        len += (size_t)snprintf(big + len, cap - len, ",\"k123\":0}");
        CHECK(dc_json_parse(big, len, "big", &j) == DENSECL_ERR_FORMAT);
        CHECK(strstr(densecl_last_error(), "duplicate key \"k123\"") != NULL);
        free(big);
    }
}

static void test_depth(void)
{
    char buf[512];
    dc_json j;
    /* 64 nested arrays are fine, 65 are refused. */
    memset(buf, '[', 64);
    memset(buf + 64, ']', 64);
    CHECK(dc_json_parse(buf, 128, "deep", &j) == DENSECL_OK);
    dc_json_free(&j);
    memset(buf, '[', 65);
    memset(buf + 65, ']', 65);
    CHECK(dc_json_parse(buf, 130, "deep", &j) == DENSECL_ERR_FORMAT);
    CHECK(strstr(densecl_last_error(), "nesting too deep") != NULL);
    /* Deep objects too, and an unbalanced deep prefix never recurses past the bound. */
    size_t n = 0;
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "{\"a\":");
    CHECK(dc_json_parse(buf, n, "deep", &j) == DENSECL_ERR_FORMAT);
    CHECK(strstr(densecl_last_error(), "nesting too deep") != NULL);
}

static void test_refusals(void)
{
    REFUSE("", "unexpected end of input");
    REFUSE("   ", "unexpected end of input");
    REFUSE("[1,]", "trailing comma");
    REFUSE("{\"a\":1,}", "trailing comma");
    REFUSE("[1 2]", "expected ',' or ']'");
    REFUSE("{\"a\" 1}", "expected ':'");
    REFUSE("{\"a\":1 \"b\":2}", "expected ',' or '}'");
    REFUSE("{a:1}", "expected a string key");
    REFUSE("{'a':1}", "expected a string key");
    REFUSE("{1:1}", "expected a string key");
    REFUSE("[1] // c", "unexpected data after the value");
    REFUSE("/* c */ 1", "unexpected character");
    REFUSE("NaN", "unexpected character");
    REFUSE("Infinity", "unexpected character");
    REFUSE("-Infinity", "invalid number");
    REFUSE("nul", "unexpected character");
    REFUSE("True", "unexpected character");
    REFUSE("01", "leading zero");
    REFUSE("-01", "leading zero");
    REFUSE("1.", "digit expected after '.'");
    REFUSE(".5", "unexpected character");
    REFUSE("+1", "unexpected character");
    REFUSE("1e", "digit expected in exponent");
    REFUSE("1e+", "digit expected in exponent");
    REFUSE("-", "invalid number");
    REFUSE("1e999", "out of range");
    REFUSE("-1e999", "out of range");
    REFUSE("0x10", "unexpected data after the value");
    REFUSE("\"abc", "unterminated string");
    REFUSE("\"abc\\\"", "unterminated string");
    REFUSE("\"a\tb\"", "control character");
    REFUSE("\"a\nb\"", "control character");
    REFUSE("\"a\x1f\"", "control character");
    REFUSE("\"\\x41\"", "invalid escape");
    REFUSE("\"\\'\"", "invalid escape");
    REFUSE("\"\\u12\"", "truncated \\u escape");
    REFUSE("\"\\u12\" ", "invalid hex digit");
    REFUSE("\"\\u12g4\"", "invalid hex digit");
    REFUSE("\"\\u0000\"", "\\u0000");
    REFUSE("\"\\ud83d\"", "high surrogate");
    REFUSE("\"\\ud83dx\"", "high surrogate");
    REFUSE("\"\\ud83d\\u0041\"", "high surrogate");
    REFUSE("\"\\ude00\"", "lone low surrogate");
    REFUSE("\"\xC0\x80\"", "invalid UTF-8");         /* overlong NUL */
    REFUSE("\"\xE0\x80\xAF\"", "invalid UTF-8");     /* overlong '/' */
    REFUSE("\"\xED\xA0\x80\"", "invalid UTF-8");     /* encoded surrogate */
    REFUSE("\"\xF4\x90\x80\x80\"", "invalid UTF-8"); /* above U+10FFFF */
    REFUSE("\"\xF5\x80\x80\x80\"", "invalid UTF-8");
    REFUSE("\"\x80\"", "invalid UTF-8");
    REFUSE("\"\xC3\"", "invalid UTF-8");
    REFUSE("\"\xE2\x82\"", "invalid UTF-8");
    REFUSE("\"\xFF\"", "invalid UTF-8");
    REFUSE("{\"a\":1,\"a\":2}", "duplicate key \"a\"");
    REFUSE("{\"x\":{\"a\":1,\"b\":{},\"a\":[]}}", "duplicate key \"a\"");
    REFUSE("{} x", "unexpected data after the value");
    REFUSE("{}}", "unexpected data after the value");
    REFUSE("1 2", "unexpected data after the value");
    REFUSE("[1]\0", "unexpected data after the value");
    REFUSE("\"a\0b\"", "control character");
    REFUSE("\xEF\xBB\xBF{}", "unexpected character"); /* no byte order mark */
    REFUSE("[1,\xA0", "unexpected character");

    /* The offset is a byte index into the text. */
    dc_json j;
    CHECK(parse("[1, 2,]", &j) == DENSECL_ERR_FORMAT);
    CHECK(strcmp(densecl_last_error(), "test: invalid JSON at byte 6: trailing comma") == 0);
    CHECK(dc_json_parse("{\"a\":1}", 7, NULL, &j) == DENSECL_OK);
    dc_json_free(&j);
    CHECK(dc_json_parse("{", 1, NULL, &j) == DENSECL_ERR_FORMAT);
    CHECK(strncmp(densecl_last_error(), "JSON: invalid JSON at byte 1", 28) == 0);
    /* The length is honoured: no NUL terminator needed, nothing read past it. */
    CHECK(dc_json_parse("[1]garbage", 3, "n", &j) == DENSECL_OK && j.count == 1);
    dc_json_free(&j);
    CHECK(dc_json_parse("\"abc\"", 3, "n", &j) == DENSECL_ERR_FORMAT);
    CHECK(dc_json_parse(NULL, 0, "n", &j) == DENSECL_ERR_FORMAT);
    CHECK(dc_json_parse("1", 1, "n", NULL) == DENSECL_ERR_ARGUMENT);
}

/* Numbers mean the same whatever LC_NUMERIC the application chose. */
static void test_locale(void)
{
    static const char *locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "C.UTF-8"};
    dc_json j;
    for (size_t i = 0; i < DC_ARRAY_LEN(locales); i++) {
        if (!setlocale(LC_NUMERIC, locales[i]))
            continue;
        CHECKF(parse("[0.5, -1.25e1]", &j) == DENSECL_OK && j.items[0].number == 0.5 &&
                   j.items[1].number == -12.5,
               "locale %s", locales[i]);
        dc_json_free(&j);
        REFUSE("0,5", "unexpected data after the value");
    }
    setlocale(LC_NUMERIC, "C");
}

int main(void)
{
    test_scalars();
    test_strings();
    test_containers();
    test_depth();
    test_refusals();
    test_locale();
    return check_summary();
}
