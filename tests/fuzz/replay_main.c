/* SPDX-License-Identifier: MIT */
/* replay_main.c - runs fuzz inputs through a fuzz target's LLVMFuzzerTestOneInput without
 * libFuzzer, so that the seed corpus and every regression input run in the normal test suite
 * (and under ASan/UBSan in the sanitizer build).
 *
 *   fuzz_replay_<target> PATH...
 *
 * A PATH that is a directory replays every regular file in it, in name order (not recursive;
 * names starting with '.' are skipped). A crash or a failed invariant aborts, which fails the
 * test; a path that cannot be read fails it too. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 65536;
            unsigned char *b = realloc(buf, cap);
            if (!b) {
                fprintf(stderr, "replay: out of memory reading %s\n", path);
                free(buf);
                fclose(f);
                return 1;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: read error on %s\n", path);
        free(buf);
        return 1;
    }
    /* An exact-size copy, so that ASan catches a read one past the end as libFuzzer would. */
    unsigned char *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return 1;
    }
    if (n)
        memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays the files of a directory in name order, so runs are reproducible. */
static int replay_dir(const char *dir, int *files)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int fails = 0;
    struct dirent *e;
    if (!d) {
        fprintf(stderr, "replay: cannot open directory %s: %s\n", dir, strerror(errno));
        return 1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                fails++;
                break;
            }
            names = nn;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(names[n] = malloc(len))) {
            fails++;
            break;
        }
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode)) {
            fails += replay_file(names[i]);
            (*files)++;
        }
        free(names[i]);
    }
    free(names);
    return fails;
}

int main(int argc, char **argv)
{
    int fails = 0, files = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            fails++;
        } else if (S_ISDIR(sb.st_mode)) {
            fails += replay_dir(argv[i], &files);
        } else {
            fails += replay_file(argv[i]);
            files++;
        }
    }
    printf("replay: %d input%s, %d failure%s\n", files, files == 1 ? "" : "s", fails,
           fails == 1 ? "" : "s");
    return fails ? 1 : 0;
}
