/* SPDX-License-Identifier: MIT */
/*
 * winograd.c - the "winograd" conv family (kernels/winograd.cl): Winograd F(2x2, 3x3) for
 * the 3x3 / stride 1 / pad 1 convs, with and without the BN+ReLU prologue, one fused kernel per
 * conv kind and no workspace. CPU-shaped (POCL). It runs no other conv: the replica's other conv
 * kinds stay on the direct family (WINOGRAD_KINDS), whether auto or --conv winograd chose it.
 *
 * Weights are transformed here, at pack time, in double: U = G g G^T for each (co, ci), laid
 * out [ceil(cout / 16), cin, 16 (xi), 16 (channel lanes)], zero past cout.
 *
 * Parameters (the -D macros of winograd.cl): CO, output channels per work-item; NT, tiles per
 * work-item; CK, input channels per staged chunk; VEC, the channel vector width; KERNELS, which
 * of the two kernels to build; ON, whether auto may choose the family (the off switch:
 * kernel_params "winograd:ON=0").
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv/conv.h"

#include "../kernels/abi.h"

/* Work-items per group (POCL compiles a kernel again for every local size it sees, so one for
 * every launch): 1, since a work-item is a large piece of work (WINO_NT tiles x WINO_CO
 * channels x every input channel) and a 7x7 layer has only a few. */
#define WINOGRAD_LOCAL 1

/* Parameter indices, in the order of winograd_params[]. */
enum {
    WINOGRAD_P_CO,
    WINOGRAD_P_NT,
    WINOGRAD_P_CK,
    WINOGRAD_P_VEC,
    WINOGRAD_P_KERNELS,
    WINOGRAD_P_ON,
    WINOGRAD_P_DYN,
    WINOGRAD_P_COUNT
};

static const dc_param_spec winograd_params[WINOGRAD_P_COUNT] = {
    {"CO", 16, 48, "output channels per work-item: 16, 32 or 48"},
    {"NT", 8, 16, "2x2 output tiles per work-item (GEMM accumulators): 8 or 16"},
    {"CK", 8, 32, "input channels per staged chunk: 8, 16 or 32"},
    {"VEC", 8, 16, "channel vector width: 8 or 16 (AVX-512)"},
    {"KERNELS", DC_CONV_3X3, DC_CONV_3X3 | DC_CONV_3X3_PRE,
     "kernels to build (abi.h bits): 2 3x3, 4 3x3 with prologue, 6 both"},
    {"ON", 0, 1, "0: auto keeps the 3x3 convs on the direct family (the off switch)"},
    {"DYN", 0, 8, "work-items per compute unit, taking tiles from a counter (0: one per tile)"},
};

/* The conv kinds it runs (bit DC_KIND_*): a replica that chose it, by auto or by name, runs its
 * other kinds on direct. */
#define WINOGRAD_KINDS ((1u << DC_KIND_3X3) | (1u << DC_KIND_3X3_PRE))

static const char *const winograd_sources[] = {"winograd.cl", NULL};

/* Where auto runs the 3x3/1/1 convs on winograd: CPUs whose native float vector is 16 wide
 * (CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, which POCL reports as 16 where the LLVM CPU it compiles
 * for has AVX-512) with hardware fma (CL_FP_FMA in CL_DEVICE_SINGLE_FP_CONFIG): the instruction
 * set its float16 code is written for. Both such CPUs measured run it faster than the direct
 * family (README, Performance; POCL 3.1, 2 cores each, alternating runs): an AMD EPYC (3x3
 * convs of DenseNet-121 at batch 1 16.2 against 24.9 ms on a busy VM) and an Intel Xeon (8.2
 * against 10.8 ms, per-op minima). Narrower vectors (AVX2: float8, 16 registers) were measured
 * only as a float8 build on the AVX-512 EPYC, where 32 registers hide spills, so direct keeps
 * them; `densecl tune` races winograd on any CPU and its file overrides this. */
static int dc_winograd_auto(const dc_caps *caps, char *why, size_t cap)
{
    if (caps && (caps->type & CL_DEVICE_TYPE_CPU) && !(caps->type & CL_DEVICE_TYPE_GPU) &&
        caps->native_vector_float >= 16 && caps->has_fma) {
        snprintf(why, cap, "measured faster than direct on CPUs with 16-wide vectors and fma");
        return 1;
    }
    snprintf(why, cap, "winograd is measured faster on CPUs with 16-wide vectors and fma only");
    return 0;
}

/* auto's claim: the 3x3 kinds where dc_winograd_auto says so; why is the clause the
 * resolution's reason gets either way. */
static unsigned winograd_auto_kinds(const dc_caps *caps, char *why, size_t cap)
{
    char reason[96];
    int yes = dc_winograd_auto(caps, reason, sizeof reason);
    snprintf(why, cap, "3x3 on %s: %s", yes ? "winograd" : "direct", reason);
    return yes ? WINOGRAD_KINDS : 0;
}

/* ------------------------------------------------------------------------ vtable: device */

static int winograd_supports(const dc_caps *caps, const dc_op *op, char *why, size_t cap)
{
    size_t in_img;
    (void)caps;
    if (why && cap)
        why[0] = '\0';
    if (!op || op->kind != DC_OP_CONV || op->k != 3 || op->stride != 1 || op->pad != 1) {
        if (why)
            snprintf(why, cap, "it runs 3x3 convs of stride 1 and padding 1 only");
        return 0;
    }
    /* The kernels' int math: in-image offsets, output offsets, tile counts. */
    if (op->in_c < 1 || op->in_h < 1 || op->in_w < 1 || op->out_h != op->in_h ||
        op->out_w != op->in_w ||
        !dc_mul_size((size_t)op->in_ctot, (size_t)op->in_h * (size_t)op->in_w, &in_img) ||
        in_img > INT_MAX / 2 || (size_t)op->out_ctot * op->out_h * op->out_w > INT_MAX / 2 ||
        (size_t)op->in_c * 16 * DC_CONV_PACK > INT_MAX / 2) {
        if (why)
            snprintf(why, cap, "the conv's sizes exceed the winograd kernels' int index range");
        return 0;
    }
    return 1;
}

/* CO 32 where the plan's 3x3 convs waste no more channels that way than with 16 (DenseNet-121's
 * growth of 32: one patch transform serves all 32 channels), else 16 (DenseNet-BC-100's growth
 * of 12 wastes 4 of 16 lanes, not 20 of 32); 16 without a plan. CO 48 where it wastes no more
 * than both, on 16-wide vectors (DenseNet-161's growth of 48: one transform and 24 fused
 * accumulators instead of three 16-channel tiles; AMD EPYC, DenseNet-161 batch 1, the 3x3 convs
 * 21.6 -> 17.2 ms; not measured on 8-wide vectors, whose six channel vectors would go one at a
 * time). NT 8: on POCL 3.1 on a 2-core
 * AMD EPYC (AVX-512), DenseNet-121 batch 1, NT 8 beat NT 16 on every block (16 tiles leave the
 * 7x7 and 14x14 layers' groups half empty and too few for the cores), and on a 2-core Intel
 * Xeon too (16 accumulators per channel vector spill). CK 32 with CO 32 or 48, else 16: with both
 * channel vectors of a 32-channel tile fed from each V value (winograd_gemm), a 32-channel chunk
 * halves the accumulators' loads and stores per input channel (Xeon, DenseNet-121 batch 1:
 * the 3x3 convs 8.6 -> 8.2 ms); with one vector at a time 16 and 32 were within noise on the
 * EPYC (16 a little ahead on DenseNet-BC-100). VEC 16 on devices whose native float vector is
 * 16 wide (AVX-512: float16 code is what becomes zmm FMAs under POCL). */
static void winograd_defaults(const dc_caps *caps, const dc_plan *plan, dc_params *p)
{
    double waste16 = 0, waste32 = 0, waste48 = 0;
    unsigned kinds = 0, refused = 0;
    memset(p, 0, sizeof *p);
    for (int i = 0; plan && i < plan->n_ops; i++) {
        const dc_op *op = &plan->ops[i];
        if (op->kind != DC_OP_CONV)
            continue;
        if (!winograd_supports(caps, op, NULL, 0)) {
            /* dc_resolve keeps a kind with such a conv on direct: no kernel for it here. */
            refused |= 1u << dc_op_conv_kind(op);
            continue;
        }
        kinds |= 1u << dc_op_conv_kind(op);
        const double per = (double)op->in_c * op->out_h * op->out_w;
        waste16 += per * (double)((op->out_c + 15) / 16 * 16 - op->out_c);
        waste32 += per * (double)((op->out_c + 31) / 32 * 32 - op->out_c);
        waste48 += per * (double)((op->out_c + 47) / 48 * 48 - op->out_c);
    }
    kinds &= ~refused;
    p->v[WINOGRAD_P_VEC] = caps && caps->native_vector_float >= 16 ? 16 : 8;
    p->v[WINOGRAD_P_CO] = plan && kinds && waste32 <= waste16 ? 32 : 16;
    if (plan && kinds && p->v[WINOGRAD_P_VEC] == 16 && waste48 <= waste16 && waste48 <= waste32)
        p->v[WINOGRAD_P_CO] = 48;
    p->v[WINOGRAD_P_NT] = 8;
    p->v[WINOGRAD_P_CK] = p->v[WINOGRAD_P_CO] >= 32 ? 32 : 16;
    p->v[WINOGRAD_P_KERNELS] = kinds & (DC_CONV_3X3 | DC_CONV_3X3_PRE)
                                   ? (int)(kinds & (DC_CONV_3X3 | DC_CONV_3X3_PRE))
                                   : DC_CONV_3X3 | DC_CONV_3X3_PRE;
    p->v[WINOGRAD_P_ON] = 1;
    /* DYN 2 on CPUs, as the direct family's (common.cl DC_TILES_FOR). */
    p->v[WINOGRAD_P_DYN] = caps && (caps->type & CL_DEVICE_TYPE_CPU) ? 2 : 0;
}

static densecl_status winograd_check(const dc_caps *caps, const dc_params *p, const char *what)
{
    (void)caps;
    if (!what)
        what = "winograd parameters";
    for (int i = 0; i < WINOGRAD_P_COUNT; i++)
        if (p->v[i] < winograd_params[i].lo || p->v[i] > winograd_params[i].hi)
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: winograd %s=%d (%d to %d)", what,
                            winograd_params[i].name, p->v[i], winograd_params[i].lo,
                            winograd_params[i].hi);
    if (p->v[WINOGRAD_P_CO] != 16 && p->v[WINOGRAD_P_CO] != 32 && p->v[WINOGRAD_P_CO] != 48)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: winograd CO=%d (16, 32 or 48)", what,
                        p->v[WINOGRAD_P_CO]);
    if (p->v[WINOGRAD_P_NT] != 8 && p->v[WINOGRAD_P_NT] != 16)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: winograd NT=%d (8 or 16)", what,
                        p->v[WINOGRAD_P_NT]);
    if (p->v[WINOGRAD_P_CK] != 8 && p->v[WINOGRAD_P_CK] != 16 && p->v[WINOGRAD_P_CK] != 32)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: winograd CK=%d (8, 16 or 32)", what,
                        p->v[WINOGRAD_P_CK]);
    if (p->v[WINOGRAD_P_VEC] != 8 && p->v[WINOGRAD_P_VEC] != 16)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: winograd VEC=%d (8 or 16)", what,
                        p->v[WINOGRAD_P_VEC]);
    if (p->v[WINOGRAD_P_KERNELS] & ~(DC_CONV_3X3 | DC_CONV_3X3_PRE))
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: winograd KERNELS=%d (2, 4 or 6)", what,
                        p->v[WINOGRAD_P_KERNELS]);
    return DENSECL_OK;
}

static void winograd_defines(const dc_params *p, const dc_plan *plan, char *buf, size_t cap)
{
    size_t len;
    (void)plan;
    if (!buf || cap == 0)
        return;
    len = strlen(buf);
    if (len < cap)
        snprintf(buf + len, cap - len,
                 "%s-DWINO_CO=%d -DWINO_NT=%d -DWINO_CK=%d -DWINO_VEC=%d -DWINO_KERNELS=%d%s",
                 len ? " " : "", p->v[WINOGRAD_P_CO], p->v[WINOGRAD_P_NT], p->v[WINOGRAD_P_CK],
                 p->v[WINOGRAD_P_VEC], p->v[WINOGRAD_P_KERNELS],
                 p->v[WINOGRAD_P_DYN] ? " -DWINO_DYN=1" : "");
}

/* ------------------------------------------------------------------------ vtable: weights */

/* U = G g G^T of one 3x3 filter g (row-major), in double; u[4 * row + col]. */
static void winograd_filter(const float *g, double *u)
{
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    double t[4][3];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            u[4 * i + j] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
}

static size_t winograd_pack(const dc_op *op, const dc_params *p, const float *w, float *out)
{
    size_t blocks, len, ck = p ? (size_t)p->v[WINOGRAD_P_CK] : 0;
    const size_t cin = op ? (size_t)op->in_c : 0;
    if (!op || op->out_c < 1 || op->in_c < 1 || op->k != 3 || ck < 1)
        return 0;
    blocks = ((size_t)op->out_c + DC_CONV_PACK - 1) / DC_CONV_PACK;
    if (!dc_mul_size(blocks, cin, &len) || !dc_mul_size(len, 16 * DC_CONV_PACK, &len))
        return 0;
    if (!out)
        return len;
    /* [cout, cin, 3, 3] -> per block, per chunk of ck input channels from c0 (the last one
     * shorter), [16, ck, 16] (winograd.cl): the 16 lanes of (block, ci, xi) are the block's
     * output channels; channels past cout are 0. */
    memset(out, 0, len * sizeof *out);
    for (size_t co = 0; co < (size_t)op->out_c; co++)
        for (size_t ci = 0; ci < cin; ci++) {
            const size_t c0 = ci / ck * ck, n = cin - c0 < ck ? cin - c0 : ck;
            double u[16];
            float *dst = out + ((co / DC_CONV_PACK) * cin + c0) * 16 * DC_CONV_PACK +
                         (ci - c0) * DC_CONV_PACK + co % DC_CONV_PACK;
            winograd_filter(w + (co * cin + ci) * 9, u);
            for (size_t xi = 0; xi < 16; xi++)
                dst[xi * n * DC_CONV_PACK] = (float)u[xi];
        }
    return len;
}

static size_t winograd_workspace(const dc_op *op, int n, const dc_params *p)
{
    (void)op;
    (void)n;
    (void)p;
    return 0;
}

/* ------------------------------------------------------------------------ vtable: kernels */

typedef struct winograd_state {
    cl_program prog; /* each bound op's kernel is made from it */
    cl_device_id dev;
    cl_kernel k3x3, k3x3_pre; /* proof that each of KERNELS is in prog; NULL where left out */
    cl_mem ctr;               /* the kernels' tile counters (DYN) */
    cl_uint units;            /* the device's compute units */
    dc_params p;              /* what the program was built with: grids are sized by it */
} winograd_state;

/* Its kernels: the 3x3 conv without and with the BN+ReLU prologue. */
static const char *const winograd_kernel_names[2] = {"densecl_wino3x3", "densecl_wino3x3_pre"};

static void winograd_release(void *state)
{
    winograd_state *s = state;
    if (!s)
        return;
    if (s->k3x3)
        clReleaseKernel(s->k3x3);
    if (s->k3x3_pre)
        clReleaseKernel(s->k3x3_pre);
    if (s->prog)
        clReleaseProgram(s->prog);
    if (s->ctr)
        clReleaseMemObject(s->ctr);
    free(s);
}

static densecl_status winograd_create(cl_program prog, const dc_caps *caps, const dc_params *p,
                                      void **state)
{
    static const int bits[2] = {DC_CONV_3X3, DC_CONV_3X3_PRE};
    winograd_state *s;
    densecl_status st;
    *state = NULL;
    if ((st = winograd_check(caps, p, "winograd create")) != DENSECL_OK)
        return st;
    if (!(s = calloc(1, sizeof *s)))
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
    s->p = *p;
    s->dev = caps->dev;
    if (clRetainProgram(prog) == CL_SUCCESS)
        s->prog = prog;
    s->units = caps && caps->compute_units ? caps->compute_units : 1;
    st = dc_counters_create(prog, 1 + (size_t)s->units * (size_t)p->v[WINOGRAD_P_DYN], &s->ctr);
    if (st != DENSECL_OK) {
        winograd_release(s);
        return st;
    }
    for (int i = 0; i < 2; i++) {
        if (!(p->v[WINOGRAD_P_KERNELS] & bits[i]))
            continue;
        if ((st = dc_kernel_create(prog, winograd_kernel_names[i], i ? &s->k3x3_pre : &s->k3x3)) !=
            DENSECL_OK) {
            winograd_release(s);
            return st;
        }
    }
    *state = s;
    return DENSECL_OK;
}

static cl_int winograd_bind(void *state, const dc_params *p, const dc_conv_args *a, dc_mem ws,
                            dc_bound **bound)
{
    const winograd_state *s = state;
    size_t tiles;
    int flags;
    cl_int err;
    dc_binder x;
    (void)p; /* the program's parameters are the state's */
    (void)ws;
    if (!s || !a)
        return CL_INVALID_KERNEL;
    dc_argset g = {NULL, 0, CL_SUCCESS};
    if (!(a->pre.buf ? s->k3x3_pre : s->k3x3))
        return CL_INVALID_KERNEL;
    if (a->k != 3 || a->stride != 1 || a->pad != 1 || a->n < 1 || a->cin < 1 ||
        a->cin > a->in_ctot || a->in_h < 1 || a->in_w < 1 || a->cout < 1 || a->out_coff < 0 ||
        a->out_coff > a->out_ctot - a->cout || a->out_h != a->in_h || a->out_w != a->in_w)
        return CL_INVALID_VALUE;
    {
        /* The kernel's int math: in-image and out-image offsets, the weights of one block, and
         * its work-item count (at most one per output pixel and channel, plus rounding). */
        int in_img[3] = {a->in_ctot, a->in_h, a->in_w};
        int out_img[3] = {a->out_ctot, a->out_h, a->out_w};
        int wts[3] = {a->cin + 1, 16, DC_CONV_PACK};
        int items[4] = {a->n, a->out_h + 1, a->out_w + 1, a->cout + 32};
        if (!dc_fits_int(3, in_img) || !dc_fits_int(3, out_img) || !dc_fits_int(3, wts) ||
            !dc_fits_int(4, items))
            return CL_INVALID_GLOBAL_WORK_SIZE;
    }
    flags = (a->bias.buf ? DC_FLAG_BIAS : 0) | (a->pre.buf ? DC_FLAG_PRE : 0) |
            (a->relu ? DC_FLAG_RELU : 0);
    if ((err = dc_bind_begin(&x, bound, s->prog, s->dev)) != CL_SUCCESS ||
        (err = dc_bind_kernel(&x, winograd_kernel_names[a->pre.buf != NULL], &g.k)) != CL_SUCCESS)
        return err;
    dc_arg_mem(&g, a->in, NULL);
    dc_arg_mem(&g, a->weight, NULL);
    dc_arg_mem(&g, a->bias, a->weight.buf);
    dc_arg_mem(&g, a->pre, a->weight.buf);
    dc_arg_mem(&g, a->out, NULL);
    dc_arg_int(&g, a->n);
    dc_arg_int(&g, a->cin);
    dc_arg_int(&g, a->in_ctot);
    dc_arg_int(&g, a->in_h);
    dc_arg_int(&g, a->in_w);
    dc_arg_int(&g, a->cout);
    dc_arg_int(&g, a->out_ctot);
    dc_arg_int(&g, a->out_coff);
    dc_arg_int(&g, flags);
    dc_arg_mem(&g, (dc_mem){s->ctr, 0}, NULL);
    if (g.err != CL_SUCCESS)
        return g.err;
    {
        /* One work-item per (group of NT tiles over the batch, channel tile), as winograd.cl
         * walks them: with NT 8, a group per tile row where a row has 7 tiles. */
        const size_t nt = (size_t)s->p.v[WINOGRAD_P_NT], co = (size_t)s->p.v[WINOGRAD_P_CO];
        const size_t tiles_y = ((size_t)a->out_h + 1) / 2, tiles_x = ((size_t)a->out_w + 1) / 2;
        const size_t ntiles = (size_t)a->n * tiles_y * tiles_x;
        const size_t groups =
            nt == 8 && tiles_x == 7 ? (size_t)a->n * tiles_y : (ntiles + nt - 1) / nt;
        const size_t local = WINOGRAD_LOCAL;
        tiles = groups * (((size_t)a->cout + co - 1) / co);
        if (s->p.v[WINOGRAD_P_DYN]) {
            /* DYN work-items per compute unit, each taking one tile group at a time. */
            const size_t items = (size_t)s->units * (size_t)s->p.v[WINOGRAD_P_DYN];
            if (items < tiles)
                tiles = items;
        }
        err = dc_bind_nd(&x, g.k, 1, &tiles, &local);
    }
    dc_bind_end(&x);
    return err;
}

const dc_family dc_family_winograd = {
    .name = "winograd",
    .sources = winograd_sources,
    .params = winograd_params,
    .n_params = WINOGRAD_P_COUNT,
    .kinds = WINOGRAD_KINDS,
    .kernels_param = WINOGRAD_P_KERNELS,
    .on_param = WINOGRAD_P_ON,
    .auto_kinds = winograd_auto_kinds,
    .supports = winograd_supports,
    .defaults = winograd_defaults,
    .check = winograd_check,
    .defines = winograd_defines,
    .pack = winograd_pack,
    .workspace = winograd_workspace,
    .create = winograd_create,
    .release = winograd_release,
    .bind = winograd_bind,
};
