/* SPDX-License-Identifier: MIT */
/* The densecl tool's shared helpers (tools/cli/): signals leave no temporary behind, outputs
 * that are inputs are refused, names are escaped, a failover reason is never empty (issue 15
 * items 3, 4, 9, 11). */
#define _DEFAULT_SOURCE /* mkdtemp */

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "dir_count.h"
#include "cli.h"

static char tmpdir[64];

/* A child that dies of SIGTERM while it writes leaves neither the file nor its temporary; one
 * that defers the signal sees it recorded and goes on; a second signal ends it at once. */
static void test_signals(void)
{
    char path[128];
    int status = 0;
    snprintf(path, sizeof path, "%s/out.npy", tmpdir);
    pid_t pid = fork();
    if (pid == 0) {
        dc_atomic_file a;
        cli_signals_install();
        if (dc_atomic_open(&a, path) != DENSECL_OK)
            _exit(10);
        fputs("partial", a.f);
        fflush(a.f);
        raise(SIGTERM);
        _exit(11); /* not reached: the handler re-raises with the default action */
    }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %#x", status);
    CHECKF(count_entries(tmpdir) == 0, "%d files left in %s", count_entries(tmpdir), tmpdir);

    pid = fork();
    if (pid == 0) {
        cli_signals_install();
        cli_signals_defer(1);
        raise(SIGHUP);
        if (cli_signal_caught() != SIGHUP)
            _exit(12);
        raise(SIGTERM); /* the second one: at once */
        _exit(13);
    }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "status %#x", status);
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
}

static void test_check_output(void)
{
    char in[128], hard[128], sym[128], dotdot[192], other[128];
    snprintf(in, sizeof in, "%s/in.png", tmpdir);
    snprintf(hard, sizeof hard, "%s/hard.png", tmpdir);
    snprintf(sym, sizeof sym, "%s/link.png", tmpdir);
    snprintf(dotdot, sizeof dotdot, "%s/../%s/in.png", tmpdir, strrchr(tmpdir, '/') + 1);
    snprintf(other, sizeof other, "%s/new.csv", tmpdir);
    touch(in);
    CHECK(link(in, hard) == 0);
    CHECK(symlink("in.png", sym) == 0);
    const char *ins[] = {NULL, in};
    CHECK(cli_check_output("classify", "--csv", in, ins, 2) == EXIT_USAGE);
    CHECK(cli_check_output("classify", "--csv", hard, ins, 2) == EXIT_USAGE);
    CHECK(cli_check_output("classify", "--csv", sym, ins, 2) == EXIT_USAGE);
    CHECK(cli_check_output("classify", "--csv", dotdot, ins, 2) == EXIT_USAGE);
    /* A new file, a device: nothing is overwritten. */
    CHECK(cli_check_output("classify", "--csv", other, ins, 2) == 0);
    CHECK(cli_check_output("classify", "--csv", "/dev/null", ins, 2) == 0);
    /* An input that does not exist yet, named like the output: still the same path. */
    const char *missing[] = {other};
    CHECK(cli_check_output("classify", "--csv", other, missing, 1) == EXIT_USAGE);
    remove(in);
    remove(hard);
    remove(sym);
}

static void test_text(void)
{
    char buf[256];
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (f) {
        fputs_escaped("cat\x1b[2J\x07\x7f ok", f);
        rewind(f);
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        CHECKF(strcmp(buf, "cat\\x1b[2J\\x07\\x7f ok") == 0, "'%s'", buf);
        fclose(f);
    }
    densecl_replica_stats s;
    memset(&s, 0, sizeof s);
    snprintf(s.device.name, sizeof s.device.name, "dev0");
    failover_warning(&s, buf, sizeof buf);
    CHECKF(strstr(buf, "()") == NULL && strstr(buf, "(the driver gave no reason)"), "'%s'", buf);
    snprintf(s.failure, sizeof s.failure, "CL_OUT_OF_RESOURCES");
    failover_warning(&s, buf, sizeof buf);
    CHECKF(strstr(buf, "'dev0' failed and was taken out (CL_OUT_OF_RESOURCES)"), "'%s'", buf);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/densecl-cli-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_signals();
    test_check_output();
    test_text();
    CHECKF(rmdir(tmpdir) == 0, "%s not empty", tmpdir);
    return check_summary();
}
