/* SPDX-License-Identifier: MIT */
/*
 * classify_inputs.c - `densecl classify`: walking the inputs: sniffing each file for its kind and
 * image count, then decoding and preprocessing its images into the slots of the batch being
 * filled (the other of the two is meanwhile on the device).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "classify.h"

/* ---------------------------------------------------------------------------------------------
 * Set-up: inputs, weights, preprocessing, names, labels
 * ------------------------------------------------------------------------------------------- */

/* --shard K/N: keeps of each input only the images in this shard's range of positions, and
 * reports the inputs that failed when sniffed if their position is in it (one that holds no
 * image, at the very end, belongs to the last shard), so that each is reported once. */
static void take_shard(classify *c)
{
    int64_t lo, hi;
    shard_range(c->all_total, c->shard_k, c->shard_n, &lo, &hi);
    for (int i = 0; i < c->n_in; i++) {
        input_file *in = &c->in[i];
        int64_t s = in->first > lo ? in->first : lo;
        int64_t e = in->first + in->count < hi ? in->first + in->count : hi;
        int owned = (in->first >= lo && in->first < hi) ||
                    (in->first == c->all_total && c->shard_k == c->shard_n - 1);
        if (in->failed) {
            if (owned) {
                report_failure(c, i, in->why ? in->why : in->path);
            }
            free(in->why);
            in->why = NULL;
        }
        in->skip = e > s ? s - in->first : 0;
        in->count = e > s ? e - s : 0;
    }
    c->total = hi - lo;
}

/* Reads the start of every input for its kind and image count. An input that fails here still
 * takes one position (an image file that went missing is one image, for --truth's alignment). */
void sniff_inputs(classify *c)
{
    unsigned char *buf = malloc(SNIFF_BYTES);
    int64_t pos = 0;
    /* Every shard sniffs every input (for the positions); an input that fails here is
     * reported by the one shard that owns its position, below. */
    c->quiet_fail = c->shard_n > 1;
    for (int i = 0; i < c->n_in; i++) {
        input_file *in = &c->in[i];
        in->first = pos;
        if (pos >= c->limit) {
            continue; /* beyond --limit: not read at all */
        }
        densecl_status st = DENSECL_OK;
        FILE *f = NULL;
        size_t len = 0;
        if (!buf) {
            st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
        } else if ((st = dc_fopen_regular(in->path, NULL, &f)) != DENSECL_OK) {
            /* a FIFO or directory is refused here, before anything waits on it */
        } else {
            len = fread(buf, 1, SNIFF_BYTES, f);
            if (ferror(f)) {
                st = dc_error(DENSECL_ERR_IO, "%s: read error: %s", in->path, strerror(errno));
            }
            fclose(f);
        }
        in->count = 1;
        if (st == DENSECL_OK) {
            st = dci_input_sniff(buf, len, in->path, &in->kind, &in->count);
        }
        if (st == DENSECL_OK && in->kind == DCI_INPUT_IMAGE) {
            st = dci_image_check_header(buf, len, in->path); /* before a huge file is read */
        }
        if (st != DENSECL_OK) {
            in->count = in->kind == DCI_INPUT_IMAGE ? 1 : 0;
            input_failed(c, i);
        }
        if (in->count > c->limit - pos) {
            in->count = c->limit - pos;
        }
        pos += in->count;
    }
    c->all_total = pos;
    c->total = pos;
    c->quiet_fail = 0;
    free(buf);
    if (c->shard_n > 1) {
        take_shard(c);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Inputs
 * ------------------------------------------------------------------------------------------- */

/* The next slot for a [ch, h, w] image, starting the batch first when it is full or holds
 * images of another size. NULL with *rc set on failure, or EXIT_INTERRUPTED after a signal:
 * no more input is read then, the batches already started are still reported. */
static float *batch_slot(classify *c, int ch, int h, int w, int *rc)
{
    size_t image = (size_t)ch * (size_t)h * (size_t)w, need;
    cbatch *b = &c->bt[c->fill];
    if (cli_signal_caught()) {
        *rc = EXIT_INTERRUPTED;
        return NULL;
    }
    if (b->n > 0 && (ch != b->c || h != b->h || w != b->w)) {
        if ((*rc = flush_batch(c)) != 0) {
            return NULL;
        }
        b = &c->bt[c->fill];
    }
    if (b->n == 0) {
        if (!dc_mul_size(image, (size_t)c->batch, &need) ||
            !dc_mul_size(need, sizeof(float), &need)) {
            /* the batch in flight is good: reported first, then the error */
            if ((*rc = drain_batches(c)) != EXIT_RUNTIME) {
                *rc = fail_msg("a batch of %d images of %dx%dx%d is too large", c->batch, ch, h, w);
            }
            return NULL;
        }
        if (need > b->x_cap) {
            free(b->x);
            b->x_cap = 0;
            if (!(b->x = malloc(need))) {
                if ((*rc = drain_batches(c)) != EXIT_RUNTIME) {
                    *rc = fail_msg("out of memory for a batch of %d images of %dx%dx%d", c->batch,
                                   ch, h, w);
                }
                return NULL;
            }
            b->x_cap = need;
        }
        b->c = ch;
        b->h = h;
        b->w = w;
    }
    return b->x + (size_t)b->n * image;
}

/* The image in the slot batch_slot gave is complete: keep it, start the batch when full. */
static int batch_commit(classify *c, int input, int64_t index)
{
    cbatch *b = &c->bt[c->fill];
    b->slot_in[b->n] = input;
    b->slot_index[b->n] = index;
    b->n++;
    return b->n == c->batch ? flush_batch(c) : 0;
}

/* Preprocesses px into the batch. 0, EXIT_RUNTIME (reported), or -1: the input failed. */
static int add_pixels(classify *c, int i, int64_t index, const dci_pixels *px)
{
    int rc = 0;
    float *slot = batch_slot(c, c->pp.channels, c->pp.height, c->pp.width, &rc);
    if (!slot) {
        return rc;
    }
    if (densecl_image_to_input(&c->pp, px->data, px->width, px->height, px->channels, px->bits, 0,
                               slot) != DENSECL_OK) {
        return -1;
    }
    return batch_commit(c, i, index);
}

static int do_image(classify *c, int i, const void *bytes, size_t len)
{
    dci_image im;
    if (dci_image_decode(bytes, len, c->in[i].path, &im) != DENSECL_OK) {
        return -1;
    }
    int rc = add_pixels(c, i, 0, &im.px);
    dci_image_free(&im);
    return rc;
}

static int do_idx(classify *c, int i, const void *bytes, size_t len)
{
    const input_file *in = &c->in[i];
    dci_idx idx;
    int64_t n;
    int h, w, ch, rc = 0;
    /* in->count is what --limit leaves: a gzip'd file is inflated no further */
    if (dci_idx_parse_first(bytes, len, in->path, in->skip + in->count, &idx) != DENSECL_OK) {
        return -1;
    }
    if (dci_idx_images(&idx, in->path, &n, &h, &w, &ch) != DENSECL_OK) {
        dci_idx_free(&idx);
        return -1;
    }
    size_t image = (size_t)h * (size_t)w * (size_t)ch;
    for (int64_t j = in->skip; j < in->skip + in->count && j < n && rc == 0; j++) {
        dci_pixels px = {idx.data + (size_t)j * image, 8, w, h, ch};
        rc = add_pixels(c, i, j, &px);
    }
    dci_idx_free(&idx);
    return rc;
}

static int do_npy(classify *c, int i)
{
    const input_file *in = &c->in[i];
    dc_npy a;
    int rc = 0;
    if (dc_npy_read(in->path, &a) != DENSECL_OK) {
        return -1;
    }
    int min = densecl_config_min_size(&c->cfg);
    char shape[160];
    dc_shape_str(a.shape, a.ndim, 0, shape, sizeof(shape));
    if (a.ndim != 4) {
        dc_error(DENSECL_ERR_INPUT, "%s: want preprocessed float32 [N, C, H, W], got shape %s",
                 in->path, shape);
        rc = -1;
    } else if (a.shape[1] != c->cfg.in_channels) {
        dc_error(DENSECL_ERR_INPUT, "%s: shape %s has %lld channels, the model takes %d", in->path,
                 shape, (long long)a.shape[1], c->cfg.in_channels);
        rc = -1;
    } else if (a.shape[2] < min || a.shape[3] < min || a.shape[2] > DCI_PP_MAX_SIDE ||
               a.shape[3] > DCI_PP_MAX_SIDE) {
        dc_error(DENSECL_ERR_INPUT, "%s: images of shape %s: each side must be in [%d, %d]",
                 in->path, shape, min, DCI_PP_MAX_SIDE);
        rc = -1;
    }
    int ch = (int)a.shape[1], h = (int)a.shape[2], w = (int)a.shape[3];
    size_t image = rc == 0 ? (size_t)ch * (size_t)h * (size_t)w : 0;
    for (int64_t j = in->skip; rc == 0 && j < in->skip + in->count && j < a.shape[0]; j++) {
        float *slot = batch_slot(c, ch, h, w, &rc);
        if (slot) {
            memcpy(slot, a.data + (size_t)j * image, image * sizeof(float));
            rc = batch_commit(c, i, j);
        }
    }
    dc_npy_free(&a);
    return rc;
}

/* Classifies input i. 0 (its failure, if any, reported) or EXIT_RUNTIME. */
int do_input(classify *c, int i)
{
    input_file *in = &c->in[i];
    int rc;
    if (in->failed || in->count == 0) {
        return 0;
    }
    if (in->kind != DCI_INPUT_NPY && c->pp_status != DENSECL_OK) {
        dc_error(c->pp_status, "%s", c->pp_why);
        rc = -1;
    } else if (in->kind == DCI_INPUT_NPY) {
        rc = do_npy(c, i);
    } else {
        void *bytes;
        size_t len;
        if (dci_read_file(in->path, &bytes, &len) != DENSECL_OK) {
            rc = -1;
        } else {
            rc = in->kind == DCI_INPUT_IDX ? do_idx(c, i, bytes, len) : do_image(c, i, bytes, len);
            free(bytes);
        }
    }
    if (rc < 0) {
        input_failed(c, i);
        rc = 0;
    }
    return rc;
}
