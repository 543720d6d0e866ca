/* SPDX-License-Identifier: MIT */
/* slurp.h - slurp(): a whole file into malloc'd memory, for the tests that parse files
 * themselves (test_onnx.c, test_preprocess_onnx.c). Header-only, like check.h. */
#ifndef DENSECL_TEST_SLURP_H
#define DENSECL_TEST_SLURP_H

#include <stdio.h>
#include <stdlib.h>

/* The bytes of path (*len of them; free() them), or NULL with *len 0 when it cannot be read or
 * is empty. */
static inline unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    *len = 0;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        rewind(f);
        if (n > 0 && (buf = malloc((size_t)n)) != NULL) {
            if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
                *len = (size_t)n;
            } else {
                free(buf); /* a short read: as unreadable */
                buf = NULL;
            }
        }
    }
    fclose(f);
    return buf;
}

#endif
