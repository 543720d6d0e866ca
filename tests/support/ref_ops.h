/* SPDX-License-Identifier: MIT */
/* ref_ops.h - naive C reference of every kernel of kernels.cl: direct loops, double
 * accumulation, the same arguments as dc_conv_args (host/conv/conv.h), dc_pool_args and
 * dc_linear_args (host/runtime/runtime.h), with host pointers. Each writes only its output
 * region; everything else in `out` is left untouched. */
#ifndef DENSECL_REF_OPS_H
#define DENSECL_REF_OPS_H

typedef struct ref_conv_args {
    const float *in;     /* [n, in_ctot, in_h, in_w], reads channels [0, cin) */
    const float *weight; /* [cout, cin, k, k], PyTorch layout (not packed) */
    const float *bias;   /* [cout] or NULL */
    const float *pre;    /* [2, cin]: BN+ReLU prologue scales then shifts, or NULL */
    float *out;          /* [n, out_ctot, out_h, out_w], writes [out_coff, out_coff + cout) */
    int n, cin, in_ctot, in_h, in_w;
    int cout, out_ctot, out_coff, out_h, out_w;
    int k, stride, pad;
    int relu;
} ref_conv_args;

typedef struct ref_pool_args {
    const float *in;  /* [n, in_ctot, in_h, in_w], reads channels [0, c) */
    const float *pre; /* [2, c] or NULL */
    float *out;       /* pools: [n, out_ctot, out_h, out_w] at out_coff; gap: [n, out_ctot] */
    int n, c, in_ctot, in_h, in_w;
    int out_ctot, out_coff, out_h, out_w;
    int k, stride, pad;
} ref_pool_args;

typedef struct ref_linear_args {
    const float *in;     /* [n, cin] */
    const float *weight; /* [cout, cin] */
    const float *bias;   /* [cout] or NULL */
    float *out;          /* [n, cout] */
    int n, cin, cout;
} ref_linear_args;

/* out = act(bias + sum W * P(in)); padding contributes 0 (PyTorch pads after BN+ReLU). */
void ref_conv2d(const ref_conv_args *a);
/* Max over the window of P(in); padding is ignored (as torch's -inf padding). NaN as torch's
 * max_pool2d: a NaN tap makes the window's result NaN. */
void ref_maxpool(const ref_pool_args *a);
/* Mean of P(in) over 2x2 windows, stride 2, floor mode (k, stride, pad not read). */
void ref_bnrelu_avgpool(const ref_pool_args *a);
/* Mean of P(in) over the whole image, into out[n * out_ctot + out_coff + c]. */
void ref_bnrelu_gap(const ref_pool_args *a);
void ref_linear(const ref_linear_args *a);

#endif
