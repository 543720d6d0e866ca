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

/* The same P where a kernel loaded the halved parameters once for many values, on any float
 * type: sc = 0.5 * pre[ch], sh = 0.5 * pre[c + ch] (scalars, or vectors of x's type); x becomes
 * P(x). The families that spell P otherwise say why beside it: the direct family's float-vector
 * 1x1 step and the gemm family (one max instruction, full-scale parameters). */
#define DC_PRO_HALF_SC(pre, ch) (0.5f * (pre)[ch])
#define DC_PRO_HALF_SH(pre, c, ch) (0.5f * (pre)[(c) + (ch)])
#define DC_PRO_APPLY(x, sc, sh)                                                                    \
    do {                                                                                           \
        (x) = DC_FMA((x), (sc), (sh));                                                             \
        (x) += fabs(x);                                                                            \
    } while (0)

/* How the work-items of a conv kernel share its tiles (the conv families' DYN parameter; dyn is
 * a constant at every use), walked as DC_TILES_FOR(t, count, chunk, dyn, ctr) { tile t }.
 * dyn 0: a grid-stride loop, work-item i takes tiles i, i + the global size, ... (GPUs; the host
 * sizes the grid to one work-item per tile). dyn 1: the host launches a few work-items per core;
 * work-item w of N owns the w-th of N equal ranges of the tiles and takes `chunk` tiles at a
 * time from it (its counter ctr[1 + w]), and when its range is used up, from the next ranges in
 * turn. POCL's pthread device hands a kernel's work-groups to its threads in large shares (half
 * of what is left, up to 64 groups at a time), so a thread that the OS preempted, on a machine
 * shared with other processes, held up the whole kernel with its share; here the other threads
 * take over what is left of its range, while each mostly walks consecutive tiles, which share
 * their inputs and weights in its core's caches. The last work-item to finish (ctr[0] counts
 * them) sets the counters back to 0 for the next launch: by then every other one has taken its
 * last tiles, and a queue runs its kernels in order. ctr holds 1 + N ints. */
typedef struct dc_tiles_it {
    global int *ctr;
    int count, chunk, dyn, lo, hi, r, left;
} dc_tiles_it;

DC_INLINE dc_tiles_it dc_tiles_begin(global int *ctr, int count, int chunk, const int dyn)
{
    dc_tiles_it it;
    it.ctr = ctr;
    it.count = count;
    it.chunk = chunk;
    it.dyn = dyn;
    it.lo = it.hi = -1;
    it.r = (int)get_global_id(0);
    it.left = (int)get_global_size(0);
    return it;
}

/* The next chunk [lo, hi) into it; 0 when there is none. */
DC_INLINE int dc_tiles_more(dc_tiles_it *it)
{
    if (!it->dyn) {
        it->lo = it->lo < 0 ? (int)get_global_id(0) : it->lo + (int)get_global_size(0);
        it->hi = it->lo + 1;
        return it->lo < it->count;
    }
    const long n = it->left > 0 ? (long)get_global_size(0) : 1;
    while (it->left > 0) {
        const int lo = (int)(it->count * (long)it->r / n);
        const int hi = (int)(it->count * (long)(it->r + 1) / n);
        const int t = lo + atomic_add(it->ctr + 1 + it->r, it->chunk);
        if (t < hi) {
            it->lo = t;
            it->hi = min(t + it->chunk, hi);
            return 1;
        }
        it->r = it->r + 1 == (int)n ? 0 : it->r + 1;
        it->left--;
    }
    return 0;
}

#define DC_TILES_FOR(t, count, chunk, dyn, ctr)                                                    \
    for (dc_tiles_it t##_it = dc_tiles_begin(ctr, count, chunk, dyn); dc_tiles_more(&t##_it);)     \
        for (int t = t##_it.lo; t < t##_it.hi; t++)

DC_INLINE void dc_tiles_done(global int *ctr, const int dyn)
{
    const int n = (int)get_global_size(0);
    if (dyn && atomic_inc(ctr) == n - 1) {
        for (int i = 1; i <= n; i++)
            atomic_xchg(ctr + i, 0);
        atomic_xchg(ctr, 0);
    }
}
