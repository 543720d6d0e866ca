/* weights.c - the public densecl_weights API: a config and its raw float32 tensors, from a
 * safetensors file (safetensors.c reads it, arch.c infers or checks the architecture) or from a
 * seed (random_init.c). Folding and packing are the engine's: weights hold no derived data. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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
    if ((st = dc_safetensors_read(path, &set)) != DENSECL_OK)
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

void densecl_weights_free(densecl_weights *w)
{
    if (!w)
        return;
    dc_tensor_set_free(&w->tensors);
    free(w);
}
