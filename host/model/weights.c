/* SPDX-License-Identifier: MIT */
/* weights.c - the public densecl_weights API: a config and its raw float32 tensors, from a
 * safetensors or ONNX file (safetensors.c or onnx.c reads it, as the file's first bytes say;
 * arch.c infers or checks the architecture) or from a seed (random_init.c). Folding and
 * packing are the engine's: weights hold no derived data. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "model/model.h"

/* Prefixes the current error detail with the file name (dc_error writes into the buffer that
 * densecl_last_error returns, so the old text is copied first). */
static densecl_status w_prefix_error(densecl_status st, const char *path)
{
    char *old = strdup(densecl_last_error());
    if (!old)
        return st;
    dc_error(st, "%s: %s", path, old);
    free(old);
    return st;
}

/* "NaN", "inf", "-inf" or the value: printf's spelling of NaN varies between C libraries. */
static const char *w_value_str(float v, char *buf, size_t cap)
{
    if (isnan(v))
        snprintf(buf, cap, "NaN");
    else
        snprintf(buf, cap, "%.9g", (double)v);
    return buf;
}

static int w_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A NaN or infinite weight makes every output NaN, and a negative running variance a NaN scale
 * (sqrt of a negative): a classifier then reports the same class for every image, and an
 * accuracy of one class in ten looks like a result. Refused here, where the key is known. */
densecl_status dc_weights_check_values(const dc_tensor_set *set, const char *path)
{
    char v[32];
    for (int i = 0; i < set->count; i++) {
        const dc_tensor *t = &set->t[i];
        size_t n = 1, first = SIZE_MAX, count = 0;
        int var = w_ends_with(t->key, ".running_var");
        if (!t->data)
            continue;
        for (int d = 0; d < t->ndim; d++)
            n *= (size_t)t->shape[d]; /* the reader checked the product */
        for (size_t k = 0; k < n; k++) {
            if (isfinite(t->data[k]) && !(var && t->data[k] < 0.0f))
                continue;
            if (count++ == 0)
                first = k;
        }
        if (!count)
            continue;
        const char *what =
            isfinite(t->data[first]) ? "a negative running variance" : "a non-finite value";
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: tensor '%s' holds %s, %s at index %zu (bad values: %zu of %zu); "
                        "refused unless non-finite weights are allowed",
                        path, t->key, what, w_value_str(t->data[first], v, sizeof v), first, count,
                        n);
    }
    return DENSECL_OK;
}

/* Formats a user may hand us instead: the magic bytes at the start, what the file is, and how
 * to convert it (W_HINT_*). */
enum { W_HINT_NONE, W_HINT_PYTORCH, W_HINT_KERAS, W_HINT_TFLITE };
static const struct {
    size_t off, len;
    const char *magic;
    const char *what;
    int hint;
} w_magics[] = {
    {0, 8, "\x89HDF\r\n\x1a\n", "an HDF5 file (a Keras .h5 model?)", W_HINT_KERAS},
    {4, 4, "TFL3", "a TensorFlow Lite model", W_HINT_TFLITE},
    {0, 6, "\x93NUMPY", "a NumPy .npy array, not a model", W_HINT_NONE},
    {0, 4, "GGUF", "a GGUF file (llama.cpp), not a DenseNet", W_HINT_NONE},
    {0, 8, "\x89PNG\r\n\x1a\n", "a PNG image, not a model", W_HINT_NONE},
    {0, 3, "\xff\xd8\xff", "a JPEG image, not a model", W_HINT_NONE},
};

static const char W_ZIP_PYTORCH[] = "a PyTorch checkpoint (torch.save's zip format)";
static const char W_PICKLE[] =
    "a Python pickle (a PyTorch checkpoint in torch.save's legacy format?)";

/* A zip's first entry names what it holds: torch.save writes "<name>/data.pkl" (or version,
 * byteorder, .data/...) under one directory; numpy.savez writes "<array>.npy" entries. */
static const char *w_zip_kind(const unsigned char *h, size_t len)
{
    if (len < 30)
        return "a zip archive";
    size_t n = (size_t)dc_load_le(h + 26, 2);
    char name[256];
    if (n >= sizeof name || 30 + n > len)
        return "a zip archive";
    memcpy(name, h + 30, n);
    name[n] = '\0';
    if (w_ends_with(name, ".npy"))
        return "a NumPy .npz archive";
    if (strchr(name, '/') || w_ends_with(name, ".pkl"))
        return W_ZIP_PYTORCH;
    return "a zip archive";
}

dc_file_kind dc_weights_sniff(const unsigned char *head, size_t len, const char **what)
{
    *what = NULL;
    /* safetensors: an 8-byte little-endian header length, then the JSON header's '{'. Checked
     * first, since any other magic could also start such a length; a length that does not fit
     * the file is the safetensors reader's to report. */
    if (len >= 9 && head[8] == '{')
        return DC_FILE_SAFETENSORS;
    if (len >= 4 && memcmp(head, "PK\x03\x04", 4) == 0) {
        *what = w_zip_kind(head, len);
        return DC_FILE_OTHER;
    }
    /* torch.save's legacy format and pickled models: pickle protocols 2 to 5. */
    if (len >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) {
        *what = W_PICKLE;
        return DC_FILE_OTHER;
    }
    for (size_t i = 0; i < DC_ARRAY_LEN(w_magics); i++)
        if (len >= w_magics[i].off + w_magics[i].len &&
            memcmp(head + w_magics[i].off, w_magics[i].magic, w_magics[i].len) == 0) {
            *what = w_magics[i].what;
            return DC_FILE_OTHER;
        }
    /* ONNX: a ModelProto, whose writers put ir_version (field 1, varint: tag 0x08) first. */
    if (len >= 2 && head[0] == 0x08 && head[1] >= 1 && head[1] <= 20)
        return DC_FILE_ONNX;
    return DC_FILE_SAFETENSORS;
}

/* One line: what the file is, and the command that converts it when there is one. */
static densecl_status w_refuse_other(const char *path, const char *what)
{
    int hint = W_HINT_NONE;
    if (what == W_ZIP_PYTORCH || what == W_PICKLE)
        hint = W_HINT_PYTORCH;
    for (size_t i = 0; i < DC_ARRAY_LEN(w_magics); i++)
        if (what == w_magics[i].what)
            hint = w_magics[i].hint;
    /* The suggested output: the file's name without its extension, in the same directory. */
    char base[4096];
    snprintf(base, sizeof base, "%s", path);
    char *slash = strrchr(base, '/'), *dot = strrchr(base, '.');
    if (dot && dot > (slash ? slash + 1 : base))
        *dot = '\0';
    switch (hint) {
    case W_HINT_PYTORCH:
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s is %s, which densecl does not read; convert it with: densecl-export "
                        "--weights %s --out %s.safetensors (it infers the DenseNet from the "
                        "checkpoint's tensors and prints it)",
                        path, what, path, base);
    case W_HINT_KERAS:
    case W_HINT_TFLITE:
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s is %s, which densecl does not read; convert it to ONNX with: "
                        "python3 -m tf2onnx.convert --%s %s --output %s.onnx",
                        path, what, hint == W_HINT_KERAS ? "keras" : "tflite", path, base);
    default:
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s is %s; densecl reads DenseNet weights as safetensors (densecl-export "
                        "writes them from PyTorch) or ONNX",
                        path, what);
    }
}

/* Reads the first bytes of path and the tensors, with the reader the bytes call for. */
static densecl_status w_read_tensors(const char *path, dc_tensor_set *set)
{
    unsigned char head[512];
    ssize_t n;
    struct stat sb;
    const char *what;
    memset(set, 0, sizeof *set);
    int fd;
    /* Never blocks on a FIFO; anything but a regular file is refused, naming what it is. */
    densecl_status st = dc_open_regular(path, NULL, &fd);
    if (st != DENSECL_OK)
        return st;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return dc_safetensors_read(path, set);
    }
    do
        n = read(fd, head, sizeof head);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return dc_error(DENSECL_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    dc_file_kind kind = dc_weights_sniff(head, (size_t)n, &what);
    /* An ONNX writer that does not put ir_version first: the name says what the file is, when
     * its first bytes do not look like a safetensors header. */
    if (kind == DC_FILE_SAFETENSORS && w_ends_with(path, ".onnx") && !(n >= 9 && head[8] == '{'))
        kind = DC_FILE_ONNX;
    switch (kind) {
    case DC_FILE_ONNX:
        return dc_onnx_read(path, set);
    case DC_FILE_OTHER:
        return w_refuse_other(path, what);
    default:
        return dc_safetensors_read(path, set);
    }
}

densecl_status densecl_weights_load(const char *path, const densecl_config *expect,
                                    densecl_weights **out)
{
    densecl_weights_options o;
    memset(&o, 0, sizeof o);
    o.expect = expect;
    return densecl_weights_load_ex(path, &o, out);
}

densecl_status densecl_weights_load_ex(const char *path, const densecl_weights_options *options,
                                       densecl_weights **out)
{
    densecl_status st;
    dc_tensor_set set;
    densecl_config cfg;
    densecl_weights *w = NULL;
    densecl_weights_options o;
    memset(&o, 0, sizeof o);
    if (options)
        o = *options;
    if (out)
        *out = NULL;
    if (!path || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_weights_load: NULL argument");
    if ((st = w_read_tensors(path, &set)) != DENSECL_OK)
        return st;
    if ((st = dc_config_resolve(&set, o.expect, &cfg)) != DENSECL_OK) {
        w_prefix_error(st, path);
        goto fail;
    }
    if ((st = densecl_config_check(&cfg)) != DENSECL_OK)
        goto fail;
    if ((st = dc_config_match(&cfg, &set, path)) != DENSECL_OK)
        goto fail;
    if (!o.allow_nonfinite && (st = dc_weights_check_values(&set, path)) != DENSECL_OK)
        goto fail;
    w = calloc(1, sizeof *w);
    if (!w) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    w->cfg = cfg;
    w->tensors = set;
    memset(&set, 0, sizeof set);
    if (!(w->path = strdup(path))) {
        densecl_weights_free(w);
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    dc_weights_load_labels(w);
    *out = w;
    return DENSECL_OK;
fail:
    dc_tensor_set_free(&set);
    return st;
}

densecl_status densecl_weights_random(const densecl_config *cfg, uint64_t seed,
                                      densecl_weights **out)
{
    densecl_status st;
    densecl_weights *w = NULL;
    if (out)
        *out = NULL;
    if (!cfg || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_weights_random: NULL argument");
    if ((st = densecl_config_check(cfg)) != DENSECL_OK)
        return st;
    if (!(w = calloc(1, sizeof *w)))
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory for random weights");
    w->cfg = *cfg;
    if ((st = dc_random_tensors(cfg, seed, &w->tensors)) != DENSECL_OK) {
        free(w);
        return st;
    }
    *out = w;
    return DENSECL_OK;
}

const densecl_config *densecl_weights_config(const densecl_weights *w)
{
    return w ? &w->cfg : NULL;
}

const char *densecl_weights_metadata(const densecl_weights *w, const char *key)
{
    return w ? dc_tensor_meta(&w->tensors, key) : NULL;
}

uint64_t dc_weights_digest(const densecl_weights *w)
{
    const densecl_config *c = &w->cfg;
    int64_t cfg[8 + DENSECL_MAX_BLOCKS] = {c->growth_rate, c->num_blocks, c->init_features,
                                           c->bottleneck,  c->bn_size,    (int64_t)c->stem,
                                           c->in_channels, c->num_classes};
    for (int b = 0; b < DENSECL_MAX_BLOCKS; b++)
        cfg[8 + b] = c->block_layers[b];
    uint64_t h = dc_fnv(DC_FNV_SEED, cfg, sizeof cfg);
    h = dc_fnv(h, &c->compression, sizeof c->compression);
    for (int i = 0; i < w->tensors.count; i++) {
        const dc_tensor *t = &w->tensors.t[i];
        size_t n = 1;
        h = dc_fnv(h, t->key, strlen(t->key) + 1);
        h = dc_fnv(h, &t->ndim, sizeof t->ndim);
        for (int d = 0; d < t->ndim; d++) {
            h = dc_fnv(h, &t->shape[d], sizeof t->shape[d]);
            n *= (size_t)t->shape[d];
        }
        if (t->data)
            h = dc_fnv(h, t->data, n * sizeof *t->data);
    }
    for (int i = 0; i < w->label_count; i++)
        h = dc_fnv(h, w->labels[i], strlen(w->labels[i]) + 1);
    const char *pre = dc_tensor_meta(&w->tensors, "densecl.preprocess");
    return pre ? dc_fnv(h, pre, strlen(pre) + 1) : h;
}

void densecl_weights_free(densecl_weights *w)
{
    if (!w)
        return;
    dc_tensor_set_free(&w->tensors);
    dc_names_free(w->labels, w->label_count);
    free(w->path);
    free(w);
}
