/* SPDX-License-Identifier: MIT */
/* gemm.c - the "gemm" conv family (kernels/gemm.cl): each conv as a local-memory tiled GEMM
 * (1x1) or implicit GEMM (k > 1) with the batch folded into the columns, and a split of K with a
 * reduce pass when the tile grid alone cannot fill the device. Made for GPUs; correct anywhere. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv/conv.h"

#include "../kernels/abi.h"

/* Parameter indices, in the order of dc_gemm_params[]. */
enum {
    DC_GEMM_P_MWG,
    DC_GEMM_P_NWG,
    DC_GEMM_P_KWG,
    DC_GEMM_P_MDIMC,
    DC_GEMM_P_NDIMC,
    DC_GEMM_P_VWM,
    DC_GEMM_P_VWN,
    DC_GEMM_P_KSPLIT,
    DC_GEMM_P_GROUPS,
    DC_GEMM_P_FMA,
    DC_GEMM_P_COUNT
};

static const dc_param_spec dc_gemm_params[DC_GEMM_P_COUNT] = {
    {"MWG", 1, 256, "output channels per work-group tile"},
    {"NWG", 1, 256, "output pixels (over the batch) per work-group tile"},
    {"KWG", 1, 64, "depth of the K slice staged through local memory per step"},
    {"MDIMC", 1, 256, "work-items per group along the channels; MWG % MDIMC == 0"},
    {"NDIMC", 1, 256, "work-items per group along the pixels; NWG % NDIMC == 0"},
    {"VWM", 1, 16, "vector width along the channels: 1, 2, 4, 8, 16; MWG % (MDIMC * VWM) == 0"},
    {"VWN", 1, 16, "vector width along the pixels: 1, 2, 4, 8, 16; NWG % (NDIMC * VWN) == 0"},
    {"KSPLIT", 1, 256, "most slices K is split into when a conv's tiles cannot fill the device"},
    {"GROUPS", 1, 1 << 24, "work-groups a launch aims for before splitting K (host only)"},
    {"FMA", 0, 1, "1: accumulate with fma(); 0: mad(), for devices without hardware fma"},
};

/* Most accumulators a work-item holds (MWG / MDIMC x NWG / NDIMC): past it every GPU spills. */
#define DC_GEMM_MAX_ACC 256

/* Tile ladders of defaults(), largest first: {MWG, NWG, KWG, MDIMC, NDIMC}; the first that fits
 * the device's work-group size and half its local memory wins (the other half leaves room for a
 * second group per compute unit); the last only has to fit. GPUs: 8 x 8 register blocks
 * (smaller ones on smaller tiles), MWG fitted to the model (0 below). The smallest tile is what
 * supports() requires. Sized from the limits, not measured on any GPU: measured values (a tuner,
 * a table per device) should replace them. */
static const int dc_gemm_gpu_ladder[][5] = {
    {0, 128, 16, 0, 16}, {0, 64, 16, 0, 8}, {32, 64, 8, 8, 8}, {16, 16, 4, 4, 4}, {8, 8, 2, 2, 2},
};
static const int dc_gemm_cpu_ladder[][5] = {
    {32, 32, 8, 8, 8}, {16, 16, 4, 4, 4}, {8, 8, 2, 2, 2},
};
#define DC_GEMM_MIN_LOCAL (4u * 2u * (8u + 8u)) /* bytes of the smallest tile */
#define DC_GEMM_MIN_ITEMS 4u                    /* its work-items */

static const char *const dc_gemm_sources[] = {"gemm.cl", NULL};

/* ------------------------------------------------------------------------ sizes */

static size_t dc_gemm_round_up(size_t v, size_t m)
{
    return (v + m - 1) / m * m;
}

static size_t dc_gemm_local_bytes(const dc_params *p)
{
    return 4u * (size_t)p->v[DC_GEMM_P_KWG] *
           ((size_t)p->v[DC_GEMM_P_MWG] + (size_t)p->v[DC_GEMM_P_NWG]);
}

/* The K split of a conv of cout channels, ncols output columns (n * out_h * out_w) and K rows:
 * the number of slices S (1: none) and the KWG tiles per slice. A grid of fewer tiles than
 * GROUPS is split into up to KSPLIT slices, at least one KWG tile each. Depends on nothing but
 * the conv and p, so that workspace() and enqueue() agree. */
static int dc_gemm_split(const dc_params *p, int cout, size_t ncols, size_t K, int *kchunk)
{
    const size_t mwg = p->v[DC_GEMM_P_MWG] > 0 ? (size_t)p->v[DC_GEMM_P_MWG] : 1;
    const size_t nwg = p->v[DC_GEMM_P_NWG] > 0 ? (size_t)p->v[DC_GEMM_P_NWG] : 1;
    const size_t kwg = p->v[DC_GEMM_P_KWG] > 0 ? (size_t)p->v[DC_GEMM_P_KWG] : 1;
    const size_t mt = ((size_t)cout + mwg - 1) / mwg, nt = (ncols + nwg - 1) / nwg;
    const size_t ktiles = (K + kwg - 1) / kwg;
    const size_t groups = (size_t)p->v[DC_GEMM_P_GROUPS];
    size_t tiles = mt * nt, s = 1, chunk;
    *kchunk = INT_MAX;
    if (ktiles == 0 || p->v[DC_GEMM_P_KSPLIT] < 1)
        return 1; /* unchecked params or an empty K: no split */
    if (tiles > 0 && tiles < groups)
        s = (groups + tiles - 1) / tiles;
    if (s > (size_t)p->v[DC_GEMM_P_KSPLIT])
        s = (size_t)p->v[DC_GEMM_P_KSPLIT];
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

static int dc_gemm_supports(const dc_caps *caps, const dc_op *op, char *why, size_t cap)
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
            snprintf(why, cap, "work-groups of at most %zu work-items are below the %u the "
                     "smallest gemm tile needs", caps->max_work_group, DC_GEMM_MIN_ITEMS);
        return 0;
    }
    if (caps->local_mem < DC_GEMM_MIN_LOCAL) {
        if (why)
            snprintf(why, cap, "local memory of %llu bytes is below the %u the smallest gemm "
                     "tile needs", (unsigned long long)caps->local_mem, DC_GEMM_MIN_LOCAL);
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

/* The MWG of the GPU ladder's first rungs: 32 or 64, whichever wastes fewer multiply-adds on
 * channels past cout over the plan's convs (DenseNet: 32-channel growth convs beside 128-channel
 * bottlenecks); 64 without a plan. */
static int dc_gemm_fit_mwg(const dc_plan *plan)
{
    double cost32 = 0, cost64 = 0;
    if (!plan)
        return 64;
    for (int i = 0; i < plan->n_ops; i++) {
        const dc_op *op = &plan->ops[i];
        double per_channel;
        if (op->kind != DC_OP_CONV || op->out_c < 1)
            continue;
        per_channel = (double)op->macs / op->out_c;
        cost32 += per_channel * (double)dc_gemm_round_up((size_t)op->out_c, 32);
        cost64 += per_channel * (double)dc_gemm_round_up((size_t)op->out_c, 64);
    }
    return cost32 < cost64 ? 32 : 64;
}

static void dc_gemm_defaults(const dc_caps *caps, const dc_plan *plan, dc_params *p)
{
    const int cpu = caps && (caps->type & CL_DEVICE_TYPE_CPU);
    const int(*ladder)[5] = cpu ? dc_gemm_cpu_ladder : dc_gemm_gpu_ladder;
    const size_t rungs = cpu ? DC_ARRAY_LEN(dc_gemm_cpu_ladder) : DC_ARRAY_LEN(dc_gemm_gpu_ladder);
    const int mwg = dc_gemm_fit_mwg(plan);
    const cl_ulong local = caps ? caps->local_mem : 16384;
    const size_t items = caps ? caps->max_work_group : 64;
    const cl_uint cus = caps && caps->compute_units ? caps->compute_units : 1;
    memset(p, 0, sizeof *p);
    for (size_t r = 0; r < rungs; r++) {
        int m = ladder[r][0] ? ladder[r][0] : mwg;
        int md = ladder[r][3] ? ladder[r][3] : m / 8;
        p->v[DC_GEMM_P_MWG] = m;
        p->v[DC_GEMM_P_NWG] = ladder[r][1];
        p->v[DC_GEMM_P_KWG] = ladder[r][2];
        p->v[DC_GEMM_P_MDIMC] = md;
        p->v[DC_GEMM_P_NDIMC] = ladder[r][4];
        if ((size_t)md * (size_t)ladder[r][4] <= items &&
            dc_gemm_local_bytes(p) <= (r + 1 == rungs ? local : local / 2))
            break;
    }
    /* Every rung leaves each work-item a multiple of 4 channels and pixels. */
    p->v[DC_GEMM_P_VWM] = 4;
    p->v[DC_GEMM_P_VWN] = 4;
    /* Batch 1 on late blocks has 1-2 tiles (1x1: M = 128, N = 49, K = 1000; 3x3: M = 32,
     * N = 49, K = 1152): on a GPU split K into up to 128 slices, one KWG step each at the
     * limit, to come near two groups per compute unit; a CPU needs fewer. */
    p->v[DC_GEMM_P_KSPLIT] = cpu ? 8 : 128;
    p->v[DC_GEMM_P_GROUPS] = cus > (1u << 22) ? 1 << 23 : (int)(2 * cus);
    p->v[DC_GEMM_P_FMA] = caps ? caps->has_fma != 0 : 1;
}

static densecl_status dc_gemm_check(const dc_caps *caps, const dc_params *p, const char *what)
{
    const int mwg = p->v[DC_GEMM_P_MWG], nwg = p->v[DC_GEMM_P_NWG], kwg = p->v[DC_GEMM_P_KWG];
    const int md = p->v[DC_GEMM_P_MDIMC], nd = p->v[DC_GEMM_P_NDIMC], vwm = p->v[DC_GEMM_P_VWM];
    const int vwn = p->v[DC_GEMM_P_VWN];
    size_t items, local;
    if (!what)
        what = "gemm parameters";
    for (int i = 0; i < DC_GEMM_P_COUNT; i++)
        if (p->v[i] < dc_gemm_params[i].lo || p->v[i] > dc_gemm_params[i].hi)
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm %s = %d is outside [%d, %d]", what,
                            dc_gemm_params[i].name, p->v[i], dc_gemm_params[i].lo,
                            dc_gemm_params[i].hi);
    if (mwg % md)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm MWG = %d is not a multiple of MDIMC = %d",
                        what, mwg, md);
    if (nwg % nd)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm NWG = %d is not a multiple of NDIMC = %d",
                        what, nwg, nd);
    if (vwm != 1 && vwm != 2 && vwm != 4 && vwm != 8 && vwm != 16)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm VWM = %d is not 1, 2, 4, 8 or 16", what,
                        vwm);
    if (vwn != 1 && vwn != 2 && vwn != 4 && vwn != 8 && vwn != 16)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm VWN = %d is not 1, 2, 4, 8 or 16", what,
                        vwn);
    if (mwg % (md * vwm))
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm MWG = %d is not a multiple of MDIMC * VWM "
                        "= %d * %d", what, mwg, md, vwm);
    if (nwg % (nd * vwn))
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm NWG = %d is not a multiple of NDIMC * VWN "
                        "= %d * %d", what, nwg, nd, vwn);
    items = (size_t)md * (size_t)nd;
    if (items >= (size_t)nwg ? items % (size_t)nwg : (size_t)nwg % items)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm MDIMC * NDIMC = %zu and NWG = %d: one "
                        "must be a multiple of the other", what, items, nwg);
    if (items > (size_t)nwg && (size_t)kwg % (items / (size_t)nwg))
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm KWG = %d is not a multiple of MDIMC * "
                        "NDIMC / NWG = %zu", what, kwg, items / (size_t)nwg);
    if ((size_t)(mwg / md) * (size_t)(nwg / nd) > DC_GEMM_MAX_ACC)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm MWG / MDIMC * NWG / NDIMC = %d "
                        "accumulators per work-item exceed %d", what, (mwg / md) * (nwg / nd),
                        DC_GEMM_MAX_ACC);
    if (caps && items > caps->max_work_group)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm MDIMC * NDIMC = %d * %d work-items "
                        "exceed the device's work-group size of %zu", what, md, nd,
                        caps->max_work_group);
    local = dc_gemm_local_bytes(p);
    if (caps && local > caps->local_mem)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm KWG * (MWG + NWG) = %d * (%d + %d) "
                        "floats (%zu bytes) exceed the device's local memory of %llu bytes",
                        what, kwg, mwg, nwg, local, (unsigned long long)caps->local_mem);
    return DENSECL_OK;
}

static void dc_gemm_defines(const dc_params *p, const dc_plan *plan, char *buf, size_t cap)
{
    /* GROUPS is the host's alone: leaving it out keeps programs (and their cache keys) the same
     * on devices that differ only in compute units. */
    static const int emitted[] = {DC_GEMM_P_MWG,   DC_GEMM_P_NWG, DC_GEMM_P_KWG,
                                  DC_GEMM_P_MDIMC, DC_GEMM_P_NDIMC, DC_GEMM_P_VWM,
                                  DC_GEMM_P_VWN,   DC_GEMM_P_KSPLIT, DC_GEMM_P_FMA};
    size_t len;
    (void)plan;
    if (!buf || cap == 0)
        return;
    len = memchr(buf, '\0', cap) ? strlen(buf) : cap;
    for (size_t i = 0; i < DC_ARRAY_LEN(emitted) && len < cap; i++) {
        int w = snprintf(buf + len, cap - len, "%s-DDC_GEMM_%s=%d", len ? " " : "",
                         dc_gemm_params[emitted[i]].name, p->v[emitted[i]]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

/* ------------------------------------------------------------------------ vtable: weights */

static size_t dc_gemm_pack(const dc_op *op, const dc_params *p, const float *w, float *out)
{
    size_t K, kp, mp, len;
    if (!op || op->out_c < 1 || op->in_c < 1 || op->k < 1 || p->v[DC_GEMM_P_KWG] < 1 ||
        p->v[DC_GEMM_P_MWG] < 1)
        return 0;
    if (!dc_mul_size((size_t)op->in_c, (size_t)op->k * (size_t)op->k, &K))
        return 0;
    kp = dc_gemm_round_up(K, (size_t)p->v[DC_GEMM_P_KWG]);
    mp = dc_gemm_round_up((size_t)op->out_c, (size_t)p->v[DC_GEMM_P_MWG]);
    if (kp < K || !dc_mul_size(kp, mp, &len))
        return 0;
    if (!out)
        return len;
    /* [cout, K] -> [Kp, Mp], zero past cout and K: a tile's KWG rows are MWG contiguous floats. */
    for (size_t k = 0; k < kp; k++)
        for (size_t m = 0; m < mp; m++)
            out[k * mp + m] = k < K && m < (size_t)op->out_c ? w[m * K + k] : 0.0f;
    return len;
}

static size_t dc_gemm_workspace(const dc_op *op, int n, const dc_params *p)
{
    size_t ncols, K, len;
    int chunk, s;
    if (!op || n < 1 || op->out_c < 1)
        return 0;
    ncols = (size_t)n * (size_t)op->out_h * (size_t)op->out_w;
    K = (size_t)op->in_c * (size_t)op->k * (size_t)op->k;
    s = dc_gemm_split(p, op->out_c, ncols, K, &chunk);
    if (s <= 1 || !dc_mul_size((size_t)s * (size_t)op->out_c, ncols, &len))
        return 0;
    return len;
}

/* ------------------------------------------------------------------------ vtable: kernels */

/* Its kernels: one GEMM per conv kind it tells apart, and the split-K reduce. */
enum { GEMM_K_1X1, GEMM_K_3X3, GEMM_K_7X7S2, GEMM_K_CONV, GEMM_K_REDUCE, GEMM_K_COUNT };
static const char *const dc_gemm_kernel_names[GEMM_K_COUNT] = {
    "densecl_gemm_1x1", "densecl_gemm_3x3", "densecl_gemm_7x7s2", "densecl_gemm_conv",
    "densecl_gemm_reduce"};

typedef struct dc_gemm_state {
    cl_program prog;  /* each bound op's kernels are made from it */
    cl_device_id dev;
    cl_kernel k[GEMM_K_COUNT]; /* proof that each is in prog, and their work-group limits */
    size_t reduce_local; /* local size of densecl_gemm_reduce */
} dc_gemm_state;

static void dc_gemm_release(void *state)
{
    dc_gemm_state *s = state;
    if (!s)
        return;
    for (int i = 0; i < GEMM_K_COUNT; i++)
        if (s->k[i])
            clReleaseKernel(s->k[i]);
    if (s->prog)
        clReleaseProgram(s->prog);
    free(s);
}

static densecl_status dc_gemm_create(cl_program prog, const dc_caps *caps, const dc_params *p,
                                     void **state)
{
    densecl_status st = DENSECL_OK;
    dc_gemm_state *s;
    const size_t items = (size_t)p->v[DC_GEMM_P_MDIMC] * (size_t)p->v[DC_GEMM_P_NDIMC];
    if (!state || !prog || !caps || !p)
        return dc_error(DENSECL_ERR_ARGUMENT, "gemm create: NULL argument");
    *state = NULL;
    if ((st = dc_gemm_check(caps, p, "gemm create")) != DENSECL_OK)
        return st;
    s = calloc(1, sizeof *s);
    if (!s)
        return dc_error(DENSECL_ERR_NO_MEMORY, "gemm create: out of host memory");
    s->dev = caps->dev;
    if (clRetainProgram(prog) == CL_SUCCESS)
        s->prog = prog;
    for (int i = 0; i < GEMM_K_COUNT; i++) {
        size_t wg = 0;
        if ((st = dc_kernel_create(prog, dc_gemm_kernel_names[i], &s->k[i])) != DENSECL_OK)
            goto fail;
        DC_CL_TRY(st, clGetKernelWorkGroupInfo(s->k[i], caps->dev, CL_KERNEL_WORK_GROUP_SIZE,
                                               sizeof wg, &wg, NULL));
        if (i != GEMM_K_REDUCE && wg < items) {
            /* Register-heavy tiles can exceed what the compiled kernel allows. */
            st = dc_error(DENSECL_ERR_ARGUMENT, "%s: gemm MDIMC * NDIMC = %zu work-items exceed "
                          "the kernel's CL_KERNEL_WORK_GROUP_SIZE of %zu on this device",
                          dc_gemm_kernel_names[i], items, wg);
            goto fail;
        }
        if (i == GEMM_K_REDUCE) {
            s->reduce_local = 64;
            if (s->reduce_local > wg)
                s->reduce_local = wg > 0 ? wg : 1;
            if (s->reduce_local > caps->max_work_group)
                s->reduce_local = caps->max_work_group > 0 ? caps->max_work_group : 1;
        }
    }
    *state = s;
    return DENSECL_OK;
fail:
    dc_gemm_release(s);
    return st;
}

/* The conv's sizes, checked: 0 when a is inconsistent or its indices overflow the kernels' int
 * math (in-image offsets, columns, K rounded up, with a tile of slack). */
static int dc_gemm_valid(const dc_conv_args *a, const dc_params *p)
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
        ncols > (size_t)INT_MAX - 2 * (size_t)p->v[DC_GEMM_P_NWG])
        return 0;
    if (!dc_mul_size((size_t)a->cin, (size_t)a->k * (size_t)a->k, &K) ||
        K > (size_t)INT_MAX - 2 * (size_t)p->v[DC_GEMM_P_KWG])
        return 0;
    if ((size_t)a->cout > (size_t)INT_MAX - (size_t)p->v[DC_GEMM_P_MWG])
        return 0;
    return 1;
}

static cl_int dc_gemm_bind(void *state, const dc_params *p, const dc_conv_args *a, dc_mem ws,
                           dc_bound **bound)
{
    dc_gemm_state *s = state;
    const int mwg = p ? p->v[DC_GEMM_P_MWG] : 1, nwg = p ? p->v[DC_GEMM_P_NWG] : 1;
    const int md = p ? p->v[DC_GEMM_P_MDIMC] : 1, nd = p ? p->v[DC_GEMM_P_NDIMC] : 1;
    size_t ncols, K, mt, nt, global[3], local[3];
    int splits, chunk, flags, mpad, which;
    cl_kernel kern;
    dc_argset g;
    dc_binder x;
    cl_int err;
    if (!s || !p || !a)
        return CL_INVALID_VALUE;
    if (!dc_gemm_valid(a, p))
        return CL_INVALID_VALUE;
    if (a->k == 1 && a->stride == 1 && a->pad == 0)
        which = GEMM_K_1X1;
    else if (a->k == 3 && a->stride == 1 && a->pad == 1)
        which = GEMM_K_3X3;
    else if (a->k == 7 && a->stride == 2 && a->pad == 3)
        which = GEMM_K_7X7S2;
    else
        which = GEMM_K_CONV;
    ncols = (size_t)a->n * (size_t)a->out_h * (size_t)a->out_w;
    K = (size_t)a->cin * (size_t)a->k * (size_t)a->k;
    splits = dc_gemm_split(p, a->cout, ncols, K, &chunk);
    if (splits > 1) {
        /* The workspace() floats this launch writes, [splits, cout, ncols], at an int offset. */
        if (!ws.buf)
            return CL_INVALID_MEM_OBJECT;
        if (ws.off > INT_MAX)
            return CL_INVALID_ARG_VALUE;
    }
    flags = (a->bias.buf ? DC_FLAG_BIAS : 0) | (a->pre.buf ? DC_FLAG_PRE : 0) |
            (a->relu ? DC_FLAG_RELU : 0);
    mpad = (int)dc_gemm_round_up((size_t)a->cout, (size_t)mwg);
    mt = (size_t)mpad / (size_t)mwg;
    nt = (ncols + (size_t)nwg - 1) / (size_t)nwg;

    if ((err = dc_bind_begin(&x, bound, s->prog, s->dev)) != CL_SUCCESS ||
        (err = dc_bind_kernel(&x, dc_gemm_kernel_names[which], &kern)) != CL_SUCCESS)
        return err;
    g = (dc_argset){kern, 0, CL_SUCCESS};
    dc_arg_mem(&g, a->in, NULL);
    dc_arg_mem(&g, a->weight, NULL);
    dc_arg_mem(&g, a->bias, a->weight.buf);
    dc_arg_mem(&g, a->pre, a->weight.buf);
    dc_arg_mem(&g, a->out, NULL);
    dc_arg_mem(&g, splits > 1 ? ws : a->out, NULL);
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
     * dimension 2 is the K slice. */
    global[0] = mt * (size_t)md;
    global[1] = nt * (size_t)nd;
    global[2] = (size_t)splits;
    local[0] = (size_t)md;
    local[1] = (size_t)nd;
    local[2] = 1;
    err = dc_bind_exact(&x, kern, 3, global, local);
    if (err != CL_SUCCESS || splits <= 1) {
        dc_bind_end(&x);
        return err;
    }

    {
        const size_t plane = (size_t)a->cout * ncols, rl = s->reduce_local;
        size_t rglobal;
        if (plane > SIZE_MAX - rl)
            return CL_INVALID_GLOBAL_WORK_SIZE;
        rglobal = (plane + rl - 1) / rl * rl;
        if ((err = dc_bind_kernel(&x, dc_gemm_kernel_names[GEMM_K_REDUCE], &kern)) != CL_SUCCESS)
            return err;
        g = (dc_argset){kern, 0, CL_SUCCESS};
        dc_arg_mem(&g, ws, NULL);
        dc_arg_mem(&g, a->bias, a->weight.buf);
        dc_arg_mem(&g, a->out, NULL);
        dc_arg_int(&g, a->cout);
        dc_arg_int(&g, (int)ncols);
        dc_arg_int(&g, a->out_h * a->out_w);
        dc_arg_int(&g, a->out_ctot);
        dc_arg_int(&g, a->out_coff);
        dc_arg_int(&g, splits);
        dc_arg_int(&g, flags);
        err = g.err;
        /* After the GEMM in the (in-order) queue. */
        if (err == CL_SUCCESS)
            err = dc_bind_exact(&x, kern, 1, &rglobal, &rl);
        dc_bind_end(&x);
        return err;
    }
}

/* auto's family on GPUs: every kind. */
static unsigned dc_gemm_auto_kinds(const dc_caps *caps, char *why, size_t cap)
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
    .sources = dc_gemm_sources,
    .params = dc_gemm_params,
    .n_params = DC_GEMM_P_COUNT,
    .kinds = DC_KINDS_ALL,
    .kernels_param = -1,
    .on_param = -1,
    .auto_kinds = dc_gemm_auto_kinds,
    .supports = dc_gemm_supports,
    .defaults = dc_gemm_defaults,
    .check = dc_gemm_check,
    .defines = dc_gemm_defines,
    .pack = dc_gemm_pack,
    .workspace = dc_gemm_workspace,
    .create = dc_gemm_create,
    .release = dc_gemm_release,
    .bind = dc_gemm_bind,
};
