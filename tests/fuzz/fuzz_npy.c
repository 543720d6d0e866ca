/* SPDX-License-Identifier: MIT */
/* fuzz_npy.c - dc_npy_parse on arbitrary bytes.
 *
 * Besides the sanitizers: an accepted array has 0..8 non-negative dimensions whose product is
 * count, its data is exactly the file's last count * 4 (or * 8 for '<f8') bytes, and '<f4'
 * values come back bit-exact. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "plan/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dc_npy a;
    densecl_status st = dc_npy_parse(data, size, "fuzz", &a);
    if (st != DENSECL_OK) {
        FUZZ_CHECK(st == DENSECL_ERR_FORMAT || st == DENSECL_ERR_NO_MEMORY);
        FUZZ_CHECK(a.data == NULL && a.count == 0);
        FUZZ_CHECK(densecl_last_error()[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(a.ndim >= 0 && a.ndim <= 8);
    FUZZ_CHECK(a.data != NULL);
    size_t count = 1;
    for (int d = 0; d < a.ndim; d++) {
        FUZZ_CHECK(a.shape[d] >= 0);
        FUZZ_CHECK(dc_mul_size(count, (size_t)a.shape[d], &count));
    }
    FUZZ_CHECK(count == a.count);
    /* Recompute where the data starts; its length then tells '<f4' from '<f8' (the dtype is
     * not reported). '<f4' values are copied bit for bit, '<f8' ones rounded to float. */
    FUZZ_CHECK(size >= 10);
    size_t prefix = data[6] == 1 ? 10 : 12;
    size_t hlen = data[8] | (size_t)data[9] << 8;
    if (prefix == 12)
        hlen |= (size_t)data[10] << 16 | (size_t)data[11] << 24;
    FUZZ_CHECK(size >= prefix && size - prefix >= hlen);
    size_t data_len = size - prefix - hlen;
    const uint8_t *src = data + prefix + hlen;
    FUZZ_CHECK(data_len == count * 4 || data_len == count * 8);
    for (size_t i = 0; i < count; i++) {
        float f;
        if (data_len == count * 4) {
            memcpy(&f, src + 4 * i, sizeof f); /* the fuzzers run on little-endian hosts */
        } else {
            double dv;
            memcpy(&dv, src + 8 * i, sizeof dv);
            f = (float)dv;
        }
        FUZZ_CHECK(memcmp(&f, &a.data[i], sizeof f) == 0 || (f != f && a.data[i] != a.data[i]));
    }
    dc_npy_free(&a);
    dc_npy_free(&a); /* idempotent: dc_npy_free zeroes */
    FUZZ_CHECK(a.data == NULL);
    return 0;
}
