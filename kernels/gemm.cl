/* SPDX-License-Identifier: MIT */
/*
 * gemm.cl - the "gemm" conv family: every conv as one GEMM (1x1) or implicit GEMM (k > 1),
 * tiled for GPUs through local memory (after CLBlast's xgemm). OpenCL C 1.2, no extensions,
 * fp32. The host puts kernels/abi.h before this file (DC_FLAG_*); other families' files may
 * precede it in the same program, hence the DC_GEMM_ / dc_gemm_ prefixes.
 *
 * The GEMM, per conv: out[co, j] = act(bias[co] + sum_k W[co, k] * X[k, j]) with
 *   M = cout (co), K = cin * ks * ks (k = (ci, ky, kx), PyTorch's weight order), and
 *   N = n * out_h * out_w (j = image * out_hw + pixel: the batch folded into the columns, so that
 *   batch 1 on a 7x7 image and batch 64 are each one launch).
 *   X[k, j] = P(in[img, ci, oy * stride - pad + ky, ox * stride - pad + kx]), 0 where that
 *   position is padding (padding comes after the prologue P: 0, not P(0)) and for k >= K.
 *   P(v) = max(v * scale[ci] + shift[ci], 0) with DC_FLAG_PRE, else v; it is applied as X is
 *   staged into local memory, once per staged value.
 *   The input is channels [0, cin) of [n, in_ctot, in_h, in_w]; the output goes to channels
 *   [out_coff, out_coff + cout) of [n, out_ctot, out_h, out_w] (a dense block's buffer, no
 *   concatenation pass).
 *
 * Tiles. A work-group of MDIMC x NDIMC work-items computes an MWG x NWG tile of out (channels x
 * columns); per KWG-deep slice of K it stages W[KWG, MWG] and X[KWG, NWG] through local memory,
 * then each work-item accumulates an (MWG / MDIMC) x (NWG / NDIMC) register block. Work-item
 * t = lx + MDIMC * ly, with tm = t / NDIMC and tn = t % NDIMC, owns the VWM-vectors
 * tm + MDIMC * [0, MWI / VWM) of a tile's channels and the VWN-vectors tn + NDIMC * [0, NWI / VWN)
 * of its columns (CLBlast's strided vectors): it reads its operands from local memory as whole
 * vectors, consecutive work-items read consecutive vectors (no bank conflicts), and they store
 * consecutive pixels. Work-item t stages the columns n0 + t % NWG (one column, rows
 * t / NWG + (T / NWG) * i) or, with fewer work-items than columns, n0 + t + T * c (every row): a
 * work-item's columns never change, so their decomposition (image, y, x) is computed once.
 *
 * Weights: packed by the host (host/conv_gemm.c) as [Kp, Mp] with Kp = K rounded up to KWG and
 * Mp = cout rounded up to MWG, zero-padded: a tile's rows are MWG contiguous floats, read as
 * VWM-wide vectors, and need no bounds checks.
 *
 * K split: a launch with get_num_groups(2) = S > 1 gives group z the K slices
 * [z * kchunk, (z + 1) * kchunk) (in KWG units) and writes its partial sums, without epilogue,
 * to ws as [S, cout, N]; densecl_gemm_reduce then adds the S partials, the bias and the ReLU and
 * writes at the channel offset. The host splits only convs whose tile grid is too small to fill
 * the device (batch 1, late blocks). With S = 1 the GEMM kernel writes out with the epilogue.
 *
 * Parameters (-D at build time; defaults below; host/conv_gemm.c's table documents each):
 *   DC_GEMM_MWG    output channels per work-group tile (M)
 *   DC_GEMM_NWG    output columns (image pixels over the batch) per work-group tile (N)
 *   DC_GEMM_KWG    depth of the K slice staged through local memory per step
 *   DC_GEMM_MDIMC  work-items along M (local size 0); MWG % MDIMC == 0
 *   DC_GEMM_NDIMC  work-items along N (local size 1); NWG % NDIMC == 0
 *   DC_GEMM_VWM    vector width along M: weight tiles are loaded from global memory and a
 *                  work-item's weights from local memory as VWM-vectors: 1, 2, 4, 8 or 16;
 *                  MWG % (MDIMC * VWM) == 0
 *   DC_GEMM_VWN    vector width along N: a work-item's inputs are read from local memory as
 *                  VWN-vectors: 1, 2, 4, 8 or 16; NWG % (NDIMC * VWN) == 0
 *   DC_GEMM_KSPLIT the most K slices the host splits a launch into (host-side; checked here)
 *   DC_GEMM_FMA    1: fma(); 0: mad(), for devices without hardware fma
 * Also: MDIMC * NDIMC and NWG are multiples one of the other, and KWG is a multiple of
 * MDIMC * NDIMC / NWG (the input staging above). Local memory: 4 * KWG * (MWG + NWG) bytes per
 * work-group; the host checks it and MDIMC * NDIMC against the device's limits.
 *
 * Kernels: densecl_gemm_1x1 (1x1/1/0: a plain GEMM over the channel prefix),
 * densecl_gemm_3x3 (3x3/1/1), densecl_gemm_7x7s2 (7x7/2/3, the ImageNet stem),
 * densecl_gemm_conv (any window, stride and pad), all with one argument list, and
 * densecl_gemm_reduce. The fixed-window kernels are the general one with constant window,
 * stride and pad, so that the im2col index arithmetic divides by constants.
 *
 * Conventions (as kernels.cl): NCHW float32, buffers as (global float *buf, int off) with off in
 * floats, per-image strides in size_t, in-image indices in int; the host checks that they fit.
 */

#ifndef DC_GEMM_MWG
#define DC_GEMM_MWG 64
#endif
#ifndef DC_GEMM_NWG
#define DC_GEMM_NWG 64
#endif
#ifndef DC_GEMM_KWG
#define DC_GEMM_KWG 16
#endif
#ifndef DC_GEMM_MDIMC
#define DC_GEMM_MDIMC 16
#endif
#ifndef DC_GEMM_NDIMC
#define DC_GEMM_NDIMC 16
#endif
#ifndef DC_GEMM_VWM
#define DC_GEMM_VWM 4
#endif
#ifndef DC_GEMM_VWN
#define DC_GEMM_VWN 4
#endif
#ifndef DC_GEMM_KSPLIT
#define DC_GEMM_KSPLIT 16
#endif
#ifndef DC_GEMM_FMA
#define DC_GEMM_FMA 1
#endif

#define DC_GEMM_T (DC_GEMM_MDIMC * DC_GEMM_NDIMC) /* work-items per group */
#define DC_GEMM_MWI (DC_GEMM_MWG / DC_GEMM_MDIMC)  /* register block: channels */
#define DC_GEMM_NWI (DC_GEMM_NWG / DC_GEMM_NDIMC)  /* register block: columns */

#if DC_GEMM_MWG < 1 || DC_GEMM_NWG < 1 || DC_GEMM_KWG < 1 || DC_GEMM_MDIMC < 1 ||               \
    DC_GEMM_NDIMC < 1
#error "gemm.cl: MWG, NWG, KWG, MDIMC and NDIMC must be positive"
#endif
#if DC_GEMM_MWG % DC_GEMM_MDIMC != 0
#error "gemm.cl: MWG must be a multiple of MDIMC"
#endif
#if DC_GEMM_NWG % DC_GEMM_NDIMC != 0
#error "gemm.cl: NWG must be a multiple of NDIMC"
#endif
#if DC_GEMM_VWM != 1 && DC_GEMM_VWM != 2 && DC_GEMM_VWM != 4 && DC_GEMM_VWM != 8 &&             \
    DC_GEMM_VWM != 16
#error "gemm.cl: VWM must be 1, 2, 4, 8 or 16"
#endif
#if DC_GEMM_VWN != 1 && DC_GEMM_VWN != 2 && DC_GEMM_VWN != 4 && DC_GEMM_VWN != 8 &&             \
    DC_GEMM_VWN != 16
#error "gemm.cl: VWN must be 1, 2, 4, 8 or 16"
#endif
#if DC_GEMM_MWG % (DC_GEMM_MDIMC * DC_GEMM_VWM) != 0
#error "gemm.cl: MWG must be a multiple of MDIMC * VWM"
#endif
#if DC_GEMM_NWG % (DC_GEMM_NDIMC * DC_GEMM_VWN) != 0
#error "gemm.cl: NWG must be a multiple of NDIMC * VWN"
#endif
#define DC_GEMM_MWV (DC_GEMM_MWI / DC_GEMM_VWM) /* a work-item's weight vectors per k */
#define DC_GEMM_NWV (DC_GEMM_NWI / DC_GEMM_VWN) /* a work-item's input vectors per k */
#if DC_GEMM_KSPLIT < 1
#error "gemm.cl: KSPLIT must be at least 1"
#endif

/* Input staging: XC columns per work-item, rows xrow0 + XRS * [0, XR). */
#if DC_GEMM_T >= DC_GEMM_NWG
#if DC_GEMM_T % DC_GEMM_NWG != 0
#error "gemm.cl: MDIMC * NDIMC must be a multiple of NWG, or NWG a multiple of MDIMC * NDIMC"
#endif
#define DC_GEMM_XC 1
#define DC_GEMM_XRS (DC_GEMM_T / DC_GEMM_NWG)
#else
#if DC_GEMM_NWG % DC_GEMM_T != 0
#error "gemm.cl: MDIMC * NDIMC must be a multiple of NWG, or NWG a multiple of MDIMC * NDIMC"
#endif
#define DC_GEMM_XC (DC_GEMM_NWG / DC_GEMM_T)
#define DC_GEMM_XRS 1
#endif
#if DC_GEMM_KWG % DC_GEMM_XRS != 0
#error "gemm.cl: KWG must be a multiple of MDIMC * NDIMC / NWG"
#endif
#define DC_GEMM_XR (DC_GEMM_KWG / DC_GEMM_XRS)

/* Weight staging: KWG rows of WV vectors, WLD vector loads per work-item (the last guarded). */
#define DC_GEMM_WV (DC_GEMM_MWG / DC_GEMM_VWM)
#define DC_GEMM_WLD ((DC_GEMM_KWG * DC_GEMM_WV + DC_GEMM_T - 1) / DC_GEMM_T)

#define DC_GEMM_CAT_(a, b) a##b
#define DC_GEMM_CAT(a, b) DC_GEMM_CAT_(a, b)
/* Copies vector si of width n from src to vector di of dst (any address spaces). */
#define DC_GEMM_VCOPY1(si, src, di, dst) ((dst)[di] = (src)[si])
#define DC_GEMM_VCOPY2(si, src, di, dst) vstore2(vload2(si, src), di, dst)
#define DC_GEMM_VCOPY4(si, src, di, dst) vstore4(vload4(si, src), di, dst)
#define DC_GEMM_VCOPY8(si, src, di, dst) vstore8(vload8(si, src), di, dst)
#define DC_GEMM_VCOPY16(si, src, di, dst) vstore16(vload16(si, src), di, dst)
#define DC_GEMM_VCOPY(n, si, src, di, dst) DC_GEMM_CAT(DC_GEMM_VCOPY, n)(si, src, di, dst)

#if DC_GEMM_FMA
#define DC_GEMM_MAC(a, b, c) fma(a, b, c)
#else
#define DC_GEMM_MAC(a, b, c) mad(a, b, c)
#endif

/* Columns of invalid (past N) staging slots get this y: no tap brings it into the image. */
#define DC_GEMM_NO_ROW (-0x40000000)

#define DC_GEMM_ARGS                                                                            \
    global const float *in, int in_off, global const float *w, int w_off,                      \
        global const float *bias, int bias_off, global const float *pre, int pre_off,          \
        global float *out, int out_off, global float *ws, int ws_off, int n, int cin,          \
        int in_ctot, int in_h, int in_w, int cout, int mpad, int out_ctot, int out_coff,       \
        int out_h, int out_w, int ks, int stride, int pad, int kchunk, int flags
#define DC_GEMM_PASS                                                                            \
    in, in_off, w, w_off, bias, bias_off, pre, pre_off, out, out_off, ws, ws_off, n, cin,      \
        in_ctot, in_h, in_w, cout, mpad, out_ctot, out_coff, out_h, out_w

/* One work-group's tile. flat: 1x1/1/0 (X is the input's channel prefix itself); ks, stride,
 * pad: the window (constants in the fixed-window kernels: always inlined, so that the im2col
 * divisions are by constants). wl: [KWG, MWG], xl: [KWG, NWG]. */
static inline __attribute__((always_inline)) void
dc_gemm_tile(global const float *in, int in_off, global const float *w, int w_off,
             global const float *bias, int bias_off, global const float *pre, int pre_off,
             global float *out, int out_off, global float *ws, int ws_off, int n, int cin,
             int in_ctot, int in_h, int in_w, int cout, int mpad, int out_ctot, int out_coff,
             int out_h, int out_w, const int ks, const int stride, const int pad, int kchunk,
             int flags, local float *wl, local float *xl, const int flat)
{
    const int tid = (int)get_local_id(0) + DC_GEMM_MDIMC * (int)get_local_id(1);
    const int m0 = (int)get_group_id(0) * DC_GEMM_MWG;
    const int n0 = (int)get_group_id(1) * DC_GEMM_NWG;
    const int split = (int)get_group_id(2), nsplit = (int)get_num_groups(2);
    const int taps = ks * ks;
    const int K = cin * taps;
    const int ktiles = (K + DC_GEMM_KWG - 1) / DC_GEMM_KWG;
    const int kt0 = split * kchunk;
    const int kt1 = min(ktiles, kt0 + kchunk);
    const int in_hw = in_h * in_w, out_hw = out_h * out_w;
    const int ncols = n * out_hw;
    const size_t in_img = (size_t)in_ctot * (size_t)in_hw;
    const int pre_on = (flags & DC_FLAG_PRE) != 0;
    const int xrow0 = DC_GEMM_XC == 1 ? tid / DC_GEMM_NWG : 0;
    const int tm = tid / DC_GEMM_NDIMC, tn = tid % DC_GEMM_NDIMC;
    size_t xbase[DC_GEMM_XC]; /* the column's image (flat: and pixel) in `in` */
    int xy[DC_GEMM_XC], xx[DC_GEMM_XC], xcol[DC_GEMM_XC];
    float acc[DC_GEMM_MWI][DC_GEMM_NWI];

#pragma unroll
    for (int c = 0; c < DC_GEMM_XC; c++) {
        const int lc = DC_GEMM_XC == 1 ? tid % DC_GEMM_NWG : tid + DC_GEMM_T * c;
        const int col = n0 + lc;
        const int img = col / out_hw, p = col - img * out_hw;
        const int oy = p / out_w, ox = p - oy * out_w;
        xcol[c] = lc;
        xbase[c] = (size_t)in_off + (size_t)img * in_img + (size_t)(flat ? p : 0);
        xy[c] = col < ncols ? oy * stride - pad : DC_GEMM_NO_ROW;
        xx[c] = ox * stride - pad;
    }
#pragma unroll
    for (int mi = 0; mi < DC_GEMM_MWI; mi++)
#pragma unroll
        for (int ni = 0; ni < DC_GEMM_NWI; ni++)
            acc[mi][ni] = 0.0f;

    for (int kt = kt0; kt < kt1; kt++) {
        const int k0 = kt * DC_GEMM_KWG;
        /* W[k0 .. k0 + KWG, m0 .. m0 + MWG) -> wl, one VWM-vector per load. */
#pragma unroll
        for (int i = 0; i < DC_GEMM_WLD; i++) {
            const int v = tid + DC_GEMM_T * i;
            if (DC_GEMM_WLD * DC_GEMM_T == DC_GEMM_KWG * DC_GEMM_WV ||
                v < DC_GEMM_KWG * DC_GEMM_WV) {
                const int r = v / DC_GEMM_WV, cv = v - r * DC_GEMM_WV;
                const size_t gi = ((size_t)(k0 + r) * (size_t)mpad + (size_t)m0) / DC_GEMM_VWM +
                                  (size_t)cv;
                DC_GEMM_VCOPY(DC_GEMM_VWM, gi, w + w_off, r * DC_GEMM_WV + cv, wl);
            }
        }
        /* X[k0 .. k0 + KWG, n0 .. n0 + NWG) -> xl, the prologue applied on the way. */
#pragma unroll
        for (int r = 0; r < DC_GEMM_XR; r++) {
            const int row = xrow0 + DC_GEMM_XRS * r;
            const int k = k0 + row;
            const int kin = k < K;
            int ci = k, ky = 0, kx = 0;
            float sc = 1.0f, sh = 0.0f;
            if (!flat) {
                const int t = k - (k / taps) * taps;
                ci = k / taps;
                ky = t / ks;
                kx = t - ky * ks;
            }
            if (pre_on && kin) {
                sc = pre[pre_off + ci];
                sh = pre[pre_off + cin + ci];
            }
#pragma unroll
            for (int c = 0; c < DC_GEMM_XC; c++) {
                const int iy = xy[c] + ky, ix = xx[c] + kx;
                float x = 0.0f;
                if (kin && iy >= 0 && iy < in_h && ix >= 0 && ix < in_w) {
                    const size_t at = xbase[c] + (size_t)ci * (size_t)in_hw +
                                      (size_t)(flat ? 0 : iy * in_w + ix);
                    x = in[at];
                    if (pre_on)
                        x = max(DC_GEMM_MAC(x, sc, sh), 0.0f);
                }
                xl[row * DC_GEMM_NWG + xcol[c]] = x;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
        for (int kk = 0; kk < DC_GEMM_KWG; kk++) {
            float wr[DC_GEMM_MWI], xr[DC_GEMM_NWI];
#pragma unroll
            for (int mv = 0; mv < DC_GEMM_MWV; mv++)
                DC_GEMM_VCOPY(DC_GEMM_VWM, tm + DC_GEMM_MDIMC * mv, wl + kk * DC_GEMM_MWG, mv, wr);
#pragma unroll
            for (int nv = 0; nv < DC_GEMM_NWV; nv++)
                DC_GEMM_VCOPY(DC_GEMM_VWN, tn + DC_GEMM_NDIMC * nv, xl + kk * DC_GEMM_NWG, nv, xr);
#pragma unroll
            for (int mi = 0; mi < DC_GEMM_MWI; mi++)
#pragma unroll
                for (int ni = 0; ni < DC_GEMM_NWI; ni++)
                    acc[mi][ni] = DC_GEMM_MAC(wr[mi], xr[ni], acc[mi][ni]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    /* Epilogue: partial sums to ws [S, cout, N], or bias + ReLU to out at the channel offset. */
#pragma unroll
    for (int ni = 0; ni < DC_GEMM_NWI; ni++) {
        const int col = n0 + (tn + DC_GEMM_NDIMC * (ni / DC_GEMM_VWN)) * DC_GEMM_VWN +
                        ni % DC_GEMM_VWN;
        const int img = col / out_hw, p = col - img * out_hw;
        const size_t obase = (size_t)out_off + (size_t)img * (size_t)out_ctot * (size_t)out_hw +
                             (size_t)out_coff * (size_t)out_hw + (size_t)p;
        const size_t wbase = (size_t)ws_off + (size_t)split * (size_t)cout * (size_t)ncols +
                             (size_t)col;
        if (col >= ncols)
            continue;
#pragma unroll
        for (int mi = 0; mi < DC_GEMM_MWI; mi++) {
            const int co = m0 + (tm + DC_GEMM_MDIMC * (mi / DC_GEMM_VWM)) * DC_GEMM_VWM +
                           mi % DC_GEMM_VWM;
            float v = acc[mi][ni];
            if (co >= cout)
                continue;
            if (nsplit > 1) {
                ws[wbase + (size_t)co * (size_t)ncols] = v;
            } else {
                if (flags & DC_FLAG_BIAS)
                    v += bias[bias_off + co];
                if (flags & DC_FLAG_RELU)
                    v = max(v, 0.0f);
                out[obase + (size_t)co * (size_t)out_hw] = v;
            }
        }
    }
}

#define DC_GEMM_KERNEL(name, flat, kss, strides, pads)                                          \
    kernel __attribute__((reqd_work_group_size(DC_GEMM_MDIMC, DC_GEMM_NDIMC, 1))) void name(   \
        DC_GEMM_ARGS)                                                                           \
    {                                                                                           \
        local float wl[DC_GEMM_KWG * DC_GEMM_MWG];                                              \
        local float xl[DC_GEMM_KWG * DC_GEMM_NWG];                                              \
        (void)ks;                                                                               \
        (void)stride;                                                                           \
        (void)pad;                                                                              \
        dc_gemm_tile(DC_GEMM_PASS, kss, strides, pads, kchunk, flags, wl, xl, flat);            \
    }

DC_GEMM_KERNEL(densecl_gemm_1x1, 1, 1, 1, 0)
DC_GEMM_KERNEL(densecl_gemm_3x3, 0, 3, 1, 1)
DC_GEMM_KERNEL(densecl_gemm_7x7s2, 0, 7, 2, 3)
DC_GEMM_KERNEL(densecl_gemm_conv, 0, ks, stride, pad)

/* The K split's second pass: out[co, j] = act(bias[co] + sum_s ws[s, co, j]) for the
 * [nsplit, cout, ncols] partials of the GEMM kernels, at the channel offset. One work-item per
 * (co, j); the global size is rounded up (guarded). */
kernel void densecl_gemm_reduce(global const float *ws, int ws_off, global const float *bias,
                                int bias_off, global float *out, int out_off, int cout,
                                int ncols, int out_hw, int out_ctot, int out_coff, int nsplit,
                                int flags)
{
    const size_t gid = get_global_id(0);
    const size_t plane = (size_t)cout * (size_t)ncols;
    float v = 0.0f;
    int co, col, img, p;
    if (gid >= plane)
        return;
    co = (int)(gid / (size_t)ncols);
    col = (int)(gid - (size_t)co * (size_t)ncols);
    img = col / out_hw;
    p = col - img * out_hw;
    for (int s = 0; s < nsplit; s++)
        v += ws[(size_t)ws_off + (size_t)s * plane + gid];
    if (flags & DC_FLAG_BIAS)
        v += bias[bias_off + co];
    if (flags & DC_FLAG_RELU)
        v = max(v, 0.0f);
    out[(size_t)out_off + ((size_t)img * (size_t)out_ctot + (size_t)(out_coff + co)) *
                              (size_t)out_hw + (size_t)p] = v;
}
