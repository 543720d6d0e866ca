/* onnx.c - a DenseNet ONNX file as the tensor set of a torchvision state_dict.
 *
 * protobuf-c decodes the file (the code is generated from Debian's onnx.proto at build time);
 * this file recognises the DenseNet in the graph and gives its tensors the canonical keys
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
 * them. The model's metadata_props become the set's metadata. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
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

static const char *ox_s(const char *s)
{
    return s ? s : "";
}

/* Input i of n, "" when n has fewer (a malformed node cannot make us read past the array). */
static const char *ox_in(const Onnx__NodeProto *n, size_t i)
{
    return n && i < n->n_input ? ox_s(n->input[i]) : "";
}

static int ox_name_cmp(const void *a, const void *b)
{
    return strcmp(((const ox_name *)a)->name, ((const ox_name *)b)->name);
}

static int ox_find(const ox_name *v, int n, const char *name)
{
    ox_name key = {name, 0};
    const ox_name *hit = n ? bsearch(&key, v, (size_t)n, sizeof *v, ox_name_cmp) : NULL;
    return hit ? hit->index : -1;
}

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

static densecl_status ox_refuse(ox *x, const Onnx__NodeProto *n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static densecl_status ox_refuse(ox *x, const Onnx__NodeProto *n, const char *fmt, ...)
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

static const Onnx__NodeProto *ox_producer(const ox *x, const char *value)
{
    int i = ox_find(x->prod, x->n_prod, value);
    return i < 0 ? NULL : x->g->node[i];
}

static const Onnx__AttributeProto *ox_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(ox_s(n->attribute[i]->name), name) == 0)
            return n->attribute[i];
    return NULL;
}

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

static int ox_is(const Onnx__NodeProto *n, const char *op)
{
    return n && strcmp(ox_s(n->op_type), op) == 0 && ox_s(n->domain)[0] == '\0';
}

/* ------------------------------------------------------------------ constants */

static const Onnx__TensorProto *ox_constant(const ox *x, const char *value);

/* Follows aliases back to the value that really holds the data: Identity, a Concat of one
 * input, a Pad whose pads are all zero, Dropout (inference: identity). Bounded by the node
 * count, so a cycle in a malformed graph ends, and by the file's budget of hops (x->hops). */
static const char *ox_resolve(const ox *x, const char *value)
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
                const Onnx__TensorProto *t = ox_constant(x, ox_in(n, 1));
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
static const Onnx__TensorProto *ox_constant(const ox *x, const char *value)
{
    value = ox_resolve(x, value);
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
    size_t plen = strlen(x->dir) + strlen(loc) + 2;
    char *path = malloc(plen);
    unsigned char *buf = malloc(want ? want : 1);
    densecl_status st = DENSECL_OK;
    int fd = -1;
    struct stat sb;
    if (!path || !buf) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory for tensor '%s'", x->what, key);
        goto done;
    }
    snprintf(path, plen, "%s/%s", x->dir, loc);
    /* dc_open_regular never blocks on a FIFO planted as external data. */
    if (dc_open_regular(path, NULL, &fd) != DENSECL_OK || fstat(fd, &sb) != 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", fd < 0 ? densecl_last_error() : strerror(errno));
        st = dc_error(DENSECL_ERR_IO, "%s: tensor '%s': cannot read external data: %s", x->what,
                      key, why);
        goto done;
    }
    if (off > (uint64_t)sb.st_size || want > (uint64_t)sb.st_size - off) {
        st = dc_error(DENSECL_ERR_FORMAT,
                      "%s: tensor '%s': external data [%llu, +%zu) is past "
                      "the end of %s (%lld bytes)",
                      x->what, key, (unsigned long long)off, want, path, (long long)sb.st_size);
        goto done;
    }
    for (size_t done = 0; done < want;) {
        ssize_t n = pread(fd, buf + done, want - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            st = dc_error(DENSECL_ERR_IO, "%s: tensor '%s': short read of %s", x->what, key, path);
            goto done;
        }
        done += (size_t)n;
    }
done:
    if (fd >= 0)
        close(fd);
    free(path);
    if (st == DENSECL_OK)
        *out = buf;
    else
        free(buf);
    return st;
}

/* The tensor of value as float32, checked against the shape the graph needs (shape[d] < 0: any
 * size, which is then returned there). key names it in messages and in the set. In the dry
 * pass only the shape is checked. */
static densecl_status ox_tensor(ox *x, const Onnx__NodeProto *n, const char *value, const char *key,
                                int ndim, int64_t *shape, float **out)
{
    const Onnx__TensorProto *t = ox_constant(x, value);
    char label[300]; /* the graph's name, and ours when it differs */
    if (strcmp(value, key) == 0)
        snprintf(label, sizeof label, "'%s'", key);
    else
        snprintf(label, sizeof label, "'%s' (%s)", value, key);
    size_t count = 1, esize;
    *out = NULL;
    if (!t)
        return ox_refuse(x, n, "input %s is not an initializer or a constant", label);
    if ((int)t->n_dims != ndim)
        return ox_refuse(x, n, "tensor %s has %zu dimensions, not %d", label, t->n_dims, ndim);
    for (int d = 0; d < ndim; d++) {
        if (t->dims[d] < 0 || t->dims[d] > INT_MAX)
            return ox_refuse(x, n, "tensor %s: dimension %d is %lld, not in [0, %d]", label, d,
                             (long long)t->dims[d], INT_MAX);
        if (shape[d] >= 0 && t->dims[d] != shape[d])
            return ox_refuse(x, n, "tensor %s: dimension %d is %lld, expected %lld", label, d,
                             (long long)t->dims[d], (long long)shape[d]);
        shape[d] = t->dims[d];
        if (!dc_mul_size(count, (size_t)t->dims[d], &count))
            return ox_refuse(x, n, "tensor %s: its size overflows", label);
    }
    int type = t->has_data_type ? t->data_type : 0;
    if (type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        esize = 4;
    else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE)
        esize = 8;
    else
        return ox_refuse(x, n,
                         "tensor %s has ONNX data type %d; densecl reads FLOAT "
                         "(1) and DOUBLE (11)",
                         label, type);
    size_t bytes;
    if (!dc_mul_size(count, esize, &bytes) || bytes > OX_MAX_TENSOR)
        return ox_refuse(x, n, "tensor %s is larger than %zu bytes", label, (size_t)OX_MAX_TENSOR);
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
        stored = esize == 4 ? t->n_float_data : t->n_double_data;
    if (!external && ((raw && t->raw_data.len != bytes) || (!raw && stored != count)))
        return ox_refuse(x, n,
                         "tensor %s holds %zu bytes of data, but its shape %s "
                         "needs %zu",
                         label, raw ? t->raw_data.len : stored * esize,
                         dc_shape_str(shape, ndim, 0, (char[96]){0}, 96), bytes);
    if (x->dry)
        return DENSECL_OK;
    if (!dc_add_size(x->total, bytes, &x->total) || x->total > OX_MAX_TOTAL)
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
static densecl_status ox_add(ox *x, const char *key, float *data, int ndim, const int64_t *shape)
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

/* Reads input `idx` of n as a tensor and adds it as prefix.suffix. */
static densecl_status ox_take(ox *x, const Onnx__NodeProto *n, size_t idx, const char *prefix,
                              const char *suffix, int ndim, int64_t *shape)
{
    char key[128];
    float *data;
    snprintf(key, sizeof key, "%s.%s", prefix, suffix);
    if (idx >= n->n_input)
        return ox_refuse(x, n, "it has no input %zu (%s)", idx, key);
    densecl_status st = ox_tensor(x, n, ox_in(n, idx), key, ndim, shape, &data);
    if (st != DENSECL_OK)
        return st;
    return ox_add(x, key, data, ndim, shape);
}

/* ------------------------------------------------------------------ the DenseNet walk */

/* The node that produces value (through aliases), which must be op; NULL with the error set. */
static const Onnx__NodeProto *ox_expect(ox *x, const Onnx__NodeProto *user, const char *value,
                                        const char *op, const char *role, densecl_status *st)
{
    const Onnx__NodeProto *n = ox_producer(x, ox_resolve(x, value));
    if (ox_is(n, op) && n->n_input >= 1 && n->n_output >= 1)
        return n;
    if (n)
        *st = ox_refuse(x, n, "a %s (%s) was expected here", op, role);
    else
        *st = ox_refuse(x, user,
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
        return ox_refuse(x, n, "a BatchNormalization (%s) takes 5 inputs, not %zu", prefix,
                         n->n_input);
    /* Opsets before 14 mark training mode by the extra outputs (running statistics). */
    for (size_t i = 1; i < n->n_output; i++)
        if (ox_s(n->output[i])[0])
            return ox_refuse(x, n, "a BatchNormalization in training mode (%s)", prefix);
    if (!ox_attr_int(n, "training_mode", 0, &train) || train != 0)
        return ox_refuse(x, n, "a BatchNormalization in training mode (%s)", prefix);
    double e = eps && eps->has_f ? (double)eps->f : OX_BN_EPS;
    if (!(e >= 0.0 && e < 1.0))
        return ox_refuse(x, n, "epsilon %g (%s)", e, prefix);
    for (int i = 0; i < 4 && st == DENSECL_OK; i++) {
        snprintf(key, sizeof key, "%s.%s", prefix, names[i]);
        st = ox_tensor(x, n, ox_s(n->input[1 + i]), key, 1, shape, &v[i]);
    }
    /* fold.c divides by sqrt(var + 1e-5): another epsilon moves into the variance, exactly
     * (a variance that would become negative is refused later, naming the key). */
    if (st == DENSECL_OK && v[3] && fabs(e - OX_BN_EPS) > 1e-12)
        for (int64_t i = 0; i < shape[0]; i++)
            v[3][i] = (float)((double)v[3][i] + e - OX_BN_EPS);
    for (int i = 0; i < 4; i++) {
        if (st == DENSECL_OK) {
            snprintf(key, sizeof key, "%s.%s", prefix, names[i]);
            st = ox_add(x, key, v[i], 1, shape);
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
        densecl_status st = ox_add(x, key, v, 1, shape); /* frees v on failure */
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
        return ox_refuse(x, n, "a grouped convolution (%s)", prefix);
    if (ap && ap->has_s && !(ap->s.len == 6 && memcmp(ap->s.data, "NOTSET", 6) == 0))
        return ox_refuse(x, n, "auto_pad is not NOTSET (%s)", prefix);
    if (!ox_attr_ints_all(n, "dilations", 2, 1, 1) ||
        !ox_attr_ints_all(n, "strides", 2, s, s == 1) ||
        !ox_attr_ints_all(n, "pads", 4, p, p == 0) || !ox_attr_ints_all(n, "kernel_shape", 2, k, 1))
        return ox_refuse(x, n, "%s should be a %dx%d convolution with stride %d and padding %d",
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
            return ox_refuse(x, n, "%s has a bias, which this DenseNet conv has not", prefix);
        st = ox_tensor(x, n, ox_in(n, 2), prefix, 1, bshape, &b);
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
    const Onnx__NodeProto *n = ox_producer(x, ox_resolve(x, value));
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
        return ox_refuse(x, n, "a Conv needs a weight (%s)", conv_prefix);
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
    const char *v = ox_resolve(x, value);
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
        return ox_refuse(x, cat,
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
        const Onnx__NodeProto *below = ox_producer(x, ox_resolve(x, ox_in(relu, 0)));
        /* Bottleneck: Relu(norm2(Conv1x1(Relu(...)))), norm2 a node or folded into the conv;
         * without: Relu(norm1(x)), where x may itself come from a conv (the CIFAR stem), but
         * never from one that reads a Relu. */
        const Onnx__NodeProto *under = ox_is(below, "BatchNormalization")
                                           ? ox_producer(x, ox_resolve(x, ox_in(below, 0)))
                                           : NULL;
        int bottleneck =
            ox_is(below, "Conv") ||
            (ox_is(under, "Conv") && ox_is(ox_producer(x, ox_resolve(x, ox_in(under, 0))), "Relu"));
        snprintf(conv1, sizeof conv1, "%s.conv1", pre);
        snprintf(conv2, sizeof conv2, "%s.conv2", pre);
        snprintf(norm1, sizeof norm1, "%s.norm1", pre);
        snprintf(norm2, sizeof norm2, "%s.norm2", pre);
        if (c3->n_input < 2) {
            st = ox_refuse(x, c3, "a Conv needs a weight (%s)", bottleneck ? conv2 : conv1);
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
            st = ox_refuse(x, ox_producer(x, ox_resolve(x, v)),
                           "dense layer %s should read the concatenation of the block's input "
                           "and its %d earlier layers",
                           pre, l - 1);
    }
    *in = parts[0];
    *layers_out = layers;
    free(parts);
    return st;
}

/* The whole walk, from the graph's output back to its input. Returns the number of blocks. */
static densecl_status ox_walk(ox *x, int *blocks)
{
    densecl_status st = DENSECL_OK;
    const Onnx__GraphProto *g = x->g;
    int64_t classes = -1, c = -1, transb, v;
    if (g->n_output != 1)
        return ox_refuse(x, NULL, "the graph has %zu outputs; a DenseNet has one (the logits)",
                         g->n_output);
    const char *out = ox_s(g->output[0]->name);
    const Onnx__NodeProto *gemm = ox_expect(x, NULL, out, "Gemm", "classifier", &st);
    if (!gemm)
        return st;
    if (gemm->n_input != 3 || !ox_attr_int(gemm, "transA", 0, &v) || v != 0 ||
        !ox_attr_int(gemm, "transB", 0, &transb) || (transb != 0 && transb != 1))
        return ox_refuse(x, gemm, "the classifier should be Gemm(x, W, b) with transA = 0");
    const Onnx__AttributeProto *alpha = ox_attr(gemm, "alpha"), *beta = ox_attr(gemm, "beta");
    if ((alpha && alpha->f != 1.0f) || (beta && beta->f != 1.0f))
        return ox_refuse(x, gemm, "the classifier's alpha and beta should be 1");
    {
        int64_t shape[2] = {-1, -1}, bshape[1];
        float *w;
        st = ox_tensor(x, gemm, ox_in(gemm, 1), "classifier.weight", 2, shape, &w);
        if (st != DENSECL_OK)
            return st;
        if (!transb && w) { /* [C, classes] -> PyTorch's [classes, C] */
            size_t cnt = (size_t)shape[0] * (size_t)shape[1]; /* ox_tensor checked the product */
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
        if ((st = ox_add(x, "classifier.weight", w, 2, shape)) != DENSECL_OK)
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
        return ox_refuse(x, flat, "the Flatten before the classifier should have axis 1");
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
            return ox_refuse(x, user, "more than %d dense blocks", DENSECL_MAX_BLOCKS);
        if (!x->dry && b < 1)
            return dc_error(DENSECL_ERR_FORMAT, "%s: ONNX graph changed between passes", x->what);
        x->block = b;
        if ((st = ox_block(x, user, value, &in, &layers)) != DENSECL_OK)
            return st;
        const Onnx__NodeProto *n = ox_producer(x, ox_resolve(x, in));
        if (ox_is(n, "AveragePool") && n->n_input >= 1) { /* a transition */
            if (!ox_attr_ints_all(n, "kernel_shape", 2, 2, 0) ||
                !ox_attr_ints_all(n, "strides", 2, 2, 0) || !ox_attr_ints_all(n, "pads", 4, 0, 1) ||
                !ox_attr_int(n, "ceil_mode", 0, &ceil) || ceil != 0)
                return ox_refuse(x, n, "a transition pools 2x2 with stride 2, no padding");
            snprintf(prefix, sizeof prefix, "features.transition%d", b - 1);
            snprintf(conv, sizeof conv, "%s.conv", prefix);
            snprintf(norm, sizeof norm, "%s.norm", prefix);
            const Onnx__NodeProto *tc = ox_expect(x, n, ox_in(n, 0), "Conv", conv, &st);
            if (!tc)
                return st;
            if (tc->n_input < 2)
                return ox_refuse(x, tc, "a Conv needs a weight (%s)", conv);
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
                return ox_refuse(x, n, "the stem's max-pool should be 3x3, stride 2, padding 1");
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
            return ox_refuse(x, n,
                             "the first dense block's input should come from a transition "
                             "(AveragePool) or a stem (MaxPool, or a 3x3 Conv)");
        } else {
            return ox_refuse(x, NULL, "the first dense block reads '%s', which no node makes", in);
        }
        input = ox_resolve(x, input);
        int is_input = 0;
        for (size_t i = 0; i < g->n_input; i++)
            is_input |= strcmp(ox_s(g->input[i]->name), input) == 0 &&
                        ox_find(x->init, x->n_init, input) < 0;
        if (!is_input)
            return ox_refuse(x, ox_producer(x, input),
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

/* protobuf-c decodes nested messages by recursion without a depth limit, so a few MB of nested
 * headers (a node's attribute holding a graph holding a node ...) overflow the stack. Before
 * decoding, this walks the wire format with protobuf-c's own descriptors, only to measure how
 * deep the messages nest: the values are skipped, and protobuf-c still does all the decoding
 * (and refuses what is malformed: this returns 1 for anything it cannot follow). */
#define OX_MAX_DEPTH 32 /* a DenseNet needs 4: model, graph, node or initializer, attribute */

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

static int ox_depth_ok(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, int depth)
{
    size_t i = 0;
    uint64_t key, v;
    if (depth > OX_MAX_DEPTH)
        return 0;
    while (i < len) {
        if (!ox_varint(p, len, &i, &key))
            return 1;
        switch (key & 7) {
        case PROTOBUF_C_WIRE_TYPE_VARINT:
            if (!ox_varint(p, len, &i, &v))
                return 1;
            break;
        case PROTOBUF_C_WIRE_TYPE_64BIT:
            if (len - i < 8)
                return 1;
            i += 8;
            break;
        case PROTOBUF_C_WIRE_TYPE_32BIT:
            if (len - i < 4)
                return 1;
            i += 4;
            break;
        case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: {
            if (!ox_varint(p, len, &i, &v) || v > len - i)
                return 1;
            const ProtobufCFieldDescriptor *f =
                key >> 3 <= UINT32_MAX
                    ? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3))
                    : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                !ox_depth_ok(f->descriptor, p + i, (size_t)v, depth + 1))
                return 0;
            i += (size_t)v;
            break;
        }
        default:
            return 1;
        }
    }
    return 1;
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
    if (!ox_depth_ok(&onnx__model_proto__descriptor, bytes, len, 0))
        return dc_error(DENSECL_ERR_FORMAT, "%s: ONNX messages nested more than %d deep", what,
                        OX_MAX_DEPTH);
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
    if ((st = ox_index(&x)) != DENSECL_OK || (st = ox_metadata(&x, m)) != DENSECL_OK)
        goto done;
    int blocks = 0;
    x.dry = 1;
    if ((st = ox_walk(&x, &blocks)) != DENSECL_OK)
        goto done;
    x.dry = 0;
    st = ox_walk(&x, &blocks);
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
