/* SPDX-License-Identifier: MIT */
/*
 * cmd_run.c - `densecl run`: a model on a batch of images (.npy) to logits (.npy), split over
 * devices and, under mpirun, over ranks. The output is written once, at the end, atomically
 * (dc_npy_write): a failed run leaves no file behind.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "inputs.h"
#include "mpi.h"
#include "tools_internal.h"

const char cmd_run_usage[] =
    "usage: densecl run [--model NAME] (--weights FILE | --random-weights SEED)\n"
    "                   --input X.npy --output Y.npy [--device SPEC] [--classes N]\n"
    "                   [--kernels-binary FILE] [--no-kernel-cache] [--conv FAMILY]\n"
    "                   [--kernel-params TEXT] [--allow-nonfinite-weights] [--shard K/N]\n"
    "                   [--threads N]\n"
    "\n"
    "Runs a DenseNet on a batch of images and writes the logits, float32 [N, classes].\n"
    "The output file is written only on success, and atomically.\n"
    "\n"
    "  --model NAME           a preset (see 'densecl models'). With --weights the file must\n"
    "                         match it; without, the architecture is inferred from the file.\n"
    "                         With --random-weights the default is densenet121.\n"
    "  --weights FILE         safetensors (torchvision key names) or ONNX weights\n"
    "  --random-weights SEED  seeded random weights instead (an unsigned 64-bit integer)\n"
    "  --allow-nonfinite-weights\n"
    "                         accept NaN or infinite weights and negative BN variances\n"
    "                         (refused by default: the logits would be NaN)\n"
    "  --input X.npy          float32 (or float64) images, [N, C, H, W]\n"
    "  --output Y.npy         where to write the float32 [N, classes] logits\n"
    "  --device SPEC          auto (default), cpu, gpu, accelerator, P:D (see 'densecl info'),\n"
    "                         part of a device name; 'all' or a comma-separated list splits\n"
    "                         the batch over several devices; A|B takes the first of them\n"
    "                         that exists (gpu|cpu: a GPU, else the CPU)\n"
    "  --threads N            run a CPU device on N threads (default: all of them)\n"
    "  --classes N            classifier outputs: replaces the preset's with --random-weights,\n"
    "                         must be the file's with --weights\n"
    "  --kernels-binary FILE  load the kernels from a program binary made by\n"
    "                         'densecl compile-kernels' instead of compiling kernels.cl\n"
    "  --no-kernel-cache      neither read nor write the on-disk kernel cache\n"
    "  --conv FAMILY          the conv kernel family: auto (default; $DENSECL_CONV when set):\n"
    "                         the one 'densecl tune' saved, else gemm on GPUs and direct\n"
    "                         elsewhere (with the 3x3 convs on winograd on AVX-512 CPUs,\n"
    "                         off with --kernel-params winograd:ON=0), a conv it\n"
    "                         cannot run falling back to direct; or direct, gemm, clblast:\n"
    "                         every conv on it ('densecl info' lists what this build has),\n"
    "                         a conv it cannot run refused; or winograd: the 3x3/1/1 convs\n"
    "                         on it, the others on direct\n"
    "  --kernel-params TEXT   the families' parameters, [FAMILY:]NAME=V[,NAME=V...][;...],\n"
    "                         e.g. direct:1x1=8x32,conv=16x4 or gemm:MWG=64,NWG=64\n"
    "  --shard K/N            run only shard K (from 0) of N: a contiguous share of the\n"
    "                         images; the shards' outputs, concatenated in shard order along\n"
    "                         the first axis, are the whole batch's logits (see README)\n"
    "  --verbose              log the library's messages to stderr\n"
    "  -h, --help             show this help\n"
    "\n"
    "Options take their value as the next argument or after '=' (--output=Y.npy).\n"
    "Exit status: 0 on success, 1 on a runtime or input error, 2 on a usage error.\n";

typedef struct run_opts {
    const char *model;
    const char *weights;
    const char *seed;
    const char *input;
    const char *output;
    const char *device;
    const char *classes;
    const char *kernels_binary;
    const char *conv;
    const char *kernel_params;
    const char *shard;
    const char *threads;
    int no_cache;
    int verbose;
    int help;
    int allow_nonfinite;
} run_opts;

/* The parsed, validated command line of `run`. */
typedef struct run_args {
    run_opts o;
    densecl_config cfg; /* the preset (--model, or densenet121 with --random-weights) */
    int have_cfg;
    int classes;          /* --classes, 0 when absent */
    int shard_k, shard_n; /* --shard K/N; 0/1 without */
    int threads;          /* --threads, 0 when absent */
    uint64_t seed;
} run_args;

/* Parses and checks the command line. 0, 1 for a help request, or EXIT_USAGE once reported. */
static int run_parse(int argc, char **argv, const cli_ctx *ctx, run_args *a)
{
    run_opts *o = &a->o;
    memset(a, 0, sizeof(*a));
    o->verbose = ctx->verbose;
    const cli_opt opts[] = {
        {"--model", &o->model, NULL},
        {"--weights", &o->weights, NULL},
        {"--random-weights", &o->seed, NULL},
        {"--input", &o->input, NULL},
        {"--output", &o->output, NULL},
        {"--device", &o->device, NULL},
        {"--classes", &o->classes, NULL},
        {"--verbose", NULL, &o->verbose},
        {"--kernels-binary", &o->kernels_binary, NULL},
        {"--no-kernel-cache", NULL, &o->no_cache},
        {"--conv", &o->conv, NULL},
        {"--kernel-params", &o->kernel_params, NULL},
        {"--help", NULL, &o->help},
        {"-h", NULL, &o->help},
        {"--allow-nonfinite-weights", NULL, &o->allow_nonfinite},
        {"--shard", &o->shard, NULL},
        {"--threads", &o->threads, NULL},
    };
    int rc = parse_opts("run", argc, argv, opts, DC_ARRAY_LEN(opts));
    if (rc != 0) {
        return rc;
    }
    if (o->help) {
        return 1;
    }
    if (o->weights && o->seed) {
        return fail_usage("run", "--weights and --random-weights exclude each other");
    }
    if (!o->weights && !o->seed) {
        return fail_usage("run", "missing --weights FILE or --random-weights SEED");
    }
    if (!o->input) {
        return fail_usage("run", "missing --input X.npy");
    }
    if (!o->output) {
        return fail_usage("run", "missing --output Y.npy");
    }
    if (o->classes && !parse_int(o->classes, 1, 1000000, &a->classes)) {
        return fail_usage("run", "--classes needs an integer in [1, 1000000], got '%s'",
                          o->classes);
    }
    a->shard_n = 1;
    if (o->threads && !parse_int(o->threads, 1, INT_MAX, &a->threads)) {
        return fail_usage("run", "--threads needs a positive integer, got '%s'", o->threads);
    }
    if (o->shard && !parse_shard(o->shard, &a->shard_k, &a->shard_n)) {
        return fail_usage("run", "--shard needs K/N with 0 <= K < N, got '%s'", o->shard);
    }
    if (o->seed && !parse_u64(o->seed, &a->seed)) {
        return fail_usage("run", "--random-weights needs an unsigned 64-bit integer seed, got '%s'",
                          o->seed);
    }
    if (o->model || o->seed) {
        const char *name = o->model ? o->model : "densenet121";
        if (densecl_config_preset(name, &a->cfg) != DENSECL_OK) {
            return fail_usage("run", "--model: %s", densecl_last_error());
        }
        a->have_cfg = 1;
    }
    return 0;
}

/* Loads or makes the weights the command line asks for. */
static densecl_status run_weights(const run_args *a, densecl_weights **w)
{
    if (a->o.seed) {
        densecl_config cfg = a->cfg;
        if (a->classes > 0) {
            cfg.num_classes = a->classes;
        }
        return densecl_weights_random(&cfg, a->seed, w);
    }
    densecl_weights_options wo;
    densecl_config expect = a->cfg;
    memset(&wo, 0, sizeof wo);
    wo.allow_nonfinite = a->o.allow_nonfinite;
    if (a->have_cfg) {
        expect.num_classes = a->classes; /* 0: the file's */
        expect.in_channels = 0;
        wo.expect = &expect;
    }
    return densecl_weights_load_ex(a->o.weights, &wo, w);
}

/* Refuses an --input whose header declares images too large, before the data is read (a
 * 20000x20000 one is 1.6 GB per channel). 0 also when the header does not parse: dc_npy_read
 * then says why. */
static int run_check_header(const char *path)
{
    enum { PREFIX = 65536 };
    unsigned char *buf = malloc(PREFIX);
    int64_t dims[8];
    int fd = -1, ndim = 0, rc = 0;
    size_t len = 0;
    if (buf && dc_open_regular(path, NULL, &fd) == DENSECL_OK) {
        ssize_t n;
        while (len < PREFIX && (n = read(fd, buf + len, PREFIX - len)) > 0) {
            len += (size_t)n;
        }
        close(fd);
    }
    if (buf && dci_npy_peek_shape(buf, len, path, dims, &ndim) == DENSECL_OK && ndim == 4 &&
        (dims[2] > DCI_PP_MAX_SIDE || dims[3] > DCI_PP_MAX_SIDE)) {
        rc = fail_msg("%s: images of %lldx%lld pixels: each side must be at most %d", path,
                      (long long)dims[2], (long long)dims[3], DCI_PP_MAX_SIDE);
    }
    free(buf);
    dc_clear_error();
    return rc;
}

/* Checks the input against the model; reports and returns EXIT_RUNTIME, or 0. */
static int run_check_input(const run_args *a, const dc_npy *x, const densecl_config *cfg)
{
    const char *path = a->o.input;
    char shape[160];
    char model[256];
    dc_shape_str(x->shape, x->ndim, 0, shape, sizeof(shape));
    if (a->o.model || a->o.seed) {
        snprintf(model, sizeof(model), "%s", a->o.model ? a->o.model : "densenet121");
    } else {
        snprintf(model, sizeof(model), "the model of %s", a->o.weights);
    }
    if (x->ndim != 4) {
        return fail_msg("%s: expected a 4-D [N, C, H, W] array, got shape %s", path, shape);
    }
    for (int i = 0; i < 4; i++) {
        if (x->shape[i] < 1) {
            return fail_msg("%s: the array of shape %s is empty", path, shape);
        }
        if (x->shape[i] > INT_MAX) {
            return fail_msg("%s: shape %s has a dimension over %d", path, shape, INT_MAX);
        }
    }
    if (x->shape[1] != cfg->in_channels) {
        return fail_msg("%s: input has %lld channel%s (shape %s), but %s expects %d channels", path,
                        (long long)x->shape[1], x->shape[1] == 1 ? "" : "s", shape, model,
                        cfg->in_channels);
    }
    int min = densecl_config_min_size(cfg);
    if (x->shape[2] < min || x->shape[3] < min) {
        return fail_msg("%s: %lldx%lld images are too small for %s (minimum input size %dx%d)",
                        path, (long long)x->shape[2], (long long)x->shape[3], model, min, min);
    }
    return 0;
}

/* A device taken out mid-run does not fail the run, but the user hears of it. */
static void report_failover(const densecl_engine *e)
{
    for (int i = 0; i < densecl_engine_replica_count(e); i++) {
        densecl_replica_stats s;
        if (densecl_engine_replica_stats(e, i, &s) == DENSECL_OK && !s.active) {
            char line[1024];
            failover_warning(&s, line, sizeof(line));
            fprintf(stderr, "%s\n", line);
        }
    }
}

/* Under MPI: the ranks compare their options, weights and input (cli_mpi_agree). */
static int run_agree(const densecl_weights *w, const dc_npy *x)
{
    char *facts = NULL, value[256];
    size_t len = 0, count = 1;
    snprintf(value, sizeof(value), "checksum %016llx", (unsigned long long)dc_weights_digest(w));
    int bad = cli_mpi_fact(&facts, &len, "2", "the weights' content", value);
    for (int d = 0; d < x->ndim; d++) {
        count *= (size_t)x->shape[d];
    }
    snprintf(value, sizeof(value), "%s, checksum %016llx",
             dc_shape_str(x->shape, x->ndim, 0, (char[96]){0}, 96),
             (unsigned long long)dc_fnv(DC_FNV_SEED, x->data, count * sizeof(float)));
    bad |= cli_mpi_fact(&facts, &len, "3", "the input", value);
    int rc = cli_mpi_agree("run", bad ? "9\tthis rank's facts\tout of memory\n" : facts);
    free(facts);
    return rc;
}

/* Under MPI, every rank at the end of cmd_run with its status rc and its n rows of logits:
 * when all succeeded, rank 0 gathers the rows in rank order (the ranks' shards are contiguous,
 * so that is input order) and writes the [total, classes] file; when one failed (it said why,
 * naming its rank and host) nothing is written. Every rank returns the same status. */
static int run_gather(const run_args *a, int rc, const float *logits, int n, int64_t total,
                      int classes)
{
    int first = cli_mpi_first_failed(rc != 0);
    if (first >= 0) {
        if (cli_mpi_rank() == 0 && first != 0) {
            fail_msg("rank %d failed (see its error): %s was not written", first, a->o.output);
        }
        return EXIT_RUNTIME;
    }
    char *all;
    size_t len;
    size_t mine = (size_t)n * (size_t)classes * sizeof(float);
    if (cli_mpi_gather(logits, mine, &all, &len) != 0) {
        rc = cli_mpi_rank() == 0 ? fail_msg("gathering the logits of the ranks failed (out of "
                                            "memory, or over 2 GiB): %s was not written",
                                            a->o.output)
                                 : EXIT_RUNTIME;
    } else if (cli_mpi_rank() == 0) {
        densecl_status st = DENSECL_OK;
        if (len != (size_t)total * (size_t)classes * sizeof(float)) {
            rc = fail_msg("the ranks sent %zu bytes of logits, want %lld x %d floats", len,
                          (long long)total, classes);
        } else if ((st = dc_npy_write(a->o.output, (const int64_t[2]){total, classes}, 2,
                                      (const float *)(void *)all)) != DENSECL_OK) {
            rc = fail_status(st);
        }
    }
    free(all);
    return cli_mpi_max(rc);
}

int cmd_run(int argc, char **argv, const cli_ctx *ctx)
{
    run_args a;
    int rc = run_parse(argc, argv, ctx, &a);
    if (rc != 0) {
        return rc == 1 ? -1 : rc;
    }
    if (a.o.verbose) {
        densecl_set_log(log_to_stderr, NULL);
    }
    /* Under mpirun every rank is a shard of the batch; rank 0 writes the whole output. */
    if (cli_mpi_size() > 1) {
        if (a.o.shard) {
            return fail_usage("run", "--shard and mpirun exclude each other: the ranks are "
                                     "the shards");
        }
        a.shard_k = cli_mpi_rank();
        a.shard_n = cli_mpi_size();
    }
    char gpu[64];
    if (!a.o.device && cli_mpi_size() > 1) {
        a.o.device = cli_mpi_device(gpu, sizeof(gpu));
    }

    dc_npy x;
    memset(&x, 0, sizeof(x));
    densecl_weights *w = NULL;
    densecl_engine *e = NULL;
    const densecl_config *cfg;
    float *logits = NULL;
    size_t bytes;
    int n = 0, classes = 0, setup_failed = 0;
    densecl_status st;
    rc = EXIT_RUNTIME;

    const char *ins[] = {a.o.input, a.o.weights, a.o.kernels_binary};
    if ((rc = cli_check_output("run", "--output", a.o.output, ins, 3)) != 0) {
        return rc;
    }
    if (cli_mpi_rank() == 0) {
        cli_note_in_place(a.o.output); /* rank 0 writes it */
    }
    if ((rc = run_check_header(a.o.input)) != 0) {
        return rc;
    }
    rc = EXIT_RUNTIME;
    if ((st = dc_npy_read(a.o.input, &x)) != DENSECL_OK) {
        rc = fail_status(st);
        goto done;
    }
    if (x.ndim != 4) {
        /* Before the weights: a wrong rank needs no model to be told. */
        rc = run_check_input(&a, &x, &a.cfg);
        goto done;
    }
    if ((st = run_weights(&a, &w)) != DENSECL_OK) {
        rc = fail_status(st);
        goto done;
    }
    cfg = densecl_weights_config(w);
    classes = cfg->num_classes;
    if (a.classes > 0 && classes != a.classes) {
        rc = fail_msg("%s has %d classes, but --classes asks for %d", a.o.weights, classes,
                      a.classes);
        goto done;
    }
    if (run_check_input(&a, &x, cfg) != 0) {
        goto done;
    }
    /* --shard K/N: this shard's contiguous rows of the batch, [lo, hi) */
    int64_t lo, hi;
    shard_range(x.shape[0], a.shard_k, a.shard_n, &lo, &hi);
    n = (int)(hi - lo);
    if (!dc_mul_size((size_t)(n > 0 ? n : 1), (size_t)classes, &bytes) ||
        !dc_mul_size(bytes, sizeof(float), &bytes)) {
        rc = fail_msg("%s: a batch of %d images is too large", a.o.input, n);
        goto done;
    }
    logits = malloc(bytes);
    if (!logits) {
        rc = fail_msg("out of memory for %d x %d logits", n, classes);
        goto done;
    }
    densecl_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.device = a.o.device;
    eo.kernels_binary = a.o.kernels_binary;
    eo.no_kernel_cache = a.o.no_cache;
    eo.conv = a.o.conv;
    eo.kernel_params = a.o.kernel_params;
    eo.threads = a.threads;
    if ((st = densecl_engine_create_ex(w, &eo, &e)) != DENSECL_OK) {
        rc = fail_status(st);
        goto done;
    }
    /* Under MPI the set-up ends here: from now on each rank has its own shard, and errors are
     * its own. A rank that failed before meets the others at done. */
    if (cli_mpi_size() > 1 && (rc = cli_mpi_setup_end(0)) != 0) {
        setup_failed = 1;
        goto done;
    }
    /* ... and before any work the ranks agree on what they run, or stop. */
    if (cli_mpi_size() > 1 && (rc = run_agree(w, &x)) != 0) {
        setup_failed = 1;
        goto done;
    }
    densecl_weights_free(w); /* uploaded: the engine no longer needs it */
    w = NULL;
    size_t image = (size_t)x.shape[1] * (size_t)x.shape[2] * (size_t)x.shape[3];
    st = n == 0 ? DENSECL_OK /* a shard of more shards than images: no rows */
                : densecl_engine_run(e, x.data + (size_t)lo * image, n, (int)x.shape[1],
                                     (int)x.shape[2], (int)x.shape[3], logits);
    if (st != DENSECL_OK) {
        rc = fail_status(st);
        goto done;
    }
    report_failover(e);
    {
        /* A device profile resolved the kernels (a test and development feature): say so. */
        char prof[1024];
        if (dc_tool_profile_line(prof, sizeof prof) == DENSECL_OK && prof[0] && cli_mpi_rank() <= 0)
            fprintf(stderr, "densecl: device profile %s resolved the kernels\n", prof);
    }
    if (cli_mpi_size() == 1 &&
        (st = dc_npy_write(a.o.output, (const int64_t[2]){n, classes}, 2, logits)) != DENSECL_OK) {
        rc = fail_status(st);
        goto done;
    }
    rc = 0;
done:
    if (cli_mpi_size() > 1 && cli_error_deferring()) {
        rc = cli_mpi_setup_end(rc); /* failed in the set-up: its error said once, by rank 0 */
    } else if (cli_mpi_size() > 1 && !setup_failed) {
        rc = run_gather(&a, rc, logits, n, x.ndim == 4 ? x.shape[0] : 0, classes);
    }
    free(logits);
    densecl_engine_free(e);
    densecl_weights_free(w);
    dc_npy_free(&x);
    return rc;
}
