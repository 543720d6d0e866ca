/*
 * family.h - convolution kernel families: one algorithm each, behind one small vtable (as pocl
 * does per device driver, and dlprimitives with a class per conv algorithm).
 *
 * A family names the kernel sources it needs, says which convs it can run on a device, declares
 * its tunable parameters (named ints: -D macros for kernels, or call arguments for a library),
 * packs the weights as its kernels read them, says how much scratch memory a conv needs, and
 * enqueues a conv. A replica resolves, once, which family runs each conv and with which
 * parameters (dc_resolve); nothing changes them afterwards.
 *
 * Families today: "direct" (register tiles per work-item, CPU-shaped: host/conv_direct.c,
 * kernels/direct.cl), "gemm" (local-memory tiled GEMM / implicit GEMM for GPUs:
 * host/conv_gemm.c, kernels/gemm.cl), "clblast" (CLBlast's GEMMs on the engine's queue after a
 * BN+ReLU / im2col pre-pass: host/conv_clblast.c, kernels/clblast.cl).
 */
#ifndef DENSECL_FAMILY_H
#define DENSECL_FAMILY_H

#include "internal.h"

#define DC_FAMILY_MAX_PARAMS 16

/* What a family may decide on: the device's capabilities, read once per replica. Tests lower
 * local_mem and max_work_group to cover small (Mali-sized) devices on any device. */
typedef struct dc_caps {
    cl_device_id dev;
    cl_device_type type;
    cl_ulong local_mem;          /* CL_DEVICE_LOCAL_MEM_SIZE, bytes */
    int local_mem_is_global;     /* CL_DEVICE_LOCAL_MEM_TYPE is CL_GLOBAL (emulated, e.g. POCL) */
    size_t max_work_group;       /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    cl_uint compute_units;       /* CL_DEVICE_MAX_COMPUTE_UNITS */
    cl_uint native_vector_float; /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT */
    int has_fma;                 /* CL_FP_FMA in CL_DEVICE_SINGLE_FP_CONFIG */
    int has_compiler;            /* CL_DEVICE_COMPILER_AVAILABLE */
    char name[256], vendor[256];
} dc_caps;

/* One tunable parameter. */
typedef struct dc_param_spec {
    const char *name; /* as in the -D macro and in kernel_params text: "MWG" */
    int lo, hi;       /* allowed range; the family's check() adds the finer rules */
    const char *doc;  /* one line for `densecl info` and --help */
} dc_param_spec;

/* A family's parameter values, indexed like its dc_param_spec table. */
typedef struct dc_params {
    int v[DC_FAMILY_MAX_PARAMS];
} dc_params;

typedef struct dc_family {
    const char *name;            /* "direct", "gemm", "clblast" */
    const char *const *sources;  /* kernels/ files it needs besides kernels/common.cl, in build
                                    order, NULL-terminated; e.g. {"gemm.cl", NULL} */
    const dc_param_spec *params; /* its parameters */
    int n_params;
    /* 1 if the family can run op on this device; else 0 with the reason in why (a sentence
     * without a trailing period: "local memory of 16384 bytes is below the 24576 the tile needs"). */
    int (*supports)(const dc_caps *caps, const dc_op *op, char *why, size_t cap);
    /* The defaults for this device and model (plan: the replica's plan; for fitting tiles). */
    void (*defaults)(const dc_caps *caps, const dc_plan *plan, dc_params *p);
    /* DENSECL_ERR_ARGUMENT naming `what` and the parameter when p is invalid on this device. */
    densecl_status (*check)(const dc_caps *caps, const dc_params *p, const char *what);
    /* The -D options its kernels take (appended to buf; "" for a library family). */
    void (*defines)(const dc_params *p, const dc_plan *plan, char *buf, size_t cap);
    /* Packs PyTorch-layout weights [cout, cin, k, k] of op into the family's layout. Returns the
     * packed length in floats (0 on overflow); with out == NULL only computes it. */
    size_t (*pack)(const dc_op *op, const dc_params *p, const float *w, float *out);
    /* Scratch floats one launch of op on a batch of n images needs (0: none). The plan's ops
     * describe the whole batch but do not carry n, hence the argument. */
    size_t (*workspace)(const dc_op *op, int n, const dc_params *p);
    /* Creates its kernels from the replica's program (state owned by the family). */
    densecl_status (*create)(cl_program prog, const dc_caps *caps, const dc_params *p,
                             void **state);
    void (*release)(void *state);
    /* Enqueues one conv: a->weight packed by pack(), ws a scratch buffer of workspace() floats
     * (buf NULL when 0). Returns the OpenCL error (CL_SUCCESS on success). */
    cl_int (*enqueue)(cl_command_queue q, void *state, const dc_params *p, const dc_conv_args *a,
                      dc_mem ws, cl_event *ev);
} dc_family;

extern const dc_family dc_family_direct;
extern const dc_family dc_family_gemm;
extern const dc_family dc_family_clblast;

#endif /* DENSECL_FAMILY_H */
