/* SPDX-License-Identifier: MIT */
/*
 * image.c - image files through stb_image (see inputs.h): their declared size without decoding,
 * the decode itself, and the JPEG and PNG defects Debian's stb 2.27 misses, refused first.
 * No printing.
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>

#include "inputs.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Byte i, or 0 past the end (as stbi__get8 reads). */
static unsigned byte_at(const uint8_t *b, size_t len, size_t i)
{
    return i < len ? b[i] : 0;
}

/* Two JPEG defects Debian 12's stb_image (v2.27) does not catch, found by
 * tests/fuzz/fuzz_idx_image.c; we walk the markers as stb does and refuse such a file before stb
 * sees it. The walk errs on the side of finding segments: it goes on where stb would stop.
 *  - A DHT segment declaring more than 256 codes in a table: stb fills its 257-entry size list
 *    and 256-entry value list without a bound and writes past the heap object (nothings/stb
 *    #1289, fixed upstream after 2.27). No valid JPEG declares more than 256 codes per table.
 *  - A scan using a Huffman table no DHT segment defined (Motion-JPEG frames leave out the
 *    standard tables, which libjpeg then supplies): stb decodes with whatever its table memory
 *    held, so the pixels are garbage that changes from run to run.
 * Returns NULL for a file to hand to stb, else why it is refused. */
static const char *jpeg_refusal(const uint8_t *b, size_t len)
{
    size_t pos = 0;
    unsigned defined = 0;             /* bit class * 4 + id: DC tables 0..3, AC tables 4..7 */
    int huffman = 0, progressive = 0; /* a Huffman SOF (C0 to C2) was seen; progressive */
    while (pos < len && b[pos] == 0xFF) {
        pos++;
    }
    if (pos == 0 || byte_at(b, len, pos) != 0xD8) {
        return NULL; /* no SOI: stb does not take it for a JPEG */
    }
    for (pos++; pos < len;) {
        if (b[pos] != 0xFF) {
            pos++; /* entropy-coded data, or junk stb stops at */
            continue;
        }
        while (pos < len && b[pos] == 0xFF) {
            pos++; /* fill bytes */
        }
        unsigned m = byte_at(b, len, pos++);
        if (m == 0xD9) {
            return NULL; /* EOI */
        }
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {
            continue; /* stuffed 0xFF, TEM, RSTn, SOI: no length */
        }
        size_t seg = byte_at(b, len, pos) << 8 | byte_at(b, len, pos + 1);
        if (seg < 2) {
            continue;
        }
        if (m >= 0xC0 && m <= 0xC2) {
            huffman = 1;
            progressive = m == 0xC2;
        } else if (m == 0xC4) {
            size_t p = pos + 2, end = pos + seg;
            while (p < end) {
                unsigned tc_th = byte_at(b, len, p), n = 0;
                for (size_t i = 0; i < 16; i++) {
                    n += byte_at(b, len, p + 1 + i);
                }
                if (n > 256) {
                    return "corrupt JPEG: a Huffman table declares more than 256 codes";
                }
                if ((tc_th >> 4) <= 1 && (tc_th & 15) <= 3) {
                    defined |= 1u << ((tc_th >> 4) * 4 + (tc_th & 15));
                }
                p += 17 + n;
            }
        } else if (m == 0xDA && huffman) {
            /* (Other SOFs, lossless or arithmetic-coded, are stb's to refuse.) */
            /* Ns, then (component, DC table << 4 | AC table) for each, then Ss, Se, Ah/Al. A
             * progressive scan uses the DC tables when Ss = 0 and Ah = 0 (a first DC scan), the
             * AC tables when Ss > 0; a baseline scan uses both. */
            unsigned ns = byte_at(b, len, pos + 2);
            unsigned ss = byte_at(b, len, pos + 3 + 2 * ns);
            unsigned ah = byte_at(b, len, pos + 5 + 2 * ns) >> 4;
            int dc = !progressive || (ss == 0 && ah == 0), ac = !progressive || ss > 0;
            for (unsigned c = 0; c < ns; c++) {
                unsigned t = byte_at(b, len, pos + 4 + 2 * c);
                if ((dc && (t >> 4) <= 3 && !(defined >> (t >> 4) & 1)) ||
                    (ac && (t & 15) <= 3 && !(defined >> (4 + (t & 15)) & 1))) {
                    return "a JPEG scan uses a Huffman table the file does not define (a "
                           "Motion-JPEG frame?), which densecl cannot decode";
                }
            }
        }
        pos += seg; /* SOS included: its entropy-coded data follows, scanned byte by byte */
    }
    return NULL;
}

/* stb_image 2.27 grows its PNG data buffer to a chunk's declared length before reading it: a
 * 60-byte file whose second IDAT chunk declares 2^30 bytes makes it allocate 2 GiB (found by
 * tests/fuzz/fuzz_idx_image.c). A chunk cannot hold more bytes than the file has, so we walk the
 * chunks up to IEND and refuse the file at the first one that runs past the end. Returns the
 * offset of that chunk, or 0 for a file to hand to stb (not a PNG, or every chunk fits). */
static size_t png_chunk_past_end(const uint8_t *b, size_t len, uint32_t *declared, size_t *left)
{
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (len < 8 || memcmp(b, sig, 8) != 0) {
        return 0;
    }
    for (size_t pos = 8; len - pos >= 8;) {
        uint32_t n = be32(b + pos);
        if (n > len - pos - 8) {
            *declared = n;
            *left = len - pos - 8;
            return pos;
        }
        if (memcmp(b + pos + 4, "IEND", 4) == 0) {
            break;
        }
        pos += 8 + (size_t)n;
        pos += len - pos < 4 ? len - pos : 4; /* the CRC; stb reads a missing one as 0 */
    }
    return 0;
}

densecl_status dci_image_info(const void *bytes, size_t len, const char *what, int *width,
                              int *height, int *channels)
{
    const stbi_uc *b = bytes;
    *width = *height = *channels = 0;
    if (len > INT_MAX) {
        return dc_error(DENSECL_ERR_INPUT, "%s: image file too large", what);
    }
    const char *jpeg = jpeg_refusal(b, len);
    if (jpeg) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: %s", what, jpeg);
    }
    uint32_t declared = 0;
    size_t left = 0, at = png_chunk_past_end(b, len, &declared, &left);
    if (at) {
        char type[5] = "????";
        for (int i = 0; i < 4; i++) {
            if (isalpha(b[at + 4 + i])) {
                type[i] = (char)b[at + 4 + i];
            }
        }
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: corrupt or truncated PNG: chunk %s at byte %zu declares %" PRIu32
                        " bytes, only %zu follow",
                        what, type, at, declared, left);
    }
    if (!stbi_info_from_memory(b, (int)len, width, height, channels)) {
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: not an image densecl can read (PNG, JPEG, BMP, GIF, TGA, PSD, HDR, "
                        "PIC, PNM), an IDX file or a .npy file: %s",
                        what, stbi_failure_reason());
    }
    if (*width < 1 || *height < 1) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: corrupt or truncated image (%dx%d pixels)", what,
                        *width, *height);
    }
    return DENSECL_OK;
}

densecl_status dci_image_check_header(const void *prefix, size_t len, const char *what)
{
    int w = 0, h = 0, c = 0;
    /* Only stb's size reading, behind the same JPEG guard as dci_image_info; the PNG chunk walk
     * is left out: a prefix ends mid-chunk. A header that does not parse here is left to the
     * full decode to judge. */
    if (len > INT_MAX || jpeg_refusal(prefix, len) ||
        !stbi_info_from_memory(prefix, (int)len, &w, &h, &c) || w < 1 || h < 1) {
        return DENSECL_OK;
    }
    if ((uint64_t)w * (uint64_t)h > DCI_IMAGE_MAX_PIXELS) {
        return dc_error(DENSECL_ERR_INPUT, "%s: a %dx%d image is too large (over %zu pixels)", what,
                        w, h, DCI_IMAGE_MAX_PIXELS);
    }
    return DENSECL_OK;
}

densecl_status dci_image_decode(const void *bytes, size_t len, const char *what, dci_image *out)
{
    int w = 0, h = 0, c = 0;
    const stbi_uc *b = bytes;
    memset(out, 0, sizeof(*out));
    densecl_status st = dci_image_info(bytes, len, what, &w, &h, &c);
    if (st != DENSECL_OK) {
        return st;
    }
    if ((uint64_t)w * (uint64_t)h > DCI_IMAGE_MAX_PIXELS) {
        return dc_error(DENSECL_ERR_INPUT, "%s: a %dx%d image is too large (over %zu pixels)", what,
                        w, h, DCI_IMAGE_MAX_PIXELS);
    }
    int sixteen = stbi_is_16_bit_from_memory(b, (int)len);
    void *px = sixteen ? (void *)stbi_load_16_from_memory(b, (int)len, &w, &h, &c, 0)
                       : (void *)stbi_load_from_memory(b, (int)len, &w, &h, &c, 0);
    if (!px) {
        return dc_error(DENSECL_ERR_FORMAT, "%s: corrupt or truncated image (stb_image: %s)", what,
                        stbi_failure_reason());
    }
    if (c < 1 || c > 4) {
        stbi_image_free(px);
        return dc_error(DENSECL_ERR_INPUT, "%s: image with %d channels", what, c);
    }
    out->owned = px;
    out->px.data = px;
    out->px.bits = sixteen ? 16 : 8;
    out->px.width = w;
    out->px.height = h;
    out->px.channels = c;
    return DENSECL_OK;
}

void dci_image_free(dci_image *im)
{
    if (im) {
        stbi_image_free(im->owned);
        memset(im, 0, sizeof(*im));
    }
}
