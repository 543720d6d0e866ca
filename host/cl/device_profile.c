/* SPDX-License-Identifier: MIT */
/*
 * device_profile.c - device profiles: DENSECL_DEVICE_PROFILE names a device (a built-in profile, or
 * a JSON file with the same fields) whose capabilities the conv resolution reads instead of the
 * real device's, while the kernels run on the real one (POCL here). A test and development
 * feature: the tiles, the K split, the work-group sizes and the launches are those the profiled
 * device would get, measurable on a machine without it.
 *
 * The built-in profiles are JSON texts parsed by the same code as a file, so that a file is the
 * same thing as a built-in one. Each figure is what the device's OpenCL driver reports (clinfo),
 * not the hardware's data sheet where the two differ (NVIDIA's OpenCL reports 48 KiB of local
 * memory on a Hopper SM of 228 KiB). Sources, per profile:
 *
 * nvidia-h200  NVIDIA H200 SXM (GH100): 132 SMs (NVIDIA's H200 and H100 SXM5 data: GH100 with
 *              132 SMs enabled). NVIDIA's OpenCL on every GPU since Kepler: local memory 49152
 *              bytes of type Local, work-groups of 1024, preferred multiple 32 (the warp), native
 *              float vector 1, "OpenCL C 1.2" beside a device version "OpenCL 3.0 CUDA" (clinfo
 *              dumps: A100 "48 KB local" in ProjectPhysX/FluidX3D#8, sm_86 1024 / 32 in
 *              KhronosGroup/OpenCL-SDK#36, Tesla T4 on driver 535 "OpenCL C 1.2" in
 *              10gic/vanitygen-plusplus#100). Extensions as a 5xx driver lists them
 *              (hashcat/hashcat#4564).
 * amd-mi300x   AMD Instinct MI300X (gfx942): 304 CUs, wavefront 64, 64 KiB LDS (rocminfo in
 *              ROCm/legacy-rocm-build#4021 and ROCm/rocprof-compute-viewer#29). ROCm's OpenCL
 *              reports CL_DEVICE_MAX_WORK_GROUP_SIZE 256 (its "Max work group size (AMD)" is
 *              1024, as HSA says; clinfo in ROCm/legacy-rocm-build#1604), "OpenCL C 2.0", and
 *              the extension list of openmm/openmm#3940 (gfx90a, same runtime).
 * intel-arc-a770  Intel Arc A770 (DG2-512): 32 Xe-cores of 16 vector engines; Intel's NEO
 *              driver reports the 512 EUs as compute units, 64 KiB of local memory, work-groups
 *              of 1024, a preferred multiple of 64 and "OpenCL C 1.2" (clinfo of the A750, the
 *              same die with 28 Xe-cores, in openvinotoolkit/openvino#20012; of the A770 in
 *              intel/compute-runtime#618). Extensions: NEO's list (hashcat/hashcat#4014).
 * mali-g710    Arm Mali-G710 MC10 (MediaTek Dimensity 9000; the G710 scales from 7 to 16
 *              shader cores), Valhall: 16-wide warps, 16 KiB L1 per core. Mali drivers report
 *              local memory as 32 KiB of type Global (it is cached main memory: clinfo in
 *              MichaIng/DietPi#4101, plaidml/plaidml#182), native float vectors of 4; Valhall
 *              drivers (r3x, the Mali-G610 of rockchip-linux/mpp#607) "OpenCL C 3.0", work-groups
 *              of 1024 (Bifrost's were 384: ARM-software/ComputeLibrary#999) and a preferred
 *              multiple of 16. Extensions as Arm's driver lists them
 *              (ARM-software/ComputeLibrary#953).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cl/cl.h"

/* ------------------------------------------------------------------------ the built-ins */

static const struct {
    const char *name;
    const char *json;
} dc_builtin_profiles[] = {
    {"nvidia-h200",
     "{\"name\": \"nvidia-h200\", \"device_name\": \"NVIDIA H200\","
     " \"vendor\": \"NVIDIA Corporation\", \"device_type\": \"gpu\","
     " \"compute_units\": 132, \"compute_unit\": \"SM\","
     " \"local_mem_size\": 49152, \"local_mem_is_global\": false,"
     " \"max_work_group_size\": 1024, \"preferred_work_group_multiple\": 32,"
     " \"native_vector_width_float\": 1, \"fma\": true,"
     " \"opencl_c_version\": \"OpenCL C 1.2\","
     " \"extensions\": \"cl_khr_global_int32_base_atomics cl_khr_global_int32_extended_atomics"
     " cl_khr_local_int32_base_atomics cl_khr_local_int32_extended_atomics cl_khr_fp64"
     " cl_khr_3d_image_writes cl_khr_byte_addressable_store cl_khr_icd cl_khr_gl_sharing"
     " cl_nv_compiler_options cl_nv_device_attribute_query cl_nv_pragma_unroll cl_nv_copy_opts"
     " cl_khr_gl_event cl_nv_create_buffer cl_khr_int64_base_atomics"
     " cl_khr_int64_extended_atomics cl_nv_kernel_attribute cl_khr_device_uuid"
     " cl_khr_pci_bus_info cl_khr_external_semaphore cl_khr_external_memory"
     " cl_khr_external_semaphore_opaque_fd cl_khr_external_memory_opaque_fd"
     " cl_khr_semaphore\"}"},
    {"amd-mi300x",
     "{\"name\": \"amd-mi300x\", \"device_name\": \"gfx942:sramecc+:xnack-\","
     " \"vendor\": \"Advanced Micro Devices, Inc.\", \"device_type\": \"gpu\","
     " \"compute_units\": 304, \"compute_unit\": \"CU\","
     " \"local_mem_size\": 65536, \"local_mem_is_global\": false,"
     " \"max_work_group_size\": 256, \"preferred_work_group_multiple\": 64,"
     " \"native_vector_width_float\": 1, \"fma\": true,"
     " \"opencl_c_version\": \"OpenCL C 2.0\","
     " \"extensions\": \"cl_khr_fp64 cl_khr_global_int32_base_atomics"
     " cl_khr_global_int32_extended_atomics cl_khr_local_int32_base_atomics"
     " cl_khr_local_int32_extended_atomics cl_khr_int64_base_atomics"
     " cl_khr_int64_extended_atomics cl_khr_3d_image_writes cl_khr_byte_addressable_store"
     " cl_khr_fp16 cl_khr_gl_sharing cl_amd_device_attribute_query cl_amd_media_ops"
     " cl_amd_media_ops2 cl_khr_image2d_from_buffer cl_khr_subgroups cl_khr_depth_images"
     " cl_amd_copy_buffer_p2p cl_amd_assembly_program\"}"},
    {"intel-arc-a770",
     "{\"name\": \"intel-arc-a770\", \"device_name\": \"Intel(R) Arc(TM) A770 Graphics\","
     " \"vendor\": \"Intel(R) Corporation\", \"device_type\": \"gpu\","
     " \"compute_units\": 512, \"compute_unit\": \"EU\", \"cores\": 32, \"core\": \"Xe-core\","
     " \"local_mem_size\": 65536, \"local_mem_is_global\": false,"
     " \"max_work_group_size\": 1024, \"preferred_work_group_multiple\": 64,"
     " \"native_vector_width_float\": 1, \"fma\": true,"
     " \"opencl_c_version\": \"OpenCL C 1.2\","
     " \"extensions\": \"cl_khr_byte_addressable_store cl_khr_device_uuid cl_khr_fp16"
     " cl_khr_global_int32_base_atomics cl_khr_global_int32_extended_atomics cl_khr_icd"
     " cl_khr_local_int32_base_atomics cl_khr_local_int32_extended_atomics"
     " cl_intel_command_queue_families cl_intel_subgroups cl_intel_required_subgroup_size"
     " cl_intel_subgroups_short cl_khr_spir cl_intel_accelerator cl_intel_driver_diagnostics"
     " cl_khr_priority_hints cl_khr_throttle_hints cl_khr_create_command_queue"
     " cl_intel_subgroups_char cl_intel_subgroups_long cl_khr_il_program"
     " cl_intel_mem_force_host_memory cl_khr_subgroup_extended_types"
     " cl_khr_subgroup_non_uniform_vote cl_khr_subgroup_ballot"
     " cl_khr_subgroup_non_uniform_arithmetic cl_khr_subgroup_shuffle"
     " cl_khr_subgroup_shuffle_relative cl_khr_subgroup_clustered_reduce"
     " cl_intel_device_attribute_query cl_khr_suggested_local_work_size"
     " cl_intel_split_work_group_barrier cl_khr_fp64 cl_khr_subgroups"
     " cl_intel_unified_shared_memory cl_ext_float_atomics cl_khr_external_memory"
     " cl_khr_int64_base_atomics cl_khr_int64_extended_atomics cl_khr_image2d_from_buffer"
     " cl_khr_depth_images cl_khr_3d_image_writes cl_khr_pci_bus_info\"}"},
    {"mali-g710",
     "{\"name\": \"mali-g710\", \"device_name\": \"Mali-G710 r0p0\", \"vendor\": \"ARM\","
     " \"device_type\": \"gpu\", \"compute_units\": 10, \"compute_unit\": \"shader core\","
     " \"local_mem_size\": 32768, \"local_mem_is_global\": true,"
     " \"max_work_group_size\": 1024, \"preferred_work_group_multiple\": 16,"
     " \"native_vector_width_float\": 4, \"fma\": true,"
     " \"opencl_c_version\": \"OpenCL C 3.0\","
     " \"extensions\": \"cl_khr_global_int32_base_atomics cl_khr_global_int32_extended_atomics"
     " cl_khr_local_int32_base_atomics cl_khr_local_int32_extended_atomics"
     " cl_khr_byte_addressable_store cl_khr_3d_image_writes cl_khr_int64_base_atomics"
     " cl_khr_int64_extended_atomics cl_khr_fp16 cl_khr_icd cl_khr_egl_image"
     " cl_khr_image2d_from_buffer cl_khr_depth_images cl_khr_subgroups"
     " cl_khr_create_command_queue cl_arm_core_id cl_arm_printf cl_arm_thread_limit_hint"
     " cl_arm_non_uniform_work_group_size cl_arm_import_memory"
     " cl_arm_shared_virtual_memory\"}"},
};

const char *dc_device_profile_builtin(int i)
{
    return i >= 0 && i < (int)DC_ARRAY_LEN(dc_builtin_profiles) ? dc_builtin_profiles[i].name
                                                                : NULL;
}

/* "nvidia-h200, amd-mi300x, ...", for messages. */
static const char *dc_device_profile_names(void)
{
    static char list[256];
    list[0] = '\0';
    for (size_t i = 0; i < DC_ARRAY_LEN(dc_builtin_profiles); i++) {
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", dc_builtin_profiles[i].name);
    }
    return list;
}

/* ------------------------------------------------------------------------ the parser */

/* The fields, one row each: the JSON key, its kind, whether it is required. */
enum { DC_PF_STRING, DC_PF_UINT, DC_PF_BOOL };
static const struct {
    const char *key;
    int kind;
    int required;
} dc_device_profile_fields[] = {
    {"name", DC_PF_STRING, 1},
    {"device_name", DC_PF_STRING, 1},
    {"vendor", DC_PF_STRING, 1},
    {"device_type", DC_PF_STRING, 1},
    {"compute_units", DC_PF_UINT, 1},
    {"compute_unit", DC_PF_STRING, 1},
    {"cores", DC_PF_UINT, 0},
    {"core", DC_PF_STRING, 0},
    {"local_mem_size", DC_PF_UINT, 1},
    {"local_mem_is_global", DC_PF_BOOL, 1},
    {"max_work_group_size", DC_PF_UINT, 1},
    {"preferred_work_group_multiple", DC_PF_UINT, 1},
    {"native_vector_width_float", DC_PF_UINT, 0},
    {"fma", DC_PF_BOOL, 0},
    {"opencl_c_version", DC_PF_STRING, 1},
    {"extensions", DC_PF_STRING, 0},
    {"source", DC_PF_STRING, 0},
};

/* Copies string s into out[cap], refusing one that does not fit. */
static densecl_status dc_device_profile_str(const char *what, const char *key, const char *s,
                                            char *out, size_t cap)
{
    if (strlen(s) >= cap)
        return dc_error(DENSECL_ERR_FORMAT, "%s: \"%s\" is longer than %zu bytes", what, key,
                        cap - 1);
    memcpy(out, s, strlen(s) + 1);
    return DENSECL_OK;
}

densecl_status dc_device_profile_parse(const char *text, size_t len, const char *what,
                                       dc_device_profile *out)
{
    dc_json j;
    densecl_status st;
    unsigned long long u[DC_ARRAY_LEN(dc_device_profile_fields)] = {0};
    int b[DC_ARRAY_LEN(dc_device_profile_fields)] = {0},
        have[DC_ARRAY_LEN(dc_device_profile_fields)] = {0};
    const char *s[DC_ARRAY_LEN(dc_device_profile_fields)] = {0};
    memset(out, 0, sizeof *out);
    if ((st = dc_json_parse(text, len, what, &j)) != DENSECL_OK)
        return st;
    if (j.type != DC_JSON_OBJECT) {
        st = dc_error(DENSECL_ERR_FORMAT, "%s: a device profile is a JSON object", what);
        goto done;
    }
    /* Every key known (a misspelt one is an error, not a default), of its kind. */
    for (int i = 0; i < j.count; i++) {
        const dc_json *v = &j.items[i];
        size_t f = 0;
        while (f < DC_ARRAY_LEN(dc_device_profile_fields) &&
               strcmp(dc_device_profile_fields[f].key, j.keys[i]))
            f++;
        if (f == DC_ARRAY_LEN(dc_device_profile_fields)) {
            st = dc_error(DENSECL_ERR_FORMAT,
                          "%s: unknown field \"%s\" (fields: name, "
                          "device_name, vendor, device_type, compute_units, compute_unit, "
                          "cores, core, local_mem_size, local_mem_is_global, "
                          "max_work_group_size, preferred_work_group_multiple, "
                          "native_vector_width_float, fma, opencl_c_version, extensions, "
                          "source)",
                          what, j.keys[i]);
            goto done;
        }
        have[f] = 1;
        if (dc_device_profile_fields[f].kind == DC_PF_STRING && v->type == DC_JSON_STRING) {
            s[f] = v->string;
        } else if (dc_device_profile_fields[f].kind == DC_PF_BOOL && v->type == DC_JSON_BOOL) {
            b[f] = v->boolean;
        } else if (dc_device_profile_fields[f].kind == DC_PF_UINT && dc_json_is_integer(v) &&
                   v->number >= 0 && v->number <= 4294967295.0) {
            u[f] = (unsigned long long)v->number;
        } else {
            st = dc_error(DENSECL_ERR_FORMAT, "%s: \"%s\" must be %s", what, j.keys[i],
                          dc_device_profile_fields[f].kind == DC_PF_STRING ? "a string"
                          : dc_device_profile_fields[f].kind == DC_PF_BOOL ? "true or false"
                                                                           : "a whole number "
                                                                             "from 0 to 2^32 - 1");
            goto done;
        }
    }
    for (size_t f = 0; f < DC_ARRAY_LEN(dc_device_profile_fields); f++)
        if (dc_device_profile_fields[f].required && !have[f]) {
            st = dc_error(DENSECL_ERR_FORMAT, "%s: the field \"%s\" is missing", what,
                          dc_device_profile_fields[f].key);
            goto done;
        }
    /* Indices into the table above. */
    enum {
        NAME,
        DEVNAME,
        VENDOR,
        TYPE,
        CUS,
        CU,
        CORES,
        CORE,
        LOCAL,
        GLOBAL,
        MAXWG,
        MULT,
        VEC,
        FMA,
        OCLC,
        EXT,
        SOURCE
    };
    if ((st = dc_device_profile_str(what, "name", s[NAME], out->name, sizeof out->name)) ||
        (st = dc_device_profile_str(what, "device_name", s[DEVNAME], out->device_name,
                                    sizeof out->device_name)) ||
        (st = dc_device_profile_str(what, "vendor", s[VENDOR], out->vendor, sizeof out->vendor)) ||
        (st = dc_device_profile_str(what, "compute_unit", s[CU], out->compute_unit,
                                    sizeof out->compute_unit)) ||
        (st = dc_device_profile_str(what, "core", s[CORE] ? s[CORE] : s[CU], out->core,
                                    sizeof out->core)) ||
        (st = dc_device_profile_str(what, "opencl_c_version", s[OCLC], out->opencl_c,
                                    sizeof out->opencl_c)) ||
        (st = dc_device_profile_str(what, "extensions", s[EXT] ? s[EXT] : "", out->extensions,
                                    sizeof out->extensions)))
        goto done;
    if (!out->name[0]) {
        st = dc_error(DENSECL_ERR_FORMAT, "%s: \"name\" is empty", what);
        goto done;
    }
    if (strcmp(s[TYPE], "gpu") == 0)
        out->type = CL_DEVICE_TYPE_GPU;
    else if (strcmp(s[TYPE], "cpu") == 0)
        out->type = CL_DEVICE_TYPE_CPU;
    else if (strcmp(s[TYPE], "accelerator") == 0)
        out->type = CL_DEVICE_TYPE_ACCELERATOR;
    else {
        st = dc_error(DENSECL_ERR_FORMAT,
                      "%s: \"device_type\" is \"%s\", not \"gpu\", \"cpu\" "
                      "or \"accelerator\"",
                      what, s[TYPE]);
        goto done;
    }
    out->compute_units = (cl_uint)u[CUS];
    out->cores = have[CORES] ? (cl_uint)u[CORES] : out->compute_units;
    out->local_mem = u[LOCAL];
    out->local_mem_is_global = b[GLOBAL];
    out->max_work_group = (size_t)u[MAXWG];
    out->wg_multiple = (cl_uint)u[MULT];
    out->native_vector_float = have[VEC] ? (cl_uint)u[VEC] : 1;
    out->has_fma = have[FMA] ? b[FMA] : 1;
    if (out->compute_units < 1 || out->cores < 1 || out->cores > out->compute_units) {
        st = dc_error(DENSECL_ERR_FORMAT,
                      "%s: \"compute_units\" (%u) and \"cores\" (%u) must be "
                      "at least 1, with no more cores than compute units",
                      what, out->compute_units, out->cores);
        goto done;
    }
    if (out->max_work_group < 1 || out->wg_multiple < 1 || out->wg_multiple > out->max_work_group) {
        st = dc_error(DENSECL_ERR_FORMAT,
                      "%s: \"max_work_group_size\" (%zu) and "
                      "\"preferred_work_group_multiple\" (%u) must be at least 1, the multiple "
                      "no larger than the size",
                      what, out->max_work_group, out->wg_multiple);
        goto done;
    }
    if (out->native_vector_float < 1 || out->native_vector_float > 16) {
        st = dc_error(DENSECL_ERR_FORMAT, "%s: \"native_vector_width_float\" is %u, not 1 to 16",
                      what, out->native_vector_float);
        goto done;
    }
    if (strncmp(out->opencl_c, "OpenCL C ", 9) != 0) {
        st = dc_error(DENSECL_ERR_FORMAT,
                      "%s: \"opencl_c_version\" is \"%s\", not \"OpenCL C "
                      "x.y ...\" as CL_DEVICE_OPENCL_C_VERSION says it",
                      what, out->opencl_c);
        goto done;
    }
    st = DENSECL_OK;
done:
    dc_json_free(&j);
    if (st != DENSECL_OK)
        memset(out, 0, sizeof *out);
    return st;
}

densecl_status dc_device_profile_load(const char *spec, dc_device_profile *out)
{
    char what[600];
    FILE *f = NULL;
    char *text = NULL;
    size_t len = 0;
    densecl_status st;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < DC_ARRAY_LEN(dc_builtin_profiles); i++)
        if (strcmp(spec, dc_builtin_profiles[i].name) == 0) {
            snprintf(what, sizeof what, "device profile %s", spec);
            return dc_device_profile_parse(dc_builtin_profiles[i].json,
                                           strlen(dc_builtin_profiles[i].json), what, out);
        }
    /* Anything else is a file: a name without a slash that is no file is a misspelt profile. */
    snprintf(what, sizeof what, "DENSECL_DEVICE_PROFILE=%.500s", spec);
    if (!strchr(spec, '/') && !strstr(spec, ".json")) {
        FILE *probe = fopen(spec, "rb");
        if (!probe)
            return dc_error(DENSECL_ERR_ARGUMENT,
                            "%s: no such device profile (built in: %s; or "
                            "the path of a JSON file with the same fields)",
                            what, dc_device_profile_names());
        fclose(probe);
    }
    if ((st = dc_fopen_regular(spec, "DENSECL_DEVICE_PROFILE", &f)) != DENSECL_OK)
        return st;
    /* A profile is a few KiB; a larger file is not one. */
    text = malloc(65536 + 1);
    if (!text) {
        fclose(f);
        return dc_error(DENSECL_ERR_NO_MEMORY, "%s: out of memory", what);
    }
    len = fread(text, 1, 65536 + 1, f);
    if (ferror(f) || len > 65536) {
        st = dc_error(ferror(f) ? DENSECL_ERR_IO : DENSECL_ERR_FORMAT, "%s: %s", what,
                      ferror(f) ? "read error" : "larger than 64 KiB: not a device profile");
        goto done;
    }
    st = dc_device_profile_parse(text, len, what, out);
done:
    fclose(f);
    free(text);
    return st;
}

densecl_status dc_device_profile_get(dc_device_profile *out, int *active)
{
    const char *spec = getenv("DENSECL_DEVICE_PROFILE");
    memset(out, 0, sizeof *out);
    *active = 0;
    if (!spec || !*spec)
        return DENSECL_OK;
    *active = 1;
    return dc_device_profile_load(spec, out);
}

int dc_device_profile_in_force(void)
{
    const char *spec = getenv("DENSECL_DEVICE_PROFILE");
    return spec && *spec;
}

void dc_device_profile_describe(const dc_device_profile *p, char *buf, size_t cap)
{
    char local[32], cores[64] = "";
    if (p->local_mem % 1024 == 0)
        snprintf(local, sizeof local, "%llu KiB", (unsigned long long)(p->local_mem / 1024));
    else
        snprintf(local, sizeof local, "%llu bytes", (unsigned long long)p->local_mem);
    if (p->cores != p->compute_units)
        snprintf(cores, sizeof cores, " in %u %s%s", p->cores, p->core, p->cores == 1 ? "" : "s");
    snprintf(buf, cap,
             "%s (%s: %s, %u %s%s%s, %s local memory%s, work-groups of %zu, "
             "multiples of %u, %s)",
             p->name, p->device_name,
             p->type & CL_DEVICE_TYPE_GPU   ? "GPU"
             : p->type & CL_DEVICE_TYPE_CPU ? "CPU"
                                            : "accelerator",
             p->compute_units, p->compute_unit, p->compute_units == 1 ? "" : "s", cores, local,
             p->local_mem_is_global ? " (global)" : "", p->max_work_group, p->wg_multiple,
             p->opencl_c);
}
