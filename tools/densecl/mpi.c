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
