/* SPDX-License-Identifier: MIT */
/* tools_api.c - the few questions densecl's tools ask of the kernel families (conv/conv.h), as
 * narrow functions declared in tools_internal.h, so that the tools never include conv/conv.h:
 * `densecl info`'s family listing, tune's loop over the families and its --kernel-params check.
 * Text goes into the caller's buffer; the library prints nothing. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tools_internal.h"

/* Appends printf-style to buf[0..cap), cutting what does not fit; *len is the length so far. */
static void dc_tool_append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void dc_tool_append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    if (*len + 1 >= cap)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len = *len + (size_t)n < cap ? *len + (size_t)n : cap - 1;
}

void dc_tool_families_text(cl_device_id dev, char *buf, size_t cap)
{
    dc_caps caps;
    dc_resolved res;
    char text[1024];
    size_t len = 0;
    if (!buf || cap == 0)
        return;
    buf[0] = '\0';
    if (dc_caps_query(dev, &caps) != DENSECL_OK) {
        dc_tool_append(buf, cap, &len, "convs: %s\n", densecl_last_error());
        return;
    }
    /* What an engine on dev would resolve for a model with every conv kind; an engine says its
     * own in densecl_replica_stats.resolved (bench prints it). */
    if (dc_resolve(&caps, NULL, NULL, &res) == DENSECL_OK) {
        dc_resolved_describe(&res, text, sizeof text);
        dc_tool_append(buf, cap, &len, "convs: %s\n", text);
    }
    /* The conv families of this build, each with its parameters' ranges and, where it cannot
     * run a plain 1x1 conv on dev, why. */
    dc_tool_append(buf, cap, &len, "conv families:\n");
    for (int f = 0; f < dc_family_count; f++) {
        const dc_family *fam = dc_families[f];
        dc_op probe;
        char why[200] = "";
        memset(&probe, 0, sizeof probe);
        probe.kind = DC_OP_CONV;
        probe.k = 1;
        probe.stride = 1;
        probe.in_c = probe.in_ctot = probe.out_c = probe.out_ctot = 16;
        probe.in_h = probe.in_w = probe.out_h = probe.out_w = 8;
        dc_tool_append(buf, cap, &len, "  %s", fam->name);
        if (!fam->supports(&caps, &probe, why, sizeof why) && why[0])
            dc_tool_append(buf, cap, &len, " (%s)", why);
        dc_tool_append(buf, cap, &len, "%s", fam->n_params ? ":" : "");
        for (int j = 0; j < fam->n_params; j++)
            dc_tool_append(buf, cap, &len, " %s=%d..%d", fam->params[j].name, fam->params[j].lo,
                           fam->params[j].hi);
        dc_tool_append(buf, cap, &len, "\n");
    }
}

densecl_status dc_tool_resolve_text(cl_device_id dev, const densecl_config *cfg, int n, int h,
                                    int w, const char *conv, const char *kernel_params, char *buf,
                                    size_t cap)
{
    dc_caps caps;
    dc_plan plan;
    dc_resolved res;
    dc_choice choice = {conv, kernel_params, {0, 0, 0, 0}, NULL};
    char text[1024];
    size_t len = 0;
    densecl_status st;
    if (cap)
        buf[0] = '\0';
    if ((st = dc_caps_query(dev, &caps)) != DENSECL_OK ||
        (st = dc_plan_build(cfg, n, h, w, &plan)) != DENSECL_OK)
        return st;
    st = dc_resolve(&caps, &plan, &choice, &res);
    dc_plan_free(&plan);
    if (st != DENSECL_OK)
        return st;
    dc_resolved_describe(&res, text, sizeof text);
    dc_tool_append(buf, cap, &len, "convs: %s\nbuild options: %s\n", text, res.defines);
    return DENSECL_OK;
}

densecl_status dc_tool_profile_line(char *buf, size_t cap)
{
    dc_device_profile p;
    int active = 0;
    densecl_status st = dc_device_profile_get(&p, &active);
    if (cap)
        buf[0] = '\0';
    if (st != DENSECL_OK || !active)
        return st;
    dc_device_profile_describe(&p, buf, cap);
    return DENSECL_OK;
}

const char *dc_tool_family_name(int i)
{
    return i >= 0 && i < dc_family_count ? dc_families[i]->name : NULL;
}

int dc_tool_auto_default(cl_device_id dev, const char *family)
{
    dc_caps caps;
    char why[160];
    int fi = dc_family_index(family);
    if (dc_caps_query(dev, &caps) != DENSECL_OK) {
        dc_clear_error(); /* a profile that does not load: the engine says so */
        return 0;
    }
    if (fi <= 0 || !dc_families[fi]->auto_kinds)
        return 0;
    /* As dc_resolve's auto without a tuning file: the first family claiming every kind runs
     * them all; only without one do the families claiming some kinds take theirs. */
    for (int i = 1; i < dc_family_count; i++) {
        const dc_family *f = dc_families[i];
        if (f->auto_kinds && f->kinds == DC_KINDS_ALL &&
            f->auto_kinds(&caps, why, sizeof why) == DC_KINDS_ALL)
            return i == fi;
    }
    return dc_families[fi]->kinds != DC_KINDS_ALL &&
           (dc_families[fi]->auto_kinds(&caps, why, sizeof why) & dc_families[fi]->kinds) != 0;
}

densecl_status dc_tool_check_kernel_params(const char *text, const char *family, unsigned *set,
                                           const char *what)
{
    dc_params p;
    int fam = -1;
    for (int f = 0; f < dc_family_count; f++)
        if (family && strcmp(dc_families[f]->name, family) == 0)
            fam = f;
    if (fam < 0)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: no kernel family '%s' in this build", what,
                        family ? family : "(null)");
    memset(&p, 0, sizeof p);
    *set = 0;
    return dc_params_parse(text, family, fam, &p, set, what);
}
