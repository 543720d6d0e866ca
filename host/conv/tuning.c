/* SPDX-License-Identifier: MIT */
/* tuning.c - the direct family's tiles in their legacy form and the device's tuning file
 * (`densecl tune` writes it: the tiles, and the family and parameters it measured fastest) */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conv/conv.h"

/* ------------------------------------------------------------------ tiles (legacy form) */

void dc_tiles_generic(densecl_tiles *t)
{
    /* kernels/direct.cl's own defaults. */
    t->conv1x1_channels = 4;
    t->conv1x1_pixels = 16;
    t->conv_channels = 16;
    t->conv_pixels = 3;
}

/* 1 for a CPU with 16-wide native float vectors, as dc_caps_query reports it (the device
 * profile in force, if any: a GPU's keeps the generic tiles). */
static int dc_wide_cpu(cl_device_id dev)
{
    dc_caps c;
    if (!dev || dc_caps_query(dev, &c) != DENSECL_OK) {
        dc_clear_error(); /* a profile that does not load: the engine says so */
        return 0;
    }
    return (c.type & CL_DEVICE_TYPE_CPU) && c.native_vector_float >= 16;
}

void dc_tiles_default(cl_device_id dev, densecl_tiles *t)
{
    dc_tiles_generic(t);
    if (!dc_wide_cpu(dev))
        return;
    /* direct.cl's defaults were the fastest on POCL 3.1 on an AVX2 CPU (16 vector registers:
     * larger tiles spill). A CPU with 16-wide float vectors (AVX-512, 32 registers, float16
     * code: CONV_VEC) holds larger tiles. For the 3x3, 32x4 (all 32 channels of a growth conv
     * per input value) ran those layers 20-26% faster than 16x6 on a 2-core Xeon, and 16x6 as
     * fast as 16x8, which took POCL 0.3 s longer to compile (a first run with empty caches:
     * 3.4-4.0 s with 32x4 and the stem kept at 16x4, 3.1-3.8 s with 16x6); on an AMD EPYC 16x8
     * and 32x6 were slower and 32x3 mixed. Engines halve the 32 for models with a smaller growth
     * rate (dc_direct_fit).
     *
     * The 1x1 tile is 8x32 on every such CPU. Unstaged, two of them disagreed (an AMD EPYC ran
     * 16x16 12-20% faster, an Intel Xeon 8x32 11% faster), and 0.7.x raced the two on each
     * device's first engine. Staged (CONV_STAGE), 8x32 won on the Xeon by a factor of two and
     * 16x16 by 3.5% on an AMD EPYC (DenseNet-121's 1x1 convs, batch 1 and 8, per-op minima of
     * alternating runs, 2026-12-07: 1.8% of a whole image), while the race added 1.4 s to a
     * 4-4.4 s first run (its second build of the 1x1 kernel). `densecl tune` measures every
     * tile on the whole model; its file, when there is one, takes precedence. GPUs keep the
     * generic tiles until measured: run densecl tune. */
    t->conv1x1_channels = 8;
    t->conv1x1_pixels = 32;
    t->conv_channels = 32;
    t->conv_pixels = 4;
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

int dc_tiles_path(cl_device_id dev, char *buf, size_t cap)
{
    char dir[4000], id[1536];
    densecl_device_info info;
    if (!dc_cache_dir(dir, sizeof dir))
        return 0;
    dc_device_describe(dev, &info);
    /* Tiles belong to a device and its driver; kernel source changes keep them (they stay valid,
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
    return dc_tuning_parse(text, t, NULL, 0, NULL, 0, what);
}

densecl_status dc_tuning_parse(const char *text, densecl_tiles *t, char *family, size_t fcap,
                               char *params, size_t pcap, const char *what)
{
    char line[256];
    int have1 = 0, have3 = 0, havef = 0, havep = 0, lineno = 0;
    memset(t, 0, sizeof *t);
    if (fcap)
        family[0] = '\0';
    if (pcap)
        params[0] = '\0';
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
        char name[16], tile[200], extra[2];
        /* "family NAME" and "params TEXT" (the family's kernel_params) once each: the family
         * that won `densecl tune`, whose row auto then picks. */
        if (sscanf(s, "%15s %199s %1s", name, tile, extra) == 2 && strcmp(name, "family") == 0 &&
            !havef) {
            havef = 1;
            if (fcap)
                snprintf(family, fcap, "%s", tile);
            continue;
        }
        if (sscanf(s, "%15s %199s %1s", name, tile, extra) == 2 && strcmp(name, "params") == 0 &&
            !havep) {
            havep = 1;
            if (pcap)
                snprintf(params, pcap, "%s", tile);
            continue;
        }
        if (sscanf(s, "%15s %31s %1s", name, tile, extra) == 2 && strcmp(name, "conv1x1") == 0 &&
            !have1 && dc_parse_tile(tile, &t->conv1x1_channels, &t->conv1x1_pixels))
            have1 = 1;
        else if (sscanf(s, "%15s %31s %1s", name, tile, extra) == 2 && strcmp(name, "conv") == 0 &&
                 !have3 && dc_parse_tile(tile, &t->conv_channels, &t->conv_pixels))
            have3 = 1;
        else
            return dc_error(DENSECL_ERR_FORMAT,
                            "%s:%d: expected 'conv1x1 CxP', 'conv CxP', 'family NAME' or "
                            "'params TEXT' (once each), got '%.60s'",
                            what, lineno, s);
    }
    if (!have1 || !have3)
        return dc_error(DENSECL_ERR_FORMAT, "%s: no '%s' line", what, have1 ? "conv" : "conv1x1");
    return dc_tiles_check(t, what) == DENSECL_OK ? DENSECL_OK : DENSECL_ERR_FORMAT;
}

densecl_status dc_tiles_write(const char *path, const densecl_tiles *t, const char *comment)
{
    return dc_tuning_write(path, t, NULL, NULL, comment);
}

densecl_status dc_tuning_write(const char *path, const densecl_tiles *t, const char *family,
                               const char *params, const char *comment)
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
    if (ok && family && *family)
        ok = fprintf(a.f, "family %s\n", family) > 0;
    if (ok && params && *params)
        ok = fprintf(a.f, "params %s\n", params) > 0;
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
    /* A device profile resolves for another device: this one's tuning says nothing of it. */
    if ((no && *no && strcmp(no, "0") != 0) || dc_device_profile_in_force() ||
        !dc_tiles_path(dev, path, sizeof path))
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

int dc_tuned_family(cl_device_id dev, char *family, size_t fcap, char *params, size_t pcap)
{
    char path[4200];
    const char *no = getenv("DENSECL_NO_TUNING");
    densecl_tiles t;
    char *text;
    int ok;
    if ((no && *no && strcmp(no, "0") != 0) || dc_device_profile_in_force() ||
        !dc_tiles_path(dev, path, sizeof path) || access(path, F_OK) != 0 ||
        !(text = dc_read_text("", path))) {
        dc_clear_error();
        return 0;
    }
    ok = dc_tuning_parse(text, &t, family, fcap, params, pcap, path) == DENSECL_OK &&
         family[0] != '\0';
    free(text);
    dc_clear_error(); /* an invalid file: dc_tiles_resolve logs it */
    return ok;
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

/* The conv tile's channel count for a model's 3x3 convs: of channels, channels / 2, ... (down
 * to 16), the one that wastes the fewest multiply-adds on padding channels, the larger on a
 * tie. A device's 32-channel tile fits DenseNet-121's growth rate of 32, but computes 20
 * channels for nothing per 3x3 conv of a growth rate of 12, where 16 wastes 4 (DenseNet-BC-100
 * batch 64 on a Xeon: its 3x3 convs took 182 ms with 32, 159 ms with 16). */
static int dc_fit_conv_channels(int channels, const dc_plan *plan)
{
    int best = channels;
    double best_waste = -1;
    for (int c = channels; c >= 16; c /= 2) {
        double waste = 0;
        for (int i = 0; i < plan->n_ops; i++) {
            const dc_op *op = &plan->ops[i];
            if (op->kind == DC_OP_CONV && op->k == 3 && op->stride == 1)
                waste += (double)((op->out_c + c - 1) / c * c - op->out_c) * op->in_c * 9.0 *
                         op->out_h * op->out_w;
        }
        if (best_waste < 0 || waste < best_waste) {
            best = c;
            best_waste = waste;
        }
    }
    return best;
}

/* Fits t to the model of plan: its conv channels (dc_fit_conv_channels), with as many more
 * pixels (up to 8) to keep the accumulators that cover the FMA latency. */
void dc_tiles_fit_plan(densecl_tiles *t, const dc_plan *plan)
{
    int c = dc_fit_conv_channels(t->conv_channels, plan);
    for (int f = t->conv_channels / c; f > 1 && t->conv_pixels * 2 <= 8; f /= 2)
        t->conv_pixels *= 2;
    t->conv_channels = c;
}

densecl_status dc_tiles_fit(densecl_tiles *t, const densecl_config *cfg)
{
    dc_plan plan;
    int min = densecl_config_min_size(cfg);
    densecl_status st = dc_plan_build(cfg, 1, min, min, &plan);
    if (st != DENSECL_OK)
        return st;
    dc_tiles_fit_plan(t, &plan);
    dc_plan_free(&plan);
    return DENSECL_OK;
}
