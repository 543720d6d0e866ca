/* SPDX-License-Identifier: MIT */
/* arch.c - the architecture of a tensor set: inferred from its shapes (and our "densecl.config"
 * metadata entry), completed from it for a given config, and checked against a config
 * (dc_config_tensors in config.c is the inverse: the tensors a config expects).
 *
 * Kept out of config.c so that configs stay free of files and tensor sets: config.c is what
 * a preset or a command line needs, this file what a weights file needs. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

/* ------------------------------------------------------------------ architecture inference */

/* Fields of densecl_config given by the "densecl.config" metadata entry. */
typedef struct cfg_given {
    int growth, blocks, init, bottleneck, bn_size, compression, stem, in_ch, classes;
} cfg_given;

static densecl_status cfg_meta_int(const dc_json *obj, const char *name, int *out, int *given)
{
    const dc_json *v = dc_json_get(obj, name);
    if (!v)
        return DENSECL_OK;
    if (!dc_json_is_integer(v) || v->number < 0 || v->number > INT_MAX)
        return dc_error(DENSECL_ERR_FORMAT,
                        "metadata 'densecl.config': '%s' must be a non-negative integer", name);
    *out = (int)v->number;
    *given = 1;
    return DENSECL_OK;
}

static densecl_status cfg_from_meta(const char *text, densecl_config *c, cfg_given *g)
{
    dc_json j;
    const dc_json *v;
    densecl_status st = dc_json_parse(text, strlen(text), "metadata 'densecl.config'", &j);
    if (st != DENSECL_OK)
        return st;
    if (j.type != DC_JSON_OBJECT) {
        st = dc_error(DENSECL_ERR_FORMAT, "metadata 'densecl.config' is not a JSON object");
        goto done;
    }
    if ((st = cfg_meta_int(&j, "growth_rate", &c->growth_rate, &g->growth)) ||
        (st = cfg_meta_int(&j, "init_features", &c->init_features, &g->init)) ||
        (st = cfg_meta_int(&j, "bn_size", &c->bn_size, &g->bn_size)) ||
        (st = cfg_meta_int(&j, "in_channels", &c->in_channels, &g->in_ch)) ||
        (st = cfg_meta_int(&j, "num_classes", &c->num_classes, &g->classes)))
        goto done;
    if ((v = dc_json_get(&j, "block_layers")) != NULL) {
        if (v->type != DC_JSON_ARRAY || v->count < 1 || v->count > DENSECL_MAX_BLOCKS) {
            st = dc_error(DENSECL_ERR_FORMAT,
                          "metadata 'densecl.config': 'block_layers' must be an array of 1 to "
                          "%d integers",
                          DENSECL_MAX_BLOCKS);
            goto done;
        }
        for (int b = 0; b < v->count; b++) {
            const dc_json *x = &v->items[b];
            if (!dc_json_is_integer(x) || x->number < 0 || x->number > INT_MAX) {
                st = dc_error(DENSECL_ERR_FORMAT,
                              "metadata 'densecl.config': 'block_layers' must hold "
                              "non-negative integers");
                goto done;
            }
            c->block_layers[b] = (int)x->number;
        }
        c->num_blocks = v->count;
        g->blocks = 1;
    }
    if ((v = dc_json_get(&j, "bottleneck")) != NULL) {
        if (v->type != DC_JSON_BOOL) {
            st = dc_error(DENSECL_ERR_FORMAT,
                          "metadata 'densecl.config': 'bottleneck' must be true or false");
            goto done;
        }
        c->bottleneck = v->boolean;
        g->bottleneck = 1;
    }
    if ((v = dc_json_get(&j, "compression")) != NULL) {
        /* Checked as the float it becomes: 1e-300 is above 0 as a double, 0.0f as a float. */
        float f = v->type == DC_JSON_NUMBER ? (float)v->number : 0.0f;
        if (v->type != DC_JSON_NUMBER || !(isnormal(f) && f > 0.0f && f <= 1.0f)) {
            st = dc_error(DENSECL_ERR_FORMAT,
                          "metadata 'densecl.config': 'compression' must be a number in (0, 1], "
                          "got %.9g",
                          v->type == DC_JSON_NUMBER ? v->number : 0.0);
            goto done;
        }
        c->compression = f;
        g->compression = 1;
    }
    if ((v = dc_json_get(&j, "stem")) != NULL) {
        if (v->type == DC_JSON_STRING && strcmp(v->string, "imagenet") == 0) {
            c->stem = DENSECL_STEM_IMAGENET;
        } else if (v->type == DC_JSON_STRING && strcmp(v->string, "cifar") == 0) {
            c->stem = DENSECL_STEM_CIFAR;
        } else {
            st = dc_error(DENSECL_ERR_FORMAT,
                          "metadata 'densecl.config': 'stem' must be \"imagenet\" or \"cifar\"");
            goto done;
        }
        g->stem = 1;
    }
done:
    dc_json_free(&j);
    return st;
}

/* A tensor inference needs: present, with ndim dimensions that each fit an int. */
static const dc_tensor *cfg_need(const dc_tensor_set *set, const char *key, int ndim,
                                 densecl_status *st)
{
    const dc_tensor *t = dc_tensor_find(set, key);
    char shp[256];
    if (!t) {
        *st = dc_error(DENSECL_ERR_MISMATCH,
                       "missing tensor '%s', needed to infer the architecture", key);
        return NULL;
    }
    int ok = t->ndim == ndim;
    for (int i = 0; i < t->ndim && ok; i++)
        ok = t->shape[i] <= INT_MAX;
    if (!ok) {
        *st = dc_error(DENSECL_ERR_MISMATCH, "tensor '%s' has shape %s; expected %d dimensions",
                       key, dc_shape_str(t->shape, t->ndim, 0, shp, sizeof shp), ndim);
        return NULL;
    }
    return t;
}

/* Parses a decimal of at most 6 digits at *p; 0 if none (keeps hostile keys from
 * overflowing). */
static int cfg_index(const char **p)
{
    int v = 0, n = 0;
    while (**p >= '0' && **p <= '9' && n < 6) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return (n > 0 && !(**p >= '0' && **p <= '9')) ? v : 0;
}

/* Dense blocks and layers from "features.denseblockB.denselayerL.*" keys. */
static densecl_status cfg_count_layers(const dc_tensor_set *set, densecl_config *c)
{
    static const char pb[] = "features.denseblock", pl[] = ".denselayer";
    int layers[DENSECL_MAX_BLOCKS] = {0}, nb = 0;
    for (int i = 0; i < set->count; i++) {
        const char *p = set->t[i].key;
        if (strncmp(p, pb, sizeof pb - 1) != 0)
            continue;
        p += sizeof pb - 1;
        int b = cfg_index(&p);
        if (b < 1 || strncmp(p, pl, sizeof pl - 1) != 0)
            continue;
        p += sizeof pl - 1;
        int l = cfg_index(&p);
        if (l < 1 || *p != '.')
            continue;
        if (b > DENSECL_MAX_BLOCKS)
            return dc_error(DENSECL_ERR_MISMATCH,
                            "tensor '%s' is in dense block %d; densecl supports at most %d",
                            set->t[i].key, b, DENSECL_MAX_BLOCKS);
        if (b > nb)
            nb = b;
        if (l > layers[b - 1])
            layers[b - 1] = l;
    }
    if (nb == 0)
        return dc_error(DENSECL_ERR_MISMATCH,
                        "missing tensors 'features.denseblock1.denselayer1.*', needed to infer "
                        "the architecture");
    c->num_blocks = nb;
    memcpy(c->block_layers, layers, sizeof layers);
    return DENSECL_OK;
}

/* floor(C * theta) exactly as config.c computes a transition's width. theta may be a file's
 * out/in ratio, far above 1: a product past INT_MAX (no real width) saturates instead of
 * overflowing the conversion (undefined behaviour; found while fuzzing, see
 * tests/fuzz/regressions/safetensors/). */
static int cfg_compress(int c, float theta)
{
    double v = floor((double)c * (double)theta + 1e-4);
    return v < (double)INT_MAX ? (int)v : INT_MAX;
}

/* theta from the transitions' [out, in, 1, 1] shapes: a round value when one explains every
 * transition, else out/in of the first (and dc_config_match then reports what does not fit). */
static densecl_status cfg_compression(const dc_tensor_set *set, const densecl_config *c,
                                      float *theta)
{
    densecl_status st = DENSECL_OK;
    int in[DENSECL_MAX_BLOCKS], out[DENSECL_MAX_BLOCKS], n = 0;
    char key[64];
    for (int b = 1; b < c->num_blocks; b++) {
        snprintf(key, sizeof key, "features.transition%d.conv.weight", b);
        const dc_tensor *t = b == 1 ? cfg_need(set, key, 4, &st) : dc_tensor_find(set, key);
        if (b == 1 && !t)
            return st;
        if (!t || t->ndim != 4 || t->shape[0] > INT_MAX || t->shape[1] > INT_MAX)
            continue;
        out[n] = (int)t->shape[0];
        in[n] = (int)t->shape[1];
        n++;
    }
    if (in[0] <= 0)
        return dc_error(DENSECL_ERR_MISMATCH,
                        "tensor 'features.transition1.conv.weight' has no input channels");
    float ratio = (float)out[0] / (float)in[0];
    float cand[] = {0.5f, 1.0f, 0.25f, 0.75f, ratio, nextafterf(ratio, 2.0f)};
    *theta = ratio;
    for (size_t k = 0; k < DC_ARRAY_LEN(cand); k++) {
        int fits = 1;
        for (int i = 0; i < n && fits; i++)
            fits = cfg_compress(in[i], cand[k]) == out[i];
        if (fits) {
            *theta = cand[k];
            break;
        }
    }
    return DENSECL_OK;
}

densecl_status dc_config_infer(const dc_tensor_set *set, densecl_config *out)
{
    densecl_status st = DENSECL_OK;
    densecl_config c;
    cfg_given g;
    const dc_tensor *t;
    const char *meta;
    if (!set || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_config_infer: NULL argument");
    memset(&c, 0, sizeof c);
    memset(&g, 0, sizeof g);
    c.bn_size = 4;
    meta = dc_tensor_meta(set, "densecl.config");
    if (meta && (st = cfg_from_meta(meta, &c, &g)) != DENSECL_OK)
        return st;

    if (!g.stem || !g.init || !g.in_ch) {
        if (!(t = cfg_need(set, "features.conv0.weight", 4, &st)))
            return st;
        if (!g.init)
            c.init_features = (int)t->shape[0];
        if (!g.in_ch)
            c.in_channels = (int)t->shape[1];
        if (!g.stem) {
            char shp[256];
            if (t->shape[2] == 7 && t->shape[3] == 7)
                c.stem = DENSECL_STEM_IMAGENET;
            else if (t->shape[2] == 3 && t->shape[3] == 3)
                c.stem = DENSECL_STEM_CIFAR;
            else
                return dc_error(DENSECL_ERR_MISMATCH,
                                "tensor 'features.conv0.weight' has shape %s; expected a 7x7 "
                                "(ImageNet) or 3x3 (CIFAR) stem convolution",
                                dc_shape_str(t->shape, t->ndim, 0, shp, sizeof shp));
            if (c.stem == DENSECL_STEM_IMAGENET && !dc_tensor_find(set, "features.norm0.weight"))
                return dc_error(DENSECL_ERR_MISMATCH,
                                "missing tensor 'features.norm0.weight' (a 7x7 stem convolution "
                                "is followed by norm0)");
        }
    }
    if (!g.blocks && (st = cfg_count_layers(set, &c)) != DENSECL_OK)
        return st;
    if (!g.growth || !g.bottleneck || !g.bn_size) {
        const dc_tensor *c1, *c2;
        if (!(c1 = cfg_need(set, "features.denseblock1.denselayer1.conv1.weight", 4, &st)))
            return st;
        int bott = g.bottleneck ? c.bottleneck
                                : dc_tensor_find(set, "features.denseblock1.denselayer1.conv2"
                                                      ".weight") != NULL;
        if (bott) {
            c2 = cfg_need(set, "features.denseblock1.denselayer1.conv2.weight", 4, &st);
            if (!c2)
                return st;
            int k = g.growth ? c.growth_rate : (int)c2->shape[0];
            if (!g.bn_size) {
                if (k <= 0 || c1->shape[0] % k != 0)
                    return dc_error(DENSECL_ERR_MISMATCH,
                                    "tensor 'features.denseblock1.denselayer1.conv1.weight' has "
                                    "%lld outputs, not a multiple of the growth rate %d",
                                    (long long)c1->shape[0], k);
                c.bn_size = (int)(c1->shape[0] / k);
            }
            c.growth_rate = k;
        } else if (!g.growth) {
            c.growth_rate = (int)c1->shape[0];
        }
        c.bottleneck = bott;
    }
    if (!g.compression) {
        c.compression = 0.5f; /* irrelevant with one block; torchvision's default */
        if (c.num_blocks > 1 && (st = cfg_compression(set, &c, &c.compression)) != DENSECL_OK)
            return st;
    }
    if (!g.classes) {
        if (!(t = cfg_need(set, "classifier.weight", 2, &st)))
            return st;
        c.num_classes = (int)t->shape[0];
    }
    if (densecl_config_check(&c) != DENSECL_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", densecl_last_error());
        return dc_error(DENSECL_ERR_MISMATCH, "the tensors describe an invalid DenseNet: %s", why);
    }
    *out = c;
    return DENSECL_OK;
}

/* ------------------------------------------------------------------ checking */

typedef struct match_log {
    const char *path;
    int problems;
    char first[1024];
} match_log;

static void match_problem(match_log *m, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void match_problem(match_log *m, const char *fmt, ...)
{
    if (m->problems++ == 0) {
        va_list ap;
        int n = snprintf(m->first, sizeof m->first, "%s: ", m->path);
        if (n < 0 || (size_t)n >= sizeof m->first)
            return;
        va_start(ap, fmt);
        vsnprintf(m->first + n, sizeof m->first - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

static int match_spec_cmp(const void *a, const void *b)
{
    return strcmp(((const dc_tensor_spec *)a)->key, ((const dc_tensor_spec *)b)->key);
}

densecl_status dc_config_match(const densecl_config *cfg, const dc_tensor_set *set,
                               const char *path)
{
    dc_tensor_spec *specs = NULL, *sorted = NULL;
    int n = 0;
    match_log m;
    char a[256], b[256];
    densecl_status st;
    if (!cfg || !set)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_config_match: NULL argument");
    m.path = path ? path : "weights";
    m.problems = 0;
    m.first[0] = '\0';
    if ((st = dc_config_tensors(cfg, &specs, &n)) != DENSECL_OK)
        return st;
    for (int i = 0; i < n; i++) {
        const dc_tensor_spec *s = &specs[i];
        const dc_tensor *t = dc_tensor_find(set, s->key);
        if (!t) {
            match_problem(&m, "missing tensor '%s' (expected shape %s)", s->key,
                          dc_shape_str(s->shape, s->ndim, 0, a, sizeof a));
            continue;
        }
        int same = t->ndim == s->ndim;
        for (int d = 0; d < s->ndim && same; d++)
            same = t->shape[d] == s->shape[d];
        if (!same)
            match_problem(&m, "tensor '%s' has shape %s, expected %s", s->key,
                          dc_shape_str(t->shape, t->ndim, 0, a, sizeof a),
                          dc_shape_str(s->shape, s->ndim, 0, b, sizeof b));
        if (!t->data)
            match_problem(&m, "tensor '%s' has dtype %s; densecl reads F32, F16 or BF16", s->key,
                          dc_dtype_name(t->dtype));
    }
    /* Unexpected keys, in file order; the sorted copy makes this O(n log n). */
    sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    if (!sorted) {
        free(specs);
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", m.path);
    }
    memcpy(sorted, specs, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, match_spec_cmp);
    for (int i = 0; i < set->count; i++) {
        dc_tensor_spec probe;
        const dc_tensor *t = &set->t[i];
        if (strlen(t->key) < sizeof probe.key) {
            memcpy(probe.key, t->key, strlen(t->key) + 1);
            if (bsearch(&probe, sorted, (size_t)n, sizeof *sorted, match_spec_cmp))
                continue;
        }
        match_problem(&m,
                      "unexpected tensor '%s' (shape %s); is this a DenseNet of a different "
                      "configuration?",
                      t->key, dc_shape_str(t->shape, t->ndim, 0, a, sizeof a));
    }
    free(sorted);
    free(specs);
    if (m.problems == 0)
        return DENSECL_OK;
    if (m.problems == 1)
        return dc_error(DENSECL_ERR_MISMATCH, "%s", m.first);
    return dc_error(DENSECL_ERR_MISMATCH, "%s (and %d more problem%s)", m.first, m.problems - 1,
                    m.problems == 2 ? "" : "s");
}

/* ------------------------------------------------------------------ resolving */

densecl_status dc_config_resolve(const dc_tensor_set *set, const densecl_config *expect,
                                 densecl_config *out)
{
    densecl_status st = DENSECL_OK;
    const dc_tensor *t;
    if (!set || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_config_resolve: NULL argument");
    if (!expect)
        return dc_config_infer(set, out);
    *out = *expect;
    if (out->num_classes == 0) {
        if (!(t = cfg_need(set, "classifier.weight", 2, &st)))
            return st;
        out->num_classes = (int)t->shape[0];
    }
    if (out->in_channels == 0) {
        if (!(t = cfg_need(set, "features.conv0.weight", 4, &st)))
            return st;
        out->in_channels = (int)t->shape[1];
    }
    return DENSECL_OK;
}
