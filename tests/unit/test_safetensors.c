/* SPDX-License-Identifier: MIT */
/* safetensors reading/writing, dtype conversion, key mapping, every refusal of the reader,
 * architecture inference and checking, and the public weights API. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "dir_count.h"
#include "plan/plan.h"

static char tmpdir[64];
static char st_path[128];

/* Writes <tmpdir>/name: the 8-byte little-endian length of header, header, then data. */
static const char *write_st(const char *name, const char *header, size_t hlen, const void *data,
                            size_t n)
{
    unsigned char len8[8];
    snprintf(st_path, sizeof st_path, "%s/%s", tmpdir, name);
    for (int k = 0; k < 8; k++)
        len8[k] = (unsigned char)((uint64_t)hlen >> (8 * k));
    FILE *f = fopen(st_path, "wb");
    if (!f)
        return st_path;
    fwrite(len8, 1, 8, f);
    fwrite(header, 1, hlen, f);
    if (n)
        fwrite(data, 1, n, f);
    fclose(f);
    return st_path;
}

static densecl_status read_st(const char *header, const void *data, size_t n, dc_tensor_set *set)
{
    const char *path = write_st("t.safetensors", header, strlen(header), data, n);
    return dc_safetensors_read(path, set);
}

static void refuse_at(int line, const char *header, size_t hlen, const void *data, size_t n,
                      const char *want)
{
    dc_tensor_set set;
    const char *path = write_st("bad.safetensors", header, hlen, data, n);
    densecl_status st = dc_safetensors_read(path, &set);
    const char *msg = densecl_last_error();
    CHECKF(st == DENSECL_ERR_FORMAT, "line %d: accepted (status %d)", line, (int)st);
    CHECKF(strncmp(msg, path, strlen(path)) == 0,
           "line %d: message '%s' does not start with "
           "the path",
           line, msg);
    CHECKF(strstr(msg, want) != NULL, "line %d: message '%s' lacks '%s'", line, msg, want);
    CHECK(set.count == 0 && set.t == NULL && set.meta_count == 0);
}

#define REFUSE(header, data, n, want) refuse_at(__LINE__, header, strlen(header), data, n, want)

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static const float two_floats[2] = {1.5f, -2.0f};

/* ------------------------------------------------------------------ valid files */

static void test_f32(void)
{
    dc_tensor_set s;
    CHECK(read_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", two_floats, 8,
                  &s) == DENSECL_OK);
    CHECK(s.count == 1 && strcmp(s.t[0].key, "a") == 0 && s.t[0].dtype == DC_F32);
    CHECK(s.t[0].ndim == 1 && s.t[0].shape[0] == 2);
    CHECK(s.t[0].data && s.t[0].data[0] == 1.5f && s.t[0].data[1] == -2.0f);
    CHECK(dc_tensor_find(&s, "a") == &s.t[0] && dc_tensor_find(&s, "b") == NULL);
    CHECK(s.meta_count == 0);
    dc_tensor_set_free(&s);
    dc_tensor_set_free(&s);
    dc_tensor_set_free(NULL);

    /* Empty header, trailing spaces (the reference pads with them), scalars, empty tensors,
     * tensors listed out of data order. */
    CHECK(read_st("{}", NULL, 0, &s) == DENSECL_OK && s.count == 0);
    dc_tensor_set_free(&s);
    CHECK(read_st("{}      ", NULL, 0, &s) == DENSECL_OK && s.count == 0);
    dc_tensor_set_free(&s);
    CHECK(read_st("{\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]},"
                  "\"e\":{\"dtype\":\"F32\",\"shape\":[0, 5],\"data_offsets\":[4,4]},"
                  "\"a\":{\"shape\":[1],\"data_offsets\":[0,4],\"dtype\":\"F32\"}}",
                  two_floats, 8, &s) == DENSECL_OK);
    CHECK(s.count == 3 && strcmp(s.t[0].key, "b") == 0 && strcmp(s.t[2].key, "a") == 0);
    if (s.count == 3) {
        CHECK(s.t[0].ndim == 0 && s.t[0].data[0] == -2.0f && s.t[2].data[0] == 1.5f);
        CHECK(s.t[1].ndim == 2 && s.t[1].shape[0] == 0 && s.t[1].data != NULL);
    }
    dc_tensor_set_free(&s);
}

/* An independent half decoder from the definition, for every one of the 65536 values. */
static void test_f16_exhaustive(void)
{
    static uint16_t h[65536];
    dc_tensor_set s;
    char header[128];
    for (uint32_t i = 0; i < 65536; i++) {
        unsigned char *p = (unsigned char *)&h[i];
        p[0] = (unsigned char)(i & 0xFF); /* little-endian whatever the host */
        p[1] = (unsigned char)(i >> 8);
    }
    snprintf(header, sizeof header,
             "{\"h\":{\"dtype\":\"F16\",\"shape\":[256,256],\"data_offsets\":[0,131072]}}");
    CHECK(read_st(header, h, sizeof h, &s) == DENSECL_OK && s.count == 1);
    if (s.count != 1)
        return;
    int bad = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        int sign = (int)(i >> 15), e = (int)((i >> 10) & 31), m = (int)(i & 1023);
        float got = s.t[0].data[i];
        if (e == 31) {
            uint32_t want = (sign ? 0xFF800000u : 0x7F800000u) | (uint32_t)m << 13;
            bad += bits(got) != want;
        } else {
            double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
            float want = (float)(sign ? -v : v);
            bad += bits(got) != bits(want);
        }
    }
    CHECKF(bad == 0, "%d half values converted wrongly", bad);
    /* Spot checks of the interesting ones. */
    CHECK(bits(s.t[0].data[0x0000]) == 0x00000000u && bits(s.t[0].data[0x8000]) == 0x80000000u);
    CHECK(s.t[0].data[0x3C00] == 1.0f && s.t[0].data[0xC000] == -2.0f);
    CHECK(s.t[0].data[0x0001] == 0x1p-24f && s.t[0].data[0x03FF] == 1023 * 0x1p-24f);
    CHECK(s.t[0].data[0x8001] == -0x1p-24f && s.t[0].data[0x0400] == 0x1p-14f);
    CHECK(s.t[0].data[0x7BFF] == 65504.0f);
    CHECK(isinf(s.t[0].data[0x7C00]) && s.t[0].data[0xFC00] < 0 && isinf(s.t[0].data[0xFC00]));
    CHECK(isnan(s.t[0].data[0x7E00]) && bits(s.t[0].data[0x7C01]) == 0x7F802000u);
    dc_tensor_set_free(&s);
}

static void test_bf16_f64_ints(void)
{
    static const uint16_t bf[] = {0x3F80, 0xC049, 0x7F80, 0xFF80, 0x7FC1, 0x0001, 0x8000, 0x0080};
    static const uint32_t want[] = {0x3F800000u, 0xC0490000u, 0x7F800000u, 0xFF800000u,
                                    0x7FC10000u, 0x00010000u, 0x80000000u, 0x00800000u};
    unsigned char data[16 + 16 + 8 + 8 + 4 + 2 + 1 + 1 + 1];
    size_t n = 0;
    for (size_t i = 0; i < DC_ARRAY_LEN(bf); i++) {
        data[n++] = (unsigned char)(bf[i] & 0xFF);
        data[n++] = (unsigned char)(bf[i] >> 8);
    }
    double d[2] = {0.1, -3.0e38};
    for (int i = 0; i < 2; i++) {
        uint64_t u;
        memcpy(&u, &d[i], 8);
        for (int k = 0; k < 8; k++)
            data[n++] = (unsigned char)(u >> (8 * k));
    }
    memset(data + n, 7, sizeof data - n); /* I64, I32, I16, I8, U8, BOOL payloads */
    dc_tensor_set s;
    CHECK(read_st("{\"bf\":{\"dtype\":\"BF16\",\"shape\":[8],\"data_offsets\":[0,16]},"
                  "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[16,32]},"
                  "\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[32,40]},"
                  "\"i32\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[40,48]},"
                  "\"i16\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[48,52]},"
                  "\"i8\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[52,54]},"
                  "\"u8\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[54,55]},"
                  "\"b\":{\"dtype\":\"BOOL\",\"shape\":[1,1],\"data_offsets\":[55,56]}}",
                  data, 56, &s) == DENSECL_OK);
    CHECK(s.count == 8);
    if (s.count != 8)
        return;
    for (size_t i = 0; i < DC_ARRAY_LEN(bf); i++)
        CHECKF(bits(s.t[0].data[i]) == want[i], "bf16 %04x -> %08x", bf[i], bits(s.t[0].data[i]));
    CHECK(s.t[0].dtype == DC_BF16 && s.t[1].dtype == DC_F64);
    CHECK(s.t[1].data[0] == (float)0.1 && s.t[1].data[1] == -3.0e38f);
    static const dc_dtype ints[] = {DC_I64, DC_I32, DC_I16, DC_I8, DC_U8, DC_BOOL};
    for (int i = 0; i < 6; i++)
        CHECK(s.t[2 + i].dtype == ints[i] && s.t[2 + i].data == NULL);
    dc_tensor_set_free(&s);
}

/* F64 values are converted to float32; one that would become infinite is refused with the key
 * and index; infinities and NaN stay what they are (the load's value check refuses them). */
static void test_f64_range(void)
{
    static const char *const head =
        "{\"w\":{\"dtype\":\"F64\",\"shape\":[4],\"data_offsets\":[0,32]}}";
    /* FLT_MAX; the largest double that rounds to it; -0; and a fourth value per case. */
    double d[4] = {0x1.fffffep+127, 0x1.fffffefffffffp+127, -0.0, 0.0};
    const double huge[] = {0x1.ffffffp+127, -0x1.ffffffp+127, 1e300, -1e39, 0x1p+128};
    const double kept[] = {INFINITY, -INFINITY, NAN, 1e-50};
    unsigned char data[32];
    dc_tensor_set s;
    for (size_t c = 0; c < DC_ARRAY_LEN(huge) + DC_ARRAY_LEN(kept); c++) {
        d[3] = c < DC_ARRAY_LEN(huge) ? huge[c] : kept[c - DC_ARRAY_LEN(huge)];
        for (int i = 0; i < 4; i++) {
            uint64_t u;
            memcpy(&u, &d[i], 8);
            for (int k = 0; k < 8; k++)
                data[8 * i + k] = (unsigned char)(u >> (8 * k));
        }
        densecl_status st = read_st(head, data, sizeof data, &s);
        if (c < DC_ARRAY_LEN(huge)) {
            CHECKF(st == DENSECL_ERR_FORMAT, "%g accepted", d[3]);
            CHECKF(strstr(densecl_last_error(), "'w'") && strstr(densecl_last_error(), "index 3") &&
                       strstr(densecl_last_error(), "range"),
                   "%s", densecl_last_error());
            continue;
        }
        CHECKF(st == DENSECL_OK, "%g: %s", d[3], densecl_last_error());
        if (st != DENSECL_OK)
            continue;
        CHECK(s.t[0].data[0] == FLT_MAX && s.t[0].data[1] == FLT_MAX);
        CHECK(s.t[0].data[2] == 0.0f && signbit(s.t[0].data[2]));
        CHECKF(isnan(d[3]) ? isnan(s.t[0].data[3]) : s.t[0].data[3] == (float)d[3], "%g", d[3]);
        dc_tensor_set_free(&s);
    }
}

static void test_keys_and_metadata(void)
{
    static const float z[8];
    dc_tensor_set s;
    CHECK(read_st("{\"__metadata__\":{\"format\":\"pt\",\"densecl.note\":\"h\\u00e9\"},"
                  "\"module.features.denseblock1.denselayer1.norm.1.weight\":"
                  "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"features.denseblock2.denselayer10.conv.2.weight\":"
                  "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                  "\"features.norm0.num_batches_tracked\":"
                  "{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]},"
                  "\"features.denseblock1.denselayer1.norm.2.running_var\":"
                  "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]},"
                  "\"features.transition1.norm.weight\":"
                  "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[20,24]},"
                  "\"num_batches_tracked\":"
                  "{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[24,32]}}",
                  z, 32, &s) == DENSECL_OK);
    CHECK(s.count == 4);
    CHECK(dc_tensor_find(&s, "features.denseblock1.denselayer1.norm1.weight") != NULL);
    CHECK(dc_tensor_find(&s, "features.denseblock2.denselayer10.conv2.weight") != NULL);
    CHECK(dc_tensor_find(&s, "features.denseblock1.denselayer1.norm2.running_var") != NULL);
    CHECK(dc_tensor_find(&s, "features.transition1.norm.weight") != NULL); /* not a layer */
    CHECK(dc_tensor_find(&s, "features.norm0.num_batches_tracked") == NULL);
    CHECK(s.meta_count == 2);
    if (s.meta_count == 2) {
        CHECK(strcmp(s.meta_keys[0], "format") == 0 && strcmp(s.meta_values[0], "pt") == 0);
        CHECK(strcmp(s.meta_keys[1], "densecl.note") == 0 &&
              strcmp(s.meta_values[1], "h\xC3\xA9") == 0);
    }
    dc_tensor_set_free(&s);
}

/* ------------------------------------------------------------------ refusals */

#define T1(body) "{\"a\":{" body "}}"

static void test_refusals(void)
{
    static const unsigned char z[64];
    unsigned char raw[16];
    dc_tensor_set s;

    /* Shorter than the 8-byte length. */
    snprintf(st_path, sizeof st_path, "%s/short.safetensors", tmpdir);
    FILE *f = fopen(st_path, "wb");
    if (f) {
        fwrite("\x02\0\0\0\0", 1, 5, f);
        fclose(f);
    }
    CHECK(dc_safetensors_read(st_path, &s) == DENSECL_ERR_FORMAT);
    CHECK(strstr(densecl_last_error(), "8-byte") && strstr(densecl_last_error(), st_path));
    f = fopen(st_path, "wb");
    if (f)
        fclose(f);
    CHECK(dc_safetensors_read(st_path, &s) == DENSECL_ERR_FORMAT); /* empty file */

    /* Header length: over the limit, past the end. */
    memset(raw, 0, sizeof raw);
    raw[0] = 0x01;
    raw[1] = 0xE1;
    raw[2] = 0xF5;
    raw[3] = 0x05; /* 100000001 */
    snprintf(st_path, sizeof st_path, "%s/hl.safetensors", tmpdir);
    f = fopen(st_path, "wb");
    if (f) {
        fwrite(raw, 1, 16, f);
        fclose(f);
    }
    CHECK(dc_safetensors_read(st_path, &s) == DENSECL_ERR_FORMAT);
    CHECK(strstr(densecl_last_error(), "limit of 100000000") != NULL);
    memset(raw, 0xFF, 8);
    f = fopen(st_path, "wb");
    if (f) {
        fwrite(raw, 1, 16, f);
        fclose(f);
    }
    CHECK(dc_safetensors_read(st_path, &s) == DENSECL_ERR_FORMAT);
    CHECK(strstr(densecl_last_error(), "limit") != NULL);
    memcpy(raw, "\x0B\0\0\0\0\0\0\0{}      ", 16); /* 11 > the 8 bytes there are */
    f = fopen(st_path, "wb");
    if (f) {
        fwrite(raw, 1, 16, f);
        fclose(f);
    }
    CHECK(dc_safetensors_read(st_path, &s) == DENSECL_ERR_FORMAT);
    CHECK(strstr(densecl_last_error(), "header length 11 runs past the end of the file (16 "
                                       "bytes)") != NULL);

    /* Header not JSON, not an object, trailing garbage. */
    REFUSE("", NULL, 0, "does not start with '{'");
    REFUSE(" {}", NULL, 0, "does not start with '{'");
    REFUSE("[1]", NULL, 0, "does not start with '{'");
    REFUSE("{abc}", NULL, 0, "header: invalid JSON at byte 1");
    REFUSE("{\"a\":1,}", NULL, 0, "trailing comma");
    REFUSE("{} x", NULL, 0, "unexpected data after the value");
    refuse_at(__LINE__, "{}\0", 3, NULL, 0, "unexpected data after the value");
    REFUSE("{\"a\":\"\xC0\x80\"}", NULL, 0, "invalid UTF-8");
    REFUSE("{\"a\":1, \"a\":2}", NULL, 0, "duplicate key \"a\"");

    /* Entries. */
    REFUSE("{\"a\":1}", NULL, 0, "tensor 'a' is not a JSON object");
    REFUSE(T1("\"shape\":[2],\"data_offsets\":[0,8]"), z, 8, "tensor 'a' has no \"dtype\"");
    REFUSE(T1("\"dtype\":\"F32\",\"data_offsets\":[0,8]"), z, 8, "tensor 'a' has no \"shape\"");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[2]"), z, 8, "tensor 'a' has no \"data_offsets\"");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"foo\":1"), z, 8,
           "tensor 'a' has an unexpected field 'foo'");
    REFUSE(T1("\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]"), z, 8,
           "\"dtype\" is not a string");
    REFUSE(T1("\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]"), z, 2,
           "tensor 'a' has dtype 'F8_E4M3'");
    REFUSE(T1("\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]"), z, 8, "'f32'");
    REFUSE(T1("\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[0,4]"), z, 4, "'U16'");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]"), z, 8, "not an array");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]"), z, 8,
           "negative dimension");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[2, -1],\"data_offsets\":[0,8]"), z, 8, "negative");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]"), z, 8, "non-integer");
    /* Integers in value but not in form: the format (and the reference reader) wants integers. */
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]"), z, 8, "non-integer");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[2e0],\"data_offsets\":[0,8]"), z, 8, "non-integer");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]"), z, 8, "non-integer");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,8]"), z, 8, "too large");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]"), z, 8,
           "9 dimensions (at most 8)");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],"
              "\"data_offsets\":[0,8]"),
           z, 8, "shape [1099511627776, 1099511627776] is too large");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]"), z, 8,
           "too large"); /* 2^62 elements: the byte count overflows */
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]"), z, 8,
           "data_offsets are reversed (begin 8 > end 0)");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]"), z, 8,
           "\"data_offsets\" is not [begin, end]");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,16]"), z, 8,
           "\"data_offsets\" is not [begin, end]");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{}"), z, 8,
           "\"data_offsets\" is not [begin, end]");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]"), z, 8,
           "non-negative integers");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.5]"), z, 8,
           "non-negative integers");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]"), z, 8,
           "non-negative integers");
    REFUSE(T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]"), z, 4,
           "shape [2] of F32 needs 8 bytes but data_offsets give 4");
    REFUSE(T1("\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,16]"), z, 16,
           "needs 8 bytes but data_offsets give 16");

    /* Layout: gap, overlap, not at 0, trailing bytes, truncated. */
#define TWO                                                                                        \
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%d,%d]},"                           \
    "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%d,%d]}}"
    char h[256];
    snprintf(h, sizeof h, TWO, 0, 4, 8, 12);
    REFUSE(h, z, 12, "gap of 4 bytes between tensor 'a' (ends at 4) and tensor 'b'");
    snprintf(h, sizeof h, TWO, 0, 4, 2, 6);
    REFUSE(h, z, 6, "tensor 'b' (starts at 2) overlaps tensor 'a' (ends at 4)");
    snprintf(h, sizeof h, TWO, 0, 4, 0, 4);
    REFUSE(h, z, 4, "overlaps");
    snprintf(h, sizeof h, TWO, 4, 8, 8, 12);
    REFUSE(h, z, 12, "the first tensor 'a' starts at byte 4 of the data, not at 0");
    snprintf(h, sizeof h, TWO, 0, 4, 4, 8);
    REFUSE(h, z, 9, "1 trailing bytes after the last tensor");
    REFUSE(h, z, 7, "tensors need 8 bytes of data but the file has 7 after the header");
    REFUSE("{}", z, 1, "trailing bytes");

    /* Duplicates after mapping legacy names or DataParallel's prefix. */
    REFUSE("{\"x.denselayer1.norm.1.weight\":{\"dtype\":\"F32\",\"shape\":[1],"
           "\"data_offsets\":[0,4]},"
           "\"x.denselayer1.norm1.weight\":{\"dtype\":\"F32\",\"shape\":[1],"
           "\"data_offsets\":[4,8]}}",
           z, 8, "duplicate tensor 'x.denselayer1.norm1.weight'");
    REFUSE("{\"module.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
           z, 8, "duplicate tensor 'w'");

    /* Metadata. */
    REFUSE("{\"__metadata__\":[]}", NULL, 0, "__metadata__ is not a JSON object");
    REFUSE("{\"__metadata__\":{\"a\":1}}", NULL, 0, "__metadata__ entry 'a' is not a string");
    REFUSE("{\"__metadata__\":{\"a\":\"x\",\"b\":null}}", NULL, 0, "entry 'b'");

    /* Files that are not there or not files. */
    snprintf(st_path, sizeof st_path, "%s/none.safetensors", tmpdir);
    CHECK(dc_safetensors_read(st_path, &s) == DENSECL_ERR_IO);
    CHECK(strstr(densecl_last_error(), "none.safetensors") != NULL);
    CHECK(dc_safetensors_read(tmpdir, &s) == DENSECL_ERR_IO);
    CHECK(dc_safetensors_read(NULL, &s) == DENSECL_ERR_ARGUMENT);
}

/* ------------------------------------------------------------------ writer */

static void test_write(void)
{
    float a[6] = {1, 2, 3, 4, 5, -0.0f}, b[1] = {7};
    char *mk[2] = {"format", "quote\"d\n"}, *mv[2] = {"pt", "v\\al"};
    dc_tensor t[3];
    memset(t, 0, sizeof t);
    t[0].key = "w \"odd\" \\ key\t";
    t[0].dtype = DC_F32;
    t[0].ndim = 2;
    t[0].shape[0] = 2;
    t[0].shape[1] = 3;
    t[0].data = a;
    t[1].key = "skipped";
    t[1].dtype = DC_I64;
    t[1].ndim = 1;
    t[1].shape[0] = 4; /* data == NULL: not written */
    t[2].key = "s";
    t[2].dtype = DC_F16; /* written as F32 whatever it was read as */
    t[2].ndim = 0;
    t[2].data = b;
    dc_tensor_set set = {3, t, 2, mk, mv, {{0}, 0, {0}}}, r;
    char path[128], dir[72];
    snprintf(dir, sizeof dir, "%s/w", tmpdir);
    CHECK(mkdir(dir, 0755) == 0);
    snprintf(path, sizeof path, "%s/out.safetensors", dir);
    CHECK(dc_safetensors_write(path, &set) == DENSECL_OK);
    CHECK(count_entries(dir) == 1);
    CHECKF(dc_safetensors_read(path, &r) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(r.count == 2 && r.meta_count == 2);
    if (r.count == 2 && r.meta_count == 2) {
        CHECK(strcmp(r.t[0].key, t[0].key) == 0 && r.t[0].ndim == 2 && r.t[0].shape[1] == 3);
        CHECK(memcmp(r.t[0].data, a, sizeof a) == 0 && r.t[0].dtype == DC_F32);
        CHECK(strcmp(r.t[1].key, "s") == 0 && r.t[1].ndim == 0 && r.t[1].data[0] == 7.0f);
        CHECK(strcmp(r.meta_keys[1], mk[1]) == 0 && strcmp(r.meta_values[1], mv[1]) == 0);
    }
    dc_tensor_set_free(&r);
    /* The header is padded with spaces to a multiple of 8. */
    FILE *f = fopen(path, "rb");
    unsigned char len8[8];
    CHECK(f && fread(len8, 1, 8, f) == 8);
    if (f)
        fclose(f);
    CHECK(len8[0] % 8 == 0);

    /* Refusals leave the old file and no temporary. */
    t[2].key = t[0].key;
    CHECK(dc_safetensors_write(path, &set) == DENSECL_ERR_ARGUMENT);
    CHECK(strstr(densecl_last_error(), "duplicate") != NULL);
    t[2].key = "__metadata__";
    CHECK(dc_safetensors_write(path, &set) == DENSECL_ERR_ARGUMENT);
    t[2].key = "s";
    t[0].shape[0] = -2;
    CHECK(dc_safetensors_write(path, &set) == DENSECL_ERR_ARGUMENT);
    t[0].shape[0] = 2;
    snprintf(path, sizeof path, "%s/sub", dir);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/sub/x", dir);
    f = fopen(path, "w");
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "%s/sub", dir);
    CHECK(dc_safetensors_write(path, &set) == DENSECL_ERR_IO); /* rename over a directory */
    CHECK(count_entries(dir) == 2);
    snprintf(path, sizeof path, "%s/no/such.safetensors", dir);
    CHECK(dc_safetensors_write(path, &set) == DENSECL_ERR_IO);
    CHECK(count_entries(dir) == 2);
    snprintf(path, sizeof path, "%s/out.safetensors", dir);
    CHECK(dc_safetensors_read(path, &r) == DENSECL_OK && r.count == 2);
    dc_tensor_set_free(&r);
    remove(path);
    snprintf(path, sizeof path, "%s/sub/x", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    rmdir(dir);

    /* An empty set writes "{}" padded to 8. */
    dc_tensor_set empty = {0, NULL, 0, NULL, NULL, {{0}, 0, {0}}};
    snprintf(path, sizeof path, "%s/empty.safetensors", tmpdir);
    CHECK(dc_safetensors_write(path, &empty) == DENSECL_OK);
    CHECK(dc_safetensors_read(path, &r) == DENSECL_OK && r.count == 0);
    dc_tensor_set_free(&r);
    remove(path);
}

/* ------------------------------------------------------------------ inference and checking */

/* The tensors a config expects, zero-filled. */
static int set_from_cfg(const densecl_config *cfg, dc_tensor_set *set)
{
    dc_tensor_spec *specs;
    int n;
    memset(set, 0, sizeof *set);
    if (dc_config_tensors(cfg, &specs, &n) != DENSECL_OK)
        return 0;
    set->t = calloc((size_t)n, sizeof *set->t);
    for (int i = 0; i < n && set->t; i++) {
        size_t count = 1;
        dc_tensor *t = &set->t[i];
        for (int d = 0; d < specs[i].ndim; d++)
            count *= (size_t)specs[i].shape[d];
        t->key = malloc(strlen(specs[i].key) + 1);
        strcpy(t->key, specs[i].key);
        t->dtype = DC_F32;
        t->ndim = specs[i].ndim;
        memcpy(t->shape, specs[i].shape, sizeof specs[i].shape);
        t->data = calloc(count, sizeof(float));
        set->count = i + 1;
    }
    free(specs);
    return set->t != NULL;
}

static void remove_tensor(dc_tensor_set *set, const char *key)
{
    for (int i = 0; i < set->count; i++) {
        if (strcmp(set->t[i].key, key) == 0) {
            free(set->t[i].key);
            free(set->t[i].data);
            memmove(&set->t[i], &set->t[i + 1], (size_t)(set->count - i - 1) * sizeof *set->t);
            set->count--;
            return;
        }
    }
}

static void add_tensor(dc_tensor_set *set, const char *key, int ndim, const int64_t *shape)
{
    dc_tensor *t = realloc(set->t, (size_t)(set->count + 1) * sizeof *t);
    if (!t)
        return;
    set->t = t;
    t = &set->t[set->count++];
    memset(t, 0, sizeof *t);
    t->key = malloc(strlen(key) + 1);
    strcpy(t->key, key);
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->data = calloc(64, sizeof(float));
}

static void set_meta(dc_tensor_set *set, const char *key, const char *value)
{
    set->meta_keys = realloc(set->meta_keys, sizeof(char *) * (size_t)(set->meta_count + 1));
    set->meta_values = realloc(set->meta_values, sizeof(char *) * (size_t)(set->meta_count + 1));
    set->meta_keys[set->meta_count] = malloc(strlen(key) + 1);
    strcpy(set->meta_keys[set->meta_count], key);
    set->meta_values[set->meta_count] = malloc(strlen(value) + 1);
    strcpy(set->meta_values[set->meta_count], value);
    set->meta_count++;
}

static int cfg_equal(const densecl_config *a, const densecl_config *b)
{
    if (a->growth_rate != b->growth_rate || a->num_blocks != b->num_blocks ||
        a->init_features != b->init_features || !a->bottleneck != !b->bottleneck ||
        a->compression != b->compression || a->stem != b->stem ||
        a->in_channels != b->in_channels || a->num_classes != b->num_classes)
        return 0;
    if (a->bottleneck && a->bn_size != b->bn_size)
        return 0;
    for (int i = 0; i < DENSECL_MAX_BLOCKS; i++)
        if (a->block_layers[i] != b->block_layers[i])
            return 0;
    return 1;
}

static const densecl_config tiny = {4, 2, {2, 3}, 8, 1, 2, 0.5f, DENSECL_STEM_CIFAR, 3, 5};

static void test_infer(void)
{
    static const char *names[] = {"densenet121", "densenet169", "densenet-bc-100-k12",
                                  "densenet-40-k12"};
    densecl_config want, got;
    dc_tensor_set set;
    for (size_t i = 0; i < DC_ARRAY_LEN(names); i++) {
        CHECK(densecl_config_preset(names[i], &want) == DENSECL_OK);
        CHECK(set_from_cfg(&want, &set));
        memset(&got, 0xAB, sizeof got);
        CHECKF(dc_config_infer(&set, &got) == DENSECL_OK, "%s: %s", names[i], densecl_last_error());
        CHECKF(cfg_equal(&got, &want), "%s: inferred k=%d blocks=%d f0=%d theta=%g", names[i],
               got.growth_rate, got.num_blocks, got.init_features, (double)got.compression);
        CHECKF(dc_config_match(&want, &set, "m.safetensors") == DENSECL_OK, "%s: %s", names[i],
               densecl_last_error());
        dc_tensor_set_free(&set);
    }
    /* Odd widths: theta 0.5 on an odd channel count, and a single block. */
    densecl_config odd = {5, 3, {3, 1, 2}, 7, 0, 4, 0.5f, DENSECL_STEM_IMAGENET, 1, 3};
    densecl_config one = {6, 1, {3}, 12, 1, 3, 0.5f, DENSECL_STEM_CIFAR, 3, 10};
    densecl_config third = {6, 2, {3, 3}, 12, 1, 3, 1.0f / 3.0f, DENSECL_STEM_CIFAR, 3, 10};
    const densecl_config *more[] = {&odd, &one, &third, &tiny};
    for (size_t i = 0; i < DC_ARRAY_LEN(more); i++) {
        CHECK(set_from_cfg(more[i], &set));
        CHECKF(dc_config_infer(&set, &got) == DENSECL_OK, "%zu: %s", i, densecl_last_error());
        CHECKF(dc_config_match(&got, &set, "m") == DENSECL_OK, "%zu: %s", i, densecl_last_error());
        if (more[i] != &third)
            CHECKF(cfg_equal(&got, more[i]), "config %zu: theta %g", i, (double)got.compression);
        dc_tensor_set_free(&set);
    }

    /* Missing keys inference needs are named. */
    static const char *needed[] = {
        "features.conv0.weight", "features.denseblock1.denselayer1.conv1.weight",
        "features.transition1.conv.weight", "classifier.weight", "features.norm0.weight"};
    CHECK(densecl_config_preset("densenet121", &want) == DENSECL_OK);
    for (size_t i = 0; i < DC_ARRAY_LEN(needed); i++) {
        CHECK(set_from_cfg(&want, &set));
        remove_tensor(&set, needed[i]);
        CHECK(dc_config_infer(&set, &got) == DENSECL_ERR_MISMATCH);
        CHECKF(strstr(densecl_last_error(), needed[i]) != NULL, "%s: '%s'", needed[i],
               densecl_last_error());
        dc_tensor_set_free(&set);
    }
    /* A 5x5 stem, too many blocks. */
    CHECK(set_from_cfg(&want, &set));
    set.t[0].shape[2] = set.t[0].shape[3] = 5;
    CHECK(dc_config_infer(&set, &got) == DENSECL_ERR_MISMATCH);
    CHECK(strstr(densecl_last_error(), "stem") != NULL);
    set.t[0].shape[2] = set.t[0].shape[3] = 7;
    int64_t s1[1] = {4};
    add_tensor(&set, "features.denseblock9.denselayer1.norm1.weight", 1, s1);
    CHECK(dc_config_infer(&set, &got) == DENSECL_ERR_MISMATCH);
    CHECK(strstr(densecl_last_error(), "at most 8") != NULL);
    dc_tensor_set_free(&set);
    CHECK(dc_config_infer(NULL, &got) == DENSECL_ERR_ARGUMENT);
}

static void test_infer_metadata(void)
{
    densecl_config want, got;
    dc_tensor_set set;
    CHECK(densecl_config_preset("densenet-40-k12", &want) == DENSECL_OK);

    /* Metadata wins over the shapes; a lying entry is caught by the shape check. */
    CHECK(set_from_cfg(&want, &set));
    set_meta(&set, "densecl.config", "{\"growth_rate\": 16, \"num_classes\": 10}");
    CHECK(dc_config_infer(&set, &got) == DENSECL_OK && got.growth_rate == 16);
    CHECK(dc_config_match(&got, &set, "lie.safetensors") == DENSECL_ERR_MISMATCH);
    CHECK(strstr(densecl_last_error(), "lie.safetensors: tensor") != NULL);
    dc_tensor_set_free(&set);

    /* A full, truthful entry; a single block's theta from metadata. */
    densecl_config one = {6, 1, {3}, 12, 1, 3, 1.0f, DENSECL_STEM_CIFAR, 3, 10};
    CHECK(set_from_cfg(&one, &set));
    set_meta(&set, "format", "pt");
    set_meta(&set, "densecl.config",
             "{\"growth_rate\":6,\"block_layers\":[3],\"init_features\":12,\"bottleneck\":true,"
             "\"bn_size\":3,\"compression\":1.0,\"stem\":\"cifar\",\"in_channels\":3,"
             "\"num_classes\":10,\"future_field\":[1]}");
    CHECK(dc_config_infer(&set, &got) == DENSECL_OK && cfg_equal(&got, &one));
    /* Shapes alone say 0.5 for a single block. */
    free(set.meta_keys[1]);
    free(set.meta_values[1]);
    set.meta_count = 1;
    CHECK(dc_config_infer(&set, &got) == DENSECL_OK && got.compression == 0.5f);
    dc_tensor_set_free(&set);

    /* Malformed entries are refused. */
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{\"growth_rate\": \"12\"}", "'growth_rate' must be a non-negative integer"},
        {"{\"growth_rate\": 1.5}", "'growth_rate'"},
        {"{\"growth_rate\": 12.0}", "'growth_rate'"},
        {"{\"block_layers\": [1, 2e0]}", "'block_layers'"},
        {"{\"num_classes\": -1}", "'num_classes'"},
        {"{\"block_layers\": []}", "'block_layers'"},
        {"{\"block_layers\": [1,2,3,4,5,6,7,8,9]}", "'block_layers'"},
        {"{\"block_layers\": [1, \"2\"]}", "'block_layers'"},
        {"{\"bottleneck\": 1}", "'bottleneck'"},
        {"{\"compression\": 0}", "'compression'"},
        {"{\"compression\": 1.5}", "'compression'"},
        /* Above 0 as a double, 0 (or subnormal) as the float it becomes. */
        {"{\"compression\": 1e-300}", "'compression' must be a number in (0, 1], got 1e-300"},
        {"{\"compression\": 1e-40}", "'compression' must be a number in (0, 1], got 1e-40"},
        {"{\"stem\": \"resnet\"}", "'stem'"},
        {"[1]", "not a JSON object"},
        {"{growth_rate: 1}", "metadata 'densecl.config': invalid JSON at byte 1"},
    };
    for (size_t i = 0; i < DC_ARRAY_LEN(bad); i++) {
        CHECK(set_from_cfg(&want, &set));
        set_meta(&set, "densecl.config", bad[i].json);
        CHECKF(dc_config_infer(&set, &got) == DENSECL_ERR_FORMAT, "%s accepted", bad[i].json);
        CHECKF(strstr(densecl_last_error(), bad[i].want) != NULL, "%s: '%s'", bad[i].json,
               densecl_last_error());
        dc_tensor_set_free(&set);
    }
    /* A metadata config densecl_config_check refuses. */
    CHECK(set_from_cfg(&want, &set));
    set_meta(&set, "densecl.config", "{\"growth_rate\": 0}");
    CHECK(dc_config_infer(&set, &got) == DENSECL_ERR_MISMATCH);
    CHECK(strstr(densecl_last_error(), "invalid DenseNet") != NULL);
    dc_tensor_set_free(&set);
}

static void test_match(void)
{
    densecl_config cfg;
    dc_tensor_set set;
    const char *msg;
    CHECK(densecl_config_preset("densenet121", &cfg) == DENSECL_OK);

    CHECK(set_from_cfg(&cfg, &set));
    remove_tensor(&set, "features.norm5.weight");
    CHECK(dc_config_match(&cfg, &set, "m.st") == DENSECL_ERR_MISMATCH);
    msg = densecl_last_error();
    CHECKF(strcmp(msg, "m.st: missing tensor 'features.norm5.weight' (expected shape [1024])") == 0,
           "'%s'", msg);
    dc_tensor_set_free(&set);

    CHECK(set_from_cfg(&cfg, &set));
    int64_t s3[1] = {3};
    add_tensor(&set, "foo.bar", 1, s3);
    CHECK(dc_config_match(&cfg, &set, "m.st") == DENSECL_ERR_MISMATCH);
    msg = densecl_last_error();
    CHECKF(strcmp(msg, "m.st: unexpected tensor 'foo.bar' (shape [3]); is this a DenseNet of a "
                       "different configuration?") == 0,
           "'%s'", msg);
    dc_tensor_set_free(&set);

    CHECK(set_from_cfg(&cfg, &set));
    dc_tensor *t = (dc_tensor *)dc_tensor_find(&set, "classifier.weight");
    if (t)
        t->shape[0] = 10;
    CHECK(dc_config_match(&cfg, &set, "m.st") == DENSECL_ERR_MISMATCH);
    msg = densecl_last_error();
    CHECKF(strcmp(msg, "m.st: tensor 'classifier.weight' has shape [10, 1024], expected "
                       "[1000, 1024]") == 0,
           "'%s'", msg);
    if (t)
        t->ndim = 3;
    CHECK(dc_config_match(&cfg, &set, "m.st") == DENSECL_ERR_MISMATCH);
    CHECK(strstr(densecl_last_error(), "has shape [10, 1024, 0], expected [1000, 1024]"));
    dc_tensor_set_free(&set);

    CHECK(set_from_cfg(&cfg, &set));
    t = (dc_tensor *)dc_tensor_find(&set, "features.conv0.weight");
    if (t) {
        free(t->data);
        t->data = NULL;
        t->dtype = DC_I64;
    }
    CHECK(dc_config_match(&cfg, &set, "m.st") == DENSECL_ERR_MISMATCH);
    msg = densecl_last_error();
    CHECKF(strcmp(msg, "m.st: tensor 'features.conv0.weight' has dtype I64; densecl reads F32, "
                       "F16 or BF16") == 0,
           "'%s'", msg);
    /* Several problems: the first, and how many more. */
    remove_tensor(&set, "classifier.bias");
    add_tensor(&set, "extra", 1, s3);
    add_tensor(&set, "extra2", 1, s3);
    CHECK(dc_config_match(&cfg, &set, "m.st") == DENSECL_ERR_MISMATCH);
    msg = densecl_last_error();
    CHECKF(strstr(msg, "m.st: tensor 'features.conv0.weight' has dtype I64") == msg &&
               strstr(msg, "(and 3 more problems)") != NULL,
           "'%s'", msg);
    remove_tensor(&set, "extra2");
    remove_tensor(&set, "extra");
    CHECK(dc_config_match(&cfg, &set, "m.st") == DENSECL_ERR_MISMATCH);
    CHECK(strstr(densecl_last_error(), "(and 1 more problem)") != NULL);
    dc_tensor_set_free(&set);

    /* A different configuration: every layer of the extra block is unexpected. */
    densecl_config small = cfg;
    small.block_layers[3] = 15;
    CHECK(set_from_cfg(&cfg, &set));
    CHECK(dc_config_match(&small, &set, "m.st") == DENSECL_ERR_MISMATCH);
    CHECK(strstr(densecl_last_error(), "m.st: tensor 'features.norm5.weight'") != NULL);
    CHECK(strstr(densecl_last_error(), "unexpected") == NULL); /* reported after */
    dc_tensor_set_free(&set);
}

/* ------------------------------------------------------------------ public API */

static void write_set(const char *path, dc_tensor_set *set)
{
    CHECKF(dc_safetensors_write(path, set) == DENSECL_OK, "%s", densecl_last_error());
}

static void test_load(void)
{
    char path[128];
    dc_tensor_set set;
    densecl_weights *w = NULL;
    densecl_config expect;
    snprintf(path, sizeof path, "%s/tiny.safetensors", tmpdir);

    CHECK(set_from_cfg(&tiny, &set));
    for (int i = 0; i < set.count; i++) /* BN variances of 0 fold to inf; keep them sane */
        if (strstr(set.t[i].key, "running_var"))
            set.t[i].data[0] = 1.0f;
    set_meta(&set, "note", "hello");
    write_set(path, &set);
    CHECKF(densecl_weights_load(path, NULL, &w) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(w && cfg_equal(densecl_weights_config(w), &tiny));
    CHECK(w && densecl_weights_metadata(w, "note") &&
          strcmp(densecl_weights_metadata(w, "note"), "hello") == 0);
    CHECK(densecl_weights_metadata(w, "nope") == NULL &&
          densecl_weights_metadata(NULL, "x") == NULL);
    CHECK(densecl_weights_config(NULL) == NULL);
    densecl_weights_free(w);
    densecl_weights_free(NULL);

    /* With an expected config: exact, or num_classes/in_channels taken from the file. */
    expect = tiny;
    expect.num_classes = 0;
    expect.in_channels = 0;
    CHECKF(densecl_weights_load(path, &expect, &w) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(w && densecl_weights_config(w)->num_classes == 5 &&
          densecl_weights_config(w)->in_channels == 3);
    densecl_weights_free(w);
    expect = tiny;
    expect.growth_rate = 6;
    CHECK(densecl_weights_load(path, &expect, &w) == DENSECL_ERR_MISMATCH && w == NULL);
    CHECK(strncmp(densecl_last_error(), path, strlen(path)) == 0);
    expect.growth_rate = -1;
    CHECK(densecl_weights_load(path, &expect, &w) == DENSECL_ERR_ARGUMENT && w == NULL);

    /* A lying densecl.config entry is refused. */
    set_meta(&set, "densecl.config", "{\"num_classes\": 7}");
    write_set(path, &set);
    CHECK(densecl_weights_load(path, NULL, &w) == DENSECL_ERR_MISMATCH && w == NULL);
    CHECKF(strstr(densecl_last_error(), "has shape [5, 20], expected [7, 20]") != NULL, "'%s'",
           densecl_last_error());
    free(set.meta_values[1]); /* an empty entry: everything from the shapes again */
    set.meta_values[1] = malloc(3);
    strcpy(set.meta_values[1], "{}");

    /* Legacy names, DataParallel prefix, num_batches_tracked: loads the same. */
    for (int i = 0; i < set.count; i++) {
        char *k = set.t[i].key, buf[160];
        char *p = strstr(k, ".norm1.");
        if (!p)
            p = strstr(k, ".conv2.");
        if (p && strstr(k, "denselayer")) {
            snprintf(buf, sizeof buf, "module.%.*s.%.4s.%s", (int)(p - k), k, p + 1, p + 5);
            free(k);
            set.t[i].key = malloc(strlen(buf) + 1);
            strcpy(set.t[i].key, buf);
        }
    }
    int64_t none[1] = {0};
    add_tensor(&set, "features.denseblock1.denselayer1.norm1.num_batches_tracked", 0, none);
    write_set(path, &set);
    CHECKF(densecl_weights_load(path, NULL, &w) == DENSECL_OK, "legacy: %s", densecl_last_error());
    CHECK(w && cfg_equal(densecl_weights_config(w), &tiny));
    densecl_weights_free(w);
    dc_tensor_set_free(&set);

    /* An unknown key names the file. */
    CHECK(set_from_cfg(&tiny, &set));
    int64_t s2[2] = {2, 2};
    add_tensor(&set, "features.extra.weight", 2, s2);
    write_set(path, &set);
    CHECK(densecl_weights_load(path, NULL, &w) == DENSECL_ERR_MISMATCH);
    CHECK(strncmp(densecl_last_error(), path, strlen(path)) == 0);
    CHECK(strstr(densecl_last_error(), "unexpected tensor 'features.extra.weight'") != NULL);
    dc_tensor_set_free(&set);
    /* Inference failures name the file too. */
    CHECK(set_from_cfg(&tiny, &set));
    remove_tensor(&set, "classifier.weight");
    write_set(path, &set);
    CHECK(densecl_weights_load(path, NULL, &w) == DENSECL_ERR_MISMATCH);
    CHECK(strncmp(densecl_last_error(), path, strlen(path)) == 0);
    CHECK(strstr(densecl_last_error(), "'classifier.weight'") != NULL);
    expect = tiny;
    expect.num_classes = 0;
    CHECK(densecl_weights_load(path, &expect, &w) == DENSECL_ERR_MISMATCH);
    CHECK(strstr(densecl_last_error(), "'classifier.weight'") != NULL);
    dc_tensor_set_free(&set);
    remove(path);
    CHECK(densecl_weights_load(path, NULL, &w) == DENSECL_ERR_IO && w == NULL);
    CHECK(densecl_weights_load(NULL, NULL, &w) == DENSECL_ERR_ARGUMENT);
    CHECK(densecl_weights_load(path, NULL, NULL) == DENSECL_ERR_ARGUMENT);
}

/* Loading refuses NaN and infinity in any tensor and a negative running variance, naming the
 * key and the first bad index; allow_nonfinite accepts them as they are. */
static void test_values(void)
{
    char path[128];
    dc_tensor_set set;
    densecl_weights *w = NULL;
    densecl_weights_options o;
    snprintf(path, sizeof path, "%s/values.safetensors", tmpdir);
    CHECK(set_from_cfg(&tiny, &set));
    if (!set.t)
        return;
    for (int i = 0; i < set.count; i++)
        if (strstr(set.t[i].key, "running_var"))
            for (int k = 0; k < set.t[i].shape[0]; k++)
                set.t[i].data[k] = 1.0f;
    static const struct {
        const char *key;
        int index;
        float value;
        const char *want; /* in the message */
    } cases[] = {
        {"features.conv0.weight", 5, NAN, "NaN at index 5"},
        {"features.denseblock2.denselayer3.conv2.weight", 0, INFINITY, "inf at index 0"},
        {"features.norm5.bias", 2, -INFINITY, "-inf at index 2"},
        {"features.denseblock1.denselayer1.norm1.running_mean", 1, NAN, "NaN at index 1"},
        {"features.transition1.norm.running_var", 3, -0.5f,
         "negative running variance, -0.5 at index 3"},
        {"classifier.bias", 4, NAN, "NaN at index 4"},
    };
    write_set(path, &set);
    CHECKF(densecl_weights_load(path, NULL, &w) == DENSECL_OK, "%s", densecl_last_error());
    densecl_weights_free(w);
    for (size_t c = 0; c < DC_ARRAY_LEN(cases); c++) {
        dc_tensor *t = NULL;
        for (int i = 0; i < set.count; i++)
            if (strcmp(set.t[i].key, cases[c].key) == 0)
                t = &set.t[i];
        CHECKF(t != NULL, "%s", cases[c].key);
        if (!t)
            continue;
        float old = t->data[cases[c].index];
        t->data[cases[c].index] = cases[c].value;
        if (cases[c].index == 0)
            t->data[1] = cases[c].value; /* a second bad value: the first is named */
        write_set(path, &set);
        w = NULL;
        CHECK(densecl_weights_load(path, NULL, &w) == DENSECL_ERR_FORMAT && w == NULL);
        const char *msg = densecl_last_error();
        CHECKF(strncmp(msg, path, strlen(path)) == 0 && strstr(msg, cases[c].key) &&
                   strstr(msg, cases[c].want),
               "%s", msg);
        CHECKF(cases[c].index != 0 || strstr(msg, "bad values: 2 of"), "%s", msg);
        /* The opt-out: loaded, the value kept. */
        memset(&o, 0, sizeof o);
        o.allow_nonfinite = 1;
        CHECKF(densecl_weights_load_ex(path, &o, &w) == DENSECL_OK, "%s", densecl_last_error());
        const dc_tensor *got = w ? dc_tensor_find(&w->tensors, cases[c].key) : NULL;
        CHECK(got && memcmp(&got->data[cases[c].index], &cases[c].value, sizeof(float)) == 0);
        densecl_weights_free(w);
        /* Only the values are excused: shapes are still checked. */
        densecl_config other = tiny;
        other.growth_rate++;
        o.expect = &other;
        w = NULL;
        CHECK(densecl_weights_load_ex(path, &o, &w) == DENSECL_ERR_MISMATCH && w == NULL);
        t->data[cases[c].index] = old;
        if (cases[c].index == 0)
            t->data[1] = old;
    }
    /* -0.0 is not negative; NULL options are the defaults. */
    for (int i = 0; i < set.count; i++)
        if (strstr(set.t[i].key, "running_var"))
            set.t[i].data[0] = -0.0f;
    write_set(path, &set);
    CHECKF(densecl_weights_load_ex(path, NULL, &w) == DENSECL_OK, "%s", densecl_last_error());
    densecl_weights_free(w);
    CHECK(densecl_weights_load_ex(NULL, NULL, &w) == DENSECL_ERR_ARGUMENT);
    dc_tensor_set_free(&set);
    remove(path);
}

static int same_tensors(const densecl_weights *a, const densecl_weights *b)
{
    if (a->tensors.count != b->tensors.count)
        return 0;
    for (int i = 0; i < a->tensors.count; i++) {
        const dc_tensor *x = &a->tensors.t[i], *y = &b->tensors.t[i];
        size_t n = 1;
        for (int d = 0; d < x->ndim; d++)
            n *= (size_t)x->shape[d];
        if (strcmp(x->key, y->key) || memcmp(x->data, y->data, n * sizeof(float)))
            return 0;
    }
    return 1;
}

static void test_random(void)
{
    densecl_weights *a = NULL, *b = NULL, *c = NULL;
    densecl_config cfg;
    CHECK(densecl_config_preset("densenet-bc-100-k12", &cfg) == DENSECL_OK);
    CHECKF(densecl_weights_random(&cfg, 42, &a) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(densecl_weights_random(&cfg, 42, &b) == DENSECL_OK);
    CHECK(densecl_weights_random(&cfg, 43, &c) == DENSECL_OK);
    if (!a || !b || !c)
        goto done;
    CHECK(same_tensors(a, b));
    CHECK(!same_tensors(a, c));
    CHECK(cfg_equal(densecl_weights_config(a), &cfg));
    CHECK(dc_config_match(&cfg, &a->tensors, "random") == DENSECL_OK);

    /* Distributions: He-normal convs, BN ranges, linear bound 1/sqrt(C). */
    for (int i = 0; i < a->tensors.count; i++) {
        const dc_tensor *t = &a->tensors.t[i];
        size_t n = 1;
        double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
        for (int d = 0; d < t->ndim; d++)
            n *= (size_t)t->shape[d];
        for (size_t k = 0; k < n; k++) {
            sum += t->data[k];
            sq += (double)t->data[k] * t->data[k];
            lo = fmin(lo, t->data[k]);
            hi = fmax(hi, t->data[k]);
        }
        if (t->ndim == 4 && n >= 4000) {
            double fan_in = (double)(t->shape[1] * t->shape[2] * t->shape[3]);
            double sd = sqrt(sq / (double)n), want = sqrt(2.0 / fan_in);
            CHECKF(fabs(sd / want - 1.0) < 0.06 && fabs(sum / (double)n) < 0.1 * want,
                   "%s: std %g, want %g", t->key, sd, want);
        } else if (strstr(t->key, "norm") &&
                   (strstr(t->key, ".weight") || strstr(t->key, "running_var"))) {
            CHECKF(lo >= 0.5 && hi < 1.5, "%s in [%g, %g]", t->key, lo, hi);
        } else if (strstr(t->key, "norm")) {
            CHECKF(lo >= -0.1 && hi < 0.1, "%s in [%g, %g]", t->key, lo, hi);
        } else if (strstr(t->key, "classifier")) {
            double bound = 1.0 / sqrt(342.0);
            CHECKF(lo >= -bound && hi < bound && hi - lo > bound, "%s in [%g, %g]", t->key, lo, hi);
        }
    }
    /* The same seed gives the same weights on every platform: pin a few values. */
    const dc_tensor *conv0 = dc_tensor_find(&a->tensors, "features.conv0.weight");
    const dc_tensor *fc = dc_tensor_find(&a->tensors, "classifier.bias");
    CHECK(conv0 && fc);
    if (conv0 && fc) {
        uint32_t got[4] = {bits(conv0->data[0]), bits(conv0->data[1]), bits(conv0->data[647]),
                           bits(fc->data[9])};
        CHECKF(got[0] == 0x3de729a8u && got[1] == 0xbe789103u && got[2] == 0xbeccfe03u &&
                   got[3] == 0x3cd05590u,
               "seed 42 gives %08x %08x %08x %08x", got[0], got[1], got[2], got[3]);
    }
done:
    densecl_weights_free(a);
    densecl_weights_free(b);
    densecl_weights_free(c);
    cfg.growth_rate = 0;
    CHECK(densecl_weights_random(&cfg, 1, &a) == DENSECL_ERR_ARGUMENT && a == NULL);
    CHECK(densecl_weights_random(NULL, 1, &a) == DENSECL_ERR_ARGUMENT);
}

/* BN scale and shift of module m at channel c, as fold.c defines them (eps 1e-5). */
static void bn_at(const densecl_weights *w, const char *m, int c, double *scale, double *shift)
{
    char key[128];
    const float *v[4];
    static const char *const field[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "%s.%s", m, field[i]);
        const dc_tensor *t = dc_tensor_find(&w->tensors, key);
        v[i] = t ? t->data : NULL;
    }
    *scale = *shift = NAN;
    if (!v[0] || !v[1] || !v[2] || !v[3])
        return;
    *scale = v[0][c] / sqrt((double)v[3][c] + 1e-5);
    *shift = v[1][c] - v[2][c] * *scale;
}

static int close_to(double got, double want)
{
    return fabs(got - want) <= 1e-5 * (1.0 + fabs(want));
}

/* fold.c folds for a plan it is given: one entry per plan op, the BN that follows a conv in its
 * weights and bias, the BN before a consumer as its prologue, the same for any input size. */
static void test_fold(void)
{
    densecl_config cfg;
    densecl_weights *w = NULL;
    dc_plan plan, big;
    dc_op_params *p = NULL, *q = NULL;
    CHECK(densecl_config_preset("densenet121", &cfg) == DENSECL_OK);
    memset(cfg.block_layers, 0, sizeof cfg.block_layers);
    cfg.block_layers[0] = 2, cfg.block_layers[1] = 1, cfg.num_blocks = 2, cfg.num_classes = 5;
    CHECK(densecl_weights_random(&cfg, 7, &w) == DENSECL_OK);
    int min = densecl_config_min_size(&cfg);
    CHECKF(dc_plan_build(&cfg, 1, min, min, &plan) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(dc_plan_build(&cfg, 3, 2 * min + 5, min + 9, &big) == DENSECL_OK);
    if (!w || !plan.ops || !big.ops)
        goto done;
    CHECKF(dc_fold(&plan, &w->tensors, &p) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(dc_fold(&big, &w->tensors, &q) == DENSECL_OK);
    if (!p || !q)
        goto done;
    int convs = 0, pres = 0;
    for (int i = 0; i < plan.n_ops; i++) {
        const dc_op *op = &plan.ops[i];
        const dc_op_params *pp = &p[i];
        char key[128];
        CHECK(strcmp(op->name, big.ops[i].name) == 0);
        CHECK((pp->weight != NULL) == (op->kind == DC_OP_CONV || op->kind == DC_OP_LINEAR));
        CHECK((pp->pre_scale != NULL) == (op->pre_bn[0] != '\0'));
        CHECK((pp->bias != NULL) == (op->post_bn[0] != '\0' || op->kind == DC_OP_LINEAR));
        if (op->kind == DC_OP_CONV) {
            /* Last output channel, last weight of it: W * scale, bias = shift. */
            size_t per = (size_t)op->in_c * (size_t)(op->k * op->k);
            size_t at = (size_t)(op->out_c - 1) * per + per - 1;
            snprintf(key, sizeof key, "%s.weight", op->name);
            const dc_tensor *t = dc_tensor_find(&w->tensors, key);
            double scale = 1.0, shift = 0.0;
            if (op->post_bn[0])
                bn_at(w, op->post_bn, op->out_c - 1, &scale, &shift);
            CHECKF(t && close_to(pp->weight[at], t->data[at] * scale), "%s", op->name);
            CHECKF(!op->post_bn[0] || close_to(pp->bias[op->out_c - 1], shift), "%s", op->name);
            CHECK(memcmp(pp->weight, q[i].weight, per * (size_t)op->out_c * sizeof(float)) == 0);
            convs++;
        }
        if (op->pre_bn[0]) {
            double scale, shift;
            bn_at(w, op->pre_bn, op->in_c - 1, &scale, &shift);
            CHECKF(close_to(pp->pre_scale[op->in_c - 1], scale) &&
                       close_to(pp->pre_shift[op->in_c - 1], shift),
                   "%s", op->name);
            pres++;
        }
    }
    /* conv0, 3 layers x 2 convs, 1 transition; prologues: 3 x norm1, 1 transition, norm5. */
    CHECK(convs == 8 && pres == 5);
    /* Tensors that do not fit the plan are refused, naming the tensor. */
    remove_tensor(&w->tensors, "features.norm5.running_var");
    dc_params_free(q, big.n_ops);
    q = (dc_op_params *)1;
    CHECK(dc_fold(&plan, &w->tensors, &q) == DENSECL_ERR_MISMATCH && q == NULL);
    CHECK(strstr(densecl_last_error(), "features.norm5.running_var") != NULL);
done:
    dc_params_free(p, plan.n_ops);
    dc_params_free(q, big.n_ops);
    dc_plan_free(&plan);
    dc_plan_free(&big);
    densecl_weights_free(w);
}

/* Sets channel c of BN module m to gamma, beta, mean, var. */
static void set_bn(densecl_weights *w, const char *m, int c, float gamma, float beta, float mean,
                   float var)
{
    static const char *const field[4] = {"weight", "bias", "running_mean", "running_var"};
    const float v[4] = {gamma, beta, mean, var};
    char key[128];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "%s.%s", m, field[i]);
        const dc_tensor *t = dc_tensor_find(&w->tensors, key);
        CHECKF(t && t->data, "%s missing", key);
        if (t && t->data)
            t->data[c] = v[i];
    }
}

/* BN's inference form as torch.nn.BatchNorm2d defines it, with its default eps 1e-5 (which
 * torchvision's DenseNet keeps): y = (x - mean) / sqrt(var + eps) * gamma + beta, so
 * scale = gamma / sqrt(var + eps), shift = beta - mean * scale; in double. */
static void torch_bn(double gamma, double beta, double mean, double var, double *scale,
                     double *shift)
{
    *scale = gamma / sqrt(var + 1e-5);
    *shift = beta - mean * *scale;
}

/* Within two float roundings of a double (the scale rounded, then W * scale rounded):
 * |got - want| <= 2^-22 |want|, tight enough that the eps of a variance of 1 (a change of 5e-6
 * relative) shows. */
static int float_of(double got, double want)
{
    return fabs(got - want) <= 0x1p-22 * fabs(want);
}

/* The BN epsilon in the fold (issue 27): variances of 0 and 1e-7 (where eps is most of the
 * denominator) and of 1 (where it is 5e-6 of it), in a prologue (norm5, before the global
 * average pool) and in a BN folded into the conv before it (norm0 into conv0), against torch's
 * formula at the float rounding of the result. */
static void test_fold_epsilon(void)
{
    densecl_config cfg;
    densecl_weights *w = NULL;
    dc_plan plan;
    dc_op_params *p = NULL;
    static const struct {
        float gamma, beta, mean, var;
    } bn[] = {{0.5f, 0.25f, 0.125f, 0.0f},
              {0.75f, -0.5f, 0.375f, 1e-7f},
              {1.25f, 0.0625f, -0.25f, 1.0f},
              {2.0f, 0.0f, 0.0f, 0.0f}};
    const int nbn = (int)DC_ARRAY_LEN(bn);
    CHECK(densecl_config_preset("densenet121", &cfg) == DENSECL_OK);
    memset(cfg.block_layers, 0, sizeof cfg.block_layers);
    cfg.block_layers[0] = 1, cfg.num_blocks = 1, cfg.num_classes = 3;
    CHECK(densecl_weights_random(&cfg, 11, &w) == DENSECL_OK);
    int min = densecl_config_min_size(&cfg);
    CHECKF(dc_plan_build(&cfg, 1, min, min, &plan) == DENSECL_OK, "%s", densecl_last_error());
    if (!w || !plan.ops)
        goto done;
    for (int c = 0; c < nbn; c++) {
        set_bn(w, "features.norm5", c, bn[c].gamma, bn[c].beta, bn[c].mean, bn[c].var);
        set_bn(w, "features.norm0", c, bn[c].gamma, bn[c].beta, bn[c].mean, bn[c].var);
    }
    CHECKF(dc_fold(&plan, &w->tensors, &p) == DENSECL_OK, "%s", densecl_last_error());
    if (!p)
        goto done;
    int seen = 0;
    for (int i = 0; i < plan.n_ops; i++) {
        const dc_op *op = &plan.ops[i];
        if (strcmp(op->pre_bn, "features.norm5") == 0) {
            for (int c = 0; c < nbn; c++) {
                double scale, shift;
                torch_bn(bn[c].gamma, bn[c].beta, bn[c].mean, bn[c].var, &scale, &shift);
                CHECKF(float_of(p[i].pre_scale[c], scale) && float_of(p[i].pre_shift[c], shift),
                       "norm5 channel %d (var %g): scale %.9g shift %.9g, torch's %.9g %.9g", c,
                       (double)bn[c].var, (double)p[i].pre_scale[c], (double)p[i].pre_shift[c],
                       scale, shift);
            }
            seen++;
        }
        if (strcmp(op->name, "features.conv0") == 0 && strcmp(op->post_bn, "features.norm0") == 0) {
            const dc_tensor *t = dc_tensor_find(&w->tensors, "features.conv0.weight");
            const size_t per = (size_t)op->in_c * (size_t)(op->k * op->k);
            for (int c = 0; t && c < nbn; c++) {
                double scale, shift;
                int bad = 0;
                torch_bn(bn[c].gamma, bn[c].beta, bn[c].mean, bn[c].var, &scale, &shift);
                for (size_t j = 0; j < per; j++)
                    bad += !float_of(p[i].weight[c * per + j], t->data[c * per + j] * scale);
                CHECKF(bad == 0 && float_of(p[i].bias[c], shift),
                       "conv0 + norm0 channel %d (var %g): %d weights off W * %.9g, bias %.9g "
                       "(torch's %.9g)",
                       c, (double)bn[c].var, bad, scale, (double)p[i].bias[c], shift);
            }
            seen++;
        }
    }
    CHECKF(seen == 2, "found %d of the 2 ops (norm5's prologue, conv0 with norm0)", seen);
done:
    dc_params_free(p, plan.n_ops);
    dc_plan_free(&plan);
    densecl_weights_free(w);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/densecl-st-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_f32();
    test_f16_exhaustive();
    test_bf16_f64_ints();
    test_f64_range();
    test_keys_and_metadata();
    test_refusals();
    test_write();
    test_infer();
    test_infer_metadata();
    test_match();
    test_load();
    test_values();
    test_random();
    test_fold();
    test_fold_epsilon();
    static const char *left[] = {"t.safetensors", "bad.safetensors", "short.safetensors",
                                 "hl.safetensors"};
    for (size_t i = 0; i < DC_ARRAY_LEN(left); i++) {
        snprintf(st_path, sizeof st_path, "%s/%s", tmpdir, left[i]);
        remove(st_path);
    }
    CHECKF(rmdir(tmpdir) == 0, "%s not empty", tmpdir);
    return check_summary();
}
