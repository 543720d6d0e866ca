/* SPDX-License-Identifier: MIT */
/* test_calibration.c - a device whose clFinish fails while the engine calibrates (on the second
 * of two POCL devices, POCL_DEVICES="pthread pthread") is taken out with a reason: in
 * densecl_replica_stats.failure and after "taken out: " in the library's log line (0.6.0 left
 * both empty: the driver's error was never recorded), and the engine runs on the other.
 *
 * This executable defines clFinish itself, which the statically linked library then calls: it
 * forwards to the ICD loader's and, for a queue of the failing device, returns
 * CL_OUT_OF_RESOURCES, as a driver does for a device that died. */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "runtime/runtime.h"

static cl_device_id failing; /* clFinish fails on this device's queues */

CL_API_ENTRY cl_int CL_API_CALL clFinish(cl_command_queue q)
{
    static cl_int(CL_API_CALL * next)(cl_command_queue);
    if (!next)
        *(void **)&next = dlsym(RTLD_NEXT, "clFinish");
    if (!next)
        return CL_INVALID_OPERATION;
    cl_int err = next(q);
    cl_device_id dev = NULL;
    if (failing &&
        clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL) == CL_SUCCESS &&
        dev == failing)
        return CL_OUT_OF_RESOURCES;
    return err;
}

static char logged[4096];

static void keep_log(densecl_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level == DENSECL_LOG_WARN && strstr(msg, "taken out"))
        snprintf(logged, sizeof logged, "%s", msg);
}

int main(void)
{
    densecl_device_info d[16];
    int n = 0, pocl = 0;
    char spec[64] = "";
    CHECK(densecl_devices(d, 16, &n) == DENSECL_OK);
    for (int i = 0; i < n && i < 16 && pocl < 2; i++) {
        if (!strstr(d[i].platform_name, "Portable Computing Language"))
            continue;
        size_t len = strlen(spec);
        snprintf(spec + len, sizeof spec - len, "%s%d:%d", pocl ? "," : "", d[i].platform_index,
                 d[i].device_index);
        if (pocl++ == 1) {
            cl_platform_id plats[16];
            cl_device_id devs[16];
            cl_uint np = 0, nd = 0;
            CHECK(clGetPlatformIDs(16, plats, &np) == CL_SUCCESS &&
                  (cl_uint)d[i].platform_index < np);
            CHECK(clGetDeviceIDs(plats[d[i].platform_index], CL_DEVICE_TYPE_ALL, 16, devs, &nd) ==
                      CL_SUCCESS &&
                  (cl_uint)d[i].device_index < nd);
            failing = devs[d[i].device_index];
        }
    }
    CHECKF(pocl == 2, "%d POCL devices; run with POCL_DEVICES=\"pthread pthread\"", pocl);
    if (pocl != 2)
        return check_summary();

    densecl_config cfg;
    densecl_weights *w = NULL;
    densecl_engine *e = NULL;
    densecl_config_preset("densenet-bc-100-k12", &cfg);
    cfg.num_blocks = 2;
    cfg.block_layers[0] = cfg.block_layers[1] = 2;
    cfg.block_layers[2] = 0;
    CHECK(densecl_weights_random(&cfg, 3, &w) == DENSECL_OK);
    densecl_set_log(keep_log, NULL);
    CHECKF(densecl_engine_create(w, spec, &e) == DENSECL_OK, "%s", densecl_last_error());
    densecl_set_log(NULL, NULL);
    if (e) {
        densecl_replica_stats s0, s1;
        CHECK(densecl_engine_replica_count(e) == 2);
        CHECK(densecl_engine_replica_stats(e, 0, &s0) == DENSECL_OK && s0.active);
        CHECK(densecl_engine_replica_stats(e, 1, &s1) == DENSECL_OK && !s1.active);
        CHECKF(strstr(s1.failure, "clFinish") && strstr(s1.failure, "CL_OUT_OF_RESOURCES"),
               "replica_stats.failure: '%s'", s1.failure);
        const char *after = strstr(logged, "taken out: ");
        CHECKF(after && strlen(after + 11) > 0 && strstr(after, "CL_OUT_OF_RESOURCES"),
               "log line: '%s'", logged);
        /* The other device runs the engine. */
        float x[2 * 3 * 16 * 16] = {0}, y[2 * 10];
        CHECKF(densecl_engine_run(e, x, 2, 3, 16, 16, y) == DENSECL_OK, "%s", densecl_last_error());
    }
    densecl_engine_free(e);
    densecl_weights_free(w);
    return check_summary();
}
