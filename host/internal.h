/* SPDX-License-Identifier: MIT */
/*
 * internal.h - contracts between the files of host/. Not installed.
 *
 * Data flows one way: config -> plan -> fold -> pack -> replica -> run. Weights (config and raw
 * tensors) go in at fold; the engine builds the model's plan once, folds with it, and every
 * replica packs and uploads from that.
 *   config.c   presets, counting, the list of tensors a config expects (dc_config_tensors)
 *   safetensors.c  the format: reader, dtype conversion, key names, tensor set, writer
 *   onnx.c     the ONNX format: a DenseNet graph recognised, its tensors under canonical keys
 *   arch.c     architecture inference from tensor shapes, and checking tensors against a config
 *   random_init.c  seeded random tensors, the same on every platform
 *   weights.c  the public densecl_weights API: a config and its raw tensors
 *   json.c     the strict JSON subset the safetensors header needs
 *   npy.c      .npy read/write
 *   plan.c     device-independent op list with shapes, buffers, channel offsets
 *   fold.c     BN folding: raw tensors + the engine's plan -> per-op parameters
 *   status.c   status strings, the thread-local error detail, log, OpenCL error names
 *   device.c   platform/device discovery and spec matching
 *   program.c  embedded kernels.cl and kernels/, one program per device, build log, binaries,
 *              densecl_compile_kernels
 *   ops.c      the launch helper, argument setting, the pool/gap/linear launchers
 *   family.h   conv kernel families (conv_direct.c, conv_gemm.c, conv_clblast.c) and the
 *              registry and resolution of which runs each conv (resolve.c)
 *   engine.c   the engine handle: the model plan and fold (once per engine), a replica per
 *              device, free, accessors
 *   replica.c  a replica: the plan bound to one device (resolution, program, kernels, weights
 *              packed by each op's family and uploaded, activation buffers)
 *   sched.c    runs: a batch split over the replicas in chunks, failover, calibration, profiling
 *   engine_impl.h  what engine.c, replica.c and sched.c share (the replica and engine structs)
 */
#ifndef DENSECL_INTERNAL_H
#define DENSECL_INTERNAL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "densecl.h"
/* The internals the tools may use, declared there too: the compiler checks that they agree. */
#include "tools_internal.h"
/* The constants the kernels share (DC_FLAG_*, DC_CONV_*), from the folder beside this one. */
#include "../kernels/abi.h"

#define DC_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- status.c */

/* Records the detail for densecl_last_error() (printf-style), logs it at DEBUG, returns s. */
densecl_status dc_error(densecl_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void dc_clear_error(void);
void dc_log(densecl_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* "CL_OUT_OF_RESOURCES" for -5; "CL_UNKNOWN_ERROR(-N)" in a static per-thread buffer otherwise. */
const char *dc_cl_error_name(cl_int err);

/* Checks an OpenCL call. On failure records "<expr> failed: CL_NAME (file:line)" as
 * DENSECL_ERR_OPENCL into `st` and jumps to `fail` (the function's single cleanup label). */
#define DC_CL_TRY(st, expr)                                                                     \
    do {                                                                                        \
        cl_int dc_err_ = (expr);                                                                \
        if (dc_err_ != CL_SUCCESS) {                                                            \
            (st) = dc_error(dc_cl_status(dc_err_), "%s failed: %s (%s:%d)", #expr,              \
                            dc_cl_error_name(dc_err_), __FILE__, __LINE__);                     \
            goto fail;                                                                          \
        }                                                                                       \
    } while (0)
/* DENSECL_ERR_NO_MEMORY for allocation failures, DENSECL_ERR_OPENCL otherwise. */
densecl_status dc_cl_status(cl_int err);

/* The n-byte (n <= 8) little-endian unsigned integer at p. */
uint64_t dc_load_le(const unsigned char *p, int n);
/* safetensors.c: IEEE half -> float, exactly (subnormals, signed zeros, infinities, NaNs);
 * also the ONNX reader's FLOAT16. */
float dc_f16_to_float(uint16_t h);

/* A shape as text, cut to fit size: "[2, 3, 32, 32]", or with tuple != 0 as Python writes it,
 * "(2, 3)" and "(2,)". Returns buf. */
const char *dc_shape_str(const int64_t *shape, int ndim, int tuple, char *buf, size_t size);

/* Overflow-checked size arithmetic: return 0 on overflow, else 1 with *out set. */
int dc_mul_size(size_t a, size_t b, size_t *out);
int dc_add_size(size_t a, size_t b, size_t *out);

/* Atomic file writes (dc_atomic_file): in tools_internal.h. */

/* Opens path for reading, without blocking on a FIFO, and refuses anything but a regular file
 * ("PATH is a FIFO, not a regular file"). `what` (may be NULL) prefixes the path in messages.
 * The fd is blocking again once returned. */
densecl_status dc_open_regular(const char *path, const char *what, int *fd);
/* The same as a stdio stream ("rb"). */
densecl_status dc_fopen_regular(const char *path, const char *what, FILE **f);

/* ---------------------------------------------------------------- config.c */

typedef enum dc_tensor_role {
    DC_ROLE_WEIGHT = 0,   /* trainable weight (conv, BN gamma, linear) */
    DC_ROLE_BIAS,         /* trainable bias (BN beta, linear bias) */
    DC_ROLE_RUNNING_MEAN, /* BN buffer */
    DC_ROLE_RUNNING_VAR   /* BN buffer */
} dc_tensor_role;

/* One tensor a config expects in a weights file, in torchvision's state_dict order. */
typedef struct dc_tensor_spec {
    char key[96]; /* canonical torchvision name: "features.denseblock1.denselayer1.norm1.weight" */
    int ndim;
    int64_t shape[4];
    dc_tensor_role role;
} dc_tensor_spec;

/* Allocates (malloc) the expected tensor list of a valid config into *specs and *count. */
densecl_status dc_config_tensors(const densecl_config *cfg, dc_tensor_spec **specs, int *count);

/* Channels entering dense block b (0-based) and leaving it. */
int dc_block_in_channels(const densecl_config *cfg, int b);
int dc_block_out_channels(const densecl_config *cfg, int b);

/* ---------------------------------------------------------------- json.c */

/* dc_json, its parser and writer: in tools_internal.h. */

/* ---------------------------------------------------------------- safetensors.c */

typedef enum dc_dtype { DC_F32 = 0, DC_F16, DC_BF16, DC_F64, DC_I64, DC_I32, DC_I16, DC_I8,
                        DC_U8, DC_BOOL, DC_OTHER } dc_dtype;

typedef struct dc_tensor {
    char *key;        /* canonical key (legacy names already mapped) */
    dc_dtype dtype;   /* dtype in the file */
    int ndim;
    int64_t shape[8];
    float *data;      /* converted to float32, owned; NULL for ignored tensors */
} dc_tensor;

typedef struct dc_tensor_set {
    int count;
    dc_tensor *t;
    int meta_count;   /* __metadata__ string pairs */
    char **meta_keys;
    char **meta_values;
} dc_tensor_set;

/* Reads and validates a safetensors file; converts F32/F16/BF16/F64 to float (an F64 value
 * beyond float's range is refused, naming key and index); maps legacy keys ("norm.1" ->
 * "norm1"); drops num_batches_tracked. Other dtypes are kept with data == NULL so that checking
 * can name them. Values are not checked otherwise (dc_weights_check_values). */
densecl_status dc_safetensors_read(const char *path, dc_tensor_set *out);
/* The same from memory (for the fuzzer); `what` names the source in messages. */
densecl_status dc_safetensors_parse(const void *bytes, size_t len, const char *what,
                                    dc_tensor_set *out);
/* Writes float32 tensors (for tools and tests). Atomic: temporary file, then rename. */
densecl_status dc_safetensors_write(const char *path, const dc_tensor_set *set);
void dc_tensor_set_free(dc_tensor_set *set);
const dc_tensor *dc_tensor_find(const dc_tensor_set *set, const char *key);
/* A __metadata__ value, or NULL. */
const char *dc_tensor_meta(const dc_tensor_set *set, const char *key);
/* "F32", "I64", ... as safetensors names the dtype. */
const char *dc_dtype_name(dc_dtype d);

/* ---------------------------------------------------------------- onnx.c */

/* Reads an ONNX file (protobuf-c, generated from onnx.proto) holding a DenseNet as exported by
 * torch.onnx.export (opsets 7-21, folded or not, any batch axis) and returns its tensors under
 * torchvision's canonical keys, as dc_safetensors_read does: BN folded into a conv by the
 * exporter comes back as an identity BN whose beta is the conv's bias; the model's
 * metadata_props become the set's metadata. A graph that is not such a DenseNet is refused
 * (DENSECL_ERR_FORMAT) naming the node that does not fit. External data is read from files
 * beside path only (relative, no ".."). */
densecl_status dc_onnx_read(const char *path, dc_tensor_set *out);
/* The same from memory (for the fuzzer); dir: where external data may be read, or NULL (then
 * external data is refused). */
densecl_status dc_onnx_parse(const void *bytes, size_t len, const char *what, const char *dir,
                             dc_tensor_set *out);

/* ---------------------------------------------------------------- arch.c */

/* Architecture from tensor shapes (and "densecl.config" metadata when present). */
densecl_status dc_config_infer(const dc_tensor_set *set, densecl_config *out);
/* The config of set: inferred when expect is NULL, else expect with num_classes == 0 and
 * in_channels == 0 taken from the tensors. Not yet checked against them (dc_config_match). */
densecl_status dc_config_resolve(const dc_tensor_set *set, const densecl_config *expect,
                                 densecl_config *out);
/* Every expected key present with the right shape and a float dtype, no unexpected key. */
densecl_status dc_config_match(const densecl_config *cfg, const dc_tensor_set *set,
                               const char *path);

/* ---------------------------------------------------------------- random_init.c */

/* The tensors of a valid cfg, in dc_config_tensors order, drawn from seed: He-normal convs,
 * uniform linear layers, BN affine and running statistics around (1, 0). */
densecl_status dc_random_tensors(const densecl_config *cfg, uint64_t seed, dc_tensor_set *out);

/* ---------------------------------------------------------------- weights.c */

/* What a weights handle holds: the config and the raw tensors, nothing derived from them (the
 * engine folds and packs for its own plan). */
struct densecl_weights {
    densecl_config cfg;
    dc_tensor_set tensors;  /* raw float32 tensors, canonical keys */
    char *path;             /* the file, for messages; NULL for random weights */
    char **labels;          /* "densecl.labels", [label_count]; NULL when absent or malformed */
    int label_count;
};

/* labels.c: parses "densecl.labels" into w->labels (label_count 0 and a logged warning when it
 * is malformed: weights that load without names still load). */
void dc_weights_load_labels(densecl_weights *w);

/* preprocess.c: torchvision's ImageNet preprocessing (source IMAGENET); a hand-filled or parsed
 * struct checked as densecl_image_to_input checks it (DENSECL_ERR_ARGUMENT, fn names the call). */
void dc_preprocess_imagenet(densecl_preprocess *out);
densecl_status dc_preprocess_check(const densecl_preprocess *pp, const char *fn);

/* What the first bytes of a weights file say it is (weights.c reads at most 512 of them). */
typedef enum dc_file_kind {
    DC_FILE_SAFETENSORS = 0, /* also the default: the safetensors reader names what is wrong */
    DC_FILE_ONNX,
    DC_FILE_OTHER            /* a format densecl recognises but does not read */
} dc_file_kind;
/* head: the file's first len bytes (weights.c reads 512). For DC_FILE_OTHER, *what is set to a
 * description ("a PyTorch checkpoint (torch.save's zip format)"). */
dc_file_kind dc_weights_sniff(const unsigned char *head, size_t len, const char **what);

/* Refuses (DENSECL_ERR_FORMAT, prefixed by path) a NaN or infinity in any tensor and a negative
 * value in any "*.running_var", naming the key, the first bad value and its index. */
densecl_status dc_weights_check_values(const dc_tensor_set *set, const char *path);

/* ---------------------------------------------------------------- npy.c */

/* dc_npy, its reader and writer: in tools_internal.h. */

/* ---------------------------------------------------------------- plan.c */

typedef enum dc_op_kind {
    DC_OP_CONV = 0,          /* conv2d, optional BN+ReLU prologue, optional bias, optional ReLU */
    DC_OP_MAXPOOL,           /* k x k / stride, padding pad (stem: 3/2/1) */
    DC_OP_BNRELU_AVGPOOL,    /* BN+ReLU then 2x2/2 average pool (transitions, before the 1x1) */
    DC_OP_BNRELU_GAP,        /* BN+ReLU then global average pool -> [N, C] (norm5) */
    DC_OP_LINEAR,            /* [N, C] x [classes, C]^T + bias -> [N, classes] */
    DC_OP_KIND_COUNT
} dc_op_kind;

typedef struct dc_op {
    dc_op_kind kind;
    char name[80];    /* torchvision module of the weights: "features.denseblock1.denselayer1.conv1" */
    char pre_bn[80];  /* BN module applied (with ReLU) to the input, "" if none */
    char post_bn[80]; /* BN module folded into this conv's weights and bias, "" if none */
    /* input: channels [0, in_c) of buffer in_buf, laid out [N, in_ctot, in_h, in_w] */
    int in_buf, in_ctot, in_c, in_h, in_w;
    /* output: channels [out_coff, out_coff + out_c) of buffer out_buf, [N, out_ctot, out_h, out_w] */
    int out_buf, out_ctot, out_coff, out_c, out_h, out_w;
    int k, stride, pad; /* square window */
    int relu;           /* ReLU on the output */
    int has_bias;
    uint64_t macs;      /* for the whole batch */
} dc_op;

typedef struct dc_plan {
    int n, c, h, w;      /* input shape */
    int classes;
    int n_ops;
    dc_op *ops;
    int n_bufs;          /* physical buffers after lifetime-based reuse */
    size_t *buf_floats;  /* size of each, in floats */
    int input_buf;       /* [N, c, h, w] */
    int output_buf;      /* [N, classes] */
    uint64_t macs;
} dc_plan;

/* Builds the plan of cfg for an [n, cfg->in_channels, h, w] input. DENSECL_ERR_INPUT (with the
 * op where a size reaches 0) for an input too small. The op sequence and names do not depend on
 * n, h or w: params folded for one plan serve every plan of the same config. */
densecl_status dc_plan_build(const densecl_config *cfg, int n, int h, int w, dc_plan *out);
void dc_plan_free(dc_plan *p);
/* Total floats of all physical buffers. */
size_t dc_plan_floats(const dc_plan *p);

/* ---------------------------------------------------------------- fold.c */

/* Per-op parameters, ready for packing. Layouts are PyTorch's. */
typedef struct dc_op_params {
    float *weight;    /* conv: [cout, cin, k, k] with post-BN folded; linear: [classes, C] */
    float *bias;      /* [cout] or NULL */
    float *pre_scale; /* [cin]: the BN+ReLU prologue y = max(x * scale + shift, 0), or NULL */
    float *pre_shift; /* [cin] */
} dc_op_params;

/* Folds tensors (which dc_config_match accepted for the plan's config) for the ops of plan:
 * *out (malloc'd) is indexed like plan->ops, plan->n_ops entries; free with dc_params_free.
 * Only the op sequence matters, which does not depend on the plan's n, h or w. */
densecl_status dc_fold(const dc_plan *plan, const dc_tensor_set *tensors, dc_op_params **out);
void dc_params_free(dc_op_params *p, int n);

/* ---------------------------------------------------------------- device.c */

/* Test hook: devices report at most these limits (0 = as the driver says), so tests can prove
 * that oversized weights are refused and oversized batches split, on any device. */
void dc_device_limits_override(uint64_t max_alloc_bytes, uint64_t global_mem_bytes);

/* Fills info for a device (indices are only filled by the listing). */
void dc_device_describe(cl_device_id dev, densecl_device_info *info);
/* Resolves spec to a cl_device_id and its info. */
densecl_status dc_device_pick(const char *spec, cl_device_id *dev, densecl_device_info *info);
/* 1 if needle occurs in hay, ASCII case ignored (an empty needle occurs everywhere). */
int dc_contains_nocase(const char *hay, const char *needle);
/* Resolves "all" or a comma-separated list of specs to distinct devices (at most max). */
densecl_status dc_device_pick_many(const char *spec, cl_device_id *devs, densecl_device_info *infos,
                                   int max, int *count);

/* ---------------------------------------------------------------- profile.c */

/* A device profile (DENSECL_DEVICE_PROFILE): the capabilities a device's OpenCL driver reports,
 * which the conv resolution reads instead of the real device's (family.h's dc_caps_query). */
typedef struct dc_profile {
    char name[64];             /* "nvidia-h200", or a file's "name" */
    char device_name[128];     /* CL_DEVICE_NAME */
    char vendor[128];          /* CL_DEVICE_VENDOR */
    cl_device_type type;       /* GPU, CPU or ACCELERATOR */
    cl_uint compute_units;     /* CL_DEVICE_MAX_COMPUTE_UNITS as the driver reports them */
    char compute_unit[32];     /* what those are: "SM", "CU", "EU", "shader core" */
    cl_uint cores;             /* the units a fill target counts (Intel: Xe-cores, not EUs) */
    char core[32];             /* what those are: "Xe-core"; compute_unit when the same */
    cl_ulong local_mem;        /* CL_DEVICE_LOCAL_MEM_SIZE, bytes */
    int local_mem_is_global;   /* CL_DEVICE_LOCAL_MEM_TYPE is CL_GLOBAL (Mali) */
    size_t max_work_group;     /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    cl_uint wg_multiple;       /* preferred work-group size multiple: warp, wavefront, SIMD */
    cl_uint native_vector_float; /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT */
    int has_fma;               /* CL_FP_FMA */
    char opencl_c[64];         /* CL_DEVICE_OPENCL_C_VERSION */
    char extensions[4096];     /* CL_DEVICE_EXTENSIONS */
} dc_profile;

/* The profile DENSECL_DEVICE_PROFILE names: *active 0 when it is unset or empty; else 1, and
 * *out filled or an error naming the variable (an unknown name, a file that does not parse). */
densecl_status dc_profile_get(dc_profile *out, int *active);
/* 1 when DENSECL_DEVICE_PROFILE is set (valid or not). */
int dc_profile_in_force(void);
/* A built-in profile's name ("nvidia-h200"), or a JSON file's path. */
densecl_status dc_profile_load(const char *spec, dc_profile *out);
/* A profile from JSON text (what: its source, in messages): every field of dc_profile as a key
 * named in profile.c's table; unknown keys, wrong types and impossible values refused. */
densecl_status dc_profile_parse(const char *text, size_t len, const char *what, dc_profile *out);
/* Built-in profile i's name, NULL past the last. */
const char *dc_profile_builtin_name(int i);
/* One line for people: "nvidia-h200 (NVIDIA H200: GPU, 132 SMs, 48 KiB local memory, ...)". */
void dc_profile_describe(const dc_profile *p, char *buf, size_t cap);

/* ---------------------------------------------------------------- engine.c */

/* Test hook: the enqueue of replica r's op after `after_ops` more op enqueues fails with err
 * (e.g. CL_OUT_OF_RESOURCES), as a device failing mid-run would. err = CL_SUCCESS disarms.
 * err = DC_FAULT_AT_RUN: the enqueue succeeds, but the wait finds that chunk's commands failed,
 * as with a device lost while a job runs. */
#define DC_FAULT_AT_RUN (-9999)
void dc_engine_inject_fault(densecl_engine *e, int replica, int after_ops, cl_int err);

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
/* fams: bit i for dc_families[i] (family.h); ~0u: every family. DENSECL_ERR_IO naming the file
 * when one is missing (a family's file that kernels.cl does not list included). */
densecl_status dc_sources_get(unsigned fams, dc_sources *s);
void dc_sources_free(dc_sources *s);

/* Builds the sources of fams for dev in ctx with "-cl-std=CLx.y" from
 * CL_DEVICE_OPENCL_C_VERSION, then options (may be NULL: each family's kernels have defaults).
 * DENSECL_ERR_BUILD with the build log in the detail (its file:line point into kernels/). */
densecl_status dc_program_build(cl_context ctx, cl_device_id dev, unsigned fams,
                                const char *options, cl_program *out);
/* "-cl-std=CLx.y" from a CL_DEVICE_OPENCL_C_VERSION string, "OpenCL C x.y ..." (never from the
 * platform version: POCL 3.1 says platform 3.0 but OpenCL C 1.2); CL1.2 when it does not parse. */
void dc_cl_std_from(const char *opencl_c_version, char *out, size_t cap);

struct dc_resolved;
/* How the engine gets its program: from a binary file, from the cache, or from source. */
typedef struct dc_program_opts {
    const char *binary_path;        /* a file written by dc_program_save (compile-kernels) */
    int no_cache;                   /* neither read nor write the on-disk cache */
    const struct dc_resolved *res;  /* what to build (family.h) */
} dc_program_opts;

/* The resolution a program binary was built with (its key's "resolved=" line, parsed strictly)
 * into text (cap bytes); DENSECL_ERR_FORMAT/IO naming the file. */
densecl_status dc_program_binary_resolved(const char *path, char *text, size_t cap);
/* The program for dev: binary_path when given (refused if built for another device, driver,
 * kernel sources or resolution), else a valid cache entry, else built from source (and then
 * cached). A device without a compiler needs a binary or a cache entry. */
densecl_status dc_program_get(cl_context ctx, cl_device_id dev, const dc_program_opts *o,
                              cl_program *out);
/* Writes prog's binary for dev, built from res, to path in densecl's binary format
 * (atomically). */
densecl_status dc_program_save(cl_program prog, cl_device_id dev, const struct dc_resolved *res,
                               const char *path);
/* The cache directory in use ($DENSECL_CACHE_DIR, else $XDG_CACHE_HOME/densecl, else
 * $HOME/.cache/densecl) into buf; 0 when there is none. */
int dc_cache_dir(char *buf, size_t cap);
/* Reads a whole file (NUL-terminated); NULL on error, with the detail naming prefix and path. */
char *dc_read_text(const char *prefix, const char *path);
/* FNV-1a, for cache keys and file names. */
uint64_t dc_fnv(uint64_t h, const void *data, size_t len);
#define DC_FNV_SEED 14695981039346656037ull
/* mkdir -p; failures surface when a file is written there. */
void dc_mkdirs(const char *path);

/* ---------------------------------------------------------------- conv_direct.c */

/* Conv tiles (densecl_tiles), the direct family's parameters in their legacy form: kernels/
 * direct.cl's own defaults; the defaults for a device (NULL: the generic ones); a check naming
 * `what`; the tuning file's path for a device (0 without a cache directory); its text parsed;
 * read and parsed; written atomically with a comment line; and the tiles before fitting:
 * `given` when all four fields are set, else the device's tuning file (unless
 * DENSECL_NO_TUNING is set; an invalid file is logged and ignored), else the defaults. */
void dc_tiles_generic(densecl_tiles *t);
void dc_tiles_default(cl_device_id dev, densecl_tiles *t);
densecl_status dc_tiles_check(const densecl_tiles *t, const char *what);
int dc_tiles_path(cl_device_id dev, char *buf, size_t cap);
/* One tile as "CxP" (channels x pixels), both in [1, 64]; 1 when it parses. */
int dc_parse_tile(const char *s, int *c, int *p);
densecl_status dc_tiles_parse(const char *text, densecl_tiles *t, const char *what);
densecl_status dc_tiles_load(const char *path, densecl_tiles *t);
densecl_status dc_tiles_write(const char *path, const densecl_tiles *t, const char *comment);
densecl_status dc_tiles_resolve(cl_device_id dev, const densecl_tiles *given, densecl_tiles *out,
                                densecl_tiles_origin *origin);
/* The tuning file in full: the tiles, and the optional "family NAME" and "params TEXT" lines
 * (the family `densecl tune` found fastest and its kernel_params; "" when absent; family and
 * params may be NULL with cap 0). Written with them when not NULL or "". */
densecl_status dc_tuning_parse(const char *text, densecl_tiles *t, char *family, size_t fcap,
                               char *params, size_t pcap, const char *what);
densecl_status dc_tuning_write(const char *path, const densecl_tiles *t, const char *family,
                               const char *params, const char *comment);
/* The tuned family of dev and its params text: 1 when its tuning file (not ignored by
 * DENSECL_NO_TUNING) names one. */
int dc_tuned_family(cl_device_id dev, char *family, size_t fcap, char *params, size_t pcap);
/* What an engine does to default and tuned (not given) tiles for the model of cfg: 32 conv
 * channels become 16, with twice the pixels (up to 8), where its 3x3 convs waste fewer
 * multiply-adds on padding channels that way. */
densecl_status dc_tiles_fit(densecl_tiles *t, const densecl_config *cfg);

/* The abi.h DC_CONV_* bit of a conv of window k, stride and pad, with a prologue or not (the
 * direct family's kernel for it; family.h's dc_conv_kind_of gives the DC_KIND_* index). */
unsigned dc_conv_kind(int k, int stride, int pad, int pre);

/* ---------------------------------------------------------------- ops.c */

/* The kernels every program has (kernels/pool.cl), created once per program. Conv kernels
 * belong to their family (family.h). */
typedef struct dc_kernels {
    cl_kernel maxpool;
    cl_kernel bnrelu_avgpool;
    cl_kernel bnrelu_gap;
    cl_kernel linear;
    /* Their GPU shapes (kernels/pool.cl): a work-item per output pixel, a work-group per
     * classifier output. */
    cl_kernel maxpool_px;
    cl_kernel bnrelu_avgpool_px;
    cl_kernel linear_wg;
    int gpu; /* 1: launch the GPU shapes (the replica sets it for GPU devices and profiles) */
} dc_kernels;

densecl_status dc_kernels_create(cl_program prog, dc_kernels *k);
/* clCreateKernel(prog, name) into *out (NULL on failure), the error naming the kernel. */
densecl_status dc_kernel_create(cl_program prog, const char *name, cl_kernel *out);
void dc_kernels_release(dc_kernels *k);

/* A float buffer and an offset into it, in floats. */
typedef struct dc_mem {
    cl_mem buf;
    size_t off;
} dc_mem;

/* Packs PyTorch-layout conv weights [cout, cin, k, k] into the direct family's layout
 * [ceil(cout / DC_CONV_PACK), cin * k * k, DC_CONV_PACK] (conv_direct.c). Returns the packed
 * length in floats; with out == NULL only computes it. */
size_t dc_conv_weight_pack(const float *w, int cout, int cin, int k, float *out);

/* Arguments of one op, mirroring dc_op, with device memory. */
typedef struct dc_conv_args {
    dc_mem in;        /* [n, in_ctot, in_h, in_w], reads channels [0, cin) */
    dc_mem weight;    /* packed by its family's pack() */
    dc_mem bias;      /* [cout], or buf == NULL */
    dc_mem pre;       /* [2, cin]: scales then shifts of the BN+ReLU prologue, or buf == NULL */
    dc_mem out;       /* [n, out_ctot, out_h, out_w], writes channels [out_coff, out_coff + cout) */
    int n, cin, in_ctot, in_h, in_w;
    int cout, out_ctot, out_coff, out_h, out_w;
    int k, stride, pad;
    int relu;
} dc_conv_args;

typedef struct dc_pool_args {
    dc_mem in;        /* [n, in_ctot, in_h, in_w], reads channels [0, c) */
    dc_mem pre;       /* [2, c] BN+ReLU prologue (avgpool, gap), or buf == NULL */
    dc_mem out;       /* pools: [n, out_ctot, out_h, out_w] at out_coff; gap: [n, c] */
    int n, c, in_ctot, in_h, in_w;
    int out_ctot, out_coff, out_h, out_w;
    int k, stride, pad; /* maxpool window; avgpool is always 2/2/0 */
} dc_pool_args;

typedef struct dc_linear_args {
    dc_mem in;        /* [n, cin] */
    dc_mem weight;    /* [cout, cin] */
    dc_mem bias;      /* [cout] */
    dc_mem out;       /* [n, cout] */
    int n, cin, cout;
} dc_linear_args;

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
/* Output side of a k/stride/pad window over `in` (PyTorch's floor mode), or -1 if empty. */
int dc_window_side(int in, int k, int stride, int pad);

/* Enqueues k over dims (1 to 3) dimensions of items[d] work-items in groups of local[d]
 * (local NULL: the driver picks). Each local size is shrunk, last dimension first, until their
 * product is within the kernel's CL_KERNEL_WORK_GROUP_SIZE; each global size is rounded up to
 * its local size (POCL 3.1 has no non-uniform groups: kernels guard their indices) and must
 * stay within INT_MAX (kernels index in int). A kernel should always be launched with one local
 * size: POCL compiles a kernel anew for each it sees. */
cl_int dc_launch_nd(cl_command_queue q, cl_kernel k, int dims, const size_t *items,
                    const size_t *local, cl_event *ev);

/* Enqueue one kernel; ev may be NULL. Return the OpenCL error (CL_SUCCESS on success). */
cl_int dc_enqueue_maxpool(cl_command_queue q, const dc_kernels *k, const dc_pool_args *a,
                          cl_event *ev);
cl_int dc_enqueue_bnrelu_avgpool(cl_command_queue q, const dc_kernels *k, const dc_pool_args *a,
                                 cl_event *ev);
cl_int dc_enqueue_bnrelu_gap(cl_command_queue q, const dc_kernels *k, const dc_pool_args *a,
                             cl_event *ev);
cl_int dc_enqueue_linear(cl_command_queue q, const dc_kernels *k, const dc_linear_args *a,
                         cl_event *ev);

#endif /* DENSECL_INTERNAL_H */
