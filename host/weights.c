/* weights.c - the public densecl_weights API: a config and its raw float32 tensors, from a
 * safetensors file (safetensors.c reads it, arch.c infers or checks the architecture) or from a
 * seed (random_init.c). Folding and packing are the engine's: weights hold no derived data. */
#define _POSIX_C_SOURCE 200809L

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

densecl_status densecl_weights_load(const char *path, const densecl_config *expect,
                                    densecl_weights **out)
{
    densecl_status st;
    dc_tensor_set set;
    densecl_config cfg;
    densecl_weights *w = NULL;
    if (out)
        *out = NULL;
    if (!path || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_weights_load: NULL argument");
    if ((st = dc_safetensors_read(path, &set)) != DENSECL_OK)
        return st;
    if ((st = dc_config_resolve(&set, expect, &cfg)) != DENSECL_OK) {
        w_prefix_error(st, path);
        goto fail;
    }
    if ((st = densecl_config_check(&cfg)) != DENSECL_OK)
        goto fail;
    if ((st = dc_config_match(&cfg, &set, path)) != DENSECL_OK)
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
