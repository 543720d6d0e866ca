/* SPDX-License-Identifier: MIT */
/* params.c - kernel_params text ("family:NAME=V,...;family:...") into a family's parameters,
 * checked against its dc_param_spec table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conv/conv.h"

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
    if (f == &dc_family_direct &&
        ((nlen == 3 && strncmp(s, "1x1", 3) == 0) || (nlen == 4 && strncmp(s, "conv", 4) == 0))) {
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

densecl_status dc_params_parse(const char *text, const char *default_family, int fam, dc_params *p,
                               unsigned *set, const char *what)
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
