/* SPDX-License-Identifier: MIT */
/* dir_count.h - count_entries(), which the tests of atomic writes (test_cli.c, test_npy.c,
 * test_safetensors.c) use to show that no file or temporary was left behind. Header-only, like
 * check.h. Needs <dirent.h> (POSIX), which the including test enables. */
#ifndef DENSECL_TEST_DIR_COUNT_H
#define DENSECL_TEST_DIR_COUNT_H

#include <dirent.h>
#include <string.h>

/* The entries of dir other than "." and ".."; -1 if it cannot be opened. */
static inline int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

#endif
