/* SPDX-License-Identifier: MIT */
/* onnx_impl.h - what the ONNX reader's files share, bottom up: onnx.c (limits, tensors,
 * external data, aliases), onnx_graph.c (the DenseNet in the graph), onnx_check.c (the ONNX
 * checker's structural rules), onnx_file.c (the file, decoding, the entry points). Private to
 * them. */
#ifndef DENSECL_ONNX_IMPL_H
#define DENSECL_ONNX_IMPL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"
#include "onnx.pb-c.h"

#define OX_MAX_FILE ((size_t)2 << 30)   /* protobuf's own 2 GiB limit for one message */
#define OX_MAX_TENSOR ((size_t)1 << 30) /* bytes of one tensor: DenseNets' are tens of MB */
#define OX_MAX_TOTAL ((size_t)4 << 30)  /* bytes of all tensors read, external data included */
#define OX_BN_EPS 1e-5                  /* what fold.c assumes */

typedef struct ox_name {
    const char *name;
    int index;
} ox_name;

typedef struct ox {
    const char *what; /* the file, for messages */
    const char *dir;  /* where external data may be, or NULL: none allowed */
    const Onnx__GraphProto *g;
    ox_name *prod; /* value name -> producing node, sorted by name */
    int n_prod;
    ox_name *init; /* initializer name -> index, sorted */
    int n_init;
    int dry;      /* first pass: count the blocks, check shapes, keep nothing */
    int block;    /* block number (1-based) of the walk's current block */
    size_t total; /* bytes of tensor data read so far */
    size_t *hops; /* alias hops left to ox_resolve, for the whole file: a crafted graph of long
                   * Identity chains read at every layer cannot make the walk quadratic */
    dc_tensor_set *out;
} ox;

static inline const char *ox_s(const char *s)
{
    return s ? s : "";
}

/* Input i of n, "" when n has fewer (a malformed node cannot make us read past the array). */
static inline const char *ox_in(const Onnx__NodeProto *n, size_t i)
{
    return n && i < n->n_input ? ox_s(n->input[i]) : "";
}

static inline int ox_name_cmp(const void *a, const void *b)
{
    return strcmp(((const ox_name *)a)->name, ((const ox_name *)b)->name);
}

static inline int ox_find(const ox_name *v, int n, const char *name)
{
    ox_name key = {name, 0};
    const ox_name *hit = n ? bsearch(&key, v, (size_t)n, sizeof *v, ox_name_cmp) : NULL;
    return hit ? hit->index : -1;
}

static inline const Onnx__NodeProto *ox_producer(const ox *x, const char *value)
{
    int i = ox_find(x->prod, x->n_prod, value);
    return i < 0 ? NULL : x->g->node[i];
}

static inline const Onnx__AttributeProto *ox_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(ox_s(n->attribute[i]->name), name) == 0)
            return n->attribute[i];
    return NULL;
}

static inline int ox_is(const Onnx__NodeProto *n, const char *op)
{
    return n && strcmp(ox_s(n->op_type), op) == 0 && ox_s(n->domain)[0] == '\0';
}

/* onnx.c: a refusal naming the node that does not fit (n NULL: the graph as a whole). */
densecl_status dc_ox_refuse(ox *x, const Onnx__NodeProto *n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* onnx.c: the tensor of value as float32, checked against shape (see there). */
densecl_status dc_ox_tensor(ox *x, const Onnx__NodeProto *n, const char *value, const char *key,
                            int ndim, int64_t *shape, float **out);
/* onnx.c: adds a tensor to the set under its canonical key (takes data). */
densecl_status dc_ox_add(ox *x, const char *key, float *data, int ndim, const int64_t *shape);
/* onnx.c: follows aliases (Identity, Dropout, a one-input Concat, an all-zero Pad) back to the
 * value that really holds the data, within the file's budget of hops. */
const char *dc_ox_resolve(const ox *x, const char *value);
/* onnx.c: the tensor behind a value, through aliases, or NULL. */
const Onnx__TensorProto *dc_ox_constant(const ox *x, const char *value);
/* onnx_check.c: the ONNX checker's structural rules on the decoded model (x indexed). */
densecl_status dc_ox_check(const ox *x, const Onnx__ModelProto *m);
/* onnx_graph.c: the DenseNet walk from the output back to the input; *blocks counts blocks. */
densecl_status dc_ox_walk(ox *x, int *blocks);
/* onnx_graph.c: what kind of network a graph that is not a DenseNet is, when it is one densecl
 * recognises cheaply ("a residual network (...)"), else NULL; static text. */
const char *dc_ox_kind(const ox *x);

#endif
