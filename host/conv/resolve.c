/* SPDX-License-Identifier: MIT */
/*
 * resolve.c - the one resolution per replica of which family runs each conv kind with which
 * parameters (conv.h), and its text form. Everything after it (the program's -D options and
 * files, the weight packing, the launches, the binary's "resolved=" line, the stats) reads the
 * dc_resolved it makes; nothing changes it. It asks the families through the vtable and names
 * none but direct, the fallback.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conv/conv.h"

static void dc_put(char *buf, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void dc_put(char *buf, size_t cap, const char *fmt, ...)
{
    size_t len = strlen(buf);
    va_list ap;
    if (len >= cap)
        return;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

/* The fields derived from fam, used and params: what program.c reads. */
static void dc_resolved_derive(dc_resolved *r);

void dc_resolved_format(const dc_resolved *r, char *buf, size_t cap)
{
    int any = 0;
    if (cap)
        buf[0] = '\0';
    for (int k = 0; k < DC_KIND_COUNT; k++)
        if (r->fam[k] >= 0) {
            dc_put(buf, cap, "%s%s=%s", any ? " " : "", dc_kind_name(k),
                   dc_families[r->fam[k]]->name);
            any = 1;
        }
    if (!any)
        dc_put(buf, cap, "-");
    for (int i = 0; i < dc_family_count; i++) {
        const dc_family *f = dc_families[i];
        if (!(r->used & (1u << i)))
            continue;
        dc_put(buf, cap, "; %s:", f->name);
        for (int j = 0; j < f->n_params; j++)
            dc_put(buf, cap, "%s%s=%d", j ? "," : "", f->params[j].name, r->params[i].v[j]);
    }
}

void dc_resolved_describe(const dc_resolved *r, char *buf, size_t cap)
{
    dc_resolved_format(r, buf, cap);
    dc_put(buf, cap, " (%s)", r->why);
}

densecl_status dc_resolved_parse(const char *text, const char *what, dc_resolved *out)
{
    const char *semi = strchr(text, ';');
    memset(out, 0, sizeof *out);
    for (int k = 0; k < DC_KIND_COUNT; k++)
        out->fam[k] = -1;
    if (!semi)
        return dc_error(DENSECL_ERR_FORMAT, "%s: resolved '%.80s': no family parameters", what,
                        text);
    /* "KIND=FAMILY KIND=FAMILY ..." */
    for (const char *s = text; s < semi;) {
        const char *e = s + strcspn(s, " ;"), *eq = memchr(s, '=', (size_t)(e - s));
        int k = -1, fi;
        char fam[32];
        for (int i = 0; eq && i < DC_KIND_COUNT; i++)
            if ((size_t)(eq - s) == strlen(dc_kind_name(i)) &&
                strncmp(s, dc_kind_name(i), (size_t)(eq - s)) == 0)
                k = i;
        if (k < 0 || out->fam[k] >= 0 || (size_t)(e - eq - 1) >= sizeof fam)
            return dc_error(DENSECL_ERR_FORMAT, "%s: resolved '%.80s': bad conv kind at '%.*s'",
                            what, text, (int)(e - s), s);
        memcpy(fam, eq + 1, (size_t)(e - eq - 1));
        fam[e - eq - 1] = '\0';
        if ((fi = dc_family_index(fam)) < 0)
            return dc_error(DENSECL_ERR_FORMAT,
                            "%s: resolved: conv family '%s' is not in this "
                            "build",
                            what, fam);
        out->fam[k] = fi;
        out->used |= 1u << fi;
        s = e;
        if (*s == ' ' && s + 1 < semi)
            s++;
        else if (s != semi)
            return dc_error(DENSECL_ERR_FORMAT, "%s: resolved '%.80s': bad separator", what, text);
    }
    /* "; family:NAME=V,...; family:..." with every parameter of every used family, once. */
    unsigned have = 0;
    for (const char *s = semi; *s;) {
        if (s[0] != ';' || s[1] != ' ')
            return dc_error(DENSECL_ERR_FORMAT, "%s: resolved '%.80s': expected '; '", what, text);
        s += 2;
        const char *e = s + strcspn(s, ";"), *colon = memchr(s, ':', (size_t)(e - s));
        char part[512], fam[32];
        unsigned set = 0;
        int fi;
        if (!colon || (size_t)(colon - s) >= sizeof fam || (size_t)(e - s) >= sizeof part)
            return dc_error(DENSECL_ERR_FORMAT, "%s: resolved '%.80s': bad family part", what,
                            text);
        memcpy(fam, s, (size_t)(colon - s));
        fam[colon - s] = '\0';
        memcpy(part, s, (size_t)(e - s));
        part[e - s] = '\0';
        fi = dc_family_index(fam);
        if (fi < 0 || !(out->used & (1u << fi)) || (have & (1u << fi)))
            return dc_error(DENSECL_ERR_FORMAT, "%s: resolved: unexpected parameters of '%s'", what,
                            fam);
        if (dc_params_parse(part, NULL, fi, &out->params[fi], &set, what) != DENSECL_OK)
            return DENSECL_ERR_FORMAT;
        if (set != (1u << dc_families[fi]->n_params) - 1u)
            return dc_error(DENSECL_ERR_FORMAT, "%s: resolved: not every parameter of %s", what,
                            fam);
        have |= 1u << fi;
        s = e;
    }
    if (have != out->used)
        return dc_error(DENSECL_ERR_FORMAT, "%s: resolved: a family without parameters", what);
    out->origin = DENSECL_TILES_GIVEN;
    snprintf(out->why, sizeof out->why, "program binary");
    dc_resolved_derive(out);
    return DENSECL_OK;
}

static void dc_resolved_derive(dc_resolved *r)
{
    r->files = r->used;
    r->defines[0] = '\0';
    for (int i = 0; i < dc_family_count; i++)
        if ((r->used & (1u << i)) && dc_families[i]->defines)
            dc_families[i]->defines(&r->params[i], NULL, r->defines, sizeof r->defines);
    dc_resolved_format(r, r->text, sizeof r->text);
}

/* "3x3,3x3_pre": the kinds of a set, for messages. */
static void dc_kinds_text(unsigned kinds, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (int k = 0; k < DC_KIND_COUNT; k++)
        if (kinds & (1u << k))
            dc_put(buf, cap, "%s%s", buf[0] ? "," : "", dc_kind_name(k));
}

/* The conv kinds plan uses (all of them without a plan). */
static unsigned dc_plan_kinds(const dc_plan *plan)
{
    unsigned set = 0;
    if (!plan)
        return DC_KINDS_ALL;
    for (int i = 0; i < plan->n_ops; i++)
        if (plan->ops[i].kind == DC_OP_CONV)
            set |= 1u << dc_op_conv_kind(&plan->ops[i]);
    return set;
}

/* The kinds of need that out gives family i. */
static unsigned dc_kinds_on(const dc_resolved *out, unsigned need, int i)
{
    unsigned on = 0;
    for (int k = 0; k < DC_KIND_COUNT; k++)
        if ((need & (1u << k)) && out->fam[k] == i)
            on |= 1u << k;
    return on;
}

/* A family's kernel set (its kernels_param) must hold the kernels of the kinds it runs. */
static densecl_status dc_check_kernel_set(const dc_resolved *out, unsigned need, int i,
                                          const char *what, int binary)
{
    const dc_family *f = dc_families[i];
    unsigned on = dc_kinds_on(out, need, i);
    if (f->kernels_param < 0 || !(on & ~(unsigned)out->params[i].v[f->kernels_param]))
        return DENSECL_OK;
    if (binary)
        return dc_error(DENSECL_ERR_MISMATCH,
                        "program binary refused: it was built without conv kernels this model "
                        "needs (%s %s=%d, needs %u); make it again with 'densecl "
                        "compile-kernels'",
                        f->name, f->params[f->kernels_param].name,
                        out->params[i].v[f->kernels_param], on);
    return dc_error(DENSECL_ERR_ARGUMENT, "%s: %s %s=%d leaves out kernels this model needs (%u)",
                    what, f->name, f->params[f->kernels_param].name,
                    out->params[i].v[f->kernels_param], on);
}

/* A program binary's resolution, taken as it is once it covers the model. */
static densecl_status dc_resolve_binary(const dc_caps *caps, const dc_plan *plan,
                                        const char *binary, dc_resolved *out)
{
    unsigned need = dc_plan_kinds(plan);
    densecl_status st;
    if ((st = dc_resolved_parse(binary, "program binary", out)) != DENSECL_OK)
        return st;
    for (int k = 0; k < DC_KIND_COUNT; k++)
        if ((need & (1u << k)) && out->fam[k] < 0)
            return dc_error(DENSECL_ERR_MISMATCH,
                            "program binary refused: it was built without conv kernels this "
                            "model needs (its %s convs); make it again with 'densecl "
                            "compile-kernels'",
                            dc_kind_name(k));
    for (int i = 0; i < dc_family_count; i++)
        if ((out->used & (1u << i)) &&
            (st = dc_check_kernel_set(out, need, i, "program binary", 1)) != DENSECL_OK)
            return st;
    for (int i = 0; i < dc_family_count; i++)
        if ((out->used & (1u << i)) &&
            (st = dc_families[i]->check(caps, &out->params[i], "program binary")) != DENSECL_OK)
            return st;
    /* A family that runs only some convs of a kind (winograd: 3x3/1/1 of the 3x3 kinds) must
     * run every conv of that kind the model has. */
    for (int i = 0; plan && i < plan->n_ops; i++) {
        const dc_op *op = &plan->ops[i];
        char why[200] = "";
        int f = op->kind == DC_OP_CONV ? out->fam[dc_op_conv_kind(op)] : -1;
        if (f > 0 && !dc_families[f]->supports(caps, op, why, sizeof why))
            return dc_error(DENSECL_ERR_MISMATCH,
                            "program binary refused: its %s convs run on %s, which cannot run "
                            "%s (%dx%d/%d pad %d): %s; make it again with 'densecl "
                            "compile-kernels' and DENSECL_CONV=direct",
                            dc_kind_name(dc_op_conv_kind(op)), dc_families[f]->name, op->name,
                            op->k, op->k, op->stride, op->pad, why);
    }
    return DENSECL_OK;
}

/* Whether family i is on: its on_param as kernel_params set it (on when it has none). */
static densecl_status dc_family_on(const dc_caps *caps, const dc_plan *plan, const dc_choice *c,
                                   const char *conv, int i, int *on)
{
    const dc_family *f = dc_families[i];
    dc_params p;
    unsigned set = 0;
    densecl_status st;
    *on = 1;
    if (f->on_param < 0)
        return DENSECL_OK;
    f->defaults(caps, plan, &p);
    if ((st = dc_params_parse(c->kernel_params, conv, i, &p, &set, "kernel_params")) != DENSECL_OK)
        return st;
    *on = p.v[f->on_param] != 0;
    return DENSECL_OK;
}

/* The family wanted for each conv kind (want_k), before supports() is asked: the given one, the
 * tuned one, the first claiming every kind, else direct with what the other families claim.
 * *want: the replica's family; tuned/tuned_params: the tuning file's family and parameters. */
static densecl_status dc_resolve_wanted(const dc_caps *caps, const dc_plan *plan,
                                        const dc_choice *c, const char *conv, int *want_k,
                                        int *want, char *tuned, size_t tcap, char *tuned_params,
                                        size_t pcap, dc_resolved *out)
{
    const int given = conv != NULL;
    unsigned need = dc_plan_kinds(plan), partial = 0;
    int on, default_auto = 0;
    densecl_status st;
    char why[128];
    *want = 0;
    if (given) {
        if ((*want = dc_family_index(conv)) < 0)
            return dc_error(DENSECL_ERR_ARGUMENT, "conv family '%s': %s (auto, %s)", conv,
                            strcmp(conv, "clblast") == 0 ? "this densecl was built without CLBlast"
                                                         : "unknown",
                            dc_family_list());
        snprintf(out->why, sizeof out->why, "given");
    } else if (dc_tuned_family(caps->dev, tuned, tcap, tuned_params, pcap) &&
               dc_family_index(tuned) >= 0) {
        /* What `densecl tune` measured fastest on this device. */
        *want = dc_family_index(tuned);
        snprintf(out->why, sizeof out->why, "auto: tuned");
    } else {
        for (int i = 1; i < dc_family_count && !*want; i++) {
            const dc_family *f = dc_families[i];
            if (f->auto_kinds && f->kinds == DC_KINDS_ALL &&
                f->auto_kinds(caps, why, sizeof why) == DC_KINDS_ALL) {
                *want = i;
                snprintf(out->why, sizeof out->why, "auto: %s", why);
            }
        }
        if (!*want) {
            default_auto = 1;
            snprintf(out->why, sizeof out->why, "auto: default off GPUs");
        }
    }
    if (!plan && !given && *want != 0) {
        /* No model to ask supports() about (a program for any model): the fallback (families
         * that claim some kinds excepted: they take them whole, as for any DenseNet). */
        *want = 0;
        snprintf(out->why, sizeof out->why, "auto: any model, direct");
    }
    /* A family running some kinds only leaves the others to direct. */
    for (int k = 0; k < DC_KIND_COUNT; k++) {
        want_k[k] = *want;
        if (*want > 0 && !(dc_families[*want]->kinds & (1u << k))) {
            want_k[k] = 0;
            partial |= need & (1u << k);
        }
    }
    if (*want > 0) {
        const dc_family *f = dc_families[*want];
        if ((st = dc_family_on(caps, plan, c, given ? conv : NULL, *want, &on)) != DENSECL_OK)
            return st;
        if (!on && given)
            return dc_error(DENSECL_ERR_ARGUMENT,
                            "kernel_params: %s %s=0 turns off the family --conv chose (%s)",
                            f->name, f->params[f->on_param].name, f->name);
        if (!on) {
            /* A tuning file chose it; its ON=0 still turns it off. */
            for (int k = 0; k < DC_KIND_COUNT; k++)
                if (want_k[k] == *want)
                    want_k[k] = 0;
            dc_put(out->why, sizeof out->why, ", %s off (%s=0)", f->name,
                   f->params[f->on_param].name);
        }
    }
    /* auto's default: families claiming some kinds take them from direct where they measured
     * faster, unless kernel_params turns them off. A tuned family, direct included, is taken
     * as it was measured. */
    for (int i = 1; default_auto && i < dc_family_count; i++) {
        const dc_family *f = dc_families[i];
        unsigned claim;
        if (!f->auto_kinds || f->kinds == DC_KINDS_ALL || (plan && !(need & f->kinds)))
            continue;
        if ((st = dc_family_on(caps, plan, c, NULL, i, &on)) != DENSECL_OK)
            return st;
        if (!on) {
            if (plan)
                dc_put(out->why, sizeof out->why, ", %s off (%s=0)", f->name,
                       f->params[f->on_param].name);
            continue;
        }
        claim = f->auto_kinds(caps, why, sizeof why) & f->kinds;
        /* Without a model (`densecl info`, a binary for any model): as an engine would resolve
         * a model whose convs of those kinds it all runs; a binary refuses one it cannot. */
        if (!plan && !claim)
            continue;
        for (int k = 0; k < DC_KIND_COUNT; k++)
            if (claim & (1u << k))
                want_k[k] = i;
        dc_put(out->why, sizeof out->why, ", %s", why);
    }
    if (partial) {
        char kinds[64];
        dc_kinds_text(partial, kinds, sizeof kinds);
        dc_put(out->why, sizeof out->why, ", %s on direct (%s runs no such convs)", kinds,
               dc_families[*want]->name);
    }
    return DENSECL_OK;
}

/* The direct family's parameters: defaults, tiles given / tuned / default (the latter two
 * fitted to plan), KERNELS narrowed to the kinds it runs. */
static densecl_status dc_resolve_direct(const dc_caps *caps, const dc_plan *plan,
                                        const dc_choice *c, unsigned kinds, dc_resolved *out)
{
    dc_params *p = &out->params[0];
    densecl_tiles t;
    densecl_status st;
    dc_family_direct.defaults(caps, plan, p);
    if ((st = dc_tiles_resolve(caps->dev, &c->tiles, &t, &out->origin)) != DENSECL_OK)
        return st;
    dc_direct_from_tiles(&t, p);
    /* Default and tuned tiles are fitted to the model; given ones stay as given. */
    if (plan && out->origin != DENSECL_TILES_GIVEN)
        dc_direct_fit(p, plan);
    p->v[DC_DIRECT_KERNELS] = (int)kinds;
    return DENSECL_OK;
}

/* Parameters of each family the resolution runs: defaults (direct: its tiles), the tuned
 * family's own, then kernel_params. Parts for families it does not run are still checked
 * against their specs. */
static densecl_status dc_resolve_params(const dc_caps *caps, const dc_plan *plan,
                                        const dc_choice *c, const char *conv, int want,
                                        const char *tuned, const char *tuned_params,
                                        dc_resolved *out)
{
    const char *what = "kernel_params";
    unsigned need = dc_plan_kinds(plan);
    densecl_status st;
    for (int i = 0; i < dc_family_count; i++) {
        unsigned set = 0;
        if (!(out->used & (1u << i))) {
            dc_params scratch;
            if ((st = dc_params_parse(c->kernel_params, conv, -1, &scratch, &set, what)) !=
                DENSECL_OK)
                return st;
            continue;
        }
        if (i == 0)
            st = dc_resolve_direct(caps, plan, c, dc_kinds_on(out, need, 0), out);
        else {
            dc_families[i]->defaults(caps, plan, &out->params[i]);
            st = DENSECL_OK;
        }
        if (st == DENSECL_OK && !conv && tuned_params[0] && i == want) {
            /* An invalid line is logged and ignored, as invalid tuned tiles are. */
            dc_params tp = out->params[i];
            if (dc_params_parse(tuned_params, tuned, i, &tp, &set, "tuning file params") ==
                    DENSECL_OK &&
                dc_families[i]->check(caps, &tp, "tuning file params") == DENSECL_OK)
                out->params[i] = tp;
            else
                dc_log(DENSECL_LOG_WARN, "ignoring the tuned parameters (%s)",
                       densecl_last_error());
            dc_clear_error();
        }
        if (st == DENSECL_OK)
            st = dc_params_parse(c->kernel_params, conv, i, &out->params[i], &set, what);
        if (st != DENSECL_OK)
            return st;
        if (i == 0 && (set & 15u))
            out->origin = DENSECL_TILES_GIVEN;
        if ((st = dc_check_kernel_set(out, need, i, what, 0)) != DENSECL_OK)
            return st;
        if (set)
            dc_put(out->why, sizeof out->why, ", %s parameters given", dc_families[i]->name);
        if ((st = dc_families[i]->check(caps, &out->params[i], what)) != DENSECL_OK)
            return st;
    }
    if (out->used & 1u) {
        if (out->origin == DENSECL_TILES_TUNED)
            dc_put(out->why, sizeof out->why, ", direct tiles tuned");
        else if (out->origin == DENSECL_TILES_GIVEN && !strstr(out->why, "direct parameters"))
            dc_put(out->why, sizeof out->why, ", direct tiles given");
    }
    return DENSECL_OK;
}

densecl_status dc_resolve(const dc_caps *caps, const dc_plan *plan, const dc_choice *c,
                          dc_resolved *out)
{
    static const dc_choice none;
    const char *conv;
    unsigned need = dc_plan_kinds(plan), refused = 0;
    int want, want_k[DC_KIND_COUNT];
    densecl_status st;
    char fallback[128] = "", tuned[64] = "", tuned_params[256] = "";
    if (!c)
        c = &none;
    memset(out, 0, sizeof *out);
    for (int k = 0; k < DC_KIND_COUNT; k++)
        out->fam[k] = -1;
    if (c->binary)
        return dc_resolve_binary(caps, plan, c->binary, out);

    conv = c->conv ? c->conv : getenv("DENSECL_CONV");
    if (!conv || !*conv || strcmp(conv, "auto") == 0)
        conv = NULL;
    if ((st = dc_resolve_wanted(caps, plan, c, conv, want_k, &want, tuned, sizeof tuned,
                                tuned_params, sizeof tuned_params, out)) != DENSECL_OK)
        return st;

    /* Which kinds each wanted family runs: all of a kind's convs, or none of them. */
    for (int i = 0; plan && i < plan->n_ops; i++) {
        const dc_op *op = &plan->ops[i];
        char why[200] = "";
        if (op->kind != DC_OP_CONV)
            continue;
        int k = dc_op_conv_kind(op), f = want_k[k];
        if (f <= 0 || refused & (1u << k) || dc_families[f]->supports(caps, op, why, sizeof why))
            continue;
        if (conv)
            return dc_error(DENSECL_ERR_UNSUPPORTED,
                            "conv family %s cannot run %s (%dx%d/%d conv, %d -> %d channels) on "
                            "'%s': %s",
                            dc_families[f]->name, op->name, op->k, op->k, op->stride, op->in_c,
                            op->out_c, caps->name, why);
        if (!refused)
            snprintf(fallback, sizeof fallback, "; %s: %.100s", dc_families[f]->name, why);
        refused |= 1u << k;
    }
    for (int k = 0; k < DC_KIND_COUNT; k++) {
        if (!(need & (1u << k)))
            continue;
        out->fam[k] = (refused & (1u << k)) ? 0 : want_k[k];
        out->used |= 1u << out->fam[k];
    }
    if (refused) {
        char kinds[64];
        dc_kinds_text(refused, kinds, sizeof kinds);
        dc_put(out->why, sizeof out->why, ", %s on direct%s", kinds, fallback);
    }
    if ((st = dc_resolve_params(caps, plan, c, conv, want, tuned, tuned_params, out)) != DENSECL_OK)
        return st;
    dc_resolved_derive(out);
    return DENSECL_OK;
}
