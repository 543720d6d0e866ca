/* SPDX-License-Identifier: MIT */
/* engine_impl.h - what the engine's files share: the replica and engine structs and the calls
 * between them. Not installed.
 *   engine.c   the handle: create (config -> plan -> fold, then one replica per device and a
 *              calibration run), free, and the accessors
 *   replica.c  one replica: the plan bound to a device (resolution, program, kernels, weights
 *              packed and uploaded, activation buffers) and its release
 *   sched.c    runs: a batch split over the replicas, chunks, failover, calibration
 *   limits.c   images per chunk: device memory, and host memory on CPU devices
 *   profile.c  a run's per-op events into the engine's profile
 */
#ifndef DENSECL_ENGINE_IMPL_H
#define DENSECL_ENGINE_IMPL_H

#include <pthread.h>

#include "runtime/runtime.h"

/* More replicas than this on one machine is not a machine we have seen. */
#define DC_MAX_REPLICAS 16
#define DC_ABSENT SIZE_MAX

/* An op of the replica's plan on its device: where its parameters live in the weight buffer,
 * in floats (DC_ABSENT when absent), and the family that runs it (a conv; -1 otherwise), both
 * set once, when the weights are packed. */
typedef struct dc_op_dev {
    size_t weight, bias, pre;
    int fam;
    /* Its launches bound to the current chunk's buffers and sizes (dc_replica_bind): the op's
     * own kernel objects, every argument set. bound[1]: the first op's for input slot 1 (it
     * alone reads the input, which alternates between two buffers). */
    dc_bound *bound[2];
} dc_op_dev;

typedef struct dc_replica {
    densecl_device_info info;
    cl_device_id dev;
    cl_context ctx;
    cl_command_queue queue;
    /* The input's uploads, so that a chunk's upload overlaps the chunk before it computing;
     * NULL where a second queue could not be made (queue then does everything, in order). */
    cl_command_queue xfer;
    int queue_profiling; /* the queue records event times */
    int own_queue;       /* the engine made the queue (not densecl_engine_create_cl's caller's) */
    cl_program prog;
    dc_program_kernels kern; /* pools, gap, linear, and each used family's */
    dc_caps caps;
    dc_resolved res; /* resolved once: the family of each conv kind */
    cl_mem ws;       /* the families' scratch for the current chunk */
    size_t ws_floats;
    cl_mem weights;
    uint64_t weight_bytes;
    dc_op_dev *op_dev;
    int model_ops; /* op_dev's entries: the ops of the model's plan (and of every chunk's) */
    /* Activations for the current chunk shape; rebuilt when it changes, kept for a smaller
     * chunk of the same image size (the buffers were made for alloc_n images). */
    dc_plan plan;
    int bound_ok; /* the ops are bound to plan and these buffers */
    cl_mem *bufs;
    size_t *buf_cap; /* floats each of bufs holds */
    int n_alloc, alloc_n;
    /* Two input buffers for alloc_n images, used in turn: chunk i+1 is uploaded into one while
     * chunk i computes from the other. slot_free[s]: done when the last chunk that read slot s
     * has read it (a marker after the model's first op); the next upload into s waits for it. */
    cl_mem slot[2];
    cl_event slot_free[2];
    int next_slot;
    /* Pinned staging for the uploads on a device that is not the host (use_pinned): the
     * input is copied into pin_ptr[s], mapped memory of pin[s] (CL_MEM_ALLOC_HOST_PTR), and
     * uploaded from there at the DMA engine's speed rather than a pageable copy's. pin_busy[s]:
     * the last upload from it, which the next copy into it waits for. */
    int use_pinned;
    cl_mem pin[2];
    float *pin_ptr[2];
    cl_event pin_busy[2];
    uint64_t act_bytes;
    int max_chunk; /* images per enqueue allowed by memory, for the current image size */
    int chunk_h, chunk_w;
    double speed; /* images/s estimate; 0 until measured */
    int active;
    char failure[256];
    densecl_status failure_status; /* the status of that failure */
    int host_limited;              /* host memory, not the device's limits, sizes its chunks */
    uint64_t images, retries;
    /* Fault injection (tests): fail with fault_err after fault_countdown more op enqueues. */
    int fault_countdown;
    cl_int fault_err;
    int fault_at_wait; /* DC_FAULT_AT_RUN hit while enqueueing the current chunk */
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
    densecl_job *jobs;   /* started and not yet waited for (a list; densecl_engine_free frees
                            them) */
    dc_input_decl input; /* the ONNX input the weights declared: its static
                            height and width are the only ones taken */
};

/* What a replica is asked to run with (densecl_engine_options). */
typedef struct dc_engine_choice {
    const char *binary_path;
    int no_cache;
    dc_choice choice;
} dc_engine_choice;

/* ---------------------------------------------------------------- replica.c */

/* Resolves the replica's conv families once (conv/conv.h), then gets its program, creates the
 * families' and the common kernels, and uploads the weights packed for them. plan, params: the
 * engine's model plan and the weights folded for it. given: NULL for the defaults. */
densecl_status dc_replica_init(dc_replica *r, const dc_plan *plan, const dc_op_params *params,
                               const dc_engine_choice *given);
/* Makes r's queues anew with props (after waiting for the old ones): profiling turned on. */
densecl_status dc_replica_requeue(dc_replica *r, cl_command_queue_properties props);
/* Waits for r's queue, then releases everything it holds and zeroes it. */
void dc_replica_free(dc_replica *r);
/* Releases r's activation buffers, its workspace and its chunk plan. */
void dc_release_buffers(dc_replica *r);
/* Makes a replica's activation and input buffers hold an [n, c, h, w] chunk: the buffers of a
 * larger chunk of the same image size are kept. */
densecl_status dc_replica_shape(dc_replica *r, const densecl_config *cfg, int n, int h, int w);
/* Binds every op of r's chunk plan to its buffers and sizes, unless they are bound already:
 * after this a forward sets no kernel argument. DENSECL_ERR_* naming the op on failure. */
densecl_status dc_replica_bind(dc_replica *r);
/* Enqueues op i of r's bound chunk plan on x (the family in r->op_dev[i].fam); slot: the input
 * buffer the first op reads. Returns the OpenCL error. */
cl_int dc_replica_launch_op(dc_replica *r, int i, int slot, dc_exec *x);
/* Releases *ev when set, and clears it. */
void dc_release_event(cl_event *ev);

/* ---------------------------------------------------------------- profile.c */

/* A profiled op, kept as OpenCL events until its job has finished: its first kernel's and its
 * last's (the same for a transfer), and how many launches it made. */
typedef struct dc_pending {
    cl_event first, last;
    int replica, launches;
    const char *name, *kind;
    uint64_t macs;
} dc_pending;
typedef struct dc_profile {
    dc_pending *pend;
    int n, cap;
} dc_profile;
/* "conv1x1", "conv3x3", "conv7x7", "conv", "maxpool", ...: an op's kind in a profile. */
const char *dc_op_kind_name(const dc_op *op);
/* A new record of an op to profile, or NULL when `on` is 0 (or out of memory: the profile then
 * misses an op, the run itself goes on). */
dc_pending *dc_profile_add(dc_profile *prof, int on, int replica, const char *name,
                           const char *kind, uint64_t macs);
/* Hands *ev, one command's event, to p (which takes the reference) or releases it. */
void dc_profile_keep(dc_pending *p, cl_event *ev);
/* Gives an op's first and last kernel events (x's, retained) and launch count to p. */
void dc_profile_op(dc_pending *p, const dc_exec *x);
/* The profile into e->events, times from the earliest start (the job has finished). */
void dc_profile_collect(const dc_profile *prof, densecl_engine *e);
void dc_profile_free(dc_profile *prof);

/* ---------------------------------------------------------------- limits.c */

/* Images per chunk so that every activation buffer fits the device's largest allocation and all
 * of them, with the weights, fit in half of its global memory (r->max_chunk, for one's size).
 * one: the plan of one image of the input size. DENSECL_ERR_LIMIT when one image does not. */
densecl_status dc_replica_limit(dc_replica *r, const dc_plan *one);
/* Lowers a CPU replica's images per chunk to what host memory holds (the engine's active CPU
 * replicas share it); DENSECL_ERR_NO_MEMORY, giving the sizes, when one image does not fit.
 * e->one is the plan of one image of this run's size. */
densecl_status dc_replica_host_limit(densecl_engine *e, dc_replica *r, int count, int h, int w);

/* ---------------------------------------------------------------- sched.c */

/* Measures each replica alone on a small batch, so the first real batch is already split by
 * speed. A replica that fails here is taken out like one failing mid-run. */
densecl_status dc_calibrate(densecl_engine *e);
/* Waits for every device of e, then frees the jobs never waited for (densecl_engine_free). */
void dc_jobs_free(densecl_engine *e);

#endif /* DENSECL_ENGINE_IMPL_H */
