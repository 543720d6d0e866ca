/* SPDX-License-Identifier: MIT */
/*
 * model.h - a DenseNet model: its config (presets, counting, the tensors it expects), the
 * architecture inferred from tensor shapes, random weights, the public weights handle, labels
 * and preprocessing. Not installed.
 *
 *   config.c       presets, counting, the list of tensors a config expects
 *   arch.c         architecture inference from tensor shapes, checking tensors against a config
 *   random_init.c  seeded random tensors, the same on every platform
 *   weights.c      the public densecl_weights API: a config and its raw tensors
 *   labels.c       "densecl.labels" and label files
 *   preprocess.c   preprocessing applied: resize, centre crop, channels, normalisation
 *   preprocess_params.c  what it is: "densecl.preprocess", what is assumed without it (an ONNX
 *                  graph's declared size, torchvision's ImageNet defaults), overrides
 */
#ifndef DENSECL_MODEL_H
#define DENSECL_MODEL_H

#include "formats/formats.h"

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

/* ---------------------------------------------------------------- weights.c, labels.c,
 * preprocess.c */

/* What a weights handle holds: the config and the raw tensors, nothing derived from them (the
 * engine folds and packs for its own plan). */
struct densecl_weights {
    densecl_config cfg;
    dc_tensor_set tensors; /* raw float32 tensors, canonical keys */
    char *path;            /* the file, for messages; NULL for random weights */
    char **labels;         /* "densecl.labels", [label_count]; NULL when absent or malformed */
    int label_count;
};

/* labels.c: parses "densecl.labels" into w->labels (label_count 0 and a logged warning when it
 * is malformed: weights that load without names still load). */
void dc_weights_load_labels(densecl_weights *w);

/* preprocess_params.c: torchvision's ImageNet preprocessing (source IMAGENET); preprocess.c: a
 * hand-filled or parsed struct checked as densecl_image_to_input checks it (DENSECL_ERR_ARGUMENT,
 * fn names the call). */
void dc_preprocess_imagenet(densecl_preprocess *out);
densecl_status dc_preprocess_check(const densecl_preprocess *pp, const char *fn);
/* The static height and width of a declared input [N, C, H, W] (0 where symbolic); 0 when it
 * declares neither. */
int dc_input_decl_hw(const dc_input_decl *in, int *h, int *w);
/* 1 when h x w contradicts a static height or width of the declared input, with msg the input
 * and ONNX Runtime's words for each difference: "'input' [?, 3, 48, 48]: index: 2 Got: 64
 * Expected: 48"; 0 otherwise. */
int dc_input_decl_mismatch(const dc_input_decl *in, int h, int w, char *msg, size_t cap);

/* A 64-bit checksum of everything in w that changes a model's outputs or their names: its
 * config, every tensor (key, shape, values), its class names and its "densecl.preprocess".
 * Weights that give the same results have the same digest, whatever file they came from (what
 * MPI ranks compare: tools/densecl/mpi.c). */
uint64_t dc_weights_digest(const densecl_weights *w);

/* What the first bytes of a weights file say it is (weights.c reads at most 512 of them). */
typedef enum dc_file_kind {
    DC_FILE_SAFETENSORS = 0, /* also the default: the safetensors reader names what is wrong */
    DC_FILE_ONNX,
    DC_FILE_OTHER /* a format densecl recognises but does not read */
} dc_file_kind;
/* head: the file's first len bytes (weights.c reads 512). For DC_FILE_OTHER, *what is set to a
 * description ("a PyTorch checkpoint (torch.save's zip format)"). */
dc_file_kind dc_weights_sniff(const unsigned char *head, size_t len, const char **what);

/* Refuses (DENSECL_ERR_FORMAT, prefixed by path) a NaN or infinity in any tensor and a negative
 * value in any "*.running_var", naming the key, the first bad value and its index. */
densecl_status dc_weights_check_values(const dc_tensor_set *set, const char *path);

/* The "densecl.preprocess" metadata (densecl_weights_preprocess documents it) parsed and checked
 * for a model cfg; `what` (the weights file) starts each message; source is METADATA. */
densecl_status dc_preprocess_parse(const char *json, const densecl_config *cfg, const char *what,
                                   densecl_preprocess *out);
/* Class names from a JSON array of exactly `classes` strings ("densecl.labels"). *names is a
 * malloc'd array of malloc'd strings; free with dc_names_free(names, classes). */
densecl_status dc_names_parse_json(const char *json, int classes, const char *what, char ***names);
void dc_names_free(char **names, int count);

#endif /* DENSECL_MODEL_H */
