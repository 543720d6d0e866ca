/* SPDX-License-Identifier: MIT */
/* plan.c - the device-independent op list of a config for one input shape.
 *
 * There is no concatenation: each dense block owns one buffer sized for its final channel count,
 * layer l reads the channel prefix [0, c_l) and writes its k channels at offset c_l. Transitions
 * average-pool the BN+ReLU'd block first and then apply the 1x1 convolution, which is exact (the
 * conv is linear and has no bias) and needs 4x fewer MACs than conv-then-pool. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"

/* A logical buffer: its size and the ops that touch it. */
typedef struct dc_lbuf {
    size_t floats;
    int first, last;
    int phys;
} dc_lbuf;

typedef struct dc_builder {
    dc_plan *p;
    int cap;
    dc_lbuf *lb;
    int n_lb, cap_lb;
    int n;
    densecl_status st;
} dc_builder;

static int dc_lbuf_new(dc_builder *b, int c, int h, int w)
{
    size_t floats = 0;
    if (b->st != DENSECL_OK)
        return -1;
    if (!dc_mul_size((size_t)b->n, (size_t)c, &floats) ||
        !dc_mul_size(floats, (size_t)h, &floats) || !dc_mul_size(floats, (size_t)w, &floats)) {
        b->st = dc_error(DENSECL_ERR_INPUT, "input of batch %d and %dx%d is too large", b->n, h, w);
        return -1;
    }
    if (b->n_lb == b->cap_lb) {
        int cap = b->cap_lb ? 2 * b->cap_lb : 16;
        dc_lbuf *v = realloc(b->lb, (size_t)cap * sizeof *v);
        if (!v) {
            b->st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory building the plan");
            return -1;
        }
        b->lb = v;
        b->cap_lb = cap;
    }
    b->lb[b->n_lb] = (dc_lbuf){floats, INT_MAX, INT_MIN, -1};
    return b->n_lb++;
}

static void dc_touch(dc_builder *b, int buf, int op)
{
    dc_lbuf *l = &b->lb[buf];
    if (op < l->first)
        l->first = op;
    if (op > l->last)
        l->last = op;
}

/* Appends an op; in/out buffers and their layouts are filled by the caller through the result. */
static dc_op *dc_op_new(dc_builder *b, dc_op_kind kind, const char *name)
{
    dc_plan *p = b->p;
    if (b->st != DENSECL_OK)
        return NULL;
    if (p->n_ops == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        dc_op *v = realloc(p->ops, (size_t)cap * sizeof *v);
        if (!v) {
            b->st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory building the plan");
            return NULL;
        }
        p->ops = v;
        b->cap = cap;
    }
    dc_op *op = &p->ops[p->n_ops++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    snprintf(op->name, sizeof op->name, "%s", name);
    return op;
}

/* Sets the op's input and output, checks the output is not empty, counts MACs. */
static void dc_op_io(dc_builder *b, dc_op *op, int in_buf, int in_ctot, int in_c, int in_h,
                     int in_w, int out_buf, int out_ctot, int out_coff, int out_c, int out_h,
                     int out_w)
{
    const dc_plan *p = b->p;
    if (!op)
        return;
    op->in_buf = in_buf;
    op->in_ctot = in_ctot;
    op->in_c = in_c;
    op->in_h = in_h;
    op->in_w = in_w;
    op->out_buf = out_buf;
    op->out_ctot = out_ctot;
    op->out_coff = out_coff;
    op->out_c = out_c;
    op->out_h = out_h;
    op->out_w = out_w;
    if (out_h < 1 || out_w < 1) {
        b->st = DENSECL_ERR_INPUT; /* dc_plan_build words the message: it knows the config */
        return;
    }
    dc_touch(b, in_buf, p->n_ops - 1);
    dc_touch(b, out_buf, p->n_ops - 1);
    if (op->kind == DC_OP_CONV)
        op->macs = (uint64_t)p->n * (uint64_t)out_c * (uint64_t)in_c * (uint64_t)(op->k * op->k) *
                   (uint64_t)out_h * (uint64_t)out_w;
    else if (op->kind == DC_OP_LINEAR)
        op->macs = (uint64_t)p->n * (uint64_t)in_c * (uint64_t)out_c;
}

/* dc_window_side, with 0 for an empty window (the plan names the op where a size reaches 0). */
static int dc_window_out(int n, int k, int s, int pad)
{
    int side = dc_window_side(n, k, s, pad);
    return side > 0 ? side : 0;
}

static void dc_conv(dc_builder *b, const char *name, const char *pre_bn, const char *post_bn, int k,
                    int stride, int pad, int in_buf, int in_ctot, int in_c, int h, int w,
                    int out_buf, int out_ctot, int out_coff, int out_c)
{
    dc_op *op = dc_op_new(b, DC_OP_CONV, name);
    if (!op)
        return;
    snprintf(op->pre_bn, sizeof op->pre_bn, "%s", pre_bn ? pre_bn : "");
    snprintf(op->post_bn, sizeof op->post_bn, "%s", post_bn ? post_bn : "");
    op->k = k;
    op->stride = stride;
    op->pad = pad;
    op->relu = post_bn != NULL;
    op->has_bias = post_bn != NULL;
    dc_op_io(b, op, in_buf, in_ctot, in_c, h, w, out_buf, out_ctot, out_coff, out_c,
             dc_window_out(h, k, stride, pad), dc_window_out(w, k, stride, pad));
}

/* Physical buffers: greedy interval assignment, a logical buffer reuses a physical one whose
 * previous tenant's last op comes strictly before this one's first op. */
static densecl_status dc_assign(dc_builder *b)
{
    dc_plan *p = b->p;
    int *last = calloc((size_t)b->n_lb, sizeof *last);
    p->buf_floats = calloc((size_t)b->n_lb, sizeof *p->buf_floats);
    if (!last || !p->buf_floats) {
        free(last);
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory building the plan");
    }
    /* Visit logical buffers by first use, so each physical buffer's tenants follow in time. */
    int *order = malloc((size_t)b->n_lb * sizeof *order);
    if (!order) {
        free(last);
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory building the plan");
    }
    for (int i = 0; i < b->n_lb; i++) {
        int j = i;
        for (; j > 0 && b->lb[order[j - 1]].first > b->lb[i].first; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    for (int oi = 0; oi < b->n_lb; oi++) {
        dc_lbuf *l = &b->lb[order[oi]];
        int best = -1;
        for (int j = 0; j < p->n_bufs; j++) {
            if (last[j] >= l->first)
                continue;
            /* Prefer a buffer already big enough and the smallest such; else the biggest. */
            if (best < 0)
                best = j;
            else if (p->buf_floats[j] >= l->floats)
                best = (p->buf_floats[best] < l->floats || p->buf_floats[j] < p->buf_floats[best])
                           ? j
                           : best;
            else if (p->buf_floats[best] < l->floats && p->buf_floats[j] > p->buf_floats[best])
                best = j;
        }
        if (best < 0)
            best = p->n_bufs++;
        if (p->buf_floats[best] < l->floats)
            p->buf_floats[best] = l->floats;
        last[best] = l->last;
        l->phys = best;
    }
    free(order);
    free(last);
    for (int i = 0; i < p->n_ops; i++) {
        p->ops[i].in_buf = b->lb[p->ops[i].in_buf].phys;
        p->ops[i].out_buf = b->lb[p->ops[i].out_buf].phys;
    }
    p->input_buf = b->lb[p->input_buf].phys;
    p->output_buf = b->lb[p->output_buf].phys;
    return DENSECL_OK;
}

densecl_status dc_plan_build(const densecl_config *cfg, int n, int h, int w, dc_plan *out)
{
    dc_plan *p = out;
    dc_builder b = {0};
    densecl_status st;
    char name[80], pre[80], post[80];
    int in, bh = h, bw = w, k;

    memset(p, 0, sizeof *p);
    if ((st = densecl_config_check(cfg)) != DENSECL_OK)
        return st;
    if (n < 1 || h < 1 || w < 1)
        return dc_error(DENSECL_ERR_INPUT, "input shape [%d, %d, %d, %d] has an empty dimension", n,
                        cfg->in_channels, h, w);
    /* Far beyond any real image; keeps every int size computation below exact. */
    if (h > 65536 || w > 65536)
        return dc_error(DENSECL_ERR_INPUT, "input %dx%d is larger than densecl's 65536x65536 limit",
                        h, w);
    k = cfg->growth_rate;
    p->n = n;
    p->c = cfg->in_channels;
    p->h = h;
    p->w = w;
    p->classes = cfg->num_classes;
    b.p = p;
    b.n = n;

    int blocks[DENSECL_MAX_BLOCKS];
    in = dc_lbuf_new(&b, cfg->in_channels, h, w);
    p->input_buf = in;
    dc_touch(&b, in, -1); /* written by the upload before the first op */
    if (cfg->stem == DENSECL_STEM_IMAGENET) {
        int sh = dc_window_out(h, 7, 2, 3), sw = dc_window_out(w, 7, 2, 3);
        int stem = dc_lbuf_new(&b, cfg->init_features, sh, sw);
        dc_conv(&b, "features.conv0", NULL, "features.norm0", 7, 2, 3, in, cfg->in_channels,
                cfg->in_channels, h, w, stem, cfg->init_features, 0, cfg->init_features);
        bh = dc_window_out(sh, 3, 2, 1);
        bw = dc_window_out(sw, 3, 2, 1);
        blocks[0] = dc_lbuf_new(&b, dc_block_out_channels(cfg, 0), bh, bw);
        dc_op *op = dc_op_new(&b, DC_OP_MAXPOOL, "features.pool0");
        if (op) {
            op->k = 3;
            op->stride = 2;
            op->pad = 1;
        }
        dc_op_io(&b, op, stem, cfg->init_features, cfg->init_features, sh, sw, blocks[0],
                 dc_block_out_channels(cfg, 0), 0, cfg->init_features, bh, bw);
    } else {
        blocks[0] = dc_lbuf_new(&b, dc_block_out_channels(cfg, 0), h, w);
        dc_conv(&b, "features.conv0", NULL, NULL, 3, 1, 1, in, cfg->in_channels, cfg->in_channels,
                h, w, blocks[0], dc_block_out_channels(cfg, 0), 0, cfg->init_features);
    }

    for (int bi = 0; bi < cfg->num_blocks && b.st == DENSECL_OK; bi++) {
        int ctot = dc_block_out_channels(cfg, bi);
        int c = dc_block_in_channels(cfg, bi);
        int width = cfg->bn_size * k;
        int tmp = cfg->bottleneck ? dc_lbuf_new(&b, width, bh, bw) : -1;
        for (int li = 0; li < cfg->block_layers[bi]; li++, c += k) {
            char layer[64];
            snprintf(layer, sizeof layer, "features.denseblock%d.denselayer%d", bi + 1, li + 1);
            snprintf(pre, sizeof pre, "%s.norm1", layer);
            snprintf(name, sizeof name, "%s.conv1", layer);
            if (cfg->bottleneck) {
                snprintf(post, sizeof post, "%s.norm2", layer);
                dc_conv(&b, name, pre, post, 1, 1, 0, blocks[bi], ctot, c, bh, bw, tmp, width, 0,
                        width);
                snprintf(name, sizeof name, "%s.conv2", layer);
                dc_conv(&b, name, NULL, NULL, 3, 1, 1, tmp, width, width, bh, bw, blocks[bi], ctot,
                        c, k);
            } else {
                dc_conv(&b, name, pre, NULL, 3, 1, 1, blocks[bi], ctot, c, bh, bw, blocks[bi], ctot,
                        c, k);
            }
        }
        if (bi + 1 == cfg->num_blocks)
            break;
        /* Transition: BN-ReLU-avgpool into a temporary, then the 1x1 conv into the next block. */
        int ph = bh / 2, pw = bw / 2;
        int pooled = dc_lbuf_new(&b, ctot, ph > 0 ? ph : 1, pw > 0 ? pw : 1);
        snprintf(name, sizeof name, "features.transition%d.pool", bi + 1);
        dc_op *op = dc_op_new(&b, DC_OP_BNRELU_AVGPOOL, name);
        if (op) {
            snprintf(op->pre_bn, sizeof op->pre_bn, "features.transition%d.norm", bi + 1);
            op->k = 2;
            op->stride = 2;
        }
        dc_op_io(&b, op, blocks[bi], ctot, ctot, bh, bw, pooled, ctot, 0, ctot, ph, pw);
        if (b.st != DENSECL_OK)
            break;
        blocks[bi + 1] = dc_lbuf_new(&b, dc_block_out_channels(cfg, bi + 1), ph, pw);
        snprintf(name, sizeof name, "features.transition%d.conv", bi + 1);
        dc_conv(&b, name, NULL, NULL, 1, 1, 0, pooled, ctot, ctot, ph, pw, blocks[bi + 1],
                dc_block_out_channels(cfg, bi + 1), 0, dc_block_in_channels(cfg, bi + 1));
        bh = ph;
        bw = pw;
    }

    if (b.st == DENSECL_OK) {
        int last = cfg->num_blocks - 1, cf = dc_block_out_channels(cfg, last);
        int gap = dc_lbuf_new(&b, cf, 1, 1);
        int logits = dc_lbuf_new(&b, cfg->num_classes, 1, 1);
        dc_op *op = dc_op_new(&b, DC_OP_BNRELU_GAP, "features.norm5");
        if (op)
            snprintf(op->pre_bn, sizeof op->pre_bn, "features.norm5");
        dc_op_io(&b, op, blocks[last], cf, cf, bh, bw, gap, cf, 0, cf, 1, 1);
        op = dc_op_new(&b, DC_OP_LINEAR, "classifier");
        if (op)
            op->has_bias = 1;
        dc_op_io(&b, op, gap, cf, cf, 1, 1, logits, cfg->num_classes, 0, cfg->num_classes, 1, 1);
        p->output_buf = logits;
        if (b.st == DENSECL_OK)
            dc_touch(&b, logits, p->n_ops); /* read back after the last op */
    }

    if (b.st == DENSECL_ERR_INPUT && p->n_ops > 0) {
        const dc_op *op = &p->ops[p->n_ops - 1];
        int min = densecl_config_min_size(cfg);
        b.st = dc_error(DENSECL_ERR_INPUT,
                        "input %dx%d is too small for this model: %s would output %dx%d "
                        "(the smallest input this model accepts is %dx%d)",
                        h, w, op->name, op->out_h, op->out_w, min, min);
    }
    if (b.st == DENSECL_OK)
        b.st = dc_assign(&b);
    if (b.st == DENSECL_OK)
        for (int i = 0; i < p->n_ops; i++)
            p->macs += p->ops[i].macs;
    free(b.lb);
    if (b.st != DENSECL_OK)
        dc_plan_free(p);
    return b.st;
}

void dc_plan_free(dc_plan *p)
{
    if (!p)
        return;
    free(p->ops);
    free(p->buf_floats);
    memset(p, 0, sizeof *p);
}

size_t dc_plan_floats(const dc_plan *p)
{
    size_t total = 0;
    for (int i = 0; i < p->n_bufs; i++)
        total += p->buf_floats[i];
    return total;
}

int dc_window_side(int in, int k, int stride, int pad)
{
    if (in + 2 * pad < k)
        return -1;
    return (in + 2 * pad - k) / stride + 1;
}
