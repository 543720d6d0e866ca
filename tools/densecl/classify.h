/* SPDX-License-Identifier: MIT */
/* classify.h - the state of `densecl classify` and what its files (cmd_classify.c,
 * classify_args.c, classify_inputs.c, classify_output.c, classify_progress.c) call in one
 * another. */
#ifndef DENSECL_CLASSIFY_H
#define DENSECL_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

typedef struct classify_opts {
    const char *model, *weights, *device, *top, *batch, *limit, *truth, *csv, *labels;
    const char *conv, *kernel_params, *shard, *csv_top, *threads;
    const char *size, *resize, *crop, *mean, *std, *channels; /* preprocessing overrides */
    int json, verbose, help, allow_nonfinite;
} classify_opts;

/* A list of malloc'd strings (classify_folders.c). */
typedef struct strlist {
    char **s;
    int n, cap;
} strlist;
int strlist_add(strlist *l, const char *s); /* 0: out of memory */
void strlist_free(strlist *l);

typedef struct input_file {
    const char *path;
    char *owned; /* path, when a directory walk made it */
    dci_input_kind kind;
    int64_t count; /* images taken from it (after --limit) */
    int64_t first; /* position of its first image among all inputs (for --truth) */
    int64_t skip;  /* its images before this shard's (--shard): count starts after them */
    int failed;
    char *why; /* while sniffing under --shard: the failure, reported by one shard only */
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

/* One batch buffer: n images of [c, h, w] and where each came from. Two of them make the
 * pipeline: one is filled while the other is on the device. */
typedef struct cbatch {
    float *x; /* [batch, c, h, w]; read by the device until the job is waited for */
    size_t x_cap;
    int n, c, h, w;
    int *slot_in;
    int64_t *slot_index;
    float *probs;     /* [batch, classes]: logits, then probabilities once waited for */
    densecl_job *job; /* started and not yet waited for; NULL otherwise */
} cbatch;

typedef struct classify {
    classify_opts o;
    int top, top_given, batch;
    int64_t limit;

    input_file *in;
    int n_in;
    int64_t total;     /* images this shard classifies: all the inputs hold, after --limit,
                        * or with --shard K/N its contiguous share of them */
    int64_t all_total; /* images of all the shards */
    int shard_k, shard_n;
    int quiet_fail;    /* input_failed keeps the message in in->why instead of reporting it */
    int threads;       /* --threads: 0 for all */
    char *pp_json;     /* the preprocessing overrides (--size, ...) as densecl_weights_preprocess_ex
                          takes them; NULL when none */
    int truth_folders; /* --truth folders: the class folders are the truth */
    strlist folder_names;  /* their names, in the order of classes found (ImageFolder's) */
    int *folder_class;     /* [n_in]: each input's index into folder_names */
    int64_t skipped_files; /* what directory walks skipped (not images, hidden, outside) */
    char gpu[64];          /* under mpirun: this rank's GPU, when --device is not given */

    densecl_config cfg;      /* a copy: the weights are freed once uploaded */
    uint64_t weights_digest; /* dc_weights_digest, which MPI ranks compare */
    int classes;
    int ranked;  /* classes ranked per image: --top, --csv-top, at least 5 for top-5 accuracy */
    int csv_top; /* classes in each CSV row (--csv-top; 1: the columns of old) */
    densecl_preprocess pp;
    densecl_status pp_status; /* why images cannot be preprocessed, when not OK */
    char pp_why[1024];
    char pp_assumed[1024]; /* the warning that says what was assumed; "" when nothing was */
    int pp_used;           /* image inputs are preprocessed with pp */
    char **names;          /* NULL: "class N" */
    int *truth;
    int64_t n_truth;
    densecl_engine *e;

    /* bt[fill] is being filled; bt[!fill] is in flight (its job set) or empty. */
    cbatch bt[2];
    int fill;
    int *top_ids; /* [ranked] */

    int csv;         /* the --csv file's descriptor, -1 until the engine exists */
    int csv_stdout;  /* --csv -: the rows go to standard output, everything else to stderr */
    int csv_regular; /* a regular file: a failed write is cut back to csv_good */
    off_t csv_good;  /* its bytes up to the last complete batch */
    sbuf rows;
    int print_lines, json_images;
    int progress, bar_shown;

    int interrupted;       /* by a signal: the summary says so */
    int json_open;         /* the --json document is begun: it must be ended, whatever happens */
    const char *run_error; /* the runtime error that ended the run, for the --json summary */
    int64_t done, labelled, correct1, correct5;
    int n_failed;  /* inputs skipped */
    failure *fail; /* their messages, for --json (as many as memory allowed) */
    int n_fail;
    double t0, t_loop;
} classify;

/* The progress bar on stderr: erased before any line is printed, drawn again after. */
void bar_erase(classify *c);
void bar_draw(classify *c);

/* "densecl: warning: msg" as one line (line breaks inside msg become "; "). */
void print_warning(classify *c, const char *msg);

/* Reports the last library error as the failure of input i, which is then skipped. */
void input_failed(classify *c, int i);
/* Reports msg as the failure of input i, which is then skipped. */
void report_failure(classify *c, int i, const char *msg);

/* Appends len bytes to the CSV file. On a write error (a full disk) a regular file is cut back
 * to its last complete batch, so that it holds whole rows only. 0 or EXIT_RUNTIME reported. */
int csv_write(classify *c, const char *s, size_t len);

/* Appends s to b (the CSV header). */
void csv_append(sbuf *b, const char *s);

/* Starts the batch being filled, then waits for the batch in flight (if any), reports its
 * images and fills that buffer next: the host prepares batch i+1 while batch i computes.
 * 0, EXIT_INTERRUPTED after a signal (the waited batch's results are out; the batch just
 * started is still in flight), or EXIT_RUNTIME once reported. On EXIT_RUNTIME no job is left
 * in flight: after a failed wait or write the batch just started is waited for and dropped, so
 * that only whole batches in input order are ever reported; after a failed start the batch in
 * flight is reported first (its results are good). */
int flush_batch(classify *c);

/* Waits for the batch in flight (if any) and reports it: the end of the run, or after a
 * signal. 0, EXIT_INTERRUPTED or EXIT_RUNTIME as flush_batch. */
int drain_batches(classify *c);

/* Waits for every job still in flight and drops its results (after a runtime error). */
void discard_batches(classify *c);

/* With --json, the "preprocessing" member (when images are preprocessed): where it came from,
 * whether anything was assumed (and the warning that said so), and its fields. */
void print_json_preprocessing(const classify *c);

/* The summary: images/s, accuracy with --truth, failed inputs (text, or the end of the JSON). */
void print_summary(const classify *c, double seconds, double startup);

/* Reads the start of every input for its kind and image count. An input that fails here still
 * takes one position (an image file that went missing is one image, for --truth's alignment). */
void sniff_inputs(classify *c);

/* Classifies input i. 0 (its failure, if any, reported) or EXIT_RUNTIME. */
int do_input(classify *c, int i);

/* Directory inputs become their image files (classify_folders.c), with --truth folders each
 * file's class folder; the other inputs stay as they are. 0, or EXIT_USAGE / EXIT_RUNTIME once
 * reported. */
int expand_folders(classify *c);
/* c->truth from the class folders, matched to the model's class names (c->names) by name, or by
 * sorted position when no folder is named as a class (ImageFolder's numbering). After
 * sniff_inputs and the names. 0 or EXIT_RUNTIME once reported. */
int setup_folder_truth(classify *c);
/* Whether a file name has an image extension (case ignored). */
int folder_is_image_name(const char *name);

/* The command line into c->o and c's inputs (classify_args.c). 0, -1 for --help, or EXIT_USAGE
 * once reported. */
int classify_parse_command_line(int argc, char **argv, const cli_ctx *ctx, classify *c);

/* Under mpirun with several ranks (classify_mpi.c). begin: this rank takes its shard and
 * device, and a rank other than 0 sends its standard output to a temporary file. setup: called
 * by every rank with its set-up status; non-zero on all when one failed (rank 0 prints the
 * ranks' errors, once when alike: cli_mpi_setup_end). open_csv: a rank other than 0 writes its
 * rows to a temporary file. finish: called by every rank with its status at the end; rank 0
 * gathers the results in input order, writes them and the one summary; the exit status, the
 * same on every rank. */
int classify_mpi_begin(classify *c);
int classify_mpi_setup(classify *c, int rc);
/* Under mpirun, once every rank is set up and before any work: the ranks compare their
 * commands, options, weights and inputs (cli_mpi_agree). 0, or EXIT_USAGE on every rank. */
int classify_mpi_agree(const classify *c);
int classify_mpi_open_csv(classify *c);
int classify_mpi_finish(classify *c, int rc);

#endif
