/* SPDX-License-Identifier: MIT */
/* onnx.c - a DenseNet ONNX file as the tensor set of a torchvision state_dict: reading.
 *
 * protobuf-c decodes the file (the code is generated from Debian's onnx.proto at build time);
 * onnx_graph.c recognises the DenseNet in the graph and gives its tensors the canonical keys
 * ("features.denseblock1.denselayer1.norm1.weight", ...), after which arch.c infers and checks
 * the config as for a safetensors file. Names in the graph are never trusted: torch.onnx.export
 * keeps state_dict names only for some initializers ("onnx::Conv_1166" for others), so every
 * tensor is found by its place in the graph, walked back from the output:
 *
 *   Gemm(Flatten(GlobalAveragePool(Relu(BN norm5 (block B's Concat)))), classifier)
 *   block:      Concat(x0, f1, ..., fL), fi = Conv3x3(Relu(norm2(Conv1x1(Relu(BN norm1(
 *               Concat(x0, f1, ..., f(i-1)))))))) (without bottleneck: Conv3x3(Relu(BN(...))))
 *   transition: x0 = AveragePool2x2(Conv1x1(Relu(BN norm(previous block's Concat))))
 *   stem:       x0 = MaxPool3x3s2(Relu(norm0(Conv7x7s2(input)))) or Conv3x3(input) (CIFAR)
 *
 * A BN that follows a conv (norm0, norm2) is either a BatchNormalization node or, as PyTorch
 * exports a model in eval mode, already folded into the conv's weights and a bias: then it
 * becomes an identity BN (gamma 1, mean 0, var 1 - eps) whose beta is that bias, which fold.c
 * folds back into the conv. Identity and Dropout nodes, one-input Concats and all-zero Pads are
 * aliases; a block's features may also be joined by a chain of two-input Concats. Anything else
 * is refused, naming the node that does not fit. Sizes are checked, never trusted: dims,
 * raw_data lengths against the declared shape, external data (files in the model's directory
 * only, within the same limits), and how deep messages nest before protobuf-c recurses into
 * them. The model's metadata_props become the set's metadata. This file holds the reading
 * (limits, the nesting check, tensors and external data, the entry points); onnx_impl.h what
 * the two files share. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/onnx_impl.h"

/* A node as a message names it: "'Conv_12' (Conv)", or by its first output when unnamed. */
static const char *ox_node_str(const Onnx__NodeProto *n, char *buf, size_t cap)
{
    const char *name = ox_s(n->name);
    if (!name[0] && n->n_output)
        snprintf(buf, cap, "producing '%s' (%s)", ox_s(n->output[0]), ox_s(n->op_type));
    else
        snprintf(buf, cap, "'%s' (%s)", name, ox_s(n->op_type));
    return buf;
}

densecl_status dc_ox_refuse(ox *x, const Onnx__NodeProto *n, const char *fmt, ...)
{
    char why[512], node[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (n)
        return dc_error(DENSECL_ERR_FORMAT, "%s: ONNX graph: node %s does not fit a DenseNet: %s",
                        x->what, ox_node_str(n, node, sizeof node), why);
    return dc_error(DENSECL_ERR_FORMAT, "%s: ONNX graph does not fit a DenseNet: %s", x->what, why);
}

/* A contained relative path: no absolute path, no "..", no empty component. */
static int ox_path_ok(const char *p)
{
    if (!p[0] || p[0] == '/')
        return 0;
    for (const char *c = p; *c;) {
        const char *e = strchr(c, '/');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (len == 0 || (len == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        c += len + (e ? 1 : 0);
        if (e && !*c)
            return 0;
    }
    return 1;
}

/* Opens loc (ox_path_ok) below the directory dir for reading, one component at a time with
 * O_NOFOLLOW: a symbolic link anywhere in loc (a file, or a subdirectory) is refused, so that
 * the file is always one inside dir, whatever links the directory holds. A FIFO is never waited
 * on (O_NONBLOCK) and anything but a regular file is refused. DENSECL_OK with *fd set, else the
 * error with what (the tensor) and loc only: never a path outside dir. */
static densecl_status ox_open_inside(ox *x, const char *key, const char *dir, const char *loc,
                                     int *fd_out)
{
    densecl_status st = DENSECL_OK;
    int at = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd = -1;
    const char *c = loc;
    struct stat sb;
    *fd_out = -1;
    if (at < 0)
        return dc_error(DENSECL_ERR_IO, "%s: tensor '%s': cannot open the model's directory: %s",
                        x->what, key, strerror(errno));
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        char part[256];
        if (len >= sizeof part) {
            st = dc_error(DENSECL_ERR_FORMAT,
                          "%s: tensor '%s': external data location '%s': a name is too long",
                          x->what, key, loc);
            break;
        }
        memcpy(part, c, len);
        part[len] = '\0';
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
        fd = openat(at, part, flags | (slash ? O_DIRECTORY : O_NONBLOCK));
        if (fd < 0) {
            int err = errno;
            struct stat lb;
            if (err == ELOOP ||
                (fstatat(at, part, &lb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lb.st_mode)))
                st = dc_error(DENSECL_ERR_FORMAT,
                              "%s: tensor '%s': external data location '%s' is refused: '%.*s' "
                              "is a symbolic link (densecl reads external data only from files "
                              "inside the model's directory, never through links)",
                              x->what, key, loc, (int)(c - loc + (ptrdiff_t)len), loc);
            else
                st = dc_error(DENSECL_ERR_IO, "%s: tensor '%s': cannot read external data '%s': %s",
                              x->what, key, loc, strerror(err));
            break;
        }
        close(at);
        at = -1;
        if (!slash)
            break;
        at = fd;
        fd = -1;
        c = slash + 1;
    }
    if (at >= 0)
        close(at);
    if (st == DENSECL_OK && (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)))
        st = dc_error(DENSECL_ERR_FORMAT,
                      "%s: tensor '%s': external data '%s' is not a regular file", x->what, key,
                      loc);
    if (st == DENSECL_OK) {
        int fl = fcntl(fd, F_GETFL);
        if (fl != -1)
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        *fd_out = fd;
    } else if (fd >= 0) {
        close(fd);
    }
    return st;
}

/* Reads [offset, offset + len) of the external data file of t into a malloc'd buffer. */
static densecl_status ox_external(ox *x, const Onnx__TensorProto *t, const char *key, size_t want,
                                  unsigned char **out)
{
    const char *loc = NULL;
    uint64_t off = 0, len = want;
    int have_len = 0;
    *out = NULL;
    for (size_t i = 0; i < t->n_external_data; i++) {
        const char *k = ox_s(t->external_data[i]->key), *v = ox_s(t->external_data[i]->value);
        char *end;
        if (strcmp(k, "location") == 0) {
            loc = v;
        } else if (strcmp(k, "offset") == 0 || strcmp(k, "length") == 0) {
            errno = 0;
            unsigned long long n = strtoull(v, &end, 10);
            if (!v[0] || *end || errno || v[0] == '-')
                return dc_error(DENSECL_ERR_FORMAT,
                                "%s: tensor '%s': external data %s '%s' is "
                                "not a size",
                                x->what, key, k, v);
            if (k[0] == 'o')
                off = n;
            else
                len = n, have_len = 1;
        }
    }
    if (!x->dir)
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: tensor '%s' has external data, which is read "
                        "only from a file",
                        x->what, key);
    if (!loc || !ox_path_ok(loc))
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: tensor '%s': external data location '%s' is "
                        "refused: it must be a relative path inside the model's directory, "
                        "without '..'",
                        x->what, key, loc ? loc : "(none)");
    if (have_len && len != want)
        return dc_error(DENSECL_ERR_FORMAT,
                        "%s: tensor '%s': external data length %llu, but "
                        "its shape needs %zu bytes",
                        x->what, key, (unsigned long long)len, want);
    unsigned char *buf = malloc(want ? want : 1);
    densecl_status st = DENSECL_OK;
    int fd = -1;
    struct stat sb;
    if (!buf) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory for tensor '%s'", x->what, key);
        goto done;
    }
    if ((st = ox_open_inside(x, key, x->dir, loc, &fd)) != DENSECL_OK)
        goto done;
    if (fstat(fd, &sb) != 0) {
        st = dc_error(DENSECL_ERR_IO, "%s: tensor '%s': cannot read external data '%s': %s",
                      x->what, key, loc, strerror(errno));
        goto done;
    }
    if (off > (uint64_t)sb.st_size || want > (uint64_t)sb.st_size - off) {
        st = dc_error(DENSECL_ERR_FORMAT,
                      "%s: tensor '%s': external data [%llu, +%zu) is past "
                      "the end of '%s' (%lld bytes)",
                      x->what, key, (unsigned long long)off, want, loc, (long long)sb.st_size);
        goto done;
    }
    for (size_t done = 0; done < want;) {
        ssize_t n = pread(fd, buf + done, want - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            st = dc_error(DENSECL_ERR_IO, "%s: tensor '%s': short read of '%s'", x->what, key, loc);
            goto done;
        }
        done += (size_t)n;
    }
done:
    if (fd >= 0)
        close(fd);
    if (st == DENSECL_OK)
        *out = buf;
    else
        free(buf);
    return st;
}

/* The tensor of value as float32, checked against the shape the graph needs (shape[d] < 0: any
 * size, which is then returned there). key names it in messages and in the set. In the dry
 * pass only the shape is checked. */
densecl_status dc_ox_tensor(ox *x, const Onnx__NodeProto *n, const char *value, const char *key,
                            int ndim, int64_t *shape, float **out)
{
    const Onnx__TensorProto *t = dc_ox_constant(x, value);
    char label[300]; /* the graph's name, and ours when it differs */
    if (strcmp(value, key) == 0)
        snprintf(label, sizeof label, "'%s'", key);
    else
        snprintf(label, sizeof label, "'%s' (%s)", value, key);
    size_t count = 1, esize;
    *out = NULL;
    if (!t)
        return dc_ox_refuse(x, n, "input %s is not an initializer or a constant", label);
    if ((int)t->n_dims != ndim)
        return dc_ox_refuse(x, n, "tensor %s has %zu dimensions, not %d", label, t->n_dims, ndim);
    for (int d = 0; d < ndim; d++) {
        if (t->dims[d] < 0 || t->dims[d] > INT_MAX)
            return dc_ox_refuse(x, n, "tensor %s: dimension %d is %lld, not in [0, %d]", label, d,
                                (long long)t->dims[d], INT_MAX);
        if (shape[d] >= 0 && t->dims[d] != shape[d])
            return dc_ox_refuse(x, n, "tensor %s: dimension %d is %lld, expected %lld", label, d,
                                (long long)t->dims[d], (long long)shape[d]);
        shape[d] = t->dims[d];
        if (!dc_mul_size(count, (size_t)t->dims[d], &count))
            return dc_ox_refuse(x, n, "tensor %s: its size overflows", label);
    }
    int type = t->has_data_type ? t->data_type : 0;
    /* FLOAT16 and BFLOAT16 (models exported in half precision) widen to float32 exactly. */
    int half = type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 ||
               type == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16;
    if (type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        esize = 4;
    else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE)
        esize = 8;
    else if (half)
        esize = 2;
    else
        return dc_ox_refuse(x, n,
                            "tensor %s has ONNX data type %d; densecl reads FLOAT "
                            "(1), DOUBLE (11), FLOAT16 (10) and BFLOAT16 (16)",
                            label, type);
    size_t bytes, floats;
    if (!dc_mul_size(count, esize, &bytes) || bytes > OX_MAX_TENSOR ||
        !dc_mul_size(count, sizeof(float), &floats) || floats > OX_MAX_TENSOR)
        return dc_ox_refuse(x, n, "tensor %s is larger than %zu bytes", label,
                            (size_t)OX_MAX_TENSOR);
    const unsigned char *raw = NULL;
    unsigned char *ext = NULL;
    size_t stored;
    int external =
        t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (external)
        stored = count;
    else if (t->has_raw_data && t->raw_data.len)
        stored = t->raw_data.len / esize, raw = t->raw_data.data;
    else
        stored = half ? t->n_int32_data : esize == 4 ? t->n_float_data : t->n_double_data;
    if (!external && ((raw && t->raw_data.len != bytes) || (!raw && stored != count)))
        return dc_ox_refuse(x, n,
                            "tensor %s holds %zu bytes of data, but its shape %s "
                            "needs %zu",
                            label, raw ? t->raw_data.len : stored * esize,
                            dc_shape_str(shape, ndim, 0, (char[96]){0}, 96), bytes);
    if (x->dry)
        return DENSECL_OK;
    /* what memory will hold: float32, whatever the file's type */
    if (!dc_add_size(x->total, bytes > floats ? bytes : floats, &x->total) ||
        x->total > OX_MAX_TOTAL)
        return dc_error(DENSECL_ERR_FORMAT, "%s: the tensors hold more than %zu bytes", x->what,
                        (size_t)OX_MAX_TOTAL);
    if (external) {
        densecl_status st = ox_external(x, t, key, bytes, &ext);
        if (st != DENSECL_OK)
            return st;
        raw = ext;
    }
    float *f = malloc(count ? count * sizeof *f : 1);
    if (!f) {
        free(ext);
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory for tensor '%s'", x->what, key);
    }
    for (size_t i = 0; i < count; i++) {
        double d;
        if (half) {
            /* int32_data holds each 16-bit pattern in an int32 (the ONNX spec) */
            int32_t v = raw ? (int32_t)dc_load_le(raw + 2 * i, 2) : t->int32_data[i];
            if (v < 0 || v > 0xFFFF) {
                free(f);
                free(ext);
                return dc_error(DENSECL_ERR_FORMAT,
                                "%s: tensor %s: int32_data[%zu] is %d, not a 16-bit pattern",
                                x->what, label, i, (int)v);
            }
            if (type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16) {
                f[i] = dc_f16_to_float((uint16_t)v);
            } else {
                uint32_t u = (uint32_t)v << 16; /* bfloat16: a float32's high half */
                memcpy(&f[i], &u, sizeof f[i]);
            }
            continue;
        }
        if (raw && esize == 4) {
            uint32_t u = (uint32_t)dc_load_le(raw + 4 * i, 4);
            memcpy(&f[i], &u, sizeof f[i]);
            continue;
        }
        if (raw) {
            uint64_t u = dc_load_le(raw + 8 * i, 8);
            memcpy(&d, &u, sizeof d);
        } else if (esize == 4) {
            f[i] = t->float_data[i];
            continue;
        } else {
            d = t->double_data[i];
        }
        if (isfinite(d) && fabs(d) >= 0x1.ffffffp+127) {
            free(f);
            free(ext);
            return dc_error(DENSECL_ERR_FORMAT,
                            "%s: tensor %s: value %g at index %zu "
                            "is beyond float32's range",
                            x->what, label, d, i);
        }
        f[i] = (float)d;
    }
    free(ext);
    *out = f;
    return DENSECL_OK;
}

/* Adds a tensor under its canonical key (takes data; in the dry pass data is NULL). */
densecl_status dc_ox_add(ox *x, const char *key, float *data, int ndim, const int64_t *shape)
{
    if (x->dry)
        return DENSECL_OK;
    dc_tensor_set *s = x->out;
    if (dc_tensor_find(s, key)) {
        free(data);
        return dc_error(DENSECL_ERR_FORMAT, "%s: ONNX graph: tensor '%s' found twice", x->what,
                        key);
    }
    dc_tensor *t = realloc(s->t, (size_t)(s->count + 1) * sizeof *t);
    char *k = malloc(strlen(key) + 1);
    if (t)
        s->t = t;
    if (!t || !k) {
        free(data);
        free(k);
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", x->what);
    }
    strcpy(k, key);
    t = &s->t[s->count++];
    memset(t, 0, sizeof *t);
    t->key = k;
    t->dtype = DC_F32;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        t->shape[d] = shape[d];
    t->data = data;
    return DENSECL_OK;
}

/* Follows aliases back to the value that really holds the data: Identity, a Concat of one
 * input, a Pad whose pads are all zero, Dropout (inference: identity). Bounded by the node
 * count, so a cycle in a malformed graph ends, and by the file's budget of hops (x->hops). */
const char *dc_ox_resolve(const ox *x, const char *value)
{
    for (int hops = 0; hops <= x->n_prod && *x->hops > 0; hops++, (*x->hops)--) {
        const Onnx__NodeProto *n = ox_producer(x, value);
        if (!n || n->n_input < 1)
            return value;
        if (ox_is(n, "Identity") || ox_is(n, "Dropout") ||
            (ox_is(n, "Concat") && n->n_input == 1)) {
            if (ox_is(n, "Dropout") && strcmp(ox_s(n->output[0]), value) != 0)
                return value;
            value = ox_in(n, 0);
            continue;
        }
        if (ox_is(n, "Pad")) {
            int64_t mode_ok = 1;
            const Onnx__AttributeProto *m = ox_attr(n, "mode");
            if (m && !(m->has_s && m->s.len == 8 && memcmp(m->s.data, "constant", 8) == 0))
                mode_ok = 0;
            int zero = 0;
            if (n->n_input >= 2) { /* opset >= 11: pads as an int64 input */
                const Onnx__TensorProto *t = dc_ox_constant(x, ox_in(n, 1));
                if (t && t->has_data_type && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
                    zero = 1;
                    if (t->has_raw_data) {
                        for (size_t i = 0; i < t->raw_data.len; i++)
                            zero &= t->raw_data.data[i] == 0;
                    }
                    for (size_t i = 0; i < t->n_int64_data; i++)
                        zero &= t->int64_data[i] == 0;
                }
            } else {
                const Onnx__AttributeProto *p = ox_attr(n, "pads");
                zero = p != NULL;
                for (size_t i = 0; p && i < p->n_ints; i++)
                    zero &= p->ints[i] == 0;
            }
            if (zero && mode_ok) {
                value = ox_in(n, 0);
                continue;
            }
        }
        return value;
    }
    return value;
}

/* The tensor behind a value: an initializer or a Constant node's, through aliases. */
const Onnx__TensorProto *dc_ox_constant(const ox *x, const char *value)
{
    value = dc_ox_resolve(x, value);
    int i = ox_find(x->init, x->n_init, value);
    if (i >= 0)
        return x->g->initializer[i];
    const Onnx__NodeProto *n = ox_producer(x, value);
    if (ox_is(n, "Constant")) {
        const Onnx__AttributeProto *a = ox_attr(n, "value");
        return a ? a->t : NULL;
    }
    return NULL;
}
