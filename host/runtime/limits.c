/* SPDX-License-Identifier: MIT */
/* limits.c - how many images a replica runs per chunk: what its device's memory and largest
 * allocation hold, and on a CPU device what the process can still get in host memory. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "runtime/engine_impl.h"

/* Device floats per image of a plan of one image: its activations and the two input slots. */
static size_t dc_image_floats(const dc_plan *one)
{
    return dc_plan_floats(one) + 2 * (size_t)one->c * (size_t)one->h * (size_t)one->w;
}

/* Images per chunk so that every activation buffer fits the device's largest allocation and all
 * of them, with the weights, fit in half of its global memory (the rest is the driver's).
 * one: the plan of one image of the input size (dc_engine_one). */
densecl_status dc_replica_limit(dc_replica *r, const dc_plan *one)
{
    uint64_t budget, per_image, most = 0;
    int h = one->h, w = one->w;
    if (r->max_chunk > 0 && r->chunk_h == h && r->chunk_w == w)
        return DENSECL_OK;
    per_image = (uint64_t)dc_image_floats(one) * sizeof(float);
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
            len += (size_t)snprintf(
                why + len, cap - len, "%s%s %llu MiB, %llu in use", len ? "; " : "", limits[i].name,
                (unsigned long long)(rl.rlim_cur >> 20), (unsigned long long)(used >> 20));
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
densecl_status dc_replica_host_limit(densecl_engine *e, dc_replica *r, int count, int h, int w)
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
    uint64_t per_image = (uint64_t)dc_image_floats(&e->one) * sizeof(float);
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
        dc_log(DENSECL_LOG_INFO, "'%s': %d images per chunk fit in host memory (%s)", r->info.name,
               r->max_chunk, why);
    } else if (c < (uint64_t)count) {
        r->host_limited = 1;
    }
    return DENSECL_OK;
}
