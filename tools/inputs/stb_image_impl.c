/* SPDX-License-Identifier: MIT */
/*
 * stb_image_impl.c - the one translation unit with stb_image's implementation (Debian's
 * libstb-dev, <stb/stb_image.h>). CMake compiles it without our warning flags: the warnings
 * would be stb's, not ours.
 */
#include <stdlib.h>
#include <string.h>

/* Zeroed allocations: on some corrupt files stb reads decoder state it never wrote (the fuzzer
 * found a JPEG whose scan uses an undefined Huffman table; image.c now refuses that one). With
 * zeroed memory such reads give the same answer every run instead of depending on what the heap
 * held before. Large blocks come from calloc as fresh zero pages, so this costs little. */
static void *dc_stbi_realloc(void *p, size_t old_size, size_t new_size)
{
    unsigned char *q = realloc(p, new_size);
    if (q && new_size > old_size) {
        memset(q + old_size, 0, new_size - old_size);
    }
    return q;
}
#define STBI_MALLOC(size) calloc(1, size)
#define STBI_REALLOC_SIZED(p, old_size, new_size) dc_stbi_realloc(p, old_size, new_size)
#define STBI_FREE(p) free(p)

#define STB_IMAGE_IMPLEMENTATION
/* We decode from memory only: the files are read (and size-checked) by idx.c. */
#define STBI_NO_STDIO
#include <stb/stb_image.h>
