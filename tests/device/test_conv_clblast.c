/* SPDX-License-Identifier: MIT */
/* test_conv_clblast.c - the "clblast" conv family (host/conv/clblast.c, kernels/clblast.cl)
 * driven through its vtable, as an engine drives it, against the naive reference ref_conv2d:
 * 1x1 convs reading a channel prefix and writing at a channel offset (the GEMM on the input
 * itself, and after the BN+ReLU pre-pass), in place, 3x3 pad 1, the 7x7/2 stem, strided and
 * padded 1x1s through im2col, bias and ReLU, batches 1 and 3, output channels that are not
 * multiples of 16, and batches that the workspace cap splits into chunks.
 *
 * The program is built from the files on disk (the source tree built from, or
 * $DENSECL_SOURCE_DIR), kernels/abi.h then kernels/clblast.cl (and once more after the direct
 * family's files, as another family's file would precede it, to show the names do not collide).
 *
 * Tolerance and guard bands as in test_ops.c: |got - ref| <= 1e-5 + 1e-4 * |ref| for every
 * written value; the output buffer's guards and unwritten channels start as a NaN
 * sentinel that must survive bit-exact; inputs sit between poison NaNs and the channels past
 * the read prefix are poison, so a stray read shows. The workspace has guards too: nothing may
 * be written past the size workspace() reported.
 *
 * CLBlast missing from the build, no device, or kernels that do not build: failures, never
 * skips. */
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
#error "DENSECL_SOURCE_DIR must name the source tree (tests/CMakeLists.txt sets it)"
#endif

typedef struct env {
    cl_device_id dev;
    cl_context ctx;
    cl_command_queue q;
    dc_caps caps;
    void *state; /* the family's, from create() */
} env;

static const dc_family *const fam = &dc_family_clblast;

/* ------------------------------------------------------------------------ cases */

/* A conv case, and the family's parameter and workspace it is run with. */
typedef struct clblast_case {
    conv_case c;
    int ws_mib; /* WS_MIB, 0: the device's default */
    int chunks; /* > 0: the workspace must hold only ceil(n / chunks) images' matrices */
} clblast_case;

static const clblast_case cases[] = {
    /* n cin ctot h  w  cout otot coff k s p pre bias relu inpl, ws chunks */
    {{1, 37, 45, 13, 11, 21, 30, 5, 1, 1, 0, 0, 0, 0, 0, "1x1 on the input: prefix, offset"}, 0, 0},
    {{3, 37, 45, 13, 11, 21, 30, 5, 1, 1, 0, 0, 1, 1, 0, "1x1 on the input, batch 3, epilogue"},
     0,
     0},
    {{1, 37, 45, 13, 11, 21, 30, 5, 1, 1, 0, 1, 1, 1, 0, "1x1 pre-pass, bias, relu"}, 0, 0},
    {{3, 40, 48, 7, 7, 30, 64, 33, 1, 1, 0, 1, 0, 1, 0, "1x1 pre-pass, batch 3, relu only"}, 0, 0},
    {{3, 128, 200, 14, 14, 128, 128, 0, 1, 1, 0, 1, 1, 1, 0, "DenseNet bottleneck 1x1"}, 0, 0},
    {{2, 96, 96, 14, 14, 48, 48, 0, 1, 1, 0, 0, 1, 0, 0, "transition 1x1: bias only"}, 0, 0},
    {{1, 20, 28, 6, 5, 8, 28, 20, 1, 1, 0, 0, 1, 1, 1, "1x1 on the input, in place"}, 0, 0},
    {{3, 20, 28, 6, 5, 8, 28, 20, 1, 1, 0, 1, 1, 1, 1, "1x1 pre-pass, in place, batch 3"}, 0, 0},
    {{1, 48, 48, 20, 21, 17, 20, 1, 3, 1, 1, 1, 1, 1, 0, "3x3 pad 1, prologue: pads 0"}, 0, 0},
    {{3, 19, 19, 9, 17, 33, 40, 7, 3, 1, 1, 0, 0, 0, 0, "3x3 pad 1, batch 3, plain"}, 0, 0},
    {{2, 128, 128, 14, 14, 32, 200, 128, 3, 1, 1, 1, 0, 0, 0, "DenseNet growth 3x3"}, 0, 0},
    {{2, 12, 36, 9, 10, 12, 36, 12, 3, 1, 1, 1, 0, 0, 1, "3x3 in place (no bottleneck)"}, 0, 0},
    {{1, 3, 3, 29, 31, 64, 64, 0, 7, 2, 3, 0, 1, 1, 0, "ImageNet stem 7x7/2"}, 0, 0},
    {{3, 3, 3, 37, 35, 20, 24, 2, 7, 2, 3, 0, 1, 1, 0, "7x7/2 stem, batch 3, at an offset"}, 0, 0},
    {{2, 5, 8, 23, 20, 17, 20, 3, 7, 2, 3, 1, 1, 0, 0, "7x7/2 with prologue"}, 0, 0},
    {{1, 10, 10, 9, 9, 5, 5, 0, 1, 2, 0, 1, 1, 0, 0, "1x1/2 through im2col"}, 0, 0},
    {{1, 4, 4, 6, 7, 3, 3, 0, 1, 1, 1, 1, 0, 1, 0, "1x1 pad 1: border 0, not P(0)"}, 0, 0},
    {{2, 3, 5, 10, 9, 9, 9, 0, 5, 1, 2, 0, 1, 1, 0, "5x5 pad 2"}, 0, 0},
    {{2, 1, 1, 5, 5, 2, 2, 0, 7, 2, 3, 1, 1, 1, 0, "window larger than the image"}, 0, 0},
    /* 3x3: 144 x 400 floats an image, 4 images per MiB: chunks of 4, 4, 2. */
    {{10, 16, 20, 20, 20, 13, 30, 9, 3, 1, 1, 1, 1, 1, 0, "3x3 batch 10 in chunks of 4"}, 1, 3},
    /* 1x1 pre-pass: 64 x 64 x 64 floats, exactly one image per MiB. */
    {{3, 64, 70, 64, 64, 15, 20, 4, 1, 1, 0, 1, 0, 1, 0, "1x1 pre-pass, one image a chunk"}, 1, 3},
    /* 7x7/2: 147 x 784 floats an image, 2 per MiB: chunks of 2, 2, 1. */
    {{5, 3, 3, 56, 56, 24, 24, 0, 7, 2, 3, 0, 1, 1, 0, "stem batch 5 in chunks of 2"}, 1, 3},
};

/* The family's own rules for case cc under p: pack() keeps PyTorch's layout as it is (shown on
 * a ramp of weights, so that no random value is drawn here), workspace() is none where the GEMM
 * reads the input, else whole images' im2col matrices, split into chunks under the cap. */
static void check_pack_workspace(const clblast_case *cc, const dc_params *p, const char *what)
{
    const conv_case *c = &cc->c;
    const dc_op op = conv_case_op(c);
    const size_t w_count = (size_t)c->cout * c->cin * c->k * c->k;
    const size_t per_image = (size_t)c->cin * c->k * c->k * op.out_h * op.out_w;
    float *w = alloc_floats(w_count, 0), *packed;
    size_t packed_len, ws_len;
    for (size_t i = 0; i < w_count; i++)
        w[i] = (float)(i % 1000) - 500.0f;
    packed_len = fam->pack(&op, p, w, NULL);
    CHECKF(packed_len == w_count, "%s: pack length %zu, want %zu", what, packed_len, w_count);
    packed = alloc_floats(packed_len, 0);
    CHECKF(fam->pack(&op, p, w, packed) == packed_len &&
               memcmp(packed, w, w_count * sizeof *w) == 0,
           "%s: packed weights differ from PyTorch's layout", what);
    ws_len = fam->workspace(&op, c->n, p);
    if (c->k == 1 && c->stride == 1 && c->pad == 0 && !c->pre) {
        CHECKF(ws_len == 0, "%s: workspace %zu floats, want 0", what, ws_len);
    } else if (cc->chunks) {
        size_t per_chunk = (size_t)(c->n + cc->chunks - 1) / cc->chunks;
        CHECKF(ws_len == per_chunk * per_image, "%s: workspace %zu floats, want %zu images of %zu",
               what, ws_len, per_chunk, per_image);
    } else {
        CHECKF(ws_len == (size_t)c->n * per_image, "%s: workspace %zu floats, want %d x %zu", what,
               ws_len, c->n, per_image);
    }
    free(w);
    free(packed);
}

/* Case cc with its WS_MIB: the family's rules, then the conv through conv_run.h, the family's
 * event waited on and its workspace's guards checked. */
static void run_case(const env *e, const clblast_case *cc)
{
    const conv_case *c = &cc->c;
    dc_params p;
    char what[200];
    snprintf(what, sizeof what, "clblast conv %dx%d/%d/%d n%d %d(%d)x%dx%d -> %d at %d of %d (%s)",
             c->k, c->k, c->stride, c->pad, c->n, c->cin, c->in_ctot, c->h, c->w, c->cout,
             c->out_coff, c->out_ctot, c->why);
    fam->defaults(&e->caps, NULL, &p);
    if (cc->ws_mib)
        p.v[0] = cc->ws_mib;
    CHECKF(fam->check(&e->caps, &p, what) == DENSECL_OK, "%s: check: %s", what,
           densecl_last_error());
    check_pack_workspace(cc, &p, what);
    conv_run r = {.fam = fam,
                  .p = &p,
                  .state = e->state,
                  .caps = &e->caps,
                  .ctx = e->ctx,
                  .q = e->q,
                  .label = "clblast",
                  .must_support = 1,
                  .ws_sentinel = 1,
                  .wait_event = 1};
    conv_run_case(&r, c);
}

/* ------------------------------------------------------------------------ the vtable's edges */

static void test_vtable(const env *e)
{
    dc_params p;
    dc_op pool, conv;
    char why[256] = "";
    conv_case c = {1, 8, 8, 6, 6, 4, 4, 0, 3, 1, 1, 1, 0, 0, 0, "edges"};
    CHECK(strcmp(fam->name, "clblast") == 0);
    CHECK(fam->sources && fam->sources[0] && strcmp(fam->sources[0], "clblast.cl") == 0 &&
          !fam->sources[1]);
    CHECK(fam->n_params == 1 && strcmp(fam->params[0].name, "WS_MIB") == 0);
    fam->defaults(&e->caps, NULL, &p);
    CHECKF(p.v[0] >= 1 && p.v[0] <= 256, "default WS_MIB %d", p.v[0]);
    CHECK(fam->check(&e->caps, &p, "defaults") == DENSECL_OK);
    p.v[0] = 0;
    CHECK(fam->check(&e->caps, &p, "zero cap") == DENSECL_ERR_ARGUMENT);
    CHECKF(strstr(densecl_last_error(), "WS_MIB") && strstr(densecl_last_error(), "zero cap"), "%s",
           densecl_last_error());
    p.v[0] = 4097;
    CHECK(fam->check(&e->caps, &p, "big cap") == DENSECL_ERR_ARGUMENT);
    /* A device whose largest buffer is 64 MiB: a smaller default, and no cap above it. */
    dc_device_limits_override((uint64_t)64 << 20, 0);
    fam->defaults(&e->caps, NULL, &p);
    CHECKF(p.v[0] == 16, "default WS_MIB %d with 64 MiB buffers, want 16", p.v[0]);
    p.v[0] = 65;
    CHECK(fam->check(&e->caps, &p, "cap past the buffer") == DENSECL_ERR_ARGUMENT);
    CHECKF(strstr(densecl_last_error(), "64 MiB") != NULL, "%s", densecl_last_error());
    p.v[0] = 64;
    CHECK(fam->check(&e->caps, &p, "cap of the buffer") == DENSECL_OK);
    dc_device_limits_override(0, 0);
    {
        char buf[16] = "";
        fam->defines(&p, NULL, buf, sizeof buf);
        CHECKF(buf[0] == '\0', "defines: '%s'", buf);
    }
    conv = conv_case_op(&c);
    pool = conv;
    pool.kind = DC_OP_MAXPOOL;
    CHECK(fam->supports(&e->caps, &conv, why, sizeof why) == 1);
    CHECK(fam->supports(&e->caps, &pool, why, sizeof why) == 0 && why[0] != '\0');
    {
        /* One image's im2col matrix must fit one buffer; a GEMM on the input needs none. */
        conv_case big = {1, 64, 64, 32, 32, 8, 8, 0, 3, 1, 1, 0, 0, 0, 0, "big"};
        conv_case flat = {1, 64, 64, 32, 32, 8, 8, 0, 1, 1, 0, 0, 0, 0, 0, "flat"};
        dc_op bop = conv_case_op(&big), fop = conv_case_op(&flat);
        dc_device_limits_override((uint64_t)1 << 20, 0);
        CHECK(fam->supports(&e->caps, &bop, why, sizeof why) == 0);
        CHECKF(strstr(why, "largest buffer") != NULL, "%s", why);
        CHECK(fam->supports(&e->caps, &fop, why, sizeof why) == 1);
        dc_device_limits_override(0, 0);
        CHECK(fam->supports(&e->caps, &bop, why, sizeof why) == 1);
    }
    /* The workspace grows with the batch, up to the cap, and not past it. */
    fam->defaults(&e->caps, NULL, &p);
    CHECK(fam->workspace(&conv, 2, &p) == 2 * fam->workspace(&conv, 1, &p));
    CHECK(fam->workspace(&conv, 1, &p) == 8 * 9 * 36);
    p.v[0] = 1;
    CHECK(fam->workspace(&conv, 100000, &p) <= ((size_t)1 << 20) / sizeof(float));
}

/* Inconsistent arguments are refused before anything is enqueued; a CLBlast failure comes back
 * as an OpenCL error with CLBlast's status named in the detail. */
static void test_rejects(const env *e)
{
    dc_params p;
    cl_mem m = dev_buffer(e->ctx, NULL, 4096, DC_TEST_SENTINEL);
    cl_mem small = dev_buffer(e->ctx, NULL, 10, DC_TEST_SENTINEL);
    dc_mem d = dev_mem(m), none = {NULL, 0};
    /* 1x1/1/0 8 -> 8 channels on 5x5, on the input itself. */
    dc_conv_args ok = {d, d, none, none, d, 1, 8, 16, 5, 5, 8, 16, 8, 5, 5, 1, 1, 0, 0};
    dc_conv_args a;
    cl_event ev = NULL;
    cl_int err;
    fam->defaults(&e->caps, NULL, &p);
    if (!m || !small)
        goto done;
    a = ok;
    a.cin = 17; /* more than in_ctot */
    CHECK(dc_conv_enqueue(fam, e->q, e->state, &p, &a, none, NULL) == CL_INVALID_VALUE);
    a = ok;
    a.out_coff = 9; /* past out_ctot */
    CHECK(dc_conv_enqueue(fam, e->q, e->state, &p, &a, none, NULL) == CL_INVALID_VALUE);
    a = ok;
    a.out_h = 6;
    CHECK(dc_conv_enqueue(fam, e->q, e->state, &p, &a, none, NULL) == CL_INVALID_VALUE);
    a = ok;
    a.k = 3;
    a.pad = 1; /* needs a workspace, given none */
    CHECK(dc_conv_enqueue(fam, e->q, e->state, &p, &a, none, NULL) == CL_INVALID_MEM_OBJECT);
    CHECK(dc_conv_enqueue(fam, e->q, e->state, &p, &a, dev_mem(small), NULL) ==
          CL_INVALID_BUFFER_SIZE);
    CHECK(dc_conv_enqueue(fam, e->q, NULL, &p, &ok, none, NULL) == CL_INVALID_KERNEL);
    /* Weights in a buffer of 10 floats: CLBlast refuses matrix A. */
    a = ok;
    a.weight = dev_mem(small);
    err = dc_conv_enqueue(fam, e->q, e->state, &p, &a, none, &ev);
    CHECKF(err == CL_INVALID_BUFFER_SIZE, "short A: %s", dc_cl_error_name(err));
    CHECKF(strstr(densecl_last_error(), "CLBlastInsufficientMemoryA") != NULL, "short A: %s",
           densecl_last_error());
    CHECK(ev == NULL);
    {
        /* An out-of-order queue would let the GEMM pass its pre-pass: refused, where the device
         * offers one at all. */
        cl_command_queue ooo =
            clCreateCommandQueue(e->ctx, e->dev, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
        if (err == CL_SUCCESS) {
            CHECK(dc_conv_enqueue(fam, ooo, e->state, &p, &ok, none, NULL) ==
                  CL_INVALID_COMMAND_QUEUE);
            CHECKF(strstr(densecl_last_error(), "in-order") != NULL, "%s", densecl_last_error());
            clReleaseCommandQueue(ooo);
        } else {
            printf("note: the device has no out-of-order queues (%s)\n", dc_cl_error_name(err));
        }
    }
    /* The accepted form, to show the refusals above are about the one changed field. */
    err = dc_conv_enqueue(fam, e->q, e->state, &p, &ok, none, &ev);
    CHECKF(err == CL_SUCCESS && ev, "valid conv refused: %s (%s)", dc_cl_error_name(err),
           densecl_last_error());
    if (ev)
        clReleaseEvent(ev);
    clFinish(e->q);
done:
    release_mem(m);
    release_mem(small);
}

/* ------------------------------------------------------------------------ setup */

static char *read_text(const char *rel)
{
    char path[1024];
    FILE *f;
    long len;
    char *s = NULL;
    /* $DENSECL_SOURCE_DIR: a source tree elsewhere than the one built from (tools/dev/gpu_check.sh
     * runs the binary on another machine). */
    const char *root = getenv("DENSECL_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/%s", root && *root ? root : DENSECL_SOURCE_DIR, rel);
    f = fopen(path, "rb");
    CHECKF(f != NULL, "cannot open %s", path);
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        s = malloc((size_t)len + 1);
        if (s && fread(s, 1, (size_t)len, f) == (size_t)len) {
            s[len] = '\0';
        } else {
            free(s);
            s = NULL;
        }
    }
    fclose(f);
    CHECKF(s != NULL, "cannot read %s", path);
    return s;
}

/* Builds the named files, concatenated, with the device's -cl-std and extra options. */
static cl_program build(const env *e, const char *const *files, const char *extra)
{
    const char *text[4];
    char *owned[4] = {NULL, NULL, NULL, NULL};
    char ver[128] = "", opts[512], std[32];
    cl_uint count = 0;
    cl_int err;
    cl_program prog = NULL;
    for (; files[count] && count < 4; count++) {
        owned[count] = read_text(files[count]);
        if (!owned[count])
            goto done;
        text[count] = owned[count];
    }
    clGetDeviceInfo(e->dev, CL_DEVICE_OPENCL_C_VERSION, sizeof ver, ver, NULL);
    dc_cl_std_from(ver, std, sizeof std);
    snprintf(opts, sizeof opts, "%s %s", std, extra ? extra : "");
    prog = clCreateProgramWithSource(e->ctx, count, text, NULL, &err);
    CHECKF(err == CL_SUCCESS, "clCreateProgramWithSource: %s", dc_cl_error_name(err));
    if (err != CL_SUCCESS)
        goto done;
    err = clBuildProgram(prog, 1, &e->dev, opts, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[8192] = "";
        clGetProgramBuildInfo(prog, e->dev, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
        CHECKF(err == CL_SUCCESS, "%s + %s did not build (%s): %s\n%s", files[0], files[1], opts,
               dc_cl_error_name(err), log);
        clReleaseProgram(prog);
        prog = NULL;
    }
done:
    for (cl_uint i = 0; i < 4; i++)
        free(owned[i]);
    return prog;
}

static void fill_caps(env *e)
{
    cl_device_local_mem_type lt = CL_LOCAL;
    cl_device_fp_config fp = 0;
    cl_bool compiler = CL_FALSE;
    dc_caps *c = &e->caps;
    memset(c, 0, sizeof *c);
    c->dev = e->dev;
    clGetDeviceInfo(e->dev, CL_DEVICE_TYPE, sizeof c->type, &c->type, NULL);
    clGetDeviceInfo(e->dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof c->local_mem, &c->local_mem, NULL);
    clGetDeviceInfo(e->dev, CL_DEVICE_LOCAL_MEM_TYPE, sizeof lt, &lt, NULL);
    c->local_mem_is_global = lt == CL_GLOBAL;
    clGetDeviceInfo(e->dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof c->max_work_group,
                    &c->max_work_group, NULL);
    clGetDeviceInfo(e->dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof c->compute_units, &c->compute_units,
                    NULL);
    clGetDeviceInfo(e->dev, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof c->native_vector_float,
                    &c->native_vector_float, NULL);
    clGetDeviceInfo(e->dev, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    c->has_fma = (fp & CL_FP_FMA) != 0;
    clGetDeviceInfo(e->dev, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);
    c->has_compiler = compiler == CL_TRUE;
    clGetDeviceInfo(e->dev, CL_DEVICE_NAME, sizeof c->name, c->name, NULL);
    clGetDeviceInfo(e->dev, CL_DEVICE_VENDOR, sizeof c->vendor, c->vendor, NULL);
}

static int env_init(env *e)
{
    static const char *const own[] = {"kernels/abi.h", "kernels/clblast.cl", NULL};
    /* After another family's files (direct.cl, one conv kernel to keep the build short), as a
     * family's file may be preceded by others in the engine's program. */
    static const char *const after[] = {"kernels/abi.h", "kernels/common.cl", "kernels/direct.cl",
                                        "kernels/clblast.cl", NULL};
    densecl_device_info info;
    densecl_status st;
    dc_params p;
    cl_program prog;
    cl_int err;
    char why[256] = "";
    dc_op probe;
    memset(e, 0, sizeof *e);
    memset(&probe, 0, sizeof probe);
    probe.kind = DC_OP_CONV;
    probe.in_c = probe.in_ctot = probe.out_c = probe.out_ctot = 1;
    probe.in_h = probe.in_w = probe.out_h = probe.out_w = probe.k = probe.stride = 1;
    st = dc_device_pick("auto", &e->dev, &info);
    CHECKF(st == DENSECL_OK, "no OpenCL device: %s", densecl_last_error());
    if (st != DENSECL_OK)
        return 0;
    printf("device: %s (%s)\n", info.name, info.opencl_c_version);
    fill_caps(e);
    /* Built without CLBlast, the family says so: that is this test's failure. */
    CHECKF(fam->supports(&e->caps, &probe, why, sizeof why) == 1, "clblast family: %s", why);
    e->ctx = clCreateContext(NULL, 1, &e->dev, NULL, NULL, &err);
    CHECKF(err == CL_SUCCESS, "clCreateContext: %s", dc_cl_error_name(err));
    if (err != CL_SUCCESS)
        return 0;
    e->q = clCreateCommandQueue(e->ctx, e->dev, 0, &err);
    CHECKF(err == CL_SUCCESS, "clCreateCommandQueue: %s", dc_cl_error_name(err));
    if (err != CL_SUCCESS)
        return 0;
    prog = build(e, after, "-DCONV_KERNELS=1");
    if (prog) {
        cl_kernel k = clCreateKernel(prog, "densecl_clblast_im2col", &err);
        CHECKF(err == CL_SUCCESS, "im2col after direct.cl: %s", dc_cl_error_name(err));
        if (k)
            clReleaseKernel(k);
        clReleaseProgram(prog);
    }
    prog = build(e, own, NULL);
    if (!prog)
        return 0;
    fam->defaults(&e->caps, NULL, &p);
    st = fam->create(prog, &e->caps, &p, &e->state);
    CHECKF(st == DENSECL_OK && e->state, "create: %s", densecl_last_error());
    clReleaseProgram(prog); /* the kernels keep it */
    return st == DENSECL_OK;
}

static void env_free(env *e)
{
    fam->release(e->state);
    if (e->q)
        clReleaseCommandQueue(e->q);
    if (e->ctx)
        clReleaseContext(e->ctx);
}

int main(void)
{
    env e;
    urand_seed(987654u); /* this test's data, as before the helpers were shared */
    if (env_init(&e)) {
        test_vtable(&e);
        test_rejects(&e);
        for (size_t i = 0; i < DC_ARRAY_LEN(cases); i++)
            run_case(&e, &cases[i]);
    }
    env_free(&e);
    return check_summary();
}
