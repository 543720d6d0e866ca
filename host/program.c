/* program.c - the embedded kernels.cl, build options, the build log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

extern const char dc_kernels_cl[];
extern const size_t dc_kernels_cl_len;

/* Reads a whole file; NULL on error (with the detail recorded). */
static char *dc_read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;
    if (!f) {
        dc_error(DENSECL_ERR_IO, "DENSECL_KERNELS=%s: cannot open the file", path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        dc_error(DENSECL_ERR_IO, "DENSECL_KERNELS=%s: cannot read the file", path);
        goto done;
    }
    buf = malloc((size_t)len + 1);
    if (!buf) {
        dc_error(DENSECL_ERR_NO_MEMORY, "DENSECL_KERNELS=%s: out of memory", path);
        goto done;
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        dc_error(DENSECL_ERR_IO, "DENSECL_KERNELS=%s: short read", path);
        free(buf);
        buf = NULL;
        goto done;
    }
    buf[len] = '\0';
done:
    fclose(f);
    return buf;
}

const char *dc_kernel_source(int *owned)
{
    const char *path = getenv("DENSECL_KERNELS");
    *owned = 0;
    if (path && *path) {
        *owned = 1;
        return dc_read_text(path);
    }
    return dc_kernels_cl;
}

/* "-cl-std=CLx.y" from "OpenCL C x.y ..." (never from the platform version: POCL 3.1 says
 * platform 3.0 but OpenCL C 1.2). */
static void dc_cl_std(cl_device_id dev, char *out, size_t cap)
{
    char ver[128] = "";
    int major = 1, minor = 2;
    clGetDeviceInfo(dev, CL_DEVICE_OPENCL_C_VERSION, sizeof ver - 1, ver, NULL);
    if (sscanf(ver, "OpenCL C %d.%d", &major, &minor) != 2 || major < 1) {
        major = 1;
        minor = 2;
    }
    /* kernels.cl is OpenCL C 1.2; a 1.0/1.1 device gets its own version and may fail to build,
     * which reports clearly. */
    snprintf(out, cap, "-cl-std=CL%d.%d", major, minor);
}

densecl_status dc_program_build(cl_context ctx, cl_device_id dev, const char *extra_options,
                                cl_program *out)
{
    densecl_status st = DENSECL_OK;
    cl_program prog = NULL;
    cl_int err;
    int owned = 0;
    char options[512];
    const char *src = dc_kernel_source(&owned);
    if (!src)
        return DENSECL_ERR_IO;
    dc_cl_std(dev, options, sizeof options);
    if (extra_options && *extra_options) {
        size_t len = strlen(options);
        snprintf(options + len, sizeof options - len, " %s", extra_options);
    }
    prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);
    DC_CL_TRY(st, err);
    err = clBuildProgram(prog, 1, &dev, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char name[128] = "";
        size_t len = 0;
        char *log = NULL;
        clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof name - 1, name, NULL);
        clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
        log = len ? malloc(len + 1) : NULL;
        if (log && clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, len, log, NULL) ==
                       CL_SUCCESS)
            log[len] = '\0';
        else if (log)
            log[0] = '\0';
        st = dc_error(err == CL_BUILD_PROGRAM_FAILURE ? DENSECL_ERR_BUILD : dc_cl_status(err),
                      "kernels.cl did not build for '%s' (clBuildProgram: %s, options '%s'):\n%s",
                      name, dc_cl_error_name(err), options, log ? log : "(no build log)");
        free(log);
        goto fail;
    }
    *out = prog;
    prog = NULL;
fail:
    if (prog)
        clReleaseProgram(prog);
    if (owned)
        free((void *)src);
    return st;
}
