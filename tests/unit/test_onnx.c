/* SPDX-License-Identifier: MIT */
/* test_onnx.c - the ONNX reader and the weights file sniffing, without OpenCL.
 *
 *   test_onnx CORPUS_DIR   (tests/fuzz/corpus/onnx: tiny DenseNets exported by torch 1.13)
 *
 * Each export parses into the canonical tensors of the config it was made from (the folded BN
 * coming back as an identity BN whose beta is the conv's bias); every truncation of a file is
 * refused without a crash; the first bytes of each known format are sniffed as that format,
 * a safetensors header whose length starts like a pickle included. FLOAT16 and BFLOAT16
 * initializers (raw_data or int32_data) are widened to exactly the float32 values their bits
 * mean (decoded here independently of the reader's code). */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "slurp.h"
#include "plan/plan.h"
#include "onnx.pb-c.h"

/* dir/name, slurped. */
static unsigned char *slurp_in(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return slurp(path, len);
}

/* The export parses, and infers the config it was made from. */
static void check_export(const char *dir, const char *name, const densecl_config *want)
{
    size_t len;
    unsigned char *buf = slurp_in(dir, name, &len);
    dc_tensor_set set;
    densecl_config cfg;
    CHECKF(buf != NULL, "cannot read %s/%s", dir, name);
    if (!buf)
        return;
    densecl_status st = dc_onnx_parse(buf, len, name, NULL, &set);
    CHECKF(st == DENSECL_OK, "%s: %s", name, densecl_last_error());
    if (st == DENSECL_OK) {
        memset(&cfg, 0, sizeof cfg);
        st = dc_config_infer(&set, &cfg);
        CHECKF(st == DENSECL_OK, "%s: %s", name, densecl_last_error());
        CHECKF(cfg.growth_rate == want->growth_rate && cfg.num_blocks == want->num_blocks &&
                   cfg.init_features == want->init_features && cfg.bottleneck == want->bottleneck &&
                   cfg.stem == want->stem && cfg.in_channels == want->in_channels &&
                   cfg.num_classes == want->num_classes,
               "%s: inferred k=%d blocks=%d init=%d bottleneck=%d stem=%d in=%d classes=%d", name,
               cfg.growth_rate, cfg.num_blocks, cfg.init_features, cfg.bottleneck, (int)cfg.stem,
               cfg.in_channels, cfg.num_classes);
        CHECKF(dc_config_match(&cfg, &set, name) == DENSECL_OK, "%s: %s", name,
               densecl_last_error());
        /* The exporter folds norm2 into conv1: an identity BN comes back. */
        if (want->bottleneck) {
            const dc_tensor *v =
                dc_tensor_find(&set, "features.denseblock1.denselayer1.norm2.running_var");
            const dc_tensor *g =
                dc_tensor_find(&set, "features.denseblock1.denselayer1.norm2.weight");
            CHECK(v && g && v->data && g->data && g->data[0] == 1.0f &&
                  v->data[0] == (float)(1.0 - 1e-5));
        }
        dc_tensor_set_free(&set);
    }
    /* Every truncation is refused (or, at the end, accepted), never a crash; the set is empty
     * after a refusal. */
    for (size_t cut = 0; cut < len; cut += 1 + cut / 16) {
        st = dc_onnx_parse(buf, cut, name, NULL, &set);
        CHECKF(st == DENSECL_ERR_FORMAT, "%s cut at %zu: status %d", name, cut, (int)st);
        CHECK(set.count == 0 && set.t == NULL);
        dc_tensor_set_free(&set);
    }
    free(buf);
}

/* float -> IEEE half by truncation (the test's own; |x| < 65536 here), and back with ldexp:
 * an independent reference for the reader's exact widening. */
static uint16_t to_half(float x, int *ok)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    uint16_t sign = (uint16_t)((b >> 31) << 15);
    int e = (int)((b >> 23) & 0xff) - 127;
    float a = fabsf(x);
    if (a == 0.0f)
        return sign;
    if (e > 15 || !isfinite(x)) {
        *ok = 0;
        return sign;
    }
    if (e >= -14)
        return (uint16_t)(sign | (uint16_t)((e + 15) << 10) | (uint16_t)((b & 0x7fffff) >> 13));
    return (uint16_t)(sign | (uint16_t)(a * 0x1p24f)); /* subnormal half */
}

static float half_value(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (float)((h & 0x8000) ? -v : v);
}

static float bf16_value(uint16_t h)
{
    /* top 16 bits of a float32: sign, 8-bit exponent, 7-bit mantissa */
    int e = (h >> 7) & 0xff, m = h & 0x7f;
    double v = e == 0 ? ldexp(m, -133) : ldexp(128 + m, e - 134);
    return (float)((h & 0x8000) ? -v : v);
}

static uint16_t to_bf16(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return (uint16_t)(b >> 16);
}

/* name's FLOAT initializers rewritten as FLOAT16 (bf16 == 0) or BFLOAT16, every other one in
 * int32_data rather than raw_data; the file parses to the quantized values exactly. */
static void check_half(const char *dir, const char *name, int bf16)
{
    size_t len;
    unsigned char *buf = slurp_in(dir, name, &len);
    dc_tensor_set orig, got;
    CHECKF(buf != NULL, "cannot read %s/%s", dir, name);
    Onnx__ModelProto *m = buf ? onnx__model_proto__unpack(NULL, len, buf) : NULL;
    CHECK(m != NULL && m->graph != NULL);
    if (!m || !m->graph || dc_onnx_parse(buf, len, name, NULL, &orig) != DENSECL_OK) {
        CHECKF(0, "%s: %s", name, densecl_last_error());
        free(buf);
        return;
    }
    Onnx__GraphProto *g = m->graph;
    size_t n = g->n_initializer, converted = 0;
    ProtobufCBinaryData *saved = calloc(n, sizeof *saved);
    void **mine = calloc(n, sizeof *mine);
    int *types = calloc(n, sizeof *types), ok = 1;
    for (size_t i = 0; saved && mine && types && i < n; i++) {
        Onnx__TensorProto *t = g->initializer[i];
        types[i] = t->data_type;
        saved[i] = t->raw_data;
        if (t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || !t->has_raw_data ||
            t->raw_data.len % 4)
            continue;
        size_t count = t->raw_data.len / 4;
        uint16_t *h = malloc(count * sizeof *h + 1);
        int32_t *w = malloc(count * sizeof *w + 1);
        for (size_t k = 0; h && w && k < count; k++) {
            uint32_t u = (uint32_t)dc_load_le(t->raw_data.data + 4 * k, 4);
            float x;
            memcpy(&x, &u, sizeof x);
            uint16_t v = bf16 ? to_bf16(x) : to_half(x, &ok);
            h[k] = v; /* the machine is little-endian, as raw_data */
            w[k] = v;
        }
        t->data_type =
            bf16 ? ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16 : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
        if (i % 2) {
            t->has_raw_data = 0;
            t->raw_data.len = 0;
            t->raw_data.data = NULL;
            t->n_int32_data = count;
            t->int32_data = w;
            mine[i] = h;
        } else {
            t->raw_data.len = count * 2;
            t->raw_data.data = (uint8_t *)h;
            mine[i] = w;
        }
        converted++;
    }
    CHECKF(ok && converted > 2, "%s: %zu initializers converted", name, converted);
    size_t len2 = onnx__model_proto__get_packed_size(m);
    unsigned char *buf2 = malloc(len2 + 1);
    onnx__model_proto__pack(m, buf2);
    /* back as unpacked, for free_unpacked; our buffers freed here */
    for (size_t i = 0; i < n; i++) {
        Onnx__TensorProto *t = g->initializer[i];
        if (types[i] == t->data_type)
            continue;
        free(t->raw_data.data == saved[i].data ? NULL : t->raw_data.data);
        free(t->int32_data);
        free(mine[i]);
        t->int32_data = NULL;
        t->n_int32_data = 0;
        t->raw_data = saved[i];
        t->has_raw_data = 1;
        t->data_type = types[i];
    }
    onnx__model_proto__free_unpacked(m, NULL);
    free(saved);
    free(mine);
    free(types);
    densecl_status st = dc_onnx_parse(buf2, len2, name, NULL, &got);
    CHECKF(st == DENSECL_OK, "%s as %s: %s", name, bf16 ? "BFLOAT16" : "FLOAT16",
           densecl_last_error());
    size_t values = 0, changed = 0, wrong = 0;
    for (int i = 0; st == DENSECL_OK && i < got.count; i++) {
        const dc_tensor *a = &got.t[i], *o = dc_tensor_find(&orig, a->key);
        CHECKF(o && o->ndim == a->ndim, "%s: tensor %s", name, a->key);
        if (!o || !a->data || !o->data)
            continue;
        size_t cnt = 1;
        for (int d = 0; d < a->ndim; d++)
            cnt *= (size_t)a->shape[d];
        for (size_t k = 0; k < cnt; k++) {
            int ok2 = 1;
            float q =
                bf16 ? bf16_value(to_bf16(o->data[k])) : half_value(to_half(o->data[k], &ok2));
            values++;
            changed += a->data[k] != o->data[k];
            /* a value from a converted initializer is quantized; one the reader made (an
             * identity BN's 1 - eps) or a Constant node's stays */
            if (!(a->data[k] == q || a->data[k] == o->data[k]) && wrong++ < 3)
                fprintf(stderr, "%s %s[%zu]: %.9g from %.9g, want %.9g\n", name, a->key, k,
                        (double)a->data[k], (double)o->data[k], (double)q);
        }
    }
    CHECKF(wrong == 0 && changed * 2 > values, "%s as %s: %zu of %zu values wrong, %zu changed",
           name, bf16 ? "BFLOAT16" : "FLOAT16", wrong, values, changed);
    dc_tensor_set_free(&got);
    dc_tensor_set_free(&orig);
    free(buf2);
    free(buf);
}

/* name with every BatchNormalization's epsilon set to 1e-3 (torch's default is the 1e-5 the
 * fold uses): each such BN's running_var comes back as var + 1e-3 - 1e-5 (so that the fold's
 * sqrt(var + 1e-5) is the node's sqrt(var + 1e-3)), within float rounding; every other tensor as
 * it was. */
static void check_epsilon(const char *dir, const char *name)
{
    size_t len;
    unsigned char *buf = slurp_in(dir, name, &len);
    dc_tensor_set orig, got;
    CHECKF(buf != NULL, "cannot read %s/%s", dir, name);
    Onnx__ModelProto *m = buf ? onnx__model_proto__unpack(NULL, len, buf) : NULL;
    if (!m || !m->graph || dc_onnx_parse(buf, len, name, NULL, &orig) != DENSECL_OK) {
        CHECKF(0, "%s: %s", name, densecl_last_error());
        if (m)
            onnx__model_proto__free_unpacked(m, NULL);
        free(buf);
        return;
    }
    free(buf);
    int nodes = 0;
    for (size_t i = 0; i < m->graph->n_node; i++) {
        Onnx__NodeProto *n = m->graph->node[i];
        if (strcmp(n->op_type, "BatchNormalization") != 0)
            continue;
        for (size_t a = 0; a < n->n_attribute; a++)
            if (strcmp(n->attribute[a]->name, "epsilon") == 0 && n->attribute[a]->has_f) {
                n->attribute[a]->f = 1e-3f;
                nodes++;
            }
    }
    size_t len2 = onnx__model_proto__get_packed_size(m);
    unsigned char *buf2 = malloc(len2 + 1);
    if (buf2)
        onnx__model_proto__pack(m, buf2);
    onnx__model_proto__free_unpacked(m, NULL);
    densecl_status st = buf2 ? dc_onnx_parse(buf2, len2, name, NULL, &got) : DENSECL_ERR_NO_MEMORY;
    CHECKF(nodes > 0 && st == DENSECL_OK, "%s with epsilon 1e-3 on %d BN nodes: %s", name, nodes,
           densecl_last_error());
    int moved = 0, wrong = 0;
    for (int i = 0; st == DENSECL_OK && i < got.count; i++) {
        const dc_tensor *a = &got.t[i], *o = dc_tensor_find(&orig, a->key);
        size_t cnt = 1;
        for (int d = 0; d < a->ndim; d++)
            cnt *= (size_t)a->shape[d];
        const size_t klen = strlen(a->key);
        const int var = klen > 12 && strcmp(a->key + klen - 12, ".running_var") == 0;
        if (!o || !a->data || !o->data)
            continue;
        for (size_t k = 0; k < cnt; k++) {
            /* an identity BN (a conv's folded one) is the reader's and keeps 1 - 1e-5 */
            const int identity = var && o->data[k] == (float)(1.0 - 1e-5);
            const double want = var && !identity ? (double)o->data[k] + 1e-3 - 1e-5 : o->data[k];
            if (!(fabs(a->data[k] - want) <= 0x1p-23 * fabs(want)) && wrong++ < 3)
                fprintf(stderr, "%s %s[%zu]: %.9g, want %.9g\n", name, a->key, k,
                        (double)a->data[k], want);
            moved += var && !identity;
        }
    }
    CHECKF(wrong == 0 && moved > 0, "%s with epsilon 1e-3: %d values wrong, %d variances moved",
           name, wrong, moved);
    if (st == DENSECL_OK)
        dc_tensor_set_free(&got);
    dc_tensor_set_free(&orig);
    free(buf2);
}

static void check_sniff(const char *what, const void *head, size_t len, dc_file_kind want,
                        const char *says)
{
    const char *desc = NULL;
    dc_file_kind got = dc_weights_sniff(head, len, &desc);
    CHECKF(got == want, "%s: sniffed as %d, want %d", what, (int)got, (int)want);
    if (says)
        CHECKF(desc && strstr(desc, says), "%s: described as '%s', want '%s'", what,
               desc ? desc : "(null)", says);
}

/* The ONNX checker's structural rules (issue 25 item 9): each broken copy of a valid export is
 * refused, in one line naming the tensor or the node. */
static void check_invalid(const char *dir)
{
    size_t len;
    unsigned char *buf = slurp_in(dir, "cifar_op13_nofold.onnx", &len);
    CHECK(buf != NULL);
    for (int c = 0; buf && c < 8; c++) {
        Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
        Onnx__ModelProto *m2 = onnx__model_proto__unpack(NULL, len, buf);
        CHECK(m && m2 && m->graph && m->graph->n_initializer && m->graph->n_node > 2);
        if (!m || !m2 || !m->graph || !m->graph->n_initializer || m->graph->n_node <= 2)
            break;
        Onnx__GraphProto *g = m->graph;
        Onnx__TensorProto *t = g->initializer[0];
        Onnx__NodeProto *conv = NULL;
        size_t ci = 0;
        for (size_t i = 0; i < g->n_node && !conv; i++)
            if (strcmp(g->node[i]->op_type, "Conv") == 0 && g->node[i]->n_attribute > 1)
                conv = g->node[ci = i];
        CHECK(conv != NULL && t->has_raw_data && t->raw_data.len >= 4);
        if (!conv || !t->has_raw_data || t->raw_data.len < 4)
            break;
        char want[512];
        switch (c) {
        case 0: /* raw_data and float_data both: which holds the values? */
            t->n_float_data = t->raw_data.len / 4;
            t->float_data = calloc(t->n_float_data, sizeof(float));
            snprintf(want, sizeof want,
                     "tensor '%s' holds its values twice, in float_data and raw_data", t->name);
            break;
        case 1: { /* an attribute given twice: which one counts? */
            Onnx__AttributeProto **a =
                realloc(conv->attribute, (conv->n_attribute + 1) * sizeof *a);
            conv->attribute = a;
            a[conv->n_attribute++] = m2->graph->node[ci]->attribute[0];
            m2->graph->node[ci]->attribute[0] = NULL; /* now m's */
            snprintf(want, sizeof want, "'%s' (Conv): attribute '%s' is given twice", conv->name,
                     a[0]->name);
            break;
        }
        case 2: { /* the last node first: it reads a value no node made yet */
            Onnx__NodeProto *last = g->node[g->n_node - 1];
            memmove(g->node + 1, g->node, (g->n_node - 1) * sizeof *g->node);
            g->node[0] = last;
            snprintf(want, sizeof want, "'%s' (%s) reads", last->name, last->op_type);
            strcat(want, "\t");
            strcat(want, "not topologically sorted");
            break;
        }
        case 3: /* an INTS attribute that says it is an INT */
            for (size_t j = 0; j < conv->n_attribute; j++)
                if (conv->attribute[j]->n_ints) {
                    conv->attribute[j]->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
                    snprintf(want, sizeof want,
                             "attribute '%s' is of type 2 but holds a value "
                             "of type 7",
                             conv->attribute[j]->name);
                    break;
                }
            break;
        case 4:
            m->has_ir_version = 0;
            snprintf(want, sizeof want, "the model has no ir_version");
            break;
        case 5: /* an input nothing defines */
            free(conv->input[0]);
            conv->input[0] = strdup("nowhere");
            snprintf(want, sizeof want,
                     "reads 'nowhere', which no graph input, initializer or "
                     "node defines");
            break;
        case 6: /* external data and raw_data both */
            t->has_data_location = 1;
            t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
            snprintf(want, sizeof want,
                     "tensor '%s' keeps its data externally and also in "
                     "raw_data",
                     t->name);
            break;
        case 7: /* a tensor without a data type */
            t->has_data_type = 0;
            snprintf(want, sizeof want, "tensor '%s' has no data type", t->name);
            break;
        }
        size_t n = onnx__model_proto__get_packed_size(m);
        unsigned char *bad = malloc(n);
        onnx__model_proto__pack(m, bad);
        dc_tensor_set set;
        densecl_status st = dc_onnx_parse(bad, n, "bad.onnx", NULL, &set);
        const char *e = densecl_last_error();
        char *tab = strchr(want, '\t');
        if (tab)
            *tab = '\0';
        CHECKF(st == DENSECL_ERR_FORMAT &&
                   strstr(e, "bad.onnx: invalid ONNX (the ONNX checker refuses it too): ") &&
                   strstr(e, want) && (!tab || strstr(e, tab + 1)) && !strchr(e, '\n'),
               "case %d: want '%s': %s", c, want, e);
        free(bad);
        onnx__model_proto__free_unpacked(m, NULL);
        onnx__model_proto__free_unpacked(m2, NULL);
    }
    free(buf);
}

static void put_varint(unsigned char **p, uint64_t v)
{
    do {
        *(*p)++ = (unsigned char)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
}

/* A small file that would decode into far more memory (issue 25 item 6: 100 MB of empty
 * repeated strings took 3.6 GB, 10 MB of empty nodes 0.76 GB) is refused before protobuf-c
 * decodes it. Here 16 MB each: a node of 8 million empty inputs (about 0.6 GB to decode), and a
 * graph of 8 million empty nodes. */
static void check_amplification(int empty_nodes)
{
    const size_t fields = (size_t)8 << 20, body = 2 * fields;
    unsigned char *file = malloc(body + 32), *p = file;
    CHECK(file != NULL);
    if (!file)
        return;
    *p++ = 0x08; /* ir_version (1): 8 */
    *p++ = 8;
    *p++ = 0x3a; /* graph (7), length-delimited */
    if (empty_nodes) {
        put_varint(&p, body);
    } else {
        put_varint(&p, 1 + 4 + body); /* one node: its tag, its length (4 bytes), its fields */
        *p++ = 0x0a;                  /* node (1) */
        put_varint(&p, body);
    }
    for (size_t i = 0; i < fields; i++) {
        *p++ = 0x0a; /* GraphProto.node or NodeProto.input (both field 1), empty */
        *p++ = 0x00;
    }
    dc_tensor_set set;
    densecl_status st = dc_onnx_parse(file, (size_t)(p - file), "flood.onnx", NULL, &set);
    CHECKF(st == DENSECL_ERR_FORMAT &&
               strstr(densecl_last_error(), "flood.onnx: decoding this ONNX file would take about"),
           "%s", densecl_last_error());
    free(file);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    densecl_config cifar = {2, 2, {1, 1}, 4, 1, 2, 0.5f, DENSECL_STEM_CIFAR, 1, 3};
    densecl_config imagenet = {2, 2, {1, 1}, 4, 1, 2, 0.5f, DENSECL_STEM_IMAGENET, 3, 3};
    densecl_config plain = {2, 1, {2}, 4, 0, 4, 1.0f, DENSECL_STEM_CIFAR, 1, 3};
    check_export(dir, "cifar_op11.onnx", &cifar);
    check_export(dir, "cifar_op13_nofold.onnx", &cifar);
    check_export(dir, "cifar_op17_dyn.onnx", &cifar);
    check_export(dir, "imagenet_op13.onnx", &imagenet);
    check_export(dir, "plain_op13.onnx", &plain);
    check_half(dir, "cifar_op13_nofold.onnx", 0);
    check_half(dir, "imagenet_op13.onnx", 1);
    check_invalid(dir);
    check_amplification(0);
    check_amplification(1);
    check_epsilon(dir, "cifar_op13_nofold.onnx");
    check_epsilon(dir, "imagenet_op13.onnx");

    /* Not a DenseNet: refused naming a node. */
    size_t len;
    dc_tensor_set set;
    unsigned char *buf = slurp_in(dir, "not_densenet.onnx", &len);
    CHECK(buf != NULL);
    if (buf) {
        CHECK(dc_onnx_parse(buf, len, "x", NULL, &set) == DENSECL_ERR_FORMAT);
        CHECKF(strstr(densecl_last_error(), "does not fit a DenseNet") &&
                   strstr(densecl_last_error(), "(Relu)"),
               "%s", densecl_last_error());
        /* The sniffer sends an ONNX file to the ONNX reader. */
        check_sniff("onnx", buf, len < 512 ? len : 512, DC_FILE_ONNX, NULL);
        free(buf);
    }

    /* A safetensors header of 640 bytes starts with 0x80 0x02, as a pickle does. */
    unsigned char st[16] = {0x80, 0x02, 0, 0, 0, 0, 0, 0, '{'};
    check_sniff("safetensors 640", st, 9, DC_FILE_SAFETENSORS, NULL);
    check_sniff("pickle",
                "\x80\x02\x8a\x0a"
                "l\xfc\x9c"
                "F\xf9 j\xa8P\x19.",
                16, DC_FILE_OTHER, "pickle");
    static const unsigned char zip_pt[] = "PK\x03\x04\x00\x00\x08\x08\x00\x00\x00\x00\x00\x00"
                                          "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x13\x00"
                                          "\x00\x00state_dict/data.pkl";
    check_sniff("torch zip", zip_pt, sizeof zip_pt - 1, DC_FILE_OTHER, "PyTorch");
    static const unsigned char zip_npz[] =
        "PK\x03\x04\x00\x00\x08\x08\x00\x00\x00\x00\x00\x00"
        "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00"
        "\x00\x00w.npy";
    check_sniff("npz", zip_npz, sizeof zip_npz - 1, DC_FILE_OTHER, ".npz");
    check_sniff("hdf5", "\x89HDF\r\n\x1a\n", 8, DC_FILE_OTHER, "HDF5");
    check_sniff("tflite", "\x1c\x00\x00\x00TFL3", 8, DC_FILE_OTHER, "TensorFlow Lite");
    /* Too short or unknown: the safetensors reader says what is wrong. */
    check_sniff("empty", "", 0, DC_FILE_SAFETENSORS, NULL);
    check_sniff("text", "hello world", 11, DC_FILE_SAFETENSORS, NULL);
    return check_summary();
}
