/* SPDX-License-Identifier: MIT */
/*
 * plan.h - the device-independent plan of a model (ops with shapes, buffers and channel
 * offsets; no OpenCL) and the BN fold for it. Not installed.
 *
 *   plan.c   the op list, buffer reuse by lifetime, the window formula
 *   fold.c   BN folding: raw tensors + a plan -> per-op parameters
 */
#ifndef DENSECL_PLAN_H
#define DENSECL_PLAN_H

#include "model/model.h"

/* ---------------------------------------------------------------- plan.c */

typedef enum dc_op_kind {
    DC_OP_CONV = 0,       /* conv2d, optional BN+ReLU prologue, optional bias, optional ReLU */
    DC_OP_MAXPOOL,        /* k x k / stride, padding pad (stem: 3/2/1) */
    DC_OP_BNRELU_AVGPOOL, /* BN+ReLU then 2x2/2 average pool (transitions, before the 1x1) */
    DC_OP_BNRELU_GAP,     /* BN+ReLU then global average pool -> [N, C] (norm5) */
    DC_OP_LINEAR,         /* [N, C] x [classes, C]^T + bias -> [N, classes] */
    DC_OP_KIND_COUNT
} dc_op_kind;

typedef struct dc_op {
    dc_op_kind kind;
    char name[80]; /* torchvision module of the weights: "features.denseblock1.denselayer1.conv1" */
    char pre_bn[80];  /* BN module applied (with ReLU) to the input, "" if none */
    char post_bn[80]; /* BN module folded into this conv's weights and bias, "" if none */
    /* input: channels [0, in_c) of buffer in_buf, laid out [N, in_ctot, in_h, in_w] */
    int in_buf, in_ctot, in_c, in_h, in_w;
    /* output: channels [out_coff, out_coff + out_c) of buffer out_buf, [N, out_ctot, out_h, out_w]
     */
    int out_buf, out_ctot, out_coff, out_c, out_h, out_w;
    int k, stride, pad; /* square window */
    int relu;           /* ReLU on the output */
    int has_bias;
    uint64_t macs; /* for the whole batch */
} dc_op;

typedef struct dc_plan {
    int n, c, h, w; /* input shape */
    int classes;
    int n_ops;
    dc_op *ops;
    int n_bufs;         /* physical buffers after lifetime-based reuse */
    size_t *buf_floats; /* size of each, in floats */
    int input_buf;      /* [N, c, h, w] */
    int output_buf;     /* [N, classes] */
    uint64_t macs;
} dc_plan;

/* Builds the plan of cfg for an [n, cfg->in_channels, h, w] input. DENSECL_ERR_INPUT (with the
 * op where a size reaches 0) for an input too small. The op sequence and names do not depend on
 * n, h or w: params folded for one plan serve every plan of the same config. */
densecl_status dc_plan_build(const densecl_config *cfg, int n, int h, int w, dc_plan *out);
void dc_plan_free(dc_plan *p);
/* Total floats of all physical buffers. */
size_t dc_plan_floats(const dc_plan *p);

/* Output side of a k/stride/pad window over `in` (PyTorch's floor mode), or -1 if empty: the
 * one formula of the plan, the pools and the conv families. */
int dc_window_side(int in, int k, int stride, int pad);

/* ---------------------------------------------------------------- fold.c */

/* Per-op parameters, ready for packing. Layouts are PyTorch's. */
typedef struct dc_op_params {
    float *weight;    /* conv: [cout, cin, k, k] with post-BN folded; linear: [classes, C] */
    float *bias;      /* [cout] or NULL */
    float *pre_scale; /* [cin]: the BN+ReLU prologue y = max(x * scale + shift, 0), or NULL */
    float *pre_shift; /* [cin] */
} dc_op_params;

/* Folds tensors (which dc_config_match accepted for the plan's config) for the ops of plan:
 * *out (malloc'd) is indexed like plan->ops, plan->n_ops entries; free with dc_params_free.
 * Only the op sequence matters, which does not depend on the plan's n, h or w. */
densecl_status dc_fold(const dc_plan *plan, const dc_tensor_set *tensors, dc_op_params **out);
void dc_params_free(dc_op_params *p, int n);

#endif /* DENSECL_PLAN_H */
