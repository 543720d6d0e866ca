/* SPDX-License-Identifier: MIT */
/*
 * runtime.h - the model on devices: programs (sources, builds, binaries, the cache), the
 * kernels every program has, engines, replicas and runs (engine_impl.h), the self-test. Not
 * installed.
 *
 *   program.c    embedded kernels.cl and kernels/, one program per device, build log, the
 *                kernels made from a program
 *   binaries.c   program binaries, the kernel cache, dc_program_get, densecl_compile_kernels
 *   pools.c      the pools' and the classifier's kernels and launchers
 *   engine.c     the engine handle: plan and fold once, a replica per device, accessors
 *   replica.c    a replica: the plan bound to one device, its ops bound to its buffers
 *   sched.c      runs: a batch split over the replicas in chunks, failover, calibration
 *   limits.c     images per chunk: device memory, host memory on CPU devices
 *   profile.c    a run's per-op events into the engine's profile
 *   selftest.c   densecl_device_selftest
 *   tools_api.c  the dc_tool_* functions of tools_internal.h
 */
#ifndef DENSECL_RUNTIME_H
#define DENSECL_RUNTIME_H

#include "conv/conv.h"

/* ---------------------------------------------------------------- pools.c */

/* The kernels every program has (kernels/pool.cl), created once per program. Conv kernels
 * belong to their family (conv/conv.h). */
typedef struct dc_kernels {
    cl_kernel maxpool;
    cl_kernel bnrelu_avgpool;
    cl_kernel bnrelu_gap;
    cl_kernel linear;
    /* Their GPU shapes (kernels/pool.cl): a work-item per output pixel, a work-group per
     * classifier output (bnrelu_gap serves both, in larger groups on GPUs). */
    cl_kernel maxpool_px;
    cl_kernel bnrelu_avgpool_px;
    cl_kernel linear_wg;
    int gpu; /* the one-off launchers below: 1 for the GPU shapes (tests set it) */
} dc_kernels;

densecl_status dc_kernels_create(cl_program prog, dc_kernels *k);
void dc_kernels_release(dc_kernels *k);

typedef struct dc_pool_args {
    dc_mem in;  /* [n, in_ctot, in_h, in_w], reads channels [0, c) */
    dc_mem pre; /* [2, c] BN+ReLU prologue (avgpool, gap), or buf == NULL */
    dc_mem out; /* pools: [n, out_ctot, out_h, out_w] at out_coff; gap: [n, c] */
    int n, c, in_ctot, in_h, in_w;
    int out_ctot, out_coff, out_h, out_w;
    int k, stride, pad; /* maxpool window; avgpool is always 2/2/0 */
} dc_pool_args;

typedef struct dc_linear_args {
    dc_mem in;     /* [n, cin] */
    dc_mem weight; /* [cout, cin] */
    dc_mem bias;   /* [cout] */
    dc_mem out;    /* [n, cout] */
    int n, cin, cout;
} dc_linear_args;

/* The kernels of kernels/pool.cl, in dc_kernels order. */
typedef enum dc_pool_kind {
    DC_POOL_MAX,
    DC_POOL_AVG,
    DC_POOL_GAP,
    DC_POOL_LINEAR,
    DC_POOL_KINDS
} dc_pool_kind;
/* Binds one op of kind to its arguments (a dc_pool_args, or a dc_linear_args for LINEAR) as a
 * conv family's bind() does: its own kernel object, made from prog the first time. gpu: the
 * GPU shapes (a work-item per output pixel in groups of 128, a work-group of 64 per classifier
 * output), for GPU devices and profiles. */
cl_int dc_pool_bind(cl_program prog, cl_device_id dev, dc_pool_kind kind, const void *args, int gpu,
                    dc_bound **bound);
/* Enqueue one kernel once, on the program's shared kernel; ev may be NULL. Return the OpenCL
 * error (CL_SUCCESS on success). */
cl_int dc_enqueue_maxpool(cl_command_queue q, const dc_kernels *k, const dc_pool_args *a,
                          cl_event *ev);
cl_int dc_enqueue_bnrelu_avgpool(cl_command_queue q, const dc_kernels *k, const dc_pool_args *a,
                                 cl_event *ev);
cl_int dc_enqueue_bnrelu_gap(cl_command_queue q, const dc_kernels *k, const dc_pool_args *a,
                             cl_event *ev);
cl_int dc_enqueue_linear(cl_command_queue q, const dc_kernels *k, const dc_linear_args *a,
                         cl_event *ev);

/* ---------------------------------------------------------------- program.c */

/* The kernel sources of one program: kernels.cl's list (embedded, or read from disk beside
 * $DENSECL_KERNELS), without the files of families not in fams, each after a #line marker.
 * str[0..n) are what clCreateProgramWithSource takes. */
#define DC_MAX_SOURCES 32
typedef struct dc_sources {
    int n;
    const char *str[2 * DC_MAX_SOURCES];
    char marker[DC_MAX_SOURCES][160];
    char *owned[DC_MAX_SOURCES + 1]; /* read from disk: freed by dc_sources_free */
} dc_sources;
/* fams: bit i for dc_families[i] (conv/conv.h); ~0u: every family. DENSECL_ERR_IO naming the file
 * when one is missing (a family's file that kernels.cl does not list included). */
densecl_status dc_sources_get(unsigned fams, dc_sources *s);
void dc_sources_free(dc_sources *s);

/* Builds the sources of fams for dev in ctx with "-cl-std=CLx.y" from
 * CL_DEVICE_OPENCL_C_VERSION, then options (may be NULL: each family's kernels have defaults).
 * DENSECL_ERR_BUILD with the build log in the detail (its file:line point into kernels/). */
/* The options a program is built with for dev: -cl-std from its OpenCL C version, extra (the
 * resolved families' -D options), then $DENSECL_BUILD_OPTIONS. Builds and cache keys use it. */
void dc_program_options(cl_device_id dev, const char *extra, char *options, size_t cap);
densecl_status dc_program_build(cl_context ctx, cl_device_id dev, unsigned fams,
                                const char *options, cl_program *out);
/* How the engine gets its program: from a binary file, from the cache, or from source. */
typedef struct dc_program_opts {
    const char *binary_path; /* a file written by dc_program_save (compile-kernels) */
    int no_cache;            /* neither read nor write the on-disk cache */
    const dc_resolved *res;  /* what to build (conv/conv.h) */
    const dc_caps *caps;     /* the device's, for the families' kernels */
} dc_program_opts;

/* A program's kernels, made once from it: the common ones (pools.c) and each used family's
 * state (its create()), index i for dc_families[i], NULL for the others. */
typedef struct dc_program_kernels {
    dc_kernels common;
    void *fam[DC_FAMILY_SLOTS];
} dc_program_kernels;
densecl_status dc_program_kernels_create(cl_program prog, const dc_caps *caps,
                                         const dc_resolved *res, dc_program_kernels *k);
void dc_program_kernels_release(dc_program_kernels *k);

/* The resolution a program binary was built with (its key's "resolved=" line, parsed strictly)
 * into text (cap bytes); DENSECL_ERR_FORMAT/IO naming the file. */
densecl_status dc_program_binary_resolved(const char *path, char *text, size_t cap);
/* The program for dev: binary_path when given (refused if built for another device, driver,
 * kernel sources or resolution), else a valid cache entry, else built from source (and then
 * cached). A device without a compiler needs a binary or a cache entry. */
densecl_status dc_program_get(cl_context ctx, cl_device_id dev, const dc_program_opts *o,
                              cl_program *out, dc_program_kernels *kern);
/* Writes prog's binary for dev, built from res, to path in densecl's binary format
 * (atomically). */
densecl_status dc_program_save(cl_program prog, cl_device_id dev, const struct dc_resolved *res,
                               const char *path);
/* ---------------------------------------------------------------- engine.c */

/* Test hook: the enqueue of replica r's op after `after_ops` more op enqueues fails with err
 * (e.g. CL_OUT_OF_RESOURCES), as a device failing mid-run would. err = CL_SUCCESS disarms.
 * err = DC_FAULT_AT_RUN: the enqueue succeeds, but the wait finds that chunk's commands failed,
 * as with a device lost while a job runs. */
#define DC_FAULT_AT_RUN (-9999)
void dc_engine_inject_fault(densecl_engine *e, int replica, int after_ops, cl_int err);

/* ---------------------------------------------------------------- selftest.c */

/* The first max_lines lines of text, malloc'ed ("... (N more lines)" marks a cut); NULL when
 * out of memory. A build log shown in a report. */
char *dc_head_lines(const char *text, int max_lines);

#endif /* DENSECL_RUNTIME_H */
