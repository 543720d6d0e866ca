/* SPDX-License-Identifier: MIT */
/*
 * formats.h - the file formats densecl reads and writes, as tensors under canonical keys: no
 * DenseNet rules beyond the key names. Not installed.
 *
 *   safetensors.c  the format: reader, dtype conversion, key names, tensor set
 *   safetensors_write.c  the writer
 *   onnx.c         ONNX protobuf: tensors, attributes, external data, aliases (onnx_impl.h)
 *   onnx_graph.c   a DenseNet graph recognised, its tensors under canonical keys
 *   onnx_check.c   the ONNX checker's structural rules
 *   onnx_file.c    the file: its limits, decoding, the entry points
 *   npy.c          .npy read/write
 */
#ifndef DENSECL_FORMATS_H
#define DENSECL_FORMATS_H

#include "base/base.h"

/* ---------------------------------------------------------------- safetensors.c */

typedef enum dc_dtype {
    DC_F32 = 0,
    DC_F16,
    DC_BF16,
    DC_F64,
    DC_I64,
    DC_I32,
    DC_I16,
    DC_I8,
    DC_U8,
    DC_BOOL,
    DC_OTHER
} dc_dtype;

/* Most dimensions a tensor may have (safetensors and ONNX files alike). */
#define DC_TENSOR_MAX_NDIM 8

/* A model input as a file declares it (ONNX's graph input): its name and its dims, each a size
 * or -1 (symbolic, such as "batch", or not given); ndim 0 when the file declares nothing
 * (safetensors, or an ONNX input without a tensor shape). */
typedef struct dc_input_decl {
    char name[128];
    int ndim;
    int64_t dims[DC_TENSOR_MAX_NDIM];
} dc_input_decl;

typedef struct dc_tensor {
    char *key;      /* canonical key (legacy names already mapped) */
    dc_dtype dtype; /* dtype in the file */
    int ndim;
    int64_t shape[DC_TENSOR_MAX_NDIM];
    float *data; /* converted to float32, owned; NULL for ignored tensors */
} dc_tensor;

typedef struct dc_tensor_set {
    int count;
    dc_tensor *t;
    int meta_count; /* __metadata__ string pairs */
    char **meta_keys;
    char **meta_values;
    dc_input_decl input; /* ONNX: the graph input the stem reads, as declared */
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

/* IEEE half -> float, exactly (subnormals, signed zeros, infinities, NaNs);
 * also the ONNX reader's FLOAT16. */
float dc_f16_to_float(uint16_t h);

/* ---------------------------------------------------------------- onnx_file.c */

/* Reads an ONNX file (protobuf-c, generated from onnx.proto) holding a DenseNet as exported by
 * torch.onnx.export (opsets 7-21, folded or not, any batch axis) and returns its tensors under
 * torchvision's canonical keys, as dc_safetensors_read does: BN folded into a conv by the
 * exporter comes back as an identity BN whose beta is the conv's bias; the model's
 * metadata_props become the set's metadata, the declared shape of the graph input the stem
 * reads its input_* fields. A graph that is not such a DenseNet is refused
 * (DENSECL_ERR_FORMAT) naming the node that does not fit, after a line saying what it looks
 * like when it is a well-known other kind of network (a ResNet's residual Adds, ...). External data
 * is read from files beside path only (relative, no ".."). */
densecl_status dc_onnx_read(const char *path, dc_tensor_set *out);
/* The same from memory (for the fuzzer); dir: where external data may be read, or NULL (then
 * external data is refused). */
densecl_status dc_onnx_parse(const void *bytes, size_t len, const char *what, const char *dir,
                             dc_tensor_set *out);

/* ---------------------------------------------------------------- npy.c */

typedef struct dc_npy {
    int ndim;
    int64_t shape[8];
    size_t count; /* product of shape */
    float *data;  /* float32, C order, owned */
} dc_npy;

/* Reads a little-endian '<f4' (or '<f8', converted) C-order .npy, versions 1.0-3.0. */
densecl_status dc_npy_read(const char *path, dc_npy *out);
/* Reads from memory (for the fuzzer); `what` names the source in messages. */
densecl_status dc_npy_parse(const void *bytes, size_t len, const char *what, dc_npy *out);
/* Writes '<f4' v1.0. Atomic: temporary file, then rename; nothing left behind on failure. */
densecl_status dc_npy_write(const char *path, const int64_t *shape, int ndim, const float *data);
void dc_npy_free(dc_npy *a);

#endif /* DENSECL_FORMATS_H */
