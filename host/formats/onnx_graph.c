/* SPDX-License-Identifier: MIT */
/* onnx_graph.c - recognising the DenseNet in an ONNX graph (see onnx.c for the patterns).
 *
 * Every tensor is found by its place in the graph, walked back from the output: the classifier
 * Gemm, norm5, the blocks' Concats and their layers, the transitions and the stem, with aliases
 * (Identity, Dropout, one-input Concat, all-zero Pad) followed by ox_resolve within the file's
 * budget of hops. The tensors get torchvision's state_dict keys; onnx.c reads them (dc_ox_tensor,
 * dc_ox_add) and holds the entry points. */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx_impl.h"

/* An INT attribute, or def when absent; 0 when it is there with another type. */
static int ox_attr_int(const Onnx__NodeProto *n, const char *name, int64_t def, int64_t *v)
{
    const Onnx__AttributeProto *a = ox_attr(n, name);
    *v = def;
    if (!a)
        return 1;
    if (!a->has_i || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT))
        return 0;
    *v = a->i;
    return 1;
}

/* Whether an INTS attribute is absent (then def_ok says whether that is fine) or holds count
 * copies of want. */
static int ox_attr_ints_all(const Onnx__NodeProto *n, const char *name, size_t count, int64_t want,
                            int def_ok)
{
    const Onnx__AttributeProto *a = ox_attr(n, name);
    if (!a)
        return def_ok;
    if (a->n_ints != count)
        return 0;
    for (size_t i = 0; i < count; i++)
        if (a->ints[i] != want)
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ constants */

/* Reads input `idx` of n as a tensor and adds it as prefix.suffix. */
static densecl_status ox_take(ox *x, const Onnx__NodeProto *n, size_t idx, const char *prefix,
                              const char *suffix, int ndim, int64_t *shape)
{
    char key[128];
    float *data;
    snprintf(key, sizeof key, "%s.%s", prefix, suffix);
    if (idx >= n->n_input)
        return dc_ox_refuse(x, n, "it has no input %zu (%s)", idx, key);
    densecl_status st = dc_ox_tensor(x, n, ox_in(n, idx), key, ndim, shape, &data);
    if (st != DENSECL_OK)
        return st;
    return dc_ox_add(x, key, data, ndim, shape);
}

/* ------------------------------------------------------------------ the DenseNet walk */

/* The node that produces value (through aliases), which must be op; NULL with the error set. */
static const Onnx__NodeProto *ox_expect(ox *x, const Onnx__NodeProto *user, const char *value,
                                        const char *op, const char *role, densecl_status *st)
{
    const Onnx__NodeProto *n = ox_producer(x, dc_ox_resolve(x, value));
    if (ox_is(n, op) && n->n_input >= 1 && n->n_output >= 1)
        return n;
    if (n)
        *st = dc_ox_refuse(x, n, "a %s (%s) was expected here", op, role);
    else
        *st = dc_ox_refuse(x, user,
                           "its input '%s' should come from a %s (%s), but no node makes "
                           "it",
                           value, op, role);
    return NULL;
}

/* A BatchNormalization of C channels (C < 0: any, returned) in inference mode as prefix.*. */
static densecl_status ox_bn(ox *x, const Onnx__NodeProto *n, const char *prefix, int64_t *c)
{
    int64_t shape[1] = {*c}, train;
    float *v[4] = {NULL, NULL, NULL, NULL};
    static const char *const names[4] = {"weight", "bias", "running_mean", "running_var"};
    const Onnx__AttributeProto *eps = ox_attr(n, "epsilon");
    densecl_status st = DENSECL_OK;
    char key[128];
    if (n->n_input != 5)
        return dc_ox_refuse(x, n, "a BatchNormalization (%s) takes 5 inputs, not %zu", prefix,
                            n->n_input);
    /* Opsets before 14 mark training mode by the extra outputs (running statistics). */
    for (size_t i = 1; i < n->n_output; i++)
        if (ox_s(n->output[i])[0])
            return dc_ox_refuse(x, n, "a BatchNormalization in training mode (%s)", prefix);
    if (!ox_attr_int(n, "training_mode", 0, &train) || train != 0)
        return dc_ox_refuse(x, n, "a BatchNormalization in training mode (%s)", prefix);
    double e = eps && eps->has_f ? (double)eps->f : OX_BN_EPS;
    if (!(e >= 0.0 && e < 1.0))
        return dc_ox_refuse(x, n, "epsilon %g (%s)", e, prefix);
    for (int i = 0; i < 4 && st == DENSECL_OK; i++) {
        snprintf(key, sizeof key, "%s.%s", prefix, names[i]);
        st = dc_ox_tensor(x, n, ox_s(n->input[1 + i]), key, 1, shape, &v[i]);
    }
    /* fold.c divides by sqrt(var + 1e-5): another epsilon moves into the variance, exactly
     * (a variance that would become negative is refused later, naming the key). */
    if (st == DENSECL_OK && v[3] && fabs(e - OX_BN_EPS) > 1e-12)
        for (int64_t i = 0; i < shape[0]; i++)
            v[3][i] = (float)((double)v[3][i] + e - OX_BN_EPS);
    for (int i = 0; i < 4; i++) {
        if (st == DENSECL_OK) {
            snprintf(key, sizeof key, "%s.%s", prefix, names[i]);
            st = dc_ox_add(x, key, v[i], 1, shape);
        } else {
            free(v[i]);
        }
    }
    *c = shape[0];
    return st;
}

/* The identity BN that stands for one PyTorch folded into the preceding conv: beta = bias (taken;
 * NULL: zero). */
static densecl_status ox_bn_folded(ox *x, const char *prefix, float *bias, int64_t c)
{
    static const char *const names[4] = {"weight", "bias", "running_mean", "running_var"};
    const float fill[4] = {1.0f, 0.0f, 0.0f, (float)(1.0 - OX_BN_EPS)};
    char key[128];
    int64_t shape[1] = {c};
    if (x->dry) {
        free(bias);
        return DENSECL_OK;
    }
    for (int i = 0; i < 4; i++) {
        float *v;
        if (i == 1 && bias) {
            v = bias;
            bias = NULL;
        } else if ((v = malloc((size_t)(c ? c : 1) * sizeof *v)) != NULL) {
            for (int64_t k = 0; k < c; k++)
                v[k] = fill[i];
        } else {
            free(bias);
            return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", x->what);
        }
        snprintf(key, sizeof key, "%s.%s", prefix, names[i]);
        densecl_status st = dc_ox_add(x, key, v, 1, shape); /* frees v on failure */
        if (st != DENSECL_OK) {
            free(bias);
            return st;
        }
    }
    return DENSECL_OK;
}

/* A Conv of window k, stride s, padding p, without groups or dilation: its weight becomes
 * prefix.weight [cout, cin, k, k] (cin < 0 / cout < 0: any, returned). With bias_out the bias
 * (if any) is returned (malloc'd; NULL when there is none), else a bias is refused. */
static densecl_status ox_conv(ox *x, const Onnx__NodeProto *n, const char *prefix, int k, int s,
                              int p, int64_t *cin, int64_t *cout, float **bias_out)
{
    int64_t group;
    const Onnx__AttributeProto *ap = ox_attr(n, "auto_pad");
    if (bias_out)
        *bias_out = NULL;
    if (!ox_attr_int(n, "group", 1, &group) || group != 1)
        return dc_ox_refuse(x, n, "a grouped convolution (%s)", prefix);
    if (ap && ap->has_s && !(ap->s.len == 6 && memcmp(ap->s.data, "NOTSET", 6) == 0))
        return dc_ox_refuse(x, n, "auto_pad is not NOTSET (%s)", prefix);
    if (!ox_attr_ints_all(n, "dilations", 2, 1, 1) ||
        !ox_attr_ints_all(n, "strides", 2, s, s == 1) ||
        !ox_attr_ints_all(n, "pads", 4, p, p == 0) || !ox_attr_ints_all(n, "kernel_shape", 2, k, 1))
        return dc_ox_refuse(x, n, "%s should be a %dx%d convolution with stride %d and padding %d",
                            prefix, k, k, s, p);
    int64_t shape[4] = {*cout, *cin, k, k};
    densecl_status st = ox_take(x, n, 1, prefix, "weight", 4, shape);
    if (st != DENSECL_OK)
        return st;
    *cout = shape[0];
    *cin = shape[1];
    if (n->n_input >= 3 && ox_in(n, 2)[0]) {
        int64_t bshape[1] = {*cout};
        float *b;
        if (!bias_out)
            return dc_ox_refuse(x, n, "%s has a bias, which this DenseNet conv has not", prefix);
        st = dc_ox_tensor(x, n, ox_in(n, 2), prefix, 1, bshape, &b);
        if (st != DENSECL_OK)
            return st;
        if (!b && !x->dry)
            return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", x->what);
        *bias_out = b;
    }
    return DENSECL_OK;
}

/* value = post-BN(Conv(in)) where the BN (bn_prefix) is a node, or folded into the conv's bias,
 * or absent. Returns the conv and its input value. */
static densecl_status ox_conv_bn(ox *x, const Onnx__NodeProto *user, const char *value,
                                 const char *conv_prefix, const char *bn_prefix, int k, int s,
                                 int p, int64_t *cin, int64_t *cout, const char **in)
{
    densecl_status st = DENSECL_OK;
    const Onnx__NodeProto *n = ox_producer(x, dc_ox_resolve(x, value));
    const Onnx__NodeProto *bn = NULL;
    float *bias = NULL;
    if (ox_is(n, "BatchNormalization") && n->n_input >= 1) {
        bn = n;
        n = ox_expect(x, bn, ox_in(bn, 0), "Conv", conv_prefix, &st);
    } else if (!ox_is(n, "Conv")) {
        n = ox_expect(x, user, value, "Conv", conv_prefix, &st);
    }
    if (!n)
        return st;
    if (n->n_input < 2)
        return dc_ox_refuse(x, n, "a Conv needs a weight (%s)", conv_prefix);
    if ((st = ox_conv(x, n, conv_prefix, k, s, p, cin, cout, bn ? NULL : &bias)) != DENSECL_OK)
        return st;
    if (bn)
        st = ox_bn(x, bn, bn_prefix, cout);
    else
        st = ox_bn_folded(x, bn_prefix, bias, *cout); /* zero beta when there was no bias */
    *in = ox_in(n, 0);
    return st;
}

/* value = Relu(BN(in)): the BN+ReLU that dense layers, transitions and norm5 begin with. */
static densecl_status ox_bn_relu(ox *x, const Onnx__NodeProto *user, const char *value,
                                 const char *prefix, int64_t *c, const char **in)
{
    densecl_status st = DENSECL_OK;
    const Onnx__NodeProto *relu = ox_expect(x, user, value, "Relu", prefix, &st);
    const Onnx__NodeProto *bn =
        relu ? ox_expect(x, relu, ox_in(relu, 0), "BatchNormalization", prefix, &st) : NULL;
    if (!bn)
        return st;
    if ((st = ox_bn(x, bn, prefix, c)) != DENSECL_OK)
        return st;
    *in = ox_in(bn, 0);
    return DENSECL_OK;
}

#define OX_MAX_PARTS 4097 /* a block's input and up to 4096 layers */

/* The values whose channel concatenation value is, through nested Concats on axis 1 and
 * aliases: torchvision joins a block's features in one Concat per layer, a DenseNet written as
 * x = cat([x, f(x)]) in a chain of two-input ones. Appends to parts (at most OX_MAX_PARTS);
 * 0 when there are more or a Concat is not on axis 1. Recursion is bounded by OX_MAX_PARTS:
 * every Concat adds a part. */
static int ox_flatten(const ox *x, const char *value, const char **parts, int *n, int depth)
{
    const char *v = dc_ox_resolve(x, value);
    const Onnx__NodeProto *c = ox_producer(x, v);
    int64_t axis;
    if (depth > OX_MAX_PARTS)
        return 0;
    if (!ox_is(c, "Concat")) {
        if (*n >= OX_MAX_PARTS)
            return 0;
        parts[(*n)++] = v;
        return 1;
    }
    if (!ox_attr_int(c, "axis", 0, &axis) || axis != 1)
        return 0;
    for (size_t i = 0; i < c->n_input; i++)
        if (!ox_flatten(x, ox_in(c, i), parts, n, depth + 1))
            return 0;
    return 1;
}

/* Whether value is the channel concatenation of exactly parts[0..n). */
static int ox_is_concat_of(const ox *x, const char *value, const char *const *parts, int n,
                           const char **scratch)
{
    int got = 0;
    if (!ox_flatten(x, value, scratch, &got, 0) || got != n)
        return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(scratch[i], parts[i]) != 0)
            return 0;
    return 1;
}

/* One dense block, from the Concat that ends it (value) back to its input (*in). Dense layers are
 * numbered from 1 in x->block. */
static densecl_status ox_block(ox *x, const Onnx__NodeProto *user, const char *value,
                               const char **in, int *layers_out)
{
    densecl_status st = DENSECL_OK;
    char pre[96], conv1[128], conv2[128], norm1[128], norm2[128];
    const Onnx__NodeProto *cat = ox_expect(x, user, value, "Concat", "a dense block", &st);
    if (!cat)
        return st;
    const char **parts = malloc(2 * OX_MAX_PARTS * sizeof *parts), **scratch;
    int np = 0;
    if (!parts)
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", x->what);
    scratch = parts + OX_MAX_PARTS;
    if (!ox_flatten(x, value, parts, &np, 0) || np < 2) {
        free(parts);
        return dc_ox_refuse(x, cat,
                            "a dense block's Concat joins its input and 1 to %d layers on "
                            "axis 1",
                            OX_MAX_PARTS - 1);
    }
    int layers = np - 1;
    for (int l = layers; l >= 1 && st == DENSECL_OK; l--) {
        int64_t cin = -1, cmid = -1, k = -1, cb = -1;
        const char *v = NULL, *mid;
        snprintf(pre, sizeof pre, "features.denseblock%d.denselayer%d", x->block, l);
        /* The last conv: 3x3, k new channels. Which one it is depends on the bottleneck. */
        const Onnx__NodeProto *c3 = ox_expect(x, cat, parts[l], "Conv", pre, &st);
        const Onnx__NodeProto *relu = c3 ? ox_expect(x, c3, ox_in(c3, 0), "Relu", pre, &st) : NULL;
        if (!relu)
            break;
        const Onnx__NodeProto *below = ox_producer(x, dc_ox_resolve(x, ox_in(relu, 0)));
        /* Bottleneck: Relu(norm2(Conv1x1(Relu(...)))), norm2 a node or folded into the conv;
         * without: Relu(norm1(x)), where x may itself come from a conv (the CIFAR stem), but
         * never from one that reads a Relu. */
        const Onnx__NodeProto *under = ox_is(below, "BatchNormalization")
                                           ? ox_producer(x, dc_ox_resolve(x, ox_in(below, 0)))
                                           : NULL;
        int bottleneck = ox_is(below, "Conv") ||
                         (ox_is(under, "Conv") &&
                          ox_is(ox_producer(x, dc_ox_resolve(x, ox_in(under, 0))), "Relu"));
        snprintf(conv1, sizeof conv1, "%s.conv1", pre);
        snprintf(conv2, sizeof conv2, "%s.conv2", pre);
        snprintf(norm1, sizeof norm1, "%s.norm1", pre);
        snprintf(norm2, sizeof norm2, "%s.norm2", pre);
        if (c3->n_input < 2) {
            st = dc_ox_refuse(x, c3, "a Conv needs a weight (%s)", bottleneck ? conv2 : conv1);
        } else if (bottleneck) {
            if ((st = ox_conv(x, c3, conv2, 3, 1, 1, &cmid, &k, NULL)) == DENSECL_OK &&
                (st = ox_conv_bn(x, relu, ox_in(relu, 0), conv1, norm2, 1, 1, 0, &cin, &cmid,
                                 &mid)) == DENSECL_OK) {
                cb = cin;
                st = ox_bn_relu(x, c3, mid, norm1, &cb, &v);
            }
        } else if ((st = ox_conv(x, c3, conv1, 3, 1, 1, &cin, &k, NULL)) == DENSECL_OK) {
            cb = cin;
            st = ox_bn_relu(x, c3, ox_in(c3, 0), norm1, &cb, &v);
        }
        /* The layer reads exactly the block's input and the layers before it. */
        if (st == DENSECL_OK && !ox_is_concat_of(x, v, parts, l, scratch))
            st = dc_ox_refuse(x, ox_producer(x, dc_ox_resolve(x, v)),
                              "dense layer %s should read the concatenation of the block's input "
                              "and its %d earlier layers",
                              pre, l - 1);
    }
    *in = parts[0];
    *layers_out = layers;
    free(parts);
    return st;
}

/* The declared shape of the graph input the stem reads (dims as sizes, -1 when symbolic or not
 * given), for the size checks and the preprocessing a file without metadata gets. */
static void ox_record_input(ox *x, const Onnx__ValueInfoProto *vi)
{
    dc_input_decl *in = &x->out->input;
    const Onnx__TypeProto *t = vi->type;
    snprintf(in->name, sizeof in->name, "%s", ox_s(vi->name));
    in->ndim = 0;
    if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type ||
        !t->tensor_type->shape || t->tensor_type->shape->n_dim > DC_TENSOR_MAX_NDIM)
        return;
    const Onnx__TensorShapeProto *shape = t->tensor_type->shape;
    for (size_t d = 0; d < shape->n_dim; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = shape->dim[d];
        int known = dim &&
                    dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                    dim->dim_value >= 1 && dim->dim_value <= INT_MAX;
        in->dims[d] = known ? dim->dim_value : -1;
    }
    in->ndim = (int)shape->n_dim;
}

/* The whole walk, from the graph's output back to its input. Returns the number of blocks. */
densecl_status dc_ox_walk(ox *x, int *blocks)
{
    densecl_status st = DENSECL_OK;
    const Onnx__GraphProto *g = x->g;
    int64_t classes = -1, c = -1, transb, v;
    if (g->n_output != 1)
        return dc_ox_refuse(x, NULL, "the graph has %zu outputs; a DenseNet has one (the logits)",
                            g->n_output);
    const char *out = ox_s(g->output[0]->name);
    const Onnx__NodeProto *gemm = ox_expect(x, NULL, out, "Gemm", "classifier", &st);
    if (!gemm)
        return st;
    if (gemm->n_input != 3 || !ox_attr_int(gemm, "transA", 0, &v) || v != 0 ||
        !ox_attr_int(gemm, "transB", 0, &transb) || (transb != 0 && transb != 1))
        return dc_ox_refuse(x, gemm, "the classifier should be Gemm(x, W, b) with transA = 0");
    const Onnx__AttributeProto *alpha = ox_attr(gemm, "alpha"), *beta = ox_attr(gemm, "beta");
    if ((alpha && alpha->f != 1.0f) || (beta && beta->f != 1.0f))
        return dc_ox_refuse(x, gemm, "the classifier's alpha and beta should be 1");
    {
        int64_t shape[2] = {-1, -1}, bshape[1];
        float *w;
        st = dc_ox_tensor(x, gemm, ox_in(gemm, 1), "classifier.weight", 2, shape, &w);
        if (st != DENSECL_OK)
            return st;
        if (!transb && w) { /* [C, classes] -> PyTorch's [classes, C] */
            size_t cnt = (size_t)shape[0] * (size_t)shape[1]; /* dc_ox_tensor checked the product */
            float *t = malloc((cnt ? cnt : 1) * sizeof *t);
            if (!t) {
                free(w);
                return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", x->what);
            }
            for (int64_t i = 0; i < shape[0]; i++)
                for (int64_t j = 0; j < shape[1]; j++)
                    t[j * shape[0] + i] = w[i * shape[1] + j];
            free(w);
            w = t;
        }
        if (!transb) {
            int64_t tmp = shape[0];
            shape[0] = shape[1];
            shape[1] = tmp;
        }
        classes = shape[0];
        c = shape[1];
        if ((st = dc_ox_add(x, "classifier.weight", w, 2, shape)) != DENSECL_OK)
            return st;
        bshape[0] = classes;
        if ((st = ox_take(x, gemm, 2, "classifier", "bias", 1, bshape)) != DENSECL_OK)
            return st;
    }
    const Onnx__NodeProto *flat =
        ox_expect(x, gemm, ox_in(gemm, 0), "Flatten", "before the classifier", &st);
    if (!flat)
        return st;
    if (!ox_attr_int(flat, "axis", 1, &v) || v != 1)
        return dc_ox_refuse(x, flat, "the Flatten before the classifier should have axis 1");
    const Onnx__NodeProto *gap =
        ox_expect(x, flat, ox_in(flat, 0), "GlobalAveragePool", "after norm5", &st);
    const char *value;
    if (!gap || (st = ox_bn_relu(x, gap, ox_in(gap, 0), "features.norm5", &c, &value)))
        return st;

    /* Blocks from the last to the first; the dry pass counts them, the second numbers them. */
    const Onnx__NodeProto *user = gap;
    for (int count = 0;; count++) {
        const char *in = "", *input;
        int layers, b = x->dry ? 0 : *blocks - count;
        char prefix[64], conv[96], norm[96];
        int64_t cin = -1, cout = -1, ceil;
        if (count >= DENSECL_MAX_BLOCKS)
            return dc_ox_refuse(x, user, "more than %d dense blocks", DENSECL_MAX_BLOCKS);
        if (!x->dry && b < 1)
            return dc_error(DENSECL_ERR_FORMAT, "%s: ONNX graph changed between passes", x->what);
        x->block = b;
        if ((st = ox_block(x, user, value, &in, &layers)) != DENSECL_OK)
            return st;
        const Onnx__NodeProto *n = ox_producer(x, dc_ox_resolve(x, in));
        if (ox_is(n, "AveragePool") && n->n_input >= 1) { /* a transition */
            if (!ox_attr_ints_all(n, "kernel_shape", 2, 2, 0) ||
                !ox_attr_ints_all(n, "strides", 2, 2, 0) || !ox_attr_ints_all(n, "pads", 4, 0, 1) ||
                !ox_attr_int(n, "ceil_mode", 0, &ceil) || ceil != 0)
                return dc_ox_refuse(x, n, "a transition pools 2x2 with stride 2, no padding");
            snprintf(prefix, sizeof prefix, "features.transition%d", b - 1);
            snprintf(conv, sizeof conv, "%s.conv", prefix);
            snprintf(norm, sizeof norm, "%s.norm", prefix);
            const Onnx__NodeProto *tc = ox_expect(x, n, ox_in(n, 0), "Conv", conv, &st);
            if (!tc)
                return st;
            if (tc->n_input < 2)
                return dc_ox_refuse(x, tc, "a Conv needs a weight (%s)", conv);
            if ((st = ox_conv(x, tc, conv, 1, 1, 0, &cin, &cout, NULL)) != DENSECL_OK ||
                (st = ox_bn_relu(x, tc, ox_in(tc, 0), norm, &cin, &value)) != DENSECL_OK)
                return st;
            user = tc;
            continue;
        }
        if (ox_is(n, "MaxPool") && n->n_input >= 1) { /* ImageNet stem: conv0, norm0, pool0 */
            if (!ox_attr_ints_all(n, "kernel_shape", 2, 3, 0) ||
                !ox_attr_ints_all(n, "strides", 2, 2, 0) || !ox_attr_ints_all(n, "pads", 4, 1, 0) ||
                !ox_attr_int(n, "ceil_mode", 0, &ceil) || ceil != 0 ||
                !ox_attr_ints_all(n, "dilations", 2, 1, 1))
                return dc_ox_refuse(x, n, "the stem's max-pool should be 3x3, stride 2, padding 1");
            const Onnx__NodeProto *relu = ox_expect(x, n, ox_in(n, 0), "Relu", "relu0", &st);
            if (!relu)
                return st;
            if ((st = ox_conv_bn(x, relu, ox_in(relu, 0), "features.conv0", "features.norm0", 7, 2,
                                 3, &cin, &cout, &input)) != DENSECL_OK)
                return st;
        } else if (ox_is(n, "Conv") && n->n_input >= 2) { /* CIFAR stem: one 3x3 conv */
            if ((st = ox_conv(x, n, "features.conv0", 3, 1, 1, &cin, &cout, NULL)) != DENSECL_OK)
                return st;
            input = ox_in(n, 0);
        } else if (n) {
            return dc_ox_refuse(x, n,
                                "the first dense block's input should come from a transition "
                                "(AveragePool) or a stem (MaxPool, or a 3x3 Conv)");
        } else {
            return dc_ox_refuse(x, NULL, "the first dense block reads '%s', which no node makes",
                                in);
        }
        input = dc_ox_resolve(x, input);
        int is_input = 0;
        for (size_t i = 0; i < g->n_input; i++) {
            int hit = strcmp(ox_s(g->input[i]->name), input) == 0 &&
                      ox_find(x->init, x->n_init, input) < 0;
            if (hit && !x->dry)
                ox_record_input(x, g->input[i]);
            is_input |= hit;
        }
        if (!is_input)
            return dc_ox_refuse(x, ox_producer(x, input),
                                "the stem should read the graph's input, "
                                "not '%s'",
                                input);
        if (x->dry)
            *blocks = count + 1;
        else if (b != 1)
            return dc_error(DENSECL_ERR_FORMAT, "%s: ONNX graph changed between passes", x->what);
        return DENSECL_OK;
    }
}

/* ------------------------------------------------------------------ what else it may be */

/* Whether value is computed by the graph (not an initializer or a Constant, through aliases). */
static int ox_computed(const ox *x, const char *value)
{
    const char *v = dc_ox_resolve(x, value);
    const Onnx__NodeProto *n = ox_producer(x, v);
    return v[0] && ox_find(x->init, x->n_init, v) < 0 && !(n && ox_is(n, "Constant"));
}

const char *dc_ox_kind(const ox *x)
{
    const Onnx__GraphProto *g = x->g;
    int conv = 0, grouped = 0, residual = 0, concat = 0, rnn = 0, matmul = 0, softmax = 0;
    int layernorm = 0, dense = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        int64_t group = 1, axis = 0;
        if (ox_is(n, "Conv") || ox_is(n, "ConvTranspose")) {
            conv++;
            grouped += ox_attr_int(n, "group", 1, &group) && group > 1;
        } else if ((ox_is(n, "Add") || ox_is(n, "Sum")) && n->n_input >= 2) {
            /* a residual connection adds two computed values; a bias add has a constant */
            int computed = 0;
            for (size_t k = 0; k < n->n_input; k++)
                computed += ox_computed(x, ox_in(n, k));
            residual += computed >= 2;
        } else if (ox_is(n, "Concat")) {
            concat += n->n_input >= 2 && ox_attr_int(n, "axis", 0, &axis) && axis == 1;
        } else if (ox_is(n, "LSTM") || ox_is(n, "GRU") || ox_is(n, "RNN")) {
            rnn++;
        } else if (ox_is(n, "MatMul")) {
            matmul++;
        } else if (ox_is(n, "Softmax")) {
            softmax++;
        } else if (ox_is(n, "LayerNormalization")) {
            layernorm++;
        } else if (ox_is(n, "Gemm")) {
            dense++;
        }
    }
    if (rnn)
        return "a recurrent network (LSTM, GRU or RNN nodes)";
    if (layernorm || (softmax && matmul >= 2))
        return "a transformer (attention: MatMul and Softmax, layer normalisation)";
    if (residual && conv && grouped)
        return "a residual network with grouped or depthwise convolutions (as MobileNetV2, "
               "EfficientNet or ResNeXt: Adds of conv outputs)";
    if (residual && conv)
        return "a residual network (it adds conv outputs to their inputs, as ResNets do)";
    if (grouped)
        return "a network with grouped or depthwise convolutions (as MobileNet or ShuffleNet)";
    if (conv && !concat)
        return "a plain convolutional network (no dense connections, as VGG or AlexNet)";
    if (!conv && (matmul || dense))
        return "a fully connected network (no convolutions)";
    return NULL; /* convs joined by Concats: a DenseNet variant, or something like it */
}
