/* SPDX-License-Identifier: MIT */
/* profile.c - a run's profile: each op's first and last kernel events (and its launch count)
 * kept until its job has finished, then turned into the engine's densecl_op_event list. */
#include <stdlib.h>
#include <string.h>

#include "runtime/engine_impl.h"

const char *dc_op_kind_name(const dc_op *op)
{
    static const char *const conv[] = {"conv1x1", "conv3x3", "conv7x7", "conv"};
    switch (op->kind) {
    case DC_OP_CONV:
        return conv[op->k == 1 ? 0 : op->k == 3 ? 1 : op->k == 7 ? 2 : 3];
    case DC_OP_MAXPOOL:
        return "maxpool";
    case DC_OP_BNRELU_AVGPOOL:
        return "bnrelu_avgpool";
    case DC_OP_BNRELU_GAP:
        return "bnrelu_gap";
    case DC_OP_LINEAR:
        return "linear";
    default:
        return "op";
    }
}

/* Returns the record of an op to profile, or NULL when profiling is off (or out of memory:
 * profiling then misses an op, the run itself goes on). */
dc_pending *dc_profile_add(dc_profile *prof, int on, int replica, const char *name,
                           const char *kind, uint64_t macs)
{
    if (!on)
        return NULL;
    if (prof->n == prof->cap) {
        int cap = prof->cap ? 2 * prof->cap : 256;
        dc_pending *p = realloc(prof->pend, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        prof->pend = p;
        prof->cap = cap;
    }
    dc_pending *p = &prof->pend[prof->n++];
    *p = (dc_pending){NULL, NULL, replica, 0, name, kind, macs};
    return p;
}

/* Hands *ev, one command's event, to a profile record (which takes the reference) or releases
 * it. */
void dc_profile_keep(dc_pending *p, cl_event *ev)
{
    if (p && *ev && clRetainEvent(*ev) == CL_SUCCESS) {
        p->first = *ev;
        p->last = *ev;
        p->launches = 1;
    } else {
        dc_release_event(ev);
    }
    *ev = NULL;
}

/* Gives an op's first and last kernel events (x's, retained) to its profile record. */
void dc_profile_op(dc_pending *p, const dc_exec *x)
{
    if (!p)
        return;
    p->launches = x->launches;
    if (x->first && clRetainEvent(x->first) == CL_SUCCESS)
        p->first = x->first;
    if (x->last && clRetainEvent(x->last) == CL_SUCCESS)
        p->last = x->last;
}

/* Turns the job's profiled events into e->events, times relative to the earliest start. */
void dc_profile_collect(const dc_profile *prof, densecl_engine *e)
{
    cl_ulong origin = 0;
    e->n_events = 0;
    if (!prof->n)
        return;
    if (e->cap_events < prof->n) {
        densecl_op_event *v = realloc(e->events, (size_t)prof->n * sizeof *v);
        if (!v)
            return;
        e->events = v;
        e->cap_events = prof->n;
    }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < prof->n; i++) {
            cl_ulong s = 0, t = 0;
            const dc_pending *p = &prof->pend[i];
            /* From the op's first kernel's start to its last kernel's end. */
            if (!p->first || !p->last ||
                clGetEventProfilingInfo(p->first, CL_PROFILING_COMMAND_START, sizeof s, &s, NULL) !=
                    CL_SUCCESS ||
                clGetEventProfilingInfo(p->last, CL_PROFILING_COMMAND_END, sizeof t, &t, NULL) !=
                    CL_SUCCESS)
                continue;
            if (pass == 0) {
                if (!origin || s < origin)
                    origin = s;
                continue;
            }
            densecl_op_event *o = &e->events[e->n_events++];
            o->name = p->name;
            o->kind = p->kind;
            o->replica = p->replica;
            o->macs = p->macs;
            o->start_us = (double)(s - origin) * 1e-3;
            o->duration_us = t > s ? (double)(t - s) * 1e-3 : 0;
            o->launches = p->launches;
        }
}

void dc_profile_free(dc_profile *prof)
{
    for (int i = 0; i < prof->n; i++) {
        dc_release_event(&prof->pend[i].first);
        dc_release_event(&prof->pend[i].last);
    }
    free(prof->pend);
    memset(prof, 0, sizeof *prof);
}
