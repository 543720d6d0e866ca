/* SPDX-License-Identifier: MIT */
/*
 * direct.cl - the "direct" conv family (host/conv/direct.c): register tiles per work-item,
 * CPU-shaped. Needs kernels/abi.h and kernels/common.cl before it.
 *
 * Tunables (-D at build time; defaults below):
 *   CONV_TCO      output channels per work-item of a k > 1 conv, held as accumulator vectors
 *                 of up to CONV_VEC: 2, 4, 8, 16 or 32 (32: two blocks of the packed weights,
 *                 all of a DenseNet growth conv's channels for each input value). Default 16.
 *                 The 7x7/2 stem kernel takes at most DC_CONV_TCO7 (abi.h; DC_CH7).
 *   CONV_TPX      output pixels (along x) per work-item of a k > 1 conv, 1..8. Default 3. The
 *                 7x7/2 stem kernel takes at most 4 (DC_TPX7): POCL 3.1 compiled it in 1.8 s
 *                 at 8 against 0.8 s at 4, for a layer of 5% of DenseNet-121's time.
 *   CONV_FLAT_CO  output channels per work-item of a 1x1/1/0 conv, 1..16. Default 4.
 *   CONV_FLAT_PX  pixels per work-item of a 1x1/1/0 conv: 2, 4 or 8 (one accumulator vector per
 *                 channel) or 16, 24, 32 (two to four float8). Default 16.
 *   CONV_ORDER    0: consecutive work-items take consecutive pixel tiles of one channel tile
 *                 (its weights stay in cache); 1: consecutive channel tiles of one pixel tile
 *                 (its input stays in cache); 2: the 1x1 kernel by the image's size
 *                 (DC_ORDER_HW), the others as 1. Default 1.
 *   CONV_VEC      the widest float vector the conv kernels compute on: 8, or 16 where the
 *                 device's native float vector width is 16 (AVX-512 CPUs). POCL emits 512-bit
 *                 FMAs only for float16 operations; elsewhere clang splits them and warns that a
 *                 float16 argument "changes the ABI". The host sets it. Default 8.
 *   CONV_KERNELS  the conv kernels to compile, a set of bits: 1 densecl_conv1x1,
 *                 2 densecl_conv3x3, 4 densecl_conv3x3_pre, 8 densecl_conv7x7s2,
 *                 16 densecl_conv2d (kernels/abi.h DC_CONV_*). POCL's clBuildProgram
 *                 optimizes every kernel of the source, so the host leaves out those a model
 *                 does not use. Default DC_CONV_ALL (abi.h).
 *   CONV_PREFETCH the 1x1 conv prefetches its input this many channels ahead (0: not at all).
 *                 A tile's input channels lie hw floats apart, too far for a CPU's hardware
 *                 prefetchers: on POCL 3.1 on a Xeon, 16 ahead took the 1x1 convs of
 *                 DenseNet-121's first block from 126 to 154 GFLOP/s. Uses clang's
 *                 __builtin_prefetch (ignored by a compiler without it); the host sets it for
 *                 CPU devices only. Default 0.
 *   CONV_DYN      how the conv kernels' work-items share the tiles (common.cl DC_TILES_FOR): 0,
 *                 a grid-stride loop, one work-item per tile; 1, a few work-items per core
 *                 taking DC_CONV_DYN_CHUNK tiles at a time from counters. The host sets 1 on
 *                 CPUs. Default 0.
 *   CONV_STAGE    1: the 1x1 kernel takes a channel group per work-item and stages each pixel
 *                 tile's input once, the prologue applied, in local memory, which the group's
 *                 channel tiles then read (dc_conv_flat_stage; two more arguments, the group
 *                 size and the local buffer). The host sets it on CPUs. Default 0.
 *   CONV_PAIRS    1: a staged build of 8-channel tiles on float16 also has the pair tiles, 32
 *                 channels x 8 pixels (dc_pair_tail), for the pixels past an image's whole 1x1
 *                 tiles where the host asks (one more argument, `pairs`). The host sets it
 *                 with VEC 16 (its PAIRS). Default 0.
 *   CONV_FMA      1: accumulate with fma(), which POCL lowers to FMA instructions where mad()
 *                 stays a multiply and an add; 0: mad(), for devices without hardware fma (their
 *                 CL_DEVICE_SINGLE_FP_CONFIG lacks CL_FP_FMA, and fma() is emulated). Default 1.
 * The defaults here were the fastest on POCL 3.1 / AVX2 (1x1: 4x16, against 8x16 and 8x8, which
 * spill or run out of load bandwidth on 16 ymm registers, 6x16 and 4x24; 3x3: 16x3 against 16x4,
 * 16x5, 16x6, 8x8, 8x10, 8x12). The host passes the tiles for each device
 * (host/conv/direct.c: larger ones on AVX-512 CPUs, or what `densecl tune` measured, fitted to
 * the model's growth rate) and sizes the grids for them.
 * No tunable changes results beyond fp32 reordering: the conv kernels walk their tiles with a
 * grid-stride loop, so any global size is correct.
 *
 * POCL compiles each kernel separately, at its first launch and again for each work-group size:
 * the convs are five kernels (1x1/1/0, 3x3/1 without and with prologue, 7x7/2, the rest) so
 * that a model compiles only what it uses and each stays small, and host/conv/direct.c launches
 * every kernel with one fixed local size.
 */

#ifndef CONV_TCO
#define CONV_TCO 16
#endif
#ifndef CONV_TPX
#define CONV_TPX 3
#endif
#ifndef CONV_FLAT_CO
#define CONV_FLAT_CO 4
#endif
#ifndef CONV_FLAT_PX
#define CONV_FLAT_PX 16
#endif
#ifndef CONV_ORDER
#define CONV_ORDER 1
#endif
#ifndef CONV_VEC
#define CONV_VEC 8
#endif
#ifndef CONV_KERNELS
#define CONV_KERNELS DC_CONV_ALL
#endif
#ifndef CONV_PREFETCH
#define CONV_PREFETCH 0
#endif
#ifndef CONV_DYN
#define CONV_DYN 0
#endif
#ifndef CONV_STAGE
#define CONV_STAGE 0
#endif
#ifndef CONV_PAIRS
#define CONV_PAIRS 0
#endif
/* CONV_PREFETCH where the compiler has clang's __builtin_prefetch, else 0. */
#define DC_PREFETCH 0
#if defined(__has_builtin)
#if __has_builtin(__builtin_prefetch)
#undef DC_PREFETCH
#define DC_PREFETCH CONV_PREFETCH
#endif
#endif

/* Output channels per block of the packed conv weights: [ceil(cout / 16), cin, k, k, 16]
 * (abi.h's DC_CONV_PACK). Not a tunable: host/conv/direct.c writes this layout. */

#if CONV_VEC != 8 && CONV_VEC != 16
#error "CONV_VEC must be 8 or 16"
#endif
#if CONV_TCO != 2 && CONV_TCO != 4 && CONV_TCO != 8 && CONV_TCO != 16 && CONV_TCO != 32
#error "CONV_TCO must be 2, 4, 8, 16 or 32"
#endif
#if CONV_TPX < 1 || CONV_TPX > 8
#error "CONV_TPX must be in 1..8"
#endif
#if CONV_FLAT_CO < 1 || CONV_FLAT_CO > 16
#error "CONV_FLAT_CO must be in 1..16"
#endif
#if CONV_FLAT_PX != 2 && CONV_FLAT_PX != 4 && CONV_FLAT_PX != 8 && CONV_FLAT_PX != 16 &&           \
    CONV_FLAT_PX != 24 && CONV_FLAT_PX != 32
#error "CONV_FLAT_PX must be 2, 4, 8, 16, 24 or 32"
#endif

/* ============================================================================================
 * conv2d
 *
 * out[n, out_coff + co, oy, ox] = act(bias[co] + sum_{ci < cin, ky, kx} W[co, ci, ky, kx] *
 *                                     P(in[n, ci, oy*s - pad + ky, ox*s - pad + kx]))
 *
 * A work-item computes a tile of output channels x output pixels in registers; weights come
 * packed as [ceil(cout / 16), cin, k, k, 16] so that the 16 output channels of a block are
 * contiguous for every tap. Five kernels, chosen by the host from k/stride/pad and the prologue:
 *   densecl_conv1x1  1x1, stride 1, pad 0: a GEMM over the image's flat run of pixels. A tile is
 *         CONV_FLAT_CO channels x CONV_FLAT_PX pixels, accumulated as pixel vectors per channel:
 *         per input channel contiguous vector loads, the prologue on the vectors, and one fma
 *         per vector and output channel with its weight broadcast. The last tile of an image is
 *         moved back to end at its last pixel, so every tile is whole (with 16x16 tiles on
 *         float16, a remainder of 1..8 pixels takes a narrow tail tile instead:
 *         dc_conv_flat_tail); images smaller than a tile spread a tile's pixels over the batch.
 *   densecl_conv3x3, densecl_conv3x3_pre  3x3/1 without and with the prologue ("rows"): a tile
 *         is CONV_TCO channels x CONV_TPX pixels of one row, accumulated as one channel vector
 *         per pixel: the input row segment the tile needs is loaded (and P applied) once per
 *         input row and reused by the k taps, each a contiguous weight vector load and CONV_TPX
 *         fmas. Interior tiles skip the column bounds checks.
 *   densecl_conv7x7s2  7x7/2 without prologue (the ImageNet stem): the rows tiling, or where
 *         CONV_VEC is 16, float16 vectors of output pixels (dc_conv7x7s2_vec).
 *   densecl_conv2d   every other k/stride/pad: the rows tiling with per-tap checks ("any").
 * ========================================================================================== */

/* A k > 1 conv tile holds, per pixel, CONV_TCO output channels as DC_CH vectors of DC_CW: one
 * float16 for 16 channels where CONV_VEC is 16, two float8 elsewhere. */
#if CONV_TCO > CONV_VEC
#define DC_CW CONV_VEC
#else
#define DC_CW CONV_TCO
#endif
#define DC_CH (CONV_TCO / DC_CW)
typedef DC_CAT(float, DC_CW) dc_cvec;

/* Vector helpers by width n: load, store, fma, |x|, max(x, 0). Width 16 is used only where
 * CONV_VEC is 16. */
#define DC_VLD(n, p) DC_CAT(dc_vld, n)(p)
#define DC_VST(n, v, p) DC_CAT(dc_vst, n)(v, p)
#define DC_VFMA(n, a, b, c) DC_CAT(dc_vfma, n)(a, b, c)
#define DC_VABS(n, x) DC_CAT(dc_vabs, n)(x)
#define DC_VRELU(n, x) DC_CAT(dc_vrelu, n)(x)
#define dc_vld2(p) vload2(0, p)
#define dc_vld4(p) vload4(0, p)
#define dc_vld8(p) vload8(0, p)
#define dc_vld16(p) vload16(0, p)
#define dc_vst2(v, p) vstore2(v, 0, p)
#define dc_vst4(v, p) vstore4(v, 0, p)
#define dc_vst8(v, p) vstore8(v, 0, p)
#define dc_vst16(v, p) vstore16(v, 0, p)
#define dc_vfma2(a, b, c) DC_FMA(a, b, c)
#define dc_vfma4(a, b, c) DC_FMA(a, b, c)
#define dc_vfma8(a, b, c) DC_FMA(a, b, c)
#define dc_vfma16(a, b, c) DC_FMA(a, b, c)
#define dc_vabs2(x) fabs(x)
#define dc_vabs4(x) fabs(x)
#define dc_vabs8(x) fabs(x)
#define dc_vabs16(x) fabs(x)
#define dc_vrelu2(x) fmax(x, (float2)(0.0f))
#define dc_vrelu4(x) fmax(x, (float4)(0.0f))
#define dc_vrelu8(x) fmax(x, (float8)(0.0f))
#define dc_vrelu16(x) fmax(x, (float16)(0.0f))

/* Pixels and channel vectors per tile of densecl_conv7x7s2 (host/conv/direct.c sizes its grid
 * the same way): at most DC_CONV_TPX7 pixels and DC_CONV_TCO7 channels (abi.h), which POCL
 * compiles in a third of the time of 8 pixels, for a layer of 5-7% of DenseNet-121's time. */
#if CONV_TPX > DC_CONV_TPX7
#define DC_TPX7 DC_CONV_TPX7
#else
#define DC_TPX7 CONV_TPX
#endif
#if CONV_TCO > DC_CONV_TCO7
#define DC_CH7 (DC_CONV_TCO7 / DC_CW)
#else
#define DC_CH7 DC_CH
#endif
/* Input values one rows tile reads along x: (TPX - 1) * stride + k; the most of 3x3/1 and 7x7/2. */
#define DC_SEG_3 ((CONV_TPX - 1) + 3)
#define DC_SEG_7 ((DC_TPX7 - 1) * 2 + 7)
#define DC_SEG_MAX (DC_SEG_3 > DC_SEG_7 ? DC_SEG_3 : DC_SEG_7)

/* The 1x1 kernel's weights: [ceil(cout / DC_FLAT_PACK), cin, DC_FLAT_PACK]: blocks of the 1x1
 * tile's channels where they divide DC_CONV_PACK and the kernel is staged, so that a channel
 * tile's weights for one input channel lie together (half the cache lines of 16-channel blocks
 * with 8-channel tiles: C loops of the staged tile ran at 79% of the FMA peak with 16-channel
 * blocks against 88%), else DC_CONV_PACK, the other convs' blocks. The host packs them so
 * (host/conv/direct.c dc_direct_flat_pack) and says which it packed (wpack): a constant here,
 * so that a tile's weight rows are one pointer and constant offsets. */
#if CONV_STAGE && DC_CONV_PACK % CONV_FLAT_CO == 0
#define DC_FLAT_PACK CONV_FLAT_CO
#else
#define DC_FLAT_PACK DC_CONV_PACK
#endif

/* 1x1/1/0 tiles. A tile is CONV_FLAT_CO output channels x CONV_FLAT_PX pixels held as
 * DC_FNV vectors of DC_FW pixels per channel. Weight rows come as one pointer per channel of
 * the tile (the tile may straddle two blocks of DC_FLAT_PACK). */
#if CONV_FLAT_PX <= 8
#define DC_FW CONV_FLAT_PX
#elif CONV_VEC == 16 && CONV_FLAT_PX % 16 == 0
#define DC_FW 16
#else
#define DC_FW 8
#endif
#define DC_FNV (CONV_FLAT_PX / DC_FW)
typedef DC_CAT(float, DC_FW) dc_fvec;
/* Half tiles (the 1x1 kernel): where a tile is two vectors of pixels (the 8x32 of AVX-512 CPUs),
 * an image's last 1..DC_FW pixels past the whole tiles take one vector ending at hw instead of a
 * whole tile moved back: DenseNet-121's 14x14 images compute 208 pixels instead of 224. */
#define DC_HALF (DC_FNV == 2)

/* One input channel ci's fmas: its NV pixel vectors x against each of the tile's channels'
 * weights, broadcast. NV is a constant at every call site. acc: [CONV_FLAT_CO][DC_FNV]. */
DC_INLINE void dc_conv_flat_fma(const dc_fvec *x, const global float *const *wp, int ci,
                                const int NV, dc_fvec (*acc)[DC_FNV])
{
#pragma unroll
    for (int j = 0; j < CONV_FLAT_CO; j++) {
        const dc_fvec wv = (dc_fvec)(wp[j][ci * DC_FLAT_PACK]);
#pragma unroll
        for (int v = 0; v < NV; v++)
            acc[j][v] = DC_VFMA(DC_FW, wv, x[v], acc[j][v]);
    }
}

/* Input channel ci's NV vectors at s with the prologue applied where PRE (a constant at every
 * call site). x: [DC_FNV]. */
DC_INLINE void dc_conv_flat_load(global const float *s, global const float *pre, int cin, int ci,
                                 const int PRE, const int NV, dc_fvec *x)
{
#pragma unroll
    for (int v = 0; v < NV; v++) {
        x[v] = DC_VLD(DC_FW, s + v * DC_FW);
        if (PRE) {
            /* P spelt apart from common.cl's, on the full-scale parameters: on vectors
             * "t < 0 ? 0 : t" is one max instruction (NaN kept, as torch), one fewer than
             * t + |t| (the scalar form's reason, a branch per value, is gone on vectors). */
            x[v] = DC_VFMA(DC_FW, x[v], (dc_fvec)(pre[ci]), (dc_fvec)(pre[cin + ci]));
            x[v] = x[v] < (dc_fvec)(0.0f) ? (dc_fvec)(0.0f) : x[v];
        }
    }
}

/* One input channel ci of the tile: its NV vectors at s, the prologue applied, against each
 * channel's weight broadcast. PRE and NV (DC_FNV, or 1 for a half tile) are constants at every
 * call site. acc: [CONV_FLAT_CO][DC_FNV]. */
DC_INLINE void dc_conv_flat_step(global const float *s, const global float *const *wp,
                                 global const float *pre, int cin, int ci, const int PRE,
                                 const int NV, dc_fvec (*acc)[DC_FNV])
{
    dc_fvec x[DC_FNV];
    dc_conv_flat_load(s, pre, cin, ci, PRE, NV, x);
    dc_conv_flat_fma(x, wp, ci, NV, acc);
}

/* The tile at pixel p0 of one image, whose NV * DC_FW pixels all exist. src: the image's
 * channel 0 at p0 ([cin, hw]); wp: per channel, its packed weight row at ci = 0. PRE and NV
 * are constants at every call site. acc: [CONV_FLAT_CO][DC_FNV]. The channels that prefetch
 * DC_PREFETCH ahead and the last ones, which have nothing left to prefetch, are two loops: a
 * test per channel in the hot loop cost 3-5% (POCL 3.1, Intel Xeon, alternating builds). */
DC_INLINE void dc_conv_flat(global const float *src, const global float *const *wp,
                            global const float *pre, int cin, int hw, const int PRE, const int NV,
                            dc_fvec (*acc)[DC_FNV])
{
    int ci = 0;
#if DC_PREFETCH > 0
    for (; ci < cin - DC_PREFETCH; ci++) {
        const global float *s = src + (size_t)ci * hw;
        /* Every 64-byte line of the tile's pixels in that plane (the last one too when the
         * tile does not start on a line). */
#pragma unroll
        for (int v = 0; v < NV * DC_FW; v += 16)
            __builtin_prefetch(s + DC_PREFETCH * hw + v);
        __builtin_prefetch(s + DC_PREFETCH * hw + NV * DC_FW - 1);
        dc_conv_flat_step(s, wp, pre, cin, ci, PRE, NV, acc);
    }
#endif
    for (; ci < cin; ci++)
        dc_conv_flat_step(src + (size_t)ci * hw, wp, pre, cin, ci, PRE, NV, acc);
}

/* Adds the bias, applies the ReLU and writes a whole tile of NV vectors (a constant at every
 * call site). out: output channel co0 at the tile's first pixel, channels hw apart. */
DC_INLINE void dc_conv_flat_store(global float *out, global const float *bias, int flags, int cout,
                                  int co0, int hw, const int NV, dc_fvec (*acc)[DC_FNV])
{
#pragma unroll
    for (int j = 0; j < CONV_FLAT_CO; j++) {
        if (co0 + j >= cout)
            break;
        const float b = (flags & DC_FLAG_BIAS) ? bias[co0 + j] : 0.0f;
#pragma unroll
        for (int v = 0; v < NV; v++) {
            dc_fvec r = acc[j][v] + (dc_fvec)(b);
            if (flags & DC_FLAG_RELU)
                r = DC_VRELU(DC_FW, r);
            DC_VST(DC_FW, r, out + (size_t)j * hw + v * DC_FW);
        }
    }
}

#if CONV_STAGE
/* The staged 1x1 tiles (CONV_STAGE): a work-item takes one pixel tile of one image and a group
 * of its channel tiles. It copies the tile's NV vectors of DC_CONV_STAGE_KC input channels at a
 * time into local memory, the prologue applied ([DC_CONV_STAGE_KC][CONV_FLAT_PX], contiguous,
 * L1-sized), and each channel tile of the group then runs over them, its sums kept in local memory
 * between those chunks ([cgroup][CONV_FLAT_CO][CONV_FLAT_PX] after the stage). Unstaged, every
 * channel tile applies the prologue again (with 8x32 tiles, 4 of every 20 instructions on the FMA
 * ports) and reads planes hw floats apart (the software prefetch); staged, the fma loop is loads
 * and fmas over one contiguous run that stays in the core's first-level cache. */

/* Stages input channels [ci0, ci1) of the tile at src (the image's channel 0 at the tile's
 * first pixel). PRE and NV are constants at every call site. */
DC_INLINE void dc_conv_flat_stage(global const float *src, global const float *pre, int cin,
                                  int ci0, int ci1, int hw, const int PRE, const int NV,
                                  local float *stage)
{
    for (int ci = ci0; ci < ci1; ci++) {
        const global float *s = src + (size_t)ci * hw;
        dc_fvec x[DC_FNV];
#if DC_PREFETCH > 0
        if (ci < cin - DC_PREFETCH) {
#pragma unroll
            for (int v = 0; v < NV * DC_FW; v += 16)
                __builtin_prefetch(s + DC_PREFETCH * hw + v);
            __builtin_prefetch(s + DC_PREFETCH * hw + NV * DC_FW - 1);
        }
#endif
        dc_conv_flat_load(s, pre, cin, ci, PRE, NV, x);
#pragma unroll
        for (int v = 0; v < NV; v++)
            ((local dc_fvec *)stage)[(ci - ci0) * DC_FNV + v] = x[v];
    }
}

/* One channel tile over staged input channels [ci0, ci1). NV is a constant at every call site. */
DC_INLINE void dc_conv_flat_staged(local const float *stage, const global float *const *wp, int ci0,
                                   int ci1, const int NV, dc_fvec (*acc)[DC_FNV])
{
    for (int ci = ci0; ci < ci1; ci++) {
        dc_fvec x[DC_FNV];
#pragma unroll
        for (int v = 0; v < NV; v++)
            x[v] = DC_CAT(vload, DC_FW)(0, stage + (size_t)(ci - ci0) * CONV_FLAT_PX + v * DC_FW);
        dc_conv_flat_fma(x, wp, ci, NV, acc);
    }
}

/* A channel tile's sums to (save) or from (!save) local memory between chunks. NV as above. */
DC_INLINE void dc_conv_flat_keep(local float *part, const int save, const int NV,
                                 dc_fvec (*acc)[DC_FNV])
{
#pragma unroll
    for (int j = 0; j < CONV_FLAT_CO; j++)
#pragma unroll
        for (int v = 0; v < NV; v++) {
            local float *q = part + (j * DC_FNV + v) * DC_FW;
            if (save)
                DC_CAT(vstore, DC_FW)(acc[j][v], 0, q);
            else
                acc[j][v] = DC_CAT(vload, DC_FW)(0, q);
        }
}
#endif

/* The 1x1 tail tile: where a tile is one float16 of pixels for the 16 channels of one block of
 * the packed weights (AMD AVX-512 CPUs' 16x16), an image's last rem = hw % 16 pixels (1..8),
 * instead of a whole tile moved back over pixels its neighbour computes. The tile's channels
 * are one vector (a weight row of the block) and its pixels go 4 at a time, each input value
 * broadcast: a quarter of a whole tile's fmas per 4 pixels (DenseNet-121 at 224x224: 4 of 196
 * pixels at 14x14, 1 of 49 at 7x7). src: the image's channel 0 at pixel hw - rem; w: the
 * block's row at ci = 0; out: output channel co0 at pixel hw - rem. */
#define DC_TAIL (CONV_VEC == 16 && CONV_FLAT_CO == DC_CONV_PACK && CONV_FLAT_PX == 16)
#if DC_TAIL
DC_INLINE void dc_conv_flat_tail(global const float *src, global const float *w,
                                 global const float *pre, global const float *bias,
                                 global float *out, int flags, int cin, int hw, int rem, int cout,
                                 int co0, const int PRE)
{
    for (int g = 0; g < rem; g += 4) {
        int q[4];
        float16 acc[4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
            q[i] = min(g + i, rem - 1); /* past rem: the last pixel again, not written */
            acc[i] = (float16)(0.0f);
        }
        for (int ci = 0; ci < cin; ci++) {
            const float16 wv = vload16(0, w + ci * DC_FLAT_PACK);
            const global float *s = src + (size_t)ci * hw;
#pragma unroll
            for (int i = 0; i < 4; i++)
                acc[i] = DC_FMA(wv, (float16)(dc_pro(pre, PRE, cin, ci, s[q[i]])), acc[i]);
        }
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float a[16];
            if (g + i >= rem)
                break;
            vstore16(acc[i], 0, a);
            for (int j = 0; j < DC_FLAT_PACK && co0 + j < cout; j++) {
                float r = a[j] + ((flags & DC_FLAG_BIAS) ? bias[co0 + j] : 0.0f);
                if (flags & DC_FLAG_RELU)
                    r = fmax(r, 0.0f);
                out[(size_t)j * hw + g + i] = r;
            }
        }
    }
}
#endif

/* A tile of images smaller than a tile: its CONV_FLAT_PX columns run over the pixels of all
 * images (column q is pixel q % hw of image q / hw), gathered one value at a time. Columns past
 * the last one repeat it and are not written. Small and not unrolled: only tiny inputs take it. */
DC_INLINE void dc_conv_flat_folded(global const float *in, const global float *const *wp,
                                   global const float *pre, global const float *bias,
                                   global float *out, int flags, int cin, int hw, int cols,
                                   size_t in_img, size_t out_img, int cout, int co0, int q0)
{
    const int has_pre = (flags & DC_FLAG_PRE) != 0;
    size_t src[CONV_FLAT_PX];
    float acc[CONV_FLAT_CO][CONV_FLAT_PX];
    for (int p = 0; p < CONV_FLAT_PX; p++) {
        const int q = min(q0 + p, cols - 1);
        src[p] = (size_t)(q / hw) * in_img + q % hw;
        for (int j = 0; j < CONV_FLAT_CO; j++)
            acc[j][p] = 0.0f;
    }
    for (int ci = 0; ci < cin; ci++) {
        for (int p = 0; p < CONV_FLAT_PX; p++) {
            const float x = dc_pro(pre, has_pre, cin, ci, in[src[p] + (size_t)ci * hw]);
            for (int j = 0; j < CONV_FLAT_CO; j++)
                acc[j][p] = DC_FMA(wp[j][ci * DC_FLAT_PACK], x, acc[j][p]);
        }
    }
    for (int p = 0; p < CONV_FLAT_PX && q0 + p < cols; p++) {
        const int q = q0 + p;
        global float *dst = out + (size_t)(q / hw) * out_img + q % hw;
        for (int j = 0; j < CONV_FLAT_CO && co0 + j < cout; j++) {
            float r = acc[j][p] + ((flags & DC_FLAG_BIAS) ? bias[co0 + j] : 0.0f);
            if (flags & DC_FLAG_RELU)
                r = fmax(r, 0.0f);
            dst[(size_t)(co0 + j) * hw] = r;
        }
    }
}

/* K x K / S with the row-segment reuse. TPX, K, S, PRE and EDGE are constants at every call
 * site: TPX pixels per tile, PRE applies the prologue, EDGE checks columns (a tile touching the
 * left/right padding or the right border). acc: [TPX] channel vectors. */
DC_INLINE void dc_conv_rows(global const float *in, global const float *w, global const float *pre,
                            int cin, int in_h, int in_w, int oy, int ox0, int pad, const int TPX,
                            const int K, const int S, const int PRE, const int EDGE, const int CH,
                            const size_t *woff, dc_cvec (*acc)[DC_CH])
{
    const int seg_len = (TPX - 1) * S + K;
    const int hw = in_h * in_w;
    const int iy0 = oy * S - pad;
    const int ix0 = ox0 * S - pad;
    /* Rows of the window inside the image; the others are padding and contribute 0. */
    const int ky_lo = max(0, -iy0);
    const int ky_hi = min(K, in_h - iy0);
    for (int ci = 0; ci < cin; ci++) {
        const float sc = PRE ? DC_PRO_HALF_SC(pre, ci) : 1.0f;
        const float sh = PRE ? DC_PRO_HALF_SH(pre, cin, ci) : 0.0f;
        const global float *plane = in + (size_t)ci * hw;
        const global float *wc = w + ci * K * K * DC_CONV_PACK;
        for (int ky = ky_lo; ky < ky_hi; ky++) {
            const global float *row = plane + (iy0 + ky) * in_w;
            float seg[DC_SEG_MAX];
#pragma unroll
            for (int j = 0; j < seg_len; j++) {
                const int ix = ix0 + j;
                float v = row[EDGE ? clamp(ix, 0, in_w - 1) : ix];
                if (PRE)
                    DC_PRO_APPLY(v, sc, sh);
                /* Padding is 0 after the prologue: a 0/1 factor, not a branch. */
                seg[j] = EDGE ? v * (float)(ix >= 0 && ix < in_w) : v;
            }
#pragma unroll
            for (int kx = 0; kx < K; kx++) {
                dc_cvec wv[DC_CH];
#pragma unroll
                for (int h = 0; h < CH; h++)
                    wv[h] = DC_VLD(DC_CW, wc + (ky * K + kx) * DC_CONV_PACK + woff[h]);
#pragma unroll
                for (int p = 0; p < TPX; p++) {
                    const dc_cvec x = (dc_cvec)(seg[p * S + kx]);
#pragma unroll
                    for (int h = 0; h < CH; h++)
                        acc[p][h] = DC_VFMA(DC_CW, wv[h], x, acc[p][h]);
                }
            }
        }
    }
}

/* Any k/stride/pad, checking every tap; TPX pixels per tile (a literal at each call site). */
DC_INLINE void dc_conv_any(global const float *in, global const float *w, global const float *pre,
                           int has_pre, int cin, int in_h, int in_w, int oy, int ox0, int k,
                           int stride, int pad, const int TPX, const int CH, const size_t *woff,
                           dc_cvec (*acc)[DC_CH])
{
    const int hw = in_h * in_w;
    const int iy0 = oy * stride - pad;
    const int ky_lo = max(0, -iy0);
    const int ky_hi = min(k, in_h - iy0);
    for (int ci = 0; ci < cin; ci++) {
        const global float *plane = in + (size_t)ci * hw;
        for (int ky = ky_lo; ky < ky_hi; ky++) {
            const global float *row = plane + (iy0 + ky) * in_w;
            for (int kx = 0; kx < k; kx++) {
                dc_cvec wv[DC_CH];
#pragma unroll
                for (int h = 0; h < CH; h++)
                    wv[h] = DC_VLD(DC_CW, w + ((ci * k + ky) * k + kx) * DC_CONV_PACK + woff[h]);
#pragma unroll
                for (int p = 0; p < TPX; p++) {
                    int ix = (ox0 + p) * stride - pad + kx;
                    float v = dc_pro(pre, has_pre, cin, ci, row[clamp(ix, 0, in_w - 1)]);
                    v = (ix >= 0 && ix < in_w) ? v : 0.0f;
#pragma unroll
                    for (int h = 0; h < CH; h++)
                        acc[p][h] = DC_VFMA(DC_CW, wv[h], (dc_cvec)(v), acc[p][h]);
                }
            }
        }
    }
}

/* Adds the bias, applies the ReLU and writes the valid part of a rows tile of TPX pixels and CH
 * channel vectors. out: the image's channel out_coff + co0 at pixel pix0; consecutive pixels
 * are consecutive floats. */
DC_INLINE void dc_conv_rows_store(global float *out, global const float *bias, int flags, int cout,
                                  int co0, int ohw, int pix0, int npix, const int TPX, const int CH,
                                  dc_cvec (*acc)[DC_CH])
{
    float b[CONV_TCO];
#pragma unroll
    for (int j = 0; j < CH * DC_CW; j++)
        b[j] = ((flags & DC_FLAG_BIAS) && co0 + j < cout) ? bias[co0 + j] : 0.0f;
#pragma unroll
    for (int p = 0; p < TPX; p++) {
        float a[CONV_TCO];
#pragma unroll
        for (int h = 0; h < CH; h++)
            DC_VST(DC_CW, acc[p][h], a + h * DC_CW);
#pragma unroll
        for (int j = 0; j < CH * DC_CW; j++) {
            if (p < npix && co0 + j < cout) {
                float v = a[j] + b[j];
                if (flags & DC_FLAG_RELU)
                    v = fmax(v, 0.0f);
                out[(size_t)j * ohw + pix0 + p] = v;
            }
        }
    }
}

/* Splits tile index t into (image, channel tile, pixel tile): pixel tiles fastest (pfirst) or
 * channel tiles fastest. */
DC_INLINE void dc_conv_split_as(int t, int ptiles, int ctiles, int pfirst, int *ni, int *ct,
                                int *pt)
{
    if (pfirst) {
        *pt = t % ptiles;
        *ct = (t / ptiles) % ctiles;
        *ni = t / ptiles / ctiles;
    } else {
        *ct = t % ctiles;
        *pt = (t / ctiles) % ptiles;
        *ni = t / ctiles / ptiles;
    }
}

/* In the CONV_ORDER order (2, the 1x1 kernel's choice by shape: as 1 here). */
DC_INLINE void dc_conv_split(int t, int ptiles, int ctiles, int *ni, int *ct, int *pt)
{
    dc_conv_split_as(t, ptiles, ctiles, CONV_ORDER == 0, ni, ct, pt);
}

/* The tiles of a k > 1 (or strided, or padded) conv, walked with a grid-stride loop. KIND, TPX
 * (pixels per tile) and CH (channel vectors per pixel) are literals at every call site (a TPX
 * computed from KIND here left POCL's loops over pixels rolled, the accumulators in memory),
 * one KIND per kernel:
 * DC_KIND_3X3 and DC_KIND_3X3_PRE (3x3/1 without and with the prologue), DC_KIND_7X7S2 (7x7/2
 * without prologue, the ImageNet stem) and DC_KIND_ANY (everything else). Each kernel holds only
 * its own variants: POCL compiles a kernel at its first launch, so a model pays only for the
 * convs it has (DenseNet-B's 3x3 convs have no prologue: norm2 is folded into conv1). */
#define DC_KIND_3X3 0
#define DC_KIND_3X3_PRE 1
#define DC_KIND_7X7S2 2
#define DC_KIND_ANY 3
DC_INLINE void dc_conv_tiles(global const float *in, global const float *wt,
                             global const float *bias, global const float *pre, global float *out,
                             int n, int cin, int in_ctot, int in_h, int in_w, int cout,
                             int out_ctot, int out_h, int out_w, int k, int stride, int pad,
                             int flags, global int *ctr, const int KIND, const int TPX,
                             const int CH)
{
    const int TCO = CH * DC_CW;
    const int ohw = out_h * out_w;
    const int has_pre = (flags & DC_FLAG_PRE) != 0;
    const size_t in_img = (size_t)in_ctot * in_h * in_w;
    const size_t out_img = (size_t)out_ctot * ohw;
    const size_t w_block = (size_t)cin * k * k * DC_CONV_PACK;
    const int tiles_x = (out_w + TPX - 1) / TPX;
    const int ptiles = out_h * tiles_x;
    const int ctiles = (cout + TCO - 1) / TCO;
    DC_TILES_FOR(t, n * ptiles * ctiles, DC_CONV_DYN_CHUNK, CONV_DYN, ctr)
    {
        int ni, ct, pt;
        dc_conv_split(t, ptiles, ctiles, &ni, &ct, &pt);
        const int co0 = ct * TCO;
        const int oy = pt / tiles_x;
        const int ox0 = (pt % tiles_x) * TPX;
        const int ix0 = ox0 * stride - pad;
        const global float *src = in + ni * in_img;
        const global float *w = wt + (co0 / DC_CONV_PACK) * w_block + co0 % DC_CONV_PACK;
        /* Channel vector h of the tile in the packed weights, from w. A 32-channel tile spans
         * two blocks; past the last block (cout % 32 in 1..16) it reads the last one again,
         * for channels that are never written. */
        size_t woff[DC_CH];
#pragma unroll
        for (int h = 0; h < CH; h++) {
#if CONV_TCO > DC_CONV_PACK
            const int blk =
                min((h * DC_CW) / DC_CONV_PACK, (cout - 1) / DC_CONV_PACK - co0 / DC_CONV_PACK);
            woff[h] = (size_t)blk * w_block + (h * DC_CW) % DC_CONV_PACK;
#else
            woff[h] = h * DC_CW;
#endif
        }
        dc_cvec acc[CONV_TPX][DC_CH];
#pragma unroll
        for (int p = 0; p < TPX; p++)
#pragma unroll
            for (int h = 0; h < CH; h++)
                acc[p][h] = (dc_cvec)(0.0f);
        /* The rows variants: interior tiles skip the column checks. */
        if (KIND == DC_KIND_3X3 || KIND == DC_KIND_3X3_PRE) {
            const int P = KIND == DC_KIND_3X3_PRE;
            if (!(ix0 >= 0 && ix0 + (TPX - 1) + 3 <= in_w))
                dc_conv_rows(src, w, pre, cin, in_h, in_w, oy, ox0, pad, TPX, 3, 1, P, 1, CH, woff,
                             acc);
            else
                dc_conv_rows(src, w, pre, cin, in_h, in_w, oy, ox0, pad, TPX, 3, 1, P, 0, CH, woff,
                             acc);
        } else if (KIND == DC_KIND_7X7S2) {
            /* Edge tiles (2 of 28 per row at 224x224) take the generic loop: an unrolled edge
             * variant took POCL about 0.1 s more to compile, for 7% of the stem's tiles. */
            if (!(ix0 >= 0 && ix0 + (TPX - 1) * 2 + 7 <= in_w))
                dc_conv_any(src, w, pre, 0, cin, in_h, in_w, oy, ox0, 7, 2, pad, TPX, CH, woff,
                            acc);
            else
                dc_conv_rows(src, w, pre, cin, in_h, in_w, oy, ox0, pad, TPX, 7, 2, 0, 0, CH, woff,
                             acc);
        } else {
            dc_conv_any(src, w, pre, has_pre, cin, in_h, in_w, oy, ox0, k, stride, pad, TPX, CH,
                        woff, acc);
        }
        dc_conv_rows_store(out + ni * out_img + (size_t)co0 * ohw, bias, flags, cout, co0, ohw,
                           oy * out_w + ox0, min(TPX, out_w - ox0), TPX, CH, acc);
    }
}

/* The k > 1 conv kernels; all take the same arguments (host/conv/direct.c picks one per conv). */
#define DC_CONV_KERNEL(name, KIND, TPX, CH)                                                        \
    kernel void name(global const float *in, int in_off,     /* [n, in_ctot, in_h, in_w] */        \
                     global const float *wt, int wt_off,     /* [ceil(cout/16), cin, k, k, 16] */  \
                     global const float *bias, int bias_off, /* [cout] */                          \
                     global const float *pre, int pre_off,   /* [2, cin] */                        \
                     global float *out, int out_off,         /* [n, out_ctot, out_h, out_w] */     \
                     int n, int cin, int in_ctot, int in_h, int in_w, int cout, int out_ctot,      \
                     int out_coff, int out_h, int out_w, int k, int stride, int pad, int flags,    \
                     global int *ctr, int ctr_off) /* DC_TILES_FOR's counters */                   \
    {                                                                                              \
        dc_conv_tiles(in + in_off, wt + wt_off, bias + bias_off, pre + pre_off,                    \
                      out + out_off + (size_t)out_coff * out_h * out_w, n, cin, in_ctot, in_h,     \
                      in_w, cout, out_ctot, out_h, out_w, k, stride, pad, flags, ctr + ctr_off,    \
                      KIND, TPX, CH);                                                              \
        dc_tiles_done(ctr + ctr_off, CONV_DYN);                                                    \
    }

#if CONV_KERNELS & DC_CONV_3X3
/* 3x3, stride 1, any padding, no prologue: DenseNet-B's growth convs, the CIFAR stem. */
DC_CONV_KERNEL(densecl_conv3x3, DC_KIND_3X3, CONV_TPX, DC_CH)
#endif
#if CONV_KERNELS & DC_CONV_3X3_PRE
/* 3x3, stride 1, any padding, with the BN+ReLU prologue: DenseNets without bottleneck. */
DC_CONV_KERNEL(densecl_conv3x3_pre, DC_KIND_3X3_PRE, CONV_TPX, DC_CH)
#endif
#if CONV_KERNELS & DC_CONV_7X7S2
#if CONV_VEC == 16
/* Tap kx of one input row: x holds the input value of each of the tile's 16 pixels. */
DC_INLINE void dc_stem_tap(float16 *acc, global const float *wr, const int kx, float16 x)
{
#pragma unroll
    for (int j = 0; j < DC_CONV_PACK; j++)
        acc[j] = DC_FMA((float16)(wr[kx * DC_CONV_PACK + j]), x, acc[j]);
}

/* The 7 taps of one input row, whose columns ix0 .. ix0 + 47 are l0, l1, l2. */
DC_INLINE void dc_stem_row(float16 *acc, global const float *wr, float16 l0, float16 l1, float16 l2)
{
    /* Even and odd columns: 0, 2, .., 30 | 32, .., 46 and 1, .., 31 | 33, .., 47; tap 2m is e
     * shifted by m lanes, tap 2m + 1 is o shifted by m. */
    const float16 e = (float16)(l0.even, l1.even), o = (float16)(l0.odd, l1.odd);
    const float8 e1 = l2.even, o1 = l2.odd;
    dc_stem_tap(acc, wr, 0, e);
    dc_stem_tap(acc, wr, 1, o);
    dc_stem_tap(acc, wr, 2, (float16)(e.s1234, e.s5678, e.s9abc, e.sdef, e1.s0));
    dc_stem_tap(acc, wr, 3, (float16)(o.s1234, o.s5678, o.s9abc, o.sdef, o1.s0));
    dc_stem_tap(acc, wr, 4, (float16)(e.s2345, e.s6789, e.sabcd, e.sef, e1.s01));
    dc_stem_tap(acc, wr, 5, (float16)(o.s2345, o.s6789, o.sabcd, o.sef, o1.s01));
    dc_stem_tap(acc, wr, 6, (float16)(e.s3456, e.s789a, e.sbcde, e.sf, e1.s012));
}

/* 7x7/2 on float16 vectors of output pixels (the 1x1 conv's form): a tile is DC_CONV_PACK
 * output channels (one block of the packed weights) x 16 output pixels of one row, the last
 * tile of a row moved back to end at its last pixel. Per input row, the 16 input values each
 * tap kx needs (every second column from ix0 + kx) come from three vector loads, split into
 * even and odd columns and shifted by constant shuffles; each channel's weight is broadcast
 * into one fma per tap (112 per row against about a dozen loads and shuffles, where the rows
 * tiling spends a broadcast per pixel and tap). Tiles whose loads would leave the row (2 of 7
 * per row at 224x224) load the same vectors, the neighbouring rows' values where the padding
 * is zeroed by a select (14% faster stem than a zero-padded private copy of the row, which
 * only rows at the very start or end of the input still take). Needs
 * in_w >= DC_CONV_STEM_MIN_W and out_w >= 16 (abi.h); the host sizes the grid the same way.
 * On POCL 3.1, 2-core AMD EPYC, DenseNet-121's stem alone, same process, alternating: 1.31-1.34
 * ms against 1.80 with the rows tiling at 32 channels and 1.93 at 16. */
DC_INLINE void dc_conv7x7s2_vec(global const float *in, global const float *wt,
                                global const float *bias, global float *out, int n, int cin,
                                int in_ctot, int in_h, int in_w, int cout, int out_ctot, int out_h,
                                int out_w, int pad, int flags, global int *ctr)
{
    const int ohw = out_h * out_w;
    const size_t in_img = (size_t)in_ctot * in_h * in_w;
    const size_t out_img = (size_t)out_ctot * ohw;
    const size_t w_block = (size_t)cin * 49 * DC_CONV_PACK;
    const int tiles_x = (out_w + 15) / 16;
    const int ptiles = out_h * tiles_x;
    const int ctiles = (cout + DC_CONV_PACK - 1) / DC_CONV_PACK;
    /* What the kernel may read: the batch's images, all their in_ctot channels. */
    global const float *const in_end = in + n * in_img;
    const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    DC_TILES_FOR(t, n * ptiles * ctiles, DC_CONV_DYN_CHUNK, CONV_DYN, ctr)
    {
        int ni, ct, pt;
        dc_conv_split(t, ptiles, ctiles, &ni, &ct, &pt);
        const int co0 = ct * DC_CONV_PACK;
        const int oy = pt / tiles_x;
        const int ox0 = min((pt % tiles_x) * 16, out_w - 16);
        const int iy0 = oy * 2 - pad;
        const int ix0 = ox0 * 2 - pad;
        /* Columns ix0 .. ix0 + 47, what the row's three vector loads read (the taps need up to
         * ix0 + 36). */
        const int edge = ix0 < 0 || ix0 + 48 > in_w;
        /* Rows of the window inside the image; the others are padding and contribute 0. */
        const int ky_lo = max(0, -iy0);
        const int ky_hi = min(7, in_h - iy0);
        const global float *src = in + ni * in_img;
        const global float *w = wt + (size_t)ct * w_block;
        float16 acc[DC_CONV_PACK];
#pragma unroll
        for (int j = 0; j < DC_CONV_PACK; j++)
            acc[j] = (float16)(0.0f);
        for (int ci = 0; ci < cin; ci++) {
            for (int ky = ky_lo; ky < ky_hi; ky++) {
                const global float *row = src + ((size_t)ci * in_h + iy0 + ky) * in_w;
                const global float *wr = w + (ci * 49 + ky * 7) * DC_CONV_PACK;
                float16 l0, l1, l2;
                if (!edge) {
                    l0 = vload16(0, row + ix0);
                    l1 = vload16(0, row + ix0 + 16);
                    l2 = vload16(0, row + ix0 + 32);
                } else if (row + ix0 >= in && row + ix0 + 48 <= in_end) {
                    /* The neighbouring rows' values where the padding is, zeroed. */
                    const int16 c0 = (int16)(ix0) + lane;
                    l0 = select((float16)(0.0f), vload16(0, row + ix0),
                                (c0 >= (int16)(0)) & (c0 < (int16)(in_w)));
                    l1 = select((float16)(0.0f), vload16(0, row + ix0 + 16),
                                (c0 >= (int16)(-16)) & (c0 < (int16)(in_w - 16)));
                    l2 = select((float16)(0.0f), vload16(0, row + ix0 + 32),
                                (c0 >= (int16)(-32)) & (c0 < (int16)(in_w - 32)));
                } else {
                    float seg[48];
                    for (int i = 0; i < 48; i++) {
                        const int ix = ix0 + i;
                        seg[i] = ix >= 0 && ix < in_w ? row[ix] : 0.0f;
                    }
                    l0 = vload16(0, seg);
                    l1 = vload16(0, seg + 16);
                    l2 = vload16(0, seg + 32);
                }
                dc_stem_row(acc, wr, l0, l1, l2);
            }
        }
        global float *dst = out + ni * out_img + oy * out_w + ox0;
#pragma unroll
        for (int j = 0; j < DC_CONV_PACK; j++) {
            if (co0 + j >= cout)
                break;
            float16 r = acc[j] + (float16)((flags & DC_FLAG_BIAS) ? bias[co0 + j] : 0.0f);
            if (flags & DC_FLAG_RELU)
                r = fmax(r, (float16)(0.0f));
            vstore16(r, 0, dst + (size_t)(co0 + j) * ohw);
        }
    }
}

/* 7x7, stride 2, any padding, no prologue: the ImageNet stem. Images too narrow for the vector
 * tiles take the generic loop on tiles of 1 pixel x one channel vector (DC_CW): only tiny
 * inputs, and POCL compiles this kernel 0.25 s faster than with 4-pixel tiles. */
kernel void densecl_conv7x7s2(global const float *in, int in_off,     // [n, in_ctot, in_h, in_w]
                              global const float *wt, int wt_off,     // [cout/16, cin, 7, 7, 16]
                              global const float *bias, int bias_off, // [cout]
                              global const float *pre, int pre_off,   // unused (no prologue)
                              global float *out, int out_off,         // [n, out_ctot, out_h, out_w]
                              int n, int cin, int in_ctot, int in_h, int in_w, int cout,
                              int out_ctot, int out_coff, int out_h, int out_w, int k, int stride,
                              int pad, int flags, global int *ctr,
                              int ctr_off) // DC_TILES_FOR's counters
{
    in += in_off;
    wt += wt_off;
    bias += bias_off;
    out += out_off + (size_t)out_coff * out_h * out_w;
    ctr += ctr_off;
    if (in_w >= DC_CONV_STEM_MIN_W && out_w >= 16)
        dc_conv7x7s2_vec(in, wt, bias, out, n, cin, in_ctot, in_h, in_w, cout, out_ctot, out_h,
                         out_w, pad, flags, ctr);
    else
        dc_conv_tiles(in, wt, bias, pre + pre_off, out, n, cin, in_ctot, in_h, in_w, cout, out_ctot,
                      out_h, out_w, k, stride, pad, flags, ctr, DC_KIND_ANY, 1, 1);
    dc_tiles_done(ctr, CONV_DYN);
}
#else
/* 7x7, stride 2, any padding, no prologue: the ImageNet stem. */
DC_CONV_KERNEL(densecl_conv7x7s2, DC_KIND_7X7S2, DC_TPX7, DC_CH7)
#endif
#endif
#if CONV_KERNELS & DC_CONV_ANY
/* Every other k > 1, strided or padded conv, checking each tap. */
DC_CONV_KERNEL(densecl_conv2d, DC_KIND_ANY, CONV_TPX, DC_CH)
#endif

#if CONV_KERNELS & DC_CONV_1X1
/* The 1x1 kernel's tile order. CONV_ORDER 2: channel tiles fastest where an image has at least
 * DC_ORDER_HW pixels (its input, cin x hw, outweighs the weights, cin x cout, for DenseNets'
 * 128-channel bottlenecks: consecutive tiles share the input slab), pixel tiles fastest below
 * (they share the weights). On POCL 3.1, 2-core Intel Xeon, DenseNet-121 batch 1, per-op minima
 * over 30 alternating rounds: ORDER 1 ran the 56x56 block's 1x1 convs 15% faster than ORDER 0,
 * ORDER 0 the 28x28, 14x14 and 7x7 blocks' 0-15% and the transitions' 10% faster than ORDER 1;
 * ORDER 2 took all 1x1 convs from 10.96 (ORDER 1) to 10.43 ms. */
#define DC_ORDER_HW 1024
#if CONV_ORDER == 2
#define DC_FLAT_PFIRST (hw < DC_ORDER_HW)
#else
#define DC_FLAT_PFIRST (CONV_ORDER == 0)
#endif
/* Each channel of the 1x1 tile at output channel co0: its packed weight row at ci = 0.
 * Channels past cout read the last one's weights (never written). */
DC_INLINE void dc_conv_flat_weights(global const float *wt, size_t w_block, int cout, int co0,
                                    const global float **wp)
{
#pragma unroll
    for (int j = 0; j < CONV_FLAT_CO; j++) {
#if DC_FLAT_PACK % CONV_FLAT_CO == 0
        /* The tile lies in one block: one pointer (padding channels of the block are 0). */
        wp[j] = wt + (co0 / DC_FLAT_PACK) * w_block + co0 % DC_FLAT_PACK + j;
#else
        const int co = min(co0 + j, cout - 1);
        wp[j] = wt + (co / DC_FLAT_PACK) * w_block + co % DC_FLAT_PACK;
#endif
    }
}

#if CONV_STAGE
/* Pair tiles (CONV_PAIRS, on builds of 8-channel weight blocks and float16 vectors: AVX-512
 * CPUs' 8x32): 32 output channels (four weight blocks) x DC_PAIR_PX pixels, vectors over
 * channels rather than pixels, for the pixels past an image's whole 1x1 tiles, which a half
 * tile of 16 pixels or a whole tile moved back took before: a 14x14 image's last 4 pixels, a
 * 7x7 image's last 17 (64 pixels computed for 49 before, 56 now). A float16 holds one block's
 * 8 channels at two pixels: the block's weight row for an input channel is loaded into both
 * halves (one 256-bit broadcast load), and the stage holds each input value spread over the
 * half of its pixel, so that the fma loop is 4 + 4 aligned vector loads per 16 fmas (8x32: 2
 * loads and 8 broadcasts). The sums go back into rows of pixels through local memory (shuffles
 * compiled 0.5 s slower on POCL 3.1, for a part of the work this small). The same fmas in the
 * same order as the 8x32 tile: the outputs are the same to the bit. What they measured:
 * direct.c direct_use_pairs. */
#if CONV_PAIRS && DC_FLAT_PACK == 8 && CONV_VEC == 16
#define DC_PAIRS 1
#define DC_PAIR_PX 8  /* pixels per tile: 4 pairs */
#define DC_PAIR_NB 4  /* 8-channel weight blocks per tile */
#define DC_PAIR_CO 32 /* DC_PAIR_NB * 8 channels */

/* Stages input channels [ci0, ci1) of the tile at src: per channel, 4 float16 of
 * (x[2q] x 8, x[2q + 1] x 8), the prologue applied. PRE is a constant at every call site. */
DC_INLINE void dc_pair_stage(global const float *src, global const float *pre, int cin, int ci0,
                             int ci1, int hw, const int PRE, local float16 *stage)
{
    for (int ci = ci0; ci < ci1; ci++) {
        const global float *s = src + (size_t)ci * hw;
#if DC_PREFETCH > 0
        if (ci < cin - DC_PREFETCH) {
            __builtin_prefetch(s + DC_PREFETCH * hw);
            __builtin_prefetch(s + DC_PREFETCH * hw + DC_PAIR_PX - 1);
        }
#endif
        float8 x = vload8(0, s);
        if (PRE) {
            x = DC_FMA(x, (float8)(pre[ci]), (float8)(pre[cin + ci]));
            x = x < (float8)(0.0f) ? (float8)(0.0f) : x;
        }
        local float16 *d = stage + (ci - ci0) * (DC_PAIR_PX / 2);
        d[0] = (float16)((float8)(x.s0), (float8)(x.s1));
        d[1] = (float16)((float8)(x.s2), (float8)(x.s3));
        d[2] = (float16)((float8)(x.s4), (float8)(x.s5));
        d[3] = (float16)((float8)(x.s6), (float8)(x.s7));
    }
}

/* One channel tile over staged input channels [ci0, ci1): wb, its blocks' weight rows at ci = 0;
 * acc[b][q], block b's channels at pixels 2q and 2q + 1. */
DC_INLINE void dc_pair_fma(local const float16 *stage, const global float *const *wb, int ci0,
                           int ci1, float16 (*acc)[DC_PAIR_PX / 2])
{
    for (int ci = ci0; ci < ci1; ci++) {
        float16 x[DC_PAIR_PX / 2];
#pragma unroll
        for (int q = 0; q < DC_PAIR_PX / 2; q++)
            x[q] = stage[(ci - ci0) * (DC_PAIR_PX / 2) + q];
#pragma unroll
        for (int b = 0; b < DC_PAIR_NB; b++) {
            const float8 w8 = vload8(0, wb[b] + ci * 8);
            const float16 w = (float16)(w8, w8);
#pragma unroll
            for (int q = 0; q < DC_PAIR_PX / 2; q++)
                acc[b][q] = DC_FMA(w, x[q], acc[b][q]);
        }
    }
}

/* The tile's sums to (save) or from (!save) local memory. */
DC_INLINE void dc_pair_keep(local float16 *part, const int save, float16 (*acc)[DC_PAIR_PX / 2])
{
#pragma unroll
    for (int b = 0; b < DC_PAIR_NB; b++)
#pragma unroll
        for (int q = 0; q < DC_PAIR_PX / 2; q++) {
            if (save)
                part[b * (DC_PAIR_PX / 2) + q] = acc[b][q];
            else
                acc[b][q] = part[b * (DC_PAIR_PX / 2) + q];
        }
}

/* Writes a tile whose sums dc_pair_keep saved at part: per output channel co0 + c below c_hi,
 * its DC_PAIR_PX pixels as one row, with the bias and the ReLU. out: channel co0 at the first
 * pixel. */
DC_INLINE void dc_pair_store(local const float16 *part, global float *out, global const float *bias,
                             int flags, int c_hi, int co0, int hw)
{
    local const float *v = (local const float *)part;
    for (int c = 0; c < DC_PAIR_CO && co0 + c < c_hi; c++) {
        const local float *r = v + (c / 8) * (DC_PAIR_PX / 2) * 16 + c % 8;
        float8 y = (float8)(r[0], r[8], r[16], r[24], r[32], r[40], r[48], r[56]);
        if (flags & DC_FLAG_BIAS)
            y += (float8)(bias[co0 + c]);
        if (flags & DC_FLAG_RELU)
            y = fmax(y, (float8)(0.0f));
        vstore8(y, 0, out + (size_t)c * hw);
    }
}

/* The pair tiles at one pixel tile of an image: output channels [c_lo, c_hi) in tiles of
 * DC_PAIR_CO from c_lo (a multiple of 8: the weight blocks). src, out: the image's channel 0 at
 * the tile's first pixel. stage: the staged chunk, then each channel tile's sums. */
DC_INLINE void dc_pair_run(global const float *src, global const float *wt,
                           global const float *bias, global const float *pre, global float *out,
                           int cin, int hw, int cout, int c_lo, int c_hi, int flags,
                           local float *stage)
{
    const size_t w_block = (size_t)cin * 8;
    const int blocks = (cout + 7) / 8, tiles = (c_hi - c_lo + DC_PAIR_CO - 1) / DC_PAIR_CO;
    local float16 *chunk = (local float16 *)stage;
    for (int ci0 = 0; ci0 < cin; ci0 += DC_CONV_PAIR_KC) {
        const int ci1 = min(cin, ci0 + DC_CONV_PAIR_KC);
        if (flags & DC_FLAG_PRE)
            dc_pair_stage(src, pre, cin, ci0, ci1, hw, 1, chunk);
        else
            dc_pair_stage(src, pre, cin, ci0, ci1, hw, 0, chunk);
        for (int j = 0; j < tiles; j++) {
            const int co0 = c_lo + j * DC_PAIR_CO;
            local float16 *part =
                chunk + DC_CONV_PAIR_KC * (DC_PAIR_PX / 2) + j * DC_PAIR_NB * (DC_PAIR_PX / 2);
            const global float *wb[DC_PAIR_NB];
#pragma unroll
            for (int b = 0; b < DC_PAIR_NB; b++)
                wb[b] = wt + min(co0 / 8 + b, blocks - 1) * w_block;
            float16 acc[DC_PAIR_NB][DC_PAIR_PX / 2];
            if (ci0 == 0) {
#pragma unroll
                for (int b = 0; b < DC_PAIR_NB; b++)
#pragma unroll
                    for (int q = 0; q < DC_PAIR_PX / 2; q++)
                        acc[b][q] = (float16)(0.0f);
            } else {
                dc_pair_keep(part, 0, acc);
            }
            dc_pair_fma(chunk, wb, ci0, ci1, acc);
            dc_pair_keep(part, 1, acc);
            if (ci1 >= cin)
                dc_pair_store(part, out + (size_t)co0 * hw, bias, flags, c_hi, co0, hw);
        }
    }
}

/* The pair tiles over [q0, hw) of one image (q0 <= hw - DC_PAIR_PX), the last moved back to end
 * at hw: the pixels past a staged kernel's whole 1x1 tiles. */
DC_INLINE void dc_pair_tail(global const float *src, global const float *wt,
                            global const float *bias, global const float *pre, global float *out,
                            int cin, int hw, int cout, int c_lo, int c_hi, int flags, int q0,
                            local float *stage)
{
    for (int q = q0; q < hw; q += DC_PAIR_PX) {
        const int p0 = min(q, hw - DC_PAIR_PX);
        dc_pair_run(src + p0, wt, bias, pre, out + p0, cin, hw, cout, c_lo, c_hi, flags, stage);
    }
}

#else
#define DC_PAIRS 0
#endif

/* densecl_conv1x1 with staged pixel tiles: a tile is one image's pixel tile (pixel tiles
 * fastest, so that a work-item's consecutive tiles share the group's weights) and a group of
 * cgroup channel tiles. The tile positions are densecl_conv1x1's: the last pixel tile moved back
 * to end at hw, or half of one (DC_HALF) or the tail (DC_TAIL) where those take it. */
DC_INLINE void dc_conv1x1_staged(global const float *in, global const float *wt,
                                 global const float *bias, global const float *pre,
                                 global float *out, int n, int cin, int hw, int cout, int flags,
                                 size_t in_img, size_t out_img, int ptiles, int ctiles, int cgroup,
                                 int pairs, global int *ctr, local float *stage)
{
    const size_t w_block = (size_t)cin * DC_FLAT_PACK;
    const int gtiles = (ctiles + cgroup - 1) / cgroup;
    const int rem = hw % CONV_FLAT_PX;
    /* One tile per take: a tile is cgroup channel tiles' work. */
    DC_TILES_FOR(t, n * ptiles * gtiles, 1, CONV_DYN, ctr)
    {
        int ni, g, pt;
        dc_conv_split_as(t, ptiles, gtiles, 1, &ni, &g, &pt);
        const int ct_end = min(ctiles, (g + 1) * cgroup);
        const int last = pt == ptiles - 1;
#if DC_PAIRS
        if (pairs && rem != 0 && last) {
            /* The pixels past the whole tiles in pair tiles, the group's channels. */
            dc_pair_tail(in + ni * in_img, wt, bias, pre, out + ni * out_img, cin, hw, cout,
                         g * cgroup * CONV_FLAT_CO, min(cout, ct_end * CONV_FLAT_CO), flags,
                         hw - rem, stage);
            continue;
        }
#endif
#if DC_TAIL
        if (rem != 0 && rem <= 8 && last) {
            const size_t p0 = hw - rem;
            for (int ct = g * cgroup; ct < ct_end; ct++) {
                const int co0 = ct * CONV_FLAT_CO;
                global float *dst = out + ni * out_img + (size_t)co0 * hw + p0;
                const global float *w = wt + (co0 / DC_FLAT_PACK) * w_block;
                if (flags & DC_FLAG_PRE)
                    dc_conv_flat_tail(in + ni * in_img + p0, w, pre, bias, dst, flags, cin, hw, rem,
                                      cout, co0, 1);
                else
                    dc_conv_flat_tail(in + ni * in_img + p0, w, pre, bias, dst, flags, cin, hw, rem,
                                      cout, co0, 0);
            }
            continue;
        }
#endif
        /* The tile's pixels: NV vectors from p0 (a half tile where DC_HALF takes one). */
        const int narrow = DC_HALF && rem != 0 && rem <= DC_FW && last;
        const int p0 = narrow ? hw - DC_FW : min(pt * CONV_FLAT_PX, hw - CONV_FLAT_PX);
        const global float *src = in + ni * in_img + p0;
        for (int ci0 = 0; ci0 < cin; ci0 += DC_CONV_STAGE_KC) {
            const int ci1 = min(cin, ci0 + DC_CONV_STAGE_KC);
            if (narrow) {
                if (flags & DC_FLAG_PRE)
                    dc_conv_flat_stage(src, pre, cin, ci0, ci1, hw, 1, 1, stage);
                else
                    dc_conv_flat_stage(src, pre, cin, ci0, ci1, hw, 0, 1, stage);
            } else {
                if (flags & DC_FLAG_PRE)
                    dc_conv_flat_stage(src, pre, cin, ci0, ci1, hw, 1, DC_FNV, stage);
                else
                    dc_conv_flat_stage(src, pre, cin, ci0, ci1, hw, 0, DC_FNV, stage);
            }
            for (int ct = g * cgroup; ct < ct_end; ct++) {
                const int co0 = ct * CONV_FLAT_CO;
                local float *part = stage + DC_CONV_STAGE_KC * CONV_FLAT_PX +
                                    (ct - g * cgroup) * CONV_FLAT_CO * CONV_FLAT_PX;
                const global float *wp[CONV_FLAT_CO];
                dc_conv_flat_weights(wt, w_block, cout, co0, wp);
                dc_fvec acc[CONV_FLAT_CO][DC_FNV];
                if (ci0 == 0) {
#pragma unroll
                    for (int j = 0; j < CONV_FLAT_CO; j++)
#pragma unroll
                        for (int v = 0; v < DC_FNV; v++)
                            acc[j][v] = (dc_fvec)(0.0f);
                } else {
                    dc_conv_flat_keep(part, 0, DC_FNV, acc);
                }
                if (narrow)
                    dc_conv_flat_staged(stage, wp, ci0, ci1, 1, acc);
                else
                    dc_conv_flat_staged(stage, wp, ci0, ci1, DC_FNV, acc);
                if (ci1 < cin) {
                    dc_conv_flat_keep(part, 1, DC_FNV, acc);
                } else {
                    global float *dst = out + ni * out_img + (size_t)co0 * hw + p0;
                    if (narrow)
                        dc_conv_flat_store(dst, bias, flags, cout, co0, hw, 1, acc);
                    else
                        dc_conv_flat_store(dst, bias, flags, cout, co0, hw, DC_FNV, acc);
                }
            }
        }
    }
    dc_tiles_done(ctr, CONV_DYN);
}

#endif

/* 1x1, stride 1, no padding: a GEMM of the packed weights [cout, cin] by the image [cin, hw].
 * Each image is tiled on its own, the last tile of a row of pixels moved back to end at hw
 * (it overlaps its neighbour, which writes the same values): every tile is whole, so the hot
 * loop has no bounds checks. Images smaller than a tile go through dc_conv_flat_folded. */
kernel void densecl_conv1x1(global const float *in, int in_off,     // [n, in_ctot, hw]
                            global const float *wt, int wt_off,     // [ceil(cout/16), cin, 16]
                            global const float *bias, int bias_off, // [cout]
                            global const float *pre, int pre_off,   // [2, cin]
                            global float *out, int out_off,         // [n, out_ctot, hw]
                            int n, int cin, int in_ctot, int hw, int cout, int out_ctot,
                            int out_coff, int flags, global int *ctr,
                            int ctr_off // DC_TILES_FOR's counters
#if CONV_STAGE
                            ,
                            int wpack,          // the weights' blocks the host packed
                            int cgroup,         // channel tiles per staged work-item
                            local float *stage, // dc_conv1x1_staged's chunk and sums
                            int stage_len,      // its floats
                            int pairs           // 1: pair tiles past the whole tiles (CONV_PAIRS)
#endif
)
{
    const size_t in_img = (size_t)in_ctot * hw;
    const size_t out_img = (size_t)out_ctot * hw;
    const size_t w_block = (size_t)cin * DC_FLAT_PACK;
    const int folded = hw < CONV_FLAT_PX;
    const int cols = folded ? n * hw : hw;
    const int ptiles = (cols + CONV_FLAT_PX - 1) / CONV_FLAT_PX;
    const int ctiles = (cout + CONV_FLAT_CO - 1) / CONV_FLAT_CO;
    in += in_off;
    wt += wt_off;
    bias += bias_off;
    pre += pre_off;
    out += out_off + (size_t)out_coff * hw;
    ctr += ctr_off;
#if CONV_STAGE
    /* A staged build runs every image of at least a tile staged: its program is the smaller
     * by the unstaged loops, which POCL would otherwise compile too (a second of start-up).
     * The local buffer holds the whole tiles' chunk and sums, and where pairs, the pair tiles'
     * (the group's channels in tiles of 32). */
    const size_t pair_len =
        (size_t)DC_CONV_PAIR_KC * 64 + (size_t)((cgroup * CONV_FLAT_CO + 31) / 32) * 256;
    const size_t flat_len = (size_t)(DC_CONV_STAGE_KC + cgroup * CONV_FLAT_CO) * CONV_FLAT_PX;
#if DC_PAIRS
    const int pairs_bad = pairs != 0 && (folded || hw < 8); /* images they do not take */
#else
    const int pairs_bad = pairs != 0; /* a build without them */
#endif
    if (wpack != DC_FLAT_PACK || pairs < 0 || pairs > 1 || pairs_bad ||
        (!folded && (cgroup < 1 || get_local_size(0) != 1 || flat_len > (size_t)stage_len ||
                     (pairs && pair_len > (size_t)stage_len)))) {
        /* Weights in another layout than this build reads, a buffer too small for its tiles
         * (a host whose 1x1 tile is not the build's), pair tiles the build lacks or an image
         * they do not take, or work-groups of more than the one work-item the buffer is for:
         * NaN outputs, never plausible wrong ones, and no access past the buffer or race on
         * it. */
        const size_t count = (size_t)n * cout * hw;
        for (size_t i = get_global_id(0); i < count; i += get_global_size(0))
            out[i / ((size_t)cout * hw) * out_img + i % ((size_t)cout * hw)] = NAN;
        return;
    }
    if (!folded) {
        dc_conv1x1_staged(in, wt, bias, pre, out, n, cin, hw, cout, flags, in_img, out_img, ptiles,
                          ctiles, cgroup, pairs, ctr, stage);
        return;
    }
#endif
    DC_TILES_FOR(t, (folded ? 1 : n) * ptiles * ctiles, DC_CONV_DYN_CHUNK, CONV_DYN, ctr)
    {
        int ni, ct, pt;
        dc_conv_split_as(t, ptiles, ctiles, DC_FLAT_PFIRST, &ni, &ct, &pt);
        const int co0 = ct * CONV_FLAT_CO;
        const global float *wp[CONV_FLAT_CO];
        dc_conv_flat_weights(wt, w_block, cout, co0, wp);
        if (folded) {
            dc_conv_flat_folded(in, wp, pre, bias, out, flags, cin, hw, cols, in_img, out_img, cout,
                                co0, pt * CONV_FLAT_PX);
            continue;
        }
#if !CONV_STAGE
#if DC_TAIL
        const int rem = hw % CONV_FLAT_PX;
        if (rem != 0 && rem <= 8 && pt == ptiles - 1) {
            const size_t p0 = hw - rem;
            if (flags & DC_FLAG_PRE)
                dc_conv_flat_tail(in + ni * in_img + p0, wp[0], pre, bias,
                                  out + ni * out_img + (size_t)co0 * hw + p0, flags, cin, hw, rem,
                                  cout, co0, 1);
            else
                dc_conv_flat_tail(in + ni * in_img + p0, wp[0], pre, bias,
                                  out + ni * out_img + (size_t)co0 * hw + p0, flags, cin, hw, rem,
                                  cout, co0, 0);
            continue;
        }
#endif
        dc_fvec acc[CONV_FLAT_CO][DC_FNV];
#pragma unroll
        for (int j = 0; j < CONV_FLAT_CO; j++)
#pragma unroll
            for (int v = 0; v < DC_FNV; v++)
                acc[j][v] = (dc_fvec)(0.0f);
#if DC_HALF
        /* The last tile of an image with 1..DC_FW pixels past the whole ones: one vector of
         * pixels, ending at hw, rather than the whole tile moved back over its neighbour's. */
        const int rem = hw % CONV_FLAT_PX;
        if (rem != 0 && rem <= DC_FW && pt == ptiles - 1) {
            const int p0 = hw - DC_FW;
            if (flags & DC_FLAG_PRE)
                dc_conv_flat(in + ni * in_img + p0, wp, pre, cin, hw, 1, 1, acc);
            else
                dc_conv_flat(in + ni * in_img + p0, wp, pre, cin, hw, 0, 1, acc);
            dc_conv_flat_store(out + ni * out_img + (size_t)co0 * hw + p0, bias, flags, cout, co0,
                               hw, 1, acc);
            continue;
        }
#endif
        const int p0 = min(pt * CONV_FLAT_PX, hw - CONV_FLAT_PX);
        const global float *src = in + ni * in_img + p0;
        if (flags & DC_FLAG_PRE)
            dc_conv_flat(src, wp, pre, cin, hw, 1, DC_FNV, acc);
        else
            dc_conv_flat(src, wp, pre, cin, hw, 0, DC_FNV, acc);
        dc_conv_flat_store(out + ni * out_img + (size_t)co0 * hw + p0, bias, flags, cout, co0, hw,
                           DC_FNV, acc);
#endif
    }
    dc_tiles_done(ctr, CONV_DYN);
}

#endif
