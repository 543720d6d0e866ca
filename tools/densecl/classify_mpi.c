/* SPDX-License-Identifier: MIT */
/*
 * classify_mpi.c - `densecl classify` under mpirun: rank r classifies shard r of N (the
 * contiguous share of the images that --shard r/N takes), and rank 0 makes the one output.
 *
 * Rank 0 writes its own results as one process would (they come first: its shard is the first
 * images). The other ranks write theirs, unchanged, into unlinked temporary files (standard
 * output: per-image lines or JSON items; the CSV rows without the header). At the end every rank
 * agrees whether one failed; if none did, rank 0 gathers those files in rank order (= input
 * order) and appends them to its standard output and CSV, sums the counts and prints the one
 * summary. The output is then byte for byte one process's, apart from the timings.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classify.h"
#include "mpi.h"

/* An unlinked temporary file's descriptor, or -1 with errno set. */
static int tmp_fd(void)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/densecl-rank-XXXXXX", dir && dir[0] ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd >= 0) {
        unlink(path);
    }
    return fd;
}

/* The whole content of fd into a malloc'd buffer. 0, or -1 with errno set. */
static int read_all(int fd, char **out, size_t *len)
{
    struct stat sb;
    *out = NULL;
    *len = 0;
    if (fstat(fd, &sb) != 0) {
        return -1;
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        return -1;
    }
    size_t done = 0;
    while (done < (size_t)sb.st_size) {
        ssize_t n = pread(fd, buf + done, (size_t)sb.st_size - done, (off_t)done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            free(buf);
            return -1;
        }
        done += (size_t)n;
    }
    *out = buf;
    *len = done;
    return 0;
}

int classify_mpi_begin(classify *c)
{
    if (c->o.shard) {
        return fail_usage("classify", "--shard and mpirun exclude each other: the ranks are "
                                      "the shards");
    }
    c->shard_k = cli_mpi_rank();
    c->shard_n = cli_mpi_size();
    if (!c->o.device) {
        c->o.device = cli_mpi_device(c->gpu, sizeof(c->gpu));
    }
    c->progress = 0; /* stderr under mpirun is a pipe; rank 0's bar would count its shard only */
    if (c->shard_k == 0) {
        return 0;
    }
    /* JSON items after the first one written start with ",\n": rank 0 takes that off the first
     * gathered item when it wrote none itself. */
    c->json_images = 1;
    fflush(stdout);
    int fd = tmp_fd();
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) {
        return fail_msg("a temporary file for this rank's results: %s", strerror(errno));
    }
    close(fd);
    return 0;
}

int classify_mpi_setup(classify *c, int rc)
{
    (void)c;
    /* The errors stored since main began deferring them: rank 0 says them once, whole. No CSV
     * was created yet (open_csv comes after), so none is left. */
    return cli_mpi_setup_end(rc);
}

int classify_mpi_agree(const classify *c)
{
    char *facts = NULL, what[64], value[600], sort[32];
    size_t len = 0;
    int bad = 0;
    snprintf(value, sizeof(value), "checksum %016llx", (unsigned long long)c->weights_digest);
    bad |= cli_mpi_fact(&facts, &len, "2", "the weights' content", value);
    snprintf(value, sizeof(value), "%lld in %d inputs", (long long)c->all_total, c->n_in);
    bad |= cli_mpi_fact(&facts, &len, "3", "the images", value);
    uint64_t h = DC_FNV_SEED;
    for (int i = 0; c->names && i < c->classes; i++) {
        h = dc_fnv(h, c->names[i] ? c->names[i] : "", strlen(c->names[i] ? c->names[i] : "") + 1);
    }
    snprintf(value, sizeof(value), "%d, checksum %016llx", c->classes, (unsigned long long)h);
    bad |= cli_mpi_fact(&facts, &len, "4", "the class names", value);
    if (c->truth) {
        h = dc_fnv(DC_FNV_SEED, c->truth, (size_t)c->n_truth * sizeof(*c->truth));
        snprintf(value, sizeof(value), "%lld labels, checksum %016llx", (long long)c->n_truth,
                 (unsigned long long)h);
        bad |= cli_mpi_fact(&facts, &len, "5", "the truth", value);
    }
    for (int i = 0; i < c->n_in && !bad; i++) {
        snprintf(sort, sizeof(sort), "6%010d", i);
        snprintf(what, sizeof(what), "input %d", i + 1);
        /* its images among all the ranks' (c->in[i].count is this rank's share of them) */
        int64_t end = i + 1 < c->n_in ? c->in[i + 1].first : c->all_total;
        snprintf(value, sizeof(value), "%.500s (%lld images)", c->in[i].path,
                 (long long)(end - c->in[i].first));
        bad |= cli_mpi_fact(&facts, &len, sort, what, value);
    }
    int rc = cli_mpi_agree("classify", bad ? "9\tthis rank's facts\tout of memory\n" : facts);
    free(facts);
    return rc;
}

int classify_mpi_open_csv(classify *c)
{
    c->csv = tmp_fd();
    if (c->csv < 0) {
        return fail_msg("a temporary file for this rank's CSV rows: %s", strerror(errno));
    }
    c->csv_regular = 1;
    return 0;
}

/* The failures as "path\0why\0" pairs, for rank 0 to list them all in --json. */
static int pack_failures(const classify *c, sbuf *b)
{
    for (int i = 0; i < c->n_fail; i++) {
        const char *p = c->fail[i].path ? c->fail[i].path : "";
        const char *w = c->fail[i].why ? c->fail[i].why : "";
        size_t lp = strlen(p) + 1, lw = strlen(w) + 1;
        char *grown = b->len + lp + lw > b->cap ? realloc(b->s, b->len + lp + lw + 256) : b->s;
        if (!grown) {
            return -1;
        }
        b->s = grown;
        b->cap = b->len + lp + lw > b->cap ? b->len + lp + lw + 256 : b->cap;
        memcpy(b->s + b->len, p, lp);
        memcpy(b->s + b->len + lp, w, lw);
        b->len += lp + lw;
    }
    return 0;
}

static void unpack_failures(classify *c, const char *s, size_t len)
{
    for (int i = 0; i < c->n_fail; i++) {
        free(c->fail[i].path);
        free(c->fail[i].why);
    }
    c->n_fail = 0;
    for (size_t at = 0; at < len;) {
        const char *p = s + at;
        const char *w = p + strlen(p) + 1;
        at = (size_t)(w - s) + strlen(w) + 1;
        failure *grown = realloc(c->fail, (size_t)(c->n_fail + 1) * sizeof(*grown));
        if (!grown) {
            return;
        }
        c->fail = grown;
        grown[c->n_fail].path = strdup(p);
        grown[c->n_fail].why = strdup(w);
        c->n_fail++;
    }
}

/* Gathers every rank's bytes of fd (rank 0's are already in place) and, on rank 0, writes them
 * with put. 0, or -1 (reported on rank 0). */
static int gather_file(classify *c, int fd, int is_stdout)
{
    char *mine = NULL, *all = NULL;
    size_t len = 0, all_len = 0;
    int bad = 0;
    if (cli_mpi_rank() != 0 && fd >= 0 && read_all(fd, &mine, &len) != 0) {
        bad = 1; /* sends nothing: rank 0 then sees too few rows and says so below */
        len = 0;
    }
    bad |= cli_mpi_gather(mine, len, &all, &all_len) != 0;
    free(mine);
    bad = cli_mpi_max(bad);
    int rc = 0;
    if (cli_mpi_rank() == 0 && bad) {
        rc = fail_msg("gathering the ranks' %s failed (out of memory, over 2 GiB, or a "
                      "temporary file unreadable)",
                      is_stdout ? "results" : "CSV rows");
    } else if (cli_mpi_rank() == 0 && all_len > 0) {
        const char *s = all;
        if (is_stdout) {
            if (c->o.json && c->json_images == 0 && all_len >= 2 && s[0] == ',') {
                s += 2; /* rank 0 wrote no item: the first gathered one opens the list */
                all_len -= 2;
            }
            if (fwrite(s, 1, all_len, stdout) != all_len) {
                rc = -1; /* main reports a failed standard output */
            }
            c->json_images = 1;
        } else {
            rc = csv_write(c, s, all_len);
        }
    }
    free(all);
    return rc;
}

int classify_mpi_finish(classify *c, int rc)
{
    int sig = cli_signal_caught();
    int interrupted = sig && (rc == 0 || rc == EXIT_INTERRUPTED);
    int hard = rc != 0 && !interrupted;
    int first = cli_mpi_first_failed(hard);
    int rank = cli_mpi_rank();
    if (first >= 0) {
        /* No partial output: the CSV goes (rank 0's is the only real file) */
        if (rank == 0 && c->o.csv && c->csv >= 0 && c->csv_regular) {
            unlink(c->o.csv);
        }
        if (rank == 0 && first != 0) {
            /* A file is removed; standard output keeps the rows already written. */
            const int removed = c->o.csv && c->csv >= 0 && c->csv_regular && !c->csv_stdout;
            fail_msg("rank %d failed (see its error): the run is incomplete%s%s%s", first,
                     removed ? " and " : "", removed ? c->o.csv : "",
                     removed ? " was removed" : "");
        }
        return EXIT_RUNTIME;
    }
    fflush(stdout);
    int bad = gather_file(c, rank == 0 ? -1 : STDOUT_FILENO, 1) != 0;
    if (c->o.csv) {
        bad |= gather_file(c, rank == 0 ? -1 : c->csv, 0) != 0;
    }
    int64_t sums[6] = {c->done,     c->labelled, c->correct1,
                       c->correct5, c->n_failed, interrupted ? sig : 0};
    sbuf fails = {0};
    char *all = NULL;
    size_t all_len = 0;
    int oom = pack_failures(c, &fails) != 0;
    if (cli_mpi_gather(fails.s, oom ? 0 : fails.len, &all, &all_len) == 0 && rank == 0) {
        unpack_failures(c, all, all_len);
    }
    free(all);
    free(fails.s);
    /* the summed signal numbers are only tested for non-zero; the first rank's names it */
    int any_sig = cli_mpi_max(interrupted ? sig : 0);
    if (cli_mpi_sum(sums, 6) != 0) {
        bad = 1;
    }
    c->done = sums[0];
    c->labelled = sums[1];
    c->correct1 = sums[2];
    c->correct5 = sums[3];
    c->n_failed = (int)sums[4];
    c->total = c->all_total;
    rc = bad ? EXIT_RUNTIME : 0;
    if (rank == 0 && !bad) {
        double end = cli_now();
        c->interrupted = any_sig != 0;
        print_summary(c, end - c->t_loop, c->t_loop - c->t0);
        if (any_sig) {
            fprintf(stderr,
                    "densecl: interrupted after %lld of %lld images%s%s%s; the rest were not "
                    "classified (%s)\n",
                    (long long)c->done, (long long)c->total, c->o.csv ? " (" : "",
                    !c->o.csv       ? ""
                    : c->csv_stdout ? "standard output"
                                    : c->o.csv,
                    c->o.csv ? " has a row for each)" : "",
                    any_sig == SIGINT    ? "SIGINT"
                    : any_sig == SIGTERM ? "SIGTERM"
                                         : "SIGHUP");
            rc = 128 + any_sig;
        } else if (c->n_failed > 0) {
            char msg[128];
            snprintf(msg, sizeof(msg), "%d of %d inputs could not be classified and were skipped",
                     c->n_failed, c->n_in);
            print_warning(c, msg);
            rc = EXIT_SOME_FAILED;
        }
    }
    fflush(stdout);
    return cli_mpi_max(rc); /* every rank exits as rank 0 does */
}
