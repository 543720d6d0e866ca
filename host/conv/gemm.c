/* SPDX-License-Identifier: MIT */
/* gemm.c - the "gemm" conv family (kernels/gemm.cl): each conv as a tiled GEMM (1x1) or implicit
 * GEMM (k > 1) with the batch folded into the columns, through local memory or (where that is
 * global memory) straight from global memory, and a split of K, summed by the last work-group
 * of each tile in the same launch, when the tile grid alone cannot fill the device. Made for
 * GPUs; correct anywhere. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv/conv.h"

#include "../kernels/abi.h"

/* Parameter indices, in the order of gemm_params[]. */
enum {
    GEMM_P_MWG,
    GEMM_P_NWG,
    GEMM_P_KWG,
    GEMM_P_MDIMC,
    GEMM_P_NDIMC,
    GEMM_P_VWM,
    GEMM_P_VWN,
    GEMM_P_MWG1,
    GEMM_P_NWG1,
    GEMM_P_MDIMC1,
    GEMM_P_NDIMC1,
    GEMM_P_KSPLIT,
    GEMM_P_FILL,
    GEMM_P_FMA,
    GEMM_P_LOCAL,
    GEMM_P_COUNT
};

static const dc_param_spec gemm_params[GEMM_P_COUNT] = {
    {"MWG", 1, 256, "output channels per work-group tile (the k > 1 convs)"},
    {"NWG", 1, 256, "output pixels (over the batch) per work-group tile (the k > 1 convs)"},
    {"KWG", 1, 64, "depth of the K slice loaded per step"},
    {"MDIMC", 1, 256, "work-items per group along the channels; MWG % MDIMC == 0"},
    {"NDIMC", 1, 256, "work-items per group along the pixels; NWG % NDIMC == 0"},
    {"VWM", 1, 16, "vector width along the channels: 1, 2, 4, 8, 16; MWG % (MDIMC * VWM) == 0"},
    {"VWN", 1, 16, "vector width along the pixels: 1, 2, 4, 8, 16; NWG % (NDIMC * VWN) == 0"},
    {"MWG1", 1, 256, "MWG of the 1x1 convs"},
    {"NWG1", 1, 256, "NWG of the 1x1 convs"},
    {"MDIMC1", 1, 256, "MDIMC of the 1x1 convs"},
    {"NDIMC1", 1, 256, "NDIMC of the 1x1 convs"},
    {"KSPLIT", 1, 256, "most slices K is split into when a conv's tiles cannot fill the device"},
    {"FILL", 1, 1 << 26, "work-items a launch aims for before splitting K (host only)"},
    {"FMA", 0, 1, "1: accumulate with fma(); 0: mad(), for devices without hardware fma"},
    {"LOCAL", 0, 1, "1: stage tiles through local memory; 0: read them from global memory"},
};

/* Most accumulators a work-item holds (MWG / MDIMC x NWG / NDIMC): past it every GPU spills. */
#define DC_GEMM_MAX_ACC 256

/* One kernel's tile: the 1x1 kernel's (MWG1 ...) or the others'. */
typedef struct gemm_tile {
    int mwg, nwg, mdimc, ndimc;
} gemm_tile;

static gemm_tile gemm_tile_of(const dc_params *p, int one)
{
    gemm_tile t;
    t.mwg = p->v[one ? GEMM_P_MWG1 : GEMM_P_MWG];
    t.nwg = p->v[one ? GEMM_P_NWG1 : GEMM_P_NWG];
    t.mdimc = p->v[one ? GEMM_P_MDIMC1 : GEMM_P_MDIMC];
    t.ndimc = p->v[one ? GEMM_P_NDIMC1 : GEMM_P_NDIMC];
    if (t.mwg < 1 || t.nwg < 1 || t.mdimc < 1 || t.ndimc < 1)
        t.mwg = t.nwg = t.mdimc = t.ndimc = 1; /* unchecked params: no division by zero */
    return t;
}

/* Whether a conv of window k, stride and pad runs on densecl_gemm_1x1 (its own tile). */
static int gemm_is_1x1(int k, int stride, int pad)
{
    return k == 1 && stride == 1 && pad == 0;
}

/* Tile ladders of defaults(), largest first: {MWG, NWG, KWG, MDIMC, NDIMC}, per kernel; the
 * first rung that fits the device's work-group size and half its local memory wins (the other
 * half leaves room for a second group per compute unit; without local memory, only the
 * work-group size counts); the last only has to fit. MWG 0: fitted to the model, with MDIMC
 * making 8 (GPUs) or 4 (Intel's and Mali's register budgets) channels per work-item. The
 * smallest tile is what supports() requires. Sized from the limits, not measured on any GPU:
 * measured values (a tuner, a table per device) should replace them. */
static const int gemm_gpu_ladder[][5] = {
    {0, 128, 32, 0, 16}, {0, 128, 16, 0, 16}, {32, 64, 8, 8, 8}, {16, 16, 4, 4, 4}, {8, 8, 2, 2, 2},
};
static const int gemm_gpu_ladder1[][5] = {
    {0, 64, 32, 0, 8}, {0, 64, 16, 0, 8}, {32, 64, 8, 8, 8}, {16, 16, 4, 4, 4}, {8, 8, 2, 2, 2},
};
/* 32 accumulators a work-item: 4 channels x 8 columns. */
static const int gemm_small_ladder[][5] = {
    {0, 64, 32, 0, 8}, {0, 64, 16, 0, 8}, {16, 32, 8, 4, 4}, {16, 16, 4, 4, 4}, {8, 8, 2, 2, 2},
};
static const int gemm_cpu_ladder[][5] = {{32, 32, 8, 8, 8}, {16, 16, 4, 4, 4}, {8, 8, 2, 2, 2}};
#define DC_GEMM_MIN_LOCAL (4u * 2u * (8u + 8u)) /* bytes of the smallest tile */
#define DC_GEMM_MIN_ITEMS 4u                    /* its work-items */

static const char *const gemm_sources[] = {"gemm.cl", NULL};

/* ------------------------------------------------------------------------ sizes */

static size_t gemm_round_up(size_t v, size_t m)
{
    return (v + m - 1) / m * m;
}

/* Local memory of one kernel's tile: W [KWG, MWG] and X [KWG, NWG]. */
static size_t gemm_local_bytes(const dc_params *p, gemm_tile t)
{
    return 4u * (size_t)p->v[GEMM_P_KWG] * ((size_t)t.mwg + (size_t)t.nwg);
}

/* The K split of a conv of cout channels, ncols output columns (n * out_h * out_w) and K rows
 * on tile t: the number of slices S (1: none) and the KWG tiles per slice. A grid of fewer
 * work-items than FILL is split into up to KSPLIT slices, at least one KWG tile each, until
 * FILL is reached. Depends on nothing but the conv and p, so that workspace() and enqueue()
 * agree. */
static int gemm_split(const dc_params *p, gemm_tile t, int cout, size_t ncols, size_t K,
                      int *kchunk)
{
    const size_t mwg = (size_t)t.mwg, nwg = (size_t)t.nwg;
    const size_t kwg = p->v[GEMM_P_KWG] > 0 ? (size_t)p->v[GEMM_P_KWG] : 1;
    const size_t mt = ((size_t)cout + mwg - 1) / mwg, nt = (ncols + nwg - 1) / nwg;
    const size_t ktiles = (K + kwg - 1) / kwg;
    const size_t items = (size_t)t.mdimc * (size_t)t.ndimc;
    const size_t groups = ((size_t)p->v[GEMM_P_FILL] + items - 1) / items;
    size_t tiles = mt * nt, s = 1, chunk;
    *kchunk = INT_MAX;
    if (ktiles == 0 || p->v[GEMM_P_KSPLIT] < 1)
        return 1; /* unchecked params or an empty K: no split */
    if (tiles > 0 && tiles < groups)
        s = (groups + tiles - 1) / tiles;
    if (s > (size_t)p->v[GEMM_P_KSPLIT])
        s = (size_t)p->v[GEMM_P_KSPLIT];
    if (s > ktiles)
        s = ktiles > 0 ? ktiles : 1;
    chunk = (ktiles + s - 1) / s;
    if (chunk < 1)
        chunk = 1;
    s = (ktiles + chunk - 1) / chunk; /* no empty slice */
    *kchunk = chunk > INT_MAX ? INT_MAX : (int)chunk;
    return s < 1 ? 1 : (int)s;
}

/* ------------------------------------------------------------------------ vtable: device */

static int gemm_supports(const dc_caps *caps, const dc_op *op, char *why, size_t cap)
{
    size_t in_img, taps;
    if (why && cap)
        why[0] = '\0';
    if (!caps || !op || op->kind != DC_OP_CONV) {
        if (why)
            snprintf(why, cap, "the gemm family runs convolutions only");
        return 0;
    }
    if (caps->max_work_group < DC_GEMM_MIN_ITEMS) {
        if (why)
            snprintf(why, cap,
                     "work-groups of at most %zu work-items are below the %u the "
                     "smallest gemm tile needs",
                     caps->max_work_group, DC_GEMM_MIN_ITEMS);
        return 0;
    }
    if (caps->local_mem < DC_GEMM_MIN_LOCAL) {
        if (why)
            snprintf(why, cap,
                     "local memory of %llu bytes is below the %u the smallest gemm "
                     "tile needs",
                     (unsigned long long)caps->local_mem, DC_GEMM_MIN_LOCAL);
        return 0;
    }
    /* The kernels' int math: in-image offsets and K (the batch is checked at launch). */
    if (op->in_c < 1 || op->k < 1 || op->stride < 1 || op->pad < 0 ||
        !dc_mul_size((size_t)op->in_ctot, (size_t)op->in_h * (size_t)op->in_w, &in_img) ||
        in_img > INT_MAX / 2 || !dc_mul_size((size_t)op->in_c, (size_t)op->k * op->k, &taps) ||
        taps > INT_MAX / 2 || (size_t)op->out_h * op->out_w > INT_MAX / 2) {
        if (why)
            snprintf(why, cap, "the conv's sizes exceed the gemm kernels' int index range");
        return 0;
    }
    return 1;
}

/* The MWG of a ladder's first rung for the plan's convs on one kernel (the 1x1 kernel's, or
 * the others'): of the candidates, the one that wastes the fewest multiply-adds on channels past
 * cout, the largest of equals (DenseNet: 32 for the growth convs, 128 for the bottlenecks); the
 * default without a plan or such convs. */
static int gemm_fit_mwg(const dc_plan *plan, int one, const int *cand, int ncand, int dflt)
{
    double cost[4] = {0, 0, 0, 0};
    int any = 0, best = -1;
    for (int i = 0; plan && i < plan->n_ops; i++) {
        const dc_op *op = &plan->ops[i];
        double per_channel;
        if (op->kind != DC_OP_CONV || op->out_c < 1 ||
            gemm_is_1x1(op->k, op->stride, op->pad) != one)
            continue;
        any = 1;
        per_channel = (double)op->macs / op->out_c;
        for (int c = 0; c < ncand; c++)
            cost[c] += per_channel * (double)gemm_round_up((size_t)op->out_c, (size_t)cand[c]);
    }
    if (!any)
        return dflt;
    for (int c = 0; c < ncand; c++)
        if (best < 0 || cost[c] <= cost[best])
            best = c;
    return cand[best];
}

/* The first rung of ladder (rungs rows) that fits: its tile into *t and its KWG. per: channels
 * per work-item where the rung's MDIMC is 0; local: the local memory it may use (0: none
 * needed, LOCAL 0). */
static int gemm_climb(const int (*ladder)[5], size_t rungs, int mwg, int per, size_t items,
                      cl_ulong local, int uses_local, gemm_tile *t)
{
    int kwg = 1;
    for (size_t r = 0; r < rungs; r++) {
        t->mwg = ladder[r][0] ? ladder[r][0] : mwg;
        t->nwg = ladder[r][1];
        kwg = ladder[r][2];
        t->mdimc = ladder[r][3] ? ladder[r][3] : t->mwg / per;
        t->ndimc = ladder[r][4];
        if ((size_t)t->mdimc * (size_t)t->ndimc <= items &&
            (!uses_local || 4u * (size_t)kwg * ((size_t)t->mwg + (size_t)t->nwg) <=
                                (r + 1 == rungs ? local : local / 2)))
            break;
    }
    return kwg;
}

static void gemm_defaults(const dc_caps *caps, const dc_plan *plan, dc_params *p)
{
    const int cpu = caps && (caps->type & CL_DEVICE_TYPE_CPU);
    /* Where local memory is global memory (Mali), staging through it is copies and barriers
     * for nothing: read from global memory. Intel's (SIMD16 register files) and Mali's budgets
     * hold 32 accumulators a work-item, NVIDIA's and AMD's 64. */
    const int global_local = !cpu && caps && caps->local_mem_is_global;
    const int small = !cpu && caps && (global_local || strstr(caps->vendor, "Intel"));
    const cl_ulong local = caps ? caps->local_mem : 16384;
    const size_t items = caps ? caps->max_work_group : 64;
    const cl_uint cus = caps && caps->compute_units ? caps->compute_units : 1;
    static const int cand[] = {16, 32, 64}, cand1[] = {32, 64, 128};
    gemm_tile t, t1;
    int kwg, kwg1;
    memset(p, 0, sizeof *p);
    if (cpu) {
        kwg = gemm_climb(gemm_cpu_ladder, DC_ARRAY_LEN(gemm_cpu_ladder), 0, 8, items, local, 1, &t);
        t1 = t;
        kwg1 = kwg;
    } else if (small) {
        kwg = gemm_climb(gemm_small_ladder, DC_ARRAY_LEN(gemm_small_ladder),
                         gemm_fit_mwg(plan, 0, cand, 3, 32), 4, items, local, !global_local, &t);
        kwg1 = gemm_climb(gemm_small_ladder, DC_ARRAY_LEN(gemm_small_ladder),
                          gemm_fit_mwg(plan, 1, cand1, 2, 64), 4, items, local, !global_local, &t1);
    } else {
        kwg = gemm_climb(gemm_gpu_ladder, DC_ARRAY_LEN(gemm_gpu_ladder),
                         gemm_fit_mwg(plan, 0, cand, 3, 32), 8, items, local, 1, &t);
        kwg1 = gemm_climb(gemm_gpu_ladder1, DC_ARRAY_LEN(gemm_gpu_ladder1),
                          gemm_fit_mwg(plan, 1, cand1, 3, 128), 8, items, local, 1, &t1);
    }
    p->v[GEMM_P_MWG] = t.mwg;
    p->v[GEMM_P_NWG] = t.nwg;
    p->v[GEMM_P_MDIMC] = t.mdimc;
    p->v[GEMM_P_NDIMC] = t.ndimc;
    p->v[GEMM_P_MWG1] = t1.mwg;
    p->v[GEMM_P_NWG1] = t1.nwg;
    p->v[GEMM_P_MDIMC1] = t1.mdimc;
    p->v[GEMM_P_NDIMC1] = t1.ndimc;
    /* One K depth for both (the packing's): the smaller rung's. */
    p->v[GEMM_P_KWG] = kwg < kwg1 ? kwg : kwg1;
    /* Every rung leaves each work-item a multiple of 4 channels and pixels. */
    p->v[GEMM_P_VWM] = 4;
    p->v[GEMM_P_VWN] = 4;
    /* Batch 1 on late blocks has 1-2 tiles (1x1: M = 128, N = 49, K = 1000; 3x3: M = 32,
     * N = 49, K = 1152). A GPU launch aims for 8 warps or wavefronts per SM, CU or Xe-core
     * (the latency hiding of a register-blocked GEMM), a CPU one for two 64-item groups per
     * core. K is split into at most 32 slices on GPUs: the last group of a tile adds up every
     * slice's partials of its outputs alone, so that more slices fill the device for the GEMM
     * and lengthen that one group's tail; a CPU needs fewer. */
    if (cpu) {
        p->v[GEMM_P_KSPLIT] = 8;
        p->v[GEMM_P_FILL] = cus > (1u << 16) ? 1 << 24 : (int)(2 * 64 * cus);
    } else {
        const cl_uint cores = caps && caps->cores ? caps->cores : cus;
        const cl_uint simd = caps && caps->wg_multiple ? caps->wg_multiple : 32;
        const uint64_t fill = 8ull * cores * simd;
        p->v[GEMM_P_KSPLIT] = 32;
        p->v[GEMM_P_FILL] = fill > (1u << 26) ? 1 << 26 : (int)fill;
    }
    p->v[GEMM_P_FMA] = caps ? caps->has_fma != 0 : 1;
    p->v[GEMM_P_LOCAL] = !global_local;
}

/* The rules of one kernel's tile; `one` names it in messages. */
static densecl_status gemm_check_tile(const dc_caps *caps, const dc_params *p, const char *what,
                                      int one)
{
    const gemm_tile t = gemm_tile_of(p, one);
    const int kwg = p->v[GEMM_P_KWG], vwm = p->v[GEMM_P_VWM], vwn = p->v[GEMM_P_VWN];
    const char *sfx = one ? "1" : "";
    size_t items, local;
    if (t.mwg % t.mdimc)
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: gemm MWG%s = %d is not a multiple of MDIMC%s "
                        "= %d",
                        what, sfx, t.mwg, sfx, t.mdimc);
    if (t.nwg % t.ndimc)
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: gemm NWG%s = %d is not a multiple of NDIMC%s "
                        "= %d",
                        what, sfx, t.nwg, sfx, t.ndimc);
    if (t.mwg % (t.mdimc * vwm))
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: gemm MWG%s = %d is not a multiple of MDIMC%s "
                        "* VWM = %d * %d",
                        what, sfx, t.mwg, sfx, t.mdimc, vwm);
    if (t.nwg % (t.ndimc * vwn))
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: gemm NWG%s = %d is not a multiple of NDIMC%s "
                        "* VWN = %d * %d",
                        what, sfx, t.nwg, sfx, t.ndimc, vwn);
    items = (size_t)t.mdimc * (size_t)t.ndimc;
    if (items >= (size_t)t.nwg ? items % (size_t)t.nwg : (size_t)t.nwg % items)
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: gemm MDIMC%s * NDIMC%s = %zu and NWG%s = %d: "
                        "one must be a multiple of the other",
                        what, sfx, sfx, items, sfx, t.nwg);
    if (items > (size_t)t.nwg && (size_t)kwg % (items / (size_t)t.nwg))
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: gemm KWG = %d is not a multiple of MDIMC%s * "
                        "NDIMC%s / NWG%s = %zu",
                        what, kwg, sfx, sfx, sfx, items / (size_t)t.nwg);
    if ((size_t)(t.mwg / t.mdimc) * (size_t)(t.nwg / t.ndimc) > DC_GEMM_MAX_ACC)
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: gemm MWG%s / MDIMC%s * NWG%s / NDIMC%s = %d "
                        "accumulators per work-item exceed %d",
                        what, sfx, sfx, sfx, sfx, (t.mwg / t.mdimc) * (t.nwg / t.ndimc),
                        DC_GEMM_MAX_ACC);
    if (caps && items > caps->max_work_group)
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: gemm MDIMC%s * NDIMC%s = %d * %d work-items "
                        "exceed the device's work-group size of %zu",
                        what, sfx, sfx, t.mdimc, t.ndimc, caps->max_work_group);
    local = gemm_local_bytes(p, t);
    if (caps && p->v[GEMM_P_LOCAL] && local > caps->local_mem)
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: gemm KWG * (MWG%s + NWG%s) = %d * (%d + %d) "
                        "floats (%zu bytes) exceed the device's local memory of %llu bytes",
                        what, sfx, sfx, kwg, t.mwg, t.nwg, local,
                        (unsigned long long)caps->local_mem);
    return DENSECL_OK;
}

static densecl_status gemm_check(const dc_caps *caps, const dc_params *p, const char *what)
{
    const int vwm = p->v[GEMM_P_VWM], vwn = p->v[GEMM_P_VWN];
    densecl_status st;
    if (!what)
        what = "gemm parameters";
    for (int i = 0; i < GEMM_P_COUNT; i++)
        if (p->v[i] < gemm_params[i].lo || p->v[i] > gemm_params[i].hi)
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm %s = %d is outside [%d, %d]", what,
                            gemm_params[i].name, p->v[i], gemm_params[i].lo, gemm_params[i].hi);
    if (vwm != 1 && vwm != 2 && vwm != 4 && vwm != 8 && vwm != 16)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm VWM = %d is not 1, 2, 4, 8 or 16", what,
                        vwm);
    if (vwn != 1 && vwn != 2 && vwn != 4 && vwn != 8 && vwn != 16)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm VWN = %d is not 1, 2, 4, 8 or 16", what,
                        vwn);
    if ((st = gemm_check_tile(caps, p, what, 0)) != DENSECL_OK)
        return st;
    return gemm_check_tile(caps, p, what, 1);
}

static void gemm_defines(const dc_params *p, const dc_plan *plan, char *buf, size_t cap)
{
    size_t len;
    (void)plan;
    if (!buf || cap == 0)
        return;
    len = memchr(buf, '\0', cap) ? strlen(buf) : cap;
    /* FILL is the host's alone: leaving it out keeps programs (and their cache keys) the same
     * on devices that differ only in compute units. */
    for (int i = 0; i < GEMM_P_COUNT && len < cap; i++) {
        int w;
        if (i == GEMM_P_FILL)
            continue;
        w = snprintf(buf + len, cap - len, "%s-DDC_GEMM_%s=%d", len ? " " : "", gemm_params[i].name,
                     p->v[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

/* ------------------------------------------------------------------------ vtable: weights */

static size_t gemm_pack(const dc_op *op, const dc_params *p, const float *w, float *out)
{
    const gemm_tile t = gemm_tile_of(p, op ? gemm_is_1x1(op->k, op->stride, op->pad) : 0);
    size_t K, taps, kp, mp, len;
    if (!op || op->out_c < 1 || op->in_c < 1 || op->k < 1 || p->v[GEMM_P_KWG] < 1)
        return 0;
    taps = (size_t)op->k * (size_t)op->k;
    if (!dc_mul_size((size_t)op->in_c, taps, &K))
        return 0;
    kp = gemm_round_up(K, (size_t)p->v[GEMM_P_KWG]);
    mp = gemm_round_up((size_t)op->out_c, (size_t)t.mwg);
    if (kp < K || !dc_mul_size(kp, mp, &len))
        return 0;
    if (!out)
        return len;
    /* [cout, cin, ky, kx] -> [Kp, Mp] with K tap-major (k = (ky * ks + kx) * cin + ci), zero
     * past cout and K: a tile's KWG rows are MWG contiguous floats. */
    for (size_t k = 0; k < kp; k++) {
        const size_t tap = k / (size_t)op->in_c, ci = k % (size_t)op->in_c;
        for (size_t m = 0; m < mp; m++)
            out[k * mp + m] = k < K && m < (size_t)op->out_c ? w[m * K + ci * taps + tap] : 0.0f;
    }
    return len;
}

/* The K split's partial sums of a conv: [S, Mp, Np] floats (cout and the columns rounded up to
 * the tile, so that the kernel needs no bounds test), 0 without a split. */
static size_t gemm_ws_floats(const dc_params *p, gemm_tile t, int cout, size_t ncols, size_t K)
{
    size_t len;
    int chunk, s = gemm_split(p, t, cout, ncols, K, &chunk);
    if (s <= 1 || !dc_mul_size((size_t)s * gemm_round_up((size_t)cout, (size_t)t.mwg),
                               gemm_round_up(ncols, (size_t)t.nwg), &len))
        return 0;
    return len;
}

static size_t gemm_workspace(const dc_op *op, int n, const dc_params *p)
{
    if (!op || n < 1 || op->out_c < 1)
        return 0;
    return gemm_ws_floats(p, gemm_tile_of(p, gemm_is_1x1(op->k, op->stride, op->pad)), op->out_c,
                          (size_t)n * (size_t)op->out_h * (size_t)op->out_w,
                          (size_t)op->in_c * (size_t)op->k * (size_t)op->k);
}

/* ------------------------------------------------------------------------ vtable: kernels */

/* The kernels, in gemm_kernel_names order. */
enum {
    DC_GEMM_K1X1,
    DC_GEMM_K1X1_PRE,
    DC_GEMM_K3X3,
    DC_GEMM_K3X3_PRE,
    DC_GEMM_K7X7S2,
    DC_GEMM_KCONV,
    DC_GEMM_KCOUNT
};
static const char *const gemm_kernel_names[DC_GEMM_KCOUNT] = {
    "densecl_gemm_1x1",     "densecl_gemm_1x1_pre", "densecl_gemm_3x3",
    "densecl_gemm_3x3_pre", "densecl_gemm_7x7s2",   "densecl_gemm_conv"};

typedef struct gemm_state {
    cl_program prog; /* each bound op's kernels are made from it */
    cl_device_id dev;
    cl_kernel k[DC_GEMM_KCOUNT]; /* proof that each is in prog, and their work-group limits */
    /* The K split's counters, one int per work-item of each tile of a launch, all 0 between
     * launches (the work-item that counts last sets its own back). A launch splits K only
     * while its tiles' work-items are fewer than FILL, so FILL plus a work-group's worth are
     * enough for any: made once (a buffer replaced while launches queued before still read
     * it broke POCL 3.1), shared by the replica's ops, which run one after another. */
    cl_mem cnt;
    size_t cnt_n;
} gemm_state;

static void gemm_release(void *state)
{
    gemm_state *s = state;
    if (!s)
        return;
    for (int i = 0; i < DC_GEMM_KCOUNT; i++)
        if (s->k[i])
            clReleaseKernel(s->k[i]);
    if (s->cnt)
        clReleaseMemObject(s->cnt);
    if (s->prog)
        clReleaseProgram(s->prog);
    free(s);
}

static densecl_status gemm_create(cl_program prog, const dc_caps *caps, const dc_params *p,
                                  void **state)
{
    const char *const *names = gemm_kernel_names;
    densecl_status st = DENSECL_OK;
    gemm_state *s;
    if (!state || !prog || !caps || !p)
        return dc_error(DENSECL_ERR_ARGUMENT, "gemm create: NULL argument");
    *state = NULL;
    if ((st = gemm_check(caps, p, "gemm create")) != DENSECL_OK)
        return st;
    s = calloc(1, sizeof *s);
    if (!s)
        return dc_error(DENSECL_ERR_NO_MEMORY, "gemm create: out of host memory");
    s->dev = caps->dev;
    if (clRetainProgram(prog) == CL_SUCCESS)
        s->prog = prog;
    for (int i = 0; i < DC_GEMM_KCOUNT; i++) {
        const int one = i == DC_GEMM_K1X1 || i == DC_GEMM_K1X1_PRE;
        const gemm_tile t = gemm_tile_of(p, one);
        const size_t items = (size_t)t.mdimc * (size_t)t.ndimc;
        size_t wg = 0;
        if ((st = dc_kernel_create(prog, names[i], &s->k[i])) != DENSECL_OK)
            goto fail;
        DC_CL_TRY(st, clGetKernelWorkGroupInfo(s->k[i], caps->dev, CL_KERNEL_WORK_GROUP_SIZE,
                                               sizeof wg, &wg, NULL));
        if (wg < items) {
            /* Register-heavy tiles can exceed what the compiled kernel allows. */
            st = dc_error(DENSECL_ERR_ARGUMENT,
                          "%s: gemm MDIMC%s * NDIMC%s = %zu work-items "
                          "exceed the kernel's CL_KERNEL_WORK_GROUP_SIZE of %zu on this device",
                          names[i], one ? "1" : "", one ? "1" : "", items, wg);
            goto fail;
        }
    }
    {
        const gemm_tile t = gemm_tile_of(p, 0), t1 = gemm_tile_of(p, 1);
        const size_t items = (size_t)t.mdimc * t.ndimc, items1 = (size_t)t1.mdimc * t1.ndimc;
        cl_context ctx;
        cl_int err;
        int *zeros;
        s->cnt_n = (size_t)p->v[GEMM_P_FILL] + (items > items1 ? items : items1);
        DC_CL_TRY(st, clGetProgramInfo(prog, CL_PROGRAM_CONTEXT, sizeof ctx, &ctx, NULL));
        if (!(zeros = calloc(s->cnt_n, sizeof *zeros))) {
            st = dc_error(DENSECL_ERR_NO_MEMORY, "gemm create: out of host memory");
            goto fail;
        }
        s->cnt = clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                                s->cnt_n * sizeof *zeros, zeros, &err);
        free(zeros);
        DC_CL_TRY(st, err);
    }
    *state = s;
    return DENSECL_OK;
fail:
    gemm_release(s);
    return st;
}

/* The conv's sizes, checked: 0 when a is inconsistent or its indices overflow the kernels' int
 * math (in-image offsets, columns, K rounded up, with a tile of slack). */
static int gemm_valid(const dc_conv_args *a, const dc_params *p, gemm_tile t)
{
    size_t in_img, ncols, K;
    if (a->n < 1 || a->cin < 1 || a->cin > a->in_ctot || a->in_h < 1 || a->in_w < 1 ||
        a->cout < 1 || a->out_coff < 0 || a->out_coff > a->out_ctot - a->cout || a->k < 1 ||
        a->stride < 1 || a->pad < 0 || a->pad > 1024 || a->in_h > INT_MAX / 4 ||
        a->in_w > INT_MAX / 4 || a->out_h != dc_window_side(a->in_h, a->k, a->stride, a->pad) ||
        a->out_w != dc_window_side(a->in_w, a->k, a->stride, a->pad))
        return 0;
    if (!dc_mul_size((size_t)a->in_ctot, (size_t)a->in_h * (size_t)a->in_w, &in_img) ||
        in_img > INT_MAX / 2)
        return 0;
    if (!dc_mul_size((size_t)a->n, (size_t)a->out_h * (size_t)a->out_w, &ncols) ||
        ncols > (size_t)INT_MAX - 2 * (size_t)t.nwg)
        return 0;
    if (!dc_mul_size((size_t)a->cin, (size_t)a->k * (size_t)a->k, &K) ||
        K > (size_t)INT_MAX - 2 * (size_t)p->v[GEMM_P_KWG])
        return 0;
    if ((size_t)a->cout > (size_t)INT_MAX - (size_t)t.mwg)
        return 0;
    return 1;
}

static cl_int gemm_bind(void *state, const dc_params *p, const dc_conv_args *a, dc_mem ws,
                        dc_bound **bound)
{
    gemm_state *s = state;
    size_t ncols, K, mt, nt, global[3], local[3];
    int splits, chunk, flags, mpad, one, which;
    gemm_tile t;
    cl_kernel kern;
    dc_argset g;
    dc_binder x;
    cl_int err;
    if (!s || !p || !a)
        return CL_INVALID_VALUE;
    one = gemm_is_1x1(a->k, a->stride, a->pad);
    t = gemm_tile_of(p, one);
    if (!gemm_valid(a, p, t))
        return CL_INVALID_VALUE;
    /* The packed weights are read as VWM-vectors. */
    if (a->weight.off % (size_t)p->v[GEMM_P_VWM] != 0)
        return CL_MISALIGNED_SUB_BUFFER_OFFSET;
    /* The 3x3 kernels take K tiles of one tap only: cin a multiple of KWG. */
    if (one)
        which = a->pre.buf ? DC_GEMM_K1X1_PRE : DC_GEMM_K1X1;
    else if (a->k == 3 && a->stride == 1 && a->pad == 1 && a->cin % p->v[GEMM_P_KWG] == 0)
        which = a->pre.buf ? DC_GEMM_K3X3_PRE : DC_GEMM_K3X3;
    else if (a->k == 7 && a->stride == 2 && a->pad == 3)
        which = DC_GEMM_K7X7S2;
    else
        which = DC_GEMM_KCONV;
    ncols = (size_t)a->n * (size_t)a->out_h * (size_t)a->out_w;
    K = (size_t)a->cin * (size_t)a->k * (size_t)a->k;
    splits = gemm_split(p, t, a->cout, ncols, K, &chunk);
    mpad = (int)gemm_round_up((size_t)a->cout, (size_t)t.mwg);
    mt = (size_t)mpad / (size_t)t.mwg;
    nt = (ncols + (size_t)t.nwg - 1) / (size_t)t.nwg;
    if (splits > 1) {
        /* The workspace() floats this launch writes, [splits, Mp, Np], indexed in int from an
         * int offset, and a counter per work-item of each tile. */
        const size_t wsn = gemm_ws_floats(p, t, a->cout, ncols, K);
        if (!ws.buf)
            return CL_INVALID_MEM_OBJECT;
        if (ws.off > INT_MAX || wsn > (size_t)INT_MAX)
            return CL_INVALID_ARG_VALUE;
        if (mt * nt * (size_t)t.mdimc * (size_t)t.ndimc > s->cnt_n)
            return CL_OUT_OF_RESOURCES; /* not with the params create() had: FILL bounds it */
    }
    flags = (a->bias.buf ? DC_FLAG_BIAS : 0) | (a->pre.buf ? DC_FLAG_PRE : 0) |
            (a->relu ? DC_FLAG_RELU : 0);

    if ((err = dc_bind_begin(&x, bound, s->prog, s->dev)) != CL_SUCCESS ||
        (err = dc_bind_kernel(&x, gemm_kernel_names[which], &kern)) != CL_SUCCESS)
        return err;
    g = (dc_argset){kern, 0, CL_SUCCESS};
    dc_arg_mem(&g, a->in, NULL);
    dc_arg_mem(&g, a->weight, NULL);
    dc_arg_mem(&g, a->bias, a->weight.buf);
    dc_arg_mem(&g, a->pre, a->weight.buf);
    dc_arg_mem(&g, a->out, NULL);
    dc_arg_mem(&g, splits > 1 ? ws : a->out, NULL);
    dc_arg_mem(&g, (dc_mem){splits > 1 ? s->cnt : a->out.buf, 0}, NULL);
    dc_arg_int(&g, a->n);
    dc_arg_int(&g, a->cin);
    dc_arg_int(&g, a->in_ctot);
    dc_arg_int(&g, a->in_h);
    dc_arg_int(&g, a->in_w);
    dc_arg_int(&g, a->cout);
    dc_arg_int(&g, mpad);
    dc_arg_int(&g, a->out_ctot);
    dc_arg_int(&g, a->out_coff);
    dc_arg_int(&g, a->out_h);
    dc_arg_int(&g, a->out_w);
    dc_arg_int(&g, a->k);
    dc_arg_int(&g, a->stride);
    dc_arg_int(&g, a->pad);
    dc_arg_int(&g, chunk);
    dc_arg_int(&g, flags);
    if (g.err != CL_SUCCESS)
        return g.err;
    /* Groups tile [cout, ncols] exactly (uniform work-groups; the kernel guards the edges);
     * dimension 2 is the K slice, whose work-items that count last write the tile: one
     * launch. */
    global[0] = mt * (size_t)t.mdimc;
    global[1] = nt * (size_t)t.ndimc;
    global[2] = (size_t)splits;
    local[0] = (size_t)t.mdimc;
    local[1] = (size_t)t.ndimc;
    local[2] = 1;
    err = dc_bind_exact(&x, kern, 3, global, local);
    dc_bind_end(&x);
    return err;
}

/* auto's family on GPUs: every kind. */
static unsigned gemm_auto_kinds(const dc_caps *caps, char *why, size_t cap)
{
    if (caps && (caps->type & CL_DEVICE_TYPE_GPU)) {
        snprintf(why, cap, "GPU default");
        return DC_KINDS_ALL;
    }
    snprintf(why, cap, "gemm is auto's default on GPUs only");
    return 0;
}

const dc_family dc_family_gemm = {
    .name = "gemm",
    .sources = gemm_sources,
    .params = gemm_params,
    .n_params = GEMM_P_COUNT,
    .kinds = DC_KINDS_ALL,
    .kernels_param = -1,
    .on_param = -1,
    .auto_kinds = gemm_auto_kinds,
    .supports = gemm_supports,
    .defaults = gemm_defaults,
    .check = gemm_check,
    .defines = gemm_defines,
    .pack = gemm_pack,
    .workspace = gemm_workspace,
    .create = gemm_create,
    .release = gemm_release,
    .bind = gemm_bind,
};
