/* SPDX-License-Identifier: MIT */
/* mpi.h - the little of MPI that classify and run use to split their images over ranks.
 *
 * Built with MPI (DENSECL_HAVE_MPI), cli_mpi_init starts MPI only when the process was launched
 * by mpirun or srun (their environment variables say so), so a plain `densecl ...` never touches
 * it. Built without, every call is a no-op for one rank, and cli_mpi_unbuilt_size() tells the
 * commands that mpirun started several copies that cannot talk to one another. */
#ifndef DENSECL_TOOLS_MPI_H
#define DENSECL_TOOLS_MPI_H

#include <stddef.h>
#include <stdint.h>

/* Starts MPI when launched by an MPI launcher and sets cli_error_where to "rank R on HOST: "
 * when there are several ranks. 0, or EXIT_RUNTIME once reported. */
int cli_mpi_init(int *argc, char ***argv);
void cli_mpi_finalize(void);

int cli_mpi_rank(void);       /* 0 without MPI */
int cli_mpi_size(void);       /* 1 without MPI */
int cli_mpi_local_rank(void); /* the rank among those on this host */
const char *cli_mpi_host(void);

/* The --device spec of this rank when none was given: with several ranks and GPUs on this host,
 * "P:D" of GPU (local rank mod the GPUs here), written into buf; NULL (auto) otherwise. */
const char *cli_mpi_device(char *buf, size_t size);

/* Without MPI support: the number of ranks the launcher's environment announces (1 when not
 * launched by one, or when this build has MPI). */
int cli_mpi_unbuilt_size(void);
/* Same: this process's rank by the launcher's environment, 0 when unknown. */
int cli_mpi_unbuilt_rank(void);

/* Collective, once, where the set-up of classify or run ends (main calls it for a command that
 * returned before): ends the deferral of errors that main began under several ranks
 * (cli_error_defer) and reports what the ranks stored, whole lines printed by rank 0 in rank
 * order: one line when every rank failed with the same messages, else each rank's own,
 * naming its rank and host. rc is this rank's status (0: set up). Returns 0 on every rank when
 * every rank was set up, else the highest status of the ranks. */
int cli_mpi_setup_end(int rc);

/* Collective, once the set-up has ended on every rank (cli_mpi_setup_end returned 0) and before
 * any work: the ranks agree or stop. Each rank's description of the job is compared with rank
 * 0's: the command (cmd), its options (those parse_opts took, but for the ones that may differ
 * between ranks: --device, --verbose, --kernels-binary, --no-kernel-cache, --conv,
 * --kernel-params, --batch) and facts, lines "SORT\tWHAT\tVALUE\n" sorted by SORT, which must
 * start with a digit from 2 (the weights' digest, the inputs in order, ...; tabs and line
 * breaks in a value are escaped by cli_mpi_fact). 0 when every rank's matches; else rank 0
 * prints one error line naming the first difference of the lowest rank that has one, and every
 * rank returns EXIT_USAGE. Without several ranks: 0. */
int cli_mpi_agree(const char *cmd, const char *facts);
/* Appends "SORT\tWHAT\tVALUE\n" to the facts in *buf (malloc'd, NUL-terminated, *len bytes),
 * with tabs, line breaks and backslashes in VALUE escaped. 0, or -1 out of memory. */
int cli_mpi_fact(char **buf, size_t *len, const char *sort, const char *what, const char *value);

/* Collective: the lowest rank for which failed is non-zero, or -1 when none failed. */
int cli_mpi_first_failed(int failed);

/* Collective: v[0..n) summed over the ranks, the sums on every rank. 0, or -1 (MPI failed). */
int cli_mpi_sum(int64_t *v, int n);
/* Collective: the maximum of v over the ranks, on every rank. */
int cli_mpi_max(int v);

/* Collective: every rank's len bytes, concatenated in rank order, into a malloc'd *all on rank
 * 0 (*all_len its length; NULL and 0 elsewhere). 0, or -1 (out of memory, MPI failed). */
int cli_mpi_gather(const void *buf, size_t len, char **all, size_t *all_len);

#endif
