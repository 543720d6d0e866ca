/* SPDX-License-Identifier: MIT */
/*
 * winograd.cl - the "winograd" conv family (host/conv_winograd.c): Winograd F(2x2, 3x3) for
 * 3x3 / stride 1 / pad 1 convs, CPU-shaped, one fused kernel per conv kind (no workspace, one
 * launch per conv). Needs kernels/abi.h and kernels/common.cl before it.
 *
 * out = A^T [ sum_ci (G g G^T) .* (B^T d B) ] A   per 2x2 output tile, per output channel:
 *   d  the 4x4 input patch of the tile (rows 2*ty - 1 .. 2*ty + 2, columns likewise), with the
 *      BN+ReLU prologue applied and the padding (outside the image) 0 AFTER it;
 *   U = G g G^T  the 4x4 transformed 3x3 filter, computed by the host at pack time;
 *   V = B^T d B  computed here with additions only; 16 products per channel pair, against 36
 *      for the direct 2x2 outputs (2.25 times fewer multiply-adds).
 * A work-item owns WINO_TX tiles along x times WINO_CO output channels: 16 Winograd-domain
 * accumulators per tile as WINO_CO / WN_CW channel vectors; for each input channel it loads the
 * patch, transforms it (scalar adds), broadcasts each of the 16 V values against one weight
 * vector load per channel vector, then transforms the accumulators back (A^T M A) and stores
 * the valid part of its 2x2 outputs at the block buffer's channel offset.
 *
 * Weights: [ceil(cout / 16), cin, 16 (xi = 4 * row + col of U), 16 (channel lanes)], zero past
 * cout (DC_CONV_PACK lanes, the direct family's block): each (ci, xi) is one aligned vload16.
 *
 * Tunables (-D at build time; defaults below):
 *   WINO_CO       output channels per work-item: 16 or 32 (32: both blocks of a DenseNet
 *                 growth conv per patch transform). Default 16.
 *   WINO_TX       2x2 tiles per work-item along x, sharing each weight load: 1 or 2. Default 1.
 *   WINO_VEC      the widest float vector: 8, or 16 where the device's native float vector is
 *                 16 wide (AVX-512: POCL emits 512-bit FMAs only for float16). Default 8.
 *   WINO_KERNELS  which kernels to build: abi.h's DC_CONV_3X3 (densecl_wino3x3) and
 *                 DC_CONV_3X3_PRE (densecl_wino3x3_pre) bits. Default both.
 * No tunable changes results beyond fp32 reordering: tiles are walked with a grid-stride loop.
 */

#ifndef WINO_CO
#define WINO_CO 16
#endif
#ifndef WINO_TX
#define WINO_TX 1
#endif
#ifndef WINO_VEC
#define WINO_VEC 8
#endif
#ifndef WINO_KERNELS
#define WINO_KERNELS (DC_CONV_3X3 | DC_CONV_3X3_PRE)
#endif
#if WINO_CO != 16 && WINO_CO != 32
#error "WINO_CO must be 16 or 32"
#endif
#if WINO_TX != 1 && WINO_TX != 2
#error "WINO_TX must be 1 or 2"
#endif
#if WINO_VEC != 8 && WINO_VEC != 16
#error "WINO_VEC must be 8 or 16"
#endif

/* The channel vectors of a tile: WN_CH vectors of WN_CW channels. */
#define WN_CW WINO_VEC
#define WN_CH (WINO_CO / WN_CW)
typedef DC_CAT(float, WN_CW) wn_vec;
#define WN_VLD(p) DC_CAT(vload, WN_CW)(0, p)
#define WN_VST(v, p) DC_CAT(vstore, WN_CW)(v, 0, p)
/* Floats of one (ci) step of a weight block: 16 xi x DC_CONV_PACK lanes. */
#define WN_STEP (16 * DC_CONV_PACK)

/* Accumulates the tiles whose patches start at input row iy0, columns ix0 + 2 * t (t <
 * WINO_TX), over every input channel. PRE (prologue) and EDGE (a patch touching the padding or
 * past the image) are literals at each call site; interior tiles take no checks.
 * w: the weights at the tile's first channel; woff[h]: channel vector h from w.
 * acc: [WINO_TX][16][WN_CH], the Winograd-domain sums. */
DC_INLINE void wn_accumulate(global const float *src, global const float *w,
                             global const float *pre, int cin, int in_h, int in_w, int iy0,
                             int ix0, const int PRE, const int EDGE, const size_t *woff,
                             wn_vec (*acc)[16][WN_CH])
{
    const int hw = in_h * in_w;
    const int NX = 2 * WINO_TX + 2; /* input columns of the tiles */
    int roff[4], cidx[2 * WINO_TX + 2];
    float mask[4][2 * WINO_TX + 2];
#pragma unroll
    for (int r = 0; r < 4; r++)
        roff[r] = (EDGE ? clamp(iy0 + r, 0, in_h - 1) : iy0 + r) * in_w;
#pragma unroll
    for (int c = 0; c < NX; c++)
        cidx[c] = EDGE ? clamp(ix0 + c, 0, in_w - 1) : ix0 + c;
#pragma unroll
    for (int r = 0; r < 4; r++)
#pragma unroll
        for (int c = 0; c < NX; c++)
            mask[r][c] = (float)(iy0 + r >= 0 && iy0 + r < in_h && ix0 + c >= 0 && ix0 + c < in_w);
    for (int ci = 0; ci < cin; ci++) {
        const global float *plane = src + (size_t)ci * hw;
        const global float *wc = w + (size_t)ci * WN_STEP;
        const float sc = PRE ? 0.5f * pre[ci] : 1.0f;
        const float sh = PRE ? 0.5f * pre[cin + ci] : 0.0f;
        float d[4][2 * WINO_TX + 2];
#pragma unroll
        for (int r = 0; r < 4; r++)
#pragma unroll
            for (int c = 0; c < NX; c++) {
                float v = plane[roff[r] + cidx[c]];
                if (PRE) {
                    /* relu(t) = (t + |t|) / 2 on the halved affine map (common.cl). */
                    v = DC_FMA(v, sc, sh);
                    v += fabs(v);
                }
                /* Padding is 0 after the prologue: a 0/1 factor, not a branch. */
                d[r][c] = EDGE ? v * mask[r][c] : v;
            }
        /* B^T d: rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3), for every column of the tiles. */
        float t[4][2 * WINO_TX + 2];
#pragma unroll
        for (int c = 0; c < NX; c++) {
            t[0][c] = d[0][c] - d[2][c];
            t[1][c] = d[1][c] + d[2][c];
            t[2][c] = d[2][c] - d[1][c];
            t[3][c] = d[1][c] - d[3][c];
        }
        /* (B^T d) B: the same on the 4 columns of each tile; v[p][4 * row + col]. */
        float v[WINO_TX][16];
#pragma unroll
        for (int p = 0; p < WINO_TX; p++)
#pragma unroll
            for (int r = 0; r < 4; r++) {
                v[p][4 * r + 0] = t[r][2 * p + 0] - t[r][2 * p + 2];
                v[p][4 * r + 1] = t[r][2 * p + 1] + t[r][2 * p + 2];
                v[p][4 * r + 2] = t[r][2 * p + 2] - t[r][2 * p + 1];
                v[p][4 * r + 3] = t[r][2 * p + 1] - t[r][2 * p + 3];
            }
        /* One weight vector load per (xi, channel vector), shared by the tiles. */
#pragma unroll
        for (int xi = 0; xi < 16; xi++)
#pragma unroll
            for (int h = 0; h < WN_CH; h++) {
                const wn_vec wv = WN_VLD(wc + xi * DC_CONV_PACK + woff[h]);
#pragma unroll
                for (int p = 0; p < WINO_TX; p++)
                    acc[p][xi][h] = DC_FMA(wv, (wn_vec)(v[p][xi]), acc[p][xi][h]);
            }
    }
}

/* A^T M A of tile p's accumulators, plus the bias, the ReLU, and the valid part of its 2x2
 * outputs x WINO_CO channels. out: the image's channel co0 at output pixel (oy, ox). */
DC_INLINE void wn_store(global float *out, global const float *bias, int flags, int cout,
                        int co0, int out_h, int out_w, int oy, int ox, wn_vec (*m)[WN_CH])
{
    const int ohw = out_h * out_w;
    const int rows = min(2, out_h - oy), cols = min(2, out_w - ox);
#pragma unroll
    for (int h = 0; h < WN_CH; h++) {
        float b[WN_CW];
#pragma unroll
        for (int j = 0; j < WN_CW; j++) {
            const int co = co0 + h * WN_CW + j;
            b[j] = ((flags & DC_FLAG_BIAS) && co < cout) ? bias[co] : 0.0f;
        }
        /* A^T = [1 1 1 0; 0 1 -1 -1]: rows first, then columns. */
        wn_vec s0[4], s1[4], y[4];
#pragma unroll
        for (int c = 0; c < 4; c++) {
            s0[c] = m[c][h] + m[4 + c][h] + m[8 + c][h];
            s1[c] = m[4 + c][h] - m[8 + c][h] - m[12 + c][h];
        }
        y[0] = s0[0] + s0[1] + s0[2];
        y[1] = s0[1] - s0[2] - s0[3];
        y[2] = s1[0] + s1[1] + s1[2];
        y[3] = s1[1] - s1[2] - s1[3];
        float a[4][WN_CW];
#pragma unroll
        for (int q = 0; q < 4; q++) {
            wn_vec r = y[q] + WN_VLD(b);
            if (flags & DC_FLAG_RELU)
                r = fmax(r, (wn_vec)(0.0f));
            WN_VST(r, a[q]);
        }
#pragma unroll
        for (int j = 0; j < WN_CW; j++) {
            const int co = h * WN_CW + j;
            if (co0 + co >= cout)
                break;
            global float *o = out + (size_t)co * ohw + oy * out_w + ox;
            o[0] = a[0][j];
            if (cols > 1)
                o[1] = a[1][j];
            if (rows > 1) {
                o[out_w] = a[2][j];
                if (cols > 1)
                    o[out_w + 1] = a[3][j];
            }
        }
    }
}

/* The work-items of a conv: (image, tile row, group of WINO_TX tiles, channel tile), channel
 * tiles fastest (neighbouring work-items share the input patch in cache), walked with a
 * grid-stride loop. PRE is a literal at each call site. */
DC_INLINE void wn_conv(global const float *in, global const float *wt, global const float *bias,
                       global const float *pre, global float *out, int n, int cin, int in_ctot,
                       int in_h, int in_w, int cout, int out_ctot, int flags, const int PRE)
{
    /* 3x3 / 1 / 1: the output is the input's size. */
    const int out_h = in_h, out_w = in_w;
    const size_t in_img = (size_t)in_ctot * in_h * in_w;
    const size_t out_img = (size_t)out_ctot * out_h * out_w;
    const size_t w_block = (size_t)cin * WN_STEP;
    const int tiles_y = (out_h + 1) / 2;
    const int groups_x = ((out_w + 1) / 2 + WINO_TX - 1) / WINO_TX;
    const int ctiles = (cout + WINO_CO - 1) / WINO_CO;
    const int per_img = tiles_y * groups_x * ctiles;
    for (int t = get_global_id(0); t < n * per_img; t += get_global_size(0)) {
        const int ni = t / per_img;
        const int r = t - ni * per_img;
        const int ct = r % ctiles;
        const int g = r / ctiles;
        const int oy = (g / groups_x) * 2;
        const int ox = (g % groups_x) * 2 * WINO_TX;
        const int co0 = ct * WINO_CO;
        const int iy0 = oy - 1, ix0 = ox - 1;
        const global float *src = in + ni * in_img;
        const global float *w = wt + (co0 / DC_CONV_PACK) * w_block;
        /* Channel vector h of the tile in the packed weights, from w. A 32-channel tile spans
         * two blocks; past the last block (cout % 32 in 1..16) it reads the last one again, for
         * channels that are never written. */
        size_t woff[WN_CH];
#pragma unroll
        for (int h = 0; h < WN_CH; h++) {
            const int blk =
                min((h * WN_CW) / DC_CONV_PACK, (cout - 1) / DC_CONV_PACK - co0 / DC_CONV_PACK);
            woff[h] = (size_t)blk * w_block + (h * WN_CW) % DC_CONV_PACK;
        }
        wn_vec acc[WINO_TX][16][WN_CH];
#pragma unroll
        for (int p = 0; p < WINO_TX; p++)
#pragma unroll
            for (int xi = 0; xi < 16; xi++)
#pragma unroll
                for (int h = 0; h < WN_CH; h++)
                    acc[p][xi][h] = (wn_vec)(0.0f);
        if (iy0 >= 0 && iy0 + 4 <= in_h && ix0 >= 0 && ix0 + 2 * WINO_TX + 2 <= in_w)
            wn_accumulate(src, w, pre, cin, in_h, in_w, iy0, ix0, PRE, 0, woff, acc);
        else
            wn_accumulate(src, w, pre, cin, in_h, in_w, iy0, ix0, PRE, 1, woff, acc);
        global float *dst = out + ni * out_img + (size_t)co0 * out_h * out_w;
#pragma unroll
        for (int p = 0; p < WINO_TX; p++)
            if (ox + 2 * p < out_w)
                wn_store(dst, bias, flags, cout, co0, out_h, out_w, oy, ox + 2 * p, acc[p]);
    }
}

/* The kernels; both take the direct family's conv arguments less out_h/out_w/k/stride/pad
 * (3x3/1/1: the output is the input's size). */
#define WN_KERNEL(name, PRE)                                                                     \
    kernel void name(global const float *in, int in_off,     /* [n, in_ctot, h, w] */           \
                     global const float *wt, int wt_off,     /* [ceil(cout/16), cin, 16, 16] */ \
                     global const float *bias, int bias_off, /* [cout] */                       \
                     global const float *pre, int pre_off,   /* [2, cin] */                     \
                     global float *out, int out_off,         /* [n, out_ctot, h, w] */          \
                     int n, int cin, int in_ctot, int in_h, int in_w, int cout, int out_ctot,   \
                     int out_coff, int flags)                                                   \
    {                                                                                          \
        wn_conv(in + in_off, wt + wt_off, bias + bias_off, pre + pre_off,                      \
                out + out_off + (size_t)out_coff * in_h * in_w, n, cin, in_ctot, in_h, in_w,   \
                cout, out_ctot, flags, PRE);                                                   \
    }

#if WINO_KERNELS & DC_CONV_3X3
/* 3x3/1/1 without prologue: DenseNet-B's growth convs (norm2 is folded into conv1). */
WN_KERNEL(densecl_wino3x3, 0)
#endif
#if WINO_KERNELS & DC_CONV_3X3_PRE
/* 3x3/1/1 with the BN+ReLU prologue: DenseNets without bottleneck. */
WN_KERNEL(densecl_wino3x3_pre, 1)
#endif
