/* SPDX-License-Identifier: MIT */
/*
 * race.c - the first-run race: the one conv default that a CPU's instruction set does not
 * settle is measured once per device, on its first engine, and kept in the cache directory.
 *
 * What the device reports (its type, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: 16 where POCL compiles
 * for AVX-512, CL_FP_FMA) decides the rest: the tiles' size and vector width, the winograd
 * family for the 3x3 convs. The direct family's 1x1 tile on CPUs with 16-wide vectors is the
 * exception: two such CPUs measured opposite winners (conv/tuning.c dc_race_candidates). So the
 * first engine on such a device, built with the static default, without a tuning file, also
 * builds the 1x1 kernel with each other candidate tile, runs them in turn with its own 1x1
 * kernel on three DenseNet-shaped 1x1 convs (race_shapes) and keeps the fastest, if it beats
 * the static default by 5%, in a file that dc_tiles_default reads from the next engine on. It
 * costs that engine one build of the 1x1 kernel (about 0.6 s of CPU time on POCL 3.1, the
 * default's kernel being the engine's own, built anyway) and 20-40 ms of runs, once per device
 * and densecl version; POCL's own cache keeps the build. `densecl tune` measures every tile on
 * the whole model instead, and its file takes precedence. Without a cache directory, with
 * DENSECL_NO_TUNING=1, with tiles given, with the kernel cache turned off (no_kernel_cache,
 * DENSECL_NO_CACHE=1: nothing written there), or when anything in the race fails (logged), the
 * static default stands: the race never fails an engine.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/runtime.h"

/* The convs raced, DenseNet-121's bottleneck 1x1 convs of three blocks at batch 1 (cin -> 128
 * channels at side x side, with the BN+ReLU prologue), each in RACE_SETS copies of its buffers
 * used in turn, so that a launch finds its inputs and weights in the last-level cache rather
 * than in its core's, as a model's layers do (a conv run on the same buffers again and again
 * ranked the candidates otherwise: 16x16 5% ahead there on a 2-core Xeon, 11% behind in the
 * model). */
static const struct race_shape {
    int cin, side;
} race_shapes[] = {{128, 56}, {256, 28}, {512, 14}};
enum { RACE_COUT = 128, RACE_SHAPES = 3, RACE_SETS = 4 };
/* Rounds of the candidates in turn, each launching every conv once; the minimum per conv of
 * each candidate counts (a shared machine's other processes only ever add time). */
#define RACE_ROUNDS 7
/* A candidate replaces the static default only this much faster (the sum of its minima). */
#define RACE_MARGIN 0.95
#define RACE_MAX 4

typedef struct race_buffers {
    cl_mem in, wt, bias, pre, out;
} race_buffers;

static void race_buffers_free(race_buffers *b)
{
    cl_mem *m[] = {&b->in, &b->wt, &b->bias, &b->pre, &b->out};
    for (size_t i = 0; i < DC_ARRAY_LEN(m); i++)
        if (*m[i]) {
            clReleaseMemObject(*m[i]);
            *m[i] = NULL;
        }
}

static densecl_status race_buffers_make(cl_context ctx, const struct race_shape *sh,
                                        race_buffers *b)
{
    const size_t hw = (size_t)sh->side * sh->side;
    const size_t nin = (size_t)sh->cin * hw;
    const size_t nw = dc_conv_weight_pack(NULL, RACE_COUT, sh->cin, 1, NULL);
    const size_t nout = (size_t)RACE_COUT * hw;
    float *host = malloc((nin > nw ? nin : nw) * sizeof *host);
    float *w = malloc((size_t)RACE_COUT * sh->cin * sizeof *w);
    densecl_status st = DENSECL_OK;
    cl_int err = CL_SUCCESS;
    memset(b, 0, sizeof *b);
    if (!host || !w) {
        st = dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    /* Values only need to be finite: the race times, it checks nothing. */
    for (size_t i = 0; i < nin; i++)
        host[i] = (float)(i % 97) / 97.0f - 0.5f;
    b->in = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, nin * sizeof *host, host,
                           &err);
    DC_CL_TRY(st, err);
    for (size_t i = 0; i < (size_t)RACE_COUT * sh->cin; i++)
        w[i] = (float)(i % 89) / 890.0f - 0.05f;
    dc_conv_weight_pack(w, RACE_COUT, sh->cin, 1, host);
    b->wt =
        clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, nw * sizeof *host, host, &err);
    DC_CL_TRY(st, err);
    for (size_t i = 0; i < 2 * (size_t)sh->cin; i++)
        host[i] = i < (size_t)sh->cin ? 1.0f : 0.01f;
    b->pre = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                            2 * (size_t)sh->cin * sizeof *host, host, &err);
    DC_CL_TRY(st, err);
    b->bias = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, RACE_COUT * sizeof *host,
                             host, &err);
    DC_CL_TRY(st, err);
    b->out = clCreateBuffer(ctx, CL_MEM_WRITE_ONLY, nout * sizeof *host, NULL, &err);
    DC_CL_TRY(st, err);
fail:
    free(host);
    free(w);
    if (st != DENSECL_OK)
        race_buffers_free(b);
    return st;
}

/* One candidate: the direct family's parameters and kernels. The static default's are the
 * engine's own (its program and family state, owned by the replica: own 0); each other
 * candidate is the same parameters with its 1x1 tile, built with the 1x1 kernel alone. */
typedef struct race_entry {
    dc_params p;
    cl_program prog;
    void *state;
    int own;
    double best_us[RACE_SHAPES]; /* per conv, the minimum */
} race_entry;

static densecl_status race_entry_make(cl_context ctx, const dc_caps *caps, const dc_params *base,
                                      const int tile[2], race_entry *e)
{
    char defines[512] = "";
    densecl_status st;
    e->own = 1;
    e->p = *base;
    e->p.v[DC_DIRECT_FLAT_CO] = tile[0];
    e->p.v[DC_DIRECT_FLAT_PX] = tile[1];
    e->p.v[DC_DIRECT_KERNELS] = 1 << DC_KIND_1X1;
    if ((st = dc_family_direct.check(caps, &e->p, "1x1 race")) != DENSECL_OK)
        return st;
    dc_family_direct.defines(&e->p, NULL, defines, sizeof defines);
    if ((st = dc_program_build(ctx, caps->dev, 1u, defines, &e->prog)) != DENSECL_OK)
        return st;
    return dc_family_direct.create(e->prog, caps, &e->p, &e->state);
}

static void race_entry_free(race_entry *e)
{
    if (e->own && e->state)
        dc_family_direct.release(e->state);
    if (e->own && e->prog)
        clReleaseProgram(e->prog);
    memset(e, 0, sizeof *e);
}

/* One launch of e on the conv sh with buffers b; its device time in microseconds, or -1. */
static double race_time(cl_command_queue q, race_entry *e, const struct race_shape *sh,
                        const race_buffers *b)
{
    dc_conv_args a;
    cl_event ev = NULL;
    cl_ulong t0 = 0, t1 = 0;
    memset(&a, 0, sizeof a);
    a.in.buf = b->in;
    a.weight.buf = b->wt;
    a.bias.buf = b->bias;
    a.pre.buf = b->pre;
    a.out.buf = b->out;
    a.n = 1;
    a.cin = a.in_ctot = sh->cin;
    a.cout = a.out_ctot = RACE_COUT;
    a.in_h = a.in_w = a.out_h = a.out_w = sh->side;
    a.k = a.stride = 1;
    a.relu = 1;
    if (dc_conv_enqueue(&dc_family_direct, q, e->state, &e->p, &a, (dc_mem){NULL, 0}, &ev) !=
        CL_SUCCESS)
        return -1;
    cl_int err = clWaitForEvents(1, &ev);
    if (err == CL_SUCCESS)
        err = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL);
    if (err == CL_SUCCESS)
        err = clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL);
    clReleaseEvent(ev);
    return err == CL_SUCCESS && t1 >= t0 ? (double)(t1 - t0) / 1e3 : -1;
}

/* The sum of e's minima. */
static double race_sum(const race_entry *e)
{
    double t = 0;
    for (int i = 0; i < RACE_SHAPES; i++)
        t += e->best_us[i];
    return t;
}

/* Runs the race for caps->dev in ctx, the static default on the engine's direct parameters p
 * and family state, and writes its file; the reason when it did not. */
static densecl_status race_run(cl_context ctx, const dc_caps *caps, const dc_params *p, void *state,
                               int tiles[][2], int n, const char *path)
{
    race_entry e[RACE_MAX];
    race_buffers b[RACE_SHAPES][RACE_SETS];
    cl_command_queue q = NULL;
    densecl_status st;
    cl_int err = CL_SUCCESS;
    int win = 0;
    memset(e, 0, sizeof e);
    memset(b, 0, sizeof b);
    q = clCreateCommandQueue(ctx, caps->dev, CL_QUEUE_PROFILING_ENABLE, &err);
    DC_CL_TRY(st, err);
    for (int s = 0; s < RACE_SHAPES; s++)
        for (int k = 0; k < RACE_SETS; k++)
            if ((st = race_buffers_make(ctx, &race_shapes[s], &b[s][k])) != DENSECL_OK)
                goto fail;
    for (int i = 0; i < n; i++)
        for (int s = 0; s < RACE_SHAPES; s++)
            e[i].best_us[s] = -1;
    e[0].p = *p;
    e[0].state = state;
    for (int i = 1; i < n; i++)
        if ((st = race_entry_make(ctx, caps, p, tiles[i], &e[i])) != DENSECL_OK)
            goto fail;
    /* A first launch each builds the kernel (POCL compiles at the first launch); then the
     * rounds, the candidates in turn, each on the next copy of the buffers. */
    for (int r = -1, set = 0; r < RACE_ROUNDS; r++)
        for (int i = 0; i < n; i++)
            for (int s = 0; s < RACE_SHAPES; s++, set = (set + 1) % RACE_SETS) {
                double us = race_time(q, &e[i], &race_shapes[s], &b[s][set]);
                if (us < 0) {
                    st = dc_error(DENSECL_ERR_OPENCL, "a launch of the 1x1 kernel failed");
                    goto fail;
                }
                if (r >= 0 && (e[i].best_us[s] < 0 || us < e[i].best_us[s]))
                    e[i].best_us[s] = us;
            }
    for (int i = 1; i < n; i++)
        if (race_sum(&e[i]) < RACE_MARGIN * race_sum(&e[0]) && race_sum(&e[i]) < race_sum(&e[win]))
            win = i;
    {
        dc_atomic_file f;
        char dir[4200];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            dc_mkdirs(dir);
        }
        if ((st = dc_atomic_open(&f, path)) != DENSECL_OK)
            goto fail;
        int ok = fprintf(f.f,
                         "# densecl %s, 1x1 race on '%.200s', sums of the minima of %d "
                         "launches of 3 convs (microseconds):",
                         densecl_version(), caps->name, RACE_ROUNDS) > 0;
        for (int i = 0; ok && i < n; i++)
            ok = fprintf(f.f, " %dx%d %.1f", tiles[i][0], tiles[i][1], race_sum(&e[i])) > 0;
        ok = ok && fprintf(f.f, "\nconv1x1 %dx%d\n", tiles[win][0], tiles[win][1]) > 0;
        if ((st = dc_atomic_close(&f, ok && !ferror(f.f))) != DENSECL_OK)
            goto fail;
    }
    dc_log(DENSECL_LOG_INFO, "1x1 race on '%s': %dx%d %.1f us, %dx%d %.1f us: %dx%d (%s)",
           caps->name, tiles[0][0], tiles[0][1], race_sum(&e[0]), tiles[1][0], tiles[1][1],
           race_sum(&e[1]), tiles[win][0], tiles[win][1], path);
fail:
    for (int i = 0; i < n; i++)
        race_entry_free(&e[i]);
    for (int s = 0; s < RACE_SHAPES; s++)
        for (int k = 0; k < RACE_SETS; k++)
            race_buffers_free(&b[s][k]);
    if (q)
        clReleaseCommandQueue(q);
    return st;
}

void dc_race_tiles(cl_context ctx, const dc_caps *caps, const dc_choice *choice, int no_cache,
                   const dc_resolved *res, void *direct_state)
{
    int tiles[RACE_MAX][2], n;
    char path[4200], tpath[4200];
    const char *nc = getenv("DENSECL_NO_CACHE");
    const dc_params *p = res ? &res->params[0] : NULL;
    /* Only an engine whose 1x1 convs run on direct with the default tiles (not given, not
     * tuned; a program binary brings its own) times the candidates against them; no writing to
     * the cache directory asked for, no race either. */
    if (no_cache || (nc && *nc && strcmp(nc, "0") != 0) || !ctx || !caps || !choice ||
        choice->binary || !res || !direct_state || res->fam[DC_KIND_1X1] != 0 ||
        res->origin != DENSECL_TILES_DEFAULT)
        return;
    n = dc_tiles_race(caps->dev, tiles, RACE_MAX, path, sizeof path);
    /* Raced already, or tuned since (a tuning file's tiles win over any default). */
    if (n < 2 || access(path, F_OK) == 0 ||
        (dc_tiles_path(caps->dev, tpath, sizeof tpath) && access(tpath, F_OK) == 0) ||
        p->v[DC_DIRECT_FLAT_CO] != tiles[0][0] || p->v[DC_DIRECT_FLAT_PX] != tiles[0][1])
        return;
    if (race_run(ctx, caps, p, direct_state, tiles, n, path) != DENSECL_OK)
        dc_log(DENSECL_LOG_WARN, "1x1 race on '%s' not run, default tiles kept: %s", caps->name,
               densecl_last_error());
    dc_clear_error();
}
