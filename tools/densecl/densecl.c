/* SPDX-License-Identifier: MIT */
/*
 * densecl.c - the densecl command-line tool.
 *
 * Subcommands live in one table (name, function, help line, usage text). Each returns the exit
 * code: 0 on success, 1 for a runtime or input error, 2 for a usage error. Every error is reported
 * as exactly one line "densecl: error: ..." on stderr (the one exception is a compiler build log,
 * which is part of the library's detail), and `run` never leaves an output file behind on failure:
 * the logits are written once, at the end, by the atomic dc_npy_write.
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
#include "inputs.h"
#include "mpi.h"
#include "tools_internal.h"

/* ---------------------------------------------------------------------------------------------
 * densecl models
 * ------------------------------------------------------------------------------------------- */

enum { MODEL_COLS = 8 };

static void print_models_json(const densecl_config *cfgs, int count)
{
    printf("[\n");
    for (int i = 0; i < count; i++) {
        const densecl_config *c = &cfgs[i];
        char blocks[128];
        int size = native_size(c);
        format_blocks(c, ", ", blocks, sizeof(blocks));
        /* Preset names are plain ASCII identifiers: nothing in them needs escaping. */
        printf("  {\"name\": \"%s\", \"stem\": \"%s\", \"growth_rate\": %d, "
               "\"block_layers\": [%s], \"init_features\": %d, \"bottleneck\": %s, "
               "\"bn_size\": %d, \"compression\": %.9g, \"in_channels\": %d, "
               "\"num_classes\": %d, \"params\": %llu, \"macs\": %llu, \"input_size\": %d}%s\n",
               densecl_preset_name(i), stem_name(c->stem), c->growth_rate, blocks, c->init_features,
               c->bottleneck ? "true" : "false", c->bn_size, (double)c->compression, c->in_channels,
               c->num_classes, (unsigned long long)densecl_config_params(c),
               (unsigned long long)densecl_config_macs(c, size, size), size,
               i + 1 < count ? "," : "");
    }
    printf("]\n");
}

static int print_models_table(const densecl_config *cfgs, int count)
{
    static const char *const heads[MODEL_COLS] = {"NAME",   "STEM",  "K",     "BLOCKS",
                                                  "PARAMS", "GMACS", "INPUT", "CLASSES"};
    static const int right[MODEL_COLS] = {0, 0, 1, 0, 1, 1, 0, 1};
    int width[MODEL_COLS];
    char(*cells)[MODEL_COLS][64] = calloc((size_t)count, sizeof(*cells));
    if (!cells) {
        return fail_msg("out of memory");
    }
    for (int j = 0; j < MODEL_COLS; j++) {
        width[j] = (int)strlen(heads[j]);
    }
    for (int i = 0; i < count; i++) {
        const densecl_config *c = &cfgs[i];
        int size = native_size(c);
        char *row[MODEL_COLS];
        for (int j = 0; j < MODEL_COLS; j++) {
            row[j] = cells[i][j];
        }
        snprintf(row[0], 64, "%s", densecl_preset_name(i));
        snprintf(row[1], 64, "%s", stem_name(c->stem));
        snprintf(row[2], 64, "%d", c->growth_rate);
        format_blocks(c, "-", row[3], 64);
        format_thousands(densecl_config_params(c), row[4], 64);
        snprintf(row[5], 64, "%.3f", (double)densecl_config_macs(c, size, size) / 1e9);
        snprintf(row[6], 64, "%dx%d", size, size);
        snprintf(row[7], 64, "%d", c->num_classes);
        for (int j = 0; j < MODEL_COLS; j++) {
            int len = (int)strlen(row[j]);
            width[j] = len > width[j] ? len : width[j];
        }
    }
    for (int i = -1; i < count; i++) {
        for (int j = 0; j < MODEL_COLS; j++) {
            const char *cell = i < 0 ? heads[j] : cells[i][j];
            const char *sep = j + 1 < MODEL_COLS ? "  " : "\n";
            if (right[j]) {
                printf("%*s%s", width[j], cell, sep);
            } else if (j + 1 < MODEL_COLS) {
                printf("%-*s%s", width[j], cell, sep);
            } else {
                printf("%s%s", cell, sep);
            }
        }
    }
    free(cells);
    return 0;
}

static int cmd_models(int argc, char **argv, const cli_ctx *ctx)
{
    int json = 0, help = 0, verbose = ctx->verbose;
    const cli_opt opts[] = {
        {"--json", NULL, &json},
        {"--verbose", NULL, &verbose},
        {"--help", NULL, &help},
        {"-h", NULL, &help},
    };
    int rc = parse_opts("models", argc, argv, opts, DC_ARRAY_LEN(opts));
    if (rc != 0) {
        return rc;
    }
    if (help) {
        return -1; /* main prints the usage */
    }
    if (verbose) {
        densecl_set_log(log_to_stderr, NULL);
    }
    int count = densecl_preset_count();
    if (count <= 0) {
        return fail_msg("the library has no model presets");
    }
    densecl_config *cfgs = calloc((size_t)count, sizeof(*cfgs));
    if (!cfgs) {
        return fail_msg("out of memory");
    }
    for (int i = 0; i < count; i++) {
        densecl_status st = densecl_config_preset(densecl_preset_name(i), &cfgs[i]);
        if (st != DENSECL_OK) {
            free(cfgs);
            return fail_status(st);
        }
    }
    rc = 0;
    if (json) {
        print_models_json(cfgs, count);
    } else {
        rc = print_models_table(cfgs, count);
    }
    free(cfgs);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * densecl info
 * ------------------------------------------------------------------------------------------- */

static int cmd_info(int argc, char **argv, const cli_ctx *ctx)
{
    int help = 0, verbose = ctx->verbose;
    const cli_opt opts[] = {
        {"--verbose", NULL, &verbose},
        {"--help", NULL, &help},
        {"-h", NULL, &help},
    };
    int rc = parse_opts("info", argc, argv, opts, DC_ARRAY_LEN(opts));
    if (rc != 0) {
        return rc;
    }
    if (help) {
        return -1;
    }
    if (verbose) {
        densecl_set_log(log_to_stderr, NULL);
    }
    printf("densecl %s\n", densecl_version());
    int count = 0;
    densecl_status st = densecl_devices(NULL, 0, &count);
    if (st == DENSECL_ERR_NO_DEVICE) {
        const char *detail = densecl_last_error();
        if (strstr(detail, "/etc/OpenCL/vendors")) {
            return fail_status(st); /* the library already says where to look */
        }
        return fail_msg("%s; %s", detail[0] ? detail : "no OpenCL device found", no_driver_hint);
    }
    if (st != DENSECL_OK) {
        return fail_status(st);
    }
    if (count <= 0) {
        return fail_msg("OpenCL platforms were found, but none has a device");
    }
    densecl_device_info *devs = calloc((size_t)count, sizeof(*devs));
    if (!devs) {
        return fail_msg("out of memory");
    }
    int got = 0;
    st = densecl_devices(devs, count, &got);
    if (st != DENSECL_OK) {
        free(devs);
        return fail_status(st);
    }
    got = got < count ? got : count;
    printf("devices:\n");
    for (int i = 0; i < got; i++) {
        const densecl_device_info *d = &devs[i];
        char mem[32];
        format_bytes(d->global_mem_bytes, mem, sizeof(mem));
        printf("  %d:%d  %-5s  %s  (%s, %s, %u CUs, %s)\n", d->platform_index, d->device_index,
               densecl_device_type_str(d->type), d->name, d->platform_name, d->opencl_c_version,
               d->compute_units, mem);
    }
    free(devs);
    densecl_device_info pick;
    st = densecl_device_find("auto", &pick);
    if (st != DENSECL_OK) {
        return fail_status(st);
    }
    printf("auto: %d:%d  %s\n", pick.platform_index, pick.device_index, pick.name);
    /* The device's conv tiles (densecl tune); an engine fits them to its model. */
    cl_device_id dev;
    densecl_tiles t;
    densecl_tiles_origin origin;
    char path[4200] = "";
    if (dc_device_pick("auto", &dev, &pick) == DENSECL_OK &&
        dc_tiles_resolve(dev, NULL, &t, &origin) == DENSECL_OK) {
        int have = dc_tiles_path(dev, path, sizeof(path));
        printf("tiles: conv1x1 %dx%d, conv %dx%d (", t.conv1x1_channels, t.conv1x1_pixels,
               t.conv_channels, t.conv_pixels);
        densecl_tiles bad;
        if (origin == DENSECL_TILES_TUNED) {
            printf("tuned: %s)\n", path);
        } else if (have && access(path, F_OK) == 0) {
            if (dc_tiles_load(path, &bad) != DENSECL_OK)
                printf("default; ignoring %s)\n", densecl_last_error());
            else
                printf("default; DENSECL_NO_TUNING ignores %s)\n", path);
        } else if (have) {
            printf("default; 'densecl tune' would save better ones in %s)\n", path);
        } else {
            printf("default; 'densecl tune' needs a cache directory to save better ones)\n");
        }
        /* What an engine on it would resolve, and the conv families of this build. */
        char text[4096];
        dc_tool_families_text(dev, text, sizeof text);
        printf("%s", text);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * densecl run
 * ------------------------------------------------------------------------------------------- */

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

static int cmd_run(int argc, char **argv, const cli_ctx *ctx)
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

/* ---------------------------------------------------------------------------------------------
 * densecl compile-kernels
 * ------------------------------------------------------------------------------------------- */

static int cmd_compile_kernels(int argc, char **argv, const cli_ctx *ctx)
{
    const char *device = NULL, *out = NULL;
    int help = 0, verbose = ctx->verbose;
    const cli_opt opts[] = {{"--device", &device, NULL},
                            {"--out", &out, NULL},
                            {"--verbose", NULL, &verbose},
                            {"--help", NULL, &help},
                            {"-h", NULL, &help}};
    int rc = parse_opts("compile-kernels", argc, argv, opts, DC_ARRAY_LEN(opts));
    if (rc != 0)
        return rc;
    if (help)
        return -1;
    if (!out)
        return fail_usage("compile-kernels", "missing --out FILE");
    if (verbose)
        densecl_set_log(log_to_stderr, NULL);
    densecl_status st = densecl_compile_kernels(device ? device : "auto", out);
    if (st != DENSECL_OK)
        return fail_status(st);
    printf("wrote %s\n", out);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Subcommand table and main
 * ------------------------------------------------------------------------------------------- */

/* A subcommand gets argv[0] == its name. It returns the exit code, or -1 to have its usage
 * printed to stdout (a --help request). */
typedef struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv, const cli_ctx *ctx);
    const char *help;  /* one line, for `densecl --help` */
    const char *usage; /* `densecl NAME --help` */
} cli_command;

static const cli_command commands[] = {
    {"models", cmd_models, "list the model presets with their size and cost",
     "usage: densecl models [--json]\n"
     "\n"
     "Lists every model preset: stem, growth rate, layers per dense block, parameters, GMACs\n"
     "of one image at the native input size (224x224 for ImageNet stems, 32x32 for CIFAR\n"
     "stems), input size and classes.\n"
     "\n"
     "  --json      print a JSON array of objects instead of a table\n"
     "  --verbose   log the library's messages to stderr\n"
     "  -h, --help  show this help\n"},
    {"run", cmd_run, "run a model on a batch of images (.npy) and write its logits (.npy)",
     "usage: densecl run [--model NAME] (--weights FILE | --random-weights SEED)\n"
     "                   --input X.npy --output Y.npy [--device SPEC] [--classes N]\n"
     "                   [--kernels-binary FILE] [--no-kernel-cache] [--conv FAMILY]\n"
     "                   [--kernel-params TEXT] [--allow-nonfinite-weights] [--shard K/N]\n"
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
     "                         the batch over several devices\n"
     "  --classes N            classifier outputs: replaces the preset's with --random-weights,\n"
     "                         must be the file's with --weights\n"
     "  --kernels-binary FILE  load the kernels from a program binary made by\n"
     "                         'densecl compile-kernels' instead of compiling kernels.cl\n"
     "  --no-kernel-cache      neither read nor write the on-disk kernel cache\n"
     "  --conv FAMILY          the conv kernel family: auto (default; $DENSECL_CONV when set):\n"
     "                         the one 'densecl tune' saved, else gemm on GPUs and direct\n"
     "                         elsewhere (with the 3x3 convs on winograd on AMD AVX-512\n"
     "                         CPUs, off with --kernel-params winograd:ON=0), a conv it\n"
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
     "Exit status: 0 on success, 1 on a runtime or input error, 2 on a usage error.\n"},
    {"compile-kernels", cmd_compile_kernels, "write the built kernels of a device to a file",
     "usage: densecl compile-kernels [--device SPEC] --out FILE\n"
     "\n"
     "Builds kernels.cl for one device and writes the program binary, for devices that cannot\n"
     "compile OpenCL C (most FPGA boards) or to skip compilation at start-up: pass the file to\n"
     "'densecl run --kernels-binary FILE'. A binary is refused on another device, driver or\n"
     "densecl version.\n"
     "\n"
     "  --device SPEC  the device (default auto)\n"
     "  --out FILE     where to write the binary\n"
     "  -h, --help     show this help\n"},
    {"bench", cmd_bench, "measure speed: ms per image, images/s, GFLOP/s, per-op profile",
     cmd_bench_usage},
    {"tune", cmd_tune, "find the fastest conv tiles for a device and save them", cmd_tune_usage},
    {"classify", cmd_classify, "classify images, IDX or .npy files: top-K classes, accuracy",
     cmd_classify_usage},
    {"info", cmd_info, "list the OpenCL devices and the one 'auto' picks",
     "usage: densecl info\n"
     "\n"
     "Prints the library version, every OpenCL device as P:D (the spec --device accepts),\n"
     "its type, name, platform, OpenCL C version, compute units and global memory, and the\n"
     "device that --device auto picks.\n"
     "\n"
     "  --verbose   log the library's messages to stderr\n"
     "  -h, --help  show this help\n"},
};

static void print_main_help(FILE *f)
{
    fprintf(f, "usage: densecl [--verbose] COMMAND [OPTIONS]\n"
               "       densecl --version | --help\n"
               "\n"
               "DenseNet inference on OpenCL devices.\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < DC_ARRAY_LEN(commands); i++) {
        fprintf(f, "  %-15s  %s\n", commands[i].name, commands[i].help);
    }
    fprintf(f, "\n"
               "options:\n"
               "  --verbose  log the library's messages to stderr\n"
               "  --version  print the version\n"
               "  --help     show this help\n"
               "\n"
               "'densecl COMMAND --help' describes a command.\n");
}

/* rc, or EXIT_RUNTIME with one error line when standard output could not be written (a full
 * disk, /dev/full, a closed pipe): a help text or a result that never arrived is a failure. */
static int stdout_status(int rc)
{
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        char msg[256];
        snprintf(msg, sizeof(msg), "writing to standard output failed: %s",
                 errno ? strerror(errno) : "write error");
        print_error(msg, 0);
        return rc != 0 ? rc : EXIT_RUNTIME;
    }
    return rc;
}

int main(int argc, char **argv)
{
    cli_ctx ctx = {0};
    int i = 1, rc0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_main_help(stdout);
            return stdout_status(0);
        } else if (strcmp(arg, "--version") == 0) {
            printf("densecl %s\n", densecl_version());
            return stdout_status(0);
        } else if (strcmp(arg, "--verbose") == 0) {
            ctx.verbose = 1;
        } else {
            return fail_usage(NULL, "unknown option '%s'", arg);
        }
    }
    if (i == argc) {
        return fail_usage(NULL, "missing command");
    }
    const cli_command *cmd = NULL;
    for (size_t j = 0; j < DC_ARRAY_LEN(commands) && !cmd; j++) {
        if (strcmp(commands[j].name, argv[i]) == 0) {
            cmd = &commands[j];
        }
    }
    if (!cmd) {
        return fail_usage(NULL, "unknown command '%s'", argv[i]);
    }
    if (ctx.verbose) {
        densecl_set_log(log_to_stderr, NULL);
    }
    cli_signals_install();
    /* Under mpirun/srun: MPI for classify and run, which split their images over the ranks. */
    int split = strcmp(cmd->name, "classify") == 0 || strcmp(cmd->name, "run") == 0;
    if (split && cli_mpi_unbuilt_size() > 1) {
        /* N copies that cannot talk would each do the whole job and race on one output */
        if (cli_mpi_unbuilt_rank() != 0) {
            return EXIT_RUNTIME;
        }
        return fail_msg("started by an MPI launcher with %d ranks, but this densecl was built "
                        "without MPI (configure with MPI installed, e.g. Debian's "
                        "libopenmpi-dev, and -DDENSECL_MPI=ON), or run one process; "
                        "--shard K/N splits a run without MPI",
                        cli_mpi_unbuilt_size());
    }
    if (split && (rc0 = cli_mpi_init(&argc, &argv)) != 0) {
        return rc0;
    }
    /* Under several ranks, the errors of the set-up (often every rank's alike) are stored until
     * the command's cli_mpi_setup_end, where rank 0 prints them once, whole; a command that
     * returns before it (a usage error) meets the other ranks there from here. */
    if (split && cli_mpi_size() > 1) {
        cli_error_defer();
    }
    int rc = cmd->fn(argc - i, argv + i, &ctx);
    if (cli_error_deferring()) {
        int all = cli_mpi_setup_end(rc > 0 ? rc : 0);
        rc = rc < 0 ? rc : all;
    }
    if (rc < 0) {
        if (cli_mpi_rank() == 0) {
            fputs(cmd->usage, stdout);
        }
        rc = 0;
    }
    rc = stdout_status(rc);
    cli_mpi_finalize();
    return rc;
}
