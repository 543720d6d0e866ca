/* SPDX-License-Identifier: MIT */
/* sched.c - the scheduler: runs jobs (batches) on the engine's replicas (replica.c), split
 * across them, and measures their speed.
 *
 * Scheduling: a job's batch is cut into contiguous ranges, one per active replica, sized in
 * proportion to each replica's measured images/s. densecl_engine_start enqueues every range
 * without blocking (the devices work at the same time) and returns; densecl_job_wait waits for
 * them. A replica whose enqueue or commands fail is taken out; its range is re-split over the
 * remaining replicas at the wait, so every image is computed exactly once by a device that
 * succeeded. Out-of-memory failures first retry the range in smaller chunks.
 *
 * Overlap on one device: a replica has two in-order queues. Each chunk's input is uploaded on
 * the second (xfer) into one of two input buffers, used in turn, while the main queue computes
 * the chunk before, from the other; the main queue waits for the upload with a barrier, and the
 * upload waits for the marker that follows the first op of the chunk before last (the only op
 * that reads the input). So with jobs started back to back (or a batch larger than a chunk),
 * chunk i+1's upload runs during chunk i's compute. The logits' download is small and stays on
 * the main queue, in order. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/engine_impl.h"

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

/* One replica's share of a job: images [start, start + count), the events of its first
 * compute command and of its last command (the logits' download). */
typedef struct dc_part {
    int start, count;
    cl_event first_ev, last_ev;
    int fault_at_wait; /* test hook: DC_FAULT_AT_RUN */
} dc_part;

/* A job's work as given to the replicas in one go: the parts, and the ranges that found no
 * replica to run them (its enqueue failed, or none was active), to be re-run at the wait. */
typedef struct dc_round {
    dc_part part[DC_MAX_REPLICAS];
    int orphan_start[DC_MAX_REPLICAS + 1], orphan_count[DC_MAX_REPLICAS + 1], n_orphans;
    double t0;
} dc_round;

struct densecl_job {
    densecl_engine *e;
    const float *input; /* [n, c, h, w], the caller's, read by the uploads */
    float *logits;      /* the caller's, written at the wait on success */
    float *staged;      /* [n, classes], where the devices download to */
    size_t image;       /* floats per input image */
    int n, h, w;
    dc_round round;
    dc_profile prof;          /* when profiling: the ops' events */
    densecl_job *prev, *next; /* the engine's jobs not yet waited for */
};

/* Enqueues one chunk [start, start + m) on replica ri; all commands are non-blocking.
 *   the upload, on r->xfer: into the input buffer the chunk before last read, once it has;
 *   the model, on r->queue: after the upload, then a marker that frees the input buffer;
 *   the logits' download, on r->queue. */
static densecl_status dc_enqueue_chunk(densecl_job *job, dc_part *part, int ri, int start, int m)
{
    densecl_engine *e = job->e;
    dc_replica *r = &e->rep[ri];
    densecl_status st = DENSECL_OK;
    int classes = e->cfg.num_classes;
    cl_event up = NULL, ev = NULL;
    dc_pending *evp;
    cl_command_queue xq = r->xfer ? r->xfer : r->queue;
    dc_exec x;
    dc_exec_init(&x, r->queue, 0);
    if ((st = dc_replica_shape(r, &e->cfg, m, job->h, job->w)) != DENSECL_OK)
        return st;
    int s = r->next_slot;
    r->next_slot ^= 1;
    /* A command that waits for another queue's event needs that queue flushed (OpenCL 1.2,
     * 5.13): the marker the upload waits for is on the main queue. */
    if (r->xfer && r->slot_free[s])
        DC_CL_TRY(st, clFlush(r->queue));
    const float *src = job->input + (size_t)start * job->image;
    const size_t bytes = (size_t)m * job->image * sizeof(float);
    if (r->use_pinned) {
        /* Into the pinned staging of slot s once the upload from it two chunks ago is done;
         * the caller's input is then no longer read. */
        if (r->pin_busy[s])
            DC_CL_TRY(st, clWaitForEvents(1, &r->pin_busy[s]));
        dc_release_event(&r->pin_busy[s]);
        memcpy(r->pin_ptr[s], src, bytes);
        src = r->pin_ptr[s];
    }
    evp = dc_profile_add(&job->prof, job->e->profiling, ri, "input", "upload", 0);
    DC_CL_TRY(st,
              clEnqueueWriteBuffer(xq, r->slot[s], CL_FALSE, 0, bytes, src, r->slot_free[s] ? 1 : 0,
                                   r->slot_free[s] ? &r->slot_free[s] : NULL, &up));
    if (r->use_pinned && clRetainEvent(up) == CL_SUCCESS)
        r->pin_busy[s] = up;
    if (r->xfer) {
        DC_CL_TRY(st, clFlush(r->xfer)); /* start the copy now, while the queue computes */
        DC_CL_TRY(st, clEnqueueBarrierWithWaitList(r->queue, 1, &up, NULL));
    }
    dc_profile_keep(evp, &up);
    /* Bound once per chunk shape: a forward of the same shape sets no kernel argument. */
    if ((st = dc_replica_bind(r)) != DENSECL_OK)
        goto fail;
    for (int i = 0; i < r->plan.n_ops; i++) {
        const dc_op *op = &r->plan.ops[i];
        /* The name from the engine's model plan (the same op sequence at every size): a chunk
         * plan is freed when the image size changes, and densecl_op_event.name must outlive
         * that (the header promises the engine's lifetime). */
        evp = dc_profile_add(&job->prof, job->e->profiling, ri, e->model.ops[i].name,
                             dc_op_kind_name(op), op->macs);
        dc_exec_op(&x);
        /* The first op's start is the part's (below); the others' only when profiling. */
        x.keep_events = i == 0 || evp != NULL;
        cl_int err = dc_replica_launch_op(r, i, s, &x);
        if (err != CL_SUCCESS) {
            st = dc_error(dc_cl_status(err), "enqueueing %s on '%s' failed: %s", op->name,
                          r->info.name, dc_cl_error_name(err));
            goto fail;
        }
        if (i == 0) {
            /* The part's first compute command marks its start for the speed estimate: its
             * upload may have waited behind an earlier job, and with jobs back to back the
             * uploads overlap the compute, so a device's images/s is its compute's (on a GPU,
             * a blocking run's PCIe time is left out of the split). */
            if (!part->first_ev && x.first && clRetainEvent(x.first) == CL_SUCCESS)
                part->first_ev = x.first;
            dc_release_event(&r->slot_free[s]);
            DC_CL_TRY(st, clEnqueueMarkerWithWaitList(r->queue, 0, NULL, &r->slot_free[s]));
        }
        dc_profile_op(evp, &x);
    }
    part->fault_at_wait |= r->fault_at_wait;
    r->fault_at_wait = 0;
    evp = dc_profile_add(&job->prof, job->e->profiling, ri, "logits", "download", 0);
    DC_CL_TRY(st, clEnqueueReadBuffer(r->queue, r->bufs[r->plan.output_buf], CL_FALSE, 0,
                                      (size_t)m * (size_t)classes * sizeof(float),
                                      job->staged + (size_t)start * (size_t)classes, 0, NULL, &ev));
    if (evp && clRetainEvent(ev) == CL_SUCCESS) {
        evp->first = evp->last = ev;
        evp->launches = 1;
        if (clRetainEvent(ev) != CL_SUCCESS)
            evp->first = NULL;
    }
    dc_release_event(&part->last_ev);
    part->last_ev = ev;
    ev = NULL;
    /* Submit the chunk now: a driver that submits on flush would otherwise hold its compute
     * back until the range is enqueued. */
    DC_CL_TRY(st, clFlush(r->queue));
fail:
    r->fault_at_wait = 0; /* test hook: never carried to another chunk */
    dc_exec_release(&x);
    dc_release_event(&up);
    dc_release_event(&ev);
    return st;
}

/* Waits for a replica's two queues. */
static void dc_replica_drain(dc_replica *r)
{
    if (r->xfer)
        clFinish(r->xfer);
    clFinish(r->queue);
}

static void dc_part_release(dc_part *p)
{
    dc_release_event(&p->first_ev);
    dc_release_event(&p->last_ev);
}

/* Enqueues replica ri's part in chunks its memory allows. */
static densecl_status dc_enqueue_range(densecl_job *job, dc_part *part, int ri)
{
    dc_replica *r = &job->e->rep[ri];
    /* e->one for this job's image size: a re-run at the wait may come after a job of another
     * size was started (cached: nothing is built when the size is the last one's). */
    densecl_status st = dc_engine_one(job->e, job->h, job->w);
    if (st == DENSECL_OK)
        st = dc_replica_limit(r, &job->e->one);
    if (st == DENSECL_OK)
        st = dc_replica_host_limit(job->e, r, part->count, job->h, job->w);
    for (int done = 0; st == DENSECL_OK && done < part->count;) {
        int m = part->count - done < r->max_chunk ? part->count - done : r->max_chunk;
        /* A chunk that needs new buffers: where host memory is tight, the old ones are freed
         * first (a release waits for the commands still using them). */
        if (r->host_limited && r->bufs &&
            (m > r->alloc_n || r->plan.h != job->h || r->plan.w != job->w))
            dc_replica_drain(r);
        st = dc_enqueue_chunk(job, part, ri, part->start + done, m);
        if (st == DENSECL_ERR_NO_MEMORY && m > 1) {
            /* Out of device memory: finish what is queued, halve the chunk and go on. */
            dc_replica_drain(r);
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

/* Takes a replica out after a failure; its queues are drained so that no late write lands in
 * a job's logits. */
static void dc_replica_fail(dc_replica *r, densecl_status why)
{
    const char *msg = densecl_last_error();
    if (msg && *msg)
        snprintf(r->failure, sizeof r->failure, "%s", msg);
    else /* never an empty reason: at least the status */
        snprintf(r->failure, sizeof r->failure, "%s (the driver gave no detail)",
                 densecl_status_str(why));
    r->failure_status = why;
    r->active = 0;
    dc_replica_drain(r);
    dc_release_buffers(r);
    dc_log(DENSECL_LOG_WARN, "device '%s' taken out: %s", r->info.name, r->failure);
}

/* Device time of a part, from its first compute command to its download; wall time when the
 * queue does not profile. */
static double dc_range_seconds(const dc_replica *r, const dc_part *p, double wall)
{
    cl_ulong t0 = 0, t1 = 0;
    if (r->queue_profiling && p->first_ev && p->last_ev &&
        clGetEventProfilingInfo(p->first_ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) ==
            CL_SUCCESS &&
        clGetEventProfilingInfo(p->last_ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) ==
            CL_SUCCESS &&
        t1 > t0)
        return (double)(t1 - t0) * 1e-9;
    return wall;
}

/* Splits [start, start + n) over the active replicas in proportion to speed, into rd's parts.
 * Returns how many replicas got work, 0 if none is active. */
static int dc_split(densecl_engine *e, dc_round *rd, int start, int n)
{
    double total = 0;
    int active = 0, given = 0, last = -1, used = 0;
    for (int i = 0; i < e->n_rep; i++) {
        if (!e->rep[i].active)
            continue;
        active++;
        total += e->rep[i].speed > 0 ? e->rep[i].speed : 1.0;
    }
    if (!active)
        return 0;
    for (int i = 0; i < e->n_rep; i++) {
        dc_replica *r = &e->rep[i];
        if (!r->active)
            continue;
        double share = (r->speed > 0 ? r->speed : 1.0) / total;
        int c = (int)floor(share * n + 0.5);
        if (c > n - given)
            c = n - given;
        rd->part[i].start = start + given;
        rd->part[i].count = c;
        given += c;
        last = i;
    }
    rd->part[last].count += n - given; /* rounding remainder */
    for (int i = 0; i < e->n_rep; i++)
        used += rd->part[i].count > 0;
    return used;
}

static void dc_orphan(dc_round *rd, int start, int count)
{
    rd->orphan_start[rd->n_orphans] = start;
    rd->orphan_count[rd->n_orphans++] = count;
}

/* Enqueues [start, start + n) of a job on the active replicas, without waiting. A replica
 * whose enqueue fails is taken out and its range kept as an orphan, re-run at the wait. */
static void dc_submit(densecl_job *job, dc_round *rd, int start, int n)
{
    densecl_engine *e = job->e;
    memset(rd, 0, sizeof *rd);
    rd->t0 = dc_now();
    if (!dc_split(e, rd, start, n)) {
        dc_orphan(rd, start, n);
        return;
    }
    for (int i = 0; i < e->n_rep; i++) {
        dc_replica *r = &e->rep[i];
        dc_part *p = &rd->part[i];
        if (!p->count)
            continue;
        densecl_status st = dc_enqueue_range(job, p, i);
        if (st != DENSECL_OK) {
            dc_replica_fail(r, st);
            dc_part_release(p);
            dc_orphan(rd, p->start, p->count);
            p->count = 0;
            continue;
        }
        clFlush(r->queue); /* start the device now rather than at the wait */
    }
}

/* The error when no replica is left: the devices' own status when they all failed alike (out
 * of memory), else OpenCL's. */
static densecl_status dc_no_device(const densecl_engine *e)
{
    char why[512] = "";
    densecl_status all = e->rep[0].failure_status;
    for (int i = 0; i < e->n_rep; i++) {
        size_t len = strlen(why);
        snprintf(why + len, sizeof why - len, "%s'%s': %s", i ? "; " : "", e->rep[i].info.name,
                 e->rep[i].failure);
        if (e->rep[i].failure_status != all)
            all = DENSECL_ERR_OPENCL;
    }
    return dc_error(all != DENSECL_OK ? all : DENSECL_ERR_OPENCL, "no device left to run on (%s)",
                    why);
}

/* Waits for rd's parts and updates each replica's speed. A part whose commands failed takes
 * its replica out; its range, and every orphan, is then re-split over the replicas left and
 * run to the end, until all is done or no replica is left. */
static densecl_status dc_complete(densecl_job *job, dc_round *rd)
{
    densecl_engine *e = job->e;
    for (int i = 0; i < e->n_rep; i++) {
        dc_replica *r = &e->rep[i];
        dc_part *p = &rd->part[i];
        densecl_status st = DENSECL_OK;
        cl_int status = CL_COMPLETE, err;
        if (!p->count)
            continue;
        /* A part's own events say whether its commands ran, even on a replica that another
         * job's failure has taken out since. */
        err = p->last_ev ? clWaitForEvents(1, &p->last_ev) : CL_INVALID_EVENT;
        if (p->last_ev) {
            cl_int e2 = clGetEventInfo(p->last_ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                                       &status, NULL);
            if (e2 != CL_SUCCESS)
                err = e2;
        }
        if (p->fault_at_wait)
            status = CL_DEVICE_NOT_AVAILABLE;
        if (err != CL_SUCCESS || status < 0) {
            cl_int why = err != CL_SUCCESS ? err : status;
            st = dc_error(dc_cl_status(why), "running on '%s' failed: %s", r->info.name,
                          dc_cl_error_name(why));
            if (r->active)
                dc_replica_fail(r, st);
            dc_orphan(rd, p->start, p->count);
        } else {
            double secs = dc_range_seconds(r, p, dc_now() - rd->t0);
            double speed = secs > 0 ? p->count / secs : 0;
            if (speed > 0)
                r->speed =
                    r->speed > 0 ? (1 - DC_SPEED_EMA) * r->speed + DC_SPEED_EMA * speed : speed;
            r->images += (uint64_t)p->count;
        }
        dc_part_release(p);
        p->count = 0;
    }
    for (int k = 0; k < rd->n_orphans; k++) {
        dc_round sub;
        int active = 0;
        densecl_status st;
        for (int i = 0; i < e->n_rep; i++)
            active += e->rep[i].active;
        if (!active)
            return dc_no_device(e);
        dc_submit(job, &sub, rd->orphan_start[k], rd->orphan_count[k]);
        if ((st = dc_complete(job, &sub)) != DENSECL_OK)
            return st;
    }
    rd->n_orphans = 0;
    return DENSECL_OK;
}

static void dc_job_free(densecl_job *job)
{
    for (int i = 0; i < DC_MAX_REPLICAS; i++)
        dc_part_release(&job->round.part[i]);
    dc_profile_free(&job->prof);
    free(job->staged);
    free(job);
}

static densecl_status dc_start_locked(densecl_engine *e, const float *input, int n, int c, int h,
                                      int w, float *logits, densecl_job **out)
{
    densecl_status st;
    densecl_job *job;
    if (c != e->cfg.in_channels)
        return dc_error(DENSECL_ERR_INPUT,
                        "input has %d channels, the model expects %d (input shape [%d, %d, %d, %d]"
                        ", NCHW)",
                        c, e->cfg.in_channels, n, c, h, w);
    char decl[512]; /* an ONNX graph's static input size is the only one it takes */
    if (dc_input_decl_mismatch(&e->input, h, w, decl, sizeof decl))
        return dc_error(DENSECL_ERR_INPUT,
                        "input of %dx%d pixels (height x width), but the ONNX graph declares its "
                        "input %s",
                        h, w, decl);
    if ((st = dc_engine_one(e, h, w)) != DENSECL_OK)
        return st;
    /* Devices taken out stay out while others remain; when none is left, a new job gives them
     * another chance (an earlier batch may simply have been too large for them). */
    int active = 0;
    for (int i = 0; i < e->n_rep; i++)
        active += e->rep[i].active;
    for (int i = 0; !active && i < e->n_rep; i++)
        e->rep[i].active = 1;
    job = calloc(1, sizeof *job);
    if (job)
        job->staged = malloc((size_t)n * (size_t)e->cfg.num_classes * sizeof *job->staged);
    if (!job || !job->staged) {
        free(job);
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
    }
    job->e = e;
    job->input = input;
    job->logits = logits;
    job->image = (size_t)c * (size_t)h * (size_t)w;
    job->n = n;
    job->h = h;
    job->w = w;
    dc_submit(job, &job->round, 0, n);
    job->next = e->jobs;
    if (e->jobs)
        e->jobs->prev = job;
    e->jobs = job;
    *out = job;
    return DENSECL_OK;
}

densecl_status densecl_engine_start(densecl_engine *e, const float *input, int n, int c, int h,
                                    int w, float *logits, densecl_job **job)
{
    densecl_status st;
    if (job)
        *job = NULL;
    if (!e || !input || !logits || !job)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_engine_start: NULL argument");
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return dc_error(DENSECL_ERR_INPUT, "input shape [%d, %d, %d, %d] has an empty dimension", n,
                        c, h, w);
    pthread_mutex_lock(&e->lock);
    st = dc_start_locked(e, input, n, c, h, w, logits, job);
    pthread_mutex_unlock(&e->lock);
    return st;
}

densecl_status densecl_job_wait(densecl_job *job)
{
    densecl_status st;
    densecl_engine *e;
    if (!job)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_job_wait: job is NULL");
    e = job->e;
    /* The long wait without the lock, so that other threads may start jobs meanwhile; the
     * events are the job's own references. */
    for (int i = 0; i < DC_MAX_REPLICAS; i++)
        if (job->round.part[i].count && job->round.part[i].last_ev)
            clWaitForEvents(1, &job->round.part[i].last_ev);
    pthread_mutex_lock(&e->lock);
    st = dc_complete(job, &job->round);
    if (st == DENSECL_OK) {
        memcpy(job->logits, job->staged,
               (size_t)job->n * (size_t)e->cfg.num_classes * sizeof *job->logits);
        dc_profile_collect(&job->prof, job->e);
    } else {
        e->n_events = 0;
    }
    if (job->prev)
        job->prev->next = job->next;
    else
        e->jobs = job->next;
    if (job->next)
        job->next->prev = job->prev;
    pthread_mutex_unlock(&e->lock);
    dc_job_free(job);
    return st;
}

densecl_status densecl_engine_run(densecl_engine *e, const float *input, int n, int c, int h, int w,
                                  float *logits)
{
    densecl_job *job;
    densecl_status st = densecl_engine_start(e, input, n, c, h, w, logits, &job);
    return st == DENSECL_OK ? densecl_job_wait(job) : st;
}

void dc_jobs_free(densecl_engine *e)
{
    if (!e->jobs)
        return;
    for (int i = 0; i < e->n_rep; i++)
        if (e->rep[i].queue)
            dc_replica_drain(&e->rep[i]);
    while (e->jobs) {
        densecl_job *next = e->jobs->next;
        dc_job_free(e->jobs);
        e->jobs = next;
    }
}

/* Measures each replica alone on a small batch, so the first real batch is already split by
 * speed. A replica that fails here is taken out like one failing mid-run. */
densecl_status dc_calibrate(densecl_engine *e)
{
    int side = e->cfg.stem == DENSECL_STEM_IMAGENET ? 64 : 32;
    int min = densecl_config_min_size(&e->cfg);
    int n = 2;
    float *x, *y;
    densecl_status st = DENSECL_OK;
    if (side < min)
        side = min;
    if ((st = dc_engine_one(e, side, side)) != DENSECL_OK)
        return st;
    densecl_job job = {0};
    job.e = e;
    job.image = (size_t)e->cfg.in_channels * (size_t)side * (size_t)side;
    job.n = n;
    job.h = job.w = side;
    x = calloc((size_t)n * job.image, sizeof *x);
    y = malloc((size_t)n * (size_t)e->cfg.num_classes * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
    }
    job.input = x;
    job.staged = job.logits = y;
    for (int i = 0; i < e->n_rep && st == DENSECL_OK; i++) {
        dc_replica *r = &e->rep[i];
        double t0 = dc_now();
        /* Twice: the first run pays for buffer creation and first-launch costs. */
        for (int rep = 0; rep < 2 && r->active; rep++) {
            dc_part part = {0, n, NULL, NULL, 0};
            cl_int fin = CL_SUCCESS;
            if (dc_enqueue_range(&job, &part, i) != DENSECL_OK ||
                (fin = clFinish(r->queue)) != CL_SUCCESS) {
                if (fin != CL_SUCCESS) /* the reason dc_replica_fail records */
                    dc_error(dc_cl_status(fin), "its calibration run failed: clFinish: %s",
                             dc_cl_error_name(fin));
                dc_part_release(&part);
                dc_replica_fail(r, DENSECL_ERR_OPENCL);
                break;
            }
            if (rep == 1) {
                double secs = dc_range_seconds(r, &part, dc_now() - t0);
                r->speed = secs > 0 ? n / secs : 0;
            }
            dc_part_release(&part);
            t0 = dc_now();
        }
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
