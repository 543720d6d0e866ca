/* SPDX-License-Identifier: MIT */
/* binaries.c - program binaries (densecl's file format around a driver's binary, with the key
 * of everything it depends on), the on-disk kernel cache, and how an engine gets its program:
 * from a binary file, from the cache, or built from source (dc_program_get). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/runtime.h"

/* ------------------------------------------------------------------ program binaries
 *
 * File format (little-endian): "DCLBIN1\n", u32 key length, key text, u64 binary length,
 * binary, u64 FNV-1a of the binary. The key names everything the binary depends on (platform,
 * device, driver, OpenCL C version, densecl version, kernels.cl hash, build options), so an
 * entry for another device or an older kernels.cl is detected, named and refused or replaced. */

#define DC_BIN_MAGIC "DCLBIN1\n"
/* Largest binary we accept from a file: far above any real kernels.cl build. Program binaries
 * are trusted input past these checks (sizes, key, checksum, kernels present): a driver's loader
 * may still crash on a crafted one (POCL 3.1 asserts on some). */
#define DC_BIN_MAX ((uint64_t)512 << 20)

/* The cache key: one line per field, as text, so a mismatch can be explained. The kernel hash
 * covers every source the program is built from (with its #line markers); "resolved=" is what
 * a binary brings back (dc_program_binary_resolved). */
static densecl_status dc_program_key(cl_device_id dev, const dc_resolved *res, char *key,
                                     size_t cap)
{
    densecl_device_info info;
    char plat_ver[128] = "", options[1280];
    cl_platform_id plat = NULL;
    dc_sources src;
    uint64_t h = DC_FNV_SEED;
    densecl_status st = dc_sources_get(res->files, &src);
    if (st != DENSECL_OK)
        return st;
    for (int i = 0; i < src.n; i++)
        h = dc_fnv(h, src.str[i], strlen(src.str[i]));
    dc_sources_free(&src);
    dc_program_options(dev, res->defines, options, sizeof options);
    dc_device_describe(dev, &info);
    if (clGetDeviceInfo(dev, CL_DEVICE_PLATFORM, sizeof plat, &plat, NULL) == CL_SUCCESS)
        clGetPlatformInfo(plat, CL_PLATFORM_VERSION, sizeof plat_ver - 1, plat_ver, NULL);
    snprintf(key, cap,
             "platform=%s (%s)\ndevice=%s\nvendor=%s\ndriver=%s\nopencl_c=%s\ndensecl=%s\n"
             "kernels=%016llx\noptions=%s\nresolved=%s\n",
             info.platform_name, plat_ver, info.name, info.vendor, info.driver_version,
             info.opencl_c_version, densecl_version(), (unsigned long long)h, options, res->text);
    return DENSECL_OK;
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
    /* The sizes in the header must add up to the file's own before anything is allocated for
     * them: magic and key length, key, binary length, binary, checksum. */
    struct stat sb;
    if (blen == 0 || blen > DC_BIN_MAX || fstat(fileno(f), &sb) != 0 ||
        (uint64_t)sb.st_size != 12 + klen + 8 + blen + 8) {
        dc_error(st,
                 "%s: truncated or corrupt program binary (its header gives sizes that do "
                 "not add up to the file's)",
                 path);
        goto done;
    }
    if (!(data = malloc((size_t)blen)) || fread(data, 1, (size_t)blen, f) != blen ||
        fread(num, 1, 8, f) != 8 || fgetc(f) != EOF) {
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

/* Hands a program binary to the driver and makes the kernels of every family res uses, and the
 * common ones, from it (into *kern): a binary whose checksum and key are right may still be
 * damaged inside (or crafted), and a driver may accept it and then lack a kernel. Errors name
 * `what` (the file). */
static densecl_status dc_program_from_binary(cl_context ctx, cl_device_id dev,
                                             const unsigned char *bin, size_t len,
                                             const char *options, const dc_program_opts *o,
                                             const char *what, cl_program *out,
                                             dc_program_kernels *kern)
{
    cl_int err, bin_status = CL_SUCCESS;
    densecl_status st;
    cl_program prog = clCreateProgramWithBinary(ctx, 1, &dev, &len, &bin, &bin_status, &err);
    if (err == CL_SUCCESS && bin_status == CL_SUCCESS)
        err = clBuildProgram(prog, 1, &dev, options, NULL, NULL);
    if (err != CL_SUCCESS || bin_status != CL_SUCCESS) {
        if (prog)
            clReleaseProgram(prog);
        return dc_error(DENSECL_ERR_BUILD, "%s: the device refused the program binary (%s)", what,
                        dc_cl_error_name(err != CL_SUCCESS ? err : bin_status));
    }
    st = dc_program_kernels_create(prog, o->caps, o->res, kern);
    if (st != DENSECL_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", densecl_last_error());
        clReleaseProgram(prog);
        return dc_error(DENSECL_ERR_BUILD,
                        "%s: the program binary is damaged: the device loaded it, but %s", what,
                        why);
    }
    *out = prog;
    return DENSECL_OK;
}

densecl_status dc_program_save(cl_program prog, cl_device_id dev, const dc_resolved *res,
                               const char *path)
{
    densecl_status st;
    char key[4096];
    size_t len = 0;
    unsigned char *bin = NULL;
    cl_uint ndev = 0;
    if ((st = dc_program_key(dev, res, key, sizeof key)) != DENSECL_OK)
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

densecl_status dc_program_binary_resolved(const char *path, char *text, size_t cap)
{
    char *key = NULL;
    unsigned char *bin = NULL;
    size_t len = 0;
    densecl_status st = dc_read_binary(path, &key, &bin, &len);
    if (st != DENSECL_OK)
        return st;
    const char *r = strstr(key, "\nresolved=");
    size_t n = r ? strcspn(r + 10, "\n") : 0;
    if (!r || r[10 + n] != '\n' || n >= cap)
        st = dc_error(DENSECL_ERR_MISMATCH,
                      "%s: program binary refused: it names no resolved conv families (made by "
                      "an older densecl); make it again with 'densecl compile-kernels'",
                      path);
    else {
        memcpy(text, r + 10, n);
        text[n] = '\0';
    }
    free(key);
    free(bin);
    return st;
}

/* A process that dies while the driver loads a cache entry (a driver that crashes on a damaged
 * binary: POCL 3.1 asserts on some) leaves its marker, PATH.loading.PID.N, behind. The next
 * process to load the entry finds the marker of a process that is gone, and deletes marker and
 * entry instead of crashing on the entry again. Returns 1 when it did. Markers of live
 * processes (loading it now) are left alone. */
static int dc_cache_crashed(const char *path)
{
    char dir[4096], prefix[512], stale[4608];
    const char *slash = strrchr(path, '/');
    long dead = 0;
    if (!slash || slash == path)
        return 0; /* always DIR/HASH.clbin here */
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    snprintf(prefix, sizeof prefix, "%s.loading.", slash + 1);
    size_t n = strlen(prefix);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        char *end;
        if (strncmp(de->d_name, prefix, n) != 0)
            continue;
        errno = 0;
        long pid = strtol(de->d_name + n, &end, 10);
        if (errno != 0 || pid <= 0 || (*end != '.' && *end != '\0'))
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive (EPERM: another user's, alive too) */
        snprintf(stale, sizeof stale, "%s/%s", dir, de->d_name);
        unlink(stale);
        dead = pid;
    }
    closedir(d);
    if (!dead)
        return 0;
    unlink(path);
    dc_log(DENSECL_LOG_WARN,
           "kernel cache entry %s: process %ld died while loading it (the driver crashed on it, "
           "or it was killed); deleted, building from source",
           path, dead);
    return 1;
}

/* The cache entry at path, if it exists and loads: a program built from it whose kernels the
 * driver makes. An entry that exists but does not load (corrupt, stale, damaged inside, refused
 * by the driver) is deleted, with the reason logged, so that the caller's build from source
 * replaces it and no later run trips on it again. */
static densecl_status dc_cache_load(cl_context ctx, cl_device_id dev, const char *path,
                                    const char *key, const char *options, const dc_program_opts *o,
                                    cl_program *out, dc_program_kernels *kern)
{
    char *have = NULL;
    unsigned char *bin = NULL;
    size_t len = 0;
    densecl_status st;
    static atomic_uint loads; /* tells apart the markers of one process's threads */
    char marker[4200];
    int fd = -1;
    if (access(path, F_OK) != 0)
        return DENSECL_ERR_IO; /* not cached yet */
    if (dc_cache_crashed(path))
        return dc_error(DENSECL_ERR_BUILD, "%s: deleted after a crash", path);
    st = dc_read_binary(path, &have, &bin, &len);
    if (st == DENSECL_OK && strcmp(have, key) != 0)
        st = dc_error(DENSECL_ERR_MISMATCH, "%s: built for another configuration", path);
    if (st == DENSECL_OK) {
        /* No marker (a read-only cache directory) only loses the crash guard. */
        snprintf(marker, sizeof marker, "%s.loading.%ld.%u", path, (long)getpid(),
                 atomic_fetch_add(&loads, 1));
        fd = open(marker, O_WRONLY | O_CREAT | O_EXCL, 0644);
        st = dc_program_from_binary(ctx, dev, bin, len, options, o, path, out, kern);
        if (fd >= 0) {
            close(fd);
            unlink(marker);
        }
    }
    free(have);
    free(bin);
    if (st != DENSECL_OK) {
        char why[768];
        snprintf(why, sizeof why, "%s", densecl_last_error());
        if (unlink(path) != 0 && errno != ENOENT)
            dc_log(DENSECL_LOG_WARN, "kernel cache entry unusable (%s), and cannot delete it: %s",
                   why, strerror(errno));
        else
            dc_log(DENSECL_LOG_WARN,
                   "kernel cache entry unusable, deleted; building from source (%s)", why);
    }
    return st;
}

densecl_status dc_program_get(cl_context ctx, cl_device_id dev, const dc_program_opts *o,
                              cl_program *out, dc_program_kernels *kern)
{
    densecl_status st;
    char options[1280], key[4096], path[4096], dir[4000];
    char *have = NULL;
    unsigned char *bin = NULL;
    size_t len = 0;
    cl_bool compiler = CL_TRUE;
    int use_cache = !o->no_cache && !getenv("DENSECL_KERNELS") && dc_cache_dir(dir, sizeof dir);
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
    dc_program_options(dev, o->res->defines, options, sizeof options);
    if ((st = dc_program_key(dev, o->res, key, sizeof key)) != DENSECL_OK)
        return st;
    clGetDeviceInfo(dev, CL_DEVICE_COMPILER_AVAILABLE, sizeof compiler, &compiler, NULL);

    if (o->binary_path) {
        /* The replica was resolved from the binary's own "resolved=" line: the key differs
         * only where the binary was made for another device, driver or kernel source. */
        if ((st = dc_read_binary(o->binary_path, &have, &bin, &len)) != DENSECL_OK)
            return st;
        if (strcmp(have, key) != 0) {
            char diff[700];
            dc_key_diff(have, key, diff, sizeof diff);
            st = dc_error(DENSECL_ERR_MISMATCH, "%s: program binary refused: %s", o->binary_path,
                          diff);
        } else {
            st = dc_program_from_binary(ctx, dev, bin, len, options, o, o->binary_path, out, kern);
        }
        free(have);
        free(bin);
        return st;
    }

    if (use_cache) {
        uint64_t h = dc_fnv(DC_FNV_SEED, key, strlen(key));
        snprintf(path, sizeof path, "%s/%016llx.clbin", dir, (unsigned long long)h);
        if (dc_cache_load(ctx, dev, path, key, options, o, out, kern) == DENSECL_OK) {
            dc_log(DENSECL_LOG_DEBUG, "kernels from the cache: %s", path);
            dc_clear_error();
            return DENSECL_OK;
        }
        dc_clear_error();
    }
    if (!compiler)
        return dc_error(DENSECL_ERR_BUILD,
                        "this device has no OpenCL compiler (CL_DEVICE_COMPILER_AVAILABLE is "
                        "false, as on most FPGA boards): give it a program binary made with "
                        "'densecl compile-kernels' (--kernels-binary FILE)");
    if ((st = dc_program_build(ctx, dev, o->res->files, o->res->defines, out)) != DENSECL_OK)
        return st;
    if ((st = dc_program_kernels_create(*out, o->caps, o->res, kern)) != DENSECL_OK) {
        clReleaseProgram(*out);
        *out = NULL;
        return st;
    }
    if (use_cache) {
        dc_mkdirs(dir);
        struct stat sb;
        /* A FIFO or device where an entry belongs is junk: replaced, never written into. */
        if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode))
            unlink(path);
        if (dc_program_save(*out, dev, o->res, path) != DENSECL_OK)
            dc_log(DENSECL_LOG_WARN, "could not write the kernel cache: %s", densecl_last_error());
        dc_clear_error();
    }
    return DENSECL_OK;
}

densecl_status densecl_compile_kernels(const char *device_spec, const char *path)
{
    densecl_status st = DENSECL_OK;
    densecl_device_info info;
    cl_device_id dev;
    cl_context ctx = NULL;
    cl_program prog = NULL;
    cl_int err;
    if (!path)
        return dc_error(DENSECL_ERR_ARGUMENT, "densecl_compile_kernels: no output path");
    if ((st = dc_device_pick(device_spec, &dev, &info)) != DENSECL_OK)
        return st;
    dc_caps caps;
    dc_resolved res;
    /* Every conv kind (a binary any model can use), on the family DENSECL_CONV names, else on
     * the direct family with the device's tuned or default tiles. */
    if ((st = dc_caps_query(dev, &caps)) != DENSECL_OK ||
        (st = dc_resolve(&caps, NULL, NULL, &res)) != DENSECL_OK)
        return st;
    ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
    DC_CL_TRY(st, err);
    if ((st = dc_program_build(ctx, dev, res.files, res.defines, &prog)) != DENSECL_OK)
        goto fail;
    st = dc_program_save(prog, dev, &res, path);
fail:
    if (prog)
        clReleaseProgram(prog);
    if (ctx)
        clReleaseContext(ctx);
    return st;
}
