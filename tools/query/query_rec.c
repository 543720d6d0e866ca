/* SPDX-License-Identifier: MIT */
/*
 * query_rec.c - densecl-query's recommendation: which device (or devices) to pass as --device,
 * from the self-test's measurements (--bench) or from static information.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "query.h"

#define Q_MULTI_SHARE 0.25 /* a second device is worth adding at >= 25% of the best's speed */

void q_num(double v, char *out, size_t cap)
{
    if (v >= 100.0)
        snprintf(out, cap, "%.0f", v);
    else if (v >= 10.0)
        snprintf(out, cap, "%.1f", v);
    else if (v >= 1.0)
        snprintf(out, cap, "%.2f", v);
    else
        snprintf(out, cap, "%.3g", v);
}

int q_usable(const q_device *d)
{
    return d->st.build_ok && d->st.conv_ok;
}

/* ---------------------------------------------------------------------------------------------
 * Recommendation
 * ------------------------------------------------------------------------------------------- */

static int q_type_rank(densecl_device_type t)
{
    return t == DENSECL_DEVICE_GPU           ? 0
           : t == DENSECL_DEVICE_ACCELERATOR ? 1
           : t == DENSECL_DEVICE_CPU         ? 2
                                             : 3;
}

static double q_static_score(const q_device *d)
{
    return (double)d->info.compute_units * (double)(d->info.clock_mhz ? d->info.clock_mhz : 1);
}

/* Do two devices run on the same silicon, so that using both adds no speed? Every CPU device
 * of a host shares its cores (POCL's pthread devices, a vendor CPU runtime beside POCL); one
 * GPU seen through two platforms (a vendor driver and Mesa) has the same name in both. */
static int q_same_hardware(const q_device *a, const q_device *b)
{
    if (a->info.type == DENSECL_DEVICE_CPU && b->info.type == DENSECL_DEVICE_CPU)
        return 1;
    return a->info.platform_index != b->info.platform_index && a->info.type == b->info.type &&
           strcmp(a->info.name, b->info.name) == 0;
}

static void q_rec_line(q_rec *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void q_rec_line(q_rec *r, const char *fmt, ...)
{
    size_t len = strlen(r->text);
    va_list ap;
    if (len > 0 && len + 1 < sizeof r->text)
        r->text[len++] = '\n';
    va_start(ap, fmt);
    vsnprintf(r->text + len, sizeof r->text - len, fmt, ap);
    va_end(ap);
}

void q_recommend(const q_device *devs, int n, int bench, int total_devices, q_rec *r)
{
    int order[Q_MAX_DEVICES], m = 0;
    memset(r, 0, sizeof *r);
    r->best = -1;
    r->basis = "none";
    for (int i = 0; i < n; i++)
        if (q_usable(&devs[i]) && (!bench || devs[i].st.images_per_s > 0.0))
            order[m++] = i;
    /* Best first: measured images/s, or type then compute units x clock. Insertion sort keeps
     * the listing order among equals. */
    for (int i = 1; i < m; i++) {
        int v = order[i], j = i;
        while (j > 0) {
            const q_device *a = &devs[order[j - 1]], *b = &devs[v];
            /* Within 5% is noise: the earlier listed device stays first. */
            int better = bench ? b->st.images_per_s > 1.05 * a->st.images_per_s
                               : q_type_rank(b->info.type) < q_type_rank(a->info.type) ||
                                     (q_type_rank(b->info.type) == q_type_rank(a->info.type) &&
                                      q_static_score(b) > q_static_score(a));
            if (!better)
                break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    if (m == 0) {
        int usable = 0;
        for (int i = 0; i < n; i++)
            usable += q_usable(&devs[i]);
        if (bench && usable > 0)
            q_rec_line(r, "no device completed the DenseNet-121 benchmark; see the bench lines");
        else
            q_rec_line(r, "no device runs densecl's kernels correctly; see the check lines");
        return;
    }
    r->best = order[0];
    r->basis = bench ? "bench" : "static";
    r->multi[r->n_multi++] = order[0];
    if (!bench) {
        const q_device *b = &devs[order[0]];
        int others = 0;
        q_rec_line(r, "chosen from static information (a GPU over an accelerator over a CPU, then "
                      "compute units x clock)");
        for (int i = 1; i < m; i++) {
            const q_device *d = &devs[order[i]];
            if (q_same_hardware(b, d))
                q_rec_line(r, "%s %s %s: using both at once would not add speed", d->spec,
                           d->info.type == DENSECL_DEVICE_CPU ? "shares the CPU cores of"
                                                              : "looks like the same device as",
                           b->spec);
            else
                others++;
        }
        q_rec_line(r, "run with --bench to confirm%s",
                   others ? " and to see whether using several devices at once helps" : "");
        return;
    }
    {
        const q_device *b = &devs[order[0]];
        double best = b->st.images_per_s, extra = 0.0;
        char num[32];
        for (int i = 1; i < m; i++) {
            const q_device *d = &devs[order[i]];
            int shared = -1;
            for (int j = 0; j < r->n_multi && shared < 0; j++)
                if (q_same_hardware(d, &devs[r->multi[j]]))
                    shared = r->multi[j];
            if (shared >= 0) {
                q_rec_line(r, "%s %s %s: using both at once would not add speed", d->spec,
                           d->info.type == DENSECL_DEVICE_CPU ? "shares the CPU cores of"
                                                              : "looks like the same device as",
                           devs[shared].spec);
                continue;
            }
            q_num(d->st.images_per_s, num, sizeof num);
            if (d->st.images_per_s < Q_MULTI_SHARE * best) {
                q_rec_line(r, "%s (%s images/s) is under %.0f%% of the best: not worth adding",
                           d->spec, num, Q_MULTI_SHARE * 100.0);
                continue;
            }
            r->multi[r->n_multi++] = order[i];
            extra += d->st.images_per_s;
        }
        if (r->n_multi < 2) {
            r->n_multi = 1;
            if (m > 1)
                q_rec_line(r, "use %s alone: no other device would add speed", b->spec);
            return;
        }
        r->gain_pct = extra / best * 100.0;
        if (r->n_multi == total_devices) {
            q_copy(r->multi_spec, sizeof r->multi_spec, "all");
        } else {
            for (int i = 0; i < r->n_multi; i++) {
                size_t len = strlen(r->multi_spec);
                snprintf(r->multi_spec + len, sizeof r->multi_spec - len, "%s%s", i ? "," : "",
                         devs[r->multi[i]].spec);
            }
        }
        q_rec_line(r,
                   "using %d devices at once (--device %s) would help by about %.0f%%: "
                   "multi-device support splits batches in proportion to speed",
                   r->n_multi, r->multi_spec, r->gain_pct);
        q_rec_line(r,
                   "(an estimate from each device's own speed; the fastest alone is --device "
                   "%s)",
                   b->spec);
    }
}
