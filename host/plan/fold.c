/* SPDX-License-Identifier: MIT */
/* fold.c - turns raw torchvision tensors into per-op parameters ready for packing, for the ops
 * of a plan the engine built (fold builds no plan and keeps nothing).
 *
 * A BN that precedes a consumer (norm1 before conv1, a transition's norm, norm5) becomes that
 * consumer's BN+ReLU prologue: y = max(x * scale + shift, 0) per input channel. A BN that directly
 * follows a convolution (norm0 after conv0, norm2 after conv1) is folded into that convolution:
 * W'[co] = W[co] * scale[co], b'[co] = shift[co]. Both use BN's inference form with eps 1e-5:
 * scale = gamma / sqrt(running_var + eps), shift = beta - running_mean * scale. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"

#define DC_BN_EPS 1e-5

static const float *dc_get(const dc_tensor_set *set, const char *module, const char *suffix,
                           size_t len, densecl_status *st)
{
    char key[128];
    const dc_tensor *t;
    size_t n = 1;
    snprintf(key, sizeof key, "%s.%s", module, suffix);
    t = dc_tensor_find(set, key);
    if (t && t->data)
        for (int d = 0; d < t->ndim; d++)
            n *= (size_t)t->shape[d];
    if (!t || !t->data || n != len) {
        if (*st == DENSECL_OK)
            *st = dc_error(DENSECL_ERR_MISMATCH,
                           "tensor '%s' is missing or has %zu values, "
                           "expected %zu",
                           key, t ? n : 0, len);
        return NULL;
    }
    return t->data;
}

/* scale and shift of a BN module with c channels, into fresh arrays. */
static densecl_status dc_bn(const dc_tensor_set *set, const char *module, int c, float **scale,
                            float **shift)
{
    densecl_status st = DENSECL_OK;
    const float *g = dc_get(set, module, "weight", (size_t)c, &st);
    const float *b = dc_get(set, module, "bias", (size_t)c, &st);
    const float *m = dc_get(set, module, "running_mean", (size_t)c, &st);
    const float *v = dc_get(set, module, "running_var", (size_t)c, &st);
    if (st != DENSECL_OK)
        return st;
    *scale = malloc((size_t)c * sizeof **scale);
    *shift = malloc((size_t)c * sizeof **shift);
    if (!*scale || !*shift)
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory folding %s", module);
    for (int i = 0; i < c; i++) {
        double s = (double)g[i] / sqrt((double)v[i] + DC_BN_EPS);
        (*scale)[i] = (float)s;
        (*shift)[i] = (float)((double)b[i] - (double)m[i] * s);
    }
    return DENSECL_OK;
}

static float *dc_copy(const float *src, size_t n)
{
    float *dst = malloc(n * sizeof *dst);
    if (dst)
        memcpy(dst, src, n * sizeof *dst);
    return dst;
}

static densecl_status dc_fold_op(const dc_tensor_set *set, const dc_op *op, dc_op_params *pp)
{
    densecl_status st = DENSECL_OK;
    const float *w;
    size_t wlen;
    if (op->pre_bn[0] &&
        (st = dc_bn(set, op->pre_bn, op->in_c, &pp->pre_scale, &pp->pre_shift)) != DENSECL_OK)
        return st;
    switch (op->kind) {
    case DC_OP_CONV:
        wlen = (size_t)op->out_c * (size_t)op->in_c * (size_t)(op->k * op->k);
        if (!(w = dc_get(set, op->name, "weight", wlen, &st)))
            return st;
        if (!(pp->weight = dc_copy(w, wlen)))
            return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory folding %s", op->name);
        if (op->post_bn[0]) {
            float *scale = NULL;
            size_t per = wlen / (size_t)op->out_c;
            st = dc_bn(set, op->post_bn, op->out_c, &scale, &pp->bias);
            for (int co = 0; st == DENSECL_OK && co < op->out_c; co++)
                for (size_t i = 0; i < per; i++)
                    pp->weight[(size_t)co * per + i] *= scale[co];
            free(scale);
        }
        return st;
    case DC_OP_LINEAR:
        wlen = (size_t)op->out_c * (size_t)op->in_c;
        if (!(w = dc_get(set, op->name, "weight", wlen, &st)))
            return st;
        pp->weight = dc_copy(w, wlen);
        if (!(w = dc_get(set, op->name, "bias", (size_t)op->out_c, &st)))
            return st;
        pp->bias = dc_copy(w, (size_t)op->out_c);
        if (!pp->weight || !pp->bias)
            return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory folding %s", op->name);
        return DENSECL_OK;
    default:
        return DENSECL_OK;
    }
}

densecl_status dc_fold(const dc_plan *plan, const dc_tensor_set *tensors, dc_op_params **out)
{
    densecl_status st = DENSECL_OK;
    dc_op_params *p;
    *out = NULL;
    p = calloc((size_t)(plan->n_ops ? plan->n_ops : 1), sizeof *p);
    if (!p)
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory folding the weights");
    for (int i = 0; st == DENSECL_OK && i < plan->n_ops; i++)
        st = dc_fold_op(tensors, &plan->ops[i], &p[i]);
    if (st != DENSECL_OK) {
        dc_params_free(p, plan->n_ops);
        return st;
    }
    *out = p;
    return DENSECL_OK;
}

void dc_params_free(dc_op_params *p, int n)
{
    if (!p)
        return;
    for (int i = 0; i < n; i++) {
        free(p[i].weight);
        free(p[i].bias);
        free(p[i].pre_scale);
        free(p[i].pre_shift);
    }
    free(p);
}
