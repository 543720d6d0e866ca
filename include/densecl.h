/* SPDX-License-Identifier: MIT */
/*
 * densecl.h - DenseNet inference on any OpenCL device.
 *
 * The one public header. C99 and C++ clean; it does not include the OpenCL headers (the
 * bring-your-own-context constructor takes the OpenCL handle types by their struct tags, which
 * are ABI-identical to cl_context and cl_command_queue).
 *
 * Data flow: a densecl_config (preset, hand-written, or inferred from a weights file) plus
 * densecl_weights (a safetensors file or a seeded random set) are bound to a device by a
 * densecl_engine, which runs batches of NCHW float32 images and returns logits.
 *
 * Errors: every fallible call returns a densecl_status. densecl_last_error() gives the detail of
 * the last failure on the calling thread (the file, tensor key, shapes, OpenCL error name or
 * compiler log). The library never prints, exits or aborts; install a log callback to see its
 * messages.
 *
 * Ownership: every handle is created by a *_create or *_load function and released by its *_free
 * function; *_free(NULL) is a no-op. Strings returned by the library are owned by it and stay
 * valid as documented per function.
 *
 * Threads: distinct handles may be used from distinct threads at once. What may be shared:
 *   - a densecl_weights, once loaded, read-only: any number of threads and engines may use it at
 *     once (densecl_engine_create*, densecl_weights_config, densecl_weights_metadata,
 *     densecl_weights_preprocess, densecl_weights_label_count, densecl_weights_label); only
 *     densecl_weights_free must wait until every other call using it has returned (engines keep
 *     no reference to it: it may be freed once they are created);
 *   - a densecl_engine: densecl_engine_run, densecl_engine_start, densecl_job_wait (each job
 *     once), densecl_engine_set_profiling, densecl_engine_device, densecl_engine_memory,
 *     densecl_engine_replica_count, densecl_engine_replica_stats and densecl_engine_profile may
 *     be called from any threads at once. They take the engine's lock in turn; a run holds it
 *     while it enqueues a batch and while it completes one (failover, counters, profile), not
 *     while the devices compute, so the runs of several threads overlap on the devices, in the
 *     order they were started, and an accessor reads the state as of the last completed run.
 *     Pointers they return stay valid as documented per function (densecl_engine_profile's
 *     events only until the next run completes, which another thread may do: sharing threads
 *     that read events must order their runs themselves). densecl_engine_free must wait until
 *     every other call on the engine has returned. A log callback may be called while a run
 *     holds the lock, so it must not call the engine's functions (they would wait for ever).
 * Any other handle must not be used by two threads at the same time. The process-wide calls
 * (densecl_set_log) are set-up calls: make them before starting threads.
 */
#ifndef DENSECL_H
#define DENSECL_H

#include <stddef.h>
#include <stdint.h>

/* Marks the public functions. The shared library is built with hidden visibility, so that it
 * exports these and nothing else (none of the internal dc_* functions). */
#ifndef DENSECL_API
#if defined(__GNUC__) && __GNUC__ >= 4
#define DENSECL_API __attribute__((visibility("default")))
#else
#define DENSECL_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define DENSECL_VERSION_MAJOR 0
#define DENSECL_VERSION_MINOR 7
#define DENSECL_VERSION_PATCH 5

/* Most dense blocks a config may have. */
#define DENSECL_MAX_BLOCKS 8

typedef enum densecl_status {
    DENSECL_OK = 0,
    DENSECL_ERR_ARGUMENT,    /* NULL pointer, bad option, out-of-range value */
    DENSECL_ERR_IO,          /* a file could not be opened, read, mapped or written */
    DENSECL_ERR_FORMAT,      /* a file is malformed (safetensors header, .npy header, sizes) */
    DENSECL_ERR_MISMATCH,    /* weights do not fit the model: missing or extra key, shape, dtype */
    DENSECL_ERR_INPUT,       /* input tensor of the wrong rank or channels, or too small */
    DENSECL_ERR_UNSUPPORTED, /* a valid request densecl cannot serve: dtype, layout, version */
    DENSECL_ERR_NO_DEVICE,   /* no OpenCL platform, or no device matches the spec */
    DENSECL_ERR_BUILD,       /* kernels.cl did not build for the device; log in the detail */
    DENSECL_ERR_OPENCL,      /* an OpenCL call failed; its error name is in the detail */
    DENSECL_ERR_NO_MEMORY,   /* a host or device allocation failed */
    DENSECL_ERR_LIMIT        /* a request exceeds a device limit (max allocation, global memory) */
} densecl_status;

/* Short English name of a status ("invalid argument"). Never NULL; static storage. */
DENSECL_API
const char *densecl_status_str(densecl_status status);

/* Detail of the last failure on this thread, "" if none. Valid until the next densecl call on
 * this thread. */
DENSECL_API
const char *densecl_last_error(void);

/* "MAJOR.MINOR.PATCH". Static storage. */
DENSECL_API
const char *densecl_version(void);

typedef enum densecl_log_level {
    DENSECL_LOG_ERROR = 0,
    DENSECL_LOG_WARN = 1,
    DENSECL_LOG_INFO = 2,
    DENSECL_LOG_DEBUG = 3
} densecl_log_level;

/* A log sink. msg is a single line without a trailing newline, valid during the call only.
 * May be called from any thread that calls into the library. */
typedef void (*densecl_log_fn)(densecl_log_level level, const char *msg, void *user);

/* Installs (fn != NULL) or removes (fn == NULL) the process-wide log sink. Not thread-safe with
 * respect to concurrent logging: set it once at start-up. */
DENSECL_API
void densecl_set_log(densecl_log_fn fn, void *user);

/* ---------------------------------------------------------------------------------------------
 * Model configuration
 * ------------------------------------------------------------------------------------------- */

typedef enum densecl_stem {
    DENSECL_STEM_IMAGENET = 0, /* 7x7/2 conv, BN, ReLU, 3x3/2 max-pool (torchvision) */
    DENSECL_STEM_CIFAR = 1     /* one 3x3/1 conv, no BN (DenseNet-BC CIFAR models) */
} densecl_stem;

typedef struct densecl_config {
    int growth_rate;                      /* k: channels each dense layer adds */
    int num_blocks;                       /* dense blocks, 1..DENSECL_MAX_BLOCKS */
    int block_layers[DENSECL_MAX_BLOCKS]; /* layers per block; entries past num_blocks are 0 */
    int init_features;                    /* channels out of the stem */
    int bottleneck;                       /* nonzero: BN-ReLU-1x1(bn_size*k)-BN-ReLU-3x3(k) */
    int bn_size;                          /* bottleneck width factor (4); unused without it */
    float compression;                    /* theta in (0, 1]: transitions keep floor(C*theta) */
    densecl_stem stem;
    int in_channels; /* image channels (3 for RGB) */
    int num_classes; /* classifier outputs */
} densecl_config;

/* Presets: index 0..densecl_preset_count()-1. Names are static storage. */
DENSECL_API
int densecl_preset_count(void);
DENSECL_API
const char *densecl_preset_name(int index);

/* Fills *out with the named preset ("densenet121", "densenet-bc-100-k12", ...).
 * DENSECL_ERR_ARGUMENT for an unknown name (the detail lists the known ones). */
DENSECL_API
densecl_status densecl_config_preset(const char *name, densecl_config *out);

/* Checks a config for consistency (positive sizes, block count, theta range, no channel count
 * collapsing to 0). DENSECL_OK or DENSECL_ERR_ARGUMENT with the reason. */
DENSECL_API
densecl_status densecl_config_check(const densecl_config *cfg);

/* Trainable parameters (conv/BN/linear weights and biases; not BN running statistics), as
 * torchvision counts them. 0 for an invalid config. */
DENSECL_API
uint64_t densecl_config_params(const densecl_config *cfg);

/* Multiply-accumulates of one forward pass of one height x width image (convolutions and the
 * classifier), as the paper and torchvision's model cards count them. 0 if the input is too
 * small for the model or the config is invalid. */
DENSECL_API
uint64_t densecl_config_macs(const densecl_config *cfg, int height, int width);

/* Smallest square input side the model accepts (29 for the ImageNet models). */
DENSECL_API
int densecl_config_min_size(const densecl_config *cfg);

/* ---------------------------------------------------------------------------------------------
 * Weights
 * ------------------------------------------------------------------------------------------- */

typedef struct densecl_weights densecl_weights;

/* Loads a safetensors file (F32, F16, BF16 or F64 tensors; torchvision key names, or the legacy
 * "norm.1" style of torchvision's old .pth files; num_batches_tracked ignored). Every tensor is
 * converted to float32 on load; an F64 value beyond float32's range is refused with the key and
 * the index rather than turned into infinity. An ONNX file of a DenseNet (as torch.onnx.export
 * writes one) is read too, recognised by its graph (DENSECL_ERR_FORMAT naming the node that does
 * not fit otherwise); other formats (a PyTorch checkpoint, ...) are refused with
 * DENSECL_ERR_FORMAT, saying what the file is and how to convert it.
 *   path:   the file; it is read into memory (not mapped) and closed before returning. A file
 *           whose size or modification time changes while it is read (being rewritten) is
 *           refused with DENSECL_ERR_IO naming it.
 *   expect: NULL to infer the architecture from the tensor shapes (and our "densecl.config"
 *           metadata entry when present); otherwise the file must match this config exactly,
 *           except that expect->num_classes == 0 or expect->in_channels == 0 take the file's.
 *   out:    receives the new handle; release with densecl_weights_free().
 * Every mismatch is refused, with the key and both shapes in the detail (DENSECL_ERR_MISMATCH).
 * So are values no trained model has, with DENSECL_ERR_FORMAT naming the key, the first bad
 * value and its index: NaN or infinity in any tensor (weights, biases, BN parameters and
 * running statistics) and a negative BN running_var; densecl_weights_load_ex can accept them. */
DENSECL_API
densecl_status densecl_weights_load(const char *path, const densecl_config *expect,
                                    densecl_weights **out);

/* Options of densecl_weights_load_ex. Zero-initialise, then set what you need. */
typedef struct densecl_weights_options {
    const densecl_config *expect; /* as densecl_weights_load's expect; NULL: infer */
    int allow_nonfinite;          /* nonzero: accept NaN, infinities and negative running_var
                                     (outputs may then be NaN); still converted and checked
                                     for shapes */
} densecl_weights_options;

/* densecl_weights_load with options (NULL: the defaults, as densecl_weights_load(path, NULL,
 * out)). */
DENSECL_API
densecl_status densecl_weights_load_ex(const char *path, const densecl_weights_options *options,
                                       densecl_weights **out);

/* Random weights for benchmarking and tests: He-normal convs, randomized BN affine and running
 * statistics (so BN is not the identity), all from a 64-bit seed; the same seed gives the same
 * weights on every platform. */
DENSECL_API
densecl_status densecl_weights_random(const densecl_config *cfg, uint64_t seed,
                                      densecl_weights **out);

/* The architecture of the weights. Owned by w. */
DENSECL_API
const densecl_config *densecl_weights_config(const densecl_weights *w);

/* A string value of the file's __metadata__ object, or NULL. Owned by w. */
DENSECL_API
const char *densecl_weights_metadata(const densecl_weights *w, const char *key);

DENSECL_API
void densecl_weights_free(densecl_weights *w);

/* ---------------------------------------------------------------------------------------------
 * Preprocessing and class names: decoded pixels into the model's input
 *
 * What `densecl classify` does with an image, for programs that embed the library. Decoding
 * stays with the caller (libpng, libjpeg, stb_image, a camera), as with ONNX Runtime: these
 * functions start from decoded pixels. EXIF orientation is not applied (torchvision does not
 * apply it either): rotate the pixels first if the model was trained on rotated ones.
 * ------------------------------------------------------------------------------------------- */

/* Largest side of any size in a densecl_preprocess (input, resize target, crop, and a side the
 * resize makes). */
#define DENSECL_PREPROCESS_MAX_SIDE 16384

/* Where a densecl_preprocess came from. */
typedef enum densecl_preprocess_source {
    DENSECL_PREPROCESS_METADATA = 0,   /* the weights' "densecl.preprocess" metadata entry */
    DENSECL_PREPROCESS_IMAGENET = 1,   /* no such entry: assumed, at least in part: a 3-channel
                                          ImageNet-stem model gets torchvision's ImageNet
                                          preprocessing (resize 256, crop 224) unless its ONNX
                                          graph declares another input size; ImageNet's mean
                                          and std are assumed for 3 channels unless given */
    DENSECL_PREPROCESS_ONNX_INPUT = 2, /* no such entry: the input size the ONNX graph declares
                                          (H x W of its [N, C, H, W] input), square ones reached
                                          by resizing the shorter side to it and a centre crop,
                                          others by resizing to exactly it; with ImageNet's mean
                                          and std (3 channels) unless given (since 0.7.0) */
    DENSECL_PREPROCESS_GIVEN = 3       /* the caller's overrides (densecl_weights_preprocess_ex),
                                          over the metadata when there is some: nothing assumed
                                          (since 0.7.0) */
} densecl_preprocess_source;

/* How pixels become the model's input, in this order: samples scaled to [0, 1] (8-bit / 255,
 * 16-bit / 65535); resized (bilinear, antialiased when shrinking, as torchvision and PIL do) so
 * that the shorter side is `resize` (the longer one scaled and truncated), or to exactly
 * resize_height x resize_width; centre-cropped to crop_height x crop_width (torchvision's
 * offsets; zero padding where the crop is larger than the image); resized to height x width if
 * it is not that size yet; then (x - mean[c]) / std[c] per channel. Channels: colour into a
 * 1-channel model is luminance (ITU-R 601: 0.299 R + 0.587 G + 0.114 B), grey into a 3-channel
 * model is replicated, alpha is dropped (not composited). A caller may fill one by hand. */
typedef struct densecl_preprocess {
    int channels;                    /* the model's input channels: 1 or 3 */
    int height, width;               /* the input every image ends at, in pixels */
    int resize;                      /* shorter side after the resize; 0: see resize_height */
    int resize_height, resize_width; /* exact size instead (resize == 0); both 0: no resize */
    int crop_height, crop_width;     /* centre crop after the resize; both 0: none */
    float mean[3], std[3];           /* per channel, of the [0, 1] values; the first `channels`
                                        are used (std normal and positive, mean finite) */
    densecl_preprocess_source source;
} densecl_preprocess;

/* The preprocessing the weights were trained with: their "densecl.preprocess" metadata (a JSON
 * object: height, width, channels, mean, std, resize and crop as an integer, [height, width] or
 * null, interpolation "bilinear"; every field optional: channels default to the model's, height
 * x width to the crop, mean and std to 0 and 1), parsed and checked on each call; without it,
 * an assumption (out->source says which; densecl_weights_preprocess_ex has the rules): the input
 * size an ONNX graph declares, else torchvision's ImageNet preprocessing for a 3-channel
 * ImageNet-stem model. Errors: DENSECL_ERR_FORMAT for malformed metadata (the detail names the
 * field), DENSECL_ERR_MISMATCH when its channels are not the model's or its height x width is below
 * densecl_config_min_size(), DENSECL_ERR_UNSUPPORTED for a model whose input is not 1 or 3
 * channels, another interpolation, or no metadata on a model that has no standard
 * preprocessing (feed it preprocessed tensors). *out is written on success only. */
DENSECL_API
densecl_status densecl_weights_preprocess(const densecl_weights *w, densecl_preprocess *out);

/* densecl_weights_preprocess with the caller's overrides (since 0.7.0), as `densecl classify
 * --size/--resize/--crop/--mean/--std/--channels` give them.
 *   overrides: NULL (then this is densecl_weights_preprocess), or a JSON object with any of the
 *              metadata's keys (height, width, channels, resize, crop, mean, std,
 *              interpolation), each meaning what it means there; every key present replaces
 *              what the metadata (or, without metadata, the assumption) says, the others stay;
 *              null clears resize or crop. Without height and width the input is the crop,
 *              else the exact resize, as in the metadata. channels must be the model's (it is a
 *              check, not a conversion). Another key, or text that is not a JSON object, is
 *              refused (DENSECL_ERR_ARGUMENT or DENSECL_ERR_FORMAT).
 * Without metadata, what is neither given nor declared is assumed only where there is a standard
 * to assume (out->source: DENSECL_PREPROCESS_IMAGENET or DENSECL_PREPROCESS_ONNX_INPUT say
 * something was, and callers should say so: classify prints a warning): the input size from the
 * ONNX graph's declared input, else torchvision's ImageNet sizes for a 3-channel ImageNet-stem
 * model; ImageNet's mean and std for 3 channels. A model without such a standard (no declared
 * size, not an ImageNet stem; 1 channel without a mean and std) is refused with
 * DENSECL_ERR_UNSUPPORTED naming what to give. The result must have the height and width a static
 * ONNX input declares: otherwise DENSECL_ERR_MISMATCH, whose detail gives the declared shape
 * and each difference as ONNX Runtime does ("index: 2 Got: 64 Expected: 48"). */
DENSECL_API
densecl_status densecl_weights_preprocess_ex(const densecl_weights *w, const char *overrides,
                                             densecl_preprocess *out);

/* The class names of the "densecl.labels" metadata entry (a JSON array of exactly num_classes
 * strings), parsed when the weights are loaded. Without that entry, or when it is malformed
 * (wrong count, not strings: the load then logs a DENSECL_LOG_WARN saying why, and does not
 * fail), the count is 0 and every name NULL: the caller chooses a fallback (classify says
 * "class N", or uses imagenet-classes.txt for 1000 classes). */
DENSECL_API
int densecl_weights_label_count(const densecl_weights *w);
/* Name of class index (0 <= index < densecl_weights_label_count(w)), UTF-8; NULL otherwise or
 * for a NULL w. Owned by w, valid until densecl_weights_free(w). */
DENSECL_API
const char *densecl_weights_label(const densecl_weights *w, int index);

/* Turns one decoded image into the model's input, exactly as `densecl classify` does.
 *   pp:         the preprocessing (densecl_weights_preprocess, or filled by hand); checked
 *   pixels:     interleaved samples [height][width][channels], row by row; 8 bits: uint8_t,
 *               16 bits: uint16_t in the machine's byte order (as libpng gives with
 *               png_set_swap on little-endian machines, and stb_image's *_16 functions); any
 *               alignment
 *   width, height: in pixels, >= 1
 *   channels:   1 grey, 2 grey + alpha, 3 RGB, 4 RGBA
 *   bits:       8 or 16
 *   row_stride: bytes from one row's start to the next's; 0: width * channels * bits / 8
 *   out:        float32 [pp->channels][pp->height][pp->width], allocated by the caller
 * DENSECL_ERR_ARGUMENT for a NULL pointer, a bad size, channel count, bit depth or stride, sizes
 * whose product overflows, or an invalid pp; DENSECL_ERR_INPUT when the resize would make a
 * side out of [1, DENSECL_PREPROCESS_MAX_SIDE] (a 1 x 20000 image); DENSECL_ERR_NO_MEMORY.
 * out is fully written on success; on failure its contents are unspecified. Thread-safe. */
DENSECL_API
densecl_status densecl_image_to_input(const densecl_preprocess *pp, const void *pixels, int width,
                                      int height, int channels, int bits, size_t row_stride,
                                      float *out);

/* ---------------------------------------------------------------------------------------------
 * Devices
 * ------------------------------------------------------------------------------------------- */

typedef enum densecl_device_type {
    DENSECL_DEVICE_CPU = 1,
    DENSECL_DEVICE_GPU = 2,
    DENSECL_DEVICE_ACCELERATOR = 4,
    DENSECL_DEVICE_OTHER = 8
} densecl_device_type;

/* One device's facts. Strings are NUL-terminated; one longer than its array is cut and ends in
 * "..." (never left empty).
 * ABI change in 0.7.0: device_version grew from 64 to 256 bytes (POCL's CL_DEVICE_VERSION, 65
 * characters, came back empty), moving every field after it: code compiled against an older
 * densecl.h must be recompiled (and the Python module of the same version used). */
typedef struct densecl_device_info {
    int platform_index; /* position in clGetPlatformIDs */
    int device_index;   /* position in the platform's clGetDeviceIDs(ALL) */
    densecl_device_type type;
    char platform_name[128];
    char name[128];
    char vendor[128];
    char driver_version[64];
    char device_version[256];  /* CL_DEVICE_VERSION: "OpenCL 3.0 PoCL HSTR: pthread-..." */
    char opencl_c_version[64]; /* "OpenCL C 1.2 PoCL" */
    unsigned compute_units;
    unsigned clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;
    uint64_t local_mem_bytes;
    size_t max_work_group_size;
    int compiler_available;
} densecl_device_info;

/* "GPU", "CPU", "ACCELERATOR" or "OTHER". Static storage. */
DENSECL_API
const char *densecl_device_type_str(densecl_device_type type);

/* Lists every device of every platform. Writes at most max entries to out (out may be NULL when
 * max is 0) and the total to *count. DENSECL_ERR_NO_DEVICE when there is no platform at all. */
DENSECL_API
densecl_status densecl_devices(densecl_device_info *out, int max, int *count);

/* Resolves a device spec to one device:
 *   "auto" or NULL  the first GPU, else the first accelerator, else the first CPU, else any
 *   "cpu" "gpu" "accelerator"  the first device of that type
 *   "P:D"           platform P, device D (indices as listed by densecl_devices)
 *   "A|B|..."       a fallback list: the first of the specs A, B, ... that matches a device
 *                   ("gpu|cpu": a GPU if there is one, else a CPU; since 0.7.0)
 *   anything else   the first device whose name contains the text (case-insensitive)
 * DENSECL_ERR_NO_DEVICE with the list of devices in the detail when nothing matches. */
DENSECL_API
densecl_status densecl_device_find(const char *spec, densecl_device_info *out);

/* ---------------------------------------------------------------------------------------------
 * Engine: weights bound to a device, ready to run
 * ------------------------------------------------------------------------------------------- */

typedef struct densecl_engine densecl_engine;

/* The OpenCL handle types, by their tags (cl_context is struct _cl_context *). */
struct _cl_context;
struct _cl_command_queue;

/* Picks the device(s) by spec, creates a context and queue per device, builds the kernels for
 * each (kernels.cl and the kernels/ files it lists, embedded; or, when $DENSECL_KERNELS names a
 * kernels.cl on disk, those beside it) and uploads the folded weights to each. w may be freed
 * once this returns.
 *   device_spec: one spec as for densecl_device_find, or several joined by commas
 *                ("0:0,1:0", "gpu,cpu"), or "all" for every device. With several devices (one
 *                "replica" each) every batch is split across them in proportion to their
 *                speed, measured at creation and corrected after each run; a device that fails
 *                is taken out and its images are computed on the others. Each item of the list
 *                must match a device ("gpu,cpu" fails without a GPU); "gpu|cpu" is one item
 *                that falls back: the first of its specs that matches. */
DENSECL_API
densecl_status densecl_engine_create(const densecl_weights *w, const char *device_spec,
                                     densecl_engine **out);

/* Work-item tiles of the direct conv family's kernels: the output channels x output pixels one
 * work-item computes (kernels/direct.cl's CONV_FLAT_CO x CONV_FLAT_PX for 1x1 convs, CONV_TCO x
 * CONV_TPX for the others; the 7x7/2 stem kernel takes at most 16 x 4 of them). They change
 * speed only, never results beyond fp32 reordering. `densecl tune` measures them on a device and
 * saves the fastest for it; engines on that device then use them, fitted to their model
 * (below). */
typedef struct densecl_tiles {
    int conv1x1_channels; /* 1 to 16 (default 4; 8 on CPUs with 16-wide float vectors) */
    int conv1x1_pixels;   /* 2, 4, 8, 16, 24 or 32 (default 16; 32 on those CPUs) */
    int conv_channels;    /* 2, 4, 8, 16 or 32 (default 16; 32 on those CPUs) */
    int conv_pixels;      /* 1 to 8 (default 3; 4 on those CPUs) */
} densecl_tiles;
/* An engine fits default and tuned (not given) conv tiles to its model: 32 conv channels become
 * 16, with twice the pixels (up to 8), where that wastes fewer multiply-adds on the padding
 * channels of its 3x3 convs (a growth rate of 12 or 48, not 32). densecl_replica_stats.tiles
 * are those it built with. */

/* Where a replica's tiles came from. */
typedef enum densecl_tiles_origin {
    DENSECL_TILES_DEFAULT = 0, /* the built-in defaults */
    DENSECL_TILES_TUNED,       /* the device's file from `densecl tune`, in the cache directory */
    DENSECL_TILES_GIVEN        /* densecl_engine_options.tiles, or a kernels_binary's own */
} densecl_tiles_origin;

/* Options of densecl_engine_create_ex. Zero-initialise, then set what you need. */
typedef struct densecl_engine_options {
    const char *device;         /* device spec(s) as for densecl_engine_create; NULL = "auto" */
    const char *kernels_binary; /* a program binary written by densecl_compile_kernels, loaded
                                   instead of compiling kernels.cl (what FPGA boards need); it is
                                   refused if built for another device, driver or kernels.cl, or
                                   without a conv kernel the model needs (a cache entry of another
                                   model may be), and brings its own conv tiles */
    int no_kernel_cache;        /* nonzero: neither read nor write the on-disk kernel cache */
    densecl_tiles tiles;        /* all four set: use these tiles on every device; all zero: the
                                   device's tuned tiles (DENSECL_NO_TUNING=1 ignores them), else
                                   the defaults; anything else is refused. The direct conv
                                   family's parameters in their legacy form (kernel_params
                                   "direct:1x1=CxP,conv=CxP" says the same) */
    const char *conv;           /* the conv kernel family: NULL (then $DENSECL_CONV, else auto),
                                   "auto": the family `densecl tune` saved for the device, else
                                   "gemm" on GPUs and "direct" elsewhere (with the 3x3/1/1 convs
                                   on "winograd" on AVX-512 CPUs; kernel_params
                                   "winograd:ON=0" keeps them on direct), each conv a family
                                   cannot run falling back to direct; "direct", "gemm" or
                                   "clblast" (when built with CLBlast): every conv on it, and a
                                   conv it cannot run refused with the reason; "winograd": the
                                   3x3 convs on it (one it cannot run refused), the others on
                                   direct */
    const char *kernel_params;  /* NULL, or the families' parameters as text:
                                   "[family:]NAME=V[,NAME=V...][;family:...]", e.g.
                                   "direct:1x1=8x32,conv=16x4" or "gemm:MWG=64,NWG=64,KWG=16";
                                   NAMEs as `densecl info` lists them
                                   (case-insensitive), V a whole number in the parameter's range;
                                   without "family:" the text is conv's (refused with auto). A
                                   family's parameters apply where it runs; an unknown family or
                                   parameter, a value out of range or given twice is refused */
    int threads;                /* 0: every thread of each CPU device; N > 0: a CPU device
                                   (CL_DEVICE_TYPE_CPU: POCL, Intel's CPU runtime) runs on N of
                                   its compute units: the engine uses a sub-device of N units
                                   (clCreateSubDevices, CL_DEVICE_PARTITION_BY_COUNTS, else
                                   _EQUALLY), which POCL runs on N threads; the replica's
                                   device.compute_units then says N. The sub-device is made once
                                   per device and N, and kept for the process (POCL 3.1 may
                                   still touch a released one). N at or above the device's
                                   units uses it whole. A CPU device that cannot be partitioned
                                   so is refused (DENSECL_ERR_UNSUPPORTED) rather than run on
                                   all its threads. GPUs and accelerators are not affected.
                                   Since 0.7.0: this field changed the struct's size (ABI). */
} densecl_engine_options;

/* densecl_engine_create with options. The kernel cache keeps built programs in
 * $DENSECL_CACHE_DIR (else $XDG_CACHE_HOME/densecl, else ~/.cache/densecl), keyed by platform,
 * device, driver, OpenCL C version, densecl version, every kernel source, build options and the
 * resolved conv families; a stale or corrupt entry is rebuilt and replaced. DENSECL_NO_CACHE=1
 * also turns it off. */
DENSECL_API
densecl_status densecl_engine_create_ex(const densecl_weights *w,
                                        const densecl_engine_options *options,
                                        densecl_engine **out);

/* Builds kernels.cl for the device a spec names and writes the program binary to path
 * (atomically), for densecl_engine_options.kernels_binary. */
DENSECL_API
densecl_status densecl_compile_kernels(const char *device_spec, const char *path);

/* Like densecl_engine_create, on the caller's OpenCL objects: a cl_context and an in-order
 * cl_command_queue of that context (pass them as they are; cl_context is a struct _cl_context *).
 * An out-of-order queue (CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) is refused with
 * DENSECL_ERR_ARGUMENT: densecl orders a run's commands by the queue.
 * They stay the caller's: densecl retains both for the engine's lifetime and releases only its
 * own references in densecl_engine_free(), so the caller may release theirs at any time. */
DENSECL_API
densecl_status densecl_engine_create_cl(const densecl_weights *w, struct _cl_context *context,
                                        struct _cl_command_queue *queue, densecl_engine **out);

/* Runs a batch. An engine may be shared by threads: their runs go to the devices in the order
 * they were started (see Threads, at the top, for what may overlap a run).
 *   input:  float32 [n, c, h, w], NCHW, contiguous; c must equal the config's in_channels and
 *           h, w be at least densecl_config_min_size(); weights read from an ONNX graph whose
 *           input has a static height or width take only that (DENSECL_ERR_INPUT otherwise,
 *           naming the declared shape as ONNX Runtime does: "index: 2 Got: 64 Expected: 48");
 *           n is free whatever the graph's batch size.
 *   logits: float32 [n, num_classes], written on success only.
 * Blocks until the logits are on the host. Any n >= 1 works; large batches are split to fit the
 * device's memory (on a CPU device: what the process can still get, by RLIMIT_AS, RLIMIT_DATA
 * and MemAvailable); DENSECL_ERR_NO_MEMORY, giving the sizes, when one image does not fit. */
DENSECL_API
densecl_status densecl_engine_run(densecl_engine *e, const float *input, int n, int c, int h, int w,
                                  float *logits);

/* ---- Runs that do not block: a pipeline.
 * densecl_engine_start() enqueues a batch (its upload, the model, the logits' download) on the
 * engine's devices and returns at once with a job; densecl_job_wait() waits for that job, copies
 * its logits out and frees it. Start batch i+1 before waiting for batch i and the devices never
 * idle between batches: batch i+1's upload goes through a second command queue into the other
 * of two input buffers while batch i computes, and the host prepares batch i+2 meanwhile.
 *   input:  as for densecl_engine_run; the device reads it until the job is waited for (or,
 *           for a job never waited for, until densecl_engine_free() returns), so it must stay
 *           allocated and unchanged until then.
 *   logits: [n, num_classes], written by densecl_job_wait() on success only; it must stay
 *           allocated until then.
 *   *job:   the job on success; NULL when start fails. Errors about the input itself (shape,
 *           channels, size) come from start; errors of the devices from wait, after the share
 *           of a failed device has been re-run on the others, as densecl_engine_run does.
 * Any number of jobs may be in flight; a device runs them in the order they were started. They
 * may be waited for in any order, from any thread, but each exactly once: the job is freed by
 * its wait. densecl_engine_free() waits for and frees the jobs never waited for. With
 * profiling on, densecl_engine_profile() gives the events of the last job waited for.
 * densecl_engine_run(e, ...) is densecl_engine_start() then densecl_job_wait(). */
typedef struct densecl_job densecl_job;

DENSECL_API
densecl_status densecl_engine_start(densecl_engine *e, const float *input, int n, int c, int h,
                                    int w, float *logits, densecl_job **job);
DENSECL_API
densecl_status densecl_job_wait(densecl_job *job);

/* The (first) device the engine runs on. Owned by e. */
DENSECL_API
const densecl_device_info *densecl_engine_device(const densecl_engine *e);

/* One device of an engine and what it did. */
typedef struct densecl_replica_stats {
    densecl_device_info device;
    int active;               /* 0 once a failure has taken the device out */
    double images_per_second; /* current speed estimate used to split batches */
    uint64_t images;          /* images this device computed, since creation */
    uint64_t retries;         /* batches it re-ran smaller after running out of memory */
    char failure[256];        /* why it was taken out; "" while active */
    densecl_tiles tiles;      /* the direct family's conv tiles its kernels were built with (all
                                 zero when no conv runs on the direct family) */
    densecl_tiles_origin tiles_origin;
    char resolved[1024]; /* what runs its convs, resolved once at creation: the family per
                            conv kind, each family's parameters, and why, e.g.
                            "1x1=direct 3x3=direct 7x7s2=direct; direct:FLAT_CO=8,...
                            (auto: default off GPUs)"; why is "auto: GPU default",
                            "auto: default off GPUs", "given" or "program binary", plus
                            what auto fell back from and which parameters were tuned or
                            given */
} densecl_replica_stats;

/* Number of devices (replicas) of the engine, active or not. */
DENSECL_API
int densecl_engine_replica_count(const densecl_engine *e);
/* Stats of replica i, 0 <= i < densecl_engine_replica_count(e). */
DENSECL_API
densecl_status densecl_engine_replica_stats(const densecl_engine *e, int i,
                                            densecl_replica_stats *out);

/* One op of the last run, from OpenCL event profiling: from the start of its first kernel to
 * the end of its last (an op may launch several: a split GEMM and its reduce, a library's
 * calls). 0.7.0 added `launches` (ABI: the struct grew). */
typedef struct densecl_op_event {
    const char *name; /* torchvision module: "features.denseblock1.denselayer1.conv1"; owned
                         by the engine, valid until densecl_engine_free() (runs at other
                         sizes keep it valid) */
    const char *kind; /* "conv1x1", "conv3x3", "conv7x7", "maxpool", "bnrelu_avgpool",
                         "bnrelu_gap", "linear", "upload", "download"; static */
    int replica;      /* which device */
    uint64_t macs;    /* multiply-accumulates it did (0 for pools and transfers) */
    double start_us;  /* start, microseconds after the run's first command started */
    double duration_us;
    int launches; /* kernels (and library calls) it enqueued; 1 for a transfer */
} densecl_op_event;

/* Turns event profiling on or off for later runs (off by default; it costs an event per op). */
DENSECL_API
densecl_status densecl_engine_set_profiling(densecl_engine *e, int on);
/* The events of the last profiled run, in enqueue order; owned by e, valid until the next run
 * or densecl_engine_free(). Returns the count (0 when profiling was off). */
DENSECL_API
int densecl_engine_profile(const densecl_engine *e, const densecl_op_event **events);

/* Device memory in bytes: weights, and the activation buffers the devices hold (0 before a
 * run): those of the largest chunk of the last image size, with its two input buffers (a
 * smaller batch runs in them) and the conv families' scratch. */
DENSECL_API
void densecl_engine_memory(const densecl_engine *e, uint64_t *weight_bytes,
                           uint64_t *activation_bytes);

DENSECL_API
void densecl_engine_free(densecl_engine *e);

/* Softmax over each row of a [rows, cols] matrix, in place, numerically stable (the row's max
 * is subtracted first, so any finite logits work). NaN and Inf as torch.softmax: a row holding
 * a NaN or a +inf becomes NaN throughout, a -inf gets probability 0, a row of -inf only is NaN;
 * each row on its own. */
DENSECL_API
void densecl_softmax(float *x, int rows, int cols);

/* ---------------------------------------------------------------------------------------------
 * Device self-test (what densecl-query reports per device)
 * ------------------------------------------------------------------------------------------- */

#define DENSECL_SELFTEST_CASES 3 /* conv cases checked against the host reference */
#define DENSECL_SELFTEST_LOG 16384

/* Filled by densecl_device_selftest. Text fields are NUL-terminated; a benchmark figure that was
 * not measured is 0. */
typedef struct densecl_selftest {
    /* The kernels built for the device; if not, why: a context failure, or the first 40 lines
     * of the compiler's log. */
    int build_ok;
    char build_log[DENSECL_SELFTEST_LOG];
    size_t preferred_multiple; /* densecl_conv2d's preferred work-group multiple, 0: unknown */
    /* The conv check: every case matched the host reference; the largest absolute error of
     * those that ran; "ok (max err 2e-7)", "FAILED: ..." or "not run: ..."; one line per case. */
    int conv_ok;
    double conv_max_abs_err;
    char conv_detail[512];
    char conv_cases[DENSECL_SELFTEST_CASES][200];
    /* The benchmarks, when asked for and the check passed; each figure is a median of that many
     * timed runs after a warm-up. */
    int bench_ran;
    int bench_runs, launch_runs, model_runs;
    double gflops, conv_ms;        /* fp32, a 1x1 conv 256->128 at 56x56 */
    double bandwidth_gbs, copy_ms; /* read + write, clEnqueueCopyBuffer of copy_bytes */
    size_t copy_bytes;
    double launch_latency_us;      /* enqueue + clFinish of the smallest kernel */
    double images_per_s, model_ms; /* the model, 224x224, batch 1, through the engine */
    char bench_error[512];         /* the first benchmark that failed, "" if none */
} densecl_selftest;

/* Checks one device as densecl-query does: builds the kernels, runs a few small convolutions
 * (through the conv family the engine uses) against a host reference, with guard bands around
 * the output; then, when bench is non-zero and the check passed, measures fp32 GFLOP/s, copy
 * bandwidth and launch latency, and, when model is not NULL, the model's images/s at 224x224,
 * batch 1 (DenseNet-121 in densecl-query; a few seconds per device, half a minute on a CPU).
 *   device_spec: one device, as for densecl_device_find
 *   out:         the results, owned by the caller (about 20 KiB: better not on a small stack)
 * DENSECL_OK when the test ran, whatever it found (a build failure is out->build_ok == 0);
 * DENSECL_ERR_NO_DEVICE when the spec matches none, DENSECL_ERR_ARGUMENT for a NULL out. */
DENSECL_API
densecl_status densecl_device_selftest(const char *device_spec, int bench,
                                       const densecl_weights *model, densecl_selftest *out);

#ifdef __cplusplus
}
#endif

#endif /* DENSECL_H */
