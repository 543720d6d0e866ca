/* SPDX-License-Identifier: MIT */
/* cli.c - what the densecl tools share: errors, signals, output checks, logging; options
 * (cli_args.c), numbers, time and JSON (cli_format.c). */
#define _DEFAULT_SOURCE /* realpath, mkstemps, strndup */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---------------------------------------------------------------------------------------------
 * Error reporting
 * ------------------------------------------------------------------------------------------- */

/* Prints "densecl: error: msg" as one line: line breaks inside msg become "; " unless
 * keep_lines (a build log, which is only readable with its lines). */
const char *cli_prog = "densecl";
char cli_error_where[256];
static char cli_last[1024]; /* the last message print_error printed */

const char *cli_last_error(void)
{
    return cli_last;
}

/* The lines print_error stores instead of printing while deferring: each message (line
 * breaks already turned into "; ") NUL-terminated, in order. */
static struct {
    int on, hooked;
    char *s;
    size_t len, cap;
} deferred;

/* Writes "PROG: error: WHEREBODY\n" with one write, so that ranks (or processes) sharing one
 * stderr never interleave inside the line; a short write (a huge build log on a pipe) goes on
 * where it stopped. */
static void write_line(const char *where, const char *body)
{
    size_t len = strlen(cli_prog) + strlen(": error: ") + strlen(where) + strlen(body) + 2;
    char small[2048];
    char *line = len <= sizeof(small) ? small : malloc(len);
    if (!line) {
        fprintf(stderr, "%s: error: %s%s\n", cli_prog, where, body); /* out of memory */
        return;
    }
    int n = snprintf(line, len, "%s: error: %s%s\n", cli_prog, where, body);
    n = n < (int)len ? n : (int)len - 1;
    fflush(stderr);
    for (size_t done = 0; n > 0 && done < (size_t)n;) {
        ssize_t w = write(STDERR_FILENO, line + done, (size_t)n - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            break;
        }
        done += (size_t)w;
    }
    if (line != small) {
        free(line);
    }
}

/* msg as it goes on its line: trailing line breaks dropped, inner runs of them as "; " unless
 * keep_lines. malloc'd; NULL when out of memory. */
static char *error_body(const char *msg, int keep_lines)
{
    size_t len = strlen(msg), o = 0;
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r')) {
        len--;
    }
    char *body = malloc(2 * len + 1); /* each break at most "; " */
    if (!body) {
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        char c = msg[i];
        if (keep_lines || (c != '\n' && c != '\r')) {
            body[o++] = c;
            continue;
        }
        while (i + 1 < len && (msg[i + 1] == '\n' || msg[i + 1] == '\r')) {
            i++;
        }
        body[o++] = ';';
        body[o++] = ' ';
    }
    body[o] = '\0';
    return body;
}

/* 0, or -1 when out of memory (the caller then prints the line at once). */
static int defer_store(const char *body)
{
    size_t n = strlen(body) + 1;
    if (deferred.len + n > deferred.cap) {
        size_t cap = deferred.cap ? deferred.cap : 1024;
        while (cap < deferred.len + n) {
            cap *= 2;
        }
        char *grown = realloc(deferred.s, cap);
        if (!grown) {
            return -1;
        }
        deferred.s = grown;
        deferred.cap = cap;
    }
    memcpy(deferred.s + deferred.len, body, n);
    deferred.len += n;
    return 0;
}

/* At exit with lines still stored (a path that never reached the gathering): they are printed
 * as they would have been, so that no error is lost. */
static void defer_flush_at_exit(void)
{
    size_t len = 0;
    char *s = cli_error_defer_end(&len);
    cli_error_print_lines(cli_error_where, s, len);
    free(s);
}

void cli_error_defer(void)
{
    if (!deferred.hooked) {
        deferred.hooked = atexit(defer_flush_at_exit) == 0;
    }
    deferred.on = 1;
}

int cli_error_deferring(void)
{
    return deferred.on;
}

char *cli_error_defer_end(size_t *len)
{
    char *s = deferred.s;
    *len = deferred.len;
    deferred.s = NULL;
    deferred.len = deferred.cap = 0;
    deferred.on = 0;
    return s;
}

void cli_error_print_lines(const char *where, const char *lines, size_t len)
{
    for (size_t at = 0; at < len; at += strlen(lines + at) + 1) {
        write_line(where, lines + at);
    }
}

void print_error(const char *msg, int keep_lines)
{
    snprintf(cli_last, sizeof cli_last, "%s%s", cli_error_where, msg);
    char *body = error_body(msg, keep_lines);
    if (!body) {
        fprintf(stderr, "%s: error: %s%s\n", cli_prog, cli_error_where, msg); /* out of memory */
        return;
    }
    if (!deferred.on || defer_store(body) != 0) {
        write_line(cli_error_where, body);
    }
    free(body);
}

/* A runtime or input error with our own message. Returns EXIT_RUNTIME. */
int fail_msg(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    print_error(buf, 0);
    return EXIT_RUNTIME;
}

/* Writes a build log (the detail after its first line) to a file of its own; its name into
 * out, or "" when it cannot be written. */
static void save_build_log(const char *detail, char *out, size_t size)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    out[0] = '\0';
    snprintf(path, sizeof(path), "%s/densecl-build-XXXXXX.log", dir && dir[0] ? dir : "/tmp");
    int fd = mkstemps(path, 4);
    if (fd < 0) {
        return;
    }
    size_t len = strlen(detail), done = 0;
    while (done < len) {
        ssize_t n = write(fd, detail + done, len - done);
        if (n <= 0) {
            break;
        }
        done += (size_t)n;
    }
    if (close(fd) == 0 && done == len) {
        snprintf(out, size, "%s", path);
    } else {
        unlink(path);
    }
}

/* A library failure: its detail, or the status name when there is none. Returns EXIT_RUNTIME.
 * A kernel build failure's detail holds the compiler's log: the error stays one line, naming
 * a file that holds the log (--verbose also prints it, through the library's log). */
int fail_status(densecl_status st)
{
    const char *detail = densecl_last_error();
    const char *nl = strchr(detail, '\n');
    if (st == DENSECL_ERR_BUILD && nl && nl[1] != '\0') {
        char path[4096], msg[2048 + sizeof(path) + 128];
        save_build_log(detail, path, sizeof(path));
        int head = (int)(nl - detail);
        if (head > 0 && detail[head - 1] == ':') {
            head--;
        }
        head = head < 2048 ? head : 2048;
        snprintf(msg, sizeof(msg), "%.*s; %s%s", head, detail,
                 path[0] ? "the build log is in "
                         : "the build log could not be saved: run with "
                           "--verbose to see it",
                 path);
        print_error(msg, 0);
        return EXIT_RUNTIME;
    }
    print_error(detail[0] != '\0' ? detail : densecl_status_str(st), 0);
    return EXIT_RUNTIME;
}

/* A usage error of subcommand cmd (NULL: of the top level). Returns EXIT_USAGE. */
int fail_usage(const char *cmd, const char *fmt, ...)
{
    char msg[768];
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(buf, sizeof(buf), "%s; see '%s%s%s --help'", msg, cli_prog, cmd ? " " : "",
             cmd ? cmd : "");
    print_error(buf, 0);
    return EXIT_USAGE;
}

const char *const no_driver_hint =
    "check the .icd files in /etc/OpenCL/vendors (or in the directory OCL_ICD_VENDORS names), "
    "or install a driver, e.g. 'apt install pocl-opencl-icd' for the CPU";

/* ---------------------------------------------------------------------------------------------
 * Signals
 * ------------------------------------------------------------------------------------------- */

static volatile sig_atomic_t signal_caught, signal_deferred;

static void on_signal(int sig)
{
    if (signal_deferred && !signal_caught && sig != SIGPIPE) {
        signal_caught = sig;
        return;
    }
    dc_atomic_remove_temps();
    signal(sig, SIG_DFL);
    raise(sig);
}

void cli_signals_install(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < DC_ARRAY_LEN(sigs); i++) {
        struct sigaction old;
        /* A hangup or broken pipe the caller ignores (nohup) stays ignored. SIGINT is caught
         * even where a shell ignores it for a background job, as classify always did. */
        if (sigs[i] != SIGINT && sigs[i] != SIGTERM && sigaction(sigs[i], NULL, &old) == 0 &&
            old.sa_handler == SIG_IGN) {
            continue;
        }
        sigaction(sigs[i], &sa, NULL);
    }
}

void cli_signals_defer(int on)
{
    signal_deferred = on;
}

int cli_signal_caught(void)
{
    return signal_caught;
}

/* ---------------------------------------------------------------------------------------------
 * Outputs
 * ------------------------------------------------------------------------------------------- */

/* path with symbolic links and "." / ".." resolved, also when its last part does not exist
 * (then its directory is resolved). malloc'd; NULL when the directory does not exist either. */
static char *resolve_path(const char *path)
{
    char *r = realpath(path, NULL);
    if (r) {
        return r;
    }
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    char *rdir = dir ? realpath(dir, NULL) : NULL;
    free(dir);
    if (!rdir) {
        return NULL;
    }
    size_t len = strlen(rdir) + strlen(base) + 2;
    r = malloc(len);
    if (r) {
        snprintf(r, len, "%s%s%s", rdir, strcmp(rdir, "/") == 0 ? "" : "/", base);
    }
    free(rdir);
    return r;
}

int cli_check_output(const char *cmd, const char *opt, const char *out, const char *const *ins,
                     int n)
{
    struct stat so, si;
    int have_out = stat(out, &so) == 0;
    if (have_out && !S_ISREG(so.st_mode)) {
        return 0;
    }
    char *rout = resolve_path(out);
    for (int i = 0; i < n; i++) {
        if (!ins[i]) {
            continue;
        }
        int same =
            have_out && stat(ins[i], &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino;
        if (!same && rout) {
            char *rin = resolve_path(ins[i]);
            same = rin && strcmp(rin, rout) == 0;
            free(rin);
        }
        if (same) {
            free(rout);
            return fail_usage(cmd, "%s %s is also an input (%s): it would be overwritten", opt, out,
                              ins[i]);
        }
    }
    free(rout);
    return 0;
}

int cli_is_stdout(const char *path)
{
    struct stat a, b;
    if (strcmp(path, "/dev/stdout") == 0 || strcmp(path, "/dev/fd/1") == 0 ||
        strcmp(path, "/proc/self/fd/1") == 0) {
        return 1;
    }
    /* a file or a pipe: two writers garble it (into /dev/null or a terminal, nothing is lost) */
    return stat(path, &a) == 0 && fstat(STDOUT_FILENO, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino && (S_ISREG(b.st_mode) || S_ISFIFO(b.st_mode));
}

void cli_note_in_place(const char *out)
{
    if (out && dc_path_is_mount(out)) {
        fprintf(stderr,
                "%s: note: %s is a mount point (a bind-mounted file?): it cannot be replaced "
                "atomically, so it is written in place once the output is complete\n",
                cli_prog, out);
    }
}

void failover_warning(const densecl_replica_stats *s, char *buf, size_t size)
{
    /* An empty reason printed "()" */
    snprintf(buf, size,
             "densecl: warning: device '%s' failed and was taken out (%s); its images ran on the "
             "other devices",
             s->device.name, s->failure[0] ? s->failure : "the driver gave no reason");
}

void fputs_escaped(const char *s, FILE *f)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            fprintf(f, "\\x%02x", *p);
        } else {
            fputc(*p, f);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------------------------- */

void log_to_stderr(densecl_log_level level, const char *msg, void *user)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    (void)user;
    const char *name = (unsigned)level < DC_ARRAY_LEN(names) ? names[level] : "log";
    fprintf(stderr, "densecl: [%s] %s\n", name, msg);
}
