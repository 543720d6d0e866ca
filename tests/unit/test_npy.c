/* SPDX-License-Identifier: MIT */
/* .npy reading and writing: round trips, header versions, '<f8', and every refusal. */
#define _DEFAULT_SOURCE /* mknod, makedev */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "dir_count.h"
#include "plan/plan.h"

static char tmpdir[64];

static void path_in(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

/* magic, version major.0, header length (2 or 4 bytes), header text, then data. */
static size_t make_npy(unsigned char *buf, int major, const char *header, const void *data,
                       size_t data_len)
{
    size_t hl = strlen(header), n = 0;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    n = 8;
    if (major == 1) {
        buf[n++] = (unsigned char)(hl & 0xFF);
        buf[n++] = (unsigned char)(hl >> 8);
    } else {
        for (int k = 0; k < 4; k++)
            buf[n++] = (unsigned char)(hl >> (8 * k));
    }
    memcpy(buf + n, header, hl);
    n += hl;
    if (data_len)
        memcpy(buf + n, data, data_len);
    return n + data_len;
}

static void refuse_bytes(const unsigned char *buf, size_t len, const char *want, const char *why)
{
    dc_npy a;
    densecl_status st = dc_npy_parse(buf, len, "x.npy", &a);
    CHECKF(st == DENSECL_ERR_FORMAT, "%s: accepted (status %d)", why, (int)st);
    CHECKF(strstr(densecl_last_error(), want) != NULL, "%s: message '%s' lacks '%s'", why,
           densecl_last_error(), want);
    CHECKF(strncmp(densecl_last_error(), "x.npy: ", 7) == 0, "%s: message '%s'", why,
           densecl_last_error());
    CHECK(a.data == NULL && a.count == 0);
}

static void refuse_header(const char *header, size_t data_len, const char *want)
{
    static unsigned char buf[4096];
    static const unsigned char zeros[256];
    size_t n = make_npy(buf, 1, header, zeros, data_len);
    refuse_bytes(buf, n, want, header);
}

static const char *hdr_2x3 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";

static void test_round_trip(void)
{
    char path[128];
    float x[6] = {1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e-40f};
    int64_t shape[2] = {2, 3};
    dc_npy a;
    path_in(path, sizeof path, "a.npy");
    CHECK(dc_npy_write(path, shape, 2, x) == DENSECL_OK);
    CHECK(dc_npy_read(path, &a) == DENSECL_OK);
    CHECK(a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 && a.count == 6);
    CHECK(a.data && memcmp(a.data, x, sizeof x) == 0);
    dc_npy_free(&a);
    dc_npy_free(&a);
    dc_npy_free(NULL);

    /* The header is numpy's own: padded with spaces to a multiple of 64 bytes, ending in
     * '\n'. */
    FILE *f = fopen(path, "rb");
    unsigned char buf[256];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    CHECKF(n == 128 + 24, "file is %zu bytes", n);
    CHECK(memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0 && buf[8] == 118 && buf[9] == 0);
    CHECK(memcmp(buf + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 59) == 0);
    CHECK(buf[127] == '\n' && buf[126] == ' ' && buf[69] == ' ');
    CHECK(buf[128] == 0 && buf[129] == 0 && buf[130] == 0x80 && buf[131] == 0x3F); /* 1.0f, LE */

    /* 1-D, 0-D and empty shapes. */
    int64_t s1[1] = {5}, s0[2] = {0, 3};
    float y[5] = {1, 2, 3, 4, 5};
    CHECK(dc_npy_write(path, s1, 1, y) == DENSECL_OK);
    CHECK(dc_npy_read(path, &a) == DENSECL_OK && a.ndim == 1 && a.count == 5 && a.data[4] == 5);
    dc_npy_free(&a);
    f = fopen(path, "rb");
    n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    CHECK(n > 70 && memcmp(buf + 10 + 50, "(5,), }", 7) == 0);
    CHECK(dc_npy_write(path, NULL, 0, y) == DENSECL_OK);
    CHECK(dc_npy_read(path, &a) == DENSECL_OK && a.ndim == 0 && a.count == 1 && a.data[0] == 1);
    dc_npy_free(&a);
    CHECK(dc_npy_write(path, s0, 2, NULL) == DENSECL_OK);
    CHECK(dc_npy_read(path, &a) == DENSECL_OK && a.ndim == 2 && a.count == 0 && a.data);
    dc_npy_free(&a);

    /* Eight dimensions are the most. */
    int64_t s8[9] = {1, 2, 1, 1, 1, 1, 1, 3, 1};
    CHECK(dc_npy_write(path, s8, 8, x) == DENSECL_OK);
    CHECK(dc_npy_read(path, &a) == DENSECL_OK && a.ndim == 8 && a.count == 6);
    dc_npy_free(&a);
    CHECK(dc_npy_write(path, s8, 9, x) == DENSECL_ERR_ARGUMENT);
    int64_t neg[2] = {2, -3};
    CHECK(dc_npy_write(path, neg, 2, x) == DENSECL_ERR_ARGUMENT);
    CHECK(dc_npy_write(NULL, shape, 2, x) == DENSECL_ERR_ARGUMENT);
    CHECK(dc_npy_write(path, shape, 2, NULL) == DENSECL_ERR_ARGUMENT);
}

/* A failed write leaves neither a partial file nor its temporary behind. */
static void test_atomic(void)
{
    char dir[128], path[192], inner[256];
    float x[2] = {1, 2};
    int64_t shape[1] = {2};
    path_in(dir, sizeof dir, "atomic");
    CHECK(mkdir(dir, 0755) == 0);
    /* Renaming a file over a non-empty directory fails after the data was written. */
    snprintf(path, sizeof path, "%s/target", dir);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(inner, sizeof inner, "%s/keep", path);
    FILE *f = fopen(inner, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    CHECK(dc_npy_write(path, shape, 1, x) == DENSECL_ERR_IO);
    CHECK(strstr(densecl_last_error(), path) != NULL);
    CHECK(count_entries(dir) == 1);
    /* A missing directory: nothing is created. */
    snprintf(path, sizeof path, "%s/no/such/dir.npy", dir);
    CHECK(dc_npy_write(path, shape, 1, x) == DENSECL_ERR_IO);
    CHECK(count_entries(dir) == 1);
    /* Success replaces an existing file and leaves only it. */
    snprintf(path, sizeof path, "%s/ok.npy", dir);
    CHECK(dc_npy_write(path, shape, 1, x) == DENSECL_OK);
    CHECK(dc_npy_write(path, shape, 1, x) == DENSECL_OK);
    CHECK(count_entries(dir) == 2);
    remove(path);
    remove(inner);
    snprintf(path, sizeof path, "%s/target", dir);
    rmdir(path);
    rmdir(dir);
}

/* The bytes of a file, or -1. */
static long read_all(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    long n;
    if (!f)
        return -1;
    n = (long)fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* What the path names decides how it is written (issue 15 item 1): a symlink's target is
 * written and the link kept, a device or FIFO is written into, a directory is refused, a long
 * name fits, two writers of one path in one process do not collide, stale temporaries of dead
 * processes go, and dc_atomic_remove_temps (the signal handlers' call) leaves none behind. */
static void test_atomic_targets(void)
{
    char dir[128], path[512], other[512];
    unsigned char want[256], got[256];
    float x[3] = {1, 2, 3};
    int64_t shape[1] = {3};
    struct stat sb;
    long n_want;
    path_in(dir, sizeof dir, "targets");
    CHECK(mkdir(dir, 0755) == 0);
    snprintf(path, sizeof path, "%s/plain.npy", dir);
    CHECK(dc_npy_write(path, shape, 1, x) == DENSECL_OK);
    n_want = read_all(path, want, sizeof want);
    CHECK(n_want > 0);
    /* A new file gets 0666 less the umask; a replaced one keeps its mode. */
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == (0666 & ~022));
    CHECK(chmod(path, 0640) == 0 && dc_npy_write(path, shape, 1, x) == DENSECL_OK);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640);
    remove(path);

    /* A symlink: its target gets the bytes, the link stays (also one that dangles). */
    snprintf(path, sizeof path, "%s/link.npy", dir);
    snprintf(other, sizeof other, "%s/target.npy", dir);
    CHECK(symlink("target.npy", path) == 0);
    CHECKF(dc_npy_write(path, shape, 1, x) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode));
    CHECK(read_all(other, got, sizeof got) == n_want && memcmp(got, want, (size_t)n_want) == 0);
    CHECK(dc_npy_write(path, shape, 1, x) == DENSECL_OK && lstat(path, &sb) == 0 &&
          S_ISLNK(sb.st_mode));
    remove(path);
    remove(other);

    /* A character device is written into, not replaced. As root, a node of our own for
     * /dev/null's device: a writer that replaced it (as 0.3.0's did) must not break the
     * machine's /dev/null. */
    snprintf(other, sizeof other, "%s/null", dir);
    const char *null =
        geteuid() == 0 && mknod(other, S_IFCHR | 0666, makedev(1, 3)) == 0 ? other : "/dev/null";
    CHECKF(dc_npy_write(null, shape, 1, x) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(stat(null, &sb) == 0 && S_ISCHR(sb.st_mode));
    if (null == other)
        remove(other);

    /* A FIFO: its reader gets the bytes, the FIFO stays. */
    snprintf(path, sizeof path, "%s/fifo", dir);
    CHECK(mkfifo(path, 0644) == 0);
    int rd = open(path, O_RDONLY | O_NONBLOCK);
    CHECK(rd >= 0);
    CHECKF(dc_npy_write(path, shape, 1, x) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(rd >= 0 && read(rd, got, sizeof got) == n_want && memcmp(got, want, (size_t)n_want) == 0);
    if (rd >= 0)
        close(rd);
    CHECK(lstat(path, &sb) == 0 && S_ISFIFO(sb.st_mode));
    /* Reading a FIFO is refused at once, by name, instead of waiting for a writer. */
    dc_npy a;
    CHECK(dc_npy_read(path, &a) == DENSECL_ERR_IO);
    CHECKF(strstr(densecl_last_error(), "is a FIFO, not a regular file") != NULL, "%s",
           densecl_last_error());
    remove(path);

    /* A directory is refused by name, before anything is written. */
    CHECK(dc_npy_write(dir, shape, 1, x) == DENSECL_ERR_IO);
    CHECKF(strstr(densecl_last_error(), "is a directory") != NULL, "%s", densecl_last_error());
    CHECK(dc_npy_read(dir, &a) == DENSECL_ERR_IO &&
          strstr(densecl_last_error(), "is a directory, not a regular file") != NULL);

    /* A 250-byte name (NAME_MAX is 255): the temporary's name still fits. */
    int len = snprintf(path, sizeof path, "%s/", dir);
    memset(path + len, 'n', 250);
    path[len + 250] = '\0';
    CHECKF(dc_npy_write(path, shape, 1, x) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(read_all(path, got, sizeof got) == n_want);
    remove(path);

    /* Two writers of one path at once (threads creating engines do this with the cache): both
     * succeed, the last one wins, no temporary is left. */
    snprintf(path, sizeof path, "%s/twice.txt", dir);
    dc_atomic_file w1, w2;
    CHECK(dc_atomic_open(&w1, path) == DENSECL_OK);
    CHECK(dc_atomic_open(&w2, path) == DENSECL_OK);
    fputs("one\n", w1.f);
    fputs("two\n", w2.f);
    CHECKF(dc_atomic_close(&w1, 1) == DENSECL_OK, "%s", densecl_last_error());
    CHECKF(dc_atomic_close(&w2, 1) == DENSECL_OK, "%s", densecl_last_error());
    CHECK(read_all(path, got, sizeof got) == 4 && memcmp(got, "two\n", 4) == 0);
    CHECK(count_entries(dir) == 1);

    /* What a signal handler calls: the live temporary goes. */
    CHECK(dc_atomic_open(&w1, path) == DENSECL_OK);
    CHECK(count_entries(dir) == 2);
    dc_atomic_remove_temps();
    CHECK(count_entries(dir) == 1);
    dc_atomic_close(&w1, 0);
    CHECK(count_entries(dir) == 1);

    /* Temporaries of dead processes, once old, are removed by the next writer; a fresh one, a
     * live process's, and a name that only looks similar stay. */
    const char *stale = ".twice.txt.densecl-999999999-aBc123";
    const char *fresh = ".other.densecl-999999998-aBc123";
    const char *similar = ".notes.densecl-draft";
    char live[64];
    snprintf(live, sizeof live, ".x.densecl-%ld-aBc123", (long)getppid());
    const char *names[] = {stale, fresh, similar, live};
    for (size_t i = 0; i < DC_ARRAY_LEN(names); i++) {
        snprintf(other, sizeof other, "%s/%s", dir, names[i]);
        FILE *f = fopen(other, "w");
        CHECK(f != NULL);
        if (f)
            fclose(f);
        if (names[i] != fresh) {
            struct timespec old[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
            CHECK(utimensat(AT_FDCWD, other, old, 0) == 0);
        }
    }
    CHECK(dc_npy_write(path, shape, 1, x) == DENSECL_OK);
    snprintf(other, sizeof other, "%s/%s", dir, stale);
    CHECK(access(other, F_OK) != 0);
    CHECK(count_entries(dir) == 4);
    for (size_t i = 1; i < DC_ARRAY_LEN(names); i++) {
        snprintf(other, sizeof other, "%s/%s", dir, names[i]);
        CHECKF(remove(other) == 0, "%s was removed", names[i]);
    }
    remove(path);
    CHECK(rmdir(dir) == 0);
}

static void test_versions(void)
{
    static unsigned char buf[1024];
    float x[6] = {1, 2, 3, 4, 5, 6};
    dc_npy a;
    for (int major = 1; major <= 3; major++) {
        size_t n = make_npy(buf, major, hdr_2x3, x, sizeof x);
        CHECKF(dc_npy_parse(buf, n, "v", &a) == DENSECL_OK, "version %d: %s", major,
               densecl_last_error());
        CHECK(a.count == 6 && a.data && memcmp(a.data, x, sizeof x) == 0);
        dc_npy_free(&a);
    }
    /* Keys in any order, double quotes, no trailing comma, odd spacing, tuple trailing comma. */
    const char *ok[] = {
        "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,3,)}   \n",
        "{'descr':'<f4','fortran_order':False,'shape':( 2 , 3 )}",
    };
    for (size_t i = 0; i < DC_ARRAY_LEN(ok); i++) {
        size_t n = make_npy(buf, 1, ok[i], x, sizeof x);
        CHECKF(dc_npy_parse(buf, n, "v", &a) == DENSECL_OK && a.count == 6, "%s: %s", ok[i],
               densecl_last_error());
        dc_npy_free(&a);
    }
    /* '<f8' is converted to float. */
    double d[3] = {0.1, -1e10, 3.0};
    size_t n =
        make_npy(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", d, sizeof d);
    CHECK(dc_npy_parse(buf, n, "v", &a) == DENSECL_OK && a.count == 3);
    CHECK(a.data && a.data[0] == (float)0.1 && a.data[1] == -1e10f && a.data[2] == 3.0f);
    dc_npy_free(&a);
}

static void test_refusals(void)
{
    static unsigned char buf[1024];
    static const unsigned char zeros[64];
    size_t n;

    n = make_npy(buf, 1, hdr_2x3, zeros, 24);
    buf[0] = 0x92;
    refuse_bytes(buf, n, "bad magic", "magic");
    refuse_bytes((const unsigned char *)"\x93NUMP", 5, "bad magic", "short");
    refuse_bytes((const unsigned char *)"", 0, "bad magic", "empty");
    n = make_npy(buf, 4, hdr_2x3, zeros, 24);
    refuse_bytes(buf, n, "version 4.0", "version 4");
    n = make_npy(buf, 1, hdr_2x3, zeros, 24);
    buf[7] = 1;
    refuse_bytes(buf, n, "version 1.1", "version 1.1");
    refuse_bytes((const unsigned char *)"\x93NUMPY\x01\x00\x05", 9, "truncated", "no length");
    refuse_bytes((const unsigned char *)"\x93NUMPY\x02\x00\x05\x00\x00", 11, "truncated",
                 "v2 no length");
    /* Header length beyond the file. */
    n = make_npy(buf, 1, hdr_2x3, zeros, 0);
    buf[8] = 0xFF;
    buf[9] = 0xFF;
    refuse_bytes(buf, n, "runs past the end", "header length");
    n = make_npy(buf, 2, hdr_2x3, zeros, 0);
    buf[11] = 0x80;
    refuse_bytes(buf, n, "runs past the end", "v2 header length");

    refuse_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 24,
                  "fortran_order True");
    refuse_header("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 24,
                  "big-endian dtype '>f4'");
    refuse_header("{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }", 48, "big-endian");
    refuse_header("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", 48,
                  "dtype '<i8' is not supported; densecl reads float32 ('<f4')");
    refuse_header("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", 12, "'<f2'");
    refuse_header("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", 6, "'|u1'");
    refuse_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8,
                  "structured");
    /* Data shorter or longer than the shape says. */
    refuse_header(hdr_2x3, 20, "truncated");
    refuse_header(hdr_2x3, 28, "extra bytes");
    refuse_header(hdr_2x3, 0, "needs 24");
    /* Header syntax and content. */
    refuse_header("{'descr': '<f4', 'fortran_order': False}", 4, "no 'shape'");
    refuse_header("{'descr': '<f4', 'shape': (1,)}", 4, "no 'fortran_order'");
    refuse_header("{'fortran_order': False, 'shape': (1,)}", 4, "no 'descr'");
    refuse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4,
                  "unexpected key 'x'");
    refuse_header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4,
                  "repeated");
    refuse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", 24,
                  "negative dimension");
    refuse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 4,
                  "more than 8 dimensions");
    refuse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, "
                  "1099511627776), }",
                  4, "too large");
    refuse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 4,
                  "too large");
    refuse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", 12,
                  "must be a tuple");
    refuse_header("{'descr': '<f4', 'fortran_order': False, 'shape': [3], }", 12,
                  "must be a tuple");
    refuse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,), }", 12,
                  "expected ',' or ')'");
    refuse_header("{'descr': '<f4', 'fortran_order': False, 'shape': ('a',), }", 12,
                  "tuple of integers");
    refuse_header("{'descr': '<f4', 'fortran_order': false, 'shape': (3,), }", 12, "True or False");
    refuse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } x", 12,
                  "unexpected data after");
    refuse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,) ", 12,
                  "expected ',' or '}'");
    refuse_header("{'descr': '<f4, 'fortran_order': False, 'shape': (3,)}", 12, "");
    refuse_header("{'descr': '<f4}", 12, "unterminated string");
    refuse_header("['descr', '<f4']", 12, "expected '{'");
    refuse_header("", 12, "expected '{'");
    refuse_header("{descr: '<f4'}", 12, "quoted string");
    refuse_header("{'descr' '<f4'}", 12, "expected ':'");
    refuse_header("{'de\\x41': '<f4'}", 12, "unsupported character");
    /* Byte offsets count from the start of the file. */
    refuse_header("{'descr' '<f4'}", 12, "at byte 19");
}

static void test_read_file_errors(void)
{
    char path[128];
    static unsigned char buf[256];
    dc_npy a;
    path_in(path, sizeof path, "missing.npy");
    CHECK(dc_npy_read(path, &a) == DENSECL_ERR_IO);
    CHECK(strstr(densecl_last_error(), "missing.npy") != NULL);
    CHECK(dc_npy_read(tmpdir, &a) == DENSECL_ERR_IO); /* a directory */
    /* Messages name the file. */
    path_in(path, sizeof path, "int.npy");
    size_t n = make_npy(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
                        "\0\0\0\0\0\0\0\0", 8);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, n, f) == n);
    if (f)
        fclose(f);
    CHECK(dc_npy_read(path, &a) == DENSECL_ERR_FORMAT);
    CHECK(strncmp(densecl_last_error(), path, strlen(path)) == 0);
    CHECK(strstr(densecl_last_error(), "dtype '<i8' is not supported") != NULL);
    remove(path);
    CHECK(dc_npy_read(NULL, &a) == DENSECL_ERR_ARGUMENT);
    CHECK(dc_npy_parse(buf, n, "x", NULL) == DENSECL_ERR_ARGUMENT);
}

static void test_shape_str(void)
{
    char buf[64];
    const int64_t s[3] = {2, 3, 1000};
    CHECK(strcmp(dc_shape_str(s, 1, 1, buf, sizeof buf), "(2,)") == 0);
    CHECK(strcmp(dc_shape_str(s, 3, 1, buf, sizeof buf), "(2, 3, 1000)") == 0);
    CHECK(strcmp(dc_shape_str(s, 0, 1, buf, sizeof buf), "()") == 0);
    CHECK(strcmp(dc_shape_str(s, 2, 0, buf, sizeof buf), "[2, 3]") == 0);
    CHECK(strcmp(dc_shape_str(s, 0, 0, buf, sizeof buf), "[]") == 0);
    /* Cut to fit, always terminated. */
    CHECK(strcmp(dc_shape_str(s, 3, 0, buf, 6), "[2, 3") == 0);
    CHECK(strcmp(dc_shape_str(s, 3, 0, buf, 1), "") == 0);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/densecl-npy-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_atomic();
    umask(022);
    test_atomic_targets();
    test_versions();
    test_refusals();
    test_read_file_errors();
    test_shape_str();
    char path[128];
    path_in(path, sizeof path, "a.npy");
    remove(path);
    CHECKF(rmdir(tmpdir) == 0, "%s not empty", tmpdir);
    return check_summary();
}
