/* SPDX-License-Identifier: MIT */
/*
 * pool.cl - the ops that are not convolutions: maxpool, BN+ReLU+avgpool, BN+ReLU+global average
 * pool, linear (host/runtime/pools.c binds and launches them). Needs kernels/abi.h and
 * kernels/common.cl before it.
 */

/* ============================================================================================
 * maxpool
 *
 * out[n, out_coff + c, oy, ox] = max over the k x k window at (oy*s - pad, ox*s - pad) of
 * P(in[n, c, y, x]); padded positions are ignored (PyTorch pads with -inf). One work-item per
 * output row (n, c, oy), which walks its outputs with no index divisions. NaN propagates like
 * torch: a NaN tap replaces the maximum, and nothing replaces a NaN maximum but another NaN.
 * 3x3/2 (the ImageNet stem's pool, 3% of DenseNet-121's time at batch 1 as a scalar loop) takes
 * its interior outputs 8 at a time, each input row as one float16 load split into its even and
 * odd taps; the taps are visited in the scalar loop's order, so the result is the same.
 * ========================================================================================== */

/* The scalar maximum of output ox: rows [y_lo, y_hi) of its window. */
DC_INLINE float dc_maxpool_px(global const float *plane, global const float *pre, int has_pre,
                              int c, int ch, int in_w, int y_lo, int y_hi, int ox, int k,
                              int stride, int pad)
{
    const int ix0 = ox * stride - pad;
    const int x_lo = max(ix0, 0), x_hi = min(ix0 + k, in_w);
    float m = -INFINITY;
    for (int y = y_lo; y < y_hi; y++) {
        for (int x = x_lo; x < x_hi; x++) {
            float v = dc_pro(pre, has_pre, c, ch, plane[y * in_w + x]);
            m = (v > m || isnan(v)) ? v : m;
        }
    }
    return m;
}

/* P on a vector, as dc_pro on each element. */
DC_INLINE float8 dc_pro8(float8 v, float sc, float sh, int has_pre)
{
    if (!has_pre)
        return v;
    /* mad, as dc_pro for the scalar columns (not DC_PRO_APPLY's fma, which a device without
     * hardware fma emulates slowly and which could differ from them by an ulp). */
    const float8 t = mad(v, (float8)(sc), (float8)(sh));
    return t + fabs(t);
}

/* m = max(m, v) with torch's NaN rule, per element. */
DC_INLINE float8 dc_max8(float8 m, float8 v)
{
    return select(m, v, (v > m) | isnan(v));
}

/* The 3x3/2 outputs [ox0, ox0 + 8) of one output row, whose taps all lie in the row: inputs
 * [b, b + 16] of rows [y_lo, y_hi), b = 2 * ox0 - pad. */
DC_INLINE float8 dc_maxpool_3s2_8(global const float *plane, float sc, float sh, int has_pre,
                                  int in_w, int y_lo, int y_hi, int b)
{
    float8 m = (float8)(-INFINITY);
    for (int y = y_lo; y < y_hi; y++) {
        const global float *r = plane + y * in_w + b;
        const float16 v = vload16(0, r);
        /* Taps b + 2j, b + 2j + 1 and b + 2j + 2 of output ox0 + j. */
        const float8 x0 = dc_pro8(v.even, sc, sh, has_pre);
        const float8 x1 = dc_pro8(v.odd, sc, sh, has_pre);
        const float8 x2 = dc_pro8((float8)(v.s246, v.s8ace, r[16]), sc, sh, has_pre);
        m = dc_max8(dc_max8(dc_max8(m, x0), x1), x2);
    }
    return m;
}

kernel void densecl_maxpool(global const float *in, int in_off,   // [n, in_ctot, in_h, in_w]
                            global const float *pre, int pre_off, // [2, c]
                            global float *out, int out_off,       // [n, out_ctot, out_h, out_w]
                            int n, int c, int in_ctot, int in_h, int in_w, int out_ctot,
                            int out_coff, int out_h, int out_w, int k, int stride, int pad,
                            int flags)
{
    const int gid = get_global_id(0);
    if (gid >= n * c * out_h)
        return;
    const int oy = gid % out_h;
    const int ch = (gid / out_h) % c;
    const int ni = gid / out_h / c;
    const int has_pre = (flags & DC_FLAG_PRE) != 0;
    const global float *plane =
        in + in_off + (size_t)ni * in_ctot * in_h * in_w + (size_t)ch * in_h * in_w;
    global float *dst =
        out + out_off + ((size_t)ni * out_ctot + out_coff + ch) * out_h * out_w + oy * out_w;
    pre += pre_off;
    const int iy0 = oy * stride - pad;
    const int y_lo = max(iy0, 0), y_hi = min(iy0 + k, in_h);
    /* Outputs [v_lo, v_end) in vector steps (3x3/2 rows wide enough), the rest one by one: one
     * scalar loop and one vector call site (POCL compiles each inlined copy). */
    const int vec = k == 3 && stride == 2 && in_w >= 17 + pad;
    const int v_lo = vec ? (pad + 1) / 2 : out_w, v_last = vec ? (in_w - 17 + pad) / 2 : -1;
    const int v_end = v_lo <= v_last ? min(out_w, v_last + 8) : v_lo;
    const float sc = has_pre ? DC_PRO_HALF_SC(pre, ch) : 1.0f;
    const float sh = has_pre ? DC_PRO_HALF_SH(pre, c, ch) : 0.0f;
    for (int ox = 0; ox < out_w; ox++) {
        if (ox == v_lo && v_lo < v_end) {
            /* Steps of 8 from v_lo, the last moved back to end at v_end (rewriting equal
             * values). */
            for (int o = v_lo; o < v_end; o += 8) {
                const int oo = min(o, v_end - 8);
                vstore8(dc_maxpool_3s2_8(plane, sc, sh, has_pre, in_w, y_lo, y_hi, 2 * oo - pad), 0,
                        dst + oo);
            }
            ox = v_end - 1;
            continue;
        }
        dst[ox] = dc_maxpool_px(plane, pre, has_pre, c, ch, in_w, y_lo, y_hi, ox, k, stride, pad);
    }
}

/* ============================================================================================
 * bnrelu_avgpool
 *
 * out[n, out_coff + c, oy, ox] = mean of P(in[n, c, 2*oy + dy, 2*ox + dx]) over dy, dx in {0, 1}.
 * 2x2, stride 2, no padding, floor mode (an odd last row/column is dropped), as in a DenseNet
 * transition. One work-item per output row (n, c, oy), four outputs per step from two float8
 * loads per input row.
 * ========================================================================================== */

kernel void densecl_bnrelu_avgpool(global const float *in, int in_off,   // [n, in_ctot, in_h, in_w]
                                   global const float *pre, int pre_off, // [2, c]
                                   global float *out, int out_off, // [n, out_ctot, out_h, out_w]
                                   int n, int c, int in_ctot, int in_h, int in_w, int out_ctot,
                                   int out_coff, int out_h, int out_w, int flags)
{
    const int gid = get_global_id(0);
    if (gid >= n * c * out_h)
        return;
    const int oy = gid % out_h;
    const int ch = (gid / out_h) % c;
    const int ni = gid / out_h / c;
    const int has_pre = (flags & DC_FLAG_PRE) != 0;
    const global float *r0 =
        in + in_off + (size_t)ni * in_ctot * in_h * in_w + (size_t)ch * in_h * in_w + 2 * oy * in_w;
    const global float *r1 = r0 + in_w;
    global float *dst =
        out + out_off + ((size_t)ni * out_ctot + out_coff + ch) * out_h * out_w + oy * out_w;
    pre += pre_off;
    /* P as t + |t| on the halved map, or the identity; the 0.25 absorbs the halving. Spelt
     * apart from DC_PRO_APPLY: without a prologue this adds t twice (no branch per value), the
     * 0.125 undoing it. */
    const float sc = has_pre ? DC_PRO_HALF_SC(pre, ch) : 1.0f;
    const float sh = has_pre ? DC_PRO_HALF_SH(pre, c, ch) : 0.0f;
    const float scale = has_pre ? 0.25f : 0.125f;
    int ox = 0;
    for (; ox + 4 <= out_w; ox += 4) {
        float8 a = DC_FMA(vload8(0, r0 + 2 * ox), (float8)(sc), (float8)(sh));
        float8 b = DC_FMA(vload8(0, r1 + 2 * ox), (float8)(sc), (float8)(sh));
        /* Without a prologue t + |t| would be a ReLU: add t twice instead. */
        a += has_pre ? fabs(a) : a;
        b += has_pre ? fabs(b) : b;
        const float8 s = a + b;
        vstore4((s.even + s.odd) * scale, 0, dst + ox);
    }
    for (; ox < out_w; ox++) {
        const global float *p0 = r0 + 2 * ox, *p1 = r1 + 2 * ox;
        float s = dc_pro(pre, has_pre, c, ch, p0[0]) + dc_pro(pre, has_pre, c, ch, p0[1]) +
                  dc_pro(pre, has_pre, c, ch, p1[0]) + dc_pro(pre, has_pre, c, ch, p1[1]);
        dst[ox] = s * 0.25f;
    }
}

/* ============================================================================================
 * bnrelu_gap
 *
 * out[n, out_coff + c] = mean over all y, x of P(in[n, c, y, x]), out holding [n, out_ctot]
 * (the classifier's input: out_ctot = c, out_coff = 0). One work-item per (n, c); four partial
 * sums keep the adds independent.
 * ========================================================================================== */

kernel void densecl_bnrelu_gap(global const float *in, int in_off,   // [n, in_ctot, h, w]
                               global const float *pre, int pre_off, // [2, c]
                               global float *out, int out_off,       // [n, out_ctot]
                               int n, int c, int in_ctot, int hw, int out_ctot, int out_coff,
                               int flags)
{
    const int gid = get_global_id(0);
    if (gid >= n * c)
        return;
    const int ch = gid % c;
    const int ni = gid / c;
    const int has_pre = (flags & DC_FLAG_PRE) != 0;
    const global float *p = in + in_off + ((size_t)ni * in_ctot + ch) * hw;
    pre += pre_off;
    float4 s4 = (float4)(0.0f);
    int i = 0;
    for (; i + 4 <= hw; i += 4)
        s4 +=
            (float4)(dc_pro(pre, has_pre, c, ch, p[i]), dc_pro(pre, has_pre, c, ch, p[i + 1]),
                     dc_pro(pre, has_pre, c, ch, p[i + 2]), dc_pro(pre, has_pre, c, ch, p[i + 3]));
    float s = (s4.s0 + s4.s1) + (s4.s2 + s4.s3);
    for (; i < hw; i++)
        s += dc_pro(pre, has_pre, c, ch, p[i]);
    out[out_off + (size_t)ni * out_ctot + out_coff + ch] = s / (float)hw;
}

/* ============================================================================================
 * linear
 *
 * out[n, co] = bias[co] + sum_ci in[n, ci] * W[co, ci], W in PyTorch's [cout, cin] layout. One
 * work-item per output; consecutive work-items take consecutive rows of W for the same image.
 * ========================================================================================== */

kernel void densecl_linear(global const float *in, int in_off,     // [n, cin]
                           global const float *wt, int wt_off,     // [cout, cin]
                           global const float *bias, int bias_off, // [cout]
                           global float *out, int out_off,         // [n, cout]
                           int n, int cin, int cout, int flags)
{
    const int gid = get_global_id(0);
    if (gid >= n * cout)
        return;
    const int co = gid % cout;
    const int ni = gid / cout;
    const global float *x = in + in_off + (size_t)ni * cin;
    const global float *w = wt + wt_off + (size_t)co * cin;
    float4 s4 = (float4)(0.0f);
    int i = 0;
    for (; i + 4 <= cin; i += 4)
        s4 = mad(vload4(0, x + i), vload4(0, w + i), s4);
    float s = (s4.s0 + s4.s1) + (s4.s2 + s4.s3);
    for (; i < cin; i++)
        s = mad(x[i], w[i], s);
    if (flags & DC_FLAG_BIAS)
        s += bias[bias_off + co];
    out[out_off + (size_t)ni * cout + co] = s;
}
/* ============================================================================================
 * GPU shapes (host/cl/launch.c picks them on GPUs): the pools with one work-item per output
 * pixel, so that the consecutive work-items of a wavefront read and write consecutive pixels of
 * a row, and the classifier with one work-group of DC_LINEAR_WG work-items per output, reading
 * the input row and the weight row together (coalesced) and adding up in local memory. The
 * per-row kernels above suit CPUs, where a work-item walks a row with vector loads.
 * ========================================================================================== */

#define DC_LINEAR_WG 64

kernel void densecl_maxpool_px(global const float *in, int in_off,   // [n, in_ctot, in_h, in_w]
                               global const float *pre, int pre_off, // [2, c]
                               global float *out, int out_off,       // [n, out_ctot, out_h, out_w]
                               int n, int c, int in_ctot, int in_h, int in_w, int out_ctot,
                               int out_coff, int out_h, int out_w, int k, int stride, int pad,
                               int flags)
{
    const int gid = get_global_id(0);
    if (gid >= n * c * out_h * out_w)
        return;
    const int ox = gid % out_w, row = gid / out_w;
    const int oy = row % out_h;
    const int ch = (row / out_h) % c;
    const int ni = row / out_h / c;
    const global float *plane =
        in + in_off + (size_t)ni * in_ctot * in_h * in_w + (size_t)ch * in_h * in_w;
    const int iy0 = oy * stride - pad;
    out[out_off + ((size_t)ni * out_ctot + out_coff + ch) * out_h * out_w + oy * out_w + ox] =
        dc_maxpool_px(plane, pre + pre_off, (flags & DC_FLAG_PRE) != 0, c, ch, in_w, max(iy0, 0),
                      min(iy0 + k, in_h), ox, k, stride, pad);
}

kernel void densecl_bnrelu_avgpool_px(global const float *in, int in_off,   // [n, in_ctot, h, w]
                                      global const float *pre, int pre_off, // [2, c]
                                      global float *out, int out_off,       // [n, out_ctot, oh, ow]
                                      int n, int c, int in_ctot, int in_h, int in_w, int out_ctot,
                                      int out_coff, int out_h, int out_w, int flags)
{
    const int gid = get_global_id(0);
    if (gid >= n * c * out_h * out_w)
        return;
    const int ox = gid % out_w, row = gid / out_w;
    const int oy = row % out_h;
    const int ch = (row / out_h) % c;
    const int ni = row / out_h / c;
    const int has_pre = (flags & DC_FLAG_PRE) != 0;
    const global float *p0 = in + in_off + (size_t)ni * in_ctot * in_h * in_w +
                             (size_t)ch * in_h * in_w + 2 * oy * in_w + 2 * ox;
    const global float *p1 = p0 + in_w;
    pre += pre_off;
    const float s = dc_pro(pre, has_pre, c, ch, p0[0]) + dc_pro(pre, has_pre, c, ch, p0[1]) +
                    dc_pro(pre, has_pre, c, ch, p1[0]) + dc_pro(pre, has_pre, c, ch, p1[1]);
    out[out_off + ((size_t)ni * out_ctot + out_coff + ch) * out_h * out_w + oy * out_w + ox] =
        s * 0.25f;
}

/* out[n, co] = bias[co] + sum_ci in[n, ci] * W[co, ci]: work-group o = n * cout + co, its
 * work-items taking ci = l, l + L, ... (L = the local size, at most DC_LINEAR_WG), then a tree
 * sum in local memory. The host launches exactly n * cout groups. */
kernel void densecl_linear_wg(global const float *in, int in_off,     // [n, cin]
                              global const float *wt, int wt_off,     // [cout, cin]
                              global const float *bias, int bias_off, // [cout]
                              global float *out, int out_off,         // [n, cout]
                              int n, int cin, int cout, int flags)
{
    local float part[DC_LINEAR_WG];
    const int o = get_group_id(0), l = get_local_id(0), L = get_local_size(0);
    const int co = o % cout, ni = o / cout;
    const global float *x = in + in_off + (size_t)ni * cin;
    const global float *w = wt + wt_off + (size_t)co * cin;
    float s = 0.0f;
    (void)n;
    for (int i = l; i < cin; i += L)
        s = mad(x[i], w[i], s);
    part[l] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int st = 1; st < L; st <<= 1) {
        if ((l & (2 * st - 1)) == 0 && l + st < L)
            part[l] += part[l + st];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0)
        out[out_off + (size_t)ni * cout + co] =
            part[0] + ((flags & DC_FLAG_BIAS) ? bias[bias_off + co] : 0.0f);
}
