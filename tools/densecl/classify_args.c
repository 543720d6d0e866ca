/* SPDX-License-Identifier: MIT */
/*
 * classify_args.c - `densecl classify`: its usage text and its command line, parsed into the
 * classify_opts of classify.h (inputs apart from options; every value checked before anything
 * is read or built).
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "classify.h"
#include "commands.h"
#include "mpi.h"

const char cmd_classify_usage[] =
    "usage: densecl classify [--model NAME] --weights FILE [--device SPEC] [--threads N]\n"
    "                        [--top K] [--batch N] [--limit N] [--truth LABELS|folders]\n"
    "                        [--labels FILE] [--csv FILE|-] [--csv-top K] [--json]\n"
    "                        [--size N|HxW] [--resize N|HxW|none] [--crop N|HxW|none]\n"
    "                        [--mean M[,M,M]] [--std S[,S,S]] [--channels N]\n"
    "                        [--allow-nonfinite-weights] [--conv FAMILY]\n"
    "                        [--kernel-params TEXT] [--shard K/N] INPUT...\n"
    "\n"
    "Classifies images with a DenseNet and prints the most likely classes of each.\n"
    "\n"
    "INPUT is recognised by its content, not its name:\n"
    "  an image      PNG, JPEG, BMP, GIF (first frame), TGA, PSD, HDR, PIC, PGM/PPM\n"
    "  an IDX file   MNIST-style images (magic 0x00000803), gzipped or not: every image in it\n"
    "  a .npy file   float32 [N, C, H, W], already preprocessed: used as it is\n"
    "  a directory   its image files, by name (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp,\n"
    "                as torchvision's ImageFolder takes, and .gif .pnm .tga .psd .hdr .pic),\n"
    "                in subdirectories too, in the order of sorted(os.walk(DIR)) and by name;\n"
    "                what it skips (other files, hidden ones) is counted in a warning\n"
    "\n"
    "Images are preprocessed as the weights' \"densecl.preprocess\" metadata says: scaled to\n"
    "[0, 1], resized (bilinear, antialiased when shrinking) so the shorter side is 'resize',\n"
    "centre-cropped to 'crop', resized to height x width if still different, then\n"
    "(x - mean) / std per channel. Grey images are replicated into 3-channel models, colour\n"
    "ones become luminance (ITU-R 601) for 1-channel models, alpha is dropped. Without the\n"
    "metadata the input size an ONNX graph declares is taken (a square one: the shorter side\n"
    "resized to it, then a centre crop), else a 3-channel ImageNet-stem model gets\n"
    "torchvision's ImageNet preprocessing (resize 256, crop 224); a 3-channel model gets\n"
    "ImageNet's mean and std; a warning says what was assumed. Other models need the options\n"
    "below, or accept .npy inputs only. An input size other than a static one the ONNX graph\n"
    "declares is refused, naming it (\"index: 2 Got: 64 Expected: 48\").\n"
    "\n"
    "  --size N|HxW    the model's input size, and the centre crop (as densecl-export's);\n"
    "                  without --resize nothing is resized before the crop\n"
    "  --resize N|HxW|none  resize first: N the shorter side (as torchvision), HxW exactly\n"
    "  --crop N|HxW|none    the centre crop, when it is not --size (then resized to --size)\n"
    "  --mean M[,M,M]  per-channel mean, on [0, 1] pixels\n"
    "  --std S[,S,S]   per-channel std, on [0, 1] pixels\n"
    "  --channels N    the model's input channels (checked)\n"
    "                  Each of these replaces what the metadata (or the assumption) says.\n"
    "\n"
    "Class names come from --labels, else the \"densecl.labels\" metadata, else for 1000-class\n"
    "models from imagenet-classes.txt (in $DENSECL_DATA_DIR, the source tree's models/ or the\n"
    "installed share/densecl), else they are \"class N\".\n"
    "\n"
    "  --model NAME    a preset the weights must match (see 'densecl models'); by default the\n"
    "                  architecture is read from the weights\n"
    "  --weights FILE  safetensors or ONNX weights\n"
    "  --allow-nonfinite-weights\n"
    "                  accept NaN or infinite weights and negative BN variances (refused by\n"
    "                  default: the outputs would be NaN)\n"
    "  --device SPEC   auto (default), cpu, gpu, accelerator, P:D (see 'densecl info'), or\n"
    "                  part of a device name; A|B takes the first of them that exists\n"
    "                  (gpu|cpu), A,B splits the batches over both\n"
    "  --threads N     run a CPU device on N threads (default: all)\n"
    "  --top K         classes shown per image (default 5, at most the model's classes)\n"
    "  --batch N       images per inference call (default 32)\n"
    "  --limit N       classify only the first N images of the inputs\n"
    "  --truth LABELS  the true class of each image, in input order: an IDX label file\n"
    "                  (gzipped or not) or a text file with one class id per line; prints the\n"
    "                  top-1 (and top-5) accuracy\n"
    "  --truth folders each INPUT is a directory with one subdirectory per class, as\n"
    "                  torchvision's ImageFolder reads it: the folders are matched to the\n"
    "                  model's classes by name (case ignored, '_' as ' '); when none is named\n"
    "                  as a class and there are as many as classes, folder i in sorted order\n"
    "                  is class i, as ImageFolder numbers them (a warning says so); anything\n"
    "                  else is refused\n"
    "  --labels FILE   class names, one per line (UTF-8, as many lines as the model has\n"
    "                  classes, none empty; a final newline and CR line ends are fine): they\n"
    "                  replace the weights' names\n"
    "  --csv FILE      write 'input,index,class_id,label,probability' rows (each image's top\n"
    "                  class), written after every batch; '-' writes them to standard output,\n"
    "                  and then the per-image lines are not printed and the summary goes to\n"
    "                  stderr (not with --json, which is standard output's)\n"
    "  --csv-top K     K classes per CSV row (at most the model's classes): after the top\n"
    "                  class's columns, 'class_id_J,label_J,probability_J' for J = 2..K.\n"
    "                  With --truth the rows end in 'truth,truth_label' (the true class id\n"
    "                  and name). Without either, the columns are the five above\n"
    "  --json          print one JSON document instead of text: every image's top K, the\n"
    "                  inputs that failed, the summary\n"
    "  --conv FAMILY   conv kernel family: auto (default), direct, gemm, clblast,\n"
    "                  winograd (see 'densecl run --help')\n"
    "  --kernel-params TEXT  the families' parameters, e.g. direct:1x1=8x32,conv=16x4\n"
    "  --shard K/N     classify only shard K (from 0) of N: a contiguous share of the images,\n"
    "                  counted across all the inputs (after --limit); the shards' --csv files,\n"
    "                  concatenated in shard order without the repeated header lines, are the\n"
    "                  whole run's (see README, Clusters); --truth counts this shard's images\n"
    "  --verbose       log the library's messages to stderr\n"
    "  -h, --help      show this help\n"
    "\n"
    "Output: 'NAME: P1 CLASS1, P2 CLASS2, ...' per image (NAME is FILE[INDEX] inside IDX and\n"
    ".npy files), printed when the inputs hold at most 100 images or --top is given; then the\n"
    "device, the image count, the seconds and images/s of the classification (reading,\n"
    "preprocessing, inference) and, apart, the start-up time (weights, kernel build). On a\n"
    "terminal a progress bar is drawn on stderr.\n"
    "\n"
    "An input that cannot be read or decoded is reported ('densecl: warning: FILE: why') and\n"
    "skipped; the other results are kept. Put '--' before inputs whose names start with '-'.\n"
    "Exit status: 0 when every input was classified, 3 when some were skipped, 1 on a runtime\n"
    "error, 2 on a usage error, 128 + the signal when interrupted (130 for Ctrl-C, 143 for\n"
    "SIGTERM, 129 for SIGHUP: no more inputs are read, the batches started are finished and\n"
    "written, the results so far are printed, a --json document ends with \"interrupted\":\n"
    "true in its summary, and the run says how far it got; a second signal stops it at\n"
    "once). A runtime error that ends the run (a device lost, a write error) ends a begun\n"
    "--json document too: the images so far, and the error in its summary's \"error\".\n"
    "\n"
    "The --csv file is created only once the model is on its device, is refused when it is one\n"
    "of the inputs, and holds whole rows only: on a write error (a full disk) it is cut back to\n"
    "the last complete batch. Class and file names are printed with control characters as\n"
    "\\xNN.\n";

/* Separates the options (and their values, by parse_opts' rules) from the inputs, which
 * parse_opts does not take. Everything after "--" is an input. */
static void split_args(int argc, char **argv, const cli_opt *opts, size_t n_opts, char **optv,
                       int *optc, char **inputs, int *n_inputs)
{
    int dashdash = 0;
    *optc = 0;
    *n_inputs = 0;
    optv[(*optc)++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!dashdash && strcmp(a, "--") == 0) {
            dashdash = 1;
        } else if (!dashdash && a[0] == '-' && a[1] != '\0') {
            optv[(*optc)++] = argv[i];
            for (size_t j = 0; j < n_opts && !strchr(a, '='); j++) {
                if (opts[j].value && strcmp(opts[j].name, a) == 0 && i + 1 < argc &&
                    strncmp(argv[i + 1], "--", 2) != 0) {
                    optv[(*optc)++] = argv[++i];
                    break;
                }
            }
        } else {
            inputs[(*n_inputs)++] = argv[i];
        }
    }
}

/* "N" or "HxW" (each in [1, DENSECL_PREPROCESS_MAX_SIDE]), or with none_ok "none" (*h = 0),
 * into *h and *w. 0 when s is not that. */
static int parse_pp_size(const char *s, int none_ok, int *h, int *w)
{
    char hs[16];
    const char *x = strchr(s, 'x');
    if (none_ok && strcmp(s, "none") == 0) {
        *h = *w = 0;
        return 1;
    }
    if (!x) {
        *w = 0;
        return parse_int(s, 1, DENSECL_PREPROCESS_MAX_SIDE, h) && (*w = *h) > 0;
    }
    if ((size_t)(x - s) >= sizeof(hs)) {
        return 0;
    }
    memcpy(hs, s, (size_t)(x - s));
    hs[x - s] = '\0';
    return parse_int(hs, 1, DENSECL_PREPROCESS_MAX_SIDE, h) &&
           parse_int(x + 1, 1, DENSECL_PREPROCESS_MAX_SIDE, w);
}

/* A size as the JSON of densecl.preprocess: null, N (square, when single) or [H, W]. */
static void pp_size_text(int h, int w, int single, char *out, size_t cap)
{
    if (h == 0) {
        snprintf(out, cap, "null");
    } else if (single && h == w) {
        snprintf(out, cap, "%d", h);
    } else {
        snprintf(out, cap, "[%d, %d]", h, w);
    }
}

/* "M" or "M,M,M" finite numbers as a JSON array. 0 when s is not that. */
static int pp_floats_text(const char *s, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "[");
    int count = 0;
    for (const char *p = s;; p++) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || count == 3 || isspace((unsigned char)*p) ||
            (*end != ',' && *end != '\0') || n >= cap) {
            return 0;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s%.9g", count++ ? ", " : "", v);
        if (*end == '\0') {
            break;
        }
        p = end;
    }
    return (count == 1 || count == 3) && (size_t)snprintf(out + n, cap - n, "]") < cap - n;
}

/* --size, --resize, --crop, --mean, --std, --channels as densecl_weights_preprocess_ex's
 * overrides (*json NULL when none is given). --size is the input and the crop, and without
 * --resize nothing is resized first, as densecl-export writes --size; --crop replaces the
 * crop. 0 or EXIT_USAGE once reported. */
static int pp_overrides(const classify_opts *o, char **json)
{
    char b[1024] = "{", v[160];
    int h, w, ch;
    size_t n;
    *json = NULL;
    if (!o->size && !o->resize && !o->crop && !o->mean && !o->std && !o->channels) {
        return 0;
    }
#define PP_ADD(...)                                                                                \
    do {                                                                                           \
        n = strlen(b);                                                                             \
        snprintf(b + n, sizeof(b) - n, "%s", b[1] ? ", " : "");                                    \
        n = strlen(b);                                                                             \
        snprintf(b + n, sizeof(b) - n, __VA_ARGS__);                                               \
    } while (0)
    if (o->size) {
        if (!parse_pp_size(o->size, 0, &h, &w)) {
            return fail_usage("classify", "--size wants N or HxW (each 1 to %d), got '%s'",
                              DENSECL_PREPROCESS_MAX_SIDE, o->size);
        }
        PP_ADD("\"height\": %d, \"width\": %d", h, w);
        if (!o->crop) {
            pp_size_text(h, w, 0, v, sizeof(v));
            PP_ADD("\"crop\": %s", v);
        }
        if (!o->resize) {
            PP_ADD("\"resize\": null");
        }
    }
    static const char *const keys[] = {"resize", "crop"};
    const char *vals[] = {o->resize, o->crop};
    for (int k = 0; k < 2; k++) {
        if (!vals[k]) {
            continue;
        }
        if (!parse_pp_size(vals[k], 1, &h, &w)) {
            return fail_usage("classify", "--%s wants N, HxW (each 1 to %d) or none, got '%s'",
                              keys[k], DENSECL_PREPROCESS_MAX_SIDE, vals[k]);
        }
        /* resize N is the shorter side; a crop is always a box */
        pp_size_text(h, w, k == 0 && !strchr(vals[k], 'x'), v, sizeof(v));
        PP_ADD("\"%s\": %s", keys[k], v);
    }
    static const char *const vkeys[] = {"mean", "std"};
    const char *vvals[] = {o->mean, o->std};
    for (int k = 0; k < 2; k++) {
        if (!vvals[k]) {
            continue;
        }
        if (!pp_floats_text(vvals[k], v, sizeof(v))) {
            return fail_usage("classify",
                              "--%s wants 1 or 3 numbers separated by commas, got "
                              "'%s'",
                              vkeys[k], vvals[k]);
        }
        PP_ADD("\"%s\": %s", vkeys[k], v);
    }
    if (o->channels) {
        if (!parse_int(o->channels, 1, 4, &ch)) {
            return fail_usage("classify", "--channels wants 1 or 3, got '%s'", o->channels);
        }
        PP_ADD("\"channels\": %d", ch);
    }
#undef PP_ADD
    n = strlen(b);
    snprintf(b + n, sizeof(b) - n, "}");
    if (!(*json = strdup(b))) {
        return fail_msg("out of memory");
    }
    return 0;
}

/* 0, -1 for --help, or EXIT_USAGE once reported. */
int classify_parse_command_line(int argc, char **argv, const cli_ctx *ctx, classify *c)
{
    classify_opts *o = &c->o;
    o->verbose = ctx->verbose;
    const cli_opt opts[] = {
        {"--model", &o->model, NULL},
        {"--weights", &o->weights, NULL},
        {"--device", &o->device, NULL},
        {"--top", &o->top, NULL},
        {"--batch", &o->batch, NULL},
        {"--limit", &o->limit, NULL},
        {"--truth", &o->truth, NULL},
        {"--csv", &o->csv, NULL},
        {"--csv-top", &o->csv_top, NULL},
        {"--labels", &o->labels, NULL},
        {"--json", NULL, &o->json},
        {"--verbose", NULL, &o->verbose},
        {"--help", NULL, &o->help},
        {"-h", NULL, &o->help},
        {"--allow-nonfinite-weights", NULL, &o->allow_nonfinite},
        {"--conv", &o->conv, NULL},
        {"--kernel-params", &o->kernel_params, NULL},
        {"--shard", &o->shard, NULL},
        {"--threads", &o->threads, NULL},
        {"--size", &o->size, NULL},
        {"--resize", &o->resize, NULL},
        {"--crop", &o->crop, NULL},
        {"--mean", &o->mean, NULL},
        {"--std", &o->std, NULL},
        {"--channels", &o->channels, NULL},
    };
    char **optv = calloc((size_t)argc + 1, sizeof(char *));
    char **inputs = calloc((size_t)argc + 1, sizeof(char *));
    int optc, n_inputs, rc = 0, v = 0;
    if (!optv || !inputs) {
        free(optv);
        free(inputs);
        return fail_msg("out of memory");
    }
    split_args(argc, argv, opts, DC_ARRAY_LEN(opts), optv, &optc, inputs, &n_inputs);
    rc = parse_opts("classify", optc, optv, opts, DC_ARRAY_LEN(opts));
    free(optv);
    if (rc != 0 || o->help) {
        free(inputs);
        return rc != 0 ? rc : -1;
    }
    c->top = DEFAULT_TOP;
    c->csv_top = 1;
    c->batch = DEFAULT_BATCH;
    c->limit = INT64_MAX;
    if (!o->weights) {
        rc = fail_usage("classify", "missing --weights FILE");
    } else if (n_inputs == 0) {
        rc = fail_usage("classify", "missing INPUT: name the images, IDX or .npy files");
    } else if (o->top && !parse_int(o->top, 1, INT_MAX, &c->top)) {
        rc = fail_usage("classify", "--top needs a positive integer, got '%s'", o->top);
    } else if (o->batch && !parse_int(o->batch, 1, MAX_BATCH, &c->batch)) {
        rc = fail_usage("classify", "--batch needs an integer in [1, %d], got '%s'", MAX_BATCH,
                        o->batch);
    } else if (o->limit && !parse_int(o->limit, 1, INT_MAX, &v)) {
        rc = fail_usage("classify", "--limit needs a positive integer, got '%s'", o->limit);
    } else if (o->model && densecl_config_preset(o->model, &(densecl_config){0}) != DENSECL_OK) {
        rc = fail_usage("classify", "--model: %s", densecl_last_error());
    } else if (o->shard && !parse_shard(o->shard, &c->shard_k, &c->shard_n)) {
        rc = fail_usage("classify", "--shard needs K/N with 0 <= K < N, got '%s'", o->shard);
    } else if (o->csv_top && !parse_int(o->csv_top, 1, INT_MAX, &c->csv_top)) {
        rc = fail_usage("classify", "--csv-top needs a positive integer, got '%s'", o->csv_top);
    } else if (o->csv_top && !o->csv) {
        rc = fail_usage("classify", "--csv-top needs --csv");
    } else if (o->csv && strcmp(o->csv, "-") == 0 && o->json) {
        rc = fail_usage("classify", "--csv - and --json both want standard output: give --csv "
                                    "a file");
    } else if (o->csv && strcmp(o->csv, "-") != 0 && cli_is_stdout(o->csv)) {
        /* two outputs in one file: the CSV rows inside the results (or the JSON) */
        rc = fail_usage("classify",
                        "--csv %s is standard output, where classify writes its results%s: "
                        "give --csv another file, or --csv - for the CSV alone there",
                        o->csv, o->json ? " (--json)" : "");
    } else if (o->threads && !parse_int(o->threads, 1, INT_MAX, &c->threads)) {
        rc = fail_usage("classify", "--threads needs a positive integer, got '%s'", o->threads);
    } else {
        rc = pp_overrides(o, &c->pp_json);
    }
    c->truth_folders = o->truth && strcmp(o->truth, "folders") == 0;
    if (rc != 0) {
        free(inputs);
        return rc;
    }
    if (o->limit) {
        c->limit = v;
    }
    c->top_given = o->top != NULL;
    c->in = calloc((size_t)n_inputs, sizeof(*c->in));
    if (!c->in) {
        free(inputs);
        return fail_msg("out of memory");
    }
    for (int i = 0; i < n_inputs; i++) {
        c->in[i].path = inputs[i];
    }
    c->n_in = n_inputs;
    free(inputs);
    return 0;
}
