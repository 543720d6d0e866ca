/* SPDX-License-Identifier: MIT */
/* config.c - presets, validation, parameter and MAC counts, the tensors a config expects. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

typedef struct dc_preset {
    const char *name;
    densecl_config cfg;
} dc_preset;

/* torchvision's ImageNet models, the paper's DenseNet-264, and the CIFAR models of the paper:
 * DenseNet-BC-L has 3 blocks of (L-4)/6 bottleneck layers and 2k initial features; DenseNet-40
 * has 3 blocks of 12 plain layers, 16 initial features and no compression. */
#define DC_IMAGENET(k, b1, b2, b3, b4, f0)                                                         \
    {                                                                                              \
        k, 4, {b1, b2, b3, b4}, f0, 1, 4, 0.5f, DENSECL_STEM_IMAGENET, 3, 1000                     \
    }
#define DC_CIFAR_BC(k, n)                                                                          \
    {                                                                                              \
        k, 3, {n, n, n}, 2 * (k), 1, 4, 0.5f, DENSECL_STEM_CIFAR, 3, 10                            \
    }

static const dc_preset dc_presets[] = {
    {"densenet121", DC_IMAGENET(32, 6, 12, 24, 16, 64)},
    {"densenet161", DC_IMAGENET(48, 6, 12, 36, 24, 96)},
    {"densenet169", DC_IMAGENET(32, 6, 12, 32, 32, 64)},
    {"densenet201", DC_IMAGENET(32, 6, 12, 48, 32, 64)},
    {"densenet264", DC_IMAGENET(32, 6, 12, 64, 48, 64)},
    {"densenet-bc-100-k12", DC_CIFAR_BC(12, 16)},
    {"densenet-bc-250-k24", DC_CIFAR_BC(24, 41)},
    {"densenet-bc-190-k40", DC_CIFAR_BC(40, 31)},
    {"densenet-40-k12", {12, 3, {12, 12, 12}, 16, 0, 4, 1.0f, DENSECL_STEM_CIFAR, 3, 10}},
};

int densecl_preset_count(void)
{
    return (int)DC_ARRAY_LEN(dc_presets);
}

const char *densecl_preset_name(int index)
{
    if (index < 0 || index >= densecl_preset_count())
        return NULL;
    return dc_presets[index].name;
}

densecl_status densecl_config_preset(const char *name, densecl_config *out)
{
    char known[512] = "";
    if (!name || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_config_preset: NULL argument");
    for (int i = 0; i < densecl_preset_count(); i++) {
        if (strcmp(dc_presets[i].name, name) == 0) {
            *out = dc_presets[i].cfg;
            return DENSECL_OK;
        }
        size_t len = strlen(known);
        snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "", dc_presets[i].name);
    }
    return dc_error(DENSECL_ERR_ARGUMENT, "unknown model '%s' (known: %s)", name, known);
}

/* floor(C * theta) as torchvision and the paper's Lua code compute it; the epsilon keeps
 * theta = 0.7f (0.69999999) from turning 100 channels into 69. */
static int dc_compress(int c, float theta)
{
    return (int)floor((double)c * (double)theta + 1e-4);
}

int dc_block_in_channels(const densecl_config *cfg, int b)
{
    int c = cfg->init_features;
    for (int i = 0; i < b; i++)
        c = dc_compress(c + cfg->block_layers[i] * cfg->growth_rate, cfg->compression);
    return c;
}

int dc_block_out_channels(const densecl_config *cfg, int b)
{
    return dc_block_in_channels(cfg, b) + cfg->block_layers[b] * cfg->growth_rate;
}

/* Largest channel count we accept anywhere; keeps every size product far from overflow. */
#define DC_MAX_CHANNELS (1 << 20)

densecl_status densecl_config_check(const densecl_config *cfg)
{
    if (!cfg)
        return dc_error(DENSECL_ERR_ARGUMENT, "config is NULL");
    if (cfg->num_blocks < 1 || cfg->num_blocks > DENSECL_MAX_BLOCKS)
        return dc_error(DENSECL_ERR_ARGUMENT, "config: %d blocks (must be 1..%d)", cfg->num_blocks,
                        DENSECL_MAX_BLOCKS);
    if (cfg->growth_rate < 1 || cfg->growth_rate > 4096)
        return dc_error(DENSECL_ERR_ARGUMENT, "config: growth rate %d (must be 1..4096)",
                        cfg->growth_rate);
    if (cfg->init_features < 1 || cfg->init_features > 65536)
        return dc_error(DENSECL_ERR_ARGUMENT, "config: %d initial features (must be 1..65536)",
                        cfg->init_features);
    if (cfg->bottleneck && (cfg->bn_size < 1 || cfg->bn_size > 64))
        return dc_error(DENSECL_ERR_ARGUMENT, "config: bottleneck size %d (must be 1..64)",
                        cfg->bn_size);
    if (!(cfg->compression > 0.0f && cfg->compression <= 1.0f))
        return dc_error(DENSECL_ERR_ARGUMENT, "config: compression %g (must be in (0, 1])",
                        (double)cfg->compression);
    if (cfg->stem != DENSECL_STEM_IMAGENET && cfg->stem != DENSECL_STEM_CIFAR)
        return dc_error(DENSECL_ERR_ARGUMENT, "config: unknown stem %d", (int)cfg->stem);
    if (cfg->in_channels < 1 || cfg->in_channels > 64)
        return dc_error(DENSECL_ERR_ARGUMENT, "config: %d input channels (must be 1..64)",
                        cfg->in_channels);
    if (cfg->num_classes < 1 || cfg->num_classes > 1000000)
        return dc_error(DENSECL_ERR_ARGUMENT, "config: %d classes (must be 1..1000000)",
                        cfg->num_classes);
    for (int b = 0; b < DENSECL_MAX_BLOCKS; b++) {
        int n = cfg->block_layers[b];
        if (b < cfg->num_blocks && (n < 1 || n > 1024))
            return dc_error(DENSECL_ERR_ARGUMENT,
                            "config: block %d has %d layers (must be 1..1024)", b + 1, n);
        if (b >= cfg->num_blocks && n != 0)
            return dc_error(DENSECL_ERR_ARGUMENT,
                            "config: block_layers[%d] = %d past num_blocks = %d", b, n,
                            cfg->num_blocks);
    }
    for (int b = 0; b < cfg->num_blocks; b++) {
        int in = dc_block_in_channels(cfg, b);
        if (in < 1)
            return dc_error(DENSECL_ERR_ARGUMENT,
                            "config: compression %g leaves no channels entering block %d",
                            (double)cfg->compression, b + 1);
        if ((int64_t)in + (int64_t)cfg->block_layers[b] * cfg->growth_rate > DC_MAX_CHANNELS)
            return dc_error(DENSECL_ERR_ARGUMENT, "config: block %d grows past %d channels", b + 1,
                            DC_MAX_CHANNELS);
    }
    return DENSECL_OK;
}

/* ------------------------------------------------------------------ expected tensors */

typedef struct dc_spec_list {
    dc_tensor_spec *v;
    int n, cap;
} dc_spec_list;

/* Appends module.suffix; 0 on allocation failure or a name too long for the key field. */
static int dc_spec_add(dc_spec_list *l, const char *module, const char *suffix, dc_tensor_role role,
                       int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        dc_tensor_spec *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v)
            return 0;
        l->v = v;
        l->cap = cap;
    }
    dc_tensor_spec *s = &l->v[l->n++];
    memset(s, 0, sizeof *s);
    int len = snprintf(s->key, sizeof s->key, "%s.%s", module, suffix);
    if (len < 0 || (size_t)len >= sizeof s->key)
        return 0;
    s->role = role;
    s->ndim = ndim;
    s->shape[0] = d0;
    s->shape[1] = d1;
    s->shape[2] = d2;
    s->shape[3] = d3;
    return 1;
}

static int dc_spec_bn(dc_spec_list *l, const char *module, int c)
{
    static const struct {
        const char *suffix;
        dc_tensor_role role;
    } parts[] = {{"weight", DC_ROLE_WEIGHT},
                 {"bias", DC_ROLE_BIAS},
                 {"running_mean", DC_ROLE_RUNNING_MEAN},
                 {"running_var", DC_ROLE_RUNNING_VAR}};
    for (size_t i = 0; i < DC_ARRAY_LEN(parts); i++)
        if (!dc_spec_add(l, module, parts[i].suffix, parts[i].role, 1, c, 0, 0, 0))
            return 0;
    return 1;
}

static int dc_spec_conv(dc_spec_list *l, const char *module, int cout, int cin, int k)
{
    return dc_spec_add(l, module, "weight", DC_ROLE_WEIGHT, 4, cout, cin, k, k);
}

densecl_status dc_config_tensors(const densecl_config *cfg, dc_tensor_spec **specs, int *count)
{
    densecl_status st = densecl_config_check(cfg);
    dc_spec_list l = {0};
    char m[96];
    int ok = 1, k = cfg ? cfg->growth_rate : 0;
    if (st != DENSECL_OK)
        return st;
    ok &= dc_spec_conv(&l, "features.conv0", cfg->init_features, cfg->in_channels,
                       cfg->stem == DENSECL_STEM_IMAGENET ? 7 : 3);
    if (cfg->stem == DENSECL_STEM_IMAGENET)
        ok &= dc_spec_bn(&l, "features.norm0", cfg->init_features);
    for (int b = 0; b < cfg->num_blocks && ok; b++) {
        int c = dc_block_in_channels(cfg, b);
        for (int i = 0; i < cfg->block_layers[b] && ok; i++, c += k) {
            char layer[64];
            snprintf(layer, sizeof layer, "features.denseblock%d.denselayer%d", b + 1, i + 1);
            snprintf(m, sizeof m, "%s.norm1", layer);
            ok &= dc_spec_bn(&l, m, c);
            snprintf(m, sizeof m, "%s.conv1", layer);
            if (cfg->bottleneck) {
                int w = cfg->bn_size * k;
                ok &= dc_spec_conv(&l, m, w, c, 1);
                snprintf(m, sizeof m, "%s.norm2", layer);
                ok &= dc_spec_bn(&l, m, w);
                snprintf(m, sizeof m, "%s.conv2", layer);
                ok &= dc_spec_conv(&l, m, k, w, 3);
            } else {
                ok &= dc_spec_conv(&l, m, k, c, 3);
            }
        }
        if (b + 1 < cfg->num_blocks) {
            snprintf(m, sizeof m, "features.transition%d.norm", b + 1);
            ok &= dc_spec_bn(&l, m, c);
            snprintf(m, sizeof m, "features.transition%d.conv", b + 1);
            ok &= dc_spec_conv(&l, m, dc_compress(c, cfg->compression), c, 1);
        }
    }
    int cf = dc_block_out_channels(cfg, cfg->num_blocks - 1);
    ok &= dc_spec_bn(&l, "features.norm5", cf);
    ok &= dc_spec_add(&l, "classifier", "weight", DC_ROLE_WEIGHT, 2, cfg->num_classes, cf, 0, 0);
    ok &= dc_spec_add(&l, "classifier", "bias", DC_ROLE_BIAS, 1, cfg->num_classes, 0, 0, 0);
    if (!ok) {
        free(l.v);
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory listing the model's tensors");
        /* (or a module name past the key field, which no config that passed the check produces) */
    }
    *specs = l.v;
    *count = l.n;
    return DENSECL_OK;
}

uint64_t densecl_config_params(const densecl_config *cfg)
{
    dc_tensor_spec *s;
    int n;
    uint64_t total = 0;
    if (dc_config_tensors(cfg, &s, &n) != DENSECL_OK)
        return 0;
    for (int i = 0; i < n; i++) {
        if (s[i].role != DC_ROLE_WEIGHT && s[i].role != DC_ROLE_BIAS)
            continue;
        uint64_t e = 1;
        for (int d = 0; d < s[i].ndim; d++)
            e *= (uint64_t)s[i].shape[d];
        total += e;
    }
    free(s);
    return total;
}

/* Output side of a k x k / stride s / pad p window over n, floor mode; < 1 means too small. */
static int dc_out_size(int n, int k, int s, int p)
{
    if (n + 2 * p < k)
        return 0;
    return (n + 2 * p - k) / s + 1;
}

uint64_t densecl_config_macs(const densecl_config *cfg, int height, int width)
{
    uint64_t macs = 0;
    int h = height, w = width, k;
    if (densecl_config_check(cfg) != DENSECL_OK || height < 1 || width < 1)
        return 0;
    k = cfg->growth_rate;
    if (cfg->stem == DENSECL_STEM_IMAGENET) {
        h = dc_out_size(h, 7, 2, 3);
        w = dc_out_size(w, 7, 2, 3);
        macs += (uint64_t)cfg->init_features * cfg->in_channels * 49 * h * w;
        h = dc_out_size(h, 3, 2, 1);
        w = dc_out_size(w, 3, 2, 1);
    } else {
        macs += (uint64_t)cfg->init_features * cfg->in_channels * 9 * h * w;
    }
    for (int b = 0; b < cfg->num_blocks; b++) {
        if (h < 1 || w < 1)
            return 0;
        uint64_t hw = (uint64_t)h * w;
        int c = dc_block_in_channels(cfg, b);
        for (int i = 0; i < cfg->block_layers[b]; i++, c += k) {
            if (cfg->bottleneck) {
                uint64_t bw = (uint64_t)cfg->bn_size * k;
                macs += (uint64_t)c * bw * hw + bw * k * 9 * hw;
            } else {
                macs += (uint64_t)c * k * 9 * hw;
            }
        }
        if (b + 1 < cfg->num_blocks) {
            macs += (uint64_t)c * dc_compress(c, cfg->compression) * hw;
            h /= 2;
            w /= 2;
        }
    }
    if (h < 1 || w < 1)
        return 0;
    macs += (uint64_t)dc_block_out_channels(cfg, cfg->num_blocks - 1) * cfg->num_classes;
    return macs;
}

int densecl_config_min_size(const densecl_config *cfg)
{
    if (densecl_config_check(cfg) != DENSECL_OK)
        return 0;
    /* Each transition halves (floor); the stem may halve twice more. A few hundred steps at most.
     */
    for (int s = 1; s < 1 << 20; s++)
        if (densecl_config_macs(cfg, s, s) != 0)
            return s;
    return 0;
}
