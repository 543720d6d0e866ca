/* SPDX-License-Identifier: MIT */
/* registry.c - the conv families of this build, one row each (conv.h says how to add one). The
 * only file that names a family other than direct. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conv/conv.h"

extern const dc_family dc_family_gemm;
extern const dc_family dc_family_clblast;
extern const dc_family dc_family_winograd;

/* One row per family; index 0 (direct) is the fallback of every conv. */
const dc_family *const dc_families[] = {
    &dc_family_direct,
    &dc_family_gemm,
    /* Always listed: built without CLBlast, its supports() says so, auto skips it and an
     * explicit --conv clblast is refused with that reason. */
    &dc_family_clblast,
    /* The 3x3/1/1 convs only (its kinds); auto's choice for them on CPUs where it measured
     * faster (its auto_kinds). */
    &dc_family_winograd,
};
const int dc_family_count = (int)DC_ARRAY_LEN(dc_families);
_Static_assert(DC_ARRAY_LEN(dc_families) <= DC_FAMILY_SLOTS, "raise DC_FAMILY_SLOTS");

const char *dc_family_list(void)
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

int dc_param_index(const dc_family *f, const char *name)
{
    for (int j = 0; f && name && j < f->n_params; j++)
        if (strcasecmp(f->params[j].name, name) == 0)
            return j;
    return -1;
}

cl_int dc_conv_launch(const dc_family *f, dc_exec *x, void *state, const dc_bound *bound)
{
    return f->launch ? f->launch(x, state, bound) : dc_bound_launch(x, bound);
}

void dc_conv_unbind(const dc_family *f, dc_bound *bound)
{
    if (f->unbind)
        f->unbind(bound);
    else
        dc_bound_free(bound);
}

cl_int dc_conv_enqueue(const dc_family *f, cl_command_queue q, void *state, const dc_params *p,
                       const dc_conv_args *a, dc_mem ws, cl_event *ev)
{
    dc_bound *b = NULL;
    dc_exec x;
    cl_int err;
    if (ev)
        *ev = NULL;
    if (!f || !state)
        return CL_INVALID_KERNEL;
    err = f->bind(state, p, a, ws, &b);
    dc_exec_init(&x, q, ev != NULL);
    if (err == CL_SUCCESS)
        err = dc_conv_launch(f, &x, state, b);
    if (err == CL_SUCCESS && ev && x.last && clRetainEvent(x.last) == CL_SUCCESS)
        *ev = x.last;
    dc_exec_release(&x);
    if (b)
        dc_conv_unbind(f, b);
    return err;
}
