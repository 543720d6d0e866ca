/* SPDX-License-Identifier: MIT */
/*
 * gemm.cl - the "gemm" conv family: every conv as one GEMM (1x1) or implicit GEMM (k > 1),
 * tiled for GPUs through local memory (after CLBlast's xgemm), or, where local memory is only
 * global memory (Mali), read straight from global memory into registers. OpenCL C 1.2, no
 * extensions, fp32. The host puts kernels/abi.h before this file (DC_FLAG_*); other families'
 * files may precede it in the same program, hence the DC_GEMM_ / dc_gemm_ prefixes.
 *
 * The GEMM, per conv: out[co, j] = act(bias[co] + sum_k W[co, k] * X[k, j]) with
 *   M = cout (co), K = cin * ks * ks, tap-major: k = (ky * ks + kx) * cin + ci, so that the KWG
 *   rows of a K tile usually share one tap (ky, kx) and a column's input position and bounds
 *   test are computed once per tile, not per row, and
 *   N = n * out_h * out_w (j = image * out_hw + pixel: the batch folded into the columns, so that
 *   batch 1 on a 7x7 image and batch 64 are each one launch).
 *   X[k, j] = P(in[img, ci, oy * stride - pad + ky, ox * stride - pad + kx]), 0 where that
 *   position is padding (padding comes after the prologue P: 0, not P(0)) and for k >= K.
 *   P(v) = max(v * scale[ci] + shift[ci], 0) with DC_FLAG_PRE, else v; it is applied as X is
 *   loaded, once per loaded value.
 *   The input is channels [0, cin) of [n, in_ctot, in_h, in_w]; the output goes to channels
 *   [out_coff, out_coff + cout) of [n, out_ctot, out_h, out_w] (a dense block's buffer, no
 *   concatenation pass).
 *
 * Tiles. A work-group of MDIMC x NDIMC work-items computes an MWG x NWG tile of out (channels x
 * columns); each work-item accumulates an MWI x NWI register block (MWI = MWG / MDIMC, NWI =
 * NWG / NDIMC). Work-item t = lx + MDIMC * ly, with tm = t / NDIMC and tn = t % NDIMC, owns the
 * VWM-vectors tm + MDIMC * [0, MWI / VWM) of a tile's channels and the VWN-vectors
 * tn + NDIMC * [0, NWI / VWN) of its columns (CLBlast's strided vectors). The 1x1 kernel has
 * its own tile (MWG1, NWG1, MDIMC1, NDIMC1: the bottlenecks' 128 channels in one tile); the
 * others share one (the growth convs' 32 channels).
 *
 * LOCAL 1 (GPUs with local memory): per KWG-deep K tile the group stages W[KWG, MWG] and
 * X[KWG, NWG] in local arrays typed as VWM- and VWN-vectors (so that every read of a register
 * block is one vector load: ld.shared.v4 on NVIDIA), and each work-item reads its operands from
 * them as whole vectors; consecutive work-items read consecutive vectors (no bank conflicts).
 * The next K tile's global loads (weights as VWM-vectors) are issued into registers halfway
 * through the current tile's FMAs (a register prefetch), and stored to local memory after them.
 * Work-item t stages the columns
 * n0 + t % NWG (one column, rows t / NWG + (T / NWG) * i) or, with fewer work-items than
 * columns, n0 + t + T * c (every row): a work-item's columns never change, so their image base
 * pointer and output position are computed once, and rows are 32-bit offsets from it.
 * LOCAL 0 (local memory that is global memory: Mali): no staging and no barriers; each
 * work-item reads its weights as VWM-vectors and its inputs from global memory (the caches
 * serve the reuse), per tap once per column, per K row once per column. The host keeps its
 * block at 32 accumulators there.
 *
 * Weights: packed by the host (host/conv/gemm.c) as [Kp, Mp], K tap-major, Kp = K rounded up to
 * KWG and Mp = cout rounded up to the kernel's MWG, zero-padded: a tile's rows are MWG
 * contiguous floats, read as VWM-vectors (the buffer offset is a multiple of VWM), and need no
 * bounds checks.
 *
 * K split, in one launch: with get_num_groups(2) = S > 1, group z takes the K tiles
 * [z * kchunk, (z + 1) * kchunk) (group 0 with the bias), and writes its partial sums to ws as
 * [S, Mp, Np] (cout and N rounded up to the tile: no bounds tests); then each work-item counts
 * itself in cnt (an int per work-item of each tile), and the one of the S that counts last adds
 * the S partials of its elements in slice order, applies the ReLU, writes out at the channel
 * offset and sets its counter back to 0 for the next launch. No barrier, no uniform branch:
 * its peers wrote their partials before counting. OpenCL 1.2 orders nothing between work-groups
 * but atomics on one location, so the partials are written and read with atomic_xchg: the sum
 * is exact to the last bit and the same whichever group comes last (and oclgrind's race
 * detector agrees). The host splits only convs whose tile grid is too small to fill the device
 * (batch 1, late blocks).
 *
 * Parameters (-D at build time; defaults below; host/conv/gemm.c's table documents each):
 *   DC_GEMM_MWG, DC_GEMM_NWG, DC_GEMM_MDIMC, DC_GEMM_NDIMC   the tile of the k > 1 kernels
 *   DC_GEMM_MWG1, DC_GEMM_NWG1, DC_GEMM_MDIMC1, DC_GEMM_NDIMC1   the 1x1 kernel's (default:
 *                  the others')
 *   DC_GEMM_KWG    depth of a K tile
 *   DC_GEMM_VWM    vector width along M: 1, 2, 4, 8 or 16; MWG % (MDIMC * VWM) == 0
 *   DC_GEMM_VWN    vector width along N: 1, 2, 4, 8 or 16; NWG % (NDIMC * VWN) == 0
 *   DC_GEMM_KSPLIT the most K slices the host splits a launch into (host-side; checked here)
 *   DC_GEMM_FMA    1: fma(); 0: mad(), for devices without hardware fma
 *   DC_GEMM_LOCAL  1: stage through local memory; 0: read from global memory
 * Also, per tile: MDIMC * NDIMC and NWG are multiples one of the other, and KWG is a multiple of
 * MDIMC * NDIMC / NWG (the input staging). Local memory: 4 * KWG * (MWG + NWG) bytes per
 * work-group; the host checks it and MDIMC * NDIMC against the device's limits.
 *
 * Kernels, all with one argument list: densecl_gemm_1x1 and densecl_gemm_1x1_pre (1x1/1/0: a
 * plain GEMM over the channel prefix, without and with the BN+ReLU prologue),
 * densecl_gemm_3x3 and densecl_gemm_3x3_pre (3x3/1/1 with cin a multiple of KWG: every K tile
 * in one tap), densecl_gemm_7x7s2 (7x7/2/3, the ImageNet stem) and densecl_gemm_conv (any
 * window, stride and pad); the last two take the prologue from DC_FLAG_PRE. The fixed-window
 * kernels are the general one with constant window, stride and pad, and a prologue known at
 * compile time, so that no instruction goes to a choice made per launch.
 *
 * Each K tile's FMAs are unrolled whole (KWG rows of MWI x NWI), a kernel's loops over its tile
 * are over compile-time bounds (DC_GEMM_FOR), and the bias is where the sums start: the static
 * share of FMAs among a kernel's instructions is what tools/dev/ptx_stats.sh measures.
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
#ifndef DC_GEMM_MWG1
#define DC_GEMM_MWG1 DC_GEMM_MWG
#endif
#ifndef DC_GEMM_NWG1
#define DC_GEMM_NWG1 DC_GEMM_NWG
#endif
#ifndef DC_GEMM_MDIMC1
#define DC_GEMM_MDIMC1 DC_GEMM_MDIMC
#endif
#ifndef DC_GEMM_NDIMC1
#define DC_GEMM_NDIMC1 DC_GEMM_NDIMC
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
#ifndef DC_GEMM_LOCAL
#define DC_GEMM_LOCAL 1
#endif

#if DC_GEMM_MWG < 1 || DC_GEMM_NWG < 1 || DC_GEMM_KWG < 1 || DC_GEMM_MDIMC < 1 ||                  \
    DC_GEMM_NDIMC < 1 || DC_GEMM_MWG1 < 1 || DC_GEMM_NWG1 < 1 || DC_GEMM_MDIMC1 < 1 ||             \
    DC_GEMM_NDIMC1 < 1
#error "gemm.cl: MWG, NWG, KWG, MDIMC and NDIMC (and their 1x1 forms) must be positive"
#endif
#if DC_GEMM_VWM != 1 && DC_GEMM_VWM != 2 && DC_GEMM_VWM != 4 && DC_GEMM_VWM != 8 &&                \
    DC_GEMM_VWM != 16
#error "gemm.cl: VWM must be 1, 2, 4, 8 or 16"
#endif
#if DC_GEMM_VWN != 1 && DC_GEMM_VWN != 2 && DC_GEMM_VWN != 4 && DC_GEMM_VWN != 8 &&                \
    DC_GEMM_VWN != 16
#error "gemm.cl: VWN must be 1, 2, 4, 8 or 16"
#endif
#if DC_GEMM_MWG % (DC_GEMM_MDIMC * DC_GEMM_VWM) != 0 ||                                            \
    DC_GEMM_MWG1 % (DC_GEMM_MDIMC1 * DC_GEMM_VWM) != 0
#error "gemm.cl: MWG must be a multiple of MDIMC * VWM (MWG1 of MDIMC1 * VWM)"
#endif
#if DC_GEMM_NWG % (DC_GEMM_NDIMC * DC_GEMM_VWN) != 0 ||                                            \
    DC_GEMM_NWG1 % (DC_GEMM_NDIMC1 * DC_GEMM_VWN) != 0
#error "gemm.cl: NWG must be a multiple of NDIMC * VWN (NWG1 of NDIMC1 * VWN)"
#endif
#if DC_GEMM_KSPLIT < 1
#error "gemm.cl: KSPLIT must be at least 1"
#endif
/* The input staging of each tile (LOCAL 1): see the header. */
#define DC_GEMM_T_ (DC_GEMM_MDIMC * DC_GEMM_NDIMC)
#define DC_GEMM_T1_ (DC_GEMM_MDIMC1 * DC_GEMM_NDIMC1)
#if (DC_GEMM_T_ >= DC_GEMM_NWG ? DC_GEMM_T_ % DC_GEMM_NWG : DC_GEMM_NWG % DC_GEMM_T_) != 0 ||      \
    (DC_GEMM_T1_ >= DC_GEMM_NWG1 ? DC_GEMM_T1_ % DC_GEMM_NWG1 : DC_GEMM_NWG1 % DC_GEMM_T1_) != 0
#error "gemm.cl: MDIMC * NDIMC must be a multiple of NWG, or NWG a multiple of MDIMC * NDIMC"
#endif
#if (DC_GEMM_T_ > DC_GEMM_NWG && DC_GEMM_KWG % (DC_GEMM_T_ / DC_GEMM_NWG) != 0) ||                 \
    (DC_GEMM_T1_ > DC_GEMM_NWG1 && DC_GEMM_KWG % (DC_GEMM_T1_ / DC_GEMM_NWG1) != 0)
#error "gemm.cl: KWG must be a multiple of MDIMC * NDIMC / NWG"
#endif

/* The largest register blocks and staging loads of the two tiles: private arrays are sized by
 * them; each kernel's unrolled loops touch only its own part, which becomes registers. */
#define DC_GEMM_MAX_(a, b) ((a) > (b) ? (a) : (b))
/* Half a K tile, the compute loop's step (KWG 1: the whole tile in the first half). */
#define DC_GEMM_KWG_HALF ((DC_GEMM_KWG + 1) / 2)
#define DC_GEMM_MWI_MAX DC_GEMM_MAX_(DC_GEMM_MWG / DC_GEMM_MDIMC, DC_GEMM_MWG1 / DC_GEMM_MDIMC1)
#define DC_GEMM_NWI_MAX DC_GEMM_MAX_(DC_GEMM_NWG / DC_GEMM_NDIMC, DC_GEMM_NWG1 / DC_GEMM_NDIMC1)
#define DC_GEMM_XE_MAX                                                                             \
    DC_GEMM_MAX_((DC_GEMM_KWG * DC_GEMM_NWG) / DC_GEMM_T_, DC_GEMM_KWG * DC_GEMM_NWG1 / DC_GEMM_T1_)
#define DC_GEMM_XC_MAX                                                                             \
    DC_GEMM_MAX_(DC_GEMM_NWG > DC_GEMM_T_ ? DC_GEMM_NWG / DC_GEMM_T_ : 1,                          \
                 DC_GEMM_NWG1 > DC_GEMM_T1_ ? DC_GEMM_NWG1 / DC_GEMM_T1_ : 1)
#define DC_GEMM_WLD_MAX                                                                            \
    DC_GEMM_MAX_((DC_GEMM_KWG * DC_GEMM_MWG / DC_GEMM_VWM + DC_GEMM_T_ - 1) / DC_GEMM_T_,          \
                 (DC_GEMM_KWG * DC_GEMM_MWG1 / DC_GEMM_VWM + DC_GEMM_T1_ - 1) / DC_GEMM_T1_)

#define DC_GEMM_CAT_(a, b) a##b
#define DC_GEMM_CAT(a, b) DC_GEMM_CAT_(a, b)
/* The vector types of the two widths (float for width 1). */
#if DC_GEMM_VWM == 1
#define DC_GEMM_VTM float
#else
#define DC_GEMM_VTM DC_GEMM_CAT(float, DC_GEMM_VWM)
#endif
#if DC_GEMM_VWN == 1
#define DC_GEMM_VTN float
#else
#define DC_GEMM_VTN DC_GEMM_CAT(float, DC_GEMM_VWN)
#endif
/* Vector v of width n into floats [n * i, n * i + n) of private array p, and back. */
#define DC_GEMM_VPUT1(v, i, p) ((p)[i] = (v))
#define DC_GEMM_VPUT2(v, i, p) vstore2(v, i, p)
#define DC_GEMM_VPUT4(v, i, p) vstore4(v, i, p)
#define DC_GEMM_VPUT8(v, i, p) vstore8(v, i, p)
#define DC_GEMM_VPUT16(v, i, p) vstore16(v, i, p)
#define DC_GEMM_VPUT(n, v, i, p) DC_GEMM_CAT(DC_GEMM_VPUT, n)(v, i, p)
#define DC_GEMM_VGET1(i, p) ((p)[i])
#define DC_GEMM_VGET2(i, p) vload2(i, p)
#define DC_GEMM_VGET4(i, p) vload4(i, p)
#define DC_GEMM_VGET8(i, p) vload8(i, p)
#define DC_GEMM_VGET16(i, p) vload16(i, p)
#define DC_GEMM_VGET(n, i, p) DC_GEMM_CAT(DC_GEMM_VGET, n)(i, p)

/* A loop over [0, n) of a bound n that a kernel makes constant (a tile's size), written as one
 * over [0, max) of a compile-time max with n tested inside: it unrolls in every function it is
 * in, whether or not that function has been inlined into a kernel yet, and the tests fold away
 * when it has. (Unrolled before inlining, a loop of n iterations became a partly unrolled loop
 * whose private arrays stayed in memory: ld.local in the PTX.) */
#define DC_GEMM_FOR(i, n, max)                                                                     \
    for (int i = 0; i < (max); i++)                                                                \
        if (i < (n))

#if DC_GEMM_FMA
#define DC_GEMM_MAC(a, b, c) fma(a, b, c)
#else
#define DC_GEMM_MAC(a, b, c) mad(a, b, c)
#endif

#define DC_GEMM_ARGS                                                                               \
    global const float *in, int in_off, global const float *w, int w_off,                          \
        global const float *bias, int bias_off, global const float *pre, int pre_off,              \
        global float *out, int out_off, global float *ws, int ws_off, global int *cnt,             \
        int cnt_off, int n, int cin, int in_ctot, int in_h, int in_w, int cout, int mpad,          \
        int out_ctot, int out_coff, int out_h, int out_w, int ks, int stride, int pad, int kchunk, \
        int flags
#define DC_GEMM_PASS                                                                               \
    in, in_off, w, w_off, bias, bias_off, pre, pre_off, out, out_off, ws, ws_off, cnt, cnt_off, n, \
        cin, in_ctot, in_h, in_w, cout, mpad, out_ctot, out_coff, out_h, out_w

/* How a kernel finds a K row's tap (taps_mode), and whether it applies the prologue
 * (pre_mode); constants of each kernel. */
#define DC_GEMM_FLAT 0    /* 1x1/1/0: K is the channel prefix */
#define DC_GEMM_ONE_TAP 1 /* every K tile lies in one tap: cin a multiple of KWG (the host's) */
#define DC_GEMM_CROSS 2   /* rows may cross taps: each row its own (the stem: cin 3) */
#define DC_GEMM_ANY 3     /* per K tile, one tap where it can be, else each row its own */
#define DC_GEMM_PRE_NO 0
#define DC_GEMM_PRE_YES 1
#define DC_GEMM_PRE_FLAG 2 /* as DC_FLAG_PRE says */

/* The offset of a work-item's i-th channel (column) of its block from its first: the strided
 * vectors of the header. Constants once unrolled. */
#define DC_GEMM_MOFF(mi, MDIMC) ((mi) / DC_GEMM_VWM * DC_GEMM_VWM * (MDIMC) + (mi) % DC_GEMM_VWM)
#define DC_GEMM_NOFF(ni, NDIMC) ((ni) / DC_GEMM_VWN * DC_GEMM_VWN * (NDIMC) + (ni) % DC_GEMM_VWN)

/* A work-item's block acc at its start: the bias of its channels in K slice 0 (so that the sum
 * over the slices holds it once), 0 elsewhere. */
static inline __attribute__((always_inline)) void
dc_gemm_acc_init(float (*acc)[DC_GEMM_NWI_MAX], global const float *bias, int bias_off, int cout,
                 int flags, const int MWG, const int NWG, const int MDIMC, const int NDIMC, int tid)
{
    const int MWI = MWG / MDIMC, NWI = NWG / NDIMC;
    const int m1 = (int)get_group_id(0) * MWG + tid / NDIMC * DC_GEMM_VWM;
    const int on = (flags & DC_FLAG_BIAS) != 0 && get_group_id(2) == 0;
#pragma unroll
    DC_GEMM_FOR(mi, MWI, DC_GEMM_MWI_MAX)
    {
        const int co = m1 + DC_GEMM_MOFF(mi, MDIMC);
        const float b = on && co < cout ? bias[bias_off + co] : 0.0f;
#pragma unroll
        DC_GEMM_FOR(ni, NWI, DC_GEMM_NWI_MAX)
        acc[mi][ni] = b;
    }
}

/* The epilogue of a work-item's block acc (channels m0 + tm * VWM + MOFF, columns
 * n0 + tn * VWN + NOFF): with a K split, the partial sums through ws and, in the work-item of
 * each tile position that counts last, the sum (the others return here); then bias, ReLU, and
 * out at the channel offset, a VWN-vector per store where the output rows allow it. */
static inline __attribute__((always_inline)) void
dc_gemm_epilogue(float (*acc)[DC_GEMM_NWI_MAX], global float *out, int out_off, global float *ws,
                 int ws_off, global int *cnt, int cnt_off, int cout, int ncols, int out_ctot,
                 int out_coff, int out_hw, int flags, const int MWG, const int NWG, const int MDIMC,
                 const int NDIMC, int tid)
{
    const int MWI = MWG / MDIMC, NWI = NWG / NDIMC;
    const int tm = tid / NDIMC, tn = tid % NDIMC;
    const int m1 = (int)get_group_id(0) * MWG + tm * DC_GEMM_VWM;
    const int n1 = (int)get_group_id(1) * NWG + tn * DC_GEMM_VWN;
    const int split = (int)get_group_id(2), nsplit = (int)get_num_groups(2);
    if (nsplit > 1) {
        /* [S, Mp, Np] at ws_off (Mp, Np: cout and N rounded up to the tile: no bounds tests;
         * the host keeps it under 2^31 floats), element (co, col) of slice s at
         * (s * Mp + co) * Np + col. A counter per work-item of each tile: the work-item that
         * counts last has every slice of its own elements (its peers in the other groups wrote
         * them before counting), so no barrier is needed, nor a uniform branch. */
        const int npad = (int)get_num_groups(1) * NWG;
        const int plane = (int)get_num_groups(0) * MWG * npad;
        volatile global float *part = (volatile global float *)(ws + ws_off) + m1 * npad + n1;
        volatile global int *count =
            (volatile global int *)(cnt + cnt_off) +
            (get_group_id(0) + get_num_groups(0) * get_group_id(1)) * (size_t)(MDIMC * NDIMC) + tid;
#pragma unroll
        DC_GEMM_FOR(mi, MWI, DC_GEMM_MWI_MAX)
        {
            volatile global float *row = part + split * plane + DC_GEMM_MOFF(mi, MDIMC) * npad;
#pragma unroll
            DC_GEMM_FOR(ni, NWI, DC_GEMM_NWI_MAX)
            atomic_xchg(row + DC_GEMM_NOFF(ni, NDIMC), acc[mi][ni]);
        }
        mem_fence(CLK_GLOBAL_MEM_FENCE);
        if (atomic_inc(count) != nsplit - 1)
            return;
        mem_fence(CLK_GLOBAL_MEM_FENCE);
#pragma unroll
        DC_GEMM_FOR(mi, MWI, DC_GEMM_MWI_MAX)
#pragma unroll
        DC_GEMM_FOR(ni, NWI, DC_GEMM_NWI_MAX)
        acc[mi][ni] = 0.0f;
        for (int s = 0; s < nsplit; s++) {
#pragma unroll
            DC_GEMM_FOR(mi, MWI, DC_GEMM_MWI_MAX)
            {
                volatile global float *row = part + s * plane + DC_GEMM_MOFF(mi, MDIMC) * npad;
#pragma unroll
                DC_GEMM_FOR(ni, NWI, DC_GEMM_NWI_MAX)
                acc[mi][ni] += atomic_xchg(row + DC_GEMM_NOFF(ni, NDIMC), 0.0f);
            }
        }
        atomic_xchg(count, 0);
    }
    {
        /* Each column's place in out: image * out_ctot * out_hw + pixel, one division per
         * vector of columns. VWN consecutive columns are VWN consecutive floats of one output
         * row, aligned, when the image's pixel count and the buffer offset are multiples of
         * VWN. */
        const int vec = DC_GEMM_VWN > 1 && ((out_hw | out_off) & (DC_GEMM_VWN - 1)) == 0;
        const int relu = (flags & DC_FLAG_RELU) != 0;
        size_t cofs[DC_GEMM_NWI_MAX]; /* bytes */
        int cok[DC_GEMM_NWI_MAX];
#pragma unroll
        DC_GEMM_FOR(nv, NWI / DC_GEMM_VWN, DC_GEMM_NWI_MAX / DC_GEMM_VWN)
        {
            const int col0 = n1 + nv * NDIMC * DC_GEMM_VWN;
            int img = col0 / out_hw, p = col0 - img * out_hw;
#pragma unroll
            for (int c = 0; c < DC_GEMM_VWN; c++) {
                cofs[nv * DC_GEMM_VWN + c] = ((size_t)img * out_ctot * out_hw + p) * sizeof(float);
                cok[nv * DC_GEMM_VWN + c] = col0 + c < ncols;
                /* The next column: one pixel on, or the next image's first. */
                p++;
                img += p == out_hw;
                p = p == out_hw ? 0 : p;
            }
        }
#pragma unroll
        DC_GEMM_FOR(mi, MWI, DC_GEMM_MWI_MAX)
        {
            const int co = m1 + DC_GEMM_MOFF(mi, MDIMC);
            if (co < cout) {
                global char *row =
                    (global char *)(out + out_off + (size_t)(out_coff + co) * out_hw);
#pragma unroll
                DC_GEMM_FOR(nv, NWI / DC_GEMM_VWN, DC_GEMM_NWI_MAX / DC_GEMM_VWN)
                {
                    float v[DC_GEMM_VWN];
#pragma unroll
                    for (int c = 0; c < DC_GEMM_VWN; c++) {
                        const float t = acc[mi][nv * DC_GEMM_VWN + c];
                        v[c] = relu ? max(t, 0.0f) : t;
                    }
                    if (vec && cok[nv * DC_GEMM_VWN]) {
                        *(global DC_GEMM_VTN *)(row + cofs[nv * DC_GEMM_VWN]) =
                            DC_GEMM_VGET(DC_GEMM_VWN, 0, v);
                    } else {
#pragma unroll
                        for (int c = 0; c < DC_GEMM_VWN; c++)
                            if (cok[nv * DC_GEMM_VWN + c])
                                *(global float *)(row + cofs[nv * DC_GEMM_VWN + c]) = v[c];
                    }
                }
            }
        }
    }
}

/* x with the prologue of pre_mode (sc, sh: its channel's, full scale) applied. Spelt apart from
 * common.cl's DC_PRO_APPLY: the branch t + |t| avoids on POCL's scalar code is not there on a
 * GPU, where max() is one instruction against two. OpenCL leaves max() with a NaN undefined;
 * where it is IEEE maxNum (POCL, PTX max.f32) a NaN input gives 0 here where torch and the
 * other families keep NaN. */
static inline __attribute__((always_inline)) float dc_gemm_pro(float x, float sc, float sh,
                                                               const int pre_mode, int pre_flag)
{
    if (pre_mode == DC_GEMM_PRE_NO || (pre_mode == DC_GEMM_PRE_FLAG && !pre_flag))
        return x;
    return max(DC_GEMM_MAC(x, sc, sh), 0.0f);
}

/* A column's window row for columns past N (and, flat, its only row): no tap brings it into
 * an image, so the bounds tests mask it without a flag of its own. */
#define DC_GEMM_NO_ROW (-0x40000000)

/* Each column a work-item stages or computes, once: its image's base in `in` (flat: and its
 * pixel), the window's top-left corner (flat: row 0, or DC_GEMM_NO_ROW past N). Columns past N
 * read image 0 (masked). */
static inline __attribute__((always_inline)) void
dc_gemm_column(int col, int ncols, global const float *in, int in_off, size_t in_img, int out_hw,
               int out_w, int stride, int pad, const int flat, global const float **colp, int *xy,
               int *xx)
{
    const int img = col / out_hw, p = col - img * out_hw;
    const int oy = p / out_w, ox = p - oy * out_w;
    const int ok = col < ncols;
    *colp = in + in_off + (size_t)(ok ? img : 0) * in_img + (flat ? p : 0);
    *xy = !ok ? DC_GEMM_NO_ROW : flat ? 0 : oy * stride - pad;
    *xx = ox * stride - pad;
}

#if DC_GEMM_LOCAL

/* The loads of the K tile starting at row k0 into registers: wreg its weights, xreg its inputs
 * ([XC][XR], the prologue applied, 0 where masked), (*tap0, *ci0) its start in K, advanced to
 * the next tile's. Masked inputs read their column's base (a valid address) and are then
 * zeroed: no branch per element. The rest as dc_gemm_tile's. */
static inline __attribute__((always_inline)) void
dc_gemm_load(int k0, global const DC_GEMM_VTM *wv, int wrow, int m0, global const float *pre,
             int pre_off, int pre_flag, int cin, int in_h, int in_w, int in_hw, const int ks,
             const int taps_mode, const int pre_mode, const int T, const int NWG, const int MWG,
             int tid, global const float **colp, const int *xy, const int *xx, int *tap0, int *ci0,
             float *xreg, DC_GEMM_VTM *wreg)
{
    const int XC = T >= NWG ? 1 : NWG / T, XRS = T >= NWG ? T / NWG : 1;
    const int XR = DC_GEMM_KWG / XRS, WV = MWG / DC_GEMM_VWM;
    const int WLD = (DC_GEMM_KWG * WV + T - 1) / T, taps = ks * ks;
    const int xrow0 = XC == 1 ? tid / NWG : 0;
    const int flat = taps_mode == DC_GEMM_FLAT;
    const int use_pre = pre_mode == DC_GEMM_PRE_YES || (pre_mode == DC_GEMM_PRE_FLAG && pre_flag);
#pragma unroll
    DC_GEMM_FOR(i, WLD, DC_GEMM_WLD_MAX)
    {
        const int v = tid + T * i, r = v / WV, cv = v - r * WV;
        if (WLD * T == DC_GEMM_KWG * WV || v < DC_GEMM_KWG * WV)
            wreg[i] = wv[(k0 + r) * wrow + m0 / DC_GEMM_VWM + cv];
    }
    if (taps_mode == DC_GEMM_FLAT || taps_mode == DC_GEMM_ONE_TAP ||
        (taps_mode == DC_GEMM_ANY && *ci0 + DC_GEMM_KWG <= cin)) {
        /* One tap for every row (1x1: tap 0, rows past K masked): each column's position,
         * bounds and base pointer once; each row one offset from every column's base, each
         * element a load from it (a masked column reads its own pixel 0 of a channel it has,
         * a masked row channel 0) and a select. */
        const int ky = flat ? 0 : *tap0 / ks, kx = flat ? 0 : *tap0 - ky * ks;
        global const float *cb[DC_GEMM_XC_MAX];
        int ok[DC_GEMM_XC_MAX];
        global const float *prow = pre + pre_off + *ci0;
#pragma unroll
        DC_GEMM_FOR(c, XC, DC_GEMM_XC_MAX)
        {
            const int iy = xy[c] + ky, ix = xx[c] + kx;
            ok[c] = flat ? xy[c] == 0 : (uint)iy < (uint)in_h && (uint)ix < (uint)in_w;
            cb[c] = colp[c] + *ci0 * in_hw + (ok[c] && !flat ? iy * in_w + ix : 0);
        }
#pragma unroll
        DC_GEMM_FOR(r, XR, DC_GEMM_KWG)
        {
            const int row = xrow0 + XRS * r;
            const int rok = !flat || *ci0 + row < cin, rr = rok ? row : 0;
            const float sc = use_pre ? prow[rr] : 1.0f;
            const float sh = use_pre ? prow[cin + rr] : 0.0f;
#pragma unroll
            DC_GEMM_FOR(c, XC, DC_GEMM_XC_MAX)
            {
                const float x = cb[c][rr * in_hw];
                xreg[c * XR + r] = rok && ok[c] ? dc_gemm_pro(x, sc, sh, pre_mode, pre_flag) : 0.0f;
            }
        }
    } else if (taps_mode == DC_GEMM_CROSS || taps_mode == DC_GEMM_ANY) {
        /* Rows across taps: each row its own tap, stepped from the first row's. */
        int ci = *ci0 + xrow0, tap = *tap0;
        if (ci >= cin) {
            tap += ci / cin;
            ci -= ci / cin * cin;
        }
#pragma unroll
        DC_GEMM_FOR(r, XR, DC_GEMM_KWG)
        {
            const int ky = tap / ks, kx = tap - ky * ks;
            const int rok = tap < taps, cc = rok ? ci : 0;
            const float sc = use_pre ? pre[pre_off + cc] : 1.0f;
            const float sh = use_pre ? pre[pre_off + cin + cc] : 0.0f;
#pragma unroll
            DC_GEMM_FOR(c, XC, DC_GEMM_XC_MAX)
            {
                const int iy = xy[c] + ky, ix = xx[c] + kx;
                const int m = rok && (uint)iy < (uint)in_h && (uint)ix < (uint)in_w;
                const float x = colp[c][m ? cc * in_hw + iy * in_w + ix : 0];
                xreg[c * XR + r] = m ? dc_gemm_pro(x, sc, sh, pre_mode, pre_flag) : 0.0f;
            }
            ci += XRS;
            while (ci >= cin) {
                ci -= cin;
                tap++;
            }
        }
    }
    /* The K tile after it. */
    *ci0 += DC_GEMM_KWG;
    while (*ci0 >= cin) {
        *ci0 -= cin;
        (*tap0)++;
    }
}

/* Half h of a K tile from local memory: KWG / 2 rows of MWI x NWI FMAs, each row's register
 * block read as MWI / VWM + NWI / VWN vectors. */
static inline __attribute__((always_inline)) void
dc_gemm_half(const int h, float (*acc)[DC_GEMM_NWI_MAX], local const DC_GEMM_VTM *wl,
             local const DC_GEMM_VTN *xl, int tm, int tn, const int MWG, const int NWG,
             const int MDIMC, const int NDIMC)
{
    const int MWI = MWG / MDIMC, NWI = NWG / NDIMC, WV = MWG / DC_GEMM_VWM;
    const int MWV = MWI / DC_GEMM_VWM, NWV = NWI / DC_GEMM_VWN;
    /* The count spelt out: a plain "unroll" stopped at 16 of a KWG of 32 in clang 15. */
#pragma unroll DC_GEMM_KWG_HALF
    for (int kq = 0; kq < DC_GEMM_KWG_HALF; kq++) {
        const int kk = h * DC_GEMM_KWG_HALF + kq;
        float wr[DC_GEMM_MWI_MAX], xr[DC_GEMM_NWI_MAX];
        if (kk >= DC_GEMM_KWG)
            break; /* an odd KWG's second half */
#pragma unroll
        DC_GEMM_FOR(mv, MWV, DC_GEMM_MWI_MAX / DC_GEMM_VWM)
        DC_GEMM_VPUT(DC_GEMM_VWM, wl[kk * WV + tm + MDIMC * mv], mv, wr);
#pragma unroll
        DC_GEMM_FOR(nv, NWV, DC_GEMM_NWI_MAX / DC_GEMM_VWN)
        DC_GEMM_VPUT(DC_GEMM_VWN, xl[kk * (NWG / DC_GEMM_VWN) + tn + NDIMC * nv], nv, xr);
#pragma unroll
        DC_GEMM_FOR(mi, MWI, DC_GEMM_MWI_MAX)
#pragma unroll
        DC_GEMM_FOR(ni, NWI, DC_GEMM_NWI_MAX)
        acc[mi][ni] = DC_GEMM_MAC(wr[mi], xr[ni], acc[mi][ni]);
    }
}

/* One work-group's tile, staged through local memory. ks, stride, pad: the window (constants in
 * the fixed-window kernels: always inlined, so that their divisions are by constants);
 * taps_mode, pre_mode: the kernel's (above). MWG, NWG, MDIMC, NDIMC: the kernel's tile. wl:
 * [KWG, MWG / VWM], xl: [KWG, NWG / VWN]. */
static inline __attribute__((always_inline)) void
dc_gemm_tile(global const float *in, int in_off, global const float *w, int w_off,
             global const float *bias, int bias_off, global const float *pre, int pre_off,
             global float *out, int out_off, global float *ws, int ws_off, global int *cnt,
             int cnt_off, int n, int cin, int in_ctot, int in_h, int in_w, int cout, int mpad,
             int out_ctot, int out_coff, int out_h, int out_w, const int ks, const int stride,
             const int pad, int kchunk, int flags, const int taps_mode, const int pre_mode,
             const int MWG, const int NWG, const int MDIMC, const int NDIMC, local DC_GEMM_VTM *wl,
             local DC_GEMM_VTN *xl)
{
    const int T = MDIMC * NDIMC;
    /* Staging: XC columns per work-item, rows xrow0 + XRS * [0, XR); WLD weight vectors. */
    const int XC = T >= NWG ? 1 : NWG / T, XRS = T >= NWG ? T / NWG : 1;
    const int XR = DC_GEMM_KWG / XRS, WV = MWG / DC_GEMM_VWM;
    const int WLD = (DC_GEMM_KWG * WV + T - 1) / T;
    const int tid = (int)get_local_id(0) + MDIMC * (int)get_local_id(1);
    const int m0 = (int)get_group_id(0) * MWG, n0 = (int)get_group_id(1) * NWG;
    const int K = cin * ks * ks;
    const int ktiles = (K + DC_GEMM_KWG - 1) / DC_GEMM_KWG;
    const int kt0 = (int)get_group_id(2) * kchunk, kt1 = min(ktiles, kt0 + kchunk);
    const int in_hw = in_h * in_w, out_hw = out_h * out_w, ncols = n * out_hw;
    const int pre_flag = (flags & DC_FLAG_PRE) != 0;
    const int xrow0 = XC == 1 ? tid / NWG : 0;
    const int tm = tid / NDIMC, tn = tid % NDIMC;
    global const DC_GEMM_VTM *wv = (global const DC_GEMM_VTM *)(w + w_off);
    const int wrow = mpad / DC_GEMM_VWM; /* W's row length in vectors */
    global const float *colp[DC_GEMM_XC_MAX];
    int xy[DC_GEMM_XC_MAX], xx[DC_GEMM_XC_MAX];
    float acc[DC_GEMM_MWI_MAX][DC_GEMM_NWI_MAX];
    float xreg[DC_GEMM_XE_MAX];        /* the next tile's inputs, [XC][XR] */
    DC_GEMM_VTM wreg[DC_GEMM_WLD_MAX]; /* and its weights */
    int tap0 = kt0 * DC_GEMM_KWG / cin, ci0 = kt0 * DC_GEMM_KWG - tap0 * cin;

#pragma unroll
    DC_GEMM_FOR(c, XC, DC_GEMM_XC_MAX)
    {
        dc_gemm_column(n0 + (XC == 1 ? tid % NWG : tid + T * c), ncols, in, in_off,
                       (size_t)in_ctot * in_hw, out_hw, out_w, stride, pad,
                       taps_mode == DC_GEMM_FLAT, &colp[c], &xy[c], &xx[c]);
    }
    dc_gemm_acc_init(acc, bias, bias_off, cout, flags, MWG, NWG, MDIMC, NDIMC, tid);

    /* The loads of the first K tile, then per round: store it to local memory, issue the
     * next tile's loads (in flight during this tile's FMAs), compute. The loads are called
     * twice, so that the loop's barriers are unconditional (a compiler, POCL's, need not
     * prove a condition uniform). */
    if (kt0 < kt1)
        dc_gemm_load(kt0 * DC_GEMM_KWG, wv, wrow, m0, pre, pre_off, pre_flag, cin, in_h, in_w,
                     in_hw, ks, taps_mode, pre_mode, T, NWG, MWG, tid, colp, xy, xx, &tap0, &ci0,
                     xreg, wreg);
    for (int kt = kt0; kt < kt1; kt++) {
#pragma unroll
        DC_GEMM_FOR(i, WLD, DC_GEMM_WLD_MAX)
        {
            const int v = tid + T * i;
            if (WLD * T == DC_GEMM_KWG * WV || v < DC_GEMM_KWG * WV)
                wl[v] = wreg[i];
        }
#pragma unroll
        DC_GEMM_FOR(c, XC, DC_GEMM_XC_MAX)
#pragma unroll
        DC_GEMM_FOR(r, XR, DC_GEMM_KWG)
        ((local float *)xl)[(xrow0 + XRS * r) * NWG + (XC == 1 ? tid % NWG : tid + T * c)] =
            xreg[c * XR + r];
        barrier(CLK_LOCAL_MEM_FENCE);
        /* The next tile's loads go out halfway through this one's FMAs: the second half (KWG / 2
         * rows of MWI x NWI FMAs) hides their latency, and the first half runs without their
         * registers live (with them live all through, ptxas spilled the 3x3 kernels). The two
         * halves written out, not a loop of 2: clang would not unroll that loop around the
         * larger loads of the 7x7s2 and any-window kernels, and warned. */
        dc_gemm_half(0, acc, wl, xl, tm, tn, MWG, NWG, MDIMC, NDIMC);
        if (kt + 1 < kt1)
            dc_gemm_load((kt + 1) * DC_GEMM_KWG, wv, wrow, m0, pre, pre_off, pre_flag, cin, in_h,
                         in_w, in_hw, ks, taps_mode, pre_mode, T, NWG, MWG, tid, colp, xy, xx,
                         &tap0, &ci0, xreg, wreg);
        dc_gemm_half(1, acc, wl, xl, tm, tn, MWG, NWG, MDIMC, NDIMC);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    dc_gemm_epilogue(acc, out, out_off, ws, ws_off, cnt, cnt_off, cout, ncols, out_ctot, out_coff,
                     out_hw, flags, MWG, NWG, MDIMC, NDIMC, tid);
}

#define DC_GEMM_KERNEL(name, taps_mode, pre_mode, kss, strides, pads, MWG, NWG, MDIMC, NDIMC)      \
    kernel __attribute__((reqd_work_group_size(MDIMC, NDIMC, 1))) void name(DC_GEMM_ARGS)          \
    {                                                                                              \
        local DC_GEMM_VTM wl[DC_GEMM_KWG * MWG / DC_GEMM_VWM];                                     \
        local DC_GEMM_VTN xl[DC_GEMM_KWG * NWG / DC_GEMM_VWN];                                     \
        (void)ks;                                                                                  \
        (void)stride;                                                                              \
        (void)pad;                                                                                 \
        dc_gemm_tile(DC_GEMM_PASS, kss, strides, pads, kchunk, flags, taps_mode, pre_mode, MWG,    \
                     NWG, MDIMC, NDIMC, wl, xl);                                                   \
    }

#else /* DC_GEMM_LOCAL 0 */

/* One work-item's MWI x NWI block, read from global memory: per K row its weights as MWV
 * vectors and its NWI inputs, per tap each column's position and bounds once. Arguments as
 * dc_gemm_tile's. */
static inline __attribute__((always_inline)) void
dc_gemm_tile(global const float *in, int in_off, global const float *w, int w_off,
             global const float *bias, int bias_off, global const float *pre, int pre_off,
             global float *out, int out_off, global float *ws, int ws_off, global int *cnt,
             int cnt_off, int n, int cin, int in_ctot, int in_h, int in_w, int cout, int mpad,
             int out_ctot, int out_coff, int out_h, int out_w, const int ks, const int stride,
             const int pad, int kchunk, int flags, const int taps_mode, const int pre_mode,
             const int MWG, const int NWG, const int MDIMC, const int NDIMC)
{
    const int MWI = MWG / MDIMC, NWI = NWG / NDIMC, MWV = MWI / DC_GEMM_VWM;
    const int tid = (int)get_local_id(0) + MDIMC * (int)get_local_id(1);
    const int m0 = (int)get_group_id(0) * MWG, n0 = (int)get_group_id(1) * NWG;
    const int tm = tid / NDIMC, tn = tid % NDIMC;
    const int K = cin * ks * ks;
    const int kbeg = (int)get_group_id(2) * kchunk * DC_GEMM_KWG;
    const int kend = min(K, kbeg + kchunk * DC_GEMM_KWG);
    const int in_hw = in_h * in_w, out_hw = out_h * out_w, ncols = n * out_hw;
    const int pre_flag = (flags & DC_FLAG_PRE) != 0;
    const int use_pre = pre_mode == DC_GEMM_PRE_YES || (pre_mode == DC_GEMM_PRE_FLAG && pre_flag);
    const int flat = taps_mode == DC_GEMM_FLAT;
    global const DC_GEMM_VTM *wv = (global const DC_GEMM_VTM *)(w + w_off);
    const int wrow = mpad / DC_GEMM_VWM, wcol = m0 / DC_GEMM_VWM + tm;
    global const float *colp[DC_GEMM_NWI_MAX];
    int xy[DC_GEMM_NWI_MAX], xx[DC_GEMM_NWI_MAX];
    float acc[DC_GEMM_MWI_MAX][DC_GEMM_NWI_MAX];
    int tap = kbeg / cin, ci = kbeg - tap * cin;
#pragma unroll
    DC_GEMM_FOR(ni, NWI, DC_GEMM_NWI_MAX)
    dc_gemm_column(n0 + tn * DC_GEMM_VWN + DC_GEMM_NOFF(ni, NDIMC), ncols, in, in_off,
                   (size_t)in_ctot * in_hw, out_hw, out_w, stride, pad, flat, &colp[ni], &xy[ni],
                   &xx[ni]);
    dc_gemm_acc_init(acc, bias, bias_off, cout, flags, MWG, NWG, MDIMC, NDIMC, tid);
    for (int k = kbeg; k < kend;) {
        /* The rows of one tap: each column's position and bounds once. */
        const int ky = tap / ks, kx = tap - ky * ks;
        const int kstop = min(kend, k + cin - ci);
        int sp[DC_GEMM_NWI_MAX], ok[DC_GEMM_NWI_MAX];
#pragma unroll
        DC_GEMM_FOR(ni, NWI, DC_GEMM_NWI_MAX)
        {
            const int iy = xy[ni] + ky, ix = xx[ni] + kx;
            ok[ni] = flat ? xy[ni] == 0 : (uint)iy < (uint)in_h && (uint)ix < (uint)in_w;
            sp[ni] = flat ? 0 : iy * in_w + ix;
        }
        for (; k < kstop; k++, ci++) {
            float wr[DC_GEMM_MWI_MAX], xr[DC_GEMM_NWI_MAX];
            const float sc = use_pre ? pre[pre_off + ci] : 1.0f;
            const float sh = use_pre ? pre[pre_off + cin + ci] : 0.0f;
#pragma unroll
            DC_GEMM_FOR(mv, MWV, DC_GEMM_MWI_MAX / DC_GEMM_VWM)
            DC_GEMM_VPUT(DC_GEMM_VWM, wv[k * wrow + wcol + MDIMC * mv], mv, wr);
#pragma unroll
            DC_GEMM_FOR(ni, NWI, DC_GEMM_NWI_MAX)
            {
                const float x = colp[ni][ok[ni] ? ci * in_hw + sp[ni] : 0];
                xr[ni] = ok[ni] ? dc_gemm_pro(x, sc, sh, pre_mode, pre_flag) : 0.0f;
            }
#pragma unroll
            DC_GEMM_FOR(mi, MWI, DC_GEMM_MWI_MAX)
#pragma unroll
            DC_GEMM_FOR(ni, NWI, DC_GEMM_NWI_MAX)
            acc[mi][ni] = DC_GEMM_MAC(wr[mi], xr[ni], acc[mi][ni]);
        }
        ci = 0;
        tap++;
    }
    dc_gemm_epilogue(acc, out, out_off, ws, ws_off, cnt, cnt_off, cout, ncols, out_ctot, out_coff,
                     out_hw, flags, MWG, NWG, MDIMC, NDIMC, tid);
}

#define DC_GEMM_KERNEL(name, taps_mode, pre_mode, kss, strides, pads, MWG, NWG, MDIMC, NDIMC)      \
    kernel __attribute__((reqd_work_group_size(MDIMC, NDIMC, 1))) void name(DC_GEMM_ARGS)          \
    {                                                                                              \
        (void)ks;                                                                                  \
        (void)stride;                                                                              \
        (void)pad;                                                                                 \
        dc_gemm_tile(DC_GEMM_PASS, kss, strides, pads, kchunk, flags, taps_mode, pre_mode, MWG,    \
                     NWG, MDIMC, NDIMC);                                                           \
    }

#endif /* DC_GEMM_LOCAL */

/* The 1x1 kernels have their own tile; the 3x3 ones need cin a multiple of KWG (the host sends
 * the others to densecl_gemm_conv). */
DC_GEMM_KERNEL(densecl_gemm_1x1, DC_GEMM_FLAT, DC_GEMM_PRE_NO, 1, 1, 0, DC_GEMM_MWG1, DC_GEMM_NWG1,
               DC_GEMM_MDIMC1, DC_GEMM_NDIMC1)
DC_GEMM_KERNEL(densecl_gemm_1x1_pre, DC_GEMM_FLAT, DC_GEMM_PRE_YES, 1, 1, 0, DC_GEMM_MWG1,
               DC_GEMM_NWG1, DC_GEMM_MDIMC1, DC_GEMM_NDIMC1)
DC_GEMM_KERNEL(densecl_gemm_3x3, DC_GEMM_ONE_TAP, DC_GEMM_PRE_NO, 3, 1, 1, DC_GEMM_MWG, DC_GEMM_NWG,
               DC_GEMM_MDIMC, DC_GEMM_NDIMC)
DC_GEMM_KERNEL(densecl_gemm_3x3_pre, DC_GEMM_ONE_TAP, DC_GEMM_PRE_YES, 3, 1, 1, DC_GEMM_MWG,
               DC_GEMM_NWG, DC_GEMM_MDIMC, DC_GEMM_NDIMC)
DC_GEMM_KERNEL(densecl_gemm_7x7s2, DC_GEMM_CROSS, DC_GEMM_PRE_FLAG, 7, 2, 3, DC_GEMM_MWG,
               DC_GEMM_NWG, DC_GEMM_MDIMC, DC_GEMM_NDIMC)
DC_GEMM_KERNEL(densecl_gemm_conv, DC_GEMM_ANY, DC_GEMM_PRE_FLAG, ks, stride, pad, DC_GEMM_MWG,
               DC_GEMM_NWG, DC_GEMM_MDIMC, DC_GEMM_NDIMC)
