/* SPDX-License-Identifier: MIT */
/*
 * cmd_classify.c - `densecl classify`: images, IDX and .npy files in, top-K classes out.
 *
 * Inputs are sniffed first (kind and image count, so the progress bar has a total and --truth
 * can be checked before the engine is built), then streamed through a two-deep pipeline: every
 * image is preprocessed into the next slot of one of two batch buffers; a full batch (or a
 * change of input size, possible only with .npy inputs) is started with densecl_engine_start,
 * then the batch started before it is waited for and reported, and the other buffer is filled
 * next. So the host reads, decodes and preprocesses batch i+1 and writes batch i-1's results
 * while the device computes batch i. Results are printed whole batches at a time, in input
 * order; the CSV file gets each batch's rows in one write and a flush, so an interrupted run
 * leaves only whole rows. No exit leaves a job un-waited.
 *
 * This file: the command line, the set-up and the run; classify_inputs.c walks the inputs into
 * batches, classify_output.c writes the results (text, CSV, JSON) and the summary,
 * classify_progress.c keeps the progress bar and warnings on stderr. classify.h holds their state.
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

#include "classify.h"
#include "commands.h"
#include "mpi.h"

const char cmd_classify_usage[] =
    "usage: densecl classify [--model NAME] --weights FILE [--device SPEC] [--top K]\n"
    "                        [--batch N] [--limit N] [--truth LABELS] [--labels FILE]\n"
    "                        [--csv FILE|-] [--csv-top K] [--json]\n"
    "                        [--allow-nonfinite-weights] [--conv FAMILY]\n"
    "                        [--kernel-params TEXT] [--shard K/N] INPUT...\n"
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
    "                  part of a device name\n"
    "  --top K         classes shown per image (default 5, at most the model's classes)\n"
    "  --batch N       images per inference call (default 32)\n"
    "  --limit N       classify only the first N images of the inputs\n"
    "  --truth LABELS  the true class of each image, in input order: an IDX label file\n"
    "                  (gzipped or not) or a text file with one class id per line; prints the\n"
    "                  top-1 (and top-5) accuracy\n"
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
    c->pp_status = densecl_weights_preprocess(w, &c->pp);
    if (c->pp_status == DENSECL_OK) {
        return 0;
    }
    if (densecl_weights_metadata(w, "densecl.preprocess")) {
        return fail_status(c->pp_status); /* a broken file is an error, used or not */
    }
    /* No metadata and no standard preprocessing: only an image input makes that an error. */
    snprintf(c->pp_why, sizeof(c->pp_why), "%s", densecl_last_error());
    return c->pp_status == DENSECL_ERR_UNSUPPORTED ? 0 : fail_status(c->pp_status);
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
            st = dci_names_parse_text(text, size, c->classes, 0, paths[i], &names);
            free(text);
        }
        if (st == DENSECL_OK) {
            return names;
        }
        print_warning(c, densecl_last_error());
    }
    return NULL;
}

/* Class names: --labels, else the weights' "densecl.labels", else imagenet-classes.txt for 1000
 * classes, else none ("class N"). */
static int setup_names(classify *c, const densecl_weights *w)
{
    if (c->o.labels) {
        void *text;
        size_t size;
        densecl_status st = dci_read_file(c->o.labels, &text, &size);
        if (st == DENSECL_OK) {
            st = dci_names_parse_text(text, size, c->classes, 1, c->o.labels, &c->names);
            free(text);
        }
        return st == DENSECL_OK ? 0 : fail_status(st);
    }
    int n = densecl_weights_label_count(w);
    if (n == c->classes) {
        if (!(c->names = calloc((size_t)n, sizeof(char *)))) {
            return fail_msg("out of memory");
        }
        for (int i = 0; i < n; i++) {
            if (!(c->names[i] = strdup(densecl_weights_label(w, i)))) {
                return fail_msg("out of memory");
            }
        }
        return 0;
    }
    const char *meta = densecl_weights_metadata(w, "densecl.labels");
    if (meta) {
        /* The library left malformed names out; say why, as it did when loading (--verbose). */
        char what[1024], **names = NULL;
        snprintf(what, sizeof(what), "%s: densecl.labels", c->o.weights);
        if (dc_names_parse_json(meta, c->classes, what, &names) != DENSECL_OK) {
            print_warning(c, densecl_last_error()); /* numbers will do */
        }
        dc_names_free(names, c->classes);
    }
    if (c->classes == 1000) {
        c->names = imagenet_names(c);
    }
    return 0;
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
    if (c->n_truth < c->all_total) {
        return fail_msg("%s holds %lld labels, but the inputs hold %lld images", c->o.truth,
                        (long long)c->n_truth, (long long)c->all_total);
    }
    return 0;
}

/* Buffers of the two batches; their image buffers grow in batch_slot. */
static int setup_batch(classify *c)
{
    size_t probs;
    if (!dc_mul_size((size_t)c->batch, (size_t)c->classes, &probs)) {
        return fail_msg("--batch %d is too large for %d classes", c->batch, c->classes);
    }
    int oom = !(c->top_ids = malloc((size_t)c->ranked * sizeof(int)));
    for (int i = 0; i < 2; i++) {
        cbatch *b = &c->bt[i];
        b->probs = malloc(probs * sizeof(float));
        b->slot_in = malloc((size_t)c->batch * sizeof(int));
        b->slot_index = malloc((size_t)c->batch * sizeof(int64_t));
        oom |= !b->probs || !b->slot_in || !b->slot_index;
    }
    if (oom) {
        return fail_msg("out of memory for a batch of %d images", c->batch);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------------------------- */

static void classify_free(classify *c)
{
    discard_batches(c); /* none is left by the paths above; the buffers go only after this */
    densecl_engine_free(c->e);
    dci_names_free(c->names, c->classes);
    free(c->truth);
    for (int i = 0; i < c->n_in; i++) {
        free(c->in[i].why);
    }
    free(c->in);
    for (int i = 0; i < 2; i++) {
        free(c->bt[i].x);
        free(c->bt[i].slot_in);
        free(c->bt[i].slot_index);
        free(c->bt[i].probs);
    }
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
    c->csv_top = c->csv_top < c->classes ? c->csv_top : c->classes;
    int ranked = c->top > c->csv_top ? c->top : c->csv_top;
    c->ranked = ranked > 5 || c->classes < 5 ? ranked : 5;
    int images = 0;
    for (int i = 0; i < c->n_in; i++) {
        images |= !c->in[i].failed && c->in[i].count > 0 && c->in[i].kind != DCI_INPUT_NPY;
    }
    if ((rc = setup_preprocess(c, w)) == 0 && images && c->pp_status != DENSECL_OK) {
        rc = fail_msg("%s", c->pp_why);
    }
    if (rc == 0) {
        rc = setup_names(c, w);
    }
    if (rc == 0 && c->o.truth) {
        rc = setup_truth(c);
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
    return rc;
}

/* Only once the engine exists: a run that cannot start leaves an old CSV file as it was. The
 * file is written in place, a batch at a time, so that it can be followed while it grows. */
static int open_csv(classify *c)
{
    struct stat sb;
    char head[160];
    if (!c->o.csv) {
        return 0;
    }
    if (cli_mpi_rank() != 0) {
        return classify_mpi_open_csv(c);
    }
    if (c->csv_stdout) {
        /* Written into as it is: never cut back (it may be a file opened for appending). */
        fflush(stdout);
        c->csv = STDOUT_FILENO;
        c->csv_regular = 0;
    } else {
        c->csv = open(c->o.csv, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0666);
        if (c->csv < 0) {
            return fail_msg("%s: cannot create: %s", c->o.csv, strerror(errno));
        }
        c->csv_regular = fstat(c->csv, &sb) == 0 && S_ISREG(sb.st_mode);
    }
    /* The header of the old columns is byte for byte what it always was: shards' files are
     * concatenated, and scripts compare them. */
    sbuf h = {0};
    snprintf(head, sizeof(head), "input,index,class_id,label,probability");
    csv_append(&h, head);
    for (int j = 2; j <= c->csv_top; j++) {
        snprintf(head, sizeof(head), ",class_id_%d,label_%d,probability_%d", j, j, j);
        csv_append(&h, head);
    }
    csv_append(&h, c->truth ? ",truth,truth_label\n" : "\n");
    int rc = h.oom ? fail_msg("out of memory") : csv_write(c, h.s, h.len);
    free(h.s);
    return rc;
}

/* --csv must not name an input: the weights, the labels or an image would be lost. */
static int check_csv_path(const classify *c)
{
    const char **ins = malloc((size_t)(c->n_in + 3) * sizeof(*ins));
    if (!ins) {
        return fail_msg("out of memory");
    }
    ins[0] = c->o.weights;
    ins[1] = c->o.truth;
    ins[2] = c->o.labels;
    for (int i = 0; i < c->n_in; i++) {
        ins[i + 3] = c->in[i].path;
    }
    int rc = cli_check_output("classify", "--csv", c->o.csv, ins, c->n_in + 3);
    free(ins);
    return rc;
}

int cmd_classify(int argc, char **argv, const cli_ctx *ctx)
{
    classify c;
    memset(&c, 0, sizeof(c));
    c.csv = -1;
    int rc = parse_command_line(argc, argv, ctx, &c);
    c.csv_stdout = rc == 0 && c.o.csv && strcmp(c.o.csv, "-") == 0;
    if (rc == 0 && c.o.csv && !c.csv_stdout) {
        rc = check_csv_path(&c);
    }
    if (rc != 0) {
        free(c.in);
        return rc;
    }
    /* From here a signal stops the reading of inputs; the batches already started finish and
     * are reported, and the results are closed properly. */
    cli_signals_defer(1);
    if (c.o.verbose) {
        densecl_set_log(log_to_stderr, NULL);
    }
    c.t0 = cli_now();
    c.progress = isatty(fileno(stderr));
    int ranks = cli_mpi_size() > 1;
    if (ranks && (rc = classify_mpi_begin(&c)) == EXIT_USAGE) {
        goto done; /* the same on every rank; any other failure is agreed on below */
    }
    sniff_inputs(&c);
    /* With --csv - the rows are the results on standard output: no per-image lines. */
    c.print_lines = !c.o.json && !c.csv_stdout && (c.top_given || c.all_total <= PRINT_ALL_MAX);
    if (rc == 0) {
        rc = classify_setup(&c);
    }
    if (ranks) {
        rc = classify_mpi_setup(&c, rc);
    }
    if (rc != 0) {
        goto done;
    }
    rc = open_csv(&c);
    if (rc != 0 && !ranks) {
        goto done;
    }
    c.t_loop = cli_now();
    if (c.o.json && cli_mpi_rank() == 0) {
        const densecl_device_info *d = c.e ? densecl_engine_device(c.e) : NULL;
        printf("{\n  \"weights\": ");
        dc_json_write_string(stdout, c.o.weights);
        printf(",\n  \"device\": ");
        dc_json_write_string(stdout, d ? d->name : "");
        printf(",\n  \"classes\": %d,\n  \"images\": [\n", c.classes);
        c.json_open = 1;
    }
    bar_draw(&c);
    for (int i = 0; i < c.n_in && rc == 0 && !cli_signal_caught(); i++) {
        rc = do_input(&c, i);
    }
    if (rc == 0 && !cli_signal_caught()) {
        rc = flush_batch(&c); /* the last, partial batch */
    }
    if (rc == 0 || rc == EXIT_INTERRUPTED) {
        /* the batch in flight, also after a signal: every batch started is reported whole */
        int drained = drain_batches(&c);
        rc = drained != 0 ? drained : rc;
    } else {
        discard_batches(&c); /* a runtime error: nothing after it is reported */
    }
    cli_signals_defer(0);
    bar_erase(&c);
    if (ranks) {
        rc = classify_mpi_finish(&c, rc);
        goto done;
    }
    int sig = cli_signal_caught();
    if (sig && (rc == 0 || rc == EXIT_INTERRUPTED)) {
        /* Only whole batches were written: the CSV and the results printed hold exactly the
         * images counted here, and a --json document is closed with "interrupted": true. */
        c.interrupted = 1;
        print_summary(&c, cli_now() - c.t_loop, c.t_loop - c.t0);
        fprintf(stderr,
                "densecl: interrupted after %lld of %lld images%s%s%s; the rest were not "
                "classified (%s)\n",
                (long long)c.done, (long long)c.total, c.csv >= 0 ? " (" : "",
                c.csv < 0 ? "" : c.csv_stdout ? "standard output" : c.o.csv,
                c.csv >= 0 ? " has a complete row for each)" : "",
                sig == SIGINT    ? "SIGINT"
                : sig == SIGTERM ? "SIGTERM"
                                 : "SIGHUP");
        rc = 128 + sig;
        goto done;
    }
    if (rc != 0) {
        /* A runtime error (a device lost, a write error): the document still ends, with the
         * images classified before it and the error (also on stderr). */
        if (c.json_open) {
            c.run_error = cli_last_error();
            print_summary(&c, cli_now() - c.t_loop, c.t_loop - c.t0);
        }
        goto done;
    }
    double end = cli_now();
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
    if (c.csv >= 0 && !c.csv_stdout && close(c.csv) != 0 && rc == 0) {
        rc = fail_msg("%s: write error: %s", c.o.csv, strerror(errno));
    }
    classify_free(&c);
    return rc;
}
