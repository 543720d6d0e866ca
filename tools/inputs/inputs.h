/* SPDX-License-Identifier: MIT */
/*
 * inputs.h - what `densecl classify` reads: images (stb_image), IDX files (MNIST style, gzipped
 * or not), label files and class names. The preprocessing that turns the decoded pixels into
 * model input is the library's (densecl_weights_preprocess, densecl_image_to_input).
 *
 * Nothing here prints: every fallible function returns a densecl_status and leaves the detail,
 * which starts with the `what` or path it was given, in dc_error (densecl_last_error()). The
 * parsers take memory buffers so that a fuzzer can link them without the CLI.
 *
 * Built once as the static library densecl_inputs (tools/inputs/inputs.cmake), for the CLI, the
 * fuzz replay tests and the libFuzzer build alike: idx.c (files, gzip, IDX, sniffing), image.c
 * (stb_image), labels.c. The prefix is dci_, so that dc_ still means the library.
 */
#ifndef DENSECL_INPUTS_H
#define DENSECL_INPUTS_H

#include <stddef.h>
#include <stdint.h>

#include "tools_internal.h"

/* Largest model input side, resize target and resized side we accept: the library's. */
#define DCI_PP_MAX_SIDE DENSECL_PREPROCESS_MAX_SIDE
/* Largest decoded image, in pixels (67 MP, beyond camera photos): a crafted header must not make
 * us allocate GiBs. */
#define DCI_IMAGE_MAX_PIXELS ((size_t)1 << 26)
/* Largest file dci_read_file reads. */
#define DCI_INPUT_MAX_FILE ((size_t)1 << 31)

/* ---------------------------------------------------------------- files */

/* Reads a whole regular file into a malloc'd buffer (NUL-terminated, the NUL not counted). */
densecl_status dci_read_file(const char *path, void **bytes, size_t *len);

/* Does a buffer start with the gzip magic? */
int dci_is_gzip(const uint8_t *b, size_t len);

/* What a file holds, from its first bytes. */
typedef enum dci_input_kind {
    DCI_INPUT_IMAGE = 0, /* anything else: left to stb_image to accept or refuse */
    DCI_INPUT_IDX,       /* IDX images (0x00000803 / 0x00000804), raw or gzip */
    DCI_INPUT_NPY        /* .npy (read by dc_npy_read) */
} dci_input_kind;

/* Classifies a file by its first bytes and counts the images it declares (1 for an image file).
 * prefix is the start of the file (a gzip file needs enough of it to inflate the IDX header;
 * 64 KiB is plenty). For IDX and .npy a header that cannot be read is an error. */
densecl_status dci_input_sniff(const void *prefix, size_t len, const char *what,
                               dci_input_kind *kind, int64_t *count);
/* The shape in the header of a .npy file's first len bytes (dims holds up to 8). Only the
 * shape is read; dc_npy_read validates the rest. */
densecl_status dci_npy_peek_shape(const void *prefix, size_t len, const char *what, int64_t *dims,
                                  int *ndim);

/* ---------------------------------------------------------------- IDX */

/* An unsigned-byte IDX file. */
typedef struct dci_idx {
    int ndim;        /* 1..4 */
    int64_t dims[4]; /* big-endian sizes from the header */
    uint8_t *data;   /* product(dims) bytes, owned */
    size_t size;
} dci_idx;

/* Parses an IDX file of unsigned bytes (type 0x08), raw or gzip-compressed (detected by the gzip
 * magic; inflated with zlib). The data must be exactly what the header declares. */
densecl_status dci_idx_parse(const void *bytes, size_t len, const char *what, dci_idx *out);
/* The same for the first `items` items only (all of them when the file holds fewer): a gzip'd
 * file is inflated no further than they reach, so classify --limit 5 on a large file is quick
 * and a damaged tail it does not need goes unnoticed. Raw files are checked whole. */
densecl_status dci_idx_parse_first(const void *bytes, size_t len, const char *what, int64_t items,
                                   dci_idx *out);
void dci_idx_free(dci_idx *idx);
/* The image geometry of a parsed IDX (or of its header: data may be NULL): [N, H, W] is N grey
 * H x W images, [N, H, W, C] has C (1..4) interleaved channels. DENSECL_ERR_INPUT otherwise. */
densecl_status dci_idx_images(const dci_idx *idx, const char *what, int64_t *n, int *h, int *w,
                              int *c);

/* ---------------------------------------------------------------- images */

/* Pixels, interleaved [height, width, channels], row-major: densecl_image_to_input's input. */
typedef struct dci_pixels {
    const void *data;
    int bits; /* 8: uint8_t samples, 16: uint16_t samples */
    int width, height;
    int channels; /* 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA */
} dci_pixels;

/* A decoded image file; px.data is owned. */
typedef struct dci_image {
    dci_pixels px;
    void *owned;
} dci_image;

/* The size and channel count an image file declares, without decoding it. Use this, never
 * stbi_info_* directly: it first refuses JPEGs that overflow Debian stb_image 2.27's Huffman
 * tables (stb reads them while looking for the size). */
densecl_status dci_image_info(const void *bytes, size_t len, const char *what, int *width,
                              int *height, int *channels);
/* Decodes whatever stb_image reads (PNG, JPEG, BMP, GIF's first frame, TGA, PSD, HDR, PIC,
 * PNM). 16-bit PNG/PNM keep their 16 bits. Refuses images over DCI_IMAGE_MAX_PIXELS. */
densecl_status dci_image_decode(const void *bytes, size_t len, const char *what, dci_image *out);
/* Refuses an image over DCI_IMAGE_MAX_PIXELS from the first bytes of its file (its header), so
 * that a huge one is not read whole first. DENSECL_OK when the prefix does not tell. */
densecl_status dci_image_check_header(const void *prefix, size_t len, const char *what);
void dci_image_free(dci_image *im);

/* ---------------------------------------------------------------- labels and class names */

/* Ground-truth class ids: an IDX label file (0x00000801, raw or gzip) or text with one class id
 * per line (blank lines ignored). Every id must be in [0, classes). *labels is malloc'd. */
densecl_status dci_truth_parse(const void *bytes, size_t len, const char *what, int classes,
                               int **labels, int64_t *count);

/* Class names, exactly `classes` of them, from a text file with one name per line (trailing
 * "\r" stripped; a final newline optional). strict (classify --labels): the text must be UTF-8
 * (a BOM at the start is skipped) and no name may be empty; each refusal names the line.
 * *names is a malloc'd array of malloc'd strings; free with dci_names_free. (The "densecl.labels"
 * JSON is the library's: dc_names_parse_json.) */
densecl_status dci_names_parse_text(const char *text, size_t len, int classes, int strict,
                                    const char *what, char ***names);
void dci_names_free(char **names, int classes);

#endif
