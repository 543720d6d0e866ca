/* SPDX-License-Identifier: MIT */
/*
 * kernels/clblast.cl - the CLBlast family's own kernels (host/conv/clblast.c): what goes around
 * CLBlast's GEMM, since a DenseNet conv is a GEMM only after its input is laid out for one and
 * before its bias and ReLU are applied.
 *
 *   densecl_clblast_im2col    the GEMM's B matrices: for each image, [cin * k * k, out_h * out_w]
 *                             row-major, row (c * k + ky) * k + kx (PyTorch's weight order), with
 *                             the BN+ReLU prologue applied and padding 0 after it (PyTorch pads
 *                             the activated tensor). With k = 1, stride 1, pad 0 it is the 1x1
 *                             convs' pre-pass: P(in) of the channel prefix, [cin, hw] per image.
 *   densecl_clblast_epilogue  bias and ReLU over the written channel range of the output.
 *
 * Compiled after kernels/abi.h (DC_FLAG_*) and possibly after other families' files: names here
 * are prefixed DC_CLB_ / dc_clb_ / densecl_clblast_. No tunables. OpenCL C 1.2. Offsets are in
 * floats, as ulong: a batch of large images passes 2^31 floats long before a single image does.
 * Global sizes are rounded up by the host (POCL 3.1 has no non-uniform work-groups); every
 * kernel guards its range.
 */

/* Grid: (round_up(out_h * out_w), cin * k * k, n). ws: [n, cin * k * k, out_h * out_w]. */
kernel void densecl_clblast_im2col(global const float *in, ulong in_off,   // [n, in_ctot, h, w]
                                   global const float *pre, ulong pre_off, // [2, cin]
                                   global float *ws, ulong ws_off,         // [n, cin*k*k, ohw]
                                   int cin, int in_ctot, int in_h, int in_w, int out_h, int out_w,
                                   int k, int stride, int pad, int flags)
{
    const int p = get_global_id(0);
    const int row = get_global_id(1);
    const int i = get_global_id(2);
    const int ohw = out_h * out_w;
    if (p >= ohw)
        return;
    const int c = row / (k * k);
    const int kk = row - c * k * k;
    const int ky = kk / k, kx = kk - ky * k;
    const int oy = p / out_w, ox = p - oy * out_w;
    const int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
    float v = 0.0f;
    if (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w) {
        v = in[in_off + ((ulong)i * in_ctot + c) * (ulong)(in_h * in_w) + iy * in_w + ix];
        if (flags & DC_FLAG_PRE) {
            /* common.cl's dc_pro spelt out: this file needs only abi.h (its test builds it so). */
            const float t = mad(v, 0.5f * pre[pre_off + c], 0.5f * pre[pre_off + cin + c]);
            v = t + fabs(t);
        }
    }
    ws[ws_off + ((ulong)i * (cin * k * k) + row) * (ulong)ohw + p] = v;
}

/* Grid: (round_up(ohw), cout, n). Adds the bias (DC_FLAG_BIAS) and applies ReLU (DC_FLAG_RELU)
 * to channels [out_coff, out_coff + cout) of out, in place. */
kernel void densecl_clblast_epilogue(global float *out, ulong out_off,         // [n, ctot, ohw]
                                     global const float *bias, ulong bias_off, // [cout]
                                     int out_ctot, int out_coff, int ohw, int flags)
{
    const int p = get_global_id(0);
    const int co = get_global_id(1);
    const int i = get_global_id(2);
    if (p >= ohw)
        return;
    const ulong at = out_off + ((ulong)i * out_ctot + out_coff + co) * (ulong)ohw + p;
    float v = out[at];
    if (flags & DC_FLAG_BIAS)
        v += bias[bias_off + co];
    if (flags & DC_FLAG_RELU)
        v = fmax(v, 0.0f);
    out[at] = v;
}
