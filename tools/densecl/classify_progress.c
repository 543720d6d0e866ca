/* SPDX-License-Identifier: MIT */
/*
 * classify_progress.c - `densecl classify`: the progress bar and the warnings on stderr, which must
 * never land inside the bar.
 */
#define _POSIX_C_SOURCE 200809L

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
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "classify.h"

/* ---------------------------------------------------------------------------------------------
 * Progress and warnings (stderr)
 * ------------------------------------------------------------------------------------------- */

void bar_erase(classify *c)
{
    if (c->bar_shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        c->bar_shown = 0;
    }
}

void bar_draw(classify *c)
{
    if (!c->progress || c->total <= 0) {
        return;
    }
    double t = cli_now() - c->t_loop, rate = t > 0 ? (double)c->done / t : 0.0;
    double frac = (double)c->done / (double)c->total;
    char bar[BAR_WIDTH + 1];
    int fill = (int)(frac * BAR_WIDTH);
    for (int i = 0; i < BAR_WIDTH; i++) {
        bar[i] = i < fill ? '#' : '-';
    }
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r\033[K[%s] %lld/%lld images, %.1f images/s", bar, (long long)c->done,
            (long long)c->total, rate);
    if (rate > 0 && c->done < c->total) {
        long eta = (long)((double)(c->total - c->done) / rate + 0.5);
        fprintf(stderr, ", ETA %ld:%02ld", eta / 60, eta % 60);
    }
    fflush(stderr);
    c->bar_shown = 1;
}

/* "densecl: warning: msg" as one line (line breaks inside msg become "; "), built first and
 * written with one call: under mpirun the ranks share stderr, and a line written piecemeal
 * could be cut by another rank's. */
void print_warning(classify *c, const char *msg)
{
    static const char head[] = "densecl: warning: ";
    size_t len = strlen(msg), o = sizeof(head) - 1;
    char *line = malloc(sizeof(head) + 4 * len + 1); /* each byte at most "\xNN" */
    bar_erase(c);
    if (!line) {
        fprintf(stderr, "%s%s\n", head, msg); /* out of memory: as it is */
        return;
    }
    memcpy(line, head, o);
    for (const char *p = msg; *p; p++) {
        if (*p == '\n' || *p == '\r') {
            if (p[1] != '\0') {
                line[o++] = ';';
                line[o++] = ' ';
            }
        } else if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(line + o, 5, "\\x%02x", (unsigned char)*p);
        } else {
            line[o++] = *p;
        }
    }
    line[o++] = '\n';
    fwrite(line, 1, o, stderr);
    free(line);
}

/* Reports the last library error as the failure of input i, which is then skipped. */
void input_failed(classify *c, int i)
{
    const char *detail = densecl_last_error();
    const char *path = c->in[i].path;
    char msg[1536];
    if (strncmp(detail, path, strlen(path)) == 0) {
        snprintf(msg, sizeof(msg), "%s", detail);
    } else {
        snprintf(msg, sizeof(msg), "%s: %s", path, detail[0] ? detail : "cannot be read");
    }
    if (c->quiet_fail) {
        c->in[i].failed = 1;
        free(c->in[i].why);
        c->in[i].why = strdup(msg);
        return;
    }
    report_failure(c, i, msg);
}

void report_failure(classify *c, int i, const char *msg)
{
    print_warning(c, msg);
    c->in[i].failed = 1;
    c->n_failed++;
    failure *grown = realloc(c->fail, (size_t)(c->n_fail + 1) * sizeof(*grown));
    if (grown) {
        c->fail = grown;
        grown[c->n_fail].path = strdup(c->in[i].path);
        grown[c->n_fail].why = strdup(msg);
        c->n_fail++;
    }
}
