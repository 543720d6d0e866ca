/* SPDX-License-Identifier: MIT */
/* test_device_profile.c - device profiles (host/cl/device_profile.c): the built-ins parse, a JSON
 * file with the same fields is the same profile, bad ones are refused naming what is wrong; and
 * the conv resolution under each profile (DENSECL_DEVICE_PROFILE, read by dc_caps_query) is what
 * that device gets: its kind of device, its limits, what it refuses. No OpenCL device is needed:
 * dc_caps_query(NULL) gives the profile's capabilities alone. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "cl/cl.h"
#include "conv/conv.h"

/* Writes text to a temporary file; its path into path. */
static int write_temp(const char *text, char *path, size_t cap)
{
    const char *dir = getenv("TMPDIR");
    static int serial;
    FILE *f;
    snprintf(path, cap, "%s/densecl-profile-%ld-%d.json", dir && *dir ? dir : "/tmp",
             (long)getpid(), serial++);
    f = fopen(path, "wb");
    if (!f)
        return 0;
    fputs(text, f);
    return fclose(f) == 0;
}

static const char *const good =
    "{\"name\": \"mine\", \"device_name\": \"Some GPU\", \"vendor\": \"Someone\","
    " \"device_type\": \"gpu\", \"compute_units\": 96, \"compute_unit\": \"EU\","
    " \"cores\": 12, \"core\": \"Xe-core\", \"local_mem_size\": 65536,"
    " \"local_mem_is_global\": false, \"max_work_group_size\": 512,"
    " \"preferred_work_group_multiple\": 16, \"opencl_c_version\": \"OpenCL C 3.0\","
    " \"source\": \"test\"}";

/* A profile text that must be refused, with msg naming the cause. */
static void expect_bad(const char *text, const char *msg)
{
    dc_device_profile p;
    densecl_status st = dc_device_profile_parse(text, strlen(text), "test profile", &p);
    CHECKF(st == DENSECL_ERR_FORMAT, "accepted: %s", text);
    CHECKF(strstr(densecl_last_error(), msg) && strstr(densecl_last_error(), "test profile"),
           "'%s' not in: %s", msg, densecl_last_error());
}

/* good with "key": value replaced (or added when absent). */
static void with(const char *key, const char *value, char *out, size_t cap)
{
    char pat[64];
    const char *at;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    at = strstr(good, pat);
    if (!at) {
        snprintf(out, cap, "{\"%s\": %s, %s", key, value, good + 1);
        return;
    }
    {
        const char *end = at + strlen(pat);
        if (*end == '"')
            end = strchr(end + 1, '"') + 1;
        else
            while (*end && *end != ',' && *end != '}')
                end++;
        snprintf(out, cap, "%.*s%s%s%s", (int)(at - good), good, pat, value, end);
    }
}

static void test_parser(void)
{
    dc_device_profile p, q;
    char path[512], text[2048], desc[512];
    densecl_status st;
    /* The built-ins: each loads by name, with what its device reports. */
    int n = 0;
    for (; dc_device_profile_builtin(n); n++) {
        st = dc_device_profile_load(dc_device_profile_builtin(n), &p);
        CHECKF(st == DENSECL_OK, "%s: %s", dc_device_profile_builtin(n), densecl_last_error());
        CHECK(strcmp(p.name, dc_device_profile_builtin(n)) == 0);
        CHECK(p.type == CL_DEVICE_TYPE_GPU && p.cores >= 1 && p.max_work_group >= 256);
        CHECK(strstr(p.extensions, "cl_khr_global_int32_base_atomics") != NULL);
    }
    CHECK(n == 4);
    CHECK(dc_device_profile_load("nvidia-h200", &p) == DENSECL_OK && p.compute_units == 132 &&
          p.cores == 132 && p.local_mem == 49152 && !p.local_mem_is_global &&
          p.max_work_group == 1024 && p.wg_multiple == 32 && strcmp(p.compute_unit, "SM") == 0 &&
          strcmp(p.opencl_c, "OpenCL C 1.2") == 0);
    CHECK(dc_device_profile_load("amd-mi300x", &p) == DENSECL_OK && p.compute_units == 304 &&
          p.wg_multiple == 64 && p.max_work_group == 256 && p.local_mem == 65536);
    CHECK(dc_device_profile_load("intel-arc-a770", &p) == DENSECL_OK && p.compute_units == 512 &&
          p.cores == 32 && strcmp(p.core, "Xe-core") == 0 && strcmp(p.compute_unit, "EU") == 0);
    CHECK(dc_device_profile_load("mali-g710", &p) == DENSECL_OK && p.local_mem_is_global &&
          p.local_mem == 32768 && p.wg_multiple == 16 && strcmp(p.core, "shader core") == 0);
    dc_device_profile_describe(&p, desc, sizeof desc);
    CHECKF(strstr(desc, "mali-g710") && strstr(desc, "10 shader cores") &&
               strstr(desc, "32 KiB local memory (global)"),
           "%s", desc);

    /* A file with the fields of a built-in is that profile; defaults for optional fields. */
    CHECK(write_temp(good, path, sizeof path));
    st = dc_device_profile_load(path, &p);
    CHECKF(st == DENSECL_OK, "%s", densecl_last_error());
    CHECK(strcmp(p.name, "mine") == 0 && p.compute_units == 96 && p.cores == 12 &&
          p.native_vector_float == 1 && p.has_fma == 1 && p.extensions[0] == '\0');
    dc_device_profile_describe(&p, desc, sizeof desc);
    CHECKF(strstr(desc, "96 EUs in 12 Xe-cores"), "%s", desc);
    remove(path);
    {
        /* The H200 built-in written out as a file loads as the same profile. */
        const char *h200 =
            "{\"name\": \"nvidia-h200\", \"device_name\": \"NVIDIA H200\","
            " \"vendor\": \"NVIDIA Corporation\", \"device_type\": \"gpu\","
            " \"compute_units\": 132, \"compute_unit\": \"SM\", \"local_mem_size\": 49152,"
            " \"local_mem_is_global\": false, \"max_work_group_size\": 1024,"
            " \"preferred_work_group_multiple\": 32, \"native_vector_width_float\": 1,"
            " \"fma\": true, \"opencl_c_version\": \"OpenCL C 1.2\"}";
        CHECK(write_temp(h200, path, sizeof path));
        CHECK(dc_device_profile_load(path, &p) == DENSECL_OK &&
              dc_device_profile_load("nvidia-h200", &q) == DENSECL_OK);
        memset(q.extensions, 0, sizeof q.extensions);
        CHECK(memcmp(&p, &q, sizeof p) == 0);
        remove(path);
    }

    /* Refusals, each naming its cause. */
    expect_bad("[1, 2]", "JSON object");
    expect_bad("{\"name\": ", "invalid JSON");
    with("colour", "1", text, sizeof text);
    expect_bad(text, "unknown field \"colour\"");
    expect_bad("{\"name\": \"x\"}", "\"device_name\" is missing");
    with("compute_units", "\"many\"", text, sizeof text);
    expect_bad(text, "\"compute_units\" must be a whole number");
    with("compute_units", "1.5", text, sizeof text);
    expect_bad(text, "\"compute_units\" must be a whole number");
    with("local_mem_is_global", "0", text, sizeof text);
    expect_bad(text, "\"local_mem_is_global\" must be true or false");
    with("device_type", "\"npu\"", text, sizeof text);
    expect_bad(text, "\"device_type\" is \"npu\"");
    with("cores", "97", text, sizeof text);
    expect_bad(text, "no more cores than compute units");
    with("compute_units", "0", text, sizeof text);
    expect_bad(text, "at least 1");
    with("preferred_work_group_multiple", "1024", text, sizeof text);
    expect_bad(text, "no larger than the size");
    with("opencl_c_version", "\"1.2\"", text, sizeof text);
    expect_bad(text, "\"opencl_c_version\" is \"1.2\"");
    with("name", "\"\"", text, sizeof text);
    expect_bad(text, "\"name\" is empty");

    /* Through the variable: unset is no profile; a misspelt name or a missing file an error
     * naming the variable and the built-ins. */
    {
        int active = 1;
        unsetenv("DENSECL_DEVICE_PROFILE");
        CHECK(dc_device_profile_get(&p, &active) == DENSECL_OK && active == 0 &&
              !dc_device_profile_in_force());
        setenv("DENSECL_DEVICE_PROFILE", "", 1);
        CHECK(dc_device_profile_get(&p, &active) == DENSECL_OK && active == 0);
        setenv("DENSECL_DEVICE_PROFILE", "nvidia-h100", 1);
        CHECK(dc_device_profile_get(&p, &active) == DENSECL_ERR_ARGUMENT && active == 1);
        CHECKF(strstr(densecl_last_error(), "DENSECL_DEVICE_PROFILE=nvidia-h100") &&
                   strstr(densecl_last_error(), "nvidia-h200, amd-mi300x"),
               "%s", densecl_last_error());
        setenv("DENSECL_DEVICE_PROFILE", "/nonexistent/profile.json", 1);
        CHECK(dc_device_profile_get(&p, &active) != DENSECL_OK);
        CHECKF(strstr(densecl_last_error(), "/nonexistent/profile.json") != NULL, "%s",
               densecl_last_error());
        unsetenv("DENSECL_DEVICE_PROFILE");
    }
}

/* The gemm family's parameter called name in r. */
static int gemm_param(const dc_resolved *r, const char *name)
{
    const int fi = dc_family_index("gemm");
    for (int j = 0; j < dc_families[fi]->n_params; j++)
        if (strcmp(dc_families[fi]->params[j].name, name) == 0)
            return r->params[fi].v[j];
    CHECKF(0, "gemm has no parameter %s", name);
    return -1;
}

/* Resolution under profile name for DenseNet-121 at batch 1: auto runs every conv kind on gemm
 * (a GPU), with parameters the profile's limits accept. */
static void test_resolution(const char *name, dc_resolved *r)
{
    densecl_config cfg;
    dc_plan plan;
    dc_caps caps;
    char text[1024];
    const int fi = dc_family_index("gemm");
    memset(r, 0, sizeof *r);
    setenv("DENSECL_DEVICE_PROFILE", name, 1);
    CHECKF(dc_caps_query(NULL, &caps) == DENSECL_OK, "%s: %s", name, densecl_last_error());
    CHECK(strcmp(caps.profile, name) == 0 && (caps.type & CL_DEVICE_TYPE_GPU));
    if (densecl_config_preset("densenet121", &cfg) != DENSECL_OK ||
        dc_plan_build(&cfg, 1, 224, 224, &plan) != DENSECL_OK) {
        CHECKF(0, "densenet121 plan: %s", densecl_last_error());
        return;
    }
    CHECKF(dc_resolve(&caps, &plan, NULL, r) == DENSECL_OK, "%s: %s", name, densecl_last_error());
    dc_resolved_describe(r, text, sizeof text);
    printf("%s: %s\n", name, text);
    for (int k = 0; k < DC_KIND_COUNT; k++)
        CHECKF(r->fam[k] < 0 || r->fam[k] == fi, "%s: %s convs on %s", name, dc_kind_name(k),
               dc_families[r->fam[k]]->name);
    CHECKF(strstr(r->why, "auto: GPU default") != NULL, "%s: %s", name, r->why);
    CHECK(dc_families[fi]->check(&caps, &r->params[fi], name) == DENSECL_OK);
    /* The same text resolves the same after a round trip, as a program binary would. */
    {
        dc_resolved back;
        dc_resolved_format(r, text, sizeof text);
        CHECK(dc_resolved_parse(text, name, &back) == DENSECL_OK &&
              memcmp(back.params[fi].v, r->params[fi].v, sizeof back.params[fi].v) == 0);
    }
    /* A work-group larger than the device's is refused as its driver would refuse it. */
    {
        dc_choice c = {"gemm", NULL, {0, 0, 0, 0}, NULL};
        char kp[128];
        /* MDIMC x NDIMC = twice the device's work-group size, valid otherwise. */
        const int nd = (int)(caps.max_work_group / 16);
        snprintf(kp, sizeof kp, "gemm:MWG=128,MDIMC=32,NWG=%d,NDIMC=%d,KWG=32,VWM=4,VWN=1", nd, nd);
        c.kernel_params = kp;
        {
            dc_resolved bad;
            CHECKF(dc_resolve(&caps, &plan, &c, &bad) == DENSECL_ERR_ARGUMENT &&
                       strstr(densecl_last_error(), "work-group size"),
                   "%s: %s accepted (%s)", name, kp, densecl_last_error());
        }
    }
    /* The K split at batch 1: the convs whose tiles cannot fill the device split. */
    {
        int convs = 0, splits = 0;
        for (int i = 0; i < plan.n_ops; i++)
            if (plan.ops[i].kind == DC_OP_CONV) {
                convs++;
                splits += dc_families[fi]->workspace(&plan.ops[i], 1, &r->params[fi]) > 0;
            }
        printf("%s: %d of %d convs split K at batch 1\n", name, splits, convs);
        CHECK(convs == 120 && splits > 0);
        if (strcmp(name, "nvidia-h200") == 0)
            CHECKF(splits == convs, "H200: %d of %d convs split", splits, convs);
    }
    dc_plan_free(&plan);
    unsetenv("DENSECL_DEVICE_PROFILE");
}

int main(void)
{
    dc_resolved h200, mi300x, a770, g710;
    test_parser();
    test_resolution("nvidia-h200", &h200);
    test_resolution("amd-mi300x", &mi300x);
    test_resolution("intel-arc-a770", &a770);
    test_resolution("mali-g710", &g710);
    /* Each device's own shape. A launch aims for 8 warps or wavefronts per SM, CU or Xe-core
     * (the A770's 512 EUs counted as its 32 Xe-cores), as FILL work-items. */
    CHECK(gemm_param(&h200, "FILL") == 8 * 132 * 32);
    CHECK(gemm_param(&mi300x, "FILL") == 8 * 304 * 64);
    CHECK(gemm_param(&a770, "FILL") == 8 * 32 * 64);
    CHECK(gemm_param(&g710, "FILL") == 8 * 10 * 16);
    /* NVIDIA and AMD: 8 x 8 register blocks staged through local memory, a 128-channel tile
     * for the bottlenecks and a 32-channel one for the growth convs. */
    for (int i = 0; i < 2; i++) {
        const dc_resolved *r = i ? &mi300x : &h200;
        CHECK(gemm_param(r, "LOCAL") == 1 && gemm_param(r, "KWG") == 32);
        CHECK(gemm_param(r, "MWG1") == 128 && gemm_param(r, "MWG1") / gemm_param(r, "MDIMC1") *
                                                      gemm_param(r, "NWG1") /
                                                      gemm_param(r, "NDIMC1") ==
                                                  64);
        CHECK(gemm_param(r, "MWG") == 32 && gemm_param(r, "MWG") / gemm_param(r, "MDIMC") *
                                                    gemm_param(r, "NWG") / gemm_param(r, "NDIMC") ==
                                                64);
    }
    /* MI300X: work-groups within ROCm's 256. */
    CHECK(gemm_param(&mi300x, "MDIMC1") * gemm_param(&mi300x, "NDIMC1") <= 256 &&
          gemm_param(&mi300x, "MDIMC") * gemm_param(&mi300x, "NDIMC") <= 256);
    /* Intel (SIMD16 register files) and Mali: 32 accumulators a work-item; Mali without
     * local memory, which is only global memory there. */
    for (int i = 0; i < 2; i++) {
        const dc_resolved *r = i ? &g710 : &a770;
        CHECK(gemm_param(r, "MWG") / gemm_param(r, "MDIMC") * gemm_param(r, "NWG") /
                  gemm_param(r, "NDIMC") <=
              32);
        CHECK(gemm_param(r, "MWG1") / gemm_param(r, "MDIMC1") * gemm_param(r, "NWG1") /
                  gemm_param(r, "NDIMC1") <=
              32);
        CHECK(gemm_param(r, "LOCAL") == (i ? 0 : 1));
    }
    return check_summary();
}
