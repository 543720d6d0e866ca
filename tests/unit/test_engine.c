/* SPDX-License-Identifier: MIT */
/* The engine on real OpenCL devices: several replicas, failover, profiling, threads, a caller's
 * own context. Run with POCL_DEVICES="pthread pthread" (two POCL devices; see unit.cmake). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "runtime/runtime.h"

/* The first `count` (1 or 2) POCL devices as "P:D[,P:D]", found by platform name: on a machine
 * whose first platform is a GPU's, "0:0" or "all" would not be POCL's. "all" when there are
 * fewer, so that the replica count checks below name the problem. Static storage. */
static const char *pocl_devices(int count)
{
    static char spec[64];
    densecl_device_info d[16];
    int n = 0, found = 0;
    size_t len = 0;
    if (densecl_devices(d, 16, &n) != DENSECL_OK)
        return "all";
    for (int i = 0; i < n && i < 16 && found < count; i++) {
        if (!strstr(d[i].platform_name, "Portable Computing Language"))
            continue;
        len += (size_t)snprintf(spec + len, sizeof spec - len, "%s%d:%d", found ? "," : "",
                                d[i].platform_index, d[i].device_index);
        found++;
    }
    return found == count ? spec : "all";
}

static densecl_weights *small_model(densecl_config *cfg, int blocks, int layers)
{
    densecl_weights *w = NULL;
    densecl_config_preset("densenet-bc-100-k12", cfg);
    cfg->num_blocks = blocks;
    for (int b = 0; b < DENSECL_MAX_BLOCKS; b++)
        cfg->block_layers[b] = b < blocks ? layers : 0;
    CHECK(densecl_weights_random(cfg, 7, &w) == DENSECL_OK);
    return w;
}

static float *random_input(int n, int c, int h, int w, unsigned seed)
{
    size_t len = (size_t)n * c * h * w;
    float *x = malloc(len * sizeof *x);
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return x;
}

/* max |a - b| <= 1e-5 x max |a|: the same math on another device, up to fp32 reordering. */
static int close_enough(const float *a, const float *b, size_t n)
{
    double mx = 0, diff = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i]))
            return 0;
        mx = fmax(mx, fabs(a[i]));
        diff = fmax(diff, fabs((double)a[i] - b[i]));
    }
    return diff <= 1e-5 * (mx > 1 ? mx : 1);
}

static void test_replicas_and_failover(void)
{
    densecl_config cfg;
    densecl_weights *w = small_model(&cfg, 3, 4);
    densecl_engine *one = NULL, *two = NULL;
    const int n = 9, h = 16;
    float *x = random_input(n, 3, h, h, 1);
    float *ref = calloc((size_t)n * 10, sizeof *ref), *got = calloc((size_t)n * 10, sizeof *got);
    densecl_replica_stats s0, s1;

    CHECK(densecl_engine_create(w, pocl_devices(1), &one) == DENSECL_OK);
    CHECK(densecl_engine_run(one, x, n, 3, h, h, ref) == DENSECL_OK);
    CHECK(densecl_engine_create(w, pocl_devices(2), &two) == DENSECL_OK);
    CHECKF(densecl_engine_replica_count(two) == 2,
           "%d POCL devices; run with POCL_DEVICES=\"pthread pthread\"",
           densecl_engine_replica_count(two));
    if (densecl_engine_replica_count(two) != 2)
        goto done;
    CHECK(densecl_engine_replica_stats(two, 0, &s0) == DENSECL_OK && s0.images_per_second > 0);
    CHECK(densecl_engine_replica_stats(two, 1, &s1) == DENSECL_OK && s1.images_per_second > 0);

    /* Split across both: every image once, outputs in input order. */
    CHECK(densecl_engine_run(two, x, n, 3, h, h, got) == DENSECL_OK);
    CHECK(close_enough(ref, got, (size_t)n * 10));
    densecl_engine_replica_stats(two, 0, &s0);
    densecl_engine_replica_stats(two, 1, &s1);
    CHECKF(s0.images + s1.images == (uint64_t)n && s0.images > 0 && s1.images > 0,
           "images %llu + %llu", (unsigned long long)s0.images, (unsigned long long)s1.images);

    /* Out of resources mid-run: the range is retried in smaller chunks on the same device. */
    memset(got, 0, (size_t)n * 10 * sizeof *got);
    dc_engine_inject_fault(two, 1, 3, CL_OUT_OF_RESOURCES);
    CHECK(densecl_engine_run(two, x, n, 3, h, h, got) == DENSECL_OK);
    CHECK(close_enough(ref, got, (size_t)n * 10));
    densecl_engine_replica_stats(two, 1, &s1);
    CHECK(s1.active && s1.retries == 1);

    /* A device lost mid-run: taken out, its images computed on the other, none twice. */
    uint64_t before0, before1;
    densecl_engine_replica_stats(two, 0, &s0);
    before0 = s0.images;
    before1 = s1.images;
    memset(got, 0, (size_t)n * 10 * sizeof *got);
    dc_engine_inject_fault(two, 1, 5, CL_INVALID_COMMAND_QUEUE);
    CHECK(densecl_engine_run(two, x, n, 3, h, h, got) == DENSECL_OK);
    CHECK(close_enough(ref, got, (size_t)n * 10));
    densecl_engine_replica_stats(two, 0, &s0);
    densecl_engine_replica_stats(two, 1, &s1);
    CHECK(s0.active && !s1.active);
    CHECKF(strstr(s1.failure, "CL_INVALID_COMMAND_QUEUE") != NULL, "failure: %s", s1.failure);
    CHECKF(s0.images - before0 == (uint64_t)n && s1.images == before1,
           "images after failover: %llu, %llu", (unsigned long long)(s0.images - before0),
           (unsigned long long)(s1.images - before1));
    /* Later runs use the remaining device only. */
    CHECK(densecl_engine_run(two, x, n, 3, h, h, got) == DENSECL_OK);
    CHECK(close_enough(ref, got, (size_t)n * 10));

    /* The last device failing too: an error naming it, and the caller's logits untouched. */
    for (int i = 0; i < n * 10; i++)
        got[i] = 1234.5f;
    dc_engine_inject_fault(two, 0, 2, CL_INVALID_COMMAND_QUEUE);
    CHECK(densecl_engine_run(two, x, n, 3, h, h, got) == DENSECL_ERR_OPENCL);
    CHECKF(strstr(densecl_last_error(), "no device left") != NULL, "%s", densecl_last_error());
    int untouched = 1;
    for (int i = 0; i < n * 10; i++)
        untouched &= got[i] == 1234.5f;
    CHECK(untouched);
    /* With no device left, the next run tries them all again. */
    CHECK(densecl_engine_run(two, x, n, 3, h, h, got) == DENSECL_OK);
    CHECK(close_enough(ref, got, (size_t)n * 10));
done:
    densecl_engine_free(one);
    densecl_engine_free(two);
    densecl_weights_free(w);
    free(x);
    free(ref);
    free(got);
}

static void test_profile_and_errors(void)
{
    densecl_config cfg;
    densecl_weights *w = small_model(&cfg, 2, 3);
    densecl_engine *e = NULL;
    float *x = random_input(2, 3, 12, 12, 2), y[20];
    const densecl_op_event *ev;
    dc_plan plan;
    CHECK(densecl_engine_create(w, "auto", &e) == DENSECL_OK);
    CHECK(densecl_engine_set_profiling(e, 1) == DENSECL_OK);
    CHECK(densecl_engine_run(e, x, 2, 3, 12, 12, y) == DENSECL_OK);
    int n = densecl_engine_profile(e, &ev);
    CHECK(dc_plan_build(&cfg, 2, 12, 12, &plan) == DENSECL_OK);
    CHECKF(n == plan.n_ops + 2, "%d events for %d ops", n, plan.n_ops);
    uint64_t macs = 0;
    int ok = n > 0;
    for (int i = 0; i < n; i++) {
        macs += ev[i].macs;
        ok &= ev[i].duration_us >= 0 && ev[i].start_us >= 0 && ev[i].name && ev[i].kind;
    }
    CHECK(ok);
    CHECK(macs == plan.macs);
    CHECK(n > 2 && strcmp(ev[0].kind, "upload") == 0 && strcmp(ev[n - 1].kind, "download") == 0);
    CHECK(strcmp(ev[1].kind, "conv3x3") == 0 && strcmp(ev[1].name, "features.conv0") == 0);
    dc_plan_free(&plan);
    /* Names live as long as the engine: kept from this run, they still read right after runs
     * at other sizes (which free the chunk plans; 0.6.0 pointed into them: a use after free
     * under ASan), and the new events give the very same pointers. */
    const char *conv0 = ev[1].name, *last = ev[n - 2].name;
    float *x16 = random_input(2, 3, 16, 16, 5), *x20 = random_input(1, 3, 20, 20, 6);
    CHECK(densecl_engine_run(e, x16, 2, 3, 16, 16, y) == DENSECL_OK);
    CHECK(densecl_engine_run(e, x20, 1, 3, 20, 20, y) == DENSECL_OK);
    CHECKF(strcmp(conv0, "features.conv0") == 0 && strcmp(last, "classifier") == 0,
           "names after runs at other sizes: '%.40s', '%.40s'", conv0, last);
    int n2 = densecl_engine_profile(e, &ev);
    CHECKF(n2 == n && ev[1].name == conv0 && ev[n2 - 2].name == last,
           "%d events; names at %p, %p, were %p, %p", n2, (const void *)ev[1].name,
           (const void *)ev[n2 - 2].name, (const void *)conv0, (const void *)last);
    free(x16);
    free(x20);
    CHECK(densecl_engine_set_profiling(e, 0) == DENSECL_OK);
    CHECK(densecl_engine_run(e, x, 2, 3, 12, 12, y) == DENSECL_OK);
    CHECK(densecl_engine_profile(e, &ev) == 0);

    /* Input errors name the problem and leave the output alone. */
    CHECK(densecl_engine_run(e, x, 2, 1, 12, 12, y) == DENSECL_ERR_INPUT);
    CHECK(strstr(densecl_last_error(), "channels") != NULL);
    CHECK(densecl_engine_run(e, x, 1, 3, 1, 1, y) == DENSECL_ERR_INPUT); /* min 2x2 */
    CHECK(strstr(densecl_last_error(), "too small") != NULL);
    CHECK(densecl_engine_run(e, NULL, 1, 3, 12, 12, y) == DENSECL_ERR_ARGUMENT);
    CHECK(densecl_engine_create(w, "no-such-device-name", &e) == DENSECL_ERR_NO_DEVICE);
    CHECK(strstr(densecl_last_error(), "no-such-device-name") != NULL);
    densecl_engine_free(e);
    densecl_weights_free(w);
    free(x);
}

/* The caller's context and queue: densecl keeps its own references. */
static void test_own_context(void)
{
    densecl_config cfg;
    densecl_weights *w = small_model(&cfg, 2, 2);
    densecl_engine *mine = NULL, *auto_e = NULL;
    cl_device_id dev;
    densecl_device_info info;
    cl_int err;
    float *x = random_input(3, 3, 10, 10, 3), a[30], b[30];
    CHECK(dc_device_pick("auto", &dev, &info) == DENSECL_OK);
    cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    /* An out-of-order queue is refused: the ops are ordered by the queue (on POCL such a queue
     * gave logits off by up to 1.2e9 before). */
    cl_command_queue ooo =
        clCreateCommandQueue(ctx, dev, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
    CHECKF(err == CL_SUCCESS, "out-of-order queue: %s", dc_cl_error_name(err));
    if (err == CL_SUCCESS) {
        CHECK(densecl_engine_create_cl(w, ctx, ooo, &mine) == DENSECL_ERR_ARGUMENT);
        CHECK(mine == NULL && strstr(densecl_last_error(), "out of order") != NULL);
        clReleaseCommandQueue(ooo);
    }
    cl_command_queue q = clCreateCommandQueue(ctx, dev, 0, &err);
    CHECK(densecl_engine_create_cl(w, ctx, q, &mine) == DENSECL_OK);
    clReleaseCommandQueue(q);
    clReleaseContext(ctx);
    CHECK(densecl_engine_create(w, "auto", &auto_e) == DENSECL_OK);
    CHECK(densecl_engine_run(mine, x, 3, 3, 10, 10, a) == DENSECL_OK);
    CHECK(densecl_engine_run(auto_e, x, 3, 3, 10, 10, b) == DENSECL_OK);
    CHECK(close_enough(a, b, 30));
    /* No profiling on a queue made without it: refused, not silently empty. */
    CHECK(densecl_engine_set_profiling(mine, 1) == DENSECL_ERR_UNSUPPORTED);
    densecl_engine_free(mine);
    densecl_engine_free(auto_e);
    densecl_weights_free(w);
    free(x);
}

/* Several threads, one shared engine and one engine each, every output checked. */
#define THREADS 8
#define RUNS 200
typedef struct job {
    densecl_engine *shared, *own;
    const float *x, *ref;
    int bad;
} job;

static void *worker(void *arg)
{
    job *j = arg;
    float y[2 * 10];
    for (int i = 0; i < RUNS; i++) {
        densecl_engine *e = i % 2 ? j->shared : j->own;
        if (densecl_engine_run(e, j->x, 2, 3, 8, 8, y) != DENSECL_OK ||
            !close_enough(j->ref, y, 20))
            j->bad++;
    }
    return NULL;
}

static void test_threads(void)
{
    densecl_config cfg;
    densecl_weights *w = small_model(&cfg, 2, 1);
    densecl_engine *shared = NULL;
    float *x = random_input(2, 3, 8, 8, 4), ref[20];
    pthread_t th[THREADS];
    job jobs[THREADS];
    CHECK(densecl_engine_create(w, "auto", &shared) == DENSECL_OK);
    CHECK(densecl_engine_run(shared, x, 2, 3, 8, 8, ref) == DENSECL_OK);
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (job){shared, NULL, x, ref, 0};
        CHECK(densecl_engine_create(w, "auto", &jobs[t].own) == DENSECL_OK);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, worker, &jobs[t]);
    int bad = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        bad += jobs[t].bad;
        densecl_engine_free(jobs[t].own);
    }
    CHECKF(bad == 0, "%d of %d threaded runs wrong", bad, THREADS * RUNS);
    densecl_engine_free(shared);
    densecl_weights_free(w);
    free(x);
}

/* Accessors called while another thread runs (issue 15 item 10). Each takes the engine's lock,
 * so it sees the state between runs: every replica active and counting images that never
 * decrease, and, once a profiled run has ended, events (a run empties them at its start and
 * refills them at its end). Without the lock these reads race with the run's writes
 * (ThreadSanitizer names them) and see runs half-done. Each call is its own snapshot: the
 * replicas' counts, read one call each, may straddle a run, so their sum is no whole number of
 * batches. */
#define ACC_RUNS 40
#define ACC_N 3
typedef struct acc_job {
    densecl_engine *e;
    const float *x, *ref;
    int done; /* set by the runner after its last run, under m */
    pthread_mutex_t m;
    int bad_runs;
} acc_job;

static void *acc_runner(void *arg)
{
    acc_job *j = arg;
    float y[ACC_N * 10];
    for (int i = 0; i < ACC_RUNS; i++)
        if (densecl_engine_run(j->e, j->x, ACC_N, 3, 8, 8, y) != DENSECL_OK ||
            !close_enough(j->ref, y, ACC_N * 10))
            j->bad_runs++;
    pthread_mutex_lock(&j->m);
    j->done = 1;
    pthread_mutex_unlock(&j->m);
    return NULL;
}

static void test_accessors_during_runs(void)
{
    densecl_config cfg;
    densecl_weights *w = small_model(&cfg, 2, 1);
    densecl_engine *e = NULL;
    float *x = random_input(ACC_N, 3, 8, 8, 5), ref[ACC_N * 10];
    acc_job j;
    pthread_t th;
    uint64_t last = 0, reads = 0, inactive = 0, backwards = 0, no_events = 0, bad_mem = 0;
    int done = 0;
    CHECK(densecl_engine_create(w, "all", &e) == DENSECL_OK);
    CHECK(densecl_engine_run(e, x, ACC_N, 3, 8, 8, ref) == DENSECL_OK);
    CHECK(densecl_engine_set_profiling(e, 1) == DENSECL_OK);
    /* The first run above was not profiled: events appear with the first run below. */
    uint64_t base = 0;
    for (int i = 0; i < densecl_engine_replica_count(e); i++) {
        densecl_replica_stats s;
        CHECK(densecl_engine_replica_stats(e, i, &s) == DENSECL_OK);
        base += s.images;
    }
    CHECK(base == ACC_N);
    last = base;
    j = (acc_job){e, x, ref, 0, PTHREAD_MUTEX_INITIALIZER, 0};
    pthread_create(&th, NULL, acc_runner, &j);
    while (!done) {
        uint64_t images = 0, wb = 0, ab = 0;
        const densecl_op_event *ev = NULL;
        int nrep = densecl_engine_replica_count(e);
        pthread_mutex_lock(&j.m);
        done = j.done;
        pthread_mutex_unlock(&j.m);
        for (int i = 0; i < nrep; i++) {
            densecl_replica_stats s;
            if (densecl_engine_replica_stats(e, i, &s) != DENSECL_OK) {
                inactive++;
                continue;
            }
            images += s.images;
            inactive += !s.active || s.failure[0] != '\0';
        }
        int n_ev = densecl_engine_profile(e, &ev);
        densecl_engine_memory(e, &wb, &ab);
        backwards += images < last;
        /* More images than the unprofiled first run: a profiled run has ended, so the events,
         * read after the images, are those of a finished run. */
        no_events += images > base && n_ev == 0;
        bad_mem += wb == 0 || ab == 0 || densecl_engine_device(e) == NULL;
        last = images;
        reads++;
    }
    pthread_join(th, NULL);
    CHECKF(j.bad_runs == 0, "%d of %d runs wrong", j.bad_runs, ACC_RUNS);
    CHECKF(reads > 0, "no accessor call overlapped the runs");
    CHECKF(inactive == 0, "%llu of %llu reads saw a replica taken out",
           (unsigned long long)inactive, (unsigned long long)reads);
    CHECKF(backwards == 0, "%llu reads saw fewer images than the one before",
           (unsigned long long)backwards);
    CHECKF(no_events == 0, "%llu reads saw a finished profiled run without events",
           (unsigned long long)no_events);
    CHECKF(bad_mem == 0, "%llu reads saw no weight or activation memory, or no device",
           (unsigned long long)bad_mem);
    CHECK(last == base + (uint64_t)ACC_RUNS * ACC_N);
    densecl_engine_free(e);
    densecl_weights_free(w);
    free(x);
}

/* Device limits (through the test hook): oversized weights refused before any allocation,
 * naming the limit; a batch too large for memory split into chunks, results unchanged. */
static void test_limits(void)
{
    densecl_config cfg;
    densecl_weights *w = small_model(&cfg, 3, 4), *big = NULL;
    densecl_engine *e = NULL;
    const int n = 12, h = 32;
    float *x = random_input(n, 3, h, h, 5);
    float *ref = calloc((size_t)n * 10, sizeof *ref), *got = calloc((size_t)n * 10, sizeof *got);
    uint64_t full, split, wbytes;

    CHECK(densecl_engine_create(w, "auto", &e) == DENSECL_OK);
    CHECK(densecl_engine_run(e, x, n, 3, h, h, ref) == DENSECL_OK);
    densecl_engine_memory(e, &wbytes, &full);
    densecl_engine_free(e);
    e = NULL;

    /* The weights and activations of 3.5 images fit in half of this "global memory". */
    dc_device_limits_override(0, 2 * wbytes + 7 * (full / n));
    CHECK(densecl_engine_create(w, "auto", &e) == DENSECL_OK);
    CHECK(densecl_engine_run(e, x, n, 3, h, h, got) == DENSECL_OK);
    densecl_engine_memory(e, NULL, &split);
    CHECKF(split <= 3 * (full / n), "activations %llu with the limit, %llu without",
           (unsigned long long)split, (unsigned long long)full);
    CHECK(close_enough(ref, got, (size_t)n * 10));
    densecl_engine_free(e);
    e = NULL;

    /* DenseNet-121's 30 MiB of weights against a 16 MiB allocation limit. */
    densecl_config_preset("densenet121", &cfg);
    CHECK(densecl_weights_random(&cfg, 1, &big) == DENSECL_OK);
    dc_device_limits_override(16 << 20, 0);
    CHECK(densecl_engine_create(big, "auto", &e) == DENSECL_ERR_LIMIT);
    CHECKF(strstr(densecl_last_error(), "CL_DEVICE_MAX_MEM_ALLOC_SIZE") != NULL, "%s",
           densecl_last_error());
    dc_device_limits_override(0, 40 << 20);
    CHECK(densecl_engine_create(big, "auto", &e) == DENSECL_ERR_LIMIT);
    CHECKF(strstr(densecl_last_error(), "CL_DEVICE_GLOBAL_MEM_SIZE") != NULL, "%s",
           densecl_last_error());
    dc_device_limits_override(0, 0);
    densecl_weights_free(big);
    densecl_weights_free(w);
    free(x);
    free(ref);
    free(got);
}

/* Conv tiles: given ones, the device's tuning file, and refusals. Same logits every way. */
static void test_tiles(void)
{
    densecl_config cfg;
    densecl_weights *w = small_model(&cfg, 2, 3);
    const int n = 3, h = 13;
    float *x = random_input(n, 3, h, h, 5);
    float ref[30], got[30];
    densecl_engine *e = NULL;
    densecl_engine_options o;
    densecl_replica_stats s;
    const densecl_tiles small = {8, 8, 8, 4};
    memset(&o, 0, sizeof o);
    o.device = "0:0";
    CHECK(densecl_engine_create_ex(w, &o, &e) == DENSECL_OK);
    CHECK(densecl_engine_run(e, x, n, 3, h, h, ref) == DENSECL_OK);
    CHECK(densecl_engine_replica_stats(e, 0, &s) == DENSECL_OK);
    {
        cl_device_id d0;
        densecl_device_info i0;
        densecl_tiles def;
        CHECK(dc_device_pick("0:0", &d0, &i0) == DENSECL_OK);
        dc_tiles_default(d0, &def);
        /* A growth rate of 12 fits 16-channel conv tiles better than 32 (the engine halves a
         * default of 32 and doubles the pixels); given tiles are never changed (below). */
        if (def.conv_channels > 16) {
            def.conv_channels = 16;
            def.conv_pixels = def.conv_pixels * 2 > 8 ? def.conv_pixels : def.conv_pixels * 2;
        }
        CHECKF(s.tiles_origin == DENSECL_TILES_DEFAULT && memcmp(&s.tiles, &def, sizeof def) == 0,
               "tiles %dx%d,%dx%d", s.tiles.conv1x1_channels, s.tiles.conv1x1_pixels,
               s.tiles.conv_channels, s.tiles.conv_pixels);
        /* CPUs with 16-wide float vectors (AVX-512) get larger tiles than the generic ones,
         * whatever the engine above left in the cache directory (no first engine measures a
         * tile of its own: only `densecl tune` writes a file that changes them). */
        cl_uint width = 0;
        clGetDeviceInfo(d0, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof width, &width, NULL);
        dc_tiles_default(d0, &def);
        CHECKF((def.conv1x1_channels == 8 && def.conv1x1_pixels == 32 && def.conv_channels == 32 &&
                def.conv_pixels == 4) == (width >= 16),
               "defaults %dx%d,%dx%d for native float width %u", def.conv1x1_channels,
               def.conv1x1_pixels, def.conv_channels, def.conv_pixels, width);
    }
    densecl_engine_free(e);

    /* Given tiles, on both devices. */
    o.device = pocl_devices(2);
    o.tiles = small;
    CHECK(densecl_engine_create_ex(w, &o, &e) == DENSECL_OK);
    CHECK(densecl_engine_run(e, x, n, 3, h, h, got) == DENSECL_OK);
    CHECK(close_enough(ref, got, (size_t)n * 10));
    for (int r = 0; r < densecl_engine_replica_count(e); r++) {
        CHECK(densecl_engine_replica_stats(e, r, &s) == DENSECL_OK);
        CHECK(s.tiles_origin == DENSECL_TILES_GIVEN && memcmp(&s.tiles, &small, sizeof small) == 0);
    }
    densecl_engine_free(e);
    e = NULL;
    /* Given 32-channel conv tiles stay 32, although a growth rate of 12 fits 16 better. */
    o.device = "0:0";
    o.tiles = (densecl_tiles){8, 8, 32, 2};
    CHECK(densecl_engine_create_ex(w, &o, &e) == DENSECL_OK);
    CHECK(densecl_engine_run(e, x, n, 3, h, h, got) == DENSECL_OK);
    CHECK(close_enough(ref, got, (size_t)n * 10));
    CHECK(densecl_engine_replica_stats(e, 0, &s) == DENSECL_OK);
    CHECK(s.tiles_origin == DENSECL_TILES_GIVEN && s.tiles.conv_channels == 32);
    densecl_engine_free(e);
    e = NULL;

    /* Refused before anything is built: a tile kernels.cl cannot take, half a set. */
    o.device = "0:0";
    o.tiles = (densecl_tiles){4, 12, 16, 3};
    CHECK(densecl_engine_create_ex(w, &o, &e) == DENSECL_ERR_ARGUMENT && e == NULL);
    CHECK(strstr(densecl_last_error(), "12 pixels") != NULL);
    o.tiles = (densecl_tiles){4, 16, 16, 9};
    CHECK(densecl_engine_create_ex(w, &o, &e) == DENSECL_ERR_ARGUMENT);
    o.tiles = (densecl_tiles){8, 0, 0, 0};
    CHECK(densecl_engine_create_ex(w, &o, &e) == DENSECL_ERR_ARGUMENT);
    CHECK(strstr(densecl_last_error(), "all four") != NULL);

    /* The device's tuning file, in a cache directory of our own. */
    char dir[] = "/tmp/densecl-tiles-XXXXXX", path[4200];
    const char *old = getenv("DENSECL_CACHE_DIR");
    char *saved = old ? strdup(old) : NULL;
    cl_device_id dev;
    densecl_device_info info;
    CHECK(mkdtemp(dir) != NULL);
    setenv("DENSECL_CACHE_DIR", dir, 1);
    CHECK(dc_device_pick("0:0", &dev, &info) == DENSECL_OK);
    CHECK(dc_tiles_path(dev, path, sizeof path) && strncmp(path, dir, strlen(dir)) == 0);
    CHECK(dc_tiles_write(path, &small, "test_engine\nsecond line") == DENSECL_OK);
    memset(&o.tiles, 0, sizeof o.tiles);
    CHECK(densecl_engine_create_ex(w, &o, &e) == DENSECL_OK);
    CHECK(densecl_engine_replica_stats(e, 0, &s) == DENSECL_OK);
    CHECK(s.tiles_origin == DENSECL_TILES_TUNED && memcmp(&s.tiles, &small, sizeof small) == 0);
    CHECK(densecl_engine_run(e, x, n, 3, h, h, got) == DENSECL_OK);
    CHECK(close_enough(ref, got, (size_t)n * 10));
    densecl_engine_free(e);
    e = NULL;
    setenv("DENSECL_NO_TUNING", "1", 1);
    CHECK(densecl_engine_create_ex(w, &o, &e) == DENSECL_OK);
    CHECK(densecl_engine_replica_stats(e, 0, &s) == DENSECL_OK &&
          s.tiles_origin == DENSECL_TILES_DEFAULT);
    densecl_engine_free(e);
    e = NULL;
    unsetenv("DENSECL_NO_TUNING");
    /* An invalid file is ignored: the defaults, and the engine still works. */
    static const char *const bad[] = {"conv1x1 4x16\n", "conv1x1 4x16\nconv 16x3\nconv 8x4\n",
                                      "conv1x1 4x12\nconv 16x3\n", "tiles 4x16\n", ""};
    for (size_t i = 0; i < DC_ARRAY_LEN(bad); i++) {
        densecl_tiles t;
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        if (f) {
            fputs(bad[i], f);
            fclose(f);
        }
        CHECKF(dc_tiles_load(path, &t) == DENSECL_ERR_FORMAT, "tiles file '%s' accepted", bad[i]);
    }
    CHECK(densecl_engine_create_ex(w, &o, &e) == DENSECL_OK);
    CHECK(densecl_engine_replica_stats(e, 0, &s) == DENSECL_OK &&
          s.tiles_origin == DENSECL_TILES_DEFAULT);
    densecl_engine_free(e);
    remove(path);
    rmdir(dir);
    if (saved) {
        setenv("DENSECL_CACHE_DIR", saved, 1);
        free(saved);
    } else {
        unsetenv("DENSECL_CACHE_DIR");
    }
    densecl_weights_free(w);
    free(x);
}

/* The conv family choice: explicit direct and kernel_params give the same logits and say so in
 * the resolved text; unknown families and parameters, and a family that cannot run the
 * model's convs, are refused naming them; DENSECL_CONV is read when options leave conv NULL;
 * a resolution round-trips through its text exactly (program binaries store it). */
static void test_conv_families(void)
{
    densecl_config cfg;
    densecl_weights *w = small_model(&cfg, 2, 3);
    const int n = 2, h = 13;
    float *x = random_input(n, 3, h, h, 9);
    float ref[20], got[20];
    densecl_engine *e = NULL;
    densecl_engine_options o;
    densecl_replica_stats s;
    memset(&o, 0, sizeof o);
    o.device = "0:0";
    CHECK(densecl_engine_create_ex(w, &o, &e) == DENSECL_OK);
    CHECK(densecl_engine_run(e, x, n, 3, h, h, ref) == DENSECL_OK);
    CHECK(densecl_engine_replica_stats(e, 0, &s) == DENSECL_OK);
    /* A CPU: auto is direct for every conv kind the model has, but the 3x3 convs run on
     * winograd where that was measured faster (its auto_kinds). */
    {
        dc_caps caps;
        char why[160];
        cl_device_id dev;
        densecl_device_info info;
        const dc_family *wf = dc_families[dc_family_index("winograd")];
        const int wino = dc_device_pick("0:0", &dev, &info) == DENSECL_OK &&
                         dc_caps_query(dev, &caps) == DENSECL_OK &&
                         wf->auto_kinds(&caps, why, sizeof why) != 0;
        CHECKF(strstr(s.resolved, wino ? "3x3=winograd" : "3x3=direct") &&
                   strstr(s.resolved, "; direct:FLAT_CO=") && strstr(s.resolved, "(auto: "),
               "resolved '%s'", s.resolved);
    }
    densecl_engine_free(e);
    e = NULL;

    o.conv = "direct";
    o.kernel_params = "1x1=4x16,conv=8x4,ORDER=0,fma=0";
    CHECK(densecl_engine_create_ex(w, &o, &e) == DENSECL_OK);
    CHECK(densecl_engine_run(e, x, n, 3, h, h, got) == DENSECL_OK);
    CHECK(close_enough(ref, got, (size_t)n * 10));
    CHECK(densecl_engine_replica_stats(e, 0, &s) == DENSECL_OK);
    CHECKF(strstr(s.resolved, "FLAT_CO=4,FLAT_PX=16,TCO=8,TPX=4") &&
               strstr(s.resolved, "FMA=0,ORDER=0") && strstr(s.resolved, "(given"),
           "resolved '%s'", s.resolved);
    CHECK(s.tiles_origin == DENSECL_TILES_GIVEN && s.tiles.conv_channels == 8 &&
          s.tiles.conv1x1_pixels == 16);
    densecl_engine_free(e);
    e = NULL;

    static const struct {
        const char *conv, *params, *want;
        densecl_status st;
    } refused[] = {
        {"nope", NULL, "'nope'", DENSECL_ERR_ARGUMENT},
        {"gemm", "WHAT=1", "no parameter 'WHAT'", DENSECL_ERR_ARGUMENT},
        {"direct", "VEC=12", "VEC=12 (8 or 16)", DENSECL_ERR_ARGUMENT},
        {"direct", "VEC=99", "VEC='99'", DENSECL_ERR_ARGUMENT},
        {"direct", "VEC=8,VEC=16", "given twice", DENSECL_ERR_ARGUMENT},
        {"direct", "WHAT=1", "no parameter 'WHAT'", DENSECL_ERR_ARGUMENT},
        {"direct", "1x1=4x12", "12 pixels", DENSECL_ERR_ARGUMENT},
        {"direct", "direct:VEC=8,", "trailing ','", DENSECL_ERR_ARGUMENT},
        {"direct", "other:VEC=8", "unknown conv family 'other'", DENSECL_ERR_ARGUMENT},
        {"direct", "KERNELS=1", "leaves out kernels", DENSECL_ERR_ARGUMENT},
        {"winograd", "KERNELS=4", "winograd KERNELS=4 leaves out kernels", DENSECL_ERR_ARGUMENT},
        {NULL, "VEC=8", "say which family", DENSECL_ERR_ARGUMENT},
    };
    for (size_t i = 0; i < DC_ARRAY_LEN(refused); i++) {
        o.conv = refused[i].conv;
        o.kernel_params = refused[i].params;
        densecl_status st = densecl_engine_create_ex(w, &o, &e);
        CHECKF(st == refused[i].st && e == NULL && strstr(densecl_last_error(), refused[i].want),
               "conv %s, params %s: %s, '%s'", refused[i].conv ? refused[i].conv : "NULL",
               refused[i].params ? refused[i].params : "NULL", densecl_status_str(st),
               densecl_last_error());
        densecl_engine_free(e);
        e = NULL;
    }
    /* DENSECL_CONV when the options leave conv NULL. */
    o.conv = NULL;
    o.kernel_params = NULL;
    setenv("DENSECL_CONV", "gemm", 1);
    CHECK(densecl_engine_create_ex(w, &o, &e) == DENSECL_OK);
    CHECK(densecl_engine_replica_stats(e, 0, &s) == DENSECL_OK && strstr(s.resolved, "gemm"));
    densecl_engine_free(e);
    e = NULL;
    setenv("DENSECL_CONV", "direct", 1);
    CHECK(densecl_engine_create_ex(w, &o, &e) == DENSECL_OK);
    CHECK(densecl_engine_replica_stats(e, 0, &s) == DENSECL_OK && strstr(s.resolved, "(given"));
    unsetenv("DENSECL_CONV");
    densecl_engine_free(e);
    e = NULL;

    /* The text form round-trips exactly, and a damaged one is refused. */
    {
        cl_device_id dev;
        densecl_device_info info;
        dc_caps caps;
        dc_plan plan;
        dc_resolved r, back;
        char text[1024], again[1024];
        CHECK(dc_device_pick("0:0", &dev, &info) == DENSECL_OK);
        CHECK(dc_caps_query(dev, &caps) == DENSECL_OK);
        CHECK(dc_plan_build(&cfg, 1, h, h, &plan) == DENSECL_OK);
        CHECK(dc_resolve(&caps, &plan, NULL, &r) == DENSECL_OK);
        dc_resolved_format(&r, text, sizeof text);
        CHECKF(dc_resolved_parse(text, "test", &back) == DENSECL_OK, "%s: %s", text,
               densecl_last_error());
        dc_resolved_format(&back, again, sizeof again);
        CHECKF(strcmp(text, again) == 0, "'%s' came back as '%s'", text, again);
        CHECK(memcmp(back.fam, r.fam, sizeof r.fam) == 0 && back.used == r.used &&
              memcmp(&back.params[0], &r.params[0], sizeof r.params[0]) == 0);
        static const char *const bad[] = {
            "",
            "3x3=direct",
            "3x3=direct; direct:VEC=8",
            "3x3=nope; direct:FLAT_CO=4,FLAT_PX=16,TCO=16,TPX=3,VEC=8,PREFETCH=0,FMA=1,ORDER=1,"
            "KERNELS=2",
            "3x3=direct 3x3=direct; direct:FLAT_CO=4,FLAT_PX=16,TCO=16,TPX=3,VEC=8,PREFETCH=0,"
            "FMA=1,ORDER=1,KERNELS=2",
            "3x3=direct; direct:FLAT_CO=4,FLAT_PX=16,TCO=16,TPX=3,VEC=8,PREFETCH=0,FMA=1,ORDER=1,"
            "KERNELS=2 ",
        };
        for (size_t i = 0; i < DC_ARRAY_LEN(bad); i++)
            CHECKF(dc_resolved_parse(bad[i], "test", &back) != DENSECL_OK, "'%s' accepted", bad[i]);
        dc_plan_free(&plan);
    }
    densecl_weights_free(w);
    free(x);
}

/* Jobs (densecl_engine_start / densecl_job_wait): started back to back, several in flight, with
 * batch and image sizes changing between them, waited in any order; each gives exactly what a
 * blocking run of its batch gives (the same kernels on the same device: bit for bit). */
enum { JOBS = 6 };

static void test_jobs(void)
{
    densecl_config cfg;
    densecl_weights *w = small_model(&cfg, 3, 4);
    densecl_engine *e = NULL, *two = NULL;
    /* Sizes: a smaller batch in the buffers of a larger, a larger one (new buffers while the
     * old are in use), another image size, and back. */
    static const int ns[JOBS] = {5, 3, 7, 2, 4, 7}, hs[JOBS] = {16, 16, 16, 20, 16, 16};
    static const int order[JOBS] = {1, 3, 0, 5, 2, 4};
    float *x[JOBS], *ref[JOBS], *got[JOBS];
    densecl_job *jobs[JOBS];
    for (int j = 0; j < JOBS; j++) {
        x[j] = random_input(ns[j], 3, hs[j], hs[j], 100 + (unsigned)j);
        ref[j] = calloc((size_t)ns[j] * 10, sizeof(float));
        got[j] = malloc((size_t)ns[j] * 10 * sizeof(float));
    }
    CHECK(densecl_engine_create(w, pocl_devices(1), &e) == DENSECL_OK);
    if (!e)
        goto done;
    for (int j = 0; j < JOBS; j++)
        CHECK(densecl_engine_run(e, x[j], ns[j], 3, hs[j], hs[j], ref[j]) == DENSECL_OK);

    for (int round = 0; round < 2; round++) {
        for (int j = 0; j < JOBS; j++) {
            for (int i = 0; i < ns[j] * 10; i++)
                got[j][i] = 1234.5f;
            CHECK(densecl_engine_start(e, x[j], ns[j], 3, hs[j], hs[j], got[j], &jobs[j]) ==
                  DENSECL_OK);
        }
        /* The caller's logits are written by the wait only. */
        int untouched = 1;
        for (int j = 0; j < JOBS; j++)
            for (int i = 0; i < ns[j] * 10; i++)
                untouched &= got[j][i] == 1234.5f;
        CHECK(untouched);
        for (int k = 0; k < JOBS; k++) {
            /* In order the first time, then out of order. */
            int j = round ? order[k] : k;
            CHECK(jobs[j] && densecl_job_wait(jobs[j]) == DENSECL_OK);
            CHECKF(memcmp(ref[j], got[j], (size_t)ns[j] * 10 * sizeof(float)) == 0,
                   "round %d, job %d (%d images of %dx%d): not the blocking run's logits", round, j,
                   ns[j], hs[j], hs[j]);
        }
    }

    /* Errors: of the input from start, with no job; NULL arguments. */
    densecl_job *bad = (densecl_job *)&bad;
    CHECK(densecl_engine_start(e, x[0], ns[0], 4, 16, 16, got[0], &bad) == DENSECL_ERR_INPUT);
    CHECK(bad == NULL);
    CHECK(densecl_engine_start(e, x[0], ns[0], 3, 2, 2, got[0], &bad) == DENSECL_ERR_INPUT);
    CHECK(bad == NULL);
    CHECK(densecl_engine_start(e, x[0], ns[0], 3, 16, 16, got[0], NULL) == DENSECL_ERR_ARGUMENT);
    CHECK(densecl_engine_start(NULL, x[0], ns[0], 3, 16, 16, got[0], &bad) == DENSECL_ERR_ARGUMENT);
    CHECK(densecl_job_wait(NULL) == DENSECL_ERR_ARGUMENT);

    /* Profiled: the events of the job waited for last, its upload among them. */
    densecl_engine_set_profiling(e, 1);
    CHECK(densecl_engine_start(e, x[0], ns[0], 3, 16, 16, got[0], &jobs[0]) == DENSECL_OK);
    CHECK(densecl_engine_start(e, x[3], ns[3], 3, 20, 20, got[3], &jobs[3]) == DENSECL_OK);
    CHECK(jobs[3] && densecl_job_wait(jobs[3]) == DENSECL_OK);
    CHECK(jobs[0] && densecl_job_wait(jobs[0]) == DENSECL_OK);
    {
        const densecl_op_event *ev = NULL;
        int n_ev = densecl_engine_profile(e, &ev), uploads = 0, downloads = 0;
        for (int i = 0; i < n_ev; i++) {
            uploads += strcmp(ev[i].kind, "upload") == 0;
            downloads += strcmp(ev[i].kind, "download") == 0;
        }
        CHECKF(n_ev > 2 && uploads == 1 && downloads == 1, "%d events, %d uploads, %d downloads",
               n_ev, uploads, downloads);
    }
    densecl_engine_set_profiling(e, 0);

    /* Jobs never waited for are freed with the engine (ASan/valgrind would see a leak). */
    for (int j = 0; j < 3; j++)
        CHECK(densecl_engine_start(e, x[j], ns[j], 3, hs[j], hs[j], got[j], &jobs[j]) ==
              DENSECL_OK);
    densecl_engine_free(e);
    e = NULL;

    /* Two devices, three jobs in flight; device 1 fails under the second job, at its enqueue
     * or (DC_FAULT_AT_RUN) at its wait: that share is re-run on device 0, and the third job's
     * share, already enqueued on device 1, counts by its own events. All exact, every image
     * computed once. (A device lost for good, failing every later command, cannot be made on
     * POCL 3.1: it aborts on a user event set to an error.) */
    CHECK(densecl_engine_create(w, pocl_devices(2), &two) == DENSECL_OK);
    if (!two || densecl_engine_replica_count(two) != 2)
        goto done;
    for (int fault = 0; fault < 2; fault++) {
        densecl_replica_stats s0, s1;
        uint64_t before;
        densecl_engine_replica_stats(two, 0, &s0);
        densecl_engine_replica_stats(two, 1, &s1);
        before = s0.images + s1.images;
        for (int j = 0; j < 3; j++) {
            /* fault 0: the enqueue fails (at start); fault 1: the device fails the command. */
            if (j == 1)
                dc_engine_inject_fault(two, 1, 2,
                                       fault ? DC_FAULT_AT_RUN : CL_INVALID_COMMAND_QUEUE);
            CHECK(densecl_engine_start(two, x[2 * j], ns[2 * j], 3, hs[2 * j], hs[2 * j],
                                       got[2 * j], &jobs[j]) == DENSECL_OK);
        }
        for (int j = 0; j < 3; j++) {
            CHECK(jobs[j] && densecl_job_wait(jobs[j]) == DENSECL_OK);
            CHECKF(close_enough(ref[2 * j], got[2 * j], (size_t)ns[2 * j] * 10),
                   "fault %d, job %d: wrong logits after failover", fault, j);
        }
        densecl_engine_replica_stats(two, 0, &s0);
        densecl_engine_replica_stats(two, 1, &s1);
        CHECKF(s0.active && !s1.active, "fault %d: replicas active %d, %d", fault, s0.active,
               s1.active);
        CHECKF(s0.images + s1.images - before == (uint64_t)(ns[0] + ns[2] + ns[4]),
               "fault %d: %llu images computed for %d", fault,
               (unsigned long long)(s0.images + s1.images - before), ns[0] + ns[2] + ns[4]);
        if (fault == 1)
            CHECKF(strstr(s1.failure, "running on") != NULL, "failure: %s", s1.failure);
        /* Both devices again: the last one standing fails, so the next job retries both. */
        dc_engine_inject_fault(two, 0, 0, CL_INVALID_COMMAND_QUEUE);
        CHECK(densecl_engine_run(two, x[0], ns[0], 3, 16, 16, got[0]) == DENSECL_ERR_OPENCL);
        CHECK(densecl_engine_run(two, x[0], ns[0], 3, 16, 16, got[0]) == DENSECL_OK);
        CHECK(close_enough(ref[0], got[0], (size_t)ns[0] * 10));
    }
done:
    densecl_engine_free(e);
    densecl_engine_free(two);
    densecl_weights_free(w);
    for (int j = 0; j < JOBS; j++) {
        free(x[j]);
        free(ref[j]);
        free(got[j]);
    }
}

/* A share re-run at the wait is cut into chunks for its own job's image size, not for the size
 * of a job started after it: with a memory limit that fits two 24x24 images (and five 16x16),
 * device 1 fails under a 24x24 job while a 16x16 job is already started; the re-run on device
 * 0 must hold at most two 24x24 images at a time. */
static void test_rerun_chunks(void)
{
    densecl_config cfg;
    densecl_weights *w = small_model(&cfg, 3, 4);
    densecl_engine *e = NULL;
    const int na = 6, nb = 4;
    float *a = random_input(na, 3, 24, 24, 31), *b = random_input(nb, 3, 16, 16, 32);
    float *ref_a = calloc((size_t)na * 10, sizeof(float)), *ref_b = calloc((size_t)nb * 10, 4);
    float *got_a = calloc((size_t)na * 10, sizeof(float)), *got_b = calloc((size_t)nb * 10, 4);
    uint64_t wbytes, full, held;
    densecl_job *ja = NULL, *jb = NULL;

    CHECK(densecl_engine_create(w, pocl_devices(1), &e) == DENSECL_OK);
    CHECK(densecl_engine_run(e, a, na, 3, 24, 24, ref_a) == DENSECL_OK);
    densecl_engine_memory(e, &wbytes, &full); /* six 24x24 images' activations */
    CHECK(densecl_engine_run(e, b, nb, 3, 16, 16, ref_b) == DENSECL_OK);
    densecl_engine_free(e);
    e = NULL;

    /* Half the "global memory" holds the weights and 2.5 images of 24x24. */
    uint64_t per_image = full / na;
    dc_device_limits_override(0, 2 * (wbytes + 5 * per_image / 2));
    CHECK(densecl_engine_create(w, pocl_devices(2), &e) == DENSECL_OK);
    if (!e || densecl_engine_replica_count(e) != 2)
        goto done;
    dc_engine_inject_fault(e, 1, 1, DC_FAULT_AT_RUN);
    CHECK(densecl_engine_start(e, a, na, 3, 24, 24, got_a, &ja) == DENSECL_OK);
    CHECK(densecl_engine_start(e, b, nb, 3, 16, 16, got_b, &jb) == DENSECL_OK);
    CHECK(ja && densecl_job_wait(ja) == DENSECL_OK);
    densecl_engine_memory(e, NULL, &held); /* device 1 is out: device 0's buffers */
    CHECKF(held <= 5 * per_image / 2,
           "the re-run holds %llu bytes of activations, %llu fit (%llu per 24x24 image)",
           (unsigned long long)held, (unsigned long long)(5 * per_image / 2),
           (unsigned long long)per_image);
    CHECK(jb && densecl_job_wait(jb) == DENSECL_OK);
    CHECK(close_enough(ref_a, got_a, (size_t)na * 10));
    CHECK(close_enough(ref_b, got_b, (size_t)nb * 10));
done:
    dc_device_limits_override(0, 0);
    densecl_engine_free(e);
    densecl_weights_free(w);
    free(a);
    free(b);
    free(ref_a);
    free(ref_b);
    free(got_a);
    free(got_b);
}

int main(void)
{
    test_limits();
    test_replicas_and_failover();
    test_jobs();
    test_rerun_chunks();
    test_profile_and_errors();
    test_own_context();
    test_threads();
    test_accessors_during_runs();
    test_tiles();
    test_conv_families();
    {
        /* The header's version macros are the library's version. */
        char v[32];
        snprintf(v, sizeof v, "%d.%d.%d", DENSECL_VERSION_MAJOR, DENSECL_VERSION_MINOR,
                 DENSECL_VERSION_PATCH);
        CHECKF(strcmp(v, densecl_version()) == 0, "header %s, library %s", v, densecl_version());
    }
    return check_summary();
}
