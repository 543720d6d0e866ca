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
 * This file: the set-up and the run; classify_args.c holds the usage text and parses the
 * command line, classify_inputs.c walks the inputs into batches, classify_output.c writes the
 * results (text, CSV, JSON) and the summary, classify_progress.c keeps the progress bar and
 * warnings on stderr. classify.h holds their state.
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

/* "--resize 48 --size 48 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225": pp as the options
 * that give it. */
static void pp_flags(const densecl_preprocess *pp, char *out, size_t cap)
{
    size_t n = 0;
    if (pp->resize) {
        n += (size_t)snprintf(out + n, cap - n, "--resize %d", pp->resize);
    } else if (pp->resize_height) {
        n += (size_t)snprintf(out + n, cap - n, "--resize %dx%d", pp->resize_height,
                              pp->resize_width);
    } else {
        n += (size_t)snprintf(out + n, cap - n, "--resize none");
    }
    if (n < cap && pp->height == pp->width) {
        n += (size_t)snprintf(out + n, cap - n, " --size %d", pp->height);
    } else if (n < cap) {
        n += (size_t)snprintf(out + n, cap - n, " --size %dx%d", pp->height, pp->width);
    }
    if (n < cap && (pp->crop_height != pp->height || pp->crop_width != pp->width)) {
        if (!pp->crop_height) {
            n += (size_t)snprintf(out + n, cap - n, " --crop none");
        } else if (pp->crop_height == pp->crop_width) {
            n += (size_t)snprintf(out + n, cap - n, " --crop %d", pp->crop_height);
        } else {
            n += (size_t)snprintf(out + n, cap - n, " --crop %dx%d", pp->crop_height,
                                  pp->crop_width);
        }
    }
    for (int v = 0; v < 2 && n < cap; v++) {
        const float *x = v ? pp->std : pp->mean;
        n += (size_t)snprintf(out + n, cap - n, " --%s ", v ? "std" : "mean");
        for (int ch = 0; ch < pp->channels && n < cap; ch++) {
            n += (size_t)snprintf(out + n, cap - n, "%s%.6g", ch ? "," : "", (double)x[ch]);
        }
    }
}

/* The preprocessing, or in c->pp_status / pp_why the reason images cannot be classified. */
static int setup_preprocess(classify *c, const densecl_weights *w)
{
    c->pp_status = densecl_weights_preprocess_ex(w, c->pp_json, &c->pp);
    if (c->pp_status == DENSECL_OK) {
        if (c->pp.source == DENSECL_PREPROCESS_IMAGENET ||
            c->pp.source == DENSECL_PREPROCESS_ONNX_INPUT) {
            char flags[512];
            pp_flags(&c->pp, flags, sizeof(flags));
            snprintf(c->pp_assumed, sizeof(c->pp_assumed),
                     "%s has no preprocessing metadata: assuming %s (%s); give these options "
                     "to set them",
                     c->o.weights, flags,
                     c->pp.source == DENSECL_PREPROCESS_ONNX_INPUT
                         ? "the input size its ONNX graph declares, ImageNet's mean and std"
                         : "torchvision's ImageNet preprocessing");
        }
        return 0;
    }
    if (densecl_weights_metadata(w, "densecl.preprocess") || c->pp_json) {
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
        free(c->in[i].owned);
    }
    free(c->folder_class);
    strlist_free(&c->folder_names);
    free(c->pp_json);
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
    c->weights_digest = cli_mpi_size() > 1 ? dc_weights_digest(w) : 0;
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
    if (rc == 0 && images && c->pp_assumed[0]) {
        print_warning(c, c->pp_assumed); /* never silently: what is assumed, and how to set it */
    }
    c->pp_used = images && c->pp_status == DENSECL_OK;
    if (rc == 0) {
        rc = setup_names(c, w);
    }
    if (rc == 0 && c->truth_folders) {
        rc = setup_folder_truth(c);
    } else if (rc == 0 && c->o.truth) {
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
        eo.threads = c->threads;
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
    ins[1] = c->truth_folders ? NULL : c->o.truth;
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
    int rc = classify_parse_command_line(argc, argv, ctx, &c);
    c.csv_stdout = rc == 0 && c.o.csv && strcmp(c.o.csv, "-") == 0;
    if (rc == 0) {
        rc = expand_folders(&c); /* DIR: its images, as ImageFolder lists them */
    }
    if (rc == 0 && c.o.csv && !c.csv_stdout) {
        rc = check_csv_path(&c);
    }
    if (rc != 0) {
        classify_free(&c);
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
        if (rc == 0) {
            rc = classify_mpi_agree(&c); /* before any output: the ranks agree or stop */
        }
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
        printf(",\n  \"classes\": %d,\n", c.classes);
        print_json_preprocessing(&c);
        printf("  \"images\": [\n");
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
                c.csv < 0      ? ""
                : c.csv_stdout ? "standard output"
                               : c.o.csv,
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
