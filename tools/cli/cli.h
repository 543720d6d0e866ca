/* SPDX-License-Identifier: MIT */
/* cli.h - shared by the densecl subcommands (tools/densecl/) and densecl-query (tools/query/). */
#ifndef DENSECL_CLI_H
#define DENSECL_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The public API and the few library internals the tools may use (host/tools_internal.h). */
#include "tools_internal.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

#if defined(__GNUC__)
#define DC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DC_PRINTF(f, a)
#endif

/* Options that come before the subcommand. */
typedef struct cli_ctx {
    int verbose;
} cli_ctx;

/* The program's name in messages: "densecl" (the default) or "densecl-query". */
extern const char *cli_prog;
/* Put after "densecl: error: " in every error line: under MPI "rank R on HOST: ", else "". */
extern char cli_error_where[256];

/* Prints "densecl: error: msg" as one line, written whole with one call: line breaks inside msg
 * become "; " unless keep_lines (a build log, which is only readable with its lines). While
 * errors are deferred (below) the line is stored instead. */
void print_error(const char *msg, int keep_lines);
/* Deferred errors (under MPI, the set-up of classify and run, when every rank may fail the
 * same way): from cli_error_defer() on, print_error stores its line instead of printing it,
 * until cli_error_defer_end() hands the stored lines over (tools/densecl/mpi.c's cli_mpi_setup_end
 * gathers them on rank 0, which prints them once). Lines still stored at exit are printed then,
 * as without deferral. */
void cli_error_defer(void);
int cli_error_deferring(void);
/* Ends the deferral: the stored messages, each NUL-terminated, in order, in a malloc'd buffer
 * (*len bytes in all; NULL and 0 when none). Line breaks in them are already "; ". */
char *cli_error_defer_end(size_t *len);
/* Prints "densecl: error: WHERELINE" for each NUL-terminated line of lines[0, len), each with
 * one write; lines as stored above. */
void cli_error_print_lines(const char *where, const char *lines, size_t len);
/* The last message print_error printed (after "densecl: error: "), "" before any. */
const char *cli_last_error(void);
/* A runtime or input error with our own message. Returns EXIT_RUNTIME. */
int fail_msg(const char *fmt, ...) DC_PRINTF(1, 2);
/* A library failure: its detail, or the status name when there is none. Returns EXIT_RUNTIME. */
int fail_status(densecl_status st);
/* A usage error of subcommand cmd (NULL: of the top level). Returns EXIT_USAGE. */
int fail_usage(const char *cmd, const char *fmt, ...) DC_PRINTF(2, 3);
extern const char *const no_driver_hint;

void log_to_stderr(densecl_log_level level, const char *msg, void *user);

/* One option of a subcommand: either takes a value (value != NULL) or is a flag. */
typedef struct cli_opt {
    const char *name;   /* "--model" */
    const char **value; /* receives the argument: "--model NAME" or "--model=NAME" */
    int *flag;          /* set to 1 when present */
} cli_opt;

/* SIGINT, SIGTERM and SIGHUP are handled alike by every command (and SIGPIPE ends it the same
 * way): the process's live temporary files are removed and it dies of the signal, so no
 * ".NAME.densecl-PID-XXXXXX" is left behind. Between cli_signals_defer(1) and (0) the first
 * such signal is only recorded, for a command that stops at its next safe point (classify
 * finishes the batches it has started); a second one ends it at once. */
void cli_signals_install(void);
void cli_signals_defer(int on);
/* The signal recorded while deferred, or 0. */
int cli_signal_caught(void);

/* Refuses an output that is also an input: out (of option opt of command cmd) names the same
 * file as one of ins[0..n) (NULL entries skipped), by device and inode when both exist, else
 * by path once symbolic links and "." / ".." are resolved. A device or FIFO output clobbers
 * nothing and passes. 0, or EXIT_USAGE once reported. */
int cli_check_output(const char *cmd, const char *opt, const char *out, const char *const *ins,
                     int n);

/* 1 when path names this process's standard output: "/dev/stdout", "/dev/fd/1",
 * "/proc/self/fd/1", or the very regular file or FIFO (device and inode) standard output is
 * (`> out.json`). A command whose standard output is one of its outputs refuses another output
 * there. */
int cli_is_stdout(const char *path);

/* "PROG: note: OUT is a mount point ..." on stderr when out is one (a bind-mounted file): its
 * writer (dc_atomic_open) cannot rename over it and writes it in place once complete. Said
 * before the work, by the commands whose outputs are otherwise replaced atomically. */
void cli_note_in_place(const char *out);

/* "densecl: warning: device 'NAME' failed and was taken out (WHY); ..." for a replica taken
 * out mid-run; WHY is never empty. */
void failover_warning(const densecl_replica_stats *s, char *buf, size_t size);

/* s with control characters (and DEL) as \xNN, for a terminal or a text line: a class name or
 * file name must not move the cursor or clear the screen. */
void fputs_escaped(const char *s, FILE *f);

/* Parses argv[1..argc) of subcommand cmd against opts. 0, or EXIT_USAGE once reported. */
int parse_opts(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t n_opts);
/* The options the last parse_opts call took, in command-line order: option i's name (as in its
 * table: "--limit") and value (NULL for a flag); NULL past the end. What MPI ranks compare. */
int cli_opt_count(void);
const char *cli_opt_name(int i);
const char *cli_opt_value(int i);
/* Strict decimal integer in [lo, hi]: no sign, no spaces, nothing after it. */
int parse_int(const char *s, int lo, int hi, int *out);
/* Strict decimal unsigned 64-bit integer. */
int parse_u64(const char *s, uint64_t *out);
/* "--shard K/N": shard K (counted from 0, as job-array and indexed-job ids are) of N, with
 * 0 <= K < N <= 1000000. 1, or 0 when s is not that. */
int parse_shard(const char *s, int *k, int *n);
/* The images [*lo, *hi) of shard k of n over total images: contiguous, in order, sizes that
 * differ by at most one, together exactly [0, total). */
void shard_range(int64_t total, int k, int n, int64_t *lo, int64_t *hi);

void format_thousands(uint64_t v, char *out, size_t size);
void format_blocks(const densecl_config *cfg, const char *sep, char *out, size_t size);
void format_bytes(uint64_t bytes, char *out, size_t size);
const char *stem_name(densecl_stem stem);
/* The input side a preset is made for: ImageNet models see 224x224, CIFAR ones 32x32. */
int native_size(const densecl_config *cfg);

/* Monotonic seconds, for durations. */
double cli_now(void);

/* A JSON document written as it goes, indented by two spaces a level: members and array items
 * get their commas, line breaks and indentation from cli_json_next. */
typedef struct cli_json {
    FILE *f;
    int depth;
    int first[16]; /* nothing written yet at that depth */
} cli_json;
void cli_json_init(cli_json *j, FILE *f);
/* Comma, newline and indent before a member (key != NULL) or an array item (key NULL). */
void cli_json_next(cli_json *j, const char *key);
/* Opens '{' or '[' (the document itself when nothing was written yet); closes it. */
void cli_json_open(cli_json *j, const char *key, char bracket);
void cli_json_close(cli_json *j, char bracket);
/* A string (NULL: null), an integer, a boolean; a number, null when not finite or, with
 * positive_only, when not > 0 (a figure that was not measured). */
void cli_json_str(cli_json *j, const char *key, const char *v);
void cli_json_u64(cli_json *j, const char *key, uint64_t v);
void cli_json_num(cli_json *j, const char *key, double v, int positive_only);
void cli_json_bool(cli_json *j, const char *key, int v);

#endif
