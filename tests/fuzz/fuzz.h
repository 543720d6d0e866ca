/* SPDX-License-Identifier: MIT */
/* fuzz.h - the libFuzzer entry point every fuzz_*.c defines, declared once so that the targets
 * also build warning-clean (-Wmissing-prototypes) with the normal compiler for replay_main.c. */
#ifndef DENSECL_FUZZ_H
#define DENSECL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A crash that libFuzzer records and replay_main turns into a failing test: a broken invariant
 * is as much a finding as a sanitizer report. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)

#if defined(__GNUC__)
__attribute__((noreturn))
#endif
static inline void
fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, what);
    abort();
}

#if defined(_GNU_SOURCE)
#include <sys/mman.h>
#include <unistd.h>

/* The bytes as a file, for the readers' path API: a memfd holding data, its name
 * /proc/self/fd/N into path. Returns the fd (the caller closes it), or -1 where there is no
 * memfd. Needs _GNU_SOURCE before the first #include. */
static inline int fuzz_memfd(const uint8_t *data, size_t size, const char *name, char *path,
                             size_t cap)
{
    int fd = memfd_create(name, 0);
    if (fd < 0)
        return -1;
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        FUZZ_CHECK(n > 0);
        done += (size_t)n;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}
#endif

#endif /* DENSECL_FUZZ_H */
