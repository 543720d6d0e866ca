/* program.c - the embedded kernels.cl, build options, the build log. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "internal.h"

extern const char dc_kernels_cl[];
extern const size_t dc_kernels_cl_len;

/* Reads a whole file; NULL on error (with the detail recorded, the path after `prefix`). */
static char *dc_read_text(const char *prefix, const char *path)
{
    FILE *f;
    char *buf = NULL;
    long len;
    if (dc_fopen_regular(path, prefix, &f) != DENSECL_OK)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        dc_error(DENSECL_ERR_IO, "%s%s: cannot read the file", prefix, path);
        goto done;
    }
    buf = malloc((size_t)len + 1);
    if (!buf) {
        dc_error(DENSECL_ERR_NO_MEMORY, "%s%s: out of memory", prefix, path);
        goto done;
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        dc_error(DENSECL_ERR_IO, "%s%s: short read", prefix, path);
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
        return dc_read_text("DENSECL_KERNELS=", path);
    }
    return dc_kernels_cl;
}

void dc_cl_std_from(const char *opencl_c_version, char *out, size_t cap)
{
    int major = 1, minor = 2;
    if (sscanf(opencl_c_version, "OpenCL C %d.%d", &major, &minor) != 2 || major < 1) {
        major = 1;
        minor = 2;
    }
    /* kernels.cl is OpenCL C 1.2; a 1.0/1.1 device gets its own version and may fail to build,
     * which reports clearly. */
    snprintf(out, cap, "-cl-std=CL%d.%d", major, minor);
}

static void dc_cl_std(cl_device_id dev, char *out, size_t cap)
{
    char ver[128] = "";
    clGetDeviceInfo(dev, CL_DEVICE_OPENCL_C_VERSION, sizeof ver - 1, ver, NULL);
    dc_cl_std_from(ver, out, cap);
}

/* kernels.cl's CONV_VEC: 16 where the device's native float vector is 16 wide (AVX-512 CPUs).
 * POCL 3.1 emits 512-bit FMAs only for float16 operations: its float8 code runs on 256-bit
 * registers, half of such a CPU's FMA width. */
static int dc_conv_vec(cl_device_id dev)
{
    cl_uint width = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof width, &width, NULL) !=
        CL_SUCCESS)
        return 8;
    return width >= 16 ? 16 : 8;
}

/* kernels.cl's CONV_PREFETCH: 16 channels ahead on CPUs (measured on POCL 3.1, Xeon: 8 to 24
 * did as well), none elsewhere (GPUs hide latency with other work-items, and their compilers
 * need not know clang's __builtin_prefetch). */
static int dc_conv_prefetch(cl_device_id dev)
{
    cl_device_type type = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL) != CL_SUCCESS)
        return 0;
    return (type & CL_DEVICE_TYPE_CPU) ? 16 : 0;
}

/* The build options of kernels.cl for dev: -cl-std, then extra (the tiles' -D options), then
 * what follows from the device alone, each unless extra sets it (tests do). Program builds and
 * cache keys both use it. */
static void dc_compose_options(cl_device_id dev, const char *extra, char *options, size_t cap)
{
    size_t len;
    dc_cl_std(dev, options, cap);
    len = strlen(options);
    if (extra && *extra)
        len += (size_t)snprintf(options + len, cap - len, " %s", extra);
    if (len < cap && !(extra && strstr(extra, "-DCONV_VEC=")))
        len += (size_t)snprintf(options + len, cap - len, " -DCONV_VEC=%d", dc_conv_vec(dev));
    if (len < cap && !(extra && strstr(extra, "-DCONV_PREFETCH=")))
        snprintf(options + len, cap - len, " -DCONV_PREFETCH=%d", dc_conv_prefetch(dev));
}

/* "; POCL's kernel cache (POCL_CACHE_DIR=D) is on a full disk ..." when it is: POCL writes its
 * build products there, and a full disk only says "failed to build the program". "" else. */
static void dc_full_cache_hint(char *buf, size_t cap)
{
    const char *env = getenv("POCL_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char dir[4096];
    struct statvfs vfs;
    buf[0] = '\0';
    if (env && *env)
        snprintf(dir, sizeof dir, "%s", env);
    else if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/pocl", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/pocl", home);
    else
        return;
    if (statvfs(dir, &vfs) != 0 || (uint64_t)vfs.f_bavail * vfs.f_frsize >= ((uint64_t)1 << 20))
        return;
    snprintf(buf, cap, "; POCL's kernel cache %s%s is on a full disk (%llu KiB free)",
             env && *env ? "POCL_CACHE_DIR=" : "", dir,
             (unsigned long long)((uint64_t)vfs.f_bavail * vfs.f_frsize / 1024));
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
    dc_compose_options(dev, extra_options, options, sizeof options);
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
        char disk[4400];
        dc_full_cache_hint(disk, sizeof disk);
        st = dc_error(err == CL_BUILD_PROGRAM_FAILURE ? DENSECL_ERR_BUILD : dc_cl_status(err),
                      "kernels.cl did not build for '%s' (clBuildProgram: %s, options '%s')%s:\n%s",
                      name, dc_cl_error_name(err), options, disk, log ? log : "(no build log)");
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

/* ------------------------------------------------------------------ program binaries
 *
 * File format (little-endian): "DCLBIN1\n", u32 key length, key text, u64 binary length,
 * binary, u64 FNV-1a of the binary. The key names everything the binary depends on (platform,
 * device, driver, OpenCL C version, densecl version, kernels.cl hash, build options), so an
 * entry for another device or an older kernels.cl is detected, named and refused or replaced. */

#define DC_BIN_MAGIC "DCLBIN1\n"
/* Largest binary we accept from a file: far above any real kernels.cl build. */
#define DC_BIN_MAX ((uint64_t)512 << 20)

static uint64_t dc_fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

#define DC_FNV_SEED 14695981039346656037ull

/* The cache key: one line per field, as text, so a mismatch can be explained. */
static densecl_status dc_program_key(cl_device_id dev, const char *options, char *key, size_t cap)
{
    densecl_device_info info;
    char plat_ver[128] = "";
    cl_platform_id plat = NULL;
    int owned = 0;
    const char *src = dc_kernel_source(&owned);
    if (!src)
        return DENSECL_ERR_IO;
    uint64_t h = dc_fnv(DC_FNV_SEED, src, strlen(src));
    if (owned)
        free((void *)src);
    dc_device_describe(dev, &info);
    if (clGetDeviceInfo(dev, CL_DEVICE_PLATFORM, sizeof plat, &plat, NULL) == CL_SUCCESS)
        clGetPlatformInfo(plat, CL_PLATFORM_VERSION, sizeof plat_ver - 1, plat_ver, NULL);
    snprintf(key, cap,
             "platform=%s (%s)\ndevice=%s\nvendor=%s\ndriver=%s\nopencl_c=%s\ndensecl=%s\n"
             "kernels=%016llx\noptions=%s\n",
             info.platform_name, plat_ver, info.name, info.vendor, info.driver_version,
             info.opencl_c_version, densecl_version(), (unsigned long long)h, options);
    return DENSECL_OK;
}

/* mkdir -p for the cache directory; failures surface when the file is written. */
static void dc_mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

/* ------------------------------------------------------------------ conv tiles */

void dc_tiles_generic(densecl_tiles *t)
{
    /* kernels.cl's own defaults. */
    t->conv1x1_channels = 4;
    t->conv1x1_pixels = 16;
    t->conv_channels = 16;
    t->conv_pixels = 3;
}

void dc_tiles_default(cl_device_id dev, densecl_tiles *t)
{
    cl_device_type type = 0;
    cl_uint width = 0;
    dc_tiles_generic(t);
    if (!dev || clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL) != CL_SUCCESS ||
        clGetDeviceInfo(dev, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof width, &width, NULL) !=
            CL_SUCCESS)
        return;
    /* kernels.cl's defaults were the fastest on POCL 3.1 on an AVX2 CPU (16 vector registers:
     * larger tiles spill). A CPU with 16-wide float vectors (AVX-512, 32 registers, float16
     * code: CONV_VEC) holds larger tiles. On POCL 3.1 on a 2-core Xeon (skylake-avx512), at
     * DenseNet-121 batch 8, 1x1 8x32 beat 8x16, 4x32, 12x16, 12x32, 16x16 and 16x32 (the
     * tuner's runs). For the 3x3, 32x4 (all 32 channels of a growth conv per input value) ran
     * those layers 20-26% faster than 16x6, and 16x6 as fast as 16x8, which took POCL 0.3 s
     * longer to compile (a first run with empty caches: 3.4-4.0 s with 32x4 and the stem
     * kept at 16x4, 3.1-3.8 s with 16x6). Engines halve the 32 for models with a smaller
     * growth rate (dc_fit_conv_channels). GPUs keep the generic tiles until measured: run
     * densecl tune. */
    if ((type & CL_DEVICE_TYPE_CPU) && width >= 16) {
        t->conv1x1_channels = 8;
        t->conv1x1_pixels = 32;
        t->conv_channels = 32;
        t->conv_pixels = 4;
    }
}

densecl_status dc_tiles_check(const densecl_tiles *t, const char *what)
{
    int px = t->conv1x1_pixels, co = t->conv_channels;
    if (t->conv1x1_channels < 1 || t->conv1x1_channels > 16)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: 1x1 conv tile of %d channels (1 to 16)", what,
                        t->conv1x1_channels);
    if (px != 2 && px != 4 && px != 8 && px != 16 && px != 24 && px != 32)
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "%s: 1x1 conv tile of %d pixels (2, 4, 8, 16, 24 or 32)", what, px);
    if (co != 2 && co != 4 && co != 8 && co != 16 && co != 32)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: conv tile of %d channels (2, 4, 8, 16 or 32)",
                        what, co);
    if (t->conv_pixels < 1 || t->conv_pixels > 8)
        return dc_error(DENSECL_ERR_ARGUMENT, "%s: conv tile of %d pixels (1 to 8)", what,
                        t->conv_pixels);
    return DENSECL_OK;
}

void dc_tiles_options(const densecl_tiles *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "-DCONV_FLAT_CO=%d -DCONV_FLAT_PX=%d -DCONV_TCO=%d -DCONV_TPX=%d",
             t->conv1x1_channels, t->conv1x1_pixels, t->conv_channels, t->conv_pixels);
}

int dc_tiles_path(cl_device_id dev, char *buf, size_t cap)
{
    char dir[4000], id[1536];
    densecl_device_info info;
    if (!dc_cache_dir(dir, sizeof dir))
        return 0;
    dc_device_describe(dev, &info);
    /* Tiles belong to a device and its driver; kernels.cl changes keep them (they stay valid,
     * if perhaps no longer the fastest). */
    snprintf(id, sizeof id, "platform=%s\ndevice=%s\nvendor=%s\ndriver=%s\n", info.platform_name,
             info.name, info.vendor, info.driver_version);
    snprintf(buf, cap, "%s/tiles-%016llx.txt", dir,
             (unsigned long long)dc_fnv(DC_FNV_SEED, id, strlen(id)));
    return 1;
}

/* A decimal in [1, 64] at *s (at most two digits, so it cannot overflow: sscanf's %d is undefined
 * for numbers an int cannot hold); advances *s past it. */
static int tile_side(const char **s, int *out)
{
    const char *p = *s;
    int v = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 3) {
        v = v * 10 + (*p++ - '0');
        digits++;
    }
    if (digits == 0 || digits > 2 || v < 1 || v > 64)
        return 0;
    *out = v;
    *s = p;
    return 1;
}

int dc_parse_tile(const char *s, int *a, int *b)
{
    return tile_side(&s, a) && *s++ == 'x' && tile_side(&s, b) && *s == '\0';
}

densecl_status dc_tiles_parse(const char *text, densecl_tiles *t, const char *what)
{
    char line[256];
    int have1 = 0, have3 = 0, lineno = 0;
    memset(t, 0, sizeof *t);
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        lineno++;
        if (n >= sizeof line)
            return dc_error(DENSECL_ERR_FORMAT, "%s:%d: line too long", what, lineno);
        memcpy(line, p, n);
        line[n] = '\0';
        p += n + (p[n] == '\n');
        char *s = line + strspn(line, " \t\r");
        s[strcspn(s, "\r")] = '\0';
        if (*s == '\0' || *s == '#')
            continue;
        char name[16], tile[32], extra[2];
        if (sscanf(s, "%15s %31s %1s", name, tile, extra) == 2 && strcmp(name, "conv1x1") == 0 &&
            !have1 && dc_parse_tile(tile, &t->conv1x1_channels, &t->conv1x1_pixels))
            have1 = 1;
        else if (sscanf(s, "%15s %31s %1s", name, tile, extra) == 2 && strcmp(name, "conv") == 0 &&
                 !have3 && dc_parse_tile(tile, &t->conv_channels, &t->conv_pixels))
            have3 = 1;
        else
            return dc_error(DENSECL_ERR_FORMAT,
                            "%s:%d: expected 'conv1x1 CxP' or 'conv CxP' (once each), got '%.60s'",
                            what, lineno, s);
    }
    if (!have1 || !have3)
        return dc_error(DENSECL_ERR_FORMAT, "%s: no '%s' line", what, have1 ? "conv" : "conv1x1");
    return dc_tiles_check(t, what) == DENSECL_OK ? DENSECL_OK : DENSECL_ERR_FORMAT;
}

densecl_status dc_tiles_write(const char *path, const densecl_tiles *t, const char *comment)
{
    dc_atomic_file a;
    densecl_status st;
    char dir[4000];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        dc_mkdirs(dir);
    }
    char line[512];
    snprintf(line, sizeof line, "%s", comment ? comment : "densecl tiles");
    for (char *c = line; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' '; /* one comment line, whatever the device's name holds */
    if ((st = dc_atomic_open(&a, path)) != DENSECL_OK)
        return st;
    int ok = fprintf(a.f, "# %s\nconv1x1 %dx%d\nconv %dx%d\n", line, t->conv1x1_channels,
                     t->conv1x1_pixels, t->conv_channels, t->conv_pixels) > 0;
    return dc_atomic_close(&a, ok && !ferror(a.f));
}

densecl_status dc_tiles_resolve(cl_device_id dev, const densecl_tiles *given, densecl_tiles *out,
                                densecl_tiles_origin *origin)
{
    char path[4200];
    const char *no = getenv("DENSECL_NO_TUNING");
    int set = 0;
    if (given) {
        set = (given->conv1x1_channels != 0) + (given->conv1x1_pixels != 0) +
              (given->conv_channels != 0) + (given->conv_pixels != 0);
    }
    if (set == 4) {
        *out = *given;
        *origin = DENSECL_TILES_GIVEN;
        return dc_tiles_check(out, "densecl_engine_options.tiles");
    }
    if (set != 0)
        return dc_error(DENSECL_ERR_ARGUMENT,
                        "densecl_engine_options.tiles: set all four fields, or none");
    dc_tiles_default(dev, out);
    *origin = DENSECL_TILES_DEFAULT;
    if ((no && *no && strcmp(no, "0") != 0) || !dc_tiles_path(dev, path, sizeof path))
        return DENSECL_OK;
    if (access(path, F_OK) != 0)
        return DENSECL_OK; /* this device was never tuned */
    densecl_tiles t;
    if (dc_tiles_load(path, &t) == DENSECL_OK) {
        *out = t;
        *origin = DENSECL_TILES_TUNED;
        dc_log(DENSECL_LOG_DEBUG, "conv tiles from %s", path);
    } else {
        dc_log(DENSECL_LOG_WARN, "ignoring the tuning file (%s); using the default tiles",
               densecl_last_error());
    }
    dc_clear_error();
    return DENSECL_OK;
}

densecl_status dc_tiles_load(const char *path, densecl_tiles *t)
{
    char *text = dc_read_text("", path);
    if (!text)
        return DENSECL_ERR_IO;
    densecl_status st = dc_tiles_parse(text, t, path);
    free(text);
    return st;
}

void dc_program_defines(cl_device_id dev, const densecl_tiles *tiles, unsigned convs, char *buf,
                        size_t cap)
{
    densecl_tiles def;
    size_t len;
    if (!tiles) {
        dc_tiles_default(dev, &def);
        tiles = &def;
    }
    dc_tiles_options(tiles, buf, cap);
    len = strlen(buf);
    if (convs && (convs & DC_CONV_ALL) != DC_CONV_ALL)
        snprintf(buf + len, cap - len, " -DCONV_KERNELS=%u", convs & DC_CONV_ALL);
}

static void dc_build_options(cl_device_id dev, const densecl_tiles *tiles, unsigned convs,
                             char *options, size_t cap)
{
    char defines[160];
    dc_program_defines(dev, tiles, convs, defines, sizeof defines);
    dc_compose_options(dev, defines, options, cap);
}

int dc_cache_dir(char *buf, size_t cap)
{
    const char *d = getenv("DENSECL_CACHE_DIR");
    if (d && *d)
        return snprintf(buf, cap, "%s", d) < (int)cap;
    d = getenv("XDG_CACHE_HOME");
    if (d && *d)
        return snprintf(buf, cap, "%s/densecl", d) < (int)cap;
    d = getenv("HOME");
    if (d && *d)
        return snprintf(buf, cap, "%s/.cache/densecl", d) < (int)cap;
    return 0;
}

static void dc_put_u64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static densecl_status dc_write_binary(const char *path, const char *key, const unsigned char *bin,
                                      size_t len)
{
    unsigned char num[8];
    dc_atomic_file a;
    densecl_status st = dc_atomic_open(&a, path);
    if (st != DENSECL_OK)
        return st;
    int ok = fwrite(DC_BIN_MAGIC, 1, 8, a.f) == 8;
    dc_put_u64(num, strlen(key));
    ok = ok && fwrite(num, 1, 4, a.f) == 4 && fwrite(key, 1, strlen(key), a.f) == strlen(key);
    dc_put_u64(num, len);
    ok = ok && fwrite(num, 1, 8, a.f) == 8 && fwrite(bin, 1, len, a.f) == len;
    dc_put_u64(num, dc_fnv(DC_FNV_SEED, bin, len));
    ok = ok && fwrite(num, 1, 8, a.f) == 8;
    return dc_atomic_close(&a, ok);
}

/* Reads a binary file; on success *bin (malloc'd) and *key_out (malloc'd). */
static densecl_status dc_read_binary(const char *path, char **key_out, unsigned char **bin,
                                     size_t *len)
{
    densecl_status st = DENSECL_ERR_FORMAT;
    unsigned char head[12], num[8];
    char *key = NULL;
    unsigned char *data = NULL;
    FILE *f;
    if (dc_fopen_regular(path, NULL, &f) != DENSECL_OK)
        return DENSECL_ERR_IO;
    if (fread(head, 1, 12, f) != 12 || memcmp(head, DC_BIN_MAGIC, 8) != 0) {
        dc_error(st, "%s: not a densecl program binary (write one with 'densecl compile-kernels')",
                 path);
        goto done;
    }
    uint64_t klen = dc_load_le(head + 8, 4);
    if (klen > 65536 || !(key = malloc(klen + 1)) || fread(key, 1, klen, f) != klen ||
        fread(num, 1, 8, f) != 8) {
        dc_error(st, "%s: truncated or corrupt program binary", path);
        goto done;
    }
    key[klen] = '\0';
    uint64_t blen = dc_load_le(num, 8);
    if (blen == 0 || blen > DC_BIN_MAX || !(data = malloc((size_t)blen)) ||
        fread(data, 1, (size_t)blen, f) != blen || fread(num, 1, 8, f) != 8 ||
        fgetc(f) != EOF) {
        dc_error(st, "%s: truncated or corrupt program binary", path);
        goto done;
    }
    if (dc_load_le(num, 8) != dc_fnv(DC_FNV_SEED, data, (size_t)blen)) {
        dc_error(st, "%s: program binary checksum mismatch (corrupt file)", path);
        goto done;
    }
    *key_out = key;
    *bin = data;
    *len = (size_t)blen;
    key = NULL;
    data = NULL;
    st = DENSECL_OK;
done:
    fclose(f);
    free(key);
    free(data);
    return st;
}

/* The first key line that differs, for the refusal message ("device=A" vs "device=B"). */
static void dc_key_diff(const char *have, const char *want, char *out, size_t cap)
{
    while (*have && *want) {
        size_t lh = strcspn(have, "\n"), lw = strcspn(want, "\n");
        if (lh != lw || strncmp(have, want, lh) != 0) {
            snprintf(out, cap, "built for %.*s, this device needs %.*s", (int)lh, have, (int)lw,
                     want);
            return;
        }
        have += lh + (have[lh] == '\n');
        want += lw + (want[lw] == '\n');
    }
    snprintf(out, cap, "built for another configuration");
}

static densecl_status dc_program_from_binary(cl_context ctx, cl_device_id dev,
                                             const unsigned char *bin, size_t len,
                                             const char *options, const char *what,
                                             cl_program *out)
{
    cl_int err, bin_status = CL_SUCCESS;
    cl_program prog = clCreateProgramWithBinary(ctx, 1, &dev, &len, &bin, &bin_status, &err);
    if (err == CL_SUCCESS && bin_status == CL_SUCCESS)
        err = clBuildProgram(prog, 1, &dev, options, NULL, NULL);
    if (err != CL_SUCCESS || bin_status != CL_SUCCESS) {
        if (prog)
            clReleaseProgram(prog);
        return dc_error(DENSECL_ERR_BUILD, "%s: the device refused the program binary (%s)", what,
                        dc_cl_error_name(err != CL_SUCCESS ? err : bin_status));
    }
    *out = prog;
    return DENSECL_OK;
}

densecl_status dc_program_save(cl_program prog, cl_device_id dev,
                               const densecl_tiles *tiles, unsigned convs, const char *path)
{
    densecl_status st;
    char options[512], key[2048];
    size_t len = 0;
    unsigned char *bin = NULL;
    cl_uint ndev = 0;
    dc_build_options(dev, tiles, convs, options, sizeof options);
    if ((st = dc_program_key(dev, options, key, sizeof key)) != DENSECL_OK)
        return st;
    /* One device per program here, so one binary. */
    if (clGetProgramInfo(prog, CL_PROGRAM_NUM_DEVICES, sizeof ndev, &ndev, NULL) != CL_SUCCESS ||
        ndev != 1 ||
        clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) != CL_SUCCESS ||
        len == 0)
        return dc_error(DENSECL_ERR_UNSUPPORTED, "the OpenCL driver gives no program binary");
    if (!(bin = malloc(len)))
        return dc_error(DENSECL_ERR_NO_MEMORY, "out of memory");
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) != CL_SUCCESS)
        st = dc_error(DENSECL_ERR_UNSUPPORTED, "the OpenCL driver gives no program binary");
    else
        st = dc_write_binary(path, key, bin, len);
    free(bin);
    return st;
}

/* The value of "-DNAME=" in a program binary's key, a decimal in [0, max] followed by a space
 * or the end; 0 when absent or out of range (strtol reports overflow; sscanf's %d would not). */
static int dc_key_define(const char *key, const char *name, long max, int *out)
{
    char pat[64];
    snprintf(pat, sizeof pat, "-D%s=", name);
    const char *o = key;
    /* The define itself, not the tail of a longer name: at the start of "options=" or a word. */
    while ((o = strstr(o, pat)) != NULL && o != key && o[-1] != ' ' && o[-1] != '=')
        o++;
    if (!o)
        return 0;
    o += strlen(pat);
    if (*o < '0' || *o > '9')
        return 0;
    char *end;
    errno = 0;
    long v = strtol(o, &end, 10);
    if (errno != 0 || v > max || (*end != ' ' && *end != '\0'))
        return 0;
    *out = (int)v;
    return 1;
}

/* The tiles a program binary's key says it was built with ("options=... -DCONV_FLAT_CO=..."). */
static int dc_key_tiles(const char *key, densecl_tiles *t)
{
    return dc_key_define(key, "CONV_FLAT_CO", 64, &t->conv1x1_channels) &&
           dc_key_define(key, "CONV_FLAT_PX", 64, &t->conv1x1_pixels) &&
           dc_key_define(key, "CONV_TCO", 64, &t->conv_channels) &&
           dc_key_define(key, "CONV_TPX", 64, &t->conv_pixels) &&
           dc_tiles_check(t, "program binary") == DENSECL_OK;
}

/* The conv kernels a program binary's key says it holds (no -DCONV_KERNELS: all). */
static unsigned dc_key_convs(const char *key)
{
    int convs = DC_CONV_ALL;
    if (strstr(key, "-DCONV_KERNELS=") && !dc_key_define(key, "CONV_KERNELS", DC_CONV_ALL, &convs))
        convs = 0;
    return (unsigned)convs & DC_CONV_ALL;
}

densecl_status dc_program_get(cl_context ctx, cl_device_id dev, dc_program_opts *o,
                              cl_program *out)
{
    densecl_status st;
    char options[512], key[2048], path[4096], dir[4000];
    char *have = NULL;
    unsigned char *bin = NULL;
    size_t len = 0;
    cl_bool compiler = CL_TRUE;
    int use_cache = !(o && o->no_cache) && !getenv("DENSECL_KERNELS") && dc_cache_dir(dir, sizeof dir);
    const char *no = getenv("DENSECL_NO_CACHE"), *force = getenv("DENSECL_CACHE");
    if (no && *no && strcmp(no, "0") != 0)
        use_cache = 0;
    /* POCL caches its own builds (POCL_CACHE_DIR) and compiles kernels lazily at first launch,
     * so a binary of ours saves nothing there, and asking POCL for one costs a full extra
     * compile (measured: cold start 17.9 s without our cache, 29.2 s with it; warm 0.42 s vs
     * 0.33 s). DENSECL_CACHE=1 forces it on (tests do). */
    if (use_cache && !(force && strcmp(force, "1") == 0)) {
        densecl_device_info info;
        dc_device_describe(dev, &info);
        if (strstr(info.platform_name, "Portable Computing Language"))
            use_cache = 0;
    }
    const densecl_tiles *tiles = o ? &o->tiles : NULL;
    const unsigned convs = o ? o->convs : 0;
    char defines[160];
    dc_program_defines(dev, tiles, convs, defines, sizeof defines);
    dc_compose_options(dev, defines, options, sizeof options);
    if ((st = dc_program_key(dev, options, key, sizeof key)) != DENSECL_OK)
        return st;
    clGetDeviceInfo(dev, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);

    if (o && o->binary_path) {
        if ((st = dc_read_binary(o->binary_path, &have, &bin, &len)) != DENSECL_OK)
            return st;
        /* A binary brings its own tiles and conv kernels: whatever a tuning file says now,
         * build options are those it was compiled with (the launchers size their grids by the
         * tiles); it must hold every conv kernel the model needs. */
        densecl_tiles bt;
        unsigned bc = dc_key_convs(have), need = o->convs ? o->convs : DC_CONV_ALL;
        int own = 0;
        if (dc_key_tiles(have, &bt) && memcmp(&bt, &o->tiles, sizeof bt) != 0) {
            o->tiles = bt;
            own = 1;
        }
        if ((bc & need) == need && bc != need) {
            o->convs = bc;
            own = 1;
        }
        if (own) {
            dc_build_options(dev, &o->tiles, o->convs, options, sizeof options);
            if ((st = dc_program_key(dev, options, key, sizeof key)) != DENSECL_OK) {
                free(have);
                free(bin);
                return st;
            }
        }
        dc_clear_error();
        if ((bc & need) != need) {
            st = dc_error(DENSECL_ERR_MISMATCH,
                          "%s: program binary refused: it was built without conv kernels this "
                          "model needs (-DCONV_KERNELS=%u, needs %u); make it again with "
                          "'densecl compile-kernels'",
                          o->binary_path, bc, need);
        } else if (strcmp(have, key) != 0) {
            char diff[700];
            dc_key_diff(have, key, diff, sizeof diff);
            st = dc_error(DENSECL_ERR_MISMATCH, "%s: program binary refused: %s",
                          o->binary_path, diff);
        } else {
            st = dc_program_from_binary(ctx, dev, bin, len, options, o->binary_path, out);
        }
        free(have);
        free(bin);
        return st;
    }

    if (use_cache) {
        uint64_t h = dc_fnv(DC_FNV_SEED, key, strlen(key));
        snprintf(path, sizeof path, "%s/%016llx.clbin", dir, (unsigned long long)h);
        if (dc_read_binary(path, &have, &bin, &len) == DENSECL_OK && strcmp(have, key) == 0 &&
            dc_program_from_binary(ctx, dev, bin, len, options, path, out) == DENSECL_OK) {
            dc_log(DENSECL_LOG_DEBUG, "kernels from the cache: %s", path);
            free(have);
            free(bin);
            dc_clear_error();
            return DENSECL_OK;
        }
        /* Missing, stale or corrupt: build afresh below and replace it. */
        free(have);
        free(bin);
    }
    if (!compiler)
        return dc_error(DENSECL_ERR_BUILD,
                        "this device has no OpenCL compiler (CL_DEVICE_COMPILER_AVAILABLE is "
                        "false, as on most FPGA boards): give it a program binary made with "
                        "'densecl compile-kernels' (--kernels-binary FILE)");
    if ((st = dc_program_build(ctx, dev, defines, out)) != DENSECL_OK)
        return st;
    if (use_cache) {
        dc_mkdirs(dir);
        struct stat sb;
        /* A FIFO or device where an entry belongs is junk: replaced, never written into. */
        if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode))
            unlink(path);
        if (dc_program_save(*out, dev, tiles, convs, path) != DENSECL_OK)
            dc_log(DENSECL_LOG_WARN, "could not write the kernel cache: %s", densecl_last_error());
        dc_clear_error();
    }
    return DENSECL_OK;
}
