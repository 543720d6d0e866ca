/* SPDX-License-Identifier: MIT */
/* onnx_file.c - the ONNX reader's entry points: the file read within its limits, the nesting
 * and memory checks before protobuf-c decodes, the graph's index and metadata, then the walk of
 * onnx_graph.c. The layers: onnx.c (tensors, external data, aliases) < onnx_graph.c (the
 * DenseNet in the graph) < this file. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/onnx_impl.h"

/* ------------------------------------------------------------------ entry points */

static densecl_status ox_index(ox *x)
{
    const Onnx__GraphProto *g = x->g;
    size_t outs = 0;
    if (g->n_node > INT_MAX / 2 || g->n_initializer > INT_MAX / 2)
        return dc_error(DENSECL_ERR_FORMAT, "%s: ONNX graph too large", x->what);
    for (size_t i = 0; i < g->n_node; i++) {
        if (g->node[i]->n_output > INT_MAX / 2 || outs > INT_MAX / 2)
            return dc_error(DENSECL_ERR_FORMAT, "%s: ONNX graph too large", x->what);
        outs += g->node[i]->n_output;
    }
    x->prod = malloc((outs ? outs : 1) * sizeof *x->prod);
    x->init = malloc((g->n_initializer ? g->n_initializer : 1) * sizeof *x->init);
    if (!x->prod || !x->init)
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", x->what);
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t o = 0; o < g->node[i]->n_output; o++)
            if (ox_s(g->node[i]->output[o])[0])
                x->prod[x->n_prod++] = (ox_name){ox_s(g->node[i]->output[o]), (int)i};
    for (size_t i = 0; i < g->n_initializer; i++)
        x->init[x->n_init++] = (ox_name){ox_s(g->initializer[i]->name), (int)i};
    qsort(x->prod, (size_t)x->n_prod, sizeof *x->prod, ox_name_cmp);
    qsort(x->init, (size_t)x->n_init, sizeof *x->init, ox_name_cmp);
    for (int i = 1; i < x->n_prod; i++)
        if (strcmp(x->prod[i - 1].name, x->prod[i].name) == 0)
            return dc_error(DENSECL_ERR_FORMAT,
                            "%s: ONNX graph: value '%s' is produced by two "
                            "nodes",
                            x->what, x->prod[i].name);
    for (int i = 1; i < x->n_init; i++)
        if (strcmp(x->init[i - 1].name, x->init[i].name) == 0)
            return dc_error(DENSECL_ERR_FORMAT,
                            "%s: ONNX graph: two initializers are named "
                            "'%s'",
                            x->what, x->init[i].name);
    return DENSECL_OK;
}

static densecl_status ox_metadata(ox *x, const Onnx__ModelProto *m)
{
    dc_tensor_set *s = x->out;
    if (m->n_metadata_props > 1024)
        return dc_error(DENSECL_ERR_FORMAT, "%s: more than 1024 metadata entries", x->what);
    if (!m->n_metadata_props)
        return DENSECL_OK;
    s->meta_keys = calloc(m->n_metadata_props, sizeof *s->meta_keys);
    s->meta_values = calloc(m->n_metadata_props, sizeof *s->meta_values);
    if (!s->meta_keys || !s->meta_values)
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", x->what);
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const char *k = ox_s(m->metadata_props[i]->key), *v = ox_s(m->metadata_props[i]->value);
        if (dc_tensor_meta(s, k))
            return dc_error(DENSECL_ERR_FORMAT, "%s: metadata key '%s' appears twice", x->what, k);
        s->meta_keys[i] = malloc(strlen(k) + 1);
        s->meta_values[i] = malloc(strlen(v) + 1);
        s->meta_count = (int)i + 1;
        if (!s->meta_keys[i] || !s->meta_values[i])
            return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", x->what);
        strcpy(s->meta_keys[i], k);
        strcpy(s->meta_values[i], v);
    }
    return DENSECL_OK;
}

/* Before protobuf-c decodes anything, one walk of the wire format with protobuf-c's own
 * descriptors (the values are skipped; protobuf-c still does all the decoding and refuses what
 * is malformed) checks two things protobuf-c does not:
 *   - how deep messages nest: protobuf-c recurses without a depth limit, so a few MB of nested
 *     headers (a node's attribute holding a graph holding a node ...) would overflow the stack;
 *   - how much memory decoding takes: every field occurrence costs protobuf-c a scanned-member
 *     record while its message decodes, every element of a repeated field a slot, every string
 *     an allocation, every message its struct. Two bytes of an empty repeated string cost about
 *     a hundred (100 MB of them took 3.6 GB), so the file is refused when the estimate (an upper
 *     bound of what protobuf-c allocates) passes OX_ALLOC_FACTOR times its size plus
 *     OX_ALLOC_SLACK: an exported model, all raw_data, decodes into about its own size. */
#define OX_MAX_DEPTH 32 /* a DenseNet needs 4: model, graph, node or initializer, attribute */
#define OX_ALLOC_FACTOR 4
#define OX_ALLOC_SLACK ((uint64_t)64 << 20)
#define OX_MALLOC_COST 32 /* what malloc spends on a small block: glibc's least chunk */
#define OX_MEMBER_COST 64 /* protobuf-c's ScannedMember (32 bytes), in slabs that double */

static int ox_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *i < len; shift += 7) {
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return 1;
    }
    return 0;
}

/* Bytes one element of a repeated field of type t takes in its array. */
static size_t ox_elt_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default: /* 32-bit numbers, enums, bools */
        return 4;
    }
}

/* Elements in a packed repeated field of type t with len bytes of payload p. */
static uint64_t ox_packed_count(ProtobufCType t, const uint8_t *p, size_t len)
{
    uint64_t n = 0;
    switch (t) {
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return len / 8;
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return len / 4;
    default: /* varints: one ends at each byte without the continuation bit */
        for (size_t i = 0; i < len; i++)
            n += !(p[i] & 0x80);
        return n;
    }
}

/* Walks message d in p[0, len): 0 when it nests deeper than OX_MAX_DEPTH, else 1 with *cost
 * raised by what decoding it allocates at most. 1 too for anything it cannot follow (protobuf-c
 * then refuses it). */
static int ox_prescan(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, int depth,
                      uint64_t *cost)
{
    size_t i = 0;
    uint64_t key, v;
    if (depth > OX_MAX_DEPTH)
        return 0;
    *cost += d->sizeof_message + OX_MALLOC_COST;
    while (i < len) {
        if (!ox_varint(p, len, &i, &key))
            return 1;
        const ProtobufCFieldDescriptor *f =
            key >> 3 <= UINT32_MAX
                ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3))
                : NULL;
        int repeated = f && f->label == PROTOBUF_C_LABEL_REPEATED;
        *cost += OX_MEMBER_COST;
        if (!f) /* kept as an unknown field, with a copy of its bytes */
            *cost += sizeof(ProtobufCMessageUnknownField) + OX_MALLOC_COST;
        switch (key & 7) {
        case PROTOBUF_C_WIRE_TYPE_VARINT:
            if (!ox_varint(p, len, &i, &v))
                return 1;
            *cost += repeated ? ox_elt_size(f->type) : f ? 0 : 10;
            break;
        case PROTOBUF_C_WIRE_TYPE_64BIT:
            if (len - i < 8)
                return 1;
            i += 8;
            *cost += repeated || !f ? 8 : 0;
            break;
        case PROTOBUF_C_WIRE_TYPE_32BIT:
            if (len - i < 4)
                return 1;
            i += 4;
            *cost += repeated || !f ? 4 : 0;
            break;
        case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: {
            if (!ox_varint(p, len, &i, &v) || v > len - i)
                return 1;
            if (!f) {
                *cost += v;
            } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (!ox_prescan(f->descriptor, p + i, (size_t)v, depth + 1, cost))
                    return 0;
                *cost += repeated ? sizeof(void *) : 0;
            } else if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES) {
                *cost += v + 1 + OX_MALLOC_COST + (repeated ? ox_elt_size(f->type) : 0);
            } else if (repeated) { /* packed numbers */
                *cost += ox_packed_count(f->type, p + i, (size_t)v) * ox_elt_size(f->type);
            }
            i += (size_t)v;
            break;
        }
        default:
            return 1;
        }
    }
    return 1;
}

/* The walk's refusal of a graph that is another kind of network, said first in words a user of
 * such a model acts on, then the walk's detail (without its repeated file name). */
static densecl_status ox_not_densenet(const char *what, const char *kind)
{
    char detail[1024];
    const char *d = densecl_last_error();
    size_t wl = strlen(what);
    if (strncmp(d, what, wl) == 0 && d[wl] == ':' && d[wl + 1] == ' ')
        d += wl + 2;
    snprintf(detail, sizeof detail, "%s", d);
    return dc_error(DENSECL_ERR_FORMAT,
                    "%s: densecl runs DenseNets (torchvision's DenseNet family and its CIFAR "
                    "variants); this graph is %s: use ONNX Runtime or OpenCV DNN for it; "
                    "detail: %s",
                    what, kind, detail);
}

densecl_status dc_onnx_parse(const void *bytes, size_t len, const char *what, const char *dir,
                             dc_tensor_set *out)
{
    densecl_status st;
    ox x;
    Onnx__ModelProto *m;
    if (!out)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_onnx_parse: NULL argument");
    memset(out, 0, sizeof *out);
    if (!bytes && len)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_onnx_parse: NULL argument");
    if (len > OX_MAX_FILE)
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: an ONNX file larger than 2 GiB must keep its "
                        "tensors as external data",
                        what);
    uint64_t cost = 0;
    if (!ox_prescan(&onnx__model_proto__descriptor, bytes, len, 0, &cost))
        return dc_error(DENSECL_ERR_FORMAT, "%s: ONNX messages nested more than %d deep", what,
                        OX_MAX_DEPTH);
    if (cost > OX_ALLOC_FACTOR * (uint64_t)len + OX_ALLOC_SLACK)
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: decoding this ONNX file would take about %llu MiB, more than %d "
                        "times its size (%llu KiB) plus %llu MiB: it holds a great many tiny or "
                        "empty fields, as no exported model does",
                        what, (unsigned long long)(cost >> 20), OX_ALLOC_FACTOR,
                        (unsigned long long)(len >> 10),
                        (unsigned long long)(OX_ALLOC_SLACK >> 20));
    m = onnx__model_proto__unpack(NULL, len, bytes);
    if (!m)
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: not a valid ONNX model (the protobuf does not "
                        "decode: truncated or not ONNX)",
                        what);
    memset(&x, 0, sizeof x);
    size_t hops = (size_t)1 << 24; /* a DenseNet export: a few per dense layer */
    x.hops = &hops;
    x.what = what;
    x.dir = dir;
    x.out = out;
    if (!m->graph) {
        st = dc_error(DENSECL_ERR_FORMAT, "%s: ONNX model without a graph", what);
        goto done;
    }
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        const char *d = ox_s(o->domain);
        if ((!d[0] || strcmp(d, "ai.onnx") == 0) && o->has_version &&
            (o->version < 7 || o->version > 21)) {
            st = dc_error(DENSECL_ERR_FORMAT,
                          "%s: ONNX opset %lld; densecl reads opsets 7 "
                          "to 21",
                          what, (long long)o->version);
            goto done;
        }
    }
    x.g = m->graph;
    if ((st = ox_index(&x)) != DENSECL_OK || (st = dc_ox_check(&x, m)) != DENSECL_OK ||
        (st = ox_metadata(&x, m)) != DENSECL_OK)
        goto done;
    int blocks = 0;
    x.dry = 1;
    if ((st = dc_ox_walk(&x, &blocks)) != DENSECL_OK) {
        const char *kind = st == DENSECL_ERR_FORMAT ? dc_ox_kind(&x) : NULL;
        if (kind)
            st = ox_not_densenet(what, kind);
        goto done;
    }
    x.dry = 0;
    st = dc_ox_walk(&x, &blocks);
done:
    free(x.prod);
    free(x.init);
    onnx__model_proto__free_unpacked(m, NULL);
    if (st != DENSECL_OK)
        dc_tensor_set_free(out);
    return st;
}

/* Reads a whole regular file (at most max bytes) with read(), as safetensors.c does: a file
 * rewritten meanwhile is an error, never a crash. */
static densecl_status ox_read_file(const char *path, size_t max, unsigned char **out, size_t *len)
{
    struct stat before, after;
    densecl_status st = DENSECL_OK;
    unsigned char *buf = NULL;
    size_t size = 0, done = 0;
    int fd;
    *out = NULL;
    if ((st = dc_open_regular(path, NULL, &fd)) != DENSECL_OK)
        return st;
    if (fstat(fd, &before) != 0 || !S_ISREG(before.st_mode)) {
        st = dc_error(DENSECL_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    if ((uintmax_t)before.st_size > (uintmax_t)max) {
        st = dc_error(DENSECL_ERR_FORMAT,
                      "%s: an ONNX file larger than %zu bytes must keep its "
                      "tensors as external data",
                      path, max);
        goto done;
    }
    size = (size_t)before.st_size;
    if (!(buf = malloc(size ? size : 1))) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory for %zu bytes", path, size);
        goto done;
    }
    while (done < size) {
        ssize_t n = read(fd, buf + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (fstat(fd, &after) != 0 || done != size || after.st_size != before.st_size ||
        after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
        after.st_mtim.tv_nsec != before.st_mtim.tv_nsec)
        st = dc_error(DENSECL_ERR_IO,
                      "%s: the file changed while it was read; was it being "
                      "written?",
                      path);
done:
    close(fd);
    if (st != DENSECL_OK)
        free(buf);
    else
        *out = buf, *len = size;
    return st;
}

densecl_status dc_onnx_read(const char *path, dc_tensor_set *out)
{
    densecl_status st;
    unsigned char *buf = NULL;
    size_t size;
    if (!path || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "dc_onnx_read: NULL argument");
    memset(out, 0, sizeof *out);
    if ((st = ox_read_file(path, OX_MAX_FILE, &buf, &size)) != DENSECL_OK)
        return st;
    /* External data lives beside the model. */
    char *dir = malloc(strlen(path) + 2);
    if (!dir) {
        free(buf);
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    strcpy(dir, path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    st = dc_onnx_parse(buf, size, path, dir, out);
    free(dir);
    free(buf);
    return st;
}
