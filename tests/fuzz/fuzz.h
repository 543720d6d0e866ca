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
#define FUZZ_CHECK(cond)                                                                        \
    do {                                                                                        \
        if (!(cond))                                                                            \
            fuzz_fail(__FILE__, __LINE__, #cond);                                               \
    } while (0)

#if defined(__GNUC__)
__attribute__((noreturn))
#endif
static inline void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, what);
    abort();
}

#endif /* DENSECL_FUZZ_H */
