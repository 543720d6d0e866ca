/* SPDX-License-Identifier: MIT */
/* onnx_check.c - the structural rules of the ONNX checker (onnx/checker.cc) that the reader can
 * meet cheaply, applied to the whole decoded model before the DenseNet walk, so that a file the
 * checker refuses is refused here too rather than read with a silent choice (raw_data beside
 * float_data: which one?; an attribute given twice: which one?). Each refusal is one line naming
 * the tensor or the node.
 *
 *   model:      ir_version set; opset_import present (ir_version >= 3); a graph with a name
 *   tensors:    (initializers, and the tensors of node attributes) a data type; exactly one
 *               value field, of the type's field (raw_data for any but strings), none when the
 *               tensor has no element or keeps its data externally (which then names a
 *               location)
 *   nodes:      an op_type; an input or an output; attributes with a name, a type, at most one
 *               value, of that type, each name once
 *   graph:      named inputs and outputs; every node input defined before the node (a graph
 *               input, an initializer or an earlier node's output: topologically sorted); no
 *               value assigned twice (static single assignment) */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdio.h>

#include "formats/onnx_impl.h"

static densecl_status ox_invalid(const ox *x, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static densecl_status ox_invalid(const ox *x, const char *fmt, ...)
{
    char why[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return dc_error(DENSECL_ERR_FORMAT, "%s: invalid ONNX (the ONNX checker refuses it too): %s",
                    x->what, why);
}

/* "node 'Conv_12' (Conv)", or by its position when unnamed. */
static const char *ox_node_label(const Onnx__NodeProto *n, size_t i, char *buf, size_t cap)
{
    if (ox_s(n->name)[0])
        snprintf(buf, cap, "node '%.200s' (%.64s)", n->name, ox_s(n->op_type));
    else
        snprintf(buf, cap, "node %zu (%.64s)", i, ox_s(n->op_type));
    return buf;
}

static densecl_status ox_check_tensor(const ox *x, const Onnx__TensorProto *t, const char *where)
{
    const char *name = ox_s(t->name);
    char label[512];
    snprintf(label, sizeof label, "%s'%.200s'", where, name);
    if (!t->has_data_type || t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED)
        return ox_invalid(x, "tensor %s has no data type", label);
    static const char *const names[] = {"float_data", "int32_data",  "string_data", "int64_data",
                                        "raw_data",   "double_data", "uint64_data"};
    const int has[] = {t->n_float_data > 0,
                       t->n_int32_data > 0,
                       t->n_string_data > 0,
                       t->n_int64_data > 0,
                       t->has_raw_data && t->raw_data.len > 0,
                       t->n_double_data > 0,
                       t->n_uint64_data > 0};
    int fields = 0, first = -1, second = -1;
    for (int i = 0; i < 7; i++)
        if (has[i]) {
            second = fields == 1 ? i : second;
            first = fields == 0 ? i : first;
            fields++;
        }
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        if (fields)
            return ox_invalid(x, "tensor %s keeps its data externally and also in %s", label,
                              names[first]);
        for (size_t i = 0; i < t->n_external_data; i++)
            if (strcmp(ox_s(t->external_data[i]->key), "location") == 0)
                return DENSECL_OK;
        return ox_invalid(x, "tensor %s keeps its data externally but names no location", label);
    }
    int empty = 0;
    for (size_t d = 0; d < t->n_dims; d++)
        empty |= t->dims[d] == 0;
    if (empty && fields)
        return ox_invalid(x, "tensor %s has no element but holds %s", label, names[first]);
    if (!empty && fields > 1)
        return ox_invalid(x,
                          "tensor %s holds its values twice, in %s and %s; a tensor has one "
                          "value field",
                          label, names[first], names[second]);
    if (!empty && fields == 0)
        return ox_invalid(x, "tensor %s holds no values", label);
    if (empty)
        return DENSECL_OK;
    int type = t->data_type;
    if (has[4])
        return type == ONNX__TENSOR_PROTO__DATA_TYPE__STRING
                   ? ox_invalid(x, "tensor %s: strings cannot be in raw_data", label)
                   : DENSECL_OK;
    int want;
    switch (type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
    case ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX64:
        want = 0;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
    case ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX128:
        want = 5;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        want = 3;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
        want = 6;
        break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__STRING:
        want = 2;
        break;
    default: /* the small integers, bool, float16 and bfloat16: int32_data */
        want = 1;
        break;
    }
    if (!has[want])
        return ox_invalid(x, "tensor %s of data type %d keeps its values in %s, not %s", label,
                          type, names[first], names[want]);
    return DENSECL_OK;
}

/* An attribute's value fields: how many are set, and whether they fit its type. */
static densecl_status ox_check_attribute(const ox *x, const Onnx__AttributeProto *a,
                                         const char *node)
{
    const char *name = ox_s(a->name);
    if (!name[0])
        return ox_invalid(x, "%s has an attribute without a name", node);
    if (!a->has_type || a->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return ox_invalid(x, "%s: attribute '%.200s' has no type", node, name);
    const struct {
        int set, type;
    } v[] = {
        {a->has_f, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT},
        {a->has_i, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT},
        {a->has_s, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING},
        {a->t != NULL, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR},
        {a->g != NULL, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH},
        {a->sparse_tensor != NULL, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR},
        {a->tp != NULL, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO},
        {a->n_floats > 0, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS},
        {a->n_ints > 0, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS},
        {a->n_strings > 0, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS},
        {a->n_tensors > 0, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS},
        {a->n_graphs > 0, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS},
        {a->n_sparse_tensors > 0, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS},
        {a->n_type_protos > 0, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS},
    };
    int used = 0;
    for (size_t i = 0; i < DC_ARRAY_LEN(v); i++) {
        if (!v[i].set)
            continue;
        used++;
        if ((int)a->type != v[i].type)
            return ox_invalid(x,
                              "%s: attribute '%.200s' is of type %d but holds a value of type "
                              "%d",
                              node, name, (int)a->type, v[i].type);
    }
    if (used > 1)
        return ox_invalid(x, "%s: attribute '%.200s' holds more than one value", node, name);
    char where[1024];
    snprintf(where, sizeof where, "%s, attribute '%.100s': ", node, name);
    densecl_status st = DENSECL_OK;
    if (a->t)
        st = ox_check_tensor(x, a->t, where);
    for (size_t i = 0; st == DENSECL_OK && i < a->n_tensors; i++)
        st = ox_check_tensor(x, a->tensors[i], where);
    return st;
}

static int ox_attr_cmp(const void *a, const void *b)
{
    return strcmp(ox_s((*(Onnx__AttributeProto *const *)a)->name),
                  ox_s((*(Onnx__AttributeProto *const *)b)->name));
}

/* An attribute name given twice in node n (sorted copies: a node of a million attributes
 * costs n log n, not n^2). */
static densecl_status ox_check_twice(const ox *x, const Onnx__NodeProto *n, const char *node)
{
    Onnx__AttributeProto **v = malloc(n->n_attribute * sizeof *v);
    densecl_status st = DENSECL_OK;
    if (!v)
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", x->what);
    memcpy(v, n->attribute, n->n_attribute * sizeof *v);
    qsort(v, n->n_attribute, sizeof *v, ox_attr_cmp);
    for (size_t j = 1; j < n->n_attribute && st == DENSECL_OK; j++)
        if (ox_attr_cmp(&v[j - 1], &v[j]) == 0)
            st = ox_invalid(x, "%s: attribute '%.200s' is given twice", node, ox_s(v[j]->name));
    free(v);
    return st;
}

/* A name given to graph inputs or initializers (both sorted), for lookups. */
static int ox_defined(const ox *x, const ox_name *inputs, int n_inputs, const char *v)
{
    return ox_find(inputs, n_inputs, v) >= 0 || ox_find(x->init, x->n_init, v) >= 0;
}

densecl_status dc_ox_check(const ox *x, const Onnx__ModelProto *m)
{
    const Onnx__GraphProto *g = x->g;
    densecl_status st = DENSECL_OK;
    char node[512];
    if (!m->has_ir_version || m->ir_version <= 0)
        return ox_invalid(x, "the model has no ir_version");
    if (m->ir_version >= 3 && m->n_opset_import == 0)
        return ox_invalid(x, "the model (IR version %lld) imports no opset",
                          (long long)m->ir_version);
    if (!ox_s(g->name)[0])
        return ox_invalid(x, "the graph has no name");
    for (size_t i = 0; i < g->n_initializer; i++)
        if ((st = ox_check_tensor(x, g->initializer[i], "")) != DENSECL_OK)
            return st;
    ox_name *inputs = malloc((g->n_input ? g->n_input : 1) * sizeof *inputs);
    if (!inputs)
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", x->what);
    int n_inputs = 0;
    for (size_t i = 0; i < g->n_input && st == DENSECL_OK; i++) {
        if (!ox_s(g->input[i]->name)[0])
            st = ox_invalid(x, "graph input %zu has no name", i);
        else
            inputs[n_inputs++] = (ox_name){g->input[i]->name, (int)i};
    }
    for (size_t i = 0; i < g->n_output && st == DENSECL_OK; i++)
        if (!ox_s(g->output[i]->name)[0])
            st = ox_invalid(x, "graph output %zu has no name", i);
    if (st == DENSECL_OK)
        qsort(inputs, (size_t)n_inputs, sizeof *inputs, ox_name_cmp);
    if (st == DENSECL_OK && m->ir_version <= 3) /* initializers were graph inputs then */
        for (int i = 0; i < x->n_init && st == DENSECL_OK; i++)
            if (ox_find(inputs, n_inputs, x->init[i].name) < 0)
                st = ox_invalid(x, "initializer '%.200s' is no graph input (IR version %lld)",
                                x->init[i].name, (long long)m->ir_version);
    for (size_t i = 0; i < g->n_node && st == DENSECL_OK; i++) {
        const Onnx__NodeProto *n = g->node[i];
        ox_node_label(n, i, node, sizeof node);
        if (!ox_s(n->op_type)[0]) {
            st = ox_invalid(x, "%s has no op_type", node);
            break;
        }
        if (!n->n_input && !n->n_output) {
            st = ox_invalid(x, "%s has no input and no output", node);
            break;
        }
        for (size_t j = 0; j < n->n_input && st == DENSECL_OK; j++) {
            const char *v = ox_s(n->input[j]);
            int p = v[0] ? ox_find(x->prod, x->n_prod, v) : -1;
            if (v[0] && p >= (int)i)
                st = ox_invalid(x,
                                "%s reads '%.200s' before node %d makes it: the nodes are not "
                                "topologically sorted",
                                node, v, p);
            else if (v[0] && p < 0 && !ox_defined(x, inputs, n_inputs, v))
                st = ox_invalid(x,
                                "%s reads '%.200s', which no graph input, initializer or node "
                                "defines",
                                node, v);
        }
        for (size_t j = 0; j < n->n_output && st == DENSECL_OK; j++) {
            const char *v = ox_s(n->output[j]);
            if (v[0] && ox_defined(x, inputs, n_inputs, v))
                st = ox_invalid(x, "%s assigns '%.200s', a graph input or initializer, again", node,
                                v);
        }
        for (size_t j = 0; j < n->n_attribute && st == DENSECL_OK; j++)
            st = ox_check_attribute(x, n->attribute[j], node);
        if (st == DENSECL_OK && n->n_attribute > 1)
            st = ox_check_twice(x, n, node);
    }
    free(inputs);
    return st;
}
