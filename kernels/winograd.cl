/* SPDX-License-Identifier: MIT */
/*
 * winograd.cl - the "winograd" conv family (host/conv/winograd.c): Winograd F(2x2, 3x3) for
 * 3x3 / stride 1 / pad 1 convs, CPU-shaped, one fused kernel per conv kind (one launch per conv,
 * no workspace). Needs kernels/abi.h and kernels/common.cl before it.
 *
 * out = A^T [ sum_ci U(co, ci) .* V(ci) ] A   per 2x2 output tile and output channel:
 *   V = B^T d B  the transformed 4x4 input patch d of the tile (rows 2*ty - 1 .. 2*ty + 2,
 *      columns likewise), with the BN+ReLU prologue applied and the padding (outside the image)
 *      0 AFTER it, as the direct kernels and PyTorch do; additions only;
 *   U = G g G^T  the transformed 3x3 filter, computed by the host at pack time;
 *   16 products per (tile, co, ci) against 36 for the direct 2x2 outputs (2.25x fewer).
 * A work-item owns WINO_NT tiles (consecutive in the batch's flattened (image, ty, tx) order,
 * so that small images still fill it, or a row of 7: wn_conv's row groups) times WINO_CO
 * output channels, and walks the input channels in chunks of WINO_CK:
 *   1. stage: each tile's patch per input channel of the chunk, transformed, into a private
 *      S (L1-sized): for 8 tiles of one tile row (wn_stage_row) or a row of 7 (wn_stage_row7)
 *      on float8 vectors of the tiles, from two vector loads per input row, laid out
 *      [WINO_CK][16][WINO_NT]; otherwise (tiles across rows or images, other narrow images)
 *      tile by tile on float4 rows, laid out [WINO_CK][WINO_NT][16];
 *   2. GEMM: for each xi of the 16 and each channel vector, WINO_NT accumulators (one vector of
 *      channels per tile) loaded from the private M, one weight vector load per input channel
 *      against WINO_NT broadcast V values (the shape of the direct family's 1x1 kernel, whose
 *      accumulators stay in registers), stored back;
 * and after the last chunk transforms M back (A^T M A) and stores the valid part of each tile's
 * 2x2 outputs at the block buffer's channel offset, with the bias and the ReLU.
 * The loads of U per (xi, ci) serve WINO_NT tiles: weights are read from cache once per
 * WINO_NT tiles instead of once per tile (a first design, one tile per work-item with its 16
 * accumulators in registers, ran no faster than the direct kernel: it streamed every weight
 * from L2 once per 2x2 outputs).
 *
 * Weights: per block of DC_CONV_PACK output channels (the direct family's block, zero past
 * cout), per chunk of WINO_CK input channels (the last one ck = cin % WINO_CK long), [16 (xi =
 * 4 * row + col of U), ck, 16 (channel lanes)]: each (ci, xi) is one aligned 64 bytes, and the
 * GEMM's walk over a chunk's input channels for one xi reads them one after the other. (As
 * [cin, 16, 16] that walk went 1 KB a step, a new cache line from L2 for every two vector
 * loads, and was the loop's hot spot under perf: POCL 3.1, Intel Xeon, DenseNet-121 batch 1.)
 *
 * Tunables (-D at build time; defaults below):
 *   WINO_CO       output channels per work-item: 16, 32 or 48 (a multiple of WINO_VEC). Default
 *                 16.
 *   WINO_NT       tiles per work-item (accumulators of the GEMM): 8 or 16. Default 8.
 *   WINO_CK       input channels per staged chunk: 8, 16 or 32. Default 16.
 *   WINO_VEC      channel vector width: 8, or 16 where the device's native float vector is 16
 *                 wide (AVX-512: POCL emits 512-bit FMAs only for float16). Default 8.
 *   WINO_KERNELS  which kernels to build: abi.h's DC_CONV_3X3 (densecl_wino3x3) and
 *                 DC_CONV_3X3_PRE (densecl_wino3x3_pre) bits. Default both.
 * No tunable changes a result bit: each tile's sums are added in the same order (input
 * channel by input channel) whatever the tile group, chunk, channel tile or vector width, and
 * the staging paths compute the same values; work-items walk the groups with a grid-stride
 * loop, so any global size is correct.
 */

#ifndef WINO_CO
#define WINO_CO 16
#endif
#ifndef WINO_NT
#define WINO_NT 8
#endif
#ifndef WINO_CK
#define WINO_CK 16
#endif
#ifndef WINO_VEC
#define WINO_VEC 8
#endif
#ifndef WINO_DYN
#define WINO_DYN 0
#endif
#ifndef WINO_KERNELS
#define WINO_KERNELS (DC_CONV_3X3 | DC_CONV_3X3_PRE)
#endif
#if WINO_VEC != 8 && WINO_VEC != 16
#error "WINO_VEC must be 8 or 16"
#endif
#if (WINO_CO != 16 && WINO_CO != 32 && WINO_CO != 48) || WINO_CO % WINO_VEC != 0
#error "WINO_CO must be 16, 32 or 48, a multiple of WINO_VEC"
#endif
#if WINO_NT != 8 && WINO_NT != 16
#error "WINO_NT must be 8 or 16"
#endif
#if WINO_CK != 8 && WINO_CK != 16 && WINO_CK != 32
#error "WINO_CK must be 8, 16 or 32"
#endif

/* The channel vectors of a work-item: WN_CH vectors of WN_CW channels. */
#define WN_CW WINO_VEC
#define WN_CH (WINO_CO / WN_CW)
typedef DC_CAT(float, WN_CW) wn_vec;
#define WN_VLD(p) DC_CAT(vload, WN_CW)(0, p)
#define WN_VST(v, p) DC_CAT(vstore, WN_CW)(v, 0, p)
/* Floats of one input channel of a weight block: 16 xi x DC_CONV_PACK lanes. */
#define WN_STEP (16 * DC_CONV_PACK)

/* (B^T d) B of the 4 rows of B^T d (each a float4 of columns), into v[16] (xi = 4 * row +
 * col; the per-tile layout of S): per row (t0 - t2, t1 + t2, t2 - t1, t1 - t3). */
DC_INLINE void wn_rows_out(float4 t0, float4 t1, float4 t2, float4 t3, float *v)
{
    const float4 sg = (float4)(-1.0f, 1.0f, -1.0f, -1.0f);
    vstore4(t0.xyzy + t0.zzyw * sg, 0, v);
    vstore4(t1.xyzy + t1.zzyw * sg, 0, v + 4);
    vstore4(t2.xyzy + t2.zzyw * sg, 0, v + 8);
    vstore4(t3.xyzy + t3.zzyw * sg, 0, v + 12);
}

/* Stage 1: the transformed patches of one tile for ck input channels from c0, into s (the
 * tile's part of S, laid out [j][t][xi]: s[j * WINO_NT * 16 + xi]). src: the tile's image;
 * (iy, ix): its patch's top left input pixel. PRE is a literal at each call site. */
DC_INLINE void wn_stage_tile(global const float *src, global const float *pre, int cin, int hw,
                             int in_h, int in_w, int iy, int ix, int c0, int ck, const int PRE,
                             float *s)
{
    if (iy >= 0 && iy + 4 <= in_h && ix >= 0 && ix + 4 <= in_w) {
        /* Interior: four float4 rows, no checks. */
        const global float *p = src + (size_t)c0 * hw + iy * in_w + ix;
        for (int j = 0; j < ck; j++, p += hw) {
            float4 r0 = vload4(0, p), r1 = vload4(0, p + in_w);
            float4 r2 = vload4(0, p + 2 * in_w), r3 = vload4(0, p + 3 * in_w);
            if (PRE) {
                const float4 sc = (float4)DC_PRO_HALF_SC(pre, c0 + j);
                const float4 sh = (float4)DC_PRO_HALF_SH(pre, cin, c0 + j);
                DC_PRO_APPLY(r0, sc, sh);
                DC_PRO_APPLY(r1, sc, sh);
                DC_PRO_APPLY(r2, sc, sh);
                DC_PRO_APPLY(r3, sc, sh);
            }
            wn_rows_out(r0 - r2, r1 + r2, r2 - r1, r1 - r3, s + j * WINO_NT * 16);
        }
        return;
    }
    /* Edge: rows clamped into the image, and a 0/1 factor per value so that padding is 0
     * after the prologue. Images at least 4 wide load each row as one float4 from inside the
     * row, rotated into place (shift: the patch's first column minus the load's); narrower
     * ones gather value by value. */
    int ro[4];
    float4 rm[4];
    const float4 cm =
        (float4)((float)(ix >= 0), 1.0f, (float)(ix + 2 < in_w), (float)(ix + 3 < in_w));
    for (int r = 0; r < 4; r++) {
        ro[r] = clamp(iy + r, 0, in_h - 1) * in_w;
        rm[r] = cm * (float)(iy + r >= 0 && iy + r < in_h);
    }
    const global float *p = src + (size_t)c0 * hw;
    if (in_w >= 4) {
        const int ls = clamp(ix, 0, in_w - 4), shift = ix - ls; /* -1, 0, 1 or 2 */
        for (int j = 0; j < ck; j++, p += hw) {
            float4 d[4];
            for (int r = 0; r < 4; r++) {
                float4 x = vload4(0, p + ro[r] + ls);
                x = shift == 0 ? x : shift < 0 ? x.wxyz : shift == 1 ? x.yzwx : x.zwxy;
                if (PRE)
                    DC_PRO_APPLY(x, (float4)DC_PRO_HALF_SC(pre, c0 + j),
                                 (float4)DC_PRO_HALF_SH(pre, cin, c0 + j));
                d[r] = x * rm[r];
            }
            wn_rows_out(d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3], s + j * WINO_NT * 16);
        }
        return;
    }
    int cx[4];
    for (int c = 0; c < 4; c++)
        cx[c] = clamp(ix + c, 0, in_w - 1);
    for (int j = 0; j < ck; j++, p += hw) {
        float4 d[4];
        for (int r = 0; r < 4; r++) {
            float4 x =
                (float4)(p[ro[r] + cx[0]], p[ro[r] + cx[1]], p[ro[r] + cx[2]], p[ro[r] + cx[3]]);
            if (PRE)
                DC_PRO_APPLY(x, (float4)DC_PRO_HALF_SC(pre, c0 + j),
                             (float4)DC_PRO_HALF_SH(pre, cin, c0 + j));
            d[r] = x * rm[r];
        }
        wn_rows_out(d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3], s + j * WINO_NT * 16);
    }
}

/* The row vector paths' input rows iy .. iy + 3: each one's offset, clamped into the image
 * (ro), and 1 inside it or 0 for padding (rv), the factor its values take after the prologue. */
DC_INLINE void wn_rows_at(int iy, int in_h, int in_w, int *ro, float *rv)
{
    for (int r = 0; r < 4; r++) {
        ro[r] = clamp(iy + r, 0, in_h - 1) * in_w;
        rv[r] = (float)(iy + r >= 0 && iy + r < in_h);
    }
}

/* B^T d B of the 4 x 4 values d[row][col] of WINO_NT 8 tiles (a float8 each), into S's rows
 * v[xi * 8] (xi = 4 * row + col): B^T on the rows, then on the columns of each row. */
DC_INLINE void wn_rows_out8(float8 (*d)[4], float *v)
{
    float8 t[4][4];
#pragma unroll
    for (int c = 0; c < 4; c++) {
        t[0][c] = d[0][c] - d[2][c];
        t[1][c] = d[1][c] + d[2][c];
        t[2][c] = d[2][c] - d[1][c];
        t[3][c] = d[1][c] - d[3][c];
    }
#pragma unroll
    for (int r = 0; r < 4; r++) {
        vstore8(t[r][0] - t[r][2], 0, v + (4 * r + 0) * 8);
        vstore8(t[r][1] + t[r][2], 0, v + (4 * r + 1) * 8);
        vstore8(t[r][2] - t[r][1], 0, v + (4 * r + 2) * 8);
        vstore8(t[r][1] - t[r][3], 0, v + (4 * r + 3) * 8);
    }
}

/* Stage 1 for the 8 tiles tx0 .. tx0 + 7 of one tile row (WINO_NT 8; images at least 16
 * wide), on float8 vectors of the 8 tiles, into S[j][xi][0..7]: each input row of the patches
 * (columns ix0 = 2 * tx0 - 1 .. ix0 + 17) is two float16 loads from inside the row, a at ix0
 * and b at ix0 + 2, whose even and odd lanes are the patches' 4 columns. The column before the
 * image (ix0 = -1: a loaded from column 0, shifted by one lane) and the one or two past it (the
 * last tiles of an image row: b loaded from in_w - 16, shifted by sb lanes) are 0, after the
 * prologue. 4 columns of 8 tiles per 2 loads, against 4 loads per tile on the per-tile path. */
DC_INLINE void wn_stage_row(global const float *src, global const float *pre, int cin, int hw,
                            int in_h, int in_w, int iy, int ix0, int c0, int ck, const int PRE,
                            float *s)
{
#if WINO_NT == 8
    const int left = ix0 < 0;
    const int pa = left ? 0 : ix0;
    const int pb = min(ix0 + 2, in_w - 16);
    const int sb = ix0 + 2 - pb; /* 0, 1 or 2 */
    int ro[4];
    float rv[4];
    wn_rows_at(iy, in_h, in_w, ro, rv);
    const global float *p = src + (size_t)c0 * hw;
    for (int j = 0; j < ck; j++, p += hw) {
        float8 d[4][4];
#pragma unroll
        for (int r = 0; r < 4; r++) {
            float16 a = vload16(0, p + ro[r] + pa), b = vload16(0, p + ro[r] + pb);
            if (PRE) {
                const float16 sc = (float16)DC_PRO_HALF_SC(pre, c0 + j);
                const float16 sh = (float16)DC_PRO_HALF_SH(pre, cin, c0 + j);
                DC_PRO_APPLY(a, sc, sh);
                DC_PRO_APPLY(b, sc, sh);
            }
            a *= rv[r];
            b *= rv[r];
            const float8 ae = a.even, ao = a.odd, be = b.even, bo = b.odd;
            const float8 be1 = (float8)(be.s1234, be.s567, 0.0f);
            const float8 bo1 = (float8)(bo.s1234, bo.s567, 0.0f);
            d[r][0] = left ? (float8)(0.0f, ao.s0123, ao.s456) : ae;
            d[r][1] = left ? ae : ao;
            d[r][2] = sb == 0 ? be : sb == 1 ? bo : be1;
            d[r][3] = sb == 0 ? bo : sb == 1 ? be1 : bo1;
        }
        wn_rows_out8(d, s + j * 16 * WINO_NT);
    }
#endif
}

/* Stage 1 for the 7 tiles of one tile row of an image 13 or 14 wide (WINO_NT 8, the 8th lane
 * a spare whose sums are never stored), on float8 vectors of the tiles as wn_stage_row: each
 * input row (columns 0 .. in_w - 1) is two float8 loads from inside it, at 0 and in_w - 8,
 * put together into columns 0 .. 15 with the columns past the row 0 after the prologue; the
 * patches' column before the image is lane 0's 0. */
DC_INLINE void wn_stage_row7(global const float *src, global const float *pre, int cin, int hw,
                             int in_h, int in_w, int iy, int c0, int ck, const int PRE, float *s)
{
#if WINO_NT == 8
    int ro[4];
    float rv[4];
    wn_rows_at(iy, in_h, in_w, ro, rv);
    const global float *p = src + (size_t)c0 * hw;
    for (int j = 0; j < ck; j++, p += hw) {
        float8 d[4][4];
#pragma unroll
        for (int r = 0; r < 4; r++) {
            float8 a = vload8(0, p + ro[r]), b = vload8(0, p + ro[r] + in_w - 8);
            if (PRE) {
                const float8 sc = (float8)DC_PRO_HALF_SC(pre, c0 + j);
                const float8 sh = (float8)DC_PRO_HALF_SH(pre, cin, c0 + j);
                DC_PRO_APPLY(a, sc, sh);
                DC_PRO_APPLY(b, sc, sh);
            }
            /* Columns 8 .. in_w - 1 are b's lanes 16 - in_w .. 7. */
            const float16 x = (in_w == 14 ? (float16)(a, b.s2345, b.s67, 0.0f, 0.0f)
                                          : (float16)(a, b.s3456, b.s7, 0.0f, 0.0f, 0.0f)) *
                              rv[r];
            const float8 e = x.even, o = x.odd;
            d[r][0] = (float8)(0.0f, o.s0123, o.s456);
            d[r][1] = e;
            d[r][2] = o;
            d[r][3] = (float8)(e.s1234, e.s567, 0.0f);
        }
        wn_rows_out8(d, s + j * 16 * WINO_NT);
    }
#endif
}

/* After the last chunk: A^T M A of tile t's accumulators for every channel vector, plus the
 * bias and the ReLU, and its valid 2x2 outputs. out: the tile's image at channel co0. */
DC_INLINE void wn_store_tile(global float *out, global const float *bias, int flags, int cout,
                             int co0, int out_h, int out_w, int oy, int ox, const wn_vec *m, int t)
{
    const int ohw = out_h * out_w;
    const int rows = min(2, out_h - oy), cols = min(2, out_w - ox);
    for (int h = 0; h < WN_CH; h++) {
        wn_vec v[16];
        float b[WN_CW];
        float a[4][WN_CW];
#pragma unroll
        for (int xi = 0; xi < 16; xi++)
            v[xi] = m[(xi * WN_CH + h) * WINO_NT + t];
#pragma unroll
        for (int j = 0; j < WN_CW; j++) {
            const int co = co0 + h * WN_CW + j;
            b[j] = ((flags & DC_FLAG_BIAS) && co < cout) ? bias[co] : 0.0f;
        }
        /* A^T = [1 1 1 0; 0 1 -1 -1]: rows, then columns. */
        wn_vec s0[4], s1[4], y[4];
#pragma unroll
        for (int c = 0; c < 4; c++) {
            s0[c] = v[c] + v[4 + c] + v[8 + c];
            s1[c] = v[4 + c] - v[8 + c] - v[12 + c];
        }
        y[0] = s0[0] + s0[1] + s0[2];
        y[1] = s0[1] - s0[2] - s0[3];
        y[2] = s1[0] + s1[1] + s1[2];
        y[3] = s1[1] - s1[2] - s1[3];
#pragma unroll
        for (int q = 0; q < 4; q++) {
            wn_vec r = y[q] + WN_VLD(b);
            if (flags & DC_FLAG_RELU)
                r = fmax(r, (wn_vec)(0.0f));
            WN_VST(r, a[q]);
        }
        for (int j = 0; j < WN_CW && co0 + h * WN_CW + j < cout; j++) {
            global float *o = out + (size_t)(h * WN_CW + j) * ohw + oy * out_w + ox;
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

/* Stage 2: M[xi][h][t] += sum_j U[c0 + j][xi][h] * S[j][xi][t] for the chunk's ck input
 * channels, S[j][xi][t] at S[j * 16 * WINO_NT + xi * XS + t * TS] (XS, TS literals: the row
 * path's layout [j][xi][t] or the per-tile path's [j][t][xi]). Per xi the accumulators stay in
 * registers across the chunk. Where all WN_CH x WINO_NT of them fit the register file
 * (WN_FUSE: 16-wide vectors, 32 registers: CO 32 or 48 and NT 8, 16 or 24 accumulators, the
 * 2 or 3 weight vectors and the broadcast), each broadcast V value serves
 * every channel vector: per input channel WN_CH weight vector loads, WINO_NT broadcasts and
 * WN_CH x WINO_NT fmas (on POCL 3.1, 2-core Intel Xeon, DenseNet-121 batch 1: the 3x3 convs
 * 9% faster than one channel vector at a time, which loads each V value once per vector);
 * elsewhere one channel vector at a time, WINO_NT accumulators. */
#define WN_FUSE (WN_CW == 16 && WN_CH * WINO_NT <= 24)
DC_INLINE void wn_gemm(global const float *wt, const size_t *woff, int c0, int ck, const float *S,
                       const int XS, const int TS, wn_vec *M)
{
    for (int xi = 0; xi < 16; xi++) {
#if WN_FUSE
        wn_vec *mp = M + xi * WN_CH * WINO_NT;
        const global float *wp = wt + (size_t)c0 * WN_STEP + xi * ck * DC_CONV_PACK;
        wn_vec acc[WN_CH][WINO_NT];
#pragma unroll
        for (int h = 0; h < WN_CH; h++)
#pragma unroll
            for (int t = 0; t < WINO_NT; t++)
                acc[h][t] = mp[h * WINO_NT + t];
        for (int j = 0; j < ck; j++) {
            wn_vec wv[WN_CH];
#pragma unroll
            for (int h = 0; h < WN_CH; h++)
                wv[h] = WN_VLD(wp + woff[h] + j * DC_CONV_PACK);
            const float *sp = S + j * 16 * WINO_NT + xi * XS;
#pragma unroll
            for (int t = 0; t < WINO_NT; t++) {
                const wn_vec x = (wn_vec)(sp[t * TS]);
#pragma unroll
                for (int h = 0; h < WN_CH; h++)
                    acc[h][t] = DC_FMA(wv[h], x, acc[h][t]);
            }
        }
#pragma unroll
        for (int h = 0; h < WN_CH; h++)
#pragma unroll
            for (int t = 0; t < WINO_NT; t++)
                mp[h * WINO_NT + t] = acc[h][t];
#else
#pragma unroll
        for (int h = 0; h < WN_CH; h++) {
            wn_vec *mp = M + (xi * WN_CH + h) * WINO_NT;
            const global float *wp = wt + woff[h] + (size_t)c0 * WN_STEP + xi * ck * DC_CONV_PACK;
            wn_vec acc[WINO_NT];
#pragma unroll
            for (int t = 0; t < WINO_NT; t++)
                acc[t] = mp[t];
            for (int j = 0; j < ck; j++) {
                const wn_vec wv = WN_VLD(wp + j * DC_CONV_PACK);
                const float *sp = S + j * 16 * WINO_NT + xi * XS;
#pragma unroll
                for (int t = 0; t < WINO_NT; t++)
                    acc[t] = DC_FMA(wv, (wn_vec)(sp[t * TS]), acc[t]);
            }
#pragma unroll
            for (int t = 0; t < WINO_NT; t++)
                mp[t] = acc[t];
        }
#endif
    }
}

/* The work-items of a conv: (group of WINO_NT tiles, channel tile), channel tiles fastest,
 * walked with a grid-stride loop. PRE is a literal at each call site. */
DC_INLINE void wn_conv(global const float *in, global const float *wt, global const float *bias,
                       global const float *pre, global float *out, int n, int cin, int in_ctot,
                       int in_h, int in_w, int cout, int out_ctot, int flags, global int *ctr,
                       const int PRE)
{
    /* 3x3 / 1 / 1: the output is the input's size. */
    const int out_h = in_h, out_w = in_w, hw = in_h * in_w;
    const size_t in_img = (size_t)in_ctot * hw;
    const size_t out_img = (size_t)out_ctot * hw;
    const size_t w_block = (size_t)cin * WN_STEP;
    const int tiles_x = (out_w + 1) / 2, tiles_y = (out_h + 1) / 2;
    const int tpi = tiles_x * tiles_y; /* tiles per image */
    const int ntiles = n * tpi;
    /* A group is WINO_NT consecutive tiles of the batch, except with WINO_NT 8 on images whose
     * rows have 7 tiles (13 or 14 wide: DenseNet-121's third block at 224x224): one tile row
     * per group and a spare lane, so that stage 1 takes a vector path (wn_stage_row7) where
     * groups across rows went tile by tile; as many groups (7 per 14x14 image). Measured on an
     * AMD EPYC (POCL 3.1, DenseNet-121 batch 1, minima of 6-8 alternating runs): those 3x3
     * convs 1.59-1.63 -> 1.34-1.35 ms; the kernel's first launch compiles about 0.15 s longer.
     * Tried and dropped: two tile rows of 4 per group (7 or 8 wide), 0.44 -> 0.38 ms on the 7x7
     * block and 4.39 -> 3.16 on DenseNet-BC-100 batch 64's 8x8 one, for 0.15 s more compile
     * (a cold start, 4.0 s, is what every fresh container pays); two groups per row of 9-15
     * tiles, the second moved back: no gain at 28x28 (2.11 against 2.14 ms). */
#if WINO_NT == 8
    const int rows7 = tiles_x == 7;
#else
    const int rows7 = 0;
#endif
    const int groups = rows7 ? n * tiles_y : (ntiles + WINO_NT - 1) / WINO_NT;
    const int ctiles = (cout + WINO_CO - 1) / WINO_CO;
    float S[WINO_CK * 16 * WINO_NT]; /* [ck][xi][tile] or [ck][tile][xi] (stage 1) */
    wn_vec M[16 * WN_CH * WINO_NT];  /* [xi][channel vector][tile] */
    DC_TILES_FOR(g, groups * ctiles, 1, WINO_DYN, ctr)
    {
        const int ct = g % ctiles;
        const int gi = g / ctiles, co0 = ct * WINO_CO;
        /* The group's first tile q0 in the batch's (image, ty, tx) order (lane t: tile q0 + t),
         * and how many it stores. */
        const int q0 = rows7 ? gi * tiles_x : gi * WINO_NT;
        const int nq = rows7 ? tiles_x : WINO_NT;
        const int ni0 = q0 / tpi, ty0 = (q0 - ni0 * tpi) / tiles_x;
        const int tx0 = q0 - ni0 * tpi - ty0 * tiles_x;
        /* A group within one tile row of an image takes the vectorized stage 1 (WINO_NT 8,
         * images at least 16 wide, or a row of 7 tiles); the others, per tile. */
#if WINO_NT == 8
        const int row_group = rows7 || (in_w >= 16 && tx0 + WINO_NT <= tiles_x);
#else
        const int row_group = 0;
#endif
        /* Channel vector h of the tile in the packed weights, from wt. A 32- or 48-channel
         * tile spans two or three blocks; past the last block (cout below the tile's end by 16
         * or more) it reads the last one again, for channels that are never written. */
        size_t woff[WN_CH];
#pragma unroll
        for (int h = 0; h < WN_CH; h++) {
            const int blk = min((co0 + h * WN_CW) / DC_CONV_PACK, (cout - 1) / DC_CONV_PACK);
            woff[h] = (size_t)blk * w_block + (h * WN_CW) % DC_CONV_PACK;
        }
        for (int i = 0; i < 16 * WN_CH * WINO_NT; i++)
            M[i] = (wn_vec)(0.0f);
        for (int c0 = 0; c0 < cin; c0 += WINO_CK) {
            const int ck = min(WINO_CK, cin - c0);
            /* Stage 1. Tiles past the last one repeat it (computed, never stored). */
            if (rows7)
                wn_stage_row7(in + ni0 * in_img, pre, cin, hw, in_h, in_w, 2 * ty0 - 1, c0, ck, PRE,
                              S);
            else if (row_group)
                wn_stage_row(in + ni0 * in_img, pre, cin, hw, in_h, in_w, 2 * ty0 - 1, 2 * tx0 - 1,
                             c0, ck, PRE, S);
            for (int t = 0; t < (row_group ? 0 : WINO_NT); t++) {
                const int q = min(q0 + t, ntiles - 1);
                const int ni = q / tpi, r = q - ni * tpi;
                const int ty = r / tiles_x, tx = r - ty * tiles_x;
                wn_stage_tile(in + ni * in_img, pre, cin, hw, in_h, in_w, 2 * ty - 1, 2 * tx - 1,
                              c0, ck, PRE, S + t * 16);
            }
            /* Stage 2, on S as stage 1 laid it out. */
            if (row_group)
                wn_gemm(wt, woff, c0, ck, S, WINO_NT, 1, M);
            else
                wn_gemm(wt, woff, c0, ck, S, 1, 16, M);
        }
        for (int t = 0; t < nq && q0 + t < ntiles; t++) {
            const int q = q0 + t;
            const int ni = q / tpi, r = q - ni * tpi;
            const int ty = r / tiles_x, tx = r - ty * tiles_x;
            wn_store_tile(out + ni * out_img + (size_t)co0 * hw, bias, flags, cout, co0, out_h,
                          out_w, 2 * ty, 2 * tx, M, t);
        }
    }
}

/* The kernels; both take the direct family's conv arguments less out_h/out_w/k/stride/pad
 * (3x3/1/1: the output is the input's size). */
#define WN_KERNEL(name, PRE)                                                                       \
    kernel void name(global const float *in, int in_off,     /* [n, in_ctot, h, w] */              \
                     global const float *wt, int wt_off,     /* [ceil(cout/16), cin, 16, 16] */    \
                     global const float *bias, int bias_off, /* [cout] */                          \
                     global const float *pre, int pre_off,   /* [2, cin] */                        \
                     global float *out, int out_off,         /* [n, out_ctot, h, w] */             \
                     int n, int cin, int in_ctot, int in_h, int in_w, int cout, int out_ctot,      \
                     int out_coff, int flags, global int *ctr,                                     \
                     int ctr_off) /* DC_TILES_FOR's counters */                                    \
    {                                                                                              \
        wn_conv(in + in_off, wt + wt_off, bias + bias_off, pre + pre_off,                          \
                out + out_off + (size_t)out_coff * in_h * in_w, n, cin, in_ctot, in_h, in_w, cout, \
                out_ctot, flags, ctr + ctr_off, PRE);                                              \
        dc_tiles_done(ctr + ctr_off, WINO_DYN);                                                    \
    }

#if WINO_KERNELS & DC_CONV_3X3
/* 3x3/1/1 without prologue: DenseNet-B's growth convs (norm2 is folded into conv1). */
WN_KERNEL(densecl_wino3x3, 0)
#endif
#if WINO_KERNELS & DC_CONV_3X3_PRE
/* 3x3/1/1 with the BN+ReLU prologue: DenseNets without bottleneck. */
WN_KERNEL(densecl_wino3x3_pre, 1)
#endif
