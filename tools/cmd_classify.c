/*
 * cmd_classify.c - `densecl classify`: images, IDX and .npy files in, top-K classes out.
 *
 * Inputs are sniffed first (kind and image count, so the progress bar has a total and --truth
 * can be checked before the engine is built), then streamed: every image is preprocessed into
 * the next slot of one batch buffer, and a full batch (or a change of input size, possible only
 * with .npy inputs) goes through one densecl_engine_run. Results are printed as each batch
 * finishes; the CSV file gets each batch's rows in one write and a flush, so an interrupted run
 * leaves only whole rows.
 */
#define _POSIX_C_SOURCE 200809L

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

#include "cli.h"
#include "inputs.h"

enum {
    EXIT_SOME_FAILED = 3,
    EXIT_INTERRUPTED = 130, /* 128 + SIGINT, as shells report it */
    DEFAULT_TOP = 5,
    DEFAULT_BATCH = 32,
    MAX_BATCH = 65536,
    PRINT_ALL_MAX = 100, /* more images than this print per-image lines only with --top */
    SNIFF_BYTES = 65536,
    BAR_WIDTH = 30
};

const char cmd_classify_usage[] =
    "usage: densecl classify [--model NAME] --weights FILE [--device SPEC] [--top K]\n"
    "                        [--batch N] [--limit N] [--truth LABELS] [--csv FILE] [--json]\n"
    "                        [--allow-nonfinite-weights] [--conv FAMILY]\n"
    "                        [--kernel-params TEXT] INPUT...\n"
    "\n"
    "Classifies images with a DenseNet and prints the most likely classes of each.\n"
    "\n"
    "INPUT is recognised by its content, not its name:\n"
    "  an image      PNG, JPEG, BMP, GIF (first frame), TGA, PSD, HDR, PIC, PGM/PPM\n"
    "  an IDX file   MNIST-style images (magic 0x00000803), gzipped or not: every image in it\n"
    "  a .npy file   float32 [N, C, H, W], already preprocessed: used as it is\n"
    "\n"
    "Images are preprocessed as the weights' \"densecl.preprocess\" metadata says: scaled to\n"
    "[0, 1], resized (bilinear, antialiased when shrinking) so the shorter side is 'resize',\n"
    "centre-cropped to 'crop', resized to height x width if still different, then\n"
    "(x - mean) / std per channel. Grey images are replicated into 3-channel models, colour\n"
    "ones become luminance (ITU-R 601) for 1-channel models, alpha is dropped. Without the\n"
    "metadata a 3-channel ImageNet-stem model gets torchvision's ImageNet preprocessing (resize\n"
    "256, crop 224, ImageNet mean and std); other models then accept .npy inputs only.\n"
    "\n"
    "Class names come from the \"densecl.labels\" metadata, else for 1000-class models from\n"
    "imagenet-classes.txt (in $DENSECL_DATA_DIR, the source tree's models/ or the installed\n"
    "share/densecl), else they are \"class N\".\n"
    "\n"
    "  --model NAME    a preset the weights must match (see 'densecl models'); by default the\n"
    "                  architecture is read from the weights\n"
    "  --weights FILE  safetensors weights\n"
    "  --allow-nonfinite-weights\n"
    "                  accept NaN or infinite weights and negative BN variances (refused by\n"
    "                  default: the outputs would be NaN)\n"
    "  --device SPEC   auto (default), cpu, gpu, accelerator, P:D (see 'densecl info'), or\n"
    "                  part of a device name\n"
    "  --top K         classes shown per image (default 5, at most the model's classes)\n"
    "  --batch N       images per inference call (default 32)\n"
    "  --limit N       classify only the first N images of the inputs\n"
    "  --truth LABELS  the true class of each image, in input order: an IDX label file\n"
    "                  (gzipped or not) or a text file with one class id per line; prints the\n"
    "                  top-1 (and top-5) accuracy\n"
    "  --csv FILE      write 'input,index,class_id,label,probability' rows (each image's top\n"
    "                  class), written after every batch\n"
    "  --json          print one JSON document instead of text: every image's top K, the\n"
    "                  inputs that failed, the summary\n"
    "  --conv FAMILY   conv kernel family: auto (default), direct, gemm, clblast (see 'densecl\n"
    "                  run --help')\n"
    "  --kernel-params TEXT  the families' parameters, e.g. direct:1x1=8x32,conv=16x4\n"
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
    "SIGTERM, 129 for SIGHUP: the batch in flight is finished and written, the results so far\n"
    "are printed, a --json document ends with \"interrupted\": true in its summary, and the run\n"
    "says how far it got; a second signal stops it at once).\n"
    "\n"
    "The --csv file is created only once the model is on its device, is refused when it is one\n"
    "of the inputs, and holds whole rows only: on a write error (a full disk) it is cut back to\n"
    "the last complete batch. Class and file names are printed with control characters as\n"
    "\\xNN.\n";

typedef struct classify_opts {
    const char *model, *weights, *device, *top, *batch, *limit, *truth, *csv;
    const char *conv, *kernel_params;
    int json, verbose, help, allow_nonfinite;
} classify_opts;

typedef struct input_file {
    const char *path;
    dci_input_kind kind;
    int64_t count; /* images taken from it (after --limit) */
    int64_t first; /* position of its first image among all inputs (for --truth) */
    int failed;
} input_file;

typedef struct failure {
    char *path, *why;
} failure;

/* A growing text buffer (the CSV rows of one batch). */
typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

typedef struct classify {
    classify_opts o;
    int top, top_given, batch;
    int64_t limit;

    input_file *in;
    int n_in;
    int64_t total; /* images the inputs hold, after --limit */

    densecl_config cfg; /* a copy: the weights are freed once uploaded */
    int classes;
    int ranked; /* classes ranked per image: --top, and at least 5 for top-5 accuracy */
    dci_preprocess pp;
    densecl_status pp_status; /* why images cannot be preprocessed, when not OK */
    char pp_why[1024];
    char **names; /* NULL: "class N" */
    int *truth;
    int64_t n_truth;
    densecl_engine *e;

    /* The batch being filled: n images of [c, h, w], and where each came from. */
    float *x;
    size_t x_cap;
    int n, c, h, w;
    int *slot_in;
    int64_t *slot_index;
    float *probs; /* [batch, classes] */
    int *top_ids; /* [ranked] */

    int csv;         /* the --csv file's descriptor, -1 until the engine exists */
    int csv_regular; /* a regular file: a failed write is cut back to csv_good */
    off_t csv_good;  /* its bytes up to the last complete batch */
    sbuf rows;
    int print_lines, json_images;
    int progress, bar_shown;

    int interrupted; /* by a signal: the summary says so */
    int64_t done, labelled, correct1, correct5;
    int n_failed;  /* inputs skipped */
    failure *fail; /* their messages, for --json (as many as memory allowed) */
    int n_fail;
    double t0, t_loop;
} classify;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------------------------------------
 * Text helpers
 * ------------------------------------------------------------------------------------------- */

static void sbuf_printf(sbuf *b, const char *fmt, ...) DC_PRINTF(2, 3);

static void sbuf_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->oom) {
        b->oom = 1;
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* RFC 4180: quoted when it holds a comma, quote or line break, quotes doubled. */
static void csv_field(sbuf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        sbuf_printf(b, "%s", s);
        return;
    }
    sbuf_printf(b, "\"");
    for (const char *p = s; *p; p++) {
        sbuf_printf(b, *p == '"' ? "\"\"" : "%c", *p);
    }
    sbuf_printf(b, "\"");
}

/* ---------------------------------------------------------------------------------------------
 * Progress and warnings (stderr)
 * ------------------------------------------------------------------------------------------- */

static void bar_erase(classify *c)
{
    if (c->bar_shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        c->bar_shown = 0;
    }
}

static void bar_draw(classify *c)
{
    if (!c->progress || c->total <= 0) {
        return;
    }
    double t = now() - c->t_loop, rate = t > 0 ? (double)c->done / t : 0.0;
    double frac = (double)c->done / (double)c->total;
    char bar[BAR_WIDTH + 1];
    int fill = (int)(frac * BAR_WIDTH);
    for (int i = 0; i < BAR_WIDTH; i++) {
        bar[i] = i < fill ? '#' : '-';
    }
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r\033[K[%s] %lld/%lld images, %.1f images/s", bar, (long long)c->done,
            (long long)c->total, rate);
    if (rate > 0 && c->done < c->total) {
        long eta = (long)((double)(c->total - c->done) / rate + 0.5);
        fprintf(stderr, ", ETA %ld:%02ld", eta / 60, eta % 60);
    }
    fflush(stderr);
    c->bar_shown = 1;
}

/* "densecl: warning: msg" as one line (line breaks inside msg become "; "). */
static void print_warning(classify *c, const char *msg)
{
    bar_erase(c);
    fputs("densecl: warning: ", stderr);
    for (const char *p = msg; *p; p++) {
        if (*p == '\n' || *p == '\r') {
            if (p[1] != '\0') {
                fputs("; ", stderr);
            }
        } else if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            fprintf(stderr, "\\x%02x", (unsigned char)*p);
        } else {
            fputc(*p, stderr);
        }
    }
    fputc('\n', stderr);
}

/* Reports the last library error as the failure of input i, which is then skipped. */
static void input_failed(classify *c, int i)
{
    const char *detail = densecl_last_error();
    const char *path = c->in[i].path;
    char msg[1536];
    if (strncmp(detail, path, strlen(path)) == 0) {
        snprintf(msg, sizeof(msg), "%s", detail);
    } else {
        snprintf(msg, sizeof(msg), "%s: %s", path, detail[0] ? detail : "cannot be read");
    }
    print_warning(c, msg);
    c->in[i].failed = 1;
    c->n_failed++;
    failure *grown = realloc(c->fail, (size_t)(c->n_fail + 1) * sizeof(*grown));
    if (grown) {
        c->fail = grown;
        grown[c->n_fail].path = strdup(path);
        grown[c->n_fail].why = strdup(msg);
        c->n_fail++;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Command line
 * ------------------------------------------------------------------------------------------- */

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

/* 0, -1 for --help, or EXIT_USAGE once reported. */
static int parse_command_line(int argc, char **argv, const cli_ctx *ctx, classify *c)
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
        {"--json", NULL, &o->json},
        {"--verbose", NULL, &o->verbose},
        {"--help", NULL, &o->help},
        {"-h", NULL, &o->help},
        {"--allow-nonfinite-weights", NULL, &o->allow_nonfinite},
        {"--conv", &o->conv, NULL},
        {"--kernel-params", &o->kernel_params, NULL},
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
    }
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

/* ---------------------------------------------------------------------------------------------
 * Set-up: inputs, weights, preprocessing, names, labels
 * ------------------------------------------------------------------------------------------- */

/* Reads the start of every input for its kind and image count. An input that fails here still
 * takes one position (an image file that went missing is one image, for --truth's alignment). */
static void sniff_inputs(classify *c)
{
    unsigned char *buf = malloc(SNIFF_BYTES);
    int64_t pos = 0;
    for (int i = 0; i < c->n_in; i++) {
        input_file *in = &c->in[i];
        in->first = pos;
        if (pos >= c->limit) {
            continue; /* beyond --limit: not read at all */
        }
        densecl_status st = DENSECL_OK;
        FILE *f = NULL;
        size_t len = 0;
        if (!buf) {
            st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
        } else if ((st = dc_fopen_regular(in->path, NULL, &f)) != DENSECL_OK) {
            /* a FIFO or directory is refused here, before anything waits on it */
        } else {
            len = fread(buf, 1, SNIFF_BYTES, f);
            if (ferror(f)) {
                st = dc_error(DENSECL_ERR_IO, "%s: read error: %s", in->path, strerror(errno));
            }
            fclose(f);
        }
        in->count = 1;
        if (st == DENSECL_OK) {
            st = dci_input_sniff(buf, len, in->path, &in->kind, &in->count);
        }
        if (st == DENSECL_OK && in->kind == DCI_INPUT_IMAGE) {
            st = dci_image_check_header(buf, len, in->path); /* before a huge file is read */
        }
        if (st != DENSECL_OK) {
            in->count = in->kind == DCI_INPUT_IMAGE ? 1 : 0;
            input_failed(c, i);
        }
        if (in->count > c->limit - pos) {
            in->count = c->limit - pos;
        }
        pos += in->count;
    }
    c->total = pos;
    free(buf);
}

static densecl_status load_weights(const classify *c, densecl_weights **w)
{
    densecl_weights_options wo;
    densecl_config expect;
    memset(&wo, 0, sizeof wo);
    wo.allow_nonfinite = c->o.allow_nonfinite;
    if (c->o.model) {
        densecl_status st = densecl_config_preset(c->o.model, &expect);
        if (st != DENSECL_OK) {
            return st;
        }
        expect.num_classes = 0; /* 0: the file's */
        expect.in_channels = 0;
        wo.expect = &expect;
    }
    return densecl_weights_load_ex(c->o.weights, &wo, w);
}

/* The preprocessing, or in c->pp_status / pp_why the reason images cannot be classified. */
static int setup_preprocess(classify *c, const densecl_weights *w)
{
    const char *meta = densecl_weights_metadata(w, "densecl.preprocess");
    c->pp_status = DENSECL_OK;
    if (meta) {
        c->pp_status = dci_preprocess_parse(meta, &c->cfg, c->o.weights, &c->pp);
        if (c->pp_status != DENSECL_OK) {
            return fail_status(c->pp_status); /* a broken file is an error, used or not */
        }
    } else if (c->cfg.stem == DENSECL_STEM_IMAGENET && c->cfg.in_channels == 3) {
        dci_preprocess_imagenet(&c->pp);
    } else {
        c->pp_status = DENSECL_ERR_UNSUPPORTED;
        snprintf(c->pp_why, sizeof(c->pp_why),
                 "%s has no \"densecl.preprocess\" metadata, and its model (%s stem, %d "
                 "channel%s) has no standard preprocessing to assume: classify preprocessed "
                 "float32 [N, C, H, W] .npy files, or add the metadata (see "
                 "tools/train_fashion_mnist.py)",
                 c->o.weights, stem_name(c->cfg.stem), c->cfg.in_channels,
                 c->cfg.in_channels == 1 ? "" : "s");
        return 0;
    }
    int min = densecl_config_min_size(&c->cfg);
    if (c->pp.height < min || c->pp.width < min) {
        return fail_msg("%s: its preprocessing makes %dx%d images, but the model needs at least "
                        "%dx%d",
                        c->o.weights, c->pp.width, c->pp.height, min, min);
    }
    return 0;
}

/* Appends dir/name to the candidate paths unless it does not fit. */
static void add_candidate(char (*paths)[4096], int *n, const char *dir, const char *name)
{
    int len = snprintf(paths[*n], sizeof(paths[0]), "%s/%s", dir, name);
    if (len > 0 && (size_t)len < sizeof(paths[0])) {
        (*n)++;
    }
}

/* Names for a 1000-class model: the first imagenet-classes.txt found, or NULL. */
static char **imagenet_names(classify *c)
{
    static const char file[] = "imagenet-classes.txt";
    char paths[4][4096];
    int n = 0;
    const char *env = getenv("DENSECL_DATA_DIR");
    if (env && env[0]) {
        add_candidate(paths, &n, env, file);
    }
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash = NULL;
    if (len > 0) {
        exe[len] = '\0';
        slash = strrchr(exe, '/');
    }
    if (slash) {
        *slash = '\0'; /* build/bin, or PREFIX/bin when installed */
        add_candidate(paths, &n, exe, "../../models/imagenet-classes.txt");
        add_candidate(paths, &n, exe, "../share/densecl/imagenet-classes.txt");
    }
#ifdef DENSECL_DATA_INSTALL_DIR
    add_candidate(paths, &n, DENSECL_DATA_INSTALL_DIR, file);
#endif
    for (int i = 0; i < n; i++) {
        void *text;
        size_t size;
        char **names = NULL;
        if (access(paths[i], R_OK) != 0) {
            continue;
        }
        densecl_status st = dci_read_file(paths[i], &text, &size);
        if (st == DENSECL_OK) {
            st = dci_names_parse_text(text, size, c->classes, paths[i], &names);
            free(text);
        }
        if (st == DENSECL_OK) {
            return names;
        }
        print_warning(c, densecl_last_error());
    }
    return NULL;
}

static void setup_names(classify *c, const densecl_weights *w)
{
    const char *meta = densecl_weights_metadata(w, "densecl.labels");
    char what[1024];
    if (meta) {
        snprintf(what, sizeof(what), "%s: densecl.labels", c->o.weights);
        if (dci_names_parse_json(meta, c->classes, what, &c->names) == DENSECL_OK) {
            return;
        }
        print_warning(c, densecl_last_error()); /* numbers will do */
    }
    if (c->classes == 1000) {
        c->names = imagenet_names(c);
    }
}

static int setup_truth(classify *c)
{
    void *bytes;
    size_t len;
    densecl_status st = dci_read_file(c->o.truth, &bytes, &len);
    if (st == DENSECL_OK) {
        st = dci_truth_parse(bytes, len, c->o.truth, c->classes, &c->truth, &c->n_truth);
        free(bytes);
    }
    if (st != DENSECL_OK) {
        return fail_status(st);
    }
    if (c->n_truth < c->total) {
        return fail_msg("%s holds %lld labels, but the inputs hold %lld images", c->o.truth,
                        (long long)c->n_truth, (long long)c->total);
    }
    return 0;
}

/* Buffers of the batch; the image buffer itself grows in batch_slot. */
static int setup_batch(classify *c)
{
    size_t probs;
    if (!dc_mul_size((size_t)c->batch, (size_t)c->classes, &probs)) {
        return fail_msg("--batch %d is too large for %d classes", c->batch, c->classes);
    }
    c->probs = malloc(probs * sizeof(float));
    c->slot_in = malloc((size_t)c->batch * sizeof(int));
    c->slot_index = malloc((size_t)c->batch * sizeof(int64_t));
    c->top_ids = malloc((size_t)c->ranked * sizeof(int));
    if (!c->probs || !c->slot_in || !c->slot_index || !c->top_ids) {
        return fail_msg("out of memory for a batch of %d images", c->batch);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------------------------- */

static const char *class_name(const classify *c, int id, char *buf, size_t size)
{
    if (c->names) {
        return c->names[id];
    }
    snprintf(buf, size, "class %d", id);
    return buf;
}

/* The c->ranked most probable classes of p, most probable first (ties: lower id first). */
static void top_k(const classify *c, const float *p, int *ids)
{
    int k = 0;
    for (int i = 0; i < c->classes; i++) {
        if (k == c->ranked && !(p[i] > p[ids[k - 1]])) {
            continue;
        }
        int j = k < c->ranked ? k++ : k - 1;
        while (j > 0 && p[i] > p[ids[j - 1]]) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = i;
    }
}

static void report(classify *c, int slot)
{
    const input_file *in = &c->in[c->slot_in[slot]];
    int64_t index = c->slot_index[slot];
    const float *p = c->probs + (size_t)slot * (size_t)c->classes;
    int *ids = c->top_ids;
    int truth = -1;
    char buf[32], name[4200];
    top_k(c, p, ids);
    if (c->truth) {
        truth = c->truth[in->first + index];
        c->labelled++;
        c->correct1 += ids[0] == truth;
        for (int j = 0; j < 5 && j < c->ranked; j++) {
            c->correct5 += ids[j] == truth;
        }
    }
    if (in->kind == DCI_INPUT_IMAGE) {
        snprintf(name, sizeof(name), "%s", in->path);
    } else {
        snprintf(name, sizeof(name), "%s[%lld]", in->path, (long long)index);
    }
    if (c->print_lines) {
        /* Names come from files: their control characters are shown, not sent to the terminal */
        fputs_escaped(name, stdout);
        putchar(':');
        for (int j = 0; j < c->top; j++) {
            printf("%s %.4f ", j ? "," : "", (double)p[ids[j]]);
            fputs_escaped(class_name(c, ids[j], buf, sizeof(buf)), stdout);
        }
        if (truth >= 0) {
            printf("  (truth: ");
            fputs_escaped(class_name(c, truth, buf, sizeof(buf)), stdout);
            putchar(')');
        }
        putchar('\n');
    }
    if (c->o.json) {
        printf("%s    {\"input\": ", c->json_images++ ? ",\n" : "");
        dc_json_write_string(stdout, in->path);
        printf(", \"index\": %lld, \"top\": [", (long long)index);
        for (int j = 0; j < c->top; j++) {
            printf("%s{\"class_id\": %d, \"label\": ", j ? ", " : "", ids[j]);
            dc_json_write_string(stdout, class_name(c, ids[j], buf, sizeof(buf)));
            /* JSON has no NaN: broken weights give null rather than an unparsable document */
            if (isnan(p[ids[j]])) {
                printf(", \"probability\": null}");
            } else {
                printf(", \"probability\": %.6g}", (double)p[ids[j]]);
            }
        }
        printf("]");
        if (truth >= 0) {
            printf(", \"truth\": %d", truth);
        }
        printf("}");
    }
    if (c->csv >= 0) {
        csv_field(&c->rows, in->path);
        sbuf_printf(&c->rows, ",%lld,%d,", (long long)index, ids[0]);
        csv_field(&c->rows, class_name(c, ids[0], buf, sizeof(buf)));
        sbuf_printf(&c->rows, ",%.6f\n", (double)p[ids[0]]);
    }
}

/* Appends len bytes to the CSV file. On a write error (a full disk) a regular file is cut back
 * to its last complete batch, so that it holds whole rows only. 0 or EXIT_RUNTIME reported. */
static int csv_write(classify *c, const char *s, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(c->csv, s + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            int cut = c->csv_regular && ftruncate(c->csv, c->csv_good) == 0 &&
                      lseek(c->csv, c->csv_good, SEEK_SET) == c->csv_good;
            bar_erase(c);
            return fail_msg("%s: write error: %s%s", c->o.csv, strerror(err),
                            !c->csv_regular ? ""
                            : cut           ? "; it holds the rows of the complete batches only"
                                            : "; it may end in a partial row");
        }
        done += (size_t)n;
    }
    c->csv_good += (off_t)len;
    return 0;
}

/* Runs the batch, reports its images and empties it. 0, EXIT_INTERRUPTED after a SIGINT (the
 * batch's results are out), or EXIT_RUNTIME once reported. */
static int flush_batch(classify *c)
{
    if (c->n == 0) {
        return 0;
    }
    densecl_status st = densecl_engine_run(c->e, c->x, c->n, c->c, c->h, c->w, c->probs);
    if (st != DENSECL_OK) {
        bar_erase(c);
        return fail_status(st);
    }
    densecl_softmax(c->probs, c->n, c->classes);
    bar_erase(c); /* the lines below must not land on the bar */
    c->rows.len = 0;
    for (int i = 0; i < c->n; i++) {
        report(c, i);
    }
    c->done += c->n;
    c->n = 0;
    fflush(stdout);
    if (c->csv >= 0) {
        if (c->rows.oom) {
            return fail_msg("out of memory writing %s", c->o.csv);
        }
        int rc = csv_write(c, c->rows.s, c->rows.len);
        if (rc != 0) {
            return rc;
        }
    }
    bar_draw(c);
    return cli_signal_caught() ? EXIT_INTERRUPTED : 0;
}

/* ---------------------------------------------------------------------------------------------
 * Inputs
 * ------------------------------------------------------------------------------------------- */

/* The next slot for a [ch, h, w] image, running the batch first when it is full or holds
 * images of another size. NULL with *rc set on failure. */
static float *batch_slot(classify *c, int ch, int h, int w, int *rc)
{
    size_t image = (size_t)ch * (size_t)h * (size_t)w, need;
    if (c->n > 0 && (ch != c->c || h != c->h || w != c->w)) {
        if ((*rc = flush_batch(c)) != 0) {
            return NULL;
        }
    }
    if (c->n == 0) {
        if (!dc_mul_size(image, (size_t)c->batch, &need) ||
            !dc_mul_size(need, sizeof(float), &need)) {
            *rc = fail_msg("a batch of %d images of %dx%dx%d is too large", c->batch, ch, h, w);
            return NULL;
        }
        if (need > c->x_cap) {
            free(c->x);
            c->x_cap = 0;
            if (!(c->x = malloc(need))) {
                *rc = fail_msg("out of memory for a batch of %d images of %dx%dx%d", c->batch, ch,
                               h, w);
                return NULL;
            }
            c->x_cap = need;
        }
        c->c = ch;
        c->h = h;
        c->w = w;
    }
    return c->x + (size_t)c->n * image;
}

/* The image in the slot batch_slot gave is complete: keep it, run the batch when full. */
static int batch_commit(classify *c, int input, int64_t index)
{
    c->slot_in[c->n] = input;
    c->slot_index[c->n] = index;
    c->n++;
    return c->n == c->batch ? flush_batch(c) : 0;
}

/* Preprocesses px into the batch. 0, EXIT_RUNTIME (reported), or -1: the input failed. */
static int add_pixels(classify *c, int i, int64_t index, const dci_pixels *px)
{
    int rc = 0;
    float *slot = batch_slot(c, c->pp.channels, c->pp.height, c->pp.width, &rc);
    if (!slot) {
        return rc;
    }
    if (dci_preprocess_run(&c->pp, px, c->in[i].path, slot) != DENSECL_OK) {
        return -1;
    }
    return batch_commit(c, i, index);
}

static int do_image(classify *c, int i, const void *bytes, size_t len)
{
    dci_image im;
    if (dci_image_decode(bytes, len, c->in[i].path, &im) != DENSECL_OK) {
        return -1;
    }
    int rc = add_pixels(c, i, 0, &im.px);
    dci_image_free(&im);
    return rc;
}

static int do_idx(classify *c, int i, const void *bytes, size_t len)
{
    const input_file *in = &c->in[i];
    dci_idx idx;
    int64_t n;
    int h, w, ch, rc = 0;
    /* in->count is what --limit leaves: a gzip'd file is inflated no further */
    if (dci_idx_parse_first(bytes, len, in->path, in->count, &idx) != DENSECL_OK) {
        return -1;
    }
    if (dci_idx_images(&idx, in->path, &n, &h, &w, &ch) != DENSECL_OK) {
        dci_idx_free(&idx);
        return -1;
    }
    size_t image = (size_t)h * (size_t)w * (size_t)ch;
    for (int64_t j = 0; j < in->count && j < n && rc == 0; j++) {
        dci_pixels px = {idx.data + (size_t)j * image, 8, w, h, ch};
        rc = add_pixels(c, i, j, &px);
    }
    dci_idx_free(&idx);
    return rc;
}

static int do_npy(classify *c, int i)
{
    const input_file *in = &c->in[i];
    dc_npy a;
    int rc = 0;
    if (dc_npy_read(in->path, &a) != DENSECL_OK) {
        return -1;
    }
    int min = densecl_config_min_size(&c->cfg);
    char shape[160];
    dc_shape_str(a.shape, a.ndim, 0, shape, sizeof(shape));
    if (a.ndim != 4) {
        dc_error(DENSECL_ERR_INPUT, "%s: want preprocessed float32 [N, C, H, W], got shape %s",
                 in->path, shape);
        rc = -1;
    } else if (a.shape[1] != c->cfg.in_channels) {
        dc_error(DENSECL_ERR_INPUT, "%s: shape %s has %lld channels, the model takes %d", in->path,
                 shape, (long long)a.shape[1], c->cfg.in_channels);
        rc = -1;
    } else if (a.shape[2] < min || a.shape[3] < min || a.shape[2] > DCI_PP_MAX_SIDE ||
               a.shape[3] > DCI_PP_MAX_SIDE) {
        dc_error(DENSECL_ERR_INPUT, "%s: images of shape %s: each side must be in [%d, %d]",
                 in->path, shape, min, DCI_PP_MAX_SIDE);
        rc = -1;
    }
    int ch = (int)a.shape[1], h = (int)a.shape[2], w = (int)a.shape[3];
    size_t image = rc == 0 ? (size_t)ch * (size_t)h * (size_t)w : 0;
    for (int64_t j = 0; rc == 0 && j < in->count && j < a.shape[0]; j++) {
        float *slot = batch_slot(c, ch, h, w, &rc);
        if (slot) {
            memcpy(slot, a.data + (size_t)j * image, image * sizeof(float));
            rc = batch_commit(c, i, j);
        }
    }
    dc_npy_free(&a);
    return rc;
}

/* Classifies input i. 0 (its failure, if any, reported) or EXIT_RUNTIME. */
static int do_input(classify *c, int i)
{
    input_file *in = &c->in[i];
    int rc;
    if (in->failed || in->count == 0) {
        return 0;
    }
    if (in->kind != DCI_INPUT_NPY && c->pp_status != DENSECL_OK) {
        dc_error(c->pp_status, "%s", c->pp_why);
        rc = -1;
    } else if (in->kind == DCI_INPUT_NPY) {
        rc = do_npy(c, i);
    } else {
        void *bytes;
        size_t len;
        if (dci_read_file(in->path, &bytes, &len) != DENSECL_OK) {
            rc = -1;
        } else {
            rc = in->kind == DCI_INPUT_IDX ? do_idx(c, i, bytes, len) : do_image(c, i, bytes, len);
            free(bytes);
        }
    }
    if (rc < 0) {
        input_failed(c, i);
        rc = 0;
    }
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Summary
 * ------------------------------------------------------------------------------------------- */

static void print_summary(const classify *c, double seconds, double startup)
{
    const densecl_device_info *d = c->e ? densecl_engine_device(c->e) : NULL;
    double rate = seconds > 0 ? (double)c->done / seconds : 0.0;
    int top5 = c->classes >= 5;
    if (c->o.json) {
        printf("%s  ],\n  \"failed\": [", c->json_images ? "\n" : "");
        for (int i = 0; i < c->n_fail; i++) {
            printf("%s\n    {\"input\": ", i ? "," : "");
            dc_json_write_string(stdout, c->fail[i].path ? c->fail[i].path : "");
            printf(", \"error\": ");
            dc_json_write_string(stdout, c->fail[i].why ? c->fail[i].why : "");
            printf("}");
        }
        printf("%s],\n  \"summary\": {\"images\": %lld, \"failed_inputs\": %d, "
               "\"interrupted\": %s, \"seconds\": %.6f, \"images_per_second\": %.3f, "
               "\"startup_seconds\": %.6f",
               c->n_fail ? "\n  " : "", (long long)c->done, c->n_failed,
               c->interrupted ? "true" : "false", seconds, rate, startup);
        if (c->truth) {
            printf(", \"labelled\": %lld, \"top1_accuracy\": %.6f", (long long)c->labelled,
                   c->labelled ? (double)c->correct1 / (double)c->labelled : 0.0);
            if (top5) {
                printf(", \"top5_accuracy\": %.6f",
                       c->labelled ? (double)c->correct5 / (double)c->labelled : 0.0);
            }
        }
        printf("}\n}\n");
        return;
    }
    if (d) {
        printf("device: %s (%s, %d:%d)\n", d->name, d->platform_name, d->platform_index,
               d->device_index);
    }
    printf("images: %lld in %.3f s, %.1f images/s (start-up %.3f s)\n", (long long)c->done, seconds,
           rate, startup);
    if (c->truth) {
        double n = c->labelled ? (double)c->labelled : 1.0;
        printf("top-1 accuracy: %.2f%% (%lld/%lld)\n", 100.0 * (double)c->correct1 / n,
               (long long)c->correct1, (long long)c->labelled);
        if (top5) {
            printf("top-5 accuracy: %.2f%% (%lld/%lld)\n", 100.0 * (double)c->correct5 / n,
                   (long long)c->correct5, (long long)c->labelled);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------------------------- */

static void classify_free(classify *c)
{
    densecl_engine_free(c->e);
    dci_names_free(c->names, c->classes);
    free(c->truth);
    free(c->in);
    free(c->x);
    free(c->slot_in);
    free(c->slot_index);
    free(c->probs);
    free(c->top_ids);
    free(c->rows.s);
    for (int i = 0; i < c->n_fail; i++) {
        free(c->fail[i].path);
        free(c->fail[i].why);
    }
    free(c->fail);
}

/* Everything up to the first image: weights, preprocessing, names, labels, CSV, engine. */
static int classify_setup(classify *c)
{
    densecl_weights *w = NULL;
    densecl_status st = load_weights(c, &w);
    int rc = 0;
    if (st != DENSECL_OK) {
        return fail_status(st);
    }
    c->cfg = *densecl_weights_config(w);
    c->classes = c->cfg.num_classes;
    c->top = c->top < c->classes ? c->top : c->classes;
    c->ranked = c->top > 5 || c->classes < 5 ? c->top : 5;
    int images = 0;
    for (int i = 0; i < c->n_in; i++) {
        images |= !c->in[i].failed && c->in[i].count > 0 && c->in[i].kind != DCI_INPUT_NPY;
    }
    if ((rc = setup_preprocess(c, w)) == 0 && images && c->pp_status != DENSECL_OK) {
        rc = fail_msg("%s", c->pp_why);
    }
    if (rc == 0) {
        setup_names(c, w);
        rc = c->o.truth ? setup_truth(c) : 0;
    }
    if (rc == 0) {
        rc = setup_batch(c);
    }
    if (rc == 0 && c->total > 0) {
        densecl_engine_options eo;
        memset(&eo, 0, sizeof eo);
        eo.device = c->o.device ? c->o.device : "auto";
        eo.conv = c->o.conv;
        eo.kernel_params = c->o.kernel_params;
        if ((st = densecl_engine_create_ex(w, &eo, &c->e)) != DENSECL_OK) {
            rc = fail_status(st);
        }
    }
    densecl_weights_free(w); /* uploaded: the engine no longer needs it */
    /* Only now: a run that cannot start leaves an old CSV file as it was. The file is written
     * in place, a batch at a time, so that it can be followed while it grows. */
    if (rc == 0 && c->o.csv) {
        static const char head[] = "input,index,class_id,label,probability\n";
        struct stat sb;
        c->csv = open(c->o.csv, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0666);
        if (c->csv < 0) {
            rc = fail_msg("%s: cannot create: %s", c->o.csv, strerror(errno));
        } else {
            c->csv_regular = fstat(c->csv, &sb) == 0 && S_ISREG(sb.st_mode);
            rc = csv_write(c, head, sizeof(head) - 1);
        }
    }
    return rc;
}

/* --csv must not name an input: the weights, the labels or an image would be lost. */
static int check_csv_path(const classify *c)
{
    const char **ins = malloc((size_t)(c->n_in + 2) * sizeof(*ins));
    if (!ins) {
        return fail_msg("out of memory");
    }
    ins[0] = c->o.weights;
    ins[1] = c->o.truth;
    for (int i = 0; i < c->n_in; i++) {
        ins[i + 2] = c->in[i].path;
    }
    int rc = cli_check_output("classify", "--csv", c->o.csv, ins, c->n_in + 2);
    free(ins);
    return rc;
}

int cmd_classify(int argc, char **argv, const cli_ctx *ctx)
{
    classify c;
    memset(&c, 0, sizeof(c));
    c.csv = -1;
    int rc = parse_command_line(argc, argv, ctx, &c);
    if (rc == 0 && c.o.csv) {
        rc = check_csv_path(&c);
    }
    if (rc != 0) {
        free(c.in);
        return rc;
    }
    /* From here a signal lets the batch in flight finish and the results be closed properly. */
    cli_signals_defer(1);
    if (c.o.verbose) {
        densecl_set_log(log_to_stderr, NULL);
    }
    c.t0 = now();
    c.progress = isatty(fileno(stderr));
    sniff_inputs(&c);
    c.print_lines = !c.o.json && (c.top_given || c.total <= PRINT_ALL_MAX);
    if ((rc = classify_setup(&c)) != 0) {
        goto done;
    }
    c.t_loop = now();
    if (c.o.json) {
        const densecl_device_info *d = c.e ? densecl_engine_device(c.e) : NULL;
        printf("{\n  \"weights\": ");
        dc_json_write_string(stdout, c.o.weights);
        printf(",\n  \"device\": ");
        dc_json_write_string(stdout, d ? d->name : "");
        printf(",\n  \"classes\": %d,\n  \"images\": [\n", c.classes);
    }
    bar_draw(&c);
    for (int i = 0; i < c.n_in && rc == 0 && !cli_signal_caught(); i++) {
        rc = do_input(&c, i);
    }
    if (rc == 0 && !cli_signal_caught()) {
        rc = flush_batch(&c);
    }
    cli_signals_defer(0);
    bar_erase(&c);
    int sig = cli_signal_caught();
    if (sig && (rc == 0 || rc == EXIT_INTERRUPTED)) {
        /* Only whole batches were written: the CSV and the results printed hold exactly the
         * images counted here, and a --json document is closed with "interrupted": true. */
        c.interrupted = 1;
        print_summary(&c, now() - c.t_loop, c.t_loop - c.t0);
        fprintf(stderr,
                "densecl: interrupted after %lld of %lld images%s%s%s; the rest were not "
                "classified (%s)\n",
                (long long)c.done, (long long)c.total, c.csv >= 0 ? " (" : "",
                c.csv >= 0 ? c.o.csv : "", c.csv >= 0 ? " has a complete row for each)" : "",
                sig == SIGINT    ? "SIGINT"
                : sig == SIGTERM ? "SIGTERM"
                                 : "SIGHUP");
        rc = 128 + sig;
        goto done;
    }
    if (rc != 0) {
        goto done;
    }
    double end = now();
    print_summary(&c, end - c.t_loop, c.t_loop - c.t0);
    if (c.n_failed > 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%d of %d inputs could not be classified and were skipped",
                 c.n_failed, c.n_in);
        print_warning(&c, msg);
        rc = EXIT_SOME_FAILED;
    }
done:
    cli_signals_defer(0);
    if (c.csv >= 0 && close(c.csv) != 0 && rc == 0) {
        rc = fail_msg("%s: write error: %s", c.o.csv, strerror(errno));
    }
    classify_free(&c);
    return rc;
}
