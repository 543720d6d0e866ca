/* SPDX-License-Identifier: MIT */
/* replica.c - a replica: the engine's plan bound to one device. Its context and queue, the conv
 * families resolved once for it (conv/conv.h), its program, the families' and the common kernels,
 * the folded weights packed by each op's family into one read-only buffer, and the activation
 * buffers of the current chunk shape. The scheduler (sched.c) runs batches on replicas. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/engine_impl.h"

/* Parameter blocks start on 64-byte boundaries so kernels may use aligned vector loads. */
#define DC_ALIGN_FLOATS 16

static size_t dc_align(size_t n)
{
    return (n + DC_ALIGN_FLOATS - 1) / DC_ALIGN_FLOATS * DC_ALIGN_FLOATS;
}

void dc_release_event(cl_event *ev)
{
    if (*ev)
        clReleaseEvent(*ev);
    *ev = NULL;
}

void dc_release_buffers(dc_replica *r)
{
    /* OpenCL keeps a released buffer until the commands queued on it have run: a job still in
     * flight finishes on the old buffers. */
    for (int i = 0; r->bufs && i < r->n_alloc; i++)
        if (r->bufs[i])
            clReleaseMemObject(r->bufs[i]);
    free(r->bufs);
    r->bufs = NULL;
    free(r->buf_cap);
    r->buf_cap = NULL;
    r->n_alloc = r->alloc_n = 0;
    for (int s = 0; s < 2; s++) {
        if (r->slot[s])
            clReleaseMemObject(r->slot[s]);
        r->slot[s] = NULL;
        dc_release_event(&r->slot_free[s]); /* a new buffer waits for nothing */
        dc_release_event(&r->pin_busy[s]);
        if (r->pin[s] && r->pin_ptr[s]) {
            cl_command_queue q = r->xfer ? r->xfer : r->queue;
            if (clEnqueueUnmapMemObject(q, r->pin[s], r->pin_ptr[s], 0, NULL, NULL) == CL_SUCCESS)
                clFinish(q);
        }
        if (r->pin[s])
            clReleaseMemObject(r->pin[s]);
        r->pin[s] = NULL;
        r->pin_ptr[s] = NULL;
    }
    r->next_slot = 0;
    if (r->ws)
        clReleaseMemObject(r->ws);
    r->ws = NULL;
    r->ws_floats = 0;
    dc_plan_free(&r->plan);
    r->act_bytes = 0;
    r->bound_ok = 0; /* the kernels stay, their arguments named these buffers */
}

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
    r->model_ops = plan->n_ops;
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
            /* The family that runs a conv, read from here at every launch. */
            od->fam = op->kind == DC_OP_CONV ? r->res.fam[dc_op_conv_kind(op)] : -1;
            if (pp->weight) {
                /* A conv's weights in the layout of the family that runs its kind. */
                int fi = od->fam;
                const dc_family *f = fi >= 0 ? dc_families[fi] : NULL;
                const dc_params *fp = fi >= 0 ? &r->res.params[fi] : NULL;
                size_t len = f ? f->pack(op, fp, NULL, NULL) : (size_t)op->out_c * (size_t)op->in_c;
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

/* Resolves the replica's conv families once (conv/conv.h), then gets its program, creates the
 * families' and the common kernels, and uploads the weights packed for them. plan, params: the
 * engine's model plan and the weights folded for it. given: NULL for the defaults. */
densecl_status dc_replica_init(dc_replica *r, const dc_plan *plan, const dc_op_params *params,
                               const dc_engine_choice *given)
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
    {
        /* In order, profiling as the main queue does; without it uploads stay on that queue. */
        cl_int err;
        r->xfer = clCreateCommandQueue(r->ctx, r->dev, props & CL_QUEUE_PROFILING_ENABLE, &err);
        if (err != CL_SUCCESS) {
            r->xfer = NULL;
            dc_log(DENSECL_LOG_INFO, "'%s': no second command queue (%s): uploads do not overlap",
                   r->info.name, dc_cl_error_name(err));
        }
    }
    if ((st = dc_caps_query(r->dev, &r->caps)) != DENSECL_OK)
        return st;
    {
        /* Pinned staging where the device's memory is not the host's (a discrete GPU);
         * DENSECL_PINNED=1 or 0 forces it either way (tests run it on POCL). */
        cl_bool unified = CL_TRUE;
        const char *force = getenv("DENSECL_PINNED");
        clGetDeviceInfo(r->dev, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
        r->use_pinned = force && *force ? strcmp(force, "0") != 0 : unified != CL_TRUE;
    }
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
    dc_program_opts po = {ec.binary_path, ec.no_cache, &r->res, &r->caps};
    if ((st = dc_program_get(r->ctx, r->dev, &po, &r->prog, &r->kern)) != DENSECL_OK)
        return st;
    if ((st = dc_upload_weights(r, params, plan)) != DENSECL_OK)
        return st;
    r->active = 1;
    dc_log(DENSECL_LOG_INFO, "replica on '%s': %llu KiB of weights", r->info.name,
           (unsigned long long)(r->weight_bytes >> 10));
    return DENSECL_OK;
}

densecl_status dc_replica_requeue(dc_replica *r, cl_command_queue_properties props)
{
    cl_int err;
    cl_command_queue q, x = NULL;
    if (r->xfer)
        clFinish(r->xfer);
    clFinish(r->queue);
    q = clCreateCommandQueue(r->ctx, r->dev, props, &err);
    if (err != CL_SUCCESS)
        return dc_error(dc_cl_status(err), "'%s': a profiling command queue: %s", r->info.name,
                        dc_cl_error_name(err));
    if (r->xfer && !(x = clCreateCommandQueue(r->ctx, r->dev, props, &err))) {
        clReleaseCommandQueue(q);
        return dc_error(dc_cl_status(err), "'%s': a profiling command queue: %s", r->info.name,
                        dc_cl_error_name(err));
    }
    clReleaseCommandQueue(r->queue);
    r->queue = q;
    if (r->xfer) {
        clReleaseCommandQueue(r->xfer);
        r->xfer = x;
    }
    r->queue_profiling = (props & CL_QUEUE_PROFILING_ENABLE) != 0;
    return DENSECL_OK;
}

static void dc_replica_unbind(dc_replica *r);

void dc_replica_free(dc_replica *r)
{
    if (r->xfer)
        clFinish(r->xfer);
    if (r->queue)
        clFinish(r->queue);
    dc_release_buffers(r);
    if (r->weights)
        clReleaseMemObject(r->weights);
    dc_replica_unbind(r);
    dc_program_kernels_release(&r->kern);
    if (r->prog)
        clReleaseProgram(r->prog);
    if (r->xfer)
        clReleaseCommandQueue(r->xfer);
    if (r->queue)
        clReleaseCommandQueue(r->queue);
    if (r->ctx)
        clReleaseContext(r->ctx);
    free(r->op_dev);
    memset(r, 0, sizeof *r);
}

/* The scratch the families need for the convs of a plan: the most any one needs. */
static size_t dc_plan_ws_floats(const dc_replica *r, const dc_plan *p)
{
    size_t most = 0;
    for (int i = 0; i < p->n_ops; i++) {
        const dc_op *op = &p->ops[i];
        int fi = r->op_dev[i].fam;
        size_t need = fi >= 0 && dc_families[fi]->workspace
                          ? dc_families[fi]->workspace(op, p->n, &r->res.params[fi])
                          : 0;
        if (need > most)
            most = need;
    }
    return most;
}

/* Whether the buffers made for alloc_n images hold plan p: a chunk of the same image size and
 * no more images has the same buffers, each no larger (every size scales with n). */
static int dc_replica_fits(const dc_replica *r, const dc_plan *p)
{
    int fits = r->bufs && r->plan.h == p->h && r->plan.w == p->w && p->n <= r->alloc_n &&
               p->n_bufs == r->n_alloc && dc_plan_ws_floats(r, p) <= r->ws_floats;
    for (int i = 0; fits && i < p->n_bufs; i++)
        fits = p->buf_floats[i] <= r->buf_cap[i];
    return fits;
}

densecl_status dc_replica_shape(dc_replica *r, const densecl_config *cfg, int n, int h, int w)
{
    densecl_status st;
    cl_int err;
    dc_plan p;
    size_t image = (size_t)cfg->in_channels * (size_t)h * (size_t)w;
    if (r->bufs && r->plan.n == n && r->plan.h == h && r->plan.w == w)
        return DENSECL_OK;
    if ((st = dc_plan_build(cfg, n, h, w, &p)) != DENSECL_OK)
        return st;
    if (dc_replica_fits(r, &p)) { /* a smaller chunk runs in the buffers it has */
        dc_plan_free(&r->plan);
        r->plan = p;
        r->bound_ok = 0; /* its sizes differ */
        return DENSECL_OK;
    }
    dc_release_buffers(r);
    r->plan = p;
    r->bufs = calloc((size_t)r->plan.n_bufs, sizeof *r->bufs);
    r->buf_cap = calloc((size_t)r->plan.n_bufs, sizeof *r->buf_cap);
    if (!r->bufs || !r->buf_cap) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    r->n_alloc = r->plan.n_bufs;
    r->alloc_n = n;
    for (int i = 0; i < r->plan.n_bufs; i++) {
        r->bufs[i] = clCreateBuffer(r->ctx, CL_MEM_READ_WRITE,
                                    r->plan.buf_floats[i] * sizeof(float), NULL, &err);
        DC_CL_TRY(st, err);
        r->buf_cap[i] = r->plan.buf_floats[i];
        r->act_bytes += r->plan.buf_floats[i] * sizeof(float);
    }
    for (int s = 0; s < 2; s++) {
        r->slot[s] =
            clCreateBuffer(r->ctx, CL_MEM_READ_ONLY, (size_t)n * image * sizeof(float), NULL, &err);
        DC_CL_TRY(st, err);
        r->act_bytes += (size_t)n * image * sizeof(float);
    }
    for (int s = 0; r->use_pinned && s < 2; s++) {
        /* Host memory, mapped once for the buffers' life; not device memory (act_bytes). */
        cl_command_queue q = r->xfer ? r->xfer : r->queue;
        r->pin[s] = clCreateBuffer(r->ctx, CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR,
                                   (size_t)n * image * sizeof(float), NULL, &err);
        DC_CL_TRY(st, err);
        r->pin_ptr[s] = clEnqueueMapBuffer(q, r->pin[s], CL_TRUE, CL_MAP_WRITE, 0,
                                           (size_t)n * image * sizeof(float), 0, NULL, NULL, &err);
        DC_CL_TRY(st, err);
    }
    /* One scratch buffer, the most any conv of this chunk needs from its family. */
    r->ws_floats = dc_plan_ws_floats(r, &r->plan);
    if (r->ws_floats) {
        r->ws = clCreateBuffer(r->ctx, CL_MEM_READ_WRITE, r->ws_floats * sizeof(float), NULL, &err);
        DC_CL_TRY(st, err);
        r->act_bytes += r->ws_floats * sizeof(float);
    }
    return DENSECL_OK;
fail:
    dc_release_buffers(r);
    return st;
}

static dc_mem dc_wmem(const dc_replica *r, size_t off)
{
    dc_mem m = {off == DC_ABSENT ? NULL : r->weights, off == DC_ABSENT ? 0 : off};
    return m;
}

/* Binds op i of the chunk plan, reading `input` instead of its plan's buffer when not NULL. */
static cl_int dc_replica_bind_op(dc_replica *r, int i, cl_mem input, dc_bound **b)
{
    const dc_op *op = &r->plan.ops[i];
    const dc_op_dev *od = &r->op_dev[i];
    dc_mem in = {input ? input : r->bufs[op->in_buf], 0}, out = {r->bufs[op->out_buf], 0};
    int n = r->plan.n;
    switch (op->kind) {
    case DC_OP_CONV: {
        dc_conv_args a = {in,
                          dc_wmem(r, od->weight),
                          dc_wmem(r, od->bias),
                          dc_wmem(r, od->pre),
                          out,
                          n,
                          op->in_c,
                          op->in_ctot,
                          op->in_h,
                          op->in_w,
                          op->out_c,
                          op->out_ctot,
                          op->out_coff,
                          op->out_h,
                          op->out_w,
                          op->k,
                          op->stride,
                          op->pad,
                          op->relu};
        dc_mem ws = {r->ws, 0};
        if (od->fam < 0)
            return CL_INVALID_KERNEL;
        return dc_families[od->fam]->bind(r->kern.fam[od->fam], &r->res.params[od->fam], &a, ws, b);
    }
    case DC_OP_MAXPOOL:
    case DC_OP_BNRELU_AVGPOOL:
    case DC_OP_BNRELU_GAP: {
        dc_pool_args a = {in,           dc_wmem(r, od->pre), out,       n,
                          op->in_c,     op->in_ctot,         op->in_h,  op->in_w,
                          op->out_ctot, op->out_coff,        op->out_h, op->out_w,
                          op->k,        op->stride,          op->pad};
        dc_pool_kind kind = op->kind == DC_OP_MAXPOOL          ? DC_POOL_MAX
                            : op->kind == DC_OP_BNRELU_AVGPOOL ? DC_POOL_AVG
                                                               : DC_POOL_GAP;
        /* GPU-shaped pools and classifier on GPUs (and GPU profiles); CPUs keep theirs. */
        return dc_pool_bind(r->prog, r->dev, kind, &a, (r->caps.type & CL_DEVICE_TYPE_GPU) != 0, b);
    }
    case DC_OP_LINEAR: {
        dc_linear_args a = {
            in, dc_wmem(r, od->weight), dc_wmem(r, od->bias), out, n, op->in_c, op->out_c};
        return dc_pool_bind(r->prog, r->dev, DC_POOL_LINEAR, &a,
                            (r->caps.type & CL_DEVICE_TYPE_GPU) != 0, b);
    }
    default:
        return CL_INVALID_OPERATION;
    }
}

densecl_status dc_replica_bind(dc_replica *r)
{
    if (r->bound_ok)
        return DENSECL_OK;
    for (int i = 0; i < r->plan.n_ops; i++)
        for (int s = 0; s < (i == 0 ? 2 : 1); s++) {
            cl_int err =
                dc_replica_bind_op(r, i, i == 0 ? r->slot[s] : NULL, &r->op_dev[i].bound[s]);
            if (err != CL_SUCCESS) {
                char why[512];
                snprintf(why, sizeof why, "%s", densecl_last_error());
                return dc_error(dc_cl_status(err), "binding %s on '%s' failed: %s%s%s",
                                r->plan.ops[i].name, r->info.name, dc_cl_error_name(err),
                                why[0] ? ": " : "", why);
            }
        }
    r->bound_ok = 1;
    return DENSECL_OK;
}

cl_int dc_replica_launch_op(dc_replica *r, int i, int slot, dc_exec *x)
{
    const dc_op_dev *od = &r->op_dev[i];
    const dc_bound *b = od->bound[i == 0 ? slot : 0];
    if (r->fault_err != CL_SUCCESS && r->fault_countdown-- <= 0) {
        cl_int err = r->fault_err;
        r->fault_err = CL_SUCCESS;
        if (err != DC_FAULT_AT_RUN)
            return err;
        /* The chunk's part will see its commands failed at the wait. (A barrier on a user
         * event set to an error would be the real thing, but POCL 3.1 aborts on it.) */
        r->fault_at_wait = 1;
    }
    if (!r->bound_ok || !b)
        return CL_INVALID_KERNEL_ARGS;
    if (r->plan.ops[i].kind == DC_OP_CONV)
        return dc_conv_launch(dc_families[od->fam], x, r->kern.fam[od->fam], b);
    return dc_bound_launch(x, b);
}

/* Frees every op's bound launches (before the program and the families' states go). */
static void dc_replica_unbind(dc_replica *r)
{
    for (int i = 0; r->op_dev && i < r->model_ops; i++)
        for (int s = 0; s < 2; s++) {
            dc_bound *b = r->op_dev[i].bound[s];
            if (!b)
                continue;
            if (r->op_dev[i].fam >= 0)
                dc_conv_unbind(dc_families[r->op_dev[i].fam], b);
            else
                dc_bound_free(b);
            r->op_dev[i].bound[s] = NULL;
        }
    r->bound_ok = 0;
}
