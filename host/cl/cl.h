/* SPDX-License-Identifier: MIT */
/*
 * cl.h - OpenCL as densecl uses it: error names and the checking macro, device discovery and
 * facts, the capabilities a kernel family decides on, kernel creation, argument setting and
 * the launch helper. Knows no DenseNet. Not installed.
 *
 *   error.c    OpenCL error names, and the status each maps to
 *   device.c   platform/device discovery, spec matching, the -cl-std a device takes
 *   caps.c     a device's capabilities for the kernel families
 *   device_profile.c  the device profiles (DENSECL_DEVICE_PROFILE) caps.c reads instead
 *   launch.c   kernels by name, argument setting, work sizes and launches
 */
#ifndef DENSECL_CL_H
#define DENSECL_CL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "base/base.h"

/* ---------------------------------------------------------------- error.c */

/* "CL_OUT_OF_RESOURCES" for -5; "CL_UNKNOWN_ERROR(-N)" in a static per-thread buffer otherwise. */
const char *dc_cl_error_name(cl_int err);

/* Checks an OpenCL call. On failure records "<expr> failed: CL_NAME (file:line)" as
 * DENSECL_ERR_OPENCL into `st` and jumps to `fail` (the function's single cleanup label). */
#define DC_CL_TRY(st, expr)                                                                        \
    do {                                                                                           \
        cl_int dc_err_ = (expr);                                                                   \
        if (dc_err_ != CL_SUCCESS) {                                                               \
            (st) = dc_error(dc_cl_status(dc_err_), "%s failed: %s (%s:%d)", #expr,                 \
                            dc_cl_error_name(dc_err_), __FILE__, __LINE__);                        \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)
/* DENSECL_ERR_NO_MEMORY for allocation failures, DENSECL_ERR_OPENCL otherwise. */
densecl_status dc_cl_status(cl_int err);

/* ---------------------------------------------------------------- device.c */

/* Test hook: devices report at most these limits (0 = as the driver says), so tests can prove
 * that oversized weights are refused and oversized batches split, on any device. */
void dc_device_limits_override(uint64_t max_alloc_bytes, uint64_t global_mem_bytes);

/* src[0..len) into out[cap], NUL-terminated, without trailing NULs and spaces; a string that
 * does not fit is cut and ends in "..." (visibly cut, never empty). */
void dc_str_fit(char *out, size_t cap, const char *src, size_t len);
/* A device string (CL_DEVICE_NAME, CL_DEVICE_VERSION, ...) of any length into out[cap]: asked
 * for at its own length, cut with "..." where longer than out (device.c). */
void dc_info_str(cl_device_id dev, cl_device_info what, char *out, size_t cap);
/* Fills info for a device (indices are only filled by the listing). */
void dc_device_describe(cl_device_id dev, densecl_device_info *info);
/* Resolves spec to a cl_device_id and its info. */
densecl_status dc_device_pick(const char *spec, cl_device_id *dev, densecl_device_info *info);
/* 1 if needle occurs in hay, ASCII case ignored (an empty needle occurs everywhere). */
int dc_contains_nocase(const char *hay, const char *needle);
/* Why POCL cannot write its kernel cache, where it keeps it ($POCL_CACHE_DIR, else
 * $XDG_CACHE_HOME/pocl/kcache, else $HOME/.cache/pocl/kcache): that directory, or the nearest
 * existing one above it that must hold it, is not writable (a read-only file system or home, as
 * in a read-only container). POCL then builds no kernel, and with its default directory finds
 * no device at all. Writes one sentence that names the directory, the reason and the remedy
 * into buf and returns 1; 0 when the cache looks writable. */
int dc_pocl_cache_problem(char *buf, size_t cap);
/* 1 when dev's platform is POCL ("Portable Computing Language"). */
int dc_device_is_pocl(cl_device_id dev);
/* Resolves "all" or a comma-separated list of specs to distinct devices (at most max). */
densecl_status dc_device_pick_many(const char *spec, cl_device_id *devs, densecl_device_info *infos,
                                   int max, int *count);

/* "-cl-std=CLx.y" from a CL_DEVICE_OPENCL_C_VERSION string, "OpenCL C x.y ..." (never from the
 * platform version: POCL 3.1 says platform 3.0 but OpenCL C 1.2); CL1.2 when it does not parse. */
void dc_cl_std_from(const char *opencl_c_version, char *out, size_t cap);

/* ---------------------------------------------------------------- device_profile.c */

/* A device profile (DENSECL_DEVICE_PROFILE): the capabilities a device's OpenCL driver reports,
 * which the conv resolution reads instead of the real device's (dc_caps_query). */
typedef struct dc_device_profile {
    char name[64];               /* "nvidia-h200", or a file's "name" */
    char device_name[128];       /* CL_DEVICE_NAME */
    char vendor[128];            /* CL_DEVICE_VENDOR */
    cl_device_type type;         /* GPU, CPU or ACCELERATOR */
    cl_uint compute_units;       /* CL_DEVICE_MAX_COMPUTE_UNITS as the driver reports them */
    char compute_unit[32];       /* what those are: "SM", "CU", "EU", "shader core" */
    cl_uint cores;               /* the units a fill target counts (Intel: Xe-cores, not EUs) */
    char core[32];               /* what those are: "Xe-core"; compute_unit when the same */
    cl_ulong local_mem;          /* CL_DEVICE_LOCAL_MEM_SIZE, bytes */
    int local_mem_is_global;     /* CL_DEVICE_LOCAL_MEM_TYPE is CL_GLOBAL (Mali) */
    size_t max_work_group;       /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    cl_uint wg_multiple;         /* preferred work-group size multiple: warp, wavefront, SIMD */
    cl_uint native_vector_float; /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT */
    int has_fma;                 /* CL_FP_FMA */
    char opencl_c[64];           /* CL_DEVICE_OPENCL_C_VERSION */
    char extensions[4096];       /* CL_DEVICE_EXTENSIONS */
} dc_device_profile;

/* The profile DENSECL_DEVICE_PROFILE names: *active 0 when it is unset or empty; else 1, and
 * *out filled or an error naming the variable (an unknown name, a file that does not parse). */
densecl_status dc_device_profile_get(dc_device_profile *out, int *active);
/* 1 when DENSECL_DEVICE_PROFILE is set (valid or not). */
int dc_device_profile_in_force(void);
/* A built-in profile's name ("nvidia-h200"), or a JSON file's path. */
densecl_status dc_device_profile_load(const char *spec, dc_device_profile *out);
/* A profile from JSON text (what: its source, in messages): every field of dc_device_profile as
 * a key named in device_profile.c's table; unknown keys, wrong types and impossible values
 * refused. */
densecl_status dc_device_profile_parse(const char *text, size_t len, const char *what,
                                       dc_device_profile *out);
/* Built-in profile i's name, NULL past the last. */
const char *dc_device_profile_builtin(int i);
/* One line for people: "nvidia-h200 (NVIDIA H200: GPU, 132 SMs, 48 KiB local memory, ...)". */
void dc_device_profile_describe(const dc_device_profile *p, char *buf, size_t cap);

/* ---------------------------------------------------------------- caps.c */

/* What a family may decide on: the device's capabilities, read once per replica, or those of
 * the device profile in force (DENSECL_DEVICE_PROFILE: device_profile.c), whose kernels then
 * run on dev. Tests lower local_mem and max_work_group to cover small (Mali-sized) devices on
 * any device. */
typedef struct dc_caps {
    cl_device_id dev; /* the real device, profile or not */
    cl_device_type type;
    cl_ulong local_mem;          /* CL_DEVICE_LOCAL_MEM_SIZE, bytes */
    int local_mem_is_global;     /* CL_DEVICE_LOCAL_MEM_TYPE is CL_GLOBAL (emulated, e.g. POCL) */
    size_t max_work_group;       /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    cl_uint compute_units;       /* CL_DEVICE_MAX_COMPUTE_UNITS */
    cl_uint native_vector_float; /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT */
    int has_fma;                 /* CL_FP_FMA in CL_DEVICE_SINGLE_FP_CONFIG */
    int has_compiler;            /* CL_DEVICE_COMPILER_AVAILABLE (the real device's) */
    char name[256], vendor[256];
    cl_uint cores;         /* what a fill target counts: SMs, CUs, shader cores, and on
                              Intel GPUs Xe-cores (their compute units are EUs) */
    char core[32];         /* what those are: "SM", "CU", "Xe-core", "shader core" */
    cl_uint wg_multiple;   /* warp, wavefront or SIMD width: the preferred work-group
                              size multiple */
    char opencl_c[64];     /* CL_DEVICE_OPENCL_C_VERSION */
    char extensions[4096]; /* CL_DEVICE_EXTENSIONS, cut to fit */
    char profile[64];      /* the device profile in force, "" for the device as it is */
} dc_caps;

/* The capabilities of dev (every field; a query that fails leaves its field 0), or, where
 * DENSECL_DEVICE_PROFILE names a device profile, that profile's with dev and has_compiler
 * kept. Fails only on a profile that does not load (the error names the variable). */
densecl_status dc_caps_query(cl_device_id dev, dc_caps *caps);

/* ---------------------------------------------------------------- launch.c */

/* clCreateKernel(prog, name) into *out (NULL on failure), the error naming the kernel. */
densecl_status dc_kernel_create(cl_program prog, const char *name, cl_kernel *out);
/* count ints, 0, in prog's context: the counters of conv kernels whose work-items share their
 * tiles (kernels/common.cl DC_TILES_FOR: 1 + work-items), which the last work-item of each
 * launch sets back to 0. */
densecl_status dc_counters_create(cl_program prog, size_t count, cl_mem *out);

/* A float buffer and an offset into it, in floats. */
typedef struct dc_mem {
    cl_mem buf;
    size_t off;
} dc_mem;

/* Kernel arguments set in order; the first failing clSetKernelArg is kept in err and the rest
 * are skipped, so a launcher checks every return with one test at the end. */
typedef struct dc_argset {
    cl_kernel k;
    cl_uint index;
    cl_int err;
} dc_argset;
void dc_arg(dc_argset *a, size_t size, const void *value);
void dc_arg_int(dc_argset *a, int v);
/* A (buffer, int offset) pair. An absent buffer (m.buf == NULL) binds `fallback` at offset 0 so
 * that no NULL cl_mem is ever set; the kernel does not read it (its flag is clear). */
void dc_arg_mem(dc_argset *a, dc_mem m, cl_mem fallback);
/* 1 if the product of the given non-negative ints fits an int (the kernels' index math). */
int dc_fits_int(int count, const int *v);

/* A kernel launch fixed once: its kernel object (the op's own, arguments set) and sizes. */
typedef struct dc_launch {
    cl_kernel k;
    cl_uint dims;
    size_t global[3], local[3];
    int has_local; /* 0: the driver picks the local size */
} dc_launch;
/* Sizes l for k on dev over dims (1 to 3) dimensions of items[d] work-items in groups of
 * local[d] (local NULL: the driver picks). Each local size is shrunk, last dimension first,
 * until their product is within the kernel's CL_KERNEL_WORK_GROUP_SIZE; each global size is
 * rounded up to its local size (POCL 3.1 has no non-uniform groups: kernels guard their
 * indices) and must stay within INT_MAX (kernels index in int). A kernel should always be
 * launched with one local size: POCL compiles a kernel anew for each it sees. l->k is set. */
cl_int dc_launch_fit(cl_device_id dev, cl_kernel k, int dims, const size_t *items,
                     const size_t *local, dc_launch *l);

/* How a run's kernels reach their queue: every launch of every op goes through one, which
 * counts them and, when keep_events is set (profiling, or the op whose start a run times),
 * keeps the events of the op's first and last kernel (an op's device time runs from the first
 * one's start to the last one's end). */
typedef struct dc_exec {
    cl_command_queue q;
    int keep_events;
    int launches;         /* kernels (and library calls) of the current op */
    cl_event first, last; /* the current op's, retained; NULL when not kept */
} dc_exec;
void dc_exec_init(dc_exec *x, cl_command_queue q, int keep_events);
/* Starts an op: its launch count from 0, the last op's events released. */
void dc_exec_op(dc_exec *x);
void dc_exec_release(dc_exec *x);
/* Enqueues one launch on x->q (after everything before it: the queue is in order). */
cl_int dc_exec_launch(dc_exec *x, const dc_launch *l);
/* An event a library call made for the current op (CLBlast's): counted as a launch and kept
 * as its last event (and first, if it is the op's first). Takes ev's reference. */
void dc_exec_event(dc_exec *x, cl_event ev);
/* Sizes and enqueues in one go, for launches made once (tests, the self-test). */
cl_int dc_launch_nd(dc_exec *x, cl_kernel k, int dims, const size_t *items, const size_t *local);

/* An op's launches bound once (a family's bind(), the pools'): up to DC_BOUND_MAX kernels run
 * in order, each its own object with every argument set, so that a forward sets none; extra is
 * the binder's own (freed by its unbind). dc_bound_launch enqueues them all; dc_bound_free
 * releases the kernels and the struct. */
#define DC_BOUND_MAX 4
typedef struct dc_bound {
    int n;
    dc_launch l[DC_BOUND_MAX];
    void *extra;
} dc_bound;
cl_int dc_bound_launch(dc_exec *x, const dc_bound *b);
void dc_bound_free(dc_bound *b);
/* Binding an op: its launches, in order, into a dc_bound. A binder starts at launch 0 and takes
 * each kernel as the op's own object, made from prog by name the first time the op is bound
 * and kept after (a rebind sets new arguments on the same objects), then its sizes. */
typedef struct dc_binder {
    dc_bound *b;
    cl_program prog;
    cl_device_id dev;
    int i; /* the launch being bound */
} dc_binder;
/* Starts binding into *b (made when NULL). CL_OUT_OF_HOST_MEMORY when it cannot be. */
cl_int dc_bind_begin(dc_binder *x, dc_bound **b, cl_program prog, cl_device_id dev);
/* The op's own kernel `name` for the next launch (created, with the error in the detail, on
 * the first bind). */
cl_int dc_bind_kernel(dc_binder *x, const char *name, cl_kernel *k);
/* The next launch's sizes: fitted as dc_launch_fit does, or exactly as given. */
cl_int dc_bind_nd(dc_binder *x, cl_kernel k, int dims, const size_t *items, const size_t *local);
cl_int dc_bind_exact(dc_binder *x, cl_kernel k, int dims, const size_t *global,
                     const size_t *local);
/* Ends binding: b->n is the launches bound. */
void dc_bind_end(dc_binder *x);

#endif /* DENSECL_CL_H */
