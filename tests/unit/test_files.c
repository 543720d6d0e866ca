/* SPDX-License-Identifier: MIT */
/* test_files.c - the library's writer (dc_atomic_open) as `densecl tune` saves a tuning file
 * (dc_tuning_write), and dc_path_is_mount, without OpenCL.
 *
 *   test_files                 links, a directory, a FIFO, mount points, in a temporary dir
 *   test_files --tuning PATH   writes a tuning file at PATH and checks it back: what
 *                              tests/cli/writers_tests.sh runs on a bind-mounted file, which
 *                              only a mount namespace of its own (root) can make. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "conv/conv.h"

static const densecl_tiles tiles = {8, 16, 16, 4};

/* The tuning file at path holds our tiles. */
static int tuning_ok(const char *path)
{
    char *text = dc_read_text("", path);
    int ok = text && strstr(text, "conv1x1 8x16\nconv 16x4\n") != NULL;
    free(text);
    return ok;
}

static int write_tuning(const char *path)
{
    densecl_status st = dc_tuning_write(path, &tiles, NULL, NULL, "test_files");
    if (st != DENSECL_OK) {
        fprintf(stderr, "test_files: %s\n", densecl_last_error());
        return 1;
    }
    struct stat sb; /* a device or FIFO took the bytes: nothing to read back */
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && !tuning_ok(path)) {
        fprintf(stderr, "test_files: %s does not hold the tiles written\n", path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--tuning") == 0)
        return write_tuning(argv[2]);
    char dir[] = "/tmp/densecl-test-files-XXXXXX", path[256], link[256], target[256];
    CHECK(mkdtemp(dir) != NULL);

    /* A symbolic link: its target gets the file, the link stays. */
    snprintf(link, sizeof link, "%s/link.tiles", dir);
    snprintf(target, sizeof target, "%s/target.tiles", dir);
    CHECK(symlink("target.tiles", link) == 0);
    CHECKF(write_tuning(link) == 0, "%s", densecl_last_error());
    struct stat sb;
    CHECK(lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode));
    CHECK(tuning_ok(target));

    /* A directory is refused, naming it. */
    snprintf(path, sizeof path, "%s/adir", dir);
    CHECK(mkdir(path, 0755) == 0);
    CHECK(dc_tuning_write(path, &tiles, NULL, NULL, "x") == DENSECL_ERR_IO);
    CHECKF(strstr(densecl_last_error(), "is a directory") != NULL, "%s", densecl_last_error());

    /* Mount points: a file beside ours is none; /proc is one (another device than /), and so
     * is / itself (found in /proc/self/mountinfo: no directory above it to compare with). */
    CHECK(!dc_path_is_mount(target));
    CHECK(!dc_path_is_mount(dir));
    CHECK(!dc_path_is_mount("/nonexistent/densecl"));
    CHECK(dc_path_is_mount("/proc"));
    CHECK(dc_path_is_mount("/"));

    /* Nothing left but what we made. */
    unlink(link);
    unlink(target);
    rmdir(path);
    CHECKF(rmdir(dir) == 0, "%s not empty: a temporary left? (%s)", dir, strerror(errno));
    return check_summary();
}
