/* SPDX-License-Identifier: MIT */
/* test_families.c - every conv family of the registry (host/conv/registry.c) against the naive
 * reference ref_conv2d, through conv_run.h's one case runner: each family that supports() a
 * case runs it, with its own packing and workspace, so a family added to the registry is tested
 * here without a line of this file changing. The shapes: odd sizes, sizes that are not multiples
 * of the conv tile or the work-group size, 1x1/2x2/3x3/5x5/7x7, stride 1/2, pad 0..3, with and
 * without prologue, bias and ReLU, channel-prefix reads and channel-offset writes, in place,
 * batch 1..3. The direct family's cases run again on builds with other tunables, where the
 * host's grid no longer matches the kernel's tile, and the winograd family's on five builds of
 * its other tunables; winograd also prints its error per shape against the double reference
 * and is held to 1e-4 x max |ref| (issue 12), and its resolution rules (auto, winograd:ON=0,
 * --conv) and its channel tile per model are checked on plans.
 *
 * Tolerance: |got - ref| <= 1e-5 + 1e-4 * |ref| for every written value (fp32 reordering against
 * a double reference); NaN or Inf in a written value is a failure. Guard bands: every output
 * buffer has DC_TEST_GUARD floats before and after the tensor, and the whole buffer (guards, and
 * the channels outside [out_coff, out_coff + c)) starts as a sentinel NaN that must survive
 * bit-exact. Inputs, weights and parameters sit between guards of another NaN, and the channels
 * past the read prefix hold it too, so a stray read poisons the result; a workspace starts as
 * that poison. A missing device or a kernel that does not build is a failure, never a skip. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "conv_check.h"
#include "conv_run.h"
#include "runtime/runtime.h"

typedef struct test_env {
    const char *label; /* build options, for messages */
    cl_context ctx;
    cl_command_queue q;
    dc_caps caps;
    void *state[DC_FAMILY_SLOTS]; /* each family's kernels; NULL: not tested in this build */
    dc_params params[DC_FAMILY_SLOTS];
    int ran[DC_FAMILY_SLOTS]; /* conv cases each family ran */
} test_env;

/* ------------------------------------------------------------------------ conv cases */

static const conv_case conv_cases[] = {
    /* n cin ctot h  w  cout otot coff k s p pre bias relu inplace */
    {2, 37, 45, 13, 11, 21, 30, 5, 1, 1, 0, 1, 1, 1, 0, "1x1 flat: prefix, offset write, tails"},
    {2, 128, 200, 14, 14, 128, 128, 0, 1, 1, 0, 1, 1, 1, 0, "DenseNet bottleneck 1x1"},
    {2, 128, 128, 14, 14, 32, 200, 128, 3, 1, 1, 0, 0, 0, 0, "DenseNet growth 3x3 at an offset"},
    {1, 96, 96, 14, 14, 48, 48, 0, 1, 1, 0, 0, 1, 0, 0, "transition 1x1, no prologue, tail"},
    {3, 19, 19, 9, 17, 32, 32, 0, 3, 1, 1, 1, 0, 0, 0, "3x3 interior and edge tiles, batch 3"},
    {2, 24, 40, 8, 8, 12, 40, 24, 3, 1, 1, 0, 0, 0, 0, "growth 12 into the end of a block"},
    {1, 48, 48, 20, 21, 17, 20, 1, 3, 1, 1, 1, 1, 1, 0, "3x3 with prologue: pads 0, not P(0)"},
    {1, 9, 9, 3, 12, 4, 4, 0, 3, 1, 0, 1, 0, 0, 0, "3x3 without padding"},
    {1, 3, 3, 29, 31, 64, 64, 0, 7, 2, 3, 0, 1, 1, 0, "ImageNet stem 7x7/2"},
    {2, 3, 5, 19, 101, 20, 24, 2, 7, 2, 3, 0, 1, 1, 0, "7x7/2 vector stem: edge, inner, moved"},
    {2, 5, 8, 23, 20, 17, 20, 3, 7, 2, 3, 1, 1, 0, 0, "7x7/2 with prologue (generic path)"},
    {1, 3, 3, 32, 32, 16, 24, 8, 3, 1, 1, 0, 0, 0, 0, "CIFAR stem 3x3"},
    {2, 6, 9, 11, 13, 7, 9, 2, 3, 2, 1, 1, 1, 1, 0, "3x3/2 (generic path)"},
    {1, 10, 10, 9, 9, 5, 5, 0, 1, 2, 0, 1, 1, 0, 0, "1x1/2 (generic path)"},
    {1, 4, 4, 6, 7, 3, 3, 0, 1, 1, 1, 1, 0, 1, 0, "1x1 pad 1: the border is 0, not P(0)"},
    {2, 3, 5, 10, 9, 9, 9, 0, 5, 1, 2, 1, 1, 1, 0, "5x5 (generic path)"},
    {1, 7, 7, 7, 7, 33, 40, 7, 7, 1, 3, 1, 1, 1, 0, "7x7/1 (generic path)"},
    {3, 8, 8, 1, 1, 20, 20, 0, 3, 1, 1, 1, 1, 0, 0, "1x1 image, 3x3 pad 1"},
    {1, 2, 2, 1, 1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 0, "smallest"},
    {1, 9, 9, 7, 1, 4, 4, 0, 3, 1, 1, 1, 0, 0, 0, "one-pixel-wide image"},
    {1, 16, 16, 7, 7, 1, 3, 2, 3, 1, 1, 0, 1, 0, 0, "one output channel, last of the buffer"},
    {2, 1, 1, 5, 5, 2, 2, 0, 7, 2, 3, 1, 1, 1, 0, "window larger than the image"},
    {2, 12, 36, 9, 10, 12, 36, 12, 3, 1, 1, 1, 0, 0, 1, "no-bottleneck layer, in place"},
    {1, 20, 28, 6, 5, 8, 28, 20, 1, 1, 0, 1, 1, 1, 1, "1x1 in place"},
    {3, 11, 14, 3, 3, 10, 13, 2, 1, 1, 0, 1, 1, 1, 0, "1x1 image below a tile: over the batch"},
    {2, 33, 33, 2, 5, 7, 7, 0, 1, 1, 0, 0, 0, 0, 0, "1x1 over the batch, no prologue"},
    {2, 40, 48, 7, 7, 30, 64, 33, 1, 1, 0, 1, 1, 1, 0, "1x1 7x7: last tile moved back"},
    {1, 300, 320, 28, 28, 128, 160, 32, 1, 1, 0, 1, 1, 1, 0,
     "1x1 staged: three chunks of input channels (the last short), a half last tile"},
    {1, 150, 150, 14, 14, 36, 36, 0, 1, 1, 0, 1, 0, 1, 0,
     "1x1 staged: channel groups, the last one and its last tile short"},
    {1, 150, 150, 4, 8, 36, 36, 0, 1, 1, 0, 1, 0, 1, 0,
     "1x1 staged: one pixel tile, so channel groups (the last short) on few cores"},
    {3, 9, 9, 4, 4, 6, 6, 0, 1, 1, 0, 1, 0, 1, 0, "1x1 image of exactly one tile"},
    {1, 17, 17, 1, 17, 5, 9, 4, 1, 1, 0, 1, 1, 0, 0, "1x1 one tile plus one pixel"},
    {2, 21, 30, 3, 7, 19, 40, 11, 1, 1, 0, 1, 1, 1, 0, "1x1 tail of 5 pixels (4 + 1), 2 blocks"},
    {1, 20, 36, 4, 6, 16, 36, 20, 1, 1, 0, 0, 1, 0, 1, "1x1 tail of 8 pixels, in place"},
    {2, 128, 160, 28, 28, 128, 128, 0, 1, 1, 0, 1, 1, 1, 0, "DenseNet-121 block 2 bottleneck"},
    {2, 64, 64, 56, 56, 32, 96, 64, 3, 1, 1, 0, 0, 0, 0, "DenseNet-121 block 1 growth 3x3"},
    {2, 24, 30, 10, 19, 40, 50, 5, 3, 1, 1, 0, 1, 1, 0, "3x3 past 32 channels (k=40 tiles)"},
    {1, 13, 13, 9, 11, 52, 60, 8, 3, 1, 1, 1, 1, 0, 0, "3x3 with prologue, 52 channels"},
    {2, 3, 3, 37, 35, 20, 24, 2, 7, 2, 3, 0, 1, 1, 0, "7x7/2 stem kernel, 20 channels, n=2"},
    {1, 2, 2, 4, 3, 5, 5, 0, 7, 2, 3, 0, 0, 0, 0, "7x7/2 stem kernel, image below a tile"},
    /* 3x3/1/1 shapes for the winograd family's 2x2 tiles and tile groups (every family runs
     * them): odd sizes whose last tiles straddle the border, images narrower than a float4 row,
     * couts not a multiple of 16, input channels not a multiple of its staged chunk, the widest
     * DenseNet-121 block buffer written at its end, batch 3. */
    {1, 128, 1024, 7, 7, 32, 1024, 992, 3, 1, 1, 0, 0, 0, 0, "DenseNet-121 block 4 last growth"},
    {1, 128, 128, 14, 14, 32, 1024, 480, 3, 1, 1, 0, 0, 0, 0, "DenseNet-121 block 3 growth 3x3"},
    {1, 192, 192, 7, 7, 48, 2208, 2160, 3, 1, 1, 0, 0, 0, 0, "DenseNet-161 block 4 last growth"},
    {3, 19, 24, 13, 9, 19, 40, 21, 3, 1, 1, 1, 1, 1, 0, "odd H and W, 19 channels, batch 3"},
    {2, 33, 40, 5, 3, 45, 48, 3, 3, 1, 1, 1, 0, 1, 0, "3 wide: gathered rows, 45 channels"},
    {1, 5, 5, 2, 2, 17, 17, 0, 3, 1, 1, 1, 1, 1, 0, "2x2 image: one tile, all padding"},
    {3, 7, 7, 1, 9, 3, 5, 2, 3, 1, 1, 1, 1, 0, 0, "one row, prologue, batch 3"},
    {2, 48, 60, 32, 32, 12, 60, 48, 3, 1, 1, 0, 0, 0, 0, "DenseNet-BC-100 growth 12 at the end"},
    {1, 1, 1, 6, 5, 33, 33, 0, 3, 1, 1, 1, 1, 0, 0, "one input channel, 33 outputs"},
    {3, 40, 52, 11, 4, 30, 36, 6, 3, 1, 1, 1, 1, 1, 0, "4 wide, odd height, 30 channels"},
    {1, 6, 6, 5, 31, 9, 9, 0, 3, 1, 1, 1, 1, 1, 0, "31 wide: a row's last 8 tiles past it"},
    {2, 5, 5, 3, 16, 7, 7, 0, 3, 1, 1, 1, 0, 1, 0, "16 wide: 8 tiles between both borders"},
    {2, 20, 24, 9, 13, 21, 40, 3, 3, 1, 1, 1, 1, 1, 0, "13 wide: tile rows of 7, odd H, batch 2"},
    {3, 17, 17, 6, 14, 40, 40, 0, 3, 1, 1, 1, 0, 1, 0, "14 wide: tile rows of 7, batch 3"},
    {3, 18, 20, 5, 7, 24, 30, 6, 3, 1, 1, 1, 1, 1, 0, "7 wide, odd tile rows, batch 3"},
    {2, 9, 9, 8, 8, 33, 33, 0, 3, 1, 1, 0, 1, 0, 0, "8 wide: 4 tiles a row, batch 2"},
    {2, 10, 12, 3, 28, 20, 24, 4, 3, 1, 1, 1, 1, 1, 0,
     "28 wide: 14 tiles a row, groups across rows"},
    {1, 6, 6, 4, 17, 9, 9, 0, 3, 1, 1, 0, 0, 0, 0, "17 wide: 9 tiles a row, groups across rows"},
};

/* Case c on every family of the registry that e built and that supports it. */
static void run_conv(test_env *e, const conv_case *c)
{
    for (int f = 0; f < dc_family_count; f++) {
        if (!e->state[f])
            continue;
        conv_run r = {.fam = dc_families[f],
                      .p = &e->params[f],
                      .state = e->state[f],
                      .caps = &e->caps,
                      .ctx = e->ctx,
                      .q = e->q,
                      .label = e->label};
        e->ran[f] += conv_run_case(&r, c);
    }
}

/* ------------------------------------------------------------------------ host-only checks */

/* The packed layout [ceil(cout / 16), cin * k * k, 16], zero past cout. */
static void test_weight_pack(void)
{
    enum { COUT = 19, CIN = 3, K = 3, TAPS = CIN * K * K };
    float w[COUT * TAPS], packed[2 * TAPS * 16];
    int bad = 0;
    for (int i = 0; i < COUT * TAPS; i++)
        w[i] = (float)(i + 1);
    CHECK(dc_conv_weight_pack(w, COUT, CIN, K, NULL) == 2 * TAPS * 16);
    CHECK(dc_conv_weight_pack(w, 0, CIN, K, NULL) == 0);
    CHECK(dc_conv_weight_pack(w, COUT, CIN, 0, NULL) == 0);
    CHECK(dc_conv_weight_pack(w, COUT, CIN, K, packed) == 2 * TAPS * 16);
    for (int b = 0; b < 2; b++)
        for (int r = 0; r < TAPS; r++)
            for (int j = 0; j < 16; j++) {
                int co = b * 16 + j;
                float want = co < COUT ? w[co * TAPS + r] : 0.0f;
                bad += packed[(b * TAPS + r) * 16 + j] != want;
            }
    CHECKF(bad == 0, "%d packed weights misplaced", bad);
}

/* Conv kinds: the abi.h bit and the DC_KIND_* index agree, for each kernel of the direct family. */
static void test_conv_kinds(void)
{
    CHECK(dc_conv_kind(1, 1, 0, 1) == DC_CONV_1X1 && dc_conv_kind_of(1, 1, 0, 1) == DC_KIND_1X1);
    CHECK(dc_conv_kind(3, 1, 1, 0) == DC_CONV_3X3 && dc_conv_kind_of(3, 1, 0, 0) == DC_KIND_3X3);
    CHECK(dc_conv_kind(3, 1, 1, 1) == DC_CONV_3X3_PRE);
    CHECK(dc_conv_kind(7, 2, 3, 0) == DC_CONV_7X7S2 && dc_conv_kind(7, 2, 3, 1) == DC_CONV_ANY);
    CHECK(dc_conv_kind(1, 2, 0, 0) == DC_CONV_ANY && dc_conv_kind(3, 2, 1, 0) == DC_CONV_ANY);
    CHECK(strcmp(dc_kind_name(DC_KIND_7X7S2), "7x7s2") == 0);
}

/* Winograd's channel tile by the plan's growth convs (winograd_defaults): 32 for DenseNet-121's
 * 32 channels, 48 for DenseNet-161's 48 on 16-wide vectors (16 on 8-wide ones, where 48 was
 * not measured), 16 for DenseNet-BC-100's 12; CK 32 with 32 or 48. Host only: the caps are
 * made up, an AVX-512 CPU's and an AVX2 one's. */
static void test_winograd_co(void)
{
    static const struct {
        const char *model;
        int side, co16, co8;
    } want[] = {
        {"densenet121", 224, 32, 32},
        {"densenet161", 224, 48, 16},
        {"densenet-bc-100-k12", 32, 16, 16},
    };
    const int co = dc_param_index(&dc_family_winograd, "CO");
    const int ck = dc_param_index(&dc_family_winograd, "CK");
    CHECK(co >= 0 && ck >= 0);
    for (size_t i = 0; co >= 0 && ck >= 0 && i < DC_ARRAY_LEN(want); i++) {
        densecl_config cfg;
        dc_plan plan;
        if (densecl_config_preset(want[i].model, &cfg) != DENSECL_OK ||
            dc_plan_build(&cfg, 1, want[i].side, want[i].side, &plan) != DENSECL_OK) {
            CHECKF(0, "plan %s: %s", want[i].model, densecl_last_error());
            continue;
        }
        for (int vec = 8; vec <= 16; vec += 8) {
            dc_caps caps;
            dc_params p;
            memset(&caps, 0, sizeof caps);
            caps.type = CL_DEVICE_TYPE_CPU;
            caps.native_vector_float = (cl_uint)vec;
            caps.has_fma = 1;
            dc_family_winograd.defaults(&caps, &plan, &p);
            const int w = vec == 16 ? want[i].co16 : want[i].co8;
            CHECKF(p.v[co] == w && p.v[ck] == (w >= 32 ? 32 : 16) &&
                       dc_family_winograd.check(&caps, &p, "defaults") == DENSECL_OK,
                   "%s, %d-wide vectors: winograd CO=%d CK=%d (want %d)", want[i].model, vec,
                   p.v[co], p.v[ck], w);
        }
        dc_plan_free(&plan);
    }
}

/* ------------------------------------------------------------------------ setup */

/* Builds the common kernels and the families in fams (bits of dc_families[]) with defines, and
 * creates those families' states from e->params. */
static int env_build(test_env *e, cl_device_id dev, unsigned fams, const char *defines)
{
    cl_program prog = NULL;
    densecl_status st = dc_program_build(e->ctx, dev, fams, defines, &prog);
    CHECKF(st == DENSECL_OK, "kernels did not build [%s]: %s", e->label, densecl_last_error());
    if (st != DENSECL_OK)
        return 0;
    for (int f = 0; st == DENSECL_OK && f < dc_family_count; f++) {
        if (!(fams & (1u << f)))
            continue;
        st = dc_families[f]->create(prog, &e->caps, &e->params[f], &e->state[f]);
        CHECKF(st == DENSECL_OK, "%s create [%s]: %s", dc_families[f]->name, e->label,
               densecl_last_error());
    }
    clReleaseProgram(prog); /* the kernels keep it */
    return st == DENSECL_OK;
}

/* A context and queue on the default device; the common kernels and every registered family
 * built with their defaults for it (options NULL), or only the direct family with options (the
 * host keeps the generic tiles then: grids that do not match the kernels' tiles). */
static int env_init(test_env *e, const char *options)
{
    char defines[1024] = "";
    unsigned fams = 1u;
    memset(e, 0, sizeof *e);
    e->label = options ? options : "default build, every family";
    cl_device_id dev = test_device_open(e->label, &e->caps, &e->ctx, &e->q);
    if (!dev)
        return 0;
    for (int f = 0; f < dc_family_count; f++) {
        const dc_family *fam = dc_families[f];
        fam->defaults(&e->caps, NULL, &e->params[f]);
        if (options)
            continue;
        /* A family that builds nothing here (a placeholder until it is merged) says so. */
        if (!fam->create) {
            printf("family %s: no kernels in this build, not tested\n", fam->name);
            continue;
        }
        fams |= 1u << f;
        if (fam->defines)
            fam->defines(&e->params[f], NULL, defines, sizeof defines);
    }
    if (options) {
        densecl_tiles g;
        dc_tiles_generic(&g);
        dc_direct_from_tiles(&g, &e->params[0]);
        /* STAGE as the options build it: it adds the 1x1 kernel's arguments, and a staged
         * build's 1x1 weights come in blocks of its 1x1 tile's channels (direct.c
         * dc_direct_flat_pack), so the host takes that tile (the other tiles stay generic). */
        e->params[0].v[DC_DIRECT_STAGE] = strstr(options, "-DCONV_STAGE=1") != NULL;
        /* The pair tiles where the build has them; one without, never. */
        e->params[0].v[DC_DIRECT_PAIRS] = strstr(options, "-DCONV_PAIRS=1") ? 1 : 0;
        if (e->params[0].v[DC_DIRECT_STAGE]) {
            const char *co = strstr(options, "-DCONV_FLAT_CO="),
                       *px = strstr(options, "-DCONV_FLAT_PX=");
            if (co)
                e->params[0].v[DC_DIRECT_FLAT_CO] = atoi(co + strlen("-DCONV_FLAT_CO="));
            if (px)
                e->params[0].v[DC_DIRECT_FLAT_PX] = atoi(px + strlen("-DCONV_FLAT_PX="));
        }
        snprintf(defines, sizeof defines, "%s", options);
    }
    return env_build(e, dev, fams, defines);
}

/* A context and queue on the default device with the common kernels and the winograd family
 * alone, built with its defaults for the device changed by text (kernel_params form). */
static int env_init_wino(test_env *e, const char *text)
{
    const int wi = dc_family_index("winograd");
    char defines[512] = "";
    unsigned set = 0;
    memset(e, 0, sizeof *e);
    e->label = text;
    CHECKF(wi > 0, "no winograd family in the registry");
    if (wi <= 0)
        return 0;
    cl_device_id dev = test_device_open(e->label, &e->caps, &e->ctx, &e->q);
    if (!dev)
        return 0;
    dc_family_winograd.defaults(&e->caps, NULL, &e->params[wi]);
    densecl_status st = dc_params_parse(text, NULL, wi, &e->params[wi], &set, "winograd build");
    if (st == DENSECL_OK)
        st = dc_family_winograd.check(&e->caps, &e->params[wi], "winograd build");
    CHECKF(st == DENSECL_OK && set != 0, "%s: %s", text, densecl_last_error());
    if (st != DENSECL_OK)
        return 0;
    dc_family_winograd.defines(&e->params[wi], NULL, defines, sizeof defines);
    return env_build(e, dev, 1u << wi, defines);
}

static void env_free(test_env *e)
{
    for (int f = 0; f < dc_family_count; f++) {
        if (e->state[f])
            dc_families[f]->release(e->state[f]);
        if (e->ran[f] || e->state[f] || f == 0)
            printf("family %s [%s]: %d conv cases\n", dc_families[f]->name, e->label, e->ran[f]);
    }
    if (e->q)
        clReleaseCommandQueue(e->q);
    if (e->ctx)
        clReleaseContext(e->ctx);
}

/* Conv builds whose tiles no longer match the host's grid. The first changes every tunable
 * (smaller channel tiles, larger pixel tiles, the largest row segment, the other tile order,
 * mad()); the second the 1x1 tile and the vector width. The third is the AVX-512 CPUs' default
 * (with the tiles shared through counters, CONV_DYN, which needs the host's DYN of a CPU, and the
 * 1x1 tile order by shape), the fourth that with the pair tiles, and the fifth the 1x1 tile an
 * AMD EPYC ran fastest (`densecl tune` may choose it), all three staged (CONV_STAGE, as CPUs
 * build them; the first two are not) and on float16 vectors, which the device's own build above has
 * only where its native float width is 16 (elsewhere clang may warn that they "change the ABI");
 * the last 32-channel conv tiles on float8. Few builds: POCL takes a second or more to compile each
 * conv kernel. */
static const char *const alt_builds[] = {
    "-DCONV_TCO=2 -DCONV_TPX=8 -DCONV_FLAT_CO=16 -DCONV_FLAT_PX=2 -DCONV_ORDER=0 -DCONV_FMA=0",
    /* 1x1 channel tiles that straddle the 16-channel weight blocks, three-vector pixel tiles. */
    "-DCONV_FLAT_CO=6 -DCONV_FLAT_PX=24 -DCONV_VEC=8",
    "-DCONV_FLAT_CO=8 -DCONV_FLAT_PX=32 -DCONV_TCO=32 -DCONV_TPX=4 -DCONV_VEC=16 -DCONV_ORDER=2 "
    "-DCONV_DYN=1 -DCONV_STAGE=1",
    /* The same with the pair tiles past the whole 1x1 tiles (17, 15 and 4 pixels past them; 16
     * keep the half tile): output channels past cout in a block, in a 32-channel tile and in a
     * group, chunks of input channels, the last pair tile moved back. */
    "-DCONV_FLAT_CO=8 -DCONV_FLAT_PX=32 -DCONV_TCO=32 -DCONV_TPX=4 -DCONV_VEC=16 -DCONV_ORDER=2 "
    "-DCONV_DYN=1 -DCONV_STAGE=1 -DCONV_PAIRS=1",
    /* The AMD EPYC's fastest 1x1 tile: one float16 of pixels for 16 channels. */
    "-DCONV_FLAT_CO=16 -DCONV_FLAT_PX=16 -DCONV_TCO=32 -DCONV_TPX=4 -DCONV_VEC=16 -DCONV_STAGE=1",
    /* 32-channel conv tiles as four float8: tiles that span two weight blocks or pass the last. */
    "-DCONV_TCO=32 -DCONV_TPX=3 -DCONV_VEC=8",
};

/* How the 3x3 kinds are resolved: auto on this device follows winograd's auto_kinds (with its
 * reason), winograd:ON=0 and --conv direct keep them on direct, --conv winograd runs them on
 * winograd and the other kinds on direct; a 3x3 pad-0 conv is refused by a given winograd,
 * and keeps its kind on direct under auto. */
static void test_resolve_winograd(const test_env *e)
{
    densecl_config cfg;
    dc_plan plan;
    dc_resolved r;
    char why[160];
    const int wi = dc_family_index("winograd");
    const int auto_wino = wi > 0 && dc_families[wi]->auto_kinds(&e->caps, why, sizeof why) != 0;
    const int on = wi > 0 ? dc_param_index(dc_families[wi], "ON") : -1;
    if (densecl_config_preset("densenet-bc-100-k12", &cfg) != DENSECL_OK ||
        dc_plan_build(&cfg, 1, 32, 32, &plan) != DENSECL_OK) {
        CHECKF(0, "plan: %s", densecl_last_error());
        return;
    }
    dc_choice c = {"auto", NULL, {0, 0, 0, 0}, NULL};
    setenv("DENSECL_NO_TUNING", "1", 1); /* auto's defaults, whatever the caller tuned */
    CHECK(wi > 0 && dc_resolve(&e->caps, &plan, &c, &r) == DENSECL_OK);
    CHECKF(r.fam[DC_KIND_3X3] == (auto_wino ? wi : 0) && r.fam[DC_KIND_1X1] == 0 &&
               strstr(r.why, auto_wino ? "3x3 on winograd" : "3x3 on direct"),
           "auto: %s", r.why);
    c.kernel_params = "winograd:ON=0";
    CHECK(dc_resolve(&e->caps, &plan, &c, &r) == DENSECL_OK);
    CHECKF(r.fam[DC_KIND_3X3] == 0 && !(r.used & (1u << wi)) && strstr(r.why, "ON=0"),
           "winograd:ON=0: %s", r.why);
    c.kernel_params = NULL;
    c.conv = "direct";
    CHECK(dc_resolve(&e->caps, &plan, &c, &r) == DENSECL_OK && r.used == 1u);
    c.conv = "winograd";
    CHECK(dc_resolve(&e->caps, &plan, &c, &r) == DENSECL_OK);
    CHECKF(r.fam[DC_KIND_3X3] == wi && r.fam[DC_KIND_1X1] == 0 && on >= 0 &&
               r.params[wi].v[on] == 1 && strstr(r.why, "on direct"),
           "--conv winograd: %s", r.why);
    c.kernel_params = "winograd:ON=0";
    CHECK(dc_resolve(&e->caps, &plan, &c, &r) == DENSECL_ERR_ARGUMENT);
    c.kernel_params = NULL;
    /* A 3x3 conv without padding in the plan: given winograd refuses it, auto keeps the kind
     * on direct and says why. */
    for (int i = 0; i < plan.n_ops; i++)
        if (plan.ops[i].kind == DC_OP_CONV && plan.ops[i].k == 3) {
            plan.ops[i].pad = 0;
            plan.ops[i].out_h -= 2;
            plan.ops[i].out_w -= 2;
            break;
        }
    CHECK(dc_resolve(&e->caps, &plan, &c, &r) == DENSECL_ERR_UNSUPPORTED);
    c.conv = "auto";
    CHECK(dc_resolve(&e->caps, &plan, &c, &r) == DENSECL_OK);
    CHECKF(r.fam[DC_KIND_3X3] == 0 && (!auto_wino || strstr(r.why, "3x3 on direct; winograd")),
           "auto with a 3x3 pad-0 conv: %s", r.why);
    /* A program binary for any model carries auto's choice (winograd for the 3x3 kinds where
     * auto picks it); a model with a 3x3 conv winograd cannot run refuses it. */
    {
        dc_resolved any;
        char text[1024];
        dc_choice b = {NULL, NULL, {0, 0, 0, 0}, NULL};
        CHECK(dc_resolve(&e->caps, NULL, &b, &any) == DENSECL_OK);
        CHECKF((any.fam[DC_KIND_3X3] == wi) == auto_wino, "any model: %s", any.why);
        dc_resolved_format(&any, text, sizeof text);
        b.binary = text;
        densecl_status st = dc_resolve(&e->caps, &plan, &b, &r);
        CHECKF(auto_wino ? st == DENSECL_ERR_MISMATCH && strstr(densecl_last_error(), "cannot run")
                         : st == DENSECL_OK,
               "binary '%s' with a 3x3 pad-0 conv: %s", text, densecl_last_error());
    }
    unsetenv("DENSECL_NO_TUNING");
    dc_plan_free(&plan);
}

/* Winograd builds other than the device's defaults: the other channel tiles (48 on 16-wide
 * vectors, fused, and on 8-wide ones, six vectors one at a time), tile group and chunk, and
 * float8 channel vectors (which the device's own build has only where its native
 * float width is below 16): groups and chunks that end past the data, 32-channel tiles over
 * couts below 16; the third with one work-item per tile group, as on GPUs (DYN=0). */
static const char *const wino_builds[] = {
    "winograd:CO=32,NT=16,CK=8",
    "winograd:CO=16,NT=16,CK=32,VEC=8",
    "winograd:CO=32,NT=8,CK=32,VEC=8,DYN=0",
    "winograd:CO=48,NT=8,CK=32,VEC=16",
    "winograd:CO=48,NT=16,CK=16,VEC=8",
};

int main(void)
{
    test_env e;
    test_weight_pack();
    test_conv_kinds();
    test_winograd_co();
    if (env_init(&e, NULL)) {
        test_resolve_winograd(&e);
        for (size_t i = 0; i < DC_ARRAY_LEN(conv_cases); i++)
            run_conv(&e, &conv_cases[i]);
        /* The fallback family runs every conv, and every family built runs some: a family
         * whose supports() refused every case would otherwise pass having tested nothing. */
        CHECKF(e.ran[0] == (int)DC_ARRAY_LEN(conv_cases), "direct ran %d of %d conv cases",
               e.ran[0], (int)DC_ARRAY_LEN(conv_cases));
        for (int f = 1; f < dc_family_count; f++)
            CHECKF(!e.state[f] || e.ran[f] > 0, "family %s was built but ran no conv case",
                   dc_families[f]->name);
    }
    env_free(&e);
    for (size_t b = 0; b < DC_ARRAY_LEN(alt_builds); b++) {
        if (env_init(&e, alt_builds[b]))
            for (size_t i = 0; i < DC_ARRAY_LEN(conv_cases); i++)
                run_conv(&e, &conv_cases[i]);
        env_free(&e);
    }
    for (size_t b = 0; b < DC_ARRAY_LEN(wino_builds); b++) {
        const int wi = dc_family_index("winograd");
        if (env_init_wino(&e, wino_builds[b])) {
            for (size_t i = 0; i < DC_ARRAY_LEN(conv_cases); i++)
                run_conv(&e, &conv_cases[i]);
            /* Every 3x3/1/1 case, and nothing else. */
            int want = 0;
            for (size_t i = 0; i < DC_ARRAY_LEN(conv_cases); i++)
                want += conv_cases[i].k == 3 && conv_cases[i].stride == 1 && conv_cases[i].pad == 1;
            CHECKF(e.ran[wi] == want && want >= 20, "winograd [%s] ran %d of %d 3x3/1/1 cases",
                   wino_builds[b], e.ran[wi], want);
        }
        env_free(&e);
    }
    return check_summary();
}
