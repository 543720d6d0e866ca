/* SPDX-License-Identifier: MIT */
/* The plan, without OpenCL: shapes, channel offsets, buffer reuse and liveness. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "plan/plan.h"

/* What a physical buffer holds at a point of the schedule: its layout and which channels of it
 * have been written since that layout began. */
typedef struct tenant {
    int ctot, h, w;
    unsigned char *written; /* [ctot] */
} tenant;

/* Replays the plan: every read must see channels written under the same layout (so buffer reuse
 * never clobbers live data and concatenation by offset is complete), every write must stay inside
 * its buffer and never overwrite a channel twice in one layout. */
static void simulate(const char *what, const dc_plan *p)
{
    tenant *t = calloc((size_t)p->n_bufs, sizeof *t);
    int bad = 0;
    t[p->input_buf].ctot = p->c;
    t[p->input_buf].h = p->h;
    t[p->input_buf].w = p->w;
    t[p->input_buf].written = malloc((size_t)p->c);
    memset(t[p->input_buf].written, 1, (size_t)p->c);
    for (int i = 0; i < p->n_ops && !bad; i++) {
        const dc_op *op = &p->ops[i];
        tenant *in = &t[op->in_buf], *out = &t[op->out_buf];
        size_t in_floats = (size_t)p->n * op->in_ctot * op->in_h * op->in_w;
        size_t out_floats = (size_t)p->n * op->out_ctot * op->out_h * op->out_w;
        CHECKF(in_floats <= p->buf_floats[op->in_buf], "%s: %s reads past its buffer", what,
               op->name);
        CHECKF(out_floats <= p->buf_floats[op->out_buf], "%s: %s writes past its buffer", what,
               op->name);
        CHECKF(op->in_c <= op->in_ctot && op->out_coff + op->out_c <= op->out_ctot,
               "%s: %s channel ranges", what, op->name);
        /* Read: same layout, every channel of the prefix written. */
        int ok = in->written && in->ctot == op->in_ctot && in->h == op->in_h && in->w == op->in_w;
        for (int c = 0; ok && c < op->in_c; c++)
            ok = in->written[c];
        CHECKF(ok, "%s: %s reads channels [0, %d) that are not all live", what, op->name, op->in_c);
        bad |= !ok;
        if (op->in_buf == op->out_buf)
            CHECKF(op->kind == DC_OP_CONV && op->out_coff >= op->in_c,
                   "%s: %s overwrites its own input", what, op->name);
        /* Write: a new layout, or a write of the whole buffer (the bottleneck temporary, once
         * per layer), starts a new tenant. */
        if (!out->written || out->ctot != op->out_ctot || out->h != op->out_h ||
            out->w != op->out_w || (op->out_coff == 0 && op->out_c == op->out_ctot)) {
            free(out->written);
            out->ctot = op->out_ctot;
            out->h = op->out_h;
            out->w = op->out_w;
            out->written = calloc((size_t)op->out_ctot, 1);
        }
        int twice = 0;
        for (int c = op->out_coff; c < op->out_coff + op->out_c; c++) {
            twice |= out->written[c];
            out->written[c] = 1;
        }
        CHECKF(!twice, "%s: %s writes channels already written", what, op->name);
        bad |= twice;
    }
    CHECK(p->ops[p->n_ops - 1].out_buf == p->output_buf);
    for (int i = 0; i < p->n_bufs; i++)
        free(t[i].written);
    free(t);
}

static void test_densenet121(void)
{
    densecl_config cfg;
    dc_plan p;
    densecl_config_preset("densenet121", &cfg);
    CHECK(dc_plan_build(&cfg, 2, 224, 224, &p) == DENSECL_OK);
    /* stem conv + pool, 58 layers x 2 convs, 3 transitions x (pool + conv), gap, classifier */
    CHECKF(p.n_ops == 2 + 58 * 2 + 3 * 2 + 2, "%d ops", p.n_ops);
    CHECK(p.ops[0].out_h == 112 && p.ops[1].out_h == 56 && p.ops[1].out_ctot == 256);
    CHECK(strcmp(p.ops[0].post_bn, "features.norm0") == 0 && p.ops[0].relu && p.ops[0].has_bias);
    /* Layer 3 of block 1 reads 64+2*32 channels and writes 32 at offset 128. */
    const dc_op *l3c1 = &p.ops[2 + 4], *l3c2 = &p.ops[2 + 5];
    CHECK(strcmp(l3c1->name, "features.denseblock1.denselayer3.conv1") == 0);
    CHECK(l3c1->in_c == 128 && l3c1->in_ctot == 256 && l3c1->out_c == 128 && l3c1->k == 1);
    CHECK(strcmp(l3c1->pre_bn, "features.denseblock1.denselayer3.norm1") == 0);
    CHECK(strcmp(l3c1->post_bn, "features.denseblock1.denselayer3.norm2") == 0);
    CHECK(l3c2->out_coff == 128 && l3c2->out_c == 32 && l3c2->k == 3 && l3c2->pad == 1);
    CHECK(l3c2->out_buf == l3c1->in_buf);
    /* Transition 1: pool first (BN+ReLU prologue), then the 1x1 into block 2 at offset 0. */
    const dc_op *tp = &p.ops[2 + 12], *tc = &p.ops[2 + 13];
    CHECK(tp->kind == DC_OP_BNRELU_AVGPOOL && tp->out_h == 28 && tp->out_c == 256);
    CHECK(tc->kind == DC_OP_CONV && tc->in_c == 256 && tc->out_c == 128 && tc->out_ctot == 512);
    CHECK(p.ops[p.n_ops - 1].kind == DC_OP_LINEAR && p.ops[p.n_ops - 1].out_c == 1000);
    CHECK(p.ops[p.n_ops - 2].kind == DC_OP_BNRELU_GAP && p.ops[p.n_ops - 2].in_c == 1024);
    /* Reordered transitions do 4x fewer MACs than the model counts for them. */
    CHECK(p.macs < 2 * densecl_config_macs(&cfg, 224, 224));
    CHECK(p.macs > 2 * densecl_config_macs(&cfg, 224, 224) * 9 / 10);
    simulate("densenet121", &p);
    /* Reuse: far fewer physical buffers than logical ones (input, stem, 4 blocks, 4 bottleneck
     * temporaries, 3 pooled, gap, logits = 15), and no more than the two largest live at once. */
    CHECKF(p.n_bufs <= 6, "%d buffers", p.n_bufs);
    size_t mib = dc_plan_floats(&p) * 4 >> 20;
    CHECKF(mib < 40, "%zu MiB of activations for batch 2", mib);
    dc_plan_free(&p);
}

static void test_shapes(void)
{
    static const char *const models[] = {"densenet161", "densenet169",         "densenet201",
                                         "densenet264", "densenet-bc-100-k12", "densenet-40-k12"};
    static const int sizes[][3] = {{1, 29, 29}, {3, 33, 45}, {2, 64, 31}, {1, 224, 224}};
    for (size_t m = 0; m < DC_ARRAY_LEN(models); m++)
        for (size_t s = 0; s < DC_ARRAY_LEN(sizes); s++) {
            densecl_config cfg;
            dc_plan p;
            densecl_config_preset(models[m], &cfg);
            CHECK(dc_plan_build(&cfg, sizes[s][0], sizes[s][1], sizes[s][2], &p) == DENSECL_OK);
            simulate(models[m], &p);
            dc_plan_free(&p);
        }
}

static void test_too_small(void)
{
    densecl_config cfg;
    dc_plan p;
    densecl_config_preset("densenet121", &cfg);
    CHECK(dc_plan_build(&cfg, 1, 28, 28, &p) == DENSECL_ERR_INPUT);
    CHECKF(strstr(densecl_last_error(), "29x29") != NULL, "%s", densecl_last_error());
    CHECK(dc_plan_build(&cfg, 1, 29, 64, &p) == DENSECL_OK);
    dc_plan_free(&p);
    CHECK(dc_plan_build(&cfg, 1, 64, 20, &p) == DENSECL_ERR_INPUT);
    CHECK(dc_plan_build(&cfg, 0, 64, 64, &p) == DENSECL_ERR_INPUT);
    densecl_config_preset("densenet-bc-100-k12", &cfg);
    CHECK(densecl_config_min_size(&cfg) == 4);
    CHECK(dc_plan_build(&cfg, 1, 3, 3, &p) == DENSECL_ERR_INPUT);
    CHECK(dc_plan_build(&cfg, 1, 4, 4, &p) == DENSECL_OK);
    dc_plan_free(&p);
    /* Sizes whose products overflow are refused, not wrapped. */
    CHECK(dc_plan_build(&cfg, 1 << 30, 1 << 15, 1 << 15, &p) == DENSECL_ERR_INPUT);
}

int main(void)
{
    test_densenet121();
    test_shapes();
    test_too_small();
    return check_summary();
}
