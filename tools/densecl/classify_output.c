/* SPDX-License-Identifier: MIT */
/*
 * classify_output.c - `densecl classify`: the batch pipeline (start a batch, then wait for the
 * one before it), the results of each batch as text lines, CSV rows (one write per batch, cut
 * back to whole rows on a write error) and JSON, and the summary.
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
 * Text helpers
 * ------------------------------------------------------------------------------------------- */

static void sbuf_printf(sbuf *b, const char *fmt, ...) DC_PRINTF(2, 3);

static void sbuf_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->oom) {
        b->oom = 1;
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void csv_append(sbuf *b, const char *s)
{
    sbuf_printf(b, "%s", s);
}

/* RFC 4180: quoted when it holds a comma, quote or line break, quotes doubled. */
static void csv_field(sbuf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        sbuf_printf(b, "%s", s);
        return;
    }
    sbuf_printf(b, "\"");
    for (const char *p = s; *p; p++) {
        sbuf_printf(b, *p == '"' ? "\"\"" : "%c", *p);
    }
    sbuf_printf(b, "\"");
}

/* ---------------------------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------------------------- */

static const char *class_name(const classify *c, int id, char *buf, size_t size)
{
    if (c->names) {
        return c->names[id];
    }
    snprintf(buf, size, "class %d", id);
    return buf;
}

/* The c->ranked most probable classes of p, most probable first (ties: lower id first). */
static void top_k(const classify *c, const float *p, int *ids)
{
    int k = 0;
    for (int i = 0; i < c->classes; i++) {
        if (k == c->ranked && !(p[i] > p[ids[k - 1]])) {
            continue;
        }
        int j = k < c->ranked ? k++ : k - 1;
        while (j > 0 && p[i] > p[ids[j - 1]]) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = i;
    }
}

static void report(classify *c, const cbatch *b, int slot)
{
    const input_file *in = &c->in[b->slot_in[slot]];
    int64_t index = b->slot_index[slot];
    const float *p = b->probs + (size_t)slot * (size_t)c->classes;
    int *ids = c->top_ids;
    int truth = -1;
    char buf[32], name[4200];
    top_k(c, p, ids);
    if (c->truth) {
        truth = c->truth[in->first + index];
        c->labelled++;
        c->correct1 += ids[0] == truth;
        for (int j = 0; j < 5 && j < c->ranked; j++) {
            c->correct5 += ids[j] == truth;
        }
    }
    if (in->kind == DCI_INPUT_IMAGE) {
        snprintf(name, sizeof(name), "%s", in->path);
    } else {
        snprintf(name, sizeof(name), "%s[%lld]", in->path, (long long)index);
    }
    if (c->print_lines) {
        /* Names come from files: their control characters are shown, not sent to the terminal */
        fputs_escaped(name, stdout);
        putchar(':');
        for (int j = 0; j < c->top; j++) {
            printf("%s %.4f ", j ? "," : "", (double)p[ids[j]]);
            fputs_escaped(class_name(c, ids[j], buf, sizeof(buf)), stdout);
        }
        if (truth >= 0) {
            printf("  (truth: ");
            fputs_escaped(class_name(c, truth, buf, sizeof(buf)), stdout);
            putchar(')');
        }
        putchar('\n');
    }
    if (c->o.json) {
        printf("%s    {\"input\": ", c->json_images++ ? ",\n" : "");
        dc_json_write_string(stdout, in->path);
        printf(", \"index\": %lld, \"top\": [", (long long)index);
        for (int j = 0; j < c->top; j++) {
            printf("%s{\"class_id\": %d, \"label\": ", j ? ", " : "", ids[j]);
            dc_json_write_string(stdout, class_name(c, ids[j], buf, sizeof(buf)));
            /* JSON has no NaN: broken weights give null rather than an unparsable document */
            if (isnan(p[ids[j]])) {
                printf(", \"probability\": null}");
            } else {
                printf(", \"probability\": %.6g}", (double)p[ids[j]]);
            }
        }
        printf("]");
        if (truth >= 0) {
            printf(", \"truth\": %d", truth);
        }
        printf("}");
    }
    if (c->csv >= 0) {
        csv_field(&c->rows, in->path);
        sbuf_printf(&c->rows, ",%lld", (long long)index);
        for (int j = 0; j < c->csv_top; j++) {
            sbuf_printf(&c->rows, ",%d,", ids[j]);
            csv_field(&c->rows, class_name(c, ids[j], buf, sizeof(buf)));
            sbuf_printf(&c->rows, ",%.6f", (double)p[ids[j]]);
        }
        if (truth >= 0) {
            sbuf_printf(&c->rows, ",%d,", truth);
            csv_field(&c->rows, class_name(c, truth, buf, sizeof(buf)));
        }
        sbuf_printf(&c->rows, "\n");
    }
}

/* Appends len bytes to the CSV file. On a write error (a full disk) a regular file is cut back
 * to its last complete batch, so that it holds whole rows only. 0 or EXIT_RUNTIME reported. */
int csv_write(classify *c, const char *s, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(c->csv, s + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            int cut = c->csv_regular && ftruncate(c->csv, c->csv_good) == 0 &&
                      lseek(c->csv, c->csv_good, SEEK_SET) == c->csv_good;
            bar_erase(c);
            return fail_msg("%s: write error: %s%s", c->o.csv, strerror(err),
                            !c->csv_regular ? ""
                            : cut           ? "; it holds the rows of the complete batches only"
                                            : "; it may end in a partial row");
        }
        done += (size_t)n;
    }
    c->csv_good += (off_t)len;
    return 0;
}

/* Waits for b (if in flight), reports its images and empties it. 0, EXIT_INTERRUPTED after a
 * signal (the batch's results are out), or EXIT_RUNTIME once reported. */
static int finish_batch(classify *c, cbatch *b)
{
    if (!b->job) {
        return 0;
    }
    densecl_status st = densecl_job_wait(b->job);
    b->job = NULL;
    if (st != DENSECL_OK) {
        b->n = 0;
        bar_erase(c);
        return fail_status(st);
    }
    densecl_softmax(b->probs, b->n, c->classes);
    bar_erase(c); /* the lines below must not land on the bar */
    c->rows.len = 0;
    for (int i = 0; i < b->n; i++) {
        report(c, b, i);
    }
    c->done += b->n;
    b->n = 0;
    fflush(stdout);
    if (c->csv >= 0) {
        if (c->rows.oom) {
            return fail_msg("out of memory writing %s", c->o.csv);
        }
        int rc = csv_write(c, c->rows.s, c->rows.len);
        if (rc != 0) {
            return rc;
        }
    }
    bar_draw(c);
    return cli_signal_caught() ? EXIT_INTERRUPTED : 0;
}

static void discard_batch(cbatch *b)
{
    if (b->job) {
        (void)densecl_job_wait(b->job); /* its error, if any, follows the one reported */
        b->job = NULL;
    }
    b->n = 0;
}

int flush_batch(classify *c)
{
    cbatch *b = &c->bt[c->fill], *flight = &c->bt[!c->fill];
    if (b->n == 0) {
        return 0;
    }
    /* b->x and b->probs stay untouched until b is waited for: the other buffer is filled. */
    densecl_status st = densecl_engine_start(c->e, b->x, b->n, b->c, b->h, b->w, b->probs, &b->job);
    if (st != DENSECL_OK) {
        /* The batch in flight is good: out first, then the error (its text kept meanwhile). */
        char why[2048];
        snprintf(why, sizeof(why), "%s", densecl_last_error());
        b->job = NULL;
        b->n = 0;
        int rc = finish_batch(c, flight);
        if (rc == EXIT_RUNTIME) {
            return rc;
        }
        bar_erase(c);
        dc_error(st, "%s", why);
        return fail_status(st);
    }
    c->fill = !c->fill;
    int rc = finish_batch(c, flight);
    if (rc == EXIT_RUNTIME) {
        discard_batch(b); /* reported after a missing batch, its rows would be out of order */
    }
    return rc;
}

int drain_batches(classify *c)
{
    return finish_batch(c, &c->bt[!c->fill]);
}

void discard_batches(classify *c)
{
    discard_batch(&c->bt[0]);
    discard_batch(&c->bt[1]);
}

/* ---------------------------------------------------------------------------------------------
 * Summary
 * ------------------------------------------------------------------------------------------- */

void print_json_preprocessing(const classify *c)
{
    static const char *const source[] = {"metadata", "imagenet", "onnx-input", "given"};
    const densecl_preprocess *pp = &c->pp;
    if (!c->pp_used) {
        return;
    }
    printf("  \"preprocessing\": {\"source\": \"%s\", \"assumed\": %s, ",
           (unsigned)pp->source < DC_ARRAY_LEN(source) ? source[pp->source] : "?",
           c->pp_assumed[0] ? "true" : "false");
    if (c->pp_assumed[0]) {
        printf("\"warning\": ");
        dc_json_write_string(stdout, c->pp_assumed);
        printf(", ");
    }
    printf("\"channels\": %d, \"height\": %d, \"width\": %d, \"resize\": ", pp->channels,
           pp->height, pp->width);
    if (pp->resize) {
        printf("%d", pp->resize);
    } else if (pp->resize_height) {
        printf("[%d, %d]", pp->resize_height, pp->resize_width);
    } else {
        printf("null");
    }
    printf(", \"crop\": ");
    if (pp->crop_height) {
        printf("[%d, %d]", pp->crop_height, pp->crop_width);
    } else {
        printf("null");
    }
    for (int v = 0; v < 2; v++) {
        const float *x = v ? pp->std : pp->mean;
        printf(", \"%s\": [", v ? "std" : "mean");
        for (int ch = 0; ch < pp->channels; ch++) {
            printf("%s%.7g", ch ? ", " : "", (double)x[ch]);
        }
        printf("]");
    }
    printf("},\n");
}

void print_summary(const classify *c, double seconds, double startup)
{
    const densecl_device_info *d = c->e ? densecl_engine_device(c->e) : NULL;
    double rate = seconds > 0 ? (double)c->done / seconds : 0.0;
    int top5 = c->classes >= 5;
    if (c->o.json) {
        printf("%s  ],\n  \"failed\": [", c->json_images ? "\n" : "");
        for (int i = 0; i < c->n_fail; i++) {
            printf("%s\n    {\"input\": ", i ? "," : "");
            dc_json_write_string(stdout, c->fail[i].path ? c->fail[i].path : "");
            printf(", \"error\": ");
            dc_json_write_string(stdout, c->fail[i].why ? c->fail[i].why : "");
            printf("}");
        }
        printf("%s],\n  \"summary\": {\"images\": %lld, \"failed_inputs\": %d, "
               "\"interrupted\": %s, \"seconds\": %.6f, \"images_per_second\": %.3f, "
               "\"startup_seconds\": %.6f",
               c->n_fail ? "\n  " : "", (long long)c->done, c->n_failed,
               c->interrupted ? "true" : "false", seconds, rate, startup);
        if (c->skipped_files) {
            printf(", \"skipped_files\": %lld", (long long)c->skipped_files);
        }
        if (c->run_error) {
            printf(", \"error\": ");
            dc_json_write_string(stdout, c->run_error);
        }
        if (c->truth) {
            printf(", \"labelled\": %lld, \"top1_accuracy\": %.6f", (long long)c->labelled,
                   c->labelled ? (double)c->correct1 / (double)c->labelled : 0.0);
            if (top5) {
                printf(", \"top5_accuracy\": %.6f",
                       c->labelled ? (double)c->correct5 / (double)c->labelled : 0.0);
            }
        }
        printf("}\n}\n");
        return;
    }
    FILE *out = c->csv_stdout ? stderr : stdout; /* --csv -: the rows have stdout */
    if (d) {
        fprintf(out, "device: %s (%s, %d:%d)\n", d->name, d->platform_name, d->platform_index,
                d->device_index);
    }
    fprintf(out, "images: %lld in %.3f s, %.1f images/s (start-up %.3f s)\n", (long long)c->done,
            seconds, rate, startup);
    if (c->truth) {
        double n = c->labelled ? (double)c->labelled : 1.0;
        fprintf(out, "top-1 accuracy: %.2f%% (%lld/%lld)\n", 100.0 * (double)c->correct1 / n,
                (long long)c->correct1, (long long)c->labelled);
        if (top5) {
            fprintf(out, "top-5 accuracy: %.2f%% (%lld/%lld)\n", 100.0 * (double)c->correct5 / n,
                    (long long)c->correct5, (long long)c->labelled);
        }
    }
}
