/* SPDX-License-Identifier: MIT */
/*
 * common.cl - what every kernel file uses: conventions, the inline and concatenation macros, the
 * BN+ReLU prologue. OpenCL C 1.2, no extensions, no fp16. The host builds one program per device
 * from kernels/abi.h, this file, kernels/pool.cl and the files of the conv families it resolved
 * (kernels.cl lists them in order); abi.h's DC_FLAG_* bits are the flags argument of every kernel.
 *
 * Conventions. Tensors are NCHW float32. Every buffer comes as a (global float *buf, int off)
 * pair, off in floats. A "channel prefix" read uses channels [0, c) of a buffer of ctot channels;
 * a "channel-offset write" writes channels [coff, coff + c) of a buffer of ctot channels, which is
 * how a dense block concatenates for free. Global sizes are rounded up by the host (POCL 3.1 has
 * no non-uniform work-groups), so every kernel guards its index. Per-image strides are computed
 * in size_t, in-image indices in int.
 *
 * The BN+ReLU prologue P(v) = max(v * scale + shift, 0) of conv and pools reads its parameters as
 * [2, c] (scales, then shifts); without one, P is the identity. The ReLU is computed as t + |t|
 * on the halved affine map, branch-free: compiled by POCL, a scalar ternary, fmax() or a sign
 * mask each became one unpredictable branch per input value in the convs (on float8 vectors,
 * "t < 0 ? 0 : t" is one max instruction: the 1x1 conv uses that). Padding is applied after P:
 * padded positions contribute 0 to a conv (not P(0)) and are ignored by max-pooling.
 */

/* POCL does not inline plain `inline` helpers, which leaves the accumulators in memory. */
#define DC_INLINE static inline __attribute__((always_inline))

#define DC_CAT_(a, b) a##b
#define DC_CAT(a, b) DC_CAT_(a, b)

/* CONV_FMA (a direct-family tunable, kernels/direct.cl, that the pools follow too): fma() where
 * the device has hardware fma, mad() where CL_DEVICE_SINGLE_FP_CONFIG lacks CL_FP_FMA. */
#ifndef CONV_FMA
#define CONV_FMA 1
#endif
#if CONV_FMA
#define DC_FMA(a, b, c) fma(a, b, c)
#else
#define DC_FMA(a, b, c) mad(a, b, c)
#endif

/* P(v) with the parameters of channel ch of pre ([2, c]) when has_pre (uniform per launch), else
 * v. relu(t) = (t + |t|) / 2 and the halving is folded into the affine map (exact: scaling by 2
 * commutes with rounding). Only an infinite t differs from torch: -inf gives NaN, not 0. */
DC_INLINE float dc_pro(global const float *pre, int has_pre, int c, int ch, float v)
{
    if (!has_pre)
        return v;
    float t = mad(v, 0.5f * pre[ch], 0.5f * pre[c + ch]);
    return t + fabs(t);
}
