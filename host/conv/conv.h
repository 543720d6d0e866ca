/* SPDX-License-Identifier: MIT */
/*
 * conv.h - convolution kernel families: one algorithm each, behind one small vtable (as pocl
 * does per device driver, and dlprimitives with a class per conv algorithm).
 *
 * A family names the kernel sources it needs, says which convs it can run on a device, declares
 * its tunable parameters (named ints: -D macros for kernels, or call arguments for a library),
 * packs the weights as its kernels read them, says how much scratch memory a conv needs, and
 * enqueues a conv. A replica resolves, once, which family runs each conv and with which
 * parameters (dc_resolve); nothing changes them afterwards.
 *
 * Families today, each a file here named like its kernels/ file: "direct" (register tiles per
 * work-item, CPU-shaped: direct.c, kernels/direct.cl), "gemm" (local-memory tiled GEMM /
 * implicit GEMM for GPUs: gemm.c, kernels/gemm.cl), "clblast" (CLBlast's GEMMs on the engine's
 * queue after a BN+ReLU / im2col pre-pass: clblast.c, kernels/clblast.cl), "winograd" (fused
 * Winograd F(2x2, 3x3) for the 3x3/1/1 convs on CPUs: winograd.c, kernels/winograd.cl).
 *
 *   kinds.c     the conv kinds a replica resolves a family for
 *   registry.c  the families of this build (the only file naming them all)
 *   params.c    kernel_params text
 *   tuning.c    the direct tiles in their legacy form, the device's tuning file
 *   resolve.c   the one resolution per replica, and its text form
 */
#ifndef DENSECL_CONV_H
#define DENSECL_CONV_H

#include "cl/cl.h"
#include "plan/plan.h"
/* The constants the kernels share (DC_FLAG_*, DC_CONV_*), from the folder kernels/. */
#include "../kernels/abi.h"

#define DC_FAMILY_MAX_PARAMS 16

/* Arguments of one op, mirroring dc_op, with device memory. */
typedef struct dc_conv_args {
    dc_mem in;     /* [n, in_ctot, in_h, in_w], reads channels [0, cin) */
    dc_mem weight; /* packed by its family's pack() */
    dc_mem bias;   /* [cout], or buf == NULL */
    dc_mem pre;    /* [2, cin]: scales then shifts of the BN+ReLU prologue, or buf == NULL */
    dc_mem out;    /* [n, out_ctot, out_h, out_w], writes channels [out_coff, out_coff + cout) */
    int n, cin, in_ctot, in_h, in_w;
    int cout, out_ctot, out_coff, out_h, out_w;
    int k, stride, pad;
    int relu;
} dc_conv_args;

/* ---------------------------------------------------------------- kinds.c */

/* The conv op kinds a replica resolves a family for: bit i of a kind set is abi.h's DC_CONV_*
 * of the same order (the direct family has one kernel per kind). */
enum { DC_KIND_1X1, DC_KIND_3X3, DC_KIND_3X3_PRE, DC_KIND_7X7S2, DC_KIND_ANY, DC_KIND_COUNT };
/* "1x1", "3x3", "3x3_pre", "7x7s2", "other". */
const char *dc_kind_name(int kind);
/* The DC_KIND_* of a conv of window k, stride and pad, with the BN+ReLU prologue or not. */
int dc_conv_kind_of(int k, int stride, int pad, int pre);
int dc_op_conv_kind(const dc_op *op);

#define DC_KINDS_ALL ((1u << DC_KIND_COUNT) - 1u)

/* ---------------------------------------------------------------- the family vtable */

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
    /* The conv kinds it can run at all (bit DC_KIND_*; DC_KINDS_ALL for most): a replica that
     * chose it runs the other kinds on direct. */
    unsigned kinds;
    /* Its parameter holding the set of kernels its program is built with (bits DC_CONV_*,
     * which a program binary must cover), or -1. */
    int kernels_param;
    /* Its on/off parameter ("NAME:ON=0" turns it off wherever auto or a tuning file would
     * choose it; refused with --conv NAME), or -1. */
    int on_param;
    /* Which conv kinds `auto` gives it on this device when no tuning file names a family (bit
     * DC_KIND_*; 0: none), with the reason in why either way. A family claiming every kind
     * runs the replica's convs (the first such in the registry), why saying on what ground
     * ("GPU default"); one claiming some (its kinds) takes them from direct, why being the
     * clause the resolution's reason gets (", 3x3 on winograd: ..."). NULL: never auto's. */
    unsigned (*auto_kinds)(const dc_caps *caps, char *why, size_t cap);
    /* 1 if the family can run op on this device; else 0 with the reason in why (a sentence
     * without a trailing period: "local memory of 16384 bytes is below the 24576 the tile
     * needs"). */
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
    /* Its state for the replica's program (owned by the family; it keeps the program to make
     * each op's kernels from). Checks that every kernel p builds can be made from it. */
    densecl_status (*create)(cl_program prog, const dc_caps *caps, const dc_params *p,
                             void **state);
    void (*release)(void *state);
    /* Binds one conv to its arguments, once per op (again when its chunk's buffers or sizes
     * change): a->weight packed by pack(), ws a scratch buffer of workspace() floats (buf NULL
     * when 0). Its launches go into *bound (dc_binder: the op's own kernel objects, every
     * argument set), so that a forward sets none. Returns the OpenCL error (CL_INVALID_VALUE for
     * arguments it cannot run). A bound op is only ever rebound for the same conv. */
    cl_int (*bind)(void *state, const dc_params *p, const dc_conv_args *a, dc_mem ws,
                   dc_bound **bound);
    /* Enqueues a bound conv on x; NULL: dc_bound_launch (its kernels in order). A library
     * family's calls go here (their events through dc_exec_event). */
    cl_int (*launch)(dc_exec *x, void *state, const dc_bound *bound);
    /* Frees a bound conv; NULL: dc_bound_free. */
    void (*unbind)(dc_bound *bound);
} dc_family;

/* The fallback of every conv, the one family the rest of host/ may name (the ctest `layers`,
 * tests/unit/check_layers.py, keeps that true). The others are reached through the registry
 * only. */
extern const dc_family dc_family_direct;

/* ---------------------------------------------------------------- registry.c
 * One row per family, in the order auto asks them; index 0 is always direct. Adding a family:
 * its host/conv/NAME.c and kernels/NAME.cl, a row in registry.c, its file in kernels.cl's list
 * and in CMake's source list. */
#define DC_FAMILY_SLOTS 8 /* most rows the table may have */
extern const dc_family *const dc_families[];
extern const int dc_family_count;
/* The registry index of the family called name (case-sensitive), or -1. */
int dc_family_index(const char *name);
/* "direct, gemm, clblast, winograd": the families of this build, for messages. */
const char *dc_family_list(void);
/* The index of parameter `name` of family f (case-insensitive), or -1. */
int dc_param_index(const dc_family *f, const char *name);
/* f's launch and unbind, or the generic ones where it has none. */
cl_int dc_conv_launch(const dc_family *f, dc_exec *x, void *state, const dc_bound *bound);
void dc_conv_unbind(const dc_family *f, dc_bound *bound);
/* A conv bound, launched on q and unbound: one made once (tests, the self-test); *ev (may be
 * NULL) gets the event of its last launch. Returns the OpenCL error. */
cl_int dc_conv_enqueue(const dc_family *f, cl_command_queue q, void *state, const dc_params *p,
                       const dc_conv_args *a, dc_mem ws, cl_event *ev);

/* What a replica runs its convs with: per conv kind, the family (a registry index; -1 where the
 * plan has no such conv), and per family that runs any, its parameters. Resolved once by
 * dc_resolve; program.c builds from it, families launch from it, nothing changes it. */
typedef struct dc_resolved {
    int fam[DC_KIND_COUNT];
    dc_params params[DC_FAMILY_SLOTS];
    unsigned used;               /* bit i: dc_families[i] runs some conv */
    densecl_tiles_origin origin; /* where the direct family's tiles came from (legacy stats) */
    char why[160];               /* "auto: CPU default", "auto: GPU default", "auto: tuned",
                                    "given", "program binary"; and what auto fell back from */
    /* Derived once, when resolved or parsed, for the program: */
    unsigned files;     /* the families whose kernels/ files it builds (bit i) */
    char defines[1024]; /* the -D options: each used family's defines() */
    char text[768];     /* dc_resolved_format: the cache key's and the binary's line */
} dc_resolved;

/* What a caller asked for. */
typedef struct dc_choice {
    const char *conv;          /* NULL or "auto", or a family name; NULL also reads DENSECL_CONV */
    const char *kernel_params; /* NULL, or "family:NAME=V,NAME=V;family:..." (dc_params_parse) */
    densecl_tiles tiles;       /* the direct tiles in their legacy form: all four or none */
    const char *binary;        /* a program binary's resolved text (dc_resolved_format), or NULL */
} dc_choice;

/* ---------------------------------------------------------------- resolve.c */

/* Resolves, once, the family for each conv kind of plan and its parameters, from the device's
 * caps, the caller's choice, the device's tuning file and a program binary:
 *   binary         its resolution as it is (it must cover every conv kind plan uses)
 *   conv           a family by name: every conv it supports() runs on it, the others are
 *                  refused (DENSECL_ERR_UNSUPPORTED naming the family, the op and why); "auto":
 *                  the tuning file's family, else the first family whose auto_kinds() claims
 *                  every kind (gemm on GPUs), else direct with the kinds a family claims (the
 *                  3x3 ones where winograd measured faster), each conv kind the chosen family
 *                  cannot run falling back to direct
 *   parameters     the family's defaults for the device, fitted to plan; the direct tiles as
 *                  given, else from the tuning file, else the defaults; then kernel_params.
 * plan NULL: every conv kind (for a program any model can use), no fitting. */
densecl_status dc_resolve(const dc_caps *caps, const dc_plan *plan, const dc_choice *choice,
                          dc_resolved *out);
/* As one line of text (r->text once resolved), which dc_resolved_parse reads back exactly:
 *   "1x1=direct 3x3=direct 7x7s2=direct; direct:FLAT_CO=8,FLAT_PX=32,...". */
void dc_resolved_format(const dc_resolved *r, char *buf, size_t cap);
/* Parses that line into *out, its derived fields included. */
densecl_status dc_resolved_parse(const char *text, const char *what, dc_resolved *out);
/* For people (densecl_replica_stats.resolved, `info`, `bench`): the format, then "(why)". */
void dc_resolved_describe(const dc_resolved *r, char *buf, size_t cap);

/* ---------------------------------------------------------------- params.c
 * kernel_params text: "[family:]NAME=V[,NAME=V...][;family:...]", NAMEs from the family's
 * dc_param_spec (case-insensitive), V a decimal in the spec's range; the direct family also
 * takes "1x1=CxP" and "conv=CxP" for its tiles. Without "family:", the text is conv's (the
 * named family). Applies the values of family index fam to p and returns in *set which were
 * given (bit j: parameter j); other families' parts are checked against their specs only.
 * DENSECL_ERR_ARGUMENT naming `what` and the offending part. */
densecl_status dc_params_parse(const char *text, const char *default_family, int fam, dc_params *p,
                               unsigned *set, const char *what);

/* ---------------------------------------------------------------- direct.c
 * The direct family's parameter indices, and its tiles in their legacy form. */
enum {
    DC_DIRECT_FLAT_CO,
    DC_DIRECT_FLAT_PX,
    DC_DIRECT_TCO,
    DC_DIRECT_TPX,
    DC_DIRECT_VEC,
    DC_DIRECT_PREFETCH,
    DC_DIRECT_FMA,
    DC_DIRECT_ORDER,
    DC_DIRECT_KERNELS,
    DC_DIRECT_DYN,
    DC_DIRECT_STAGE,
    DC_DIRECT_PAIRS,
    DC_DIRECT_NPARAMS
};
void dc_direct_to_tiles(const dc_params *p, densecl_tiles *t);
void dc_direct_from_tiles(const densecl_tiles *t, dc_params *p);
/* Fits the conv tiles of p to plan (a 32-channel tile becomes 16 with twice the pixels where
 * the model's 3x3 convs waste fewer multiply-adds on padding channels that way). */
void dc_direct_fit(dc_params *p, const dc_plan *plan);

/* ---------------------------------------------------------------- tuning.c: the direct tiles
 * and the device's tuning file */

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
/* The same fit for a plan (the direct family's dc_direct_fit). */
void dc_tiles_fit_plan(densecl_tiles *t, const dc_plan *plan);

/* The abi.h DC_CONV_* bit of a conv of window k, stride and pad, with a prologue or not (the
 * direct family's kernel for it; dc_conv_kind_of gives the DC_KIND_* index). */
unsigned dc_conv_kind(int k, int stride, int pad, int pre);

/* Packs PyTorch-layout conv weights [cout, cin, k, k] into the direct family's layout
 * [ceil(cout / DC_CONV_PACK), cin * k * k, DC_CONV_PACK] (direct.c). Returns the packed
 * length in floats; with out == NULL only computes it. */
size_t dc_conv_weight_pack(const float *w, int cout, int cin, int k, float *out);
/* The output channels per block of the direct 1x1 kernel's weights built with p (direct.cl
 * DC_FLAT_PACK): the 1x1 tile's where the kernel is staged and they divide DC_CONV_PACK. */
int dc_direct_flat_pack(const dc_params *p);
/* Weights packed as the direct kernel of kind (DC_KIND_*) built with p reads them: blocks of
 * dc_direct_flat_pack for the 1x1 kernel, of DC_CONV_PACK for the others (the family's pack). */
size_t dc_direct_weight_pack(const dc_params *p, int kind, const float *w, int cout, int cin, int k,
                             float *out);

#endif /* DENSECL_CONV_H */
