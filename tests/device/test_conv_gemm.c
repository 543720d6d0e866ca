/* SPDX-License-Identifier: MIT */
/* test_conv_gemm.c - the gemm conv family (host/conv/gemm.c, kernels/gemm.cl) through its vtable,
 * against the naive reference of ref_ops.c.
 *
 * The program is built here from kernels/abi.h + kernels/gemm.cl read from the source tree at
 * run time (DENSECL_SOURCE_DIR), with the family's own -D options, for four parameter sets:
 *   cpu    defaults() for the device as it is (POCL: the CPU tiles), K never split (FILL 1):
 *          the GEMM kernels write the output themselves;
 *   gpu    defaults() under the nvidia-h200 device profile (132 SMs, warps of 32, 48 KiB local
 *          memory): 32 x 128 tiles for the k > 1 convs and 128 x 64 for the 1x1 ones, 8 x 8
 *          register blocks, and K split wherever the tiles cannot make 8 warps per SM, summed
 *          by the last work-group of each tile;
 *   mali   defaults() under the mali-g710 profile (local memory that is global memory): no
 *          staging through local memory (LOCAL 0), 4 x 8 blocks, K split where the grid is
 *          too small;
 *   tiny   defaults() for 1 KiB of local memory and 16-item work-groups (below Mali's limits):
 *          16 x 16 tiles, KWG 5 (odd), 4 x 4 work-items, scalar weights and float2 inputs (VWM 1,
 *          VWN 2), mad() instead of fma(), K split in at most 3
 *          (odd) slices where the grid is under 8 groups, so that some convs split and some not.
 * The gpu and mali sets run every case twice: outputs at an odd offset (scalar stores) and at an
 * aligned one (vector stores where the output rows allow them). Packed weights sit at an
 * aligned offset (the family reads them as vectors and refuses others, as test_rejects shows).
 * Each runs every conv case: 1x1 with prefix reads and offset writes, 1x1 and 7x7 images,
 * batches 1-3, the widest block buffer (cin 1024 of 1024, and K = 1000 of 1024), 3x3 pad 1 with
 * and without prologue, the 7x7/2 stem, odd windows/strides/pads, bias and ReLU on and off,
 * couts and Ks that are not multiples of the tiles, in-place convs.
 *
 * Tolerance (as test_ops.c): |got - ref| <= 1e-5 + 1e-4 * |ref| for every written value; NaN or
 * Inf is a failure. Guard bands: outputs sit between DC_TEST_GUARD floats of a sentinel NaN, and
 * everything the conv may not write (guards, other channels of the buffer) must keep it
 * bit-exact; inputs, weights and parameters sit between poison NaNs, and the channels past the
 * read prefix are poison, so a stray read shows in the result. The K split's workspace has
 * sentinel guards too. A missing device or a kernel that does not build is a failure. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "conv_check.h"
#include "conv_run.h"
#include "conv/conv.h"
#include "ref_ops.h"

#ifndef DENSECL_SOURCE_DIR
#error "DENSECL_SOURCE_DIR must name the source tree (kernels/ is read at run time)"
#endif

/* Parameter indices of the gemm family, looked up by name in its table. */
static int P_MWG, P_NWG, P_KWG, P_MDIMC, P_NDIMC, P_VWM, P_VWN, P_KSPLIT, P_FILL, P_FMA;
static int P_MWG1, P_NWG1, P_MDIMC1, P_NDIMC1, P_LOCAL;

typedef struct test_env {
    cl_device_id dev;
    cl_context ctx;
    cl_command_queue q;
    dc_caps caps; /* as the device says */
} test_env;

/* One parameter set: its caps, params, program and family state. */
typedef struct pset {
    const char *label;
    dc_caps caps;
    dc_params p;
    cl_program prog;
    void *state;
    int splits; /* convs that ran with a workspace (the K split) */
    int convs;
    int aligned; /* also run every case with outputs at an aligned offset */
} pset;

static const dc_family *const fam = &dc_family_gemm;

/* ------------------------------------------------------------------------ helpers */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)len + 1);
        if (buf && fread(buf, 1, (size_t)len, f) == (size_t)len) {
            buf[len] = '\0';
        } else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

/* Builds the files (relative to the source tree), in order, as one program with options after
 * -cl-std from the device's OpenCL C version. NULL (a failure, with the log) if it does not. */
static cl_program build_program(const test_env *e, const char *const *files, const char *options,
                                const char *label)
{
    const char *texts[8];
    char *owned[8] = {0};
    char path[1024], opts[2048], std[32], version[128] = "";
    size_t nfiles = 0;
    cl_program prog = NULL;
    cl_int err;
    /* $DENSECL_SOURCE_DIR: a source tree elsewhere than the one built from (gpu_check.sh). */
    const char *root = getenv("DENSECL_SOURCE_DIR");
    for (; files[nfiles]; nfiles++) {
        snprintf(path, sizeof path, "%s/%s", root && *root ? root : DENSECL_SOURCE_DIR,
                 files[nfiles]);
        owned[nfiles] = read_text(path);
        CHECKF(owned[nfiles] != NULL, "cannot read %s", path);
        if (!owned[nfiles])
            goto done;
        texts[nfiles] = owned[nfiles];
    }
    clGetDeviceInfo(e->dev, CL_DEVICE_OPENCL_C_VERSION, sizeof version - 1, version, NULL);
    dc_cl_std_from(version, std, sizeof std);
    snprintf(opts, sizeof opts, "%s %s", std, options);
    prog = clCreateProgramWithSource(e->ctx, (cl_uint)nfiles, texts, NULL, &err);
    CHECKF(err == CL_SUCCESS, "[%s] clCreateProgramWithSource: %s", label, dc_cl_error_name(err));
    if (err != CL_SUCCESS)
        goto done;
    err = clBuildProgram(prog, 1, &e->dev, opts, NULL, NULL);
    CHECKF(err == CL_SUCCESS, "[%s] build with \"%s\": %s", label, opts, dc_cl_error_name(err));
    if (err != CL_SUCCESS) {
        size_t len = 0;
        char *log;
        clGetProgramBuildInfo(prog, e->dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
        log = malloc(len + 1);
        if (log && clGetProgramBuildInfo(prog, e->dev, CL_PROGRAM_BUILD_LOG, len, log, NULL) ==
                       CL_SUCCESS) {
            log[len] = '\0';
            fprintf(stderr, "build log:\n%s\n", log);
        }
        free(log);
        clReleaseProgram(prog);
        prog = NULL;
    }
done:
    for (size_t i = 0; i < nfiles; i++)
        free(owned[i]);
    return prog;
}

/* ------------------------------------------------------------------------ conv cases */

static const conv_case conv_cases[] = {
    /* n cin ctot h w cout otot coff k s p pre bias relu inplace */
    {2, 37, 45, 7, 9, 21, 30, 5, 1, 1, 0, 1, 1, 1, 0, "1x1: prefix, offset write, M and K tails"},
    {1, 128, 160, 7, 7, 128, 128, 0, 1, 1, 0, 1, 1, 1, 0, "1x1 bottleneck on 7x7, batch 1"},
    {3, 20, 24, 1, 1, 10, 13, 2, 1, 1, 0, 1, 0, 1, 0, "1x1 on 1x1 images, batch 3"},
    {1, 1024, 1024, 7, 7, 128, 128, 0, 1, 1, 0, 1, 1, 1, 0, "widest block buffer, all of it"},
    {1, 1000, 1024, 7, 7, 128, 160, 32, 1, 1, 0, 1, 1, 1, 0, "K = 1000 of a 1024 buffer"},
    {2, 96, 96, 14, 14, 48, 48, 0, 1, 1, 0, 0, 1, 0, 0, "transition 1x1 without prologue"},
    {8, 40, 64, 7, 7, 20, 48, 16, 1, 1, 0, 1, 1, 1, 0, "1x1 batch 8: tiles straddle images"},
    {8, 24, 24, 7, 7, 12, 36, 24, 3, 1, 1, 1, 0, 1, 0, "3x3 batch 8: tiles straddle images"},
    {2, 24, 40, 9, 8, 12, 44, 30, 3, 1, 1, 1, 0, 0, 0, "3x3/1/1 prologue: pads 0, not P(0)"},
    {3, 19, 19, 7, 7, 32, 64, 32, 3, 1, 1, 0, 0, 0, 0, "3x3/1/1 without prologue, batch 3"},
    {2, 128, 128, 14, 14, 32, 200, 128, 3, 1, 1, 1, 0, 0, 0, "DenseNet growth 3x3 at an offset"},
    {3, 8, 8, 1, 1, 20, 20, 0, 3, 1, 1, 1, 1, 0, 0, "3x3/1/1 on 1x1 images"},
    {2, 3, 3, 21, 19, 16, 24, 4, 7, 2, 3, 0, 1, 1, 0, "stem 7x7/2/3, cin 3"},
    {1, 5, 8, 13, 12, 17, 20, 3, 7, 2, 3, 1, 1, 0, 0, "7x7/2/3 with prologue"},
    {2, 2, 2, 5, 5, 3, 3, 0, 7, 2, 3, 1, 1, 1, 0, "7x7/2/3 window larger than the image"},
    {2, 6, 9, 11, 13, 7, 9, 2, 3, 2, 1, 1, 1, 1, 0, "3x3/2/1 (general kernel)"},
    {1, 10, 10, 9, 9, 5, 5, 0, 1, 2, 0, 1, 1, 0, 0, "1x1/2/0 (general kernel)"},
    {1, 4, 4, 6, 7, 3, 3, 0, 1, 1, 1, 1, 0, 1, 0, "1x1/1/1 prologue: the border is 0"},
    {2, 3, 5, 10, 9, 9, 9, 0, 5, 1, 2, 1, 1, 1, 0, "5x5/1/2"},
    {1, 7, 7, 8, 9, 6, 6, 0, 2, 1, 0, 0, 1, 0, 0, "2x2/1/0 even window"},
    {2, 5, 5, 9, 11, 4, 4, 0, 3, 3, 2, 1, 0, 1, 0, "3x3/3/2"},
    {1, 1, 1, 3, 3, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, "smallest"},
    {1, 32, 40, 9, 7, 12, 20, 4, 3, 1, 1, 1, 1, 1, 0, "3x3/1/1 prologue, cin a multiple of KWG"},
    {2, 32, 32, 9, 9, 8, 8, 0, 3, 2, 1, 0, 1, 1, 0, "3x3/2/1, one tap per K tile"},
    {1, 3, 3, 8, 8, 40, 40, 0, 1, 1, 0, 1, 1, 1, 0, "1x1, cin 3 below KWG, 8x8 rows"},
    {3, 64, 80, 8, 4, 136, 140, 2, 1, 1, 0, 1, 1, 1, 0, "1x1, cout past a 128 tile, batch 3"},
    {2, 12, 36, 9, 10, 12, 36, 12, 3, 1, 1, 1, 0, 0, 1, "3x3 in place"},
    {1, 20, 28, 6, 5, 8, 28, 20, 1, 1, 0, 1, 1, 1, 1, "1x1 in place"},
};

/* Case c on set s, its output `oguard` floats into its buffer; the set must support it, and
 * its workspace (the K split's) has guards of the sentinel. */
static void run_conv(const test_env *e, pset *s, const conv_case *c, size_t oguard)
{
    conv_run r = {.fam = fam,
                  .p = &s->p,
                  .state = s->state,
                  .caps = &s->caps,
                  .ctx = e->ctx,
                  .q = e->q,
                  .label = s->label,
                  .oguard = oguard,
                  .must_support = 1,
                  .ws_sentinel = 1};
    conv_run_case(&r, c);
    s->convs += r.ran;
    s->splits += r.with_ws;
}

/* ------------------------------------------------------------------------ host-only checks */

static int param_index(const char *name)
{
    for (int i = 0; i < fam->n_params; i++)
        if (strcmp(fam->params[i].name, name) == 0)
            return i;
    CHECKF(0, "the gemm family has no parameter %s", name);
    return 0;
}

static void lookup_params(void)
{
    CHECK(strcmp(fam->name, "gemm") == 0);
    CHECK(fam->n_params > 0 && fam->n_params <= DC_FAMILY_MAX_PARAMS);
    CHECK(fam->sources && fam->sources[0] && strcmp(fam->sources[0], "gemm.cl") == 0 &&
          !fam->sources[1]);
    P_MWG = param_index("MWG");
    P_NWG = param_index("NWG");
    P_KWG = param_index("KWG");
    P_MDIMC = param_index("MDIMC");
    P_NDIMC = param_index("NDIMC");
    P_VWM = param_index("VWM");
    P_VWN = param_index("VWN");
    P_KSPLIT = param_index("KSPLIT");
    P_FILL = param_index("FILL");
    P_FMA = param_index("FMA");
    P_MWG1 = param_index("MWG1");
    P_NWG1 = param_index("NWG1");
    P_MDIMC1 = param_index("MDIMC1");
    P_NDIMC1 = param_index("NDIMC1");
    P_LOCAL = param_index("LOCAL");
}

/* check() refuses with a message naming `what` and the parameter at fault. */
static void expect_refused(const dc_caps *caps, const dc_params *p, const char *param)
{
    densecl_status st = fam->check(caps, p, "test params");
    const char *msg = densecl_last_error();
    CHECKF(st == DENSECL_ERR_ARGUMENT, "check() accepted params bad in %s", param);
    CHECKF(st != DENSECL_OK && strstr(msg, param) && strstr(msg, "test params"),
           "check()'s message does not name %s: %s", param, msg);
}

static void test_check(const dc_caps *tiny)
{
    dc_params ok, p;
    fam->defaults(tiny, NULL, &ok);
    CHECKF(fam->check(tiny, &ok, "tiny defaults") == DENSECL_OK, "%s", densecl_last_error());
    p = ok;
    p.v[P_MWG] = 32; /* 2 vectors of 4 channels per work-item: fine */
    CHECKF(fam->check(tiny, &p, "MWG 32") == DENSECL_OK, "%s", densecl_last_error());
    p.v[P_MWG] = 18; /* not a multiple of MDIMC = 4 */
    expect_refused(tiny, &p, "MDIMC");
    p = ok;
    p.v[P_MWG1] = 18; /* the 1x1 kernel's tile, checked as its own */
    expect_refused(tiny, &p, "MDIMC1");
    p = ok;
    p.v[P_MDIMC1] = 8; /* 32 work-items on a device of 16, in the 1x1 kernel */
    p.v[P_MWG1] = 32;
    expect_refused(tiny, &p, "MDIMC1");
    CHECK(strstr(densecl_last_error(), "work-group size") != NULL);
    p = ok;
    p.v[P_MWG] = 24; /* a multiple of MDIMC = 4, not of MDIMC * VWM = 16 */
    expect_refused(tiny, &p, "VWM");
    p = ok;
    p.v[P_VWN] = 8; /* NWG 16 is not a multiple of NDIMC * VWN = 32 */
    expect_refused(tiny, &p, "VWN");
    p = ok;
    p.v[P_VWN] = 5;
    expect_refused(tiny, &p, "VWN");
    p = ok;
    p.v[P_VWM] = 3;
    expect_refused(tiny, &p, "VWM");
    p = ok;
    p.v[P_NWG] = 18; /* not a multiple of NDIMC */
    expect_refused(tiny, &p, "NDIMC");
    p = ok;
    p.v[P_NWG] = 24; /* 16 work-items: neither divides the other */
    p.v[P_VWN] = 2;
    expect_refused(tiny, &p, "NWG");
    p = ok;
    p.v[P_NWG] = 8; /* 16 work-items stage 2 rows at a time: KWG 3 is not a multiple */
    p.v[P_VWN] = 2;
    p.v[P_KWG] = 3;
    expect_refused(tiny, &p, "KWG");
    p = ok;
    p.v[P_MDIMC] = 8; /* 32 work-items on a device of 16 */
    p.v[P_MWG] = 32;
    expect_refused(tiny, &p, "MDIMC");
    p = ok;
    p.v[P_KWG] = 16; /* 16 * 32 floats = 2 KiB of local memory on a device of 1 */
    expect_refused(tiny, &p, "KWG");
    CHECK(strstr(densecl_last_error(), "local memory") != NULL);
    p.v[P_LOCAL] = 0; /* without staging, local memory is no limit */
    CHECKF(fam->check(tiny, &p, "LOCAL 0") == DENSECL_OK, "%s", densecl_last_error());
    p = ok;
    p.v[P_KSPLIT] = 0;
    expect_refused(tiny, &p, "KSPLIT");
    p = ok;
    p.v[P_MWG] = 256; /* 64 x 8 accumulators per work-item */
    p.v[P_NWG] = 16;
    p.v[P_NDIMC] = 2;
    p.v[P_KWG] = 1;
    expect_refused(NULL, &p, "accumulators");
}

static void test_supports(const dc_caps *dev)
{
    const conv_case c = {1, 16, 16, 5, 5, 8, 8, 0, 3, 1, 1, 1, 1, 1, 0, ""};
    dc_op op = conv_case_op(&c);
    dc_caps caps = *dev;
    char why[200];
    CHECKF(fam->supports(&caps, &op, why, sizeof why), "supports: %s", why);
    caps.local_mem = 64;
    CHECK(!fam->supports(&caps, &op, why, sizeof why));
    CHECKF(strstr(why, "local memory") && strstr(why, "64"), "why: %s", why);
    caps = *dev;
    caps.max_work_group = 2;
    CHECK(!fam->supports(&caps, &op, why, sizeof why));
    CHECKF(strstr(why, "work-group") != NULL, "why: %s", why);
    caps = *dev;
    op.kind = DC_OP_MAXPOOL;
    CHECK(!fam->supports(&caps, &op, why, sizeof why));
    CHECK(why[0] != '\0');
}

/* pack(): [cout, cin, k, k] -> [Kp, Mp], K = cin * k * k tap-major (k = tap * cin + ci) rounded
 * up to KWG, cout to MWG (MWG1 for a 1x1 conv), zeros in the padding. */
static void test_pack(const dc_params *tiny)
{
    const conv_case c = {1, 3, 3, 5, 5, 19, 19, 0, 3, 1, 1, 0, 0, 0, 0, ""};
    const dc_op op = conv_case_op(&c);
    const size_t K = 27, kp = 28, mp = 32; /* tiny: KWG 4, MWG 16 */
    float w[19 * 27], out[28 * 32];
    int bad = 0;
    CHECK(tiny->v[P_KWG] == 4 && tiny->v[P_MWG] == 16);
    for (int i = 0; i < 19 * 27; i++)
        w[i] = (float)(i + 1);
    CHECK(fam->pack(&op, tiny, w, NULL) == kp * mp);
    CHECK(fam->pack(&op, tiny, w, out) == kp * mp);
    for (size_t k = 0; k < kp; k++)
        for (size_t m = 0; m < mp; m++)
            bad += out[k * mp + m] != (k < K && m < 19 ? w[m * K + (k % 3) * 9 + k / 3] : 0.0f);
    CHECKF(bad == 0, "%d packed weights misplaced", bad);
    {
        /* A 1x1 conv packs to the 1x1 kernel's channel tile. */
        const conv_case c1 = {1, 3, 3, 5, 5, 19, 19, 0, 1, 1, 0, 0, 0, 0, 0, ""};
        const dc_op op1 = conv_case_op(&c1);
        dc_params q = *tiny;
        q.v[P_MWG1] = 64;
        CHECK(fam->pack(&op1, &q, w, NULL) == 4 * 64);
        CHECK(fam->pack(&op, &q, w, NULL) == kp * mp);
    }
}

/* defines(): every kernel parameter as -DDC_GEMM_<name>=<value>, appended. */
static void test_defines(const dc_params *p)
{
    char buf[512] = "-DX=1", want[64];
    fam->defines(p, NULL, buf, sizeof buf);
    CHECKF(strncmp(buf, "-DX=1 -DDC_GEMM_", 16) == 0, "defines: %s", buf);
    snprintf(want, sizeof want, "-DDC_GEMM_MWG=%d ", p->v[P_MWG]);
    CHECKF(strstr(buf, want) != NULL, "defines: %s", buf);
    snprintf(want, sizeof want, "-DDC_GEMM_KSPLIT=%d", p->v[P_KSPLIT]);
    CHECKF(strstr(buf, want) != NULL, "defines: %s", buf);
    snprintf(want, sizeof want, "-DDC_GEMM_MWG1=%d ", p->v[P_MWG1]);
    CHECKF(strstr(buf, want) != NULL, "defines: %s", buf);
    snprintf(want, sizeof want, "-DDC_GEMM_LOCAL=%d", p->v[P_LOCAL]);
    CHECKF(strstr(buf, want) != NULL, "defines: %s", buf);
    /* FILL is the host's: programs differ only where kernels do. */
    CHECKF(strstr(buf, "FILL") == NULL, "defines: %s", buf);
}

/* defaults() fits each kernel's channel tile to the model's convs on it: DenseNet-121's
 * 32-channel growth convs get 32-channel tiles, its 128-channel bottlenecks (and transitions of
 * 256 and 512) 128-channel ones; DenseNet-BC-100's 12-channel growth convs 16-channel ones, its
 * 48-channel bottlenecks and 108- and 150-channel transitions 32-channel ones. */
static void test_defaults_fit(const dc_caps *gpu)
{
    densecl_config cfg;
    dc_plan plan;
    dc_params p;
    if (densecl_config_preset("densenet121", &cfg) != DENSECL_OK ||
        dc_plan_build(&cfg, 1, 224, 224, &plan) != DENSECL_OK) {
        CHECKF(0, "densenet121 plan: %s", densecl_last_error());
        return;
    }
    fam->defaults(gpu, &plan, &p);
    CHECKF(p.v[P_MWG] == 32 && p.v[P_NWG] == 128 && p.v[P_MDIMC] == 4 && p.v[P_NDIMC] == 16,
           "densenet121 GPU defaults: %d x %d, %d x %d", p.v[P_MWG], p.v[P_NWG], p.v[P_MDIMC],
           p.v[P_NDIMC]);
    CHECKF(p.v[P_MWG1] == 128 && p.v[P_NWG1] == 64 && p.v[P_MDIMC1] == 16 && p.v[P_NDIMC1] == 8,
           "densenet121 GPU 1x1 defaults: %d x %d, %d x %d", p.v[P_MWG1], p.v[P_NWG1],
           p.v[P_MDIMC1], p.v[P_NDIMC1]);
    CHECKF(fam->check(gpu, &p, "densenet121 GPU defaults") == DENSECL_OK, "%s",
           densecl_last_error());
    dc_plan_free(&plan);
    if (densecl_config_preset("densenet-bc-100-k12", &cfg) != DENSECL_OK ||
        dc_plan_build(&cfg, 1, 32, 32, &plan) != DENSECL_OK) {
        CHECKF(0, "densenet-bc-100 plan: %s", densecl_last_error());
        return;
    }
    fam->defaults(gpu, &plan, &p);
    CHECKF(p.v[P_MWG] == 16 && p.v[P_MDIMC] == 2 && p.v[P_MWG1] == 32,
           "densenet-bc-100 GPU defaults: MWG %d MDIMC %d MWG1 %d", p.v[P_MWG], p.v[P_MDIMC],
           p.v[P_MWG1]);
    dc_plan_free(&plan);
}

/* ------------------------------------------------------------------------ setup */

static int env_init(test_env *e)
{
    densecl_device_info info;
    cl_int err;
    densecl_status st;
    cl_device_fp_config fp = 0;
    cl_device_local_mem_type lt = CL_LOCAL;
    cl_bool compiler = CL_FALSE;
    memset(e, 0, sizeof *e);
    st = dc_device_pick("auto", &e->dev, &info);
    CHECKF(st == DENSECL_OK, "no OpenCL device: %s", densecl_last_error());
    if (st != DENSECL_OK)
        return 0;
    printf("device: %s (%s)\n", info.name, info.opencl_c_version);
    e->ctx = clCreateContext(NULL, 1, &e->dev, NULL, NULL, &err);
    CHECKF(err == CL_SUCCESS, "clCreateContext: %s", dc_cl_error_name(err));
    if (err != CL_SUCCESS)
        return 0;
    e->q = clCreateCommandQueue(e->ctx, e->dev, 0, &err);
    CHECKF(err == CL_SUCCESS, "clCreateCommandQueue: %s", dc_cl_error_name(err));
    if (err != CL_SUCCESS)
        return 0;
    e->caps.dev = e->dev;
    err = clGetDeviceInfo(e->dev, CL_DEVICE_TYPE, sizeof e->caps.type, &e->caps.type, NULL);
    err |= clGetDeviceInfo(e->dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof e->caps.local_mem,
                           &e->caps.local_mem, NULL);
    err |= clGetDeviceInfo(e->dev, CL_DEVICE_LOCAL_MEM_TYPE, sizeof lt, &lt, NULL);
    err |= clGetDeviceInfo(e->dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof e->caps.max_work_group,
                           &e->caps.max_work_group, NULL);
    err |= clGetDeviceInfo(e->dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof e->caps.compute_units,
                           &e->caps.compute_units, NULL);
    err |= clGetDeviceInfo(e->dev, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT,
                           sizeof e->caps.native_vector_float, &e->caps.native_vector_float, NULL);
    err |= clGetDeviceInfo(e->dev, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    err |= clGetDeviceInfo(e->dev, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);
    err |= clGetDeviceInfo(e->dev, CL_DEVICE_NAME, sizeof e->caps.name - 1, e->caps.name, NULL);
    err |=
        clGetDeviceInfo(e->dev, CL_DEVICE_VENDOR, sizeof e->caps.vendor - 1, e->caps.vendor, NULL);
    CHECKF(err == CL_SUCCESS, "clGetDeviceInfo failed");
    e->caps.local_mem_is_global = lt == CL_GLOBAL;
    e->caps.has_fma = (fp & CL_FP_FMA) != 0;
    e->caps.has_compiler = compiler == CL_TRUE;
    return err == CL_SUCCESS;
}

static void env_free(test_env *e)
{
    if (e->q)
        clReleaseCommandQueue(e->q);
    if (e->ctx)
        clReleaseContext(e->ctx);
}

/* Builds abi.h + gemm.cl with the family's defines for s->p and creates its state. */
static int pset_init(const test_env *e, pset *s)
{
    static const char *const files[] = {"kernels/abi.h", "kernels/gemm.cl", NULL};
    char defs[1024] = "";
    densecl_status st = fam->check(&s->caps, &s->p, s->label);
    CHECKF(st == DENSECL_OK, "[%s] check: %s", s->label, densecl_last_error());
    if (st != DENSECL_OK)
        return 0;
    fam->defines(&s->p, NULL, defs, sizeof defs);
    printf("[%s] %s (FILL=%d)\n", s->label, defs, s->p.v[P_FILL]);
    s->prog = build_program(e, files, defs, s->label);
    if (!s->prog)
        return 0;
    st = fam->create(s->prog, &s->caps, &s->p, &s->state);
    CHECKF(st == DENSECL_OK, "[%s] create: %s", s->label, densecl_last_error());
    return st == DENSECL_OK;
}

static void pset_free(pset *s)
{
    fam->release(s->state);
    s->state = NULL;
    if (s->prog)
        clReleaseProgram(s->prog);
    s->prog = NULL;
}

/* Launches that must be refused without touching memory. */
static void test_rejects(const test_env *e, pset *s)
{
    /* Input, weights and output in separate buffers: the accepted launch runs. */
    cl_mem m = dev_buffer(e->ctx, NULL, 4096, DC_TEST_SENTINEL);
    cl_mem mw = dev_buffer_at(e->ctx, NULL, 4096, DC_TEST_SENTINEL, DC_TEST_GUARD_ALIGNED);
    cl_mem mo = dev_buffer(e->ctx, NULL, 4096, DC_TEST_SENTINEL);
    dc_mem d = dev_mem(m), none = {NULL, 0};
    dc_conv_args ok = {d,
                       dev_mem_at(mw, DC_TEST_GUARD_ALIGNED),
                       none,
                       none,
                       dev_mem(mo),
                       1,
                       4,
                       4,
                       5,
                       5,
                       8,
                       8,
                       0,
                       5,
                       5,
                       3,
                       1,
                       1,
                       0};
    dc_conv_args a;
    const conv_case c = {1, 4, 4, 5, 5, 8, 8, 0, 3, 1, 1, 0, 0, 0, 0, ""};
    const dc_op op = conv_case_op(&c);
    cl_event ev = NULL;
    cl_int err;
    if (!m || !mw || !mo) {
        release_mem(m);
        release_mem(mw);
        release_mem(mo);
        return;
    }
    a = ok;
    a.cin = 5; /* more than in_ctot */
    CHECK(dc_conv_enqueue(fam, e->q, s->state, &s->p, &a, none, NULL) == CL_INVALID_VALUE);
    a = ok;
    a.out_coff = 1; /* past out_ctot */
    CHECK(dc_conv_enqueue(fam, e->q, s->state, &s->p, &a, none, NULL) == CL_INVALID_VALUE);
    a = ok;
    a.out_h = 6; /* not the window's output size */
    CHECK(dc_conv_enqueue(fam, e->q, s->state, &s->p, &a, none, NULL) == CL_INVALID_VALUE);
    a = ok;
    a.in.buf = NULL;
    CHECK(dc_conv_enqueue(fam, e->q, s->state, &s->p, &a, none, NULL) != CL_SUCCESS);
    /* This conv splits K under these params: without a workspace it is refused. */
    const size_t wsn = fam->workspace(&op, 1, &s->p);
    cl_mem mws = wsn ? dev_buffer(e->ctx, NULL, wsn, DC_TEST_SENTINEL) : NULL;
    CHECK(wsn > 0 && mws);
    CHECK(dc_conv_enqueue(fam, e->q, s->state, &s->p, &ok, none, NULL) == CL_INVALID_MEM_OBJECT);
    /* Packed weights at an offset that is no multiple of VWM. */
    a = ok;
    a.weight.off = 1;
    CHECK(dc_conv_enqueue(fam, e->q, s->state, &s->p, &a, dev_mem(mws), NULL) ==
          CL_MISALIGNED_SUB_BUFFER_OFFSET);
    /* The accepted form; one kernel (the K split's sum in it), complete when waited on. */
    err = dc_conv_enqueue(fam, e->q, s->state, &s->p, &ok, dev_mem(mws), &ev);
    CHECKF(err == CL_SUCCESS, "valid conv refused: %s", dc_cl_error_name(err));
    if (err == CL_SUCCESS) {
        cl_int status = CL_QUEUED;
        CHECK(ev != NULL && clWaitForEvents(1, &ev) == CL_SUCCESS);
        CHECK(clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL) ==
                  CL_SUCCESS &&
              status == CL_COMPLETE);
        clReleaseEvent(ev);
    }
    clFinish(e->q);
    release_mem(mws);
    release_mem(mw);
    release_mem(mo);
    release_mem(m);
}

/* gemm.cl compiles after another family's kernels in one program (its names are prefixed). */
static void test_shared_program(const test_env *e, const pset *s)
{
    static const char *const files[] = {"kernels/abi.h", "kernels/common.cl", "kernels/direct.cl",
                                        "kernels/gemm.cl", NULL};
    char defs[1024] = "-DCONV_KERNELS=1";
    void *state = NULL;
    cl_program prog;
    densecl_status st;
    fam->defines(&s->p, NULL, defs, sizeof defs);
    prog = build_program(e, files, defs, "direct.cl + gemm.cl");
    if (!prog)
        return;
    st = fam->create(prog, &s->caps, &s->p, &state);
    CHECKF(st == DENSECL_OK, "create on direct.cl + gemm.cl: %s", densecl_last_error());
    fam->release(state);
    clReleaseProgram(prog);
}

/* The defaults under device profile name, for the real device dev. */
static int profile_caps(const char *name, cl_device_id dev, dc_caps *caps)
{
    densecl_status st;
    setenv("DENSECL_DEVICE_PROFILE", name, 1);
    st = dc_caps_query(dev, caps);
    unsetenv("DENSECL_DEVICE_PROFILE");
    CHECKF(st == DENSECL_OK, "%s: %s", name, densecl_last_error());
    return st == DENSECL_OK;
}

/* Whether label is among the --set arguments (all sets without any). */
static int wanted(int argc, char **argv, const char *flag, const char *label)
{
    int any = 0;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], flag) == 0) {
            any = 1;
            if (strcmp(argv[i + 1], label) == 0 ||
                (strcmp(flag, "--case") == 0 && strstr(label, argv[i + 1])))
                return 1;
        }
    return !any;
}

/* The value of the last `flag VALUE` pair of argv, or dflt. */
static const char *arg_value(int argc, char **argv, const char *flag, const char *dflt)
{
    const char *v = dflt;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            v = argv[i + 1];
    return v;
}

/* test_conv_gemm [--set cpu|gpu|mali|tiny]... [--case TEXT]... [--profile NAME]: the sets, the
 * cases whose description contains a TEXT (all of them by default; the oclgrind tier runs a
 * few), and the device profile of the gpu set (default nvidia-h200). */
int main(int argc, char **argv)
{
    test_env e;
    pset sets[4];
    const char *gpu_profile = arg_value(argc, argv, "--profile", "nvidia-h200");
    lookup_params();
    memset(sets, 0, sizeof sets);
    if (!env_init(&e)) {
        env_free(&e);
        return check_summary();
    }

    /* cpu: the device as it is, K never split. */
    sets[0].label = "cpu";
    sets[0].caps = e.caps;
    fam->defaults(&sets[0].caps, NULL, &sets[0].p);
    sets[0].p.v[P_FILL] = 1;

    /* gpu: the H200's profile (or --profile's), as an engine resolves it (no model: the default
     * tiles). */
    sets[1].label = "gpu";
    sets[1].aligned = 1;
    profile_caps(gpu_profile, e.dev, &sets[1].caps);
    fam->defaults(&sets[1].caps, NULL, &sets[1].p);
    CHECKF(strcmp(gpu_profile, "nvidia-h200") != 0 ||
               (sets[1].p.v[P_MWG] == 32 && sets[1].p.v[P_NWG] == 128 && sets[1].p.v[P_KWG] == 32 &&
                sets[1].p.v[P_MDIMC] == 4 && sets[1].p.v[P_NDIMC] == 16 &&
                sets[1].p.v[P_MWG1] == 128 && sets[1].p.v[P_NWG1] == 64 &&
                sets[1].p.v[P_MDIMC1] == 16 && sets[1].p.v[P_NDIMC1] == 8 &&
                sets[1].p.v[P_FILL] == 8 * 132 * 32 && sets[1].p.v[P_KSPLIT] == 32 &&
                sets[1].p.v[P_LOCAL] == 1),
           "H200 defaults: MWG %d NWG %d KWG %d MDIMC %d NDIMC %d, 1x1 %d %d %d %d, FILL %d "
           "KSPLIT %d LOCAL %d",
           sets[1].p.v[P_MWG], sets[1].p.v[P_NWG], sets[1].p.v[P_KWG], sets[1].p.v[P_MDIMC],
           sets[1].p.v[P_NDIMC], sets[1].p.v[P_MWG1], sets[1].p.v[P_NWG1], sets[1].p.v[P_MDIMC1],
           sets[1].p.v[P_NDIMC1], sets[1].p.v[P_FILL], sets[1].p.v[P_KSPLIT], sets[1].p.v[P_LOCAL]);
    if (strcmp(gpu_profile, "nvidia-h200") == 0)
        test_defaults_fit(&sets[1].caps);

    /* mali: local memory that is global memory: no staging, 32 accumulators a work-item. */
    sets[2].label = "mali";
    sets[2].aligned = 1;
    profile_caps("mali-g710", e.dev, &sets[2].caps);
    fam->defaults(&sets[2].caps, NULL, &sets[2].p);
    CHECKF(sets[2].p.v[P_LOCAL] == 0 &&
               (sets[2].p.v[P_MWG] / sets[2].p.v[P_MDIMC]) *
                       (sets[2].p.v[P_NWG] / sets[2].p.v[P_NDIMC]) <=
                   32 &&
               (sets[2].p.v[P_MWG1] / sets[2].p.v[P_MDIMC1]) *
                       (sets[2].p.v[P_NWG1] / sets[2].p.v[P_NDIMC1]) <=
                   32 &&
               sets[2].p.v[P_FILL] == 8 * 10 * 16,
           "Mali defaults: LOCAL %d, %d x %d / %d x %d, FILL %d", sets[2].p.v[P_LOCAL],
           sets[2].p.v[P_MWG], sets[2].p.v[P_NWG], sets[2].p.v[P_MDIMC], sets[2].p.v[P_NDIMC],
           sets[2].p.v[P_FILL]);

    /* tiny: 1 KiB of local memory, 16-item work-groups; some convs split K, in 3 slices. */
    sets[3].label = "tiny";
    sets[3].caps = e.caps;
    sets[3].caps.type = CL_DEVICE_TYPE_GPU;
    sets[3].caps.local_mem = 1024;
    sets[3].caps.local_mem_is_global = 0;
    sets[3].caps.max_work_group = 16;
    sets[3].caps.compute_units = sets[3].caps.cores = 4;
    sets[3].caps.wg_multiple = 2;
    fam->defaults(&sets[3].caps, NULL, &sets[3].p);
    CHECKF(sets[3].p.v[P_MWG] == 16 && sets[3].p.v[P_NWG] == 16 && sets[3].p.v[P_KWG] == 4 &&
               sets[3].p.v[P_MDIMC] == 4 && sets[3].p.v[P_NDIMC] == 4 &&
               sets[3].p.v[P_MWG1] == 16 && sets[3].p.v[P_MDIMC1] == 4,
           "1 KiB defaults: MWG %d NWG %d KWG %d MDIMC %d NDIMC %d", sets[3].p.v[P_MWG],
           sets[3].p.v[P_NWG], sets[3].p.v[P_KWG], sets[3].p.v[P_MDIMC], sets[3].p.v[P_NDIMC]);
    sets[3].p.v[P_KSPLIT] = 3;
    sets[3].p.v[P_FMA] = 0;
    sets[3].p.v[P_VWM] = 1; /* scalar weight loads, pairs of pixels */
    sets[3].p.v[P_VWN] = 2;

    test_check(&sets[3].caps);
    test_supports(&e.caps);
    test_pack(&sets[3].p);
    sets[3].p.v[P_KWG] = 5; /* odd: the compute loop's second half is the shorter */
    test_defines(&sets[1].p);

    for (int i = 1; i < argc; i++)
        CHECKF((strcmp(argv[i], "--set") == 0 || strcmp(argv[i], "--case") == 0 ||
                strcmp(argv[i], "--profile") == 0) &&
                   i + 1 < argc && ++i,
               "usage: test_conv_gemm [--set NAME]... [--case TEXT]... [--profile NAME]");
    for (size_t i = 0; i < DC_ARRAY_LEN(sets); i++) {
        pset *s = &sets[i];
        if (!wanted(argc, argv, "--set", s->label))
            continue;
        if (pset_init(&e, s)) {
            for (size_t j = 0; j < DC_ARRAY_LEN(conv_cases); j++) {
                if (!wanted(argc, argv, "--case", conv_cases[j].why))
                    continue;
                run_conv(&e, s, &conv_cases[j], DC_TEST_GUARD);
                if (s->aligned)
                    run_conv(&e, s, &conv_cases[j], DC_TEST_GUARD_ALIGNED);
            }
            if (i == 1)
                test_rejects(&e, s);
        }
        printf("[%s] %d convs, %d with K split\n", s->label, s->convs, s->splits);
        pset_free(s);
    }
    /* The split is exercised where it should be, and only there (with every case). */
    if (argc == 1) {
        CHECKF(sets[0].splits == 0, "cpu set split %d convs with FILL 1", sets[0].splits);
        CHECKF(sets[1].splits >= 20, "gpu set split only %d convs", sets[1].splits);
        CHECKF(sets[2].splits > 0 && sets[2].splits < sets[2].convs, "mali set split %d of %d",
               sets[2].splits, sets[2].convs);
        CHECKF(sets[3].splits > 0 && sets[3].splits < sets[3].convs, "tiny set split %d of %d",
               sets[3].splits, sets[3].convs);
        test_shared_program(&e, &sets[3]);
    }
    /* A filter that matched nothing ran nothing: that is no pass. */
    {
        int convs = 0;
        for (size_t i = 0; i < DC_ARRAY_LEN(sets); i++)
            convs += sets[i].convs;
        CHECKF(convs > 0, "no conv case ran");
    }
    env_free(&e);
    return check_summary();
}
