/* SPDX-License-Identifier: MIT */
/*
 * resolve.c - the family registry, device capabilities, and the one resolution per replica of
 * which family runs each conv kind with which parameters (family.h). Everything after it (the
 * program's -D options, the weight packing, the launches, the binary's "resolved=" line, the
 * stats) reads the dc_resolved it makes; nothing changes it.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conv/conv.h"

/* One row per family; index 0 (direct) is the fallback of every conv. */
const dc_family *const dc_families[] = {
    &dc_family_direct,
    &dc_family_gemm,
    /* Always listed: built without CLBlast, its supports() says so, auto skips it and an
     * explicit --conv clblast is refused with that reason. */
    &dc_family_clblast,
    /* The 3x3/1/1 convs only (its kinds); auto's choice for them on CPUs where it measured
     * faster (dc_winograd_auto). */
    &dc_family_winograd,
};
const int dc_family_count = (int)DC_ARRAY_LEN(dc_families);
_Static_assert(DC_ARRAY_LEN(dc_families) <= DC_FAMILY_SLOTS, "raise DC_FAMILY_SLOTS");

/* The conv kinds family fi runs at all (bit DC_KIND_*): winograd's 3x3 ones, every kind for
 * the others. A replica that chose a family runs the kinds outside its set on direct. */
static unsigned dc_family_kinds(int fi)
{
    if (fi >= 0 && fi < dc_family_count && dc_families[fi] == &dc_family_winograd)
        return DC_WINO_KINDS;
    return (1u << DC_KIND_COUNT) - 1u;
}

/* "direct, gemm, clblast": the families of this build, for messages. */
static const char *dc_family_list(void)
{
    static char list[256];
    list[0] = '\0';
    for (int i = 0; i < dc_family_count; i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", dc_families[i]->name);
    }
    return list;
}

int dc_family_index(const char *name)
{
    for (int i = 0; name && i < dc_family_count; i++)
        if (strcmp(dc_families[i]->name, name) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------ kernel_params text */

/* A decimal of at most 9 digits at *s (no sign); advances *s. */
static int dc_parse_uint(const char **s, int *out)
{
    const char *p = *s;
    int v = 0, digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (++digits > 9)
            return 0;
        v = v * 10 + (*p++ - '0');
    }
    if (!digits)
        return 0;
    *out = v;
    *s = p;
    return 1;
}

/* Sets parameter j of family f from text value [v, end); 1 when it parses and is in range. */
static int dc_param_value(const dc_family *f, int j, const char *v, const char *end, int *out)
{
    int x;
    if (!dc_parse_uint(&v, &x) || v != end)
        return 0;
    if (x < f->params[j].lo || x > f->params[j].hi)
        return 0;
    *out = x;
    return 1;
}

/* One "NAME=VALUE" item [s, end) of family f into p (set marks it). */
static densecl_status dc_param_item(const dc_family *f, const char *s, const char *end,
                                    dc_params *p, unsigned *set, const char *what)
{
    const char *eq = memchr(s, '=', (size_t)(end - s));
    int len = (int)(end - s);
    if (!eq || eq == s)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: expected NAME=VALUE, got '%.*s'", what, len, s);
    size_t nlen = (size_t)(eq - s);
    /* The direct family's tiles as "1x1=CxP" and "conv=CxP" (densecl_tiles' text form). */
    if (f == &dc_family_direct && ((nlen == 3 && strncmp(s, "1x1", 3) == 0) ||
                                   (nlen == 4 && strncmp(s, "conv", 4) == 0))) {
        char tile[32];
        int c, px, base = nlen == 3 ? DC_DIRECT_FLAT_CO : DC_DIRECT_TCO;
        if ((size_t)(end - eq - 1) >= sizeof tile)
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: '%.*s': expected CxP", what, len, s);
        memcpy(tile, eq + 1, (size_t)(end - eq - 1));
        tile[end - eq - 1] = '\0';
        if (!dc_parse_tile(tile, &c, &px))
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: '%.*s': expected CxP", what, len, s);
        if (*set & (3u << base))
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: '%.*s' given twice", what, len, s);
        p->v[base] = c;
        p->v[base + 1] = px;
        *set |= 3u << base;
        return DENSECL_OK;
    }
    for (int j = 0; j < f->n_params; j++) {
        if (strlen(f->params[j].name) != nlen || strncasecmp(f->params[j].name, s, nlen) != 0)
            continue;
        if (*set & (1u << j))
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: %s %s given twice", what, f->name,
                            f->params[j].name);
        if (!dc_param_value(f, j, eq + 1, end, &p->v[j]))
            return dc_error(DENSECL_ERR_ARGUMENT,
                            "%s: %s %s='%.*s' (a whole number from %d to %d: %s)", what, f->name,
                            f->params[j].name, (int)(end - eq - 1), eq + 1, f->params[j].lo,
                            f->params[j].hi, f->params[j].doc);
        *set |= 1u << j;
        return DENSECL_OK;
    }
    char names[512] = "";
    for (int j = 0; j < f->n_params; j++) {
        size_t l = strlen(names);
        snprintf(names + l, sizeof names - l, "%s%s", j ? ", " : "", f->params[j].name);
    }
    return dc_error(DENSECL_ERR_ARGUMENT, "%s: the %s family has no parameter '%.*s' (it has: %s)",
                    what, f->name, (int)nlen, s, f->n_params ? names : "none");
}

densecl_status dc_params_parse(const char *text, const char *default_family, int fam,
                               dc_params *p, unsigned *set, const char *what)
{
    unsigned seen_fam = 0;
    dc_params scratch;
    *set = 0;
    if (!text)
        return DENSECL_OK;
    for (const char *part = text; *part;) {
        const char *pend = part + strcspn(part, ";");
        const char *colon = memchr(part, ':', (size_t)(pend - part));
        const char *items = part;
        int fi;
        if (pend == part)
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: empty part in '%s'", what, text);
        if (colon) {
            char name[32];
            size_t nl = (size_t)(colon - part);
            if (nl == 0 || nl >= sizeof name)
                return dc_error(DENSECL_ERR_ARGUMENT, "%s: no family name before ':' in '%.*s'",
                                what, (int)(pend - part), part);
            memcpy(name, part, nl);
            name[nl] = '\0';
            fi = dc_family_index(name);
            if (fi < 0)
                return dc_error(DENSECL_ERR_ARGUMENT,
                                "%s: unknown conv family '%s' (this build has: %s)", what, name,
                                dc_family_list());
            items = colon + 1;
        } else {
            fi = dc_family_index(default_family);
            if (fi < 0)
                return dc_error(DENSECL_ERR_ARGUMENT,
                                "%s: say which family '%.*s' is for, as family:NAME=VALUE (the "
                                "conv choice is auto)",
                                what, (int)(pend - part), part);
        }
        if (seen_fam & (1u << fi))
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: family %s given twice", what,
                            dc_families[fi]->name);
        seen_fam |= 1u << fi;
        unsigned fset = 0;
        dc_params *dst = fi == fam ? p : &scratch;
        if (items == pend)
            return dc_error(DENSECL_ERR_ARGUMENT, "%s: no parameters for %s", what,
                            dc_families[fi]->name);
        for (const char *it = items; it < pend;) {
            const char *iend = it + strcspn(it, ",;");
            densecl_status st;
            if (iend > pend)
                iend = pend;
            if ((st = dc_param_item(dc_families[fi], it, iend, dst, &fset, what)) != DENSECL_OK)
                return st;
            it = iend;
            if (it < pend && *it == ',') {
                it++;
                if (it == pend)
                    return dc_error(DENSECL_ERR_ARGUMENT, "%s: trailing ',' in '%s'", what, text);
            }
        }
        if (fi == fam)
            *set = fset;
        part = pend;
        if (*part == ';') {
            part++;
            if (!*part)
                return dc_error(DENSECL_ERR_ARGUMENT, "%s: trailing ';' in '%s'", what, text);
        }
    }
    return DENSECL_OK;
}

/* ------------------------------------------------------------------ text of a resolution */

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
            return dc_error(DENSECL_ERR_FORMAT, "%s: resolved: conv family '%s' is not in this "
                            "build", what, fam);
        out->fam[k] = fi;
        out->used |= 1u << fi;
        s = e;
        if (*s == ' ' && s + 1 < semi)
            s++;
        else if (s != semi)
            return dc_error(DENSECL_ERR_FORMAT, "%s: resolved '%.80s': bad separator", what,
                            text);
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
            return dc_error(DENSECL_ERR_FORMAT, "%s: resolved: unexpected parameters of '%s'",
                            what, fam);
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
    return DENSECL_OK;
}

void dc_resolved_defines(const dc_resolved *r, char *buf, size_t cap)
{
    if (cap)
        buf[0] = '\0';
    for (int i = 0; i < dc_family_count; i++)
        if ((r->used & (1u << i)) && dc_families[i]->defines)
            dc_families[i]->defines(&r->params[i], NULL, buf, cap);
}

unsigned dc_resolved_families(const dc_resolved *r)
{
    return r->used;
}

/* ------------------------------------------------------------------ resolution */

/* The conv kinds plan uses (all of them without a plan). */
static unsigned dc_plan_kinds(const dc_plan *plan)
{
    unsigned set = 0;
    if (!plan)
        return (1u << DC_KIND_COUNT) - 1u;
    for (int i = 0; i < plan->n_ops; i++)
        if (plan->ops[i].kind == DC_OP_CONV)
            set |= 1u << dc_op_conv_kind(&plan->ops[i]);
    return set;
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

densecl_status dc_resolve(const dc_caps *caps, const dc_plan *plan, const dc_choice *c,
                          dc_resolved *out)
{
    static const dc_choice none;
    const char *conv, *what = "kernel_params";
    unsigned need = dc_plan_kinds(plan), on[DC_FAMILY_SLOTS] = {0};
    int want, given, cpu_default = 0;
    densecl_status st;
    char fallback[128] = "", tuned[64] = "", tuned_params[256] = "";
    if (!c)
        c = &none;
    memset(out, 0, sizeof *out);
    for (int k = 0; k < DC_KIND_COUNT; k++)
        out->fam[k] = -1;

    if (c->binary) {
        if ((st = dc_resolved_parse(c->binary, "program binary", out)) != DENSECL_OK)
            return st;
        for (int k = 0; k < DC_KIND_COUNT; k++)
            if ((need & (1u << k)) && out->fam[k] < 0)
                return dc_error(DENSECL_ERR_MISMATCH,
                                "program binary refused: it was built without conv kernels this "
                                "model needs (its %s convs); make it again with 'densecl "
                                "compile-kernels'",
                                dc_kind_name(k));
        unsigned on_direct = 0;
        for (int k = 0; k < DC_KIND_COUNT; k++)
            if ((need & (1u << k)) && out->fam[k] == 0)
                on_direct |= 1u << k;
        if (on_direct & ~(unsigned)out->params[0].v[DC_DIRECT_KERNELS])
            return dc_error(DENSECL_ERR_MISMATCH,
                            "program binary refused: it was built without conv kernels this "
                            "model needs (direct KERNELS=%d, needs %u); make it again with "
                            "'densecl compile-kernels'",
                            out->params[0].v[DC_DIRECT_KERNELS], on_direct);
        const int wi = dc_family_index("winograd");
        unsigned on_wino = 0;
        for (int k = 0; wi > 0 && k < DC_KIND_COUNT; k++)
            if ((need & (1u << k)) && out->fam[k] == wi)
                on_wino |= 1u << k;
        if (on_wino & ~(unsigned)out->params[wi].v[DC_WINO_KERNELS])
            return dc_error(DENSECL_ERR_MISMATCH,
                            "program binary refused: it was built without conv kernels this "
                            "model needs (winograd KERNELS=%d, needs %u); make it again with "
                            "'densecl compile-kernels'",
                            out->params[wi].v[DC_WINO_KERNELS], on_wino);
        for (int i = 0; i < dc_family_count; i++)
            if ((out->used & (1u << i)) &&
                (st = dc_families[i]->check(caps, &out->params[i], "program binary")) !=
                    DENSECL_OK)
                return st;
        /* A family that runs only some convs of a kind (winograd: 3x3/1/1 of the 3x3 kinds)
         * must run every conv of that kind the model has. */
        for (int i = 0; plan && i < plan->n_ops; i++) {
            const dc_op *op = &plan->ops[i];
            char why[200] = "";
            int f = op->kind == DC_OP_CONV ? out->fam[dc_op_conv_kind(op)] : -1;
            if (f > 0 && !dc_families[f]->supports(caps, op, why, sizeof why))
                return dc_error(DENSECL_ERR_MISMATCH,
                                "program binary refused: its %s convs run on %s, which cannot "
                                "run %s (%dx%d/%d pad %d): %s; make it again with 'densecl "
                                "compile-kernels' and DENSECL_CONV=direct",
                                dc_kind_name(dc_op_conv_kind(op)), dc_families[f]->name, op->name,
                                op->k, op->k, op->stride, op->pad, why);
        }
        return DENSECL_OK;
    }

    conv = c->conv ? c->conv : getenv("DENSECL_CONV");
    if (!conv || !*conv)
        conv = "auto";
    given = strcmp(conv, "auto") != 0;
    if (given) {
        want = dc_family_index(conv);
        if (want < 0)
            return dc_error(DENSECL_ERR_ARGUMENT, "conv family '%s': %s (auto, %s)", conv,
                            strcmp(conv, "clblast") == 0
                                ? "this densecl was built without CLBlast"
                                : "unknown",
                            dc_family_list());
        snprintf(out->why, sizeof out->why, "given");
    } else if (dc_tuned_family(caps->dev, tuned, sizeof tuned, tuned_params,
                               sizeof tuned_params) &&
               dc_family_index(tuned) >= 0) {
        /* What `densecl tune` measured fastest on this device. */
        want = dc_family_index(tuned);
        snprintf(out->why, sizeof out->why, "auto: tuned");
    } else if (caps->type & CL_DEVICE_TYPE_GPU) {
        want = dc_family_index("gemm");
        snprintf(out->why, sizeof out->why, "auto: GPU default");
    } else {
        want = 0;
        cpu_default = 1;
        snprintf(out->why, sizeof out->why, "auto: default off GPUs");
    }
    if (!plan && !given && want != 0) {
        /* No model to ask supports() about (a program for any model): the fallback (winograd
         * below excepted: it takes the 3x3 kinds whole, as it would for any DenseNet). */
        want = 0;
        snprintf(out->why, sizeof out->why, "auto: any model, direct");
    }

    /* The family wanted per conv kind: a family that runs some kinds only (dc_family_kinds)
     * leaves the others to direct; off GPUs, auto's default (no tuned family) gives the 3x3
     * kinds to winograd where that measured faster, unless kernel_params turns it off
     * (winograd:ON=0). A tuned family, direct included, is taken as it was measured. */
    int want_k[DC_KIND_COUNT];
    unsigned partial = 0;
    for (int k = 0; k < DC_KIND_COUNT; k++) {
        want_k[k] = want;
        if (want > 0 && !(dc_family_kinds(want) & (1u << k))) {
            want_k[k] = 0;
            partial |= need & (1u << k);
        }
    }
    {
        const int wi = dc_family_index("winograd");
        dc_params wp;
        unsigned wset = 0;
        char wwhy[96] = "";
        dc_family_winograd.defaults(caps, plan, &wp);
        if ((st = dc_params_parse(c->kernel_params, given ? conv : NULL, wi, &wp, &wset,
                                  what)) != DENSECL_OK)
            return st;
        if (given && want == wi && !wp.v[DC_WINO_ON])
            return dc_error(DENSECL_ERR_ARGUMENT,
                            "%s: winograd ON=0 turns off the family --conv chose (winograd)", what);
        if (!given && want == wi && !wp.v[DC_WINO_ON]) {
            /* A tuning file chose winograd; ON=0 still turns it off. */
            for (int k = 0; k < DC_KIND_COUNT; k++)
                if (want_k[k] == wi)
                    want_k[k] = 0;
            dc_put(out->why, sizeof out->why, ", winograd off (ON=0)");
        }
        if (cpu_default && plan && (need & DC_WINO_KINDS)) {
            if (!wp.v[DC_WINO_ON])
                dc_put(out->why, sizeof out->why, ", winograd off (ON=0)");
            else if (dc_winograd_auto(caps, wwhy, sizeof wwhy)) {
                for (int k = 0; k < DC_KIND_COUNT; k++)
                    if (DC_WINO_KINDS & (1u << k))
                        want_k[k] = wi;
                dc_put(out->why, sizeof out->why, ", 3x3 on winograd: %s", wwhy);
            } else {
                dc_put(out->why, sizeof out->why, ", 3x3 on direct: %s", wwhy);
            }
        } else if (cpu_default && !plan && wp.v[DC_WINO_ON] &&
                   dc_winograd_auto(caps, wwhy, sizeof wwhy)) {
            /* No model (`densecl info`, a program binary for any model): as an engine would
             * resolve a model whose 3x3 convs are all 3x3/1/1, so that a binary gives the
             * engine's results; a binary refuses a model with others (below). */
            for (int k = 0; k < DC_KIND_COUNT; k++)
                if (DC_WINO_KINDS & (1u << k))
                    want_k[k] = wi;
            dc_put(out->why, sizeof out->why, ", 3x3 on winograd: %s", wwhy);
        }
    }

    /* Which kinds each wanted family runs: all of a kind's convs, or none of them. */
    unsigned refused = 0;
    for (int i = 0; plan && i < plan->n_ops; i++) {
        const dc_op *op = &plan->ops[i];
        char why[200] = "";
        if (op->kind != DC_OP_CONV)
            continue;
        int k = dc_op_conv_kind(op), f = want_k[k];
        if (f <= 0 || refused & (1u << k) || dc_families[f]->supports(caps, op, why, sizeof why))
            continue;
        if (given)
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
        on[out->fam[k]] |= 1u << k;
        out->used |= 1u << out->fam[k];
    }
    if (partial) {
        char kinds[64] = "";
        for (int k = 0; k < DC_KIND_COUNT; k++)
            if (partial & (1u << k))
                dc_put(kinds, sizeof kinds, "%s%s", kinds[0] ? "," : "", dc_kind_name(k));
        dc_put(out->why, sizeof out->why, ", %s on direct (%s runs no such convs)", kinds,
               dc_families[want]->name);
    }
    if (refused) {
        char kinds[64] = "";
        for (int k = 0; k < DC_KIND_COUNT; k++)
            if (refused & (1u << k))
                dc_put(kinds, sizeof kinds, "%s%s", kinds[0] ? "," : "", dc_kind_name(k));
        dc_put(out->why, sizeof out->why, ", %s on direct%s", kinds, fallback);
    }

    /* Parameters: defaults, then the legacy tiles (direct), then kernel_params. Parts for
     * families this replica does not run are still checked against their specs. */
    for (int i = 0; i < dc_family_count; i++) {
        unsigned set = 0;
        if (!(out->used & (1u << i))) {
            dc_params scratch;
            if ((st = dc_params_parse(c->kernel_params, given ? conv : NULL, -1, &scratch, &set,
                                      what)) != DENSECL_OK)
                return st;
            continue;
        }
        if (i == 0)
            st = dc_resolve_direct(caps, plan, c, on[0], out);
        else {
            dc_families[i]->defaults(caps, plan, &out->params[i]);
            st = DENSECL_OK;
        }
        /* The tuned family's own parameters, then the caller's. */
        if (st == DENSECL_OK && !given && tuned_params[0] && i == want) {
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
            st = dc_params_parse(c->kernel_params, given ? conv : NULL, i, &out->params[i], &set,
                                 what);
        if (st != DENSECL_OK)
            return st;
        if (i == 0 && (set & 15u))
            out->origin = DENSECL_TILES_GIVEN;
        if (i == 0 && (on[0] & ~(unsigned)out->params[0].v[DC_DIRECT_KERNELS]))
            return dc_error(DENSECL_ERR_ARGUMENT,
                            "%s: direct KERNELS=%d leaves out kernels this model needs (%u)",
                            what, out->params[0].v[DC_DIRECT_KERNELS], on[0]);
        if (i > 0 && i == dc_family_index("winograd") &&
            (on[i] & ~(unsigned)out->params[i].v[DC_WINO_KERNELS]))
            return dc_error(DENSECL_ERR_ARGUMENT,
                            "%s: winograd KERNELS=%d leaves out kernels this model needs (%u)",
                            what, out->params[i].v[DC_WINO_KERNELS], on[i]);
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
