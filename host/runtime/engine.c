/* SPDX-License-Identifier: MIT */
/* engine.c - the densecl_engine handle: creation (config -> plan -> fold once, then a replica
 * per device, replica.c, and a calibration run when there are several, sched.c), free, and the
 * accessors. Runs are in sched.c. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/engine_impl.h"

/* The engine, its model plan and the weights folded for it (config -> plan -> fold; each
 * replica then packs and uploads). */
static densecl_status dc_engine_alloc(const densecl_weights *w, densecl_engine **out)
{
    densecl_status st;
    if (!out)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_engine_create: out is NULL");
    *out = NULL;
    if (!w)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_engine_create: no weights");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
    (*out)->cfg = w->cfg;
    (*out)->input = w->tensors.input;
    if (pthread_mutex_init(&(*out)->lock, NULL) != 0) {
        free(*out);
        *out = NULL;
        return dc_error(DENSECL_ERR_NO_MEMORY, "cannot create a mutex");
    }
    int min = densecl_config_min_size(&w->cfg);
    if ((st = dc_plan_build(&w->cfg, 1, min, min, &(*out)->model)) != DENSECL_OK ||
        (st = dc_fold(&(*out)->model, &w->tensors, &(*out)->params)) != DENSECL_OK) {
        densecl_engine_free(*out);
        *out = NULL;
        return st;
    }
    return DENSECL_OK;
}

/* The folded weights are on every device now: the host copy goes. */
static void dc_engine_drop_params(densecl_engine *e)
{
    dc_params_free(e->params, e->model.n_ops);
    e->params = NULL;
}

/* Sub-devices made for thread limits, one per root device and thread count, shared by the engines
 * that ask for the same and never released: POCL 3.1's pthread driver may still be finishing a
 * command's event in its worker thread after clFinish has returned, and a sub-device released
 * then was freed under it (test_engine_options crashed in POclReleaseEvent about one run in six).
 * Root devices are never released either; this keeps a few small objects per process. */
#define DC_MAX_SUBDEVICES 64
static pthread_mutex_t dc_subs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    cl_device_id parent, sub;
    int threads;
} dc_subs[DC_MAX_SUBDEVICES];
static int dc_n_subs;

/* A sub-device of `threads` compute units of dev (made once), or an error. */
static densecl_status dc_subdevice(cl_device_id dev, const densecl_device_info *info, int threads,
                                   cl_device_id *out)
{
    cl_device_partition_property kinds[8] = {0};
    size_t got = 0;
    cl_uint count = 0;
    cl_device_id sub = NULL;
    densecl_status st = DENSECL_OK;
    pthread_mutex_lock(&dc_subs_lock);
    for (int i = 0; i < dc_n_subs; i++)
        if (dc_subs[i].parent == dev && dc_subs[i].threads == threads)
            sub = dc_subs[i].sub;
    if (sub)
        goto done;
    int by_counts = 0, equally = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_PARTITION_PROPERTIES, sizeof kinds, kinds, &got) ==
        CL_SUCCESS)
        for (size_t k = 0; k < got / sizeof kinds[0] && k < DC_ARRAY_LEN(kinds); k++) {
            by_counts |= kinds[k] == CL_DEVICE_PARTITION_BY_COUNTS;
            equally |= kinds[k] == CL_DEVICE_PARTITION_EQUALLY;
        }
    cl_device_partition_property counts[] = {CL_DEVICE_PARTITION_BY_COUNTS, threads,
                                             CL_DEVICE_PARTITION_BY_COUNTS_LIST_END, 0};
    cl_device_partition_property equal[] = {CL_DEVICE_PARTITION_EQUALLY, threads, 0};
    cl_int err = CL_INVALID_VALUE;
    if (by_counts || equally)
        err = clCreateSubDevices(dev, by_counts ? counts : equal, 1, &sub, &count);
    if (err != CL_SUCCESS || count < 1 || !sub) {
        sub = NULL;
        st = dc_error(DENSECL_ERR_UNSUPPORTED,
                      "'%s' cannot be limited to %d threads: %s; leave the thread count out "
                      "(all %u threads), or, for POCL, set POCL_MAX_PTHREAD_COUNT=%d in the "
                      "environment before the program starts",
                      info->name, threads,
                      by_counts || equally ? dc_cl_error_name(err)
                                           : "its driver offers no device partitioning",
                      info->compute_units, threads);
        goto done;
    }
    if (dc_n_subs < DC_MAX_SUBDEVICES) { /* beyond that it is made anew, and still kept */
        dc_subs[dc_n_subs].parent = dev;
        dc_subs[dc_n_subs].sub = sub;
        dc_subs[dc_n_subs].threads = threads;
        dc_n_subs++;
    }
done:
    pthread_mutex_unlock(&dc_subs_lock);
    *out = sub;
    return st;
}

/* A CPU device limited to `threads` of its compute units: a sub-device of that many, which
 * POCL's pthread driver runs on as many threads (its own POCL_MAX_PTHREAD_COUNT works only when
 * set before the platform loads, which a library cannot promise). *dev and *info become the
 * sub-device's (listing indices kept). */
static densecl_status dc_limit_threads(cl_device_id *dev, densecl_device_info *info, int threads)
{
    cl_device_id sub;
    if (info->type != DENSECL_DEVICE_CPU || (cl_uint)threads >= info->compute_units) {
        if (info->type == DENSECL_DEVICE_CPU)
            dc_log(DENSECL_LOG_INFO, "'%s': %d threads asked, it has %u: all of them", info->name,
                   threads, info->compute_units);
        return DENSECL_OK;
    }
    densecl_status st = dc_subdevice(*dev, info, threads, &sub);
    if (st != DENSECL_OK)
        return st;
    int p = info->platform_index, d = info->device_index;
    *dev = sub;
    dc_device_describe(sub, info);
    info->platform_index = p;
    info->device_index = d;
    dc_log(DENSECL_LOG_INFO, "'%s': %u thread%s (a sub-device)", info->name, info->compute_units,
           info->compute_units == 1 ? "" : "s");
    return DENSECL_OK;
}

densecl_status densecl_engine_create(const densecl_weights *w, const char *device_spec,
                                     densecl_engine **out)
{
    densecl_engine_options o;
    memset(&o, 0, sizeof o);
    o.device = device_spec;
    return densecl_engine_create_ex(w, &o, out);
}

densecl_status densecl_engine_create_ex(const densecl_weights *w,
                                        const densecl_engine_options *options, densecl_engine **out)
{
    cl_device_id devs[DC_MAX_REPLICAS];
    densecl_device_info infos[DC_MAX_REPLICAS];
    densecl_engine *e = NULL;
    densecl_status st = dc_engine_alloc(w, &e);
    int n = 0;
    cl_int err;
    if (st != DENSECL_OK)
        return st;
    dc_engine_choice po;
    memset(&po, 0, sizeof po);
    if (options) {
        po.binary_path = options->kernels_binary;
        po.no_cache = options->no_kernel_cache;
        po.choice.tiles = options->tiles;
        po.choice.conv = options->conv;
        po.choice.kernel_params = options->kernel_params;
    }
    if ((st = dc_device_pick_many(options ? options->device : NULL, devs, infos, DC_MAX_REPLICAS,
                                  &n)) != DENSECL_OK)
        goto fail;
    if (options && options->threads < 0) {
        st = dc_error(DENSECL_ERR_ARGUMENT,
                      "densecl_engine_create: threads %d, want 0 (all) or more", options->threads);
        goto fail;
    }
    for (int i = 0; options && options->threads > 0 && i < n; i++)
        if ((st = dc_limit_threads(&devs[i], &infos[i], options->threads)) != DENSECL_OK)
            goto fail;
    /* Profiling queues only where they serve: several devices split a batch by their measured
     * times; one device profiles once densecl_engine_set_profiling asks (its queues are then
     * made anew), as recording every command's times costs on some drivers. */
    const cl_command_queue_properties qprops = n > 1 ? CL_QUEUE_PROFILING_ENABLE : 0;
    for (int i = 0; i < n; i++) {
        dc_replica *r = &e->rep[e->n_rep++];
        r->dev = devs[i];
        r->info = infos[i];
        r->ctx = clCreateContext(NULL, 1, &r->dev, NULL, NULL, &err);
        DC_CL_TRY(st, err);
        r->queue = clCreateCommandQueue(r->ctx, r->dev, qprops, &err);
        DC_CL_TRY(st, err);
        r->own_queue = 1;
        if ((st = dc_replica_init(r, &e->model, e->params, &po)) != DENSECL_OK)
            goto fail;
    }
    dc_engine_drop_params(e);
    if (e->n_rep > 1 && (st = dc_calibrate(e)) != DENSECL_OK)
        goto fail;
    *out = e;
    return DENSECL_OK;
fail:
    densecl_engine_free(e);
    return st;
}

densecl_status densecl_engine_create_cl(const densecl_weights *w, struct _cl_context *context,
                                        struct _cl_command_queue *queue, densecl_engine **out)
{
    densecl_engine *e = NULL;
    densecl_status st = dc_engine_alloc(w, &e);
    cl_context qctx = NULL;
    dc_replica *r;
    if (st != DENSECL_OK)
        return st;
    r = &e->rep[e->n_rep++];
    if (!context || !queue) {
        st = dc_error(DENSECL_ERR_ARGUMENT, "densecl_engine_create_cl: NULL context or queue");
        goto fail;
    }
    DC_CL_TRY(st, clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof qctx, &qctx, NULL));
    if (qctx != context) {
        st = dc_error(DENSECL_ERR_ARGUMENT,
                      "densecl_engine_create_cl: the queue belongs to another context");
        goto fail;
    }
    DC_CL_TRY(st, clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof r->dev, &r->dev, NULL));
    {
        /* Every op is enqueued after the one before with no wait list: that order is the
         * queue's, so an out-of-order queue would run a layer before its input exists. */
        cl_command_queue_properties props = 0;
        DC_CL_TRY(st,
                  clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL));
        if (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) {
            st = dc_error(DENSECL_ERR_ARGUMENT,
                          "densecl_engine_create_cl: the queue is out of order "
                          "(CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE); densecl needs an in-order "
                          "queue: create one without that property on the same context");
            goto fail;
        }
    }
    /* Our own references: the caller may release theirs whenever they like. */
    DC_CL_TRY(st, clRetainContext(context));
    r->ctx = context;
    DC_CL_TRY(st, clRetainCommandQueue(queue));
    r->queue = queue;
    dc_device_describe(r->dev, &r->info);
    r->info.platform_index = r->info.device_index = -1;
    if ((st = dc_replica_init(r, &e->model, e->params, NULL)) != DENSECL_OK)
        goto fail;
    dc_engine_drop_params(e);
    *out = e;
    return DENSECL_OK;
fail:
    densecl_engine_free(e);
    return st;
}

void densecl_engine_free(densecl_engine *e)
{
    if (!e)
        return;
    dc_jobs_free(e);
    for (int i = 0; i < e->n_rep; i++)
        dc_replica_free(&e->rep[i]);
    dc_engine_drop_params(e);
    dc_plan_free(&e->model);
    dc_plan_free(&e->one);
    free(e->events);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

/* The accessors take the engine's lock, which a run holds throughout, so they read state that
 * no run is changing (speeds, counters, failures, activation sizes, profile events). The lock is
 * a mutable part of an engine its const accessors are handed. */
static void dc_engine_lock(const densecl_engine *e)
{
    pthread_mutex_lock((pthread_mutex_t *)&e->lock);
}

static void dc_engine_unlock(const densecl_engine *e)
{
    pthread_mutex_unlock((pthread_mutex_t *)&e->lock);
}

const densecl_device_info *densecl_engine_device(const densecl_engine *e)
{
    const densecl_device_info *info = NULL;
    if (!e)
        return NULL;
    /* The replica's info is written at creation only; the lock orders this read after it. */
    dc_engine_lock(e);
    if (e->n_rep > 0)
        info = &e->rep[0].info;
    dc_engine_unlock(e);
    return info;
}

void densecl_engine_memory(const densecl_engine *e, uint64_t *weight_bytes,
                           uint64_t *activation_bytes)
{
    uint64_t wb = 0, ab = 0;
    if (e)
        dc_engine_lock(e);
    for (int i = 0; e && i < e->n_rep; i++) {
        wb += e->rep[i].weight_bytes;
        ab += e->rep[i].act_bytes;
    }
    if (e)
        dc_engine_unlock(e);
    if (weight_bytes)
        *weight_bytes = wb;
    if (activation_bytes)
        *activation_bytes = ab;
}

int densecl_engine_replica_count(const densecl_engine *e)
{
    int n;
    if (!e)
        return 0;
    dc_engine_lock(e);
    n = e->n_rep;
    dc_engine_unlock(e);
    return n;
}

densecl_status densecl_engine_replica_stats(const densecl_engine *e, int i,
                                            densecl_replica_stats *out)
{
    if (!e || !out)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_engine_replica_stats: bad arguments");
    dc_engine_lock(e);
    if (i < 0 || i >= e->n_rep) {
        dc_engine_unlock(e);
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_engine_replica_stats: bad arguments");
    }
    const dc_replica *r = &e->rep[i];
    memset(out, 0, sizeof *out);
    out->device = r->info;
    out->active = r->active;
    out->images_per_second = r->speed;
    out->images = r->images;
    out->retries = r->retries;
    snprintf(out->failure, sizeof out->failure, "%s", r->failure);
    if (r->res.used & 1u)
        dc_direct_to_tiles(&r->res.params[0], &out->tiles);
    out->tiles_origin = r->res.origin;
    dc_resolved_describe(&r->res, out->resolved, sizeof out->resolved);
    dc_engine_unlock(e);
    return DENSECL_OK;
}

void dc_engine_inject_fault(densecl_engine *e, int replica, int after_ops, cl_int err)
{
    if (!e)
        return;
    dc_engine_lock(e);
    if (replica >= 0 && replica < e->n_rep) {
        e->rep[replica].fault_countdown = after_ops;
        e->rep[replica].fault_err = err;
    }
    dc_engine_unlock(e);
}

densecl_status densecl_engine_set_profiling(densecl_engine *e, int on)
{
    densecl_status st = DENSECL_OK;
    if (!e)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_engine_set_profiling: NULL engine");
    dc_engine_lock(e);
    for (int i = 0; on && i < e->n_rep && st == DENSECL_OK; i++)
        if (!e->rep[i].queue_profiling && !e->rep[i].own_queue)
            st = dc_error(DENSECL_ERR_UNSUPPORTED,
                          "the command queue of '%s' was created without "
                          "CL_QUEUE_PROFILING_ENABLE",
                          e->rep[i].info.name);
    for (int i = 0; on && i < e->n_rep && st == DENSECL_OK; i++)
        if (!e->rep[i].queue_profiling)
            st = dc_replica_requeue(&e->rep[i], CL_QUEUE_PROFILING_ENABLE);
    if (st == DENSECL_OK)
        e->profiling = on != 0;
    dc_engine_unlock(e);
    return st;
}

int densecl_engine_profile(const densecl_engine *e, const densecl_op_event **events)
{
    int n = 0;
    if (events)
        *events = NULL;
    if (!e)
        return 0;
    dc_engine_lock(e);
    if (events)
        *events = e->events;
    n = e->n_events;
    dc_engine_unlock(e);
    return n;
}
