/* SPDX-License-Identifier: MIT */
/* mpi.c - see mpi.h. The only file that includes <mpi.h>. */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mpi.h"

#ifdef DENSECL_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank, g_size = 1, g_local, g_started;
static char g_host[256] = "localhost";

/* The number in environment variable name, or -1. */
static int env_int(const char *name)
{
    const char *v = getenv(name);
    int n;
    return v && parse_int(v, 0, INT_MAX, &n) ? n : -1;
}

/* The world size the launcher announces: Open MPI's mpirun, PMI (MPICH, Slurm's srun with
 * --mpi=pmi2) or PMIx (srun --mpi=pmix). -1 when not launched by one. */
static int launcher_size(void)
{
    static const char *const names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int n = env_int(names[i]);
        if (n > 0) {
            return n;
        }
    }
    return getenv("PMIX_RANK") ? 2 : -1; /* PMIx without a size: a launcher all the same */
}

int cli_mpi_unbuilt_size(void)
{
#ifdef DENSECL_HAVE_MPI
    return 1;
#else
    int n = launcher_size();
    return n > 1 ? n : 1;
#endif
}

int cli_mpi_unbuilt_rank(void)
{
    static const char *const names[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int n = env_int(names[i]);
        if (n >= 0) {
            return n;
        }
    }
    return 0;
}

const char *cli_mpi_device(char *buf, size_t size)
{
    densecl_device_info devs[64];
    int n = 0, gpus = 0;
    if (g_size <= 1 || densecl_devices(devs, 64, &n) != DENSECL_OK) {
        return NULL;
    }
    n = n < 64 ? n : 64;
    for (int i = 0; i < n; i++) {
        gpus += devs[i].type == DENSECL_DEVICE_GPU;
    }
    for (int i = 0, g = 0; gpus > 0 && i < n; i++) {
        if (devs[i].type == DENSECL_DEVICE_GPU && g++ == g_local % gpus) {
            snprintf(buf, size, "%d:%d", devs[i].platform_index, devs[i].device_index);
            return buf;
        }
    }
    return NULL; /* no GPU here (POCL's CPU): auto */
}

int cli_mpi_rank(void)
{
    return g_rank;
}
int cli_mpi_size(void)
{
    return g_size;
}
int cli_mpi_local_rank(void)
{
    return g_local;
}
const char *cli_mpi_host(void)
{
    return g_host;
}

/* ------------------------------------------------------------------ agreement (both builds) */

int cli_mpi_fact(char **buf, size_t *len, const char *sort, const char *what, const char *value)
{
    size_t need = *len + strlen(sort) + strlen(what) + 2 * strlen(value) + 4;
    char *grown = realloc(*buf, need);
    if (!grown) {
        return -1;
    }
    *buf = grown;
    char *p = grown + *len;
    p += sprintf(p, "%s\t%s\t", sort, what);
    for (const char *v = value; *v; v++) {
        const char *esc = *v == '\\' ? "\\\\" : *v == '\t' ? "\\t" : *v == '\n' ? "\\n" : NULL;
        if (esc) {
            memcpy(p, esc, 2);
            p += 2;
        } else {
            *p++ = *v;
        }
    }
    *p++ = '\n';
    *p = '\0';
    *len = (size_t)(p - grown);
    return 0;
}

#ifdef DENSECL_HAVE_MPI

/* Where the lines start in a part "STATUS\0HOST\0LINE\0LINE\0...". */
static size_t part_lines(const char *p)
{
    size_t at = strlen(p) + 1;
    return at + strlen(p + at) + 1;
}

/* Rank 0, with every rank's part in parts[r] (lens[r] bytes): the lines once when every rank
 * failed with the same ones, else each rank's, after its rank and host. */
static void print_ranks(char *const *parts, const size_t *lens)
{
    size_t at0 = part_lines(parts[0]);
    int same = 1;
    for (int r = 0; r < g_size && same; r++) {
        size_t at = part_lines(parts[r]);
        same = strcmp(parts[r], "0") != 0 && lens[r] > at && lens[r] - at == lens[0] - at0 &&
               memcmp(parts[r] + at, parts[0] + at0, lens[r] - at) == 0;
    }
    for (int r = 0; r < (same ? 1 : g_size); r++) {
        const char *p = parts[r];
        size_t at = part_lines(p);
        char where[300] = "";
        if (!same) {
            snprintf(where, sizeof(where), "rank %d on %.200s: ", r, p + strlen(p) + 1);
        }
        if (at == lens[r] && strcmp(p, "0") != 0) {
            /* failed with nothing stored: its error went out before the deferral */
            static const char above[] = "failed to start (its error is above)";
            cli_error_print_lines(where, above, sizeof(above));
        }
        cli_error_print_lines(where, p + at, lens[r] - at);
    }
}

int cli_mpi_setup_end(int rc)
{
    size_t len = 0;
    char *lines = cli_error_defer_end(&len);
    int status = rc > 0 ? rc : 0;
    if (g_size <= 1) {
        cli_error_print_lines(cli_error_where, lines, len); /* this rank's own */
        free(lines);
        return status;
    }
    /* This rank's part: "STATUS\0HOST\0" then its lines; and its length, gathered first so
     * that rank 0 can split the concatenation. */
    char head[300];
    int hl = snprintf(head, sizeof(head), "%d%c%.200s", status, '\0', g_host) + 1;
    char *part = malloc((size_t)hl + len);
    int64_t plen = part ? (int64_t)((size_t)hl + len) : 0;
    if (part) {
        memcpy(part, head, (size_t)hl);
        if (len > 0) {
            memcpy(part + hl, lines, len);
        }
    }
    char *all_lens = NULL, *all = NULL;
    size_t n_lens = 0, n_all = 0;
    int bad = !part;
    bad |= cli_mpi_gather(&plen, sizeof(plen), &all_lens, &n_lens) != 0;
    bad |= cli_mpi_gather(part, (size_t)plen, &all, &n_all) != 0;
    free(part);
    char **parts = g_rank == 0 ? calloc((size_t)g_size, sizeof(char *)) : NULL;
    size_t *lens = g_rank == 0 ? calloc((size_t)g_size, sizeof(size_t)) : NULL;
    if (g_rank == 0 && !bad) {
        bad = !parts || !lens || n_lens != (size_t)g_size * sizeof(int64_t);
        size_t at = 0;
        for (int r = 0; r < g_size && !bad; r++) {
            int64_t l;
            memcpy(&l, all_lens + (size_t)r * sizeof(l), sizeof(l));
            /* a part is at least "S\0\0", NUL-terminated */
            bad = l < 3 || (size_t)l > n_all - at || all[at + (size_t)l - 1] != '\0';
            parts[r] = all + at;
            lens[r] = (size_t)l;
            at += bad ? 0 : (size_t)l;
        }
    }
    /* Rank 0 prints only when every part arrived; else every rank prints its own. */
    bad = cli_mpi_max(bad);
    if (g_rank == 0 && !bad) {
        print_ranks(parts, lens);
    } else if (bad) {
        cli_error_print_lines(cli_error_where, lines, len); /* this rank's own */
    }
    free(parts);
    free(lens);
    free(all_lens);
    free(all);
    free(lines);
    return cli_mpi_max(status);
}

int cli_mpi_init(int *argc, char ***argv)
{
    if (launcher_size() < 1) {
        return 0; /* not under mpirun: one process, MPI untouched */
    }
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        return fail_msg("MPI_Init failed");
    }
    g_started = 1;
    MPI_Comm local;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    /* The ranks sharing this host's memory: the local rank picks this host's GPU. */
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
        MPI_Comm_rank(local, &g_local);
        MPI_Comm_free(&local);
    }
    if (gethostname(g_host, sizeof(g_host)) != 0) {
        snprintf(g_host, sizeof(g_host), "unknown host");
    }
    g_host[sizeof(g_host) - 1] = '\0';
    if (g_size > 1) {
        snprintf(cli_error_where, sizeof(cli_error_where), "rank %d on %.200s: ", g_rank, g_host);
    }
    return 0;
}

void cli_mpi_finalize(void)
{
    if (g_started) {
        MPI_Finalize();
        g_started = 0;
    }
}

/* Options that may differ from rank to rank: where a rank runs and how, not what it computes. */
static int rank_local_option(const char *name)
{
    static const char *const local[] = {"--device",          "--verbose", "--kernels-binary",
                                        "--no-kernel-cache", "--conv",    "--kernel-params",
                                        "--batch",           "--help",    "-h"};
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        if (strcmp(name, local[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int cmp_opt(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    int c = strcmp(cli_opt_name(i), cli_opt_name(j));
    return c ? c : i - j;
}

/* This rank's description: the command, its options sorted by name, then the facts. */
static char *agree_text(const char *cmd, const char *facts)
{
    char *buf = NULL;
    size_t len = 0;
    int n = cli_opt_count(), *order = malloc(((size_t)n + 1) * sizeof(int)), bad = !order;
    for (int i = 0; i < n && order; i++) {
        order[i] = i;
    }
    if (order) {
        qsort(order, (size_t)n, sizeof(int), cmp_opt);
    }
    bad = bad || cli_mpi_fact(&buf, &len, "0", "the command", cmd) != 0;
    for (int k = 0; k < n && !bad; k++) {
        const char *name = cli_opt_name(order[k]), *value = cli_opt_value(order[k]);
        char sort[128];
        if (rank_local_option(name)) {
            continue;
        }
        snprintf(sort, sizeof(sort), "1%s", name);
        bad = cli_mpi_fact(&buf, &len, sort, name, value ? value : "(given)") != 0;
    }
    free(order);
    size_t flen = strlen(facts);
    char *all = bad ? NULL : realloc(buf, len + flen + 1);
    if (!all) {
        free(buf);
        return NULL;
    }
    memcpy(all + len, facts, flen + 1);
    return all;
}

typedef struct agree_line {
    const char *sort, *what, *value;
} agree_line;

/* Splits text (modified: tabs and line breaks become NULs) into its lines. */
static agree_line *agree_lines(char *text, size_t *n)
{
    size_t count = 0, k = 0;
    for (const char *p = text; *p; p++) {
        count += *p == '\n';
    }
    agree_line *v = malloc((count + 1) * sizeof(*v));
    for (char *p = text; v && *p && k < count; k++) {
        char *t1 = strchr(p, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        char *nl = strchr(p, '\n');
        if (!t1 || !t2 || !nl || t2 > nl) {
            break;
        }
        *t1 = *t2 = *nl = '\0';
        v[k] = (agree_line){p, t1 + 1, t2 + 1};
        p = nl + 1;
    }
    *n = k;
    return v;
}

/* The first difference of this rank's description from rank 0's, as the error's text, or "". */
static void agree_diff(char *zero, char *mine, char *msg, size_t cap)
{
    size_t n0 = 0, n1 = 0, i = 0, j = 0;
    agree_line *a = agree_lines(zero, &n0), *b = agree_lines(mine, &n1);
    msg[0] = '\0';
    if (!a || !b) {
        snprintf(msg, cap,
                 "rank %d on %.200s could not compare its command line with rank 0's "
                 "(out of memory)",
                 g_rank, g_host);
    }
    while (a && b && !msg[0] && (i < n0 || j < n1)) {
        int c = i >= n0 ? 1 : j >= n1 ? -1 : strcmp(a[i].sort, b[j].sort);
        const char *what = c <= 0 ? a[i].what : b[j].what;
        const char *v0 = c <= 0 ? a[i].value : "(not given)";
        const char *v1 = c >= 0 ? b[j].value : "(not given)";
        if (c != 0 || strcmp(v0, v1) != 0) {
            snprintf(msg, cap,
                     "the ranks disagree on %.100s: rank %d on %.200s has %.300s, "
                     "rank 0 has %.300s; start every rank with the same command, options, "
                     "weights and inputs",
                     what, g_rank, g_host, v1, v0);
        }
        i += c <= 0;
        j += c >= 0;
    }
    free(a);
    free(b);
}

int cli_mpi_agree(const char *cmd, const char *facts)
{
    if (g_size <= 1) {
        return 0;
    }
    char *mine = agree_text(cmd, facts);
    /* The common case, cheaply: every rank's checksum against rank 0's. */
    uint64_t h = mine ? dc_fnv(DC_FNV_SEED, mine, strlen(mine)) : 0, h0 = h;
    MPI_Bcast(&h0, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (cli_mpi_max(!mine || h != h0) == 0) {
        free(mine);
        return 0;
    }
    /* Rank 0's description goes to every rank, in chunks of 1 MiB (a rank out of memory takes
     * them into a scratch buffer and says so), and each finds its first difference. */
    enum { CHUNK = 1 << 20 };
    int64_t len = g_rank == 0 && mine ? (int64_t)strlen(mine) : 0;
    MPI_Bcast(&len, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
    char *zero = g_rank == 0 ? mine : malloc((size_t)len + 1);
    static char scratch[CHUNK];
    for (int64_t off = 0; off < len; off += CHUNK) {
        int n = (int)(len - off < CHUNK ? len - off : CHUNK);
        MPI_Bcast(zero ? zero + off : scratch, n, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
    char msg[1400] = "";
    if (g_rank != 0 && (!zero || !mine)) {
        snprintf(msg, sizeof(msg),
                 "rank %d on %.200s could not compare its command line with "
                 "rank 0's (out of memory)",
                 g_rank, g_host);
    } else if (g_rank != 0) {
        zero[len] = '\0';
        agree_diff(zero, mine, msg, sizeof(msg));
    } else if (!mine) {
        snprintf(msg, sizeof(msg),
                 "rank 0 could not describe its command line to the others "
                 "(out of memory)");
    }
    int first = cli_mpi_first_failed(msg[0] != '\0');
    char *all = NULL;
    size_t all_len = 0;
    if (cli_mpi_gather(msg, g_rank == first ? strlen(msg) + 1 : 0, &all, &all_len) == 0 &&
        g_rank == 0 && first >= 0) {
        if (all_len > 0) {
            cli_error_print_lines("", all, all_len);
        } else {
            cli_error_print_lines("", msg, strlen(msg) + 1);
        }
    }
    free(all);
    if (zero != mine) {
        free(zero);
    }
    free(mine);
    return first >= 0 ? EXIT_USAGE : 0;
}

int cli_mpi_first_failed(int failed)
{
    int mine = failed ? g_rank : INT_MAX, first = mine;
    if (g_size > 1 &&
        MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS) {
        return g_rank; /* cannot agree: count ourselves as failed */
    }
    return first == INT_MAX ? -1 : first;
}

int cli_mpi_sum(int64_t *v, int n)
{
    if (g_size == 1) {
        return 0;
    }
    return MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS
               ? 0
               : -1;
}

int cli_mpi_max(int v)
{
    int m = v;
    if (g_size > 1) {
        MPI_Allreduce(&v, &m, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    }
    return m;
}

int cli_mpi_gather(const void *buf, size_t len, char **all, size_t *all_len)
{
    *all = NULL;
    *all_len = 0;
    /* MPI counts are ints: the lengths travel as 64-bit numbers and a part over INT_MAX bytes
     * is refused (by every rank together, so none waits on the others). */
    int64_t mine = (int64_t)len;
    int64_t *lens = g_rank == 0 ? calloc((size_t)g_size, sizeof(int64_t)) : NULL;
    int *counts = g_rank == 0 ? calloc((size_t)g_size, sizeof(int)) : NULL;
    int *displs = g_rank == 0 ? calloc((size_t)g_size, sizeof(int)) : NULL;
    int bad = g_rank == 0 && (!lens || !counts || !displs);
    int64_t total = 0;
    if (MPI_Gather(&mine, 1, MPI_INT64_T, lens, 1, MPI_INT64_T, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
        bad = 1;
    }
    for (int r = 0; g_rank == 0 && !bad && r < g_size; r++) {
        if (lens[r] > INT_MAX || total + lens[r] > INT_MAX) {
            bad = 1;
        } else {
            counts[r] = (int)lens[r];
            displs[r] = (int)total;
            total += lens[r];
        }
    }
    if (g_rank == 0 && !bad && !(*all = malloc((size_t)total + 1))) {
        bad = 1;
    }
    MPI_Bcast(&bad, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!bad && MPI_Gatherv(buf, (int)len, MPI_BYTE, *all, counts, displs, MPI_BYTE, 0,
                            MPI_COMM_WORLD) != MPI_SUCCESS) {
        bad = 1;
    }
    free(lens);
    free(counts);
    free(displs);
    if (bad) {
        free(*all);
        *all = NULL;
        return -1;
    }
    *all_len = (size_t)total;
    return 0;
}

#else /* without MPI: one rank */

int cli_mpi_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)g_started;
    (void)g_size;
    return 0;
}

void cli_mpi_finalize(void)
{
}

int cli_mpi_first_failed(int failed)
{
    return failed ? 0 : -1;
}

int cli_mpi_agree(const char *cmd, const char *facts)
{
    (void)cmd;
    (void)facts;
    return 0;
}

int cli_mpi_setup_end(int rc)
{
    size_t len = 0;
    char *lines = cli_error_defer_end(&len);
    cli_error_print_lines(cli_error_where, lines, len); /* this rank's own */
    free(lines);
    return rc > 0 ? rc : 0;
}

int cli_mpi_sum(int64_t *v, int n)
{
    (void)v;
    (void)n;
    return 0;
}

int cli_mpi_max(int v)
{
    return v;
}

int cli_mpi_gather(const void *buf, size_t len, char **all, size_t *all_len)
{
    *all = malloc(len + 1);
    *all_len = 0;
    if (!*all) {
        return -1;
    }
    memcpy(*all, buf, len);
    *all_len = len;
    return 0;
}

#endif
