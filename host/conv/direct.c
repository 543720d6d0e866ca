/* SPDX-License-Identifier: MIT */
/*
 * direct.c - the "direct" conv family (kernels/direct.cl): one work-item computes a register
 * tile of output channels x output pixels; CPU-shaped (POCL), and the family every conv can
 * fall back to. Five kernels, one per conv kind (abi.h DC_CONV_*), built only for the kinds a
 * replica runs on it (KERNELS); weights packed in blocks of DC_CONV_PACK output channels.
 *
 * Parameters (the -D macros of direct.cl): FLAT_CO x FLAT_PX, the 1x1 tile; TCO x TPX, the
 * others' (densecl_tiles is their legacy form); VEC, the widest float vector; PREFETCH, the 1x1
 * conv's input prefetch distance; FMA, fma() or mad(); ORDER, the tile walk; KERNELS, the set.
 */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conv/conv.h"

/* Work-items per group of every conv kernel (POCL compiles a kernel again for every local size
 * it is launched with, seconds for a conv): small, since work-items are whole register tiles,
 * so that a 7x7 layer still makes several groups per core (POCL hands groups to its threads,
 * which also evens out a thread that the OS preempts). */
#define DC_CONV_LOCAL 8
/* DYN on CPUs: work-items per compute unit (common.cl DC_TILES_FOR). 2, so that a core whose
 * work-item runs out of its own range still finds another to take tiles from. */
#define DC_CONV_DYN_CPU 2

/* ------------------------------------------------------------------ parameters */

void dc_direct_to_tiles(const dc_params *p, densecl_tiles *t)
{
    t->conv1x1_channels = p->v[DC_DIRECT_FLAT_CO];
    t->conv1x1_pixels = p->v[DC_DIRECT_FLAT_PX];
    t->conv_channels = p->v[DC_DIRECT_TCO];
    t->conv_pixels = p->v[DC_DIRECT_TPX];
}

void dc_direct_from_tiles(const densecl_tiles *t, dc_params *p)
{
    p->v[DC_DIRECT_FLAT_CO] = t->conv1x1_channels;
    p->v[DC_DIRECT_FLAT_PX] = t->conv1x1_pixels;
    p->v[DC_DIRECT_TCO] = t->conv_channels;
    p->v[DC_DIRECT_TPX] = t->conv_pixels;
}

void dc_direct_fit(dc_params *p, const dc_plan *plan)
{
    densecl_tiles t;
    dc_direct_to_tiles(p, &t);
    dc_tiles_fit_plan(&t, plan);
    dc_direct_from_tiles(&t, p);
}

static const dc_param_spec direct_params[DC_DIRECT_NPARAMS] = {
    {"FLAT_CO", 1, 16, "output channels per work-item of a 1x1 conv"},
    {"FLAT_PX", 2, 32, "pixels per work-item of a 1x1 conv: 2, 4, 8, 16, 24 or 32"},
    {"TCO", 2, 32, "output channels per work-item of the other convs: 2, 4, 8, 16 or 32"},
    {"TPX", 1, 8, "output pixels (along x) per work-item of the other convs"},
    {"VEC", 8, 16, "widest float vector the convs compute on: 8 or 16 (AVX-512)"},
    {"PREFETCH", 0, 64, "1x1 conv input prefetch distance in channels (0: none)"},
    {"FMA", 0, 1, "1: fma(), 0: mad() (devices without hardware fma)"},
    {"ORDER", 0, 2, "0: consecutive work-items take pixel tiles, 1: channel tiles, 2: by shape"},
    {"KERNELS", 1, DC_CONV_ALL, "conv kernels to build (abi.h DC_CONV_* bits)"},
    {"DYN", 0, 8, "work-items per compute unit, taking tiles from a counter (0: one per tile)"},
    {"STAGE", 0, 1, "1: 1x1 convs stage each pixel tile's input in local memory (CPUs)"},
    {"PAIRS", 0, 1,
     "1: 32-channel x 8-pixel tiles for the pixels past an image's whole 1x1 tiles (staged "
     "8-channel tiles on float16)"},
};

static int direct_supports(const dc_caps *caps, const dc_op *op, char *why, size_t cap)
{
    (void)caps;
    (void)op;
    if (why && cap)
        why[0] = '\0';
    return 1; /* any conv, on any device: the fallback */
}

/* STAGE's local buffer for a group of `group` channel tiles (direct.cl dc_conv1x1_staged): the
 * staged chunk of DC_CONV_STAGE_KC input channels and the group's sums, each of FLAT_PX pixels. */
static size_t direct_stage_bytes(const dc_params *p, size_t group)
{
    return (DC_CONV_STAGE_KC + group * (size_t)p->v[DC_DIRECT_FLAT_CO]) *
           (size_t)p->v[DC_DIRECT_FLAT_PX] * sizeof(float);
}

/* The pair tiles' buffer (direct.cl dc_pair_run): the staged chunk, 64 floats per input
 * channel, and the sums, 256 floats per 32-channel tile of the group. */
static size_t direct_pairs_bytes(size_t group)
{
    return ((size_t)DC_CONV_PAIR_KC * 64 + group * 256) * sizeof(float);
}

/* Whether a build of p has the pair tiles (direct.cl CONV_PAIRS): PAIRS asked for, staged
 * 8-channel 1x1 tiles (weights in 8-channel blocks) on float16 vectors. */
static int direct_has_pairs(const dc_params *p)
{
    return p->v[DC_DIRECT_PAIRS] && p->v[DC_DIRECT_STAGE] && p->v[DC_DIRECT_VEC] == 16 &&
           p->v[DC_DIRECT_FLAT_CO] == 8;
}

/* CONV_VEC: 16 where the device's native float vector is 16 wide (AVX-512 CPUs). POCL 3.1
 * emits 512-bit FMAs only for float16 operations: its float8 code runs on 256-bit registers,
 * half of such a CPU's FMA width. CONV_PREFETCH: 16 channels ahead on CPUs (measured on POCL
 * 3.1, Xeon: 8 to 24 did as well), none elsewhere (GPUs hide latency with other work-items,
 * and their compilers need not know clang's __builtin_prefetch). */
static void direct_defaults(const dc_caps *caps, const dc_plan *plan, dc_params *p)
{
    densecl_tiles t;
    memset(p, 0, sizeof *p);
    dc_tiles_default(caps ? caps->dev : NULL, &t);
    if (plan)
        dc_tiles_fit_plan(&t, plan);
    dc_direct_from_tiles(&t, p);
    p->v[DC_DIRECT_VEC] = caps && caps->native_vector_float >= 16 ? 16 : 8;
    p->v[DC_DIRECT_PREFETCH] = caps && (caps->type & CL_DEVICE_TYPE_CPU) ? 16 : 0;
    p->v[DC_DIRECT_FMA] = caps ? caps->has_fma != 0 : 1; /* mad() without hardware fma */
    /* ORDER 2 on CPUs: the 1x1 convs' tile order by the image's size (direct.cl DC_ORDER_HW). */
    p->v[DC_DIRECT_ORDER] = caps && (caps->type & CL_DEVICE_TYPE_CPU) ? 2 : 1;
    p->v[DC_DIRECT_KERNELS] = DC_CONV_ALL;
    p->v[DC_DIRECT_DYN] = caps && (caps->type & CL_DEVICE_TYPE_CPU) ? DC_CONV_DYN_CPU : 0;
    /* STAGE on CPUs (direct.cl dc_conv1x1_staged), whose local memory is their caches, where
     * it holds a group of one tile. */
    p->v[DC_DIRECT_STAGE] =
        caps && (caps->type & CL_DEVICE_TYPE_CPU) && caps->local_mem >= direct_stage_bytes(p, 1);
    /* PAIRS 1 where the tiles above can have them (direct_use_pairs: where they go). */
    p->v[DC_DIRECT_PAIRS] = 1;
    if (!caps || !direct_has_pairs(p) || caps->local_mem < direct_pairs_bytes(1))
        p->v[DC_DIRECT_PAIRS] = 0;
    if (plan) {
        /* Only the conv kernels the model uses: POCL builds a smaller program faster. */
        unsigned set = 0;
        for (int i = 0; i < plan->n_ops; i++)
            if (plan->ops[i].kind == DC_OP_CONV)
                set |= 1u << dc_op_conv_kind(&plan->ops[i]);
        if (set)
            p->v[DC_DIRECT_KERNELS] = (int)set;
    }
}

static densecl_status direct_check(const dc_caps *caps, const dc_params *p, const char *what)
{
    densecl_tiles t;
    densecl_status st;
    dc_direct_to_tiles(p, &t);
    if ((st = dc_tiles_check(&t, what)) != DENSECL_OK)
        return st;
    for (int i = DC_DIRECT_VEC; i < DC_DIRECT_NPARAMS; i++)
        if (p->v[i] < direct_params[i].lo || p->v[i] > direct_params[i].hi)
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: direct %s=%d (%d to %d)", what,
                            direct_params[i].name, p->v[i], direct_params[i].lo,
                            direct_params[i].hi);
    if (p->v[DC_DIRECT_VEC] != 8 && p->v[DC_DIRECT_VEC] != 16)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: direct VEC=%d (8 or 16)", what,
                        p->v[DC_DIRECT_VEC]);
    if (p->v[DC_DIRECT_STAGE] && !p->v[DC_DIRECT_DYN])
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: direct STAGE=1 needs DYN (1 to 8): its local buffer is one "
                        "work-item's, and DYN=0 launches groups of %d (give STAGE=0 with DYN=0)",
                        what, DC_CONV_LOCAL);
    if (p->v[DC_DIRECT_STAGE] && caps && caps->local_mem < direct_stage_bytes(p, 1))
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: direct STAGE=1 needs %zu bytes of local memory with a %dx%d 1x1 "
                        "tile; the device has %llu",
                        what, direct_stage_bytes(p, 1), p->v[DC_DIRECT_FLAT_CO],
                        p->v[DC_DIRECT_FLAT_PX], (unsigned long long)caps->local_mem);
    if (direct_has_pairs(p) && caps && caps->local_mem < direct_pairs_bytes(1))
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: direct PAIRS=%d needs %zu bytes of local memory; the device has %llu "
                        "(give PAIRS=0)",
                        what, p->v[DC_DIRECT_PAIRS], direct_pairs_bytes(1),
                        (unsigned long long)caps->local_mem);
    return DENSECL_OK;
}

/* The options in the order engines have always passed them (same options, same POCL binary):
 * the tiles, the kernel set when not all, the vector width and prefetch; FMA and ORDER only
 * when not direct.cl's defaults. */
static void direct_defines(const dc_params *p, const dc_plan *plan, char *buf, size_t cap)
{
    size_t len = strlen(buf);
    unsigned set = (unsigned)p->v[DC_DIRECT_KERNELS] & DC_CONV_ALL;
    (void)plan;
#define DC_PUT(...)                                                                                \
    do {                                                                                           \
        if (len < cap)                                                                             \
            len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__);                            \
    } while (0)
    DC_PUT("%s-DCONV_FLAT_CO=%d -DCONV_FLAT_PX=%d -DCONV_TCO=%d -DCONV_TPX=%d", len ? " " : "",
           p->v[DC_DIRECT_FLAT_CO], p->v[DC_DIRECT_FLAT_PX], p->v[DC_DIRECT_TCO],
           p->v[DC_DIRECT_TPX]);
    if (set != DC_CONV_ALL)
        DC_PUT(" -DCONV_KERNELS=%u", set);
    DC_PUT(" -DCONV_VEC=%d -DCONV_PREFETCH=%d", p->v[DC_DIRECT_VEC], p->v[DC_DIRECT_PREFETCH]);
    if (p->v[DC_DIRECT_FMA] != 1)
        DC_PUT(" -DCONV_FMA=%d", p->v[DC_DIRECT_FMA]);
    if (p->v[DC_DIRECT_ORDER] != 1)
        DC_PUT(" -DCONV_ORDER=%d", p->v[DC_DIRECT_ORDER]);
    if (p->v[DC_DIRECT_DYN])
        DC_PUT(" -DCONV_DYN=1");
    if (p->v[DC_DIRECT_STAGE])
        DC_PUT(" -DCONV_STAGE=1");
    if (direct_has_pairs(p))
        DC_PUT(" -DCONV_PAIRS=1");
#undef DC_PUT
}

/* dc_conv_weight_pack in blocks of `block` output channels (1 to DC_CONV_PACK). */
static size_t dc_conv_weight_pack_by(const float *w, int cout, int cin, int k, int block,
                                     float *out)
{
    size_t blocks, taps, len;
    if (cout <= 0 || cin <= 0 || k <= 0 || block < 1 || block > DC_CONV_PACK)
        return 0;
    blocks = ((size_t)cout + (size_t)block - 1) / (size_t)block;
    if (!dc_mul_size((size_t)cin, (size_t)k * (size_t)k, &taps) ||
        !dc_mul_size(blocks, taps, &len) || !dc_mul_size(len, (size_t)block, &len))
        return 0;
    if (!out)
        return len;
    /* [cout, cin*k*k] -> [blocks, cin*k*k, block]: a work-item's channel tile reads its weights
     * for one tap as one contiguous vector; channels past cout are zero. */
    for (size_t b = 0; b < blocks; b++) {
        for (size_t r = 0; r < taps; r++) {
            float *dst = out + (b * taps + r) * (size_t)block;
            for (size_t j = 0; j < (size_t)block; j++) {
                size_t co = b * (size_t)block + j;
                dst[j] = co < (size_t)cout ? w[co * taps + r] : 0.0f;
            }
        }
    }
    return len;
}

size_t dc_conv_weight_pack(const float *w, int cout, int cin, int k, float *out)
{
    return dc_conv_weight_pack_by(w, cout, cin, k, DC_CONV_PACK, out);
}

int dc_direct_flat_pack(const dc_params *p)
{
    const int co = p->v[DC_DIRECT_FLAT_CO];
    return p->v[DC_DIRECT_STAGE] && co > 0 && DC_CONV_PACK % co == 0 ? co : DC_CONV_PACK;
}

size_t dc_direct_weight_pack(const dc_params *p, int kind, const float *w, int cout, int cin, int k,
                             float *out)
{
    const int block = kind == DC_KIND_1X1 ? dc_direct_flat_pack(p) : DC_CONV_PACK;
    return dc_conv_weight_pack_by(w, cout, cin, k, block, out);
}

static size_t direct_pack(const dc_op *op, const dc_params *p, const float *w, float *out)
{
    return dc_direct_weight_pack(p, dc_op_conv_kind(op), w, op->out_c, op->in_c, op->k, out);
}

static size_t direct_workspace(const dc_op *op, int n, const dc_params *p)
{
    (void)op;
    (void)n;
    (void)p;
    return 0;
}

/* ------------------------------------------------------------------ kernels and launches */

typedef struct direct_state {
    cl_program prog; /* each bound op's kernels are made from it */
    cl_device_id dev;
    cl_kernel conv[DC_KIND_COUNT]; /* by DC_KIND_*: proof that each of KERNELS is in prog */
    cl_mem ctr;                    /* the kernels' tile counters (DYN) */
    cl_uint units;                 /* the device's compute units */
    cl_ulong local_mem;            /* the device's local memory, bytes (STAGE's buffer) */
    dc_params p;                   /* what the program was built with: grids are sized by it */
} direct_state;

static const char *const direct_kernel_names[DC_KIND_COUNT] = {
    "densecl_conv1x1", "densecl_conv3x3", "densecl_conv3x3_pre", "densecl_conv7x7s2",
    "densecl_conv2d"};

static void direct_release(void *state)
{
    direct_state *s = state;
    if (!s)
        return;
    for (int i = 0; i < DC_KIND_COUNT; i++)
        if (s->conv[i])
            clReleaseKernel(s->conv[i]);
    if (s->prog)
        clReleaseProgram(s->prog);
    if (s->ctr)
        clReleaseMemObject(s->ctr);
    free(s);
}

/* The 1x1 kernel's arguments: DC_CONV_1X1_ARGS, five more where it was built staged (direct.cl
 * CONV_STAGE). A program built otherwise than p says (its own -D text) would be launched with
 * the wrong arguments. */
#define DC_CONV_1X1_ARGS 20
static densecl_status direct_check_stage(cl_kernel k, const dc_params *p)
{
    cl_uint args = 0;
    const cl_uint want = DC_CONV_1X1_ARGS + (p->v[DC_DIRECT_STAGE] ? 5u : 0u);
    cl_int err = clGetKernelInfo(k, CL_KERNEL_NUM_ARGS, sizeof args, &args, NULL);
    if (err != CL_SUCCESS)
        return dc_error(DENSECL_ERR_OPENCL, "densecl_conv1x1: clGetKernelInfo: %s",
                        dc_cl_error_name(err));
    if (args != want)
        return dc_error(DENSECL_ERR_MISMATCH,
                        "densecl_conv1x1 takes %u arguments, not the %u of direct STAGE=%d: the "
                        "program was built %s -DCONV_STAGE=1",
                        args, want, p->v[DC_DIRECT_STAGE],
                        p->v[DC_DIRECT_STAGE] ? "without" : "with");
    return DENSECL_OK;
}

/* Every kernel of KERNELS; one that is missing from prog is an error naming it. */
static densecl_status direct_create(cl_program prog, const dc_caps *caps, const dc_params *p,
                                    void **state)
{
    direct_state *s = calloc(1, sizeof *s);
    densecl_status st;
    *state = NULL;
    if (!s)
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
    s->p = *p;
    s->dev = caps->dev;
    if (clRetainProgram(prog) == CL_SUCCESS)
        s->prog = prog;
    s->units = caps && caps->compute_units ? caps->compute_units : 1;
    s->local_mem = caps ? caps->local_mem : 0;
    st = dc_counters_create(prog, 1 + (size_t)s->units * (size_t)p->v[DC_DIRECT_DYN], &s->ctr);
    if (st != DENSECL_OK) {
        direct_release(s);
        return st;
    }
    for (int i = 0; i < DC_KIND_COUNT; i++) {
        if (!((unsigned)p->v[DC_DIRECT_KERNELS] & (1u << i)))
            continue;
        st = dc_kernel_create(prog, direct_kernel_names[i], &s->conv[i]);
        if (st == DENSECL_OK && i == DC_KIND_1X1)
            st = direct_check_stage(s->conv[i], p);
        if (st != DENSECL_OK) {
            direct_release(s);
            return st;
        }
    }
    *state = s;
    return DENSECL_OK;
}

/* STAGE's channel group for a 1x1 conv (direct.cl dc_conv1x1_staged): the most channel tiles
 * per work-item (the fewest stagings of each pixel tile) that still leave DC_STAGE_TILES_PER_CU
 * tiles per compute unit to share, at least 1. *bytes: the local buffer, the staged chunk and
 * the group's sums (direct_check has made sure a group of 1 fits the device). Images smaller
 * than a tile take the kernel's folded path, which uses neither.
 * One tile per compute unit: on an AMD EPYC (POCL 3.1, 2 cores, batch 1, per-block minima of 6
 * alternating rounds) DenseNet-121's 7x7 1x1 convs ran 1.44 -> 1.22 ms against 4 tiles per
 * unit, the last transition's 0.375 -> 0.335, the 14x14 ones 4.30 -> 4.20; DenseNet-201's 7x7
 * ones 5.10 -> 4.24 ms (2: 4.41; 3: 5.21; 8 and 16: 7.05 and 13.1). At 7x7 the two tiles of an
 * image (a whole one and the pair tiles, direct_use_pairs) each take all 128 channels: every
 * input value is staged once, not once per 32 channels. Larger images and batches have a tile
 * per unit at any group, and keep the whole group. */
#define DC_STAGE_TILES_PER_CU 1
static int direct_stage_group(const direct_state *k, const dc_conv_args *a, int pairs,
                              size_t *bytes)
{
    const size_t px = (size_t)k->p.v[DC_DIRECT_FLAT_PX], co = (size_t)k->p.v[DC_DIRECT_FLAT_CO];
    const size_t hw = (size_t)a->in_h * a->in_w, ctiles = ((size_t)a->cout + co - 1) / co;
    const size_t want = (size_t)k->units * DC_STAGE_TILES_PER_CU;
    const size_t ptiles = (size_t)a->n * ((hw + px - 1) / px);
    size_t group = ctiles, need;
    for (;;) {
        /* The whole tiles' buffer, or with pairs the pair tiles' for the group's channels. */
        need = direct_stage_bytes(&k->p, group);
        if (pairs && direct_pairs_bytes((group * co + 31) / 32) > need)
            need = direct_pairs_bytes((group * co + 31) / 32);
        if (group <= 1 || (ptiles * ((ctiles + group - 1) / group) >= want && need <= k->local_mem))
            break;
        group = (group + 1) / 2;
    }
    *bytes = hw < px ? sizeof(float) : need;
    return (int)group;
}

/* Whether a 1x1 conv of the state's staged build takes pair tiles for the pixels past its
 * image's whole 1x1 tiles (direct.cl dc_pair_tail, the kernel's `pairs`): with PAIRS 1 where the
 * build has them, the image is at least a tile (smaller ones take the kernel's folded path), and
 * the half tile or the whole tile moved back that takes those pixels otherwise would compute 8
 * or more pixels past the image (a pair tile's 8 pixels would then be saved).
 * Measured on an AMD EPYC (POCL 3.1, AVX-512, DenseNet-121 at 224x224 batch 1, each op's time
 * summed per block, minima of 10 rounds, against the same build with PAIRS=0): block 3's 1x1
 * convs (14x14: the last 4 pixels in a 16-pixel half tile before) 3% faster, the second
 * transition's (14x14) 7%, the last transition's (7x7: 17 pixels in a whole tile moved back, 64
 * for 49) 3-12% in three runs, block 4's (7x7) -3 to +4%, within its run-to-run noise; at
 * 28x28 (16 pixels past the whole tiles: a half tile fits them) pair tiles made block 2's 1.3%
 * slower in three runs out of three, so they are not taken there. Pair tiles for every pixel
 * ran 8-12% slower than 8x32 on the larger images (on this CPU the 256-bit broadcast of a
 * weight row into a float16 costs a shuffle besides its load): they take the tails only. */
static int direct_use_pairs(const direct_state *k, const dc_conv_args *a)
{
    const size_t hw = (size_t)a->in_h * a->in_w, px = (size_t)k->p.v[DC_DIRECT_FLAT_PX];
    /* What takes those pixels otherwise: on float16, a 32-pixel tile's half tile (direct.cl
     * DC_HALF) where they fit in 16, else a whole tile moved back. */
    const size_t rem = hw % px, cover = px == 32 && rem <= 16 ? 16 : px;
    return direct_has_pairs(&k->p) && hw >= px && hw >= 8 && rem != 0 && cover - rem >= 8 &&
           k->local_mem >= direct_pairs_bytes(1);
}

static cl_int direct_bind(void *state, const dc_params *p, const dc_conv_args *a, dc_mem ws,
                          dc_bound **bound)
{
    /* 1x1/1/0, 3x3/1 without and with prologue, 7x7/2 without, and the rest each have their
     * kernel (kernels/direct.cl). */
    const direct_state *k = state;
    const int kind = a ? dc_conv_kind_of(a->k, a->stride, a->pad, a->pre.buf != NULL) : 0;
    const unsigned bit = 1u << kind;
    const int flat = bit == DC_CONV_1X1;
    const int pairs = flat && k && a && k->p.v[DC_DIRECT_STAGE] && direct_use_pairs(k, a);
    dc_argset s = {NULL, 0, CL_SUCCESS};
    dc_binder x;
    (void)p; /* the tiles the kernels were built with are the state's */
    (void)ws;
    size_t ptiles, ctiles, tiles;
    int flags;
    cl_int err;
    if (!k || !a || !k->conv[kind])
        return CL_INVALID_KERNEL;
    flags = (a->bias.buf ? DC_FLAG_BIAS : 0) | (a->pre.buf ? DC_FLAG_PRE : 0) |
            (a->relu ? DC_FLAG_RELU : 0);
    if (a->n < 1 || a->cin < 1 || a->cin > a->in_ctot || a->in_h < 1 || a->in_w < 1 ||
        a->cout < 1 || a->out_coff < 0 || a->out_coff > a->out_ctot - a->cout || a->k < 1 ||
        a->stride < 1 || a->pad < 0 || a->pad > 1024 || a->in_h > INT_MAX / 4 ||
        a->in_w > INT_MAX / 4 || a->out_h != dc_window_side(a->in_h, a->k, a->stride, a->pad) ||
        a->out_w != dc_window_side(a->in_w, a->k, a->stride, a->pad))
        return CL_INVALID_VALUE;
    {
        /* The kernel's int math: in-image offsets, weight offsets, and its tile count for the
         * smallest tile (1 channel x 1 pixel) a build may choose, with room for the stride. */
        int in_img[3] = {a->in_ctot, a->in_h, a->in_w};
        int out_img[3] = {a->out_ctot, a->out_h, a->out_w};
        int wts[4] = {a->cin + 1, a->k, a->k, DC_CONV_PACK};
        int tiles_max[5] = {a->n, a->out_h, a->out_w, a->cout, 2};
        if (!dc_fits_int(3, in_img) || !dc_fits_int(3, out_img) || !dc_fits_int(4, wts) ||
            !dc_fits_int(5, tiles_max))
            return CL_INVALID_GLOBAL_WORK_SIZE;
    }
    if ((err = dc_bind_begin(&x, bound, k->prog, k->dev)) != CL_SUCCESS ||
        (err = dc_bind_kernel(&x, direct_kernel_names[kind], &s.k)) != CL_SUCCESS)
        return err;
    dc_arg_mem(&s, a->in, NULL);
    dc_arg_mem(&s, a->weight, NULL);
    dc_arg_mem(&s, a->bias, a->weight.buf);
    dc_arg_mem(&s, a->pre, a->weight.buf);
    dc_arg_mem(&s, a->out, NULL);
    dc_arg_int(&s, a->n);
    dc_arg_int(&s, a->cin);
    dc_arg_int(&s, a->in_ctot);
    if (flat) {
        dc_arg_int(&s, a->in_h * a->in_w);
    } else {
        dc_arg_int(&s, a->in_h);
        dc_arg_int(&s, a->in_w);
    }
    dc_arg_int(&s, a->cout);
    dc_arg_int(&s, a->out_ctot);
    dc_arg_int(&s, a->out_coff);
    if (!flat) {
        dc_arg_int(&s, a->out_h);
        dc_arg_int(&s, a->out_w);
        dc_arg_int(&s, a->k);
        dc_arg_int(&s, a->stride);
        dc_arg_int(&s, a->pad);
    }
    dc_arg_int(&s, flags);
    dc_arg_mem(&s, (dc_mem){k->ctr, 0}, NULL);
    if (flat && k->p.v[DC_DIRECT_STAGE]) {
        /* direct.cl dc_conv1x1_staged: its channel group and local buffer. */
        size_t stage = 0;
        int group = direct_stage_group(k, a, pairs, &stage);
        dc_arg_int(&s, dc_direct_flat_pack(&k->p));
        dc_arg_int(&s, group);
        dc_arg(&s, stage, NULL);
        dc_arg_int(&s, (int)(stage / sizeof(float)));
        dc_arg_int(&s, pairs);
    }
    if (s.err != CL_SUCCESS)
        return s.err;
    /* One work-item per tile of the build (direct.cl: densecl_conv1x1 tiles each flattened
     * image, or the batch's pixels when an image is smaller than a tile; the other conv kernels
     * tile each output row, the stem kernel with at most DC_CONV_TCO7 x DC_CONV_TPX7). */
    if (flat) {
        size_t hw = (size_t)a->out_h * a->out_w, px = (size_t)k->p.v[DC_DIRECT_FLAT_PX];
        size_t cols = hw < px ? (size_t)a->n * hw : hw;
        ptiles = (cols + px - 1) / px;
        ctiles = ((size_t)a->cout + (size_t)k->p.v[DC_DIRECT_FLAT_CO] - 1) /
                 (size_t)k->p.v[DC_DIRECT_FLAT_CO];
        tiles = (hw < px ? 1 : (size_t)a->n) * ptiles * ctiles;
    } else if (bit == DC_CONV_7X7S2 && k->p.v[DC_DIRECT_VEC] == 16 &&
               a->in_w >= DC_CONV_STEM_MIN_W && a->out_w >= 16) {
        /* direct.cl's vector stem: 16 output pixels of a row x DC_CONV_PACK channels. */
        ptiles = (size_t)a->out_h * (((size_t)a->out_w + 15) / 16);
        ctiles = ((size_t)a->cout + DC_CONV_PACK - 1) / DC_CONV_PACK;
        tiles = (size_t)a->n * ptiles * ctiles;
    } else {
        size_t px = (size_t)k->p.v[DC_DIRECT_TPX], co = (size_t)k->p.v[DC_DIRECT_TCO];
        if (bit == DC_CONV_7X7S2 && px > DC_CONV_TPX7)
            px = DC_CONV_TPX7;
        if (bit == DC_CONV_7X7S2 && co > DC_CONV_TCO7)
            co = DC_CONV_TCO7;
        if (bit == DC_CONV_7X7S2 && k->p.v[DC_DIRECT_VEC] == 16) {
            /* Images too narrow for the vector stem: 1 pixel x one channel vector (direct.cl's
             * DC_CW: the tile's channels, at most 16). */
            px = 1;
            co = (size_t)k->p.v[DC_DIRECT_TCO] < 16 ? (size_t)k->p.v[DC_DIRECT_TCO] : 16;
        }
        ptiles = (size_t)a->out_h * (((size_t)a->out_w + px - 1) / px);
        ctiles = ((size_t)a->cout + co - 1) / co;
        tiles = (size_t)a->n * ptiles * ctiles;
    }
    if (k->p.v[DC_DIRECT_DYN]) {
        /* DYN work-items per compute unit, each taking DC_CONV_DYN_CHUNK tiles at a time
         * (common.cl DC_TILES_FOR), no more than there are chunks; one work-item per group, so
         * that POCL hands each to a thread on its own. */
        const size_t chunks = (tiles + DC_CONV_DYN_CHUNK - 1) / DC_CONV_DYN_CHUNK, local = 1;
        size_t items = (size_t)k->units * (size_t)k->p.v[DC_DIRECT_DYN];
        if (items > chunks)
            items = chunks;
        err = dc_bind_nd(&x, s.k, 1, &items, &local);
    } else {
        const size_t local = DC_CONV_LOCAL;
        err = dc_bind_nd(&x, s.k, 1, &tiles, &local);
    }
    dc_bind_end(&x);
    return err;
}

static const char *const direct_sources[] = {"direct.cl", NULL};

const dc_family dc_family_direct = {
    .name = "direct",
    .sources = direct_sources,
    .params = direct_params,
    .n_params = DC_DIRECT_NPARAMS,
    .kinds = DC_KINDS_ALL,
    .kernels_param = DC_DIRECT_KERNELS,
    .on_param = -1,
    .auto_kinds = NULL, /* the fallback: what no other family claims */
    .supports = direct_supports,
    .defaults = direct_defaults,
    .check = direct_check,
    .defines = direct_defines,
    .pack = direct_pack,
    .workspace = direct_workspace,
    .create = direct_create,
    .release = direct_release,
    .bind = direct_bind,
};
