/* SPDX-License-Identifier: MIT */
/* sched.c - the scheduler: runs a batch on the engine's replicas (replica.c), split across
 * them, and measures their speed.
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

#include "engine_impl.h"

/* Weight of a new speed measurement in the running estimate. */
#define DC_SPEED_EMA 0.5

static double dc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ running */

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

/* For now a job runs at its start; its status is kept for its wait. */
struct densecl_job {
    densecl_status status;
};

densecl_status densecl_engine_start(densecl_engine *e, const float *input, int n, int c, int h,
                                    int w, float *logits, densecl_job **job)
{
    densecl_status st;
    if (!job)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_engine_start: job is NULL");
    *job = NULL;
    st = densecl_engine_run(e, input, n, c, h, w, logits);
    if (st == DENSECL_ERR_INPUT || st == DENSECL_ERR_ARGUMENT)
        return st;
    if (!(*job = malloc(sizeof **job)))
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
    (*job)->status = st;
    return DENSECL_OK;
}

densecl_status densecl_job_wait(densecl_job *job)
{
    densecl_status st;
    if (!job)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_job_wait: job is NULL");
    st = job->status;
    free(job);
    return st;
}

/* Measures each replica alone on a small batch, so the first real batch is already split by
 * speed. A replica that fails here is taken out like one failing mid-run. */
densecl_status dc_calibrate(densecl_engine *e)
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
