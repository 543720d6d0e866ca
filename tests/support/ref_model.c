/* SPDX-License-Identifier: MIT */
/* ref_model.c - a whole DenseNet on the naive reference ops (ref_ops.c), in the order
 * torchvision's modules run, from the weights' tensors by their torchvision names (either stem:
 * CIFAR's one 3x3 conv, or ImageNet's 7x7/2 conv, BN, ReLU and 3x3/2 max-pool). Shares
 * nothing with host/plan (no plan, no channel-offset planning of the engine) nor with fold: each
 * BN runs on its own as torch defines it, y = (x - mean) / sqrt(var + 1e-5) * gamma + beta, then
 * ReLU; a transition is BN-ReLU-conv-avgpool (the engine pools first); concatenation is a block
 * buffer whose channels the layers append to. Written for obviousness, not speed: about a second
 * per 32x32 DenseNet-BC-100 image. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "ref_model.h"
#include "ref_ops.h"

/* The data of tensor `module.suffix` when it holds `count` floats; NULL (with why) otherwise. */
static const float *tensor(const densecl_weights *w, const char *module, const char *suffix,
                           size_t count, char *why, size_t cap)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", module, suffix);
    const dc_tensor *t = dc_tensor_find(&w->tensors, key);
    size_t n = 1;
    for (int d = 0; t && d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    if (!t || !t->data || n != count) {
        if (!why[0])
            snprintf(why, cap, "tensor %s: %s (want %zu values, it has %zu)", key,
                     t ? "wrong size" : "missing", count, t ? n : 0);
        return NULL;
    }
    return t->data;
}

/* out [n, c, h, w] = ReLU(BN(in)), in the first c channels of [n, ctot, h, w]. */
static int bn_relu(const densecl_weights *w, const char *module, const float *in, int n, int ctot,
                   int c, int h, int wd, float *out, char *why, size_t cap)
{
    const float *g = tensor(w, module, "weight", (size_t)c, why, cap);
    const float *b = tensor(w, module, "bias", (size_t)c, why, cap);
    const float *m = tensor(w, module, "running_mean", (size_t)c, why, cap);
    const float *v = tensor(w, module, "running_var", (size_t)c, why, cap);
    const size_t plane = (size_t)h * wd;
    if (!g || !b || !m || !v)
        return 0;
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (size_t p = 0; p < plane; p++) {
                double x = in[((size_t)i * ctot + ch) * plane + p];
                double y = (x - m[ch]) / sqrt((double)v[ch] + 1e-5) * g[ch] + b[ch];
                out[((size_t)i * c + ch) * plane + p] = (float)(y > 0.0 || isnan(y) ? y : 0.0);
            }
    return 1;
}

/* A bias-free conv `module` of in [n, cin, h, w] into channels [coff, coff + cout) of out
 * [n, octot, oh, ow]. */
static int conv(const densecl_weights *w, const char *module, const float *in, int n, int cin,
                int h, int wd, int cout, int k, int stride, int pad, float *out, int octot,
                int coff, char *why, size_t cap)
{
    const float *wt = tensor(w, module, "weight", (size_t)cout * cin * k * k, why, cap);
    if (!wt)
        return 0;
    const int oh = (h + 2 * pad - k) / stride + 1, ow = (wd + 2 * pad - k) / stride + 1;
    ref_conv2d(&(ref_conv_args){in, wt, NULL, NULL, out, n, cin, cin, h, wd, cout, octot, coff, oh,
                                ow, k, stride, pad, 0});
    return 1;
}

/* The output channels of conv `module` (its weight's first dimension), 0 if absent. */
static int conv_out(const densecl_weights *w, const char *module)
{
    char key[256];
    snprintf(key, sizeof key, "%s.weight", module);
    const dc_tensor *t = dc_tensor_find(&w->tensors, key);
    return t && t->ndim == 4 ? (int)t->shape[0] : 0;
}

/* Frees *p and gives it count zeroed floats; 0 when out of memory. */
static int fresh(float **p, size_t count)
{
    free(*p);
    *p = calloc(count ? count : 1, sizeof **p);
    return *p != NULL;
}

int ref_densenet(const densecl_weights *w, const float *x, int n, int h, int wd, float *logits,
                 char *why, size_t cap)
{
    const densecl_config *cfg = densecl_weights_config(w);
    const int k = cfg->growth_rate, mid = cfg->bn_size * cfg->growth_rate;
    float *buf = NULL, *t1 = NULL, *t2 = NULL, *pooled = NULL;
    int ok = 0, c = cfg->init_features;
    char name[160], mod[200];
    why[0] = '\0';
    /* The stem into `pooled` [n, c, h, w]: CIFAR, conv0 3x3/1/1; ImageNet, conv0 7x7/2/3,
     * norm0 + ReLU, max-pool 3x3/2/1. */
    if (cfg->stem == DENSECL_STEM_CIFAR) {
        if (!fresh(&pooled, (size_t)n * c * h * wd)) {
            snprintf(why, cap, "ref_densenet: out of memory");
            goto done;
        }
        if (!conv(w, "features.conv0", x, n, cfg->in_channels, h, wd, c, 3, 1, 1, pooled, c, 0, why,
                  cap))
            goto done;
    } else {
        const int sh = (h + 6 - 7) / 2 + 1, sw = (wd + 6 - 7) / 2 + 1;
        const int ph = (sh + 2 - 3) / 2 + 1, pw = (sw + 2 - 3) / 2 + 1;
        if (!fresh(&t1, (size_t)n * c * sh * sw) || !fresh(&t2, (size_t)n * c * sh * sw) ||
            !fresh(&pooled, (size_t)n * c * ph * pw)) {
            snprintf(why, cap, "ref_densenet: out of memory");
            goto done;
        }
        if (!conv(w, "features.conv0", x, n, cfg->in_channels, h, wd, c, 7, 2, 3, t1, c, 0, why,
                  cap) ||
            !bn_relu(w, "features.norm0", t1, n, c, c, sh, sw, t2, why, cap))
            goto done;
        ref_maxpool(&(ref_pool_args){t2, NULL, pooled, n, c, c, sh, sw, c, 0, ph, pw, 3, 2, 1});
        h = ph, wd = pw;
    }
    for (int b = 0; b < cfg->num_blocks; b++) {
        /* The block buffer [n, ctot, h, w]: its input's c channels, then k per layer; the
         * scratch tensors hold any step's [n, <= max(ctot, mid), h, w]. */
        const int ctot = c + cfg->block_layers[b] * k;
        const size_t plane = (size_t)h * wd, wide = (size_t)(ctot > mid ? ctot : mid);
        if (!fresh(&buf, (size_t)n * ctot * plane) || !fresh(&t1, (size_t)n * wide * plane) ||
            !fresh(&t2, (size_t)n * wide * plane)) {
            snprintf(why, cap, "ref_densenet: out of memory");
            goto done;
        }
        for (int i = 0; i < n; i++) /* the stem's or the transition's output comes first */
            memcpy(buf + (size_t)i * ctot * plane, pooled + (size_t)i * c * plane,
                   (size_t)c * plane * sizeof *buf);
        for (int l = 0; l < cfg->block_layers[b]; l++) {
            snprintf(name, sizeof name, "features.denseblock%d.denselayer%d", b + 1, l + 1);
            snprintf(mod, sizeof mod, "%s.norm1", name);
            if (!bn_relu(w, mod, buf, n, ctot, c, h, wd, t1, why, cap))
                goto done;
            snprintf(mod, sizeof mod, "%s.conv1", name);
            if (cfg->bottleneck) {
                if (!conv(w, mod, t1, n, c, h, wd, mid, 1, 1, 0, t2, mid, 0, why, cap))
                    goto done;
                snprintf(mod, sizeof mod, "%s.norm2", name);
                if (!bn_relu(w, mod, t2, n, mid, mid, h, wd, t1, why, cap))
                    goto done;
                snprintf(mod, sizeof mod, "%s.conv2", name);
                if (!conv(w, mod, t1, n, mid, h, wd, k, 3, 1, 1, buf, ctot, c, why, cap))
                    goto done;
            } else if (!conv(w, mod, t1, n, c, h, wd, k, 3, 1, 1, buf, ctot, c, why, cap)) {
                goto done;
            }
            c += k;
        }
        if (b + 1 == cfg->num_blocks)
            break;
        /* Transition: BN-ReLU, 1x1 conv to its weights' width, 2x2/2 average pool (floor). */
        snprintf(name, sizeof name, "features.transition%d", b + 1);
        snprintf(mod, sizeof mod, "%s.norm", name);
        if (!bn_relu(w, mod, buf, n, ctot, c, h, wd, t1, why, cap))
            goto done;
        snprintf(mod, sizeof mod, "%s.conv", name);
        const int cout = conv_out(w, mod);
        if (cout <= 0 || (size_t)cout > wide) {
            snprintf(why, cap, "%s.weight: missing or wider than its input", mod);
            goto done;
        }
        if (!conv(w, mod, t1, n, c, h, wd, cout, 1, 1, 0, t2, cout, 0, why, cap))
            goto done;
        const int ph = h / 2, pw = wd / 2;
        if (!fresh(&pooled, (size_t)n * cout * ph * pw)) {
            snprintf(why, cap, "ref_densenet: out of memory");
            goto done;
        }
        ref_bnrelu_avgpool(
            &(ref_pool_args){t2, NULL, pooled, n, cout, cout, h, wd, cout, 0, ph, pw, 2, 2, 0});
        h = ph, wd = pw, c = cout;
    }
    /* norm5, ReLU, global average pool, classifier. */
    if (!bn_relu(w, "features.norm5", buf, n, c, c, h, wd, t1, why, cap))
        goto done;
    ref_bnrelu_gap(&(ref_pool_args){t1, NULL, t2, n, c, c, h, wd, c, 0, 1, 1, 0, 0, 0});
    const float *lw = tensor(w, "classifier", "weight", (size_t)cfg->num_classes * c, why, cap);
    const float *lb = tensor(w, "classifier", "bias", (size_t)cfg->num_classes, why, cap);
    if (!lw || !lb)
        goto done;
    ref_linear(&(ref_linear_args){t2, lw, lb, logits, n, c, cfg->num_classes});
    ok = 1;
done:
    free(buf);
    free(t1);
    free(t2);
    free(pooled);
    return ok;
}
