/* sched.c - replicas (the plan bound to one device each: context, queue, program, kernels,
 * folded weights in one read-only buffer, activation buffers) and the scheduler that splits a
 * batch across them.
 *
 * Scheduling: a batch is cut into contiguous ranges, one per active replica, sized in proportion
 * to each replica's measured images/s. Every replica's range is enqueued without blocking (so the
 * devices work at the same time, uploads and downloads overlapping with other devices' compute)
 * and then waited for. A replica whose enqueue or wait fails is taken out; its range goes back to
 * the pool and is split over the remaining replicas, so every image is computed exactly once by a
 * device that succeeded. Out-of-memory failures first retry the range in smaller chunks. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "family.h"

/* More replicas than this on one machine is not a machine we have seen. */
#define DC_MAX_REPLICAS 16
/* Parameter blocks start on 64-byte boundaries so kernels may use aligned vector loads. */
#define DC_ALIGN_FLOATS 16
#define DC_ABSENT SIZE_MAX
/* Weight of a new speed measurement in the running estimate. */
#define DC_SPEED_EMA 0.5

/* Where an op's parameters live in the weight buffer, in floats; DC_ABSENT when absent. */
typedef struct dc_op_dev {
    size_t weight, bias, pre;
} dc_op_dev;

typedef struct dc_replica {
    densecl_device_info info;
    cl_device_id dev;
    cl_context ctx;
    cl_command_queue queue;
    int queue_profiling; /* the queue records event times */
    cl_program prog;
    dc_kernels kern;                      /* pools, gap, linear */
    dc_caps caps;
    dc_resolved res;                      /* resolved once: the family of each conv kind */
    void *fam_state[DC_FAMILY_SLOTS];     /* each used family's kernels (its create()) */
    cl_mem ws;                            /* the families' scratch for the current chunk */
    size_t ws_floats;
    cl_mem weights;
    uint64_t weight_bytes;
    dc_op_dev *op_dev;
    /* Activations for the current chunk shape; rebuilt when it changes. */
    dc_plan plan;
    cl_mem *bufs;
    uint64_t act_bytes;
    int max_chunk; /* images per enqueue allowed by memory, for the current image size */
    int chunk_h, chunk_w;
    double speed; /* images/s estimate; 0 until measured */
    int active;
    char failure[256];
    densecl_status failure_status; /* the status of that failure */
    int host_limited;              /* host memory, not the device's limits, sizes its chunks */
    uint64_t images, retries;
    /* This run's work: images [start, start + count); events of its first and last command. */
    int start, count;
    cl_event first_ev, last_ev;
    /* Fault injection (tests): fail with fault_err after fault_countdown more op enqueues. */
    int fault_countdown;
    cl_int fault_err;
} dc_replica;

struct densecl_engine {
    densecl_config cfg;
    /* The model's plan at one image of its smallest size, built once: the op sequence that the
     * weights are folded for and that every replica packs, uploads and picks kernels by. */
    dc_plan model;
    dc_op_params *params; /* folded for model.ops while replicas are created; NULL after */
    dc_plan one;          /* one image of the last input size: size checks and chunk limits */
    int n_rep;
    dc_replica rep[DC_MAX_REPLICAS];
    pthread_mutex_t lock; /* one run at a time */
    int profiling;
    densecl_op_event *events;
    int n_events, cap_events;
};

static size_t dc_align(size_t n)
{
    return (n + DC_ALIGN_FLOATS - 1) / DC_ALIGN_FLOATS * DC_ALIGN_FLOATS;
}

static double dc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void dc_release_event(cl_event *ev)
{
    if (*ev)
        clReleaseEvent(*ev);
    *ev = NULL;
}

static void dc_release_buffers(dc_replica *r)
{
    for (int i = 0; r->bufs && i < r->plan.n_bufs; i++)
        if (r->bufs[i])
            clReleaseMemObject(r->bufs[i]);
    free(r->bufs);
    r->bufs = NULL;
    if (r->ws)
        clReleaseMemObject(r->ws);
    r->ws = NULL;
    r->ws_floats = 0;
    dc_plan_free(&r->plan);
    r->act_bytes = 0;
}

/* ------------------------------------------------------------------ creation */

/* Lays out every op's parameters in one host array and uploads it. Two passes over the ops of
 * plan (the model's, at one image of its smallest size): the first sizes the array, the second
 * fills it. */
static densecl_status dc_upload_weights(dc_replica *r, const dc_op_params *params,
                                        const dc_plan *plan)
{
    densecl_status st = DENSECL_OK;
    float *host = NULL;
    size_t total = 0;
    cl_int err;

    r->op_dev = calloc((size_t)plan->n_ops, sizeof *r->op_dev);
    if (!r->op_dev) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    for (int pass = 0; pass < 2; pass++) {
        total = 0;
        for (int i = 0; i < plan->n_ops; i++) {
            const dc_op *op = &plan->ops[i];
            const dc_op_params *pp = &params[i];
            dc_op_dev *od = &r->op_dev[i];
            od->weight = od->bias = od->pre = DC_ABSENT;
            if (pp->weight) {
                /* A conv's weights in the layout of the family that runs its kind. */
                int fi = op->kind == DC_OP_CONV ? r->res.fam[dc_op_conv_kind(op)] : -1;
                const dc_family *f = fi >= 0 ? dc_families[fi] : NULL;
                const dc_params *fp = fi >= 0 ? &r->res.params[fi] : NULL;
                size_t len = f ? f->pack(op, fp, NULL, NULL)
                               : (size_t)op->out_c * (size_t)op->in_c;
                if (op->kind == DC_OP_CONV && (!f || len == 0)) {
                    st = dc_error(DENSECL_ERR_LIMIT, "%s: no packed weight layout for this conv",
                                  op->name);
                    goto fail;
                }
                od->weight = total;
                if (host && f)
                    f->pack(op, fp, pp->weight, host + total);
                else if (host)
                    memcpy(host + total, pp->weight, len * sizeof(float));
                total = dc_align(total + len);
            }
            if (pp->bias) {
                od->bias = total;
                if (host)
                    memcpy(host + total, pp->bias, (size_t)op->out_c * sizeof(float));
                total = dc_align(total + (size_t)op->out_c);
            }
            if (pp->pre_scale) {
                od->pre = total;
                if (host) {
                    memcpy(host + total, pp->pre_scale, (size_t)op->in_c * sizeof(float));
                    memcpy(host + total + op->in_c, pp->pre_shift,
                           (size_t)op->in_c * sizeof(float));
                }
                total = dc_align(total + 2 * (size_t)op->in_c);
            }
        }
        if (pass == 0) {
            /* Refused before anything is allocated, naming the limit. */
            if (total * sizeof(float) > r->info.global_mem_bytes / 2) {
                st = dc_error(DENSECL_ERR_LIMIT,
                              "the weights need %zu MiB, more than half of the %llu MiB of "
                              "global memory of '%s' (CL_DEVICE_GLOBAL_MEM_SIZE)",
                              total * sizeof(float) >> 20,
                              (unsigned long long)(r->info.global_mem_bytes >> 20), r->info.name);
                goto fail;
            }
            if (total * sizeof(float) > r->info.max_alloc_bytes) {
                st = dc_error(DENSECL_ERR_LIMIT,
                              "the weights need %zu MiB in one buffer, more than the %llu MiB "
                              "'%s' can allocate at once (CL_DEVICE_MAX_MEM_ALLOC_SIZE)",
                              total * sizeof(float) >> 20,
                              (unsigned long long)(r->info.max_alloc_bytes >> 20), r->info.name);
                goto fail;
            }
            host = calloc(total ? total : 1, sizeof *host);
            if (!host) {
                st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory staging the weights");
                goto fail;
            }
        }
    }
    r->weights = clCreateBuffer(r->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                total * sizeof(float), host, &err);
    DC_CL_TRY(st, err);
    r->weight_bytes = total * sizeof(float);
fail:
    free(host);
    return st;
}

/* What a replica is asked to run with (densecl_engine_options). */
typedef struct dc_engine_choice {
    const char *binary_path;
    int no_cache;
    dc_choice choice;
} dc_engine_choice;

/* Resolves the replica's conv families once (family.h), then gets its program, creates the
 * families' and the common kernels, and uploads the weights packed for them. plan, params: the
 * engine's model plan and the weights folded for it. given: NULL for the defaults. */
static densecl_status dc_replica_init(dc_replica *r, const dc_plan *plan,
                                      const dc_op_params *params, const dc_engine_choice *given)
{
    densecl_status st;
    cl_command_queue_properties props = 0;
    dc_engine_choice ec;
    char binary_res[1024];
    memset(&ec, 0, sizeof ec);
    if (given)
        ec = *given;
    if (clGetCommandQueueInfo(r->queue, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL) ==
        CL_SUCCESS)
        r->queue_profiling = (props & CL_QUEUE_PROFILING_ENABLE) != 0;
    dc_caps_query(r->dev, &r->caps);
    /* A program binary brings its own resolution: whatever a tuning file or the options say
     * now, its kernels are those it was compiled with. */
    if (ec.binary_path) {
        if ((st = dc_program_binary_resolved(ec.binary_path, binary_res, sizeof binary_res)) !=
            DENSECL_OK)
            return st;
        ec.choice.binary = binary_res;
    }
    if ((st = dc_resolve(&r->caps, plan, &ec.choice, &r->res)) != DENSECL_OK) {
        if (ec.binary_path) {
            char why[1024];
            snprintf(why, sizeof why, "%s", densecl_last_error());
            st = dc_error(st, "%s: %s", ec.binary_path, why);
        }
        return st;
    }
    {
        char text[1024];
        dc_resolved_describe(&r->res, text, sizeof text);
        dc_log(DENSECL_LOG_INFO, "convs on '%s': %s", r->info.name, text);
    }
    dc_program_opts po = {ec.binary_path, ec.no_cache, &r->res};
    if ((st = dc_program_get(r->ctx, r->dev, &po, &r->prog)) != DENSECL_OK)
        return st;
    for (int i = 0; i < dc_family_count; i++)
        if ((r->res.used & (1u << i)) &&
            (st = dc_families[i]->create(r->prog, &r->caps, &r->res.params[i],
                                         &r->fam_state[i])) != DENSECL_OK)
            return st;
    if ((st = dc_kernels_create(r->prog, &r->kern)) != DENSECL_OK)
        return st;
    if ((st = dc_upload_weights(r, params, plan)) != DENSECL_OK)
        return st;
    r->active = 1;
    dc_log(DENSECL_LOG_INFO, "replica on '%s': %llu KiB of weights", r->info.name,
           (unsigned long long)(r->weight_bytes >> 10));
    return DENSECL_OK;
}

static void dc_replica_free(dc_replica *r)
{
    if (r->queue)
        clFinish(r->queue);
    dc_release_event(&r->first_ev);
    dc_release_event(&r->last_ev);
    dc_release_buffers(r);
    if (r->weights)
        clReleaseMemObject(r->weights);
    dc_kernels_release(&r->kern);
    for (int i = 0; i < dc_family_count; i++)
        if (r->fam_state[i])
            dc_families[i]->release(r->fam_state[i]);
    if (r->prog)
        clReleaseProgram(r->prog);
    if (r->queue)
        clReleaseCommandQueue(r->queue);
    if (r->ctx)
        clReleaseContext(r->ctx);
    free(r->op_dev);
    memset(r, 0, sizeof *r);
}

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

static densecl_status dc_calibrate(densecl_engine *e);

densecl_status densecl_engine_create(const densecl_weights *w, const char *device_spec,
                                     densecl_engine **out)
{
    densecl_engine_options o;
    memset(&o, 0, sizeof o);
    o.device = device_spec;
    return densecl_engine_create_ex(w, &o, out);
}

densecl_status densecl_engine_create_ex(const densecl_weights *w,
                                        const densecl_engine_options *options,
                                        densecl_engine **out)
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
    for (int i = 0; i < n; i++) {
        dc_replica *r = &e->rep[e->n_rep++];
        r->dev = devs[i];
        r->info = infos[i];
        r->ctx = clCreateContext(NULL, 1, &r->dev, NULL, NULL, &err);
        DC_CL_TRY(st, err);
        r->queue = clCreateCommandQueue(r->ctx, r->dev, CL_QUEUE_PROFILING_ENABLE, &err);
        DC_CL_TRY(st, err);
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
        if (!e->rep[i].queue_profiling)
            st = dc_error(DENSECL_ERR_UNSUPPORTED,
                          "the command queue of '%s' was created without "
                          "CL_QUEUE_PROFILING_ENABLE",
                          e->rep[i].info.name);
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

/* ------------------------------------------------------------------ running */

/* Makes a replica's activation buffers match an [n, c, h, w] chunk. */
static densecl_status dc_replica_shape(dc_replica *r, const densecl_config *cfg, int n, int h,
                                       int w)
{
    densecl_status st;
    cl_int err;
    if (r->bufs && r->plan.n == n && r->plan.h == h && r->plan.w == w)
        return DENSECL_OK;
    dc_release_buffers(r);
    if ((st = dc_plan_build(cfg, n, h, w, &r->plan)) != DENSECL_OK)
        return st;
    r->bufs = calloc((size_t)r->plan.n_bufs, sizeof *r->bufs);
    if (!r->bufs) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    for (int i = 0; i < r->plan.n_bufs; i++) {
        r->bufs[i] = clCreateBuffer(r->ctx, CL_MEM_READ_WRITE,
                                    r->plan.buf_floats[i] * sizeof(float), NULL, &err);
        DC_CL_TRY(st, err);
        r->act_bytes += r->plan.buf_floats[i] * sizeof(float);
    }
    /* One scratch buffer, the most any conv of this chunk needs from its family. */
    for (int i = 0; i < r->plan.n_ops; i++) {
        const dc_op *op = &r->plan.ops[i];
        int fi = op->kind == DC_OP_CONV ? r->res.fam[dc_op_conv_kind(op)] : -1;
        size_t need = fi >= 0 && dc_families[fi]->workspace
                          ? dc_families[fi]->workspace(op, n, &r->res.params[fi])
                          : 0;
        if (need > r->ws_floats)
            r->ws_floats = need;
    }
    if (r->ws_floats) {
        r->ws = clCreateBuffer(r->ctx, CL_MEM_READ_WRITE, r->ws_floats * sizeof(float), NULL,
                               &err);
        DC_CL_TRY(st, err);
        r->act_bytes += r->ws_floats * sizeof(float);
    }
    return DENSECL_OK;
fail:
    dc_release_buffers(r);
    return st;
}

/* e->one for an h x w input, built when the size changes. Size errors are the input's fault,
 * whatever the devices: a run reports them from here, first. */
static densecl_status dc_engine_one(densecl_engine *e, int h, int w)
{
    if (e->one.ops && e->one.h == h && e->one.w == w)
        return DENSECL_OK;
    dc_plan_free(&e->one);
    return dc_plan_build(&e->cfg, 1, h, w, &e->one);
}

/* Images per chunk so that every activation buffer fits the device's largest allocation and all
 * of them, with the weights, fit in half of its global memory (the rest is the driver's).
 * one: the plan of one image of the input size (dc_engine_one). */
static densecl_status dc_replica_limit(dc_replica *r, const dc_plan *one)
{
    uint64_t budget, per_image, most = 0;
    int h = one->h, w = one->w;
    if (r->max_chunk > 0 && r->chunk_h == h && r->chunk_w == w)
        return DENSECL_OK;
    per_image = (uint64_t)dc_plan_floats(one) * sizeof(float);
    for (int i = 0; i < one->n_bufs; i++)
        if (one->buf_floats[i] > most)
            most = one->buf_floats[i];
    most *= sizeof(float);
    budget = r->info.global_mem_bytes / 2 > r->weight_bytes
                 ? r->info.global_mem_bytes / 2 - r->weight_bytes
                 : 0;
    uint64_t by_mem = per_image ? budget / per_image : 0;
    uint64_t by_alloc = most ? r->info.max_alloc_bytes / most : 0;
    uint64_t c = by_mem < by_alloc ? by_mem : by_alloc;
    if (c < 1)
        return dc_error(DENSECL_ERR_LIMIT,
                        "one %dx%d image needs %llu MiB of activations (largest buffer %llu MiB); "
                        "'%s' offers %llu MiB of global memory and %llu MiB per allocation",
                        h, w, (unsigned long long)(per_image >> 20),
                        (unsigned long long)(most >> 20), r->info.name,
                        (unsigned long long)(r->info.global_mem_bytes >> 20),
                        (unsigned long long)(r->info.max_alloc_bytes >> 20));
    r->max_chunk = c > 1024 ? 1024 : (int)c;
    r->chunk_h = h;
    r->chunk_w = w;
    return DENSECL_OK;
}

static dc_mem dc_wmem(const dc_replica *r, size_t off)
{
    dc_mem m = {off == DC_ABSENT ? NULL : r->weights, off == DC_ABSENT ? 0 : off};
    return m;
}

static const char *dc_op_kind_name(const dc_op *op)
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

static cl_int dc_enqueue_op(dc_replica *r, int i, cl_event *ev)
{
    const dc_op *op = &r->plan.ops[i];
    const dc_op_dev *od = &r->op_dev[i];
    dc_mem in = {r->bufs[op->in_buf], 0}, out = {r->bufs[op->out_buf], 0};
    int n = r->plan.n;
    if (r->fault_err != CL_SUCCESS && r->fault_countdown-- <= 0) {
        cl_int err = r->fault_err;
        r->fault_err = CL_SUCCESS;
        return err;
    }
    switch (op->kind) {
    case DC_OP_CONV: {
        dc_conv_args a = {in, dc_wmem(r, od->weight), dc_wmem(r, od->bias), dc_wmem(r, od->pre),
                          out, n, op->in_c, op->in_ctot, op->in_h, op->in_w, op->out_c,
                          op->out_ctot, op->out_coff, op->out_h, op->out_w, op->k, op->stride,
                          op->pad, op->relu};
        int fi = r->res.fam[dc_op_conv_kind(op)];
        dc_mem ws = {r->ws, 0};
        if (fi < 0)
            return CL_INVALID_KERNEL;
        return dc_families[fi]->enqueue(r->queue, r->fam_state[fi], &r->res.params[fi], &a, ws,
                                        ev);
    }
    case DC_OP_MAXPOOL:
    case DC_OP_BNRELU_AVGPOOL:
    case DC_OP_BNRELU_GAP: {
        dc_pool_args a = {in, dc_wmem(r, od->pre), out, n, op->in_c, op->in_ctot, op->in_h,
                          op->in_w, op->out_ctot, op->out_coff, op->out_h, op->out_w, op->k,
                          op->stride, op->pad};
        if (op->kind == DC_OP_MAXPOOL)
            return dc_enqueue_maxpool(r->queue, &r->kern, &a, ev);
        if (op->kind == DC_OP_BNRELU_AVGPOOL)
            return dc_enqueue_bnrelu_avgpool(r->queue, &r->kern, &a, ev);
        return dc_enqueue_bnrelu_gap(r->queue, &r->kern, &a, ev);
    }
    case DC_OP_LINEAR: {
        dc_linear_args a = {in, dc_wmem(r, od->weight), dc_wmem(r, od->bias), out, n, op->in_c,
                            op->out_c};
        return dc_enqueue_linear(r->queue, &r->kern, &a, ev);
    }
    default:
        return CL_INVALID_OPERATION;
    }
}

/* Appends a profiled event (kept as an OpenCL event until the run has finished). */
typedef struct dc_pending {
    cl_event ev;
    int replica;
    const char *name, *kind;
    uint64_t macs;
} dc_pending;

typedef struct dc_run {
    densecl_engine *e;
    const float *input;
    float *staged; /* [n, classes], copied to the caller's logits on success */
    size_t image;  /* floats per input image */
    int h, w;
    dc_pending *pend;
    int n_pend, cap_pend;
} dc_run;

/* Returns the slot for an event to profile, or NULL when profiling is off (or out of memory:
 * profiling then misses an event, the run itself goes on). */
static cl_event *dc_profile_slot(dc_run *run, int replica, const char *name, const char *kind,
                                 uint64_t macs)
{
    if (!run->e->profiling)
        return NULL;
    if (run->n_pend == run->cap_pend) {
        int cap = run->cap_pend ? 2 * run->cap_pend : 256;
        dc_pending *p = realloc(run->pend, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        run->pend = p;
        run->cap_pend = cap;
    }
    dc_pending *p = &run->pend[run->n_pend++];
    *p = (dc_pending){NULL, replica, name, kind, macs};
    return &p->ev;
}

/* Enqueues one chunk [start, start + m) on replica r; all commands are non-blocking. */
static densecl_status dc_enqueue_chunk(dc_run *run, int ri, int start, int m)
{
    densecl_engine *e = run->e;
    dc_replica *r = &e->rep[ri];
    densecl_status st = DENSECL_OK;
    int classes = e->cfg.num_classes;
    cl_event ev = NULL, *evp;
    if ((st = dc_replica_shape(r, &e->cfg, m, run->h, run->w)) != DENSECL_OK)
        return st;
    evp = dc_profile_slot(run, ri, "input", "upload", 0);
    DC_CL_TRY(st, clEnqueueWriteBuffer(r->queue, r->bufs[r->plan.input_buf], CL_FALSE, 0,
                                       (size_t)m * run->image * sizeof(float),
                                       run->input + (size_t)start * run->image, 0, NULL, &ev));
    /* The range's first command marks its start for the speed estimate. */
    if (!r->first_ev && clRetainEvent(ev) == CL_SUCCESS)
        r->first_ev = ev;
    if (evp) {
        *evp = ev; /* the profile keeps the reference */
        ev = NULL;
    }
    dc_release_event(&ev);
    for (int i = 0; i < r->plan.n_ops; i++) {
        const dc_op *op = &r->plan.ops[i];
        cl_int err = dc_enqueue_op(r, i, dc_profile_slot(run, ri, op->name, dc_op_kind_name(op),
                                                         op->macs));
        if (err != CL_SUCCESS) {
            st = dc_error(dc_cl_status(err), "enqueueing %s on '%s' failed: %s", op->name,
                          r->info.name, dc_cl_error_name(err));
            goto fail;
        }
    }
    evp = dc_profile_slot(run, ri, "logits", "download", 0);
    DC_CL_TRY(st, clEnqueueReadBuffer(r->queue, r->bufs[r->plan.output_buf], CL_FALSE, 0,
                                      (size_t)m * (size_t)classes * sizeof(float),
                                      run->staged + (size_t)start * (size_t)classes, 0, NULL,
                                      &ev));
    if (evp) {
        *evp = ev;
        clRetainEvent(ev);
    }
    dc_release_event(&r->last_ev);
    r->last_ev = ev;
    ev = NULL;
fail:
    dc_release_event(&ev);
    return st;
}

/* ------------------------------------------------------------------ host memory (CPU devices)
 *
 * A CPU device's buffers are the process's own memory, and POCL 3.1 allocates them lazily, at
 * the first command that uses them, and asserts (abort, exit 134) when that allocation fails:
 * the retry on CL_MEM_OBJECT_ALLOCATION_FAILURE never sees an error. So a CPU replica's chunks
 * are sized beforehand to what the process can really get. */

/* Left to the driver's own allocations (its threads, kernel compiles, launch arguments). */
#define DC_HOST_RESERVE ((uint64_t)256 << 20)

/* The number after `field` in a /proc file of "Name: value" lines, 0 when absent. */
static uint64_t dc_proc_field(const char *path, const char *field)
{
    char line[256];
    unsigned long long v = 0;
    size_t n = strlen(field);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0) {
            v = strtoull(line + n, NULL, 10); /* kB; ULLONG_MAX on overflow, never undefined */
            break;
        }
    fclose(f);
    return (uint64_t)v;
}

/* Bytes this process can still allocate: the least of what RLIMIT_AS leaves above its address
 * space (VmSize), what RLIMIT_DATA leaves above its data (VmData), and the system's
 * MemAvailable; UINT64_MAX when none is known. why describes them, for messages. */
static uint64_t dc_host_available(char *why, size_t cap)
{
    uint64_t avail = UINT64_MAX;
    size_t len = 0;
    struct rlimit rl;
    why[0] = '\0';
    static const struct {
        int res;
        const char *name, *used;
    } limits[] = {{RLIMIT_AS, "RLIMIT_AS", "VmSize:"}, {RLIMIT_DATA, "RLIMIT_DATA", "VmData:"}};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        if (getrlimit(limits[i].res, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
            continue;
        uint64_t used = dc_proc_field("/proc/self/status", limits[i].used) << 10;
        uint64_t left = (uint64_t)rl.rlim_cur > used ? (uint64_t)rl.rlim_cur - used : 0;
        avail = left < avail ? left : avail;
        if (len < cap)
            len += (size_t)snprintf(why + len, cap - len, "%s%s %llu MiB, %llu in use",
                                    len ? "; " : "", limits[i].name,
                                    (unsigned long long)(rl.rlim_cur >> 20),
                                    (unsigned long long)(used >> 20));
    }
    uint64_t mem = dc_proc_field("/proc/meminfo", "MemAvailable:") << 10;
    if (mem) {
        avail = mem < avail ? mem : avail;
        if (len < cap)
            snprintf(why + len, cap - len, "%sMemAvailable %llu MiB", len ? "; " : "",
                     (unsigned long long)(mem >> 20));
    }
    return avail;
}

/* Lowers a CPU replica's images per chunk to what host memory holds: the process's available
 * bytes, plus the activations the CPU replicas hold now (freed or reused before new ones are
 * made), less DC_HOST_RESERVE, shared equally by the engine's active CPU replicas (they run at
 * the same time). Refuses with DENSECL_ERR_NO_MEMORY, giving the sizes, when one image does not
 * fit. Called before each range, as the memory free changes between runs; it only ever lowers
 * the chunk, like the retry on an allocation failure (a new image size starts afresh). */
static densecl_status dc_replica_host_limit(densecl_engine *e, dc_replica *r, int h, int w)
{
    char why[160];
    uint64_t held = 0, avail;
    int cpus = 0;
    r->host_limited = 0;
    if (r->info.type != DENSECL_DEVICE_CPU)
        return DENSECL_OK;
    if ((avail = dc_host_available(why, sizeof why)) == UINT64_MAX)
        return DENSECL_OK;
    for (int i = 0; i < e->n_rep; i++)
        if (e->rep[i].info.type == DENSECL_DEVICE_CPU && (e->rep[i].active || &e->rep[i] == r)) {
            held += e->rep[i].act_bytes;
            cpus++;
        }
    /* e->one is the plan of one image of this run's size (dc_engine_one). */
    uint64_t per_image = (uint64_t)dc_plan_floats(&e->one) * sizeof(float);
    uint64_t total = avail > UINT64_MAX - held ? UINT64_MAX : avail + held;
    uint64_t share = total > DC_HOST_RESERVE ? (total - DC_HOST_RESERVE) / (uint64_t)cpus : 0;
    uint64_t c = per_image ? share / per_image : 0;
    if (c < 1)
        return dc_error(DENSECL_ERR_NO_MEMORY,
                        "a %dx%d image needs %llu MiB of activations in host memory (a CPU "
                        "device), more than the %llu MiB this process can get (%s)",
                        h, w, (unsigned long long)(per_image >> 20),
                        (unsigned long long)(share >> 20), why);
    if (c < (uint64_t)r->max_chunk) {
        r->max_chunk = (int)c;
        r->host_limited = 1;
        dc_log(DENSECL_LOG_INFO, "'%s': %d images per chunk fit in host memory (%s)",
               r->info.name, r->max_chunk, why);
    } else if (c < (uint64_t)r->count) {
        r->host_limited = 1;
    }
    return DENSECL_OK;
}

/* Enqueues replica r's whole range in chunks its memory allows. */
static densecl_status dc_enqueue_range(dc_run *run, int ri)
{
    dc_replica *r = &run->e->rep[ri];
    densecl_status st = dc_replica_limit(r, &run->e->one); /* the run's size: dc_engine_one */
    if (st == DENSECL_OK)
        st = dc_replica_host_limit(run->e, r, run->h, run->w);
    for (int done = 0; st == DENSECL_OK && done < r->count;) {
        int m = r->count - done < r->max_chunk ? r->count - done : r->max_chunk;
        /* A last, smaller chunk gets new buffers; where host memory is tight, the old ones are
         * freed first (a release waits for the commands still using them). */
        if (r->host_limited && r->bufs && r->plan.n != m)
            clFinish(r->queue);
        st = dc_enqueue_chunk(run, ri, r->start + done, m);
        if (st == DENSECL_ERR_NO_MEMORY && m > 1) {
            /* Out of device memory: finish what is queued, halve the chunk and go on. */
            clFinish(r->queue);
            dc_release_buffers(r);
            r->max_chunk = m / 2;
            r->retries++;
            dc_log(DENSECL_LOG_WARN, "'%s' ran out of memory with %d images; retrying with %d",
                   r->info.name, m, r->max_chunk);
            st = DENSECL_OK;
            continue;
        }
        done += m;
    }
    return st;
}

/* Takes a replica out after a failure; its queue is drained so no late write lands in staged. */
static void dc_replica_fail(dc_replica *r, densecl_status why)
{
    snprintf(r->failure, sizeof r->failure, "%s", densecl_last_error());
    r->failure_status = why;
    r->active = 0;
    clFinish(r->queue);
    dc_release_event(&r->first_ev);
    dc_release_event(&r->last_ev);
    dc_release_buffers(r);
    dc_log(DENSECL_LOG_WARN, "device '%s' taken out: %s", r->info.name, r->failure);
}

/* Device time of a replica's range, from its first to its last command; wall time when the
 * queue does not profile. */
static double dc_range_seconds(const dc_replica *r, double wall)
{
    cl_ulong t0 = 0, t1 = 0;
    if (r->queue_profiling && r->first_ev && r->last_ev &&
        clGetEventProfilingInfo(r->first_ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) ==
            CL_SUCCESS &&
        clGetEventProfilingInfo(r->last_ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) ==
            CL_SUCCESS &&
        t1 > t0)
        return (double)(t1 - t0) * 1e-9;
    return wall;
}

/* Splits [start, start + n) over the active replicas in proportion to speed. Returns how many
 * replicas got work, 0 if none is active. */
static int dc_split(densecl_engine *e, int start, int n)
{
    double total = 0;
    int active = 0, given = 0, last = -1;
    for (int i = 0; i < e->n_rep; i++) {
        e->rep[i].count = 0;
        if (!e->rep[i].active)
            continue;
        active++;
        total += e->rep[i].speed > 0 ? e->rep[i].speed : 1.0;
    }
    if (!active)
        return 0;
    int used = 0;
    for (int i = 0; i < e->n_rep; i++) {
        dc_replica *r = &e->rep[i];
        if (!r->active)
            continue;
        double share = (r->speed > 0 ? r->speed : 1.0) / total;
        int c = (int)floor(share * n + 0.5);
        if (c > n - given)
            c = n - given;
        r->start = start + given;
        r->count = c;
        given += c;
        last = i;
    }
    e->rep[last].count += n - given; /* rounding remainder */
    for (int i = 0; i < e->n_rep; i++)
        used += e->rep[i].count > 0;
    return used;
}

/* Runs [start, start + n) on the active replicas; ranges of replicas that fail are re-split over
 * the others until all is done or no replica is left. */
static densecl_status dc_schedule(dc_run *run, int start, int n)
{
    densecl_engine *e = run->e;
    int orphan_start[DC_MAX_REPLICAS], orphan_count[DC_MAX_REPLICAS], n_orphans = 0;
    if (!dc_split(e, start, n)) {
        char why[512] = "";
        /* The devices' own status when they all failed alike (out of memory), else OpenCL's. */
        densecl_status all = e->rep[0].failure_status;
        for (int i = 0; i < e->n_rep; i++) {
            size_t len = strlen(why);
            snprintf(why + len, sizeof why - len, "%s'%s': %s", i ? "; " : "", e->rep[i].info.name,
                     e->rep[i].failure);
            if (e->rep[i].failure_status != all)
                all = DENSECL_ERR_OPENCL;
        }
        return dc_error(all != DENSECL_OK ? all : DENSECL_ERR_OPENCL,
                        "no device left to run on (%s)", why);
    }
    double t0 = dc_now();
    for (int i = 0; i < e->n_rep; i++) {
        dc_replica *r = &e->rep[i];
        if (!r->count)
            continue;
        densecl_status st = dc_enqueue_range(run, i);
        if (st != DENSECL_OK) {
            dc_replica_fail(r, st);
            orphan_start[n_orphans] = r->start;
            orphan_count[n_orphans++] = r->count;
            r->count = 0;
        }
        /* Start the device now rather than at the wait below. */
        if (r->active)
            clFlush(r->queue);
    }
    for (int i = 0; i < e->n_rep; i++) {
        dc_replica *r = &e->rep[i];
        densecl_status st = DENSECL_OK;
        if (!r->count)
            continue;
        cl_int err = clFinish(r->queue);
        cl_int status = CL_COMPLETE;
        if (err == CL_SUCCESS && r->last_ev)
            err = clGetEventInfo(r->last_ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                                 &status, NULL);
        if (err != CL_SUCCESS || status < 0) {
            cl_int why = err != CL_SUCCESS ? err : status;
            st = dc_error(dc_cl_status(why), "running on '%s' failed: %s", r->info.name,
                          dc_cl_error_name(why));
        }
        if (st != DENSECL_OK) {
            dc_replica_fail(r, st);
            orphan_start[n_orphans] = r->start;
            orphan_count[n_orphans++] = r->count;
            continue;
        }
        double secs = dc_range_seconds(r, dc_now() - t0);
        double speed = secs > 0 ? r->count / secs : 0;
        if (speed > 0)
            r->speed = r->speed > 0 ? (1 - DC_SPEED_EMA) * r->speed + DC_SPEED_EMA * speed : speed;
        r->images += (uint64_t)r->count;
        dc_release_event(&r->first_ev);
        dc_release_event(&r->last_ev);
    }
    for (int i = 0; i < n_orphans; i++) {
        densecl_status st = dc_schedule(run, orphan_start[i], orphan_count[i]);
        if (st != DENSECL_OK)
            return st;
    }
    return DENSECL_OK;
}

/* Turns the pending profiled events into e->events, times relative to the earliest start. */
static void dc_collect_profile(dc_run *run)
{
    densecl_engine *e = run->e;
    cl_ulong origin = 0;
    e->n_events = 0;
    if (!run->n_pend)
        return;
    if (e->cap_events < run->n_pend) {
        densecl_op_event *v = realloc(e->events, (size_t)run->n_pend * sizeof *v);
        if (!v)
            return;
        e->events = v;
        e->cap_events = run->n_pend;
    }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < run->n_pend; i++) {
            cl_ulong s = 0, t = 0;
            const dc_pending *p = &run->pend[i];
            if (!p->ev ||
                clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_START, sizeof s, &s, NULL) !=
                    CL_SUCCESS ||
                clGetEventProfilingInfo(p->ev, CL_PROFILING_COMMAND_END, sizeof t, &t, NULL) !=
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
        }
}

static densecl_status dc_run_locked(densecl_engine *e, const float *input, int n, int c, int h,
                                    int w, float *logits)
{
    densecl_status st;
    dc_run run = {e, input, NULL, (size_t)c * (size_t)h * (size_t)w, h, w, NULL, 0, 0};
    if (c != e->cfg.in_channels)
        return dc_error(DENSECL_ERR_INPUT,
                        "input has %d channels, the model expects %d (input shape [%d, %d, %d, %d]"
                        ", NCHW)",
                        c, e->cfg.in_channels, n, c, h, w);
    if ((st = dc_engine_one(e, h, w)) != DENSECL_OK)
        return st;
    /* Devices taken out stay out while others remain; when none is left, a new run gives them
     * another chance (an earlier batch may simply have been too large for them). */
    int active = 0;
    for (int i = 0; i < e->n_rep; i++)
        active += e->rep[i].active;
    for (int i = 0; !active && i < e->n_rep; i++)
        e->rep[i].active = 1;
    run.staged = malloc((size_t)n * (size_t)e->cfg.num_classes * sizeof *run.staged);
    if (!run.staged)
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
    e->n_events = 0;
    st = dc_schedule(&run, 0, n);
    if (st == DENSECL_OK) {
        memcpy(logits, run.staged, (size_t)n * (size_t)e->cfg.num_classes * sizeof *logits);
        dc_collect_profile(&run);
    }
    for (int i = 0; i < run.n_pend; i++)
        dc_release_event(&run.pend[i].ev);
    free(run.pend);
    free(run.staged);
    return st;
}

densecl_status densecl_engine_run(densecl_engine *e, const float *input, int n, int c, int h,
                                  int w, float *logits)
{
    densecl_status st;
    if (!e || !input || !logits)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_engine_run: NULL argument");
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return dc_error(DENSECL_ERR_INPUT, "input shape [%d, %d, %d, %d] has an empty dimension",
                        n, c, h, w);
    pthread_mutex_lock(&e->lock);
    st = dc_run_locked(e, input, n, c, h, w, logits);
    pthread_mutex_unlock(&e->lock);
    return st;
}

/* Measures each replica alone on a small batch, so the first real batch is already split by
 * speed. A replica that fails here is taken out like one failing mid-run. */
static densecl_status dc_calibrate(densecl_engine *e)
{
    int side = e->cfg.stem == DENSECL_STEM_IMAGENET ? 64 : 32;
    int min = densecl_config_min_size(&e->cfg);
    int n = 2;
    size_t image;
    float *x, *y;
    densecl_status st = DENSECL_OK;
    if (side < min)
        side = min;
    if ((st = dc_engine_one(e, side, side)) != DENSECL_OK)
        return st;
    image = (size_t)e->cfg.in_channels * (size_t)side * (size_t)side;
    x = calloc((size_t)n * image, sizeof *x);
    y = malloc((size_t)n * (size_t)e->cfg.num_classes * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
    }
    for (int i = 0; i < e->n_rep && st == DENSECL_OK; i++) {
        dc_run run = {e, x, y, image, side, side, NULL, 0, 0};
        dc_replica *r = &e->rep[i];
        r->start = 0;
        r->count = n;
        double t0 = dc_now();
        /* Twice: the first run pays for buffer creation and first-launch costs. */
        for (int rep = 0; rep < 2 && r->active; rep++) {
            if (dc_enqueue_range(&run, i) != DENSECL_OK || clFinish(r->queue) != CL_SUCCESS) {
                dc_replica_fail(r, DENSECL_ERR_OPENCL);
                break;
            }
            if (rep == 1) {
                double secs = dc_range_seconds(r, dc_now() - t0);
                r->speed = secs > 0 ? n / secs : 0;
            }
            dc_release_event(&r->first_ev);
            dc_release_event(&r->last_ev);
            t0 = dc_now();
        }
        r->count = 0;
    }
    int active = 0;
    for (int i = 0; i < e->n_rep; i++)
        active += e->rep[i].active;
    if (!active)
        st = dc_error(DENSECL_ERR_OPENCL, "every device failed its calibration run (last: %s)",
                      e->rep[e->n_rep - 1].failure);
    free(x);
    free(y);
    return st;
}

densecl_status densecl_compile_kernels(const char *device_spec, const char *path)
{
    densecl_status st = DENSECL_OK;
    densecl_device_info info;
    cl_device_id dev;
    cl_context ctx = NULL;
    cl_program prog = NULL;
    cl_int err;
    if (!path)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_compile_kernels: no output path");
    if ((st = dc_device_pick(device_spec, &dev, &info)) != DENSECL_OK)
        return st;
    dc_caps caps;
    dc_resolved res;
    char options[512];
    /* Every conv kind (a binary any model can use), on the family DENSECL_CONV names, else on
     * the direct family with the device's tuned or default tiles. */
    dc_caps_query(dev, &caps);
    if ((st = dc_resolve(&caps, NULL, NULL, &res)) != DENSECL_OK)
        return st;
    dc_resolved_defines(&res, options, sizeof options);
    ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    DC_CL_TRY(st, err);
    if ((st = dc_program_build(ctx, dev, dc_resolved_families(&res), options, &prog)) !=
        DENSECL_OK)
        goto fail;
    st = dc_program_save(prog, dev, &res, path);
fail:
    if (prog)
        clReleaseProgram(prog);
    if (ctx)
        clReleaseContext(ctx);
    return st;
}
