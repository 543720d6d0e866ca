/*
 * conv_clblast.c - PLACEHOLDER for the "clblast" conv family, so that this branch (fam) builds
 * and its registry row exists. NOT an implementation: supports() refuses every conv ("not built
 * in this branch"), so auto never picks it and an explicit --conv clblast is refused with that
 * reason. The real host/conv_clblast.c (and kernels/clblast.cl) replace this file at merge.
 */
#include <string.h>

#include "family.h"

static int placeholder_supports(const dc_caps *caps, const dc_op *op, char *why, size_t cap)
{
    (void)caps;
    (void)op;
    if (why && cap)
        snprintf(why, cap, "not built in this branch");
    return 0;
}

static void placeholder_defaults(const dc_caps *caps, const dc_plan *plan, dc_params *p)
{
    (void)caps;
    (void)plan;
    memset(p, 0, sizeof *p);
}

static densecl_status placeholder_check(const dc_caps *caps, const dc_params *p, const char *what)
{
    (void)caps;
    (void)p;
    return dc_error(DENSECL_ERR_UNSUPPORTED, "%s: the clblast family is not built in this branch",
                    what);
}

static const char *const placeholder_sources[] = {NULL};

const dc_family dc_family_clblast = {
    "clblast", placeholder_sources, NULL, 0, placeholder_supports, placeholder_defaults,
    placeholder_check, NULL, NULL, NULL, NULL, NULL, NULL,
};
