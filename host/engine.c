/* engine.c - a replica: the plan bound to one device (context, queue, program, kernels, folded
 * weights in one read-only buffer, activation buffers), and the run loop. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Where an op's parameters live in the weight buffer, in floats; SIZE_MAX when absent. */
typedef struct dc_op_dev {
    size_t weight, bias, pre;
} dc_op_dev;

struct densecl_engine {
    densecl_config cfg;
    densecl_device_info info;
    cl_device_id dev;
    cl_context ctx;
    cl_command_queue queue;
    cl_program prog;
    dc_kernels kern;
    cl_mem weights;
    uint64_t weight_bytes;
    int n_ops;
    dc_op_dev *op_dev;
    /* Activations for the current shape; rebuilt when the batch chunk or image size changes. */
    dc_plan plan;
    cl_mem *bufs;
    uint64_t act_bytes;
};

#define DC_ABSENT SIZE_MAX
/* Parameter blocks start on 64-byte boundaries so kernels may use aligned vector loads. */
#define DC_ALIGN_FLOATS 16

static size_t dc_align(size_t n)
{
    return (n + DC_ALIGN_FLOATS - 1) / DC_ALIGN_FLOATS * DC_ALIGN_FLOATS;
}

static void dc_release_buffers(densecl_engine *e)
{
    for (int i = 0; e->bufs && i < e->plan.n_bufs; i++)
        if (e->bufs[i])
            clReleaseMemObject(e->bufs[i]);
    free(e->bufs);
    e->bufs = NULL;
    dc_plan_free(&e->plan);
    e->act_bytes = 0;
}

/* Lays out every op's parameters in one host array and uploads it. */
static densecl_status dc_upload_weights(densecl_engine *e, const densecl_weights *w)
{
    densecl_status st = DENSECL_OK;
    dc_plan plan;
    float *host = NULL;
    size_t total = 0;
    int min = densecl_config_min_size(&w->cfg);
    cl_int err;

    if ((st = dc_plan_build(&w->cfg, 1, min, min, &plan)) != DENSECL_OK)
        return st;
    if (plan.n_ops != w->n_params) {
        st = dc_error(DENSECL_ERR_ARGUMENT, "weights were folded for %d ops, the plan has %d",
                      w->n_params, plan.n_ops);
        goto fail;
    }
    e->n_ops = plan.n_ops;
    e->op_dev = calloc((size_t)plan.n_ops, sizeof *e->op_dev);
    if (!e->op_dev) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    for (int pass = 0; pass < 2; pass++) {
        total = 0;
        for (int i = 0; i < plan.n_ops; i++) {
            const dc_op *op = &plan.ops[i];
            const dc_op_params *pp = &w->params[i];
            dc_op_dev *od = &e->op_dev[i];
            od->weight = od->bias = od->pre = DC_ABSENT;
            if (pp->weight) {
                size_t len = op->kind == DC_OP_CONV
                                 ? dc_conv_weight_pack(NULL, op->out_c, op->in_c, op->k, NULL)
                                 : (size_t)op->out_c * (size_t)op->in_c;
                od->weight = total;
                if (host && op->kind == DC_OP_CONV)
                    dc_conv_weight_pack(pp->weight, op->out_c, op->in_c, op->k, host + total);
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
            if (total * sizeof(float) > e->info.max_alloc_bytes) {
                st = dc_error(DENSECL_ERR_LIMIT,
                              "the weights need %zu MiB in one buffer, more than the %llu MiB "
                              "'%s' can allocate at once (CL_DEVICE_MAX_MEM_ALLOC_SIZE)",
                              total * sizeof(float) >> 20,
                              (unsigned long long)(e->info.max_alloc_bytes >> 20), e->info.name);
                goto fail;
            }
            host = calloc(total ? total : 1, sizeof *host);
            if (!host) {
                st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory staging the weights");
                goto fail;
            }
        }
    }
    e->weights = clCreateBuffer(e->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                total * sizeof(float), host, &err);
    DC_CL_TRY(st, err);
    e->weight_bytes = total * sizeof(float);
fail:
    free(host);
    dc_plan_free(&plan);
    return st;
}

static densecl_status dc_engine_init(densecl_engine *e, const densecl_weights *w)
{
    densecl_status st;
    if ((st = dc_program_build(e->ctx, e->dev, NULL, &e->prog)) != DENSECL_OK)
        return st;
    if ((st = dc_kernels_create(e->prog, &e->kern)) != DENSECL_OK)
        return st;
    return dc_upload_weights(e, w);
}

static densecl_status dc_engine_alloc(const densecl_weights *w, densecl_engine **out)
{
    if (!out)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_engine_create: out is NULL");
    *out = NULL;
    if (!w || !w->params)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_engine_create: no weights");
    *out = calloc(1, sizeof **out);
    if (!*out)
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
    (*out)->cfg = w->cfg;
    return DENSECL_OK;
}

densecl_status densecl_engine_create(const densecl_weights *w, const char *device_spec,
                                     densecl_engine **out)
{
    densecl_engine *e = NULL;
    densecl_status st = dc_engine_alloc(w, &e);
    cl_int err;
    if (st != DENSECL_OK)
        return st;
    if ((st = dc_device_pick(device_spec, &e->dev, &e->info)) != DENSECL_OK)
        goto fail;
    e->ctx = clCreateContext(NULL, 1, &e->dev, NULL, NULL, &err);
    DC_CL_TRY(st, err);
    e->queue = clCreateCommandQueue(e->ctx, e->dev, 0, &err);
    DC_CL_TRY(st, err);
    if ((st = dc_engine_init(e, w)) != DENSECL_OK)
        goto fail;
    dc_log(DENSECL_LOG_INFO, "engine on '%s': %llu KiB of weights", e->info.name,
           (unsigned long long)(e->weight_bytes >> 10));
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
    if (st != DENSECL_OK)
        return st;
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
    DC_CL_TRY(st, clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof e->dev, &e->dev, NULL));
    /* Our own references: the caller may release theirs whenever they like. */
    DC_CL_TRY(st, clRetainContext(context));
    e->ctx = context;
    DC_CL_TRY(st, clRetainCommandQueue(queue));
    e->queue = queue;
    dc_device_describe(e->dev, &e->info);
    e->info.platform_index = e->info.device_index = -1;
    if ((st = dc_engine_init(e, w)) != DENSECL_OK)
        goto fail;
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
    dc_release_buffers(e);
    if (e->queue)
        clFinish(e->queue);
    if (e->weights)
        clReleaseMemObject(e->weights);
    dc_kernels_release(&e->kern);
    if (e->prog)
        clReleaseProgram(e->prog);
    if (e->queue)
        clReleaseCommandQueue(e->queue);
    if (e->ctx)
        clReleaseContext(e->ctx);
    free(e->op_dev);
    free(e);
}

const densecl_device_info *densecl_engine_device(const densecl_engine *e)
{
    return e ? &e->info : NULL;
}

void densecl_engine_memory(const densecl_engine *e, uint64_t *weight_bytes,
                           uint64_t *activation_bytes)
{
    if (weight_bytes)
        *weight_bytes = e ? e->weight_bytes : 0;
    if (activation_bytes)
        *activation_bytes = e ? e->act_bytes : 0;
}

/* Makes the activation buffers match an [n, c, h, w] input. */
static densecl_status dc_engine_shape(densecl_engine *e, int n, int h, int w)
{
    densecl_status st;
    cl_int err;
    if (e->bufs && e->plan.n == n && e->plan.h == h && e->plan.w == w)
        return DENSECL_OK;
    dc_release_buffers(e);
    if ((st = dc_plan_build(&e->cfg, n, h, w, &e->plan)) != DENSECL_OK)
        return st;
    e->bufs = calloc((size_t)e->plan.n_bufs, sizeof *e->bufs);
    if (!e->bufs) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    for (int i = 0; i < e->plan.n_bufs; i++) {
        e->bufs[i] = clCreateBuffer(e->ctx, CL_MEM_READ_WRITE, e->plan.buf_floats[i] * sizeof(float),
                                    NULL, &err);
        DC_CL_TRY(st, err);
        e->act_bytes += e->plan.buf_floats[i] * sizeof(float);
    }
    return DENSECL_OK;
fail:
    dc_release_buffers(e);
    return st;
}

static dc_mem dc_wmem(const densecl_engine *e, size_t off)
{
    dc_mem m = {off == DC_ABSENT ? NULL : e->weights, off == DC_ABSENT ? 0 : off};
    return m;
}

static cl_int dc_enqueue_op(densecl_engine *e, int i)
{
    const dc_op *op = &e->plan.ops[i];
    const dc_op_dev *od = &e->op_dev[i];
    dc_mem in = {e->bufs[op->in_buf], 0}, out = {e->bufs[op->out_buf], 0};
    int n = e->plan.n;
    switch (op->kind) {
    case DC_OP_CONV: {
        dc_conv_args a = {in, dc_wmem(e, od->weight), dc_wmem(e, od->bias), dc_wmem(e, od->pre),
                          out, n, op->in_c, op->in_ctot, op->in_h, op->in_w, op->out_c,
                          op->out_ctot, op->out_coff, op->out_h, op->out_w, op->k, op->stride,
                          op->pad, op->relu};
        return dc_enqueue_conv2d(e->queue, &e->kern, &a, NULL);
    }
    case DC_OP_MAXPOOL:
    case DC_OP_BNRELU_AVGPOOL:
    case DC_OP_BNRELU_GAP: {
        dc_pool_args a = {in, dc_wmem(e, od->pre), out, n, op->in_c, op->in_ctot, op->in_h,
                          op->in_w, op->out_ctot, op->out_coff, op->out_h, op->out_w, op->k,
                          op->stride, op->pad};
        if (op->kind == DC_OP_MAXPOOL)
            return dc_enqueue_maxpool(e->queue, &e->kern, &a, NULL);
        if (op->kind == DC_OP_BNRELU_AVGPOOL)
            return dc_enqueue_bnrelu_avgpool(e->queue, &e->kern, &a, NULL);
        return dc_enqueue_bnrelu_gap(e->queue, &e->kern, &a, NULL);
    }
    case DC_OP_LINEAR: {
        dc_linear_args a = {in, dc_wmem(e, od->weight), dc_wmem(e, od->bias), out, n, op->in_c,
                            op->out_c};
        return dc_enqueue_linear(e->queue, &e->kern, &a, NULL);
    }
    default:
        return CL_INVALID_OPERATION;
    }
}

/* Images per chunk so that every activation buffer fits the device's largest allocation and all
 * of them, with the weights, fit in half of its global memory (the rest is the driver's). */
static densecl_status dc_chunk(densecl_engine *e, int n, int h, int w, int *chunk)
{
    dc_plan one;
    densecl_status st = dc_plan_build(&e->cfg, 1, h, w, &one);
    uint64_t budget, per_image, most = 0;
    if (st != DENSECL_OK)
        return st;
    per_image = (uint64_t)dc_plan_floats(&one) * sizeof(float);
    for (int i = 0; i < one.n_bufs; i++)
        if (one.buf_floats[i] > most)
            most = one.buf_floats[i];
    most *= sizeof(float);
    dc_plan_free(&one);
    budget = e->info.global_mem_bytes / 2 > e->weight_bytes
                 ? e->info.global_mem_bytes / 2 - e->weight_bytes
                 : 0;
    uint64_t by_mem = per_image ? budget / per_image : 0;
    uint64_t by_alloc = most ? e->info.max_alloc_bytes / most : 0;
    uint64_t c = by_mem < by_alloc ? by_mem : by_alloc;
    if (c < 1)
        return dc_error(DENSECL_ERR_LIMIT,
                        "one %dx%d image needs %llu MiB of activations (largest buffer %llu MiB); "
                        "'%s' offers %llu MiB of global memory and %llu MiB per allocation",
                        h, w, (unsigned long long)(per_image >> 20),
                        (unsigned long long)(most >> 20), e->info.name,
                        (unsigned long long)(e->info.global_mem_bytes >> 20),
                        (unsigned long long)(e->info.max_alloc_bytes >> 20));
    *chunk = c < (uint64_t)n ? (int)c : n;
    return DENSECL_OK;
}

densecl_status densecl_engine_run(densecl_engine *e, const float *input, int n, int c, int h,
                                  int w, float *logits)
{
    densecl_status st = DENSECL_OK;
    float *staged = NULL;
    int chunk = 0, classes;
    size_t image;
    if (!e || !input || !logits)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_engine_run: NULL argument");
    if (n < 1 || h < 1 || w < 1)
        return dc_error(DENSECL_ERR_INPUT, "input shape [%d, %d, %d, %d] has an empty dimension",
                        n, c, h, w);
    if (c != e->cfg.in_channels)
        return dc_error(DENSECL_ERR_INPUT,
                        "input has %d channels, the model expects %d (input shape [%d, %d, %d, %d]"
                        ", NCHW)",
                        c, e->cfg.in_channels, n, c, h, w);
    if ((st = dc_chunk(e, n, h, w, &chunk)) != DENSECL_OK)
        return st;
    classes = e->cfg.num_classes;
    image = (size_t)c * (size_t)h * (size_t)w;
    staged = malloc((size_t)n * (size_t)classes * sizeof *staged);
    if (!staged)
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
    for (int done = 0; done < n; done += chunk) {
        int m = n - done < chunk ? n - done : chunk;
        if ((st = dc_engine_shape(e, m, h, w)) != DENSECL_OK)
            goto fail;
        DC_CL_TRY(st, clEnqueueWriteBuffer(e->queue, e->bufs[e->plan.input_buf], CL_FALSE, 0,
                                           (size_t)m * image * sizeof(float),
                                           input + (size_t)done * image, 0, NULL, NULL));
        for (int i = 0; i < e->plan.n_ops; i++) {
            cl_int err = dc_enqueue_op(e, i);
            if (err != CL_SUCCESS) {
                st = dc_error(dc_cl_status(err), "enqueueing %s on '%s' failed: %s",
                              e->plan.ops[i].name, e->info.name, dc_cl_error_name(err));
                goto fail;
            }
        }
        DC_CL_TRY(st, clEnqueueReadBuffer(e->queue, e->bufs[e->plan.output_buf], CL_TRUE, 0,
                                          (size_t)m * (size_t)classes * sizeof(float),
                                          staged + (size_t)done * (size_t)classes, 0, NULL,
                                          NULL));
    }
    memcpy(logits, staged, (size_t)n * (size_t)classes * sizeof *logits);
fail:
    if (st != DENSECL_OK && e->queue)
        clFinish(e->queue);
    free(staged);
    return st;
}
